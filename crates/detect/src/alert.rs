//! The alert contract: what `kubevigil audit detect -o json` prints, one alert per line
//! (scripts depend on it):
//! `{"rule","title","severity","time","tags","group","count","events":[{"auditID","user",
//! "sourceIPs","verb","objectRef","responseStatus"}]}`.

use kubevigil_model::Severity;
use kubevigil_sigma::Alert;
use serde_json::{Value, json};

use crate::audit::CONTRACT_FIELDS;

/// One alert: a rule matched an event, or a correlation fired over several.
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionAlert {
    /// The rule's `id`.
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    /// Event time (RFC 3339, UTC, milliseconds), when the event carried one.
    pub time: Option<String>,
    pub tags: Vec<String>,
    /// A correlation's group-by fields and values (a secret value as `<redacted:HASH>`);
    /// `None` for a single-event rule.
    pub group: Option<Vec<(String, String)>>,
    /// Events that made the alert (1 for a single-event rule).
    pub count: u64,
    /// The event, or up to 3 sample events of a correlation, each as
    /// [`crate::audit::sample`] keeps it: request attributes only, never bodies.
    pub events: Vec<Value>,
}

impl DetectionAlert {
    /// The engine's alert, with samples made by [`crate::audit::sample`].
    pub fn from_engine(a: &Alert<String>) -> DetectionAlert {
        DetectionAlert {
            rule: a.rule.id.clone(),
            title: a.rule.title.clone(),
            severity: a.rule.severity(),
            time: a.time_ms.map(kubevigil_model::time::format_rfc3339_ms),
            tags: a.rule.tags.clone(),
            group: a.correlation.then(|| a.group.clone()),
            count: a.count,
            events: a
                .samples
                .iter()
                .map(|s| serde_json::from_str(s).unwrap_or(Value::Null))
                .collect(),
        }
    }

    /// The alert as the JSON contract: the event samples keep only [`CONTRACT_FIELDS`].
    pub fn to_json(&self) -> Value {
        let group = match &self.group {
            Some(group) => Value::Object(
                group
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect(),
            ),
            None => Value::Null,
        };
        json!({
            "rule": self.rule,
            "title": self.title,
            "severity": self.severity.as_str(),
            "time": self.time,
            "tags": self.tags,
            "group": group,
            "count": self.count,
            "events": self.events.iter().map(contract_event).collect::<Vec<_>>(),
        })
    }
}

fn contract_event(sample: &Value) -> Value {
    Value::Object(
        CONTRACT_FIELDS
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    sample.get(*k).cloned().unwrap_or(Value::Null),
                )
            })
            .collect(),
    )
}
