//! The bucket as the torture tests see it, for plain and end-to-end encrypted pairs alike
//! (issue 15): the checks compare the files' plaintext, so on an encrypted prefix every object
//! is opened with the prefix's key (taken from the first device's key file), and "another
//! client" is one that holds the key and writes objects as pail's format requires
//! (doc/ENCRYPTION.md): age ciphertext, the keyed hash in `pail-blake3`, the binding tag in
//! `pail-bind`. Without the key no client can write an object an encrypted pair accepts.
//! With encrypted names the keys are the paths' encrypted components: the bucket maps them
//! both ways with the prefix's name cipher, and checks that no name of the run reaches it in
//! plaintext.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

use aws_sdk_s3::primitives::ByteStream;
use pail_crypt::names::MAX_PLAIN_COMPONENT;
use pail_crypt::{NameCipher, PrefixKey};

use super::model::{Digest, digest};
use crate::encrypted::{PASSPHRASE, init_encrypted, key_file};
use crate::encrypted_names::init_with;
use crate::harness::*;

/// What every object of an encrypted pair starts with.
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// Name segments shorter than this are not looked for in the bucket: they could turn up by
/// chance inside base64.
const MIN_WORD: usize = 4;

/// The kind of pair a torture test runs on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Plain,
    /// `--encrypt`: contents encrypted, names plain.
    Encrypted,
    /// `--encrypt --encrypt-names`: names encrypted too.
    EncryptedNames,
}

impl Mode {
    pub fn encrypted(self) -> bool {
        self != Mode::Plain
    }

    /// What the messages of a run say after the server's name.
    pub fn label(self) -> &'static str {
        match self {
            Mode::Plain => "",
            Mode::Encrypted => ", encrypted",
            Mode::EncryptedNames => ", encrypted names",
        }
    }

    /// What a run's prefix ends with.
    pub fn tag(self) -> &'static str {
        match self {
            Mode::Plain => "",
            Mode::Encrypted => "-enc",
            Mode::EncryptedNames => "-encn",
        }
    }
}

/// A device of a torture run, reaching the server through `via` (a fault proxy) if given: a
/// plain pair, or one on an encrypted prefix (the first device makes the prefix's key, the
/// others join it with the passphrase).
pub fn device(r: &Remote, name: &str, mode: Mode, via: Option<&str>) -> Device {
    if mode == Mode::Plain {
        return match via {
            Some(endpoint) => Device::new_via(r, name, endpoint),
            None => Device::new(r, name),
        };
    }
    let mut d = Device::uninit(r, name);
    if let Some(endpoint) = via {
        d.endpoint = endpoint.to_owned();
    }
    let what = format!("init {:?} on {name}", mode);
    if mode == Mode::EncryptedNames {
        let out = init_with(&d, true);
        assert_ok(&out, &what);
        assert!(text(&out).contains("names too"), "{what}:\n{}", text(&out));
    } else {
        assert_ok(&init_encrypted(&d, PASSPHRASE), &what);
    }
    d
}

/// A torture run's prefix, read (and written, as another client) in plaintext.
pub struct Bucket {
    pub r: Remote,
    /// The prefix's key, on an encrypted prefix.
    key: Option<PrefixKey>,
    /// The prefix's name cipher, with encrypted names.
    names: Option<NameCipher>,
}

impl Bucket {
    /// The bucket side of `r`; on an encrypted prefix, with the key of `first`, a device
    /// already paired with it.
    pub fn new(r: &Remote, mode: Mode, first: &Device) -> Bucket {
        let key = mode.encrypted().then(|| {
            let path = key_file(first);
            let secret = std::fs::read_to_string(&path).unwrap();
            PrefixKey::from_secret(&secret, &path.display().to_string())
                .unwrap_or_else(|e| panic!("{e}"))
        });
        let names = match (&key, mode) {
            (Some(k), Mode::EncryptedNames) => Some(NameCipher::new(k)),
            _ => None,
        };
        Bucket {
            r: r.clone(),
            key,
            names,
        }
    }

    /// The bucket side of a plain pair on `r`.
    pub fn plain(r: &Remote) -> Bucket {
        Bucket {
            r: r.clone(),
            key: None,
            names: None,
        }
    }

    /// The key (after `PREFIX/`) of the file at `path`.
    fn rel_key(&self, path: &str) -> String {
        match &self.names {
            None => path.to_owned(),
            Some(n) => n
                .encrypt_path(path, 0)
                .unwrap_or_else(|e| panic!("the test's own path: {e}")),
        }
    }

    /// The path of the file at `rel_key` (after `PREFIX/`); `None` if it is no name encrypted
    /// with the prefix's key.
    fn path_of(&self, rel_key: &str) -> Option<String> {
        match &self.names {
            None => Some(rel_key.to_owned()),
            Some(n) => n.decrypt_path(rel_key).ok(),
        }
    }

    /// The plaintext of an object's body (as it is, on a plain prefix); `None` if it does not
    /// decrypt.
    fn open(&self, object: &str, body: &[u8]) -> Option<Vec<u8>> {
        match &self.key {
            None => Some(body.to_vec()),
            Some(key) => {
                let mut plain = Vec::new();
                pail_crypt::content::decrypt(key, object, body, &mut plain).ok()?;
                Some(plain)
            }
        }
    }

    /// Current objects under the prefix, pail's `.pail/` excluded: path -> the file's content,
    /// decrypted on an encrypted prefix. An object (or a key) that does not decrypt is given as
    /// it is, so that it differs from every folder's file (and [`Bucket::sealed`] says why).
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        self.r
            .files()
            .into_iter()
            .map(|(rel, body)| {
                let plain = self.open(&self.r.key(&rel), &body).unwrap_or(body);
                (self.path_of(&rel).unwrap_or(rel), plain)
            })
            .collect()
    }

    /// Deletes the file at `rel` as another client.
    pub fn delete(&self, rel: &str) {
        self.r.delete_foreign(&self.rel_key(rel));
    }

    /// Writes `body` at `rel` as another client: on an encrypted prefix, one with the key
    /// (another device whose journal entry never came), so the object is pail's format, at
    /// the key of `rel`'s encrypted name with encrypted names.
    pub fn put(&self, rel: &str, body: &[u8]) {
        let Some(key) = &self.key else {
            self.r.put_foreign(rel, body);
            return;
        };
        let mut object = Vec::new();
        pail_crypt::EncryptingReader::new(key, body, body.len() as u64)
            .read_to_end(&mut object)
            .unwrap();
        let hash = key.content_hash(body);
        let meta = HashMap::from([
            ("pail-blake3".to_owned(), hash.to_hex()),
            ("pail-bind".to_owned(), key.binding_tag(rel, &hash)),
        ]);
        let c = self.r.server.client();
        let k = self.r.key(&self.rel_key(rel));
        rt().block_on(async {
            c.put_object()
                .bucket(&self.r.server.bucket)
                .key(&k)
                .body(ByteStream::from(object))
                .set_metadata(Some(meta))
                .send()
                .await
        })
        .unwrap_or_else(|e| panic!("put {k}: {e:?}"));
    }

    /// An object's body and user metadata; `None` if it is gone since the listing.
    fn get(&self, object: &str) -> Option<(Vec<u8>, HashMap<String, String>)> {
        let c = self.r.server.client();
        rt().block_on(async {
            let o = c
                .get_object()
                .bucket(&self.r.server.bucket)
                .key(object)
                .send()
                .await
                .ok()?;
            let meta = o.metadata().cloned().unwrap_or_default();
            Some((o.body.collect().await.unwrap().into_bytes().to_vec(), meta))
        })
    }

    /// On an encrypted prefix, what breaks the promise that the bucket holds no plaintext:
    /// every current object under the prefix (pail's own journal and marker aside, its trash
    /// copies included) must be age ciphertext that decrypts with the key, and a file's object
    /// must carry the binding tag of its own path. With encrypted names, also: every component
    /// of a file's key and of a trash copy's path is base64url and the whole decrypts to a
    /// path, and no key under the prefix nor any journal entry's body holds a name segment
    /// (of [`MIN_WORD`] bytes or more) of `paths`, every path the run created. Nothing to
    /// check on a plain prefix.
    pub fn sealed<'a>(&self, paths: impl IntoIterator<Item = &'a String>) -> Vec<String> {
        let Some(key) = &self.key else {
            return Vec::new();
        };
        let mut problems = Vec::new();
        let mut words = BTreeSet::new();
        if self.names.is_some() {
            for seg in paths.into_iter().flat_map(|p| p.split('/')) {
                if seg.len() > MAX_PLAIN_COMPONENT {
                    problems.push(format!(
                        "the test made the name {seg:?} of {} bytes, over the {MAX_PLAIN_COMPONENT} \
                         an encrypted name can have: its ops must stay within the limit",
                        seg.len()
                    ));
                }
                if seg.len() >= MIN_WORD {
                    words.insert(seg.to_owned());
                }
            }
        }
        let lp = format!("{}/", self.r.prefix);
        for object in self.r.keys_under("") {
            let rel = object.strip_prefix(&lp).unwrap().to_owned();
            for w in words.iter().filter(|w| rel.contains(w.as_str())) {
                problems.push(format!("{rel}: the key holds the name {w:?} in plaintext"));
            }
            let trash = rel.strip_prefix(".pail/trash/");
            if rel.starts_with(".pail/") && trash.is_none() {
                if !words.is_empty() && rel.starts_with(".pail/journal/") {
                    let body = self.get(&object).map(|(b, _)| b).unwrap_or_default();
                    let body = String::from_utf8_lossy(&body);
                    for w in words.iter().filter(|w| body.contains(w.as_str())) {
                        problems.push(format!(
                            "{rel}: the journal entry holds the name {w:?} in plaintext: {body}"
                        ));
                    }
                }
                continue;
            }
            // The file's path: its key, or a trash copy's key without `<stamp>-<device>`.
            let stored = trash.map_or(rel.as_str(), |t| t.rsplit_once('/').map_or(t, |p| p.0));
            if self.names.is_some()
                && !stored.split('/').all(|seg| {
                    !seg.is_empty()
                        && seg
                            .bytes()
                            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
                })
            {
                problems.push(format!("{rel}: a component of the key is not base64url"));
                continue;
            }
            let Some(path) = self.path_of(stored) else {
                problems.push(format!("{rel}: not a name encrypted with the prefix's key"));
                continue;
            };
            // Deleted since the listing: nothing left to check.
            let Some((body, meta)) = self.get(&object) else {
                continue;
            };
            if !body.starts_with(AGE_MAGIC) {
                problems.push(format!("{rel}: not age ciphertext in the bucket"));
                continue;
            }
            let mut plain = Vec::new();
            let decrypted = match pail_crypt::content::decrypt(key, &object, &body[..], &mut plain)
            {
                Ok(d) => d,
                Err(e) => {
                    problems.push(format!("{rel}: does not decrypt: {e}"));
                    continue;
                }
            };
            let tag = meta.get("pail-bind").map(String::as_str);
            if trash.is_none()
                && pail_crypt::content::check_binding(key, &object, &path, &decrypted.hash, tag)
                    .is_err()
            {
                problems.push(format!(
                    "{rel} ({path}): its binding tag is not that of its path"
                ));
            }
        }
        problems
    }

    /// The hash of every content the bucket holds under the prefix, decrypted on an encrypted
    /// prefix: every version of every key (or, without versioning, the current objects, trash
    /// included).
    pub fn contents(&self) -> BTreeSet<Digest> {
        let r = &self.r;
        let c = r.server.client();
        let bucket = r.server.bucket.clone();
        let prefix = format!("{}/", r.prefix);
        let versioned = r.server.versioned;
        rt().block_on(async move {
            let mut ids: Vec<(String, Option<String>)> = Vec::new();
            if versioned {
                let (mut km, mut vm) = (None::<String>, None::<String>);
                loop {
                    let page = c
                        .list_object_versions()
                        .bucket(&bucket)
                        .prefix(&prefix)
                        .set_key_marker(km.clone())
                        .set_version_id_marker(vm.clone())
                        .send()
                        .await
                        .unwrap();
                    for v in page.versions() {
                        ids.push((
                            v.key().unwrap().to_owned(),
                            v.version_id().map(String::from),
                        ));
                    }
                    if page.is_truncated() != Some(true) {
                        break;
                    }
                    km = page.next_key_marker().map(String::from);
                    vm = page.next_version_id_marker().map(String::from);
                }
            } else {
                let mut pages = c
                    .list_objects_v2()
                    .bucket(&bucket)
                    .prefix(&prefix)
                    .into_paginator()
                    .send();
                while let Some(p) = pages.next().await {
                    for o in p.unwrap().contents() {
                        ids.push((o.key().unwrap().to_owned(), None));
                    }
                }
            }
            let mut out = BTreeSet::new();
            for (key, version) in ids {
                let o = c
                    .get_object()
                    .bucket(&bucket)
                    .key(&key)
                    .set_version_id(version)
                    .send()
                    .await
                    .unwrap_or_else(|e| panic!("get {key}: {e:?}"));
                let body = o.body.collect().await.unwrap().into_bytes();
                // One body at a time (versions of 12 MiB files add up). pail's own records
                // (journal, marker) are no file's content on an encrypted prefix, nor is an
                // object that does not decrypt.
                if let Some(plain) = self.open(&key, &body) {
                    out.insert(digest(&plain));
                }
            }
            out
        })
    }
}

/// The names check finds what it looks for: a name in plaintext in a key, a trash key or a
/// journal entry, and a key that is no encrypted name, are each reported; a synced pair with
/// encrypted names is clean, and its bucket's files are the folder's.
fn sealed_finds_plaintext_names(s: Server) {
    let r = Remote::new(&s, "torture-sealed-encn");
    let a = device(&r, "alpha", Mode::EncryptedNames, None);
    let bucket = Bucket::new(&r, Mode::EncryptedNames, &a);
    a.write("secret/plans.txt", b"plans");
    bucket.put("from/another device.txt", b"with the key");
    a.sync();
    assert_eq!(bucket.files(), a.files());
    assert_eq!(a.read("from/another device.txt").unwrap(), b"with the key");
    let paths: BTreeSet<String> = ["secret/plans.txt", "from/another device.txt"]
        .map(String::from)
        .into();
    assert_eq!(bucket.sealed(&paths), Vec::<String>::new());

    r.put_foreign(
        ".pail/journal/20260101T000000.000Z-mallory-1",
        br#"{"paths":["secret/plans.txt"]}"#,
    );
    r.put_foreign(
        ".pail/trash/plans.txt/20260101T000000.000000Z-mallory",
        b"x",
    );
    r.put_foreign("not-a-name", b"x");
    let problems = bucket.sealed(&paths);
    let found = |what: &str| problems.iter().any(|p| p.contains(what));
    assert!(
        found("the journal entry holds the name \"plans.txt\" in plaintext")
            && found("the journal entry holds the name \"secret\" in plaintext")
            && found("the key holds the name \"plans.txt\" in plaintext")
            && found(
                "plans.txt/20260101T000000.000000Z-mallory: a component of the key is not base64url"
            )
            && found("not-a-name: not a name encrypted with the prefix's key"),
        "{problems:#?}"
    );
}
crate::on_servers!(sealed_finds_plaintext_names: moto);
