//! Interop with the stock `age` tool (Debian's `age` package, Go age): pail's objects and
//! wrapped keys open without pail, and age's files open with pail-crypt. These tests fail,
//! not skip, when `age` is missing: tests/servers/install.sh installs it.

use std::io::{Cursor, Read, Write};
use std::path::Path;
use std::process::{Command, Stdio};

use pail_crypt::store::{FileStore, KeyStore};
use pail_crypt::{PrefixKey, ScryptWork, SecretString, content};

fn age(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new("age")
        .args(args)
        .current_dir(dir)
        .stdin(Stdio::null())
        .output()
        .expect("the `age` tool is not installed: apt-get install age (tests/servers/install.sh installs it)")
}

/// `age` reads passphrases from a terminal only: run it under `script`, which gives it a
/// pseudo-terminal fed from our stdin.
fn age_with_tty(cmd: &str, input: &str, dir: &Path) -> std::process::Output {
    let mut child = Command::new("script")
        .args(["-qec", cmd, "/dev/null"])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("`script` (util-linux/bsdutils) runs age on a terminal");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 7 + i / 251) as u8).collect()
}

#[test]
fn stock_age_decrypts_pails_objects() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrefixKey::generate();
    // The identity file exactly as the file store keeps it.
    let store = FileStore::new(dir.path());
    store.store("pair-1", &key).unwrap();
    let id = store.path("pair-1").unwrap();
    for n in [0usize, 1, 65_535, 65_536, 65_537, 3 * 65_536, 1_000_003] {
        let plain = pattern(n);
        let mut obj = Vec::new();
        content::EncryptingReader::new(&key, Cursor::new(plain.clone()), n as u64)
            .read_to_end(&mut obj)
            .unwrap();
        let f = dir.path().join(format!("obj-{n}.age"));
        std::fs::write(&f, &obj).unwrap();
        // To stdout: with -o, age creates no file for an empty plaintext.
        let o = age(
            &["-d", "-i", id.to_str().unwrap(), f.to_str().unwrap()],
            dir.path(),
        );
        assert!(
            o.status.success(),
            "age -d of {n} bytes: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        assert_eq!(o.stdout, plain, "age's plaintext of {n} bytes");
    }
}

#[test]
fn stock_age_refuses_a_tampered_object() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrefixKey::generate();
    let idf = dir.path().join("id");
    std::fs::write(
        &idf,
        format!(
            "{}\n",
            pail_crypt::ExposeSecret::expose_secret(&key.secret())
        ),
    )
    .unwrap();
    let mut obj = Vec::new();
    content::EncryptingReader::new(&key, Cursor::new(pattern(5000)), 5000)
        .read_to_end(&mut obj)
        .unwrap();
    obj[300] ^= 1;
    let f = dir.path().join("obj.age");
    std::fs::write(&f, &obj).unwrap();
    let o = age(
        &[
            "-d",
            "-i",
            idf.to_str().unwrap(),
            "-o",
            "out",
            f.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!o.status.success());
}

#[test]
fn pail_decrypts_stock_age_files() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrefixKey::generate();
    for n in [0usize, 10, 65_536, 200_000] {
        let plain = pattern(n);
        let p = dir.path().join(format!("plain-{n}"));
        std::fs::write(&p, &plain).unwrap();
        let f = dir.path().join(format!("obj-{n}.age"));
        let o = age(
            &[
                "-r",
                &key.recipient(),
                "-o",
                f.to_str().unwrap(),
                p.to_str().unwrap(),
            ],
            dir.path(),
        );
        assert!(
            o.status.success(),
            "age -r: {}",
            String::from_utf8_lossy(&o.stderr)
        );
        let obj = std::fs::read(&f).unwrap();
        let mut out = Vec::new();
        let d = content::decrypt(&key, "obj", &obj[..], &mut out).unwrap();
        assert_eq!(out, plain);
        assert_eq!(d.hash, key.content_hash(&plain));
    }
}

#[test]
fn stock_age_opens_the_markers_key_with_the_passphrase() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrefixKey::generate();
    let pass = SecretString::from("correct horse battery staple".to_owned());
    let wrapped = key.wrap(&pass, ScryptWork::for_tests()).unwrap();
    // As doc/ENCRYPTION.md tells people: cut the armor out of the marker, then `age -d`.
    let marker = pail_crypt::EncryptionMarker {
        format: pail_crypt::marker::FORMAT,
        scheme: pail_crypt::marker::SCHEME_AGE_X25519.into(),
        recipient: key.recipient(),
        names: pail_crypt::NameMode::Plain,
        created_by: "laptop".into(),
        created_at: "2026-11-30T10:00:00Z".into(),
        wrapped_identity: wrapped,
    };
    std::fs::write(dir.path().join("encryption.toml"), marker.to_toml()).unwrap();
    let cmd = "sed -n '/-----BEGIN AGE/,/-----END AGE/p' encryption.toml > wrapped.age && \
               age -d -o opened wrapped.age";
    let o = age_with_tty(cmd, "correct horse battery staple\n", dir.path());
    assert!(
        o.status.success(),
        "age -d: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let opened = std::fs::read_to_string(dir.path().join("opened")).unwrap();
    // What age decrypted is an identity file: the same key.
    let again = PrefixKey::from_secret(&opened, "opened").unwrap();
    assert_eq!(again.recipient(), key.recipient());
    assert!(opened.contains(&key.recipient()));
}

#[test]
fn pail_opens_a_key_wrapped_by_stock_age() {
    let dir = tempfile::tempdir().unwrap();
    let key = PrefixKey::generate();
    std::fs::write(
        dir.path().join("id"),
        format!(
            "{}\n",
            pail_crypt::ExposeSecret::expose_secret(&key.secret())
        ),
    )
    .unwrap();
    // age asks twice (passphrase, then confirmation).
    let o = age_with_tty(
        "age -p -a -o wrapped.age id",
        "open sesame\nopen sesame\n",
        dir.path(),
    );
    assert!(
        o.status.success(),
        "age -p: {}",
        String::from_utf8_lossy(&o.stdout)
    );
    let wrapped = std::fs::read_to_string(dir.path().join("wrapped.age")).unwrap();
    let pass = SecretString::from("open sesame".to_owned());
    // age picks its own work factor (about a second): accept age's default ceiling.
    let opened = PrefixKey::unwrap(&wrapped, &pass, ScryptWork::default(), "w").unwrap();
    assert_eq!(opened.recipient(), key.recipient());
    let wrong = SecretString::from("open sesame!".to_owned());
    assert!(matches!(
        PrefixKey::unwrap(&wrapped, &wrong, ScryptWork::default(), "w"),
        Err(pail_crypt::KeyError::WrongPassphrase)
    ));
}
