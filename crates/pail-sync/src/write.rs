//! The write primitives that uploads, trash copies and keep-local share: the object
//! metadata, the condition a write carries, the HEAD check that stands in for it where the
//! server ignores conditions, resumable multipart uploads, and recording a finished write.
//! They sit below `upload.rs`, `trash.rs` and `keep_local.rs`, so none of those needs another.

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use pail_core::plan::RemoteExpect;
use pail_core::{Base, LocalFile, LocalStat, RelPath, RemoteRef};
use pail_index::MultipartUpload;
use pail_s3::{Condition, ObjectMeta, PutResult};
use tokio::sync::Semaphore;

use crate::buffers::PartBuffers;
use crate::ctx::PairCtx;
use crate::localfs::{rel, same_stat, stat_at};
use crate::outcome::{ActionError, Outcome, Written};

/// S3 allows at most 10,000 parts per upload.
const MAX_PARTS: u64 = 10_000;
const MIB: u64 = 1024 * 1024;

/// Opens the file `path` was scanned as, through the folder's directory handles and without
/// following a symlink (tenet 13): `None` if it changed, was swapped or is gone since the
/// scan (the next pass sees why).
pub(crate) fn open_scanned(
    ctx: &PairCtx,
    path: &RelPath,
    local: &LocalFile,
) -> Result<Option<File>, ActionError> {
    Ok(ctx.folder()?.open_scanned(rel(path), &local.stat)?)
}

/// Files up to this size are read on the async thread: a read of a few pages costs less
/// than handing it to the blocking pool and back (two thread wake-ups per file).
pub(crate) const INLINE_READ: u64 = 64 * 1024;

/// Reads the `size` bytes a file opened by [`open_scanned`] was scanned with: off the async
/// threads, unless it is small. Fewer bytes come back if it shrank. Reading stops at `size`
/// without asking for the end of the file: every caller checks the bytes against the scanned
/// hash, and the upload stats the file again after sending it, which shows a file that grew.
/// For a small file that is one `read` instead of `read_to_end`'s four system calls.
pub(crate) async fn read_all(
    ctx: &PairCtx,
    path: &RelPath,
    file: &File,
    size: u64,
) -> Result<Vec<u8>, ActionError> {
    let abs = ctx.abs(path);
    let read = move |file: &File| {
        let mut data = vec![0u8; size as usize];
        let filled = pail_index::hash::read_full(file, &mut data)
            .map_err(|source| ActionError::Read { path: abs, source })?;
        data.truncate(filled);
        Ok(data)
    };
    if size <= INLINE_READ {
        return read(file);
    }
    // The caller keeps its handle (to stat the file after sending it): the blocking read
    // gets a second one on the same open file.
    let file = file.try_clone().map_err(|source| ActionError::Read {
        path: ctx.abs(path),
        source,
    })?;
    tokio::task::spawn_blocking(move || read(&file)).await?
}

/// The body of a single PUT of a file opened by [`open_scanned`]: read whole (every retry
/// then sends exactly the bytes that were hashed), checked against the scanned hash, and on
/// an encrypted pair encrypted. `None`: the file changed since the scan.
pub(crate) async fn put_body(
    ctx: &PairCtx,
    path: &RelPath,
    file: &File,
    local: &LocalFile,
) -> Result<Option<Bytes>, ActionError> {
    let data = read_all(ctx, path, file, local.stat.size).await?;
    if ctx.remote.hashing().hash_bytes(&data) != local.hash {
        return Ok(None);
    }
    Ok(Some(match &ctx.remote.key {
        Some(k) => crate::sealed::encrypt_bytes(k, data).await?,
        None => Bytes::from(data),
    }))
}

/// The stat of a file opened by [`open_scanned`], taken through its handle: `None` once no
/// name in any directory links to it (deleted, or replaced by a rename over it). A change of
/// its content shows in size and times; a rename shows in its ctime on Linux filesystems, and
/// where it does not, the file is recorded under its old path, which the next scan finds
/// gone, as it would have had the rename come a moment after the upload. It saves walking the
/// directories again as [`stat_now`] does: 4% of pail's CPU per small file (bench/README.md).
pub(crate) fn stat_open(
    ctx: &PairCtx,
    path: &RelPath,
    file: &File,
) -> Result<Option<LocalStat>, ActionError> {
    crate::safe_dir::open_stat(file).map_err(|source| ActionError::Read {
        path: ctx.abs(path),
        source,
    })
}

/// The stat of `path` now, through the folder's directory handles; `None` if gone.
pub(crate) fn stat_now(ctx: &PairCtx, path: &RelPath) -> Result<Option<LocalStat>, ActionError> {
    Ok(stat_at(&*ctx.folder()?, rel(path))?)
}

/// The metadata pail writes with a file's content, stored for `path`. On an encrypted pair
/// the hash is the keyed one (the index holds no other) and the binding tag ties it to
/// `path`: a server-side copy gets the tag of its new path, never its source's.
pub(crate) fn meta_for(ctx: &PairCtx, path: &RelPath, local: &LocalFile) -> ObjectMeta {
    ObjectMeta {
        blake3: Some(local.hash),
        mtime_ns: Some(local.stat.mtime_ns),
        device: Some(ctx.cfg.device.clone()),
        binding: ctx
            .remote
            .key
            .as_ref()
            .map(|k| k.binding_tag(path.as_str(), &local.hash)),
    }
}

/// The condition to send, or `None` when the server ignores conditions and a HEAD check
/// has to stand in.
pub(crate) fn condition(ctx: &PairCtx, expect: &RemoteExpect) -> Condition {
    if !ctx.remote.caps.conditional_writes {
        return Condition::None;
    }
    match expect {
        RemoteExpect::Absent => Condition::IfAbsent,
        RemoteExpect::Is(r) => Condition::IfMatch(r.etag.clone()),
    }
}

/// Without server-side conditions: is the remote still what the plan expects?
pub(crate) async fn remote_still(
    ctx: &PairCtx,
    key: &str,
    expect: &RemoteExpect,
) -> Result<bool, ActionError> {
    if ctx.remote.caps.conditional_writes {
        return Ok(true);
    }
    if let RemoteExpect::Absent = expect {
        let store = ctx.remote.store.as_ref();
        let list_prefix = ctx.remote.prefix.list_prefix();
        if let Some(free) = ctx.new_keys.free(store, &list_prefix, key).await {
            return Ok(free);
        }
    }
    let head = ctx.remote.store.head(key, None).await?;
    Ok(match (expect, head) {
        (RemoteExpect::Absent, None) => true,
        (RemoteExpect::Absent, Some(h)) => h.delete_marker,
        (RemoteExpect::Is(r), Some(h)) => !h.delete_marker && h.etag == r.etag,
        (RemoteExpect::Is(_), None) => false,
    })
}

/// Records a completed write as the new base. Where the server could not enforce the
/// write's condition on a versioned bucket, the outcome carries the record of the write for
/// the race check after the phase (`race.rs`).
pub(crate) async fn finish_write(
    ctx: &PairCtx,
    path: &RelPath,
    key: &str,
    local: &LocalFile,
    put: PutResult,
    expect: &RemoteExpect,
    bytes: u64,
) -> Result<Outcome, ActionError> {
    let (etag, version_id) = if put.etag.is_empty() {
        // Ceph returns an empty ETag from CompleteMultipartUpload: ask for the real one.
        let head = ctx
            .remote
            .store
            .head(key, put.version_id.as_deref())
            .await?
            .ok_or_else(|| ActionError::Vanished { key: key.into() })?;
        (head.etag, put.version_id.or(head.version_id))
    } else {
        (put.etag, put.version_id)
    };
    let version_id = ctx.remote.version_id(version_id);
    let remote = RemoteRef {
        etag,
        version_id: version_id.clone(),
        size: local.stat.size,
    };
    ctx.record_write(
        path,
        Base {
            hash: local.hash,
            local: local.stat,
            remote,
        },
    )?;
    let check = version_id
        .filter(|_| !ctx.remote.caps.conditional_writes && ctx.remote.versioned())
        .map(|version| Written {
            path: path.clone(),
            key: key.to_owned(),
            version,
            expect: expect.clone(),
            deleted: false,
        });
    Ok(Outcome::Written { bytes, check })
}

/// Part size for a file: the configured size (S3 wants at least 5 MiB, which the config
/// check enforces), raised to keep under 10,000 parts.
pub(crate) fn part_size(ctx: &PairCtx, size: u64) -> u64 {
    let configured = ctx.cfg.part_size.max(1);
    if configured.saturating_mul(MAX_PARTS) >= size {
        configured
    } else {
        size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB
    }
}

/// Sends part `n` of an upload (the caller holds its permit of the parts limit) within the
/// upload rate limit, and records it for a resumed upload and the progress display.
pub(crate) async fn send_part(
    ctx: &PairCtx,
    path: &RelPath,
    key: &str,
    upload_id: &str,
    n: i32,
    body: Bytes,
) -> Result<(i32, String), ActionError> {
    let len = body.len() as u64;
    ctx.limits.upload(len).await;
    let etag = ctx
        .remote
        .store
        .upload_part(key, upload_id, n, body)
        .await?;
    ctx.db().add_multipart_part(upload_id, n, &etag, len)?;
    ctx.progress.advance(path, len);
    Ok((n, etag))
}

/// Multipart upload with parallel parts, resumed from the index when the same file content
/// was interrupted before. `None`: the file changed under us (the upload is aborted).
pub(crate) async fn multipart(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    key: &str,
    local: &LocalFile,
    meta: &ObjectMeta,
    cond: Condition,
    parts_limit: &Arc<Semaphore>,
) -> Result<Option<PutResult>, ActionError> {
    if let Some(k) = &ctx.remote.key {
        let k = k.clone();
        return crate::sealed::multipart(ctx, &k, path, key, local, meta, cond, parts_limit).await;
    }
    let Some(file) = open_scanned(ctx, path, local)? else {
        return Ok(None);
    };
    let file = Arc::new(file);
    let size = local.stat.size;
    let psize = part_size(ctx, size);
    let count = size.div_ceil(psize).max(1);
    let previous = ctx.db().get_multipart(path)?;
    let mut upload = match previous {
        Some(m)
            if m.key == key
                && m.hash == local.hash
                && m.size == size
                && m.mtime_ns == local.stat.mtime_ns
                && m.inode == local.stat.inode
                && m.part_size == psize =>
        {
            tracing::info!(%path, parts_done = m.parts.len(), "resuming multipart upload");
            m
        }
        stale => {
            if let Some(m) = stale {
                let _ = ctx.remote.store.abort_multipart(&m.key, &m.upload_id).await;
                ctx.db().remove_multipart(path)?;
            }
            let upload_id = ctx.remote.store.create_multipart(key, meta).await?;
            let m = MultipartUpload {
                path: path.clone(),
                key: key.to_owned(),
                upload_id,
                hash: local.hash,
                size,
                mtime_ns: local.stat.mtime_ns,
                inode: local.stat.inode,
                part_size: psize,
                created_at: time::OffsetDateTime::now_utc(),
                parts: Vec::new(),
            };
            ctx.db().put_multipart(&m)?;
            m
        }
    };
    let done: std::collections::HashSet<i32> = upload.parts.iter().map(|(n, _)| *n).collect();
    let todo: Vec<i32> = (1..=count as i32).filter(|n| !done.contains(n)).collect();
    let resumed_bytes = size.saturating_sub(todo.len() as u64 * psize);
    let buffers = PartBuffers::new();
    ctx.progress.advance(path, resumed_bytes);
    let results: Vec<(i32, String)> = futures::stream::iter(todo)
        .map(|n| {
            let (ctx, file, upload_id, key) = (
                ctx.clone(),
                file.clone(),
                upload.upload_id.clone(),
                key.to_owned(),
            );
            let limit = parts_limit.clone();
            let path = path.clone();
            let buffers = buffers.clone();
            crate::task::on_own_task(async move {
                // The executor owns the semaphore and never closes it.
                let _permit = limit
                    .acquire_owned()
                    .await
                    .expect("the parts semaphore is never closed");
                let offset = (n as u64 - 1) * psize;
                let len = psize.min(size - offset) as usize;
                let pool = buffers.clone();
                let data = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                    let mut buf = pool.take(len);
                    file.read_exact_at(&mut buf, offset)?;
                    Ok(buf)
                })
                .await??;
                send_part(&ctx, &path, &key, &upload_id, n, buffers.body(data)).await
            })
        })
        // Up to `transfers` parts of one file in flight (the parts semaphore bounds all
        // files' parts together): a big file alone keeps the link as busy as many files.
        .buffer_unordered(ctx.cfg.transfers.max(1))
        .try_collect()
        .await?;
    upload.parts.extend(results);
    complete_multipart(ctx, path, key, local, upload, cond).await
}

/// Completes a multipart upload whose parts are all sent, unless the file changed since it
/// was hashed (then the upload is aborted: `None`).
pub(crate) async fn complete_multipart(
    ctx: &PairCtx,
    path: &RelPath,
    key: &str,
    local: &LocalFile,
    mut upload: MultipartUpload,
    cond: Condition,
) -> Result<Option<PutResult>, ActionError> {
    upload.parts.sort_by_key(|(n, _)| *n);
    // The parts were read from a file that must not have changed since it was hashed.
    if !stat_now(ctx, path)?.is_some_and(|now| same_stat(&now, &local.stat)) {
        let _ = ctx
            .remote
            .store
            .abort_multipart(key, &upload.upload_id)
            .await;
        ctx.db().remove_multipart(path)?;
        return Ok(None);
    }
    let result = ctx
        .remote
        .store
        .complete_multipart(key, &upload.upload_id, &upload.parts, cond)
        .await;
    if !matches!(result, Err(ref e) if e.is_transient()) {
        // Completed, or refused for good (412): either way this upload id is finished.
        if result.is_err() {
            let _ = ctx
                .remote
                .store
                .abort_multipart(key, &upload.upload_id)
                .await;
        }
        ctx.db().remove_multipart(path)?;
    }
    Ok(Some(result?))
}
