//! The activity log: what pail did to which file, when (`pail log`). Bounded: the newest
//! [`MAX_ACTIVITY`] entries are kept.

use rusqlite::params;
use time::OffsetDateTime;

use super::{Index, Result, u64_from_sql, u64_to_sql};

/// Entries kept in the activity log.
pub const MAX_ACTIVITY: u64 = 10_000;

/// One thing pail did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Activity {
    /// When it was done.
    pub at: OffsetDateTime,
    /// What: `upload`, `copy`, `download`, `delete local`, `delete remote`, `conflict`,
    /// `restore`, `undelete`, `safety stop`.
    pub kind: String,
    /// The file (or folder) concerned; empty for a whole-pair event.
    pub path: String,
    /// Bytes of the file, where it applies.
    pub size: Option<u64>,
    /// The device whose change it was, where known.
    pub device: Option<String>,
    /// More words (a safety stop's reason, a conflict copy's name).
    pub detail: Option<String>,
}

impl Index {
    /// Appends entries in one transaction and drops the oldest beyond [`MAX_ACTIVITY`].
    pub fn add_activity(&self, entries: &[Activity]) -> Result<()> {
        if entries.is_empty() {
            return Ok(());
        }
        self.transaction(|ix| {
            let mut st = ix.conn.prepare_cached(
                "INSERT INTO activity(at_ns, kind, path, size, device, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for e in entries {
                st.execute(params![
                    to_ns(e.at),
                    e.kind,
                    e.path,
                    e.size.map(u64_to_sql),
                    e.device,
                    e.detail
                ])?;
            }
            ix.conn.execute(
                "DELETE FROM activity WHERE id <= (SELECT MAX(id) FROM activity) - ?1",
                [MAX_ACTIVITY],
            )?;
            Ok(())
        })
    }

    /// Entries since `since` (all kept ones for `None`), oldest first, at most the newest
    /// `limit`.
    pub fn recent_activity(
        &self,
        since: Option<OffsetDateTime>,
        limit: u64,
    ) -> Result<Vec<Activity>> {
        let since = since.map_or(i64::MIN, to_ns);
        let mut st = self.conn.prepare_cached(
            "SELECT at_ns, kind, path, size, device, detail FROM
               (SELECT id, at_ns, kind, path, size, device, detail FROM activity
                WHERE at_ns >= ?1 ORDER BY id DESC LIMIT ?2)
             ORDER BY id",
        )?;
        let mut rows = st.query(params![since, u64_to_sql(limit)])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let at: i64 = r.get(0)?;
            let size: Option<i64> = r.get(3)?;
            out.push(Activity {
                at: OffsetDateTime::from_unix_timestamp_nanos(i128::from(at))
                    .unwrap_or(OffsetDateTime::UNIX_EPOCH),
                kind: r.get(1)?,
                path: r.get(2)?,
                size: size.map(u64_from_sql),
                device: r.get(4)?,
                detail: r.get(5)?,
            });
        }
        Ok(out)
    }
}

fn to_ns(t: OffsetDateTime) -> i64 {
    i64::try_from(t.unix_timestamp_nanos()).unwrap_or(i64::MAX)
}
