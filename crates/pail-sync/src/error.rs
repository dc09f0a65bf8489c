//! Why a whole sync failed: a [`SyncError`], as opposed to one path's [`crate::outcome::ActionError`]
//! (which the pass survives) and a safety stop ([`crate::StopReason`], which is a result).
//!
//! Callers decide from the variant and from [`SyncError::is_transient`]; no message is parsed
//! and no error downcast. Each variant's message is its own layer (`listing s3://b/p/`), its
//! cause is its [`std::error::Error::source`]; [`SyncError::report`] joins them into the line
//! users read, exactly as `anyhow`'s `{:#}` would.

use std::path::{Path, PathBuf};

use pail_core::{NameError, RelPath};
use pail_index::{IndexError, ScanError};
use pail_s3::StoreError;

/// Why a sync pass (or the journal work around it) failed as a whole.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SyncError {
    /// Listing the pair's prefix failed.
    #[error("listing {url}")]
    Listing {
        /// What was listed (`s3://bucket/prefix/`).
        url: String,
        /// The store's error.
        source: StoreError,
    },
    /// A HEAD of a path another device says it changed failed.
    #[error("HEAD {key}")]
    Head {
        /// The key.
        key: String,
        /// The store's error.
        source: StoreError,
    },
    /// Any other store call of a pass: the HEADs for remote hashes, the change journal
    /// (writing, polling, pruning). The store's message names the call and the key.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The index failed (or the ignore rules could not be loaded).
    #[error(transparent)]
    Index(#[from] IndexError),
    /// The disk holding the index is full. The pass stopped at the first write the index
    /// could not record, so every change made is recorded or recognised by the next pass.
    #[error(
        "cannot write pail's index in {}: the disk is full; free some space there and sync again (the sync stopped; nothing is lost)",
        dir.display()
    )]
    StateDiskFull {
        /// The directory of the index.
        dir: PathBuf,
        /// SQLite's (or the system's) error.
        source: IndexError,
    },
    /// The index file is damaged. The pass stopped (healing it mid-pass would change the
    /// base under running actions); it is marked, and the next open sets it aside and
    /// rebuilds it.
    #[error(
        "the index {} is damaged: the sync stopped; the next sync sets it aside and rebuilds it by comparing content (nothing is lost)",
        path.display()
    )]
    IndexDamaged {
        /// The index file.
        path: PathBuf,
        /// What was found.
        source: IndexError,
    },
    /// The local scan could not see the folder.
    #[error(transparent)]
    Scan(#[from] ScanError),
    /// The folder root could not be read (while checking it is the one synced before).
    #[error("cannot read {}", path.display())]
    Local {
        /// The path read.
        path: PathBuf,
        /// The system's error.
        source: std::io::Error,
    },
    /// A path has no valid key in the bucket.
    #[error("{path}: cannot be stored in the bucket")]
    Key {
        /// The path.
        path: RelPath,
        /// Why.
        source: NameError,
    },
    /// A journal entry could not be encoded.
    #[error(transparent)]
    Encode(#[from] serde_json::Error),
    /// A blocking task of the pass (scan, planning, index work) panicked or was cancelled.
    #[error(transparent)]
    Task(#[from] tokio::task::JoinError),
}

impl SyncError {
    /// Whether the same pass may succeed later without anyone stepping in: the store's
    /// transient failures (throttling, 5xx, timeouts, connection failures, an unreachable
    /// endpoint). Not: a permanent store error (access denied, no such bucket), the index,
    /// the folder, a name, a failed task.
    pub fn is_transient(&self) -> bool {
        self.store_error().is_some_and(StoreError::is_transient)
    }

    /// Whether the store could not be reached at all (the machine is offline, or the
    /// endpoint is down): transient, and worth saying as such.
    pub fn is_unreachable(&self) -> bool {
        matches!(self.store_error(), Some(StoreError::Unreachable { .. }))
    }

    /// The store's error at the root of this one, if any.
    pub fn store_error(&self) -> Option<&StoreError> {
        match self {
            SyncError::Listing { source, .. } | SyncError::Head { source, .. } => Some(source),
            SyncError::Store(e) => Some(e),
            SyncError::Index(_)
            | SyncError::StateDiskFull { .. }
            | SyncError::IndexDamaged { .. }
            | SyncError::Scan(_)
            | SyncError::Local { .. }
            | SyncError::Key { .. }
            | SyncError::Encode(_)
            | SyncError::Task(_) => None,
        }
    }

    /// The message with its causes, one after the other (`a: b: c`), as `status`, the
    /// daemon and `pail sync` show it (what `anyhow`'s `{:#}` printed).
    pub fn report(&self) -> String {
        crate::error::chain(self)
    }

    /// The index's failure of an index at `db` told for what it is: a full disk
    /// ([`SyncError::StateDiskFull`]) or a damaged file ([`SyncError::IndexDamaged`], marked
    /// for the next open to heal). Other errors are returned as they are.
    pub fn about_index(self, db: &Path) -> SyncError {
        let index = match self {
            SyncError::Index(e) | SyncError::Scan(ScanError::Index(e)) => e,
            other => return other,
        };
        SyncError::from_index(db, index)
    }

    /// An error of the index at `db`, told for what it is (see [`SyncError::about_index`]).
    pub fn from_index(db: &Path, e: IndexError) -> SyncError {
        let dir = db.parent().unwrap_or(db);
        // SQLite says "disk I/O error" where mapping its shared memory fails on a full disk.
        let no_room = || crate::space::free_bytes(dir).is_some_and(|f| f < STATE_ROOM);
        if e.is_disk_full() || (e.is_io_failure() && no_room()) {
            return SyncError::StateDiskFull {
                dir: dir.to_owned(),
                source: e,
            };
        }
        if e.is_damage() && db != Path::new(":memory:") {
            if let Err(me) = pail_index::mark_damaged(db, &e.to_string()) {
                tracing::warn!(db = %db.display(), error = %me, "cannot mark the index damaged; `quick_check` at the next open decides");
            }
            return SyncError::IndexDamaged {
                path: db.to_owned(),
                source: e,
            };
        }
        SyncError::Index(e)
    }

    /// The key of `path` under `prefix`, or why it has none.
    pub(crate) fn key_for(
        prefix: &pail_core::RemotePrefix,
        path: &RelPath,
    ) -> Result<String, SyncError> {
        prefix.key_for(path).map_err(|source| SyncError::Key {
            path: path.clone(),
            source,
        })
    }
}

/// Free space below which an I/O failure of the index is taken for a full disk: SQLite needs
/// a few pages for its WAL and shared memory.
const STATE_ROOM: u64 = 256 << 10;

/// An error and its causes, one after the other (`a: b: c`): what `anyhow`'s `{:#}` prints.
pub(crate) fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut cause = e.source();
    while let Some(c) = cause {
        out.push_str(": ");
        out.push_str(&c.to_string());
        cause = c.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn denied() -> StoreError {
        StoreError::AccessDenied {
            bucket: "b".into(),
            key: None,
            message: "Access Denied".into(),
        }
    }

    #[test]
    fn only_transient_store_failures_are_transient() {
        let io = || std::io::Error::other("disk");
        let cases: Vec<(SyncError, bool, bool)> = vec![
            (
                SyncError::Listing {
                    url: "s3://b/p/".into(),
                    source: StoreError::transient("list", "", "SlowDown"),
                },
                true,
                false,
            ),
            (
                SyncError::Listing {
                    url: "s3://b/p/".into(),
                    source: denied(),
                },
                false,
                false,
            ),
            (
                SyncError::Head {
                    key: "p/a".into(),
                    source: StoreError::Unreachable {
                        endpoint: "http://127.0.0.1:9".into(),
                        message: "connection refused".into(),
                    },
                },
                true,
                true,
            ),
            (
                StoreError::NoSuchBucket { bucket: "b".into() }.into(),
                false,
                false,
            ),
            (
                StoreError::transient("put", "p/.pail/journal/x", "reset").into(),
                true,
                false,
            ),
            (
                IndexError::Io {
                    path: "/f/.pailignore".into(),
                    source: io(),
                }
                .into(),
                false,
                false,
            ),
            (
                ScanError::RootUnreadable {
                    path: "/f".into(),
                    source: io(),
                }
                .into(),
                false,
                false,
            ),
            (
                SyncError::Local {
                    path: "/f".into(),
                    source: io(),
                },
                false,
                false,
            ),
        ];
        for (e, transient, unreachable) in cases {
            assert_eq!(e.is_transient(), transient, "{e:?}");
            assert_eq!(e.is_unreachable(), unreachable, "{e:?}");
            assert_eq!(
                e.store_error().is_some(),
                matches!(
                    e,
                    SyncError::Listing { .. } | SyncError::Head { .. } | SyncError::Store(_)
                )
            );
        }
    }

    #[test]
    fn the_report_reads_as_before() {
        let e = SyncError::Listing {
            url: "s3://b/p/".into(),
            source: denied(),
        };
        assert_eq!(e.report(), format!("listing s3://b/p/: {}", denied()));
        let e = SyncError::Head {
            key: "p/a.txt".into(),
            source: StoreError::NotFound {
                key: "p/a.txt".into(),
            },
        };
        assert_eq!(e.report(), "HEAD p/a.txt: s3 object \"p/a.txt\" not found");
        let e = SyncError::Local {
            path: "/f".into(),
            source: std::io::Error::other("disk"),
        };
        assert_eq!(e.report(), "cannot read /f: disk");
        // Transparent layers say what the error they wrap says, causes included.
        let e: SyncError = ScanError::RootMissing("/f".into()).into();
        assert_eq!(e.report(), "sync folder /f does not exist");
        let e: SyncError = StoreError::transient("put", "k", "reset").into();
        assert_eq!(e.report(), "temporary S3 failure in put of \"k\": reset");
        let e = SyncError::Key {
            path: RelPath::new("a").unwrap(),
            source: NameError::Reserved,
        };
        assert!(
            e.report()
                .starts_with("a: cannot be stored in the bucket: "),
            "{}",
            e.report()
        );
    }
}
