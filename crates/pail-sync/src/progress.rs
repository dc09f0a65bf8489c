//! Transfers in flight, for a live `pail status` (the daemon reads them while a pass runs).

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

/// The transfers in flight right now.
#[derive(Debug, Default)]
pub struct Progress {
    map: Mutex<BTreeMap<RelPath, InFlight>>,
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
        self.map().remove(path);
    }

    pub fn snapshot(&self) -> Vec<InFlight> {
        self.map().values().cloned().collect()
    }
}
