//! The torture suite (issue 10): pail against crashes, bad networks, many devices and a
//! hostile bucket, on the real servers. Every test is seeded and prints its seed
//! (`PAIL_TORTURE_SEED=<seed>` replays the ops); CI runs a short form, `PAIL_TORTURE_LONG=1`
//! (`scripts/test --long`) the full sizes.
//!
//! - `faults`: two devices through a fault-injecting proxy at 10% and 30% of requests;
//! - `kill`: `pail sync` and `pail run` killed (SIGKILL) at random moments, edits between;
//! - `three`: three devices, random ops of every kind, synced in random order;
//! - `hostile`: keys no folder can hold, written by another client, beside a sentinel that
//!   must stay untouched.
//!
//! `faults`, `kill` and `three` also run on end-to-end encrypted prefixes (`*_encrypted`,
//! issue 15): the same checks on the files' plaintext (`bucket`), plus a bucket that holds
//! age ciphertext only, each object bound to its path.
//!
//! Each ends with the same checks (`model`): converged, nothing lost (every content pail saw
//! is in a folder, a current object, an older version, a conflict copy or the trash), no
//! temp or torn files, and a next pass that transfers nothing.

pub(crate) mod bucket;
mod faults;
mod hostile;
mod kill;
pub(crate) mod model;
mod rng;
mod three;
