//! `AwsStore`: the `ObjectStore` over aws-sdk-s3, for AWS and S3-compatible servers.
//!
//! This file holds the configuration, the client setup and the helpers every request shares;
//! the requests themselves live in `objects` (single-object calls and the trait impl), `list`,
//! `multipart` (uploads and copies too big for one request) and `moto_xml` (answers the SDK
//! cannot parse, read by hand).

mod list;
mod list_xml;
mod moto_xml;
mod multipart;
mod objects;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::time::Duration;

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_config::retry::RetryConfig;
use aws_config::timeout::TimeoutConfig;
use aws_credential_types::provider::ProvideCredentials;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::{
    Region, RequestChecksumCalculation, ResponseChecksumValidation, StalledStreamProtectionConfig,
};
use aws_sdk_s3::primitives::DateTime;
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use tracing::debug;

use crate::error::{Ctx, Result, StoreError};
use crate::store::ObjectStore;
use crate::types::{Condition, Head, ObjectMeta, PutResult};

/// The largest object one CopyObject can copy; larger sources are copied with UploadPartCopy.
pub const MAX_COPY_OBJECT_BYTES: u64 = 5 << 30;
const COPY_PART_BYTES: u64 = 1 << 30;

/// Where and how to reach the bucket. Unset fields come from the usual AWS sources
/// (`AWS_REGION`, `AWS_PROFILE`, `AWS_ENDPOINT_URL[_S3]`, `~/.aws/config`).
#[derive(Clone, Debug, Default)]
pub struct S3Config {
    /// The bucket's name.
    pub bucket: String,
    /// A custom endpoint (`http://127.0.0.1:17480`); `None` for AWS.
    pub endpoint: Option<String>,
    /// The region; `None` takes it from the environment or the profile.
    pub region: Option<String>,
    /// The profile in `~/.aws/config` to read region and credentials from.
    pub profile: Option<String>,
    /// Defaults to true for custom endpoints, false for AWS.
    pub force_path_style: Option<bool>,
    /// Explicit keys instead of the default credential chain (tests, keys in the config).
    pub credentials: Option<StaticCredentials>,
}

#[derive(Clone)]
/// An access key given explicitly; `Debug` leaves the secret out.
pub struct StaticCredentials {
    /// The access key id.
    pub access_key_id: String,
    /// The secret access key.
    pub secret_access_key: String,
    /// The session token of temporary credentials.
    pub session_token: Option<String>,
}

impl std::fmt::Debug for StaticCredentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StaticCredentials")
            .field("access_key_id", &self.access_key_id)
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug)]
/// The [`crate::ObjectStore`] of a real S3(-compatible) server, through aws-sdk-s3.
pub struct AwsStore {
    client: Client,
    bucket: String,
    /// For messages: the endpoint URL, or `AWS S3 (region)`.
    endpoint: String,
    custom_endpoint: bool,
    /// When the credentials resolved at connect expire (temporary ones only).
    credentials_expire: Option<std::time::SystemTime>,
}

/// Characters escaped in `x-amz-copy-source`: all but unreserved ones and `/` (as botocore).
const COPY_SOURCE: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'/')
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

/// The `x-amz-copy-source` value: `bucket/key[?versionId=v]`, URL-encoded.
pub fn copy_source(bucket: &str, key: &str, version_id: Option<&str>) -> String {
    let mut s = format!("{bucket}/{}", utf8_percent_encode(key, COPY_SOURCE));
    if let Some(v) = version_id {
        s.push_str("?versionId=");
        s.extend(utf8_percent_encode(v, NON_ALPHANUMERIC));
    }
    s
}

fn timestamp_ns(t: Option<&DateTime>) -> i64 {
    t.map_or(0, |d| {
        d.secs()
            .saturating_mul(1_000_000_000)
            .saturating_add(i64::from(d.subsec_nanos()))
    })
}

fn size(n: Option<i64>) -> u64 {
    n.map_or(0, |n| n.max(0) as u64)
}

/// Attempt timeout for a request carrying or producing `bytes`: a minute plus 64 KiB/s, so
/// slow links still finish big parts while a hung server is noticed. Stalled-stream protection
/// catches transfers that stop moving long before that.
fn attempt_timeout(bytes: u64) -> Duration {
    Duration::from_secs(60 + bytes / (64 * 1024))
}

fn timeouts(attempt: Duration) -> TimeoutConfig {
    TimeoutConfig::builder()
        .connect_timeout(Duration::from_secs(5))
        .operation_attempt_timeout(attempt)
        .build()
}

/// The per-request configuration of a request carrying or producing `bytes`: its own attempt
/// timeout, or `None` where that is the client's default (under 64 KiB). An override makes
/// the SDK merge runtime plugins for that one request, on top of its configuration step per
/// request (4% of a small-file upload's CPU in a profile), so small requests go without.
fn override_for(bytes: u64) -> Option<aws_sdk_s3::config::Builder> {
    let attempt = attempt_timeout(bytes);
    (attempt != attempt_timeout(0))
        .then(|| aws_sdk_s3::config::Builder::default().timeout_config(timeouts(attempt)))
}

/// [`override_for`] on an operation about to be sent: `.customize().timeout_for(bytes)`.
trait TimeoutFor {
    fn timeout_for(self, bytes: u64) -> Self;
}

impl<T, E, B> TimeoutFor for aws_sdk_s3::client::customize::CustomizableOperation<T, E, B> {
    fn timeout_for(self, bytes: u64) -> Self {
        match override_for(bytes) {
            Some(o) => self.config_override(o),
            None => self,
        }
    }
}

/// Attempts the SDK makes per request of a store: one. Retries are [`crate::RetryingStore`]'s,
/// so that every transient failure (a 503 and a listing cut off mid-body alike) follows one
/// policy instead of the SDK's attempts multiplied by the wrapper's.
const STORE_SDK_ATTEMPTS: u32 = 1;

/// The SDK configuration of a pair's endpoint, region, profile and credentials, making up
/// to `attempts` attempts per request: shared by the S3 client and the SQS client of bucket
/// events (`queue.rs`).
pub(crate) async fn load_sdk(cfg: &S3Config, attempts: u32) -> aws_config::SdkConfig {
    let region = RegionProviderChain::first_try(cfg.region.clone().map(Region::new))
        .or_default_provider()
        .or_else(Region::new("us-east-1"));
    let mut loader = aws_config::defaults(BehaviorVersion::latest())
        .region(region)
        .retry_config(RetryConfig::standard().with_max_attempts(attempts))
        .timeout_config(timeouts(attempt_timeout(0)))
        .stalled_stream_protection(
            StalledStreamProtectionConfig::enabled()
                .grace_period(Duration::from_secs(20))
                .build(),
        );
    if let Some(p) = &cfg.profile {
        loader = loader.profile_name(p);
    }
    if let Some(e) = &cfg.endpoint {
        loader = loader.endpoint_url(e);
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
    loader.load().await
}

impl AwsStore {
    /// Builds the client and resolves credentials once, so that missing credentials fail here
    /// with [`StoreError::Credentials`] rather than on the first request. Makes no request to
    /// the bucket: run [`crate::probe()`] for that. The SDK does not retry: wrap the store in
    /// [`crate::RetryingStore`] (the store factory's callers do).
    pub async fn connect(cfg: &S3Config) -> Result<AwsStore> {
        AwsStore::connect_with_attempts(cfg, STORE_SDK_ATTEMPTS).await
    }

    /// As [`AwsStore::connect`], with the SDK making up to `attempts` attempts per request
    /// (bucket administration, which no [`crate::RetryingStore`] wraps).
    pub(crate) async fn connect_with_attempts(cfg: &S3Config, attempts: u32) -> Result<AwsStore> {
        let sdk = load_sdk(cfg, attempts).await;
        let env_endpoint = std::env::var("AWS_ENDPOINT_URL_S3")
            .ok()
            .filter(|s| !s.is_empty());
        let endpoint = cfg
            .endpoint
            .clone()
            .or(env_endpoint)
            .or_else(|| sdk.endpoint_url().map(str::to_owned));
        let custom_endpoint = endpoint.is_some();
        let region = sdk.region().map(|r| r.to_string()).unwrap_or_default();

        let provider = sdk
            .credentials_provider()
            .ok_or_else(|| StoreError::Credentials {
                message: "no credential provider configured".into(),
            })?;
        let credentials =
            provider
                .provide_credentials()
                .await
                .map_err(|e| StoreError::Credentials {
                    message: crate::error::without_debug_dump(
                        &aws_sdk_s3::error::DisplayErrorContext(&e).to_string(),
                    )
                    .to_owned(),
                })?;
        // Temporary credentials (a role, SSO) end; presigned URLs die with them.
        let credentials_expire = credentials.expiry();

        let mut b = aws_sdk_s3::config::Builder::from(&sdk);
        if custom_endpoint {
            b = b
                .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
                .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
        }
        b = b.force_path_style(cfg.force_path_style.unwrap_or(custom_endpoint));
        b = b.interceptor(crate::requests::RequestLog);
        let endpoint = endpoint.unwrap_or_else(|| format!("AWS S3 ({region})"));
        debug!(
            bucket = cfg.bucket,
            endpoint, region, custom_endpoint, "S3 client ready"
        );
        Ok(AwsStore {
            client: Client::from_conf(b.build()),
            bucket: cfg.bucket.clone(),
            endpoint,
            custom_endpoint,
            credentials_expire,
        })
    }

    /// The underlying client (tests, bucket setup).
    pub fn client(&self) -> &Client {
        &self.client
    }

    fn ctx<'a>(&'a self, op: &'static str, key: &'a str) -> Ctx<'a> {
        Ctx {
            op,
            bucket: &self.bucket,
            key,
            endpoint: &self.endpoint,
        }
    }

    /// Fills in an ETag the server left out (Ceph's CompleteMultipartUpload) with a HEAD.
    async fn with_etag(
        &self,
        key: &str,
        etag: Option<&str>,
        version_id: Option<String>,
    ) -> Result<PutResult> {
        if let Some(e) = etag.filter(|e| !e.is_empty()) {
            return Ok(PutResult {
                etag: e.to_owned(),
                version_id,
            });
        }
        let head = self
            .head(key, version_id.as_deref())
            .await?
            .ok_or_else(|| StoreError::NotFound { key: key.into() })?;
        Ok(PutResult {
            etag: head.etag,
            version_id: version_id.or(head.version_id),
        })
    }
}

fn apply_put_cond(cond: &Condition) -> (Option<String>, Option<String>) {
    match cond {
        Condition::None => (None, None),
        Condition::IfAbsent => (None, Some("*".to_owned())),
        Condition::IfMatch(e) => (Some(e.clone()), None),
    }
}

fn head_from_parts(
    etag: Option<&str>,
    version_id: Option<&str>,
    size_bytes: u64,
    last_modified: Option<&DateTime>,
    metadata: Option<&HashMap<String, String>>,
    storage_class: Option<&str>,
) -> Head {
    Head {
        etag: etag.unwrap_or_default().to_owned(),
        version_id: version_id.map(str::to_owned),
        size: size_bytes,
        last_modified_ns: timestamp_ns(last_modified),
        meta: metadata.map(ObjectMeta::decode).unwrap_or_default(),
        storage_class: storage_class.map(str::to_owned),
        delete_marker: false,
    }
}

/// Total size from a `Content-Range: bytes a-b/total` header.
fn range_total(content_range: Option<&str>) -> Option<u64> {
    content_range?.rsplit('/').next()?.parse().ok()
}
