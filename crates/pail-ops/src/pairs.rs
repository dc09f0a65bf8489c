//! The configured pairs as a whole: unpairing a folder (`pail remove`) and the effective
//! configuration (`pail config`).

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use pail_sync::config::{Config, PairConfig};
use pail_sync::ctx::{index_path, pair_locked};

/// What `remove` did.
#[derive(Debug)]
pub struct Removed {
    /// The pair as it was configured.
    pub pair: PairConfig,
    /// The pair's state folder (its index), now deleted.
    pub state: PathBuf,
}

/// Unpairs the folder `dir`: its entry leaves the config and its index is deleted. The
/// folder's files and the bucket are left alone. Refused while a pail process (the daemon)
/// syncs the pair, since it would go on syncing it until it restarts.
pub fn remove(config_file: &Path, dir: &Path) -> Result<Removed> {
    let mut config = Config::load(config_file)?;
    let abs = std::path::absolute(dir)?;
    let real = abs.canonicalize().unwrap_or_else(|_| abs.clone());
    let Some(at) = config
        .pairs
        .iter()
        .position(|p| p.folder == abs || p.folder == real)
    else {
        bail!(
            "{} is not a synced folder (`pail status` lists them)",
            abs.display()
        );
    };
    let index = index_path(&config.pairs[at])?;
    if pair_locked(&index) {
        bail!(
            "a running pail process (the daemon?) syncs {}: stop it first (`pail service uninstall`, or `systemctl --user stop pail`), then run `pail remove` again",
            config.pairs[at].folder.display()
        );
    }
    let pair = config.pairs.remove(at);
    config.save(config_file)?;
    let state = index
        .parent()
        .context("the index has no folder")?
        .to_owned();
    match std::fs::remove_dir_all(&state) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => {
            return Err(e).with_context(|| {
                format!(
                    "the pair is removed from the config, but its state folder {} could not be deleted (delete it by hand)",
                    state.display()
                )
            });
        }
    }
    Ok(Removed { pair, state })
}

/// The configuration as pail reads it: defaults filled in, `~` expanded.
#[derive(Debug, serde::Serialize)]
pub struct Effective {
    /// Where the config file is (it may not exist yet).
    pub path: PathBuf,
    /// Whether the file exists.
    pub exists: bool,
    /// The rate limits, as written.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub upload_limit: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub download_limit: Option<String>,
    /// The pairs, as pail uses them.
    pub pairs: Vec<PairConfig>,
}

impl Effective {
    /// As a config file would have it.
    pub fn to_config(&self) -> Config {
        Config {
            upload_limit: self.upload_limit.clone(),
            download_limit: self.download_limit.clone(),
            pairs: self.pairs.clone(),
        }
    }
}

/// Reads the configuration the way every command does.
pub fn effective(config_file: &Path) -> Result<Effective> {
    let config = Config::load(config_file)?;
    Ok(Effective {
        path: config_file.to_owned(),
        exists: config_file.exists(),
        upload_limit: config.upload_limit,
        download_limit: config.download_limit,
        pairs: config.pairs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remove_unpairs_one_folder_and_leaves_its_files() {
        let tmp = tempfile::tempdir().unwrap();
        let cfg = tmp.path().join("config.toml");
        let (a, b) = (tmp.path().join("a"), tmp.path().join("b"));
        for d in [&a, &b] {
            std::fs::create_dir(d).unwrap();
        }
        std::fs::write(a.join("keep.txt"), b"mine").unwrap();
        let config = Config {
            pairs: vec![
                PairConfig::new(a.clone(), "s3://bkt/a".into(), "d".into()),
                PairConfig::new(b.clone(), "s3://bkt/b".into(), "d".into()),
            ],
            ..Config::default()
        };
        config.save(&cfg).unwrap();
        let err = remove(&cfg, &tmp.path().join("c")).unwrap_err();
        assert!(
            format!("{err:#}").contains("is not a synced folder"),
            "{err:#}"
        );
        let removed = remove(&cfg, &a).unwrap();
        assert_eq!(removed.pair.folder, a);
        let left = Config::load(&cfg).unwrap();
        assert_eq!(left.pairs.len(), 1);
        assert_eq!(left.pairs[0].folder, b);
        assert_eq!(std::fs::read(a.join("keep.txt")).unwrap(), b"mine");
        let shown = effective(&cfg).unwrap();
        assert!(shown.exists);
        assert_eq!(shown.pairs.len(), 1);
    }
}
