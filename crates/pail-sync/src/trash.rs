//! Trash copies for buckets without versioning (tenet 1): before pail overwrites or deletes
//! an object there, it copies it server-side to `PREFIX/.pail/trash/<path>/<time>-<device>`,
//! so that history and restore still find it.

use anyhow::{Context, Result};
use pail_core::plan::RemoteExpect;
use pail_s3::Condition;

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
pub(crate) async fn keep_before_overwrite(
    ctx: &PairCtx,
    key: &str,
    expect: &RemoteExpect,
) -> Result<()> {
    if ctx.versioned() || matches!(expect, RemoteExpect::Absent) {
        return Ok(());
    }
    keep(ctx, key).await
}

/// Copies the current object at `key` (if any) into the trash.
pub(crate) async fn keep(ctx: &PairCtx, key: &str) -> Result<()> {
    if ctx.versioned() {
        return Ok(());
    }
    let Some(head) = transient(|| ctx.store.head(key, None)).await? else {
        return Ok(());
    };
    let rel = key.strip_prefix(&ctx.prefix.list_prefix()).unwrap_or(key);
    let dst = trash_key(ctx, rel, time::OffsetDateTime::now_utc(), &ctx.cfg.device);
    if dst.len() > pail_core::names::MAX_KEY_BYTES {
        anyhow::bail!(
            "{key}: its trash copy key would exceed 1024 bytes, so it cannot be kept before being replaced; enable versioning on the bucket"
        );
    }
    transient(|| ctx.store.copy(key, None, &dst, &head.meta, Condition::None))
        .await
        .with_context(|| format!("keeping {key} in the trash before replacing it"))?;
    Ok(())
}
