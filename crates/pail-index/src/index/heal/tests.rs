use std::path::Path;

use time::macros::datetime;

use super::*;
use crate::error::IndexError;

const NOW: OffsetDateTime = datetime!(2026-11-30 08:15:00 UTC);

/// An index with one meta row and one activity entry, closed (its WAL checkpointed).
fn healthy(dir: &Path) -> PathBuf {
    let path = dir.join("index.db");
    let ix = Index::open(&path).unwrap();
    ix.meta_set("k", "v").unwrap();
    drop(ix);
    path
}

fn kept_name(dir: &Path) -> PathBuf {
    dir.join("index.db.corrupt-20261130T081500Z")
}

/// Opens a damaged index: it is set aside under its timestamped name (kept byte for byte), a
/// fresh index opens in its place, and the notice is in meta and the activity log.
fn assert_heals(dir: &Path, path: &Path) {
    let before = std::fs::read(path).unwrap();
    let (ix, healed) = Index::open_healing(path, NOW).unwrap();
    let healed = healed.expect("healed");
    assert_eq!(healed.kept_at, kept_name(dir));
    assert_eq!(healed.at, NOW);
    assert!(!healed.reason.is_empty());
    assert_eq!(
        std::fs::read(&healed.kept_at).unwrap(),
        before,
        "kept as it was"
    );
    assert_eq!(ix.meta_get("k").unwrap(), None, "a fresh index");
    assert_eq!(ix.heal_notice().unwrap(), Some(healed.clone()));
    let log = ix.recent_activity(None, 10).unwrap();
    assert_eq!(log.len(), 1);
    assert_eq!(log[0].kind, "index rebuilt");
    assert!(
        log[0]
            .detail
            .as_deref()
            .unwrap()
            .contains(&healed.kept_at.display().to_string()),
        "{log:?}"
    );
    drop(ix);
    // Healed for good: the next open is a plain one.
    let (ix, again) = Index::open_healing(path, NOW).unwrap();
    assert_eq!(again, None);
    assert!(ix.heal_notice().unwrap().is_some(), "the notice stays");
}

#[test]
fn garbage_bytes_are_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    std::fs::write(&path, b"this is not a database, just some text".repeat(200)).unwrap();
    assert_heals(dir.path(), &path);
}

#[test]
fn a_zeroed_header_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = healthy(dir.path());
    let mut bytes = std::fs::read(&path).unwrap();
    bytes[..100].fill(0);
    std::fs::write(&path, bytes).unwrap();
    assert_heals(dir.path(), &path);
}

#[test]
fn a_truncated_file_is_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = healthy(dir.path());
    let len = std::fs::metadata(&path).unwrap().len();
    assert!(len > 8192, "several pages: {len}");
    let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
    f.set_len(len / 2 + 100).unwrap();
    drop(f);
    assert_heals(dir.path(), &path);
}

#[test]
fn a_marked_index_is_set_aside_with_its_wal() {
    let dir = tempfile::tempdir().unwrap();
    let path = healthy(dir.path());
    std::fs::write(with_suffix(&path, "-wal"), b"old wal").unwrap();
    mark_damaged(&path, "database disk image is malformed").unwrap();
    let (_ix, healed) = Index::open_healing(&path, NOW).unwrap();
    let healed = healed.unwrap();
    assert_eq!(healed.reason, "database disk image is malformed");
    assert!(!damaged_marker(&path).exists());
    assert_eq!(
        std::fs::read(with_suffix(&healed.kept_at, "-wal")).unwrap(),
        b"old wal"
    );
}

#[test]
fn a_second_heal_in_the_same_second_keeps_both() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    std::fs::write(&path, b"garbage one").unwrap();
    drop(Index::open_healing(&path, NOW).unwrap());
    mark_damaged(&path, "bad row").unwrap();
    let (_ix, healed) = Index::open_healing(&path, NOW).unwrap();
    assert_eq!(
        healed.unwrap().kept_at,
        dir.path().join("index.db.corrupt-20261130T081500Z-1")
    );
    assert_eq!(
        std::fs::read(kept_name(dir.path())).unwrap(),
        b"garbage one"
    );
}

#[test]
fn a_sound_index_is_left_alone() {
    let dir = tempfile::tempdir().unwrap();
    let path = healthy(dir.path());
    let (ix, healed) = Index::open_healing(&path, NOW).unwrap();
    assert_eq!(healed, None);
    assert_eq!(ix.meta_get("k").unwrap().as_deref(), Some("v"));
    assert_eq!(ix.heal_notice().unwrap(), None);
}

/// A newer schema is a downgrade, not damage: nothing moves, and the error says to upgrade.
#[test]
fn a_newer_schema_is_not_set_aside() {
    let dir = tempfile::tempdir().unwrap();
    let path = healthy(dir.path());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute("UPDATE schema_version SET version = 99", [])
        .unwrap();
    drop(conn);
    let err = Index::open_healing(&path, NOW).unwrap_err();
    assert!(matches!(err, IndexError::NewerSchema { .. }), "{err}");
    assert!(!err.is_damage());
    assert!(err.to_string().contains("upgrade pail"), "{err}");
    assert!(!kept_name(dir.path()).exists());
}

#[test]
fn the_notice_lasts_until_the_second_full_sync() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("index.db");
    std::fs::write(&path, b"garbage").unwrap();
    let (ix, _) = Index::open_healing(&path, NOW).unwrap();
    ix.heal_notice_after_full_sync().unwrap();
    assert!(ix.heal_notice().unwrap().is_some(), "the rebuilding sync");
    ix.heal_notice_after_full_sync().unwrap();
    assert_eq!(ix.heal_notice().unwrap(), None);
    assert_eq!(
        ix.recent_activity(None, 10).unwrap().len(),
        1,
        "the log keeps it"
    );
    ix.heal_notice_after_full_sync().unwrap();
}

#[test]
fn errors_are_told_apart() {
    let sqlite = |code| {
        IndexError::Sqlite(rusqlite::Error::SqliteFailure(
            rusqlite::ffi::Error::new(code),
            None,
        ))
    };
    use rusqlite::ffi;
    let cases = [
        (sqlite(ffi::SQLITE_NOTADB), true, false),
        (sqlite(ffi::SQLITE_CORRUPT), true, false),
        (sqlite(ffi::SQLITE_FULL), false, true),
        (sqlite(ffi::SQLITE_IOERR), false, false),
        (sqlite(ffi::SQLITE_CANTOPEN), false, false),
        (
            IndexError::Io {
                path: "/s".into(),
                source: std::io::Error::from_raw_os_error(libc::ENOSPC),
            },
            false,
            true,
        ),
        (
            IndexError::Corrupt {
                what: "a".into(),
                detail: "hash is 3 bytes".into(),
            },
            true,
            false,
        ),
    ];
    for (e, damage, full) in cases {
        assert_eq!(e.is_damage(), damage, "{e}");
        assert_eq!(e.is_disk_full(), full, "{e}");
    }
    assert!(sqlite(ffi::SQLITE_IOERR_SHMSIZE).is_io_failure());
    assert!(!sqlite(ffi::SQLITE_CORRUPT).is_io_failure());
}
