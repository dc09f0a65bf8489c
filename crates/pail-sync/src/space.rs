//! Room on the folder's disk for a download (tenet 6 on a full disk): a big download checks
//! the free space before it starts, and running out while writing is the same error. Either
//! way the temp file is removed (`TempWriter` drops it), the pass goes on with the other files,
//! and the next pass tries again: there may be room by then.

use std::io;
use std::path::Path;

use crate::outcome::ActionError;

/// Downloads from this size up check the free space before they start. Smaller ones just try:
/// a statvfs per small file buys little, and running out is caught as it happens.
pub const CHECK_FROM: u64 = 1 << 20;

/// Bytes free for pail at `dir` or, if it does not exist yet, at its nearest existing ancestor
/// (a download may create its folders). `None` if that cannot be told.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    let at = dir.ancestors().find(|d| d.symlink_metadata().is_ok())?;
    let s = rustix::fs::statvfs(at).ok()?;
    Some(s.f_bavail.saturating_mul(s.f_frsize))
}

/// The write failed because the disk (or the user's quota) is full.
pub fn is_no_space(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOSPC | libc::EDQUOT))
}

/// Refuses a download of `size` bytes to `target` (`rel` in the folder `root`) that cannot fit.
pub fn check_room(root: &Path, rel: &str, target: &Path, size: u64) -> Result<(), ActionError> {
    if size < CHECK_FROM {
        return Ok(());
    }
    let dir = target.parent().unwrap_or(root);
    match free_bytes(dir) {
        Some(free) if free < size => Err(no_space(root, rel, target, size)),
        _ => Ok(()),
    }
}

/// The error for `rel` (`size` bytes) not fitting in `root`, with the space free now.
pub fn no_space(root: &Path, rel: &str, target: &Path, size: u64) -> ActionError {
    ActionError::NoSpace {
        folder: root.to_owned(),
        path: rel.to_owned(),
        needed: size,
        free: free_bytes(target.parent().unwrap_or(root)).unwrap_or(0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn free_space_is_measured_at_the_nearest_existing_folder() {
        let tmp = tempfile::tempdir().unwrap();
        let deep = tmp.path().join("not/yet/made");
        assert!(free_bytes(&deep).is_some_and(|f| f > 0));
    }

    #[test]
    fn small_downloads_are_not_checked_and_impossible_ones_are_refused() {
        let tmp = tempfile::tempdir().unwrap();
        let target = tmp.path().join("d/big.bin");
        assert!(check_room(tmp.path(), "d/big.bin", &target, CHECK_FROM - 1).is_ok());
        let err = check_room(tmp.path(), "d/big.bin", &target, u64::MAX).unwrap_err();
        let text = err.to_string();
        let folder = tmp.path().display();
        assert!(
            text.starts_with(&format!(
                "not enough space in {folder} for d/big.bin (needs "
            )),
            "{text}"
        );
        assert!(text.ends_with(" free)"), "{text}");
        assert!(err.is_transient(), "retried at the next pass");
        assert!(is_no_space(&io::Error::from_raw_os_error(libc::ENOSPC)));
        assert!(!is_no_space(&io::Error::from_raw_os_error(libc::EACCES)));
    }
}
