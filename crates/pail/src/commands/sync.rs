//! `pail sync`: in this process, or, while `pail run` serves the config, by the daemon
//! (which owns the pairs' locks), with the same output and exit code.

use pail_core::printable;
use std::sync::Arc;

use anyhow::Result;
use pail_daemon::control::{Request, request_then, socket_path};
use pail_sync::config::Config;
use pail_sync::report::{SyncReport, Verdict};
use pail_sync::{PairConfig, PairCtx, SyncOptions, Totals, sync_pair};
use serde_json::{Value, json};

use crate::cli::SyncArgs;

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
fn pair_json(folder: &std::path::Path, remote: &str, r: &SyncReport) -> Value {
    let mut v = serde_json::to_value(r).unwrap_or_default();
    v["folder"] = json!(folder);
    v["remote"] = json!(remote);
    v
}

fn print_human(label: &str, r: &SyncReport) {
    let totals = r.totals.clone().unwrap_or_default();
    match r.result {
        Verdict::InSync => println!("{label}: in sync ({})", summary(&totals)),
        Verdict::DryRun => {
            let plan = r.plan.as_deref().unwrap_or_default();
            println!(
                "{label}: plan ({} action(s)); nothing was changed",
                plan.len()
            );
            for a in plan {
                println!("  {:<14} {}", a.action, printable(&a.detail));
            }
            if let Some(why) = &r.stop {
                println!("  safety stop: {}", printable(why));
            }
        }
        Verdict::SafetyStop => eprintln!(
            "pail: {label}: stopped for safety: {}",
            printable(r.stop.as_deref().unwrap_or_default())
        ),
        Verdict::Errors => {
            eprintln!(
                "pail: {label}: {} path(s) failed ({})",
                r.errors.len(),
                summary(&totals)
            );
            for e in &r.errors {
                eprintln!(
                    "  {}: {}",
                    printable(e.path.as_deref().unwrap_or_default()),
                    printable(&e.message)
                );
            }
        }
        Verdict::Failed => {
            for e in &r.errors {
                eprintln!("pail: {label}: {}", printable(&e.message));
            }
        }
    }
}

/// Safety stops win over errors: scripts must see that nothing was changed.
fn combine(code: u8, next: u8) -> u8 {
    match (code, next) {
        (3, _) | (_, 3) => 3,
        (c, d) => c.max(d),
    }
}

pub async fn run(config_file: &std::path::Path, a: SyncArgs, quiet: bool) -> Result<u8> {
    let config = Config::load(config_file)?;
    let pairs = config.select(a.folder.as_deref())?;
    let reports = match by_daemon(config_file, &a, quiet).await? {
        Some(reports) => reports,
        None => in_process(&pairs, &config.limits()?, &a, quiet).await,
    };
    let mut code = 0u8;
    let mut shown = Vec::new();
    for (folder, remote, report) in &reports {
        code = combine(code, report.exit_code());
        if a.json {
            shown.push(pair_json(folder, remote, report));
        } else {
            print_human(&format!("{} <-> {remote}", folder.display()), report);
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

type Reports = Vec<(std::path::PathBuf, String, SyncReport)>;

/// Each selected pair synced here, taking its lock.
async fn in_process(
    pairs: &[&PairConfig],
    limits: &pail_sync::limit::Limits,
    a: &SyncArgs,
    quiet: bool,
) -> Reports {
    let opts = SyncOptions {
        dry_run: a.dry_run,
        confirm: a.confirm_deletes,
        ..SyncOptions::default()
    };
    let mut out = Vec::new();
    for pair in pairs {
        let label = format!("{} <-> {}", pair.folder.display(), pair.remote);
        let report = match PairCtx::open(pair, &pail_s3::AwsStoreFactory).await {
            Ok(mut ctx) => {
                ctx.limits = limits.clone();
                let ctx = Arc::new(ctx);
                // Progress goes to stderr; `--json` keeps stdout for the result.
                let work = sync_pair(&ctx, &opts);
                SyncReport::new(&super::progress::show(&ctx.progress, &label, quiet, work).await)
            }
            Err(e) => SyncReport::failed(format!("{e:#}")),
        };
        out.push((pair.folder.clone(), pair.remote.clone(), report));
    }
    out
}

/// The same sync by a running daemon; `None` when none runs for this config.
async fn by_daemon(
    config_file: &std::path::Path,
    a: &SyncArgs,
    quiet: bool,
) -> Result<Option<Reports>> {
    let socket = socket_path(config_file)?;
    let req = Request::Sync {
        // The daemon runs elsewhere: it must get the folder as this shell means it.
        folder: a.folder.as_deref().map(std::path::absolute).transpose()?,
        dry_run: a.dry_run,
        confirm: a.confirm_deletes,
    };
    let said = || {
        if !quiet && !a.json {
            eprintln!("pail: the daemon (`pail run`) holds these folders: it runs the pass");
        }
    };
    let Some(resp) = request_then(&socket, req, said).await? else {
        return Ok(None);
    };
    if !resp.ok {
        anyhow::bail!("the daemon refused: {}", resp.message);
    }
    Ok(Some(
        resp.sync
            .unwrap_or_default()
            .into_iter()
            .map(|p| (p.folder, p.remote, p.report))
            .collect(),
    ))
}
