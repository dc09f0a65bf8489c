//! Names the commit pail is built from in `pail --version`: `pail 0.1.0 (cecdf2c 2026-11-30)`,
//! or `pail 0.1.0 (unknown)` when built outside a git checkout (a source tarball, a registry).
//!
//! Cargo runs this again only when HEAD or the branch it points to moves (a commit, a checkout),
//! not on every edit: the paths it watches are HEAD, the branch's ref file and packed-refs.

use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) -> Option<String> {
    let out = Command::new("git")
        .arg("-C")
        .arg(dir)
        .args(args)
        .output()
        .ok()?;
    let text = String::from_utf8(out.stdout).ok()?.trim().to_owned();
    (out.status.success() && !text.is_empty()).then_some(text)
}

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    let version = std::env::var("CARGO_PKG_VERSION").unwrap_or_default();
    let dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let dir = Path::new(&dir);
    // Only pail's own repository counts: a tarball unpacked inside some other checkout (a
    // packager's tree) must not name that checkout's commit.
    let ours = git(dir, &["ls-files", "--error-unmatch", "Cargo.toml"]).is_some();
    let commit = ours
        .then(|| {
            git(
                dir,
                &[
                    "log",
                    "-1",
                    "--format=%h %cs",
                    "--abbrev=7",
                    "--no-show-signature",
                ],
            )
        })
        .flatten();
    if ours {
        // HEAD (per worktree), the ref it names (loose), and packed-refs (after `git gc`). A
        // path that does not exist would make cargo rerun this every build: only existing ones.
        let mut watched = vec!["HEAD".to_owned(), "packed-refs".to_owned()];
        watched.extend(git(dir, &["symbolic-ref", "-q", "HEAD"]));
        for name in watched {
            if let Some(path) = git(
                dir,
                &["rev-parse", "--path-format=absolute", "--git-path", &name],
            ) && Path::new(&path).exists()
            {
                println!("cargo:rerun-if-changed={path}");
            }
        }
    }
    let commit = commit.unwrap_or_else(|| "unknown".to_owned());
    println!("cargo:rustc-env=PAIL_LONG_VERSION={version} ({commit})");
}
