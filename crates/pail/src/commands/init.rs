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
