//! `pail history`: the versions of one file (with the device that wrote each, read from its
//! metadata), the files of a folder that have old versions or were deleted, and how much
//! space old versions take per folder (to choose lifecycle rules).

use std::collections::BTreeMap;

use anyhow::Result;
use futures::{StreamExt, TryStreamExt};
use pail_core::{ContentHash, RelPath};
use pail_index::Index;
use serde::Serialize;

use crate::versions::{Source, Version, is_deleted, versions_of, versions_under};
use crate::when::rfc3339_ns;
use pail_sync::PairRemote;

/// Shown for versions written by a client that is not pail (no `pail-device`).
pub const OTHER_CLIENT: &str = "other client";

#[derive(Debug, Clone, Serialize)]
pub struct FileHistory {
    pub path: String,
    pub key: String,
    /// The file is gone from the bucket (its newest entry is a delete marker, or only trash
    /// copies remain).
    pub deleted: bool,
    /// Newest first.
    pub versions: Vec<VersionInfo>,
    /// When this file is a conflict copy pail made: the file it was split from.
    pub conflict_copy_of: Option<String>,
    /// Where the versions come from, when it is not the bucket's versioning.
    pub note: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct VersionInfo {
    /// What `pail restore --version` takes: the S3 version id, or `trash:<name>`.
    pub version_id: String,
    /// RFC 3339 (UTC, to the nanosecond): when it was written; for a trash copy, when it
    /// was replaced.
    pub time: String,
    /// The same time in Unix nanoseconds (for local-time output).
    #[serde(skip)]
    pub time_ns: i64,
    pub size: u64,
    /// `pail-device` of the version, "other client" without one, null for delete markers.
    pub device: Option<String>,
    pub current: bool,
    pub delete_marker: bool,
    /// `version` (the bucket keeps it) or `trash` (pail's copy on a bucket without versioning).
    pub source: &'static str,
    pub etag: Option<String>,
    /// The conflict copy that holds this content, when pail made one from it.
    pub conflict_copy: Option<String>,
}

/// Conflict copies of `path` recorded in the index, with the content each was synced with.
pub fn conflict_sources(index: &Index, path: &RelPath) -> Result<Vec<(RelPath, ContentHash)>> {
    let mut out = Vec::new();
    for c in index.list_conflicts()? {
        if &c.original == path
            && let Some(base) = index.get_base(&c.path)?
        {
            out.push((c.path, base.hash));
        }
    }
    Ok(out)
}

/// The file a conflict copy was made from, if `path` is one.
pub fn conflict_original(index: &Index, path: &RelPath) -> Result<Option<RelPath>> {
    Ok(index
        .list_conflicts()?
        .into_iter()
        .find(|c| &c.path == path)
        .map(|c| c.original))
}

/// Every version of `path`, each HEADed (a few at a time) for the device that wrote it and
/// its content hash, which links versions to the conflict copies in `copies`.
pub async fn file_history(
    bucket: &PairRemote,
    path: &RelPath,
    copies: &[(RelPath, ContentHash)],
) -> Result<FileHistory> {
    let key = bucket.key(path)?;
    let versions = versions_of(bucket, path).await?;
    let deleted = is_deleted(&versions);
    let infos: Vec<VersionInfo> = futures::stream::iter(versions.iter())
        .map(|v| describe(bucket, &key, v, copies))
        .buffered(8)
        .try_collect()
        .await?;
    let note = (!bucket.versioned()).then(|| {
        "the bucket does not keep versions: older contents are pail's trash copies, made when a sync replaced or deleted the file"
            .to_owned()
    });
    Ok(FileHistory {
        path: path.to_string(),
        key,
        deleted,
        versions: infos,
        conflict_copy_of: None,
        note,
    })
}

async fn describe(
    bucket: &PairRemote,
    key: &str,
    v: &Version,
    copies: &[(RelPath, ContentHash)],
) -> Result<VersionInfo> {
    let (src_key, src_version, source) = match &v.source {
        Source::Bucket { version_id } => (key, version_id.as_deref(), "version"),
        Source::Trash { key } => (key.as_str(), None, "trash"),
    };
    let head = if v.is_delete_marker {
        None
    } else {
        // A version deleted for good since the listing just has no device to show.
        bucket.store.head(src_key, src_version).await.ok().flatten()
    };
    let device = head.as_ref().map(|h| {
        h.meta
            .device
            .clone()
            .unwrap_or_else(|| OTHER_CLIENT.to_owned())
    });
    let conflict_copy = head
        .as_ref()
        .and_then(|h| h.meta.blake3)
        .and_then(|hash| copies.iter().find(|(_, h)| *h == hash))
        .map(|(p, _)| p.to_string());
    Ok(VersionInfo {
        version_id: v.id(),
        time: rfc3339_ns(v.shown_ns),
        time_ns: v.shown_ns,
        size: v.size,
        device,
        current: v.is_current,
        delete_marker: v.is_delete_marker,
        source,
        etag: v.etag.clone(),
        conflict_copy,
    })
}

/// A file under a folder that has old versions or was deleted.
#[derive(Debug, Clone, Serialize)]
pub struct DirEntry {
    pub path: String,
    /// Contents kept (versions or trash copies), the current one included.
    pub versions: usize,
    pub delete_markers: usize,
    pub deleted: bool,
    /// RFC 3339 of the newest version or delete marker.
    pub last_change: String,
    /// The same time in Unix nanoseconds (for local-time output).
    #[serde(skip)]
    pub last_change_ns: i64,
    /// Bytes of the contents that are not current.
    pub noncurrent_bytes: u64,
}

/// The files under `dir` that have more than their current content, or were deleted.
pub async fn dir_history(
    bucket: &PairRemote,
    dir: Option<&RelPath>,
    deleted_only: bool,
) -> Result<Vec<DirEntry>> {
    let files = versions_under(bucket, dir).await?;
    let mut out = Vec::new();
    for (path, vs) in files {
        let deleted = is_deleted(&vs);
        let kept = vs.iter().filter(|v| v.exists()).count();
        let interesting = if deleted_only {
            deleted
        } else {
            deleted || vs.len() > 1
        };
        if !interesting || kept == 0 {
            continue;
        }
        out.push(DirEntry {
            path: path.to_string(),
            versions: kept,
            delete_markers: vs.len() - kept,
            deleted,
            last_change: rfc3339_ns(vs.iter().map(|v| v.shown_ns).max().unwrap_or(0)),
            last_change_ns: vs.iter().map(|v| v.shown_ns).max().unwrap_or(0),
            noncurrent_bytes: noncurrent_bytes(&vs),
        });
    }
    Ok(out)
}

fn noncurrent_bytes(vs: &[Version]) -> u64 {
    vs.iter()
        .filter(|v| v.exists() && !v.is_current)
        .map(|v| v.size)
        .sum()
}

/// Space taken by contents that are not current, per folder.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SizeReport {
    /// By folder (`.` for the top), largest first.
    pub folders: Vec<FolderSize>,
    pub noncurrent_bytes: u64,
    pub noncurrent_versions: u64,
    pub delete_markers: u64,
    /// `versions` or `trash`.
    pub kept_as: &'static str,
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct FolderSize {
    pub folder: String,
    pub noncurrent_bytes: u64,
    pub noncurrent_versions: u64,
    pub delete_markers: u64,
}

/// Sums the noncurrent versions (or trash copies) under `dir` by each file's folder.
pub async fn size_report(bucket: &PairRemote, dir: Option<&RelPath>) -> Result<SizeReport> {
    let files = versions_under(bucket, dir).await?;
    let mut by: BTreeMap<String, FolderSize> = BTreeMap::new();
    for (path, vs) in files {
        let folder = path.parent().unwrap_or(".").to_owned();
        let e = by.entry(folder.clone()).or_insert_with(|| FolderSize {
            folder,
            ..FolderSize::default()
        });
        for v in &vs {
            if v.is_delete_marker {
                e.delete_markers += 1;
            } else if !v.is_current {
                e.noncurrent_versions += 1;
                e.noncurrent_bytes += v.size;
            }
        }
    }
    let mut folders: Vec<FolderSize> = by
        .into_values()
        .filter(|f| f.noncurrent_versions + f.delete_markers > 0)
        .collect();
    folders.sort_by(|a, b| {
        b.noncurrent_bytes
            .cmp(&a.noncurrent_bytes)
            .then(a.folder.cmp(&b.folder))
    });
    Ok(SizeReport {
        noncurrent_bytes: folders.iter().map(|f| f.noncurrent_bytes).sum(),
        noncurrent_versions: folders.iter().map(|f| f.noncurrent_versions).sum(),
        delete_markers: folders.iter().map(|f| f.delete_markers).sum(),
        folders,
        kept_as: if bucket.versioned() {
            "versions"
        } else {
            "trash"
        },
    })
}
