//! The signal envelope: a finding or an alert, with what every consumer needs to file it.

use kubevigil_detect::DetectionAlert;
use kubevigil_model::{Finding, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

/// One thing kubevigil reports: a finding about the cluster's state or an alert about what
/// happened in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Signal {
    /// When it was observed (alerts: the event time) in RFC 3339 UTC; `None` when unknown
    /// (a finding of a batch scan, an event without a time).
    pub time: Option<String>,
    pub severity: Severity,
    /// What it is about: `Kind namespace/name` for a finding; for an alert, the correlation
    /// group (`field=value, ...`) or the user of its first event.
    pub subject: String,
    /// Identity for deduplication and history: a finding's fingerprint; an alert's dedup key
    /// (rule, group, or the first event's auditID).
    pub key: String,
    pub body: Body,
}

/// What the signal carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "data", rename_all = "lowercase")]
pub enum Body {
    Finding(Box<Finding>),
    /// The alert as its JSON contract ([`DetectionAlert::to_json`]): redacted samples only.
    Alert(Value),
}

impl Signal {
    /// A finding, observed at `time` (when known).
    pub fn finding(f: &Finding, time: Option<String>) -> Signal {
        Signal {
            time,
            severity: f.severity,
            subject: object_label(f),
            key: f.fingerprint.clone(),
            body: Body::Finding(Box::new(f.clone())),
        }
    }

    /// An alert. Its payload is the alert contract, so a sink prints exactly what `audit
    /// detect -o json` would: samples without bodies, secret group values as hashes.
    pub fn alert(a: &DetectionAlert) -> Signal {
        let first_user = a
            .events
            .first()
            .and_then(|e| e.pointer("/user/username"))
            .and_then(Value::as_str);
        let subject = match (&a.group, first_user) {
            (Some(group), _) => group
                .iter()
                .map(|(k, v)| format!("{k}={v}"))
                .collect::<Vec<_>>()
                .join(", "),
            (None, Some(user)) => format!("user={user}"),
            (None, None) => String::new(),
        };
        let mut h = Sha256::new();
        h.update(a.rule.as_bytes());
        h.update([0u8]);
        match &a.group {
            Some(group) => {
                for (k, v) in group {
                    h.update(k.as_bytes());
                    h.update([0u8]);
                    h.update(v.as_bytes());
                    h.update([0u8]);
                }
            }
            None => {
                let id = a
                    .events
                    .first()
                    .and_then(|e| e.get("auditID"))
                    .and_then(Value::as_str)
                    .unwrap_or("");
                h.update(id.as_bytes());
            }
        }
        let key = kubevigil_model::text::hex(&h.finalize()[..16]);
        Signal {
            time: a.time.clone(),
            severity: a.severity,
            subject,
            key,
            body: Body::Alert(a.to_json()),
        }
    }

    /// `finding` or `alert`.
    pub fn kind(&self) -> &'static str {
        match self.body {
            Body::Finding(_) => "finding",
            Body::Alert(_) => "alert",
        }
    }

    /// The rule that raised it: a check id or a Sigma rule id.
    pub fn rule(&self) -> &str {
        match &self.body {
            Body::Finding(f) => &f.check_id,
            Body::Alert(a) => a.get("rule").and_then(Value::as_str).unwrap_or(""),
        }
    }

    /// One line saying what happened: a finding's message, an alert's rule title.
    pub fn summary(&self) -> &str {
        match &self.body {
            Body::Finding(f) => &f.message,
            Body::Alert(a) => a.get("title").and_then(Value::as_str).unwrap_or(""),
        }
    }
}

fn object_label(f: &Finding) -> String {
    let o = &f.object;
    match &o.namespace {
        Some(ns) => format!("{} {ns}/{}", o.kind, o.name),
        None => format!("{} {}", o.kind, o.name),
    }
}
