//! `pail key export [--folder DIR]` and `pail key passphrase [--folder DIR]`.

use std::io::IsTerminal;
use std::path::Path;

use anyhow::{Result, bail};
use pail_crypt::{ExposeSecret, ScryptWork, SecretString};
use pail_ops::key::{Repair, change_passphrase, encrypted_pair, local_key};
use pail_s3::AwsStoreFactory;
use pail_sync::PairRemote;
use pail_sync::config::Config;

use crate::cli::KeyCommand;

pub async fn run(config_file: &Path, c: KeyCommand) -> Result<u8> {
    let config = Config::load(config_file)?;
    match c {
        KeyCommand::Export { folder } => {
            let pair = encrypted_pair(&config, folder.as_deref())?;
            let key = local_key(pair)?;
            eprintln!(
                "pail: this is the key of {}: whoever has it can read everything in it, without \
                 the passphrase; keep it offline and safe",
                pair.remote
            );
            println!(
                "# pail key of {} ({}), public key: {}",
                pair.remote,
                pair.folder.display(),
                key.recipient()
            );
            println!("{}", key.secret().expose_secret());
            Ok(0)
        }
        KeyCommand::Passphrase { folder } => {
            let pair = encrypted_pair(&config, folder.as_deref())?;
            let local = local_key(pair)?;
            // Unchecked: a damaged or missing marker, which the usual check refuses, is what
            // this command writes again.
            let remote = PairRemote::connect_unchecked(pair, &AwsStoreFactory).await?;
            let old = || {
                passphrase(
                    "PAIL_PASSPHRASE",
                    "the current passphrase: ",
                    None,
                    "set PAIL_PASSPHRASE (the current one) and PAIL_NEW_PASSPHRASE",
                )
            };
            let new = || {
                passphrase(
                    "PAIL_NEW_PASSPHRASE",
                    "the new passphrase: ",
                    Some("the new passphrase again: "),
                    "set PAIL_NEW_PASSPHRASE",
                )
            };
            let r =
                change_passphrase(&remote, pair, &local, &old, &new, ScryptWork::default()).await?;
            match &r.repaired {
                None => println!(
                    "changed the passphrase of {} (in {}); the key and every object stay the \
                     same, and devices already set up keep working",
                    pair.remote, r.marker
                ),
                Some(repair) => {
                    let why = match repair {
                        Repair::WrappedKey => "held a damaged copy of the key".to_owned(),
                        Repair::Damaged { detail } => {
                            format!("was damaged ({})", pail_core::printable(detail))
                        }
                        Repair::Missing => "was gone".to_owned(),
                    };
                    println!(
                        "{} {why}: wrote it again from this device's key, under the new \
                         passphrase; the key and every object stay the same, and devices \
                         already set up keep working",
                        r.marker
                    );
                }
            }
            if r.old_versions_deleted > 0 {
                println!(
                    "  deleted {} older version(s) of the marker, which opened with the old passphrase",
                    r.old_versions_deleted
                );
            }
            if !r.old_versions_left.is_empty() {
                eprintln!(
                    "pail: {} older version(s) of {} still open with the old passphrase; delete them \
                     (`aws s3api delete-object --version-id ID`) to retire it:",
                    r.old_versions_left.len(),
                    r.marker
                );
                for (vid, why) in &r.old_versions_left {
                    eprintln!(
                        "  {}: {}",
                        pail_core::printable(vid),
                        pail_core::printable(why)
                    );
                }
                return Ok(1);
            }
            Ok(0)
        }
    }
}

/// A passphrase from `var` (scripts, tests), else asked on the terminal without echo (twice
/// with `again`).
fn passphrase(var: &str, prompt: &str, again: Option<&str>, hint: &str) -> Result<SecretString> {
    if let Ok(p) = std::env::var(var) {
        return Ok(p.into());
    }
    if !std::io::stdin().is_terminal() {
        bail!("`pail key passphrase` needs the passphrases: {hint}, or run it on a terminal");
    }
    let first = rpassword::prompt_password(prompt)?;
    if let Some(again) = again
        && rpassword::prompt_password(again)? != first
    {
        bail!("the two new passphrases differ: nothing was changed; run it again");
    }
    Ok(first.into())
}
