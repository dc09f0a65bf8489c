//! Crashes and files that change under pail (tenets 6 and 8).

use std::time::Duration;

use crate::harness::*;
use crate::on_servers;

fn kill_9_mid_sync_then_converge(s: Server) {
    let r = Remote::new(&s, "kill9");
    let a = Device::new(&r, "a");
    a.set_config("multipart_threshold", "5242880");
    a.set_config("part_size", "5242880");
    a.set_config("transfers", "4");
    for i in 0..150 {
        a.write(
            &format!("small/{i:03}.txt"),
            format!("small file {i}").repeat(50).as_bytes(),
        );
    }
    let big: Vec<u8> = (0..24_000_000u32).map(|i| (i % 251) as u8).collect();
    a.write("big.bin", &big);
    for delay_ms in [300u64, 800] {
        let mut child = a.command(&["sync"]).spawn().unwrap();
        std::thread::sleep(Duration::from_millis(delay_ms));
        let _ = child.kill(); // SIGKILL
        let _ = child.wait();
    }
    // A plain sync afterwards converges: no manual resync, nothing lost.
    a.sync();
    a.sync();
    assert_eq!(r.files(), a.files());
    assert!(a.files().keys().all(|k| !k.contains(".pail-tmp-")));
    let b = Device::new(&r, "b");
    b.sync();
    assert_eq!(b.files(), a.files());
}
// Large payloads stay off moto, which keeps every byte of every version in memory; crash
// safety does not depend on the server's features.
on_servers!(kill_9_mid_sync_then_converge: ceph, garage);

fn kill_9_during_download_leaves_no_torn_file(s: Server) {
    let r = Remote::new(&s, "kill9-down");
    let a = Device::new(&r, "a");
    for i in 0..100 {
        a.write(&format!("d/{i:03}.bin"), &vec![i as u8; 100_000]);
    }
    a.sync();
    let b = Device::new(&r, "b");
    let mut child = b.command(&["sync"]).spawn().unwrap();
    std::thread::sleep(Duration::from_millis(400));
    let _ = child.kill();
    let _ = child.wait();
    // Whatever landed is whole (atomic rename); then a sync completes the rest.
    for (k, v) in b.files() {
        if !k.contains(".pail-tmp-") {
            assert_eq!(v, a.files()[&k], "{k} is torn");
        }
    }
    // Tenet 6: the next finished sync leaves no temp file of the killed one behind, however
    // young (only one pail works on a pair at a time).
    b.sync();
    assert_eq!(b.files(), a.files(), "leftover temp files were not removed");
}
on_servers!(kill_9_during_download_leaves_no_torn_file);

fn file_changing_during_upload_is_uploaded_again(s: Server) {
    let r = Remote::new(&s, "changing");
    let a = Device::new(&r, "a");
    a.set_config("multipart_threshold", "5242880");
    a.set_config("part_size", "5242880");
    let path = a.path("growing.log");
    std::fs::write(&path, vec![b'a'; 12_000_000]).unwrap();
    let writer = {
        let path = path.clone();
        std::thread::spawn(move || {
            use std::io::Write;
            for i in 0..40 {
                let mut f = std::fs::OpenOptions::new()
                    .append(true)
                    .open(&path)
                    .unwrap();
                f.write_all(format!("line {i}\n").as_bytes()).unwrap();
                drop(f);
                std::thread::sleep(Duration::from_millis(25));
            }
        })
    };
    // Syncs while the file grows may defer it or fail it as "still changing"; none may
    // record a wrong hash.
    let _ = a.pail(&["sync"]);
    writer.join().unwrap();
    a.sync();
    let remote = r.files();
    assert_eq!(remote["growing.log"], std::fs::read(&path).unwrap());
    let meta = r.metadata("growing.log");
    assert_eq!(
        meta["pail-blake3"],
        blake3::hash(&std::fs::read(&path).unwrap())
            .to_hex()
            .to_string()
    );
}
on_servers!(file_changing_during_upload_is_uploaded_again: ceph, garage);

/// `a.txt` at v1; the user writes v2; pail dies right after the PUT of v2 and before its
/// record (abort: no cleanup, as kill -9); the user writes v3. The next sync uploads v3: the
/// bucket's v2 was this device's own write, so there is no conflict copy of the device with
/// itself (issue 16), and v2 stays restorable where the bucket keeps versions.
fn crash_between_put_and_record_is_no_conflict(s: Server) {
    let r = Remote::new(&s, "crash-put-record");
    let a = Device::new(&r, "a");
    a.write("a.txt", b"v1");
    a.sync();
    a.write("a.txt", b"v2");
    let out = a
        .command(&["sync"])
        .env("PAIL_TEST_CRASH_AFTER_PUT", "a.txt")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the crash point was not reached");
    assert_eq!(r.files()["a.txt"], b"v2", "the PUT reached the bucket");
    a.write("a.txt", b"v3");
    a.sync();
    let files = a.files();
    assert!(conflict_copies(&files).is_empty(), "{:?}", files.keys());
    assert_eq!(files["a.txt"], b"v3");
    assert_eq!(r.files()["a.txt"], b"v3");
}
on_servers!(crash_between_put_and_record_is_no_conflict);

/// Finished uploads are recorded in the index together, one commit per batch (issue 14).
/// When the process dies before a batch is committed, the next pass takes those objects for
/// this device's own: it uploads none of them again and makes no conflict copy.
fn crash_before_a_batch_of_records_uploads_nothing_again(s: Server) {
    let r = Remote::new(&s, "crash-batch");
    let a = Device::new(&r, "laptop");
    a.write("seed.txt", b"seed");
    a.sync();
    for i in 0..40 {
        a.write(&format!("d/f{i:02}.txt"), format!("file {i}").as_bytes());
    }
    let out = a
        .command(&["sync"])
        .env("PAIL_TEST_CRASH_AFTER_PUT", "d/f39.txt")
        .output()
        .unwrap();
    assert!(!out.status.success(), "the crash point was not reached");
    // A PUT whose body was sent just before the abort may still be landing on the server:
    // count once two listings agree.
    let mut landed = r.files().len() - 1;
    loop {
        std::thread::sleep(Duration::from_millis(300));
        let now = r.files().len() - 1;
        if now == landed {
            break;
        }
        landed = now;
    }
    assert!(landed >= 1, "the crashed upload reached the bucket");
    let ops = a.sync_counting_requests();
    let puts = ops.iter().filter(|op| *op == "PutObject").count();
    // The files that had not been sent, and at most the pass's journal entry.
    let missing = 40 - landed;
    assert!(
        (missing..=missing + 1).contains(&puts),
        "{landed} landed before the crash, {puts} PUTs after: {ops:?}"
    );
    let files = a.files();
    assert!(conflict_copies(&files).is_empty(), "{:?}", files.keys());
    assert_eq!(files.len(), 41);
    assert_eq!(r.files(), files);
}
on_servers!(crash_before_a_batch_of_records_uploads_nothing_again);
