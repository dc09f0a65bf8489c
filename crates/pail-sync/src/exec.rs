//! The executor: runs a plan's actions, phase by phase (so that the copies of a rename
//! happen before its delete), with bounded parallelism inside each phase. Each action
//! records its own outcome in the index; an action that finds the world changed since the
//! plan is deferred to the next pass rather than forced. Writes that a server without
//! conditional writes may have raced come back with their outcome and are checked once
//! their phase is over (`race.rs`).

use std::sync::Arc;

use futures::StreamExt;
use pail_core::RelPath;
use pail_core::plan::{Action, Fate, RemoteExpect, phase};
use tokio::sync::Semaphore;
use tracing::Instrument;

use crate::ctx::PairCtx;
use crate::outcome::{ActionError, Outcome, PathError, Written};
use crate::{delete, displace, download, upload};

/// What a plan's execution came to.
#[derive(Debug, Default)]
pub struct ExecReport {
    pub done: u64,
    pub bytes: u64,
    pub conflicts: u64,
    pub deferred: Vec<(RelPath, String)>,
    /// Actions that failed for good, each with its path.
    pub errors: Vec<PathError>,
    /// (path, reason) of actions left for the user (reported in status, not errors).
    pub skipped: Vec<(String, String)>,
    /// What was done, by kind: only actions that succeeded count.
    pub counts: DoneCounts,
    /// The index failed (a full disk, a damaged file): the execution stopped there, since
    /// an action whose outcome cannot be recorded must not be followed by more.
    pub index_failed: Option<pail_index::IndexError>,
}

/// The actions that succeeded, by kind (what summaries and the pass log report), and the
/// paths of the bucket that were or may have been written (what the change journal names).
#[derive(Debug, Default, Clone)]
pub struct DoneCounts {
    /// Files uploaded.
    pub uploads: u64,
    /// Objects made by server-side copy.
    pub copies: u64,
    /// Files downloaded.
    pub downloads: u64,
    /// Files deleted from the folder.
    pub local_deletes: u64,
    /// Objects deleted from the bucket.
    pub remote_deletes: u64,
    /// Paths written or deleted in the bucket, failed attempts included (a write may have
    /// landed before its error), up to what the journal names.
    pub remote_paths: Vec<String>,
    /// More paths changed than the journal names.
    pub remote_paths_overflow: bool,
    /// What was done, file by file, for the activity log (at most [`ACTIVITY_PER_PASS`]).
    pub activity: Vec<pail_index::Activity>,
}

/// Activity entries one pass records at most (a first sync of a million files logs its
/// first ones; the counts stay exact).
pub const ACTIVITY_PER_PASS: usize = 10_000;

/// The activity entry of an action that succeeded, if it changed a side.
fn activity_of(action: &Action, device: &str) -> Option<pail_index::Activity> {
    let (kind, size, who, detail): (&str, Option<u64>, Option<&str>, Option<String>) = match action
    {
        Action::Upload { local, .. } => ("upload", Some(local.stat.size), Some(device), None),
        Action::CopyRemote { local, from, .. } => (
            "upload",
            Some(local.stat.size),
            Some(device),
            Some(format!("server-side copy of {from}")),
        ),
        Action::Download { remote, .. } => ("download", Some(remote.object.size), None, None),
        Action::DeleteLocal { .. } => (
            "delete local",
            None,
            None,
            Some("deleted in the bucket".into()),
        ),
        Action::DeleteRemote { .. } => (
            "delete remote",
            None,
            Some(device),
            Some("deleted here".into()),
        ),
        Action::Conflict { remote, .. } => (
            "conflict",
            Some(remote.object.size),
            None,
            Some("changed on both sides: the bucket's version keeps the name, this device's becomes a conflict copy".into()),
        ),
        Action::Displace { local, remote, .. } => (
            "conflict",
            None,
            None,
            Some(displace_detail(local.as_ref(), remote.as_ref())),
        ),
        Action::Record { .. } | Action::Forget { .. } => return None,
    };
    Some(pail_index::Activity {
        at: time::OffsetDateTime::now_utc(),
        kind: kind.into(),
        path: action.path().to_string(),
        size,
        device: who.map(str::to_owned),
        detail,
    })
}

/// What the activity log says of a file that gave way to a folder.
fn displace_detail(
    local: Option<&(pail_core::LocalFile, Fate)>,
    remote: Option<&(pail_core::RemoteObject, Fate)>,
) -> String {
    let side = |fate: Option<Fate>, here: &str| match fate {
        Some(Fate::ConflictCopy) => Some(format!("{here} kept as a conflict copy")),
        Some(Fate::Delete) => Some(format!("{here} deleted (replaced by the other side)")),
        None => None,
    };
    let parts: Vec<String> = [
        side(local.map(|(_, f)| *f), "this device's file"),
        side(remote.map(|(_, f)| *f), "the bucket's file"),
    ]
    .into_iter()
    .flatten()
    .collect();
    format!("a folder took its name: {}", parts.join(", "))
}

impl DoneCounts {
    fn add(&mut self, action: &Action, succeeded: bool, device: &str) {
        let writes_remote = matches!(
            action,
            Action::Upload { .. }
                | Action::CopyRemote { .. }
                | Action::DeleteRemote { .. }
                | Action::Displace {
                    remote: Some(_),
                    ..
                }
        );
        // A conflict copy made in the bucket has a name only the execution knows: the journal
        // entry names no paths, and peers list the prefix (it is rare).
        if matches!(
            action,
            Action::Displace {
                remote: Some((_, Fate::ConflictCopy)),
                ..
            }
        ) {
            self.remote_paths_overflow = true;
        }
        if writes_remote {
            if self.remote_paths.len() < crate::journal::MAX_PATHS {
                self.remote_paths.push(action.path().to_string());
            } else {
                self.remote_paths_overflow = true;
            }
        }
        if !succeeded {
            return;
        }
        if self.activity.len() < ACTIVITY_PER_PASS
            && let Some(a) = activity_of(action, device)
        {
            self.activity.push(a);
        }
        match action {
            Action::Upload { .. } => self.uploads += 1,
            Action::CopyRemote { .. } => self.copies += 1,
            Action::Download { .. } => self.downloads += 1,
            Action::DeleteLocal { .. } => self.local_deletes += 1,
            Action::DeleteRemote { .. } => self.remote_deletes += 1,
            Action::Displace { local, remote, .. } => {
                if matches!(local, Some((_, Fate::Delete))) {
                    self.local_deletes += 1;
                }
                if matches!(remote, Some((_, Fate::Delete))) {
                    self.remote_deletes += 1;
                }
            }
            Action::Conflict { .. } | Action::Record { .. } | Action::Forget { .. } => {}
        }
    }
}

/// Notes every upload and copy of the plan as pending, in one transaction, before any starts
/// (`Index::note_pending_uploads`; an upload that falls back from a copy is covered too).
fn note_pending_writes(ctx: &PairCtx, actions: &[Action]) -> Result<(), pail_index::IndexError> {
    let writes: Vec<(&RelPath, &pail_core::ContentHash)> = actions
        .iter()
        .filter_map(|a| match a {
            Action::Upload { path, local, .. } | Action::CopyRemote { path, local, .. } => {
                Some((path, &local.hash))
            }
            _ => None,
        })
        .collect();
    if writes.is_empty() {
        return Ok(());
    }
    ctx.db().note_pending_uploads(writes)
}

/// The plan's writes of keys it expects free: where the server cannot make such a write
/// conditional, their keys are checked right before (`new_keys.rs`).
fn new_files(actions: &[Action]) -> usize {
    actions
        .iter()
        .filter(|a| {
            matches!(
                a,
                Action::Upload {
                    expect: RemoteExpect::Absent,
                    ..
                } | Action::CopyRemote {
                    expect: RemoteExpect::Absent,
                    ..
                }
            )
        })
        .count()
}

/// How many small actions share one of the `transfers` slots at most.
const SMALL_PER_SLOT: usize = 8;
/// Small transfers in flight per slot when a pass starts, and at least: probing the server
/// moves that up to [`SMALL_PER_SLOT`] where it pays (`inflight.rs`).
const SMALL_START_PER_SLOT: usize = 4;
/// Transfers below this size are small: their time is the request's round trip.
const SMALL_BYTES: u64 = 1024 * 1024;

/// The share of the slots an action holds while it runs: a whole slot for a transfer of
/// [`SMALL_BYTES`] or more, an eighth for anything else (small transfers, deletes, records).
fn slot_weight(action: &Action) -> u32 {
    if is_big(action) {
        SMALL_PER_SLOT as u32
    } else {
        1
    }
}

fn is_big(action: &Action) -> bool {
    matches!(transfer_of(action), Some((_, _, size)) if size >= SMALL_BYTES)
}

/// Whether an outcome came from a transfer that made its request (and so timed the server).
fn made_its_request(outcome: &Result<Outcome, ActionError>) -> bool {
    matches!(
        outcome,
        Ok(Outcome::Transferred(_) | Outcome::Written { .. } | Outcome::Conflict(_))
    )
}

/// What moves bytes in an action (and how many): uploads, copies and downloads. The same
/// sizes the progress display counts as the actions run.
fn transfer_of(action: &Action) -> Option<(&RelPath, &'static str, u64)> {
    match action {
        Action::Upload { path, local, .. } | Action::CopyRemote { path, local, .. } => {
            Some((path, "upload", local.stat.size))
        }
        Action::Download { path, remote, .. } | Action::Conflict { path, remote, .. } => {
            Some((path, "download", remote.object.size))
        }
        _ => None,
    }
}

/// Files and bytes the transfers of a plan move, for the progress totals.
pub fn transfer_totals(actions: &[Action]) -> (u64, u64) {
    actions
        .iter()
        .filter_map(transfer_of)
        .fold((0, 0), |(f, b), (_, _, size)| (f + 1, b + size))
}

/// Runs one action, listed as in flight while it transfers.
async fn run_one(
    ctx: &Arc<PairCtx>,
    action: &Action,
    parts: &Arc<Semaphore>,
) -> Result<Outcome, ActionError> {
    let transfer = transfer_of(action);
    if let Some((path, direction, total)) = transfer {
        ctx.progress.start(path, direction, total);
    }
    let outcome = match run_action(ctx, action, parts).await {
        // An archived object waits for the user: listed in status, not a failure.
        Err(e @ ActionError::Archived { .. }) => Ok(Outcome::Skipped(e.to_string())),
        other => other,
    };
    if let Some((path, ..)) = transfer {
        ctx.progress.finish(path);
    }
    outcome
}

async fn run_action(
    ctx: &Arc<PairCtx>,
    action: &Action,
    parts: &Arc<Semaphore>,
) -> Result<Outcome, ActionError> {
    match action {
        Action::Record { path, base } => {
            ctx.db().set_base(path, base)?;
            Ok(Outcome::Done)
        }
        Action::Forget { path } => {
            ctx.db().remove_base(path)?;
            Ok(Outcome::Done)
        }
        Action::Upload {
            path,
            local,
            expect,
        } => upload::upload(ctx, path, local, expect, parts).await,
        Action::CopyRemote {
            path,
            local,
            from,
            from_object,
            expect,
        } => upload::copy(ctx, path, local, from, from_object, expect, parts).await,
        Action::Download {
            path,
            remote,
            expect,
        } => download::download(ctx, path, remote, expect, parts).await,
        Action::Conflict {
            path,
            local,
            remote,
        } => download::conflict(ctx, path, local, remote).await,
        Action::DeleteRemote { path, expect, .. } => delete::delete_remote(ctx, path, expect).await,
        Action::Displace {
            path,
            local,
            remote,
        } => displace::displace(ctx, path, local.as_ref(), remote.as_ref(), parts).await,
        Action::DeleteLocal { path, expect } => {
            delete::delete_local(ctx, path, expect, parts).await
        }
    }
}

/// Runs the actions; errors are per path, except an index that fails: then the actions in
/// flight are dropped and no more start ([`ExecReport::index_failed`]). What was done and
/// not recorded is found again by the next pass (same content on both sides: recorded).
pub async fn execute(ctx: &Arc<PairCtx>, mut actions: Vec<Action>) -> ExecReport {
    actions.sort_by(|a, b| phase(a).cmp(&phase(b)).then_with(|| a.path().cmp(b.path())));
    let transfers = ctx.cfg.transfers.max(1);
    // Parts of multipart uploads share their own limit, so a big file cannot starve or
    // deadlock the per-file slots.
    let parts = Arc::new(Semaphore::new(transfers));
    // `transfers` slots, each taken by one big transfer or by SMALL_PER_SLOT small ones:
    // small objects are bound by each request's round trip, not by bandwidth, so more of them
    // in flight keep the link busy (issue 14).
    let slots = Arc::new(Semaphore::new(transfers * SMALL_PER_SLOT));
    // Small transfers and deletes also hold a place among the small requests in flight, as
    // many as probing the server finds worth it (`inflight.rs`).
    let small = crate::inflight::SmallInFlight::new(crate::inflight::Probe::new(
        transfers * SMALL_START_PER_SLOT,
        transfers * SMALL_PER_SLOT,
    ));
    let mut report = ExecReport::default();
    if let Err(e) = note_pending_writes(ctx, &actions) {
        report.index_failed = Some(e);
        return report;
    }
    ctx.forget_uncommitted_writes();
    ctx.new_keys.start(new_files(&actions));
    let mut rest = actions.into_iter().peekable();
    while let Some(p) = rest.peek().map(phase) {
        // The phase's actions are pulled from the sorted list as slots free up, and each
        // outcome is tallied as it arrives: a pass of 100,000 actions never holds them twice.
        // Each task owns its action: borrowed items in a buffered stream make the future
        // impossible to prove `Send` for the daemon's spawned workers.
        let batch = std::iter::from_fn(|| rest.next_if(|a| phase(a) == p));
        let mut written = Vec::new();
        let mut outcomes = futures::stream::iter(batch)
            .map(|a| {
                let (ctx, parts, slots) = (ctx.clone(), parts.clone(), slots.clone());
                let small = small.clone();
                let span = tracing::info_span!("action", path = %a.path());
                crate::task::on_own_task(
                    async move {
                        let place = match a {
                            Action::Record { .. } | Action::Forget { .. } => None,
                            _ if is_big(&a) => None,
                            _ => Some(small.acquire().await),
                        };
                        // The executor owns the semaphore and never closes it.
                        let _slot = slots
                            .acquire_many_owned(slot_weight(&a))
                            .await
                            .expect("the transfer slots are never closed");
                        let started = std::time::Instant::now();
                        let out = run_one(&ctx, &a, &parts).await;
                        if let Some(place) = place {
                            // Transfers time the server; deletes may make no request at all.
                            let timed = (transfer_of(&a).is_some() && made_its_request(&out))
                                .then(|| started.elapsed());
                            small.done(place, timed);
                        }
                        (a, out)
                    }
                    .instrument(span),
                )
            })
            .buffer_unordered(transfers * SMALL_PER_SLOT);
        while let Some((action, outcome)) = outcomes.next().await {
            tally(&mut report, &mut written, &action, outcome, &ctx.cfg.device);
            if report.index_failed.is_some() {
                break;
            }
        }
        drop(outcomes);
        if let Err(e) = ctx.commit_writes() {
            report.index_failed.get_or_insert(e);
        }
        if report.index_failed.is_some() {
            return report;
        }
        // Writes that a server without conditional writes may have raced (tenet 5).
        let checked = crate::race::check_writes(ctx, written).await;
        report.conflicts += checked.races;
        report.errors.extend(checked.errors);
    }
    report
}

/// Adds one action's outcome to the report (and the log), and a write to check to
/// `written`.
fn tally(
    report: &mut ExecReport,
    written: &mut Vec<Written>,
    action: &Action,
    outcome: Result<Outcome, ActionError>,
    device: &str,
) {
    if let Ok(
        o @ (Outcome::Done
        | Outcome::Transferred(_)
        | Outcome::Written { .. }
        | Outcome::Conflict(_)),
    ) = &outcome
    {
        tracing::debug!(path = %action.path(), action = action.name(), outcome = ?o, "done");
    }
    let succeeded = matches!(
        outcome,
        Ok(Outcome::Done
            | Outcome::Transferred(_)
            | Outcome::Written { .. }
            | Outcome::Conflict(_))
    );
    let attempted = succeeded || outcome.is_err();
    if attempted {
        report.counts.add(action, succeeded, device);
    }
    match outcome {
        Ok(Outcome::Done) => report.done += 1,
        Ok(Outcome::Transferred(n)) => {
            report.done += 1;
            report.bytes += n;
        }
        Ok(Outcome::Written { bytes, check }) => {
            report.done += 1;
            report.bytes += bytes;
            written.extend(check);
        }
        Ok(Outcome::Conflict(n)) => {
            report.done += 1;
            report.conflicts += 1;
            report.bytes += n;
        }
        Ok(Outcome::Skipped(why)) => {
            tracing::warn!(path = %action.path(), %why, "skipped");
            report.skipped.push((action.path().to_string(), why));
        }
        Ok(Outcome::Deferred(why)) => {
            tracing::info!(path = %action.path(), %why, "deferred to the next pass");
            report.deferred.push((action.path().clone(), why));
        }
        Err(ActionError::Index(e)) => {
            tracing::warn!(path = %action.path(), error = %e, "the index failed: stopping the pass");
            report.index_failed.get_or_insert(e);
        }
        Err(error) => {
            // Reported once, by whoever reads the result (the sync summary, the daemon status);
            // at info level it is in the daemon log without doubling the one-shot output.
            tracing::info!(path = %action.path(), error = %error.report(), transient = error.is_transient(), "action failed");
            report.errors.push(PathError {
                path: action.path().to_string(),
                error,
            });
        }
    }
}
