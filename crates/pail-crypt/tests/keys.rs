//! Prefix keys: subkeys, passphrase wraps, the marker, and the key stores.

use pail_crypt::marker::{EncryptionMarker, FORMAT, MarkerError, NameMode};
use pail_crypt::store::{Fallback, FileStore, KeyStore, StoreError};
use pail_crypt::{ExposeSecret, KeyError, PrefixKey, ScryptWork, SecretString, contexts};

fn pass(s: &str) -> SecretString {
    SecretString::from(s.to_owned())
}

#[test]
fn subkeys_follow_the_documented_derivation() {
    let key = PrefixKey::generate();
    let secret = key.secret();
    let material = secret.expose_secret().as_bytes();
    // doc/ENCRYPTION.md: blake3 derive_key(CONTEXT, identity string) -> keyed blake3.
    let content_key = blake3::derive_key(contexts::CONTENT_HASH, material);
    assert_eq!(
        key.content_hash(b"hello").0,
        *blake3::keyed_hash(&content_key, b"hello").as_bytes()
    );
    let mut h = key.content_hasher();
    h.update(b"he");
    h.update(b"llo");
    assert_eq!(h.finalize().as_bytes(), &key.content_hash(b"hello").0);
    // Never the plain hash; different keys, different hashes.
    assert_ne!(
        key.content_hash(b"hello").0,
        *blake3::hash(b"hello").as_bytes()
    );
    assert_ne!(
        key.content_hash(b"hello"),
        PrefixKey::generate().content_hash(b"hello")
    );
    // The same identity gives the same subkeys on every device.
    let again = PrefixKey::from_secret(secret.expose_secret(), "t").unwrap();
    assert_eq!(again.content_hash(b"x"), key.content_hash(b"x"));
    let h = key.content_hash(b"x");
    assert_eq!(again.binding_tag("a/b", &h), key.binding_tag("a/b", &h));
    assert!(key.recipient().starts_with("age1"));
    assert!(!format!("{key:?}").contains("AGE-SECRET-KEY"));
}

#[test]
fn wrap_and_unwrap_with_the_passphrase() {
    let key = PrefixKey::generate();
    let wrapped = key.wrap(&pass("hunter2"), ScryptWork::for_tests()).unwrap();
    assert!(wrapped.starts_with("-----BEGIN AGE ENCRYPTED FILE-----"));
    assert!(!wrapped.contains("AGE-SECRET-KEY"));
    let opened =
        PrefixKey::unwrap(&wrapped, &pass("hunter2"), ScryptWork::for_tests(), "k").unwrap();
    assert_eq!(opened.recipient(), key.recipient());
    assert_eq!(
        opened.secret().expose_secret(),
        key.secret().expose_secret()
    );
}

#[test]
fn wrong_passphrase_is_named() {
    let key = PrefixKey::generate();
    let wrapped = key.wrap(&pass("hunter2"), ScryptWork::for_tests()).unwrap();
    let e =
        PrefixKey::unwrap(&wrapped, &pass("hunter3"), ScryptWork::for_tests(), "k").unwrap_err();
    assert!(matches!(e, KeyError::WrongPassphrase), "{e:?}");
    assert!(e.to_string().contains("wrong passphrase"));
    assert!(matches!(
        key.wrap(&pass(""), ScryptWork::for_tests()),
        Err(KeyError::EmptyPassphrase)
    ));
}

#[test]
fn changing_the_passphrase_keeps_the_key() {
    let key = PrefixKey::generate();
    let w1 = key.wrap(&pass("old"), ScryptWork::for_tests()).unwrap();
    let (k, w2) = PrefixKey::rewrap(
        &w1,
        &pass("old"),
        &pass("new"),
        ScryptWork::for_tests(),
        "k",
    )
    .unwrap();
    assert_eq!(k.recipient(), key.recipient());
    let opened = PrefixKey::unwrap(&w2, &pass("new"), ScryptWork::for_tests(), "k").unwrap();
    assert_eq!(opened.content_hash(b"x"), key.content_hash(b"x"));
    assert!(matches!(
        PrefixKey::unwrap(&w2, &pass("old"), ScryptWork::for_tests(), "k"),
        Err(KeyError::WrongPassphrase)
    ));
    assert!(matches!(
        PrefixKey::rewrap(
            &w1,
            &pass("bad"),
            &pass("new"),
            ScryptWork::for_tests(),
            "k"
        ),
        Err(KeyError::WrongPassphrase)
    ));
}

#[test]
fn a_damaged_wrapped_key_is_refused() {
    let key = PrefixKey::generate();
    let wrapped = key.wrap(&pass("pw"), ScryptWork::for_tests()).unwrap();
    let what = "the key in s3://b/p/.pail/encryption.toml";
    // Every character of the armored body, flipped to another base64 character.
    let body_start = wrapped.find('\n').unwrap() + 1;
    let body_end = wrapped.rfind("-----END").unwrap();
    let mut refused = 0;
    for i in body_start..body_end {
        let mut b = wrapped.clone().into_bytes();
        if b[i] == b'\n' {
            continue;
        }
        b[i] = if b[i] == b'A' { b'B' } else { b'A' };
        let bad = String::from_utf8(b).unwrap();
        match PrefixKey::unwrap(&bad, &pass("pw"), ScryptWork::for_tests(), what) {
            // A change in the scrypt stanza reads as a wrong passphrase: indistinguishable.
            Err(KeyError::WrongPassphrase) => refused += 1,
            Err(e @ (KeyError::Damaged { .. } | KeyError::ExcessiveWork { .. })) => {
                assert!(e.to_string().contains(what), "{e}");
                refused += 1;
            }
            Err(e) => panic!("byte {i}: {e:?}"),
            Ok(_) => panic!("byte {i} changed and the key still opened"),
        }
    }
    assert!(refused > 100);
    for bad in [
        "",
        "garbage",
        "-----BEGIN AGE ENCRYPTED FILE-----\n-----END AGE ENCRYPTED FILE-----\n",
    ] {
        assert!(matches!(
            PrefixKey::unwrap(bad, &pass("pw"), ScryptWork::for_tests(), what),
            Err(KeyError::Damaged { .. })
        ));
    }
    // An age file to a passphrase that holds something else than an identity.
    let e = PrefixKey::from_secret("AGE-SECRET-KEY-1NOTAKEY", what).unwrap_err();
    assert!(matches!(e, KeyError::Damaged { .. }));
}

#[test]
fn excessive_work_is_refused_with_the_numbers() {
    let key = PrefixKey::generate();
    let wrapped = key
        .wrap(
            &pass("pw"),
            ScryptWork {
                log_n: Some(14),
                max_log_n: None,
            },
        )
        .unwrap();
    let e = PrefixKey::unwrap(
        &wrapped,
        &pass("pw"),
        ScryptWork {
            log_n: None,
            max_log_n: Some(12),
        },
        "k",
    )
    .unwrap_err();
    assert!(
        matches!(
            e,
            KeyError::ExcessiveWork {
                required: 14,
                allowed: 12,
                ..
            }
        ),
        "{e:?}"
    );
}

#[test]
fn check_recipient() {
    let key = PrefixKey::generate();
    key.check_recipient(&key.recipient(), "k").unwrap();
    let other = PrefixKey::generate().recipient();
    let e = key
        .check_recipient(&other, "the key in the keyring")
        .unwrap_err();
    assert!(e.to_string().contains(&other) && e.to_string().contains("the key in the keyring"));
}

fn marker(key: &PrefixKey) -> EncryptionMarker {
    EncryptionMarker {
        format: FORMAT,
        scheme: "age-x25519".into(),
        recipient: key.recipient(),
        names: NameMode::AesSiv,
        created_by: "laptop".into(),
        created_at: "2026-11-30T10:00:00Z".into(),
        wrapped_identity: key.wrap(&pass("pw"), ScryptWork::for_tests()).unwrap(),
    }
}

#[test]
fn marker_round_trip_and_errors() {
    let key = PrefixKey::generate();
    let m = marker(&key);
    let text = m.to_toml();
    assert!(
        text.contains("names = \"aes-siv-base64url\"") && text.contains("format = 1"),
        "{text}"
    );
    let back = EncryptionMarker::parse(&text, "s3://b/p/.pail/encryption.toml").unwrap();
    assert_eq!(back, m);
    let opened = PrefixKey::unwrap(
        &back.wrapped_identity,
        &pass("pw"),
        ScryptWork::for_tests(),
        "k",
    )
    .unwrap();
    opened.check_recipient(&back.recipient, "k").unwrap();

    let what = "s3://b/p/.pail/encryption.toml";
    let newer = text.replace("format = 1", "format = 2");
    assert_eq!(
        EncryptionMarker::parse(&newer, what),
        Err(MarkerError::NewerFormat {
            what: what.into(),
            found: 2
        })
    );
    assert!(
        EncryptionMarker::parse(&newer, what)
            .unwrap_err()
            .to_string()
            .contains("upgrade pail")
    );
    let scheme = text.replace("age-x25519", "age-mlkem");
    assert!(matches!(
        EncryptionMarker::parse(&scheme, what),
        Err(MarkerError::UnknownScheme { .. })
    ));
    for bad in [
        "",
        "format = \"one\"",
        "format = 1",
        "not toml [",
        &text.replace("recipient = \"age1", "recipient = \"xyz"),
    ] {
        let e = EncryptionMarker::parse(bad, what).unwrap_err();
        assert!(matches!(e, MarkerError::Damaged { .. }), "{bad:?}: {e:?}");
        assert!(e.to_string().contains(what));
    }
    let plain = text.replace("aes-siv-base64url", "plain");
    assert_eq!(
        EncryptionMarker::parse(&plain, what).unwrap().names,
        NameMode::Plain
    );
}

#[test]
fn file_store_round_trip_permissions_and_tampering() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let store = FileStore::new(dir.path());
    assert!(store.load("pair-1").unwrap().is_none());
    let key = PrefixKey::generate();
    store.store("pair-1", &key).unwrap();
    let path = store.path("pair-1").unwrap();
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert_eq!(
        std::fs::metadata(path.parent().unwrap())
            .unwrap()
            .permissions()
            .mode()
            & 0o777,
        0o700
    );
    assert_eq!(
        store.load("pair-1").unwrap().unwrap().recipient(),
        key.recipient()
    );

    // Wider permissions: refused, with the fix.
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
    let e = store.load("pair-1").unwrap_err();
    assert!(
        matches!(e, StoreError::Permissions { mode: 0o644, .. }),
        "{e:?}"
    );
    assert!(e.to_string().contains("chmod 600"));
    std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600)).unwrap();

    // A changed character of the secret: bech32's checksum catches it.
    let text = std::fs::read_to_string(&path).unwrap();
    let i = text.find("AGE-SECRET-KEY-1").unwrap() + 20;
    let mut bad = text.clone().into_bytes();
    bad[i] = if bad[i] == b'Q' { b'P' } else { b'Q' };
    std::fs::write(&path, &bad).unwrap();
    let e = store.load("pair-1").unwrap_err();
    assert!(
        matches!(e, StoreError::Damaged(KeyError::Damaged { .. })),
        "{e:?}"
    );
    assert!(e.to_string().contains(&path.display().to_string()));
    // Another valid key put in its place: the recorded public key no longer matches.
    let other = PrefixKey::generate();
    std::fs::write(
        &path,
        text.replace(key.secret().expose_secret(), other.secret().expose_secret()),
    )
    .unwrap();
    assert!(matches!(
        store.load("pair-1"),
        Err(StoreError::Damaged(KeyError::NotThisPrefix { .. }))
    ));

    store.delete("pair-1").unwrap();
    store.delete("pair-1").unwrap();
    assert!(store.load("pair-1").unwrap().is_none());
    for bad in ["", "../x", "a/b", ".hidden"] {
        assert!(
            matches!(store.load(bad), Err(StoreError::BadPairId(_))),
            "{bad:?}"
        );
    }
}

/// A keyring that is not there (no session bus, no keyring daemon).
struct Absent;
impl KeyStore for Absent {
    fn load(&self, _: &str) -> Result<Option<PrefixKey>, StoreError> {
        Err(StoreError::Keyring {
            store: "test".into(),
            detail: "no session bus".into(),
        })
    }
    fn store(&self, p: &str, _: &PrefixKey) -> Result<(), StoreError> {
        self.load(p).map(|_| ())
    }
    fn delete(&self, p: &str) -> Result<(), StoreError> {
        self.load(p).map(|_| ())
    }
    fn describe(&self) -> String {
        "absent".into()
    }
}

#[test]
fn a_missing_keyring_falls_back_to_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Fallback {
        keyring: Some(Box::new(Absent)),
        file: FileStore::new(dir.path()),
    };
    let key = PrefixKey::generate();
    store.store("p", &key).unwrap();
    assert!(store.file.path("p").unwrap().exists());
    assert_eq!(
        store.load("p").unwrap().unwrap().recipient(),
        key.recipient()
    );
    store.delete("p").unwrap();
    assert!(store.load("p").unwrap().is_none());
}

/// The real OS keyring of this machine, through the fallback: whatever answers (on a CI
/// container, usually no Secret Service, so the file), the key comes back.
#[test]
fn the_platform_keyring_or_the_file() {
    let dir = tempfile::tempdir().unwrap();
    let store = Fallback::new(dir.path());
    let pair = format!("pail-crypt-test-{}", std::process::id());
    let key = PrefixKey::generate();
    store.store(&pair, &key).unwrap();
    assert_eq!(
        store.load(&pair).unwrap().unwrap().recipient(),
        key.recipient()
    );
    store.delete(&pair).unwrap();
    assert!(store.load(&pair).unwrap().is_none());
}
