//! Version commands on the in-process store (MemStore): request patterns that the real
//! servers cannot count. The behaviours themselves run end to end in tests/e2e.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use pail_index::Index;
use pail_s3::{FaultyStore, MemStore, ObjectStore, Op};
use pail_sync::{PairConfig, PairCtx, SyncOptions, SyncResult, sync_pair};

struct Dev {
    _tmp: tempfile::TempDir,
    folder: std::path::PathBuf,
    ctx: Arc<PairCtx>,
}

async fn device(store: Arc<dyn ObjectStore>, name: &str) -> Dev {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let cfg = PairConfig::new(folder.clone(), "s3://bkt/pfx".into(), name.into());
    let index = Index::open(&tmp.path().join("index.db")).unwrap();
    let ctx = Arc::new(PairCtx::open_with_index(&cfg, store, index).await.unwrap());
    Dev {
        _tmp: tmp,
        folder,
        ctx,
    }
}

impl Dev {
    async fn sync_ok(&self) {
        match sync_pair(&self.ctx, &SyncOptions::default()).await.unwrap() {
            SyncResult::Converged(_) => {}
            other => panic!("sync did not converge: {other:?}"),
        }
    }
    fn write(&self, rel: &str, body: &[u8]) {
        std::fs::write(self.folder.join(rel), body).unwrap();
    }
    fn files(&self) -> BTreeMap<String, Vec<u8>> {
        std::fs::read_dir(&self.folder)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.is_file())
            .map(|p| {
                let name = p.file_name().unwrap().to_string_lossy().into_owned();
                (name, std::fs::read(&p).unwrap())
            })
            .collect()
    }
}

/// A folder restore of many files is one paged version listing for the whole folder, then
/// one server-side copy per file, `transfers` at a time (issue: fast on 10,000 files; the
/// time itself is measured in bench/, not here).
#[tokio::test]
async fn a_folder_restore_lists_versions_once_and_copies_in_parallel() {
    const FILES: usize = 64;
    let mem = MemStore::new("bkt");
    mem.set_page_size(10);
    let faulty = FaultyStore::new(mem.clone());
    let store: Arc<dyn ObjectStore> = Arc::new(faulty.clone());
    let a = device(store, "alpha").await;
    for i in 0..FILES {
        a.write(&format!("f{i:03}.txt"), format!("v1 of {i}").as_bytes());
    }
    a.sync_ok().await;
    // The in-process store keeps a logical clock: a write outside the prefix marks the moment.
    mem.put_foreign("elsewhere/moment", &b"now"[..]);
    let moment = mem
        .head("elsewhere/moment", None)
        .await
        .unwrap()
        .unwrap()
        .last_modified_ns;
    for i in 0..FILES {
        a.write(
            &format!("f{i:03}.txt"),
            format!("v2 of {i}, longer").as_bytes(),
        );
    }
    a.sync_ok().await;

    let bucket = a.ctx.remote.clone();
    mem.reset_counts();
    let plan = pail_ops::restore::plan_tree(&bucket, None, moment, false)
        .await
        .unwrap();
    assert_eq!(plan.steps.len(), FILES);
    // 2 versions per file, 10 per page (the journal's entries are not versions of files).
    let pages = mem.count(Op::ListVersions);
    assert!(
        (2 * FILES as u64).div_ceil(10) <= pages && pages <= (2 * FILES as u64).div_ceil(10) + 1,
        "{pages} ListObjectVersions pages"
    );
    assert_eq!(mem.count(Op::List), 0);

    // Copies in flight = copies started - copies finished (each held 100 ms).
    faulty.delay(Op::Copy, std::time::Duration::from_millis(100));
    let started = Arc::new(AtomicUsize::new(0));
    let finished = Arc::new(AtomicUsize::new(0));
    let most = Arc::new(AtomicUsize::new(0));
    let (s, f, m) = (started.clone(), finished.clone(), most.clone());
    faulty.set_hook(Arc::new(move |op, _| {
        if op == Op::Copy {
            let now = s.fetch_add(1, Ordering::SeqCst) + 1 - f.load(Ordering::SeqCst);
            m.fetch_max(now, Ordering::SeqCst);
        }
        None
    }));
    let report = pail_ops::restore::execute(&bucket, &plan.steps, &|done, _| {
        finished.store(done, Ordering::SeqCst);
    })
    .await;
    assert_eq!(report.restored, FILES, "{:?}", report.errors);
    assert_eq!(mem.count(Op::Copy), FILES as u64);
    assert_eq!(mem.count(Op::ListVersions), pages, "no listing per file");
    assert!(
        most.load(Ordering::SeqCst) >= 2,
        "copies ran one at a time (at most {} in flight)",
        most.load(Ordering::SeqCst)
    );
    a.sync_ok().await;
    assert_eq!(a.files()["f007.txt"], b"v1 of 7");
}
