//! Hostile names from another S3 client: keys that climb out (`..`, absolute), empty and `.`
//! segments, NUL, over-long segments and keys, invalid UTF-8, control characters, a key below
//! a local symlink to a sentinel folder, folder markers and an ignore file with a bad line.
//! pail writes nothing outside the folder (the sentinel beside it stays byte-for-byte the
//! same), deletes none of those objects, still syncs the other files both ways in the same
//! pass, reports the odd keys and prints no raw control character (tenets 9, 13, 14).

use std::collections::BTreeMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

use aws_sdk_s3::config::interceptors::BeforeTransmitInterceptorContextMut;
use aws_sdk_s3::config::{ConfigBag, Intercept, RuntimeComponents};
use aws_sdk_s3::error::BoxError;
use aws_sdk_s3::primitives::ByteStream;

use super::model::DEBUG_DUMPS;
use super::rng::seed;
use crate::harness::*;
use crate::on_servers;

/// Everything under `root`, without following symlinks: path -> type, mode, size and
/// content hash (files) or target (symlinks).
fn tree(root: &Path, skip: &[&str]) -> BTreeMap<String, String> {
    fn walk(root: &Path, dir: &Path, skip: &[&str], out: &mut BTreeMap<String, String>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            if skip.contains(&rel.as_str()) {
                continue;
            }
            let m = std::fs::symlink_metadata(&p).unwrap();
            let mode = m.permissions().mode();
            let what = if m.is_symlink() {
                format!("link -> {}", std::fs::read_link(&p).unwrap().display())
            } else if m.is_dir() {
                walk(root, &p, skip, out);
                format!("dir {mode:o}")
            } else {
                let hash = blake3::hash(&std::fs::read(&p).unwrap());
                format!("file {mode:o} {} bytes {hash} mtime {}", m.len(), m.mtime())
            };
            out.insert(rel, what);
        }
    }
    let mut out = BTreeMap::new();
    walk(root, root, skip, &mut out);
    out
}

/// Puts `BADUTF8` in a request's path as the byte 0xFF (`%FF`) before the request is signed:
/// the SDK only takes keys as `&str`, this sends one that is not UTF-8.
#[derive(Debug)]
struct InvalidUtf8;

impl Intercept for InvalidUtf8 {
    fn name(&self) -> &'static str {
        "InvalidUtf8"
    }

    fn modify_before_signing(
        &self,
        context: &mut BeforeTransmitInterceptorContextMut<'_>,
        _rc: &RuntimeComponents,
        _cfg: &mut ConfigBag,
    ) -> Result<(), BoxError> {
        let req = context.request_mut();
        let uri = req.uri().replace("BADUTF8", "%FF");
        req.set_uri(uri)?;
        Ok(())
    }
}

/// Every key under the prefix as bytes, listed URL-encoded so that no key breaks the listing.
fn raw_keys(r: &Remote) -> Vec<Vec<u8>> {
    let c = r.server.client();
    let prefix = format!("{}/", r.prefix);
    rt().block_on(async {
        let mut out = Vec::new();
        let mut pages = c
            .list_objects_v2()
            .bucket(&r.server.bucket)
            .prefix(&prefix)
            .encoding_type(aws_sdk_s3::types::EncodingType::Url)
            .into_paginator()
            .send();
        while let Some(page) = pages.next().await {
            for o in page.unwrap().contents() {
                out.push(percent_decode(o.key().unwrap()));
            }
        }
        out
    })
}

/// The current object at `rel`, if any (the harness's `files` lists without URL encoding,
/// which these keys break).
fn get(r: &Remote, rel: &str) -> Option<Vec<u8>> {
    let c = r.server.client();
    rt().block_on(async {
        let o = c
            .get_object()
            .bucket(&r.server.bucket)
            .key(r.key(rel))
            .send()
            .await
            .ok()?;
        Some(o.body.collect().await.ok()?.into_bytes().to_vec())
    })
}

fn percent_decode(s: &str) -> Vec<u8> {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = b
            .get(i + 1..i + 3)
            .and_then(|h| std::str::from_utf8(h).ok());
        match (b[i], hex.and_then(|h| u8::from_str_radix(h, 16).ok())) {
            (b'%', Some(v)) => {
                out.push(v);
                i += 3;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    out
}

/// Raw control characters (C0 but newline and tab, DEL, C1) in what pail printed.
fn raw_controls(what: &str, bytes: &[u8]) -> Vec<String> {
    let text = String::from_utf8_lossy(bytes);
    text.lines()
        .filter(|l| {
            l.chars()
                .any(|c| (c.is_control() && c != '\t') || ('\u{80}'..='\u{9f}').contains(&c))
        })
        .map(|l| format!("{what} printed a raw control character: {l:?}"))
        .collect()
}

/// A relative key of exactly `len` bytes under `r`'s prefix, in segments of 200 bytes.
fn key_of_len(r: &Remote, stem: &str, len: usize) -> String {
    let mut rel = format!("{stem}/");
    let want = len - r.prefix.len() - 1;
    while rel.len() + 205 < want {
        rel.push_str(&"y".repeat(200));
        rel.push('/');
    }
    rel.push_str(&"z".repeat(want - rel.len() - 4));
    rel.push_str(".txt");
    rel
}

/// One device beside a sentinel folder, and what the test found so far.
struct Hostile {
    r: Remote,
    a: Device,
    home: std::path::PathBuf,
    /// The folder's parent (the sentinel in it) before any hostile key.
    before: BTreeMap<String, String>,
    /// Names that climb out of the folder end in `<escape>-….txt`.
    escape: String,
    k1024: String,
    problems: Vec<String>,
    notes: Vec<String>,
}

/// What pail may change beside the folder: its own state and config.
const OWN: [&str; 3] = ["Pail", "state", "config.toml"];

impl Hostile {
    fn new(s: &Server, seed: u64) -> Hostile {
        let r = Remote::new(s, "torture-hostile");
        let a = Device::new(&r, "alpha");
        let home = a.folder.parent().unwrap().to_owned();
        let sentinel = home.join("SENTINEL");
        std::fs::create_dir_all(sentinel.join("sub")).unwrap();
        std::fs::write(sentinel.join("secret.txt"), b"do not touch").unwrap();
        std::fs::write(sentinel.join("sub/x.txt"), b"the sentinel's own x").unwrap();
        std::fs::set_permissions(
            sentinel.join("secret.txt"),
            std::fs::Permissions::from_mode(0o600),
        )
        .unwrap();
        std::os::unix::fs::symlink(&sentinel, a.path("link")).unwrap();
        a.write("keep.txt", b"keep");
        a.sync();
        Hostile {
            before: tree(&home, &OWN),
            k1024: key_of_len(&r, "long1024", 1024),
            escape: format!("pail-escape-{seed}"),
            r,
            a,
            home,
            problems: Vec::new(),
            notes: Vec::new(),
        }
    }

    /// Puts the keys (relative, each with whether pail must report it) as another client,
    /// plus a key with the byte 0xFF if `bad_utf8`; then syncs twice with ordinary files
    /// going both ways and checks everything.
    fn phase(&mut self, label: &str, keys: &[(String, bool)], bad_utf8: bool) {
        let (r, p) = (&self.r, self.r.prefix.clone());
        let name = &r.server.name;
        let mut stored: Vec<(String, bool)> = Vec::new();
        for (rel, report) in keys {
            let body: &[u8] = if rel == ".pailignore" {
                b"[z-a]\n*.ignored\n"
            } else {
                b"evil"
            };
            match r.put_raw_key(&format!("{p}/{rel}"), body) {
                Ok(()) => stored.push((rel.clone(), *report)),
                Err(e) => self
                    .notes
                    .push(format!("{name} refused {rel:?} ({:.60})", e)),
            }
        }
        let utf8_stored = bad_utf8 && {
            let c = r.server.client();
            let c = aws_sdk_s3::Client::from_conf(
                c.config().to_builder().interceptor(InvalidUtf8).build(),
            );
            let put = c
                .put_object()
                .bucket(&r.server.bucket)
                .key(format!("{p}/bad-utf8-BADUTF8.txt"))
                .body(ByteStream::from_static(b"evil"));
            match rt().block_on(put.send()) {
                Ok(_) => true,
                Err(e) => {
                    self.notes
                        .push(format!("{name} refused an invalid UTF-8 key ({e})"));
                    false
                }
            }
        };
        let listed = raw_keys(r);
        stored.retain(|(rel, _)| {
            let kept = listed.contains(&format!("{p}/{rel}").into_bytes());
            if !kept {
                self.notes
                    .push(format!("{name} stored {rel:?} under another key"));
            }
            kept
        });
        // moto stores U+FFFD instead of the byte: then the key is a valid name like any other.
        let raw_utf8 = utf8_stored && listed.iter().any(|k| k.ends_with(b"bad-utf8-\xff.txt"));
        if utf8_stored && !raw_utf8 {
            self.notes.push(format!(
                "{name} did not keep the byte 0xFF of the invalid UTF-8 key"
            ));
        }

        // Ordinary traffic in the same pass, both ways.
        let mut problems = Vec::new();
        let (up, down) = (format!("up-{label}.txt"), format!("down-{label}.txt"));
        self.a.write(&up, b"up");
        r.put_foreign(&down, b"down");
        let first = self.a.pail(&["sync"]);
        if get(r, &up).as_deref() != Some(b"up") {
            problems.push(format!(
                "the local file did not go up in the same pass:\n{}",
                text(&first)
            ));
        }
        if self.a.read(&down).as_deref() != Some(b"down") {
            problems.push(format!(
                "the remote file did not come down in the same pass:\n{}",
                text(&first)
            ));
        }
        let second = self.a.pail(&["sync"]);
        if !second.status.success() {
            problems.push(format!("the pass fails for good:\n{}", text(&second)));
        }
        let status = self.a.pail(&["status"]);
        let log = self.a.pail(&["log"]);
        for (what, out) in [
            ("sync", &first),
            ("sync", &second),
            ("status", &status),
            ("log", &log),
        ] {
            problems.extend(raw_controls(&format!("{what} (stdout)"), &out.stdout));
            problems.extend(raw_controls(&format!("{what} (stderr)"), &out.stderr));
            for line in String::from_utf8_lossy(&out.stderr).lines() {
                if DEBUG_DUMPS.iter().any(|d| line.contains(d)) {
                    problems.push(format!("{what} printed a debug dump: {line}"));
                }
            }
        }
        if stored.iter().any(|(k, _)| k == ".pailignore") {
            let said = [&first.stderr, &second.stderr, &status.stdout]
                .map(|b| String::from_utf8_lossy(b).into_owned())
                .concat();
            if !said.contains(".pailignore") {
                problems.push(format!(
                    "the bad line of .pailignore was not reported:\n{}",
                    text(&first)
                ));
            }
        }

        // Nothing outside the folder changed; nothing landed where a hostile key points.
        let after = tree(&self.home, &OWN);
        if after != self.before {
            let changed: Vec<&String> = self
                .before
                .keys()
                .chain(after.keys())
                .filter(|k| self.before.get(*k) != after.get(*k))
                .collect();
            problems.push(format!("outside the folder, changed: {changed:?}"));
        }
        for place in [Path::new("/"), Path::new("/tmp")] {
            for suffix in ["up.txt", "tmp.txt", "up2.txt", "abs.txt"] {
                let f = place.join(format!("{}-{suffix}", self.escape));
                if f.exists() {
                    problems.push(format!("written outside the folder: {}", f.display()));
                    let _ = std::fs::remove_file(f);
                }
            }
        }
        // Only proper names became files.
        let files = self.a.files();
        for f in files.keys() {
            let proper = ["keep.txt", ".pailignore"].contains(&f.as_str())
                || f.starts_with("up-")
                || f.starts_with("down-")
                || *f == self.k1024
                || f.starts_with("bad-utf8-") && !raw_utf8;
            if !proper {
                problems.push(format!("a file from a hostile key: {f:?}"));
            }
        }
        // Every odd key reported; folder markers accepted quietly.
        let st = self.a.status_json();
        let skipped: Vec<String> = st["pairs"][0]["skipped"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|e| e["path"].as_str().map(String::from))
            .collect();
        let reported = |rel: &str| {
            skipped
                .iter()
                .any(|k| *k == format!("{p}/{rel}") || k.ends_with(rel))
        };
        for (rel, report) in &stored {
            if *report && !reported(rel) {
                problems.push(format!("{rel:?} is not reported"));
            }
            let marker = rel.is_empty() || rel.ends_with('/');
            if marker && skipped.iter().any(|k| *k == format!("{p}/{rel}")) {
                problems.push(format!(
                    "the folder marker {rel:?} is reported, not accepted quietly"
                ));
            }
        }
        if listed.contains(&format!("{p}/{}", self.k1024).into_bytes())
            && !files.contains_key(&self.k1024)
            && !reported(&self.k1024)
        {
            problems.push("a 1,024-byte key is neither synced nor reported".into());
        }
        if raw_utf8 && !skipped.iter().any(|k| k.contains("bad-utf8-")) {
            problems.push("the invalid UTF-8 key is not reported".into());
        }
        if problems.iter().any(|p| p.contains("not reported")) {
            problems.push(format!("(skipped: {skipped:?})"));
        }
        // pail deleted none of them.
        let now = raw_keys(r);
        for k in &listed {
            if !now.contains(k) {
                problems.push(format!(
                    "pail deleted {:?} from the bucket",
                    String::from_utf8_lossy(k)
                ));
            }
        }
        self.notes.push(format!(
            "{label}: {} hostile keys stored{}",
            stored.len(),
            if raw_utf8 { ", invalid UTF-8 too" } else { "" }
        ));
        self.problems
            .extend(problems.into_iter().map(|m| format!("[{label}] {m}")));
    }
}

fn torture_hostile_names(s: Server) {
    let seed = seed();
    println!("torture_hostile_names {}: seed {seed}", s.name);
    let mut h = Hostile::new(&s, seed);
    let n = h.escape.clone();
    let long = "x".repeat(300);
    // (relative key, must be reported)
    let paths: Vec<(String, bool)> = vec![
        (format!("../{n}-up.txt"), true),
        (format!("../../{n}-tmp.txt"), true),
        (format!("a/../../{n}-up2.txt"), true),
        (format!("/{n}-abs.txt"), true),
        ("a//double.txt".into(), true),
        ("./dot.txt".into(), true),
        ("a/./dot.txt".into(), true),
        ("a/..".into(), true),
        ("..".into(), true),
        (format!("{long}.txt"), true),
        (key_of_len(&h.r, "long1025", 1025), true),
        (h.k1024.clone(), false),
        ("link/sub/x.txt".into(), true),
        ("link/new.txt".into(), true),
        ("dir/".into(), false),
        (String::new(), false),
    ];
    // Keys that break a listing parsed as XML.
    let bytes: Vec<(String, bool)> = vec![
        ("esc-\x1b[31m-red.txt".into(), true),
        ("new\nline.txt".into(), true),
        ("bell\x07.txt".into(), true),
        ("nul\0.txt".into(), true),
    ];
    h.phase("paths", &paths, false);
    h.phase("bytes", &bytes, true);
    // An ignore file with a bad line; then a file its good line ignores.
    h.phase("ignore", &[(".pailignore".into(), false)], false);
    h.phase("ignored", &[("x.ignored".into(), false)], false);
    println!("torture_hostile_names {}: {}", s.name, h.notes.join("; "));
    assert!(
        h.problems.is_empty(),
        "torture_hostile_names {} seed {seed}:\n{}",
        s.name,
        h.problems.join("\n")
    );
}
on_servers!(torture_hostile_names);
