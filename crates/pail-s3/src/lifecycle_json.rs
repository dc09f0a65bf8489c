//! Lifecycle rules between the SDK's types and the JSON the AWS CLI and the S3 docs show
//! (`{"ID": .., "Filter": {"Prefix": ..}, "Status": "Enabled", ...}`).
//!
//! Setup merges rules by ID and prints diffs in this form; every field of a rule is carried
//! both ways so that rules pail does not own are written back exactly as they were read.
// That includes the legacy top-level `Prefix`, deprecated in the SDK but still found in rules
// written by other tools.
#![allow(deprecated)]

use aws_sdk_s3::primitives::{DateTime, DateTimeFormat};
use aws_sdk_s3::types::{
    AbortIncompleteMultipartUpload, ExpirationStatus, LifecycleExpiration, LifecycleRule,
    LifecycleRuleAndOperator, LifecycleRuleFilter, NoncurrentVersionExpiration,
    NoncurrentVersionTransition, Tag, Transition, TransitionStorageClass,
};
use serde_json::{Map, Value, json};

fn put(m: &mut Map<String, Value>, k: &str, v: Option<Value>) {
    if let Some(v) = v {
        m.insert(k.to_owned(), v);
    }
}

fn date(d: Option<&DateTime>) -> Option<Value> {
    d.and_then(|d| d.fmt(DateTimeFormat::DateTime).ok())
        .map(Value::String)
}

fn tag(t: &Tag) -> Value {
    json!({"Key": t.key(), "Value": t.value()})
}

/// One rule as JSON, fields in the order the AWS docs list them.
pub fn rule_to_json(r: &LifecycleRule) -> Value {
    let mut m = Map::new();
    put(&mut m, "ID", r.id().map(|s| json!(s)));
    put(&mut m, "Prefix", r.prefix().map(|s| json!(s)));
    if let Some(f) = r.filter() {
        let mut fm = Map::new();
        put(&mut fm, "Prefix", f.prefix().map(|s| json!(s)));
        put(&mut fm, "Tag", f.tag().map(tag));
        put(
            &mut fm,
            "ObjectSizeGreaterThan",
            f.object_size_greater_than().map(|n| json!(n)),
        );
        put(
            &mut fm,
            "ObjectSizeLessThan",
            f.object_size_less_than().map(|n| json!(n)),
        );
        if let Some(a) = f.and() {
            let mut am = Map::new();
            put(&mut am, "Prefix", a.prefix().map(|s| json!(s)));
            if !a.tags().is_empty() {
                am.insert("Tags".into(), a.tags().iter().map(tag).collect());
            }
            put(
                &mut am,
                "ObjectSizeGreaterThan",
                a.object_size_greater_than().map(|n| json!(n)),
            );
            put(
                &mut am,
                "ObjectSizeLessThan",
                a.object_size_less_than().map(|n| json!(n)),
            );
            fm.insert("And".into(), Value::Object(am));
        }
        m.insert("Filter".into(), Value::Object(fm));
    }
    m.insert("Status".into(), json!(r.status().as_str()));
    if let Some(e) = r.expiration() {
        let mut em = Map::new();
        put(&mut em, "Date", date(e.date()));
        put(&mut em, "Days", e.days().map(|n| json!(n)));
        put(
            &mut em,
            "ExpiredObjectDeleteMarker",
            e.expired_object_delete_marker().map(|b| json!(b)),
        );
        m.insert("Expiration".into(), Value::Object(em));
    }
    if !r.transitions().is_empty() {
        let ts = r.transitions().iter().map(|t| {
            let mut tm = Map::new();
            put(&mut tm, "Date", date(t.date()));
            put(&mut tm, "Days", t.days().map(|n| json!(n)));
            put(
                &mut tm,
                "StorageClass",
                t.storage_class().map(|c| json!(c.as_str())),
            );
            Value::Object(tm)
        });
        m.insert("Transitions".into(), ts.collect());
    }
    if !r.noncurrent_version_transitions().is_empty() {
        let ts = r.noncurrent_version_transitions().iter().map(|t| {
            let mut tm = Map::new();
            put(
                &mut tm,
                "NoncurrentDays",
                t.noncurrent_days().map(|n| json!(n)),
            );
            put(
                &mut tm,
                "StorageClass",
                t.storage_class().map(|c| json!(c.as_str())),
            );
            put(
                &mut tm,
                "NewerNoncurrentVersions",
                t.newer_noncurrent_versions().map(|n| json!(n)),
            );
            Value::Object(tm)
        });
        m.insert("NoncurrentVersionTransitions".into(), ts.collect());
    }
    if let Some(e) = r.noncurrent_version_expiration() {
        let mut em = Map::new();
        put(
            &mut em,
            "NoncurrentDays",
            e.noncurrent_days().map(|n| json!(n)),
        );
        put(
            &mut em,
            "NewerNoncurrentVersions",
            e.newer_noncurrent_versions().map(|n| json!(n)),
        );
        m.insert("NoncurrentVersionExpiration".into(), Value::Object(em));
    }
    if let Some(a) = r.abort_incomplete_multipart_upload() {
        let mut am = Map::new();
        put(
            &mut am,
            "DaysAfterInitiation",
            a.days_after_initiation().map(|n| json!(n)),
        );
        m.insert("AbortIncompleteMultipartUpload".into(), Value::Object(am));
    }
    Value::Object(m)
}

fn s(v: &Value, k: &str) -> Option<String> {
    v.get(k).and_then(Value::as_str).map(str::to_owned)
}
fn i32_(v: &Value, k: &str) -> Option<i32> {
    v.get(k).and_then(Value::as_i64).map(|n| n as i32)
}
fn i64_(v: &Value, k: &str) -> Option<i64> {
    v.get(k).and_then(Value::as_i64)
}
fn date_(v: &Value, k: &str) -> Result<Option<DateTime>, String> {
    match s(v, k) {
        None => Ok(None),
        Some(d) => DateTime::from_str(&d, DateTimeFormat::DateTime)
            .map(Some)
            .map_err(|e| format!("lifecycle date {d:?}: {e}")),
    }
}
fn tag_(v: &Value) -> Result<Tag, String> {
    Tag::builder()
        .set_key(s(v, "Key"))
        .set_value(s(v, "Value"))
        .build()
        .map_err(|e| e.to_string())
}

/// The inverse of [`rule_to_json`]; an error names what is malformed.
pub fn rule_from_json(v: &Value) -> Result<LifecycleRule, String> {
    let mut b = LifecycleRule::builder()
        .set_id(s(v, "ID"))
        .set_prefix(s(v, "Prefix"))
        .status(ExpirationStatus::from(
            s(v, "Status").unwrap_or_else(|| "Enabled".into()).as_str(),
        ));
    if let Some(f) = v.get("Filter") {
        let mut fb = LifecycleRuleFilter::builder()
            .set_prefix(s(f, "Prefix"))
            .set_object_size_greater_than(i64_(f, "ObjectSizeGreaterThan"))
            .set_object_size_less_than(i64_(f, "ObjectSizeLessThan"));
        if let Some(t) = f.get("Tag") {
            fb = fb.tag(tag_(t)?);
        }
        if let Some(a) = f.get("And") {
            let tags = match a.get("Tags").and_then(Value::as_array) {
                Some(ts) => Some(ts.iter().map(tag_).collect::<Result<Vec<_>, _>>()?),
                None => None,
            };
            fb = fb.and(
                LifecycleRuleAndOperator::builder()
                    .set_prefix(s(a, "Prefix"))
                    .set_tags(tags)
                    .set_object_size_greater_than(i64_(a, "ObjectSizeGreaterThan"))
                    .set_object_size_less_than(i64_(a, "ObjectSizeLessThan"))
                    .build(),
            );
        }
        b = b.filter(fb.build());
    }
    if let Some(e) = v.get("Expiration") {
        b = b.expiration(
            LifecycleExpiration::builder()
                .set_date(date_(e, "Date")?)
                .set_days(i32_(e, "Days"))
                .set_expired_object_delete_marker(
                    e.get("ExpiredObjectDeleteMarker").and_then(Value::as_bool),
                )
                .build(),
        );
    }
    for t in v
        .get("Transitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        b = b.transitions(
            Transition::builder()
                .set_date(date_(t, "Date")?)
                .set_days(i32_(t, "Days"))
                .set_storage_class(
                    s(t, "StorageClass").map(|c| TransitionStorageClass::from(c.as_str())),
                )
                .build(),
        );
    }
    for t in v
        .get("NoncurrentVersionTransitions")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        b = b.noncurrent_version_transitions(
            NoncurrentVersionTransition::builder()
                .set_noncurrent_days(i32_(t, "NoncurrentDays"))
                .set_storage_class(
                    s(t, "StorageClass").map(|c| TransitionStorageClass::from(c.as_str())),
                )
                .set_newer_noncurrent_versions(i32_(t, "NewerNoncurrentVersions"))
                .build(),
        );
    }
    if let Some(e) = v.get("NoncurrentVersionExpiration") {
        b = b.noncurrent_version_expiration(
            NoncurrentVersionExpiration::builder()
                .set_noncurrent_days(i32_(e, "NoncurrentDays"))
                .set_newer_noncurrent_versions(i32_(e, "NewerNoncurrentVersions"))
                .build(),
        );
    }
    if let Some(a) = v.get("AbortIncompleteMultipartUpload") {
        b = b.abort_incomplete_multipart_upload(
            AbortIncompleteMultipartUpload::builder()
                .set_days_after_initiation(i32_(a, "DaysAfterInitiation"))
                .build(),
        );
    }
    b.build().map_err(|e| format!("lifecycle rule {v}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_round_trip() {
        let rules = [
            json!({
                "ID": "pail-noncurrent",
                "Filter": {"Prefix": ""},
                "Status": "Enabled",
                "Expiration": {"ExpiredObjectDeleteMarker": true},
                "NoncurrentVersionTransitions": [
                    {"NoncurrentDays": 30, "StorageClass": "STANDARD_IA"},
                    {"NoncurrentDays": 90, "StorageClass": "GLACIER"}
                ],
                "NoncurrentVersionExpiration": {"NoncurrentDays": 365},
                "AbortIncompleteMultipartUpload": {"DaysAfterInitiation": 7}
            }),
            json!({
                "ID": "logs",
                "Filter": {"And": {"Prefix": "logs/", "Tags": [{"Key": "k", "Value": "v"}],
                    "ObjectSizeGreaterThan": 10}},
                "Status": "Disabled",
                "Expiration": {"Date": "2030-01-01T00:00:00Z"},
                "Transitions": [{"Days": 10, "StorageClass": "GLACIER_IR"}]
            }),
            json!({"ID": "old", "Prefix": "tmp/", "Status": "Enabled", "Expiration": {"Days": 3}}),
        ];
        for r in rules {
            let back = rule_to_json(&rule_from_json(&r).unwrap());
            assert_eq!(back, r);
        }
        assert!(rule_from_json(&json!({"Expiration": {"Date": "soon"}})).is_err());
    }
}
