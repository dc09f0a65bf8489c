//! Debounced events to hints, and the bounded hand-off to the consumer.
//!
//! The hand-off runs on notify's thread and must never block it nor grow without bound. It
//! holds one slot of the channel in reserve: when the channel is full, the reserved slot
//! carries a `Rescan`, and later hints are dropped (the queued rescan covers them) until a
//! slot frees up to be reserved again.

use std::path::{Path, PathBuf};

use notify::EventKind;
use notify::event::{AccessKind, AccessMode};
use notify_debouncer_full::{DebounceEventResult, DebouncedEvent};
use tokio::sync::mpsc::{self, OwnedPermit, error::TrySendError};

use crate::Hint;
use crate::limits::{inotify_limits, is_out_of_watches};

/// pail's own temporary files are not changes.
pub(crate) fn is_own_temp(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| pail_core::layout::is_temp_name(&n.to_string_lossy()))
}

/// Opening or reading a file changes nothing; pail's own hashing would otherwise echo back.
/// Closing a file opened for writing is kept: it marks the end of a write.
fn is_read_only(kind: &EventKind) -> bool {
    matches!(kind, EventKind::Access(a) if *a != AccessKind::Close(AccessMode::Write))
}

/// One debounced batch as a hint; `None` if nothing in it matters.
pub(crate) fn to_hint(res: DebounceEventResult) -> Option<Hint> {
    match res {
        Ok(events) => events_to_hint(&events),
        Err(errors) => Some(errors_to_hint(&errors)),
    }
}

fn events_to_hint(events: &[DebouncedEvent]) -> Option<Hint> {
    if events.iter().any(|e| e.need_rescan()) {
        tracing::info!("watcher lost events (kernel queue overflow); asking for a full rescan");
        return Some(Hint::Rescan {
            reason: "the watcher lost events (kernel event queue overflow)".into(),
        });
    }
    let mut paths: Vec<PathBuf> = events
        .iter()
        .filter(|e| !is_read_only(&e.kind))
        .flat_map(|e| e.paths.iter())
        .filter(|p| !is_own_temp(p))
        .cloned()
        .collect();
    paths.sort();
    paths.dedup();
    (!paths.is_empty()).then_some(Hint::Paths(paths))
}

fn errors_to_hint(errors: &[notify::Error]) -> Hint {
    let reason = if errors.iter().any(is_out_of_watches) {
        // New directories past the limit go unwatched; only scans will see them.
        let current = inotify_limits().map(|l| l.effective_max_watches());
        format!(
            "out of inotify watches: new directories are not watched (fs.inotify.max_user_watches \
             is {}; `pail doctor` prints the command that raises it for good)",
            current.map_or_else(|| "unknown".to_owned(), |c| c.to_string())
        )
    } else {
        let all: Vec<String> = errors.iter().map(ToString::to_string).collect();
        format!("watcher error: {}", all.join("; "))
    };
    tracing::warn!("{reason}; asking for a full rescan");
    Hint::Rescan { reason }
}

/// Hands hints to the consumer without blocking, collapsing into `Rescan` when it lags.
pub(crate) struct Forwarder {
    tx: mpsc::Sender<Hint>,
    /// The slot kept for a `Rescan`. `None` once spent: the `Rescan` sent with it is then
    /// still queued for as long as the channel stays full (nothing is sent while spent, and
    /// the channel is FIFO), so dropping hints meanwhile loses nothing.
    reserve: Option<OwnedPermit<Hint>>,
}

impl Forwarder {
    /// `tx` must have room for at least two hints (one is held in reserve).
    pub(crate) fn new(tx: mpsc::Sender<Hint>) -> Forwarder {
        let reserve = tx.clone().try_reserve_owned().ok();
        Forwarder { tx, reserve }
    }

    pub(crate) fn push(&mut self, hint: Hint) {
        if self.reserve.is_none() {
            self.reserve = self.tx.clone().try_reserve_owned().ok();
        }
        match self.tx.try_send(hint) {
            Ok(()) | Err(TrySendError::Closed(_)) => {}
            Err(TrySendError::Full(hint)) => {
                let Some(permit) = self.reserve.take() else {
                    tracing::debug!("hint queue full, a rescan is already queued");
                    return;
                };
                let reason = match hint {
                    Hint::Rescan { reason } => reason,
                    Hint::Paths(_) => "hints were dropped while the consumer was busy".into(),
                };
                tracing::info!("hint queue full; collapsing into a full rescan");
                permit.send(Hint::Rescan { reason });
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use notify::event::{CreateKind, Flag, ModifyKind};

    fn paths(ps: &[&str]) -> Hint {
        Hint::Paths(ps.iter().map(PathBuf::from).collect())
    }

    fn event(kind: EventKind, ps: &[&str]) -> DebouncedEvent {
        let mut e = notify::Event::new(kind);
        for p in ps {
            e = e.add_path(PathBuf::from(p));
        }
        DebouncedEvent::new(e, std::time::Instant::now())
    }

    #[test]
    fn events_become_sorted_unique_paths_without_temp_files_or_reads() {
        let h = to_hint(Ok(vec![
            event(EventKind::Create(CreateKind::File), &["/r/b"]),
            event(EventKind::Modify(ModifyKind::Any), &["/r/a", "/r/b"]),
            event(
                EventKind::Create(CreateKind::File),
                &["/r/.b.pail-tmp-0000000000000012"],
            ),
            // pail's own download: temp renamed over the final name.
            event(
                EventKind::Modify(ModifyKind::Name(notify::event::RenameMode::Both)),
                &["/r/.c.pail-tmp-0000000000000034", "/r/c"],
            ),
            event(
                EventKind::Access(AccessKind::Open(AccessMode::Any)),
                &["/r/d"],
            ),
            event(
                EventKind::Access(AccessKind::Close(AccessMode::Write)),
                &["/r/e"],
            ),
        ]));
        assert_eq!(h, Some(paths(&["/r/a", "/r/b", "/r/c", "/r/e"])));
        let only_temp = event(
            EventKind::Create(CreateKind::File),
            &["/r/.x.pail-tmp-0000000000000001"],
        );
        assert_eq!(to_hint(Ok(vec![only_temp])), None);
    }

    #[test]
    fn overflow_and_errors_become_rescans() {
        let mut overflow = notify::Event::new(EventKind::Other);
        overflow = overflow.set_flag(Flag::Rescan);
        let batch = vec![
            event(EventKind::Create(CreateKind::File), &["/r/a"]),
            DebouncedEvent::new(overflow, std::time::Instant::now()),
        ];
        assert!(matches!(to_hint(Ok(batch)), Some(Hint::Rescan { .. })));

        let err = notify::Error::generic("boom");
        let Some(Hint::Rescan { reason }) = to_hint(Err(vec![err])) else {
            panic!("not a rescan")
        };
        assert!(reason.contains("boom"), "{reason}");

        let full = notify::Error::new(notify::ErrorKind::MaxFilesWatch);
        let Some(Hint::Rescan { reason }) = to_hint(Err(vec![full])) else {
            panic!("not a rescan")
        };
        assert!(reason.contains("fs.inotify.max_user_watches"), "{reason}");
    }

    fn drain(rx: &mut mpsc::Receiver<Hint>) -> Vec<Hint> {
        let mut out = Vec::new();
        while let Ok(h) = rx.try_recv() {
            out.push(h);
        }
        out
    }

    fn is_rescan(h: &Hint) -> bool {
        matches!(h, Hint::Rescan { .. })
    }

    #[test]
    fn a_full_channel_collapses_into_one_rescan_then_recovers() {
        let (tx, mut rx) = mpsc::channel(3);
        let mut f = Forwarder::new(tx);
        for i in 0..10 {
            f.push(paths(&[&format!("/r/{i}")]));
        }
        // Two slots for paths, the reserved one for the rescan; the rest dropped.
        let got = drain(&mut rx);
        assert_eq!(got.len(), 3, "{got:?}");
        assert_eq!(got[..2], [paths(&["/r/0"]), paths(&["/r/1"])]);
        assert!(is_rescan(&got[2]), "{got:?}");

        // Once the consumer has caught up, hints flow again and the reserve is re-armed.
        f.push(paths(&["/r/after"]));
        assert_eq!(drain(&mut rx), [paths(&["/r/after"])]);
        for i in 0..5 {
            f.push(paths(&[&format!("/r/again{i}")]));
        }
        let got = drain(&mut rx);
        assert_eq!(got.len(), 3, "{got:?}");
        assert!(is_rescan(&got[2]), "{got:?}");
    }

    #[test]
    fn while_a_rescan_is_queued_dropping_is_safe_and_a_freed_slot_re_arms() {
        let (tx, mut rx) = mpsc::channel(2);
        let mut f = Forwarder::new(tx);
        f.push(paths(&["/r/a"]));
        f.push(paths(&["/r/b"])); // full: the rescan takes the reserve
        f.push(paths(&["/r/c"])); // dropped: the rescan is still queued
        assert_eq!(rx.try_recv().unwrap(), paths(&["/r/a"]));
        // One slot free, the rescan still queued: the freed slot becomes the new reserve,
        // so this hint, if it does not fit, gets its own rescan behind the first.
        f.push(paths(&["/r/d"]));
        let got = drain(&mut rx);
        assert!(is_rescan(&got[0]), "{got:?}");
        assert!(is_rescan(&got[1]), "{got:?}");
        assert_eq!(got.len(), 2, "{got:?}");
        // A rescan that does not fit keeps its own reason.
        f.push(paths(&["/r/e"]));
        f.push(Hint::Rescan {
            reason: "overflow".into(),
        });
        let got = drain(&mut rx);
        assert_eq!(
            got,
            [
                paths(&["/r/e"]),
                Hint::Rescan {
                    reason: "overflow".into()
                }
            ]
        );
    }

    #[test]
    fn a_closed_channel_is_ignored() {
        let (tx, rx) = mpsc::channel(2);
        let mut f = Forwarder::new(tx);
        drop(rx);
        f.push(paths(&["/r/a"]));
    }
}
