//! The SQLite index on real files and in memory.

use std::os::unix::fs::PermissionsExt;

use pail_core::state::PathState;
use pail_core::{Base, ContentHash, LocalStat, RelPath, RemoteObject, RemoteRef};
use pail_index::index::{MAX_ERRORS, MAX_PASSES};
use pail_index::{
    ConflictRecord, Index, IndexError, MultipartUpload, PassSummary, SyncState, hash_bytes,
};
use time::macros::datetime;

fn rp(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

fn h(b: u8) -> ContentHash {
    ContentHash([b; 32])
}

fn stat(n: u64) -> LocalStat {
    LocalStat {
        size: n,
        mtime_ns: n as i64 * 10,
        ctime_ns: n as i64 * 20,
        inode: n,
    }
}

fn base(b: u8, etag: &str) -> Base {
    Base {
        hash: h(b),
        local: stat(b as u64),
        remote: RemoteRef {
            etag: etag.into(),
            version_id: Some("v1".into()),
            size: b as u64,
        },
    }
}

fn remote(etag: &str, hash: Option<ContentHash>) -> RemoteObject {
    RemoteObject {
        object: RemoteRef {
            etag: etag.into(),
            version_id: None,
            size: 7,
        },
        hash,
        last_modified_ns: 1_700_000_000_000_000_000,
    }
}

fn states(ix: &Index) -> Vec<PathState> {
    let mut out = Vec::new();
    ix.for_each_state(
        |_| false,
        |s| {
            out.push(s);
            Ok::<_, IndexError>(())
        },
    )
    .unwrap();
    out
}

#[test]
fn open_creates_private_files_uses_wal_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("state/sub/index.db");
    {
        let ix = Index::open(&db).unwrap();
        assert_eq!(ix.journal_mode().unwrap(), "wal");
        assert_eq!(ix.schema_version().unwrap(), 3);
        ix.meta_set("device", "laptop").unwrap();
        ix.set_base(&rp("a"), &base(1, "\"e1\"")).unwrap();
    }
    let mode = |p: &std::path::Path| std::fs::metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&db), 0o600);
    assert_eq!(mode(db.parent().unwrap()), 0o700);
    assert_eq!(mode(&dir.path().join("state")), 0o700);
    // Second open: migrations do not run again and data survives.
    let ix = Index::open(&db).unwrap();
    assert_eq!(ix.schema_version().unwrap(), 3);
    assert_eq!(ix.meta_get("device").unwrap().as_deref(), Some("laptop"));
    assert_eq!(ix.get_base(&rp("a")).unwrap(), Some(base(1, "\"e1\"")));
}

#[test]
fn a_newer_schema_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("index.db");
    drop(Index::open(&db).unwrap());
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute("UPDATE schema_version SET version = 99", [])
        .unwrap();
    drop(conn);
    let err = Index::open(&db).unwrap_err();
    assert!(
        matches!(
            err,
            IndexError::NewerSchema {
                found: 99,
                supported: 3,
                ..
            }
        ),
        "{err}"
    );
}

#[test]
fn meta_round_trip() {
    let ix = Index::open_in_memory().unwrap();
    assert_eq!(ix.meta_get("k").unwrap(), None);
    ix.meta_set("k", "1").unwrap();
    ix.meta_set("k", "2").unwrap();
    assert_eq!(ix.meta_get("k").unwrap().as_deref(), Some("2"));
    ix.meta_delete("k").unwrap();
    assert_eq!(ix.meta_get("k").unwrap(), None);
}

#[test]
fn base_crud_and_lookup_by_hash() {
    let ix = Index::open_in_memory().unwrap();
    let big = Base {
        hash: hash_bytes(b"x"),
        local: LocalStat {
            size: 1 << 40,
            mtime_ns: -5,
            ctime_ns: i64::MAX,
            inode: u64::MAX,
        },
        remote: RemoteRef {
            etag: "\"abc-2\"".into(),
            version_id: None,
            size: 1 << 40,
        },
    };
    ix.set_base(&rp("d/big"), &big).unwrap();
    assert_eq!(ix.get_base(&rp("d/big")).unwrap(), Some(big.clone()));
    ix.set_base(&rp("b"), &base(3, "e")).unwrap();
    ix.set_base(&rp("a"), &base(3, "e")).unwrap();
    assert_eq!(ix.base_count().unwrap(), 3);
    assert_eq!(ix.find_base_by_hash(&h(3)).unwrap().unwrap().0, rp("a"));
    assert_eq!(ix.find_bases_by_hash(&h(3)).unwrap().len(), 2);
    assert_eq!(ix.find_base_by_hash(&h(9)).unwrap(), None);
    // Overwrite then remove.
    ix.set_base(&rp("a"), &base(4, "f")).unwrap();
    assert_eq!(ix.get_base(&rp("a")).unwrap(), Some(base(4, "f")));
    ix.remove_base(&rp("a")).unwrap();
    assert_eq!(ix.get_base(&rp("a")).unwrap(), None);
    assert_eq!(ix.base_count().unwrap(), 2);
    assert_eq!(
        ix.bases_now_ignored(|p| p.as_str().starts_with("d/"))
            .unwrap(),
        vec![rp("d/big")]
    );
}

/// Writes a local_scan row the way the scanner does, through a real scan of a temp folder.
fn scan_files(ix: &Index, files: &[&str]) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for f in files {
        let p = dir.path().join(f);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(&p, f.as_bytes()).unwrap();
    }
    let opts = pail_index::ScanOptions {
        racy_window: std::time::Duration::ZERO,
        ..Default::default()
    };
    pail_index::scan_local(dir.path(), ix, &pail_index::IgnoreRules::defaults(), &opts).unwrap();
    dir
}

#[test]
fn for_each_state_joins_all_seven_combinations_in_byte_order() {
    let ix = Index::open_in_memory().unwrap();
    // Name encodes presence: b = base, l = local, r = remote.
    let names = ["b", "l", "r", "bl", "br", "lr", "blr"];
    let locals: Vec<&str> = names.iter().copied().filter(|n| n.contains('l')).collect();
    let _dir = scan_files(&ix, &locals);
    let mut remotes = Vec::new();
    for n in names {
        if n.contains('b') {
            ix.set_base(&rp(n), &base(1, "\"e\"")).unwrap();
        }
        if n.contains('r') {
            remotes.push((rp(n), remote("\"e\"", None)));
        }
    }
    ix.insert_remote_scan(&remotes).unwrap();
    let got = states(&ix);
    let mut want: Vec<&str> = names.to_vec();
    want.sort();
    assert_eq!(
        got.iter().map(|s| s.path.as_str()).collect::<Vec<_>>(),
        want
    );
    for s in &got {
        let n = s.path.as_str();
        assert_eq!(s.base.is_some(), n.contains('b'), "{n} base");
        assert_eq!(s.local.is_some(), n.contains('l'), "{n} local");
        assert_eq!(s.remote.is_some(), n.contains('r'), "{n} remote");
        if let Some(l) = &s.local {
            assert_eq!(l.hash, hash_bytes(n.as_bytes()));
        }
    }
    // Remote hash from the base when the ETag is the recorded one.
    let br = got.iter().find(|s| s.path.as_str() == "br").unwrap();
    assert_eq!(br.remote.as_ref().unwrap().hash, Some(h(1)));
    let r = got.iter().find(|s| s.path.as_str() == "r").unwrap();
    assert_eq!(r.remote.as_ref().unwrap().hash, None);
}

#[test]
fn for_each_state_orders_by_bytes_and_filters_ignored() {
    let ix = Index::open_in_memory().unwrap();
    let paths = ["a/b", "a.txt", "a", "B", "é", "z", "a-b", "a0"];
    ix.insert_remote_scan(
        &paths
            .iter()
            .map(|p| (rp(p), remote("e", None)))
            .collect::<Vec<_>>(),
    )
    .unwrap();
    let got: Vec<String> = states(&ix)
        .into_iter()
        .map(|s| s.path.to_string())
        .collect();
    // '-' (0x2d) < '.' (0x2e) < '/' (0x2f) < '0' (0x30); uppercase before lowercase; UTF-8 last.
    assert_eq!(got, ["B", "a", "a-b", "a.txt", "a/b", "a0", "z", "é"]);
    let mut seen = Vec::new();
    ix.for_each_state(
        |p| p.as_str().starts_with("a/"),
        |s| {
            seen.push(s.path.to_string());
            Ok::<_, IndexError>(())
        },
    )
    .unwrap();
    assert!(!seen.contains(&"a/b".to_string()) && seen.len() == 7);
}

#[test]
fn for_each_state_streams_without_a_temp_btree_and_stops_on_error() {
    let ix = Index::open_in_memory().unwrap();
    let plan = ix.explain_state_scans().unwrap().join("\n");
    assert!(
        !plan.contains("TEMP B-TREE"),
        "each scan must come in key order:\n{plan}"
    );
    ix.insert_remote_scan(&[(rp("a"), remote("e", None)), (rp("b"), remote("e", None))])
        .unwrap();
    #[derive(Debug)]
    enum E {
        Stop,
        Ix,
    }
    impl From<IndexError> for E {
        fn from(_: IndexError) -> E {
            E::Ix
        }
    }
    let mut n = 0;
    let r = ix.for_each_state(
        |_| false,
        |_| {
            n += 1;
            Err(E::Stop)
        },
    );
    assert!(matches!(r, Err(E::Stop)) && n == 1);
}

#[test]
fn remote_hash_sources_and_needing_hash() {
    let ix = Index::open_in_memory().unwrap();
    let _dir = scan_files(&ix, &["same", "changed", "new", "listed", "cached"]);
    for p in ["same", "changed"] {
        ix.set_base(&rp(p), &base(1, "\"old\"")).unwrap();
    }
    ix.insert_remote_scan(&[
        (rp("same"), remote("\"old\"", None)),
        (rp("changed"), remote("\"new\"", None)),
        (rp("new"), remote("\"n\"", None)),
        (rp("listed"), remote("\"l\"", Some(h(5)))),
        (rp("cached"), remote("\"c\"", None)),
        (rp("remote-only"), remote("\"r\"", None)),
    ])
    .unwrap();
    ix.cache_remote_hash(&rp("cached"), "\"c\"", &h(6)).unwrap();
    assert_eq!(
        ix.cached_remote_hash(&rp("cached"), "\"c\"").unwrap(),
        Some(h(6))
    );
    assert_eq!(
        ix.cached_remote_hash(&rp("cached"), "\"other\"").unwrap(),
        None
    );
    let need = ix.remote_needing_hash().unwrap();
    assert_eq!(
        need,
        vec![
            (rp("changed"), "\"new\"".into()),
            (rp("new"), "\"n\"".into())
        ]
    );
    ix.set_remote_scan_hash(&rp("changed"), &h(7)).unwrap();
    assert_eq!(
        ix.remote_needing_hash().unwrap(),
        vec![(rp("new"), "\"n\"".into())]
    );
    let hashes: Vec<(String, Option<ContentHash>)> = states(&ix)
        .into_iter()
        .map(|s| (s.path.to_string(), s.remote.and_then(|r| r.hash)))
        .collect();
    assert_eq!(
        hashes,
        [
            ("cached".into(), Some(h(6))),
            ("changed".into(), Some(h(7))),
            ("listed".into(), Some(h(5))),
            ("new".into(), None),
            ("remote-only".into(), None),
            ("same".into(), Some(h(1))),
        ]
    );
    // The HEAD result outlives the listing: re-listing the same ETag needs no HEAD.
    ix.clear_remote_scan().unwrap();
    assert_eq!(ix.remote_scan_count().unwrap(), 0);
    ix.insert_remote_scan(&[(rp("changed"), remote("\"new\"", None))])
        .unwrap();
    assert!(ix.remote_needing_hash().unwrap().is_empty());
    // Pruning keeps only entries of listed objects.
    assert_eq!(ix.prune_remote_hash_cache().unwrap(), 1);
    assert_eq!(
        ix.cached_remote_hash(&rp("changed"), "\"new\"").unwrap(),
        Some(h(7))
    );
}

#[test]
fn transactions_commit_roll_back_and_nest() {
    let ix = Index::open_in_memory().unwrap();
    let r: Result<(), IndexError> = ix.transaction(|ix| {
        ix.set_base(&rp("a"), &base(1, "e"))?;
        Err(IndexError::Corrupt {
            what: "test".into(),
            detail: "abort".into(),
        })
    });
    assert!(r.is_err());
    assert_eq!(ix.base_count().unwrap(), 0);
    ix.transaction(|ix| {
        ix.set_base(&rp("a"), &base(1, "e"))?;
        // Batch methods open their own (nested) transaction.
        ix.insert_remote_scan(&[(rp("a"), remote("e", None))])?;
        let inner: Result<(), IndexError> = ix.transaction(|ix| {
            ix.set_base(&rp("b"), &base(2, "e"))?;
            Err(IndexError::Corrupt {
                what: "inner".into(),
                detail: "abort".into(),
            })
        });
        assert!(inner.is_err());
        Ok::<_, IndexError>(())
    })
    .unwrap();
    assert_eq!(ix.base_count().unwrap(), 1);
    assert_eq!(ix.remote_scan_count().unwrap(), 1);
}

#[test]
fn multipart_rows_and_parts() {
    let ix = Index::open_in_memory().unwrap();
    let m = MultipartUpload {
        path: rp("big.iso"),
        key: "pre/big.iso".into(),
        upload_id: "up1".into(),
        hash: h(8),
        size: 100 << 20,
        mtime_ns: 123,
        inode: 42,
        part_size: 16 << 20,
        created_at: datetime!(2026-01-02 03:04:05 UTC),
        parts: vec![],
    };
    ix.put_multipart(&m).unwrap();
    ix.add_multipart_part("up1", 2, "\"p2\"", 16 << 20).unwrap();
    ix.add_multipart_part("up1", 1, "\"p1\"", 16 << 20).unwrap();
    ix.add_multipart_part("up1", 1, "\"p1b\"", 16 << 20)
        .unwrap();
    let got = ix.get_multipart(&rp("big.iso")).unwrap().unwrap();
    assert_eq!(
        got.parts,
        vec![(1, "\"p1b\"".to_string()), (2, "\"p2\"".to_string())]
    );
    assert_eq!(
        MultipartUpload {
            parts: vec![],
            ..got
        },
        m
    );
    // Parts of an unknown upload are refused (foreign key), not silently kept.
    assert!(ix.add_multipart_part("nope", 1, "e", 1).is_err());
    // A new upload for the same path replaces the old one and its parts.
    ix.put_multipart(&MultipartUpload {
        upload_id: "up2".into(),
        ..m.clone()
    })
    .unwrap();
    let all = ix.all_multipart().unwrap();
    assert_eq!(all.len(), 1);
    assert_eq!((all[0].upload_id.as_str(), all[0].parts.len()), ("up2", 0));
    ix.add_multipart_part("up2", 1, "e", 1).unwrap();
    ix.remove_multipart(&rp("big.iso")).unwrap();
    assert!(ix.get_multipart(&rp("big.iso")).unwrap().is_none());
    assert!(ix.all_multipart().unwrap().is_empty());
}

#[test]
fn conflicts_are_listed_counted_and_removed() {
    let ix = Index::open_in_memory().unwrap();
    let c = ConflictRecord {
        path: rp("d/a (conflict from laptop 2026-01-02 030405).txt"),
        original: rp("d/a.txt"),
        device: "laptop".into(),
        created_at: datetime!(2026-01-02 03:04:05 UTC),
    };
    ix.add_conflict(&c).unwrap();
    assert_eq!(ix.conflict_count().unwrap(), 1);
    assert_eq!(ix.list_conflicts().unwrap(), vec![c.clone()]);
    ix.remove_conflict(&c.path).unwrap();
    assert_eq!(ix.conflict_count().unwrap(), 0);
}

#[test]
fn errors_are_trimmed_to_the_last_hundred() {
    let ix = Index::open_in_memory().unwrap();
    for i in 0..(MAX_ERRORS + 20) {
        ix.add_error(Some(&format!("f{i}")), &format!("boom {i}"))
            .unwrap();
    }
    ix.add_error(None, "global").unwrap();
    let all = ix.recent_errors(1000).unwrap();
    assert_eq!(all.len() as u64, MAX_ERRORS);
    assert_eq!(
        (all[0].path.as_deref(), all[0].message.as_str()),
        (None, "global")
    );
    assert_eq!(all[1].path.as_deref(), Some("f119"));
    assert_eq!(ix.recent_errors(3).unwrap().len(), 3);
    ix.clear_errors().unwrap();
    assert!(ix.recent_errors(10).unwrap().is_empty());
}

#[test]
fn passes_and_skipped() {
    let ix = Index::open_in_memory().unwrap();
    assert_eq!(ix.last_pass().unwrap(), None);
    let mut p = PassSummary {
        state: SyncState::Syncing,
        started_at: datetime!(2026-01-02 03:04:05.5 UTC),
        finished_at: None,
        files: 10,
        uploads: 1,
        downloads: 2,
        local_deletes: 3,
        remote_deletes: 4,
        conflicts: 5,
        errors: 6,
        message: None,
    };
    let id = ix.record_pass(&p).unwrap();
    assert_eq!(ix.last_pass().unwrap(), Some(p.clone()));
    assert_eq!(ix.last_successful_pass().unwrap(), None);
    p.state = SyncState::Idle;
    p.finished_at = Some(datetime!(2026-01-02 03:05:00 UTC));
    ix.update_pass(id, &p).unwrap();
    assert_eq!(ix.last_successful_pass().unwrap(), Some(p.clone()));
    let stop = PassSummary {
        state: SyncState::SafetyStop,
        message: Some("would delete 80%".into()),
        ..p.clone()
    };
    for _ in 0..MAX_PASSES + 5 {
        ix.record_pass(&stop).unwrap();
    }
    assert_eq!(ix.last_pass().unwrap(), Some(stop));
    // The successful pass fell out of the kept history.
    assert_eq!(ix.last_successful_pass().unwrap(), None);

    ix.set_skipped(&[("b".into(), "symlink".into()), ("a".into(), "fifo".into())])
        .unwrap();
    ix.set_skipped(&[("c".into(), "x".into()), ("a".into(), "y".into())])
        .unwrap();
    assert_eq!(
        ix.list_skipped().unwrap(),
        vec![
            ("a".to_string(), "y".to_string()),
            ("c".to_string(), "x".to_string())
        ]
    );
}

#[test]
fn remote_scan_from_base_mirrors_the_synced_state() {
    let ix = Index::open_in_memory().unwrap();
    ix.set_base(&rp("a.txt"), &base(1, "\"e1\"")).unwrap();
    ix.set_base(&rp("b/c.txt"), &base(2, "\"e2\"")).unwrap();
    ix.insert_remote_scan(&[(rp("stale.txt"), remote("\"x\"", None))])
        .unwrap();
    ix.remote_scan_from_base().unwrap();
    assert_eq!(ix.remote_scan_count().unwrap(), 2);
    let got = states(&ix);
    assert_eq!(got.len(), 2, "the stale listing row is gone");
    for st in got {
        let b = st.base.unwrap();
        let r = st.remote.unwrap();
        assert_eq!(r.object, b.remote);
        assert_eq!(r.hash, Some(b.hash));
    }
}

/// An index of the first release (schema v1) is upgraded in place: its data survives and
/// the pending-uploads table of v2 is there.
#[test]
fn a_v1_index_is_migrated_to_the_current_schema() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("index.db");
    {
        let ix = Index::open(&db).unwrap();
        ix.set_base(&rp("a"), &base(1, "\"e1\"")).unwrap();
    }
    let conn = rusqlite::Connection::open(&db).unwrap();
    conn.execute_batch(
        "DROP TABLE pending_uploads; DROP TABLE activity; UPDATE schema_version SET version = 1;",
    )
    .unwrap();
    drop(conn);
    let ix = Index::open(&db).unwrap();
    assert_eq!(ix.schema_version().unwrap(), 3);
    assert_eq!(ix.get_base(&rp("a")).unwrap(), Some(base(1, "\"e1\"")));
    let h = pail_core::ContentHash([7; 32]);
    ix.note_pending_upload(&rp("a"), &h).unwrap();
    assert_eq!(ix.adopt_own_uploads().unwrap(), 0, "nothing listed yet");
}

/// The activity log keeps the newest entries, oldest first, filtered by time.
#[test]
fn activity_is_bounded_and_filtered_by_time() {
    use pail_index::Activity;
    use time::macros::datetime;
    let ix = Index::open_in_memory().unwrap();
    let at = |m: u8| datetime!(2026-11-30 10:00 UTC) + time::Duration::minutes(m.into());
    let entry = |m: u8, path: &str| Activity {
        at: at(m),
        kind: "upload".into(),
        path: path.into(),
        size: Some(3),
        device: Some("laptop".into()),
        detail: None,
    };
    ix.add_activity(&[entry(0, "a"), entry(5, "b"), entry(10, "c")])
        .unwrap();
    let all = ix.recent_activity(None, 100).unwrap();
    assert_eq!(
        all.iter().map(|e| e.path.as_str()).collect::<Vec<_>>(),
        ["a", "b", "c"]
    );
    assert_eq!(all[0], entry(0, "a"));
    let since = ix.recent_activity(Some(at(5)), 100).unwrap();
    assert_eq!(since.len(), 2);
    let newest = ix.recent_activity(None, 1).unwrap();
    assert_eq!(newest[0].path, "c");
    let many: Vec<Activity> = (0..pail_index::MAX_ACTIVITY + 5)
        .map(|i| entry(20, &format!("f{i}")))
        .collect();
    ix.add_activity(&many).unwrap();
    let kept = ix.recent_activity(None, u64::MAX >> 2).unwrap();
    assert_eq!(kept.len() as u64, pail_index::MAX_ACTIVITY);
    assert_eq!(
        kept.last().unwrap().path,
        format!("f{}", pail_index::MAX_ACTIVITY + 4)
    );
}

/// Writes recorded together: every base in, every pending note of theirs cleared.
#[test]
fn bases_recorded_together_clear_their_pending_notes() {
    let ix = Index::open_in_memory().unwrap();
    let h = pail_core::ContentHash([7; 32]);
    let paths = [rp("a"), rp("b"), rp("c")];
    ix.note_pending_uploads(paths.iter().map(|p| (p, &h)))
        .unwrap();
    let bases: Vec<_> = (0..3).map(|i| base(i, &format!("\"e{i}\""))).collect();
    ix.set_bases(paths.iter().zip(&bases)).unwrap();
    for (p, b) in paths.iter().zip(&bases) {
        assert_eq!(ix.get_base(p).unwrap().as_ref(), Some(b));
        assert!(!ix.has_pending_upload(p).unwrap());
    }
}

/// `has_bases` answers for the whole table, before and after the first record.
#[test]
fn has_bases_follows_the_first_record_and_its_removal() {
    let ix = Index::open_in_memory().unwrap();
    assert!(!ix.has_bases().unwrap());
    ix.set_bases([(&rp("a"), &base(1, "\"e1\""))]).unwrap();
    assert!(ix.has_bases().unwrap());
    ix.remove_base(&rp("a")).unwrap();
    assert!(!ix.has_bases().unwrap());
}

/// Every n-th synced path in path order, up to a limit.
#[test]
fn base_paths_every_picks_every_nth_in_path_order() {
    let ix = Index::open_in_memory().unwrap();
    let paths: Vec<_> = (0..10).rev().map(|i| rp(&format!("f{i}"))).collect();
    let bases: Vec<_> = (0..10).map(|i| base(i, &format!("\"e{i}\""))).collect();
    ix.set_bases(paths.iter().zip(&bases)).unwrap();
    let every = |step, limit| ix.base_paths_every(step, limit).unwrap();
    assert_eq!(every(3, 10), [rp("f2"), rp("f5"), rp("f8")]);
    assert_eq!(every(3, 2), [rp("f2"), rp("f5")]);
    assert_eq!(every(1, 2), [rp("f0"), rp("f1")]);
    assert!(every(11, 5).is_empty());
}
