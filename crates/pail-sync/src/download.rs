//! Downloads and conflicts: fetch into a verified temp file next to the target, then place it
//! only if the local file is still what the plan saw (tenets 2, 4, 6).

use std::path::Path;
use std::sync::Arc;

use futures::StreamExt;
use pail_core::plan::{Fate, LocalExpect, conflict_name_unique};
use pail_core::{Base, LocalFile, RelPath, RemoteObject, RemoteRef};
use pail_index::ConflictRecord;
use pail_s3::{GetObject, Head, StoreError};
use tokio::sync::Semaphore;

use crate::ctx::PairCtx;
use crate::keep_local::{self, Before};
use crate::localfs::{
    Downloaded, LocalError, TempWriter, move_no_replace, place, rel, remove_empty_dir,
    still_expected,
};
use crate::outcome::{ActionError, Outcome, key_for};
use crate::safe_dir::SafeError;
use crate::sealed::{DecryptFail, check_download, decrypt_into};

type Result<T, E = ActionError> = std::result::Result<T, E>;

/// Fetches `key` (a version, or the current object) into a temp file next to `target`, made
/// through the folder's directory handles (tenet 13).
/// An object in an archival storage class (Glacier, Deep Archive) cannot be read until
/// restored: [`ActionError::Archived`], whose message says where a restore stands (the
/// executor turns it into a skip, not a failure). `Ok(None)`: the object is gone.
async fn fetch(
    ctx: &PairCtx,
    key: &str,
    version: Option<&str>,
    target: &RelPath,
    progress: Option<&RelPath>,
) -> Result<Option<(Head, Downloaded)>> {
    let get = match ctx.remote.store.get(key, version, None).await {
        Ok(g) => g,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(StoreError::InvalidObjectState { key }) => {
            let state = ctx.remote.store.archive_state(&key, version).await.ok();
            return Err(ActionError::Archived { key, state });
        }
        Err(e) => return Err(e.into()),
    };
    let abs = ctx.abs(target);
    if let Some(clash) = abs
        .parent()
        .and_then(|parent| file_in_the_way(ctx.root(), parent))
    {
        return Err(ActionError::FileInTheWay {
            clash,
            key: key.into(),
        });
    }
    let size = get.head.size;
    // A download that cannot fit is not started (its temp file would fill the disk for
    // nothing); one that runs out while writing says the same. The temp file goes either way.
    crate::space::check_room(ctx.root(), target.as_str(), &abs, size)?;
    let write_err = |source: std::io::Error| {
        if crate::space::is_no_space(&source) {
            crate::space::no_space(ctx.root(), target.as_str(), &abs, size)
        } else {
            ActionError::WriteNextTo {
                path: abs.clone(),
                source,
            }
        }
    };
    let w = TempWriter::create(&*ctx.folder()?, rel(target))
        .map_err(|e| match e {
            LocalError::Io { source, .. } | LocalError::Safe(SafeError::Io { source, .. }) => {
                write_err(source)
            }
            other => other.into(),
        })?
        .with_hashing(&ctx.remote.hashing());
    let GetObject { head, body } = get;
    let w = match &ctx.remote.key {
        // Encrypted: decrypted on the way in; the age format itself says where the object
        // ends, so a cut or extended object fails here.
        Some(k) => decrypt_into(ctx, k, key, size, body, w, progress)
            .await
            .map_err(|e| match e {
                DecryptFail::Body(source) => ActionError::Download {
                    key: key.into(),
                    source,
                },
                DecryptFail::Content(c) => ActionError::Content(c),
                DecryptFail::Write(e) => write_err(e),
            })?,
        None => {
            let w = copy_body(ctx, key, body, w, progress, &write_err).await?;
            if w.len() != head.size {
                return Err(ActionError::ShortDownload {
                    key: key.into(),
                    got: w.len(),
                    expected: head.size,
                });
            }
            w
        }
    };
    let mtime = head.meta.mtime_ns.or(Some(head.last_modified_ns));
    let dl = w.finish(mtime).map_err(write_err)?;
    match &ctx.remote.key {
        Some(k) => check_download(k, &ctx.remote.prefix, key, &head, &dl.hash)?,
        None => {
            if head.meta.blake3.is_some_and(|expected| expected != dl.hash) {
                return Err(ActionError::CorruptDownload { key: key.into() });
            }
        }
    }
    Ok(Some((head, dl)))
}

/// A plain object's body into the temp file.
async fn copy_body(
    ctx: &PairCtx,
    key: &str,
    mut body: futures::stream::BoxStream<'static, Result<bytes::Bytes, StoreError>>,
    mut w: TempWriter,
    progress: Option<&RelPath>,
    write_err: &impl Fn(std::io::Error) -> ActionError,
) -> Result<TempWriter> {
    while let Some(chunk) = body.next().await {
        let chunk = chunk.map_err(|source| ActionError::Download {
            key: key.into(),
            source,
        })?;
        // Waiting here holds the body back: TCP slows the server down to the limit.
        ctx.limits.download(chunk.len() as u64).await;
        if let Some(p) = progress {
            ctx.progress.advance(p, chunk.len() as u64);
        }
        w.write(&chunk).map_err(write_err)?;
    }
    Ok(w)
}

/// The nearest ancestor of `dir` inside `root` that exists as a non-directory.
fn file_in_the_way(root: &Path, dir: &Path) -> Option<std::path::PathBuf> {
    let mut d = Some(dir);
    while let Some(p) = d {
        if p == root || !p.starts_with(root) {
            return None;
        }
        if let Ok(m) = p.symlink_metadata() {
            // A symlink is no file in the way but a boundary, which the walk of `safe_dir`
            // refuses with its own message (tenet 13).
            return if m.is_dir() || m.is_symlink() {
                None
            } else {
                Some(p.to_owned())
            };
        }
        d = p.parent();
    }
    None
}

fn remote_ref(ctx: &PairCtx, head: &Head) -> RemoteRef {
    RemoteRef {
        etag: head.etag.clone(),
        version_id: ctx.remote.version_id(head.version_id.clone()),
        size: ctx.remote.plain_size(head.size),
    }
}

pub(crate) async fn download(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    remote: &RemoteObject,
    expect: &LocalExpect,
    parts: &Arc<Semaphore>,
) -> Result<Outcome> {
    let key = key_for(&ctx.remote.prefix, path)?;
    if *expect == LocalExpect::Absent && ctx.abs(path).symlink_metadata().is_ok_and(|m| m.is_dir())
    {
        // A folder where the bucket has a file. An empty one goes now. One whose synced files
        // this plan deletes (in a later phase) goes with them: the file comes next pass.
        // One that holds only what is not synced (ignored files) keeps its name like any
        // folder: the bucket's file gives way as a conflict copy.
        if !remove_empty_dir(&*ctx.folder()?, rel(path))? {
            if holds_synced_files(ctx, path)? {
                return Ok(Outcome::Deferred(
                    "a folder of the same name is still in the way".into(),
                ));
            }
            let displaced = (remote.clone(), Fate::ConflictCopy);
            return crate::displace::displace(ctx, path, None, Some(&displaced), parts).await;
        }
    }
    if !still_expected(&*ctx.folder()?, rel(path), expect)? {
        return Ok(Outcome::Deferred(
            "local file changed since the scan".into(),
        ));
    }
    if let LocalExpect::Is { stat, hash } = expect {
        let local = LocalFile {
            stat: *stat,
            hash: *hash,
        };
        if keep_local::before_losing(ctx, path, &local, true, parts).await?
            == Before::KeepAsConflict
        {
            return conflict(ctx, path, &local, remote).await;
        }
    }
    let Some((head, dl)) = fetch(ctx, &key, None, path, Some(path)).await? else {
        return Ok(Outcome::Deferred(
            "deleted remotely since the listing".into(),
        ));
    };
    Ok(match place_recorded(ctx, path, dl, &head, expect)? {
        Some(size) => Outcome::Transferred(size),
        None => Outcome::Deferred("local file changed during download".into()),
    })
}

/// Whether the last scan found files to sync below `path` (a folder here).
fn holds_synced_files(ctx: &PairCtx, path: &RelPath) -> Result<bool> {
    let range = [(format!("{path}/"), format!("{path}0"))];
    let mut found = false;
    ctx.db().for_each_state_in(
        &range,
        |_| false,
        |st| -> Result<(), ActionError> {
            found |= st.local.is_some();
            Ok(())
        },
    )?;
    Ok(found)
}

/// Places a verified download at `path` if the local file is still as expected, and records
/// the new base. `None`: the local file changed, nothing was replaced.
fn place_recorded(
    ctx: &PairCtx,
    path: &RelPath,
    dl: Downloaded,
    head: &Head,
    expect: &LocalExpect,
) -> Result<Option<u64>> {
    let (hash, size) = (dl.hash, dl.len);
    match place(dl, &*ctx.folder()?, expect) {
        Ok(stat) => {
            let base = Base {
                hash,
                local: stat,
                remote: remote_ref(ctx, head),
            };
            ctx.db().set_base(path, &base)?;
            Ok(Some(size))
        }
        Err(LocalError::Changed(_)) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Both sides changed: the remote keeps the name, the local content moves to a conflict copy
/// (uploaded by the next pass). Equal content after all is recorded, not a conflict.
pub(crate) async fn conflict(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    local: &LocalFile,
    _remote: &RemoteObject,
) -> Result<Outcome> {
    let key = key_for(&ctx.remote.prefix, path)?;
    let folder = ctx.folder()?;
    let expect = LocalExpect::Is {
        stat: local.stat,
        hash: local.hash,
    };
    if !still_expected(&folder, rel(path), &expect)? {
        return Ok(Outcome::Deferred(
            "local file changed since the scan".into(),
        ));
    }
    let Some((head, dl)) = fetch(ctx, &key, None, path, Some(path)).await? else {
        return Ok(Outcome::Deferred(
            "deleted remotely since the listing".into(),
        ));
    };
    if dl.hash == local.hash {
        drop(dl);
        ctx.db().set_base(
            path,
            &Base {
                hash: local.hash,
                local: local.stat,
                remote: remote_ref(ctx, &head),
            },
        )?;
        return Ok(Outcome::Done);
    }
    let now = time::OffsetDateTime::now_utc();
    let max = ctx.remote.prefix.max_segment();
    let copy = conflict_name_unique(path, &ctx.cfg.device, now, max, |p| {
        ctx.abs(p).symlink_metadata().is_ok()
    })
    .ok_or(ActionError::NoConflictName)?;
    // Re-check right before moving the user's file (tenet 2).
    if !still_expected(&folder, rel(path), &expect)? {
        return Ok(Outcome::Deferred(
            "local file changed during download".into(),
        ));
    }
    dl.keep_mode_of(&folder, rel(path))?;
    move_to_conflict_copy(ctx, path, &copy, &ctx.cfg.device, now)?;
    tracing::warn!(%path, copy = %copy, "conflict: both sides changed; local version kept as a conflict copy");
    Ok(
        match place_recorded(ctx, path, dl, &head, &LocalExpect::Absent)? {
            Some(size) => Outcome::Conflict(size),
            None => Outcome::Deferred("a new local file appeared during the conflict".into()),
        },
    )
}

/// Moves the local file at `path` to its conflict copy `copy` (never over anything) and
/// records the copy, made of `device`'s content at `at`.
pub(crate) fn move_to_conflict_copy(
    ctx: &PairCtx,
    path: &RelPath,
    copy: &RelPath,
    device: &str,
    at: time::OffsetDateTime,
) -> Result<()> {
    move_no_replace(&*ctx.folder()?, rel(path), rel(copy))?;
    ctx.db().add_conflict(&ConflictRecord {
        path: copy.clone(),
        original: path.clone(),
        device: device.to_owned(),
        created_at: at,
    })?;
    Ok(())
}

/// Brings one remote version into the folder as a conflict copy of `path` (used when a lost
/// race buried another device's version).
pub(crate) async fn version_to_conflict_copy(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    key: &str,
    version: &str,
    _expect: &LocalExpect,
) -> Result<()> {
    let now = time::OffsetDateTime::now_utc();
    let head = ctx.remote.store.head(key, Some(version)).await?;
    let device = head
        .as_ref()
        .and_then(|h| h.meta.device.clone())
        .unwrap_or_else(|| "other client".into());
    let max = ctx.remote.prefix.max_segment();
    let copy = conflict_name_unique(path, &device, now, max, |p| {
        ctx.abs(p).symlink_metadata().is_ok()
    })
    .ok_or(ActionError::NoConflictName)?;
    let Some((_, dl)) = fetch(ctx, key, Some(version), &copy, None).await? else {
        return Ok(());
    };
    place(dl, &*ctx.folder()?, &LocalExpect::Absent)?;
    ctx.db().add_conflict(&ConflictRecord {
        path: copy,
        original: path.clone(),
        device,
        created_at: now,
    })?;
    Ok(())
}

/// Brings one remote version into the folder as the file at `path` (used when a delete of
/// ours buried another device's edit: the edit wins). Should a file have appeared there since,
/// the version comes as a conflict copy instead.
pub(crate) async fn version_to_file(
    ctx: &Arc<PairCtx>,
    path: &RelPath,
    key: &str,
    version: &str,
) -> Result<()> {
    let Some((_, dl)) = fetch(ctx, key, Some(version), path, None).await? else {
        return Ok(());
    };
    match place(dl, &*ctx.folder()?, &LocalExpect::Absent) {
        Err(LocalError::Changed(_)) => {
            version_to_conflict_copy(ctx, path, key, version, &LocalExpect::Absent).await
        }
        placed => placed.map(|_| ()).map_err(Into::into),
    }
}

pub(crate) fn rfc3339(t: time::OffsetDateTime) -> String {
    t.format(&time::format_description::well_known::Rfc3339)
        .unwrap_or_default()
}
