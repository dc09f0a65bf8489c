//! End-to-end encrypted pairs (issue 15, doc/ENCRYPTION.md): devices that make and join a
//! prefix's key, objects the server cannot read (and the stock `age` can, with the key),
//! tampered or swapped objects refused and never placed, and devices without the key
//! refusing the prefix.

use std::process::Output;

use aws_sdk_s3::primitives::ByteStream;

use crate::harness::*;
use crate::on_servers;

pub(crate) const PASSPHRASE: &str = "correct horse battery staple";

/// The exact object size of a plaintext of `n` bytes (doc/ENCRYPTION.md).
pub(crate) fn ciphertext_len(n: usize) -> usize {
    168 + 16 + n + 16 * n.div_ceil(65536).max(1)
}

/// `pail init --encrypt` of `d` with `extra` flags, the passphrase in the environment: to run
/// or to spawn.
pub(crate) fn init_command(d: &Device, passphrase: &str, extra: &[&str]) -> std::process::Command {
    let s = &d.remote.server;
    let (folder, url) = (d.folder.to_str().unwrap(), d.remote.url());
    let mut args = vec![
        "init",
        folder,
        &url,
        "--endpoint",
        &d.endpoint,
        "--region",
        &s.region,
        "--device",
        &d.name,
        "--encrypt",
    ];
    args.extend_from_slice(extra);
    let mut c = d.command(&args);
    c.env("PAIL_PASSPHRASE", passphrase);
    c
}

pub(crate) fn init_encrypted(d: &Device, passphrase: &str) -> Output {
    init_command(d, passphrase, &[]).output().expect("run pail")
}

/// A device on an encrypted prefix (making its key, or joining it), with multipart uploads
/// from 5 MiB so that a small test exercises them.
pub(crate) fn encrypted_device(r: &Remote, name: &str) -> Device {
    let d = Device::uninit(r, name);
    assert_ok(
        &init_encrypted(&d, PASSPHRASE),
        &format!("init --encrypt on {name}"),
    );
    d.set_config("multipart_threshold", "5242880");
    d.set_config("part_size", "5242880");
    d
}

/// The device's key file (the file store: the tests run without a keyring).
pub(crate) fn key_file(d: &Device) -> std::path::PathBuf {
    let dir = d.state.join("keys");
    let mut found: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "age-identity"))
        .collect();
    assert_eq!(found.len(), 1, "{found:?}");
    found.pop().unwrap()
}

/// The object at `rel`, body and user metadata.
pub(crate) fn object(
    r: &Remote,
    rel: &str,
) -> (Vec<u8>, std::collections::HashMap<String, String>) {
    let c = r.server.client();
    let key = r.key(rel);
    rt().block_on(async {
        let o = c
            .get_object()
            .bucket(&r.server.bucket)
            .key(&key)
            .send()
            .await
            .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
        let meta = o.metadata().cloned().unwrap_or_default();
        (o.body.collect().await.unwrap().into_bytes().to_vec(), meta)
    })
}

/// Writes `body` at `rel` with `meta`, as someone with the bucket but not the key could.
pub(crate) fn put_with_meta(
    r: &Remote,
    rel: &str,
    body: Vec<u8>,
    meta: std::collections::HashMap<String, String>,
) {
    let c = r.server.client();
    let key = r.key(rel);
    rt().block_on(async {
        c.put_object()
            .bucket(&r.server.bucket)
            .key(&key)
            .body(ByteStream::from(body))
            .set_metadata(Some(meta))
            .send()
            .await
    })
    .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
}

/// `age -d -i KEY` of an object's bytes, with the stock tool (Debian's `age`).
pub(crate) fn age_decrypts(object: &[u8], key: &std::path::Path) -> Vec<u8> {
    let obj = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(obj.path(), object).unwrap();
    let out = std::process::Command::new("age")
        .args(["-d", "-i"])
        .arg(key)
        .arg(obj.path())
        .output()
        .expect("run age");
    assert!(
        out.status.success(),
        "age -d: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out.stdout
}

fn big_file() -> Vec<u8> {
    // Three parts of 5 MiB and some, not a multiple of age's 64 KiB chunks.
    (0..(11 << 20) + 12_345)
        .map(|i: usize| (i * 7 % 251) as u8)
        .collect()
}

fn two_devices_sync_both_ways(s: Server) {
    let r = Remote::new(&s, "enc-both-ways");
    let a = encrypted_device(&r, "alpha");
    let big = big_file();
    a.write("notes.txt", b"secret notes");
    a.write("dir/big.bin", &big);
    a.write("empty", b"");
    a.sync();
    let b = encrypted_device(&r, "beta");
    b.sync();
    assert_eq!(a.files(), b.files());

    // The bucket holds ciphertext of the exact size, with keyed hashes and binding tags.
    let in_bucket = r.files();
    assert_eq!(in_bucket.len(), 3, "{:?}", in_bucket.keys());
    for (rel, plain) in a.files() {
        let stored = &in_bucket[&rel];
        assert_eq!(stored.len(), ciphertext_len(plain.len()), "{rel}");
        assert!(stored.starts_with(b"age-encryption.org/v1\n"), "{rel}");
        if !plain.is_empty() {
            assert!(
                !stored
                    .windows(plain.len().min(12))
                    .any(|w| w == &plain[..plain.len().min(12)]),
                "{rel}: plaintext in the bucket"
            );
        }
        let meta = r.metadata(&rel);
        assert_ne!(
            meta.get("pail-blake3").map(String::as_str),
            Some(blake3::hash(&plain).to_hex().as_str()),
            "{rel}: the plain hash is in the metadata"
        );
        assert_eq!(
            meta.get("pail-bind").map(String::len),
            Some(64),
            "{rel}: {meta:?}"
        );
    }

    // The stock age decrypts an object with the device's key file.
    let plain = age_decrypts(&in_bucket["dir/big.bin"], &key_file(&a));
    assert!(plain == big, "age -d gave other bytes");

    // The other way, with an edit, a new file and a rename (a server-side copy, which must
    // carry the tag of its new path or the other device would refuse it).
    b.write("notes.txt", b"secret notes, edited on beta");
    b.write("new.txt", b"from beta");
    std::fs::rename(b.path("dir/big.bin"), b.path("moved.bin")).unwrap();
    b.sync();
    a.sync();
    assert_eq!(a.files(), b.files());
    assert_eq!(
        a.read("notes.txt").unwrap(),
        b"secret notes, edited on beta"
    );
    assert!(a.read("moved.bin").unwrap() == big);
    assert!(a.read("dir/big.bin").is_none());
    b.sync();
    assert_eq!(
        a.files(),
        r.files()
            .keys()
            .map(|k| (k.clone(), a.read(k).unwrap()))
            .collect()
    );
}
on_servers!(two_devices_sync_both_ways);

fn changed_or_swapped_objects_are_refused(s: Server) {
    let r = Remote::new(&s, "enc-tamper");
    let a = encrypted_device(&r, "alpha");
    a.write("x.txt", b"version one of x");
    a.write("y.txt", b"the content of y, bound to y");
    a.sync();
    let b = encrypted_device(&r, "beta");
    b.sync();
    a.write("x.txt", b"version two of x, to be tampered with");
    a.sync();

    // One byte flipped in the middle of the object, metadata kept.
    let (mut body, meta) = object(&r, "x.txt");
    let mid = body.len() - 20;
    body[mid] ^= 1;
    put_with_meta(&r, "x.txt", body, meta);
    let out = b.pail(&["sync"]);
    assert!(!out.status.success(), "{}", text(&out));
    let key = r.key("x.txt");
    assert!(
        text(&out).contains(&format!(
            "the object {key} was changed or damaged: not placed"
        )),
        "{}",
        text(&out)
    );
    assert_eq!(
        b.read("x.txt").unwrap(),
        b"version one of x",
        "the local file stays"
    );
    assert_eq!(
        b.files().len(),
        2,
        "no temp file left: {:?}",
        b.files().keys()
    );

    // A valid object of another path copied over x.txt, metadata and all.
    let (body, meta) = object(&r, "y.txt");
    put_with_meta(&r, "x.txt", body, meta);
    let out = b.pail(&["sync"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains(&format!(
            "the object {key} holds content that belongs to another path"
        )),
        "{}",
        text(&out)
    );
    assert_eq!(b.read("x.txt").unwrap(), b"version one of x");

    // A new device never places it either.
    let c = encrypted_device(&r, "gamma");
    let out = c.pail(&["sync"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(c.read("x.txt").is_none());
    assert_eq!(c.read("y.txt").unwrap(), b"the content of y, bound to y");
}
on_servers!(changed_or_swapped_objects_are_refused);

fn devices_without_the_key_refuse(s: Server) {
    let r = Remote::new(&s, "enc-refuse");
    let a = encrypted_device(&r, "alpha");
    a.write("f.txt", b"encrypted content");
    a.sync();

    // Plain init on the encrypted prefix.
    let plain = Device::uninit(&r, "plain");
    let out = plain.init();
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("this prefix is encrypted: run `pail init"),
        "{}",
        text(&out)
    );

    // A wrong passphrase.
    let wrong = Device::uninit(&r, "wrong");
    let out = init_encrypted(&wrong, "not the passphrase");
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("wrong passphrase"), "{}", text(&out));

    // A pair set up as plain before the prefix was encrypted: never syncs it.
    let r2 = Remote::new(&s, "enc-refuse-late");
    let early = Device::new(&r2, "early");
    let first = encrypted_device(&r2, "first");
    first.write("g.txt", b"ciphertext only");
    first.sync();
    early.write("plain.txt", b"would be plaintext beside ciphertext");
    let out = early.pail(&["sync"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("is end-to-end encrypted"),
        "{}",
        text(&out)
    );
    assert!(!r2.files().contains_key("plain.txt"));

    // The key gone from the device: refused, never plaintext.
    std::fs::remove_file(key_file(&a)).unwrap();
    a.write("later.txt", b"must not go up in plaintext");
    let out = a.pail(&["sync"]);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("has no key for it"), "{}", text(&out));
    assert!(!r.files().contains_key("later.txt"));

    // --encrypt on a prefix that already holds plain files.
    let r3 = Remote::new(&s, "enc-refuse-plain");
    let p = Device::new(&r3, "p");
    p.write("plain.txt", b"plain");
    p.sync();
    let late = Device::uninit(&r3, "late");
    let out = init_encrypted(&late, PASSPHRASE);
    assert!(!out.status.success(), "{}", text(&out));
    assert!(
        text(&out).contains("already holds unencrypted files"),
        "{}",
        text(&out)
    );
}
on_servers!(devices_without_the_key_refuse);
