//! `pail sync`.

use std::sync::Arc;

use anyhow::Result;
use pail_core::plan::Action;
use pail_sync::config::Config;
use pail_sync::{PairCtx, SyncOptions, SyncResult, Totals, sync_pair};

use crate::cli::SyncArgs;

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

pub async fn run(config_file: &std::path::Path, a: SyncArgs) -> Result<u8> {
    let config = Config::load(config_file)?;
    let opts = SyncOptions {
        dry_run: a.dry_run,
        confirm: a.confirm_deletes,
        ..SyncOptions::default()
    };
    let mut code = 0u8;
    for pair in config.select(a.folder.as_deref())? {
        let label = format!("{} <-> {}", pair.folder.display(), pair.remote);
        let ctx = match PairCtx::open(pair, &pail_s3::AwsStoreFactory).await {
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
                for e in errors {
                    eprintln!("  {e}");
                }
                code = code.max(1);
            }
            Err(e) => {
                eprintln!("pail: {label}: {}", e.report());
                code = code.max(1);
            }
        }
    }
    // Safety stops win over errors: scripts must see that nothing was changed.
    Ok(code)
}
