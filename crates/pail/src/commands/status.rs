//! `pail status`.

use anyhow::Result;
use pail_sync::config::Config;
use pail_sync::status::{PairStatus, StatusReport, pair_status};

use crate::cli::StatusArgs;

pub async fn run(config_file: &std::path::Path, a: StatusArgs) -> Result<u8> {
    let config = Config::load(config_file)?;
    if config.pairs.is_empty() && a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&StatusReport { pairs: vec![] })?
        );
        return Ok(0);
    }
    let selected = config.select(a.folder.as_deref())?;
    // A running daemon knows more (live state, transfers in flight); else the index.
    let socket = pail_daemon::control::socket_path(config_file)?;
    let live = match pail_daemon::control::request(&socket, pail_daemon::control::Request::Status)
        .await
    {
        Ok(Some(resp)) => resp.status,
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(error = %format!("{e:#}"), "the daemon did not answer; showing the index");
            None
        }
    };
    let pairs: Vec<PairStatus> = match live {
        Some(report) => report
            .pairs
            .into_iter()
            .filter(|p| {
                selected
                    .iter()
                    .any(|s| s.folder.display().to_string() == p.folder)
            })
            .collect(),
        None => selected
            .into_iter()
            .map(pair_status)
            .collect::<Result<_>>()?,
    };
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
        let source = if p.live {
            "live from the daemon"
        } else {
            "no daemon running; from the index"
        };
        println!("  state: {}{reason} ({source})", p.state);
        if let Some(w) = &p.watcher {
            println!("  local changes: {w}");
        }
        for t in &p.in_flight {
            println!(
                "  {} {}: {} of {} bytes",
                t.direction, t.path, t.bytes_done, t.bytes_total
            );
        }
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
