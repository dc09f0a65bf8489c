//! Local file operations with the guarantees of tenets 2 and 6: downloads land atomically
//! (temp file in the same directory, verified, fsynced, renamed, parent fsynced), and nothing
//! replaces or removes a file that changed since pail last looked at it.

use std::fs::{self, File, FileTimes};
use std::io::{self, Write};
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pail_core::plan::LocalExpect;
use pail_core::{ContentHash, LocalStat};
use pail_index::stat_path;

/// Marker in the names of pail's temporary files. The ignore rules always skip them, and a
/// pass removes the leftovers a crash can leave behind (see [`remove_leftovers`]).
pub use pail_core::layout::TEMP_MARKER;
use pail_core::layout::{TempOwner, temp_owner};

/// How old a temp file of a command outside the sync (`restore --to`) must be before a pass
/// takes it for a crash's leftover: younger, that command may be writing it right now.
pub const LEFTOVER_AGE: Duration = Duration::from_secs(60);

/// Removes the leftover temp files a scan found. Only the process holding the pair's lock
/// calls this, before its pass writes anything, so every temp file of the sync's own is a
/// leftover of a sync that ended (tenet 6: none survives a finished sync); a temp file of a
/// command outside the sync goes once it is [`LEFTOVER_AGE`] old. Names that are not exactly
/// pail's temp names are never touched.
pub fn remove_leftovers(paths: &[PathBuf]) {
    let now = SystemTime::now();
    for p in paths {
        let owner = p.file_name().and_then(|n| temp_owner(&n.to_string_lossy()));
        let old = || {
            fs::symlink_metadata(p)
                .and_then(|m| m.modified())
                .is_ok_and(|t| now.duration_since(t).unwrap_or_default() >= LEFTOVER_AGE)
        };
        let remove = match owner {
            Some(TempOwner::Sync) => true,
            Some(TempOwner::Outside) => old(),
            None => false,
        };
        if remove {
            match fs::remove_file(p) {
                Ok(()) => {
                    tracing::info!(path = %p.display(), "removed a temp file left by an interrupted download")
                }
                Err(e) => {
                    tracing::warn!(path = %p.display(), error = %e, "cannot remove a leftover temp file")
                }
            }
        }
    }
}

/// A temp file of the sync's next to `target`, so that the final rename stays on one
/// filesystem.
pub fn temp_path_for(target: &Path) -> PathBuf {
    temp_path(target, TempOwner::Sync)
}

fn temp_path(target: &Path, owner: TempOwner) -> PathBuf {
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let nonce = rand::random();
    target.with_file_name(match owner {
        TempOwner::Sync => pail_core::layout::temp_name(&name, nonce),
        TempOwner::Outside => pail_core::layout::outside_temp_name(&name, nonce),
    })
}

/// Writes chunks to a new temp file while hashing them.
#[derive(Debug)]
pub struct TempWriter {
    path: PathBuf,
    file: Option<File>,
    hasher: blake3::Hasher,
    len: u64,
}

impl TempWriter {
    /// A temp file of the sync's for `target` (the caller holds the pair).
    pub fn create(target: &Path) -> io::Result<TempWriter> {
        TempWriter::create_as(target, TempOwner::Sync)
    }

    /// A temp file for `target` written by a command that does not hold the pair
    /// (`restore --to`), which a sync running meanwhile leaves alone.
    pub fn create_outside(target: &Path) -> io::Result<TempWriter> {
        TempWriter::create_as(target, TempOwner::Outside)
    }

    fn create_as(target: &Path, owner: TempOwner) -> io::Result<TempWriter> {
        if let Some(dir) = target.parent() {
            fs::create_dir_all(dir)?;
        }
        let path = temp_path(target, owner);
        let file = File::options().write(true).create_new(true).open(&path)?;
        Ok(TempWriter {
            path,
            file: Some(file),
            hasher: blake3::Hasher::new(),
            len: 0,
        })
    }

    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.len += chunk.len() as u64;
        self.file.as_mut().expect("open").write_all(chunk)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the modification time, fsyncs, and returns the verified temp file.
    pub fn finish(mut self, mtime_ns: Option<i64>) -> io::Result<Downloaded> {
        let file = self.file.take().expect("open");
        if let Some(ns) = mtime_ns.filter(|ns| *ns > 0) {
            let t = UNIX_EPOCH + Duration::from_nanos(ns as u64);
            file.set_times(
                FileTimes::new()
                    .set_modified(t)
                    .set_accessed(SystemTime::now()),
            )?;
        }
        file.sync_all()?;
        let hash = ContentHash(*self.hasher.finalize().as_bytes());
        Ok(Downloaded {
            path: std::mem::take(&mut self.path),
            hash,
            len: self.len,
        })
    }
}

impl Drop for TempWriter {
    fn drop(&mut self) {
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// A complete, fsynced temp file and its hash.
#[derive(Debug)]
pub struct Downloaded {
    pub path: PathBuf,
    pub hash: ContentHash,
    pub len: u64,
}

impl Drop for Downloaded {
    fn drop(&mut self) {
        // Placed files have an empty path; anything else is a leftover.
        if !self.path.as_os_str().is_empty() {
            let _ = fs::remove_file(&self.path);
        }
    }
}

/// Why a local replace/delete did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{0} changed since it was scanned; the local edit wins and syncs next")]
    Changed(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LocalError + '_ {
    move |source| LocalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Does the file at `target` still match what the plan expected? (tenet 2)
pub fn still_expected(target: &Path, expect: &LocalExpect) -> Result<bool, LocalError> {
    match (expect, stat_path(target)) {
        (LocalExpect::Absent, Err(e)) if e.kind() == io::ErrorKind::NotFound => Ok(true),
        (LocalExpect::Absent, Ok(_)) => Ok(false),
        (LocalExpect::Is { stat, .. }, Ok(now)) => Ok(same_stat(stat, &now)),
        (LocalExpect::Is { .. }, Err(e)) if e.kind() == io::ErrorKind::NotFound => Ok(false),
        (_, Err(e)) => Err(LocalError::Io {
            path: target.to_owned(),
            source: e,
        }),
    }
}

/// Size, mtime, inode and ctime all equal.
pub fn same_stat(a: &LocalStat, b: &LocalStat) -> bool {
    a.size == b.size && a.mtime_ns == b.mtime_ns && a.inode == b.inode && a.ctime_ns == b.ctime_ns
}

/// Puts a verified temp file at `target` if the target is still what `expect` says, and
/// returns the stat of the placed file.
pub fn place(
    mut tmp: Downloaded,
    target: &Path,
    expect: &LocalExpect,
) -> Result<LocalStat, LocalError> {
    match expect {
        LocalExpect::Absent => {
            // A hard link fails if the target exists: "create if absent" without a window in
            // which a file the user just made could be replaced.
            match fs::hard_link(&tmp.path, target) {
                Ok(()) => {
                    fs::remove_file(&tmp.path).map_err(io_err(&tmp.path))?;
                }
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                    return Err(LocalError::Changed(target.to_owned()));
                }
                Err(_) => {
                    // Filesystems without hard links (FAT, some FUSE): check, then rename.
                    if !still_expected(target, expect)? {
                        return Err(LocalError::Changed(target.to_owned()));
                    }
                    fs::rename(&tmp.path, target).map_err(io_err(target))?;
                }
            }
        }
        LocalExpect::Is { .. } => {
            if !still_expected(target, expect)? {
                return Err(LocalError::Changed(target.to_owned()));
            }
            fs::rename(&tmp.path, target).map_err(io_err(target))?;
        }
    }
    tmp.path = PathBuf::new();
    if let Some(dir) = target.parent() {
        fsync_dir(dir).map_err(io_err(dir))?;
    }
    stat_path(target).map_err(io_err(target))
}

/// Moves `from` to `to` only if `to` does not exist (conflict copies never replace anything).
pub fn move_no_replace(from: &Path, to: &Path) -> Result<(), LocalError> {
    match fs::hard_link(from, to) {
        Ok(()) => fs::remove_file(from).map_err(io_err(from)),
        Err(e) if e.kind() == io::ErrorKind::AlreadyExists => Err(LocalError::Io {
            path: to.to_owned(),
            source: e,
        }),
        Err(_) => {
            if to.symlink_metadata().is_ok() {
                return Err(LocalError::Io {
                    path: to.to_owned(),
                    source: io::Error::from(io::ErrorKind::AlreadyExists),
                });
            }
            fs::rename(from, to).map_err(io_err(to))
        }
    }
}

/// Removes a file that must still match `expect`, then the directories it leaves empty (up to,
/// not including, `root`).
pub fn remove_expected(root: &Path, target: &Path, expect: &LocalExpect) -> Result<(), LocalError> {
    if !still_expected(target, expect)? {
        return Err(LocalError::Changed(target.to_owned()));
    }
    match fs::remove_file(target) {
        Ok(()) => {}
        Err(e) if e.kind() == io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(LocalError::Io {
                path: target.to_owned(),
                source: e,
            });
        }
    }
    let mut dir = target.parent();
    while let Some(d) = dir {
        if d == root || !d.starts_with(root) || fs::remove_dir(d).is_err() {
            break;
        }
        dir = d.parent();
    }
    if let Some(d) = target.parent().filter(|d| d.exists()) {
        let _ = fsync_dir(d);
    }
    Ok(())
}

/// Removes `dir` if it is an empty directory (never anything in it): where a file is to be
/// placed and a folder with nothing left in it stands. `false`: it is not empty, or not there.
pub fn remove_empty_dir(dir: &Path) -> bool {
    fs::remove_dir(dir).is_ok()
}

/// Makes a rename in `dir` durable (a rename is in the directory, not the file).
pub fn fsync_dir(dir: &Path) -> io::Result<()> {
    File::open(dir)?.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn download(dir: &Path, name: &str, body: &[u8]) -> Downloaded {
        let mut w = TempWriter::create(&dir.join(name)).unwrap();
        w.write(body).unwrap();
        w.finish(Some(1_600_000_000_000_000_000)).unwrap()
    }

    #[test]
    fn place_absent_never_replaces_a_new_local_file() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("a.txt");
        fs::write(&target, b"user's new file").unwrap();
        let tmp = download(d.path(), "a.txt", b"remote");
        let tmp_path = tmp.path.clone();
        assert!(matches!(
            place(tmp, &target, &LocalExpect::Absent),
            Err(LocalError::Changed(_))
        ));
        assert_eq!(fs::read(&target).unwrap(), b"user's new file");
        assert!(!tmp_path.exists(), "temp file must not survive");
    }

    #[test]
    fn place_replaces_only_an_unchanged_file() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("a.txt");
        fs::write(&target, b"old").unwrap();
        let stat = stat_path(&target).unwrap();
        let expect = LocalExpect::Is {
            stat,
            hash: ContentHash([0; 32]),
        };
        std::thread::sleep(Duration::from_millis(20));
        fs::write(&target, b"edited").unwrap();
        let tmp = download(d.path(), "a.txt", b"remote");
        assert!(place(tmp, &target, &expect).is_err());
        assert_eq!(fs::read(&target).unwrap(), b"edited");

        let stat = stat_path(&target).unwrap();
        let expect = LocalExpect::Is {
            stat,
            hash: ContentHash([0; 32]),
        };
        let tmp = download(d.path(), "a.txt", b"remote");
        let placed = place(tmp, &target, &expect).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"remote");
        assert_eq!(placed.mtime_ns, 1_600_000_000_000_000_000);
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn remove_prunes_empty_parents_but_not_root() {
        let d = tempfile::tempdir().unwrap();
        let target = d.path().join("x/y/z.txt");
        fs::create_dir_all(target.parent().unwrap()).unwrap();
        fs::write(&target, b"z").unwrap();
        let stat = stat_path(&target).unwrap();
        remove_expected(
            d.path(),
            &target,
            &LocalExpect::Is {
                stat,
                hash: ContentHash([0; 32]),
            },
        )
        .unwrap();
        assert!(!d.path().join("x").exists());
        assert!(d.path().exists());
    }
}
