//! The configuration file: folder pairs and their settings, in TOML.
//!
//! Where it lives follows the CLI contract: `--config FILE`, else `PAIL_CONFIG`, else
//! `<config dir>/pail/config.toml`. Secrets never go here: credentials come from the standard
//! AWS chain at run time.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use pail_core::RemotePrefix;
use pail_core::plan::SafetyConfig;
use serde::{Deserialize, Serialize};

/// The whole file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Config {
    /// Upload rate limit over all transfers of a process, e.g. "2 MiB" (per second).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub upload_limit: Option<String>,
    /// Download rate limit over all transfers of a process.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub download_limit: Option<String>,
    #[serde(default, rename = "pair")]
    pub pairs: Vec<PairConfig>,
}

/// One folder synced with one bucket prefix.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct PairConfig {
    /// Absolute path of the local folder.
    pub folder: PathBuf,
    /// `s3://bucket/prefix`.
    pub remote: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub endpoint: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
    /// This device's name in object metadata and conflict copies (default: the host name).
    #[serde(default = "default_device")]
    pub device: String,
    /// Parallel transfers of 1 MiB or more; four to eight times as many smaller ones, as
    /// probing the server finds worth it (`exec.rs`, `inflight.rs`).
    #[serde(default = "default_transfers")]
    pub transfers: usize,
    /// Files at least this big are uploaded in parts.
    #[serde(default = "default_multipart_threshold")]
    pub multipart_threshold: u64,
    /// Size of each part (raised automatically to stay under 10,000 parts).
    #[serde(default = "default_part_size")]
    pub part_size: u64,
    /// Mass-delete safety stop: share of synced files (percent).
    #[serde(default = "default_max_delete_percent")]
    pub max_delete_percent: u32,
    /// The share applies from this many deletions on.
    #[serde(default = "default_min_deletes")]
    pub min_deletes: u64,
    /// Whether the folder's disk ignores case (`Notes.txt` is `notes.txt`). Probed at every
    /// start when unset; set it only if the probe is wrong.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub case_insensitive: Option<bool>,
    /// LIST requests an hour that the daemon's full reconciles of this pair may cost: the
    /// interval between them follows the prefix's size (one request per 1,000 keys). They
    /// are how changes by other S3 clients are heard on a bucket without notifications.
    #[serde(default = "default_listing_budget")]
    pub listing_budget: u32,
    /// The SQS queue (ARN) the bucket sends its object events to (`pail init --setup
    /// --notify-queue ARN`): the daemon long-polls it, so that other clients' writes arrive in
    /// seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub notify_queue: Option<String>,
    /// End-to-end encrypted (`pail init --encrypt`, doc/ENCRYPTION.md): objects are age files,
    /// content hashes are keyed, and the pair refuses to sync without its key. Set by init,
    /// which also stores the key; never by hand.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypted: bool,
    /// Names are encrypted too (`pail init --encrypt --encrypt-names`): each path component
    /// of a key is AES-SIV encrypted. The prefix's marker decides; this copy lets `pail key
    /// passphrase` write a damaged marker again. Set by init; never by hand.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub encrypt_names: bool,
}

/// This machine's name, as a default device name.
pub fn default_device() -> String {
    let host = hostname::get()
        .map(|h| h.to_string_lossy().into_owned())
        .unwrap_or_default();
    pail_core::layout::device_from_host(&host)
}

fn default_transfers() -> usize {
    16
}
fn default_multipart_threshold() -> u64 {
    16 * 1024 * 1024
}
/// 8 MiB parts, as many in flight as `transfers` (16): a 1 GiB upload to a local Garage took
/// 2.9 s that way and 4.7 s with 16 MiB parts 8 at a time, with the same memory (128 MiB of
/// parts at most; bench/README.md).
fn default_part_size() -> u64 {
    8 * 1024 * 1024
}
fn default_listing_budget() -> u32 {
    60
}
fn default_max_delete_percent() -> u32 {
    SafetyConfig::default().max_delete_percent
}
fn default_min_deletes() -> u64 {
    SafetyConfig::default().min_deletes
}

impl PairConfig {
    /// Checks the values a user may have edited by hand.
    pub fn validate(&self) -> Result<()> {
        self.bucket_and_prefix()?;
        if self.part_size < 5 * 1024 * 1024 {
            bail!(
                "part_size = {} is too small: S3 rejects parts under 5 MiB (5242880)",
                self.part_size
            );
        }
        if self.multipart_threshold < self.part_size {
            bail!(
                "multipart_threshold must be at least part_size ({})",
                self.part_size
            );
        }
        if self.transfers == 0 || self.transfers > 256 {
            bail!("transfers = {} must be between 1 and 256", self.transfers);
        }
        if let Some(e) = &self.endpoint
            && !(e.starts_with("http://") || e.starts_with("https://"))
        {
            bail!(
                "endpoint = {e:?} needs its scheme: write \"http://{e}\" (or \"https://{e}\" if the server uses TLS)"
            );
        }
        if !pail_core::layout::valid_device_name(&self.device) {
            bail!(
                "device = {:?} must be non-empty, without '/' or control characters",
                self.device
            );
        }
        if self.max_delete_percent > 100 {
            bail!(
                "max_delete_percent = {} must be at most 100",
                self.max_delete_percent
            );
        }
        Ok(())
    }

    /// Parses `remote` into bucket and prefix.
    pub fn bucket_and_prefix(&self) -> Result<(String, RemotePrefix)> {
        parse_remote(&self.remote)
    }

    pub fn safety(&self) -> SafetyConfig {
        SafetyConfig {
            max_delete_percent: self.max_delete_percent,
            min_deletes: self.min_deletes,
        }
    }

    /// A stable id for this pair's state directory: two pairs with different folders or
    /// remotes never share an index.
    pub fn state_id(&self) -> String {
        let mut h = blake3::Hasher::new();
        h.update(self.folder.as_os_str().as_encoded_bytes());
        h.update(b"\0");
        h.update(self.remote.as_bytes());
        h.update(b"\0");
        h.update(self.endpoint.as_deref().unwrap_or("").as_bytes());
        let name = self
            .folder
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let safe: String = name
            .chars()
            .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
            .take(32)
            .collect();
        format!("{safe}-{}", &h.finalize().to_hex()[..16])
    }

    pub fn new(folder: PathBuf, remote: String, device: String) -> PairConfig {
        PairConfig {
            folder,
            remote,
            endpoint: None,
            region: None,
            profile: None,
            device,
            transfers: default_transfers(),
            multipart_threshold: default_multipart_threshold(),
            part_size: default_part_size(),
            max_delete_percent: default_max_delete_percent(),
            min_deletes: default_min_deletes(),
            case_insensitive: None,
            listing_budget: default_listing_budget(),
            notify_queue: None,
            encrypted: false,
            encrypt_names: false,
        }
    }
}

/// `s3://bucket[/prefix]` into its parts, with a message that shows the expected form.
pub fn parse_remote(remote: &str) -> Result<(String, RemotePrefix)> {
    let Some(rest) = remote.strip_prefix("s3://") else {
        bail!("remote {remote:?} must look like s3://BUCKET or s3://BUCKET/PREFIX");
    };
    let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
    if bucket.len() < 3
        || bucket.len() > 63
        || !bucket
            .chars()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.')
    {
        bail!(
            "{bucket:?} in {remote:?} is not a valid bucket name: 3-63 characters of lowercase letters, digits, '-' and '.'"
        );
    }
    let prefix = RemotePrefix::new(prefix)
        .with_context(|| format!("prefix {prefix:?} in {remote:?} is not usable"))?;
    Ok((bucket.to_owned(), prefix))
}

/// Where the config file is.
pub fn config_path(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_owned());
    }
    if let Some(p) = std::env::var_os("PAIL_CONFIG").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dirs = directories::ProjectDirs::from("", "", "pail")
        .context("cannot find the home directory: set PAIL_CONFIG to a config file path")?;
    Ok(dirs.config_dir().join("config.toml"))
}

/// Where pail keeps its state (indexes, logs, locks): `PAIL_STATE_DIR`, else the platform
/// state dir (`$XDG_STATE_HOME/pail`), else the local data dir (macOS has no state dir).
pub fn state_dir() -> Result<PathBuf> {
    if let Some(p) = std::env::var_os("PAIL_STATE_DIR").filter(|p| !p.is_empty()) {
        return Ok(PathBuf::from(p));
    }
    let dirs = directories::ProjectDirs::from("", "", "pail")
        .context("cannot find the home directory: set PAIL_STATE_DIR")?;
    Ok(dirs
        .state_dir()
        .unwrap_or_else(|| dirs.data_local_dir())
        .to_owned())
}

/// The keys outside the `[[pair]]` tables.
const TOP_KEYS: &[&str] = &["pair", "upload_limit", "download_limit"];

/// The keys of a `[[pair]]` table.
const PAIR_KEYS: &[&str] = &[
    "folder",
    "remote",
    "endpoint",
    "region",
    "profile",
    "device",
    "transfers",
    "multipart_threshold",
    "part_size",
    "max_delete_percent",
    "min_deletes",
    "case_insensitive",
    "listing_budget",
    "notify_queue",
    "encrypted",
    "encrypt_names",
];

/// Refuses keys pail does not know, naming the closest known one: a typo such as
/// `endpont = ...` must not silently send pail to AWS instead of the intended server.
fn check_keys(table: &toml::Table) -> Result<()> {
    let unknown = |key: &str, known: &[&str], place: &str| -> anyhow::Error {
        let nearest = known
            .iter()
            .map(|k| (strsim::damerau_levenshtein(key, k), *k))
            .min()
            .filter(|(d, k)| *d <= 2.max(k.len() / 3));
        match nearest {
            Some((_, k)) => anyhow::anyhow!("unknown key `{key}` {place}: did you mean `{k}`?"),
            None => anyhow::anyhow!(
                "unknown key `{key}` {place}; known keys: {}",
                known.join(", ")
            ),
        }
    };
    for key in table.keys() {
        if !TOP_KEYS.contains(&key.as_str()) {
            return Err(unknown(key, TOP_KEYS, "at the top level"));
        }
    }
    let Some(pairs) = table.get("pair") else {
        return Ok(());
    };
    let Some(pairs) = pairs.as_array() else {
        bail!("`pair` must be a list of [[pair]] tables");
    };
    for (i, pair) in pairs.iter().enumerate() {
        let Some(pair) = pair.as_table() else {
            bail!("`pair` must be a list of [[pair]] tables");
        };
        for key in pair.keys() {
            if !PAIR_KEYS.contains(&key.as_str()) {
                return Err(unknown(key, PAIR_KEYS, &format!("in [[pair]] #{}", i + 1)));
            }
        }
    }
    Ok(())
}

/// `~/x` and `$HOME/x` (or `${HOME}/x`) in a hand-written folder path, as a shell would.
fn expand_home(path: &Path) -> PathBuf {
    let Some(s) = path.to_str() else {
        return path.to_owned();
    };
    let rest = ["~", "$HOME", "${HOME}"].iter().find_map(|h| {
        s.strip_prefix(h)
            .filter(|r| r.is_empty() || r.starts_with('/'))
    });
    match (rest, directories::BaseDirs::new()) {
        (Some(rest), Some(dirs)) => dirs.home_dir().join(rest.trim_start_matches('/')),
        _ => path.to_owned(),
    }
}

impl Config {
    /// Reads the file; a missing file is an empty config. Unknown keys are refused (with the
    /// nearest known key), `~` and `$HOME` in folders are expanded, and every pair is
    /// checked.
    pub fn load(path: &Path) -> Result<Config> {
        let text = match std::fs::read_to_string(path) {
            Ok(t) => t,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Config::default()),
            Err(e) => {
                return Err(e).with_context(|| format!("cannot read config {}", path.display()));
            }
        };
        let table: toml::Table = toml::from_str(&text)
            .with_context(|| format!("config {} is not valid TOML", path.display()))?;
        check_keys(&table).with_context(|| format!("config {}", path.display()))?;
        let mut config: Config = table
            .try_into()
            .with_context(|| format!("config {} is not valid", path.display()))?;
        for p in &mut config.pairs {
            p.folder = expand_home(&p.folder);
        }
        config
            .limits()
            .with_context(|| format!("config {}", path.display()))?;
        for p in &config.pairs {
            p.validate().with_context(|| {
                format!("config {}, pair {}", path.display(), p.folder.display())
            })?;
        }
        Ok(config)
    }

    /// The rate limits the config sets (`upload_limit`, `download_limit`).
    pub fn limits(&self) -> Result<crate::limit::Limits> {
        let parse = |key: &str, v: &Option<String>| -> Result<Option<u64>> {
            v.as_deref()
                .map(|s| crate::limit::parse_rate(s).with_context(|| format!("{key} = {s:?}")))
                .transpose()
        };
        Ok(crate::limit::Limits::new(
            parse("upload_limit", &self.upload_limit)?,
            parse("download_limit", &self.download_limit)?,
        ))
    }

    /// The file's text.
    pub fn to_toml(&self) -> Result<String> {
        Ok(toml::to_string_pretty(self)?)
    }

    /// Writes the file atomically (temp file + rename), creating its directory.
    pub fn save(&self, path: &Path) -> Result<()> {
        let dir = path.parent().unwrap_or(Path::new("."));
        std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
        let text = self.to_toml()?;
        let tmp = path.with_extension("toml.tmp");
        std::fs::write(&tmp, text).with_context(|| format!("cannot write {}", tmp.display()))?;
        std::fs::rename(&tmp, path).with_context(|| format!("cannot write {}", path.display()))?;
        Ok(())
    }

    /// The pairs a command acts on: all, or the one whose folder is `folder`.
    pub fn select(&self, folder: Option<&Path>) -> Result<Vec<&PairConfig>> {
        if self.pairs.is_empty() {
            bail!("no folder pair is configured: run `pail init DIR s3://BUCKET/PREFIX` first");
        }
        match folder {
            None => Ok(self.pairs.iter().collect()),
            Some(f) => {
                let f = std::path::absolute(f)?;
                let found: Vec<_> = self.pairs.iter().filter(|p| p.folder == f).collect();
                if found.is_empty() {
                    bail!(
                        "{} is not a configured folder (see `pail status`)",
                        f.display()
                    );
                }
                Ok(found)
            }
        }
    }

    /// The pair whose folder contains `path` (for commands that take a PATH).
    pub fn pair_for_path(&self, path: &Path) -> Option<&PairConfig> {
        self.pairs.iter().find(|p| path.starts_with(&p.folder))
    }

    /// Refuses a new pair whose folder nests with another pair's folder, or whose remote
    /// overlaps another pair's remote on the same endpoint.
    pub fn check_no_overlap(&self, new: &PairConfig) -> Result<()> {
        let (nb, np) = new.bucket_and_prefix()?;
        for p in &self.pairs {
            if p.folder.starts_with(&new.folder) || new.folder.starts_with(&p.folder) {
                bail!(
                    "{} overlaps the already configured folder {} (synced with {}): folders of two pairs may not contain each other",
                    new.folder.display(),
                    p.folder.display(),
                    p.remote
                );
            }
            let (b, pr) = p.bucket_and_prefix()?;
            if b == nb && p.endpoint == new.endpoint && prefixes_overlap(pr.as_str(), np.as_str()) {
                bail!(
                    "{} overlaps {} already synced with {}: two pairs may not share keys; pick a prefix outside it",
                    new.remote,
                    p.remote,
                    p.folder.display()
                );
            }
        }
        Ok(())
    }
}

/// Segment-wise: `a` overlaps `a/b` and `` (whole bucket) overlaps everything; `a` does not
/// overlap `ab`.
fn prefixes_overlap(a: &str, b: &str) -> bool {
    let inside = |outer: &str, inner: &str| {
        outer.is_empty() || inner == outer || inner.starts_with(&format!("{outer}/"))
    };
    inside(a, b) || inside(b, a)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn load(text: &str) -> Result<Config> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("config.toml");
        std::fs::write(&path, text).unwrap();
        Config::load(&path)
    }

    #[test]
    fn the_known_keys_are_exactly_the_fields() {
        let mut p = PairConfig::new("/f".into(), "s3://bkt/p".into(), "d".into());
        p.endpoint = Some("http://x".into());
        p.region = Some("r".into());
        p.profile = Some("p".into());
        p.case_insensitive = Some(true);
        p.notify_queue = Some("arn:aws:sqs:r:1:q".into());
        p.encrypted = true;
        p.encrypt_names = true;
        let table: toml::Table = toml::from_str(&toml::to_string(&p).unwrap()).unwrap();
        let mut keys: Vec<&str> = table.keys().map(String::as_str).collect();
        let mut known = PAIR_KEYS.to_vec();
        keys.sort();
        known.sort();
        assert_eq!(keys, known);
    }

    #[test]
    fn a_mistyped_key_is_refused_with_the_nearest_one() {
        let e =
            load("[[pair]]\nfolder = \"/f\"\nremote = \"s3://bkt/p\"\nendpont = \"http://x\"\n")
                .unwrap_err();
        let text = format!("{e:#}");
        assert!(
            text.contains("unknown key `endpont`") && text.contains("did you mean `endpoint`?"),
            "{text}"
        );
        let e = load("[[pairs]]\nfolder = \"/f\"\n").unwrap_err();
        assert!(format!("{e:#}").contains("did you mean `pair`?"), "{e:#}");
        let e =
            load("[[pair]]\nfolder = \"/f\"\nremote = \"s3://bkt/p\"\nzzzzzzzz = 1\n").unwrap_err();
        assert!(
            format!("{e:#}").contains("known keys: folder, remote"),
            "{e:#}"
        );
    }

    #[test]
    fn hand_written_pairs_get_defaults_and_expansions() {
        let c = load("[[pair]]\nfolder = \"~/Pail\"\nremote = \"s3://bkt/p\"\n").unwrap();
        let home = directories::BaseDirs::new().unwrap().home_dir().to_owned();
        assert_eq!(c.pairs[0].folder, home.join("Pail"));
        assert_eq!(c.pairs[0].device, default_device());
        let c = load("[[pair]]\nfolder = \"$HOME/a/b\"\nremote = \"s3://bkt/p\"\n").unwrap();
        assert_eq!(c.pairs[0].folder, home.join("a/b"));
        let c = load("[[pair]]\nfolder = \"/srv/~x\"\nremote = \"s3://bkt/p\"\n").unwrap();
        assert_eq!(c.pairs[0].folder, Path::new("/srv/~x"));
    }

    #[test]
    fn an_endpoint_without_a_scheme_is_refused_before_any_request() {
        let e = load(
            "[[pair]]\nfolder = \"/f\"\nremote = \"s3://bkt/p\"\nendpoint = \"127.0.0.1:9000\"\n",
        )
        .unwrap_err();
        assert!(
            format!("{e:#}").contains("write \"http://127.0.0.1:9000\""),
            "{e:#}"
        );
    }

    #[test]
    fn remotes_parse_and_overlap() {
        let (b, p) = parse_remote("s3://my-bucket/a/b/").unwrap();
        assert_eq!((b.as_str(), p.as_str()), ("my-bucket", "a/b"));
        assert!(parse_remote("my-bucket/x").is_err());
        assert!(parse_remote("s3://My_Bucket").is_err());
        assert!(parse_remote("s3://bucket/a/../b").is_err());
        assert!(prefixes_overlap("a", "a/b"));
        assert!(prefixes_overlap("", "a"));
        assert!(!prefixes_overlap("a", "ab"));
    }

    #[test]
    fn overlapping_pairs_are_refused() {
        let mut c = Config::default();
        c.pairs.push(PairConfig::new(
            "/home/u/Pail".into(),
            "s3://bkt/laptop".into(),
            "d".into(),
        ));
        let nested = PairConfig::new(
            "/home/u/Pail/sub".into(),
            "s3://bkt/other".into(),
            "d".into(),
        );
        assert!(c.check_no_overlap(&nested).is_err());
        let prefix = PairConfig::new(
            "/home/u/Other".into(),
            "s3://bkt/laptop/x".into(),
            "d".into(),
        );
        assert!(c.check_no_overlap(&prefix).is_err());
        let fine = PairConfig::new(
            "/home/u/Other".into(),
            "s3://bkt/laptop2".into(),
            "d".into(),
        );
        assert!(c.check_no_overlap(&fine).is_ok());
    }
}
