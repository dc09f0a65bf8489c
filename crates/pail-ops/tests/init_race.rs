//! Two first devices of one encrypted prefix at the same moment (`pail init --encrypt` on an
//! empty prefix). Where the server ignores conditional writes (Garage), both see no marker and
//! both write theirs; each reads the marker back `SETTLE_DELAY` after its write and ends with
//! the key the server kept, opened with the passphrase. The two writes are forced into the
//! worst order here: both PUTs wait for each other, then the second lands 300 ms after the
//! first, so that the first device, reading back at once, would still see its own. The same
//! race between two real processes on Garage: tests/e2e/encrypted_key.rs.

use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use pail_core::RemotePrefix;
use pail_core::layout::encryption_marker_key;
use pail_crypt::{PrefixKey, ScryptWork};
use pail_ops::init::{EncryptInit, SETTLE_DELAY, create_key};
use pail_s3::{Capabilities, Conditionals, FaultyStore, MemStore, ObjectStore, Op, Versioning};
use pail_sync::PairConfig;
use pail_sync::crypt::read_marker;

/// Holds each device's PUT of the marker until both devices are about to write it.
#[derive(Default)]
struct Gate {
    arrived: Mutex<usize>,
    both: Condvar,
}

impl Gate {
    fn wait_for_both(&self) {
        let mut n = self.arrived.lock().unwrap();
        *n += 1;
        self.both.notify_all();
        let (n, timeout) = self
            .both
            .wait_timeout_while(n, Duration::from_secs(10), |n| *n < 2)
            .unwrap();
        assert!(
            !timeout.timed_out(),
            "only {} device(s) reached the marker's PUT",
            *n
        );
    }
}

/// One device's view of the bucket: its PUT of the marker waits at `gate`, then `lag` more.
fn device_store(mem: &MemStore, gate: &Arc<Gate>, lag: Duration) -> Arc<dyn ObjectStore> {
    let store = FaultyStore::new(mem.clone());
    let marker = encryption_marker_key(&RemotePrefix::new("pfx").unwrap());
    let gate = gate.clone();
    store.set_hook(Arc::new(move |op, key| {
        if op == Op::Put && key == marker {
            // A blocking wait, on a worker thread of its own (the runtime has four).
            gate.wait_for_both();
            std::thread::sleep(lag);
        }
        None
    }));
    Arc::new(store)
}

fn caps(conditional_writes: bool) -> Capabilities {
    Capabilities {
        versioning: Versioning::Unsupported,
        conditional_writes,
        checksums: "when_required".into(),
        probed_at: "2026-11-30T10:00:00Z".into(),
    }
}

/// Runs `create_key` for "alpha" and "beta" at once; beta's marker lands 300 ms after alpha's.
async fn race(
    mem: &MemStore,
    conditional: bool,
    passphrases: [&str; 2],
) -> Vec<anyhow::Result<(PrefixKey, bool)>> {
    let gate = Arc::new(Gate::default());
    let mut tasks = Vec::new();
    for (device, lag, pass) in [
        ("alpha", Duration::ZERO, passphrases[0]),
        ("beta", Duration::from_millis(300), passphrases[1]),
    ] {
        let store = device_store(mem, &gate, lag);
        let pass = pass.to_owned();
        let enc = EncryptInit {
            passphrase: Arc::new(move |_| Ok(pass.clone().into())),
            work: ScryptWork::for_tests(),
            names: false,
        };
        let pair = PairConfig::new(
            format!("/tmp/{device}").into(),
            "s3://bkt/pfx".into(),
            device.into(),
        );
        tasks.push(tokio::spawn(async move {
            let prefix = RemotePrefix::new("pfx").unwrap();
            create_key(&enc, store.as_ref(), &prefix, &pair, &caps(conditional)).await
        }));
    }
    let mut out = Vec::new();
    for t in tasks {
        out.push(t.await.unwrap());
    }
    out
}

async fn marker_recipient(mem: &MemStore) -> String {
    read_marker(mem, &RemotePrefix::new("pfx").unwrap())
        .await
        .unwrap()
        .expect("a marker")
        .recipient
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn two_first_devices_on_a_server_ignoring_conditions_end_with_one_key() {
    let mem = MemStore::garage_like("bkt");
    let started = Instant::now();
    let [alpha, beta]: [_; 2] = race(&mem, false, ["same words", "same words"])
        .await
        .try_into()
        .unwrap();
    let (alpha, alpha_kept) = alpha.unwrap();
    let (beta, beta_kept) = beta.unwrap();
    let kept = marker_recipient(&mem).await;
    assert_eq!(
        alpha.recipient(),
        kept,
        "alpha joined the key the server kept"
    );
    assert_eq!(beta.recipient(), kept);
    assert_eq!(
        (alpha_kept, beta_kept),
        (false, true),
        "beta's write was last"
    );
    assert!(
        started.elapsed() >= SETTLE_DELAY,
        "read back after the settle delay"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_device_whose_key_lost_with_another_passphrase_is_told_whose_it_needs() {
    let mem = MemStore::garage_like("bkt");
    let [alpha, beta]: [_; 2] = race(&mem, false, ["alpha's words", "beta's words"])
        .await
        .try_into()
        .unwrap();
    let e = alpha.map(|_| ()).unwrap_err().to_string();
    assert!(
        e.contains("another device (beta) made this prefix's key at the same moment, with another passphrase")
            && e.contains("pail init /tmp/alpha s3://bkt/pfx --encrypt")
            && e.contains("the passphrase given on beta"),
        "{e}"
    );
    assert!(!e.contains('\n'), "one line: {e}");
    let (beta, kept) = beta.unwrap();
    assert!(kept);
    assert_eq!(beta.recipient(), marker_recipient(&mem).await);
}

/// Where the server honours If-None-Match the second write fails, and no device waits.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn where_conditions_hold_the_second_device_joins_without_waiting() {
    let mem = MemStore::new("bkt");
    mem.set_conditionals(Conditionals::Honoured);
    let started = Instant::now();
    let [alpha, beta]: [_; 2] = race(&mem, true, ["same words", "same words"])
        .await
        .try_into()
        .unwrap();
    let (alpha, alpha_kept) = alpha.unwrap();
    let (beta, beta_kept) = beta.unwrap();
    assert_eq!(
        (alpha_kept, beta_kept),
        (true, false),
        "alpha's write came first"
    );
    assert_eq!(alpha.recipient(), beta.recipient());
    assert_eq!(alpha.recipient(), marker_recipient(&mem).await);
    assert!(started.elapsed() < SETTLE_DELAY, "{:?}", started.elapsed());
}
