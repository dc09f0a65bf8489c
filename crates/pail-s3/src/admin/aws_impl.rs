//! [`AwsAdmin`]: the client setup (S3 plus STS and SQS from the same sources) and the `BucketAdmin`
//! impl. Bucket existence, creation, versioning, identity and clock are answered here; the
//! settings calls forward to `access` and `config`.

use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_s3::types::{
    BucketLocationConstraint, BucketVersioningStatus, CreateBucketConfiguration,
    VersioningConfiguration,
};
use aws_smithy_runtime_api::box_error::BoxError;
use aws_smithy_runtime_api::client::interceptors::Intercept;
use aws_smithy_runtime_api::client::interceptors::context::BeforeDeserializationInterceptorContextRef;
use aws_smithy_runtime_api::client::runtime_components::RuntimeComponents;
use aws_smithy_runtime_api::http::Response as HttpResponse;
use aws_smithy_types::config_bag::ConfigBag;
use serde_json::Value;

use super::workarounds::{classify, unreadable_ok};
use super::{
    AdminError, AdminResult, BucketAdmin, CallerIdentity, Created, Encryption, Notifications,
    PublicAccessBlock, QueueInfo, parse_http_date,
};
use crate::aws::{AwsStore, S3Config};
use crate::error::{Ctx, StoreError, from_sdk};
use crate::types::Versioning;

/// [`BucketAdmin`] over aws-sdk-s3 (aws-sdk-sts for the identity, aws-sdk-sqs for the event
/// queue).
#[derive(Debug, Clone)]
pub struct AwsAdmin {
    pub(super) store: AwsStore,
    pub(super) sts: aws_sdk_sts::Client,
    pub(super) sqs: aws_sdk_sqs::Client,
    pub(super) bucket: String,
    pub(super) endpoint: String,
    pub(super) custom_endpoint: bool,
    pub(super) region: String,
}

impl AwsAdmin {
    /// Same client settings as [`AwsStore::connect`] (fails the same way without credentials).
    pub async fn connect(cfg: &S3Config) -> crate::Result<AwsAdmin> {
        // Setup and doctor calls are not wrapped in a RetryingStore: the SDK retries them.
        let store = AwsStore::connect_with_attempts(cfg, 3).await?;
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
        // The S3 client does not hand out its credentials provider, so STS and SQS get the
        // same sources from the same loader: region, profile, explicit keys. S3-compatible
        // servers that have them (moto) serve them on the same endpoint; on AWS the SDK picks
        // the regional endpoints itself, so the queue is in the bucket's region.
        let sdk = crate::aws::load_sdk(
            &S3Config {
                region: Some(region.clone()),
                endpoint: endpoint.clone(),
                ..cfg.clone()
            },
            3,
        )
        .await;
        Ok(AwsAdmin {
            sts: aws_sdk_sts::Client::new(&sdk),
            sqs: aws_sdk_sqs::Client::new(&sdk),
            bucket: cfg.bucket.clone(),
            custom_endpoint: endpoint.is_some(),
            endpoint: endpoint.unwrap_or_else(|| format!("AWS S3 ({region})")),
            store,
            region,
        })
    }

    pub(super) fn c(&self) -> &aws_sdk_s3::Client {
        self.store.client()
    }

    pub(super) fn ctx(&self, op: &'static str) -> Ctx<'_> {
        Ctx {
            op,
            bucket: &self.bucket,
            key: "",
            endpoint: &self.endpoint,
        }
    }

    /// Maps an SDK error, treating `absent` codes as "not configured" (`Ok(None)`).
    pub(super) fn map<E>(
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
            // Name what came back, never dump it: the body is the server's, raw XML to a person.
            let detail = match root_element(&body) {
                Some(root) => format!("it answered with a <{root}> document instead"),
                None => "its answer is not the S3 one".to_owned(),
            };
            return Err(AdminError::NotSupported { op, detail });
        }
        let status = err.raw_response().map(|r| r.status().as_u16());
        let message = err.message().unwrap_or_default().to_owned();
        Err(classify(op, &self.bucket, &code, status, &message)
            .unwrap_or_else(|| AdminError::Store(from_sdk(err, self.ctx(op)))))
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
        self.read_public_access_block().await
    }

    async fn set_public_access_block(&self, p: PublicAccessBlock) -> AdminResult<()> {
        self.write_public_access_block(p).await
    }

    async fn encryption(&self) -> AdminResult<Option<Encryption>> {
        self.read_encryption().await
    }

    async fn set_encryption(&self, enc: &Encryption) -> AdminResult<()> {
        self.write_encryption(enc).await
    }

    async fn policy(&self) -> AdminResult<Option<String>> {
        self.read_policy().await
    }

    async fn set_policy(&self, policy: &str) -> AdminResult<()> {
        self.write_policy(policy).await
    }

    async fn delete_policy(&self) -> AdminResult<()> {
        self.remove_policy().await
    }

    async fn check_object_access(&self, key: &str) -> AdminResult<()> {
        self.probe_object_access(key).await
    }

    async fn lifecycle(&self) -> AdminResult<Vec<Value>> {
        self.read_lifecycle().await
    }

    async fn set_lifecycle(&self, rules: &[Value]) -> AdminResult<()> {
        self.write_lifecycle(rules).await
    }

    async fn notifications(&self) -> AdminResult<Notifications> {
        self.read_notifications().await
    }

    async fn set_notifications(&self, n: &Notifications) -> AdminResult<()> {
        self.write_notifications(n).await
    }

    async fn queue(&self, name: &str, owner: Option<&str>) -> AdminResult<Option<QueueInfo>> {
        self.find_queue(name, owner).await
    }

    async fn create_queue(&self, name: &str) -> AdminResult<()> {
        self.make_queue(name).await
    }

    async fn set_queue_policy(&self, queue: &QueueInfo, policy: &str) -> AdminResult<()> {
        self.write_queue_policy(queue, policy).await
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

/// The name of the first element of an XML document (`ListBucketResult`), if it has one of
/// plain letters (a server's answer is untrusted text: nothing else is shown of it).
fn root_element(body: &str) -> Option<&str> {
    let mut rest = body;
    loop {
        let at = rest.find('<')?;
        rest = &rest[at + 1..];
        if rest.starts_with('?') || rest.starts_with('!') {
            continue;
        }
        let end = rest
            .find(|c: char| !c.is_ascii_alphanumeric() && c != '_')
            .unwrap_or(rest.len());
        return (1..=64).contains(&end).then(|| &rest[..end]);
    }
}

#[cfg(test)]
mod root_element_tests {
    use super::root_element;

    #[test]
    fn names_the_document_and_nothing_else() {
        let body =
            r#"<?xml version="1.0" encoding="UTF-8"?><ListBucketResult xmlns="x"><Name>b</Name>"#;
        assert_eq!(root_element(body), Some("ListBucketResult"));
        assert_eq!(root_element("not xml"), None);
        assert_eq!(root_element("<\u{1b}[31m>"), None);
    }
}
