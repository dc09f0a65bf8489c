//! pail's watcher: notify-debouncer-full events turned into **hints**, "these paths may have
//! changed" or "rescan everything", never into actions. The consumer rescans and lets the
//! planner decide, so a missed, duplicated or reordered event can cost time but never data.
//!
//! Known limits of the platform watchers (see notify's docs): inotify needs one watch per
//! directory and runs out at `fs.inotify.max_user_watches`; network filesystems send no
//! events; a full kernel queue drops events (reported as a rescan). The daemon therefore
//! also rescans on a timer, and falls back to timed scans when the watcher cannot start.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer};
use tokio::sync::mpsc;

/// What the consumer should look at again.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// These files or directories may have changed (a directory: everything under it).
    Paths(Vec<PathBuf>),
    /// Events were lost: rescan everything.
    Rescan { reason: String },
}

/// Why the watcher cannot run.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    #[error(
        "out of inotify watches while watching {root} (fs.inotify.max_user_watches = {current}, the folder has about {dirs} directories); raise it with `sudo sysctl fs.inotify.max_user_watches={suggested}` and make it permanent with `echo fs.inotify.max_user_watches={suggested} | sudo tee /etc/sysctl.d/90-pail.conf`"
    )]
    TooManyWatches {
        root: PathBuf,
        current: u64,
        dirs: u64,
        suggested: u64,
    },
    #[error("cannot watch {root}: {message}")]
    Other { root: PathBuf, message: String },
}

/// The inotify limits in force (Linux).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InotifyLimits {
    pub max_user_watches: u64,
    pub max_user_instances: u64,
    pub max_queued_events: u64,
}

fn read_u64(path: &str) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// Reads the limits from /proc (None elsewhere).
pub fn inotify_limits() -> Option<InotifyLimits> {
    // In a user namespace (containers) the per-namespace limit may be the lower one.
    let host = read_u64("/proc/sys/fs/inotify/max_user_watches")?;
    let ns = read_u64("/proc/sys/user/max_inotify_watches").unwrap_or(host);
    Some(InotifyLimits {
        max_user_watches: host.min(ns),
        max_user_instances: read_u64("/proc/sys/fs/inotify/max_user_instances")?,
        max_queued_events: read_u64("/proc/sys/fs/inotify/max_queued_events")?,
    })
}

/// Directories under `root` (itself included), symlinks not followed: inotify needs one
/// watch for each.
pub fn count_dirs(root: &Path) -> u64 {
    let mut count = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(dir) = stack.pop() {
        count += 1;
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for e in entries.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    count
}

/// A watch value for the folder, with headroom for the other programs of the same user.
pub fn suggested_watches(dirs: u64) -> u64 {
    (dirs * 2).max(65_536).next_multiple_of(1024)
}

/// pail's own temporary download files are not changes.
fn is_own_temp(p: &Path) -> bool {
    p.file_name()
        .is_some_and(|n| n.to_string_lossy().contains(".pail-tmp-"))
}

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Watcher")
    }
}

impl Watcher {
    /// Watches `root` recursively; hints arrive on the returned channel (at most `capacity`
    /// queued: when the consumer falls behind, the overflow collapses into one `Rescan`).
    pub fn start(
        root: &Path,
        debounce: Duration,
        capacity: usize,
    ) -> Result<(Watcher, mpsc::Receiver<Hint>), WatchError> {
        let (tx, rx) = mpsc::channel(capacity.max(2));
        let overflowed = Arc::new(AtomicBool::new(false));
        let handler = move |res: DebounceEventResult| {
            let hint = match res {
                Ok(events) => {
                    if events.iter().any(|e| e.need_rescan()) {
                        Some(Hint::Rescan {
                            reason: "the event queue overflowed".into(),
                        })
                    } else {
                        let mut paths: Vec<PathBuf> = events
                            .iter()
                            .flat_map(|e| e.paths.iter())
                            .filter(|p| !is_own_temp(p))
                            .cloned()
                            .collect();
                        paths.sort();
                        paths.dedup();
                        (!paths.is_empty()).then_some(Hint::Paths(paths))
                    }
                }
                Err(errors) => Some(Hint::Rescan {
                    reason: errors
                        .iter()
                        .map(ToString::to_string)
                        .collect::<Vec<_>>()
                        .join("; "),
                }),
            };
            // Never block notify's thread: a full channel turns into one pending rescan.
            if overflowed.load(Ordering::Relaxed)
                && tx
                    .try_send(Hint::Rescan {
                        reason: "hints were dropped while the consumer was busy".into(),
                    })
                    .is_ok()
            {
                overflowed.store(false, Ordering::Relaxed);
            }
            if let Some(h) = hint
                && tx.try_send(h).is_err()
            {
                overflowed.store(true, Ordering::Relaxed);
            }
        };
        let root_buf = root.to_owned();
        let classify = |e: notify::Error| classify(&root_buf, e);
        let mut debouncer = new_debouncer(debounce, None, handler).map_err(classify)?;
        debouncer
            .watch(root, RecursiveMode::Recursive)
            .map_err(classify)?;
        Ok((
            Watcher {
                _debouncer: debouncer,
            },
            rx,
        ))
    }
}

fn classify(root: &Path, e: notify::Error) -> WatchError {
    let out_of_watches = match &e.kind {
        notify::ErrorKind::MaxFilesWatch => true,
        notify::ErrorKind::Io(io) => io.raw_os_error() == Some(28),
        _ => false,
    };
    if out_of_watches {
        let dirs = count_dirs(root);
        let current = inotify_limits().map(|l| l.max_user_watches).unwrap_or(0);
        return WatchError::TooManyWatches {
            root: root.to_owned(),
            current,
            dirs,
            suggested: suggested_watches(dirs),
        };
    }
    WatchError::Other {
        root: root.to_owned(),
        message: e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn next_paths(rx: &mut mpsc::Receiver<Hint>) -> Vec<PathBuf> {
        let mut all = Vec::new();
        // Generous: hints arrive after the debounce; the assertion is on what arrives.
        while let Ok(Some(h)) = tokio::time::timeout(Duration::from_secs(5), rx.recv()).await {
            match h {
                Hint::Paths(p) => all.extend(p),
                Hint::Rescan { .. } => all.push(PathBuf::from("<rescan>")),
            }
            if !all.is_empty() {
                break;
            }
        }
        all
    }

    #[tokio::test]
    async fn changes_become_hints_and_own_temp_files_do_not() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        let (_w, mut rx) = Watcher::start(&root, Duration::from_millis(100), 64).unwrap();
        std::fs::write(root.join(".x.pail-tmp-0001"), b"temp").unwrap();
        std::fs::write(root.join("a.txt"), b"a").unwrap();
        let paths = next_paths(&mut rx).await;
        assert!(paths.contains(&root.join("a.txt")), "{paths:?}");
        assert!(!paths.iter().any(|p| is_own_temp(p)), "{paths:?}");

        // A save by rename-over (editors) and a new directory with a file in it.
        std::fs::write(root.join(".a.txt.swp"), b"new").unwrap();
        std::fs::rename(root.join(".a.txt.swp"), root.join("a.txt")).unwrap();
        std::fs::create_dir(root.join("sub")).unwrap();
        std::fs::write(root.join("sub/b.txt"), b"b").unwrap();
        let mut seen = Vec::new();
        for _ in 0..5 {
            seen.extend(next_paths(&mut rx).await);
            if seen.contains(&root.join("a.txt"))
                && seen.iter().any(|p| p.starts_with(root.join("sub")))
            {
                break;
            }
        }
        assert!(seen.contains(&root.join("a.txt")), "{seen:?}");
        assert!(
            seen.iter().any(|p| p.starts_with(root.join("sub"))),
            "{seen:?}"
        );
    }

    #[test]
    fn limits_and_counts() {
        let d = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(d.path().join("a/b/c")).unwrap();
        assert_eq!(count_dirs(d.path()), 4);
        assert_eq!(suggested_watches(100_000), 200_704);
        if cfg!(target_os = "linux") {
            assert!(inotify_limits().unwrap().max_user_watches > 0);
        }
    }
}
