//! `pail init --setup` and `pail doctor` against the real servers: what each server can be set
//! to, that a re-run changes nothing, that other people's policy statements and lifecycle
//! rules survive, and the failures (bad name, no permission) say what to do.

use aws_sdk_sqs::types::QueueAttributeName;

use crate::harness::{Device, Remote, Server, assert_code, rt, text};
use crate::on_servers;

/// A fresh bucket on `server` (not yet created) and a remote in it.
pub(crate) fn fresh(server: &Server, test: &str) -> Remote {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    let mut s = server.clone();
    s.bucket = format!("pail-{test}-{:x}", nanos & 0xffff_ffff_ffff);
    Remote::new(&s, test)
}

pub(crate) fn setup(d: &Device, extra: &[&str]) -> std::process::Output {
    let s = &d.remote.server;
    let mut args = vec![
        "init",
        d.folder.to_str().unwrap(),
        "--endpoint",
        &s.endpoint,
        "--region",
        &s.region,
        "--device",
        &d.name,
        "--setup",
    ];
    let url = d.remote.url();
    args.insert(2, &url);
    args.extend_from_slice(extra);
    d.pail(&args)
}

/// The outcome printed for a setup step ("done", "already so", ...).
pub(crate) fn outcome(out: &std::process::Output, step: &str) -> String {
    let stdout = String::from_utf8_lossy(&out.stdout);
    stdout
        .lines()
        .find_map(|l| l.trim_start().strip_prefix(step))
        .map(|r| r.trim().to_owned())
        .unwrap_or_else(|| panic!("no {step:?} step:\n{}", text(out)))
}

const STEPS: [&str; 7] = [
    "versioning",
    "block public access",
    "default encryption",
    "bucket policy",
    "lifecycle rules",
    "event queue",
    "event notifications",
];

/// What each server can do, as measured: (step, first-run outcome prefix).
fn expected(server: &str) -> [(&'static str, &'static str); 7] {
    let n = "not supported by this server";
    match server {
        "moto" => [
            (STEPS[0], "done"),
            (STEPS[1], "done"),
            (STEPS[2], "done"),
            (STEPS[3], n), // plain HTTP: no TLS statement, no principal asked for
            (STEPS[4], "done"),
            (STEPS[5], "done"),
            (STEPS[6], "done"),
        ],
        _ => [
            (STEPS[0], "done"),
            (STEPS[1], n), // Ceph 16 refuses uploads with BlockPublicAcls on
            (STEPS[2], n),
            (STEPS[3], n),
            (STEPS[4], "done"),
            (STEPS[5], n),        // no SQS (405)
            (STEPS[6], "failed"), // MalformedXML: RGW wants its own topics
        ],
    }
}

/// An SQS queue made by another hand, whose policy has someone else's statement; its ARN.
fn their_queue(server: &Server, name: &str) -> String {
    let sqs = server.sqs();
    let url = rt().block_on(async {
        let out = sqs.create_queue().queue_name(name).send().await.unwrap();
        out.queue_url.unwrap()
    });
    let arn = queue_attribute(server, name, QueueAttributeName::QueueArn).unwrap();
    let theirs = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"TheirSend","Effect":"Allow","Principal":{{"AWS":"arn:aws:iam::123456789012:root"}},"Action":"sqs:SendMessage","Resource":"{arn}"}}]}}"#
    );
    rt().block_on(async {
        sqs.set_queue_attributes()
            .queue_url(url)
            .attributes(QueueAttributeName::Policy, theirs)
            .send()
            .await
            .unwrap();
    });
    arn
}

/// An attribute of the queue `name`, read with an independent client.
pub(crate) fn queue_attribute(
    server: &Server,
    name: &str,
    attribute: QueueAttributeName,
) -> Option<String> {
    let sqs = server.sqs();
    rt().block_on(async {
        let url = sqs
            .get_queue_url()
            .queue_name(name)
            .send()
            .await
            .ok()?
            .queue_url?;
        let attrs = sqs
            .get_queue_attributes()
            .queue_url(url)
            .attribute_names(attribute.clone())
            .send()
            .await
            .unwrap();
        attrs.attributes?.get(&attribute).cloned()
    })
}

/// The statements of the queue's policy, by Sid.
pub(crate) fn queue_sids(server: &Server, name: &str) -> Vec<String> {
    let policy = queue_attribute(server, name, QueueAttributeName::Policy).unwrap_or_default();
    let v: serde_json::Value = serde_json::from_str(&policy).unwrap_or_default();
    let statements = match &v["Statement"] {
        serde_json::Value::Array(a) => a.clone(),
        one => vec![one.clone()],
    };
    statements
        .iter()
        .filter_map(|s| s["Sid"].as_str().map(str::to_owned))
        .collect()
}

fn first_run_then_rerun(server: Server) {
    let remote = fresh(&server, "setup");
    let d = Device::uninit(&remote, "laptop");
    // On moto, someone's queue: setup adds its statement to the policy and keeps theirs.
    // Ceph has no SQS: the ARN is configured as given.
    let queue = remote.server.bucket.clone();
    let arn = match server.name {
        "moto" => their_queue(&server, &queue),
        _ => "arn:aws:sqs:us-east-1:123456789012:pail".to_owned(),
    };
    let notify = ["--notify-queue", &arn];
    let out = setup(&d, &notify);
    assert_eq!(outcome(&out, "bucket"), "done", "{}", text(&out));
    for (step, want) in expected(server.name) {
        assert!(
            outcome(&out, step).starts_with(want),
            "{step}: {}",
            text(&out)
        );
    }
    // What the bucket really holds now, read with an independent client.
    let c = server.client();
    let b = &remote.server.bucket;
    rt().block_on(async {
        // moto names the answer's root its own way, which the SDK cannot parse.
        let enabled = match c.get_bucket_versioning().bucket(b).send().await {
            Ok(v) => v.status().map(|s| s.as_str()) == Some("Enabled"),
            Err(e) => e
                .raw_response()
                .and_then(|r| r.body().bytes())
                .is_some_and(|b| String::from_utf8_lossy(b).contains("<Status>Enabled</Status>")),
        };
        assert!(enabled);
        let l = c
            .get_bucket_lifecycle_configuration()
            .bucket(b)
            .send()
            .await
            .unwrap();
        let ids: Vec<_> = l.rules().iter().filter_map(|r| r.id()).collect();
        for id in [
            "pail-noncurrent-versions",
            "pail-abort-incomplete-multipart",
            "pail-expired-delete-markers",
        ] {
            assert!(ids.contains(&id), "{ids:?}");
        }
        if server.name == "moto" {
            let p = c.get_public_access_block().bucket(b).send().await.unwrap();
            assert_eq!(
                p.public_access_block_configuration()
                    .unwrap()
                    .block_public_acls(),
                Some(true)
            );
            let e = c.get_bucket_encryption().bucket(b).send().await.unwrap();
            assert!(e.server_side_encryption_configuration().is_some());
        }
    });
    let pail_sid = format!("pail-s3-events-{b}");
    if server.name == "moto" {
        assert_eq!(queue_sids(&server, &queue), ["TheirSend", &pail_sid]);
    }
    let config = std::fs::read_to_string(&d.config).unwrap();
    assert!(
        config.contains(&format!("notify_queue = \"{arn}\"")),
        "{config}"
    );
    // The bucket still works for pail after setup: a sync round trip.
    d.write("a.txt", b"hello");
    d.sync();
    assert_eq!(
        remote.files().get("a.txt").map(Vec::as_slice),
        Some(&b"hello"[..])
    );

    // A second device re-running setup changes nothing.
    let d2 = Device::uninit(&remote, "desktop");
    let again = setup(&d2, &notify);
    assert_eq!(outcome(&again, "bucket"), "already so");
    for (step, want) in expected(server.name) {
        let got = outcome(&again, step);
        if want == "done" {
            assert_eq!(got, "already so", "{step}: {}", text(&again));
        }
    }
    if server.name == "moto" {
        assert_eq!(queue_sids(&server, &queue), ["TheirSend", &pail_sid]);
    }
}
on_servers!(first_run_then_rerun: ceph, moto);

fn merges_existing_policy_and_rules(server: Server) {
    let remote = fresh(&server, "merge");
    let c = server.client();
    let b = remote.server.bucket.clone();
    let theirs_policy = format!(
        r#"{{"Version":"2012-10-17","Statement":[{{"Sid":"TheirRead","Effect":"Allow","Principal":{{"AWS":["arn:aws:iam::123456789012:root"]}},"Action":["s3:GetObject"],"Resource":["arn:aws:s3:::{b}/shared/*"]}}]}}"#
    );
    rt().block_on(async {
        c.create_bucket().bucket(&b).send().await.unwrap();
        c.put_bucket_policy()
            .bucket(&b)
            .policy(&theirs_policy)
            .send()
            .await
            .unwrap();
        let rule = aws_sdk_s3::types::LifecycleRule::builder()
            .id("their-logs")
            .filter(
                aws_sdk_s3::types::LifecycleRuleFilter::builder()
                    .prefix("logs/")
                    .build(),
            )
            .status(aws_sdk_s3::types::ExpirationStatus::Enabled)
            .abort_incomplete_multipart_upload(
                aws_sdk_s3::types::AbortIncompleteMultipartUpload::builder()
                    .days_after_initiation(2)
                    .build(),
            )
            .build()
            .unwrap();
        let conf = aws_sdk_s3::types::BucketLifecycleConfiguration::builder()
            .rules(rule)
            .build()
            .unwrap();
        c.put_bucket_lifecycle_configuration()
            .bucket(&b)
            .lifecycle_configuration(conf)
            .send()
            .await
            .unwrap();
    });
    let d = Device::uninit(&remote, "laptop");
    // An explicit principal, so pail has a statement to merge even over plain HTTP.
    let principal = "arn:aws:iam::123456789012:user/pail-owner";
    let out = setup(&d, &["--allow-principal", principal]);
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        outcome(&out, "lifecycle rules").starts_with("done"),
        "{}",
        text(&out)
    );
    assert!(stdout.contains("+ "), "a diff is shown: {stdout}");
    let policy_step = outcome(&out, "bucket policy");
    rt().block_on(async {
        let l = c
            .get_bucket_lifecycle_configuration()
            .bucket(&b)
            .send()
            .await
            .unwrap();
        let ids: Vec<_> = l.rules().iter().filter_map(|r| r.id()).collect();
        assert!(ids.contains(&"their-logs"), "{ids:?}");
        assert!(ids.contains(&"pail-noncurrent-versions"), "{ids:?}");
        let p = c.get_bucket_policy().bucket(&b).send().await.unwrap();
        let p = p.policy().unwrap();
        assert!(p.contains("TheirRead"), "their statement kept: {p}");
        if policy_step.starts_with("done") {
            assert!(p.contains("PailDenyOtherPrincipals"), "{p}");
        } else if server.name == "ceph" {
            // Ceph 16 refuses this PutBucketPolicy (403): the old policy stays untouched.
            assert!(policy_step.starts_with("failed"), "{}", text(&out));
            assert!(!p.contains("PailDenyOtherPrincipals"), "{p}");
        } else {
            // moto does not evaluate aws:PrincipalArn, so the statement locked pail out:
            // setup must have noticed and put the previous policy back.
            assert!(
                policy_step.contains("previous policy was put back"),
                "{}",
                text(&out)
            );
            assert!(!p.contains("PailDenyOtherPrincipals"), "{p}");
        }
    });
}
on_servers!(merges_existing_policy_and_rules: ceph, moto);

fn invalid_bucket_name(server: Server) {
    let mut s = server.clone();
    s.bucket = "-pail-bad-name".into();
    let d = Device::uninit(&Remote::new(&s, "badname"), "laptop");
    let out = setup(&d, &[]);
    assert_code(&out, 1, "invalid name");
    let all = text(&out);
    assert!(all.contains("not a valid bucket name"), "{all}");
    assert!(
        all.contains("start and end with a letter or digit"),
        "{all}"
    );
    assert!(!d.config.exists(), "nothing recorded");
}
on_servers!(invalid_bucket_name);

/// Wrong secret (ceph checks signatures; garage too) and no right to create (garage's key).
fn denied_bucket(server: Server) {
    let mut s = server.clone();
    s.secret_key = "not-the-secret".into();
    let d = Device::uninit(&Remote::new(&s, "denied"), "laptop");
    let out = setup(&d, &[]);
    assert_code(&out, 1, "wrong secret");
    let all = text(&out);
    assert!(
        all.contains("cannot be used with these credentials")
            || all.contains("secret key is wrong"),
        "{all}"
    );
    assert!(!d.config.exists());

    if server.name == "garage" {
        let d = Device::uninit(&fresh(&server, "nocreate"), "laptop");
        let out = setup(&d, &[]);
        assert_code(&out, 1, "create without permission");
        assert!(text(&out).contains("access denied"), "{}", text(&out));
    }
}
on_servers!(denied_bucket: ceph, garage);

/// The test bucket belongs to the first Ceph account; a second account (made by
/// tests/servers/ceph.sh) tries to set it up as its own.
fn bucket_of_someone_else(server: Server) {
    let mut s = server.clone();
    s.access_key = std::env::var("PAIL_TEST_CEPH_OTHER_ACCESS_KEY").expect(
        "PAIL_TEST_CEPH_OTHER_ACCESS_KEY: restart the test servers (tests/servers/start.sh)",
    );
    s.secret_key = std::env::var("PAIL_TEST_CEPH_OTHER_SECRET_KEY").unwrap();
    let d = Device::uninit(&Remote::new(&s, "someone-else"), "laptop");
    let out = setup(&d, &[]);
    assert_code(&out, 1, "a bucket of another account");
    let all = text(&out);
    assert!(all.contains(&s.bucket), "the error names the bucket: {all}");
    assert!(all.contains("may belong to another account"), "{all}");
    assert!(all.contains("pick another name"), "the fix is said: {all}");
    assert!(!d.config.exists(), "nothing recorded");
    // A plain init (no --setup) is refused the same way, before anything is written.
    let out = d.pail(&[
        "init",
        d.folder.to_str().unwrap(),
        &d.remote.url(),
        "--endpoint",
        &s.endpoint,
        "--region",
        &s.region,
    ]);
    assert_code(&out, 1, "plain init on a bucket of another account");
    assert!(
        text(&out).contains("access denied to bucket"),
        "{}",
        text(&out)
    );
    assert!(!d.config.exists(), "nothing recorded: {}", text(&out));
}
on_servers!(bucket_of_someone_else: ceph);

fn garage_reports_unsupported(server: Server) {
    let remote = Remote::new(&server, "unsupported");
    let d = Device::uninit(&remote, "laptop");
    let out = setup(&d, &[]);
    assert_eq!(outcome(&out, "bucket"), "already so");
    for step in [
        "versioning",
        "block public access",
        "default encryption",
        "bucket policy",
    ] {
        assert!(
            outcome(&out, step).starts_with("not supported by this server"),
            "{step}: {}",
            text(&out)
        );
    }
    // Without versioning only the multipart clean-up rule applies, and Garage takes it.
    let lifecycle = outcome(&out, "lifecycle rules");
    assert!(
        lifecycle == "done" || lifecycle == "already so",
        "{}",
        text(&out)
    );
    assert!(
        out.status.success(),
        "nothing failed, so setup succeeds: {}",
        text(&out)
    );
    let doc = d.pail(&["doctor", "--json"]);
    let v: serde_json::Value = serde_json::from_slice(&doc.stdout).unwrap();
    let level = |item: &str| {
        v["checks"]
            .as_array()
            .unwrap()
            .iter()
            .find(|c| c["item"] == item)
            .map(|c| c["level"].as_str().unwrap().to_owned())
            .unwrap_or_else(|| panic!("no {item}: {v}"))
    };
    assert_eq!(level("versioning"), "not_supported");
    assert_eq!(level("block public access"), "not_supported");
    assert_eq!(level("credentials"), "ok");
    assert_eq!(level("clock"), "ok");
}
on_servers!(garage_reports_unsupported: garage);

fn doctor_good_and_bad(server: Server) {
    let remote = fresh(&server, "doctor");
    let d = Device::uninit(&remote, "laptop");
    let out = setup(&d, &[]);
    assert!(out.status.success(), "{}", text(&out));
    let good = d.pail(&["doctor"]);
    assert_code(&good, 0, "doctor on a set-up bucket");
    assert!(String::from_utf8_lossy(&good.stdout).contains("all good"));
    // Never a setting setup found this server refuses (Ceph: BlockPublicAcls), never a dump.
    let printed = format!(
        "{}{}",
        String::from_utf8_lossy(&good.stdout),
        String::from_utf8_lossy(&good.stderr)
    );
    for dump in ["Some(", " { ", "<?xml", "PublicAccessBlock {"] {
        assert!(!printed.contains(dump), "{dump}: {printed}");
    }
    let v: serde_json::Value =
        serde_json::from_slice(&d.pail(&["doctor", "--json"]).stdout).unwrap();
    let pab = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == "block public access")
        .unwrap()
        .clone();
    assert_eq!(pab["level"], "ok", "{pab}");
    assert!(pab["fix"].is_null(), "{pab}");

    // Versioning suspended behind pail's back: a problem, with the command that fixes it.
    rt().block_on(async {
        server
            .client()
            .put_bucket_versioning()
            .bucket(&remote.server.bucket)
            .versioning_configuration(
                aws_sdk_s3::types::VersioningConfiguration::builder()
                    .status(aws_sdk_s3::types::BucketVersioningStatus::Suspended)
                    .build(),
            )
            .send()
            .await
            .unwrap();
    });
    let bad = d.pail(&["doctor", "--json"]);
    assert_code(&bad, 1, "doctor with versioning suspended");
    let v: serde_json::Value = serde_json::from_slice(&bad.stdout).unwrap();
    assert_eq!(v["ok"], false);
    let c = v["checks"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["item"] == "versioning")
        .unwrap();
    assert_eq!(c["level"], "problem");
    assert!(
        c["fix"].as_str().unwrap().contains("put-bucket-versioning"),
        "{c}"
    );
}
on_servers!(doctor_good_and_bad: ceph, moto);
