//! Bucket administration for `pail init --setup` and `pail doctor`: the bucket-level settings
//! (versioning, Block Public Access, default encryption, policy, lifecycle, notifications), the
//! SQS queue the bucket's events go to, and the machine-side facts only the server can tell (who
//! the credentials are, the server's clock).
//!
//! Kept apart from [`crate::ObjectStore`], which holds only what a sync pass needs. Settings are
//! passed as plain data (lifecycle rules as the JSON the AWS CLI shows) so that pail-sync can
//! plan merges and diffs without the SDK.
//!
//! This file holds the trait and the plain-data types; `aws_impl` implements it over the SDK,
//! with the settings calls in `access` (public access, policy, object access) and `config`
//! (encryption, lifecycle, notifications), the event queue's calls in `sqs`, and the answers of
//! S3-compatible servers that need special reading in `workarounds`.

mod access;
mod aws_impl;
mod config;
mod sqs;
#[cfg(test)]
mod tests;
mod workarounds;

use async_trait::async_trait;
use aws_sdk_s3::types::{
    Event, EventBridgeConfiguration, LambdaFunctionConfiguration, QueueConfiguration,
    TopicConfiguration,
};
use serde_json::Value;

use crate::error::StoreError;
use crate::types::Versioning;

pub use aws_impl::AwsAdmin;

/// Why an administrative call did not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    /// CreateBucket: the name belongs to another account.
    #[error(
        "the bucket name {bucket:?} is taken by another AWS account (bucket names are global): pick another name"
    )]
    NameTaken {
        /// The name asked for.
        bucket: String,
    },
    /// CreateBucket: the server refused the name.
    #[error(
        "{bucket:?} is not a valid bucket name ({message}): use 3-63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
    )]
    InvalidName {
        /// The name asked for.
        bucket: String,
        /// The server's reason.
        message: String,
    },
    /// The server does not implement the call (501 or an equivalent answer).
    #[error("not supported by this server ({op}: {detail})")]
    NotSupported {
        /// The call, for the message.
        op: &'static str,
        /// What the server answered.
        detail: String,
    },
    /// An SQS call about the bucket's event queue failed.
    #[error("SQS queue {queue}: {message}")]
    Queue {
        /// The queue's name or ARN.
        queue: String,
        /// What went wrong and what to do about it.
        message: String,
    },
    #[error(transparent)]
    /// Any other failure, as the object store reports it.
    Store(#[from] StoreError),
}

/// The result of a [`BucketAdmin`] call.
pub type AdminResult<T> = std::result::Result<T, AdminError>;

/// The four Block Public Access switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PublicAccessBlock {
    /// Refuse requests that add a public ACL.
    pub block_public_acls: bool,
    /// Ignore the public ACLs already in place.
    pub ignore_public_acls: bool,
    /// Refuse a bucket policy that grants public access.
    pub block_public_policy: bool,
    /// Limit a public bucket policy to AWS services and the bucket owner's account.
    pub restrict_public_buckets: bool,
}

impl std::fmt::Display for PublicAccessBlock {
    /// The switches that are off, by their AWS names (`BlockPublicAcls off, ...`), or "all on".
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let off: Vec<&str> = [
            (self.block_public_acls, "BlockPublicAcls"),
            (self.ignore_public_acls, "IgnorePublicAcls"),
            (self.block_public_policy, "BlockPublicPolicy"),
            (self.restrict_public_buckets, "RestrictPublicBuckets"),
        ]
        .iter()
        .filter(|(on, _)| !on)
        .map(|(_, name)| *name)
        .collect();
        match off.as_slice() {
            [] => f.write_str("all four on"),
            names => write!(f, "{} off", names.join(", ")),
        }
    }
}

impl PublicAccessBlock {
    /// Every switch on: nothing in the bucket can be made public (what setup asks for).
    pub const ALL_ON: PublicAccessBlock = PublicAccessBlock {
        block_public_acls: true,
        ignore_public_acls: true,
        block_public_policy: true,
        restrict_public_buckets: true,
    };
}

/// Default encryption of new objects.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Encryption {
    /// SSE-S3 (AES256, keys managed by S3).
    SseS3,
    /// SSE-KMS with this key (the AWS managed `aws/s3` key when `None`).
    SseKms {
        /// The KMS key id or ARN.
        key_id: Option<String>,
    },
    /// Something pail does not set (DSSE-KMS, ...), named as the server did.
    Other {
        /// The algorithm as the server named it.
        algorithm: String,
    },
}

/// Event notifications: pail's own one plus whatever else is configured, which is kept as is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notifications {
    /// SNS topic notifications.
    pub topics: Vec<TopicConfiguration>,
    /// SQS queue notifications.
    pub queues: Vec<QueueConfiguration>,
    /// Lambda and EventBridge settings pail never changes but must write back unchanged.
    pub lambdas: Vec<LambdaFunctionConfiguration>,
    /// The EventBridge setting, kept for the same reason.
    pub event_bridge: Option<EventBridgeConfiguration>,
}

impl Notifications {
    /// These notifications with the one named `id` sending uploads and deletions to
    /// `target` (replacing any other with that id), or `None` when that is already so.
    pub fn with_target(&self, id: &str, target: &NotifyTarget) -> Option<Notifications> {
        let mine = |c: &Option<String>| c.as_deref() == Some(id);
        let events = sync_events();
        let same_events =
            |e: &[Event]| e.len() == events.len() && events.iter().all(|x| e.contains(x));
        let already = match target {
            NotifyTarget::Topic(arn) => {
                self.topics
                    .iter()
                    .any(|t| mine(&t.id) && &t.topic_arn == arn && same_events(&t.events))
                    && !self.queues.iter().any(|q| mine(&q.id))
            }
            NotifyTarget::Queue(arn) => {
                self.queues
                    .iter()
                    .any(|q| mine(&q.id) && &q.queue_arn == arn && same_events(&q.events))
                    && !self.topics.iter().any(|t| mine(&t.id))
            }
        };
        if already {
            return None;
        }
        let mut n = self.clone();
        n.topics.retain(|t| !mine(&t.id));
        n.queues.retain(|q| !mine(&q.id));
        match target {
            NotifyTarget::Topic(arn) => n.topics.push(
                TopicConfiguration::builder()
                    .id(id)
                    .topic_arn(arn)
                    .set_events(Some(events))
                    .build()
                    .ok()?,
            ),
            NotifyTarget::Queue(arn) => n.queues.push(
                QueueConfiguration::builder()
                    .id(id)
                    .queue_arn(arn)
                    .set_events(Some(events))
                    .build()
                    .ok()?,
            ),
        }
        Some(n)
    }
}

/// A notification target: an SNS topic or an SQS queue ARN.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyTarget {
    /// An SNS topic, by ARN.
    Topic(String),
    /// An SQS queue, by ARN.
    Queue(String),
}

/// An SQS queue as setup sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueInfo {
    /// Where requests about it go.
    pub url: String,
    /// `arn:aws:sqs:REGION:ACCOUNT:NAME`.
    pub arn: String,
    /// Its access policy (a JSON document), if it has one.
    pub policy: Option<String>,
}

/// How long a queue setup creates keeps a message: a day. Older events only repeat what the
/// daemon's start pass finds anyway (it lists the whole prefix), so keeping them longer buys
/// nothing.
pub const QUEUE_RETENTION_SECS: u32 = 86_400;
/// The long poll a queue setup creates answers with by default: SQS's maximum, 20 s.
pub const QUEUE_WAIT_SECS: u32 = 20;

/// Who the credentials belong to (STS GetCallerIdentity).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallerIdentity {
    /// The ARN of the user or role.
    pub arn: String,
    /// The AWS account id, when STS reports one.
    pub account: Option<String>,
}

/// How CreateBucket came out when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    /// The bucket is new.
    Created,
    /// BucketAlreadyOwnedByYou: it existed and is ours.
    AlreadyOwned,
}

/// The bucket-level calls of setup and doctor. Every getter returns `None`/empty for "not
/// configured" and [`AdminError::NotSupported`] when the server lacks the API.
#[async_trait]
pub trait BucketAdmin: Send + Sync {
    /// The bucket's name.
    fn bucket(&self) -> &str;
    /// Whether the endpoint is plain HTTP (a TLS-only policy then refuses pail itself,
    /// on servers that enforce it).
    fn plain_http(&self) -> bool;
    /// Whether this is an S3-compatible server rather than AWS.
    fn custom_endpoint(&self) -> bool;
    /// HeadBucket: `false` when it does not exist; AccessDenied when it exists but is not ours
    /// to read.
    async fn exists(&self) -> AdminResult<bool>;
    /// CreateBucket, in `region` (the configured one when `None`).
    async fn create(&self, region: Option<&str>) -> AdminResult<Created>;
    /// The versioning state (`Off` for a never-versioned bucket).
    async fn versioning(&self) -> AdminResult<Versioning>;
    /// Turns versioning on (it cannot be turned off again, only suspended).
    async fn enable_versioning(&self) -> AdminResult<()>;
    /// The Block Public Access switches, `None` when none are set.
    async fn public_access_block(&self) -> AdminResult<Option<PublicAccessBlock>>;
    /// Sets all four Block Public Access switches.
    async fn set_public_access_block(&self, pab: PublicAccessBlock) -> AdminResult<()>;
    /// The default encryption, `None` when none is configured.
    async fn encryption(&self) -> AdminResult<Option<Encryption>>;
    /// Sets the default encryption of new objects.
    async fn set_encryption(&self, enc: &Encryption) -> AdminResult<()>;
    /// The policy document as the server returned it.
    async fn policy(&self) -> AdminResult<Option<String>>;
    /// Replaces the bucket policy with `policy` (a JSON document).
    async fn set_policy(&self, policy: &str) -> AdminResult<()>;
    /// Removes the bucket policy.
    async fn delete_policy(&self) -> AdminResult<()>;
    /// Writes and removes `key`: proves these credentials can still use the bucket's objects
    /// (after a policy change).
    async fn check_object_access(&self, key: &str) -> AdminResult<()>;
    /// Lifecycle rules in the JSON shape of the AWS CLI (`ID`, `Filter`, `Status`, ...).
    async fn lifecycle(&self) -> AdminResult<Vec<Value>>;
    /// Replaces all lifecycle rules with `rules` (an empty slice removes them).
    async fn set_lifecycle(&self, rules: &[Value]) -> AdminResult<()>;
    /// The event notifications as configured.
    async fn notifications(&self) -> AdminResult<Notifications>;
    /// Replaces the event notifications with `n`.
    async fn set_notifications(&self, n: &Notifications) -> AdminResult<()>;
    /// The SQS queue `name` (of account `owner`; the caller's when `None`), in the client's
    /// region; `None` when there is no such queue.
    async fn queue(&self, name: &str, owner: Option<&str>) -> AdminResult<Option<QueueInfo>>;
    /// Creates the SQS queue `name` (a standard queue keeping messages
    /// [`QUEUE_RETENTION_SECS`], with long polls of [`QUEUE_WAIT_SECS`]).
    async fn create_queue(&self, name: &str) -> AdminResult<()>;
    /// Replaces the access policy of `queue` with `policy` (a JSON document).
    async fn set_queue_policy(&self, queue: &QueueInfo, policy: &str) -> AdminResult<()>;
    /// Who the credentials are; `None` when the endpoint has no STS (most non-AWS servers).
    async fn caller_identity(&self) -> AdminResult<Option<CallerIdentity>>;
    /// The server's clock from the `Date` header of a HeadBucket response (success or error).
    async fn server_time(&self) -> AdminResult<Option<time::OffsetDateTime>>;
}

/// An RFC 7231 HTTP-date (`Sun, 29 Nov 2026 00:12:03 GMT`).
pub fn parse_http_date(s: &str) -> Option<time::OffsetDateTime> {
    let d = aws_smithy_types::DateTime::from_str(
        s.trim(),
        aws_smithy_types::date_time::Format::HttpDate,
    )
    .ok()?;
    time::OffsetDateTime::from_unix_timestamp(d.secs()).ok()
}

/// The event types pail asks notifications for: every upload and every deletion.
pub fn sync_events() -> Vec<Event> {
    vec![
        Event::from("s3:ObjectCreated:*"),
        Event::from("s3:ObjectRemoved:*"),
    ]
}
