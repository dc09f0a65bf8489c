//! A file on one side, a folder of the same name on the other (or both in the bucket): two
//! engines on the in-process store, versioned (AWS-like) and not (Garage-like). Every case
//! converges, the folder keeps the name, and every content written is still in the folder
//! or, when superseded, in the bucket's versions or trash (tenets 1, 3, 4, 14).

use std::collections::BTreeMap;
use std::sync::Arc;

use pail_s3::{MemStore, ObjectStore};
use pail_sync::SyncResult;

mod common;
use common::{Dev, device, remote_files};

/// The two kinds of bucket: with versions (AWS-like) and without (Garage-like).
fn stores() -> [MemStore; 2] {
    [MemStore::new("bkt"), MemStore::garage_like("bkt")]
}

async fn two(mem: &MemStore) -> (Dev, Dev) {
    let store: Arc<dyn ObjectStore> = Arc::new(mem.clone());
    let a = device(store.clone(), "alpha", |_| {}).await;
    let b = device(store, "beta", |_| {}).await;
    (a, b)
}

/// Syncs the devices in turn for up to three rounds, then checks that they agree with each
/// other and with the bucket, and that one more sync of each changes nothing.
async fn converge(mem: &MemStore, devs: &[&Dev]) -> BTreeMap<String, Vec<u8>> {
    for _ in 0..3 {
        for d in devs {
            match d.sync().await {
                SyncResult::Converged(_) => {}
                other => panic!("sync failed: {other:?}"),
            }
        }
    }
    let tree = devs[0].tree();
    for d in devs {
        assert_eq!(d.tree(), tree, "devices differ");
        match d.sync().await {
            SyncResult::Converged(t) => assert!(!t.changed_anything(), "a last sync did {t:?}"),
            other => panic!("sync failed: {other:?}"),
        }
    }
    assert_eq!(
        remote_files(mem),
        tree,
        "the bucket differs from the folders"
    );
    tree
}

/// Whether some file of `tree` holds `body`.
fn holds(tree: &BTreeMap<String, Vec<u8>>, body: &[u8]) -> bool {
    tree.values().any(|v| v == body)
}

/// The conflict copies in `tree`.
fn copies(tree: &BTreeMap<String, Vec<u8>>) -> Vec<&String> {
    tree.keys()
        .filter(|k| k.contains(" (conflict from "))
        .collect()
}

fn replace_with_folder(d: &Dev, rel: &str, inner: &str, body: &[u8]) {
    std::fs::remove_file(d.folder.join(rel)).unwrap();
    d.write(&format!("{rel}/{inner}"), body);
}

fn replace_with_file(d: &Dev, rel: &str, body: &[u8]) {
    std::fs::remove_dir_all(d.folder.join(rel)).unwrap();
    d.write(rel, body);
}

/// (a) Another device replaced `file.txt` by a folder while it was edited here: the folder
/// keeps the name, the edit is a conflict copy.
#[tokio::test]
async fn a_remote_file_replaced_by_a_folder_while_edited_here() {
    for mem in stores() {
        let (a, b) = two(&mem).await;
        a.write("file.txt", b"base");
        a.sync_ok().await;
        b.sync_ok().await;
        replace_with_folder(&b, "file.txt", "inner.txt", b"inner by beta");
        b.sync_ok().await;
        a.write("file.txt", b"alpha's edit");
        let tree = converge(&mem, &[&a, &b]).await;
        assert_eq!(tree["file.txt/inner.txt"], b"inner by beta");
        assert_eq!(copies(&tree).len(), 1, "{tree:?}");
        assert_eq!(tree[copies(&tree)[0]], b"alpha's edit");
        assert!(copies(&tree)[0].contains("alpha"), "{tree:?}");
    }
}

/// (b) A folder replaced by a file here while another device added a file inside it, in both
/// orders of syncing: the folder keeps the name with the other device's file, the new file
/// is a conflict copy, the folder's old file is deleted (kept in the bucket).
#[tokio::test]
async fn a_local_folder_replaced_by_a_file_while_another_device_adds_inside() {
    for alpha_first in [false, true] {
        for mem in stores() {
            let (a, b) = two(&mem).await;
            a.write("d/x", b"x");
            a.sync_ok().await;
            b.sync_ok().await;
            replace_with_file(&a, "d", b"d is a file now");
            b.write("d/y", b"y by beta");
            if alpha_first {
                a.sync_ok().await;
                b.sync_ok().await;
            } else {
                b.sync_ok().await;
                a.sync_ok().await;
            }
            let tree = converge(&mem, &[&a, &b]).await;
            assert_eq!(tree.get("d/y").map(Vec::as_slice), Some(&b"y by beta"[..]));
            assert!(!tree.contains_key("d/x"), "{tree:?}");
            assert!(holds(&tree, b"d is a file now"), "{tree:?}");
            assert_eq!(copies(&tree).len(), 1, "{tree:?}");
        }
    }
}

/// (c) Another S3 client wrote both `d` and `d/x`: the folder comes down, the file `d`
/// becomes a conflict copy in the bucket and here, once, even with two devices at it.
#[tokio::test]
async fn another_client_writes_a_file_and_a_folder_of_one_name() {
    for mem in stores() {
        let (a, b) = two(&mem).await;
        a.write("keep.txt", b"k");
        a.sync_ok().await;
        b.sync_ok().await;
        mem.put_foreign("pfx/d", &b"the file d"[..]);
        mem.put_foreign("pfx/d/x", &b"x in the folder d"[..]);
        mem.put_foreign("pfx/top/a/b", &b"the file a/b"[..]);
        mem.put_foreign("pfx/top/a/b/c/d", &b"deep"[..]);
        let tree = converge(&mem, &[&a, &b]).await;
        assert_eq!(tree["d/x"], b"x in the folder d");
        assert_eq!(tree["top/a/b/c/d"], b"deep");
        assert_eq!(copies(&tree).len(), 2, "{tree:?}");
        assert!(holds(&tree, b"the file d") && holds(&tree, b"the file a/b"));
        assert!(copies(&tree).iter().all(|c| c.contains("other client")));
    }
}

/// (d) Replaced by a folder here while another device edited the file: the folder keeps the
/// name, the other device's edit is a conflict copy.
#[tokio::test]
async fn a_local_file_replaced_by_a_folder_while_edited_remotely() {
    for mem in stores() {
        let (a, b) = two(&mem).await;
        a.write("file.txt", b"base");
        a.sync_ok().await;
        b.sync_ok().await;
        b.write("file.txt", b"beta's edit");
        b.sync_ok().await;
        replace_with_folder(&a, "file.txt", "inner.txt", b"inner by alpha");
        let tree = converge(&mem, &[&a, &b]).await;
        assert_eq!(tree["file.txt/inner.txt"], b"inner by alpha");
        assert_eq!(copies(&tree).len(), 1, "{tree:?}");
        assert_eq!(tree[copies(&tree)[0]], b"beta's edit");
        assert!(copies(&tree)[0].contains("beta"), "{tree:?}");
    }
}

/// Plain replacements, nobody else editing: no conflict copy; the replaced side is deleted
/// like any delete. A folder left empty gives way to a file too.
#[tokio::test]
async fn plain_file_folder_replacements_make_no_conflict_copy() {
    for mem in stores() {
        let (a, b) = two(&mem).await;
        a.write("f", b"file f");
        a.write("d/x", b"x");
        a.write("e/z", b"z");
        a.sync_ok().await;
        b.sync_ok().await;
        replace_with_folder(&a, "f", "inner", b"f is a folder");
        replace_with_file(&a, "d", b"d is a file");
        a.sync_ok().await;
        // An empty folder where the bucket now has a file.
        std::fs::remove_file(b.folder.join("e/z")).unwrap();
        b.sync_ok().await;
        std::fs::create_dir(b.folder.join("g")).unwrap();
        mem.put_foreign("pfx/g", &b"g from another client"[..]);
        let tree = converge(&mem, &[&a, &b]).await;
        assert_eq!(tree["f/inner"], b"f is a folder");
        assert_eq!(tree["d"], b"d is a file");
        assert_eq!(tree["g"], b"g from another client");
        assert!(copies(&tree).is_empty(), "{tree:?}");
    }
}

/// A file both devices synced, and another client puts a folder of its name in the bucket:
/// one conflict copy of it, under one name on both sides, and a journal entry that makes a
/// peer list the prefix (the copy's name is not known in advance).
#[tokio::test]
async fn a_synced_file_gives_way_to_a_folder_from_another_client_as_one_copy() {
    for mem in stores() {
        let (a, b) = two(&mem).await;
        a.write("d", b"the synced file d");
        a.sync_ok().await;
        b.sync_ok().await;
        mem.put_foreign("pfx/d/x", &b"x from another client"[..]);
        let tree = converge(&mem, &[&a, &b]).await;
        assert_eq!(tree["d/x"], b"x from another client");
        assert_eq!(copies(&tree).len(), 1, "{tree:?}");
        assert_eq!(tree[copies(&tree)[0]], b"the synced file d");
        assert!(
            copies(&tree)[0].contains("alpha"),
            "named after its writer: {tree:?}"
        );
    }
}

/// A folder here that holds only ignored files still keeps its name: the bucket's file of
/// that name gives way as a conflict copy instead of waiting for ever.
#[tokio::test]
async fn a_folder_of_ignored_files_keeps_its_name() {
    for mem in stores() {
        let (a, b) = two(&mem).await;
        a.write("keep", b"k");
        a.sync_ok().await;
        b.sync_ok().await;
        a.write("g/.DS_Store", b"finder's");
        mem.put_foreign("pfx/g", &b"g from another client"[..]);
        a.sync_ok().await;
        let tree = a.tree();
        assert_eq!(tree["g/.DS_Store"], b"finder's", "ignored means untouched");
        assert_eq!(copies(&tree).len(), 1, "{tree:?}");
        assert_eq!(tree[copies(&tree)[0]], b"g from another client");
        b.sync_ok().await;
        b.sync_ok().await;
        assert!(
            copies(&b.tree()).len() == 1 && !b.tree().contains_key("g"),
            "{:?}",
            b.tree()
        );
        assert_eq!(
            remote_files(&mem).len(),
            2,
            "{:?}",
            remote_files(&mem).keys()
        );
    }
}

/// The bucket's file changes between the listing and its conflict copy (another client
/// writes it right before the copy): the copy is refused (it names the listed ETag), the next
/// pass displaces the new content, and the old one stays a version.
#[tokio::test]
async fn a_file_rewritten_while_it_gives_way_is_displaced_as_rewritten() {
    use std::sync::atomic::{AtomicBool, Ordering};

    use pail_s3::{FaultyStore, Op};
    let mem = MemStore::new("bkt");
    let faulty = FaultyStore::new(mem.clone());
    let a = device(Arc::new(faulty.clone()), "alpha", |_| {}).await;
    a.write("keep", b"k");
    a.sync_ok().await;
    mem.put_foreign("pfx/d", &b"first d"[..]);
    mem.put_foreign("pfx/d/x", &b"x"[..]);
    let fired = Arc::new(AtomicBool::new(false));
    let (m, f) = (mem.clone(), fired.clone());
    faulty.set_hook(Arc::new(move |op, key| {
        if op == Op::Copy && key.starts_with("pfx/d (conflict") && !f.swap(true, Ordering::SeqCst) {
            m.put_foreign("pfx/d", &b"second d"[..]);
        }
        None
    }));
    a.sync_ok().await;
    assert!(fired.load(Ordering::SeqCst), "the race was not injected");
    let tree = converge(&mem, &[&a]).await;
    assert_eq!(tree["d/x"], b"x");
    assert_eq!(copies(&tree).len(), 1, "{tree:?}");
    assert_eq!(tree[copies(&tree)[0]], b"second d");
    // Both contents, then the delete marker of the displaced key.
    assert_eq!(
        mem.version_count("pfx/d"),
        3,
        "the first content stays a version"
    );
}
