//! Names on both sides: a validated relative path inside the folder, the remote prefix, and
//! the mapping between them. This mapping is an attack surface (a remote key can be written
//! by anyone with access to the bucket), so every key is validated before it names a file.

use std::fmt;
use std::sync::Arc;

/// S3 limit on a whole key, in UTF-8 bytes, prefix included.
pub const MAX_KEY_BYTES: usize = 1024;
/// The usual limit on one path component on Linux and macOS filesystems (`NAME_MAX`).
pub const MAX_COMPONENT_BYTES: usize = 255;
/// The top-level name reserved for pail's own objects under the prefix (`PREFIX/.pail/`).
pub const RESERVED_DIR: &str = ".pail";

/// Why a name cannot be synced. Each variant says what is wrong; callers add the key or path.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty path")]
    /// The path is the empty string.
    Empty,
    #[error("absolute path (starts with '/')")]
    /// The path starts with `/`.
    Absolute,
    #[error("empty path segment ('//' or trailing '/')")]
    /// Two `/` in a row, or a trailing `/`.
    EmptySegment,
    #[error("'.' or '..' segment would escape or alias the folder")]
    /// A `.` or `..` segment.
    DotSegment,
    #[error("contains a NUL or control character")]
    /// A NUL or other control character, which no portable file name may hold.
    ControlChar,
    #[error("contains a backslash, which is a separator on Windows")]
    /// A `\`, which Windows would read as a separator.
    Backslash,
    #[error("a path segment is {0} bytes, over the filesystem limit of 255")]
    /// One segment is longer than [`MAX_COMPONENT_BYTES`] (its length in bytes).
    ComponentTooLong(usize),
    #[error("key is {0} bytes, over the S3 limit of 1024")]
    /// The whole key is longer than [`MAX_KEY_BYTES`] (its length in bytes).
    KeyTooLong(usize),
    #[error("under the reserved '.pail/' directory")]
    /// Under [`RESERVED_DIR`], where pail keeps its own objects.
    Reserved,
    #[error("key is outside the sync prefix")]
    /// A listed key that does not start with the pair's prefix.
    OutsidePrefix,
    #[error("not valid UTF-8")]
    /// A local name or remote key that is not valid UTF-8.
    NotUtf8,
    #[error(
        "the segment {segment:?} is {plain} bytes, {encrypted} once its name is encrypted, \
         over the limit of 255 (encrypted names fit up to {fits} bytes): rename it"
    )]
    /// On a pair with encrypted names: one segment's encrypted form is longer than
    /// [`MAX_COMPONENT_BYTES`].
    EncryptedSegmentTooLong {
        /// The segment in plaintext.
        segment: String,
        /// Its length in bytes.
        plain: usize,
        /// The length of its encrypted form.
        encrypted: usize,
        /// The longest segment that fits.
        fits: usize,
    },
    #[error(
        "key is {0} bytes once its names are encrypted, over the S3 limit of 1024: shorten \
         the path or move it up"
    )]
    /// On a pair with encrypted names: the whole encrypted key is over [`MAX_KEY_BYTES`].
    EncryptedKeyTooLong(usize),
    #[error(
        "not a name encrypted with this pair's key (written by another S3 client, or \
         under another key): remove it from the bucket or move it out of the prefix"
    )]
    /// On a pair with encrypted names: a listed key that does not decrypt.
    NotEncrypted,
}

/// How the part of a key after `PREFIX/` is made from a path, when it is not the path itself:
/// the encrypted names of `pail init --encrypt --encrypt-names` (implemented in pail-crypt).
/// Every key of a pair goes through [`RemotePrefix`], so a prefix that carries a codec maps
/// every path, folder, trash copy and journal entry the same way.
pub trait NameCodec: Send + Sync {
    /// A validated path (file or folder, `a/b/c`) to the part of its key after `PREFIX/`.
    /// `key_prefix_len` is the length of `PREFIX/`, for the whole key's length check.
    fn encode(&self, rel: &str, key_prefix_len: usize) -> Result<String, NameError>;
    /// That part of a key back to the path (not yet validated as a [`RelPath`]).
    fn decode(&self, encoded: &str) -> Result<String, NameError>;
    /// The longest path segment (bytes) whose encoded form fits the servers' limits: the
    /// names pail makes itself (conflict copies) are cut to it.
    fn max_segment(&self) -> usize {
        MAX_COMPONENT_BYTES
    }
}

/// A path relative to the synced folder: `/`-separated, UTF-8, no empty, `.` or `..` segment,
/// no control characters, each segment at most 255 bytes, not under the root `.pail/`.
/// Unicode is kept byte-exact (no normalization); collisions are detected elsewhere.
#[derive(Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct RelPath(String);

impl RelPath {
    /// Validates `s` as a relative path.
    pub fn new(s: &str) -> Result<RelPath, NameError> {
        if s.is_empty() {
            return Err(NameError::Empty);
        }
        if s.starts_with('/') {
            return Err(NameError::Absolute);
        }
        if s.chars().any(|c| c.is_control()) {
            return Err(NameError::ControlChar);
        }
        if s.contains('\\') {
            return Err(NameError::Backslash);
        }
        for seg in s.split('/') {
            match seg {
                "" => return Err(NameError::EmptySegment),
                "." | ".." => return Err(NameError::DotSegment),
                _ if seg.len() > MAX_COMPONENT_BYTES => {
                    return Err(NameError::ComponentTooLong(seg.len()));
                }
                _ => {}
            }
        }
        if s == RESERVED_DIR || s.starts_with(".pail/") {
            return Err(NameError::Reserved);
        }
        Ok(RelPath(s.to_owned()))
    }

    /// The path as `/`-separated text, exactly as validated.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The last segment.
    pub fn file_name(&self) -> &str {
        self.0.rsplit('/').next().unwrap_or(&self.0)
    }

    /// The parent directory, `None` for a top-level name.
    pub fn parent(&self) -> Option<&str> {
        self.0.rsplit_once('/').map(|(p, _)| p)
    }

    /// A sibling with another file name (used for conflict copies).
    pub fn with_file_name(&self, name: &str) -> Result<RelPath, NameError> {
        match self.parent() {
            Some(p) => RelPath::new(&format!("{p}/{name}")),
            None => RelPath::new(name),
        }
    }
}

impl fmt::Display for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RelPath {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}", self.0)
    }
}

/// The key prefix of a folder pair inside its bucket, normalised without leading or trailing
/// `/` (empty for the whole bucket), and how paths below it become keys: as they are, or
/// through a [`NameCodec`] (encrypted names). Equality and hashing look at the prefix only.
#[derive(Clone)]
pub struct RemotePrefix(String, Option<Arc<dyn NameCodec>>);

impl PartialEq for RemotePrefix {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for RemotePrefix {}

impl std::hash::Hash for RemotePrefix {
    fn hash<H: std::hash::Hasher>(&self, state: &mut H) {
        self.0.hash(state);
    }
}

impl RemotePrefix {
    /// Accepts `a/b`, `a/b/` or `` (whole bucket). Rejects empty, `.` and `..` segments.
    pub fn new(s: &str) -> Result<RemotePrefix, NameError> {
        let t = s.trim_matches('/');
        if t.is_empty() {
            return Ok(RemotePrefix(String::new(), None));
        }
        if t.chars().any(|c| c.is_control()) {
            return Err(NameError::ControlChar);
        }
        for seg in t.split('/') {
            match seg {
                "" => return Err(NameError::EmptySegment),
                "." | ".." => return Err(NameError::DotSegment),
                _ => {}
            }
        }
        Ok(RemotePrefix(t.to_owned(), None))
    }

    /// The same prefix, with keys' names made by `codec` (encrypted names).
    pub fn with_names(self, codec: Arc<dyn NameCodec>) -> RemotePrefix {
        RemotePrefix(self.0, Some(codec))
    }

    /// Whether keys' names are encoded (encrypted names).
    pub fn names_encoded(&self) -> bool {
        self.1.is_some()
    }

    /// The longest path segment this pair can store: 255 bytes, or less where names are
    /// encoded (175 for encrypted names). Names pail makes (conflict copies) are cut to it.
    pub fn max_segment(&self) -> usize {
        self.1
            .as_ref()
            .map_or(MAX_COMPONENT_BYTES, |c| c.max_segment())
    }

    /// The prefix without leading or trailing `/` (empty for the whole bucket).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// What to pass as `prefix` when listing: `a/b/`, or `` for the whole bucket.
    pub fn list_prefix(&self) -> String {
        if self.0.is_empty() {
            String::new()
        } else {
            format!("{}/", self.0)
        }
    }

    /// The part of a path's key after `PREFIX/`: the path itself, or its encoded form. Fails
    /// when the whole key would exceed S3's 1024-byte limit (or an encrypted segment 255).
    pub fn rel_key(&self, path: &RelPath) -> Result<String, NameError> {
        let lp = self.list_prefix().len();
        let rel = match &self.1 {
            None => path.as_str().to_owned(),
            Some(codec) => codec.encode(path.as_str(), lp)?,
        };
        if lp + rel.len() > MAX_KEY_BYTES {
            return Err(NameError::KeyTooLong(lp + rel.len()));
        }
        Ok(rel)
    }

    /// The key of a synced file. Fails when the key would exceed S3's 1024-byte limit.
    pub fn key_for(&self, path: &RelPath) -> Result<String, NameError> {
        Ok(format!("{}{}", self.list_prefix(), self.rel_key(path)?))
    }

    /// The key prefix of everything under the folder `dir`: `PREFIX/dir/`, encoded.
    pub fn dir_key(&self, dir: &RelPath) -> Result<String, NameError> {
        Ok(format!("{}{}/", self.list_prefix(), self.rel_key(dir)?))
    }

    /// The part of a key after `PREFIX/` (as [`RemotePrefix::rel_key`] makes it) back to its
    /// path: decoded, then validated like every name from the bucket.
    pub fn path_of_rel(&self, rel: &str) -> Result<RelPath, NameError> {
        match &self.1 {
            None => RelPath::new(rel),
            Some(codec) => RelPath::new(&codec.decode(rel)?),
        }
    }

    /// The key of one of pail's own objects, `PREFIX/.pail/<rest>`.
    pub fn reserved_key(&self, rest: &str) -> String {
        format!("{}{}/{}", self.list_prefix(), RESERVED_DIR, rest)
    }

    /// Maps a listed key back to a path. `Ok(None)` for keys that are not files to sync:
    /// pail's own `.pail/` objects and directory markers (keys ending in `/`).
    pub fn path_for(&self, key: &str) -> Result<Option<RelPath>, NameError> {
        // Some servers store longer keys than S3 allows; such a file could never be written
        // back (`key_for`), so it is reported here rather than failing every pass.
        if key.len() > MAX_KEY_BYTES {
            return Err(NameError::KeyTooLong(key.len()));
        }
        let lp = self.list_prefix();
        let Some(rest) = key.strip_prefix(lp.as_str()) else {
            return Err(NameError::OutsidePrefix);
        };
        // The prefix's own folder marker (`PREFIX/`, as consoles make it) names no file.
        if rest.is_empty() || rest == RESERVED_DIR || rest.starts_with(".pail/") {
            return Ok(None);
        }
        if rest.ends_with('/') && !rest.is_empty() && !rest.starts_with('/') {
            // A "folder" marker made by consoles; S3 has no directories and pail makes
            // directories as files need them. Its own segments are validated all the same.
            self.path_of_rel(rest.trim_end_matches('/'))?;
            return Ok(None);
        }
        self.path_of_rel(rest).map(Some)
    }
}

impl fmt::Display for RemotePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Debug for RemotePrefix {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.1 {
            None => write!(f, "{:?}", self.0),
            Some(_) => write!(f, "{:?} (names encoded)", self.0),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hostile_keys_never_map_to_paths() {
        let p = RemotePrefix::new("dev/").unwrap();
        for key in [
            "dev/../x",
            "dev/a/../../b",
            "dev//abs",
            "dev/a//b",
            "dev/a/./b",
            "dev/a\0b",
            "dev/..",
            "other/x",
        ] {
            assert!(p.path_for(key).is_err(), "{key:?} must be rejected");
        }
        assert_eq!(p.path_for("dev/.pail/journal/1").unwrap(), None);
        assert_eq!(p.path_for("dev/photos/").unwrap(), None);
        // The prefix's own folder marker, as the S3 console makes it.
        assert_eq!(p.path_for("dev/").unwrap(), None);
        assert_eq!(
            p.path_for("dev/a b/ü.txt").unwrap().unwrap().as_str(),
            "a b/ü.txt"
        );
    }

    #[test]
    fn keys_round_trip_and_respect_the_limit() {
        let p = RemotePrefix::new("/a/b/").unwrap();
        let path = RelPath::new("x/y.txt").unwrap();
        let key = p.key_for(&path).unwrap();
        assert_eq!(key, "a/b/x/y.txt");
        assert_eq!(p.path_for(&key).unwrap().unwrap(), path);
        let long = RelPath::new(
            &std::iter::repeat_n("x".repeat(250), 5)
                .collect::<Vec<_>>()
                .join("/"),
        )
        .unwrap();
        assert!(matches!(p.key_for(&long), Err(NameError::KeyTooLong(_))));
        // A listed key over the limit (moto and Garage store them) maps to no path, even
        // when the path alone would fit.
        let key_of = |len: usize| {
            format!(
                "a/b/{}/{}",
                vec!["x".repeat(200); 5].join("/"),
                "y".repeat(len - 1009)
            )
        };
        assert!(matches!(
            p.path_for(&key_of(1025)),
            Err(NameError::KeyTooLong(1025))
        ));
        assert!(p.path_for(&key_of(1024)).unwrap().is_some());
        assert_eq!(
            RemotePrefix::new("").unwrap().key_for(&path).unwrap(),
            "x/y.txt"
        );
    }

    /// A stand-in for encrypted names: each segment as hex.
    struct Hex;

    impl NameCodec for Hex {
        fn encode(&self, rel: &str, key_prefix_len: usize) -> Result<String, NameError> {
            let out: Vec<String> = rel
                .split('/')
                .map(|seg| seg.bytes().map(|b| format!("{b:02x}")).collect())
                .collect();
            let out = out.join("/");
            match key_prefix_len + out.len() {
                n if n > MAX_KEY_BYTES => Err(NameError::EncryptedKeyTooLong(n)),
                _ => Ok(out),
            }
        }

        fn decode(&self, encoded: &str) -> Result<String, NameError> {
            let seg = |s: &str| -> Option<String> {
                let bytes: Option<Vec<u8>> = (0..s.len())
                    .step_by(2)
                    .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
                    .collect();
                String::from_utf8(bytes?).ok()
            };
            encoded
                .split('/')
                .map(|s| seg(s).ok_or(NameError::NotEncrypted))
                .collect::<Result<Vec<_>, _>>()
                .map(|v| v.join("/"))
        }
    }

    #[test]
    fn a_codec_maps_every_key_of_the_pair() {
        let p = RemotePrefix::new("dev").unwrap().with_names(Arc::new(Hex));
        assert!(p.names_encoded());
        let path = RelPath::new("ab/c").unwrap();
        let key = p.key_for(&path).unwrap();
        assert_eq!(key, "dev/6162/63");
        assert_eq!(p.path_for(&key).unwrap(), Some(path.clone()));
        // A folder's key prefix is the prefix of the keys below it.
        let dir = p.dir_key(&RelPath::new("ab").unwrap()).unwrap();
        assert_eq!(dir, "dev/6162/");
        assert!(key.starts_with(&dir));
        // pail's own objects and folder markers stay what they are.
        assert_eq!(p.path_for("dev/.pail/journal/1").unwrap(), None);
        assert_eq!(p.path_for("dev/6162/").unwrap(), None);
        // A key the codec did not make is refused, not taken for a file.
        assert_eq!(p.path_for("dev/plain.txt"), Err(NameError::NotEncrypted));
        assert_eq!(p.path_for("dev/6162/zz/"), Err(NameError::NotEncrypted));
        // A decoded name is validated like any name from the bucket.
        assert_eq!(p.path_for("dev/2e2e/78"), Err(NameError::DotSegment));
        // The whole key's limit holds after encoding.
        let long = RelPath::new(&"x".repeat(255)).unwrap();
        let longer = RelPath::new(&format!("{0}/{0}", "x".repeat(255))).unwrap();
        assert!(p.key_for(&long).is_ok());
        assert!(matches!(
            p.key_for(&longer),
            Err(NameError::EncryptedKeyTooLong(1025))
        ));
        // Trash copies name the encoded key, and parse back to the path.
        let rel = p.rel_key(&path).unwrap();
        let at = time::OffsetDateTime::from_unix_timestamp(1_700_000_000).unwrap();
        let t = crate::layout::trash_key(&p, &rel, at, "laptop");
        assert!(t.starts_with("dev/.pail/trash/6162/63/"), "{t}");
        assert_eq!(
            crate::layout::parse_trash_key(&p, &t).map(|(p, _)| p),
            Some(path)
        );
        // Equality is the prefix's.
        assert_eq!(p, RemotePrefix::new("dev/").unwrap());
    }
}
