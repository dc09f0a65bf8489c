//! Is a new file's key still free, right before pail writes it? On a bucket with neither
//! versions nor conditional writes (Garage), a PUT replaces whatever the key holds and
//! nothing keeps what it replaced, so another device's object written since the pass's
//! listing would be lost (tenet 1). pail therefore looks right before each write.
//!
//! One HEAD per file did that at the cost of a second request per file (issue 14). When an
//! execution writes many new files, one listing page answers for every key in the range it
//! covers instead, and a page is trusted only for [`FRESH`] after it was asked for. The window
//! in which another writer's new object can be replaced is then at most `FRESH` plus the
//! write itself, where a HEAD's is its round trip plus the write: a few times longer than a
//! HEAD's under load (64 small requests in flight: tens of ms), and far shorter than a
//! multipart upload's, which runs for seconds after its check. Even a write lost in that
//! window loses no content: the device whose object was replaced finds its content in no
//! trash copy when it next downloads the file, and keeps it as a conflict copy (tenet 1,
//! `keep_local.rs`). A pass with few new files keeps the HEADs: a listing page can be much
//! larger than a HEAD.

use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use pail_s3::{ListPage, ObjectStore};

/// How long a listing page stands in for a HEAD of the keys it covers.
pub(crate) const FRESH: Duration = Duration::from_millis(200);

/// New files an execution must write before their keys are checked by listing.
pub(crate) const MIN_BATCH: usize = 4;

/// The checks of new keys for one pair: listing pages taken lately, and whether the current
/// execution checks by listing at all.
#[derive(Debug, Default)]
pub(crate) struct NewKeys {
    by_listing: AtomicBool,
    pages: Mutex<Vec<Covered>>,
    /// One listing at a time: the checks that wait for it are mostly answered by its page.
    listing: tokio::sync::Mutex<()>,
}

/// What one listing page said about a range of keys, and when it was asked for.
#[derive(Debug)]
struct Covered {
    asked: Instant,
    /// The page's `start-after`: keys above it are covered.
    after: String,
    /// The last key the page covers; `None`: every key above `after` (the last page).
    through: Option<String>,
    /// The keys in the range that exist, in ascending order.
    present: Vec<String>,
}

impl Covered {
    /// Reads a page asked for with `start-after` = `after`. `None` when the server's keys are
    /// not in ascending byte order: then a key missing from the page proves nothing.
    fn from_page(asked: Instant, after: String, page: ListPage) -> Option<Covered> {
        let present: Vec<String> = page.objects.into_iter().map(|o| o.key).collect();
        let ordered =
            present.first().is_none_or(|k| *k > after) && present.windows(2).all(|w| w[0] < w[1]);
        if !ordered {
            return None;
        }
        // Keys the page holds beyond its last readable one (names no file can have) make no
        // difference: the range ends at the last key read.
        let through = page
            .next_token
            .map(|_| present.last().cloned().unwrap_or_else(|| after.clone()));
        Some(Covered {
            asked,
            after,
            through,
            present,
        })
    }

    /// `Some(true)`: `key` was free when the page was asked for, at most `FRESH` ago.
    fn answer(&self, key: &str, now: Instant) -> Option<bool> {
        let fresh = now.saturating_duration_since(self.asked) < FRESH;
        let inside = key > self.after.as_str() && self.through.as_deref().is_none_or(|t| key <= t);
        (fresh && inside).then(|| {
            self.present
                .binary_search_by(|k| k.as_str().cmp(key))
                .is_err()
        })
    }
}

impl NewKeys {
    /// Starts an execution that writes `count` new files (forgetting earlier pages: this
    /// execution's own writes are not in them).
    pub(crate) fn start(&self, count: usize) {
        self.pages.lock().unwrap_or_else(|e| e.into_inner()).clear();
        self.by_listing.store(count >= MIN_BATCH, Ordering::Relaxed);
    }

    /// Whether `key` (under `list_prefix`) holds no object now. `None`: this execution checks
    /// with a HEAD (few new files, or a server too slow, odd or failing for pages to serve).
    pub(crate) async fn free(
        &self,
        store: &dyn ObjectStore,
        list_prefix: &str,
        key: &str,
    ) -> Option<bool> {
        if !self.by_listing.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(free) = self.cached(key) {
            return Some(free);
        }
        let _one = self.listing.lock().await;
        // The listing before ours may have turned listing off for the pass.
        if !self.by_listing.load(Ordering::Relaxed) {
            return None;
        }
        if let Some(free) = self.cached(key) {
            return Some(free);
        }
        // Any string below the key starts the page; the key without its last character is the
        // closest one that is always valid.
        let after = match key.char_indices().next_back() {
            Some((i, _)) if key[..i] >= *list_prefix => key[..i].to_owned(),
            _ => return None,
        };
        let asked = Instant::now();
        let page = match store
            .list_page(list_prefix, None, Some(after.clone()))
            .await
        {
            Ok(page) => page,
            Err(error) => {
                // The HEAD is the check that always works; the write's own errors are its own.
                tracing::info!(key, %error, "a listing failed: checking each new key with a HEAD");
                self.by_listing.store(false, Ordering::Relaxed);
                return None;
            }
        };
        let Some(covered) = Covered::from_page(asked, after, page) else {
            tracing::info!(
                key,
                "the server lists keys out of order: checking each new key with a HEAD"
            );
            self.by_listing.store(false, Ordering::Relaxed);
            return None;
        };
        let answer = covered.answer(key, Instant::now());
        if answer.is_none() && asked.elapsed() >= FRESH {
            tracing::info!(
                key,
                "a listing took longer than it may be trusted: checking each new key with a HEAD"
            );
            self.by_listing.store(false, Ordering::Relaxed);
            return None;
        }
        let mut pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        pages.retain(|p| p.asked.elapsed() < FRESH);
        pages.push(covered);
        answer
    }

    fn cached(&self, key: &str) -> Option<bool> {
        let now = Instant::now();
        let pages = self.pages.lock().unwrap_or_else(|e| e.into_inner());
        pages.iter().rev().find_map(|p| p.answer(key, now))
    }
}

#[cfg(test)]
mod tests {
    use pail_s3::{MemStore, Op};

    use super::*;

    fn store(keys: &[&str]) -> MemStore {
        let mem = MemStore::garage_like("bkt");
        for k in keys {
            mem.put_foreign(k, &b"x"[..]);
        }
        mem.reset_counts();
        mem
    }

    #[tokio::test]
    async fn one_page_answers_for_many_new_keys() {
        let mem = store(&["p/a", "p/c", "q/z"]);
        let keys = NewKeys::default();
        keys.start(MIN_BATCH);
        for (key, free) in [("p/b", true), ("p/a", false), ("p/c", false), ("p/d", true)] {
            assert_eq!(keys.free(&mem, "p/", key).await, Some(free), "{key}");
        }
        assert_eq!(mem.count(Op::List), 1);
        assert_eq!(mem.count(Op::Head), 0);
    }

    /// A listing that fails or is turned off leaves every later check to a HEAD, at once.
    #[tokio::test]
    async fn a_failed_listing_falls_back_to_heads() {
        let mem = store(&[]);
        let faulty = pail_s3::FaultyStore::new(mem.clone());
        faulty.fail_next(Op::List, 1, pail_s3::faulty::slow_down);
        let keys = NewKeys::default();
        keys.start(MIN_BATCH);
        assert_eq!(keys.free(&faulty, "p/", "p/a").await, None);
        assert_eq!(keys.free(&faulty, "p/", "p/b").await, None);
        assert_eq!(mem.count(Op::List), 0);
    }

    #[tokio::test]
    async fn few_new_keys_keep_the_head() {
        let mem = store(&[]);
        let keys = NewKeys::default();
        keys.start(MIN_BATCH - 1);
        assert_eq!(keys.free(&mem, "p/", "p/a").await, None);
        assert_eq!(mem.count(Op::List), 0);
    }

    #[tokio::test]
    async fn a_page_is_trusted_only_while_fresh() {
        let mem = store(&[]);
        let keys = NewKeys::default();
        keys.start(MIN_BATCH);
        assert_eq!(keys.free(&mem, "p/", "p/a").await, Some(true));
        mem.put_foreign("p/b", &b"another device's"[..]);
        // Within the window, the page answers (the race this accepts, no longer than FRESH).
        assert_eq!(keys.free(&mem, "p/", "p/b").await, Some(true));
        tokio::time::sleep(FRESH).await;
        assert_eq!(keys.free(&mem, "p/", "p/b").await, Some(false));
        assert_eq!(mem.count(Op::List), 2);
    }

    #[tokio::test]
    async fn a_truncated_page_covers_only_up_to_its_last_key() {
        let names: Vec<String> = (0..15).map(|i| format!("p/k{i:02}")).collect();
        let mem = store(&names.iter().map(String::as_str).collect::<Vec<_>>());
        mem.set_page_size(10);
        let keys = NewKeys::default();
        keys.start(MIN_BATCH);
        // The first page: p/k01 to p/k10.
        assert_eq!(keys.free(&mem, "p/", "p/k00x").await, Some(true));
        assert_eq!(keys.free(&mem, "p/", "p/k09x").await, Some(true));
        assert_eq!(mem.count(Op::List), 1);
        // Beyond the first page's last key: a second page, which sees the key.
        assert_eq!(keys.free(&mem, "p/", "p/k14").await, Some(false));
        assert_eq!(keys.free(&mem, "p/", "p/k14x").await, Some(true));
        assert_eq!(mem.count(Op::List), 2);
    }

    #[test]
    fn keys_out_of_order_prove_nothing() {
        let page = |keys: &[&str]| ListPage {
            objects: keys
                .iter()
                .map(|k| pail_s3::ListedObject {
                    key: (*k).into(),
                    etag: "\"e\"".into(),
                    size: 1,
                    last_modified_ns: 0,
                    storage_class: None,
                })
                .collect(),
            next_token: None,
            unreadable: Vec::new(),
        };
        let now = Instant::now();
        assert!(Covered::from_page(now, "p/".into(), page(&["p/b", "p/a"])).is_none());
        assert!(Covered::from_page(now, "p/b".into(), page(&["p/a"])).is_none());
        let ok = Covered::from_page(now, "p/".into(), page(&["p/a", "p/b"])).unwrap();
        assert_eq!(ok.answer("p/ab", now), Some(true));
        assert_eq!(ok.answer("p/b", now), Some(false));
        assert_eq!(ok.answer("p/", now), None);
    }
}
