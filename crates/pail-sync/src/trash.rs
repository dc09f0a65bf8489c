//! Trash copies for buckets without versioning (tenet 1): before pail overwrites or deletes
//! an object there, it copies it server-side to `PREFIX/.pail/trash/<path>/<time>-<device>`,
//! so that history and restore still find it.

use anyhow::{Context, Result};
use pail_core::plan::RemoteExpect;
use pail_s3::{Condition, StoreError};

use crate::ctx::PairCtx;
use crate::retry::transient;

/// The trash key for an object of `path` replaced at `at` (RFC 3339-ish, sortable).
pub fn trash_key(ctx: &PairCtx, rel: &str, at: time::OffsetDateTime, device: &str) -> String {
    let stamp = at
        .format(&time::macros::format_description!(
            "[year][month][day]T[hour][minute][second].[subsecond digits:6]Z"
        ))
        .unwrap_or_default();
    ctx.prefix
        .reserved_key(&format!("trash/{rel}/{stamp}-{device}"))
}

/// Keeps the current object at `key` in the trash if the bucket would otherwise lose it.
/// `Ok(false)`: the object is no longer the one the plan expected (another device wrote it
/// since the check): nothing was written, and the caller defers.
pub(crate) async fn keep_before_overwrite(
    ctx: &PairCtx,
    key: &str,
    expect: &RemoteExpect,
) -> Result<bool> {
    match expect {
        _ if ctx.versioned() => Ok(true),
        RemoteExpect::Absent => Ok(true),
        RemoteExpect::Is(r) => keep(ctx, key, &r.etag).await,
    }
}

/// Copies the current object at `key` into the trash, if it is still the one with
/// `expected_etag`. Trashing whatever is current instead would hide a write that raced in
/// since the plan: the device that made it would find its content in the trash and let it be
/// replaced without a conflict copy (see `keep_local.rs`). `Ok(false)`: it changed (or is
/// gone); nothing was copied.
pub(crate) async fn keep(ctx: &PairCtx, key: &str, expected_etag: &str) -> Result<bool> {
    if ctx.versioned() {
        return Ok(true);
    }
    let Some(head) = transient(|| ctx.store.head(key, None)).await? else {
        return Ok(false);
    };
    if head.etag != expected_etag {
        return Ok(false);
    }
    let rel = key.strip_prefix(&ctx.prefix.list_prefix()).unwrap_or(key);
    let dst = trash_key(ctx, rel, time::OffsetDateTime::now_utc(), &ctx.cfg.device);
    if dst.len() > pail_core::names::MAX_KEY_BYTES {
        anyhow::bail!(
            "{key}: its trash copy key would exceed 1024 bytes, so it cannot be kept before being replaced; enable versioning on the bucket"
        );
    }
    // Only the object just checked: whatever became current since would be kept under the
    // wrong metadata and hide a raced write.
    let copied = transient(|| {
        ctx.store.copy(
            key,
            None,
            Some(expected_etag),
            &dst,
            &head.meta,
            Condition::None,
        )
    })
    .await;
    match copied {
        Ok(_) => Ok(true),
        Err(StoreError::PreconditionFailed { .. } | StoreError::NotFound { .. }) => Ok(false),
        Err(e) => Err(e).with_context(|| format!("keeping {key} in the trash before replacing it")),
    }
}
