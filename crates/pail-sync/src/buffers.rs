//! Part buffers reused across the parts of one multipart upload. A fresh 16 MiB buffer per
//! part costs its zeroing and a page fault for every 4 KiB page of it: a fifth of the client's
//! CPU on a 1 GiB upload (issue 14). A buffer goes back to the pool when the request that
//! sent it lets go of its body (after any retries), through `Bytes::from_owner`.

use std::sync::{Arc, Mutex};

use bytes::Bytes;

/// At most this many idle buffers are kept (as many as parts go in flight).
const KEEP: usize = 16;

#[derive(Debug, Default)]
pub(crate) struct PartBuffers {
    free: Mutex<Vec<Vec<u8>>>,
}

impl PartBuffers {
    pub(crate) fn new() -> Arc<PartBuffers> {
        Arc::default()
    }

    /// A buffer of exactly `len` bytes, for the caller to fill: an idle one when there is
    /// one (its old content is overwritten by the read), else a new one.
    pub(crate) fn take(&self, len: usize) -> Vec<u8> {
        let idle = self.free.lock().expect("part buffer pool poisoned").pop();
        let mut buf = idle.unwrap_or_default();
        buf.resize(len, 0);
        buf
    }

    /// `buf` as a request body that returns to this pool once the request drops it.
    pub(crate) fn body(self: &Arc<Self>, buf: Vec<u8>) -> Bytes {
        Bytes::from_owner(Returning {
            buf,
            pool: self.clone(),
        })
    }
}

struct Returning {
    buf: Vec<u8>,
    pool: Arc<PartBuffers>,
}

impl AsRef<[u8]> for Returning {
    fn as_ref(&self) -> &[u8] {
        &self.buf
    }
}

impl Drop for Returning {
    fn drop(&mut self) {
        let buf = std::mem::take(&mut self.buf);
        if let Ok(mut free) = self.pool.free.lock()
            && free.len() < KEEP
        {
            free.push(buf);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sent_buffer_comes_back_for_the_next_part() {
        let pool = PartBuffers::new();
        let mut a = pool.take(8);
        a.copy_from_slice(b"abcdefgh");
        let ptr = a.as_ptr();
        let body = pool.body(a);
        assert_eq!(&body[..], b"abcdefgh");
        let clone = body.clone();
        drop(body);
        let other = pool.take(8);
        assert_ne!(other.as_ptr(), ptr, "still held by the clone");
        drop(clone);
        let again = pool.take(5);
        assert_eq!(again.as_ptr(), ptr);
        assert_eq!(again.len(), 5);
    }
}
