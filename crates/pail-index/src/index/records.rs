//! Bookkeeping tables: multipart uploads in flight, conflict copies, pass history, errors and
//! skipped entries (what `pail status` shows).

use pail_core::{ContentHash, RelPath};
use rusqlite::{Row, params};
use time::OffsetDateTime;

use super::{
    Index, Result, hash_from_sql, path_from_sql, time_from_sql, time_to_sql, u64_from_sql,
    u64_to_sql,
};
use crate::error::IndexError;

/// Errors kept for `status`: the most recent ones are what a user needs.
pub const MAX_ERRORS: u64 = 100;
/// Passes kept in `sync_log`.
pub const MAX_PASSES: u64 = 100;

/// A multipart upload in flight, kept so a restart resumes from the parts already sent
/// (tenet 8). `hash`, `size`, `mtime_ns` and `inode` describe the local file when the upload
/// began: if the file no longer matches, the upload is aborted and restarted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MultipartUpload {
    pub path: RelPath,
    pub key: String,
    pub upload_id: String,
    pub hash: ContentHash,
    pub size: u64,
    pub mtime_ns: i64,
    pub inode: u64,
    pub part_size: u64,
    pub created_at: OffsetDateTime,
    /// (part number, ETag) of the parts uploaded so far, by part number. Filled by reads;
    /// ignored by [`Index::put_multipart`].
    pub parts: Vec<(i32, String)>,
}

/// A conflict copy pail created (tenet 4).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConflictRecord {
    /// The conflict copy.
    pub path: RelPath,
    /// The path whose two versions conflicted.
    pub original: RelPath,
    /// The device whose local content went to the copy.
    pub device: String,
    pub created_at: OffsetDateTime,
}

/// What the daemon is doing, as `status` reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SyncState {
    Idle,
    Syncing,
    SafetyStop,
    Error,
}

impl SyncState {
    pub fn as_str(self) -> &'static str {
        match self {
            SyncState::Idle => "idle",
            SyncState::Syncing => "syncing",
            SyncState::SafetyStop => "safety_stop",
            SyncState::Error => "error",
        }
    }

    /// The state of its [`SyncState::as_str`] name.
    pub fn parse(s: &str) -> Option<SyncState> {
        Some(match s {
            "idle" => SyncState::Idle,
            "syncing" => SyncState::Syncing,
            "safety_stop" => SyncState::SafetyStop,
            "error" => SyncState::Error,
            _ => return None,
        })
    }
}

/// One sync pass. `state` is where the pass ended (`Syncing` while it runs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PassSummary {
    pub state: SyncState,
    pub started_at: OffsetDateTime,
    pub finished_at: Option<OffsetDateTime>,
    /// Paths considered.
    pub files: u64,
    pub uploads: u64,
    pub downloads: u64,
    pub local_deletes: u64,
    pub remote_deletes: u64,
    pub conflicts: u64,
    pub errors: u64,
    /// Why the pass stopped (safety stop reason, fatal error).
    pub message: Option<String>,
}

/// A recorded error, with the path it concerns when there is one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ErrorRecord {
    pub path: Option<String>,
    pub message: String,
    pub at: OffsetDateTime,
}

/// Meta keys of the pair's state (see [`Index::set_state`]).
const STATE_KEY: &str = "state";
const STATE_REASON_KEY: &str = "state_reason";

const PASS_COLS: &str = "state, started_at, finished_at, files, uploads, downloads,
                         local_deletes, remote_deletes, conflicts, errors, message";

fn pass_from_row(r: &Row<'_>) -> Result<PassSummary> {
    let id: i64 = r.get(0)?;
    let what = format!("sync_log #{id}");
    let state: String = r.get(1)?;
    let finished: Option<String> = r.get(3)?;
    Ok(PassSummary {
        state: SyncState::parse(&state).ok_or_else(|| IndexError::Corrupt {
            what: what.clone(),
            detail: format!("unknown state {state:?}"),
        })?,
        started_at: time_from_sql(&what, &r.get::<_, String>(2)?)?,
        finished_at: finished.map(|s| time_from_sql(&what, &s)).transpose()?,
        files: r.get(4)?,
        uploads: r.get(5)?,
        downloads: r.get(6)?,
        local_deletes: r.get(7)?,
        remote_deletes: r.get(8)?,
        conflicts: r.get(9)?,
        errors: r.get(10)?,
        message: r.get(11)?,
    })
}

impl Index {
    // ==== multipart ====

    /// Records a started upload, replacing (with its parts) any earlier one for the path. The
    /// caller aborts the earlier upload remotely first.
    pub fn put_multipart(&self, m: &MultipartUpload) -> Result<()> {
        self.transaction(|ix| {
            ix.conn
                .execute("DELETE FROM multipart WHERE path = ?1", [m.path.as_str()])?;
            ix.conn.execute(
                "INSERT INTO multipart(path, key, upload_id, hash, size, mtime_ns, inode,
                                       part_size, created_at)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)",
                params![
                    m.path.as_str(),
                    m.key,
                    m.upload_id,
                    &m.hash.0[..],
                    m.size,
                    m.mtime_ns,
                    u64_to_sql(m.inode),
                    m.part_size,
                    time_to_sql(m.created_at)
                ],
            )?;
            Ok(())
        })
    }

    /// Records a part as uploaded (idempotent: a re-sent part replaces the row).
    pub fn add_multipart_part(&self, upload_id: &str, n: i32, etag: &str, size: u64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO multipart_parts(upload_id, part_number, etag, size)
                 VALUES (?1, ?2, ?3, ?4)",
            )?
            .execute(params![upload_id, n, etag, size])?;
        Ok(())
    }

    pub fn get_multipart(&self, path: &RelPath) -> Result<Option<MultipartUpload>> {
        Ok(self
            .multipart_where("WHERE path = ?1", [path.as_str()])?
            .pop())
    }

    pub fn all_multipart(&self) -> Result<Vec<MultipartUpload>> {
        self.multipart_where("", [])
    }

    /// Forgets the upload and its parts (after completion or abort).
    pub fn remove_multipart(&self, path: &RelPath) -> Result<()> {
        self.conn
            .execute("DELETE FROM multipart WHERE path = ?1", [path.as_str()])?;
        Ok(())
    }

    fn multipart_where<P: rusqlite::Params>(
        &self,
        filter: &str,
        p: P,
    ) -> Result<Vec<MultipartUpload>> {
        let sql = format!(
            "SELECT path, key, upload_id, hash, size, mtime_ns, inode, part_size, created_at
             FROM multipart {filter} ORDER BY path"
        );
        let mut st = self.conn.prepare(&sql)?;
        let mut rows = st.query(p)?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let path = path_from_sql(r.get(0)?)?;
            let what = path.as_str().to_owned();
            out.push(MultipartUpload {
                key: r.get(1)?,
                upload_id: r.get(2)?,
                hash: hash_from_sql(&what, r.get(3)?)?,
                size: r.get(4)?,
                mtime_ns: r.get(5)?,
                inode: u64_from_sql(r.get(6)?),
                part_size: r.get(7)?,
                created_at: time_from_sql(&what, &r.get::<_, String>(8)?)?,
                parts: Vec::new(),
                path,
            });
        }
        drop(rows);
        let mut parts = self.conn.prepare_cached(
            "SELECT part_number, etag FROM multipart_parts WHERE upload_id = ?1
             ORDER BY part_number",
        )?;
        for m in &mut out {
            m.parts = parts
                .query_map([&m.upload_id], |r| Ok((r.get(0)?, r.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
        }
        Ok(out)
    }

    // ==== conflicts ====

    pub fn add_conflict(&self, c: &ConflictRecord) -> Result<()> {
        self.conn.execute(
            "INSERT OR REPLACE INTO conflicts(path, original, device, created_at)
             VALUES (?1, ?2, ?3, ?4)",
            params![
                c.path.as_str(),
                c.original.as_str(),
                c.device,
                time_to_sql(c.created_at)
            ],
        )?;
        Ok(())
    }

    /// Conflict copies, oldest first.
    pub fn list_conflicts(&self) -> Result<Vec<ConflictRecord>> {
        let mut st = self.conn.prepare(
            "SELECT path, original, device, created_at FROM conflicts ORDER BY created_at, path",
        )?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let path = path_from_sql(r.get(0)?)?;
            let created_at = time_from_sql(path.as_str(), &r.get::<_, String>(3)?)?;
            out.push(ConflictRecord {
                original: path_from_sql(r.get(1)?)?,
                device: r.get(2)?,
                created_at,
                path,
            });
        }
        Ok(out)
    }

    pub fn conflict_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM conflicts", [], |r| r.get(0))?)
    }

    /// Forgets a conflict copy (the user resolved it, or it was deleted).
    pub fn remove_conflict(&self, path: &RelPath) -> Result<()> {
        self.conn
            .execute("DELETE FROM conflicts WHERE path = ?1", [path.as_str()])?;
        Ok(())
    }

    // ==== pair state ====

    /// Records the pair's state and why it is in it (`""`: no reason to give).
    pub fn set_state(&self, state: SyncState, reason: &str) -> Result<()> {
        self.transaction(|ix| {
            ix.meta_set(STATE_KEY, state.as_str())?;
            ix.meta_set(STATE_REASON_KEY, reason)
        })
    }

    /// The pair's recorded state and its reason; `None` before the first sync. A state this
    /// version does not know (written by a newer pail) reads as an error with its name.
    pub fn state(&self) -> Result<Option<(SyncState, Option<String>)>> {
        let Some(name) = self.meta_get(STATE_KEY)? else {
            return Ok(None);
        };
        let reason = self.meta_get(STATE_REASON_KEY)?.filter(|r| !r.is_empty());
        Ok(Some(match SyncState::parse(&name) {
            Some(s) => (s, reason),
            None => (SyncState::Error, Some(format!("unknown state {name:?}"))),
        }))
    }

    // ==== passes ====

    /// Records a pass and returns its id (for [`Index::update_pass`] when it ends). Keeps the
    /// last [`MAX_PASSES`].
    pub fn record_pass(&self, p: &PassSummary) -> Result<i64> {
        self.transaction(|ix| {
            ix.conn.execute(
                &format!(
                    "INSERT INTO sync_log({PASS_COLS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)"
                ),
                pass_params(p),
            )?;
            let id = ix.conn.last_insert_rowid();
            ix.conn.execute(
                "DELETE FROM sync_log WHERE id <= (SELECT MAX(id) FROM sync_log) - ?1",
                [MAX_PASSES],
            )?;
            Ok(id)
        })
    }

    /// Replaces the record of pass `id` (e.g. `Syncing` → `Idle` with counts).
    pub fn update_pass(&self, id: i64, p: &PassSummary) -> Result<()> {
        let [
            state,
            started,
            finished,
            files,
            up,
            down,
            ld,
            rd,
            conf,
            errs,
            msg,
        ] = pass_params(p);
        self.conn.execute(
            "UPDATE sync_log SET state = ?1, started_at = ?2, finished_at = ?3, files = ?4,
               uploads = ?5, downloads = ?6, local_deletes = ?7, remote_deletes = ?8,
               conflicts = ?9, errors = ?10, message = ?11 WHERE id = ?12",
            params![
                state, started, finished, files, up, down, ld, rd, conf, errs, msg, id
            ],
        )?;
        Ok(())
    }

    /// The most recent pass.
    pub fn last_pass(&self) -> Result<Option<PassSummary>> {
        self.pass_where("")
    }

    /// The most recent pass that ended `Idle` (the last successful full reconcile).
    pub fn last_successful_pass(&self) -> Result<Option<PassSummary>> {
        self.pass_where("WHERE state = 'idle' AND finished_at IS NOT NULL")
    }

    fn pass_where(&self, filter: &str) -> Result<Option<PassSummary>> {
        let sql = format!("SELECT id, {PASS_COLS} FROM sync_log {filter} ORDER BY id DESC LIMIT 1");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query([])?;
        rows.next()?.map(pass_from_row).transpose()
    }

    // ==== errors ====

    /// Records an error now; keeps the last [`MAX_ERRORS`].
    pub fn add_error(&self, path: Option<&str>, message: &str) -> Result<()> {
        let at = time_to_sql(OffsetDateTime::now_utc());
        self.transaction(|ix| {
            ix.conn.execute(
                "INSERT INTO errors(path, message, at) VALUES (?1, ?2, ?3)",
                params![path, message, at],
            )?;
            ix.conn.execute(
                "DELETE FROM errors WHERE id <= (SELECT MAX(id) FROM errors) - ?1",
                [MAX_ERRORS],
            )?;
            Ok(())
        })
    }

    /// The latest errors, newest first.
    pub fn recent_errors(&self, limit: u64) -> Result<Vec<ErrorRecord>> {
        let mut st = self
            .conn
            .prepare("SELECT path, message, at FROM errors ORDER BY id DESC LIMIT ?1")?;
        let mut rows = st.query([limit])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let path: Option<String> = r.get(0)?;
            let at = time_from_sql(path.as_deref().unwrap_or("errors"), &r.get::<_, String>(2)?)?;
            out.push(ErrorRecord {
                path,
                message: r.get(1)?,
                at,
            });
        }
        Ok(out)
    }

    pub fn clear_errors(&self) -> Result<()> {
        self.conn.execute("DELETE FROM errors", [])?;
        Ok(())
    }

    // ==== skipped ====

    /// Replaces the list of skipped entries (display path, reason).
    pub fn set_skipped(&self, skipped: &[(String, String)]) -> Result<()> {
        self.transaction(|ix| {
            ix.conn.execute("DELETE FROM skipped", [])?;
            let mut st = ix
                .conn
                .prepare_cached("INSERT INTO skipped(path, reason) VALUES (?1, ?2)")?;
            for (p, reason) in skipped {
                st.execute([p, reason])?;
            }
            Ok(())
        })
    }

    /// Skipped entries in path order.
    pub fn list_skipped(&self) -> Result<Vec<(String, String)>> {
        let mut st = self
            .conn
            .prepare("SELECT path, reason FROM skipped ORDER BY path, rowid")?;
        let rows = st.query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }
}

fn pass_params(p: &PassSummary) -> [rusqlite::types::Value; 11] {
    use rusqlite::types::Value;
    let int = |v: u64| Value::Integer(i64::try_from(v).unwrap_or(i64::MAX));
    [
        Value::Text(p.state.as_str().to_owned()),
        Value::Text(time_to_sql(p.started_at)),
        p.finished_at
            .map_or(Value::Null, |t| Value::Text(time_to_sql(t))),
        int(p.files),
        int(p.uploads),
        int(p.downloads),
        int(p.local_deletes),
        int(p.remote_deletes),
        int(p.conflicts),
        int(p.errors),
        p.message.clone().map_or(Value::Null, Value::Text),
    ]
}
