//! The seeded randomness every torture test draws its ops from, and its switches.

/// splitmix64: small, seedable, good enough to pick ops (the fault proxy has its own stream).
pub struct Rng(pub u64);

impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// A number in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }

    /// A number in `lo..=hi`.
    pub fn between(&mut self, lo: u64, hi: u64) -> u64 {
        lo + self.next() % (hi - lo + 1)
    }

    pub fn chance(&mut self, p: f64) -> bool {
        ((self.next() % 1_000_000) as f64) < p * 1_000_000.0
    }

    /// One element of a non-empty slice.
    pub fn pick<'a, T>(&mut self, v: &'a [T]) -> &'a T {
        &v[self.below(v.len())]
    }
}

/// The run's seed: `PAIL_TORTURE_SEED`, else one drawn from the clock (and printed by the
/// caller, so that any run can be replayed).
pub fn seed() -> u64 {
    match std::env::var("PAIL_TORTURE_SEED") {
        Ok(s) if !s.is_empty() => s.parse().expect("PAIL_TORTURE_SEED must be a u64"),
        _ => {
            std::time::SystemTime::now()
                .duration_since(std::time::UNIX_EPOCH)
                .unwrap()
                .as_nanos() as u64
                % 1_000_000_000
        }
    }
}

/// `PAIL_TORTURE_LONG=1` (`scripts/test --long`): the full sizes instead of CI's short form.
pub fn long() -> bool {
    std::env::var("PAIL_TORTURE_LONG").is_ok_and(|v| v == "1")
}
