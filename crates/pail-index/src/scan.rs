//! The local scan: walks the folder, records every syncable regular file with its stat and
//! content hash in `local_scan`, and reports what it had to skip.
//!
//! Unchanged work is free (tenet 11): a file whose (size, mtime, ctime, inode) equal what an
//! earlier pass recorded, the base or the previous scan, keeps that hash without being read.
//!
//! Racy timestamps: a stat is only trusted if it was recorded at least `racy_window` after the
//! file's mtime and ctime. Timestamps are coarse (a kernel tick locally, 2 s on FAT, worse
//! with clock skew on network filesystems), so a file written again within the same tick as
//! the hash was taken keeps an identical stat with different content; it would never be
//! re-read. Every write (and `utimes`) sets ctime to "now", so once a stat was verified more
//! than one tick after its ctime, any later change shows. Files modified within the window
//! before the scan are therefore always re-hashed, and so are records made too soon after the
//! file's last change, until a later scan confirms them.
//!
//! Safety: a file the scan cannot read (permission denied, directory unreadable, another
//! filesystem mounted inside the folder, changing while read) must not look deleted, or the
//! planner would delete it on the other side. Such paths keep their previous scan row or base.

use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ignore::WalkBuilder;
use pail_core::{ContentHash, LocalStat, NameError, RelPath};
use rayon::prelude::*;

use crate::error::ScanError;
use crate::hash::hash_file_checked;
use crate::ignore_rules::{IGNORE_FILE, IgnoreRules};
use crate::index::{Index, LocalScanRow, now_ns};
use crate::stat::stat_path;

mod scoped;
pub use scoped::{ScopedScan, scan_local_paths};

/// Tuning of [`scan_local`].
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Files per index transaction and per parallel hashing batch.
    pub batch_size: usize,
    /// How long after a file's last change its stat can be trusted (see the module docs).
    pub racy_window: Duration,
    /// Plain or keyed content hashes (an encrypted pair's index holds keyed ones only).
    pub hashing: crate::hash::Hashing,
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            batch_size: 1000,
            racy_window: Duration::from_secs(2),
            hashing: Default::default(),
        }
    }
}

/// What a scan did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ScanReport {
    /// Regular files recorded.
    pub files: u64,
    /// Files read and hashed (the others kept a known hash).
    pub hashed: u64,
    pub bytes_hashed: u64,
    /// (path, reason) of entries not synced, sorted by path. Also stored in the index.
    pub skipped: Vec<(String, String)>,
    /// pail's own temporary files found on the way (`.NAME.pail-tmp-RANDOM`): left behind
    /// by a crash; not synced, the caller removes them.
    pub leftovers: Vec<PathBuf>,
}

/// Scans `root` into `index` (table `local_scan`, replaced as a whole) with `rules`.
pub fn scan_local(
    root: &Path,
    index: &Index,
    rules: &IgnoreRules,
    opts: &ScanOptions,
) -> Result<ScanReport, ScanError> {
    let root = check_root(root)?;
    let root_dev = std::fs::metadata(&root)
        .map_err(|source| ScanError::RootUnreadable {
            path: root.clone(),
            source,
        })?
        .dev();
    let generation = index.next_scan_gen()?;
    let pruned = Arc::new(Mutex::new(Pruned::default()));
    let mut scan = Scan::new(index, opts, generation)?;
    let walker = Walker {
        root: &root,
        root_dev,
        rules,
        pruned: &pruned,
    };
    walker.walk(&mut scan, &root)?;
    scan.flush()?;
    let mut report = scan.report;
    let pruned = std::mem::take(&mut *pruned.lock().expect("scan filter panicked"));
    index.transaction(|ix| {
        for dir in &pruned.keep_subtrees {
            ix.carry_forward_local(dir, true, generation)?;
        }
        ix.finish_local_scan(generation)
    })?;
    report.skipped.extend(pruned.skipped);
    report.leftovers = pruned.leftovers;
    report.skipped.sort();
    index.set_skipped(&report.skipped)?;
    index.meta_set(LOCAL_SCAN_CURRENT, "1")?;
    Ok(report)
}

pub use pail_core::layout::TEMP_MARKER;

/// Index meta key: "1" while `local_scan` describes the folder as it is, but for changes the
/// watcher reports (see [`scan_local_paths`]). Whoever changes the folder itself (downloads,
/// local deletes, conflict copies) sets it to "0" first with [`Index::local_scan_outdated`].
pub const LOCAL_SCAN_CURRENT: &str = "local_scan_current";

/// The walk over (part of) the folder, shared by the full and the scoped scan.
struct Walker<'a> {
    root: &'a Path,
    root_dev: u64,
    rules: &'a IgnoreRules,
    pruned: &'a Arc<Mutex<Pruned>>,
}

impl Walker<'_> {
    /// Records everything under `start` (the root, or a directory inside it, which itself
    /// must already be known to be kept).
    fn walk(&self, scan: &mut Scan<'_>, start: &Path) -> Result<(), ScanError> {
        let root = self.root.to_owned();
        let walk = {
            let (root, root_dev, rules, pruned) = (
                root.clone(),
                self.root_dev,
                self.rules.clone(),
                self.pruned.clone(),
            );
            WalkBuilder::new(start)
                .standard_filters(false)
                .follow_links(false)
                .filter_entry(move |e| keep_entry(&root, root_dev, &rules, &pruned, e))
                .build()
        };
        let index = scan.index;
        let generation = scan.generation;
        for item in walk {
            let entry = match item {
                Ok(e) => e,
                Err(err) => {
                    let Some(rel) = error_path(&err).and_then(|p| rel_str(&root, p)) else {
                        // Without a path we cannot tell which files went unseen.
                        return Err(ScanError::Walk {
                            path: start.to_owned(),
                            message: err.to_string(),
                        });
                    };
                    scan.report
                        .skipped
                        .push((rel.clone(), format!("cannot read: {err}")));
                    index.carry_forward_local(&rel, false, generation)?;
                    index.carry_forward_local(&rel, true, generation)?;
                    continue;
                }
            };
            if entry.depth() == 0 {
                continue;
            }
            let (Some(ft), Some(rel)) = (entry.file_type(), rel_str(&root, entry.path())) else {
                continue;
            };
            if ft.is_dir() {
                continue;
            }
            scan.entry(rel, ft, entry.into_path())?;
        }
        Ok(())
    }
}

fn check_root(root: &Path) -> Result<PathBuf, ScanError> {
    let meta = match std::fs::metadata(root) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            return Err(ScanError::RootMissing(root.to_owned()));
        }
        Err(source) => {
            return Err(ScanError::RootUnreadable {
                path: root.to_owned(),
                source,
            });
        }
    };
    if !meta.is_dir() {
        return Err(ScanError::RootNotDir(root.to_owned()));
    }
    // The walker does not descend into a symlinked root; the folder it reaches is what syncs.
    let root = std::fs::canonicalize(root).map_err(|source| ScanError::RootUnreadable {
        path: root.to_owned(),
        source,
    })?;
    std::fs::read_dir(&root).map_err(|source| ScanError::RootUnreadable {
        path: root.clone(),
        source,
    })?;
    Ok(root)
}

/// What the walk's filter dropped and must report or protect.
#[derive(Debug, Default)]
struct Pruned {
    skipped: Vec<(String, String)>,
    /// Directories whose content was not seen (other filesystem): keep what is known of them.
    keep_subtrees: Vec<String>,
    leftovers: Vec<PathBuf>,
}

/// The walk filter: drops ignored entries silently, and reports unsyncable names and
/// mount points (not descending into them).
fn keep_entry(
    root: &Path,
    root_dev: u64,
    rules: &IgnoreRules,
    pruned: &Mutex<Pruned>,
    e: &ignore::DirEntry,
) -> bool {
    if e.depth() == 0 {
        return true;
    }
    if e.file_type().is_some_and(|t| t.is_file())
        && pail_core::layout::is_temp_name(&e.file_name().to_string_lossy())
    {
        pruned
            .lock()
            .expect("scan filter panicked")
            .leftovers
            .push(e.path().to_owned());
        return false;
    }
    let is_dir = e.file_type().is_some_and(|t| t.is_dir());
    let skip = |path: String, reason: String| {
        pruned
            .lock()
            .expect("scan filter panicked")
            .skipped
            .push((path, reason));
        false
    };
    let Some(rel) = rel_str(root, e.path()) else {
        let lossy = e
            .path()
            .strip_prefix(root)
            .unwrap_or(e.path())
            .to_string_lossy()
            .into_owned();
        return skip(lossy, "name is not valid UTF-8: not synced".to_owned());
    };
    let path = match RelPath::new(&rel) {
        Ok(p) => p,
        Err(NameError::Reserved) => {
            return skip(rel, "reserved for pail's own data: not synced".to_owned());
        }
        Err(err) => return skip(rel, format!("name cannot be synced: {err}")),
    };
    if rules.is_ignored_entry(&path, is_dir) {
        return false;
    }
    if is_dir
        && (e.metadata().is_ok_and(|m| m.dev() != root_dev)
            || crate::stat::on_other_mount(root, e.path()))
    {
        pruned
            .lock()
            .expect("scan filter panicked")
            .keep_subtrees
            .push(rel.clone());
        return skip(
            rel,
            "on another filesystem (mount point): not synced".to_owned(),
        );
    }
    true
}

fn rel_str(root: &Path, p: &Path) -> Option<String> {
    p.strip_prefix(root)
        .ok()?
        .to_str()
        .map(str::to_owned)
        .filter(|s| !s.is_empty())
}

fn error_path(e: &ignore::Error) -> Option<&Path> {
    match e {
        ignore::Error::WithPath { path, .. } => Some(path),
        ignore::Error::WithDepth { err, .. } | ignore::Error::WithLineNumber { err, .. } => {
            error_path(err)
        }
        ignore::Error::Loop { child, .. } => Some(child),
        ignore::Error::Partial(errs) => errs.iter().find_map(error_path),
        _ => None,
    }
}

/// One batch of files on its way into the index.
struct Scan<'a> {
    index: &'a Index,
    opts: &'a ScanOptions,
    generation: i64,
    report: ScanReport,
    /// (folder-relative path, absolute path) of regular files found by the walk.
    batch: Vec<(String, PathBuf)>,
    /// A `.pailignore` was among them (a scoped scan must then give way to a full one).
    saw_rule_file: bool,
    /// The index remembered no file when the scan began: every file is hashed without two
    /// lookups that would come back empty (a first scan of a large folder waits on them
    /// before its first upload).
    first: bool,
}

impl<'a> Scan<'a> {
    fn new(index: &'a Index, opts: &'a ScanOptions, generation: i64) -> Result<Self, ScanError> {
        Ok(Scan {
            index,
            opts,
            generation,
            report: ScanReport::default(),
            batch: Vec::with_capacity(opts.batch_size),
            saw_rule_file: false,
            first: index.remembers_no_file()?,
        })
    }
}

/// A file to hash: folder-relative and absolute path, and its base's stat and hash if any.
type ToHash = (String, PathBuf, Option<(LocalStat, ContentHash)>);

/// A batch sorted by what the index knows ([`Scan::known`]).
struct Sorted {
    outcomes: Vec<(String, Outcome)>,
    to_hash: Vec<ToHash>,
}

/// What a batch decided for one file.
enum Outcome {
    Row(LocalScanRow),
    /// A hash verified (or freshly read) for the base's own stat: mark the base trusted.
    RowAndSettle(LocalScanRow),
    /// Not readable now: keep what is known.
    CarryForward,
    Gone,
}

impl Scan<'_> {
    /// A non-directory entry: a regular file goes into the batch, anything else is reported.
    fn entry(
        &mut self,
        rel: String,
        ft: std::fs::FileType,
        path: PathBuf,
    ) -> Result<(), ScanError> {
        let kind = if ft.is_file() {
            self.saw_rule_file |= rel.rsplit('/').next() == Some(IGNORE_FILE);
            self.batch.push((rel, path));
            if self.batch.len() >= self.opts.batch_size {
                self.flush()?;
            }
            return Ok(());
        } else if ft.is_symlink() {
            "symlink: not synced"
        } else if ft.is_fifo() {
            "named pipe (FIFO): not synced"
        } else if ft.is_socket() {
            "socket: not synced"
        } else if ft.is_block_device() || ft.is_char_device() {
            "device file: not synced"
        } else {
            "not a regular file: not synced"
        };
        self.report.skipped.push((rel, kind.to_owned()));
        Ok(())
    }

    /// Whether a hash checked at `checked` can stand for `stat`: it was checked at least the
    /// racy window after the file's last change.
    fn trusted(&self, stat: &LocalStat, checked: Option<i64>) -> bool {
        let window = i64::try_from(self.opts.racy_window.as_nanos()).unwrap_or(i64::MAX);
        checked.is_some_and(|c| c.saturating_sub(stat.mtime_ns.max(stat.ctime_ns)) >= window)
    }

    /// Sorts a batch by what the index knows: files whose hash it holds for their current
    /// stat get their outcome here, the others are to be hashed (with the base's stat and hash,
    /// if any). Runs on one snapshot of the index (`Index::reading`).
    fn known(&mut self, index: &Index, batch: Vec<(String, PathBuf)>) -> Result<Sorted, ScanError> {
        let mut outcomes = Vec::with_capacity(batch.len());
        let mut to_hash = Vec::new();
        for (rel, abs) in batch {
            let stat = match stat_path(&abs) {
                Ok(s) => s,
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => continue,
                Err(e) => {
                    let reason = format!("cannot stat: {e}");
                    self.report.skipped.push((rel.clone(), reason));
                    outcomes.push((rel, Outcome::CarryForward));
                    continue;
                }
            };
            let (prev, base) = if self.first {
                (None, None)
            } else {
                (index.remembered_local(&rel)?, index.remembered_base(&rel)?)
            };
            let base_same = base.filter(|b| b.stat == stat);
            if let Some(p) = prev.filter(|p| p.stat == stat && self.trusted(&stat, p.checked_ns)) {
                let row = LocalScanRow {
                    path: rel.clone(),
                    stat,
                    hash: p.hash,
                    checked_ns: p.checked_ns.unwrap_or(0),
                };
                let settle = base_same
                    .is_some_and(|b| b.hash == p.hash && !self.trusted(&stat, b.checked_ns));
                outcomes.push((
                    rel,
                    if settle {
                        Outcome::RowAndSettle(row)
                    } else {
                        Outcome::Row(row)
                    },
                ));
            } else if let Some(b) = base_same.filter(|b| self.trusted(&stat, b.checked_ns)) {
                let row = LocalScanRow {
                    path: rel.clone(),
                    stat,
                    hash: b.hash,
                    checked_ns: b.checked_ns.unwrap_or(0),
                };
                outcomes.push((rel, Outcome::Row(row)));
            } else {
                to_hash.push((rel, abs, base.map(|b| (b.stat, b.hash))));
            }
        }
        Ok(Sorted { outcomes, to_hash })
    }

    fn flush(&mut self) -> Result<(), ScanError> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let batch = std::mem::take(&mut self.batch);
        let index = self.index;
        let Sorted {
            mut outcomes,
            to_hash,
        } = index.reading(|ix| self.known(ix, batch))?;

        // Taken before any file is opened: the hashes describe content at or after this time.
        let checked_ns = now_ns();
        let hashed: Vec<_> = to_hash
            .into_par_iter()
            .map(|(rel, abs, base)| {
                let res = hash_file_checked(&abs, &self.opts.hashing);
                (rel, base, res)
            })
            .collect();
        for (rel, base, res) in hashed {
            let outcome = match res {
                Ok(sh) => {
                    self.report.hashed += 1;
                    self.report.bytes_hashed += sh.stat.size;
                    if !sh.stable {
                        let reason = "changed while being read: retried next scan";
                        self.report.skipped.push((rel.clone(), reason.to_owned()));
                        Outcome::CarryForward
                    } else {
                        let row = LocalScanRow {
                            path: rel.clone(),
                            stat: sh.stat,
                            hash: sh.hash,
                            checked_ns,
                        };
                        let settle = base == Some((sh.stat, sh.hash))
                            && self.trusted(&sh.stat, Some(checked_ns));
                        if settle {
                            Outcome::RowAndSettle(row)
                        } else {
                            Outcome::Row(row)
                        }
                    }
                }
                // Deleted, replaced by a symlink or by a non-regular file since the walk:
                // absent now; the next scan reports what it became.
                Err(e)
                    if e.kind() == std::io::ErrorKind::NotFound
                        || e.kind() == std::io::ErrorKind::InvalidInput
                        || e.raw_os_error() == Some(libc::ELOOP) =>
                {
                    Outcome::Gone
                }
                Err(e) => {
                    self.report
                        .skipped
                        .push((rel.clone(), format!("cannot read: {e}")));
                    Outcome::CarryForward
                }
            };
            outcomes.push((rel, outcome));
        }

        let generation = self.generation;
        let files = self.index.transaction(|ix| {
            let mut files = 0;
            for (rel, outcome) in &outcomes {
                match outcome {
                    Outcome::Row(row) => {
                        ix.put_local_scan(row, generation)?;
                        files += 1;
                    }
                    Outcome::RowAndSettle(row) => {
                        ix.put_local_scan(row, generation)?;
                        ix.settle_base(rel, &row.stat, &row.hash, row.checked_ns)?;
                        files += 1;
                    }
                    Outcome::CarryForward => ix.carry_forward_local(rel, false, generation)?,
                    Outcome::Gone => {}
                }
            }
            Ok::<_, ScanError>(files)
        })?;
        self.report.files += files;
        Ok(())
    }
}
