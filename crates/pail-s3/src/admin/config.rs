//! Bucket configuration pail manages: default encryption, lifecycle rules (as the JSON of the
//! AWS CLI) and event notifications (kept whole, so others' entries are written back as found).

use aws_sdk_s3::types::{
    NotificationConfiguration, ServerSideEncryption, ServerSideEncryptionByDefault,
    ServerSideEncryptionConfiguration, ServerSideEncryptionRule,
};
use serde_json::Value;

use super::workarounds::unreadable_ok;
use super::{AdminError, AdminResult, AwsAdmin, Encryption, Notifications};
use crate::error::StoreError;
use crate::lifecycle_json::{rule_from_json, rule_to_json};

impl AwsAdmin {
    pub(super) async fn read_encryption(&self) -> AdminResult<Option<Encryption>> {
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

    pub(super) async fn write_encryption(&self, enc: &Encryption) -> AdminResult<()> {
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

    pub(super) async fn read_lifecycle(&self) -> AdminResult<Vec<Value>> {
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

    pub(super) async fn write_lifecycle(&self, rules: &[Value]) -> AdminResult<()> {
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

    pub(super) async fn read_notifications(&self) -> AdminResult<Notifications> {
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

    pub(super) async fn write_notifications(&self, n: &Notifications) -> AdminResult<()> {
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
}
