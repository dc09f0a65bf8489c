//! What one action of a plan came to: an [`Outcome`], or an [`ActionError`] for its path.
//!
//! The executor decides from these types alone (an archived object is a skip, not a
//! failure); no message is parsed and no error downcast. Each error's message is its own
//! layer; [`ActionError::report`] joins the chain of causes into the line `status` shows.

use std::path::PathBuf;

use pail_core::plan::RemoteExpect;
use pail_core::{NameError, RelPath, RemotePrefix};
use pail_index::IndexError;
use pail_s3::{ArchiveRestore, StoreError};

use crate::localfs::LocalError;

/// What one action came to.
#[derive(Debug)]
pub enum Outcome {
    /// Done, nothing transferred (an index record, a delete).
    Done,
    /// Done, with this many bytes sent or received.
    Transferred(u64),
    /// An object was written (upload, copy) with `bytes` sent, and, where the server could
    /// not enforce the write's condition, the record to check it against a race with.
    Written {
        /// Bytes sent (0 for a server-side copy).
        bytes: u64,
        /// The write to check once its phase is over (see `race.rs`).
        check: Option<Written>,
    },
    /// A conflict copy was made (and this many bytes received).
    Conflict(u64),
    /// Not done: the world changed since the plan; the next pass decides again.
    Deferred(String),
    /// Not done and not an error: the path waits for the user (an archived object).
    Skipped(String),
}

/// A write or delete whose predecessor version must be checked: on a versioned bucket whose
/// server ignores conditional writes, another device may have written in between (tenet 5).
#[derive(Debug, Clone)]
pub struct Written {
    /// The file written.
    pub path: RelPath,
    /// Its key.
    pub key: String,
    /// The version the write made.
    pub version: String,
    /// What the plan expected to replace.
    pub expect: RemoteExpect,
    /// The write was a delete (its version a delete marker): another writer's version buried
    /// under it comes back as the file itself (tenet 3: the edit beats the delete), not as a
    /// conflict copy.
    pub deleted: bool,
}

/// Why an action failed for its path.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ActionError {
    /// A store call failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The path kept changing under the sync, pass after pass.
    #[error("still changing after {passes} passes: {why}")]
    StillChanging {
        /// Passes made.
        passes: u32,
        /// What changed the last time.
        why: String,
    },
    /// A store call of an upload failed.
    #[error("uploading {path} to {url}")]
    Upload {
        /// The file uploaded.
        path: RelPath,
        /// Where to.
        url: String,
        /// The store's error.
        source: StoreError,
    },
    /// The remote delete failed.
    #[error("deleting {url}")]
    DeleteRemote {
        /// The object.
        url: String,
        /// The store's error.
        source: StoreError,
    },
    /// A download broke off mid-body.
    #[error("downloading {key}")]
    Download {
        /// The object.
        key: String,
        /// The store's error.
        source: StoreError,
    },
    /// The trash copy (server-side copy) made before an overwrite or delete failed.
    #[error("keeping {key} in the trash before replacing it")]
    TrashCopy {
        /// The object being replaced.
        key: String,
        /// The store's error.
        source: StoreError,
    },
    /// The server-side copy that keeps a file giving way to a folder as a conflict copy failed.
    #[error("keeping {key} as a conflict copy before a folder takes its name")]
    ConflictCopyRemote {
        /// The object giving way.
        key: String,
        /// The store's error.
        source: StoreError,
    },
    /// Uploading local content into the trash failed.
    #[error("keeping {path} in the trash before replacing it")]
    TrashUpload {
        /// The file.
        path: RelPath,
        /// What failed.
        source: Box<ActionError>,
    },
    /// Listing a file's trash copies failed.
    #[error("{path}: cannot list its trash copies")]
    ListTrash {
        /// The file.
        path: RelPath,
        /// The store's error.
        source: StoreError,
    },
    /// The version listing after a write, to find a lost race, failed.
    #[error("checking for a write race")]
    RaceCheck(#[source] StoreError),
    /// The listing of the whole prefix after many writes, to find lost races, failed.
    #[error("checking for write races")]
    RaceCheckAll(#[source] StoreError),
    /// Another writer's version was buried under ours and could not be brought back.
    #[error("keeping a buried version as a conflict copy")]
    BuriedVersion(#[source] Box<ActionError>),
    /// The object is in an archival storage class; the path is skipped until restored.
    #[error("{}", archived_text(key, *state))]
    Archived {
        /// The object.
        key: String,
        /// Where a restore stands; `None` when the bucket could not say.
        state: Option<ArchiveRestore>,
    },
    /// An encrypted pair's object that does not decrypt with the prefix's key, whose keyed
    /// hash is not its metadata's, or whose binding tag is not for its path: "the object KEY
    /// was changed or damaged: not placed".
    #[error(transparent)]
    Content(#[from] pail_crypt::ContentError),
    /// The download's content does not match the hash in its metadata.
    #[error(
        "{key}: content does not match its pail-blake3 metadata (corrupt, or rewritten by a client that kept stale metadata); not placed"
    )]
    CorruptDownload {
        /// The object.
        key: String,
    },
    /// The download ended early (or ran long).
    #[error("{key}: the download was cut short: got {got} bytes, expected {expected}")]
    ShortDownload {
        /// The object.
        key: String,
        /// Bytes received.
        got: u64,
        /// Bytes the object has.
        expected: u64,
    },
    /// A file stands where the bucket has a folder.
    #[error(
        "{} is a file here but a folder in the bucket ({key}): rename one of them",
        clash.display()
    )]
    FileInTheWay {
        /// The file.
        clash: PathBuf,
        /// The key below it.
        key: String,
    },
    /// The object just written is not there (Ceph's empty multipart ETag, then a HEAD).
    #[error("{key}: uploaded object vanished")]
    Vanished {
        /// The object.
        key: String,
    },
    /// The path has no valid key.
    #[error("{path}: cannot be stored in the bucket")]
    Key {
        /// The file.
        path: RelPath,
        /// Why.
        source: NameError,
    },
    /// The trash copy's key would be too long for S3.
    #[error(
        "{rel}: its trash copy key would exceed 1024 bytes, so it cannot be kept before being replaced; enable versioning on the bucket"
    )]
    TrashKeyTooLong {
        /// The file.
        rel: String,
    },
    /// The file changed while it was being copied into the trash.
    #[error("{path}: changed while being kept in the trash; will try again")]
    ChangedWhileTrashing {
        /// The file.
        path: RelPath,
    },
    /// Every conflict copy name is taken.
    #[error("no usable conflict copy name")]
    NoConflictName,
    /// A local file could not be read.
    #[error("cannot read {}", path.display())]
    Read {
        /// The file.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A temp file next to the target could not be written.
    #[error("cannot write next to {}", path.display())]
    WriteNextTo {
        /// The target.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// The folder's disk has no room for a download (checked before a big one starts, or
    /// run out of while writing). Nothing partial is left; the next pass tries again.
    #[error(
        "not enough space in {} for {path} (needs {}, {} free)",
        folder.display(),
        pail_core::human_bytes(*needed),
        pail_core::human_bytes(*free)
    )]
    NoSpace {
        /// The synced folder.
        folder: PathBuf,
        /// The file, as a path in the folder.
        path: String,
        /// Its size.
        needed: u64,
        /// Bytes free when it was found out.
        free: u64,
    },
    /// Local I/O failed.
    #[error(transparent)]
    Io(#[from] std::io::Error),
    /// A local file operation failed.
    #[error(transparent)]
    Local(#[from] LocalError),
    /// The index failed.
    #[error(transparent)]
    Index(#[from] IndexError),
    /// A blocking worker (reading a part) died.
    #[error(transparent)]
    Worker(#[from] tokio::task::JoinError),
}

impl From<crate::safe_dir::SafeError> for ActionError {
    fn from(e: crate::safe_dir::SafeError) -> Self {
        ActionError::Local(LocalError::Safe(e))
    }
}

fn archived_text(key: &str, state: Option<ArchiveRestore>) -> String {
    match state {
        Some(ArchiveRestore::InProgress) => format!(
            "{key} is being restored from the archive (Glacier/Deep Archive: minutes to 48 hours); it downloads at the first sync after that"
        ),
        Some(ArchiveRestore::Done) => format!(
            "{key} was restored from the archive but could not be read yet; it downloads at the next sync"
        ),
        _ => format!(
            "{key} is archived (Glacier/Deep Archive): run `pail restore --from-archive PATH`, then sync again"
        ),
    }
}

impl ActionError {
    /// Whether the same action may succeed on a later pass without anyone stepping in: the
    /// store's transient failures, a download cut short or corrupted on the way, a file
    /// that changed while it was read. Not: an archived object (waits for the user), index
    /// or local I/O failures, names S3 cannot store.
    pub fn is_transient(&self) -> bool {
        match self {
            ActionError::Store(e)
            | ActionError::Upload { source: e, .. }
            | ActionError::DeleteRemote { source: e, .. }
            | ActionError::Download { source: e, .. }
            | ActionError::TrashCopy { source: e, .. }
            | ActionError::ConflictCopyRemote { source: e, .. }
            | ActionError::ListTrash { source: e, .. }
            | ActionError::RaceCheck(e)
            | ActionError::RaceCheckAll(e) => e.is_transient(),
            ActionError::TrashUpload { source, .. } | ActionError::BuriedVersion(source) => {
                source.is_transient()
            }
            ActionError::CorruptDownload { .. }
            | ActionError::ShortDownload { .. }
            | ActionError::ChangedWhileTrashing { .. }
            | ActionError::NoSpace { .. } => true,
            ActionError::Archived { .. }
            | ActionError::FileInTheWay { .. }
            | ActionError::Vanished { .. }
            | ActionError::Key { .. }
            | ActionError::TrashKeyTooLong { .. }
            | ActionError::NoConflictName
            | ActionError::Read { .. }
            | ActionError::WriteNextTo { .. }
            | ActionError::Io(_)
            | ActionError::Local(_)
            | ActionError::Index(_)
            | ActionError::Worker(_) => false,
            // Changed in the bucket: it stays so until someone restores or replaces it.
            ActionError::Content(_) => false,
            // It may settle by the next sync.
            ActionError::StillChanging { .. } => true,
        }
    }

    /// The store's error at the root of this one, if any.
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            ActionError::Store(e)
            | ActionError::Upload { source: e, .. }
            | ActionError::DeleteRemote { source: e, .. }
            | ActionError::Download { source: e, .. }
            | ActionError::TrashCopy { source: e, .. }
            | ActionError::ConflictCopyRemote { source: e, .. }
            | ActionError::ListTrash { source: e, .. }
            | ActionError::RaceCheck(e)
            | ActionError::RaceCheckAll(e) => Some(e),
            ActionError::TrashUpload { source, .. } | ActionError::BuriedVersion(source) => {
                source.store_error()
            }
            _ => None,
        }
    }

    /// The message with its causes, one after the other (`a: b: c`), as `status` shows it.
    pub fn report(&self) -> String {
        crate::error::chain(self)
    }
}

/// The part of `path`'s key after `PREFIX/` (encoded on a pair with encrypted names), or why
/// it has none.
pub(crate) fn rel_key(prefix: &RemotePrefix, path: &RelPath) -> Result<String, ActionError> {
    prefix.rel_key(path).map_err(|source| ActionError::Key {
        path: path.clone(),
        source,
    })
}

/// The key of `path`, or why it has none.
pub(crate) fn key_for(prefix: &RemotePrefix, path: &RelPath) -> Result<String, ActionError> {
    prefix.key_for(path).map_err(|source| ActionError::Key {
        path: path.clone(),
        source,
    })
}

/// An action that failed, with the path it was for.
#[derive(Debug)]
pub struct PathError {
    /// The path (as the plan named it).
    pub path: String,
    /// Why it failed.
    pub error: ActionError,
}

impl std::fmt::Display for PathError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.path, self.error.report())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn path(p: &str) -> RelPath {
        RelPath::new(p).unwrap()
    }

    #[test]
    fn transient_errors_are_told_apart() {
        let cases: Vec<(ActionError, bool)> = vec![
            (StoreError::transient("put", "k", "SlowDown").into(), true),
            (
                StoreError::PreconditionFailed { key: "k".into() }.into(),
                false,
            ),
            (
                ActionError::Upload {
                    path: path("a"),
                    url: "s3://b/a".into(),
                    source: StoreError::transient("put", "k", "reset"),
                },
                true,
            ),
            (
                ActionError::TrashUpload {
                    path: path("a"),
                    source: Box::new(StoreError::NotFound { key: "k".into() }.into()),
                },
                false,
            ),
            (ActionError::CorruptDownload { key: "k".into() }, true),
            (
                ActionError::ShortDownload {
                    key: "k".into(),
                    got: 1,
                    expected: 2,
                },
                true,
            ),
            (
                ActionError::Archived {
                    key: "k".into(),
                    state: None,
                },
                false,
            ),
            (std::io::Error::other("disk").into(), false),
        ];
        for (e, transient) in cases {
            assert_eq!(e.is_transient(), transient, "{e:?}");
        }
    }

    #[test]
    fn the_report_joins_the_causes() {
        let e = ActionError::TrashUpload {
            path: path("d/a.txt"),
            source: Box::new(ActionError::Upload {
                path: path("d/a.txt"),
                url: "s3://b/d/a.txt".into(),
                source: StoreError::NotFound {
                    key: "d/a.txt".into(),
                },
            }),
        };
        assert_eq!(
            e.report(),
            "keeping d/a.txt in the trash before replacing it: uploading d/a.txt to s3://b/d/a.txt: s3 object \"d/a.txt\" not found"
        );
        let archived = ActionError::Archived {
            key: "k".into(),
            state: Some(ArchiveRestore::InProgress),
        };
        assert!(archived.report().starts_with("k is being restored"));
    }
}
