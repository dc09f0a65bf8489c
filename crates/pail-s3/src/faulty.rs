//! `FaultyStore<S>`: wraps any store and injects faults per operation: the next n calls fail
//! (before or after reaching the store), calls fail at random with a seeded RNG, calls are
//! delayed, GET bodies are corrupted, or a hook decides per call.

use std::collections::HashMap;
use std::ops::Range;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bytes::Bytes;
use futures::StreamExt;
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::error::{Result, StoreError};
use crate::store::{ArchiveRestore, GetObject, ObjectStore, Op};
use crate::types::{
    Condition, DeleteResult, Head, ListPage, ObjectMeta, PutResult, Versioning, VersionsPage,
};

/// Makes the error to inject.
pub type MakeError = fn() -> StoreError;
/// Called before every operation with its key; returning an error fails the call.
pub type Hook = Arc<dyn Fn(Op, &str) -> Option<StoreError> + Send + Sync>;

/// A 503 SlowDown, as the SDK reports it after its own retries ran out.
pub fn slow_down() -> StoreError {
    StoreError::transient(
        "injected",
        "",
        "SlowDown (HTTP 503): please reduce your request rate",
    )
}

/// A connection reset mid-request.
pub fn connection_reset() -> StoreError {
    StoreError::transient("injected", "", "io error: connection reset by peer")
}

/// The network is down.
pub fn unreachable() -> StoreError {
    StoreError::Unreachable {
        endpoint: "injected".into(),
        message: "connection refused".into(),
    }
}

#[derive(Default)]
struct Faults {
    /// Fail before calling the inner store.
    before: HashMap<Op, Vec<MakeError>>,
    /// Call the inner store, then fail anyway (the request took effect, the reply was lost).
    after: HashMap<Op, Vec<MakeError>>,
    random: Option<(StdRng, f64, Vec<Op>, MakeError)>,
    delay: HashMap<Op, Duration>,
    corrupt_gets: usize,
    hook: Option<Hook>,
    injected: u64,
}

#[derive(Clone)]
/// A store that behaves like `inner` except for the faults set on it; clones share the faults.
pub struct FaultyStore<S> {
    inner: S,
    faults: Arc<Mutex<Faults>>,
}

impl<S: std::fmt::Debug> std::fmt::Debug for FaultyStore<S> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("FaultyStore")
            .field("inner", &self.inner)
            .finish_non_exhaustive()
    }
}

impl<S: ObjectStore> FaultyStore<S> {
    /// Wraps `inner`, with no fault set.
    pub fn new(inner: S) -> Self {
        FaultyStore {
            inner,
            faults: Arc::default(),
        }
    }

    /// The wrapped store, for checking its state without faults.
    pub fn inner(&self) -> &S {
        &self.inner
    }

    fn faults(&self) -> std::sync::MutexGuard<'_, Faults> {
        self.faults.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// The next `n` calls of `op` fail with `err()` without reaching the store.
    pub fn fail_next(&self, op: Op, n: usize, err: MakeError) {
        self.faults()
            .before
            .entry(op)
            .or_default()
            .extend(std::iter::repeat_n(err, n));
    }

    /// The next `n` calls of `op` reach the store and take effect, then fail with `err()`,
    /// as when the reply is lost: tests that retries are idempotent.
    pub fn fail_next_after(&self, op: Op, n: usize, err: MakeError) {
        self.faults()
            .after
            .entry(op)
            .or_default()
            .extend(std::iter::repeat_n(err, n));
    }

    /// From now on each call of one of `ops` (all ops if empty) fails before reaching the store
    /// with probability `p`, drawn from an RNG seeded with `seed`.
    pub fn fail_randomly(&self, seed: u64, p: f64, ops: &[Op], err: MakeError) {
        self.faults().random = Some((StdRng::seed_from_u64(seed), p, ops.to_vec(), err));
    }

    /// Every call of `op` sleeps `d` first (tokio time: pausable in tests).
    pub fn delay(&self, op: Op, d: Duration) {
        self.faults().delay.insert(op, d);
    }

    /// The next `n` GET bodies have their first byte flipped.
    pub fn corrupt_next_gets(&self, n: usize) {
        self.faults().corrupt_gets += n;
    }

    /// Lets `hook` decide whether a call fails, when no queued or random fault did.
    pub fn set_hook(&self, hook: Hook) {
        self.faults().hook = Some(hook);
    }

    /// Removes every fault.
    pub fn heal(&self) {
        let injected = self.faults().injected;
        *self.faults() = Faults {
            injected,
            ..Faults::default()
        };
    }

    /// How many faults were injected so far.
    pub fn injected(&self) -> u64 {
        self.faults().injected
    }

    async fn before(&self, op: Op, key: &str) -> Result<()> {
        let (delay, err) = {
            let mut f = self.faults();
            let mut err = f
                .before
                .get_mut(&op)
                .and_then(|q| (!q.is_empty()).then(|| q.remove(0)()));
            if err.is_none()
                && let Some((rng, p, ops, make)) = &mut f.random
                && (ops.is_empty() || ops.contains(&op))
                && rng.random_bool(*p)
            {
                err = Some(make());
            }
            if err.is_none() {
                err = f.hook.as_ref().and_then(|h| h(op, key));
            }
            if err.is_some() {
                f.injected += 1;
            }
            (f.delay.get(&op).copied(), err)
        };
        if let Some(d) = delay {
            tokio::time::sleep(d).await;
        }
        err.map_or(Ok(()), |e| Err(label(e, op, key)))
    }

    fn after<T>(&self, op: Op, key: &str, r: Result<T>) -> Result<T> {
        let mut f = self.faults();
        match f
            .after
            .get_mut(&op)
            .and_then(|q| (!q.is_empty()).then(|| q.remove(0)()))
        {
            Some(e) => {
                f.injected += 1;
                Err(label(e, op, key))
            }
            None => r,
        }
    }
}

/// Fills in the op and key of an injected transient or other error.
fn label(e: StoreError, op: Op, key: &str) -> StoreError {
    match e {
        StoreError::Transient { message, .. } => StoreError::transient(op.name(), key, message),
        StoreError::Other { message, .. } => StoreError::other(op.name(), key, message),
        e => e,
    }
}

#[async_trait]
impl<S: ObjectStore> ObjectStore for FaultyStore<S> {
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
        self.before(Op::List, prefix).await?;
        let r = self.inner.list_page(prefix, c, s).await;
        self.after(Op::List, prefix, r)
    }

    async fn list_versions_page(
        &self,
        prefix: &str,
        km: Option<String>,
        vm: Option<String>,
    ) -> Result<VersionsPage> {
        self.before(Op::ListVersions, prefix).await?;
        let r = self.inner.list_versions_page(prefix, km, vm).await;
        self.after(Op::ListVersions, prefix, r)
    }

    async fn head(&self, key: &str, v: Option<&str>) -> Result<Option<Head>> {
        self.before(Op::Head, key).await?;
        let r = self.inner.head(key, v).await;
        self.after(Op::Head, key, r)
    }

    async fn get(
        &self,
        key: &str,
        v: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<GetObject> {
        self.before(Op::Get, key).await?;
        let r = self.inner.get(key, v, range).await;
        let mut g = self.after(Op::Get, key, r)?;
        let corrupt = {
            let mut f = self.faults();
            let c = f.corrupt_gets > 0;
            if c {
                f.corrupt_gets -= 1;
                f.injected += 1;
            }
            c
        };
        if corrupt {
            let mut first = true;
            g.body = g
                .body
                .map(move |chunk| {
                    chunk.map(|b| {
                        if first && !b.is_empty() {
                            first = false;
                            let mut v = b.to_vec();
                            v[0] ^= 0xff;
                            Bytes::from(v)
                        } else {
                            b
                        }
                    })
                })
                .boxed();
        }
        Ok(g)
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        meta: &ObjectMeta,
        cond: Condition,
    ) -> Result<PutResult> {
        self.before(Op::Put, key).await?;
        let r = self.inner.put(key, body, meta, cond).await;
        self.after(Op::Put, key, r)
    }

    async fn create_multipart(&self, key: &str, meta: &ObjectMeta) -> Result<String> {
        self.before(Op::CreateMultipart, key).await?;
        let r = self.inner.create_multipart(key, meta).await;
        self.after(Op::CreateMultipart, key, r)
    }

    async fn upload_part(&self, key: &str, id: &str, n: i32, body: Bytes) -> Result<String> {
        self.before(Op::UploadPart, key).await?;
        let r = self.inner.upload_part(key, id, n, body).await;
        self.after(Op::UploadPart, key, r)
    }

    async fn list_parts(&self, key: &str, id: &str) -> Result<Vec<(i32, String, u64)>> {
        self.before(Op::ListParts, key).await?;
        let r = self.inner.list_parts(key, id).await;
        self.after(Op::ListParts, key, r)
    }

    async fn complete_multipart(
        &self,
        key: &str,
        id: &str,
        parts: &[(i32, String)],
        cond: Condition,
    ) -> Result<PutResult> {
        self.before(Op::CompleteMultipart, key).await?;
        let r = self.inner.complete_multipart(key, id, parts, cond).await;
        self.after(Op::CompleteMultipart, key, r)
    }

    async fn abort_multipart(&self, key: &str, id: &str) -> Result<()> {
        self.before(Op::AbortMultipart, key).await?;
        let r = self.inner.abort_multipart(key, id).await;
        self.after(Op::AbortMultipart, key, r)
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
        self.before(Op::Copy, dst).await?;
        let r = self
            .inner
            .copy(src, src_version, src_etag, dst, meta, cond)
            .await;
        self.after(Op::Copy, dst, r)
    }

    async fn delete(&self, key: &str, v: Option<&str>, cond: Condition) -> Result<DeleteResult> {
        self.before(Op::Delete, key).await?;
        let r = self.inner.delete(key, v, cond).await;
        self.after(Op::Delete, key, r)
    }

    async fn get_versioning(&self) -> Result<Versioning> {
        self.before(Op::GetVersioning, "").await?;
        let r = self.inner.get_versioning().await;
        self.after(Op::GetVersioning, "", r)
    }

    async fn restore_archived(
        &self,
        key: &str,
        v: Option<&str>,
        days: i32,
    ) -> Result<ArchiveRestore> {
        self.before(Op::RestoreArchived, key).await?;
        let r = self.inner.restore_archived(key, v, days).await;
        self.after(Op::RestoreArchived, key, r)
    }

    async fn archive_state(&self, key: &str, v: Option<&str>) -> Result<ArchiveRestore> {
        self.before(Op::Head, key).await?;
        let r = self.inner.archive_state(key, v).await;
        self.after(Op::Head, key, r)
    }

    async fn presign_get(
        &self,
        key: &str,
        v: Option<&str>,
        expires: std::time::Duration,
    ) -> Result<crate::types::Presigned> {
        self.inner.presign_get(key, v, expires).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::MemStore;

    fn m() -> ObjectMeta {
        ObjectMeta::default()
    }

    #[tokio::test]
    async fn fail_next_then_recover() {
        let s = FaultyStore::new(MemStore::new("b"));
        s.fail_next(Op::Put, 2, slow_down);
        for _ in 0..2 {
            let e = s
                .put("k", Bytes::from_static(b"x"), &m(), Condition::None)
                .await
                .unwrap_err();
            assert!(e.is_transient());
            assert!(
                matches!(&e, StoreError::Transient { op: "put", key, .. } if key == "k"),
                "{e:?}"
            );
        }
        assert_eq!(
            s.inner().count(Op::Put),
            0,
            "failures happen before the store"
        );
        s.put("k", Bytes::from_static(b"x"), &m(), Condition::None)
            .await
            .unwrap();
        assert_eq!(s.injected(), 2);
        // Other ops are untouched.
        assert!(s.head("k", None).await.unwrap().is_some());
    }

    #[tokio::test]
    async fn lost_reply_still_takes_effect() {
        let s = FaultyStore::new(MemStore::new("b"));
        s.fail_next_after(Op::Put, 1, connection_reset);
        let e = s
            .put("k", Bytes::from_static(b"x"), &m(), Condition::IfAbsent)
            .await
            .unwrap_err();
        assert!(e.is_transient());
        assert_eq!(s.inner().current("k").unwrap(), "x");
        // A blind retry of the conditional write now fails: callers must re-read.
        let e = s
            .put("k", Bytes::from_static(b"x"), &m(), Condition::IfAbsent)
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::PreconditionFailed { .. }));
    }

    #[tokio::test]
    async fn random_faults_are_reproducible() {
        async fn run(seed: u64) -> Vec<bool> {
            let s = FaultyStore::new(MemStore::new("b"));
            s.fail_randomly(seed, 0.3, &[Op::Head], unreachable);
            let mut out = Vec::new();
            for _ in 0..50 {
                out.push(s.head("k", None).await.is_err());
            }
            assert!(
                s.put("k", Bytes::new(), &m(), Condition::None)
                    .await
                    .is_ok()
            );
            out
        }
        let a = run(7).await;
        assert_eq!(a, run(7).await);
        let n = a.iter().filter(|x| **x).count();
        assert!((5..30).contains(&n), "{n}");
    }

    #[tokio::test]
    async fn corrupt_delay_and_hook() {
        let s = FaultyStore::new(MemStore::new("b"));
        s.put("k", Bytes::from_static(b"abc"), &m(), Condition::None)
            .await
            .unwrap();
        s.corrupt_next_gets(1);
        let bad = s
            .get("k", None, None)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap();
        assert_eq!(&bad[..], &[b'a' ^ 0xff, b'b', b'c']);
        assert_eq!(
            s.get("k", None, None)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap(),
            "abc"
        );

        s.set_hook(Arc::new(|op, key| {
            (op == Op::Delete && key.starts_with("keep/")).then(|| StoreError::AccessDenied {
                bucket: "b".into(),
                key: Some(key.into()),
                message: "injected".into(),
            })
        }));
        assert!(s.delete("keep/x", None, Condition::None).await.is_err());
        assert!(s.delete("k", None, Condition::None).await.is_ok());
        s.heal();
        assert!(s.delete("keep/x", None, Condition::None).await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn delay_uses_tokio_time() {
        let s = FaultyStore::new(MemStore::new("b"));
        s.delay(Op::Head, Duration::from_secs(30));
        let t = tokio::time::Instant::now();
        s.head("k", None).await.unwrap();
        assert!(t.elapsed() >= Duration::from_secs(30));
    }
}
