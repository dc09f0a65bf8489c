//! The worker's decisions, without I/O: which pass runs next and when, from watcher hints,
//! journal polls, timers, pass outcomes, pause and sleep. The worker (daemon.rs) is a shell
//! around it: it turns channels, timers and finished passes into [`Event`]s, runs the
//! [`Action`] it gets back, and sleeps until [`Scheduler::next_wake`]. Time comes in with
//! each event and randomness (backoff jitter) inside the events, so the tests below script
//! the clock and replay whole days in microseconds.

use std::collections::BTreeSet;
use std::time::{Duration, Instant, SystemTime};

use pail_core::RelPath;
use pail_sync::SyncOptions;

use crate::DaemonOptions;
use crate::hints::{Hinted, Why, pass_inputs};
use crate::wake::WakeDetector;

/// A safety stop is retried no sooner than this: it waits for the user, and retrying
/// changes nothing until they act.
const SAFETY_STOP_RETRY: Duration = Duration::from_secs(60);

/// What happened, as the worker saw it.
#[derive(Debug)]
pub(crate) enum Event {
    /// The worker starts: one pass over everything.
    Start,
    /// A burst of watcher hints settled.
    Hints(Hinted),
    /// The watcher stopped (its thread died): scan on the fallback interval from now on.
    WatcherClosed,
    /// A timer asked for (see `next_wake`) went off. The wall clock tells sleep apart from
    /// awake time.
    Tick {
        wall: SystemTime,
    },
    /// A journal poll answered.
    Journal {
        new_entries: usize,
        changed: Option<BTreeSet<RelPath>>,
    },
    /// A journal poll failed (the bucket could not be reached).
    JournalFailed,
    /// The pass last handed out ended.
    PassEnded(Outcome),
    Paused,
    Resumed,
    /// A control request wants a pass now.
    Wake,
}

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    Ok,
    SafetyStop,
    /// `jitter` is any random number; it spreads the retries of many daemons (see `backoff`).
    Failed {
        jitter: u64,
    },
    /// Shutdown: nothing runs any more.
    Cancelled,
}

/// What the worker must do now.
#[derive(Debug)]
pub(crate) enum Action {
    Pass(Pass),
    /// One LIST of the bucket's change journal; answer with `Journal` or `JournalFailed`.
    PollJournal,
}

/// A pass to run, and what it looks at.
#[derive(Debug)]
pub(crate) struct Pass {
    pub(crate) why: Why,
    pub(crate) inputs: SyncOptions,
}

/// The decision state of one worker.
#[derive(Debug)]
pub(crate) struct Scheduler {
    poll_interval: Duration,
    full_reconcile: Duration,
    rescan_interval: Duration,
    fallback_scan_interval: Duration,
    /// The watcher runs (else the folder is scanned on the fallback interval).
    watching: bool,
    next_poll: Instant,
    next_scan: Instant,
    next_full: Instant,
    retry_at: Option<Instant>,
    failures: u32,
    /// The last journal poll failed.
    poll_failing: bool,
    /// A poll is due but waits for a pass to end.
    poll_wanted: bool,
    paused: bool,
    /// Passes asked for; several merge into the one that covers them (`take`).
    pending: BTreeSet<Why>,
    hinted: Hinted,
    remote_changed: Hinted,
    /// The pass or poll handed out and not answered yet.
    in_flight: Option<InFlight>,
    clocks: WakeDetector,
    stopped: bool,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum InFlight {
    Pass(Why),
    Poll,
}

impl Scheduler {
    /// Timers start at `now`; the first journal poll is due at once, like a tokio interval's
    /// first tick.
    pub(crate) fn new(
        opts: &DaemonOptions,
        watching: bool,
        now: Instant,
        wall: SystemTime,
    ) -> Scheduler {
        let mut s = Scheduler {
            poll_interval: opts.poll_interval,
            full_reconcile: opts.full_reconcile,
            rescan_interval: opts.rescan_interval,
            fallback_scan_interval: opts.fallback_scan_interval,
            watching,
            next_poll: now,
            next_scan: now,
            next_full: now + opts.full_reconcile,
            retry_at: None,
            failures: 0,
            poll_failing: false,
            poll_wanted: false,
            paused: false,
            pending: BTreeSet::new(),
            hinted: Hinted::default(),
            remote_changed: Hinted::default(),
            in_flight: None,
            clocks: WakeDetector::new(now, wall),
            stopped: false,
        };
        s.next_scan = now + s.scan_every();
        s
    }

    /// Takes in one event at `now`; returns what to do next, if anything.
    pub(crate) fn on(&mut self, event: Event, now: Instant) -> Option<Action> {
        match event {
            Event::Start => {
                self.pending.insert(Why::Start);
            }
            Event::Hints(h) => {
                self.hinted.absorb(h);
                self.pending.insert(Why::Local);
            }
            Event::WatcherClosed => {
                self.watching = false;
                self.next_scan = now + self.fallback_scan_interval;
            }
            Event::Tick { wall } => self.tick(now, wall),
            Event::Journal {
                new_entries,
                changed,
            } => {
                self.answered(InFlight::Poll);
                if new_entries > 0 {
                    self.remote_changed.add_named(changed);
                    self.pending.insert(Why::Remote);
                }
                if std::mem::take(&mut self.poll_failing) {
                    // The bucket answers again: sync what queued up now rather than at the
                    // end of a long backoff.
                    self.pending.insert(Why::Retry);
                }
            }
            Event::JournalFailed => {
                self.answered(InFlight::Poll);
                self.poll_failing = true;
            }
            Event::PassEnded(outcome) => self.pass_ended(outcome, now),
            Event::Paused => self.paused = true,
            Event::Resumed => {
                self.paused = false;
                self.pending.insert(Why::Resume);
            }
            Event::Wake => {
                self.pending.insert(Why::Resume);
            }
        }
        self.decide()
    }

    /// When the worker must call back with a `Tick` (`None`: only other events matter).
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        Some(match self.retry_at {
            Some(r) => r.min(self.next_poll),
            None => self.next_poll,
        })
    }

    /// When the failed or stopped pass is retried.
    pub(crate) fn retry_at(&self) -> Option<Instant> {
        self.retry_at
    }

    pub(crate) fn paused(&self) -> bool {
        self.paused
    }

    /// The last journal poll failed (and none answered since).
    pub(crate) fn poll_failing(&self) -> bool {
        self.poll_failing
    }

    fn scan_every(&self) -> Duration {
        if self.watching {
            self.rescan_interval
        } else {
            self.fallback_scan_interval
        }
    }

    fn tick(&mut self, now: Instant, wall: SystemTime) {
        if self.retry_at.is_some_and(|t| now >= t) {
            self.retry_at = None;
            self.pending.insert(Why::Retry);
        }
        // The other timers are looked at on the poll's beat, as `pail run` always did; a
        // tick that starts a pass skips that poll (the pass looks at the bucket anyway, or
        // the next poll does).
        if now < self.next_poll || self.in_flight == Some(InFlight::Poll) {
            return;
        }
        self.next_poll = next_beat(self.next_poll, self.poll_interval, now);
        if let Some(slept) = self.clocks.check(now, wall) {
            tracing::info!(
                slept_secs = slept.as_secs(),
                "the machine slept: full reconcile"
            );
            self.pending.insert(Why::Full);
        } else if now >= self.next_full {
            self.pending.insert(Why::Full);
        } else if now >= self.next_scan {
            self.next_scan = now + self.scan_every();
            self.pending.insert(Why::Rescan);
        } else {
            self.poll_wanted = true;
        }
    }

    fn pass_ended(&mut self, outcome: Outcome, now: Instant) {
        let Some(InFlight::Pass(why)) = self.in_flight.take() else {
            return;
        };
        match outcome {
            Outcome::Ok => {
                self.failures = 0;
                self.retry_at = None;
                if why == Why::Full {
                    self.next_full = now + self.full_reconcile;
                }
            }
            Outcome::SafetyStop => {
                self.retry_at = Some(now + self.poll_interval.max(SAFETY_STOP_RETRY));
            }
            Outcome::Failed { jitter } => {
                self.failures += 1;
                self.retry_at = Some(now + backoff(self.failures, jitter));
            }
            Outcome::Cancelled => self.stopped = true,
        }
    }

    fn answered(&mut self, what: InFlight) {
        if self.in_flight == Some(what) {
            self.in_flight = None;
        }
    }

    /// One thing at a time: a pass if one is asked for and not paused, else a due poll.
    /// Events that come while something runs are kept for when it ends.
    fn decide(&mut self) -> Option<Action> {
        if self.in_flight.is_some() || self.stopped {
            return None;
        }
        if !self.paused
            && let Some(why) = take(&mut self.pending)
        {
            self.in_flight = Some(InFlight::Pass(why));
            let inputs = pass_inputs(why, &mut self.hinted, &mut self.remote_changed);
            return Some(Action::Pass(Pass { why, inputs }));
        }
        if std::mem::take(&mut self.poll_wanted) {
            self.in_flight = Some(InFlight::Poll);
            return Some(Action::PollJournal);
        }
        None
    }
}

/// The pending pass that runs next, and the ones it covers. A pass over everything (the
/// first in `Why`'s order) covers all others; a journal pass or a rescan also covers the
/// watcher's hints (`pass_inputs` folds them in). A journal pass and a rescan both run.
fn take(pending: &mut BTreeSet<Why>) -> Option<Why> {
    let why = pending.pop_first()?;
    match why {
        Why::Full | Why::Start | Why::Resume | Why::Retry => pending.clear(),
        Why::Remote | Why::Rescan => {
            pending.remove(&Why::Local);
        }
        Why::Local => {}
    }
    Some(why)
}

/// The first beat of a `period` grid started at `beat` that is after `now`: beats missed
/// while a pass ran are skipped, not made up (tokio's `MissedTickBehavior::Skip`).
fn next_beat(beat: Instant, period: Duration, now: Instant) -> Instant {
    let period_ns = period.as_nanos().max(1);
    let missed = now.saturating_duration_since(beat).as_nanos() / period_ns;
    let ahead = u64::try_from((missed + 1) * period_ns).unwrap_or(u64::MAX);
    beat + Duration::from_nanos(ahead)
}

/// Exponential backoff, spread by `jitter` over the upper half: 2 s after the first
/// failure, doubling up to 2-4 minutes.
pub(crate) fn backoff(failures: u32, jitter: u64) -> Duration {
    let base = 2u64.saturating_pow(failures.min(8)).min(300);
    Duration::from_secs(base / 2 + jitter % (base / 2 + 1) + 1)
}

#[cfg(test)]
mod tests {
    use std::path::{Path, PathBuf};
    use std::time::UNIX_EPOCH;

    use pail_sync::RemoteView;
    use rstest::rstest;

    use super::*;

    const POLL: u64 = 10;
    const FALLBACK: u64 = 30;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// Polls every 10 s, scans every 30 s without a watcher; rescan and full reconcile
    /// intervals per case.
    fn opts(rescan: u64, full: u64) -> DaemonOptions {
        DaemonOptions {
            poll_interval: secs(POLL),
            full_reconcile: secs(full),
            rescan_interval: secs(rescan),
            fallback_scan_interval: secs(FALLBACK),
            ..DaemonOptions::default()
        }
    }

    /// What an action is, for the tables.
    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    enum Want {
        Run(Why),
        Poll,
        Nothing,
    }
    use Want::{Nothing, Poll, Run};

    fn kind(a: Option<Action>) -> Want {
        match a {
            Some(Action::Pass(p)) => Run(p.why),
            Some(Action::PollJournal) => Poll,
            None => Nothing,
        }
    }

    /// A tick with the wall clock `wall` seconds after the epoch (awake: same as the
    /// monotonic time of the step).
    fn tick(wall: u64) -> Event {
        Event::Tick {
            wall: UNIX_EPOCH + secs(wall),
        }
    }
    fn ended(o: Outcome) -> Event {
        Event::PassEnded(o)
    }
    const OK: Outcome = Outcome::Ok;
    const FAILED: Outcome = Outcome::Failed { jitter: 0 };
    fn nothing_new() -> Event {
        Event::Journal {
            new_entries: 0,
            changed: Some(BTreeSet::new()),
        }
    }
    fn journal(paths: &[&str]) -> Event {
        Event::Journal {
            new_entries: 1,
            changed: Some(paths.iter().map(|p| RelPath::new(p).unwrap()).collect()),
        }
    }
    fn hints(paths: &[&str]) -> Event {
        let mut h = Hinted::default();
        h.add(
            Path::new("/f"),
            pail_watch::Hint::Paths(paths.iter().map(|p| PathBuf::from("/f").join(p)).collect()),
        );
        Event::Hints(h)
    }

    /// Feeds `script` (seconds since start, event, expected action) and checks each answer.
    fn replay(opts: DaemonOptions, watching: bool, script: Vec<(u64, Event, Want)>) -> Scheduler {
        let t0 = Instant::now();
        let mut s = Scheduler::new(&opts, watching, t0, UNIX_EPOCH);
        for (step, (at, event, want)) in script.into_iter().enumerate() {
            let shown = format!("{event:?}");
            let got = kind(s.on(event, t0 + secs(at)));
            assert_eq!(got, want, "step {step}: {shown} at {at}s");
        }
        s
    }

    #[rstest]
    #[case::start_pass_then_polls(opts(3600, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (2, ended(OK), Nothing),
        // The first poll was due at once; it waited for the start pass.
        (2, tick(2), Poll),
        (2, nothing_new(), Nothing),
        (5, tick(5), Nothing),
        (10, tick(10), Poll),
        (10, nothing_new(), Nothing),
    ])]
    #[case::a_hint_is_a_local_pass(opts(3600, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (0, ended(OK), Nothing),
        (3, hints(&["a.txt"]), Run(Why::Local)),
        (3, ended(OK), Nothing),
    ])]
    #[case::journal_entries_are_a_remote_pass(opts(3600, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (0, ended(OK), Nothing),
        (1, tick(1), Poll),
        (1, journal(&["b.txt"]), Run(Why::Remote)),
        (2, ended(OK), Nothing),
        (10, tick(10), Poll),
        (10, nothing_new(), Nothing),
    ])]
    #[case::rescan_timer(opts(100, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (0, ended(OK), Nothing),
        (99, tick(99), Poll),
        (99, nothing_new(), Nothing),
        (100, tick(100), Run(Why::Rescan)),
        (101, ended(OK), Nothing),
        (110, tick(110), Poll),
        (110, nothing_new(), Nothing),
        (199, tick(199), Poll),
        (199, nothing_new(), Nothing),
        (200, tick(200), Run(Why::Rescan)),
    ])]
    #[case::full_reconcile_timer_restarts_after_a_full_pass(opts(100_000, 1000), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (0, ended(OK), Nothing),
        (1000, tick(1000), Run(Why::Full)),
        (1001, ended(OK), Nothing),
        (2000, tick(2000), Poll),
        (2000, nothing_new(), Nothing),
        (2010, tick(2010), Run(Why::Full)),
        (2010, ended(FAILED), Nothing),
        // Not converged: still due at the next beat (and the retry).
        (2012, tick(2012), Run(Why::Retry)),
        (2012, ended(OK), Nothing),
        (2020, tick(2020), Run(Why::Full)),
    ])]
    #[case::waking_from_sleep_is_a_full_reconcile(opts(3600, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (0, ended(OK), Nothing),
        (10, tick(10), Poll),
        (10, nothing_new(), Nothing),
        // Ten monotonic seconds, eight hours of wall time: the machine slept.
        (20, tick(20 + 8 * 3600), Run(Why::Full)),
        (21, ended(OK), Nothing),
        (30, tick(30 + 8 * 3600), Poll),
    ])]
    #[case::failures_back_off_longer_and_success_resets(opts(3600, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (0, ended(FAILED), Nothing),
        (1, tick(1), Poll),
        (1, nothing_new(), Nothing),
        (2, tick(2), Run(Why::Retry)),
        (2, ended(FAILED), Nothing),
        (4, tick(4), Nothing),
        (5, tick(5), Run(Why::Retry)),
        (5, ended(FAILED), Nothing),
        (9, tick(9), Nothing),
        // The retry and the poll are both due: the pass first, the poll right after it.
        (10, tick(10), Run(Why::Retry)),
        (10, ended(OK), Poll),
        (10, nothing_new(), Nothing),
        (11, hints(&["a.txt"]), Run(Why::Local)),
        (11, ended(FAILED), Nothing),
        (13, tick(13), Run(Why::Retry)),
    ])]
    #[case::a_safety_stop_is_retried_after_a_minute(opts(3600, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (0, ended(Outcome::SafetyStop), Nothing),
        (1, tick(1), Poll),
        (1, nothing_new(), Nothing),
        (59, tick(59), Poll),
        (59, nothing_new(), Nothing),
        (60, tick(60), Run(Why::Retry)),
        (60, ended(Outcome::SafetyStop), Poll),
        (60, nothing_new(), Nothing),
        (119, tick(119), Poll),
        (119, nothing_new(), Nothing),
        (120, tick(120), Run(Why::Retry)),
    ])]
    #[case::the_bucket_answering_again_is_a_retry(opts(3600, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (0, ended(OK), Nothing),
        (1, tick(1), Poll),
        (1, Event::JournalFailed, Nothing),
        (10, tick(10), Poll),
        (10, Event::JournalFailed, Nothing),
        (20, tick(20), Poll),
        (20, nothing_new(), Run(Why::Retry)),
        (21, ended(OK), Nothing),
        (30, tick(30), Poll),
        (30, nothing_new(), Nothing),
    ])]
    #[case::paused_holds_passes_and_resume_runs_one(opts(3600, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (0, ended(OK), Nothing),
        (1, Event::Paused, Nothing),
        (2, hints(&["a.txt"]), Nothing),
        // The journal is still polled (one LIST): the status shows what waits.
        (10, tick(10), Poll),
        (10, journal(&["b.txt"]), Nothing),
        (15, Event::Wake, Nothing),
        (20, Event::Resumed, Run(Why::Resume)),
        (21, ended(OK), Nothing),
        (21, tick(21), Poll),
    ])]
    #[case::without_a_watcher_the_folder_is_scanned(opts(3600, 21600), false, vec![
        (0, Event::Start, Run(Why::Start)),
        (0, ended(OK), Nothing),
        (29, tick(29), Poll),
        (29, nothing_new(), Nothing),
        (30, tick(30), Run(Why::Rescan)),
        (30, ended(OK), Nothing),
        (40, tick(40), Poll),
        (40, nothing_new(), Nothing),
        (60, tick(60), Run(Why::Rescan)),
    ])]
    #[case::a_closed_watcher_falls_back_to_scanning(opts(3600, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (0, ended(OK), Nothing),
        (5, Event::WatcherClosed, Nothing),
        (10, tick(10), Poll),
        (10, nothing_new(), Nothing),
        (35, tick(35), Run(Why::Rescan)),
        (35, ended(OK), Nothing),
        (65, tick(65), Run(Why::Rescan)),
    ])]
    #[case::events_during_a_pass_wait_for_it(opts(3600, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (1, hints(&["a.txt"]), Nothing),
        (2, Event::Paused, Nothing),
        (3, tick(3), Nothing),
        // Paused: the poll that came due during the pass runs, the hints wait.
        (4, ended(OK), Poll),
        (4, nothing_new(), Nothing),
        (5, Event::Resumed, Run(Why::Resume)),
        (6, hints(&["b.txt"]), Nothing),
        (7, ended(OK), Run(Why::Local)),
        (8, ended(OK), Nothing),
    ])]
    #[case::cancelled_is_the_end(opts(3600, 21600), true, vec![
        (0, Event::Start, Run(Why::Start)),
        (1, hints(&["a.txt"]), Nothing),
        (2, ended(Outcome::Cancelled), Nothing),
        (3, tick(3), Nothing),
        (4, Event::Wake, Nothing),
    ])]
    fn decisions(
        #[case] opts: DaemonOptions,
        #[case] watching: bool,
        #[case] script: Vec<(u64, Event, Want)>,
    ) {
        replay(opts, watching, script);
    }

    #[test]
    fn hints_that_arrive_during_a_pass_are_the_next_pass() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(&opts(3600, 21600), true, t0, UNIX_EPOCH);
        let Some(Action::Pass(start)) = s.on(Event::Start, t0) else {
            panic!("no start pass")
        };
        assert_eq!(start.inputs.local_scope, None);
        assert!(s.on(hints(&["a.txt"]), t0).is_none());
        assert!(s.on(hints(&["d/b.txt"]), t0).is_none());
        let Some(Action::Pass(next)) = s.on(ended(OK), t0 + secs(1)) else {
            panic!("the hints were dropped")
        };
        assert_eq!(next.why, Why::Local);
        assert_eq!(
            next.inputs.local_scope,
            Some(vec![
                RelPath::new("a.txt").unwrap(),
                RelPath::new("d/b.txt").unwrap()
            ])
        );
        assert_eq!(next.inputs.remote, RemoteView::FromBase);
    }

    #[test]
    fn a_journal_pass_also_covers_pending_hints() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(&opts(3600, 21600), true, t0, UNIX_EPOCH);
        assert_eq!(kind(s.on(Event::Paused, t0)), Nothing);
        assert_eq!(kind(s.on(hints(&["mine.txt"]), t0)), Nothing);
        assert_eq!(kind(s.on(tick(0), t0)), Poll);
        assert_eq!(kind(s.on(journal(&["theirs.txt"]), t0)), Nothing);
        // Resuming runs one pass over everything; a plain wake-up shows the merge.
        s.paused = false;
        let Some(Action::Pass(p)) = s.decide() else {
            panic!("no pass")
        };
        assert_eq!(p.why, Why::Remote);
        assert_eq!(
            p.inputs.remote_paths,
            Some(vec![RelPath::new("theirs.txt").unwrap()])
        );
        assert_eq!(
            p.inputs.local_scope,
            Some(vec![
                RelPath::new("mine.txt").unwrap(),
                RelPath::new("theirs.txt").unwrap()
            ])
        );
        assert!(
            s.pending.is_empty(),
            "no separate local pass: {:?}",
            s.pending
        );
    }

    #[test]
    fn next_wake_is_the_poll_beat_or_an_earlier_retry() {
        let t0 = Instant::now();
        let mut s = Scheduler::new(&opts(3600, 21600), true, t0, UNIX_EPOCH);
        assert_eq!(s.next_wake(), Some(t0), "the first poll is due at once");
        s.on(Event::Start, t0);
        s.on(ended(OK), t0);
        s.on(tick(3), t0 + secs(3));
        s.on(nothing_new(), t0 + secs(3));
        assert_eq!(s.next_wake(), Some(t0 + secs(10)));
        // A long pass skips beats instead of making them up.
        s.on(hints(&["a"]), t0 + secs(4));
        s.on(ended(FAILED), t0 + secs(35));
        assert_eq!(s.retry_at(), Some(t0 + secs(37)));
        assert_eq!(s.next_wake(), Some(t0 + secs(10)), "the missed beat, once");
        s.on(tick(35), t0 + secs(35));
        assert_eq!(s.next_wake(), Some(t0 + secs(37)), "the retry comes first");
        s.on(nothing_new(), t0 + secs(35));
        s.on(tick(37), t0 + secs(37));
        s.on(ended(Outcome::Cancelled), t0 + secs(38));
        assert_eq!(s.next_wake(), None);
    }

    #[rstest]
    #[case(1, 0, 2)]
    #[case(1, u64::MAX, 3)]
    #[case(2, 0, 3)]
    #[case(3, 0, 5)]
    #[case(5, 0, 17)]
    #[case(8, 0, 129)]
    #[case(8, 128, 257)]
    #[case(30, 0, 129)]
    #[case(u32::MAX, 7, 136)]
    fn backoff_grows_and_is_capped(#[case] failures: u32, #[case] jitter: u64, #[case] secs: u64) {
        assert_eq!(backoff(failures, jitter), Duration::from_secs(secs));
    }
}
