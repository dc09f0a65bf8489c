//! `pail undelete PATH`: the newest version with content of a deleted file, or of every
//! deleted file under a folder, becomes current again; then the folder follows by a sync.

use std::path::Path;

use anyhow::{Result, bail};
use pail_ops::restore::{Pick, apply, plan_one, plan_undelete, restore_to};
use pail_ops::target::{is_folder, note_activity, target};
use pail_ops::versions::{current, versions_of};
use pail_ops::when::local_ns;
use pail_s3::AwsStoreFactory;
use pail_sync::PairRemote;

use super::restore::{Out, run_plan, sync_after};
use crate::cli::UndeleteArgs;

pub async fn run(config_file: &Path, a: UndeleteArgs) -> Result<u8> {
    let mut out = Out::new(a.json);
    out.set("path", a.path.display().to_string());
    out.set("dry_run", a.dry_run);
    let code = undelete(config_file, a, &mut out).await?;
    out.finish(code)
}

async fn undelete(config_file: &Path, a: UndeleteArgs, out: &mut Out) -> Result<u8> {
    let t = target(config_file, &a.path)?;
    let bucket = PairRemote::connect(&t.pair, &AwsStoreFactory).await?;
    if is_folder(&bucket, &t).await? {
        let plan = plan_undelete(&bucket, t.rel.as_ref()).await?;
        if plan.steps.is_empty() {
            out.say(format!(
                "nothing to undelete under {}: no deleted file with a kept version{}",
                t.shown(),
                if bucket.versioned() {
                    ""
                } else {
                    " (this bucket has no versioning; pail can only bring back what it kept in its trash)"
                }
            ));
            return Ok(0);
        }
        let what = format!("undelete {}", t.shown());
        let (code, report) = run_plan(&bucket, &plan, &what, a.dry_run, out).await?;
        if a.dry_run || report.restored == 0 {
            return Ok(code);
        }
        note_activity(
            &t.pair,
            "undelete",
            &t.shown(),
            format!("{} file(s) brought back", report.restored),
        );
        return Ok(code.max(sync_after(&bucket, &t.pair, false, out).await?));
    }
    let rel = t.rel.clone().expect("a file has a path");
    let versions = versions_of(&bucket, &rel).await?;
    if let Some(c) = current(&versions) {
        if t.abs.symlink_metadata().is_err() {
            // Deleted here, not yet synced: the bucket still has it; bring it back to the folder
            // (verified, never over a file), and the next sync finds nothing to do for it.
            if a.dry_run {
                out.say(format!(
                    "would bring back {rel} from the bucket; nothing was changed"
                ));
                return Ok(0);
            }
            restore_to(&bucket, &t.pair.folder, &rel, &Pick::Newest, &t.abs).await?;
            out.say(format!(
                "{rel}: brought back from the bucket (it was deleted here, and the deletion was not synced yet)"
            ));
            return Ok(0);
        }
        out.say(format!(
            "{rel} is not deleted (current version {} of {}); nothing to do",
            c.id(),
            local_ns(c.shown_ns)
        ));
        return Ok(0);
    }
    let Some(step) = plan_one(&bucket, &rel, &Pick::Newest).await? else {
        bail!("{rel}: nothing to restore from");
    };
    if a.dry_run {
        out.say(format!("would undelete {rel}; nothing was changed"));
        return Ok(0);
    }
    apply(&bucket, &rel, &step).await?;
    out.say(format!("{rel}: undeleted"));
    note_activity(&t.pair, "undelete", rel.as_str(), "brought back".into());
    sync_after(&bucket, &t.pair, false, out).await
}
