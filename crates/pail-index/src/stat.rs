//! `lstat` facts about local files and the identity of the sync root.

use std::fs::Metadata;
use std::io;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use pail_core::LocalStat;

/// Which filesystem object the sync root is. Recorded at init; a different value later means
/// the folder was replaced or a disk is not mounted (a safety stop, tenet 7).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RootIdentity {
    pub dev: u64,
    pub inode: u64,
}

/// Whether the filesystem of the folder `root` ignores case (macOS APFS and HFS+ by default,
/// FAT and exFAT drives, SMB shares). Probed with a short-lived file named like pail's own
/// temp files (which scans and the watcher skip): if its upper-case name finds it, case does
/// not tell names apart there.
pub fn folder_ignores_case(root: &Path) -> io::Result<bool> {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or_default();
    let name = pail_core::layout::temp_name(
        "case-probe",
        u64::from(std::process::id()) << 32 | u64::from(nanos),
    );
    let probe = root.join(&name);
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(&probe)?;
    let found = std::fs::symlink_metadata(root.join(name.to_uppercase())).is_ok();
    std::fs::remove_file(&probe)?;
    Ok(found)
}

/// The stat of `path` itself (`lstat`: a symlink is described, not followed).
pub fn stat_path(path: &Path) -> io::Result<LocalStat> {
    Ok(local_stat(&std::fs::symlink_metadata(path)?))
}

/// Converts metadata already at hand (from `lstat` or `fstat`).
pub fn local_stat(meta: &Metadata) -> LocalStat {
    LocalStat {
        size: meta.size(),
        mtime_ns: to_ns(meta.mtime(), meta.mtime_nsec()),
        ctime_ns: to_ns(meta.ctime(), meta.ctime_nsec()),
        inode: meta.ino(),
    }
}

/// Device and inode of the root directory. Follows a symlink: users may point pail at a link
/// to the real folder, and what must not change is the folder it reaches.
pub fn root_identity(path: &Path) -> io::Result<RootIdentity> {
    let meta = std::fs::metadata(path)?;
    Ok(RootIdentity {
        dev: meta.dev(),
        inode: meta.ino(),
    })
}

/// The mount `path` (relative to `dir`; empty: `dir` itself) is on, not following a symlink:
/// unlike the device number, it tells a bind mount of the folder's own filesystem apart.
/// `None` where the system does not say (before Linux 5.8, other systems).
pub fn mount_id(dir: std::os::fd::BorrowedFd<'_>, path: &Path) -> Option<u64> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{AtFlags, StatxFlags};
        let flags = AtFlags::SYMLINK_NOFOLLOW
            | if path.as_os_str().is_empty() {
                AtFlags::EMPTY_PATH
            } else {
                AtFlags::empty()
            };
        let st = rustix::fs::statx(dir, path, flags, StatxFlags::MNT_ID).ok()?;
        (st.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(st.stx_mnt_id)
    }
    #[cfg(not(target_os = "linux"))]
    {
        let _ = (dir, path);
        None
    }
}

/// The device of the open file or directory `fd`, and the mount it is on as [`mount_id`]
/// tells it: on Linux one `statx` where an `fstat` and a `statx` were two, for every
/// directory pail walks through on its way to a file.
pub fn dev_and_mount(fd: std::os::fd::BorrowedFd<'_>) -> io::Result<(u64, Option<u64>)> {
    #[cfg(target_os = "linux")]
    {
        use rustix::fs::{AtFlags, StatxFlags};
        let flags = AtFlags::SYMLINK_NOFOLLOW | AtFlags::EMPTY_PATH;
        // The device fields are filled whatever the mask asks for.
        if let Ok(st) = rustix::fs::statx(fd, "", flags, StatxFlags::MNT_ID) {
            let dev = rustix::fs::makedev(st.stx_dev_major, st.stx_dev_minor);
            let mount = (st.stx_mask & StatxFlags::MNT_ID.bits() != 0).then_some(st.stx_mnt_id);
            return Ok((dev, mount));
        }
    }
    // No `statx` (other systems; a sandbox that refuses it).
    let dev = rustix::fs::fstat(fd)?.st_dev as u64;
    Ok((dev, mount_id(fd, Path::new(""))))
}

/// Whether the directory `dir` is on another mount than `root` (a mount point, bind mounts of
/// the same disk included), as far as the system tells.
pub fn on_other_mount(root: &Path, dir: &Path) -> bool {
    let id = |p: &Path| mount_id(rustix::fs::CWD, p);
    // `root/.`: the folder a symlinked root leads to.
    matches!((id(&root.join(".")), id(dir)), (Some(a), Some(b)) if a != b)
}

fn to_ns(secs: i64, nsec: i64) -> i64 {
    secs.saturating_mul(1_000_000_000).saturating_add(nsec)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stat_reports_size_inode_and_times_and_does_not_follow_links() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("f");
        std::fs::write(&f, b"hello").unwrap();
        let mtime = std::time::UNIX_EPOCH + std::time::Duration::new(1_600_000_000, 123_456_789);
        std::fs::File::options()
            .write(true)
            .open(&f)
            .unwrap()
            .set_modified(mtime)
            .unwrap();
        let st = stat_path(&f).unwrap();
        assert_eq!(st.size, 5);
        assert_eq!(st.mtime_ns, 1_600_000_000_123_456_789);
        assert!(st.ctime_ns > st.mtime_ns);
        assert_eq!(st.inode, std::fs::metadata(&f).unwrap().ino());
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&f, &link).unwrap();
        assert_ne!(stat_path(&link).unwrap().inode, st.inode);

        let id = root_identity(dir.path()).unwrap();
        assert_eq!(id.inode, std::fs::metadata(dir.path()).unwrap().ino());
        assert!(root_identity(&dir.path().join("missing")).is_err());
    }

    #[test]
    fn a_linux_temp_dir_tells_case_apart_and_the_probe_leaves_nothing() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!folder_ignores_case(dir.path()).unwrap());
        assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
        assert!(folder_ignores_case(&dir.path().join("missing")).is_err());
    }
}
