//! Upload and download rate limits, shared by every transfer of a process (all pairs of a
//! daemon): each transfer waits for its bytes before it sends or writes them, so the sum of
//! all transfers keeps to the limit on average, with up to a second's worth in a burst.

use std::num::NonZeroU32;
use std::sync::Arc;

use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};

/// Bytes per cell of the limiter: it counts in u32 cells, so KiB keep rates up to 4 TiB/s.
const CELL: u64 = 1024;

/// One direction's limit.
#[derive(Debug)]
pub struct Rate {
    limiter: DefaultDirectRateLimiter,
    /// Most cells one wait may ask for (a second's worth).
    burst: u32,
    bytes_per_sec: u64,
}

impl Rate {
    /// A limit of `bytes_per_sec` (at least 1 KiB/s).
    pub fn new(bytes_per_sec: u64) -> Rate {
        let cells = u32::try_from(bytes_per_sec.div_ceil(CELL))
            .unwrap_or(u32::MAX)
            .max(1);
        let per_sec = NonZeroU32::new(cells).expect("at least one cell");
        Rate {
            limiter: RateLimiter::direct(Quota::per_second(per_sec)),
            burst: cells,
            bytes_per_sec: u64::from(cells) * CELL,
        }
    }

    /// Waits until `bytes` may go (in pieces of at most a second's worth).
    pub async fn take(&self, bytes: u64) {
        let mut cells = bytes.div_ceil(CELL);
        while cells > 0 {
            let n = cells.min(u64::from(self.burst)) as u32;
            let n = NonZeroU32::new(n).expect("n > 0");
            // `n` never exceeds the burst, so this only waits.
            let _ = self.limiter.until_n_ready(n).await;
            cells -= u64::from(n.get());
        }
    }

    pub fn bytes_per_sec(&self) -> u64 {
        self.bytes_per_sec
    }
}

/// The limits of a process; `None`: unlimited.
#[derive(Debug, Default, Clone)]
pub struct Limits {
    pub upload: Option<Arc<Rate>>,
    pub download: Option<Arc<Rate>>,
}

impl Limits {
    pub fn new(upload: Option<u64>, download: Option<u64>) -> Limits {
        Limits {
            upload: upload.map(|b| Arc::new(Rate::new(b))),
            download: download.map(|b| Arc::new(Rate::new(b))),
        }
    }

    /// Waits until `bytes` may be sent.
    pub async fn upload(&self, bytes: u64) {
        if let Some(r) = &self.upload {
            r.take(bytes).await;
        }
    }

    /// Waits until `bytes` received may be written.
    pub async fn download(&self, bytes: u64) {
        if let Some(r) = &self.download {
            r.take(bytes).await;
        }
    }
}

/// Reads a rate as people write it: `2MiB`, `500 KB`, `1.5 MB` (per second).
pub fn parse_rate(s: &str) -> anyhow::Result<u64> {
    let size: bytesize::ByteSize = s.trim().parse().map_err(|e| {
        anyhow::anyhow!(
            "cannot read the rate {s:?} ({e}): write it like \"2 MiB\" or \"500 KB\" (per second)"
        )
    })?;
    if size.as_u64() < CELL {
        anyhow::bail!("the rate {s:?} is below 1 KiB per second");
    }
    Ok(size.as_u64())
}

#[cfg(test)]
mod tests {
    use std::time::{Duration, Instant};

    use super::*;

    #[test]
    fn rates_read_as_people_write_them() {
        assert_eq!(parse_rate("2MiB").unwrap(), 2 * 1024 * 1024);
        assert_eq!(parse_rate("500 KB").unwrap(), 500_000);
        assert!(parse_rate("fast").is_err());
        assert!(parse_rate("10 B").is_err());
    }

    /// The limiter's own clock is real time: this checks only that a limit holds the sum of
    /// transfers back (a lower bound, never flaky), not how fast anything runs.
    #[tokio::test]
    async fn transfers_together_keep_to_the_limit() {
        let rate = Arc::new(Rate::new(64 * 1024));
        let start = Instant::now();
        let tasks: Vec<_> = (0..4)
            .map(|_| {
                let rate = rate.clone();
                tokio::spawn(async move {
                    for _ in 0..4 {
                        rate.take(8 * 1024).await;
                    }
                })
            })
            .collect();
        for t in tasks {
            t.await.unwrap();
        }
        // 128 KiB at 64 KiB/s with a second's burst: at least 1 s.
        assert!(
            start.elapsed() >= Duration::from_millis(950),
            "{:?}",
            start.elapsed()
        );
    }

    #[tokio::test]
    async fn a_transfer_bigger_than_the_burst_waits_in_pieces() {
        let rate = Rate::new(64 * 1024);
        let start = Instant::now();
        rate.take(128 * 1024).await;
        assert!(
            start.elapsed() >= Duration::from_millis(950),
            "{:?}",
            start.elapsed()
        );
    }
}
