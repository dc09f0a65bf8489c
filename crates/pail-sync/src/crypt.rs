//! The engine's side of end-to-end encryption (issue 15, doc/ENCRYPTION.md): the prefix's
//! marker read and written, the pair's key found in this device's key store, and the check
//! every command makes before it touches the bucket: a prefix that says it is encrypted is
//! never synced without its key (no plaintext beside ciphertext), and an encrypted pair whose
//! marker is gone is not synced either.
//!
//! The check runs when a command connects ([`crate::PairRemote::connect`],
//! [`crate::PairCtx::open_with_index`]): once per process and pair, since the daemon connects
//! once at start. Its result is also kept for the process ([`check_pair`]), so a pair
//! reopened by the same process costs no second GET.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use futures::TryStreamExt;
use pail_core::RemotePrefix;
use pail_core::layout::encryption_marker_key;
use pail_crypt::store::{Fallback, KeyStore, StoreError as KeyStoreError};
use pail_crypt::{EncryptionMarker, MarkerError, NameCipher, NameMode, PrefixKey};
use pail_s3::{ObjectStore, StoreError};

use crate::config::{PairConfig, state_dir};

/// A marker bigger than this is not pail's (the real one is about 1 KiB).
const MAX_MARKER_BYTES: usize = 64 * 1024;

/// Why a pair cannot be synced (or set up) as it stands. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum CryptError {
    #[error(
        "{remote} is end-to-end encrypted (it holds .pail/encryption.toml) but this pair is \
         not set up for it, so pail will not sync it (that would upload plaintext beside \
         ciphertext): run `pail init {folder} {remote} --encrypt` and enter its passphrase"
    )]
    NotAnEncryptedPair { remote: String, folder: String },
    #[error(
        "{remote} is end-to-end encrypted but this device has no key for it in {store}: run \
         `pail init {folder} {remote} --encrypt` and enter its passphrase"
    )]
    NoKey {
        remote: String,
        folder: String,
        store: String,
    },
    #[error(
        "this pair is end-to-end encrypted but {remote} has no .pail/encryption.toml any \
         more, so pail will not sync it: run `pail key passphrase` on a device that has the \
         key (it writes the file again), or restore the object from an older version"
    )]
    MarkerGone { remote: String },
    /// The residue of two first devices at the same moment on a server that ignores
    /// conditional writes (or a key file copied from another pair): this device's key is not
    /// the one the prefix's objects are encrypted to.
    #[error(
        "this device's key of {remote} (in {store}, public key {found}) is not the prefix's \
         (.pail/encryption.toml records {expected}), so pail will not sync it: join again \
         with `pail init {folder} {remote} --encrypt` and the prefix's passphrase"
    )]
    WrongKey {
        remote: String,
        folder: String,
        store: String,
        found: String,
        expected: String,
    },
    #[error(transparent)]
    Marker(#[from] MarkerError),
    #[error(transparent)]
    Key(#[from] pail_crypt::KeyError),
    #[error(transparent)]
    KeyStore(#[from] KeyStoreError),
    #[error("reading {key}: {source}")]
    Read {
        key: String,
        #[source]
        source: StoreError,
    },
    #[error("{key} is larger than any marker pail writes ({size} bytes): it is not pail's")]
    TooLarge { key: String, size: usize },
}

/// This device's key store: the OS keyring, else a 0600 file under the state directory;
/// with `PAIL_NO_KEYRING` set (tests, headless machines), only the file.
pub fn key_store() -> anyhow::Result<Fallback> {
    let dir = state_dir()?;
    Ok(
        if std::env::var_os("PAIL_NO_KEYRING").is_some_and(|v| !v.is_empty()) {
            Fallback::file_only(dir)
        } else {
            Fallback::new(dir)
        },
    )
}

/// `s3://bucket/key` of the marker, for messages and as the name errors give it.
fn marker_name(bucket: &str, prefix: &RemotePrefix) -> String {
    format!("s3://{bucket}/{}", encryption_marker_key(prefix))
}

/// The prefix's marker, `None` if the prefix is not encrypted.
pub async fn read_marker(
    store: &dyn ObjectStore,
    prefix: &RemotePrefix,
) -> Result<Option<EncryptionMarker>, CryptError> {
    Ok(read_marker_tagged(store, prefix).await?.map(|(m, _)| m))
}

/// [`read_marker`] with the ETag of the object read, for a rewrite conditional on it
/// (`pail key passphrase`).
pub async fn read_marker_tagged(
    store: &dyn ObjectStore,
    prefix: &RemotePrefix,
) -> Result<Option<(EncryptionMarker, String)>, CryptError> {
    match read_marker_object(store, prefix).await? {
        None => Ok(None),
        Some(MarkerObject { etag, parsed }) => Ok(Some((parsed?, etag))),
    }
}

/// The marker object as read: its ETag, and what parsing it gave.
#[derive(Debug)]
pub struct MarkerObject {
    pub etag: String,
    /// A marker that does not parse is still an object, with an ETag: `pail key passphrase`
    /// writes it again conditionally on that ETag.
    pub parsed: Result<EncryptionMarker, MarkerError>,
}

/// The marker object, parsed or not; `None` if the prefix has none. Fails only when it
/// cannot be read (or is far too large to be pail's).
pub async fn read_marker_object(
    store: &dyn ObjectStore,
    prefix: &RemotePrefix,
) -> Result<Option<MarkerObject>, CryptError> {
    let key = encryption_marker_key(prefix);
    // A HEAD first: on the common, unencrypted prefix the check is one cheap request, and
    // the GETs a test or a trace counts are the files'.
    match store.head(&key, None).await {
        Ok(Some(h)) if !h.delete_marker => {}
        Ok(_) => return Ok(None),
        Err(source) => return Err(CryptError::Read { key, source }),
    }
    let get = match store.get(&key, None, None).await {
        Ok(g) => g,
        Err(StoreError::NotFound { .. }) => return Ok(None),
        Err(source) => return Err(CryptError::Read { key, source }),
    };
    let etag = get.head.etag.clone();
    let mut body = get.body;
    let mut text = Vec::new();
    while let Some(chunk) = body.try_next().await.map_err(|source| CryptError::Read {
        key: key.clone(),
        source,
    })? {
        text.extend_from_slice(&chunk);
        if text.len() > MAX_MARKER_BYTES {
            return Err(CryptError::TooLarge {
                key,
                size: text.len(),
            });
        }
    }
    let what = marker_name(store.bucket(), prefix);
    let parsed = match String::from_utf8(text) {
        Ok(text) => EncryptionMarker::parse(&text, &what),
        Err(_) => Err(MarkerError::Damaged {
            what,
            detail: "not UTF-8".into(),
        }),
    };
    Ok(Some(MarkerObject { etag, parsed }))
}

/// What an encrypted pair works with: the prefix's key, and how its names are stored (the
/// marker says).
#[derive(Clone, Debug)]
pub struct PairKey {
    pub key: Arc<PrefixKey>,
    pub names: NameMode,
}

impl PairKey {
    /// The prefix as the pair's keys are made: with encrypted names where the marker says so.
    pub fn prefix(&self, prefix: RemotePrefix) -> RemotePrefix {
        match self.names {
            NameMode::Plain => prefix,
            NameMode::AesSiv => prefix.with_names(Arc::new(NameCipher::new(&self.key))),
        }
    }
}

/// Checks the prefix against the pair before any sync: the pair's key when the prefix is
/// encrypted, `None` when neither is. Refuses a marker without an encrypted pair or its key,
/// and an encrypted pair without its marker. Successful answers are kept for the process.
pub async fn check_pair(
    cfg: &PairConfig,
    store: &dyn ObjectStore,
    prefix: &RemotePrefix,
) -> anyhow::Result<Option<PairKey>> {
    static CHECKED: OnceLock<Mutex<HashMap<String, Option<PairKey>>>> = OnceLock::new();
    let id = cfg.state_id();
    let cache = CHECKED.get_or_init(Default::default);
    if let Some(known) = cache.lock().unwrap_or_else(|e| e.into_inner()).get(&id) {
        return Ok(known.clone());
    }
    let marker = read_marker(store, prefix).await?;
    let key = match (marker, cfg.encrypted) {
        (None, false) => None,
        (None, true) => {
            return Err(CryptError::MarkerGone {
                remote: cfg.remote.clone(),
            }
            .into());
        }
        (Some(_), false) => {
            return Err(CryptError::NotAnEncryptedPair {
                remote: cfg.remote.clone(),
                folder: cfg.folder.display().to_string(),
            }
            .into());
        }
        (Some(marker), true) => {
            let keys = key_store()?;
            let Some(key) = keys.load(&id).map_err(CryptError::from)? else {
                return Err(CryptError::NoKey {
                    remote: cfg.remote.clone(),
                    folder: cfg.folder.display().to_string(),
                    store: keys.describe(),
                }
                .into());
            };
            if key.recipient() != marker.recipient.trim() {
                return Err(CryptError::WrongKey {
                    remote: cfg.remote.clone(),
                    folder: cfg.folder.display().to_string(),
                    store: keys.describe(),
                    found: key.recipient(),
                    expected: pail_core::printable(marker.recipient.trim()).into_owned(),
                }
                .into());
            }
            Some(PairKey {
                key: Arc::new(key),
                names: marker.names,
            })
        }
    };
    cache
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .insert(id, key.clone());
    Ok(key)
}

/// The object size of a listing or HEAD as the file's size: on an encrypted pair the
/// plaintext length pail's objects have exactly ([`pail_crypt::plaintext_len`]); an object
/// whose size no plaintext gives (not pail's) keeps its own, and fails when read.
pub fn plain_size(key: Option<&PrefixKey>, object_size: u64) -> u64 {
    match key {
        Some(_) => pail_crypt::plaintext_len(object_size).unwrap_or(object_size),
        None => object_size,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_convert_only_on_encrypted_pairs() {
        let key = PrefixKey::generate();
        for n in [0u64, 1, 65_535, 65_536, 65_537, 10 << 20] {
            let c = pail_crypt::ciphertext_len(n);
            assert_eq!(plain_size(Some(&key), c), n);
            assert_eq!(plain_size(None, c), c);
        }
        // Not pail's object: its own size.
        assert_eq!(plain_size(Some(&key), 5), 5);
    }
}
