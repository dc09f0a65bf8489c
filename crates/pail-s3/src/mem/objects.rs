//! The `ObjectStore` impl of the fake: listing, reads, writes, copies and deletes over the
//! shared state, counting every call by [`Op`] so tests can assert on request counts.

use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;

use super::state::etag_of;
use super::{Conditionals, Entry, MemStore, Stored};
use crate::error::{Result, StoreError};
use crate::store::{ArchiveRestore, GetObject, ObjectStore, Op};
use crate::types::{
    Condition, DeleteResult, Head, ListPage, ListedObject, ObjectMeta, ObjectVersion, PutResult,
    Versioning, VersionsPage,
};

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
                None => start_after.filter(|_| !g.ignores_start_after),
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
        if g.reverses_pages {
            objects.reverse();
        }
        Ok(ListPage {
            objects,
            next_token,
            unreadable: Vec::new(),
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
        self.multipart_create(key, meta)
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: Bytes,
    ) -> Result<String> {
        self.multipart_upload_part(key, upload_id, part_number, body)
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<(i32, String, u64)>> {
        self.multipart_list_parts(key, upload_id)
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
        cond: Condition,
    ) -> Result<PutResult> {
        self.multipart_complete(key, upload_id, parts, cond)
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        self.multipart_abort(key, upload_id)
    }

    async fn copy(
        &self,
        src_key: &str,
        src_version: Option<&str>,
        src_etag: Option<&str>,
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
        // Honoured in every mode, as Garage and AWS do (the HEAD check of the real store makes
        // it hold, in a wider window, where the server ignores it).
        if src_etag.is_some_and(|e| e != s.etag) {
            return Err(StoreError::PreconditionFailed {
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

    /// Restores complete at once here, so an archived object never has one running.
    async fn archive_state(&self, key: &str, version_id: Option<&str>) -> Result<ArchiveRestore> {
        let g = self.begin(Op::Head);
        let list = g
            .objects
            .get(key)
            .ok_or_else(|| StoreError::NotFound { key: key.into() })?;
        let e = match version_id {
            None => list.last(),
            Some(id) => list.iter().find(|e| e.version_id == id),
        }
        .ok_or_else(|| StoreError::NotFound { key: key.into() })?;
        let class = e.body.as_ref().and_then(|s| s.storage_class.as_deref());
        Ok(crate::store::archive_state_from(class, None))
    }
}
