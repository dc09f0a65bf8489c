//! Deletes on either side. Remote: a delete marker in a versioned bucket, a trash copy first
//! otherwise. Local: only a file that still matches the base (edit beats delete).

use std::sync::Arc;

use pail_core::plan::{LocalExpect, RemoteExpect};
use pail_core::{LocalFile, RelPath, RemoteRef};
use pail_s3::{Condition, StoreError};
use tokio::sync::Semaphore;

use crate::ctx::PairCtx;
use crate::keep_local::{self, Before};
use crate::localfs::{LocalError, rel, remove_expected, still_expected};
use crate::outcome::{ActionError, Outcome, Written, key_for};
use crate::trash::before_replacing;

pub(crate) async fn delete_remote(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    expect: &RemoteRef,
) -> Result<Outcome, ActionError> {
    let key = key_for(&ctx.remote.prefix, path)?;
    let expect_remote = RemoteExpect::Is(expect.clone());
    if !before_replacing(ctx, &key, &expect_remote).await? {
        return Ok(Outcome::Deferred("remote changed since the listing".into()));
    }
    let cond = if ctx.remote.caps.conditional_writes {
        Condition::IfMatch(expect.etag.clone())
    } else {
        Condition::None
    };
    let deleted = match ctx.remote.store.delete(&key, None, cond).await {
        Ok(d) => Some(d),
        Err(StoreError::NotFound { .. }) => None,
        Err(StoreError::PreconditionFailed { .. }) => {
            return Ok(Outcome::Deferred(
                "changed remotely by another device (412)".into(),
            ));
        }
        Err(source) => {
            return Err(ActionError::DeleteRemote {
                url: ctx.remote.url(path),
                source,
            });
        }
    };
    ctx.db().remove_base(path)?;
    // Where versions stand in for conditions, the version right below the delete marker must
    // be the one the plan meant to delete: another device's write that landed after the
    // check above was deleted unseen, and the race check brings it back (`race.rs`).
    let check = deleted
        .filter(|d| {
            d.delete_marker && ctx.remote.versioned() && !ctx.remote.caps.conditional_writes
        })
        .and_then(|d| d.version_id)
        .map(|version| Written {
            path: path.clone(),
            key,
            version,
            expect: expect_remote,
            deleted: true,
        });
    Ok(if check.is_some() {
        Outcome::Written { bytes: 0, check }
    } else {
        Outcome::Done
    })
}

pub(crate) async fn delete_local(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    expect: &LocalExpect,
    parts: &Arc<Semaphore>,
) -> Result<Outcome, ActionError> {
    if let LocalExpect::Is { stat, hash } = expect {
        if !still_expected(&*ctx.folder()?, rel(path), expect)? {
            return Ok(Outcome::Deferred(
                "local file changed: the edit wins".into(),
            ));
        }
        let local = LocalFile {
            stat: *stat,
            hash: *hash,
        };
        // Without versions, content that no trash copy holds goes there first, unless another
        // pail device deleted the object without seeing it. Then the file stays and, no
        // longer synced, goes back up with the next pass as a new file.
        if keep_local::before_losing(ctx, path, &local, false, parts).await? == Before::KeepAsEdit {
            ctx.db().remove_base(path)?;
            return Ok(Outcome::Deferred(
                "deleted by another device that had not seen this edit: the edit wins".into(),
            ));
        }
    }
    match remove_expected(&*ctx.folder()?, rel(path), expect) {
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
