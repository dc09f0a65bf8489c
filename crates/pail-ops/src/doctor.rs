//! `pail doctor`: audits each pair's bucket (the settings `init --setup` makes) and the machine
//! (credentials, clock, inotify limits, free space, state dir permissions). Every problem
//! comes with the exact command or setting that fixes it.

use std::path::Path;

use pail_s3::Versioning;
use pail_s3::admin::{AdminError, AwsAdmin, BucketAdmin, PublicAccessBlock};
use serde::Serialize;
use serde_json::Value;

use crate::setup::plan;
use pail_sync::config::{PairConfig, state_dir};
use pail_sync::ctx::{meta, open_index, s3_config};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Level {
    Ok,
    /// Works, but costs money or risks trouble later.
    Warning,
    /// Something is wrong: doctor exits 1.
    Problem,
    NotSupported,
}

#[derive(Debug, Clone, Serialize)]
pub struct Check {
    /// `machine`, or the pair's `s3://bucket/prefix`.
    pub scope: String,
    pub item: &'static str,
    pub level: Level,
    pub message: String,
    /// The command or setting that fixes it.
    pub fix: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
pub struct DoctorReport {
    pub ok: bool,
    pub checks: Vec<Check>,
}

/// Clock skew that SigV4 rejects (AWS allows 15 minutes; warn well before).
const SKEW_PROBLEM_SECS: i64 = 5 * 60;
const SKEW_WARN_SECS: i64 = 30;
const SPACE_PROBLEM: u64 = 100 << 20;
const SPACE_WARN: u64 = 1 << 30;

struct Out<'a> {
    scope: &'a str,
    checks: &'a mut Vec<Check>,
}

impl Out<'_> {
    fn add(&mut self, item: &'static str, level: Level, message: String, fix: Option<String>) {
        self.checks.push(Check {
            scope: self.scope.to_owned(),
            item,
            level,
            message,
            fix,
        });
    }
    fn ok(&mut self, item: &'static str, message: impl Into<String>) {
        self.add(item, Level::Ok, message.into(), None);
    }
    fn err(&mut self, item: &'static str, e: AdminError, fix: Option<String>) {
        match e {
            AdminError::NotSupported { detail, .. } => self.add(
                item,
                Level::NotSupported,
                format!("not supported by this server ({detail})"),
                None,
            ),
            e => self.add(item, Level::Problem, e.to_string(), fix),
        }
    }
}

/// Audits the machine and every pair; `admin_for` replaces the real connection (tests).
pub async fn doctor(pairs: &[&PairConfig]) -> DoctorReport {
    let mut checks = Vec::new();
    state_dir_check(&mut Out {
        scope: "machine",
        checks: &mut checks,
    });
    for pair in pairs {
        let mut out = Out {
            scope: &pair.remote,
            checks: &mut checks,
        };
        folder_checks(pair, &mut out);
        let admin = match s3_config(pair) {
            Ok(c) => AwsAdmin::connect(&c).await,
            Err(e) => {
                out.add("config", Level::Problem, format!("{e:#}"), None);
                continue;
            }
        };
        match admin {
            Ok(a) => {
                let probed = open_index(pair)
                    .ok()
                    .and_then(|db| db.meta_get(meta::CAPABILITIES).ok().flatten())
                    .and_then(|j| serde_json::from_str::<pail_s3::Capabilities>(&j).ok())
                    .map(|c| c.versioning);
                let setup = format!(
                    "pail init {} {} --setup",
                    pair.folder.display(),
                    pair.remote
                );
                audit_bucket(&a, probed, &setup, &mut out).await;
                encryption_check(pair, &mut out).await;
            }
            Err(e) => out.add("credentials", Level::Problem, e.to_string(), None),
        }
    }
    let ok = !checks.iter().any(|c| c.level == Level::Problem);
    DoctorReport { ok, checks }
}

/// The bucket's settings, as `init --setup` would make them. `probed` is the versioning the
/// pair's probe found (it tells a server without versioning from one with it off).
async fn audit_bucket(
    admin: &dyn BucketAdmin,
    probed: Option<Versioning>,
    setup: &str,
    out: &mut Out<'_>,
) {
    let b = admin.bucket().to_owned();
    match admin.caller_identity().await {
        Ok(Some(id)) => out.ok("credentials", format!("found; identity {}", id.arn)),
        Ok(None) => out.ok(
            "credentials",
            "found; this server does not tell whose they are",
        ),
        Err(e) => out.err("credentials", e, None),
    }
    match admin.server_time().await {
        Ok(Some(server)) => {
            let skew = (time::OffsetDateTime::now_utc() - server).whole_seconds();
            let msg = format!("this machine's clock is {skew:+} s off the server's");
            let fix = Some(
                "turn on time sync: `sudo timedatectl set-ntp true` (or start chronyd/ntpd)"
                    .to_owned(),
            );
            match skew.abs() {
                s if s >= SKEW_PROBLEM_SECS => out.add(
                    "clock",
                    Level::Problem,
                    format!("{msg}: signed requests will be refused"),
                    fix,
                ),
                s if s >= SKEW_WARN_SECS => out.add("clock", Level::Warning, msg, fix),
                _ => out.ok("clock", msg),
            }
        }
        Ok(None) => out.add(
            "clock",
            Level::NotSupported,
            "the server sent no Date header".into(),
            None,
        ),
        // This is the first request to the bucket itself: a missing bucket or a denied one
        // shows here, and the other checks would only repeat it.
        Err(e) => return out.err("bucket access", e, None),
    }

    let versioning_fix = format!(
        "aws s3api put-bucket-versioning --bucket {b} --versioning-configuration Status=Enabled (or `{setup}`)"
    );
    match (admin.versioning().await, probed) {
        (_, Some(Versioning::Unsupported)) => out.add(
            "versioning",
            Level::NotSupported,
            "not supported by this server: pail keeps trash copies under .pail/trash/ instead"
                .into(),
            None,
        ),
        (Ok(Versioning::Enabled), _) => out.ok("versioning", "enabled"),
        (Ok(v), _) => out.add(
            "versioning",
            Level::Problem,
            format!(
                "versioning is {}: overwritten and deleted files cannot be brought back",
                format!("{v:?}").to_lowercase()
            ),
            Some(versioning_fix),
        ),
        (Err(e), _) => out.err("versioning", e, Some(versioning_fix)),
    }

    let pab_fix = format!(
        "aws s3api put-public-access-block --bucket {b} --public-access-block-configuration BlockPublicAcls=true,IgnorePublicAcls=true,BlockPublicPolicy=true,RestrictPublicBuckets=true"
    );
    match admin.public_access_block().await {
        Ok(Some(p)) if p == PublicAccessBlock::ALL_ON => {
            out.ok("block public access", "all four settings on")
        }
        // With IgnorePublicAcls on, public ACLs have no effect; setup leaves BlockPublicAcls
        // off only where the server refuses uploads with it (Ceph RGW 16), so doctor does not
        // recommend what would break pail there.
        Ok(Some(p))
            if p == PublicAccessBlock {
                block_public_acls: false,
                ..PublicAccessBlock::ALL_ON
            } =>
        {
            out.ok(
                "block public access",
                "on as far as this bucket allows: IgnorePublicAcls, BlockPublicPolicy and RestrictPublicBuckets; public ACLs have no effect (BlockPublicAcls stays off where the server refuses uploads with it)",
            )
        }
        Ok(Some(p)) => out.add(
            "block public access",
            Level::Problem,
            format!("not all Block Public Access settings are on: {p}"),
            Some(pab_fix),
        ),
        Ok(None) => out.add(
            "block public access",
            Level::Problem,
            "Block Public Access is not configured on this bucket".into(),
            Some(pab_fix),
        ),
        Err(e) => out.err("block public access", e, Some(pab_fix)),
    }

    let enc_fix = format!(
        "aws s3api put-bucket-encryption --bucket {b} --server-side-encryption-configuration '{{\"Rules\":[{{\"ApplyServerSideEncryptionByDefault\":{{\"SSEAlgorithm\":\"AES256\"}}}}]}}'"
    );
    match admin.encryption().await {
        Ok(Some(e)) => out.ok("default encryption", format!("{e:?}")),
        Ok(None) => out.add(
            "default encryption",
            Level::Problem,
            "no default encryption".into(),
            Some(enc_fix),
        ),
        Err(e) => out.err("default encryption", e, Some(enc_fix)),
    }

    match admin.policy().await {
        // A TLS-only policy would refuse pail itself on a plain-HTTP endpoint.
        Ok(_) if admin.plain_http() => out.add(
            "bucket policy",
            Level::NotSupported,
            "the endpoint is plain HTTP: a TLS-only policy cannot apply; use an https:// endpoint"
                .into(),
            None,
        ),
        Ok(Some(text)) => match serde_json::from_str::<Value>(&text) {
            Ok(p) if plan::denies_insecure_transport(&p) => {
                out.ok("bucket policy", "denies requests not over TLS")
            }
            _ => out.add(
                "bucket policy",
                Level::Problem,
                "the bucket policy does not deny requests without TLS".into(),
                Some(format!(
                    "`{setup}` adds the statement {} to the existing policy",
                    plan::SID_TLS
                )),
            ),
        },
        Ok(None) => out.add(
            "bucket policy",
            Level::Problem,
            "no bucket policy: requests without TLS are allowed".into(),
            Some(format!("`{setup}`")),
        ),
        Err(e) => out.err("bucket policy", e, Some(format!("`{setup}`"))),
    }

    match admin.lifecycle().await {
        Ok(rules) => lifecycle_checks(&rules, setup, out),
        Err(e) => out.err("lifecycle rules", e, None),
    }
}

/// Lifecycle sanity: nothing may expire current objects (that deletes synced files), and the
/// costs of versions and abandoned uploads should be bounded.
fn lifecycle_checks(rules: &[Value], setup: &str, out: &mut Out<'_>) {
    let enabled: Vec<&Value> = rules
        .iter()
        .filter(|r| r.get("Status").and_then(Value::as_str) == Some("Enabled"))
        .collect();
    let expiring: Vec<String> = enabled
        .iter()
        .filter(|r| {
            r.pointer("/Expiration/Days").is_some() || r.pointer("/Expiration/Date").is_some()
        })
        .map(|r| {
            r.get("ID")
                .and_then(Value::as_str)
                .unwrap_or("(no ID)")
                .to_owned()
        })
        .collect();
    if !expiring.is_empty() {
        out.add(
            "lifecycle rules",
            Level::Problem,
            format!("rule(s) {} expire current objects: S3 will delete synced files and pail will delete them locally too", expiring.join(", ")),
            Some("remove the Expiration Days/Date from those rules (expire noncurrent versions instead: `--expire-noncurrent-after DAYS`)".into()),
        );
    }
    let has = |p: &str| enabled.iter().any(|r| r.pointer(p).is_some());
    let mut gaps = Vec::new();
    if !has("/AbortIncompleteMultipartUpload") {
        gaps.push(
            "no rule aborts incomplete multipart uploads (their parts are billed until aborted)",
        );
    }
    if !has("/NoncurrentVersionTransitions") && !has("/NoncurrentVersionExpiration") {
        gaps.push(
            "old versions are kept in the standard class forever (each is billed as storage)",
        );
    }
    if gaps.is_empty() {
        if expiring.is_empty() {
            out.ok(
                "lifecycle rules",
                format!(
                    "{} rule(s); old versions and abandoned uploads are bounded",
                    enabled.len()
                ),
            );
        }
    } else {
        out.add(
            "lifecycle rules",
            Level::Warning,
            gaps.join("; "),
            Some(format!("`{setup}`")),
        );
    }
}

/// End-to-end encryption as every sync checks it (`pail_sync::crypt::check_pair`): the
/// prefix's marker against the pair, and this device's key against the marker.
async fn encryption_check(pair: &PairConfig, out: &mut Out<'_>) {
    let checked = async {
        let store = pail_sync::remote::connect_store(pair, &pail_s3::AwsStoreFactory).await?;
        let (_, prefix) = pair.bucket_and_prefix()?;
        pail_sync::crypt::check_pair(pair, store.as_ref(), &prefix).await
    };
    match checked.await {
        Ok(Some(k)) => out.ok(
            "end-to-end encryption",
            format!(
                "on{}; this device's key matches the prefix's ({})",
                match k.names {
                    pail_crypt::NameMode::AesSiv => ", names too",
                    pail_crypt::NameMode::Plain => " (names as they are)",
                },
                k.key.recipient()
            ),
        ),
        Ok(None) => out.ok("end-to-end encryption", "off"),
        Err(e) => out.add(
            "end-to-end encryption",
            Level::Problem,
            format!("{e:#}"),
            None,
        ),
    }
}

fn state_dir_check(out: &mut Out<'_>) {
    let Ok(dir) = state_dir() else {
        return out.add(
            "state dir",
            Level::Problem,
            "no home directory".into(),
            Some("set PAIL_STATE_DIR".into()),
        );
    };
    match std::fs::metadata(&dir) {
        Err(_) => out.ok("state dir", format!("{} (not created yet)", dir.display())),
        Ok(m) => {
            use std::os::unix::fs::PermissionsExt;
            let mode = m.permissions().mode() & 0o777;
            if mode & 0o077 != 0 {
                out.add(
                    "state dir",
                    Level::Problem,
                    format!("{} is readable by other users (mode {mode:o}): the index lists every file name", dir.display()),
                    Some(format!("chmod 700 {}", dir.display())),
                );
            } else {
                out.ok("state dir", format!("{} (mode {mode:o})", dir.display()));
            }
        }
    }
}

fn folder_checks(pair: &PairConfig, out: &mut Out<'_>) {
    let folder = &pair.folder;
    if !folder.is_dir() {
        return out.add(
            "folder",
            Level::Problem,
            format!("{} is missing or not a directory", folder.display()),
            Some("mount the disk that holds it, or create it".into()),
        );
    }
    match rustix::fs::statvfs(folder) {
        Ok(s) => {
            let free = s.f_bavail.saturating_mul(s.f_frsize);
            let msg = format!("{} MiB free on the folder's filesystem", free >> 20);
            let fix = Some(format!(
                "free space on the filesystem of {}",
                folder.display()
            ));
            match free {
                f if f < SPACE_PROBLEM => out.add("free space", Level::Problem, msg, fix),
                f if f < SPACE_WARN => out.add("free space", Level::Warning, msg, fix),
                _ => out.ok("free space", msg),
            }
        }
        Err(e) => out.add(
            "free space",
            Level::Warning,
            format!("cannot tell: {e}"),
            None,
        ),
    }
    if let Some(max) = inotify_max_watches() {
        let dirs = count_dirs(folder);
        let msg = format!("{dirs} directories to watch; fs.inotify.max_user_watches = {max}");
        let fix = Some(format!(
            "echo fs.inotify.max_user_watches={} | sudo tee /etc/sysctl.d/90-pail.conf && sudo sysctl --system",
            (dirs * 4).max(524_288)
        ));
        // The limit is per user and shared with editors and other watchers.
        if dirs >= max {
            out.add(
                "inotify",
                Level::Problem,
                format!("{msg}: the watcher cannot see every directory"),
                fix,
            );
        } else if dirs * 2 >= max {
            out.add(
                "inotify",
                Level::Warning,
                format!("{msg}: over half the per-user limit"),
                fix,
            );
        } else {
            out.ok("inotify", msg);
        }
    }
}

/// `None` off Linux, where there is no such limit.
fn inotify_max_watches() -> Option<u64> {
    std::fs::read_to_string("/proc/sys/fs/inotify/max_user_watches")
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// Directories under `root`, itself included, symlinks not followed (the watcher does not
/// follow them either).
fn count_dirs(root: &Path) -> u64 {
    let mut n = 0;
    let mut stack = vec![root.to_owned()];
    while let Some(d) = stack.pop() {
        n += 1;
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            if e.file_type().is_ok_and(|t| t.is_dir()) {
                stack.push(e.path());
            }
        }
    }
    n
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn run(rules: &[Value]) -> Vec<Check> {
        let mut checks = Vec::new();
        lifecycle_checks(
            rules,
            "pail init --setup",
            &mut Out {
                scope: "s",
                checks: &mut checks,
            },
        );
        checks
    }

    #[test]
    fn lifecycle_sanity() {
        let good = plan::desired_lifecycle(&[], None).unwrap();
        let c = run(&good);
        assert_eq!(c.len(), 1);
        assert_eq!(c[0].level, Level::Ok);

        let c = run(&[]);
        assert_eq!(c[0].level, Level::Warning);
        assert!(c[0].message.contains("multipart") && c[0].message.contains("forever"));

        let mut bad = good.clone();
        bad.push(json!({"ID": "cleanup", "Status": "Enabled", "Expiration": {"Days": 30}}));
        let c = run(&bad);
        assert_eq!(c[0].level, Level::Problem);
        assert!(c[0].message.contains("cleanup"));
        // A disabled rule does nothing.
        bad[3]["Status"] = json!("Disabled");
        assert_eq!(run(&bad)[0].level, Level::Ok);
    }

    #[test]
    fn dirs_are_counted() {
        let t = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(t.path().join("a/b")).unwrap();
        std::fs::create_dir_all(t.path().join("c")).unwrap();
        std::fs::write(t.path().join("a/f"), b"x").unwrap();
        assert_eq!(count_dirs(t.path()), 4);
    }
}
