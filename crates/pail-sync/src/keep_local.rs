//! Local content that only this device still holds, on buckets that keep no versions
//! (tenet 1: every content pail saw stays recoverable).
//!
//! In a versioned bucket every content pail synced stays a version. Without versioning, pail
//! copies what it overwrites or deletes into `PREFIX/.pail/trash/` first, so once another pail
//! device replaced a file, the content this device last synced is normally in the trash. It
//! is not when the replacement came from another S3 client, or from a device that never saw
//! it: on a server that also ignores conditional writes (Garage) two devices can write the
//! same key at the same moment, and the later write buries the earlier one. So before a
//! download replaces, or a remote delete removes, a local file on such a bucket, pail looks for
//! its content in the trash (one LIST of that file's trash copies). Missing, the content is
//! kept: as a conflict copy when another pail device wrote over it without seeing it (a lost
//! race, tenet 4); as the file itself, uploaded again, when another pail device deleted the
//! object this device's write had replaced, so never saw that write (tenet 3: the edit beats
//! the delete); otherwise uploaded into the trash, where `history`, `restore` and `undelete`
//! find it.
//!
//! How a delete that raced is told from any other: a pail device copies what it deletes into
//! the trash first, if it is still the object it expects (copy-source-if-match), and names the
//! copy after itself. This device, too, trashed the object its own write replaced. When
//! another device's trash copy holds that same object, it was deleting the object this
//! device replaced: its check and copy came before this device's write and its DELETE after.
//! A delete by another S3 client leaves no trash copy and cannot be told from a wanted one.

use std::sync::Arc;

use pail_core::layout::trash_copy_device;
use pail_core::{Base, LocalFile, RelPath};
use pail_s3::{Condition, ListedObject, list_all};
use tokio::sync::Semaphore;

use crate::ctx::PairCtx;
use crate::outcome::{ActionError, key_for, rel_key};
use crate::trash::{trash_dir, trash_key_now};
use crate::write::{meta_for, multipart, open_scanned, put_body};

/// How many same-size trash copies with another ETag are HEADed for their pail-blake3 (a
/// server-side copy of a multipart object may get a new ETag).
const MAX_HEADS: usize = 4;

/// What to do before the local content of a path is replaced or removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Before {
    /// The bucket still holds the content (a version or a trash copy), or now does.
    Safe,
    /// Another pail device wrote over the content without seeing it: keep both.
    KeepAsConflict,
    /// Another pail device deleted the object without seeing this content: it stays, and
    /// goes back up as the file (the edit beats the delete).
    KeepAsEdit,
}

/// Makes sure the local content of `path` (`local`, which matches the base) stays recoverable
/// before a download replaces it (`replaced_by_download`) or a remote delete removes it.
pub(crate) async fn before_losing(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    local: &LocalFile,
    replaced_by_download: bool,
    parts: &Arc<Semaphore>,
) -> Result<Before, ActionError> {
    if ctx.remote.versioned() {
        return Ok(Before::Safe);
    }
    let base = ctx.db().get_base(path)?;
    let copies = trash_copies(ctx, path).await?;
    if in_trash(ctx, &copies, local, base.as_ref()).await? {
        return Ok(Before::Safe);
    }
    if !replaced_by_download && deleted_unseen(ctx, &copies).await? {
        tracing::warn!(%path, "another device deleted this file without seeing this device's edit; the edit stays and goes back up");
        return Ok(Before::KeepAsEdit);
    }
    if replaced_by_download {
        let key = key_for(&ctx.remote.prefix, path)?;
        let writer = ctx
            .remote
            .store
            .head(&key, None)
            .await?
            .and_then(|h| h.meta.device);
        if writer.is_some_and(|d| d != ctx.cfg.device) {
            tracing::warn!(%path, "another device wrote over this file without seeing it; keeping both");
            return Ok(Before::KeepAsConflict);
        }
    }
    to_trash(ctx, path, local, parts).await?;
    tracing::info!(%path, "kept in the trash before being replaced (the bucket had no copy)");
    Ok(Before::Safe)
}

/// A trash copy of one file, and the device that made it.
struct TrashCopy {
    object: ListedObject,
    device: String,
}

/// The trash copies of `path` (one LIST), newest first.
async fn trash_copies(ctx: &PairCtx, path: &RelPath) -> Result<Vec<TrashCopy>, ActionError> {
    let dir = trash_dir(&ctx.remote.prefix, &rel_key(&ctx.remote.prefix, path)?);
    let mut copies = Vec::new();
    list_all(ctx.remote.store.as_ref(), &dir, |o| {
        // Copies of this file only, not of files below a folder of the same name.
        let name = &o.key[dir.len()..];
        if !name.contains('/') {
            let device = trash_copy_device(name).unwrap_or_default().to_owned();
            copies.push(TrashCopy { object: o, device });
        }
    })
    .await
    .map_err(|source| ActionError::ListTrash {
        path: path.clone(),
        source,
    })?;
    // The stamp leads the name: newest first.
    copies.sort_by(|a, b| b.object.key.cmp(&a.object.key));
    Ok(copies)
}

/// Whether a trash copy holds this content: the ETag the base recorded, else the
/// pail-blake3 of a same-size copy.
async fn in_trash(
    ctx: &PairCtx,
    copies: &[TrashCopy],
    local: &LocalFile,
    base: Option<&Base>,
) -> Result<bool, ActionError> {
    let same_size: Vec<&ListedObject> = copies
        .iter()
        .map(|c| &c.object)
        .filter(|o| ctx.remote.plain_size(o.size) == local.stat.size)
        .collect();
    let etag = base
        .filter(|b| b.hash == local.hash)
        .map(|b| b.remote.etag.as_str());
    if same_size.iter().any(|o| Some(o.etag.as_str()) == etag) {
        return Ok(true);
    }
    for copy in same_size.iter().take(MAX_HEADS) {
        if blake3_of(ctx, copy).await? == Some(local.hash) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Whether another pail device trashed, to delete it, the object that this device's newest
/// trash copy holds: the object this device's last write replaced (see the module's comment).
/// A copy is the same object by ETag, else by size and pail-blake3 (a server-side copy of a
/// multipart object may get a new ETag).
async fn deleted_unseen(ctx: &PairCtx, copies: &[TrashCopy]) -> Result<bool, ActionError> {
    let own = &ctx.cfg.device;
    let Some(ours) = copies.iter().find(|c| c.device == *own) else {
        return Ok(false);
    };
    let theirs = || {
        copies
            .iter()
            .filter(|c| !c.device.is_empty() && c.device != *own)
            .map(|c| &c.object)
            .filter(|o| o.size == ours.object.size)
    };
    if theirs().any(|o| o.etag == ours.object.etag) {
        return Ok(true);
    }
    let Some(hash) = blake3_of(ctx, &ours.object).await? else {
        return Ok(false);
    };
    for other in theirs().take(MAX_HEADS) {
        if blake3_of(ctx, other).await? == Some(hash) {
            return Ok(true);
        }
    }
    Ok(false)
}

/// The pail-blake3 of a trash copy (one HEAD).
async fn blake3_of(
    ctx: &PairCtx,
    copy: &ListedObject,
) -> Result<Option<pail_core::ContentHash>, ActionError> {
    let head = ctx.remote.store.head(&copy.key, None).await?;
    Ok(head.and_then(|h| h.meta.blake3))
}

/// Uploads the local file into the trash, as the trash copy of `path` made now.
async fn to_trash(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    local: &LocalFile,
    parts: &Arc<Semaphore>,
) -> Result<(), ActionError> {
    let dst = trash_key_now(
        &ctx.remote.prefix,
        &rel_key(&ctx.remote.prefix, path)?,
        &ctx.cfg.device,
    )?;
    // Bound to the file's own path: the trash copy holds that path's content.
    let meta = meta_for(ctx, path, local);
    let changed = || ActionError::ChangedWhileTrashing { path: path.clone() };
    let failed = |e: ActionError| ActionError::TrashUpload {
        path: path.clone(),
        source: Box::new(e),
    };
    if local.stat.size < ctx.cfg.multipart_threshold {
        let file = open_scanned(ctx, path, local)?.ok_or_else(changed)?;
        let body = put_body(ctx, path, &file, local)
            .await?
            .ok_or_else(changed)?;
        ctx.remote
            .store
            .put(&dst, body, &meta, Condition::None)
            .await
            .map_err(|e| failed(e.into()))?;
    } else {
        multipart(ctx, path, &dst, local, &meta, Condition::None, parts)
            .await
            .map_err(failed)?
            .ok_or_else(changed)?;
    }
    Ok(())
}
