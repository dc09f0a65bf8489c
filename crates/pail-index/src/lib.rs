//! pail's local state: content hashing, the SQLite index that remembers what was synced, the
//! ignore rules, and the local scan that feeds both into per-path states for the planner.
//!
//! Everything here is blocking I/O. An [`Index`] wraps one SQLite connection, which is `Send`
//! but not `Sync`: the engine owns it on one thread (or behind `spawn_blocking`).

pub mod error;
pub mod hash;
pub mod ignore_rules;
pub mod index;
pub mod scan;
pub mod stat;

pub use error::{IndexError, ScanError};
pub use hash::{Hasher, Hashing, hash_bytes};
pub use ignore_rules::{IgnoreRules, IgnoreWarning};
pub use index::{
    Activity, CaseTwin, ConflictRecord, ErrorRecord, Healed, Index, MAX_ACTIVITY, MultipartUpload,
    PassSummary, SyncState, damaged_marker, mark_damaged, scope_ranges,
};
pub use scan::{
    LOCAL_SCAN_CURRENT, ScanOptions, ScanReport, ScopedScan, scan_local, scan_local_paths,
};
pub use stat::{RootIdentity, folder_ignores_case, root_identity, stat_path};
