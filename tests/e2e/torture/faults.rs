//! Two devices editing one prefix through a fault-injecting proxy (503 SlowDown, 500, cut
//! bodies, stalls at 10% and at 30% of requests): once the faults stop they converge, nothing
//! any device synced is lost, conflict copies appear only for real both-sides edits, and
//! every message pail printed is readable.
//!
//! Seeded: each run prints its seed; `PAIL_TORTURE_SEED=<seed>` replays it (the ops are the
//! same; which request gets which fault also depends on timing). The default is a short form
//! for CI; `PAIL_TORTURE_LONG=1` runs the full sizes. `torture_encrypted` runs the same on an
//! end-to-end encrypted prefix (issue 15), whose bucket must then hold ciphertext only;
//! `torture_encrypted_names` on one with encrypted names, whose bucket must hold no name.

use std::collections::{BTreeMap, BTreeSet};
use std::time::{Duration, Instant};

use super::bucket::{Bucket, Mode, device};
use super::model::{DEBUG_DUMPS, Digest, digest, original_of};
use super::rng::{Rng, long, seed};
use crate::faultproxy::{Fault, FaultProxy};
use crate::harness::*;
use crate::on_servers;

/// What the test did and saw.
#[derive(Default)]
struct Model {
    counter: u64,
    /// Every content written by an op: who wrote it where.
    written: BTreeMap<Digest, (String, String)>,
    /// Contents that were in a device's folder when a sync of it succeeded: never to be lost.
    synced: BTreeSet<Digest>,
    /// Both-sides edits of one path between syncs, made on purpose.
    conflicts: usize,
    syncs: usize,
    failed: usize,
    /// (device, stderr) of every pail command.
    stderr: Vec<(String, String)>,
}

impl Model {
    fn content(&mut self, rng: &mut Rng, d: &Device, path: &str, seed: u64) -> Vec<u8> {
        self.counter += 1;
        let line = format!("{} {path} #{} seed {seed}\n", d.name, self.counter);
        // Most files are small; the `.bin` ones are big enough to be cut off mid-body.
        let times = if path.ends_with(".bin") {
            200 + rng.below(2000)
        } else {
            1 + rng.below(20)
        };
        let c = line.repeat(times).into_bytes();
        self.written
            .insert(digest(&c), (d.name.clone(), path.to_owned()));
        c
    }

    /// `pail sync` under faults: it may fail (exit 1), never stop for safety (3).
    fn sync(&mut self, d: &Device, seed: u64) {
        let before = d.files();
        let out = d.pail(&["sync"]);
        self.syncs += 1;
        self.stderr
            .push((d.name.clone(), String::from_utf8_lossy(&out.stderr).into()));
        match out.status.code() {
            Some(0) => self.synced.extend(before.values().map(|c| digest(c))),
            Some(1) => self.failed += 1,
            code => panic!(
                "seed {seed}: sync on {} exited {code:?} under faults:\n{}",
                d.name,
                text(&out)
            ),
        }
    }
}

/// A device's own paths (only it makes random ops on them; both edit them in conflict ops).
fn pool(d: &Device, files: usize) -> Vec<String> {
    let mut v: Vec<String> = (0..files).map(|k| format!("{}{k}.txt", d.name)).collect();
    v.extend((0..files.div_ceil(2)).map(|k| format!("sub/{}{k}.bin", d.name)));
    v
}

fn run(s: &Server, seed: u64, rate: f64, long: bool, mode: Mode) {
    let started = Instant::now();
    let pct = (rate * 100.0).round() as u32;
    let proxy = FaultProxy::start(&s.endpoint, seed ^ u64::from(pct));
    let (rounds, files) = if long {
        (40, 8)
    } else {
        // The CI form: fewer rounds and shorter stalls (fewer still when encrypted: CI runs
        // every form).
        proxy.set_stall(Duration::from_millis(200), Duration::from_millis(800));
        (if mode.encrypted() { 4 } else { 6 }, 3)
    };
    let r = Remote::new(s, &format!("torture{pct}{}", mode.tag()));
    let a = device(&r, "alpha", mode, Some(&proxy.endpoint));
    let b = device(&r, "beta", mode, Some(&proxy.endpoint));
    let bucket = Bucket::new(&r, mode, &a);
    let devs = [&a, &b];
    let mut rng = Rng(seed.wrapping_mul(31).wrapping_add(u64::from(pct)));
    let mut m = Model::default();
    let mut ops: Vec<String> = Vec::new();

    // A common start: alpha's first files, synced to both without faults.
    for p in pool(&a, files).into_iter().step_by(2) {
        let c = m.content(&mut rng, &a, &p, seed);
        a.write(&p, &c);
    }
    m.sync(&a, seed);
    m.sync(&b, seed);

    proxy.set_rate(rate);
    for round in 0..rounds {
        for d in devs {
            let paths = pool(d, files);
            for _ in 0..1 + rng.below(3) {
                let p = &paths[rng.below(paths.len())];
                if d.read(p).is_some() && rng.chance(0.35) {
                    d.remove(p);
                    ops.push(format!("r{round} {} delete {p}", d.name));
                } else {
                    let c = m.content(&mut rng, d, p, seed);
                    ops.push(format!("r{round} {} write {p} #{}", d.name, m.counter));
                    d.write(p, &c);
                }
            }
        }
        // A real conflict: both devices edit one path between syncs.
        if rng.chance(0.5) {
            let both: Vec<String> = pool(&a, files)
                .into_iter()
                .chain(pool(&b, files))
                .filter(|p| a.read(p).is_some() && b.read(p).is_some())
                .collect();
            if !both.is_empty() {
                let p = &both[rng.below(both.len())];
                for d in devs {
                    let c = m.content(&mut rng, d, p, seed);
                    ops.push(format!(
                        "r{round} {} conflict-write {p} #{}",
                        d.name, m.counter
                    ));
                    d.write(p, &c);
                }
                m.conflicts += 1;
            }
        }
        let first = rng.below(2);
        m.sync(devs[first], seed);
        m.sync(devs[1 - first], seed);
    }
    proxy.set_rate(0.0);
    let faults = proxy.counts();

    // Faults off: a few syncs each must succeed and converge.
    let mut problems: Vec<String> = Vec::new();
    for d in [&a, &b, &a, &b] {
        let out = d.pail(&["sync"]);
        m.stderr
            .push((d.name.clone(), String::from_utf8_lossy(&out.stderr).into()));
        if !out.status.success() {
            problems.push(format!(
                "sync on {} without faults failed:\n{}",
                d.name,
                text(&out)
            ));
        }
    }
    let (fa, fb, fr) = (a.files(), b.files(), bucket.files());
    // Every path the run made: the ops' and the conflict copies'.
    let paths: BTreeSet<String> = pool(&a, files)
        .into_iter()
        .chain(pool(&b, files))
        .chain(fa.keys().chain(fb.keys()).cloned())
        .collect();
    problems.extend(bucket.sealed(&paths));
    // (a) converged.
    if fa != fb {
        problems.push(format!(
            "not converged: alpha {:?} / beta {:?}",
            fa.keys().collect::<Vec<_>>(),
            fb.keys().collect::<Vec<_>>()
        ));
    }
    if fa != fr {
        problems.push(format!(
            "folder and bucket differ: alpha {:?} / bucket {:?}",
            fa.keys().collect::<Vec<_>>(),
            fr.keys().collect::<Vec<_>>()
        ));
    }
    // (b) nothing lost.
    let mut kept: BTreeSet<Digest> = fa.values().chain(fb.values()).map(|c| digest(c)).collect();
    if m.synced.iter().any(|c| !kept.contains(c)) {
        kept.extend(bucket.contents());
    }
    for c in m.synced.difference(&kept) {
        let who = m
            .written
            .get(c)
            .map_or_else(|| "?".to_owned(), |(d, p)| format!("{p} as written by {d}"));
        problems.push(format!("lost: {who}"));
    }
    // (c) conflict copies only for real conflicts, and none a phantom.
    let copies = conflict_copies(&fa);
    let mut phantoms = 0;
    for (name, content) in &copies {
        let orig = original_of(name).unwrap_or_default();
        if fa.get(&orig) == Some(*content) {
            phantoms += 1;
            problems.push(format!(
                "phantom conflict copy {name}: same content as {orig}"
            ));
        }
        match m.written.get(&digest(content)) {
            Some((_, p)) if *p == orig => {}
            w => problems.push(format!(
                "conflict copy {name} holds content not written to {orig} (written: {w:?})"
            )),
        }
    }
    if copies.len() > m.conflicts {
        problems.push(format!(
            "{} conflict copies for {} real conflicts: {:?}",
            copies.len(),
            m.conflicts,
            copies.iter().map(|c| c.0).collect::<Vec<_>>()
        ));
    }
    // (d) every message readable.
    for (d, err) in &m.stderr {
        for line in err.lines() {
            if DEBUG_DUMPS.iter().any(|p| line.contains(p)) {
                problems.push(format!("{d} printed a debug dump: {line}"));
            }
        }
    }

    println!(
        "torture {}{} seed {seed} rate {pct}%: {rounds} rounds, {} syncs ({} failed), {faults}; conflicts real {} / copies {} ({phantoms} phantom); {:.1}s",
        s.name,
        mode.label(),
        m.syncs,
        m.failed,
        m.conflicts,
        copies.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "torture {}{} seed {seed} rate {pct}% (replay: PAIL_TORTURE_SEED={seed}):\n{}\n--- ops\n{}",
        s.name,
        mode.label(),
        problems.join("\n"),
        ops.join("\n")
    );
}

fn faults(s: Server, mode: Mode) {
    let seed = seed();
    let long = long();
    println!(
        "torture {}{}: seed {seed} (replay: PAIL_TORTURE_SEED={seed}){}",
        s.name,
        mode.label(),
        if long { ", long form" } else { "" }
    );
    // The encrypted short form runs the harsher rate only.
    let rates: &[f64] = if mode.encrypted() && !long {
        &[0.30]
    } else {
        &[0.10, 0.30]
    };
    for &rate in rates {
        run(&s, seed, rate, long, mode);
    }
}

fn torture(s: Server) {
    faults(s, Mode::Plain);
}
on_servers!(torture: ceph, moto, garage);

fn torture_encrypted(s: Server) {
    faults(s, Mode::Encrypted);
}
on_servers!(torture_encrypted);

fn torture_encrypted_names(s: Server) {
    faults(s, Mode::EncryptedNames);
}
on_servers!(torture_encrypted_names);

/// A sync whose every response is cut off mid-way fails (exit 1, not a safety stop) with a
/// readable message, and the next sync without faults converges.
fn torture_cut_bodies_fail_readably(s: Server) {
    let proxy = FaultProxy::start(&s.endpoint, 1);
    let r = Remote::new(&s, "cut-bodies");
    let d = Device::new_via(&r, "alpha", &proxy.endpoint);
    d.write("x.txt", b"x");
    proxy.set_kinds(&[Fault::CutBody]);
    proxy.set_rate(1.0);
    let out = d.pail(&["sync"]);
    assert_code(&out, 1, "sync with every response cut off");
    let err = String::from_utf8_lossy(&out.stderr);
    let last = err
        .lines()
        .rfind(|l| l.starts_with("pail: "))
        .unwrap_or_else(|| {
            panic!("no error message:\n{}", text(&out));
        });
    // A response the server did send, cut off mid-body, is no unreachable endpoint.
    assert!(
        !DEBUG_DUMPS.iter().any(|p| last.contains(p)),
        "unreadable: {last}"
    );
    assert!(!last.contains("cannot reach"), "{last}");
    proxy.set_rate(0.0);
    d.sync();
    assert_eq!(r.files(), d.files());
}
on_servers!(torture_cut_bodies_fail_readably: moto);
