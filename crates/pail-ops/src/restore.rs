//! `pail restore` and `pail undelete`: old content comes back as the new current version, by
//! a server-side copy of the old version (or trash copy) onto the key. Nothing is destroyed:
//! the version being replaced stays a version (or, without versioning, becomes a trash copy
//! first), and every device gets the restored content through its normal sync. `--to DEST`
//! instead downloads a version to a local file and leaves the bucket alone.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, anyhow, bail};
use futures::StreamExt;
use pail_core::RelPath;
use pail_core::plan::LocalExpect;
use pail_s3::{ArchiveRestore, Condition, ObjectMeta, StoreError};

use crate::versions::{Source, Version, current, version_at, versions_of, versions_under};
use crate::when::rfc3339_ns;
use pail_sync::PairRemote;
use pail_sync::localfs::{LocalError, TempWriter, place};
use pail_sync::safe_dir::SafeRoot;
use pail_sync::sealed::{DecryptFail, decrypt_download, verify_download};
use pail_sync::space;

/// Which version to bring back.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Pick {
    /// A version id as `pail history` shows it (`trash:<name>` for trash copies).
    Version(String),
    /// The version that was current at this moment (Unix ns).
    At(i64),
    /// The newest version with content (undelete).
    Newest,
}

/// What restoring one file does to the bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// Copy `from` onto the key; `current` is what it replaces.
    Copy {
        from: Version,
        current: Option<Version>,
    },
    /// Add a delete marker over `current` (`restore --exact` of a file made after TIME).
    Delete { current: Version },
}

/// Chooses the version `pick` names among one file's versions (newest first), and what to do
/// with it. `Ok(None)`: the file already has that content. Errors say why there is nothing to
/// restore.
pub fn plan_file(path: &RelPath, versions: &[Version], pick: &Pick) -> Result<Option<Step>> {
    if versions.is_empty() {
        bail!(
            "{path}: the bucket has no version of it (never synced, or its versions expired), nothing to restore from"
        );
    }
    let chosen = match pick {
        Pick::Version(id) => {
            let v = versions
                .iter()
                .find(|v| &v.id() == id || v.id().strip_prefix("trash:") == Some(id.as_str()))
                .ok_or_else(|| {
                    anyhow!("{path} has no version {id:?}; `pail history {path}` lists them")
                })?;
            if v.is_delete_marker {
                bail!(
                    "version {id:?} of {path} is a delete marker; pick a version with content (`pail history {path}`)"
                );
            }
            v
        }
        Pick::At(t) => match version_at(versions, *t) {
            Some(v) if v.exists() => v,
            Some(v) => bail!(
                "{path} was deleted at {} (deleted at {}); nothing to restore for that moment",
                rfc3339_ns(*t),
                rfc3339_ns(v.shown_ns)
            ),
            None => bail!(
                "{path} did not exist yet at {} (its oldest kept version is from {})",
                rfc3339_ns(*t),
                rfc3339_ns(versions.last().map_or(0, |v| v.shown_ns))
            ),
        },
        Pick::Newest => versions.iter().find(|v| v.exists()).ok_or_else(|| {
            anyhow!("{path}: only delete markers are left, nothing to restore from")
        })?,
    };
    let cur = current(versions);
    if cur.is_some_and(|c| same_content(c, chosen)) {
        return Ok(None);
    }
    Ok(Some(Step::Copy {
        from: chosen.clone(),
        current: cur.cloned(),
    }))
}

/// The same object, or one with the same ETag (same content for single-part uploads).
fn same_content(cur: &Version, v: &Version) -> bool {
    cur == v || (cur.etag.is_some() && cur.etag == v.etag)
}

/// What a folder restore to `t_ns` does with one file: bring back its content of then, or
/// with `exact` delete a file that did not exist then. `None`: nothing to do.
pub fn plan_at(versions: &[Version], t_ns: i64, exact: bool) -> Option<Step> {
    let cur = current(versions);
    match version_at(versions, t_ns) {
        Some(then) if then.exists() => match cur {
            Some(c) if same_content(c, then) => None,
            _ => Some(Step::Copy {
                from: then.clone(),
                current: cur.cloned(),
            }),
        },
        // Did not exist then (not yet, or deleted): only --exact removes today's file.
        _ => cur
            .filter(|_| exact)
            .map(|c| Step::Delete { current: c.clone() }),
    }
}

/// A whole folder's restore, planned from one version listing.
#[derive(Debug, Default)]
pub struct TreePlan {
    pub steps: Vec<(RelPath, Step)>,
    /// Files that already have the wanted content.
    pub unchanged: usize,
    /// Files made after TIME, left alone without `--exact`.
    pub left_alone: Vec<RelPath>,
}

/// Plans restoring everything under `dir` (the pair for `None`) to how it was at `t_ns`.
pub async fn plan_tree(
    bucket: &PairRemote,
    dir: Option<&RelPath>,
    t_ns: i64,
    exact: bool,
) -> Result<TreePlan> {
    let mut plan = TreePlan::default();
    for (path, vs) in versions_under(bucket, dir).await? {
        match plan_at(&vs, t_ns, exact) {
            Some(step) => plan.steps.push((path, step)),
            None if current(&vs).is_some()
                && !matches!(version_at(&vs, t_ns), Some(v) if v.exists()) =>
            {
                plan.left_alone.push(path)
            }
            None => plan.unchanged += 1,
        }
    }
    Ok(plan)
}

/// Plans bringing back every deleted file under `dir`: the newest version with content of
/// each file whose current entry is a delete marker (or, without versioning, whose object is
/// gone but has trash copies).
pub async fn plan_undelete(bucket: &PairRemote, dir: Option<&RelPath>) -> Result<TreePlan> {
    let mut plan = TreePlan::default();
    for (path, vs) in versions_under(bucket, dir).await? {
        if current(&vs).is_some() {
            plan.unchanged += 1;
        } else if let Some(v) = vs.iter().find(|v| v.exists()) {
            plan.steps.push((
                path,
                Step::Copy {
                    from: v.clone(),
                    current: None,
                },
            ));
        }
    }
    Ok(plan)
}

/// Plans restoring one file in place.
pub async fn plan_one(bucket: &PairRemote, path: &RelPath, pick: &Pick) -> Result<Option<Step>> {
    let versions = versions_of(bucket, path).await?;
    plan_file(path, &versions, pick)
}

/// What a folder restore did.
#[derive(Debug, Default)]
pub struct TreeReport {
    pub restored: usize,
    pub deleted: usize,
    pub errors: Vec<(RelPath, String)>,
}

/// Runs the steps, `bucket.transfers` server-side copies at a time; `progress(done, total)`
/// after each.
pub async fn execute(
    bucket: &PairRemote,
    steps: &[(RelPath, Step)],
    progress: &(dyn Fn(usize, usize) + Send + Sync),
) -> TreeReport {
    let total = steps.len();
    let mut report = TreeReport::default();
    let mut results = futures::stream::iter(steps)
        .map(|(path, step)| async move { (path, step, apply(bucket, path, step).await) })
        .buffer_unordered(bucket.transfers.max(1));
    let mut done = 0;
    while let Some((path, step, r)) = results.next().await {
        done += 1;
        match r {
            Ok(()) if matches!(step, Step::Delete { .. }) => report.deleted += 1,
            Ok(()) => report.restored += 1,
            Err(e) => report.errors.push((path.clone(), format!("{e:#}"))),
        }
        progress(done, total);
    }
    report.errors.sort_by(|a, b| a.0.cmp(&b.0));
    report
}

/// Applies one step to the bucket.
pub async fn apply(bucket: &PairRemote, path: &RelPath, step: &Step) -> Result<()> {
    match step {
        Step::Copy { from, current } => copy_back(bucket, path, from, current.as_ref()).await,
        Step::Delete { current } => delete_current(bucket, path, current).await,
    }
}

/// The key and version id to read a version's content from.
/// The key and version id that hold a version's content (a trash copy is its own key).
pub(crate) fn source_of(
    bucket: &PairRemote,
    path: &RelPath,
    v: &Version,
) -> Result<(String, Option<String>)> {
    Ok(match &v.source {
        Source::Bucket { version_id } => (bucket.key(path)?, version_id.clone()),
        Source::Trash { key } => (key.clone(), None),
    })
}

/// The condition that keeps a restore from burying a write made since the listing, where
/// the server honours conditions (elsewhere versioning or the trash copy keeps it anyway).
fn condition(bucket: &PairRemote, current: Option<&Version>) -> Condition {
    match current.and_then(|c| c.etag.clone()) {
        _ if !bucket.caps.conditional_writes => Condition::None,
        Some(etag) => Condition::IfMatch(etag),
        None => Condition::IfAbsent,
    }
}

fn raced(path: &RelPath) -> anyhow::Error {
    anyhow!(
        "{path} changed in the bucket while it was being restored (another device wrote it); nothing was replaced: run the restore again"
    )
}

async fn copy_back(
    bucket: &PairRemote,
    path: &RelPath,
    from: &Version,
    current: Option<&Version>,
) -> Result<()> {
    let key = bucket.key(path)?;
    let (src_key, src_vid) = source_of(bucket, path, from)?;
    let head = bucket
        .store
        .head(&src_key, src_vid.as_deref())
        .await?
        .filter(|h| !h.delete_marker)
        .ok_or_else(|| {
            anyhow!(
                "{path}: version {} is no longer in the bucket (deleted for good, or expired by a lifecycle rule)",
                from.id()
            )
        })?;
    if let Some(current) = current.filter(|_| !bucket.versioned()) {
        keep_in_trash(bucket, path, &key, current).await?;
    }
    // The content keeps its hash and file time; the new version is this device's doing.
    let meta = ObjectMeta {
        blake3: head.meta.blake3,
        mtime_ns: head.meta.mtime_ns,
        device: Some(bucket.device.clone()),
        // The same path: the version's binding tag (encrypted pairs) still holds.
        binding: head.meta.binding.clone(),
    };
    let cond = condition(bucket, current);
    match bucket
        .store
        .copy(&src_key, src_vid.as_deref(), None, &key, &meta, cond)
        .await
    {
        Ok(_) => Ok(()),
        Err(StoreError::PreconditionFailed { .. }) => Err(raced(path)),
        Err(StoreError::NotFound { key: k }) if k == key => Err(raced(path)),
        Err(e @ StoreError::InvalidObjectState { .. }) => Err(e).with_context(|| {
            format!("{path}: this version is archived; run `pail restore --from-archive {path}` and wait for it first")
        }),
        Err(e) => Err(e).with_context(|| format!("restoring {path} from version {}", from.id())),
    }
}

async fn delete_current(bucket: &PairRemote, path: &RelPath, current: &Version) -> Result<()> {
    let key = bucket.key(path)?;
    if !bucket.versioned() {
        keep_in_trash(bucket, path, &key, current).await?;
    }
    let cond = match (&current.etag, bucket.caps.conditional_writes) {
        (Some(e), true) => Condition::IfMatch(e.clone()),
        _ => Condition::None,
    };
    match bucket.store.delete(&key, None, cond).await {
        Ok(_) | Err(StoreError::NotFound { .. }) => Ok(()),
        Err(StoreError::PreconditionFailed { .. }) => Err(raced(path)),
        Err(e) => Err(e).with_context(|| format!("deleting {path}")),
    }
}

/// Keeps the current object of `path` (listed as `current`) in the trash, as the sync does
/// before it replaces an object on a bucket without versioning.
async fn keep_in_trash(
    bucket: &PairRemote,
    path: &RelPath,
    key: &str,
    current: &Version,
) -> Result<()> {
    let Some(etag) = current.etag.as_deref() else {
        return Ok(());
    };
    let kept = pail_sync::trash::copy_to_trash(
        bucket.store.as_ref(),
        &bucket.prefix,
        &bucket.device,
        key,
        etag,
    )
    .await?;
    if kept { Ok(()) } else { Err(raced(path)) }
}

/// Downloads the version `pick` names to `dest` (a new file, or a file of the same name in the
/// folder `dest`), verified against its `pail-blake3` (on an encrypted pair: decrypted, its
/// keyed hash and its binding tag to `path` checked); the bucket is left alone. Returns the
/// file written. Inside the pair's `folder` the file is written through the folder's directory
/// handles like the sync's writes (never below a symlink or mount point there, tenet 13).
pub async fn restore_to(
    bucket: &PairRemote,
    folder: &Path,
    path: &RelPath,
    pick: &Pick,
    dest: &Path,
) -> Result<PathBuf> {
    let versions = versions_of(bucket, path).await?;
    // A copy elsewhere is wanted even when the version is the current one.
    let v = match plan_file(path, &versions, pick)? {
        Some(Step::Copy { from, .. }) => from,
        _ => current(&versions)
            .cloned()
            .ok_or_else(|| anyhow!("{path}: nothing to restore"))?,
    };
    let target = if dest.is_dir() {
        dest.join(path.file_name())
    } else {
        dest.to_owned()
    };
    if target.symlink_metadata().is_ok() {
        bail!(
            "{} already exists: give --to a new file name or a folder, pail does not overwrite it",
            target.display()
        );
    }
    let (src_key, src_vid) = source_of(bucket, path, &v)?;
    let get = match bucket.store.get(&src_key, src_vid.as_deref(), None).await {
        Ok(g) => g,
        Err(e @ StoreError::InvalidObjectState { .. }) => {
            return Err(e).with_context(|| {
                format!("{path}: this version is archived; run `pail restore --from-archive {path}` first")
            });
        }
        Err(e) => return Err(e).with_context(|| format!("reading version {} of {path}", v.id())),
    };
    // As a download of the sync: refused when it cannot fit, the same error when the disk
    // runs out, and no partial file either way.
    let size = bucket.plain_size(get.head.size);
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    space::check_room(dir, &name, &target, size)?;
    let write_err = |e: std::io::Error| {
        if space::is_no_space(&e) {
            anyhow::Error::new(space::no_space(dir, &name, &target, size))
        } else {
            anyhow::Error::new(e).context(format!("cannot write {}", target.display()))
        }
    };
    let (root, rel) = write_root(folder, &target)?;
    let w = TempWriter::create_outside(&root, &rel)
        .map_err(|e| match e {
            LocalError::Io { source, .. } => write_err(source),
            other => anyhow::Error::new(other)
                .context(format!("cannot write next to {}", target.display())),
        })?
        .with_hashing(&bucket.hashing());
    let pail_s3::GetObject { head, body } = get;
    let w = match &bucket.key {
        // Encrypted: decrypted as the sync's downloads are, and checked against the file the
        // content belongs to (`path`, also for a trash copy), not against the name written.
        Some(k) => match decrypt_download(k, &src_key, body, w).await {
            Ok(w) => w,
            Err(DecryptFail::Body(e)) => {
                return Err(e).with_context(|| format!("downloading version {} of {path}", v.id()));
            }
            Err(DecryptFail::Content(e)) => return Err(e.into()),
            Err(DecryptFail::Write(e)) => return Err(write_err(e)),
        },
        None => {
            let (mut w, mut body) = (w, body);
            while let Some(chunk) = body.next().await {
                let chunk =
                    chunk.with_context(|| format!("downloading version {} of {path}", v.id()))?;
                w.write(&chunk).map_err(write_err)?;
            }
            if w.len() != head.size {
                bail!(
                    "{path}: got {} bytes of version {}, expected {}; try again",
                    w.len(),
                    v.id(),
                    head.size
                );
            }
            w
        }
    };
    let dl = w
        .finish(head.meta.mtime_ns.or(Some(head.last_modified_ns)))
        .map_err(write_err)?;
    match &bucket.key {
        Some(k) => verify_download(k, &src_key, path, &head, &dl.hash)?,
        None => {
            if head.meta.blake3.is_some_and(|h| h != dl.hash) {
                bail!(
                    "{path}: version {} does not match its pail-blake3 metadata; not written",
                    v.id()
                );
            }
        }
    }
    match place(dl, &root, &LocalExpect::Absent) {
        Ok(_) => Ok(target),
        Err(LocalError::Changed(p)) => bail!(
            "{} appeared while downloading; pail does not overwrite it",
            p.display()
        ),
        Err(e) => Err(e.into()),
    }
}

/// The directory handle a `restore --to` writes through and the path below it: the pair's
/// folder when `target` is inside it, else the directory the user named.
fn write_root(folder: &Path, target: &Path) -> Result<(SafeRoot, PathBuf)> {
    let target = std::path::absolute(target)?;
    let folder = std::path::absolute(folder)?;
    if let Ok(rel) = target.strip_prefix(&folder) {
        return Ok((SafeRoot::open(&folder)?, rel.to_owned()));
    }
    let (Some(dir), Some(name)) = (target.parent(), target.file_name()) else {
        bail!("{}: not a file name", target.display());
    };
    Ok((SafeRoot::open(dir)?, PathBuf::from(name)))
}

/// Asks the bucket to bring an archived version of `path` back from Glacier/Deep Archive for
/// `days` days (the current version unless `pick` names another). Returns the version and
/// where its restore stands; once done, `pail restore` and the sync can read it.
pub async fn request_from_archive(
    bucket: &PairRemote,
    path: &RelPath,
    pick: Option<&Pick>,
    days: i32,
) -> Result<(Version, ArchiveRestore)> {
    let versions = versions_of(bucket, path).await?;
    let v = match pick {
        Some(p) => match plan_file(path, &versions, p)? {
            Some(Step::Copy { from, .. }) => from,
            _ => current(&versions)
                .cloned()
                .ok_or_else(|| anyhow!("{path}: nothing found"))?,
        },
        None => current(&versions).cloned().ok_or_else(|| {
            anyhow!(
                "{path} is deleted; name a version with --version ID (see `pail history {path}`)"
            )
        })?,
    };
    let (key, vid) = source_of(bucket, path, &v)?;
    let state = bucket
        .store
        .restore_archived(&key, vid.as_deref(), days)
        .await
        .with_context(|| format!("asking to restore {path} from the archive"))?;
    Ok((v, state))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::versions::Source;

    fn v(id: &str, etag: &str, since: i64, current: bool, dm: bool) -> Version {
        Version {
            source: Source::Bucket {
                version_id: Some(id.into()),
            },
            etag: (!dm).then(|| etag.to_owned()),
            size: 1,
            since_ns: since,
            shown_ns: since,
            is_current: current,
            is_delete_marker: dm,
        }
    }

    fn p() -> RelPath {
        RelPath::new("a b/thesis.txt").unwrap()
    }

    fn copied(s: Option<Step>) -> String {
        match s {
            Some(Step::Copy { from, .. }) => from.id(),
            other => panic!("not a copy: {other:?}"),
        }
    }

    #[test]
    fn folder_restore_per_file() {
        // Edited at 10 (A), 20 (B), 30 (C, current).
        let edited = vec![
            v("v3", "C", 30, true, false),
            v("v2", "B", 20, false, false),
            v("v1", "A", 10, false, false),
        ];
        assert_eq!(copied(plan_at(&edited, 25, false)), "v2");
        assert_eq!(copied(plan_at(&edited, 15, false)), "v1");
        assert_eq!(plan_at(&edited, 35, false), None, "already current");
        // Created after TIME: left alone, or deleted with --exact.
        assert_eq!(plan_at(&edited, 5, false), None);
        assert!(
            matches!(plan_at(&edited, 5, true), Some(Step::Delete { current }) if current.id() == "v3")
        );
        // Deleted after TIME: comes back.
        let deleted = vec![v("dm", "", 30, true, true), v("v1", "A", 10, false, false)];
        assert_eq!(copied(plan_at(&deleted, 20, false)), "v1");
        assert_eq!(plan_at(&deleted, 40, true), None, "deleted then and now");
        // Back to content equal to the current one (same ETag): nothing to copy.
        let aba = vec![
            v("v3", "A", 30, true, false),
            v("v2", "B", 20, false, false),
            v("v1", "A", 10, false, false),
        ];
        assert_eq!(plan_at(&aba, 15, false), None);
    }

    #[test]
    fn single_file_picks() {
        let vs = vec![
            v("dm2", "", 40, true, true),
            v("dm1", "", 30, false, true),
            v("v2", "B", 20, false, false),
            v("v1", "A", 10, false, false),
        ];
        assert_eq!(copied(plan_file(&p(), &vs, &Pick::Newest).unwrap()), "v2");
        assert_eq!(
            copied(plan_file(&p(), &vs, &Pick::Version("v1".into())).unwrap()),
            "v1"
        );
        assert_eq!(copied(plan_file(&p(), &vs, &Pick::At(15)).unwrap()), "v1");
        let e = plan_file(&p(), &vs, &Pick::At(35)).unwrap_err().to_string();
        assert!(e.contains("was deleted"), "{e}");
        let e = plan_file(&p(), &vs, &Pick::At(5)).unwrap_err().to_string();
        assert!(e.contains("did not exist yet"), "{e}");
        let e = plan_file(&p(), &vs, &Pick::Version("dm1".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("delete marker"), "{e}");
        let e = plan_file(&p(), &vs, &Pick::Version("nope".into()))
            .unwrap_err()
            .to_string();
        assert!(e.contains("pail history a b/thesis.txt"), "{e}");
        let e = plan_file(&p(), &[], &Pick::Newest).unwrap_err().to_string();
        assert!(e.contains("nothing to restore from"), "{e}");
        let live = vec![v("v1", "A", 10, true, false)];
        assert_eq!(plan_file(&p(), &live, &Pick::Newest).unwrap(), None);
    }
}
