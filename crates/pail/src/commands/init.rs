//! `pail init`.

use anyhow::Result;
use pail_ops::init::{InitRequest, init_pair};

use crate::cli::InitArgs;

pub async fn run(config_file: &std::path::Path, mut a: InitArgs) -> Result<u8> {
    let setup = super::setup::options(&mut a);
    let mut req = InitRequest {
        folder: a.dir,
        remote: a.remote,
        endpoint: a.endpoint,
        region: a.region,
        profile: a.profile,
        device: a.device,
        // The queue's ARN, once setup has found or made it.
        notify_queue: None,
        encrypt: a.encrypt.then(|| pail_ops::init::EncryptInit {
            passphrase: std::sync::Arc::new(passphrase),
            work: pail_crypt::ScryptWork::default(),
            names: a.encrypt_names,
        }),
    };
    let setup_failed = match &setup {
        Some(opts) => {
            let report = super::setup::run(&req, opts).await?;
            req.notify_queue = report.notify_queue.clone();
            report.failed()
        }
        None => false,
    };
    let r = init_pair(config_file, req, &pail_s3::AwsStoreFactory).await?;
    println!(
        "paired {} with {} (device {:?})",
        r.pair.folder.display(),
        r.pair.remote,
        r.pair.device
    );
    if r.created_folder {
        println!("  created the folder {}", r.pair.folder.display());
    }
    println!(
        "  bucket: versioning {}, conditional writes {}, checksums {}",
        format!("{:?}", r.caps.versioning).to_lowercase(),
        if r.caps.conditional_writes {
            "honoured"
        } else {
            "not honoured"
        },
        r.caps.checksums
    );
    if let Some(e) = &r.encrypted {
        println!(
            "  end-to-end encrypted{}: {} (public key {}); key kept in {}",
            if e.names_encrypted {
                ", names too"
            } else {
                " (names as they are)"
            },
            if e.created {
                "made the prefix's key"
            } else {
                "joined with the passphrase"
            },
            e.recipient,
            e.key_store
        );
        if e.created {
            println!(
                "  keep the passphrase safe: other devices need it, and without it (or the key) nothing can be decrypted"
            );
        }
    }
    if r.existing_objects {
        println!(
            "  the prefix already holds files: the first sync merges both sides (equal content is not transferred; differing files become conflict copies)"
        );
    }
    for rec in &r.recommendations {
        println!("  note: {rec}");
    }
    println!("  config: {}", config_file.display());
    println!("next: `pail sync` (or `pail sync --dry-run` to see the plan first)");
    if setup_failed {
        eprintln!(
            "pail: some bucket setup steps failed (see above); fix them and run `pail init --setup` again"
        );
        return Ok(1);
    }
    Ok(0)
}

/// The passphrase of `--encrypt`: `PAIL_PASSPHRASE` (scripts, tests), else asked on the
/// terminal without echo, twice for a new key.
fn passphrase(new_key: bool) -> Result<pail_crypt::SecretString> {
    if let Ok(p) = std::env::var("PAIL_PASSPHRASE") {
        return Ok(p.into());
    }
    use std::io::IsTerminal;
    if !std::io::stdin().is_terminal() {
        anyhow::bail!(
            "--encrypt needs the passphrase: set PAIL_PASSPHRASE, or run init on a terminal"
        );
    }
    let prompt = if new_key {
        "passphrase for the new key (other devices join with it): "
    } else {
        "the prefix's passphrase: "
    };
    let first = rpassword::prompt_password(prompt)?;
    if new_key {
        let again = rpassword::prompt_password("the same passphrase again: ")?;
        if again != first {
            anyhow::bail!("the two passphrases differ: run init again");
        }
    }
    Ok(first.into())
}
