//! `MemStore`: an in-memory, versioned bucket with AWS semantics, and switches to behave like
//! the servers that deviate (no versioning, conditional writes ignored as on Garage, or broken
//! as on Ceph 16). Clones share one bucket, so two engines can sync through it.

mod multipart;
mod objects;
mod state;
#[cfg(test)]
mod tests;

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use bytes::Bytes;

use crate::store::Op;
use crate::types::{DeleteResult, ObjectMeta, PutResult, Versioning};

use state::etag_of;

/// How conditional writes are treated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Conditionals {
    /// As AWS: 412 on mismatch, 404 for If-Match on a missing key.
    Honoured,
    /// Headers ignored, every write succeeds (Garage).
    Ignored,
    /// Ceph RGW 16: If-Match with a quoted ETag never matches (412); If-None-Match:* is
    /// ignored when versioning is enabled; conditional deletes are ignored.
    Ceph,
}

const START_NS: i64 = 1_700_000_000_000_000_000;
const TICK_NS: i64 = 1_000_000;

#[derive(Clone, Debug)]
struct Stored {
    data: Bytes,
    etag: String,
    meta: ObjectMeta,
    storage_class: Option<String>,
}

#[derive(Clone, Debug)]
struct Entry {
    version_id: String,
    last_modified_ns: i64,
    /// `None`: a delete marker.
    body: Option<Stored>,
}

#[derive(Debug)]
struct Upload {
    key: String,
    meta: ObjectMeta,
    parts: BTreeMap<i32, (String, Bytes)>,
}

#[derive(Debug)]
struct Inner {
    versioning: Versioning,
    conditionals: Conditionals,
    page_size: usize,
    /// ListObjectsV2 lists from the prefix's start whatever `start-after` says (as some
    /// servers might): for tests of what relies on it.
    ignores_start_after: bool,
    /// ListObjectsV2 pages come back in descending key order (a server that breaks the API).
    reverses_pages: bool,
    min_part_size: u64,
    /// Oldest version first.
    objects: BTreeMap<String, Vec<Entry>>,
    uploads: BTreeMap<String, Upload>,
    counts: HashMap<&'static str, u64>,
    next_id: u64,
    clock_ns: i64,
}

#[derive(Clone, Debug)]
/// An in-memory bucket; clones share it.
pub struct MemStore {
    bucket: String,
    inner: Arc<Mutex<Inner>>,
}

impl MemStore {
    /// A versioned bucket with AWS-like conditional writes, pages of 1000, 5 MiB minimum parts.
    pub fn new(bucket: &str) -> MemStore {
        MemStore {
            bucket: bucket.to_owned(),
            inner: Arc::new(Mutex::new(Inner {
                versioning: Versioning::Enabled,
                conditionals: Conditionals::Honoured,
                page_size: 1000,
                ignores_start_after: false,
                reverses_pages: false,
                min_part_size: 5 << 20,
                objects: BTreeMap::new(),
                uploads: BTreeMap::new(),
                counts: HashMap::new(),
                next_id: 0,
                clock_ns: START_NS,
            })),
        }
    }

    /// Like Garage: no versioning API, conditional writes ignored.
    pub fn garage_like(bucket: &str) -> MemStore {
        let s = MemStore::new(bucket);
        s.set_versioning(Versioning::Unsupported);
        s.set_conditionals(Conditionals::Ignored);
        s
    }

    /// Like Ceph RGW 16 with versioning enabled.
    pub fn ceph_like(bucket: &str) -> MemStore {
        let s = MemStore::new(bucket);
        s.set_conditionals(Conditionals::Ceph);
        s
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    fn begin(&self, op: Op) -> MutexGuard<'_, Inner> {
        let mut g = self.lock();
        *g.counts.entry(op.name()).or_default() += 1;
        g
    }

    /// `Off` and `Unsupported` keep one `"null"` version per key; `Unsupported` also fails
    /// ListObjectVersions with `NotImplemented`.
    pub fn set_versioning(&self, v: Versioning) {
        self.lock().versioning = v;
    }

    /// How conditional writes are treated from now on.
    pub fn set_conditionals(&self, c: Conditionals) {
        self.lock().conditionals = c;
    }

    /// Page size of both listings (tests use small ones to exercise paging).
    pub fn set_page_size(&self, n: usize) {
        self.lock().page_size = n.max(1);
    }

    /// From now on ListObjectsV2 ignores `start-after` (true) or honours it.
    pub fn set_ignores_start_after(&self, yes: bool) {
        self.lock().ignores_start_after = yes;
    }

    /// From now on each ListObjectsV2 page lists its keys in descending order (true).
    pub fn set_reverses_pages(&self, yes: bool) {
        self.lock().reverses_pages = yes;
    }

    /// The minimum size of every part but the last (5 MiB on AWS).
    pub fn set_min_part_size(&self, n: u64) {
        self.lock().min_part_size = n;
    }

    /// Requests made through the `ObjectStore` trait, by [`Op::name`].
    pub fn counts(&self) -> HashMap<&'static str, u64> {
        self.lock().counts.clone()
    }

    /// How many requests of `op` were made through the `ObjectStore` trait.
    pub fn count(&self, op: Op) -> u64 {
        self.lock().counts.get(op.name()).copied().unwrap_or(0)
    }

    /// Sets every request counter back to zero.
    pub fn reset_counts(&self) {
        self.lock().counts.clear();
    }

    /// A write by another client: no pail metadata, no conditions, not counted.
    pub fn put_foreign(&self, key: &str, data: impl Into<Bytes>) -> PutResult {
        let data = data.into();
        let etag = etag_of(&data);
        let stored = Stored {
            data,
            etag,
            meta: ObjectMeta::default(),
            storage_class: None,
        };
        self.lock().write(key, stored)
    }

    /// A write by another pail device (with metadata), not counted.
    pub fn put_foreign_meta(
        &self,
        key: &str,
        data: impl Into<Bytes>,
        meta: ObjectMeta,
    ) -> PutResult {
        let data = data.into();
        let etag = etag_of(&data);
        self.lock().write(
            key,
            Stored {
                data,
                etag,
                meta,
                storage_class: None,
            },
        )
    }

    /// A delete by another client, not counted.
    pub fn delete_foreign(&self, key: &str) -> DeleteResult {
        self.lock().delete_current(key)
    }

    /// Moves the current version to `GLACIER`: GET then fails with `InvalidObjectState`.
    pub fn archive(&self, key: &str) {
        let mut g = self.lock();
        if let Some(Entry { body: Some(s), .. }) = g.objects.get_mut(key).and_then(|v| v.last_mut())
        {
            s.storage_class = Some("GLACIER".into());
        }
    }

    /// The current content, `None` if absent or deleted.
    pub fn current(&self, key: &str) -> Option<Bytes> {
        self.lock().live(key).map(|(_, s)| s.data.clone())
    }

    /// pail's metadata of the current version, `None` if absent or deleted.
    pub fn current_meta(&self, key: &str) -> Option<ObjectMeta> {
        self.lock().live(key).map(|(_, s)| s.meta.clone())
    }

    /// Keys with a live current version, in order.
    pub fn keys(&self) -> Vec<String> {
        let g = self.lock();
        g.objects
            .keys()
            .filter(|k| g.live(k).is_some())
            .cloned()
            .collect()
    }

    /// Number of versions and delete markers kept for `key`.
    pub fn version_count(&self, key: &str) -> usize {
        self.lock().objects.get(key).map_or(0, Vec::len)
    }

    /// Multipart uploads started and neither completed nor aborted.
    pub fn uploads_in_progress(&self) -> usize {
        self.lock().uploads.len()
    }
}
