//! Uploads: single PUT below the multipart threshold, resumable parallel multipart above it,
//! server-side copy when the content already exists remotely. Every write is conditional
//! where the server honours conditions; elsewhere a HEAD check narrows the race window and
//! the version list exposes a lost race afterwards (see `race.rs`).

use std::sync::Arc;

use pail_core::plan::RemoteExpect;
use pail_core::{LocalFile, RelPath, RemoteRef};
use pail_s3::StoreError;
use tokio::sync::Semaphore;

use crate::ctx::PairCtx;
use crate::localfs::same_stat;
use crate::outcome::{ActionError, Outcome, key_for};
use crate::trash::before_writing;
use crate::write::{
    condition, finish_write, meta_for, multipart, open_scanned, put_body, stat_now, stat_open,
};

/// Uploads one file.
pub(crate) async fn upload(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    local: &LocalFile,
    expect: &RemoteExpect,
    parts: &Arc<Semaphore>,
) -> Result<Outcome, ActionError> {
    let key = key_for(&ctx.remote.prefix, path)?;
    // The file the scan saw, opened now (never through a symlink): a swapped or edited file
    // waits for the next pass's scan.
    let Some(file) = open_scanned(ctx, path, local)? else {
        return Ok(Outcome::Deferred("changed since the scan".into()));
    };
    let before = local.stat;
    if !before_writing(ctx, &key, expect).await? {
        return Ok(Outcome::Deferred("remote changed since the listing".into()));
    }
    let meta = meta_for(ctx, path, local);
    let cond = condition(ctx, expect);
    // Should the process die between the PUT and its record, the next pass knows the object
    // for this device's own (see `Index::adopt_own_uploads`): the executor noted the pass's
    // uploads and copies before the first started (`exec::note_pending_writes`).
    let put = if local.stat.size < ctx.cfg.multipart_threshold {
        let Some(body) = put_body(ctx, path, &file, local).await? else {
            return Ok(Outcome::Deferred("changed while being read".into()));
        };
        ctx.limits.upload(body.len() as u64).await;
        ctx.remote.store.put(&key, body, &meta, cond).await
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
        Err(source) => {
            return Err(ActionError::Upload {
                path: path.clone(),
                url: ctx.remote.url(path),
                source,
            });
        }
    };
    crash_point_for_tests(path);
    // Tenet 6: a file that changed while it was sent is sent again, never recorded. One
    // deleted meanwhile is not recorded either: the object is in the bucket, noted as this
    // device's own pending upload, so the next pass takes it as the base and deletes it
    // remotely as the user did locally. The stat comes through the handle opened above.
    let Some(after) = stat_open(ctx, path, &file)? else {
        return Ok(Outcome::Deferred("deleted during upload".into()));
    };
    if !same_stat(&after, &before) {
        return Ok(Outcome::Deferred("changed during upload".into()));
    }
    finish_write(ctx, path, &key, local, put, expect, local.stat.size).await
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
) -> Result<Outcome, ActionError> {
    let key = key_for(&ctx.remote.prefix, path)?;
    let src = key_for(&ctx.remote.prefix, from)?;
    if !stat_now(ctx, path)?.is_some_and(|now| same_stat(&now, &local.stat)) {
        return Ok(Outcome::Deferred("changed since the scan".into()));
    }
    let version = from_object.version_id.as_deref().filter(|v| *v != "null");
    if version.is_none() {
        // Without a version id the copy reads whatever is current at the source: make sure it
        // is still the content the plan saw, or the metadata would name the wrong hash.
        let head = ctx.remote.store.head(&src, None).await?;
        if !matches!(head, Some(ref h) if h.etag == from_object.etag) {
            return upload(ctx, path, local, expect, parts).await;
        }
    }
    if !before_writing(ctx, &key, expect).await? {
        return Ok(Outcome::Deferred("remote changed since the listing".into()));
    }
    // The tag of the new path: the copy is bound to where it goes.
    let meta = meta_for(ctx, path, local);
    let cond = condition(ctx, expect);
    let src_etag = version.is_none().then_some(from_object.etag.as_str());
    let res = ctx
        .remote
        .store
        .copy(&src, version, src_etag, &key, &meta, cond)
        .await;
    match res {
        Ok(put) => finish_write(ctx, path, &key, local, put, expect, 0).await,
        Err(StoreError::PreconditionFailed { .. }) => Ok(Outcome::Deferred(
            "another device wrote it first (412)".into(),
        )),
        Err(e) => {
            tracing::info!(%path, %from, error = %e, "server-side copy failed, uploading instead");
            upload(ctx, path, local, expect, parts).await
        }
    }
}

/// The end-to-end tests' way to kill pail at the worst moment: with
/// `PAIL_TEST_CRASH_AFTER_PUT=<path>`, the process aborts (no cleanup, like kill -9) right
/// after that path's object was written and before the write is recorded.
fn crash_point_for_tests(path: &RelPath) {
    if std::env::var_os("PAIL_TEST_CRASH_AFTER_PUT").is_some_and(|p| p == path.as_str()) {
        std::process::abort();
    }
}
