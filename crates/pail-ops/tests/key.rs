//! `pail key passphrase` on the in-process store: the marker rewrapped only with the right old
//! passphrase, its older versions (the key under the old passphrase) deleted, a damaged
//! bucket copy (or a damaged or missing marker) written again from the device's key, and the
//! choice of the pair. The command itself runs against the real servers in
//! tests/e2e/encrypted_history.rs and tests/e2e/encrypted_key.rs.

use std::sync::Arc;

use bytes::Bytes;
use pail_core::RemotePrefix;
use pail_core::layout::encryption_marker_key;
use pail_crypt::marker::{FORMAT, SCHEME_AGE_X25519};
use pail_crypt::{
    EncryptionMarker, ExposeSecret, KeyError, NameMode, PrefixKey, ScryptWork, SecretString,
};
use pail_ops::key::{Repair, change_passphrase, encrypted_pair};
use pail_s3::{
    Capabilities, Condition, Conditionals, MemStore, ObjectMeta, ObjectStore, Versioning,
    list_all_versions,
};
use pail_sync::config::Config;
use pail_sync::crypt::read_marker;
use pail_sync::{PairConfig, PairRemote};

fn secret(s: &str) -> SecretString {
    s.to_owned().into()
}

fn work() -> ScryptWork {
    ScryptWork::for_tests()
}

fn pair() -> PairConfig {
    PairConfig::new("/tmp/unused".into(), "s3://bkt/pfx".into(), "laptop".into())
}

/// `pail key passphrase` from `old` to `new` (the passphrases given as the command asks).
async fn change(
    remote: &PairRemote,
    pair: &PairConfig,
    key: &PrefixKey,
    old: &str,
    new: &str,
) -> anyhow::Result<pail_ops::key::PassphraseReport> {
    let (old, new) = (old.to_owned(), new.to_owned());
    change_passphrase(
        remote,
        pair,
        key,
        &move || Ok(secret(&old)),
        &move || Ok(secret(&new)),
        work(),
    )
    .await
}

/// A MemStore prefix made encrypted with `key` under `passphrase`, and its pair's remote.
async fn encrypted_prefix(
    mem: &MemStore,
    key: &PrefixKey,
    passphrase: &str,
    conditional: bool,
) -> PairRemote {
    let cfg = pair();
    let marker = EncryptionMarker {
        format: FORMAT,
        scheme: SCHEME_AGE_X25519.into(),
        recipient: key.recipient(),
        names: NameMode::Plain,
        created_by: "laptop".into(),
        created_at: "2026-11-30T10:00:00Z".into(),
        wrapped_identity: key.wrap(&secret(passphrase), work()).unwrap(),
    };
    let prefix = RemotePrefix::new("pfx").unwrap();
    mem.put(
        &encryption_marker_key(&prefix),
        Bytes::from(marker.to_toml()),
        &ObjectMeta::default(),
        Condition::None,
    )
    .await
    .unwrap();
    let caps = Capabilities {
        versioning: Versioning::Enabled,
        conditional_writes: conditional,
        checksums: "when_required".into(),
        probed_at: "2026-11-30T10:00:00Z".into(),
    };
    let mut remote = PairRemote::new(&cfg, Arc::new(mem.clone()), caps).unwrap();
    remote.key = Some(Arc::new(
        PrefixKey::from_secret(key.secret().expose_secret(), "test").unwrap(),
    ));
    remote
}

async fn wrapped(remote: &PairRemote) -> String {
    read_marker(remote.store.as_ref(), &remote.prefix)
        .await
        .unwrap()
        .unwrap()
        .wrapped_identity
}

async fn marker_versions(mem: &MemStore) -> usize {
    let key = encryption_marker_key(&RemotePrefix::new("pfx").unwrap());
    let mut n = 0;
    list_all_versions(mem, &key, |v| n += usize::from(v.key == key))
        .await
        .unwrap();
    n
}

#[tokio::test]
async fn the_old_passphrase_must_open_the_key_and_then_no_longer_does() {
    for conditionals in [Conditionals::Honoured, Conditionals::Ignored] {
        let mem = MemStore::new("bkt");
        mem.set_conditionals(conditionals);
        let key = PrefixKey::generate();
        let remote = encrypted_prefix(
            &mem,
            &key,
            "old one",
            conditionals == Conditionals::Honoured,
        )
        .await;
        let before = wrapped(&remote).await;

        let e = change(&remote, &pair(), &key, "wrong", "new one")
            .await
            .unwrap_err();
        assert!(
            matches!(
                e.downcast_ref::<KeyError>(),
                Some(KeyError::WrongPassphrase)
            ),
            "{e:#}"
        );
        assert_eq!(wrapped(&remote).await, before, "nothing written");

        let r = change(&remote, &pair(), &key, "old one", "new one")
            .await
            .unwrap();
        assert_eq!(r.repaired, None);
        assert_eq!(r.old_versions_deleted, 1, "{r:?}");
        assert!(r.old_versions_left.is_empty(), "{r:?}");
        assert_eq!(marker_versions(&mem).await, 1);
        let now = wrapped(&remote).await;
        let opened = PrefixKey::unwrap(&now, &secret("new one"), work(), "marker").unwrap();
        assert_eq!(opened.recipient(), key.recipient(), "the same identity");
        assert!(matches!(
            PrefixKey::unwrap(&now, &secret("old one"), work(), "marker"),
            Err(KeyError::WrongPassphrase)
        ));
    }
}

#[tokio::test]
async fn a_damaged_bucket_copy_is_written_again_from_the_devices_key() {
    let mem = MemStore::new("bkt");
    let key = PrefixKey::generate();
    let remote = encrypted_prefix(&mem, &key, "old one", true).await;
    // The marker parses, but its wrapped identity is not an age file.
    let mut marker = read_marker(remote.store.as_ref(), &remote.prefix)
        .await
        .unwrap()
        .unwrap();
    marker.wrapped_identity =
        "-----BEGIN AGE ENCRYPTED FILE-----\nAAAA\n-----END AGE ENCRYPTED FILE-----\n".into();
    mem.put(
        &encryption_marker_key(&remote.prefix),
        Bytes::from(marker.to_toml()),
        &ObjectMeta::default(),
        Condition::None,
    )
    .await
    .unwrap();
    let r = change(&remote, &pair(), &key, "anything", "new one")
        .await
        .unwrap();
    assert_eq!(r.repaired, Some(Repair::WrappedKey));
    let opened =
        PrefixKey::unwrap(&wrapped(&remote).await, &secret("new one"), work(), "m").unwrap();
    assert_eq!(opened.recipient(), key.recipient());

    // Another prefix's key never rewrites this marker.
    let other = PrefixKey::generate();
    let e = change(&remote, &pair(), &other, "new one", "x")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.downcast_ref::<KeyError>(),
            Some(KeyError::NotThisPrefix { .. })
        ),
        "{e:#}"
    );
}

/// A marker that does not parse (or is gone) is written anew from the device's key: its
/// public key, the pair's names mode, the new passphrase; conditionally on the damaged
/// object's ETag where the server honours it. A marker that parses and names another key is
/// not damage: refused, and left alone.
#[tokio::test]
async fn a_damaged_or_missing_marker_is_written_anew_from_the_devices_key() {
    let marker_key = encryption_marker_key(&RemotePrefix::new("pfx").unwrap());
    let garbage = "format = 1\nrecipient = \"age1\" = broken\n";
    for conditionals in [Conditionals::Honoured, Conditionals::Ignored] {
        for (names, mode) in [(false, NameMode::Plain), (true, NameMode::AesSiv)] {
            let mem = MemStore::new("bkt");
            mem.set_conditionals(conditionals);
            let key = PrefixKey::generate();
            let honoured = conditionals == Conditionals::Honoured;
            let remote = encrypted_prefix(&mem, &key, "old one", honoured).await;
            let mut cfg = pair();
            cfg.encrypt_names = names;
            mem.put_foreign(&marker_key, garbage);
            let e = read_marker(remote.store.as_ref(), &remote.prefix)
                .await
                .unwrap_err();
            assert!(
                e.to_string().contains("is damaged")
                    && e.to_string().contains("`pail key passphrase`"),
                "{e}"
            );

            // The old passphrase is not asked for: nothing in the bucket to check it against.
            let r = change_passphrase(
                &remote,
                &cfg,
                &key,
                &|| panic!("the old passphrase is not asked for"),
                &|| Ok(secret("new one")),
                work(),
            )
            .await
            .unwrap();
            assert!(
                matches!(&r.repaired, Some(Repair::Damaged { detail }) if !detail.is_empty()),
                "{r:?}"
            );
            let m = read_marker(remote.store.as_ref(), &remote.prefix)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(m.recipient, key.recipient());
            assert_eq!(m.names, mode);
            assert_eq!(m.created_by, "laptop");
            let opened =
                PrefixKey::unwrap(&m.wrapped_identity, &secret("new one"), work(), "m").unwrap();
            assert_eq!(opened.recipient(), key.recipient());
            assert_eq!(marker_versions(&mem).await, 1, "the older versions deleted");

            // Gone (a delete marker on top): written anew too, without the old passphrase.
            mem.delete_foreign(&marker_key);
            let r = change(&remote, &cfg, &key, "unused", "newer one")
                .await
                .unwrap();
            assert_eq!(r.repaired, Some(Repair::Missing));
            let m = read_marker(remote.store.as_ref(), &remote.prefix)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(
                (m.recipient.as_str(), m.names),
                (key.recipient().as_str(), mode)
            );
            PrefixKey::unwrap(&m.wrapped_identity, &secret("newer one"), work(), "m").unwrap();
        }
    }

    // A marker of another key that parses: refused, and the bucket left as it was.
    let mem = MemStore::new("bkt");
    let theirs = PrefixKey::generate();
    let remote = encrypted_prefix(&mem, &theirs, "theirs", true).await;
    let before = wrapped(&remote).await;
    let mine = PrefixKey::generate();
    let e = change(&remote, &pair(), &mine, "theirs", "mine")
        .await
        .unwrap_err();
    assert!(
        matches!(
            e.downcast_ref::<KeyError>(),
            Some(KeyError::NotThisPrefix { .. })
        ),
        "{e:#}"
    );
    assert_eq!(wrapped(&remote).await, before);
}

/// The rewrite of a damaged marker is conditional on the ETag it was read with: a marker
/// changed in between (another device repairing it at the same moment) is not overwritten.
#[tokio::test]
async fn a_damaged_marker_changed_meanwhile_is_not_overwritten() {
    let mem = MemStore::new("bkt");
    let key = PrefixKey::generate();
    let remote = encrypted_prefix(&mem, &key, "old one", true).await;
    let marker_key = encryption_marker_key(&remote.prefix);
    mem.put_foreign(&marker_key, "not toml at all [");
    let (mem2, k2) = (mem.clone(), marker_key.clone());
    // The new passphrase is asked for after the marker was read: the moment another device's
    // write lands here.
    let e = change_passphrase(
        &remote,
        &pair(),
        &key,
        &|| panic!("not asked"),
        &move || {
            mem2.put_foreign(&k2, "another device's write");
            Ok(secret("new one"))
        },
        work(),
    )
    .await
    .unwrap_err();
    assert!(
        e.to_string()
            .contains("changed while the passphrase was being changed"),
        "{e:#}"
    );
    assert_eq!(
        mem.current(&marker_key).unwrap(),
        Bytes::from("another device's write")
    );
}

#[test]
fn the_key_commands_pick_one_encrypted_pair() {
    let pair = |folder: &str, encrypted: bool| {
        let mut p = PairConfig::new(folder.into(), format!("s3://bkt{folder}"), "d".into());
        p.encrypted = encrypted;
        p
    };
    let config = |pairs: Vec<PairConfig>| Config {
        pairs,
        ..Config::default()
    };
    let err = |c: &Config, f: Option<&str>| {
        encrypted_pair(c, f.map(std::path::Path::new))
            .unwrap_err()
            .to_string()
    };
    let one = config(vec![pair("/p", false), pair("/e", true)]);
    assert_eq!(
        encrypted_pair(&one, None).unwrap().folder,
        std::path::Path::new("/e")
    );
    assert!(err(&one, Some("/p")).contains("/p is not end-to-end encrypted"));
    assert_eq!(
        encrypted_pair(&one, Some(std::path::Path::new("/e")))
            .unwrap()
            .folder,
        std::path::Path::new("/e")
    );
    let none = config(vec![pair("/p", false)]);
    assert!(err(&none, None).contains("no configured pair is end-to-end encrypted"));
    let two = config(vec![pair("/e1", true), pair("/e2", true)]);
    let e = err(&two, None);
    assert!(e.contains("pick one with --folder (/e1, /e2)"), "{e}");
}
