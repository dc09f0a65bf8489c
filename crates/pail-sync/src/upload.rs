//! Uploads: single PUT below the multipart threshold, resumable parallel multipart above it,
//! server-side copy when the content already exists remotely. Every write is conditional
//! where the server honours conditions; elsewhere a HEAD check narrows the race window and
//! the version list exposes a lost race afterwards (see `race.rs`).

use std::fs::File;
use std::os::unix::fs::FileExt;
use std::sync::Arc;

use anyhow::{Context, Result, anyhow};
use bytes::Bytes;
use futures::{StreamExt, TryStreamExt};
use pail_core::plan::RemoteExpect;
use pail_core::{Base, LocalFile, RelPath, RemoteRef};
use pail_index::{MultipartUpload, hash_bytes, stat_path};
use pail_s3::{Condition, ObjectMeta, PutResult, StoreError};
use tokio::sync::Semaphore;

use crate::ctx::PairCtx;
use crate::exec::Outcome;
use crate::localfs::same_stat;

/// S3 allows at most 10,000 parts per upload.
const MAX_PARTS: u64 = 10_000;
const MIB: u64 = 1024 * 1024;

pub(crate) fn meta_for(ctx: &PairCtx, local: &LocalFile) -> ObjectMeta {
    ObjectMeta {
        blake3: Some(local.hash),
        mtime_ns: Some(local.stat.mtime_ns),
        device: Some(ctx.cfg.device.clone()),
    }
}

/// The condition to send, or `None` when the server ignores conditions and a HEAD check
/// has to stand in.
fn condition(ctx: &PairCtx, expect: &RemoteExpect) -> Condition {
    if !ctx.caps.conditional_writes {
        return Condition::None;
    }
    match expect {
        RemoteExpect::Absent => Condition::IfAbsent,
        RemoteExpect::Is(r) => Condition::IfMatch(r.etag.clone()),
    }
}

/// Without server-side conditions: is the remote still what the plan expects?
pub(crate) async fn remote_still(ctx: &PairCtx, key: &str, expect: &RemoteExpect) -> Result<bool> {
    if ctx.caps.conditional_writes {
        return Ok(true);
    }
    let head = ctx.store.head(key, None).await?;
    Ok(match (expect, head) {
        (RemoteExpect::Absent, None) => true,
        (RemoteExpect::Absent, Some(h)) => h.delete_marker,
        (RemoteExpect::Is(r), Some(h)) => !h.delete_marker && h.etag == r.etag,
        (RemoteExpect::Is(_), None) => false,
    })
}

/// Uploads one file.
pub(crate) async fn upload(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    local: &LocalFile,
    expect: &RemoteExpect,
    parts: &Arc<Semaphore>,
) -> Result<Outcome> {
    let key = ctx.key(path)?;
    let abs = ctx.abs(path);
    let before = match stat_path(&abs) {
        Ok(s) => s,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Ok(Outcome::Deferred("deleted since the scan".into()));
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", abs.display())),
    };
    if !same_stat(&before, &local.stat) {
        return Ok(Outcome::Deferred("changed since the scan".into()));
    }
    if !crate::trash::before_replacing(ctx, &key, expect).await? {
        return Ok(Outcome::Deferred("remote changed since the listing".into()));
    }
    let meta = meta_for(ctx, local);
    let cond = condition(ctx, expect);
    let put = if local.stat.size < ctx.cfg.multipart_threshold {
        // Read into memory: every retry then sends exactly the bytes that were hashed.
        let data = tokio::fs::read(&abs)
            .await
            .with_context(|| format!("cannot read {}", abs.display()))?;
        if hash_bytes(&data) != local.hash {
            return Ok(Outcome::Deferred("changed while being read".into()));
        }
        let body = Bytes::from(data);
        ctx.store.put(&key, body.clone(), &meta, cond.clone()).await
    } else {
        match multipart(ctx, path, &key, local, &meta, cond, parts).await? {
            Some(r) => Ok(r),
            None => return Ok(Outcome::Deferred("changed during upload".into())),
        }
    };
    let put = match put {
        Ok(p) => p,
        Err(StoreError::PreconditionFailed { .. }) | Err(StoreError::NotFound { .. }) => {
            return Ok(Outcome::Deferred(
                "another device wrote it first (412)".into(),
            ));
        }
        Err(e) => {
            return Err(e).with_context(|| format!("uploading {path} to {}", ctx.remote_url(path)));
        }
    };
    // Tenet 6: a file that changed while it was sent is sent again, never recorded.
    let after = stat_path(&abs).with_context(|| format!("cannot read {}", abs.display()))?;
    if !same_stat(&after, &before) {
        return Ok(Outcome::Deferred("changed during upload".into()));
    }
    finish_write(ctx, path, &key, local, put, expect).await
}

/// Records a completed write as the new base, after checking for a lost race where the
/// server could not enforce the condition.
pub(crate) async fn finish_write(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    key: &str,
    local: &LocalFile,
    put: PutResult,
    expect: &RemoteExpect,
) -> Result<Outcome> {
    let (etag, version_id) = if put.etag.is_empty() {
        // Ceph returns an empty ETag from CompleteMultipartUpload: ask for the real one.
        let head = ctx
            .store
            .head(key, put.version_id.as_deref())
            .await?
            .ok_or_else(|| anyhow!("{key}: uploaded object vanished"))?;
        (head.etag, put.version_id.or(head.version_id))
    } else {
        (put.etag, put.version_id)
    };
    let version_id = ctx.version_id(version_id);
    let remote = RemoteRef {
        etag,
        version_id: version_id.clone(),
        size: local.stat.size,
    };
    ctx.db().set_base(
        path,
        &Base {
            hash: local.hash,
            local: local.stat,
            remote,
        },
    )?;
    if let Some(version) = version_id.filter(|_| !ctx.caps.conditional_writes && ctx.versioned()) {
        ctx.written(crate::race::Written {
            path: path.clone(),
            key: key.to_owned(),
            version,
            expect: expect.clone(),
        });
    }
    Ok(Outcome::Done)
}

/// Part size for a file: the configured size (S3 wants at least 5 MiB, which the config
/// check enforces), raised to keep under 10,000 parts.
fn part_size(ctx: &PairCtx, size: u64) -> u64 {
    let configured = ctx.cfg.part_size.max(1);
    if configured.saturating_mul(MAX_PARTS) >= size {
        configured
    } else {
        size.div_ceil(MAX_PARTS).div_ceil(MIB) * MIB
    }
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
) -> Result<Option<PutResult>> {
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
                let _ = ctx.store.abort_multipart(&m.key, &m.upload_id).await;
                ctx.db().remove_multipart(path)?;
            }
            let upload_id = ctx.store.create_multipart(key, meta).await?;
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
    let file = Arc::new(File::open(ctx.abs(path)).with_context(|| format!("cannot read {path}"))?);
    let done: std::collections::HashSet<i32> = upload.parts.iter().map(|(n, _)| *n).collect();
    let todo: Vec<i32> = (1..=count as i32).filter(|n| !done.contains(n)).collect();
    let resumed_bytes = size.saturating_sub(todo.len() as u64 * psize);
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
            async move {
                let _permit = limit.acquire_owned().await?;
                let offset = (n as u64 - 1) * psize;
                let len = psize.min(size - offset) as usize;
                let data = tokio::task::spawn_blocking(move || -> std::io::Result<Vec<u8>> {
                    let mut buf = vec![0u8; len];
                    file.read_exact_at(&mut buf, offset)?;
                    Ok(buf)
                })
                .await??;
                let body = Bytes::from(data);
                let etag = ctx
                    .store
                    .upload_part(&key, &upload_id, n, body.clone())
                    .await?;
                ctx.db()
                    .add_multipart_part(&upload_id, n, &etag, len as u64)?;
                ctx.progress.advance(path, len as u64);
                anyhow::Ok((n, etag))
            }
        })
        .buffer_unordered(8)
        .try_collect()
        .await?;
    upload.parts.extend(results);
    upload.parts.sort_by_key(|(n, _)| *n);
    // The parts were read from a file that must not have changed since it was hashed.
    let now = stat_path(&ctx.abs(path))?;
    if !same_stat(&now, &local.stat) {
        let _ = ctx.store.abort_multipart(key, &upload.upload_id).await;
        ctx.db().remove_multipart(path)?;
        return Ok(None);
    }
    let result = ctx
        .store
        .complete_multipart(key, &upload.upload_id, &upload.parts, cond.clone())
        .await;
    if !matches!(result, Err(ref e) if e.is_transient()) {
        // Completed, or refused for good (412): either way this upload id is finished.
        if result.is_err() {
            let _ = ctx.store.abort_multipart(key, &upload.upload_id).await;
        }
        ctx.db().remove_multipart(path)?;
    }
    Ok(Some(result?))
}

/// Creates `path` remotely by server-side copy of an object that holds the same content.
/// Falls back to an upload when the source is gone.
pub(crate) async fn copy(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    local: &LocalFile,
    from: &RelPath,
    from_object: &RemoteRef,
    expect: &RemoteExpect,
    parts: &Arc<Semaphore>,
) -> Result<Outcome> {
    let key = ctx.key(path)?;
    let src = ctx.key(from)?;
    let now = stat_path(&ctx.abs(path));
    if !matches!(now, Ok(ref s) if same_stat(s, &local.stat)) {
        return Ok(Outcome::Deferred("changed since the scan".into()));
    }
    let version = from_object.version_id.as_deref().filter(|v| *v != "null");
    if version.is_none() {
        // Without a version id the copy reads whatever is current at the source: make sure it
        // is still the content the plan saw, or the metadata would name the wrong hash.
        let head = ctx.store.head(&src, None).await?;
        if !matches!(head, Some(ref h) if h.etag == from_object.etag) {
            return upload(ctx, path, local, expect, parts).await;
        }
    }
    if !crate::trash::before_replacing(ctx, &key, expect).await? {
        return Ok(Outcome::Deferred("remote changed since the listing".into()));
    }
    let meta = meta_for(ctx, local);
    let cond = condition(ctx, expect);
    let src_etag = version.is_none().then_some(from_object.etag.as_str());
    let res = ctx
        .store
        .copy(&src, version, src_etag, &key, &meta, cond.clone())
        .await;
    match res {
        Ok(put) => finish_write(ctx, path, &key, local, put, expect).await,
        Err(StoreError::PreconditionFailed { .. }) => Ok(Outcome::Deferred(
            "another device wrote it first (412)".into(),
        )),
        Err(e) => {
            tracing::info!(%path, %from, error = %e, "server-side copy failed, uploading instead");
            upload(ctx, path, local, expect, parts).await
        }
    }
}
