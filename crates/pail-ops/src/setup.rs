//! `pail init --setup`: make the bucket what a personal cloud needs, one step at a time, each
//! read first and written only when it differs, so that a re-run changes nothing.
//!
//! Steps: bucket, versioning, Block Public Access, default encryption, bucket policy,
//! lifecycle rules, event queue (`queue`: with `--notify-queue`), event notifications. A server that lacks an API gets "not supported by
//! this server" for that step and setup goes on; only a bucket that cannot be had stops it.

pub mod plan;
mod queue;

use anyhow::Result;
use pail_s3::Versioning;
use pail_s3::admin::{AdminError, BucketAdmin, Encryption, NotifyTarget, PublicAccessBlock};
use pail_s3::queue::QueueRef;
use serde::Serialize;
use serde_json::Value;

pub use plan::Transition;

/// What the user asked for beyond the defaults.
#[derive(Debug, Clone, Default)]
pub struct SetupOptions {
    /// Region to create the bucket in (default: the client's region).
    pub region: Option<String>,
    /// Noncurrent versions move to these classes; empty means STANDARD_IA after 30 days.
    pub transitions: Vec<Transition>,
    pub expire_noncurrent_after: Option<u32>,
    /// The one principal allowed in; default: the caller's identity when STS tells it.
    pub allow_principal: Option<String>,
    pub notify: Option<Notify>,
    /// SSE-KMS with this key instead of SSE-S3.
    pub kms_key: Option<String>,
}

/// Where the bucket's object events go.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Notify {
    /// An SNS topic, by ARN (left as it is).
    Topic(String),
    /// An SQS queue: created when named and missing; its policy lets S3 send to it.
    Queue(QueueRef),
}

/// How one step came out.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "outcome", content = "reason", rename_all = "snake_case")]
pub enum Outcome {
    Done,
    Already,
    NotSupported(String),
    Failed(String),
}

#[derive(Debug, Clone, Serialize)]
pub struct Step {
    pub name: &'static str,
    #[serde(flatten)]
    pub outcome: Outcome,
    /// What was changed or found (a diff, a note), for the person reading.
    pub detail: Option<String>,
}

impl Step {
    pub fn line(&self) -> String {
        let o = match &self.outcome {
            Outcome::Done => "done".to_owned(),
            Outcome::Already => "already so".to_owned(),
            Outcome::NotSupported(r) => format!("not supported by this server ({r})"),
            Outcome::Failed(r) => format!("failed: {r}"),
        };
        format!("{:<22} {o}", self.name)
    }
}

#[derive(Debug, Clone, Serialize)]
pub struct SetupReport {
    pub bucket: String,
    pub steps: Vec<Step>,
    /// The ARN of the event queue, for the pair's `notify_queue`, when there is one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub notify_queue: Option<String>,
}

impl SetupReport {
    pub fn failed(&self) -> bool {
        self.steps
            .iter()
            .any(|s| matches!(s.outcome, Outcome::Failed(_)))
    }
    /// Setup could not get a usable bucket: nothing else was tried.
    pub fn bucket_failed(&self) -> bool {
        self.steps
            .first()
            .is_some_and(|s| matches!(s.outcome, Outcome::Failed(_)))
    }
}

fn step(name: &'static str, outcome: Outcome, detail: Option<String>) -> Step {
    Step {
        name,
        outcome,
        detail,
    }
}

/// An error as a step outcome.
fn failed(e: AdminError) -> Outcome {
    match e {
        AdminError::NotSupported { detail, .. } => Outcome::NotSupported(detail),
        e => Outcome::Failed(e.to_string()),
    }
}

/// Runs every step against `admin`. Validation errors (bad options) come back as `Err`
/// before anything is changed; everything else is reported per step.
/// `probe_key` is a scratch key (under the pair's `.pail/probe/`) for the access check.
pub async fn run_setup(
    admin: &dyn BucketAdmin,
    opts: &SetupOptions,
    probe_key: &str,
) -> Result<SetupReport> {
    let rules = plan::desired_lifecycle(&opts.transitions, opts.expire_noncurrent_after)?;
    let mut steps = Vec::new();
    let mut report = |s: Step| steps.push(s);

    let name_check =
        plan::check_bucket_name(admin.bucket()).map_err(|message| AdminError::InvalidName {
            bucket: admin.bucket().to_owned(),
            message,
        });
    let bucket = match name_check {
        Err(e) => step("bucket", Outcome::Failed(e.to_string()), None),
        Ok(()) => match admin.exists().await {
            Ok(true) => step("bucket", Outcome::Already, None),
            Ok(false) => match admin.create(opts.region.as_deref()).await {
                Ok(_) => step(
                    "bucket",
                    Outcome::Done,
                    Some(format!(
                        "created {}{}",
                        admin.bucket(),
                        opts.region
                            .as_deref()
                            .map(|r| format!(" in {r}"))
                            .unwrap_or_default()
                    )),
                ),
                Err(e) => step("bucket", Outcome::Failed(e.to_string()), None),
            },
            // HEAD answers have no body: a wrong secret, a bucket of another account and a
            // denying policy all look the same.
            Err(AdminError::Store(pail_s3::StoreError::AccessDenied { message, .. })) => step(
                "bucket",
                Outcome::Failed(format!(
                    "bucket {:?} cannot be used with these credentials ({message}): the secret key may be wrong, the bucket may belong to another account, or a policy denies it; fix the credentials or pick another name",
                    admin.bucket()
                )),
                None,
            ),
            Err(e) => step("bucket", failed(e), None),
        },
    };
    let stop = matches!(bucket.outcome, Outcome::Failed(_));
    report(bucket);
    if stop {
        return Ok(SetupReport {
            bucket: admin.bucket().to_owned(),
            steps,
            notify_queue: None,
        });
    }

    let versioning = versioning(admin).await;
    // Rules about noncurrent versions and delete markers mean nothing without versioning,
    // and servers without it (Garage) reject them: keep only the multipart clean-up there.
    let rules: Vec<Value> = if matches!(versioning.outcome, Outcome::NotSupported(_)) {
        rules
            .into_iter()
            .filter(|r| r["ID"] == plan::RULE_MULTIPART)
            .collect()
    } else {
        rules
    };
    report(versioning);
    report(public_access(admin, probe_key).await);
    report(encryption(admin, opts).await);
    report(policy(admin, opts, probe_key).await);
    report(lifecycle(admin, &rules).await);
    let mut notify_queue = None;
    match &opts.notify {
        Some(Notify::Topic(arn)) => {
            report(notifications(admin, &NotifyTarget::Topic(arn.clone())).await);
        }
        Some(Notify::Queue(q)) => {
            let (step, arn) = queue::event_queue(admin, q).await;
            // A server without SQS may still send to a queue elsewhere: a given ARN is
            // configured as asked. Any other failure leaves no queue to point the bucket at.
            let arn = match (arn, q, &step.outcome) {
                (Some(arn), _, _) => Some(arn),
                (None, QueueRef::Arn(arn), Outcome::NotSupported(_)) => Some(arn.clone()),
                (None, _, _) => None,
            };
            report(step);
            if let Some(arn) = arn {
                report(notifications(admin, &NotifyTarget::Queue(arn.clone())).await);
                notify_queue = Some(arn);
            }
        }
        None => {}
    }
    Ok(SetupReport {
        bucket: admin.bucket().to_owned(),
        steps,
        notify_queue,
    })
}

async fn versioning(admin: &dyn BucketAdmin) -> Step {
    const N: &str = "versioning";
    match admin.versioning().await {
        Ok(Versioning::Enabled) => return step(N, Outcome::Already, None),
        Ok(_) => {}
        Err(e) => return step(N, failed(e), None),
    }
    if let Err(e) = admin.enable_versioning().await {
        return step(N, failed(e), None);
    }
    // Garage answers GetBucketVersioning with a stub; read back to be sure it took.
    match admin.versioning().await {
        Ok(Versioning::Enabled) => step(N, Outcome::Done, None),
        Ok(v) => step(
            N,
            Outcome::NotSupported(format!("accepted but still reads as {v:?}")),
            None,
        ),
        Err(e) => step(N, failed(e), None),
    }
}

async fn public_access(admin: &dyn BucketAdmin, probe_key: &str) -> Step {
    const N: &str = "block public access";
    let before = match admin.public_access_block().await {
        Ok(Some(p)) if p == PublicAccessBlock::ALL_ON => return step(N, Outcome::Already, None),
        Ok(p) => p.unwrap_or_default(),
        Err(e) => return step(N, failed(e), None),
    };
    if let Err(e) = admin
        .set_public_access_block(PublicAccessBlock::ALL_ON)
        .await
    {
        return step(N, failed(e), None);
    }
    if admin.check_object_access(probe_key).await.is_ok() {
        return step(
            N,
            Outcome::Done,
            Some(
                "BlockPublicAcls, IgnorePublicAcls, BlockPublicPolicy, RestrictPublicBuckets on"
                    .into(),
            ),
        );
    }
    // Ceph RGW 16 refuses every upload once BlockPublicAcls is on: keep the other three.
    let three = PublicAccessBlock {
        block_public_acls: false,
        ..PublicAccessBlock::ALL_ON
    };
    if admin.set_public_access_block(three).await.is_ok()
        && admin.check_object_access(probe_key).await.is_ok()
    {
        return step(
            N,
            Outcome::NotSupported(
                "with BlockPublicAcls on, this server refuses uploads; the other three settings are on".into(),
            ),
            None,
        );
    }
    let restored = admin.set_public_access_block(before).await;
    step(
        N,
        Outcome::Failed(format!(
            "with Block Public Access on, this server refuses uploads; {}",
            if restored.is_ok() {
                "the previous settings were put back"
            } else {
                "putting the previous settings back failed: restore them by hand"
            }
        )),
        None,
    )
}

async fn encryption(admin: &dyn BucketAdmin, opts: &SetupOptions) -> Step {
    const N: &str = "default encryption";
    let want = match &opts.kms_key {
        Some(k) => Encryption::SseKms {
            key_id: Some(k.clone()),
        },
        None => Encryption::SseS3,
    };
    match admin.encryption().await {
        Ok(Some(cur)) if cur == want => return step(N, Outcome::Already, None),
        // Without --kms-key any existing default encryption is kept: it is at least SSE-S3.
        Ok(Some(cur)) if opts.kms_key.is_none() => {
            return step(N, Outcome::Already, Some(format!("kept {cur:?}")));
        }
        Ok(_) => {}
        Err(e) => return step(N, failed(e), None),
    }
    if let Err(e) = admin.set_encryption(&want).await {
        return step(N, failed(e), None);
    }
    // Ceph without a KMS accepts the request and keeps nothing.
    match admin.encryption().await {
        Ok(Some(cur)) if cur == want => step(N, Outcome::Done, Some(format!("{want:?}"))),
        Ok(cur) => step(
            N,
            Outcome::NotSupported(format!(
                "the server accepted the setting but reads back {cur:?}"
            )),
            None,
        ),
        Err(e) => step(N, failed(e), None),
    }
}

async fn policy(admin: &dyn BucketAdmin, opts: &SetupOptions, probe_key: &str) -> Step {
    const N: &str = "bucket policy";
    let current = match admin.policy().await {
        Ok(p) => p,
        Err(e) => return step(N, failed(e), None),
    };
    let mut notes = Vec::new();
    let tls = !admin.plain_http();
    if !tls {
        notes.push("no TLS-only statement: the endpoint is plain HTTP and would be refused by it; use an https:// endpoint to get one".to_owned());
    }
    let principal = match &opts.allow_principal {
        Some(p) => Some(p.clone()),
        // S3-compatible servers name principals their own way (Ceph: arn:aws:iam:::user/U)
        // and few evaluate aws:PrincipalArn: only AWS gets the caller as a default.
        None if admin.plain_http() || admin.custom_endpoint() => {
            notes.push("access is not limited to one principal on this server: pass --allow-principal ARN for that".to_owned());
            None
        }
        None => match admin.caller_identity().await {
            Ok(Some(id)) => Some(plan::principal_for(&id.arn)),
            Ok(None) => {
                notes.push("access is not limited to one principal: the caller's identity is unknown; pass --allow-principal ARN".to_owned());
                None
            }
            Err(e) => {
                notes.push(format!("access is not limited to one principal: {e}"));
                None
            }
        },
    };
    let desired = plan::desired_statements(admin.bucket(), principal.as_deref(), tls);
    let note = |n: &[String]| (!n.is_empty()).then(|| n.join("; "));
    if desired.is_empty() {
        return step(
            N,
            Outcome::NotSupported("nothing pail can add here".into()),
            note(&notes),
        );
    }
    let (doc, merge) = match plan::merge_policy(current.as_deref(), &desired) {
        Ok(x) => x,
        Err(e) => return step(N, Outcome::Failed(e.to_string()), None),
    };
    if merge.changed.is_empty() {
        return step(N, Outcome::Already, note(&notes));
    }
    let old: Option<Value> = current
        .as_deref()
        .and_then(|c| serde_json::from_str(c).ok());
    let diff = plan::json_diff(old.as_ref(), &doc);
    notes.insert(0, format!("statements {}", merge.changed.join(", ")));
    let detail = Some(format!("{}\n{diff}", notes.join("; ")));
    if let Err(e) = admin.set_policy(&doc.to_string()).await {
        return step(N, failed(e), detail);
    }
    // A policy can lock these very credentials out (a wrong ARN, a server that does not
    // evaluate a condition key): prove object access still works, else put the old one back.
    if let Err(e) = admin.check_object_access(probe_key).await {
        let restored = match &current {
            Some(p) => admin.set_policy(p).await,
            None => admin.delete_policy().await,
        };
        return step(
            N,
            Outcome::Failed(format!(
                "with the new policy these credentials lose access to the bucket ({e}); {}; check the ARN given to --allow-principal",
                match restored {
                    Ok(()) => "the previous policy was put back".to_owned(),
                    Err(r) => format!(
                        "putting the previous policy back failed too ({r}): restore it by hand"
                    ),
                }
            )),
            detail,
        );
    }
    match admin.policy().await {
        Ok(Some(p))
            if plan::merge_policy(Some(&p), &desired).is_ok_and(|(_, m)| m.changed.is_empty()) =>
        {
            step(N, Outcome::Done, detail)
        }
        Ok(_) => step(
            N,
            Outcome::NotSupported("the server accepted the policy but does not return it".into()),
            detail,
        ),
        Err(e) => step(N, failed(e), detail),
    }
}

async fn lifecycle(admin: &dyn BucketAdmin, desired: &[Value]) -> Step {
    const N: &str = "lifecycle rules";
    let current = match admin.lifecycle().await {
        Ok(r) => r,
        Err(e) => return step(N, failed(e), None),
    };
    let merge = plan::merge_lifecycle(&current, desired);
    if merge.changed.is_empty() {
        return step(N, Outcome::Already, None);
    }
    let diff = plan::json_diff(
        Some(&Value::Array(current.clone())).filter(|_| !current.is_empty()),
        &Value::Array(merge.merged.clone()),
    );
    if let Err(e) = admin.set_lifecycle(&merge.merged).await {
        return step(N, failed(e), Some(diff));
    }
    match admin.lifecycle().await {
        Ok(back) if plan::merge_lifecycle(&back, desired).changed.is_empty() => step(
            N,
            Outcome::Done,
            Some(format!("rules {}\n{diff}", merge.changed.join(", "))),
        ),
        Ok(_) => step(
            N,
            Outcome::NotSupported("the server accepted the rules but returns others".into()),
            Some(diff),
        ),
        Err(e) => step(N, failed(e), Some(diff)),
    }
}

async fn notifications(admin: &dyn BucketAdmin, target: &NotifyTarget) -> Step {
    const N: &str = "event notifications";
    let current = match admin.notifications().await {
        Ok(n) => n,
        Err(e) => return step(N, failed(e), None),
    };
    let Some(next) = current.with_target(plan::NOTIFY_ID, target) else {
        return step(N, Outcome::Already, None);
    };
    if let Err(e) = admin.set_notifications(&next).await {
        return step(N, failed(e), None);
    }
    match admin.notifications().await {
        Ok(back) if back.with_target(plan::NOTIFY_ID, target).is_none() => step(
            N,
            Outcome::Done,
            Some(match target {
                NotifyTarget::Topic(arn) => format!("uploads and deletions to the SNS topic {arn}"),
                NotifyTarget::Queue(arn) => format!("uploads and deletions to the SQS queue {arn}"),
            }),
        ),
        Ok(_) => step(
            N,
            Outcome::NotSupported("the server accepted the setting but does not return it".into()),
            None,
        ),
        Err(e) => step(N, failed(e), None),
    }
}
