//! What the store returns and takes: listings, versions, heads, write results, conditions,
//! pail's object metadata and the capabilities found by the probe.

use std::collections::HashMap;

use pail_core::ContentHash;
use percent_encoding::{AsciiSet, CONTROLS, percent_decode_str, utf8_percent_encode};
use serde::{Deserialize, Serialize};

/// User-metadata key (sent as `x-amz-meta-pail-blake3`): the content hash, 64 lowercase hex.
pub const META_BLAKE3: &str = "pail-blake3";
/// User-metadata key: the file's mtime when uploaded, Unix nanoseconds as a decimal string.
pub const META_MTIME: &str = "pail-mtime";
/// User-metadata key: on an encrypted pair, the binding tag of the object's content to its
/// path (`pail_crypt::content::META_BINDING`, 64 lowercase hex).
pub const META_BINDING: &str = "pail-bind";
/// User-metadata key: the device that uploaded, percent-encoded to printable ASCII.
pub const META_DEVICE: &str = "pail-device";
/// AWS's limit on all user metadata of one object: UTF-8 bytes of keys plus values.
pub const MAX_METADATA_BYTES: usize = 2048;
/// The encoded device name is cut to this many bytes, which keeps the whole metadata far below
/// [`MAX_METADATA_BYTES`] whatever the device is called.
pub const MAX_DEVICE_BYTES: usize = 256;

/// Characters escaped in `pail-device`: controls (and, through `utf8_percent_encode`, every
/// non-ASCII byte), plus `%` itself so that decoding is exact.
const DEVICE_ESCAPES: &AsciiSet = &CONTROLS.add(b'%');

/// pail's own metadata on an object. Every field is optional: objects written by other clients
/// have none, and a value that does not parse is read as absent.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct ObjectMeta {
    /// The content hash (`pail-blake3`), pail's content identity.
    pub blake3: Option<ContentHash>,
    /// The file's modification time when uploaded (`pail-mtime`), restored on download.
    pub mtime_ns: Option<i64>,
    /// The device that uploaded (`pail-device`), shown by history and checked by keep-local.
    pub device: Option<String>,
    /// On an encrypted pair, the binding tag (`pail-bind`) of (path, keyed hash): an object
    /// copied to another key, metadata and all, no longer matches its path.
    pub binding: Option<String>,
}

impl ObjectMeta {
    /// The user-metadata map to send, keys without the `x-amz-meta-` prefix. Values are ASCII;
    /// the device name is percent-encoded and cut to [`MAX_DEVICE_BYTES`], so the total always
    /// fits AWS's 2 KB limit (which moto and others do not enforce).
    pub fn encode(&self) -> HashMap<String, String> {
        let mut m = HashMap::new();
        if let Some(h) = &self.blake3 {
            m.insert(META_BLAKE3.to_owned(), h.to_hex());
        }
        if let Some(t) = self.mtime_ns {
            m.insert(META_MTIME.to_owned(), t.to_string());
        }
        if let Some(d) = &self.device {
            m.insert(META_DEVICE.to_owned(), encode_device(d));
        }
        if let Some(b) = &self.binding {
            m.insert(META_BINDING.to_owned(), b.clone());
        }
        debug_assert!(metadata_bytes(&m) <= MAX_METADATA_BYTES);
        m
    }

    /// Reads pail's keys from a user-metadata map as servers return it (keys lowercase, no
    /// prefix). Other keys are ignored; malformed values become `None`.
    pub fn decode(m: &HashMap<String, String>) -> ObjectMeta {
        let get = |k: &str| {
            m.get(k)
                .or_else(|| {
                    m.iter()
                        .find(|(mk, _)| mk.eq_ignore_ascii_case(k))
                        .map(|(_, v)| v)
                })
                .map(|v| v.trim())
        };
        ObjectMeta {
            blake3: get(META_BLAKE3).and_then(|v| v.parse().ok()),
            mtime_ns: get(META_MTIME).and_then(|v| v.parse().ok()),
            device: get(META_DEVICE)
                .map(|v| percent_decode_str(v).decode_utf8_lossy().into_owned()),
            // Only the shape is checked here; whether it binds is the reader's check.
            binding: get(META_BINDING)
                .filter(|v| v.len() == 64 && v.bytes().all(|b| b.is_ascii_hexdigit()))
                .map(str::to_ascii_lowercase),
        }
    }
}

/// Total size of a user-metadata map as AWS counts it.
pub fn metadata_bytes(m: &HashMap<String, String>) -> usize {
    m.iter().map(|(k, v)| k.len() + v.len()).sum()
}

/// Percent-encodes `d` character by character and stops before the character that would go
/// over [`MAX_DEVICE_BYTES`], so the result always decodes to a prefix of `d`.
fn encode_device(d: &str) -> String {
    let mut out = String::new();
    let mut buf = [0u8; 4];
    for c in d.chars() {
        let enc: String = utf8_percent_encode(c.encode_utf8(&mut buf), DEVICE_ESCAPES).collect();
        if out.len() + enc.len() > MAX_DEVICE_BYTES {
            break;
        }
        out.push_str(&enc);
    }
    out
}

/// One entry of a ListObjectsV2 page. Listings carry no user metadata.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ListedObject {
    /// The full key, prefix included.
    pub key: String,
    /// Quoted, exactly as the server returned it.
    pub etag: String,
    /// Size in bytes.
    pub size: u64,
    /// Last-modified time, nanoseconds since the Unix epoch.
    pub last_modified_ns: i64,
    /// The storage class, `None` when the server left it out (STANDARD).
    pub storage_class: Option<String>,
}

#[derive(Clone, Debug, Default, PartialEq, Eq)]
/// One page of a ListObjectsV2 listing.
pub struct ListPage {
    /// The objects of this page, in key order.
    pub objects: Vec<ListedObject>,
    /// Pass back as `continuation` for the next page; `None` on the last page.
    pub next_token: Option<String>,
    /// Keys of this page that are not UTF-8 once decoded (no file can have such a name), in
    /// printable form (`\xff` for each invalid byte). Reported, never synced.
    pub unreadable: Vec<String>,
}

/// One version or delete marker from ListObjectVersions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ObjectVersion {
    /// The full key, prefix included.
    pub key: String,
    /// `"null"` for objects written while versioning was off or suspended.
    pub version_id: String,
    /// `None` for delete markers.
    pub etag: Option<String>,
    /// Size in bytes (0 for delete markers).
    pub size: u64,
    /// Last-modified time, nanoseconds since the Unix epoch.
    pub last_modified_ns: i64,
    /// Whether this is the key's current version (or delete marker).
    pub is_latest: bool,
    /// Whether this entry is a delete marker rather than an object version.
    pub is_delete_marker: bool,
}

/// A page of versions and delete markers merged: key order, newest first per key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionsPage {
    /// The entries of this page.
    pub versions: Vec<ObjectVersion>,
    /// Both `None` on the last page.
    pub next_key_marker: Option<String>,
    /// Pass back with `next_key_marker` for the next page.
    pub next_version_id_marker: Option<String>,
}

/// What HEAD (or the headers of a GET) says about one object version.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Head {
    /// Quoted, as returned. Empty only for a delete marker.
    pub etag: String,
    /// The version id, `None` on unversioned buckets.
    pub version_id: Option<String>,
    /// The whole object's size, also for ranged GETs.
    pub size: u64,
    /// Last-modified time, nanoseconds since the Unix epoch.
    pub last_modified_ns: i64,
    /// pail's metadata on the object (empty for objects of other clients).
    pub meta: ObjectMeta,
    /// The storage class, `None` for STANDARD.
    pub storage_class: Option<String>,
    /// True only when HEAD asked for a specific version and that version is a delete marker.
    pub delete_marker: bool,
}

#[derive(Clone, Debug, PartialEq, Eq)]
/// What a completed write (PUT, multipart, copy) created.
pub struct PutResult {
    /// Quoted, as returned (after a HEAD when the server returned none, as Ceph does for
    /// CompleteMultipartUpload).
    pub etag: String,
    /// `None` on unversioned buckets.
    pub version_id: Option<String>,
}

/// A precondition on the current version of the destination key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub enum Condition {
    #[default]
    /// No condition: the write always goes ahead.
    None,
    /// `If-None-Match: *`: only if no current version exists (a delete marker counts as absent).
    IfAbsent,
    /// `If-Match: <etag>`: only if the current version has this ETag (quoted, as returned).
    IfMatch(String),
}

#[derive(Clone, Debug, PartialEq, Eq)]
/// What a DeleteObject did.
pub struct DeleteResult {
    /// The id of the delete marker created, or of the version removed.
    pub version_id: Option<String>,
    /// True when the delete created (or removed) a delete marker.
    pub delete_marker: bool,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
/// A bucket's versioning state.
pub enum Versioning {
    /// Every write keeps the previous version.
    Enabled,
    /// Versioning was on and is paused: new writes replace the `"null"` version.
    Suspended,
    /// Never enabled.
    Off,
    /// The server has no versioning API (Garage, R2).
    Unsupported,
}

impl Versioning {
    /// Whether old versions are kept, so that overwrites and deletes can be undone.
    pub fn keeps_versions(self) -> bool {
        self == Versioning::Enabled
    }
}

/// What the probe found out about a bucket. Stored as JSON by the engine.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Capabilities {
    /// The bucket's versioning state.
    pub versioning: Versioning,
    /// All of If-None-Match:* and If-Match on PUT behave as on AWS.
    pub conditional_writes: bool,
    /// `"when_required"` (custom endpoints) or `"when_supported"` (AWS).
    pub checksums: String,
    /// RFC 3339, UTC.
    pub probed_at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn metadata_round_trips() {
        let m = ObjectMeta {
            blake3: Some(ContentHash([7; 32])),
            mtime_ns: Some(-1_234_567_890_123),
            device: Some("Jürgen's Mäc 100% \u{1F600}\n".into()),
            binding: Some("0f".repeat(32)),
        };
        let enc = m.encode();
        assert!(
            enc.values()
                .all(|v| v.bytes().all(|b| (0x20..0x7f).contains(&b)))
        );
        assert_eq!(ObjectMeta::decode(&enc), m);
    }

    #[test]
    fn metadata_stays_under_2kb_and_cuts_on_escape_boundaries() {
        for filler in ["ü", "a", "%", "aü"] {
            let m = ObjectMeta {
                blake3: Some(ContentHash([1; 32])),
                mtime_ns: Some(i64::MIN),
                device: Some(filler.repeat(5000)),
                binding: Some("ab".repeat(32)),
            };
            let enc = m.encode();
            assert!(metadata_bytes(&enc) <= MAX_METADATA_BYTES);
            let dev = &enc[META_DEVICE];
            assert!(dev.len() <= MAX_DEVICE_BYTES && dev.len() > MAX_DEVICE_BYTES - 12);
            // Still decodes to a prefix of the original.
            let back = ObjectMeta::decode(&enc).device.unwrap();
            assert!(filler.repeat(5000).starts_with(&back), "{filler}: {back}");
        }
    }

    #[test]
    fn foreign_or_malformed_metadata_reads_as_absent() {
        let mut m = HashMap::new();
        assert_eq!(ObjectMeta::decode(&m), ObjectMeta::default());
        m.insert("pail-blake3".into(), "nothex".into());
        m.insert("Pail-Mtime".into(), "12x".into());
        m.insert("mtime".into(), "5".into());
        m.insert("pail-bind".into(), "not a tag".into());
        assert_eq!(ObjectMeta::decode(&m), ObjectMeta::default());
        m.insert("PAIL-BLAKE3".into(), "ab".repeat(32));
        m.remove("pail-blake3");
        assert_eq!(ObjectMeta::decode(&m).blake3, Some(ContentHash([0xab; 32])));
    }

    #[test]
    fn capabilities_serialize_as_snake_case_json() {
        let c = Capabilities {
            versioning: Versioning::Unsupported,
            conditional_writes: false,
            checksums: "when_required".into(),
            probed_at: "2026-01-01T00:00:00Z".into(),
        };
        let j = serde_json::to_string(&c).unwrap();
        assert!(j.contains("\"versioning\":\"unsupported\""), "{j}");
        assert_eq!(serde_json::from_str::<Capabilities>(&j).unwrap(), c);
    }
}

/// A presigned GET (see [`crate::ObjectStore::presign_get`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Presigned {
    /// The URL; it carries a signature, so it is as secret as what it opens.
    pub url: String,
    /// When the credentials that signed it expire, for temporary ones (a role, SSO): the URL
    /// stops working then, whatever its own expiry.
    pub credentials_expire: Option<std::time::SystemTime>,
}
