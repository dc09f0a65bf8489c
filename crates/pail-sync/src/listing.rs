//! The remote side of a full pass: the prefix listed page by page into the index, hostile
//! keys reported, name collisions found on the way (bounded memory). The listing starts with
//! the pass and runs while the folder is scanned ([`start_listing`]): the one waits on the
//! server, the other on the disk.

use std::collections::HashSet;
use std::sync::Arc;

use pail_core::{RelPath, RemoteObject, RemoteRef};
use pail_index::IgnoreRules;
use pail_s3::{ListPage, StoreError};
use tokio::sync::mpsc;

use crate::ctx::PairCtx;
use crate::error::SyncError;
use crate::names::{CollisionFinder, case_twin_skips, path_set};

/// What a listing found besides the objects (which are in the index).
#[derive(Debug, Default)]
pub(crate) struct Listing {
    /// Objects that map to syncable paths.
    pub listed: u64,
    /// Every key listed (what the listing's requests are counted in).
    pub keys: u64,
    /// (key or path, reason) for names that are not synced.
    pub skipped: Vec<(String, String)>,
    /// Paths left out of the plan on both sides (collisions).
    pub collided: HashSet<RelPath>,
}

/// Pages a listing may get ahead of the pass that reads them (about 200 KB each).
const PAGES_AHEAD: usize = 16;

/// The pages of the pair's listing, asked for ahead of their reader by a task of their own,
/// which ends with the last page or an error, and is aborted when this is dropped (a pass
/// that stops early).
pub(crate) struct Pages {
    rx: mpsc::Receiver<Result<ListPage, StoreError>>,
    task: tokio::task::AbortHandle,
}

impl Drop for Pages {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// Starts listing the pair's prefix.
pub(crate) fn start_listing(ctx: &PairCtx) -> Pages {
    let (tx, rx) = mpsc::channel(PAGES_AHEAD);
    let store = ctx.remote.store.clone();
    let list_prefix = ctx.remote.prefix.list_prefix();
    let task = tokio::spawn(async move {
        let mut token = None;
        loop {
            let page = store.list_page(&list_prefix, token, None).await;
            token = page.as_ref().ok().and_then(|p| p.next_token.clone());
            if tx.send(page).await.is_err() || token.is_none() {
                return;
            }
        }
    });
    Pages {
        rx,
        task: task.abort_handle(),
    }
}

/// Reads the pair's listing into the index's remote scan.
pub(crate) async fn list_remote(
    ctx: &Arc<PairCtx>,
    rules: &IgnoreRules,
    mut pages: Pages,
) -> Result<Listing, SyncError> {
    let mut out = Listing::default();
    ctx.db().clear_remote_scan()?;
    let list_prefix = ctx.remote.prefix.list_prefix();
    let mut collisions = CollisionFinder::default();
    loop {
        let page = pages
            .rx
            .recv()
            .await
            .unwrap_or_else(|| {
                Err(StoreError::other(
                    "list",
                    &list_prefix,
                    "the listing stopped before its last page",
                ))
            })
            .map_err(|source| SyncError::Listing {
                url: format!("s3://{}/{list_prefix}", ctx.remote.bucket),
                source,
            })?;
        out.keys += page.objects.len() as u64;
        let mut batch = Vec::with_capacity(page.objects.len());
        for o in page.objects {
            match ctx.remote.prefix.path_for(&o.key) {
                Ok(Some(path)) if !rules.is_ignored(&path, false) => {
                    out.listed += 1;
                    collisions.push(&path);
                    let object = RemoteRef {
                        etag: o.etag,
                        version_id: None,
                        // On an encrypted pair, the file's size (exact for pail's objects).
                        size: ctx.remote.plain_size(o.size),
                    };
                    let remote = RemoteObject {
                        object,
                        hash: None,
                        last_modified_ns: o.last_modified_ns,
                    };
                    batch.push((path, remote));
                }
                Ok(_) => {}
                Err(e) => out
                    .skipped
                    .push((o.key.clone(), format!("remote key not synced: {e}"))),
            }
        }
        // Keys no file can be named after (not UTF-8): reported, and the rest of the page
        // syncs (tenet 14).
        out.skipped.extend(page.unreadable.into_iter().map(|shown| {
            (
                shown,
                "remote key not synced: not valid UTF-8, no file can have this name; rename it in the bucket".to_owned(),
            )
        }));
        ctx.db().insert_remote_scan(&batch)?;
        if page.next_token.is_none() {
            break;
        }
    }
    let mut collided = collisions.finish();
    if ctx.case_insensitive {
        let twins = ctx
            .db()
            .remote_case_twins(pail_core::collisions::case_key)?;
        collided.extend(case_twin_skips(&twins));
    }
    out.collided = path_set(&collided);
    out.skipped
        .extend(collided.into_iter().map(|(p, why)| (p.to_string(), why)));
    Ok(out)
}
