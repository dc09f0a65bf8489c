//! The capability probe: what this bucket on this server really does, found by trying it.

use bytes::Bytes;
use pail_core::RemotePrefix;
use time::format_description::well_known::Rfc3339;
use tracing::{debug, info, warn};

use crate::error::{Result, StoreError};
use crate::store::{ObjectStore, list_all_versions};
use crate::types::{Capabilities, Condition, ObjectMeta, Versioning};

/// Finds the bucket's versioning status (`Unsupported` when ListObjectVersions is not
/// implemented, whatever GetBucketVersioning says) and whether conditional writes work as on AWS, with
/// four PUTs to a scratch key under `PREFIX/.pail/probe/`, which it removes afterwards
/// (every version of it, where the bucket keeps versions).
///
/// Conditional writes count as supported only if all four behave as on AWS: If-None-Match:*
/// creates, If-None-Match:* on an existing key fails, If-Match with a wrong ETag fails, and
/// If-Match with the current ETag (quoted, as returned) succeeds. Ceph RGW 16 fails the last
/// one and Garage ignores the headers.
pub async fn probe(
    store: &dyn ObjectStore,
    prefix: &RemotePrefix,
    device: &str,
) -> Result<Capabilities> {
    let mut versioning = store.get_versioning().await?;
    if versioning == Versioning::Off {
        // Garage's GetBucketVersioning is a stub that says "never enabled"; its
        // ListObjectVersions is what tells.
        match store
            .list_versions_page(&pail_core::layout::probe_dir(prefix), None, None)
            .await
        {
            Err(StoreError::NotImplemented { .. }) => versioning = Versioning::Unsupported,
            Err(e) => return Err(e),
            Ok(_) => {}
        }
    }
    let key = format!(
        "{}{}-{:016x}",
        pail_core::layout::probe_dir(prefix),
        pail_core::layout::device_tag(device),
        rand::random::<u64>()
    );
    let meta = ObjectMeta {
        device: Some(device.to_owned()),
        ..ObjectMeta::default()
    };

    let result = conditional_writes(store, &key, &meta).await;
    cleanup(store, &key, versioning).await;
    let (conditional_writes, steps) = result?;
    let caps = Capabilities {
        versioning,
        conditional_writes,
        checksums: store.checksums().to_owned(),
        probed_at: time::OffsetDateTime::now_utc()
            .format(&Rfc3339)
            .unwrap_or_default(),
    };
    info!(
        bucket = store.bucket(),
        ?versioning,
        conditional_writes,
        steps,
        "probed bucket"
    );
    Ok(caps)
}

/// How one probe step came out.
#[derive(Debug, PartialEq, Eq)]
enum Step {
    Ok,
    Rejected,
    /// The server does not understand the condition (501, 400): the same as not supported.
    Unsupported,
}

async fn step(
    store: &dyn ObjectStore,
    key: &str,
    body: &'static [u8],
    meta: &ObjectMeta,
    cond: Condition,
) -> Result<Step> {
    match store.put(key, Bytes::from_static(body), meta, cond).await {
        Ok(_) => Ok(Step::Ok),
        Err(StoreError::PreconditionFailed { .. }) => Ok(Step::Rejected),
        Err(StoreError::NotImplemented { .. } | StoreError::Other { .. }) => Ok(Step::Unsupported),
        Err(e) => Err(e),
    }
}

/// Returns whether all four steps matched AWS, and the outcomes as text for the log.
async fn conditional_writes(
    store: &dyn ObjectStore,
    key: &str,
    meta: &ObjectMeta,
) -> Result<(bool, String)> {
    let create = step(store, key, b"1", meta, Condition::IfAbsent).await?;
    if create != Step::Ok {
        // Make sure something exists to test the rest against.
        store
            .put(key, Bytes::from_static(b"1"), meta, Condition::None)
            .await?;
    }
    let again = step(store, key, b"2", meta, Condition::IfAbsent).await?;
    let wrong = step(
        store,
        key,
        b"3",
        meta,
        Condition::IfMatch("\"pail-probe-wrong-etag\"".into()),
    )
    .await?;
    // The current ETag, whatever the steps above did.
    let etag = match store.head(key, None).await? {
        Some(h) => h.etag,
        None => {
            return Err(StoreError::other(
                "probe",
                key,
                "probe object vanished after PUT",
            ));
        }
    };
    let right = step(store, key, b"4", meta, Condition::IfMatch(etag)).await?;
    let ok = create == Step::Ok
        && again == Step::Rejected
        && wrong == Step::Rejected
        && right == Step::Ok;
    Ok((
        ok,
        format!(
            "if_absent={create:?} if_absent_again={again:?} if_match_wrong={wrong:?} if_match_current={right:?}"
        ),
    ))
}

/// Removes the probe key. Where versions are kept, deletes each version by id so that no
/// delete marker or old version is left; falls back to a plain delete when that is refused.
async fn cleanup(store: &dyn ObjectStore, key: &str, versioning: Versioning) {
    if matches!(versioning, Versioning::Enabled | Versioning::Suspended) {
        let mut ids = Vec::new();
        match list_all_versions(store, key, |v| {
            if v.key == key {
                ids.push(v.version_id)
            }
        })
        .await
        {
            Ok(()) => {
                let mut all_gone = true;
                for id in &ids {
                    if let Err(e) = store.delete(key, Some(id), Condition::None).await {
                        warn!(key, version_id = id, error = %e, "could not delete a probe object version");
                        all_gone = false;
                    }
                }
                if all_gone {
                    debug!(key, versions = ids.len(), "probe object removed");
                    return;
                }
            }
            Err(e) => warn!(key, error = %e, "could not list probe object versions"),
        }
    }
    if let Err(e) = store.delete(key, None, Condition::None).await {
        warn!(key, error = %e, "could not delete the probe object");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mem::{Conditionals, MemStore};
    use crate::store::Op;

    fn prefix() -> RemotePrefix {
        RemotePrefix::new("dev/").unwrap()
    }

    #[tokio::test]
    async fn aws_like_bucket() {
        let s = MemStore::new("b");
        let caps = probe(&s, &prefix(), "laptop ü").await.unwrap();
        assert_eq!(caps.versioning, Versioning::Enabled);
        assert!(caps.conditional_writes);
        assert_eq!(caps.checksums, "when_required");
        assert!(time::OffsetDateTime::parse(&caps.probed_at, &Rfc3339).is_ok());
        assert_eq!(s.version_count("dev/.pail/probe/x"), 0);
        let mut left = 0;
        list_all_versions(&s, "", |_| left += 1).await.unwrap();
        assert_eq!(left, 0, "every probe version is removed");
    }

    #[tokio::test]
    async fn garage_like_bucket() {
        let s = MemStore::garage_like("b");
        let caps = probe(&s, &prefix(), "laptop").await.unwrap();
        assert_eq!(caps.versioning, Versioning::Unsupported);
        assert!(!caps.conditional_writes);
        assert!(s.keys().is_empty());
        assert_eq!(s.count(Op::ListVersions), 0);
    }

    #[tokio::test]
    async fn ceph_like_and_unversioned_buckets() {
        let s = MemStore::ceph_like("b");
        let caps = probe(&s, &prefix(), "d").await.unwrap();
        assert_eq!(caps.versioning, Versioning::Enabled);
        assert!(!caps.conditional_writes);
        assert_eq!(s.count(Op::ListVersions), 1);
        let mut left = 0;
        list_all_versions(&s, "", |_| left += 1).await.unwrap();
        assert_eq!(left, 0);

        let s = MemStore::new("b");
        s.set_versioning(Versioning::Off);
        let caps = probe(&s, &RemotePrefix::new("").unwrap(), "d")
            .await
            .unwrap();
        assert_eq!(caps.versioning, Versioning::Off);
        assert!(caps.conditional_writes);
        assert!(s.keys().is_empty());

        // Conditions ignored on a versioned bucket: not AWS-like.
        let s = MemStore::new("b");
        s.set_conditionals(Conditionals::Ignored);
        assert!(!probe(&s, &prefix(), "d").await.unwrap().conditional_writes);
    }

    #[tokio::test]
    async fn stub_versioning_api_reads_as_unsupported() {
        use crate::faulty::FaultyStore;
        let s = FaultyStore::new(MemStore::new("b"));
        s.inner().set_versioning(Versioning::Off);
        s.inner().set_conditionals(Conditionals::Ignored);
        s.fail_next(Op::ListVersions, 1, || StoreError::NotImplemented {
            op: "list_versions",
        });
        let caps = probe(&s, &prefix(), "d").await.unwrap();
        assert_eq!(caps.versioning, Versioning::Unsupported);
        assert!(s.inner().keys().is_empty());
    }

    #[tokio::test]
    async fn probe_errors_surface_and_still_clean_up() {
        use crate::faulty::{FaultyStore, slow_down};
        let s = FaultyStore::new(MemStore::new("b"));
        s.fail_next(Op::Head, 1, slow_down);
        let e = probe(&s, &prefix(), "d").await.unwrap_err();
        assert!(e.is_transient());
        assert!(s.inner().keys().is_empty());
    }
}
