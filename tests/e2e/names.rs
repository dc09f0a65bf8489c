//! Hostile and awkward names (tenet 9).

use crate::harness::*;
use crate::on_servers;

fn hostile_remote_keys_never_escape_the_folder(s: Server) {
    let r = Remote::new(&s, "hostile");
    let a = Device::new(&r, "a");
    let p = &r.prefix;
    let hostile = [
        format!("{p}/../escaped.txt"),
        format!("{p}/a/../../b.txt"),
        format!("{p}//abs.txt"),
        format!("{p}/dir//double.txt"),
        format!("{p}/./dot.txt"),
    ];
    let mut written = Vec::new();
    for k in &hostile {
        // Some servers normalise or refuse such keys themselves; those that store them test pail.
        if r.put_raw_key(k, b"evil").is_ok() {
            written.push(k.clone());
        }
    }
    r.put_foreign("fine.txt", b"fine");
    a.sync();
    let parent = a.folder.parent().unwrap();
    assert!(!parent.join("escaped.txt").exists());
    assert!(!parent.join("b.txt").exists());
    assert!(!std::path::Path::new("/abs.txt").exists());
    let files = a.files();
    assert_eq!(
        files.keys().collect::<Vec<_>>(),
        vec!["fine.txt"],
        "only the safe key is written"
    );
    let st = a.status_json();
    let skipped = st["pairs"][0]["skipped"].as_array().unwrap();
    for k in &written {
        assert!(
            skipped.iter().any(|e| e["path"] == k.as_str()),
            "{k} must be reported, got {skipped:?}"
        );
    }
}
on_servers!(hostile_remote_keys_never_escape_the_folder);

fn over_long_names_are_reported(s: Server) {
    let r = Remote::new(&s, "long-names");
    let a = Device::new(&r, "a");
    // A 300-byte segment cannot be a file name on Linux (NAME_MAX 255).
    let long = "x".repeat(300);
    let ok = r.put_raw_key(&format!("{}/{long}.txt", r.prefix), b"long");
    a.write("normal.txt", b"n");
    a.sync();
    assert!(r.files().contains_key("normal.txt"));
    if ok.is_ok() {
        let st = a.status_json();
        let skipped = st["pairs"][0]["skipped"].as_array().unwrap();
        assert!(
            skipped
                .iter()
                .any(|e| e["path"].as_str().unwrap().contains(&long)),
            "{skipped:?}"
        );
    }
}
on_servers!(over_long_names_are_reported);

fn unicode_and_special_characters_round_trip(s: Server) {
    let r = Remote::new(&s, "unicode");
    let a = Device::new(&r, "a");
    let names = [
        "café.txt",
        "日本語/ファイル.md",
        "with space & plus+.txt",
        "percent%20sign.txt",
        "q?mark#hash.txt",
    ];
    for n in names {
        a.write(n, n.as_bytes());
    }
    a.sync();
    let b = Device::new(&r, "b");
    b.sync();
    assert_eq!(a.files(), b.files());
    for n in names {
        assert_eq!(b.read(n).unwrap(), n.as_bytes());
    }
}
on_servers!(unicode_and_special_characters_round_trip);
