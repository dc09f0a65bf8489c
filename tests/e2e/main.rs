//! End-to-end tests: the real `pail` binary against real local S3 servers (Ceph RGW, moto,
//! Garage), started by `tests/servers/start.sh` (see `scripts/test`). Every test runs once
//! per server that supports what it checks; each uses its own prefix and devices.

mod harness;

mod archive;
mod basic;
mod boundary;

mod bucket_content;
mod cli_errors;
mod crash;
mod daemon;
mod disk_full;
mod encrypted;
mod encrypted_daemon;
mod encrypted_history;
mod encrypted_key;
mod encrypted_names;
mod events;
mod faultproxy;
mod file_folder;

mod heal;

mod install;
mod names;
mod safety;
mod semantics_doc;
mod setup;
mod torture;
mod two_devices;
mod versions;
