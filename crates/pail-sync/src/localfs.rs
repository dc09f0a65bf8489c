//! Local file operations with the guarantees of tenets 2, 6 and 13: downloads land atomically
//! (temp file in the same directory, verified, fsynced, renamed, parent fsynced), nothing
//! replaces or removes a file that changed since pail last looked at it, and every write goes
//! through the directory handles of [`crate::safe_dir`], so none lands outside the folder.

use std::ffi::{OsStr, OsString};
use std::fs::{File, FileTimes};
use std::io::{self, Write};
use std::os::fd::OwnedFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use pail_core::plan::LocalExpect;
use pail_core::{ContentHash, LocalStat};
use rustix::fs::{AtFlags, Mode, OFlags};
use rustix::io::Errno;

pub use crate::safe_dir::same_stat;
use crate::safe_dir::{Dir, SafeError, SafeRoot, local_stat, mode_of};

/// Marker in the names of pail's temporary files. The ignore rules always skip them, and a
/// pass removes the leftovers a crash can leave behind (see [`remove_leftovers`]).
pub use pail_core::layout::TEMP_MARKER;
use pail_core::layout::{TempOwner, temp_owner};

/// How old a temp file of a command outside the sync (`restore --to`) must be before a pass
/// takes it for a crash's leftover: younger, that command may be writing it right now.
pub const LEFTOVER_AGE: Duration = Duration::from_secs(60);

/// Removes the leftover temp files a scan found (absolute paths inside `root`). Only the
/// process holding the pair's lock calls this, before its pass writes anything, so every temp
/// file of the sync's own is a leftover of a sync that ended (tenet 6: none survives a
/// finished sync); a temp file of a command outside the sync goes once it is [`LEFTOVER_AGE`]
/// old. Names that are not exactly pail's temp names are never touched.
pub fn remove_leftovers(root: &SafeRoot, paths: &[PathBuf]) {
    let now = SystemTime::now();
    for p in paths {
        let Some(owner) = p.file_name().and_then(|n| temp_owner(&n.to_string_lossy())) else {
            continue;
        };
        let removed = root
            .rel_of(p)
            .ok_or_else(|| SafeError::NotInside(p.clone()))
            .and_then(|rel| root.parent(rel, false))
            .and_then(|dir| {
                let Some(dir) = dir else { return Ok(false) };
                let st = dir.stat(dir.name()).map_err(|source| SafeError::Io {
                    path: p.clone(),
                    source,
                })?;
                let old = st.is_some_and(|st| {
                    let mtime = UNIX_EPOCH + Duration::from_secs(st.st_mtime.max(0) as u64);
                    now.duration_since(mtime).unwrap_or_default() >= LEFTOVER_AGE
                });
                let remove = match owner {
                    TempOwner::Sync => st.is_some(),
                    TempOwner::Outside => old,
                };
                if remove {
                    rustix::fs::unlinkat(dir.fd(), dir.name(), AtFlags::empty()).map_err(|e| {
                        SafeError::Io {
                            path: p.clone(),
                            source: e.into(),
                        }
                    })?;
                }
                Ok(remove)
            });
        match removed {
            Ok(true) => {
                tracing::info!(path = %p.display(), "removed a temp file left by an interrupted download")
            }
            Ok(false) => {}
            Err(e) => {
                tracing::warn!(path = %p.display(), error = %e, "cannot remove a leftover temp file")
            }
        }
    }
}

fn temp_name(target: &OsStr, owner: TempOwner) -> OsString {
    let name = target.to_string_lossy();
    let nonce = rand::random();
    OsString::from(match owner {
        TempOwner::Sync => pail_core::layout::temp_name(&name, nonce),
        TempOwner::Outside => pail_core::layout::outside_temp_name(&name, nonce),
    })
}

/// A temp file in the directory of its target, with a handle on that directory.
#[derive(Debug)]
struct Temp {
    /// The directory (the temp file's and the target's).
    dir: OwnedFd,
    /// The temp file's name in it; empty once placed.
    name: OsString,
    /// The target, relative to the root.
    rel: PathBuf,
    /// The temp file's absolute path, for messages.
    path: PathBuf,
}

impl Drop for Temp {
    fn drop(&mut self) {
        // Placed files have an empty name; anything else is a leftover.
        if !self.name.is_empty() {
            let _ = rustix::fs::unlinkat(&self.dir, &self.name, AtFlags::empty());
        }
    }
}

/// Writes chunks to a new temp file while hashing them.
#[derive(Debug)]
pub struct TempWriter {
    temp: Temp,
    file: File,
    hasher: blake3::Hasher,
    len: u64,
}

impl TempWriter {
    /// A temp file of the sync's for `rel` (the caller holds the pair); missing parent
    /// directories are made.
    pub fn create(root: &SafeRoot, rel: &Path) -> Result<TempWriter, LocalError> {
        TempWriter::create_as(root, rel, TempOwner::Sync)
    }

    /// A temp file for `rel` written by a command that does not hold the pair
    /// (`restore --to`), which a sync running meanwhile leaves alone.
    pub fn create_outside(root: &SafeRoot, rel: &Path) -> Result<TempWriter, LocalError> {
        TempWriter::create_as(root, rel, TempOwner::Outside)
    }

    fn create_as(root: &SafeRoot, rel: &Path, owner: TempOwner) -> Result<TempWriter, LocalError> {
        let dir = root.parent(rel, true)?.expect("parents are created");
        let name = temp_name(dir.name(), owner);
        let path = dir.abs().with_file_name(&name);
        // 0666: the kernel applies the user's umask, as for any new file.
        let fd = rustix::fs::openat(
            dir.fd(),
            &name,
            OFlags::WRONLY | OFlags::CREATE | OFlags::EXCL | OFlags::NOFOLLOW | OFlags::CLOEXEC,
            Mode::from_raw_mode(0o666),
        )
        .map_err(|e| io_err(&path)(e.into()))?;
        Ok(TempWriter {
            temp: Temp {
                dir: dir.dup_fd().map_err(io_err(dir.abs()))?,
                name,
                rel: rel.to_owned(),
                path,
            },
            file: File::from(fd),
            hasher: blake3::Hasher::new(),
            len: 0,
        })
    }

    /// Hash what is written with `hashing` (keyed on an encrypted pair) instead of plain
    /// blake3. Before the first write.
    pub fn with_hashing(mut self, hashing: &pail_index::Hashing) -> TempWriter {
        debug_assert_eq!(self.len, 0);
        self.hasher = hashing.hasher();
        self
    }

    pub fn write(&mut self, chunk: &[u8]) -> io::Result<()> {
        self.hasher.update(chunk);
        self.len += chunk.len() as u64;
        self.file.write_all(chunk)
    }

    pub fn len(&self) -> u64 {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Sets the modification time, fsyncs, and returns the verified temp file.
    pub fn finish(self, mtime_ns: Option<i64>) -> io::Result<Downloaded> {
        if let Some(ns) = mtime_ns.filter(|ns| *ns > 0) {
            let t = UNIX_EPOCH + Duration::from_nanos(ns as u64);
            self.file.set_times(
                FileTimes::new()
                    .set_modified(t)
                    .set_accessed(SystemTime::now()),
            )?;
        }
        self.file.sync_all()?;
        let hash = ContentHash(*self.hasher.finalize().as_bytes());
        Ok(Downloaded {
            path: self.temp.path.clone(),
            hash,
            len: self.len,
            temp: self.temp,
            file: self.file,
        })
    }
}

/// A complete, fsynced temp file and its hash.
#[derive(Debug)]
pub struct Downloaded {
    /// The temp file, for messages.
    pub path: PathBuf,
    pub hash: ContentHash,
    pub len: u64,
    temp: Temp,
    file: File,
}

impl Downloaded {
    /// Gives the temp file the permission bits of the file now at `rel`, if any (a conflict
    /// moves the local file aside and places the download under its name: the name keeps its
    /// permissions, as a replaced file does).
    pub fn keep_mode_of(&self, root: &SafeRoot, rel: &Path) -> Result<(), LocalError> {
        let Some(dir) = root.parent(rel, false)? else {
            return Ok(());
        };
        if let Some(st) = dir.stat(dir.name()).map_err(io_err(dir.abs()))? {
            rustix::fs::fchmod(&self.file, mode_of(&st))
                .map_err(|e| io_err(&self.path)(e.into()))?;
        }
        Ok(())
    }
}

/// Why a local replace/delete did not happen.
#[derive(Debug, thiserror::Error)]
pub enum LocalError {
    #[error("{0} changed since it was scanned; the local edit wins and syncs next")]
    Changed(PathBuf),
    /// Below a symlink, a mount point or a file, or an I/O error on the way there.
    #[error(transparent)]
    Safe(#[from] SafeError),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

fn io_err(path: &Path) -> impl FnOnce(io::Error) -> LocalError + '_ {
    move |source| LocalError::Io {
        path: path.to_owned(),
        source,
    }
}

/// Does the file at `rel` still match what the plan expected? (tenet 2) The stat is taken
/// through the parent directory's handle and does not follow a symlink.
pub fn still_expected(
    root: &SafeRoot,
    rel: &Path,
    expect: &LocalExpect,
) -> Result<bool, LocalError> {
    let now = match root.parent(rel, false)? {
        Some(dir) => dir.stat(dir.name()).map_err(io_err(dir.abs()))?,
        None => None,
    };
    Ok(matches_expect(now.as_ref(), expect))
}

/// The `lstat` of `rel` through the parent directory's handle; `None` if absent.
pub fn stat_at(root: &SafeRoot, rel: &Path) -> Result<Option<LocalStat>, LocalError> {
    let Some(dir) = root.parent(rel, false)? else {
        return Ok(None);
    };
    let st = dir.stat(dir.name()).map_err(io_err(dir.abs()))?;
    Ok(st.as_ref().map(local_stat))
}

fn matches_expect(now: Option<&rustix::fs::Stat>, expect: &LocalExpect) -> bool {
    match (expect, now) {
        (LocalExpect::Absent, None) => true,
        (LocalExpect::Is { stat, .. }, Some(now)) => same_stat(stat, &local_stat(now)),
        _ => false,
    }
}

/// Puts a verified temp file at its target if the target is still what `expect` says, and
/// returns the stat of the placed file. A file replaced keeps its permission bits.
pub fn place(
    mut tmp: Downloaded,
    root: &SafeRoot,
    expect: &LocalExpect,
) -> Result<LocalStat, LocalError> {
    // Walk to the target's directory again: if a directory on the way was swapped since the
    // temp file was made (for a symlink, or moved out of the folder), the temp file's own
    // directory is no longer the target's and nothing is placed.
    let rel = tmp.temp.rel.clone();
    let dir = root
        .parent(&rel, false)?
        .ok_or_else(|| LocalError::Changed(root.abs(&rel)))?;
    if !same_dir(&dir, &tmp.temp.dir).map_err(io_err(dir.abs()))? {
        return Err(LocalError::Changed(dir.abs().to_owned()));
    }
    let target = dir.abs().to_owned();
    let now = dir.stat(dir.name()).map_err(io_err(&target))?;
    if !matches_expect(now.as_ref(), expect) {
        return Err(LocalError::Changed(target));
    }
    match (expect, now) {
        (LocalExpect::Absent, _) => {
            // A hard link fails if the target exists: "create if absent" without a window in
            // which a file the user just made could be replaced.
            match rustix::fs::linkat(
                dir.fd(),
                &tmp.temp.name,
                dir.fd(),
                dir.name(),
                AtFlags::empty(),
            ) {
                Ok(()) => {
                    rustix::fs::unlinkat(dir.fd(), &tmp.temp.name, AtFlags::empty())
                        .map_err(|e| io_err(&tmp.path)(e.into()))?;
                }
                Err(Errno::EXIST) => return Err(LocalError::Changed(target)),
                Err(_) => {
                    // Filesystems without hard links (FAT, some FUSE): check, then rename.
                    if dir.stat(dir.name()).map_err(io_err(&target))?.is_some() {
                        return Err(LocalError::Changed(target));
                    }
                    rename_in(&dir, &tmp.temp.name, &target)?;
                }
            }
        }
        (LocalExpect::Is { .. }, Some(old)) => {
            rustix::fs::fchmod(&tmp.file, mode_of(&old))
                .map_err(|e| io_err(&tmp.path)(e.into()))?;
            rename_in(&dir, &tmp.temp.name, &target)?;
        }
        (LocalExpect::Is { .. }, None) => unreachable!("checked by matches_expect"),
    }
    tmp.temp.name = OsString::new();
    dir.fsync().map_err(io_err(&target))?;
    let placed = dir
        .stat(dir.name())
        .map_err(io_err(&target))?
        .ok_or_else(|| io_err(&target)(io::ErrorKind::NotFound.into()))?;
    Ok(local_stat(&placed))
}

fn rename_in(dir: &Dir<'_>, from: &OsStr, target: &Path) -> Result<(), LocalError> {
    rustix::fs::renameat(dir.fd(), from, dir.fd(), dir.name()).map_err(|e| io_err(target)(e.into()))
}

/// Whether the walked directory is the one the temp file was made in.
fn same_dir(dir: &Dir<'_>, fd: &OwnedFd) -> io::Result<bool> {
    let (a, b) = (rustix::fs::fstat(dir.fd())?, rustix::fs::fstat(fd)?);
    Ok(a.st_dev == b.st_dev && a.st_ino == b.st_ino)
}

/// Moves `from` to `to` (both relative to `root`) only if `to` does not exist (conflict
/// copies never replace anything).
pub fn move_no_replace(root: &SafeRoot, from: &Path, to: &Path) -> Result<(), LocalError> {
    let src = root
        .parent(from, false)?
        .ok_or_else(|| io_err(&root.abs(from))(io::ErrorKind::NotFound.into()))?;
    let dst = root.parent(to, true)?.expect("parents are created");
    let exists = || LocalError::Io {
        path: dst.abs().to_owned(),
        source: io::Error::from(io::ErrorKind::AlreadyExists),
    };
    match rustix::fs::linkat(src.fd(), src.name(), dst.fd(), dst.name(), AtFlags::empty()) {
        Ok(()) => rustix::fs::unlinkat(src.fd(), src.name(), AtFlags::empty())
            .map_err(|e| io_err(src.abs())(e.into()))?,
        Err(Errno::EXIST) => return Err(exists()),
        Err(_) => {
            if dst.stat(dst.name()).map_err(io_err(dst.abs()))?.is_some() {
                return Err(exists());
            }
            rustix::fs::renameat(src.fd(), src.name(), dst.fd(), dst.name())
                .map_err(|e| io_err(dst.abs())(e.into()))?;
        }
    }
    let _ = dst.fsync();
    let _ = src.fsync();
    Ok(())
}

/// Moves `from` over `to` if `to` is still what `expect` says (`pail conflicts --keep local`).
pub fn move_replacing(
    root: &SafeRoot,
    from: &Path,
    to: &Path,
    expect: &LocalExpect,
) -> Result<(), LocalError> {
    let src = root
        .parent(from, false)?
        .ok_or_else(|| io_err(&root.abs(from))(io::ErrorKind::NotFound.into()))?;
    let dst = root.parent(to, true)?.expect("parents are created");
    if !matches_expect(
        dst.stat(dst.name()).map_err(io_err(dst.abs()))?.as_ref(),
        expect,
    ) {
        return Err(LocalError::Changed(dst.abs().to_owned()));
    }
    rustix::fs::renameat(src.fd(), src.name(), dst.fd(), dst.name())
        .map_err(|e| io_err(dst.abs())(e.into()))?;
    let _ = dst.fsync();
    let _ = src.fsync();
    Ok(())
}

/// Removes a file that must still match `expect`, then the directories it leaves empty (up to,
/// not including, the root).
pub fn remove_expected(
    root: &SafeRoot,
    rel: &Path,
    expect: &LocalExpect,
) -> Result<(), LocalError> {
    let Some(dir) = root.parent(rel, false)? else {
        return match expect {
            LocalExpect::Absent => Ok(()),
            LocalExpect::Is { .. } => Err(LocalError::Changed(root.abs(rel))),
        };
    };
    if !matches_expect(
        dir.stat(dir.name()).map_err(io_err(dir.abs()))?.as_ref(),
        expect,
    ) {
        return Err(LocalError::Changed(dir.abs().to_owned()));
    }
    match rustix::fs::unlinkat(dir.fd(), dir.name(), AtFlags::empty()) {
        Ok(()) | Err(Errno::NOENT) => {}
        Err(e) => return Err(io_err(dir.abs())(e.into())),
    }
    let _ = dir.fsync();
    dir.prune_empty();
    Ok(())
}

/// Removes the folder `rel` if it is empty (never anything in it): where a file is to be
/// placed and a folder with nothing left in it stands. `false`: it is not empty, or not there.
pub fn remove_empty_dir(root: &SafeRoot, rel: &Path) -> Result<bool, LocalError> {
    let Some(dir) = root.parent(rel, false)? else {
        return Ok(false);
    };
    Ok(
        match rustix::fs::unlinkat(dir.fd(), dir.name(), AtFlags::REMOVEDIR) {
            Ok(()) => {
                let _ = dir.fsync();
                true
            }
            Err(_) => false,
        },
    )
}

/// `rel` of a [`pail_core::RelPath`] as a path for the functions above.
pub fn rel(path: &pail_core::RelPath) -> &Path {
    Path::new(OsStr::from_bytes(path.as_str().as_bytes()))
}

#[cfg(test)]
mod tests {
    use std::fs;
    use std::os::unix::fs::PermissionsExt;

    use pail_index::stat_path;

    use super::*;

    fn download(root: &SafeRoot, name: &str, body: &[u8]) -> Downloaded {
        let mut w = TempWriter::create(root, Path::new(name)).unwrap();
        w.write(body).unwrap();
        w.finish(Some(1_600_000_000_000_000_000)).unwrap()
    }

    fn is(target: &Path) -> LocalExpect {
        LocalExpect::Is {
            stat: stat_path(target).unwrap(),
            hash: ContentHash([0; 32]),
        }
    }

    #[test]
    fn place_absent_never_replaces_a_new_local_file() {
        let d = tempfile::tempdir().unwrap();
        let root = SafeRoot::open(d.path()).unwrap();
        let target = d.path().join("a.txt");
        fs::write(&target, b"user's new file").unwrap();
        let tmp = download(&root, "a.txt", b"remote");
        let tmp_path = tmp.path.clone();
        assert!(matches!(
            place(tmp, &root, &LocalExpect::Absent),
            Err(LocalError::Changed(_))
        ));
        assert_eq!(fs::read(&target).unwrap(), b"user's new file");
        assert!(!tmp_path.exists(), "temp file must not survive");
    }

    #[test]
    fn place_replaces_only_an_unchanged_file() {
        let d = tempfile::tempdir().unwrap();
        let root = SafeRoot::open(d.path()).unwrap();
        let target = d.path().join("a.txt");
        fs::write(&target, b"old").unwrap();
        let expect = is(&target);
        std::thread::sleep(Duration::from_millis(20));
        fs::write(&target, b"edited").unwrap();
        let tmp = download(&root, "a.txt", b"remote");
        assert!(place(tmp, &root, &expect).is_err());
        assert_eq!(fs::read(&target).unwrap(), b"edited");

        let tmp = download(&root, "a.txt", b"remote");
        let placed = place(tmp, &root, &is(&target)).unwrap();
        assert_eq!(fs::read(&target).unwrap(), b"remote");
        assert_eq!(placed.mtime_ns, 1_600_000_000_000_000_000);
        assert_eq!(placed, stat_path(&target).unwrap());
        assert_eq!(
            fs::read_dir(d.path()).unwrap().count(),
            1,
            "no temp file left"
        );
    }

    #[test]
    fn a_replaced_file_keeps_its_mode_and_a_new_one_gets_the_umask() {
        let d = tempfile::tempdir().unwrap();
        let root = SafeRoot::open(d.path()).unwrap();
        let private = d.path().join("private.txt");
        fs::write(&private, b"old").unwrap();
        fs::set_permissions(&private, fs::Permissions::from_mode(0o600)).unwrap();
        let tmp = download(&root, "private.txt", b"edited elsewhere");
        place(tmp, &root, &is(&private)).unwrap();
        let mode = |p: &Path| fs::metadata(p).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode(&private), 0o600);

        // A new file gets what any program's new file gets: 0666 less the umask.
        let tmp = download(&root, "new.txt", b"new");
        place(tmp, &root, &LocalExpect::Absent).unwrap();
        fs::write(d.path().join("by-hand.txt"), b"x").unwrap();
        assert_eq!(
            mode(&d.path().join("new.txt")),
            mode(&d.path().join("by-hand.txt"))
        );
    }

    #[test]
    fn place_makes_missing_parents_and_remove_prunes_them_but_not_root() {
        let d = tempfile::tempdir().unwrap();
        let root = SafeRoot::open(d.path()).unwrap();
        let tmp = download(&root, "x/y/z.txt", b"z");
        place(tmp, &root, &LocalExpect::Absent).unwrap();
        let target = d.path().join("x/y/z.txt");
        assert_eq!(fs::read(&target).unwrap(), b"z");
        fs::write(d.path().join("keep.txt"), b"k").unwrap();
        remove_expected(&root, Path::new("x/y/z.txt"), &is(&target)).unwrap();
        assert!(!d.path().join("x").exists());
        assert!(d.path().join("keep.txt").exists());
    }

    #[test]
    fn remove_refuses_a_changed_file_and_prunes_only_empty_dirs() {
        let d = tempfile::tempdir().unwrap();
        let root = SafeRoot::open(d.path()).unwrap();
        fs::create_dir_all(d.path().join("a/b")).unwrap();
        fs::write(d.path().join("a/other"), b"o").unwrap();
        let target = d.path().join("a/b/f");
        fs::write(&target, b"1").unwrap();
        let expect = is(&target);
        std::thread::sleep(Duration::from_millis(20));
        fs::write(&target, b"22").unwrap();
        assert!(matches!(
            remove_expected(&root, Path::new("a/b/f"), &expect),
            Err(LocalError::Changed(_))
        ));
        remove_expected(&root, Path::new("a/b/f"), &is(&target)).unwrap();
        assert!(!d.path().join("a/b").exists());
        assert!(d.path().join("a/other").exists());
    }

    #[test]
    fn move_no_replace_never_overwrites() {
        let d = tempfile::tempdir().unwrap();
        let root = SafeRoot::open(d.path()).unwrap();
        fs::write(d.path().join("a"), b"a").unwrap();
        fs::write(d.path().join("b"), b"b").unwrap();
        assert!(move_no_replace(&root, Path::new("a"), Path::new("b")).is_err());
        assert_eq!(fs::read(d.path().join("b")).unwrap(), b"b");
        move_no_replace(&root, Path::new("a"), Path::new("c/d")).unwrap();
        assert_eq!(fs::read(d.path().join("c/d")).unwrap(), b"a");
        assert!(!d.path().join("a").exists());
    }

    #[test]
    fn leftovers_go_only_when_they_are_pail_temp_names() {
        let d = tempfile::tempdir().unwrap();
        let root = SafeRoot::open(d.path()).unwrap();
        let tmp = d.path().join(pail_core::layout::temp_name("f.txt", 7));
        let not_tmp = d.path().join("f.txt.pail-tmp-notes");
        fs::write(&tmp, b"partial").unwrap();
        fs::write(&not_tmp, b"mine").unwrap();
        remove_leftovers(&root, &[tmp.clone(), not_tmp.clone()]);
        assert!(!tmp.exists());
        assert!(not_tmp.exists());
    }
}
