//! `pail run`: one worker per folder pair, a control socket, signal handling and systemd
//! notifications. Each worker turns hints (watcher events, journal entries from other
//! devices, timers) into full passes of the same engine `pail sync` runs; it never acts on an
//! event directly, so the daemon inherits every guarantee of the one-shot sync.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime};

use anyhow::{Context, Result};
use pail_s3::StoreFactory;
use pail_sync::config::Config;
use pail_sync::journal::JournalCursor;
use pail_sync::status::{PairStatus, StatusReport, pair_status};
use pail_sync::{PairConfig, PairCtx, SyncError, SyncOptions, SyncReport, SyncResult, sync_pair};
use tokio::sync::{Notify, watch};
use tokio_util::sync::CancellationToken;

use crate::asks::{self, Ask, Asks};
use crate::control;
use crate::control::PairSync;
use crate::events::{self, Heard};
use crate::hints::{Hinted, Why};
use crate::notify::Systemd;
use crate::schedule::{Action, Event, Outcome, Pass, Scheduler};
use pail_sync::pause::Pause;

/// How often a worker deletes its device's old journal entries.
const PRUNE_EVERY: Duration = Duration::from_secs(6 * 3600);

/// Timers and limits of the daemon.
#[derive(Debug, Clone)]
pub struct DaemonOptions {
    /// How often the bucket's change journal is polled (one LIST) when nothing happened
    /// lately: the idle interval, and the longest.
    pub poll_interval: Duration,
    /// The poll interval right after a local or remote change (see `pace.rs`).
    pub active_poll_interval: Duration,
    /// A fixed interval between full reconciles; `None`: it follows the prefix's size
    /// within `listing_budget`.
    pub full_reconcile: Option<Duration>,
    /// LIST requests an hour that the full reconciles of one pair may cost.
    pub listing_budget: u32,
    /// How often the folder is rescanned even without watcher events.
    pub rescan_interval: Duration,
    /// Rescan interval when the watcher cannot run (inotify limits, unsupported filesystem).
    pub fallback_scan_interval: Duration,
    /// Quiet time after the last watcher event before a pass starts (files being written).
    pub settle: Duration,
    /// How long SIGTERM waits for in-flight work before abandoning it.
    pub shutdown_deadline: Duration,
    /// Use the filesystem watcher (else: scans every `fallback_scan_interval`).
    pub use_watcher: bool,
    /// Rate limits (bytes per second) over all transfers, instead of the config's.
    pub upload_limit: Option<u64>,
    pub download_limit: Option<u64>,
}

impl Default for DaemonOptions {
    fn default() -> Self {
        DaemonOptions {
            poll_interval: Duration::from_secs(60),
            active_poll_interval: Duration::from_secs(5),
            full_reconcile: None,
            listing_budget: 60,
            rescan_interval: Duration::from_secs(3600),
            fallback_scan_interval: Duration::from_secs(60),
            // Short enough for "in the bucket within a second", long enough that an editor's
            // write-rename-chmod save is one event; the upload re-checks the file anyway.
            settle: Duration::from_millis(300),
            shutdown_deadline: Duration::from_secs(20),
            use_watcher: true,
            upload_limit: None,
            download_limit: None,
        }
    }
}

/// What a worker shows in the live status.
#[derive(Debug, Default, Clone)]
struct Live {
    state: String,
    reason: Option<String>,
    watcher: String,
    remote_changes: String,
}

/// One folder pair under the daemon.
#[derive(Debug)]
pub(crate) struct PairWorker {
    cfg: PairConfig,
    ctx: Arc<PairCtx>,
    live: Mutex<Live>,
    /// Wakes the worker for a pass (resume, control requests).
    wake: Notify,
    /// Passes `pail sync` waits for.
    asks: Asks,
    /// `pail pause`, as also kept in the index (`pail_sync::pause`).
    pause: watch::Sender<Option<Pause>>,
}

impl PairWorker {
    fn set(&self, state: &str, reason: Option<String>) {
        let mut l = self.live.lock().unwrap_or_else(|e| e.into_inner());
        l.state = state.into();
        l.reason = reason;
    }

    fn state(&self) -> String {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .state
            .clone()
    }

    fn set_watcher(&self, text: String) {
        self.live.lock().unwrap_or_else(|e| e.into_inner()).watcher = text;
    }

    fn set_remote_changes(&self, text: String) {
        self.live
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .remote_changes = text;
    }

    fn paused(&self) -> Option<Pause> {
        *self.pause.borrow()
    }

    /// Pauses or resumes the pair, in the index first so that it outlasts the daemon.
    fn set_pause(&self, pause: Option<Pause>) -> Result<()> {
        pail_sync::pause::write(&self.ctx.db(), pause)?;
        let was = self.pause.send_replace(pause);
        // Resuming runs a pass through the pause state alone; `pail resume` on a pair that
        // was not paused asks for one pass now.
        if pause.is_none() && was.is_none() {
            self.wake.notify_one();
        }
        Ok(())
    }

    fn snapshot(&self) -> Result<PairStatus> {
        let paused = self.paused().is_some();
        let mut st = pair_status(&self.cfg)?;
        let live = self.live.lock().unwrap_or_else(|e| e.into_inner()).clone();
        st.live = true;
        st.state = if paused { "paused".into() } else { live.state };
        st.state_reason = live.reason.or(st.state_reason);
        st.in_flight = self.ctx.progress.snapshot();
        st.progress = self.ctx.progress.totals_now();
        st.watcher = Some(live.watcher);
        st.remote_changes = Some(live.remote_changes).filter(|r| !r.is_empty());
        Ok(st)
    }
}

/// The running daemon, shared by the workers and the control socket.
#[derive(Debug)]
pub struct Daemon {
    pairs: Vec<Arc<PairWorker>>,
}

impl Daemon {
    pub(crate) fn status(&self) -> Result<StatusReport> {
        let pairs = self
            .pairs
            .iter()
            .map(|p| p.snapshot())
            .collect::<Result<_>>()?;
        Ok(StatusReport { pairs })
    }

    /// A full pass of each pair (or of the pair of `folder`, an absolute path), answered with
    /// each pass's report when the last one ends.
    pub(crate) async fn sync(
        &self,
        folder: Option<&Path>,
        dry_run: bool,
        confirm: bool,
    ) -> Result<Vec<PairSync>, String> {
        let chosen = self.chosen(folder)?;
        if let Some(p) = chosen.iter().find(|p| p.paused().is_some()) {
            return Err(format!(
                "{} is paused: run `pail resume --folder {}` first",
                p.cfg.folder.display(),
                p.cfg.folder.display()
            ));
        }
        let mut waiting = Vec::new();
        for p in chosen {
            let (reply, answer) = tokio::sync::oneshot::channel();
            p.asks.push(Ask {
                dry_run,
                confirm,
                reply,
            });
            waiting.push((p, answer));
        }
        let mut out = Vec::new();
        for (p, answer) in waiting {
            let report = answer.await.unwrap_or_else(|_| {
                SyncReport::failed("the daemon stopped before the pass ended".into())
            });
            out.push(PairSync {
                folder: p.cfg.folder.clone(),
                remote: p.cfg.remote.clone(),
                report,
            });
        }
        Ok(out)
    }

    /// Pauses (or with `None` resumes) each pair, or the pair of `folder`; returns their
    /// folders.
    pub(crate) fn set_pause(
        &self,
        folder: Option<&Path>,
        pause: Option<Pause>,
    ) -> Result<Vec<PathBuf>, String> {
        let chosen = self.chosen(folder)?;
        for p in &chosen {
            p.set_pause(pause).map_err(|e| {
                format!(
                    "cannot record the pause of {}: {e:#}",
                    p.cfg.folder.display()
                )
            })?;
        }
        Ok(chosen.iter().map(|p| p.cfg.folder.clone()).collect())
    }

    /// Every pair, or the pair of `folder` (an absolute path).
    fn chosen(&self, folder: Option<&Path>) -> Result<Vec<&Arc<PairWorker>>, String> {
        let chosen: Vec<_> = self
            .pairs
            .iter()
            .filter(|p| folder.is_none_or(|f| p.cfg.folder == f))
            .collect();
        if chosen.is_empty() {
            return Err(format!(
                "the running daemon does not sync {} (it was started with another config?)",
                folder.map(|f| f.display().to_string()).unwrap_or_default()
            ));
        }
        Ok(chosen)
    }
}

/// Runs the daemon for every pair of the config until SIGTERM/SIGINT.
pub async fn run(
    config_path: &Path,
    opts: DaemonOptions,
    factory: &dyn StoreFactory,
) -> Result<()> {
    let config = Config::load(config_path)?;
    // One limit for all pairs: they share the machine's link.
    let mut limits = config.limits()?;
    if let Some(up) = opts.upload_limit {
        limits.upload = pail_sync::limit::Limits::new(Some(up), None).upload;
    }
    if let Some(down) = opts.download_limit {
        limits.download = pail_sync::limit::Limits::new(None, Some(down)).download;
    }
    let mut ctxs = Vec::new();
    for cfg in config.select(None)? {
        let mut ctx = open_pair(cfg, factory).await?;
        ctx.limits = limits.clone();
        ctxs.push(ctx);
    }
    let socket = control::socket_path(config_path)?;
    let cancel = CancellationToken::new();
    let signals = tokio::spawn({
        let cancel = cancel.clone();
        async move {
            shutdown_signal().await;
            cancel.cancel();
        }
    });
    let ran = run_pairs(ctxs, socket, opts, cancel).await;
    signals.abort();
    ran
}

/// Connects a configured pair to its bucket and opens its index (taking the pair's lock).
async fn open_pair(cfg: &PairConfig, factory: &dyn StoreFactory) -> Result<PairCtx> {
    let mut ctx = PairCtx::open(cfg, factory).await.with_context(|| {
        format!(
            "cannot start the pair {} <-> {}",
            cfg.folder.display(),
            cfg.remote
        )
    })?;
    // The bucket may have changed since init (versioning turned on, server upgraded).
    if let Err(e) = ctx.reprobe().await {
        tracing::warn!(folder = %cfg.folder.display(), error = %format!("{e:#}"), "capability probe failed; using the recorded capabilities");
    }
    Ok(ctx)
}

/// Runs the daemon for opened pairs, answering on `socket`, until `cancel` (the seam that
/// lets tests run the whole daemon in-process on any store). Each pass in flight gets
/// `opts.shutdown_deadline` to finish; the socket is removed on the way out.
pub async fn run_pairs(
    ctxs: Vec<PairCtx>,
    socket: PathBuf,
    opts: DaemonOptions,
    cancel: CancellationToken,
) -> Result<()> {
    let systemd = Systemd::from_env();
    let workers = ctxs
        .into_iter()
        .map(|ctx| {
            // A pause outlasts the daemon that was told (tenet: honest status, issue 11).
            let pause = pail_sync::pause::read(&ctx.db(), SystemTime::now()).unwrap_or_else(|e| {
                tracing::warn!(folder = %ctx.cfg.folder.display(), error = %format!("{e:#}"), "cannot read the pause; not paused");
                None
            });
            Arc::new(PairWorker {
                pause: watch::channel(pause).0,
                cfg: ctx.cfg.clone(),
                ctx: Arc::new(ctx),
                live: Mutex::new(Live {
                    state: "starting".into(),
                    ..Live::default()
                }),
                wake: Notify::new(),
                asks: Asks::default(),
            })
        })
        .collect();
    let daemon = Arc::new(Daemon { pairs: workers });

    let listener = control::bind(&socket)?;
    let server = tokio::spawn(control::serve(listener, daemon.clone(), cancel.clone()));

    let mut tasks = Vec::new();
    for w in &daemon.pairs {
        let (w, cancel, opts, paused) =
            (w.clone(), cancel.clone(), opts.clone(), w.pause.subscribe());
        tasks.push(tokio::spawn(async move {
            worker(w, cancel, opts, paused).await
        }));
    }
    systemd.ready(&format!("watching {} folder pair(s)", daemon.pairs.len()));
    tracing::info!(socket = %socket.display(), pairs = daemon.pairs.len(), "pail daemon running");

    let mut watchdog = tokio::time::interval(
        systemd
            .watchdog_period()
            .unwrap_or(Duration::from_secs(3600)),
    );
    loop {
        tokio::select! {
            _ = cancel.cancelled() => break,
            _ = watchdog.tick() => {
                // The watchdog proves the main loop runs and no worker has died.
                if tasks.iter().all(|t| !t.is_finished()) {
                    systemd.watchdog();
                }
                systemd.status(&summary(&daemon));
            }
        }
    }
    systemd.stopping();
    tracing::info!("shutting down");
    // A pass gets the shutdown deadline to stop; a worker still going after that (once seen
    // in a benchmark, polling the journal after the signal) is left behind rather than keep
    // the process alive: the runtime drops it on the way out.
    let grace = opts.shutdown_deadline + Duration::from_secs(5);
    let stopped = tokio::time::timeout(grace, async {
        for t in &mut tasks {
            let _ = t.await;
        }
    })
    .await;
    if stopped.is_err() {
        tracing::warn!(
            "a folder's worker did not stop within {}s of the signal; exiting without it",
            grace.as_secs()
        );
        for t in &tasks {
            t.abort();
        }
    }
    let _ = tokio::time::timeout(grace, server).await;
    let _ = std::fs::remove_file(&socket);
    Ok(())
}

fn summary(d: &Daemon) -> String {
    d.pairs
        .iter()
        .map(|p| {
            let paused = p.paused().is_some();
            let l = p.live.lock().unwrap_or_else(|e| e.into_inner());
            let state = if paused { "paused" } else { l.state.as_str() };
            format!("{}: {state}", p.cfg.folder.display())
        })
        .collect::<Vec<_>>()
        .join("; ")
}

async fn shutdown_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        std::future::pending::<()>().await;
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
}

async fn worker(
    w: Arc<PairWorker>,
    cancel: CancellationToken,
    opts: DaemonOptions,
    mut paused: watch::Receiver<Option<Pause>>,
) {
    let root: PathBuf = w.cfg.folder.clone();
    let started = if opts.use_watcher {
        pail_watch::Watcher::start(&root, opts.settle, 4096).map_err(|e| e.to_string())
    } else {
        Err("the watcher is off (--no-watcher)".to_owned())
    };
    let (watcher, mut hints) = match started {
        Ok((watcher, rx)) => {
            w.set_watcher("watching for changes".into());
            (Some(watcher), Some(rx))
        }
        Err(e) => {
            let text = format!(
                "{e}; scanning every {}s instead",
                opts.fallback_scan_interval.as_secs()
            );
            tracing::warn!(folder = %root.display(), "{text}");
            w.set_watcher(text);
            (None, None)
        }
    };
    let mut journal = JournalCursor::starting_now();
    let mut last_prune = None;
    let opts = DaemonOptions {
        listing_budget: w.cfg.listing_budget,
        ..opts
    };
    let mut sched = Scheduler::new(&opts, watcher.is_some(), Instant::now(), SystemTime::now());
    // Bucket events, where the pair has a queue: how they stand is the first part of what
    // `status` says about remote changes.
    let mut heard = events::start(&w.ctx, &cancel);
    let mut heard_text = match &heard {
        Some(_) => "bucket events: connecting to the queue; ".to_owned(),
        None => String::new(),
    };
    w.set_remote_changes(format!(
        "{heard_text}{}",
        sched.describe_remote(Instant::now())
    ));
    let mut next = feed(&mut sched, &mut paused, Event::Start);

    'run: loop {
        // Do what the scheduler asks, telling it how each step ended, until it waits.
        while let Some(action) = next.take() {
            let mut failed = None;
            let event = match action {
                Action::Pass(Pass { why, mut inputs }) => {
                    tracing::info!(folder = %root.display(), ?why, "sync pass");
                    w.set("syncing", None);
                    let lists = inputs.remote == pail_sync::RemoteView::List;
                    let asked = match why {
                        Why::Asked => w.asks.take(false),
                        Why::AskedDryRun => w.asks.take(true),
                        _ => Vec::new(),
                    };
                    inputs.confirm |= asked.iter().any(|a| a.confirm);
                    let (end, report) = run_pass(&w, &cancel, opts.shutdown_deadline, inputs).await;
                    asks::answer(asked, &report);
                    match end {
                        PassEnd::Cancelled => {
                            sched.on(Event::PassEnded(Outcome::Cancelled), Instant::now());
                            break 'run;
                        }
                        PassEnd::Ok => {
                            w.set("idle", None);
                            // Full reconciles may come every minute: the journal is pruned
                            // (a listing of it) a few times a day only.
                            if why == Why::Full
                                && last_prune.is_none_or(|t: Instant| t.elapsed() >= PRUNE_EVERY)
                            {
                                let _ = pail_sync::journal::prune_own(&w.ctx).await;
                                last_prune = Some(Instant::now());
                            }
                            // The prefix's size sets the full-reconcile interval: the keys
                            // the listing returned (pail's own included), else synced paths.
                            let keys = if lists {
                                let db = w.ctx.db();
                                db.meta_get(pail_sync::ctx::meta::LISTED_KEYS)
                                    .ok()
                                    .flatten()
                                    .and_then(|k| k.parse().ok())
                                    .or_else(|| db.base_count().ok())
                            } else {
                                None
                            };
                            Event::PassEnded(Outcome::Ok { keys })
                        }
                        PassEnd::Stopped(reason) => {
                            // A safety stop waits for the user; retrying changes nothing anyway.
                            w.set("safety_stop", Some(reason));
                            Event::PassEnded(Outcome::SafetyStop)
                        }
                        PassEnd::Failed { reason, offline } => {
                            // Shown once the scheduler has chosen the retry time.
                            failed = Some((reason, offline));
                            Event::PassEnded(Outcome::Failed {
                                jitter: rand::random(),
                            })
                        }
                    }
                }
                Action::PollJournal => match journal.poll(&w.ctx).await {
                    Ok(r) => {
                        if sched.poll_failing() {
                            tracing::info!(folder = %root.display(), "the bucket answers again");
                        }
                        Event::Journal {
                            new_entries: r.new_entries,
                            changed: r.changed,
                        }
                    }
                    Err(e) => {
                        let state = if e.is_unreachable() {
                            "offline"
                        } else {
                            "error"
                        };
                        let e = e.report();
                        tracing::warn!(folder = %root.display(), error = %e, "journal poll failed");
                        // Say so even when no pass runs; a safety stop keeps its own reason.
                        if w.state() != "safety_stop" {
                            w.set(
                                state,
                                Some(format!(
                                    "cannot reach the bucket: {e} (retrying every {}s)",
                                    opts.poll_interval.as_secs()
                                )),
                            );
                        }
                        Event::JournalFailed
                    }
                },
            };
            next = feed(&mut sched, &mut paused, event);
            w.set_remote_changes(format!(
                "{heard_text}{}",
                sched.describe_remote(Instant::now())
            ));
            if let Some((reason, offline)) = failed.take() {
                let wait = sched.retry_at().map_or(Duration::ZERO, |at| {
                    at.saturating_duration_since(Instant::now())
                });
                w.set(
                    // The laptop's most common state is no fault of anything: say "offline".
                    if offline { "offline" } else { "error" },
                    Some(format!("{reason} (retrying in {}s)", wait.as_secs())),
                );
            }
        }
        let wake_at = sched.next_wake();
        let timer = async {
            match wake_at {
                Some(t) => tokio::time::sleep_until(t.into()).await,
                None => std::future::pending().await,
            }
        };
        // A pause for a while ends by itself.
        let pause_ends = paused.borrow().and_then(|p| p.ends());
        let pause_over = async {
            match pause_ends {
                Some(end) => {
                    let left = end.duration_since(SystemTime::now()).unwrap_or_default();
                    tokio::time::sleep(left).await
                }
                None => std::future::pending().await,
            }
        };
        let event = tokio::select! {
            _ = cancel.cancelled() => break,
            _ = pause_over => {
                tracing::info!(folder = %root.display(), "the pause is over");
                if let Err(e) = w.set_pause(None) {
                    tracing::warn!(folder = %root.display(), error = %format!("{e:#}"), "cannot record the end of the pause");
                }
                None
            }
            _ = w.wake.notified() => Some(Event::Wake),
            news = recv_heard(&mut heard) => match news {
                Some(Heard::Changed(paths)) => {
                    tracing::info!(folder = %root.display(), paths = paths.len(), "bucket events");
                    Some(Event::Notified { paths: paths.into_iter().collect() })
                }
                Some(Heard::Listening(queue)) => {
                    heard_text = format!("bucket events from the queue {queue}, as they come; ");
                    None
                }
                Some(Heard::Failing(e)) => {
                    heard_text = format!("bucket events: failing ({e}), retrying; ");
                    None
                }
                None => {
                    heard = None;
                    None
                }
            },
            _ = w.asks.notified() => {
                let (real, dry_run) = w.asks.waiting();
                Some(Event::Asked { real, dry_run })
            }
            // `feed` reads the new state.
            _ = paused.changed() => None,
            hint = recv_hint(&mut hints) => {
                match hint {
                    Some(h) => {
                        tracing::debug!(?h, "watcher hint");
                        let mut burst = Hinted::default();
                        burst.add(&root, h);
                        // Let a burst (an unpacked archive, a checkout) settle into one pass;
                        // the watcher already waited `settle` for each path to go quiet.
                        settle(&mut hints, opts.settle / 2, &root, &mut burst).await;
                        Some(Event::Hints(burst))
                    }
                    None => {
                        w.set_watcher(format!("the watcher stopped; scanning every {}s instead", opts.fallback_scan_interval.as_secs()));
                        hints = None;
                        Some(Event::WatcherClosed)
                    }
                }
            }
            _ = timer => Some(Event::Tick { wall: SystemTime::now() }),
        };
        next = match event {
            Some(e) => feed(&mut sched, &mut paused, e),
            None => sync_paused(&mut sched, &mut paused),
        };
        w.set_remote_changes(format!(
            "{heard_text}{}",
            sched.describe_remote(Instant::now())
        ));
    }
    drop(watcher);
    w.set("stopped", None);
}

/// Tells the scheduler about a pause or resume it has not seen yet. Read before every event,
/// so that no pass starts once `pail pause` has answered, whichever branch woke the worker.
fn sync_paused(
    sched: &mut Scheduler,
    paused: &mut watch::Receiver<Option<Pause>>,
) -> Option<Action> {
    let now_paused = paused.borrow_and_update().is_some();
    if now_paused == sched.paused() {
        return None;
    }
    let event = if now_paused {
        Event::Paused
    } else {
        Event::Resumed
    };
    sched.on(event, Instant::now())
}

/// One event into the scheduler, after the pause state. At most one of the two answers is
/// an action: the scheduler hands out one thing at a time.
fn feed(
    sched: &mut Scheduler,
    paused: &mut watch::Receiver<Option<Pause>>,
    event: Event,
) -> Option<Action> {
    let first = sync_paused(sched, paused);
    let second = sched.on(event, Instant::now());
    first.or(second)
}

async fn recv_heard(heard: &mut Option<tokio::sync::mpsc::Receiver<Heard>>) -> Option<Heard> {
    match heard {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

async fn recv_hint(
    hints: &mut Option<tokio::sync::mpsc::Receiver<pail_watch::Hint>>,
) -> Option<pail_watch::Hint> {
    match hints {
        Some(rx) => rx.recv().await,
        None => std::future::pending().await,
    }
}

/// Drains hints into `hinted` until none came for `quiet`.
async fn settle(
    hints: &mut Option<tokio::sync::mpsc::Receiver<pail_watch::Hint>>,
    quiet: Duration,
    root: &Path,
    hinted: &mut Hinted,
) {
    let Some(rx) = hints else { return };
    let deadline = Instant::now() + quiet * 20;
    while Instant::now() < deadline {
        match tokio::time::timeout(quiet, rx.recv()).await {
            Ok(Some(h)) => hinted.add(root, h),
            _ => break,
        }
    }
}

enum PassEnd {
    Ok,
    Stopped(String),
    /// The pass failed; `offline`: because the bucket could not be reached at all.
    Failed {
        reason: String,
        offline: bool,
    },
    Cancelled,
}

/// One pass, abandoned after `deadline` once shutdown was asked for: everything done so far
/// is recorded action by action, and an interrupted multipart upload resumes next start.
async fn run_pass(
    w: &PairWorker,
    cancel: &CancellationToken,
    deadline: Duration,
    inputs: SyncOptions,
) -> (PassEnd, SyncReport) {
    let ctx = w.ctx.clone();
    // Boxed with an explicit `Send`: the compiler cannot prove it through the select below
    // otherwise (rust-lang/rust#102211).
    let mut pass: std::pin::Pin<
        Box<dyn std::future::Future<Output = Result<SyncResult, SyncError>> + Send>,
    > = Box::pin(async move { sync_pair(&ctx, &inputs).await });
    let cancelled: std::pin::Pin<Box<dyn std::future::Future<Output = ()> + Send>> =
        Box::pin(cancel.clone().cancelled_owned());
    let result = tokio::select! {
        r = &mut pass => r,
        _ = cancelled => {
            match tokio::time::timeout(deadline, &mut pass).await {
                Ok(r) => { let _ = r; }
                Err(_) => tracing::warn!("shutdown deadline reached: abandoning in-flight transfers (they resume next start)"),
            }
            let report = SyncReport::failed("the daemon stopped during the pass; it goes on at the next start".into());
            return (PassEnd::Cancelled, report);
        }
    };
    let report = SyncReport::new(&result);
    let end = match result {
        Ok(SyncResult::Converged(_)) => PassEnd::Ok,
        Ok(SyncResult::SafetyStop(why)) => PassEnd::Stopped(why.to_string()),
        Ok(SyncResult::Errors(_, errors)) => PassEnd::Failed {
            offline: errors.iter().all(|e| {
                matches!(
                    e.error.store_error(),
                    Some(pail_s3::StoreError::Unreachable { .. })
                )
            }),
            reason: format!("{} path(s) failed, first: {}", errors.len(), errors[0]),
        },
        Ok(SyncResult::DryRun(..)) => PassEnd::Ok,
        Err(e) => PassEnd::Failed {
            offline: e.is_unreachable(),
            reason: e.report(),
        },
    };
    (end, report)
}
