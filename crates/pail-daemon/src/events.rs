//! Bucket events: a task per pair that long-polls the pair's SQS queue (`notify_queue`) and
//! hands the worker the paths other writers changed, so that a scoped pass brings them in
//! seconds after the write. The journal polls and the budgeted full listings go on beside it:
//! should the queue fail or lag, they still hear every writer.

use std::sync::Arc;
use std::time::Duration;

use pail_core::RelPath;
use pail_s3::queue::{EventQueue, ObjectEvent, SqsQueue, object_events};
use pail_sync::PairCtx;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// Long polls wait this long for a first message (SQS's maximum).
const WAIT: Duration = Duration::from_secs(20);

/// What the event task tells its worker.
#[derive(Debug)]
pub(crate) enum Heard {
    /// These paths changed in the bucket (by another writer).
    Changed(Vec<RelPath>),
    /// The queue answers (again).
    Listening(String),
    /// The queue cannot be read; the task retries.
    Failing(String),
}

/// Starts the event task of a pair with a `notify_queue`; `None` without one.
pub(crate) fn start(
    ctx: &Arc<PairCtx>,
    cancel: &CancellationToken,
) -> Option<mpsc::Receiver<Heard>> {
    let arn = ctx.cfg.notify_queue.clone()?;
    let (tx, rx) = mpsc::channel(16);
    let (ctx, cancel) = (ctx.clone(), cancel.clone());
    tokio::spawn(async move {
        tokio::select! {
            _ = cancel.cancelled() => {}
            _ = run(ctx, arn, tx) => {}
        }
    });
    Some(rx)
}

async fn run(ctx: Arc<PairCtx>, arn: String, tx: mpsc::Sender<Heard>) {
    let mut failures = 0u32;
    let queue = loop {
        let connected = match pail_sync::ctx::s3_config(&ctx.cfg) {
            Ok(cfg) => SqsQueue::connect(&cfg, &arn)
                .await
                .map_err(|e| e.to_string()),
            Err(e) => Err(format!("{e:#}")),
        };
        match connected {
            Ok(q) => break q,
            Err(e) => {
                failures += 1;
                if tx.send(Heard::Failing(e)).await.is_err() {
                    return;
                }
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    };
    let name = queue.name().to_owned();
    let mut listening = false;
    failures = 0;
    loop {
        match queue.receive(WAIT).await {
            Ok(messages) => {
                failures = 0;
                if !listening {
                    listening = true;
                    if tx.send(Heard::Listening(name.clone())).await.is_err() {
                        return;
                    }
                }
                if messages.is_empty() {
                    continue;
                }
                let events: Vec<ObjectEvent> = messages
                    .iter()
                    .flat_map(|m| object_events(&m.body))
                    .collect();
                let paths = settled_paths(&ctx, &events).await;
                // Handed on before deleting: a message is gone only once its paths are queued
                // for a pass (a crash in between is caught by the start's full listing).
                if !paths.is_empty() && tx.send(Heard::Changed(paths)).await.is_err() {
                    return;
                }
                let receipts: Vec<String> = messages.into_iter().map(|m| m.receipt).collect();
                if let Err(e) = queue.delete(&receipts).await {
                    tracing::info!(folder = %ctx.cfg.folder.display(), error = %e, "cannot delete handled bucket events; they come again");
                }
            }
            Err(e) => {
                failures += 1;
                listening = false;
                tracing::info!(folder = %ctx.cfg.folder.display(), error = %e, "bucket events: cannot read the queue");
                if tx.send(Heard::Failing(e.to_string())).await.is_err() {
                    return;
                }
                tokio::time::sleep(backoff(failures)).await;
            }
        }
    }
}

/// How long the event of an upload still in flight waits for the upload's record: S3 may send
/// it before the PUT's answer is back (moto does), and only the record tells it is this
/// device's own. The record follows the answer within milliseconds.
const SETTLE: Duration = Duration::from_secs(3);

/// [`changed_paths`], once no event names an upload of this device still being recorded (or
/// [`SETTLE`] is over: then they get their pass).
async fn settled_paths(ctx: &PairCtx, events: &[ObjectEvent]) -> Vec<RelPath> {
    let start = tokio::time::Instant::now();
    loop {
        let (paths, in_flight) = changed_paths(ctx, events);
        if !in_flight || start.elapsed() >= SETTLE {
            tracing::debug!(folder = %ctx.cfg.folder.display(), events = events.len(), paths = paths.len(), waited_ms = start.elapsed().as_millis() as u64, "bucket events read");
            return paths;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The pair's paths that events name, leaving out other buckets and prefixes, pail's own
/// objects, and this device's own writes (see [`needs_pass`]), which so cost nothing more;
/// and whether one of those paths has an upload of this device not yet recorded.
fn changed_paths(ctx: &PairCtx, events: &[ObjectEvent]) -> (Vec<RelPath>, bool) {
    let mut in_flight = false;
    let mut paths: Vec<RelPath> = events
        .iter()
        .filter(|e| e.bucket == ctx.remote.bucket)
        .filter_map(|e| {
            let path = ctx.remote.prefix.path_for(&e.key).ok().flatten()?;
            let base = ctx.db().get_base(&path).ok().flatten();
            let base_etag = base.as_ref().map(|b| b.remote.etag.trim_matches('"'));
            // Only looked at for a deletion of a path without a base; an lstat, no write.
            let local = || {
                ctx.cfg
                    .folder
                    .join(path.as_str())
                    .symlink_metadata()
                    .is_ok()
            };
            let needed = needs_pass(&e.name, e.etag.as_deref(), base_etag, local);
            if needed && e.name.starts_with("ObjectCreated") {
                in_flight |= ctx.db().has_pending_upload(&path).unwrap_or(false);
            }
            needed.then_some(path)
        })
        .collect();
    paths.sort();
    paths.dedup();
    (paths, in_flight)
}

/// Whether an event about one of the pair's paths calls for a pass over it. Not when it is
/// this device's own write, as far as the index tells:
/// - an upload whose ETag is the recorded base's (this device's upload, or one that brings
///   what the folder already has);
/// - a deletion of a path with neither a base nor a local file (this device's delete, which
///   took both away, or a deletion that has nothing here to take away).
///
/// An event that comes before its upload is recorded waits for the record ([`SETTLE`]).
fn needs_pass(
    event: &str,
    etag: Option<&str>,
    base_etag: Option<&str>,
    local_exists: impl FnOnce() -> bool,
) -> bool {
    if event.starts_with("ObjectCreated") {
        !(etag.is_some() && etag == base_etag)
    } else if event.starts_with("ObjectRemoved") {
        base_etag.is_some() || local_exists()
    } else {
        true
    }
}

/// 5 s after the first failure, doubling up to a minute.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(
        5u64.saturating_mul(1 << failures.saturating_sub(1).min(4))
            .min(60),
    )
}

#[cfg(test)]
mod tests {
    use super::needs_pass;

    #[test]
    fn own_writes_need_no_pass() {
        let yes = || true;
        let no = || false;
        // (event, event ETag, base ETag, local file, needs a pass)
        let table = [
            ("ObjectCreated:Put", Some("e1"), Some("e1"), true, false),
            (
                "ObjectCreated:CompleteMultipartUpload",
                Some("e1-2"),
                Some("e1-2"),
                true,
                false,
            ),
            ("ObjectCreated:Put", Some("e2"), Some("e1"), true, true),
            ("ObjectCreated:Put", Some("e1"), None, false, true),
            ("ObjectCreated:Copy", None, Some("e1"), true, true),
            ("ObjectRemoved:Delete", None, None, false, false),
            (
                "ObjectRemoved:DeleteMarkerCreated",
                None,
                None,
                false,
                false,
            ),
            ("ObjectRemoved:Delete", None, Some("e1"), true, true),
            ("ObjectRemoved:Delete", None, Some("e1"), false, true),
            ("ObjectRemoved:Delete", None, None, true, true),
            ("ObjectRestore:Completed", None, Some("e1"), true, true),
        ];
        for (event, etag, base, local, want) in table {
            let local = if local { yes } else { no };
            assert_eq!(
                needs_pass(event, etag, base, local),
                want,
                "{event} {etag:?} base {base:?}"
            );
        }
        // The local file is looked at only when it decides.
        assert!(!needs_pass(
            "ObjectCreated:Put",
            Some("e"),
            Some("e"),
            || { panic!("not needed") }
        ));
    }
}
