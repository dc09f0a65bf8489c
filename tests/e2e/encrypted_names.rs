//! Encrypted names (`pail init --encrypt --encrypt-names`, issue 15 item 4): no file or folder
//! name reaches the bucket in plaintext (keys, trash copies, journal entries), and the sync,
//! renames, conflicts, history, restores and undeletes work as on any encrypted pair. Names too
//! long once encrypted, and keys that are not names under the pair's key, are reported and
//! never stop the pair.

use std::process::Output;

use pail_crypt::{NameCipher, PrefixKey};

use crate::encrypted::*;
use crate::harness::*;
use crate::on_servers;
use crate::versions::moment;

/// `pail init --encrypt [--encrypt-names]` of `d`.
pub(crate) fn init_with(d: &Device, names: bool) -> Output {
    let extra: &[&str] = if names { &["--encrypt-names"] } else { &[] };
    init_command(d, PASSPHRASE, extra)
        .output()
        .expect("run pail")
}

fn names_device(r: &Remote, name: &str, names: bool) -> Device {
    let d = Device::uninit(r, name);
    let out = init_with(&d, names);
    assert_ok(&out, &format!("init on {name}"));
    assert!(
        text(&out).contains("end-to-end encrypted, names too"),
        "{}",
        text(&out)
    );
    d
}

/// The device's name cipher, from its key file.
fn cipher(d: &Device) -> NameCipher {
    let secret = std::fs::read_to_string(key_file(d)).unwrap();
    NameCipher::new(&PrefixKey::from_secret(&secret, "the test's key file").unwrap())
}

/// The part of `rel`'s key after `PREFIX/`.
fn enc(d: &Device, rel: &str) -> String {
    cipher(d).encrypt_path(rel, 0).unwrap()
}

fn ok(d: &Device, args: &[&str]) -> String {
    let out = d.pail(args);
    assert_ok(&out, &format!("{args:?}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Every key under the prefix, pail's own objects' bodies (journal entries, markers) and trash
/// keys included, holds none of `words`.
fn no_plaintext_names(r: &Remote, words: &[&str]) {
    let lp = format!("{}/", r.prefix);
    for key in r.keys_under("") {
        let rel = &key[lp.len()..];
        for w in words {
            assert!(!rel.contains(w), "{w:?} in the key {key:?}");
        }
        match rel.strip_prefix(".pail/") {
            Some(own) if own.starts_with("journal/") => {
                let body = String::from_utf8(object(r, rel).0).unwrap();
                for w in words {
                    assert!(
                        !body.contains(w),
                        "{w:?} in the journal entry {key}: {body}"
                    );
                }
            }
            Some(own) if own.starts_with("trash/") => {}
            Some(_) => {}
            None => {
                for seg in rel.split('/') {
                    assert!(
                        seg.bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_'),
                        "{key:?} is not an encrypted name"
                    );
                }
            }
        }
    }
}

const WORDS: &[&str] = &["Taxes", "receipt", "notes", "nïcode", "work"];

fn names_stay_encrypted_and_everything_works(s: Server) {
    let r = Remote::new(&s, "enc-names");
    let a = names_device(&r, "alpha", true);
    a.write("Taxes 2026/receipt.pdf", b"a receipt");
    a.write("Taxes 2026/notes.txt", b"notes in a folder");
    a.write("notes.txt", b"notes at the top");
    a.write("\u{fc}nïcode/ñ.txt", b"unicode");
    a.sync();

    // Joining with --encrypt alone: the prefix's marker says the names are encrypted.
    let b = names_device(&r, "beta", false);
    b.sync();
    assert_eq!(a.files(), b.files());
    let in_bucket = r.files();
    assert_eq!(in_bucket.len(), 4, "{:?}", in_bucket.keys());
    // The same name in two folders encrypts differently.
    let top = enc(&a, "notes.txt");
    let inner = enc(&a, "Taxes 2026/notes.txt");
    assert_ne!(top, inner.rsplit('/').next().unwrap());
    assert!(inner.starts_with(&format!("{}/", enc(&a, "Taxes 2026"))));
    let plain = age_decrypts(&in_bucket[&inner], &key_file(&a));
    assert_eq!(plain, b"notes in a folder");

    // Edits, a rename and a delete, the other way.
    b.write("notes.txt", b"notes at the top, edited on beta");
    std::fs::rename(
        b.path("Taxes 2026/receipt.pdf"),
        b.path("Taxes 2026/2026 receipt.pdf"),
    )
    .unwrap();
    b.remove("\u{fc}nïcode/ñ.txt");
    b.sync();
    a.sync();
    assert_eq!(a.files(), b.files());
    assert_eq!(a.read("Taxes 2026/2026 receipt.pdf").unwrap(), b"a receipt");
    assert!(a.read("\u{fc}nïcode/ñ.txt").is_none());

    // A conflict: both sides survive, the copy's name encrypted like any other.
    a.write("notes.txt", b"alpha's edit");
    b.write("notes.txt", b"beta's edit");
    a.sync();
    b.sync();
    a.sync();
    assert_eq!(a.files(), b.files());
    let copies = conflict_copies(&a.files()).len();
    assert_eq!(copies, 1, "{:?}", a.files().keys());

    // History and a restore elsewhere, by path (on Garage from trash copies).
    let out = ok(
        &a,
        &["history", a.path("notes.txt").to_str().unwrap(), "--json"],
    );
    let h: serde_json::Value = serde_json::from_str(&out).unwrap();
    let versions = h["versions"].as_array().unwrap();
    assert!(versions.len() >= 3, "{h:#}");
    let oldest = versions.last().unwrap()["version_id"].as_str().unwrap();
    let elsewhere = a.folder.parent().unwrap().join("old notes.txt");
    ok(
        &a,
        &[
            "restore",
            a.path("notes.txt").to_str().unwrap(),
            "--version",
            oldest,
            "--to",
            elsewhere.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"notes at the top");

    // A folder as it was, and an undelete: both find the folder's keys by its encrypted name.
    for i in 0..2 {
        a.write(&format!("work/f{i}.txt"), format!("v1 of {i}").as_bytes());
    }
    a.sync();
    let t = moment();
    a.write("work/f0.txt", b"v2 of 0, longer than before");
    a.remove("work/f1.txt");
    a.sync();
    let out = ok(
        &a,
        &["restore", a.path("work").to_str().unwrap(), "--at", &t],
    );
    assert!(out.contains("2 restored"), "{out}");
    assert_eq!(a.read("work/f0.txt").unwrap(), b"v1 of 0");
    assert_eq!(a.read("work/f1.txt").unwrap(), b"v1 of 1");
    a.remove("work/f1.txt");
    a.sync();
    ok(&a, &["undelete", a.path("work/f1.txt").to_str().unwrap()]);
    assert_eq!(a.read("work/f1.txt").unwrap(), b"v1 of 1");
    a.sync();
    b.sync();
    assert_eq!(a.files(), b.files());
    // Another sync has nothing to do.
    let out = a.sync();
    assert_ok(&out, "a sync with nothing to do");

    if !s.versioned {
        assert!(
            !r.keys_under(".pail/trash/").is_empty(),
            "Garage keeps trash copies"
        );
    }
    no_plaintext_names(&r, WORDS);
}
on_servers!(names_stay_encrypted_and_everything_works);

/// `pail doctor --json`'s end-to-end encryption check of `d`'s pair.
fn doctor_check(d: &Device) -> serde_json::Value {
    let doc: serde_json::Value =
        serde_json::from_slice(&d.pail(&["doctor", "--json"]).stdout).unwrap();
    doc["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == "end-to-end encryption")
        .unwrap_or_else(|| panic!("{doc:#}"))
        .clone()
}

fn long_and_foreign_names_are_reported(s: Server) {
    let r = Remote::new(&s, "enc-names-limits");
    let a = names_device(&r, "alpha", true);
    let fits = "n".repeat(175);
    let too_long = "l".repeat(176);
    a.write(&fits, b"fits");
    a.write(&too_long, b"too long once encrypted");
    a.write("ok.txt", b"fine");
    let out = a.pail(&["sync"]);
    assert_code(&out, 1, "a sync with a name too long to encrypt");
    assert!(
        text(&out).contains(&too_long) && text(&out).contains("up to 175 bytes"),
        "{}",
        text(&out)
    );
    let b = names_device(&r, "beta", false);
    b.sync();
    assert_eq!(b.read(&fits).unwrap(), b"fits");
    assert_eq!(b.read("ok.txt").unwrap(), b"fine");
    assert!(b.read(&too_long).is_none());

    // Another S3 client's plain key: reported, not downloaded, and the pair goes on.
    r.put_foreign("from-another-client.txt", b"plain");
    b.write("after.txt", b"still syncing");
    b.sync();
    let st = b.status_json();
    let skipped = st["pairs"][0]["skipped"].as_array().unwrap().clone();
    assert!(
        skipped
            .iter()
            .any(|e| e["path"] == r.key("from-another-client.txt")
                && e["reason"]
                    .as_str()
                    .is_some_and(|w| w.contains("not a name encrypted with this pair's key"))),
        "{skipped:?}"
    );
    assert!(b.read("from-another-client.txt").is_none());
    // alpha still has its name that is too long: the sync reports it again, and goes on.
    assert_code(&a.pail(&["sync"]), 1, "alpha's next sync");
    assert_eq!(a.read("after.txt").unwrap(), b"still syncing");

    // A conflict on a long name: the copy pail names is cut to what encrypted names fit, so
    // both sides reach the bucket.
    let long = format!("{}.txt", "c".repeat(160));
    b.write(&long, b"first");
    b.sync();
    assert_code(
        &a.pail(&["sync"]),
        1,
        "alpha's sync (its name too long stays)",
    );
    a.write(&long, b"alpha's side");
    b.write(&long, b"beta's side");
    assert_code(&a.pail(&["sync"]), 1, "alpha's sync");
    b.sync();
    assert_code(&a.pail(&["sync"]), 1, "alpha's sync");
    let copies: Vec<_> = b
        .files()
        .into_iter()
        .filter(|(p, _)| p.contains("(conflict from"))
        .collect();
    assert_eq!(copies.len(), 1, "{:?}", b.files().keys());
    assert!(copies[0].0.len() <= 175, "{}", copies[0].0);
    assert_eq!(a.read(&copies[0].0).unwrap(), copies[0].1);

    // doctor checks the key as a sync would, and says the names are encrypted.
    let check = doctor_check(&b);
    assert_eq!(check["level"], "ok", "{check:#}");
    assert!(
        check["message"].as_str().unwrap().contains("names too"),
        "{check:#}"
    );
    std::fs::remove_file(key_file(&b)).unwrap();
    let check = doctor_check(&b);
    assert_eq!(check["level"], "problem", "{check:#}");
    assert!(
        check["message"]
            .as_str()
            .unwrap()
            .contains("has no key for it"),
        "{check:#}"
    );

    // --encrypt-names cannot join a prefix whose names are plain.
    let plain_names = Remote::new(&s, "enc-names-plain");
    encrypted_device(&plain_names, "gamma");
    let d = Device::uninit(&plain_names, "delta");
    let out = init_with(&d, true);
    assert_code(&out, 1, "--encrypt-names on a prefix with plain names");
    assert!(
        text(&out).contains("is encrypted with plain names"),
        "{}",
        text(&out)
    );
}
on_servers!(long_and_foreign_names_are_reported);
