//! What a sink is told: a finding that appeared, reopened or was resolved, or a detection.
//!
//! A [`Notification`] is built from what the store says changed ([`kubevigil_store::Transitions`],
//! [`kubevigil_store::AlertSeen`]), so that only what is new since the last run is sent: what the
//! store already knew at start is never a notification. It carries only fields of the finding or
//! the alert (already redacted by the checks and the detector), never an object.
//!
//! Texts are kept raw here (the outbox stores them as they are); each sink escapes them in its
//! own syntax when it renders them.

use std::collections::BTreeMap;

use kubevigil_detect::DetectionAlert;
use kubevigil_detect::alert::action;
use kubevigil_model::Severity;
use kubevigil_model::text::percent_encode;
use kubevigil_store::{FindingRecord, Transition};
use serde::{Deserialize, Serialize};

/// Whether the condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Firing,
    Resolved,
}

/// What the notification is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Source {
    /// A posture finding (state): open until a complete evaluation no longer finds it.
    Finding,
    /// A detection (event): it happened, nothing resolves it.
    Detection,
}

/// How a finding's state changed (the store's [`Transition`], kept in the outbox).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Change {
    New,
    Reopened,
    Resolved,
}

impl From<Transition> for Change {
    fn from(t: Transition) -> Change {
        match t {
            Transition::New => Change::New,
            Transition::Reopened => Change::Reopened,
            Transition::Resolved => Change::Resolved,
        }
    }
}

impl Change {
    pub fn as_str(self) -> &'static str {
        match self {
            Change::New => "new",
            Change::Reopened => "reopened",
            Change::Resolved => "resolved",
        }
    }
}

/// One thing to tell the sinks.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Notification {
    /// Stable identity of this notification: the same transition or alert occurrence always
    /// gets the same id, so a receiver can drop a repeat (delivery is at least once), and the
    /// outbox queues it once per sink however often it is enqueued.
    pub id: String,
    pub source: Source,
    pub status: Status,
    /// The finding's transition (`new`, `reopened`, `resolved`); `None` for a detection.
    pub change: Option<Change>,
    pub severity: Severity,
    /// What identifies the condition, the same when it fires and when it resolves (Alertmanager
    /// matches a resolution to its alert by these): `alertname`, `severity`, `rule`,
    /// `namespace`, `kind`, `name`, `cluster`, and `fingerprint` (finding) or `dedup_key`
    /// (detection). Absent values are left out, never sent empty.
    pub labels: BTreeMap<String, String>,
    /// What describes it: `summary`, `description`, `runbook_url` when known.
    pub annotations: BTreeMap<String, String>,
    /// Milliseconds since the epoch: when the condition started.
    pub starts_at_ms: i64,
    /// When it was resolved; `None` while firing.
    pub ends_at_ms: Option<i64>,
    /// A link back to kubevigil (a dashboard), when the monitor has one.
    pub generator_url: Option<String>,
    /// An open finding sent again so that Alertmanager keeps it firing
    /// ([`Notification::refresh`]): only routes whose filter takes refreshes get it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub refresh: bool,
}

/// What every notification of one monitor shares.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Context {
    /// The cluster's name (`cluster` label); left out when empty.
    pub cluster: String,
    /// `runbook_url` is this followed by the rule id, when set (for example the rule docs).
    pub runbook_base_url: Option<String>,
    /// Where people reach the monitor's dashboard (`--dashboard-url`): each notification links
    /// to its own page there (`generator_url`).
    pub dashboard_url: Option<String>,
}

/// `path` (which starts with `/`) on the dashboard, when its URL is known.
fn dashboard_link(ctx: &Context, path: &str) -> Option<String> {
    ctx.dashboard_url
        .as_deref()
        .map(|base| format!("{}{path}", base.trim_end_matches('/')))
}

impl Notification {
    /// A finding's transition, at `time_ms` (the run's time; the resolution time when resolved).
    pub fn finding(
        ctx: &Context,
        finding: &FindingRecord,
        transition: Transition,
        time_ms: i64,
    ) -> Notification {
        let mut labels = BTreeMap::new();
        labels.insert("alertname".into(), finding.title.clone());
        labels.insert("severity".into(), finding.severity.as_str().into());
        labels.insert("rule".into(), finding.check_id.clone());
        insert_some(
            &mut labels,
            "namespace",
            finding.object.namespace.as_deref(),
        );
        insert_some(&mut labels, "kind", Some(&finding.object.kind));
        insert_some(&mut labels, "name", Some(&finding.object.name));
        insert_some(&mut labels, "cluster", Some(&ctx.cluster));
        labels.insert("fingerprint".into(), finding.fingerprint.clone());

        let mut annotations = BTreeMap::new();
        annotations.insert("summary".into(), finding.title.clone());
        annotations.insert("description".into(), finding.message.clone());
        insert_runbook(&mut annotations, ctx, &finding.check_id);

        // A reopened finding fires again from its reopening, not from when it was first seen.
        let starts_at_ms = finding.reopened_at.unwrap_or(finding.first_seen);
        let (status, ends_at_ms) = match transition {
            Transition::Resolved => (
                Status::Resolved,
                Some(finding.resolved_at.unwrap_or(time_ms)),
            ),
            Transition::New | Transition::Reopened => (Status::Firing, None),
        };
        Notification {
            id: format!(
                "finding/{}/{}/{}",
                finding.fingerprint,
                transition.as_str(),
                ends_at_ms.unwrap_or(starts_at_ms)
            ),
            source: Source::Finding,
            status,
            change: Some(transition.into()),
            severity: finding.severity,
            labels,
            annotations,
            starts_at_ms,
            ends_at_ms,
            generator_url: dashboard_link(
                ctx,
                &format!("/findings/{}", percent_encode(&finding.fingerprint)),
            ),
            refresh: false,
        }
    }

    /// An open finding told again, for Alertmanager only: Alertmanager resolves an alert by
    /// itself at its `endsAt`, so a client re-sends what is still firing ("Clients are expected
    /// to continuously re-send alerts as long as they are still active",
    /// <https://prometheus.io/docs/alerting/clients/>). The same labels as the finding's other
    /// notifications; the id is one per finding and episode (its start), so that while a
    /// refresh waits in a queue (Alertmanager down) the next one is not queued beside it.
    pub fn refresh(ctx: &Context, finding: &FindingRecord) -> Notification {
        let mut n = Notification::finding(ctx, finding, Transition::New, finding.last_seen);
        n.id = format!("finding/{}/refresh/{}", finding.fingerprint, n.starts_at_ms);
        n.change = None;
        n.refresh = true;
        n
    }

    /// The resolution of a finding a refresh may have overtaken (the finding resolved between
    /// the refresh's read of the store and its enqueue): a refresh too, so that only the sinks
    /// that got the refresh get it again.
    pub fn refresh_resolved(ctx: &Context, finding: &FindingRecord) -> Notification {
        let time = finding.resolved_at.unwrap_or(finding.last_seen);
        let mut n = Notification::finding(ctx, finding, Transition::Resolved, time);
        n.id = format!("{}/after-refresh", n.id);
        n.refresh = true;
        n
    }

    /// A detection the store had not seen (new, or its count grew), at `now_ms` when the alert
    /// carries no event time.
    pub fn detection(ctx: &Context, alert: &DetectionAlert, now_ms: i64) -> Notification {
        let act = action(alert.first_event());
        let name = if alert.name().is_empty() {
            &alert.title
        } else {
            alert.name()
        };
        let mut labels = BTreeMap::new();
        labels.insert("alertname".into(), name.to_string());
        labels.insert("severity".into(), alert.severity.as_str().into());
        labels.insert("rule".into(), alert.rule.clone());
        insert_some(&mut labels, "namespace", act["namespace"].as_str());
        // The audit event names a resource (`secrets`), not a kind; it is what there is.
        insert_some(&mut labels, "kind", act["resource"].as_str());
        insert_some(&mut labels, "name", act["name"].as_str());
        insert_some(&mut labels, "cluster", Some(&ctx.cluster));
        // 16 hex digits, as in the alert JSON contract: distinct alerts of one rule stay apart.
        let dedup = crate::prefix(&alert.dedup_key, 16);
        insert_some(&mut labels, "dedup_key", Some(dedup));

        let mut annotations = BTreeMap::new();
        annotations.insert("summary".into(), alert.title.clone());
        let mut description = alert.doc.description.trim().to_string();
        if !description.is_empty() {
            description.push(' ');
        }
        description.push_str(&format!("Who: {}. Events: {}.", alert.who(), alert.count));
        annotations.insert("description".into(), description);
        insert_runbook(&mut annotations, ctx, &alert.rule);

        let starts_at_ms = alert.first_seen.unwrap_or(now_ms);
        Notification {
            // The count makes a repeat (the same key, more events) a new notification, and the
            // same occurrence read again the same one.
            id: format!("detection/{}/{}", alert.dedup_key, alert.count),
            source: Source::Detection,
            status: Status::Firing,
            change: None,
            severity: alert.severity,
            labels,
            annotations,
            starts_at_ms,
            ends_at_ms: None,
            generator_url: dashboard_link(
                ctx,
                &format!("/alerts#rule-{}", percent_encode(&alert.rule)),
            ),
            refresh: false,
        }
    }

    /// A problem of the monitor itself (its audit spool full, a watch lost): `alertname` is
    /// `name`, `rule` is `kubevigil-monitor`. One notification per `name` and ten minutes, so a
    /// condition that lasts is told again without flooding the sinks.
    pub fn monitor(
        ctx: &Context,
        name: &str,
        severity: Severity,
        summary: &str,
        description: &str,
        now_ms: i64,
    ) -> Notification {
        let mut labels = BTreeMap::new();
        labels.insert("alertname".into(), name.to_string());
        labels.insert("severity".into(), severity.as_str().into());
        labels.insert("rule".into(), "kubevigil-monitor".into());
        insert_some(&mut labels, "cluster", Some(&ctx.cluster));
        let mut annotations = BTreeMap::new();
        annotations.insert("summary".into(), summary.to_string());
        annotations.insert("description".into(), description.to_string());
        let period = now_ms.div_euclid(600_000);
        Notification {
            id: format!("monitor/{name}/{period}"),
            source: Source::Detection,
            status: Status::Firing,
            change: None,
            severity,
            labels,
            annotations,
            starts_at_ms: now_ms,
            ends_at_ms: None,
            generator_url: dashboard_link(ctx, "/"),
            refresh: false,
        }
    }

    /// The `summary` annotation, or the id when there is none.
    pub fn summary(&self) -> &str {
        self.annotations
            .get("summary")
            .map(String::as_str)
            .unwrap_or(&self.id)
    }
}

fn insert_some(map: &mut BTreeMap<String, String>, key: &str, value: Option<&str>) {
    if let Some(v) = value.filter(|v| !v.is_empty()) {
        map.insert(key.to_string(), v.to_string());
    }
}

fn insert_runbook(annotations: &mut BTreeMap<String, String>, ctx: &Context, rule: &str) {
    if let Some(base) = &ctx.runbook_base_url {
        annotations.insert("runbook_url".into(), format!("{base}{rule}"));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubevigil_model::ObjectRef;

    fn record() -> FindingRecord {
        FindingRecord {
            fingerprint: "abc".into(),
            check_id: "pss-privileged".into(),
            severity: Severity::High,
            title: "Privileged container".into(),
            message: "runs privileged".into(),
            object: ObjectRef {
                api_version: "v1".into(),
                kind: "Node".into(),
                namespace: None,
                name: "n1".into(),
            },
            field_path: String::new(),
            first_seen: 1_000,
            last_seen: 5_000,
            resolved_at: None,
            reopened_at: None,
        }
    }

    #[test]
    fn a_finding_fires_and_resolves_under_the_same_labels() {
        let ctx = Context::default();
        let open = record();
        let new = Notification::finding(&ctx, &open, Transition::New, 5_000);
        assert_eq!(new.status, Status::Firing);
        assert_eq!((new.starts_at_ms, new.ends_at_ms), (1_000, None));
        assert_eq!(new.id, "finding/abc/new/1000");
        // No namespace (cluster-scoped), no cluster name: left out, not empty.
        assert!(!new.labels.contains_key("namespace"));
        assert!(!new.labels.contains_key("cluster"));
        assert!(!new.annotations.contains_key("runbook_url"));

        let fixed = FindingRecord {
            resolved_at: Some(9_000),
            ..record()
        };
        let resolved = Notification::finding(&ctx, &fixed, Transition::Resolved, 9_500);
        assert_eq!(resolved.status, Status::Resolved);
        assert_eq!(
            (resolved.starts_at_ms, resolved.ends_at_ms),
            (1_000, Some(9_000))
        );
        assert_eq!(resolved.labels, new.labels);
        assert_eq!(resolved.id, "finding/abc/resolved/9000");

        let again = FindingRecord {
            reopened_at: Some(12_000),
            ..record()
        };
        let reopened = Notification::finding(&ctx, &again, Transition::Reopened, 12_000);
        assert_eq!(reopened.starts_at_ms, 12_000);
        assert_eq!(reopened.id, "finding/abc/reopened/12000");
        assert_eq!(reopened.change, Some(Change::Reopened));
    }

    #[test]
    fn a_detection_repeat_is_a_new_notification() {
        let ctx = Context {
            cluster: "c1".into(),
            ..Context::default()
        };
        let mut alert = DetectionAlert {
            rule: "r1".into(),
            title: "T".into(),
            dedup_key: "0123456789abcdef0123".into(),
            ..DetectionAlert::default()
        };
        let first = Notification::detection(&ctx, &alert, 7_000);
        assert_eq!(first.starts_at_ms, 7_000);
        assert_eq!(first.labels["alertname"], "T");
        assert_eq!(first.labels["dedup_key"], "0123456789abcdef");
        assert_eq!(first.labels["cluster"], "c1");
        alert.count = 3;
        let repeat = Notification::detection(&ctx, &alert, 8_000);
        assert_ne!(first.id, repeat.id);
        assert_eq!(first.labels, repeat.labels);
    }

    #[test]
    fn a_notification_survives_the_outbox_encoding() {
        let n = Notification::finding(&Context::default(), &record(), Transition::New, 1);
        let back: Notification = serde_json::from_str(&serde_json::to_string(&n).unwrap()).unwrap();
        assert_eq!(back, n);
    }
}
