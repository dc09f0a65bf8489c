//! A damaged index heals (tenet 14): a file that is not a database, is malformed, fails
//! SQLite's `quick_check`, or that a pass found damaged (the marker file) is moved aside,
//! kept with a timestamp next to where it was, and a fresh index takes its place. The fresh
//! index has no base, which is exactly a lost index: the next pass compares content by blake3
//! with the bucket's recorded hashes, so equal files are recorded without a transfer and
//! different ones become conflict copies; nothing is lost.
//!
//! A newer schema is not damage: it is a downgrade, and the error says to upgrade pail.
//!
//! The notice ("rebuilt on DATE, the old one is kept at PATH") lives in the fresh index's
//! meta table and in its activity log, so `status` shows it until the first full sync after
//! the rebuilding one (see [`Index::heal_notice_after_full_sync`]).

use std::path::{Path, PathBuf};

use rusqlite::ErrorCode;
use time::OffsetDateTime;
use time::macros::format_description;

use super::{Index, Result, time_from_sql, time_to_sql};
use crate::error::IndexError;
use crate::index::Activity;

const HEALED_AT: &str = "healed_at";
const HEALED_KEPT: &str = "healed_kept_at";
const HEALED_REASON: &str = "healed_reason";
/// Set once a full sync converged on the fresh index: the next one clears the notice.
const HEALED_REBUILT: &str = "healed_rebuilt";

/// An index that was set aside and rebuilt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Healed {
    /// When it was set aside.
    pub at: OffsetDateTime,
    /// Where the damaged file is kept (its `-wal` and `-shm` beside it, if it had any).
    pub kept_at: PathBuf,
    /// What was wrong with it (SQLite's words).
    pub reason: String,
}

impl IndexError {
    /// The index file itself is damaged (not a database, malformed, a row pail cannot have
    /// written): setting it aside and rebuilding is the fix. Not: a full disk, permissions,
    /// I/O errors, a newer schema.
    pub fn is_damage(&self) -> bool {
        match self {
            IndexError::Open { source, .. } | IndexError::Sqlite(source) => matches!(
                source.sqlite_error_code(),
                Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
            ),
            IndexError::Corrupt { .. } => true,
            _ => false,
        }
    }

    /// SQLite's I/O failed (`SQLITE_IOERR`: on a full disk, mapping the shared-memory file
    /// fails this way rather than with `SQLITE_FULL`).
    pub fn is_io_failure(&self) -> bool {
        match self {
            IndexError::Open { source, .. } | IndexError::Sqlite(source) => {
                source.sqlite_error_code() == Some(ErrorCode::SystemIoFailure)
            }
            IndexError::Io { .. } => true,
            _ => false,
        }
    }

    /// The disk holding the index is full (SQLite's `SQLITE_FULL`, or `ENOSPC`/`EDQUOT` from
    /// creating its files).
    pub fn is_disk_full(&self) -> bool {
        match self {
            IndexError::Open { source, .. } | IndexError::Sqlite(source) => {
                source.sqlite_error_code() == Some(ErrorCode::DiskFull)
            }
            IndexError::Io { source, .. } => {
                matches!(source.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
            }
            _ => false,
        }
    }
}

/// The file that says a pass found the index at `db` damaged: the next open heals it even if
/// `quick_check` passes (a bad row is not a bad page).
pub fn damaged_marker(db: &Path) -> PathBuf {
    with_suffix(db, ".damaged")
}

/// Notes that the index at `db` is damaged (`reason`), for the next open to heal. Healing in
/// the middle of a pass would swap the base under running actions, so passes only mark.
pub fn mark_damaged(db: &Path, reason: &str) -> std::io::Result<()> {
    std::fs::write(damaged_marker(db), reason)
}

fn with_suffix(p: &Path, suffix: &str) -> PathBuf {
    let mut s = p.as_os_str().to_owned();
    s.push(suffix);
    PathBuf::from(s)
}

impl Index {
    /// Opens the index at `path`, checked (`PRAGMA quick_check`); a damaged one is set aside
    /// and a fresh one opened in its place (`Some(Healed)`). The caller must hold the pair's
    /// lock: no other process may have the file open while it moves.
    pub fn open_healing(path: &Path, now: OffsetDateTime) -> Result<(Index, Option<Healed>)> {
        let marker = damaged_marker(path);
        let damage = match std::fs::read_to_string(&marker) {
            Ok(reason) => reason,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                match Index::open(path).and_then(|ix| ix.quick_check().map(|bad| (ix, bad))) {
                    Ok((ix, None)) => return Ok((ix, None)),
                    Ok((_, Some(bad))) => bad,
                    Err(e) if e.is_damage() => e.to_string(),
                    Err(e) => return Err(e),
                }
            }
            Err(source) => {
                return Err(IndexError::Io {
                    path: marker,
                    source,
                });
            }
        };
        let kept_at = set_aside(path, now)?;
        remove_if_there(&marker)?;
        tracing::warn!(db = %path.display(), kept = %kept_at.display(), reason = %damage, "the index was damaged: the old one is kept, and a new one is built by comparing content with the bucket");
        let ix = Index::open(path)?;
        let healed = Healed {
            at: now,
            kept_at,
            reason: damage,
        };
        ix.transaction(|ix| {
            ix.meta_set(HEALED_AT, &time_to_sql(healed.at))?;
            ix.meta_set(HEALED_KEPT, &healed.kept_at.to_string_lossy())?;
            ix.meta_set(HEALED_REASON, &healed.reason)?;
            ix.add_activity(&[Activity {
                at: healed.at,
                kind: "index rebuilt".into(),
                path: String::new(),
                size: None,
                device: None,
                detail: Some(format!(
                    "the index was damaged ({}); the old one is kept at {}; rebuilt by comparing content with the bucket",
                    healed.reason,
                    healed.kept_at.display()
                )),
            }])
        })?;
        Ok((ix, Some(healed)))
    }

    /// SQLite's `quick_check`: `None` when the database is sound, else its first complaint.
    pub fn quick_check(&self) -> Result<Option<String>> {
        let first: String = self
            .conn
            .query_row("PRAGMA quick_check(1)", [], |r| r.get(0))?;
        Ok((first != "ok").then_some(first))
    }

    /// The rebuild this index came from, while its notice is shown.
    pub fn heal_notice(&self) -> Result<Option<Healed>> {
        let (Some(at), Some(kept)) = (self.meta_get(HEALED_AT)?, self.meta_get(HEALED_KEPT)?)
        else {
            return Ok(None);
        };
        Ok(Some(Healed {
            at: time_from_sql(HEALED_AT, &at)?,
            kept_at: PathBuf::from(kept),
            reason: self.meta_get(HEALED_REASON)?.unwrap_or_default(),
        }))
    }

    /// A full sync converged: the first one after a rebuild is the rebuild itself (the notice
    /// stays, so the user sees it); the next one ends the notice. The activity log keeps it.
    pub fn heal_notice_after_full_sync(&self) -> Result<()> {
        if self.meta_get(HEALED_AT)?.is_none() {
            return Ok(());
        }
        self.transaction(|ix| {
            if ix.meta_get(HEALED_REBUILT)?.is_none() {
                return ix.meta_set(HEALED_REBUILT, "1");
            }
            for k in [HEALED_AT, HEALED_KEPT, HEALED_REASON, HEALED_REBUILT] {
                ix.meta_delete(k)?;
            }
            Ok(())
        })
    }
}

/// Moves the database at `path` (and its `-wal`, `-shm`) to `path.corrupt-<UTC time>`, with
/// a counter if that name is taken. Returns the new name of the database file.
fn set_aside(path: &Path, now: OffsetDateTime) -> Result<PathBuf> {
    let stamp = now
        .to_offset(time::UtcOffset::UTC)
        .format(format_description!(
            "[year][month][day]T[hour][minute][second]Z"
        ))
        .unwrap_or_else(|_| now.unix_timestamp().to_string());
    let base = with_suffix(path, &format!(".corrupt-{stamp}"));
    let mut kept = base.clone();
    let mut n = 1;
    while kept.symlink_metadata().is_ok() {
        kept = with_suffix(&base, &format!("-{n}"));
        n += 1;
    }
    let io = |p: &Path| {
        let p = p.to_owned();
        move |source| IndexError::Io { path: p, source }
    };
    // The -wal and -shm first: a database moved without its WAL would lose committed pages,
    // and the fresh index must not pick up the old WAL.
    for side in ["-wal", "-shm"] {
        let from = with_suffix(path, side);
        match std::fs::rename(&from, with_suffix(&kept, side)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(io(&from)(e)),
        }
    }
    std::fs::rename(path, &kept).map_err(io(path))?;
    Ok(kept)
}

fn remove_if_there(p: &Path) -> Result<()> {
    match std::fs::remove_file(p) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(IndexError::Io {
            path: p.to_owned(),
            source: e,
        }),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests;
