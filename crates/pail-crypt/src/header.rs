//! The age header of pail's objects, at a fixed length.
//!
//! age's `Encryptor` adds a "grease" stanza of random length to every X25519 header (to keep
//! parsers honest), so its files have no length computable in advance. pail needs one: the
//! Content-Length of a PUT, the parts of a multipart upload and a file's size from a listing
//! all come from the plaintext size. So pail lets age build the header (its X25519 stanza,
//! its payload nonce and key schedule), takes the file key as age wraps it, and writes the
//! header again without the grease stanza, with the header MAC recomputed as the age spec
//! defines it (HMAC-SHA-256 under HKDF-SHA-256(file key, "header") over the header up to
//! and including `---`). Grease is optional for writers; every age reader accepts the
//! result, the stock `age` tool included (tests/interop.rs).
//!
//! The payload is then pail's to write ([`Payload`]): age's STREAM as the spec defines it,
//! each chunk sealed in place in the caller's buffer, where age's writer would copy every
//! chunk three times (into its chunk buffer, into a new ciphertext `Vec`, into the sink).

use std::collections::HashSet;
use std::io::{self, Write};
use std::iter;
use std::sync::{Arc, Mutex};

use age::secrecy::ExposeSecret;
use age_core::format::{FileKey, Stanza};
use chacha20poly1305::{AeadInPlace, ChaCha20Poly1305, KeyInit};
use data_encoding::BASE64_NOPAD;
use hmac::{Hmac, Mac};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::key::PrefixKey;

/// `age-encryption.org/v1\n` (22) + `-> X25519 <43>\n` (54) + `<43>\n` (44) +
/// `--- <43>\n` (48).
pub(crate) const HEADER_LEN: u64 = 168;
/// The payload nonce that follows the header.
pub(crate) const NONCE_LEN: u64 = 16;

const VERSION_LINE: &[u8] = b"age-encryption.org/v1\n";

/// A shared byte buffer: where age's writer puts the header it makes.
#[derive(Clone, Default)]
struct Sink(Arc<Mutex<Vec<u8>>>);

impl Write for Sink {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.lock().expect("sink lock").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// Wraps the prefix's X25519 recipient and keeps a copy of the file key it is given.
struct Capturing<'a> {
    inner: &'a age::x25519::Recipient,
    file_key: Mutex<Option<Zeroizing<[u8; 16]>>>,
}

impl age::Recipient for Capturing<'_> {
    fn wrap_file_key(
        &self,
        file_key: &FileKey,
    ) -> Result<(Vec<Stanza>, HashSet<String>), age::EncryptError> {
        *self.file_key.lock().expect("capture lock") =
            Some(Zeroizing::new(*file_key.expose_secret()));
        self.inner.wrap_file_key(file_key)
    }
}

/// The payload of one age file: ChaCha20-Poly1305 under HKDF-SHA-256(salt = the payload
/// nonce, ikm = the file key, "payload"), chunk `i`'s nonce the 11-byte big-endian counter
/// `i` and a last-chunk byte (1 on the final chunk only), as age's `stream` module and the
/// spec (<https://c2sp.org/age#payload>) define it.
pub(crate) struct Payload {
    aead: ChaCha20Poly1305,
    counter: u64,
    done: bool,
}

impl Payload {
    /// Seal the next chunk in place: `buf` holds its plaintext (at most 64 KiB, a full
    /// chunk unless `last`) and gets its 16-byte tag appended.
    pub(crate) fn seal_next(&mut self, buf: &mut Vec<u8>, last: bool) -> io::Result<()> {
        if self.done {
            return Err(io::Error::other("the last chunk has been sealed"));
        }
        let mut nonce = [0u8; 12];
        nonce[3..11].copy_from_slice(&self.counter.to_be_bytes());
        nonce[11] = u8::from(last);
        let tag = self
            .aead
            .encrypt_in_place_detached(&nonce.into(), &[], &mut buf[..])
            .map_err(|_| io::Error::other("ChaCha20-Poly1305 refused a 64 KiB chunk"))?;
        buf.extend_from_slice(&tag);
        self.counter += 1;
        self.done = last;
        Ok(())
    }
}

/// Start an age file to the prefix's recipient: the fixed-length header and the payload
/// nonce, and the payload's cipher.
pub(crate) fn start(key: &PrefixKey) -> (Vec<u8>, Payload) {
    let sink = Sink::default();
    let (writer, file_key) = start_age(key, sink.clone());
    // age's own writer is dropped unused: it has written the header, and writes no chunk.
    drop(writer);
    let head = std::mem::take(&mut *sink.0.lock().expect("sink lock"));
    let nonce = &head[HEADER_LEN as usize..];
    let payload_key = Zeroizing::new(age_core::primitives::hkdf(nonce, b"payload", &file_key[..]));
    let payload = Payload {
        aead: ChaCha20Poly1305::new((&*payload_key).into()),
        counter: 0,
        done: false,
    };
    (head, payload)
}

/// age's writer over `sink`, with the sink holding exactly the fixed-length header and the
/// nonce, and the file key.
fn start_age(
    key: &PrefixKey,
    sink: Sink,
) -> (age::stream::StreamWriter<Sink>, Zeroizing<[u8; 16]>) {
    let capture = Capturing {
        inner: key.age_recipient(),
        file_key: Mutex::new(None),
    };
    let encryptor = age::Encryptor::with_recipients(iter::once(&capture as _))
        .expect("one X25519 recipient is always a valid set");
    let writer = encryptor
        .wrap_output(sink.clone())
        .expect("writing to memory");
    let file_key = capture
        .file_key
        .into_inner()
        .expect("capture lock")
        .expect("age wraps the file key for its one recipient");
    let mut buf = sink.0.lock().expect("sink lock");
    let canonical = canonical(&buf, &file_key);
    *buf = canonical;
    drop(buf);
    (writer, file_key)
}

/// age's header + nonce rewritten without the grease stanza.
fn canonical(written: &[u8], file_key: &[u8; 16]) -> Vec<u8> {
    // What age writes for one X25519 recipient: the version line, the X25519 stanza (its
    // argument line and a one-line body: a 32-byte wrapped key is 43 base64 characters),
    // then the grease stanza, then `--- MAC`, then the 16-byte nonce.
    let mut lines = written.split_inclusive(|&b| b == b'\n');
    let version = lines.next().expect("age writes a version line");
    let stanza = lines.next().expect("age writes the X25519 stanza");
    let body = lines.next().expect("age writes the X25519 stanza's body");
    assert_eq!(version, VERSION_LINE, "age writes v1 headers");
    assert!(stanza.starts_with(b"-> X25519 ") && stanza.len() == 54);
    assert_eq!(body.len(), 44, "one 43-character body line");
    let end = written
        .windows(5)
        .position(|w| w == b"\n--- ")
        .expect("age ends its header with the MAC line");
    let after_mac = end
        + 1
        + written[end + 1..]
            .iter()
            .position(|&b| b == b'\n')
            .expect("the MAC line ends with a newline")
        + 1;
    let nonce = &written[after_mac..];
    assert_eq!(nonce.len() as u64, NONCE_LEN, "the payload nonce follows");

    let mut out = Vec::with_capacity((HEADER_LEN + NONCE_LEN) as usize);
    out.extend_from_slice(version);
    out.extend_from_slice(stanza);
    out.extend_from_slice(body);
    out.extend_from_slice(b"---");
    let mac_key = Zeroizing::new(age_core::primitives::hkdf(&[], b"header", file_key));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key[..]).expect("any key length");
    mac.update(&out);
    out.push(b' ');
    out.extend_from_slice(BASE64_NOPAD.encode(&mac.finalize().into_bytes()).as_bytes());
    out.push(b'\n');
    debug_assert_eq!(out.len() as u64, HEADER_LEN);
    out.extend_from_slice(nonce);
    out
}
