//! End-to-end encrypted pairs beside the sync (issue 15, stage 2): `pail key export` and
//! `pail key passphrase`, history with the files' sizes, restores and undeletes that decrypt
//! and check the binding tag against the file's own path (versions on Ceph and moto, pail's
//! trash copies on Garage), and conflicts whose both sides survive, decrypted.

use std::process::Output;

use serde_json::Value;

use crate::encrypted::*;
use crate::harness::*;
use crate::on_servers;
use crate::versions::moment;

const NEW_PASSPHRASE: &str = "a new and longer passphrase for the key";

fn ok(d: &Device, args: &[&str]) -> String {
    let out = d.pail(args);
    assert_ok(&out, &format!("{args:?}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn change_passphrase(d: &Device, old: &str, new: &str) -> Output {
    d.command(&["key", "passphrase"])
        .env("PAIL_PASSPHRASE", old)
        .env("PAIL_NEW_PASSPHRASE", new)
        .output()
        .expect("run pail")
}

/// `age -d -i KEY` of the object at `rel`.
fn stock_age_decrypts(r: &Remote, rel: &str, key: &std::path::Path) -> Vec<u8> {
    age_decrypts(&object(r, rel).0, key)
}

fn key_export_and_passphrase_change(s: Server) {
    let r = Remote::new(&s, "enc-key");
    let a = encrypted_device(&r, "alpha");
    a.write("f.txt", b"read with the exported key");
    a.sync();

    // The export decrypts objects with the stock age, and warns.
    let out = a.pail(&["key", "export"]);
    assert_ok(&out, "key export");
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(stdout.contains("\nAGE-SECRET-KEY-1"), "{}", text(&out));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("whoever has it can read everything"),
        "{}",
        text(&out)
    );
    let exported = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(exported.path(), &stdout).unwrap();
    assert_eq!(
        stock_age_decrypts(&r, "f.txt", exported.path()),
        b"read with the exported key"
    );
    let by_folder = a.pail(&["key", "export", "--folder", a.folder.to_str().unwrap()]);
    assert_ok(&by_folder, "key export --folder");
    assert_eq!(by_folder.stdout, out.stdout);

    // A plain pair has no key to export.
    let plain = Device::new(&Remote::new(&s, "enc-key-plain"), "plain");
    let out = plain.pail(&["key", "export", "--folder", plain.folder.to_str().unwrap()]);
    assert_code(&out, 1, "key export on a plain pair");
    assert!(
        text(&out).contains("is not end-to-end encrypted"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("AGE-SECRET-KEY"), "{}", text(&out));

    // A wrong old passphrase changes nothing.
    let marker_before = object(&r, ".pail/encryption.toml").0;
    let out = change_passphrase(&a, "not the passphrase", NEW_PASSPHRASE);
    assert_code(&out, 1, "key passphrase with a wrong old one");
    assert!(text(&out).contains("wrong passphrase"), "{}", text(&out));
    assert_eq!(object(&r, ".pail/encryption.toml").0, marker_before);

    let out = change_passphrase(&a, PASSPHRASE, NEW_PASSPHRASE);
    assert_ok(&out, "key passphrase");
    assert!(
        text(&out).contains("changed the passphrase"),
        "{}",
        text(&out)
    );
    let marker_after = String::from_utf8(object(&r, ".pail/encryption.toml").0).unwrap();
    let recipient = |m: &str| {
        m.lines()
            .find(|l| l.starts_with("recipient"))
            .unwrap()
            .to_owned()
    };
    assert_eq!(
        recipient(&marker_after),
        recipient(&String::from_utf8(marker_before).unwrap()),
        "the same key"
    );
    if s.versioned {
        // The older version wraps the key under the old passphrase: gone.
        assert_eq!(r.version_count(".pail/encryption.toml"), 1);
    }

    // A new device joins with the new passphrase only.
    let late = Device::uninit(&r, "late");
    let out = init_encrypted(&late, PASSPHRASE);
    assert_code(&out, 1, "join with the old passphrase");
    assert!(text(&out).contains("wrong passphrase"), "{}", text(&out));
    let out = init_encrypted(&late, NEW_PASSPHRASE);
    assert_ok(&out, "join with the new passphrase");
    late.sync();
    assert_eq!(late.read("f.txt").unwrap(), b"read with the exported key");

    // The device that changed it, whose local key is the same, keeps syncing both ways.
    a.write("g.txt", b"after the change");
    a.sync();
    late.sync();
    assert_eq!(late.read("g.txt").unwrap(), b"after the change");
    late.write("h.txt", b"from the late device");
    late.sync();
    a.sync();
    assert_eq!(a.files(), late.files());
    // Nothing was re-encrypted: the exported key still reads the old object.
    assert_eq!(
        stock_age_decrypts(&r, "f.txt", exported.path()),
        b"read with the exported key"
    );

    // A changed key file, or none: a clear refusal, never a key.
    let file = key_file(&late);
    let original = std::fs::read_to_string(&file).unwrap();
    let secret_line = original
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .unwrap();
    let last = secret_line.chars().last().unwrap();
    let changed = secret_line.replacen(last, if last == 'Q' { "P" } else { "Q" }, 1);
    std::fs::write(&file, original.replace(secret_line, &changed)).unwrap();
    let out = late.pail(&["key", "export"]);
    assert_code(&out, 1, "key export of a changed key file");
    assert!(
        text(&out).contains("is damaged or was altered"),
        "{}",
        text(&out)
    );
    assert!(!text(&out).contains("AGE-SECRET-KEY"), "{}", text(&out));
    std::fs::remove_file(&file).unwrap();
    let out = late.pail(&["key", "export"]);
    assert_code(&out, 1, "key export without a key");
    assert!(text(&out).contains("has no key for"), "{}", text(&out));
}
on_servers!(key_export_and_passphrase_change);

fn history(d: &Device, rel: &str) -> Value {
    let out = ok(d, &["history", d.path(rel).to_str().unwrap(), "--json"]);
    serde_json::from_str(&out).unwrap()
}

fn history_restore_and_undelete(s: Server) {
    let r = Remote::new(&s, "enc-restore");
    let a = encrypted_device(&r, "alpha");
    let b = encrypted_device(&r, "beta");
    let rel = "docs/notes.txt";
    for body in ["draft one", "draft two", "draft number three"] {
        a.write(rel, body.as_bytes());
        a.sync();
    }
    b.sync();

    // History shows the files' sizes, not the objects'.
    let h = history(&a, rel);
    let versions = h["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3, "{h:#}");
    let sizes: Vec<_> = versions
        .iter()
        .map(|v| v["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes, [18, 9, 9], "{h:#}");
    let oldest = versions[2]["version_id"].as_str().unwrap().to_owned();
    if !s.versioned {
        assert!(oldest.starts_with("trash:"), "{oldest}");
    }

    // A copy elsewhere: decrypted and checked against the file's own path (on Garage the
    // content comes from a trash copy under .pail/trash/, bound to docs/notes.txt).
    let elsewhere = a.folder.parent().unwrap().join("old notes.txt");
    ok(
        &a,
        &[
            "restore",
            a.path(rel).to_str().unwrap(),
            "--version",
            &oldest,
            "--to",
            elsewhere.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"draft one");

    // In place: the old object, ciphertext and tag, becomes current; both devices read it.
    ok(
        &a,
        &[
            "restore",
            a.path(rel).to_str().unwrap(),
            "--version",
            &oldest,
        ],
    );
    assert_eq!(a.read(rel).unwrap(), b"draft one");
    b.sync();
    assert_eq!(b.read(rel).unwrap(), b"draft one");

    // A folder as it was at a moment: server-side copies; a sync brings back the plaintext.
    for i in 0..3 {
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
    b.sync();
    for d in [&a, &b] {
        for i in 0..3 {
            assert_eq!(
                d.read(&format!("work/f{i}.txt")).unwrap(),
                format!("v1 of {i}").as_bytes(),
                "{} f{i}",
                d.name
            );
        }
    }

    // Undelete: from a version, or on Garage from the trash copy.
    b.remove("work/f2.txt");
    b.sync();
    a.sync();
    assert!(a.read("work/f2.txt").is_none());
    ok(&a, &["undelete", a.path("work/f2.txt").to_str().unwrap()]);
    assert_eq!(a.read("work/f2.txt").unwrap(), b"v1 of 2");
    b.sync();
    assert_eq!(b.read("work/f2.txt").unwrap(), b"v1 of 2");

    // Deleted here only: brought back from the bucket by a verified download.
    a.remove("work/f0.txt");
    ok(&a, &["undelete", a.path("work/f0.txt").to_str().unwrap()]);
    assert_eq!(a.read("work/f0.txt").unwrap(), b"v1 of 0");
    a.sync();
    b.sync();
    assert_eq!(a.files(), b.files());

    // An object of another path copied over the file's: `--to` refuses it, writes nothing.
    let (body, meta) = object(&r, "work/f1.txt");
    put_with_meta(&r, "work/f0.txt", body, meta);
    let swapped = a.folder.parent().unwrap().join("swapped.txt");
    let out = a.pail(&[
        "restore",
        a.path("work/f0.txt").to_str().unwrap(),
        "--to",
        swapped.to_str().unwrap(),
    ]);
    assert_code(&out, 1, "restore --to of a swapped object");
    assert!(
        text(&out).contains("holds content that belongs to another path"),
        "{}",
        text(&out)
    );
    assert!(swapped.symlink_metadata().is_err(), "nothing written");
    let leftovers: Vec<_> = std::fs::read_dir(a.folder.parent().unwrap())
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .filter(|n| n.contains("pail-tmp"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}
on_servers!(history_restore_and_undelete);

fn conflicting_edits_both_survive(s: Server) {
    let r = Remote::new(&s, "enc-conflict");
    let a = encrypted_device(&r, "alpha");
    a.write("x.txt", b"the base");
    a.sync();
    let b = encrypted_device(&r, "beta");
    b.sync();
    a.write("x.txt", b"edited on alpha");
    b.write("x.txt", b"edited on beta, at the same time");
    a.sync();
    b.sync();
    a.sync();
    assert_eq!(a.files(), b.files());
    let files = a.files();
    let copies = conflict_copies(&files);
    assert_eq!(copies.len(), 1, "{:?}", files.keys());
    let mut both = vec![files["x.txt"].clone(), copies[0].1.clone()];
    both.sort();
    assert_eq!(
        both,
        [
            b"edited on alpha".to_vec(),
            b"edited on beta, at the same time".to_vec()
        ]
    );
    // The copy is an encrypted object of its own, bound to its own name.
    let copy = copies[0].0.clone();
    let (stored, meta) = object(&r, &copy);
    assert_eq!(stored.len(), ciphertext_len(copies[0].1.len()));
    assert!(stored.starts_with(b"age-encryption.org/v1\n"));
    assert_eq!(meta.get("pail-bind").map(String::len), Some(64), "{meta:?}");
    assert_ne!(meta.get("pail-bind"), r.metadata("x.txt").get("pail-bind"));
    // A third device gets both, decrypted and verified.
    let c = encrypted_device(&r, "gamma");
    c.sync();
    assert_eq!(c.files(), a.files());
}
on_servers!(conflicting_edits_both_survive);
