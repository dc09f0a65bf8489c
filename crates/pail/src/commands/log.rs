//! `pail log [--folder DIR] [--since TIME] [--limit N] [--json]`: the activity log.

use pail_core::printable;
use std::path::Path;

use anyhow::Result;
use pail_ops::when::{local_short, parse_time, rfc3339_ns};
use pail_sync::config::Config;
use pail_sync::ctx::open_index;
use serde_json::json;

use crate::cli::LogArgs;

pub fn run(config_file: &Path, a: LogArgs) -> Result<u8> {
    let config = Config::load(config_file)?;
    let since = a
        .since
        .as_deref()
        .map(parse_time)
        .transpose()?
        .and_then(|ns| time::OffsetDateTime::from_unix_timestamp_nanos(i128::from(ns)).ok());
    let mut shown = Vec::new();
    for pair in config.select(a.folder.as_deref())? {
        let entries = open_index(pair)?.recent_activity(since, a.limit)?;
        if a.json {
            shown.push(json!({
                "folder": pair.folder,
                "remote": pair.remote,
                "entries": entries.iter().map(|e| json!({
                    "at": rfc3339_ns(ns(e.at)),
                    "kind": e.kind,
                    "path": e.path,
                    "size": e.size,
                    "device": e.device,
                    "detail": e.detail,
                })).collect::<Vec<_>>(),
            }));
            continue;
        }
        println!("{} <-> {}", pair.folder.display(), pair.remote);
        if entries.is_empty() {
            println!(
                "  nothing {}",
                if since.is_some() { "since then" } else { "yet" }
            );
        }
        for e in &entries {
            let size = e
                .size
                .map(|s| format!("  {}", super::human_bytes(s)))
                .unwrap_or_default();
            let who = e
                .device
                .as_deref()
                .map(|d| format!("  by {}", printable(d)))
                .unwrap_or_default();
            let detail = e
                .detail
                .as_deref()
                .map(|d| format!("  ({})", printable(d)))
                .unwrap_or_default();
            let path = if e.path.is_empty() {
                "(the whole folder)".into()
            } else {
                printable(&e.path)
            };
            println!(
                "  {}  {:<13} {path}{size}{who}{detail}",
                local_short(ns(e.at)),
                e.kind
            );
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "pairs": shown }))?
        );
    }
    Ok(0)
}

fn ns(t: time::OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}
