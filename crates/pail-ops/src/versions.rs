//! The versions of a pair's files, wherever the bucket keeps them: ListObjectVersions where
//! the server has it (with versioning suspended that is the old real versions plus `"null"`),
//! and the trash copies pail makes under `PREFIX/.pail/trash/<path>/<time>-<device>` where
//! versioning is not enabled (Garage, R2, suspended or never enabled). history, restore and
//! undelete all read versions through here.
//!
//! This works on a [`PairRemote`], not a `PairCtx`, so that it needs no pair lock: restoring while
//! the daemon runs is the point of it.

use std::collections::BTreeMap;

use anyhow::{Context, Result};
use pail_core::RelPath;
use pail_core::layout::parse_trash_key;
use pail_s3::{ObjectVersion, StoreError, Versioning, list_all};
use pail_sync::PairRemote;

/// Where a version's content can be copied from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Source {
    /// A version of the file's own key; `None` addresses the current object without a version
    /// id (servers with no versioning API, which must not be sent one).
    Bucket { version_id: Option<String> },
    /// A trash copy (its full key).
    Trash { key: String },
}

/// One version of one file, or a delete marker.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    pub source: Source,
    /// `None` for delete markers.
    pub etag: Option<String>,
    /// The file's size: on an encrypted pair the plaintext's, from the object's exact size
    /// (`PairRemote::plain_size`).
    pub size: u64,
    /// When this content became current. For a trash copy the bucket does not say: it is the
    /// time the previous trash copy was made, or `i64::MIN` for the oldest one.
    pub since_ns: i64,
    /// The time to show: when it was written, or for a trash copy when it was replaced.
    pub shown_ns: i64,
    pub is_current: bool,
    pub is_delete_marker: bool,
}

impl Version {
    /// The id `pail history` shows and `pail restore --version` takes.
    pub fn id(&self) -> String {
        match &self.source {
            Source::Bucket { version_id } => version_id.clone().unwrap_or_else(|| "null".into()),
            Source::Trash { key } => format!("trash:{}", key.rsplit('/').next().unwrap_or(key)),
        }
    }

    fn from_listing(bucket: &PairRemote, v: ObjectVersion) -> Version {
        Version {
            source: Source::Bucket {
                version_id: Some(v.version_id),
            },
            etag: v.etag,
            size: bucket.plain_size(v.size),
            since_ns: v.last_modified_ns,
            shown_ns: v.last_modified_ns,
            is_current: v.is_latest,
            is_delete_marker: v.is_delete_marker,
        }
    }

    /// A live object.
    pub fn exists(&self) -> bool {
        !self.is_delete_marker
    }
}

/// The version that was current at `t_ns`, given versions newest first by `since_ns`: the
/// newest one that had become current by then. A delete marker or `None` means the file did
/// not exist at that time.
pub fn version_at(versions: &[Version], t_ns: i64) -> Option<&Version> {
    versions.iter().find(|v| v.since_ns <= t_ns)
}

/// The live current version, if the file is not deleted.
pub fn current(versions: &[Version]) -> Option<&Version> {
    versions.iter().find(|v| v.is_current && v.exists())
}

/// Whether the file is gone from the bucket but some version of it is kept.
pub fn is_deleted(versions: &[Version]) -> bool {
    current(versions).is_none() && versions.iter().any(Version::exists)
}

/// Sorts one file's versions newest first and gives trash copies their `since_ns`.
fn finish(mut versions: Vec<Version>) -> Vec<Version> {
    let mut trash: Vec<usize> = (0..versions.len())
        .filter(|&i| matches!(versions[i].source, Source::Trash { .. }))
        .collect();
    trash.sort_by_key(|&i| versions[i].shown_ns);
    let mut prev = i64::MIN;
    for i in trash {
        versions[i].since_ns = prev;
        prev = versions[i].shown_ns;
    }
    // The current entry first whatever the clocks say (servers with second-precision times
    // can date it before the trash copy made just before it); the rest newest first. Stable:
    // versions listed with equal times keep the server's newest-first order.
    versions.sort_by(|a, b| {
        b.is_current
            .cmp(&a.is_current)
            .then(b.since_ns.cmp(&a.since_ns))
    });
    versions
}

/// Every version of one file, newest first: the bucket's versions of exactly its key (paged
/// over key and version-id markers) and, where pail keeps them, its trash copies.
pub async fn versions_of(bucket: &PairRemote, path: &RelPath) -> Result<Vec<Version>> {
    let key = bucket.key(path)?;
    let mut out = Vec::new();
    let listed = if bucket.caps.versioning != Versioning::Unsupported {
        list_exact(bucket, &key, &mut out).await?
    } else {
        false
    };
    if !listed {
        // No versioning API: the current object is all the bucket itself has.
        if let Some(h) = bucket.store.head(&key, None).await? {
            out.push(Version {
                source: Source::Bucket { version_id: None },
                etag: Some(h.etag),
                size: bucket.plain_size(h.size),
                since_ns: h.last_modified_ns,
                shown_ns: h.last_modified_ns,
                is_current: true,
                is_delete_marker: false,
            });
        }
    }
    if !bucket.versioned() {
        let tp = bucket
            .trash_prefix(Some(path))
            .with_context(|| format!("{path}: no key"))?;
        list_trash(bucket, &tp, |p, v| {
            if &p == path {
                out.push(v);
            }
        })
        .await?;
    }
    Ok(finish(out))
}

/// Lists the versions of exactly `key` into `out`. `false` when the server has no versioning
/// API after all (the probe was made on another day).
async fn list_exact(bucket: &PairRemote, key: &str, out: &mut Vec<Version>) -> Result<bool> {
    let (mut km, mut vm) = (None, None);
    loop {
        let page = match bucket
            .store
            .list_versions_page(key, km.clone(), vm.clone())
            .await
        {
            Ok(p) => p,
            Err(StoreError::NotImplemented { .. }) => return Ok(false),
            Err(e) => return Err(e.into()),
        };
        // Keys come in order and all start with `key`: longer ones sort after it.
        let mut past = false;
        for v in page.versions {
            if v.key == key {
                out.push(Version::from_listing(bucket, v));
            } else {
                past = true;
            }
        }
        if past || page.next_key_marker.is_none() {
            return Ok(true);
        }
        (km, vm) = (page.next_key_marker, page.next_version_id_marker);
    }
}

/// Trash copies under `trash_prefix`, with their file's path.
async fn list_trash(
    bucket: &PairRemote,
    trash_prefix: &str,
    mut f: impl FnMut(RelPath, Version),
) -> Result<()> {
    let prefix = bucket.prefix.clone();
    list_all(bucket.store.as_ref(), trash_prefix, |o| {
        if let Some((path, ns)) = parse_trash_key(&prefix, &o.key) {
            f(
                path,
                Version {
                    source: Source::Trash { key: o.key },
                    etag: Some(o.etag),
                    size: bucket.plain_size(o.size),
                    since_ns: i64::MIN,
                    shown_ns: ns,
                    is_current: false,
                    is_delete_marker: false,
                },
            );
        }
    })
    .await
    .with_context(|| format!("listing trash copies under {trash_prefix}"))
}

/// Every file under `dir` (the whole pair for `None`) that has or had an object, with its
/// versions newest first, in path order: one paged version listing of the prefix (or one
/// listing plus the trash where pail keeps trash copies).
pub async fn versions_under(
    bucket: &PairRemote,
    dir: Option<&RelPath>,
) -> Result<BTreeMap<RelPath, Vec<Version>>> {
    let no_key = || format!("{}: no key", dir.map_or("", RelPath::as_str));
    let prefix = bucket.dir_prefix(dir).with_context(no_key)?;
    let mut files: BTreeMap<RelPath, Vec<Version>> = BTreeMap::new();
    let mut listed = false;
    if bucket.caps.versioning != Versioning::Unsupported {
        let (mut km, mut vm) = (None, None);
        listed = true;
        loop {
            let page = match bucket
                .store
                .list_versions_page(&prefix, km.clone(), vm.clone())
                .await
            {
                Ok(p) => p,
                Err(StoreError::NotImplemented { .. }) => {
                    listed = false;
                    files.clear();
                    break;
                }
                Err(e) => return Err(e).with_context(|| format!("listing versions of {prefix}")),
            };
            for v in page.versions {
                // pail's own `.pail/` objects, folder markers and unusable names are no files.
                if let Ok(Some(path)) = bucket.prefix.path_for(&v.key) {
                    files
                        .entry(path)
                        .or_default()
                        .push(Version::from_listing(bucket, v));
                }
            }
            if page.next_key_marker.is_none() {
                break;
            }
            (km, vm) = (page.next_key_marker, page.next_version_id_marker);
        }
    }
    if !listed {
        list_all(bucket.store.as_ref(), &prefix, |o| {
            if let Ok(Some(path)) = bucket.prefix.path_for(&o.key) {
                files.entry(path).or_default().push(Version {
                    source: Source::Bucket { version_id: None },
                    etag: Some(o.etag),
                    size: bucket.plain_size(o.size),
                    since_ns: o.last_modified_ns,
                    shown_ns: o.last_modified_ns,
                    is_current: true,
                    is_delete_marker: false,
                });
            }
        })
        .await
        .with_context(|| format!("listing {prefix}"))?;
    }
    if !bucket.versioned() {
        list_trash(
            bucket,
            &bucket.trash_prefix(dir).with_context(no_key)?,
            |p, v| {
                files.entry(p).or_default().push(v);
            },
        )
        .await?;
    }
    Ok(files.into_iter().map(|(p, v)| (p, finish(v))).collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn v(id: &str, since: i64, current: bool, dm: bool) -> Version {
        Version {
            source: Source::Bucket {
                version_id: Some(id.into()),
            },
            etag: (!dm).then(|| format!("\"{id}\"")),
            size: 1,
            since_ns: since,
            shown_ns: since,
            is_current: current,
            is_delete_marker: dm,
        }
    }

    #[test]
    fn version_at_picks_what_was_current_then() {
        // Newest first: v3 (current, t=30), delete marker (t=20), v1 (t=10).
        let vs = vec![
            v("v3", 30, true, false),
            v("dm", 20, false, true),
            v("v1", 10, false, false),
        ];
        assert_eq!(version_at(&vs, 5), None, "before the file existed");
        assert_eq!(version_at(&vs, 10).unwrap().id(), "v1", "at its write");
        assert_eq!(version_at(&vs, 15).unwrap().id(), "v1");
        assert!(
            version_at(&vs, 25).unwrap().is_delete_marker,
            "deleted then"
        );
        assert_eq!(version_at(&vs, 99).unwrap().id(), "v3");
        assert_eq!(current(&vs).unwrap().id(), "v3");
        assert!(!is_deleted(&vs));
    }

    #[test]
    fn delete_markers_on_delete_markers_are_still_deleted() {
        let vs = vec![
            v("dm2", 30, true, true),
            v("dm1", 20, false, true),
            v("v1", 10, false, false),
        ];
        assert!(is_deleted(&vs));
        assert!(current(&vs).is_none());
        assert!(!is_deleted(&[v("dm", 3, true, true)]), "nothing kept");
    }

    #[test]
    fn trash_copies_chain_their_times() {
        let t = |key: &str, at: i64| Version {
            source: Source::Trash { key: key.into() },
            etag: Some("\"e\"".into()),
            size: 1,
            since_ns: i64::MIN,
            shown_ns: at,
            is_current: false,
            is_delete_marker: false,
        };
        let cur = Version {
            source: Source::Bucket { version_id: None },
            ..v("cur", 50, true, false)
        };
        // Content A replaced at 20 (trash a), B replaced at 40 (trash b), C current since 50.
        let vs = finish(vec![t("p/b", 40), cur, t("p/a", 20)]);
        let ids: Vec<_> = vs.iter().map(Version::id).collect();
        assert_eq!(ids, ["null", "trash:b", "trash:a"]);
        assert_eq!(version_at(&vs, 10).unwrap().id(), "trash:a");
        assert_eq!(version_at(&vs, 30).unwrap().id(), "trash:b");
        assert_eq!(version_at(&vs, 45).unwrap().id(), "trash:b");
        assert_eq!(version_at(&vs, 60).unwrap().id(), "null");
    }
}
