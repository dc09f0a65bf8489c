//! Reference-model property test of the planner.
//!
//! A versioned remote store (every version kept, deletes are markers), 2-3 devices with their
//! own files and bases, and a foreign client writing straight to the bucket. Random sequences
//! of edits, renames, deletes and syncs run against it; a sync scans, plans with `Planner`,
//! and applies the actions the way the executor must: every `RemoteExpect`/`LocalExpect` is
//! a compare-and-swap, and a failed one skips the action for the next pass to handle. Some
//! syncs race: an edit lands between planning and applying.
//!
//! Checked: (1) applying a plan never loses content: whatever existed anywhere (any device's
//! files, any remote version) right before still exists after; (2) once edits stop, a few
//! sync rounds bring every device and the bucket to the same files with the same content.

use std::collections::{BTreeMap, BTreeSet};

use pail_core::plan::{
    Action, CopySource, Fate, LocalExpect, Plan, Planner, RemoteExpect, SafetyConfig,
};
use pail_core::state::PathState;
use pail_core::{
    Base, ContentHash, LocalFile, LocalStat, RelPath, RemoteObject, RemoteRef, conflict_name_taken,
};
use proptest::prelude::*;
use time::OffsetDateTime;

type Content = u32;

/// `d` is a file name and a folder name (`d/c`, `d/e.txt`): a disk holds one or the other,
/// the bucket may hold both.
const PATHS: [&str; 6] = ["a", "b.txt", "d", "d/c", "d/e.txt", "f.tar.gz"];

/// One of `a`, `b` is a folder holding the other (a disk cannot have both as files).
fn nested(a: &RelPath, b: &RelPath) -> bool {
    let inside = |x: &str, dir: &str| {
        x.len() > dir.len() && x.starts_with(dir) && x.as_bytes()[dir.len()] == b'/'
    };
    inside(a.as_str(), b.as_str()) || inside(b.as_str(), a.as_str())
}

fn hash_of(c: Content) -> ContentHash {
    let mut b = [0x5a; 32];
    b[..4].copy_from_slice(&c.to_le_bytes());
    ContentHash(b)
}

fn path(i: usize) -> RelPath {
    RelPath::new(PATHS[i % PATHS.len()]).unwrap()
}

// ==== The model ====

#[derive(Clone, Debug)]
struct Version {
    id: u64,
    etag: String,
    /// `None`: a delete marker.
    content: Option<Content>,
    /// The `pail-blake3` metadata: set by pail, absent on foreign writes.
    meta: Option<ContentHash>,
}

#[derive(Debug, Default)]
struct Remote {
    keys: BTreeMap<RelPath, Vec<Version>>,
    next_version: u64,
}

impl Remote {
    fn current(&self, p: &RelPath) -> Option<&Version> {
        self.keys
            .get(p)
            .and_then(|v| v.last())
            .filter(|v| v.content.is_some())
    }

    fn version(&self, p: &RelPath, r: &RemoteRef) -> Option<&Version> {
        let id: u64 = r.version_id.as_deref()?.parse().ok()?;
        self.keys.get(p)?.iter().find(|v| v.id == id)
    }

    fn push(
        &mut self,
        p: &RelPath,
        etag: String,
        content: Option<Content>,
        meta: Option<ContentHash>,
    ) -> RemoteRef {
        self.next_version += 1;
        let id = self.next_version;
        self.keys.entry(p.clone()).or_default().push(Version {
            id,
            etag: etag.clone(),
            content,
            meta,
        });
        RemoteRef {
            etag,
            version_id: Some(id.to_string()),
            size: 10,
        }
    }

    fn listing(&self, p: &RelPath, base: Option<&Base>) -> Option<RemoteObject> {
        let v = self.current(p)?;
        let object = RemoteRef {
            etag: v.etag.clone(),
            version_id: Some(v.id.to_string()),
            size: 10,
        };
        let hash = match base {
            Some(b) if b.remote.etag == v.etag => Some(b.hash),
            _ => v.meta,
        };
        Some(RemoteObject {
            object,
            hash,
            last_modified_ns: 0,
        })
    }

    fn expect_holds(&self, p: &RelPath, e: &RemoteExpect) -> bool {
        match (e, self.current(p)) {
            (RemoteExpect::Absent, cur) => cur.is_none(),
            (RemoteExpect::Is(r), Some(cur)) => cur.etag == r.etag,
            (RemoteExpect::Is(_), None) => false,
        }
    }
}

#[derive(Debug)]
struct Device {
    name: String,
    local: BTreeMap<RelPath, (Content, LocalStat)>,
    base: BTreeMap<RelPath, Base>,
}

impl Device {
    fn expect_holds(&self, p: &RelPath, e: &LocalExpect) -> bool {
        match (e, self.local.get(p)) {
            (LocalExpect::Absent, cur) => cur.is_none(),
            (LocalExpect::Is { stat, hash }, Some((c, s))) => s == stat && hash_of(*c) == *hash,
            (LocalExpect::Is { .. }, None) => false,
        }
    }

    /// Whether a file fits at `p` on this disk: no file at a folder of its path, no file
    /// below it (the executor defers or fails otherwise).
    fn room_for(&self, p: &RelPath) -> bool {
        !self.local.keys().any(|q| nested(p, q))
    }

    /// The user replacing what is in the way of a file at `p` (`rm -r`, `rm`).
    fn clear_for(&mut self, p: &RelPath) {
        self.local.retain(|q, _| !nested(p, q));
    }

    fn matches(&self, p: &RelPath, l: &LocalFile) -> bool {
        self.expect_holds(
            p,
            &LocalExpect::Is {
                stat: l.stat,
                hash: l.hash,
            },
        )
    }
}

#[derive(Debug)]
struct World {
    remote: Remote,
    devices: Vec<Device>,
    clock: i64,
    next_content: Content,
    contents: Vec<Content>,
}

impl World {
    fn new(n: usize) -> World {
        let devices = (0..n)
            .map(|i| Device {
                name: format!("dev{i}"),
                local: BTreeMap::new(),
                base: BTreeMap::new(),
            })
            .collect();
        World {
            remote: Remote::default(),
            devices,
            clock: 0,
            next_content: 0,
            contents: Vec::new(),
        }
    }

    fn tick(&mut self) -> i64 {
        self.clock += 1;
        self.clock
    }

    fn stat(&mut self) -> LocalStat {
        let t = self.tick();
        LocalStat {
            size: 10,
            mtime_ns: t,
            ctime_ns: t,
            inode: t as u64,
        }
    }

    fn content(&mut self, dup: Option<usize>) -> Content {
        match dup {
            Some(i) if !self.contents.is_empty() => self.contents[i % self.contents.len()],
            _ => {
                self.next_content += 1;
                self.contents.push(self.next_content);
                self.next_content
            }
        }
    }

    /// Every content that exists anywhere: device files and remote versions.
    fn existing(&self) -> BTreeSet<Content> {
        let local = self
            .devices
            .iter()
            .flat_map(|d| d.local.values().map(|(c, _)| *c));
        let remote = self
            .remote
            .keys
            .values()
            .flatten()
            .filter_map(|v| v.content);
        local.chain(remote).collect()
    }

    // ---- user and foreign edits ----

    fn edit(&mut self, op: &Edit) {
        let n = self.devices.len();
        match *op {
            Edit::Write { dev, path: p, dup } => {
                let (c, s) = (self.content(dup), self.stat());
                let d = &mut self.devices[dev % n];
                d.clear_for(&path(p));
                d.local.insert(path(p), (c, s));
            }
            Edit::Touch { dev, path: p } => {
                let t = self.tick();
                if let Some((_, s)) = self.devices[dev % n].local.get_mut(&path(p)) {
                    s.mtime_ns = t;
                }
            }
            Edit::Delete { dev, path: p } => {
                self.devices[dev % n].local.remove(&path(p));
            }
            Edit::Rename { dev, from, to } => {
                let t = self.tick();
                let d = &mut self.devices[dev % n];
                if !d.local.contains_key(&path(to))
                    && d.room_for(&path(to))
                    && let Some((c, mut s)) = d.local.remove(&path(from))
                {
                    s.ctime_ns = t;
                    d.local.insert(path(to), (c, s));
                }
            }
            Edit::ForeignWrite {
                path: p,
                multipart,
                pail_meta,
                dup,
            } => {
                let c = self.content(dup);
                let etag = if multipart {
                    format!("\"m{}\"", self.tick())
                } else {
                    format!("\"c{c}\"")
                };
                self.remote
                    .push(&path(p), etag, Some(c), pail_meta.then(|| hash_of(c)));
            }
            Edit::ForeignDelete { path: p } => {
                if self.remote.current(&path(p)).is_some() {
                    self.remote.push(&path(p), String::new(), None, None);
                }
            }
        }
    }

    // ---- sync ----

    fn plan(&self, dev: usize) -> Plan {
        let d = &self.devices[dev];
        let paths: BTreeSet<&RelPath> = d
            .local
            .keys()
            .chain(d.base.keys())
            .chain(
                self.remote
                    .keys
                    .keys()
                    .filter(|p| self.remote.current(p).is_some()),
            )
            .collect();
        let mut planner = Planner::new();
        for p in paths {
            let base = d.base.get(p);
            planner.push(&PathState {
                path: p.clone(),
                base: base.cloned(),
                local: d.local.get(p).map(|(c, s)| LocalFile {
                    stat: *s,
                    hash: hash_of(*c),
                }),
                remote: self.remote.listing(p, base),
            });
        }
        // What the index would answer from SQLite: a synced path holding that content.
        let mut locator = |h: &ContentHash| {
            d.base
                .iter()
                .find(|(_, b)| b.hash == *h)
                .map(|(p, b)| CopySource {
                    path: p.clone(),
                    object: b.remote.clone(),
                })
        };
        // The model is about content, not the mass-delete stop (tested by the table tests).
        let cfg = SafetyConfig {
            max_delete_percent: 100,
            min_deletes: u64::MAX,
        };
        planner.finish_with(&cfg, &mut locator)
    }

    fn apply(&mut self, dev: usize, plan: &Plan) {
        let before = self.existing();
        for a in &plan.actions {
            self.apply_one(dev, a);
        }
        let after = self.existing();
        let lost: Vec<_> = before.difference(&after).collect();
        assert!(
            lost.is_empty(),
            "{} lost content {lost:?} applying {:#?}",
            self.devices[dev].name,
            plan.actions
        );
    }

    fn apply_one(&mut self, dev: usize, a: &Action) {
        let stat = self.stat();
        let at = OffsetDateTime::from_unix_timestamp(self.clock).unwrap();
        let remote = &mut self.remote;
        let d = &mut self.devices[dev];
        match a {
            Action::Upload {
                path,
                local,
                expect,
            } => {
                if d.matches(path, local) && remote.expect_holds(path, expect) {
                    let (c, s) = d.local[path];
                    let r = remote.push(path, format!("\"c{c}\""), Some(c), Some(hash_of(c)));
                    d.base.insert(
                        path.clone(),
                        Base {
                            hash: hash_of(c),
                            local: s,
                            remote: r,
                        },
                    );
                }
            }
            Action::CopyRemote {
                path,
                local,
                from,
                from_object,
                expect,
            } => {
                if d.matches(path, local) && remote.expect_holds(path, expect) {
                    let src = remote
                        .version(from, from_object)
                        .expect("copy source version exists")
                        .clone();
                    assert_eq!(
                        src.content.map(hash_of),
                        Some(local.hash),
                        "copy source holds other content"
                    );
                    let r = remote.push(path, src.etag, src.content, Some(local.hash));
                    d.base.insert(
                        path.clone(),
                        Base {
                            hash: local.hash,
                            local: local.stat,
                            remote: r,
                        },
                    );
                }
            }
            Action::Download {
                path,
                remote: obj,
                expect,
            } => {
                if d.expect_holds(path, expect) && d.room_for(path) {
                    let v = remote
                        .version(path, &obj.object)
                        .expect("listed version exists");
                    let c = v.content.expect("listed version is not a delete marker");
                    if let Some(h) = obj.hash {
                        assert_eq!(h, hash_of(c), "download verified against the expected hash");
                    }
                    d.local.insert(path.clone(), (c, stat));
                    d.base.insert(
                        path.clone(),
                        Base {
                            hash: hash_of(c),
                            local: stat,
                            remote: obj.object.clone(),
                        },
                    );
                }
            }
            Action::DeleteLocal { path, expect } => {
                if d.expect_holds(path, expect) {
                    d.local.remove(path);
                    d.base.remove(path);
                }
            }
            Action::DeleteRemote { path, expect, .. } => {
                if remote.expect_holds(path, &RemoteExpect::Is(expect.clone())) {
                    remote.push(path, String::new(), None, None);
                    d.base.remove(path);
                }
            }
            Action::Conflict {
                path, remote: obj, ..
            } => {
                let v = remote
                    .version(path, &obj.object)
                    .expect("listed version exists");
                let c = v.content.expect("listed version is not a delete marker");
                let base = |s: LocalStat| Base {
                    hash: hash_of(c),
                    local: s,
                    remote: obj.object.clone(),
                };
                match d.local.get(path).copied() {
                    // Same content after all (the remote hash was unknown): just record it.
                    Some((lc, ls)) if lc == c => {
                        d.base.insert(path.clone(), base(ls));
                    }
                    other => {
                        if let Some(mine) = other {
                            let taken = |p: &RelPath| {
                                d.local.contains_key(p)
                                    || d.base.contains_key(p)
                                    || remote.current(p).is_some()
                            };
                            let copy = conflict_name_taken(path, &d.name, at, taken);
                            d.local.insert(copy, mine);
                        }
                        d.local.insert(path.clone(), (c, stat));
                        d.base.insert(path.clone(), base(stat));
                    }
                }
            }
            Action::Displace {
                path,
                local,
                remote: obj,
            } => {
                // Each side moves to a conflict copy or is deleted, under its expectation.
                let taken = |p: &RelPath, d: &Device, remote: &Remote| {
                    d.local.contains_key(p) || d.base.contains_key(p) || remote.current(p).is_some()
                };
                if let Some((o, fate)) = obj
                    && remote.expect_holds(path, &RemoteExpect::Is(o.object.clone()))
                {
                    let v = remote.version(path, &o.object).expect("listed").clone();
                    if *fate == Fate::ConflictCopy {
                        let copy = conflict_name_taken(path, "other", at, |p| taken(p, d, remote));
                        remote.push(&copy, v.etag, v.content, v.meta);
                    }
                    remote.push(path, String::new(), None, None);
                }
                if let Some((l, fate)) = local
                    && d.matches(path, l)
                {
                    let mine = d.local.remove(path).expect("matched");
                    if *fate == Fate::ConflictCopy {
                        let copy = conflict_name_taken(path, &d.name, at, |p| taken(p, d, remote));
                        d.local.insert(copy, mine);
                    }
                }
                d.base.remove(path);
            }
            Action::Record { path, base } => {
                d.base.insert(path.clone(), base.clone());
            }
            Action::Forget { path } => {
                d.base.remove(path);
            }
        }
    }

    /// Syncs `dev`; `racer` (if any) lands between planning and applying. Returns whether the
    /// plan had actions.
    fn sync(&mut self, dev: usize, racer: Option<&Edit>) -> bool {
        let plan = self.plan(dev);
        if let Some(e) = racer {
            self.edit(e);
        }
        self.apply(dev, &plan);
        !plan.actions.is_empty()
    }

    fn assert_converged(&self) {
        let remote: BTreeMap<&RelPath, Content> = self
            .remote
            .keys
            .keys()
            .filter_map(|p| self.remote.current(p).map(|v| (p, v.content.unwrap())))
            .collect();
        for d in &self.devices {
            let local: BTreeMap<&RelPath, Content> =
                d.local.iter().map(|(p, (c, _))| (p, *c)).collect();
            assert_eq!(local, remote, "{} disagrees with the bucket", d.name);
            let synced: Vec<&RelPath> = d.base.keys().collect();
            assert_eq!(
                synced,
                local.keys().copied().collect::<Vec<_>>(),
                "{} bases",
                d.name
            );
            for (p, b) in &d.base {
                assert_eq!(b.hash, hash_of(remote[p]), "{} base of {p}", d.name);
            }
        }
    }
}

// ==== Operations ====

#[derive(Clone, Debug)]
enum Edit {
    Write {
        dev: usize,
        path: usize,
        dup: Option<usize>,
    },
    Touch {
        dev: usize,
        path: usize,
    },
    Delete {
        dev: usize,
        path: usize,
    },
    Rename {
        dev: usize,
        from: usize,
        to: usize,
    },
    /// `pail_meta`: the writer sets `pail-blake3` (another pail, a restore); `multipart`: the
    /// ETag is not the content's (so equal bytes may show another ETag).
    ForeignWrite {
        path: usize,
        multipart: bool,
        pail_meta: bool,
        dup: Option<usize>,
    },
    ForeignDelete {
        path: usize,
    },
}

#[derive(Clone, Debug)]
enum Op {
    Edit(Edit),
    Sync {
        dev: usize,
    },
    /// A sync with an edit landing between its scan and its actions.
    SyncRacing {
        dev: usize,
        racer: Edit,
    },
}

fn edit() -> impl Strategy<Value = Edit> {
    let dev = 0..3usize;
    let p = 0..PATHS.len();
    let dup = proptest::option::weighted(0.3, 0..8usize);
    prop_oneof![
        4 => (dev.clone(), p.clone(), dup.clone()).prop_map(|(dev, path, dup)| Edit::Write { dev, path, dup }),
        1 => (dev.clone(), p.clone()).prop_map(|(dev, path)| Edit::Touch { dev, path }),
        2 => (dev.clone(), p.clone()).prop_map(|(dev, path)| Edit::Delete { dev, path }),
        2 => (dev, p.clone(), p.clone()).prop_map(|(dev, from, to)| Edit::Rename { dev, from, to }),
        2 => (p.clone(), any::<bool>(), any::<bool>(), dup)
            .prop_map(|(path, multipart, pail_meta, dup)| Edit::ForeignWrite { path, multipart, pail_meta, dup }),
        1 => p.prop_map(|path| Edit::ForeignDelete { path }),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        5 => edit().prop_map(Op::Edit),
        4 => (0..3usize).prop_map(|dev| Op::Sync { dev }),
        2 => (0..3usize, edit()).prop_map(|(dev, racer)| Op::SyncRacing { dev, racer }),
    ]
}

fn run(devices: usize, ops: &[Op]) {
    let mut w = World::new(devices);
    for op in ops {
        match op {
            Op::Edit(e) => w.edit(e),
            Op::Sync { dev } => {
                w.sync(dev % devices, None);
            }
            Op::SyncRacing { dev, racer } => {
                w.sync(dev % devices, Some(racer));
            }
        }
    }
    for _round in 0..6 {
        let mut busy = false;
        for dev in 0..devices {
            busy |= w.sync(dev, None);
        }
        if !busy {
            w.assert_converged();
            return;
        }
    }
    panic!("no convergence after 6 rounds: {w:#?}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, ..ProptestConfig::default() })]

    #[test]
    fn devices_converge_without_losing_content(devices in 2..=3usize, ops in prop::collection::vec(op(), 0..40)) {
        run(devices, &ops);
    }
}

// ==== Hand-written scenarios (readable examples of what the property covers) ====

#[test]
fn concurrent_edits_keep_both_versions() {
    let ops = [
        Op::Edit(Edit::Write {
            dev: 0,
            path: 0,
            dup: None,
        }),
        Op::Sync { dev: 0 },
        Op::Sync { dev: 1 },
        Op::Edit(Edit::Write {
            dev: 0,
            path: 0,
            dup: None,
        }),
        Op::Edit(Edit::Write {
            dev: 1,
            path: 0,
            dup: None,
        }),
        Op::Sync { dev: 0 },
        Op::Sync { dev: 1 },
    ];
    run(2, &ops);
}

#[test]
fn a_rename_is_a_copy_and_an_edit_during_a_download_wins() {
    let mut w = World::new(2);
    w.edit(&Edit::Write {
        dev: 0,
        path: 0,
        dup: None,
    });
    w.sync(0, None);
    w.sync(1, None);
    w.edit(&Edit::Rename {
        dev: 0,
        from: 0,
        to: 1,
    });
    let plan = w.plan(0);
    assert!(
        matches!(plan.actions[0], Action::CopyRemote { .. }),
        "{plan:#?}"
    );
    w.apply(0, &plan);
    // Device 1 is about to delete `a` and download `b.txt`, but `a` is edited meanwhile.
    w.sync(
        1,
        Some(&Edit::Write {
            dev: 1,
            path: 0,
            dup: None,
        }),
    );
    assert!(
        w.devices[1].local.contains_key(&path(0)),
        "the edit survived"
    );
    for _ in 0..3 {
        w.sync(0, None);
        w.sync(1, None);
    }
    w.assert_converged();
    assert!(w.remote.current(&path(0)).is_some(), "edit beats delete");
}

#[test]
fn a_reupload_of_the_same_bytes_does_not_block_a_local_edit() {
    let ops = [
        Op::Edit(Edit::Write {
            dev: 0,
            path: 0,
            dup: None,
        }), // content 1
        Op::Sync { dev: 0 },
        Op::Sync { dev: 1 },
        // Someone re-uploads content 1 with a multipart ETag and pail's metadata.
        Op::Edit(Edit::ForeignWrite {
            path: 0,
            multipart: true,
            pail_meta: true,
            dup: Some(0),
        }),
        Op::Edit(Edit::Write {
            dev: 0,
            path: 0,
            dup: None,
        }),
        Op::Sync { dev: 1 },
    ];
    run(2, &ops);
}
