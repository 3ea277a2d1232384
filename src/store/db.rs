//! One SQLite connection with roost's schema: opening, the epoch counter, batched writes and
//! the read queries used at startup and by the CLI.

use std::cell::Cell;
use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use rusqlite::{params, Connection, ErrorCode, OptionalExtension, Row, TransactionBehavior};

use super::records::{OpinionRecord, PeerRecord, ReportKind, ReportRecord, StoreOp};
use super::schema::{self, MIGRATIONS};
use super::StoreError;
use crate::ioc::Ioc;

/// How hard SQLite syncs a commit. Both survive `kill -9` of roost once a commit returned;
/// they differ on an OS crash or power cut.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Synchronous {
    /// The WAL is fsynced at every commit: an acknowledged op survives a power cut too. The
    /// cost is one fsync per batch, which batching keeps small. The default.
    Full,
    /// The WAL is fsynced only at checkpoints: an acknowledged op survives a process crash but
    /// the last commits may roll back on a power cut. Less flash wear.
    Normal,
}

/// Caps on what the database may hold, so that a hostile peer (or many forged identities)
/// cannot grow it without bound on a small router. When over a cap, the oldest rows go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreLimits {
    /// Reports kept per (peer, IoC); a peer repeating itself only refreshes its latest words.
    pub reports_per_peer_ioc: u32,
    /// Reports kept per peer across all IoCs.
    pub reports_per_peer: u32,
    /// Reports kept in total.
    pub reports_total: u32,
    /// Cached opinions kept in total.
    pub opinions_total: u32,
    /// Peers remembered in total (the least recently seen are forgotten first).
    pub peers_total: u32,
}

impl Default for StoreLimits {
    /// Sized for a small router: 100 k reports take about 21 MB on disk (measured by
    /// `examples/store_bench.rs`: 200 k took 41 MB).
    fn default() -> Self {
        StoreLimits {
            reports_per_peer_ioc: 8,
            reports_per_peer: 20_000,
            reports_total: 100_000,
            opinions_total: 100_000,
            peers_total: 10_000,
        }
    }
}

/// Knobs for opening a store; the defaults are what the daemon uses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long a statement waits for another connection's lock before failing.
    pub busy_timeout: Duration,
    /// Durability of a commit (see [`Synchronous`]).
    pub synchronous: Synchronous,
    /// Run `PRAGMA quick_check` at open, so that a damaged file is reported at startup rather
    /// than at some later write. Costs a read of the whole file.
    pub check_on_open: bool,
    /// Size caps enforced on every write batch.
    pub limits: StoreLimits,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: Duration::from_secs(5),
            synchronous: Synchronous::Full,
            check_on_open: true,
            limits: StoreLimits::default(),
        }
    }
}

/// A connection to roost's database. Used directly at startup and by the CLI, and moved onto
/// the writer thread by [`super::StoreWriter`] while the daemon runs.
pub struct Store {
    conn: Connection,
    path: PathBuf,
    limits: StoreLimits,
    skipped: Cell<u64>,
}

impl std::fmt::Debug for Store {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Store").field("path", &self.path).finish()
    }
}

/// Turns the SQLite codes that mean "this file is damaged or foreign" into a clear error
/// naming the file.
fn classify(path: &Path, e: StoreError) -> StoreError {
    if let StoreError::Sqlite(inner) = &e {
        if matches!(
            inner.sqlite_error_code(),
            Some(ErrorCode::NotADatabase | ErrorCode::DatabaseCorrupt)
        ) {
            return StoreError::Corrupt {
                path: path.to_owned(),
                detail: inner.to_string(),
            };
        }
    }
    e
}

fn to_i64(v: u64) -> i64 {
    // Ops are validated before they get here; saturate rather than wrap if one slips by.
    i64::try_from(v).unwrap_or(i64::MAX)
}

fn to_u64(v: i64) -> Option<u64> {
    u64::try_from(v).ok()
}

fn in_unit(v: f64) -> Option<f64> {
    (v.is_finite() && (0.0..=1.0).contains(&v)).then_some(v)
}

fn key32(v: &[u8]) -> Option<[u8; 32]> {
    <[u8; 32]>::try_from(v).ok()
}

impl Store {
    /// Opens (creating file and parent directory if needed) with the daemon's defaults.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with(path, &StoreOptions::default())
    }

    /// Opens with explicit options: WAL, the chosen sync level, busy timeout, migrations.
    /// Refuses a database from a newer schema and a file that is not a (healthy) database.
    pub fn open_with(path: impl AsRef<Path>, opts: &StoreOptions) -> Result<Store, StoreError> {
        let path = path.as_ref().to_owned();
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Io {
                path: parent.to_owned(),
                source,
            })?;
        }
        let conn = Connection::open(&path).map_err(|e| classify(&path, e.into()))?;
        let mut store = Store {
            conn,
            path,
            limits: opts.limits,
            skipped: Cell::new(0),
        };
        let r = store.setup(opts);
        r.map_err(|e| classify(&store.path, e))?;
        Ok(store)
    }

    fn setup(&mut self, opts: &StoreOptions) -> Result<(), StoreError> {
        self.conn.busy_timeout(opts.busy_timeout)?;
        // Reading the header first turns a foreign file into NOTADB before anything is written.
        let _: i64 = self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?;
        let mode: String = self
            .conn
            .pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::NoWal {
                path: self.path.clone(),
                mode,
            });
        }
        let sync = match opts.synchronous {
            Synchronous::Full => "FULL",
            Synchronous::Normal => "NORMAL",
        };
        self.conn.pragma_update(None, "synchronous", sync)?;
        // Keep the WAL file from staying large on flash after a burst.
        let _: i64 =
            self.conn
                .pragma_update_and_check(None, "journal_size_limit", 4 << 20, |r| r.get(0))?;
        self.conn.pragma_update(None, "foreign_keys", false)?;
        if opts.check_on_open {
            let verdict = self.quick_check()?;
            if verdict != ["ok"] {
                return Err(StoreError::Corrupt {
                    path: self.path.clone(),
                    detail: verdict.join("; "),
                });
            }
        }
        schema::migrate(&mut self.conn, MIGRATIONS)
    }

    /// The database file, for messages.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Rows that read queries skipped because a value in them could not be understood
    /// (an unparsable IoC, an unknown kind, an out-of-range number). Should stay 0.
    pub fn skipped_rows(&self) -> u64 {
        self.skipped.get()
    }

    fn skip(&self) {
        self.skipped.set(self.skipped.get().saturating_add(1));
    }

    /// SQLite's `quick_check`: `["ok"]` for a healthy file, otherwise the problems found.
    pub fn quick_check(&self) -> Result<Vec<String>, StoreError> {
        self.pragma_list("quick_check")
    }

    /// SQLite's full `integrity_check` (slower than [`Store::quick_check`]; also checks
    /// indexes against tables).
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        self.pragma_list("integrity_check")
    }

    fn pragma_list(&self, pragma: &str) -> Result<Vec<String>, StoreError> {
        let r = (|| {
            let mut stmt = self.conn.prepare(&format!("PRAGMA {pragma}"))?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect::<Result<Vec<_>, _>>()
        })();
        r.map_err(|e| classify(&self.path, e.into()))
    }

    /// Durably takes the next identity epoch. Call it before the node sends anything, so
    /// that a restart never reuses a (epoch, counter) pair. The first call returns 1.
    pub fn next_epoch(&mut self) -> Result<u32, StoreError> {
        let r = self.next_epoch_inner();
        r.map_err(|e| classify(&self.path, e))
    }

    fn next_epoch_inner(&mut self) -> Result<u32, StoreError> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let current: Option<i64> = tx
            .query_row("SELECT epoch FROM identity WHERE id = 1", [], |r| r.get(0))
            .optional()?;
        let next = u32::try_from(current.unwrap_or(0))
            .ok()
            .and_then(|c| c.checked_add(1))
            .ok_or(StoreError::EpochExhausted)?;
        tx.execute(
            "INSERT INTO identity (id, epoch) VALUES (1, ?1)
             ON CONFLICT(id) DO UPDATE SET epoch = excluded.epoch",
            [next],
        )?;
        tx.commit()?;
        Ok(next)
    }

    /// The last epoch handed out (0 if none), for status output.
    pub fn current_epoch(&self) -> Result<u32, StoreError> {
        let r = self
            .conn
            .query_row("SELECT epoch FROM identity WHERE id = 1", [], |r| {
                r.get::<_, i64>(0)
            })
            .optional();
        let v = r.map_err(|e| classify(&self.path, e.into()))?;
        Ok(v.and_then(|v| u32::try_from(v).ok()).unwrap_or(0))
    }

    /// Applies ops in one transaction: all of them or none. Enforces the size limits before
    /// committing. Returns how many ops were applied.
    pub fn apply(&mut self, ops: &[StoreOp]) -> Result<usize, StoreError> {
        let r = self.apply_inner(ops);
        r.map_err(|e| classify(&self.path, e))
    }

    fn apply_inner(&mut self, ops: &[StoreOp]) -> Result<usize, StoreError> {
        for op in ops {
            op.validate()?;
        }
        let limits = self.limits;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let mut report_peers: HashSet<[u8; 32]> = HashSet::new();
        let (mut any_peer, mut any_opinion) = (false, false);
        for op in ops {
            match op {
                StoreOp::UpsertPeer(p) => {
                    any_peer = true;
                    tx.prepare_cached(
                        "INSERT INTO peers (key, addr, first_seen, last_seen, version,
                             reliability, evidence_good, evidence_bad, last_epoch)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9)
                         ON CONFLICT(key) DO UPDATE SET
                             addr = excluded.addr,
                             first_seen = min(first_seen, excluded.first_seen),
                             last_seen = excluded.last_seen,
                             version = excluded.version,
                             reliability = excluded.reliability,
                             evidence_good = excluded.evidence_good,
                             evidence_bad = excluded.evidence_bad,
                             last_epoch = excluded.last_epoch",
                    )?
                    .execute(params![
                        &p.key[..],
                        p.addr.map(|a| a.to_string()),
                        to_i64(p.first_seen),
                        to_i64(p.last_seen),
                        p.version,
                        p.reliability,
                        to_i64(p.evidence_good),
                        to_i64(p.evidence_bad),
                        p.last_epoch,
                    ])?;
                }
                StoreOp::ForgetPeersBefore(t) => {
                    tx.prepare_cached("DELETE FROM peers WHERE last_seen < ?1")?
                        .execute([to_i64(*t)])?;
                }
                StoreOp::AddReport(r) => {
                    let ioc = r.ioc.to_string();
                    tx.prepare_cached(
                        "INSERT INTO reports (peer, kind, ioc, threat, confidence, at)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                    )?
                    .execute(params![
                        &r.peer[..],
                        r.kind.code(),
                        ioc,
                        r.threat,
                        r.confidence,
                        to_i64(r.at)
                    ])?;
                    tx.prepare_cached(
                        "DELETE FROM reports WHERE peer = ?1 AND ioc = ?2 AND id NOT IN
                           (SELECT id FROM reports WHERE peer = ?1 AND ioc = ?2
                            ORDER BY at DESC, id DESC LIMIT ?3)",
                    )?
                    .execute(params![
                        &r.peer[..],
                        ioc,
                        limits.reports_per_peer_ioc
                    ])?;
                    report_peers.insert(r.peer);
                }
                StoreOp::PutOpinion(o) => {
                    any_opinion = true;
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO opinions (ioc, threat, confidence, at)
                         VALUES (?1, ?2, ?3, ?4)",
                    )?
                    .execute(params![
                        o.ioc.to_string(),
                        o.threat,
                        o.confidence,
                        to_i64(o.at)
                    ])?;
                }
                StoreOp::PutTrustState(blob) => {
                    tx.prepare_cached(
                        "INSERT OR REPLACE INTO trust_state (id, blob) VALUES (1, ?1)",
                    )?
                    .execute([blob.as_slice()])?;
                }
                StoreOp::PruneReportsBefore(t) => {
                    tx.prepare_cached("DELETE FROM reports WHERE at < ?1")?
                        .execute([to_i64(*t)])?;
                }
                StoreOp::PruneOpinionsBefore(t) => {
                    tx.prepare_cached("DELETE FROM opinions WHERE at < ?1")?
                        .execute([to_i64(*t)])?;
                }
            }
        }
        for peer in &report_peers {
            let n: i64 = tx
                .prepare_cached("SELECT count(*) FROM reports WHERE peer = ?1")?
                .query_row([&peer[..]], |r| r.get(0))?;
            let excess = n - i64::from(limits.reports_per_peer);
            if excess > 0 {
                tx.prepare_cached(
                    "DELETE FROM reports WHERE id IN (SELECT id FROM reports WHERE peer = ?1
                     ORDER BY at ASC, id ASC LIMIT ?2)",
                )?
                .execute(params![&peer[..], excess])?;
            }
        }
        if !report_peers.is_empty() {
            trim_oldest(&tx, "reports", "id", "at", limits.reports_total)?;
        }
        if any_opinion {
            trim_oldest(&tx, "opinions", "ioc", "at", limits.opinions_total)?;
        }
        if any_peer {
            trim_oldest(&tx, "peers", "key", "last_seen", limits.peers_total)?;
        }
        tx.commit()?;
        Ok(ops.len())
    }

    /// Peers last seen at or after `min_last_seen`, most recently seen first: the node's
    /// starting peer table. A peer with an unreadable address is kept without it.
    pub fn load_peers(&self, min_last_seen: u64) -> Result<Vec<PeerRecord>, StoreError> {
        let r = self.read_rows(
            "SELECT key, addr, first_seen, last_seen, version, reliability,
                    evidence_good, evidence_bad, last_epoch
             FROM peers WHERE last_seen >= ?1 ORDER BY last_seen DESC",
            [to_i64(min_last_seen)],
            |s, row| s.peer_from_row(row),
        );
        r.map_err(|e| classify(&self.path, e))
    }

    fn peer_from_row(&self, row: &Row<'_>) -> Option<PeerRecord> {
        let addr = match row.get::<_, Option<String>>(1).ok()? {
            None => None,
            Some(text) => match text.parse::<SocketAddr>() {
                Ok(a) => Some(a),
                Err(_) => {
                    self.skip();
                    None
                }
            },
        };
        let reliability: f64 = row.get(5).ok()?;
        Some(PeerRecord {
            key: key32(&row.get::<_, Vec<u8>>(0).ok()?)?,
            addr,
            first_seen: to_u64(row.get(2).ok()?)?,
            last_seen: to_u64(row.get(3).ok()?)?,
            version: u8::try_from(row.get::<_, i64>(4).ok()?).ok()?,
            reliability: reliability.is_finite().then_some(reliability)?,
            evidence_good: to_u64(row.get(6).ok()?)?,
            evidence_bad: to_u64(row.get(7).ok()?)?,
            last_epoch: u32::try_from(row.get::<_, i64>(8).ok()?).ok()?,
        })
    }

    fn report_from_row(row: &Row<'_>) -> Option<ReportRecord> {
        Some(ReportRecord {
            peer: key32(&row.get::<_, Vec<u8>>(0).ok()?)?,
            kind: ReportKind::from_code(row.get(1).ok()?)?,
            ioc: row.get::<_, String>(2).ok()?.parse().ok()?,
            threat: in_unit(row.get(3).ok()?)?,
            confidence: in_unit(row.get(4).ok()?)?,
            at: to_u64(row.get(5).ok()?)?,
        })
    }

    /// Runs a query and converts each row, skipping (and counting) rows that do not convert.
    fn read_rows<T, P: rusqlite::Params>(
        &self,
        sql: &str,
        params: P,
        convert: impl Fn(&Self, &Row<'_>) -> Option<T>,
    ) -> Result<Vec<T>, StoreError> {
        let mut stmt = self.conn.prepare_cached(sql)?;
        let mut rows = stmt.query(params)?;
        let mut out = Vec::new();
        while let Some(row) = rows.next()? {
            match convert(self, row) {
                Some(v) => out.push(v),
                None => self.skip(),
            }
        }
        Ok(out)
    }

    /// The trust model's last saved state, byte for byte, or `None` if it never saved one.
    pub fn load_trust_state(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let r = self
            .conn
            .query_row("SELECT blob FROM trust_state WHERE id = 1", [], |r| {
                r.get::<_, Vec<u8>>(0)
            })
            .optional();
        r.map_err(|e| classify(&self.path, e.into()))
    }

    /// Everything peers said about one IoC, oldest first: for `roost ask` and for checking
    /// peers against the truth later.
    pub fn reports_about(&self, ioc: &Ioc) -> Result<Vec<ReportRecord>, StoreError> {
        let r = self.read_rows(
            "SELECT peer, kind, ioc, threat, confidence, at FROM reports
             WHERE ioc = ?1 ORDER BY at ASC, id ASC",
            [ioc.to_string()],
            |_, row| Self::report_from_row(row),
        );
        r.map_err(|e| classify(&self.path, e))
    }

    /// The most recent reports received at or after `since`, newest first, at most `limit`:
    /// for rebuilding state at startup and for the CLI.
    pub fn recent_reports(&self, since: u64, limit: u32) -> Result<Vec<ReportRecord>, StoreError> {
        let r = self.read_rows(
            "SELECT peer, kind, ioc, threat, confidence, at FROM reports
             WHERE at >= ?1 ORDER BY at DESC, id DESC LIMIT ?2",
            params![to_i64(since), limit],
            |_, row| Self::report_from_row(row),
        );
        r.map_err(|e| classify(&self.path, e))
    }

    /// Our cached opinion about an IoC, if any (with its age in `at`).
    pub fn opinion(&self, ioc: &Ioc) -> Result<Option<OpinionRecord>, StoreError> {
        let r = self.read_rows(
            "SELECT threat, confidence, at FROM opinions WHERE ioc = ?1",
            [ioc.to_string()],
            |_, row| {
                let unit = |v: Option<f64>| match v {
                    None => Some(None),
                    Some(x) => in_unit(x).map(Some),
                };
                Some(OpinionRecord {
                    ioc: ioc.clone(),
                    threat: unit(row.get(0).ok()?)?,
                    confidence: unit(row.get(1).ok()?)?,
                    at: to_u64(row.get(2).ok()?)?,
                })
            },
        );
        r.map(|v| v.into_iter().next())
            .map_err(|e| classify(&self.path, e))
    }

    /// How many peers are remembered, for `roost status`.
    pub fn peer_count(&self) -> Result<u64, StoreError> {
        self.count("peers")
    }

    /// How many reports are stored, for `roost status`.
    pub fn report_count(&self) -> Result<u64, StoreError> {
        self.count("reports")
    }

    fn count(&self, table: &'static str) -> Result<u64, StoreError> {
        let r = self
            .conn
            .query_row(&format!("SELECT count(*) FROM {table}"), [], |r| {
                r.get::<_, i64>(0)
            });
        let n = r.map_err(|e| classify(&self.path, e.into()))?;
        Ok(to_u64(n).unwrap_or(0))
    }
}

/// Deletes the oldest rows of `table` (by `age`) beyond `cap`. Names are our own constants.
fn trim_oldest(
    tx: &rusqlite::Transaction<'_>,
    table: &'static str,
    key: &'static str,
    age: &'static str,
    cap: u32,
) -> Result<(), StoreError> {
    let n: i64 = tx
        .prepare_cached(&format!("SELECT count(*) FROM {table}"))?
        .query_row([], |r| r.get(0))?;
    let excess = n - i64::from(cap);
    if excess > 0 {
        tx.prepare_cached(&format!(
            "DELETE FROM {table} WHERE {key} IN
               (SELECT {key} FROM {table} ORDER BY {age} ASC, {key} ASC LIMIT ?1)"
        ))?
        .execute([excess])?;
    }
    Ok(())
}
