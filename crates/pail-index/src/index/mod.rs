//! The SQLite index: what was last synced (`base`), what the current scans found
//! (`local_scan`, `remote_scan`), and bookkeeping (multipart uploads, conflicts, status).
//!
//! One [`Index`] wraps one connection. Methods take `&self`; writes that belong together run in
//! [`Index::transaction`], which nests (inner calls become savepoints), so batch methods can
//! be used inside a caller's transaction.

mod activity;
mod heal;
mod join;
pub use activity::{Activity, MAX_ACTIVITY};
pub use heal::{Healed, damaged_marker, mark_damaged};
pub use join::scope_ranges;
pub use paths::CaseTwin;
mod migrations;
mod paths;
mod records;

use std::fs::{DirBuilder, OpenOptions};
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

use pail_core::{ContentHash, RelPath};
use rusqlite::{Connection, OptionalExtension, params};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::error::IndexError;

pub(crate) use paths::LocalScanRow;
pub use records::{
    ConflictRecord, ErrorRecord, MAX_ERRORS, MAX_PASSES, MultipartUpload, PassSummary, SyncState,
};

pub type Result<T, E = IndexError> = std::result::Result<T, E>;

/// The state index of one folder pair.
#[derive(Debug)]
pub struct Index {
    conn: Connection,
    path: PathBuf,
}

impl Index {
    /// Opens (creating if needed) the index at `path`: parent directories are created with mode
    /// 0700 and the database with 0600, since the index names every file in the folder.
    /// Runs pending migrations.
    pub fn open(path: &Path) -> Result<Index> {
        let io_err = |p: &Path, source| IndexError::Io {
            path: p.to_owned(),
            source,
        };
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(parent)
                .map_err(|e| io_err(parent, e))?;
        }
        // Create the file ourselves so it never exists with the umask's wider mode; SQLite
        // gives the -wal and -shm files the database file's permissions. An existing file is
        // never opened here: closing any descriptor of a database file drops every POSIX lock
        // this process holds on it, including those of its other SQLite connections (the
        // daemon's), and another process could then checkpoint and truncate the WAL under
        // them ("disk I/O error … file truncated?").
        match OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
        {
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                let meta = std::fs::metadata(path).map_err(|e| io_err(path, e))?;
                if meta.permissions().mode() & 0o077 != 0 {
                    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600))
                        .map_err(|e| io_err(path, e))?;
                }
            }
            Err(e) => return Err(io_err(path, e)),
        }
        let conn = Connection::open(path).map_err(|source| IndexError::Open {
            path: path.to_owned(),
            source,
        })?;
        Index::setup(conn, path.to_owned())
    }

    /// A private in-memory index (tests, dry runs).
    pub fn open_in_memory() -> Result<Index> {
        let conn = Connection::open_in_memory()?;
        Index::setup(conn, PathBuf::from(":memory:"))
    }

    fn setup(conn: Connection, path: PathBuf) -> Result<Index> {
        let open_err = |source| IndexError::Open {
            path: path.clone(),
            source,
        };
        // Waits for another connection's write rather than failing at once, from the first
        // statement on (switching to WAL needs a lock too).
        conn.busy_timeout(Duration::from_secs(5))
            .map_err(open_err)?;
        // WAL: readers never block the writer and a crash never corrupts the database.
        // NORMAL in WAL mode may lose the last commits on power loss but never corrupts;
        // a lost commit only makes the next pass redo idempotent work (tenet 8).
        conn.pragma_update(None, "journal_mode", "WAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "synchronous", "NORMAL")
            .map_err(open_err)?;
        conn.pragma_update(None, "foreign_keys", true)
            .map_err(open_err)?;
        let index = Index { conn, path };
        migrations::migrate(&index.conn, &index.path)?;
        Ok(index)
    }

    /// Where the database lives (`:memory:` for an in-memory index).
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The journal mode SQLite actually uses (`wal` for a file, `memory` in memory).
    pub fn journal_mode(&self) -> Result<String> {
        Ok(self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?)
    }

    /// The schema version after migrations.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(migrations::current_version(&self.conn)?)
    }

    /// Runs `f` atomically: everything it writes through this index commits together or not
    /// at all. The outermost call takes the write lock up front (`BEGIN IMMEDIATE`, so it
    /// waits on `busy_timeout` instead of failing on upgrade); nested calls use savepoints.
    pub fn transaction<T, E: From<IndexError>>(
        &self,
        f: impl FnOnce(&Index) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        let outer = self.conn.is_autocommit();
        let (begin, commit, rollback) = if outer {
            ("BEGIN IMMEDIATE", "COMMIT", "ROLLBACK")
        } else {
            (
                "SAVEPOINT pail_tx",
                "RELEASE pail_tx",
                "ROLLBACK TO pail_tx; RELEASE pail_tx",
            )
        };
        // Cached, not parsed again: a transaction per uploaded file makes these hot.
        let run = |sql: &str| -> rusqlite::Result<()> {
            if sql.contains(';') {
                return self.conn.execute_batch(sql);
            }
            self.conn.prepare_cached(sql)?.execute([]).map(drop)
        };
        run(begin).map_err(IndexError::from)?;
        match f(self) {
            Ok(v) => {
                if let Err(e) = run(commit) {
                    let _ = self.conn.execute_batch(rollback);
                    return Err(IndexError::from(e).into());
                }
                Ok(v)
            }
            Err(e) => {
                if let Err(re) = self.conn.execute_batch(rollback) {
                    tracing::warn!(db = %self.path.display(), "rollback failed: {re}");
                }
                Err(e)
            }
        }
    }

    /// Runs the reads in `f` on one snapshot of the database, under one read lock: outside a
    /// transaction SQLite takes and drops its lock for every statement, four `fcntl` calls,
    /// and a scan looks up two rows per file. Inside a transaction `f` just runs.
    pub fn reading<T, E: From<IndexError>>(
        &self,
        f: impl FnOnce(&Index) -> std::result::Result<T, E>,
    ) -> std::result::Result<T, E> {
        if !self.conn.is_autocommit() {
            return f(self);
        }
        let run = |sql: &str| self.conn.prepare_cached(sql)?.execute([]).map(drop);
        run("BEGIN DEFERRED").map_err(IndexError::from)?;
        let out = f(self);
        // Nothing was written: ending the transaction either way only lets the lock go.
        run(if out.is_ok() { "COMMIT" } else { "ROLLBACK" }).map_err(IndexError::from)?;
        out
    }

    // ==== meta ====

    pub fn meta_get(&self, key: &str) -> Result<Option<String>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT value FROM meta WHERE key = ?1")?;
        Ok(st.query_row([key], |r| r.get(0)).optional()?)
    }

    pub fn meta_set(&self, key: &str, value: &str) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT INTO meta(key, value) VALUES (?1, ?2)
                 ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            )?
            .execute(params![key, value])?;
        Ok(())
    }

    pub fn meta_delete(&self, key: &str) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM meta WHERE key = ?1")?
            .execute([key])?;
        Ok(())
    }
}

// ==== column conversions shared by the table modules ====

/// Inodes and devices are u64 and may use the top bit (FUSE, NFS); stored bit-for-bit in i64.
fn u64_to_sql(v: u64) -> i64 {
    v as i64
}

fn u64_from_sql(v: i64) -> u64 {
    v as u64
}

fn hash_from_sql(what: &str, blob: Vec<u8>) -> Result<ContentHash> {
    let arr: [u8; 32] = blob.try_into().map_err(|b: Vec<u8>| IndexError::Corrupt {
        what: what.to_owned(),
        detail: format!("hash is {} bytes, not 32", b.len()),
    })?;
    Ok(ContentHash(arr))
}

fn path_from_sql(s: String) -> Result<RelPath> {
    RelPath::new(&s).map_err(|e| IndexError::Corrupt {
        what: s.clone(),
        detail: format!("invalid path: {e}"),
    })
}

fn time_to_sql(t: OffsetDateTime) -> String {
    // RFC 3339 formatting only fails for years outside 0..=9999.
    t.format(&Rfc3339)
        .unwrap_or_else(|_| t.unix_timestamp().to_string())
}

fn time_from_sql(what: &str, s: &str) -> Result<OffsetDateTime> {
    OffsetDateTime::parse(s, &Rfc3339).map_err(|e| IndexError::Corrupt {
        what: what.to_owned(),
        detail: format!("bad time {s:?}: {e}"),
    })
}

/// Wall-clock time in ns since the epoch (scan and record times).
pub(crate) fn now_ns() -> i64 {
    let now = OffsetDateTime::now_utc();
    i64::try_from(now.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}
