//! Remote names that cannot all exist in one folder (tenet 9): keys that differ only by
//! Unicode normalization (and, on a disk that ignores case, only by case). They are found
//! while the listing streams by, in bounded memory, and left out of planning on both sides
//! (so that skipping them never looks like a delete). A key that is both a file and a folder
//! of other keys is not skipped: the planner makes the file give way to the folder
//! (`pail_core::plan` folders, `Action::Displace`).

use std::collections::HashSet;

use pail_core::RelPath;
use pail_core::collisions::{Collision, find_collisions};

/// Collects name collisions from a listing.
#[derive(Debug, Default)]
pub struct CollisionFinder {
    /// Non-ASCII paths, the only ones normalization can merge.
    non_ascii: Vec<RelPath>,
    skipped: Vec<(RelPath, String)>,
}

impl CollisionFinder {
    pub fn push(&mut self, path: &RelPath) {
        if !path.as_str().is_ascii() {
            self.non_ascii.push(path.clone());
        }
    }

    /// The paths to leave out, with the reason.
    pub fn finish(mut self) -> Vec<(RelPath, String)> {
        for skip in find_collisions(&self.non_ascii, false) {
            if let Collision::NormalizationDuplicate { kept } = skip.reason {
                self.skipped.push((
                    skip.path,
                    format!("same name as {kept} after Unicode normalization (NFC/NFD): rename one of them"),
                ));
            }
        }
        self.skipped
    }
}

/// Of each group of listed paths that a case-insensitive disk confuses (`twins`, grouped by
/// key), the ones to leave out: the group keeps the name a local file has, else the name it
/// was synced under, else the first in byte order, so that what is on disk is never planned
/// as deleted or replaced by its twin.
pub fn case_twin_skips(twins: &[pail_index::CaseTwin]) -> Vec<(RelPath, String)> {
    let mut out = Vec::new();
    for group in twins.chunk_by(|a, b| a.key == b.key) {
        let kept = group
            .iter()
            .find(|t| t.local)
            .or_else(|| group.iter().find(|t| t.base))
            .unwrap_or(&group[0]);
        for t in group.iter().filter(|t| t.path != kept.path) {
            out.push((
                t.path.clone(),
                format!(
                    "differs only by case from {} and this folder's disk ignores case: rename one of them in the bucket",
                    kept.path
                ),
            ));
        }
    }
    out
}

/// The set form, for filtering.
pub fn path_set(skipped: &[(RelPath, String)]) -> HashSet<RelPath> {
    skipped.iter().map(|(p, _)| p.clone()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(keys: &[&str]) -> Vec<String> {
        let mut f = CollisionFinder::default();
        let mut paths: Vec<RelPath> = keys.iter().map(|k| RelPath::new(k).unwrap()).collect();
        paths.sort();
        for p in &paths {
            f.push(p);
        }
        f.finish().into_iter().map(|(p, _)| p.to_string()).collect()
    }

    fn twin(key: &str, path: &str, local: bool, base: bool) -> pail_index::CaseTwin {
        pail_index::CaseTwin {
            key: key.into(),
            path: RelPath::new(path).unwrap(),
            local,
            base,
        }
    }

    #[test]
    fn case_twins_keep_what_is_on_disk_then_what_was_synced_then_the_first() {
        let skipped = |twins: &[pail_index::CaseTwin]| -> Vec<String> {
            case_twin_skips(twins)
                .into_iter()
                .map(|(p, _)| p.to_string())
                .collect()
        };
        let on_disk = [
            twin("notes.txt", "NOTES.txt", false, true),
            twin("notes.txt", "Notes.txt", false, false),
            twin("notes.txt", "notes.txt", true, false),
        ];
        assert_eq!(skipped(&on_disk), ["NOTES.txt", "Notes.txt"]);
        let synced = [
            twin("a.txt", "A.txt", false, false),
            twin("a.txt", "a.txt", false, true),
        ];
        assert_eq!(skipped(&synced), ["A.txt"]);
        let neither = [
            twin("b", "B", false, false),
            twin("b", "b", false, false),
            twin("c/x", "C/x", false, false),
            twin("c/x", "c/X", false, false),
        ];
        assert_eq!(skipped(&neither), ["b", "c/X"]);
        let reason = &case_twin_skips(&synced)[0].1;
        assert!(
            reason.contains("a.txt") && reason.contains("ignores case"),
            "{reason}"
        );
    }

    #[test]
    fn file_that_is_also_a_directory_is_left_to_the_planner() {
        assert!(run(&["a", "a b", "a.txt", "a/x", "b"]).is_empty());
        assert!(run(&["a/b", "a/b/c", "a/c"]).is_empty());
    }

    #[test]
    fn normalization_duplicates() {
        let nfc = "caf\u{e9}.txt";
        let nfd = "cafe\u{301}.txt";
        assert_eq!(run(&[nfc, nfd]).len(), 1);
    }
}
