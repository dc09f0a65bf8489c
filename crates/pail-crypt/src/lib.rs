//! End-to-end encryption for pail pairs (issue 15): what a provider holding the bucket may
//! see and what it may not, kept in one self-contained layer so that the sync engine only
//! calls in at a few points.
//!
//! - [`PrefixKey`]: a prefix's age X25519 identity, the subkeys derived from it (keyed content
//!   hash, name key, binding key) and its passphrase-wrapped form kept in the bucket.
//! - [`content`]: objects in the age format, streamed in both directions with memory flat, with
//!   sizes known before the first byte ([`ciphertext_len`], [`plaintext_len`]).
//! - [`names`]: deterministic AES-SIV encryption of path components (`--encrypt-names`).
//! - [`marker`]: the `PREFIX/.pail/encryption.toml` record that says a prefix is encrypted.
//! - [`store`]: where a device keeps the identity (OS keyring, else a 0600 file).
//!
//! Everything here is synchronous `Read`/`Write`: callers on tokio run it in
//! `spawn_blocking` (encryption is CPU work: about 0.5 GB/s per core, and 0.1 ms per object
//! for the X25519 exchange; `tests/throughput.rs` measures it). The format and the threat
//! model are in `doc/ENCRYPTION.md`.

pub mod content;
mod header;
mod key;
pub mod marker;
pub mod names;
mod open;
pub mod store;

pub use age::secrecy::{ExposeSecret, SecretString};
pub use content::{
    ContentError, Decrypted, DecryptingReader, EncryptingReader, ciphertext_len, plaintext_len,
};
pub use key::{DEFAULT_MAX_LOG_N, KeyError, PrefixKey, ScryptWork, contexts};
pub use marker::{EncryptionMarker, MarkerError, NameMode};
pub use names::{NameCipher, NameError};
