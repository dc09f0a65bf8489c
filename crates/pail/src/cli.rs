//! The command line, as the CLI contract (`shared/notes/cli-contract.md`) defines it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand};

#[derive(Debug, Parser)]
#[command(
    name = "pail",
    version,
    about = "Keep a folder and your own S3 bucket in sync, both ways"
)]
pub struct Cli {
    /// Config file (default: <config dir>/pail/config.toml).
    #[arg(long, global = true, env = "PAIL_CONFIG")]
    pub config: Option<PathBuf>,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record a folder pair, check access and probe the bucket.
    Init(InitArgs),
    /// One full reconcile of every pair (or --folder), then exit.
    ///
    /// Exit codes: 0 converged, 1 error, 3 stopped for safety (nothing changed).
    Sync(SyncArgs),
    /// State of each pair.
    Status(StatusArgs),
    /// The daemon: watch the folders, poll the buckets, sync continuously until SIGTERM.
    Run(RunArgs),
    /// Stop transfers in the running daemon (until `pail resume`).
    Pause,
    /// Restart transfers in the running daemon.
    Resume,
}

#[derive(Debug, Args)]
pub struct InitArgs {
    /// The local folder (created if missing).
    pub dir: PathBuf,
    /// s3://BUCKET[/PREFIX]
    pub remote: String,
    /// S3 endpoint URL for S3-compatible servers (implies path-style addressing).
    #[arg(long)]
    pub endpoint: Option<String>,
    #[arg(long)]
    pub region: Option<String>,
    /// AWS profile for credentials.
    #[arg(long)]
    pub profile: Option<String>,
    /// This device's name (default: the host name).
    #[arg(long)]
    pub device: Option<String>,
}

#[derive(Debug, Args)]
pub struct SyncArgs {
    /// Print the plan and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Go ahead although a safety stop would hold the pass back (mass delete, empty side,
    /// replaced folder).
    #[arg(long)]
    pub confirm_deletes: bool,
    /// Only the pair of this folder.
    #[arg(long)]
    pub folder: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Only the pair of this folder.
    #[arg(long)]
    pub folder: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Seconds between polls of the buckets' change journals (one LIST each).
    #[arg(long, default_value_t = 30)]
    pub poll_interval: u64,
    /// Seconds between full reconciles (catch changes by other S3 clients).
    #[arg(long, default_value_t = 6 * 3600)]
    pub full_reconcile: u64,
    /// Seconds between full rescans of the folders even without watcher events.
    #[arg(long, default_value_t = 3600)]
    pub rescan_interval: u64,
    /// Do not use the filesystem watcher: scan every `--fallback-scan-interval` seconds
    /// (network filesystems, or to test the fallback).
    #[arg(long)]
    pub no_watcher: bool,
    /// Seconds between scans when the watcher is off or cannot run.
    #[arg(long, default_value_t = 60)]
    pub fallback_scan_interval: u64,
}
