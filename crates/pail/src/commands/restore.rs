//! `pail restore`, and the output history, undelete and conflicts share with it: the plan of
//! a folder restore and the sync that brings a change to the folder.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Context, Result, bail};
use pail_ops::restore::{
    Pick, Step, TreePlan, TreeReport, apply, execute, plan_one, plan_tree, request_from_archive,
    restore_to,
};
use pail_ops::target::{FolderFollows, bring_to_folder, is_folder, note_activity, target};
use pail_ops::when::{local_ns, parse_time, rfc3339_ns};
use pail_s3::{ArchiveRestore, AwsStoreFactory};
use pail_sync::config::PairConfig;
use pail_sync::{PairRemote, SyncResult};
use serde_json::{Value, json};

use crate::cli::RestoreArgs;

/// Runs a sync of the pair so the folder shows what changed in the bucket, unless a running
/// pail (the daemon) holds the pair: it brings the change itself. Returns the exit code.
pub(super) async fn sync_after(
    remote: &PairRemote,
    pair: &PairConfig,
    confirm: bool,
    out: &mut Out,
) -> Result<u8> {
    let (follows, noted) = bring_to_folder(remote, pair, confirm).await?;
    if let Some(e) = noted {
        eprintln!(
            "pail: could not note the change in the bucket's journal ({}); running daemons see it at their next full reconcile",
            e.report()
        );
    }
    let result = match follows {
        FolderFollows::DaemonSyncs => {
            out.set("folder", json!({"result": "daemon_syncs"}));
            out.say(format!(
                "a running pail process (the daemon?) syncs {}; it brings the change to the folder",
                pair.folder.display()
            ));
            return Ok(0);
        }
        FolderFollows::Synced(r) => r,
    };
    Ok(match result {
        SyncResult::Converged(t) => {
            out.set("folder", json!({"result": "in_sync", "totals": t}));
            out.say(format!(
                "folder synced: {} downloaded, {} deleted locally, {} conflict(s)",
                t.downloads, t.local_deletes, t.conflicts
            ));
            0
        }
        SyncResult::SafetyStop(why) => {
            eprintln!(
                "pail: the bucket is restored, but the sync stopped for safety: {}",
                pail_core::printable(&why.to_string())
            );
            3
        }
        SyncResult::Errors(_, errors) => {
            eprintln!(
                "pail: the bucket is restored; {} path(s) failed to sync:",
                errors.len()
            );
            for e in errors {
                eprintln!("  {}", pail_core::printable(&e.to_string()));
            }
            1
        }
        SyncResult::DryRun(..) => 0,
    })
}

/// Prints a plan (dry run) or runs it with a progress line, then the summary. Returns the
/// exit code of the bucket side (1 if any file failed).
pub(super) async fn run_plan(
    bucket: &PairRemote,
    plan: &TreePlan,
    what: &str,
    dry_run: bool,
    out: &mut Out,
) -> Result<(u8, TreeReport)> {
    out.set(
        "plan",
        plan.steps
            .iter()
            .map(|(path, step)| match step {
                Step::Copy { from, .. } => json!({"path": path.as_str(), "action": "restore", "version": from.id(), "time": rfc3339_ns(from.shown_ns)}),
                Step::Delete { .. } => json!({"path": path.as_str(), "action": "delete"}),
            })
            .collect::<Vec<_>>(),
    );
    let (copies, deletes) = plan.steps.iter().fold((0, 0), |(c, d), (_, s)| match s {
        Step::Copy { .. } => (c + 1, d),
        Step::Delete { .. } => (c, d + 1),
    });
    if dry_run {
        out.say(format!(
            "{what}: {copies} file(s) to bring back, {deletes} to delete, {} already as wanted, {} made later left alone; nothing was changed",
            plan.unchanged,
            plan.left_alone.len()
        ));
        for (path, step) in &plan.steps {
            match step {
                Step::Copy { from, .. } => out.say(format!(
                    "  restore  {path}  (version {} of {})",
                    from.id(),
                    local_ns(from.shown_ns)
                )),
                Step::Delete { .. } => out.say(format!("  delete   {path}  (made later; --exact)")),
            }
        }
        for path in &plan.left_alone {
            out.say(format!(
                "  keep     {path}  (made later; --exact would delete it)"
            ));
        }
        return Ok((0, TreeReport::default()));
    }
    // A bar of files on a terminal (server-side copies move no bytes through this machine;
    // the sync that follows shows its downloads).
    let bar = (std::io::stderr().is_terminal() && !out.json && !plan.steps.is_empty()).then(|| {
        let bar = indicatif::ProgressBar::with_draw_target(
            Some(plan.steps.len() as u64),
            indicatif::ProgressDrawTarget::stderr(),
        );
        bar.set_style(
            indicatif::ProgressStyle::with_template(
                "{msg} [{bar:24}] {pos}/{len} files, {per_sec}, {eta} left",
            )
            .unwrap_or_else(|_| indicatif::ProgressStyle::default_bar())
            .progress_chars("=> "),
        );
        bar.set_message(what.to_owned());
        bar
    });
    let shown = bar.clone();
    // Off a terminal (logs, cron): a line every 10 s instead of a bar.
    let lines = !out.json && bar.is_none();
    let last_line = std::sync::Mutex::new(std::time::Instant::now());
    let progress = move |done: usize, total: usize| {
        if let Some(bar) = &shown {
            bar.set_position(done as u64);
        } else if lines {
            let mut last = last_line.lock().unwrap_or_else(|e| e.into_inner());
            if last.elapsed() >= std::time::Duration::from_secs(10) {
                *last = std::time::Instant::now();
                eprintln!("{what}: {done}/{total} files");
            }
        }
    };
    let report = execute(bucket, &plan.steps, &progress).await;
    if let Some(bar) = &bar {
        bar.finish();
        eprintln!();
    }
    out.set("restored", report.restored);
    out.set("deleted", report.deleted);
    out.set(
        "failed",
        report
            .errors
            .iter()
            .map(|(p, e)| json!({"path": p.to_string(), "message": format!("{e:#}")}))
            .collect::<Vec<_>>(),
    );
    out.say(format!(
        "{what}: {} restored, {} deleted, {} already as wanted, {} made later left alone, {} failed",
        report.restored,
        report.deleted,
        plan.unchanged,
        plan.left_alone.len(),
        report.errors.len()
    ));
    for (path, e) in &report.errors {
        eprintln!(
            "  {}: {}",
            pail_core::printable(&path.to_string()),
            pail_core::printable(&e.to_string())
        );
    }
    Ok((u8::from(!report.errors.is_empty()), report))
}

/// What restore, undelete and the sync after them say: printed for people, or gathered into
/// one JSON object (`--json`) with the same sentences under `messages` and the facts as fields.
pub(super) struct Out {
    json: bool,
    messages: Vec<String>,
    fields: serde_json::Map<String, Value>,
}

impl Out {
    pub(super) fn new(json: bool) -> Out {
        Out {
            json,
            messages: Vec::new(),
            fields: serde_json::Map::new(),
        }
    }

    pub(super) fn say(&mut self, text: String) {
        if self.json {
            self.messages.push(text);
        } else {
            println!("{text}");
        }
    }

    pub(super) fn set(&mut self, key: &str, value: impl Into<Value>) {
        self.fields.insert(key.into(), value.into());
    }

    /// Prints the JSON object (with `--json`) and passes the exit code on.
    pub(super) fn finish(mut self, code: u8) -> Result<u8> {
        if self.json {
            self.set("exit_code", code);
            let messages = std::mem::take(&mut self.messages);
            self.set("messages", messages);
            println!("{}", serde_json::to_string_pretty(&self.fields)?);
        }
        Ok(code)
    }
}

pub async fn run(config_file: &Path, a: RestoreArgs) -> Result<u8> {
    let mut out = Out::new(a.json);
    out.set("path", a.path.display().to_string());
    out.set("dry_run", a.dry_run);
    let code = restore(config_file, a, &mut out).await?;
    out.finish(code)
}

async fn restore(config_file: &Path, a: RestoreArgs, out: &mut Out) -> Result<u8> {
    let t = target(config_file, &a.path)?;
    let bucket = PairRemote::connect(&t.pair, &AwsStoreFactory).await?;
    let pick = match (&a.version, &a.at) {
        (Some(v), _) => Some(Pick::Version(v.clone())),
        (_, Some(at)) => Some(Pick::At(parse_time(at)?)),
        _ => None,
    };
    if a.from_archive {
        let rel = t
            .rel
            .as_ref()
            .context("--from-archive takes a file, not a folder")?;
        let (v, state) = request_from_archive(&bucket, rel, pick.as_ref(), a.days).await?;
        let id = v.id();
        match state {
            // (`NotRequested` is never the answer to a request; shown like a fresh one.)
            ArchiveRestore::Started | ArchiveRestore::NotRequested => out.say(format!(
                "{rel}: restore of version {id} from the archive requested; it takes minutes to hours (Deep Archive: up to 48 h). Run this again to see where it stands"
            )),
            ArchiveRestore::InProgress => {
                out.say(format!("{rel}: restore of version {id} from the archive is in progress"))
            }
            ArchiveRestore::Done => out.say(format!(
                "{rel}: version {id} is readable for {} day(s): `pail sync` or `pail restore` can use it now",
                a.days
            )),
            ArchiveRestore::NotArchived => {
                out.say(format!("{rel}: version {id} is not archived; it can be read as it is"));
                return Ok(0);
            }
        }
        // A sync (or the daemon, told through the journal) downloads what is readable now
        // and records where the rest stands, which `pail status` then shows.
        return sync_after(&bucket, &t.pair, false, out).await;
    }
    if let Some(dest) = &a.to {
        let rel = t.rel.as_ref().context("--to takes a file, not a folder")?;
        let pick = pick.unwrap_or(Pick::Newest);
        let written = restore_to(&bucket, &t.pair.folder, rel, &pick, dest).await?;
        out.say(format!(
            "{rel}: written to {} (the bucket is unchanged)",
            written.display()
        ));
        return Ok(0);
    }
    if is_folder(&bucket, &t).await? {
        let Some(Pick::At(at)) = pick else {
            bail!(
                "{} is a folder: say when to go back to with --at TIME (a folder has no single --version)",
                t.shown()
            );
        };
        let plan = plan_tree(&bucket, t.rel.as_ref(), at, a.exact).await?;
        let what = format!("restore {} to {}", t.shown(), local_ns(at));
        let (code, report) = run_plan(&bucket, &plan, &what, a.dry_run, out).await?;
        if a.dry_run || report.restored + report.deleted == 0 {
            return Ok(code);
        }
        note_activity(
            &t.pair,
            "restore",
            &t.shown(),
            format!(
                "{} file(s) brought back, {} deleted, as of {}",
                report.restored,
                report.deleted,
                local_ns(at)
            ),
        );
        return Ok(code.max(sync_after(&bucket, &t.pair, a.exact, out).await?));
    }
    let rel = t.rel.clone().context("a file")?;
    let Some(pick) = pick else {
        bail!(
            "say which version of {rel} to bring back: --version ID or --at TIME (`pail history {rel}` lists them)"
        );
    };
    match plan_one(&bucket, &rel, &pick).await? {
        None => {
            out.say(format!("{rel} already has that content; nothing to do"));
            Ok(0)
        }
        Some(step) => {
            let Step::Copy { from, .. } = &step else {
                unreachable!("a single file restore only copies")
            };
            let shown = format!("version {} of {}", from.id(), local_ns(from.shown_ns));
            if a.dry_run {
                out.say(format!(
                    "would restore {rel} to {shown}; nothing was changed"
                ));
                return Ok(0);
            }
            apply(&bucket, &rel, &step).await?;
            out.say(format!("{rel}: restored {shown} as the current version"));
            note_activity(&t.pair, "restore", rel.as_str(), shown);
            sync_after(&bucket, &t.pair, false, out).await
        }
    }
}
