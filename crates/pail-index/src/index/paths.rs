//! Per-path tables: `base`, `local_scan`, `remote_scan` and `remote_hash_cache` (their join
//! is in `join.rs`).

use pail_core::{Base, ContentHash, LocalStat, RelPath, RemoteObject, RemoteRef};
use rusqlite::{OptionalExtension, Row, params};

use super::{Index, Result, hash_from_sql, path_from_sql, u64_from_sql, u64_to_sql};

/// One file as the local scan recorded it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LocalScanRow {
    pub path: String,
    pub stat: LocalStat,
    pub hash: ContentHash,
    /// When the stat was known to describe content with this hash (see scan.rs).
    pub checked_ns: i64,
}

/// A listed path whose name a case-insensitive disk confuses with another listed path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CaseTwin {
    /// The name both have on such a disk (`pail_core::collisions::case_key`).
    pub key: String,
    pub path: RelPath,
    /// The local scan has a file of exactly this name.
    pub local: bool,
    /// It was synced under exactly this name.
    pub base: bool,
}

/// A stat + hash pair remembered from an earlier pass, with the time it was verified.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Remembered {
    pub stat: LocalStat,
    pub hash: ContentHash,
    pub checked_ns: Option<i64>,
}

const BASE_COLS: &str =
    "hash, l_size, l_mtime_ns, l_ctime_ns, l_inode, r_etag, r_version_id, r_size";

/// Reads the 8 [`BASE_COLS`] starting at column `i`; `None` when the base is absent (LEFT JOIN).
pub(super) fn base_at(what: &str, r: &Row<'_>, i: usize) -> Result<Option<Base>> {
    let Some(hash) = r.get::<_, Option<Vec<u8>>>(i)? else {
        return Ok(None);
    };
    Ok(Some(Base {
        hash: hash_from_sql(what, hash)?,
        local: LocalStat {
            size: r.get(i + 1)?,
            mtime_ns: r.get(i + 2)?,
            ctime_ns: r.get(i + 3)?,
            inode: u64_from_sql(r.get(i + 4)?),
        },
        remote: RemoteRef {
            etag: r.get(i + 5)?,
            version_id: r.get(i + 6)?,
            size: r.get(i + 7)?,
        },
    }))
}

pub(super) fn opt_hash(what: &str, blob: Option<Vec<u8>>) -> Result<Option<ContentHash>> {
    blob.map(|b| hash_from_sql(what, b)).transpose()
}

impl Index {
    // ==== base ====

    pub fn get_base(&self, path: &RelPath) -> Result<Option<Base>> {
        let sql = format!("SELECT {BASE_COLS} FROM base WHERE path = ?1");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query([path.as_str()])?;
        match rows.next()? {
            Some(r) => base_at(path.as_str(), r, 0),
            None => Ok(None),
        }
    }

    /// Records `base` as synced. The local stat counts as not yet verified against the hash
    /// (the next scan re-reads the file once if its timestamps are recent), unless the
    /// previous base had the same stat and hash, whose verification carries over.
    pub fn set_base(&self, path: &RelPath, base: &Base) -> Result<()> {
        self.write_base(path, base, None)
    }

    /// [`Index::set_base`] for many paths in one transaction: one commit, where one per file
    /// was a tenth of the client's CPU on an initial upload of small files (issue 14).
    pub fn set_bases<'a>(
        &self,
        bases: impl IntoIterator<Item = (&'a RelPath, &'a Base)>,
    ) -> Result<()> {
        self.transaction(|ix| {
            for (path, base) in bases {
                ix.write_base_now(path, base, None)?;
            }
            Ok(())
        })
    }

    /// As [`Index::set_base`], for a caller that knows the local file had `base.local` and
    /// content `base.hash` at `checked_ns` (wall clock, ns; take it *before* reading or writing
    /// the file, e.g. the time of the pre-upload stat, or just after the download's rename).
    pub fn set_base_checked(&self, path: &RelPath, base: &Base, checked_ns: i64) -> Result<()> {
        self.write_base(path, base, Some(checked_ns))
    }

    /// Notes that `hash` is about to be written to `path`'s object (before the PUT or copy):
    /// if the write lands but the process dies before it is recorded, the next pass knows
    /// the object as this device's own write, not another writer's (issue 16). Cleared when
    /// the path's base is recorded.
    pub fn note_pending_upload(&self, path: &RelPath, hash: &ContentHash) -> Result<()> {
        self.conn
            .prepare_cached("INSERT OR REPLACE INTO pending_uploads(path, hash) VALUES (?1, ?2)")?
            .execute(params![path.as_str(), &hash.0[..]])?;
        Ok(())
    }

    /// [`Index::note_pending_upload`] for many writes in one transaction (a pass's uploads,
    /// noted before the first starts): one commit instead of one per file. A note whose
    /// write never happens is harmless: it is only ever matched against identical content.
    pub fn note_pending_uploads<'a>(
        &self,
        writes: impl IntoIterator<Item = (&'a RelPath, &'a ContentHash)>,
    ) -> Result<()> {
        self.transaction(|ix| {
            for (path, hash) in writes {
                ix.note_pending_upload(path, hash)?;
            }
            Ok(())
        })
    }

    /// Whether a write of `path` noted by [`Index::note_pending_upload`] is not yet recorded
    /// (in flight, or its record lost).
    pub fn has_pending_upload(&self, path: &RelPath) -> Result<bool> {
        Ok(self
            .conn
            .prepare_cached("SELECT 1 FROM pending_uploads WHERE path = ?1")?
            .exists([path.as_str()])?)
    }

    /// Takes the listed objects that hold exactly what an unrecorded upload of this device
    /// sent as the base of their path (call after the remote hashes are known, before the
    /// join): the upload happened, only its record was lost. A local file edited since is
    /// then an edit of that content, uploaded over it, instead of a conflict of the device
    /// with itself. Adopting identical content loses nothing whoever wrote it. The local
    /// side of a new base is left unknown (zeros), so the file is compared by hash.
    /// Returns how many were adopted.
    pub fn adopt_own_uploads(&self) -> Result<u64> {
        self.transaction(|ix| {
            let adopted = ix.conn.execute(
                "INSERT INTO base(path, hash, l_size, l_mtime_ns, l_ctime_ns, l_inode,
                                  l_checked_ns, r_etag, r_version_id, r_size)
                 SELECT p.path, p.hash, 0, 0, 0, 0, NULL, r.etag, r.version_id, r.size
                 FROM pending_uploads p JOIN remote_scan r ON r.path = p.path
                 WHERE COALESCE(r.hash, (SELECT c.hash FROM remote_hash_cache c
                                         WHERE c.key = r.path AND c.etag = r.etag)) = p.hash
                 ON CONFLICT(path) DO UPDATE SET
                   hash = excluded.hash, l_checked_ns = NULL, r_etag = excluded.r_etag,
                   r_version_id = excluded.r_version_id, r_size = excluded.r_size
                 WHERE base.hash <> excluded.hash OR base.r_etag <> excluded.r_etag",
                [],
            )?;
            ix.conn.execute(
                "DELETE FROM pending_uploads WHERE path IN
                   (SELECT p.path FROM pending_uploads p JOIN remote_scan r ON r.path = p.path
                    WHERE COALESCE(r.hash, (SELECT c.hash FROM remote_hash_cache c
                                            WHERE c.key = r.path AND c.etag = r.etag)) = p.hash)",
                [],
            )?;
            Ok(adopted as u64)
        })
    }

    fn write_base(&self, path: &RelPath, b: &Base, checked: Option<i64>) -> Result<()> {
        // One transaction for the base and its pending note: one commit per file recorded.
        self.transaction(|ix| ix.write_base_now(path, b, checked))
    }

    fn write_base_now(&self, path: &RelPath, b: &Base, checked: Option<i64>) -> Result<()> {
        let mut st = self.conn.prepare_cached(
            "INSERT INTO base(path, hash, l_size, l_mtime_ns, l_ctime_ns, l_inode, l_checked_ns,
                              r_etag, r_version_id, r_size)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)
             ON CONFLICT(path) DO UPDATE SET
               l_checked_ns = CASE
                 WHEN excluded.l_checked_ns IS NOT NULL THEN excluded.l_checked_ns
                 WHEN hash = excluded.hash AND l_size = excluded.l_size
                      AND l_mtime_ns = excluded.l_mtime_ns AND l_ctime_ns = excluded.l_ctime_ns
                      AND l_inode = excluded.l_inode THEN l_checked_ns
                 ELSE NULL END,
               hash = excluded.hash, l_size = excluded.l_size, l_mtime_ns = excluded.l_mtime_ns,
               l_ctime_ns = excluded.l_ctime_ns, l_inode = excluded.l_inode,
               r_etag = excluded.r_etag, r_version_id = excluded.r_version_id,
               r_size = excluded.r_size",
        )?;
        st.execute(params![
            path.as_str(),
            &b.hash.0[..],
            b.local.size,
            b.local.mtime_ns,
            b.local.ctime_ns,
            u64_to_sql(b.local.inode),
            checked,
            b.remote.etag,
            b.remote.version_id,
            b.remote.size,
        ])?;
        // The write this base records is no longer pending.
        self.conn
            .prepare_cached("DELETE FROM pending_uploads WHERE path = ?1")?
            .execute([path.as_str()])?;
        Ok(())
    }

    pub fn remove_base(&self, path: &RelPath) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM base WHERE path = ?1")?
            .execute([path.as_str()])?;
        Ok(())
    }

    /// Number of synced paths (the denominator of the mass-delete share).
    pub fn base_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM base", [], |r| r.get(0))?)
    }

    /// Every `step`-th synced path in path order (the `step`-th, the `2 step`-th, ...), at
    /// most `limit` of them: in one pass over the table.
    pub fn base_paths_every(&self, step: u64, limit: u64) -> Result<Vec<RelPath>> {
        let mut st = self.conn.prepare_cached(
            "SELECT path FROM (SELECT path, ROW_NUMBER() OVER (ORDER BY path) AS n FROM base)
             WHERE n % ?1 = 0 ORDER BY n LIMIT ?2",
        )?;
        let rows = st.query_map(
            [
                i64::try_from(step.max(1)).unwrap_or(i64::MAX),
                i64::try_from(limit).unwrap_or(i64::MAX),
            ],
            |r| r.get::<_, String>(0),
        )?;
        let mut out = Vec::new();
        for path in rows {
            out.push(path_from_sql(path?)?);
        }
        Ok(out)
    }

    /// Whether any path is synced: without one there is nothing to find by hash.
    pub fn has_bases(&self) -> Result<bool> {
        Ok(self
            .conn
            .query_row("SELECT EXISTS (SELECT 1 FROM base)", [], |r| r.get(0))?)
    }

    /// Whether the index remembers neither a scanned nor a synced file (a first scan): its
    /// lookups per file would all come back empty.
    pub(crate) fn remembers_no_file(&self) -> Result<bool> {
        Ok(self.conn.query_row(
            "SELECT NOT EXISTS (SELECT 1 FROM local_scan) AND NOT EXISTS (SELECT 1 FROM base)",
            [],
            |r| r.get(0),
        )?)
    }

    /// A synced path with this content (the first in path order), for rename/copy detection.
    pub fn find_base_by_hash(&self, hash: &ContentHash) -> Result<Option<(RelPath, Base)>> {
        Ok(self.find_bases_by_hash_limit(hash, 1)?.pop())
    }

    /// Every synced path with this content, in path order.
    pub fn find_bases_by_hash(&self, hash: &ContentHash) -> Result<Vec<(RelPath, Base)>> {
        self.find_bases_by_hash_limit(hash, -1)
    }

    fn find_bases_by_hash_limit(
        &self,
        hash: &ContentHash,
        limit: i64,
    ) -> Result<Vec<(RelPath, Base)>> {
        let sql =
            format!("SELECT path, {BASE_COLS} FROM base WHERE hash = ?1 ORDER BY path LIMIT ?2");
        let mut st = self.conn.prepare_cached(&sql)?;
        let mut rows = st.query(params![&hash.0[..], limit])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let path = path_from_sql(r.get(0)?)?;
            let base = base_at(path.as_str(), r, 1)?.expect("hash is NOT NULL");
            out.push((path, base));
        }
        Ok(out)
    }

    /// Synced paths that the ignore rules now exclude. The engine drops their bases with
    /// [`Index::remove_base`] and touches neither side: changing the rules deletes nothing
    /// (tenet 10). If the rule is lifted later, the path is simply new on both sides.
    pub fn bases_now_ignored(&self, ignore: impl Fn(&RelPath) -> bool) -> Result<Vec<RelPath>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT path FROM base ORDER BY path")?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            let path = path_from_sql(r.get(0)?)?;
            if ignore(&path) {
                out.push(path);
            }
        }
        Ok(out)
    }

    // ==== local_scan (written by scan.rs) ====

    /// Starts a scan generation: rows not rewritten with it are dropped by `finish_local_scan`.
    pub(crate) fn next_scan_gen(&self) -> Result<i64> {
        let generation = self.current_scan_gen()?;
        self.meta_set("local_scan_gen", &(generation + 1).to_string())?;
        Ok(generation + 1)
    }

    pub(crate) fn remembered_local(&self, path: &str) -> Result<Option<Remembered>> {
        let mut st = self.conn.prepare_cached(
            "SELECT size, mtime_ns, ctime_ns, inode, hash, checked_ns FROM local_scan WHERE path = ?1",
        )?;
        self.remembered(&mut st, path)
    }

    pub(crate) fn remembered_base(&self, path: &str) -> Result<Option<Remembered>> {
        let mut st = self.conn.prepare_cached(
            "SELECT l_size, l_mtime_ns, l_ctime_ns, l_inode, hash, l_checked_ns
             FROM base WHERE path = ?1",
        )?;
        self.remembered(&mut st, path)
    }

    fn remembered(
        &self,
        st: &mut rusqlite::CachedStatement<'_>,
        path: &str,
    ) -> Result<Option<Remembered>> {
        let row = st
            .query_row([path], |r| {
                Ok((
                    LocalStat {
                        size: r.get(0)?,
                        mtime_ns: r.get(1)?,
                        ctime_ns: r.get(2)?,
                        inode: u64_from_sql(r.get(3)?),
                    },
                    r.get::<_, Vec<u8>>(4)?,
                    r.get::<_, Option<i64>>(5)?,
                ))
            })
            .optional()?;
        row.map(|(stat, hash, checked_ns)| {
            Ok(Remembered {
                stat,
                hash: hash_from_sql(path, hash)?,
                checked_ns,
            })
        })
        .transpose()
    }

    pub(crate) fn put_local_scan(&self, row: &LocalScanRow, generation: i64) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO local_scan
                   (path, size, mtime_ns, ctime_ns, inode, hash, checked_ns, generation)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )?
            .execute(params![
                row.path,
                row.stat.size,
                row.stat.mtime_ns,
                row.stat.ctime_ns,
                u64_to_sql(row.stat.inode),
                &row.hash.0[..],
                row.checked_ns,
                generation
            ])?;
        Ok(())
    }

    /// Keeps what is known about `path` (a file, or with `subtree` everything under the
    /// directory `path`) that this scan could not read: the previous scan row, else the base.
    /// An unreadable file must not look deleted, or the planner would delete it remotely.
    pub(crate) fn carry_forward_local(
        &self,
        path: &str,
        subtree: bool,
        generation: i64,
    ) -> Result<()> {
        let (lo, hi) = if subtree {
            (format!("{path}/"), format!("{path}0")) // '0' is the byte after '/'
        } else {
            (path.to_owned(), format!("{path}\0"))
        };
        self.conn
            .prepare_cached("UPDATE local_scan SET generation = ?3 WHERE path >= ?1 AND path < ?2")?
            .execute(params![lo, hi, generation])?;
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO local_scan
                   (path, size, mtime_ns, ctime_ns, inode, hash, checked_ns, generation)
                 SELECT path, l_size, l_mtime_ns, l_ctime_ns, l_inode, hash,
                        COALESCE(l_checked_ns, 0), ?3
                 FROM base WHERE path >= ?1 AND path < ?2",
            )?
            .execute(params![lo, hi, generation])?;
        Ok(())
    }

    /// Marks a base's local stat as verified at `checked_ns`, if the base still has this stat
    /// and hash (a no-op otherwise).
    pub(crate) fn settle_base(
        &self,
        path: &str,
        stat: &LocalStat,
        hash: &ContentHash,
        checked_ns: i64,
    ) -> Result<()> {
        self.conn
            .prepare_cached(
                "UPDATE base SET l_checked_ns = ?7 WHERE path = ?1 AND hash = ?2 AND l_size = ?3
                   AND l_mtime_ns = ?4 AND l_ctime_ns = ?5 AND l_inode = ?6",
            )?
            .execute(params![
                path,
                &hash.0[..],
                stat.size,
                stat.mtime_ns,
                stat.ctime_ns,
                u64_to_sql(stat.inode),
                checked_ns
            ])?;
        Ok(())
    }

    /// The generation of the last scan (a scoped scan adds to it).
    pub(crate) fn current_scan_gen(&self) -> Result<i64> {
        Ok(self
            .meta_get("local_scan_gen")?
            .and_then(|v| v.parse::<i64>().ok())
            .unwrap_or(0))
    }

    /// Marks the rows of `scope` (files, or directories with everything under them) as
    /// "not seen yet": rescanned rows replace them, [`Index::drop_set_aside_local`] removes
    /// the rest. Touches only those rows (the primary key's ranges).
    pub(crate) fn set_aside_local(&self, scope: &[&str]) -> Result<()> {
        for p in scope {
            // '0' is the byte after '/': [p/, p0) is everything under p.
            self.conn
                .prepare_cached(
                    "UPDATE local_scan SET generation = -1
                     WHERE path = ?1 OR (path >= ?2 AND path < ?3)",
                )?
                .execute(params![p, format!("{p}/"), format!("{p}0")])?;
        }
        Ok(())
    }

    /// Removes the rows of `scope` that a scoped scan set aside and did not see again.
    pub(crate) fn drop_set_aside_local(&self, scope: &[&str]) -> Result<()> {
        for p in scope {
            self.conn
                .prepare_cached(
                    "DELETE FROM local_scan WHERE generation = -1
                     AND (path = ?1 OR (path >= ?2 AND path < ?3))",
                )?
                .execute(params![p, format!("{p}/"), format!("{p}0")])?;
        }
        Ok(())
    }

    /// Says that the folder is about to change in ways no watcher hint may report in time
    /// (downloads, local deletes, conflict copies): the next scan must be a full one.
    pub fn local_scan_outdated(&self) -> Result<()> {
        self.meta_set(crate::scan::LOCAL_SCAN_CURRENT, "0")
    }

    pub(crate) fn finish_local_scan(&self, generation: i64) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM local_scan WHERE generation <> ?1")?
            .execute([generation])?;
        Ok(())
    }

    /// Number of files in the last local scan.
    pub fn local_scan_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM local_scan", [], |r| r.get(0))?)
    }

    // ==== remote_scan and the remote hash cache ====

    /// Empties the remote scan before a new listing is inserted.
    pub fn clear_remote_scan(&self) -> Result<()> {
        self.conn.execute("DELETE FROM remote_scan", [])?;
        Ok(())
    }

    /// Adds listed objects (one transaction for the batch; call once per listing page).
    pub fn insert_remote_scan(&self, objects: &[(RelPath, RemoteObject)]) -> Result<()> {
        self.transaction(|ix| {
            let mut st = ix.conn.prepare_cached(
                "INSERT OR REPLACE INTO remote_scan
                   (path, etag, version_id, size, last_modified_ns, hash)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )?;
            for (path, o) in objects {
                st.execute(params![
                    path.as_str(),
                    o.object.etag,
                    o.object.version_id,
                    o.object.size,
                    o.last_modified_ns,
                    o.hash.as_ref().map(|h| h.0.to_vec()),
                ])?;
            }
            Ok(())
        })
    }

    /// Replaces the remote scan with the remote side of every base: "the bucket is as it was
    /// after the last sync". Passes that only need to find local changes use this instead of
    /// listing the prefix; every write still checks the real object (condition or HEAD), and
    /// a mismatch sends the engine back to a real listing.
    pub fn remote_scan_from_base(&self) -> Result<()> {
        self.transaction(|ix| {
            ix.conn.execute("DELETE FROM remote_scan", [])?;
            ix.conn.execute(
                "INSERT INTO remote_scan (path, etag, version_id, size, last_modified_ns, hash)
                 SELECT path, r_etag, r_version_id, r_size, 0, hash FROM base",
                [],
            )?;
            Ok(())
        })
    }

    /// The listed paths that share their `case_key` with another listed path, grouped (sorted
    /// by key, then path), each with whether the local scan and the base have it under exactly
    /// that name. Works through a temporary table, so memory stays flat at any listing size.
    pub fn remote_case_twins(&self, case_key: impl Fn(&str) -> String) -> Result<Vec<CaseTwin>> {
        self.transaction(|ix| {
            ix.conn.execute_batch(
                "CREATE TEMP TABLE IF NOT EXISTS case_keys (key TEXT NOT NULL, path TEXT NOT NULL);
                 DELETE FROM temp.case_keys;",
            )?;
            {
                let mut paths = ix.conn.prepare("SELECT path FROM remote_scan")?;
                let mut insert = ix
                    .conn
                    .prepare("INSERT INTO temp.case_keys (key, path) VALUES (?1, ?2)")?;
                let mut rows = paths.query([])?;
                while let Some(row) = rows.next()? {
                    let path: String = row.get(0)?;
                    insert.execute(params![case_key(&path), path])?;
                }
            }
            let mut twins = ix.conn.prepare(
                "SELECT c.key, c.path,
                        EXISTS (SELECT 1 FROM local_scan l WHERE l.path = c.path),
                        EXISTS (SELECT 1 FROM base b WHERE b.path = c.path)
                 FROM temp.case_keys c
                 WHERE c.key IN (SELECT key FROM temp.case_keys GROUP BY key HAVING count(*) > 1)
                 ORDER BY c.key, c.path",
            )?;
            let found = twins
                .query_map([], |r| {
                    Ok((
                        r.get::<_, String>(0)?,
                        r.get::<_, String>(1)?,
                        r.get(2)?,
                        r.get(3)?,
                    ))
                })?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            ix.conn.execute("DELETE FROM temp.case_keys", [])?;
            found
                .into_iter()
                .map(|(key, path, local, base)| {
                    Ok(CaseTwin {
                        key,
                        path: path_from_sql(path)?,
                        local,
                        base,
                    })
                })
                .collect()
        })
    }

    /// Drops `path` from the remote scan (a HEAD found no object there).
    pub fn remove_remote_scan(&self, path: &RelPath) -> Result<()> {
        self.conn
            .prepare_cached("DELETE FROM remote_scan WHERE path = ?1")?
            .execute([path.as_str()])?;
        Ok(())
    }

    /// [`Index::remote_scan_from_base`] for the paths within `ranges` only (a pass scoped
    /// to a few paths plans over those alone; see `scope_ranges`).
    pub fn remote_scan_from_base_in(&self, ranges: &[(String, String)]) -> Result<()> {
        self.transaction(|ix| {
            ix.conn.execute("DELETE FROM remote_scan", [])?;
            let mut st = ix.conn.prepare_cached(
                "INSERT OR IGNORE INTO remote_scan
                   (path, etag, version_id, size, last_modified_ns, hash)
                 SELECT path, r_etag, r_version_id, r_size, 0, hash FROM base
                 WHERE path >= ?1 AND path < ?2",
            )?;
            for (lo, hi) in ranges {
                st.execute(params![lo, hi])?;
            }
            Ok(())
        })
    }

    /// Number of objects in the remote scan.
    pub fn remote_scan_count(&self) -> Result<u64> {
        Ok(self
            .conn
            .query_row("SELECT COUNT(*) FROM remote_scan", [], |r| r.get(0))?)
    }

    /// Objects whose content hash the planner needs and nobody knows (no hash in the listing
    /// or the cache):
    /// - present on both sides and changed remotely since the base (or no base): same
    ///   content or a conflict?
    /// - new in the bucket, with the ETag or size of a synced object that is gone from it: the
    ///   other half of a rename by another device, which must count as a move, not as a
    ///   delete, in the safety stop (tenet 7; a listing carries no content hash);
    /// - with an upload of this device's pending (see [`Index::adopt_own_uploads`]).
    ///
    /// Returns (path, etag); the engine HEADs each and calls [`Index::set_remote_scan_hash`].
    pub fn remote_needing_hash(&self) -> Result<Vec<(RelPath, String)>> {
        let mut st = self.conn.prepare_cached(
            "SELECT r.path, r.etag FROM remote_scan r
             JOIN local_scan l ON l.path = r.path
             LEFT JOIN base b ON b.path = r.path
             WHERE r.hash IS NULL
               AND (b.path IS NULL OR b.r_etag <> r.etag)
               AND NOT EXISTS (SELECT 1 FROM remote_hash_cache c
                               WHERE c.key = r.path AND c.etag = r.etag)
             UNION
             SELECT r.path, r.etag FROM remote_scan r
             WHERE r.hash IS NULL
               AND NOT EXISTS (SELECT 1 FROM base b WHERE b.path = r.path)
               AND NOT EXISTS (SELECT 1 FROM local_scan l WHERE l.path = r.path)
               AND NOT EXISTS (SELECT 1 FROM remote_hash_cache c
                               WHERE c.key = r.path AND c.etag = r.etag)
               AND (r.etag IN (SELECT g.r_etag FROM base g
                               WHERE NOT EXISTS (SELECT 1 FROM remote_scan x WHERE x.path = g.path))
                    OR r.size IN (SELECT g.r_size FROM base g
                                  WHERE NOT EXISTS (SELECT 1 FROM remote_scan x WHERE x.path = g.path)))
             UNION
             SELECT r.path, r.etag FROM remote_scan r
             JOIN pending_uploads p ON p.path = r.path
             WHERE r.hash IS NULL
               AND NOT EXISTS (SELECT 1 FROM remote_hash_cache c
                               WHERE c.key = r.path AND c.etag = r.etag)
             ORDER BY 1",
        )?;
        let mut rows = st.query([])?;
        let mut out = Vec::new();
        while let Some(r) = rows.next()? {
            out.push((path_from_sql(r.get(0)?)?, r.get(1)?));
        }
        Ok(out)
    }

    /// Records the hash learned for the listed object at `path`, in the scan and in the cache
    /// (keyed by the listed ETag, so later passes need no HEAD while the object is unchanged).
    pub fn set_remote_scan_hash(&self, path: &RelPath, hash: &ContentHash) -> Result<()> {
        self.transaction(|ix| {
            ix.conn
                .prepare_cached("UPDATE remote_scan SET hash = ?2 WHERE path = ?1")?
                .execute(params![path.as_str(), &hash.0[..]])?;
            ix.conn
                .prepare_cached(
                    "INSERT OR REPLACE INTO remote_hash_cache(key, etag, hash)
                     SELECT path, etag, ?2 FROM remote_scan WHERE path = ?1",
                )?
                .execute(params![path.as_str(), &hash.0[..]])?;
            Ok(())
        })
    }

    /// The cached hash of the object at `path` with this ETag. The cache is keyed by the
    /// folder-relative path: an index belongs to one folder pair, so one prefix.
    pub fn cached_remote_hash(&self, path: &RelPath, etag: &str) -> Result<Option<ContentHash>> {
        let mut st = self
            .conn
            .prepare_cached("SELECT hash FROM remote_hash_cache WHERE key = ?1 AND etag = ?2")?;
        let blob: Option<Vec<u8>> = st
            .query_row([path.as_str(), etag], |r| r.get(0))
            .optional()?;
        opt_hash(path.as_str(), blob)
    }

    pub fn cache_remote_hash(&self, path: &RelPath, etag: &str, hash: &ContentHash) -> Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR REPLACE INTO remote_hash_cache(key, etag, hash) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![path.as_str(), etag, &hash.0[..]])?;
        Ok(())
    }

    /// Drops cache entries for objects no longer listed. Call after a complete listing only:
    /// after a partial one it would forget hashes that are still good.
    pub fn prune_remote_hash_cache(&self) -> Result<u64> {
        let n = self.conn.execute(
            "DELETE FROM remote_hash_cache WHERE NOT EXISTS
               (SELECT 1 FROM remote_scan r WHERE r.path = key AND r.etag = remote_hash_cache.etag)",
            [],
        )?;
        Ok(n as u64)
    }
}
