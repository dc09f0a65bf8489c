//! `pail conflicts`: the conflict copies pail made (recorded in the index) and their
//! resolution. Resolving changes only local files and the record; the next sync carries the
//! change to the bucket like any edit, so the content replaced stays a version there.

use std::path::Path;

use anyhow::{Result, bail};
use pail_core::RelPath;
use pail_core::plan::LocalExpect;
use pail_index::{ConflictRecord, Index};
use serde::Serialize;

use pail_sync::localfs::{
    LocalError, move_no_replace, move_replacing, rel, remove_expected, still_expected,
};
use pail_sync::safe_dir::SafeRoot;

#[derive(Debug, Clone, Serialize)]
pub struct ConflictInfo {
    /// The conflict copy, relative to the folder.
    pub path: String,
    /// The file whose two versions conflicted.
    pub original: String,
    /// The device whose local content went to the copy.
    pub device: String,
    /// RFC 3339.
    pub created_at: String,
}

impl ConflictInfo {
    fn of(c: &ConflictRecord) -> ConflictInfo {
        ConflictInfo {
            path: c.path.to_string(),
            original: c.original.to_string(),
            device: c.device.clone(),
            created_at: c
                .created_at
                .format(&time::format_description::well_known::Rfc3339)
                .unwrap_or_default(),
        }
    }
}

/// Conflict copies recorded in the index whose file still exists in the folder.
pub fn list(index: &Index, root: &Path) -> Result<Vec<ConflictInfo>> {
    Ok(index
        .list_conflicts()?
        .iter()
        .filter(|c| is_file(&root.join(c.path.as_str())))
        .map(ConflictInfo::of)
        .collect())
}

/// How to resolve a conflict.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Keep {
    /// The conflict copy's content (this device's edit) replaces the original.
    Local,
    /// The original keeps the other side's content; the copy is deleted.
    Remote,
    /// Both files stay; pail forgets the conflict.
    Both,
}

#[derive(Debug, Default)]
pub struct ResolveReport {
    /// (copy, what was done).
    pub resolved: Vec<(String, String)>,
    /// (copy, why not).
    pub refused: Vec<(String, String)>,
}

/// Resolves the conflicts of `target` (an original or a copy; all when `None`) in the folder
/// at `root`. Never drops content that is not also in the bucket: a file with changes not yet
/// synced is left alone with the reason.
pub fn resolve(
    index: &Index,
    root: &Path,
    target: Option<&RelPath>,
    keep: Keep,
) -> Result<ResolveReport> {
    let all = index.list_conflicts()?;
    let chosen: Vec<&ConflictRecord> = all
        .iter()
        .filter(|c| target.is_none_or(|t| &c.path == t || &c.original == t))
        .collect();
    if chosen.is_empty() {
        match target {
            Some(t) => bail!("{t} has no recorded conflict (see `pail conflicts`)"),
            None => return Ok(ResolveReport::default()),
        }
    }
    // Every change goes through the folder's directory handles (tenet 13).
    let root = &SafeRoot::open(root)?;
    let mut report = ResolveReport::default();
    for c in &chosen {
        if !is_file(&root.abs(rel(&c.path))) {
            index.remove_conflict(&c.path)?;
            report.resolved.push((
                c.path.to_string(),
                "the copy no longer exists; forgotten".into(),
            ));
            continue;
        }
        let outcome = match keep {
            Keep::Both => Ok("both kept".to_owned()),
            Keep::Remote => drop_copy(index, root, c),
            Keep::Local => {
                let siblings = chosen.iter().filter(|o| o.original == c.original).count();
                if siblings > 1 && target != Some(&c.path) {
                    Err(format!(
                        "{} has {siblings} conflict copies: name the one to keep (`pail conflicts resolve COPY --keep local`)",
                        c.original
                    ))
                } else {
                    keep_copy(index, root, c)
                }
            }
        };
        match outcome {
            Ok(what) => {
                index.remove_conflict(&c.path)?;
                report.resolved.push((c.path.to_string(), what));
            }
            Err(why) => report.refused.push((c.path.to_string(), why)),
        }
    }
    Ok(report)
}

/// What the index last synced for `path`, as a local expectation, if the file is unchanged
/// since: only then is its content also in the bucket.
fn synced(index: &Index, root: &SafeRoot, path: &RelPath) -> Result<Option<LocalExpect>, String> {
    let base = index.get_base(path).map_err(|e| e.to_string())?;
    let Some(base) = base else { return Ok(None) };
    let expect = LocalExpect::Is {
        stat: base.local,
        hash: base.hash,
    };
    match still_expected(root, rel(path), &expect) {
        Ok(true) => Ok(Some(expect)),
        Ok(false) => Ok(None),
        Err(e) => Err(e.to_string()),
    }
}

/// `--keep remote`: deletes the copy, whose content the bucket keeps as a version (or trash
/// copy) once the sync deletes it there.
fn drop_copy(index: &Index, root: &SafeRoot, c: &ConflictRecord) -> Result<String, String> {
    let Some(expect) = synced(index, root, &c.path)? else {
        return Err(format!(
            "{} has not been synced as it is now, so its content is nowhere else: run `pail sync` first (or delete it yourself)",
            c.path
        ));
    };
    match remove_expected(root, rel(&c.path), &expect) {
        Ok(()) => Ok(format!("copy deleted, {} kept", c.original)),
        Err(LocalError::Changed(_)) => Err(format!("{} changed just now; try again", c.path)),
        Err(e) => Err(e.to_string()),
    }
}

/// `--keep local`: the copy's content takes the original's name. The original's current
/// content is the remote side's, which the bucket keeps as a version once the sync uploads.
fn keep_copy(index: &Index, root: &SafeRoot, c: &ConflictRecord) -> Result<String, String> {
    let (copy, orig) = (rel(&c.path), rel(&c.original));
    if root.abs(orig).symlink_metadata().is_err() {
        move_no_replace(root, copy, orig).map_err(|e| e.to_string())?;
        return Ok(format!("copy moved to {}", c.original));
    }
    let Some(expect) = synced(index, root, &c.original)? else {
        return Err(format!(
            "{} has changes that are not synced yet, which this would overwrite: run `pail sync` first",
            c.original
        ));
    };
    match move_replacing(root, copy, orig, &expect) {
        Ok(()) => Ok(format!("copy moved over {}", c.original)),
        Err(LocalError::Changed(_)) => Err(format!("{} changed just now; try again", c.original)),
        Err(e) => Err(format!("cannot move {} to {}: {e}", c.path, c.original)),
    }
}

/// A regular file (not followed if a symlink).
fn is_file(p: &Path) -> bool {
    p.symlink_metadata().is_ok_and(|m| m.is_file())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pail_core::{Base, RemoteRef};
    use pail_index::stat_path;

    fn record(index: &Index, copy: &str, original: &str) {
        index
            .add_conflict(&ConflictRecord {
                path: RelPath::new(copy).unwrap(),
                original: RelPath::new(original).unwrap(),
                device: "laptop".into(),
                created_at: time::OffsetDateTime::UNIX_EPOCH,
            })
            .unwrap();
    }

    fn synced_file(index: &Index, root: &Path, rel: &str, body: &[u8]) {
        std::fs::write(root.join(rel), body).unwrap();
        let base = Base {
            hash: pail_index::hash_bytes(body),
            local: stat_path(&root.join(rel)).unwrap(),
            remote: RemoteRef {
                etag: "\"e\"".into(),
                version_id: None,
                size: body.len() as u64,
            },
        };
        index.set_base(&RelPath::new(rel).unwrap(), &base).unwrap();
    }

    #[test]
    fn resolve_each_way_and_refuse_to_lose_unsynced_content() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        let index = Index::open_in_memory().unwrap();
        synced_file(&index, root, "a.txt", b"remote");
        synced_file(&index, root, "a (c).txt", b"local");
        record(&index, "a (c).txt", "a.txt");
        assert_eq!(list(&index, root).unwrap().len(), 1);

        // The original has an unsynced edit: keeping the copy would overwrite it.
        std::fs::write(root.join("a.txt"), b"edited since").unwrap();
        let r = resolve(&index, root, None, Keep::Local).unwrap();
        assert_eq!(r.refused.len(), 1, "{r:?}");
        assert_eq!(std::fs::read(root.join("a.txt")).unwrap(), b"edited since");
        synced_file(&index, root, "a.txt", b"remote");

        let a = RelPath::new("a.txt").unwrap();
        let r = resolve(&index, root, Some(&a), Keep::Local).unwrap();
        assert_eq!(r.resolved.len(), 1, "{r:?}");
        assert_eq!(std::fs::read(root.join("a.txt")).unwrap(), b"local");
        assert!(!root.join("a (c).txt").exists());
        assert!(list(&index, root).unwrap().is_empty());

        // --keep remote: an unsynced copy is refused, a synced one deleted.
        std::fs::write(root.join("b (c).txt"), b"never uploaded").unwrap();
        record(&index, "b (c).txt", "b.txt");
        let r = resolve(&index, root, None, Keep::Remote).unwrap();
        assert_eq!(r.refused.len(), 1, "{r:?}");
        assert!(root.join("b (c).txt").exists());
        synced_file(&index, root, "b (c).txt", b"uploaded");
        let r = resolve(&index, root, None, Keep::Remote).unwrap();
        assert_eq!(r.resolved.len(), 1, "{r:?}");
        assert!(!root.join("b (c).txt").exists());

        // --keep both forgets the record and touches nothing.
        synced_file(&index, root, "c (c).txt", b"x");
        record(&index, "c (c).txt", "c.txt");
        resolve(&index, root, None, Keep::Both).unwrap();
        assert!(root.join("c (c).txt").exists());
        assert!(index.list_conflicts().unwrap().is_empty());
        let e = resolve(&index, root, Some(&a), Keep::Both).unwrap_err();
        assert!(e.to_string().contains("no recorded conflict"), "{e}");
    }

    #[test]
    fn resolving_never_moves_a_file_through_a_symlink() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("folder");
        let outside = dir.path().join("outside");
        std::fs::create_dir_all(&root).unwrap();
        std::fs::create_dir_all(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("d")).unwrap();
        let index = Index::open_in_memory().unwrap();
        synced_file(&index, &root, "a (c).txt", b"local");
        record(&index, "a (c).txt", "d/a.txt");
        let r = resolve(&index, &root, None, Keep::Local).unwrap();
        assert_eq!(r.refused.len(), 1, "{r:?}");
        assert!(r.refused[0].1.contains("is below a symlink"), "{r:?}");
        assert_eq!(std::fs::read_dir(&outside).unwrap().count(), 0);
        assert_eq!(std::fs::read(root.join("a (c).txt")).unwrap(), b"local");
    }
}
