use std::fs;
use std::os::unix::fs::symlink;
use std::process::Command;

use pail_core::ContentHash;
use pail_core::plan::LocalExpect;
use pail_index::stat_path;

use super::*;
use crate::localfs::{
    LocalError, TempWriter, move_no_replace, place, remove_expected, still_expected,
};

/// A folder and a sentinel directory beside it, which nothing may touch.
struct Setup {
    _d: tempfile::TempDir,
    folder: PathBuf,
    outside: PathBuf,
}

fn setup() -> Setup {
    let d = tempfile::tempdir().unwrap();
    let folder = d.path().join("folder");
    let outside = d.path().join("outside");
    fs::create_dir_all(&folder).unwrap();
    fs::create_dir_all(outside.join("sub")).unwrap();
    fs::write(outside.join("sub/x.txt"), b"sentinel").unwrap();
    Setup {
        _d: d,
        folder,
        outside,
    }
}

fn listing(dir: &Path) -> Vec<String> {
    let mut out: Vec<String> = walk(dir)
        .into_iter()
        .map(|p| p.strip_prefix(dir).unwrap().display().to_string())
        .collect();
    out.sort();
    out
}

fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.symlink_metadata().unwrap().is_dir() {
            out.extend(walk(&p));
        }
        out.push(p);
    }
    out
}

fn write(root: &SafeRoot, rel: &str, body: &[u8]) -> Result<LocalStat, LocalError> {
    let mut w = TempWriter::create(root, Path::new(rel))?;
    w.write(body).unwrap();
    place(w.finish(None).unwrap(), root, &LocalExpect::Absent)
}

fn boundary(e: LocalError) -> Boundary {
    match e {
        LocalError::Safe(SafeError::Boundary { kind, .. }) => kind,
        other => panic!("expected a boundary error, got {other}"),
    }
}

#[test]
fn a_symlinked_component_is_refused_and_nothing_lands_outside() {
    let s = setup();
    symlink(&s.outside, s.folder.join("link")).unwrap();
    let before = listing(&s.outside);
    let root = SafeRoot::open(&s.folder).unwrap();

    let err = write(&root, "link/sub/new.txt", b"from the bucket").unwrap_err();
    assert_eq!(boundary(err), Boundary::Symlink);
    let msg = write(&root, "link/new.txt", b"x").unwrap_err().to_string();
    assert!(
        msg.contains("is below a symlink") && msg.contains("link/new.txt"),
        "{msg}"
    );

    // Deletes, moves and checks are refused the same way.
    let expect = LocalExpect::Is {
        stat: stat_path(&s.outside.join("sub/x.txt")).unwrap(),
        hash: ContentHash([0; 32]),
    };
    let rel = Path::new("link/sub/x.txt");
    assert_eq!(
        boundary(remove_expected(&root, rel, &expect).unwrap_err()),
        Boundary::Symlink
    );
    assert_eq!(
        boundary(still_expected(&root, rel, &expect).unwrap_err()),
        Boundary::Symlink
    );
    assert_eq!(
        boundary(move_no_replace(&root, rel, Path::new("stolen.txt")).unwrap_err()),
        Boundary::Symlink
    );
    fs::write(s.folder.join("mine.txt"), b"m").unwrap();
    assert_eq!(
        boundary(
            move_no_replace(&root, Path::new("mine.txt"), Path::new("link/m.txt")).unwrap_err()
        ),
        Boundary::Symlink
    );
    assert!(root.open_scanned(rel, &expect_stat(&expect)).is_err());

    assert_eq!(listing(&s.outside), before);
    assert_eq!(fs::read(s.outside.join("sub/x.txt")).unwrap(), b"sentinel");
}

fn expect_stat(e: &LocalExpect) -> LocalStat {
    match e {
        LocalExpect::Is { stat, .. } => *stat,
        LocalExpect::Absent => unreachable!(),
    }
}

#[test]
fn a_file_in_the_way_is_a_boundary_too() {
    let s = setup();
    fs::write(s.folder.join("f"), b"file").unwrap();
    let root = SafeRoot::open(&s.folder).unwrap();
    assert_eq!(
        boundary(write(&root, "f/x.txt", b"x").unwrap_err()),
        Boundary::NotDir
    );
    assert_eq!(fs::read(s.folder.join("f")).unwrap(), b"file");
}

#[test]
fn a_symlink_as_the_last_component_is_never_followed() {
    let s = setup();
    let outside_file = s.outside.join("sub/x.txt");
    symlink(&outside_file, s.folder.join("x.txt")).unwrap();
    let root = SafeRoot::open(&s.folder).unwrap();
    // The plan expected the file the link points to: the link itself does not match.
    let expect = LocalExpect::Is {
        stat: stat_path(&outside_file).unwrap(),
        hash: ContentHash([0; 32]),
    };
    assert!(!still_expected(&root, Path::new("x.txt"), &expect).unwrap());
    let mut w = TempWriter::create(&root, Path::new("x.txt")).unwrap();
    w.write(b"remote").unwrap();
    assert!(matches!(
        place(w.finish(None).unwrap(), &root, &expect),
        Err(LocalError::Changed(_))
    ));
    // Create-if-absent does not follow it either.
    assert!(matches!(
        write(&root, "x.txt", b"remote"),
        Err(LocalError::Changed(_))
    ));
    assert!(matches!(
        remove_expected(&root, Path::new("x.txt"), &expect),
        Err(LocalError::Changed(_))
    ));
    // Reading for an upload does not follow it.
    assert!(
        root.open_scanned(Path::new("x.txt"), &expect_stat(&expect))
            .unwrap()
            .is_none()
    );
    assert_eq!(fs::read(&outside_file).unwrap(), b"sentinel");
    assert!(
        fs::symlink_metadata(s.folder.join("x.txt"))
            .unwrap()
            .is_symlink()
    );
    assert_eq!(listing(&s.folder), ["x.txt"], "no temp file left");
}

#[test]
fn a_directory_swapped_for_a_symlink_after_the_temp_file_is_not_written_through() {
    let s = setup();
    fs::create_dir(s.folder.join("sub")).unwrap();
    let root = SafeRoot::open(&s.folder).unwrap();
    let mut w = TempWriter::create(&root, Path::new("sub/x.txt")).unwrap();
    w.write(b"remote").unwrap();
    let dl = w.finish(None).unwrap();
    // The user moves the directory out and links it back in.
    fs::rename(s.folder.join("sub"), s.outside.join("moved")).unwrap();
    symlink(s.outside.join("moved"), s.folder.join("sub")).unwrap();
    assert_eq!(
        boundary(place(dl, &root, &LocalExpect::Absent).unwrap_err()),
        Boundary::Symlink
    );
    assert_eq!(listing(&s.outside.join("moved")), Vec::<String>::new());
}

#[test]
fn reading_for_an_upload_checks_the_scanned_inode() {
    let s = setup();
    let f = s.folder.join("a.txt");
    fs::write(&f, b"one").unwrap();
    let scanned = stat_path(&f).unwrap();
    let root = SafeRoot::open(&s.folder).unwrap();
    assert!(
        root.open_scanned(Path::new("a.txt"), &scanned)
            .unwrap()
            .is_some()
    );
    // Swapped for another file of the same size.
    fs::write(s.folder.join("b.txt"), b"two").unwrap();
    fs::rename(s.folder.join("b.txt"), &f).unwrap();
    assert!(
        root.open_scanned(Path::new("a.txt"), &scanned)
            .unwrap()
            .is_none()
    );
    assert!(
        root.open_scanned(Path::new("gone.txt"), &scanned)
            .unwrap()
            .is_none()
    );
}

/// After a PUT, the upload stats the file through the handle it read from (`open_stat`): an
/// edit, a deletion, a rename over it and a rename of it must each show, or the upload would
/// be recorded for a file that is no longer what was sent.
#[test]
fn an_open_file_shows_edits_deletion_and_renames() {
    use std::io::Write;
    type Change = fn(&Path, &Path);
    let changes: [(&str, Change, bool); 5] = [
        ("nothing", |_, _| {}, true),
        (
            "appended to",
            |f, _| {
                fs::OpenOptions::new()
                    .append(true)
                    .open(f)
                    .unwrap()
                    .write_all(b"!")
                    .unwrap();
            },
            true,
        ),
        ("deleted", |f, _| fs::remove_file(f).unwrap(), false),
        (
            "replaced by a rename over it",
            |f, dir| {
                fs::write(dir.join("new.txt"), b"one").unwrap();
                fs::rename(dir.join("new.txt"), f).unwrap();
            },
            false,
        ),
        // Linux marks a renamed file's ctime.
        (
            "renamed",
            |f, dir| fs::rename(f, dir.join("elsewhere.txt")).unwrap(),
            true,
        ),
    ];
    for (what, change, linked) in changes {
        let s = setup();
        let f = s.folder.join("a.txt");
        fs::write(&f, b"one").unwrap();
        let scanned = stat_path(&f).unwrap();
        let root = SafeRoot::open(&s.folder).unwrap();
        let file = root
            .open_scanned(Path::new("a.txt"), &scanned)
            .unwrap()
            .unwrap();
        assert!(
            same_stat(&open_stat(&file).unwrap().unwrap(), &scanned),
            "{what}"
        );
        // Past the clock tick of the write above, so a change moves the times.
        std::thread::sleep(std::time::Duration::from_millis(20));
        change(&f, &s.folder);
        let now = open_stat(&file).unwrap();
        assert_eq!(now.is_some(), linked, "{what}");
        let unchanged = now.is_some_and(|now| same_stat(&now, &scanned));
        assert_eq!(unchanged, what == "nothing", "{what}");
    }
}

#[test]
fn paths_that_leave_the_folder_are_refused() {
    let s = setup();
    let root = SafeRoot::open(&s.folder).unwrap();
    for bad in ["../outside/sub/y.txt", "/etc/passwd", ""] {
        assert!(
            matches!(
                root.parent(Path::new(bad), true),
                Err(SafeError::NotInside(_))
            ),
            "{bad}"
        );
    }
}

/// A tmpfs mounted inside a directory, unmounted when dropped (even when a test fails).
struct Mount(PathBuf);

impl Mount {
    fn tmpfs(at: &Path) -> Option<Mount> {
        Mount::run(&["-t", "tmpfs", "-o", "size=1m", "tmpfs"], at)
    }

    fn bind(from: &Path, at: &Path) -> Option<Mount> {
        Mount::run(&["--bind", from.to_str().unwrap()], at)
    }

    fn run(args: &[&str], at: &Path) -> Option<Mount> {
        fs::create_dir_all(at).unwrap();
        let out = Command::new("mount").args(args).arg(at).output();
        match out {
            Ok(o) if o.status.success() => Some(Mount(at.to_owned())),
            Ok(o) => {
                println!(
                    "skipped: cannot mount (needs root): {}",
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

#[test]
fn a_mount_point_inside_the_folder_is_refused() {
    let s = setup();
    let Some(_mount) = Mount::tmpfs(&s.folder.join("mnt")) else {
        return;
    };
    let root = SafeRoot::open(&s.folder).unwrap();
    assert_eq!(
        boundary(write(&root, "mnt/x.txt", b"x").unwrap_err()),
        Boundary::MountPoint
    );
    assert_eq!(
        boundary(write(&root, "mnt/deep/x.txt", b"x").unwrap_err()),
        Boundary::MountPoint
    );
    assert_eq!(listing(&s.folder.join("mnt")), Vec::<String>::new());
}

#[test]
fn a_bind_mount_of_the_same_disk_is_refused_too() {
    let s = setup();
    // Same filesystem, same device number: only the mount id tells.
    let Some(_mount) = Mount::bind(&s.outside, &s.folder.join("bind")) else {
        return;
    };
    let root = SafeRoot::open(&s.folder).unwrap();
    if root.mount.is_none() {
        println!("skipped: this system does not tell mount ids (statx STATX_MNT_ID)");
        return;
    }
    assert_eq!(
        boundary(write(&root, "bind/sub/new.txt", b"x").unwrap_err()),
        Boundary::MountPoint
    );
    let mut b = crate::boundary::Boundaries::new(s.folder.clone()).unwrap();
    let p = pail_core::RelPath::new("bind/sub/x.txt").unwrap();
    assert!(b.excludes(&p, true));
    assert!(!s.outside.join("sub/new.txt").exists());
}
