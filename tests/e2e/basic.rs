//! One device and the bucket: both directions, status, dry run, ignore rules.

use crate::harness::*;
use crate::on_servers;

fn upload_and_download_both_ways(s: Server) {
    let r = Remote::new(&s, "both-ways");
    let d = Device::new(&r, "laptop");
    d.write("a.txt", b"hello");
    d.write("dir/sub/b.bin", &[7u8; 3000]);
    d.write("empty", b"");
    d.sync();
    let remote = r.files();
    assert_eq!(remote.get("a.txt").map(Vec::as_slice), Some(&b"hello"[..]));
    assert_eq!(remote.get("dir/sub/b.bin").map(Vec::len), Some(3000));
    assert_eq!(remote.get("empty").map(Vec::len), Some(0));
    let meta = r.metadata("a.txt");
    assert_eq!(meta.get("pail-device").map(String::as_str), Some("laptop"));
    assert_eq!(
        meta.get("pail-blake3").map(String::as_str),
        Some(blake3::hash(b"hello").to_hex().as_str())
    );

    // Another S3 client writes; the folder follows.
    r.put_foreign("from-elsewhere.txt", b"written by another client");
    d.sync();
    assert_eq!(
        d.read("from-elsewhere.txt").unwrap(),
        b"written by another client"
    );
    assert_eq!(d.files(), r.files());
    // No temp file survives a finished sync.
    assert!(d.files().keys().all(|k| !k.contains(".pail-tmp-")));
}
on_servers!(upload_and_download_both_ways);

fn no_change_resync_transfers_nothing(s: Server) {
    let r = Remote::new(&s, "no-change");
    let d = Device::new(&r, "laptop");
    for i in 0..20 {
        d.write(&format!("f{i}.txt"), format!("file {i}").as_bytes());
    }
    d.sync();
    let out = d.sync();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("0 uploaded")
            && stdout.contains("0 downloaded")
            && stdout.contains("1 pass"),
        "{stdout}"
    );
}
on_servers!(no_change_resync_transfers_nothing);

/// New small files cost one request each on every server (issue 14): a conditional PUT where
/// the server honours conditions, a plain one where versions catch a lost race afterwards,
/// and on a bucket with neither (Garage) a PUT after one listing page that checks many keys
/// at once, never a HEAD per file.
fn new_files_cost_one_request_each(s: Server) {
    let r = Remote::new(&s, "one-request");
    let d = Device::new(&r, "laptop");
    d.write("seed.txt", b"seed");
    d.sync();
    for i in 0..30 {
        d.write(&format!("d/f{i:02}.txt"), format!("file {i}").as_bytes());
    }
    let ops = d.sync_counting_requests();
    let count = |name: &str| ops.iter().filter(|op| *op == name).count();
    // One HEAD per command: the pair's encryption marker (none here).
    assert_eq!(count("HeadObject"), 1, "{ops:?}");
    // The 30 files and the pass's journal entry.
    assert_eq!(count("PutObject"), 31, "{ops:?}");
    // Besides: the pass's listings, and the listing pages that check the new keys (Garage)
    // or their versions afterwards (Ceph). On an idle machine that is one page; a loaded one
    // may outlive a page's 200 ms trust (`new_keys::FRESH`) and ask for another. Either way
    // far fewer than a request per file.
    let lists = count("ListObjectsV2") + count("ListObjectVersions");
    assert_eq!(ops.len() - lists, 1 + 31, "{ops:?}");
    assert!(lists <= 12, "{lists} listings: {ops:?}");
    assert_eq!(r.files().len(), 31);
}
on_servers!(new_files_cost_one_request_each);

/// A prefix of more than a page of synced keys (1,000) is listed in key ranges at once
/// (`start-after` the range's lower end; here three ranges of a page): another client's
/// changes in the first range, the last and between come down, and nothing else changes.
fn a_large_prefix_listed_in_ranges_misses_nothing(s: Server) {
    let r = Remote::new(&s, "ranges");
    let d = Device::new(&r, "laptop");
    for i in 0..2050 {
        d.write(&format!("d{:02}/f{:03}.txt", i / 100, i % 100), b"x");
    }
    d.sync();
    r.put_foreign("d00/new.txt", b"first");
    r.put_foreign("d20/new.txt", b"last");
    r.delete_foreign("d10/f050.txt");
    r.put_foreign("d15/f000.txt", b"edited");
    let before = d.files();
    let ops = d.sync_counting_requests();
    let files = d.files();
    assert_eq!(files, r.files());
    assert_eq!(files.len(), 2051);
    assert_eq!(files["d00/new.txt"], b"first");
    assert_eq!(files["d20/new.txt"], b"last");
    assert_eq!(files["d15/f000.txt"], b"edited");
    assert!(!files.contains_key("d10/f050.txt"));
    let changed = before
        .iter()
        .filter(|(k, v)| files.get(*k) != Some(v))
        .count();
    assert_eq!(changed, 2, "only the deleted and the edited file changed");
    // Listed twice (the pass, then the one that finds nothing left), each time in three
    // ranges: 1,000 keys, 1,000 and 50, give or take the changes and pail's own `.pail/` keys
    // (before the files in key order), so at most 2 + 2 + 1 pages. Ranges listed from the
    // prefix's start (start-after ignored) would take 8. Besides, a listing or two of pail's
    // own bookkeeping (on Garage, two).
    let lists = ops.iter().filter(|op| *op == "ListObjectsV2").count();
    assert!(lists <= 2 * 5 + 2, "{lists} listings: {ops:?}");
}
on_servers!(a_large_prefix_listed_in_ranges_misses_nothing);

fn status_json_follows_the_contract(s: Server) {
    let r = Remote::new(&s, "status");
    let d = Device::new(&r, "laptop");
    let before = d.status_json();
    assert_eq!(
        before["pairs"][0]["last_full_sync"],
        serde_json::Value::Null
    );
    d.write("x.txt", b"x");
    d.sync();
    let st = d.status_json();
    let p = &st["pairs"][0];
    assert_eq!(
        p["folder"].as_str().unwrap(),
        d.folder.canonicalize().unwrap().to_str().unwrap()
    );
    assert_eq!(p["remote"], r.url().as_str());
    assert_eq!(p["state"], "idle");
    assert!(p["last_full_sync"].is_string());
    for k in ["pending_uploads", "pending_downloads", "conflicts"] {
        assert_eq!(p[k], 0, "{k}");
    }
    assert!(p["in_flight"].as_array().unwrap().is_empty());
    assert!(p["errors"].as_array().unwrap().is_empty());
    let versioning = p["bucket"]["versioning"].as_str().unwrap();
    if s.versioned {
        assert_eq!(versioning, "enabled");
    } else {
        assert!(
            versioning == "unsupported" || versioning == "off",
            "{versioning}"
        );
    }
    assert_eq!(p["bucket"]["conditional_writes"], s.conditional_writes);
}
on_servers!(status_json_follows_the_contract);

fn dry_run_changes_nothing(s: Server) {
    let r = Remote::new(&s, "dry-run");
    let d = Device::new(&r, "laptop");
    d.write("new.txt", b"new");
    r.put_foreign("remote.txt", b"remote");
    let out = d.pail(&["sync", "--dry-run"]);
    assert_ok(&out, "dry run");
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        stdout.contains("upload") && stdout.contains("new.txt"),
        "{stdout}"
    );
    assert!(
        stdout.contains("download") && stdout.contains("remote.txt"),
        "{stdout}"
    );
    assert!(d.read("remote.txt").is_none());
    assert!(!r.files().contains_key("new.txt"));
}
on_servers!(dry_run_changes_nothing);

fn ignored_paths_stay_untouched_both_ways(s: Server) {
    let r = Remote::new(&s, "ignore");
    let d = Device::new(&r, "laptop");
    d.write(".pailignore", b"*.log\nbuild/\n");
    d.write("keep.txt", b"keep");
    d.write("debug.log", b"local log");
    d.write("build/out.o", b"obj");
    d.write(".DS_Store", b"mac junk");
    d.write("notes.txt.swp", b"vim swap");
    r.put_foreign("server.log", b"remote log");
    d.sync();
    let remote = r.files();
    assert!(remote.contains_key("keep.txt") && remote.contains_key(".pailignore"));
    for k in ["debug.log", "build/out.o", ".DS_Store", "notes.txt.swp"] {
        assert!(!remote.contains_key(k), "{k} must not be uploaded");
    }
    assert!(
        d.read("server.log").is_none(),
        "ignored remote key must not be downloaded"
    );

    // Ignoring a synced file later deletes nothing on either side (tenet 10).
    d.write(".pailignore", b"*.log\nbuild/\nkeep.txt\n");
    d.sync();
    assert!(d.read("keep.txt").is_some());
    assert!(r.files().contains_key("keep.txt"));
    // And an edit of the now-ignored file is not uploaded.
    d.write("keep.txt", b"edited while ignored");
    d.sync();
    assert_eq!(r.files()["keep.txt"], b"keep");
}
on_servers!(ignored_paths_stay_untouched_both_ways);

fn symlinks_and_fifos_are_skipped_and_reported(s: Server) {
    let r = Remote::new(&s, "special");
    let d = Device::new(&r, "laptop");
    d.write("real.txt", b"real");
    std::os::unix::fs::symlink("/etc/passwd", d.path("link-out")).unwrap();
    let fifo = d.path("pipe");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    d.sync();
    let remote = r.files();
    assert_eq!(remote.keys().collect::<Vec<_>>(), vec!["real.txt"]);
    let st = d.status_json();
    let skipped = st["pairs"][0]["skipped"].as_array().unwrap();
    let paths: Vec<&str> = skipped
        .iter()
        .map(|e| e["path"].as_str().unwrap())
        .collect();
    assert!(
        paths.contains(&"link-out") && paths.contains(&"pipe"),
        "{skipped:?}"
    );
}
on_servers!(symlinks_and_fifos_are_skipped_and_reported);

fn multipart_upload_round_trips(s: Server) {
    let r = Remote::new(&s, "multipart");
    let a = Device::new(&r, "a");
    a.set_config("multipart_threshold", "6291456");
    a.set_config("part_size", "5242880");
    let big: Vec<u8> = (0..13_000_000u32)
        .map(|i| (i.wrapping_mul(2654435761) >> 13) as u8)
        .collect();
    a.write("big.bin", &big);
    a.sync();
    let b = Device::new(&r, "b");
    b.sync();
    assert!(
        b.read("big.bin").unwrap() == big,
        "multipart content differs after the round trip"
    );
    assert_eq!(
        r.metadata("big.bin").get("pail-blake3").unwrap(),
        &blake3::hash(&big).to_hex().to_string()
    );
}
on_servers!(multipart_upload_round_trips);

fn unversioned_bucket_keeps_trash_copies(s: Server) {
    let r = Remote::new(&s, "trash");
    let a = Device::new(&r, "a");
    a.write("doc.txt", b"version 1");
    a.write("gone.txt", b"to be deleted");
    a.sync();
    a.write("doc.txt", b"version 2");
    a.remove("gone.txt");
    a.sync();
    let trash = r.keys_under(".pail/trash/");
    assert!(
        trash.iter().any(|k| k.contains("/trash/doc.txt/")),
        "{trash:?}"
    );
    assert!(
        trash.iter().any(|k| k.contains("/trash/gone.txt/")),
        "{trash:?}"
    );
}
on_servers!(unversioned_bucket_keeps_trash_copies: garage);

/// Tenet 3 on a server that ignores conditional writes and keeps no versions (Garage): beta
/// checked `doc.txt` and copied it into the trash to delete it, alpha's edit landed, then
/// beta's DELETE. (Done here by hand, in that order: two syncs cannot be made to interleave
/// on cue.) alpha sees that beta's trash copy holds the object its own edit replaced, so beta
/// never saw the edit: the edit stays and goes back up, and beta gets it back. A delete by
/// another client, and beta's own delete once it has the edit, are honoured.
fn an_edit_beats_a_delete_that_raced_it_without_versions(s: Server) {
    let r = Remote::new(&s, "raced-delete");
    let a = Device::new(&r, "alpha");
    a.write("doc.txt", b"first draft");
    a.write("gone.txt", b"deleted by another client");
    for i in 0..4 {
        a.write(&format!("kept {i}.txt"), b"untouched");
    }
    a.sync();
    let b = Device::new(&r, "beta");
    b.sync();
    r.copy_foreign(
        "doc.txt",
        ".pail/trash/doc.txt/20261201T000000.000000Z-beta",
    );
    a.write("doc.txt", b"alpha's edit");
    a.sync();
    r.delete_foreign("doc.txt");
    r.delete_foreign("gone.txt");
    a.sync();
    assert_eq!(a.read("doc.txt").as_deref(), Some(&b"alpha's edit"[..]));
    assert_eq!(r.files()["doc.txt"], b"alpha's edit");
    assert_eq!(
        a.read("gone.txt"),
        None,
        "another client's delete is honoured"
    );
    b.sync();
    assert_eq!(b.files(), a.files());
    assert_eq!(r.files(), a.files());
    // A delete that saw the edit is no race: it reaches alpha like any other.
    b.remove("doc.txt");
    b.sync();
    a.sync();
    assert_eq!(a.read("doc.txt"), None, "beta's later delete is honoured");
    assert_eq!(r.files(), a.files());
}
on_servers!(an_edit_beats_a_delete_that_raced_it_without_versions: garage);

fn versioned_bucket_keeps_every_version(s: Server) {
    let r = Remote::new(&s, "versions");
    let a = Device::new(&r, "a");
    a.write("doc.txt", b"version 1");
    a.sync();
    a.write("doc.txt", b"version 2, longer");
    a.sync();
    assert_eq!(r.version_count("doc.txt"), 2);
    assert!(
        r.keys_under(".pail/trash/").is_empty(),
        "no trash copies needed with versioning"
    );
}
on_servers!(versioned_bucket_keeps_every_version: ceph, moto);

/// `pail config` shows the pair with its defaults; `pail remove` unpairs the folder and
/// leaves its files and the bucket alone; the pair is then gone from `status` and `config`.
fn config_shows_and_remove_unpairs(s: Server) {
    let r = Remote::new(&s, "remove");
    let d = Device::new(&r, "laptop");
    d.write("keep.txt", b"mine");
    d.sync();
    let out = d.pail(&["config", "--json"]);
    assert_ok(&out, "config --json");
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["pairs"][0]["remote"], r.url());
    assert_eq!(c["pairs"][0]["device"], "laptop");
    assert_eq!(c["pairs"][0]["transfers"], 16, "defaults are filled in");
    let out = d.pail(&["config"]);
    assert_ok(&out, "config");
    assert!(text(&out).contains("[[pair]]"), "{}", text(&out));

    let out = d.pail(&["remove", d.folder.to_str().unwrap()]);
    assert_ok(&out, "remove");
    assert!(text(&out).contains("no longer synced"), "{}", text(&out));
    assert_eq!(
        d.read("keep.txt").as_deref(),
        Some(&b"mine"[..]),
        "files untouched"
    );
    assert_eq!(r.files()["keep.txt"], b"mine", "bucket untouched");
    let out = d.pail(&["config", "--json"]);
    let c: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(c["pairs"].as_array().unwrap().len(), 0);
    let out = d.pail(&["remove", d.folder.to_str().unwrap()]);
    assert_code(&out, 1, "remove of a folder no longer paired");
    assert!(
        text(&out).contains("is not a synced folder"),
        "{}",
        text(&out)
    );
}
on_servers!(config_shows_and_remove_unpairs: moto);

/// `pail status` for people: the state in words, local times with how long ago, no internal
/// tokens.
fn status_text_is_for_people(s: Server) {
    let r = Remote::new(&s, "status-text");
    let d = Device::new(&r, "laptop");
    d.write("x.txt", b"x");
    d.sync();
    let out = d.pail(&["status"]);
    assert_ok(&out, "status");
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(shown.contains("state: up to date"), "{shown}");
    assert!(shown.contains("(just now)"), "{shown}");
    for token in ["state: idle", "safety_stop", "never_synced"] {
        assert!(!shown.contains(token), "{token}: {shown}");
    }
    let last = shown
        .lines()
        .find_map(|l| l.strip_prefix("  last full sync: "))
        .unwrap_or_else(|| panic!("{shown}"));
    // Local time to the second, a space between date and time: not RFC 3339 in UTC.
    assert_eq!(last.as_bytes()[10], b' ', "{last}");
    assert!(last.ends_with("(just now)"), "{last}");
    d.remove("x.txt");
    assert_code(&d.pail(&["sync"]), 3, "emptied folder");
    let shown = String::from_utf8_lossy(&d.pail(&["status"]).stdout).into_owned();
    assert!(
        shown.contains("state: stopped for safety: nothing was changed"),
        "{shown}"
    );
}
on_servers!(status_text_is_for_people: moto);

/// Under a terminal (a pseudo-terminal made by `script`), `pail sync` shows a progress bar:
/// files and bytes done of the total; off a terminal, its stderr has no bar escape codes.
fn sync_shows_progress_on_a_terminal(s: Server) {
    let r = Remote::new(&s, "progress");
    let d = Device::new(&r, "laptop");
    d.write("big.bin", &vec![7u8; 12 << 20]);
    for i in 0..20 {
        d.write(&format!("small/{i}.txt"), b"small");
    }
    let mut cmd = d.command(&["sync"]);
    let inner = format!(
        "{} {}",
        pail_bin(),
        cmd.get_args()
            .map(|a| a.to_string_lossy().into_owned())
            .collect::<Vec<_>>()
            .join(" ")
    );
    // `script -q -e -c CMD /dev/null` runs CMD on a new pseudo-terminal and copies its output.
    let out = cmd_in_pty(&mut cmd, &inner);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("21/21 files"), "no progress bar:\n{shown}");
    assert!(shown.contains("MiB"), "{shown}");
    assert_eq!(r.files().len(), 21);

    d.write("more.txt", b"more");
    let out = d.pail(&["sync"]);
    assert_ok(&out, "sync off a terminal");
    assert!(!stderr_of(&out).contains('\u{1b}'), "{}", text(&out));

    // A folder brought back shows a bar of its files too.
    std::fs::remove_dir_all(d.path("small")).unwrap();
    assert_ok(
        &d.pail(&["sync", "--confirm-deletes"]),
        "deleting the folder",
    );
    let small = d.path("small");
    let mut cmd = d.command(&["undelete", small.to_str().unwrap()]);
    let inner = format!("{} undelete {}", pail_bin(), small.display());
    let out = cmd_in_pty(&mut cmd, &inner);
    let shown = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{shown}");
    assert!(shown.contains("20/20 files"), "no progress bar:\n{shown}");
    assert_eq!(d.read("small/3.txt").unwrap(), b"small");
}
on_servers!(sync_shows_progress_on_a_terminal: ceph, garage);

fn stderr_of(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// Runs `inner` (the command line of `cmd`, with `cmd`'s environment) under `script`.
fn cmd_in_pty(cmd: &mut std::process::Command, inner: &str) -> std::process::Output {
    let mut s = std::process::Command::new("script");
    s.args(["-q", "-e", "-c", inner, "/dev/null"]).env_clear();
    for (k, v) in cmd.get_envs() {
        if let Some(v) = v {
            s.env(k, v);
        }
    }
    s.env("TERM", "xterm");
    s.output().expect("`script` (util-linux) runs")
}

/// Rate limits from the config's top level hold the sum of transfers back (checked as a
/// lower bound on the time a transfer takes, which a slow machine only makes longer), and a
/// limit pail cannot read is refused with the key named.
fn rate_limits_hold_transfers_back(s: Server) {
    let r = Remote::new(&s, "limits");
    let a = Device::new(&r, "alpha");
    let b = Device::new(&r, "beta");
    let body: Vec<u8> = (0..1024 * 1024).map(|i| (i % 251) as u8).collect();
    let top = |d: &Device, line: &str| {
        let text = std::fs::read_to_string(&d.config).unwrap();
        std::fs::write(&d.config, format!("{line}\n{text}")).unwrap();
    };
    top(&a, "upload_limit = \"fast\"");
    let out = a.pail(&["sync"]);
    assert_code(&out, 1, "an unreadable limit");
    assert!(
        text(&out).contains("upload_limit = \"fast\""),
        "{}",
        text(&out)
    );
    let text_now = std::fs::read_to_string(&a.config).unwrap();
    std::fs::write(&a.config, text_now.replacen("\"fast\"", "\"256 KiB\"", 1)).unwrap();
    a.write("one-mib.bin", &body);
    let start = std::time::Instant::now();
    a.sync();
    // 1 MiB at 256 KiB/s, of which a second's worth may go at once: at least 3 s.
    assert!(
        start.elapsed().as_secs_f64() >= 2.8,
        "{:?}",
        start.elapsed()
    );
    top(&b, "download_limit = \"256 KiB\"");
    let start = std::time::Instant::now();
    b.sync();
    assert!(
        start.elapsed().as_secs_f64() >= 2.8,
        "{:?}",
        start.elapsed()
    );
    assert_eq!(b.read("one-mib.bin"), Some(body));
}
on_servers!(rate_limits_hold_transfers_back: moto);
