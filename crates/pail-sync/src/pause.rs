//! A pair's pause, kept in its index so that it outlasts the daemon: `pail pause [--for D]`
//! holds the daemon's passes for that pair until `pail resume` or until the time is up.
//! `pail sync` run by hand still syncs a paused pair: the user asked for it.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Result;
use pail_index::Index;
use serde::{Deserialize, Serialize};

use crate::ctx::meta;

/// How long a pair stays paused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Pause {
    /// Until `pail resume`.
    UntilResumed,
    /// Until then (Unix seconds), or `pail resume`.
    Until(u64),
}

impl Pause {
    /// A pause of `d` from `now`, or until resumed.
    pub fn new(d: Option<Duration>, now: SystemTime) -> Pause {
        match d {
            None => Pause::UntilResumed,
            Some(d) => Pause::Until(unix_secs(now + d)),
        }
    }

    /// When it ends by itself.
    pub fn ends(&self) -> Option<SystemTime> {
        match self {
            Pause::UntilResumed => None,
            Pause::Until(s) => Some(UNIX_EPOCH + Duration::from_secs(*s)),
        }
    }

    /// Still holding at `now`.
    pub fn holds(&self, now: SystemTime) -> bool {
        self.ends().is_none_or(|end| now < end)
    }

    fn encode(&self) -> String {
        match self {
            Pause::UntilResumed => "until_resumed".into(),
            Pause::Until(s) => s.to_string(),
        }
    }

    fn decode(s: &str) -> Option<Pause> {
        match s {
            "until_resumed" => Some(Pause::UntilResumed),
            _ => s.parse().ok().map(Pause::Until),
        }
    }
}

fn unix_secs(t: SystemTime) -> u64 {
    t.duration_since(UNIX_EPOCH).unwrap_or_default().as_secs()
}

/// The pair's pause that still holds at `now`, if any.
pub fn read(db: &Index, now: SystemTime) -> Result<Option<Pause>> {
    Ok(db
        .meta_get(meta::PAUSED)?
        .and_then(|s| Pause::decode(&s))
        .filter(|p| p.holds(now)))
}

/// Records the pair's pause (`None`: resumed).
pub fn write(db: &Index, pause: Option<Pause>) -> Result<()> {
    match pause {
        Some(p) => db.meta_set(meta::PAUSED, &p.encode()),
        None => db.meta_delete(meta::PAUSED),
    }?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pause_outlasts_the_process_and_ends_on_time() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("index.db");
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        {
            let db = Index::open(&path).unwrap();
            assert_eq!(read(&db, now).unwrap(), None);
            write(&db, Some(Pause::new(Some(Duration::from_secs(3600)), now))).unwrap();
        }
        let db = Index::open(&path).unwrap();
        let p = read(&db, now + Duration::from_secs(10)).unwrap();
        assert_eq!(p, Some(Pause::Until(1_800_003_600)));
        assert_eq!(
            read(&db, now + Duration::from_secs(3600)).unwrap(),
            None,
            "over"
        );
        write(&db, Some(Pause::new(None, now))).unwrap();
        assert_eq!(
            read(&db, now + Duration::from_secs(10 * 365 * 86400)).unwrap(),
            Some(Pause::UntilResumed)
        );
        write(&db, None).unwrap();
        assert_eq!(read(&db, now).unwrap(), None);
    }
}
