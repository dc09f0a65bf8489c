//! The planner: a pure function from (base, local, remote) per path to the actions that bring
//! both sides to the same state without losing content. See doc/SEMANTICS.md for the rules.
//!
//! INTERFACE CONTRACT (the executor in pail-sync relies on it):
//! - `plan_path` decides one path in isolation.
//! - `Planner` takes the per-path states in path order (streamed from the index, so memory
//!   stays bounded), keeps only the actions, then `finish` adds set-level decisions: renames
//!   and copies detected by content hash (server-side copy instead of upload), and the
//!   safety stop on mass deletes (renames do not count as deletes).

use crate::hash::ContentHash;
use crate::names::RelPath;
use crate::state::{Base, LocalFile, LocalStat, PathState, RemoteObject, RemoteRef};

/// What the remote must still be for a write to go ahead (compare-and-swap where the server
/// honours conditional writes; a HEAD check plus after-the-fact detection where it does not).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RemoteExpect {
    /// The key must not exist (`If-None-Match: *`).
    Absent,
    /// The current object must still have this ETag (`If-Match`).
    Is(RemoteRef),
}

/// What the local file must still be before pail replaces or deletes it (tenet 2).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum LocalExpect {
    /// Nothing may be at the path.
    Absent,
    /// The file must still match this stat (and, when in doubt, this hash).
    Is { stat: LocalStat, hash: ContentHash },
}

/// One step of a plan. Every variant names its path; the executor records the outcome in the
/// index, which is what makes a later pass see a converged path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send the local file to the remote key.
    Upload { path: RelPath, local: LocalFile, expect: RemoteExpect },
    /// Create `path` remotely by server-side copy of an object that already holds the same
    /// content (rename or duplicate detected by hash), instead of uploading.
    CopyRemote {
        path: RelPath,
        local: LocalFile,
        from: RelPath,
        from_object: RemoteRef,
        expect: RemoteExpect,
    },
    /// Fetch the remote object into the folder (atomically, verified).
    Download { path: RelPath, remote: RemoteObject, expect: LocalExpect },
    /// Remove the local file (the remote was deleted and the local file is unchanged).
    DeleteLocal { path: RelPath, expect: LocalExpect },
    /// Remove the remote object (delete marker in a versioned bucket, trash copy first in an
    /// unversioned one).
    DeleteRemote { path: RelPath, expect: RemoteRef, hash: ContentHash },
    /// Both sides changed to different content (or the remote content is unknown and must be
    /// compared after download): the remote keeps the name, the local file becomes a
    /// conflict copy, then uploads like any new file.
    Conflict { path: RelPath, local: LocalFile, remote: RemoteObject },
    /// Both sides already hold the same content: only the index changes.
    Record { path: RelPath, base: Base },
    /// Both sides are gone (or the path is now ignored): drop the base, touch nothing.
    Forget { path: RelPath },
}

impl Action {
    pub fn path(&self) -> &RelPath {
        match self {
            Action::Upload { path, .. }
            | Action::CopyRemote { path, .. }
            | Action::Download { path, .. }
            | Action::DeleteLocal { path, .. }
            | Action::DeleteRemote { path, .. }
            | Action::Conflict { path, .. }
            | Action::Record { path, .. }
            | Action::Forget { path } => path,
        }
    }
}

/// Thresholds for the mass-delete safety stop.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SafetyConfig {
    /// Stop when one pass would delete more than this share of the synced files (percent).
    pub max_delete_percent: u32,
    /// The share applies only from this many deletions on (a pass that deletes 1 of 2 files
    /// is ordinary editing, not an unmounted disk).
    pub min_deletes: u64,
}

impl Default for SafetyConfig {
    fn default() -> Self {
        SafetyConfig { max_delete_percent: 50, min_deletes: 10 }
    }
}

/// Why a plan must not run without the user's confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SafetyStop {
    /// More deletions than the configured share (`--confirm-deletes` to go ahead).
    MassDelete { local_deletes: u64, remote_deletes: u64, synced: u64, percent: u32 },
}

/// The result of planning a whole pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Sorted deterministically: same input, same plan.
    pub actions: Vec<Action>,
    /// Set when the plan needs confirmation; the executor then changes nothing.
    pub safety_stop: Option<SafetyStop>,
}

/// Decides one path. Pure: no I/O, no clock.
pub fn plan_path(_state: &PathState) -> Option<Action> {
    // Implemented in the planner work item; see the contract above and doc/SEMANTICS.md.
    let _ = (std::marker::PhantomData::<(Base, LocalFile, RemoteObject)>,);
    None
}

/// Streams per-path states (in path order) into a plan.
#[derive(Debug, Default)]
pub struct Planner {
    actions: Vec<Action>,
    /// Number of paths that have a base (the synced file count for the delete share).
    synced: u64,
}

impl Planner {
    pub fn new() -> Planner {
        Planner::default()
    }

    /// Feeds one path's state.
    pub fn push(&mut self, state: &PathState) {
        if state.base.is_some() {
            self.synced += 1;
        }
        if let Some(a) = plan_path(state) {
            self.actions.push(a);
        }
    }

    /// Set-level decisions (renames by hash, safety stop), then the finished plan.
    pub fn finish(self, _safety: &SafetyConfig) -> Plan {
        Plan { actions: self.actions, safety_stop: None }
    }
}
