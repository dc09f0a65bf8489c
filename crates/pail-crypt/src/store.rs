//! Where a device keeps a pair's key between runs: the OS keyring (Secret Service on Linux,
//! the Keychain on macOS) when it answers, else a file only the user can read in the state
//! directory. A missing keyring is not an error: [`Fallback`] uses the file instead.

mod file;
#[cfg(any(target_os = "linux", target_os = "macos"))]
mod keyring;

use std::path::PathBuf;

pub use file::FileStore;
#[cfg(any(target_os = "linux", target_os = "macos"))]
pub use keyring::KeyringStore;

use crate::key::{KeyError, PrefixKey};

/// A key store that failed. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error(
        "the key file {path} can be read by other users (mode {mode:o}): run `chmod 600 {path}` \
         if you trust its content, or delete it and join again with the passphrase"
    )]
    Permissions { path: PathBuf, mode: u32 },
    #[error("the key file {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error(transparent)]
    Damaged(#[from] KeyError),
    #[error("the OS keyring ({store}): {detail}")]
    Keyring { store: String, detail: String },
    #[error("{0:?} is not a pair id (letters, digits, `.`, `_` and `-` only)")]
    BadPairId(String),
}

/// Load, store and delete the identity of a pair, by the pair's id (its state id).
pub trait KeyStore: Send + Sync {
    /// The pair's key, `None` if this store has none.
    fn load(&self, pair: &str) -> Result<Option<PrefixKey>, StoreError>;
    /// Keep the pair's key, replacing any.
    fn store(&self, pair: &str, key: &PrefixKey) -> Result<(), StoreError>;
    /// Forget the pair's key; not an error if there was none.
    fn delete(&self, pair: &str) -> Result<(), StoreError>;
    /// Where keys go, for messages ("the OS keyring (Secret Service)", "~/.local/state/...").
    fn describe(&self) -> String;
}

fn check_pair_id(pair: &str) -> Result<(), StoreError> {
    let ok = !pair.is_empty()
        && !pair.starts_with('.')
        && pair
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b));
    if ok {
        Ok(())
    } else {
        Err(StoreError::BadPairId(pair.to_owned()))
    }
}

/// The keyring if it answers, else the file. Loading looks in both (a key stored while the
/// keyring was away is found in the file); storing goes to the keyring and removes a file
/// copy, or to the file when the keyring fails.
pub struct Fallback {
    pub keyring: Option<Box<dyn KeyStore>>,
    pub file: FileStore,
}

impl std::fmt::Debug for Fallback {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Fallback({})", self.describe())
    }
}

impl Fallback {
    /// The platform's keyring (if this build has one) over the file store in `state_dir`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        #[cfg(any(target_os = "linux", target_os = "macos"))]
        let keyring = Some(Box::new(KeyringStore::new()) as Box<dyn KeyStore>);
        #[cfg(not(any(target_os = "linux", target_os = "macos")))]
        let keyring = None;
        Fallback {
            keyring,
            file: FileStore::new(state_dir),
        }
    }

    /// Only the file store (`PAIL_NO_KEYRING`, tests, headless machines).
    pub fn file_only(state_dir: impl Into<PathBuf>) -> Self {
        Fallback {
            keyring: None,
            file: FileStore::new(state_dir),
        }
    }
}

impl KeyStore for Fallback {
    fn load(&self, pair: &str) -> Result<Option<PrefixKey>, StoreError> {
        if let Some(k) = &self.keyring {
            match k.load(pair) {
                Ok(Some(key)) => return Ok(Some(key)),
                // A damaged entry is an answer: say so rather than look elsewhere.
                Err(e @ StoreError::Damaged(_)) => return Err(e),
                Ok(None) | Err(_) => {}
            }
        }
        self.file.load(pair)
    }

    fn store(&self, pair: &str, key: &PrefixKey) -> Result<(), StoreError> {
        if let Some(k) = &self.keyring
            && k.store(pair, key).is_ok()
        {
            // Do not leave a second, stale copy behind.
            self.file.delete(pair)?;
            return Ok(());
        }
        self.file.store(pair, key)
    }

    fn delete(&self, pair: &str) -> Result<(), StoreError> {
        let from_keyring = match &self.keyring {
            Some(k) => k.delete(pair),
            None => Ok(()),
        };
        self.file.delete(pair)?;
        // An unreachable keyring holds nothing to delete that we could reach.
        match from_keyring {
            Err(StoreError::Keyring { .. }) | Ok(()) => Ok(()),
            Err(e) => Err(e),
        }
    }

    fn describe(&self) -> String {
        match &self.keyring {
            Some(k) => format!("{}, else {}", k.describe(), self.file.describe()),
            None => self.file.describe(),
        }
    }
}
