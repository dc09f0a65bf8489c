//! What pail knows about one path: the last synced base, the local file, the remote object.

use crate::hash::ContentHash;
use crate::names::RelPath;

/// Cheap facts from `lstat`, compared against the index to decide whether a file must be
/// re-read. Any difference means "maybe changed": the file is hashed again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LocalStat {
    /// File size in bytes.
    pub size: u64,
    /// Modification time, nanoseconds since the Unix epoch.
    pub mtime_ns: i64,
    /// Status-change time, nanoseconds since the Unix epoch (0 where the platform has none).
    pub ctime_ns: i64,
    /// Inode number, so that a file replaced by another of the same size and times reads as changed.
    pub inode: u64,
}

/// A regular file as found by the local scan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocalFile {
    /// What `lstat` said when the file was scanned (and hashed).
    pub stat: LocalStat,
    /// The content hash. The scanner fills it from the base when the stat is unchanged, and
    /// hashes the file otherwise, so the planner always has it.
    pub hash: ContentHash,
}

/// The identity of one remote object version, as far as pail tracks it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteRef {
    /// Opaque change token, quotes included, exactly as the server returned it.
    pub etag: String,
    /// `None` when the server did not report one (unversioned bucket, or a listing that has
    /// no version ids). The literal `"null"` of suspended buckets is kept as `Some("null")`.
    pub version_id: Option<String>,
    /// Object size in bytes.
    pub size: u64,
}

/// A current remote object as found by listing the prefix.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RemoteObject {
    /// Which version of the key is current.
    pub object: RemoteRef,
    /// From the `pail-blake3` metadata (read by HEAD or cached in the index), or from the base
    /// when the ETag is the one the base recorded. `None`: unknown (written by another client,
    /// or not looked up because the planner did not need it).
    pub hash: Option<ContentHash>,
    /// Last-modified time reported by the server, nanoseconds since the Unix epoch.
    pub last_modified_ns: i64,
}

/// The state both sides agreed on after the last successful sync of this path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Base {
    /// The content both sides held.
    pub hash: ContentHash,
    /// The local file's stat when synced, to tell later whether it changed.
    pub local: LocalStat,
    /// The remote version synced, to tell later whether it changed.
    pub remote: RemoteRef,
}

/// Everything the planner sees for one path.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PathState {
    /// The path, relative to the synced folder.
    pub path: RelPath,
    /// The last synced state, `None` if the path was never synced (or was forgotten).
    pub base: Option<Base>,
    /// The local file, `None` if there is none (or it is ignored).
    pub local: Option<LocalFile>,
    /// The current remote object, `None` if the key does not exist.
    pub remote: Option<RemoteObject>,
}
