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
use crate::pace::{Pace, human};
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
    /// The bucket's event queue named paths that other writers changed.
    Notified {
        paths: BTreeSet<RelPath>,
    },
    /// `pail sync` asks for a full pass (`real`), for a plan only (`dry_run`), or both.
    Asked {
        real: bool,
        dry_run: bool,
    },
}

/// How a pass ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `keys`: how many keys the pass found in the prefix, when it listed it (the size the
    /// full-reconcile interval follows).
    Ok {
        keys: Option<u64>,
    },
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
    pace: Pace,
    /// The last local or remote change seen (polls come faster for a while after it).
    last_activity: Option<Instant>,
    /// Journal polls failed in a row.
    poll_failures: u32,
    /// Keys in the prefix at the last listing.
    keys: Option<u64>,
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
    /// `lists`: the pass lists the whole prefix (a full reconcile, whatever asked for it).
    Pass {
        why: Why,
        lists: bool,
    },
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
        let pace = Pace {
            idle_poll: opts.poll_interval,
            active_poll: opts.active_poll_interval,
            fixed_full: opts.full_reconcile,
            listing_budget: opts.listing_budget,
        };
        let mut s = Scheduler {
            last_activity: None,
            poll_failures: 0,
            keys: None,
            rescan_interval: opts.rescan_interval,
            fallback_scan_interval: opts.fallback_scan_interval,
            watching,
            next_poll: now,
            next_scan: now,
            next_full: now + pace.full_interval(None),
            pace,
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
                self.active(now);
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
                self.poll_failures = 0;
                if new_entries > 0 {
                    self.remote_changed.add_named(changed);
                    self.pending.insert(Why::Remote);
                    self.active(now);
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
                self.poll_failures += 1;
                // Coming back online is heard soon after a short outage.
                let retry = now + self.pace.failing_poll_interval(self.poll_failures);
                self.next_poll = self.next_poll.min(retry);
            }
            Event::PassEnded(outcome) => self.pass_ended(outcome, now),
            Event::Paused => self.paused = true,
            Event::Resumed => {
                self.paused = false;
                self.pending.insert(Why::Resume);
                self.active(now);
            }
            Event::Wake => {
                self.pending.insert(Why::Resume);
                self.active(now);
            }
            Event::Notified { paths } => {
                self.remote_changed.add_named(Some(paths));
                self.pending.insert(Why::Remote);
                self.active(now);
            }
            Event::Asked { real, dry_run } => {
                if real {
                    self.pending.insert(Why::Asked);
                }
                if dry_run {
                    self.pending.insert(Why::AskedDryRun);
                }
                self.active(now);
            }
        }
        self.decide()
    }

    /// When the worker must call back with a `Tick` (`None`: only other events matter).
    pub(crate) fn next_wake(&self) -> Option<Instant> {
        if self.stopped {
            return None;
        }
        let timers = self.next_poll.min(self.next_full).min(self.next_scan);
        Some(match self.retry_at {
            Some(r) => r.min(self.next_poll),
            None => timers,
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
        // While a failed pass waits for its retry, the timers' passes wait too: the retry
        // looks at everything anyway.
        let backing_off = self.retry_at.is_some();
        let before = self.pending.len();
        if let Some(slept) = self.clocks.check(now, wall) {
            tracing::info!(
                slept_secs = slept.as_secs(),
                "the machine slept: full reconcile"
            );
            self.pending.insert(Why::Full);
            // And poll at once: other devices may have written all night.
            self.next_poll = now;
        } else if now >= self.next_full {
            // Armed again from now, so that a pass that cannot run (paused, backing off)
            // does not make the timer fire on every tick; a listing pass re-arms it when it
            // ends.
            self.next_full = now + self.pace.full_interval(self.keys);
            if !backing_off {
                self.pending.insert(Why::Full);
            }
        } else if now >= self.next_scan {
            self.next_scan = now + self.scan_every();
            if !backing_off {
                self.pending.insert(Why::Rescan);
            }
        }
        if now < self.next_poll || self.in_flight == Some(InFlight::Poll) {
            return;
        }
        let quiet = self.last_activity.map(|t| now.saturating_duration_since(t));
        self.next_poll = next_beat(self.next_poll, self.pace.poll_interval(quiet), now);
        // A timer's pass skips the poll of its tick: the pass looks at the bucket anyway, or
        // the next poll does.
        if self.pending.len() == before || self.paused {
            self.poll_wanted = true;
        }
    }

    fn pass_ended(&mut self, outcome: Outcome, now: Instant) {
        let Some(InFlight::Pass { lists, .. }) = self.in_flight.take() else {
            return;
        };
        match outcome {
            Outcome::Ok { keys } => {
                self.failures = 0;
                self.retry_at = None;
                if keys.is_some() {
                    self.keys = keys;
                }
                if lists {
                    // Any pass that listed the prefix heard every writer: the next full
                    // reconcile is one interval after it.
                    self.next_full = now + self.pace.full_interval(self.keys);
                }
            }
            Outcome::SafetyStop => {
                self.retry_at = Some(now + self.pace.idle_poll.max(SAFETY_STOP_RETRY));
            }
            Outcome::Failed { jitter } => {
                self.failures += 1;
                self.retry_at = Some(now + backoff(self.failures, jitter));
            }
            Outcome::Cancelled => self.stopped = true,
        }
    }

    /// A change was seen at `now`: polls come at the active pace for a while.
    fn active(&mut self, now: Instant) {
        self.last_activity = Some(now);
        self.next_poll = self.next_poll.min(now + self.pace.active_poll);
    }

    /// How remote changes are heard, for `status`: "the change journal every 5 s; a full
    /// listing every 10 min (10000 keys), the next in 4 min".
    pub(crate) fn describe_remote(&self, now: Instant) -> String {
        let quiet = self.last_activity.map(|t| now.saturating_duration_since(t));
        let poll = if self.poll_failures > 0 {
            self.pace.failing_poll_interval(self.poll_failures)
        } else {
            self.pace.poll_interval(quiet)
        };
        let keys = self
            .keys
            .map(|k| format!(" ({k} keys)"))
            .unwrap_or_default();
        format!(
            "the change journal every {}; a full listing every {}{keys}, the next in {}",
            human(poll),
            human(self.pace.full_interval(self.keys)),
            human(self.next_full.saturating_duration_since(now)),
        )
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
            let inputs = pass_inputs(why, &mut self.hinted, &mut self.remote_changed);
            // A dry run looks at everything but syncs nothing: it moves no timer.
            let lists = inputs.remote == pail_sync::RemoteView::List && !inputs.dry_run;
            self.in_flight = Some(InFlight::Pass { why, lists });
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
        // A dry run must still get its own pass: its asker waits for it.
        Why::Asked | Why::Full | Why::Start | Why::Resume | Why::Retry => {
            pending.retain(|w| *w == Why::AskedDryRun)
        }
        Why::AskedDryRun => {}
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
mod tests;
