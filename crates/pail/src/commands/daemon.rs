//! `pail run`, `pail pause`, `pail resume`.

use std::path::Path;
use std::time::Duration;

use anyhow::{Result, bail};
use pail_daemon::DaemonOptions;
use pail_daemon::control::{Request, request, socket_path};

use crate::cli::RunArgs;

pub async fn run(config_file: &Path, a: RunArgs) -> Result<u8> {
    let opts = DaemonOptions {
        poll_interval: Duration::from_secs(a.poll_interval.max(1)),
        full_reconcile: Duration::from_secs(a.full_reconcile.max(60)),
        rescan_interval: Duration::from_secs(a.rescan_interval.max(10)),
        fallback_scan_interval: Duration::from_secs(a.fallback_scan_interval.max(1)),
        use_watcher: !a.no_watcher,
        ..DaemonOptions::default()
    };
    pail_daemon::run(config_file, opts, &pail_s3::AwsStoreFactory).await?;
    Ok(0)
}

pub async fn control(config_file: &Path, req: Request) -> Result<u8> {
    let socket = socket_path(config_file)?;
    match request(&socket, req).await? {
        Some(resp) if resp.ok => {
            // The daemon's answer can name keys and carry server messages.
            println!("{}", pail_core::printable(&resp.message));
            Ok(0)
        }
        Some(resp) => bail!(
            "the daemon refused: {}",
            pail_core::printable(&resp.message)
        ),
        None => bail!(
            "no pail daemon is running for {} (start it with `pail run`)",
            config_file.display()
        ),
    }
}
