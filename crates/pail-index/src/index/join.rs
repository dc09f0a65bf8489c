//! The full outer join of `base`, `local_scan` and `remote_scan` that feeds the planner.

use pail_core::state::PathState;
use pail_core::{Base, LocalFile, LocalStat, RelPath, RemoteObject, RemoteRef};

use super::paths::{base_at, opt_hash};
use super::{Index, Result, hash_from_sql, u64_from_sql};
use crate::error::IndexError;

impl Index {
    /// Streams every path known to the base, the local scan or the remote scan, in UTF-8 byte
    /// order, as a [`PathState`], one row at a time, never the whole set in memory.
    ///
    /// Paths for which `ignore` returns true are skipped (see [`Index::bases_now_ignored`] for
    /// their bases). The remote hash comes from the listing, else the HEAD cache, else the
    /// base when the ETag is the one the base recorded.
    ///
    /// `f` must not write to this index: the read statements are still open.
    pub fn for_each_state<E: From<IndexError>>(
        &self,
        ignore: impl Fn(&RelPath) -> bool,
        mut f: impl FnMut(PathState) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        self.merge_join(None, &ignore, &mut f)
    }

    /// Like [`Index::for_each_state`], for the paths within `ranges` only (see
    /// [`scope_ranges`]): what a pass scoped to a few paths plans over.
    pub fn for_each_state_in<E: From<IndexError>>(
        &self,
        ranges: &[(String, String)],
        ignore: impl Fn(&RelPath) -> bool,
        mut f: impl FnMut(PathState) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        for (lo, hi) in ranges {
            self.merge_join(Some((lo, hi)), &ignore, &mut f)?;
        }
        Ok(())
    }

    fn merge_join<E: From<IndexError>>(
        &self,
        range: Option<(&str, &str)>,
        ignore: &impl Fn(&RelPath) -> bool,
        f: &mut impl FnMut(PathState) -> std::result::Result<(), E>,
    ) -> std::result::Result<(), E> {
        // A merge join in Rust of three scans in primary-key order. In SQL, a UNION of the
        // paths joined back to the tables needs a temporary B-tree for the ORDER BY, i.e.
        // SQLite would sort every path before returning the first row.
        let sql = |s: &str| match range {
            None => s.to_owned(),
            Some(_) => s.replace(" ORDER BY", " WHERE path >= ?1 AND path < ?2 ORDER BY"),
        };
        let [base_sql, local_sql, remote_sql] = STATE_SCANS.map(sql);
        let mut bst = self.conn.prepare(&base_sql).map_err(IndexError::from)?;
        let mut lst = self.conn.prepare(&local_sql).map_err(IndexError::from)?;
        let mut rst = self.conn.prepare(&remote_sql).map_err(IndexError::from)?;
        let mut brows = ranged_query(&mut bst, range)?;
        let mut lrows = ranged_query(&mut lst, range)?;
        let mut rrows = ranged_query(&mut rst, range)?;
        let mut b = next_base(&mut brows)?;
        let mut l = next_local(&mut lrows)?;
        let mut r = next_remote(&mut rrows)?;
        loop {
            let keys = [
                b.as_ref().map(|x| &x.0),
                l.as_ref().map(|x| &x.0),
                r.as_ref().map(|x| &x.0),
            ];
            let Some(raw) = keys.into_iter().flatten().min().cloned() else {
                break;
            };
            let base = match b.take_if(|x| x.0 == raw) {
                Some((_, v)) => {
                    b = next_base(&mut brows)?;
                    Some(v)
                }
                None => None,
            };
            let local = match l.take_if(|x| x.0 == raw) {
                Some((_, v)) => {
                    l = next_local(&mut lrows)?;
                    Some(v)
                }
                None => None,
            };
            let remote = match r.take_if(|x| x.0 == raw) {
                Some((_, v)) => {
                    r = next_remote(&mut rrows)?;
                    Some(v)
                }
                None => None,
            };
            let Ok(path) = RelPath::new(&raw) else {
                // Only validated paths are ever written; a bad one means outside edits.
                tracing::warn!(path = raw, "skipping invalid path in the index");
                continue;
            };
            if ignore(&path) {
                continue;
            }
            let remote = match remote {
                Some(mut o) => {
                    if o.hash.is_none() {
                        o.hash = self.cached_remote_hash(&path, &o.object.etag)?;
                    }
                    if o.hash.is_none() {
                        let b = base.as_ref().filter(|b| b.remote.etag == o.object.etag);
                        o.hash = b.map(|b| b.hash);
                    }
                    Some(o)
                }
                None => None,
            };
            f(PathState {
                path,
                base,
                local,
                remote,
            })?;
        }
        Ok(())
    }

    /// `EXPLAIN QUERY PLAN` of the join's three scans (for the streaming test).
    #[doc(hidden)]
    pub fn explain_state_scans(&self) -> Result<Vec<String>> {
        let mut out = Vec::new();
        for sql in STATE_SCANS {
            let mut st = self.conn.prepare(&format!("EXPLAIN QUERY PLAN {sql}"))?;
            let rows = st.query_map([], |r| r.get::<_, String>(3))?;
            out.extend(rows.collect::<rusqlite::Result<Vec<_>>>()?);
        }
        Ok(out)
    }
}

fn ranged_query<'a>(
    st: &'a mut rusqlite::Statement<'_>,
    range: Option<(&str, &str)>,
) -> std::result::Result<rusqlite::Rows<'a>, IndexError> {
    if let Some((lo, hi)) = range {
        st.raw_bind_parameter(1, lo)?;
        st.raw_bind_parameter(2, hi)?;
    }
    Ok(st.raw_query())
}

/// The key ranges `[p, p + "0")` of the paths in `scope`, sorted and merged where they
/// overlap: each holds the path, everything under it (`p/...`, `/` < `0`), and the few
/// siblings that sort between (`p b`, `p.txt`), which a scoped pass plans like the rest.
pub fn scope_ranges(scope: &[RelPath]) -> Vec<(String, String)> {
    let mut ranges: Vec<(String, String)> = scope
        .iter()
        .map(|p| (p.as_str().to_owned(), format!("{}0", p.as_str())))
        .collect();
    ranges.sort();
    let mut out: Vec<(String, String)> = Vec::with_capacity(ranges.len());
    for (lo, hi) in ranges {
        match out.last_mut() {
            Some(last) if lo < last.1 => {
                if hi > last.1 {
                    last.1 = hi;
                }
            }
            _ => out.push((lo, hi)),
        }
    }
    out
}

/// The three ordered scans merged by `for_each_state`.
const STATE_SCANS: [&str; 3] = [
    "SELECT path, hash, l_size, l_mtime_ns, l_ctime_ns, l_inode, r_etag, r_version_id, r_size
     FROM base ORDER BY path",
    "SELECT path, size, mtime_ns, ctime_ns, inode, hash FROM local_scan ORDER BY path",
    "SELECT path, etag, version_id, size, last_modified_ns, hash FROM remote_scan ORDER BY path",
];

fn next_base(rows: &mut rusqlite::Rows<'_>) -> Result<Option<(String, Base)>> {
    let Some(r) = rows.next()? else {
        return Ok(None);
    };
    let path: String = r.get(0)?;
    let base = base_at(&path, r, 1)?.expect("base.hash is NOT NULL");
    Ok(Some((path, base)))
}

fn next_local(rows: &mut rusqlite::Rows<'_>) -> Result<Option<(String, LocalFile)>> {
    let Some(r) = rows.next()? else {
        return Ok(None);
    };
    let path: String = r.get(0)?;
    let stat = LocalStat {
        size: r.get(1)?,
        mtime_ns: r.get(2)?,
        ctime_ns: r.get(3)?,
        inode: u64_from_sql(r.get(4)?),
    };
    let hash = hash_from_sql(&path, r.get(5)?)?;
    Ok(Some((path, LocalFile { stat, hash })))
}

fn next_remote(rows: &mut rusqlite::Rows<'_>) -> Result<Option<(String, RemoteObject)>> {
    let Some(r) = rows.next()? else {
        return Ok(None);
    };
    let path: String = r.get(0)?;
    let hash = opt_hash(&path, r.get(5)?)?;
    let object = RemoteRef {
        etag: r.get(1)?,
        version_id: r.get(2)?,
        size: r.get(3)?,
    };
    Ok(Some((
        path,
        RemoteObject {
            object,
            hash,
            last_modified_ns: r.get(4)?,
        },
    )))
}
