//! `pail service install|uninstall|status`.

use std::path::{Path, PathBuf};
use std::process::Command as Process;

use anyhow::{Context, Result, bail};
use pail_daemon::service::{ServiceSpec, packaged_systemd_unit, render, unit_path};
use pail_sync::config::{Config, state_dir};

use crate::cli::ServiceCommand;

pub fn run(config_file: &Path, cmd: ServiceCommand) -> Result<u8> {
    let unit = unit_path()?;
    match cmd {
        ServiceCommand::Install { no_start, dry_run } => {
            install(config_file, &unit, no_start, dry_run)
        }
        ServiceCommand::Uninstall => uninstall(&unit),
        ServiceCommand::Status => status(&unit),
        ServiceCommand::Unit { packaged: true } => {
            print!("{}", packaged_systemd_unit());
            Ok(0)
        }
        ServiceCommand::Unit { packaged: false } => {
            let config = Config::load(config_file)?;
            print!("{}", render(&spec(config_file, &config)?));
            Ok(0)
        }
    }
}

fn manager(args: &[&str]) -> Result<()> {
    let (prog, full): (&str, Vec<&str>) = if cfg!(target_os = "macos") {
        ("launchctl", args.to_vec())
    } else {
        ("systemctl", [&["--user"][..], args].concat())
    };
    let status = Process::new(prog)
        .args(&full)
        .status()
        .with_context(|| format!("cannot run {prog}"))?;
    if !status.success() {
        bail!("`{prog} {}` failed ({status})", full.join(" "));
    }
    Ok(())
}

/// The commands that enable and start the unit.
fn start_commands(unit: &Path) -> Vec<Vec<String>> {
    let s = |v: &[&str]| v.iter().map(|x| x.to_string()).collect();
    if cfg!(target_os = "macos") {
        vec![s(&["bootstrap", "gui/$UID", &unit.display().to_string()])]
    } else {
        vec![
            s(&["daemon-reload"]),
            s(&["enable", "--now", "pail.service"]),
        ]
    }
}

/// How the service gets its credentials: it does not inherit this shell's environment.
fn credentials_note(config: &Config) {
    let profiles: Vec<&str> = config
        .pairs
        .iter()
        .filter_map(|p| p.profile.as_deref())
        .collect();
    println!(
        "credentials: the service reads the standard AWS files (~/.aws/credentials, ~/.aws/config){}; it does not see variables exported in this shell",
        if profiles.is_empty() {
            String::new()
        } else {
            format!(" with profile {}", profiles.join(", "))
        }
    );
    if std::env::var_os("AWS_ACCESS_KEY_ID").is_some() {
        println!(
            "note: AWS_ACCESS_KEY_ID is set in this shell, but the service will not get it: put the keys in ~/.aws/credentials (`aws configure`), or name a profile with `pail init --profile NAME`"
        );
    }
}

/// What the unit for this config runs and may write.
fn spec(config_file: &Path, config: &Config) -> Result<ServiceSpec> {
    config.select(None)?;
    let config_abs = std::path::absolute(config_file)?;
    // Writable for the service: the folders, the state directory and the config file itself
    // (not its folder, which may be all of $HOME).
    let mut writable: Vec<PathBuf> = config.pairs.iter().map(|p| p.folder.clone()).collect();
    writable.push(state_dir()?);
    writable.push(config_abs.clone());
    let log_file = std::env::var_os("HOME").map(|h| PathBuf::from(h).join("Library/Logs/pail.log"));
    Ok(ServiceSpec {
        binary: std::env::current_exe().context("cannot find the pail binary")?,
        config: config_abs,
        writable,
        log_file,
    })
}

fn install(config_file: &Path, unit: &Path, no_start: bool, dry_run: bool) -> Result<u8> {
    let config = Config::load(config_file)?;
    let text = render(&spec(config_file, &config)?);
    if dry_run {
        println!("would write {}:\n", unit.display());
        println!("{text}");
        if !no_start {
            let prog = if cfg!(target_os = "macos") {
                "launchctl"
            } else {
                "systemctl --user"
            };
            for c in start_commands(unit) {
                println!("would run: {prog} {}", c.join(" "));
            }
        }
        credentials_note(&config);
        println!("nothing was written or started (--dry-run)");
        return Ok(0);
    }
    let dir = unit.parent().context("unit path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::write(unit, text).with_context(|| format!("cannot write {}", unit.display()))?;
    println!("wrote {}", unit.display());
    credentials_note(&config);
    if no_start {
        println!("not started (--no-start)");
        return Ok(0);
    }
    let started = if cfg!(target_os = "macos") {
        let uid = Process::new("id").arg("-u").output()?.stdout;
        let domain = format!("gui/{}", String::from_utf8_lossy(&uid).trim());
        manager(&["bootstrap", &domain, &unit.display().to_string()])
    } else {
        manager(&["daemon-reload"]).and_then(|()| manager(&["enable", "--now", "pail.service"]))
    };
    if let Err(e) = started {
        // No service manager to take it (a container, no user session): leave nothing behind.
        let _ = std::fs::remove_file(unit);
        bail!(
            "{e:#}; the service manager of this user session is not reachable, so {} was removed again. Run `pail run` yourself, or use `--no-start` to only write the unit",
            unit.display()
        );
    }
    if !cfg!(target_os = "macos") {
        println!("started; logs: journalctl --user -u pail.service -f");
        println!("to keep it running without a login session: loginctl enable-linger $USER");
    }
    Ok(0)
}

fn uninstall(unit: &Path) -> Result<u8> {
    if !unit.exists() {
        println!("not installed ({} does not exist)", unit.display());
        return Ok(0);
    }
    let stopped = if cfg!(target_os = "macos") {
        let uid = Process::new("id").arg("-u").output()?.stdout;
        let target = format!(
            "gui/{}/com.pail.daemon",
            String::from_utf8_lossy(&uid).trim()
        );
        manager(&["bootout", &target])
    } else {
        manager(&["disable", "--now", "pail.service"])
    };
    if let Err(e) = stopped {
        eprintln!("pail: {e:#} (removing the unit anyway)");
    }
    std::fs::remove_file(unit).with_context(|| format!("cannot remove {}", unit.display()))?;
    if !cfg!(target_os = "macos") {
        let _ = manager(&["daemon-reload"]);
    }
    println!("removed {}", unit.display());
    Ok(0)
}

fn status(unit: &Path) -> Result<u8> {
    if !unit.exists() {
        println!("not installed (run `pail service install`)");
        return Ok(0);
    }
    println!("installed: {}", unit.display());
    let shown = if cfg!(target_os = "macos") {
        manager(&["list", "com.pail.daemon"])
    } else {
        manager(&["status", "--no-pager", "pail.service"])
    };
    if let Err(e) = shown {
        println!("the service manager does not report it running: {e:#}");
    }
    Ok(0)
}
