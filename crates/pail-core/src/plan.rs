//! The planner: a pure function from (base, local, remote) per path to the actions that bring
//! both sides to the same state without losing content. See doc/SEMANTICS.md for the rules.
//!
//! INTERFACE CONTRACT (the executor in pail-sync relies on it):
//! - `plan_path` decides one path in isolation.
//! - `Planner` takes the per-path states in path order (streamed from the index, so memory
//!   stays bounded), keeps only the actions, then `finish` adds set-level decisions: renames
//!   and copies detected by content hash (server-side copy instead of upload), and the
//!   safety stop on mass deletes (renames do not count as deletes).
//! - While pushing, a file whose name a folder of the same name (on either side) keeps is
//!   turned into `Action::Displace` (`plan/folders.rs`): the folder wins, the file's content
//!   becomes a conflict copy or, where superseded, is deleted.

use std::collections::HashMap;

pub use crate::conflict::{conflict_name, conflict_name_taken, conflict_name_unique};
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
    Is {
        /// The stat the file had when it was scanned.
        stat: LocalStat,
        /// Its content then, checked when the stat alone cannot tell.
        hash: ContentHash,
    },
}

/// One step of a plan. Every variant names its path; the executor records the outcome in the
/// index, which is what makes a later pass see a converged path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Action {
    /// Send the local file to the remote key.
    Upload {
        /// The path to upload, which also names the key.
        path: RelPath,
        /// The local file as scanned (its hash goes into the object's metadata).
        local: LocalFile,
        /// The condition the write carries, so that a concurrent remote change is not lost.
        expect: RemoteExpect,
    },
    /// Create `path` remotely by server-side copy of an object that already holds the same
    /// content (rename or duplicate detected by hash), instead of uploading.
    CopyRemote {
        /// The path to create remotely.
        path: RelPath,
        /// The local file whose content the copy stands for.
        local: LocalFile,
        /// The path of the object to copy from.
        from: RelPath,
        /// The exact version to copy, so that a changed source makes the copy fail.
        from_object: RemoteRef,
        /// The condition on the destination key, as for an upload.
        expect: RemoteExpect,
    },
    /// Fetch the remote object into the folder (atomically, verified).
    Download {
        /// The path to write in the folder.
        path: RelPath,
        /// The remote object to fetch.
        remote: RemoteObject,
        /// What must still be at the path before it is replaced.
        expect: LocalExpect,
    },
    /// Remove the local file (the remote was deleted and the local file is unchanged).
    DeleteLocal {
        /// The path to remove from the folder.
        path: RelPath,
        /// The unchanged file that may be removed; anything else is kept.
        expect: LocalExpect,
    },
    /// Remove the remote object (delete marker in a versioned bucket, trash copy first in an
    /// unversioned one).
    DeleteRemote {
        /// The path whose key is deleted.
        path: RelPath,
        /// The version that may be deleted; a newer one is kept.
        expect: RemoteRef,
        /// The content being deleted, so that a copy of the same content makes it a rename.
        hash: ContentHash,
    },
    /// Both sides changed to different content (or the remote content is unknown and must be
    /// compared after download): the remote keeps the name, the local file becomes a
    /// conflict copy, then uploads like any new file.
    Conflict {
        /// The path both sides changed.
        path: RelPath,
        /// The local file, which moves to a conflict copy.
        local: LocalFile,
        /// The remote object, which keeps the name.
        remote: RemoteObject,
    },
    /// The file at `path` is in the way of a folder of the same name (on either side, or
    /// both `path` and `path/...` in the bucket): the folder keeps the name, and the file's
    /// content on each side either becomes a conflict copy or, when the other side's outcome
    /// supersedes it, is deleted (see `plan/folders.rs`). Runs before the folder's own
    /// downloads and uploads.
    Displace {
        /// The file that gives way.
        path: RelPath,
        /// The local file, if there is one, and what becomes of it.
        local: Option<(LocalFile, Fate)>,
        /// The remote object, if there is one, and what becomes of it. Its `hash` is known
        /// whenever its fate is [`Fate::Delete`] (the base's content).
        remote: Option<(RemoteObject, Fate)>,
    },
    /// Both sides already hold the same content: only the index changes.
    Record {
        /// The path whose base is written.
        path: RelPath,
        /// The state both sides now hold.
        base: Base,
    },
    /// Both sides are gone (or the path is now ignored): drop the base, touch nothing.
    Forget {
        /// The path whose base is dropped.
        path: RelPath,
    },
}

/// What becomes of one side's file when a folder takes its name ([`Action::Displace`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Fate {
    /// Its content is new or edited (or nobody replaced it): it moves to a conflict copy next
    /// to the folder, and syncs from there like any file.
    ConflictCopy,
    /// It still holds the base's content while the other side changed or deleted it: removed
    /// only if still unchanged, as a delete would be (the bucket keeps its content).
    Delete,
}

impl Action {
    /// The path the action is about.
    pub fn path(&self) -> &RelPath {
        match self {
            Action::Upload { path, .. }
            | Action::CopyRemote { path, .. }
            | Action::Download { path, .. }
            | Action::DeleteLocal { path, .. }
            | Action::DeleteRemote { path, .. }
            | Action::Conflict { path, .. }
            | Action::Displace { path, .. }
            | Action::Record { path, .. }
            | Action::Forget { path } => path,
        }
    }

    /// What the action does, in a word (for logs).
    pub fn name(&self) -> &'static str {
        match self {
            Action::Upload { .. } => "upload",
            Action::CopyRemote { .. } => "copy",
            Action::Download { .. } => "download",
            Action::DeleteLocal { .. } => "delete local",
            Action::DeleteRemote { .. } => "delete remote",
            Action::Conflict { .. } => "conflict",
            Action::Displace { .. } => "make way for a folder",
            Action::Record { .. } => "record",
            Action::Forget { .. } => "forget",
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
        SafetyConfig {
            max_delete_percent: 50,
            min_deletes: 10,
        }
    }
}

/// Why a plan must not run without the user's confirmation.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum SafetyStop {
    /// More deletions than the configured share (`--confirm-deletes` to go ahead).
    MassDelete {
        /// Local files the plan would delete (renames not counted).
        local_deletes: u64,
        /// Remote objects the plan would delete (renames not counted).
        remote_deletes: u64,
        /// Paths synced before this pass, of which the deletes are a share.
        synced: u64,
        /// The share of `synced` that the deletes make, in percent.
        percent: u32,
    },
}

/// The result of planning a whole pass.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Plan {
    /// Sorted deterministically: same input, same plan.
    pub actions: Vec<Action>,
    /// Set when the plan needs confirmation; the executor then changes nothing.
    pub safety_stop: Option<SafetyStop>,
    /// Actions beyond the planner's cap, left for a later pass (see [`Planner::with_cap`]).
    pub left: u64,
}

// ==== Per-path decision ====

/// How the remote side of a path compares with its base.
enum RemoteDelta<'a> {
    /// Same ETag as the base: untouched.
    Same(&'a RemoteObject),
    /// Another ETag, but the known content hash is the base's (re-upload of the same bytes,
    /// multipart ETag): only the reference moved.
    SameContent(&'a RemoteObject),
    /// Another ETag and other or unknown content.
    Changed(&'a RemoteObject),
    Deleted,
}

fn remote_delta<'a>(base: &Base, remote: Option<&'a RemoteObject>) -> RemoteDelta<'a> {
    match remote {
        None => RemoteDelta::Deleted,
        Some(r) if r.object.etag == base.remote.etag => RemoteDelta::Same(r),
        Some(r) if r.hash == Some(base.hash) => RemoteDelta::SameContent(r),
        Some(r) => RemoteDelta::Changed(r),
    }
}

/// The remote reference to record or to expect, given the base's and the listing's.
///
/// The listing wins (it is the current object), except that a listing without version ids
/// (`ListObjectsV2`) of the very same ETag keeps the base's version id: dropping it would
/// lose information and make every pass re-record the path.
fn current_ref(base: &RemoteRef, listed: &RemoteRef) -> RemoteRef {
    if listed.version_id.is_none() && listed.etag == base.etag && listed.size == base.size {
        base.clone()
    } else {
        listed.clone()
    }
}

fn record(path: &RelPath, hash: ContentHash, local: LocalStat, remote: RemoteRef) -> Action {
    Action::Record {
        path: path.clone(),
        base: Base {
            hash,
            local,
            remote,
        },
    }
}

/// Decides one path. Pure: no I/O, no clock.
///
/// "Local changed" means another blake3 hash than the base (a stat-only change with equal
/// hash only refreshes the recorded stat); "remote changed" means another ETag than the base
/// unless the object's known hash equals the base's. Timestamps never decide anything.
///
/// | base | local       | remote              | action                                  |
/// |------|-------------|---------------------|-----------------------------------------|
/// | none | file        | absent              | `Upload { expect: Absent }`             |
/// | none | absent      | object              | `Download { expect: Absent }`           |
/// | none | file        | object, same hash   | `Record`                                |
/// | none | file        | object, other/unknown | `Conflict`                            |
/// | some | same        | same                | nothing, or `Record` if stat/ref moved  |
/// | some | changed     | same                | `Upload { expect: Is(current ref) }`    |
/// | some | same        | changed             | `Download { expect: Is(scanned stat, base hash) }` |
/// | some | changed     | changed             | `Record` if equal hashes, else `Conflict` |
/// | some | deleted     | same                | `DeleteRemote { expect: current ref }`  |
/// | some | same        | deleted             | `DeleteLocal { expect: Is(..) }`        |
/// | some | deleted     | changed             | `Download { expect: Absent }` (edit beats delete) |
/// | some | changed     | deleted             | `Upload { expect: Absent }` (edit beats delete)   |
/// | some | deleted     | deleted             | `Forget`                                |
///
/// Two refinements over the plain table, both to avoid actions that can never succeed:
/// expectations on the remote use the *listed* reference (which differs from the base's when
/// the same content was re-uploaded: `SameContent`), and the local expectation uses the stat
/// the scan just saw (which the scan verified still holds the base's hash).
pub fn plan_path(state: &PathState) -> Option<Action> {
    let path = &state.path;
    let Some(base) = &state.base else {
        return match (&state.local, &state.remote) {
            (None, None) => None,
            (Some(l), None) => Some(Action::Upload {
                path: path.clone(),
                local: l.clone(),
                expect: RemoteExpect::Absent,
            }),
            (None, Some(r)) => Some(Action::Download {
                path: path.clone(),
                remote: r.clone(),
                expect: LocalExpect::Absent,
            }),
            (Some(l), Some(r)) if r.hash == Some(l.hash) => {
                Some(record(path, l.hash, l.stat, r.object.clone()))
            }
            (Some(l), Some(r)) => Some(Action::Conflict {
                path: path.clone(),
                local: l.clone(),
                remote: r.clone(),
            }),
        };
    };

    let remote = remote_delta(base, state.remote.as_ref());
    let Some(local) = &state.local else {
        // Deleted locally.
        return Some(match remote {
            RemoteDelta::Deleted => Action::Forget { path: path.clone() },
            RemoteDelta::Same(r) | RemoteDelta::SameContent(r) => Action::DeleteRemote {
                path: path.clone(),
                expect: current_ref(&base.remote, &r.object),
                hash: base.hash,
            },
            RemoteDelta::Changed(r) => Action::Download {
                path: path.clone(),
                remote: r.clone(),
                expect: LocalExpect::Absent,
            },
        });
    };

    if local.hash == base.hash {
        // Local content unchanged (maybe a stat-only change).
        let unchanged_local = LocalExpect::Is {
            stat: local.stat,
            hash: base.hash,
        };
        match remote {
            RemoteDelta::Same(r) | RemoteDelta::SameContent(r) => {
                let remote = current_ref(&base.remote, &r.object);
                if local.stat == base.local && remote == base.remote {
                    None
                } else {
                    Some(record(path, base.hash, local.stat, remote))
                }
            }
            RemoteDelta::Changed(r) => Some(Action::Download {
                path: path.clone(),
                remote: r.clone(),
                expect: unchanged_local,
            }),
            RemoteDelta::Deleted => Some(Action::DeleteLocal {
                path: path.clone(),
                expect: unchanged_local,
            }),
        }
    } else {
        // Local content changed.
        Some(match remote {
            RemoteDelta::Same(r) | RemoteDelta::SameContent(r) => Action::Upload {
                path: path.clone(),
                local: local.clone(),
                expect: RemoteExpect::Is(current_ref(&base.remote, &r.object)),
            },
            RemoteDelta::Changed(r) if r.hash == Some(local.hash) => {
                record(path, local.hash, local.stat, r.object.clone())
            }
            RemoteDelta::Changed(r) => Action::Conflict {
                path: path.clone(),
                local: local.clone(),
                remote: r.clone(),
            },
            RemoteDelta::Deleted => Action::Upload {
                path: path.clone(),
                local: local.clone(),
                expect: RemoteExpect::Absent,
            },
        })
    }
}

// ==== Set-level decisions ====

/// A remote object that already holds some content, usable as a server-side copy source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CopySource {
    /// The path of the object, relative to the folder.
    pub path: RelPath,
    /// The version that holds the content.
    pub object: RemoteRef,
}

/// Finds a remote object by content hash, so that an upload of content the bucket already
/// holds becomes a server-side copy (tenet 11).
///
/// The planner itself only remembers its actions (memory bounded by the size of the change,
/// not of the folder), so it can pair an upload with a `DeleteRemote` of the same plan
/// (a rename) or with another action that names a remote object of known content, but not
/// with an untouched file elsewhere in the folder. For that the caller passes a locator,
/// typically the index answering from SQLite (`SELECT path, etag, version_id, size FROM base
/// WHERE hash = ?`). A stale answer is harmless: the executor copies with the source's
/// version id / `x-amz-copy-source-if-match` and falls back to a plain upload if the copy fails.
pub trait ContentLocator {
    /// A remote object holding `hash`, if one is known.
    fn locate(&mut self, hash: &ContentHash) -> Option<CopySource>;
}

impl<F> ContentLocator for F
where
    F: FnMut(&ContentHash) -> Option<CopySource>,
{
    fn locate(&mut self, hash: &ContentHash) -> Option<CopySource> {
        self(hash)
    }
}

/// The locator that finds nothing: copies come only from the plan's own actions.
#[derive(Clone, Copy, Debug, Default)]
pub struct NoLocator;

impl ContentLocator for NoLocator {
    fn locate(&mut self, _hash: &ContentHash) -> Option<CopySource> {
        None
    }
}

/// Execution phase of an action; the plan is sorted by (phase, path). Copies run before the
/// deletes that complete a rename, downloads before the local deletes of a remote rename.
pub fn phase(action: &Action) -> u8 {
    match action {
        Action::Record { .. } | Action::Forget { .. } => 0,
        Action::Conflict { .. } | Action::Displace { .. } => 1,
        Action::Download { .. } => 2,
        Action::CopyRemote { .. } => 3,
        Action::Upload { .. } => 4,
        Action::DeleteRemote { .. } => 5,
        Action::DeleteLocal { .. } => 6,
    }
}

/// Streams per-path states (in path order) into a plan.
///
/// Memory: the actions only (plus, in `finish`, a hash map over the actions). Paths that need
/// nothing cost one counter increment.
#[derive(Debug, Default)]
pub struct Planner {
    actions: Vec<Action>,
    /// Number of paths that have a base (the synced file count for the delete share).
    synced: u64,
    /// The synced file count when only some paths are pushed (a scoped pass).
    synced_total: Option<u64>,
    /// At most this many actions are kept; see [`Planner::with_cap`].
    cap: Option<usize>,
    /// Actions past the cap: counted, not kept.
    left: u64,
    /// Of those, local and remote deletes (for the safety stop, which sees every delete).
    left_deletes: (u64, u64),
    /// Files held back until it is known whether a folder takes their name.
    folders: folders::FolderClashes,
    /// Decisions made final by the last push (a buffer reused across pushes).
    ready: Vec<Action>,
}

impl Planner {
    /// A planner that keeps every action.
    pub fn new() -> Planner {
        Planner::default()
    }

    /// A planner that keeps at most `cap` actions, so that memory stays bounded on a first
    /// sync of a million files: the rest is counted ([`Plan::left`]) and planned again by a
    /// later pass. Deletes past the cap still count toward the safety stop (as unmatched:
    /// a rename split by the cap is weighed as a delete, which can only stop more often).
    pub fn with_cap(cap: usize) -> Planner {
        Planner {
            cap: Some(cap),
            ..Planner::default()
        }
    }

    /// Only some paths will be pushed (a pass scoped to what changed): the delete share of
    /// the safety stop is taken over `total` synced files, not over the pushed ones.
    pub fn assume_synced(&mut self, total: u64) {
        self.synced_total = Some(total);
    }

    /// Feeds one path's state.
    pub fn push(&mut self, state: &PathState) {
        if state.base.is_some() {
            self.synced += 1;
        }
        let mut ready = std::mem::take(&mut self.ready);
        self.folders.push(state, plan_path(state), &mut ready);
        for a in ready.drain(..) {
            self.keep(a);
        }
        self.ready = ready;
    }

    /// Keeps one final decision, or counts it past the cap.
    fn keep(&mut self, a: Action) {
        if self.cap.is_none_or(|c| self.actions.len() < c) {
            self.actions.push(a);
        } else {
            self.left += 1;
            let (local, remote) = deletes_in(&a);
            self.left_deletes.0 += u64::from(local);
            self.left_deletes.1 += u64::from(remote);
        }
    }

    /// Set-level decisions (renames by hash, safety stop), then the finished plan. Copies come
    /// only from the plan's own actions; see [`Planner::finish_with`].
    pub fn finish(self, safety: &SafetyConfig) -> Plan {
        self.finish_with(safety, &mut NoLocator)
    }

    /// Like [`Planner::finish`], asking `locator` for copy sources the plan itself lacks.
    ///
    /// 1. Every `Upload` whose content a remote object already holds becomes a `CopyRemote`
    ///    (same `expect`). Sources, in order of preference: a `DeleteRemote` of the same hash
    ///    in this plan (a rename: the copy is sorted before the delete), a `Download` or
    ///    `Record` naming an object of that hash, then `locator`.
    /// 2. Safety stop: local + remote deletes, minus renames (a `DeleteRemote` matched one to
    ///    one by an `Upload`/`CopyRemote` of its hash; a `DeleteLocal` matched by a `Download`
    ///    of its hash), stop the plan when there are at least `min_deletes` of them and they
    ///    are more than `max_delete_percent` of the synced paths.
    /// 3. Sort by [`phase`], then path.
    pub fn finish_with(mut self, safety: &SafetyConfig, locator: &mut dyn ContentLocator) -> Plan {
        let mut ready = std::mem::take(&mut self.ready);
        self.folders.finish(&mut ready);
        for a in ready {
            self.keep(a);
        }
        let Planner {
            mut actions,
            synced,
            synced_total,
            cap: _,
            left,
            left_deletes,
            folders: _,
            ready: _,
        } = self;
        let synced = synced_total.map_or(synced, |t| t.max(synced));
        detect_copies(&mut actions, locator);
        let safety_stop = safety_stop(&actions, left_deletes, synced, safety);
        actions.sort_by(|a, b| (phase(a), a.path()).cmp(&(phase(b), b.path())));
        Plan {
            actions,
            safety_stop,
            left,
        }
    }
}

/// Whether an action deletes a local file and a remote object (for the safety stop).
fn deletes_in(a: &Action) -> (bool, bool) {
    match a {
        Action::DeleteLocal {
            expect: LocalExpect::Is { .. },
            ..
        } => (true, false),
        Action::DeleteRemote { .. } => (false, true),
        Action::Displace { local, remote, .. } => (
            matches!(local, Some((_, Fate::Delete))),
            matches!(remote, Some((_, Fate::Delete))),
        ),
        _ => (false, false),
    }
}

fn detect_copies(actions: &mut [Action], locator: &mut dyn ContentLocator) {
    let mut uploads = false;
    // Hash -> best source found among the plan's own actions (renames preferred).
    let mut known: HashMap<ContentHash, (u8, CopySource)> = HashMap::new();
    for a in actions.iter() {
        let (rank, hash, path, object) = match a {
            Action::DeleteRemote { path, expect, hash } => (0, *hash, path, expect),
            Action::Download {
                path,
                remote:
                    RemoteObject {
                        object,
                        hash: Some(hash),
                        ..
                    },
                ..
            } => (1, *hash, path, object),
            Action::Record { path, base } => (2, base.hash, path, &base.remote),
            Action::Upload { .. } => {
                uploads = true;
                continue;
            }
            _ => continue,
        };
        let better = known
            .get(&hash)
            .is_none_or(|(r, s)| (rank, path) < (*r, &s.path));
        if better {
            known.insert(
                hash,
                (
                    rank,
                    CopySource {
                        path: path.clone(),
                        object: object.clone(),
                    },
                ),
            );
        }
    }
    if !uploads {
        return;
    }
    for a in actions.iter_mut() {
        let Action::Upload {
            path,
            local,
            expect,
        } = a
        else {
            continue;
        };
        let source = match known.get(&local.hash) {
            Some((_, s)) => Some(s.clone()),
            None => locator.locate(&local.hash).filter(|s| s.path != *path),
        };
        if let Some(CopySource {
            path: from,
            object: from_object,
        }) = source
        {
            *a = Action::CopyRemote {
                path: path.clone(),
                local: local.clone(),
                from,
                from_object,
                expect: expect.clone(),
            };
        }
    }
}

fn safety_stop(
    actions: &[Action],
    (left_local, left_remote): (u64, u64),
    synced: u64,
    cfg: &SafetyConfig,
) -> Option<SafetyStop> {
    // Per hash: (deletes, re-creations); a rename is one delete matched by one re-creation.
    let mut remote: HashMap<ContentHash, (u64, u64)> = HashMap::new();
    let mut local: HashMap<ContentHash, (u64, u64)> = HashMap::new();
    for a in actions {
        match a {
            Action::DeleteRemote { hash, .. } => remote.entry(*hash).or_default().0 += 1,
            Action::Upload { local: l, .. } | Action::CopyRemote { local: l, .. } => {
                remote.entry(l.hash).or_default().1 += 1;
            }
            Action::DeleteLocal {
                expect: LocalExpect::Is { hash, .. },
                ..
            } => local.entry(*hash).or_default().0 += 1,
            // A DeleteLocal always expects a file; an `Absent` one deletes nothing.
            Action::DeleteLocal {
                expect: LocalExpect::Absent,
                ..
            } => {}
            Action::Download {
                remote: RemoteObject { hash: Some(h), .. },
                ..
            } => local.entry(*h).or_default().1 += 1,
            // A file that gives way to a folder is deleted only where the other side
            // superseded it; a conflict copy deletes nothing.
            Action::Displace {
                local: l,
                remote: r,
                ..
            } => {
                if let Some((f, Fate::Delete)) = l {
                    local.entry(f.hash).or_default().0 += 1;
                }
                if let Some((RemoteObject { hash: Some(h), .. }, Fate::Delete)) = r {
                    remote.entry(*h).or_default().0 += 1;
                }
            }
            _ => {}
        }
    }
    let unmatched = |m: &HashMap<ContentHash, (u64, u64)>| {
        m.values().map(|(d, c)| d.saturating_sub(*c)).sum::<u64>()
    };
    let (local_deletes, remote_deletes) = (
        unmatched(&local) + left_local,
        unmatched(&remote) + left_remote,
    );
    let deletes = local_deletes + remote_deletes;
    let over_share =
        u128::from(deletes) * 100 > u128::from(cfg.max_delete_percent) * u128::from(synced);
    if deletes == 0 || deletes < cfg.min_deletes || !over_share {
        return None;
    }
    let percent = match synced {
        0 => 100,
        s => u32::try_from(u128::from(deletes) * 100 / u128::from(s)).unwrap_or(u32::MAX),
    };
    Some(SafetyStop::MassDelete {
        local_deletes,
        remote_deletes,
        synced,
        percent,
    })
}

mod folders;

#[cfg(test)]
mod tests;
