//! `pail status`.

use anyhow::Result;
use pail_core::printable;
use pail_ops::when::local_with_ago;
use pail_sync::config::Config;
use pail_sync::status::{PairStatus, StatusReport, pair_status};

use super::progress::{now_ns, words};
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
        print_pair(&p);
    }
    Ok(0)
}

/// The state in words a person reads.
fn state_words(state: &str) -> &str {
    match state {
        "idle" => "up to date",
        "syncing" => "syncing",
        "paused" => "paused",
        "offline" => "offline: the bucket cannot be reached",
        "safety_stop" => "stopped for safety: nothing was changed",
        "error" => "error",
        "never_synced" => "not synced yet",
        "starting" => "starting",
        "stopped" => "stopped",
        other => other,
    }
}

fn print_pair(p: &PairStatus) {
    println!("{} <-> {} (device {})", p.folder, p.remote, p.device);
    let reason = p
        .state_reason
        .as_deref()
        .map(|r| format!(" ({})", printable(r)))
        .unwrap_or_default();
    let source = if p.live {
        "live from the daemon"
    } else {
        "no daemon running; as the last sync left it"
    };
    println!("  state: {}{reason}", state_words(&p.state));
    if p.paused {
        let until = match &p.paused_until {
            Some(t) => format!(
                "until {} (or `pail resume`)",
                pail_ops::when::local_short_rfc3339(t)
            ),
            None => "until `pail resume`".into(),
        };
        println!("  paused: {until}; `pail sync` by hand still syncs");
    }
    println!("  source: {source}");
    if let Some(w) = &p.watcher {
        println!("  local changes: {w}");
    }
    if let Some(r) = &p.remote_changes {
        println!("  remote changes: {r}");
    }
    if let Some(r) = &p.index_rebuilt {
        println!(
            "  notice: the index was damaged and was rebuilt on {}; the old one is kept at {}",
            local_with_ago(&r.at),
            r.kept_at
        );
    }
    if p.pending_uploads + p.pending_downloads > 0
        && matches!(p.state.as_str(), "syncing" | "offline" | "paused" | "error")
    {
        println!(
            "  waiting: {} upload(s), {} download(s)",
            p.pending_uploads, p.pending_downloads
        );
    }
    if let Some(t) = p.progress.as_ref().filter(|t| t.files_total > 0) {
        println!("  progress: {}", words(t, now_ns()));
    }
    const SHOWN: usize = 5;
    for t in p.in_flight.iter().take(SHOWN) {
        println!(
            "  {} {}: {} of {}",
            if t.direction == "upload" {
                "uploading"
            } else {
                "downloading"
            },
            printable(&t.path),
            super::human_bytes(t.bytes_done),
            super::human_bytes(t.bytes_total)
        );
    }
    if p.in_flight.len() > SHOWN {
        let rest = &p.in_flight[SHOWN..];
        let (done, total) = rest
            .iter()
            .fold((0, 0), |(d, t), f| (d + f.bytes_done, t + f.bytes_total));
        println!(
            "  ... and {} more transfer(s): {} of {}",
            rest.len(),
            super::human_bytes(done),
            super::human_bytes(total)
        );
    }
    println!(
        "  last full sync: {}",
        p.last_full_sync
            .as_deref()
            .map_or("never".to_owned(), local_with_ago)
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
        let path = if e.path.is_empty() {
            String::new()
        } else {
            format!("{}: ", printable(&e.path))
        };
        println!(
            "  error ({}): {path}{}",
            local_with_ago(&e.at),
            printable(&e.message)
        );
    }
    for s in p.skipped.iter().take(20) {
        // Names from the bucket: a key may hold an ESC or a newline (tenet 14).
        println!(
            "  skipped: {}: {}",
            printable(&s.path),
            printable(&s.reason)
        );
    }
    if p.skipped.len() > 20 {
        println!("  ... and {} more skipped", p.skipped.len() - 20);
    }
}
