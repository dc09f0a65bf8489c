//! The remote side of a full pass: the prefix listed page by page into the index, hostile
//! keys reported, name collisions found on the way (bounded memory). The listing starts with
//! the pass and runs while the folder is scanned ([`start_listing`]): the one waits on the
//! server, the other on the disk. A prefix of many keys is listed in several key ranges at
//! once.

use std::collections::HashSet;
use std::sync::Arc;

use pail_core::{RelPath, RemoteObject, RemoteRef};
use pail_index::IgnoreRules;
use pail_s3::{ListPage, ObjectStore, StoreError};
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

/// Keys per listing page (the servers' default and most).
const KEYS_PER_PAGE: u64 = 1000;

/// Ranges of one prefix listed at once.
const MAX_RANGES: u64 = 8;

/// Why a range stopped short.
#[derive(Debug)]
enum RangeError {
    Store(StoreError),
    /// A page came back out of key order (the key named): such a server cannot be listed in
    /// ranges, whose ends are found by key order.
    OutOfOrder(String),
}

/// A page of one range, and whether it was that range's last.
type RangePage = Result<(ListPage, bool), RangeError>;

/// The pages of the pair's listing, asked for ahead of their reader by tasks of their own,
/// one per key range (see [`start_listing`]); each ends with its range's last page or an
/// error, and all are aborted when this is dropped (a pass that stops early).
pub(crate) struct Pages {
    rx: mpsc::Receiver<RangePage>,
    /// One per range.
    tasks: Vec<tokio::task::AbortHandle>,
}

impl Drop for Pages {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

/// Starts listing the pair's prefix. A prefix of more than one page of synced keys is split
/// into up to [`MAX_RANGES`] key ranges, listed at once (`start-after` the range's lower end,
/// up to its upper end): within a range a listing is one request after the other, each
/// waiting the server's latency per page (45 ms on RGW). Every key falls in exactly one range
/// whatever the bucket holds now; the base only places the ends, at the last key of a whole
/// page, so that a bucket as the base has it takes as many pages as one listing would.
pub(crate) fn start_listing(ctx: &PairCtx) -> Pages {
    list_in_ranges(
        ctx.remote.store.clone(),
        ctx.remote.prefix.list_prefix(),
        range_bounds(ctx),
    )
}

/// The keys between ranges, sorted: none for a prefix of at most a page of synced keys (or
/// when the index cannot say).
fn range_bounds(ctx: &PairCtx) -> Vec<String> {
    let db = ctx.db();
    let count = db.base_count().unwrap_or(0);
    let pages = count.div_ceil(KEYS_PER_PAGE);
    let per_range = pages.div_ceil(MAX_RANGES).max(1);
    let ranges = pages.div_ceil(per_range);
    if ranges < 2 {
        return Vec::new();
    }
    let ends = db
        .base_paths_every(per_range * KEYS_PER_PAGE, ranges - 1)
        .unwrap_or_default();
    let mut keys: Vec<String> = ends
        .iter()
        // (the key order of an encrypted pair's names is not their paths': sorted below)
        .filter_map(|p| ctx.remote.key(p).ok())
        .collect();
    keys.sort();
    keys.dedup();
    keys
}

/// Lists `prefix` as the ranges between `bounds` (sorted), one task each.
fn list_in_ranges(store: Arc<dyn ObjectStore>, prefix: String, bounds: Vec<String>) -> Pages {
    let (tx, rx) = mpsc::channel(PAGES_AHEAD);
    let lowers = std::iter::once(None).chain(bounds.iter().cloned().map(Some));
    let uppers = bounds
        .iter()
        .cloned()
        .map(Some)
        .chain(std::iter::once(None));
    let tasks = lowers
        .zip(uppers)
        .map(|(lower, upper)| {
            let range = KeyRange {
                prefix: prefix.clone(),
                lower,
                upper,
            };
            tokio::spawn(range.list(store.clone(), tx.clone())).abort_handle()
        })
        .collect();
    Pages { rx, tasks }
}

/// The keys of `prefix` above `lower` and up to `upper` (`None`: from the start, to the end).
struct KeyRange {
    prefix: String,
    lower: Option<String>,
    upper: Option<String>,
}

impl KeyRange {
    /// Sends the range's pages in order; the last one says so.
    async fn list(self, store: Arc<dyn ObjectStore>, tx: mpsc::Sender<RangePage>) {
        // One listing of the whole prefix needs no key order (and is what a server out of
        // order falls back to): its pages go as they come.
        let whole = self.lower.is_none() && self.upper.is_none();
        let mut token = None;
        let mut prev: Option<String> = None;
        loop {
            let start_after = if token.is_none() {
                self.lower.clone()
            } else {
                None
            };
            let mut page = match store.list_page(&self.prefix, token, start_after).await {
                Ok(p) => p,
                Err(e) => {
                    let _ = tx.send(Err(RangeError::Store(e))).await;
                    return;
                }
            };
            token = page.next_token.take();
            let mut last = token.is_none();
            if !whole {
                let keys = prev.iter().chain(page.objects.iter().map(|o| &o.key));
                if let Some((_, k)) = keys.clone().zip(keys.skip(1)).find(|(a, b)| a >= b) {
                    let _ = tx.send(Err(RangeError::OutOfOrder(k.clone()))).await;
                    return;
                }
                prev = page.objects.last().map(|o| o.key.clone()).or(prev);
                // Keys at or below the lower end belong to the range before (a server that
                // ignores start-after lists them again); those above the upper end, and every
                // page after them, to the next.
                if let Some(lo) = &self.lower {
                    page.objects.retain(|o| o.key > *lo);
                }
                if let Some(up) = &self.upper {
                    let n = page.objects.partition_point(|o| o.key <= *up);
                    // (a page that ends on the upper end is the range's last: keys are unique)
                    last |=
                        n < page.objects.len() || page.objects.last().is_some_and(|o| o.key == *up);
                    page.objects.truncate(n);
                }
            }
            if tx.send(Ok((page, last))).await.is_err() || last {
                return;
            }
        }
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
    let failed = |source| SyncError::Listing {
        url: format!("s3://{}/{list_prefix}", ctx.remote.bucket),
        source,
    };
    let mut collisions = CollisionFinder::default();
    let mut finished = 0;
    while finished < pages.tasks.len() {
        let (page, last) = match pages.rx.recv().await {
            Some(Ok(p)) => p,
            Some(Err(RangeError::Store(e))) => return Err(failed(e)),
            Some(Err(RangeError::OutOfOrder(key))) => {
                tracing::warn!(
                    %key,
                    "the server listed keys out of order; listing the prefix in one piece"
                );
                pages = list_in_ranges(ctx.remote.store.clone(), list_prefix.clone(), Vec::new());
                ctx.db().clear_remote_scan()?;
                (out, collisions, finished) = (Listing::default(), CollisionFinder::default(), 0);
                continue;
            }
            None => {
                let why = "the listing stopped before its last page";
                return Err(failed(StoreError::other("list", &list_prefix, why)));
            }
        };
        finished += usize::from(last);
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
    }
    // (A key no file can be named after may sit on the page where two ranges meet.)
    out.skipped.sort();
    out.skipped.dedup();
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

#[cfg(test)]
mod tests {
    use pail_s3::MemStore;
    use proptest::prelude::*;

    use super::*;

    /// Every key the ranges between `bounds` list, sorted (a key listed twice shows twice).
    async fn listed(store: &MemStore, bounds: Vec<String>) -> Vec<String> {
        let mut pages = list_in_ranges(Arc::new(store.clone()), "p/".into(), bounds);
        let (mut keys, mut finished) = (Vec::new(), 0);
        while finished < pages.tasks.len() {
            let (page, last) = pages.rx.recv().await.expect("a range ended early").unwrap();
            finished += usize::from(last);
            keys.extend(page.objects.into_iter().map(|o| o.key));
        }
        keys.sort();
        keys
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Whatever the keys, bounds and page size, and whether or not the server honours
        /// start-after: the ranges together list every key of the prefix exactly once.
        #[test]
        fn ranges_list_every_key_once(
            keys in prop::collection::btree_set("[ab]{1,3}(/[ab]{1,2})?", 0..40),
            bounds in prop::collection::btree_set("[ab]{0,3}", 0..6),
            page in 1usize..6,
            ignores_start_after in any::<bool>(),
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let mem = MemStore::garage_like("bkt");
                mem.set_page_size(page);
                mem.set_ignores_start_after(ignores_start_after);
                for k in &keys {
                    mem.put_foreign(&format!("p/{k}"), b"x".to_vec());
                }
                // keys around the prefix, which no range may list
                mem.put_foreign("o/a", b"x".to_vec());
                mem.put_foreign("q/a", b"x".to_vec());
                let want: Vec<String> = keys.iter().map(|k| format!("p/{k}")).collect();
                let bounds: Vec<String> = bounds.iter().map(|b| format!("p/{b}")).collect();
                prop_assert_eq!(listed(&mem, bounds).await, want);
                Ok(())
            })?;
        }
    }

    /// A page out of key order ends its range with the key that gave it away.
    #[tokio::test]
    async fn a_page_out_of_order_is_reported() {
        let mem = MemStore::garage_like("bkt");
        for k in ["p/a", "p/b", "p/c", "p/d"] {
            mem.put_foreign(k, b"x".to_vec());
        }
        mem.set_page_size(2);
        mem.set_reverses_pages(true);
        let mut pages = list_in_ranges(Arc::new(mem.clone()), "p/".into(), vec!["p/b".into()]);
        let mut out_of_order = 0;
        for _ in 0..pages.tasks.len() {
            match pages.rx.recv().await {
                Some(Err(RangeError::OutOfOrder(_))) => out_of_order += 1,
                other => panic!("{other:?}"),
            }
        }
        assert_eq!(out_of_order, 2);
        // The whole prefix in one range does not depend on the order.
        mem.set_reverses_pages(false);
        assert_eq!(listed(&mem, Vec::new()).await, ["p/a", "p/b", "p/c", "p/d"]);
    }
}
