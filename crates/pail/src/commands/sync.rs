//! `pail sync`.

use pail_core::printable;
use std::sync::Arc;

use anyhow::Result;
use pail_core::plan::Action;
use pail_sync::config::Config;
use pail_sync::{PairCtx, SyncOptions, SyncResult, Totals, sync_pair};
use serde_json::{Value, json};

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
        "{} uploaded, {} copied server-side, {} downloaded, {} deleted locally, {} deleted remotely, {} conflict(s), {} transferred, {} pass(es)",
        t.uploads,
        t.copies,
        t.downloads,
        t.local_deletes,
        t.remote_deletes,
        t.conflicts,
        super::human_bytes(t.bytes),
        t.passes
    )
}

/// One pair's result, for `--json`.
fn pair_json(pair: &pail_sync::PairConfig, result: &Result<SyncResult, String>) -> Value {
    let mut v = json!({
        "folder": pair.folder,
        "remote": pair.remote,
        "totals": null,
        "stop": null,
        "errors": [],
        "plan": null,
    });
    match result {
        Ok(SyncResult::Converged(t)) => {
            v["result"] = json!("in_sync");
            v["totals"] = json!(t);
        }
        Ok(SyncResult::DryRun(actions, stop)) => {
            v["result"] = json!("dry_run");
            v["plan"] = actions
                .iter()
                .map(|a| {
                    let (what, detail) = describe(a);
                    json!({"action": what, "path": a.path().as_str(), "detail": detail})
                })
                .collect();
            v["stop"] = json!(stop);
        }
        Ok(SyncResult::SafetyStop(why)) => {
            v["result"] = json!("safety_stop");
            v["stop"] = json!(why.to_string());
        }
        Ok(SyncResult::Errors(t, errors)) => {
            v["result"] = json!("errors");
            v["totals"] = json!(t);
            v["errors"] = errors
                .iter()
                .map(|e| {
                    json!({
                        "path": e.path,
                        "message": e.error.report(),
                        "transient": e.error.is_transient(),
                    })
                })
                .collect();
        }
        Err(message) => {
            v["result"] = json!("failed");
            v["errors"] = json!([{"path": null, "message": message}]);
        }
    }
    v
}

/// The exit code a pair's result asks for (safety stops win: nothing was changed).
fn code_of(result: &Result<SyncResult, String>) -> u8 {
    match result {
        Ok(SyncResult::Converged(_)) => 0,
        Ok(SyncResult::DryRun(_, stop)) => {
            if stop.is_some() {
                3
            } else {
                0
            }
        }
        Ok(SyncResult::SafetyStop(_)) => 3,
        Ok(SyncResult::Errors(..)) | Err(_) => 1,
    }
}

fn print_human(label: &str, result: &Result<SyncResult, String>) {
    match result {
        Ok(SyncResult::Converged(t)) => println!("{label}: in sync ({})", summary(t)),
        Ok(SyncResult::DryRun(actions, stop)) => {
            println!(
                "{label}: plan ({} action(s)); nothing was changed",
                actions.len()
            );
            for action in actions {
                let (what, detail) = describe(action);
                println!("  {what:<14} {}", printable(&detail));
            }
            if let Some(why) = stop {
                println!("  safety stop: {}", printable(&why.to_string()));
            }
        }
        Ok(SyncResult::SafetyStop(why)) => eprintln!(
            "pail: {label}: stopped for safety: {}",
            printable(&why.to_string())
        ),
        Ok(SyncResult::Errors(t, errors)) => {
            eprintln!(
                "pail: {label}: {} path(s) failed ({})",
                errors.len(),
                summary(t)
            );
            for e in errors {
                eprintln!("  {}", printable(&e.to_string()));
            }
        }
        Err(message) => eprintln!("pail: {label}: {}", printable(message)),
    }
}

pub async fn run(config_file: &std::path::Path, a: SyncArgs, quiet: bool) -> Result<u8> {
    let config = Config::load(config_file)?;
    let opts = SyncOptions {
        dry_run: a.dry_run,
        confirm: a.confirm_deletes,
        ..SyncOptions::default()
    };
    let mut code = 0u8;
    let mut shown = Vec::new();
    for pair in config.select(a.folder.as_deref())? {
        let label = format!("{} <-> {}", pair.folder.display(), pair.remote);
        let result = match PairCtx::open(pair, &pail_s3::AwsStoreFactory).await {
            Ok(ctx) => {
                let ctx = Arc::new(ctx);
                // Progress goes to stderr; `--json` keeps stdout for the result.
                let work = sync_pair(&ctx, &opts);
                super::progress::show(&ctx.progress, &label, quiet, work)
                    .await
                    .map_err(|e| e.report())
            }
            Err(e) => Err(format!("{e:#}")),
        };
        // Safety stops win over errors: scripts must see that nothing was changed.
        code = match (code, code_of(&result)) {
            (3, _) | (_, 3) => 3,
            (c, d) => c.max(d),
        };
        if a.json {
            shown.push(pair_json(pair, &result));
        } else {
            print_human(&label, &result);
        }
    }
    if a.json {
        println!(
            "{}",
            serde_json::to_string_pretty(&json!({ "pairs": shown }))?
        );
    }
    Ok(code)
}
