//! `pail init`: record a folder pair, check access, probe the bucket, say what was found.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use pail_s3::{Capabilities, StoreFactory, Versioning};
use pail_sync::PairRemote;
use pail_sync::config::{Config, PairConfig, default_device};
use pail_sync::ctx::{PairCtx, meta, open_index};

mod encrypt;
pub(crate) use encrypt::new_marker;
pub use encrypt::{AskPassphrase, EncryptInit, EncryptReport, SETTLE_DELAY, create_key};

/// What the user asked for.
#[derive(Debug, Clone)]
pub struct InitRequest {
    pub folder: PathBuf,
    pub remote: String,
    pub endpoint: Option<String>,
    pub region: Option<String>,
    pub profile: Option<String>,
    pub device: Option<String>,
    /// The SQS queue (ARN) the bucket sends its events to, for the daemon to listen on.
    pub notify_queue: Option<String>,
    /// `--encrypt`: make or join the prefix's key (doc/ENCRYPTION.md).
    pub encrypt: Option<EncryptInit>,
}

/// What init found.
#[derive(Debug)]
pub struct InitReport {
    pub pair: PairConfig,
    pub created_folder: bool,
    pub existing_objects: bool,
    pub caps: Capabilities,
    pub recommendations: Vec<String>,
    /// What `--encrypt` did.
    pub encrypted: Option<EncryptReport>,
}

/// Records the pair in the config at `config_path` and probes the bucket, connecting through
/// `factory` (the real S3 client, or in-memory buckets in tests).
pub async fn init_pair(
    config_path: &Path,
    req: InitRequest,
    factory: &dyn StoreFactory,
) -> Result<InitReport> {
    let abs = std::path::absolute(&req.folder)
        .with_context(|| format!("{} is not a usable path", req.folder.display()))?;
    let created_folder = match std::fs::metadata(&abs) {
        Ok(m) if !m.is_dir() => bail!(
            "{} is not a directory: pick a folder to sync",
            abs.display()
        ),
        Ok(_) => false,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(&abs)
                .with_context(|| format!("cannot create {}", abs.display()))?;
            true
        }
        Err(e) => return Err(e).with_context(|| format!("cannot read {}", abs.display())),
    };
    let result = init_in(config_path, req, factory, &abs, created_folder).await;
    if result.is_err() && created_folder {
        // A failed init leaves nothing behind: the folder it made (still empty) goes.
        let _ = std::fs::remove_dir(&abs);
    }
    result
}

/// Whether pail can write into `folder` (downloads, conflict copies): a temp file of the
/// kind pail itself writes, made and removed at once.
fn check_writable(folder: &Path) -> Result<()> {
    let probe = folder.join(pail_core::layout::outside_temp_name(
        "write-check",
        u64::from(std::process::id()),
    ));
    std::fs::File::options()
        .write(true)
        .create_new(true)
        .open(&probe)
        .with_context(|| {
            format!(
                "cannot write into {}: pail needs to write there (check its permissions, or whether the disk is read-only)",
                folder.display()
            )
        })?;
    let _ = std::fs::remove_file(&probe);
    Ok(())
}

async fn init_in(
    config_path: &Path,
    req: InitRequest,
    factory: &dyn StoreFactory,
    abs: &Path,
    created_folder: bool,
) -> Result<InitReport> {
    check_writable(abs)?;
    let folder = abs
        .canonicalize()
        .with_context(|| format!("cannot resolve {}", abs.display()))?;
    let device = match req.device {
        Some(d) if !pail_core::layout::valid_device_name(&d) => {
            bail!("device name {d:?} must be non-empty, without '/' or control characters")
        }
        Some(d) => d,
        None => default_device(),
    };
    let mut pair = PairConfig::new(folder.clone(), req.remote.clone(), device);
    pair.endpoint = req.endpoint.or_else(env_endpoint);
    pair.region = req.region;
    pair.profile = req.profile;
    pair.notify_queue = req.notify_queue;
    // Before any request: a scheme-less endpoint would otherwise be retried as a network error.
    pair.validate()?;
    let (_, prefix) = pair.bucket_and_prefix()?;

    let mut config = Config::load(config_path)?;
    // Re-running init for the same pair refreshes it; anything else must not overlap.
    config
        .pairs
        .retain(|p| !(p.folder == pair.folder && p.remote == pair.remote));
    config.check_no_overlap(&pair)?;

    let store = pail_sync::remote::connect_store(&pair, factory).await?;
    let list_prefix = prefix.list_prefix();
    let first = store
        .list_page(&list_prefix, None, None)
        .await
        .with_context(|| format!("cannot list {}", pair.remote))?;
    let existing_objects = first
        .objects
        .iter()
        .any(|o| prefix.path_for(&o.key).ok().flatten().is_some());
    let caps = pail_s3::probe(store.as_ref(), &prefix, &pair.device)
        .await
        .with_context(|| format!("probing {}", pair.remote))?;
    let mut key = None;
    let encrypted = match &req.encrypt {
        None => {
            encrypt::refuse_if_encrypted(store.as_ref(), &prefix, &pair).await?;
            None
        }
        Some(enc) => {
            let plain = existing_objects
                || (first.next_token.is_some()
                    && files_after_reserved(store.as_ref(), &prefix, &pair).await?);
            let (k, report) =
                encrypt::make_or_join(enc, store.as_ref(), &prefix, &pair, &caps, plain).await?;
            key = Some(pail_sync::crypt::PairKey {
                key: std::sync::Arc::new(k),
                names: pail_crypt::NameMode::encrypted(report.names_encrypted),
            });
            pair.encrypted = true;
            pair.encrypt_names = report.names_encrypted;
            Some(report)
        }
    };

    config.pairs.push(pair.clone());
    config.save(config_path)?;
    {
        let db = open_index(&pair)?;
        db.meta_set(meta::CAPABILITIES, &serde_json::to_string(&caps)?)?;
    }
    let mut remote = PairRemote::new(&pair, store, caps.clone())?;
    if let Some(k) = key {
        remote.prefix = k.prefix(remote.prefix);
        remote.key = Some(k.key);
    }
    let ctx = PairCtx::with_remote(&pair, remote)?;
    ctx.record_root_identity()?;

    let mut recommendations = Vec::new();
    let (bucket, _) = pair.bucket_and_prefix()?;
    match caps.versioning {
        Versioning::Enabled => {}
        Versioning::Unsupported => recommendations.push(
            "this server has no bucket versioning: pail keeps a trash copy under .pail/trash/ before it overwrites or deletes anything".into(),
        ),
        Versioning::Off | Versioning::Suspended => recommendations.push(format!(
            "versioning is off: pail keeps trash copies under .pail/trash/, but versioning keeps every change; enable it with `aws s3api put-bucket-versioning --bucket {bucket} --versioning-configuration Status=Enabled`"
        )),
    }
    if !caps.conditional_writes {
        recommendations.push(
            "the server does not honour conditional writes: pail checks the object right before each write and, on a versioned bucket, detects lost races from the version list afterwards".into(),
        );
    }
    Ok(InitReport {
        pair,
        created_folder,
        existing_objects,
        caps,
        recommendations,
        encrypted,
    })
}

/// Whether files sort after pail's own `.pail/` objects (the first page of a listing may
/// hold only those): one page listed from just past them.
async fn files_after_reserved(
    store: &dyn pail_s3::ObjectStore,
    prefix: &pail_core::RemotePrefix,
    pair: &PairConfig,
) -> Result<bool> {
    // '0' follows '/': past every `.pail/...` key.
    let after = format!("{}.pail0", prefix.list_prefix());
    let page = store
        .list_page(&prefix.list_prefix(), None, Some(after))
        .await
        .with_context(|| format!("cannot list {}", pair.remote))?;
    Ok(page
        .objects
        .iter()
        .any(|o| prefix.path_for(&o.key).ok().flatten().is_some()))
}

fn env_endpoint() -> Option<String> {
    ["AWS_ENDPOINT_URL_S3", "AWS_ENDPOINT_URL"]
        .iter()
        .find_map(|v| std::env::var(v).ok().filter(|s| !s.is_empty()))
}
