//! Clear errors for bad input: each names what is wrong and how to fix it.

use crate::harness::*;
use crate::on_servers;

fn stderr(out: &std::process::Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn folder_that_is_a_file(s: Server) {
    let r = Remote::new(&s, "not-dir");
    let d = Device::uninit(&r, "a");
    std::fs::remove_dir(&d.folder).unwrap();
    std::fs::write(&d.folder, b"a file").unwrap();
    let out = d.init();
    assert_code(&out, 1, "init on a file");
    assert!(
        stderr(&out).contains("is not a directory"),
        "{}",
        text(&out)
    );
}
on_servers!(folder_that_is_a_file: moto);

fn unknown_bucket(s: Server) {
    let mut s = s;
    s.bucket = "pail-no-such-bucket-here".into();
    let r = Remote::new(&s, "no-bucket");
    let d = Device::uninit(&r, "a");
    // A folder init has to make: a failed init leaves nothing behind.
    std::fs::remove_dir(&d.folder).unwrap();
    let out = d.init();
    assert_code(&out, 1, "init with an unknown bucket");
    let e = stderr(&out);
    assert!(
        e.contains("pail-no-such-bucket-here") && e.to_lowercase().contains("bucket"),
        "{}",
        text(&out)
    );
    assert!(!d.folder.exists(), "the folder init made is left behind");
    assert!(!d.config.exists(), "nothing recorded");
}
on_servers!(unknown_bucket);

fn wrong_secret_is_access_denied(s: Server) {
    let mut s = s;
    s.secret_key = "definitely-not-the-secret-key-000000000".into();
    let r = Remote::new(&s, "denied");
    let d = Device::uninit(&r, "a");
    let out = d.init();
    assert_code(&out, 1, "init with a wrong secret");
    let e = stderr(&out).to_lowercase();
    assert!(
        e.contains("denied") || e.contains("signature") || e.contains("credentials"),
        "{}",
        text(&out)
    );
    assert!(
        !stderr(&out).contains("definitely-not-the-secret"),
        "secrets never reach the output"
    );
}
on_servers!(wrong_secret_is_access_denied: ceph, garage);

fn missing_credentials(s: Server) {
    let r = Remote::new(&s, "no-creds");
    let d = Device::uninit(&r, "a");
    let out = d
        .command(&[
            "init",
            d.folder.to_str().unwrap(),
            &r.url(),
            "--endpoint",
            &s.endpoint,
            "--region",
            &s.region,
        ])
        .env_remove("AWS_ACCESS_KEY_ID")
        .env_remove("AWS_SECRET_ACCESS_KEY")
        .output()
        .unwrap();
    assert_code(&out, 1, "init without credentials");
    assert!(stderr(&out).contains("AWS_ACCESS_KEY_ID"), "{}", text(&out));
    for dump in ["ProviderError(", "Some(", "{ "] {
        assert!(!stderr(&out).contains(dump), "{dump}: {}", text(&out));
    }
}
on_servers!(missing_credentials: moto);

fn unreachable_endpoint(s: Server) {
    let mut s = s;
    s.endpoint = "http://127.0.0.1:9".into();
    let r = Remote::new(&s, "unreachable");
    let d = Device::uninit(&r, "a");
    let out = d.init();
    assert_code(&out, 1, "init with nothing listening");
    let e = stderr(&out);
    assert!(
        e.contains("127.0.0.1:9") && e.contains("connection refused"),
        "{}",
        text(&out)
    );
    // One sentence, once: no SDK debug dump, no retry warnings repeating it.
    assert_eq!(e.lines().count(), 1, "{}", text(&out));
    for dump in ["DispatchFailure", "ConnectorError", "Some(", "{ "] {
        assert!(!e.contains(dump), "{dump}: {}", text(&out));
    }
}
on_servers!(unreachable_endpoint: moto);

/// An endpoint without `http://` is refused before any request, with the fix (it used to be
/// retried as a network error); a mistyped config key names the key it meant.
fn endpoint_without_scheme_and_mistyped_keys(s: Server) {
    let mut bare = s.clone();
    bare.endpoint = s.endpoint.trim_start_matches("http://").to_owned();
    let r = Remote::new(&bare, "bare-endpoint");
    let d = Device::uninit(&r, "a");
    let out = d.init();
    assert_code(&out, 1, "init with a scheme-less endpoint");
    assert!(
        stderr(&out).contains(&format!("write \"http://{}\"", bare.endpoint)),
        "{}",
        text(&out)
    );
    assert!(!d.config.exists(), "nothing recorded");

    let r = Remote::new(&s, "typo-key");
    let d = Device::new(&r, "a");
    let config = std::fs::read_to_string(&d.config).unwrap();
    std::fs::write(&d.config, config.replace("endpoint =", "endpont =")).unwrap();
    let out = d.pail(&["sync"]);
    assert_code(&out, 1, "sync with a mistyped key");
    assert!(
        stderr(&out).contains("unknown key `endpont`")
            && stderr(&out).contains("did you mean `endpoint`?"),
        "{}",
        text(&out)
    );
}
on_servers!(endpoint_without_scheme_and_mistyped_keys: moto);

/// Garage checks the region of every signature, as AWS does, and names its own in the error.
/// (moto takes any region; Ceph RGW 16 here has one zonegroup that accepts any.)
fn wrong_region_names_the_right_one(s: Server) {
    let mut wrong = s.clone();
    wrong.region = "eu-west-1".into();
    let r = Remote::new(&wrong, "wrong-region");
    let d = Device::uninit(&r, "a");
    let out = d.init();
    assert_code(&out, 1, "init with the wrong region");
    let err = stderr(&out);
    assert!(err.contains("in another region"), "{}", text(&out));
    assert!(
        err.contains(&format!("--region {}", s.region)),
        "{}",
        text(&out)
    );
    assert!(!d.config.exists(), "nothing recorded");
}
on_servers!(wrong_region_names_the_right_one: garage);

fn overlapping_prefix_is_refused(s: Server) {
    let r = Remote::new(&s, "overlap");
    let d = Device::new(&r, "a");
    let other = tempfile::tempdir().unwrap();
    let inner = format!("{}/sub", r.url());
    let out = d.pail(&[
        "init",
        other.path().to_str().unwrap(),
        &inner,
        "--endpoint",
        &s.endpoint,
        "--region",
        &s.region,
    ]);
    assert_code(&out, 1, "init of an overlapping prefix");
    assert!(stderr(&out).contains("overlaps"), "{}", text(&out));
}
on_servers!(overlapping_prefix_is_refused: moto);

fn usage_errors_exit_2(s: Server) {
    let r = Remote::new(&s, "usage");
    let d = Device::uninit(&r, "a");
    assert_code(&d.pail(&["sync", "--no-such-flag"]), 2, "unknown flag");
    assert_code(&d.pail(&["-q", "-v", "status"]), 2, "-q with -v");
    let out = d.pail(&["sync"]);
    assert_code(&out, 1, "sync with no pair configured");
    assert!(stderr(&out).contains("pail init"), "{}", text(&out));
}
on_servers!(usage_errors_exit_2: moto);

/// `-vv` shows what pail does, file by file; `-q` only errors (PAIL_LOG unset for both).
fn verbose_and_quiet(s: Server) {
    let r = Remote::new(&s, "verbosity");
    let d = Device::new(&r, "a");
    d.write("one.txt", b"1");
    let out = d
        .command(&["-vv", "sync"])
        .env_remove("PAIL_LOG")
        .output()
        .unwrap();
    assert_ok(&out, "sync -vv");
    assert!(
        stderr(&out).contains("DEBUG") && stderr(&out).contains("one.txt"),
        "{}",
        text(&out)
    );
    d.write("two.txt", b"2");
    let out = d
        .command(&["-q", "sync"])
        .env_remove("PAIL_LOG")
        .output()
        .unwrap();
    assert_ok(&out, "sync -q");
    assert!(stderr(&out).is_empty(), "{}", text(&out));
}
on_servers!(verbose_and_quiet: moto);

/// `pail status | head -1` and friends: a reader that stops early is no error and no panic.
fn a_closed_output_pipe_is_no_panic(s: Server) {
    let r = Remote::new(&s, "closed-pipe");
    let a = Device::new(&r, "laptop");
    for args in [&["status", "--json"][..], &["history", "--help"][..]] {
        let mut child = a
            .command(args)
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        // Close the reading end before pail writes anything.
        drop(child.stdout.take());
        let out = child.wait_with_output().unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!err.contains("panicked"), "{args:?}: {err}");
        assert_eq!(out.status.code(), Some(0), "{args:?}: {err}");
    }
}
on_servers!(a_closed_output_pipe_is_no_panic: moto);
