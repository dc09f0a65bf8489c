//! Table tests of a file and a folder with one name: the file `dir/f.txt` (every base/local/
//! remote combination of the main matrix) against a folder `dir/f.txt/...` that the plan keeps
//! or empties, on either side.

use rstest::rstest;

use super::*;

const FILE: &str = "dir/f.txt";
const CHILD: &str = "dir/f.txt/inner.txt";

/// What becomes of one side's file in the expected `Displace` (`-`: that side has none).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum F {
    None,
    Copy,
    Delete,
}

/// The expected decision for `dir/f.txt` when a folder takes its name.
#[derive(Clone, Copy, Debug)]
enum X {
    /// `Displace` with these local and remote fates.
    Displace(F, F),
    /// The plain decision stands (the file goes anyway, on the remote side only).
    Plain(E),
}

/// The child that makes `dir/f.txt/` a folder after the plan.
#[derive(Clone, Copy, Debug)]
enum Child {
    /// A new object in the bucket (downloaded): a remote folder.
    RemoteNew,
    /// A new local file (uploaded): a local folder.
    LocalNew,
    /// Synced on both sides, untouched.
    Synced,
    /// New on both sides with different content (conflict).
    BothNew,
}

fn child(c: Child) -> PathState {
    match c {
        Child::RemoteNew => new_remote(CHILD, 7),
        Child::LocalNew => new_local(CHILD, 7),
        Child::Synced => synced_file(CHILD, 7),
        Child::BothNew => PathState {
            remote: Some(robj("e8", "v", Some(h(8)))),
            ..new_local(CHILD, 7)
        },
    }
}

fn fate_of<T>(side: &Option<(T, Fate)>) -> F {
    match side {
        None => F::None,
        Some((_, Fate::ConflictCopy)) => F::Copy,
        Some((_, Fate::Delete)) => F::Delete,
    }
}

fn file_decision(plan: &Plan) -> Option<&Action> {
    plan.actions.iter().find(|a| a.path().as_str() == FILE)
}

#[rstest]
// No base: a new file on either side is in the way of the folder and becomes a conflict copy.
#[case(B::None, L::Absent, R::Same, X::Displace(F::None, F::Copy))]
#[case(B::None, L::Absent, R::ChangedUnknown, X::Displace(F::None, F::Copy))]
#[case(B::None, L::Changed, R::Absent, X::Displace(F::Copy, F::None))]
#[case(B::None, L::Same, R::Same, X::Displace(F::Copy, F::Copy))]
#[case(B::None, L::Changed, R::Changed, X::Displace(F::Copy, F::Copy))]
#[case(B::None, L::Changed, R::ChangedUnknown, X::Displace(F::Copy, F::Copy))]
// Synced, nothing changed (another client added the folder's keys): kept as a conflict copy.
#[case(B::Some, L::Same, R::Same, X::Displace(F::Copy, F::Copy))]
#[case(B::Some, L::StatOnly, R::EtagSameHash, X::Displace(F::Copy, F::Copy))]
// Edited locally: the edit is a conflict copy; an unchanged object goes.
#[case(B::Some, L::Changed, R::Absent, X::Displace(F::Copy, F::None))]
#[case(B::Some, L::Changed, R::Same, X::Displace(F::Copy, F::Delete))]
#[case(B::Some, L::Changed, R::EtagSameHash, X::Displace(F::Copy, F::Delete))]
// Edited remotely: the edit is a conflict copy; an unchanged local file goes.
#[case(B::Some, L::Absent, R::Changed, X::Displace(F::None, F::Copy))]
#[case(B::Some, L::Absent, R::ChangedUnknown, X::Displace(F::None, F::Copy))]
#[case(B::Some, L::Same, R::Changed, X::Displace(F::Delete, F::Copy))]
#[case(
    B::Some,
    L::StatOnly,
    R::ChangedUnknown,
    X::Displace(F::Delete, F::Copy)
)]
// Edited on both sides: both are conflict copies.
#[case(B::Some, L::Changed, R::Changed, X::Displace(F::Copy, F::Copy))]
#[case(B::Some, L::Changed, R::ChangedUnknown, X::Displace(F::Copy, F::Copy))]
// Deleted remotely, unchanged here: deleted, before the folder comes down.
#[case(B::Some, L::Same, R::Absent, X::Displace(F::Delete, F::None))]
#[case(B::Some, L::StatOnly, R::Absent, X::Displace(F::Delete, F::None))]
// Deleted here (the local folder replaced it): an ordinary remote delete.
#[case(B::Some, L::Absent, R::Same, X::Plain(E::DeleteRemote))]
#[case(B::Some, L::Absent, R::EtagSameHash, X::Plain(E::DeleteRemote))]
#[case(B::Some, L::Absent, R::Absent, X::Plain(E::Forget))]
fn a_file_in_the_way_of_a_folder_gives_way(
    #[case] b: B,
    #[case] l: L,
    #[case] r: R,
    #[case] x: X,
    #[values(Child::RemoteNew, Child::LocalNew, Child::Synced, Child::BothNew)] c: Child,
) {
    let file = state(b, l, r);
    let plan = plan(&[file.clone(), child(c)], &SafetyConfig::default());
    let got = file_decision(&plan);
    match x {
        X::Plain(e) => assert_eq!(got, expected(e, &file).as_ref(), "{b:?} {l:?} {r:?} {c:?}"),
        X::Displace(lf, rf) => {
            let Some(Action::Displace {
                path,
                local,
                remote,
            }) = got
            else {
                panic!("{b:?} {l:?} {r:?} {c:?}: {got:?}");
            };
            assert_eq!(path.as_str(), FILE);
            assert_eq!(
                (fate_of(local), fate_of(remote)),
                (lf, rf),
                "{b:?} {l:?} {r:?} {c:?}"
            );
            // Each side is the one scanned and listed (an unchanged one as the base's).
            if let Some((f, _)) = local {
                assert_eq!(f.stat, file.local.as_ref().unwrap().stat);
            }
            if let Some((o, fate)) = remote {
                assert_eq!(o.object, file.remote.as_ref().unwrap().object);
                if *fate == Fate::Delete {
                    assert_eq!(
                        o.hash,
                        Some(base().hash),
                        "a deleted object's content is known"
                    );
                }
            }
            // The folder itself syncs as it would anyway, after the file made way.
            let child_action = plan.actions.iter().find(|a| a.path().as_str() == CHILD);
            assert_eq!(child_action.cloned(), plan_path(&child(c)));
            let pos = |p: &str| plan.actions.iter().position(|a| a.path().as_str() == p);
            if let (Some(f), Some(ch)) = (pos(FILE), pos(CHILD)) {
                assert!(f < ch, "the file makes way before the folder syncs");
            }
        }
    }
}

/// Children that leave no file behind (deleted on one side, gone on both) make no folder:
/// the file's own decision stands, whatever it is.
#[rstest]
fn a_folder_emptied_by_the_plan_takes_no_name(
    #[values(B::None, B::Some)] b: B,
    #[values(L::Absent, L::Same, L::Changed)] l: L,
    #[values(R::Absent, R::Same, R::Changed, R::ChangedUnknown)] r: R,
    #[values("deleted locally", "deleted remotely", "gone")] how: &str,
) {
    let file = state(b, l, r);
    let gone = match how {
        "deleted locally" => deleted_locally(CHILD, 7),
        "deleted remotely" => deleted_remotely(CHILD, 7),
        _ => PathState {
            local: None,
            remote: None,
            ..synced_file(CHILD, 7)
        },
    };
    let plan = plan(&[file.clone(), gone], &SafetyConfig::default());
    assert_eq!(
        file_decision(&plan),
        plan_path(&file).as_ref(),
        "{b:?} {l:?} {r:?} {how}"
    );
}

#[test]
fn siblings_between_the_file_and_its_folder_do_not_hide_it() {
    // `f.txt b`, `f.txt.bak` sort between `f.txt` and `f.txt/`.
    let states = [
        new_local("dir/f.txt", 1),
        new_local("dir/f.txt b", 2),
        new_local("dir/f.txt.bak", 3),
        new_remote("dir/f.txt.bak/x", 4),
        new_remote("dir/f.txt/inner.txt", 5),
        new_local("dir/f.txt0", 6),
    ];
    let plan = plan(&states, &SafetyConfig::default());
    let mut got = kinds(&plan);
    got.sort();
    assert_eq!(
        got,
        [
            ("displace", "dir/f.txt"),
            ("displace", "dir/f.txt.bak"),
            ("download", "dir/f.txt.bak/x"),
            ("download", "dir/f.txt/inner.txt"),
            ("upload", "dir/f.txt b"),
            ("upload", "dir/f.txt0"),
        ]
    );
}

#[test]
fn files_at_two_levels_and_at_the_root_give_way_to_the_deepest_folder() {
    // `a` and `a/b` are files in the bucket, `a/b/c/d` is a folder's file: both give way.
    let states = [
        new_remote("a", 1),
        new_remote("a/b", 2),
        new_remote("a/b/c/d", 3),
        synced_file("top", 4),
        new_remote("top/x", 5),
    ];
    let plan = plan(&states, &SafetyConfig::default());
    assert_eq!(
        kinds(&plan),
        [
            ("displace", "a"),
            ("displace", "a/b"),
            ("displace", "top"),
            ("download", "a/b/c/d"),
            ("download", "top/x"),
        ]
    );
    // A folder that only a file deeper down keeps is still a folder.
    let plan = super::plan(
        &[new_local("a", 1), new_remote("a/b/c/d/e", 2)],
        &SafetyConfig::default(),
    );
    assert_eq!(kinds(&plan), [("displace", "a"), ("download", "a/b/c/d/e")]);
}

#[test]
fn conflict_copies_are_not_deletes_for_the_safety_stop() {
    // Ten synced files that a folder of another client displaces: no mass delete.
    let mut states = Vec::new();
    for i in 0..10u8 {
        states.push(synced_file(&format!("f{i}"), i));
        states.push(new_remote(&format!("f{i}/x"), 100 + i));
    }
    let strict = SafetyConfig {
        max_delete_percent: 0,
        min_deletes: 1,
    };
    assert_eq!(plan(&states, &strict).safety_stop, None);
    // Local files the other side deleted are deletes like any other.
    let mut states = Vec::new();
    for i in 0..10u8 {
        states.push(deleted_remotely(&format!("f{i}"), i));
        states.push(new_remote(&format!("f{i}/x"), 100 + i));
    }
    assert!(matches!(
        plan(&states, &strict).safety_stop,
        Some(SafetyStop::MassDelete {
            local_deletes: 10,
            ..
        })
    ));
}

#[test]
fn a_capped_planner_holds_files_back_without_losing_them() {
    let states = [
        new_local("a", 1),
        new_remote("a/x", 2),
        new_local("b", 3),
        new_remote("c", 4),
    ];
    let mut planner = Planner::with_cap(2);
    for s in &states {
        planner.push(s);
    }
    let plan = planner.finish(&SafetyConfig::default());
    assert_eq!(plan.actions.len() as u64 + plan.left, 4);
}
