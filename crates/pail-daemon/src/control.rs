//! The control socket: a Unix socket (user-only) through which `pail status`, `pail pause`,
//! `pail resume` and `pail sync` talk to a running `pail run`. One JSON request per line, one JSON
//! response per line.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{UnixListener, UnixStream};
use tokio_util::sync::CancellationToken;

use crate::daemon::Daemon;
use pail_sync::pause::Pause;

/// What a client asks.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "cmd", rename_all = "snake_case")]
pub enum Request {
    Status,
    /// Pause every pair, or the pair of `folder` (absolute), for `for_secs` or until resumed.
    Pause {
        #[serde(default)]
        folder: Option<PathBuf>,
        #[serde(default)]
        for_secs: Option<u64>,
    },
    Resume {
        #[serde(default)]
        folder: Option<PathBuf>,
    },
    /// A full pass of each pair (or of the pair of `folder`), answered when it ends: what
    /// `pail sync` does while the daemon holds the pairs.
    Sync {
        folder: Option<PathBuf>,
        dry_run: bool,
        confirm: bool,
    },
}

/// One pair's result of a [`Request::Sync`].
#[derive(Debug, Serialize, Deserialize)]
pub struct PairSync {
    pub folder: PathBuf,
    pub remote: String,
    pub report: pail_sync::SyncReport,
}

/// What the daemon answers.
#[derive(Debug, Serialize, Deserialize)]
pub struct Response {
    pub ok: bool,
    pub message: String,
    /// For `status`: the same shape as `pail status --json`.
    pub status: Option<pail_sync::status::StatusReport>,
    /// For `sync`: each pair's result.
    #[serde(default)]
    pub sync: Option<Vec<PairSync>>,
}

impl Response {
    fn message(ok: bool, message: impl Into<String>) -> Response {
        Response {
            ok,
            message: message.into(),
            status: None,
            sync: None,
        }
    }
}

/// The socket of the daemon that serves the config at `config_path`: one daemon per
/// config, so the path is derived from the config's path.
pub fn socket_path(config_path: &Path) -> Result<PathBuf> {
    let abs = std::path::absolute(config_path)?;
    let id = blake3::hash(abs.as_os_str().as_encoded_bytes()).to_hex();
    Ok(pail_sync::config::state_dir()?
        .join("run")
        .join(format!("daemon-{}.sock", &id[..16])))
}

/// Sends one request. `Ok(None)`: no daemon is running for this config.
pub async fn request(socket: &Path, req: Request) -> Result<Option<Response>> {
    request_then(socket, req, || {}).await
}

/// [`request`], calling `connected` once a daemon took the request (before its answer, which
/// for a sync comes when the pass ends).
pub async fn request_then(
    socket: &Path,
    req: Request,
    connected: impl FnOnce(),
) -> Result<Option<Response>> {
    let stream = match UnixStream::connect(socket).await {
        Ok(s) => s,
        Err(e)
            if matches!(
                e.kind(),
                std::io::ErrorKind::NotFound | std::io::ErrorKind::ConnectionRefused
            ) =>
        {
            return Ok(None);
        }
        Err(e) => {
            return Err(e)
                .with_context(|| format!("cannot reach the daemon at {}", socket.display()));
        }
    };
    let (read, mut write) = stream.into_split();
    let mut line = serde_json::to_string(&req)?;
    line.push('\n');
    write.write_all(line.as_bytes()).await?;
    connected();
    let mut reply = String::new();
    BufReader::new(read).read_line(&mut reply).await?;
    let resp = serde_json::from_str(&reply).context("the daemon sent an unreadable answer")?;
    Ok(Some(resp))
}

/// Binds the socket with user-only permissions, replacing a stale one.
pub(crate) fn bind(socket: &Path) -> Result<UnixListener> {
    use std::os::unix::fs::PermissionsExt;
    let dir = socket.parent().context("socket path has no directory")?;
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    // The pair locks make sure no other daemon runs for these pairs, so a socket file left
    // here is stale (a killed daemon).
    let _ = std::fs::remove_file(socket);
    let listener = UnixListener::bind(socket)
        .with_context(|| format!("cannot listen on {}", socket.display()))?;
    std::fs::set_permissions(socket, std::fs::Permissions::from_mode(0o600))?;
    Ok(listener)
}

fn list(folders: &[PathBuf]) -> String {
    folders
        .iter()
        .map(|f| f.display().to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

/// "paused F: no transfers until `pail resume`" (or for how long).
pub fn paused_words(folders: &[PathBuf], pause: Pause) -> String {
    let until = match pause.ends() {
        None => "until `pail resume`".to_owned(),
        Some(end) => {
            let left = end
                .duration_since(std::time::SystemTime::now())
                .unwrap_or_default();
            format!(
                "for {} (or until `pail resume`)",
                crate::pace::human(left + std::time::Duration::from_millis(500))
            )
        }
    };
    format!("paused {}: no transfers {until}", list(folders))
}

/// Answers clients until cancelled.
pub(crate) async fn serve(listener: UnixListener, daemon: Arc<Daemon>, cancel: CancellationToken) {
    loop {
        let conn = tokio::select! {
            _ = cancel.cancelled() => return,
            c = listener.accept() => c,
        };
        let Ok((stream, _)) = conn else { continue };
        let daemon = daemon.clone();
        tokio::spawn(async move {
            if let Err(e) = answer(stream, &daemon).await {
                tracing::warn!(error = %format!("{e:#}"), "cannot answer a control request");
            }
        });
    }
}

async fn answer(stream: UnixStream, daemon: &Daemon) -> Result<()> {
    let (read, mut write) = stream.into_split();
    let mut line = String::new();
    BufReader::new(read).read_line(&mut line).await?;
    let resp = match serde_json::from_str::<Request>(&line) {
        Ok(Request::Status) => Response {
            status: Some(daemon.status()?),
            ..Response::message(true, "")
        },
        Ok(Request::Pause { folder, for_secs }) => {
            let pause = Pause::new(
                for_secs.map(std::time::Duration::from_secs),
                std::time::SystemTime::now(),
            );
            match daemon.set_pause(folder.as_deref(), Some(pause)) {
                Ok(folders) => Response::message(true, paused_words(&folders, pause)),
                Err(e) => Response::message(false, e),
            }
        }
        Ok(Request::Resume { folder }) => match daemon.set_pause(folder.as_deref(), None) {
            Ok(folders) => Response::message(true, format!("resumed {}", list(&folders))),
            Err(e) => Response::message(false, e),
        },
        Ok(Request::Sync {
            folder,
            dry_run,
            confirm,
        }) => match daemon.sync(folder.as_deref(), dry_run, confirm).await {
            Ok(pairs) => Response {
                sync: Some(pairs),
                ..Response::message(true, "")
            },
            Err(message) => Response::message(false, message),
        },
        Err(e) => Response::message(false, format!("bad request: {e}")),
    };
    let mut out = serde_json::to_string(&resp)?;
    out.push('\n');
    write.write_all(out.as_bytes()).await?;
    Ok(())
}
