//! Each subcommand in its own module: call the engine, print for a person (or JSON for
//! scripts), pick the exit code.

mod conflicts;
mod daemon;
mod docs;
mod doctor;
mod history;
mod init;
mod key;
mod log;
mod pairs;
mod progress;
mod restore;
mod service;
mod setup;
mod share;
mod status;
mod sync;
mod undelete;

use std::path::Path;

use anyhow::Result;
use pail_sync::config::config_path;

use crate::cli::{Cli, Command};

/// Logs go to stderr; `PAIL_LOG` takes an EnvFilter, else `-q` (errors), `-v` (info), `-vv`
/// (debug), default warnings. Colours only on a terminal and without `NO_COLOR`.
pub fn init_logging(verbose: u8, quiet: bool) {
    let level = match (quiet, verbose) {
        (true, _) => "error",
        (false, 0) => "warn",
        (false, 1) => "info",
        (false, _) => "debug",
    };
    // Other crates (the AWS SDK) speak only of errors unless -vv: their warnings repeat, in
    // their words and with debug dumps, what pail reports once in its own.
    let others = if verbose >= 2 { "warn" } else { "error" };
    let ours = [
        "pail",
        "pail_core",
        "pail_index",
        "pail_s3",
        "pail_sync",
        "pail_ops",
        "pail_daemon",
        "pail_watch",
    ]
    .map(|c| format!("{c}={level}"))
    .join(",");
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{others},{ours}")));
    let colour = std::io::IsTerminal::is_terminal(&std::io::stderr())
        && std::env::var_os("NO_COLOR").is_none_or(|v| v.is_empty());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        // journald and log files want plain text.
        .with_ansi(colour)
        .try_init();
}

pub async fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        // No config needed: these also run in package builds, where there may be no home.
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
        command => with_config(&config_path(cli.config.as_deref())?, command, cli.quiet).await,
    }
}

async fn with_config(config_file: &Path, command: Command, quiet: bool) -> Result<u8> {
    match command {
        Command::Init(a) => init::run(config_file, a).await,
        Command::Doctor(a) => doctor::run(config_file, a).await,
        Command::Sync(a) => sync::run(config_file, a, quiet).await,
        Command::Status(a) => status::run(config_file, a).await,
        Command::Run(a) => daemon::run(config_file, a).await,
        Command::Service(c) => service::run(config_file, c),
        Command::History(a) => history::run(config_file, a).await,
        Command::Restore(a) => restore::run(config_file, a).await,
        Command::Undelete(a) => undelete::run(config_file, a).await,
        Command::Conflicts(a) => conflicts::run(config_file, a).await,
        Command::Log(a) => log::run(config_file, a),
        Command::Share(a) => share::run(config_file, a).await,
        Command::Remove(a) => pairs::remove(config_file, a),
        Command::Key(c) => key::run(config_file, c).await,
        Command::Config(a) => pairs::config(config_file, a),
        Command::Pause(a) => daemon::pause(config_file, a).await,
        Command::Resume(a) => daemon::resume(config_file, a).await,
        Command::Completions(a) => docs::completions(a),
        Command::Man(a) => docs::man(a),
    }
}

/// Sizes for people: `512 B`, `3.4 MiB`.
pub(crate) use pail_core::human_bytes;
