//! Which paths pail leaves alone: built-in defaults plus `.pailignore` files (gitignore syntax)
//! at the root and in subdirectories, each relative to its own directory as in git.
//!
//! The same rules apply to local entries and to remote keys: a key is ignored when it or any of
//! its parent directories is (if `build/` is ignored, so is `build/x.o`).

use std::collections::HashMap;
use std::io::Read;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use ignore::Match;
use ignore::gitignore::{Gitignore, GitignoreBuilder};
use pail_core::RelPath;

use crate::error::IndexError;

/// Name of the per-directory ignore file.
pub const IGNORE_FILE: &str = ".pailignore";

/// pail's own temporary files: never synced, whatever the user's rules say (a `!` rule must
/// not make pail upload its half-written downloads).
const HARD_PATTERNS: &[&str] = &["*.pail-tmp*"];

/// OS and editor litter. A `.pailignore` can re-include any of these with `!pattern`.
const DEFAULT_PATTERNS: &[&str] = &[
    // macOS
    ".DS_Store",
    "._*",
    ".Spotlight-V100",
    ".Trashes",
    ".fseventsd",
    ".TemporaryItems",
    // Windows
    "Thumbs.db",
    "ehthumbs.db",
    "desktop.ini",
    "$RECYCLE.BIN/",
    // Linux desktops
    ".Trash-*",
    ".goutputstream-*",
    ".nfs*",
    // editors and office suites: swap, backup and lock files
    "*.swp",
    "*.swx",
    "*.swo",
    "*~",
    ".#*",
    "~$*",
    ".~lock.*#",
];

/// The ignore rules of one sync folder.
#[derive(Clone, Debug)]
pub struct IgnoreRules {
    hard: Gitignore,
    defaults: Gitignore,
    /// `.pailignore` matchers by the folder-relative directory holding them ("" = root).
    files: HashMap<String, Gitignore>,
    /// Lines and files that could not be used as written.
    warnings: Vec<IgnoreWarning>,
}

/// A `.pailignore` is read up to this size. Ignore files are a few lines; a bigger one is a
/// mistake or an attack, and must not cost memory or a pattern compile of unbounded size.
/// Past it the complete lines before the cut are used (dropping the whole file would sync
/// everything its first rules keep out), with a warning.
pub const MAX_IGNORE_FILE_BYTES: u64 = 1024 * 1024;

/// A problem with a `.pailignore`: where, and what pail did about it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IgnoreWarning {
    /// The file, relative to the folder (`.pailignore`, `sub/.pailignore`).
    pub file: String,
    /// The 1-based line, when the problem is one line.
    pub line: Option<usize>,
    /// What is wrong and what pail does instead, printable (control characters escaped).
    pub message: String,
}

impl IgnoreWarning {
    /// The warning without the file name (`line 2: ...`), as status lists it beside the file.
    pub fn reason(&self) -> String {
        match self.line {
            Some(n) => format!("line {n}: {}", self.message),
            None => self.message.clone(),
        }
    }
}

impl std::fmt::Display for IgnoreWarning {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.line {
            Some(n) => write!(f, "{} line {n}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Builds the matcher of one ignore file from its (at most `MAX + 1`) bytes, skipping what
/// cannot be used. `shown` names the file in warnings.
fn parse_ignore_file(shown: &str, file: &Path, bytes: &[u8]) -> (Gitignore, Vec<IgnoreWarning>) {
    let mut warnings = Vec::new();
    let warn = |line, message: String| IgnoreWarning {
        file: shown.to_owned(),
        line,
        message,
    };
    let mut text = bytes;
    if text.len() as u64 > MAX_IGNORE_FILE_BYTES {
        // Keep whole lines only: half a pattern could match what the full one does not.
        let cut = &text[..MAX_IGNORE_FILE_BYTES as usize];
        text = &cut[..cut.iter().rposition(|&b| b == b'\n').map_or(0, |i| i + 1)];
        warnings.push(warn(
            None,
            format!(
                "larger than {} KiB: only its first {} lines are used",
                MAX_IGNORE_FILE_BYTES / 1024,
                text.iter().filter(|&&b| b == b'\n').count()
            ),
        ));
    }
    let text = text.strip_prefix(b"\xef\xbb\xbf").unwrap_or(text);
    let mut b = GitignoreBuilder::new(".");
    for (i, raw) in text.split(|&b| b == b'\n').enumerate() {
        let raw = raw.strip_suffix(b"\r").unwrap_or(raw);
        let Ok(line) = std::str::from_utf8(raw) else {
            warnings.push(warn(
                Some(i + 1),
                format!(
                    "`{}` is not UTF-8; the line is ignored",
                    pail_core::printable_bytes(raw)
                ),
            ));
            continue;
        };
        if let Err(e) = b.add_line(Some(file.to_owned()), line) {
            let why = match e {
                ignore::Error::Glob { err, .. } => err,
                other => other.to_string(),
            };
            warnings.push(warn(
                Some(i + 1),
                format!(
                    "`{}` is not a valid pattern ({}); the line is ignored",
                    pail_core::printable(line.trim()),
                    pail_core::printable(&why)
                ),
            ));
        }
    }
    let gi = b.build().unwrap_or_else(|e| {
        // Every line compiled alone; together they can still exceed the matcher's size limit.
        warnings.push(warn(
            None,
            format!(
                "its patterns cannot be used together ({}); the whole file is ignored",
                pail_core::printable(&e.to_string())
            ),
        ));
        Gitignore::empty()
    });
    (gi, warnings)
}

impl IgnoreRules {
    /// The built-in rules only.
    pub fn defaults() -> IgnoreRules {
        IgnoreRules {
            hard: builtin(HARD_PATTERNS, false),
            // Windows and macOS names come in any case.
            defaults: builtin(DEFAULT_PATTERNS, true),
            files: HashMap::new(),
            warnings: Vec::new(),
        }
    }

    /// Built-in rules plus every `.pailignore` under `root`. Directories that are ignored,
    /// symlinked, on another filesystem or unsyncable by name are not searched, matching what
    /// the scan visits. A pattern that does not parse is skipped (see [`IgnoreRules::warnings`]).
    pub fn load(root: &Path) -> Result<IgnoreRules, IndexError> {
        let io_err = |path: &Path, source| IndexError::Io {
            path: path.to_owned(),
            source,
        };
        let mut rules = IgnoreRules::defaults();
        let root_dev = std::fs::metadata(root).map_err(|e| io_err(root, e))?.dev();
        // Depth-first; a directory's own file is read before its children are tested, so
        // its rules can prune them.
        let mut stack = vec![(String::new(), root.to_path_buf())];
        while let Some((rel, dir)) = stack.pop() {
            let file = dir.join(IGNORE_FILE);
            if std::fs::symlink_metadata(&file).is_ok_and(|m| m.is_file()) {
                rules.add_file(&rel, &file)?;
            }
            let entries = match std::fs::read_dir(&dir) {
                Ok(e) => e,
                Err(e) if rel.is_empty() => return Err(io_err(&dir, e)),
                // The scan reports unreadable directories; they hold no rules we can read.
                Err(_) => continue,
            };
            for entry in entries.flatten() {
                let Ok(ft) = entry.file_type() else { continue };
                if !ft.is_dir() {
                    continue;
                }
                let Some(name) = entry.file_name().to_str().map(str::to_owned) else {
                    continue;
                };
                let child = if rel.is_empty() {
                    name
                } else {
                    format!("{rel}/{name}")
                };
                let Ok(child_rel) = RelPath::new(&child) else {
                    continue;
                };
                if rules.is_ignored(&child_rel, true) {
                    continue;
                }
                if entry.metadata().is_ok_and(|m| m.dev() == root_dev) {
                    stack.push((child, entry.path()));
                }
            }
        }
        Ok(rules)
    }

    /// Adds the ignore file `file`, whose patterns are relative to the folder-relative
    /// directory `dir` ("" for the root). The file may come from another device through the
    /// bucket, so nothing in it stops the pair: a line that is not a valid pattern is skipped,
    /// and only the first [`MAX_IGNORE_FILE_BYTES`] are read; each is kept as a warning.
    pub fn add_file(&mut self, dir: &str, file: &Path) -> Result<(), IndexError> {
        let io_err = |source| IndexError::Io {
            path: file.to_owned(),
            source,
        };
        let mut bytes = Vec::new();
        std::fs::File::open(file)
            .and_then(|f| f.take(MAX_IGNORE_FILE_BYTES + 1).read_to_end(&mut bytes))
            .map_err(io_err)?;
        let shown = if dir.is_empty() {
            IGNORE_FILE.to_owned()
        } else {
            format!("{dir}/{IGNORE_FILE}")
        };
        let (gi, warnings) = parse_ignore_file(&shown, file, &bytes);
        for w in &warnings {
            tracing::warn!(file = %file.display(), "{w}");
        }
        self.warnings.extend(warnings);
        self.files.insert(dir.to_owned(), gi);
        Ok(())
    }

    /// What was wrong with the `.pailignore` files read (lines skipped, files cut), in the
    /// order found.
    pub fn warnings(&self) -> &[IgnoreWarning] {
        &self.warnings
    }

    /// Whether `path` (a directory when `is_dir`) is out of sync: it or one of its parent
    /// directories matches.
    pub fn is_ignored(&self, path: &RelPath, is_dir: bool) -> bool {
        let s = path.as_str();
        // Parents first: like git, nothing under an excluded directory can be re-included.
        s.match_indices('/').any(|(i, _)| self.matches(s, i, true))
            || self.matches(s, s.len(), is_dir)
    }

    /// Whether `path` itself matches, its parents being known not to (a top-down walk that
    /// prunes ignored directories): the per-entry test of the scan.
    pub(crate) fn is_ignored_entry(&self, path: &RelPath, is_dir: bool) -> bool {
        self.matches(path.as_str(), path.as_str().len(), is_dir)
    }

    /// Whether the prefix `full[..end]` itself matches. The deepest `.pailignore` that has a
    /// say wins, then the root's, then the built-in defaults (git's order of precedence).
    fn matches(&self, full: &str, end: usize, is_dir: bool) -> bool {
        let p = &full[..end];
        if self.hard.matched(p, is_dir).is_ignore() {
            return true;
        }
        // Directories holding p, deepest first: "a/b", "a", "".
        let mut dirs: Vec<&str> = p.match_indices('/').map(|(i, _)| &p[..i]).collect();
        dirs.reverse();
        dirs.push("");
        for dir in dirs {
            let Some(gi) = self.files.get(dir) else {
                continue;
            };
            let rel = if dir.is_empty() {
                p
            } else {
                &p[dir.len() + 1..]
            };
            match gi.matched(rel, is_dir) {
                Match::Ignore(_) => return true,
                Match::Whitelist(_) => return false,
                Match::None => {}
            }
        }
        self.defaults.matched(p, is_dir).is_ignore()
    }

    /// The directories that hold a `.pailignore` ("" = root), sorted.
    pub fn ignore_file_dirs(&self) -> Vec<String> {
        let mut v: Vec<String> = self.files.keys().cloned().collect();
        v.sort();
        v
    }
}

fn builtin(patterns: &[&str], case_insensitive: bool) -> Gitignore {
    let mut b = GitignoreBuilder::new(".");
    b.case_insensitive(case_insensitive)
        .expect("case_insensitive never fails");
    for p in patterns {
        b.add_line(None::<PathBuf>, p)
            .expect("built-in ignore patterns are valid");
    }
    b.build().expect("built-in ignore patterns are valid")
}
