//! After-the-fact race detection for versioned buckets whose server ignores conditional
//! writes (tenet 5): after a write, the version just below ours must be the one the plan
//! expected. If another device's version sits there instead, its content was buried under
//! ours; pail brings it back as a conflict copy, which the next pass uploads. Below a delete
//! marker of ours, such a version is an edit deleted unseen: it comes back as the file itself
//! (tenet 3), which the next pass uploads.
//!
//! The checks run after each upload phase, in one go, by listing the versions of the
//! written keys' range in key order: a page answers for every written key it covers and the
//! listing jumps over the keys nobody wrote, so that 30 new files of one folder cost one LIST
//! request and an initial upload of 10,000 files tens, not 10,000.

use std::sync::Arc;

use pail_core::plan::{LocalExpect, RemoteExpect};
use pail_s3::{ObjectStore, ObjectVersion, StoreError};

use crate::ctx::PairCtx;
use crate::download::{version_to_conflict_copy, version_to_file};
use crate::outcome::{ActionError, PathError, Written};

/// Lists the versions of each of `keys` (sorted, distinct, all under `list_prefix`) and calls
/// `found(i, versions of keys[i], newest first)` once per key, in order. Each page starts
/// right below the first key not yet answered (under the keys' longest common prefix), so a
/// page covers every written key up to its last one; a key with more versions than a page
/// holds is followed through its pages.
pub(crate) async fn versions_of_keys(
    store: &dyn ObjectStore,
    list_prefix: &str,
    keys: &[&str],
    mut found: impl FnMut(usize, &[ObjectVersion]),
) -> Result<(), StoreError> {
    if keys.is_empty() {
        return Ok(());
    }
    let mut next = 0;
    // The versions of keys[next] listed so far.
    let mut run: Vec<ObjectVersion> = Vec::new();
    let mut prefix = common_prefix(list_prefix, keys);
    let mut markers = (below(keys[0], &prefix), None);
    while next < keys.len() {
        let (km, vm) = std::mem::take(&mut markers);
        let page = store.list_versions_page(&prefix, km, vm).await?;
        let mut last: Option<&str> = None;
        for v in &page.versions {
            if last.is_some_and(|l| v.key.as_str() < l) {
                return Err(StoreError::other(
                    "list versions",
                    &prefix,
                    "the server listed keys out of order",
                ));
            }
            last = Some(v.key.as_str());
            while next < keys.len() && keys[next] < v.key.as_str() {
                found(next, &run);
                run.clear();
                next += 1;
            }
            if keys.get(next) == Some(&v.key.as_str()) {
                run.push(v.clone());
            }
        }
        let (Some(km), vm) = (page.next_key_marker, page.next_version_id_marker) else {
            // The rest of the prefix is listed: keys not seen have no versions.
            while next < keys.len() {
                found(next, &run);
                run.clear();
                next += 1;
            }
            break;
        };
        if keys.get(next) == Some(&km.as_str()) {
            // Inside the next key's versions: read on.
            markers = (Some(km), vm);
        } else if next < keys.len() {
            // Past every key listed: jump to the next written key, never back before the
            // page's end (a page spent on one other key's many versions must still progress).
            prefix = common_prefix(list_prefix, &keys[next..]);
            let jump = below(keys[next], &prefix).unwrap_or_default();
            markers = (Some(jump.max(km)), None);
        }
    }
    Ok(())
}

/// The longest common prefix of the sorted `keys`, cut at a character boundary (at least
/// `list_prefix`, which they all start with).
fn common_prefix(list_prefix: &str, keys: &[&str]) -> String {
    let (Some(first), Some(last)) = (keys.first(), keys.last()) else {
        return list_prefix.to_owned();
    };
    let n = first
        .char_indices()
        .zip(last.chars())
        .find(|((_, a), b)| a != b)
        .map_or(first.len().min(last.len()), |((i, _), _)| i);
    let n = n.max(list_prefix.len());
    first[..n].to_owned()
}

/// A key-marker under `prefix` that lists `key` and what follows it: the key without its last
/// character (any string below the key would do; this one is as close as always valid).
/// `None`: the key is the prefix itself (one key left): the prefix is listed from its start.
fn below(key: &str, prefix: &str) -> Option<String> {
    match key.char_indices().next_back() {
        Some((i, _)) if i >= prefix.len() => Some(key[..i].to_owned()),
        _ => None,
    }
}

/// What the checks of one phase found.
#[derive(Debug, Default)]
pub(crate) struct RaceReport {
    /// Lost races: another writer's version kept as a conflict copy.
    pub(crate) races: u64,
    /// The checks that failed.
    pub(crate) errors: Vec<PathError>,
}

/// Checks the writes of one phase.
pub(crate) async fn check_writes(ctx: &Arc<PairCtx>, mut written: Vec<Written>) -> RaceReport {
    if written.is_empty() {
        return RaceReport::default();
    }
    written.sort_by(|a, b| a.key.cmp(&b.key));
    let mut keys: Vec<&str> = written.iter().map(|w| w.key.as_str()).collect();
    keys.dedup();
    // (index into `written`, buried version id)
    let mut buried: Vec<(usize, String)> = Vec::new();
    let mut at = 0;
    let listed = versions_of_keys(
        ctx.remote.store.as_ref(),
        &ctx.remote.prefix.list_prefix(),
        &keys,
        |i, versions| {
            while written.get(at).is_some_and(|w| w.key.as_str() == keys[i]) {
                let w = &written[at];
                if let Some(b) = buried_version(versions, &w.version, &w.expect) {
                    buried.push((at, b));
                }
                at += 1;
            }
        },
    )
    .await;
    if let Err(e) = listed {
        let errors = written
            .iter()
            .map(|w| PathError {
                path: w.path.to_string(),
                error: ActionError::RaceCheckAll(e.clone()),
            })
            .collect();
        return RaceReport { races: 0, errors };
    }
    let mut errors = Vec::new();
    let races = buried.len() as u64;
    for (i, version) in buried {
        let w = &written[i];
        let res = if w.deleted {
            tracing::warn!(path = %w.path, %version, "deleted another device's edit unseen: the edit comes back");
            version_to_file(ctx, &w.path, &w.key, &version).await
        } else {
            tracing::warn!(path = %w.path, %version, "lost a write race: keeping the other version as a conflict copy");
            version_to_conflict_copy(ctx, &w.path, &w.key, &version, &LocalExpect::Absent).await
        };
        if let Err(e) = res {
            errors.push(PathError {
                path: w.path.to_string(),
                error: ActionError::BuriedVersion(Box::new(e)),
            });
        }
    }
    RaceReport { races, errors }
}

/// The version directly below ours, if it is another writer's content that the plan did not
/// expect (newest-first list of one key). Versions right below ours with our very ETag are
/// skipped: they hold our content, written by an attempt of ours whose answer was lost (a
/// PUT applied upstream but answered 500, then retried) or by a crash before the write was
/// recorded. Burying identical content loses nothing, whoever wrote it.
fn buried_version(versions: &[ObjectVersion], ours: &str, expect: &RemoteExpect) -> Option<String> {
    let pos = versions.iter().position(|v| v.version_id == ours)?;
    let our_etag = versions[pos].etag.as_deref().filter(|e| !e.is_empty());
    let below = versions[pos + 1..]
        .iter()
        .find(|v| v.is_delete_marker || our_etag.is_none() || v.etag.as_deref() != our_etag)?;
    if below.is_delete_marker {
        return None;
    }
    let expected = match expect {
        RemoteExpect::Absent => false,
        RemoteExpect::Is(r) => match &r.version_id {
            Some(v) => &below.version_id == v,
            None => below.etag.as_deref() == Some(r.etag.as_str()),
        },
    };
    (!expected).then(|| below.version_id.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use pail_core::RemoteRef;
    use pail_s3::{MemStore, Op, list_all_versions};
    use proptest::prelude::*;

    /// What `versions_of_keys` reports, key by key: (key, version ids newest first).
    async fn ranged(mem: &MemStore, keys: &[&str]) -> Vec<(String, Vec<String>)> {
        let mut out = Vec::new();
        versions_of_keys(mem, "p/", keys, |i, vs| {
            out.push((
                keys[i].to_owned(),
                vs.iter().map(|v| v.version_id.clone()).collect(),
            ))
        })
        .await
        .unwrap();
        out
    }

    /// The same from one listing of the whole prefix.
    async fn brute(mem: &MemStore, keys: &[&str]) -> Vec<(String, Vec<String>)> {
        let mut all = Vec::new();
        list_all_versions(mem, "p/", |v| all.push(v)).await.unwrap();
        keys.iter()
            .map(|k| {
                let ids = all.iter().filter(|v| v.key == *k);
                (k.to_string(), ids.map(|v| v.version_id.clone()).collect())
            })
            .collect()
    }

    #[tokio::test]
    async fn one_page_answers_for_a_folder_of_written_keys() {
        let mem = MemStore::ceph_like("bkt");
        for dir in ["a", "d", "z"] {
            for i in 0..40 {
                mem.put_foreign(&format!("p/{dir}/f{i:02}"), &b"x"[..]);
            }
        }
        let names: Vec<String> = (0..30).map(|i| format!("p/d/f{i:02}")).collect();
        let keys: Vec<&str> = names.iter().map(String::as_str).collect();
        mem.reset_counts();
        let got = ranged(&mem, &keys).await;
        assert_eq!(mem.count(Op::ListVersions), 1);
        assert_eq!(got, brute(&mem, &keys).await);
        assert!(got.iter().all(|(_, ids)| ids.len() == 1));
    }

    #[tokio::test]
    async fn a_key_with_more_versions_than_a_page_is_followed() {
        let mem = MemStore::ceph_like("bkt");
        mem.set_page_size(3);
        for i in 0..10 {
            mem.put_foreign("p/a", format!("{i}").into_bytes());
            mem.put_foreign("p/b", format!("{i}").into_bytes());
        }
        mem.put_foreign("p/c", &b"c"[..]);
        let keys = ["p/a", "p/c", "p/d"];
        let got = ranged(&mem, &keys).await;
        assert_eq!(got, brute(&mem, &keys).await);
        assert_eq!(got[0].1.len(), 10);
        assert!(got[2].1.is_empty());
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(64))]
        /// Against one listing of everything, for any keys, versions, page size and written keys.
        #[test]
        fn ranged_listing_matches_the_whole_listing(
            objects in prop::collection::vec(("[ab]{1,3}(/[ab]{1,2})?", 1usize..4), 0..25),
            wanted in prop::collection::btree_set("[ab]{1,3}(/[ab]{1,2})?", 1..8),
            page in 1usize..6,
        ) {
            let rt = tokio::runtime::Builder::new_current_thread().build().unwrap();
            rt.block_on(async {
                let mem = MemStore::ceph_like("bkt");
                mem.set_page_size(page);
                for (k, n) in &objects {
                    for i in 0..*n {
                        mem.put_foreign(&format!("p/{k}"), format!("{i}").into_bytes());
                    }
                }
                let names: Vec<String> = wanted.iter().map(|k| format!("p/{k}")).collect();
                let keys: Vec<&str> = names.iter().map(String::as_str).collect();
                prop_assert_eq!(ranged(&mem, &keys).await, brute(&mem, &keys).await);
                Ok(())
            })?;
        }
    }

    fn v(id: &str, etag: &str, marker: bool) -> ObjectVersion {
        ObjectVersion {
            key: "k".into(),
            version_id: id.into(),
            etag: Some(etag.into()),
            size: 1,
            last_modified_ns: 0,
            is_latest: false,
            is_delete_marker: marker,
        }
    }

    #[test]
    fn only_an_unexpected_version_below_ours_is_buried() {
        let base = RemoteExpect::Is(RemoteRef {
            etag: "e1".into(),
            version_id: Some("v1".into()),
            size: 1,
        });
        let clean = [v("v3", "e3", false), v("v1", "e1", false)];
        assert_eq!(buried_version(&clean, "v3", &base), None);
        let raced = [
            v("v3", "e3", false),
            v("v2", "e2", false),
            v("v1", "e1", false),
        ];
        assert_eq!(buried_version(&raced, "v3", &base).as_deref(), Some("v2"));
        let new_key = [
            v("v3", "e3", false),
            v("v2", "", true),
            v("v1", "e1", false),
        ];
        assert_eq!(buried_version(&new_key, "v3", &RemoteExpect::Absent), None);
        let new_key_raced = [v("v3", "e3", false), v("v2", "e2", false)];
        assert_eq!(
            buried_version(&new_key_raced, "v3", &RemoteExpect::Absent).as_deref(),
            Some("v2")
        );
    }

    /// A retried PUT whose first attempt was applied leaves two versions of our content: the
    /// lower one is ours, not a lost race (issue 16); another writer below it still counts.
    #[test]
    fn our_own_earlier_attempts_are_not_races() {
        let base = RemoteExpect::Is(RemoteRef {
            etag: "e1".into(),
            version_id: Some("v1".into()),
            size: 1,
        });
        let retried = [
            v("v4", "e3", false),
            v("v3", "e3", false),
            v("v2", "e3", false),
            v("v1", "e1", false),
        ];
        assert_eq!(buried_version(&retried, "v4", &base), None);
        let retried_new = [v("v3", "e3", false), v("v2", "e3", false)];
        assert_eq!(
            buried_version(&retried_new, "v3", &RemoteExpect::Absent),
            None
        );
        let retried_over_other = [
            v("v4", "e3", false),
            v("v3", "e3", false),
            v("v2", "e2", false),
            v("v1", "e1", false),
        ];
        assert_eq!(
            buried_version(&retried_over_other, "v4", &base).as_deref(),
            Some("v2")
        );
        // No ETag to compare (a server that lists none): nothing is skipped.
        let blank = [v("v3", "", false), v("v2", "", false)];
        assert_eq!(
            buried_version(&blank, "v3", &RemoteExpect::Absent).as_deref(),
            Some("v2")
        );
    }
}
