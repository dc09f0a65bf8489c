//! Noticing that the machine slept. The daemon's timers run on the monotonic clock, which on
//! Linux stands still during suspend: after a night asleep the six-hourly full reconcile would
//! come six hours of *awake* time later, though other S3 clients may have changed the bucket
//! all night. The wall clock keeps going, so a gap between the two means the machine slept.

use std::time::{Duration, Instant, SystemTime};

/// A wall clock ahead of the monotonic one by more than this was asleep (NTP corrections are
/// a few seconds at most, and slewed).
pub(crate) const MIN_SLEEP: Duration = Duration::from_secs(60);

/// Compares the two clocks between calls. Times are passed in, so it is tested without
/// sleeping.
#[derive(Debug, Clone, Copy)]
pub(crate) struct WakeDetector {
    mono: Instant,
    wall: SystemTime,
}

impl WakeDetector {
    pub(crate) fn new(mono: Instant, wall: SystemTime) -> WakeDetector {
        WakeDetector { mono, wall }
    }

    /// How long the machine slept since the last call, if it did.
    pub(crate) fn check(&mut self, mono: Instant, wall: SystemTime) -> Option<Duration> {
        let awake = mono.saturating_duration_since(self.mono);
        // A wall clock set back (or a broken RTC) is not sleep.
        let passed = wall.duration_since(self.wall).unwrap_or_default();
        *self = WakeDetector { mono, wall };
        passed.checked_sub(awake).filter(|slept| *slept > MIN_SLEEP)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(d: &WakeDetector, mono: u64, wall: u64) -> (Instant, SystemTime) {
        (
            d.mono + Duration::from_secs(mono),
            d.wall + Duration::from_secs(wall),
        )
    }

    #[test]
    fn awake_time_is_not_sleep() {
        let mut d = WakeDetector::new(Instant::now(), SystemTime::now());
        let (m, w) = at(&d, 60, 60);
        assert_eq!(d.check(m, w), None);
        // A small step of the wall clock (NTP) is not sleep either.
        let (m, w) = at(&d, 60, 90);
        assert_eq!(d.check(m, w), None);
    }

    #[test]
    fn a_night_asleep_is_noticed_once() {
        let mut d = WakeDetector::new(Instant::now(), SystemTime::now());
        let (m, w) = at(&d, 60, 8 * 3600 + 60);
        assert_eq!(d.check(m, w), Some(Duration::from_secs(8 * 3600)));
        let (m, w) = at(&d, 60, 60);
        assert_eq!(d.check(m, w), None, "reported once");
    }

    #[test]
    fn a_wall_clock_set_back_is_not_sleep() {
        let mut d = WakeDetector::new(Instant::now(), SystemTime::now());
        let (m, _) = at(&d, 60, 0);
        let back = d.wall - Duration::from_secs(3600);
        assert_eq!(d.check(m, back), None);
        let (m, w) = at(&d, 60, 60);
        assert_eq!(
            d.check(m, w),
            None,
            "and the next check starts from the new wall time"
        );
    }
}
