//! Object bodies on an end-to-end encrypted pair (doc/ENCRYPTION.md): encrypted on the way
//! up (a single PUT's bytes in memory; a multipart upload's parts cut from one
//! `EncryptingReader` read in order, so memory holds at most the parts in flight), decrypted
//! on the way down into the temp file, whose keyed hash and binding tag are then checked
//! before it may be placed.
//!
//! Encrypted multipart uploads are not resumed: every attempt encrypts under a fresh file
//! key, so the parts an earlier attempt sent cannot be part of this one's object. An earlier
//! attempt's upload is aborted and the file is sent again whole.

use std::io::{self, Read};
use std::sync::Arc;

use bytes::Bytes;
use futures::stream::BoxStream;
use futures::{StreamExt, TryStreamExt};
use pail_core::{ContentHash, LocalFile, RelPath};
use pail_crypt::{ContentError, DecryptingReader, EncryptingReader, PrefixKey};
use pail_index::MultipartUpload;
use pail_s3::{Condition, Head, ObjectMeta, PutResult, StoreError};
use tokio::sync::{Semaphore, mpsc};

use crate::buffers::PartBuffers;
use crate::ctx::PairCtx;
use crate::localfs::TempWriter;
use crate::outcome::ActionError;
use crate::write::{INLINE_READ, complete_multipart, open_scanned, part_size, send_part};

/// Encrypts a whole file read into memory (below the multipart threshold): off the async
/// threads, unless it is small.
pub(crate) async fn encrypt_bytes(key: &Arc<PrefixKey>, data: Vec<u8>) -> io::Result<Bytes> {
    let key = key.clone();
    let small = data.len() as u64 <= INLINE_READ;
    let seal = move || -> io::Result<Bytes> {
        let mut reader = EncryptingReader::new(&key, &data[..], data.len() as u64);
        let len = reader.len();
        let mut out = Vec::with_capacity(len as usize);
        reader.read_into(&mut out, len)?;
        Ok(Bytes::from(out))
    };
    if small {
        return seal();
    }
    tokio::task::spawn_blocking(seal).await?
}

/// A `Read` that hashes what passes through it, to check that what was encrypted is the
/// content the scan hashed.
struct Hashing<'a, R> {
    inner: R,
    hasher: &'a mut blake3::Hasher,
}

impl<R: Read> Read for Hashing<'_, R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.hasher.update(&buf[..n]);
        Ok(n)
    }
}

/// Multipart upload of an encrypted file: parts of the ciphertext, planned on its exact
/// length, cut in order from one `EncryptingReader` and sent in parallel. `None`: the file
/// changed under us (the upload is aborted).
#[allow(clippy::too_many_arguments)]
pub(crate) async fn multipart(
    ctx: &Arc<PairCtx>,
    key: &Arc<PrefixKey>,
    path: &RelPath,
    object_key: &str,
    local: &LocalFile,
    meta: &ObjectMeta,
    cond: Condition,
    parts_limit: &Arc<Semaphore>,
) -> Result<Option<PutResult>, ActionError> {
    let Some(file) = open_scanned(ctx, path, local)? else {
        return Ok(None);
    };
    // Not resumed (see the module docs): an earlier attempt's parts are thrown away.
    let earlier = ctx.db().get_multipart(path)?;
    if let Some(m) = earlier {
        let _ = ctx.remote.store.abort_multipart(&m.key, &m.upload_id).await;
        ctx.db().remove_multipart(path)?;
    }
    let size = local.stat.size;
    let total = pail_crypt::ciphertext_len(size);
    let psize = part_size(ctx, total);
    let upload_id = ctx.remote.store.create_multipart(object_key, meta).await?;
    let mut upload = MultipartUpload {
        path: path.clone(),
        key: object_key.to_owned(),
        upload_id,
        hash: local.hash,
        size,
        mtime_ns: local.stat.mtime_ns,
        inode: local.stat.inode,
        part_size: psize,
        created_at: time::OffsetDateTime::now_utc(),
        parts: Vec::new(),
    };
    // Recorded so that a crash leaves the upload for the next attempt to abort.
    ctx.db().put_multipart(&upload)?;

    // One part waiting beside those in flight: memory stays at a few parts whatever the size.
    let (tx, rx) = mpsc::channel::<(i32, Bytes)>(1);
    let buffers = PartBuffers::new();
    let reader = {
        let (key, buffers) = (key.clone(), buffers.clone());
        let mut hasher = ctx.remote.hashing().hasher();
        tokio::task::spawn_blocking(move || -> io::Result<ContentHash> {
            let src = Hashing {
                inner: file,
                hasher: &mut hasher,
            };
            let mut enc = EncryptingReader::new(&key, src, size);
            let mut n = 1;
            loop {
                // A sent part's buffer when one is back (see `buffers.rs`): no page faults.
                let mut buf = buffers.take(0);
                buf.reserve(psize as usize);
                if enc.read_into(&mut buf, psize)? == 0 {
                    break;
                }
                if tx.blocking_send((n, buffers.body(buf))).is_err() {
                    return Err(io::Error::other("the part uploads stopped"));
                }
                n += 1;
            }
            drop(enc);
            Ok(ContentHash(*hasher.finalize().as_bytes()))
        })
    };
    let parts =
        futures::stream::unfold(rx, |mut rx| async move { rx.recv().await.map(|p| (p, rx)) });
    let sent: Result<Vec<(i32, String)>, ActionError> = parts
        .map(|(n, data)| {
            let (ctx, limit) = (ctx.clone(), parts_limit.clone());
            let (upload_id, key, path) = (
                upload.upload_id.clone(),
                object_key.to_owned(),
                path.clone(),
            );
            crate::task::on_own_task(async move {
                // The executor owns the semaphore and never closes it.
                let _permit = limit
                    .acquire_owned()
                    .await
                    .expect("the parts semaphore is never closed");
                send_part(&ctx, &path, &key, &upload_id, n, data).await
            })
        })
        // As many parts in flight as a plain upload (`write::multipart`).
        .buffer_unordered(ctx.cfg.transfers.max(1))
        .try_collect()
        .await;
    // An error: the file changed size while it was read (EncryptingReader refuses), a read
    // failed, or the uploads stopped; either way not the content to record.
    let hash = reader.await?.ok();
    let sent = sent?;
    let expected = total.div_ceil(psize).max(1) as usize;
    if hash != Some(local.hash) || sent.len() != expected {
        let _ = ctx
            .remote
            .store
            .abort_multipart(object_key, &upload.upload_id)
            .await;
        ctx.db().remove_multipart(path)?;
        return Ok(None);
    }
    upload.parts.extend(sent);
    complete_multipart(ctx, path, object_key, local, upload, cond).await
}

/// Why a decrypting download failed.
#[derive(Debug)]
pub enum DecryptFail {
    /// The body broke off (transient, like any download's).
    Body(StoreError),
    /// The object is not what pail wrote for this prefix.
    Content(ContentError),
    /// Writing the temp file failed.
    Write(io::Error),
}

/// The async body as a blocking `Read`: chunks handed over through a small channel.
struct ChannelReader {
    rx: mpsc::Receiver<Bytes>,
    cur: Bytes,
}

impl Read for ChannelReader {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.cur.is_empty() {
            match self.rx.blocking_recv() {
                Some(b) => self.cur = b,
                None => return Ok(0),
            }
        }
        let n = buf.len().min(self.cur.len());
        buf[..n].copy_from_slice(&self.cur.split_to(n));
        Ok(n)
    }
}

/// Decrypts the object `object_key` of `size` bytes (its GET's) from `body` into `w` (which
/// hashes the plaintext with the pair's keyed hasher), within the pair's download limit: a
/// small object once it is all in, on this thread; a larger one on a blocking thread while
/// the body streams in. `Ok` only once every chunk decrypted and the object ended where age
/// says it ends; on `Err` the writer is dropped, which removes its temp file.
pub(crate) async fn decrypt_into(
    ctx: &PairCtx,
    key: &Arc<PrefixKey>,
    object_key: &str,
    size: u64,
    body: BoxStream<'static, Result<Bytes, StoreError>>,
    w: TempWriter,
    progress: Option<&RelPath>,
) -> Result<TempWriter, DecryptFail> {
    decrypt_stream(key, object_key, size, body, w, |n| async move {
        // Waiting here holds the body back: TCP slows the server down to the limit.
        ctx.limits.download(n).await;
        if let Some(p) = progress {
            // Object bytes: the file's size plus 0.03% of age's framing.
            ctx.progress.advance(p, n);
        }
    })
    .await
}

/// `decrypt_into` for commands beside the sync (`restore --to`, `undelete` of a file
/// deleted here only), which hold no [`PairCtx`]: the same decryption into `w`, which must
/// hash with the pair's keyed hasher ([`crate::PairRemote::hashing`]). Check the result with
/// [`verify_download`] before placing it.
pub async fn decrypt_download(
    key: &Arc<PrefixKey>,
    object_key: &str,
    body: BoxStream<'static, Result<Bytes, StoreError>>,
    w: TempWriter,
) -> Result<TempWriter, DecryptFail> {
    decrypt_stream(key, object_key, u64::MAX, body, w, |_| async {}).await
}

/// The decryption of [`decrypt_into`]; `on_chunk(len)` is awaited for every chunk of the body
/// before it is handed to the decryption.
async fn decrypt_stream<F, Fut>(
    key: &Arc<PrefixKey>,
    object_key: &str,
    size: u64,
    mut body: BoxStream<'static, Result<Bytes, StoreError>>,
    mut w: TempWriter,
    on_chunk: F,
) -> Result<TempWriter, DecryptFail>
where
    F: Fn(u64) -> Fut,
    Fut: std::future::Future<Output = ()>,
{
    if size <= pail_crypt::ciphertext_len(INLINE_READ) {
        // At most one age chunk: decrypting it costs less than the two thread hand-offs of
        // the blocking pool (as for small uploads, `encrypt_bytes`).
        let mut object = Vec::with_capacity(size as usize);
        while let Some(chunk) = body.next().await {
            let chunk = chunk.map_err(DecryptFail::Body)?;
            on_chunk(chunk.len() as u64).await;
            object.extend_from_slice(&chunk);
        }
        return decrypt_to(key, object_key, &object[..], size, &mut w).map(|()| w);
    }
    let (tx, rx) = mpsc::channel::<Bytes>(4);
    let worker = {
        let (key, object) = (key.clone(), object_key.to_owned());
        tokio::task::spawn_blocking(move || {
            let reader = ChannelReader {
                rx,
                cur: Bytes::new(),
            };
            let res = decrypt_to(&key, &object, reader, size, &mut w);
            (w, res)
        })
    };
    let mut body_error = None;
    while let Some(chunk) = body.next().await {
        match chunk {
            Ok(chunk) => {
                on_chunk(chunk.len() as u64).await;
                if tx.send(chunk).await.is_err() {
                    // The decryption stopped (its error is below).
                    break;
                }
            }
            Err(e) => {
                body_error = Some(e);
                break;
            }
        }
    }
    drop(tx);
    let (w, res) = worker
        .await
        .map_err(|e| DecryptFail::Write(io::Error::other(e)))?;
    // A body cut short reads as a truncated object: the transport's error is the real one.
    if let Some(e) = body_error {
        return Err(DecryptFail::Body(e));
    }
    res.map(|()| w)
}

/// Decrypts the object read from `src` (`size` bytes, or `u64::MAX` when unknown) into `w`.
fn decrypt_to(
    key: &PrefixKey,
    object: &str,
    src: impl Read,
    size: u64,
    w: &mut TempWriter,
) -> Result<(), DecryptFail> {
    let mut dec = DecryptingReader::new(key, object, src).map_err(DecryptFail::Content)?;
    let mut buf = vec![0u8; size.clamp(1, pail_crypt::content::CHUNK) as usize];
    loop {
        let n = match dec.read(&mut buf) {
            Ok(0) => return Ok(()),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(content_error(object, e)),
        };
        w.write(&buf[..n]).map_err(DecryptFail::Write)?;
    }
}

/// The `ContentError` an `io::Error` of `DecryptingReader` carries, owned.
fn content_error(object: &str, e: io::Error) -> DecryptFail {
    if ContentError::from_io(&e).is_none() {
        return DecryptFail::Content(ContentError::Io {
            object: object.to_owned(),
            source: e,
        });
    }
    match e.into_inner().map(|b| b.downcast::<ContentError>()) {
        Some(Ok(c)) => DecryptFail::Content(*c),
        _ => DecryptFail::Content(ContentError::Damaged {
            object: object.to_owned(),
            detail: "unreadable".into(),
        }),
    }
}

/// After a decrypted download: the keyed hash of what was written must be the object's
/// `pail-blake3`, and its binding tag must bind that hash to the object's own path.
pub(crate) fn check_download(
    key: &PrefixKey,
    prefix: &pail_core::RemotePrefix,
    object_key: &str,
    head: &Head,
    hash: &ContentHash,
) -> Result<(), ContentError> {
    let Ok(Some(path)) = prefix.path_for(object_key) else {
        // Keys that name no file (pail's own) are never downloaded as files.
        return Err(ContentError::BindingMismatch {
            object: object_key.to_owned(),
        });
    };
    verify_download(key, object_key, &path, head, hash)
}

/// After a decrypted download of `object_key` holding the content of the file `path`: the
/// keyed hash of what was written must be the object's `pail-blake3`, and its binding tag must
/// bind that hash to `path`. `path` is the file the content was written for: the object's own
/// path, or for a trash copy (`PREFIX/.pail/trash/PATH/...`) the file it was copied from,
/// never the name it is being written to (`restore --to`, a conflict copy).
pub fn verify_download(
    key: &PrefixKey,
    object_key: &str,
    path: &RelPath,
    head: &Head,
    hash: &ContentHash,
) -> Result<(), ContentError> {
    if head.meta.blake3.as_ref() != Some(hash) {
        return Err(ContentError::Damaged {
            object: object_key.to_owned(),
            detail: "its content does not match its pail-blake3 metadata".into(),
        });
    }
    pail_crypt::content::check_binding(
        key,
        object_key,
        path.as_str(),
        hash,
        head.meta.binding.as_deref(),
    )
}
