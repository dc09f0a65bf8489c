//! Transfers in flight and the totals of the sync in progress, for progress displays: the
//! `pail sync` bar and a live `pail status` (the daemon reads them while a pass runs).

use std::collections::BTreeMap;
use std::sync::Mutex;

use pail_core::RelPath;

/// One transfer in flight.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct InFlight {
    pub path: String,
    /// "upload" or "download".
    pub direction: String,
    pub bytes_done: u64,
    pub bytes_total: u64,
}

/// Totals of the sync in progress (all its passes so far): files and bytes to transfer, and
/// how many are done (bytes of transfers in flight included).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    /// Uploads and downloads planned.
    pub files_total: u64,
    /// Of those, finished (or given up).
    pub files_done: u64,
    /// Bytes of the planned transfers.
    pub bytes_total: u64,
    /// Bytes sent or received so far.
    pub bytes_done: u64,
    /// When the sync started, Unix ns (for the rate).
    pub started_ns: i64,
}

impl Totals {
    /// Bytes per second since the start, as seen at `now_ns`.
    pub fn rate(&self, now_ns: i64) -> Option<f64> {
        let secs = (now_ns - self.started_ns) as f64 / 1e9;
        (secs >= 1.0 && self.bytes_done > 0).then(|| self.bytes_done as f64 / secs)
    }

    /// Seconds left at the rate so far, if it can be told.
    pub fn eta_secs(&self, now_ns: i64) -> Option<u64> {
        let rate = self.rate(now_ns)?;
        Some((self.bytes_total.saturating_sub(self.bytes_done) as f64 / rate).ceil() as u64)
    }
}

/// The transfers in flight right now, and the totals of the sync they belong to.
#[derive(Debug, Default)]
pub struct Progress {
    map: Mutex<BTreeMap<RelPath, InFlight>>,
    /// `None` while no sync runs.
    totals: Mutex<Option<Totals>>,
    /// The totals of the last sync that ended (for a final progress line).
    last: Mutex<Option<Totals>>,
}

impl Progress {
    fn map(&self) -> std::sync::MutexGuard<'_, BTreeMap<RelPath, InFlight>> {
        self.map.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub fn start(&self, path: &RelPath, direction: &'static str, bytes_total: u64) {
        let entry = InFlight {
            path: path.to_string(),
            direction: direction.into(),
            bytes_done: 0,
            bytes_total,
        };
        self.map().insert(path.clone(), entry);
    }

    pub fn advance(&self, path: &RelPath, bytes: u64) {
        if let Some(e) = self.map().get_mut(path) {
            e.bytes_done = (e.bytes_done + bytes).min(e.bytes_total.max(e.bytes_done + bytes));
        }
    }

    pub fn finish(&self, path: &RelPath) {
        let done = self.map().remove(path);
        if let (Some(d), Some(t)) = (done, self.totals().as_mut()) {
            t.files_done += 1;
            t.bytes_done += d.bytes_total;
        }
    }

    pub fn snapshot(&self) -> Vec<InFlight> {
        self.map().values().cloned().collect()
    }

    fn totals(&self) -> std::sync::MutexGuard<'_, Option<Totals>> {
        self.totals.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// A sync starts (at `now_ns`): totals from zero.
    pub fn begin_sync(&self, now_ns: i64) {
        *self.totals() = Some(Totals {
            started_ns: now_ns,
            ..Totals::default()
        });
    }

    /// A pass planned `files` transfers of `bytes` in all.
    pub fn add_planned(&self, files: u64, bytes: u64) {
        if let Some(t) = self.totals().as_mut() {
            t.files_total += files;
            t.bytes_total += bytes;
        }
    }

    /// The sync ended.
    pub fn end_sync(&self) {
        let ended = self.totals().take();
        *self.last.lock().unwrap_or_else(|e| e.into_inner()) = ended;
    }

    /// The totals of the last sync that ended, if any.
    pub fn last_totals(&self) -> Option<Totals> {
        self.last.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// The totals of the sync in progress, bytes in flight included; `None` between syncs.
    pub fn totals_now(&self) -> Option<Totals> {
        let mut t = self.totals().clone()?;
        t.bytes_done += self.map().values().map(|f| f.bytes_done).sum::<u64>();
        t.bytes_done = t.bytes_done.min(t.bytes_total.max(t.bytes_done));
        Some(t)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_count_finished_and_in_flight_bytes() {
        let p = Progress::default();
        assert_eq!(p.totals_now(), None);
        p.begin_sync(0);
        p.add_planned(2, 300);
        let a = RelPath::new("a").unwrap();
        let b = RelPath::new("b").unwrap();
        p.start(&a, "upload", 100);
        p.start(&b, "download", 200);
        p.advance(&b, 50);
        p.finish(&a);
        let t = p.totals_now().unwrap();
        assert_eq!((t.files_done, t.files_total), (1, 2));
        assert_eq!((t.bytes_done, t.bytes_total), (150, 300));
        let sec = 1_000_000_000;
        assert_eq!(t.rate(2 * sec), Some(75.0));
        assert_eq!(t.eta_secs(2 * sec), Some(2));
        p.end_sync();
        assert_eq!(p.totals_now(), None);
    }
}
