//! The command line, as the CLI contract (`shared/notes/cli-contract.md`) defines it.

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(
    name = "pail",
    // `pail 0.1.0 (cecdf2c 2026-11-30)`: the commit it was built from (build.rs).
    version = env!("PAIL_LONG_VERSION"),
    about = "Keep a folder and your own S3 bucket in sync, both ways"
)]
pub struct Cli {
    /// Config file (default: pail/config.toml in the user's config directory).
    #[arg(long, global = true, env = "PAIL_CONFIG")]
    pub config: Option<PathBuf>,
    /// More log lines on stderr: -v what pail does, -vv every request (PAIL_LOG overrides).
    #[arg(short, long, global = true, action = clap::ArgAction::Count)]
    pub verbose: u8,
    /// Only errors on stderr (PAIL_LOG overrides).
    #[arg(short, long, global = true, conflicts_with = "verbose")]
    pub quiet: bool,
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Record a folder pair, check access and probe the bucket.
    #[command(after_help = "Examples:
  pail init ~/Pail s3://my-bucket/laptop --region eu-west-1
  pail init ~/Pail s3://my-bucket/laptop --region eu-west-1 --setup   # also lock the bucket down
  pail init ~/Pail s3://my-bucket/laptop --endpoint http://127.0.0.1:9000 --region garage
  pail init ~/Private s3://my-bucket/private --encrypt                 # end-to-end encrypted
  pail init ~/Private s3://my-bucket/private --encrypt --encrypt-names # names too")]
    Init(InitArgs),
    /// One full reconcile of every pair (or --folder), then exit.
    ///
    /// Exit codes: 0 converged, 1 error, 3 stopped for safety (nothing changed).
    #[command(after_help = "Examples:
  pail sync                     # every pair
  pail sync --folder ~/Pail     # one pair
  pail sync --dry-run           # what it would do; nothing is changed
  pail sync --confirm-deletes   # go ahead after a safety stop")]
    Sync(SyncArgs),
    /// State of each pair.
    #[command(after_help = "Examples:
  pail status
  pail status --json | jq '.pairs[].state'")]
    Status(StatusArgs),
    /// The daemon: watch the folders, poll the buckets, sync continuously until SIGTERM.
    Run(RunArgs),
    /// Pause the daemon's syncing of every pair (or one), until `pail resume` or for a while;
    /// kept across daemon restarts. `pail sync` by hand still syncs.
    #[command(after_help = "Examples:
  pail pause                           # every pair, until `pail resume`
  pail pause --folder ~/Pail --for 2h  # one pair, for two hours")]
    Pause(PauseArgs),
    /// Resume the daemon's syncing of every pair (or one).
    Resume(ResumeArgs),
    /// Audit the buckets and this machine; print the fix for each problem.
    ///
    /// Exit codes: 0 all good, 1 problems found.
    Doctor(DoctorArgs),
    /// Run the daemon as a systemd user service (Linux) or launchd agent (macOS).
    #[command(subcommand)]
    Service(ServiceCommand),
    /// Every version of a file, or the files of a folder that have old versions or were
    /// deleted.
    #[command(after_help = "Examples:
  pail history ~/Pail/thesis.tex            # every version: local time, size, device, id
  pail history ~/Pail/photos --deleted      # files deleted under a folder
  pail history ~/Pail --size                # space old versions take, per folder")]
    History(HistoryArgs),
    /// Bring back a file or a whole folder as it was: a version, or a moment.
    ///
    /// In place, the old content becomes the new current version in the bucket (nothing is
    /// destroyed) and the folder follows by a sync. `--to DEST` writes a copy elsewhere.
    #[command(after_help = "Examples:
  pail restore ~/Pail/thesis.tex --at \"2 hours ago\"
  pail restore ~/Pail/thesis.tex --at 2026-11-30T09:14:05.25+01:00   # a time copied from history
  pail restore ~/Pail/thesis.tex --version ID --to ~/old-thesis.tex  # a copy; bucket untouched
  pail restore ~/Pail/photos --at yesterday --dry-run                # a folder as it was")]
    Restore(RestoreArgs),
    /// Bring back a deleted file, or every deleted file under a folder.
    #[command(after_help = "Examples:
  pail undelete ~/Pail/notes.txt
  pail undelete ~/Pail/photos --dry-run")]
    Undelete(UndeleteArgs),
    /// Conflict copies pail made and not yet resolved.
    Conflicts(ConflictsArgs),
    /// What pail did recently: uploads, downloads, deletes, conflicts, restores, safety stops.
    #[command(after_help = "Examples:
  pail log                               # the last 50 things pail did, every pair
  pail log --since \"1 hour ago\"
  pail log --folder ~/Pail --json")]
    Log(LogArgs),
    /// A link that lets anyone who has it download a file, for a while, without credentials.
    #[command(after_help = "Examples:
  pail share ~/Pail/slides.pdf                 # the current version, for 7 days
  pail share ~/Pail/slides.pdf --expires 2h
  pail share ~/Pail/slides.pdf --version ID    # exactly that version, even after later edits")]
    Share(ShareArgs),
    /// Unpair a folder: pail stops syncing it; its files and the bucket are left alone.
    Remove(RemoveArgs),
    /// The key of an end-to-end encrypted pair: print it for safekeeping, or change its
    /// passphrase.
    #[command(subcommand)]
    Key(KeyCommand),
    /// The configuration as pail reads it (defaults filled in; it holds no secrets).
    Config(ConfigArgs),
    /// Shell completions for bash, zsh, fish, elvish or PowerShell, on stdout.
    #[command(after_help = "Examples:
  pail completions bash > ~/.local/share/bash-completion/completions/pail
  pail completions zsh > ~/.zfunc/_pail        # with fpath+=(~/.zfunc) before compinit
  pail completions fish > ~/.config/fish/completions/pail.fish")]
    Completions(CompletionsArgs),
    /// Manual pages: pail(1) on stdout, or with DIR one page per command written into DIR.
    #[command(after_help = "Examples:
  pail man | man -l -
  pail man ~/.local/share/man/man1   # pail.1, pail-sync.1, pail-service-install.1, ...")]
    Man(ManArgs),
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell to complete for.
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct ManArgs {
    /// Write pail.1 and a page for every command (pail-sync.1, ...) into this folder
    /// (created if missing) instead of printing pail(1).
    pub dir: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LogArgs {
    /// Only the pair of this folder.
    #[arg(long)]
    pub folder: Option<PathBuf>,
    /// Only since this time ("1 hour ago", "yesterday", a time copied from `pail history`).
    #[arg(long)]
    pub since: Option<String>,
    /// At most this many entries per pair (the newest).
    #[arg(long, default_value_t = 50)]
    pub limit: u64,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ShareArgs {
    /// The file (in a synced folder).
    pub path: PathBuf,
    /// How long the link works: 7d at most (AWS Signature Version 4), e.g. 12h, 90m.
    #[arg(long, default_value = "7d")]
    pub expires: String,
    /// A version id from `pail history` (default: the version current when the link is used).
    /// Ids may start with `-` (Ceph's do): taken as the value, not as a flag.
    #[arg(long, allow_hyphen_values = true)]
    pub version: Option<String>,
    /// On an end-to-end encrypted pair: a link to the encrypted object (an age file), which
    /// opens only with the pair's key (`pail key export`). Without it such a share is refused.
    #[arg(long)]
    pub ciphertext: bool,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Subcommand)]
pub enum KeyCommand {
    /// Print the pair's identity (AGE-SECRET-KEY-1...) on stdout. Keep it somewhere safe:
    /// with it, `age -d -i FILE` decrypts every object without pail or the passphrase.
    #[command(after_help = "Examples:
  pail key export > pail-key.txt                 # the only encrypted pair
  pail key export --folder ~/Pail > pail-key.txt")]
    Export {
        /// The pair of this folder (default: the only encrypted pair).
        #[arg(long)]
        folder: Option<PathBuf>,
    },
    /// Change the passphrase other devices join with. Objects are not re-encrypted, and
    /// devices already set up keep working. Reads PAIL_PASSPHRASE (the old one) and
    /// PAIL_NEW_PASSPHRASE, else asks on the terminal.
    ///
    /// Exit codes: 0 changed, 1 error (a wrong old passphrase changes nothing).
    #[command(after_help = "Examples:
  pail key passphrase
  pail key passphrase --folder ~/Pail")]
    Passphrase {
        /// The pair of this folder (default: the only encrypted pair).
        #[arg(long)]
        folder: Option<PathBuf>,
    },
}

#[derive(Debug, Args)]
pub struct RemoveArgs {
    /// The synced folder to unpair.
    pub dir: PathBuf,
}

#[derive(Debug, Args)]
pub struct ConfigArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
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
    /// Also set the bucket up: create it if missing, versioning, Block Public Access, default
    /// encryption, a TLS-only policy, lifecycle rules (see README "Setting up your bucket").
    #[arg(long)]
    pub setup: bool,
    /// Move noncurrent versions to CLASS after DAYS (repeatable; default 30:STANDARD_IA).
    #[arg(long, value_name = "DAYS:CLASS", requires = "setup")]
    pub storage_class_after: Vec<pail_ops::setup::Transition>,
    /// Delete noncurrent versions DAYS after they stop being current (default: keep them).
    #[arg(long, value_name = "DAYS", requires = "setup", value_parser = clap::value_parser!(u32).range(1..))]
    pub expire_noncurrent_after: Option<u32>,
    /// The one IAM user or role allowed to use the bucket (default: your own identity).
    #[arg(long, value_name = "ARN", requires = "setup")]
    pub allow_principal: Option<String>,
    /// Send upload and delete events to this SNS topic.
    #[arg(
        long,
        value_name = "ARN",
        requires = "setup",
        conflicts_with = "notify_queue"
    )]
    pub notify_topic: Option<String>,
    /// Send upload and delete events to this SQS queue, which the daemon then listens to: a
    /// queue name (created if missing, in the bucket's region) or the ARN of an existing
    /// queue. Either way its policy is made to let S3 send this bucket's events to it.
    #[arg(long, value_name = "NAME|ARN", requires = "setup")]
    pub notify_queue: Option<pail_s3::queue::QueueRef>,
    /// Default encryption with this KMS key (SSE-KMS) instead of SSE-S3.
    #[arg(long, value_name = "ARN", requires = "setup")]
    pub kms_key: Option<String>,
    /// End-to-end encrypt the pair (doc/ENCRYPTION.md): the first device makes the prefix's
    /// key, others join with its passphrase (PAIL_PASSPHRASE, else asked on the terminal).
    #[arg(long)]
    pub encrypt: bool,
    /// With --encrypt: encrypt file and folder names too (each name AES-SIV encrypted, so
    /// names of up to 175 bytes fit). Chosen by the prefix's first device.
    #[arg(long, requires = "encrypt")]
    pub encrypt_names: bool,
}

#[derive(Debug, Args)]
pub struct DoctorArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Only the pair of this folder.
    #[arg(long)]
    pub folder: Option<PathBuf>,
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
    /// Machine-readable output: one object per pair (the exit code is the same).
    #[arg(long)]
    pub json: bool,
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
pub struct PauseArgs {
    /// Only the pair of this folder.
    #[arg(long)]
    pub folder: Option<PathBuf>,
    /// How long, like 30m, 2h or 1d (default: until `pail resume`).
    #[arg(long = "for", value_name = "DURATION")]
    pub duration: Option<String>,
}

#[derive(Debug, Args)]
pub struct ResumeArgs {
    /// Only the pair of this folder.
    #[arg(long)]
    pub folder: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    /// Seconds between polls of the buckets' change journals (one LIST each) when nothing
    /// changed for a few minutes.
    #[arg(long, default_value_t = 60)]
    pub poll_interval: u64,
    /// Seconds between polls right after a local or remote change (backing off to
    /// `--poll-interval` over a few minutes of quiet).
    #[arg(long, default_value_t = 5)]
    pub active_poll_interval: u64,
    /// Seconds between full reconciles (which hear changes by other S3 clients). Default:
    /// it follows each prefix's size within the pair's `listing_budget` (LIST requests an
    /// hour, 60 by default: up to 1,000 keys every minute, 10,000 every 10 minutes).
    #[arg(long)]
    pub full_reconcile: Option<u64>,
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
    /// Upload rate limit over all transfers, like "2 MiB" (per second); instead of the
    /// config's `upload_limit`.
    #[arg(long, value_name = "RATE")]
    pub upload_limit: Option<String>,
    /// Download rate limit over all transfers; instead of the config's `download_limit`.
    #[arg(long, value_name = "RATE")]
    pub download_limit: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum ServiceCommand {
    /// Write the unit for this config and start it (enabled at login).
    Install {
        /// Only write the unit file; do not enable or start it.
        #[arg(long)]
        no_start: bool,
        /// Print the unit and what would be run; write and start nothing.
        #[arg(long)]
        dry_run: bool,
    },
    /// Stop and remove the unit.
    Uninstall,
    /// Whether the unit is installed, and the service manager's view of it.
    Status,
    /// Print the unit for this config to stdout; `--packaged`: the generic unit that the
    /// Debian package installs (a build step of the package, hence hidden).
    #[command(hide = true)]
    Unit {
        /// The unit for any user and the default config, run from /usr/bin/pail.
        #[arg(long)]
        packaged: bool,
    },
}

#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// A file or folder inside a synced folder (absolute, or relative to here).
    pub path: PathBuf,
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// For a folder: only the files that were deleted.
    #[arg(long)]
    pub deleted: bool,
    /// Space taken by old versions, per folder (to choose lifecycle rules).
    #[arg(long, conflicts_with = "deleted")]
    pub size: bool,
}

#[derive(Debug, Args)]
pub struct RestoreArgs {
    /// A file or folder inside a synced folder (absolute, or relative to here).
    pub path: PathBuf,
    /// The version to bring back, as `pail history` shows it. Ids may start with `-` (Ceph's
    /// do): taken as the value, not as a flag.
    #[arg(long, conflicts_with = "at", allow_hyphen_values = true)]
    pub version: Option<String>,
    /// The moment to go back to: RFC 3339, "2026-11-20 14:00", "2 hours ago", "yesterday 18:00".
    #[arg(long)]
    pub at: Option<String>,
    /// Download the version to this new file (or into this folder) and leave the bucket alone.
    #[arg(long, conflicts_with_all = ["exact", "dry_run"])]
    pub to: Option<PathBuf>,
    /// Folder restore: also delete files made after TIME (undoable: a delete marker).
    #[arg(long, requires = "at")]
    pub exact: bool,
    /// Print what would be restored and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Ask the bucket to bring an archived (Glacier, Deep Archive) version back for reading.
    #[arg(long, conflicts_with_all = ["to", "exact", "dry_run"])]
    pub from_archive: bool,
    /// With --from-archive: days the readable copy is kept.
    #[arg(long, default_value_t = 7, requires = "from_archive")]
    pub days: i32,
    /// Machine-readable output: one object with what was done (the exit code is the same).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct UndeleteArgs {
    /// A deleted file, or a folder whose deleted files come back.
    pub path: PathBuf,
    /// Print what would come back and change nothing.
    #[arg(long)]
    pub dry_run: bool,
    /// Machine-readable output: one object with what was done (the exit code is the same).
    #[arg(long)]
    pub json: bool,
}

#[derive(Debug, Args)]
pub struct ConflictsArgs {
    /// Machine-readable output.
    #[arg(long)]
    pub json: bool,
    /// Only the pair of this folder.
    #[arg(long)]
    pub folder: Option<PathBuf>,
    #[command(subcommand)]
    pub action: Option<ConflictsAction>,
}

#[derive(Debug, Subcommand)]
pub enum ConflictsAction {
    /// Resolve the conflict of PATH (the original or the copy), or all conflicts.
    Resolve {
        /// The original file or its conflict copy; all conflicts when left out.
        path: Option<PathBuf>,
        /// local: the copy's content takes the original name; remote: delete the copy;
        /// both: keep both files and forget the conflict.
        #[arg(long, value_enum)]
        keep: KeepArg,
    },
}

#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum KeepArg {
    Local,
    Remote,
    Both,
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    /// Ceph's version ids can start with `-` (`-9vAOz-ZMVrpBMXig6fnDs-B-3596If` was one): they
    /// are the option's value, as `pail history` printed them.
    #[test]
    fn version_ids_may_start_with_a_hyphen() {
        let id = "-9vAOz-ZMVrpBMXig6fnDs-B-3596If";
        let cli = Cli::try_parse_from(["pail", "restore", "f.txt", "--version", id]).unwrap();
        match cli.command {
            Command::Restore(a) => assert_eq!(a.version.as_deref(), Some(id)),
            other => panic!("{other:?}"),
        }
        let cli = Cli::try_parse_from(["pail", "share", "f.txt", "--version", id]).unwrap();
        match cli.command {
            Command::Share(a) => assert_eq!(a.version.as_deref(), Some(id)),
            other => panic!("{other:?}"),
        }
    }
}
