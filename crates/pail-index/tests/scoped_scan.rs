//! The scoped scan (watcher hints): only the hinted paths are looked at again, and it gives
//! way to a full scan whenever the previous one cannot be trusted.

use std::fs;
use std::path::Path;
use std::time::Duration;

use pail_core::{LocalFile, RelPath};
use pail_index::{
    IgnoreRules, Index, IndexError, ScanOptions, ScopedScan, scan_local, scan_local_paths,
};

fn opts() -> ScanOptions {
    ScanOptions {
        racy_window: Duration::ZERO,
        ..ScanOptions::default()
    }
}

fn write(root: &Path, rel: &str, data: &[u8]) {
    let p = root.join(rel);
    fs::create_dir_all(p.parent().unwrap()).unwrap();
    fs::write(p, data).unwrap();
}

fn full(root: &Path, ix: &Index) {
    let rules = IgnoreRules::load(root).unwrap();
    scan_local(root, ix, &rules, &opts()).unwrap();
}

fn scoped(root: &Path, ix: &Index, scope: &[&str]) -> ScopedScan {
    let rules = IgnoreRules::load(root).unwrap();
    let scope: Vec<RelPath> = scope.iter().map(|s| RelPath::new(s).unwrap()).collect();
    scan_local_paths(root, ix, &rules, &opts(), &scope).unwrap()
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

fn size_of(ix: &Index, path: &str) -> Option<u64> {
    locals(ix)
        .into_iter()
        .find(|(p, _)| p == path)
        .map(|(_, l)| l.stat.size)
}

fn done(s: ScopedScan) -> pail_index::ScanReport {
    match s {
        ScopedScan::Done(r) => r,
        ScopedScan::NeedsFull(why) => panic!("expected a scoped scan, got NeedsFull({why})"),
    }
}

#[test]
fn only_the_hinted_paths_are_looked_at() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.txt", b"a");
    write(root, "b.txt", b"b");
    write(root, "docs/c.txt", b"c");
    let ix = Index::open_in_memory().unwrap();
    full(root, &ix);
    // Two changes, one hinted: the other stays as last scanned (proof that it was not looked at).
    write(root, "a.txt", b"a, longer");
    write(root, "b.txt", b"b, longer");
    let r = done(scoped(root, &ix, &["a.txt"]));
    assert_eq!(r.files, 3);
    assert_eq!(r.hashed, 1);
    assert_eq!(size_of(&ix, "a.txt"), Some(9));
    assert_eq!(size_of(&ix, "b.txt"), Some(1));
    assert_eq!(size_of(&ix, "docs/c.txt"), Some(1));
    // The full scan sees both.
    full(root, &ix);
    assert_eq!(size_of(&ix, "b.txt"), Some(9));
}

#[test]
fn deletions_renames_and_new_directories_in_the_scope() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "old/x.txt", b"x");
    write(root, "old/y.txt", b"y");
    write(root, "keep.txt", b"k");
    let ix = Index::open_in_memory().unwrap();
    full(root, &ix);
    // A directory renamed: both names are hinted; the new one is walked, the old is gone.
    fs::rename(root.join("old"), root.join("new")).unwrap();
    write(root, "new/deeper/z.txt", b"z");
    fs::remove_file(root.join("keep.txt")).unwrap();
    done(scoped(root, &ix, &["old", "new", "new/deeper/z.txt"]));
    assert_eq!(
        names(&ix),
        ["keep.txt", "new/deeper/z.txt", "new/x.txt", "new/y.txt"],
        "keep.txt was not hinted, so it is still known as it was"
    );
    done(scoped(root, &ix, &["keep.txt"]));
    assert_eq!(names(&ix), ["new/deeper/z.txt", "new/x.txt", "new/y.txt"]);
}

#[test]
fn a_full_scan_is_needed_when_the_last_one_is_outdated() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.txt", b"a");
    let ix = Index::open_in_memory().unwrap();
    // Never scanned.
    assert!(matches!(
        scoped(root, &ix, &["a.txt"]),
        ScopedScan::NeedsFull(_)
    ));
    full(root, &ix);
    done(scoped(root, &ix, &["a.txt"]));
    // pail is about to change the folder itself (a download): no more scoped scans until a
    // full one has seen the result.
    ix.local_scan_outdated().unwrap();
    assert!(matches!(
        scoped(root, &ix, &["a.txt"]),
        ScopedScan::NeedsFull(_)
    ));
    full(root, &ix);
    done(scoped(root, &ix, &["a.txt"]));
}

#[test]
fn ignore_files_in_or_under_the_scope_need_a_full_scan() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "proj/.pailignore", b"*.o\n");
    write(root, "proj/main.c", b"int main;");
    write(root, "other/a.txt", b"a");
    let ix = Index::open_in_memory().unwrap();
    full(root, &ix);
    for scope in ["proj/.pailignore", "proj"] {
        assert!(
            matches!(scoped(root, &ix, &[scope]), ScopedScan::NeedsFull(_)),
            "{scope}"
        );
    }
    // A new directory arriving with its own ignore file.
    write(root, "fresh/.pailignore", b"secret.txt\n");
    write(root, "fresh/secret.txt", b"s");
    assert!(matches!(
        scoped(root, &ix, &["fresh"]),
        ScopedScan::NeedsFull(_)
    ));
    full(root, &ix);
    assert!(!names(&ix).contains(&"fresh/secret.txt".to_owned()));
    // Elsewhere, rules already known apply to hinted paths and their parents.
    write(root, "proj/main.o", b"obj");
    done(scoped(root, &ix, &["proj/main.o", "other/a.txt"]));
    assert!(!names(&ix).contains(&"proj/main.o".to_owned()));
    write(root, ".Trashes/old.txt", b"x");
    done(scoped(root, &ix, &[".Trashes/old.txt"]));
    assert!(!names(&ix).iter().any(|n| n.starts_with(".Trashes")));
}

#[test]
fn skipped_entries_outside_the_scope_are_kept_and_inside_replaced() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(root, "a.txt", b"a");
    std::os::unix::fs::symlink("/etc/hostname", root.join("link-one")).unwrap();
    fs::create_dir(root.join("d")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("d/link-two")).unwrap();
    let ix = Index::open_in_memory().unwrap();
    full(root, &ix);
    fs::remove_file(root.join("d/link-two")).unwrap();
    std::os::unix::fs::symlink("/etc/hostname", root.join("d/link-three")).unwrap();
    let r = done(scoped(root, &ix, &["d"]));
    let paths: Vec<&str> = r.skipped.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(paths, ["d/link-three", "link-one"]);
    assert_eq!(ix.list_skipped().unwrap(), r.skipped);
}

#[test]
fn paths_under_a_symlink_or_a_file_are_not_reached() {
    let dir = tempfile::tempdir().unwrap();
    let outside = tempfile::tempdir().unwrap();
    let root = dir.path();
    write(outside.path(), "secret.txt", b"s");
    std::os::unix::fs::symlink(outside.path(), root.join("escape")).unwrap();
    write(root, "a.txt", b"a");
    let ix = Index::open_in_memory().unwrap();
    full(root, &ix);
    done(scoped(root, &ix, &["escape/secret.txt", "a.txt/child"]));
    assert_eq!(names(&ix), ["a.txt"]);
}

#[test]
fn scope_ranges_cover_subtrees_and_merge() {
    let scope: Vec<RelPath> = ["b/c", "a", "a/x", "b"]
        .iter()
        .map(|s| RelPath::new(s).unwrap())
        .collect();
    assert_eq!(
        pail_index::scope_ranges(&scope),
        [
            ("a".to_owned(), "a0".to_owned()),
            ("b".to_owned(), "b0".to_owned())
        ]
    );
}

#[test]
fn the_join_over_ranges_sees_only_their_paths() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    for p in [
        "a.txt",
        "docs/x.txt",
        "docs/y/z.txt",
        "docs2/w.txt",
        "e.txt",
    ] {
        write(root, p, p.as_bytes());
    }
    let ix = Index::open_in_memory().unwrap();
    full(root, &ix);
    let ranges = pail_index::scope_ranges(&[RelPath::new("docs").unwrap()]);
    let mut seen = Vec::new();
    ix.for_each_state_in(
        &ranges,
        |_| false,
        |s| {
            seen.push(s.path.to_string());
            Ok::<_, IndexError>(())
        },
    )
    .unwrap();
    assert_eq!(seen, ["docs/x.txt", "docs/y/z.txt"]);
}
