//! `pail status`: what the index knows about each pair (the daemon issue adds live data from
//! a running `pail run`). The JSON shape is the CLI contract's.

use anyhow::Result;
use pail_index::SyncState;
use serde::Serialize;

use crate::config::PairConfig;
use crate::ctx::{meta, open_index};

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct StatusReport {
    pub pairs: Vec<PairStatus>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct ErrorEntry {
    pub path: String,
    pub message: String,
    pub at: String,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Bucket {
    pub versioning: Option<String>,
    pub conditional_writes: Option<bool>,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct Skipped {
    pub path: String,
    pub reason: String,
}

/// The index was found damaged, set aside and rebuilt (shown until the first full sync after
/// the rebuilding one; the activity log keeps it).
#[derive(Debug, Serialize, serde::Deserialize)]
pub struct IndexRebuilt {
    /// When (RFC 3339).
    pub at: String,
    /// Where the damaged index is kept.
    pub kept_at: String,
    /// What was wrong with it.
    pub reason: String,
}

#[derive(Debug, Serialize, serde::Deserialize)]
pub struct PairStatus {
    pub folder: String,
    pub remote: String,
    pub device: String,
    /// idle, syncing, paused, offline (the bucket cannot be reached), safety_stop, error (or
    /// never_synced).
    pub state: String,
    pub state_reason: Option<String>,
    /// Whether a daemon reported this state live (false: read from the index).
    pub live: bool,
    pub last_full_sync: Option<String>,
    pub synced_files: u64,
    pub pending_uploads: u64,
    pub pending_downloads: u64,
    pub in_flight: Vec<crate::progress::InFlight>,
    /// Totals of the sync in progress (daemon only, while it syncs): files and bytes done of
    /// the total, and when it started.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub progress: Option<crate::progress::Totals>,
    /// How local changes are noticed (daemon only): the watcher, or periodic scans and why.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watcher: Option<String>,
    /// How remote changes are heard (daemon only): journal polls and full listings, and
    /// how often.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote_changes: Option<String>,
    /// `pail pause`: whether the pair is paused, and until when (RFC 3339; null: until
    /// `pail resume`).
    #[serde(default)]
    pub paused: bool,
    #[serde(default)]
    pub paused_until: Option<String>,
    pub conflicts: u64,
    pub errors: Vec<ErrorEntry>,
    pub skipped: Vec<Skipped>,
    pub bucket: Bucket,
    /// The index was damaged and rebuilt (null otherwise).
    #[serde(default)]
    pub index_rebuilt: Option<IndexRebuilt>,
}

/// Reads a pair's status from its index.
pub fn pair_status(cfg: &PairConfig) -> Result<PairStatus> {
    let db = open_index(cfg)?;
    let get = |k: &str| db.meta_get(k);
    let caps: Option<pail_s3::Capabilities> =
        get(meta::CAPABILITIES)?.and_then(|j| serde_json::from_str(&j).ok());
    let last = get(meta::LAST_FULL_SYNC)?;
    let (mut state, mut reason) = match db.state()? {
        Some((s, r)) => (s.as_str().to_owned(), r),
        None => ("never_synced".to_owned(), None),
    };
    // A "syncing" state with no process behind it is what a killed sync leaves.
    if state == SyncState::Syncing.as_str()
        && !crate::ctx::pair_locked(&crate::ctx::index_path(cfg)?)
    {
        state = SyncState::Error.as_str().into();
        reason = Some("the last sync was interrupted before it finished; run `pail sync`".into());
    }
    let pause = crate::pause::read(&db, std::time::SystemTime::now())?;
    if pause.is_some() && state != SyncState::Syncing.as_str() {
        state = "paused".into();
    }
    let num = |k: &str| -> Result<u64> { Ok(get(k)?.and_then(|v| v.parse().ok()).unwrap_or(0)) };
    Ok(PairStatus {
        folder: cfg.folder.display().to_string(),
        remote: cfg.remote.clone(),
        device: cfg.device.clone(),
        state,
        state_reason: reason,
        live: false,
        last_full_sync: last,
        synced_files: db.base_count()?,
        pending_uploads: num(meta::PENDING_UPLOADS)?,
        pending_downloads: num(meta::PENDING_DOWNLOADS)?,
        in_flight: Vec::new(),
        progress: None,
        watcher: None,
        remote_changes: None,
        paused: pause.is_some(),
        paused_until: pause
            .and_then(|p| p.ends())
            .map(|t| crate::download::rfc3339(time::OffsetDateTime::from(t))),
        conflicts: db.conflict_count()?,
        errors: db
            .recent_errors(20)?
            .into_iter()
            .map(|e| ErrorEntry {
                path: e.path.unwrap_or_default(),
                message: e.message,
                at: crate::download::rfc3339(e.at),
            })
            .collect(),
        skipped: db
            .list_skipped()?
            .into_iter()
            .map(|(path, reason)| Skipped { path, reason })
            .collect(),
        index_rebuilt: db.heal_notice()?.map(|h| IndexRebuilt {
            at: crate::download::rfc3339(h.at),
            kept_at: h.kept_at.display().to_string(),
            reason: h.reason,
        }),
        bucket: Bucket {
            versioning: caps
                .as_ref()
                .map(|c| format!("{:?}", c.versioning).to_lowercase()),
            conditional_writes: caps.as_ref().map(|c| c.conditional_writes),
        },
    })
}
