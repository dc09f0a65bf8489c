//! `pail completions SHELL` and `pail man [DIR]`: generated from the command line itself
//! (clap_complete, clap_mangen), so they never disagree with `pail --help`. The Debian package
//! and the Homebrew formula install what these print.

use std::io::Write;
use std::path::Path;

use anyhow::{Context, Result};
use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};

pub fn completions(args: CompletionsArgs) -> Result<u8> {
    let mut out = std::io::stdout().lock();
    out.write_all(&completion_script(args.shell))
        .and_then(|()| out.flush())
        .context("cannot write the completions to stdout")?;
    Ok(0)
}

fn completion_script(shell: clap_complete::Shell) -> Vec<u8> {
    let mut script = Vec::new();
    clap_complete::generate(shell, &mut Cli::command(), "pail", &mut script);
    script
}

pub fn man(args: ManArgs) -> Result<u8> {
    match args.dir {
        None => {
            let mut out = std::io::stdout().lock();
            clap_mangen::Man::new(Cli::command())
                .render(&mut out)
                .and_then(|()| out.flush())
                .context("cannot write the manual page to stdout")?;
        }
        Some(dir) => {
            let pages = write_pages(&dir)?;
            println!("wrote {pages} manual pages into {}", dir.display());
        }
    }
    Ok(0)
}

/// pail.1 and one page per visible command (`pail-service-install.1`), into `dir`.
fn write_pages(dir: &Path) -> Result<usize> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    clap_mangen::generate_to(Cli::command(), dir)
        .with_context(|| format!("cannot write the manual pages into {}", dir.display()))?;
    let pages = std::fs::read_dir(dir)
        .with_context(|| format!("cannot read {}", dir.display()))?
        .filter_map(|e| e.ok())
        .filter(|e| {
            let name = e.file_name();
            let name = name.to_string_lossy();
            name.starts_with("pail") && name.ends_with(".1")
        })
        .count();
    Ok(pages)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_page_for_pail_and_for_every_visible_command() {
        let dir = tempfile::tempdir().unwrap();
        let n = write_pages(dir.path()).unwrap();
        for page in [
            "pail.1",
            "pail-sync.1",
            "pail-run.1",
            "pail-service.1",
            "pail-service-install.1",
            "pail-conflicts-resolve.1",
            "pail-man.1",
            "pail-completions.1",
        ] {
            assert!(dir.path().join(page).is_file(), "{page} missing");
        }
        // The package's build step is hidden, and so is its page.
        assert!(!dir.path().join("pail-service-unit.1").exists());
        assert!(!dir.path().join("pail-help.1").exists());
        let sync = std::fs::read_to_string(dir.path().join("pail-sync.1")).unwrap();
        assert!(sync.contains("confirm\\-deletes"), "{sync}");
        assert!(n >= 20, "{n} pages");
    }

    #[test]
    fn completions_know_every_command() {
        for shell in [
            clap_complete::Shell::Bash,
            clap_complete::Shell::Zsh,
            clap_complete::Shell::Fish,
        ] {
            let text = String::from_utf8(completion_script(shell)).unwrap();
            for word in ["restore", "undelete", "confirm-deletes", "completions"] {
                assert!(text.contains(word), "{shell}: {word} missing");
            }
        }
    }
}
