//! Objects in an archival storage class (Glacier, Deep Archive): sync skips and reports them
//! instead of failing, and `pail restore --from-archive` asks the bucket to bring them back.
//! Only moto models archival classes (GET refused until a RestoreObject, which it completes
//! at once); Ceph RGW and Garage have none, so there is nothing to test there.

use crate::harness::*;
use crate::on_servers;

fn skipped_of(d: &Device) -> Vec<(String, String)> {
    d.status_json()["pairs"][0]["skipped"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["path"].as_str().unwrap().to_owned(),
                s["reason"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}

fn archived_object_is_skipped_then_restored_from_the_archive(s: Server) {
    let r = Remote::new(&s, "archive");
    let a = Device::new(&r, "alpha");
    a.write("warm.txt", b"warm");
    a.sync();
    // In real life a lifecycle rule moved it there.
    r.put_archived("cold/old photo.jpg", b"taken in 2009");

    let b = Device::new(&r, "beta");
    b.sync(); // exit 0: an archived object waits for the user, it is not a failure
    assert_eq!(b.read("warm.txt").unwrap(), b"warm");
    assert!(b.read("cold/old photo.jpg").is_none());
    let skipped = skipped_of(&b);
    let (_, reason) = skipped
        .iter()
        .find(|(p, _)| p == "cold/old photo.jpg")
        .unwrap_or_else(|| panic!("the archived object is not reported: {skipped:?}"));
    assert!(
        reason.contains("pail restore --from-archive"),
        "the reason names the fix: {reason}"
    );

    let path = b.path("cold/old photo.jpg");
    let out = b.pail(&["restore", path.to_str().unwrap(), "--from-archive"]);
    assert_ok(&out, "restore --from-archive");
    let said = text(&out);
    assert!(said.contains("cold/old photo.jpg"), "{said}");
    assert!(
        said.contains("readable") || said.contains("requested") || said.contains("in progress"),
        "the answer says where the restore stands: {said}"
    );

    // moto finishes restores at once, so the sync that follows the request brings the file
    // and clears the report.
    assert_eq!(b.read("cold/old photo.jpg").unwrap(), b"taken in 2009");
    b.sync();
    assert!(
        !skipped_of(&b)
            .iter()
            .any(|(p, _)| p == "cold/old photo.jpg"),
        "still reported as skipped after the download"
    );
    // Asking again for an object that is readable now says so, and changes nothing.
    let out = b.pail(&["restore", path.to_str().unwrap(), "--from-archive"]);
    assert_ok(&out, "restore --from-archive again");
    assert_eq!(r.files()["cold/old photo.jpg"], b"taken in 2009");
}
on_servers!(archived_object_is_skipped_then_restored_from_the_archive: moto);
