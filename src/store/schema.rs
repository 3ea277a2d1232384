//! The database schema and the versioned migrations that build it.
//!
//! The schema version lives in SQLite's `user_version` header field. Migration `i` (0-based)
//! brings a database from version `i` to `i + 1`; all pending migrations run in one immediate
//! transaction, so a crash mid-upgrade leaves the old version intact. A database written by a
//! newer roost is refused rather than guessed at.

use rusqlite::{Connection, TransactionBehavior};

use super::StoreError;

/// Version 1: identity epoch, peers, received reports, opinion cache, trust state.
const V1: &str = "
CREATE TABLE identity (
    id    INTEGER PRIMARY KEY CHECK (id = 1),
    epoch INTEGER NOT NULL CHECK (epoch >= 0)
);
INSERT INTO identity (id, epoch) VALUES (1, 0);

CREATE TABLE peers (
    key           BLOB PRIMARY KEY NOT NULL CHECK (length(key) = 32),
    addr          TEXT,
    first_seen    INTEGER NOT NULL,
    last_seen     INTEGER NOT NULL,
    version       INTEGER NOT NULL,
    reliability   REAL NOT NULL,
    evidence_good INTEGER NOT NULL,
    evidence_bad  INTEGER NOT NULL,
    last_epoch    INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX peers_by_last_seen ON peers (last_seen);

CREATE TABLE reports (
    id         INTEGER PRIMARY KEY,
    peer       BLOB NOT NULL CHECK (length(peer) = 32),
    kind       INTEGER NOT NULL,
    ioc        TEXT NOT NULL,
    threat     REAL NOT NULL,
    confidence REAL NOT NULL,
    at         INTEGER NOT NULL
);
CREATE INDEX reports_by_ioc ON reports (ioc, peer, at);
CREATE INDEX reports_by_peer ON reports (peer, at);
CREATE INDEX reports_by_at ON reports (at);

CREATE TABLE opinions (
    ioc        TEXT PRIMARY KEY NOT NULL,
    threat     REAL,
    confidence REAL,
    at         INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX opinions_by_at ON opinions (at);

CREATE TABLE trust_state (
    id   INTEGER PRIMARY KEY CHECK (id = 1),
    blob BLOB NOT NULL
);
";

/// Every migration roost knows, oldest first. Append only: never edit a released entry.
pub(crate) const MIGRATIONS: &[&str] = &[V1];

/// The schema version this build writes.
pub const SCHEMA_VERSION: u32 = MIGRATIONS.len() as u32;

fn user_version(conn: &Connection) -> Result<i64, rusqlite::Error> {
    conn.query_row("PRAGMA user_version", [], |r| r.get(0))
}

/// Brings the database up to `migrations.len()`, or refuses it if it is newer.
pub(crate) fn migrate(conn: &mut Connection, migrations: &[&str]) -> Result<(), StoreError> {
    let supported = migrations.len() as i64;
    let found = user_version(conn)?;
    if found == supported {
        return Ok(());
    }
    if found > supported || found < 0 {
        return Err(StoreError::NewerSchema { found, supported });
    }
    // Another process may be migrating at the same moment: take the write lock first, then
    // look again.
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let found = user_version(&tx)?;
    if found > supported || found < 0 {
        return Err(StoreError::NewerSchema { found, supported });
    }
    let from = usize::try_from(found).unwrap_or(0);
    for sql in migrations.iter().skip(from) {
        tx.execute_batch(sql)?;
    }
    // PRAGMA does not take bound parameters; the value is our own integer.
    tx.execute_batch(&format!("PRAGMA user_version = {supported}"))?;
    tx.commit()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn upgrade_keeps_data_and_runs_only_new_steps() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("m.db")).unwrap();
        let steps = [
            "CREATE TABLE a (x INTEGER); INSERT INTO a VALUES (7);",
            "ALTER TABLE a ADD COLUMN y INTEGER DEFAULT 3;",
        ];
        migrate(&mut conn, &steps[..1]).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 1);
        migrate(&mut conn, &steps).unwrap();
        assert_eq!(user_version(&conn).unwrap(), 2);
        let (x, y): (i64, i64) = conn
            .query_row("SELECT x, y FROM a", [], |r| Ok((r.get(0)?, r.get(1)?)))
            .unwrap();
        assert_eq!((x, y), (7, 3));
        // Running again is a no-op (the first step would fail if re-run: duplicate table).
        migrate(&mut conn, &steps).unwrap();
        // Going back is refused.
        assert!(matches!(
            migrate(&mut conn, &steps[..1]),
            Err(StoreError::NewerSchema {
                found: 2,
                supported: 1
            })
        ));
    }

    #[test]
    fn a_failing_step_leaves_the_old_version() {
        let dir = tempfile::tempdir().unwrap();
        let mut conn = Connection::open(dir.path().join("m.db")).unwrap();
        let steps = ["CREATE TABLE a (x INTEGER);", "THIS IS NOT SQL;"];
        assert!(migrate(&mut conn, &steps).is_err());
        assert_eq!(user_version(&conn).unwrap(), 0);
        let tables: i64 = conn
            .query_row("SELECT count(*) FROM sqlite_master", [], |r| r.get(0))
            .unwrap();
        assert_eq!(tables, 0);
    }
}
