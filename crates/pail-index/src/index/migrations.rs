//! Schema migrations. Each version is one function run in its own transaction; the applied
//! version is kept in `schema_version`. To change the schema, append `v2` to [`MIGRATIONS`]:
//! never edit a released step, since existing databases have already run it.

use std::path::Path;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use super::Result;
use crate::error::IndexError;

type Migration = fn(&Transaction<'_>) -> rusqlite::Result<()>;

/// Index `i` upgrades from version `i` to `i + 1`.
const MIGRATIONS: &[Migration] = &[v1, v2, v3];

pub(super) fn current_version(conn: &Connection) -> rusqlite::Result<i64> {
    conn.query_row(
        "SELECT COALESCE(MAX(version), 0) FROM schema_version",
        [],
        |r| r.get(0),
    )
}

pub(super) fn migrate(conn: &Connection, db: &Path) -> Result<()> {
    conn.execute_batch("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER NOT NULL)")?;
    let supported = MIGRATIONS.len() as i64;
    loop {
        // IMMEDIATE: two processes opening a fresh index must not both run v1.
        let tx = Transaction::new_unchecked(conn, TransactionBehavior::Immediate)?;
        let found = current_version(&tx)?;
        if found > supported {
            return Err(IndexError::NewerSchema {
                path: db.to_owned(),
                found,
                supported,
            });
        }
        if found == supported {
            tx.commit()?;
            return Ok(());
        }
        MIGRATIONS[found as usize](&tx)?;
        tx.execute("DELETE FROM schema_version", [])?;
        tx.execute(
            "INSERT INTO schema_version(version) VALUES (?1)",
            [found + 1],
        )?;
        tx.commit()?;
        tracing::info!(db = %db.display(), version = found + 1, "index schema migrated");
    }
}

/// v3: the activity log (`pail log`): what pail did to which file, when.
fn v3(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
        CREATE TABLE activity (
            id     INTEGER PRIMARY KEY AUTOINCREMENT,
            at_ns  INTEGER NOT NULL,
            kind   TEXT NOT NULL,
            path   TEXT NOT NULL,
            size   INTEGER,
            device TEXT,
            detail TEXT
        ) STRICT;
        ",
    )
}

/// v2: uploads started and not yet recorded, so that one a crash cut off between the PUT
/// and its record is recognised as this device's own write (see
/// `Index::adopt_own_uploads`).
fn v2(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
        CREATE TABLE pending_uploads (
            path TEXT PRIMARY KEY,
            hash BLOB NOT NULL
        ) STRICT, WITHOUT ROWID;
        ",
    )
}

/// v1: every table of the first release.
fn v1(tx: &Transaction<'_>) -> rusqlite::Result<()> {
    tx.execute_batch(
        "
        CREATE TABLE meta (
            key   TEXT PRIMARY KEY,
            value TEXT NOT NULL
        ) STRICT, WITHOUT ROWID;

        -- What both sides agreed on after the last sync of a path. l_checked_ns: when the
        -- local stat was known to match the hash (NULL: not yet; see scan.rs, racy files).
        CREATE TABLE base (
            path         TEXT PRIMARY KEY,
            hash         BLOB NOT NULL,
            l_size       INTEGER NOT NULL,
            l_mtime_ns   INTEGER NOT NULL,
            l_ctime_ns   INTEGER NOT NULL,
            l_inode      INTEGER NOT NULL,
            l_checked_ns INTEGER,
            r_etag       TEXT NOT NULL,
            r_version_id TEXT,
            r_size       INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;
        CREATE INDEX base_hash ON base(hash);

        -- The last local scan. Rows are replaced pass by pass (generation = the scan that wrote them)
        -- so that the previous pass's hashes serve as a stat cache for files not yet synced.
        CREATE TABLE local_scan (
            path       TEXT PRIMARY KEY,
            size       INTEGER NOT NULL,
            mtime_ns   INTEGER NOT NULL,
            ctime_ns   INTEGER NOT NULL,
            inode      INTEGER NOT NULL,
            hash       BLOB NOT NULL,
            checked_ns INTEGER NOT NULL,
            generation INTEGER NOT NULL
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE remote_scan (
            path             TEXT PRIMARY KEY,
            etag             TEXT NOT NULL,
            version_id       TEXT,
            size             INTEGER NOT NULL,
            last_modified_ns INTEGER NOT NULL,
            hash             BLOB
        ) STRICT, WITHOUT ROWID;

        -- pail-blake3 values learned by HEAD, keyed by path and ETag (an ETag names content).
        CREATE TABLE remote_hash_cache (
            key  TEXT NOT NULL,
            etag TEXT NOT NULL,
            hash BLOB NOT NULL,
            PRIMARY KEY (key, etag)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE multipart (
            path       TEXT PRIMARY KEY,
            key        TEXT NOT NULL,
            upload_id  TEXT NOT NULL UNIQUE,
            hash       BLOB NOT NULL,
            size       INTEGER NOT NULL,
            mtime_ns   INTEGER NOT NULL,
            inode      INTEGER NOT NULL,
            part_size  INTEGER NOT NULL,
            created_at TEXT NOT NULL
        ) STRICT;
        CREATE TABLE multipart_parts (
            upload_id   TEXT NOT NULL REFERENCES multipart(upload_id) ON DELETE CASCADE,
            part_number INTEGER NOT NULL,
            etag        TEXT NOT NULL,
            size        INTEGER NOT NULL,
            PRIMARY KEY (upload_id, part_number)
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE conflicts (
            path       TEXT PRIMARY KEY,
            original   TEXT NOT NULL,
            device     TEXT NOT NULL,
            created_at TEXT NOT NULL
        ) STRICT, WITHOUT ROWID;

        CREATE TABLE sync_log (
            id             INTEGER PRIMARY KEY AUTOINCREMENT,
            state          TEXT NOT NULL,
            started_at     TEXT NOT NULL,
            finished_at    TEXT,
            files          INTEGER NOT NULL,
            uploads        INTEGER NOT NULL,
            downloads      INTEGER NOT NULL,
            local_deletes  INTEGER NOT NULL,
            remote_deletes INTEGER NOT NULL,
            conflicts      INTEGER NOT NULL,
            errors         INTEGER NOT NULL,
            message        TEXT
        ) STRICT;

        CREATE TABLE errors (
            id      INTEGER PRIMARY KEY AUTOINCREMENT,
            path    TEXT,
            message TEXT NOT NULL,
            at      TEXT NOT NULL
        ) STRICT;

        -- Entries the last scan could not sync (symlinks, bad names...). Lossy display names,
        -- so no key: two non-UTF-8 names may render the same.
        CREATE TABLE skipped (
            path   TEXT NOT NULL,
            reason TEXT NOT NULL
        ) STRICT;
        ",
    )
}
