//! What `history`, `restore`, `undelete` and `conflicts` share: finding the pair and the
//! relative path of a PATH argument, and bringing a change made in the bucket to the folder.

use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result, bail};
use pail_core::RelPath;
use pail_sync::config::{Config, PairConfig};
use pail_sync::ctx::{index_path, pair_locked};
use pail_sync::journal::{Entry, append_entry};
use pail_sync::{PairCtx, PairRemote, SyncOptions, SyncResult, sync_pair};

use crate::versions::versions_of;

/// A PATH argument: its pair, and the path inside the pair's folder (`None`: the folder).
#[derive(Debug, Clone)]
pub struct Target {
    /// The pair whose folder holds the path.
    pub pair: PairConfig,
    /// The path inside the folder; `None` for the folder itself.
    pub rel: Option<RelPath>,
    /// The path as an absolute path on this machine.
    pub abs: PathBuf,
}

impl Target {
    /// The path as shown to the user (`.` for the folder itself).
    pub fn shown(&self) -> String {
        self.rel.as_ref().map_or(".".to_owned(), |r| r.to_string())
    }
}

/// `..` and `.` removed without touching the disk (the file may be deleted).
fn lexical(p: &Path) -> PathBuf {
    let mut out = PathBuf::new();
    for c in p.components() {
        match c {
            Component::ParentDir => {
                out.pop();
            }
            Component::CurDir => {}
            c => out.push(c),
        }
    }
    out
}

/// Finds the pair whose folder holds `path` (absolute or relative to the current directory).
/// A folder given through a symlink is found through its real path.
pub fn target(config_file: &Path, path: &Path) -> Result<Target> {
    let config = Config::load(config_file)?;
    config.select(None)?;
    let abs = lexical(&std::path::absolute(path)?);
    let mut candidates = vec![abs.clone()];
    // The longest existing ancestor, resolved, plus the rest as given.
    if let Some(real) = abs.ancestors().find_map(|a| {
        let rest = abs.strip_prefix(a).ok()?;
        Some(a.canonicalize().ok()?.join(rest))
    }) {
        candidates.push(real);
    }
    for abs in candidates {
        let Some(pair) = config.pair_for_path(&abs) else {
            continue;
        };
        let rest = abs.strip_prefix(&pair.folder)?;
        let parts: Vec<&str> = rest
            .components()
            .map(|c| c.as_os_str().to_str())
            .collect::<Option<_>>()
            .with_context(|| format!("{} is not valid UTF-8", abs.display()))?;
        let rel = if parts.is_empty() {
            None
        } else {
            Some(
                RelPath::new(&parts.join("/"))
                    .with_context(|| format!("{} cannot be a synced path", abs.display()))?,
            )
        };
        return Ok(Target {
            pair: pair.clone(),
            rel,
            abs,
        });
    }
    bail!(
        "{} is not inside a synced folder (`pail status` lists them)",
        path.display()
    )
}

/// Whether `t` names a folder: the pair itself, a local directory, or a path the bucket has
/// no versions of as a file but something under it (a deleted folder). A path that names
/// nothing, here or in the bucket, now or before, is an error that says so: a mistyped path
/// must not read as an empty folder.
pub async fn is_folder(remote: &PairRemote, t: &Target) -> Result<bool> {
    let Some(rel) = &t.rel else { return Ok(true) };
    if t.abs.is_dir() {
        return Ok(true);
    }
    if t.abs.exists() {
        return Ok(false);
    }
    if !versions_of(remote, rel).await?.is_empty() {
        return Ok(false);
    }
    if anything_under(remote, rel).await? {
        return Ok(true);
    }
    bail!(
        "{rel}: no such file or folder, neither in {} nor in {} (now or in any kept version); check the path (`pail history {}` lists what the folder holds)",
        t.pair.folder.display(),
        t.pair.remote,
        t.pair.folder.display()
    )
}

/// Whether the bucket holds anything (a version, a delete marker, a trash copy) under the
/// folder `dir`: one listing page or two.
async fn anything_under(remote: &PairRemote, dir: &RelPath) -> Result<bool> {
    let prefix = remote
        .dir_prefix(Some(dir))
        .with_context(|| format!("{dir}: no key"))?;
    let is_file = |key: &str| matches!(remote.prefix.path_for(key), Ok(Some(_)));
    if remote.caps.versioning != pail_s3::Versioning::Unsupported {
        match remote.store.list_versions_page(&prefix, None, None).await {
            Ok(page) => return Ok(page.versions.iter().any(|v| is_file(&v.key))),
            Err(pail_s3::StoreError::NotImplemented { .. }) => {}
            Err(e) => return Err(e).with_context(|| format!("listing {prefix}")),
        }
    }
    let trash = remote
        .trash_prefix(Some(dir))
        .with_context(|| format!("{dir}: no key"))?;
    for p in [prefix, trash] {
        let page = remote
            .store
            .list_page(&p, None, None)
            .await
            .with_context(|| format!("listing {p}"))?;
        if !page.objects.is_empty() {
            return Ok(true);
        }
    }
    Ok(false)
}

/// Notes a restore or undelete in the pair's activity log (`pail log`). Best effort: the
/// change itself is in the bucket whatever happens here.
pub fn note_activity(pair: &PairConfig, kind: &str, path: &str, detail: String) {
    let entry = pail_index::Activity {
        at: time::OffsetDateTime::now_utc(),
        kind: kind.into(),
        path: path.into(),
        size: None,
        device: Some(pair.device.clone()),
        detail: Some(detail),
    };
    let noted = pail_sync::ctx::open_index(pair).and_then(|ix| Ok(ix.add_activity(&[entry])?));
    if let Err(e) = noted {
        tracing::warn!(error = %format!("{e:#}"), "cannot record the activity log");
    }
}

/// How a change made in the bucket (a restore, an undelete) reached the folder.
#[derive(Debug)]
pub enum FolderFollows {
    /// A running pail process (the daemon) holds the pair: it brings the change itself.
    DaemonSyncs,
    /// This process synced the folder.
    Synced(SyncResult),
}

/// Brings a change made in the bucket outside a sync to the folder: notes it in the change
/// journal (so that every daemon, this device's included, looks), then syncs the pair unless
/// a running pail holds it. The journal note is best effort: its error comes back beside the
/// result, for the caller to mention.
pub async fn bring_to_folder(
    remote: &PairRemote,
    pair: &PairConfig,
    confirm: bool,
) -> Result<(FolderFollows, Option<pail_sync::SyncError>)> {
    let origin = format!("restore.{}", pair.device);
    let noted = append_entry(
        remote.store.as_ref(),
        &remote.prefix,
        &origin,
        &Entry::new("restore", None),
    )
    .await
    .err();
    if pair_locked(&index_path(pair)?) {
        return Ok((FolderFollows::DaemonSyncs, noted));
    }
    let ctx = Arc::new(PairCtx::with_remote(pair, remote.clone())?);
    // A full listing: the change is in the bucket, not in the folder.
    let opts = SyncOptions {
        confirm,
        ..SyncOptions::default()
    };
    Ok((FolderFollows::Synced(sync_pair(&ctx, &opts).await?), noted))
}
