//! Trash copies for buckets without versioning (tenet 1): before pail overwrites or deletes
//! an object there, it copies it server-side to `PREFIX/.pail/trash/<path>/<time>-<device>`,
//! so that history and restore still find it. The sync, `restore` and `keep_local.rs` all
//! name and make trash copies through here.

use pail_core::RemotePrefix;
use pail_core::plan::RemoteExpect;
use pail_s3::{Condition, ObjectStore, StoreError};

use crate::ctx::PairCtx;
use crate::outcome::ActionError;
use crate::write::remote_still;

pub use pail_core::layout::{trash_dir, trash_key};

/// The key of a trash copy of `rel` made now, refused when S3 could not store it.
pub fn trash_key_now(
    prefix: &RemotePrefix,
    rel: &str,
    device: &str,
) -> Result<String, ActionError> {
    let dst = trash_key(prefix, rel, time::OffsetDateTime::now_utc(), device);
    if dst.len() > pail_core::names::MAX_KEY_BYTES {
        return Err(ActionError::TrashKeyTooLong { rel: rel.into() });
    }
    Ok(dst)
}

/// Copies the current object at `key` (a file's key under `prefix`) into the trash, if it is
/// still the one with `expected_etag`. The trash copy is named after the key, so a pair with
/// encrypted names shows no name there either. Trashing whatever is current instead would hide a write that
/// raced in since the plan: the device that made it would find its content in the trash and
/// let it be replaced without a conflict copy (see `keep_local.rs`). `Ok(false)`: it changed
/// or is gone; nothing was copied.
pub async fn copy_to_trash(
    store: &dyn ObjectStore,
    prefix: &RemotePrefix,
    device: &str,
    key: &str,
    expected_etag: &str,
) -> Result<bool, ActionError> {
    let rel = key.strip_prefix(&prefix.list_prefix()).unwrap_or(key);
    let Some(head) = store.head(key, None).await? else {
        return Ok(false);
    };
    if head.delete_marker || head.etag != expected_etag {
        return Ok(false);
    }
    let dst = trash_key_now(prefix, rel, device)?;
    // Only the object just checked (copy-source-if-match), under its own metadata.
    let copied = store
        .copy(
            key,
            None,
            Some(expected_etag),
            &dst,
            &head.meta,
            Condition::None,
        )
        .await;
    match copied {
        Ok(_) => Ok(true),
        Err(StoreError::PreconditionFailed { .. } | StoreError::NotFound { .. }) => Ok(false),
        Err(source) => Err(ActionError::TrashCopy {
            key: key.into(),
            source,
        }),
    }
}

/// Right before pail writes `key` (an upload or a server-side copy). On a versioned bucket
/// whose server ignores conditions, a write loses nothing: another writer's version stays
/// below ours, and the race check after the phase (`race.rs`) brings it back as a conflict
/// copy. So no HEAD goes before the write there, and a new or changed small file costs one
/// request (issue 14). Elsewhere, as [`before_replacing`].
pub(crate) async fn before_writing(
    ctx: &PairCtx,
    key: &str,
    expect: &RemoteExpect,
) -> Result<bool, ActionError> {
    if ctx.remote.versioned() && !ctx.remote.caps.conditional_writes {
        return Ok(true);
    }
    before_replacing(ctx, key, expect).await
}

/// Right before pail overwrites or deletes `key`: is it still what the plan expected, and,
/// on a bucket without versions, is it now kept in the trash? One HEAD at most (none where
/// the server enforces conditions and keeps versions). `Ok(false)`: another writer got there
/// first; the caller defers.
pub(crate) async fn before_replacing(
    ctx: &PairCtx,
    key: &str,
    expect: &RemoteExpect,
) -> Result<bool, ActionError> {
    match expect {
        // The trash copy's own check stands in for `remote_still`.
        RemoteExpect::Is(r) if !ctx.remote.versioned() => {
            copy_to_trash(
                ctx.remote.store.as_ref(),
                &ctx.remote.prefix,
                &ctx.cfg.device,
                key,
                &r.etag,
            )
            .await
        }
        _ => remote_still(ctx, key, expect).await,
    }
}
