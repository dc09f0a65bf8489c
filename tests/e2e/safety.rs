//! Safety stops (tenet 7): nothing changes, exit code 3, the status says why.

use crate::harness::*;
use crate::on_servers;

fn missing_root_stops(s: Server) {
    let r = Remote::new(&s, "missing-root");
    let a = Device::new(&r, "a");
    a.write("important.txt", b"keep me");
    a.sync();
    std::fs::remove_dir_all(&a.folder).unwrap();
    let out = a.pail(&["sync"]);
    assert_code(&out, 3, "sync with the folder missing");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("missing"),
        "{}",
        text(&out)
    );
    assert!(
        r.files().contains_key("important.txt"),
        "nothing deleted remotely"
    );
    let st = a.status_json();
    assert_eq!(st["pairs"][0]["state"], "safety_stop");
}
on_servers!(missing_root_stops);

fn emptied_root_stops_until_confirmed(s: Server) {
    let r = Remote::new(&s, "empty-root");
    let a = Device::new(&r, "a");
    a.write("one.txt", b"1");
    a.write("two.txt", b"2");
    a.sync();
    a.remove("one.txt");
    a.remove("two.txt");
    let out = a.pail(&["sync"]);
    assert_code(&out, 3, "sync with the folder emptied");
    assert_eq!(r.files().len(), 2, "nothing deleted remotely");
    let out = a.pail(&["sync", "--confirm-deletes"]);
    assert_ok(&out, "confirmed sync");
    assert!(r.files().is_empty());
}
on_servers!(emptied_root_stops_until_confirmed);

fn mass_delete_stops_and_renames_do_not_count(s: Server) {
    let r = Remote::new(&s, "mass-delete");
    let a = Device::new(&r, "a");
    for i in 0..30 {
        a.write(&format!("f{i:02}.txt"), format!("content {i}").as_bytes());
    }
    a.sync();
    // Renaming every file is not a mass delete.
    std::fs::create_dir(a.path("moved")).unwrap();
    for i in 0..30 {
        std::fs::rename(
            a.path(&format!("f{i:02}.txt")),
            a.path(&format!("moved/f{i:02}.txt")),
        )
        .unwrap();
    }
    a.sync();
    assert_eq!(r.files().len(), 30);
    // Deleting 20 of 30 is.
    for i in 0..20 {
        a.remove(&format!("moved/f{i:02}.txt"));
    }
    let out = a.pail(&["sync"]);
    assert_code(&out, 3, "mass delete");
    assert_eq!(r.files().len(), 30, "nothing deleted before confirmation");
    let dry = a.pail(&["sync", "--dry-run"]);
    assert!(
        String::from_utf8_lossy(&dry.stdout).contains("safety stop"),
        "{}",
        text(&dry)
    );
    assert_ok(&a.pail(&["sync", "--confirm-deletes"]), "confirmed");
    assert_eq!(r.files().len(), 10);
    // A second device sees the deletes as remote deletes: also a mass delete for it? No:
    // it gets them only after confirming, the same way.
    let b = Device::new(&r, "b");
    b.sync();
    assert_eq!(b.files().len(), 10);
}
on_servers!(mass_delete_stops_and_renames_do_not_count);

fn emptied_remote_prefix_stops(s: Server) {
    let r = Remote::new(&s, "empty-remote");
    let a = Device::new(&r, "a");
    a.write("a.txt", b"a");
    a.write("b.txt", b"b");
    a.sync();
    r.delete_foreign("a.txt");
    r.delete_foreign("b.txt");
    let out = a.pail(&["sync"]);
    assert_code(&out, 3, "remote emptied by another client");
    assert_eq!(a.files().len(), 2, "no local file deleted");
}
on_servers!(emptied_remote_prefix_stops);

/// `pail sync --json`: one object per pair saying how it ended, with the same exit codes as
/// the text output (3 for a safety stop, with its reason).
fn sync_json_reports_each_pair(s: Server) {
    let r = Remote::new(&s, "sync-json");
    let a = Device::new(&r, "a");
    a.write("one.txt", b"1");
    let out = a.pail(&["sync", "--json"]);
    assert_ok(&out, "sync --json");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let p = &v["pairs"][0];
    assert_eq!(p["result"], "in_sync", "{v}");
    assert_eq!(p["totals"]["uploads"], 1, "{v}");
    a.remove("one.txt");
    let out = a.pail(&["sync", "--json"]);
    assert_code(&out, 3, "sync --json with the folder emptied");
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pairs"][0]["result"], "safety_stop", "{v}");
    assert!(
        v["pairs"][0]["stop"].as_str().unwrap().contains("is empty"),
        "{v}"
    );
    let out = a.pail(&["sync", "--json", "--dry-run", "--confirm-deletes"]);
    let v: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(v["pairs"][0]["result"], "dry_run", "{v}");
    assert_eq!(v["pairs"][0]["plan"][0]["action"], "delete remote", "{v}");
}
on_servers!(sync_json_reports_each_pair: moto);
