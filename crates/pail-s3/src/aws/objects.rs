//! The `ObjectStore` impl: single-object requests (head, get, put, delete, restore) and the
//! bucket's versioning state; listing and multipart calls forward to `list` and `multipart`.

use std::ops::Range;

use async_trait::async_trait;
use aws_sdk_s3::error::SdkError;
use aws_sdk_s3::primitives::{ByteStream, DateTime};
use aws_sdk_s3::types::BucketVersioningStatus;
use bytes::Bytes;

use super::moto_xml::sniff_versioning;
use super::{
    AwsStore, TimeoutFor, apply_put_cond, head_from_parts, range_total, size, timestamp_ns,
};
use crate::error::{Result, StoreError, from_sdk};
use crate::store::{ArchiveRestore, GetObject, ObjectStore, archive_state_from};
use crate::types::{
    Condition, DeleteResult, Head, ListPage, ObjectMeta, PutResult, Versioning, VersionsPage,
};

#[async_trait]
impl ObjectStore for AwsStore {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    fn checksums(&self) -> &'static str {
        if self.custom_endpoint {
            "when_required"
        } else {
            "when_supported"
        }
    }

    async fn list_page(
        &self,
        prefix: &str,
        continuation: Option<String>,
        start_after: Option<String>,
    ) -> Result<ListPage> {
        self.list_objects_page(prefix, continuation, start_after)
            .await
    }

    async fn list_versions_page(
        &self,
        prefix: &str,
        key_marker: Option<String>,
        version_id_marker: Option<String>,
    ) -> Result<VersionsPage> {
        self.list_versions(prefix, key_marker, version_id_marker)
            .await
    }

    async fn head(&self, key: &str, version_id: Option<&str>) -> Result<Option<Head>> {
        let res = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await;
        match res {
            Ok(o) => Ok(Some(head_from_parts(
                o.e_tag(),
                o.version_id(),
                size(o.content_length()),
                o.last_modified(),
                o.metadata(),
                o.storage_class().map(|c| c.as_str()),
            ))),
            Err(SdkError::ServiceError(e)) if e.raw().status().as_u16() == 404 => Ok(None),
            Err(SdkError::ServiceError(e))
                if e.raw().status().as_u16() == 405
                    && e.raw().headers().get("x-amz-delete-marker") == Some("true") =>
            {
                let h = e.raw().headers();
                let last_modified = h.get("last-modified").and_then(|s| {
                    DateTime::from_str(s, aws_smithy_types::date_time::Format::HttpDate).ok()
                });
                Ok(Some(Head {
                    etag: String::new(),
                    version_id: h
                        .get("x-amz-version-id")
                        .map(str::to_owned)
                        .or(version_id.map(str::to_owned)),
                    size: 0,
                    last_modified_ns: timestamp_ns(last_modified.as_ref()),
                    meta: ObjectMeta::default(),
                    storage_class: None,
                    delete_marker: true,
                }))
            }
            Err(e) => Err(from_sdk(e, self.ctx("head", key))),
        }
    }

    async fn get(
        &self,
        key: &str,
        version_id: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<GetObject> {
        if let Some(r) = &range
            && r.start >= r.end
        {
            return Err(StoreError::other("get", key, format!("empty range {r:?}")));
        }
        let out = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .set_range(range.map(|r| format!("bytes={}-{}", r.start, r.end - 1)))
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("get", key)))?;
        let total = range_total(out.content_range()).unwrap_or(size(out.content_length()));
        let head = head_from_parts(
            out.e_tag(),
            out.version_id(),
            total,
            out.last_modified(),
            out.metadata(),
            out.storage_class().map(|c| c.as_str()),
        );
        let key = key.to_owned();
        let body = futures::stream::unfold(Some((out.body, key)), |state| async move {
            let (mut body, key) = state?;
            match body.next().await {
                None => None,
                Some(Ok(b)) => Some((Ok(b), Some((body, key)))),
                Some(Err(e)) => {
                    let msg = aws_sdk_s3::error::DisplayErrorContext(&e).to_string();
                    Some((Err(StoreError::transient("get", key, msg)), None))
                }
            }
        });
        Ok(GetObject {
            head,
            body: Box::pin(body),
        })
    }

    async fn put(
        &self,
        key: &str,
        body: Bytes,
        meta: &ObjectMeta,
        cond: Condition,
    ) -> Result<PutResult> {
        let (if_match, if_none_match) = apply_put_cond(&cond);
        let len = body.len() as u64;
        let out = self
            .client
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .content_length(len as i64)
            .body(ByteStream::from(body))
            .set_metadata(Some(meta.encode()))
            .set_if_match(if_match)
            .set_if_none_match(if_none_match)
            .customize()
            .timeout_for(len)
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("put", key)))?;
        self.with_etag(key, out.e_tag(), out.version_id().map(str::to_owned))
            .await
    }

    async fn create_multipart(&self, key: &str, meta: &ObjectMeta) -> Result<String> {
        self.multipart_create(key, meta).await
    }

    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: Bytes,
    ) -> Result<String> {
        self.multipart_upload_part(key, upload_id, part_number, body)
            .await
    }

    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<(i32, String, u64)>> {
        self.multipart_list_parts(key, upload_id).await
    }

    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
        cond: Condition,
    ) -> Result<PutResult> {
        self.multipart_complete(key, upload_id, parts, cond).await
    }

    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()> {
        self.multipart_abort(key, upload_id).await
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
        self.copy_object(src_key, src_version, src_etag, dst_key, meta, cond)
            .await
    }

    async fn delete(
        &self,
        key: &str,
        version_id: Option<&str>,
        cond: Condition,
    ) -> Result<DeleteResult> {
        let if_match = match cond {
            Condition::None => None,
            Condition::IfMatch(e) => Some(e),
            Condition::IfAbsent => {
                return Err(StoreError::other(
                    "delete",
                    key,
                    "If-None-Match is not valid on delete",
                ));
            }
        };
        let out = self
            .client
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .set_if_match(if_match)
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("delete", key)))?;
        Ok(DeleteResult {
            version_id: out.version_id().map(str::to_owned),
            delete_marker: out.delete_marker().unwrap_or(false),
        })
    }

    async fn get_versioning(&self) -> Result<Versioning> {
        match self
            .client
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(o) => Ok(match o.status() {
                Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
                Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
                _ => Versioning::Off,
            }),
            // moto 5.2.1 answers with a `GetBucketVersioningResponse` root the SDK rejects.
            Err(e) if let Some(v) = e.raw_response().and_then(sniff_versioning) => Ok(v),
            Err(e) => match from_sdk(e, self.ctx("get_versioning", "")) {
                StoreError::NotImplemented { .. } => Ok(Versioning::Unsupported),
                e => Err(e),
            },
        }
    }

    async fn restore_archived(
        &self,
        key: &str,
        version_id: Option<&str>,
        days: i32,
    ) -> Result<ArchiveRestore> {
        use aws_sdk_s3::error::ProvideErrorMetadata;
        let res = self
            .client
            .restore_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .restore_request(
                aws_sdk_s3::types::RestoreRequest::builder()
                    .days(days)
                    .build(),
            )
            .send()
            .await;
        match res {
            Ok(_) => {}
            Err(e) if e.code() == Some("RestoreAlreadyInProgress") => {
                return Ok(ArchiveRestore::InProgress);
            }
            // "Restore is not allowed for the object's current storage class".
            Err(e) if e.code() == Some("InvalidObjectState") => {
                return Ok(ArchiveRestore::NotArchived);
            }
            Err(e) => return Err(from_sdk(e, self.ctx("restore_archived", key))),
        }
        // The output does not say 200 (already restored) from 202 (started); the
        // `x-amz-restore` header of a HEAD does, for one cheap request.
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("head", key)))?;
        Ok(match out.restore() {
            Some(r) if r.contains("ongoing-request=\"false\"") => ArchiveRestore::Done,
            _ => ArchiveRestore::Started,
        })
    }

    async fn presign_get(
        &self,
        key: &str,
        version_id: Option<&str>,
        expires: std::time::Duration,
    ) -> Result<crate::types::Presigned> {
        let cfg = aws_sdk_s3::presigning::PresigningConfig::expires_in(expires).map_err(|e| {
            StoreError::Other {
                op: "presign",
                key: key.into(),
                message: aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
            }
        })?;
        let req = self
            .client
            .get_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .presigned(cfg)
            .await
            .map_err(|e| from_sdk(e, self.ctx("presign", key)))?;
        Ok(crate::types::Presigned {
            url: req.uri().to_owned(),
            credentials_expire: self.credentials_expire,
        })
    }

    async fn archive_state(&self, key: &str, version_id: Option<&str>) -> Result<ArchiveRestore> {
        let out = self
            .client
            .head_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version_id.map(str::to_owned))
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("head", key)))?;
        Ok(archive_state_from(
            out.storage_class().map(|c| c.as_str()),
            out.restore(),
        ))
    }
}
