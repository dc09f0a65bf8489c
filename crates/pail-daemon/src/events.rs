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
                let paths = changed_paths(&ctx, &events);
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

/// The pair's paths that events name, leaving out other buckets and prefixes, pail's own
/// objects, and this device's own writes (the event's ETag is the one pail recorded: nothing
/// to fetch, so they cost nothing more).
fn changed_paths(ctx: &PairCtx, events: &[ObjectEvent]) -> Vec<RelPath> {
    let mut paths: Vec<RelPath> = events
        .iter()
        .filter(|e| e.bucket == ctx.remote.bucket)
        .filter_map(|e| {
            let path = ctx.remote.prefix.path_for(&e.key).ok().flatten()?;
            let own = e.name.starts_with("ObjectCreated")
                && e.etag.as_deref().is_some_and(|etag| {
                    ctx.db()
                        .get_base(&path)
                        .ok()
                        .flatten()
                        .is_some_and(|b| b.remote.etag.trim_matches('"') == etag)
                });
            (!own).then_some(path)
        })
        .collect();
    paths.sort();
    paths.dedup();
    paths
}

/// 5 s after the first failure, doubling up to a minute.
fn backoff(failures: u32) -> Duration {
    Duration::from_secs(
        5u64.saturating_mul(1 << failures.saturating_sub(1).min(4))
            .min(60),
    )
}
