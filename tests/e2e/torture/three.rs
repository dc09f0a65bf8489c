//! Three devices on one prefix, rounds of random creates, edits, deletes, file and folder
//! renames, same-name creates and edit/delete races, synced in random order: converged, and
//! every content a sync saw still present (folder, current object, older version, conflict
//! copy, or trash on a bucket without versions) (tenets 1, 3, 4, 14). The same on an
//! end-to-end encrypted prefix (issue 15), whose bucket must hold ciphertext only, and on one
//! with encrypted names, whose bucket must hold no name either.

use std::collections::BTreeSet;
use std::time::Instant;

use pail_crypt::names::MAX_PLAIN_COMPONENT;

use super::bucket::{Bucket, Mode, device};
use super::model::{Ledger, digest, divergence, next_pass_is_idle, original_of, temp_files};
use super::rng::{Rng, long, seed};
use crate::harness::*;
use crate::on_servers;

/// Paths that become folders on one device while they are files on another (and back) are
/// in the op mix (tenet 14: they converge with a conflict copy); `PAIL_TORTURE_FILE_FOLDER=0`
/// leaves them out, to tell their failures apart from others'.
fn file_folder_swaps() -> bool {
    std::env::var("PAIL_TORTURE_FILE_FOLDER").map_or(true, |v| v != "0")
}

/// A device's files that ops may touch (`keep.txt` stays: an emptied folder is a safety stop),
/// none with a name longer than `max_name` bytes.
fn files_of(d: &Device, max_name: usize) -> Vec<String> {
    d.files()
        .into_keys()
        .filter(|k| k != "keep.txt" && k.split('/').all(|seg| seg.len() <= max_name))
        .collect()
}

/// The top folders of a device's files that ops may touch.
fn folders_of(d: &Device, max_name: usize) -> Vec<String> {
    let mut v: Vec<String> = files_of(d, max_name)
        .iter()
        .filter_map(|k| k.split_once('/').map(|(dir, _)| dir.to_owned()))
        .collect();
    v.dedup();
    v
}

/// The longest name ops touch with encrypted names: a conflict copy of it (` (conflict from
/// gamma 2026-11-30 145415) 2`) still fits the limit of encrypted names, which copies of
/// copies of copies would not (pail reports those, and the test is not about them).
const MAX_NAME_ENCRYPTED: usize = MAX_PLAIN_COMPONENT - 64;

struct World<'a> {
    seed: u64,
    rng: Rng,
    l: Ledger,
    devs: [&'a Device; 3],
    ops: Vec<String>,
    n: u64,
    /// Both-sides changes made on purpose (a conflict copy each, at most).
    races: usize,
    /// The longest name of a file ops may touch.
    max_name: usize,
    /// Every path an op made (a renamed folder's: its new name), for the check that none
    /// reaches an encrypted-names bucket in plaintext.
    made: BTreeSet<String>,
}

impl World<'_> {
    fn write(&mut self, d: &Device, p: &str, why: &str) {
        let c = self.l.fresh(&mut self.rng, &d.name, p, self.seed, false);
        let p = p.to_owned();
        self.ops.push(format!("{} {why} {p}", d.name));
        self.made.insert(p.clone());
        // A path that is a file's folder on this device cannot be written as a file.
        if d.path(&p).is_dir() {
            std::fs::remove_dir_all(d.path(&p)).unwrap();
        }
        d.write(&p, &c);
    }

    fn name(&mut self, stem: &str) -> String {
        self.n += 1;
        format!("{stem}{}", self.n)
    }

    /// One random op on one random device (or, for races, on two).
    fn op(&mut self) {
        let d = self.devs[self.rng.below(3)];
        let other = self
            .devs
            .iter()
            .copied()
            .find(|o| o.name != d.name)
            .unwrap();
        let files = files_of(d, self.max_name);
        let kinds = if file_folder_swaps() { 9 } else { 8 };
        match (self.rng.below(kinds), files.is_empty()) {
            (0, _) | (_, true) => {
                let dir = ["", "d0/", "d1/", "d2/"][self.rng.below(4)];
                let p = format!("{dir}{}.txt", self.name("n"));
                self.write(d, &p, "create");
            }
            (1 | 2, _) => {
                let p = self.rng.pick(&files).clone();
                self.write(d, &p, "edit");
            }
            (3, _) => {
                let p = self.rng.pick(&files).clone();
                self.ops.push(format!("{} delete {p}", d.name));
                d.remove(&p);
            }
            (4, _) => {
                let p = self.rng.pick(&files).clone();
                let dir = p.rsplit_once('/').map_or("", |(dir, _)| dir);
                let to = format!(
                    "{dir}{}{}.txt",
                    if dir.is_empty() { "" } else { "/" },
                    self.name("mv")
                );
                self.ops.push(format!("{} rename {p} -> {to}", d.name));
                self.made.insert(to.clone());
                std::fs::rename(d.path(&p), d.path(&to)).unwrap();
            }
            (5, _) => match folders_of(d, self.max_name).first().cloned() {
                Some(dir) => {
                    // Not `dirN`: a name without a dot, of 4 bytes, could turn up by chance in
                    // the base64 of encrypted names.
                    let to = self.name("folder");
                    self.made.insert(to.clone());
                    self.ops
                        .push(format!("{} rename folder {dir} -> {to}", d.name));
                    std::fs::rename(d.path(&dir), d.path(&to)).unwrap();
                }
                None => self.write(d, "d0/first.txt", "create"),
            },
            (6, _) => {
                let p = format!("{}.txt", self.name("same"));
                self.write(d, &p, "same-name create");
                self.write(other, &p, "same-name create");
                self.races += 1;
            }
            (7, _) => {
                // Edit on one device, delete on another (tenet 3: the edit wins).
                let both: Vec<String> = files
                    .into_iter()
                    .filter(|p| other.path(p).is_file())
                    .collect();
                if let Some(p) = both.first().cloned() {
                    self.write(d, &p, "edit (racing a delete)");
                    self.ops
                        .push(format!("{} delete {p} (racing an edit)", other.name));
                    other.remove(&p);
                }
            }
            _ => {
                // A file on one device becomes a folder on another, which edits it meanwhile.
                let both: Vec<String> = files
                    .into_iter()
                    .filter(|p| other.path(p).is_file())
                    .collect();
                if let Some(p) = both.first().cloned() {
                    self.write(d, &p, "edit (racing a file-to-folder)");
                    other.remove(&p);
                    self.write(other, &format!("{p}/inner.txt"), "file-to-folder");
                    self.races += 1;
                }
            }
        }
    }

    /// `pail sync` on `d`, which must succeed: no faults here, every pass must converge.
    fn sync(&mut self, d: &Device, problems: &mut Vec<String>) {
        self.l.saw(d.files().values());
        let out = d.pail(&["sync"]);
        if !out.status.success() {
            problems.push(format!(
                "after ops #{}: sync on {} failed:\n{}",
                self.ops.len(),
                d.name,
                text(&out)
            ));
        }
        self.ops.push(format!("{} sync", d.name));
    }
}

fn three_devices(s: Server, mode: Mode) {
    let seed = seed();
    let long = long();
    println!(
        "torture_three_devices {}{}: seed {seed} (replay: PAIL_TORTURE_SEED={seed}){}{}",
        s.name,
        mode.label(),
        if long { ", long form" } else { "" },
        if file_folder_swaps() {
            ", file/folder swaps"
        } else {
            ""
        }
    );
    let started = Instant::now();
    // The encrypted short forms are shorter: CI runs them all.
    let rounds = match (long, mode) {
        (true, _) => 40,
        (false, Mode::Plain) => 8,
        (false, _) => 5,
    };
    let r = Remote::new(&s, &format!("torture-three{}", mode.tag()));
    let a = device(&r, "alpha", mode, None);
    let (b, c) = (
        device(&r, "beta", mode, None),
        device(&r, "gamma", mode, None),
    );
    let bucket = Bucket::new(&r, mode, &a);
    let mut w = World {
        seed,
        rng: Rng(seed ^ 0x0074_6872_6565),
        l: Ledger::default(),
        devs: [&a, &b, &c],
        ops: Vec::new(),
        n: 0,
        races: 0,
        max_name: match mode {
            Mode::EncryptedNames => MAX_NAME_ENCRYPTED,
            _ => usize::MAX,
        },
        made: BTreeSet::new(),
    };
    let mut problems = Vec::new();
    w.write(&a, "keep.txt", "create");
    for p in ["d0/a.txt", "d1/b.txt", "c.txt"] {
        w.write(&a, p, "create");
    }
    for d in [&a, &b, &c] {
        w.sync(d, &mut problems);
    }
    for round in 0..rounds {
        w.ops.push(format!("--- round {round}"));
        for _ in 0..1 + w.rng.below(4) {
            w.op();
        }
        // Some devices sync, in random order; some sit the round out.
        let mut order = [0, 1, 2];
        for i in (1..3).rev() {
            order.swap(i, w.rng.below(i + 1));
        }
        for i in order {
            if w.rng.chance(0.75) {
                let d = w.devs[i];
                w.sync(d, &mut problems);
            }
        }
    }
    w.ops.push("--- settle".into());
    for _ in 0..2 {
        for d in [&a, &b, &c] {
            w.sync(d, &mut problems);
        }
    }
    let in_bucket = bucket.files();
    problems.extend(divergence(&[&a, &b, &c], &in_bucket));
    let fa = a.files();
    for d in [&a, &b, &c] {
        let f = d.files();
        problems.extend(temp_files(&d.name, &f));
        problems.extend(w.l.torn(&d.name, &f));
    }
    for d in [&a, &b, &c] {
        problems.extend(next_pass_is_idle(d));
    }
    let (fb, fc) = (b.files(), c.files());
    problems.extend(w.l.lost(&[&fa, &fb, &fc], &bucket));
    // Every path the run made: the ops' and the conflict copies'.
    let made = w
        .made
        .iter()
        .chain(fa.keys())
        .chain(fb.keys())
        .chain(fc.keys());
    problems.extend(bucket.sealed(made));
    // No phantom conflict copies: a copy never holds its original's very content.
    let copies = conflict_copies(&fa);
    for (name, content) in &copies {
        let orig = original_of(name).unwrap_or_default();
        if fa.get(&orig) == Some(*content) {
            problems.push(format!(
                "phantom conflict copy {name}: same content as {orig}"
            ));
        }
        if !w.l.written.contains_key(&digest(content)) {
            problems.push(format!("conflict copy {name} holds content no one wrote"));
        }
    }

    println!(
        "torture_three_devices {}{} seed {seed}: {rounds} rounds, {} ops, {} races, {} conflict copies, {} files at the end; {:.1}s",
        s.name,
        mode.label(),
        w.ops.len(),
        w.races,
        copies.len(),
        fa.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "torture_three_devices {}{} seed {seed} (replay: PAIL_TORTURE_SEED={seed}):\n{}\n--- ops\n{}",
        s.name,
        mode.label(),
        problems.join("\n"),
        w.ops.join("\n")
    );
}
fn torture_three_devices(s: Server) {
    three_devices(s, Mode::Plain);
}
on_servers!(torture_three_devices);

fn torture_three_devices_encrypted(s: Server) {
    three_devices(s, Mode::Encrypted);
}
on_servers!(torture_three_devices_encrypted);

fn torture_three_devices_encrypted_names(s: Server) {
    three_devices(s, Mode::EncryptedNames);
}
on_servers!(torture_three_devices_encrypted_names);
