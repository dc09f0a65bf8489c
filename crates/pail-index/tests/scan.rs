//! The local scan on real temp folders.

use std::ffi::OsStr;
use std::fs;
use std::os::unix::ffi::OsStrExt;
use std::path::Path;
use std::time::{Duration, SystemTime};

use pail_core::{Base, LocalFile, RelPath, RemoteRef};
use pail_index::{
    IgnoreRules, Index, IndexError, ScanError, ScanOptions, ScanReport, hash_bytes, scan_local,
};

fn no_racy() -> ScanOptions {
    ScanOptions {
        racy_window: Duration::ZERO,
        ..ScanOptions::default()
    }
}

fn scan(root: &Path, ix: &Index) -> ScanReport {
    let rules = IgnoreRules::load(root).unwrap();
    scan_local(root, ix, &rules, &no_racy()).unwrap()
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

fn locals(ix: &Index) -> Vec<(String, LocalFile)> {
    let mut out = Vec::new();
    ix.for_each_state(
        |_| false,
        |s| {
            if let Some(l) = s.local {
                out.push((s.path.to_string(), l));
            }
            Ok::<_, IndexError>(())
        },
    )
    .unwrap();
    out
}

fn names(ix: &Index) -> Vec<String> {
    locals(ix).into_iter().map(|(p, _)| p).collect()
}

#[test]
fn rescans_hash_only_changed_files() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for i in 0..20 {
        write(
            root,
            &format!("d{}/f{i}.txt", i % 3),
            format!("content {i}").as_bytes(),
        );
    }
    let ix = Index::open_in_memory().unwrap();
    let r = scan(root, &ix);
    assert_eq!((r.files, r.hashed), (20, 20));
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    for (p, l) in locals(&ix) {
        assert_eq!(l.hash, hash_bytes(&fs::read(root.join(&p)).unwrap()), "{p}");
    }

    let r = scan(root, &ix);
    assert_eq!((r.files, r.hashed, r.bytes_hashed), (20, 0, 0));

    // Same size, new content: the changed mtime/ctime give it away.
    write(root, "d1/f1.txt", b"CONTENT 1");
    let r = scan(root, &ix);
    assert_eq!((r.files, r.hashed), (20, 1));
    let l = locals(&ix)
        .into_iter()
        .find(|(p, _)| p == "d1/f1.txt")
        .unwrap()
        .1;
    assert_eq!(l.hash, hash_bytes(b"CONTENT 1"));

    fs::remove_file(root.join("d2/f2.txt")).unwrap();
    let r = scan(root, &ix);
    assert_eq!((r.files, r.hashed), (19, 0));
    assert!(!names(&ix).contains(&"d2/f2.txt".to_string()));
}

#[test]
fn files_changed_within_the_racy_window_are_always_rehashed() {
    let dir = tempfile::tempdir().unwrap();
    write(dir.path(), "fresh", b"x");
    let ix = Index::open_in_memory().unwrap();
    let rules = IgnoreRules::defaults();
    let opts = ScanOptions::default(); // 2 s
    for _ in 0..2 {
        assert_eq!(
            scan_local(dir.path(), &ix, &rules, &opts).unwrap().hashed,
            1
        );
    }
    // An old mtime does not help: the write just happened (ctime), and a tool may have set
    // the mtime back.
    let old = SystemTime::now() - Duration::from_secs(3600);
    fs::File::options()
        .write(true)
        .open(dir.path().join("fresh"))
        .unwrap()
        .set_modified(old)
        .unwrap();
    assert_eq!(
        scan_local(dir.path(), &ix, &rules, &opts).unwrap().hashed,
        1
    );
}

#[test]
fn a_verified_base_spares_the_read_and_an_unverified_one_is_settled_once() {
    let dir = tempfile::tempdir().unwrap();
    let empty = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a", b"aaa");
    write(root, "b", b"bbb");
    let ix = Index::open_in_memory().unwrap();
    scan(root, &ix);
    let now_ns = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    for (p, l) in locals(&ix) {
        let base = Base {
            hash: l.hash,
            local: l.stat,
            remote: RemoteRef {
                etag: "e".into(),
                version_id: None,
                size: l.stat.size,
            },
        };
        let path = RelPath::new(&p).unwrap();
        if p == "a" {
            ix.set_base_checked(&path, &base, now_ns as i64).unwrap();
        } else {
            ix.set_base(&path, &base).unwrap();
        }
    }
    // Forget the scan rows (scan an empty folder), so only the bases can vouch.
    scan(empty.path(), &ix);
    assert!(locals(&ix).is_empty());
    // "a" is trusted; "b" was recorded without a check time and is read once, then settled.
    assert_eq!(scan(root, &ix).hashed, 1);
    scan(empty.path(), &ix);
    assert_eq!(scan(root, &ix).hashed, 0);
}

#[test]
fn ignored_entries_are_pruned_silently() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, ".pailignore", b"build/\n*.log\n");
    write(root, "build/out.o", b"o");
    write(root, "sub/.pailignore", b"local-only\n");
    write(root, "sub/local-only", b"x");
    write(root, "sub/kept", b"x");
    write(root, "x.log", b"x");
    write(root, ".DS_Store", b"x");
    write(root, "d/.a.txt.pail-tmp-0000000000001234", b"partial");
    write(root, ".hidden/file", b"hidden files sync");
    let ix = Index::open_in_memory().unwrap();
    let r = scan(root, &ix);
    assert!(r.skipped.is_empty(), "{:?}", r.skipped);
    assert_eq!(
        names(&ix),
        [".hidden/file", ".pailignore", "sub/.pailignore", "sub/kept"]
    );
}

#[test]
fn special_files_and_bad_names_are_skipped_with_reasons() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "ok.txt", b"ok");
    write(root, "target.txt", b"t");
    std::os::unix::fs::symlink("target.txt", root.join("link")).unwrap();
    std::os::unix::fs::symlink(".", root.join("dirlink")).unwrap();
    let fifo = root.join("fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let _sock = std::os::unix::net::UnixListener::bind(root.join("sock")).unwrap();
    fs::write(root.join(OsStr::from_bytes(b"bad\xffname")), b"x").unwrap();
    let bad_dir = root.join(OsStr::from_bytes(b"dir\xfe"));
    fs::create_dir(&bad_dir).unwrap();
    fs::write(bad_dir.join("inner"), b"x").unwrap();
    write(root, "ctl\u{1}name", b"x");
    write(root, "back\\slash", b"x");
    write(root, ".pail/journal", b"reserved");
    write(root, "a/.pail/ok", b"only the root .pail is reserved");

    let ix = Index::open_in_memory().unwrap();
    let r = scan(root, &ix);
    assert_eq!(names(&ix), ["a/.pail/ok", "ok.txt", "target.txt"]);
    let reasons: Vec<(&str, &str)> = r
        .skipped
        .iter()
        .map(|(p, why)| (p.as_str(), why.as_str()))
        .collect();
    let want = [
        (".pail", "reserved for pail's own data: not synced"),
        (
            "back\\slash",
            "name cannot be synced: contains a backslash, which is a separator on Windows",
        ),
        ("bad\u{fffd}name", "name is not valid UTF-8: not synced"),
        (
            "ctl\u{1}name",
            "name cannot be synced: contains a NUL or control character",
        ),
        ("dirlink", "symlink: not synced"),
        ("dir\u{fffd}", "name is not valid UTF-8: not synced"),
        ("fifo", "named pipe (FIFO): not synced"),
        ("link", "symlink: not synced"),
        ("sock", "socket: not synced"),
    ];
    assert_eq!(reasons, want);
    assert_eq!(ix.list_skipped().unwrap(), r.skipped);
}

#[test]
fn large_files_hash_like_blake3_of_their_bytes() {
    let dir = tempfile::tempdir().unwrap();
    let data: Vec<u8> = (0..(5 << 20) + 7).map(|i: u32| (i % 253) as u8).collect();
    write(dir.path(), "big.bin", &data);
    let ix = Index::open_in_memory().unwrap();
    let r = scan(dir.path(), &ix);
    assert_eq!(r.bytes_hashed, data.len() as u64);
    let (_, l) = locals(&ix).pop().unwrap();
    assert_eq!(l.hash.0, *blake3::hash(&data).as_bytes());
    assert_eq!(l.stat.size, data.len() as u64);
}

#[test]
fn small_batches_give_the_same_result() {
    let dir = tempfile::tempdir().unwrap();
    for i in 0..25 {
        write(dir.path(), &format!("f{i:02}"), &[i as u8; 10]);
    }
    let ix = Index::open_in_memory().unwrap();
    let opts = ScanOptions {
        batch_size: 4,
        racy_window: Duration::ZERO,
        ..ScanOptions::default()
    };
    let r = scan_local(dir.path(), &ix, &IgnoreRules::defaults(), &opts).unwrap();
    assert_eq!((r.files, r.hashed), (25, 25));
    assert_eq!(locals(&ix).len(), 25);
}

#[test]
fn a_missing_or_non_directory_root_is_an_error_and_a_symlinked_root_works() {
    let dir = tempfile::tempdir().unwrap();
    let ix = Index::open_in_memory().unwrap();
    let rules = IgnoreRules::defaults();
    let missing = dir.path().join("missing");
    assert!(matches!(
        scan_local(&missing, &ix, &rules, &no_racy()),
        Err(ScanError::RootMissing(p)) if p == missing
    ));
    write(dir.path(), "file", b"x");
    assert!(matches!(
        scan_local(&dir.path().join("file"), &ix, &rules, &no_racy()),
        Err(ScanError::RootNotDir(_))
    ));
    write(dir.path(), "real/inside", b"x");
    std::os::unix::fs::symlink("real", dir.path().join("linked")).unwrap();
    let r = scan_local(&dir.path().join("linked"), &ix, &rules, &no_racy()).unwrap();
    assert_eq!(r.files, 1);
    assert_eq!(names(&ix), ["inside"]);
}
