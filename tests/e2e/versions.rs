//! history, restore, undelete and conflicts against the real servers: versions on Ceph and
//! moto, pail's trash copies on Garage (no versioning).

use std::path::Path;
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;
use crate::on_servers;

fn json(d: &Device, args: &[&str]) -> Value {
    let out = d.pail(args);
    assert_ok(&out, &format!("{args:?}"));
    serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{args:?} is not JSON ({e}):\n{}", text(&out)))
}

fn history(d: &Device, rel: &str) -> Value {
    json(d, &["history", d.path(rel).to_str().unwrap(), "--json"])
}

/// Runs pail with `cwd` as the current directory (PATH arguments relative to it).
fn pail_in(d: &Device, cwd: &Path, args: &[&str]) -> std::process::Output {
    d.command(args).current_dir(cwd).output().unwrap()
}

fn ok(d: &Device, args: &[&str]) -> String {
    let out = d.pail(args);
    assert_ok(&out, &format!("{args:?}"));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The moment now, with the bucket's clock a safe distance on either side of it.
pub(crate) fn moment() -> String {
    std::thread::sleep(Duration::from_millis(1500));
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap();
    std::thread::sleep(Duration::from_millis(1500));
    rfc3339(now.as_secs() as i64, now.subsec_millis())
}

/// RFC 3339 in UTC of Unix seconds (Howard Hinnant's days-to-civil).
fn rfc3339(secs: i64, millis: u32) -> String {
    let (days, rem) = (secs.div_euclid(86_400), secs.rem_euclid(86_400));
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{millis:03}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

#[test]
fn rfc3339_of_known_instants() {
    assert_eq!(rfc3339(0, 0), "1970-01-01T00:00:00.000Z");
    assert_eq!(rfc3339(1_795_257_000, 5), "2026-11-21T10:30:00.005Z");
}

fn overwrite_then_restore_a_file_with_special_characters(s: Server) {
    let r = Remote::new(&s, "restore-file");
    let d = Device::new(&r, "laptop");
    let rel = "my thesis/ünï code & +plus (1).txt";
    for body in ["draft one", "draft two", "draft three"] {
        d.write(rel, body.as_bytes());
        d.sync();
    }
    let h = history(&d, rel);
    assert_eq!(h["path"], rel);
    assert_eq!(h["deleted"], false);
    let versions = h["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 3, "{h:#}");
    for v in versions {
        for k in ["version_id", "time", "source", "etag"] {
            assert!(v[k].is_string(), "{k} in {v}");
        }
        assert!(v["size"].is_u64() && v["current"].is_boolean());
        assert_eq!(v["delete_marker"], false);
        assert_eq!(v["device"], "laptop");
    }
    assert_eq!(versions[0]["current"], true, "newest first");
    assert_eq!(versions[0]["size"], 11);
    let source = if s.versioned { "version" } else { "trash" };
    assert_eq!(versions[2]["source"], source);
    assert_eq!(h["note"].is_string(), !s.versioned);
    let oldest = versions[2]["version_id"].as_str().unwrap().to_owned();

    // A copy elsewhere leaves the bucket alone.
    let elsewhere = d.folder.parent().unwrap().join("old draft.txt");
    ok(
        &d,
        &[
            "restore",
            d.path(rel).to_str().unwrap(),
            "--version",
            &oldest,
            "--to",
            elsewhere.to_str().unwrap(),
        ],
    );
    assert_eq!(std::fs::read(&elsewhere).unwrap(), b"draft one");
    assert_eq!(r.files()[rel], b"draft three");

    // In place, named relative to the current directory: a new current version.
    let out = pail_in(
        &d,
        &d.path("my thesis"),
        &["restore", "ünï code & +plus (1).txt", "--version", &oldest],
    );
    assert_ok(&out, "restore in place");
    assert_eq!(d.read(rel).unwrap(), b"draft one");
    assert_eq!(r.files()[rel], b"draft one");
    let after = history(&d, rel);
    let versions = after["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 4, "nothing was destroyed: {after:#}");
    assert_eq!(versions[0]["current"], true);
    assert_eq!(versions[0]["size"], 9);
    // The folder and the bucket agree; a second sync has nothing to do.
    let out = d.sync();
    assert!(String::from_utf8_lossy(&out.stdout).contains("0 downloaded"));
    assert_eq!(d.files(), r.files());
}
on_servers!(overwrite_then_restore_a_file_with_special_characters);

fn delete_then_undelete_files_and_folders(s: Server) {
    let r = Remote::new(&s, "undelete");
    let d = Device::new(&r, "laptop");
    d.write("a.txt", b"alpha");
    d.write("photos/1.jpg", b"one");
    d.write("photos/2015/2.jpg", b"two");
    d.write("keep.txt", b"stays");
    d.sync();
    d.remove("a.txt");
    std::fs::remove_dir_all(d.path("photos")).unwrap();
    d.sync();
    assert!(!r.files().contains_key("a.txt"));

    let listed = json(
        &d,
        &["history", d.folder.to_str().unwrap(), "--deleted", "--json"],
    );
    let paths: Vec<&str> = listed["files"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["path"].as_str().unwrap())
        .collect();
    assert_eq!(paths, ["a.txt", "photos/1.jpg", "photos/2015/2.jpg"]);
    let h = history(&d, "a.txt");
    assert_eq!(h["deleted"], true, "{h:#}");

    let out = ok(&d, &["undelete", d.path("a.txt").to_str().unwrap()]);
    assert!(out.contains("undeleted"), "{out}");
    assert_eq!(d.read("a.txt").unwrap(), b"alpha");
    let out = ok(
        &d,
        &["undelete", d.path("photos").to_str().unwrap(), "--dry-run"],
    );
    assert!(out.contains("photos/2015/2.jpg"), "{out}");
    assert!(!d.path("photos").exists(), "a dry run changes nothing");
    ok(&d, &["undelete", d.path("photos").to_str().unwrap()]);
    assert_eq!(d.read("photos/1.jpg").unwrap(), b"one");
    assert_eq!(d.read("photos/2015/2.jpg").unwrap(), b"two");
    assert_eq!(d.files(), r.files());

    // A name that never existed is an error that says so, not an empty folder (a typo must
    // not read as "0 restored").
    let never = d.path("never/was.txt");
    for args in [
        vec!["undelete", never.to_str().unwrap()],
        vec!["history", never.to_str().unwrap()],
        vec!["restore", never.to_str().unwrap(), "--at", "1 hour ago"],
    ] {
        let out = d.pail(&args);
        assert_code(&out, 1, &format!("{args:?} of a path that never existed"));
        assert!(
            text(&out).contains("never/was.txt: no such file or folder"),
            "{args:?}: {}",
            text(&out)
        );
    }
}
on_servers!(delete_then_undelete_files_and_folders);

/// Without versions, what another S3 client overwrites or deletes is only on the devices:
/// pail puts it in the trash before replacing it locally, so history and undelete find it.
/// A pail device's own overwrite is trashed once, by that device (Garage).
fn other_clients_changes_keep_the_old_content_without_versions(s: Server) {
    let r = Remote::new(&s, "foreign-trash");
    let a = Device::new(&r, "laptop");
    let b = Device::new(&r, "desktop");
    a.write("notes.txt", b"v1 by laptop");
    a.write("photo.jpg", b"the only photo");
    a.sync();
    b.sync();
    b.write("notes.txt", b"v2 by desktop");
    b.sync();
    a.sync();
    assert_eq!(a.read("notes.txt").unwrap(), b"v2 by desktop");
    let trashed = |rel: &str| r.keys_under(&format!(".pail/trash/{rel}/")).len();
    assert_eq!(trashed("notes.txt"), 1, "trashed once, by the desktop");

    r.put_foreign("notes.txt", b"v3 by another client");
    r.delete_foreign("photo.jpg");
    a.sync();
    assert_eq!(a.read("notes.txt").unwrap(), b"v3 by another client");
    assert!(a.read("photo.jpg").is_none(), "the delete is honoured");
    assert_eq!(trashed("notes.txt"), 2, "v2 kept before it was replaced");
    assert_eq!(trashed("photo.jpg"), 1);
    assert!(conflict_copies(&a.files()).is_empty(), "{:?}", a.files());

    let h = history(&a, "notes.txt");
    let sizes: Vec<u64> = h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["size"].as_u64().unwrap())
        .collect();
    assert_eq!(sizes.len(), 3, "{h:#}");
    ok(&a, &["undelete", a.path("photo.jpg").to_str().unwrap()]);
    assert_eq!(a.read("photo.jpg").unwrap(), b"the only photo");
    b.sync();
    assert_eq!(b.files(), a.files());
}
on_servers!(other_clients_changes_keep_the_old_content_without_versions: garage);

fn folder_restore_to_a_moment_between_edits_on_two_devices(s: Server) {
    let r = Remote::new(&s, "restore-folder");
    let a = Device::new(&r, "laptop");
    let b = Device::new(&r, "desktop");
    for i in 0..6 {
        a.write(&format!("work/f{i}.txt"), format!("v1 of {i}").as_bytes());
    }
    a.write("other/untouched.txt", b"outside the folder");
    a.sync();
    b.sync();
    let t = moment();
    a.write("work/f0.txt", b"v2 by laptop");
    a.write("work/f1.txt", b"v2 by laptop");
    a.remove("work/f2.txt");
    a.write("work/new.txt", b"made after the moment");
    a.write("other/untouched.txt", b"changed, but outside");
    a.sync();
    b.sync();
    b.write("work/f3.txt", b"v2 by desktop");
    b.remove("work/f1.txt");
    b.sync();
    a.sync();

    let work = a.path("work");
    let plan = ok(
        &a,
        &["restore", work.to_str().unwrap(), "--at", &t, "--dry-run"],
    );
    for f in ["work/f0.txt", "work/f1.txt", "work/f2.txt", "work/f3.txt"] {
        assert!(plan.contains(&format!("restore  {f}")), "{f}: {plan}");
    }
    assert!(plan.contains("keep     work/new.txt"), "{plan}");
    assert!(plan.contains("4 file(s) to bring back"), "{plan}");

    let out = ok(&a, &["restore", work.to_str().unwrap(), "--at", &t]);
    assert!(out.contains("4 restored"), "{out}");
    for i in 0..6 {
        assert_eq!(
            a.read(&format!("work/f{i}.txt")).unwrap(),
            format!("v1 of {i}").as_bytes(),
            "f{i}"
        );
    }
    assert_eq!(a.read("work/new.txt").unwrap(), b"made after the moment");
    assert_eq!(
        a.read("other/untouched.txt").unwrap(),
        b"changed, but outside"
    );
    // --exact also removes what was made later (a delete marker: undoable).
    ok(
        &a,
        &["restore", work.to_str().unwrap(), "--at", &t, "--exact"],
    );
    assert!(a.read("work/new.txt").is_none());
    b.sync();
    assert_eq!(a.files(), b.files());
    assert_eq!(a.files(), r.files());
    ok(&a, &["undelete", a.path("work/new.txt").to_str().unwrap()]);
    assert_eq!(a.read("work/new.txt").unwrap(), b"made after the moment");
}
on_servers!(folder_restore_to_a_moment_between_edits_on_two_devices);

fn versions_of_multipart_objects_restore(s: Server) {
    let r = Remote::new(&s, "restore-multipart");
    let d = Device::new(&r, "laptop");
    d.set_config("multipart_threshold", "5242880");
    d.set_config("part_size", "5242880");
    let one: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
    let two: Vec<u8> = (0..6 * 1024 * 1024u32).map(|i| (i % 241) as u8).collect();
    d.write("big.bin", &one);
    d.sync();
    d.write("big.bin", &two);
    d.sync();
    let h = history(&d, "big.bin");
    let versions = h["versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{h:#}");
    assert!(
        versions[1]["etag"].as_str().unwrap().contains('-'),
        "a multipart ETag: {h:#}"
    );
    let id = versions[1]["version_id"].as_str().unwrap();
    ok(
        &d,
        &[
            "restore",
            d.path("big.bin").to_str().unwrap(),
            "--version",
            id,
        ],
    );
    assert!(
        d.read("big.bin").unwrap() == one,
        "restored content differs"
    );
    assert!(r.files()["big.bin"] == one);
}
on_servers!(versions_of_multipart_objects_restore);

fn delete_markers_on_delete_markers(s: Server) {
    let r = Remote::new(&s, "double-delete");
    let d = Device::new(&r, "laptop");
    d.write("a.txt", b"precious");
    // Another file, so that the prefix does not list empty (a safety stop).
    d.write("other.txt", b"stays");
    d.sync();
    r.delete_foreign("a.txt");
    r.delete_foreign("a.txt");
    let h = history(&d, "a.txt");
    let markers = h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["delete_marker"] == true)
        .count();
    // Ceph RGW answers the second delete without stacking a second marker; moto (as AWS)
    // stacks it.
    let expected = if s.name == "ceph" { 1 } else { 2 };
    assert_eq!(markers, expected, "{h:#}");
    assert_eq!(h["deleted"], true);
    assert_eq!(h["versions"][0]["device"], Value::Null);
    d.sync();
    assert!(d.read("a.txt").is_none());
    ok(&d, &["undelete", d.path("a.txt").to_str().unwrap()]);
    assert_eq!(d.read("a.txt").unwrap(), b"precious");
    assert_eq!(r.files()["a.txt"], b"precious");
}
on_servers!(delete_markers_on_delete_markers: ceph, moto);

fn conflicts_are_listed_and_resolved(s: Server) {
    let r = Remote::new(&s, "conflicts");
    let a = Device::new(&r, "laptop");
    let b = Device::new(&r, "desktop");
    a.write("notes.txt", b"base");
    a.sync();
    b.sync();
    a.write("notes.txt", b"laptop's words");
    a.sync();
    b.write("notes.txt", b"desktop's words");
    b.sync();
    let listed = json(&b, &["conflicts", "--json"]);
    let items = listed["conflicts"].as_array().unwrap();
    assert_eq!(items.len(), 1, "{listed:#}");
    let c = &items[0];
    assert_eq!(c["original"], "notes.txt");
    assert_eq!(c["device"], "desktop");
    assert!(c["created_at"].is_string() && c["folder"].is_string());
    let copy = c["path"].as_str().unwrap().to_owned();
    assert_eq!(b.read(&copy).unwrap(), b"desktop's words");
    b.sync();

    // Keep the desktop's words under the original name; the copy goes away everywhere.
    ok(
        &b,
        &[
            "conflicts",
            "resolve",
            b.path(&copy).to_str().unwrap(),
            "--keep",
            "local",
        ],
    );
    assert_eq!(b.read("notes.txt").unwrap(), b"desktop's words");
    assert!(b.read(&copy).is_none());
    a.sync();
    assert_eq!(a.read("notes.txt").unwrap(), b"desktop's words");
    assert!(a.read(&copy).is_none());
    let listed = json(&b, &["conflicts", "--json"]);
    assert!(listed["conflicts"].as_array().unwrap().is_empty());
    // The laptop's words were not lost: they are an older version (or trash copy).
    let h = history(&b, "notes.txt");
    assert!(h["versions"].as_array().unwrap().len() >= 3, "{h:#}");

    // A second conflict, resolved by keeping the other side: the copy is deleted.
    a.write("notes.txt", b"laptop again");
    a.sync();
    b.write("notes.txt", b"desktop again");
    b.sync();
    b.sync();
    let out = ok(&b, &["conflicts", "resolve", "--keep", "remote"]);
    assert!(out.contains("copy deleted"), "{out}");
    assert_eq!(b.read("notes.txt").unwrap(), b"laptop again");
    assert!(conflict_copies(&b.files()).is_empty());
    a.sync();
    assert_eq!(a.files(), b.files());
}
on_servers!(conflicts_are_listed_and_resolved);

fn nothing_to_restore_is_said_clearly(s: Server) {
    let r = Remote::new(&s, "nothing");
    let d = Device::new(&r, "laptop");
    d.write("a.txt", b"only version");
    d.sync();
    let out = d.pail(&[
        "restore",
        d.path("a.txt").to_str().unwrap(),
        "--at",
        "2000-01-01",
    ]);
    assert_code(&out, 1, "restore before the file existed");
    assert!(text(&out).contains("did not exist yet"), "{}", text(&out));
    let out = d.pail(&[
        "restore",
        d.path("a.txt").to_str().unwrap(),
        "--version",
        "nope",
    ]);
    assert_code(&out, 1, "unknown version");
    assert!(text(&out).contains("pail history"), "{}", text(&out));
    let out = d.pail(&[
        "restore",
        d.path("a.txt").to_str().unwrap(),
        "--at",
        "whenever",
    ]);
    assert_code(&out, 1, "bad time");
    assert!(text(&out).contains("2 hours ago"), "{}", text(&out));
    let out = d.pail(&["restore", "/definitely/not/synced", "--at", "1 hour ago"]);
    assert_code(&out, 1, "outside");
    assert!(
        text(&out).contains("not inside a synced folder"),
        "{}",
        text(&out)
    );
    // Restoring to the current content changes nothing.
    let h = history(&d, "a.txt");
    let id = h["versions"][0]["version_id"].as_str().unwrap().to_owned();
    let out = ok(
        &d,
        &[
            "restore",
            d.path("a.txt").to_str().unwrap(),
            "--version",
            &id,
        ],
    );
    assert!(out.contains("already has that content"), "{out}");
}
on_servers!(nothing_to_restore_is_said_clearly);

fn history_size_shows_what_old_versions_take_per_folder(s: Server) {
    let r = Remote::new(&s, "history-size");
    let a = Device::new(&r, "laptop");
    a.write("photos/a.jpg", &[1u8; 10_000]);
    a.write("photos/b.jpg", &[2u8; 5_000]);
    a.write("docs/x.txt", &[3u8; 100]);
    a.write("docs/same.txt", b"never changed");
    a.sync();
    a.write("photos/a.jpg", &[4u8; 20_000]);
    a.remove("photos/b.jpg");
    a.write("docs/x.txt", &[5u8; 200]);
    a.sync();

    let root = a.folder.to_str().unwrap().to_owned();
    let report = json(&a, &["history", &root, "--size", "--json"]);
    let expect_kept = if s.versioned { "versions" } else { "trash" };
    assert_eq!(report["kept_as"], expect_kept, "{report}");
    assert_eq!(report["noncurrent_bytes"], 15_100, "{report}");
    assert_eq!(report["noncurrent_versions"], 3, "{report}");
    if s.versioned {
        assert_eq!(report["delete_markers"], 1, "{report}");
    }
    let folders = report["folders"].as_array().unwrap();
    let names: Vec<&str> = folders
        .iter()
        .map(|f| f["folder"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["photos", "docs"], "largest first: {report}");
    assert_eq!(folders[0]["noncurrent_bytes"], 15_000);
    assert_eq!(folders[1]["noncurrent_bytes"], 100);

    // One folder only, and in words.
    let docs = a.path("docs");
    let said = ok(&a, &["history", docs.to_str().unwrap(), "--size"]);
    assert!(
        said.contains("100 B") || said.contains("100 bytes"),
        "{said}"
    );
    assert!(said.contains("docs"), "{said}");
    assert!(!said.contains("photos"), "{said}");
}
on_servers!(history_size_shows_what_old_versions_take_per_folder);

/// A file deleted here but not yet synced is still current in the bucket: `undelete` brings
/// it back to the folder, and the next sync has nothing to do for it.
fn undelete_of_a_local_delete_not_yet_synced(s: Server) {
    let r = Remote::new(&s, "undelete-local");
    let d = Device::new(&r, "laptop");
    d.write("draft.txt", b"precious");
    d.sync();
    d.remove("draft.txt");
    let out = ok(&d, &["undelete", d.path("draft.txt").to_str().unwrap()]);
    assert!(out.contains("brought back"), "{out}");
    assert_eq!(d.read("draft.txt").unwrap(), b"precious");
    d.sync();
    assert_eq!(r.files()["draft.txt"], b"precious", "the bucket keeps it");
    assert_eq!(d.files(), r.files());
}
on_servers!(undelete_of_a_local_delete_not_yet_synced);

/// A time copied from `pail history` (local time, to the fraction of a second) and pasted into
/// `restore --at` brings back exactly that version, not the one before it; in a time zone far
/// from UTC too.
fn a_time_pasted_from_history_restores_that_version(s: Server) {
    let r = Remote::new(&s, "paste-time");
    let d = Device::new(&r, "laptop");
    for body in [&b"one"[..], b"two", b"three"] {
        d.write("notes.txt", body);
        d.sync();
        // S3 (and moto) keep times to the second: one version per second.
        std::thread::sleep(Duration::from_millis(1100));
    }
    let in_india = |args: &[&str]| {
        let out = d.command(args).env("TZ", "Asia/Kolkata").output().unwrap();
        assert_ok(&out, &format!("{args:?}"));
        String::from_utf8_lossy(&out.stdout).into_owned()
    };
    let path = d.path("notes.txt");
    let shown = in_india(&["history", path.to_str().unwrap()]);
    // Newest first: the line of "two" is the second version line.
    let times: Vec<&str> = shown
        .lines()
        .filter(|l| l.starts_with("20"))
        .map(|l| l.split_whitespace().next().unwrap())
        .collect();
    assert_eq!(times.len(), 3, "{shown}");
    assert!(times[1].ends_with("+05:30"), "local time: {shown}");
    in_india(&["restore", path.to_str().unwrap(), "--at", times[1]]);
    assert_eq!(d.read("notes.txt").unwrap(), b"two", "{shown}");
}
on_servers!(a_time_pasted_from_history_restores_that_version: ceph, moto);

/// GETs `url` (an `http://127.0.0.1:PORT/...` link) with no credentials: (status, body).
pub(crate) fn plain_get(url: &str) -> (u16, Vec<u8>) {
    use std::io::{Read, Write};
    let rest = url.strip_prefix("http://").expect("a local http URL");
    let (host, path) = rest.split_once('/').unwrap();
    let mut c = std::net::TcpStream::connect(host).unwrap();
    write!(
        c,
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut raw = Vec::new();
    c.read_to_end(&mut raw).unwrap();
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&raw[..split]).into_owned();
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    let mut body = raw[split + 4..].to_vec();
    if head
        .to_ascii_lowercase()
        .contains("transfer-encoding: chunked")
    {
        let mut out = Vec::new();
        let mut rest = &body[..];
        loop {
            let nl = rest.windows(2).position(|w| w == b"\r\n").unwrap();
            let n = usize::from_str_radix(std::str::from_utf8(&rest[..nl]).unwrap().trim(), 16)
                .unwrap();
            if n == 0 {
                break;
            }
            out.extend_from_slice(&rest[nl + 2..nl + 2 + n]);
            rest = &rest[nl + 2 + n + 2..];
        }
        body = out;
    }
    (status, body)
}

/// `pail share` prints a link that downloads the file without credentials: the current
/// version, or exactly a given one (a trash copy on a bucket without versions); more than
/// 7 days is refused with the reason; a file the bucket does not have is not shared.
fn share_links_download_without_credentials(s: Server) {
    let r = Remote::new(&s, "share");
    let d = Device::new(&r, "laptop");
    d.write("slides.pdf", b"first draft");
    d.sync();
    d.write("slides.pdf", b"final slides");
    d.sync();
    let path = d.path("slides.pdf");
    let out = ok(&d, &["share", path.to_str().unwrap(), "--expires", "2h"]);
    let url = out.trim();
    assert_eq!(plain_get(url), (200, b"final slides".to_vec()), "{url}");

    let h = history(&d, "slides.pdf");
    let old = h["versions"]
        .as_array()
        .unwrap()
        .iter()
        .find(|v| v["current"] == false && v["delete_marker"] == false)
        .unwrap_or_else(|| panic!("{h}"))["version_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let shared = json(
        &d,
        &["share", path.to_str().unwrap(), "--version", &old, "--json"],
    );
    let (status, body) = plain_get(shared["url"].as_str().unwrap());
    assert_eq!((status, body), (200, b"first draft".to_vec()), "{shared}");

    let out = d.pail(&["share", path.to_str().unwrap(), "--expires", "8d"]);
    assert_code(&out, 1, "share for 8 days");
    assert!(text(&out).contains("at most 7 days"), "{}", text(&out));
    d.write("local-only.txt", b"not synced");
    let out = d.pail(&["share", d.path("local-only.txt").to_str().unwrap()]);
    assert_code(&out, 1, "share of a file not in the bucket");
    assert!(text(&out).contains("nothing to share"), "{}", text(&out));
}
on_servers!(share_links_download_without_credentials);

/// `pail log` lists what pail did, file by file: uploads, downloads, deletes, restores and
/// safety stops, with the device, oldest first; `--since` and `--json` work.
fn log_lists_what_pail_did(s: Server) {
    let r = Remote::new(&s, "activity");
    let a = Device::new(&r, "laptop");
    let b = Device::new(&r, "desktop");
    a.write("notes.txt", b"first");
    a.write("gone.txt", b"bye");
    a.sync();
    b.sync();
    a.remove("gone.txt");
    a.write("notes.txt", b"second");
    a.sync();
    b.sync();
    let mid = moment();
    let path = a.path("notes.txt");
    let h = history(&a, "notes.txt");
    let old = h["versions"].as_array().unwrap().last().unwrap()["version_id"]
        .as_str()
        .unwrap()
        .to_owned();
    ok(&a, &["restore", path.to_str().unwrap(), "--version", &old]);

    let shown = ok(&a, &["log"]);
    for needle in [
        "upload",
        "notes.txt",
        "by laptop",
        "delete remote",
        "restore",
    ] {
        assert!(shown.contains(needle), "{needle}: {shown}");
    }
    let v = json(&b, &["log", "--json"]);
    let kinds: Vec<&str> = v["pairs"][0]["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["kind"].as_str().unwrap())
        .collect();
    assert!(
        kinds.contains(&"download") && kinds.contains(&"delete local"),
        "{v}"
    );
    let none = json(&a, &["log", "--since", &mid, "--json"]);
    let later = none["pairs"][0]["entries"].as_array().unwrap().len();
    let all = json(&a, &["log", "--json"])["pairs"][0]["entries"]
        .as_array()
        .unwrap()
        .len();
    assert!(later < all, "--since filters: {later} of {all}");
}
on_servers!(log_lists_what_pail_did: ceph, garage);

/// `restore --json` and `undelete --json`: one object with what was done, the sentences a
/// person would read, how the folder followed, and the same exit code.
fn restore_and_undelete_speak_json(s: Server) {
    let r = Remote::new(&s, "restore-json");
    let d = Device::new(&r, "laptop");
    d.write("a.txt", b"one");
    d.write("dir/b.txt", b"bee");
    d.sync();
    d.write("a.txt", b"two");
    d.sync();
    let h = history(&d, "a.txt");
    let old = h["versions"].as_array().unwrap().last().unwrap()["version_id"]
        .as_str()
        .unwrap()
        .to_owned();
    let a = d.path("a.txt");
    let v = json(
        &d,
        &["restore", a.to_str().unwrap(), "--version", &old, "--json"],
    );
    assert_eq!(v["exit_code"], 0, "{v}");
    assert_eq!(v["folder"]["result"], "in_sync", "{v}");
    assert!(
        v["messages"][0].as_str().unwrap().contains("restored"),
        "{v}"
    );
    assert_eq!(d.read("a.txt").unwrap(), b"one");

    std::fs::remove_dir_all(d.path("dir")).unwrap();
    d.sync();
    let v = json(&d, &["undelete", d.path("dir").to_str().unwrap(), "--json"]);
    assert_eq!(
        (v["exit_code"].as_u64(), v["restored"].as_u64()),
        (Some(0), Some(1)),
        "{v}"
    );
    assert_eq!(v["plan"][0]["path"], "dir/b.txt", "{v}");
    assert_eq!(d.read("dir/b.txt").unwrap(), b"bee");
}
on_servers!(restore_and_undelete_speak_json: ceph, garage);
