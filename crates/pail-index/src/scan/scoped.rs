//! The scoped scan: only the paths a watcher hinted at are looked at again; everything else
//! keeps what the previous scan recorded. This is what makes a change in a folder of 100,000
//! files cost a few `stat`s instead of a walk of the whole tree.
//!
//! It is only as good as the previous scan, so it refuses (and the caller runs a full scan)
//! when that scan is not known to be current: pail itself changed the folder since (a
//! download, a local delete, a conflict copy: see [`Index::local_scan_outdated`]), or an
//! ignore file could have changed, which changes what the rest of the folder means.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use pail_core::RelPath;

use super::{LOCAL_SCAN_CURRENT, Pruned, Scan, ScanOptions, ScanReport, Walker, check_root};
use crate::error::ScanError;
use crate::ignore_rules::{IGNORE_FILE, IgnoreRules};
use crate::index::Index;
use crate::stat::on_other_mount;

/// How a scoped scan ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ScopedScan {
    /// `local_scan` is current: the scope rescanned, the rest carried forward. The report's
    /// `files` counts the whole folder and `skipped` holds every skipped entry.
    Done(ScanReport),
    /// A full scan (with freshly loaded ignore rules) is needed instead, for this reason.
    NeedsFull(String),
}

/// What a hinted path is now.
enum Now {
    /// Gone, ignored, or not reachable by the walk (under a symlink or a file).
    Absent,
    Entry(std::fs::FileType, PathBuf),
}

/// Rescans only `scope` (files or directories, relative to `root`) into `index`.
pub fn scan_local_paths(
    root: &Path,
    index: &Index,
    rules: &IgnoreRules,
    opts: &ScanOptions,
    scope: &[RelPath],
) -> Result<ScopedScan, ScanError> {
    let root = check_root(root)?;
    let root_dev = std::fs::metadata(&root)
        .map_err(|source| ScanError::RootUnreadable {
            path: root.clone(),
            source,
        })?
        .dev();
    if index.meta_get(LOCAL_SCAN_CURRENT)?.as_deref() != Some("1") {
        return Ok(ScopedScan::NeedsFull(
            "the folder changed since the last full scan".into(),
        ));
    }
    let scope = outermost(scope);
    let rule_dirs = rules.ignore_file_dirs();
    for p in &scope {
        let s = p.as_str();
        let holds_rules = rule_dirs
            .iter()
            .any(|d| d == s || d.strip_prefix(s).is_some_and(|r| r.starts_with('/')));
        if p.file_name() == IGNORE_FILE || holds_rules {
            return Ok(ScopedScan::NeedsFull(format!(
                "{s}: ignore rules may have changed"
            )));
        }
    }
    let mut found = Vec::with_capacity(scope.len());
    for p in &scope {
        match look(&root, root_dev, rules, p) {
            Ok(now) => found.push((p, now)),
            Err(why) => return Ok(ScopedScan::NeedsFull(why)),
        }
    }

    // Rows outside the scope stay as they are; a crash from here on leaves the flag down,
    // so the next scan is a full one.
    index.meta_set(LOCAL_SCAN_CURRENT, "0")?;
    let generation = index.current_scan_gen()?;
    let strs: Vec<&str> = scope.iter().map(RelPath::as_str).collect();
    index.transaction(|ix| ix.set_aside_local(&strs))?;
    let pruned = Arc::new(Mutex::new(Pruned::default()));
    let mut scan = Scan::new(index, opts, generation)?;
    let walker = Walker {
        root: &root,
        root_dev,
        rules,
        pruned: &pruned,
    };
    for (p, now) in found {
        match now {
            Now::Absent => {}
            Now::Entry(ft, abs) if ft.is_dir() => walker.walk(&mut scan, &abs)?,
            Now::Entry(ft, abs) => scan.entry(p.as_str().to_owned(), ft, abs)?,
        }
    }
    scan.flush()?;
    if scan.saw_rule_file {
        // Its rules were not applied to what was just scanned.
        return Ok(ScopedScan::NeedsFull(
            "a new ignore file appeared".to_owned(),
        ));
    }
    let pruned = std::mem::take(&mut *pruned.lock().expect("scan filter panicked"));
    index.transaction(|ix| {
        for dir in &pruned.keep_subtrees {
            ix.carry_forward_local(dir, true, generation)?;
        }
        ix.drop_set_aside_local(&strs)
    })?;
    // Skipped entries: the old ones outside the scope, the new ones inside.
    let mut skipped = index.list_skipped()?;
    skipped.retain(|(path, _)| !strs.iter().any(|s| under(path, s)));
    skipped.extend(scan.report.skipped);
    skipped.extend(pruned.skipped);
    skipped.sort();
    skipped.dedup();
    index.set_skipped(&skipped)?;
    index.meta_set(LOCAL_SCAN_CURRENT, "1")?;
    Ok(ScopedScan::Done(ScanReport {
        files: index.local_scan_count()?,
        hashed: scan.report.hashed,
        bytes_hashed: scan.report.bytes_hashed,
        skipped,
        leftovers: pruned.leftovers,
    }))
}

/// `path` is `scope` or lies under it.
fn under(path: &str, scope: &str) -> bool {
    path == scope || path.strip_prefix(scope).is_some_and(|r| r.starts_with('/'))
}

/// The scope without duplicates and without paths under another of its paths.
fn outermost(scope: &[RelPath]) -> Vec<RelPath> {
    let mut v: Vec<RelPath> = scope.to_vec();
    v.sort_by(|a, b| a.as_str().cmp(b.as_str()));
    v.dedup();
    let mut out: Vec<RelPath> = Vec::with_capacity(v.len());
    for p in v {
        if !out.iter().any(|o| under(p.as_str(), o.as_str())) {
            out.push(p);
        }
    }
    out
}

/// What `p` is now, as the full walk would see it; `Err` when only a full scan can tell
/// (a mount point, an unreadable parent).
fn look(root: &Path, root_dev: u64, rules: &IgnoreRules, p: &RelPath) -> Result<Now, String> {
    let s = p.as_str();
    // The walk reaches `p` only through real directories of the folder's filesystem.
    for (i, _) in s.match_indices('/') {
        match std::fs::symlink_metadata(root.join(&s[..i])) {
            Ok(m)
                if m.is_dir()
                    && m.dev() == root_dev
                    && !on_other_mount(root, &root.join(&s[..i])) => {}
            Ok(m) if m.is_dir() => return Err(format!("{}: a mount point", &s[..i])),
            Ok(_) => return Ok(Now::Absent),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Now::Absent),
            Err(e) => return Err(format!("{}: {e}", &s[..i])),
        }
    }
    let abs = root.join(s);
    match std::fs::symlink_metadata(&abs) {
        Ok(m) if m.is_dir() && (m.dev() != root_dev || on_other_mount(root, &abs)) => {
            Err(format!("{s}: a mount point"))
        }
        Ok(m) if rules.is_ignored(p, m.is_dir()) => Ok(Now::Absent),
        Ok(m) => Ok(Now::Entry(m.file_type(), abs)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Now::Absent),
        Err(e) => Err(format!("{s}: {e}")),
    }
}
