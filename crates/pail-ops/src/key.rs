//! `pail key export` and `pail key passphrase`: the identity of an end-to-end encrypted pair
//! (doc/ENCRYPTION.md), printed for safekeeping, and its passphrase changed. The passphrase
//! only wraps the identity kept in the bucket's marker: changing it rewrites the marker, and
//! no object, nor any device's local key, changes.

use anyhow::{Context, Result, bail};
use bytes::Bytes;
use pail_core::layout::encryption_marker_key;
use pail_crypt::store::KeyStore;
use pail_crypt::{EncryptionMarker, KeyError, MarkerError, PrefixKey, ScryptWork, SecretString};
use pail_s3::{Condition, ObjectMeta, StoreError};
use pail_sync::PairRemote;
use pail_sync::config::{Config, PairConfig};
use pail_sync::crypt::{MarkerObject, key_store, read_marker_object, read_marker_tagged};

/// The pair a key command acts on: the one of `folder`, else the only encrypted pair.
/// Refuses a plain pair, no encrypted pair, and several without `--folder`.
pub fn encrypted_pair<'a>(
    config: &'a Config,
    folder: Option<&std::path::Path>,
) -> Result<&'a PairConfig> {
    let pairs = config.select(folder)?;
    if folder.is_some() {
        let pair = pairs[0];
        if !pair.encrypted {
            bail!(
                "{} is not end-to-end encrypted ({}): it has no key; only pairs made with \
                 `pail init --encrypt` do",
                pair.folder.display(),
                pair.remote
            );
        }
        return Ok(pair);
    }
    let encrypted: Vec<_> = pairs.into_iter().filter(|p| p.encrypted).collect();
    match encrypted[..] {
        [pair] => Ok(pair),
        [] => bail!(
            "no configured pair is end-to-end encrypted, so there is no key: only pairs made \
             with `pail init --encrypt` have one"
        ),
        _ => bail!(
            "several pairs are end-to-end encrypted: pick one with --folder ({})",
            encrypted
                .iter()
                .map(|p| p.folder.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
    }
}

/// This device's key of `pair`, from its key store (no request to the bucket: an export works
/// offline). Refuses a missing or damaged key with the store's own message.
pub fn local_key(pair: &PairConfig) -> Result<PrefixKey> {
    let keys = key_store()?;
    keys.load(&pair.state_id())
        .with_context(|| format!("the key of {} on this device", pair.remote))?
        .with_context(|| {
            format!(
                "this device has no key for {} in {}: join again with `pail init {} {} \
                 --encrypt` and the passphrase",
                pair.remote,
                keys.describe(),
                pair.folder.display(),
                pair.remote
            )
        })
}

/// What `pail key passphrase` did.
#[derive(Debug, Clone)]
pub struct PassphraseReport {
    /// `s3://bucket/PREFIX/.pail/encryption.toml`.
    pub marker: String,
    /// What was repaired on the way: the bucket's copy written again from this device's key.
    pub repaired: Option<Repair>,
    /// Older versions of the marker (the identity under the old passphrase) deleted.
    pub old_versions_deleted: usize,
    /// Older versions that could not be deleted, with why: they still open with the old
    /// passphrase.
    pub old_versions_left: Vec<(String, String)>,
}

/// What `pail key passphrase` found broken in the bucket and wrote again from this device's
/// key (the old passphrase could not be checked against it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Repair {
    /// The marker parsed, but its wrapped identity did not open (damaged).
    WrappedKey,
    /// The marker did not parse: written anew (public key from this device's key, names as
    /// the pair records them).
    Damaged { detail: String },
    /// The marker was gone: written anew, as for [`Repair::Damaged`].
    Missing,
}

/// Asks for a passphrase (the command: the environment or the terminal).
pub type Ask<'a> = &'a (dyn Fn() -> Result<SecretString> + Send + Sync);

/// Wraps the pair's identity under the new passphrase and rewrites the marker, once `old`
/// opens the bucket's copy. `local` is this device's key of the pair ([`local_key`]). The write
/// is conditional on the marker's ETag where the server honours conditions; elsewhere the
/// marker is read back, and another device's write at the same moment is reported. Then the
/// marker's older versions, which still open with the old passphrase, are deleted where the
/// bucket keeps versions.
///
/// A marker that is damaged (it does not parse) or gone is written anew from `local`, with
/// the names mode of `pair` (`encrypt_names`), without asking for the old passphrase: there
/// is nothing to check it against. A marker that parses and records another public key is
/// refused: that is another key, not damage. `remote` comes from
/// [`PairRemote::connect_unchecked`], since the usual check refuses exactly these markers.
pub async fn change_passphrase(
    remote: &PairRemote,
    pair: &PairConfig,
    local: &PrefixKey,
    old: Ask<'_>,
    new: Ask<'_>,
    work: ScryptWork,
) -> Result<PassphraseReport> {
    let marker_key = encryption_marker_key(&remote.prefix);
    let url = format!("s3://{}/{marker_key}", remote.bucket);
    let what = format!("the key in {url}");
    let (again, cond, repaired) = match read_marker_object(remote.store.as_ref(), &remote.prefix)
        .await?
    {
        Some(MarkerObject {
            etag,
            parsed: Ok(marker),
        }) => {
            local.check_recipient(&marker.recipient, "this device's key of the pair")?;
            let old = old()?;
            let new = new()?;
            let (wrapped, repaired) =
                match PrefixKey::rewrap(&marker.wrapped_identity, &old, &new, work, &what) {
                    Ok((key, wrapped)) => {
                        key.check_recipient(&marker.recipient, &what)?;
                        (wrapped, None)
                    }
                    // The bucket's copy is unreadable: this device's key (checked against the
                    // marker's public key above) is the identity; write the copy again from it.
                    Err(KeyError::Damaged { .. }) => {
                        (local.wrap(&new, work)?, Some(Repair::WrappedKey))
                    }
                    Err(e) => return Err(e.into()),
                };
            let again = EncryptionMarker {
                wrapped_identity: wrapped,
                ..marker
            };
            (again, Condition::IfMatch(etag), repaired)
        }
        Some(MarkerObject {
            etag,
            parsed: Err(MarkerError::Damaged { detail, .. }),
        }) => {
            let fresh =
                crate::init::new_marker(local, pair.encrypt_names, &remote.device, &new()?, work)?;
            (
                fresh,
                Condition::IfMatch(etag),
                Some(Repair::Damaged { detail }),
            )
        }
        // A newer format or an unknown scheme is not damage: an upgrade reads it.
        Some(MarkerObject { parsed: Err(e), .. }) => return Err(e.into()),
        None => {
            let fresh =
                crate::init::new_marker(local, pair.encrypt_names, &remote.device, &new()?, work)?;
            (fresh, Condition::IfAbsent, Some(Repair::Missing))
        }
    };
    let cond = if remote.caps.conditional_writes {
        cond
    } else {
        Condition::None
    };
    let meta = ObjectMeta {
        device: Some(remote.device.clone()),
        ..ObjectMeta::default()
    };
    let written = remote
        .store
        .put(&marker_key, Bytes::from(again.to_toml()), &meta, cond)
        .await;
    let new_version = match written {
        Ok(put) => put.version_id,
        Err(StoreError::PreconditionFailed { .. }) => bail!(
            "{url} changed while the passphrase was being changed (another device changed it \
             too?): nothing was written; run `pail key passphrase` again"
        ),
        Err(e) => return Err(e).with_context(|| format!("cannot write {url}")),
    };
    // Where the server ignores the condition, a write of another device at the same moment
    // may have won: say so rather than report a passphrase that does not open the key.
    match read_marker_tagged(remote.store.as_ref(), &remote.prefix).await? {
        Some((m, _)) if m.wrapped_identity == again.wrapped_identity => {}
        _ => bail!(
            "{url} was rewritten by another device at the same moment: the passphrase may \
             not be the new one; run `pail key passphrase` again"
        ),
    }
    let mut report = PassphraseReport {
        marker: url,
        repaired,
        old_versions_deleted: 0,
        old_versions_left: Vec::new(),
    };
    delete_old_versions(remote, &marker_key, new_version.as_deref(), &mut report).await;
    Ok(report)
}

/// Deletes the versions of the marker older than `current` (they wrap the identity under the
/// old passphrase, and anyone with the bucket could open them with it). Failures are reported,
/// not fatal: the new passphrase is in place either way.
async fn delete_old_versions(
    remote: &PairRemote,
    marker_key: &str,
    current: Option<&str>,
    report: &mut PassphraseReport,
) {
    if !remote.versioned() {
        return;
    }
    let Some(current) = current else { return };
    let mut old = Vec::new();
    let (mut km, mut vm) = (None, None);
    loop {
        let page = match remote
            .store
            .list_versions_page(marker_key, km.clone(), vm.clone())
            .await
        {
            Ok(p) => p,
            Err(e) => {
                report
                    .old_versions_left
                    .push(("(listing)".into(), e.to_string()));
                return;
            }
        };
        old.extend(
            page.versions
                .into_iter()
                .filter(|v| v.key == marker_key && v.version_id != current)
                .map(|v| v.version_id),
        );
        if page.next_key_marker.is_none() {
            break;
        }
        (km, vm) = (page.next_key_marker, page.next_version_id_marker);
    }
    for vid in old {
        match remote
            .store
            .delete(marker_key, Some(&vid), Condition::None)
            .await
        {
            Ok(_) | Err(StoreError::NotFound { .. }) => report.old_versions_deleted += 1,
            Err(e) => report.old_versions_left.push((vid, e.to_string())),
        }
    }
}
