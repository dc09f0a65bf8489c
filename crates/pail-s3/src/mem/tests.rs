use bytes::Bytes;

use super::*;
use crate::error::{Result, StoreError};
use crate::store::{ArchiveRestore, ObjectStore};
use crate::store::{list_all, list_all_versions};
use crate::types::{Condition, ObjectMeta, PutResult, Versioning};
use pail_core::ContentHash;

fn meta(b: u8) -> ObjectMeta {
    ObjectMeta {
        blake3: Some(ContentHash([b; 32])),
        mtime_ns: Some(5),
        device: Some("d".into()),
        binding: None,
    }
}

async fn put(s: &MemStore, k: &str, body: &'static [u8], c: Condition) -> Result<PutResult> {
    s.put(k, Bytes::from_static(body), &meta(1), c).await
}

#[tokio::test]
async fn versions_and_delete_markers() {
    let s = MemStore::new("b");
    let v1 = put(&s, "k", b"one", Condition::None).await.unwrap();
    let v2 = put(&s, "k", b"two", Condition::None).await.unwrap();
    assert_ne!(v1.version_id, v2.version_id);
    assert_eq!(
        put(&s, "other", b"one", Condition::None)
            .await
            .unwrap()
            .etag,
        v1.etag
    );

    let h = s.head("k", None).await.unwrap().unwrap();
    assert_eq!(
        (h.etag.as_str(), h.size, h.meta.clone()),
        (v2.etag.as_str(), 3, meta(1))
    );
    let old = s.get("k", v1.version_id.as_deref(), None).await.unwrap();
    assert_eq!(old.collect().await.unwrap(), "one");

    let d = s.delete("k", None, Condition::None).await.unwrap();
    assert!(d.delete_marker);
    assert_eq!(s.head("k", None).await.unwrap(), None);
    assert!(matches!(
        s.get("k", None, None).await,
        Err(StoreError::NotFound { .. })
    ));
    let marker = d.version_id.clone().unwrap();
    assert!(matches!(
        s.get("k", Some(&marker), None).await,
        Err(StoreError::MethodNotAllowed { .. })
    ));
    assert!(
        s.head("k", Some(&marker))
            .await
            .unwrap()
            .unwrap()
            .delete_marker
    );

    let mut all = Vec::new();
    list_all_versions(&s, "k", |v| all.push(v)).await.unwrap();
    assert_eq!(all.len(), 3);
    assert!(all[0].is_delete_marker && all[0].is_latest && all[0].etag.is_none());
    assert_eq!(all[1].version_id, v2.version_id.clone().unwrap());
    assert!(!all[1].is_latest);

    // Undelete by removing the marker.
    let r = s.delete("k", Some(&marker), Condition::None).await.unwrap();
    assert!(r.delete_marker);
    assert_eq!(s.current("k").unwrap(), "two");
    // Permanently remove a version.
    s.delete("k", v1.version_id.as_deref(), Condition::None)
        .await
        .unwrap();
    assert_eq!(s.version_count("k"), 1);
    assert!(s.keys().contains(&"k".to_owned()));
}

#[tokio::test]
async fn conditions_as_aws() {
    let s = MemStore::new("b");
    let a = put(&s, "k", b"a", Condition::IfAbsent).await.unwrap();
    let e = put(&s, "k", b"b", Condition::IfAbsent).await.unwrap_err();
    assert!(matches!(e, StoreError::PreconditionFailed { .. }));
    let e = put(&s, "k", b"b", Condition::IfMatch("\"x\"".into()))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::PreconditionFailed { .. }));
    let b = put(&s, "k", b"b", Condition::IfMatch(a.etag.clone()))
        .await
        .unwrap();
    let e = put(&s, "missing", b"b", Condition::IfMatch(a.etag.clone()))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }));
    // A delete marker counts as absent.
    let e = s
        .delete("k", None, Condition::IfMatch(a.etag.clone()))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::PreconditionFailed { .. }));
    s.delete("k", None, Condition::IfMatch(b.etag.clone()))
        .await
        .unwrap();
    put(&s, "k", b"c", Condition::IfAbsent).await.unwrap();
    assert!(s.delete("k", None, Condition::IfAbsent).await.is_err());
    // Copy conditions apply to the destination.
    let e = s
        .copy("k", None, None, "k2", &meta(2), Condition::IfMatch(b.etag))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::NotFound { .. }));
    let c = s
        .copy("k", None, None, "k2", &meta(2), Condition::IfAbsent)
        .await
        .unwrap();
    assert_eq!(s.current("k2").unwrap(), "c");
    assert_eq!(s.current_meta("k2").unwrap(), meta(2));
    assert!(c.version_id.is_some());
    assert_eq!(s.uploads_in_progress(), 0);
}

#[tokio::test]
async fn garage_and_ceph_modes() {
    let g = MemStore::garage_like("b");
    put(&g, "k", b"a", Condition::IfAbsent).await.unwrap();
    let r = put(&g, "k", b"b", Condition::IfAbsent).await.unwrap();
    assert_eq!(r.version_id, None);
    assert_eq!(g.current("k").unwrap(), "b");
    assert!(matches!(
        g.list_versions_page("", None, None).await,
        Err(StoreError::NotImplemented { .. })
    ));
    assert_eq!(g.get_versioning().await.unwrap(), Versioning::Unsupported);
    let d = g.delete("k", None, Condition::None).await.unwrap();
    assert_eq!(
        d,
        DeleteResult {
            version_id: None,
            delete_marker: false
        }
    );
    assert_eq!(g.version_count("k"), 0);

    let c = MemStore::ceph_like("b");
    let a = put(&c, "k", b"a", Condition::IfAbsent).await.unwrap();
    put(&c, "k", b"b", Condition::IfAbsent).await.unwrap();
    let head = c.head("k", None).await.unwrap().unwrap();
    let e = put(&c, "k", b"c", Condition::IfMatch(head.etag))
        .await
        .unwrap_err();
    assert!(matches!(e, StoreError::PreconditionFailed { .. }));
    c.delete("k", None, Condition::IfMatch(a.etag))
        .await
        .unwrap();
    c.set_versioning(Versioning::Suspended);
    put(&c, "n", b"a", Condition::IfAbsent).await.unwrap();
    assert!(put(&c, "n", b"a", Condition::IfAbsent).await.is_err());
}

#[tokio::test]
async fn suspended_and_off_use_null_versions() {
    let s = MemStore::new("b");
    let v1 = put(&s, "k", b"1", Condition::None).await.unwrap();
    s.set_versioning(Versioning::Suspended);
    assert_eq!(
        put(&s, "k", b"2", Condition::None)
            .await
            .unwrap()
            .version_id
            .unwrap(),
        "null"
    );
    assert_eq!(
        put(&s, "k", b"3", Condition::None)
            .await
            .unwrap()
            .version_id
            .unwrap(),
        "null"
    );
    assert_eq!(s.version_count("k"), 2);
    let d = s.delete("k", None, Condition::None).await.unwrap();
    assert_eq!(d.version_id.as_deref(), Some("null"));
    assert_eq!(s.version_count("k"), 2);
    let got = s.get("k", v1.version_id.as_deref(), None).await.unwrap();
    assert_eq!(got.collect().await.unwrap(), "1");

    let o = MemStore::new("b");
    o.set_versioning(Versioning::Off);
    put(&o, "k", b"1", Condition::None).await.unwrap();
    put(&o, "k", b"2", Condition::None).await.unwrap();
    let p = o.list_versions_page("", None, None).await.unwrap();
    assert_eq!(p.versions.len(), 1);
    assert_eq!(p.versions[0].version_id, "null");
    assert_eq!(o.head("k", None).await.unwrap().unwrap().version_id, None);
}

#[tokio::test]
async fn paging_with_small_pages() {
    let s = MemStore::new("b");
    s.set_page_size(2);
    for k in ["p/a", "p/b", "p/c", "p/d", "p/e", "q/x"] {
        put(&s, k, b"1", Condition::None).await.unwrap();
        put(&s, k, b"2", Condition::None).await.unwrap();
    }
    s.delete("p/c", None, Condition::None).await.unwrap();
    s.reset_counts();
    let mut keys = Vec::new();
    list_all(&s, "p/", |o| keys.push(o.key)).await.unwrap();
    assert_eq!(keys, ["p/a", "p/b", "p/d", "p/e"]);
    assert_eq!(s.count(Op::List), 2);
    let p = s.list_page("p/", None, Some("p/b".into())).await.unwrap();
    assert_eq!(
        p.objects.iter().map(|o| o.key.as_str()).collect::<Vec<_>>(),
        ["p/d", "p/e"]
    );
    assert_eq!(p.next_token, None);

    let mut vs = Vec::new();
    list_all_versions(&s, "p/", |v| {
        vs.push((v.key, v.is_latest, v.is_delete_marker))
    })
    .await
    .unwrap();
    assert_eq!(vs.len(), 11);
    assert_eq!(s.count(Op::ListVersions), 6);
    let latest: Vec<_> = vs.iter().filter(|v| v.1).map(|v| v.0.as_str()).collect();
    assert_eq!(latest, ["p/a", "p/b", "p/c", "p/d", "p/e"]);
    assert_eq!(vs[4], ("p/c".into(), true, true));
    assert!(vs.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[tokio::test]
async fn multipart_and_ranges() {
    let s = MemStore::new("b");
    s.set_min_part_size(4);
    let id = s.create_multipart("big", &meta(3)).await.unwrap();
    let e1 = s
        .upload_part("big", &id, 1, Bytes::from_static(b"abcd"))
        .await
        .unwrap();
    let e2 = s
        .upload_part("big", &id, 2, Bytes::from_static(b"ef"))
        .await
        .unwrap();
    assert_eq!(
        s.list_parts("big", &id).await.unwrap(),
        vec![(1, e1.clone(), 4), (2, e2.clone(), 2)]
    );
    let swapped = [(2, e2.clone()), (1, e1.clone())];
    assert!(
        s.complete_multipart("big", &id, &swapped, Condition::None)
            .await
            .is_err()
    );
    let r = s
        .complete_multipart("big", &id, &[(1, e1), (2, e2)], Condition::IfAbsent)
        .await
        .unwrap();
    assert!(r.etag.ends_with("-2\""));
    assert_eq!(s.current_meta("big").unwrap(), meta(3));
    assert!(matches!(
        s.list_parts("big", &id).await,
        Err(StoreError::NotFound { .. })
    ));
    let g = s.get("big", None, Some(1..4)).await.unwrap();
    assert_eq!(g.head.size, 6);
    assert_eq!(g.collect().await.unwrap(), "bcd");
    assert!(s.get("big", None, Some(6..8)).await.is_err());

    let id = s.create_multipart("x", &meta(3)).await.unwrap();
    s.upload_part("x", &id, 1, Bytes::from_static(b"a"))
        .await
        .unwrap();
    assert_eq!(s.uploads_in_progress(), 1);
    s.abort_multipart("x", &id).await.unwrap();
    assert_eq!(s.uploads_in_progress(), 0);
    assert_eq!(s.counts()["upload_part"], 3);
}

#[tokio::test]
async fn foreign_writes_and_archives() {
    let s = MemStore::new("b");
    s.put_foreign("f", "hello");
    let h = s.head("f", None).await.unwrap().unwrap();
    assert_eq!(h.meta, ObjectMeta::default());
    assert!(!s.counts().contains_key("put"));
    s.archive("f");
    assert!(matches!(
        s.get("f", None, None).await,
        Err(StoreError::InvalidObjectState { .. })
    ));
    s.delete_foreign("f");
    assert_eq!(s.head("f", None).await.unwrap(), None);
}

#[tokio::test]
async fn archived_objects_come_back_after_a_restore_request() {
    let s = MemStore::new("b");
    put(&s, "cold", b"old", Condition::None).await.unwrap();
    s.archive("cold");
    assert!(matches!(
        s.get("cold", None, None).await.unwrap_err(),
        StoreError::InvalidObjectState { .. }
    ));
    let r = s.restore_archived("cold", None, 3).await.unwrap();
    assert_eq!(r, ArchiveRestore::Started);
    assert_eq!(
        &s.get("cold", None, None)
            .await
            .unwrap()
            .collect()
            .await
            .unwrap()[..],
        b"old"
    );
    let r = s.restore_archived("cold", None, 3).await.unwrap();
    assert_eq!(r, ArchiveRestore::NotArchived);
    assert!(matches!(
        s.restore_archived("nope", None, 3).await.unwrap_err(),
        StoreError::NotFound { .. }
    ));
}

#[tokio::test]
async fn bodies_are_read_up_to_a_cap() {
    let s = MemStore::new("b");
    put(&s, "small", b"0123456789", Condition::None)
        .await
        .unwrap();
    let got = s.get("small", None, None).await.unwrap();
    assert_eq!(
        got.collect_at_most(10).await.unwrap().as_deref(),
        Some(b"0123456789".as_slice())
    );
    let got = s.get("small", None, None).await.unwrap();
    assert_eq!(got.collect_at_most(9).await.unwrap(), None);
}
