//! The age header of pail's objects, at a fixed length, and their payload.
//!
//! pail writes the header itself rather than through age's `Encryptor`, for two reasons:
//! - **A length known in advance.** age adds a "grease" stanza of random length to every
//!   X25519 header (to keep parsers honest), so its files have no computable length. pail
//!   needs one: the Content-Length of a PUT, the parts of a multipart upload and a file's size
//!   from a listing all come from the plaintext size. Grease is optional for writers.
//! - **Speed.** The X25519 stanza costs two scalar multiplications per object, one of them by
//!   the prefix's recipient, which is the same point for every object. pail multiplies by it
//!   with a table precomputed once per key ([`PrefixKey::recipient_table`]), a third of the
//!   Montgomery ladder's cost: 10,000 small files spend about 0.25 s less.
//!
//! The header is exactly what the spec (<https://c2sp.org/age>) defines for one X25519
//! recipient, built from age's own primitives (`age_core::primitives`): the stanza
//! `-> X25519 base64(epk)` with the file key sealed under HKDF-SHA-256(salt = epk ‖ recipient,
//! ikm = the shared secret, "age-encryption.org/v1/X25519"), then `---` and the MAC,
//! HMAC-SHA-256 under HKDF-SHA-256(ikm = file key, "header") over everything before it. Every
//! age reader accepts it: the stock `age` tool (tests/interop.rs) and the age crate, which
//! decrypts every object pail reads.
//!
//! The payload is then pail's to write ([`Payload`]): age's STREAM as the spec defines it,
//! each chunk sealed in place in the caller's buffer, where age's writer would copy every
//! chunk three times (into its chunk buffer, into a new ciphertext `Vec`, into the sink).
//! The cipher is ring's ChaCha20-Poly1305 (already in pail for TLS): its assembly seals at
//! about twice the speed of the RustCrypto crate age uses. `open.rs` is the reverse.

use std::io;

use age_core::primitives::{aead_encrypt, hkdf};
use curve25519_dalek::edwards::EdwardsPoint;
use curve25519_dalek::traits::BasepointTable;
use data_encoding::BASE64_NOPAD;
use hmac::{Hmac, Mac};
use ring::aead::{Aad, CHACHA20_POLY1305, LessSafeKey, Nonce, UnboundKey};
use sha2::Sha256;
use zeroize::Zeroizing;

use crate::key::PrefixKey;

/// `age-encryption.org/v1\n` (22) + `-> X25519 <43>\n` (54) + `<43>\n` (44) +
/// `--- <43>\n` (48).
pub(crate) const HEADER_LEN: u64 = 168;
/// The payload nonce that follows the header.
pub(crate) const NONCE_LEN: u64 = 16;

pub(crate) const VERSION_LINE: &[u8] = b"age-encryption.org/v1\n";
/// The HKDF label of the X25519 recipient type (the spec's, and age's).
const X25519_LABEL: &[u8] = b"age-encryption.org/v1/X25519";

/// The payload of one age file: ChaCha20-Poly1305 under HKDF-SHA-256(salt = the payload
/// nonce, ikm = the file key, "payload"), chunk `i`'s nonce the 11-byte big-endian counter
/// `i` and a last-chunk byte (1 on the final chunk only), as age's `stream` module and the
/// spec (<https://c2sp.org/age#payload>) define it.
pub(crate) struct Payload {
    aead: LessSafeKey,
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
        // Each counter value seals one chunk of one object, under that object's own key.
        let nonce = Nonce::assume_unique_for_key(chunk_nonce(self.counter, last));
        let tag = self
            .aead
            .seal_in_place_separate_tag(nonce, Aad::empty(), &mut buf[..])
            .map_err(|_| io::Error::other("ChaCha20-Poly1305 refused a 64 KiB chunk"))?;
        buf.extend_from_slice(tag.as_ref());
        self.counter += 1;
        self.done = last;
        Ok(())
    }
}

/// The STREAM nonce of chunk `counter`: the 11-byte big-endian counter, then 1 on the last
/// chunk only.
pub(crate) fn chunk_nonce(counter: u64, last: bool) -> [u8; 12] {
    let mut nonce = [0u8; 12];
    nonce[3..11].copy_from_slice(&counter.to_be_bytes());
    nonce[11] = u8::from(last);
    nonce
}

/// The fresh secrets of one object, from one call to the OS's random source.
struct Secrets(Zeroizing<[u8; 16 + 32 + 16]>);

impl Secrets {
    fn new() -> Self {
        let mut bytes = Zeroizing::new([0u8; 64]);
        // As age: the OS's generator, and no way on without it.
        getrandom::getrandom(&mut bytes[..]).expect("the OS random number generator failed");
        Secrets(bytes)
    }
    /// The object's file key: the spec's 16 bytes.
    fn file_key(&self) -> &[u8; 16] {
        self.0[..16].try_into().expect("16 bytes")
    }
    /// The ephemeral X25519 secret, clamped by the multiplications.
    fn ephemeral(&self) -> [u8; 32] {
        self.0[16..48].try_into().expect("32 bytes")
    }
    /// The payload nonce.
    fn nonce(&self) -> &[u8] {
        &self.0[48..]
    }
}

/// Start an age file to the prefix's recipient: the fixed-length header and the payload
/// nonce, and the payload's cipher.
pub(crate) fn start(key: &PrefixKey) -> (Vec<u8>, Payload) {
    let secrets = Secrets::new();
    let esk = Zeroizing::new(secrets.ephemeral());
    // X25519(esk, basepoint) and X25519(esk, recipient), each as a fixed-base
    // multiplication by a precomputed table, then the Montgomery u-coordinate: the same
    // values x25519-dalek's ladder gives (tests below).
    let epk = EdwardsPoint::mul_base_clamped(*esk).to_montgomery();
    let shared = Zeroizing::new(
        key.recipient_table()
            .mul_base_clamped(*esk)
            .to_montgomery()
            .to_bytes(),
    );
    // As age: an all-zero shared secret means a broken generator (or a low-order
    // recipient, which a key of ours never is); stop rather than write it.
    assert!(
        shared.iter().any(|&b| b != 0),
        "the X25519 shared secret is zero: the OS random number generator is failing"
    );
    let mut salt = [0u8; 64];
    salt[..32].copy_from_slice(epk.as_bytes());
    salt[32..].copy_from_slice(key.recipient_bytes());
    let wrap_key = Zeroizing::new(hkdf(&salt, X25519_LABEL, &shared[..]));
    let wrapped = aead_encrypt(&wrap_key, secrets.file_key());

    let mut out = Vec::with_capacity((HEADER_LEN + NONCE_LEN) as usize);
    out.extend_from_slice(VERSION_LINE);
    out.extend_from_slice(b"-> X25519 ");
    out.extend_from_slice(BASE64_NOPAD.encode(epk.as_bytes()).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(BASE64_NOPAD.encode(&wrapped).as_bytes());
    out.push(b'\n');
    out.extend_from_slice(b"---");
    let mac_key = Zeroizing::new(hkdf(&[], b"header", secrets.file_key()));
    let mut mac = <Hmac<Sha256> as Mac>::new_from_slice(&mac_key[..]).expect("any key length");
    mac.update(&out);
    out.push(b' ');
    out.extend_from_slice(BASE64_NOPAD.encode(&mac.finalize().into_bytes()).as_bytes());
    out.push(b'\n');
    debug_assert_eq!(out.len() as u64, HEADER_LEN);
    out.extend_from_slice(secrets.nonce());

    let payload_key = Zeroizing::new(hkdf(secrets.nonce(), b"payload", secrets.file_key()));
    let payload = Payload {
        aead: LessSafeKey::new(
            UnboundKey::new(&CHACHA20_POLY1305, &payload_key[..]).expect("a 32-byte key"),
        ),
        counter: 0,
        done: false,
    };
    (out, payload)
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use proptest::prelude::*;
    use x25519_dalek::{PublicKey, StaticSecret};

    use super::*;

    proptest! {
        /// The table's multiplication is X25519: the shared secret and the ephemeral public
        /// key are the bytes x25519-dalek's ladder computes, for any secret.
        #[test]
        fn the_stanza_keys_are_x25519(esk in any::<[u8; 32]>()) {
            let key = PrefixKey::generate();
            let recipient = PublicKey::from(*key.recipient_bytes());
            let sk = StaticSecret::from(esk);
            let table = key.recipient_table().mul_base_clamped(esk).to_montgomery();
            prop_assert_eq!(table.to_bytes(), sk.diffie_hellman(&recipient).to_bytes());
            let epk = EdwardsPoint::mul_base_clamped(esk).to_montgomery();
            prop_assert_eq!(epk.to_bytes(), PublicKey::from(&sk).to_bytes());
        }
    }

    /// age's decryptor opens what the hand-built header starts: the stanza, the MAC and the
    /// payload key are the spec's.
    #[test]
    fn age_opens_the_header() {
        let key = PrefixKey::generate();
        let (mut obj, mut payload) = start(&key);
        assert_eq!(obj.len() as u64, HEADER_LEN + NONCE_LEN);
        let mut chunk = b"hello, age".to_vec();
        payload.seal_next(&mut chunk, true).unwrap();
        obj.extend_from_slice(&chunk);
        let d = age::Decryptor::new(&obj[..]).unwrap();
        let mut r = d.decrypt(std::iter::once(key.identity() as _)).unwrap();
        let mut plain = Vec::new();
        r.read_to_end(&mut plain).unwrap();
        assert_eq!(plain, b"hello, age");
    }

    /// Two objects never share a file key, an ephemeral key or a nonce.
    #[test]
    fn every_object_has_fresh_secrets() {
        let key = PrefixKey::generate();
        let (a, _) = start(&key);
        let (b, _) = start(&key);
        assert_ne!(a[22..76], b[22..76], "the ephemeral public keys differ");
        assert_ne!(a[76..120], b[76..120], "the wrapped file keys differ");
        assert_ne!(
            a[HEADER_LEN as usize..],
            b[HEADER_LEN as usize..],
            "the nonces differ"
        );
    }
}
