//! How many small transfers a pass keeps in flight, adapted to what the server shows
//! (issue 14). A small object's transfer is one round trip, so its rate is the number in
//! flight over that round trip. Against a server whose answers carry a fixed delay (Ceph
//! RGW's 40 ms of Nagle and delayed ACK, see bench/README.md) more in flight means more files
//! a second; against one that is busy, or a client short of CPU, more in flight only queue.
//!
//! The limit is found by probing, because a transfer's latency alone cannot tell the two
//! apart: after a stretch of transfers at the limit, a stretch runs at a quarter more (then,
//! when that did not pay, a fifth less), and the mean latencies of the two stretches are
//! compared.
//! When a quarter more in flight costs less than a tenth more latency, the rate rose by about
//! a seventh and the limit moves up; when a fifth less saves a tenth of the latency, the
//! extra transfers were only queueing and the limit moves down. Each stretch is twice the
//! limit's transfers long, so that one slow answer cannot decide. The limit starts at what
//! served both test servers best fixed (four per transfer slot) and never goes below it.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// The probing rule, apart from the permits it governs (pure, so that its behaviour can be
/// tested on made-up latencies).
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    limit: usize,
    min: usize,
    max: usize,
    stretch: Stretch,
    /// The next probe goes up (else down): the way the last one paid off.
    up_next: bool,
    sum: f64,
    count: usize,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Stretch {
    AtLimit,
    /// `n` in flight, against the mean latency (seconds) of the stretch at the limit before.
    Probing {
        n: usize,
        at_limit: f64,
    },
}

impl Probe {
    pub(crate) fn new(min: usize, max: usize) -> Probe {
        Probe {
            limit: min,
            min,
            max: max.max(min),
            stretch: Stretch::AtLimit,
            up_next: true,
            sum: 0.0,
            count: 0,
        }
    }

    /// The number in flight allowed now (the limit, or the probe's).
    pub(crate) fn allowed(&self) -> usize {
        match self.stretch {
            Stretch::AtLimit => self.limit,
            Stretch::Probing { n, .. } => n,
        }
    }

    /// Takes one transfer's latency; returns the number in flight allowed from now on.
    pub(crate) fn sample(&mut self, latency: Duration) -> usize {
        self.sum += latency.as_secs_f64();
        self.count += 1;
        if self.count < 2 * self.allowed() {
            return self.allowed();
        }
        let mean = self.sum / self.count as f64;
        (self.sum, self.count) = (0.0, 0);
        match self.stretch {
            Stretch::AtLimit => {
                let up = (self.limit * 5 / 4).min(self.max);
                let down = (self.limit * 4 / 5).max(self.min);
                let probe = match (self.up_next, up > self.limit, down < self.limit) {
                    (true, true, _) | (false, true, false) => Some(up),
                    (false, _, true) | (true, false, true) => Some(down),
                    _ => None,
                };
                if let Some(n) = probe {
                    self.stretch = Stretch::Probing { n, at_limit: mean };
                }
            }
            Stretch::Probing { n, at_limit } => {
                let better = if n > self.limit {
                    mean < at_limit * 1.1
                } else {
                    at_limit > mean * 1.1
                };
                // A probe that paid off is tried again the same way; one that did not, the
                // other way.
                self.up_next = (n > self.limit) == better;
                if better {
                    self.limit = n;
                }
                self.stretch = Stretch::AtLimit;
            }
        }
        self.allowed()
    }
}

/// The permits of small transfers: as many as the rule's limit, changed as transfers end.
#[derive(Debug)]
pub(crate) struct SmallInFlight {
    sem: Arc<Semaphore>,
    ctl: Mutex<Ctl>,
}

#[derive(Debug)]
struct Ctl {
    rule: Probe,
    /// Permits that exist (available or held).
    applied: usize,
    /// Held permits to drop for good when returned (the limit fell below those in use).
    debt: usize,
}

/// One small transfer's place, given back with [`SmallInFlight::done`] (dropped otherwise,
/// with the pass that stops).
#[derive(Debug)]
pub(crate) struct SmallPermit {
    permit: Option<OwnedSemaphorePermit>,
}

impl SmallInFlight {
    pub(crate) fn new(rule: Probe) -> Arc<SmallInFlight> {
        let applied = rule.allowed();
        Arc::new(SmallInFlight {
            sem: Arc::new(Semaphore::new(applied)),
            ctl: Mutex::new(Ctl {
                rule,
                applied,
                debt: 0,
            }),
        })
    }

    pub(crate) async fn acquire(&self) -> SmallPermit {
        let permit = self
            .sem
            .clone()
            .acquire_owned()
            .await
            .expect("the semaphore of small transfers is never closed");
        SmallPermit {
            permit: Some(permit),
        }
    }

    /// Returns a permit, with the latency its transfer met if it made its request (a transfer
    /// deferred or failed before tells nothing of the server), and moves the limit.
    pub(crate) fn done(&self, mut permit: SmallPermit, latency: Option<Duration>) {
        let mut ctl = self.ctl.lock().unwrap_or_else(|e| e.into_inner());
        let held = permit.permit.take();
        if ctl.debt > 0 {
            ctl.debt -= 1;
            if let Some(permit) = held {
                permit.forget();
            }
        } else {
            drop(held);
        }
        let Some(latency) = latency else {
            return;
        };
        let want = ctl.rule.sample(latency);
        if want > ctl.applied {
            let mut more = want - ctl.applied;
            let repaid = more.min(ctl.debt);
            ctl.debt -= repaid;
            more -= repaid;
            self.sem.add_permits(more);
        } else if want < ctl.applied {
            let fewer = ctl.applied - want;
            let forgotten = self.sem.forget_permits(fewer);
            ctl.debt += fewer - forgotten;
        }
        ctl.applied = want;
    }

    /// The limit now, and what is allowed in flight (the limit, or a probe's).
    #[cfg(test)]
    fn limits(&self) -> (usize, usize) {
        let ctl = self.ctl.lock().unwrap_or_else(|e| e.into_inner());
        (ctl.rule.limit, ctl.applied)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(x: f64) -> Duration {
        Duration::from_secs_f64(x / 1000.0)
    }

    /// Runs the rule against a server whose latency depends on the number in flight, with
    /// noise of ±`noise` (a fraction), for `n` transfers; returns the limits it went through.
    fn run(latency: impl Fn(usize) -> f64, noise: f64, n: usize) -> Vec<usize> {
        let mut rule = Probe::new(64, 128);
        let mut seed = 7u64;
        let mut limits = Vec::new();
        for _ in 0..n {
            // A small linear congruential generator: the same noise on every run.
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            let jitter = ((seed >> 33) as f64 / (1u64 << 31) as f64 - 0.5) * 2.0 * noise;
            rule.sample(ms(latency(rule.allowed()) * (1.0 + jitter)));
            limits.push(rule.limit);
        }
        limits
    }

    /// A server whose every answer takes 45 ms however many are in flight (RGW): the limit
    /// climbs to its maximum within about two thousand transfers, noise or not.
    #[test]
    fn a_fixed_delay_lets_the_limit_grow() {
        for noise in [0.0, 0.3, 0.8] {
            let limits = run(|_| 45.0, noise, 4000);
            assert_eq!(limits[2000..].iter().min(), Some(&128), "noise {noise}");
        }
    }

    /// A server that handles 20 at a time (latency grows with what queues beyond that): the
    /// limit stays at its floor.
    #[test]
    fn a_saturated_server_keeps_the_floor() {
        for noise in [0.0, 0.3] {
            let limits = run(|n| 5.0 * (n as f64 / 20.0).max(1.0), noise, 5000);
            assert!(
                limits.iter().all(|&l| l == 64),
                "noise {noise}: {:?}",
                &limits[..50]
            );
        }
    }

    /// A server that handles 80 at a time: the limit finds it, not the maximum.
    #[test]
    fn the_limit_settles_at_what_the_server_takes() {
        let limits = run(|n| 2.0 * (n as f64 / 80.0).max(1.0), 0.2, 20_000);
        let last = &limits[10_000..];
        assert!(
            last.iter().all(|&l| (64..=100).contains(&l)),
            "{:?}",
            &last[..50]
        );
    }

    #[tokio::test]
    async fn permits_follow_the_limit() {
        let gate = SmallInFlight::new(Probe::new(4, 8));
        let held: Vec<SmallPermit> =
            futures::future::join_all((0..4).map(|_| gate.acquire())).await;
        assert_eq!(gate.sem.available_permits(), 0);
        for p in held {
            gate.done(p, Some(ms(10.0)));
        }
        // A fixed delay: the probes go up, to the maximum.
        for _ in 0..200 {
            let p = gate.acquire().await;
            gate.done(p, Some(ms(10.0)));
        }
        let (limit, allowed) = gate.limits();
        assert_eq!(limit, 8);
        assert_eq!(gate.sem.available_permits(), allowed);
        // Latency in proportion to what is in flight (a saturated server), while every
        // permit is held: back down to the floor, the permits with it, paid back by the
        // transfers that were in flight.
        let held: Vec<SmallPermit> =
            futures::future::join_all((0..allowed).map(|_| gate.acquire())).await;
        for p in held {
            gate.done(p, Some(ms(10.0 * allowed as f64)));
        }
        for _ in 0..400 {
            let p = gate.acquire().await;
            let (_, allowed) = gate.limits();
            gate.done(p, Some(ms(10.0 * allowed as f64)));
        }
        let (limit, allowed) = gate.limits();
        assert_eq!(limit, 4);
        assert_eq!(gate.sem.available_permits(), allowed);
        // A permit returned without a latency changes nothing.
        let p = gate.acquire().await;
        gate.done(p, None);
        assert_eq!(gate.sem.available_permits(), allowed);
    }
}
