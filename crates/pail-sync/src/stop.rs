//! Why a sync stopped for safety (tenet 7): nothing was changed, and the user must look and
//! confirm (`pail sync --confirm-deletes`, exit code 3). Typed so that the binary, the daemon
//! and `status` can each say it their way; the `Display` text is the sentence users read.

use std::path::PathBuf;

use pail_core::plan::SafetyStop;

/// Why a pass stopped before changing anything.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopReason {
    /// The folder is gone (an unmounted disk, a deleted folder).
    #[error(
        "the folder {} is missing (unmounted disk?); nothing was changed. Mount or recreate it, or remove the pair from the config",
        folder.display()
    )]
    FolderMissing {
        /// The pair's folder.
        folder: PathBuf,
    },
    /// Something other than a directory is where the folder was.
    #[error("{} is not a directory; nothing was changed", folder.display())]
    NotADirectory {
        /// The pair's folder.
        folder: PathBuf,
    },
    /// The folder is another one than was synced (another filesystem, replaced).
    #[error(
        "{} is not the folder that was synced before (another filesystem, or the folder was replaced); nothing was changed. If this is intended, run `pail sync --confirm-deletes`",
        folder.display()
    )]
    FolderReplaced {
        /// The pair's folder.
        folder: PathBuf,
    },
    /// The folder is empty although files were synced.
    #[error(
        "the folder {} is empty but {synced} file(s) were synced before (unmounted disk?); nothing was changed. If you deleted everything on purpose, run `pail sync --confirm-deletes`",
        folder.display()
    )]
    FolderEmptied {
        /// The pair's folder.
        folder: PathBuf,
        /// Files synced before.
        synced: u64,
    },
    /// The prefix lists nothing although files were synced.
    #[error(
        "{url} lists no objects but {synced} file(s) were synced before (wrong bucket or prefix, or emptied by another client); nothing was changed. If intended, run `pail sync --confirm-deletes`"
    )]
    ListingEmptied {
        /// `s3://bucket/prefix/`.
        url: String,
        /// Files synced before.
        synced: u64,
    },
    /// The planner's stop: the pass would delete too much.
    #[error("{}", planner_text(.0))]
    Planner(SafetyStop),
}

fn planner_text(s: &SafetyStop) -> String {
    match s {
        SafetyStop::MassDelete {
            local_deletes,
            remote_deletes,
            synced,
            percent,
        } => format!(
            "this pass would delete {local_deletes} local and {remote_deletes} remote file(s) out of {synced} synced ({percent}%), over the safety limit; if that is intended, run `pail sync --confirm-deletes`"
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_stop_says_what_and_how_to_go_on() {
        let folder = PathBuf::from("/home/u/Pail");
        let stops = [
            StopReason::FolderMissing {
                folder: folder.clone(),
            },
            StopReason::FolderReplaced {
                folder: folder.clone(),
            },
            StopReason::FolderEmptied {
                folder: folder.clone(),
                synced: 3,
            },
            StopReason::ListingEmptied {
                url: "s3://b/p/".into(),
                synced: 3,
            },
            StopReason::Planner(SafetyStop::MassDelete {
                local_deletes: 10,
                remote_deletes: 0,
                synced: 19,
                percent: 52,
            }),
        ];
        for s in stops {
            let text = s.to_string();
            assert!(text.contains("nothing was changed") || text.contains("--confirm-deletes"));
            assert!(!text.contains("{"), "{text}");
        }
    }
}
