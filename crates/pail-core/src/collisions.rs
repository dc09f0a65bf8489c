//! Name hygiene (tenet 9): names that cannot coexist in one folder are reported and skipped,
//! never silently merged.
//!
//! - Unicode duplicates: different bytes, same NFC form (`é` precomposed and `e` + U+0301).
//!   Reported on every platform so that all devices skip the same names (macOS would merge
//!   them; Linux would not), and Unicode stays byte-exact everywhere.
//! - Case duplicates (`Notes.txt`, `notes.txt`): checked only for case-insensitive folders.
//! - A path that is both a file and a directory prefix (`a` and `a/b`): the file is reported,
//!   its subtree kept. (The sync itself does not skip these: its planner makes the file give
//!   way to the folder as a conflict copy, see `plan/folders.rs`.)
//!
//! Of a group of duplicates one name is kept (the one equal to its NFC / lowercased form if
//! present, else the smallest in byte order, so every device keeps the same one) and the others are skipped. A skipped path
//! must be left out of planning on *both* sides (like an ignored path): feeding only its local
//! or base state to the planner would read as a remote delete.

use std::borrow::Cow;
use std::collections::BTreeMap;

use unicode_normalization::{UnicodeNormalization, is_nfc_quick};

use crate::names::RelPath;

/// Why a path is skipped.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Collision {
    /// Same NFC form as `kept`, other bytes.
    NormalizationDuplicate {
        /// The name of the group that is synced.
        kept: RelPath,
    },
    /// Differs from `kept` only by case (case-insensitive folders only).
    CaseDuplicate {
        /// The name of the group that is synced.
        kept: RelPath,
    },
    /// A file at a path the other names use as a directory (`child` is the first of them).
    FileIsDirectory {
        /// The first path below the file's name, which shows that it is a directory.
        child: RelPath,
    },
}

/// One path to skip and why.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Skip {
    /// The path left out of planning on both sides.
    pub path: RelPath,
    /// Why, and which name of the group is kept instead.
    pub reason: Collision,
}

/// The paths of `paths` (typically the remote listing, or the union of both sides) that
/// cannot be synced together with the others, sorted by path. `paths` may come in any order
/// and must not repeat.
///
/// Memory: one key per path, borrowed from the path unless normalization or case folding
/// changes it (for a case-insensitive check, most keys with capitals are copies).
pub fn find_collisions(paths: &[RelPath], case_insensitive: bool) -> Vec<Skip> {
    let mut skipped: BTreeMap<&RelPath, Collision> = BTreeMap::new();

    let mut keyed: Vec<(Cow<'_, str>, &RelPath)> =
        paths.iter().map(|p| (nfc(p.as_str()), p)).collect();
    keyed.sort();
    skip_duplicates(&keyed, &mut skipped, |kept| {
        Collision::NormalizationDuplicate { kept }
    });

    if case_insensitive {
        keyed = keyed
            .into_iter()
            .filter(|(_, p)| !skipped.contains_key(p))
            .map(|(k, p)| (fold_case(k), p))
            .collect();
        keyed.sort();
        skip_duplicates(&keyed, &mut skipped, |kept| Collision::CaseDuplicate {
            kept,
        });
    }

    // Files that are directory prefixes, on the same keys (a case-insensitive disk cannot
    // have a file `A` and a directory `a`). Keys sorted in byte order put every name under
    // `f/` in one run after `f`; the stack holds the files whose run may still come.
    let mut stack: Vec<(&str, &RelPath, bool)> = Vec::new();
    let mut clashes: Vec<(&RelPath, Collision)> = Vec::new();
    for (key, path) in keyed.iter().filter(|(_, p)| !skipped.contains_key(p)) {
        let key: &str = key;
        while let Some((top, _, _)) = stack.last() {
            // Still inside `top/`, or between `top` and `top/` (`top.txt`): its run may come.
            let before_run =
                key.starts_with(top) && key.as_bytes().get(top.len()).is_some_and(|b| *b < b'/');
            if under(key, top) || before_run {
                break;
            }
            stack.pop();
        }
        for (dir, file, reported) in stack.iter_mut() {
            if !*reported && under(key, dir) {
                *reported = true;
                clashes.push((
                    file,
                    Collision::FileIsDirectory {
                        child: (*path).clone(),
                    },
                ));
            }
        }
        stack.push((key, path, false));
    }
    skipped.extend(clashes);

    skipped
        .into_iter()
        .map(|(path, reason)| Skip {
            path: path.clone(),
            reason,
        })
        .collect()
}

/// `key` names something inside directory `dir`.
fn under(key: &str, dir: &str) -> bool {
    key.len() > dir.len() && key.starts_with(dir) && key.as_bytes()[dir.len()] == b'/'
}

/// In each run of equal keys, keeps the path equal to the key (else the first) and skips the rest.
fn skip_duplicates<'a>(
    keyed: &[(Cow<'a, str>, &'a RelPath)],
    skipped: &mut BTreeMap<&'a RelPath, Collision>,
    reason: impl Fn(RelPath) -> Collision,
) {
    for group in keyed.chunk_by(|a, b| a.0 == b.0).filter(|g| g.len() > 1) {
        let kept = group
            .iter()
            .find(|(k, p)| k == p.as_str())
            .unwrap_or(&group[0])
            .1;
        for (_, p) in group.iter().filter(|(_, p)| *p != kept) {
            skipped.insert(p, reason(kept.clone()));
        }
    }
}

fn nfc(s: &str) -> Cow<'_, str> {
    if is_nfc_quick(s.chars()) == unicode_normalization::IsNormalized::Yes {
        Cow::Borrowed(s)
    } else {
        let n: String = s.nfc().collect();
        if n == s {
            Cow::Borrowed(s)
        } else {
            Cow::Owned(n)
        }
    }
}

/// The name `path` has on a case-insensitive disk: NFC, then lowercased. Two paths with the
/// same key cannot both exist in such a folder.
pub fn case_key(path: &str) -> String {
    fold_case(nfc(path)).into_owned()
}

/// Simple case folding by lowercasing (what APFS and NTFS approximate; exotic foldings such
/// as `ß`/`ss` are not merged by those filesystems either).
fn fold_case(k: Cow<'_, str>) -> Cow<'_, str> {
    if k.chars().any(char::is_uppercase) {
        Cow::Owned(k.to_lowercase())
    } else {
        k
    }
}

#[cfg(test)]
mod tests {
    use rstest::rstest;

    use super::*;

    fn skips(paths: &[&str], case_insensitive: bool) -> Vec<(String, String)> {
        let paths: Vec<RelPath> = paths.iter().map(|p| RelPath::new(p).unwrap()).collect();
        find_collisions(&paths, case_insensitive)
            .into_iter()
            .map(|s| {
                let why = match s.reason {
                    Collision::NormalizationDuplicate { kept } => format!("nfc of {kept}"),
                    Collision::CaseDuplicate { kept } => format!("case of {kept}"),
                    Collision::FileIsDirectory { child } => format!("dir of {child}"),
                };
                (s.path.as_str().to_owned(), why)
            })
            .collect()
    }

    const NFC: &str = "caf\u{e9}.txt";
    const NFD: &str = "cafe\u{301}.txt";

    #[test]
    fn clean_listings_have_no_collisions() {
        let paths = ["a b", "a-b", "a.txt", "a/x", "a/y/z", "a0", "b", "B", NFC];
        assert_eq!(skips(&paths, false), []);
    }

    #[test]
    fn nfc_nfd_duplicates_keep_the_nfc_form() {
        assert_eq!(
            skips(&[NFD, NFC, "x"], false),
            [(NFD.to_owned(), format!("nfc of {NFC}"))]
        );
        // A lone NFD name is fine: bytes are kept as they are.
        assert_eq!(skips(&[NFD], false), []);
        // Two non-NFC spellings of one name: the smallest is kept.
        let mixed = "\u{1e0b}\u{323}"; // ḋ + dot below: NFC is U+1E0D U+0307
        let nfd = "d\u{323}\u{307}";
        assert_eq!(
            skips(&[mixed, nfd], false),
            [(mixed.to_owned(), format!("nfc of {nfd}"))]
        );
        // In a directory name too.
        let (a, b) = (format!("{NFC}/f"), format!("{NFD}/f"));
        assert_eq!(
            skips(&[&a, &b], false),
            [(b.clone(), format!("nfc of {a}"))]
        );
    }

    #[rstest]
    #[case(false, vec![])]
    #[case(true, vec![("README.md", "case of readme.md"), ("Readme.md", "case of readme.md")])]
    fn case_duplicates_only_when_asked(#[case] ci: bool, #[case] want: Vec<(&str, &str)>) {
        let got = skips(&["readme.md", "Readme.md", "README.md", "other"], ci);
        let want: Vec<(String, String)> = want
            .into_iter()
            .map(|(a, b)| (a.into(), b.into()))
            .collect();
        assert_eq!(got, want);
    }

    #[test]
    fn case_duplicates_after_normalization() {
        let upper_nfd = "E\u{301}.txt";
        let got = skips(&["\u{e9}.txt", upper_nfd], true);
        assert_eq!(
            got,
            [(upper_nfd.to_owned(), "case of \u{e9}.txt".to_owned())]
        );
        assert_eq!(skips(&["\u{e9}.txt", upper_nfd], false), []);
    }

    #[test]
    fn a_file_that_is_also_a_directory_is_skipped() {
        let got = skips(
            &[
                "a", "a.txt", "a b/c", "a/b", "a/b/c", "a/c", "a0", "b/c", "b/c d",
            ],
            false,
        );
        assert_eq!(
            got,
            [
                ("a".into(), "dir of a/b".into()),
                ("a/b".into(), "dir of a/b/c".into())
            ]
        );
        // Names between the file and its run do not hide the clash.
        let got = skips(&["x", "x!", "x!/y", "x.", "x/y"], false);
        assert_eq!(
            got,
            [
                ("x".into(), "dir of x/y".into()),
                ("x!".into(), "dir of x!/y".into())
            ]
        );
        // Prefixes of a segment are not directories.
        assert_eq!(skips(&["ab", "abc/d", "a/b"], false), []);
    }

    #[test]
    fn file_directory_clashes_by_case_on_case_insensitive_folders() {
        assert_eq!(skips(&["Docs", "docs/a"], false), []);
        assert_eq!(
            skips(&["Docs", "docs/a"], true),
            [("Docs".into(), "dir of docs/a".into())]
        );
    }

    #[test]
    fn unsorted_input_gives_the_same_answer() {
        let mut paths = vec!["a/b", NFD, "a", "z", NFC, "a.txt"];
        let want = skips(&paths, false);
        paths.reverse();
        assert_eq!(skips(&paths, false), want);
        assert_eq!(want.len(), 2);
    }
}
