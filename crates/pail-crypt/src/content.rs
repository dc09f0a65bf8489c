//! Objects' content: each object is one age file to the prefix's recipient, written and read
//! as a stream (one 64 KiB chunk in memory at a time, whatever the file's size).
//!
//! Upload: [`EncryptingReader`] turns the file's `Read` into a `Read` of the object, whose exact
//! length ([`EncryptingReader::len`], the same as [`ciphertext_len`]) is known before the first
//! byte, so a PUT's Content-Length and a multipart upload's parts come out as for plaintext.
//! Download: [`DecryptingReader`] (a `Read` of plaintext over the object's `Read`) or
//! [`decrypt`] (into a `Write`), which also returns the keyed content hash of what it wrote.
//! Any change to an object (a flipped byte anywhere, truncation, bytes appended, another key's
//! object) is an error naming the object, raised before the end of the stream is reported, so
//! the caller never places a partly verified file: it must write to a temp file and place it
//! only after `read` returned 0 (or `decrypt` returned `Ok`).

use std::io::{self, BufReader, Read, Write};
use std::iter;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use pail_core::hash::ContentHash;

use crate::header::{self, HEADER_LEN, NONCE_LEN, Payload};
use crate::key::PrefixKey;
use crate::open;

/// The object metadata (`x-amz-meta-pail-bind`) that holds the binding tag
/// ([`PrefixKey::binding_tag`]) beside `pail-blake3`, which on an encrypted pair holds the
/// keyed content hash.
pub const META_BINDING: &str = "pail-bind";

/// Plaintext bytes per age chunk.
pub const CHUNK: u64 = 64 * 1024;
/// The Poly1305 tag that each chunk adds.
pub const TAG_LEN: u64 = 16;
/// Fixed bytes before the first chunk: the header and the payload nonce.
pub const OVERHEAD: u64 = HEADER_LEN + NONCE_LEN;

/// The exact size of pail's object for a plaintext of `plaintext_len` bytes: header + nonce +
/// the chunks, each with its tag. An empty file still has one (empty) chunk.
pub fn ciphertext_len(plaintext_len: u64) -> u64 {
    let chunks = plaintext_len.div_ceil(CHUNK).max(1);
    OVERHEAD + plaintext_len + chunks * TAG_LEN
}

/// The plaintext size of an object of `ciphertext_len` bytes written by pail, or `None` if no
/// plaintext gives that size (not pail's object, or truncated).
pub fn plaintext_len(ciphertext_len: u64) -> Option<u64> {
    let payload = ciphertext_len.checked_sub(OVERHEAD)?;
    let chunks = payload.div_ceil(CHUNK + TAG_LEN).max(1);
    let plain = payload.checked_sub(chunks * TAG_LEN)?;
    (self::ciphertext_len(plain) == ciphertext_len).then_some(plain)
}

/// Content that cannot be encrypted or trusted.
#[derive(Debug, thiserror::Error)]
pub enum ContentError {
    #[error(
        "the object {object} was changed or damaged: not placed (it does not decrypt with \
         the prefix's key: {detail}); restore an earlier version with `pail restore`, or \
         delete it and sync again from a device that has the file"
    )]
    Damaged { object: String, detail: String },
    #[error(
        "the object {object} is not encrypted to this prefix's key (another prefix's \
         object, one written without pail, or a damaged header): not placed; restore an \
         earlier version with `pail restore`, or delete it"
    )]
    WrongKey { object: String },
    #[error(
        "the object {object} holds content that belongs to another path (its binding tag \
         does not match): not placed; it was copied or moved in the bucket without pail. \
         Restore an earlier version with `pail restore`, or delete it"
    )]
    BindingMismatch { object: String },
    #[error("reading or writing {object}: {source}")]
    Io {
        object: String,
        #[source]
        source: io::Error,
    },
}

impl ContentError {
    /// The `ContentError` inside an `io::Error` returned by [`DecryptingReader`]'s `read`, if
    /// the error is about the object's content rather than its transport.
    pub fn from_io(e: &io::Error) -> Option<&ContentError> {
        e.get_ref()?.downcast_ref::<ContentError>()
    }

    fn into_io(self) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, self)
    }
}

/// A `Read` of the object (age file) for a `Read` of plaintext.
pub struct EncryptingReader<R> {
    src: R,
    len: u64,
    /// Plaintext bytes still expected from `src`.
    plain_left: u64,
    /// `None` once the last chunk is sealed.
    payload: Option<Payload>,
    /// The header and nonce, then one sealed chunk at a time, read out from `pos`.
    out: Vec<u8>,
    pos: usize,
}

impl<R> std::fmt::Debug for EncryptingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "EncryptingReader(len {})", self.len)
    }
}

impl<R: Read> EncryptingReader<R> {
    /// Encrypt `src`, which must yield exactly `plaintext_len` bytes (the file's size when
    /// the upload started). Fewer or more bytes (the file changed under the upload) is an
    /// error from `read`, `UnexpectedEof` or `InvalidData`, so that a PUT with the announced
    /// length never carries a different file.
    pub fn new(key: &PrefixKey, src: R, plaintext_len: u64) -> Self {
        let (mut out, payload) = header::start(key);
        // Room for a chunk and its tag beside the header: no reallocation later.
        out.reserve((plaintext_len.min(CHUNK) + TAG_LEN) as usize);
        EncryptingReader {
            src,
            len: ciphertext_len(plaintext_len),
            plain_left: plaintext_len,
            payload: Some(payload),
            out,
            pos: 0,
        }
    }

    /// The object's exact length, [`ciphertext_len`] of the plaintext length.
    pub fn len(&self) -> u64 {
        self.len
    }

    /// Never: an object has at least a header.
    pub fn is_empty(&self) -> bool {
        false
    }

    /// Append up to `max` bytes of the object to `dst` (fewer only at its end): a multipart
    /// upload's part, copied once from the sealed chunks, without `read_to_end`'s zeroing.
    pub fn read_into(&mut self, dst: &mut Vec<u8>, max: u64) -> io::Result<usize> {
        let mut n = 0usize;
        while (n as u64) < max {
            if self.pos == self.out.len() && !self.refill()? {
                break;
            }
            let k = (self.out.len() - self.pos).min((max - n as u64) as usize);
            dst.extend_from_slice(&self.out[self.pos..self.pos + k]);
            self.pos += k;
            n += k;
        }
        Ok(n)
    }

    /// Read and seal the next chunk into `out`; false at the end of the object. The chunk is
    /// read into `out` and sealed there, in place.
    fn refill(&mut self) -> io::Result<bool> {
        let Some(payload) = self.payload.as_mut() else {
            return Ok(false);
        };
        let want = self.plain_left.min(CHUNK) as usize;
        let last = self.plain_left <= CHUNK;
        // Only the first fill of the buffer zeroes it: later ones shrink it from a chunk
        // and its tag.
        self.out.resize(want, 0);
        let n = read_full(&mut self.src, &mut self.out)?;
        if n < want {
            return Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "the file shrank while it was being encrypted",
            ));
        }
        self.plain_left -= n as u64;
        if last && read_full(&mut self.src, &mut [0u8; 1])? > 0 {
            return Err(io::Error::new(
                io::ErrorKind::InvalidData,
                "the file grew while it was being encrypted",
            ));
        }
        payload.seal_next(&mut self.out, last)?;
        if last {
            self.payload = None;
        }
        self.pos = 0;
        Ok(true)
    }
}

impl<R: Read> Read for EncryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        while self.pos == self.out.len() {
            if !self.refill()? {
                return Ok(0);
            }
        }
        let n = buf.len().min(self.out.len() - self.pos);
        buf[..n].copy_from_slice(&self.out[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

/// Read until `buf` is full or the source ends.
fn read_full(src: &mut impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut n = 0;
    while n < buf.len() {
        match src.read(&mut buf[n..]) {
            Ok(0) => break,
            Ok(k) => n += k,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(n)
}

/// The object's source, noting whether an error came from it (the network, the disk) rather
/// than from decryption.
struct Source<R> {
    inner: R,
    failed: Arc<AtomicBool>,
}

impl<R: Read> Read for Source<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        self.inner.read(buf).inspect_err(|e| {
            if e.kind() != io::ErrorKind::Interrupted {
                self.failed.store(true, Ordering::Relaxed);
            }
        })
    }
}

/// A `Read` of plaintext over a `Read` of the object. Errors about the content are
/// `io::Error`s of kind `InvalidData` carrying a [`ContentError`] ([`ContentError::from_io`]);
/// errors of the source pass through unchanged, so a dropped connection stays transient.
pub struct DecryptingReader<R> {
    inner: Opened<R>,
    failed: Arc<AtomicBool>,
    object: String,
}

/// How an object's payload is read.
enum Opened<R> {
    /// pail's own objects: the header opened by age, the payload by ring.
    Fixed(open::OpenPayload<Source<R>>),
    /// Any other age file (another writer's header): age's reader throughout.
    Age(Box<age::stream::StreamReader<AgeInput<R>>>),
}

/// What age's reader reads: the header bytes already read, then the rest of the object.
type AgeInput<R> = BufReader<io::Chain<io::Cursor<Vec<u8>>, Source<R>>>;

impl<R> std::fmt::Debug for DecryptingReader<R> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "DecryptingReader({})", self.object)
    }
}

impl<R: Read> DecryptingReader<R> {
    /// Read the object's header from `src` and open it with the prefix's key. `object` names
    /// the object in errors (its key in the bucket, or the path it stands for).
    pub fn new(key: &PrefixKey, object: &str, src: R) -> Result<Self, ContentError> {
        let failed = Arc::new(AtomicBool::new(false));
        let mut source = Source {
            inner: src,
            failed: failed.clone(),
        };
        let damaged = |detail: String| ContentError::Damaged {
            object: object.to_owned(),
            detail,
        };
        let refused = |e: age::DecryptError| match e {
            age::DecryptError::NoMatchingKeys => ContentError::WrongKey {
                object: object.to_owned(),
            },
            e => damaged(format!("its header: {e}")),
        };
        let transport = |source: io::Error| ContentError::Io {
            object: object.to_owned(),
            source,
        };
        let mut head = vec![0u8; OVERHEAD as usize];
        let got = read_full(&mut source, &mut head).map_err(transport)?;
        head.truncate(got);
        let opened = match open::open_header(key, &head).map_err(refused)? {
            Some(payload_key) => Opened::Fixed(open::OpenPayload::new(source, &payload_key)),
            None => {
                // The header is parsed from a small buffer; chunk reads (64 KiB) bypass it.
                let whole = io::Cursor::new(head).chain(source);
                let buffered = BufReader::with_capacity(8 * 1024, whole);
                let decryptor = match age::Decryptor::new_buffered(buffered) {
                    Ok(d) => d,
                    Err(age::DecryptError::Io(e)) if failed.load(Ordering::Relaxed) => {
                        return Err(transport(e));
                    }
                    Err(e) => return Err(damaged(format!("its header: {e}"))),
                };
                let reader = decryptor
                    .decrypt(iter::once(key.identity() as _))
                    .map_err(refused)?;
                Opened::Age(Box::new(reader))
            }
        };
        Ok(DecryptingReader {
            inner: opened,
            failed,
            object: object.to_owned(),
        })
    }
}

impl<R: Read> Read for DecryptingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = match &mut self.inner {
            Opened::Fixed(r) => r.read(buf),
            Opened::Age(r) => r.read(buf),
        };
        read.map_err(|e| {
            if self.failed.load(Ordering::Relaxed) {
                e
            } else {
                ContentError::Damaged {
                    object: self.object.clone(),
                    detail: e.to_string(),
                }
                .into_io()
            }
        })
    }
}

/// What [`decrypt`] wrote.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Decrypted {
    /// Plaintext bytes written.
    pub len: u64,
    /// The keyed content hash of those bytes ([`PrefixKey::content_hasher`]).
    pub hash: ContentHash,
}

/// Decrypt the object read from `src` into `dst`, hashing the plaintext on the way. `Ok` only
/// once the whole object is verified; on `Err`, whatever reached `dst` must be thrown away.
pub fn decrypt<R: Read, W: Write>(
    key: &PrefixKey,
    object: &str,
    src: R,
    mut dst: W,
) -> Result<Decrypted, ContentError> {
    let mut reader = DecryptingReader::new(key, object, src)?;
    let mut hasher = key.content_hasher();
    let mut buf = vec![0u8; CHUNK as usize];
    let mut len = 0u64;
    let io_err = |source: io::Error| match ContentError::from_io(&source) {
        Some(ContentError::Damaged { object, detail }) => ContentError::Damaged {
            object: object.clone(),
            detail: detail.clone(),
        },
        _ => ContentError::Io {
            object: object.to_owned(),
            source,
        },
    };
    loop {
        let n = match reader.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(io_err(e)),
        };
        hasher.update(&buf[..n]);
        dst.write_all(&buf[..n]).map_err(io_err)?;
        len += n as u64;
    }
    dst.flush().map_err(io_err)?;
    Ok(Decrypted {
        len,
        hash: ContentHash(*hasher.finalize().as_bytes()),
    })
}

/// Check the binding tag of a downloaded object against the path it was read for and the
/// keyed hash of its plaintext ([`Decrypted::hash`]).
pub fn check_binding(
    key: &PrefixKey,
    object: &str,
    rel_path: &str,
    hash: &ContentHash,
    tag: Option<&str>,
) -> Result<(), ContentError> {
    match tag {
        Some(tag) if key.binding_matches(rel_path, hash, tag) => Ok(()),
        _ => Err(ContentError::BindingMismatch {
            object: object.to_owned(),
        }),
    }
}
