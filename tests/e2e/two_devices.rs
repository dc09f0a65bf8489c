//! Two devices on one prefix: every pairing of concurrent changes converges and loses nothing.

use crate::harness::*;
use crate::on_servers;

/// Two devices that have both synced `seed` files.
pub(crate) fn pair(s: &Server, test: &str, seed: &[(&str, &[u8])]) -> (Remote, Device, Device) {
    let r = Remote::new(s, test);
    let a = Device::new(&r, "alpha");
    for (p, c) in seed {
        a.write(p, c);
    }
    a.sync();
    let b = Device::new(&r, "beta");
    b.sync();
    assert_eq!(a.files(), b.files());
    (r, a, b)
}

/// Syncs both devices twice and checks that they and the bucket agree.
fn converge(r: &Remote, a: &Device, b: &Device) {
    a.sync();
    b.sync();
    a.sync();
    b.sync();
    assert_eq!(a.files(), b.files(), "devices differ");
    assert_eq!(a.files(), r.files(), "device and bucket differ");
}

fn edit_edit_keeps_both(s: Server) {
    let (r, a, b) = pair(&s, "edit-edit", &[("notes.txt", b"base")]);
    a.write("notes.txt", b"alpha's edit");
    b.write("notes.txt", b"beta's edit");
    a.sync();
    b.sync();
    converge(&r, &a, &b);
    let files = a.files();
    // The remote (first synced: alpha) keeps the name; beta's edit is a conflict copy.
    assert_eq!(files["notes.txt"], b"alpha's edit");
    let copies = conflict_copies(&files);
    assert_eq!(copies.len(), 1, "{:?}", files.keys());
    assert!(
        copies[0].0.starts_with("notes (conflict from beta ") && copies[0].0.ends_with(").txt"),
        "{}",
        copies[0].0
    );
    assert_eq!(copies[0].1, b"beta's edit");
    assert_eq!(b.status_json()["pairs"][0]["conflicts"], 1);
}
on_servers!(edit_edit_keeps_both);

fn edit_delete_edit_wins(s: Server) {
    let (r, a, b) = pair(
        &s,
        "edit-delete",
        &[("x.txt", b"base"), ("other.txt", b"o")],
    );
    a.write("x.txt", b"edited");
    b.remove("x.txt");
    b.sync();
    a.sync();
    converge(&r, &a, &b);
    assert_eq!(a.files()["x.txt"], b"edited");
}
on_servers!(edit_delete_edit_wins);

fn delete_edit_edit_wins(s: Server) {
    let (r, a, b) = pair(
        &s,
        "delete-edit",
        &[("x.txt", b"base"), ("other.txt", b"o")],
    );
    a.remove("x.txt");
    b.write("x.txt", b"edited by beta");
    b.sync();
    a.sync();
    converge(&r, &a, &b);
    assert_eq!(a.files()["x.txt"], b"edited by beta");
    // And the other order: the delete reaches the bucket first.
    let (r, a, b) = pair(
        &s,
        "delete-edit-2",
        &[("y.txt", b"base"), ("other.txt", b"o")],
    );
    a.remove("y.txt");
    b.write("y.txt", b"edited by beta");
    a.sync();
    b.sync();
    converge(&r, &a, &b);
    assert_eq!(b.files()["y.txt"], b"edited by beta");
}
on_servers!(delete_edit_edit_wins);

/// The delete and the edit cross in flight: alpha's DELETE of `x.txt` is held 8 s by a proxy,
/// and in that time beta's sync uploads its edit. Where the server honours If-Match (moto) the
/// DELETE then fails (412) and alpha takes the edit; where it ignores conditions but keeps
/// versions (Ceph RGW), alpha's race check finds beta's version right below its delete
/// marker and brings it back as the file. Either way the edit wins everywhere (tenet 3).
/// (Garage, without versions, is `an_edit_beats_a_delete_that_raced_it_without_versions`.)
fn an_edit_beats_a_delete_that_crossed_it(s: Server) {
    use crate::faultproxy::{Fault, FaultProxy};
    use std::time::{Duration, Instant};
    let r = Remote::new(&s, "crossed-delete");
    let proxy = FaultProxy::start(&s.endpoint, 7);
    let a = Device::new_via(&r, "alpha", &proxy.endpoint);
    a.write("x.txt", b"base");
    a.write("other.txt", b"o");
    a.sync();
    let b = Device::new(&r, "beta");
    b.sync();
    let held = Duration::from_secs(8);
    proxy.set_kinds(&[Fault::Stall]);
    proxy.set_stall(held, held);
    proxy.only(hyper::Method::DELETE, "/x.txt");
    proxy.set_rate(1.0);
    a.remove("x.txt");
    b.write("x.txt", b"edited by beta");
    let crossed = std::thread::scope(|scope| {
        let deleting = scope.spawn(|| a.sync());
        let start = Instant::now();
        while proxy.counts().stall == 0 {
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "alpha's DELETE never came"
            );
            std::thread::sleep(Duration::from_millis(20));
        }
        let held_since = Instant::now();
        b.sync();
        let crossed = held_since.elapsed() < held;
        deleting.join().unwrap();
        crossed
    });
    proxy.set_rate(0.0);
    converge(&r, &a, &b);
    assert_eq!(a.files()["x.txt"], b"edited by beta");
    assert!(
        conflict_copies(&a.files()).is_empty(),
        "{:?}",
        a.files().keys()
    );
    if !crossed {
        eprintln!("{}: beta's sync took longer than the held DELETE", s.name);
    }
}
on_servers!(an_edit_beats_a_delete_that_crossed_it: ceph, moto);

fn new_new_different_content_conflicts(s: Server) {
    let (r, a, b) = pair(&s, "new-new", &[]);
    a.write("same-name.md", b"from alpha");
    b.write("same-name.md", b"from beta");
    a.sync();
    b.sync();
    converge(&r, &a, &b);
    let files = a.files();
    assert_eq!(files["same-name.md"], b"from alpha");
    let copies = conflict_copies(&files);
    assert_eq!(copies.len(), 1);
    assert_eq!(copies[0].1, b"from beta");
}
on_servers!(new_new_different_content_conflicts);

fn new_new_equal_content_is_not_a_conflict(s: Server) {
    let (r, a, b) = pair(&s, "new-equal", &[]);
    a.write("same.txt", b"identical");
    b.write("same.txt", b"identical");
    a.sync();
    b.sync();
    converge(&r, &a, &b);
    assert!(conflict_copies(&a.files()).is_empty());
    if s.versioned {
        assert_eq!(
            r.version_count("same.txt"),
            1,
            "equal content must not be uploaded twice"
        );
    }
}
on_servers!(new_new_equal_content_is_not_a_conflict);

fn rename_on_one_side_edit_on_the_other(s: Server) {
    let (r, a, b) = pair(&s, "rename-edit", &[("old.txt", b"original content")]);
    std::fs::rename(a.path("old.txt"), a.path("new.txt")).unwrap();
    b.write("old.txt", b"edited on beta");
    a.sync();
    b.sync();
    converge(&r, &a, &b);
    let files = a.files();
    // Nothing lost: the edit stays at the old name, the original content at the new one.
    assert_eq!(files["old.txt"], b"edited on beta");
    assert_eq!(files["new.txt"], b"original content");
}
on_servers!(rename_on_one_side_edit_on_the_other);

fn rename_is_a_server_side_copy(s: Server) {
    let (r, a, b) = pair(&s, "rename", &[("photos/img.jpg", &[42u8; 50_000])]);
    std::fs::create_dir_all(a.path("archive")).unwrap();
    std::fs::rename(a.path("photos/img.jpg"), a.path("archive/img.jpg")).unwrap();
    let out = a.sync();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("1 copied server-side") && stdout.contains("0 uploaded"),
        "{stdout}"
    );
    b.sync();
    assert_eq!(b.read("archive/img.jpg").unwrap(), vec![42u8; 50_000]);
    assert!(b.read("photos/img.jpg").is_none());
    assert!(!b.path("photos").exists(), "emptied directory is removed");
    converge(&r, &a, &b);
}
on_servers!(rename_is_a_server_side_copy);

fn remote_edit_while_local_unchanged_downloads(s: Server) {
    let (r, a, b) = pair(&s, "fast-forward", &[("a.txt", b"v1"), ("b.txt", b"v1")]);
    a.write("a.txt", b"v2 from alpha");
    a.sync();
    b.sync();
    assert_eq!(b.read("a.txt").unwrap(), b"v2 from alpha");
    converge(&r, &a, &b);
    assert!(conflict_copies(&a.files()).is_empty());
}
on_servers!(remote_edit_while_local_unchanged_downloads);

/// 19 files synced on both devices, 10 of them in `X/`; beta renames the folder and syncs.
/// Alpha's next sync moves the folder too: a rename is not a mass delete, so it must not
/// stop for safety (tenet 7; a listing carries no content hashes, issue 16).
fn folder_renamed_on_one_device_moves_on_the_other(s: Server) {
    let names: Vec<(String, Vec<u8>)> = (0..9)
        .map(|i| (format!("top{i}.txt"), format!("top {i}").into_bytes()))
        .chain((0..10).map(|i| (format!("X/f{i}.txt"), format!("inside {i}").into_bytes())))
        .collect();
    let seed: Vec<(&str, &[u8])> = names
        .iter()
        .map(|(p, c)| (p.as_str(), c.as_slice()))
        .collect();
    let (r, a, b) = pair(&s, "folder-rename", &seed);
    std::fs::rename(b.path("X"), b.path("Y")).unwrap();
    assert_ok(&b.sync(), "beta syncs the rename");
    assert_ok(&a.sync(), "alpha follows without a safety stop");
    converge(&r, &a, &b);
    let files = a.files();
    assert!(
        !files.keys().any(|k| k.starts_with("X/")),
        "{:?}",
        files.keys()
    );
    assert_eq!(files["Y/f3.txt"], b"inside 3");
    assert_eq!(files.len(), 19);
}
on_servers!(folder_renamed_on_one_device_moves_on_the_other);
