//! blake3 content hashing of files and buffers.
//!
//! Large files are hashed with `update_rayon` over big read buffers rather than
//! `update_mmap_rayon`: a memory map of a file that another program truncates while it is
//! mapped raises SIGBUS and kills the daemon, and a sync daemon hashes exactly the files users
//! are editing. Reading 4 MiB chunks, the next one by a second thread while the current one is
//! hashed, keeps nearly all of the multi-core speed-up.

use std::fs::File;
use std::io::{self, Read};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

use pail_core::{ContentHash, LocalStat};

use crate::stat::local_stat;

/// From this size on, a file is hashed with rayon (blake3 gains from threads well below this,
/// but small files are better hashed one per thread, in parallel, by the scan).
pub const PARALLEL_HASH_THRESHOLD: u64 = 1 << 20;
/// Read size for large files: large enough for `update_rayon` to split across cores.
const CHUNK: usize = 4 << 20;

/// Streaming hasher producing a [`ContentHash`]. Also an `io::Write`, so downloads can hash
/// while writing.
#[derive(Debug, Clone, Default)]
pub struct Hasher(blake3::Hasher);

impl Hasher {
    pub fn new() -> Hasher {
        Hasher(blake3::Hasher::new())
    }

    pub fn update(&mut self, data: &[u8]) -> &mut Self {
        self.0.update(data);
        self
    }

    pub fn finalize(&self) -> ContentHash {
        ContentHash(*self.0.finalize().as_bytes())
    }
}

impl io::Write for Hasher {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        self.0.update(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> io::Result<()> {
        Ok(())
    }
}

/// How a pair's content hashes are made: plain blake3, or, on an end-to-end encrypted pair,
/// blake3 keyed with the prefix's content-hash key (`pail_crypt::PrefixKey::content_hasher`),
/// so that the bucket's metadata never shows which files are equal. A pair's index holds
/// hashes of one kind only: the scan, uploads and downloads all hash through the same value.
#[derive(Clone, Default)]
pub struct Hashing(Option<blake3::Hasher>);

impl std::fmt::Debug for Hashing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        // Never the key.
        f.write_str(if self.0.is_some() {
            "Hashing(keyed)"
        } else {
            "Hashing(plain)"
        })
    }
}

impl Hashing {
    /// Plain blake3 (a pair without encryption).
    pub fn plain() -> Hashing {
        Hashing(None)
    }

    /// Keyed: `fresh` is a keyed hasher nothing was fed to yet, cloned for every hash.
    pub fn keyed(fresh: blake3::Hasher) -> Hashing {
        Hashing(Some(fresh))
    }

    pub fn is_keyed(&self) -> bool {
        self.0.is_some()
    }

    /// A new hasher of this kind.
    pub fn hasher(&self) -> blake3::Hasher {
        self.0.clone().unwrap_or_default()
    }

    /// The hash of an in-memory buffer.
    pub fn hash_bytes(&self, data: &[u8]) -> ContentHash {
        match &self.0 {
            None => hash_bytes(data),
            Some(h) => ContentHash(*h.clone().update(data).finalize().as_bytes()),
        }
    }
}

/// The hash of an in-memory buffer.
pub fn hash_bytes(data: &[u8]) -> ContentHash {
    ContentHash(*blake3::hash(data).as_bytes())
}

/// A hash together with the file's stat, taken from the same open file before reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StatHash {
    pub stat: LocalStat,
    pub hash: ContentHash,
    /// False when the file's size, mtime or ctime differed after reading: the hash may mix
    /// old and new content and must not be recorded for this stat.
    pub stable: bool,
}

/// Hashes a regular file's content, up to the size it had when opened, and reports whether it
/// stayed unchanged while it was read. Symlinks are not followed and anything that is not a
/// regular file (FIFO, device) is refused rather than read.
pub fn hash_file_checked(path: &Path, hashing: &Hashing) -> io::Result<StatHash> {
    hash_file_checked_observed(path, hashing, &|_| {})
}

/// [`hash_file_checked`], calling `after_read` with the length of each chunk as soon as it is
/// read (a file under [`PARALLEL_HASH_THRESHOLD`] is one chunk): the tests change the file
/// there.
fn hash_file_checked_observed(
    path: &Path,
    hashing: &Hashing,
    after_read: &(dyn Fn(usize) + Sync),
) -> io::Result<StatHash> {
    let (mut file, stat) = open_regular(path)?;
    let hash = hash_open_file(&mut file, stat.size, hashing, after_read)?;
    let after = local_stat(&file.metadata()?);
    Ok(StatHash {
        stat,
        hash,
        stable: after == stat,
    })
}

/// Opens without following a symlink in the last component and without blocking (a FIFO
/// swapped in after the scan's lstat would otherwise block the open forever), then checks
/// through the descriptor that it is a regular file.
fn open_regular(path: &Path) -> io::Result<(File, LocalStat)> {
    let file = File::options()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            "not a regular file",
        ));
    }
    Ok((file, local_stat(&meta)))
}

fn hash_open_file(
    file: &mut File,
    size: u64,
    hashing: &Hashing,
    after_read: &(dyn Fn(usize) + Sync),
) -> io::Result<ContentHash> {
    let mut hasher = hashing.hasher();
    if size > CHUNK as u64 {
        hash_while_reading(file, &mut hasher, after_read)?;
    } else if size >= PARALLEL_HASH_THRESHOLD {
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = read_full(&mut *file, &mut buf)?;
            after_read(n);
            if n == 0 {
                break;
            }
            hasher.update_rayon(&buf[..n]);
        }
    } else {
        // Up to the size from the stat, not to the end: one `read` for a small file. A file
        // that grew meanwhile shows in the stat taken after reading.
        hasher.update_reader(Read::take(&*file, size))?;
        after_read(size as usize);
    }
    Ok(ContentHash(*hasher.finalize().as_bytes()))
}

/// Hashes chunk after chunk while a second thread reads the next one: the copy out of the page
/// cache and the hashing overlap. One after the other, the copy was two fifths of the CPU that
/// hashing a 1 GiB file took, and the hashing threads waited for it (bench/README.md, "Figures
/// at the server's limit (issue 14, 2026-12-01)").
fn hash_while_reading(
    file: &mut File,
    hasher: &mut blake3::Hasher,
    after_read: &(dyn Fn(usize) + Sync),
) -> io::Result<()> {
    use std::sync::mpsc::sync_channel;
    // Two buffers go round: the reader fills one while the hasher works on the other.
    let (to_fill, empty) = sync_channel::<Vec<u8>>(2);
    let (filled, to_hash) = sync_channel::<io::Result<(Vec<u8>, usize)>>(2);
    for _ in 0..2 {
        to_fill
            .send(vec![0u8; CHUNK])
            .expect("the receiver is alive");
    }
    std::thread::scope(|scope| {
        scope.spawn(move || {
            // Ends at the end of the file, on an error, or when the hasher stops taking chunks.
            for mut buf in empty {
                let read = read_full(&mut *file, &mut buf);
                if let Ok(n) = read {
                    after_read(n);
                }
                let last = !matches!(read, Ok(n) if n > 0);
                if filled.send(read.map(|n| (buf, n))).is_err() || last {
                    break;
                }
            }
        });
        // The reader stops by itself after the last chunk or an error; dropping `to_fill` on
        // the way out also ends it if this loop ever stops first.
        let to_fill = to_fill;
        for chunk in to_hash {
            let (buf, n) = chunk?;
            if n == 0 {
                break;
            }
            hasher.update_rayon(&buf[..n]);
            // The reader is gone only after the last chunk: nothing more to read then.
            let _ = to_fill.send(buf);
        }
        Ok(())
    })
}

/// Fills `buf` as far as the file allows and returns how much it filled: each
/// `update_rayon` call gets a whole chunk, and an upload reads exactly the scanned size.
pub fn read_full(mut file: impl Read, buf: &mut [u8]) -> io::Result<usize> {
    let mut filled = 0;
    while filled < buf.len() {
        match file.read(&mut buf[filled..]) {
            Ok(0) => break,
            Ok(n) => filled += n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(filled)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain_hash(path: &Path) -> io::Result<ContentHash> {
        hash_file_checked(path, &Hashing::plain()).map(|h| h.hash)
    }

    #[test]
    fn small_and_large_files_match_blake3_of_their_bytes() {
        let dir = tempfile::tempdir().unwrap();
        // Around the chunk size too: the reader thread's last read is short, or empty.
        let sizes = [
            0,
            1,
            65_537,
            (1 << 20) - 1,
            1 << 20,
            CHUNK,
            CHUNK + 1,
            2 * CHUNK,
        ];
        for size in sizes.into_iter().chain([(9 << 20) + 123]) {
            let data: Vec<u8> = (0..size).map(|i| (i * 31 % 251) as u8).collect();
            let p = dir.path().join(format!("f{size}"));
            std::fs::write(&p, &data).unwrap();
            let expect = ContentHash(*blake3::hash(&data).as_bytes());
            assert_eq!(plain_hash(&p).unwrap(), expect, "size {size}");
            assert_eq!(hash_bytes(&data), expect);
            let checked = hash_file_checked(&p, &Hashing::plain()).unwrap();
            assert!(checked.stable);
            assert_eq!((checked.hash, checked.stat.size), (expect, size as u64));
            let mut h = Hasher::new();
            io::copy(&mut &data[..], &mut h).unwrap();
            assert_eq!(h.finalize(), expect);
        }
    }

    /// A file over one chunk is read by a second thread while the first hashes (see
    /// `hash_while_reading`). Changed in the middle of that, in place, grown or cut, it must come
    /// out unstable so the scan does not record a hash that mixes two contents for its stat.
    #[test]
    fn a_large_file_changed_while_it_is_hashed_is_unstable() {
        use std::os::unix::fs::FileExt;
        use std::sync::atomic::{AtomicBool, Ordering};
        use std::time::{Duration, SystemTime};

        let dir = tempfile::tempdir().unwrap();
        type Change = fn(&File);
        let changes: [(&str, u64, Change); 6] = [
            ("overwritten", 3 * CHUNK as u64, |f| {
                f.write_at(b"edit", CHUNK as u64 + 10).unwrap();
            }),
            ("grown", 3 * CHUNK as u64, |f| {
                f.write_at(b"more", 3 * CHUNK as u64).unwrap();
            }),
            ("cut short", 3 * CHUNK as u64, |f| {
                f.set_len(CHUNK as u64 / 2).unwrap()
            }),
            ("emptied", 3 * CHUNK as u64, |f| f.set_len(0).unwrap()),
            // The one-thread path for files from 1 MiB to one chunk.
            ("overwritten, one chunk", CHUNK as u64, |f| {
                f.write_at(b"edit", 10).unwrap();
            }),
            // A small file is read up to its size from the stat, not to its end.
            ("small, grown", 100_000, |f| {
                f.write_at(b"more", 100_000).unwrap();
            }),
        ];
        for (what, size, change) in changes {
            let p = dir.path().join("big");
            let data: Vec<u8> = (0..size).map(|i| (i % 249) as u8).collect();
            std::fs::write(&p, &data).unwrap();
            // An mtime an hour old: a change in the same clock tick as the write above would
            // otherwise leave the mtime as it was.
            let writer = File::options().write(true).open(&p).unwrap();
            writer
                .set_modified(SystemTime::now() - Duration::from_secs(3600))
                .unwrap();
            let before = hash_file_checked(&p, &Hashing::plain()).unwrap();
            assert!(before.stable, "{what}: untouched");
            assert_eq!(before.hash, hash_bytes(&data), "{what}");

            let changed = AtomicBool::new(false);
            let after_read = |_n: usize| {
                if !changed.swap(true, Ordering::SeqCst) {
                    change(&writer);
                }
            };
            let got = hash_file_checked_observed(&p, &Hashing::plain(), &after_read).unwrap();
            assert!(changed.load(Ordering::SeqCst), "{what}: the change ran");
            assert!(!got.stable, "{what}: a change while reading must be seen");
            assert_eq!(
                got.stat, before.stat,
                "{what}: the stat is the one from before"
            );
        }
    }

    #[test]
    fn keyed_hashing_matches_keyed_blake3_and_never_the_plain_hash() {
        let dir = tempfile::tempdir().unwrap();
        let key = [9u8; 32];
        let keyed = Hashing::keyed(blake3::Hasher::new_keyed(&key));
        for size in [0usize, 70_000, (1 << 20) + 5] {
            let data: Vec<u8> = (0..size).map(|i| (i * 7 % 253) as u8).collect();
            let p = dir.path().join(format!("k{size}"));
            std::fs::write(&p, &data).unwrap();
            let expect = ContentHash(*blake3::keyed_hash(&key, &data).as_bytes());
            assert_eq!(keyed.hash_bytes(&data), expect, "size {size}");
            let checked = hash_file_checked(&p, &keyed).unwrap();
            assert_eq!(checked.hash, expect, "size {size}");
            assert_ne!(checked.hash, hash_bytes(&data));
            assert_eq!(Hashing::plain().hash_bytes(&data), hash_bytes(&data));
        }
        // Each hash starts from the fresh keyed state.
        assert_eq!(keyed.hash_bytes(b"a"), keyed.hash_bytes(b"a"));
        assert_eq!(format!("{keyed:?}"), "Hashing(keyed)");
    }

    #[test]
    fn symlinks_and_fifos_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("t");
        std::fs::write(&target, b"x").unwrap();
        let link = dir.path().join("l");
        std::os::unix::fs::symlink(&target, &link).unwrap();
        assert!(plain_hash(&link).is_err());
        let fifo = dir.path().join("fifo");
        let ok = std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap();
        assert!(ok.success());
        let err = plain_hash(&fifo).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::InvalidInput);
    }
}
