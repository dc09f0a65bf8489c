//! The bucket as the torture tests see it, for plain and end-to-end encrypted pairs alike
//! (issue 15): the checks compare the files' plaintext, so on an encrypted prefix every object
//! is opened with the prefix's key (taken from the first device's key file), and "another
//! client" is one that holds the key and writes objects as pail's format requires
//! (doc/ENCRYPTION.md): age ciphertext, the keyed hash in `pail-blake3`, the binding tag in
//! `pail-bind`. Without the key no client can write an object an encrypted pair accepts.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::io::Read;

use aws_sdk_s3::primitives::ByteStream;
use pail_crypt::PrefixKey;

use super::model::{Digest, digest};
use crate::encrypted::{PASSPHRASE, init_encrypted, key_file};
use crate::harness::*;

/// What every object of an encrypted pair starts with.
const AGE_MAGIC: &[u8] = b"age-encryption.org/v1\n";

/// A device of a torture run, reaching the server through `via` (a fault proxy) if given: a
/// plain pair, or one on an encrypted prefix (the first device makes the prefix's key, the
/// others join it with the passphrase).
pub fn device(r: &Remote, name: &str, encrypted: bool, via: Option<&str>) -> Device {
    if !encrypted {
        return match via {
            Some(endpoint) => Device::new_via(r, name, endpoint),
            None => Device::new(r, name),
        };
    }
    let mut d = Device::uninit(r, name);
    if let Some(endpoint) = via {
        d.endpoint = endpoint.to_owned();
    }
    assert_ok(
        &init_encrypted(&d, PASSPHRASE),
        &format!("init --encrypt on {name}"),
    );
    d
}

/// `", encrypted"` for the messages of an encrypted run.
pub fn mode(encrypted: bool) -> &'static str {
    if encrypted { ", encrypted" } else { "" }
}

/// A torture run's prefix, read (and written, as another client) in plaintext.
pub struct Bucket {
    pub r: Remote,
    /// The prefix's key, on an encrypted prefix.
    key: Option<PrefixKey>,
}

impl Bucket {
    /// The bucket side of `r`; on an encrypted prefix, with the key of `first`, a device
    /// already paired with it.
    pub fn new(r: &Remote, encrypted: bool, first: &Device) -> Bucket {
        let key = encrypted.then(|| {
            let path = key_file(first);
            let secret = std::fs::read_to_string(&path).unwrap();
            PrefixKey::from_secret(&secret, &path.display().to_string())
                .unwrap_or_else(|e| panic!("{e}"))
        });
        Bucket { r: r.clone(), key }
    }

    /// The bucket side of a plain pair on `r`.
    pub fn plain(r: &Remote) -> Bucket {
        Bucket {
            r: r.clone(),
            key: None,
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

    /// Current objects under the prefix, pail's `.pail/` excluded: relative key -> the file's
    /// content, decrypted on an encrypted prefix. An object that does not decrypt is given as
    /// it is, so that it differs from every folder's file (and [`Bucket::sealed`] says why).
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        self.r
            .files()
            .into_iter()
            .map(|(rel, body)| {
                let plain = self.open(&self.r.key(&rel), &body).unwrap_or(body);
                (rel, plain)
            })
            .collect()
    }

    /// Writes `body` at `rel` as another client: on an encrypted prefix, one with the key
    /// (another device whose journal entry never came), so the object is pail's format.
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
        let k = self.r.key(rel);
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

    /// On an encrypted prefix, what breaks the promise that the bucket holds no plaintext:
    /// every current object under the prefix (pail's own journal and marker aside, its trash
    /// copies included) must be age ciphertext that decrypts with the key, and a file's object
    /// must carry the binding tag of its own path. Nothing to check on a plain prefix.
    pub fn sealed(&self) -> Vec<String> {
        let Some(key) = &self.key else {
            return Vec::new();
        };
        let c = self.r.server.client();
        let lp = format!("{}/", self.r.prefix);
        let mut problems = Vec::new();
        for object in self.r.keys_under("") {
            let rel = object.strip_prefix(&lp).unwrap().to_owned();
            let trash = rel.starts_with(".pail/trash/");
            if rel.starts_with(".pail/") && !trash {
                continue;
            }
            let got = rt().block_on(async {
                let o = c
                    .get_object()
                    .bucket(&self.r.server.bucket)
                    .key(&object)
                    .send()
                    .await
                    .ok()?;
                let meta = o.metadata().cloned().unwrap_or_default();
                Some((o.body.collect().await.unwrap().into_bytes().to_vec(), meta))
            });
            // Deleted since the listing: nothing left to check.
            let Some((body, meta)) = got else { continue };
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
            if !trash
                && pail_crypt::content::check_binding(key, &object, &rel, &decrypted.hash, tag)
                    .is_err()
            {
                problems.push(format!("{rel}: its binding tag is not that of its path"));
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
