//! The database layout, versioned with `PRAGMA user_version`: migration `i` (0-based) takes a
//! database from version `i` to `i + 1`. Migrations are only ever appended; a released one is
//! never edited, since databases in the field were made by it.

use rusqlite::Connection;

use crate::{Result, StoreError};

/// Ordered migrations.
const MIGRATIONS: &[&str] = &[
    // 1: runs, findings and their history.
    "
    -- AUTOINCREMENT: run ids are never reused after pruning, so that a finding's last_run can
    -- only ever match the run that saw it.
    CREATE TABLE runs (
        id INTEGER PRIMARY KEY AUTOINCREMENT,
        time INTEGER NOT NULL,
        -- The scope's objects: all NULL for the whole inventory, namespace only for a namespace.
        scope_namespace TEXT,
        scope_group TEXT,
        scope_kind TEXT,
        scope_name TEXT,
        -- JSON array of check ids; NULL for every check.
        checks TEXT,
        complete INTEGER NOT NULL,
        findings INTEGER NOT NULL,
        new INTEGER NOT NULL,
        reopened INTEGER NOT NULL,
        resolved INTEGER NOT NULL
    );
    CREATE INDEX runs_time ON runs(time);

    CREATE TABLE findings (
        fingerprint TEXT PRIMARY KEY NOT NULL,
        check_id TEXT NOT NULL,
        severity TEXT NOT NULL,
        title TEXT NOT NULL,
        message TEXT NOT NULL,
        api_version TEXT NOT NULL,
        obj_group TEXT NOT NULL,
        kind TEXT NOT NULL,
        -- '' for a cluster-scoped object: equality then needs no NULL handling.
        namespace TEXT NOT NULL,
        name TEXT NOT NULL,
        field_path TEXT NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        resolved_at INTEGER,
        reopened_at INTEGER,
        last_run INTEGER NOT NULL
    ) WITHOUT ROWID;
    -- Open findings of an object or a namespace: what a scoped run may resolve.
    CREATE INDEX findings_open_object ON findings(namespace, kind, name) WHERE resolved_at IS NULL;
    CREATE INDEX findings_resolved_at ON findings(resolved_at) WHERE resolved_at IS NOT NULL;

    CREATE TABLE finding_events (
        id INTEGER PRIMARY KEY,
        time INTEGER NOT NULL,
        fingerprint TEXT NOT NULL,
        transition TEXT NOT NULL,
        run_id INTEGER NOT NULL
    );
    CREATE INDEX finding_events_time ON finding_events(time);
    ",
    // 2: alerts by dedup key.
    "
    CREATE TABLE alerts (
        dedup_key TEXT PRIMARY KEY NOT NULL,
        rule TEXT NOT NULL,
        title TEXT NOT NULL,
        severity TEXT NOT NULL,
        namespace TEXT,
        subject TEXT NOT NULL,
        count INTEGER NOT NULL,
        first_seen INTEGER NOT NULL,
        last_seen INTEGER NOT NULL,
        -- The dedup period being counted (its first occurrence) and its count so far: a
        -- stream's update carries the period's running count, not an increment.
        period_start INTEGER NOT NULL,
        period_count INTEGER NOT NULL
    ) WITHOUT ROWID;
    CREATE INDEX alerts_last_seen ON alerts(last_seen);
    ",
    // 3: runs that record changes seen by watches (`HistoryStore::record_changes`) rather than
    // an evaluation of a scope.
    "
    ALTER TABLE runs ADD COLUMN changes INTEGER NOT NULL DEFAULT 0;
    ",
    // 4: what the alert's first event did (verb and object), for the dashboard.
    "
    ALTER TABLE alerts ADD COLUMN action TEXT NOT NULL DEFAULT '';
    ",
];

/// The version of a database made by this kubevigil.
pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

/// Brings the database to [`SCHEMA_VERSION`], one transaction per migration.
pub(crate) fn migrate(conn: &mut Connection) -> Result<()> {
    migrate_to(conn, SCHEMA_VERSION)
}

/// Brings the database to `target` (tests make older layouts with it).
pub(crate) fn migrate_to(conn: &mut Connection, target: i64) -> Result<()> {
    let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
    if found > SCHEMA_VERSION {
        return Err(StoreError::SchemaTooNew {
            found,
            known: SCHEMA_VERSION,
        });
    }
    for version in found..target {
        let tx = conn.transaction()?;
        tx.execute_batch(MIGRATIONS[version as usize])?;
        tx.pragma_update(None, "user_version", version + 1)?;
        tx.commit()?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HistoryStore, SqliteStore};

    /// A database made by the first release (schema 1: no alerts table) with a finding in it
    /// is migrated on open, and its finding is still there.
    #[test]
    fn an_older_database_is_migrated_and_keeps_its_data() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        {
            let mut conn = Connection::open(&path).unwrap();
            migrate_to(&mut conn, 1).unwrap();
            assert!(
                conn.prepare("SELECT 1 FROM alerts").is_err(),
                "schema 1 has no alerts"
            );
            conn.execute(
                "INSERT INTO findings (fingerprint, check_id, severity, title, message, api_version, \
                 obj_group, kind, namespace, name, field_path, first_seen, last_seen, last_run) \
                 VALUES ('fp', 'privileged', 'high', 't', 'm', 'apps/v1', 'apps', 'Deployment', \
                 'shop', 'web', 'spec', 5, 6, 1)",
                [],
            )
            .unwrap();
        }
        let mut store = SqliteStore::open(&path).unwrap();
        assert_eq!(store.schema_version().unwrap(), SCHEMA_VERSION);
        let f = store.finding("fp").unwrap().unwrap();
        assert_eq!((f.first_seen, f.last_seen, f.is_open()), (5, 6, true));
        let alert = kubevigil_detect::DetectionAlert {
            dedup_key: "k".into(),
            ..Default::default()
        };
        assert_eq!(
            store.record_alert(&alert, 1).unwrap(),
            crate::AlertSeen::New
        );
        // Opening again migrates nothing more.
        drop(store);
        let mut store = SqliteStore::open(&path).unwrap();
        let version: i64 = store
            .connection()
            .pragma_query_value(None, "user_version", |r| r.get(0))
            .unwrap();
        assert_eq!(version, SCHEMA_VERSION);
    }

    #[test]
    fn a_newer_database_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("history.db");
        Connection::open(&path)
            .unwrap()
            .pragma_update(None, "user_version", SCHEMA_VERSION + 1)
            .unwrap();
        assert!(matches!(
            SqliteStore::open(&path),
            Err(StoreError::SchemaTooNew { .. })
        ));
    }

    /// Migrations run in order, each once: every version from 0 reaches the same layout.
    #[test]
    fn every_version_migrates_to_the_same_layout() {
        let layout = |conn: &Connection| -> Vec<String> {
            let mut stmt = conn
                .prepare("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY name")
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<rusqlite::Result<_>>()
                .unwrap()
        };
        let mut fresh = Connection::open_in_memory().unwrap();
        migrate(&mut fresh).unwrap();
        for from in 0..=SCHEMA_VERSION {
            let mut conn = Connection::open_in_memory().unwrap();
            migrate_to(&mut conn, from).unwrap();
            migrate(&mut conn).unwrap();
            assert_eq!(layout(&conn), layout(&fresh), "from version {from}");
        }
    }
}
