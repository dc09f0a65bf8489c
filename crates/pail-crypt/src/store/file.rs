//! The file store: `STATE_DIR/keys/PAIR.age-identity`, mode 0600, in age's identity-file
//! format (so `age -d -i FILE` reads it as is).

use std::fs;
use std::io::Write;
use std::path::{Path, PathBuf};

use age::secrecy::ExposeSecret;
use zeroize::Zeroizing;

use super::{KeyStore, StoreError, check_pair_id};
use crate::key::PrefixKey;

/// Keys as files under `DIR/keys/`.
#[derive(Clone, Debug)]
pub struct FileStore {
    dir: PathBuf,
}

impl FileStore {
    /// Keys under `state_dir/keys/`.
    pub fn new(state_dir: impl Into<PathBuf>) -> Self {
        FileStore {
            dir: state_dir.into().join("keys"),
        }
    }

    /// The file of `pair`'s key.
    pub fn path(&self, pair: &str) -> Result<PathBuf, StoreError> {
        check_pair_id(pair)?;
        Ok(self.dir.join(format!("{pair}.age-identity")))
    }
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> StoreError + '_ {
    move |source| StoreError::Io {
        path: path.to_owned(),
        source,
    }
}

impl KeyStore for FileStore {
    fn load(&self, pair: &str) -> Result<Option<PrefixKey>, StoreError> {
        let path = self.path(pair)?;
        let text = match fs::read_to_string(&path) {
            Ok(t) => Zeroizing::new(t),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io(&path)(e)),
        };
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = fs::metadata(&path).map_err(io(&path))?.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                return Err(StoreError::Permissions { path, mode });
            }
        }
        let what = format!("key file {}", path.display());
        let key = PrefixKey::from_secret(&text, &what)?;
        // The comment records the public key: a changed file whose secret still parses (bech32
        // has a checksum, so this takes a deliberate edit) must still match it.
        if let Some(recorded) = text.lines().find_map(|l| l.strip_prefix("# public key: ")) {
            key.check_recipient(recorded, &what)?;
        }
        Ok(Some(key))
    }

    fn store(&self, pair: &str, key: &PrefixKey) -> Result<(), StoreError> {
        let path = self.path(pair)?;
        create_private_dir(&self.dir)?;
        let text = Zeroizing::new(format!(
            "# pail key of pair {pair}: keep it secret (`pail key export` prints it)\n\
             # public key: {}\n{}\n",
            key.recipient(),
            key.secret().expose_secret()
        ));
        // Written beside and renamed over, created 0600 from the start: never a moment with
        // a partial or readable file.
        let tmp = self.dir.join(format!(".{pair}.age-identity.tmp"));
        let _ = fs::remove_file(&tmp);
        let mut opts = fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(io(&tmp))?;
        f.write_all(text.as_bytes()).map_err(io(&tmp))?;
        f.sync_all().map_err(io(&tmp))?;
        drop(f);
        fs::rename(&tmp, &path).map_err(io(&path))?;
        Ok(())
    }

    fn delete(&self, pair: &str) -> Result<(), StoreError> {
        let path = self.path(pair)?;
        match fs::remove_file(&path) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(io(&path)(e)),
        }
    }

    fn describe(&self) -> String {
        format!("files in {}", self.dir.display())
    }
}

fn create_private_dir(dir: &Path) -> Result<(), StoreError> {
    let mut b = fs::DirBuilder::new();
    b.recursive(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::DirBuilderExt;
        b.mode(0o700);
    }
    b.create(dir).map_err(io(dir))
}
