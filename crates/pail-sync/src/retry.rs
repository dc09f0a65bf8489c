//! Retries of transient store errors (500/503/SlowDown/timeouts), with capped exponential
//! backoff and jitter, on top of the SDK's own per-request retries.

use std::future::Future;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use pail_s3::StoreError;

/// Runs `op` again while it fails with a transient error, at most a few times.
pub async fn transient<T, F, Fut>(op: F) -> Result<T, StoreError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, StoreError>>,
{
    op.retry(
        ExponentialBuilder::default()
            .with_min_delay(Duration::from_millis(200))
            .with_max_delay(Duration::from_secs(10))
            .with_max_times(3)
            .with_jitter(),
    )
    .when(|e: &StoreError| e.is_transient())
    .notify(|e, after| tracing::warn!(error = %e, ?after, "transient error, retrying"))
    .await
}
