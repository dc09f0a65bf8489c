//! Names of conflict copies (tenet 4): `<stem> (conflict from <device> <YYYY-MM-DD HHMMSS>)<.ext>`
//! in the same directory as the original. Pure: the device name and the time are passed in.

use time::OffsetDateTime;

use crate::names::{MAX_COMPONENT_BYTES, RelPath};

/// Longest device name kept in a conflict name, in bytes (a hostname is at most 253).
const MAX_DEVICE_BYTES: usize = 64;

/// The conflict-copy name for `path`, made on `device` at `at` (shown in `at`'s own offset;
/// pass UTC or local time as the UI prefers).
///
/// The extension is what follows the *last* dot of the file name (`a.tar.gz` -> `a.tar` +
/// `.gz`); a leading dot does not start one (`.bashrc` has none), nor does a trailing dot.
/// `/`, `\` and control characters in `device` become `_`. A name that would exceed 255 bytes
/// loses the end of its stem (on a char boundary); an extension too long to keep becomes part
/// of the stem.
pub fn conflict_name(path: &RelPath, device: &str, at: OffsetDateTime) -> RelPath {
    build(path, device, at, None, MAX_COMPONENT_BYTES)
}

/// Like [`conflict_name`], but when `exists` says the name is taken (by a file on either side,
/// the caller decides), appends ` 2`, ` 3`, ... before the extension until it is not.
/// `exists` must eventually answer `false` (it is asked about ever new names).
pub fn conflict_name_taken(
    path: &RelPath,
    device: &str,
    at: OffsetDateTime,
    mut exists: impl FnMut(&RelPath) -> bool,
) -> RelPath {
    let first = build(path, device, at, None, MAX_COMPONENT_BYTES);
    if !exists(&first) {
        return first;
    }
    (2u64..)
        .map(|n| build(path, device, at, Some(n), MAX_COMPONENT_BYTES))
        .find(|candidate| !exists(candidate))
        .expect("some counter is free")
}

/// Like [`conflict_name_taken`], giving up (`None`) after [`MAX_CONFLICT_COUNTER`] taken names
/// rather than trusting `exists` to ever say no. Names are cut to `max_segment` bytes (the
/// pair's limit: [`crate::RemotePrefix::max_segment`]).
pub fn conflict_name_unique(
    path: &RelPath,
    device: &str,
    at: OffsetDateTime,
    max_segment: usize,
    mut exists: impl FnMut(&RelPath) -> bool,
) -> Option<RelPath> {
    conflict_names(path, device, at, max_segment).find(|candidate| !exists(candidate))
}

/// The names [`conflict_name_unique`] tries, in order: the plain one, then ` 2`, ` 3`, ... up
/// to [`MAX_CONFLICT_COUNTER`] (for callers whose "is it taken?" is a request to the bucket).
pub fn conflict_names(
    path: &RelPath,
    device: &str,
    at: OffsetDateTime,
    max_segment: usize,
) -> impl Iterator<Item = RelPath> {
    std::iter::once(None)
        .chain((2..=MAX_CONFLICT_COUNTER).map(Some))
        .map(move |n| build(path, device, at, n, max_segment))
}

/// The highest counter [`conflict_name_unique`] tries.
pub const MAX_CONFLICT_COUNTER: u64 = 10_000;

fn build(
    path: &RelPath,
    device: &str,
    at: OffsetDateTime,
    counter: Option<u64>,
    max_segment: usize,
) -> RelPath {
    let max_segment = max_segment.min(MAX_COMPONENT_BYTES);
    let mut tag = format!(
        " (conflict from {} {})",
        sanitize_device(device),
        timestamp(at)
    );
    if let Some(n) = counter {
        tag.push_str(&format!(" {n}"));
    }
    let name = path.file_name();
    let (mut stem, mut ext) = split_ext(name);
    // Keep at least one byte of stem; otherwise the extension is sacrificed to the stem.
    if tag.len() + ext.len() >= max_segment {
        (stem, ext) = (name, "");
    }
    let stem = truncate(
        stem,
        max_segment.saturating_sub(tag.len() + ext.len()).max(1),
    );
    let file = format!("{stem}{tag}{ext}");
    path.with_file_name(&file)
        .expect("a conflict name of a valid path is a valid path")
}

/// `("a.tar", ".gz")` for `a.tar.gz`; `(".bashrc", "")`; `("x.", "")` for `x.`.
fn split_ext(name: &str) -> (&str, &str) {
    match name.rfind('.') {
        Some(i) if i > 0 && i + 1 < name.len() => name.split_at(i),
        _ => (name, ""),
    }
}

fn truncate(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

fn sanitize_device(device: &str) -> String {
    let clean: String = device
        .trim()
        .chars()
        .map(|c| {
            if c == '/' || c == '\\' || c.is_control() {
                '_'
            } else {
                c
            }
        })
        .collect();
    match truncate(&clean, MAX_DEVICE_BYTES) {
        "" => "unknown device".to_owned(),
        s => s.to_owned(),
    }
}

fn timestamp(at: OffsetDateTime) -> String {
    format!(
        "{:04}-{:02}-{:02} {:02}{:02}{:02}",
        at.year(),
        u8::from(at.month()),
        at.day(),
        at.hour(),
        at.minute(),
        at.second()
    )
}

#[cfg(test)]
mod tests {
    use rstest::rstest;
    use time::macros::datetime;

    use super::*;

    const AT: OffsetDateTime = datetime!(2026-03-09 07:05:02 UTC);

    fn name(path: &str, device: &str) -> String {
        conflict_name(&RelPath::new(path).unwrap(), device, AT)
            .as_str()
            .to_owned()
    }

    #[rstest]
    #[case::ext("notes.txt", "notes (conflict from laptop 2026-03-09 070502).txt")]
    #[case::no_ext("Makefile", "Makefile (conflict from laptop 2026-03-09 070502)")]
    #[case::dotfile(".bashrc", ".bashrc (conflict from laptop 2026-03-09 070502)")]
    #[case::dotfile_with_ext(
        ".config.toml",
        ".config (conflict from laptop 2026-03-09 070502).toml"
    )]
    #[case::multi_dot(
        "backup.tar.gz",
        "backup.tar (conflict from laptop 2026-03-09 070502).gz"
    )]
    #[case::trailing_dot("odd.", "odd. (conflict from laptop 2026-03-09 070502)")]
    #[case::same_directory("a/b c/ü.md", "a/b c/ü (conflict from laptop 2026-03-09 070502).md")]
    #[case::dotted_directory("v1.2/readme", "v1.2/readme (conflict from laptop 2026-03-09 070502)")]
    #[case::unicode(
        "日本語のファイル.docx",
        "日本語のファイル (conflict from laptop 2026-03-09 070502).docx"
    )]
    fn names(#[case] path: &str, #[case] want: &str) {
        assert_eq!(name(path, "laptop"), want);
    }

    #[rstest]
    #[case::slash("my/host", "my_host")]
    #[case::backslash("DOM\\pc", "DOM_pc")]
    #[case::control("a\nb\tc\u{7f}", "a_b_c_")]
    #[case::blank("  ", "unknown device")]
    #[case::unicode("Zoë’s Mac", "Zoë’s Mac")]
    fn devices_are_sanitised(#[case] device: &str, #[case] shown: &str) {
        assert_eq!(
            name("f", device),
            format!("f (conflict from {shown} 2026-03-09 070502)")
        );
    }

    #[test]
    fn long_names_are_shortened_on_a_char_boundary() {
        for unit in ["x", "é", "日", "🦀"] {
            for len in [200, 240, 255] {
                let stem: String = unit.repeat(len).chars().take(len / unit.len()).collect();
                let path = format!("dir/{stem}.txt");
                let Ok(path) = RelPath::new(&path) else {
                    continue;
                };
                let out = conflict_name(&path, "laptop", AT);
                let file = out.file_name();
                assert!(file.len() <= MAX_COMPONENT_BYTES, "{} bytes", file.len());
                assert!(
                    file.ends_with(" (conflict from laptop 2026-03-09 070502).txt"),
                    "{file}"
                );
                assert!(file.starts_with(unit));
                assert_eq!(out.parent(), Some("dir"));
            }
        }
        // An extension too long to keep with the tag is folded into the (shortened) stem.
        let ext = "e".repeat(240);
        let out = conflict_name(&RelPath::new(&format!("a.{ext}")).unwrap(), "laptop", AT);
        assert!(out.as_str().len() <= MAX_COMPONENT_BYTES);
        assert!(out.as_str().starts_with("a.eee"));
        assert!(
            out.as_str()
                .ends_with(" (conflict from laptop 2026-03-09 070502)")
        );
        // A device name cannot crowd out the name.
        let out = conflict_name(&RelPath::new("f.txt").unwrap(), &"d".repeat(300), AT);
        assert!(out.as_str().starts_with("f (conflict from ddd"));
        assert!(out.as_str().len() < 120);
    }

    #[test]
    fn taken_names_get_a_counter_before_the_extension() {
        let path = RelPath::new("docs/plan.v2.odt").unwrap();
        let taken = [
            "docs/plan.v2 (conflict from pc 2026-03-09 070502).odt",
            "docs/plan.v2 (conflict from pc 2026-03-09 070502) 2.odt",
        ];
        let out = conflict_name_taken(&path, "pc", AT, |p| taken.contains(&p.as_str()));
        assert_eq!(
            out.as_str(),
            "docs/plan.v2 (conflict from pc 2026-03-09 070502) 3.odt"
        );
        let out = conflict_name_taken(&path, "pc", AT, |_| false);
        assert_eq!(out.as_str(), taken[0]);
        // The counter respects the length limit too.
        let long = RelPath::new(&"n".repeat(255)).unwrap();
        let out = conflict_name_taken(&long, "pc", AT, |p| !p.as_str().ends_with(" 12"));
        assert_eq!(out.as_str().len(), MAX_COMPONENT_BYTES);
        assert!(
            out.as_str()
                .ends_with(" (conflict from pc 2026-03-09 070502) 12")
        );
    }

    #[test]
    fn unique_names_give_up_instead_of_looping() {
        let path = RelPath::new("a.txt").unwrap();
        assert_eq!(
            conflict_name_unique(&path, "pc", AT, MAX_COMPONENT_BYTES, |_| true),
            None
        );
        let got = conflict_name_unique(&path, "pc", AT, MAX_COMPONENT_BYTES, |p| {
            !p.as_str().contains(") 4.")
        });
        assert_eq!(
            got.unwrap().as_str(),
            "a (conflict from pc 2026-03-09 070502) 4.txt"
        );
        let got = conflict_name_unique(&path, "pc", AT, MAX_COMPONENT_BYTES, |_| false);
        assert_eq!(got, Some(conflict_name(&path, "pc", AT)));
    }

    #[test]
    fn the_time_is_shown_in_its_own_offset() {
        let at = datetime!(2026-12-31 23:59:59 -05:00);
        assert_eq!(name_at("f", at), "f (conflict from h 2026-12-31 235959)");
    }

    fn name_at(path: &str, at: OffsetDateTime) -> String {
        conflict_name(&RelPath::new(path).unwrap(), "h", at)
            .as_str()
            .to_owned()
    }

    #[test]
    fn names_are_cut_to_the_pairs_limit() {
        // A pair with encrypted names stores segments of at most 175 bytes: a conflict copy
        // of a long name is cut to that, keeping its tag and extension.
        let long = RelPath::new(&format!("dir/{}.txt", "n".repeat(170))).unwrap();
        let got = conflict_name_unique(&long, "pc", AT, 175, |_| false).unwrap();
        let file = got.file_name();
        assert_eq!(file.len(), 175, "{file}");
        assert!(
            file.ends_with(".txt") && file.contains(" (conflict from pc "),
            "{file}"
        );
        assert_eq!(got.parent(), Some("dir"));
        for copy in conflict_names(&long, "pc", AT, 175).take(12) {
            assert!(copy.file_name().len() <= 175, "{copy}");
        }
        // The usual limit otherwise.
        let plain = conflict_name_unique(&long, "pc", AT, MAX_COMPONENT_BYTES, |_| false).unwrap();
        assert!(plain.file_name().len() > 175);
    }
}
