//! Passes that `pail sync` asks a running daemon for: queued per pair, run by the worker
//! when its scheduler hands them out, and answered with the pass's report.

use std::sync::Mutex;

use pail_sync::SyncReport;
use tokio::sync::{Notify, oneshot};

/// One waiting `pail sync`.
#[derive(Debug)]
pub(crate) struct Ask {
    pub(crate) dry_run: bool,
    pub(crate) confirm: bool,
    pub(crate) reply: oneshot::Sender<SyncReport>,
}

/// The asks of one pair.
#[derive(Debug, Default)]
pub(crate) struct Asks {
    queue: Mutex<Vec<Ask>>,
    notify: Notify,
}

impl Asks {
    pub(crate) fn push(&self, ask: Ask) {
        self.lock().push(ask);
        self.notify.notify_one();
    }

    /// Waits until something was asked (an ask made before the call counts).
    pub(crate) async fn notified(&self) {
        self.notify.notified().await
    }

    /// Whether asks for a real pass and for a dry run wait.
    pub(crate) fn waiting(&self) -> (bool, bool) {
        let q = self.lock();
        (q.iter().any(|a| !a.dry_run), q.iter().any(|a| a.dry_run))
    }

    /// Takes the asks that one pass answers: the real ones, or the dry runs.
    pub(crate) fn take(&self, dry_run: bool) -> Vec<Ask> {
        let mut q = self.lock();
        let (taken, kept) = std::mem::take(&mut *q)
            .into_iter()
            .partition(|a| a.dry_run == dry_run);
        *q = kept;
        taken
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Ask>> {
        self.queue.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Answers every ask with the report of the pass that served them.
pub(crate) fn answer(asks: Vec<Ask>, report: &SyncReport) {
    for a in asks {
        // The client may have gone (Ctrl-C): the pass ran all the same.
        let _ = a.reply.send(report.clone());
    }
}
