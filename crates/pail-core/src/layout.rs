//! pail's own names, defined once: the layout of `PREFIX/.pail/` in the bucket, the names
//! of temporary files in the folder, and how device names are made safe for keys.
//!
//! Other devices and other S3 clients read and write these names, so they are part of the
//! remote format (see `cli-contract.md`): change them only with a migration.

use time::OffsetDateTime;

use crate::names::{RelPath, RemotePrefix};

/// Marker in the names of pail's temporary files: `.NAME.pail-tmp-<16 hex digits>` for the
/// sync's own, `.NAME.pail-tmp-x<15 hex digits>` for those of commands that write into the
/// folder without holding the pair (`restore --to`).
pub const TEMP_MARKER: &str = ".pail-tmp-";

/// Who wrote a temp file, which decides when its leftover may be removed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TempOwner {
    /// The sync (or daemon) holding the pair: a leftover is from a sync that ended, since
    /// only one process works on a pair at a time, and goes at the start of the next pass.
    Sync,
    /// A command writing into the folder without the pair's lock (`restore --to`): it may be
    /// writing right now, so only an old leftover is removed.
    Outside,
}

/// The first character of the random part of an [`TempOwner::Outside`] temp name.
const OUTSIDE_TAG: char = 'x';

/// Hex digits of the random part of a temp name.
const TEMP_NONCE_DIGITS: usize = 16;

/// Bytes of the target name kept in a temp name, so that a temp name of a 255-byte file
/// name still fits in `NAME_MAX`.
const TEMP_NAME_KEEP: usize = 180;

/// The sync's temp file name for a file named `target` (written next to it, then renamed
/// over it).
pub fn temp_name(target: &str, nonce: u64) -> String {
    format!(".{}{TEMP_MARKER}{nonce:016x}", kept_part(target))
}

/// The temp file name of a command writing into the folder without holding the pair.
pub fn outside_temp_name(target: &str, nonce: u64) -> String {
    let nonce = format!("{nonce:016x}");
    format!(
        ".{}{TEMP_MARKER}{OUTSIDE_TAG}{}",
        kept_part(target),
        &nonce[1..]
    )
}

/// The start of `target` that a temp name keeps (on a char boundary).
fn kept_part(target: &str) -> &str {
    let mut cut = target.len().min(TEMP_NAME_KEEP);
    while !target.is_char_boundary(cut) {
        cut -= 1;
    }
    &target[..cut]
}

/// Who wrote the temp file `name`, if it is exactly one of pail's temp names (as
/// [`temp_name`] and [`outside_temp_name`] make them), so that cleaning up leftovers never
/// touches a user's file that merely contains the marker.
pub fn temp_owner(name: &str) -> Option<TempOwner> {
    let at = name.rfind(TEMP_MARKER)?;
    let nonce = &name[at + TEMP_MARKER.len()..];
    if !name.starts_with('.') || nonce.len() != TEMP_NONCE_DIGITS {
        return None;
    }
    let hex = |s: &str| s.bytes().all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'));
    match nonce.strip_prefix(OUTSIDE_TAG) {
        Some(rest) if hex(rest) => Some(TempOwner::Outside),
        None if hex(nonce) => Some(TempOwner::Sync),
        _ => None,
    }
}

/// Whether `name` is one of pail's temp names (see [`temp_owner`]).
pub fn is_temp_name(name: &str) -> bool {
    temp_owner(name).is_some()
}

/// Folder of the change journal: `PREFIX/.pail/journal/`.
pub fn journal_dir(prefix: &RemotePrefix) -> String {
    prefix.reserved_key("journal/")
}

/// Folder of the capability probe's objects: `PREFIX/.pail/probe/`.
pub fn probe_dir(prefix: &RemotePrefix) -> String {
    prefix.reserved_key("probe/")
}

/// The record that a prefix is end-to-end encrypted: `PREFIX/.pail/encryption.toml`
/// (doc/ENCRYPTION.md). Under `.pail/`, so no listing ever takes it for a file.
pub fn encryption_marker_key(prefix: &RemotePrefix) -> String {
    prefix.reserved_key("encryption.toml")
}

/// Format of the time in a trash key: sortable UTC to the microsecond.
const TRASH_STAMP: &[time::format_description::BorrowedFormatItem<'static>] = time::macros::format_description!(
    "[year][month][day]T[hour][minute][second].[subsecond digits:6]Z"
);

/// Bytes of a trash stamp (`20260101T120000.000000Z`).
const TRASH_STAMP_LEN: usize = 23;

/// Folder of the trash copies of the file whose key is `PREFIX/<rel>` (`rel` as
/// [`RemotePrefix::rel_key`] makes it: encoded on a pair with encrypted names), or of all
/// trash copies when `rel` is `""`: `PREFIX/.pail/trash/<rel>/`.
pub fn trash_dir(prefix: &RemotePrefix, rel: &str) -> String {
    match rel {
        "" => prefix.reserved_key("trash/"),
        _ => prefix.reserved_key(&format!("trash/{rel}/")),
    }
}

/// Key of the trash copy of the file at `PREFIX/<rel>` (see [`trash_dir`]) replaced at `at`
/// by `device`: `PREFIX/.pail/trash/<rel>/<stamp>-<device>`.
pub fn trash_key(prefix: &RemotePrefix, rel: &str, at: OffsetDateTime, device: &str) -> String {
    let stamp = at
        .to_offset(time::UtcOffset::UTC)
        .format(TRASH_STAMP)
        .unwrap_or_default();
    prefix.reserved_key(&format!("trash/{rel}/{stamp}-{device}"))
}

/// The time (ns since the epoch) of a trash copy's last key segment `<stamp>-<device>`.
fn trash_stamp_ns(name: &str) -> Option<i64> {
    let stamp = name.get(..TRASH_STAMP_LEN)?;
    if name.as_bytes().get(TRASH_STAMP_LEN) != Some(&b'-') {
        return None;
    }
    let t = time::PrimitiveDateTime::parse(stamp, TRASH_STAMP).ok()?;
    i64::try_from(t.assume_utc().unix_timestamp_nanos()).ok()
}

/// The device that made a trash copy, from its key's last segment `<stamp>-<device>` (what
/// [`trash_key`] writes).
pub fn trash_copy_device(name: &str) -> Option<&str> {
    trash_stamp_ns(name)?;
    name.get(TRASH_STAMP_LEN + 1..).filter(|d| !d.is_empty())
}

/// Splits a key under `PREFIX/.pail/trash/` into the file's path and the copy's time (ns).
/// The device name may itself contain `/`, so the stamp is searched from the path's end.
pub fn parse_trash_key(prefix: &RemotePrefix, key: &str) -> Option<(RelPath, i64)> {
    let rest = key.strip_prefix(&trash_dir(prefix, ""))?;
    let mut at = rest.len();
    while let Some(i) = rest[..at].rfind('/') {
        if let Some(ns) = trash_stamp_ns(&rest[i + 1..]) {
            return prefix.path_of_rel(&rest[..i]).ok().map(|p| (p, ns));
        }
        at = i;
    }
    None
}

/// A device name as it appears inside keys (journal entries, probe objects): ASCII letters,
/// digits, `_` and `.` kept, anything else `_` (`-` too: it separates the parts of a journal
/// entry's name), at most 64 bytes.
pub fn device_tag(device: &str) -> String {
    device
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '.') {
                c
            } else {
                '_'
            }
        })
        .take(64)
        .collect()
}

/// Whether `name` can name a device: not blank, no `/` (it ends up in conflict-copy names
/// and trash keys) and no control characters.
pub fn valid_device_name(name: &str) -> bool {
    !name.trim().is_empty() && !name.contains('/') && !name.chars().any(char::is_control)
}

/// A device name made from a host name: printable ASCII without `/`; `"device"` when
/// nothing is left.
pub fn device_from_host(host: &str) -> String {
    let clean: String = host
        .chars()
        .filter(|c| c.is_ascii_graphic() && *c != '/')
        .collect();
    if clean.is_empty() {
        "device".into()
    } else {
        clean
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn temp_names_round_trip_and_nothing_else_matches() {
        let n = temp_name("notes.txt", 0xdead_beef);
        assert_eq!(n, ".notes.txt.pail-tmp-00000000deadbeef");
        assert!(is_temp_name(&n));
        for user in [
            "notes.pail-tmp-",
            ".notes.pail-tmp-1234",
            "x.pail-tmp-00000000deadbeef",
            ".x.pail-tmp-00000000DEADBEEF",
            ".x.pail-tmp-00000000deadbeef.txt",
            "my .pail-tmp- notes",
        ] {
            assert!(!is_temp_name(user), "{user}");
        }
        let long = "é".repeat(127);
        let t = temp_name(&long, 1);
        assert!(t.len() <= 255 && is_temp_name(&t));
        assert_eq!(temp_owner(&n), Some(TempOwner::Sync));
        let o = outside_temp_name("notes.txt", u64::MAX);
        assert_eq!(o, ".notes.txt.pail-tmp-xfffffffffffffff");
        assert_eq!(temp_owner(&o), Some(TempOwner::Outside));
        assert_eq!(temp_owner(".n.pail-tmp-x00000000000000g"), None);
        assert_eq!(temp_owner(".n.pail-tmp-y000000000000000"), None);
    }

    #[test]
    fn trash_keys_parse_back() {
        let p = RemotePrefix::new("dev").unwrap();
        let at = time::macros::datetime!(2026-01-02 03:04:05.123456 UTC);
        let k = trash_key(&p, "a b/c.txt", at, "my/laptop");
        assert_eq!(
            k,
            "dev/.pail/trash/a b/c.txt/20260102T030405.123456Z-my/laptop"
        );
        let (path, ns) = parse_trash_key(&p, &k).unwrap();
        assert_eq!(path.as_str(), "a b/c.txt");
        assert_eq!(ns as i128, at.unix_timestamp_nanos());
        assert!(parse_trash_key(&p, &p.reserved_key("trash/a/garbage")).is_none());
        let plain = trash_key(&p, "a b/c.txt", at, "laptop");
        let name = plain.rsplit('/').next().unwrap();
        assert_eq!(trash_copy_device(name), Some("laptop"));
        assert_eq!(trash_copy_device("garbage-laptop"), None);
        assert_eq!(trash_copy_device("20260101T120000.000000Z-"), None);
        assert!(parse_trash_key(&p, "dev/a/b").is_none());
    }

    #[test]
    fn the_encryption_marker_is_reserved() {
        let p = RemotePrefix::new("dev").unwrap();
        let k = encryption_marker_key(&p);
        assert_eq!(k, "dev/.pail/encryption.toml");
        assert_eq!(p.path_for(&k).unwrap(), None);
    }

    #[test]
    fn device_names() {
        assert_eq!(device_tag("Mac-Book/Pro\u{1b}"), "Mac_Book_Pro_");
        assert_eq!(device_tag(&"x".repeat(100)).len(), 64);
        assert_eq!(device_from_host("my host/\n"), "myhost");
        assert_eq!(device_from_host(""), "device");
        assert!(valid_device_name("laptop 2"));
        for bad in ["", "  ", "a/b", "a\u{7}"] {
            assert!(!valid_device_name(bad), "{bad:?}");
        }
    }
}
