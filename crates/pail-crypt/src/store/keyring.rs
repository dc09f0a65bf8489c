//! The OS keyring through keyring-core: the Secret Service (GNOME Keyring, KWallet) on Linux,
//! the login Keychain on macOS. Entries are service `pail`, user `PAIR`, the secret being the
//! identity's `AGE-SECRET-KEY-1...` string.

use std::sync::{Arc, OnceLock};

use age::secrecy::ExposeSecret;
use keyring_core::{CredentialStore, Entry, Error};
use zeroize::Zeroizing;

use super::{KeyStore, StoreError, check_pair_id};
use crate::key::PrefixKey;

const SERVICE: &str = "pail";

#[cfg(target_os = "linux")]
const NAME: &str = "Secret Service";
#[cfg(target_os = "macos")]
const NAME: &str = "Keychain";

/// The platform's keyring. Connecting is deferred to the first use, and a failure to connect
/// (no session bus, no keyring daemon) is kept and reported as [`StoreError::Keyring`] by
/// every call, which [`super::Fallback`] takes as "use the file".
#[derive(Default)]
pub struct KeyringStore {
    store: OnceLock<Result<Arc<CredentialStore>, String>>,
}

impl std::fmt::Debug for KeyringStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "KeyringStore({NAME})")
    }
}

impl KeyringStore {
    pub fn new() -> Self {
        Self::default()
    }

    fn entry(&self, pair: &str) -> Result<Entry, StoreError> {
        check_pair_id(pair)?;
        let store = self
            .store
            .get_or_init(|| connect().map_err(|e| e.to_string()))
            .as_ref()
            .map_err(|detail| keyring_err(detail.clone()))?;
        Entry::new_in_store(store, SERVICE, pair).map_err(|e| keyring_err(e.to_string()))
    }
}

#[cfg(target_os = "linux")]
fn connect() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(zbus_secret_service_keyring_store::Store::new()?)
}

#[cfg(target_os = "macos")]
fn connect() -> keyring_core::Result<Arc<CredentialStore>> {
    Ok(apple_native_keyring_store::keychain::Store::new()?)
}

fn keyring_err(detail: String) -> StoreError {
    StoreError::Keyring {
        store: NAME.to_owned(),
        detail,
    }
}

impl KeyStore for KeyringStore {
    fn load(&self, pair: &str) -> Result<Option<PrefixKey>, StoreError> {
        let entry = self.entry(pair)?;
        match entry.get_password() {
            Ok(secret) => {
                let secret = Zeroizing::new(secret);
                let what = format!("key of pair {pair} in the OS keyring ({NAME})");
                Ok(Some(PrefixKey::from_secret(&secret, &what)?))
            }
            Err(Error::NoEntry) => Ok(None),
            Err(e) => Err(keyring_err(e.to_string())),
        }
    }

    fn store(&self, pair: &str, key: &PrefixKey) -> Result<(), StoreError> {
        self.entry(pair)?
            .set_password(key.secret().expose_secret())
            .map_err(|e| keyring_err(e.to_string()))
    }

    fn delete(&self, pair: &str) -> Result<(), StoreError> {
        match self.entry(pair)?.delete_credential() {
            Ok(()) | Err(Error::NoEntry) => Ok(()),
            Err(e) => Err(keyring_err(e.to_string())),
        }
    }

    fn describe(&self) -> String {
        format!("the OS keyring ({NAME})")
    }
}
