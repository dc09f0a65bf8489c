//! Objects: exact sizes, round trips, and every kind of tampering refused.

use std::io::{Cursor, Read};

use pail_crypt::content::{self, CHUNK, ContentError, OVERHEAD};
use pail_crypt::{PrefixKey, ciphertext_len, plaintext_len};
use proptest::prelude::*;

fn encrypt(key: &PrefixKey, plain: &[u8]) -> Vec<u8> {
    let mut r =
        content::EncryptingReader::new(key, Cursor::new(plain.to_vec()), plain.len() as u64);
    let announced = r.len();
    let mut out = Vec::new();
    r.read_to_end(&mut out).unwrap();
    assert_eq!(
        out.len() as u64,
        announced,
        "announced length for {} bytes",
        plain.len()
    );
    out
}

fn decrypt(key: &PrefixKey, object: &[u8]) -> Result<Vec<u8>, ContentError> {
    let mut out = Vec::new();
    let d = content::decrypt(key, "docs/a.txt", object, &mut out)?;
    assert_eq!(d.len, out.len() as u64);
    assert_eq!(d.hash, key.content_hash(&out));
    Ok(out)
}

fn pattern(n: usize) -> Vec<u8> {
    (0..n).map(|i| (i * 31 + i / 7) as u8).collect()
}

const C: usize = CHUNK as usize;
const SIZES: &[usize] = &[
    0,
    1,
    15,
    16,
    17,
    1000,
    C - 1,
    C,
    C + 1,
    2 * C - 1,
    2 * C,
    2 * C + 1,
    3 * C,
    3 * C + 7,
    10 * C + 12345,
];

#[test]
fn ciphertext_len_is_exact_for_real_output() {
    let key = PrefixKey::generate();
    for &n in SIZES {
        let plain = pattern(n);
        // Several objects of the same size: the header never varies (no grease stanza).
        for _ in 0..4 {
            let obj = encrypt(&key, &plain);
            assert_eq!(obj.len() as u64, ciphertext_len(n as u64), "size {n}");
            assert_eq!(
                plaintext_len(obj.len() as u64),
                Some(n as u64),
                "inverse of size {n}"
            );
            assert_eq!(
                decrypt(&key, &obj).unwrap(),
                plain,
                "round trip of size {n}"
            );
        }
    }
}

#[test]
fn ciphertext_len_table() {
    // header 168 + nonce 16 + one tag per 64 KiB chunk (at least one).
    let cases = [
        (0u64, 200u64),
        (1, 201),
        (65_535, 65_735),
        (65_536, 65_736),
        (65_537, 65_753),
        (3 * 65_536, 3 * 65_536 + 184 + 48),
        (1 << 30, (1 << 30) + 184 + 16 * 16_384),
    ];
    for (plain, cipher) in cases {
        assert_eq!(ciphertext_len(plain), cipher, "plaintext {plain}");
        assert_eq!(plaintext_len(cipher), Some(plain), "ciphertext {cipher}");
    }
    assert_eq!(OVERHEAD, 184);
}

#[test]
fn impossible_sizes_have_no_plaintext() {
    for c in [0, 1, 183, 184, 199, 65_736 + 1, 65_736 + 16] {
        assert_eq!(plaintext_len(c), None, "ciphertext {c}");
    }
}

proptest! {
    // Few cases: each round trip encrypts and decrypts up to 200 KB in a debug build.
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn lengths_invert(plain in 0u64..(1 << 40)) {
        prop_assert_eq!(plaintext_len(ciphertext_len(plain)), Some(plain));
    }

    #[test]
    fn inverse_is_consistent(cipher in 0u64..(1 << 24)) {
        if let Some(p) = plaintext_len(cipher) {
            prop_assert_eq!(ciphertext_len(p), cipher);
        }
    }

    #[test]
    fn round_trip_random_content(
        plain in prop::collection::vec(any::<u8>(), 0..(3 * C + 100)),
        read_size in 1usize..100_000,
    ) {
        let key = PrefixKey::generate();
        // Read the object in odd-sized pieces, as an uploader cutting parts would.
        let mut r = content::EncryptingReader::new(&key, Cursor::new(plain.clone()), plain.len() as u64);
        let mut obj = Vec::new();
        let mut buf = vec![0u8; read_size];
        loop {
            let n = r.read(&mut buf).unwrap();
            if n == 0 { break; }
            obj.extend_from_slice(&buf[..n]);
        }
        prop_assert_eq!(obj.len() as u64, ciphertext_len(plain.len() as u64));
        prop_assert_eq!(decrypt(&key, &obj).unwrap(), plain);
    }

    #[test]
    fn parts_cut_with_read_into_make_the_object(
        plain in prop::collection::vec(any::<u8>(), 0..(3 * C + 100)),
        part in 1u64..200_000,
    ) {
        let key = PrefixKey::generate();
        // As a multipart upload cuts them: each part appended to a (reused) buffer.
        let mut r = content::EncryptingReader::new(&key, Cursor::new(plain.clone()), plain.len() as u64);
        let total = r.len();
        let (mut obj, mut p) = (Vec::new(), b"left over".to_vec());
        loop {
            p.clear();
            let n = r.read_into(&mut p, part).unwrap();
            prop_assert_eq!(n, p.len());
            if n == 0 { break; }
            // Every part is full but the last.
            prop_assert!(n as u64 == part || obj.len() + n == total as usize);
            obj.extend_from_slice(&p);
        }
        prop_assert_eq!(obj.len() as u64, total);
        prop_assert_eq!(decrypt(&key, &obj).unwrap(), plain);
    }
}

fn assert_damaged(r: Result<Vec<u8>, ContentError>, what: &str) {
    match r {
        Err(e @ (ContentError::Damaged { .. } | ContentError::WrongKey { .. })) => {
            let msg = e.to_string();
            assert!(
                msg.contains("docs/a.txt") && msg.contains("not placed"),
                "{what}: {msg}"
            );
        }
        other => panic!(
            "{what}: expected a refusal, got {:?}",
            other.map(|v| v.len())
        ),
    }
}

#[test]
fn a_flipped_bit_anywhere_is_refused() {
    let key = PrefixKey::generate();
    let plain = pattern(2 * C + 500);
    let obj = encrypt(&key, &plain);
    // Every byte of the header and nonce, and a spread of bytes in each chunk and tag.
    let mut positions: Vec<usize> = (0..OVERHEAD as usize).collect();
    positions.extend((OVERHEAD as usize..obj.len()).step_by(997));
    positions.extend([
        obj.len() - 1,
        obj.len() - 16,
        OVERHEAD as usize + C + 16,
        OVERHEAD as usize + C + 15,
    ]);
    for pos in positions {
        let mut bad = obj.clone();
        bad[pos] ^= 0x01;
        assert_damaged(decrypt(&key, &bad), &format!("bit flipped at {pos}"));
    }
}

#[test]
fn truncation_and_appended_bytes_are_refused() {
    let key = PrefixKey::generate();
    for n in [0, 100, C, 2 * C, 2 * C + 3] {
        let obj = encrypt(&key, &pattern(n));
        let boundaries = [OVERHEAD as usize + C + 16, OVERHEAD as usize];
        for cut in [obj.len() - 1, obj.len() - 17, 100, 0]
            .into_iter()
            .chain(boundaries)
        {
            if cut < obj.len() {
                assert_damaged(
                    decrypt(&key, &obj[..cut]),
                    &format!("size {n} cut at {cut}"),
                );
            }
        }
        for extra in [&b"x"[..], &[0u8; 16][..], &obj[OVERHEAD as usize..]] {
            let mut longer = obj.clone();
            longer.extend_from_slice(extra);
            assert_damaged(
                decrypt(&key, &longer),
                &format!("size {n} + {} bytes", extra.len()),
            );
        }
    }
}

#[test]
fn another_keys_object_is_refused() {
    let ours = PrefixKey::generate();
    let theirs = PrefixKey::generate();
    let obj = encrypt(&theirs, b"someone else's file");
    match decrypt(&ours, &obj) {
        Err(ContentError::WrongKey { object }) => assert_eq!(object, "docs/a.txt"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn swapped_objects_fail_the_binding_tag() {
    let key = PrefixKey::generate();
    let a = key.content_hash(b"content of a");
    let b = key.content_hash(b"content of b");
    let tag_a = key.binding_tag("dir/a.txt", &a);
    content::check_binding(&key, "P/dir/a.txt", "dir/a.txt", &a, Some(&tag_a)).unwrap();
    // Object a (with its metadata) copied over b's key.
    let e = content::check_binding(&key, "P/dir/b.txt", "dir/b.txt", &a, Some(&tag_a)).unwrap_err();
    assert!(matches!(e, ContentError::BindingMismatch { .. }));
    assert!(e.to_string().contains("P/dir/b.txt") && e.to_string().contains("not placed"));
    // Metadata of a with the content of b.
    assert!(content::check_binding(&key, "k", "dir/a.txt", &b, Some(&tag_a)).is_err());
    // No tag, a malformed tag, another key's tag.
    assert!(content::check_binding(&key, "k", "dir/a.txt", &a, None).is_err());
    assert!(content::check_binding(&key, "k", "dir/a.txt", &a, Some("zz")).is_err());
    let other = PrefixKey::generate().binding_tag("dir/a.txt", &a);
    assert!(content::check_binding(&key, "k", "dir/a.txt", &a, Some(&other)).is_err());
    // Length prefix: ("ab", h) and ("a", "b"||h) cannot collide by construction.
    assert_ne!(key.binding_tag("ab", &a), key.binding_tag("a", &a));
}

#[test]
fn a_file_that_changes_under_the_upload_is_an_error() {
    let key = PrefixKey::generate();
    let plain = pattern(C + 10);
    // Announced shorter than it is: grew.
    let mut r = content::EncryptingReader::new(&key, Cursor::new(plain.clone()), 100);
    let e = r.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::InvalidData);
    // Announced longer: shrank.
    let mut r = content::EncryptingReader::new(&key, Cursor::new(plain), 3 * CHUNK);
    let e = r.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::UnexpectedEof);
}

#[test]
fn source_errors_pass_through_as_transport_errors() {
    struct Failing(usize);
    impl Read for Failing {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0 == 0 {
                return Err(std::io::Error::new(
                    std::io::ErrorKind::ConnectionReset,
                    "reset",
                ));
            }
            let n = buf.len().min(self.0);
            buf[..n].fill(0);
            self.0 -= n;
            Ok(n)
        }
    }
    let key = PrefixKey::generate();
    let obj = encrypt(&key, &pattern(3 * C));
    // The connection drops in the second chunk.
    struct Prefix<'a>(&'a [u8], Failing);
    impl Read for Prefix<'_> {
        fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
            if self.0.is_empty() {
                return self.1.read(buf);
            }
            let n = buf.len().min(self.0.len());
            buf[..n].copy_from_slice(&self.0[..n]);
            self.0 = &self.0[n..];
            Ok(n)
        }
    }
    let src = Prefix(&obj[..C + 1000], Failing(0));
    match content::decrypt(&key, "k", src, std::io::sink()) {
        Err(ContentError::Io { source, .. }) => {
            assert_eq!(source.kind(), std::io::ErrorKind::ConnectionReset)
        }
        other => panic!("{other:?}"),
    }
    let mut r =
        content::DecryptingReader::new(&key, "k", Prefix(&obj[..C + 1000], Failing(0))).unwrap();
    let e = r.read_to_end(&mut Vec::new()).unwrap_err();
    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionReset);
    assert!(ContentError::from_io(&e).is_none());
    // Whereas damage is InvalidData carrying the ContentError.
    let mut bad = obj.clone();
    bad[OVERHEAD as usize + C + 100] ^= 1;
    let mut r = content::DecryptingReader::new(&key, "k", &bad[..]).unwrap();
    let e = r.read_to_end(&mut Vec::new()).unwrap_err();
    assert!(matches!(
        ContentError::from_io(&e),
        Some(ContentError::Damaged { .. })
    ));
}
