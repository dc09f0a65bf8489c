//! Encrypted names: round trips, determinism, limits, foreign keys.

use pail_crypt::names::{
    MAX_COMPONENT, MAX_KEY, MAX_PLAIN_COMPONENT, NameError, encrypted_component_len,
};
use pail_crypt::{NameCipher, PrefixKey};
use proptest::prelude::*;

fn cipher() -> NameCipher {
    NameCipher::new(&PrefixKey::generate())
}

#[test]
fn deterministic_per_path_and_different_per_folder() {
    let key = PrefixKey::generate();
    let c = NameCipher::new(&key);
    let a = c.encrypt_path("docs/report.pdf", 10).unwrap();
    assert_eq!(
        a,
        NameCipher::new(&key)
            .encrypt_path("docs/report.pdf", 10)
            .unwrap()
    );
    assert_eq!(c.decrypt_path(&a).unwrap(), "docs/report.pdf");
    // A folder's key prefix is the prefix of its files' keys: listings by folder work.
    let dir = c.encrypt_path("docs", 10).unwrap();
    assert!(a.starts_with(&format!("{dir}/")));
    // The same name in two folders: two different encrypted names.
    let b = c.encrypt_path("other/report.pdf", 10).unwrap();
    assert_ne!(a.rsplit('/').next(), b.rsplit('/').next());
    // Another key: other names.
    assert_ne!(
        NameCipher::new(&PrefixKey::generate())
            .encrypt_path("docs", 0)
            .unwrap(),
        dir
    );
    // base64url: no '.', no '/', no padding.
    for ch in a.chars() {
        assert!(
            ch.is_ascii_alphanumeric() || ch == '-' || ch == '_' || ch == '/',
            "{ch}"
        );
    }
}

#[test]
fn component_length_limit() {
    let c = cipher();
    assert_eq!(MAX_PLAIN_COMPONENT, 175);
    let fits = "a".repeat(MAX_PLAIN_COMPONENT);
    let enc = c.encrypt_path(&fits, 0).unwrap();
    assert_eq!(enc.len(), MAX_COMPONENT);
    assert_eq!(encrypted_component_len(MAX_PLAIN_COMPONENT), MAX_COMPONENT);
    let long = "b".repeat(MAX_PLAIN_COMPONENT + 1);
    let path = format!("ok/{long}/also-{long}");
    match c.encrypt_path(&path, 0) {
        Err(NameError::ComponentTooLong {
            component,
            plain,
            encrypted,
            ..
        }) => {
            assert_eq!(component, long, "the first component over the limit");
            assert_eq!((plain, encrypted), (176, 256));
        }
        other => panic!("{other:?}"),
    }
    let e = c.encrypt_path(&path, 0).unwrap_err().to_string();
    assert!(e.contains("rename it") && e.contains("175"), "{e}");
}

#[test]
fn key_length_limit_counts_the_prefix() {
    let c = cipher();
    // Components of 100 bytes encrypt to 155; 6 of them plus slashes = 935.
    let comp = "c".repeat(100);
    let path = [comp.as_str(); 6].join("/");
    let enc = c.encrypt_path(&path, 0).unwrap();
    assert_eq!(enc.len(), 6 * 155 + 5);
    assert!(c.encrypt_path(&path, MAX_KEY - enc.len()).is_ok());
    match c.encrypt_path(&path, MAX_KEY - enc.len() + 1) {
        Err(NameError::KeyTooLong { len, .. }) => assert_eq!(len, MAX_KEY + 1),
        other => panic!("{other:?}"),
    }
}

#[test]
fn foreign_components_are_named() {
    let c = cipher();
    let other = NameCipher::new(&PrefixKey::generate())
        .encrypt_path("secret", 0)
        .unwrap();
    for bad in ["README.md", "", "AAAA", other.as_str(), "not base64!"] {
        match c.decrypt_path(bad) {
            Err(NameError::Foreign { component }) => assert_eq!(component, bad),
            Err(NameError::Empty { .. }) => assert!(bad.is_empty()),
            other => panic!("{bad:?}: {other:?}"),
        }
    }
    // A valid component moved under another folder no longer decrypts.
    let a = c.encrypt_path("x/file", 0).unwrap();
    let moved = format!(
        "{}/{}",
        c.encrypt_path("y", 0).unwrap(),
        a.split('/').nth(1).unwrap()
    );
    assert!(matches!(
        c.decrypt_path(&moved),
        Err(NameError::Foreign { .. })
    ));
    let e = c.decrypt_path("x/README.md").unwrap_err().to_string();
    assert!(e.contains("\"x\""), "{e}");
    assert!(matches!(
        c.encrypt_path("a//b", 0),
        Err(NameError::Empty { .. })
    ));
}

proptest! {
    #[test]
    fn paths_round_trip(parts in prop::collection::vec("[^/\u{0}]{1,40}", 1..6)) {
        let c = cipher();
        let path = parts.join("/");
        let enc = c.encrypt_path(&path, 0).unwrap();
        prop_assert_eq!(enc.split('/').count(), parts.len());
        for (e, p) in enc.split('/').zip(&parts) {
            prop_assert_eq!(e.len(), encrypted_component_len(p.len()));
        }
        prop_assert_eq!(c.decrypt_path(&enc).unwrap(), path);
    }
}

/// Through a pair's prefix, as the engine uses the cipher: every key encrypted, folders and
/// trash copies too, errors in the names' own words, foreign keys refused.
#[test]
fn a_prefix_with_the_cipher() {
    use pail_core::{NameError as Core, RelPath, RemotePrefix};
    let p = RemotePrefix::new("photos")
        .unwrap()
        .with_names(std::sync::Arc::new(cipher()));
    let path = RelPath::new("2026/summer/beach.jpg").unwrap();
    let key = p.key_for(&path).unwrap();
    assert!(key.starts_with("photos/"));
    for seg in key["photos/".len()..].split('/') {
        assert!(
            seg.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
            "{seg}"
        );
    }
    assert!(!key.contains("beach") && !key.contains("2026"), "{key}");
    assert_eq!(p.path_for(&key).unwrap(), Some(path.clone()));
    assert!(key.starts_with(&p.dir_key(&RelPath::new("2026/summer").unwrap()).unwrap()));
    assert_eq!(p.path_for("photos/beach.jpg"), Err(Core::NotEncrypted));

    let long = RelPath::new(&"n".repeat(176)).unwrap();
    match p.key_for(&long) {
        Err(e @ Core::EncryptedSegmentTooLong { .. }) => {
            let msg = e.to_string();
            assert!(msg.contains("176 bytes") && msg.contains("175"), "{msg}");
        }
        other => panic!("{other:?}"),
    }
    assert!(p.key_for(&RelPath::new(&"n".repeat(175)).unwrap()).is_ok());
    // What pail names itself (conflict copies) is cut to what fits.
    assert_eq!(p.max_segment(), 175);
    assert_eq!(RemotePrefix::new("photos").unwrap().max_segment(), 255);
    let deep = RelPath::new(&vec!["d".repeat(100); 7].join("/")).unwrap();
    assert!(matches!(
        p.key_for(&deep),
        Err(Core::EncryptedKeyTooLong(n)) if n > 1024
    ));
}
