//! Bucket administration for `pail init --setup` and `pail doctor`: the bucket-level settings
//! (versioning, Block Public Access, default encryption, policy, lifecycle, notifications) and
//! the machine-side facts only the server can tell (who the credentials are, the server's clock).
//!
//! Kept apart from [`crate::ObjectStore`], which holds only what a sync pass needs. Settings are
//! passed as plain data (lifecycle rules as the JSON the AWS CLI shows) so that pail-sync can
//! plan merges and diffs without the SDK.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration, Event,
    EventBridgeConfiguration, LambdaFunctionConfiguration, NotificationConfiguration,
    PublicAccessBlockConfiguration, QueueConfiguration, ServerSideEncryption,
    ServerSideEncryptionByDefault, ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
    TopicConfiguration, VersioningConfiguration,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

use crate::aws::{AwsStore, S3Config};
use crate::error::{Ctx, StoreError, from_sdk};
use crate::lifecycle_json::{rule_from_json, rule_to_json};
use crate::types::Versioning;

/// Why an administrative call did not do what was asked.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum AdminError {
    #[error(
        "the bucket name {bucket:?} is taken by another AWS account (bucket names are global): pick another name"
    )]
    NameTaken { bucket: String },
    #[error(
        "{bucket:?} is not a valid bucket name ({message}): use 3-63 lowercase letters, digits, '-' and '.', starting and ending with a letter or digit"
    )]
    InvalidName { bucket: String, message: String },
    /// The server does not implement the call (501 or an equivalent answer).
    #[error("not supported by this server ({op}: {detail})")]
    NotSupported { op: &'static str, detail: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

pub type AdminResult<T> = std::result::Result<T, AdminError>;

/// The four Block Public Access switches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, serde::Serialize)]
pub struct PublicAccessBlock {
    pub block_public_acls: bool,
    pub ignore_public_acls: bool,
    pub block_public_policy: bool,
    pub restrict_public_buckets: bool,
}

impl PublicAccessBlock {
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
    SseKms { key_id: Option<String> },
    /// Something pail does not set (DSSE-KMS, ...), named as the server did.
    Other { algorithm: String },
}

/// Event notifications: pail's own one plus whatever else is configured, which is kept as is.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Notifications {
    pub topics: Vec<TopicConfiguration>,
    pub queues: Vec<QueueConfiguration>,
    /// Lambda and EventBridge settings pail never changes but must write back unchanged.
    pub lambdas: Vec<LambdaFunctionConfiguration>,
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
    Topic(String),
    Queue(String),
}

/// Who the credentials belong to (STS GetCallerIdentity).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct CallerIdentity {
    pub arn: String,
    pub account: Option<String>,
}

/// How CreateBucket came out when it did not fail.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Created {
    Created,
    /// BucketAlreadyOwnedByYou: it existed and is ours.
    AlreadyOwned,
}

/// The bucket-level calls of setup and doctor. Every getter returns `None`/empty for "not
/// configured" and [`AdminError::NotSupported`] when the server lacks the API.
#[async_trait]
pub trait BucketAdmin: Send + Sync {
    fn bucket(&self) -> &str;
    /// Whether the endpoint is plain HTTP (a TLS-only policy then refuses pail itself,
    /// on servers that enforce it).
    fn plain_http(&self) -> bool;
    /// Whether this is an S3-compatible server rather than AWS.
    fn custom_endpoint(&self) -> bool;
    /// HeadBucket: `false` when it does not exist; AccessDenied when it exists but is not ours
    /// to read.
    async fn exists(&self) -> AdminResult<bool>;
    async fn create(&self, region: Option<&str>) -> AdminResult<Created>;
    async fn versioning(&self) -> AdminResult<Versioning>;
    async fn enable_versioning(&self) -> AdminResult<()>;
    async fn public_access_block(&self) -> AdminResult<Option<PublicAccessBlock>>;
    async fn set_public_access_block(&self, pab: PublicAccessBlock) -> AdminResult<()>;
    async fn encryption(&self) -> AdminResult<Option<Encryption>>;
    async fn set_encryption(&self, enc: &Encryption) -> AdminResult<()>;
    /// The policy document as the server returned it.
    async fn policy(&self) -> AdminResult<Option<String>>;
    async fn set_policy(&self, policy: &str) -> AdminResult<()>;
    async fn delete_policy(&self) -> AdminResult<()>;
    /// Writes and removes `key`: proves these credentials can still use the bucket's objects
    /// (after a policy change).
    async fn check_object_access(&self, key: &str) -> AdminResult<()>;
    /// Lifecycle rules in the JSON shape of the AWS CLI (`ID`, `Filter`, `Status`, ...).
    async fn lifecycle(&self) -> AdminResult<Vec<Value>>;
    async fn set_lifecycle(&self, rules: &[Value]) -> AdminResult<()>;
    async fn notifications(&self) -> AdminResult<Notifications>;
    async fn set_notifications(&self, n: &Notifications) -> AdminResult<()>;
    /// Who the credentials are; `None` when the endpoint has no STS (most non-AWS servers).
    async fn caller_identity(&self) -> AdminResult<Option<CallerIdentity>>;
    /// The server's clock from the `Date` header of a HeadBucket response (success or error).
    async fn server_time(&self) -> AdminResult<Option<time::OffsetDateTime>>;
}

/// [`BucketAdmin`] over aws-sdk-s3 (and aws-sdk-sts for the identity).
#[derive(Debug, Clone)]
pub struct AwsAdmin {
    store: AwsStore,
    sts: aws_sdk_sts::Client,
    bucket: String,
    endpoint: String,
    custom_endpoint: bool,
    region: String,
}

impl AwsAdmin {
    /// Same client settings as [`AwsStore::connect`] (fails the same way without credentials).
    pub async fn connect(cfg: &S3Config) -> crate::Result<AwsAdmin> {
        let store = AwsStore::connect(cfg).await?;
        let region = store
            .client()
            .config()
            .region()
            .map(|r| r.to_string())
            .unwrap_or_default();
        let endpoint = cfg.endpoint.clone().or_else(|| {
            ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
                .iter()
                .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
        });
        // The S3 client does not hand out its credentials provider, so STS gets the same
        // sources from its own loader: region, profile, explicit keys.
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest())
            .region(aws_config::Region::new(region.clone()));
        if let Some(p) = &cfg.profile {
            loader = loader.profile_name(p);
        }
        if let Some(c) = &cfg.credentials {
            loader = loader.credentials_provider(aws_credential_types::Credentials::new(
                &c.access_key_id,
                &c.secret_access_key,
                c.session_token.clone(),
                None,
                "pail-config",
            ));
        }
        // S3-compatible servers that have STS (moto) serve it on the same endpoint; on AWS
        // the SDK picks the regional STS endpoint itself.
        if let Some(e) = &endpoint {
            loader = loader.endpoint_url(e);
        }
        let sdk = loader.load().await;
        Ok(AwsAdmin {
            sts: aws_sdk_sts::Client::new(&sdk),
            bucket: cfg.bucket.clone(),
            custom_endpoint: endpoint.is_some(),
            endpoint: endpoint.unwrap_or_else(|| format!("AWS S3 ({region})")),
            store,
            region,
        })
    }

    fn c(&self) -> &aws_sdk_s3::Client {
        self.store.client()
    }

    fn ctx(&self, op: &'static str) -> Ctx<'_> {
        Ctx {
            op,
            bucket: &self.bucket,
            key: "",
            endpoint: &self.endpoint,
        }
    }

    /// Maps an SDK error, treating `absent` codes as "not configured" (`Ok(None)`).
    fn map<E>(
        &self,
        op: &'static str,
        err: SdkError<E, HttpResponse>,
        absent: &[&str],
    ) -> AdminResult<()>
    where
        E: ProvideErrorMetadata + std::error::Error + 'static,
    {
        let code = err.code().unwrap_or_default().to_owned();
        if absent.contains(&code.as_str()) {
            return Ok(());
        }
        if let Some(body) = unreadable_ok(&err) {
            return Err(AdminError::NotSupported {
                op,
                detail: format!(
                    "its answer is not the S3 one: {}",
                    body.chars().take(160).collect::<String>()
                ),
            });
        }
        let status = err.raw_response().map(|r| r.status().as_u16());
        let message = err.message().unwrap_or_default().to_owned();
        Err(classify(op, &self.bucket, &code, status, &message)
            .unwrap_or_else(|| AdminError::Store(from_sdk(err, self.ctx(op)))))
    }
}

/// The body of a 200 answer the SDK could not parse: S3-compatible servers answer some bucket
/// sub-resources with another document (Ceph 16 lists the bucket for `?encryption` and names
/// its public-access-block root differently; moto has its own root for empty configurations).
fn unreadable_ok<E: ProvideErrorMetadata>(err: &SdkError<E, HttpResponse>) -> Option<String> {
    let raw = err.raw_response()?;
    if raw.status().as_u16() != 200 || err.code().is_some() {
        return None;
    }
    Some(String::from_utf8_lossy(raw.body().bytes()?).into_owned())
}

/// `<Tag>true</Tag>` in a raw XML body.
fn xml_flag(body: &str, tag: &str) -> bool {
    body.contains(&format!("<{tag}>true</{tag}>"))
}

/// The answers that mean "this server lacks the API" or name a bucket-name problem; `None`
/// for everything the general mapping handles.
fn classify(
    op: &'static str,
    bucket: &str,
    code: &str,
    status: Option<u16>,
    message: &str,
) -> Option<AdminError> {
    let detail = if message.is_empty() {
        code.to_owned()
    } else {
        format!("{code}: {message}")
    };
    match (code, status) {
        ("NotImplemented" | "UnsupportedOperation" | "NotSupported", _) | (_, Some(501)) => {
            Some(AdminError::NotSupported { op, detail })
        }
        ("BucketAlreadyExists", _) => Some(AdminError::NameTaken {
            bucket: bucket.to_owned(),
        }),
        ("InvalidBucketName", _) => Some(AdminError::InvalidName {
            bucket: bucket.to_owned(),
            message: detail,
        }),
        _ => None,
    }
}

#[async_trait]
impl BucketAdmin for AwsAdmin {
    fn bucket(&self) -> &str {
        &self.bucket
    }

    fn plain_http(&self) -> bool {
        self.custom_endpoint && self.endpoint.starts_with("http://")
    }

    fn custom_endpoint(&self) -> bool {
        self.custom_endpoint
    }

    async fn exists(&self) -> AdminResult<bool> {
        match self.c().head_bucket().bucket(&self.bucket).send().await {
            Ok(_) => Ok(true),
            Err(e) if e.raw_response().map(|r| r.status().as_u16()) == Some(404) => Ok(false),
            Err(e) => self.map("head_bucket", e, &[]).map(|()| true),
        }
    }

    async fn create(&self, region: Option<&str>) -> AdminResult<Created> {
        let region = region.unwrap_or(&self.region);
        let mut req = self.c().create_bucket().bucket(&self.bucket);
        // us-east-1 is the one region that must not be named; custom servers keep their own
        // region rules, so it is sent only where it is not the default.
        if !region.is_empty() && region != "us-east-1" && !self.custom_endpoint {
            req = req.create_bucket_configuration(
                CreateBucketConfiguration::builder()
                    .location_constraint(BucketLocationConstraint::from(region))
                    .build(),
            );
        }
        match req.send().await {
            Ok(_) => Ok(Created::Created),
            Err(e) if e.code() == Some("BucketAlreadyOwnedByYou") => Ok(Created::AlreadyOwned),
            Err(e) => self.map("create_bucket", e, &[]).map(|()| Created::Created),
        }
    }

    async fn versioning(&self) -> AdminResult<Versioning> {
        let r = self
            .c()
            .get_bucket_versioning()
            .bucket(&self.bucket)
            .send()
            .await;
        match r {
            Ok(o) => Ok(match o.status() {
                Some(BucketVersioningStatus::Enabled) => Versioning::Enabled,
                Some(BucketVersioningStatus::Suspended) => Versioning::Suspended,
                _ => Versioning::Off,
            }),
            // moto answers a never-versioned bucket with an empty element of its own name.
            Err(e) => match unreadable_ok(&e) {
                Some(b) if b.contains("<Status>Enabled</Status>") => Ok(Versioning::Enabled),
                Some(b) if b.contains("<Status>Suspended</Status>") => Ok(Versioning::Suspended),
                Some(b) if !b.contains("<Status>") => Ok(Versioning::Off),
                _ => self
                    .map("get_bucket_versioning", e, &[])
                    .map(|()| Versioning::Off),
            },
        }
    }

    async fn enable_versioning(&self) -> AdminResult<()> {
        let conf = VersioningConfiguration::builder()
            .status(BucketVersioningStatus::Enabled)
            .build();
        match self
            .c()
            .put_bucket_versioning()
            .bucket(&self.bucket)
            .versioning_configuration(conf)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("put_bucket_versioning", e, &[]),
        }
    }

    async fn public_access_block(&self) -> AdminResult<Option<PublicAccessBlock>> {
        let r = self
            .c()
            .get_public_access_block()
            .bucket(&self.bucket)
            .send()
            .await;
        match r {
            Ok(o) => Ok(o
                .public_access_block_configuration()
                .map(|c| PublicAccessBlock {
                    block_public_acls: c.block_public_acls().unwrap_or(false),
                    ignore_public_acls: c.ignore_public_acls().unwrap_or(false),
                    block_public_policy: c.block_public_policy().unwrap_or(false),
                    restrict_public_buckets: c.restrict_public_buckets().unwrap_or(false),
                })),
            // Ceph 16 names the root BlockPublicAccessBlockConfiguration; the fields are S3's.
            Err(e) => match unreadable_ok(&e) {
                Some(b) if b.contains("<BlockPublicAcls>") => Ok(Some(PublicAccessBlock {
                    block_public_acls: xml_flag(&b, "BlockPublicAcls"),
                    ignore_public_acls: xml_flag(&b, "IgnorePublicAcls"),
                    block_public_policy: xml_flag(&b, "BlockPublicPolicy"),
                    restrict_public_buckets: xml_flag(&b, "RestrictPublicBuckets"),
                })),
                _ => self
                    .map(
                        "get_public_access_block",
                        e,
                        &["NoSuchPublicAccessBlockConfiguration"],
                    )
                    .map(|()| None),
            },
        }
    }

    async fn set_public_access_block(&self, p: PublicAccessBlock) -> AdminResult<()> {
        let conf = PublicAccessBlockConfiguration::builder()
            .block_public_acls(p.block_public_acls)
            .ignore_public_acls(p.ignore_public_acls)
            .block_public_policy(p.block_public_policy)
            .restrict_public_buckets(p.restrict_public_buckets)
            .build();
        match self
            .c()
            .put_public_access_block()
            .bucket(&self.bucket)
            .public_access_block_configuration(conf)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("put_public_access_block", e, &[]),
        }
    }

    async fn encryption(&self) -> AdminResult<Option<Encryption>> {
        let r = self
            .c()
            .get_bucket_encryption()
            .bucket(&self.bucket)
            .send()
            .await;
        let o = match r {
            Ok(o) => o,
            Err(e) => {
                return self
                    .map(
                        "get_bucket_encryption",
                        e,
                        &["ServerSideEncryptionConfigurationNotFoundError"],
                    )
                    .map(|()| None);
            }
        };
        // AWS always answers 200 with a configuration element; Ceph 16 without a KMS answers
        // the `?encryption` request with a bucket listing instead.
        let Some(conf) = o.server_side_encryption_configuration() else {
            return Err(AdminError::NotSupported {
                op: "get_bucket_encryption",
                detail: "the answer holds no encryption configuration".into(),
            });
        };
        let default = conf
            .rules()
            .first()
            .and_then(|r| r.apply_server_side_encryption_by_default());
        Ok(default.map(|d| match d.sse_algorithm() {
            ServerSideEncryption::Aes256 => Encryption::SseS3,
            ServerSideEncryption::AwsKms => Encryption::SseKms {
                key_id: d.kms_master_key_id().map(str::to_owned),
            },
            other => Encryption::Other {
                algorithm: other.as_str().to_owned(),
            },
        }))
    }

    async fn set_encryption(&self, enc: &Encryption) -> AdminResult<()> {
        let default = match enc {
            Encryption::SseS3 => {
                ServerSideEncryptionByDefault::builder().sse_algorithm(ServerSideEncryption::Aes256)
            }
            Encryption::SseKms { key_id } => ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::AwsKms)
                .set_kms_master_key_id(key_id.clone()),
            Encryption::Other { algorithm } => ServerSideEncryptionByDefault::builder()
                .sse_algorithm(ServerSideEncryption::from(algorithm.as_str())),
        };
        let default = default
            .build()
            .map_err(|e| StoreError::other("put_bucket_encryption", "", e.to_string()))?;
        let rule = ServerSideEncryptionRule::builder()
            .apply_server_side_encryption_by_default(default)
            // S3 Bucket Keys cut KMS request costs; ignored for SSE-S3.
            .bucket_key_enabled(matches!(enc, Encryption::SseKms { .. }))
            .build();
        let conf = ServerSideEncryptionConfiguration::builder()
            .rules(rule)
            .build()
            .map_err(|e| StoreError::other("put_bucket_encryption", "", e.to_string()))?;
        match self
            .c()
            .put_bucket_encryption()
            .bucket(&self.bucket)
            .server_side_encryption_configuration(conf)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("put_bucket_encryption", e, &[]),
        }
    }

    async fn policy(&self) -> AdminResult<Option<String>> {
        match self
            .c()
            .get_bucket_policy()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(o) => Ok(o
                .policy()
                .map(str::to_owned)
                .filter(|p| !p.trim().is_empty())),
            Err(e) => self
                .map("get_bucket_policy", e, &["NoSuchBucketPolicy"])
                .map(|()| None),
        }
    }

    async fn set_policy(&self, policy: &str) -> AdminResult<()> {
        match self
            .c()
            .put_bucket_policy()
            .bucket(&self.bucket)
            .policy(policy)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("put_bucket_policy", e, &[]),
        }
    }

    async fn delete_policy(&self) -> AdminResult<()> {
        match self
            .c()
            .delete_bucket_policy()
            .bucket(&self.bucket)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("delete_bucket_policy", e, &["NoSuchBucketPolicy"]),
        }
    }

    async fn check_object_access(&self, key: &str) -> AdminResult<()> {
        let put = self
            .c()
            .put_object()
            .bucket(&self.bucket)
            .key(key)
            .body(aws_sdk_s3::primitives::ByteStream::from_static(b""))
            .send()
            .await;
        let version = match put {
            Ok(o) => o.version_id().map(str::to_owned),
            Err(e) => return self.map("put_object", e, &[]),
        };
        // By version id where there is one, so that no version or delete marker is left.
        match self
            .c()
            .delete_object()
            .bucket(&self.bucket)
            .key(key)
            .set_version_id(version.filter(|v| v != "null"))
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("delete_object", e, &[]),
        }
    }

    async fn lifecycle(&self) -> AdminResult<Vec<Value>> {
        let r = self
            .c()
            .get_bucket_lifecycle_configuration()
            .bucket(&self.bucket)
            .send()
            .await;
        match r {
            Ok(o) => Ok(o.rules().iter().map(rule_to_json).collect()),
            Err(e) => self
                .map(
                    "get_bucket_lifecycle_configuration",
                    e,
                    &["NoSuchLifecycleConfiguration"],
                )
                .map(|()| Vec::new()),
        }
    }

    async fn set_lifecycle(&self, rules: &[Value]) -> AdminResult<()> {
        let rules = rules
            .iter()
            .map(rule_from_json)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|m| StoreError::other("put_bucket_lifecycle_configuration", "", m))?;
        let conf = aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
            .set_rules(Some(rules))
            .build()
            .map_err(|e| {
                StoreError::other("put_bucket_lifecycle_configuration", "", e.to_string())
            })?;
        match self
            .c()
            .put_bucket_lifecycle_configuration()
            .bucket(&self.bucket)
            .lifecycle_configuration(conf)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("put_bucket_lifecycle_configuration", e, &[]),
        }
    }

    async fn notifications(&self) -> AdminResult<Notifications> {
        let r = self
            .c()
            .get_bucket_notification_configuration()
            .bucket(&self.bucket)
            .send()
            .await;
        match r {
            Ok(o) => Ok(Notifications {
                topics: o.topic_configurations().to_vec(),
                queues: o.queue_configurations().to_vec(),
                lambdas: o.lambda_function_configurations().to_vec(),
                event_bridge: o.event_bridge_configuration().cloned(),
            }),
            // moto answers "none configured" with an empty element of its own name.
            Err(e) => match unreadable_ok(&e) {
                Some(b) if !b.contains("Configuration>") => Ok(Notifications::default()),
                _ => self
                    .map("get_bucket_notification_configuration", e, &[])
                    .map(|()| Notifications::default()),
            },
        }
    }

    async fn set_notifications(&self, n: &Notifications) -> AdminResult<()> {
        let conf = NotificationConfiguration::builder()
            .set_topic_configurations(Some(n.topics.clone()))
            .set_queue_configurations(Some(n.queues.clone()))
            .set_lambda_function_configurations(Some(n.lambdas.clone()))
            .set_event_bridge_configuration(n.event_bridge.clone())
            .build();
        match self
            .c()
            .put_bucket_notification_configuration()
            .bucket(&self.bucket)
            .notification_configuration(conf)
            .send()
            .await
        {
            Ok(_) => Ok(()),
            Err(e) => self.map("put_bucket_notification_configuration", e, &[]),
        }
    }

    async fn caller_identity(&self) -> AdminResult<Option<CallerIdentity>> {
        match self.sts.get_caller_identity().send().await {
            Ok(o) => Ok(o.arn().map(|arn| CallerIdentity {
                arn: arn.to_owned(),
                account: o.account().map(str::to_owned),
            })),
            // Off AWS, STS is usually absent and the answer is anything from 404 to an
            // "Unknown" error: the identity is then simply not known.
            Err(_) if self.custom_endpoint => Ok(None),
            Err(e) => Err(AdminError::Store(StoreError::Credentials {
                message: aws_sdk_sts::error::DisplayErrorContext(&e).to_string(),
            })),
        }
    }

    async fn server_time(&self) -> AdminResult<Option<time::OffsetDateTime>> {
        let seen = Arc::new(Mutex::new(None));
        let r = self
            .c()
            .head_bucket()
            .bucket(&self.bucket)
            .customize()
            .interceptor(DateHeader(seen.clone()))
            .send()
            .await;
        let date = seen.lock().unwrap_or_else(|e| e.into_inner()).take();
        match (date, r) {
            (Some(d), _) => Ok(parse_http_date(&d)),
            (None, Ok(_)) => Ok(None),
            (None, Err(e)) => self.map("head_bucket", e, &[]).map(|()| None),
        }
    }
}

/// Records the `Date` header of the last response, whatever its status: a skewed clock makes
/// signed requests fail (RequestTimeTooSkewed), and that answer still tells the server's time.
#[derive(Debug)]
struct DateHeader(Arc<Mutex<Option<String>>>);

impl Intercept for DateHeader {
    fn name(&self) -> &'static str {
        "pail-date-header"
    }

    fn read_after_transmit(
        &self,
        context: &BeforeDeserializationInterceptorContextRef<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        if let Some(d) = context.response().headers().get("date") {
            *self.0.lock().unwrap_or_else(|e| e.into_inner()) = Some(d.to_owned());
        }
        Ok(())
    }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_dates_parse() {
        let t = parse_http_date("Sun, 29 Nov 2026 00:12:03 GMT").unwrap();
        assert_eq!(t.unix_timestamp(), 1_795_911_123);
        assert!(parse_http_date("yesterday").is_none());
    }

    #[test]
    fn notifications_merge_by_id() {
        let theirs = TopicConfiguration::builder()
            .id("theirs")
            .topic_arn("arn:aws:sns:x:1:other")
            .events(Event::from("s3:ObjectCreated:Put"))
            .build()
            .unwrap();
        let n = Notifications {
            topics: vec![theirs.clone()],
            ..Notifications::default()
        };
        let q = NotifyTarget::Queue("arn:aws:sqs:x:1:q".into());
        let with = n.with_target("pail", &q).unwrap();
        assert_eq!(with.topics, vec![theirs.clone()]);
        assert_eq!(with.queues.len(), 1);
        assert!(with.with_target("pail", &q).is_none(), "already so");
        // Switching to a topic moves pail's entry, keeps the other one.
        let t = NotifyTarget::Topic("arn:aws:sns:x:1:t".into());
        let moved = with.with_target("pail", &t).unwrap();
        assert!(moved.queues.is_empty());
        assert_eq!(moved.topics.len(), 2);
        assert_eq!(moved.topics[0], theirs);
    }

    #[test]
    fn server_answers_classify() {
        let ns = classify("put_x", "b", "NotImplemented", Some(501), "no");
        assert!(matches!(
            ns,
            Some(AdminError::NotSupported { op: "put_x", .. })
        ));
        assert!(matches!(
            classify("x", "b", "", Some(501), ""),
            Some(AdminError::NotSupported { .. })
        ));
        let taken = classify("create_bucket", "b", "BucketAlreadyExists", Some(409), "");
        assert!(taken.unwrap().to_string().contains("pick another name"));
        let bad = classify("create_bucket", "B_", "InvalidBucketName", Some(400), "bad");
        assert!(matches!(bad, Some(AdminError::InvalidName { .. })));
        assert!(classify("x", "b", "AccessDenied", Some(403), "").is_none());
    }
}
