//! `pail share PATH [--expires 7d] [--version ID] [--ciphertext] [--json]`.

use std::path::Path;

use anyhow::{Context, Result};
use pail_ops::share::{parse_expiry, share};
use pail_ops::target::target;
use pail_s3::AwsStoreFactory;
use pail_sync::PairRemote;

use crate::cli::ShareArgs;

pub async fn run(config_file: &Path, a: ShareArgs) -> Result<u8> {
    let expires = parse_expiry(&a.expires)?;
    let t = target(config_file, &a.path)?;
    let rel = t
        .rel
        .as_ref()
        .context("pail shares a file, not a whole folder: name a file in it")?;
    let remote = PairRemote::connect(&t.pair, &AwsStoreFactory).await?;
    let s = share(&remote, rel, a.version.as_deref(), expires, a.ciphertext).await?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&s)?);
        return Ok(0);
    }
    println!("{}", s.url);
    eprintln!(
        "anyone with this link can download {} until {} (UTC){}",
        s.path,
        s.expires_at,
        match &s.version_id {
            Some(v) => format!(", version {v}"),
            None => ", as it is when they open it".to_owned(),
        }
    );
    if s.ciphertext {
        eprintln!(
            "the link serves the end-to-end encrypted object (an age file): to read it, its \
             recipient needs this pair's key (`pail key export`) and `age -d -i KEY`"
        );
    }
    if let Some(c) = &s.credentials_expire_at {
        eprintln!(
            "warning: it was signed with temporary credentials, which expire at {c} (UTC): the link stops working then"
        );
    }
    Ok(0)
}
