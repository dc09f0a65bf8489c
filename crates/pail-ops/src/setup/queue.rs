//! The `event queue` step of setup: the SQS queue that `--notify-queue` names is made to exist
//! (given a name, setup creates it) and its access policy to let S3 send it this bucket's
//! events. It runs before the bucket's notifications are pointed at the queue, because AWS
//! checks that permission when the notification is set.

use pail_s3::admin::{BucketAdmin, QUEUE_RETENTION_SECS, QUEUE_WAIT_SECS, QueueInfo};
use pail_s3::queue::{QueueRef, parse_arn};
use serde_json::Value;

use super::{Outcome, Step, failed, plan, step};

/// The step's name in the report.
pub(super) const STEP: &str = "event queue";

/// Runs the step; the queue's ARN comes back when the queue is there and S3 may send to it.
pub(super) async fn event_queue(
    admin: &dyn BucketAdmin,
    queue: &QueueRef,
) -> (Step, Option<String>) {
    let (name, owner) = queue.name_and_owner();
    let fail = |outcome: Outcome| (step(STEP, outcome, None), None);
    let mut created = false;
    let info = match admin.queue(name, owner).await {
        Ok(Some(info)) => info,
        Ok(None) => match queue {
            QueueRef::Arn(arn) => {
                return fail(Outcome::Failed(format!(
                    "there is no SQS queue {arn} (or these credentials cannot see it): create it, or give --notify-queue a queue name and setup creates it"
                )));
            }
            QueueRef::Name(_) => {
                if let Err(e) = admin.create_queue(name).await {
                    return fail(failed(e));
                }
                created = true;
                match admin.queue(name, None).await {
                    Ok(Some(info)) => info,
                    Ok(None) => {
                        return fail(Outcome::NotSupported(format!(
                            "the server accepted the queue {name} but does not find it"
                        )));
                    }
                    Err(e) => return fail(failed(e)),
                }
            }
        },
        Err(e) => return fail(failed(e)),
    };
    let account = bucket_account(admin, &info).await;
    let statement = plan::queue_statement(admin.bucket(), &info.arn, account.as_deref());
    let what = if created {
        format!(
            "{name}: created ({}), keeps messages {} h, long polls of {QUEUE_WAIT_SECS} s",
            info.arn,
            QUEUE_RETENTION_SECS / 3600
        )
    } else {
        format!("{name}: already there ({})", info.arn)
    };
    let (doc, merge) =
        match plan::merge_policy(info.policy.as_deref(), std::slice::from_ref(&statement)) {
            Ok(x) => x,
            Err(e) => {
                return (
                    step(
                        STEP,
                        Outcome::Failed(format!("the queue's policy: {e}")),
                        Some(what),
                    ),
                    None,
                );
            }
        };
    if merge.changed.is_empty() {
        return (
            step(
                STEP,
                Outcome::Already,
                Some(format!("{what}; S3 may send to it")),
            ),
            Some(info.arn),
        );
    }
    let mut detail = format!(
        "{what}; policy {}: S3 may send to it (statement {})",
        if info.policy.is_some() {
            "updated"
        } else {
            "set"
        },
        plan::queue_sid(admin.bucket())
    );
    // Someone else's policy changed: show how; a new queue's whole policy is pail's.
    if let Some(old) = info
        .policy
        .as_deref()
        .and_then(|p| serde_json::from_str::<Value>(p).ok())
    {
        detail = format!("{detail}\n{}", plan::json_diff(Some(&old), &doc));
    }
    if let Err(e) = admin.set_queue_policy(&info, &doc.to_string()).await {
        return (step(STEP, failed(e), Some(detail)), None);
    }
    let back = admin.queue(name, owner).await;
    match back {
        Ok(Some(QueueInfo { policy, .. }))
            if plan::merge_policy(policy.as_deref(), &[statement])
                .is_ok_and(|(_, m)| m.changed.is_empty()) =>
        {
            (step(STEP, Outcome::Done, Some(detail)), Some(info.arn))
        }
        Ok(_) => (
            step(
                STEP,
                Outcome::NotSupported(
                    "the server accepted the queue's policy but does not return it".into(),
                ),
                Some(detail),
            ),
            Some(info.arn),
        ),
        Err(e) => (step(STEP, failed(e), Some(detail)), None),
    }
}

/// The account the bucket belongs to, for the statement's `aws:SourceAccount`: the caller's
/// (setup works on the caller's bucket), else the queue's own account.
async fn bucket_account(admin: &dyn BucketAdmin, queue: &QueueInfo) -> Option<String> {
    match admin.caller_identity().await {
        Ok(Some(id)) if id.account.is_some() => id.account,
        _ => parse_arn(&queue.arn).map(|(account, _)| account.to_owned()),
    }
}
