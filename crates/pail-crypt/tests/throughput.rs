//! Encryption's cost, measured (not asserted: machines differ). Run with an optimised build:
//! `cargo test -p pail-crypt --profile profiling --test throughput -- --ignored --nocapture`.

use std::io::{Cursor, Read};
use std::time::Instant;

use pail_crypt::{PrefixKey, content};

#[test]
#[ignore = "a measurement: run by hand with an optimised build"]
fn throughput() {
    let key = PrefixKey::generate();
    let size = 256 << 20;
    let plain: Vec<u8> = (0..size).map(|i| (i * 13) as u8).collect();

    let t = Instant::now();
    let h = blake3::hash(&plain);
    let plain_hash = t.elapsed();

    // Into memory already touched, as a multipart upload's reused part buffers are: the
    // encryption and its one copy, not page faults.
    let len = content::ciphertext_len(size as u64);
    let mut obj = vec![1u8; len as usize];
    obj.clear();
    let t = Instant::now();
    let mut r = content::EncryptingReader::new(&key, Cursor::new(&plain[..]), size as u64);
    while r.read_into(&mut obj, 8 << 20).unwrap() > 0 {}
    let enc = t.elapsed();
    assert_eq!(obj.len() as u64, len);

    let t = Instant::now();
    let d = content::decrypt(&key, "k", &obj[..], std::io::sink()).unwrap();
    let dec = t.elapsed();
    assert_eq!(d.len, size as u64);
    let _ = h;

    let mb = size as f64 / (1 << 20) as f64;
    println!(
        "256 MiB: blake3 {:.0} MiB/s, encrypt {:.0} MiB/s, decrypt+keyed hash {:.0} MiB/s",
        mb / plain_hash.as_secs_f64(),
        mb / enc.as_secs_f64(),
        mb / dec.as_secs_f64()
    );

    // age's own writer into a sink: the ceiling for the reader above.
    let t = Instant::now();
    let r = age::x25519::Identity::generate().to_public();
    let e = age::Encryptor::with_recipients(std::iter::once(&r as _)).unwrap();
    let mut w = e.wrap_output(std::io::sink()).unwrap();
    std::io::Write::write_all(&mut w, &plain).unwrap();
    w.finish().unwrap();
    println!(
        "age's writer alone: {:.0} MiB/s",
        mb / t.elapsed().as_secs_f64()
    );

    let small = vec![7u8; 4096];
    let t = Instant::now();
    for _ in 0..10_000 {
        let mut r = content::EncryptingReader::new(&key, Cursor::new(&small[..]), 4096);
        let mut o = Vec::new();
        r.read_to_end(&mut o).unwrap();
    }
    println!("10,000 objects of 4 KiB: {:?} to encrypt", t.elapsed());
}
