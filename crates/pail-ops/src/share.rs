//! `pail share PATH`: a link that lets anyone who has it download one file (its current
//! version, or a given one) for a while, without credentials: a presigned GET.
//!
//! On an end-to-end encrypted pair the object is an age file that only the pair's key opens,
//! so a link would hand out bytes its recipient cannot read: refused, unless asked for with
//! `--ciphertext` (doc/ENCRYPTION.md, "Sharing").

use std::time::{Duration, SystemTime};

use anyhow::{Context, Result, bail};
use pail_core::RelPath;
use pail_sync::PairRemote;

use crate::restore::source_of;
use crate::versions::versions_of;

/// The longest life of a SigV4 presigned URL.
pub const MAX_EXPIRY: Duration = Duration::from_secs(7 * 24 * 3600);

/// A share link.
#[derive(Debug, Clone, serde::Serialize)]
pub struct Share {
    /// The file shared.
    pub path: String,
    /// The version it opens (`null`: whatever is current when it is used).
    pub version_id: Option<String>,
    /// The link: it opens the file for anyone who has it.
    pub url: String,
    /// When the link stops working (UTC, RFC 3339).
    pub expires_at: String,
    /// When the credentials that signed it expire, if they are temporary (UTC, RFC 3339):
    /// the link dies then, earlier than `expires_at`.
    pub credentials_expire_at: Option<String>,
    /// The link serves the age-encrypted object of an encrypted pair (`--ciphertext`): it
    /// opens only with the pair's key (`pail key export`).
    pub ciphertext: bool,
}

/// Reads how long a link lasts: a duration such as `7d`, `12h` or `90m`, at most 7 days.
pub fn parse_expiry(s: &str) -> Result<Duration> {
    let d = crate::when::parse_duration(s)?;
    if d > MAX_EXPIRY {
        bail!(
            "{s} is too long: a link signed with AWS Signature Version 4 lasts at most 7 days (7d); share again when it expires"
        );
    }
    Ok(d)
}

/// Makes a link to `path` (at `version_id`, else its current version) lasting `expires`. The
/// file must exist in the bucket: a link to nothing is refused rather than handed out. On an
/// encrypted pair only with `ciphertext` (the link then serves the age file); on a plain pair
/// `ciphertext` is refused, since there is none.
pub async fn share(
    remote: &PairRemote,
    path: &RelPath,
    version_id: Option<&str>,
    expires: Duration,
    ciphertext: bool,
) -> Result<Share> {
    match (remote.key.is_some(), ciphertext) {
        (true, false) => bail!(
            "{path} is end-to-end encrypted, and a link would hand out ciphertext that only this \
             pair's key opens: run `pail restore {path} --to FILE` and send FILE another way \
             (or share --ciphertext: a link to the age file, for someone who has the key from \
             `pail key export`)"
        ),
        (false, true) => bail!(
            "{path} is not end-to-end encrypted, so there is no ciphertext to share: drop \
             --ciphertext"
        ),
        _ => {}
    }
    // A version id from `pail history` may name a trash copy (`trash:...`, buckets without
    // versioning): that copy's own key is what the link opens.
    let (key, object_version) = match version_id {
        Some(id) => {
            let versions = versions_of(remote, path).await?;
            let v = versions.iter().find(|v| v.id() == id).with_context(|| {
                format!("{path} has no version {id} (`pail history {path}` lists them)")
            })?;
            source_of(remote, path, v)?
        }
        None => (remote.key(path)?, None),
    };
    let head = remote
        .store
        .head(&key, object_version.as_deref())
        .await
        .with_context(|| format!("looking up {path} in the bucket"))?;
    match head {
        Some(h) if !h.delete_marker => {}
        _ => bail!(
            "{path}: {} in the bucket, so there is nothing to share (`pail history {path}` lists its versions)",
            match version_id {
                Some(v) => format!("version {v} is not"),
                None => "it is not".to_owned(),
            }
        ),
    }
    let p = remote
        .store
        .presign_get(&key, object_version.as_deref(), expires)
        .await
        .with_context(|| format!("signing a link to {path}"))?;
    let when = |t: SystemTime| {
        time::OffsetDateTime::from(t)
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default()
    };
    Ok(Share {
        path: path.to_string(),
        version_id: version_id.map(str::to_owned),
        url: p.url,
        expires_at: when(SystemTime::now() + expires),
        credentials_expire_at: p.credentials_expire.map(when),
        ciphertext,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_read_like_people_write_them() {
        assert_eq!(parse_expiry("7d").unwrap(), MAX_EXPIRY);
        assert_eq!(parse_expiry("12h").unwrap(), Duration::from_secs(12 * 3600));
        assert_eq!(parse_expiry("1h30m").unwrap(), Duration::from_secs(5400));
        let e = parse_expiry("8d").unwrap_err();
        assert!(format!("{e:#}").contains("at most 7 days"), "{e:#}");
        assert!(parse_expiry("soon").is_err());
        assert!(parse_expiry("0s").is_err());
    }
}
