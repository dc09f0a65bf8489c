//! Encrypted names (`--encrypt-names`): each path component encrypted on its own with
//! AES-256-SIV, deterministically, so that a path always maps to the same key: HEADs by key,
//! listings of a folder (a key prefix) and the journal's scoped passes work as on a plain pair.
//!
//! - Associated data: the context string [`NAME_AD`] and the component's parent path in
//!   plaintext (`""` at the top). The same name in two folders therefore encrypts differently:
//!   the bucket does not show which files share a name. Moving a folder changes every key
//!   below it, which S3 forces anyway (keys are whole paths).
//! - Encoding: base64url without padding (RFC 4648 §5). S3 keys are case-sensitive, so the
//!   denser base64 (4/3) beats base32 (8/5): with the 16-byte SIV tag a component of up to 175
//!   bytes stays within 255 encoded bytes, against 143 with base32. The alphabet has no `.`,
//!   so an encrypted component is never `.pail`, `.`, `..` or a temp-file name.
//! - Length: an encrypted component is `ceil((16 + n) * 4 / 3)` bytes for `n` plaintext
//!   bytes; names' lengths are not hidden.

use aes_siv::aead::KeyInit;
use aes_siv::siv::Aes256Siv;
use data_encoding::BASE64URL_NOPAD;

use crate::key::PrefixKey;

/// The first associated-data item of every name. Part of the format.
pub const NAME_AD: &[u8] = b"pail 2026-11-30 name v1";
/// Some S3 servers keep keys as files: no encrypted component longer than this.
pub const MAX_COMPONENT: usize = 255;
/// S3's limit on a whole key, prefix included.
pub const MAX_KEY: usize = 1024;
/// The longest plaintext component (bytes) whose encrypted form fits [`MAX_COMPONENT`].
pub const MAX_PLAIN_COMPONENT: usize = MAX_COMPONENT * 3 / 4 - 16;

/// A name that cannot be encrypted within the limits, or a key that is not one of ours.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum NameError {
    #[error(
        "the name {component:?} in {path:?} is too long for encrypted names: {plain} bytes \
         encrypt to {encrypted}, over the limit of {MAX_COMPONENT} (names up to \
         {MAX_PLAIN_COMPONENT} bytes fit); rename it"
    )]
    ComponentTooLong {
        path: String,
        component: String,
        plain: usize,
        encrypted: usize,
    },
    #[error(
        "the path {path:?} is too long for encrypted names: its key would be {len} bytes, \
         over S3's limit of {MAX_KEY}; shorten it or move it up"
    )]
    KeyTooLong { path: String, len: usize },
    #[error(
        "the key component {component:?} is not a name encrypted with this prefix's key \
         (written without pail, or by another key): skipped; remove it from the bucket"
    )]
    Foreign { component: String },
    #[error("an empty path component in {path:?}")]
    Empty { path: String },
}

/// Encrypts and decrypts names with a prefix's name key.
#[derive(Clone)]
pub struct NameCipher {
    key: zeroize::Zeroizing<[u8; 64]>,
}

impl std::fmt::Debug for NameCipher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("NameCipher")
    }
}

impl NameCipher {
    pub fn new(key: &PrefixKey) -> Self {
        NameCipher {
            key: zeroize::Zeroizing::new(*key.name_key()),
        }
    }

    fn siv(&self) -> Aes256Siv {
        Aes256Siv::new_from_slice(&self.key[..]).expect("a 64-byte AES-256-SIV key")
    }

    /// One component under `parent` (its plaintext path, `""` at the top).
    pub fn encrypt_component(&self, parent: &str, name: &str) -> String {
        let ct = self
            .siv()
            .encrypt([NAME_AD, parent.as_bytes()], name.as_bytes())
            .expect("two associated-data items and any length are within AES-SIV's limits");
        BASE64URL_NOPAD.encode(&ct)
    }

    /// One encrypted component under `parent` (plaintext) back to its name.
    pub fn decrypt_component(&self, parent: &str, encrypted: &str) -> Result<String, NameError> {
        let foreign = || NameError::Foreign {
            component: encrypted.to_owned(),
        };
        let ct = BASE64URL_NOPAD
            .decode(encrypted.as_bytes())
            .map_err(|_| foreign())?;
        let pt = self
            .siv()
            .decrypt([NAME_AD, parent.as_bytes()], &ct)
            .map_err(|_| foreign())?;
        String::from_utf8(pt).map_err(|_| foreign())
    }

    /// A relative path (`a/b/c`, no leading or trailing `/`) to its encrypted form, checked
    /// against the limits: each encrypted component at most [`MAX_COMPONENT`] bytes, and
    /// `key_prefix_len` (the bytes of `PREFIX/` before it in the key) plus the result at most
    /// [`MAX_KEY`]. The first component over the limit is the one reported.
    pub fn encrypt_path(&self, rel: &str, key_prefix_len: usize) -> Result<String, NameError> {
        let mut out = String::with_capacity(rel.len() * 2 + 24);
        let mut parent_end = 0;
        for (i, name) in rel.split('/').enumerate() {
            if name.is_empty() {
                return Err(NameError::Empty {
                    path: rel.to_owned(),
                });
            }
            let parent = &rel[..parent_end];
            let enc = self.encrypt_component(parent, name);
            if enc.len() > MAX_COMPONENT {
                return Err(NameError::ComponentTooLong {
                    path: rel.to_owned(),
                    component: name.to_owned(),
                    plain: name.len(),
                    encrypted: enc.len(),
                });
            }
            if i > 0 {
                out.push('/');
            }
            out.push_str(&enc);
            parent_end = if i == 0 {
                name.len()
            } else {
                parent_end + 1 + name.len()
            };
        }
        let len = key_prefix_len + out.len();
        if len > MAX_KEY {
            return Err(NameError::KeyTooLong {
                path: rel.to_owned(),
                len,
            });
        }
        Ok(out)
    }

    /// An encrypted relative path back to plaintext, component by component.
    pub fn decrypt_path(&self, encrypted: &str) -> Result<String, NameError> {
        let mut out = String::with_capacity(encrypted.len());
        for (i, enc) in encrypted.split('/').enumerate() {
            if enc.is_empty() {
                return Err(NameError::Empty {
                    path: encrypted.to_owned(),
                });
            }
            let name = self.decrypt_component(&out, enc)?;
            if i > 0 {
                out.push('/');
            }
            out.push_str(&name);
        }
        Ok(out)
    }
}

/// A pair's keys go through the cipher ([`pail_core::RemotePrefix::with_names`]), with this
/// crate's errors told as the names' own.
impl pail_core::NameCodec for NameCipher {
    fn encode(&self, rel: &str, key_prefix_len: usize) -> Result<String, pail_core::NameError> {
        self.encrypt_path(rel, key_prefix_len).map_err(|e| match e {
            NameError::ComponentTooLong {
                component,
                plain,
                encrypted,
                ..
            } => pail_core::NameError::EncryptedSegmentTooLong {
                segment: component,
                plain,
                encrypted,
                fits: MAX_PLAIN_COMPONENT,
            },
            NameError::KeyTooLong { len, .. } => pail_core::NameError::EncryptedKeyTooLong(len),
            NameError::Empty { .. } => pail_core::NameError::EmptySegment,
            NameError::Foreign { .. } => pail_core::NameError::NotEncrypted,
        })
    }

    fn max_segment(&self) -> usize {
        MAX_PLAIN_COMPONENT
    }

    fn decode(&self, encoded: &str) -> Result<String, pail_core::NameError> {
        self.decrypt_path(encoded).map_err(|e| match e {
            NameError::Empty { .. } => pail_core::NameError::EmptySegment,
            _ => pail_core::NameError::NotEncrypted,
        })
    }
}

/// The encoded length of a component of `plain_len` bytes.
pub fn encrypted_component_len(plain_len: usize) -> usize {
    (4 * (16 + plain_len)).div_ceil(3)
}
