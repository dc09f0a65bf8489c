//! The S3 client, set up as pail sets up its own for a third-party server (`load_sdk` and
//! `AwsStore::connect` in crates/pail-s3/src/aws.rs): endpoint, region, path-style addressing
//! and checksums only where an operation requires them. Credentials come from the usual
//! chain (`AWS_ACCESS_KEY_ID`/`AWS_SECRET_ACCESS_KEY`, a profile). Everything else is the
//! SDK's default, retries included: the ceiling is the SDK as anyone would use it.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use aws_config::BehaviorVersion;
use aws_config::meta::region::RegionProviderChain;
use aws_sdk_s3::Client;
use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{
    ConfigBag, Intercept, Region, RequestChecksumCalculation, ResponseChecksumValidation,
    RuntimeComponents,
};
use aws_sdk_s3::error::BoxError;

/// Counts request attempts (retries included), as pail's `pail::requests` events do.
#[derive(Clone, Debug, Default)]
pub struct RequestCount(Arc<AtomicU64>);

impl RequestCount {
    pub fn get(&self) -> u64 {
        self.0.load(Ordering::Relaxed)
    }
}

impl Intercept for RequestCount {
    fn name(&self) -> &'static str {
        "s3-ceiling-request-count"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        self.0.fetch_add(1, Ordering::Relaxed);
        Ok(())
    }
}

/// The client for `endpoint` (None: AWS, or `AWS_ENDPOINT_URL[_S3]`) and `region` (None: the
/// environment, else us-east-1), counting its requests in `count`.
pub async fn client(endpoint: Option<&str>, region: Option<&str>, count: RequestCount) -> Client {
    let region = RegionProviderChain::first_try(region.map(|r| Region::new(r.to_owned())))
        .or_default_provider()
        .or_else(Region::new("us-east-1"));
    let mut loader = aws_config::defaults(BehaviorVersion::latest()).region(region);
    if let Some(e) = endpoint {
        loader = loader.endpoint_url(e);
    }
    let sdk = loader.load().await;
    let custom_endpoint = endpoint.is_some()
        || std::env::var_os("AWS_ENDPOINT_URL_S3").is_some_and(|v| !v.is_empty())
        || sdk.endpoint_url().is_some();
    let mut b = aws_sdk_s3::config::Builder::from(&sdk);
    if custom_endpoint {
        // As pail: several third-party servers reject the SDK's default checksums (Ceph RGW
        // answers MissingContentLength to a streamed body's checksum trailer).
        b = b
            .request_checksum_calculation(RequestChecksumCalculation::WhenRequired)
            .response_checksum_validation(ResponseChecksumValidation::WhenRequired);
    }
    Client::from_conf(
        b.force_path_style(custom_endpoint)
            .interceptor(count)
            .build(),
    )
}
