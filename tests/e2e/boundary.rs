//! The folder is a boundary (tenet 13): keys below a local symlink or mount point are left
//! alone on both sides, and a file edited on another device keeps its permissions here.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;
use crate::on_servers;

/// A directory beside the device's folder with a sentinel in it, which nothing may touch.
fn sentinel_dir(d: &Device) -> PathBuf {
    let outside = d.folder.parent().unwrap().join("outside");
    std::fs::create_dir_all(outside.join("sub")).unwrap();
    std::fs::write(outside.join("sub/sentinel"), b"untouched").unwrap();
    outside
}

fn tree(dir: &Path) -> Vec<String> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        out.push(p.display().to_string());
        if p.symlink_metadata().unwrap().is_dir() {
            out.extend(tree(&p));
        }
    }
    out.sort();
    out
}

fn skipped_reason(d: &Device, path: &str) -> Option<String> {
    let st = d.status_json();
    st["pairs"][0]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .find(|e| e["path"] == path)
        .map(|e| e["reason"].as_str().unwrap().to_owned())
}

fn keys_below_a_symlink_are_left_alone(s: Server) {
    let r = Remote::new(&s, "below-symlink");
    let a = Device::new(&r, "a");
    let outside = sentinel_dir(&a);
    let before = tree(&outside);
    a.write("top.txt", b"t");
    std::os::unix::fs::symlink(&outside, a.path("link")).unwrap();
    r.put_foreign("link/sub/x.txt", b"from another client");
    r.put_foreign("link/new.txt", b"from another client");

    let out = a.sync();
    assert_eq!(tree(&outside), before, "nothing written through the link");
    assert_eq!(
        std::fs::read(outside.join("sub/sentinel")).unwrap(),
        b"untouched"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("below a symlink"), "{}", text(&out));
    // Again: the keys stay in the bucket, reported, never deleted.
    a.sync();
    let files = r.files();
    assert!(files.contains_key("link/sub/x.txt"), "{files:?}");
    assert!(files.contains_key("link/new.txt"), "{files:?}");
    assert!(files.contains_key("top.txt"), "{files:?}");
    assert_eq!(
        skipped_reason(&a, "link/sub/x.txt").as_deref(),
        Some("below a symlink (link): not synced")
    );
    assert_eq!(tree(&outside), before);
}
on_servers!(keys_below_a_symlink_are_left_alone);

/// A tmpfs mounted on a directory, unmounted when dropped (also when the test fails).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path) -> Option<Mount> {
        std::fs::create_dir_all(at).unwrap();
        let out = Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(at)
            .output();
        match out {
            Ok(o) if o.status.success() => Some(Mount(at.to_owned())),
            Ok(o) => {
                println!(
                    "skipped: cannot mount a tmpfs (needs root): {}",
                    String::from_utf8_lossy(&o.stderr).trim()
                );
                None
            }
            Err(e) => {
                println!("skipped: cannot run mount: {e}");
                None
            }
        }
    }
}

impl Drop for Mount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg(&self.0).status();
    }
}

fn keys_below_a_mount_point_are_left_alone(s: Server) {
    let r = Remote::new(&s, "below-mount");
    let a = Device::new(&r, "a");
    a.write("top.txt", b"t");
    let Some(_mount) = Mount::tmpfs(&a.path("mnt")) else {
        return;
    };
    std::fs::write(a.path("mnt/on-the-other-disk"), b"theirs").unwrap();
    r.put_foreign("mnt/sub/x.txt", b"from another client");
    let out = a.sync();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("below a mount point"), "{}", text(&out));
    a.sync();
    assert_eq!(
        tree(&a.path("mnt")),
        [a.path("mnt/on-the-other-disk").display().to_string()]
    );
    let files = r.files();
    assert!(files.contains_key("mnt/sub/x.txt"), "{files:?}");
    assert!(!files.contains_key("mnt/on-the-other-disk"), "{files:?}");
    assert_eq!(
        skipped_reason(&a, "mnt/sub/x.txt").as_deref(),
        Some("below a mount point (mnt): not synced")
    );
}
on_servers!(keys_below_a_mount_point_are_left_alone);

fn mode(p: &Path) -> u32 {
    std::fs::metadata(p).unwrap().permissions().mode() & 0o7777
}

fn a_private_file_edited_elsewhere_stays_private(s: Server) {
    let r = Remote::new(&s, "modes");
    let a = Device::new(&r, "a");
    let b = Device::new(&r, "b");
    a.write("private.txt", b"secret");
    std::fs::set_permissions(
        a.path("private.txt"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    a.sync();
    b.sync();
    b.write("private.txt", b"secret, edited on b");
    b.write("new.txt", b"new on b");
    b.sync();
    a.sync();
    assert_eq!(a.read("private.txt").unwrap(), b"secret, edited on b");
    assert_eq!(mode(&a.path("private.txt")), 0o600);
    // A new file gets what any new file here gets: 0666 less the umask (pail inherits the
    // test's umask).
    let by_hand = a.folder.parent().unwrap().join("by-hand");
    std::fs::write(&by_hand, b"x").unwrap();
    assert_eq!(mode(&a.path("new.txt")), mode(&by_hand));

    // Both edit: the name gets b's content and keeps its permissions; the copy is a's file.
    b.write("private.txt", b"b again");
    b.sync();
    a.write("private.txt", b"a meanwhile");
    a.sync();
    assert_eq!(a.read("private.txt").unwrap(), b"b again");
    assert_eq!(mode(&a.path("private.txt")), 0o600);
    let files = a.files();
    let copies = conflict_copies(&files);
    assert_eq!(copies.len(), 1, "{files:?}");
    assert_eq!(mode(&a.path(copies[0].0)), 0o600);
}
on_servers!(a_private_file_edited_elsewhere_stays_private);

/// `restore --to` into the folder goes through the folder's directory handles like the sync:
/// a path through a symlink there is refused, and nothing lands where the link points.
fn restore_to_never_writes_through_a_symlink_in_the_folder(s: Server) {
    let r = Remote::new(&s, "restore-symlink");
    let a = Device::new(&r, "a");
    let outside = sentinel_dir(&a);
    let before = tree(&outside);
    a.write("f.txt", b"content");
    a.sync();
    std::os::unix::fs::symlink(&outside, a.path("link")).unwrap();
    let target = a.path("link/f.txt");
    let out = a.pail(&[
        "restore",
        a.path("f.txt").to_str().unwrap(),
        "--to",
        target.to_str().unwrap(),
    ]);
    assert_code(&out, 1, "restore --to through a symlink");
    assert!(text(&out).contains("is below a symlink"), "{}", text(&out));
    assert_eq!(tree(&outside), before);
    // Beside the folder, where the user points it, it writes as before.
    let elsewhere = outside.join("copy.txt");
    let out = a.pail(&[
        "restore",
        a.path("f.txt").to_str().unwrap(),
        "--to",
        elsewhere.to_str().unwrap(),
    ]);
    assert_ok(&out, "restore --to beside the folder");
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"content");
}
on_servers!(restore_to_never_writes_through_a_symlink_in_the_folder: moto);
