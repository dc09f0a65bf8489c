//! `pail status`.

use anyhow::Result;
use pail_ops::when::local_with_ago;
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
        .map(|r| format!(" ({r})"))
        .unwrap_or_default();
    let source = if p.live {
        "live from the daemon"
    } else {
        "no daemon running; as the last sync left it"
    };
    println!("  state: {}{reason}", state_words(&p.state));
    println!("  source: {source}");
    if let Some(w) = &p.watcher {
        println!("  local changes: {w}");
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
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX));
        println!("  progress: {}", progress_words(t, now));
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
            t.path,
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
            format!("{}: ", e.path)
        };
        println!("  error ({}): {path}{}", local_with_ago(&e.at), e.message);
    }
    for s in p.skipped.iter().take(20) {
        println!("  skipped: {}: {}", s.path, s.reason);
    }
    if p.skipped.len() > 20 {
        println!("  ... and {} more skipped", p.skipped.len() - 20);
    }
}

/// The sync in progress in words: `120/2000 files, 12.0 MiB of 300.0 MiB, 4.1 MiB/s, about
/// 2 min left` (rate and time left once they can be told).
fn progress_words(t: &pail_sync::progress::Totals, now_ns: i64) -> String {
    let rate = t
        .rate(now_ns)
        .map(|r| format!(", {}/s", super::human_bytes(r as u64)))
        .unwrap_or_default();
    let left = t
        .eta_secs(now_ns)
        .map(|s| match s {
            0..60 => format!(", about {s} s left"),
            60..3600 => format!(", about {} min left", s.div_ceil(60)),
            _ => format!(", about {} h left", s.div_ceil(3600)),
        })
        .unwrap_or_default();
    format!(
        "{}/{} files, {} of {}{rate}{left}",
        t.files_done,
        t.files_total,
        super::human_bytes(t.bytes_done),
        super::human_bytes(t.bytes_total)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn progress_reads_like_a_sentence() {
        let sec = 1_000_000_000;
        let t = pail_sync::progress::Totals {
            files_total: 2000,
            files_done: 120,
            bytes_total: 300 << 20,
            bytes_done: 30 << 20,
            started_ns: 0,
        };
        assert_eq!(
            progress_words(&t, 10 * sec),
            "120/2000 files, 30.0 MiB of 300.0 MiB, 3.0 MiB/s, about 2 min left"
        );
        assert_eq!(
            progress_words(&t, sec / 2),
            "120/2000 files, 30.0 MiB of 300.0 MiB",
            "no rate in the first second"
        );
    }
}
