//! Bucket events (tenet 15) on moto, which delivers S3 events to its SQS queues: setup makes
//! the queue and its policy, a running daemon hears other clients' writes through it, and the
//! events of its own writes cost nothing more.

use aws_sdk_sqs::types::QueueAttributeName;

use crate::daemon::{Daemon, live_status, wait_until};
use crate::harness::*;
use crate::on_servers;
use crate::setup::{fresh, outcome, queue_attribute, queue_sids, setup};

/// A queue name of this run.
fn queue_name(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("pail-{test}-{:x}", nanos & 0xffff_ffff_ffff)
}

/// `pail init --setup --notify-queue QUEUE` for `d`, which must succeed.
fn set_up_with_queue(d: &Device, queue: &str) -> std::process::Output {
    let out = setup(d, &["--notify-queue", queue]);
    assert_ok(&out, "init --setup --notify-queue");
    out
}

/// Waits until the daemon listens to its queue and its start pass (a full listing) is over.
fn wait_listening(a: &Device, queue: &str) {
    wait_until("status says the bucket events are heard", || {
        live_status(a)["remote_changes"]
            .as_str()
            .is_some_and(|h| h.contains(&format!("bucket events from the queue {queue}")))
    });
    wait_until("the start pass is over", || {
        live_status(a)["state"] == "idle"
    });
}

/// `pail init --setup --notify-queue NAME` creates the queue (a day's retention, 20 s long
/// polls) with a policy that lets S3 send this bucket's events, and records its ARN; a second
/// pair on the bucket finds everything already so (one statement, not two). The daemon
/// long-polls the queue, and a file another S3 client writes reaches the folder with the
/// journal polled hourly and full listings six hours apart, so only the event can have brought
/// it. `status` says so.
fn bucket_events_bring_other_clients_writes(s: Server) {
    let r = fresh(&s, "events");
    let bucket = r.server.bucket.clone();
    let queue = queue_name("events");
    let a = Device::uninit(&r, "alpha");
    let out = set_up_with_queue(&a, &queue);
    assert_eq!(outcome(&out, "event queue"), "done", "{}", text(&out));
    assert!(
        text(&out).contains(&format!("{queue}: created")),
        "{}",
        text(&out)
    );
    assert_eq!(outcome(&out, "event notifications"), "done");
    let arn = queue_attribute(&s, &queue, QueueAttributeName::QueueArn).expect("queue created");
    let config = std::fs::read_to_string(&a.config).unwrap();
    assert!(
        config.contains(&format!("notify_queue = \"{arn}\"")),
        "{config}"
    );
    let policy: serde_json::Value = serde_json::from_str(
        &queue_attribute(&s, &queue, QueueAttributeName::Policy).expect("a policy"),
    )
    .unwrap();
    let st = &policy["Statement"][0];
    assert_eq!(st["Sid"], format!("pail-s3-events-{bucket}"), "{policy}");
    assert_eq!(st["Effect"], "Allow");
    assert_eq!(st["Principal"]["Service"], "s3.amazonaws.com");
    assert_eq!(st["Action"], "sqs:SendMessage");
    assert_eq!(st["Resource"], arn.as_str());
    assert_eq!(
        st["Condition"]["ArnLike"]["aws:SourceArn"],
        format!("arn:aws:s3:::{bucket}")
    );
    // moto's STS names its one account.
    assert_eq!(
        st["Condition"]["StringEquals"]["aws:SourceAccount"],
        "123456789012"
    );
    assert_eq!(
        queue_attribute(
            &s,
            &queue,
            QueueAttributeName::ReceiveMessageWaitTimeSeconds
        )
        .as_deref(),
        Some("20")
    );
    assert_eq!(
        queue_attribute(&s, &queue, QueueAttributeName::MessageRetentionPeriod).as_deref(),
        Some("86400")
    );

    // A second pair on the bucket, another prefix: nothing to add.
    let r2 = Remote {
        prefix: format!("{}-two", r.prefix),
        ..r.clone()
    };
    let b = Device::uninit(&r2, "beta");
    let again = set_up_with_queue(&b, &queue);
    for step in ["event queue", "event notifications"] {
        assert_eq!(outcome(&again, step), "already so", "{}", text(&again));
    }
    assert_eq!(queue_sids(&s, &queue), [format!("pail-s3-events-{bucket}")]);
    let config = std::fs::read_to_string(&b.config).unwrap();
    assert!(
        config.contains(&format!("notify_queue = \"{arn}\"")),
        "{config}"
    );

    a.set_config("listing_budget", "0");
    a.write("seed.txt", b"seed");
    a.sync();
    let daemon = Daemon::spawn(&a, a.command(&["run", "--poll-interval", "3600"]));
    wait_listening(&a, &queue);
    r.put_foreign("from-the-console.txt", b"written by another S3 client");
    wait_until("the event brings another client's file", || {
        a.read("from-the-console.txt").is_some()
    });
    assert_eq!(daemon.terminate(), Some(0));
}
on_servers!(bucket_events_bring_other_clients_writes: moto);

/// The event of a file the daemon uploads comes back through the queue and costs nothing: the
/// daemon recognises its own write (the event's ETag is the one it recorded) and makes no
/// further S3 request for it, no HEAD, GET or listing. (The rule for its own deletions is
/// tested in `pail-daemon`'s `events` tests: moto sends no `ObjectRemoved` events.)
fn own_writes_cost_nothing_through_bucket_events(s: Server) {
    let r = fresh(&s, "own-events");
    let queue = queue_name("own");
    let a = Device::uninit(&r, "alpha");
    set_up_with_queue(&a, &queue);
    a.set_config("listing_budget", "0");
    let daemon = Daemon::spawn_logging(
        &a,
        a.command(&["run", "--poll-interval", "3600"]),
        "info,pail::requests=debug,pail_daemon::events=debug",
    );
    wait_listening(&a, &queue);
    let mark = daemon.log_text().len();
    a.write("mine.txt", b"uploaded by the daemon");
    wait_until("the daemon uploads the file", || {
        r.files().contains_key("mine.txt")
    });
    // The upload's event, and the one of the journal entry that goes with it, are read.
    wait_until("the daemon reads the events of its own upload", || {
        daemon.log_text()[mark..].contains("bucket events read")
    });
    std::thread::sleep(std::time::Duration::from_secs(3));
    wait_until("the daemon is idle", || live_status(&a)["state"] == "idle");
    let log = daemon.log_text();
    let after = &log[mark..];
    let ops = s3_ops(&log[mark..]);
    assert!(ops.iter().any(|op| op == "PutObject"), "{ops:?}\n{after}");
    let looked = ops
        .iter()
        .filter(|op| op.starts_with("Head") || op.starts_with("Get") || op.starts_with("List"))
        .collect::<Vec<_>>();
    assert!(
        looked.is_empty(),
        "no HEAD, GET or LIST after the upload, got {looked:?}:\n{after}"
    );
    assert!(
        !after
            .lines()
            .any(|l| l.contains("pail_daemon::daemon") && l.contains("bucket events")),
        "no pass for the event of the daemon's own upload:\n{after}"
    );
    assert_eq!(daemon.terminate(), Some(0));
}
on_servers!(own_writes_cost_nothing_through_bucket_events: moto);
