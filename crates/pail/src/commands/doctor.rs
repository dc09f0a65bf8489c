//! `pail doctor`.

use anyhow::Result;
use pail_ops::doctor::{Level, doctor};
use pail_sync::config::Config;

use crate::cli::DoctorArgs;

pub async fn run(config_file: &std::path::Path, a: DoctorArgs) -> Result<u8> {
    let config = Config::load(config_file)?;
    let pairs = if config.pairs.is_empty() && a.folder.is_none() {
        Vec::new()
    } else {
        config.select(a.folder.as_deref())?
    };
    let report = doctor(&pairs).await;
    if a.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        let mut scope = "";
        for c in &report.checks {
            if c.scope != scope {
                scope = &c.scope;
                println!("{scope}:");
            }
            let mark = match c.level {
                Level::Ok => "ok     ",
                Level::Warning => "warning",
                Level::Problem => "PROBLEM",
                Level::NotSupported => "n/a    ",
            };
            println!("  {mark} {:<20} {}", c.item, c.message);
            if let Some(fix) = c.fix.as_deref().filter(|_| c.level != Level::Ok) {
                println!("          fix: {fix}");
            }
        }
        if pairs.is_empty() {
            println!(
                "no folder pair is configured: run `pail init DIR s3://BUCKET/PREFIX` to audit a bucket"
            );
        }
        let problems = report
            .checks
            .iter()
            .filter(|c| c.level == Level::Problem)
            .count();
        if problems == 0 {
            println!("all good");
        } else {
            println!("{problems} problem(s) found");
        }
    }
    Ok(if report.ok { 0 } else { 1 })
}
