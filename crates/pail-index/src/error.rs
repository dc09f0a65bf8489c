//! Typed errors. Each variant names the file, path or row it concerns, so a message in
//! `pail status` says what to look at.

use std::path::PathBuf;

/// Errors of the index database and of loading ignore rules.
#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot open index {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("index database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    /// The database was written by a newer pail; running old migrations on it could lose data.
    #[error(
        "index {path} was written by a newer pail (schema version {found}, this pail knows up to {supported}): upgrade pail to use this folder pair; the index is left as it is"
    )]
    NewerSchema {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    /// A row that cannot have been written by pail (bad hash length, invalid path, bad time).
    #[error("corrupt index row for {what}: {detail}")]
    Corrupt { what: String, detail: String },
}

/// Errors that stop a local scan as a whole. Problems with single entries are not errors:
/// they end up in [`crate::ScanReport::skipped`].
#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    #[error("sync folder {0} does not exist")]
    RootMissing(PathBuf),
    #[error("sync folder {0} is not a directory")]
    RootNotDir(PathBuf),
    /// The root (or the walk as a whole) cannot be read: a scan that saw nothing must not be
    /// taken for "everything was deleted".
    #[error("cannot read sync folder {path}: {source}")]
    RootUnreadable {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("walking {path}: {message}")]
    Walk { path: PathBuf, message: String },
    #[error(transparent)]
    Index(#[from] IndexError),
}
