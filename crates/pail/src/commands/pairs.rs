//! `pail remove DIR` and `pail config [--json]`.

use std::path::Path;

use anyhow::Result;
use pail_ops::pairs::{effective, remove as unpair};

use crate::cli::{ConfigArgs, RemoveArgs};

pub fn remove(config_file: &Path, a: RemoveArgs) -> Result<u8> {
    let r = unpair(config_file, &a.dir)?;
    println!(
        "{} is no longer synced with {}; its files and the bucket are untouched",
        r.pair.folder.display(),
        r.pair.remote
    );
    Ok(0)
}

pub fn config(config_file: &Path, a: ConfigArgs) -> Result<u8> {
    let e = effective(config_file)?;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&e)?);
        return Ok(0);
    }
    if !e.exists {
        println!(
            "# {} does not exist yet: `pail init DIR s3://BUCKET/PREFIX` writes it",
            e.path.display()
        );
        return Ok(0);
    }
    println!("# {} (defaults filled in)", e.path.display());
    print!("{}", e.to_config().to_toml()?);
    Ok(0)
}
