//! Reading the answers of S3-compatible servers that differ from AWS: 200s with another
//! document than S3's, and the error codes that mean "not implemented here" or a bad name.

use aws_sdk_s3::error::{ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;

use super::AdminError;

/// The body of a 200 answer the SDK could not parse: S3-compatible servers answer some bucket
/// sub-resources with another document (Ceph 16 lists the bucket for `?encryption` and names
/// its public-access-block root differently; moto has its own root for empty configurations).
pub(super) fn unreadable_ok<E: ProvideErrorMetadata>(
    err: &SdkError<E, HttpResponse>,
) -> Option<String> {
    let raw = err.raw_response()?;
    if raw.status().as_u16() != 200 || err.code().is_some() {
        return None;
    }
    Some(String::from_utf8_lossy(raw.body().bytes()?).into_owned())
}

/// `<Tag>true</Tag>` in a raw XML body.
pub(super) fn xml_flag(body: &str, tag: &str) -> bool {
    body.contains(&format!("<{tag}>true</{tag}>"))
}

/// The answers that mean "this server lacks the API" or name a bucket-name problem; `None`
/// for everything the general mapping handles.
pub(super) fn classify(
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
