//! kill -9 of `pail sync` and of `pail run` at random moments, with local edits and another
//! client's edits between the kills, multipart files included (5 MiB parts, 6–12 MiB files);
//! then clean passes: converged, nothing lost, no temp or torn files, and a next pass that
//! transfers nothing; a new device gets exactly the same files (tenets 1, 6, 8). The same on
//! an end-to-end encrypted prefix (issue 15), where the other client holds the key and the
//! bucket must hold ciphertext only, and on one with encrypted names, where it must hold no
//! name either.

use std::collections::BTreeSet;
use std::process::Stdio;
use std::time::{Duration, Instant};

use super::bucket::{Bucket, Mode, device};
use super::model::{Digest, Ledger, digest, divergence, next_pass_is_idle, temp_files};
use super::rng::{Rng, long, seed};
use crate::harness::*;
use crate::on_servers;

/// How long a killed run may live: long enough to reach scans, multipart transfers and
/// commits, short enough that most runs die before they finish (a debug build's `pail sync`
/// of a few small files and a 9 MB multipart upload takes about a second on the test
/// servers; a daemon's first pass starts after its startup).
const SYNC_MAX_MS: u64 = 900;
const RUN_MAX_MS: u64 = 1500;

/// The paths the test edits locally; `keep.txt` is never deleted (an emptied folder is a
/// safety stop, not what this test is about).
fn local_paths(big: bool) -> Vec<String> {
    let mut v: Vec<String> = (0..6).map(|k| format!("f{k}.txt")).collect();
    v.extend((0..3).map(|k| format!("sub/g{k}.txt")));
    if big {
        v.extend((0..3).map(|k| format!("big/b{k}.bin")));
    }
    v
}

/// Another client's paths: its own, and some of the device's (races).
fn foreign_paths() -> Vec<String> {
    let mut v: Vec<String> = (0..4).map(|k| format!("r{k}.txt")).collect();
    v.extend(["f0.txt", "f1.txt", "sub/g0.txt"].map(String::from));
    v
}

struct Kills {
    sync: usize,
    run: usize,
    /// Kills that found the process already done (its run finished first).
    late: usize,
    /// Runs that ended by themselves with a failure.
    failed: Vec<String>,
}

/// Runs `pail sync` or `pail run` on `d` and SIGKILLs it after `ms`.
fn run_and_kill(d: &Device, daemon: bool, ms: u64, k: &mut Kills) {
    let args: &[&str] = if daemon {
        &["run", "--poll-interval", "1"]
    } else {
        &["sync"]
    };
    let log = d.state.join("killed.log");
    std::fs::create_dir_all(&d.state).unwrap();
    let mut child = d
        .command(args)
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(&log).unwrap())
        .spawn()
        .unwrap();
    std::thread::sleep(Duration::from_millis(ms));
    match child.try_wait().unwrap() {
        Some(status) => {
            k.late += 1;
            if !status.success() {
                let err = std::fs::read_to_string(&log).unwrap_or_default();
                k.failed
                    .push(format!("{args:?} after {ms} ms: {status}: {err}"));
            }
        }
        None => {
            child.kill().unwrap(); // SIGKILL
            child.wait().unwrap();
        }
    }
    if daemon {
        k.run += 1;
    } else {
        k.sync += 1;
    }
}

fn kill_9(s: Server, mode: Mode) {
    let seed = seed();
    let long = long();
    println!(
        "torture_kill_9 {}{}: seed {seed} (replay: PAIL_TORTURE_SEED={seed}){}",
        s.name,
        mode.label(),
        if long { ", long form" } else { "" }
    );
    let started = Instant::now();
    // Large payloads stay off moto, which keeps every byte of every version in memory.
    let big = s.name != "moto";
    // The encrypted short forms are shorter still: CI runs them all.
    let kills = match (long, mode) {
        (true, _) => 32,
        (false, Mode::Plain) => 6,
        (false, _) => 4,
    };
    let r = Remote::new(&s, &format!("torture-kill{}", mode.tag()));
    let a = device(&r, "alpha", mode, None);
    let bucket = Bucket::new(&r, mode, &a);
    a.set_config("multipart_threshold", "5242880");
    a.set_config("part_size", "5242880");
    let mut rng = Rng(seed ^ 0x6b69_6c6c);
    let mut l = Ledger::default();
    let mut ops: Vec<String> = Vec::new();
    // Contents another client destroyed in a bucket without versions: gone by its hand.
    let mut destroyed: BTreeSet<Digest> = BTreeSet::new();

    let keep = l.fresh(&mut rng, "alpha", "keep.txt", seed, false);
    a.write("keep.txt", &keep);
    for p in local_paths(big).iter().step_by(2) {
        let c = l.fresh(&mut rng, "alpha", p, seed, p.ends_with(".bin"));
        a.write(p, &c);
    }
    let mut k = Kills {
        sync: 0,
        run: 0,
        late: 0,
        failed: Vec::new(),
    };
    for round in 0..kills {
        // Local edits (multipart ones included) and another client's, then a run killed at
        // a random moment.
        let paths = local_paths(big);
        for _ in 0..1 + rng.below(3) {
            let p = rng.pick(&paths);
            if a.read(p).is_some() && rng.chance(0.3) {
                a.remove(p);
                ops.push(format!("k{round} alpha delete {p}"));
            } else {
                let c = l.fresh(&mut rng, "alpha", p, seed, p.ends_with(".bin"));
                ops.push(format!("k{round} alpha write {p} ({} bytes)", c.len()));
                a.write(p, &c);
            }
        }
        let current = bucket.files();
        for _ in 0..rng.below(3) {
            let p = rng.pick(&foreign_paths()).clone();
            if let Some(old) = current.get(&p).filter(|_| !s.versioned) {
                destroyed.insert(digest(old));
            }
            if current.contains_key(&p) && rng.chance(0.3) {
                bucket.delete(&p);
                ops.push(format!("k{round} other client delete {p}"));
            } else {
                let c = l.fresh(&mut rng, "other", &p, seed, false);
                ops.push(format!("k{round} other client write {p}"));
                bucket.put(&p, &c);
            }
        }
        // Another client's objects are in the bucket: pail has them to lose from here on.
        l.saw(bucket.files().values());
        let daemon = rng.chance(0.5);
        let ms = rng.below(if daemon { RUN_MAX_MS } else { SYNC_MAX_MS } as usize) as u64;
        ops.push(format!(
            "k{round} {} killed after {ms} ms",
            if daemon { "pail run" } else { "pail sync" }
        ));
        run_and_kill(&a, daemon, ms, &mut k);
        // Whatever the killed run put in the bucket, pail has seen.
        l.saw(bucket.files().values());
    }
    // What is in the folder now is the user's latest word; a download's temp file that the
    // last kill left (`.NAME.pail-tmp-…`, partly written) is not, and the next sync removes it.
    l.saw(
        a.files()
            .iter()
            .filter(|(p, _)| !p.contains(".pail-tmp-"))
            .map(|(_, c)| c),
    );

    let mut problems: Vec<String> = k.failed.clone();
    for _ in 0..2 {
        let out = a.pail(&["sync"]);
        if !out.status.success() {
            problems.push(format!(
                "clean sync after the kills failed:\n{}",
                text(&out)
            ));
        }
    }
    let fa = a.files();
    let in_bucket = bucket.files();
    problems.extend(divergence(&[&a], &in_bucket));
    problems.extend(temp_files("alpha", &fa));
    problems.extend(l.torn("alpha", &fa));
    problems.extend(next_pass_is_idle(&a));
    let b = device(&r, "beta", mode, None);
    let out = b.pail(&["sync"]);
    if !out.status.success() {
        problems.push(format!("a new device's sync failed:\n{}", text(&out)));
    }
    let fb = b.files();
    problems.extend(divergence(&[&b], &in_bucket));
    // Every path the run made: the ops' and the conflict copies'.
    let paths: BTreeSet<String> = local_paths(true)
        .into_iter()
        .chain(foreign_paths())
        .chain(["keep.txt".to_owned()])
        .chain(fa.keys().chain(fb.keys()).cloned())
        .collect();
    problems.extend(bucket.sealed(&paths));
    l.must.retain(|c| !destroyed.contains(c));
    problems.extend(l.lost(&[&fa], &bucket));

    println!(
        "torture_kill_9 {}{} seed {seed}: {} kills of pail sync, {} of pail run ({} found it done), {} files at the end; {:.1}s",
        s.name,
        mode.label(),
        k.sync,
        k.run,
        k.late,
        fa.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        problems.is_empty(),
        "torture_kill_9 {}{} seed {seed} (replay: PAIL_TORTURE_SEED={seed}):\n{}\n--- ops\n{}",
        s.name,
        mode.label(),
        problems.join("\n"),
        ops.join("\n")
    );
}
fn torture_kill_9(s: Server) {
    kill_9(s, Mode::Plain);
}
on_servers!(torture_kill_9);

fn torture_kill_9_encrypted(s: Server) {
    kill_9(s, Mode::Encrypted);
}
on_servers!(torture_kill_9_encrypted);

fn torture_kill_9_encrypted_names(s: Server) {
    kill_9(s, Mode::EncryptedNames);
}
on_servers!(torture_kill_9_encrypted_names);
