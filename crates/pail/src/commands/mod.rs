//! Each subcommand in its own module: call the engine, print for a person (or JSON for
//! scripts), pick the exit code.

mod daemon;
mod init;
mod status;
mod sync;

use anyhow::Result;
use pail_sync::config::config_path;

use crate::cli::{Cli, Command};

/// Logs go to stderr; `PAIL_LOG` takes an EnvFilter (default: warnings).
pub fn init_logging() {
    let filter = tracing_subscriber::EnvFilter::try_from_env("PAIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("warn"));
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .try_init();
}

pub async fn run(cli: Cli) -> Result<u8> {
    let config_file = config_path(cli.config.as_deref())?;
    match cli.command {
        Command::Init(a) => init::run(&config_file, a).await,
        Command::Sync(a) => sync::run(&config_file, a).await,
        Command::Status(a) => status::run(&config_file, a).await,
        Command::Run(a) => daemon::run(&config_file, a).await,
        Command::Pause => daemon::control(&config_file, pail_daemon::control::Request::Pause).await,
        Command::Resume => {
            daemon::control(&config_file, pail_daemon::control::Request::Resume).await
        }
    }
}
