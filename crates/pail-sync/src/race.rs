//! After-the-fact race detection for versioned buckets whose server ignores conditional
//! writes (tenet 5): after a write, the version just below ours must be the one the plan
//! expected. If another device's version sits there instead, its content was buried under
//! ours; pail brings it back as a conflict copy, which the next pass uploads.
//!
//! The checks run after each upload phase, in one go: a few keys are checked one listing
//! each, many keys with one paged listing of the whole prefix, so that an initial upload of
//! 10,000 files costs tens of LIST requests, not 10,000.

use std::collections::HashMap;
use std::sync::Arc;

use pail_core::plan::{LocalExpect, RemoteExpect};
use pail_s3::{ObjectVersion, StoreError, list_all_versions};

use crate::ctx::PairCtx;
use crate::download::version_to_conflict_copy;
use crate::outcome::{ActionError, PathError, Written};

/// Up to this many written keys are checked with a listing of their own.
const PER_KEY_LIMIT: usize = 32;

/// All versions of exactly `key`, newest first.
async fn versions_of(ctx: &PairCtx, key: &str) -> Result<Vec<ObjectVersion>, StoreError> {
    let mut out = Vec::new();
    let (mut km, mut vm) = (None, None);
    loop {
        let page = ctx
            .remote
            .store
            .list_versions_page(key, km.take(), vm.take())
            .await?;
        let past = page.versions.iter().any(|v| v.key.as_str() > key);
        out.extend(page.versions.into_iter().filter(|v| v.key == key));
        if past || (page.next_key_marker.is_none() && page.next_version_id_marker.is_none()) {
            break;
        }
        km = page.next_key_marker;
        vm = page.next_version_id_marker;
    }
    Ok(out)
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
pub(crate) async fn check_writes(ctx: &Arc<PairCtx>, written: Vec<Written>) -> RaceReport {
    let mut errors = Vec::new();
    if written.is_empty() {
        return RaceReport::default();
    }
    // (index into `written`, buried version id)
    let mut buried: Vec<(usize, String)> = Vec::new();
    if written.len() <= PER_KEY_LIMIT {
        for (i, w) in written.iter().enumerate() {
            match versions_of(ctx, &w.key).await {
                Ok(list) => {
                    if let Some(b) = buried_version(&list, &w.version, &w.expect) {
                        buried.push((i, b));
                    }
                }
                Err(e) => errors.push(PathError {
                    path: w.path.to_string(),
                    error: ActionError::RaceCheck(e),
                }),
            }
        }
    } else {
        // The listing comes in key order, each key's versions newest first: each written
        // key's versions are checked as soon as its run ends, so memory holds one run, not
        // the prefix's versions.
        let wanted: HashMap<&str, usize> = written
            .iter()
            .enumerate()
            .map(|(i, w)| (w.key.as_str(), i))
            .collect();
        let mut run: Vec<ObjectVersion> = Vec::new();
        let check_run = |run: &mut Vec<ObjectVersion>, buried: &mut Vec<(usize, String)>| {
            if let Some(&i) = run.first().and_then(|v| wanted.get(v.key.as_str())) {
                let w = &written[i];
                if let Some(b) = buried_version(run, &w.version, &w.expect) {
                    buried.push((i, b));
                }
            }
            run.clear();
        };
        let listed = list_all_versions(
            ctx.remote.store.as_ref(),
            &ctx.remote.prefix.list_prefix(),
            |v| {
                if run.first().is_some_and(|r| r.key != v.key) {
                    check_run(&mut run, &mut buried);
                }
                if wanted.contains_key(v.key.as_str()) {
                    run.push(v);
                }
            },
        )
        .await;
        check_run(&mut run, &mut buried);
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
    }
    let races = buried.len() as u64;
    for (i, version) in buried {
        let w = &written[i];
        tracing::warn!(path = %w.path, %version, "lost a write race: keeping the other version as a conflict copy");
        let res =
            version_to_conflict_copy(ctx, &w.path, &w.key, &version, &LocalExpect::Absent).await;
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
