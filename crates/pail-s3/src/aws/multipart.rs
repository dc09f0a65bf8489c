//! Multipart uploads, and copies: CopyObject up to 5 GiB, UploadPartCopy in parts above that.
//! The `ObjectStore` impl forwards here; a failed multipart copy aborts its upload so that no
//! parts are left to bill.

use aws_sdk_s3::primitives::ByteStream;
use aws_sdk_s3::types::{CompletedMultipartUpload, CompletedPart, MetadataDirective};
use bytes::Bytes;
use tracing::debug;

use super::moto_xml::sniff_list_parts;
use super::{
    AwsStore, COPY_PART_BYTES, MAX_COPY_OBJECT_BYTES, TimeoutFor, apply_put_cond, copy_source, size,
};
use crate::error::{Result, StoreError, from_sdk};
use crate::store::ObjectStore;
use crate::types::{Condition, Head, ObjectMeta, PutResult};

impl AwsStore {
    async fn copy_multipart(
        &self,
        src_key: &str,
        src_version: Option<&str>,
        src: &Head,
        dst_key: &str,
        meta: &ObjectMeta,
        cond: Condition,
    ) -> Result<PutResult> {
        let (src_etag, size_bytes) = (src.etag.as_str(), src.size);
        let upload_id = self.create_multipart(dst_key, meta).await?;
        let part = COPY_PART_BYTES.max(size_bytes.div_ceil(10_000));
        let source = copy_source(&self.bucket, src_key, src_version);
        let result = async {
            let mut parts = Vec::new();
            let mut start = 0u64;
            let mut n = 1i32;
            while start < size_bytes {
                let end = (start + part).min(size_bytes);
                let out = self
                    .client
                    .upload_part_copy()
                    .bucket(&self.bucket)
                    .key(dst_key)
                    .upload_id(&upload_id)
                    .part_number(n)
                    .copy_source(&source)
                    .copy_source_range(format!("bytes={}-{}", start, end - 1))
                    .copy_source_if_match(src_etag)
                    .customize()
                    .timeout_for((end - start) / 16)
                    .send()
                    .await
                    .map_err(|e| from_sdk(e, self.ctx("upload_part_copy", dst_key)))?;
                let etag = out
                    .copy_part_result()
                    .and_then(|r| r.e_tag())
                    .unwrap_or_default();
                parts.push((n, etag.to_owned()));
                start = end;
                n += 1;
            }
            self.complete_multipart(dst_key, &upload_id, &parts, cond)
                .await
        }
        .await;
        if result.is_err()
            && let Err(e) = self.abort_multipart(dst_key, &upload_id).await
        {
            debug!(key = dst_key, error = %e, "abort after failed multipart copy");
        }
        result
    }

    pub(super) async fn multipart_create(&self, key: &str, meta: &ObjectMeta) -> Result<String> {
        let out = self
            .client
            .create_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .set_metadata(Some(meta.encode()))
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("create_multipart", key)))?;
        out.upload_id().map(str::to_owned).ok_or_else(|| {
            StoreError::other("create_multipart", key, "no UploadId in the response")
        })
    }

    pub(super) async fn multipart_upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: Bytes,
    ) -> Result<String> {
        let len = body.len() as u64;
        let out = self
            .client
            .upload_part()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .part_number(part_number)
            .content_length(len as i64)
            .body(ByteStream::from(body))
            .customize()
            .timeout_for(len)
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("upload_part", key)))?;
        out.e_tag()
            .map(str::to_owned)
            .ok_or_else(|| StoreError::other("upload_part", key, "no ETag in the response"))
    }

    pub(super) async fn multipart_list_parts(
        &self,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<(i32, String, u64)>> {
        let mut parts = Vec::new();
        let mut marker: Option<String> = None;
        loop {
            let res = self
                .client
                .list_parts()
                .bucket(&self.bucket)
                .key(key)
                .upload_id(upload_id)
                .set_part_number_marker(marker.clone())
                .send()
                .await;
            let (page, truncated, next) = match res {
                Ok(out) => (
                    out.parts()
                        .iter()
                        .filter_map(|p| {
                            Some((p.part_number()?, p.e_tag()?.to_owned(), size(p.size())))
                        })
                        .collect(),
                    out.is_truncated().unwrap_or(false),
                    out.next_part_number_marker().map(str::to_owned),
                ),
                // moto 5.2 answers with a `ListPartsResponse` root the SDK rejects.
                Err(e) if let Some(p) = e.raw_response().and_then(sniff_list_parts) => p,
                Err(e) => return Err(from_sdk(e, self.ctx("list_parts", key))),
            };
            parts.extend(page);
            if !truncated || next.is_none() || next == marker {
                break;
            }
            marker = next;
        }
        parts.sort_by_key(|p| p.0);
        Ok(parts)
    }

    pub(super) async fn multipart_complete(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
        cond: Condition,
    ) -> Result<PutResult> {
        let (if_match, if_none_match) = apply_put_cond(&cond);
        let completed = CompletedMultipartUpload::builder()
            .set_parts(Some(
                parts
                    .iter()
                    .map(|(n, e)| CompletedPart::builder().part_number(*n).e_tag(e).build())
                    .collect(),
            ))
            .build();
        let out = self
            .client
            .complete_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .multipart_upload(completed)
            .set_if_match(if_match)
            .set_if_none_match(if_none_match)
            .customize()
            .timeout_for(parts.len() as u64 * (16 << 20) / 16)
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("complete_multipart", key)))?;
        self.with_etag(key, out.e_tag(), out.version_id().map(str::to_owned))
            .await
    }

    pub(super) async fn multipart_abort(&self, key: &str, upload_id: &str) -> Result<()> {
        self.client
            .abort_multipart_upload()
            .bucket(&self.bucket)
            .key(key)
            .upload_id(upload_id)
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("abort_multipart", key)))?;
        Ok(())
    }

    pub(super) async fn copy_object(
        &self,
        src_key: &str,
        src_version: Option<&str>,
        src_etag: Option<&str>,
        dst_key: &str,
        meta: &ObjectMeta,
        cond: Condition,
    ) -> Result<PutResult> {
        let src = match self.head(src_key, src_version).await? {
            Some(h) if h.delete_marker => {
                return Err(StoreError::MethodNotAllowed {
                    key: src_key.into(),
                });
            }
            Some(h) if src_etag.is_some_and(|e| e != h.etag) => {
                return Err(StoreError::PreconditionFailed {
                    key: src_key.into(),
                });
            }
            Some(h) => h,
            None => {
                return Err(StoreError::NotFound {
                    key: src_key.into(),
                });
            }
        };
        if src.size > MAX_COPY_OBJECT_BYTES {
            return self
                .copy_multipart(src_key, src_version, &src, dst_key, meta, cond)
                .await;
        }
        let (if_match, if_none_match) = apply_put_cond(&cond);
        let out = self
            .client
            .copy_object()
            .bucket(&self.bucket)
            .key(dst_key)
            .copy_source(copy_source(&self.bucket, src_key, src_version))
            .set_copy_source_if_match(src_etag.map(str::to_owned))
            .metadata_directive(MetadataDirective::Replace)
            .set_metadata(Some(meta.encode()))
            .set_if_match(if_match)
            .set_if_none_match(if_none_match)
            .customize()
            .timeout_for(src.size / 16)
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("copy", dst_key)))?;
        let etag = out.copy_object_result().and_then(|r| r.e_tag());
        self.with_etag(dst_key, etag, out.version_id().map(str::to_owned))
            .await
    }
}
