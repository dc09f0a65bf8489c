//! Whatever another client puts in the bucket, the pair keeps syncing (tenet 14): keys with
//! control characters, folder markers, a bad `.pailignore`, odd journal entries.

use std::process::Output;

use crate::daemon::{Daemon, wait_until};
use crate::harness::*;
use crate::on_servers;

const ESC_KEY: &str = "esc\x1b[31mred.txt";
const NEWLINE_KEY: &str = "new\nline.txt";

/// No raw ESC byte reaches the terminal, whatever the bucket holds.
fn assert_no_escape_bytes(out: &Output, what: &str) {
    assert!(
        !out.stdout.contains(&0x1b) && !out.stderr.contains(&0x1b),
        "{what} printed a raw ESC:\n{}",
        text(out).escape_debug()
    );
}

fn odd_keys_markers_and_a_bad_ignore_line_do_not_stop_the_pair(s: Server) {
    let r = Remote::new(&s, "odd-keys");
    let a = Device::new(&r, "alpha");
    a.write("seed.txt", b"seed");
    a.sync();
    let b = Device::new(&r, "beta");
    b.sync();

    // Another S3 client writes odd keys. moto refuses a key with a newline (404): the
    // servers that store it test pail.
    let p = &r.prefix;
    r.put_raw_key(&format!("{p}/{ESC_KEY}"), b"red").unwrap();
    let newline = r.put_raw_key(&format!("{p}/{NEWLINE_KEY}"), b"nl").is_ok();
    // Folder markers, as the S3 console makes them: the prefix's own and a subfolder's.
    r.put_raw_key(&format!("{p}/"), b"").unwrap();
    r.put_raw_key(&format!("{p}/dir/"), b"").unwrap();
    r.put_foreign("dir/inside.txt", b"inside");
    // A `.pailignore` with one line that is no pattern, between two that are.
    r.put_foreign(".pailignore", b"*.tmp\n[z-a]\n*.bak\n");
    // (Keys that are not UTF-8 cannot be written on these servers: Ceph answers
    // InvalidObjectName, Garage InvalidRequest, and moto stores U+FFFD instead; the decoding
    // is unit-tested in pail-s3.)

    // Local edits still go up, remote files still come down.
    a.write("local.txt", b"local edit");
    let out = a.sync();
    assert_no_escape_bytes(&out, "sync");
    assert_eq!(a.read("dir/inside.txt").as_deref(), Some(&b"inside"[..]));
    assert!(a.read(".pailignore").is_some());
    assert!(r.files().contains_key("local.txt"));
    // The odd keys are not files here, the markers made none either.
    let names: Vec<String> = a.files().into_keys().collect();
    assert_eq!(
        names,
        [".pailignore", "dir/inside.txt", "local.txt", "seed.txt"],
        "{names:?}"
    );
    // The good lines of the ignore file apply: a second pass keeps *.tmp and *.bak local.
    a.write("scratch.tmp", b"t");
    a.write("old.bak", b"b");
    a.write("after.txt", b"after");
    let out = a.sync();
    assert_no_escape_bytes(&out, "second sync");
    let remote = r.files();
    assert!(remote.contains_key("after.txt"));
    assert!(!remote.contains_key("scratch.tmp") && !remote.contains_key("old.bak"));

    // Reported: the keys exactly in JSON, the ignore line by file and line.
    let st = a.status_json();
    let skipped = st["pairs"][0]["skipped"].as_array().unwrap().clone();
    let reported = |path: &str| skipped.iter().any(|e| e["path"] == path);
    assert!(reported(&r.key(ESC_KEY)), "{skipped:?}");
    if newline {
        assert!(reported(&r.key(NEWLINE_KEY)), "{skipped:?}");
    }
    assert!(
        skipped.iter().any(|e| e["path"] == ".pailignore"
            && e["reason"]
                .as_str()
                .unwrap()
                .starts_with("line 2: `[z-a]` is not a valid pattern")),
        "{skipped:?}"
    );
    // Folder markers are quiet.
    assert!(
        !skipped
            .iter()
            .any(|e| e["path"] == format!("{p}/") || e["path"] == r.key("dir/")),
        "{skipped:?}"
    );
    // For people: escaped, never raw.
    let out = a.pail(&["status"]);
    assert_ok(&out, "status");
    assert_no_escape_bytes(&out, "status");
    let shown = String::from_utf8_lossy(&out.stdout);
    assert!(shown.contains("esc\\x1b[31mred.txt"), "{shown}");
    if newline {
        assert!(shown.contains("new\\nline.txt"), "{shown}");
    }
    assert!(shown.contains(".pailignore: line 2: `[z-a]`"), "{shown}");
    // Listing versions goes through the same keys (moto sends them raw there).
    if s.versioned {
        let out = a.pail(&["history", a.folder.to_str().unwrap()]);
        assert_ok(&out, "history of the folder");
        assert_no_escape_bytes(&out, "history");
    }

    // The other device converges too.
    let out = b.sync();
    assert_no_escape_bytes(&out, "sync on beta");
    b.sync();
    let out = a.sync();
    assert!(text(&out).contains("in sync"), "{}", text(&out));
    let mut synced = a.files();
    synced.retain(|p, _| !p.ends_with(".tmp") && !p.ends_with(".bak"));
    assert_eq!(synced, b.files());
}
on_servers!(odd_keys_markers_and_a_bad_ignore_line_do_not_stop_the_pair);

/// A journal entry's key stamp, as pail writes them.
fn stamp(t: time::OffsetDateTime) -> String {
    t.format(time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
    ))
    .unwrap()
}

fn odd_journal_entries_do_not_switch_polling_off(s: Server) {
    let r = Remote::new(&s, "odd-journal");
    let a = Device::new(&r, "alpha");
    a.write("seed.txt", b"seed");
    a.sync();
    let b = Device::new(&r, "beta");
    b.sync();
    let journal = |name: String| format!("{}/.pail/journal/{name}", r.prefix);
    let now = time::OffsetDateTime::now_utc();
    // Stamped ten years ahead: polls used to jump past every real entry until then.
    r.put_raw_key(
        &journal(format!(
            "{}-mallory-00000001",
            stamp(now + time::Duration::days(3650))
        )),
        br#"{"what":"sync","paths":["seed.txt"]}"#,
    )
    .unwrap();
    // 3 MiB of junk: over the size pail reads.
    r.put_raw_key(
        &journal(format!("{}-mallory-00000002", stamp(now))),
        &vec![b'['; 3 << 20],
    )
    .unwrap();
    let daemon = Daemon::start(&a, &[]);
    // A later change by another device reaches alpha through the journal.
    b.write("later.txt", b"written after the odd entries");
    b.sync();
    wait_until("beta's later file reaches alpha", || {
        a.read("later.txt").is_some()
    });
    b.write("later2.txt", b"and another");
    b.sync();
    wait_until("a second change reaches alpha too", || {
        a.read("later2.txt").is_some()
    });
    assert_eq!(daemon.terminate(), Some(0));
}
on_servers!(odd_journal_entries_do_not_switch_polling_off);
