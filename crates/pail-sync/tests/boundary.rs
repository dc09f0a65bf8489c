//! The folder is a boundary (tenet 13), on the in-process store: paths below a local symlink
//! are left alone on both sides, and a directory swapped for a symlink while a download is
//! under way does not lead the write out of the folder. The same is tested end to end on the
//! real servers in tests/e2e/boundary.rs.

use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pail_index::Index;
use pail_s3::{FaultyStore, MemStore, ObjectStore, Op};
use pail_sync::{PairConfig, PairCtx, SyncOptions, SyncResult, sync_pair};

/// A folder, a sentinel directory beside it, and the pair's context.
struct Setup {
    _tmp: tempfile::TempDir,
    folder: PathBuf,
    outside: PathBuf,
    ctx: Arc<PairCtx>,
}

async fn setup(store: Arc<dyn ObjectStore>) -> Setup {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("folder");
    let outside = tmp.path().join("outside");
    std::fs::create_dir(&folder).unwrap();
    std::fs::create_dir(&outside).unwrap();
    std::fs::write(outside.join("sentinel"), b"untouched").unwrap();
    let cfg = PairConfig::new(folder.clone(), "s3://bkt/pfx".into(), "alpha".into());
    let index = Index::open(&tmp.path().join("index.db")).unwrap();
    let ctx = Arc::new(PairCtx::open_with_index(&cfg, store, index).await.unwrap());
    Setup {
        _tmp: tmp,
        folder,
        outside,
        ctx,
    }
}

impl Setup {
    async fn sync(&self) -> SyncResult {
        sync_pair(&self.ctx, &SyncOptions::default()).await.unwrap()
    }

    fn skipped(&self, path: &str) -> Option<String> {
        let all = self.ctx.db().list_skipped().unwrap();
        all.into_iter().find(|(p, _)| p == path).map(|(_, r)| r)
    }

    fn outside_names(&self) -> Vec<String> {
        names(&self.outside)
    }
}

fn converged(r: SyncResult) {
    assert!(matches!(r, SyncResult::Converged(_)), "{r:?}");
}

fn names(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    out.sort();
    out
}

#[tokio::test]
async fn a_synced_folder_replaced_by_a_symlink_deletes_nothing_and_downloads_nothing() {
    let mem = MemStore::new("bkt");
    let s = setup(Arc::new(mem.clone())).await;
    std::fs::create_dir(s.folder.join("docs")).unwrap();
    std::fs::write(s.folder.join("docs/a.txt"), b"a").unwrap();
    std::fs::write(s.folder.join("top.txt"), b"t").unwrap();
    converged(s.sync().await);
    assert!(mem.current("pfx/docs/a.txt").is_some());

    // The user moves the folder away and links to somewhere else; another client adds a file.
    std::fs::rename(
        s.folder.join("docs"),
        s.folder.parent().unwrap().join("docs-moved"),
    )
    .unwrap();
    symlink(&s.outside, s.folder.join("docs")).unwrap();
    mem.put_foreign("pfx/docs/sub/x.txt", &b"from another client"[..]);

    converged(s.sync().await);
    assert_eq!(s.outside_names(), ["sentinel"]);
    assert_eq!(mem.current("pfx/docs/a.txt").as_deref(), Some(&b"a"[..]));
    assert!(mem.current("pfx/docs/sub/x.txt").is_some());
    for p in ["docs/a.txt", "docs/sub/x.txt"] {
        assert_eq!(
            s.skipped(p).as_deref(),
            Some("below a symlink (docs): not synced"),
            "{p}"
        );
    }
    assert_eq!(s.skipped("docs").as_deref(), Some("symlink: not synced"));
}

#[tokio::test]
async fn a_directory_swapped_for_a_symlink_during_a_download_is_not_written_through() {
    let mem = MemStore::new("bkt");
    let faulty = FaultyStore::new(mem.clone());
    let s = setup(Arc::new(faulty.clone())).await;
    std::fs::create_dir(s.folder.join("sub")).unwrap();
    std::fs::write(s.folder.join("sub/keep.txt"), b"k").unwrap();
    std::fs::write(s.folder.join("top.txt"), b"t").unwrap();
    converged(s.sync().await);
    mem.put_foreign("pfx/sub/x.txt", &b"remote"[..]);

    // Planned as a download into sub/; when the GET goes out, sub/ is moved out of the folder
    // and a symlink to it takes its place.
    let fired = Arc::new(AtomicBool::new(false));
    let (folder, outside, f) = (s.folder.clone(), s.outside.clone(), fired.clone());
    faulty.set_hook(Arc::new(move |op, key| {
        if op == Op::Get && key == "pfx/sub/x.txt" && !f.swap(true, Ordering::SeqCst) {
            std::fs::rename(folder.join("sub"), outside.join("moved")).unwrap();
            symlink(outside.join("moved"), folder.join("sub")).unwrap();
        }
        None
    }));
    let result = s.sync().await;
    assert!(fired.load(Ordering::SeqCst), "the swap was not injected");
    // Whatever the pass made of it, nothing was written through the link, and the next pass
    // leaves the path out.
    assert_eq!(names(&s.outside.join("moved")), ["keep.txt"], "{result:?}");
    let SyncResult::Errors(_, errors) = &result else {
        panic!("the download should have been refused: {result:?}")
    };
    let message = errors[0].error.to_string();
    assert!(message.contains("is below a symlink"), "{message}");
    converged(s.sync().await);
    assert_eq!(names(&s.outside.join("moved")), ["keep.txt"]);
    assert_eq!(
        mem.current("pfx/sub/x.txt").as_deref(),
        Some(&b"remote"[..])
    );
    assert_eq!(mem.current("pfx/sub/keep.txt").as_deref(), Some(&b"k"[..]));
    assert_eq!(
        s.skipped("sub/x.txt").as_deref(),
        Some("below a symlink (sub): not synced")
    );
}
