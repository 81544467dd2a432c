//! The on-disk outbox: every notification a sink is to receive, until it has received it.
//!
//! One SQLite database (`outbox.db` in the state directory, WAL), for three reasons over an
//! append-only file: an enqueue is one transaction that is on disk when it returns (a crash
//! either keeps all of a notification's per-sink rows or none), a delivery marks rows done in
//! place without a compaction pass, and the store already builds SQLite in (no new native
//! dependency).
//!
//! Each sink has its own queue (a row per sink and notification), so a sink that is down holds
//! back only itself. Rows leave the queue when delivered; a notification a sink rejected for
//! good stays, marked failed with the reason, the most recent [`FAILED_KEPT`] per sink.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use kubevigil_model::Severity;
use rusqlite::{Connection, OptionalExtension, TransactionBehavior, params};
use tokio::sync::Notify;

use crate::notification::{Notification, Source};
use crate::{Result, SinkError};

/// The database file in the state directory.
pub const OUTBOX_FILE: &str = "outbox.db";

/// Failed notifications kept per sink for inspection; older ones are deleted.
pub const FAILED_KEPT: usize = 1000;

/// A reason longer than this is cut (a sink's error page is not a reason).
const REASON_MAX: usize = 512;

const SCHEMA_VERSION: i64 = 1;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS outbox (
    seq INTEGER PRIMARY KEY AUTOINCREMENT,
    sink TEXT NOT NULL,
    notification_id TEXT NOT NULL,
    body TEXT NOT NULL,
    enqueued_ms INTEGER NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    last_error TEXT,
    -- NULL while pending; the reason once the sink rejected it for good.
    failed_reason TEXT,
    failed_ms INTEGER,
    UNIQUE (sink, notification_id)
);
CREATE INDEX IF NOT EXISTS outbox_queue ON outbox (sink, failed_reason, seq);
";

/// What the outbox does when a sink's queue is full.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Overflow {
    /// Delete the oldest pending notifications to make room: during a long outage the most
    /// recent ones are the most useful.
    #[default]
    DropOldest,
    /// Refuse the new notification.
    DropNewest,
}

/// How large a sink's queue may grow.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Pending notifications per sink.
    pub max_pending: usize,
    pub overflow: Overflow,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_pending: 10_000,
            overflow: Overflow::DropOldest,
        }
    }
}

/// Which notifications a sink receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Filter {
    /// Notifications less severe than this are not queued for the sink.
    pub min_severity: Severity,
    pub findings: bool,
    pub detections: bool,
    /// Only notifications about these namespaces (the `namespace` label); empty: every
    /// notification, cluster-scoped ones included.
    pub namespaces: Vec<String>,
    /// Only notifications of these rules (the `rule` label: a check id, a detection rule id,
    /// `kubevigil-monitor`); empty: every rule.
    pub rules: RuleFilter,
    /// Whether the sink takes [refreshes](Notification::refresh) of open findings: Alertmanager,
    /// which resolves an alert not sent again before its `endsAt`. Other sinks would only see
    /// the same finding again and again.
    pub refreshes: bool,
}

impl Default for Filter {
    fn default() -> Self {
        Filter {
            min_severity: Severity::Info,
            findings: true,
            detections: true,
            namespaces: Vec::new(),
            rules: RuleFilter::default(),
            refreshes: false,
        }
    }
}

impl Filter {
    pub fn accepts(&self, n: &Notification) -> bool {
        let source = match n.source {
            Source::Finding => self.findings,
            Source::Detection => self.detections,
        };
        let namespace = self.namespaces.is_empty()
            || n.labels
                .get("namespace")
                .is_some_and(|ns| self.namespaces.iter().any(|want| want == ns));
        let rule = self
            .rules
            .matches(n.labels.get("rule").map_or("", String::as_str));
        source
            && n.severity >= self.min_severity
            && namespace
            && rule
            && (self.refreshes || !n.refresh)
    }
}

/// Rule ids or globs over them (globset syntax, as everywhere ids are written), compiled once.
#[derive(Debug, Clone, Default)]
pub struct RuleFilter {
    patterns: Vec<String>,
    set: globset::GlobSet,
}

impl RuleFilter {
    /// Fails on the first pattern that is not a valid glob, with the reason.
    pub fn new(patterns: &[String]) -> std::result::Result<RuleFilter, String> {
        let mut builder = globset::GlobSetBuilder::new();
        for p in patterns {
            let glob = globset::Glob::new(p).map_err(|e| format!("invalid glob {p:?}: {e}"))?;
            builder.add(glob);
        }
        let set = builder.build().map_err(|e| e.to_string())?;
        Ok(RuleFilter {
            patterns: patterns.to_vec(),
            set,
        })
    }

    pub fn patterns(&self) -> &[String] {
        &self.patterns
    }

    /// Whether `rule` is selected: always when there are no patterns.
    pub fn matches(&self, rule: &str) -> bool {
        self.patterns.is_empty() || self.set.is_match(rule)
    }
}

impl PartialEq for RuleFilter {
    fn eq(&self, other: &Self) -> bool {
        self.patterns == other.patterns
    }
}

impl Eq for RuleFilter {}

/// A sink's name and what it receives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Route {
    pub sink: String,
    pub filter: Filter,
}

/// A sink's counters since the outbox was opened, and its queue now: what `/metrics` shows.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct SinkStats {
    /// Notifications the sink accepted.
    pub delivered: u64,
    /// Failed attempts that will be retried (one per notification and attempt).
    pub retried: u64,
    /// Notifications the sink rejected for good (a 4xx), or that could not be read back.
    pub failed: u64,
    /// Notifications deleted or refused because the queue was full.
    pub dropped: u64,
    /// Notifications pending now.
    pub depth: u64,
}

/// A queued notification.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pending {
    pub seq: i64,
    /// Attempts made so far.
    pub attempts: u32,
    pub next_attempt_ms: i64,
    pub notification: Notification,
}

/// A notification a sink rejected for good.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Failed {
    pub notification_id: String,
    pub reason: String,
    pub attempts: u32,
    pub failed_ms: i64,
}

/// The outbox, shared by the monitor (which enqueues) and the delivery workers.
pub struct Outbox {
    conn: Mutex<Connection>,
    routes: Vec<Route>,
    limits: Limits,
    stats: Mutex<BTreeMap<String, SinkStats>>,
    wake: BTreeMap<String, Arc<Notify>>,
}

impl Outbox {
    /// Opens (or creates) the outbox in `state_dir` for these routes. Notifications queued
    /// before, for these sinks, are delivered again by their workers.
    pub fn open(state_dir: &Path, routes: Vec<Route>, limits: Limits) -> Result<Outbox> {
        kubevigil_store::create_private_dir(state_dir).map_err(|source| SinkError::StateDir {
            path: state_dir.to_path_buf(),
            source,
        })?;
        let path = state_dir.join(OUTBOX_FILE);
        kubevigil_store::create_private_file(&path).map_err(|source| SinkError::StateDir {
            path: path.clone(),
            source,
        })?;
        let conn = Connection::open(&path)?;
        let _mode: String =
            conn.pragma_update_and_check(None, "journal_mode", "WAL", |r| r.get(0))?;
        // FULL: an enqueue is on disk when it returns, even across a power loss; there are
        // few notifications, so the fsync per enqueue is cheap.
        conn.pragma_update(None, "synchronous", "FULL")?;
        conn.busy_timeout(Duration::from_secs(10))?;
        let version: i64 = conn.pragma_query_value(None, "user_version", |r| r.get(0))?;
        if version > SCHEMA_VERSION {
            return Err(SinkError::SchemaTooNew {
                found: version,
                known: SCHEMA_VERSION,
            });
        }
        conn.execute_batch(SCHEMA)?;
        conn.pragma_update(None, "user_version", SCHEMA_VERSION)?;

        {
            let mut stmt = conn.prepare(
                "SELECT sink, COUNT(*) FROM outbox WHERE failed_reason IS NULL GROUP BY sink",
            )?;
            let rows = stmt.query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?;
            for row in rows {
                let (sink, n) = row?;
                if !routes.iter().any(|r| r.sink == sink) {
                    tracing::warn!(
                        sink = %kubevigil_model::Escaped(&sink),
                        pending = n,
                        "outbox holds notifications for a sink that is not configured; they stay queued"
                    );
                }
            }
        }
        let stats = routes
            .iter()
            .map(|r| (r.sink.clone(), SinkStats::default()))
            .collect();
        let wake = routes
            .iter()
            .map(|r| (r.sink.clone(), Arc::new(Notify::new())))
            .collect();
        Ok(Outbox {
            conn: Mutex::new(conn),
            routes,
            limits,
            stats: Mutex::new(stats),
            wake,
        })
    }

    /// The sinks the outbox routes to.
    pub fn routes(&self) -> &[Route] {
        &self.routes
    }

    /// Queues `n` for every sink whose filter accepts it, durably: on disk when this returns.
    /// Returns the sinks it was queued for. A notification a sink already has (the same id,
    /// pending or failed) is not queued again.
    pub fn enqueue(&self, n: &Notification, now_ms: i64) -> Result<Vec<String>> {
        Ok(self
            .enqueue_all(std::slice::from_ref(n), now_ms)?
            .pop()
            .unwrap_or_default())
    }

    /// [`enqueue`](Outbox::enqueue) for many notifications in one transaction (one sync to
    /// disk: a first run's thousands of new findings), in order. Returns, for each, the sinks
    /// it was queued for.
    pub fn enqueue_all(
        &self,
        notifications: &[Notification],
        now_ms: i64,
    ) -> Result<Vec<Vec<String>>> {
        let mut out = Vec::with_capacity(notifications.len());
        let mut dropped: BTreeMap<&str, u64> = BTreeMap::new();
        {
            let mut conn = self.lock_conn();
            let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
            let mut depths: BTreeMap<&str, u64> = BTreeMap::new();
            let max = self.limits.max_pending as u64;
            for n in notifications {
                let body =
                    serde_json::to_string(n).map_err(|e| SinkError::Encode(e.to_string()))?;
                let mut queued = Vec::new();
                for route in self.routes.iter().filter(|r| r.filter.accepts(n)) {
                    let sink = route.sink.as_str();
                    if n.refresh {
                        // A refresh the sink refused once is tried again at the next one (its
                        // id is the same for the finding's whole episode).
                        tx.execute(
                            "DELETE FROM outbox WHERE sink = ?1 AND notification_id = ?2 \
                             AND failed_reason IS NOT NULL",
                            params![sink, n.id],
                        )?;
                    }
                    // Known already (pending, or failed for good): nothing to queue, so
                    // nothing to make room for.
                    let known = tx
                        .query_row(
                            "SELECT 1 FROM outbox WHERE sink = ?1 AND notification_id = ?2",
                            params![sink, n.id],
                            |_| Ok(()),
                        )
                        .optional()?
                        .is_some();
                    if known {
                        continue;
                    }
                    let depth = match depths.get(sink) {
                        Some(&d) => d,
                        None => pending_count(&tx, sink)?,
                    };
                    let mut depth_after = depth;
                    if depth >= max {
                        // A refresh never makes room: it would push out what is new (a
                        // resolution, an alert), and the next refresh says the same again.
                        let policy = if n.refresh {
                            Overflow::DropNewest
                        } else {
                            self.limits.overflow
                        };
                        match policy {
                            Overflow::DropNewest => {
                                *dropped.entry(sink).or_default() += 1;
                                depths.insert(sink, depth);
                                continue;
                            }
                            Overflow::DropOldest => {
                                let excess = depth + 1 - max;
                                let deleted = tx.execute(
                                    "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox \
                                     WHERE sink = ?1 AND failed_reason IS NULL ORDER BY seq LIMIT ?2)",
                                    params![sink, excess as i64],
                                )?;
                                *dropped.entry(sink).or_default() += deleted as u64;
                                depth_after -= deleted as u64;
                            }
                        }
                    }
                    tx.execute(
                        "INSERT INTO outbox (sink, notification_id, body, enqueued_ms, \
                         next_attempt_ms) VALUES (?1, ?2, ?3, ?4, ?4)",
                        params![sink, n.id, body, now_ms],
                    )?;
                    queued.push(route.sink.clone());
                    depths.insert(sink, depth_after + 1);
                }
                out.push(queued);
            }
            tx.commit()?;
        }
        if !dropped.is_empty() {
            let mut stats = self.lock_stats();
            for (sink, count) in dropped {
                tracing::warn!(
                    sink = %kubevigil_model::Escaped(sink),
                    dropped = count,
                    policy = ?self.limits.overflow,
                    "sink queue full: notifications dropped"
                );
                stats.entry(sink.to_string()).or_default().dropped += count;
            }
        }
        for route in &self.routes {
            if out.iter().any(|q| q.contains(&route.sink)) {
                if let Some(wake) = self.wake.get(&route.sink) {
                    wake.notify_one();
                }
            }
        }
        Ok(out)
    }

    /// The first `limit` pending notifications of `sink`, oldest first (a sink receives them
    /// in order: a resolution never overtakes its alert). A row that cannot be read back is
    /// marked failed and skipped.
    pub fn pending(&self, sink: &str, limit: usize) -> Result<Vec<Pending>> {
        let conn = self.lock_conn();
        let mut stmt = conn.prepare_cached(
            "SELECT seq, attempts, next_attempt_ms, body FROM outbox \
             WHERE sink = ?1 AND failed_reason IS NULL ORDER BY seq LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![sink, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, i64>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, String>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        let mut unreadable = Vec::new();
        for row in rows {
            let (seq, attempts, next_attempt_ms, body) = row?;
            match serde_json::from_str(&body) {
                Ok(notification) => out.push(Pending {
                    seq,
                    attempts: attempts.clamp(0, u32::MAX as i64) as u32,
                    next_attempt_ms,
                    notification,
                }),
                Err(e) => unreadable.push((seq, format!("unreadable outbox entry: {e}"))),
            }
        }
        drop(stmt);
        drop(conn);
        for (seq, reason) in unreadable {
            self.failed(sink, &[seq], &reason, crate::now_ms())?;
        }
        Ok(out)
    }

    /// Marks notifications delivered: they leave the queue.
    pub fn delivered(&self, sink: &str, seqs: &[i64]) -> Result<()> {
        let mut conn = self.lock_conn();
        let tx = conn.transaction()?;
        // Counted as found: a row the overflow policy deleted meanwhile was counted as a
        // drop then, not a delivery now.
        let mut count = 0;
        for seq in seqs {
            count += tx.execute(
                "DELETE FROM outbox WHERE seq = ?1 AND sink = ?2",
                params![seq, sink],
            )?;
        }
        tx.commit()?;
        drop(conn);
        self.lock_stats()
            .entry(sink.to_string())
            .or_default()
            .delivered += count as u64;
        Ok(())
    }

    /// Records a failed attempt: the notifications are tried again at `next_attempt_ms`.
    pub fn retry_later(
        &self,
        sink: &str,
        seqs: &[i64],
        next_attempt_ms: i64,
        error: &str,
    ) -> Result<()> {
        let error = truncate(error);
        let mut conn = self.lock_conn();
        let tx = conn.transaction()?;
        let mut count = 0;
        for seq in seqs {
            count += tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?3, last_error = ?4 \
                 WHERE seq = ?1 AND sink = ?2",
                params![seq, sink, next_attempt_ms, error],
            )?;
        }
        tx.commit()?;
        drop(conn);
        self.lock_stats()
            .entry(sink.to_string())
            .or_default()
            .retried += count as u64;
        Ok(())
    }

    /// Marks notifications rejected for good, with the reason: never tried again.
    pub fn failed(&self, sink: &str, seqs: &[i64], reason: &str, now_ms: i64) -> Result<()> {
        let reason = truncate(reason);
        let mut conn = self.lock_conn();
        let tx = conn.transaction()?;
        let mut count = 0;
        for seq in seqs {
            count += tx.execute(
                "UPDATE outbox SET attempts = attempts + 1, failed_reason = ?3, failed_ms = ?4 \
                 WHERE seq = ?1 AND sink = ?2 AND failed_reason IS NULL",
                params![seq, sink, reason, now_ms],
            )?;
        }
        tx.execute(
            "DELETE FROM outbox WHERE seq IN (SELECT seq FROM outbox \
             WHERE sink = ?1 AND failed_reason IS NOT NULL ORDER BY seq DESC LIMIT -1 OFFSET ?2)",
            params![sink, FAILED_KEPT as i64],
        )?;
        tx.commit()?;
        drop(conn);
        self.lock_stats()
            .entry(sink.to_string())
            .or_default()
            .failed += count as u64;
        Ok(())
    }

    /// The notifications `sink` rejected for good, most recent first.
    pub fn failures(&self, sink: &str) -> Result<Vec<Failed>> {
        let conn = self.lock_conn();
        let mut stmt = conn.prepare(
            "SELECT notification_id, failed_reason, attempts, failed_ms FROM outbox \
             WHERE sink = ?1 AND failed_reason IS NOT NULL ORDER BY seq DESC",
        )?;
        let rows = stmt.query_map(params![sink], |r| {
            Ok(Failed {
                notification_id: r.get(0)?,
                reason: r.get(1)?,
                attempts: r.get::<_, i64>(2)?.clamp(0, u32::MAX as i64) as u32,
                failed_ms: r.get::<_, Option<i64>>(3)?.unwrap_or(0),
            })
        })?;
        Ok(rows.collect::<rusqlite::Result<_>>()?)
    }

    /// The last error of `sink`'s oldest pending notification, if an attempt failed.
    pub fn last_error(&self, sink: &str) -> Result<Option<String>> {
        let conn = self.lock_conn();
        Ok(conn
            .query_row(
                "SELECT last_error FROM outbox WHERE sink = ?1 AND failed_reason IS NULL \
                 ORDER BY seq LIMIT 1",
                params![sink],
                |r| r.get::<_, Option<String>>(0),
            )
            .optional()?
            .flatten())
    }

    /// Every configured sink's counters and queue depth, by sink name.
    pub fn stats(&self) -> Result<BTreeMap<String, SinkStats>> {
        let mut out = self.lock_stats().clone();
        let conn = self.lock_conn();
        for (sink, stats) in out.iter_mut() {
            stats.depth = pending_count(&conn, sink)?;
        }
        Ok(out)
    }

    /// Woken when a notification is queued for `sink`.
    pub(crate) fn wake(&self, sink: &str) -> Option<Arc<Notify>> {
        self.wake.get(sink).cloned()
    }

    fn lock_conn(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves SQLite consistent (an open transaction rolls
        // back when dropped), so a poisoned lock is still usable.
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn lock_stats(&self) -> MutexGuard<'_, BTreeMap<String, SinkStats>> {
        self.stats.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn pending_count(conn: &Connection, sink: &str) -> Result<u64> {
    let n: i64 = conn.query_row(
        "SELECT COUNT(*) FROM outbox WHERE sink = ?1 AND failed_reason IS NULL",
        params![sink],
        |r| r.get(0),
    )?;
    Ok(n.max(0) as u64)
}

fn truncate(s: &str) -> &str {
    crate::prefix(s, REASON_MAX)
}
