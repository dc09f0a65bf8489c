//! What the torture tests remember and check: every content they wrote (by hash), which of
//! those must never be lost, and where a content may legitimately be found at the end.

use std::collections::{BTreeMap, BTreeSet};

use crate::harness::*;

use super::rng::Rng;

pub use super::bucket::Bucket;

/// A content's blake3 hash: the torture tests keep hashes, not bytes (files reach 12 MiB).
pub type Digest = [u8; 32];

pub fn digest(b: &[u8]) -> Digest {
    *blake3::hash(b).as_bytes()
}

/// Contents written by a test, and those of them no pail run may lose.
#[derive(Default)]
pub struct Ledger {
    counter: u64,
    /// Every content written: who wrote it where (for messages).
    pub written: BTreeMap<Digest, String>,
    /// Contents pail has seen for sure (in a folder when a sync of it ran to the end, or in
    /// the bucket): each must end up in a folder, a current object, an older version, a
    /// conflict copy or the trash.
    pub must: BTreeSet<Digest>,
}

impl Ledger {
    /// A new, unique content for `path` written by `who`: one numbered line repeated, or for
    /// `big` a 6–12 MiB body (multipart with a 5 MiB part size).
    pub fn fresh(&mut self, rng: &mut Rng, who: &str, path: &str, seed: u64, big: bool) -> Vec<u8> {
        self.counter += 1;
        let line = format!("{who} {path} #{} seed {seed}\n", self.counter);
        let c = if big {
            let size = rng.between(6 << 20, 12 << 20) as usize;
            let mut c = line.repeat(size / line.len() + 1).into_bytes();
            c.truncate(size);
            c
        } else {
            line.repeat(1 + rng.below(20)).into_bytes()
        };
        self.written.insert(
            digest(&c),
            format!("{path} as written by {who} (#{})", self.counter),
        );
        c
    }

    /// Takes every content of `files` as seen by pail.
    pub fn saw<'a>(&mut self, files: impl IntoIterator<Item = &'a Vec<u8>>) {
        self.must.extend(files.into_iter().map(|c| digest(c)));
    }

    pub fn describe(&self, d: &Digest) -> String {
        self.written
            .get(d)
            .cloned()
            .unwrap_or_else(|| "a content the test never wrote".into())
    }

    /// The contents that must be kept and are in none of `folders` nor in the bucket (any
    /// version, trash included), as messages.
    pub fn lost(&self, folders: &[&BTreeMap<String, Vec<u8>>], bucket: &Bucket) -> Vec<String> {
        let mut kept: BTreeSet<Digest> = folders
            .iter()
            .flat_map(|f| f.values())
            .map(|c| digest(c))
            .collect();
        if self.must.iter().any(|c| !kept.contains(c)) {
            kept.extend(bucket.contents());
        }
        self.must
            .difference(&kept)
            .map(|c| format!("lost: {}", self.describe(c)))
            .collect()
    }

    /// Files whose content no one wrote: torn or partial files.
    pub fn torn(&self, who: &str, files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
        files
            .iter()
            .filter(|(_, c)| !self.written.contains_key(&digest(c)))
            .map(|(p, c)| format!("{who}: {p} holds {} bytes no one wrote (torn?)", c.len()))
            .collect()
    }
}

/// Leftover temp files of pail's downloads (`.NAME.pail-tmp-…`) in a folder.
pub fn temp_files(who: &str, files: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    files
        .keys()
        .filter(|k| k.contains(".pail-tmp-"))
        .map(|k| format!("{who}: leftover temp file {k}"))
        .collect()
}

/// A `pail sync --json` right after a converged one must do nothing at all.
pub fn next_pass_is_idle(d: &Device) -> Option<String> {
    let out = d.pail(&["sync", "--json"]);
    let v: serde_json::Value = match serde_json::from_slice(&out.stdout) {
        Ok(v) if out.status.success() => v,
        _ => return Some(format!("idle sync on {} failed:\n{}", d.name, text(&out))),
    };
    let t = &v["pairs"][0]["totals"];
    let busy = [
        "uploads",
        "downloads",
        "copies",
        "local_deletes",
        "remote_deletes",
        "conflicts",
    ]
    .iter()
    .any(|k| t[k].as_u64() != Some(0));
    busy.then(|| format!("the pass after convergence on {} was not idle: {t}", d.name))
}

/// Folders and bucket agree: one message per device whose files differ from the bucket's.
pub fn divergence(devs: &[&Device], bucket: &BTreeMap<String, Vec<u8>>) -> Vec<String> {
    let mut out = Vec::new();
    for d in devs {
        let f = d.files();
        if &f != bucket {
            let mine: BTreeSet<&String> = f.keys().collect();
            let theirs: BTreeSet<&String> = bucket.keys().collect();
            let differ: Vec<&String> = mine
                .intersection(&theirs)
                .filter(|k| f[**k] != bucket[**k])
                .copied()
                .collect();
            out.push(format!(
                "not converged: {} only in folder {:?}, only in bucket {:?}, content differs {:?}",
                d.name,
                mine.difference(&theirs).collect::<Vec<_>>(),
                theirs.difference(&mine).collect::<Vec<_>>(),
                differ
            ));
        }
    }
    out
}

/// Where a conflict copy came from: `a (conflict from b 2026-01-01 000000).txt` -> `a.txt`,
/// also when a counter made the name unique: `a (conflict from b ...) 2.txt` -> `a.txt`.
pub fn original_of(copy: &str) -> Option<String> {
    let at = copy.find(" (conflict from ")?;
    let close = at + copy[at..].find(')')?;
    let mut rest = &copy[close + 1..];
    if let Some(counted) = rest.strip_prefix(' ') {
        let digits = counted
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(counted.len());
        if digits > 0 {
            rest = &counted[digits..];
        }
    }
    Some(format!("{}{rest}", &copy[..at]))
}

#[test]
fn conflict_copy_names_lead_back_to_their_original() {
    assert_eq!(
        original_of("sub/a (conflict from b 2026-11-30 065800).bin").as_deref(),
        Some("sub/a.bin")
    );
    assert_eq!(
        original_of("sub/a (conflict from b 2026-11-30 065800) 2.bin").as_deref(),
        Some("sub/a.bin")
    );
    assert_eq!(original_of("plain.txt"), None);
}

/// The hash of every content a plain pair's bucket holds under the prefix: every version of
/// every key (or, without versioning, the current objects, trash included).
pub fn bucket_contents(r: &Remote) -> BTreeSet<Digest> {
    Bucket::plain(r).contents()
}

/// What pail must never print: Rust Debug dumps instead of messages.
pub const DEBUG_DUMPS: [&str; 5] = [
    "{ ",
    "Error {",
    "DispatchFailure",
    "ConnectorError",
    "Some(",
];
