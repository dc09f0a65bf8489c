//! A file that gives way to a folder of the same name (`Action::Displace`, decided in
//! `pail_core::plan::folders`): each side's file becomes a conflict copy next to the folder
//! or is deleted the way a delete is, before the folder's own files are written.
//!
//! The remote side goes first. A conflict copy there is a server-side copy of exactly the
//! listed object (`x-amz-copy-source-if-match`) to a conflict name made from the device that
//! wrote it (its `pail-device` metadata, else "other client") and its last-modified time, so
//! that two devices displacing the same object at once agree on one name; then the key is
//! deleted like any remote delete (a delete marker, or a trash copy first without versions).
//! The local side moves to a conflict copy (`move_no_replace`), under the remote copy's name
//! when both hold the same content, so that the next pass only records them as one file.

use std::sync::Arc;

use pail_core::plan::{Fate, LocalExpect};
use pail_core::{LocalFile, RelPath, RemoteObject, conflict::conflict_names};
use pail_index::ConflictRecord;
use pail_s3::{Condition, StoreError};
use time::OffsetDateTime;
use tokio::sync::Semaphore;

use crate::ctx::PairCtx;
use crate::delete::{delete_local, delete_remote};
use crate::download::move_to_conflict_copy;
use crate::localfs::{rel, still_expected};
use crate::outcome::{ActionError, Outcome, key_for};

/// Conflict names tried in the bucket before giving up (each costs a HEAD).
const MAX_REMOTE_NAMES: usize = 100;

/// Runs one `Displace`. Deferred when a side changed since the plan (the next pass decides
/// again, with the folder still there).
pub(crate) async fn displace(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    local: Option<&(LocalFile, Fate)>,
    remote: Option<&(RemoteObject, Fate)>,
    parts: &Arc<Semaphore>,
) -> Result<Outcome, ActionError> {
    let mut deferred = None;
    let mut copies = 0;
    // The remote conflict copy, when it holds the local file's content too.
    let mut shared = None;
    if let Some((object, fate)) = remote {
        let go = match fate {
            Fate::Delete => true,
            Fate::ConflictCopy => match remote_conflict_copy(ctx, path, object).await? {
                Some(copy) => {
                    copies += 1;
                    if local.is_some_and(|(l, _)| object.hash == Some(l.hash)) {
                        shared = Some(copy);
                    }
                    true
                }
                None => false,
            },
        };
        let outcome = if go {
            delete_remote(ctx, path, &object.object).await?
        } else {
            Outcome::Deferred("changed remotely since the listing".into())
        };
        if let Outcome::Deferred(why) = outcome {
            deferred = Some(why);
        }
    }
    if let Some((file, fate)) = local {
        let expect = LocalExpect::Is {
            stat: file.stat,
            hash: file.hash,
        };
        let outcome = match fate {
            Fate::Delete => delete_local(ctx, path, &expect, parts).await?,
            Fate::ConflictCopy => local_conflict_copy(ctx, path, &expect, shared).await?,
        };
        match outcome {
            Outcome::Deferred(why) => deferred = Some(why),
            Outcome::Conflict(_) => copies += 1,
            _ => {}
        }
    }
    if let Some(why) = deferred {
        return Ok(Outcome::Deferred(why));
    }
    // The path is a folder now: no file of that name is synced any more.
    ctx.db().remove_base(path)?;
    tracing::warn!(%path, copies, "a folder took the name of this file");
    Ok(if copies > 0 {
        Outcome::Conflict(0)
    } else {
        Outcome::Done
    })
}

/// Copies the listed object at `path` to a free conflict name in the bucket, and returns the
/// name with the content's writer and time. `None`: the object changed or is gone since the
/// listing (nothing copied).
async fn remote_conflict_copy(
    ctx: &PairCtx,
    path: &RelPath,
    object: &RemoteObject,
) -> Result<Option<(RelPath, String, OffsetDateTime)>, ActionError> {
    let store = ctx.remote.store.as_ref();
    let key = key_for(&ctx.remote.prefix, path)?;
    let Some(head) = store.head(&key, None).await? else {
        return Ok(None);
    };
    if head.delete_marker || head.etag != object.object.etag {
        return Ok(None);
    }
    let device = head
        .meta
        .device
        .clone()
        .unwrap_or_else(|| "other client".into());
    let modified = if object.last_modified_ns > 0 {
        object.last_modified_ns
    } else {
        head.last_modified_ns
    };
    let at = OffsetDateTime::from_unix_timestamp_nanos(i128::from(modified))
        .unwrap_or(OffsetDateTime::UNIX_EPOCH);
    let max = ctx.remote.prefix.max_segment();
    for copy in conflict_names(path, &device, at, max).take(MAX_REMOTE_NAMES) {
        if ctx.abs(&copy).symlink_metadata().is_ok() {
            continue;
        }
        let copy_key = key_for(&ctx.remote.prefix, &copy)?;
        match store.head(&copy_key, None).await? {
            Some(h) if !h.delete_marker => {
                // Another device displaced this very object a moment ago: same copy.
                let same = h.etag == head.etag
                    || (h.meta.blake3.is_some() && h.meta.blake3 == head.meta.blake3);
                if same {
                    return Ok(Some((copy, device.clone(), at)));
                }
                continue;
            }
            _ => {}
        }
        let cond = if ctx.remote.caps.conditional_writes {
            Condition::IfAbsent
        } else {
            Condition::None
        };
        let meta = retagged(ctx, path, &copy, &head.meta);
        match store
            .copy(&key, None, Some(&head.etag), &copy_key, &meta, cond)
            .await
        {
            Ok(_) => {
                ctx.db().add_conflict(&ConflictRecord {
                    path: copy.clone(),
                    original: path.clone(),
                    device: device.clone(),
                    created_at: at,
                })?;
                tracing::warn!(%path, copy = %copy, "the bucket's file gives way to a folder of the same name; kept as a conflict copy");
                return Ok(Some((copy, device.clone(), at)));
            }
            // The source changed, or the name was taken meanwhile: look again.
            Err(StoreError::PreconditionFailed { .. }) => {
                let now = store.head(&key, None).await?;
                if !now.is_some_and(|h| !h.delete_marker && h.etag == head.etag) {
                    return Ok(None);
                }
            }
            Err(StoreError::NotFound { .. }) => return Ok(None),
            Err(source) => {
                return Err(ActionError::ConflictCopyRemote {
                    key: key.clone(),
                    source,
                });
            }
        }
    }
    Err(ActionError::NoConflictName)
}

/// Moves the local file at `path` (still as expected) to a conflict copy: `shared` (the
/// bucket's copy of the same content: name, writer, time) when that name is free here, else
/// this device's own conflict name.
async fn local_conflict_copy(
    ctx: &PairCtx,
    path: &RelPath,
    expect: &LocalExpect,
    shared: Option<(RelPath, String, OffsetDateTime)>,
) -> Result<Outcome, ActionError> {
    if !still_expected(&*ctx.folder()?, rel(path), expect)? {
        return Ok(Outcome::Deferred(
            "local file changed since the scan".into(),
        ));
    }
    let now = OffsetDateTime::now_utc();
    let free = |p: &RelPath| ctx.abs(p).symlink_metadata().is_err();
    // Under the bucket's copy of the same content (and its writer) if that name is free here.
    let (copy, device, at) = match shared.filter(|(p, ..)| free(p)) {
        Some(shared) => shared,
        None => {
            let p = conflict_names(path, &ctx.cfg.device, now, ctx.remote.prefix.max_segment())
                .find(|p| free(p))
                .ok_or(ActionError::NoConflictName)?;
            (p, ctx.cfg.device.clone(), now)
        }
    };
    move_to_conflict_copy(ctx, path, &copy, &device, at)?;
    tracing::warn!(%path, copy = %copy, "a local file gives way to a folder of the same name; kept as a conflict copy");
    Ok(Outcome::Conflict(0))
}

/// The metadata of a server-side copy of the object at `from` to `to`. On an encrypted pair
/// the copy gets the binding tag of its new path, but only if the source's tag binds its
/// hash to `from`: an object someone moved into `from` stays refused under any name.
fn retagged(
    ctx: &PairCtx,
    from: &RelPath,
    to: &RelPath,
    meta: &pail_s3::ObjectMeta,
) -> pail_s3::ObjectMeta {
    let mut meta = meta.clone();
    if let (Some(k), Some(hash)) = (&ctx.remote.key, meta.blake3) {
        let bound = meta
            .binding
            .as_deref()
            .is_some_and(|tag| k.binding_matches(from.as_str(), &hash, tag));
        meta.binding = bound.then(|| k.binding_tag(to.as_str(), &hash));
    }
    meta
}
