//! kubevigil-store: the monitor's history.
//!
//! What the monitor must remember across restarts, behind one small trait ([`HistoryStore`]):
//!
//! * findings by fingerprint, with when each was first seen, last seen, resolved and reopened,
//!   and every such transition as a history entry;
//! * alerts by dedup key, with their count and first and last times;
//! * evaluation runs (scope, completeness, counts);
//! * retention ([`DEFAULT_RETENTION_MS`], 90 days) and ordered schema migrations.
//!
//! [`HistoryStore::record_run`] answers what a run changed (new, reopened, resolved), so that the
//! monitor alerts on exactly that; a finding already open in the store is not new, even after a
//! restart. [`SqliteStore`] is the embedded implementation (one file under the state directory,
//! WAL); a shared PostgreSQL store for fleets is meant to be a second implementation of the same
//! trait, which is why the trait speaks in plain records and milliseconds, not in SQLite types,
//! and never reads the clock. Fingerprints name an object, not its cluster: a fleet store is
//! opened for one cluster (its handle carries the cluster name, its rows and keys too), so the
//! trait's calls stay the same; listing across clusters is that store's own addition.
//!
//! Only fields of [`Finding`] and of the alert are stored, never objects: messages are redacted by
//! the checks, alert subjects by the detector (a secret value as `<redacted:HASH>`).

#![forbid(unsafe_code)]

mod history;
mod schema;
mod sqlite;

use std::collections::BTreeSet;
use std::path::PathBuf;

use kubevigil_detect::DetectionAlert;
use kubevigil_model::{Finding, ObjectKey, ObjectRef, Severity};
use serde::Serialize;

pub use history::{Format, render};
pub use schema::SCHEMA_VERSION;
pub use sqlite::{SqliteStore, create_private_dir, create_private_file};

/// How long resolved findings, alerts and runs are kept by default: 90 days.
pub const DEFAULT_RETENTION_MS: i64 = 90 * 86_400_000;

/// The database file in the state directory.
pub const DB_FILE: &str = "history.db";

/// What can go wrong with the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    // Not a `source`: SQLite's message already says what its source would repeat.
    #[error("history database: {0}")]
    Sqlite(rusqlite::Error),
    #[error("cannot create the state directory {path}: {source}")]
    StateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    /// Written by a newer kubevigil: its layout is unknown, and migrating down would lose data.
    #[error(
        "history database schema version {found} is newer than this kubevigil knows ({known}); upgrade kubevigil"
    )]
    SchemaTooNew { found: i64, known: i64 },
    /// Opened for reading only, so it cannot be migrated: the monitor that writes it
    /// migrates it when it starts.
    #[error(
        "history database schema version {found} is not the one this kubevigil reads ({known}); the monitor migrates it when it starts"
    )]
    SchemaMismatch { found: i64, known: i64 },
    /// Alerts are kept by dedup key: one without would merge with every other.
    #[error("alert of rule {0:?} has no dedup key")]
    NoDedupKey(String),
    #[error("history database holds an unreadable value: {0}")]
    Corrupt(String),
    #[error(transparent)]
    Io(#[from] std::io::Error),
}

impl From<rusqlite::Error> for StoreError {
    fn from(e: rusqlite::Error) -> Self {
        StoreError::Sqlite(e)
    }
}

pub type Result<T> = std::result::Result<T, StoreError>;

/// Which objects an evaluation covered.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Objects {
    /// The whole inventory.
    All,
    /// The objects of one namespace (cluster-scoped objects excluded).
    Namespace(String),
    /// One object (a watch event, an admission).
    Object(ObjectKey),
}

/// Which checks an evaluation ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Checks {
    All,
    /// These check ids only: an object re-evaluated by its object-scope checks must not resolve
    /// what cluster-scope checks found about it.
    Only(BTreeSet<String>),
}

/// What an evaluation covered: the findings it could have produced are those of these checks
/// about these objects.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    pub objects: Objects,
    pub checks: Checks,
}

impl Scope {
    /// Every check over the whole inventory.
    pub fn everything() -> Scope {
        Scope {
            objects: Objects::All,
            checks: Checks::All,
        }
    }
}

/// One evaluation: what it covered and what it found.
#[derive(Debug, Clone, Copy)]
pub struct Run<'a> {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub scope: &'a Scope,
    /// Whether every object of the scope was read and evaluated. Only a complete evaluation
    /// resolves what it did not find: a forbidden list or a timeout is not a fix.
    pub complete: bool,
    /// Findings of the scope's checks about the scope's objects.
    pub findings: &'a [Finding],
}

/// Findings that appeared and disappeared since the last record, as an evaluator that follows
/// changes (the monitor's watches) tells them.
#[derive(Debug, Clone, Copy)]
pub struct Changes<'a> {
    /// Milliseconds since the Unix epoch.
    pub time_ms: i64,
    pub appeared: &'a [Finding],
    pub gone: &'a [Finding],
}

/// How a finding's state changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Transition {
    /// Never seen before.
    New,
    /// Seen, resolved, and now seen again.
    Reopened,
    /// Open, and absent from a complete evaluation of its scope.
    Resolved,
}

impl Transition {
    pub fn as_str(self) -> &'static str {
        match self {
            Transition::New => "new",
            Transition::Reopened => "reopened",
            Transition::Resolved => "resolved",
        }
    }

    fn parse(s: &str) -> Option<Transition> {
        match s {
            "new" => Some(Transition::New),
            "reopened" => Some(Transition::Reopened),
            "resolved" => Some(Transition::Resolved),
            _ => None,
        }
    }
}

/// A finding as the store keeps it: the fields of [`Finding`] that identify and describe it
/// (not its file location, which names the operator's files), and its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FindingRecord {
    pub fingerprint: String,
    pub check_id: String,
    pub severity: Severity,
    pub title: String,
    pub message: String,
    pub object: ObjectRef,
    pub field_path: String,
    /// Milliseconds since the epoch.
    pub first_seen: i64,
    pub last_seen: i64,
    /// When it was last resolved; `None` while open.
    pub resolved_at: Option<i64>,
    /// When it last reopened; `None` if it never did.
    pub reopened_at: Option<i64>,
}

impl FindingRecord {
    /// A finding as the store keeps it, first and last seen at `time_ms`, open.
    pub fn of(f: &Finding, time_ms: i64) -> FindingRecord {
        FindingRecord {
            fingerprint: f.fingerprint.clone(),
            check_id: f.check_id.to_string(),
            severity: f.severity,
            title: f.title.to_string(),
            message: f.message.clone(),
            object: (*f.object).clone(),
            field_path: f.location.field_path.clone(),
            first_seen: time_ms,
            last_seen: time_ms,
            resolved_at: None,
            reopened_at: None,
        }
    }

    /// Whether the finding is open.
    pub fn is_open(&self) -> bool {
        self.resolved_at.is_none()
    }
}

/// What one run changed: the monitor alerts on these and on nothing else.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Transitions {
    /// The run's id in the store.
    pub run_id: i64,
    pub new: Vec<FindingRecord>,
    pub reopened: Vec<FindingRecord>,
    pub resolved: Vec<FindingRecord>,
    /// Findings of the run that were already open.
    pub unchanged: usize,
}

impl Transitions {
    /// Whether the run changed nothing.
    pub fn is_empty(&self) -> bool {
        self.new.is_empty() && self.reopened.is_empty() && self.resolved.is_empty()
    }
}

/// An alert as the store keeps it: its dedup key, what raised it and about whom, and how often.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct AlertRecord {
    pub dedup_key: String,
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    /// The namespace of the first event's object, when it has one.
    pub namespace: Option<String>,
    /// The correlation group or the actor ([`DetectionAlert::who`]; secret values are hashes).
    pub subject: String,
    /// Occurrences over every period recorded.
    pub count: u64,
    /// What its first event did: `verb resource[/subresource] [namespace/]name` (empty for an
    /// alert recorded before kubevigil kept it). Not in `kubevigil history -o json`.
    #[serde(skip)]
    pub action: String,
    pub first_seen: i64,
    pub last_seen: i64,
}

/// What the store already knew of an alert it was given.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertSeen {
    /// A dedup key never seen: alert.
    New,
    /// A known key with occurrences not recorded yet: its count grew.
    Repeat,
    /// Every occurrence was already recorded (the same alert again, e.g. an audit log read
    /// again after a restart): nothing changed, do not alert.
    Known,
}

/// A history entry: a finding's transition at a time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FindingEvent {
    pub time_ms: i64,
    pub transition: Transition,
    pub finding: FindingRecord,
}

/// Which history to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct HistoryQuery {
    /// Entries at or after this time (ms since the epoch).
    pub since_ms: i64,
    /// Only findings about objects in this namespace and alerts about it.
    pub namespace: Option<String>,
}

/// What [`HistoryStore::prune`] deleted.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Pruned {
    pub findings: usize,
    pub events: usize,
    pub alerts: usize,
    pub runs: usize,
}

/// The operations the monitor needs from its history, whatever keeps it.
///
/// Times are milliseconds since the Unix epoch, given by the caller (the monitor's clock, event
/// times for alerts), so that a store never reads the clock itself.
pub trait HistoryStore {
    /// Records an evaluation and returns what it changed. A finding of the run not open in the
    /// store is new or reopened; when the run is complete, an open finding of its scope that
    /// the run did not find is resolved. Atomic: all of it or nothing.
    fn record_run(&mut self, run: &Run<'_>) -> Result<Transitions>;

    /// Records changes seen between evaluations (a watched object changed): the findings that
    /// appeared are new, reopened or (already open) refreshed; those gone are resolved if open.
    /// Atomic.
    fn record_changes(&mut self, changes: &Changes<'_>) -> Result<Transitions>;

    /// Records an alert under its dedup key; says whether it was known.
    fn record_alert(&mut self, alert: &DetectionAlert, now_ms: i64) -> Result<AlertSeen>;

    /// Calls `visit` on each finding transition of the query, oldest first, reading as it goes.
    fn finding_history(
        &self,
        query: &HistoryQuery,
        visit: &mut dyn FnMut(FindingEvent) -> std::io::Result<()>,
    ) -> Result<()>;

    /// How many findings are open, by namespace (`None` for cluster-scoped objects) and
    /// severity, counted by the store.
    fn open_counts(&self) -> Result<Vec<(Option<String>, Severity, u64)>>;

    /// Calls `visit` on each finding transition, oldest first, with only its time and the
    /// finding's severity (what a trend needs; no record is built).
    fn transitions(&self, visit: &mut dyn FnMut(i64, Severity, Transition)) -> Result<()>;

    /// Calls `visit` on each alert last seen at or after `query.since_ms`, oldest first.
    fn alert_history(
        &self,
        query: &HistoryQuery,
        visit: &mut dyn FnMut(AlertRecord) -> std::io::Result<()>,
    ) -> Result<()>;

    /// The finding with this fingerprint, open or resolved.
    fn finding(&self, fingerprint: &str) -> Result<Option<FindingRecord>>;

    /// The findings kept about one object (by namespace, kind and name), open or resolved.
    fn findings_of(&self, object: &ObjectRef) -> Result<Vec<FindingRecord>>;

    /// Calls `visit` on every finding kept, open or resolved, the most recently seen first,
    /// reading as it goes (the dashboard's findings list).
    fn findings(&self, visit: &mut dyn FnMut(FindingRecord) -> std::io::Result<()>) -> Result<()>;

    /// Marks every open finding as seen at `time_ms` (its `last seen`), in one statement:
    /// what a monitor that records changes as they happen does between whole evaluations.
    /// Returns how many.
    fn touch_open(&mut self, time_ms: i64) -> Result<usize>;

    /// Calls `visit` on each open finding, by fingerprint, reading as it goes (what the monitor
    /// sends Alertmanager again so that it stays firing).
    fn open_findings(
        &self,
        visit: &mut dyn FnMut(FindingRecord) -> std::io::Result<()>,
    ) -> Result<()>;

    /// Deletes findings resolved before `before_ms`, history entries, alerts last seen and runs
    /// made before it. Open findings are kept however old: they are still true.
    fn prune(&mut self, before_ms: i64) -> Result<Pruned>;
}

/// The platform's state directory for kubevigil: `$XDG_STATE_HOME/kubevigil`, else
/// `~/.local/state/kubevigil` (XDG Base Directory specification; a relative `XDG_STATE_HOME`
/// is ignored, as the specification says); on Windows `%LOCALAPPDATA%\kubevigil`. `None` when
/// none of these variables is set.
pub fn default_state_dir() -> Option<PathBuf> {
    let var = |name: &str| {
        std::env::var_os(name)
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
    };
    if cfg!(windows) {
        return var("LOCALAPPDATA").map(|p| p.join("kubevigil"));
    }
    var("XDG_STATE_HOME")
        .map(|p| p.join("kubevigil"))
        .or_else(|| var("HOME").map(|h| h.join(".local/state/kubevigil")))
}

/// Milliseconds since the Unix epoch, now.
pub use kubevigil_model::time::now_ms;
