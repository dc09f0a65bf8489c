//! pail's watcher: notify-debouncer-full events turned into **hints**, "these paths may have
//! changed" or "rescan everything", never into actions. The consumer rescans and lets the
//! planner decide, so a missed, duplicated or reordered event can cost time but never data.
//!
//! Known limits of the platform watchers (see notify's docs): inotify needs one watch per
//! directory and runs out at `fs.inotify.max_user_watches`; network filesystems send no
//! events; a full kernel queue drops events (reported as a rescan). The daemon therefore
//! also rescans on a timer, and falls back to timed scans when the watcher cannot start.

mod hints;
mod limits;

use std::path::{Path, PathBuf};
use std::time::Duration;

use notify::RecursiveMode;
use notify_debouncer_full::{DebounceEventResult, Debouncer, RecommendedCache, new_debouncer_opt};
use tokio::sync::mpsc;

pub use limits::{InotifyLimits, count_dirs, inotify_limits, suggested_watches};

/// What the consumer should look at again. Hints may be duplicated, merged or late; the
/// consumer rescans and compares, so acting on a hint twice costs time, never data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Hint {
    /// These files or directories may have changed (created, written, deleted, renamed from
    /// or to). A directory means everything under it: files created in a new directory
    /// before its watch was added send no event of their own.
    Paths(Vec<PathBuf>),
    /// Events were lost (kernel queue overflow, watcher error, or the consumer fell behind):
    /// rescan everything.
    Rescan { reason: String },
}

/// Why the watcher cannot run. The daemon then falls back to timed scans.
#[derive(Debug, thiserror::Error)]
pub enum WatchError {
    /// Out of inotify watches; the message says which sysctl to raise, to what, and how.
    #[error("{needed_hint}")]
    TooManyWatches { needed_hint: String },
    #[error("cannot watch {root}: {message}")]
    Other { root: PathBuf, message: String },
}

/// A running watcher; dropping it stops watching.
pub struct Watcher {
    root: PathBuf,
    _debouncer: Debouncer<notify::RecommendedWatcher, RecommendedCache>,
}

impl std::fmt::Debug for Watcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Watcher").field("root", &self.root).finish()
    }
}

impl Watcher {
    /// Watches `root` recursively (symlinks not followed). Events settle for `debounce`
    /// before they become hints. At most `capacity` hints wait in the channel (at least 2,
    /// one slot is kept for a `Rescan`): when the consumer falls behind, the overflow
    /// collapses into one `Rescan` instead of blocking notify's thread or growing memory.
    pub fn start(
        root: &Path,
        debounce: Duration,
        capacity: usize,
    ) -> Result<(Watcher, mpsc::Receiver<Hint>), WatchError> {
        let (tx, rx) = mpsc::channel(capacity.max(2));
        let mut forwarder = hints::Forwarder::new(tx);
        let handler = move |res: DebounceEventResult| {
            if let Some(hint) = hints::to_hint(res) {
                forwarder.push(hint);
            }
        };
        let config = notify::Config::default().with_follow_symlinks(false);
        let classify = |e: notify::Error| classify(root, e);
        let mut debouncer =
            new_debouncer_opt(debounce, None, handler, RecommendedCache::new(), config)
                .map_err(classify)?;
        debouncer
            .watch(root, RecursiveMode::Recursive)
            .map_err(classify)?;
        tracing::debug!(root = %root.display(), "watching");
        let watcher = Watcher {
            root: root.to_owned(),
            _debouncer: debouncer,
        };
        Ok((watcher, rx))
    }

    /// The watched folder.
    pub fn root(&self) -> &Path {
        &self.root
    }
}

fn classify(root: &Path, e: notify::Error) -> WatchError {
    if limits::is_out_of_watches(&e) {
        let dirs = count_dirs(root);
        return WatchError::TooManyWatches {
            needed_hint: limits::too_many_watches_hint(root, dirs, inotify_limits()),
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

    use std::fs;

    /// Generous: the assertions are on which hints arrive, never on when.
    const PATIENCE: Duration = Duration::from_secs(20);
    const DEBOUNCE: Duration = Duration::from_millis(50);

    fn start(root: &Path, capacity: usize) -> (Watcher, mpsc::Receiver<Hint>) {
        Watcher::start(root, DEBOUNCE, capacity).unwrap()
    }

    fn temp_root() -> (tempfile::TempDir, PathBuf) {
        let d = tempfile::tempdir().unwrap();
        let root = d.path().canonicalize().unwrap();
        (d, root)
    }

    /// Every path hinted (a rescan as `<rescan>`) until all of `wanted` were seen.
    async fn hinted_until(rx: &mut mpsc::Receiver<Hint>, wanted: &[PathBuf]) -> Vec<PathBuf> {
        let mut seen = Vec::new();
        let deadline = tokio::time::Instant::now() + PATIENCE;
        while !wanted.iter().all(|w| seen.contains(w)) {
            match tokio::time::timeout_at(deadline, rx.recv()).await {
                Ok(Some(Hint::Paths(p))) => seen.extend(p),
                Ok(Some(Hint::Rescan { reason })) => panic!("unexpected rescan: {reason}"),
                Ok(None) | Err(_) => panic!("never hinted {wanted:?}; got {seen:?}"),
            }
        }
        seen
    }

    #[tokio::test]
    async fn create_modify_and_delete_are_hinted() {
        let (_d, root) = temp_root();
        let (_w, mut rx) = start(&root, 64);
        let a = root.join("a.txt");
        fs::write(&a, b"one").unwrap();
        hinted_until(&mut rx, std::slice::from_ref(&a)).await;
        fs::write(&a, b"two, longer").unwrap();
        hinted_until(&mut rx, std::slice::from_ref(&a)).await;
        fs::remove_file(&a).unwrap();
        hinted_until(&mut rx, std::slice::from_ref(&a)).await;
    }

    #[tokio::test]
    async fn an_editor_save_by_rename_over_is_hinted() {
        let (_d, root) = temp_root();
        let a = root.join("a.txt");
        fs::write(&a, b"old").unwrap();
        let (_w, mut rx) = start(&root, 64);
        let swap = root.join(".a.txt.swp");
        fs::write(&swap, b"new").unwrap();
        fs::rename(&swap, &a).unwrap();
        hinted_until(&mut rx, &[a]).await;
    }

    #[tokio::test]
    async fn a_new_directory_is_hinted_so_its_early_files_get_scanned() {
        let (_d, root) = temp_root();
        let (_w, mut rx) = start(&root, 64);
        let sub = root.join("sub");
        fs::create_dir_all(sub.join("deeper")).unwrap();
        fs::write(sub.join("b.txt"), b"b").unwrap();
        fs::write(sub.join("deeper/c.txt"), b"c").unwrap();
        hinted_until(&mut rx, &[sub]).await;
        // The new directory is watched from now on.
        let later = root.join("sub/deeper/later.txt");
        fs::write(&later, b"x").unwrap();
        hinted_until(&mut rx, &[later]).await;
    }

    #[tokio::test]
    async fn own_temp_files_are_not_hinted() {
        let (_d, root) = temp_root();
        let (_w, mut rx) = start(&root, 64);
        // pail's download: write a temp file, then rename it over the final name.
        let temp = root.join(".y.txt.pail-tmp-0000000000000001");
        fs::write(&temp, b"partial").unwrap();
        fs::write(&temp, b"complete").unwrap();
        let y = root.join("y.txt");
        fs::rename(&temp, &y).unwrap();
        fs::write(root.join(".z.pail-tmp-0000000000000002"), b"left behind").unwrap();
        fs::remove_file(root.join(".z.pail-tmp-0000000000000002")).unwrap();
        let sentinel = root.join("sentinel");
        fs::write(&sentinel, b"s").unwrap();
        let seen = hinted_until(&mut rx, &[y, sentinel]).await;
        assert!(!seen.iter().any(|p| hints::is_own_temp(p)), "{seen:?}");
    }

    #[tokio::test]
    async fn a_consumer_that_falls_behind_gets_one_rescan() {
        let (_d, root) = temp_root();
        // Two slots: one for paths, one kept for the rescan.
        let (_w, mut rx) = start(&root, 2);
        let deadline = tokio::time::Instant::now() + PATIENCE;
        let mut i = 0;
        // Separate changes until both slots are taken; nothing is read meanwhile.
        while rx.len() < 2 {
            assert!(
                tokio::time::Instant::now() < deadline,
                "channel never filled"
            );
            fs::write(root.join(format!("f{i}")), b"x").unwrap();
            i += 1;
            tokio::time::sleep(DEBOUNCE * 2).await;
        }
        // More changes while full: dropped, the queued rescan covers them.
        for j in 0..5 {
            fs::write(root.join(format!("g{j}")), b"x").unwrap();
            tokio::time::sleep(DEBOUNCE * 2).await;
        }
        assert!(matches!(rx.recv().await, Some(Hint::Paths(_))));
        let Some(Hint::Rescan { reason }) = rx.recv().await else {
            panic!("the overflow did not become a rescan")
        };
        assert!(reason.contains("busy"), "{reason}");
        // Caught up: paths flow again.
        let after = root.join("after");
        fs::write(&after, b"x").unwrap();
        hinted_until(&mut rx, &[after]).await;
    }

    #[tokio::test]
    async fn a_missing_root_is_an_error() {
        let (_d, root) = temp_root();
        let err = Watcher::start(&root.join("nope"), DEBOUNCE, 8).unwrap_err();
        assert!(matches!(err, WatchError::Other { .. }), "{err}");
    }

    /// Runs in a user namespace whose inotify limit is 3 watches (see
    /// `out_of_watches_tells_how_to_raise_the_limit`).
    fn too_many_watches_in_a_small_namespace() {
        let (_d, root) = temp_root();
        for i in 0..10 {
            fs::create_dir(root.join(format!("dir{i}"))).unwrap();
        }
        let err = Watcher::start(&root, DEBOUNCE, 8).unwrap_err();
        let WatchError::TooManyWatches { needed_hint } = &err else {
            panic!("not TooManyWatches: {err}")
        };
        assert_eq!(needed_hint, &err.to_string());
        for want in [
            "fs.inotify.max_user_watches is",
            "11 directories",
            "`sudo sysctl fs.inotify.max_user_watches=",
            "| sudo tee /etc/sysctl.d/90-pail.conf`",
            "user.max_inotify_watches = 3",
            "`sysctl user.max_inotify_watches=1024`",
        ] {
            assert!(
                needed_hint.contains(want),
                "{want:?} missing: {needed_hint}"
            );
        }
    }

    #[test]
    fn out_of_watches_tells_how_to_raise_the_limit() {
        if std::env::var_os("PAIL_WATCH_SMALL_NAMESPACE").is_some() {
            return too_many_watches_in_a_small_namespace();
        }
        // Lowering the limit needs a user namespace of our own; skip where there is none.
        let usable = std::process::Command::new("unshare")
            .args([
                "-Ur",
                "sh",
                "-c",
                "echo 3 > /proc/sys/user/max_inotify_watches",
            ])
            .output()
            .is_ok_and(|o| o.status.success());
        if !usable {
            eprintln!("skipped: cannot lower inotify limits in a user namespace here");
            return;
        }
        let out = std::process::Command::new("unshare")
            .args([
                "-Ur",
                "sh",
                "-c",
                "echo 3 > /proc/sys/user/max_inotify_watches && exec \"$0\" --exact \"$1\" --nocapture",
            ])
            .arg(std::env::current_exe().unwrap())
            .arg("tests::out_of_watches_tells_how_to_raise_the_limit")
            .env("PAIL_WATCH_SMALL_NAMESPACE", "1")
            .output()
            .unwrap();
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(out.status.success(), "{text}");
        assert!(text.contains("1 passed"), "{text}");
    }
}
