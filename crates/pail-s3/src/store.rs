//! The `ObjectStore` trait: exactly the S3 calls pail needs, bound to one bucket.

use std::fmt::Debug;
use std::ops::Range;

use async_trait::async_trait;
use bytes::Bytes;
use futures::stream::BoxStream;

use crate::error::{Result, StoreError};
use crate::types::{
    Condition, DeleteResult, Head, ListPage, ListedObject, ObjectMeta, ObjectVersion, PutResult,
    Versioning, VersionsPage,
};

/// The operations of [`ObjectStore`], for request counters and fault injection.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Op {
    /// ListObjectsV2 ([`ObjectStore::list_page`]).
    List,
    /// ListObjectVersions ([`ObjectStore::list_versions_page`]).
    ListVersions,
    /// HeadObject ([`ObjectStore::head`], [`ObjectStore::archive_state`]).
    Head,
    /// GetObject ([`ObjectStore::get`]).
    Get,
    /// PutObject ([`ObjectStore::put`]).
    Put,
    /// CreateMultipartUpload ([`ObjectStore::create_multipart`]).
    CreateMultipart,
    /// UploadPart ([`ObjectStore::upload_part`]).
    UploadPart,
    /// ListParts ([`ObjectStore::list_parts`]).
    ListParts,
    /// CompleteMultipartUpload ([`ObjectStore::complete_multipart`]).
    CompleteMultipart,
    /// AbortMultipartUpload ([`ObjectStore::abort_multipart`]).
    AbortMultipart,
    /// CopyObject or UploadPartCopy ([`ObjectStore::copy`]).
    Copy,
    /// DeleteObject ([`ObjectStore::delete`]).
    Delete,
    /// GetBucketVersioning ([`ObjectStore::get_versioning`]).
    GetVersioning,
    /// RestoreObject ([`ObjectStore::restore_archived`]).
    RestoreArchived,
}

impl Op {
    /// Every operation, in declaration order.
    pub const ALL: [Op; 14] = [
        Op::List,
        Op::ListVersions,
        Op::Head,
        Op::Get,
        Op::Put,
        Op::CreateMultipart,
        Op::UploadPart,
        Op::ListParts,
        Op::CompleteMultipart,
        Op::AbortMultipart,
        Op::Copy,
        Op::Delete,
        Op::GetVersioning,
        Op::RestoreArchived,
    ];

    /// Snake-case name, used as counter key and in error messages.
    pub fn name(self) -> &'static str {
        match self {
            Op::List => "list",
            Op::ListVersions => "list_versions",
            Op::Head => "head",
            Op::Get => "get",
            Op::Put => "put",
            Op::CreateMultipart => "create_multipart",
            Op::UploadPart => "upload_part",
            Op::ListParts => "list_parts",
            Op::CompleteMultipart => "complete_multipart",
            Op::AbortMultipart => "abort_multipart",
            Op::Copy => "copy",
            Op::Delete => "delete",
            Op::GetVersioning => "get_versioning",
            Op::RestoreArchived => "restore_archived",
        }
    }
}

/// A GET: the object's headers and its body as a stream. Errors in the stream (connection
/// lost mid-body) are transient.
pub struct GetObject {
    /// The object's headers: ETag, version, size, metadata.
    pub head: Head,
    /// The body (or the range asked for), in chunks as they arrive.
    pub body: BoxStream<'static, Result<Bytes, StoreError>>,
}

impl Debug for GetObject {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GetObject")
            .field("head", &self.head)
            .finish_non_exhaustive()
    }
}

impl GetObject {
    /// Reads the whole body into memory (tests and small objects).
    pub async fn collect(self) -> Result<Bytes> {
        use futures::TryStreamExt;
        let chunks: Vec<Bytes> = self.body.try_collect().await?;
        Ok(chunks.concat().into())
    }

    /// Reads the body into memory if it is at most `max` bytes; `None` (after reading no more
    /// than `max` bytes) if it is larger. For objects anyone can write, such as journal
    /// entries, whose size must not decide how much memory pail uses.
    pub async fn collect_at_most(self, max: u64) -> Result<Option<Bytes>> {
        use futures::TryStreamExt;
        if self.head.size > max {
            return Ok(None);
        }
        let mut body = self.body;
        let mut out = Vec::new();
        while let Some(chunk) = body.try_next().await? {
            if (out.len() + chunk.len()) as u64 > max {
                return Ok(None);
            }
            out.extend_from_slice(&chunk);
        }
        Ok(Some(out.into()))
    }
}

/// One bucket of an S3(-compatible) server. Keys are full keys (prefix included). ETags are
/// quoted, exactly as the server returned them, and are opaque.
#[async_trait]
pub trait ObjectStore: Send + Sync + Debug {
    /// The bucket's name.
    fn bucket(&self) -> &str;

    /// The checksum setting in use, recorded by the probe: `"when_required"` for custom
    /// endpoints, `"when_supported"` for AWS.
    fn checksums(&self) -> &'static str {
        "when_required"
    }

    /// One page of ListObjectsV2 under `prefix` (no delimiter), in key order.
    async fn list_page(
        &self,
        prefix: &str,
        continuation: Option<String>,
        start_after: Option<String>,
    ) -> Result<ListPage>;

    /// One page of ListObjectVersions, versions and delete markers merged.
    /// `NotImplemented` on servers without versioning.
    async fn list_versions_page(
        &self,
        prefix: &str,
        key_marker: Option<String>,
        version_id_marker: Option<String>,
    ) -> Result<VersionsPage>;

    /// `None` when the key does not exist or its current version is a delete marker.
    /// With a `version_id` that names a delete marker: `Some` with `delete_marker: true`.
    async fn head(&self, key: &str, version_id: Option<&str>) -> Result<Option<Head>>;

    /// `NotFound` when absent, `MethodNotAllowed` when the version is a delete marker,
    /// `InvalidObjectState` when archived. `range` is in bytes, end exclusive.
    async fn get(
        &self,
        key: &str,
        version_id: Option<&str>,
        range: Option<Range<u64>>,
    ) -> Result<GetObject>;

    /// A single PUT (up to 5 GiB). `PreconditionFailed` when `cond` does not hold; `NotFound`
    /// for `IfMatch` on a missing key (AWS; Ceph says `PreconditionFailed`).
    async fn put(
        &self,
        key: &str,
        body: Bytes,
        meta: &ObjectMeta,
        cond: Condition,
    ) -> Result<PutResult>;

    /// Starts a multipart upload; returns the upload id.
    async fn create_multipart(&self, key: &str, meta: &ObjectMeta) -> Result<String>;

    /// Uploads one part (5 MiB to 5 GiB except the last; numbers 1..=10000); returns its ETag.
    async fn upload_part(
        &self,
        key: &str,
        upload_id: &str,
        part_number: i32,
        body: Bytes,
    ) -> Result<String>;

    /// The parts uploaded so far: (number, etag, size), ascending. `NotFound` when the upload
    /// is gone (completed, aborted or expired).
    async fn list_parts(&self, key: &str, upload_id: &str) -> Result<Vec<(i32, String, u64)>>;

    /// Completes a multipart upload from `parts` (number, ETag), ascending; `cond` as for [`ObjectStore::put`].
    async fn complete_multipart(
        &self,
        key: &str,
        upload_id: &str,
        parts: &[(i32, String)],
        cond: Condition,
    ) -> Result<PutResult>;

    /// Abandons a multipart upload and frees its parts.
    async fn abort_multipart(&self, key: &str, upload_id: &str) -> Result<()>;

    /// Server-side copy with pail's metadata replacing the source's; `cond` applies to the
    /// destination. With `src_etag`, only a source that still has this ETag is copied, else
    /// `PreconditionFailed` (checked against a HEAD of the source, and sent as
    /// `x-amz-copy-source-if-match`, which Garage and AWS honour and Ceph RGW 16 and moto
    /// ignore). Sources over 5 GiB are copied part by part.
    async fn copy(
        &self,
        src_key: &str,
        src_version: Option<&str>,
        src_etag: Option<&str>,
        dst_key: &str,
        meta: &ObjectMeta,
        cond: Condition,
    ) -> Result<PutResult>;

    /// One DeleteObject. Without `version_id` on a versioned bucket this adds a delete marker;
    /// with one it removes that version for good. `cond` may only be `None` or `IfMatch`.
    async fn delete(
        &self,
        key: &str,
        version_id: Option<&str>,
        cond: Condition,
    ) -> Result<DeleteResult>;

    /// `Unsupported` when the server does not implement the call.
    async fn get_versioning(&self) -> Result<Versioning>;

    /// Asks for a temporary readable copy of an archived (GLACIER, DEEP_ARCHIVE) object
    /// version, kept `days` days (RestoreObject). Says where the restore stands.
    async fn restore_archived(
        &self,
        key: &str,
        version_id: Option<&str>,
        days: i32,
    ) -> Result<ArchiveRestore>;

    /// Where a restore of an archived object version stands, without asking for one (HEAD).
    async fn archive_state(&self, key: &str, version_id: Option<&str>) -> Result<ArchiveRestore>;

    /// A URL that lets whoever holds it GET `key` (at `version_id`) for `expires`, without
    /// credentials: a presigned request, made locally (no request is sent). Stores that
    /// cannot make one answer [`StoreError::NotImplemented`].
    async fn presign_get(
        &self,
        key: &str,
        version_id: Option<&str>,
        expires: std::time::Duration,
    ) -> Result<crate::types::Presigned> {
        let _ = (key, version_id, expires);
        Err(StoreError::NotImplemented { op: "presign" })
    }
}

/// The state of a restore from an archival storage class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ArchiveRestore {
    /// Requested now (202): it takes minutes to hours (Deep Archive: up to 48 hours).
    Started,
    /// An earlier request is still running (409 RestoreAlreadyInProgress).
    InProgress,
    /// Readable now (200: already restored; the call extended the days).
    Done,
    /// The object is not in an archival class, so it is readable as it is.
    NotArchived,
    /// Archived, and no restore was asked for (or its readable copy expired).
    NotRequested,
}

/// Reads a HEAD's storage class and `x-amz-restore` header (`ongoing-request="true"` while
/// the restore runs, `ongoing-request="false", expiry-date=...` once readable).
pub fn archive_state_from(storage_class: Option<&str>, restore: Option<&str>) -> ArchiveRestore {
    match restore {
        Some(r) if r.contains("ongoing-request=\"true\"") => ArchiveRestore::InProgress,
        Some(r) if r.contains("ongoing-request=\"false\"") => ArchiveRestore::Done,
        _ if matches!(storage_class, Some("GLACIER" | "DEEP_ARCHIVE")) => {
            ArchiveRestore::NotRequested
        }
        _ => ArchiveRestore::NotArchived,
    }
}

/// Lists every current object under `prefix`, page by page.
pub async fn list_all(
    store: &(impl ObjectStore + ?Sized),
    prefix: &str,
    mut f: impl FnMut(ListedObject),
) -> Result<()> {
    let mut token = None;
    loop {
        let page = store.list_page(prefix, token, None).await?;
        page.objects.into_iter().for_each(&mut f);
        match page.next_token {
            Some(t) => token = Some(t),
            None => return Ok(()),
        }
    }
}

/// Lists every version and delete marker under `prefix`, page by page.
pub async fn list_all_versions(
    store: &(impl ObjectStore + ?Sized),
    prefix: &str,
    mut f: impl FnMut(ObjectVersion),
) -> Result<()> {
    let (mut km, mut vm) = (None, None);
    loop {
        let page = store.list_versions_page(prefix, km, vm).await?;
        page.versions.into_iter().for_each(&mut f);
        if page.next_key_marker.is_none() && page.next_version_id_marker.is_none() {
            return Ok(());
        }
        (km, vm) = (page.next_key_marker, page.next_version_id_marker);
    }
}
