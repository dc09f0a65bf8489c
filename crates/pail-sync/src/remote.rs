//! A pair's one handle on its bucket: the store, where the pair's files live in it, what the
//! server can do, and who this device is. Made by one [`PairRemote::connect`] per command
//! through an injected [`StoreFactory`], shared by the engine ([`crate::PairCtx`] holds one)
//! and by the commands that read or bring back versions, which need no pair lock.

use std::sync::Arc;

use anyhow::{Context, Result};
use pail_core::{NameError, RelPath, RemotePrefix};
use pail_index::Index;
use pail_s3::{Capabilities, ObjectStore, RetryingStore, StoreFactory, Versioning};

use crate::config::PairConfig;
use crate::ctx::{meta, open_index, s3_config};
use crate::error::SyncError;

/// The pair's store as every command uses it: made by `factory`, with transient failures
/// retried (the one place [`RetryingStore`] is applied).
pub async fn connect_store(
    cfg: &PairConfig,
    factory: &dyn StoreFactory,
) -> Result<Arc<dyn ObjectStore>> {
    Ok(RetryingStore::wrap(
        factory.connect(&s3_config(cfg)?).await?,
    ))
}

/// The capabilities recorded in the pair's index, or, for a pair never probed, probed now
/// and recorded.
pub(crate) async fn recorded_caps(
    cfg: &PairConfig,
    store: &dyn ObjectStore,
    index: &Index,
) -> Result<Capabilities> {
    if let Some(json) = index.meta_get(meta::CAPABILITIES)? {
        return serde_json::from_str(&json).context("stored capabilities are unreadable");
    }
    let (_, prefix) = cfg.bucket_and_prefix()?;
    let caps = pail_s3::probe(store, &prefix, &cfg.device).await?;
    index.meta_set(meta::CAPABILITIES, &serde_json::to_string(&caps)?)?;
    Ok(caps)
}

/// The remote side of a pair.
#[derive(Debug, Clone)]
pub struct PairRemote {
    /// The bucket's store.
    pub store: Arc<dyn ObjectStore>,
    /// The bucket's name (for messages and `s3://` URLs).
    pub bucket: String,
    /// Where the pair's files live in the bucket.
    pub prefix: RemotePrefix,
    /// What the server can do (probed at init, again when the daemon starts).
    pub caps: Capabilities,
    /// This device's name, written as `pail-device` on what it uploads.
    pub device: String,
    /// Transfers (and server-side copies) in flight at most.
    pub transfers: usize,
    /// The prefix's key on an end-to-end encrypted pair (`crate::crypt`), checked against the
    /// bucket's marker when the command connected.
    pub key: Option<Arc<pail_crypt::PrefixKey>>,
}

impl PairRemote {
    /// Connects to the pair's bucket through `factory`. The capabilities come from the index
    /// (probed at init); a pair never probed is probed now and the result recorded. Takes no
    /// pair lock: restoring while the daemon runs is allowed.
    pub async fn connect(cfg: &PairConfig, factory: &dyn StoreFactory) -> Result<PairRemote> {
        let mut remote = PairRemote::connect_unchecked(cfg, factory).await?;
        remote.check_encryption(cfg).await?;
        Ok(remote)
    }

    /// [`PairRemote::connect`] without the encryption check, and so without the key: for
    /// `pail key passphrase`, which repairs the marker that check reads (damaged or gone).
    pub async fn connect_unchecked(
        cfg: &PairConfig,
        factory: &dyn StoreFactory,
    ) -> Result<PairRemote> {
        let store = connect_store(cfg, factory).await?;
        let caps = recorded_caps(cfg, store.as_ref(), &open_index(cfg)?).await?;
        PairRemote::new(cfg, store, caps)
    }

    /// Checks the prefix's encryption against the pair ([`crate::crypt::check_pair`]) and
    /// takes on its key and, where names are encrypted, its name cipher.
    pub(crate) async fn check_encryption(&mut self, cfg: &PairConfig) -> Result<()> {
        if let Some(k) = crate::crypt::check_pair(cfg, self.store.as_ref(), &self.prefix).await? {
            self.prefix = k.prefix(self.prefix.clone());
            self.key = Some(k.key);
        }
        Ok(())
    }

    /// A handle from parts already at hand (tests, `init`).
    pub fn new(
        cfg: &PairConfig,
        store: Arc<dyn ObjectStore>,
        caps: Capabilities,
    ) -> Result<PairRemote> {
        let (bucket, prefix) = cfg.bucket_and_prefix()?;
        Ok(PairRemote {
            store,
            bucket,
            prefix,
            caps,
            device: cfg.device.clone(),
            transfers: cfg.transfers.clamp(1, 64),
            key: None,
        })
    }

    /// Probes the bucket again (the server may have changed since init).
    pub async fn reprobe(&mut self) -> Result<()> {
        self.caps = pail_s3::probe(self.store.as_ref(), &self.prefix, &self.device).await?;
        Ok(())
    }

    /// How this pair's content hashes are made: keyed on an encrypted pair.
    pub fn hashing(&self) -> pail_index::Hashing {
        match &self.key {
            Some(k) => pail_index::Hashing::keyed(k.content_hasher()),
            None => pail_index::Hashing::plain(),
        }
    }

    /// A listed or HEADed object's size as its file's size (see [`crate::crypt::plain_size`]).
    pub fn plain_size(&self, object_size: u64) -> u64 {
        crate::crypt::plain_size(self.key.as_deref(), object_size)
    }

    /// Whether the bucket keeps old versions (else pail keeps trash copies).
    pub fn versioned(&self) -> bool {
        self.caps.versioning == Versioning::Enabled
    }

    /// A version id worth recording: Garage returns ids although it keeps no versions, and
    /// such an id must never be used to address an object.
    pub fn version_id(&self, v: Option<String>) -> Option<String> {
        v.filter(|_| self.caps.versioning.keeps_versions())
    }

    /// The key of a path of the folder, or why it has none ([`SyncError::Key`]).
    pub fn key(&self, path: &RelPath) -> Result<String, SyncError> {
        SyncError::key_for(&self.prefix, path)
    }

    /// `s3://bucket/key` of a path, for messages.
    pub fn url(&self, path: &RelPath) -> String {
        format!(
            "s3://{}/{}",
            self.bucket,
            self.prefix.key_for(path).unwrap_or_default()
        )
    }

    /// The key prefix of everything under `dir` (the whole pair for `None`).
    pub fn dir_prefix(&self, dir: Option<&RelPath>) -> Result<String, NameError> {
        match dir {
            Some(d) => self.prefix.dir_key(d),
            None => Ok(self.prefix.list_prefix()),
        }
    }

    /// The key prefix of the trash copies of everything under `dir` (all for `None`).
    pub fn trash_prefix(&self, dir: Option<&RelPath>) -> Result<String, NameError> {
        let rel = match dir {
            Some(d) => self.prefix.rel_key(d)?,
            None => String::new(),
        };
        Ok(pail_core::layout::trash_dir(&self.prefix, &rel))
    }
}
