//! The key's rough edges on end-to-end encrypted pairs (issue 15): two first devices at the
//! same moment on servers that ignore conditional writes, a device holding another key, a
//! damaged marker written again by `pail key passphrase`, and `pail share` of an encrypted
//! file.

use std::process::{Output, Stdio};
use std::time::Duration;

use crate::encrypted::*;
use crate::faultproxy::{Fault, FaultProxy};
use crate::harness::*;
use crate::on_servers;
use crate::versions::plain_get;

const NEW_PASSPHRASE: &str = "the passphrase after the repair";

/// The `AGE-SECRET-KEY-1...` line of the device's key file.
fn secret_of(d: &Device) -> String {
    std::fs::read_to_string(key_file(d))
        .unwrap()
        .lines()
        .find(|l| l.starts_with("AGE-SECRET-KEY-1"))
        .expect("a secret line")
        .to_owned()
}

/// The marker's `recipient`, read straight from the bucket.
fn marker_recipient(r: &Remote) -> String {
    let (body, _) = object(r, ".pail/encryption.toml");
    let text = String::from_utf8(body).unwrap();
    text.lines()
        .find_map(|l| l.strip_prefix("recipient = \""))
        .and_then(|l| l.strip_suffix('"'))
        .unwrap_or_else(|| panic!("no recipient in {text}"))
        .to_owned()
}

/// The public key recorded in the device's key file.
fn recipient_of(d: &Device) -> String {
    std::fs::read_to_string(key_file(d))
        .unwrap()
        .lines()
        .find_map(|l| l.strip_prefix("# public key: "))
        .expect("a public key comment")
        .to_owned()
}

/// `pail init --encrypt` on both devices at once, as two processes.
fn init_both(a: &Device, b: &Device) -> (Output, Output) {
    let spawn = |d: &Device| {
        init_command(d, PASSPHRASE, &[])
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("run pail")
    };
    let (pa, pb) = (spawn(a), spawn(b));
    (
        pa.wait_with_output().unwrap(),
        pb.wait_with_output().unwrap(),
    )
}

/// Two devices run `pail init --encrypt` on one empty prefix at the same moment, with the same
/// passphrase: on every server both end with the one key in the marker (where the server
/// ignores If-None-Match, the one whose write it kept), and sync with each other. Several
/// rounds, each on a fresh prefix. (Each device checks for a marker right before its PUT, so
/// most rounds end with one write; a versioned bucket's marker versions tell, and are shown,
/// how many rounds had both write. The worst order, forced: crates/pail-ops/tests/init_race.rs.)
fn first_devices_at_the_same_moment_end_with_one_key(s: Server) {
    let mut both_wrote = 0;
    for round in 0..3 {
        let r = Remote::new(&s, &format!("enc-race-{round}"));
        let a = Device::uninit(&r, "alpha");
        let b = Device::uninit(&r, "beta");
        let (oa, ob) = init_both(&a, &b);
        assert_ok(&oa, &format!("round {round}: init --encrypt on alpha"));
        assert_ok(&ob, &format!("round {round}: init --encrypt on beta"));
        let kept = marker_recipient(&r);
        assert_eq!(recipient_of(&a), kept, "round {round}: alpha");
        assert_eq!(recipient_of(&b), kept, "round {round}: beta");
        assert_eq!(secret_of(&a), secret_of(&b), "round {round}");
        if s.versioned {
            both_wrote += usize::from(r.version_count(".pail/encryption.toml") > 1);
        }
        a.write("from-alpha.txt", b"alpha's file");
        a.sync();
        b.write("from-beta.txt", b"beta's file");
        b.sync();
        a.sync();
        assert_eq!(a.files(), b.files(), "round {round}");
        assert_eq!(a.files().len(), 2, "round {round}");
    }
    if s.versioned {
        eprintln!(
            "{}: both devices wrote a marker in {both_wrote} of 3 rounds",
            s.name
        );
    }
}
on_servers!(first_devices_at_the_same_moment_end_with_one_key);

/// The same race with both devices' PUT of the marker held 0.7 s by a proxy, as on a slow
/// network: the time between a device's last look for a marker and its write reaching the
/// server grows past the gap between the two processes, so both devices usually write one.
/// Each still ends with the marker's key: the read-back after the settle delay sees the last
/// write (an immediate read-back, as before, let the first writer keep its own key).
fn first_devices_racing_over_a_slow_network_end_with_one_key(s: Server) {
    let mut both_wrote = 0;
    for round in 0..3 {
        let r = Remote::new(&s, &format!("enc-race-slow-{round}"));
        let proxy = FaultProxy::start(&s.endpoint, round);
        proxy.set_kinds(&[Fault::Stall]);
        proxy.set_stall(Duration::from_millis(700), Duration::from_millis(700));
        proxy.only(hyper::Method::PUT, "/.pail/encryption.toml");
        proxy.set_rate(1.0);
        let mut a = Device::uninit(&r, "alpha");
        let mut b = Device::uninit(&r, "beta");
        a.endpoint = proxy.endpoint.clone();
        b.endpoint = proxy.endpoint.clone();
        let (oa, ob) = init_both(&a, &b);
        proxy.set_rate(0.0);
        assert_ok(&oa, &format!("round {round}: init --encrypt on alpha"));
        assert_ok(&ob, &format!("round {round}: init --encrypt on beta"));
        let kept = marker_recipient(&r);
        assert_eq!(recipient_of(&a), kept, "round {round}: alpha");
        assert_eq!(recipient_of(&b), kept, "round {round}: beta");
        if s.versioned {
            both_wrote += usize::from(r.version_count(".pail/encryption.toml") > 1);
        }
        a.write("from-alpha.txt", b"alpha's file");
        a.sync();
        b.sync();
        assert_eq!(b.read("from-alpha.txt").unwrap(), b"alpha's file");
    }
    if s.versioned {
        eprintln!(
            "{}, slow network: both devices wrote a marker in {both_wrote} of 3 rounds",
            s.name
        );
    }
}
on_servers!(first_devices_racing_over_a_slow_network_end_with_one_key: garage, ceph);

/// A device whose stored key is not the prefix's (the residue of a race no settle delay
/// caught, or a key file copied from another pair) refuses to sync, in one line naming the
/// fix, and uploads nothing; joining again with the passphrase fixes it.
fn a_device_holding_another_key_refuses_to_sync(s: Server) {
    let r = Remote::new(&s, "enc-wrong-key");
    let a = encrypted_device(&r, "alpha");
    a.write("first.txt", b"synced with the right key");
    a.sync();
    let other = Remote::new(&s, "enc-wrong-key-other");
    let x = encrypted_device(&other, "xeno");
    std::fs::write(key_file(&a), std::fs::read(key_file(&x)).unwrap()).unwrap();

    a.write("later.txt", b"must not go up under another key");
    let out = a.pail(&["sync"]);
    assert_code(&out, 1, "sync with another pair's key");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let line = stderr
        .lines()
        .find(|l| l.contains("is not the prefix's"))
        .unwrap_or_else(|| panic!("{}", text(&out)));
    assert!(
        line.contains(&recipient_of(&x))
            && line.contains(&marker_recipient(&r))
            && line.contains(&format!(
                "join again with `pail init {} {} --encrypt` and the prefix's passphrase",
                a.folder.display(),
                r.url()
            )),
        "{}",
        text(&out)
    );
    assert!(!r.files().contains_key("later.txt"), "nothing uploaded");

    // The fix the message names.
    assert_ok(&init_encrypted(&a, PASSPHRASE), "join again");
    a.sync();
    let (body, _) = object(&r, "later.txt");
    assert!(body.starts_with(b"age-encryption.org/v1\n"));
    assert_eq!(
        age_decrypts(&body, &key_file(&a)),
        b"must not go up under another key"
    );
}
on_servers!(a_device_holding_another_key_refuses_to_sync);

/// A marker that no longer parses stops every sync with the damaged-marker message; `pail key
/// passphrase` on a device that has the key writes it again (without the old passphrase,
/// which nothing can be checked against), and then the device syncs and a new device joins
/// with the new passphrase.
fn a_damaged_marker_is_written_again_by_key_passphrase(s: Server) {
    let r = Remote::new(&s, "enc-damaged-marker");
    let a = encrypted_device(&r, "alpha");
    a.write("kept.txt", b"encrypted before the damage");
    a.sync();
    let recipient = marker_recipient(&r);
    r.put_raw_key(
        &r.key(".pail/encryption.toml"),
        b"format = 1\nrecipient = \"age1 half written",
    )
    .unwrap();

    a.write("while-damaged.txt", b"waits for the repair");
    let out = a.pail(&["sync"]);
    assert_code(&out, 1, "sync with a damaged marker");
    assert!(
        text(&out).contains("is damaged")
            && text(&out).contains("run `pail key passphrase` on a device that has the key"),
        "{}",
        text(&out)
    );
    assert!(!r.files().contains_key("while-damaged.txt"));

    let out = a
        .command(&["key", "passphrase"])
        .env("PAIL_NEW_PASSPHRASE", NEW_PASSPHRASE)
        .output()
        .expect("run pail");
    assert_ok(&out, "key passphrase over a damaged marker");
    assert!(
        text(&out).contains("was damaged") && text(&out).contains("wrote it again"),
        "{}",
        text(&out)
    );
    assert_eq!(marker_recipient(&r), recipient, "the same key");
    if s.versioned {
        assert_eq!(r.version_count(".pail/encryption.toml"), 1);
    }

    a.sync();
    let b = Device::uninit(&r, "beta");
    let out = init_encrypted(&b, PASSPHRASE);
    assert_code(&out, 1, "join with the old passphrase");
    assert_ok(&init_encrypted(&b, NEW_PASSPHRASE), "join with the new one");
    b.sync();
    assert_eq!(a.files(), b.files());
    assert_eq!(
        b.read("while-damaged.txt").unwrap(),
        b"waits for the repair"
    );
}
on_servers!(a_damaged_marker_is_written_again_by_key_passphrase);

/// `pail share` of an encrypted file is refused (a link would hand out ciphertext), in one
/// line that says what to do instead; `--ciphertext` gives a link to the age file.
fn share_of_an_encrypted_file(s: Server) {
    let r = Remote::new(&s, "enc-share");
    let a = encrypted_device(&r, "alpha");
    a.write("slides.pdf", b"the slides, encrypted in the bucket");
    a.sync();
    let path = a.path("slides.pdf");
    let path = path.to_str().unwrap();

    let out = a.pail(&["share", path]);
    assert_code(&out, 1, "share of an encrypted file");
    assert!(out.stdout.is_empty(), "no link: {}", text(&out));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(stderr.trim_end().lines().count(), 1, "one line: {stderr}");
    assert!(
        stderr.contains("slides.pdf is end-to-end encrypted")
            && stderr.contains("`pail restore slides.pdf --to FILE`")
            && stderr.contains("--ciphertext"),
        "{stderr}"
    );

    let out = a.pail(&["share", path, "--ciphertext", "--expires", "1h"]);
    assert_ok(&out, "share --ciphertext");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("`pail key export`"),
        "{}",
        text(&out)
    );
    let (status, body) = plain_get(String::from_utf8_lossy(&out.stdout).trim());
    assert_eq!(status, 200, "{}", text(&out));
    assert!(body.starts_with(b"age-encryption.org/v1\n"), "{body:?}");
    assert_eq!(
        age_decrypts(&body, &key_file(&a)),
        b"the slides, encrypted in the bucket"
    );

    // --ciphertext on a plain pair: there is none.
    let p = Device::new(&Remote::new(&s, "plain-share"), "plain");
    p.write("f.txt", b"plain");
    p.sync();
    let out = p.pail(&["share", p.path("f.txt").to_str().unwrap(), "--ciphertext"]);
    assert_code(&out, 1, "share --ciphertext on a plain pair");
    assert!(text(&out).contains("no ciphertext"), "{}", text(&out));
}
on_servers!(share_of_an_encrypted_file);
