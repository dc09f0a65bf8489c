//! `s3-ceiling`: what the server and the raw aws-sdk-s3 achieve on bench/run.sh's lines,
//! the ceiling pail's figures are set against. Prints one line of JSON per run: the
//! operation, objects, bytes, requests (attempts, retries included), wall seconds of the
//! operation (after the client is set up) and the CPU seconds (user + system) of the whole
//! process.

mod client;
mod ops;
mod target;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Result, bail};
use clap::{Parser, Subcommand};
use rustix::time::{ClockId, clock_gettime};

use crate::client::RequestCount;
use crate::target::S3Url;

#[derive(Parser, Debug)]
#[command(name = "s3-ceiling", version, about)]
struct Cli {
    /// The S3 endpoint (path-style addressing, checksums only where required, as pail).
    #[arg(long, global = true, env = "AWS_ENDPOINT_URL_S3")]
    endpoint: Option<String>,
    /// The region; default: the environment's (AWS_REGION), else us-east-1.
    #[arg(long, global = true)]
    region: Option<String>,
    /// Requests in flight (objects, or parts of one file).
    #[arg(long, global = true, default_value_t = 16)]
    concurrency: usize,
    #[command(subcommand)]
    op: Op,
}

#[derive(Subcommand, Debug)]
enum Op {
    /// PUT every regular file under DIR to `PREFIX/<path under DIR>`.
    PutDir { dir: PathBuf, url: String },
    /// PUT the files of DIR named in the file ONLY (paths under DIR, one a line).
    PutKeys {
        dir: PathBuf,
        url: String,
        #[arg(long)]
        only: PathBuf,
    },
    /// Upload FILE to s3://BUCKET/KEY as a multipart upload (one PUT if it fits one part).
    PutFile {
        file: PathBuf,
        url: String,
        /// Part size in MiB: pail's default part size.
        #[arg(long, default_value_t = 16)]
        part_size: u64,
    },
    /// List the prefix, then GET every object into `DIR/<key under the prefix>`.
    GetPrefix { url: String, dir: PathBuf },
    /// List the prefix only (the least a no-change sync has to ask the server).
    List { url: String },
}

/// CPU seconds (user + system) of this process so far: what getrusage(RUSAGE_SELF) sums to.
fn cpu_seconds() -> f64 {
    let t = clock_gettime(ClockId::ProcessCPUTime);
    t.tv_sec as f64 + t.tv_nsec as f64 / 1e9
}

#[tokio::main]
async fn main() -> Result<()> {
    let cli = Cli::parse();
    if cli.concurrency == 0 {
        bail!("--concurrency must be at least 1");
    }
    let n = cli.concurrency;
    let count = RequestCount::default();
    let client = client::client(
        cli.endpoint.as_deref(),
        cli.region.as_deref(),
        count.clone(),
    )
    .await;
    let started = Instant::now();
    let (name, totals, part_mib) = match &cli.op {
        Op::PutDir { dir, url } => {
            let files = ops::walk(dir)?;
            (
                "put-dir",
                ops::put_files(&client, &S3Url::parse(url)?, files, n).await?,
                None,
            )
        }
        Op::PutKeys { dir, url, only } => {
            let files = ops::named(dir, only)?;
            (
                "put-keys",
                ops::put_files(&client, &S3Url::parse(url)?, files, n).await?,
                None,
            )
        }
        Op::PutFile {
            file,
            url,
            part_size,
        } => {
            let u = S3Url::parse(url)?;
            if u.prefix.is_empty() {
                bail!("'{url}' names no key: write s3://BUCKET/KEY");
            }
            if *part_size < 5 {
                bail!("--part-size {part_size}: S3 rejects parts under 5 MiB");
            }
            let t = ops::put_file(&client, &u, file, part_size << 20, n).await?;
            ("put-file", t, Some(*part_size))
        }
        Op::GetPrefix { url, dir } => {
            let t = ops::get_prefix(&client, &S3Url::parse(url)?, dir, n).await?;
            ("get-prefix", t, None)
        }
        Op::List { url } => {
            let objects = ops::list(&client, &S3Url::parse(url)?).await?;
            let t = ops::Totals {
                objects: objects.len() as u64,
                bytes: objects.iter().map(|o| o.1).sum(),
            };
            ("list", t, None)
        }
    };
    let wall = started.elapsed().as_secs_f64();
    let mut out = serde_json::json!({
        "op": name,
        "objects": totals.objects,
        "bytes": totals.bytes,
        "requests": count.get(),
        "wall_s": (wall * 1000.0).round() / 1000.0,
        "cpu_s": (cpu_seconds() * 1000.0).round() / 1000.0,
        "concurrency": n,
    });
    if let Some(p) = part_mib {
        out["part_size_mib"] = p.into();
    }
    println!("{out}");
    Ok(())
}
