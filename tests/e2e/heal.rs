//! A damaged index heals (tenet 14): set aside, kept, rebuilt by comparing content, shown
//! once in `status`, and nothing is lost.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::harness::*;
use crate::on_servers;

/// The index file of the device's one pair.
pub fn index_file(d: &Device) -> PathBuf {
    let pairs = d.state.join("pairs");
    let dir = std::fs::read_dir(&pairs).unwrap().next().unwrap().unwrap();
    dir.path().join("index.db")
}

/// `pail sync --json`'s result for the one pair.
pub fn sync_json(d: &Device) -> (Value, std::process::Output) {
    let out = d.pail(&["sync", "--json"]);
    let v: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("sync --json: {e}\n{}", text(&out)));
    (v["pairs"][0].clone(), out)
}

fn kept_copies(dir: &Path) -> Vec<PathBuf> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| {
            let n = p.file_name().unwrap().to_string_lossy();
            n.starts_with("index.db.corrupt-") && !n.ends_with("-wal") && !n.ends_with("-shm")
        })
        .collect()
}

fn a_corrupt_index_is_set_aside_and_rebuilt(s: Server) {
    let r = Remote::new(&s, "heal");
    let a = Device::new(&r, "a");
    a.write("same.txt", b"same on both sides");
    a.write("d/edited.txt", b"v1");
    a.write("theirs.txt", b"t1");
    a.sync();
    let ix = index_file(&a);
    let garbage = b"this is not a database".repeat(400);
    std::fs::write(&ix, &garbage).unwrap();
    // While the index is damaged: an edit here, another client's change there.
    a.write("d/edited.txt", b"v2, edited while the index was damaged");
    r.put_foreign("theirs.txt", b"t2, from another client");

    let (p, out) = sync_json(&a);
    assert_ok(&out, "the sync that rebuilds the index");
    assert_eq!(p["result"], "in_sync", "{p}");
    // No base: both changed paths are kept twice (the bucket's content keeps the name, this
    // device's becomes a conflict copy, uploaded); the equal file is neither sent nor fetched.
    assert_eq!(p["totals"]["conflicts"], 2, "{p}");
    assert_eq!(
        p["totals"]["uploads"], 2,
        "the two conflict copies only: {p}"
    );
    let log = a.pail(&["log", "--json"]);
    assert_ok(&log, "log");
    let log: Value = serde_json::from_slice(&log.stdout).unwrap();
    let entries = log["pairs"][0]["entries"].as_array().unwrap().clone();
    assert!(
        entries.iter().all(|e| e["path"] != "same.txt"),
        "same.txt was transferred: {log}"
    );
    assert!(
        entries.iter().any(|e| e["kind"] == "index rebuilt"),
        "{log}"
    );

    // Nothing lost: every content is in the folder and in the bucket.
    let files = a.files();
    assert_eq!(files["same.txt"], b"same on both sides");
    assert_eq!(files["theirs.txt"], b"t2, from another client");
    let copies: Vec<&Vec<u8>> = conflict_copies(&files)
        .into_iter()
        .map(|(_, v)| v)
        .collect();
    assert!(copies.contains(&&b"v2, edited while the index was damaged".to_vec()));
    assert!(copies.contains(&&b"t1".to_vec()));
    assert_eq!(r.files(), files);

    // The damaged file is kept, byte for byte, next to the new one.
    let kept = kept_copies(ix.parent().unwrap());
    assert_eq!(kept.len(), 1, "{kept:?}");
    assert_eq!(std::fs::read(&kept[0]).unwrap(), garbage);

    // Shown in status (text and JSON) until the next full sync.
    let status = a.pail(&["status"]);
    assert_ok(&status, "status");
    let t = String::from_utf8_lossy(&status.stdout);
    assert!(
        t.contains("the index was damaged and was rebuilt on")
            && t.contains(&kept[0].display().to_string()),
        "{t}"
    );
    let j = a.status_json();
    let rebuilt = &j["pairs"][0]["index_rebuilt"];
    assert_eq!(rebuilt["kept_at"], kept[0].display().to_string(), "{j}");
    assert_eq!(j["pairs"][0]["state"], "idle", "{j}");

    // The second sync is clean, and the notice has been seen.
    let (p, out) = sync_json(&a);
    assert_ok(&out, "the sync after");
    for k in [
        "uploads",
        "downloads",
        "conflicts",
        "copies",
        "local_deletes",
        "remote_deletes",
    ] {
        assert_eq!(p["totals"][k], 0, "{k}: {p}");
    }
    assert_eq!(a.status_json()["pairs"][0]["index_rebuilt"], Value::Null);
    assert!(!String::from_utf8_lossy(&a.pail(&["status"]).stdout).contains("index was damaged"));
}
on_servers!(a_corrupt_index_is_set_aside_and_rebuilt);
