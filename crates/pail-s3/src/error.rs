//! The one error type of the store, and its mapping from the SDK's errors.
//!
//! Each variant carries the bucket or key it is about and its message says how to fix it.
//! [`StoreError::is_transient`] tells the engine to retry later instead of giving up on a path.

use aws_sdk_s3::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use aws_smithy_runtime_api::http::Response as HttpResponse;

/// The result of a store call.
pub type Result<T, E = StoreError> = std::result::Result<T, E>;

/// Why a store call failed, classified so that callers can react (retry, re-read, skip,
/// report) without reading messages.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The key (or the version asked for) does not exist.
    #[error("s3 object {key:?} not found")]
    NotFound {
        /// The key asked for.
        key: String,
    },
    /// A conditional write or read found another ETag (412).
    #[error(
        "s3 object {key:?} changed since it was last read (precondition failed): re-read it and merge"
    )]
    PreconditionFailed {
        /// The key written or read.
        key: String,
    },
    /// Another conditional write to the key is under way (409).
    #[error("a concurrent conditional write to s3 object {key:?} is in progress (409): retry")]
    ConditionalConflict {
        /// The key written.
        key: String,
    },
    /// The bucket does not exist.
    #[error(
        "bucket {bucket:?} does not exist: create it, or fix the bucket name or the endpoint in the config"
    )]
    NoSuchBucket {
        /// The bucket's name.
        bucket: String,
    },
    /// The credentials may not make the call.
    #[error(
        "access denied to bucket {bucket:?}{}: {message}; check the credentials and that the bucket policy allows s3:ListBucket, s3:GetObject, s3:PutObject, s3:DeleteObject and the version actions",
        key.as_ref().map(|k| format!(" (key {k:?})")).unwrap_or_default()
    )]
    AccessDenied {
        /// The bucket's name.
        bucket: String,
        /// The key, when the call was about one.
        key: Option<String>,
        /// The server's message.
        message: String,
    },
    /// The bucket is in another region than the one the request went to.
    #[error(
        "bucket {bucket:?} is in another region{}: set `region` in the config{} (or pass `--region{}` to `pail init`)",
        region.as_ref().map(|r| format!(" ({r})")).unwrap_or_default(),
        region.as_ref().map(|r| format!(" to {r:?}")).unwrap_or_default(),
        region.as_ref().map(|r| format!(" {r}")).unwrap_or_default()
    )]
    WrongRegion {
        /// The bucket's name.
        bucket: String,
        /// The bucket's region, when the server said.
        region: Option<String>,
    },
    /// No credentials could be found, or they could not be loaded.
    #[error(
        "no AWS credentials found: set AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY or AWS_PROFILE, or add a profile to ~/.aws/credentials ({message})"
    )]
    Credentials {
        /// What the credential chain reported.
        message: String,
    },
    /// No answer from the endpoint (DNS, connection refused, timeout).
    #[error("cannot reach the S3 endpoint {endpoint}: {message}")]
    Unreachable {
        /// The endpoint URL, or `AWS S3 (region)`.
        endpoint: String,
        /// The underlying error.
        message: String,
    },
    /// The server does not implement the call (501).
    #[error("the S3 server does not implement {op} (501 NotImplemented)")]
    NotImplemented {
        /// The call.
        op: &'static str,
    },
    /// The object is in an archive storage class and must be restored before a GET.
    #[error(
        "s3 object {key:?} is archived (Glacier/Deep Archive): restore it before pail can read it"
    )]
    InvalidObjectState {
        /// The key read.
        key: String,
    },
    /// The version asked for is a delete marker (405).
    #[error("this version of s3 object {key:?} is a delete marker (405 MethodNotAllowed)")]
    MethodNotAllowed {
        /// The key read.
        key: String,
    },
    /// A failure that may pass (throttling, 5xx, a connection lost mid-transfer).
    #[error("temporary S3 failure in {op} of {key:?}: {message}")]
    Transient {
        /// The call.
        op: &'static str,
        /// The key the call was about (empty for bucket-level calls).
        key: String,
        /// The underlying error.
        message: String,
    },
    /// Anything else: not retried, reported with the server's message.
    #[error("S3 {op} of {key:?} failed: {message}")]
    Other {
        /// The call.
        op: &'static str,
        /// The key the call was about (empty for bucket-level calls).
        key: String,
        /// The underlying error.
        message: String,
    },
}

impl StoreError {
    /// Whether retrying the same request later may succeed. `Unreachable` counts: the network
    /// may come back. `ConditionalConflict` counts: the racing write finishes. A
    /// `PreconditionFailed` does not: the caller must re-read first.
    pub fn is_transient(&self) -> bool {
        matches!(
            self,
            StoreError::Transient { .. }
                | StoreError::Unreachable { .. }
                | StoreError::ConditionalConflict { .. }
        )
    }

    /// A [`StoreError::Transient`].
    pub fn transient(op: &'static str, key: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Transient {
            op,
            key: key.into(),
            message: message.into(),
        }
    }

    /// A [`StoreError::Other`].
    pub fn other(op: &'static str, key: impl Into<String>, message: impl Into<String>) -> Self {
        StoreError::Other {
            op,
            key: key.into(),
            message: message.into(),
        }
    }
}

/// Where an SDK error happened, for the message.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Ctx<'a> {
    pub op: &'static str,
    pub bucket: &'a str,
    pub key: &'a str,
    pub endpoint: &'a str,
}

/// The facts of a failed response that the mapping looks at. Split out of the SDK error so
/// that the mapping is testable without the SDK.
#[derive(Clone, Debug, Default)]
pub(crate) struct Failure {
    pub status: Option<u16>,
    pub code: Option<String>,
    pub message: Option<String>,
    pub region_hint: Option<String>,
    /// For errors with no response at all.
    pub kind: FailureKind,
    pub detail: String,
}

#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) enum FailureKind {
    #[default]
    Response,
    Timeout,
    /// Connection refused, DNS failure, connect timeout.
    Connect,
    /// Connection reset or other I/O failure mid-request.
    Io,
    /// The request could not be built or signed (often: no credentials).
    Construction,
    Other,
}

pub(crate) fn from_sdk<E>(err: SdkError<E, HttpResponse>, ctx: Ctx<'_>) -> StoreError
where
    E: ProvideErrorMetadata + std::error::Error + 'static,
{
    let detail = DisplayErrorContext(&err).to_string();
    let mut f = Failure {
        code: err.code().map(str::to_owned),
        message: err.message().map(str::to_owned),
        ..Failure::default()
    };
    if let Some(raw) = err.raw_response() {
        f.status = Some(raw.status().as_u16());
        f.region_hint = raw
            .headers()
            .get("x-amz-bucket-region")
            .map(str::to_owned)
            .or_else(|| raw.body().bytes().and_then(region_in_body));
    }
    f.kind = match &err {
        SdkError::ServiceError(_) | SdkError::ResponseError(_) => FailureKind::Response,
        SdkError::TimeoutError(_) => FailureKind::Timeout,
        SdkError::DispatchFailure(d) => match d.as_connector_error() {
            Some(c) if c.is_timeout() => FailureKind::Timeout,
            Some(c) if c.is_io() && looks_like_connect(&detail) => FailureKind::Connect,
            Some(c) if c.is_io() => FailureKind::Io,
            // The connector's own verdict that another try may work (a connection closed
            // before the answer was complete, a TLS negotiation timeout).
            Some(c) if c.as_other() == Some(aws_smithy_types::retry::ErrorKind::TransientError) => {
                FailureKind::Io
            }
            _ if looks_like_connect(&detail) => FailureKind::Connect,
            _ => FailureKind::Other,
        },
        SdkError::ConstructionFailure(_) => FailureKind::Construction,
        _ => FailureKind::Other,
    };
    f.detail = detail;
    map_failure(f, ctx)
}

/// The `<Region>` of an error body: AWS and Garage name the bucket's region there when a
/// request was signed for another one (AuthorizationHeaderMalformed).
fn region_in_body(body: &[u8]) -> Option<String> {
    let text = std::str::from_utf8(body).ok()?;
    let start = text.find("<Region>")? + "<Region>".len();
    let len = text[start..].find("</Region>")?;
    let region = text[start..start + len].trim();
    (!region.is_empty() && region.len() < 64).then(|| region.to_owned())
}

/// The SDK's error text ends with a Rust debug dump of the error (`... (DispatchFailure(
/// DispatchFailure { source: ... }))`): nothing for a person. Cut it off.
pub(crate) fn without_debug_dump(detail: &str) -> &str {
    let mut from = 0;
    while let Some(i) = detail[from..].find(" (") {
        let at = from + i;
        let rest = &detail[at + 2..];
        let name_len = rest
            .find(|c: char| !c.is_ascii_alphanumeric())
            .unwrap_or(rest.len());
        let starts_upper = rest.starts_with(|c: char| c.is_ascii_uppercase());
        if starts_upper && name_len > 0 && rest[name_len..].starts_with(['(', ' ', '{']) {
            return detail[..at].trim_end();
        }
        from = at + 2;
    }
    detail
}

/// Why a connection could not be made, in a sentence with what to check: the network is
/// down, the name does not resolve, nothing listens there, TLS failed.
fn connect_cause(detail: &str) -> String {
    let d = detail.to_ascii_lowercase();
    let has = |p: &[&str]| p.iter().any(|p| d.contains(p));
    if has(&[
        "dns error",
        "failed to lookup",
        "name or service not known",
        "nodename nor servname",
    ]) {
        "its host name does not resolve (no network, or a mistyped endpoint); check the connection and the endpoint URL".into()
    } else if has(&["network is unreachable", "no route to host"]) {
        "the network is unreachable (offline?); pail tries again when it is back".into()
    } else if has(&["connection refused"]) {
        "nothing answers there (connection refused); check that the server runs and the endpoint URL, port included".into()
    } else if has(&["certificate", "tls", "ssl", "handshake"]) {
        "the TLS handshake failed (certificate not trusted, or http/https mixed up); check the endpoint URL's scheme and the server's certificate".into()
    } else if has(&["timed out", "timeout"]) {
        "the connection timed out (offline, or a firewall); check the network".into()
    } else {
        format!(
            "{}; check the network and the endpoint URL",
            without_debug_dump(detail)
        )
    }
}

fn looks_like_connect(detail: &str) -> bool {
    let d = detail.to_ascii_lowercase();
    // Not any "connect…": "connection closed before message completed" is an answer cut off
    // after the connection was made, not an endpoint that cannot be reached.
    [
        "(connect)",
        "connect error",
        "dns error",
        "failed to lookup",
        "connection refused",
        "no route to host",
        "network is unreachable",
    ]
    .iter()
    .any(|p| d.contains(p))
}

pub(crate) fn map_failure(f: Failure, ctx: Ctx<'_>) -> StoreError {
    let key = ctx.key.to_owned();
    let bucket = ctx.bucket.to_owned();
    let op = ctx.op;
    // Answers without a body (HEAD, some 403s) have no message; the SDK's debug dump of them
    // says nothing a user can use, the status does.
    let message = match (f.message.clone().filter(|m| !m.is_empty()), f.status) {
        (Some(m), _) => m,
        (None, Some(status)) if matches!(f.kind, FailureKind::Response) => match &f.code {
            Some(code) => format!("{code} (HTTP {status})"),
            None => format!("HTTP {status}, no error message"),
        },
        (None, _) => f.detail.clone(),
    };
    match f.kind {
        FailureKind::Response => {}
        FailureKind::Timeout | FailureKind::Io => {
            return StoreError::Transient {
                op,
                key,
                message: without_debug_dump(&f.detail).to_owned(),
            };
        }
        FailureKind::Connect => {
            return StoreError::Unreachable {
                endpoint: ctx.endpoint.to_owned(),
                message: connect_cause(&f.detail),
            };
        }
        FailureKind::Construction | FailureKind::Other => {
            let d = f.detail.to_ascii_lowercase();
            if d.contains("credential") || d.contains("identity") {
                return StoreError::Credentials {
                    message: without_debug_dump(&f.detail).to_owned(),
                };
            }
            return StoreError::Other {
                op,
                key,
                message: without_debug_dump(&f.detail).to_owned(),
            };
        }
    }
    let status = f.status.unwrap_or(0);
    match (f.code.as_deref(), status) {
        (Some("NoSuchBucket"), _) => StoreError::NoSuchBucket { bucket },
        (Some("NoSuchKey" | "NotFound" | "NoSuchVersion" | "NoSuchUpload"), _) | (None, 404) => {
            StoreError::NotFound { key }
        }
        (Some("PreconditionFailed"), _) | (None, 412) => StoreError::PreconditionFailed { key },
        (Some("ConditionalRequestConflict"), _) | (None, 409) => {
            StoreError::ConditionalConflict { key }
        }
        (Some("PermanentRedirect" | "AuthorizationHeaderMalformed" | "IncorrectEndpoint"), _)
        | (None, 301) => StoreError::WrongRegion {
            bucket,
            region: f.region_hint,
        },
        (Some("InvalidObjectState"), _) => StoreError::InvalidObjectState { key },
        (Some("MethodNotAllowed"), _) | (None, 405) => StoreError::MethodNotAllowed { key },
        (Some("NotImplemented"), _) | (None, 501) => StoreError::NotImplemented { op },
        (
            Some(
                "SlowDown"
                | "InternalError"
                | "ServiceUnavailable"
                | "RequestTimeout"
                | "Throttling"
                | "ThrottlingException"
                | "RequestTimeTooSkewed"
                | "OperationAborted",
            ),
            _,
        ) => StoreError::Transient { op, key, message },
        (Some("InvalidAccessKeyId" | "SignatureDoesNotMatch"), _) => StoreError::AccessDenied {
            bucket,
            key: (!key.is_empty()).then_some(key),
            message: format!("{message} (the access key or secret key is wrong)"),
        },
        (Some("AccessDenied" | "AllAccessDisabled" | "AccountProblem"), _) | (None, 403) => {
            StoreError::AccessDenied {
                bucket,
                key: (!key.is_empty()).then_some(key),
                message,
            }
        }
        (_, 301) => StoreError::WrongRegion {
            bucket,
            region: f.region_hint,
        },
        (_, 500 | 502 | 503 | 504) | (_, 429) => StoreError::Transient { op, key, message },
        // A success status that still failed: the body was cut off (a connection reset in
        // the middle of a listing) or could not be read. Worth another try, like a 503.
        (None, 200..=299) => StoreError::Transient {
            op,
            key,
            message: format!("the server's answer was cut off or unreadable (HTTP {status})"),
        },
        _ => StoreError::Other {
            op,
            key,
            message: match f.code {
                Some(c) => format!("{c} (HTTP {status}): {message}"),
                None => format!("HTTP {status}: {message}"),
            },
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CTX: Ctx<'static> = Ctx {
        op: "put",
        bucket: "b",
        key: "k",
        endpoint: "http://127.0.0.1:1",
    };

    fn resp(status: u16, code: Option<&str>) -> StoreError {
        map_failure(
            Failure {
                status: Some(status),
                code: code.map(str::to_owned),
                message: Some("msg".into()),
                region_hint: Some("eu-west-1".into()),
                ..Failure::default()
            },
            CTX,
        )
    }

    #[test]
    fn responses_map_to_variants() {
        use StoreError as E;
        assert!(matches!(resp(404, None), E::NotFound { .. }));
        assert!(matches!(resp(404, Some("NoSuchKey")), E::NotFound { .. }));
        assert!(matches!(
            resp(404, Some("NoSuchBucket")),
            E::NoSuchBucket { .. }
        ));
        assert!(matches!(resp(412, None), E::PreconditionFailed { .. }));
        assert!(matches!(
            resp(412, Some("PreconditionFailed")),
            E::PreconditionFailed { .. }
        ));
        assert!(matches!(
            resp(409, Some("ConditionalRequestConflict")),
            E::ConditionalConflict { .. }
        ));
        assert!(matches!(
            resp(409, Some("OperationAborted")),
            E::Transient { .. }
        ));
        assert!(
            matches!(resp(301, None), E::WrongRegion { region: Some(r), .. } if r == "eu-west-1")
        );
        assert!(matches!(
            resp(400, Some("AuthorizationHeaderMalformed")),
            E::WrongRegion { .. }
        ));
        assert!(matches!(
            resp(403, Some("InvalidObjectState")),
            E::InvalidObjectState { .. }
        ));
        assert!(matches!(
            resp(403, None),
            E::AccessDenied { key: Some(_), .. }
        ));
        assert!(matches!(
            resp(403, Some("SignatureDoesNotMatch")),
            E::AccessDenied { .. }
        ));
        assert!(matches!(resp(405, None), E::MethodNotAllowed { .. }));
        assert!(matches!(
            resp(501, Some("NotImplemented")),
            E::NotImplemented { op: "put" }
        ));
        assert!(matches!(resp(400, Some("InvalidRequest")), E::Other { .. }));
        for t in [
            resp(503, Some("SlowDown")),
            resp(500, None),
            resp(502, None),
            resp(400, Some("RequestTimeout")),
        ] {
            assert!(t.is_transient(), "{t:?}");
        }
        assert!(!resp(412, None).is_transient());
    }

    #[test]
    fn the_region_named_in_an_error_body_is_found() {
        let garage = br#"<?xml version="1.0" encoding="UTF-8"?><Error><Code>AuthorizationHeaderMalformed</Code><Message>unexpected scope</Message><Resource>/b</Resource><Region>garage</Region></Error>"#;
        assert_eq!(region_in_body(garage).as_deref(), Some("garage"));
        assert_eq!(region_in_body(b"<Error><Region></Region></Error>"), None);
        assert_eq!(
            region_in_body(b"<Error><Code>AccessDenied</Code></Error>"),
            None
        );
        assert_eq!(region_in_body(&[0xff, 0xfe]), None);
    }

    /// A connection reset in the middle of a listing's body reaches us as a failed answer
    /// with status 200: transient, and said plainly (issue 16).
    #[test]
    fn a_cut_off_success_is_transient_and_says_so() {
        let e = map_failure(
            Failure {
                kind: FailureKind::Response,
                status: Some(200),
                detail: "response body: connection reset".into(),
                ..Failure::default()
            },
            CTX,
        );
        assert!(e.is_transient(), "{e:?}");
        let text = e.to_string();
        assert!(text.contains("answer was cut off"), "{text}");
        assert!(!text.contains("will retry"), "{text}");
    }

    #[test]
    fn unreachable_endpoints_say_why_in_plain_words() {
        let dump = |cause: &str| {
            format!(
                "dispatch failure: io error: client error (Connect): {cause} (DispatchFailure(DispatchFailure {{ source: ConnectorError {{ kind: Io }} }}))"
            )
        };
        for (cause, says) in [
            (
                "tcp connect error: Connection refused (os error 111)",
                "connection refused",
            ),
            (
                "dns error: failed to lookup address information: Name or service not known",
                "does not resolve",
            ),
            (
                "tcp connect error: Network is unreachable (os error 101)",
                "offline?",
            ),
            (
                "invalid peer certificate: UnknownIssuer",
                "TLS handshake failed",
            ),
        ] {
            let e = map_failure(
                Failure {
                    kind: FailureKind::Connect,
                    detail: dump(cause),
                    ..Failure::default()
                },
                CTX,
            );
            let text = e.to_string();
            assert!(text.contains(says), "{text}");
            for debug in ["DispatchFailure(", "ConnectorError", "{"] {
                assert!(!text.contains(debug), "{text}");
            }
        }
        let e = map_failure(
            Failure {
                kind: FailureKind::Io,
                detail: dump("connection reset by peer"),
                ..Failure::default()
            },
            CTX,
        );
        assert!(!e.to_string().contains("DispatchFailure("), "{e}");
        assert!(e.to_string().contains("connection reset by peer"), "{e}");
    }

    #[test]
    fn a_bodyless_answer_says_its_status_not_the_sdk_dump() {
        let e = map_failure(
            Failure {
                kind: FailureKind::Response,
                status: Some(403),
                detail: "service error: unhandled error: Error { aws_request_id: .. }".into(),
                ..Failure::default()
            },
            CTX,
        );
        let text = e.to_string();
        assert!(text.contains("HTTP 403, no error message"), "{text}");
        assert!(!text.contains("aws_request_id"), "{text}");
    }

    #[test]
    fn failures_without_response() {
        let f = |kind, detail: &str| {
            map_failure(
                Failure {
                    kind,
                    detail: detail.into(),
                    ..Failure::default()
                },
                CTX,
            )
        };
        assert!(matches!(
            f(FailureKind::Connect, "x"),
            StoreError::Unreachable { .. }
        ));
        assert!(f(FailureKind::Connect, "x").is_transient());
        assert!(matches!(
            f(FailureKind::Timeout, "x"),
            StoreError::Transient { .. }
        ));
        assert!(matches!(
            f(FailureKind::Io, "reset"),
            StoreError::Transient { .. }
        ));
        assert!(matches!(
            f(FailureKind::Construction, "failed to load credentials"),
            StoreError::Credentials { .. }
        ));
        assert!(looks_like_connect(
            "dispatch failure: io error: client error (Connect): tcp connect error: Connection refused"
        ));
    }

    #[test]
    fn messages_say_the_fix() {
        let e = StoreError::Credentials {
            message: "none".into(),
        };
        assert!(e.to_string().contains("AWS_ACCESS_KEY_ID"));
        let e = StoreError::WrongRegion {
            bucket: "b".into(),
            region: Some("eu-west-1".into()),
        };
        assert!(
            e.to_string()
                .contains("set `region` in the config to \"eu-west-1\""),
            "{e}"
        );
        let e = StoreError::AccessDenied {
            bucket: "b".into(),
            key: None,
            message: "m".into(),
        };
        assert!(e.to_string().contains("s3:PutObject"));
    }
}
