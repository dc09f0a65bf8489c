//! `PREFIX/.pail/encryption.toml`: the record that a prefix is encrypted. Every device reads
//! it before syncing; one without the key refuses the prefix instead of uploading plaintext
//! beside ciphertext. It holds nothing secret: the public key, and the identity wrapped with
//! the passphrase.

use serde::{Deserialize, Serialize};

/// The marker's name under `PREFIX/.pail/`.
pub const MARKER_NAME: &str = "encryption.toml";
/// The marker format this pail writes and reads.
pub const FORMAT: u32 = 1;
/// The only content scheme so far.
pub const SCHEME_AGE_X25519: &str = "age-x25519";

/// How keys' names are stored.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum NameMode {
    /// Names as in the folder; only content is encrypted.
    #[serde(rename = "plain")]
    Plain,
    /// Each component AES-256-SIV encrypted, base64url ([`crate::names`]).
    #[serde(rename = "aes-siv-base64url")]
    AesSiv,
}

impl NameMode {
    /// The mode of `--encrypt-names` (`true`) or its absence.
    pub fn encrypted(names: bool) -> NameMode {
        if names {
            NameMode::AesSiv
        } else {
            NameMode::Plain
        }
    }
}

/// The marker's content.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EncryptionMarker {
    /// [`FORMAT`].
    pub format: u32,
    /// [`SCHEME_AGE_X25519`].
    pub scheme: String,
    /// The prefix's public key, `age1...`: every object is encrypted to it.
    pub recipient: String,
    /// Whether names are encrypted.
    pub names: NameMode,
    /// The device that created the key, and when (RFC 3339), for people reading the file.
    pub created_by: String,
    pub created_at: String,
    /// The identity encrypted with the passphrase (age scrypt, ASCII armor).
    pub wrapped_identity: String,
}

/// A marker that cannot be used.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MarkerError {
    #[error(
        "{what} was written by a newer pail (format {found}; this pail reads format \
         {FORMAT}): upgrade pail on this device"
    )]
    NewerFormat { what: String, found: u32 },
    #[error(
        "{what} uses the encryption scheme {found:?}, which this pail does not know: \
         upgrade pail on this device"
    )]
    UnknownScheme { what: String, found: String },
    #[error(
        "{what} is damaged ({detail}): it says the prefix is encrypted, so pail will not \
         sync it; run `pail key passphrase` on a device that has the key (it writes the file \
         again), or restore it from an older version of the object"
    )]
    Damaged { what: String, detail: String },
}

/// Just the version, read before the rest so that a newer format says "upgrade" rather
/// than "damaged".
#[derive(Deserialize)]
struct Version {
    format: u32,
}

impl EncryptionMarker {
    /// The text stored in the bucket.
    pub fn to_toml(&self) -> String {
        let mut s = String::from(
            "# pail: this prefix is end-to-end encrypted (doc/ENCRYPTION.md). Objects are age\n\
             # files to `recipient`; `wrapped_identity` opens with the passphrase (`age -d`).\n",
        );
        s.push_str(&toml::to_string(self).expect("plain strings and numbers"));
        s
    }

    /// Parse the marker; `what` names it for errors (e.g. `s3://b/p/.pail/encryption.toml`).
    pub fn parse(text: &str, what: &str) -> Result<Self, MarkerError> {
        let damaged = |detail: String| MarkerError::Damaged {
            what: what.to_owned(),
            detail,
        };
        let v: Version = toml::from_str::<toml::Table>(text)
            .map_err(|e| damaged(e.message().to_owned()))?
            .try_into()
            .map_err(|e: toml::de::Error| damaged(e.message().to_owned()))?;
        if v.format > FORMAT {
            return Err(MarkerError::NewerFormat {
                what: what.to_owned(),
                found: v.format,
            });
        }
        if v.format < FORMAT {
            return Err(damaged(format!("format {} does not exist", v.format)));
        }
        let m: EncryptionMarker =
            toml::from_str(text).map_err(|e| damaged(e.message().to_owned()))?;
        if m.scheme != SCHEME_AGE_X25519 {
            return Err(MarkerError::UnknownScheme {
                what: what.to_owned(),
                found: m.scheme,
            });
        }
        if !m.recipient.starts_with("age1") {
            return Err(damaged(format!(
                "{:?} is not an age public key",
                m.recipient
            )));
        }
        Ok(m)
    }
}
