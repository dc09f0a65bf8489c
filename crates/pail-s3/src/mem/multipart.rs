//! Multipart uploads in the fake: parts are kept per upload id and checked on completion as
//! AWS does (ascending order, ETags matching, every part but the last at least the minimum).
//! Synchronous, since the fake never waits; the `ObjectStore` impl forwards here.

use std::collections::BTreeMap;

use bytes::Bytes;

use super::state::{digest, etag_of};
use super::{MemStore, Stored, Upload};
use crate::error::{Result, StoreError};
use crate::store::Op;
use crate::types::{Condition, ObjectMeta, PutResult};

impl MemStore {
    pub(super) fn multipart_create(&self, key: &str, meta: &ObjectMeta) -> Result<String> {
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

    pub(super) fn multipart_upload_part(
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

    pub(super) fn multipart_list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<(i32, String, u64)>> {
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

    pub(super) fn multipart_complete(
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

    pub(super) fn multipart_abort(&self, key: &str, upload_id: &str) -> Result<()> {
        let mut g = self.begin(Op::AbortMultipart);
        match g.uploads.get(upload_id) {
            Some(u) if u.key == key => {
                g.uploads.remove(upload_id);
                Ok(())
            }
            _ => Err(StoreError::NotFound { key: key.into() }),
        }
    }
}
