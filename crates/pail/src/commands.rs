//! Each subcommand: call the engine, print for a person (or JSON for scripts), pick the exit
//! code.

use std::sync::Arc;

use anyhow::Result;
use pail_core::plan::Action;
use pail_sync::config::{Config, config_path};
use pail_sync::init::{InitRequest, init_pair};
use pail_sync::status::{PairStatus, StatusReport, pair_status};
use pail_sync::{PairCtx, SyncOptions, SyncResult, Totals, sync_pair};

use crate::cli::{Cli, Command, InitArgs, StatusArgs, SyncArgs};

/// Logs go to stderr; `PAIL_LOG` takes an EnvFilter (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn run(cli: Cli) -> Result<u8> {
    let config_file = config_path(cli.config.as_deref())?;
    match cli.command {
        Command::Init(a) => init(&config_file, a).await,
        Command::Sync(a) => sync(&config_file, a).await,
        Command::Status(a) => status(&config_file, a),
    }
}

async fn init(config_file: &std::path::Path, a: InitArgs) -> Result<u8> {
    let req = InitRequest {
        folder: a.dir,
        remote: a.remote,
        endpoint: a.endpoint,
        region: a.region,
        profile: a.profile,
        device: a.device,
    };
    let r = init_pair(config_file, req, None).await?;
    println!(
        "paired {} with {} (device {:?})",
        r.pair.folder.display(),
        r.pair.remote,
        r.pair.device
    );
    if r.created_folder {
        println!("  created the folder {}", r.pair.folder.display());
    }
    println!(
        "  bucket: versioning {}, conditional writes {}, checksums {}",
        format!("{:?}", r.caps.versioning).to_lowercase(),
        if r.caps.conditional_writes {
            "honoured"
        } else {
            "not honoured"
        },
        r.caps.checksums
    );
    if r.existing_objects {
        println!(
            "  the prefix already holds files: the first sync merges both sides (equal content is not transferred; differing files become conflict copies)"
        );
    }
    for rec in &r.recommendations {
        println!("  note: {rec}");
    }
    println!("  config: {}", config_file.display());
    println!("next: `pail sync` (or `pail sync --dry-run` to see the plan first)");
    Ok(0)
}

fn describe(a: &Action) -> (&'static str, String) {
    match a {
        Action::Upload { path, .. } => ("upload", path.to_string()),
        Action::CopyRemote { path, from, .. } => {
            ("copy", format!("{path} (server-side, from {from})"))
        }
        Action::Download { path, .. } => ("download", path.to_string()),
        Action::DeleteLocal { path, .. } => ("delete local", path.to_string()),
        Action::DeleteRemote { path, .. } => ("delete remote", path.to_string()),
        Action::Conflict { path, .. } => (
            "conflict",
            format!("{path} (remote keeps the name, local becomes a conflict copy)"),
        ),
        Action::Record { path, .. } => ("record", format!("{path} (same content both sides)")),
        Action::Forget { path } => ("forget", path.to_string()),
    }
}

fn summary(t: &Totals) -> String {
    format!(
        "{} uploaded, {} copied server-side, {} downloaded, {} deleted locally, {} deleted remotely, {} conflict(s), {} bytes, {} pass(es)",
        t.uploads,
        t.copies,
        t.downloads,
        t.local_deletes,
        t.remote_deletes,
        t.conflicts,
        t.bytes,
        t.passes
    )
}

async fn sync(config_file: &std::path::Path, a: SyncArgs) -> Result<u8> {
    let config = Config::load(config_file)?;
    let opts = SyncOptions {
        dry_run: a.dry_run,
        confirm: a.confirm_deletes,
    };
    let mut code = 0u8;
    for pair in config.select(a.folder.as_deref())? {
        let label = format!("{} <-> {}", pair.folder.display(), pair.remote);
        let ctx = match PairCtx::open(pair, None).await {
            Ok(c) => Arc::new(c),
            Err(e) => {
                eprintln!("pail: {label}: {e:#}");
                code = code.max(1);
                continue;
            }
        };
        match sync_pair(&ctx, &opts).await {
            Ok(SyncResult::Converged(t)) => println!("{label}: in sync ({})", summary(&t)),
            Ok(SyncResult::DryRun(actions, stop)) => {
                println!(
                    "{label}: plan ({} action(s)); nothing was changed",
                    actions.len()
                );
                for action in &actions {
                    let (what, detail) = describe(action);
                    println!("  {what:<14} {detail}");
                }
                if let Some(why) = stop {
                    println!("  safety stop: {why}");
                    code = 3;
                }
            }
            Ok(SyncResult::SafetyStop(why)) => {
                eprintln!("pail: {label}: stopped for safety: {why}");
                code = 3;
            }
            Ok(SyncResult::Errors(t, errors)) => {
                eprintln!(
                    "pail: {label}: {} path(s) failed ({})",
                    errors.len(),
                    summary(&t)
                );
                for (path, msg) in errors {
                    eprintln!("  {path}: {msg}");
                }
                code = code.max(1);
            }
            Err(e) => {
                eprintln!("pail: {label}: {e:#}");
                code = code.max(1);
            }
        }
    }
    // Safety stops win over errors: scripts must see that nothing was changed.
    Ok(code)
}

fn status(config_file: &std::path::Path, a: StatusArgs) -> Result<u8> {
    let config = Config::load(config_file)?;
    if config.pairs.is_empty() && a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&StatusReport { pairs: vec![] })?
        );
        return Ok(0);
    }
    let pairs: Vec<PairStatus> = config
        .select(a.folder.as_deref())?
        .into_iter()
        .map(pair_status)
        .collect::<Result<_>>()?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&StatusReport { pairs })?);
        return Ok(0);
    }
    for p in pairs {
        println!("{} <-> {} (device {})", p.folder, p.remote, p.device);
        let reason = p
            .state_reason
            .as_deref()
            .map(|r| format!(": {r}"))
            .unwrap_or_default();
        println!(
            "  state: {}{reason} (no daemon running; from the index)",
            p.state
        );
        println!(
            "  last full sync: {}",
            p.last_full_sync.as_deref().unwrap_or("never")
        );
        println!(
            "  synced files: {}, conflicts: {}",
            p.synced_files, p.conflicts
        );
        println!(
            "  bucket: versioning {}, conditional writes {}",
            p.bucket.versioning.as_deref().unwrap_or("unknown"),
            match p.bucket.conditional_writes {
                Some(true) => "honoured",
                Some(false) => "not honoured",
                None => "unknown",
            }
        );
        for e in &p.errors {
            println!("  error at {}: {}: {}", e.at, e.path, e.message);
        }
        for s in p.skipped.iter().take(20) {
            println!("  skipped: {}: {}", s.path, s.reason);
        }
        if p.skipped.len() > 20 {
            println!("  ... and {} more skipped", p.skipped.len() - 20);
        }
    }
    Ok(0)
}
