//! The change journal: how devices tell each other "I changed the bucket" for the price of
//! one LIST per poll, instead of listing the whole prefix.
//!
//! After a pass that changed the remote, a device writes a tiny object
//! `PREFIX/.pail/journal/<UTC time, ms>-<device>-<nonce>` whose body summarises the pass. Peers list `PREFIX/.pail/journal/` starting after (last seen time − skew margin),
//! skip their own entries and those already seen, and run a pass when anything is new.
//! Writes by other S3 clients leave no journal entry: the periodic full reconcile catches
//! them. Entries older than a day are removed by the device that wrote them.

use std::collections::HashSet;

use bytes::Bytes;
use pail_core::layout::device_tag;
use pail_s3::{Condition, ObjectMeta};
use time::OffsetDateTime;

use crate::ctx::PairCtx;
use crate::error::SyncError;

/// Clocks of two devices may differ by this much: entries are looked for that far back.
const SKEW_MARGIN: time::Duration = time::Duration::minutes(5);
/// Own entries older than this are deleted.
const KEEP: time::Duration = time::Duration::days(1);

fn stamp(t: OffsetDateTime) -> String {
    t.format(&time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:3]Z"
    ))
    .unwrap_or_default()
}

fn journal_prefix(ctx: &PairCtx) -> String {
    pail_core::layout::journal_dir(&ctx.remote.prefix)
}

/// An entry names at most this many paths; a bigger change sends peers to a listing.
pub const MAX_PATHS: usize = 1000;
/// Entry bodies larger than this are not read (the poll lists the prefix instead). pail's own
/// entries stay below it: [`MAX_PATHS`] paths of at most 1,024 bytes each, plus JSON.
pub const MAX_ENTRY_BYTES: u64 = 2 * 1024 * 1024;
/// At most this many entry bodies are read per poll; more new entries than that send the
/// pass to a listing of the prefix, which is cheaper than the GETs and tells everything.
pub const MAX_READS_PER_POLL: usize = 100;
/// At most this many LIST pages (1,000 entries each) per poll; the rest wait for the next
/// polls, and this one lists the prefix.
pub const MAX_PAGES_PER_POLL: u32 = 10;

/// The body of a journal entry (JSON).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Entry {
    /// What wrote it ("sync", "restore"): informational.
    pub what: String,
    /// Folder-relative paths whose object was written or deleted, as in their keys after
    /// `PREFIX/` (so encrypted on a pair with encrypted names). `None`: too many, or not known
    /// (peers then list the prefix).
    #[serde(default)]
    pub paths: Option<Vec<String>>,
}

impl Entry {
    /// An entry naming `paths`, or none if there are more than [`MAX_PATHS`].
    pub fn new(what: &str, paths: Option<Vec<String>>) -> Entry {
        Entry {
            what: what.to_owned(),
            paths: paths.filter(|p| p.len() <= MAX_PATHS),
        }
    }
}

/// Records that this device changed these paths in the bucket.
pub async fn append(ctx: &PairCtx, entry: &Entry) -> Result<(), SyncError> {
    let prefix = &ctx.remote.prefix;
    let mut entry = entry.clone();
    if prefix.names_encoded() {
        // The bucket shows no name in plaintext: the entry names keys, as listings do.
        entry.paths = entry.paths.and_then(|paths| {
            paths
                .iter()
                .map(|p| prefix.rel_key(&pail_core::RelPath::new(p).ok()?).ok())
                .collect()
        });
    }
    append_entry(ctx.remote.store.as_ref(), prefix, &ctx.cfg.device, &entry).await
}

/// Writes one journal entry under `origin`'s name. Daemons skip entries of their own
/// device, so a change that the local daemon must also pick up (a restore made by the CLI
/// while it runs) uses another origin, such as `restore.<device>`.
pub async fn append_entry(
    store: &dyn pail_s3::ObjectStore,
    prefix: &pail_core::RemotePrefix,
    origin: &str,
    summary: &impl serde::Serialize,
) -> Result<(), SyncError> {
    let nonce: u32 = rand::random();
    let key = format!(
        "{}{}-{}-{nonce:08x}",
        pail_core::layout::journal_dir(prefix),
        stamp(OffsetDateTime::now_utc()),
        device_tag(origin)
    );
    let body = Bytes::from(serde_json::to_vec(summary)?);
    let meta = ObjectMeta {
        blake3: None,
        mtime_ns: None,
        device: Some(origin.to_owned()),
        binding: None,
    };
    store.put(&key, body, &meta, Condition::None).await?;
    Ok(())
}

/// What a poll of the journal found.
#[derive(Debug, Default)]
pub struct PollResult {
    /// Entries by other devices not seen before.
    pub new_entries: usize,
    /// LIST and GET requests made.
    pub requests: u32,
    /// The paths the new entries name; `None` when one of them names none (a listing is
    /// needed to learn what changed).
    pub changed: Option<std::collections::BTreeSet<pail_core::RelPath>>,
}

/// Remembers which entries were seen, across polls.
#[derive(Debug, Default)]
pub struct JournalCursor {
    /// Newest entry time seen (as its key stamp), never later than the poll that saw it.
    last: Option<OffsetDateTime>,
    /// Entries within the skew margin of `last`, to skip them on the next poll.
    seen: HashSet<String>,
}

impl JournalCursor {
    /// Starts from now: only entries written from here on (minus the margin) count.
    pub fn starting_now() -> JournalCursor {
        JournalCursor {
            last: Some(OffsetDateTime::now_utc()),
            seen: HashSet::new(),
        }
    }

    /// Lists the journal from the cursor on; one LIST request per 1,000 entries, at most
    /// [`MAX_PAGES_PER_POLL`] of them. Anyone with access to the bucket can write here, so
    /// nothing listed is trusted: bodies are read only up to [`MAX_ENTRY_BYTES`], at most
    /// [`MAX_READS_PER_POLL`] of them, and entry times are taken no later than now.
    pub async fn poll(&mut self, ctx: &PairCtx) -> Result<PollResult, SyncError> {
        let prefix = journal_prefix(ctx);
        let from = self
            .last
            .map(|t| format!("{prefix}{}", stamp(t - SKEW_MARGIN)));
        let own = format!("-{}-", device_tag(&ctx.cfg.device));
        let mut result = PollResult {
            changed: Some(Default::default()),
            ..PollResult::default()
        };
        let mut token = None;
        let mut listed = Vec::new();
        let mut complete = false;
        while result.requests < MAX_PAGES_PER_POLL {
            let page = ctx
                .remote
                .store
                .list_page(&prefix, token.take(), from.clone())
                .await?;
            result.requests += 1;
            listed.extend(
                page.objects
                    .into_iter()
                    .map(|o| (o.key[prefix.len()..].to_owned(), o.size)),
            );
            token = page.next_token;
            if token.is_none() {
                complete = true;
                break;
            }
        }
        if !complete {
            // A flood of entries: the rest come in the next polls; a listing of the prefix
            // tells what changed meanwhile.
            tracing::warn!(
                listed = listed.len(),
                "journal holds more entries than one poll reads: listing the prefix"
            );
            result.changed = None;
        }
        let new_entries = self.take(listed, &own, OffsetDateTime::now_utc());
        result.new_entries = new_entries.len();
        if new_entries.len() > MAX_READS_PER_POLL {
            result.changed = None;
        }
        // What the new entries name: one small GET each, and only when something changed.
        for (name, size) in new_entries {
            let Some(changed) = result.changed.as_mut() else {
                break;
            };
            let named = if size > MAX_ENTRY_BYTES {
                tracing::warn!(entry = %pail_core::printable(&name), size, "journal entry too large to read: listing the prefix");
                None
            } else {
                result.requests += 1;
                read_entry(ctx, &format!("{prefix}{name}")).await
            };
            match named.map(|paths| {
                paths
                    .iter()
                    .map(|p| ctx.remote.prefix.path_of_rel(p))
                    .collect::<Result<Vec<_>, _>>()
            }) {
                Some(Ok(paths)) if changed.len() + paths.len() <= MAX_PATHS * 10 => {
                    changed.extend(paths)
                }
                _ => result.changed = None,
            }
        }
        Ok(result)
    }

    /// Takes one poll's listing (entry names after the journal prefix, with their sizes):
    /// returns the entries of other devices not seen before, and moves the cursor to the
    /// newest entry time, a future-dated entry counting as `now` (else one entry stamped in
    /// the future would send every later poll past the entries written until then).
    fn take(
        &mut self,
        listed: Vec<(String, u64)>,
        own: &str,
        now: OffsetDateTime,
    ) -> Vec<(String, u64)> {
        let mut new_entries = Vec::new();
        let mut newest = self.last;
        for (name, size) in listed {
            if let Some(t) = parse_stamp(&name) {
                newest = newest.max(Some(t.min(now)));
            }
            if !name.contains(own) && self.seen.insert(name.clone()) {
                new_entries.push((name, size));
            }
        }
        self.last = newest;
        // Forget entries that can no longer come back in a poll.
        if let Some(last) = self.last {
            let horizon = last - SKEW_MARGIN - SKEW_MARGIN;
            self.seen
                .retain(|n| parse_stamp(n).is_none_or(|t| t >= horizon));
        }
        new_entries
    }
}

/// The paths an entry names; `None` when it names none, cannot be read or is too large (a
/// listing will tell).
async fn read_entry(ctx: &PairCtx, key: &str) -> Option<Vec<String>> {
    let got = ctx.remote.store.get(key, None, None).await.ok()?;
    let body = got.collect_at_most(MAX_ENTRY_BYTES).await.ok()??;
    serde_json::from_slice::<Entry>(&body).ok()?.paths
}

fn parse_stamp(name: &str) -> Option<OffsetDateTime> {
    let s = name.get(..19)?;
    let fmt = time::macros::format_description!(
        "[year][month][day]T[hour][minute][second].[subsecond digits:3]"
    );
    time::PrimitiveDateTime::parse(s, &fmt)
        .ok()
        .map(|t| t.assume_utc())
}

/// Deletes this device's entries older than a day.
pub async fn prune_own(ctx: &PairCtx) -> Result<u32, SyncError> {
    let prefix = journal_prefix(ctx);
    let own = format!("-{}-", device_tag(&ctx.cfg.device));
    let cutoff = OffsetDateTime::now_utc() - KEEP;
    let mut old = Vec::new();
    pail_s3::list_all(ctx.remote.store.as_ref(), &prefix, |o| {
        let name = &o.key[prefix.len()..];
        if name.contains(&own) && parse_stamp(name).is_some_and(|t| t < cutoff) {
            old.push(o.key.clone());
        }
    })
    .await?;
    for key in &old {
        // Journal entries are pail's own bookkeeping: no trash copy, and on a versioned
        // bucket the delete marker is enough.
        ctx.remote.store.delete(key, None, Condition::None).await?;
    }
    Ok(old.len() as u32)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_name_a_bounded_number_of_paths_and_old_bodies_name_none() {
        let e = Entry::new("sync", Some(vec!["a.txt".into(), "d/b.txt".into()]));
        let json = serde_json::to_vec(&e).unwrap();
        assert_eq!(serde_json::from_slice::<Entry>(&json).unwrap(), e);
        let many: Vec<String> = (0..=MAX_PATHS).map(|i| format!("f{i}")).collect();
        assert_eq!(Entry::new("sync", Some(many)).paths, None);
        // Entries written before paths were recorded hold a bare string.
        assert!(serde_json::from_slice::<Entry>(b"\"sync\"").is_err());
    }

    #[test]
    fn stamps_sort_like_time_and_parse_back() {
        let t = time::macros::datetime!(2026-11-28 23:05:01.123 UTC);
        let s = stamp(t);
        assert_eq!(s, "20261128T230501.123Z");
        assert_eq!(parse_stamp(&format!("{s}-dev-0001")), Some(t));
        assert!(stamp(t) < stamp(t + time::Duration::milliseconds(1)));
        assert_eq!(device_tag("my laptop/2"), "my_laptop_2");
    }

    fn cursor_at(t: OffsetDateTime) -> JournalCursor {
        JournalCursor {
            last: Some(t),
            seen: HashSet::new(),
        }
    }

    fn names(v: &[(String, u64)]) -> Vec<&str> {
        v.iter().map(|(n, _)| n.as_str()).collect()
    }

    #[test]
    fn a_future_dated_entry_counts_as_now_and_later_entries_still_come() {
        let now = time::macros::datetime!(2026-11-30 08:00:00 UTC);
        let mut c = cursor_at(now - time::Duration::minutes(1));
        let future = format!("{}-evil-00000001", stamp(now + time::Duration::days(3650)));
        let first = format!("{}-laptop-00000002", stamp(now));
        let got = c.take(vec![(first.clone(), 10), (future.clone(), 10)], "-me-", now);
        assert_eq!(names(&got), [first.as_str(), future.as_str()]);
        assert_eq!(c.last, Some(now));
        // The next poll lists from (now - margin): an entry written a minute later is new,
        // the future-dated one is not new again.
        let later_t = now + time::Duration::minutes(1);
        let later = format!("{}-laptop-00000003", stamp(later_t));
        let from = stamp(c.last.unwrap() - SKEW_MARGIN);
        assert!(later > from);
        let got = c.take(
            vec![(first, 10), (later.clone(), 10), (future, 10)],
            "-me-",
            later_t,
        );
        assert_eq!(names(&got), [later.as_str()]);
        assert_eq!(c.last, Some(later_t));
    }

    #[test]
    fn own_and_seen_entries_are_not_new_and_odd_names_do_not_move_the_cursor() {
        let now = time::macros::datetime!(2026-11-30 08:00:00 UTC);
        let mut c = cursor_at(now - time::Duration::minutes(1));
        let mine = format!("{}-me-00000001", stamp(now));
        let theirs = format!("{}-laptop-00000002", stamp(now));
        let odd = "zzz-not-a-stamp\u{1b}".to_owned();
        let got = c.take(
            vec![(mine, 1), (theirs.clone(), 1), (odd.clone(), 5_000_000)],
            "-me-",
            now,
        );
        // Sizes travel along: the poll skips bodies over MAX_ENTRY_BYTES.
        assert_eq!(got, [(theirs.clone(), 1), (odd.clone(), 5_000_000)]);
        assert_eq!(c.last, Some(now));
        assert!(
            c.take(vec![(theirs, 1), (odd, 5_000_000)], "-me-", now)
                .is_empty()
        );
    }
}
