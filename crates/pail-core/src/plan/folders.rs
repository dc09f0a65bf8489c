//! Files in the way of folders: a path that is a file on one side and a folder on the other
//! (or both a key `d` and keys `d/...` in the bucket, which S3 allows and a disk does not).
//!
//! The rule (doc/SEMANTICS.md, "A file and a folder with one name"): **the folder keeps the
//! name.** A folder is whatever still holds a file after the plan, on either side: some path
//! below `d/` that the plan neither deletes nor forgets. The file `d` then gives way
//! ([`Action::Displace`]), side by side, by what the plain decision table would have done
//! with it:
//!
//! | plain decision for `d`            | local file `d`  | remote object `d` |
//! |-----------------------------------|-----------------|-------------------|
//! | nothing / record (same both sides)| conflict copy   | conflict copy (one name for both) |
//! | upload (local new or edited)      | conflict copy   | delete (if present, unchanged) |
//! | download (remote new or edited)   | delete (if present, unchanged) | conflict copy |
//! | conflict (both changed)           | conflict copy   | conflict copy     |
//! | delete local (remote deleted it)  | delete, before the folder comes down | — |
//!
//! So an edit is never lost (it is a conflict copy next to the folder), content nobody changed
//! is kept too (nobody deleted it), and only content that the other side superseded is
//! deleted, exactly as the table deletes it. A remote delete of `d` (local folder replaced the
//! file) needs nothing more and stays an ordinary `DeleteRemote`.
//!
//! Paths arrive in byte order, where everything under `d/` comes in one run after `d`, maybe
//! after siblings such as `d.txt` or `d b` (bytes below `/`). Like the listing's collision
//! finder, a stack keeps the files whose run may still come, with their decision held back;
//! it is as deep as such a chain of names, not as the folder is big.

use super::{Action, Fate, LocalExpect, RemoteExpect};
use crate::state::{LocalFile, PathState, RemoteObject};

/// A file whose folder run may still come, and its decision held back.
#[derive(Debug)]
struct Open {
    state: PathState,
    action: Option<Action>,
    /// Some path below it keeps a file: it must give way.
    folder: bool,
}

/// Holds back the decisions of files until it is known whether a folder takes their name.
#[derive(Debug, Default)]
pub(super) struct FolderClashes {
    open: Vec<Open>,
}

impl FolderClashes {
    /// Feeds one path's state (in path order) with its plain decision; the decisions that are
    /// final by now go to `out`.
    pub(super) fn push(
        &mut self,
        state: &PathState,
        action: Option<Action>,
        out: &mut Vec<Action>,
    ) {
        let p = state.path.as_str();
        while let Some(top) = self.open.last() {
            let t = top.state.path.as_str();
            // Inside `t/`, or between `t` and `t/` (`t.txt`): its run may still come.
            let before_run =
                p.starts_with(t) && p.as_bytes().get(t.len()).is_some_and(|b| *b < b'/');
            if under(p, t) || before_run {
                break;
            }
            let done = self.open.pop().expect("top");
            out.extend(resolve(done));
        }
        let keeps_file = match &action {
            Some(
                Action::DeleteLocal { .. } | Action::DeleteRemote { .. } | Action::Forget { .. },
            ) => false,
            Some(_) => true,
            None => state.local.is_some() || state.remote.is_some(),
        };
        if keeps_file {
            for o in self
                .open
                .iter_mut()
                .filter(|o| under(p, o.state.path.as_str()))
            {
                o.folder = true;
            }
        }
        // Only a file that stays, or one deleted locally (which must go before the folder
        // comes down), can be in a folder's way.
        if keeps_file || matches!(action, Some(Action::DeleteLocal { .. })) {
            self.open.push(Open {
                state: state.clone(),
                action,
                folder: false,
            });
        } else {
            out.extend(action);
        }
    }

    /// The decisions still held back (at the end of the input).
    pub(super) fn finish(&mut self, out: &mut Vec<Action>) {
        while let Some(o) = self.open.pop() {
            out.extend(resolve(o));
        }
    }
}

/// `key` names something inside directory `dir`.
fn under(key: &str, dir: &str) -> bool {
    key.len() > dir.len() && key.starts_with(dir) && key.as_bytes()[dir.len()] == b'/'
}

/// The final decision for a file whose run is over.
fn resolve(o: Open) -> Option<Action> {
    if o.folder {
        displace(&o.state, o.action)
    } else {
        o.action
    }
}

/// What becomes of the file `state.path`, which a folder takes the name of, given the plain
/// decision `action` (see the table at the top).
pub(super) fn displace(state: &PathState, action: Option<Action>) -> Option<Action> {
    use Fate::{ConflictCopy, Delete};
    let base_hash = state.base.as_ref().map(|b| b.hash);
    let (local, remote) = match action {
        // Same content on both sides (or nothing changed): one conflict copy, one name.
        None | Some(Action::Record { .. }) => {
            let local = state.local.clone();
            let remote = state.remote.clone().map(|mut r| {
                r.hash = local.as_ref().map(|l| l.hash).or(r.hash);
                (r, ConflictCopy)
            });
            (local.map(|l| (l, ConflictCopy)), remote)
        }
        Some(Action::Upload { local, expect, .. }) => {
            let remote = match expect {
                RemoteExpect::Absent => None,
                // The object is still the base's content: the local edit supersedes it.
                RemoteExpect::Is(object) => Some((
                    RemoteObject {
                        object,
                        hash: base_hash,
                        last_modified_ns: state.remote.as_ref().map_or(0, |r| r.last_modified_ns),
                    },
                    Delete,
                )),
            };
            (Some((local, ConflictCopy)), remote)
        }
        Some(Action::Download { remote, expect, .. }) => {
            let local = match expect {
                LocalExpect::Absent => None,
                LocalExpect::Is { stat, hash } => Some((LocalFile { stat, hash }, Delete)),
            };
            (local, Some((remote, ConflictCopy)))
        }
        Some(Action::Conflict { local, remote, .. }) => {
            (Some((local, ConflictCopy)), Some((remote, ConflictCopy)))
        }
        Some(Action::DeleteLocal {
            expect: LocalExpect::Is { stat, hash },
            ..
        }) => (Some((LocalFile { stat, hash }, Delete)), None),
        other => return other,
    };
    Some(Action::Displace {
        path: state.path.clone(),
        local,
        remote,
    })
}
