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
        // A constant pace: the adaptive one has its own cases below.
        active_poll_interval: secs(POLL),
        full_reconcile: Some(secs(full)),
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
const OK: Outcome = Outcome::Ok { keys: None };
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
    // The retry lists everything too: once it succeeds, the next full reconcile is an
    // interval after it.
    (2012, tick(2012), Run(Why::Retry)),
    (2012, ended(OK), Nothing),
    (2020, tick(2020), Poll),
    (2020, nothing_new(), Nothing),
    (3011, tick(3011), Poll),
    (3011, nothing_new(), Nothing),
    (3012, tick(3012), Run(Why::Full)),
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

/// The default pace (idle poll 60 s, active 5 s, full reconcile by a budget of 60 LISTs an
/// hour), watching.
fn adaptive() -> DaemonOptions {
    DaemonOptions {
        rescan_interval: secs(100_000),
        ..DaemonOptions::default()
    }
}

fn ok_listed(keys: u64) -> Event {
    ended(Outcome::Ok { keys: Some(keys) })
}

#[rstest]
#[case::idle_polls_every_minute(vec![
    (0, Event::Start, Run(Why::Start)),
    (1, ok_listed(10), Nothing),
    (1, tick(1), Poll),
    (1, nothing_new(), Nothing),
    (30, tick(30), Nothing),
    (60, tick(60), Poll),
    (60, nothing_new(), Nothing),
])]
#[case::after_a_local_change_polls_come_every_5s(vec![
    (0, Event::Start, Run(Why::Start)),
    (1, ok_listed(10), Nothing),
    (1, tick(1), Poll),
    (1, nothing_new(), Nothing),
    (10, hints(&["a.txt"]), Run(Why::Local)),
    (11, ended(OK), Nothing),
    // The poll due at 60 s was pulled in to 5 s after the change.
    (15, tick(15), Poll),
    (15, nothing_new(), Nothing),
    (20, tick(20), Poll),
    (20, nothing_new(), Nothing),
    (25, tick(25), Poll),
])]
#[case::after_a_remote_change_too(vec![
    (0, Event::Start, Run(Why::Start)),
    (1, ok_listed(10), Nothing),
    (1, tick(1), Poll),
    (1, journal(&["b.txt"]), Run(Why::Remote)),
    (2, ended(OK), Nothing),
    (5, tick(5), Nothing),
    (6, tick(6), Poll),
    (6, nothing_new(), Nothing),
    (11, tick(11), Poll),
])]
#[case::a_failing_poll_is_retried_soon_then_less_often(vec![
    (0, Event::Start, Run(Why::Start)),
    (1, ok_listed(10), Nothing),
    (1, tick(1), Poll),
    (1, Event::JournalFailed, Nothing),
    (6, tick(6), Poll),
    (6, Event::JournalFailed, Nothing),
    (16, tick(16), Poll),
    (16, Event::JournalFailed, Nothing),
    (35, tick(35), Nothing),
    (36, tick(36), Poll),
    // Back online: the queued work runs at once.
    (36, nothing_new(), Run(Why::Retry)),
])]
#[case::a_small_prefix_is_listed_every_minute(vec![
    (0, Event::Start, Run(Why::Start)),
    (1, ok_listed(500), Nothing),
    (1, tick(1), Poll),
    (1, nothing_new(), Nothing),
    (60, tick(60), Poll),
    (60, nothing_new(), Nothing),
    // Its own timer, not the poll's beat.
    (61, tick(61), Run(Why::Full)),
    (62, ok_listed(500), Nothing),
    (120, tick(120), Poll),
    (120, nothing_new(), Nothing),
    (122, tick(122), Run(Why::Full)),
])]
#[case::ten_thousand_keys_every_ten_minutes(vec![
    (0, Event::Start, Run(Why::Start)),
    (1, ok_listed(10_000), Nothing),
    (1, tick(1), Poll),
    (1, nothing_new(), Nothing),
    (540, tick(540), Poll),
    (540, nothing_new(), Nothing),
    (600, tick(600), Poll),
    (600, nothing_new(), Nothing),
    (601, tick(601), Run(Why::Full)),
    (602, ok_listed(10_000), Nothing),
])]
#[case::a_paused_worker_does_not_spin_on_a_due_full_reconcile(vec![
    (0, Event::Start, Run(Why::Start)),
    (1, ok_listed(500), Nothing),
    (2, Event::Paused, Nothing),
    (61, tick(61), Poll),
    (61, nothing_new(), Nothing),
    // Fired once; armed again a minute on.
    (62, tick(62), Nothing),
    // The full reconcile that waited covers the resume.
    (70, Event::Resumed, Run(Why::Full)),
])]
fn adaptive_pace(#[case] script: Vec<(u64, Event, Want)>) {
    replay(adaptive(), true, script);
}

/// Ticks at each wake-up time from `start`, answering polls with nothing new; returns the
/// times of the polls.
fn poll_times(s: &mut Scheduler, t0: Instant, start: u64, until: u64) -> Vec<u64> {
    let mut times = Vec::new();
    let mut now = t0 + secs(start);
    while now < t0 + secs(until) {
        now = s.next_wake().expect("a timer").max(now);
        let wall = UNIX_EPOCH + now.duration_since(t0);
        match kind(s.on(Event::Tick { wall }, now)) {
            Poll => {
                times.push(now.duration_since(t0).as_secs());
                assert_eq!(kind(s.on(nothing_new(), now)), Nothing);
            }
            Run(why) => assert_eq!(kind(s.on(ended(OK), now)), Nothing, "{why:?}"),
            Nothing => {}
        }
    }
    times
}

/// After a change the polls come every 5 s, then further apart, and every minute again
/// within five minutes of quiet.
#[test]
fn quiet_backs_off_to_the_idle_minute() {
    let mut o = adaptive();
    o.full_reconcile = Some(secs(100_000));
    let t0 = Instant::now();
    let mut s = Scheduler::new(&o, true, t0, UNIX_EPOCH);
    assert_eq!(kind(s.on(Event::Start, t0)), Run(Why::Start));
    assert_eq!(kind(s.on(ok_listed(10), t0)), Nothing);
    assert_eq!(kind(s.on(hints(&["a"]), t0 + secs(1))), Run(Why::Local));
    assert_eq!(kind(s.on(ended(OK), t0 + secs(1))), Nothing);
    let times = poll_times(&mut s, t0, 1, 900);
    let gaps: Vec<u64> = times.windows(2).map(|w| w[1] - w[0]).collect();
    // (The first poll was the one due at the start.)
    assert_eq!(&gaps[1..4], &[5, 5, 5], "{times:?}");
    assert!(gaps.windows(2).all(|g| g[0] <= g[1]), "{gaps:?}");
    assert!(gaps.iter().all(|g| *g <= 60), "{gaps:?}");
    let idle_from = times[gaps.iter().position(|g| *g == 60).expect("back to idle")];
    assert!(
        idle_from <= 5 * 60,
        "idle again after {idle_from} s: {times:?}"
    );
}

/// Idle for a day at 100,000 keys: 60 journal polls and at most 60 listing pages an hour.
#[test]
fn a_quiet_day_costs_the_idle_requests_only() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(&adaptive(), true, t0, UNIX_EPOCH);
    let (mut polls, mut fulls) = (0u64, 0u64);
    let mut next = s.on(Event::Start, t0);
    let mut now = t0;
    let day = secs(24 * 3600);
    while now < t0 + day {
        match kind(next.take()) {
            Run(_) => {
                fulls += 1;
                next = s.on(ok_listed(100_000), now);
                continue;
            }
            Poll => {
                polls += 1;
                next = s.on(nothing_new(), now);
                continue;
            }
            Nothing => {}
        }
        now = s.next_wake().expect("a timer");
        let wall = UNIX_EPOCH + now.duration_since(t0);
        next = s.on(Event::Tick { wall }, now);
    }
    // 100 pages a listing, one listing every 100 minutes: 14 a day plus the start.
    let pages_per_hour = (fulls * 100) as f64 / 24.0;
    let polls_per_hour = polls as f64 / 24.0;
    assert!(pages_per_hour <= 65.0, "{pages_per_hour} pages an hour");
    assert!(polls_per_hour <= 61.0, "{polls_per_hour} polls an hour");
    assert!(s.next_full > now, "the next full reconcile is ahead");
}

#[test]
fn status_says_how_remote_changes_are_heard() {
    let t0 = Instant::now();
    let mut s = Scheduler::new(&adaptive(), true, t0, UNIX_EPOCH);
    s.on(Event::Start, t0);
    s.on(ok_listed(10_000), t0);
    assert_eq!(
        s.describe_remote(t0 + secs(60)),
        "the change journal every 1 min; a full listing every 10 min (10000 keys), the next in 9 min"
    );
    s.on(hints(&["a"]), t0 + secs(60));
    assert!(
        s.describe_remote(t0 + secs(61))
            .starts_with("the change journal every 5 s;")
    );
}

/// `pail sync` asking a running daemon: its pass covers the others, but a dry run waiting
/// beside it still gets its own pass (its asker waits for it), and moves no timer.
#[rstest]
#[case::an_asked_pass_covers_the_pending_ones(vec![
    (0, Event::Start, Run(Why::Start)),
    (0, hints(&["a.txt"]), Nothing),
    (0, Event::Asked { real: true, dry_run: true }, Nothing),
    (1, ended(OK), Run(Why::Asked)),
    (2, ended(OK), Run(Why::AskedDryRun)),
    (2, ended(OK), Nothing),
])]
#[case::a_dry_run_moves_no_timer(vec![
    (0, Event::Start, Run(Why::Start)),
    (1, ok_listed(500), Nothing),
    (30, Event::Asked { real: false, dry_run: true }, Run(Why::AskedDryRun)),
    (31, ok_listed(500), Nothing),
    // Still due a minute after the start pass, not after the dry run.
    (61, tick(61), Run(Why::Full)),
])]
fn asked_passes(#[case] script: Vec<(u64, Event, Want)>) {
    replay(adaptive(), true, script);
}
