//! The fake bucket's state machine: versions, delete markers, conditions and ETags, shared
//! by the `ObjectStore` impl and the test-side helpers on `MemStore`.

use std::hash::{Hash, Hasher};

use super::{Conditionals, Entry, Inner, Stored, TICK_NS};
use crate::error::{Result, StoreError};
use crate::types::{Condition, DeleteResult, Head, ObjectMeta, PutResult, Versioning};

pub(super) fn etag_of(data: &[u8]) -> String {
    format!("\"{}\"", digest(data))
}

/// 128 bits from two SipHash runs with fixed keys: stable across runs, so equal content gets
/// equal ETags as on AWS (not cryptographic; pail treats ETags as opaque anyway).
pub(super) fn digest(data: &[u8]) -> String {
    let h = |salt: u8| {
        let mut s = std::hash::DefaultHasher::new();
        salt.hash(&mut s);
        data.hash(&mut s);
        s.finish()
    };
    format!("{:016x}{:016x}", h(0), h(1))
}

impl Inner {
    pub(super) fn tick(&mut self) -> i64 {
        self.clock_ns += TICK_NS;
        self.clock_ns
    }

    pub(super) fn new_id(&mut self, prefix: &str) -> String {
        self.next_id += 1;
        format!("{prefix}{:08}", self.next_id)
    }

    pub(super) fn live(&self, key: &str) -> Option<(&Entry, &Stored)> {
        let e = self.objects.get(key)?.last()?;
        e.body.as_ref().map(|s| (e, s))
    }

    pub(super) fn find(&self, key: &str, version_id: Option<&str>) -> Option<&Entry> {
        let v = self.objects.get(key)?;
        match version_id {
            None => v.last(),
            Some(id) => v.iter().find(|e| e.version_id == id),
        }
    }

    pub(super) fn shown_version(&self, e: &Entry) -> Option<String> {
        match self.versioning {
            Versioning::Off | Versioning::Unsupported => None,
            _ => Some(e.version_id.clone()),
        }
    }

    pub(super) fn check(&self, key: &str, cond: &Condition) -> Result<()> {
        let cur = self.live(key).map(|(_, s)| s.etag.as_str());
        let pf = || {
            Err(StoreError::PreconditionFailed {
                key: key.to_owned(),
            })
        };
        match (self.conditionals, cond) {
            (_, Condition::None) | (Conditionals::Ignored, _) => Ok(()),
            (Conditionals::Ceph, Condition::IfMatch(_)) => pf(),
            (Conditionals::Ceph, Condition::IfAbsent) if self.versioning == Versioning::Enabled => {
                Ok(())
            }
            (_, Condition::IfAbsent) => {
                if cur.is_some() {
                    pf()
                } else {
                    Ok(())
                }
            }
            (_, Condition::IfMatch(want)) => match cur {
                None => Err(StoreError::NotFound {
                    key: key.to_owned(),
                }),
                Some(e) if e == want => Ok(()),
                Some(_) => pf(),
            },
        }
    }

    pub(super) fn write(&mut self, key: &str, stored: Stored) -> PutResult {
        let etag = stored.etag.clone();
        let now = self.tick();
        let (version_id, shown) = match self.versioning {
            Versioning::Enabled => {
                let id = self.new_id("mv");
                (id.clone(), Some(id))
            }
            Versioning::Suspended => ("null".to_owned(), Some("null".to_owned())),
            Versioning::Off | Versioning::Unsupported => ("null".to_owned(), None),
        };
        let list = self.objects.entry(key.to_owned()).or_default();
        if version_id == "null" {
            list.retain(|e| e.version_id != "null");
        }
        list.push(Entry {
            version_id,
            last_modified_ns: now,
            body: Some(stored),
        });
        PutResult {
            etag,
            version_id: shown,
        }
    }

    pub(super) fn delete_current(&mut self, key: &str) -> DeleteResult {
        let now = self.tick();
        match self.versioning {
            Versioning::Enabled | Versioning::Suspended => {
                let id = if self.versioning == Versioning::Enabled {
                    self.new_id("mv")
                } else {
                    "null".to_owned()
                };
                let list = self.objects.entry(key.to_owned()).or_default();
                if id == "null" {
                    list.retain(|e| e.version_id != "null");
                }
                list.push(Entry {
                    version_id: id.clone(),
                    last_modified_ns: now,
                    body: None,
                });
                DeleteResult {
                    version_id: Some(id),
                    delete_marker: true,
                }
            }
            Versioning::Off | Versioning::Unsupported => {
                self.objects.remove(key);
                DeleteResult {
                    version_id: None,
                    delete_marker: false,
                }
            }
        }
    }

    pub(super) fn head_of(&self, e: &Entry) -> Head {
        match &e.body {
            Some(s) => Head {
                etag: s.etag.clone(),
                version_id: self.shown_version(e),
                size: s.data.len() as u64,
                last_modified_ns: e.last_modified_ns,
                meta: s.meta.clone(),
                storage_class: s.storage_class.clone(),
                delete_marker: false,
            },
            None => Head {
                etag: String::new(),
                version_id: self.shown_version(e),
                size: 0,
                last_modified_ns: e.last_modified_ns,
                meta: ObjectMeta::default(),
                storage_class: None,
                delete_marker: true,
            },
        }
    }
}
