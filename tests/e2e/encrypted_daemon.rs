//! The daemon on end-to-end encrypted pairs (issue 15): two devices running `pail run` on one
//! encrypted prefix hear each other through the change journal (a pass scoped to the paths
//! the entry names, no listing), drops, edits, deletes and conflicts come out as on a plain
//! pair with only ciphertext in the bucket, and a device without the key refuses to run.

use std::process::{Output, Stdio};
use std::time::{Duration, Instant};

use crate::daemon::{Daemon, live_status, wait_until};
use crate::encrypted::*;
use crate::harness::*;
use crate::on_servers;
use crate::torture::bucket::{Bucket, Mode};

/// Daemon options that leave the journal as the only way to hear another device (full
/// listings an hour apart), polled every second.
const JOURNAL_ONLY: [&str; 4] = ["--active-poll-interval", "1", "--full-reconcile", "3600"];

/// `pail run` on `d`, logging its S3 requests (for the journal assertions).
fn daemon(d: &Device) -> Daemon {
    let mut args = vec!["run", "--poll-interval", "1"];
    args.extend(JOURNAL_ONLY);
    Daemon::spawn_logging(d, d.command(&args), "info,pail::requests=debug")
}

/// The object at `rel` is age ciphertext of exactly `plain`, which the stock `age` opens with
/// the device's key.
fn assert_sealed(r: &Remote, d: &Device, rel: &str, plain: &[u8]) {
    let (body, _) = object(r, rel);
    assert!(body.starts_with(b"age-encryption.org/v1\n"), "{rel}");
    assert_eq!(body.len(), ciphertext_len(plain.len()), "{rel}");
    assert_eq!(age_decrypts(&body, &key_file(d)), plain, "{rel}");
}

/// The daemon's log after byte `mark`: the pass that downloaded `rel` was one the journal
/// asked for, scoped to the paths its entry names (HEADs, no listing of the prefix).
fn assert_brought_by_the_journal(log: &str, mark: usize, rel: &str) {
    let lines: Vec<&str> = log[mark..].lines().collect();
    let done = lines
        .iter()
        .position(|l| l.contains("pass done") && l.contains(&format!("download {rel}")))
        .unwrap_or_else(|| panic!("no pass downloaded {rel}:\n{}", &log[mark..]));
    let start = lines[..done]
        .iter()
        .rposition(|l| l.contains("sync pass"))
        .unwrap_or_else(|| panic!("no pass started before {rel} came:\n{}", &log[mark..]));
    let pass = &lines[start..=done];
    assert!(
        pass[0].contains("why=Remote"),
        "the pass that brought {rel} was not the journal's:\n{}",
        pass.join("\n")
    );
    // (An action may list on its own: a download on a bucket without versions looks at
    // pail's trash first. The pass itself must not list the prefix.)
    let pass_op = |name: &str| {
        pass.iter()
            .any(|l| l.contains("s3 request") && !l.contains("action{") && l.contains(name))
    };
    assert!(
        pass_op("HeadObject") && !pass_op("ListObjects"),
        "the journal's pass for {rel} did not look at just the named paths:\n{}",
        pass.join("\n")
    );
}

/// Both devices and the bucket (decrypted) hold the same files, and only ciphertext is in it.
fn converged(a: &Device, b: &Device, bucket: &Bucket) -> bool {
    let fa = a.files();
    fa == b.files() && fa == bucket.files()
}

fn two_encrypted_daemons_follow_each_other(s: Server) {
    let r = Remote::new(&s, "enc-daemon");
    let a = encrypted_device(&r, "alpha");
    a.write("seed.txt", b"seed");
    a.write("shared.txt", b"the original, shared");
    a.write("doomed.txt", b"to be deleted");
    a.sync();
    let b = encrypted_device(&r, "beta");
    b.sync();
    let bucket = Bucket::new(&r, Mode::Encrypted, &a);
    let da = daemon(&a);
    let db = daemon(&b);
    wait_until("both daemons are idle", || {
        live_status(&a)["state"] == "idle" && live_status(&b)["state"] == "idle"
    });

    // A file dropped into alpha's folder reaches beta through the journal.
    let mark = db.log_text().len();
    let dropped = b"dropped into alpha's folder, secret".to_vec();
    a.write("dropped.txt", &dropped);
    wait_until("the dropped file reaches beta", || {
        b.read("dropped.txt").as_ref() == Some(&dropped)
    });
    assert_sealed(&r, &a, "dropped.txt", &dropped);
    assert_brought_by_the_journal(&db.log_text(), mark, "dropped.txt");

    // An edit on beta comes back to alpha, the same way.
    let mark = da.log_text().len();
    let edited = b"dropped, then edited on beta".to_vec();
    b.write("dropped.txt", &edited);
    wait_until("beta's edit reaches alpha", || {
        a.read("dropped.txt").as_ref() == Some(&edited)
    });
    assert_sealed(&r, &b, "dropped.txt", &edited);
    assert_brought_by_the_journal(&da.log_text(), mark, "dropped.txt");

    // A delete on alpha: gone from the bucket and from beta.
    a.remove("doomed.txt");
    wait_until("the delete reaches the bucket and beta", || {
        b.read("doomed.txt").is_none() && !r.files().contains_key("doomed.txt")
    });

    // A conflict: both edit while beta's daemon is stopped; both contents survive.
    assert_eq!(db.terminate(), Some(0), "SIGTERM is a clean shutdown");
    a.write("shared.txt", b"alpha's edit");
    wait_until("alpha's edit is in the bucket", || {
        bucket.files().get("shared.txt").map(Vec::as_slice) == Some(&b"alpha's edit"[..])
    });
    b.write(
        "shared.txt",
        b"beta's edit, made while its daemon was stopped",
    );
    let db = daemon(&b);
    wait_until("both edits are on both devices and in the bucket", || {
        let contents: Vec<Vec<u8>> = b.files().into_values().collect();
        contents.contains(&b"alpha's edit".to_vec())
            && contents.contains(&b"beta's edit, made while its daemon was stopped".to_vec())
            && converged(&a, &b, &bucket)
    });
    let fa = a.files();
    let copies = conflict_copies(&fa);
    assert_eq!(copies.len(), 1, "one conflict copy: {:?}", fa.keys());
    assert_eq!(bucket.sealed(std::iter::empty()), Vec::<String>::new());
    assert_eq!(fa.len(), 4, "{:?}", fa.keys());
    assert_eq!(da.terminate(), Some(0));
    assert_eq!(db.terminate(), Some(0));
}
on_servers!(two_encrypted_daemons_follow_each_other);

/// `pail run` on `d`, which must exit by itself (within a minute): its output.
fn run_exits(d: &Device) -> Output {
    let mut child = d
        .command(&["run", "--poll-interval", "1"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let start = Instant::now();
    while child.try_wait().unwrap().is_none() {
        if start.elapsed() > Duration::from_secs(60) {
            let _ = child.kill();
            panic!("pail run on {} did not refuse: still running", d.name);
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    child.wait_with_output().unwrap()
}

fn daemons_without_the_key_refuse_to_run(s: Server) {
    let r = Remote::new(&s, "enc-daemon-refuse");
    // A plain pair set up on the prefix before another device encrypted it.
    let early = Device::new(&r, "early");
    let a = encrypted_device(&r, "alpha");
    a.write("f.txt", b"encrypted content");
    a.sync();
    let b = encrypted_device(&r, "beta");
    b.sync();

    early.write("plain.txt", b"would be plaintext beside ciphertext");
    let out = run_exits(&early);
    assert_code(&out, 1, "pail run on a plain pair of an encrypted prefix");
    assert!(
        text(&out).contains("is end-to-end encrypted (it holds .pail/encryption.toml) but this pair is not set up for it"),
        "{}",
        text(&out)
    );

    // The key gone from a device that had it.
    std::fs::remove_file(key_file(&b)).unwrap();
    b.write("later.txt", b"must not go up in plaintext");
    let out = run_exits(&b);
    assert_code(&out, 1, "pail run without the key");
    assert!(
        text(&out).contains("is end-to-end encrypted but this device has no key for it"),
        "{}",
        text(&out)
    );
    assert!(
        text(&out).contains("--encrypt` and enter its passphrase"),
        "{}",
        text(&out)
    );

    let in_bucket = r.files();
    assert_eq!(
        in_bucket.keys().collect::<Vec<_>>(),
        ["f.txt"],
        "nothing uploaded"
    );
    assert_eq!(
        Bucket::new(&r, Mode::Encrypted, &a).sealed(std::iter::empty()),
        Vec::<String>::new()
    );
}
on_servers!(daemons_without_the_key_refuse_to_run);
