//! `pail history PATH [--json] [--deleted] [--size]`.

use pail_core::printable;
use std::path::Path;

use crate::cli::HistoryArgs;
use anyhow::Result;
use pail_ops::history::{
    conflict_original, conflict_sources, dir_history, file_history, size_report,
};
use pail_ops::target::{is_folder, target};
use pail_ops::when::local_ns;
use pail_s3::AwsStoreFactory;
use pail_sync::PairRemote;
use pail_sync::ctx::open_index;

pub async fn run(config_file: &Path, a: HistoryArgs) -> Result<u8> {
    let t = target(config_file, &a.path)?;
    let bucket = PairRemote::connect(&t.pair, &AwsStoreFactory).await?;
    if a.size {
        let r = size_report(&bucket, t.rel.as_ref()).await?;
        if a.json {
            println!("{}", serde_json::to_string_pretty(&r)?);
            return Ok(0);
        }
        println!(
            "old {} under {}: {} in {} version(s), {} delete marker(s)",
            r.kept_as,
            t.shown(),
            super::human_bytes(r.noncurrent_bytes),
            r.noncurrent_versions,
            r.delete_markers
        );
        for f in &r.folders {
            println!(
                "  {:>10}  {:>5} version(s)  {:>4} delete marker(s)  {}",
                super::human_bytes(f.noncurrent_bytes),
                f.noncurrent_versions,
                f.delete_markers,
                f.folder
            );
        }
        if r.kept_as == "versions" && r.noncurrent_bytes > 0 {
            println!(
                "a lifecycle rule with NoncurrentVersionExpiration (and ExpiredObjectDeleteMarker) bounds this space"
            );
        }
        return Ok(0);
    }
    if is_folder(&bucket, &t).await? {
        let entries = dir_history(&bucket, t.rel.as_ref(), a.deleted).await?;
        if a.json {
            println!(
                "{}",
                serde_json::to_string_pretty(&serde_json::json!({
                    "path": t.shown(),
                    "files": entries,
                }))?
            );
            return Ok(0);
        }
        if entries.is_empty() {
            let what = if a.deleted {
                "deleted files"
            } else {
                "files with old versions or deletions"
            };
            println!("no {what} under {}", t.shown());
        }
        for e in &entries {
            println!(
                "{}  {:>3} version(s)  {}{}",
                local_ns(e.last_change_ns),
                e.versions,
                e.path,
                if e.deleted { "  (deleted)" } else { "" }
            );
        }
        if !bucket.versioned() {
            println!("(no versioning on this bucket: old contents are pail's trash copies)");
        }
        return Ok(0);
    }
    let rel = t.rel.clone().expect("a file has a path");
    let (copies, original) = {
        let index = open_index(&t.pair)?;
        (
            conflict_sources(&index, &rel)?,
            conflict_original(&index, &rel)?,
        )
    };
    let mut h = file_history(&bucket, &rel, &copies).await?;
    h.conflict_copy_of = original.map(|o| o.to_string());
    if a.json {
        println!("{}", serde_json::to_string_pretty(&h)?);
        return Ok(0);
    }
    println!("{}{}", h.path, if h.deleted { "  (deleted)" } else { "" });
    if let Some(o) = &h.conflict_copy_of {
        println!("conflict copy of {o}");
    }
    if h.versions.is_empty() {
        println!("no version in the bucket");
    }
    for v in &h.versions {
        let what = if v.delete_marker {
            "deleted".to_owned()
        } else {
            format!(
                "{:>10}  {}",
                super::human_bytes(v.size),
                printable(v.device.as_deref().unwrap_or(""))
            )
        };
        let mut notes = Vec::new();
        if v.current && !v.delete_marker {
            notes.push("current".to_owned());
        }
        if let Some(c) = &v.conflict_copy {
            notes.push(format!("kept as conflict copy {c}"));
        }
        println!(
            "{}  {what}  {}{}",
            local_ns(v.time_ns),
            v.version_id,
            if notes.is_empty() {
                String::new()
            } else {
                format!("  ({})", notes.join(", "))
            }
        );
    }
    if let Some(n) = &h.note {
        println!("({n})");
    }
    Ok(0)
}
