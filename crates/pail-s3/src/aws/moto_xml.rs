//! Hand-reading of answers the SDK rejects: moto 5.2 names the root element of some
//! responses differently (`ListPartsResponse`, `GetBucketVersioningResponse`), so the SDK fails
//! to deserialize a 200 whose content is otherwise the S3 one. Only plain tag text is needed.

use crate::types::Versioning;

/// Reads the status from a 200 GetBucketVersioning body the SDK could not parse.
pub(super) fn sniff_versioning(raw: &aws_smithy_runtime_api::http::Response) -> Option<Versioning> {
    if raw.status().as_u16() != 200 {
        return None;
    }
    let body = std::str::from_utf8(raw.body().bytes()?).ok()?;
    Some(if body.contains("<Status>Enabled</Status>") {
        Versioning::Enabled
    } else if body.contains("<Status>Suspended</Status>") {
        Versioning::Suspended
    } else {
        Versioning::Off
    })
}

/// The text of each `<tag>…</tag>` in `xml`, in order (no nesting of the same tag).
pub(super) fn xml_texts<'a>(xml: &'a str, tag: &str) -> Vec<&'a str> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = rest.find(&open) {
        let after = &rest[i + open.len()..];
        let Some(j) = after.find(&close) else { break };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

pub(super) fn xml_unescape(s: &str) -> String {
    s.replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&amp;", "&")
}

pub(super) type PartsPage = (Vec<(i32, String, u64)>, bool, Option<String>);

/// Reads a 200 ListParts body the SDK could not parse.
pub(super) fn sniff_list_parts(raw: &aws_smithy_runtime_api::http::Response) -> Option<PartsPage> {
    if raw.status().as_u16() != 200 {
        return None;
    }
    let body = std::str::from_utf8(raw.body().bytes()?).ok()?;
    if !body.contains("<ListPartsResponse") {
        return None;
    }
    let mut parts = Vec::new();
    for p in xml_texts(body, "Part") {
        let n = xml_texts(p, "PartNumber").first()?.trim().parse().ok()?;
        let etag = xml_unescape(xml_texts(p, "ETag").first()?.trim());
        let size = xml_texts(p, "Size").first()?.trim().parse().ok()?;
        parts.push((n, etag, size));
    }
    let truncated = xml_texts(body, "IsTruncated")
        .first()
        .is_some_and(|t| t.trim() == "true");
    let next = xml_texts(body, "NextPartNumberMarker")
        .first()
        .map(|t| t.trim().to_owned());
    Some((parts, truncated, next))
}
