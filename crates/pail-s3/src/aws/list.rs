//! Listing: ListObjectsV2 and ListObjectVersions pages, with guards against servers that
//! repeat their page markers (which would otherwise loop `list_all` forever).

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
        let out = self
            .client
            .list_objects_v2()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_continuation_token(continuation.clone())
            .set_start_after(start_after)
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("list", prefix)))?;
        let objects = out
            .contents()
            .iter()
            .filter_map(|o| {
                Some(ListedObject {
                    key: o.key()?.to_owned(),
                    etag: o.e_tag().unwrap_or_default().to_owned(),
                    size: size(o.size()),
                    last_modified_ns: timestamp_ns(o.last_modified()),
                    storage_class: o.storage_class().map(|c| c.as_str().to_owned()),
                })
            })
            .collect();
        let next_token = out
            .next_continuation_token()
            .filter(|_| out.is_truncated().unwrap_or(false))
            .map(str::to_owned);
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
        })
    }

    pub(super) async fn list_versions(
        &self,
        prefix: &str,
        key_marker: Option<String>,
        version_id_marker: Option<String>,
    ) -> Result<VersionsPage> {
        let out = self
            .client
            .list_object_versions()
            .bucket(&self.bucket)
            .prefix(prefix)
            .set_key_marker(key_marker.clone())
            .set_version_id_marker(version_id_marker.clone())
            .send()
            .await
            .map_err(|e| from_sdk(e, self.ctx("list_versions", prefix)))?;
        let mut versions: Vec<ObjectVersion> = out
            .versions()
            .iter()
            .filter_map(|v| {
                Some(ObjectVersion {
                    key: v.key()?.to_owned(),
                    version_id: v.version_id().unwrap_or("null").to_owned(),
                    etag: v.e_tag().map(str::to_owned),
                    size: size(v.size()),
                    last_modified_ns: timestamp_ns(v.last_modified()),
                    is_latest: v.is_latest().unwrap_or(false),
                    is_delete_marker: false,
                })
            })
            .chain(out.delete_markers().iter().filter_map(|m| {
                Some(ObjectVersion {
                    key: m.key()?.to_owned(),
                    version_id: m.version_id().unwrap_or("null").to_owned(),
                    etag: None,
                    size: 0,
                    last_modified_ns: timestamp_ns(m.last_modified()),
                    is_latest: m.is_latest().unwrap_or(false),
                    is_delete_marker: true,
                })
            }))
            .collect();
        // The SDK splits the server's single ordered list in two; merge them back.
        versions.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then(b.is_latest.cmp(&a.is_latest))
                .then(b.last_modified_ns.cmp(&a.last_modified_ns))
        });
        let truncated = out.is_truncated().unwrap_or(false);
        let next_key_marker = out
            .next_key_marker()
            .filter(|_| truncated)
            .map(str::to_owned);
        let next_version_id_marker = out
            .next_version_id_marker()
            .filter(|_| truncated)
            .map(str::to_owned);
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
