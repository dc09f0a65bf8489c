//! pail's sync engine: configuration, a pair's one remote handle ([`PairRemote`]) and its run
//! time context ([`PairCtx`]), one full reconcile of a folder pair (scan, list, plan, execute,
//! repeat until converged), the change journal, and the status read from the index.
//!
//! The planner (pail-core) decides; this crate does the I/O the decisions call for and records
//! each outcome in the index (pail-index), through the store trait (pail-s3).

pub mod config;
pub mod crypt;
pub mod ctx;
pub mod engine;
pub mod error;
pub mod exec;
pub mod journal;
pub mod limit;
pub mod localfs;
pub mod outcome;
pub mod pause;
pub mod progress;
pub mod remote;
pub mod report;

pub mod safe_dir;
pub mod sealed;

pub mod space;
pub mod status;
pub mod stop;

mod boundary;
mod buffers;
mod delete;
mod displace;
mod download;
mod inflight;
mod keep_local;
mod listing;
mod names;
mod new_keys;
mod race;
mod task;
pub mod trash;
mod upload;
mod write;

pub use config::{Config, PairConfig};
pub use ctx::PairCtx;
pub use engine::{RemoteView, SyncOptions, SyncResult, Totals, sync_pair};
pub use error::SyncError;
pub use remote::PairRemote;
pub use report::SyncReport;
pub use stop::StopReason;
