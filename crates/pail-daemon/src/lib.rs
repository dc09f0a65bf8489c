//! `pail run`: keeps every folder pair of a config in sync continuously, until SIGTERM.
//!
//! Workers per pair turn hints into passes of pail-sync's engine: watcher events (local
//! changes), entries in the bucket's change journal (other devices), and timers (hourly
//! rescans, full reconciles for changes by other S3 clients at an interval that follows the
//! prefix's size; see `pace.rs`). A control
//! socket serves live status, pause and resume. See ARCHITECTURE.md.

mod asks;
pub mod control;
mod daemon;
mod events;
mod hints;
mod notify;
mod pace;
mod schedule;
pub mod service;
mod wake;

pub use daemon::{Daemon, DaemonOptions, run, run_pairs};
