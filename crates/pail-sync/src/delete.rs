//! Deletes on either side. Remote: a delete marker in a versioned bucket, a trash copy first
//! otherwise. Local: only a file that still matches the base (edit beats delete).

use std::sync::Arc;

use anyhow::{Context, Result};
use pail_core::plan::{LocalExpect, RemoteExpect};
use pail_core::{RelPath, RemoteRef};
use pail_s3::{Condition, StoreError};

use crate::ctx::PairCtx;
use crate::exec::Outcome;
use crate::localfs::{LocalError, remove_expected};
use crate::retry::transient;
use crate::upload::remote_still;

pub(crate) async fn delete_remote(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    expect: &RemoteRef,
) -> Result<Outcome> {
    let key = ctx.key(path)?;
    let expect_remote = RemoteExpect::Is(expect.clone());
    if !remote_still(ctx, &key, &expect_remote).await? {
        return Ok(Outcome::Deferred("remote changed since the listing".into()));
    }
    crate::trash::keep(ctx, &key).await?;
    let cond = if ctx.caps.conditional_writes {
        Condition::IfMatch(expect.etag.clone())
    } else {
        Condition::None
    };
    match transient(|| ctx.store.delete(&key, None, cond.clone())).await {
        Ok(_) | Err(StoreError::NotFound { .. }) => {}
        Err(StoreError::PreconditionFailed { .. }) => {
            return Ok(Outcome::Deferred(
                "changed remotely by another device (412)".into(),
            ));
        }
        Err(e) => return Err(e).with_context(|| format!("deleting {}", ctx.remote_url(path))),
    }
    ctx.db().remove_base(path)?;
    Ok(Outcome::Done)
}

pub(crate) fn delete_local(ctx: &PairCtx, path: &RelPath, expect: &LocalExpect) -> Result<Outcome> {
    match remove_expected(ctx.root(), &ctx.abs(path), expect) {
        Ok(()) => {
            ctx.db().remove_base(path)?;
            Ok(Outcome::Done)
        }
        Err(LocalError::Changed(_)) => Ok(Outcome::Deferred(
            "local file changed: the edit wins".into(),
        )),
        Err(e) => Err(e.into()),
    }
}
