//! `pail init --encrypt`: the first device makes the prefix's key and its marker
//! (`PREFIX/.pail/encryption.toml`); every other device joins with the passphrase. Either way
//! the key ends in this device's key store, where every sync finds it (`pail_sync::crypt`).

use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use pail_core::RemotePrefix;
use pail_core::layout::encryption_marker_key;
use pail_crypt::marker::{FORMAT, SCHEME_AGE_X25519};
use pail_crypt::store::KeyStore;
use pail_crypt::{EncryptionMarker, KeyError, NameMode, PrefixKey, ScryptWork, SecretString};
use pail_s3::{Capabilities, Condition, ObjectMeta, ObjectStore, StoreError};
use pail_sync::PairConfig;
use pail_sync::crypt::{key_store, read_marker};

/// Gets the passphrase: `true` when a new key is being made (a prompt then asks twice).
pub type AskPassphrase = Arc<dyn Fn(bool) -> Result<SecretString> + Send + Sync>;

/// What `--encrypt` needs besides the pair.
#[derive(Clone)]
pub struct EncryptInit {
    pub passphrase: AskPassphrase,
    /// The scrypt work of the wrap (tests make it cheap).
    pub work: ScryptWork,
    /// `--encrypt-names`: a new prefix gets encrypted names; joining a prefix whose names
    /// are plain is refused (the user expects names hidden).
    pub names: bool,
}

impl std::fmt::Debug for EncryptInit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptInit({:?})", self.work)
    }
}

/// What `--encrypt` did.
#[derive(Debug, Clone)]
pub struct EncryptReport {
    /// A new key (this device is the prefix's first); else joined with the passphrase.
    pub created: bool,
    /// The prefix's public key.
    pub recipient: String,
    /// Where this device keeps it.
    pub key_store: String,
    /// Whether the prefix's names are encrypted (its marker says).
    pub names_encrypted: bool,
}

/// Init without `--encrypt` on an encrypted prefix: refused, with the command that works.
pub(crate) async fn refuse_if_encrypted(
    store: &dyn ObjectStore,
    prefix: &RemotePrefix,
    pair: &PairConfig,
) -> Result<()> {
    if read_marker(store, prefix).await?.is_some() {
        bail!(
            "this prefix is encrypted: run `pail init {} {} --encrypt` and enter its passphrase",
            pair.folder.display(),
            pair.remote
        );
    }
    Ok(())
}

/// Makes or joins the prefix's key and stores it for `pair`. `plain_objects`: whether the
/// prefix already holds files (not pail's own objects).
pub(crate) async fn make_or_join(
    enc: &EncryptInit,
    store: &dyn ObjectStore,
    prefix: &RemotePrefix,
    pair: &PairConfig,
    caps: &Capabilities,
    plain_objects: bool,
) -> Result<(PrefixKey, EncryptReport)> {
    let what = format!(
        "the key in s3://{}/{}",
        store.bucket(),
        encryption_marker_key(prefix)
    );
    let (key, created) = match read_marker(store, prefix).await? {
        Some(marker) => (join(enc, &marker, &what)?, false),
        None => {
            if plain_objects {
                bail!(
                    "{} already holds unencrypted files, so it cannot become an encrypted prefix \
                     (its devices would see plaintext beside ciphertext): choose a new, empty \
                     prefix for the encrypted pair, e.g. {}-encrypted",
                    pair.remote,
                    pair.remote.trim_end_matches('/')
                );
            }
            create_key(enc, store, prefix, pair, caps).await?
        }
    };
    // The marker that stands (after any race with another first device) decides the names.
    let names = match read_marker(store, prefix).await? {
        Some(m) => m.names,
        None => bail!(
            "s3://{}/{} is gone again: check who else writes the prefix, and run init again",
            store.bucket(),
            encryption_marker_key(prefix)
        ),
    };
    if enc.names && names == NameMode::Plain {
        bail!(
            "{} is encrypted with plain names (its first device chose so), so \
             --encrypt-names cannot hold there: run init with --encrypt alone, or use a new, \
             empty prefix for encrypted names",
            pair.remote
        );
    }
    let keys = key_store()?;
    keys.store(&pair.state_id(), &key)
        .with_context(|| format!("cannot keep the key of {} on this device", pair.remote))?;
    let report = EncryptReport {
        created,
        recipient: key.recipient(),
        key_store: keys.describe(),
        names_encrypted: names == NameMode::AesSiv,
    };
    Ok((key, report))
}

fn join(enc: &EncryptInit, marker: &EncryptionMarker, what: &str) -> Result<PrefixKey> {
    let passphrase = (enc.passphrase)(false)?;
    let key = PrefixKey::unwrap(&marker.wrapped_identity, &passphrase, enc.work, what)?;
    key.check_recipient(&marker.recipient, what)?;
    Ok(key)
}

/// How long the first device waits, after writing the marker on a server that ignores
/// conditional writes (Garage, Ceph here), before it reads it back. Two devices that both saw
/// no marker write theirs within one request of each other (each checks again right before
/// its PUT); the write the server keeps is the last, and once both have landed every device
/// reads that one. A second and a half covers a write slowed by a retry or two, and costs
/// nothing but that wait, once, at `pail init --encrypt` of a new prefix.
pub const SETTLE_DELAY: Duration = Duration::from_millis(1500);

/// The first device: a new key, its marker written only where none is (If-None-Match where
/// the server honours it). Elsewhere the marker is checked for again right before the write,
/// and read back [`SETTLE_DELAY`] after it: another device's marker written at the same moment
/// may have won, and that one is the prefix's key (joined with the passphrase, which must be
/// the same). Returns the key and whether this device's own was kept.
pub async fn create_key(
    enc: &EncryptInit,
    store: &dyn ObjectStore,
    prefix: &RemotePrefix,
    pair: &PairConfig,
    caps: &Capabilities,
) -> Result<(PrefixKey, bool)> {
    let marker_key = encryption_marker_key(prefix);
    let what = format!("the key in s3://{}/{marker_key}", store.bucket());
    let passphrase = (enc.passphrase)(true)?;
    let key = PrefixKey::generate();
    let marker = new_marker(&key, enc.names, &pair.device, &passphrase, enc.work)?;
    // The prompt and the wrap take seconds: another device may have made the key meanwhile.
    // Looking again right before the PUT narrows the race to one request where the server
    // ignores the condition.
    if let Some(m) = read_marker(store, prefix).await? {
        return Ok((adopt(&m, &passphrase, enc.work, &what, pair)?, false));
    }
    let cond = if caps.conditional_writes {
        Condition::IfAbsent
    } else {
        Condition::None
    };
    let meta = ObjectMeta {
        device: Some(pair.device.clone()),
        ..ObjectMeta::default()
    };
    match store
        .put(&marker_key, Bytes::from(marker.to_toml()), &meta, cond)
        .await
    {
        Ok(_) | Err(StoreError::PreconditionFailed { .. }) => {}
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot write s3://{}/{marker_key}", store.bucket()));
        }
    }
    if !caps.conditional_writes {
        tokio::time::sleep(SETTLE_DELAY).await;
    }
    match read_marker(store, prefix).await? {
        Some(m) if m.recipient == marker.recipient => Ok((key, true)),
        Some(m) => Ok((adopt(&m, &passphrase, enc.work, &what, pair)?, false)),
        None => bail!(
            "s3://{}/{marker_key} was written but cannot be read back: check the bucket's permissions and run init again",
            store.bucket()
        ),
    }
}

/// Another device's marker, written at the same moment as this one's: its key is the
/// prefix's, opened with the passphrase given here, which must be that device's.
fn adopt(
    m: &EncryptionMarker,
    passphrase: &SecretString,
    work: ScryptWork,
    what: &str,
    pair: &PairConfig,
) -> Result<PrefixKey> {
    let key = match PrefixKey::unwrap(&m.wrapped_identity, passphrase, work, what) {
        Ok(k) => k,
        Err(KeyError::WrongPassphrase) => bail!(
            "another device ({device}) made this prefix's key at the same moment, with another \
             passphrase, and its key is the prefix's: run `pail init {} {} --encrypt` again \
             with the passphrase given on {device}",
            pair.folder.display(),
            pair.remote,
            device = pail_core::printable(&m.created_by),
        ),
        Err(e) => {
            return Err(e).context("another device made this prefix's key at the same moment");
        }
    };
    key.check_recipient(&m.recipient, what)?;
    Ok(key)
}

/// A marker for `key`, made now by `device`: its names mode, and the identity wrapped with
/// `passphrase` (a new prefix's key, or `pail key passphrase` writing a damaged one anew).
pub(crate) fn new_marker(
    key: &PrefixKey,
    encrypt_names: bool,
    device: &str,
    passphrase: &SecretString,
    work: ScryptWork,
) -> Result<EncryptionMarker> {
    Ok(EncryptionMarker {
        format: FORMAT,
        scheme: SCHEME_AGE_X25519.to_owned(),
        recipient: key.recipient(),
        names: NameMode::encrypted(encrypt_names),
        created_by: device.to_owned(),
        created_at: time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default(),
        wrapped_identity: key.wrap(passphrase, work)?,
    })
}
