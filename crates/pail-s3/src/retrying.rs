//! `RetryingStore`: wraps any store and retries every call that fails with a transient error
//! ([`StoreError::is_transient`]: 500/503/SlowDown, timeouts, connection resets, the network
//! down, a 409 conditional-write conflict). The SDK itself makes one attempt per request
//! (`AwsStore::connect`), so this is the one retry policy of every call.
//!
//! Applied once, where a store is made, so that no caller has to remember it: every call
//! (each listing page included) follows one policy, capped exponential backoff with jitter.
//!
//! What a retry may repeat, call by call:
//! - Reads (`list_page`, `list_versions_page`, `head`, `list_parts`, `get_versioning`,
//!   `archive_state`) and `delete`, `abort_multipart`, `upload_part` (the same part number
//!   replaces the part) are idempotent.
//! - `put`, `copy` and `complete_multipart` under a condition: when a reply was lost after the
//!   write took effect, the retry fails its own condition (412) or finds the upload completed
//!   (404). Callers already take those for "someone wrote first" and decide again on the next
//!   pass, which finds their own write; nothing is written twice. Unconditional ones write the
//!   same bytes again.
//! - `create_multipart`: a lost reply leaves an upload id nobody knows; it costs storage until
//!   the bucket's `AbortIncompleteMultipartUpload` lifecycle rule removes it.
//! - `restore_archived`: asking again answers "already in progress".
//! - `get`: only the request is retried, up to the headers. Its body is a stream that cannot
//!   be replayed, so an error in the middle of it reaches the caller, which discards the
//!   partial download (the path is tried again on the next pass).
//!
//! Bodies are `Bytes`, so every attempt sends exactly the same bytes without a copy.

use std::future::Future;
use std::ops::Range;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use backon::{ExponentialBuilder, Retryable};
use bytes::Bytes;

use crate::error::{Result, StoreError};
use crate::store::{ArchiveRestore, GetObject, ObjectStore, Op};
use crate::types::{
    Condition, DeleteResult, Head, ListPage, ObjectMeta, PutResult, Versioning, VersionsPage,
};

/// When and how often a transient failure is retried.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// The wait before the first retry; it doubles with each retry after that.
    pub min_delay: Duration,
    /// The longest wait between two attempts.
    pub max_delay: Duration,
    /// Retries after the first attempt; the call is made at most `retries + 1` times.
    pub retries: usize,
}

impl Default for RetryPolicy {
    /// 200 ms, doubling up to 10 s, 4 retries (about 3 s in all before giving up, plus
    /// jitter; the SDK itself does not retry): long enough for a throttling burst, short
    /// enough that a pass does not stall on a server that is down; the next pass tries
    /// again.
    fn default() -> Self {
        RetryPolicy {
            min_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(10),
            retries: 4,
        }
    }
}

impl RetryPolicy {
    fn backoff(&self) -> ExponentialBuilder {
        ExponentialBuilder::default()
            .with_min_delay(self.min_delay)
            .with_max_delay(self.max_delay)
            .with_max_times(self.retries)
            .with_jitter()
    }
}

/// A store that retries the transient failures of the store it wraps (see the module docs
/// for what a retry repeats). Wrap a store once: wrapping twice multiplies the attempts.
#[derive(Clone, Debug)]
pub struct RetryingStore {
    inner: Arc<dyn ObjectStore>,
    policy: RetryPolicy,
}

impl RetryingStore {
    /// Wraps `inner` with the default [`RetryPolicy`].
    pub fn new(inner: Arc<dyn ObjectStore>) -> Self {
        Self::with_policy(inner, RetryPolicy::default())
    }

    /// Wraps `inner` with `policy`.
    pub fn with_policy(inner: Arc<dyn ObjectStore>, policy: RetryPolicy) -> Self {
        RetryingStore { inner, policy }
    }

    /// `inner` wrapped with the default policy, ready to share.
    pub fn wrap(inner: Arc<dyn ObjectStore>) -> Arc<dyn ObjectStore> {
        Arc::new(Self::new(inner))
    }

    /// The wrapped store.
    pub fn inner(&self) -> &Arc<dyn ObjectStore> {
        &self.inner
    }

    /// The policy in use.
    pub fn policy(&self) -> RetryPolicy {
        self.policy
    }

    /// Runs `call` again while it fails with a transient error, per the policy; returns the
    /// first success, the first permanent error, or the last transient one.
    async fn retry<T, F, Fut>(&self, op: Op, key: &str, call: F) -> Result<T>
    where
        F: FnMut() -> Fut,
        Fut: Future<Output = Result<T>>,
    {
        call.retry(self.policy.backoff())
            .when(StoreError::is_transient)
            .notify(|e: &StoreError, after: Duration| {
                // Info, not warn: the final outcome is reported once by whoever made the call.
                tracing::info!(op = op.name(), key, error = %e, ?after, "transient S3 error, retrying");
            })
            .await
    }
}

#[async_trait]
impl ObjectStore for RetryingStore {
    fn bucket(&self) -> &str {
        self.inner.bucket()
    }

    fn checksums(&self) -> &'static str {
        self.inner.checksums()
    }

    async fn list_page(
        &self,
        prefix: &str,
        c: Option<String>,
        s: Option<String>,
    ) -> Result<ListPage> {
        self.retry(Op::List, prefix, || {
            self.inner.list_page(prefix, c.clone(), s.clone())
        })
        .await
    }

    async fn list_versions_page(
        &self,
        prefix: &str,
        km: Option<String>,
        vm: Option<String>,
    ) -> Result<VersionsPage> {
        self.retry(Op::ListVersions, prefix, || {
            self.inner
                .list_versions_page(prefix, km.clone(), vm.clone())
        })
        .await
    }

    async fn head(&self, key: &str, v: Option<&str>) -> Result<Option<Head>> {
        self.retry(Op::Head, key, || self.inner.head(key, v)).await
    }

    /// Retries the request only; see the module docs on the body.
    async fn get(
        &self,
        key: &str,
        v: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<GetObject> {
        self.retry(Op::Get, key, || self.inner.get(key, v, range.clone()))
            .await
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        meta: &ObjectMeta,
        cond: Condition,
    ) -> Result<PutResult> {
        self.retry(Op::Put, key, || {
            self.inner.put(key, body.clone(), meta, cond.clone())
        })
        .await
    }

    async fn create_multipart(&self, key: &str, meta: &ObjectMeta) -> Result<String> {
        self.retry(Op::CreateMultipart, key, || {
            self.inner.create_multipart(key, meta)
        })
        .await
    }

    async fn upload_part(&self, key: &str, id: &str, n: i32, body: Bytes) -> Result<String> {
        self.retry(Op::UploadPart, key, || {
            self.inner.upload_part(key, id, n, body.clone())
        })
        .await
    }

    async fn list_parts(&self, key: &str, id: &str) -> Result<Vec<(i32, String, u64)>> {
        self.retry(Op::ListParts, key, || self.inner.list_parts(key, id))
            .await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        id: &str,
        parts: &[(i32, String)],
        cond: Condition,
    ) -> Result<PutResult> {
        self.retry(Op::CompleteMultipart, key, || {
            self.inner.complete_multipart(key, id, parts, cond.clone())
        })
        .await
    }

    async fn abort_multipart(&self, key: &str, id: &str) -> Result<()> {
        self.retry(Op::AbortMultipart, key, || {
            self.inner.abort_multipart(key, id)
        })
        .await
    }

    async fn copy(
        &self,
        src: &str,
        src_version: Option<&str>,
        src_etag: Option<&str>,
        dst: &str,
        meta: &ObjectMeta,
        cond: Condition,
    ) -> Result<PutResult> {
        self.retry(Op::Copy, dst, || {
            self.inner
                .copy(src, src_version, src_etag, dst, meta, cond.clone())
        })
        .await
    }

    async fn delete(&self, key: &str, v: Option<&str>, cond: Condition) -> Result<DeleteResult> {
        self.retry(Op::Delete, key, || self.inner.delete(key, v, cond.clone()))
            .await
    }

    async fn get_versioning(&self) -> Result<Versioning> {
        self.retry(Op::GetVersioning, "", || self.inner.get_versioning())
            .await
    }

    async fn restore_archived(
        &self,
        key: &str,
        v: Option<&str>,
        days: i32,
    ) -> Result<ArchiveRestore> {
        self.retry(Op::RestoreArchived, key, || {
            self.inner.restore_archived(key, v, days)
        })
        .await
    }

    async fn archive_state(&self, key: &str, v: Option<&str>) -> Result<ArchiveRestore> {
        self.retry(Op::Head, key, || self.inner.archive_state(key, v))
            .await
    }

    async fn presign_get(
        &self,
        key: &str,
        v: Option<&str>,
        expires: std::time::Duration,
    ) -> Result<crate::types::Presigned> {
        // Made locally: nothing to retry.
        self.inner.presign_get(key, v, expires).await
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;
    use crate::faulty::{FaultyStore, slow_down};
    use crate::mem::MemStore;
    use crate::store::list_all;

    fn stores(policy: RetryPolicy) -> (FaultyStore<MemStore>, RetryingStore) {
        let faulty = FaultyStore::new(MemStore::new("b"));
        let store = RetryingStore::with_policy(Arc::new(faulty.clone()), policy);
        (faulty, store)
    }

    async fn put(s: &RetryingStore, key: &str) -> Result<PutResult> {
        let meta = ObjectMeta::default();
        s.put(key, Bytes::from_static(b"x"), &meta, Condition::None)
            .await
    }

    fn denied() -> StoreError {
        StoreError::AccessDenied {
            bucket: "b".into(),
            key: None,
            message: "injected".into(),
        }
    }

    #[tokio::test(start_paused = true)]
    async fn transient_faults_are_retried_until_the_call_succeeds() {
        let (faulty, s) = stores(RetryPolicy::default());
        faulty.fail_next(Op::Put, 2, slow_down);
        faulty.fail_next(Op::Head, 3, slow_down);
        put(&s, "k").await.unwrap();
        assert!(s.head("k", None).await.unwrap().is_some());
        assert_eq!(faulty.injected(), 5);
        assert_eq!(
            faulty.inner().count(Op::Put),
            1,
            "one put reached the store"
        );
        assert_eq!(faulty.inner().current("k").unwrap(), "x");
    }

    #[tokio::test(start_paused = true)]
    async fn permanent_errors_are_not_retried() {
        let (faulty, s) = stores(RetryPolicy::default());
        faulty.fail_next(Op::Head, 2, denied);
        let e = s.head("k", None).await.unwrap_err();
        assert!(matches!(e, StoreError::AccessDenied { .. }), "{e:?}");
        assert_eq!(faulty.injected(), 1, "one attempt only");
        // A failed condition is the caller's to handle (re-read), not a retry.
        faulty.heal();
        put(&s, "k").await.unwrap();
        let e = s
            .put(
                "k",
                Bytes::new(),
                &ObjectMeta::default(),
                Condition::IfAbsent,
            )
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::PreconditionFailed { .. }), "{e:?}");
        assert_eq!(faulty.inner().count(Op::Put), 2);
    }

    #[tokio::test(start_paused = true)]
    async fn each_listing_page_is_retried() {
        let (faulty, s) = stores(RetryPolicy::default());
        faulty.inner().set_page_size(2);
        for k in ["p/a", "p/b", "p/c", "p/d", "p/e"] {
            faulty.inner().put_foreign(k, "x");
        }
        // The second and third page calls each fail once.
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        faulty.set_hook(Arc::new(move |op, _| {
            let n = c.fetch_add(1, Ordering::SeqCst);
            (op == Op::List && (n == 1 || n == 3)).then(slow_down)
        }));
        let mut keys = Vec::new();
        list_all(&s, "p/", |o| keys.push(o.key)).await.unwrap();
        assert_eq!(keys, ["p/a", "p/b", "p/c", "p/d", "p/e"]);
        assert_eq!(faulty.injected(), 2);
        assert_eq!(calls.load(Ordering::SeqCst), 5, "3 pages + 2 retries");
    }

    #[tokio::test(start_paused = true)]
    async fn gives_up_after_the_last_try_with_the_last_error() {
        let (faulty, s) = stores(RetryPolicy {
            retries: 2,
            ..RetryPolicy::default()
        });
        let calls = Arc::new(AtomicUsize::new(0));
        let c = calls.clone();
        faulty.set_hook(Arc::new(move |_, key| {
            let n = c.fetch_add(1, Ordering::SeqCst) + 1;
            Some(StoreError::transient("head", key, format!("attempt {n}")))
        }));
        let started = tokio::time::Instant::now();
        let e = s.head("k", None).await.unwrap_err();
        assert_eq!(calls.load(Ordering::SeqCst), 3, "1 try + 2 retries");
        assert!(
            matches!(&e, StoreError::Transient { message, .. } if message == "attempt 3"),
            "{e:?}"
        );
        // It waited between the tries, at least the minimum delay each time.
        assert!(started.elapsed() >= Duration::from_millis(400));
    }

    #[tokio::test(start_paused = true)]
    async fn a_get_request_is_retried() {
        let (faulty, s) = stores(RetryPolicy::default());
        faulty.inner().put_foreign("k", "abc");
        faulty.fail_next(Op::Get, 1, slow_down);
        let body = s.get("k", None, None).await.unwrap().collect().await;
        assert_eq!(body.unwrap(), "abc");
        assert_eq!(faulty.inner().count(Op::Get), 1);
    }
}
