//! Test plumbing: the S3 servers started by `tests/servers/start.sh`, devices (a folder, a
//! config and a state dir each) that run the real `pail` binary, and an independent S3
//! client (aws-sdk-s3) to act as "another client" and to check what is in the bucket.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::OnceLock;

use aws_sdk_s3::primitives::ByteStream;

/// One of the local S3 servers.
#[derive(Debug, Clone)]
pub struct Server {
    pub name: &'static str,
    pub endpoint: String,
    pub access_key: String,
    pub secret_key: String,
    pub region: String,
    pub bucket: String,
    pub versioned: bool,
    pub conditional_writes: bool,
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

impl Server {
    /// The server named `name` (ceph, moto, garage) from the environment that
    /// `tests/servers/start.sh` writes. Missing servers fail the test: a skipped real-server
    /// test must never look like a passed one. Run the suite with `scripts/test`.
    pub fn get(name: &'static str) -> Server {
        let up = name.to_uppercase();
        let var = |k: &str| {
            env(&format!("PAIL_TEST_{up}_{k}")).unwrap_or_else(|| {
                panic!(
                    "PAIL_TEST_{up}_{k} is not set: the real-server tests need the local S3 servers; run `scripts/test` (or `tests/servers/start.sh all` and source /tmp/pail-test-servers/env)"
                )
            })
        };
        Server {
            name,
            endpoint: var("ENDPOINT"),
            access_key: var("ACCESS_KEY"),
            secret_key: var("SECRET_KEY"),
            region: var("REGION"),
            bucket: var("BUCKET"),
            versioned: name != "garage",
            conditional_writes: name == "moto",
        }
    }

    /// An SQS client of the server (moto has one): queues for bucket events.
    pub fn sqs(&self) -> aws_sdk_sqs::Client {
        let creds = aws_sdk_sqs::config::Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "test",
        );
        aws_sdk_sqs::Client::from_conf(
            aws_sdk_sqs::config::Builder::new()
                .behavior_version(aws_sdk_sqs::config::BehaviorVersion::latest())
                .region(aws_sdk_sqs::config::Region::new(self.region.clone()))
                .endpoint_url(&self.endpoint)
                .credentials_provider(creds)
                .build(),
        )
    }

    /// An independent client for checks and for writes by "another S3 client".
    pub fn client(&self) -> aws_sdk_s3::Client {
        let creds = aws_sdk_s3::config::Credentials::new(
            &self.access_key,
            &self.secret_key,
            None,
            None,
            "test",
        );
        let conf = aws_sdk_s3::config::Builder::new()
            .behavior_version(aws_sdk_s3::config::BehaviorVersion::latest())
            .region(aws_sdk_s3::config::Region::new(self.region.clone()))
            .endpoint_url(&self.endpoint)
            .credentials_provider(creds)
            .force_path_style(true)
            .request_checksum_calculation(
                aws_sdk_s3::config::RequestChecksumCalculation::WhenRequired,
            )
            .response_checksum_validation(
                aws_sdk_s3::config::ResponseChecksumValidation::WhenRequired,
            )
            .build();
        aws_sdk_s3::Client::from_conf(conf)
    }
}

/// A runtime for the test's own S3 calls.
pub fn rt() -> &'static tokio::runtime::Runtime {
    static RT: OnceLock<tokio::runtime::Runtime> = OnceLock::new();
    RT.get_or_init(|| {
        tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap()
    })
}

/// A fresh prefix per test, so tests share a bucket without seeing each other.
pub fn unique_prefix(test: &str) -> String {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_nanos();
    format!("t/{test}-{nanos:x}-{:x}", std::process::id())
}

/// The bucket side of one test: a server and a prefix.
#[derive(Debug, Clone)]
pub struct Remote {
    pub server: Server,
    pub prefix: String,
}

impl Remote {
    pub fn new(server: &Server, test: &str) -> Remote {
        Remote {
            server: server.clone(),
            prefix: unique_prefix(&format!("{}-{test}", server.name)),
        }
    }

    pub fn url(&self) -> String {
        format!("s3://{}/{}", self.server.bucket, self.prefix)
    }

    pub fn key(&self, rel: &str) -> String {
        format!("{}/{rel}", self.prefix)
    }

    /// Writes an object as another S3 client would (no pail metadata).
    pub fn put_foreign(&self, rel_key: &str, body: &[u8]) {
        let key = self.key(rel_key);
        let c = self.server.client();
        let body = body.to_vec();
        rt().block_on(async {
            c.put_object()
                .bucket(&self.server.bucket)
                .key(&key)
                .body(ByteStream::from(body))
                .send()
                .await
        })
        .unwrap_or_else(|e| panic!("put {key}: {e:?}"));
    }

    /// Writes an object straight into the GLACIER storage class (as a lifecycle rule would
    /// move it there): unreadable until restored.
    pub fn put_archived(&self, rel_key: &str, body: &[u8]) {
        let key = self.key(rel_key);
        let c = self.server.client();
        let body = body.to_vec();
        rt().block_on(async {
            c.put_object()
                .bucket(&self.server.bucket)
                .key(&key)
                .storage_class(aws_sdk_s3::types::StorageClass::Glacier)
                .body(ByteStream::from(body))
                .send()
                .await
        })
        .unwrap_or_else(|e| panic!("put {key} in GLACIER: {e:?}"));
    }

    /// Writes an object under an arbitrary key (for hostile names).
    pub fn put_raw_key(&self, key: &str, body: &[u8]) -> Result<(), String> {
        let c = self.server.client();
        let body = body.to_vec();
        rt().block_on(async {
            c.put_object()
                .bucket(&self.server.bucket)
                .key(key)
                .body(ByteStream::from(body))
                .send()
                .await
        })
        .map(|_| ())
        .map_err(|e| format!("{e:?}"))
    }

    /// Copies an object server-side (its metadata along), as pail makes a trash copy.
    pub fn copy_foreign(&self, from_rel_key: &str, to_rel_key: &str) {
        let (from, to) = (self.key(from_rel_key), self.key(to_rel_key));
        let c = self.server.client();
        rt().block_on(async {
            c.copy_object()
                .bucket(&self.server.bucket)
                .copy_source(format!("{}/{from}", self.server.bucket))
                .key(&to)
                .send()
                .await
        })
        .unwrap_or_else(|e| panic!("copy {from} to {to}: {e:?}"));
    }

    pub fn delete_foreign(&self, rel_key: &str) {
        let key = self.key(rel_key);
        let c = self.server.client();
        rt().block_on(async {
            c.delete_object()
                .bucket(&self.server.bucket)
                .key(&key)
                .send()
                .await
        })
        .unwrap_or_else(|e| panic!("delete {key}: {e:?}"));
    }

    /// Current objects under the prefix (relative key -> content), pail's own `.pail/` excluded.
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let c = self.server.client();
        let lp = format!("{}/", self.prefix);
        let keys = self.keys_under("");
        rt().block_on(async {
            let mut out = BTreeMap::new();
            for key in keys {
                let rel = key.strip_prefix(&lp).unwrap().to_owned();
                if rel.starts_with(".pail/") {
                    continue;
                }
                let body = match c
                    .get_object()
                    .bucket(&self.server.bucket)
                    .key(&key)
                    .send()
                    .await
                {
                    Ok(b) => b,
                    // Deleted since the listing (a daemon at work).
                    Err(e) if e.as_service_error().is_some_and(|e| e.is_no_such_key()) => {
                        continue;
                    }
                    Err(e) => panic!("get {key}: {e:?}"),
                };
                out.insert(
                    rel,
                    body.body.collect().await.unwrap().into_bytes().to_vec(),
                );
            }
            out
        })
    }

    /// Keys under `PREFIX/<under>` (e.g. `.pail/trash/`).
    pub fn keys_under(&self, under: &str) -> Vec<String> {
        let c = self.server.client();
        let lp = format!("{}/{under}", self.prefix);
        rt().block_on(async {
            let mut out = Vec::new();
            let mut pages = c
                .list_objects_v2()
                .bucket(&self.server.bucket)
                .prefix(&lp)
                // Keys with control characters (written by the tests of tenet 14) would make
                // the SDK's XML parser reject the page.
                .encoding_type(aws_sdk_s3::types::EncodingType::Url)
                .into_paginator()
                .send();
            while let Some(page) = pages.next().await {
                let page = page.unwrap();
                let url = page.encoding_type() == Some(&aws_sdk_s3::types::EncodingType::Url);
                out.extend(page.contents().iter().map(|o| {
                    let key = o.key().unwrap();
                    if url { url_decode(key) } else { key.to_owned() }
                }));
            }
            out
        })
    }

    /// Number of versions (not delete markers) stored for a key.
    pub fn version_count(&self, rel_key: &str) -> usize {
        let key = self.key(rel_key);
        let c = self.server.client();
        rt().block_on(async {
            let r = c
                .list_object_versions()
                .bucket(&self.server.bucket)
                .prefix(&key)
                .send()
                .await
                .unwrap();
            r.versions()
                .iter()
                .filter(|v| v.key() == Some(key.as_str()))
                .count()
        })
    }

    /// User metadata of the current object.
    pub fn metadata(&self, rel_key: &str) -> std::collections::HashMap<String, String> {
        let key = self.key(rel_key);
        let c = self.server.client();
        rt().block_on(async {
            c.head_object()
                .bucket(&self.server.bucket)
                .key(&key)
                .send()
                .await
        })
        .unwrap_or_else(|e| panic!("head {key}: {e:?}"))
        .metadata()
        .cloned()
        .unwrap_or_default()
    }
}

/// A key from a listing with `encoding-type=url` (`+` is a space, `%2B` a plus).
fn url_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < b.len() => {
                out.push(u8::from_str_radix(&s[i + 1..i + 3], 16).expect("percent escape"));
                i += 2;
            }
            c => out.push(c),
        }
        i += 1;
    }
    String::from_utf8(out).expect("the test servers store UTF-8 keys")
}

/// One device: its own folder, config file and state dir, running the real binary.
#[derive(Debug)]
pub struct Device {
    pub name: String,
    _tmp: tempfile::TempDir,
    pub folder: PathBuf,
    pub config: PathBuf,
    pub state: PathBuf,
    pub remote: Remote,
    /// The S3 endpoint this device's `pail` talks to: the server's, or a proxy in front of it
    /// (see [`Device::new_via`]). The test's own checks always go straight to the server.
    pub endpoint: String,
}

/// The binary under test: the one cargo built for this test, or `PAIL_TEST_BIN` (a copy
/// kept aside, when several worktrees share one target directory and rebuild it meanwhile).
pub fn pail_bin() -> &'static str {
    static BIN: OnceLock<String> = OnceLock::new();
    BIN.get_or_init(|| {
        env("PAIL_TEST_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_pail").to_owned())
    })
}

impl Device {
    /// A device whose folder is paired with `remote` (init done).
    pub fn new(remote: &Remote, name: &str) -> Device {
        let d = Device::uninit(remote, name);
        let out = d.init();
        assert_ok(&out, "init");
        d
    }

    /// A device whose `pail` reaches the server through `endpoint` (e.g. a
    /// [`crate::faultproxy::FaultProxy`]) for all its commands, init included: the endpoint is
    /// part of the pair's identity, so it is fixed for the device's life.
    pub fn new_via(remote: &Remote, name: &str, endpoint: &str) -> Device {
        let mut d = Device::uninit(remote, name);
        d.endpoint = endpoint.to_owned();
        let out = d.init();
        assert_ok(&out, "init");
        d
    }

    /// A device with its directories but no `pail init` yet.
    pub fn uninit(remote: &Remote, name: &str) -> Device {
        let tmp = tempfile::tempdir().unwrap();
        let folder = tmp.path().join("Pail");
        std::fs::create_dir_all(&folder).unwrap();
        Device {
            name: name.to_owned(),
            folder,
            config: tmp.path().join("config.toml"),
            state: tmp.path().join("state"),
            _tmp: tmp,
            remote: remote.clone(),
            endpoint: remote.server.endpoint.clone(),
        }
    }

    pub fn init(&self) -> Output {
        let s = &self.remote.server;
        self.pail(&[
            "init",
            self.folder.to_str().unwrap(),
            &self.remote.url(),
            "--endpoint",
            &self.endpoint,
            "--region",
            &s.region,
            "--device",
            &self.name,
        ])
    }

    /// The command with this device's environment (and nothing of the developer's AWS setup).
    pub fn command(&self, args: &[&str]) -> Command {
        let s = &self.remote.server;
        let mut c = Command::new(pail_bin());
        c.args(args)
            .env_clear()
            .env("PATH", std::env::var_os("PATH").unwrap_or_default())
            .env("HOME", self._tmp.path())
            .env("PAIL_CONFIG", &self.config)
            .env("PAIL_STATE_DIR", &self.state)
            .env("AWS_ACCESS_KEY_ID", &s.access_key)
            .env("AWS_SECRET_ACCESS_KEY", &s.secret_key)
            .env("AWS_REGION", &s.region)
            .env("AWS_EC2_METADATA_DISABLED", "true")
            // Keys of encrypted pairs go to the state dir's file, never the developer's keyring.
            .env("PAIL_NO_KEYRING", "1")
            .env(
                "PAIL_LOG",
                std::env::var("PAIL_TEST_LOG").unwrap_or_else(|_| "warn".into()),
            );
        c
    }

    pub fn pail(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run pail")
    }

    /// `pail sync`, which must converge (exit 0), with the S3 requests it made, by operation
    /// name, in order (from its `pail::requests` log).
    pub fn sync_counting_requests(&self) -> Vec<String> {
        let out = self
            .command(&["sync"])
            .env("PAIL_LOG", "warn,pail::requests=debug")
            .output()
            .expect("run pail");
        assert_ok(&out, &format!("sync on {}", self.name));
        s3_ops(&String::from_utf8_lossy(&out.stderr))
    }

    /// `pail sync`, which must converge (exit 0).
    pub fn sync(&self) -> Output {
        let out = self.pail(&["sync"]);
        assert_ok(&out, &format!("sync on {}", self.name));
        out
    }

    pub fn path(&self, rel: &str) -> PathBuf {
        self.folder.join(rel)
    }

    pub fn write(&self, rel: &str, body: &[u8]) {
        let p = self.path(rel);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, body).unwrap();
    }

    pub fn read(&self, rel: &str) -> Option<Vec<u8>> {
        std::fs::read(self.path(rel)).ok()
    }

    pub fn remove(&self, rel: &str) {
        std::fs::remove_file(self.path(rel)).unwrap();
    }

    /// Every regular file in the folder (relative path -> content).
    pub fn files(&self) -> BTreeMap<String, Vec<u8>> {
        let mut out = BTreeMap::new();
        walk(&self.folder, &self.folder, &mut out);
        out
    }

    /// Sets a config key of this device's pair (e.g. smaller multipart parts for tests).
    pub fn set_config(&self, key: &str, value: &str) {
        let text = std::fs::read_to_string(&self.config).unwrap();
        let mut lines: Vec<String> = text
            .lines()
            .filter(|l| !l.starts_with(&format!("{key} =")))
            .map(String::from)
            .collect();
        let at = lines
            .iter()
            .position(|l| l.starts_with("device ="))
            .unwrap();
        lines.insert(at + 1, format!("{key} = {value}"));
        std::fs::write(&self.config, lines.join("\n") + "\n").unwrap();
    }

    pub fn status_json(&self) -> serde_json::Value {
        let out = self.pail(&["status", "--json"]);
        assert_ok(&out, "status --json");
        serde_json::from_slice(&out.stdout).unwrap()
    }
}

/// The files below `dir`. A running daemon may remove or rename a file (its own download's
/// temporary file, say) between the listing and the read: such a file is left out, as it
/// would be had the walk come a moment later, and the caller's next poll sees the result.
fn walk(root: &Path, dir: &Path, out: &mut BTreeMap<String, Vec<u8>>) {
    let gone = |e: &std::io::Error| e.kind() == std::io::ErrorKind::NotFound;
    let entries = match std::fs::read_dir(dir) {
        Ok(entries) => entries,
        Err(e) if gone(&e) && dir != root => return,
        Err(e) => panic!("listing {}: {e}", dir.display()),
    };
    for e in entries {
        let e = e.unwrap();
        let p = e.path();
        let t = e.file_type().unwrap();
        if t.is_dir() {
            walk(root, &p, out);
        } else if t.is_file() {
            let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
            match std::fs::read(&p) {
                Ok(body) => {
                    out.insert(rel, body);
                }
                Err(e) if gone(&e) => {}
                Err(e) => panic!("reading {}: {e}", p.display()),
            }
        }
    }
}

pub fn text(out: &Output) -> String {
    format!(
        "exit {:?}\n--- stdout\n{}--- stderr\n{}",
        out.status.code(),
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

/// The S3 requests a `pail::requests=debug` log records, by operation name, in order.
pub fn s3_ops(log: &str) -> Vec<String> {
    log.lines()
        .filter(|l| l.contains("s3 request"))
        .filter_map(|l| {
            let op = l.split("op=").nth(1)?;
            Some(op.split_whitespace().next()?.trim_matches('"').to_owned())
        })
        .collect()
}

pub fn assert_ok(out: &Output, what: &str) {
    assert!(out.status.success(), "{what} failed:\n{}", text(out));
}

pub fn assert_code(out: &Output, code: i32, what: &str) {
    assert_eq!(out.status.code(), Some(code), "{what}:\n{}", text(out));
}

/// Files whose names mark them as conflict copies.
pub fn conflict_copies(files: &BTreeMap<String, Vec<u8>>) -> Vec<(&String, &Vec<u8>)> {
    files
        .iter()
        .filter(|(k, _)| k.contains(" (conflict from "))
        .collect()
}

/// Generates one `#[test]` per server for a test body `fn name(server: Server)`.
#[macro_export]
macro_rules! on_servers {
    ($name:ident: $($srv:ident),+) => {
        mod $name {
            $(
                #[test]
                fn $srv() {
                    super::$name($crate::harness::Server::get(stringify!($srv)));
                }
            )+
        }
    };
    ($name:ident) => {
        $crate::on_servers!($name: ceph, moto, garage);
    };
}
