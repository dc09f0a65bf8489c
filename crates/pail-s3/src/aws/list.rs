//! Listing: ListObjectsV2 and ListObjectVersions pages, with guards against servers that
//! repeat their page markers (which would otherwise loop `list_all` forever). Keys are asked
//! for URL-encoded and decoded in `list_xml`, so no key a client can write stops a listing.

use aws_sdk_s3::types::EncodingType;

use super::list_xml::{
    Decoded, ObjectsXml, Raw, VersionsXml, decode_entries, decode_key, parse_objects,
    parse_versions,
};
use super::{AwsStore, size, timestamp_ns};
use crate::error::{Result, StoreError, from_sdk};
use crate::types::{ListPage, ListedObject, ObjectVersion, VersionsPage};

impl AwsStore {
    pub(super) async fn list_objects_page(
        &self,
        prefix: &str,
        continuation: Option<String>,
        start_after: Option<String>,
    ) -> Result<ListPage> {
        let sent = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .encoding_type(EncodingType::Url)
            .set_continuation_token(continuation.clone())
            .set_start_after(start_after)
            .send()
            .await;
        let page = match sent {
            Ok(out) => ObjectsXml {
                url: out.encoding_type() == Some(&EncodingType::Url),
                truncated: out.is_truncated().unwrap_or(false),
                next_token: out.next_continuation_token().map(str::to_owned),
                objects: out
                    .contents()
                    .iter()
                    .filter_map(|o| {
                        Some(Raw {
                            key: o.key()?.as_bytes().to_vec(),
                            entry: ListedObject {
                                key: String::new(),
                                etag: o.e_tag().unwrap_or_default().to_owned(),
                                size: size(o.size()),
                                last_modified_ns: timestamp_ns(o.last_modified()),
                                storage_class: o.storage_class().map(|c| c.as_str().to_owned()),
                            },
                        })
                    })
                    .collect(),
            },
            // A server that sent a key raw despite the encoding asked for: the SDK's XML
            // parser rejects its control characters, so the page is read by hand.
            Err(e) if let Some(p) = e.raw_response().and_then(sniff(parse_objects)) => {
                tracing::debug!(%prefix, "listing page read by hand");
                p
            }
            Err(e) => return Err(from_sdk(e, self.ctx("list", prefix))),
        };
        let (objects, unreadable) =
            decode_entries(page.objects, page.url, |o: &mut ListedObject, k| o.key = k);
        let next_token = page.next_token.filter(|_| page.truncated);
        if next_token.is_some() && next_token == continuation {
            return Err(StoreError::other(
                "list",
                prefix,
                "server repeated the continuation token",
            ));
        }
        Ok(ListPage {
            objects,
            next_token,
            unreadable,
        })
    }

    pub(super) async fn list_versions(
        &self,
        prefix: &str,
        key_marker: Option<String>,
        version_id_marker: Option<String>,
    ) -> Result<VersionsPage> {
        let sent = self
            .client
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(prefix)
            .encoding_type(EncodingType::Url)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_id_marker.clone())
            .send()
            .await;
        let page = match sent {
            Ok(out) => {
                let version = |v: &aws_sdk_s3::types::ObjectVersion| {
                    Some(Raw {
                        key: v.key()?.as_bytes().to_vec(),
                        entry: ObjectVersion {
                            key: String::new(),
                            version_id: v.version_id().unwrap_or("null").to_owned(),
                            etag: v.e_tag().map(str::to_owned),
                            size: size(v.size()),
                            last_modified_ns: timestamp_ns(v.last_modified()),
                            is_latest: v.is_latest().unwrap_or(false),
                            is_delete_marker: false,
                        },
                    })
                };
                let marker = |m: &aws_sdk_s3::types::DeleteMarkerEntry| {
                    Some(Raw {
                        key: m.key()?.as_bytes().to_vec(),
                        entry: ObjectVersion {
                            key: String::new(),
                            version_id: m.version_id().unwrap_or("null").to_owned(),
                            etag: None,
                            size: 0,
                            last_modified_ns: timestamp_ns(m.last_modified()),
                            is_latest: m.is_latest().unwrap_or(false),
                            is_delete_marker: true,
                        },
                    })
                };
                VersionsXml {
                    url: out.encoding_type() == Some(&EncodingType::Url),
                    truncated: out.is_truncated().unwrap_or(false),
                    next_key_marker: out.next_key_marker().map(|m| m.as_bytes().to_vec()),
                    next_version_id_marker: out.next_version_id_marker().map(str::to_owned),
                    versions: out
                        .versions()
                        .iter()
                        .filter_map(version)
                        .chain(out.delete_markers().iter().filter_map(marker))
                        .collect(),
                }
            }
            // moto ignores the encoding here and sends control characters raw.
            Err(e) if let Some(p) = e.raw_response().and_then(sniff(parse_versions)) => {
                tracing::debug!(%prefix, "versions page read by hand");
                p
            }
            Err(e) => return Err(from_sdk(e, self.ctx("list_versions", prefix))),
        };
        let (mut versions, unreadable) =
            decode_entries(page.versions, page.url, |v: &mut ObjectVersion, k| {
                v.key = k
            });
        if !unreadable.is_empty() {
            // No file can have these names; the object listing reports them.
            tracing::debug!(keys = %unreadable.join(", "), "versions of keys that are not UTF-8 left out");
        }
        // The SDK splits the server's single ordered list in two; merge them back.
        versions.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then(b.is_latest.cmp(&a.is_latest))
                .then(b.last_modified_ns.cmp(&a.last_modified_ns))
        });
        let truncated = page.truncated;
        let next_key_marker = match page.next_key_marker.filter(|_| truncated) {
            None => None,
            Some(m) => match decode_key(&m, page.url) {
                Decoded::Key(k) => Some(k),
                // The SDK takes markers as strings: a page cannot start after such a key.
                Decoded::Unreadable(shown) => {
                    return Err(StoreError::other(
                        "list_versions",
                        prefix,
                        format!("the page ends at a key that is not UTF-8 ({shown})"),
                    ));
                }
            },
        };
        let next_version_id_marker = page.next_version_id_marker.filter(|_| truncated);
        if truncated && next_key_marker.is_none() {
            return Err(StoreError::other(
                "list_versions",
                prefix,
                "truncated page without NextKeyMarker",
            ));
        }
        if next_key_marker.is_some()
            && (&next_key_marker, &next_version_id_marker) == (&key_marker, &version_id_marker)
        {
            return Err(StoreError::other(
                "list_versions",
                prefix,
                "server repeated the page markers",
            ));
        }
        Ok(VersionsPage {
            versions,
            next_key_marker,
            next_version_id_marker,
        })
    }
}

/// A reader of a 200 answer's body that the SDK could not parse.
fn sniff<T>(
    parse: fn(&[u8]) -> Option<T>,
) -> impl Fn(&aws_smithy_runtime_api::http::Response) -> Option<T> {
    move |raw| {
        if raw.status().as_u16() != 200 {
            return None;
        }
        parse(raw.body().bytes()?)
    }
}
