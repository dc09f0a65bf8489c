//! Opening pail's own objects: the header by age's parser, with the prefix's identity, the
//! payload by ring's ChaCha20-Poly1305, the inverse of [`crate::header`]'s writer.
//!
//! age's reader opens any age file, but its ChaCha20-Poly1305 (RustCrypto) runs at half of
//! ring's speed, and at less than half again in the release profile, which is built for size
//! (bench/README.md: 440 MiB/s there). So an object whose header is laid out as pail writes
//! them (exactly [`HEADER_LEN`] bytes) has its header checked by age, which also unwraps its
//! file key, and its payload opened here; any other age file (another writer's, with age's
//! grease stanza or several recipients) is left to age's reader (`content.rs`).

use std::io::{self, Read};
use std::sync::Mutex;

use age::secrecy::ExposeSecret;
use age_core::primitives::hkdf;
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use zeroize::Zeroizing;

use crate::content::{CHUNK, TAG_LEN};
use crate::header::{HEADER_LEN, NONCE_LEN, VERSION_LINE, chunk_nonce};
use crate::key::PrefixKey;

/// Opens the header of an object written as pail writes them (the version line, one X25519
/// stanza, the MAC line: [`HEADER_LEN`] bytes, then the nonce) with age's own parser and the
/// prefix's identity, so the stanza, the MAC and every check are age's, and keeps the file
/// key age unwraps: the payload key is derived from it as age derives it, and the payload is
/// opened with ring ([`OpenPayload`]), at twice the speed of age's reader. `Ok(None)`: `head`
/// is not a header of that length (another writer's file: age's reader opens it).
pub(crate) fn open_header(
    key: &PrefixKey,
    head: &[u8],
) -> Result<Option<Zeroizing<[u8; 32]>>, age::DecryptError> {
    let fixed = head.len() as u64 == HEADER_LEN + NONCE_LEN
        && head.starts_with(VERSION_LINE)
        && &head[120..124] == b"--- "
        && head[167] == b'\n';
    if !fixed {
        return Ok(None);
    }
    let capture = CapturingIdentity {
        inner: key.identity(),
        file_key: Mutex::new(None),
    };
    let mut rest = head;
    // A header age cannot parse from these bytes alone (one longer than pail's, or
    // damaged): age's reader over the whole object says which.
    let Ok(decryptor) = age::Decryptor::new_buffered(&mut rest) else {
        return Ok(None);
    };
    // Ok only when the header's MAC verified under the unwrapped file key.
    drop(decryptor.decrypt(std::iter::once(&capture as &dyn age::Identity))?);
    // The header and the nonce took exactly `head`: a shorter header (other stanzas
    // before a `---` line) leaves bytes here, and the payload does not start where assumed.
    if !rest.is_empty() {
        return Ok(None);
    }
    let file_key = capture
        .file_key
        .into_inner()
        .unwrap_or_else(|e| e.into_inner())
        .ok_or(age::DecryptError::NoMatchingKeys)?;
    let nonce = &head[HEADER_LEN as usize..];
    Ok(Some(Zeroizing::new(hkdf(nonce, b"payload", &file_key[..]))))
}

/// The prefix's identity, keeping a copy of the file key it unwraps.
struct CapturingIdentity<'a> {
    inner: &'a age::x25519::Identity,
    file_key: Mutex<Option<Zeroizing<[u8; 16]>>>,
}

impl age::Identity for CapturingIdentity<'_> {
    fn unwrap_stanza(
        &self,
        stanza: &age_core::format::Stanza,
    ) -> Option<Result<age_core::format::FileKey, age::DecryptError>> {
        let unwrapped = self.inner.unwrap_stanza(stanza);
        if let Some(Ok(k)) = &unwrapped {
            *self.file_key.lock().unwrap_or_else(|e| e.into_inner()) =
                Some(Zeroizing::new(*k.expose_secret()));
        }
        unwrapped
    }
}

/// A sealed chunk: 64 KiB of plaintext and its tag.
const SEALED: usize = (CHUNK + TAG_LEN) as usize;

/// The payload of an age file as plaintext, opened chunk by chunk in place with ring's
/// ChaCha20-Poly1305 ([`Payload`]'s inverse). A chunk is the last one when the object ends
/// right after it (one byte is read ahead to know); every refusal of the spec is an
/// `InvalidData` error: a chunk that does not authenticate (flipped bits, another key, a
/// reordered or truncated stream: the nonce carries the chunk's number and whether it is the
/// last), an object that ends within a tag, an empty last chunk after others, bytes after
/// the last chunk (they make a full chunk look not last, and the real last one then fails).
pub(crate) struct OpenPayload<R> {
    src: R,
    aead: LessSafeKey,
    counter: u64,
    /// Ciphertext: the current chunk (opened in place) and what was read ahead of it, in
    /// `buf[..filled]`. Allocated and zeroed once, for a sealed chunk and one byte.
    buf: Box<[u8]>,
    filled: usize,
    /// The current chunk's plaintext is `buf[pos..plain_end]`; it takes `chunk_len` bytes.
    pos: usize,
    plain_end: usize,
    chunk_len: usize,
    done: bool,
}

impl<R: Read> OpenPayload<R> {
    pub(crate) fn new(src: R, payload_key: &[u8; 32]) -> Self {
        OpenPayload {
            src,
            aead: LessSafeKey::new(
                UnboundKey::new(&CHACHA20_POLY1305, payload_key).expect("a 32-byte key"),
            ),
            counter: 0,
            buf: vec![0u8; SEALED + 1].into_boxed_slice(),
            filled: 0,
            pos: 0,
            plain_end: 0,
            chunk_len: 0,
            done: false,
        }
    }

    /// Open the next chunk; false after the last.
    fn next_chunk(&mut self) -> io::Result<bool> {
        if self.done {
            return Ok(false);
        }
        // The byte read ahead of the previous chunk moves to the front.
        self.buf.copy_within(self.chunk_len..self.filled, 0);
        self.filled -= self.chunk_len;
        (self.pos, self.plain_end, self.chunk_len) = (0, 0, 0);
        // A whole sealed chunk and one byte more, or up to the end.
        while self.filled <= SEALED {
            match self.src.read(&mut self.buf[self.filled..]) {
                Ok(0) => break,
                Ok(n) => self.filled += n,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        let last = self.filled <= SEALED;
        let len = self.filled.min(SEALED);
        let damaged = |what: String| io::Error::new(io::ErrorKind::InvalidData, what);
        if len < TAG_LEN as usize {
            return Err(damaged(format!(
                "it ends within chunk {}'s tag",
                self.counter
            )));
        }
        if last && len == TAG_LEN as usize && self.counter > 0 {
            return Err(damaged("its last chunk is empty".to_owned()));
        }
        let plain = self
            .aead
            .open_in_place(
                Nonce::assume_unique_for_key(chunk_nonce(self.counter, last)),
                Aad::empty(),
                &mut self.buf[..len],
            )
            .map_err(|_| damaged(format!("chunk {} does not authenticate", self.counter)))?;
        self.plain_end = plain.len();
        self.chunk_len = len;
        self.counter += 1;
        self.done = last;
        Ok(true)
    }
}

impl<R: Read> Read for OpenPayload<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if out.is_empty() {
            return Ok(0);
        }
        while self.pos == self.plain_end {
            if !self.next_chunk()? {
                return Ok(0);
            }
        }
        let n = out.len().min(self.plain_end - self.pos);
        out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::header::start;

    /// The object's payload as ring opens it, or the error.
    fn open(key: &PrefixKey, obj: &[u8]) -> io::Result<Vec<u8>> {
        let head = &obj[..(HEADER_LEN + NONCE_LEN) as usize];
        let pk = open_header(key, head).unwrap().expect("pail's layout");
        let mut out = Vec::new();
        OpenPayload::new(&obj[head.len()..], &pk).read_to_end(&mut out)?;
        Ok(out)
    }

    /// A stream may end with a full chunk marked last, never with an empty chunk after
    /// others (the spec's rule, which age's reader applies too): ring's opener agrees with
    /// age's on both.
    #[test]
    fn the_last_chunk_rules_are_the_specs() {
        let key = PrefixKey::generate();
        let full = vec![5u8; CHUNK as usize];
        // Two chunks, the second full and last.
        let (mut obj, mut payload) = start(&key);
        for _ in 0..2 {
            let mut chunk = full.clone();
            payload.seal_next(&mut chunk, obj.len() > 200).unwrap();
            obj.extend_from_slice(&chunk);
        }
        assert_eq!(open(&key, &obj).unwrap().len(), 2 * CHUNK as usize);
        // A full chunk, then an empty last one.
        let (mut obj, mut payload) = start(&key);
        let mut chunk = full.clone();
        payload.seal_next(&mut chunk, false).unwrap();
        obj.extend_from_slice(&chunk);
        let mut empty = Vec::new();
        payload.seal_next(&mut empty, true).unwrap();
        obj.extend_from_slice(&empty);
        let e = open(&key, &obj).unwrap_err();
        assert_eq!(e.kind(), io::ErrorKind::InvalidData, "{e}");
        let d = age::Decryptor::new(&obj[..]).unwrap();
        let mut r = d.decrypt(std::iter::once(key.identity() as _)).unwrap();
        assert!(
            r.read_to_end(&mut Vec::new()).is_err(),
            "age refuses it too"
        );
        // An empty file: one empty chunk, marked last.
        let (mut obj, mut payload) = start(&key);
        let mut empty = Vec::new();
        payload.seal_next(&mut empty, true).unwrap();
        obj.extend_from_slice(&empty);
        assert_eq!(open(&key, &obj).unwrap(), b"");
    }

    /// Another writer's header (age's own, with its grease stanza) is not taken for pail's:
    /// age's reader opens that file.
    #[test]
    fn other_headers_are_left_to_age() {
        let key = PrefixKey::generate();
        let recipient: age::x25519::Recipient = key.recipient().parse().unwrap();
        let e = age::Encryptor::with_recipients(std::iter::once(&recipient as _)).unwrap();
        let mut obj = Vec::new();
        let mut w = e.wrap_output(&mut obj).unwrap();
        std::io::Write::write_all(&mut w, b"from age").unwrap();
        w.finish().unwrap();
        let head = &obj[..(HEADER_LEN + NONCE_LEN) as usize];
        assert!(open_header(&key, head).unwrap().is_none());
    }

    /// A source that gives a few bytes at a time (a download's body) opens the same.
    #[test]
    fn short_reads_open_the_same() {
        struct Trickle<'a>(&'a [u8]);
        impl Read for Trickle<'_> {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let n = out.len().min(self.0.len()).min(1000);
                out[..n].copy_from_slice(&self.0[..n]);
                self.0 = &self.0[n..];
                Ok(n)
            }
        }
        let key = PrefixKey::generate();
        let plain: Vec<u8> = (0..3 * CHUNK as usize + 7).map(|i| i as u8).collect();
        let mut r = crate::content::EncryptingReader::new(&key, &plain[..], plain.len() as u64);
        let mut obj = Vec::new();
        r.read_to_end(&mut obj).unwrap();
        let head = &obj[..(HEADER_LEN + NONCE_LEN) as usize];
        let pk = open_header(&key, head).unwrap().unwrap();
        let mut out = Vec::new();
        OpenPayload::new(Trickle(&obj[head.len()..]), &pk)
            .read_to_end(&mut out)
            .unwrap();
        assert_eq!(out, plain);
    }
}
