//! The engine against the in-process store (MemStore), with faults injected where the real
//! servers cannot be made to fail on cue: write races between planning and writing, 503s,
//! interrupted multipart uploads, corrupt downloads, and request counts. The same behaviours
//! are exercised end to end on real servers in tests/e2e.

use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use pail_index::Index;
use pail_s3::faulty::slow_down;
use pail_s3::{FaultyStore, MemStore, ObjectMeta, ObjectStore, Op, RetryingStore, StoreError};
use pail_sync::{PairConfig, PairCtx, SyncOptions, SyncResult, sync_pair};

mod common;
use common::{device, remote_files};

fn beta_meta(body: &[u8]) -> ObjectMeta {
    ObjectMeta {
        blake3: Some(pail_core::ContentHash(*blake3::hash(body).as_bytes())),
        mtime_ns: Some(1),
        device: Some("beta".into()),
        binding: None,
    }
}

/// Another device writes `x.txt` at the worst moment: after alpha planned its upload, right
/// before the write (`at` = Put) or before its pre-write check (`at` = Head). Both contents
/// must survive, in the folder and in the bucket (tenets 1, 4, 5).
async fn race(mem: MemStore, at: Op, others: usize) {
    let faulty = FaultyStore::new(mem.clone());
    let store: Arc<dyn ObjectStore> = Arc::new(faulty.clone());
    let a = device(store, "alpha", |_| {}).await;
    a.write("x.txt", b"base");
    a.write("other.txt", b"o");
    a.sync_ok().await;
    a.write("x.txt", b"alpha's edit");
    // Other uploads in the same pass (many of them switch the check to one prefix listing).
    for i in 0..others {
        a.write(&format!("n{i}.txt"), format!("{i}").as_bytes());
    }
    let m = mem.clone();
    let fired = once_before(&faulty, at, move || {
        m.put_foreign_meta("pfx/x.txt", &b"beta's edit"[..], beta_meta(b"beta's edit"));
    });
    a.sync_ok().await;
    assert!(fired.load(Ordering::SeqCst), "the race was not injected");
    let files = a.files();
    let contents: Vec<&[u8]> = files.values().map(Vec::as_slice).collect();
    assert!(contents.contains(&&b"alpha's edit"[..]), "{files:?}");
    assert!(contents.contains(&&b"beta's edit"[..]), "{files:?}");
    assert!(
        files.keys().any(|k| k.contains(" (conflict from ")),
        "{files:?}"
    );
    assert_eq!(remote_files(&mem), files);
}

#[tokio::test]
async fn race_with_conditional_writes_becomes_a_conflict() {
    race(MemStore::new("bkt"), Op::Put, 0).await;
}

#[tokio::test]
async fn race_without_conditional_writes_is_found_in_the_version_list() {
    race(MemStore::ceph_like("bkt"), Op::Put, 0).await;
}

#[tokio::test]
async fn race_among_many_writes_is_found_with_one_listing() {
    race(MemStore::ceph_like("bkt"), Op::Put, 40).await;
}

#[tokio::test]
async fn race_before_the_check_is_caught_without_versioning() {
    race(MemStore::garage_like("bkt"), Op::Head, 0).await;
}

/// Without versions or conditions, many new files have their keys checked by one listing
/// page right before their writes (`new_keys.rs`). Another device that creates one of the
/// same paths after the pass's listing and before that page keeps its file: alpha's write
/// waits for the next pass, which makes a conflict copy (tenets 1, 4).
#[tokio::test]
async fn new_files_race_before_their_key_check_is_caught_without_versioning() {
    let mem = MemStore::garage_like("bkt");
    let faulty = FaultyStore::new(mem.clone());
    let a = device(Arc::new(faulty.clone()), "alpha", |_| {}).await;
    a.write("other.txt", b"o");
    a.sync_ok().await;
    a.write("x.txt", b"alpha's new file");
    for i in 0..40 {
        a.write(&format!("n{i}.txt"), format!("{i}").as_bytes());
    }
    // The pass's own listing is the first of the prefix; the key check's the second.
    let lists = Arc::new(AtomicUsize::new(0));
    let (m, l) = (mem.clone(), lists.clone());
    faulty.set_hook(Arc::new(move |op, key| {
        if op == Op::List && key == "pfx/" && l.fetch_add(1, Ordering::SeqCst) == 1 {
            m.put_foreign_meta(
                "pfx/x.txt",
                &b"beta's new file"[..],
                beta_meta(b"beta's new file"),
            );
        }
        None
    }));
    a.sync_ok().await;
    assert!(
        lists.load(Ordering::SeqCst) >= 2,
        "the race was not injected"
    );
    let files = a.files();
    let contents: Vec<&[u8]> = files.values().map(Vec::as_slice).collect();
    assert!(contents.contains(&&b"alpha's new file"[..]), "{files:?}");
    assert!(contents.contains(&&b"beta's new file"[..]), "{files:?}");
    assert!(
        files.keys().any(|k| k.contains(" (conflict from ")),
        "{files:?}"
    );
    assert_eq!(remote_files(&mem), files);
    assert_eq!(files.len(), 43, "{files:?}");
}

#[tokio::test]
async fn transient_errors_are_retried() {
    let mem = MemStore::new("bkt");
    let faulty = FaultyStore::new(mem.clone());
    // Retries are the store's, as `PairCtx::open` wraps a real one.
    let a = device(
        RetryingStore::wrap(Arc::new(faulty.clone())),
        "alpha",
        |_| {},
    )
    .await;
    a.write("a.txt", b"a");
    a.write("b.txt", b"b");
    faulty.fail_next(Op::Put, 3, slow_down);
    faulty.fail_next(Op::List, 1, slow_down);
    a.sync_ok().await;
    assert_eq!(remote_files(&mem).len(), 2);
}

/// A write applied by the server but answered with an error is retried; on a server that
/// ignores conditional writes the version list then shows our content twice. The lower copy
/// is ours, not another writer's: no conflict copy (issue 16).
#[tokio::test]
async fn a_retried_write_that_was_applied_is_not_a_conflict() {
    let mem = MemStore::ceph_like("bkt");
    let faulty = FaultyStore::new(mem.clone());
    let a = device(
        RetryingStore::wrap(Arc::new(faulty.clone())),
        "alpha",
        |_| {},
    )
    .await;
    a.write("new.txt", b"first");
    a.write("edited.txt", b"v1");
    a.sync_ok().await;
    a.write("edited.txt", b"v2");
    a.write("other.txt", b"x");
    // Both PUTs reach the bucket, and both answers are lost.
    faulty.fail_next_after(Op::Put, 2, slow_down);
    match a.sync().await {
        SyncResult::Converged(t) => assert_eq!(t.conflicts, 0, "{t:?}"),
        other => panic!("sync did not converge: {other:?}"),
    }
    assert!(faulty.injected() >= 2, "the faults were not injected");
    assert_eq!(
        a.files().keys().cloned().collect::<Vec<_>>(),
        ["edited.txt", "new.txt", "other.txt"],
        "no conflict copy"
    );
    assert_eq!(remote_files(&mem)["edited.txt"], b"v2");
}

/// Another device renaming a folder is a move on this one, not a mass delete: the listing
/// carries no content hashes, so the new objects that may be the other half of a rename are
/// looked up (HEAD) before the safety stop weighs the deletes (issue 16, tenet 7).
#[tokio::test]
async fn a_folder_renamed_on_another_device_does_not_stop_this_one() {
    for mem in [
        MemStore::new("bkt"),
        MemStore::ceph_like("bkt"),
        MemStore::garage_like("bkt"),
    ] {
        let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
        let b = device(Arc::new(mem.clone()), "beta", |_| {}).await;
        for i in 0..9 {
            a.write(&format!("top{i}.txt"), format!("top {i}").as_bytes());
        }
        for i in 0..10 {
            a.write(&format!("X/f{i}.txt"), format!("inside {i}").as_bytes());
        }
        a.sync_ok().await;
        b.sync_ok().await;
        std::fs::rename(b.folder.join("X"), b.folder.join("Y")).unwrap();
        b.sync_ok().await;
        match a.sync().await {
            SyncResult::Converged(t) => {
                assert_eq!((t.downloads, t.local_deletes), (10, 10), "{t:?}")
            }
            other => panic!("a rename on another device stopped this one: {other:?}"),
        }
        assert!(!a.folder.join("X").exists());
        assert_eq!(
            std::fs::read(a.folder.join("Y/f3.txt")).unwrap(),
            b"inside 3"
        );
    }
}

/// `a.txt` at v1; the user writes v2; pail dies after the PUT of v2 reached the bucket but
/// before it was recorded; the user writes v3. The next sync uploads v3 over v2: the bucket's
/// v2 is this device's own write, not another writer's, so no conflict copy (issue 16). A new
/// file cut off the same way is recognised too.
#[tokio::test]
async fn an_upload_cut_off_before_its_record_is_not_a_conflict_with_itself() {
    for mem in [
        MemStore::new("bkt"),
        MemStore::ceph_like("bkt"),
        MemStore::garage_like("bkt"),
    ] {
        let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
        a.write("a.txt", b"v1");
        a.sync_ok().await;
        // What the killed sync did: note the upload, PUT it, and die before recording it.
        for (path, body) in [("a.txt", &b"v2"[..]), ("new.txt", &b"n1"[..])] {
            let hash = pail_core::ContentHash(*blake3::hash(body).as_bytes());
            let rel = pail_core::RelPath::new(path).unwrap();
            a.ctx.db().note_pending_upload(&rel, &hash).unwrap();
            let meta = ObjectMeta {
                blake3: Some(hash),
                mtime_ns: Some(1),
                device: Some("alpha".into()),
                binding: None,
            };
            mem.put(
                &format!("pfx/{path}"),
                body.to_vec().into(),
                &meta,
                pail_s3::Condition::None,
            )
            .await
            .unwrap();
        }
        a.write("a.txt", b"v3");
        a.write("new.txt", b"n2");
        match a.sync().await {
            SyncResult::Converged(t) => assert_eq!(t.conflicts, 0, "{t:?}"),
            other => panic!("sync did not converge: {other:?}"),
        }
        assert_eq!(
            a.files().keys().cloned().collect::<Vec<_>>(),
            ["a.txt", "new.txt"],
            "no conflict copy"
        );
        let remote = remote_files(&mem);
        assert_eq!(
            (&remote["a.txt"][..], &remote["new.txt"][..]),
            (&b"v3"[..], &b"n2"[..])
        );
    }
}

#[tokio::test]
async fn interrupted_multipart_upload_resumes_from_its_parts() {
    let mem = MemStore::new("bkt");
    mem.set_min_part_size(1024);
    let faulty = FaultyStore::new(mem.clone());
    let a = device(Arc::new(faulty.clone()), "alpha", |c| {
        c.multipart_threshold = 64 * 1024;
        c.part_size = 16 * 1024;
        c.transfers = 1;
    })
    .await;
    let big: Vec<u8> = (0..200_000u32).map(|i| (i % 253) as u8).collect();
    a.write("big.bin", &big);
    // Parts 1-4 go through, then the network "breaks" for good.
    let parts = Arc::new(AtomicUsize::new(0));
    let p = parts.clone();
    faulty.set_hook(Arc::new(move |op, _| {
        (op == Op::UploadPart && p.fetch_add(1, Ordering::SeqCst) >= 4).then(|| StoreError::Other {
            op: "UploadPart",
            key: "pfx/big.bin".into(),
            message: "cable cut".into(),
        })
    }));
    let r = a.sync().await;
    assert!(matches!(r, SyncResult::Errors(..)), "{r:?}");
    faulty.heal();
    mem.reset_counts();
    a.sync_ok().await;
    assert_eq!(
        mem.count(Op::CreateMultipart),
        0,
        "the upload must resume, not restart"
    );
    assert_eq!(
        mem.count(Op::UploadPart),
        13 - 4,
        "only the missing parts are sent"
    );
    assert_eq!(mem.current("pfx/big.bin").unwrap().to_vec(), big);
}

#[tokio::test]
async fn corrupt_download_is_never_placed() {
    let mem = MemStore::new("bkt");
    mem.put_foreign_meta(
        "pfx/doc.txt",
        &b"the real content"[..],
        beta_meta(b"the real content"),
    );
    let faulty = FaultyStore::new(mem.clone());
    let a = device(Arc::new(faulty.clone()), "alpha", |_| {}).await;
    faulty.corrupt_next_gets(1);
    match a.sync().await {
        // Summaries count what was done, not what was planned (issue 16).
        SyncResult::Errors(t, errors) => {
            assert_eq!((t.downloads, errors.len()), (0, 1), "{t:?}");
            assert!(errors[0].error.is_transient());
        }
        other => panic!("expected the corrupt download to fail: {other:?}"),
    }
    assert!(
        a.files().is_empty(),
        "a corrupt download must not land: {:?}",
        a.files()
    );
    a.sync_ok().await;
    assert_eq!(a.files()["doc.txt"], b"the real content");
}

#[tokio::test]
async fn no_change_sync_lists_once_and_reads_nothing() {
    let mem = MemStore::new("bkt");
    let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
    for i in 0..50 {
        a.write(&format!("f{i}.txt"), format!("{i}").as_bytes());
    }
    a.sync_ok().await;
    mem.reset_counts();
    // Let the racy-timestamp window pass, as it has for any file older than two seconds.
    std::thread::sleep(std::time::Duration::from_millis(2100));
    a.sync_ok().await;
    let counts = mem.counts();
    let total: u64 = counts.values().sum();
    assert_eq!(mem.count(Op::List), 1, "{counts:?}");
    assert_eq!(
        total, 1,
        "a no-change sync makes only the listing request: {counts:?}"
    );
}

/// Where a lost race cannot lose anything (versions kept, caught afterwards from the version
/// list), a new or changed small file costs one PUT and no HEAD. Where the bucket has neither
/// versions nor conditions, a changed file's HEAD stays (its trash copy's check), and new
/// files' keys are checked by one listing page for many files (issue 14, `new_keys.rs`).
#[tokio::test]
async fn uploads_skip_the_head_only_where_versions_catch_a_race() {
    for (mem, heads, key_lists) in [
        (MemStore::ceph_like("bkt"), 0, 0),
        (MemStore::new("bkt"), 0, 0),
        (MemStore::garage_like("bkt"), 1, 1),
    ] {
        let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
        a.write("old.txt", b"old");
        a.sync_ok().await;
        let lists_before = {
            mem.reset_counts();
            a.sync_ok().await;
            mem.count(Op::List)
        };
        mem.reset_counts();
        for i in 0..40 {
            a.write(&format!("d/f{i}.txt"), format!("{i}").as_bytes());
        }
        a.write("old.txt", b"edited");
        a.sync_ok().await;
        let counts = mem.counts();
        // The 41 files and the pass's journal entry.
        assert_eq!(mem.count(Op::Put), 42, "{counts:?}");
        assert_eq!(mem.count(Op::Head), heads, "{counts:?}");
        // A sync that changed something lists once more (to see it converged).
        assert_eq!(
            mem.count(Op::List),
            lists_before + 1 + key_lists,
            "{counts:?}"
        );
        assert_eq!(remote_files(&mem).len(), 41, "{counts:?}");
    }
}

/// A fresh device (`transfers = 8`) downloads `n` objects of `size` bytes from a server whose
/// every GET takes `delay`; returns when each GET started, in order.
async fn get_starts(n: usize, size: usize, delay: std::time::Duration) -> Vec<std::time::Instant> {
    let mem = MemStore::new("bkt");
    let body = vec![7u8; size];
    for i in 0..n {
        mem.put_foreign_meta(&format!("pfx/f{i:03}"), body.clone(), beta_meta(&body));
    }
    let faulty = FaultyStore::new(mem.clone());
    faulty.delay(Op::Get, delay);
    let starts = Arc::new(std::sync::Mutex::new(Vec::new()));
    let s = starts.clone();
    faulty.set_hook(Arc::new(move |op, _| {
        if op == Op::Get {
            s.lock().unwrap().push(std::time::Instant::now());
        }
        None
    }));
    let a = device(Arc::new(faulty.clone()), "alpha", |c| c.transfers = 8).await;
    a.sync_ok().await;
    assert_eq!(a.files().len(), n);
    let mut starts = starts.lock().unwrap().clone();
    starts.sort();
    starts
}

/// Small objects are bound by each request's round trip, so four times `transfers` of them
/// start in flight (probing may raise that later); big ones keep to `transfers` (issue 14).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_transfers_keep_more_requests_in_flight_than_big_ones() {
    for (size, expected) in [(4 * 1024, 32), (1024 * 1024, 8)] {
        let starts = get_starts(40, size, std::time::Duration::from_millis(300)).await;
        let first = starts[0];
        // Started before the first GET could have finished: in flight together.
        let together = starts
            .iter()
            .filter(|t| t.duration_since(first) < std::time::Duration::from_millis(150))
            .count();
        assert_eq!(together, expected, "objects of {size} bytes");
    }
}

/// Against a server whose every answer takes as long however many are in flight (RGW's
/// fixed delay), probing raises the small transfers in flight above the starting four per
/// slot, toward eight (issue 14, `inflight.rs`).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn small_transfers_in_flight_grow_against_a_fixed_delay() {
    let delay = std::time::Duration::from_millis(100);
    let starts = get_starts(900, 4096, delay).await;
    // In flight at once: the GETs started within one delay of each other.
    let most = (0..starts.len())
        .map(|i| starts[i..].partition_point(|t| t.duration_since(starts[i]) < delay))
        .max()
        .unwrap();
    assert!(
        most > 40,
        "at most {most} small transfers in flight (32 at the start)"
    );
}

/// The daemon's listing budget counts what a listing costs: every key it returns, pail's own
/// `.pail/` keys included (issue 11: 100,000 files cost 101 LISTs, not 100).
#[tokio::test]
async fn a_full_listing_records_every_key_it_returned() {
    let mem = MemStore::new("bkt");
    let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
    for i in 0..5 {
        a.write(&format!("f{i}.txt"), b"x");
    }
    a.sync_ok().await;
    let in_prefix = mem
        .keys()
        .into_iter()
        .filter(|k| k.starts_with("pfx/"))
        .count();
    assert!(in_prefix > 5, "the journal's keys are in the prefix too");
    a.sync_ok().await;
    let listed = a
        .ctx
        .db()
        .meta_get(pail_sync::ctx::meta::LISTED_KEYS)
        .unwrap();
    assert_eq!(listed, Some(in_prefix.to_string()));
}

#[tokio::test]
async fn second_sync_of_the_same_pair_is_refused() {
    let mem = MemStore::new("bkt");
    let tmp = tempfile::tempdir().unwrap();
    let cfg = PairConfig::new(tmp.path().to_owned(), "s3://bkt/pfx".into(), "a".into());
    let path = tmp.path().join("state/index.db");
    let first = PairCtx::open_with_index(&cfg, Arc::new(mem.clone()), Index::open(&path).unwrap())
        .await
        .unwrap();
    let second = PairCtx::open_with_index(&cfg, Arc::new(mem), Index::open(&path).unwrap()).await;
    assert!(format!("{:#}", second.unwrap_err()).contains("another pail process"));
    drop(first);
    assert!(!pail_sync::ctx::pair_locked(Path::new(&path)));
}

#[tokio::test]
async fn local_only_pass_lists_nothing_and_escalates_on_surprise() {
    let mem = MemStore::ceph_like("bkt");
    let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
    a.write("a.txt", b"a");
    a.write("b.txt", b"b");
    a.sync_ok().await;
    let local_only = SyncOptions {
        remote: pail_sync::RemoteView::FromBase,
        ..SyncOptions::default()
    };
    a.write("new.txt", b"new");
    mem.reset_counts();
    assert!(matches!(
        sync_pair(&a.ctx, &local_only).await.unwrap(),
        SyncResult::Converged(_)
    ));
    assert_eq!(mem.count(Op::List), 0, "{:?}", mem.counts());
    assert_eq!(mem.current("pfx/new.txt").unwrap().to_vec(), b"new");
    // Another device changed a.txt; alpha edits it too and runs a local-only pass: the
    // check after the write finds their version below alpha's (no HEAD goes before a write
    // on a versioned bucket), the next pass lists, and both versions are kept.
    mem.put_foreign_meta("pfx/a.txt", &b"theirs"[..], beta_meta(b"theirs"));
    a.write("a.txt", b"mine");
    mem.reset_counts();
    assert!(matches!(
        sync_pair(&a.ctx, &local_only).await.unwrap(),
        SyncResult::Converged(_)
    ));
    assert!(
        mem.count(Op::List) >= 1,
        "a surprise must lead to a listing"
    );
    let contents: Vec<Vec<u8>> = a.files().into_values().collect();
    assert!(
        contents.contains(&b"mine".to_vec()) && contents.contains(&b"theirs".to_vec()),
        "{contents:?}"
    );
}

/// A pass that found the index damaged marked it; the next pass (a daemon's local-only one
/// here) sets it aside first, and runs as a full reconcile: the fresh index has no base to
/// stand in for the bucket. Equal files are recorded, not sent again; a change another
/// client made meanwhile comes down.
#[tokio::test]
async fn a_marked_index_is_rebuilt_before_the_next_pass() {
    let mem = MemStore::ceph_like("bkt");
    let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
    a.write("a.txt", b"a");
    a.write("b.txt", b"b");
    a.sync_ok().await;
    let db = a.ctx.index_file();
    pail_index::mark_damaged(&db, "database disk image is malformed").unwrap();
    mem.put_foreign_meta("pfx/c.txt", &b"theirs"[..], beta_meta(b"theirs"));
    mem.reset_counts();
    let local_only = SyncOptions {
        remote: pail_sync::RemoteView::FromBase,
        ..SyncOptions::default()
    };
    let SyncResult::Converged(t) = sync_pair(&a.ctx, &local_only).await.unwrap() else {
        panic!("did not converge");
    };
    assert_eq!((t.uploads, t.downloads, t.conflicts), (0, 1, 0), "{t:?}");
    assert_eq!(mem.count(Op::Put), 0, "{:?}", mem.counts());
    assert_eq!(
        a.files().get("c.txt").map(Vec::as_slice),
        Some(&b"theirs"[..])
    );
    let notice = a.ctx.db().heal_notice().unwrap().expect("the notice");
    assert!(notice.kept_at.exists(), "{notice:?}");
    assert!(!pail_index::damaged_marker(&db).exists());
    assert_eq!(a.ctx.db().base_count().unwrap(), 3);
}

#[tokio::test]
async fn archived_objects_are_reported_not_fatal() {
    let mem = MemStore::new("bkt");
    mem.put_foreign_meta("pfx/cold.txt", &b"in glacier"[..], beta_meta(b"in glacier"));
    mem.put_foreign_meta("pfx/warm.txt", &b"readable"[..], beta_meta(b"readable"));
    mem.archive("pfx/cold.txt");
    let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
    match a.sync().await {
        SyncResult::Converged(t) => assert_eq!(t.skipped, 1, "{t:?}"),
        other => panic!("an archived object must not fail the sync: {other:?}"),
    }
    assert_eq!(a.files()["warm.txt"], b"readable");
    assert!(!a.files().contains_key("cold.txt"));
    let skipped = a.ctx.db().list_skipped().unwrap();
    assert!(
        skipped
            .iter()
            .any(|(p, why)| p == "cold.txt" && why.contains("--from-archive")),
        "{skipped:?}"
    );
}

#[tokio::test]
async fn hinted_pass_rescans_only_its_paths_and_stays_safe() {
    let mem = MemStore::ceph_like("bkt");
    let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
    a.write("a.txt", b"a");
    a.write("b.txt", b"b");
    a.sync_ok().await;
    let hinted = |paths: &[&str]| SyncOptions {
        remote: pail_sync::RemoteView::FromBase,
        local_scope: Some(
            paths
                .iter()
                .map(|p| pail_core::RelPath::new(p).unwrap())
                .collect(),
        ),
        ..SyncOptions::default()
    };
    // Two edits, one hinted: only that one goes up (the other waits for its own hint or
    // the next full scan), which shows the pass did not walk the folder.
    a.write("a.txt", b"a, edited");
    a.write("b.txt", b"b, edited");
    a.write("new/c.txt", b"c");
    assert!(matches!(
        sync_pair(&a.ctx, &hinted(&["a.txt", "new"])).await.unwrap(),
        SyncResult::Converged(_)
    ));
    let remote = remote_files(&mem);
    assert_eq!(remote["a.txt"], b"a, edited");
    assert_eq!(remote["new/c.txt"], b"c");
    assert_eq!(remote["b.txt"], b"b");
    // A deletion reported by a hint propagates like any other.
    std::fs::remove_file(a.folder.join("a.txt")).unwrap();
    assert!(matches!(
        sync_pair(&a.ctx, &hinted(&["a.txt"])).await.unwrap(),
        SyncResult::Converged(_)
    ));
    assert!(!remote_files(&mem).contains_key("a.txt"));
    // A full sync (here with a download) brings everything up to date.
    mem.put_foreign_meta("pfx/d.txt", &b"from beta"[..], beta_meta(b"from beta"));
    a.sync_ok().await;
    assert_eq!(a.files()["d.txt"], b"from beta");
    assert_eq!(remote_files(&mem)["b.txt"], b"b, edited");
    // Once pail has written into the folder itself, the last scan no longer describes it:
    // a hinted pass then scans it all and catches an unhinted edit too.
    a.write("b.txt", b"b, edited twice");
    a.ctx.db().local_scan_outdated().unwrap();
    assert!(matches!(
        sync_pair(&a.ctx, &hinted(&["d.txt"])).await.unwrap(),
        SyncResult::Converged(_)
    ));
    assert_eq!(remote_files(&mem)["b.txt"], b"b, edited twice");
}

#[tokio::test]
async fn journal_entries_name_their_paths_and_peers_head_only_those() {
    let mem = MemStore::ceph_like("bkt");
    let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
    let b = device(Arc::new(mem.clone()), "beta", |_| {}).await;
    a.write("x.txt", b"x");
    a.write("y.txt", b"y");
    a.write("z.txt", b"z");
    a.sync_ok().await;
    b.sync_ok().await;
    let mut cursor = pail_sync::journal::JournalCursor::starting_now();
    b.write("x.txt", b"x by beta");
    std::fs::remove_file(b.folder.join("y.txt")).unwrap();
    b.write("new.txt", b"new from beta");
    b.sync_ok().await;

    let polled = cursor.poll(&a.ctx).await.unwrap();
    assert_eq!(polled.new_entries, 1);
    let changed: Vec<String> = polled
        .changed
        .clone()
        .expect("the entry names its paths")
        .iter()
        .map(|p| p.to_string())
        .collect();
    assert_eq!(changed, ["new.txt", "x.txt", "y.txt"]);

    // alpha applies them without listing the prefix: one HEAD per named path.
    let paths: Vec<pail_core::RelPath> = polled.changed.unwrap().into_iter().collect();
    mem.reset_counts();
    let opts = SyncOptions {
        remote: pail_sync::RemoteView::FromBase,
        local_scope: Some(paths.clone()),
        remote_paths: Some(paths),
        ..SyncOptions::default()
    };
    assert!(matches!(
        sync_pair(&a.ctx, &opts).await.unwrap(),
        SyncResult::Converged(_)
    ));
    assert_eq!(mem.count(Op::List), 0, "{:?}", mem.counts());
    assert_eq!(a.files(), b.files());
    assert!(!a.files().contains_key("y.txt"));
    // Nothing polled twice.
    assert_eq!(cursor.poll(&a.ctx).await.unwrap().new_entries, 0);
}

#[tokio::test]
async fn a_scoped_pass_weighs_its_deletes_against_every_synced_file() {
    let mem = MemStore::ceph_like("bkt");
    let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
    for i in 0..100 {
        a.write(&format!("f{i:03}.txt"), format!("{i}").as_bytes());
    }
    a.sync_ok().await;
    // 15 of 100 deleted: below the 50 % share, so no safety stop, although the pass plans
    // over those 15 paths only.
    let gone: Vec<pail_core::RelPath> = (0..15)
        .map(|i| {
            let p = format!("f{i:03}.txt");
            std::fs::remove_file(a.folder.join(&p)).unwrap();
            pail_core::RelPath::new(&p).unwrap()
        })
        .collect();
    let opts = SyncOptions {
        remote: pail_sync::RemoteView::FromBase,
        local_scope: Some(gone),
        ..SyncOptions::default()
    };
    match sync_pair(&a.ctx, &opts).await.unwrap() {
        SyncResult::Converged(t) => assert_eq!(t.remote_deletes, 15, "{t:?}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(remote_files(&mem).len(), 85);
    // 60 of the remaining 85 at once is over the share: the stop still holds.
    let many: Vec<pail_core::RelPath> = (15..75)
        .map(|i| {
            let p = format!("f{i:03}.txt");
            std::fs::remove_file(a.folder.join(&p)).unwrap();
            pail_core::RelPath::new(&p).unwrap()
        })
        .collect();
    let opts = SyncOptions {
        local_scope: Some(many),
        ..opts
    };
    assert!(matches!(
        sync_pair(&a.ctx, &opts).await.unwrap(),
        SyncResult::SafetyStop(_)
    ));
    assert_eq!(remote_files(&mem).len(), 85, "nothing deleted");
}

#[tokio::test]
async fn a_big_plan_runs_in_batches_and_converges() {
    let mem = MemStore::ceph_like("bkt");
    let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
    for i in 0..25 {
        a.write(&format!("f{i:02}.txt"), format!("{i}").as_bytes());
    }
    let opts = SyncOptions {
        max_actions_per_pass: Some(10),
        ..SyncOptions::default()
    };
    match sync_pair(&a.ctx, &opts).await.unwrap() {
        SyncResult::Converged(t) => {
            assert_eq!(t.uploads, 25, "{t:?}");
            assert!(t.passes >= 4, "three batches and a proof: {t:?}");
        }
        other => panic!("{other:?}"),
    }
    assert_eq!(remote_files(&mem).len(), 25);
    // The other way round: a second device downloads them in batches too.
    let b = device(Arc::new(mem.clone()), "beta", |_| {}).await;
    assert!(matches!(
        sync_pair(&b.ctx, &opts).await.unwrap(),
        SyncResult::Converged(_)
    ));
    assert_eq!(b.files(), a.files());
}

/// Tenet 6: no temp file of the sync's survives a finished sync, however young (only the
/// process holding the pair writes them); a `restore --to` temp file goes only once it is a
/// minute old (that command may be writing it right now); a user's file that merely looks
/// like a temp name is never touched, nor synced.
#[tokio::test]
async fn leftover_temp_files_are_removed_and_never_synced() {
    let mem = MemStore::ceph_like("bkt");
    let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
    a.write("real.txt", b"real");
    let sync_temp = ".new.txt.pail-tmp-00000000000000bb";
    let old_outside = ".old.txt.pail-tmp-x0000000000000aa";
    let young_outside = ".to.txt.pail-tmp-x0000000000000cc";
    // Users' files that merely look like pail's temp names: never removed.
    let lookalikes = [
        "notes.pail-tmp-mine",
        "new.txt.pail-tmp-00000000000000bb",
        ".new.txt.pail-tmp-00000000000000bb.bak",
        ".new.txt.pail-tmp-0000000000000bb",
        ".new.txt.pail-tmp-00000000000000zz",
        ".new.txt.pail-tmp-y0000000000000aa",
    ];
    for name in [sync_temp, old_outside, young_outside] {
        a.write(name, b"some bytes");
    }
    for name in lookalikes {
        a.write(name, b"some bytes");
    }
    std::fs::File::options()
        .write(true)
        .open(a.folder.join(old_outside))
        .unwrap()
        .set_modified(std::time::SystemTime::now() - std::time::Duration::from_secs(120))
        .unwrap();
    a.sync_ok().await;
    assert!(
        !a.folder.join(sync_temp).exists(),
        "the sync's leftover is removed at once"
    );
    assert!(
        !a.folder.join(old_outside).exists(),
        "an old restore leftover is removed"
    );
    assert!(
        a.folder.join(young_outside).exists(),
        "a young restore temp file may be in use"
    );
    for name in lookalikes {
        assert!(
            a.folder.join(name).exists(),
            "a user's file is kept: {name}"
        );
    }
    assert_eq!(remote_files(&mem).keys().collect::<Vec<_>>(), ["real.txt"]);
}

/// The trash copies of `x.txt` in an unversioned bucket: their contents, oldest first.
fn trash_of(mem: &MemStore, rel: &str) -> Vec<Vec<u8>> {
    let dir = format!("pfx/.pail/trash/{rel}/");
    let mut keys: Vec<String> = mem
        .keys()
        .into_iter()
        .filter(|k| k.starts_with(&dir))
        .collect();
    keys.sort();
    keys.iter()
        .filter_map(|k| mem.current(k).map(|b| b.to_vec()))
        .collect()
}

/// Without versioning, a local file is replaced or removed only once the bucket holds its
/// content somewhere (tenet 1). Another device that saw it trashed it already: nothing more
/// is stored. Another S3 client that overwrote or deleted it did not: pail puts it in the
/// trash first.
#[tokio::test]
async fn without_versions_local_content_reaches_the_trash_before_it_is_replaced() {
    let mem = MemStore::garage_like("bkt");
    let store: Arc<dyn ObjectStore> = Arc::new(mem.clone());
    let a = device(store.clone(), "alpha", |_| {}).await;
    let b = device(store, "beta", |_| {}).await;
    a.write("x.txt", b"v1 by alpha");
    a.write("y.txt", b"y by alpha");
    a.sync_ok().await;
    b.sync_ok().await;

    // A pail device overwrites: it trashed v1 itself; alpha finds it there and adds nothing.
    b.write("x.txt", b"v2 by beta");
    b.sync_ok().await;
    assert_eq!(trash_of(&mem, "x.txt"), vec![b"v1 by alpha".to_vec()]);
    a.sync_ok().await;
    assert_eq!(a.files()["x.txt"], b"v2 by beta");
    assert_eq!(trash_of(&mem, "x.txt"), vec![b"v1 by alpha".to_vec()]);

    // Another client overwrites and deletes: alpha keeps what it had in the trash.
    mem.put_foreign("pfx/x.txt", &b"v3 by another client"[..]);
    mem.delete_foreign("pfx/y.txt");
    a.sync_ok().await;
    assert_eq!(a.files()["x.txt"], b"v3 by another client");
    assert!(!a.files().contains_key("y.txt"), "the delete is honoured");
    assert_eq!(
        trash_of(&mem, "x.txt"),
        vec![b"v1 by alpha".to_vec(), b"v2 by beta".to_vec()]
    );
    assert_eq!(trash_of(&mem, "y.txt"), vec![b"y by alpha".to_vec()]);
    assert!(
        !a.files().keys().any(|k| k.contains("(conflict from")),
        "{:?}",
        a.files()
    );
}

/// Garage ignores conditional writes: two devices can both pass their pre-write check and
/// the later PUT buries the earlier content without a trash copy. The device whose content
/// was buried sees a pail device's write over content the trash does not hold, and keeps
/// both (tenets 1, 4, 5).
#[tokio::test]
async fn without_versions_or_conditions_a_buried_write_comes_back_as_a_conflict_copy() {
    let mem = MemStore::garage_like("bkt");
    let store: Arc<dyn ObjectStore> = Arc::new(mem.clone());
    let a = device(store, "alpha", |_| {}).await;
    a.write("x.txt", b"base");
    a.sync_ok().await;
    a.write("x.txt", b"alpha's edit");
    a.sync_ok().await;
    // beta checked the key before alpha's PUT landed, and wrote after it.
    mem.put_foreign_meta("pfx/x.txt", &b"beta's edit"[..], beta_meta(b"beta's edit"));
    a.sync_ok().await;
    let files = a.files();
    assert_eq!(files["x.txt"], b"beta's edit");
    let copies: Vec<&String> = files
        .keys()
        .filter(|k| k.contains("(conflict from"))
        .collect();
    assert_eq!(copies.len(), 1, "{files:?}");
    assert_eq!(files[copies[0]], b"alpha's edit");
    assert_eq!(remote_files(&mem), files);
}

/// Garage ignores conditional writes, so a device's delete can land on an edit it never saw:
/// beta checked `x.txt` and copied it into the trash, alpha's edit landed, then beta's DELETE.
/// alpha finds beta's trash copy of the very object its own write replaced: beta deleted
/// without seeing the edit, so the edit wins (tenet 3): alpha keeps the file and uploads it
/// again. A delete by another S3 client (no such copy) is honoured, as
/// `without_versions_local_content_reaches_the_trash_before_it_is_replaced` shows.
#[tokio::test]
async fn without_versions_or_conditions_an_edit_beats_a_delete_that_raced_it() {
    let mem = MemStore::garage_like("bkt");
    let (faulty, a) = alpha_with_x_synced(&mem).await;
    let base_meta = mem.current_meta("pfx/x.txt").unwrap();
    a.write("x.txt", b"alpha's edit");
    // Right before alpha's PUT: beta's check and trash copy of "base", as pail makes them.
    let m = mem.clone();
    let fired = once_before(&faulty, Op::Put, move || {
        let prefix = pail_core::RemotePrefix::new("pfx").unwrap();
        let at = time::OffsetDateTime::now_utc();
        let copy = pail_core::layout::trash_key(&prefix, "x.txt", at, "beta");
        m.put_foreign_meta(&copy, &b"base"[..], base_meta.clone());
    });
    a.sync_ok().await;
    assert!(fired.load(Ordering::SeqCst), "the race was not injected");
    // beta's DELETE, after alpha's PUT.
    mem.delete_foreign("pfx/x.txt");
    a.sync_ok().await;
    let files = a.files();
    assert_eq!(files["x.txt"], b"alpha's edit");
    assert_eq!(remote_files(&mem), files, "the edit is back in the bucket");
    assert!(
        !files.keys().any(|k| k.contains("(conflict from")),
        "{files:?}"
    );
    a.sync_ok().await;
    assert_eq!(remote_files(&mem), files, "and stays");
}

/// alpha, through a fault-injecting store, with `x.txt` ("base") and two more files synced.
async fn alpha_with_x_synced(mem: &MemStore) -> (FaultyStore<MemStore>, common::Dev) {
    let faulty = FaultyStore::new(mem.clone());
    let store: Arc<dyn ObjectStore> = Arc::new(faulty.clone());
    let a = device(store, "alpha", |_| {}).await;
    a.write("x.txt", b"base");
    a.write("other.txt", b"o");
    a.write("more.txt", b"m");
    a.sync_ok().await;
    (faulty, a)
}

/// Runs `act` once, right before the first `op` on `pfx/x.txt`; the flag says it ran.
fn once_before(
    faulty: &FaultyStore<MemStore>,
    op: Op,
    act: impl Fn() + Send + Sync + 'static,
) -> Arc<AtomicBool> {
    let fired = Arc::new(AtomicBool::new(false));
    let f = fired.clone();
    faulty.set_hook(Arc::new(move |o, key| {
        if o == op && key == "pfx/x.txt" && !f.swap(true, Ordering::SeqCst) {
            act();
        }
        None
    }));
    fired
}

/// A server that keeps versions but ignores conditions (Ceph RGW 16): beta's edit lands
/// between alpha's check and its DELETE, whose marker buries the edit. alpha's race check
/// finds beta's version right below its marker and brings it back as the file, which goes
/// back up: the edit wins (tenet 3), with no conflict copy. On AWS the DELETE's If-Match
/// fails instead (412), and the next pass takes the edit.
#[tokio::test]
async fn a_delete_that_buried_an_edit_brings_it_back() {
    for mem in [MemStore::ceph_like("bkt"), MemStore::new("bkt")] {
        let (faulty, a) = alpha_with_x_synced(&mem).await;
        std::fs::remove_file(a.folder.join("x.txt")).unwrap();
        let m = mem.clone();
        let fired = once_before(&faulty, Op::Delete, move || {
            m.put_foreign_meta("pfx/x.txt", &b"beta's edit"[..], beta_meta(b"beta's edit"));
        });
        a.sync_ok().await;
        assert!(fired.load(Ordering::SeqCst), "the race was not injected");
        let files = a.files();
        assert_eq!(
            files.get("x.txt").map(Vec::as_slice),
            Some(&b"beta's edit"[..])
        );
        assert!(
            !files.keys().any(|k| k.contains("(conflict from")),
            "{files:?}"
        );
        assert_eq!(remote_files(&mem), files);
    }
}

/// Keys that differ only by case cannot all be files on a case-insensitive disk (macOS,
/// FAT): one is kept, the name already on disk first, the rest reported and left out on both
/// sides; nothing is deleted or overwritten for it (tenet 9). Forced on here: Linux folders
/// are case-sensitive (the probe itself is tested in pail-index).
#[tokio::test]
async fn case_twins_on_a_case_insensitive_disk_are_skipped_and_reported() {
    let mem = MemStore::new("bkt");
    let store: Arc<dyn ObjectStore> = Arc::new(mem.clone());
    let a = device(store, "alpha", |c| c.case_insensitive = Some(true)).await;
    a.write("notes.txt", b"mine, synced");
    a.sync_ok().await;
    mem.put_foreign("pfx/Notes.txt", &b"another client's"[..]);
    mem.put_foreign("pfx/Photo.JPG", &b"first"[..]);
    mem.put_foreign("pfx/photo.jpg", &b"second"[..]);
    a.sync_ok().await;
    let files = a.files();
    assert_eq!(
        files["notes.txt"], b"mine, synced",
        "the name on disk is kept"
    );
    assert!(!files.contains_key("Notes.txt"), "{files:?}");
    assert_eq!(
        files["Photo.JPG"], b"first",
        "of new twins, the first in byte order"
    );
    assert!(!files.contains_key("photo.jpg"), "{files:?}");
    let remote = remote_files(&mem);
    for key in ["notes.txt", "Notes.txt", "Photo.JPG", "photo.jpg"] {
        assert!(
            remote.contains_key(key),
            "{key} is left alone in the bucket"
        );
    }
    let skipped = a.ctx.db().list_skipped().unwrap();
    let reasons: Vec<&String> = skipped
        .iter()
        .filter(|(p, _)| p == "Notes.txt" || p == "photo.jpg")
        .map(|(_, why)| why)
        .collect();
    assert_eq!(reasons.len(), 2, "{skipped:?}");
    assert!(
        reasons.iter().all(|r| r.contains("ignores case")),
        "{reasons:?}"
    );
    // Still quiet the next time: nothing to do, nothing deleted.
    a.sync_ok().await;
    assert_eq!(remote_files(&mem), remote);
}

/// Every sync leaves one record in the index's pass log (state, counts, why it stopped), and
/// a stop for safety comes back typed, not as a string to parse.
#[tokio::test]
async fn passes_are_logged_and_stops_are_typed() {
    use pail_index::SyncState;
    use pail_sync::StopReason;
    let mem = MemStore::new("bkt");
    let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
    a.write("a.txt", b"one");
    a.write("b.txt", b"two");
    a.sync_ok().await;
    let pass = a.ctx.db().last_pass().unwrap().unwrap();
    assert_eq!(pass.state, SyncState::Idle);
    assert_eq!((pass.uploads, pass.files), (2, 2));
    assert!(pass.finished_at.is_some());
    assert_eq!(a.ctx.db().state().unwrap().unwrap().0, SyncState::Idle);

    std::fs::remove_dir_all(&a.folder).unwrap();
    match a.sync().await {
        SyncResult::SafetyStop(StopReason::FolderMissing { folder }) => {
            assert_eq!(folder, a.folder)
        }
        other => panic!("expected a stop for the missing folder, got {other:?}"),
    }
    let pass = a.ctx.db().last_pass().unwrap().unwrap();
    assert_eq!(pass.state, SyncState::SafetyStop);
    assert!(pass.message.unwrap().contains("is missing"));
    let (state, reason) = a.ctx.db().state().unwrap().unwrap();
    assert_eq!(state, SyncState::SafetyStop);
    assert!(reason.unwrap().contains("is missing"));
}

fn access_denied() -> StoreError {
    StoreError::AccessDenied {
        bucket: "bkt".into(),
        key: None,
        message: "Access Denied".into(),
    }
}

/// A store whose retries give up fast (the default waits over a second).
fn quick_retries(faulty: &FaultyStore<MemStore>) -> Arc<dyn ObjectStore> {
    Arc::new(RetryingStore::with_policy(
        Arc::new(faulty.clone()),
        pail_s3::RetryPolicy {
            min_delay: std::time::Duration::from_millis(1),
            max_delay: std::time::Duration::from_millis(2),
            retries: 2,
        },
    ))
}

/// A listing the credentials may not make fails the sync with a typed, permanent error
/// that says what pail was doing, and the pair's state and pass log say the same.
#[tokio::test]
async fn a_denied_listing_fails_the_pass_for_good() {
    use pail_index::SyncState;
    use pail_sync::SyncError;
    let mem = MemStore::new("bkt");
    let faulty = FaultyStore::new(mem.clone());
    let a = device(quick_retries(&faulty), "alpha", |_| {}).await;
    a.write("a.txt", b"a");
    faulty.fail_next(Op::List, 1, access_denied);
    let e = sync_pair(&a.ctx, &SyncOptions::default())
        .await
        .expect_err("the listing was denied");
    assert!(
        matches!(e, SyncError::Listing { ref url, .. } if url == "s3://bkt/pfx/"),
        "{e:?}"
    );
    assert!(!e.is_transient() && !e.is_unreachable(), "{e:?}");
    assert!(matches!(
        e.store_error(),
        Some(StoreError::AccessDenied { .. })
    ));
    // Not retried: one attempt.
    assert_eq!(faulty.injected(), 1);
    let text = e.report();
    assert_eq!(text, format!("listing s3://bkt/pfx/: {}", access_denied()));
    let (state, reason) = a.ctx.db().state().unwrap().unwrap();
    assert_eq!(
        (state, reason.as_deref()),
        (SyncState::Error, Some(text.as_str()))
    );
    let pass = a.ctx.db().last_pass().unwrap().unwrap();
    assert_eq!(pass.message.as_deref(), Some(text.as_str()));
    assert!(remote_files(&mem).is_empty());
    // Once allowed, the next sync goes through.
    a.sync_ok().await;
    assert_eq!(remote_files(&mem).len(), 1);
}

/// A listing that keeps failing transiently past the store's retries fails the sync with an
/// error that says it may pass (the daemon retries later); an unreachable endpoint says so.
#[tokio::test]
async fn a_listing_failing_past_the_retries_is_transient() {
    use pail_sync::SyncError;
    let mem = MemStore::new("bkt");
    let faulty = FaultyStore::new(mem.clone());
    let a = device(quick_retries(&faulty), "alpha", |_| {}).await;
    a.write("a.txt", b"a");
    faulty.fail_next(Op::List, 3, slow_down);
    let e = sync_pair(&a.ctx, &SyncOptions::default())
        .await
        .expect_err("the listing kept failing");
    assert_eq!(faulty.injected(), 3, "one attempt and two retries");
    assert!(matches!(e, SyncError::Listing { .. }), "{e:?}");
    assert!(e.is_transient() && !e.is_unreachable(), "{e:?}");
    assert!(
        e.report()
            .starts_with("listing s3://bkt/pfx/: temporary S3 failure"),
        "{}",
        e.report()
    );

    faulty.fail_next(Op::List, 3, pail_s3::faulty::unreachable);
    let e = sync_pair(&a.ctx, &SyncOptions::default())
        .await
        .unwrap_err();
    assert!(e.is_transient() && e.is_unreachable(), "{e:?}");

    // The journal poll the daemon makes tells the same apart.
    let mut cursor = pail_sync::journal::JournalCursor::starting_now();
    faulty.fail_next(Op::List, 3, slow_down);
    let e = cursor.poll(&a.ctx).await.unwrap_err();
    assert!(
        matches!(e, SyncError::Store(_)) && e.is_transient(),
        "{e:?}"
    );
    faulty.fail_next(Op::List, 1, access_denied);
    assert!(!cursor.poll(&a.ctx).await.unwrap_err().is_transient());

    a.sync_ok().await;
    assert_eq!(remote_files(&mem).len(), 1);
}

/// A prefix of more than a page of synced keys is listed in key ranges at once:
/// whether the server honours start-after or not, every change of another client in any
/// range comes down, and nothing else changes. A server whose pages come out of key order is
/// listed again in one piece.
#[tokio::test]
async fn a_large_prefix_listed_in_ranges_misses_nothing() {
    for quirk in ["none", "ignores start-after", "reverses pages"] {
        let mem = MemStore::garage_like("bkt");
        mem.set_page_size(64);
        let a = device(Arc::new(mem.clone()), "alpha", |_| {}).await;
        for i in 0..2100 {
            a.write(&format!("d{:02}/f{:03}.txt", i / 100, i % 100), b"x");
        }
        a.sync_ok().await;
        match quirk {
            "ignores start-after" => mem.set_ignores_start_after(true),
            "reverses pages" => mem.set_reverses_pages(true),
            _ => {}
        }
        // Another client: a new key in the first range, one in the last, a deletion and an
        // edit in between.
        mem.put_foreign("pfx/d00/new.txt", b"first".to_vec());
        mem.put_foreign("pfx/d20/new.txt", b"last".to_vec());
        mem.delete_foreign("pfx/d10/f050.txt");
        mem.put_foreign("pfx/d15/f000.txt", b"edited".to_vec());
        let before = a.tree();
        a.sync_ok().await;
        let files = a.tree();
        assert_eq!(files, remote_files(&mem), "{quirk}");
        assert_eq!(files.len(), 2101, "{quirk}");
        assert_eq!(files["d00/new.txt"], b"first", "{quirk}");
        assert_eq!(files["d20/new.txt"], b"last", "{quirk}");
        assert_eq!(files["d15/f000.txt"], b"edited", "{quirk}");
        assert!(!files.contains_key("d10/f050.txt"), "{quirk}");
        let changed = before
            .iter()
            .filter(|(k, v)| files.get(*k) != Some(v))
            .count();
        assert_eq!(
            changed, 2,
            "{quirk}: only the deleted and the edited file changed"
        );
    }
}
