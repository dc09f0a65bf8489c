//! `pail key passphrase` on the in-process store: the marker rewrapped only with the right old
//! passphrase, its older versions (the key under the old passphrase) deleted, a damaged
//! bucket copy written again from the device's key, and the choice of the pair. The command
//! itself runs against the real servers in tests/e2e/encrypted_history.rs.

use std::sync::Arc;

use bytes::Bytes;
use pail_core::RemotePrefix;
use pail_core::layout::encryption_marker_key;
use pail_crypt::marker::{FORMAT, SCHEME_AGE_X25519};
use pail_crypt::{
    EncryptionMarker, ExposeSecret, KeyError, NameMode, PrefixKey, ScryptWork, SecretString,
};
use pail_ops::key::{change_passphrase, encrypted_pair};
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

/// A MemStore prefix made encrypted with `key` under `passphrase`, and its pair's remote.
async fn encrypted_prefix(
    mem: &MemStore,
    key: &PrefixKey,
    passphrase: &str,
    conditional: bool,
) -> PairRemote {
    let cfg = PairConfig::new("/tmp/unused".into(), "s3://bkt/pfx".into(), "laptop".into());
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

        let e = change_passphrase(&remote, &key, &secret("wrong"), &secret("new one"), work())
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

        let r = change_passphrase(
            &remote,
            &key,
            &secret("old one"),
            &secret("new one"),
            work(),
        )
        .await
        .unwrap();
        assert!(!r.rewrote_damaged);
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
    let r = change_passphrase(
        &remote,
        &key,
        &secret("anything"),
        &secret("new one"),
        work(),
    )
    .await
    .unwrap();
    assert!(r.rewrote_damaged);
    let opened =
        PrefixKey::unwrap(&wrapped(&remote).await, &secret("new one"), work(), "m").unwrap();
    assert_eq!(opened.recipient(), key.recipient());

    // Another prefix's key never rewrites this marker.
    let other = PrefixKey::generate();
    let e = change_passphrase(&remote, &other, &secret("new one"), &secret("x"), work())
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
