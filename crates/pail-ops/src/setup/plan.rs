//! The pure half of `pail init --setup`: what the bucket settings should be, merged with what
//! is there. No I/O, so every merge and diff rule is unit-tested here.
//!
//! pail owns only the policy statements and lifecycle rules it names (`Pail*` Sids, `pail-*`
//! rule IDs): it replaces those and leaves everything else exactly as it found it.

use anyhow::{Result, bail};
use serde_json::{Value, json};

pub const SID_TLS: &str = "PailDenyInsecureTransport";
pub const SID_PRINCIPAL: &str = "PailDenyOtherPrincipals";
pub const RULE_NONCURRENT: &str = "pail-noncurrent-versions";
pub const RULE_MULTIPART: &str = "pail-abort-incomplete-multipart";
pub const RULE_DELETE_MARKERS: &str = "pail-expired-delete-markers";
/// The Id of pail's event notification.
pub const NOTIFY_ID: &str = "pail-sync-events";

/// Storage classes a noncurrent version may move to, as S3 names them.
const CLASSES: &[&str] = &[
    "STANDARD_IA",
    "ONEZONE_IA",
    "INTELLIGENT_TIERING",
    "GLACIER_IR",
    "GLACIER",
    "DEEP_ARCHIVE",
];

/// S3's bucket naming rules, checked before any request so the message can say which rule
/// (servers answer a bad name with anything from 400 to a 404 on HEAD).
pub fn check_bucket_name(name: &str) -> std::result::Result<(), String> {
    let ok_chars = name
        .chars()
        .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '.');
    let edge = |c: Option<char>| c.is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let ip_like = name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok());
    let why = if !(3..=63).contains(&name.len()) {
        "it must be 3 to 63 characters long"
    } else if !ok_chars {
        "only lowercase letters, digits, '-' and '.' are allowed"
    } else if !edge(name.chars().next()) || !edge(name.chars().last()) {
        "it must start and end with a letter or digit"
    } else if name.contains("..") || name.contains(".-") || name.contains("-.") {
        "dots may not be next to each other or to a '-'"
    } else if ip_like {
        "it may not look like an IP address"
    } else if name.starts_with("xn--") || name.ends_with("-s3alias") {
        "the prefix xn-- and the suffix -s3alias are reserved"
    } else {
        return Ok(());
    };
    Err(why.to_owned())
}

/// One `--storage-class-after DAYS:CLASS`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Transition {
    pub days: u32,
    pub class: String,
}

impl std::str::FromStr for Transition {
    type Err = String;

    fn from_str(s: &str) -> std::result::Result<Self, String> {
        let (d, c) = s
            .split_once(':')
            .ok_or_else(|| format!("{s:?} must look like DAYS:CLASS, e.g. 90:GLACIER"))?;
        let days: u32 = d
            .trim()
            .parse()
            .ok()
            .filter(|n| *n > 0)
            .ok_or_else(|| format!("{d:?} in {s:?} must be a number of days above 0"))?;
        let class = c.trim().to_ascii_uppercase();
        if !CLASSES.contains(&class.as_str()) {
            return Err(format!(
                "{c:?} in {s:?} is not a storage class; use one of {}",
                CLASSES.join(", ")
            ));
        }
        // S3 refuses to move objects to the IA classes before they are 30 days old.
        if class.ends_with("_IA") && class != "GLACIER_IR" && days < 30 {
            return Err(format!(
                "{s:?}: S3 needs at least 30 days before {class}; use 30:{class} or more"
            ));
        }
        Ok(Transition { days, class })
    }
}

/// The lifecycle rules pail wants. `transitions` empty means the default, STANDARD_IA at 30.
pub fn desired_lifecycle(
    transitions: &[Transition],
    expire_noncurrent_after: Option<u32>,
) -> Result<Vec<Value>> {
    let mut ts = if transitions.is_empty() {
        vec![Transition {
            days: 30,
            class: "STANDARD_IA".into(),
        }]
    } else {
        transitions.to_vec()
    };
    ts.sort_by_key(|t| t.days);
    for w in ts.windows(2) {
        if w[0].days == w[1].days {
            bail!(
                "two storage classes after {} days: give each a different day",
                w[0].days
            );
        }
    }
    let mut noncurrent = json!({
        "ID": RULE_NONCURRENT,
        "Filter": {"Prefix": ""},
        "Status": "Enabled",
        "NoncurrentVersionTransitions": ts.iter().map(|t| json!({
            "NoncurrentDays": t.days, "StorageClass": t.class
        })).collect::<Vec<_>>(),
    });
    if let Some(days) = expire_noncurrent_after {
        let last = ts.last().map_or(0, |t| t.days);
        if days <= last {
            bail!(
                "--expire-noncurrent-after {days} must be later than the last storage class change ({last} days)"
            );
        }
        noncurrent["NoncurrentVersionExpiration"] = json!({ "NoncurrentDays": days });
    }
    Ok(vec![
        noncurrent,
        json!({
            "ID": RULE_MULTIPART,
            "Filter": {"Prefix": ""},
            "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7},
        }),
        json!({
            "ID": RULE_DELETE_MARKERS,
            "Filter": {"Prefix": ""},
            "Status": "Enabled",
            "Expiration": {"ExpiredObjectDeleteMarker": true},
        }),
    ])
}

/// A rule in one canonical form: servers return `Filter: {}` or a legacy top-level `Prefix`
/// for the same "whole bucket" filter (Ceph answers with the latter).
fn normalize_rule(r: &Value) -> Value {
    let mut r = r.clone();
    if let Some(m) = r.as_object_mut() {
        let legacy = m.remove("Prefix");
        let filter = m.entry("Filter").or_insert_with(|| json!({}));
        if let (Some(f), Some(p)) = (filter.as_object_mut(), legacy) {
            f.entry("Prefix").or_insert(p);
        }
        if let Some(f) = m.get_mut("Filter").and_then(Value::as_object_mut) {
            f.entry("Prefix").or_insert(json!(""));
        }
    }
    r
}

/// The result of merging wanted items into existing ones.
#[derive(Debug, Clone, PartialEq)]
pub struct Merge {
    pub merged: Vec<Value>,
    /// Names (rule IDs, Sids) pail added or replaced: empty means "already so".
    pub changed: Vec<String>,
}

/// Replaces existing rules with the IDs pail owns, appends missing ones, keeps the rest.
pub fn merge_lifecycle(existing: &[Value], desired: &[Value]) -> Merge {
    merge_by(existing, desired, "ID", |a, b| {
        normalize_rule(a) == normalize_rule(b)
    })
}

fn merge_by(
    existing: &[Value],
    desired: &[Value],
    key: &str,
    same: impl Fn(&Value, &Value) -> bool,
) -> Merge {
    let mut merged = existing.to_vec();
    let mut changed = Vec::new();
    for d in desired {
        let id = d.get(key).and_then(Value::as_str).unwrap_or_default();
        match merged
            .iter_mut()
            .find(|e| e.get(key).and_then(Value::as_str) == Some(id))
        {
            Some(e) if same(e, d) => {}
            Some(e) => {
                *e = d.clone();
                changed.push(id.to_owned());
            }
            None => {
                merged.push(d.clone());
                changed.push(id.to_owned());
            }
        }
    }
    Merge { merged, changed }
}

/// The IAM principal a policy should name for a caller: STS answers with the session ARN of
/// an assumed role (`arn:aws:sts::1:assumed-role/R/session`); policies need the role
/// (`arn:aws:iam::1:role/R`).
pub fn principal_for(caller_arn: &str) -> String {
    if let Some(rest) = caller_arn.strip_prefix("arn:aws:sts::")
        && let Some((account, tail)) = rest.split_once(":assumed-role/")
        && let Some((role, _session)) = tail.split_once('/')
    {
        return format!("arn:aws:iam::{account}:role/{role}");
    }
    caller_arn.to_owned()
}

/// pail's statements: deny anything not over TLS and, with a principal, deny every other
/// principal. A Deny with `aws:PrincipalArn` (not `NotPrincipal`) is what AWS recommends: it
/// matches the role of any session of that role.
///
/// The principal statement leaves the bucket-policy actions out (`NotAction`), so that a wrong
/// ARN can never lock the owner out of fixing the policy itself. `tls` is false on plain-HTTP
/// endpoints, where a TLS-only statement would refuse pail's own requests.
pub fn desired_statements(bucket: &str, principal: Option<&str>, tls: bool) -> Vec<Value> {
    let resources = json!([
        format!("arn:aws:s3:::{bucket}"),
        format!("arn:aws:s3:::{bucket}/*")
    ]);
    let mut v = Vec::new();
    if tls {
        v.push(json!({
            "Sid": SID_TLS,
            "Effect": "Deny",
            "Principal": "*",
            "Action": "s3:*",
            "Resource": resources,
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
        }));
    }
    if let Some(p) = principal {
        v.push(json!({
            "Sid": SID_PRINCIPAL,
            "Effect": "Deny",
            "Principal": "*",
            "NotAction": ["s3:GetBucketPolicy", "s3:PutBucketPolicy", "s3:DeleteBucketPolicy"],
            "Resource": resources,
            "Condition": {"StringNotEquals": {"aws:PrincipalArn": p}},
        }));
    }
    v
}

/// The Sid of pail's statement in an event queue's policy, one per bucket (a queue may serve
/// several buckets; pairs of one bucket share it).
pub fn queue_sid(bucket: &str) -> String {
    format!("pail-s3-events-{bucket}")
}

/// The queue policy statement that lets S3 send `bucket`'s events to the queue: only from that
/// bucket and, when the account is known, only for a bucket of that account (so that a bucket
/// of the same name in another account, after this one is deleted, cannot).
pub fn queue_statement(bucket: &str, queue_arn: &str, account: Option<&str>) -> Value {
    // The bucket's ARN is in the queue's partition (aws, aws-cn, aws-us-gov).
    let partition = queue_arn.split(':').nth(1).unwrap_or("aws");
    let mut condition =
        json!({"ArnLike": {"aws:SourceArn": format!("arn:{partition}:s3:::{bucket}")}});
    if let Some(a) = account {
        condition["StringEquals"] = json!({"aws:SourceAccount": a});
    }
    json!({
        "Sid": queue_sid(bucket),
        "Effect": "Allow",
        "Principal": {"Service": "s3.amazonaws.com"},
        "Action": "sqs:SendMessage",
        "Resource": queue_arn,
        "Condition": condition,
    })
}

/// A statement in one canonical form: a single string and a one-element list are the same,
/// list order does not matter, and `"*"` equals `{"AWS": "*"}` as a principal.
fn normalize_statement(s: &Value) -> Value {
    fn norm(v: &Value) -> Value {
        match v {
            Value::String(_) => json!([v]),
            Value::Array(a) => {
                let mut items: Vec<Value> = a.iter().map(norm).collect();
                items.sort_by_key(|x| x.to_string());
                if items.len() == 1 {
                    items.remove(0)
                } else {
                    Value::Array(items)
                }
            }
            Value::Object(m) => {
                Value::Object(m.iter().map(|(k, v)| (k.clone(), norm(v))).collect())
            }
            other => json!([other.to_string()]),
        }
    }
    let mut s = s.clone();
    if let Some(m) = s.as_object_mut()
        && m.get("Principal") == Some(&json!("*"))
    {
        m.insert("Principal".into(), json!({"AWS": "*"}));
    }
    norm(&s)
}

/// Merges pail's statements into the existing policy document by Sid.
pub fn merge_policy(existing: Option<&str>, desired: &[Value]) -> Result<(Value, Merge)> {
    let mut doc = match existing {
        Some(text) => serde_json::from_str::<Value>(text).map_err(|e| {
            anyhow::anyhow!("the current policy is not valid JSON ({e}); fix or delete it first")
        })?,
        None => json!({"Version": "2012-10-17", "Statement": []}),
    };
    let statements = match doc.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(one @ Value::Object(_)) => vec![one.clone()],
        _ => Vec::new(),
    };
    let merge = merge_by(&statements, desired, "Sid", |a, b| {
        normalize_statement(a) == normalize_statement(b)
    });
    if let Some(m) = doc.as_object_mut() {
        m.entry("Version").or_insert(json!("2012-10-17"));
        m.insert("Statement".into(), Value::Array(merge.merged.clone()));
    }
    Ok((doc, merge))
}

/// Whether a policy denies plain-HTTP requests (any statement, pail's or not).
pub fn denies_insecure_transport(policy: &Value) -> bool {
    let statements = match policy.get("Statement") {
        Some(Value::Array(a)) => a.clone(),
        Some(one) => vec![one.clone()],
        None => return false,
    };
    statements.iter().any(|s| {
        s.get("Effect").and_then(Value::as_str) == Some("Deny")
            && s.pointer("/Condition/Bool/aws:SecureTransport")
                .map(|v| v == &json!("false") || v == &json!(false) || v == &json!(["false"]))
                .unwrap_or(false)
    })
}

/// A line diff of two JSON documents, pretty-printed: `-` old, `+` new, two-space context.
pub fn json_diff(old: Option<&Value>, new: &Value) -> String {
    let pretty = |v: &Value| serde_json::to_string_pretty(v).unwrap_or_default();
    let a: Vec<String> = old
        .map(pretty)
        .unwrap_or_default()
        .lines()
        .map(str::to_owned)
        .collect();
    let b: Vec<String> = pretty(new).lines().map(str::to_owned).collect();
    // Longest common subsequence: these documents are a few hundred lines at most.
    let mut lcs = vec![vec![0usize; b.len() + 1]; a.len() + 1];
    for i in (0..a.len()).rev() {
        for j in (0..b.len()).rev() {
            lcs[i][j] = if a[i] == b[j] {
                lcs[i + 1][j + 1] + 1
            } else {
                lcs[i + 1][j].max(lcs[i][j + 1])
            };
        }
    }
    let (mut i, mut j, mut out) = (0, 0, String::new());
    while i < a.len() || j < b.len() {
        if i < a.len() && j < b.len() && a[i] == b[j] {
            out += &format!("  {}\n", a[i]);
            (i, j) = (i + 1, j + 1);
        } else if j < b.len() && (i == a.len() || lcs[i][j + 1] >= lcs[i + 1][j]) {
            out += &format!("+ {}\n", b[j]);
            j += 1;
        } else {
            out += &format!("- {}\n", a[i]);
            i += 1;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bucket_names() {
        assert!(check_bucket_name("my-pail.files-2").is_ok());
        for bad in [
            "ab",
            "-abc",
            "abc-",
            "a..b",
            "Abc",
            "a_b",
            "192.168.1.1",
            "xn--abc",
        ] {
            assert!(check_bucket_name(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn transitions_parse_and_validate() {
        let t: Transition = "90:glacier".parse().unwrap();
        assert_eq!((t.days, t.class.as_str()), (90, "GLACIER"));
        assert!(
            "10:STANDARD_IA"
                .parse::<Transition>()
                .unwrap_err()
                .contains("30 days")
        );
        assert!("x:GLACIER".parse::<Transition>().is_err());
        assert!(
            "30:TAPE"
                .parse::<Transition>()
                .unwrap_err()
                .contains("DEEP_ARCHIVE")
        );
        assert!("0:GLACIER".parse::<Transition>().is_err());
        assert!("5:GLACIER_IR".parse::<Transition>().is_ok());
    }

    #[test]
    fn lifecycle_defaults_and_options() {
        let rules = desired_lifecycle(&[], None).unwrap();
        assert_eq!(rules.len(), 3);
        assert_eq!(
            rules[0]["NoncurrentVersionTransitions"],
            json!([{"NoncurrentDays": 30, "StorageClass": "STANDARD_IA"}])
        );
        assert!(rules[0].get("NoncurrentVersionExpiration").is_none());
        assert_eq!(
            rules[1]["AbortIncompleteMultipartUpload"]["DaysAfterInitiation"],
            7
        );
        assert_eq!(rules[2]["Expiration"]["ExpiredObjectDeleteMarker"], true);

        let ts = [
            "90:GLACIER".parse().unwrap(),
            "30:STANDARD_IA".parse().unwrap(),
        ];
        let rules = desired_lifecycle(&ts, Some(365)).unwrap();
        assert_eq!(
            rules[0]["NoncurrentVersionTransitions"][1]["StorageClass"],
            "GLACIER"
        );
        assert_eq!(
            rules[0]["NoncurrentVersionExpiration"]["NoncurrentDays"],
            365
        );
        assert!(desired_lifecycle(&ts, Some(60)).is_err());
        let dup = [
            "90:GLACIER".parse().unwrap(),
            "90:DEEP_ARCHIVE".parse().unwrap(),
        ];
        assert!(desired_lifecycle(&dup, None).is_err());
    }

    #[test]
    fn lifecycle_merges_by_id_and_keeps_others() {
        let desired = desired_lifecycle(&[], None).unwrap();
        let theirs = json!({"ID": "logs", "Filter": {"Prefix": "logs/"}, "Status": "Enabled",
            "Expiration": {"Days": 7}});
        let stale = json!({"ID": RULE_MULTIPART, "Status": "Enabled",
            "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 30}});
        let m = merge_lifecycle(&[theirs.clone(), stale], &desired);
        assert_eq!(m.merged.len(), 4);
        assert_eq!(m.merged[0], theirs);
        assert_eq!(m.merged[1], desired[1], "pail's rule replaced in place");
        assert_eq!(m.changed.len(), 3);

        let again = merge_lifecycle(&m.merged, &desired);
        assert!(again.changed.is_empty());
        // As Ceph returns the same rules: a legacy Prefix instead of a Filter.
        let ceph: Vec<Value> = desired
            .iter()
            .map(|r| {
                let mut r = r.clone();
                r.as_object_mut().unwrap().remove("Filter");
                r["Prefix"] = json!("");
                r
            })
            .collect();
        assert!(merge_lifecycle(&ceph, &desired).changed.is_empty());
    }

    #[test]
    fn policy_merges_by_sid() {
        let desired = desired_statements("b", Some("arn:aws:iam::1:user/me"), true);
        let (doc, m) = merge_policy(None, &desired).unwrap();
        assert_eq!(m.changed, [SID_TLS, SID_PRINCIPAL]);
        assert!(denies_insecure_transport(&doc));

        let theirs = r#"{"Version":"2012-10-17","Statement":{"Sid":"Mine","Effect":"Allow",
            "Principal":{"AWS":"arn:aws:iam::2:root"},"Action":"s3:GetObject","Resource":"arn:aws:s3:::b/*"}}"#;
        let (doc, m) = merge_policy(Some(theirs), &desired).unwrap();
        let st = doc["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 3);
        assert_eq!(st[0]["Sid"], "Mine");
        assert_eq!(m.changed.len(), 2);

        // The server's reformatting (principal, one-element lists) is not a change.
        let mut reformatted = doc.clone();
        reformatted["Statement"][1]["Principal"] = json!({"AWS": ["*"]});
        reformatted["Statement"][1]["Action"] = json!(["s3:*"]);
        reformatted["Statement"][2]["NotAction"] = json!([
            "s3:DeleteBucketPolicy",
            "s3:GetBucketPolicy",
            "s3:PutBucketPolicy"
        ]);
        let text = reformatted.to_string();
        let (_, m) = merge_policy(Some(&text), &desired).unwrap();
        assert!(m.changed.is_empty(), "{m:?}");

        // Another principal replaces pail's statement, not adds one.
        let other = desired_statements("b", Some("arn:aws:iam::1:role/R"), true);
        let (doc2, m) = merge_policy(Some(&text), &other).unwrap();
        assert_eq!(m.changed, [SID_PRINCIPAL]);
        assert_eq!(doc2["Statement"].as_array().unwrap().len(), 3);
        assert!(merge_policy(Some("{not json"), &desired).is_err());
    }

    #[test]
    fn queue_statements_merge_by_bucket() {
        let arn = "arn:aws:sqs:eu-west-1:123:pail-events";
        let mine = queue_statement("b", arn, Some("123"));
        assert_eq!(mine["Sid"], "pail-s3-events-b");
        assert_eq!(mine["Principal"]["Service"], "s3.amazonaws.com");
        assert_eq!(
            mine["Condition"]["ArnLike"]["aws:SourceArn"],
            "arn:aws:s3:::b"
        );
        assert_eq!(
            mine["Condition"]["StringEquals"]["aws:SourceAccount"],
            "123"
        );
        let cn = queue_statement("b", "arn:aws-cn:sqs:cn-north-1:1:q", None);
        assert_eq!(
            cn["Condition"]["ArnLike"]["aws:SourceArn"],
            "arn:aws-cn:s3:::b"
        );
        assert!(cn["Condition"].get("StringEquals").is_none());

        // The owner's statement and another bucket's stay; a second pair adds nothing.
        let theirs = json!({"Version": "2012-10-17", "Id": "x", "Statement": [
            {"Sid": "__owner_statement", "Effect": "Allow",
             "Principal": {"AWS": "arn:aws:iam::123:root"}, "Action": "SQS:*", "Resource": arn},
            queue_statement("other", arn, Some("123")),
        ]})
        .to_string();
        let (doc, m) = merge_policy(Some(&theirs), std::slice::from_ref(&mine)).unwrap();
        assert_eq!(m.changed, ["pail-s3-events-b"]);
        let st = doc["Statement"].as_array().unwrap();
        assert_eq!(st.len(), 3);
        assert_eq!(st[0]["Sid"], "__owner_statement");
        assert_eq!(st[1]["Sid"], "pail-s3-events-other");
        assert_eq!(doc["Id"], "x");
        let (_, again) = merge_policy(Some(&doc.to_string()), &[mine]).unwrap();
        assert!(again.changed.is_empty());
    }

    #[test]
    fn principals_and_tls_detection() {
        assert_eq!(
            principal_for("arn:aws:sts::123:assumed-role/Admin/alice@x"),
            "arn:aws:iam::123:role/Admin"
        );
        assert_eq!(
            principal_for("arn:aws:iam::123:user/bob"),
            "arn:aws:iam::123:user/bob"
        );
        assert!(!denies_insecure_transport(&json!({"Statement": []})));
        assert!(denies_insecure_transport(
            &json!({"Statement": {"Effect": "Deny",
            "Condition": {"Bool": {"aws:SecureTransport": false}}}})
        ));
    }

    #[test]
    fn diffs_mark_added_and_removed_lines() {
        let d = json_diff(Some(&json!({"a": 1, "b": 2})), &json!({"a": 1, "c": 3}));
        assert!(d.contains("  \"a\": 1,\n"), "{d}");
        assert!(
            d.contains("- \"b\": 2\n") || d.contains("-   \"b\": 2\n"),
            "{d}"
        );
        assert!(d.contains("+   \"c\": 3\n"), "{d}");
        assert!(
            json_diff(None, &json!({"x": 1}))
                .lines()
                .all(|l| l.starts_with('+'))
        );
    }
}
