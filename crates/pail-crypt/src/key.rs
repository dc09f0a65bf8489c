//! A prefix's key: one age X25519 identity, the subkeys derived from it, and the identity
//! wrapped with the user's passphrase for the bucket.

use std::io::{Read, Write};
use std::iter;
use std::str::FromStr;
use std::sync::OnceLock;

use age::secrecy::{ExposeSecret, SecretString};
use age::x25519;
use curve25519_dalek::edwards::EdwardsBasepointTable;
use curve25519_dalek::montgomery::MontgomeryPoint;
use curve25519_dalek::traits::BasepointTable;
use pail_core::hash::ContentHash;
use zeroize::{Zeroize, Zeroizing};

/// The blake3 `derive_key` context strings of the subkeys. They are part of the format
/// (doc/ENCRYPTION.md): changing one changes every hash, name and tag of every encrypted pair.
pub mod contexts {
    /// Keyed blake3 of a file's plaintext, the content hash of an encrypted pair.
    pub const CONTENT_HASH: &str = "pail 2026-11-30 content hash v1";
    /// The 64-byte AES-256-SIV key of encrypted names (blake3's extendable output).
    pub const NAME_KEY: &str = "pail 2026-11-30 name key v1 (AES-256-SIV)";
    /// Keyed blake3 binding an object's content to its path.
    pub const BINDING: &str = "pail 2026-11-30 object binding v1";
}

/// A key that cannot be read, opened or trusted. Each message says what to do.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error(
        "wrong passphrase for the prefix's key (or its stanza in the bucket was altered): \
         try again; the passphrase is the one given at `pail init --encrypt` or the last \
         `pail key passphrase`"
    )]
    WrongPassphrase,
    #[error(
        "the {what} is damaged or was altered ({detail}): restore it from the `pail key \
         export` copy, or on a device that still has the key run `pail key passphrase` to \
         write the bucket's copy again"
    )]
    Damaged { what: String, detail: String },
    #[error(
        "the {what} asks for scrypt work 2^{required}, more than this device allows \
         (2^{allowed}): it was not written by pail, or was altered; restore it from the \
         `pail key export` copy"
    )]
    ExcessiveWork {
        what: String,
        required: u8,
        allowed: u8,
    },
    #[error(
        "the {what} belongs to another key (public key {found}, the prefix records \
         {expected}): this device holds a key of another prefix; remove it and join again \
         with the passphrase"
    )]
    NotThisPrefix {
        what: String,
        found: String,
        expected: String,
    },
    #[error("an empty passphrase: choose one of at least one character")]
    EmptyPassphrase,
}

/// The scrypt work factor of a passphrase wrap. Tests set small values so that a wrap takes
/// microseconds; production uses [`ScryptWork::default`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ScryptWork {
    /// `log2(N)` when wrapping.
    pub log_n: Option<u8>,
    /// The largest `log2(N)` accepted when unwrapping.
    pub max_log_n: Option<u8>,
}

/// The largest work accepted by default: 2^20 (1 GiB of memory, a few seconds). age's own
/// ceiling is 16 times this machine's one-second work, which refuses a key wrapped on a
/// machine much faster than this one; the stock `age -p` writes 2^18.
pub const DEFAULT_MAX_LOG_N: u8 = 20;

impl Default for ScryptWork {
    /// Wrap with age's choice (about one second on this machine); open up to
    /// [`DEFAULT_MAX_LOG_N`].
    fn default() -> Self {
        ScryptWork {
            log_n: None,
            max_log_n: Some(DEFAULT_MAX_LOG_N),
        }
    }
}

impl ScryptWork {
    /// Cheap work for tests (N = 2^10): never in production.
    pub fn for_tests() -> Self {
        ScryptWork {
            log_n: Some(10),
            max_log_n: Some(12),
        }
    }
}

/// The 32 bytes of an X25519 recipient, decoded from its `age1...` string (age keeps them
/// private).
fn public_key_bytes(recipient: &x25519::Recipient) -> [u8; 32] {
    age_core::primitives::bech32_decode(
        &recipient.to_string(),
        |_| (),
        |hrp| (hrp.as_str() == "age").then_some(()).ok_or(()),
        |_, bytes| bytes.collect::<Vec<u8>>().try_into().map_err(|_| ()),
    )
    .expect("age prints a recipient as bech32 `age1` and 32 bytes")
}

/// A prefix's key. The age identity decrypts every object of the prefix; the subkeys are
/// derived from its secret string, so whoever has the identity (`pail key export`) can
/// recompute them.
pub struct PrefixKey {
    identity: x25519::Identity,
    recipient: x25519::Recipient,
    /// The recipient's X25519 public key, the 32 bytes the `age1...` string encodes.
    recipient_bytes: [u8; 32],
    /// Multiples of the recipient's point, for the X25519 of every object's header
    /// (header.rs): built on the first encryption, 0.8 ms and 30 KB once per key.
    recipient_table: OnceLock<Box<EdwardsBasepointTable>>,
    content_key: Zeroizing<[u8; 32]>,
    binding_key: Zeroizing<[u8; 32]>,
    name_key: Zeroizing<[u8; 64]>,
}

impl std::fmt::Debug for PrefixKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the secret.
        write!(f, "PrefixKey({})", self.recipient)
    }
}

impl PrefixKey {
    /// A new random key, for the first device of an encrypted prefix.
    pub fn generate() -> Self {
        Self::from_identity(x25519::Identity::generate())
    }

    /// The key from its secret string, `AGE-SECRET-KEY-1...` (what `pail key export`
    /// prints and the key stores keep). `what` names where it came from, for the error.
    pub fn from_secret(secret: &str, what: &str) -> Result<Self, KeyError> {
        // Comment lines and blank lines are allowed, as in age identity files.
        let line = secret
            .lines()
            .map(str::trim)
            .find(|l| !l.is_empty() && !l.starts_with('#'))
            .unwrap_or("");
        let identity = x25519::Identity::from_str(line).map_err(|e| KeyError::Damaged {
            what: what.to_owned(),
            detail: format!("not an age X25519 identity: {e}"),
        })?;
        Ok(Self::from_identity(identity))
    }

    fn from_identity(identity: x25519::Identity) -> Self {
        let secret = identity.to_string();
        let material = secret.expose_secret().as_bytes();
        let content_key = Zeroizing::new(blake3::derive_key(contexts::CONTENT_HASH, material));
        let binding_key = Zeroizing::new(blake3::derive_key(contexts::BINDING, material));
        let mut name_key = Zeroizing::new([0u8; 64]);
        blake3::Hasher::new_derive_key(contexts::NAME_KEY)
            .update(material)
            .finalize_xof()
            .fill(&mut name_key[..]);
        let recipient = identity.to_public();
        PrefixKey {
            recipient_bytes: public_key_bytes(&recipient),
            recipient_table: OnceLock::new(),
            recipient,
            identity,
            content_key,
            binding_key,
            name_key,
        }
    }

    /// The identity's secret string, `AGE-SECRET-KEY-1...`: for `pail key export` and the
    /// key stores. `age -d -i FILE` accepts a file holding it.
    pub fn secret(&self) -> SecretString {
        self.identity.to_string()
    }

    /// The public key, `age1...`: what objects are encrypted to, recorded in the marker.
    pub fn recipient(&self) -> String {
        self.recipient.to_string()
    }

    pub(crate) fn identity(&self) -> &x25519::Identity {
        &self.identity
    }

    pub(crate) fn recipient_bytes(&self) -> &[u8; 32] {
        &self.recipient_bytes
    }

    /// The recipient's point as a fixed base: X25519 by it costs a third of the ladder.
    pub(crate) fn recipient_table(&self) -> &EdwardsBasepointTable {
        self.recipient_table.get_or_init(|| {
            let point = MontgomeryPoint(self.recipient_bytes)
                .to_edwards(0)
                // Either sign: a multiple's u-coordinate is the same for P and -P.
                .expect("an identity's public key is a point of the curve");
            Box::new(EdwardsBasepointTable::create(&point))
        })
    }

    /// Refuse a key whose public key is not the one the prefix records.
    pub fn check_recipient(&self, expected: &str, what: &str) -> Result<(), KeyError> {
        let found = self.recipient();
        if found == expected.trim() {
            Ok(())
        } else {
            Err(KeyError::NotThisPrefix {
                what: what.to_owned(),
                found,
                expected: expected.trim().to_owned(),
            })
        }
    }

    /// A blake3 hasher keyed for content hashes: feed it the plaintext (with `update`,
    /// `update_rayon` or `update_mmap_rayon`, like the plain hash) and finish with
    /// `ContentHash(*hasher.finalize().as_bytes())`. Never the plain blake3: equal files must not be recognisable
    /// in the bucket's metadata by anyone without the key.
    pub fn content_hasher(&self) -> blake3::Hasher {
        blake3::Hasher::new_keyed(&self.content_key)
    }

    /// The content hash of a whole plaintext held in memory.
    pub fn content_hash(&self, plaintext: &[u8]) -> ContentHash {
        ContentHash(*blake3::keyed_hash(&self.content_key, plaintext).as_bytes())
    }

    /// The binding tag stored in an object's metadata: a keyed MAC over the object's path
    /// (relative to the prefix, in plaintext, `/`-separated) and its keyed content hash. An
    /// object copied to another key (metadata and all) no longer matches its path; pail
    /// computes a new tag whenever it copies an object itself. 64 lowercase hex characters.
    pub fn binding_tag(&self, rel_path: &str, hash: &ContentHash) -> String {
        let mut h = blake3::Hasher::new_keyed(&self.binding_key);
        // Length-prefixed so that no (path, hash) pair can be read as another.
        h.update(&(rel_path.len() as u64).to_le_bytes());
        h.update(rel_path.as_bytes());
        h.update(&hash.0);
        h.finalize().to_hex().to_string()
    }

    /// Does `tag` bind this content to this path? Constant-time comparison.
    pub fn binding_matches(&self, rel_path: &str, hash: &ContentHash, tag: &str) -> bool {
        let mut want = [0u8; 32];
        if hex::decode_to_slice(tag, &mut want).is_err() {
            return false;
        }
        let mut h = blake3::Hasher::new_keyed(&self.binding_key);
        h.update(&(rel_path.len() as u64).to_le_bytes());
        h.update(rel_path.as_bytes());
        h.update(&hash.0);
        // blake3::Hash's PartialEq is constant-time.
        h.finalize() == blake3::Hash::from_bytes(want)
    }

    pub(crate) fn name_key(&self) -> &[u8; 64] {
        &self.name_key
    }

    /// The identity encrypted to `passphrase` with age's scrypt recipient, ASCII-armored:
    /// what the bucket keeps (in the marker) so that a new device needs only the passphrase.
    /// `age -d FILE` opens it with the passphrase.
    pub fn wrap(&self, passphrase: &SecretString, work: ScryptWork) -> Result<String, KeyError> {
        if passphrase.expose_secret().is_empty() {
            return Err(KeyError::EmptyPassphrase);
        }
        let mut recipient = age::scrypt::Recipient::new(passphrase.clone());
        if let Some(log_n) = work.log_n {
            recipient.set_work_factor(log_n);
        }
        let encryptor = age::Encryptor::with_recipients(iter::once(&recipient as _))
            .expect("one scrypt recipient is always a valid set");
        let armor =
            age::armor::ArmoredWriter::wrap_output(Vec::new(), age::armor::Format::AsciiArmor)
                .expect("writing to a Vec");
        let mut w = encryptor.wrap_output(armor).expect("writing to a Vec");
        let mut text = Zeroizing::new(format!(
            "# pail prefix key, public key: {}\n{}\n",
            self.recipient,
            self.secret().expose_secret()
        ));
        w.write_all(text.as_bytes()).expect("writing to a Vec");
        text.zeroize();
        let out = w
            .finish()
            .and_then(|a| a.finish())
            .expect("writing to a Vec");
        Ok(String::from_utf8(out).expect("armor is ASCII"))
    }

    /// Open a wrapped identity with `passphrase`. `what` names it for the error ("the key
    /// in the bucket (PREFIX/.pail/encryption.toml)").
    pub fn unwrap(
        wrapped: &str,
        passphrase: &SecretString,
        work: ScryptWork,
        what: &str,
    ) -> Result<Self, KeyError> {
        let damaged = |detail: String| KeyError::Damaged {
            what: what.to_owned(),
            detail,
        };
        let mut identity = age::scrypt::Identity::new(passphrase.clone());
        if let Some(max) = work.max_log_n {
            identity.set_max_work_factor(max);
        }
        let reader = age::armor::ArmoredReader::new(wrapped.trim_start().as_bytes());
        let decryptor = age::Decryptor::new_buffered(std::io::BufReader::new(reader))
            .map_err(|e| damaged(e.to_string()))?;
        if !decryptor.is_scrypt() {
            return Err(damaged("not encrypted with a passphrase".into()));
        }
        let mut plain = Zeroizing::new(Vec::new());
        match decryptor.decrypt(iter::once(&identity as _)) {
            Ok(mut r) => {
                r.read_to_end(&mut plain)
                    .map_err(|e| damaged(format!("its content fails to decrypt: {e}")))?;
            }
            Err(age::DecryptError::DecryptionFailed | age::DecryptError::NoMatchingKeys) => {
                return Err(KeyError::WrongPassphrase);
            }
            Err(age::DecryptError::ExcessiveWork { required, target }) => {
                return Err(KeyError::ExcessiveWork {
                    what: what.to_owned(),
                    required,
                    allowed: work.max_log_n.unwrap_or(target),
                });
            }
            Err(e) => return Err(damaged(e.to_string())),
        }
        let text = std::str::from_utf8(&plain)
            .map_err(|_| damaged("its content is not an age identity".into()))?;
        Self::from_secret(text, what)
    }

    /// `pail key passphrase`: the same identity under a new passphrase. Objects are
    /// untouched: they are encrypted to the identity, not to the passphrase.
    pub fn rewrap(
        wrapped: &str,
        old: &SecretString,
        new: &SecretString,
        work: ScryptWork,
        what: &str,
    ) -> Result<(Self, String), KeyError> {
        let key = Self::unwrap(wrapped, old, work, what)?;
        let again = key.wrap(new, work)?;
        Ok((key, again))
    }
}
