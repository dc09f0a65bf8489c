//! `pail conflicts [--json]` and `pail conflicts resolve [PATH] --keep local|remote|both`.

use pail_core::printable;
use std::path::Path;

use anyhow::Result;
use pail_ops::conflicts::{Keep, list, resolve};
use pail_ops::target::target;
use pail_s3::AwsStoreFactory;
use pail_sync::PairRemote;
use pail_sync::config::Config;
use pail_sync::ctx::open_index;

use super::restore::{Out, sync_after};
use crate::cli::{ConflictsAction, ConflictsArgs, KeepArg};

pub async fn run(config_file: &Path, a: ConflictsArgs) -> Result<u8> {
    match a.action {
        None => list_all(config_file, a.folder.as_deref(), a.json),
        Some(ConflictsAction::Resolve { path, keep }) => {
            let keep = match keep {
                KeepArg::Local => Keep::Local,
                KeepArg::Remote => Keep::Remote,
                KeepArg::Both => Keep::Both,
            };
            match path {
                Some(p) => {
                    let t = target(config_file, &p)?;
                    resolve_pair(&t.pair, t.rel.as_ref(), keep).await
                }
                None => {
                    let config = Config::load(config_file)?;
                    let mut code = 0;
                    for pair in config.select(a.folder.as_deref())? {
                        code = code.max(resolve_pair(pair, None, keep).await?);
                    }
                    Ok(code)
                }
            }
        }
    }
}

fn list_all(config_file: &Path, folder: Option<&Path>, json: bool) -> Result<u8> {
    let config = Config::load(config_file)?;
    let pairs = if config.pairs.is_empty() && json {
        vec![]
    } else {
        config.select(folder)?
    };
    let mut out = Vec::new();
    for pair in pairs {
        for c in list(&open_index(pair)?, &pair.folder)? {
            out.push((pair.folder.display().to_string(), c));
        }
    }
    if json {
        let items: Vec<_> = out
            .iter()
            .map(|(folder, c)| {
                let mut v = serde_json::to_value(c).unwrap_or_default();
                v["folder"] = serde_json::Value::String(folder.clone());
                v
            })
            .collect();
        println!(
            "{}",
            serde_json::to_string_pretty(&serde_json::json!({ "conflicts": items }))?
        );
        return Ok(0);
    }
    if out.is_empty() {
        println!("no conflict copies");
    }
    for (folder, c) in &out {
        println!(
            "{folder}/{}\n    copy of {} from {}, {}",
            printable(&c.path),
            printable(&c.original),
            printable(&c.device),
            c.created_at
        );
    }
    if !out.is_empty() {
        println!(
            "resolve with `pail conflicts resolve PATH --keep local|remote|both` (local: the copy replaces the original; remote: the copy is deleted; both: keep both)"
        );
    }
    Ok(0)
}

async fn resolve_pair(
    pair: &pail_sync::PairConfig,
    rel: Option<&pail_core::RelPath>,
    keep: Keep,
) -> Result<u8> {
    let report = {
        let index = open_index(pair)?;
        resolve(&index, &pair.folder, rel, keep)?
    };
    for (copy, what) in &report.resolved {
        println!("{copy}: {what}");
    }
    for (copy, why) in &report.refused {
        eprintln!(
            "pail: {copy}: not resolved: {}",
            printable(&why.to_string())
        );
    }
    let code = u8::from(!report.refused.is_empty());
    if report.resolved.is_empty() {
        if report.refused.is_empty() {
            println!("no conflicts in {}", pair.folder.display());
        }
        return Ok(code);
    }
    let remote = PairRemote::connect(pair, &AwsStoreFactory).await?;
    Ok(code.max(sync_after(&remote, pair, false, &mut Out::new(false)).await?))
}
