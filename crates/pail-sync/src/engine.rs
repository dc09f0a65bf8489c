//! One full reconcile of a pair: check the root, scan the folder, list the prefix, look up
//! the hashes the planner needs, plan, stop for safety or execute, and repeat until a pass
//! finds nothing to do (conflict copies and deferred actions need a second pass).

use std::collections::HashSet;
use std::io;
use std::sync::Arc;

use futures::StreamExt;
use pail_core::plan::{Action, CopySource, Planner};
use pail_index::{
    PassSummary, ScanOptions, ScopedScan, SyncState, root_identity, scan_local, scan_local_paths,
};

use crate::ctx::{PairCtx, meta};
use crate::download::rfc3339;
use crate::error::SyncError;
use crate::exec::{ExecReport, execute};
use crate::outcome::{ActionError, PathError};
use crate::stop::StopReason;

/// How `sync` was asked to run.
#[derive(Debug, Clone, Default)]
pub struct SyncOptions {
    /// Plan and print, change nothing.
    pub dry_run: bool,
    /// The user confirmed what a safety stop would otherwise hold back.
    pub confirm: bool,
    /// Where the remote side of the first pass comes from.
    pub remote: RemoteView,
    /// Rescan only these paths (files or directories the watcher hinted at) and take the
    /// rest of the folder as last scanned; `None`: scan the whole folder. A scoped pass
    /// falls back to a full scan whenever the last scan cannot be trusted (see
    /// `pail_index::scan_local_paths`), and pail's own changes to the folder end scoping.
    pub local_scope: Option<Vec<pail_core::RelPath>>,
    /// With [`RemoteView::FromBase`]: paths another device says it changed (its journal
    /// entries). The first pass HEADs each of them instead of listing the prefix.
    pub remote_paths: Option<Vec<pail_core::RelPath>>,
    /// Actions per pass (default [`MAX_ACTIONS_PER_PASS`]); more are left to later passes.
    pub max_actions_per_pass: Option<usize>,
}

impl SyncOptions {
    /// A full reconcile: the whole folder scanned, the whole prefix listed.
    fn is_full(&self) -> bool {
        self.remote == RemoteView::List && self.local_scope.is_none() && !self.dry_run
    }
}

/// How a pass learns the remote side.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum RemoteView {
    /// List the prefix (a full reconcile).
    #[default]
    List,
    /// Assume the bucket is as the last sync left it, to pick up local changes without
    /// listing (the daemon, on watcher events). Writes still check the real object (before
    /// the write, or after it from the version list); any surprise switches the next pass to
    /// a listing.
    FromBase,
}

/// Totals over all passes of one sync.
#[derive(Debug, Default, Clone, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    pub passes: u32,
    pub uploads: u64,
    pub downloads: u64,
    pub copies: u64,
    pub local_deletes: u64,
    pub remote_deletes: u64,
    pub conflicts: u64,
    pub bytes: u64,
    pub skipped: u64,
    /// Paths written or deleted in the bucket (as many as the journal names), for the
    /// change journal.
    #[serde(skip)]
    pub remote_paths: Vec<String>,
    /// More paths changed than the journal names.
    #[serde(skip)]
    pub remote_paths_overflow: bool,
}

impl Totals {
    /// Adds what one pass's actions did.
    fn add(&mut self, c: crate::exec::DoneCounts) {
        self.uploads += c.uploads;
        self.copies += c.copies;
        self.downloads += c.downloads;
        self.local_deletes += c.local_deletes;
        self.remote_deletes += c.remote_deletes;
        for p in c.remote_paths {
            if self.remote_paths.len() < crate::journal::MAX_PATHS {
                self.remote_paths.push(p);
            } else {
                self.remote_paths_overflow = true;
            }
        }
        self.remote_paths_overflow |= c.remote_paths_overflow;
    }
    /// Whether this sync changed anything in the bucket (peers should look).
    pub fn changed_remote(&self) -> bool {
        self.uploads + self.copies + self.remote_deletes + self.conflicts > 0
            || !self.remote_paths.is_empty()
            || self.remote_paths_overflow
    }

    /// Whether this sync changed anything at all.
    pub fn changed_anything(&self) -> bool {
        self.changed_remote() || self.downloads + self.local_deletes > 0
    }
}

/// How a sync ended.
#[derive(Debug)]
pub enum SyncResult {
    /// Both sides agree.
    Converged(Totals),
    /// Nothing was changed: the user must confirm (exit code 3).
    SafetyStop(StopReason),
    /// `--dry-run`: the first pass's plan.
    DryRun(Vec<Action>, Option<String>),
    /// Some paths failed (exit code 1); the rest is synced.
    Errors(Totals, Vec<PathError>),
}

/// Passes before giving up on paths that keep changing under us.
const MAX_PASSES: u32 = 5;

/// Actions one pass plans and executes at most, so that memory stays bounded (about 60 MB of
/// actions) on a first sync of a million files; the following passes take the rest.
pub const MAX_ACTIONS_PER_PASS: usize = 100_000;

fn set_state(ctx: &PairCtx, state: SyncState, reason: &str) -> Result<(), SyncError> {
    Ok(ctx.db().set_state(state, reason)?)
}

/// Runs one full reconcile of the pair. An index that fails says why
/// ([`SyncError::StateDiskFull`], [`SyncError::IndexDamaged`]); a damaged one, marked by an
/// earlier pass, is set aside and rebuilt before this one starts.
pub async fn sync_pair(ctx: &Arc<PairCtx>, opts: &SyncOptions) -> Result<SyncResult, SyncError> {
    let db_path = ctx.index_file();
    let full;
    let opts = if ctx.heal_if_marked()?.is_some() {
        // A fresh index has no base to stand in for the bucket or the last scan.
        full = SyncOptions {
            remote: RemoteView::List,
            local_scope: None,
            remote_paths: None,
            ..opts.clone()
        };
        &full
    } else {
        opts
    };
    let (started, logged) = begin_sync(ctx).map_err(|e| e.about_index(&db_path))?;
    ctx.progress
        .begin_sync(i64::try_from(started.unix_timestamp_nanos()).unwrap_or_default());
    let result = run_passes(ctx, opts)
        .await
        .map_err(|e| e.about_index(&db_path));
    ctx.progress.end_sync();
    let ended = end_sync(ctx, opts, logged, started, &result).await;
    match (result, ended) {
        (Ok(_), Err(e)) => Err(e.about_index(&db_path)),
        // The pass's own error says more than the bookkeeping that failed after it (on a
        // full disk, recording the error fails too).
        (Err(e), Err(also)) => {
            tracing::warn!(error = %also.report(), "cannot record how the sync ended");
            Err(e)
        }
        (result, Ok(())) => result,
    }
}

/// Marks the pair as syncing and starts this sync's record in the pass log.
fn begin_sync(ctx: &PairCtx) -> Result<(time::OffsetDateTime, i64), SyncError> {
    set_state(ctx, SyncState::Syncing, "")?;
    ctx.db().clear_errors()?;
    let started = time::OffsetDateTime::now_utc();
    let logged = ctx.db().record_pass(&PassSummary {
        state: SyncState::Syncing,
        started_at: started,
        finished_at: None,
        files: 0,
        uploads: 0,
        downloads: 0,
        local_deletes: 0,
        remote_deletes: 0,
        conflicts: 0,
        errors: 0,
        message: None,
    })?;
    Ok((started, logged))
}

/// After the passes: the pass log, the change journal, the pair's state and errors.
async fn end_sync(
    ctx: &Arc<PairCtx>,
    opts: &SyncOptions,
    logged: i64,
    started: time::OffsetDateTime,
    result: &Result<SyncResult, SyncError>,
) -> Result<(), SyncError> {
    // Tell the other devices, for the price of one small PUT (see journal.rs).
    let changed = match result {
        Ok(SyncResult::Converged(t)) | Ok(SyncResult::Errors(t, _)) => t.changed_remote(),
        _ => false,
    };
    let entry = match result {
        Ok(SyncResult::Converged(t)) | Ok(SyncResult::Errors(t, _)) if !t.remote_paths_overflow => {
            let mut paths = t.remote_paths.clone();
            paths.sort();
            paths.dedup();
            crate::journal::Entry::new("sync", Some(paths))
        }
        _ => crate::journal::Entry::new("sync", None),
    };
    if changed && let Err(e) = crate::journal::append(ctx, &entry).await {
        tracing::warn!(error = %e.report(), "cannot write the change journal; other devices see the change at their next full reconcile");
    }
    log_pass(ctx, logged, started, result)?;
    let now = rfc3339(time::OffsetDateTime::now_utc());
    match result {
        Ok(SyncResult::Converged(_)) => {
            set_state(ctx, SyncState::Idle, "")?;
            let db = ctx.db();
            db.meta_set(meta::LAST_FULL_SYNC, &now)?;
            if opts.is_full() {
                db.heal_notice_after_full_sync()?;
            }
        }
        Ok(SyncResult::SafetyStop(why)) => {
            set_state(ctx, SyncState::SafetyStop, &why.to_string())?;
            ctx.db().add_activity(&[pail_index::Activity {
                at: time::OffsetDateTime::now_utc(),
                kind: "safety stop".into(),
                path: String::new(),
                size: None,
                device: Some(ctx.cfg.device.clone()),
                detail: Some(why.to_string()),
            }])?;
        }
        Ok(SyncResult::DryRun(..)) => set_state(ctx, SyncState::Idle, "")?,
        Ok(SyncResult::Errors(_, errors)) => {
            set_state(
                ctx,
                SyncState::Error,
                &format!("{} path(s) failed", errors.len()),
            )?;
            let db = ctx.db();
            for e in errors {
                db.add_error(Some(&e.path), &e.error.report())?;
            }
        }
        Err(e) => {
            let text = e.report();
            set_state(ctx, SyncState::Error, &text)?;
            ctx.db().add_error(None, &text)?;
        }
    }
    Ok(())
}
/// Completes the pass log's record of this sync (started as `Syncing`): how it ended and
/// what it did, for `status` and the activity view.
fn log_pass(
    ctx: &PairCtx,
    id: i64,
    started: time::OffsetDateTime,
    result: &Result<SyncResult, SyncError>,
) -> Result<(), SyncError> {
    let (state, totals, errors, message) = match result {
        Ok(SyncResult::Converged(t)) => (SyncState::Idle, Some(t), 0, None),
        Ok(SyncResult::DryRun(..)) => (SyncState::Idle, None, 0, None),
        Ok(SyncResult::SafetyStop(why)) => (SyncState::SafetyStop, None, 0, Some(why.to_string())),
        Ok(SyncResult::Errors(t, e)) => (
            SyncState::Error,
            Some(t),
            e.len() as u64,
            Some(format!("{} path(s) failed", e.len())),
        ),
        Err(e) => (SyncState::Error, None, 0, Some(e.report())),
    };
    let t = totals.cloned().unwrap_or_default();
    let db = ctx.db();
    let files = db.base_count()?;
    db.update_pass(
        id,
        &PassSummary {
            state,
            started_at: started,
            finished_at: Some(time::OffsetDateTime::now_utc()),
            files,
            uploads: t.uploads + t.copies,
            downloads: t.downloads,
            local_deletes: t.local_deletes,
            remote_deletes: t.remote_deletes,
            conflicts: t.conflicts,
            errors,
            message,
        },
    )?;
    Ok(())
}

async fn run_passes(ctx: &Arc<PairCtx>, opts: &SyncOptions) -> Result<SyncResult, SyncError> {
    let mut totals = Totals::default();
    let mut view = opts.remote;
    let mut scope = opts.local_scope.clone();
    let mut remote_paths = opts.remote_paths.clone();
    // The paths another device changed are part of what this pass must look at locally.
    if let (Some(s), Some(r)) = (scope.as_mut(), remote_paths.as_ref()) {
        s.extend(r.iter().cloned());
    }
    // Passes that only took a batch of a capped plan (they do not count toward MAX_PASSES).
    let mut batches = 0;
    loop {
        totals.passes += 1;
        let pass = PassInputs {
            view,
            scope: scope.as_deref(),
            remote_paths: remote_paths.take(),
        };
        let plan = match prepare_pass(ctx, opts, pass, &mut totals).await? {
            Prepared::Stop(why) => return Ok(SyncResult::SafetyStop(why)),
            Prepared::Plan(p) => p,
        };
        let stop = plan.safety_stop.clone().map(StopReason::Planner);
        if opts.dry_run {
            return Ok(SyncResult::DryRun(
                plan.actions,
                stop.map(|s| s.to_string()),
            ));
        }
        if let Some(why) = stop.filter(|_| !opts.confirm) {
            return Ok(SyncResult::SafetyStop(why));
        }
        let work = plan
            .actions
            .iter()
            .filter(|a| !matches!(a, Action::Record { .. } | Action::Forget { .. }))
            .count();
        let records = plan.actions.len() - work;
        let capped = plan.left > 0;
        {
            let db = ctx.db();
            let ups = plan
                .actions
                .iter()
                .filter(|a| matches!(a, Action::Upload { .. } | Action::CopyRemote { .. }))
                .count();
            let downs = plan
                .actions
                .iter()
                .filter(|a| matches!(a, Action::Download { .. } | Action::Conflict { .. }))
                .count();
            db.meta_set(meta::PENDING_UPLOADS, &ups.to_string())?;
            db.meta_set(meta::PENDING_DOWNLOADS, &downs.to_string())?;
        }
        let touches_folder = plan.actions.iter().any(|a| {
            matches!(
                a,
                Action::Download { .. }
                    | Action::DeleteLocal { .. }
                    | Action::Conflict { .. }
                    | Action::Displace { .. }
            )
        });
        if touches_folder {
            // Only a full scan may trust the folder again (scoped scans refuse until then).
            ctx.db().local_scan_outdated()?;
            scope = None;
        }
        let (files, bytes) = crate::exec::transfer_totals(&plan.actions);
        ctx.progress.add_planned(files, bytes);
        let mut report = execute(ctx, plan.actions).await;
        if let Some(e) = report.index_failed.take() {
            return Err(e.into());
        }
        let ExecReport {
            bytes,
            conflicts,
            deferred,
            errors,
            skipped,
            mut counts,
            ..
        } = report;
        let activity = std::mem::take(&mut counts.activity);
        if !activity.is_empty() {
            // The daemon's log (info) says what each pass did, file by file.
            const NAMED: usize = 10;
            let mut names: Vec<String> = activity
                .iter()
                .take(NAMED)
                .map(|a| format!("{} {}", a.kind, a.path))
                .collect();
            if activity.len() > NAMED {
                names.push(format!("and {} more", activity.len() - NAMED));
            }
            tracing::info!(
                folder = %ctx.root.display(),
                uploads = counts.uploads + counts.copies,
                downloads = counts.downloads,
                local_deletes = counts.local_deletes,
                remote_deletes = counts.remote_deletes,
                conflicts,
                errors = errors.len(),
                files = %names.join(", "),
                "pass done"
            );
        }
        if let Err(e) = ctx.db().add_activity(&activity) {
            // The log is for people; the sync itself is recorded in the base.
            tracing::warn!(error = %e, "cannot record the activity log");
        }
        totals.add(counts);
        totals.bytes += bytes;
        totals.conflicts += conflicts;
        if !skipped.is_empty() {
            // Archived objects wait for the user: listed in status, not failures.
            let db = ctx.db();
            let mut all = db.list_skipped()?;
            all.retain(|(p, _)| !skipped.iter().any(|(s, _)| s == p));
            totals.skipped += skipped.len() as u64;
            all.extend(skipped.iter().cloned());
            db.set_skipped(&all)?;
        }
        // Something differed from what the pass assumed (a write deferred, or a race found
        // below a write where versions stand in for conditions): look at the real bucket next.
        if !deferred.is_empty() || (view == RemoteView::FromBase && conflicts > 0) {
            view = RemoteView::List;
            scope = None;
        }
        {
            let db = ctx.db();
            db.meta_set(meta::PENDING_UPLOADS, "0")?;
            db.meta_set(meta::PENDING_DOWNLOADS, "0")?;
        }
        // A capped plan that got anywhere: the next pass plans the next batch.
        if capped && (records > 0 || work > errors.len() + skipped.len()) {
            batches += 1;
            continue;
        }
        // A pass with work is followed by another that must find nothing left: that pass is
        // the proof of convergence (and uploads the conflict copies this one made). Paths
        // that fail for good end the loop once nothing else is left.
        if work == 0 || errors.len() + skipped.len() == work {
            return Ok(if errors.is_empty() {
                SyncResult::Converged(totals)
            } else {
                SyncResult::Errors(totals, errors)
            });
        }
        if totals.passes - batches >= MAX_PASSES {
            let mut errors = errors;
            for (p, why) in deferred {
                errors.push(PathError {
                    path: p.to_string(),
                    error: ActionError::StillChanging {
                        passes: MAX_PASSES,
                        why,
                    },
                });
            }
            return Ok(if errors.is_empty() {
                SyncResult::Converged(totals)
            } else {
                SyncResult::Errors(totals, errors)
            });
        }
    }
}

/// How one pass learns each side.
struct PassInputs<'a> {
    view: RemoteView,
    /// Local paths to rescan (`None`: the whole folder).
    scope: Option<&'a [pail_core::RelPath]>,
    /// With `FromBase`: paths to HEAD over the base (another device changed them).
    remote_paths: Option<Vec<pail_core::RelPath>>,
}

/// Puts what the bucket holds now at each of `paths` into the remote scan (built from the
/// base): one HEAD per path instead of a listing of the whole prefix.
async fn head_changed_paths(
    ctx: &Arc<PairCtx>,
    rules: &pail_index::IgnoreRules,
    paths: Vec<pail_core::RelPath>,
) -> Result<(), SyncError> {
    let heads: Vec<_> =
        futures::stream::iter(paths.into_iter().filter(|p| !rules.is_ignored(p, false)))
            .map(|path| {
                let ctx = ctx.clone();
                async move {
                    let key = ctx.remote.key(&path)?;
                    let head = match ctx.remote.store.head(&key, None).await {
                        Ok(head) => head,
                        Err(source) => return Err(SyncError::Head { key, source }),
                    };
                    Ok((path, head))
                }
            })
            .buffer_unordered(ctx.cfg.transfers.max(1))
            .collect()
            .await;
    let db = ctx.db();
    for h in heads {
        match h? {
            (path, Some(head)) if !head.delete_marker => {
                let remote = pail_core::RemoteObject {
                    object: pail_core::RemoteRef {
                        etag: head.etag,
                        version_id: None,
                        size: ctx.remote.plain_size(head.size),
                    },
                    hash: head.meta.blake3,
                    last_modified_ns: head.last_modified_ns,
                };
                db.insert_remote_scan(&[(path, remote)])?;
            }
            (path, _) => db.remove_remote_scan(&path)?,
        }
    }
    Ok(())
}

enum Prepared {
    Stop(StopReason),
    Plan(pail_core::plan::Plan),
}

/// Checks that the folder root is the one that was synced (tenet 7).
fn check_root(ctx: &PairCtx, confirm: bool) -> Result<Option<StopReason>, SyncError> {
    let root = ctx.root();
    let folder = root.to_owned();
    match std::fs::metadata(root) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => {
            return Ok(Some(StopReason::FolderMissing { folder }));
        }
        Err(source) => {
            return Err(SyncError::Local {
                path: folder,
                source,
            });
        }
        Ok(m) if !m.is_dir() => return Ok(Some(StopReason::NotADirectory { folder })),
        Ok(_) => {}
    }
    let id = root_identity(root).map_err(|source| SyncError::Local {
        path: folder.clone(),
        source,
    })?;
    let (dev, ino) = {
        let db = ctx.db();
        (db.meta_get(meta::ROOT_DEV)?, db.meta_get(meta::ROOT_INODE)?)
    };
    let same = dev.as_deref() == Some(id.dev.to_string().as_str())
        && ino.as_deref() == Some(id.inode.to_string().as_str());
    if dev.is_some() && !same {
        if confirm {
            ctx.record_root_identity()?;
        } else {
            return Ok(Some(StopReason::FolderReplaced { folder }));
        }
    } else if dev.is_none() {
        ctx.record_root_identity()?;
    }
    Ok(None)
}

async fn prepare_pass(
    ctx: &Arc<PairCtx>,
    opts: &SyncOptions,
    pass: PassInputs<'_>,
    totals: &mut Totals,
) -> Result<Prepared, SyncError> {
    let PassInputs {
        view,
        scope,
        remote_paths,
    } = pass;
    if let Some(why) = check_root(ctx, opts.confirm)? {
        return Ok(Prepared::Stop(why));
    }
    let folder = ctx.reopen_folder().map_err(|e| SyncError::Local {
        path: ctx.root().to_owned(),
        source: std::io::Error::other(e),
    })?;
    let root = ctx.root().to_owned();

    // The listing runs while the folder is scanned.
    let pages = (view == RemoteView::List).then(|| crate::listing::start_listing(ctx));

    // Local scan: blocking file I/O and hashing, off the async threads. Scoped to the
    // watcher's hints when possible, else the whole folder with freshly loaded rules.
    let (scan, rules, ranges) = {
        let ctx = ctx.clone();
        let scope: Option<Vec<pail_core::RelPath>> = scope.map(<[_]>::to_vec);
        // Keyed hashes on an encrypted pair: its index never holds a plain hash.
        let scan_opts = ScanOptions {
            hashing: ctx.remote.hashing(),
            ..ScanOptions::default()
        };
        tokio::task::spawn_blocking(move || -> Result<_, SyncError> {
            if let (Some(scope), Some(rules)) = (scope, ctx.cached_rules()) {
                let db = ctx.db();
                match scan_local_paths(ctx.root(), &db, &rules, &scan_opts, &scope)? {
                    ScopedScan::Done(report) => {
                        tracing::debug!(paths = scope.len(), hashed = report.hashed, "scoped scan");
                        return Ok((report, rules, Some(pail_index::scope_ranges(&scope))));
                    }
                    ScopedScan::NeedsFull(why) => {
                        tracing::debug!(%why, "scoped scan refused: scanning the whole folder");
                    }
                }
            }
            let rules = ctx.load_rules()?;
            let db = ctx.db();
            let report = scan_local(ctx.root(), &db, &rules, &scan_opts)?;
            Ok((report, rules, None))
        })
        .await??
    };

    crate::localfs::remove_leftovers(&folder, &scan.leftovers);

    // The remote side: a listing streamed into the index, or the base (local-only passes).
    let mut skipped = scan.skipped.clone();
    // Bad lines of a `.pailignore` (perhaps synced from another device) are skipped, not
    // fatal (tenet 14); status lists them with the names that are not synced.
    skipped.extend(
        rules
            .warnings()
            .iter()
            .map(|w| (w.file.clone(), w.reason())),
    );
    let list_prefix = ctx.remote.prefix.list_prefix();
    let (listed, collided_set) = match pages {
        Some(pages) => {
            let l = crate::listing::list_remote(ctx, &rules, pages).await?;
            ctx.db()
                .meta_set(crate::ctx::meta::LISTED_KEYS, &l.keys.to_string())?;
            skipped.extend(l.skipped);
            (l.listed, l.collided)
        }
        None => {
            // The bucket as last synced: only the scope's part of it when the pass plans
            // over the scope alone (below).
            match &ranges {
                Some(r) => ctx.db().remote_scan_from_base_in(r)?,
                None => ctx.db().remote_scan_from_base()?,
            }
            if let Some(paths) = remote_paths {
                head_changed_paths(ctx, &rules, paths).await?;
            }
            (ctx.db().base_count()?, HashSet::new())
        }
    };
    totals.skipped = skipped.len() as u64;
    if view == RemoteView::List {
        // (A local-only pass keeps the remote names reported by the last listing.)
        ctx.db().set_skipped(&skipped)?;
    }

    // Tenet 7: an empty side that had files is a stop, not a mass delete.
    let synced = ctx.db().base_count()?;
    if synced > 0 && !opts.confirm {
        if scan.files == 0 {
            return Ok(Prepared::Stop(StopReason::FolderEmptied {
                folder: root,
                synced,
            }));
        }
        if listed == 0 {
            return Ok(Prepared::Stop(StopReason::ListingEmptied {
                url: format!("s3://{}/{list_prefix}", ctx.remote.bucket),
                synced,
            }));
        }
    }

    // Remote hashes the planner needs: objects that changed where a local file exists.
    let needed = {
        let ctx = ctx.clone();
        tokio::task::spawn_blocking(move || ctx.db().remote_needing_hash()).await??
    };
    let heads: Vec<_> = futures::stream::iter(needed)
        .map(|(path, etag)| {
            let ctx = ctx.clone();
            async move {
                let key = ctx.remote.key(&path)?;
                let head = ctx.remote.store.head(&key, None).await?;
                Ok::<_, SyncError>((path, key, etag, head))
            }
        })
        .buffer_unordered(ctx.cfg.transfers.max(1))
        .collect()
        .await;
    {
        let db = ctx.db();
        for h in heads {
            let (path, _key, etag, head) = h?;
            if let Some(hash) = head
                .as_ref()
                .filter(|h| h.etag == etag)
                .and_then(|h| h.meta.blake3)
            {
                db.set_remote_scan_hash(&path, &hash)?;
            }
        }
    }

    // The join of the three sides and the planner's loop over every path are CPU-bound
    // SQLite work on the whole folder: off the async threads, like the scan.
    let plan = {
        let ctx = ctx.clone();
        let cap = opts.max_actions_per_pass.unwrap_or(MAX_ACTIONS_PER_PASS);
        tokio::task::spawn_blocking(move || {
            plan_pass(&ctx, &rules, &collided_set, ranges.as_deref(), view, cap)
        })
        .await??
    };
    Ok(Prepared::Plan(plan))
}

/// Adds the paths left out for being below a boundary to the skipped entries `status` shows.
fn report_below(ctx: &PairCtx, below: Vec<(String, String)>) -> Result<(), SyncError> {
    if below.is_empty() {
        return Ok(());
    }
    // A few by name (a link to a big folder would repeat one reason thousands of times).
    for (path, why) in below.iter().take(5) {
        tracing::warn!(%path, %why, "skipped");
    }
    if below.len() > 5 {
        tracing::warn!(
            more = below.len() - 5,
            "more paths skipped (see `pail status`)"
        );
    }
    let db = ctx.db();
    let mut all = db.list_skipped()?;
    let new: HashSet<&str> = below.iter().map(|(p, _)| p.as_str()).collect();
    all.retain(|(p, _)| !new.contains(p.as_str()));
    all.extend(below);
    all.sort();
    db.set_skipped(&all)?;
    Ok(())
}

/// Forgets what became ignored, then joins the local scan, the remote scan and the base
/// path by path and plans (blocking: it holds the index for the whole join).
fn plan_pass(
    ctx: &PairCtx,
    rules: &pail_index::IgnoreRules,
    collided_set: &HashSet<pail_core::RelPath>,
    ranges: Option<&[(String, String)]>,
    view: RemoteView,
    cap: usize,
) -> Result<pail_core::plan::Plan, SyncError> {
    // Paths that became ignored: forget their base, touch nothing (tenet 10). (A scoped
    // scan runs only with the rules of the last full one: nothing became ignored since.)
    if ranges.is_none() {
        let db = ctx.db();
        for path in db.bases_now_ignored(|p: &pail_core::RelPath| rules.is_ignored(p, false))? {
            db.remove_base(&path)?;
        }
    }

    // Uploads a crash cut off before their record are this device's own writes.
    let adopted = ctx.db().adopt_own_uploads()?;
    if adopted > 0 {
        tracing::info!(
            adopted,
            "found uploads of an interrupted sync in the bucket; recorded them"
        );
    }

    let mut planner = Planner::with_cap(cap);
    let ignore = |p: &pail_core::RelPath| rules.is_ignored(p, false) || collided_set.contains(p);
    // Tenet 13: nothing at or below a local symlink, mount point or special file is planned.
    let mut boundaries =
        crate::boundary::Boundaries::new(ctx.root().to_owned()).map_err(|source| {
            SyncError::Local {
                path: ctx.root().to_owned(),
                source,
            }
        })?;
    let push = |state: pail_core::state::PathState| -> Result<(), pail_index::IndexError> {
        if !boundaries.excludes(&state.path, state.local.is_some()) {
            planner.push(&state);
        }
        Ok(())
    };
    match (ranges, view) {
        // Local changes within the scope, the bucket as last synced: nothing outside the
        // scope can need an action, so the plan covers the scope alone.
        (Some(r), RemoteView::FromBase) => {
            let synced = ctx.db().base_count()?;
            ctx.db().for_each_state_in(r, ignore, push)?;
            planner.assume_synced(synced);
        }
        _ => ctx.db().for_each_state(ignore, push)?,
    }
    report_below(ctx, boundaries.into_below())?;
    // Content already in the bucket under another name becomes a server-side copy.
    let db = ctx.db();
    // (A first sync has nothing to find: no lookup per new file.)
    let any_base = db.has_bases()?;
    let mut locate = |hash: &pail_core::ContentHash| {
        if !any_base {
            return None;
        }
        db.find_base_by_hash(hash)
            .ok()
            .flatten()
            .map(|(path, base)| CopySource {
                path,
                object: base.remote,
            })
    };
    Ok(planner.finish_with(&ctx.cfg.safety(), &mut locate))
}
