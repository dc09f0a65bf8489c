//! `pail run`, `pail pause`, `pail resume`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use pail_daemon::DaemonOptions;
use pail_daemon::control::{Request, paused_words, request, socket_path};
use pail_sync::config::Config;
use pail_sync::pause::Pause;

use crate::cli::{PauseArgs, ResumeArgs, RunArgs};

pub async fn run(config_file: &Path, a: RunArgs) -> Result<u8> {
    let opts = DaemonOptions {
        poll_interval: Duration::from_secs(a.poll_interval.max(1)),
        active_poll_interval: Duration::from_secs(a.active_poll_interval.max(1)),
        full_reconcile: a.full_reconcile.map(|s| Duration::from_secs(s.max(60))),
        rescan_interval: Duration::from_secs(a.rescan_interval.max(10)),
        fallback_scan_interval: Duration::from_secs(a.fallback_scan_interval.max(1)),
        use_watcher: !a.no_watcher,
        upload_limit: a
            .upload_limit
            .as_deref()
            .map(pail_sync::limit::parse_rate)
            .transpose()
            .context("--upload-limit")?,
        download_limit: a
            .download_limit
            .as_deref()
            .map(pail_sync::limit::parse_rate)
            .transpose()
            .context("--download-limit")?,
        ..DaemonOptions::default()
    };
    pail_daemon::run(config_file, opts, &pail_s3::AwsStoreFactory).await?;
    Ok(0)
}

/// `pail pause`: through the running daemon, or, when none runs, recorded in each pair's
/// index for the daemon's next start.
pub async fn pause(config_file: &Path, a: PauseArgs) -> Result<u8> {
    let config = Config::load(config_file)?;
    let pairs = config.select(a.folder.as_deref())?;
    let duration = a
        .duration
        .as_deref()
        .map(pail_ops::when::parse_duration)
        .transpose()?;
    let req = Request::Pause {
        folder: a.folder.as_deref().map(std::path::absolute).transpose()?,
        for_secs: duration.map(|d| d.as_secs().max(1)),
    };
    if let Some(code) = through_daemon(config_file, req).await? {
        return Ok(code);
    }
    let pause = Pause::new(duration, std::time::SystemTime::now());
    for pair in &pairs {
        pail_sync::pause::write(&pail_sync::ctx::open_index(pair)?, Some(pause))?;
    }
    let folders: Vec<_> = pairs.iter().map(|p| p.folder.clone()).collect();
    println!(
        "{} (no daemon is running: this holds from its next start)",
        paused_words(&folders, pause)
    );
    Ok(0)
}

/// `pail resume`: through the running daemon, or in each pair's index.
pub async fn resume(config_file: &Path, a: ResumeArgs) -> Result<u8> {
    let config = Config::load(config_file)?;
    let pairs = config.select(a.folder.as_deref())?;
    let req = Request::Resume {
        folder: a.folder.as_deref().map(std::path::absolute).transpose()?,
    };
    if let Some(code) = through_daemon(config_file, req).await? {
        return Ok(code);
    }
    for pair in &pairs {
        pail_sync::pause::write(&pail_sync::ctx::open_index(pair)?, None)?;
    }
    let folders: Vec<_> = pairs
        .iter()
        .map(|p| p.folder.display().to_string())
        .collect();
    println!(
        "resumed {} (no daemon is running: start it with `pail run`)",
        folders.join(", ")
    );
    Ok(0)
}

/// Sends `req` to the running daemon and prints its answer; `None` when no daemon runs.
async fn through_daemon(config_file: &Path, req: Request) -> Result<Option<u8>> {
    let socket = socket_path(config_file)?;
    match request(&socket, req).await? {
        Some(resp) if resp.ok => {
            // The daemon's answer can name keys and carry server messages.
            println!("{}", pail_core::printable(&resp.message));
            Ok(Some(0))
        }
        Some(resp) => bail!(
            "the daemon refused: {}",
            pail_core::printable(&resp.message)
        ),
        None => Ok(None),
    }
}
