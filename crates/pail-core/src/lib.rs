//! pail's domain: validated names, content identity, per-path sync state and the pure planner.
//!
//! Nothing in this crate does I/O or reads the clock: time, device names and file state are
//! passed in, which is what makes the planner testable exhaustively (table tests and a
//! proptest reference model live next to it).
#![forbid(unsafe_code)]
#![deny(missing_docs)]

pub mod collisions;
pub mod conflict;
pub mod hash;
pub mod layout;
pub mod names;
pub mod plan;
pub mod printable;
pub mod state;
pub mod units;

pub use conflict::{conflict_name, conflict_name_taken, conflict_name_unique};
pub use hash::ContentHash;
pub use names::{NameCodec, NameError, RelPath, RemotePrefix};
pub use printable::{printable, printable_bytes};
pub use state::{Base, LocalFile, LocalStat, RemoteObject, RemoteRef};
pub use units::human_bytes;
