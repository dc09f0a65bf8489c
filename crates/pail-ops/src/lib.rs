//! pail's commands beside the sync itself: pairing a folder (`init`), bucket setup and
//! `doctor`, and everything that reads or brings back old versions (`history`, `restore`,
//! `undelete`, `conflicts`), and the key of an encrypted pair (`key`).
//!
//! These build on the engine (`pail-sync`): they reach a pair through its one remote handle,
//! [`pail_sync::PairRemote`], and leave the folder to a sync. Printing and exit codes stay in
//! the binary.

pub mod conflicts;
pub mod doctor;
pub mod history;
pub mod init;
pub mod key;
pub mod pairs;
pub mod restore;
pub mod setup;
pub mod share;
pub mod target;
pub mod versions;
pub mod when;
