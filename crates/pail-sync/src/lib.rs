//! pail's sync engine: configuration, one full reconcile of a folder pair (scan, list, plan,
//! execute, repeat until converged), and the status read from the index.
//!
//! The planner (pail-core) decides; this crate does the I/O the decisions call for and records
//! each outcome in the index (pail-index), through the store trait (pail-s3).

pub mod config;
pub mod conflicts;
pub mod ctx;
pub mod doctor;
pub mod engine;
pub mod exec;
pub mod history;
pub mod init;
pub mod journal;
pub mod localfs;
pub mod outcome;
pub mod progress;
pub mod restore;
pub mod setup;
pub mod status;
pub mod versions;
pub mod when;

mod delete;
mod download;
mod keep_local;
mod listing;
mod names;
mod race;
mod trash;
mod upload;
mod write;

pub use config::{Config, PairConfig};
pub use ctx::PairCtx;
pub use engine::{RemoteView, SyncOptions, SyncResult, Totals, sync_pair};
