//! The folder as a boundary (tenet 13): every local write reaches its file through directory
//! handles opened from the root one component at a time, never through a path the kernel
//! resolves again. A component that is a symlink (`O_NOFOLLOW`), a file, or a directory on
//! another filesystem (a mount point: its `st_dev` differs from the root's) is refused with a
//! [`SafeError`] naming the path, so whatever the bucket holds and whatever the user links
//! into the folder, pail neither writes nor deletes outside it. A path resolved once stays
//! resolved: a directory swapped for a symlink after the walk does not redirect the write,
//! which goes to the directory the handle still holds.

use std::ffi::OsStr;
use std::fs::File;
use std::io;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::path::{Component, Path, PathBuf};

use pail_core::LocalStat;
use pail_index::stat::dev_and_mount;
pub use pail_index::stat::mount_id;
use rustix::fs::{AtFlags, FileType, Mode, OFlags, Stat};
use rustix::io::Errno;

/// What stands where a directory of the folder should be.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Boundary {
    Symlink,
    MountPoint,
    /// A file, FIFO, socket or device.
    NotDir,
}

impl std::fmt::Display for Boundary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Boundary::Symlink => "a symlink",
            Boundary::MountPoint => "a mount point",
            Boundary::NotDir => "a file",
        })
    }
}

/// Why a local write was refused or failed.
#[derive(Debug, thiserror::Error)]
pub enum SafeError {
    /// A component of the path is not a plain directory of the folder's own filesystem.
    #[error("{path} is below {kind} ({at}): not written; pail writes only inside the folder")]
    Boundary {
        path: PathBuf,
        /// The component that is not a directory of the folder.
        at: PathBuf,
        kind: Boundary,
    },
    /// The path is not a plain relative path (`..`, absolute, empty).
    #[error("{0}: not a path inside the folder")]
    NotInside(PathBuf),
    #[error("{path}: {source}")]
    Io { path: PathBuf, source: io::Error },
}

impl SafeError {
    fn io(path: &Path, e: impl Into<io::Error>) -> SafeError {
        SafeError::Io {
            path: path.to_owned(),
            source: e.into(),
        }
    }

    /// Whether the error is "no such file or directory".
    pub fn is_not_found(&self) -> bool {
        matches!(self, SafeError::Io { source, .. } if source.kind() == io::ErrorKind::NotFound)
    }
}

const DIR_FLAGS: OFlags = OFlags::RDONLY
    .union(OFlags::DIRECTORY)
    .union(OFlags::NOFOLLOW)
    .union(OFlags::CLOEXEC);

/// The folder's root directory, opened once (a pass opens it anew) and the base of every
/// local write.
#[derive(Debug)]
pub struct SafeRoot {
    /// The root as configured, for messages.
    path: PathBuf,
    /// The root with symlinks resolved, as the scan reports paths.
    canonical: PathBuf,
    fd: OwnedFd,
    dev: u64,
    /// The root's mount, where the system tells (see [`mount_id`]).
    mount: Option<u64>,
}

impl SafeRoot {
    /// Opens `root`. The root itself may be reached through a symlink (users point pail at a
    /// link to the real folder); what is below it may not.
    pub fn open(root: &Path) -> Result<SafeRoot, SafeError> {
        let fd = rustix::fs::open(
            root,
            OFlags::RDONLY | OFlags::DIRECTORY | OFlags::CLOEXEC,
            Mode::empty(),
        )
        .map_err(|e| SafeError::io(root, e))?;
        // From the same call as every directory's below it (`open_dir`), so the two compare
        // like with like.
        let (dev, mount) = dev_and_mount(fd.as_fd()).map_err(|e| SafeError::io(root, e))?;
        let canonical = std::fs::canonicalize(root).unwrap_or_else(|_| root.to_owned());
        Ok(SafeRoot {
            path: root.to_owned(),
            canonical,
            mount,
            fd,
            dev,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The absolute path of `rel`, for messages.
    pub fn abs(&self, rel: &Path) -> PathBuf {
        self.path.join(rel)
    }

    /// `abs` (as the scan reports paths, or as configured) relative to the root.
    pub fn rel_of<'a>(&self, abs: &'a Path) -> Option<&'a Path> {
        abs.strip_prefix(&self.canonical)
            .or_else(|_| abs.strip_prefix(&self.path))
            .ok()
    }

    /// The directory holding `rel` and `rel`'s last component. Missing directories are made
    /// when `create`, else `Ok(None)`.
    pub fn parent(&self, rel: &Path, create: bool) -> Result<Option<Dir<'_>>, SafeError> {
        let (dirs, name) = split(rel).ok_or_else(|| SafeError::NotInside(rel.to_owned()))?;
        let mut chain = Vec::with_capacity(dirs.len());
        let mut walked = PathBuf::new();
        for comp in dirs {
            walked.push(comp);
            let at: BorrowedFd<'_> = chain
                .last()
                .map_or(self.fd.as_fd(), |d: &OwnedFd| d.as_fd());
            match self.open_dir(at, comp, &walked, rel, create)? {
                Some(fd) => chain.push(fd),
                None => return Ok(None),
            }
        }
        Ok(Some(Dir {
            rel: rel.to_owned(),
            abs: self.abs(rel),
            name: name.to_owned(),
            chain,
            root: self,
        }))
    }

    /// One step of the walk: `comp` in `at`, refused unless a plain directory on the root's
    /// filesystem.
    fn open_dir(
        &self,
        at: BorrowedFd<'_>,
        comp: &OsStr,
        walked: &Path,
        rel: &Path,
        create: bool,
    ) -> Result<Option<OwnedFd>, SafeError> {
        let boundary = |kind| SafeError::Boundary {
            path: self.abs(rel),
            at: self.abs(walked),
            kind,
        };
        let mut made = false;
        loop {
            match rustix::fs::openat(at, comp, DIR_FLAGS, Mode::empty()) {
                Ok(fd) => {
                    let (dev, mount) = dev_and_mount(fd.as_fd())
                        .map_err(|e| SafeError::io(&self.abs(walked), e))?;
                    let other_mount = self.mount.is_some_and(|m| mount.is_some_and(|n| n != m));
                    if dev != self.dev || other_mount {
                        return Err(boundary(Boundary::MountPoint));
                    }
                    return Ok(Some(fd));
                }
                Err(Errno::NOENT) if create && !made => {
                    match rustix::fs::mkdirat(at, comp, Mode::from_raw_mode(0o777)) {
                        Ok(()) | Err(Errno::EXIST) => made = true,
                        Err(e) => return Err(SafeError::io(&self.abs(walked), e)),
                    }
                }
                Err(Errno::NOENT) => return Ok(None),
                Err(Errno::LOOP | Errno::NOTDIR) => {
                    let kind = match rustix::fs::statat(at, comp, AtFlags::SYMLINK_NOFOLLOW) {
                        Ok(st) if FileType::from_raw_mode(st.st_mode as _) == FileType::Symlink => {
                            Boundary::Symlink
                        }
                        _ => Boundary::NotDir,
                    };
                    return Err(boundary(kind));
                }
                Err(e) => return Err(SafeError::io(&self.abs(walked), e)),
            }
        }
    }

    /// Opens the regular file `rel` for reading without following a symlink, and only if it
    /// is still the file `expected` describes (same inode on the folder's filesystem, same
    /// size and times): `Ok(None)` when it changed or is gone (the next pass sees why).
    pub fn open_scanned(
        &self,
        rel: &Path,
        expected: &LocalStat,
    ) -> Result<Option<File>, SafeError> {
        let Some(dir) = self.parent(rel, false)? else {
            return Ok(None);
        };
        let fd = match rustix::fs::openat(
            dir.fd(),
            dir.name(),
            OFlags::RDONLY | OFlags::NOFOLLOW | OFlags::CLOEXEC | OFlags::NONBLOCK,
            Mode::empty(),
        ) {
            Ok(fd) => fd,
            // Gone, or a symlink now (ELOOP): not the file that was scanned.
            Err(Errno::NOENT | Errno::LOOP) => return Ok(None),
            Err(e) => return Err(SafeError::io(&dir.abs, e)),
        };
        let st = rustix::fs::fstat(&fd).map_err(|e| SafeError::io(&dir.abs, e))?;
        let same = FileType::from_raw_mode(st.st_mode as _) == FileType::RegularFile
            && st.st_dev as u64 == self.dev
            && same_stat(&local_stat(&st), expected);
        Ok(same.then(|| File::from(fd)))
    }
}

/// A directory of the folder reached by [`SafeRoot::parent`], and the name in it the caller
/// is about to write. It holds the handles of every directory from the root down, so that
/// pruning empty parents removes exactly the directories walked.
#[derive(Debug)]
pub struct Dir<'r> {
    rel: PathBuf,
    abs: PathBuf,
    name: std::ffi::OsString,
    /// Handles of the directories from the root's child down to the parent.
    chain: Vec<OwnedFd>,
    root: &'r SafeRoot,
}

impl Dir<'_> {
    /// The parent directory's handle.
    pub fn fd(&self) -> BorrowedFd<'_> {
        self.chain
            .last()
            .map_or(self.root.fd.as_fd(), |d| d.as_fd())
    }

    /// The last component of the path.
    pub fn name(&self) -> &OsStr {
        &self.name
    }

    /// The path as given, relative to the root.
    pub fn rel(&self) -> &Path {
        &self.rel
    }

    /// The absolute path, for messages.
    pub fn abs(&self) -> &Path {
        &self.abs
    }

    /// A second handle on the parent directory that outlives `self` (temp files keep one).
    pub fn dup_fd(&self) -> io::Result<OwnedFd> {
        self.fd().try_clone_to_owned()
    }

    /// `lstat` of `name` in this directory: `Ok(None)` if absent.
    pub fn stat(&self, name: &OsStr) -> io::Result<Option<Stat>> {
        match rustix::fs::statat(self.fd(), name, AtFlags::SYMLINK_NOFOLLOW) {
            Ok(st) => Ok(Some(st)),
            Err(Errno::NOENT) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }

    /// Makes renames and removals in this directory durable.
    pub fn fsync(&self) -> io::Result<()> {
        Ok(rustix::fs::fsync(self.fd())?)
    }

    /// Removes the directories the file's removal left empty, deepest first, up to (not
    /// including) the root. Stops at the first that is not empty.
    pub fn prune_empty(self) {
        let mut chain = self.chain;
        let mut names: Vec<&OsStr> = split(&self.rel).map(|(dirs, _)| dirs).unwrap_or_default();
        while let (Some(_), Some(name)) = (chain.pop(), names.pop()) {
            let parent = chain.last().map_or(self.root.fd.as_fd(), |d| d.as_fd());
            if rustix::fs::unlinkat(parent, name, AtFlags::REMOVEDIR).is_err() {
                break;
            }
            let _ = rustix::fs::fsync(parent);
        }
    }
}

/// The directories and the last component of a plain relative path.
fn split(rel: &Path) -> Option<(Vec<&OsStr>, &OsStr)> {
    let mut parts = Vec::new();
    for c in rel.components() {
        match c {
            Component::Normal(n) => parts.push(n),
            Component::CurDir => {}
            _ => return None,
        }
    }
    let name = parts.pop()?;
    Some((parts, name))
}

/// The stat fields pail compares, from a raw `stat` (as [`pail_index::stat::local_stat`] makes them
/// from `lstat`).
pub fn local_stat(st: &Stat) -> LocalStat {
    let ns = |s: i64, n: i64| s.saturating_mul(1_000_000_000).saturating_add(n);
    #[allow(clippy::unnecessary_cast)]
    LocalStat {
        size: st.st_size as u64,
        mtime_ns: ns(st.st_mtime as i64, st.st_mtime_nsec as i64),
        ctime_ns: ns(st.st_ctime as i64, st.st_ctime_nsec as i64),
        inode: st.st_ino as u64,
    }
}

/// The stat of an open file, taken through its handle; `None` once no directory links to it
/// (deleted, or replaced by a rename over its name).
pub fn open_stat(file: &File) -> io::Result<Option<LocalStat>> {
    let st = rustix::fs::fstat(file)?;
    Ok((st.st_nlink > 0).then(|| local_stat(&st)))
}

/// Size, mtime, inode and ctime all equal.
pub fn same_stat(a: &LocalStat, b: &LocalStat) -> bool {
    a.size == b.size && a.mtime_ns == b.mtime_ns && a.inode == b.inode && a.ctime_ns == b.ctime_ns
}

/// Whether `st` describes a regular file.
pub fn is_file(st: &Stat) -> bool {
    FileType::from_raw_mode(st.st_mode as _) == FileType::RegularFile
}

/// The permission bits of `st`.
pub fn mode_of(st: &Stat) -> Mode {
    Mode::from_raw_mode(st.st_mode as _) & Mode::from_raw_mode(0o7777)
}

#[cfg(test)]
#[path = "safe_dir/tests.rs"]
mod tests;
