//! Devices on the in-process store, shared by the engine test files.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use pail_index::Index;
use pail_s3::{MemStore, ObjectStore};
use pail_sync::{PairConfig, PairCtx, SyncOptions, SyncResult, sync_pair};

pub struct Dev {
    pub _tmp: tempfile::TempDir,
    pub folder: std::path::PathBuf,
    pub ctx: Arc<PairCtx>,
}

pub async fn device(
    store: Arc<dyn ObjectStore>,
    name: &str,
    tweak: impl FnOnce(&mut PairConfig),
) -> Dev {
    let tmp = tempfile::tempdir().unwrap();
    let folder = tmp.path().join("folder");
    std::fs::create_dir(&folder).unwrap();
    let mut cfg = PairConfig::new(folder.clone(), "s3://bkt/pfx".into(), name.into());
    tweak(&mut cfg);
    let index = Index::open(&tmp.path().join("index.db")).unwrap();
    let ctx = Arc::new(PairCtx::open_with_index(&cfg, store, index).await.unwrap());
    Dev {
        _tmp: tmp,
        folder,
        ctx,
    }
}

impl Dev {
    pub async fn sync(&self) -> SyncResult {
        sync_pair(&self.ctx, &SyncOptions::default()).await.unwrap()
    }
    pub async fn sync_ok(&self) {
        match self.sync().await {
            SyncResult::Converged(_) => {}
            other => panic!("sync did not converge: {other:?}"),
        }
    }
    pub fn write(&self, rel: &str, body: &[u8]) {
        let p = self.folder.join(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }
    /// The files at the top of the folder (not below).
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        for e in std::fs::read_dir(&self.folder).unwrap() {
            let p = e.unwrap().path();
            if p.is_file() {
                out.insert(
                    p.file_name().unwrap().to_string_lossy().into_owned(),
                    std::fs::read(&p).unwrap(),
                );
            }
        }
        out
    }
    /// Every file in the folder, by path relative to it.
    pub fn tree(&self) -> BTreeMap<String, Vec<u8>> {
        fn walk(
            root: &std::path::Path,
            dir: &std::path::Path,
            out: &mut BTreeMap<String, Vec<u8>>,
        ) {
            for e in std::fs::read_dir(dir).unwrap() {
                let p = e.unwrap().path();
                if p.is_dir() {
                    walk(root, &p, out);
                } else {
                    let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                    out.insert(rel, std::fs::read(&p).unwrap());
                }
            }
        }
        let mut out = BTreeMap::new();
        walk(&self.folder, &self.folder, &mut out);
        out
    }
}

/// The bucket's current files (pail's own keys left out), by path.
pub fn remote_files(mem: &MemStore) -> BTreeMap<String, Vec<u8>> {
    mem.keys()
        .into_iter()
        .filter(|k| !k.starts_with("pfx/.pail/"))
        .filter_map(|k| {
            mem.current(&k)
                .map(|b| (k.trim_start_matches("pfx/").to_owned(), b.to_vec()))
        })
        .collect()
}
