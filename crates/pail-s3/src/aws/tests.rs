use std::time::Duration;

use aws_sdk_s3::error::{ErrorMetadata, SdkError};
use aws_sdk_s3::operation::head_object::HeadObjectError;
use aws_sdk_s3::operation::put_object::PutObjectError;
use aws_sdk_s3::primitives::DateTime;
use aws_smithy_runtime_api::http::{Response, StatusCode};
use aws_smithy_types::body::SdkBody;

use super::moto_xml::{sniff_list_parts, sniff_versioning};
use super::*;
use crate::error::from_sdk;
use crate::types::Versioning;

fn ctx() -> Ctx<'static> {
    Ctx {
        op: "put",
        bucket: "b",
        key: "k",
        endpoint: "http://x",
    }
}

fn raw(status: u16) -> Response {
    Response::new(StatusCode::try_from(status).unwrap(), SdkBody::empty())
}

#[test]
fn sdk_errors_map_by_code_and_status() {
    let e = SdkError::service_error(
        PutObjectError::generic(ErrorMetadata::builder().code("PreconditionFailed").build()),
        raw(412),
    );
    assert!(matches!(
        from_sdk(e, ctx()),
        StoreError::PreconditionFailed { .. }
    ));
    let e = SdkError::service_error(
        PutObjectError::generic(ErrorMetadata::builder().code("SlowDown").build()),
        raw(503),
    );
    assert!(from_sdk(e, ctx()).is_transient());
    // HEAD errors have no body, hence no code: the status decides.
    let e = SdkError::service_error(
        HeadObjectError::generic(ErrorMetadata::builder().build()),
        raw(403),
    );
    assert!(matches!(
        from_sdk(e, ctx()),
        StoreError::AccessDenied { .. }
    ));
    let mut r = raw(301);
    r.headers_mut()
        .insert("x-amz-bucket-region", "eu-central-1");
    let e = SdkError::service_error(
        HeadObjectError::generic(ErrorMetadata::builder().build()),
        r,
    );
    assert!(
        matches!(from_sdk(e, ctx()), StoreError::WrongRegion { region: Some(r), .. } if r == "eu-central-1")
    );
    let e: SdkError<PutObjectError, Response> =
        SdkError::timeout_error(Box::<dyn std::error::Error + Send + Sync>::from("slow"));
    assert!(from_sdk(e, ctx()).is_transient());
}

#[test]
fn copy_source_is_url_encoded() {
    assert_eq!(
        copy_source("b", "a b/ü+&?.txt", None),
        "b/a%20b/%C3%BC%2B%26%3F.txt"
    );
    assert_eq!(
        copy_source("b", "k", Some("x+y/z=")),
        "b/k?versionId=x%2By%2Fz%3D"
    );
}

#[test]
fn moto_style_bodies_are_read() {
    let mut r = raw(200);
    *r.body_mut() = SdkBody::from(
        "<?xml version=\"1.0\"?><ListPartsResponse xmlns=\"x\"><IsTruncated>false</IsTruncated>\
         <Part><PartNumber>1</PartNumber><ETag>&quot;ab&quot;</ETag><Size>5</Size></Part>\
         <Part><PartNumber>2</PartNumber><ETag>\"cd\"</ETag><Size>1</Size></Part></ListPartsResponse>",
    );
    let (parts, truncated, _) = sniff_list_parts(&r).unwrap();
    assert_eq!(
        parts,
        vec![(1, "\"ab\"".into(), 5), (2, "\"cd\"".into(), 1)]
    );
    assert!(!truncated);
    *r.body_mut() = SdkBody::from(
        "<GetBucketVersioningResponse><Status>Suspended</Status></GetBucketVersioningResponse>",
    );
    assert_eq!(sniff_versioning(&r), Some(Versioning::Suspended));
}

#[test]
fn small_helpers() {
    assert_eq!(range_total(Some("bytes 0-9/1234")), Some(1234));
    assert_eq!(range_total(None), None);
    assert_eq!(timestamp_ns(Some(&DateTime::from_secs(2))), 2_000_000_000);
    assert!(attempt_timeout(64 << 20) > Duration::from_secs(60 + 1000));
    // small requests keep the client's own timeout, without a per-request override
    assert!(override_for(4096).is_none() && override_for(64 * 1024 - 1).is_none());
    assert!(override_for(64 * 1024).is_some() && override_for(16 << 20).is_some());
}

#[tokio::test]
async fn connect_with_explicit_keys_needs_no_network() {
    let cfg = S3Config {
        bucket: "b".into(),
        endpoint: Some("http://127.0.0.1:9".into()),
        region: Some("garage".into()),
        credentials: Some(StaticCredentials {
            access_key_id: "AKID".into(),
            secret_access_key: "secret-never-logged".into(),
            session_token: None,
        }),
        ..S3Config::default()
    };
    assert!(!format!("{cfg:?}").contains("secret-never-logged"));
    let s = AwsStore::connect(&cfg).await.unwrap();
    assert_eq!(s.checksums(), "when_required");
    let e = s.head("k", None).await.unwrap_err();
    assert!(matches!(e, StoreError::Unreachable { .. }), "{e:?}");
    assert!(e.is_transient());
}

#[test]
fn archive_state_is_read_from_the_restore_header() {
    use crate::store::{ArchiveRestore, archive_state_from};
    let cases = [
        (Some("GLACIER"), None, ArchiveRestore::NotRequested),
        (Some("DEEP_ARCHIVE"), None, ArchiveRestore::NotRequested),
        (
            Some("GLACIER"),
            Some("ongoing-request=\"true\""),
            ArchiveRestore::InProgress,
        ),
        (
            Some("GLACIER"),
            Some("ongoing-request=\"false\", expiry-date=\"Fri, 21 Dec 2012 00:00:00 GMT\""),
            ArchiveRestore::Done,
        ),
        (Some("STANDARD"), None, ArchiveRestore::NotArchived),
        (Some("GLACIER_IR"), None, ArchiveRestore::NotArchived),
        (None, None, ArchiveRestore::NotArchived),
    ];
    for (class, header, want) in cases {
        assert_eq!(
            archive_state_from(class, header),
            want,
            "{class:?} {header:?}"
        );
    }
}
