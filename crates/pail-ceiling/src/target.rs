//! The pure parts: `s3://` URLs, keys from relative paths and back, the parts of a multipart
//! upload.

use std::path::{Path, PathBuf};

use anyhow::{Result, bail};

/// A bucket and a prefix (or a key), from `s3://BUCKET[/PREFIX]`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct S3Url {
    pub bucket: String,
    /// Without leading or trailing `/`; empty for the whole bucket.
    pub prefix: String,
}

impl S3Url {
    pub fn parse(s: &str) -> Result<S3Url> {
        let Some(rest) = s.strip_prefix("s3://") else {
            bail!("'{s}' is not an s3:// URL: write s3://BUCKET/PREFIX");
        };
        let (bucket, prefix) = rest.split_once('/').unwrap_or((rest, ""));
        if bucket.is_empty() {
            bail!("'{s}' names no bucket: write s3://BUCKET/PREFIX");
        }
        Ok(S3Url {
            bucket: bucket.to_owned(),
            prefix: prefix.trim_matches('/').to_owned(),
        })
    }

    /// The key of `rel` (a `/`-separated path) under the prefix.
    pub fn key(&self, rel: &str) -> String {
        if self.prefix.is_empty() {
            rel.to_owned()
        } else {
            format!("{}/{rel}", self.prefix)
        }
    }

    /// What a listing of the prefix asks for: the prefix and its `/`.
    pub fn list_prefix(&self) -> String {
        if self.prefix.is_empty() {
            String::new()
        } else {
            format!("{}/", self.prefix)
        }
    }
}

/// The `/`-separated relative path of `path` under `root`, the key's tail.
pub fn rel_key(root: &Path, path: &Path) -> Result<String> {
    let rel = path.strip_prefix(root)?;
    let parts: Vec<&str> = rel
        .iter()
        .map(|c| {
            c.to_str().ok_or_else(|| {
                anyhow::anyhow!(
                    "{}: the name is not UTF-8, so it makes no S3 key",
                    path.display()
                )
            })
        })
        .collect::<Result<_>>()?;
    Ok(parts.join("/"))
}

/// Where the object `key` of a listing of `list_prefix` goes under `dir`; `None` for folder
/// markers (keys ending in `/`). Keys that would leave `dir` are refused.
pub fn local_path(dir: &Path, list_prefix: &str, key: &str) -> Result<Option<PathBuf>> {
    let Some(tail) = key.strip_prefix(list_prefix) else {
        bail!("the listing of '{list_prefix}' returned '{key}', outside the prefix");
    };
    if tail.is_empty() || tail.ends_with('/') {
        return Ok(None);
    }
    let mut p = dir.to_path_buf();
    for c in tail.split('/') {
        if c.is_empty() || c == "." || c == ".." {
            bail!("key '{key}' has an empty, '.' or '..' component: no file can hold it");
        }
        p.push(c);
    }
    Ok(Some(p))
}

/// The (offset, length) of each part of a `size`-byte upload in `part`-byte parts: at least
/// one part, the last one shorter.
pub fn parts(size: u64, part: u64) -> Vec<(u64, u64)> {
    assert!(part > 0, "part size 0");
    let n = size.div_ceil(part).max(1);
    (0..n)
        .map(|i| (i * part, part.min(size - (i * part).min(size))))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls() {
        for (s, bucket, prefix) in [
            ("s3://b", "b", ""),
            ("s3://b/", "b", ""),
            ("s3://b/p", "b", "p"),
            ("s3://b/p/q/", "b", "p/q"),
        ] {
            let u = S3Url::parse(s).unwrap();
            assert_eq!(
                (u.bucket.as_str(), u.prefix.as_str()),
                (bucket, prefix),
                "{s}"
            );
        }
        for bad in ["b/p", "s3:///p", "http://b/p"] {
            assert!(S3Url::parse(bad).is_err(), "{bad}");
        }
        let u = S3Url::parse("s3://b/p").unwrap();
        assert_eq!(u.key("d/f"), "p/d/f");
        assert_eq!(u.list_prefix(), "p/");
        let root = S3Url::parse("s3://b").unwrap();
        assert_eq!(root.key("d/f"), "d/f");
        assert_eq!(root.list_prefix(), "");
    }

    #[test]
    fn keys_and_paths() {
        let root = Path::new("/data");
        assert_eq!(
            rel_key(root, Path::new("/data/d0/f.bin")).unwrap(),
            "d0/f.bin"
        );
        let dir = Path::new("/out");
        assert_eq!(
            local_path(dir, "p/", "p/d0/f.bin").unwrap(),
            Some(PathBuf::from("/out/d0/f.bin"))
        );
        assert_eq!(local_path(dir, "p/", "p/d0/").unwrap(), None);
        for bad in ["p/../x", "p/a//b", "p/./x", "q/x"] {
            assert!(local_path(dir, "p/", bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn part_plans() {
        let mib = 1 << 20;
        for (size, part, want) in [
            (0, 16 * mib, vec![(0, 0)]),
            (5, 16 * mib, vec![(0, 5)]),
            (
                32 * mib,
                16 * mib,
                vec![(0, 16 * mib), (16 * mib, 16 * mib)],
            ),
            (
                33 * mib,
                16 * mib,
                vec![(0, 16 * mib), (16 * mib, 16 * mib), (32 * mib, mib)],
            ),
        ] {
            let got = parts(size, part);
            assert_eq!(got, want, "{size} in {part}");
            assert_eq!(got.iter().map(|p| p.1).sum::<u64>(), size);
        }
    }
}
