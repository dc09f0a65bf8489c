//! A fault-injecting HTTP/1.1 proxy in front of one S3 server, for tests that run the real
//! `pail` binary through bad networks and bad servers.
//!
//! It listens on 127.0.0.1:<ephemeral port> and forwards every request to the server
//! unchanged (method, path, query, headers, Host included: SigV4 signs the Host the client
//! used, and path-style requests work on every test server). With a seeded RNG and a rate, it
//! replaces some requests with a fault instead:
//!
//! - `SlowDown`: a 503 with an S3 XML `SlowDown` error body (the server never sees the request);
//! - `Internal`: a 500 `InternalError` (likewise);
//! - `CutBody`: the request is forwarded and done by the server, but its response is cut off:
//!   status, headers and half of the body are sent, then the connection is dropped (with no
//!   body to cut, the connection is dropped before any response);
//! - `Stall`: a pause (2–5 s by default) before the request is forwarded normally.
//!
//! The rate can be changed (and faults switched off with 0) while requests flow. The proxy runs
//! on the harness's runtime ([`crate::harness::rt`]) and stops when dropped.

use std::pin::Pin;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::{Body, Frame, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::{TokioExecutor, TokioIo};

use crate::harness::rt;

type BoxError = Box<dyn std::error::Error + Send + Sync>;
type ProxyBody = BoxBody<Bytes, BoxError>;

/// The kinds of fault, in the order of [`FaultCounts`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    SlowDown,
    Internal,
    CutBody,
    Stall,
}

const KINDS: [Fault; 4] = [
    Fault::SlowDown,
    Fault::Internal,
    Fault::CutBody,
    Fault::Stall,
];

/// Requests seen and faults injected so far, by kind.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FaultCounts {
    pub requests: u64,
    pub slow_down: u64,
    pub internal: u64,
    pub cut_body: u64,
    pub stall: u64,
}

impl FaultCounts {
    pub fn total(&self) -> u64 {
        self.slow_down + self.internal + self.cut_body + self.stall
    }
}

impl std::fmt::Display for FaultCounts {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "{} requests, faults: {} SlowDown, {} InternalError, {} cut bodies, {} stalls",
            self.requests, self.slow_down, self.internal, self.cut_body, self.stall
        )
    }
}

/// splitmix64: small, seedable, good enough to pick faults.
fn splitmix(state: &mut u64) -> u64 {
    *state = state.wrapping_add(0x9e37_79b9_7f4a_7c15);
    let mut z = *state;
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

struct State {
    upstream: String,
    /// Fault rate in per mille of requests.
    rate_permille: AtomicU32,
    stall_ms: Mutex<(u64, u64)>,
    kinds: Mutex<Vec<Fault>>,
    /// Faults only for requests of this method whose path ends with this (all when `None`).
    only: Mutex<Option<(hyper::Method, String)>>,
    rng: Mutex<u64>,
    requests: AtomicU64,
    counts: [AtomicU64; 4],
    client: Client<HttpConnector, Incoming>,
}

impl State {
    /// Draws the fate of one request.
    fn draw(&self, method: &hyper::Method, path: &str) -> Option<(Fault, u64)> {
        self.requests.fetch_add(1, Ordering::Relaxed);
        if let Some((m, end)) = &*self.only.lock().unwrap()
            && (m != method || !path.ends_with(end.as_str()))
        {
            return None;
        }
        let rate = u64::from(self.rate_permille.load(Ordering::Relaxed));
        let (a, b, c) = {
            let mut rng = self.rng.lock().unwrap();
            (splitmix(&mut rng), splitmix(&mut rng), splitmix(&mut rng))
        };
        if a % 1000 >= rate {
            return None;
        }
        let kinds = self.kinds.lock().unwrap();
        if kinds.is_empty() {
            return None;
        }
        let kind = kinds[(b % kinds.len() as u64) as usize];
        let i = KINDS.iter().position(|k| *k == kind).unwrap();
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        Some((kind, c))
    }
}

/// The proxy; its endpoint is [`FaultProxy::endpoint`]. Stops when dropped.
pub struct FaultProxy {
    pub endpoint: String,
    state: Arc<State>,
    task: tokio::task::JoinHandle<()>,
}

impl FaultProxy {
    /// A proxy in front of `upstream` (e.g. `http://127.0.0.1:17480`), faults off.
    pub fn start(upstream: &str, seed: u64) -> FaultProxy {
        assert!(
            upstream.starts_with("http://127.0.0.1:"),
            "the fault proxy only forwards to 127.0.0.1: {upstream}"
        );
        let _guard = rt().enter();
        let state = Arc::new(State {
            upstream: upstream.trim_end_matches('/').to_owned(),
            rate_permille: AtomicU32::new(0),
            stall_ms: Mutex::new((2000, 5000)),
            kinds: Mutex::new(KINDS.to_vec()),
            only: Mutex::new(None),
            rng: Mutex::new(seed),
            requests: AtomicU64::new(0),
            counts: Default::default(),
            client: Client::builder(TokioExecutor::new()).build_http(),
        });
        let listener = rt()
            .block_on(tokio::net::TcpListener::bind("127.0.0.1:0"))
            .expect("bind the fault proxy");
        let port = listener.local_addr().unwrap().port();
        let st = state.clone();
        let task = rt().spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let st = st.clone();
                tokio::spawn(async move {
                    let svc = hyper::service::service_fn(move |req| handle(st.clone(), req));
                    // Errors here are the faults themselves (cut bodies) or clients going away.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), svc)
                        .await;
                });
            }
        });
        FaultProxy {
            endpoint: format!("http://127.0.0.1:{port}"),
            state,
            task,
        }
    }

    /// Sets the share of requests that get a fault (0.0 switches faults off).
    pub fn set_rate(&self, rate: f64) {
        let permille = (rate.clamp(0.0, 1.0) * 1000.0).round() as u32;
        self.state.rate_permille.store(permille, Ordering::Relaxed);
    }

    /// Sets which kinds of fault are injected (all four by default), drawn evenly.
    pub fn set_kinds(&self, kinds: &[Fault]) {
        *self.state.kinds.lock().unwrap() = kinds.to_vec();
    }

    /// Faults only for requests of `method` whose path ends with `path_end` (e.g. the PUT of
    /// one object), the others forwarded untouched.
    pub fn only(&self, method: hyper::Method, path_end: &str) {
        *self.state.only.lock().unwrap() = Some((method, path_end.to_owned()));
    }

    /// Sets the range of stall durations.
    pub fn set_stall(&self, min: Duration, max: Duration) {
        assert!(min <= max);
        *self.state.stall_ms.lock().unwrap() = (min.as_millis() as u64, max.as_millis() as u64);
    }

    pub fn counts(&self) -> FaultCounts {
        let c = |i: usize| self.state.counts[i].load(Ordering::Relaxed);
        FaultCounts {
            requests: self.state.requests.load(Ordering::Relaxed),
            slow_down: c(0),
            internal: c(1),
            cut_body: c(2),
            stall: c(3),
        }
    }
}

impl Drop for FaultProxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

fn s3_error(status: StatusCode, code: &str, message: &str) -> Response<ProxyBody> {
    let body = format!(
        "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Error><Code>{code}</Code><Message>{message}</Message><RequestId>faultproxy</RequestId></Error>"
    );
    Response::builder()
        .status(status)
        .header("content-type", "application/xml")
        .header("x-amz-request-id", "faultproxy")
        .body(Full::new(Bytes::from(body)).map_err(|e| match e {}).boxed())
        .unwrap()
}

async fn handle(st: Arc<State>, req: Request<Incoming>) -> Result<Response<ProxyBody>, BoxError> {
    let fault = st.draw(req.method(), req.uri().path());
    match fault {
        Some((Fault::SlowDown, _)) => {
            return Ok(s3_error(
                StatusCode::SERVICE_UNAVAILABLE,
                "SlowDown",
                "Please reduce your request rate.",
            ));
        }
        Some((Fault::Internal, _)) => {
            return Ok(s3_error(
                StatusCode::INTERNAL_SERVER_ERROR,
                "InternalError",
                "We encountered an internal error. Please try again.",
            ));
        }
        Some((Fault::Stall, r)) => {
            let (lo, hi) = *st.stall_ms.lock().unwrap();
            let ms = lo + r % (hi - lo + 1);
            tokio::time::sleep(Duration::from_millis(ms)).await;
        }
        _ => {}
    }
    let (mut parts, body) = req.into_parts();
    let pq = parts
        .uri
        .path_and_query()
        .map_or("/", |pq| pq.as_str())
        .to_owned();
    parts.uri = format!("{}{pq}", st.upstream).parse()?;
    // The Host header stays the client's: the legacy client only sets one when it is missing.
    let resp = st.client.request(Request::from_parts(parts, body)).await?;
    if let Some((Fault::CutBody, _)) = fault {
        let (parts, body) = resp.into_parts();
        let full = body.collect().await?.to_bytes();
        if full.len() < 2 {
            // Nothing to cut: drop the connection before any response.
            return Err("fault proxy: connection reset".into());
        }
        let half = full.slice(..full.len() / 2);
        return Ok(Response::from_parts(
            parts,
            CutBody { part: Some(half) }.boxed(),
        ));
    }
    Ok(resp.map(|b| b.map_err(BoxError::from).boxed()))
}

/// A body that yields its first part and then fails, which makes hyper drop the connection
/// after the status, headers and that part were sent.
struct CutBody {
    part: Option<Bytes>,
}

impl Body for CutBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.part.take() {
            Some(b) => Poll::Ready(Some(Ok(Frame::data(b)))),
            None => Poll::Ready(Some(Err("fault proxy: body cut off".into()))),
        }
    }
}

mod tests {
    use super::*;
    use crate::harness::*;

    /// The proxy passes requests through unchanged (SigV4 still verifies) and injects each kind
    /// of fault; the pail binary works through it with faults off.
    #[test]
    fn faultproxy_forwards_and_injects() {
        let s = Server::get("moto");
        let proxy = FaultProxy::start(&s.endpoint, 7);
        let mut via = s.clone();
        via.endpoint = proxy.endpoint.clone();
        let r = Remote::new(&s, "faultproxy");
        let rv = Remote {
            server: via,
            prefix: r.prefix.clone(),
        };
        rv.put_foreign("a.txt", b"hello through the proxy");
        assert_eq!(rv.files()["a.txt"], b"hello through the proxy");
        assert_eq!(r.files()["a.txt"], b"hello through the proxy");
        assert!(proxy.counts().requests >= 3);
        assert_eq!(proxy.counts().total(), 0);

        // Every request faulted: each kind shows up and none is a hang.
        proxy.set_stall(Duration::from_millis(10), Duration::from_millis(20));
        proxy.set_rate(1.0);
        // One attempt per request: the SDK's own retries would only slow this down.
        let c = rv.server.client();
        let c = aws_sdk_s3::Client::from_conf(
            c.config()
                .to_builder()
                .retry_config(aws_sdk_s3::config::retry::RetryConfig::disabled())
                .build(),
        );
        for _ in 0..32 {
            let _ = rt().block_on(async {
                let o = c
                    .get_object()
                    .bucket(&s.bucket)
                    .key(r.key("a.txt"))
                    .send()
                    .await?;
                o.body
                    .collect()
                    .await
                    .map_err(aws_sdk_s3::error::SdkError::construction_failure)?;
                Ok::<_, aws_sdk_s3::error::SdkError<_>>(())
            });
        }
        let n = proxy.counts();
        assert!(
            n.slow_down > 0 && n.internal > 0 && n.cut_body > 0 && n.stall > 0,
            "{n}"
        );
        proxy.set_rate(0.0);

        let d = Device::new_via(&r, "via", &proxy.endpoint);
        d.write("x.txt", b"x");
        d.sync();
        assert_eq!(r.files()["x.txt"], b"x");
    }
}
