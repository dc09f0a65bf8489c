//! `pail init --setup`: the bucket steps, printed one per line before the pair is recorded.

use anyhow::{Result, bail};
use pail_ops::init::InitRequest;
use pail_ops::setup::{Notify, SetupOptions, SetupReport, run_setup};
use pail_s3::S3Config;
use pail_s3::admin::AwsAdmin;
use pail_sync::config::parse_remote;

use crate::cli::InitArgs;

/// The setup options of `init`, taken out before the rest of the arguments are used.
pub fn options(a: &mut InitArgs) -> Option<SetupOptions> {
    a.setup.then(|| SetupOptions {
        region: a.region.clone(),
        transitions: std::mem::take(&mut a.storage_class_after),
        expire_noncurrent_after: a.expire_noncurrent_after,
        allow_principal: a.allow_principal.take(),
        notify: a
            .notify_topic
            .take()
            .map(Notify::Topic)
            .or_else(|| a.notify_queue.take().map(Notify::Queue)),
        kms_key: a.kms_key.take(),
    })
}

/// Runs the setup steps and prints them. Returns the report (`failed()`: whether a step
/// failed); a bucket that could not be had is an error (the pair is then not recorded).
pub async fn run(req: &InitRequest, opts: &SetupOptions) -> Result<SetupReport> {
    let (bucket, prefix) = parse_remote(&req.remote)?;
    let endpoint = req.endpoint.clone().or_else(|| {
        ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
            .iter()
            .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
    });
    let admin = AwsAdmin::connect(&S3Config {
        bucket: bucket.clone(),
        endpoint,
        region: req.region.clone(),
        profile: req.profile.clone(),
        ..S3Config::default()
    })
    .await?;
    let probe_key = prefix.reserved_key(&format!("probe/setup-{:016x}", rand_suffix()));
    let report = run_setup(&admin, opts, &probe_key).await?;
    println!("setting up bucket {bucket}:");
    for s in &report.steps {
        println!("  {}", s.line());
        for l in s.detail.iter().flat_map(|d| d.lines()) {
            println!("      {l}");
        }
    }
    if report.bucket_failed() {
        let why = report.steps[0].line();
        bail!(
            "cannot set up bucket {bucket}: {}",
            why.trim_start_matches("bucket").trim()
        );
    }
    Ok(report)
}

/// A per-run suffix for the scratch key, so two machines setting up at once do not collide.
fn rand_suffix() -> u64 {
    let t = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default();
    t.as_nanos() as u64 ^ u64::from(std::process::id()) << 32
}
