//! Table tests of `plan_path` over every (base, local, remote) combination, and of the
//! set-level decisions in `Planner::finish`.

use rstest::rstest;

use super::*;

mod folders;

// ==== Fixtures ====

fn h(n: u8) -> ContentHash {
    ContentHash([n; 32])
}

fn stat(n: i64) -> LocalStat {
    LocalStat {
        size: 10,
        mtime_ns: n,
        ctime_ns: n,
        inode: 7,
    }
}

fn rref(etag: &str, version: &str) -> RemoteRef {
    RemoteRef {
        etag: format!("\"{etag}\""),
        version_id: Some(version.into()),
        size: 10,
    }
}

fn robj(etag: &str, version: &str, hash: Option<ContentHash>) -> RemoteObject {
    RemoteObject {
        object: rref(etag, version),
        hash,
        last_modified_ns: 0,
    }
}

fn p(s: &str) -> RelPath {
    RelPath::new(s).unwrap()
}

/// Base: hash H0, stat S0, object E0/v0.
fn base() -> Base {
    Base {
        hash: h(0),
        local: stat(0),
        remote: rref("e0", "v0"),
    }
}

#[derive(Clone, Copy, Debug)]
enum B {
    None,
    Some,
}

#[derive(Clone, Copy, Debug)]
enum L {
    Absent,
    /// H0, S0.
    Same,
    /// H0, S1.
    StatOnly,
    /// H1, S1.
    Changed,
}

#[derive(Clone, Copy, Debug)]
enum R {
    Absent,
    /// E0/v0, hash H0 (as the base).
    Same,
    /// E1/v1, hash H0: same bytes re-uploaded (or multipart ETag).
    EtagSameHash,
    /// E2/v2, hash H2.
    Changed,
    /// E2/v2, hash unknown (foreign writer).
    ChangedUnknown,
}

fn local_of(l: L) -> Option<LocalFile> {
    match l {
        L::Absent => None,
        L::Same => Some(LocalFile {
            stat: stat(0),
            hash: h(0),
        }),
        L::StatOnly => Some(LocalFile {
            stat: stat(1),
            hash: h(0),
        }),
        L::Changed => Some(LocalFile {
            stat: stat(1),
            hash: h(1),
        }),
    }
}

fn remote_of(r: R) -> Option<RemoteObject> {
    match r {
        R::Absent => None,
        R::Same => Some(robj("e0", "v0", Some(h(0)))),
        R::EtagSameHash => Some(robj("e1", "v1", Some(h(0)))),
        R::Changed => Some(robj("e2", "v2", Some(h(2)))),
        R::ChangedUnknown => Some(robj("e2", "v2", None)),
    }
}

fn state(b: B, l: L, r: R) -> PathState {
    PathState {
        path: p("dir/f.txt"),
        base: match b {
            B::None => None,
            B::Some => Some(base()),
        },
        local: local_of(l),
        remote: remote_of(r),
    }
}

/// The expected action, in terms of the fixture's own values.
#[derive(Clone, Copy, Debug)]
enum E {
    Nothing,
    UploadAbsent,
    /// `Upload { expect: Is(listed object) }`.
    UploadIfMatch,
    DownloadAbsent,
    /// `Download { expect: Is(scanned stat, base hash) }`.
    DownloadIfUnchanged,
    DeleteLocal,
    /// `DeleteRemote { expect: listed object, hash: base hash }`.
    DeleteRemote,
    Conflict,
    /// `Record` of the scanned local file and the listed object (hash: the local one).
    Record,
    Forget,
}

fn expected(e: E, st: &PathState) -> Option<Action> {
    let path = st.path.clone();
    let local = st.local.clone();
    let remote = st.remote.clone();
    Some(match e {
        E::Nothing => return None,
        E::UploadAbsent => Action::Upload {
            path,
            local: local.unwrap(),
            expect: RemoteExpect::Absent,
        },
        E::UploadIfMatch => Action::Upload {
            path,
            local: local.unwrap(),
            expect: RemoteExpect::Is(remote.unwrap().object),
        },
        E::DownloadAbsent => Action::Download {
            path,
            remote: remote.unwrap(),
            expect: LocalExpect::Absent,
        },
        E::DownloadIfUnchanged => Action::Download {
            path,
            remote: remote.unwrap(),
            expect: LocalExpect::Is {
                stat: local.unwrap().stat,
                hash: base().hash,
            },
        },
        E::DeleteLocal => Action::DeleteLocal {
            path,
            expect: LocalExpect::Is {
                stat: local.unwrap().stat,
                hash: base().hash,
            },
        },
        E::DeleteRemote => Action::DeleteRemote {
            path,
            expect: remote.unwrap().object,
            hash: base().hash,
        },
        E::Conflict => Action::Conflict {
            path,
            local: local.unwrap(),
            remote: remote.unwrap(),
        },
        E::Record => {
            let l = local.unwrap();
            Action::Record {
                path,
                base: Base {
                    hash: l.hash,
                    local: l.stat,
                    remote: remote.unwrap().object,
                },
            }
        }
        E::Forget => Action::Forget { path },
    })
}

// ==== plan_path: the whole matrix (2 x 4 x 5 = 40 cases) ====

#[rstest]
// No base: whatever exists on one side is new; on both sides, equal content is agreement.
#[case(B::None, L::Absent, R::Absent, E::Nothing)]
#[case(B::None, L::Absent, R::Same, E::DownloadAbsent)]
#[case(B::None, L::Absent, R::EtagSameHash, E::DownloadAbsent)]
#[case(B::None, L::Absent, R::Changed, E::DownloadAbsent)]
#[case(B::None, L::Absent, R::ChangedUnknown, E::DownloadAbsent)]
#[case(B::None, L::Same, R::Absent, E::UploadAbsent)]
#[case(B::None, L::Same, R::Same, E::Record)]
#[case(B::None, L::Same, R::EtagSameHash, E::Record)]
#[case(B::None, L::Same, R::Changed, E::Conflict)]
#[case(B::None, L::Same, R::ChangedUnknown, E::Conflict)]
#[case(B::None, L::StatOnly, R::Absent, E::UploadAbsent)]
#[case(B::None, L::StatOnly, R::Same, E::Record)]
#[case(B::None, L::StatOnly, R::EtagSameHash, E::Record)]
#[case(B::None, L::StatOnly, R::Changed, E::Conflict)]
#[case(B::None, L::StatOnly, R::ChangedUnknown, E::Conflict)]
#[case(B::None, L::Changed, R::Absent, E::UploadAbsent)]
#[case(B::None, L::Changed, R::Same, E::Conflict)]
#[case(B::None, L::Changed, R::EtagSameHash, E::Conflict)]
#[case(B::None, L::Changed, R::Changed, E::Conflict)]
#[case(B::None, L::Changed, R::ChangedUnknown, E::Conflict)]
// Base: local deleted.
#[case(B::Some, L::Absent, R::Absent, E::Forget)]
#[case(B::Some, L::Absent, R::Same, E::DeleteRemote)]
#[case(B::Some, L::Absent, R::EtagSameHash, E::DeleteRemote)]
#[case(B::Some, L::Absent, R::Changed, E::DownloadAbsent)] // edit beats delete
#[case(B::Some, L::Absent, R::ChangedUnknown, E::DownloadAbsent)]
// Base: local unchanged.
#[case(B::Some, L::Same, R::Absent, E::DeleteLocal)]
#[case(B::Some, L::Same, R::Same, E::Nothing)]
#[case(B::Some, L::Same, R::EtagSameHash, E::Record)]
#[case(B::Some, L::Same, R::Changed, E::DownloadIfUnchanged)]
#[case(B::Some, L::Same, R::ChangedUnknown, E::DownloadIfUnchanged)]
// Base: local stat-only change (same hash) is not an edit; the stat is refreshed.
#[case(B::Some, L::StatOnly, R::Absent, E::DeleteLocal)]
#[case(B::Some, L::StatOnly, R::Same, E::Record)]
#[case(B::Some, L::StatOnly, R::EtagSameHash, E::Record)]
#[case(B::Some, L::StatOnly, R::Changed, E::DownloadIfUnchanged)]
#[case(B::Some, L::StatOnly, R::ChangedUnknown, E::DownloadIfUnchanged)]
// Base: local content changed.
#[case(B::Some, L::Changed, R::Absent, E::UploadAbsent)] // edit beats delete
#[case(B::Some, L::Changed, R::Same, E::UploadIfMatch)]
#[case(B::Some, L::Changed, R::EtagSameHash, E::UploadIfMatch)]
#[case(B::Some, L::Changed, R::Changed, E::Conflict)]
#[case(B::Some, L::Changed, R::ChangedUnknown, E::Conflict)]
fn plan_path_matrix(#[case] b: B, #[case] l: L, #[case] r: R, #[case] e: E) {
    let st = state(b, l, r);
    let got = plan_path(&st);
    let want = expected(e, &st);
    assert_eq!(got, want, "{b:?} {l:?} {r:?}");
    // The Record of the (Some, StatOnly, Same) and (Some, Same, EtagSameHash) rows carries the
    // base's hash with the fresh stat and reference: checked by `expected` since L/R hashes
    // equal the base's there.
}

#[test]
fn both_sides_changed_to_the_same_content_is_agreement() {
    let l = LocalFile {
        stat: stat(5),
        hash: h(9),
    };
    let r = robj("e9", "v9", Some(h(9)));
    for b in [None, Some(base())] {
        let st = PathState {
            path: p("x"),
            base: b,
            local: Some(l.clone()),
            remote: Some(r.clone()),
        };
        let want = Action::Record {
            path: p("x"),
            base: Base {
                hash: h(9),
                local: stat(5),
                remote: r.object.clone(),
            },
        };
        assert_eq!(plan_path(&st), Some(want));
    }
}

#[test]
fn a_listing_without_version_ids_keeps_the_recorded_version() {
    // ListObjectsV2 has no version ids: same ETag means the base's object, nothing to do.
    let mut r = robj("e0", "v0", Some(h(0)));
    r.object.version_id = None;
    let st = PathState {
        path: p("x"),
        base: Some(base()),
        local: local_of(L::Same),
        remote: Some(r.clone()),
    };
    assert_eq!(plan_path(&st), None);
    // ... and a stat refresh records the base's full reference, and an upload expects it.
    let st = PathState {
        local: local_of(L::StatOnly),
        ..st
    };
    let Some(Action::Record { base: b, .. }) = plan_path(&st) else {
        panic!()
    };
    assert_eq!(b.remote, base().remote);
    let st = PathState {
        local: local_of(L::Changed),
        ..st
    };
    let Some(Action::Upload { expect, .. }) = plan_path(&st) else {
        panic!()
    };
    assert_eq!(expect, RemoteExpect::Is(base().remote));
    // Without a version id in the base either, the listing's reference is what gets recorded.
    let st = PathState {
        path: p("x"),
        base: None,
        local: local_of(L::Same),
        remote: Some(r.clone()),
    };
    let Some(Action::Record { base: b, .. }) = plan_path(&st) else {
        panic!()
    };
    assert_eq!(b.remote, r.object);
}

#[test]
fn a_new_version_id_with_the_same_etag_is_recorded() {
    let st = PathState {
        path: p("x"),
        base: Some(base()),
        local: local_of(L::Same),
        remote: Some(robj("e0", "v7", Some(h(0)))),
    };
    let Some(Action::Record { base: b, .. }) = plan_path(&st) else {
        panic!()
    };
    assert_eq!(
        b,
        Base {
            remote: rref("e0", "v7"),
            ..base()
        }
    );
}

// ==== Planner::finish ====

fn synced_file(path: &str, n: u8) -> PathState {
    PathState {
        path: p(path),
        base: Some(Base {
            hash: h(n),
            local: stat(0),
            remote: rref(&format!("e{n}"), "v"),
        }),
        local: Some(LocalFile {
            stat: stat(0),
            hash: h(n),
        }),
        remote: Some(robj(&format!("e{n}"), "v", Some(h(n)))),
    }
}

fn deleted_locally(path: &str, n: u8) -> PathState {
    PathState {
        local: None,
        ..synced_file(path, n)
    }
}

fn deleted_remotely(path: &str, n: u8) -> PathState {
    PathState {
        remote: None,
        ..synced_file(path, n)
    }
}

fn new_local(path: &str, n: u8) -> PathState {
    PathState {
        path: p(path),
        base: None,
        local: Some(LocalFile {
            stat: stat(1),
            hash: h(n),
        }),
        remote: None,
    }
}

fn new_remote(path: &str, n: u8) -> PathState {
    PathState {
        path: p(path),
        base: None,
        local: None,
        remote: Some(robj(&format!("e{n}"), "v", Some(h(n)))),
    }
}

fn plan(states: &[PathState], cfg: &SafetyConfig) -> Plan {
    let mut sorted = states.to_vec();
    sorted.sort_by(|a, b| a.path.cmp(&b.path));
    let mut planner = Planner::new();
    for s in &sorted {
        planner.push(s);
    }
    planner.finish(cfg)
}

fn kinds(plan: &Plan) -> Vec<(&'static str, &str)> {
    plan.actions
        .iter()
        .map(|a| {
            let k = match a {
                Action::Upload { .. } => "upload",
                Action::CopyRemote { .. } => "copy",
                Action::Download { .. } => "download",
                Action::DeleteLocal { .. } => "delete-local",
                Action::DeleteRemote { .. } => "delete-remote",
                Action::Conflict { .. } => "conflict",
                Action::Displace { .. } => "displace",
                Action::Record { .. } => "record",
                Action::Forget { .. } => "forget",
            };
            (k, a.path().as_str())
        })
        .collect()
}

#[test]
fn a_local_rename_is_a_server_side_copy_then_a_delete() {
    let pl = plan(
        &[deleted_locally("old/a.txt", 1), new_local("new/a.txt", 1)],
        &SafetyConfig::default(),
    );
    assert_eq!(
        kinds(&pl),
        [("copy", "new/a.txt"), ("delete-remote", "old/a.txt")]
    );
    let Action::CopyRemote {
        from,
        from_object,
        expect,
        local,
        ..
    } = &pl.actions[0]
    else {
        panic!()
    };
    assert_eq!(from.as_str(), "old/a.txt");
    assert_eq!(*from_object, rref("e1", "v"));
    assert_eq!(*expect, RemoteExpect::Absent);
    assert_eq!(local.hash, h(1));
}

#[test]
fn an_edit_of_a_file_to_content_the_plan_downloads_is_a_copy_of_that_object() {
    // b.txt gets content 5 locally while a new remote object c holds content 5.
    let mut edited = synced_file("b.txt", 2);
    edited.local = Some(LocalFile {
        stat: stat(3),
        hash: h(5),
    });
    let pl = plan(&[edited, new_remote("c", 5)], &SafetyConfig::default());
    assert_eq!(kinds(&pl), [("download", "c"), ("copy", "b.txt")]);
    let Action::CopyRemote { from, expect, .. } = &pl.actions[1] else {
        panic!()
    };
    assert_eq!(from.as_str(), "c");
    assert_eq!(*expect, RemoteExpect::Is(rref("e2", "v")));
}

#[test]
fn a_locator_finds_unchanged_objects_with_the_same_content() {
    let mut planner = Planner::new();
    planner.push(&new_local("dup", 4));
    planner.push(&new_local("fresh", 6));
    let mut asked = Vec::new();
    let mut locator = |hash: &ContentHash| {
        asked.push(*hash);
        (*hash == h(4)).then(|| CopySource {
            path: p("orig"),
            object: rref("e4", "v4"),
        })
    };
    let pl = planner.finish_with(&SafetyConfig::default(), &mut locator);
    assert_eq!(kinds(&pl), [("copy", "dup"), ("upload", "fresh")]);
    assert_eq!(asked, [h(4), h(6)]);
}

#[test]
fn a_locator_answer_naming_the_uploaded_path_itself_is_ignored() {
    let mut planner = Planner::new();
    planner.push(&new_local("x", 4));
    let mut locator = |_: &ContentHash| {
        Some(CopySource {
            path: p("x"),
            object: rref("e4", "v4"),
        })
    };
    let pl = planner.finish_with(&SafetyConfig::default(), &mut locator);
    assert_eq!(kinds(&pl), [("upload", "x")]);
}

#[test]
fn plans_are_sorted_by_phase_then_path() {
    let mut conflict = synced_file("k", 9);
    conflict.local = Some(LocalFile {
        stat: stat(1),
        hash: h(10),
    });
    conflict.remote = Some(robj("e11", "v", Some(h(11))));
    let mut touched = synced_file("t", 12);
    touched.local = Some(LocalFile {
        stat: stat(2),
        hash: h(12),
    });
    let states = [
        deleted_remotely("z-del-local", 1),
        deleted_locally("y-del-remote", 2),
        new_local("x-upload", 3),
        deleted_locally("w-renamed-from", 4),
        new_local("v-renamed-to", 4),
        new_remote("u-download", 5),
        conflict,
        PathState {
            local: None,
            remote: None,
            ..synced_file("s-forget", 6)
        },
        touched,
        synced_file("r-idle", 7),
        new_remote("b-download", 8),
    ];
    let pl = plan(&states, &SafetyConfig::default());
    assert_eq!(
        kinds(&pl),
        [
            ("forget", "s-forget"),
            ("record", "t"),
            ("conflict", "k"),
            ("download", "b-download"),
            ("download", "u-download"),
            ("copy", "v-renamed-to"),
            ("upload", "x-upload"),
            ("delete-remote", "w-renamed-from"),
            ("delete-remote", "y-del-remote"),
            ("delete-local", "z-del-local"),
        ]
    );
    // Same input in another order, same plan.
    let mut reversed = states.to_vec();
    reversed.reverse();
    let mut planner = Planner::new();
    for s in &reversed {
        planner.push(s);
    }
    assert_eq!(planner.finish(&SafetyConfig::default()), pl);
}

// ==== Safety stop ====

/// `n` synced files of which `del_local` are deleted locally (remote deletes follow),
/// `del_remote` deleted remotely, and `renamed` renamed locally.
fn pass(n: u8, del_local: u8, del_remote: u8, renamed: u8) -> Vec<PathState> {
    let mut out = Vec::new();
    for i in 0..n {
        let path = format!("f{i:03}");
        let state = if i < del_local {
            deleted_locally(&path, i)
        } else if i < del_local + del_remote {
            deleted_remotely(&path, i)
        } else if i < del_local + del_remote + renamed {
            out.push(new_local(&format!("renamed/{path}"), i));
            deleted_locally(&path, i)
        } else {
            synced_file(&path, i)
        };
        out.push(state);
    }
    out
}

const CFG: SafetyConfig = SafetyConfig {
    max_delete_percent: 50,
    min_deletes: 10,
};

#[rstest]
#[case::nothing_deleted(20, 0, 0, 0, None)]
#[case::below_min_deletes(10, 9, 0, 0, None)]
#[case::at_min_deletes_over_share(10, 10, 0, 0, Some((0, 10, 100)))]
#[case::exactly_half_is_not_more_than_half(20, 5, 5, 0, None)]
#[case::just_over_half(21, 6, 5, 0, Some((5, 6, 52)))]
#[case::local_side_too(30, 0, 16, 0, Some((16, 0, 53)))]
#[case::renames_do_not_count(30, 0, 0, 30, None)]
#[case::renames_do_not_count_but_deletes_do(30, 11, 5, 14, Some((5, 11, 53)))]
fn mass_delete(
    #[case] n: u8,
    #[case] del_local: u8,
    #[case] del_remote: u8,
    #[case] renamed: u8,
    #[case] want: Option<(u64, u64, u32)>,
) {
    let pl = plan(&pass(n, del_local, del_remote, renamed), &CFG);
    let want = want.map(
        |(local_deletes, remote_deletes, percent)| SafetyStop::MassDelete {
            local_deletes,
            remote_deletes,
            synced: u64::from(n),
            percent,
        },
    );
    assert_eq!(pl.safety_stop, want);
}

#[test]
fn a_remote_rename_is_not_a_delete_either() {
    // Another device renamed 12 of 12 files: here that is 12 downloads and 12 local deletes.
    let mut states = Vec::new();
    for i in 0..12 {
        states.push(deleted_remotely(&format!("a{i}"), i));
        states.push(new_remote(&format!("b{i}"), i));
    }
    let pl = plan(&states, &CFG);
    assert_eq!(pl.safety_stop, None);
    assert_eq!(pl.actions.len(), 24);
}

#[test]
fn one_new_copy_excuses_one_delete_only() {
    // 12 identical files deleted, one file of that content created: 11 real deletes.
    let mut states: Vec<PathState> = (0..12)
        .map(|i| deleted_locally(&format!("d{i:02}"), 1))
        .collect();
    states.push(new_local("keep", 1));
    let pl = plan(&states, &CFG);
    assert_eq!(
        pl.safety_stop,
        Some(SafetyStop::MassDelete {
            local_deletes: 0,
            remote_deletes: 11,
            synced: 12,
            percent: 91
        })
    );
}

#[test]
fn a_zero_percent_share_stops_any_pass_over_min_deletes() {
    let cfg = SafetyConfig {
        max_delete_percent: 0,
        min_deletes: 1,
    };
    assert!(plan(&pass(100, 1, 0, 0), &cfg).safety_stop.is_some());
    let cfg = SafetyConfig {
        max_delete_percent: 100,
        min_deletes: 1,
    };
    assert!(plan(&pass(10, 10, 0, 0), &cfg).safety_stop.is_none());
}

#[test]
fn a_capped_planner_keeps_a_batch_and_still_weighs_every_delete() {
    // 30 synced files, 20 deleted remotely (local deletes here): over the share. With a cap
    // of 5 only five actions are kept, but the stop still sees all 20 deletes.
    let states = pass(30, 20, 0, 0);
    let mut planner = Planner::with_cap(5);
    for s in &states {
        planner.push(s);
    }
    let pl = planner.finish(&CFG);
    assert_eq!(pl.actions.len(), 5);
    assert_eq!(pl.left, 15);
    assert!(
        matches!(
            pl.safety_stop,
            Some(SafetyStop::MassDelete {
                remote_deletes: 20,
                ..
            }) | Some(SafetyStop::MassDelete {
                local_deletes: 20,
                ..
            })
        ),
        "{:?}",
        pl.safety_stop
    );
    // Under the share, a capped plan is just a batch.
    let states = pass(30, 3, 0, 0);
    let mut planner = Planner::with_cap(2);
    for s in &states {
        planner.push(s);
    }
    let pl = planner.finish(&CFG);
    assert_eq!((pl.actions.len(), pl.left, pl.safety_stop), (2, 1, None));
    // Uncapped: nothing left.
    assert_eq!(plan(&states, &CFG).left, 0);
}
