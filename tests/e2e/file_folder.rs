//! A path that is a file on one side and a folder on the other, or both a key `d` and keys
//! `d/...` in the bucket: the folder keeps the name, the file that is in the way becomes a
//! conflict copy, and both devices converge with nothing lost (tenets 1, 4, 14).

use std::collections::BTreeMap;

use crate::harness::*;
use crate::on_servers;
use crate::torture::model::{bucket_contents, digest};
use crate::two_devices::pair;

/// Syncs both devices in turn until they agree with each other and the bucket (at most three
/// rounds), then checks that a last sync of each transfers nothing and that every content in
/// `written` is in the folder or kept by the bucket (a version, or the trash).
fn converge(r: &Remote, a: &Device, b: &Device, written: &[&[u8]]) -> BTreeMap<String, Vec<u8>> {
    let mut rounds = 0;
    loop {
        rounds += 1;
        a.sync();
        b.sync();
        if a.files() == b.files() && a.files() == r.files() {
            break;
        }
        assert!(
            rounds < 3,
            "not converged after 3 rounds: {:?} / {:?}",
            a.files().keys(),
            b.files().keys()
        );
    }
    for d in [a, b] {
        let out = d.sync();
        let stdout = String::from_utf8_lossy(&out.stdout);
        assert!(
            stdout.contains("0 uploaded, 0 copied server-side, 0 downloaded, 0 deleted locally, 0 deleted remotely, 0 conflict(s)")
                && stdout.contains("1 pass"),
            "a last sync on {} did something: {stdout}",
            d.name
        );
    }
    let files = a.files();
    let kept = bucket_contents(r);
    for body in written {
        assert!(
            files.values().any(|v| v == body) || kept.contains(&digest(body)),
            "lost {:?}; folder {files:?}",
            String::from_utf8_lossy(body)
        );
    }
    files
}

fn replace_with_folder(d: &Device, rel: &str, inner: &str, body: &[u8]) {
    d.remove(rel);
    d.write(&format!("{rel}/{inner}"), body);
}

fn replace_with_file(d: &Device, rel: &str, body: &[u8]) {
    std::fs::remove_dir_all(d.path(rel)).unwrap();
    d.write(rel, body);
}

/// (a) Another device replaced `file.txt` by a folder while it was edited here.
fn a_remote_file_replaced_by_a_folder_while_edited_here(s: Server) {
    let (r, a, b) = pair(&s, "ff-remote-folder", &[("file.txt", b"base")]);
    replace_with_folder(&b, "file.txt", "inner.txt", b"inner by beta");
    b.sync();
    a.write("file.txt", b"alpha's edit");
    let files = converge(&r, &a, &b, &[b"base", b"inner by beta", b"alpha's edit"]);
    assert_eq!(files["file.txt/inner.txt"], b"inner by beta");
    let copies = conflict_copies(&files);
    assert_eq!(copies.len(), 1, "{:?}", files.keys());
    assert!(
        copies[0].0.starts_with("file (conflict from alpha "),
        "{}",
        copies[0].0
    );
    assert_eq!(copies[0].1, b"alpha's edit");
}
on_servers!(a_remote_file_replaced_by_a_folder_while_edited_here);

/// (b) A folder replaced by a file here while the other device added a file inside it.
fn a_local_folder_replaced_by_a_file_while_the_other_device_adds_inside(s: Server) {
    let (r, a, b) = pair(&s, "ff-local-file", &[("d/x", b"x"), ("other", b"o")]);
    replace_with_file(&a, "d", b"d is a file now");
    b.write("d/y", b"y by beta");
    b.sync();
    let files = converge(&r, &a, &b, &[b"x", b"d is a file now", b"y by beta"]);
    assert_eq!(files["d/y"], b"y by beta");
    assert!(!files.contains_key("d/x"), "{:?}", files.keys());
    let copies = conflict_copies(&files);
    assert_eq!(copies.len(), 1, "{:?}", files.keys());
    assert_eq!(copies[0].1, b"d is a file now");
}
on_servers!(a_local_folder_replaced_by_a_file_while_the_other_device_adds_inside);

/// (c) Another S3 client wrote both `d` and `d/x` (and, two levels down, `t/a/b` and
/// `t/a/b/c/d`): the folders come down, each file becomes one conflict copy.
fn another_client_writes_a_file_and_a_folder_of_one_name(s: Server) {
    let (r, a, b) = pair(&s, "ff-both-keys", &[("other", b"o")]);
    r.put_foreign("d", b"the file d");
    r.put_foreign("d/x", b"x in the folder d");
    r.put_foreign("t/a/b", b"the file t/a/b");
    r.put_foreign("t/a/b/c/d", b"deep");
    let files = converge(
        &r,
        &a,
        &b,
        &[
            b"the file d",
            b"x in the folder d",
            b"the file t/a/b",
            b"deep",
        ],
    );
    assert_eq!(files["d/x"], b"x in the folder d");
    assert_eq!(files["t/a/b/c/d"], b"deep");
    let copies = conflict_copies(&files);
    assert_eq!(copies.len(), 2, "{:?}", files.keys());
    assert!(
        copies
            .iter()
            .all(|(k, _)| k.contains("(conflict from other client "))
    );
    let status = a.status_json();
    assert_eq!(
        status["pairs"][0]["skipped"].as_array().map(Vec::len),
        Some(0),
        "{status}"
    );
}
on_servers!(another_client_writes_a_file_and_a_folder_of_one_name);

/// (d) Replaced by a folder here while the other device edited the file.
fn a_local_file_replaced_by_a_folder_while_edited_remotely(s: Server) {
    let (r, a, b) = pair(&s, "ff-local-folder", &[("file.txt", b"base")]);
    b.write("file.txt", b"beta's edit");
    b.sync();
    replace_with_folder(&a, "file.txt", "inner.txt", b"inner by alpha");
    let files = converge(&r, &a, &b, &[b"base", b"beta's edit", b"inner by alpha"]);
    assert_eq!(files["file.txt/inner.txt"], b"inner by alpha");
    let copies = conflict_copies(&files);
    assert_eq!(copies.len(), 1, "{:?}", files.keys());
    assert!(
        copies[0].0.starts_with("file (conflict from beta "),
        "{}",
        copies[0].0
    );
    assert_eq!(copies[0].1, b"beta's edit");
}
on_servers!(a_local_file_replaced_by_a_folder_while_edited_remotely);
