//! How often a worker looks at the bucket, without I/O (issue 11, tenet 15).
//!
//! - **Journal polls** (one LIST of the change journal each) come every few seconds after
//!   local or remote activity, when another device is likely to answer, and back off to the
//!   idle interval over a few minutes of quiet: the idle cost stays one LIST a minute.
//! - **Full reconciles** (a listing of the whole prefix, the only way to hear other S3
//!   clients on a bucket without event notifications) follow the size of the prefix: a
//!   listing costs one request per 1,000 keys, and the interval is chosen so that they cost
//!   at most `listing_budget` requests an hour. With the default 60: up to 1,000 keys every
//!   minute, 10,000 keys every 10 minutes, 100,000 keys every 100 minutes.

use std::time::Duration;

/// Keys per page of a listing (ListObjectsV2's maximum, which pail asks for).
pub(crate) const KEYS_PER_PAGE: u64 = 1000;

/// Full reconciles never run more often than this, however small the prefix: a pass also
/// scans the folder.
pub(crate) const MIN_FULL_INTERVAL: Duration = Duration::from_secs(60);

/// Quiet time divided by this is the poll interval: after 20 s of quiet the active
/// interval (5 s), after 2 minutes 30 s, after 4 minutes the idle minute.
const BACKOFF_DIVISOR: u32 = 4;

/// The pacing of one worker.
#[derive(Debug, Clone)]
pub(crate) struct Pace {
    /// Poll interval when nothing happened lately (and the longest one).
    pub(crate) idle_poll: Duration,
    /// Poll interval right after activity (and the shortest one).
    pub(crate) active_poll: Duration,
    /// A fixed full-reconcile interval (`pail run --full-reconcile`), instead of the budget.
    pub(crate) fixed_full: Option<Duration>,
    /// LIST requests an hour that full reconciles may cost (0: only the fixed interval, or
    /// six hours when there is none).
    pub(crate) listing_budget: u32,
}

impl Pace {
    /// The interval to the next journal poll, `quiet` after the last activity (`None`: none
    /// since the worker started).
    pub(crate) fn poll_interval(&self, quiet: Option<Duration>) -> Duration {
        let active = self.active_poll.min(self.idle_poll);
        match quiet {
            None => self.idle_poll,
            Some(q) => (q / BACKOFF_DIVISOR).clamp(active, self.idle_poll),
        }
    }

    /// The interval to the next poll after `failures` polls in a row failed: the active
    /// interval doubling up to the idle one, so that a device coming back online is heard
    /// from within seconds of a short outage, at no more than the idle cost during a long one.
    pub(crate) fn failing_poll_interval(&self, failures: u32) -> Duration {
        let active = self.active_poll.min(self.idle_poll);
        active
            .saturating_mul(2u32.saturating_pow(failures.saturating_sub(1).min(16)))
            .min(self.idle_poll)
    }

    /// The interval between full reconciles of a prefix of `keys` keys (`None`: not listed
    /// yet, taken as one page).
    pub(crate) fn full_interval(&self, keys: Option<u64>) -> Duration {
        if let Some(fixed) = self.fixed_full {
            return fixed;
        }
        if self.listing_budget == 0 {
            return Duration::from_secs(6 * 3600);
        }
        let pages = keys.unwrap_or(0).div_ceil(KEYS_PER_PAGE).max(1);
        let secs = pages
            .saturating_mul(3600)
            .div_ceil(u64::from(self.listing_budget));
        Duration::from_secs(secs).max(MIN_FULL_INTERVAL)
    }
}

/// "5 s", "10 min", "1 h 40 min": a wait as people say it.
pub(crate) fn human(d: Duration) -> String {
    let s = d.as_secs();
    match s {
        0..60 => format!("{s} s"),
        60..3600 => format!("{} min", s / 60),
        _ if s % 3600 < 60 => format!("{} h", s / 3600),
        _ => format!("{} h {} min", s / 3600, s % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn pace(budget: u32) -> Pace {
        Pace {
            idle_poll: Duration::from_secs(60),
            active_poll: Duration::from_secs(5),
            fixed_full: None,
            listing_budget: budget,
        }
    }

    #[rstest]
    #[case::never_active(None, 60)]
    #[case::just_now(Some(0), 5)]
    #[case::quiet_20s(Some(20), 5)]
    #[case::quiet_1m(Some(60), 15)]
    #[case::quiet_2m(Some(120), 30)]
    #[case::quiet_4m(Some(240), 60)]
    #[case::quiet_1h(Some(3600), 60)]
    fn polls_back_off_after_activity(#[case] quiet: Option<u64>, #[case] secs: u64) {
        assert_eq!(
            pace(60).poll_interval(quiet.map(Duration::from_secs)),
            Duration::from_secs(secs)
        );
    }

    #[rstest]
    #[case(1, 5)]
    #[case(2, 10)]
    #[case(3, 20)]
    #[case(4, 40)]
    #[case(5, 60)]
    #[case(100, 60)]
    fn failing_polls_double_up_to_idle(#[case] failures: u32, #[case] secs: u64) {
        assert_eq!(
            pace(60).failing_poll_interval(failures),
            Duration::from_secs(secs)
        );
    }

    /// The examples: about 60 listing requests an hour at most.
    #[rstest]
    #[case::not_listed_yet(None, 60)]
    #[case::empty(Some(0), 60)]
    #[case::k1(Some(1_000), 60)]
    #[case::k1_and_one(Some(1_001), 120)]
    #[case::k10(Some(10_000), 600)]
    #[case::k100(Some(100_000), 6_000)]
    #[case::m1(Some(1_000_000), 60_000)]
    fn full_reconcile_follows_the_prefix_size(#[case] keys: Option<u64>, #[case] secs: u64) {
        assert_eq!(pace(60).full_interval(keys), Duration::from_secs(secs));
    }

    #[test]
    fn a_bigger_budget_lists_more_often_but_not_under_a_minute() {
        assert_eq!(
            pace(600).full_interval(Some(10_000)),
            Duration::from_secs(60)
        );
        assert_eq!(
            pace(600).full_interval(Some(100_000)),
            Duration::from_secs(600)
        );
    }

    #[test]
    fn a_fixed_interval_wins_and_budget_zero_means_six_hours() {
        let fixed = Pace {
            fixed_full: Some(Duration::from_secs(7200)),
            ..pace(60)
        };
        assert_eq!(fixed.full_interval(Some(5)), Duration::from_secs(7200));
        assert_eq!(pace(0).full_interval(Some(5)), Duration::from_secs(21600));
    }

    #[test]
    fn waits_read_as_people_say_them() {
        let h = |s| human(Duration::from_secs(s));
        assert_eq!(h(5), "5 s");
        assert_eq!(h(600), "10 min");
        assert_eq!(h(6000), "1 h 40 min");
        assert_eq!(h(21600), "6 h");
    }

    proptest::proptest! {
        /// Whatever the size, a day of full reconciles costs at most the budget an hour
        /// (rounding aside: one page more), and polls stay between the two intervals.
        #[test]
        fn listings_stay_within_the_budget(keys in 0u64..50_000_000, budget in 1u32..10_000) {
            let p = pace(budget);
            let interval = p.full_interval(Some(keys)).as_secs_f64();
            let pages = keys.div_ceil(KEYS_PER_PAGE).max(1) as f64;
            let per_hour = pages * 3600.0 / interval;
            proptest::prop_assert!(per_hour <= f64::from(budget) + 1e-6, "{per_hour} > {budget}");
        }

        #[test]
        fn polls_stay_between_active_and_idle(quiet in 0u64..100_000) {
            let i = pace(60).poll_interval(Some(Duration::from_secs(quiet)));
            proptest::prop_assert!(i >= Duration::from_secs(5) && i <= Duration::from_secs(60));
        }
    }
}
