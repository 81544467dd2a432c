//! The embedded store: one SQLite database file in WAL mode.

use std::path::Path;
use std::time::Duration;

use kubevigil_detect::DetectionAlert;
use kubevigil_model::{Finding, ObjectRef, Severity};
use rusqlite::types::Value;
use rusqlite::{Connection, OptionalExtension, Row, TransactionBehavior, params, params_from_iter};

use crate::{
    AlertRecord, AlertSeen, Changes, Checks, DB_FILE, FindingEvent, FindingRecord, HistoryQuery,
    HistoryStore, Objects, Pruned, Result, Run, StoreError, Transition, Transitions, schema,
};

/// How long a write waits for another process's write (a `kubevigil history` reading while the
/// monitor writes never waits: WAL readers do not block writers).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

/// The columns of a [`FindingRecord`], in [`finding_from_row`] order.
const FINDING_COLUMNS: &str = "f.fingerprint, f.check_id, f.severity, f.title, f.message, \
     f.api_version, f.namespace, f.kind, f.name, f.field_path, f.first_seen, f.last_seen, \
     f.resolved_at, f.reopened_at";

/// [`crate::HistoryStore`] on SQLite.
pub struct SqliteStore {
    conn: Connection,
}

impl SqliteStore {
    /// [`HistoryStore::record_run`], calling `tell` with the transitions before they are
    /// committed: a crash in between leaves them unrecorded, so they are told again by the next
    /// run instead of never.
    pub fn record_run_then(
        &mut self,
        run: &Run<'_>,
        tell: impl FnOnce(&Transitions),
    ) -> Result<Transitions> {
        // IMMEDIATE: take the write lock now, so that a concurrent writer makes this wait (busy
        // timeout) instead of failing when a read would turn into a write.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let (ns, group, kind, name) = match &run.scope.objects {
            Objects::All => (None, None, None, None),
            Objects::Namespace(ns) => (Some(ns.clone()), None, None, None),
            Objects::Object(k) => (
                Some(k.namespace.clone().unwrap_or_default()),
                Some(k.group.clone()),
                Some(k.kind.clone()),
                Some(k.name.clone()),
            ),
        };
        let checks = match &run.scope.checks {
            Checks::All => None,
            Checks::Only(ids) => {
                Some(serde_json::to_string(ids).map_err(|e| StoreError::Corrupt(e.to_string()))?)
            }
        };
        tx.execute(
            "INSERT INTO runs (time, scope_namespace, scope_group, scope_kind, scope_name, checks, \
             complete, findings, new, reopened, resolved) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0, 0, 0)",
            params![
                run.time_ms,
                ns,
                group,
                kind,
                name,
                checks,
                run.complete,
                run.findings.len() as i64
            ],
        )?;
        let run_id = tx.last_insert_rowid();
        let now = run.time_ms;
        let mut out = Transitions {
            run_id,
            ..Transitions::default()
        };
        record_seen(&tx, run.findings, now, run_id, &mut out)?;
        if run.complete {
            let (condition, mut values) = scope_condition(run.scope);
            values.insert(0, Value::Integer(now));
            values.insert(1, Value::Integer(run_id));
            let sql = format!(
                "UPDATE findings SET resolved_at = ?1 \
                 WHERE resolved_at IS NULL AND last_run != ?2 AND {condition} \
                 RETURNING {}",
                FINDING_COLUMNS.replace("f.", "")
            );
            // Bounded by the open findings of the scope, which the monitor reports anyway.
            out.resolved = {
                let mut stmt = tx.prepare(&sql)?;
                let rows = stmt.query_map(params_from_iter(values), |r| finding_from_row(r, 0))?;
                rows.collect::<rusqlite::Result<_>>()?
            };
            out.resolved
                .sort_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
            let mut event = tx.prepare_cached(
                "INSERT INTO finding_events (time, fingerprint, transition, run_id) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for f in &out.resolved {
                event.execute(params![now, f.fingerprint, "resolved", run_id])?;
            }
        }
        finish_run(tx, out, tell)
    }

    /// [`HistoryStore::record_changes`], calling `tell` as [`SqliteStore::record_run_then`]
    /// does.
    pub fn record_changes_then(
        &mut self,
        changes: &Changes<'_>,
        tell: impl FnOnce(&Transitions),
    ) -> Result<Transitions> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let now = changes.time_ms;
        // A run of its own (`changes = 1`): the history names when and what changed.
        tx.execute(
            "INSERT INTO runs (time, checks, complete, findings, new, reopened, resolved, changes) \
             VALUES (?1, NULL, 0, ?2, 0, 0, 0, 1)",
            params![now, changes.appeared.len() as i64],
        )?;
        let run_id = tx.last_insert_rowid();
        let mut out = Transitions {
            run_id,
            ..Transitions::default()
        };
        record_seen(&tx, changes.appeared, now, run_id, &mut out)?;
        {
            let sql = format!(
                "UPDATE findings SET resolved_at = ?2 WHERE fingerprint = ?1 AND resolved_at IS NULL \
                 RETURNING {}",
                FINDING_COLUMNS.replace("f.", "")
            );
            let mut resolve = tx.prepare_cached(&sql)?;
            let mut event = tx.prepare_cached(
                "INSERT INTO finding_events (time, fingerprint, transition, run_id) VALUES (?1, ?2, ?3, ?4)",
            )?;
            for f in changes.gone {
                let record = resolve
                    .query_row(params![f.fingerprint, now], |r| finding_from_row(r, 0))
                    .optional()?;
                if let Some(record) = record {
                    event.execute(params![now, f.fingerprint, "resolved", run_id])?;
                    out.resolved.push(record);
                }
            }
        }
        finish_run(tx, out, tell)
    }

    /// [`HistoryStore::record_alert`], calling `tell` with what the store knows of the alert
    /// (unless [`AlertSeen::Known`]) before the alert is recorded, so that an alert the store
    /// knows was told: a crash in between leaves it unknown, and told again when its events are
    /// read again. An error of `tell` records nothing. `tell` runs without the database's write
    /// lock, so a slow output does not hold up the other writers.
    pub fn record_alert_then(
        &mut self,
        alert: &DetectionAlert,
        now_ms: i64,
        tell: impl FnOnce(AlertSeen) -> std::io::Result<()>,
    ) -> Result<AlertSeen> {
        let times = alert_times(alert, now_ms)?;
        let seen = seen_of(held_alert(&self.conn, &alert.dedup_key)?, alert, times);
        if seen == AlertSeen::Known {
            return Ok(seen);
        }
        tell(seen)?;
        self.write_alert(alert, times)
    }

    /// Records the alert (its `(first, last, count)` from [`alert_times`]) in one transaction:
    /// what the store knew of it then.
    fn write_alert(&mut self, alert: &DetectionAlert, times: (i64, i64, i64)) -> Result<AlertSeen> {
        let (first, last, count) = times;
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let held = held_alert(&tx, &alert.dedup_key)?;
        let seen = seen_of(held, alert, times);
        match (held, seen) {
            (_, AlertSeen::Known) => {}
            (None, _) => {
                let event = alert.first_event();
                let namespace = event["objectRef"]["namespace"]
                    .as_str()
                    .filter(|ns| !ns.is_empty());
                // A non-resource request is named by its URI: its query string is left out, so
                // that nothing a client put there (a token, say) is kept.
                let object = kubevigil_detect::alert::object_label(event);
                let object = object.split('?').next().unwrap_or_default();
                let action = format!("{} {object}", event["verb"].as_str().unwrap_or("-"));
                tx.execute(
                    "INSERT INTO alerts (dedup_key, rule, title, severity, namespace, subject, count, \
                     first_seen, last_seen, period_start, period_count, action) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?8, ?7, ?10)",
                    params![
                        alert.dedup_key,
                        alert.rule,
                        alert.title,
                        alert.severity.as_str(),
                        namespace,
                        alert.who(),
                        count,
                        first,
                        last,
                        action.trim_end()
                    ],
                )?;
            }
            (Some(held), _) => {
                // An update of the period being counted carries its running count.
                let update_of_period = alert.update && first == held.period_start;
                let (total, period_start, period_count) = if update_of_period {
                    (
                        held.count + (count - held.period_count).max(0),
                        held.period_start,
                        count.max(held.period_count),
                    )
                } else {
                    (held.count + count, first, count)
                };
                tx.execute(
                    "UPDATE alerts SET title = ?2, severity = ?3, count = ?4, \
                     first_seen = min(first_seen, ?5), last_seen = max(last_seen, ?6), \
                     period_start = ?7, period_count = ?8 WHERE dedup_key = ?1",
                    params![
                        alert.dedup_key,
                        alert.title,
                        alert.severity.as_str(),
                        total,
                        first,
                        last,
                        period_start,
                        period_count
                    ],
                )?;
            }
        }
        tx.commit()?;
        Ok(seen)
    }

    /// Opens the history in `state_dir` (created, private to the user, with its database, if
    /// missing), migrating it to the current schema.
    pub fn open_dir(state_dir: &Path) -> Result<SqliteStore> {
        create_private_dir(state_dir).map_err(|source| StoreError::StateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        SqliteStore::open(&state_dir.join(DB_FILE))
    }

    /// Opens (or creates) the database file at `path`, migrating it to the current schema.
    pub fn open(path: &Path) -> Result<SqliteStore> {
        create_private_file(path)?;
        let conn = Connection::open(path)?;
        SqliteStore::with_connection(conn)
    }

    /// Opens the database file at `path` for reading only (the dashboard): nothing is created
    /// or migrated, and no statement can write. A database of another schema version is
    /// refused, as [`SqliteStore::open`] refuses a newer one.
    pub fn open_read_only(path: &Path) -> Result<SqliteStore> {
        let conn = Connection::open_with_flags(
            path,
            rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let found: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if found != schema::SCHEMA_VERSION {
            return Err(StoreError::SchemaMismatch {
                found,
                known: schema::SCHEMA_VERSION,
            });
        }
        Ok(SqliteStore { conn })
    }

    /// A store in memory, gone when dropped (tests, an empty history).
    pub fn open_in_memory() -> Result<SqliteStore> {
        SqliteStore::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(mut conn: Connection) -> Result<SqliteStore> {
        // WAL: readers (`kubevigil history`) and the monitor's writer do not block each other.
        // An in-memory database answers "memory", which is as good.
        let _mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        // NORMAL in WAL mode: a commit survives a crash of the process and the database never
        // corrupts; only a power loss can lose the last commits, and then the next evaluation
        // re-reports at most those transitions. FULL would fsync every run for that.
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        schema::migrate(&mut conn)?;
        Ok(SqliteStore { conn })
    }

    /// The schema version of the open database.
    pub fn schema_version(&self) -> Result<i64> {
        Ok(self
            .conn
            .pragma_query_value(None, "user_version", |r| r.get(0))?)
    }

    #[cfg(test)]
    pub(crate) fn connection(&mut self) -> &mut Connection {
        &mut self.conn
    }
}

/// Creates `dir` (and its parents) private to its user (0700): what the state directory holds
/// is the cluster's business.
#[cfg(unix)]
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    use std::os::unix::fs::DirBuilderExt;
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
}

#[cfg(not(unix))]
pub fn create_private_dir(dir: &Path) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)
}

/// Creates the database file readable by its owner only (object names and messages are the
/// cluster's business); SQLite gives its -wal and -shm files the same permissions.
///
/// An existing file is never opened here: closing any descriptor of a database file drops
/// every POSIX lock the process holds on it, so a second store opened in a process that has
/// one (the monitor's detection and evaluation) would silently unlock the first, and another
/// process (`kubevigil history`) could then checkpoint and delete the WAL under it.
pub fn create_private_file(path: &Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

fn finding_from_row(r: &Row<'_>, at: usize) -> rusqlite::Result<FindingRecord> {
    let namespace: String = r.get(at + 6)?;
    Ok(FindingRecord {
        fingerprint: r.get(at)?,
        check_id: r.get(at + 1)?,
        severity: severity(r, at + 2)?,
        title: r.get(at + 3)?,
        message: r.get(at + 4)?,
        object: ObjectRef {
            api_version: r.get(at + 5)?,
            kind: r.get(at + 7)?,
            namespace: (!namespace.is_empty()).then_some(namespace),
            name: r.get(at + 8)?,
        },
        field_path: r.get(at + 9)?,
        first_seen: r.get(at + 10)?,
        last_seen: r.get(at + 11)?,
        resolved_at: r.get(at + 12)?,
        reopened_at: r.get(at + 13)?,
    })
}

fn severity(r: &Row<'_>, i: usize) -> rusqlite::Result<Severity> {
    let text: String = r.get(i)?;
    text.parse().map_err(|e: String| {
        rusqlite::Error::FromSqlConversionFailure(i, rusqlite::types::Type::Text, e.into())
    })
}

/// The API group of an `apiVersion` (as [`kubevigil_model::Object::group`]).
fn group_of(api_version: &str) -> &str {
    api_version.split_once('/').map_or("", |(g, _)| g)
}

/// The condition selecting the findings of a scope, and its parameters.
fn scope_condition(scope: &crate::Scope) -> (String, Vec<Value>) {
    let mut sql = String::from("1");
    let mut values = Vec::new();
    match &scope.objects {
        Objects::All => {}
        Objects::Namespace(ns) => {
            sql.push_str(" AND namespace = ?");
            values.push(Value::Text(ns.clone()));
        }
        Objects::Object(key) => {
            sql.push_str(" AND namespace = ? AND kind = ? AND name = ? AND obj_group = ?");
            values.push(Value::Text(key.namespace.clone().unwrap_or_default()));
            values.push(Value::Text(key.kind.clone()));
            values.push(Value::Text(key.name.clone()));
            values.push(Value::Text(key.group.clone()));
        }
    }
    if let Checks::Only(ids) = &scope.checks {
        if ids.is_empty() {
            // No check ran: nothing can be resolved.
            return ("0".into(), Vec::new());
        }
        sql.push_str(" AND check_id IN (");
        for (i, id) in ids.iter().enumerate() {
            sql.push_str(if i == 0 { "?" } else { ", ?" });
            values.push(Value::Text(id.clone()));
        }
        sql.push(')');
    }
    (sql, values)
}

impl HistoryStore for SqliteStore {
    fn record_run(&mut self, run: &Run<'_>) -> Result<Transitions> {
        self.record_run_then(run, |_| {})
    }

    fn record_changes(&mut self, changes: &Changes<'_>) -> Result<Transitions> {
        self.record_changes_then(changes, |_| {})
    }

    fn touch_open(&mut self, time_ms: i64) -> Result<usize> {
        Ok(self.conn.execute(
            "UPDATE findings SET last_seen = ?1 WHERE resolved_at IS NULL AND last_seen < ?1",
            [time_ms],
        )?)
    }

    fn record_alert(&mut self, alert: &DetectionAlert, now_ms: i64) -> Result<AlertSeen> {
        self.write_alert(alert, alert_times(alert, now_ms)?)
    }

    fn finding_history(
        &self,
        query: &HistoryQuery,
        visit: &mut dyn FnMut(FindingEvent) -> std::io::Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT e.time, e.transition, {FINDING_COLUMNS} FROM finding_events e \
             JOIN findings f ON f.fingerprint = e.fingerprint \
             WHERE e.time >= ?1 AND (?2 IS NULL OR f.namespace = ?2) ORDER BY e.time, e.id"
        ))?;
        let mut rows = stmt.query(params![query.since_ms, query.namespace])?;
        while let Some(row) = rows.next()? {
            let text: String = row.get(1)?;
            let transition = Transition::parse(&text)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown transition {text:?}")))?;
            visit(FindingEvent {
                time_ms: row.get(0)?,
                transition,
                finding: finding_from_row(row, 2)?,
            })?;
        }
        Ok(())
    }

    fn open_counts(&self) -> Result<Vec<(Option<String>, Severity, u64)>> {
        // Counted here rather than by GROUP BY: SQLite would sort every open finding first.
        let mut counts: std::collections::BTreeMap<(String, String), u64> = Default::default();
        let mut stmt = self
            .conn
            .prepare("SELECT namespace, severity FROM findings WHERE resolved_at IS NULL")?;
        let mut rows = stmt.query([])?;
        while let Some(r) = rows.next()? {
            let key: (String, String) = (r.get(0)?, r.get(1)?);
            match counts.get_mut(&key) {
                Some(n) => *n += 1,
                None => {
                    counts.insert(key, 1);
                }
            }
        }
        counts
            .into_iter()
            .map(|((ns, sev), n)| {
                let severity = sev
                    .parse()
                    .map_err(|e: String| StoreError::Corrupt(format!("severity {sev:?}: {e}")))?;
                Ok(((!ns.is_empty()).then_some(ns), severity, n))
            })
            .collect()
    }

    fn transitions(&self, visit: &mut dyn FnMut(i64, Severity, Transition)) -> Result<()> {
        // The severities first, then the events in time order: a join would look each event's
        // finding up in the findings' B-tree, which costs more than the whole scan.
        let mut severities: std::collections::HashMap<String, Severity> = Default::default();
        let mut stmt = self
            .conn
            .prepare("SELECT fingerprint, severity FROM findings")?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            severities.insert(row.get(0)?, severity(row, 1)?);
        }
        let mut stmt = self.conn.prepare(
            "SELECT time, transition, fingerprint FROM finding_events ORDER BY time, id",
        )?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            let text = row.get_ref(1)?.as_str().map_err(rusqlite::Error::from)?;
            let transition = Transition::parse(text)
                .ok_or_else(|| StoreError::Corrupt(format!("unknown transition {text:?}")))?;
            let fingerprint = row.get_ref(2)?.as_str().map_err(rusqlite::Error::from)?;
            // An event of a pruned finding is skipped, as the join skipped it.
            if let Some(&s) = severities.get(fingerprint) {
                visit(row.get(0)?, s, transition);
            }
        }
        Ok(())
    }

    fn alert_history(
        &self,
        query: &HistoryQuery,
        visit: &mut dyn FnMut(AlertRecord) -> std::io::Result<()>,
    ) -> Result<()> {
        let mut stmt = self.conn.prepare(
            "SELECT dedup_key, rule, title, severity, namespace, subject, count, first_seen, last_seen, \
             action FROM alerts WHERE last_seen >= ?1 AND (?2 IS NULL OR namespace = ?2) \
             ORDER BY last_seen, dedup_key",
        )?;
        let mut rows = stmt.query(params![query.since_ms, query.namespace])?;
        while let Some(r) = rows.next()? {
            visit(AlertRecord {
                dedup_key: r.get(0)?,
                rule: r.get(1)?,
                title: r.get(2)?,
                severity: severity(r, 3)?,
                namespace: r.get(4)?,
                subject: r.get(5)?,
                count: r.get::<_, i64>(6)?.max(0) as u64,
                first_seen: r.get(7)?,
                last_seen: r.get(8)?,
                action: r.get(9)?,
            })?;
        }
        Ok(())
    }

    fn finding(&self, fingerprint: &str) -> Result<Option<FindingRecord>> {
        Ok(self
            .conn
            .query_row(
                &format!("SELECT {FINDING_COLUMNS} FROM findings f WHERE f.fingerprint = ?1"),
                [fingerprint],
                |r| finding_from_row(r, 0),
            )
            .optional()?)
    }

    fn findings_of(&self, object: &ObjectRef) -> Result<Vec<FindingRecord>> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {FINDING_COLUMNS} FROM findings f \
             WHERE f.namespace = ?1 AND f.kind = ?2 AND f.name = ?3 ORDER BY f.fingerprint"
        ))?;
        let rows = stmt.query_map(
            params![
                object.namespace.as_deref().unwrap_or(""),
                object.kind,
                object.name
            ],
            |r| finding_from_row(r, 0),
        )?;
        let found: rusqlite::Result<Vec<FindingRecord>> = rows.collect();
        // The same namespace, kind and name in another API group is another object.
        Ok(found?.into_iter().filter(|f| f.object == *object).collect())
    }

    fn findings(&self, visit: &mut dyn FnMut(FindingRecord) -> std::io::Result<()>) -> Result<()> {
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {FINDING_COLUMNS} FROM findings f ORDER BY f.last_seen DESC, f.fingerprint"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            visit(finding_from_row(row, 0)?)?;
        }
        Ok(())
    }

    fn open_findings(
        &self,
        visit: &mut dyn FnMut(FindingRecord) -> std::io::Result<()>,
    ) -> Result<()> {
        // The partial index findings_open_object covers `resolved_at IS NULL`.
        let mut stmt = self.conn.prepare(&format!(
            "SELECT {FINDING_COLUMNS} FROM findings f WHERE f.resolved_at IS NULL \
             ORDER BY f.fingerprint"
        ))?;
        let mut rows = stmt.query([])?;
        while let Some(row) = rows.next()? {
            visit(finding_from_row(row, 0)?)?;
        }
        Ok(())
    }

    fn prune(&mut self, before_ms: i64) -> Result<Pruned> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let pruned = Pruned {
            findings: tx.execute(
                "DELETE FROM findings WHERE resolved_at IS NOT NULL AND resolved_at < ?1",
                [before_ms],
            )?,
            events: tx.execute("DELETE FROM finding_events WHERE time < ?1", [before_ms])?,
            alerts: tx.execute("DELETE FROM alerts WHERE last_seen < ?1", [before_ms])?,
            runs: tx.execute("DELETE FROM runs WHERE time < ?1", [before_ms])?,
        };
        tx.commit()?;
        Ok(pruned)
    }
}

/// Writes what run `out.run_id` changed into its row and commits.
/// An alert's `(first, last, count)` as recorded (`now_ms` when it has no times); an alert
/// without dedup key is refused.
fn alert_times(alert: &DetectionAlert, now_ms: i64) -> Result<(i64, i64, i64)> {
    if alert.dedup_key.is_empty() {
        return Err(StoreError::NoDedupKey(alert.rule.clone()));
    }
    let first = alert.first_seen.unwrap_or(now_ms);
    let last = alert.last_seen.unwrap_or(first).max(first);
    Ok((first, last, alert.count as i64))
}

/// What the store holds of a dedup key.
#[derive(Debug, Clone, Copy)]
struct HeldAlert {
    count: i64,
    first_seen: i64,
    last_seen: i64,
    period_start: i64,
    period_count: i64,
}

fn held_alert(conn: &rusqlite::Connection, key: &str) -> Result<Option<HeldAlert>> {
    Ok(conn
        .query_row(
            "SELECT count, first_seen, last_seen, period_start, period_count FROM alerts \
             WHERE dedup_key = ?1",
            [key],
            |r| {
                Ok(HeldAlert {
                    count: r.get(0)?,
                    first_seen: r.get(1)?,
                    last_seen: r.get(2)?,
                    period_start: r.get(3)?,
                    period_count: r.get(4)?,
                })
            },
        )
        .optional()?)
}

/// Whether an alert of `times` is new, a repeat (occurrences not recorded yet), or known.
fn seen_of(held: Option<HeldAlert>, alert: &DetectionAlert, times: (i64, i64, i64)) -> AlertSeen {
    let (first, last, count) = times;
    let Some(held) = held else {
        return AlertSeen::New;
    };
    // An update of the period being counted carries its running count.
    let grows = alert.update && first == held.period_start && count > held.period_count;
    if first >= held.first_seen && last <= held.last_seen && !grows {
        AlertSeen::Known
    } else {
        AlertSeen::Repeat
    }
}

fn finish_run(
    tx: rusqlite::Transaction<'_>,
    out: Transitions,
    tell: impl FnOnce(&Transitions),
) -> Result<Transitions> {
    tx.execute(
        "UPDATE runs SET new = ?2, reopened = ?3, resolved = ?4 WHERE id = ?1",
        params![
            out.run_id,
            out.new.len() as i64,
            out.reopened.len() as i64,
            out.resolved.len() as i64
        ],
    )?;
    tell(&out);
    tx.commit()?;
    Ok(out)
}

/// Records the findings of run `run_id` as seen at `now`: new ones inserted, resolved ones
/// reopened, open ones refreshed (their texts and last seen); `out` gets the new and reopened.
fn record_seen(
    tx: &rusqlite::Transaction<'_>,
    findings: &[Finding],
    now: i64,
    run_id: i64,
    out: &mut Transitions,
) -> Result<()> {
    let mut get =
        tx.prepare_cached("SELECT resolved_at, last_run FROM findings WHERE fingerprint = ?1")?;
    let mut insert = tx.prepare_cached(
        "INSERT INTO findings (fingerprint, check_id, severity, title, message, api_version, \
                 obj_group, kind, namespace, name, field_path, first_seen, last_seen, last_run) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13)",
    )?;
    // Texts are refreshed: a configured severity or a message can change.
    let mut seen = tx.prepare_cached(
        "UPDATE findings SET check_id = ?2, severity = ?3, title = ?4, message = ?5, \
                 field_path = ?6, last_seen = ?7, last_run = ?8 WHERE fingerprint = ?1",
    )?;
    let mut reopen = tx.prepare_cached(
                "UPDATE findings SET check_id = ?2, severity = ?3, title = ?4, message = ?5, \
                 field_path = ?6, last_seen = ?7, last_run = ?8, resolved_at = NULL, reopened_at = ?7 \
                 WHERE fingerprint = ?1 RETURNING first_seen",
            )?;
    let mut event = tx.prepare_cached(
                "INSERT INTO finding_events (time, fingerprint, transition, run_id) VALUES (?1, ?2, ?3, ?4)",
            )?;
    for f in findings {
        let state: Option<(Option<i64>, i64)> = get
            .query_row([&f.fingerprint], |r| Ok((r.get(0)?, r.get(1)?)))
            .optional()?;
        let texts = params![
            f.fingerprint,
            &*f.check_id,
            f.severity.as_str(),
            &*f.title,
            f.message,
            f.location.field_path,
            now,
            run_id
        ];
        match state {
            None => {
                let o = &f.object;
                insert.execute(params![
                    f.fingerprint,
                    &*f.check_id,
                    f.severity.as_str(),
                    &*f.title,
                    f.message,
                    o.api_version,
                    group_of(&o.api_version),
                    o.kind,
                    o.namespace.as_deref().unwrap_or(""),
                    o.name,
                    f.location.field_path,
                    now,
                    run_id
                ])?;
                event.execute(params![now, f.fingerprint, "new", run_id])?;
                out.new.push(FindingRecord::of(f, now));
            }
            // The same finding twice in one run (an object listed twice): once is enough.
            Some((_, last_run)) if last_run == run_id => {}
            Some((None, _)) => {
                seen.execute(texts)?;
                out.unchanged += 1;
            }
            Some((Some(_), _)) => {
                let first_seen: i64 = reopen.query_row(texts, |r| r.get(0))?;
                event.execute(params![now, f.fingerprint, "reopened", run_id])?;
                out.reopened.push(FindingRecord {
                    first_seen,
                    reopened_at: Some(now),
                    ..FindingRecord::of(f, now)
                });
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{HistoryQuery, Scope};

    /// WAL and synchronous=NORMAL are what the file gets; a reader (`kubevigil history`) reads
    /// the last commit while a writer is in the middle of a transaction, without waiting.
    #[test]
    fn wal_mode_and_a_reader_beside_a_writer() {
        let dir = tempfile::tempdir().unwrap();
        let mut writer = SqliteStore::open_dir(dir.path()).unwrap();
        let found = [Finding {
            check_id: "c".into(),
            severity: Severity::Low,
            title: "t".into(),
            message: "before".into(),
            object: std::sync::Arc::new(ObjectRef {
                api_version: "v1".into(),
                kind: "Pod".into(),
                namespace: Some("ns".into()),
                name: "p".into(),
            }),
            location: kubevigil_model::Location::field_only("spec".into()),
            remediation: "".into(),
            references: std::borrow::Cow::Borrowed(&[]),
            fingerprint: "fp".into(),
        }];
        writer
            .record_run(&Run {
                time_ms: 1,
                scope: &Scope::everything(),
                complete: true,
                findings: &found,
            })
            .unwrap();
        let conn = writer.connection();
        let mode: String = conn
            .pragma_query_value(None, "journal_mode", |r| r.get(0))
            .unwrap();
        let sync: i64 = conn
            .pragma_query_value(None, "synchronous", |r| r.get(0))
            .unwrap();
        assert_eq!((mode.as_str(), sync), ("wal", 1));
        conn.execute_batch("BEGIN IMMEDIATE; UPDATE findings SET message = 'during';")
            .unwrap();
        let reader = SqliteStore::open_dir(dir.path()).unwrap();
        let started = std::time::Instant::now();
        let mut messages = Vec::new();
        reader
            .finding_history(&HistoryQuery::default(), &mut |e| {
                messages.push(e.finding.message);
                Ok(())
            })
            .unwrap();
        assert_eq!(messages, ["before"]);
        assert!(started.elapsed() < BUSY_TIMEOUT / 2);
        writer.connection().execute_batch("COMMIT").unwrap();
    }
}
