//! Everything one folder pair needs at run time: its config, store, index and probed
//! capabilities. Built once per command, shared by the engine and the executor.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use anyhow::{Context, Result};
use pail_core::RelPath;
use pail_index::{Index, root_identity};
use pail_s3::{ObjectStore, S3Config, StoreFactory};

use crate::config::{PairConfig, state_dir};
use crate::error::SyncError;
use crate::remote::PairRemote;
use crate::safe_dir::{SafeError, SafeRoot};

/// Index meta keys.
pub mod meta {
    pub const ROOT_DEV: &str = "root_dev";
    pub const ROOT_INODE: &str = "root_inode";
    pub const CAPABILITIES: &str = "capabilities";
    pub const LAST_FULL_SYNC: &str = "last_full_sync";
    pub const PENDING_UPLOADS: &str = "pending_uploads";
    pub const PENDING_DOWNLOADS: &str = "pending_downloads";
    /// `pail pause`: see `pause.rs`.
    pub const PAUSED: &str = "paused";
    /// Every key the last full listing returned (pail's own `.pail/` keys and ignored ones
    /// included: they cost listing requests too), for the daemon's listing budget.
    pub const LISTED_KEYS: &str = "listed_keys";
}

/// A pair at run time: its config, its remote handle, its index (behind a mutex, for short
/// synchronous uses) and the lock that makes this process the only one working on it.
#[derive(Debug)]
pub struct PairCtx {
    /// The pair as configured.
    pub cfg: PairConfig,
    /// The pair's bucket, prefix, capabilities and store.
    pub remote: PairRemote,
    /// The folder.
    pub root: PathBuf,
    index: Mutex<Index>,
    /// Where the index lives (`None`: an in-memory index), to heal it between passes.
    index_path: Option<PathBuf>,
    /// Held while this process works on the pair: one sync (or daemon) per pair at a time.
    _lock: Option<std::fs::File>,
    /// Transfers in flight (read by the daemon's live status).
    pub progress: crate::progress::Progress,
    /// Upload and download rate limits, shared with the other pairs of the process.
    pub limits: crate::limit::Limits,
    /// The ignore rules of the last full scan, reused by scoped scans (loading them walks
    /// every directory of the folder).
    rules: Mutex<Option<Arc<pail_index::IgnoreRules>>>,
    /// The folder's disk ignores case: remote keys that differ only by case cannot all be
    /// files here (tenet 9).
    pub case_insensitive: bool,
    /// The folder's root directory handle, opened anew by each pass: every local write goes
    /// through it (tenet 13, `safe_dir.rs`).
    folder: Mutex<Option<Arc<SafeRoot>>>,
    /// Listing pages that check new files' keys right before their writes (`new_keys.rs`).
    pub(crate) new_keys: crate::new_keys::NewKeys,
    /// Bases of finished writes not yet in the index ([`PairCtx::record_write`]).
    written: Mutex<Vec<(RelPath, pail_core::Base)>>,
}

/// Finished writes recorded in the index together, in one transaction.
const WRITES_PER_COMMIT: usize = 256;

/// Takes the pair's lock file next to its index, or says who holds it.
pub fn lock_pair(index_path: &Path) -> Result<std::fs::File> {
    let path = index_path.with_file_name("lock");
    if let Some(dir) = path.parent() {
        use std::os::unix::fs::DirBuilderExt;
        // Private, like the index it guards (which would create it the same way).
        std::fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(dir)
            .with_context(|| format!("cannot create {}", dir.display()))?;
    }
    let mut file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open {}", path.display()))?;
    match file.try_lock() {
        Ok(()) => {
            use std::io::{Seek, Write};
            file.set_len(0)?;
            file.seek(std::io::SeekFrom::Start(0))?;
            write!(file, "{}", std::process::id())?;
            Ok(file)
        }
        Err(std::fs::TryLockError::WouldBlock) => {
            let pid = std::fs::read_to_string(&path).unwrap_or_default();
            anyhow::bail!(
                "another pail process (pid {}) is syncing this folder pair; wait for it, or stop it",
                pid.trim()
            )
        }
        Err(std::fs::TryLockError::Error(e)) => {
            Err(e).with_context(|| format!("cannot lock {}", path.display()))
        }
    }
}

/// Whether a pail process holds the pair's lock right now.
pub fn pair_locked(index_path: &Path) -> bool {
    let path = index_path.with_file_name("lock");
    match std::fs::File::open(&path) {
        Ok(f) => matches!(f.try_lock_shared(), Err(std::fs::TryLockError::WouldBlock)),
        Err(_) => false,
    }
}

/// Where a pair's index lives.
pub fn index_path(cfg: &PairConfig) -> Result<PathBuf> {
    Ok(state_dir()?
        .join("pairs")
        .join(cfg.state_id())
        .join("index.db"))
}

/// The S3 connection settings of a pair.
pub fn s3_config(cfg: &PairConfig) -> Result<S3Config> {
    let (bucket, _) = cfg.bucket_and_prefix()?;
    Ok(S3Config {
        bucket,
        endpoint: cfg.endpoint.clone(),
        region: cfg.region.clone(),
        profile: cfg.profile.clone(),
        force_path_style: None,
        credentials: None,
    })
}

/// Opens the index of a configured pair (no network). A damaged index is set aside and
/// rebuilt here when no other pail process holds the pair; while one does, it is marked for
/// that process to heal before its next pass.
pub fn open_index(cfg: &PairConfig) -> Result<Index> {
    let path = index_path(cfg)?;
    let opened = Index::open(&path);
    let marked = pail_index::damaged_marker(&path).exists();
    let damage = match opened {
        Ok(ix) if !marked => return Ok(ix),
        Ok(_) => "marked damaged by a sync".to_owned(),
        Err(e) if e.is_damage() => e.to_string(),
        Err(e) => return Err(open_error(cfg, &path, e)),
    };
    match lock_pair(&path) {
        Ok(_lock) => open_healing(cfg, &path),
        Err(busy) => {
            if !marked && let Err(e) = pail_index::mark_damaged(&path, &damage) {
                tracing::warn!(db = %path.display(), error = %e, "cannot mark the index damaged");
            }
            anyhow::bail!(
                "the index {} of {} is damaged ({damage}); it is set aside and rebuilt before the next pass of the pail process syncing this pair ({busy:#})",
                path.display(),
                cfg.folder.display()
            )
        }
    }
}

/// Opens the index at `path` checked, healing a damaged one; the caller holds the pair's lock.
fn open_healing(cfg: &PairConfig, path: &Path) -> Result<Index> {
    match Index::open_healing(path, time::OffsetDateTime::now_utc()) {
        // pail-index logs the heal; status and the activity log show it.
        Ok((ix, _healed)) => Ok(ix),
        Err(e) => Err(open_error(cfg, path, e)),
    }
}

fn open_error(cfg: &PairConfig, path: &Path, e: pail_index::IndexError) -> anyhow::Error {
    anyhow::Error::new(SyncError::from_index(path, e))
        .context(format!("cannot open the index of {}", cfg.folder.display()))
}

impl PairCtx {
    /// Connects to the pair's bucket through `factory`, opens its index and takes the pair's
    /// lock: one connection for the whole command.
    pub async fn open(cfg: &PairConfig, factory: &dyn StoreFactory) -> Result<PairCtx> {
        PairCtx::with_remote(cfg, PairRemote::connect(cfg, factory).await?)
    }

    /// The pair's context over a remote handle already made (a command that read versions
    /// first, then syncs).
    pub fn with_remote(cfg: &PairConfig, remote: PairRemote) -> Result<PairCtx> {
        let path = index_path(cfg)?;
        // The lock first: only its holder may set a damaged index aside.
        let lock = lock_pair(&path)?;
        let index = open_healing(cfg, &path)?;
        PairCtx::assemble(cfg, remote, index, Some(lock))
    }

    /// As `open`, with the store and the index given (tests, tools). The capabilities come
    /// from the index; a pair never probed is probed now.
    pub async fn open_with_index(
        cfg: &PairConfig,
        store: Arc<dyn ObjectStore>,
        index: Index,
    ) -> Result<PairCtx> {
        let caps = crate::remote::recorded_caps(cfg, store.as_ref(), &index).await?;
        let lock = match index.path() {
            p if p == Path::new(":memory:") => None,
            p => Some(lock_pair(p)?),
        };
        let mut remote = PairRemote::new(cfg, store, caps)?;
        remote.check_encryption(cfg).await?;
        PairCtx::assemble(cfg, remote, index, lock)
    }

    fn assemble(
        cfg: &PairConfig,
        remote: PairRemote,
        index: Index,
        lock: Option<std::fs::File>,
    ) -> Result<PairCtx> {
        let index_path = lock.as_ref().map(|_| index.path().to_owned());
        let case_insensitive = cfg.case_insensitive.unwrap_or_else(|| {
            // A folder that is missing is a safety stop later; assume the common case here.
            pail_index::folder_ignores_case(&cfg.folder).unwrap_or(false)
        });
        Ok(PairCtx {
            case_insensitive,
            cfg: cfg.clone(),
            remote,
            root: cfg.folder.clone(),
            index: Mutex::new(index),
            index_path,
            _lock: lock,
            progress: Default::default(),
            limits: Default::default(),
            rules: Mutex::default(),
            folder: Mutex::default(),
            new_keys: Default::default(),
            written: Mutex::default(),
        })
    }

    /// Records a finished write as its path's base, with others in one transaction (one
    /// commit per file was a tenth of the client's CPU on an initial upload of small files,
    /// issue 14). The executor commits what is left at the end of each phase
    /// ([`PairCtx::commit_writes`]). A write whose record dies with the process is found
    /// again by the next pass: its pending note went into the index before the write started,
    /// and the object is adopted as this device's own (`Index::adopt_own_uploads`).
    pub(crate) fn record_write(
        &self,
        path: &RelPath,
        base: pail_core::Base,
    ) -> Result<(), pail_index::IndexError> {
        let full = {
            let mut written = self.written.lock().unwrap_or_else(|e| e.into_inner());
            written.push((path.clone(), base));
            written.len() >= WRITES_PER_COMMIT
        };
        if full { self.commit_writes() } else { Ok(()) }
    }

    /// Forgets records a stopped execution left behind (a task that finished after the index
    /// failed): committed later, they could undo a newer base. The next pass adopts those
    /// writes anyway (`Index::adopt_own_uploads`).
    pub(crate) fn forget_uncommitted_writes(&self) {
        let left = self.take_writes();
        if !left.is_empty() {
            tracing::info!(
                writes = left.len(),
                "records of a stopped execution left to adoption"
            );
        }
    }

    /// Commits the writes [`PairCtx::record_write`] holds.
    pub(crate) fn commit_writes(&self) -> Result<(), pail_index::IndexError> {
        let batch = self.take_writes();
        if batch.is_empty() {
            return Ok(());
        }
        self.db().set_bases(batch.iter().map(|(p, b)| (p, b)))
    }

    fn take_writes(&self) -> Vec<(RelPath, pail_core::Base)> {
        std::mem::take(&mut *self.written.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// The ignore rules kept from the last full scan, if any.
    pub fn cached_rules(&self) -> Option<Arc<pail_index::IgnoreRules>> {
        self.rules.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Loads the ignore rules from the folder and keeps them for scoped scans.
    pub fn load_rules(&self) -> Result<Arc<pail_index::IgnoreRules>, pail_index::IndexError> {
        let rules = Arc::new(pail_index::IgnoreRules::load(&self.root)?);
        *self.rules.lock().unwrap_or_else(|e| e.into_inner()) = Some(rules.clone());
        Ok(rules)
    }

    /// Probes the bucket again and records the result (done at init and on every start).
    pub async fn reprobe(&mut self) -> Result<()> {
        self.remote.reprobe().await?;
        self.db().meta_set(
            meta::CAPABILITIES,
            &serde_json::to_string(&self.remote.caps)?,
        )?;
        Ok(())
    }

    /// The index, locked for a short synchronous use. Never hold it across an await.
    pub fn db(&self) -> MutexGuard<'_, Index> {
        self.index.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Where a path of the folder is on this machine.
    pub fn abs(&self, path: &RelPath) -> PathBuf {
        self.root.join(path.as_str())
    }

    /// Records the folder root's identity, which later passes compare to detect an unmounted
    /// or replaced folder.
    pub fn record_root_identity(&self) -> Result<(), SyncError> {
        let id = root_identity(&self.root).map_err(|source| SyncError::Local {
            path: self.root.clone(),
            source,
        })?;
        let db = self.db();
        db.meta_set(meta::ROOT_DEV, &id.dev.to_string())?;
        db.meta_set(meta::ROOT_INODE, &id.inode.to_string())?;
        Ok(())
    }

    /// The folder's root handle: the one this pass opened, else opened now.
    pub fn folder(&self) -> Result<Arc<SafeRoot>, SafeError> {
        let mut folder = self.folder.lock().expect("folder lock poisoned");
        if let Some(f) = &*folder {
            return Ok(f.clone());
        }
        let f = Arc::new(SafeRoot::open(&self.root)?);
        *folder = Some(f.clone());
        Ok(f)
    }

    /// Opens the folder's root anew (at the start of a pass, once the root is checked to be
    /// the folder synced before).
    pub fn reopen_folder(&self) -> Result<Arc<SafeRoot>, SafeError> {
        let f = Arc::new(SafeRoot::open(&self.root)?);
        *self.folder.lock().expect("folder lock poisoned") = Some(f.clone());
        Ok(f)
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Where the index lives (`:memory:` for an in-memory one).
    pub fn index_file(&self) -> PathBuf {
        self.index_path
            .clone()
            .unwrap_or_else(|| PathBuf::from(":memory:"))
    }

    /// Before a pass: sets the index aside and rebuilds it if a pass found it damaged (this
    /// process holds the pair's lock, so nothing else has it open). Never during a pass.
    pub fn heal_if_marked(&self) -> Result<Option<pail_index::Healed>, SyncError> {
        let Some(path) = &self.index_path else {
            return Ok(None);
        };
        let mut db = self.db();
        // A heal that failed before left the in-memory stand-in: try again.
        if db.path() == path && !pail_index::damaged_marker(path).exists() {
            return Ok(None);
        }
        // The damaged connection must be closed before its files move: closing the last
        // connection removes the WAL by name.
        *db = Index::open_in_memory()?;
        let (index, healed) = Index::open_healing(path, time::OffsetDateTime::now_utc())
            .map_err(|e| SyncError::from_index(path, e))?;
        *db = index;
        Ok(healed)
    }
}
