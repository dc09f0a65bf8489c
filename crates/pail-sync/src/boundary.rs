//! The folder is a boundary (tenet 13): paths at or below a local symlink, mount point or
//! special file (FIFO, socket, device) are left out of the plan on both sides. The scan does
//! not descend into them, so without this every key below them would look like a remote
//! addition (downloaded through the link, out of the folder) or, once synced, like a local
//! delete (deleted from the bucket). They are reported as skipped instead; the bucket keeps
//! them and nothing is written for them. (A regular *file* where the bucket has a folder is a
//! file-versus-folder conflict, resolved elsewhere, not a boundary.)

use std::collections::HashMap;
use std::fs::FileType;
use std::os::unix::fs::{FileTypeExt, MetadataExt};
use std::path::PathBuf;

use pail_core::RelPath;

use crate::safe_dir::{Boundary, mount_id};

/// What a prefix of a path is on disk, as far as boundaries go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Found {
    /// A directory of the folder's filesystem: look further down.
    Dir,
    /// Absent, or a regular file: nothing below is a boundary.
    Open,
    Boundary(Boundary),
}

/// Finds boundaries by `lstat`, once per directory of the folder per pass.
#[derive(Debug)]
pub(crate) struct Boundaries {
    root: PathBuf,
    root_dev: u64,
    root_mount: Option<u64>,
    seen: HashMap<String, Found>,
    below: Vec<(String, String)>,
}

impl Boundaries {
    pub(crate) fn new(root: PathBuf) -> std::io::Result<Boundaries> {
        let root_dev = std::fs::metadata(&root)?.dev();
        // The root itself may be a symlink to the real folder: its mount is the target's.
        let root_mount = mount_id(rustix::fs::CWD, &root.join("."));
        Ok(Boundaries {
            root,
            root_dev,
            root_mount,
            seen: HashMap::new(),
            below: Vec::new(),
        })
    }

    /// Whether `path` is at or below a boundary and must stay out of the plan. A path below
    /// one is noted for the report (the boundary itself the scan reports). `local_seen`: the
    /// scan recorded a regular file at `path`, so `path` itself is no boundary.
    pub(crate) fn excludes(&mut self, path: &RelPath, local_seen: bool) -> bool {
        let p = path.as_str();
        let mut ends: Vec<usize> = p.match_indices('/').map(|(i, _)| i).collect();
        if !local_seen {
            ends.push(p.len());
        }
        for end in ends {
            match self.found(&p[..end]) {
                Found::Dir => continue,
                Found::Open => return false,
                Found::Boundary(kind) => {
                    if end < p.len() {
                        self.below
                            .push((p.to_owned(), below_reason(kind, &p[..end])));
                    }
                    return true;
                }
            }
        }
        false
    }

    fn found(&mut self, prefix: &str) -> Found {
        if let Some(f) = self.seen.get(prefix) {
            return *f;
        }
        let path = self.root.join(prefix);
        let f = match std::fs::symlink_metadata(&path) {
            Ok(m) => {
                let other_mount = || {
                    self.root_mount
                        .is_some_and(|r| mount_id(rustix::fs::CWD, &path).is_some_and(|m| m != r))
                };
                classify(
                    m.file_type(),
                    m.is_dir() && (m.dev() != self.root_dev || other_mount()),
                )
            }
            // Absent: nothing to escape through. Unreadable: the write checks again.
            Err(_) => Found::Open,
        };
        self.seen.insert(prefix.to_owned(), f);
        f
    }

    /// The paths left out for being below a boundary, with the reason to show.
    pub(crate) fn into_below(self) -> Vec<(String, String)> {
        self.below
    }
}

fn classify(t: FileType, other_dev: bool) -> Found {
    if t.is_symlink() {
        Found::Boundary(Boundary::Symlink)
    } else if t.is_dir() && other_dev {
        Found::Boundary(Boundary::MountPoint)
    } else if t.is_dir() {
        Found::Dir
    } else if t.is_fifo() || t.is_socket() || t.is_block_device() || t.is_char_device() {
        Found::Boundary(Boundary::NotDir)
    } else {
        Found::Open
    }
}

fn below_reason(kind: Boundary, at: &str) -> String {
    let what = match kind {
        Boundary::Symlink => "a symlink",
        Boundary::MountPoint => "a mount point",
        Boundary::NotDir => "a special file",
    };
    format!("below {what} ({at}): not synced")
}

#[cfg(test)]
mod tests {
    use std::os::unix::fs::symlink;

    use super::*;

    fn rel(s: &str) -> RelPath {
        RelPath::new(s).unwrap()
    }

    #[test]
    fn paths_at_or_below_a_symlink_or_fifo_are_left_out_and_reported() {
        let d = tempfile::tempdir().unwrap();
        let root = d.path();
        std::fs::create_dir_all(root.join("dir/sub")).unwrap();
        std::fs::write(root.join("file"), b"f").unwrap();
        symlink("/tmp", root.join("dir/link")).unwrap();
        symlink("/tmp", root.join("top")).unwrap();
        let fifo = root.join("pipe");
        assert!(
            std::process::Command::new("mkfifo")
                .arg(&fifo)
                .status()
                .unwrap()
                .success()
        );
        let mut b = Boundaries::new(root.to_owned()).unwrap();
        let cases = [
            ("dir/sub/x", false, false),
            ("dir/new/x", false, false),
            ("dir/link", false, true),
            ("dir/link/a/b", false, true),
            ("top/x", false, true),
            ("pipe", false, true),
            ("pipe/x", false, true),
            // A file where the bucket has a folder is not a boundary (a conflict instead).
            ("file/x", false, false),
            ("file", true, false),
            ("missing/x", false, false),
        ];
        for (p, local_seen, excluded) in cases {
            assert_eq!(b.excludes(&rel(p), local_seen), excluded, "{p}");
        }
        let below = b.into_below();
        let paths: Vec<&str> = below.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(paths, ["dir/link/a/b", "top/x", "pipe/x"]);
        assert_eq!(below[0].1, "below a symlink (dir/link): not synced");
        assert_eq!(below[2].1, "below a special file (pipe): not synced");
    }
}
