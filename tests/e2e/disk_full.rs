//! A full disk loses nothing (tenets 1 and 6): under the folder, a download that cannot fit
//! is refused or stopped with a clear error, leaves no temp file, and comes down once there
//! is room; under the state directory, the sync stops with a clear error and the next one,
//! once there is room, brings every change on both sides.
//!
//! Both mount a small tmpfs, which needs root: without it they print why and pass.

use std::path::{Path, PathBuf};
use std::process::Command;

use crate::harness::*;
use crate::on_servers;

/// A tmpfs mounted for the test, unmounted when dropped (also when the test fails).
struct Tmpfs {
    dir: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `size` (as `mount -o size=` takes it) on `dir`; `None` when not root.
    fn mount(dir: &Path, size: &str) -> Option<Tmpfs> {
        let uid = Command::new("id").arg("-u").output().expect("id -u");
        if String::from_utf8_lossy(&uid.stdout).trim() != "0" {
            eprintln!("skipped: mounting a tmpfs needs root");
            return None;
        }
        std::fs::create_dir_all(dir).unwrap();
        let st = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size},mode=0700")])
            .arg("tmpfs")
            .arg(dir)
            .status()
            .expect("mount");
        assert!(st.success(), "mount -t tmpfs on {}", dir.display());
        Some(Tmpfs {
            dir: dir.to_owned(),
        })
    }

    /// Changes its size (the files stay: same filesystem, same root inode).
    fn resize(&self, size: &str) {
        let st = Command::new("mount")
            .args(["-o", &format!("remount,size={size}")])
            .arg(&self.dir)
            .status()
            .expect("mount -o remount");
        assert!(st.success(), "remount {} to {size}", self.dir.display());
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let ok = Command::new("umount")
            .arg(&self.dir)
            .status()
            .is_ok_and(|s| s.success());
        if !ok {
            // Busy (a pail still running after a failed assertion): detach it anyway.
            let _ = Command::new("umount").arg("-l").arg(&self.dir).status();
        }
    }
}

fn no_temp_files(d: &Device) {
    let temps: Vec<String> = d
        .files()
        .into_keys()
        .filter(|k| k.contains(".pail-tmp-"))
        .collect();
    assert!(temps.is_empty(), "temp files left: {temps:?}");
}

fn mib(n: usize) -> Vec<u8> {
    (0..n << 20).map(|i| (i % 253) as u8).collect()
}

fn a_full_folder_refuses_big_downloads_and_recovers(s: Server) {
    let r = Remote::new(&s, "full-folder");
    let a = Device::uninit(&r, "a");
    let Some(fs) = Tmpfs::mount(&a.folder, "2m") else {
        return;
    };
    assert_ok(&a.init(), "init");
    let big = mib(3);
    r.put_foreign("big.bin", &big);
    r.put_foreign("small/one.txt", b"one");
    r.put_foreign("small/two.txt", b"two");

    // 3 MiB cannot fit in 2: refused before it starts; the small files still come down.
    let out = a.pail(&["sync"]);
    assert_code(&out, 1, "sync into a folder too small");
    let folder = a.folder.display().to_string();
    assert!(
        text(&out).contains(&format!(
            "not enough space in {folder} for big.bin (needs 3.0 MiB, "
        )),
        "{}",
        text(&out)
    );
    assert_eq!(a.read("small/one.txt").as_deref(), Some(&b"one"[..]));
    assert_eq!(a.read("small/two.txt").as_deref(), Some(&b"two"[..]));
    assert_eq!(a.read("big.bin"), None);
    no_temp_files(&a);
    let j = a.status_json();
    assert!(
        j["pairs"][0]["errors"]
            .to_string()
            .contains("not enough space"),
        "{j}"
    );

    // With room, the next pass brings it.
    fs.resize("8m");
    a.sync();
    assert_eq!(a.read("big.bin"), Some(big.clone()));

    // A file under the check's threshold that still does not fit runs out while writing:
    // the same error, and no partial file.
    let used = 3 * 1024 + 2 * 4; // KiB: big.bin and the two small files' pages
    fs.resize(&format!("{}k", used + 256));
    let mid: Vec<u8> = (0..900 * 1024).map(|i| (i % 241) as u8).collect();
    r.put_foreign("mid.bin", &mid);
    let out = a.pail(&["sync"]);
    assert_code(&out, 1, "sync that runs out of space while writing");
    assert!(
        text(&out).contains(&format!(
            "not enough space in {folder} for mid.bin (needs 900.0 KiB, "
        )),
        "{}",
        text(&out)
    );
    assert_eq!(a.read("mid.bin"), None);
    no_temp_files(&a);
    fs.resize("8m");
    a.sync();
    assert_eq!(a.read("mid.bin"), Some(mid));
    assert_eq!(a.files(), r.files());
}
// tmpfs behaves the same whatever the server; one server keeps the suite short.
on_servers!(a_full_folder_refuses_big_downloads_and_recovers: ceph, garage);

/// Fills the filesystem of `dir` with a file until the disk is full.
fn fill(dir: &Path) -> PathBuf {
    use std::io::Write;
    let path = dir.join("filler");
    let mut f = std::fs::File::create(&path).unwrap();
    let chunk = vec![0u8; 4096];
    loop {
        match f.write_all(&chunk) {
            Ok(()) => {}
            Err(e) if e.raw_os_error() == Some(28) => break,
            Err(e) => panic!("filling {}: {e}", dir.display()),
        }
    }
    // Partly written chunks may still sit in the page cache: make the disk really full.
    let _ = f.sync_all();
    path
}

fn a_full_state_disk_stops_the_sync_and_loses_nothing(s: Server) {
    let r = Remote::new(&s, "full-state");
    let a = Device::uninit(&r, "a");
    let Some(_fs) = Tmpfs::mount(&a.state, "4m") else {
        return;
    };
    assert_ok(&a.init(), "init");
    a.write("mine.txt", b"mine v1");
    a.write("theirs.txt", b"theirs v1");
    a.sync();

    let filler = fill(&a.state);
    a.write("mine.txt", b"mine v2, edited while the state disk was full");
    a.write("new.txt", b"new while the state disk was full");
    r.put_foreign("theirs.txt", b"theirs v2, from another client");
    let out = a.pail(&["sync"]);
    assert_code(&out, 1, "sync with a full state disk");
    let t = text(&out);
    assert!(
        t.contains("cannot write pail's index in") && t.contains("the disk is full"),
        "{t}"
    );
    assert!(!t.contains("SqliteFailure"), "no debug dumps: {t}");

    std::fs::remove_file(filler).unwrap();
    a.sync();
    let files = a.files();
    assert_eq!(
        files["mine.txt"],
        b"mine v2, edited while the state disk was full"
    );
    assert_eq!(files["new.txt"], b"new while the state disk was full");
    assert_eq!(files["theirs.txt"], b"theirs v2, from another client");
    assert!(conflict_copies(&files).is_empty(), "{files:?}");
    assert_eq!(r.files(), files);
    // And the sync after that has nothing left to do.
    let (p, out) = crate::heal::sync_json(&a);
    assert_ok(&out, "the sync after");
    assert_eq!(p["totals"]["uploads"], 0, "{p}");
    assert_eq!(p["totals"]["downloads"], 0, "{p}");
}
on_servers!(a_full_state_disk_stops_the_sync_and_loses_nothing: ceph, garage);
