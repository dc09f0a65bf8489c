//! The whole daemon in-process: `run_pairs` on the in-memory store and a temp folder, with
//! the real watcher, journal, control socket and shutdown. Outcomes are polled with generous
//! time limits, never timed. The same behaviours run against real servers in tests/e2e.

use std::collections::BTreeMap;
use std::future::Future;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use pail_daemon::DaemonOptions;
use pail_daemon::control::{Request, request};
use pail_index::Index;
use pail_s3::{MemStore, ObjectMeta, ObjectStore};
use pail_sync::journal::{Entry, append_entry};
use pail_sync::{PairConfig, PairCtx};
use tokio_util::sync::CancellationToken;

/// The files of the pair in the bucket (not pail's own objects), by folder-relative path.
fn remote_files(mem: &MemStore) -> BTreeMap<String, Vec<u8>> {
    mem.keys()
        .into_iter()
        .filter(|k| !k.starts_with("pfx/.pail/"))
        .filter_map(|k| {
            mem.current(&k)
                .map(|b| (k.trim_start_matches("pfx/").to_owned(), b.to_vec()))
        })
        .collect()
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(
            start.elapsed() < Duration::from_secs(60),
            "timed out waiting until {what}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn ask(socket: &Path, req: Request) {
    let resp = request(socket, req.clone())
        .await
        .unwrap()
        .expect("the daemon answers on its socket");
    assert!(resp.ok, "{req:?}: {}", resp.message);
}

async fn within<T>(what: &str, f: impl Future<Output = T>) -> T {
    tokio::time::timeout(Duration::from_secs(60), f)
        .await
        .unwrap_or_else(|_| panic!("timed out: {what}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_daemon_follows_both_sides_and_stops_cleanly() {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    std::fs::write(folder.join("seed.txt"), b"seed").unwrap();
    let mem = MemStore::new("bkt");
    let store: Arc<dyn ObjectStore> = Arc::new(mem.clone());
    let cfg = PairConfig::new(folder.clone(), "s3://bkt/pfx".into(), "alpha".into());
    let index_path = tmp.path().join("state/index.db");
    std::fs::create_dir_all(index_path.parent().unwrap()).unwrap();
    let ctx = PairCtx::open_with_index(&cfg, store.clone(), Index::open(&index_path).unwrap())
        .await
        .unwrap();
    let prefix = ctx.remote.prefix.clone();
    let socket = tmp.path().join("run/daemon.sock");
    let opts = DaemonOptions {
        poll_interval: Duration::from_millis(100),
        active_poll_interval: Duration::from_millis(100),
        listing_budget: 60,
        settle: Duration::from_millis(50),
        // Should the watcher not start here, scanning still finds local changes; the
        // full reconcile never comes, so remote changes arrive through the journal only.
        fallback_scan_interval: Duration::from_secs(1),
        rescan_interval: Duration::from_secs(3600),
        full_reconcile: Some(Duration::from_secs(3600)),
        shutdown_deadline: Duration::from_secs(10),
        use_watcher: true,
        upload_limit: None,
        download_limit: None,
    };
    let cancel = CancellationToken::new();
    let daemon = tokio::spawn(pail_daemon::run_pairs(
        vec![ctx],
        socket.clone(),
        opts,
        cancel.clone(),
    ));

    wait_until("the start pass uploads the seed", || {
        remote_files(&mem).contains_key("seed.txt")
    })
    .await;

    // A local change reaches the bucket without any command.
    std::fs::write(folder.join("dropped-in.txt"), b"dropped into the folder").unwrap();
    wait_until("the new file is in the bucket", || {
        remote_files(&mem).get("dropped-in.txt").map(Vec::as_slice)
            == Some(&b"dropped into the folder"[..])
    })
    .await;

    // Another device writes an object and says so in the journal.
    let body = b"from beta";
    mem.put_foreign_meta(
        "pfx/from-beta.txt",
        &body[..],
        ObjectMeta {
            blake3: Some(pail_core::ContentHash(*blake3::hash(body).as_bytes())),
            mtime_ns: Some(1),
            device: Some("beta".into()),
            binding: None,
        },
    );
    append_entry(
        store.as_ref(),
        &prefix,
        "beta",
        &Entry::new("sync", Some(vec!["from-beta.txt".into()])),
    )
    .await
    .unwrap();
    wait_until("beta's file reaches the folder", || {
        std::fs::read(folder.join("from-beta.txt")).is_ok_and(|b| b == body)
    })
    .await;

    // Paused: nothing moves; resumed: what waited goes.
    ask(
        &socket,
        Request::Pause {
            folder: None,
            for_secs: None,
        },
    )
    .await;
    // A pass that started before the pause may still be finishing.
    tokio::time::sleep(Duration::from_millis(500)).await;
    std::fs::write(folder.join("while-paused.txt"), b"waits").unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !remote_files(&mem).contains_key("while-paused.txt"),
        "nothing is transferred while paused"
    );
    ask(&socket, Request::Resume { folder: None }).await;
    wait_until("the file is uploaded after resume", || {
        remote_files(&mem).contains_key("while-paused.txt")
    })
    .await;

    // Shutdown: run_pairs returns, the socket is gone and the pair is free again.
    cancel.cancel();
    within("the daemon stops", daemon)
        .await
        .unwrap()
        .expect("a clean shutdown");
    assert!(!socket.exists(), "the control socket is removed");
    assert!(
        !pail_sync::ctx::pair_locked(&index_path),
        "the pair's lock is released"
    );
    assert!(
        request(&socket, Request::Status).await.unwrap().is_none(),
        "no daemon answers any more"
    );
}
