use super::workarounds::classify;
use super::*;

#[test]
fn http_dates_parse() {
    let t = parse_http_date("Sun, 29 Nov 2026 00:12:03 GMT").unwrap();
    assert_eq!(t.unix_timestamp(), 1_795_911_123);
    assert!(parse_http_date("yesterday").is_none());
}

#[test]
fn notifications_merge_by_id() {
    let theirs = TopicConfiguration::builder()
        .id("theirs")
        .topic_arn("arn:aws:sns:x:1:other")
        .events(Event::from("s3:ObjectCreated:Put"))
        .build()
        .unwrap();
    let n = Notifications {
        topics: vec![theirs.clone()],
        ..Notifications::default()
    };
    let q = NotifyTarget::Queue("arn:aws:sqs:x:1:q".into());
    let with = n.with_target("pail", &q).unwrap();
    assert_eq!(with.topics, vec![theirs.clone()]);
    assert_eq!(with.queues.len(), 1);
    assert!(with.with_target("pail", &q).is_none(), "already so");
    // Switching to a topic moves pail's entry, keeps the other one.
    let t = NotifyTarget::Topic("arn:aws:sns:x:1:t".into());
    let moved = with.with_target("pail", &t).unwrap();
    assert!(moved.queues.is_empty());
    assert_eq!(moved.topics.len(), 2);
    assert_eq!(moved.topics[0], theirs);
}

#[test]
fn server_answers_classify() {
    let ns = classify("put_x", "b", "NotImplemented", Some(501), "no");
    assert!(matches!(
        ns,
        Some(AdminError::NotSupported { op: "put_x", .. })
    ));
    assert!(matches!(
        classify("x", "b", "", Some(501), ""),
        Some(AdminError::NotSupported { .. })
    ));
    let taken = classify("create_bucket", "b", "BucketAlreadyExists", Some(409), "");
    assert!(taken.unwrap().to_string().contains("pick another name"));
    let bad = classify("create_bucket", "B_", "InvalidBucketName", Some(400), "bad");
    assert!(matches!(bad, Some(AdminError::InvalidName { .. })));
    assert!(classify("x", "b", "AccessDenied", Some(403), "").is_none());
}
