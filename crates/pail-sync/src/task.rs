//! Transfers on tasks of their own. A buffered stream polls all of its futures from the one
//! task that drives it, so the CPU work of every transfer in flight (signing each request
//! body, hashing, copying buffers) would take turns on one thread; spawned, it spreads over
//! the runtime's threads, as a hand-written client's requests do (issue 14).

use std::future::Future;

/// Runs `fut` on a task of its own and waits for it. Dropping the returned future (a pass
/// that stops) aborts the task, so nothing outlives the pass that started it; a panic in the
/// task resumes in the caller.
pub(crate) async fn on_own_task<T: Send + 'static>(
    fut: impl Future<Output = T> + Send + 'static,
) -> T {
    struct AbortOnDrop(tokio::task::AbortHandle);
    impl Drop for AbortOnDrop {
        fn drop(&mut self) {
            self.0.abort();
        }
    }
    let handle = tokio::spawn(fut);
    let _abort = AbortOnDrop(handle.abort_handle());
    match handle.await {
        Ok(v) => v,
        Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
        // Only `AbortOnDrop` aborts the task, and then nobody is left waiting here.
        Err(e) => unreachable!("a transfer task ended without finishing: {e}"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};
    use std::time::Duration;

    #[tokio::test]
    async fn a_dropped_waiter_aborts_its_task() {
        let finished = Arc::new(AtomicBool::new(false));
        let f = finished.clone();
        let waiter = on_own_task(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            f.store(true, Ordering::SeqCst);
        });
        let _ = tokio::time::timeout(Duration::from_millis(20), waiter).await;
        tokio::time::sleep(Duration::from_millis(400)).await;
        assert!(
            !finished.load(Ordering::SeqCst),
            "the task outlived its waiter"
        );
        assert_eq!(on_own_task(async { 7 }).await, 7);
    }
}
