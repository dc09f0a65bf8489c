//! Ignore rules: defaults, root and nested `.pailignore`, remote paths.

use std::fs;

use pail_core::RelPath;
use pail_index::IgnoreRules;

fn ignored(rules: &IgnoreRules, p: &str) -> bool {
    rules.is_ignored(&RelPath::new(p).unwrap(), false)
}

#[test]
fn defaults_cover_os_editor_and_pail_temp_files() {
    let r = IgnoreRules::defaults();
    for p in [
        ".DS_Store",
        "a/.DS_Store",
        "a/._photo.jpg",
        "THUMBS.DB",
        "x/desktop.ini",
        "notes.txt.swp",
        "notes.txt~",
        ".#notes.txt",
        "~$report.docx",
        "d/.~lock.report.odt#",
        "d/.report.odt.pail-tmp-0000000000001a2b",
        ".Trash-1000/files/x",
        "$RECYCLE.BIN/x",
    ] {
        assert!(ignored(&r, p), "{p} should be ignored");
    }
    for p in [
        "notes.txt",
        "a/photo.jpg",
        "swp",
        "tilde~x",
        "report.docx",
        "pail-tmp",
    ] {
        assert!(!ignored(&r, p), "{p} should sync");
    }
}

#[test]
fn root_and_nested_pailignore_with_git_semantics() {
    let dir = tempfile::tempdir().unwrap();
    let root = dir.path();
    fs::create_dir_all(root.join("src/gen")).unwrap();
    fs::create_dir_all(root.join("build/sub")).unwrap();
    fs::create_dir_all(root.join("docs")).unwrap();
    fs::write(
        root.join(".pailignore"),
        "# comment\n/build/\n*.log\n!keep.log\n/top.txt\n",
    )
    .unwrap();
    // Relative to src/: anchored patterns name src/..., and it can re-include a root rule.
    fs::write(root.join("src/.pailignore"), "/gen/\n*.o\n!important.log\n").unwrap();
    // Inside an ignored directory: never read.
    fs::write(root.join("build/.pailignore"), "!*\n").unwrap();
    // A nested file re-including a default.
    fs::write(root.join("docs/.pailignore"), "!.DS_Store\n").unwrap();
    let r = IgnoreRules::load(root).unwrap();
    assert_eq!(r.ignore_file_dirs(), ["", "docs", "src"]);

    let cases = [
        ("build", true, true),
        ("build/x.o", false, true),
        ("build/sub/keep.log", false, true),
        ("a/build/x", false, false), // "/build/" is anchored to the root
        ("x.log", false, true),
        ("deep/er/x.log", false, true),
        ("keep.log", false, false),
        ("top.txt", false, true),
        ("src/top.txt", false, false),
        ("src/gen/a.rs", false, true),
        ("gen/a.rs", false, false),
        ("src/a.o", false, true),
        ("a.o", false, false),
        ("src/important.log", false, false),
        ("src/other.log", false, true),
        ("docs/.DS_Store", false, false),
        (".DS_Store", false, true),
        ("src/lib.rs", false, false),
    ];
    for (p, is_dir, want) in cases {
        assert_eq!(r.is_ignored(&RelPath::new(p).unwrap(), is_dir), want, "{p}");
    }
}

#[test]
fn user_rules_cannot_re_include_pail_temp_files() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".pailignore"), "!*\n!*.pail-tmp*\n").unwrap();
    let r = IgnoreRules::load(dir.path()).unwrap();
    assert!(ignored(&r, ".a.txt.pail-tmp-0000000000000001"));
}

#[test]
fn directory_only_patterns_need_is_dir_for_the_path_itself() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join(".pailignore"), "cache/\n").unwrap();
    let r = IgnoreRules::load(dir.path()).unwrap();
    // A remote key "cache" is a file: not ignored. A key under it is.
    assert!(!ignored(&r, "cache"));
    assert!(r.is_ignored(&RelPath::new("cache").unwrap(), true));
    assert!(ignored(&r, "cache/blob"));
    assert!(ignored(&r, "a/cache/blob"));
}

#[test]
fn a_bad_line_is_skipped_with_a_warning_naming_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::create_dir(dir.path().join("sub")).unwrap();
    fs::write(dir.path().join(".pailignore"), "ok.tmp\n[z-a]\n*.log\n").unwrap();
    fs::write(
        dir.path().join("sub/.pailignore"),
        b"a\x1b[31m[z-a]\n\xff\xfe\n*.bak\r\n".as_slice(),
    )
    .unwrap();
    let r = IgnoreRules::load(dir.path()).unwrap();
    // The lines around the bad ones still apply.
    assert!(ignored(&r, "ok.tmp"));
    assert!(ignored(&r, "x.log"));
    assert!(ignored(&r, "sub/x.bak"));
    assert!(!ignored(&r, "z"));
    let w: Vec<String> = r.warnings().iter().map(ToString::to_string).collect();
    assert_eq!(w.len(), 3, "{w:?}");
    assert!(
        w[0].starts_with(".pailignore line 2: `[z-a]` is not a valid pattern (")
            && w[0].ends_with("); the line is ignored"),
        "{w:?}"
    );
    // A line from the bucket is shown escaped, never raw.
    assert!(
        w.iter()
            .any(|l| l.starts_with("sub/.pailignore line 1: `a\\x1b[31m[z-a]`")),
        "{w:?}"
    );
    assert!(
        w.iter()
            .any(|l| l == "sub/.pailignore line 2: `\\xff\\xfe` is not UTF-8; the line is ignored"),
        "{w:?}"
    );
    assert!(!w.iter().any(|l| l.contains('\x1b')));
}

#[test]
fn an_oversized_ignore_file_is_cut_at_a_line_boundary() {
    let dir = tempfile::tempdir().unwrap();
    let max = pail_index::ignore_rules::MAX_IGNORE_FILE_BYTES as usize;
    let mut text = String::from("first.tmp\n");
    while text.len() < max - 10 {
        text.push_str("# filler filler filler filler filler filler\n");
    }
    // This line straddles the cap: neither it nor anything after is used.
    text.push_str("straddles-the-cap-by-a-good-margin.tmp\nafter.tmp\n");
    fs::write(dir.path().join(".pailignore"), &text).unwrap();
    let r = IgnoreRules::load(dir.path()).unwrap();
    assert!(ignored(&r, "first.tmp"));
    assert!(!ignored(&r, "straddles-the-cap-by-a-good-margin.tmp"));
    assert!(!ignored(&r, "after.tmp"));
    let w = r.warnings();
    assert_eq!(w.len(), 1, "{w:?}");
    assert_eq!(w[0].line, None);
    assert!(
        w[0].to_string()
            .starts_with(".pailignore: larger than 1024 KiB: only its first "),
        "{}",
        w[0]
    );
}
