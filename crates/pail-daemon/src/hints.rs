//! What the next pass looks at: watcher hints and journal entries gathered into a scope,
//! and the pass inputs chosen by why the pass runs (pure; tested below).

use std::collections::BTreeSet;
use std::path::Path;

use pail_core::RelPath;
use pail_sync::{RemoteView, SyncOptions};

/// Why the next pass runs (for the logs). The order is the scheduler's preference when
/// several are pending: a pass that looks at everything first (see `schedule::take`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) enum Why {
    /// `pail sync` asked a running daemon for a full pass (answered when it ends).
    Asked,
    /// `pail sync --dry-run` asked for a plan: it changes nothing and covers no other pass.
    AskedDryRun,
    /// The periodic full reconcile (catches other S3 clients), also run when the machine
    /// wakes from sleep.
    Full,
    Start,
    Resume,
    Retry,
    Remote,
    /// The periodic rescan of the folder (no listing).
    Rescan,
    Local,
}

/// What a pass looks at, by why it runs. Watcher hints rescan only their paths and take the
/// bucket as last synced (writes still check it); journal entries that name their paths
/// HEAD those instead of listing; everything else lists the prefix and scans the folder.
pub(crate) fn pass_inputs(
    why: Why,
    hinted: &mut Hinted,
    remote_changed: &mut Hinted,
) -> SyncOptions {
    let everything = |hinted: &mut Hinted, remote_changed: &mut Hinted| {
        *hinted = Hinted::default();
        *remote_changed = Hinted::default();
        SyncOptions {
            remote: RemoteView::List,
            ..SyncOptions::default()
        }
    };
    match why {
        Why::Local => SyncOptions {
            remote: RemoteView::FromBase,
            local_scope: hinted.take_scope(),
            ..SyncOptions::default()
        },
        Why::Rescan => {
            *hinted = Hinted::default();
            SyncOptions {
                remote: RemoteView::FromBase,
                ..SyncOptions::default()
            }
        }
        Why::Remote => match remote_changed.take_scope() {
            Some(paths) => {
                // The local side of those paths too: a local edit of one is a conflict.
                hinted.paths.extend(paths.iter().cloned());
                SyncOptions {
                    remote: RemoteView::FromBase,
                    local_scope: hinted.take_scope(),
                    remote_paths: Some(paths),
                    ..SyncOptions::default()
                }
            }
            None => everything(hinted, remote_changed),
        },
        Why::Asked | Why::Start | Why::Full | Why::Retry | Why::Resume => {
            everything(hinted, remote_changed)
        }
        // The hints stay for the pass that acts on them.
        Why::AskedDryRun => SyncOptions {
            remote: RemoteView::List,
            dry_run: true,
            ..SyncOptions::default()
        },
    }
}

/// The watcher hints gathered for the next local pass.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub(crate) struct Hinted {
    pub(crate) paths: BTreeSet<RelPath>,
    /// A hint that names no syncable path (a rescan, the root, a name pail cannot sync):
    /// only a scan of the whole folder will do.
    pub(crate) everything: bool,
}

/// Past this many hinted paths one walk of the folder is cheaper than looking at each.
const MAX_SCOPED_PATHS: usize = 10_000;

impl Hinted {
    pub(crate) fn add(&mut self, root: &Path, hint: pail_watch::Hint) {
        match hint {
            pail_watch::Hint::Rescan { .. } => self.everything = true,
            pail_watch::Hint::Paths(paths) => {
                for p in paths {
                    match rel_path(root, &p) {
                        Some(rel) => {
                            self.paths.insert(rel);
                        }
                        None => self.everything = true,
                    }
                }
            }
        }
        if self.paths.len() > MAX_SCOPED_PATHS {
            self.everything = true;
        }
        if self.everything {
            self.paths.clear();
        }
    }

    /// Adds hints gathered elsewhere (a settled burst).
    pub(crate) fn absorb(&mut self, other: Hinted) {
        self.paths.extend(other.paths);
        self.everything |= other.everything;
        if self.everything || self.paths.len() > MAX_SCOPED_PATHS {
            self.everything = true;
            self.paths.clear();
        }
    }

    /// Paths named by journal entries (`None`: an entry that named none).
    pub(crate) fn add_named(&mut self, changed: Option<BTreeSet<RelPath>>) {
        match changed {
            Some(paths) => self.paths.extend(paths),
            None => self.everything = true,
        }
        if self.everything || self.paths.len() > MAX_SCOPED_PATHS {
            self.everything = true;
            self.paths.clear();
        }
    }

    /// The scope of the next pass (`None`: the whole folder), leaving nothing behind.
    fn take_scope(&mut self) -> Option<Vec<RelPath>> {
        let taken = std::mem::take(self);
        (!taken.everything && !taken.paths.is_empty()).then(|| taken.paths.into_iter().collect())
    }
}

/// `path` relative to the folder, if it names something pail could sync.
fn rel_path(root: &Path, path: &Path) -> Option<RelPath> {
    let rel = match path.strip_prefix(root) {
        Ok(r) => r.to_path_buf(),
        Err(_) => path
            .strip_prefix(std::fs::canonicalize(root).ok()?)
            .ok()?
            .to_path_buf(),
    };
    RelPath::new(rel.to_str()?).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::path::PathBuf;

    fn rel(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    fn paths_hint(ps: &[&str]) -> pail_watch::Hint {
        pail_watch::Hint::Paths(ps.iter().map(|p| PathBuf::from("/f").join(p)).collect())
    }

    #[test]
    fn watcher_hints_become_a_scope_and_anything_odd_means_everything() {
        let root = Path::new("/f");
        let mut h = Hinted::default();
        h.add(root, paths_hint(&["a.txt", "d/b.txt", "a.txt"]));
        assert_eq!(h.take_scope(), Some(vec![rel("a.txt"), rel("d/b.txt")]));
        assert_eq!(h.take_scope(), None, "taken, nothing left");
        // The root itself, a path elsewhere, a reserved name, an overflow: all of it.
        for odd in [
            pail_watch::Hint::Paths(vec![PathBuf::from("/f")]),
            pail_watch::Hint::Paths(vec![PathBuf::from("/elsewhere/x")]),
            paths_hint(&[".pail/x"]),
            pail_watch::Hint::Rescan {
                reason: "overflow".into(),
            },
        ] {
            let mut h = Hinted::default();
            h.add(root, paths_hint(&["a.txt"]));
            h.add(root, odd.clone());
            h.add(root, paths_hint(&["b.txt"]));
            assert!(h.everything, "{odd:?}");
            assert_eq!(h.take_scope(), None, "{odd:?}");
        }
    }

    #[test]
    fn why_decides_what_the_pass_looks_at() {
        let root = Path::new("/f");
        let (mut h, mut r) = (Hinted::default(), Hinted::default());
        h.add(root, paths_hint(&["local.txt"]));
        let o = pass_inputs(Why::Local, &mut h, &mut r);
        assert_eq!(o.remote, RemoteView::FromBase);
        assert_eq!(o.local_scope, Some(vec![rel("local.txt")]));
        assert_eq!(o.remote_paths, None);

        // Journal entries that name paths: HEAD those, rescan them (and pending hints) locally.
        h.add(root, paths_hint(&["edited-here.txt"]));
        r.add_named(Some([rel("theirs.txt")].into()));
        let o = pass_inputs(Why::Remote, &mut h, &mut r);
        assert_eq!(o.remote, RemoteView::FromBase);
        assert_eq!(o.remote_paths, Some(vec![rel("theirs.txt")]));
        assert_eq!(
            o.local_scope,
            Some(vec![rel("edited-here.txt"), rel("theirs.txt")])
        );

        // An entry that names nothing: list the prefix, scan the folder.
        r.add_named(Some([rel("x.txt")].into()));
        r.add_named(None);
        let o = pass_inputs(Why::Remote, &mut h, &mut r);
        assert_eq!(o.remote, RemoteView::List);
        assert_eq!((o.local_scope, o.remote_paths), (None, None));

        // Timers and recoveries look at everything and forget pending scopes.
        for why in [Why::Start, Why::Full, Why::Retry, Why::Resume] {
            h.add(root, paths_hint(&["a.txt"]));
            r.add_named(Some([rel("b.txt")].into()));
            let o = pass_inputs(why, &mut h, &mut r);
            assert_eq!(o.remote, RemoteView::List, "{why:?}");
            assert_eq!((o.local_scope, o.remote_paths), (None, None), "{why:?}");
            assert_eq!((h.take_scope(), r.take_scope()), (None, None), "{why:?}");
        }
        let o = pass_inputs(Why::Rescan, &mut h, &mut r);
        assert_eq!(o.remote, RemoteView::FromBase);
        assert_eq!(o.local_scope, None);
    }
}
