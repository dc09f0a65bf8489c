//! inotify limits and the message that tells the user how to raise them.
//!
//! inotify needs one watch per directory, counted against `fs.inotify.max_user_watches`: per
//! user, shared by every program of that user, often 8192 by default. Running out gives
//! ENOSPC, which notify reports as `ErrorKind::MaxFilesWatch`.

use std::path::Path;

/// Errno for "No space left on device", what `inotify_add_watch` returns at the limit.
const ENOSPC: i32 = 28;

/// The inotify limits in force (Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InotifyLimits {
    /// `fs.inotify.max_user_watches`, the host-wide per-user limit.
    pub max_user_watches: u64,
    /// `user.max_inotify_watches` of this user namespace (Linux 4.9+), when lower than the
    /// host-wide one: containers and `unshare` can set their own, and the lower one applies.
    pub namespace_max_watches: Option<u64>,
    /// `fs.inotify.max_user_instances`.
    pub max_user_instances: u64,
    /// `fs.inotify.max_queued_events`: past it the kernel drops events (seen as a rescan).
    pub max_queued_events: u64,
}

impl InotifyLimits {
    /// The watch limit that applies to this process.
    pub fn effective_max_watches(&self) -> u64 {
        self.namespace_max_watches
            .map_or(self.max_user_watches, |ns| ns.min(self.max_user_watches))
    }
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads the limits from /proc; `None` where there is no inotify (macOS, Windows).
pub fn inotify_limits() -> Option<InotifyLimits> {
    let max_user_watches = read_u64("/proc/sys/fs/inotify/max_user_watches")?;
    let namespace_max_watches =
        read_u64("/proc/sys/user/max_inotify_watches").filter(|&ns| ns < max_user_watches);
    Some(InotifyLimits {
        max_user_watches,
        namespace_max_watches,
        max_user_instances: read_u64("/proc/sys/fs/inotify/max_user_instances").unwrap_or(0),
        max_queued_events: read_u64("/proc/sys/fs/inotify/max_queued_events").unwrap_or(0),
    })
}

/// Directories under `root`, itself included, symlinks not followed (the watcher does not
/// follow them either): inotify needs one watch for each.
pub fn count_dirs(root: &Path) -> u64 {
    let mut count = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        count += 1;
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            // `DirEntry::file_type` does not follow symlinks.
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    count
}

/// A watch limit for a folder of `dirs` directories: twice the directories (room for the
/// folder to grow), and at least `current + dirs` (the watches other programs of the same
/// user already hold stay available), rounded up to a multiple of 1024.
pub fn suggested_watches(dirs: u64, current: u64) -> u64 {
    (dirs.saturating_mul(2))
        .max(current.saturating_add(dirs))
        .max(1)
        .next_multiple_of(1024)
}

/// True when `e` means the inotify watch limit was reached.
pub(crate) fn is_out_of_watches(e: &notify::Error) -> bool {
    match &e.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => io.raw_os_error() == Some(ENOSPC),
        _ => false,
    }
}

/// What to tell the user when watching `root` (with `dirs` directories) ran out of watches.
pub(crate) fn too_many_watches_hint(
    root: &Path,
    dirs: u64,
    limits: Option<InotifyLimits>,
) -> String {
    let Some(l) = limits else {
        return format!(
            "out of file watches while watching {} ({dirs} directories)",
            root.display()
        );
    };
    let host = suggested_watches(dirs, l.max_user_watches);
    let mut s = format!(
        "out of inotify watches while watching {root} ({dirs} directories, one watch each; the \
         limit is per user and shared by all programs): fs.inotify.max_user_watches is {cur}. \
         Raise it with `sudo sysctl fs.inotify.max_user_watches={host}` and keep it across \
         reboots with `echo fs.inotify.max_user_watches={host} | sudo tee /etc/sysctl.d/90-pail.conf`",
        root = root.display(),
        cur = l.max_user_watches,
    );
    if let Some(ns) = l.namespace_max_watches {
        let n = suggested_watches(dirs, ns);
        s.push_str(&format!(
            ". This user namespace (container) has a lower limit, user.max_inotify_watches = \
             {ns}: raise it inside the namespace with `sysctl user.max_inotify_watches={n}`"
        ));
    }
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_directories_without_following_symlinks() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b/c")).unwrap();
        std::fs::write(d.path().join("a/file"), b"x").unwrap();
        #[cfg(unix)]
        std::os::unix::fs::symlink(d.path().join("a"), d.path().join("link")).unwrap();
        assert_eq!(count_dirs(d.path()), 4);
    }

    #[test]
    fn suggestion_is_twice_the_dirs_and_never_below_the_current_limit() {
        assert_eq!(suggested_watches(100_000, 8192), 200_704);
        assert_eq!(suggested_watches(3000, 8192), 11_264);
        assert_eq!(suggested_watches(0, 0), 1024);
    }

    #[test]
    fn limits_are_read_on_linux() {
        if cfg!(target_os = "linux") {
            let l = inotify_limits().unwrap();
            assert!(l.effective_max_watches() > 0);
            assert!(l.effective_max_watches() <= l.max_user_watches);
        }
    }

    #[test]
    fn out_of_watches_is_recognised_in_both_forms() {
        assert!(is_out_of_watches(&notify::Error::new(
            notify::ErrorKind::MaxFilesWatch
        )));
        let enospc = std::io::Error::from_raw_os_error(ENOSPC);
        assert!(is_out_of_watches(&notify::Error::io(enospc)));
        assert!(!is_out_of_watches(&notify::Error::path_not_found()));
    }

    #[test]
    fn the_hint_names_the_sysctl_and_the_commands() {
        let limits = InotifyLimits {
            max_user_watches: 8192,
            namespace_max_watches: None,
            max_user_instances: 128,
            max_queued_events: 16384,
        };
        let s = too_many_watches_hint(Path::new("/data"), 10_000, Some(limits));
        assert!(s.contains("fs.inotify.max_user_watches is 8192"), "{s}");
        assert!(s.contains("10000 directories"), "{s}");
        assert!(
            s.contains("`sudo sysctl fs.inotify.max_user_watches=20480`"),
            "{s}"
        );
        assert!(
            s.contains(
                "`echo fs.inotify.max_user_watches=20480 | sudo tee /etc/sysctl.d/90-pail.conf`"
            ),
            "{s}"
        );
        assert!(!s.contains("namespace"), "{s}");

        let ns = InotifyLimits {
            namespace_max_watches: Some(3),
            ..limits
        };
        let s = too_many_watches_hint(Path::new("/data"), 11, Some(ns));
        assert!(s.contains("`sysctl user.max_inotify_watches=1024`"), "{s}");
    }
}
