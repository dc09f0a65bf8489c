//! What installs rely on: `pail --version` names the commit, and the completions and manual
//! pages that the Debian package and Homebrew install come out of the binary without a config
//! or a home directory. (The package itself is built, installed and removed by `scripts/deb`,
//! the `package` phase of `scripts/test`.)

use std::process::{Command, Output};

use crate::harness::*;

/// `pail` with nothing from the caller's environment that could point at a config.
fn bare_pail(args: &[&str]) -> Output {
    Command::new(pail_bin())
        .args(args)
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap_or_default())
        .output()
        .unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// `pail 0.1.0 (cecdf2c 2026-11-30)`: the version, then the commit's short hash and date, or
/// `(unknown)` outside a git checkout.
#[test]
fn version_names_the_commit() {
    let out = bare_pail(&["--version"]);
    assert_ok(&out, "pail --version");
    let line = stdout(&out);
    let line = line.trim_end();
    let expected_start = format!("pail {} (", env!("CARGO_PKG_VERSION"));
    let inner = line
        .strip_prefix(&expected_start)
        .and_then(|rest| rest.strip_suffix(')'))
        .unwrap_or_else(|| panic!("`{line}` is not `pail VERSION (COMMIT DATE)`"));
    // Built from this checkout (cargo runs the tests from it): exactly its HEAD.
    let head = Command::new("git")
        .args(["log", "-1", "--format=%h %cs", "--abbrev=7"])
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .output()
        .ok()
        .filter(|o| o.status.success());
    match head {
        Some(head) => assert_eq!(inner, stdout(&head).trim(), "{line}"),
        None => assert_eq!(inner, "unknown", "{line}"),
    }
    let (hash, date) = inner.split_once(' ').unwrap_or((inner, ""));
    if hash != "unknown" {
        assert!(
            hash.len() >= 7 && hash.chars().all(|c| c.is_ascii_hexdigit()),
            "{line}"
        );
        let d: Vec<&str> = date.split('-').collect();
        assert!(
            d.len() == 3 && d.iter().all(|p| p.chars().all(|c| c.is_ascii_digit())),
            "{line}"
        );
    }
}

#[test]
fn completions_come_without_a_config_or_home() {
    for (shell, marker) in [
        ("bash", "complete -F _pail"),
        ("zsh", "#compdef pail"),
        ("fish", "complete -c pail"),
    ] {
        let out = bare_pail(&["completions", shell]);
        assert_ok(&out, shell);
        let script = stdout(&out);
        assert!(script.contains(marker), "{shell}: no `{marker}`:\n{script}");
        assert!(script.contains("undelete"), "{shell}: commands missing");
    }
    let out = bare_pail(&["completions", "tcsh"]);
    assert_code(&out, 2, "an unknown shell is a usage error");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("bash"),
        "{}",
        text(&out)
    );
}

#[test]
fn man_pages_come_without_a_config_or_home() {
    let out = bare_pail(&["man"]);
    assert_ok(&out, "pail man");
    assert!(stdout(&out).starts_with(".ie"), "not roff:\n{}", text(&out));
    assert!(stdout(&out).contains(".SH NAME"), "{}", text(&out));

    let dir = tempfile::tempdir().unwrap();
    let pages = dir.path().join("man1");
    let out = bare_pail(&["man", pages.to_str().unwrap()]);
    assert_ok(&out, "pail man DIR");
    for page in ["pail.1", "pail-sync.1", "pail-service-install.1"] {
        assert!(
            pages.join(page).is_file(),
            "{page} missing:\n{}",
            text(&out)
        );
    }
    assert!(stdout(&out).contains("manual pages into"), "{}", text(&out));
}
