//! `MemStore`: an in-memory, versioned bucket with AWS semantics, and switches to behave like
//! the servers that deviate (no versioning, conditional writes ignored as on Garage, or broken
//! as on Ceph 16). Clones share one bucket, so two engines can sync through it.

use std::collections::{BTreeMap, HashMap};
use std::hash::{Hash, Hasher};
use std::ops::Range;
use std::sync::{Arc, Mutex, MutexGuard};

use async_trait::async_trait;
use bytes::Bytes;

use crate::error::{Result, StoreError};
use crate::store::{ArchiveRestore, GetObject, ObjectStore, Op};
use crate::types::{
    Condition, DeleteResult, Head, ListPage, ListedObject, ObjectMeta, ObjectVersion, PutResult,
    Versioning, VersionsPage,
};

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
    min_part_size: u64,
    /// Oldest version first.
    objects: BTreeMap<String, Vec<Entry>>,
    uploads: BTreeMap<String, Upload>,
    counts: HashMap<&'static str, u64>,
    next_id: u64,
    clock_ns: i64,
}

#[derive(Clone, Debug)]
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

    pub fn set_conditionals(&self, c: Conditionals) {
        self.lock().conditionals = c;
    }

    /// Page size of both listings (tests use small ones to exercise paging).
    pub fn set_page_size(&self, n: usize) {
        self.lock().page_size = n.max(1);
    }

    /// The minimum size of every part but the last (5 MiB on AWS).
    pub fn set_min_part_size(&self, n: u64) {
        self.lock().min_part_size = n;
    }

    /// Requests made through the `ObjectStore` trait, by [`Op::name`].
    pub fn counts(&self) -> HashMap<&'static str, u64> {
        self.lock().counts.clone()
    }

    pub fn count(&self, op: Op) -> u64 {
        self.lock().counts.get(op.name()).copied().unwrap_or(0)
    }

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

fn etag_of(data: &[u8]) -> String {
    format!("\"{}\"", digest(data))
}

/// 128 bits from two SipHash runs with fixed keys: stable across runs, so equal content gets
/// equal ETags as on AWS (not cryptographic; pail treats ETags as opaque anyway).
fn digest(data: &[u8]) -> String {
    let h = |salt: u8| {
        let mut s = std::hash::DefaultHasher::new();
        salt.hash(&mut s);
        data.hash(&mut s);
        s.finish()
    };
    format!("{:016x}{:016x}", h(0), h(1))
}

impl Inner {
    fn tick(&mut self) -> i64 {
        self.clock_ns += TICK_NS;
        self.clock_ns
    }

    fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:08}", self.next_id)
    }

    fn live(&self, key: &str) -> Option<(&Entry, &Stored)> {
        let e = self.objects.get(key)?.last()?;
        e.body.as_ref().map(|s| (e, s))
    }

    fn find(&self, key: &str, version_id: Option<&str>) -> Option<&Entry> {
        let v = self.objects.get(key)?;
        match version_id {
            None => v.last(),
            Some(id) => v.iter().find(|e| e.version_id == id),
        }
    }

    fn shown_version(&self, e: &Entry) -> Option<String> {
        match self.versioning {
            Versioning::Off | Versioning::Unsupported => None,
            _ => Some(e.version_id.clone()),
        }
    }

    fn check(&self, key: &str, cond: &Condition) -> Result<()> {
        let cur = self.live(key).map(|(_, s)| s.etag.as_str());
        let pf = || {
            Err(StoreError::PreconditionFailed {
                key: key.to_owned(),
            })
        };
        match (self.conditionals, cond) {
            (_, Condition::None) | (Conditionals::Ignored, _) => Ok(()),
            (Conditionals::Ceph, Condition::IfMatch(_)) => pf(),
            (Conditionals::Ceph, Condition::IfAbsent) if self.versioning == Versioning::Enabled => {
                Ok(())
            }
            (_, Condition::IfAbsent) => {
                if cur.is_some() {
                    pf()
                } else {
                    Ok(())
                }
            }
            (_, Condition::IfMatch(want)) => match cur {
                None => Err(StoreError::NotFound {
                    key: key.to_owned(),
                }),
                Some(e) if e == want => Ok(()),
                Some(_) => pf(),
            },
        }
    }

    fn write(&mut self, key: &str, stored: Stored) -> PutResult {
        let etag = stored.etag.clone();
        let now = self.tick();
        let (version_id, shown) = match self.versioning {
            Versioning::Enabled => {
                let id = self.new_id("mv");
                (id.clone(), Some(id))
            }
            Versioning::Suspended => ("null".to_owned(), Some("null".to_owned())),
            Versioning::Off | Versioning::Unsupported => ("null".to_owned(), None),
        };
        let list = self.objects.entry(key.to_owned()).or_default();
        if version_id == "null" {
            list.retain(|e| e.version_id != "null");
        }
        list.push(Entry {
            version_id,
            last_modified_ns: now,
            body: Some(stored),
        });
        PutResult {
            etag,
            version_id: shown,
        }
    }

    fn delete_current(&mut self, key: &str) -> DeleteResult {
        let now = self.tick();
        match self.versioning {
            Versioning::Enabled | Versioning::Suspended => {
                let id = if self.versioning == Versioning::Enabled {
                    self.new_id("mv")
                } else {
                    "null".to_owned()
                };
                let list = self.objects.entry(key.to_owned()).or_default();
                if id == "null" {
                    list.retain(|e| e.version_id != "null");
                }
                list.push(Entry {
                    version_id: id.clone(),
                    last_modified_ns: now,
                    body: None,
                });
                DeleteResult {
                    version_id: Some(id),
                    delete_marker: true,
                }
            }
            Versioning::Off | Versioning::Unsupported => {
                self.objects.remove(key);
                DeleteResult {
                    version_id: None,
                    delete_marker: false,
                }
            }
        }
    }

    fn head_of(&self, e: &Entry) -> Head {
        match &e.body {
            Some(s) => Head {
                etag: s.etag.clone(),
                version_id: self.shown_version(e),
                size: s.data.len() as u64,
                last_modified_ns: e.last_modified_ns,
                meta: s.meta.clone(),
                storage_class: s.storage_class.clone(),
                delete_marker: false,
            },
            None => Head {
                etag: String::new(),
                version_id: self.shown_version(e),
                size: 0,
                last_modified_ns: e.last_modified_ns,
                meta: ObjectMeta::default(),
                storage_class: None,
                delete_marker: true,
            },
        }
    }
}

#[async_trait]
impl ObjectStore for MemStore {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    async fn list_page(
        &self,
        prefix: &str,
        continuation: Option<String>,
        start_after: Option<String>,
    ) -> Result<ListPage> {
        let g = self.begin(Op::List);
        let after =
            match continuation {
                Some(t) => Some(t.strip_prefix("mem:").map(str::to_owned).ok_or_else(|| {
                    StoreError::other("list", prefix, "invalid continuation token")
                })?),
                None => start_after,
            };
        let mut objects = Vec::new();
        let mut more = false;
        for (key, versions) in g.objects.range(prefix.to_owned()..) {
            if !key.starts_with(prefix) {
                break;
            }
            if after.as_ref().is_some_and(|a| key <= a) {
                continue;
            }
            let Some(Entry {
                body: Some(s),
                last_modified_ns,
                ..
            }) = versions.last()
            else {
                continue;
            };
            if objects.len() == g.page_size {
                more = true;
                break;
            }
            objects.push(ListedObject {
                key: key.clone(),
                etag: s.etag.clone(),
                size: s.data.len() as u64,
                last_modified_ns: *last_modified_ns,
                storage_class: Some(s.storage_class.clone().unwrap_or_else(|| "STANDARD".into())),
            });
        }
        let next_token = more.then(|| format!("mem:{}", objects.last().map_or("", |o| &o.key)));
        Ok(ListPage {
            objects,
            next_token,
        })
    }

    async fn list_versions_page(
        &self,
        prefix: &str,
        key_marker: Option<String>,
        version_id_marker: Option<String>,
    ) -> Result<VersionsPage> {
        let g = self.begin(Op::ListVersions);
        if g.versioning == Versioning::Unsupported {
            return Err(StoreError::NotImplemented {
                op: "list_versions",
            });
        }
        let mut out: Vec<ObjectVersion> = Vec::new();
        let mut more = false;
        'keys: for (key, versions) in g.objects.range(prefix.to_owned()..) {
            if !key.starts_with(prefix) {
                break;
            }
            let mut skipping = false;
            match (&key_marker, &version_id_marker) {
                (Some(km), _) if key < km => continue,
                (Some(km), None) if key == km => continue,
                (Some(km), Some(_)) if key == km => skipping = true,
                _ => {}
            }
            for (i, e) in versions.iter().rev().enumerate() {
                if skipping {
                    if Some(&e.version_id) == version_id_marker.as_ref() {
                        skipping = false;
                    }
                    continue;
                }
                if out.len() == g.page_size {
                    more = true;
                    break 'keys;
                }
                out.push(ObjectVersion {
                    key: key.clone(),
                    version_id: e.version_id.clone(),
                    etag: e.body.as_ref().map(|s| s.etag.clone()),
                    size: e.body.as_ref().map_or(0, |s| s.data.len() as u64),
                    last_modified_ns: e.last_modified_ns,
                    is_latest: i == 0,
                    is_delete_marker: e.body.is_none(),
                });
            }
        }
        let last = out.last().filter(|_| more);
        Ok(VersionsPage {
            next_key_marker: last.map(|v| v.key.clone()),
            next_version_id_marker: last.map(|v| v.version_id.clone()),
            versions: out,
        })
    }

    async fn head(&self, key: &str, version_id: Option<&str>) -> Result<Option<Head>> {
        let g = self.begin(Op::Head);
        Ok(match g.find(key, version_id) {
            None => None,
            Some(e) if e.body.is_none() && version_id.is_none() => None,
            Some(e) => Some(g.head_of(e)),
        })
    }

    async fn get(
        &self,
        key: &str,
        version_id: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<GetObject> {
        let g = self.begin(Op::Get);
        let e = g
            .find(key, version_id)
            .ok_or_else(|| StoreError::NotFound { key: key.into() })?;
        let Some(s) = &e.body else {
            return Err(match version_id {
                Some(_) => StoreError::MethodNotAllowed { key: key.into() },
                None => StoreError::NotFound { key: key.into() },
            });
        };
        if matches!(s.storage_class.as_deref(), Some("GLACIER" | "DEEP_ARCHIVE")) {
            return Err(StoreError::InvalidObjectState { key: key.into() });
        }
        let len = s.data.len() as u64;
        let data = match range {
            None => s.data.clone(),
            Some(r) if r.start < r.end && r.start < len => {
                s.data.slice(r.start as usize..r.end.min(len) as usize)
            }
            Some(r) => {
                return Err(StoreError::other(
                    "get",
                    key,
                    format!("InvalidRange (HTTP 416): {r:?} of {len} bytes"),
                ));
            }
        };
        let head = g.head_of(e);
        // Hand out the body in small chunks, as a network stream would.
        let chunks: Vec<Result<Bytes>> = (0..data.len())
            .step_by(64 * 1024)
            .map(|i| Ok(data.slice(i..(i + 64 * 1024).min(data.len()))))
            .collect();
        Ok(GetObject {
            head,
            body: Box::pin(futures::stream::iter(chunks)),
        })
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        meta: &ObjectMeta,
        cond: Condition,
    ) -> Result<PutResult> {
        let mut g = self.begin(Op::Put);
        g.check(key, &cond)?;
        let etag = etag_of(&body);
        Ok(g.write(
            key,
            Stored {
                data: body,
                etag,
                meta: meta.clone(),
                storage_class: None,
            },
        ))
    }

    async fn create_multipart(&self, key: &str, meta: &ObjectMeta) -> Result<String> {
        let mut g = self.begin(Op::CreateMultipart);
        let id = g.new_id("mu");
        g.uploads.insert(
            id.clone(),
            Upload {
                key: key.to_owned(),
                meta: meta.clone(),
                parts: BTreeMap::new(),
            },
        );
        Ok(id)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: Bytes,
    ) -> Result<String> {
        let mut g = self.begin(Op::UploadPart);
        let up = g
            .uploads
            .get_mut(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| StoreError::NotFound { key: key.into() })?;
        if !(1..=10_000).contains(&part_number) {
            return Err(StoreError::other(
                "upload_part",
                key,
                "part number must be 1..=10000",
            ));
        }
        let etag = etag_of(&body);
        up.parts.insert(part_number, (etag.clone(), body));
        Ok(etag)
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<(i32, String, u64)>> {
        let g = self.begin(Op::ListParts);
        let up = g
            .uploads
            .get(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| StoreError::NotFound { key: key.into() })?;
        Ok(up
            .parts
            .iter()
            .map(|(n, (e, b))| (*n, e.clone(), b.len() as u64))
            .collect())
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
        cond: Condition,
    ) -> Result<PutResult> {
        let mut g = self.begin(Op::CompleteMultipart);
        let min = g.min_part_size;
        let up = g
            .uploads
            .get(upload_id)
            .filter(|u| u.key == key)
            .ok_or_else(|| StoreError::NotFound { key: key.into() })?;
        let bad = |m: &str| Err(StoreError::other("complete_multipart", key, m));
        if parts.is_empty() {
            return bad("MalformedXML: no parts");
        }
        if parts.windows(2).any(|w| w[0].0 >= w[1].0) {
            return bad("InvalidPartOrder: parts must be in ascending order");
        }
        let mut data = Vec::new();
        let mut part_digests = String::new();
        for (i, (n, etag)) in parts.iter().enumerate() {
            let Some((e, b)) = up.parts.get(n).filter(|(e, _)| e == etag) else {
                return bad(&format!(
                    "InvalidPart: part {n} with ETag {etag} not uploaded"
                ));
            };
            if i + 1 < parts.len() && (b.len() as u64) < min {
                return bad(&format!("EntityTooSmall: part {n} is under {min} bytes"));
            }
            data.extend_from_slice(b);
            part_digests.push_str(e);
        }
        g.check(key, &cond)?;
        let meta = up.meta.clone();
        let etag = format!("\"{}-{}\"", digest(part_digests.as_bytes()), parts.len());
        g.uploads.remove(upload_id);
        Ok(g.write(
            key,
            Stored {
                data: data.into(),
                etag,
                meta,
                storage_class: None,
            },
        ))
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        let mut g = self.begin(Op::AbortMultipart);
        match g.uploads.get(upload_id) {
            Some(u) if u.key == key => {
                g.uploads.remove(upload_id);
                Ok(())
            }
            _ => Err(StoreError::NotFound { key: key.into() }),
        }
    }

    async fn copy(
        &self,
        src_key: &str,
        src_version: Option<&str>,
        dst_key: &str,
        meta: &ObjectMeta,
        cond: Condition,
    ) -> Result<PutResult> {
        let mut g = self.begin(Op::Copy);
        let src = g
            .find(src_key, src_version)
            .ok_or_else(|| StoreError::NotFound {
                key: src_key.into(),
            })?;
        let Some(s) = &src.body else {
            return Err(match src_version {
                Some(_) => StoreError::MethodNotAllowed {
                    key: src_key.into(),
                },
                None => StoreError::NotFound {
                    key: src_key.into(),
                },
            });
        };
        if matches!(s.storage_class.as_deref(), Some("GLACIER" | "DEEP_ARCHIVE")) {
            return Err(StoreError::InvalidObjectState {
                key: src_key.into(),
            });
        }
        let data = s.data.clone();
        g.check(dst_key, &cond)?;
        let etag = etag_of(&data);
        Ok(g.write(
            dst_key,
            Stored {
                data,
                etag,
                meta: meta.clone(),
                storage_class: None,
            },
        ))
    }

    async fn delete(
        &self,
        key: &str,
        version_id: Option<&str>,
        cond: Condition,
    ) -> Result<DeleteResult> {
        let mut g = self.begin(Op::Delete);
        match (&cond, g.conditionals) {
            (Condition::IfAbsent, _) => {
                return Err(StoreError::other(
                    "delete",
                    key,
                    "If-None-Match is not valid on delete",
                ));
            }
            (Condition::IfMatch(want), Conditionals::Honoured) => {
                match g.find(key, version_id).and_then(|e| e.body.as_ref()) {
                    None => return Err(StoreError::NotFound { key: key.into() }),
                    Some(s) if &s.etag != want => {
                        return Err(StoreError::PreconditionFailed { key: key.into() });
                    }
                    Some(_) => {}
                }
            }
            _ => {}
        }
        let Some(vid) = version_id else {
            return Ok(g.delete_current(key));
        };
        let mut marker = false;
        if let Some(list) = g.objects.get_mut(key) {
            if let Some(i) = list.iter().position(|e| e.version_id == vid) {
                marker = list.remove(i).body.is_none();
            }
            if list.is_empty() {
                g.objects.remove(key);
            }
        }
        Ok(DeleteResult {
            version_id: Some(vid.to_owned()),
            delete_marker: marker,
        })
    }

    async fn get_versioning(&self) -> Result<Versioning> {
        Ok(self.begin(Op::GetVersioning).versioning)
    }

    /// Readable at once: the archived flag is cleared (AWS takes hours).
    async fn restore_archived(
        &self,
        key: &str,
        version_id: Option<&str>,
        _days: i32,
    ) -> Result<ArchiveRestore> {
        let mut g = self.begin(Op::RestoreArchived);
        let list = g
            .objects
            .get_mut(key)
            .ok_or_else(|| StoreError::NotFound { key: key.into() })?;
        let e = match version_id {
            None => list.last_mut(),
            Some(id) => list.iter_mut().find(|e| e.version_id == id),
        }
        .ok_or_else(|| StoreError::NotFound { key: key.into() })?;
        let Some(s) = e.body.as_mut() else {
            return Err(StoreError::MethodNotAllowed { key: key.into() });
        };
        Ok(
            if matches!(s.storage_class.as_deref(), Some("GLACIER" | "DEEP_ARCHIVE")) {
                s.storage_class = None;
                ArchiveRestore::Started
            } else {
                ArchiveRestore::NotArchived
            },
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::store::{list_all, list_all_versions};
    use pail_core::ContentHash;

    fn meta(b: u8) -> ObjectMeta {
        ObjectMeta {
            blake3: Some(ContentHash([b; 32])),
            mtime_ns: Some(5),
            device: Some("d".into()),
        }
    }

    async fn put(s: &MemStore, k: &str, body: &'static [u8], c: Condition) -> Result<PutResult> {
        s.put(k, Bytes::from_static(body), &meta(1), c).await
    }

    #[tokio::test]
    async fn versions_and_delete_markers() {
        let s = MemStore::new("b");
        let v1 = put(&s, "k", b"one", Condition::None).await.unwrap();
        let v2 = put(&s, "k", b"two", Condition::None).await.unwrap();
        assert_ne!(v1.version_id, v2.version_id);
        assert_eq!(
            put(&s, "other", b"one", Condition::None)
                .await
                .unwrap()
                .etag,
            v1.etag
        );

        let h = s.head("k", None).await.unwrap().unwrap();
        assert_eq!(
            (h.etag.as_str(), h.size, h.meta.clone()),
            (v2.etag.as_str(), 3, meta(1))
        );
        let old = s.get("k", v1.version_id.as_deref(), None).await.unwrap();
        assert_eq!(old.collect().await.unwrap(), "one");

        let d = s.delete("k", None, Condition::None).await.unwrap();
        assert!(d.delete_marker);
        assert_eq!(s.head("k", None).await.unwrap(), None);
        assert!(matches!(
            s.get("k", None, None).await,
            Err(StoreError::NotFound { .. })
        ));
        let marker = d.version_id.clone().unwrap();
        assert!(matches!(
            s.get("k", Some(&marker), None).await,
            Err(StoreError::MethodNotAllowed { .. })
        ));
        assert!(
            s.head("k", Some(&marker))
                .await
                .unwrap()
                .unwrap()
                .delete_marker
        );

        let mut all = Vec::new();
        list_all_versions(&s, "k", |v| all.push(v)).await.unwrap();
        assert_eq!(all.len(), 3);
        assert!(all[0].is_delete_marker && all[0].is_latest && all[0].etag.is_none());
        assert_eq!(all[1].version_id, v2.version_id.clone().unwrap());
        assert!(!all[1].is_latest);

        // Undelete by removing the marker.
        let r = s.delete("k", Some(&marker), Condition::None).await.unwrap();
        assert!(r.delete_marker);
        assert_eq!(s.current("k").unwrap(), "two");
        // Permanently remove a version.
        s.delete("k", v1.version_id.as_deref(), Condition::None)
            .await
            .unwrap();
        assert_eq!(s.version_count("k"), 1);
        assert!(s.keys().contains(&"k".to_owned()));
    }

    #[tokio::test]
    async fn conditions_as_aws() {
        let s = MemStore::new("b");
        let a = put(&s, "k", b"a", Condition::IfAbsent).await.unwrap();
        let e = put(&s, "k", b"b", Condition::IfAbsent).await.unwrap_err();
        assert!(matches!(e, StoreError::PreconditionFailed { .. }));
        let e = put(&s, "k", b"b", Condition::IfMatch("\"x\"".into()))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::PreconditionFailed { .. }));
        let b = put(&s, "k", b"b", Condition::IfMatch(a.etag.clone()))
            .await
            .unwrap();
        let e = put(&s, "missing", b"b", Condition::IfMatch(a.etag.clone()))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound { .. }));
        // A delete marker counts as absent.
        let e = s
            .delete("k", None, Condition::IfMatch(a.etag.clone()))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::PreconditionFailed { .. }));
        s.delete("k", None, Condition::IfMatch(b.etag.clone()))
            .await
            .unwrap();
        put(&s, "k", b"c", Condition::IfAbsent).await.unwrap();
        assert!(s.delete("k", None, Condition::IfAbsent).await.is_err());
        // Copy conditions apply to the destination.
        let e = s
            .copy("k", None, "k2", &meta(2), Condition::IfMatch(b.etag))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::NotFound { .. }));
        let c = s
            .copy("k", None, "k2", &meta(2), Condition::IfAbsent)
            .await
            .unwrap();
        assert_eq!(s.current("k2").unwrap(), "c");
        assert_eq!(s.current_meta("k2").unwrap(), meta(2));
        assert!(c.version_id.is_some());
        assert_eq!(s.uploads_in_progress(), 0);
    }

    #[tokio::test]
    async fn garage_and_ceph_modes() {
        let g = MemStore::garage_like("b");
        put(&g, "k", b"a", Condition::IfAbsent).await.unwrap();
        let r = put(&g, "k", b"b", Condition::IfAbsent).await.unwrap();
        assert_eq!(r.version_id, None);
        assert_eq!(g.current("k").unwrap(), "b");
        assert!(matches!(
            g.list_versions_page("", None, None).await,
            Err(StoreError::NotImplemented { .. })
        ));
        assert_eq!(g.get_versioning().await.unwrap(), Versioning::Unsupported);
        let d = g.delete("k", None, Condition::None).await.unwrap();
        assert_eq!(
            d,
            DeleteResult {
                version_id: None,
                delete_marker: false
            }
        );
        assert_eq!(g.version_count("k"), 0);

        let c = MemStore::ceph_like("b");
        let a = put(&c, "k", b"a", Condition::IfAbsent).await.unwrap();
        put(&c, "k", b"b", Condition::IfAbsent).await.unwrap();
        let head = c.head("k", None).await.unwrap().unwrap();
        let e = put(&c, "k", b"c", Condition::IfMatch(head.etag))
            .await
            .unwrap_err();
        assert!(matches!(e, StoreError::PreconditionFailed { .. }));
        c.delete("k", None, Condition::IfMatch(a.etag))
            .await
            .unwrap();
        c.set_versioning(Versioning::Suspended);
        put(&c, "n", b"a", Condition::IfAbsent).await.unwrap();
        assert!(put(&c, "n", b"a", Condition::IfAbsent).await.is_err());
    }

    #[tokio::test]
    async fn suspended_and_off_use_null_versions() {
        let s = MemStore::new("b");
        let v1 = put(&s, "k", b"1", Condition::None).await.unwrap();
        s.set_versioning(Versioning::Suspended);
        assert_eq!(
            put(&s, "k", b"2", Condition::None)
                .await
                .unwrap()
                .version_id
                .unwrap(),
            "null"
        );
        assert_eq!(
            put(&s, "k", b"3", Condition::None)
                .await
                .unwrap()
                .version_id
                .unwrap(),
            "null"
        );
        assert_eq!(s.version_count("k"), 2);
        let d = s.delete("k", None, Condition::None).await.unwrap();
        assert_eq!(d.version_id.as_deref(), Some("null"));
        assert_eq!(s.version_count("k"), 2);
        let got = s.get("k", v1.version_id.as_deref(), None).await.unwrap();
        assert_eq!(got.collect().await.unwrap(), "1");

        let o = MemStore::new("b");
        o.set_versioning(Versioning::Off);
        put(&o, "k", b"1", Condition::None).await.unwrap();
        put(&o, "k", b"2", Condition::None).await.unwrap();
        let p = o.list_versions_page("", None, None).await.unwrap();
        assert_eq!(p.versions.len(), 1);
        assert_eq!(p.versions[0].version_id, "null");
        assert_eq!(o.head("k", None).await.unwrap().unwrap().version_id, None);
    }

    #[tokio::test]
    async fn paging_with_small_pages() {
        let s = MemStore::new("b");
        s.set_page_size(2);
        for k in ["p/a", "p/b", "p/c", "p/d", "p/e", "q/x"] {
            put(&s, k, b"1", Condition::None).await.unwrap();
            put(&s, k, b"2", Condition::None).await.unwrap();
        }
        s.delete("p/c", None, Condition::None).await.unwrap();
        s.reset_counts();
        let mut keys = Vec::new();
        list_all(&s, "p/", |o| keys.push(o.key)).await.unwrap();
        assert_eq!(keys, ["p/a", "p/b", "p/d", "p/e"]);
        assert_eq!(s.count(Op::List), 2);
        let p = s.list_page("p/", None, Some("p/b".into())).await.unwrap();
        assert_eq!(
            p.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
            ["p/d", "p/e"]
        );
        assert_eq!(p.next_token, None);

        let mut vs = Vec::new();
        list_all_versions(&s, "p/", |v| {
            vs.push((v.key, v.is_latest, v.is_delete_marker))
        })
        .await
        .unwrap();
        assert_eq!(vs.len(), 11);
        assert_eq!(s.count(Op::ListVersions), 6);
        let latest: Vec<_> = vs.iter().filter(|v| v.1).map(|v| v.0.as_str()).collect();
        assert_eq!(latest, ["p/a", "p/b", "p/c", "p/d", "p/e"]);
        assert_eq!(vs[4], ("p/c".into(), true, true));
        assert!(vs.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[tokio::test]
    async fn multipart_and_ranges() {
        let s = MemStore::new("b");
        s.set_min_part_size(4);
        let id = s.create_multipart("big", &meta(3)).await.unwrap();
        let e1 = s
            .upload_part("big", &id, 1, Bytes::from_static(b"abcd"))
            .await
            .unwrap();
        let e2 = s
            .upload_part("big", &id, 2, Bytes::from_static(b"ef"))
            .await
            .unwrap();
        assert_eq!(
            s.list_parts("big", &id).await.unwrap(),
            vec![(1, e1.clone(), 4), (2, e2.clone(), 2)]
        );
        let swapped = [(2, e2.clone()), (1, e1.clone())];
        assert!(
            s.complete_multipart("big", &id, &swapped, Condition::None)
                .await
                .is_err()
        );
        let r = s
            .complete_multipart("big", &id, &[(1, e1), (2, e2)], Condition::IfAbsent)
            .await
            .unwrap();
        assert!(r.etag.ends_with("-2\""));
        assert_eq!(s.current_meta("big").unwrap(), meta(3));
        assert!(matches!(
            s.list_parts("big", &id).await,
            Err(StoreError::NotFound { .. })
        ));
        let g = s.get("big", None, Some(1..4)).await.unwrap();
        assert_eq!(g.head.size, 6);
        assert_eq!(g.collect().await.unwrap(), "bcd");
        assert!(s.get("big", None, Some(6..8)).await.is_err());

        let id = s.create_multipart("x", &meta(3)).await.unwrap();
        s.upload_part("x", &id, 1, Bytes::from_static(b"a"))
            .await
            .unwrap();
        assert_eq!(s.uploads_in_progress(), 1);
        s.abort_multipart("x", &id).await.unwrap();
        assert_eq!(s.uploads_in_progress(), 0);
        assert_eq!(s.counts()["upload_part"], 3);
    }

    #[tokio::test]
    async fn foreign_writes_and_archives() {
        let s = MemStore::new("b");
        s.put_foreign("f", "hello");
        let h = s.head("f", None).await.unwrap().unwrap();
        assert_eq!(h.meta, ObjectMeta::default());
        assert!(!s.counts().contains_key("put"));
        s.archive("f");
        assert!(matches!(
            s.get("f", None, None).await,
            Err(StoreError::InvalidObjectState { .. })
        ));
        s.delete_foreign("f");
        assert_eq!(s.head("f", None).await.unwrap(), None);
    }

    #[tokio::test]
    async fn archived_objects_come_back_after_a_restore_request() {
        let s = MemStore::new("b");
        put(&s, "cold", b"old", Condition::None).await.unwrap();
        s.archive("cold");
        assert!(matches!(
            s.get("cold", None, None).await.unwrap_err(),
            StoreError::InvalidObjectState { .. }
        ));
        let r = s.restore_archived("cold", None, 3).await.unwrap();
        assert_eq!(r, ArchiveRestore::Started);
        assert_eq!(
            &s.get("cold", None, None)
                .await
                .unwrap()
                .collect()
                .await
                .unwrap()[..],
            b"old"
        );
        let r = s.restore_archived("cold", None, 3).await.unwrap();
        assert_eq!(r, ArchiveRestore::NotArchived);
        assert!(matches!(
            s.restore_archived("nope", None, 3).await.unwrap_err(),
            StoreError::NotFound { .. }
        ));
    }
}
