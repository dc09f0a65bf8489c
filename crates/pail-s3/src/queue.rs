//! Bucket events: the SQS queue that a bucket sends its `s3:ObjectCreated:*` and
//! `s3:ObjectRemoved:*` events to (`pail init --setup --notify-queue ARN`), long-polled by the
//! daemon so that another S3 client's write reaches the folder in seconds (tenet 15). Setup
//! creates the queue and its access policy (`admin`); this file reads it.

use std::time::Duration;

use async_trait::async_trait;
use serde::Deserialize;

use crate::aws::{S3Config, load_sdk};

/// Why the queue could not be read.
#[derive(Debug, thiserror::Error)]
#[error("bucket events from {queue}: {message}")]
pub struct QueueError {
    /// The queue (its ARN or name).
    pub queue: String,
    /// What went wrong, without the SDK's debug dump.
    pub message: String,
}

/// One message, and the handle that deletes it.
#[derive(Debug, Clone)]
pub struct QueueMessage {
    /// Deletes the message (`EventQueue::delete`).
    pub receipt: String,
    /// The body: an S3 event notification, for a bucket's queue.
    pub body: String,
}

/// A queue of bucket events.
#[async_trait]
pub trait EventQueue: Send + Sync + std::fmt::Debug {
    /// The queue's name, for people.
    fn name(&self) -> &str;
    /// Up to 10 messages, waiting up to `wait` for the first (a long poll).
    async fn receive(&self, wait: Duration) -> Result<Vec<QueueMessage>, QueueError>;
    /// Deletes handled messages.
    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError>;
}

/// An SQS queue, reached with the pair's endpoint, region and credentials.
#[derive(Debug)]
pub struct SqsQueue {
    client: aws_sdk_sqs::Client,
    url: String,
    name: String,
}

impl SqsQueue {
    /// Connects to the queue of `arn` (`arn:aws:sqs:REGION:ACCOUNT:NAME`).
    pub async fn connect(cfg: &S3Config, arn: &str) -> Result<SqsQueue, QueueError> {
        let err = |message: String| QueueError {
            queue: arn.to_owned(),
            message,
        };
        let (account, name) = parse_arn(arn).ok_or_else(|| {
            err("not an SQS queue ARN: write it like arn:aws:sqs:REGION:ACCOUNT:NAME".into())
        })?;
        // One attempt per request: the poll loop retries with its own backoff.
        let sdk = load_sdk(cfg, 1).await;
        let client = aws_sdk_sqs::Client::new(&sdk);
        let url = client
            .get_queue_url()
            .queue_name(name)
            .queue_owner_aws_account_id(account)
            .send()
            .await
            .map_err(|e| err(message(&e)))?
            .queue_url
            .ok_or_else(|| err("the server named no queue URL".into()))?;
        Ok(SqsQueue {
            client,
            url,
            name: name.to_owned(),
        })
    }
}

fn message(e: &dyn std::error::Error) -> String {
    crate::error::without_debug_dump(&aws_sdk_sqs::error::DisplayErrorContext(e).to_string())
        .to_owned()
}

/// What `--notify-queue` names: an existing queue by ARN, or a queue by name that setup
/// creates when it is missing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueueRef {
    /// `arn:PARTITION:sqs:REGION:ACCOUNT:NAME`.
    Arn(String),
    /// A queue name (1-80 of `A-Za-z0-9_-`), in the bucket's region and the caller's account.
    Name(String),
}

impl QueueRef {
    /// The queue's name, and its account when the ARN names one.
    pub fn name_and_owner(&self) -> (&str, Option<&str>) {
        match self {
            QueueRef::Arn(arn) => match parse_arn(arn) {
                Some((account, name)) => (name, Some(account)),
                None => (arn, None),
            },
            QueueRef::Name(name) => (name, None),
        }
    }
}

impl std::str::FromStr for QueueRef {
    type Err = String;

    fn from_str(s: &str) -> Result<QueueRef, String> {
        if s.starts_with("arn:") {
            return match parse_arn(s) {
                Some((_, name)) if valid_name(name) => Ok(QueueRef::Arn(s.to_owned())),
                _ => Err(format!(
                    "{s:?} is not an SQS queue ARN: write it like arn:aws:sqs:REGION:ACCOUNT:NAME, or give just a queue name"
                )),
            };
        }
        if valid_name(s) {
            Ok(QueueRef::Name(s.to_owned()))
        } else {
            Err(format!(
                "{s:?} is not an SQS queue name: use 1 to 80 letters, digits, '-' and '_' (FIFO queues cannot take S3 events), or give the queue's ARN"
            ))
        }
    }
}

/// SQS's rule for standard queue names (a `.fifo` queue cannot receive S3 events).
fn valid_name(name: &str) -> bool {
    (1..=80).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
}

/// `(account, name)` of an SQS queue ARN.
pub fn parse_arn(arn: &str) -> Option<(&str, &str)> {
    let mut parts = arn.split(':');
    let (Some("arn"), Some(_partition), Some("sqs"), Some(_region), Some(account), Some(name)) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    (parts.next().is_none() && !account.is_empty() && !name.is_empty()).then_some((account, name))
}

#[async_trait]
impl EventQueue for SqsQueue {
    fn name(&self) -> &str {
        &self.name
    }

    async fn receive(&self, wait: Duration) -> Result<Vec<QueueMessage>, QueueError> {
        let out = self
            .client
            .receive_message()
            .queue_url(&self.url)
            .max_number_of_messages(10)
            .wait_time_seconds(wait.as_secs().min(20) as i32)
            .send()
            .await
            .map_err(|e| QueueError {
                queue: self.name.clone(),
                message: message(&e),
            })?;
        Ok(out
            .messages
            .unwrap_or_default()
            .into_iter()
            .filter_map(|m| {
                Some(QueueMessage {
                    receipt: m.receipt_handle?,
                    body: m.body.unwrap_or_default(),
                })
            })
            .collect())
    }

    async fn delete(&self, receipts: &[String]) -> Result<(), QueueError> {
        for chunk in receipts.chunks(10) {
            let entries = chunk
                .iter()
                .enumerate()
                .map(|(i, r)| {
                    aws_sdk_sqs::types::DeleteMessageBatchRequestEntry::builder()
                        .id(i.to_string())
                        .receipt_handle(r)
                        .build()
                        .expect("id and receipt are set")
                })
                .collect();
            self.client
                .delete_message_batch()
                .queue_url(&self.url)
                .set_entries(Some(entries))
                .send()
                .await
                .map_err(|e| QueueError {
                    queue: self.name.clone(),
                    message: message(&e),
                })?;
        }
        Ok(())
    }
}

/// One object event of a bucket.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ObjectEvent {
    /// The bucket the object is in.
    pub bucket: String,
    /// The key, decoded.
    pub key: String,
    /// `ObjectCreated:Put`, `ObjectRemoved:Delete`, ...
    pub name: String,
    /// The ETag of a created object (without quotes), when the event has it.
    pub etag: Option<String>,
}

#[derive(Deserialize)]
struct Body {
    #[serde(rename = "Records", default)]
    records: Vec<Record>,
}

#[derive(Deserialize)]
struct Record {
    #[serde(rename = "eventName", default)]
    event_name: String,
    s3: S3Part,
}

#[derive(Deserialize)]
struct S3Part {
    bucket: BucketPart,
    object: ObjectPart,
}

#[derive(Deserialize)]
struct BucketPart {
    name: String,
}

#[derive(Deserialize)]
struct ObjectPart {
    key: String,
    #[serde(rename = "eTag", default)]
    etag: Option<String>,
}

/// An SNS notification delivered to a queue (not raw): the S3 event is the `Message`
/// string. That is how several devices each get every event: the bucket notifies one SNS
/// topic (`--notify-topic`), and each device's queue subscribes to it (S3 refuses two
/// queues for the same events of one prefix, and a shared queue hands each message to one
/// reader only).
#[derive(Deserialize)]
struct SnsEnvelope {
    #[serde(rename = "Type")]
    kind: String,
    #[serde(rename = "Message")]
    message: String,
}

/// The object events in a message body (an S3 event notification, also inside an SNS
/// envelope; test events and anything else give none). Keys come URL-encoded, with `+` for
/// spaces; keys that do not decode to UTF-8 are left out (a listing reports them).
pub fn object_events(body: &str) -> Vec<ObjectEvent> {
    if let Ok(sns) = serde_json::from_str::<SnsEnvelope>(body)
        && sns.kind == "Notification"
    {
        return object_events(&sns.message);
    }
    let Ok(b) = serde_json::from_str::<Body>(body) else {
        return Vec::new();
    };
    b.records
        .into_iter()
        .filter_map(|r| {
            let plus_decoded = r.s3.object.key.replace('+', " ");
            let key = percent_encoding::percent_decode_str(&plus_decoded)
                .decode_utf8()
                .ok()?
                .into_owned();
            Some(ObjectEvent {
                bucket: r.s3.bucket.name,
                key,
                name: r.event_name,
                etag: r
                    .s3
                    .object
                    .etag
                    .map(|e| e.trim_matches('"').to_owned())
                    .filter(|e| !e.is_empty()),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn arns_name_account_and_queue() {
        assert_eq!(
            parse_arn("arn:aws:sqs:eu-west-1:123456789012:pail-events"),
            Some(("123456789012", "pail-events"))
        );
        assert_eq!(parse_arn("arn:aws:sns:eu-west-1:1:t"), None);
        assert_eq!(parse_arn("pail-events"), None);
        assert_eq!(parse_arn("arn:aws:sqs:r:1:q:extra"), None);
    }

    #[test]
    fn queue_refs_are_arns_or_names() {
        let arn = "arn:aws:sqs:eu-west-1:123456789012:pail-events";
        let r: QueueRef = arn.parse().unwrap();
        assert_eq!(r, QueueRef::Arn(arn.into()));
        assert_eq!(r.name_and_owner(), ("pail-events", Some("123456789012")));
        let r: QueueRef = "pail_events-2".parse().unwrap();
        assert_eq!(r, QueueRef::Name("pail_events-2".into()));
        assert_eq!(r.name_and_owner(), ("pail_events-2", None));
        assert!("x".repeat(80).parse::<QueueRef>().is_ok());
        for bad in [
            "",
            "has space",
            "q.fifo",
            "arn:aws:sns:eu-west-1:1:t",
            "arn:aws:sqs:r:1:bad.name",
            "https://sqs.eu-west-1.amazonaws.com/1/q",
        ] {
            assert!(bad.parse::<QueueRef>().is_err(), "{bad}");
        }
        assert!("x".repeat(81).parse::<QueueRef>().is_err());
    }

    #[test]
    fn events_inside_an_sns_envelope_are_read() {
        let inner = r#"{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "p/a+b.txt", "eTag": "e1"}}}]}"#;
        let envelope = serde_json::json!({
            "Type": "Notification",
            "MessageId": "m",
            "TopicArn": "arn:aws:sns:eu-west-1:1:t",
            "Message": inner,
        })
        .to_string();
        let events = object_events(&envelope);
        assert_eq!(events.len(), 1);
        assert_eq!(events[0].key, "p/a b.txt");
        assert_eq!(events[0].etag.as_deref(), Some("e1"));
        // A subscription confirmation carries no object.
        let confirm = serde_json::json!({"Type": "SubscriptionConfirmation", "Message": "x"});
        assert!(object_events(&confirm.to_string()).is_empty());
    }

    #[test]
    fn events_decode_their_keys() {
        // As moto sends them ('/' encoded too) and as AWS does ('+' for a space).
        let moto = r#"{"Records": [{"eventName": "ObjectCreated:Put", "s3": {"bucket": {"name": "b"}, "object": {"key": "p%2Fa%2520b.txt", "size": 3, "eTag": "764efa"}}}]}"#;
        let aws = r#"{"Records":[{"eventName":"ObjectRemoved:Delete","s3":{"bucket":{"name":"b"},"object":{"key":"p/my+photo%C3%A9.jpg"}}}]}"#;
        assert_eq!(
            object_events(moto),
            vec![ObjectEvent {
                bucket: "b".into(),
                key: "p/a%20b.txt".into(),
                name: "ObjectCreated:Put".into(),
                etag: Some("764efa".into()),
            }]
        );
        assert_eq!(object_events(aws)[0].key, "p/my photoé.jpg");
        assert_eq!(object_events(aws)[0].etag, None);
    }

    #[test]
    fn test_events_and_garbage_carry_no_object() {
        assert!(object_events(r#"{"Service":"Amazon S3","Event":"s3:TestEvent"}"#).is_empty());
        assert!(object_events("not json").is_empty());
        assert!(
            object_events(r#"{"Records":[{"eventName":"x","s3":{"bucket":{"name":"b"},"object":{"key":"%FF"}}}]}"#)
                .is_empty()
        );
    }
}
