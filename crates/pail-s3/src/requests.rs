//! One debug event per S3 request attempt (target `pail::requests`), from an SDK
//! interceptor, so that request costs can be measured rather than guessed:
//! `PAIL_LOG=pail::requests=debug pail sync 2>&1 | grep -c 'op=ListObjectsV2'`.

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextRef;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_smithy_runtime_api::client::orchestrator::Metadata;

#[derive(Debug, Default)]
pub(crate) struct RequestLog;

impl Intercept for RequestLog {
    fn name(&self) -> &'static str {
        "pail-request-log"
    }

    fn read_before_transmit(
        &self,
        _context: &BeforeTransmitInterceptorContextRef<'_>,
        _runtime_components: &RuntimeComponents,
        cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let op = cfg
            .load::<Metadata>()
            .map(|m| m.name())
            .unwrap_or("unknown");
        tracing::debug!(target: "pail::requests", op, "s3 request");
        Ok(())
    }
}
