//! Listed keys decoded, and listings read by hand when the SDK cannot parse them.
//!
//! pail asks for `encoding-type=url`: XML 1.0 cannot carry most control characters, and a key
//! holding one (any S3 client may write it) would otherwise make every listing of the prefix
//! fail. Ceph RGW and Garage honour it on both listings, moto on ListObjectsV2 only; the
//! answer says whether it did (`EncodingType`). A server that sends such a key raw produces a
//! body the SDK's XML parser rejects; it is then read here, byte by byte, so the odd key is
//! reported and every other key still syncs. Keys that are not UTF-8 after decoding cannot
//! name a file: they come back as [`Decoded::Unreadable`] with a printable form.

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use percent_encoding::percent_decode;

use super::timestamp_ns;
use crate::types::{ListedObject, ObjectVersion};

/// A listed key after decoding.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum Decoded {
    Key(String),
    /// Not UTF-8: its printable form (`\xff` for each invalid byte).
    Unreadable(String),
}

/// Decodes a key as listed: percent-decoding when the answer says `EncodingType: url` (`+` is
/// a space there, as AWS writes it; a literal `+` comes as `%2B`), then UTF-8.
pub(super) fn decode_key(raw: &[u8], url: bool) -> Decoded {
    let bytes: Vec<u8> = if url {
        let plus_as_space: Vec<u8> = raw
            .iter()
            .map(|&b| if b == b'+' { b' ' } else { b })
            .collect();
        percent_decode(&plus_as_space).collect()
    } else {
        raw.to_vec()
    };
    match String::from_utf8(bytes) {
        Ok(s) => Decoded::Key(s),
        Err(e) => Decoded::Unreadable(pail_core::printable_bytes(e.as_bytes())),
    }
}

/// A listed entry whose key is not decoded yet: `entry.key` is empty until
/// [`decode_entries`] sets it.
#[derive(Debug)]
pub(super) struct Raw<T> {
    pub key: Vec<u8>,
    pub entry: T,
}

/// The entries whose key decodes to UTF-8, keys set; and the printable forms of the others.
pub(super) fn decode_entries<T>(
    raw: Vec<Raw<T>>,
    url: bool,
    set_key: impl Fn(&mut T, String),
) -> (Vec<T>, Vec<String>) {
    let mut entries = Vec::with_capacity(raw.len());
    let mut unreadable = Vec::new();
    for Raw { key, mut entry } in raw {
        match decode_key(&key, url) {
            Decoded::Key(k) => {
                set_key(&mut entry, k);
                entries.push(entry);
            }
            Decoded::Unreadable(shown) => unreadable.push(shown),
        }
    }
    (entries, unreadable)
}

/// A ListObjectsV2 page read by hand.
#[derive(Debug)]
pub(super) struct ObjectsXml {
    pub objects: Vec<Raw<ListedObject>>,
    pub url: bool,
    pub truncated: bool,
    pub next_token: Option<String>,
}

/// A ListObjectVersions page read by hand.
#[derive(Debug)]
pub(super) struct VersionsXml {
    pub versions: Vec<Raw<ObjectVersion>>,
    pub url: bool,
    pub truncated: bool,
    pub next_key_marker: Option<Vec<u8>>,
    pub next_version_id_marker: Option<String>,
}

/// Reads a 200 ListObjectsV2 body; `None` if it is not one.
pub(super) fn parse_objects(body: &[u8]) -> Option<ObjectsXml> {
    find(body, b"<ListBucketResult")?;
    let mut objects = Vec::new();
    for c in texts(body, "Contents") {
        objects.push(Raw {
            key: unescape(first(c, "Key")?),
            entry: ListedObject {
                key: String::new(),
                etag: text(c, "ETag").unwrap_or_default(),
                size: size(c),
                last_modified_ns: last_modified(c),
                storage_class: text(c, "StorageClass"),
            },
        });
    }
    // Top-level fields come after or before the entries; look outside them only.
    let top = outside(body, &["Contents"]);
    Some(ObjectsXml {
        objects,
        url: text(&top, "EncodingType").is_some_and(|e| e.trim() == "url"),
        truncated: text(&top, "IsTruncated").is_some_and(|t| t.trim() == "true"),
        next_token: text(&top, "NextContinuationToken"),
    })
}

/// Reads a 200 ListObjectVersions body; `None` if it is not one.
pub(super) fn parse_versions(body: &[u8]) -> Option<VersionsXml> {
    find(body, b"<ListVersionsResult")?;
    let mut versions = Vec::new();
    for (tag, is_delete_marker) in [("Version", false), ("DeleteMarker", true)] {
        for v in texts(body, tag) {
            versions.push(Raw {
                key: unescape(first(v, "Key")?),
                entry: ObjectVersion {
                    key: String::new(),
                    version_id: text(v, "VersionId").unwrap_or_else(|| "null".to_owned()),
                    etag: text(v, "ETag"),
                    size: size(v),
                    last_modified_ns: last_modified(v),
                    is_latest: text(v, "IsLatest").is_some_and(|t| t.trim() == "true"),
                    is_delete_marker,
                },
            });
        }
    }
    let top = outside(body, &["Version", "DeleteMarker"]);
    Some(VersionsXml {
        versions,
        url: text(&top, "EncodingType").is_some_and(|e| e.trim() == "url"),
        truncated: text(&top, "IsTruncated").is_some_and(|t| t.trim() == "true"),
        next_key_marker: first(&top, "NextKeyMarker").map(unescape),
        next_version_id_marker: text(&top, "NextVersionIdMarker"),
    })
}

fn size(xml: &[u8]) -> u64 {
    text(xml, "Size")
        .and_then(|s| s.trim().parse().ok())
        .unwrap_or(0)
}

fn last_modified(xml: &[u8]) -> i64 {
    let t = text(xml, "LastModified")
        .and_then(|s| DateTime::from_str(s.trim(), DateTimeFormat::DateTime).ok());
    timestamp_ns(t.as_ref())
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

/// The content of each `<tag>…</tag>` in `xml`, in order (no nesting of the same tag).
fn texts<'a>(xml: &'a [u8], tag: &str) -> Vec<&'a [u8]> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    let mut out = Vec::new();
    let mut rest = xml;
    while let Some(i) = find(rest, open.as_bytes()) {
        let after = &rest[i + open.len()..];
        let Some(j) = find(after, close.as_bytes()) else {
            break;
        };
        out.push(&after[..j]);
        rest = &after[j + close.len()..];
    }
    out
}

fn first<'a>(xml: &'a [u8], tag: &str) -> Option<&'a [u8]> {
    texts(xml, tag).into_iter().next()
}

/// The unescaped text of the first `<tag>`, if it is UTF-8.
fn text(xml: &[u8], tag: &str) -> Option<String> {
    String::from_utf8(unescape(first(xml, tag)?)).ok()
}

/// `xml` without the `<tag>…</tag>` elements named.
fn outside(xml: &[u8], tags: &[&str]) -> Vec<u8> {
    let mut out = xml.to_vec();
    for tag in tags {
        let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
        let mut kept = Vec::with_capacity(out.len());
        let mut rest = out.as_slice();
        while let Some(i) = find(rest, open.as_bytes()) {
            kept.extend_from_slice(&rest[..i]);
            match find(&rest[i..], close.as_bytes()) {
                Some(j) => rest = &rest[i + j + close.len()..],
                None => {
                    rest = &[];
                }
            }
        }
        kept.extend_from_slice(rest);
        out = kept;
    }
    out
}

/// XML text to bytes: the five named entities and numeric references (`&#x1b;`, `&#10;`,
/// which some servers write for control characters). Anything else is kept as is.
fn unescape(s: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(s.len());
    let mut i = 0;
    while i < s.len() {
        if s[i] == b'&'
            && let Some(len) = s[i..].iter().take(12).position(|&b| b == b';')
        {
            let entity = &s[i + 1..i + len];
            let decoded: Option<char> = match entity {
                b"lt" => Some('<'),
                b"gt" => Some('>'),
                b"amp" => Some('&'),
                b"quot" => Some('"'),
                b"apos" => Some('\''),
                [b'#', b'x' | b'X', hex @ ..] => std::str::from_utf8(hex)
                    .ok()
                    .and_then(|h| u32::from_str_radix(h, 16).ok())
                    .and_then(char::from_u32),
                [b'#', dec @ ..] => std::str::from_utf8(dec)
                    .ok()
                    .and_then(|d| d.parse().ok())
                    .and_then(char::from_u32),
                _ => None,
            };
            if let Some(c) = decoded {
                let mut buf = [0u8; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
                i += len + 1;
                continue;
            }
        }
        out.push(s[i]);
        i += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_encoded_keys_decode_to_bytes_and_non_utf8_is_unreadable() {
        let d = |raw: &str| decode_key(raw.as_bytes(), true);
        assert_eq!(
            d("p%2Fesc%1B%5B31mred%0A.txt"),
            Decoded::Key("p/esc\x1b[31mred\n.txt".into())
        );
        // All three test servers write a space as %20 and a plus as %2B; AWS writes `+`.
        assert_eq!(d("a%2Bb%20c+d.txt"), Decoded::Key("a+b c d.txt".into()));
        assert_eq!(d("pct%2541.txt"), Decoded::Key("pct%41.txt".into()));
        assert_eq!(d("%C3%BC.txt"), Decoded::Key("ü.txt".into()));
        assert_eq!(
            d("bad%FFname%1B.txt"),
            Decoded::Unreadable("bad\\xffname\\x1b.txt".into())
        );
        // Without the encoding (a server that ignored it) the key is taken as sent.
        assert_eq!(decode_key(b"a+b%41", false), Decoded::Key("a+b%41".into()));
    }

    #[test]
    fn a_raw_control_character_does_not_stop_the_hand_reading() {
        // What moto answers to ListObjectVersions, whose encoding-type it ignores; Ceph
        // writes `&#x1b;` when asked for no encoding.
        let body = b"<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<ListVersionsResult><IsTruncated>true</IsTruncated><KeyMarker/><Version><ETag>\"e1\"</ETag><Size>3</Size><Key>p/esc\x1b[31m.txt</Key><VersionId>v1</VersionId><IsLatest>true</IsLatest><LastModified>2026-11-30T07:52:55.000Z</LastModified></Version><DeleteMarker><Key>p/a&#x07;&amp;b</Key><VersionId>v2</VersionId><IsLatest>false</IsLatest><LastModified>2026-11-30T07:52:54.000Z</LastModified></DeleteMarker><Version><Key>p/bad\xffname</Key><VersionId>v3</VersionId></Version><NextKeyMarker>p/n&#10;x</NextKeyMarker><NextVersionIdMarker>v3</NextVersionIdMarker></ListVersionsResult>";
        let page = parse_versions(body).unwrap();
        assert!(!page.url && page.truncated);
        assert_eq!(page.next_key_marker.as_deref(), Some(b"p/n\nx".as_slice()));
        assert_eq!(page.next_version_id_marker.as_deref(), Some("v3"));
        let keys: Vec<_> = page
            .versions
            .iter()
            .map(|v| decode_key(&v.key, page.url))
            .collect();
        assert_eq!(
            keys,
            [
                Decoded::Key("p/esc\x1b[31m.txt".into()),
                Decoded::Unreadable("p/bad\\xffname".into()),
                Decoded::Key("p/a\x07&b".into()),
            ]
        );
        let v = &page.versions[0];
        assert_eq!(
            (v.entry.etag.as_deref(), v.entry.size, v.entry.is_latest),
            (Some("\"e1\""), 3, true)
        );
        assert_eq!(v.entry.last_modified_ns, 1_796_025_175_000_000_000);
        assert!(page.versions[2].entry.is_delete_marker);
        assert!(parse_objects(body).is_none());
    }

    #[test]
    fn objects_pages_read_by_hand() {
        let body = b"<ListBucketResult><Name>b</Name><Contents><Key>p%2Fok.txt</Key><ETag>&quot;e&quot;</ETag><Size>1</Size><StorageClass>STANDARD</StorageClass></Contents><Contents><Key>p/raw\x1b</Key><Size>2</Size></Contents><IsTruncated>true</IsTruncated><NextContinuationToken>t+1</NextContinuationToken><EncodingType>url</EncodingType></ListBucketResult>";
        let page = parse_objects(body).unwrap();
        assert!(page.url && page.truncated);
        assert_eq!(page.next_token.as_deref(), Some("t+1"));
        assert_eq!(page.objects.len(), 2);
        assert_eq!(page.objects[0].entry.etag, "\"e\"");
        assert_eq!(
            decode_key(&page.objects[0].key, page.url),
            Decoded::Key("p/ok.txt".into())
        );
        assert_eq!(page.objects[1].entry.size, 2);
        assert!(parse_versions(body).is_none());
    }
}
