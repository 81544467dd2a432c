//! Incidents across sources: an exec into a pod through the API (an audit alert) followed by
//! what Falco saw in that pod (a Falco alert) is one incident, told as one alert holding both
//! events (issue 19, point 2).
//!
//! The audit side is an alert of [`EXEC_RULES`] about `pods/exec`, `pods/attach` or
//! `pods/ephemeralcontainers`; the Falco side a Falco alert of priority Notice or above about a
//! pod. They join when they name the same pod and the Falco alert's time falls within
//! [`WINDOW_MS`] after the exec's (or up to [`SKEW_MS`] before it: a node's clock and the API
//! server's differ, and the audit event of an exec is written when its stream starts). Either
//! may arrive first: the audit webhook sends batches, Falco each alert at once. One incident per
//! exec alert (its dedup key), told with the first Falco alert that joins it.
//!
//! Memory is bounded: each side holds at most [`MAX_HELD`] alerts, the oldest dropped first, and
//! an alert is dropped once the other side's time has passed its window.

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::{Arc, LazyLock};

use kubevigil_model::Severity;
use kubevigil_model::time::format_rfc3339_ms;
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::DetectionAlert;
use crate::rules::RuleDoc;

/// The audit rules whose alerts open a pod to a person: exec, attach, ephemeral containers.
pub const EXEC_RULES: [&str; 5] = [
    "k8s_pod_exec",
    "k8s_pod_exec_shell",
    "k8s_pod_exec_token_read",
    "k8s_pod_attach",
    "k8s_ephemeral_container",
];

/// How long after an exec what Falco sees in the pod belongs to it.
pub const WINDOW_MS: i64 = 10 * 60 * 1000;

/// How much earlier than the exec a Falco alert may be stamped and still join it.
pub const SKEW_MS: i64 = 60 * 1000;

/// The most alerts each side holds.
pub const MAX_HELD: usize = 10_000;

/// The incident's readable name (its `name` in the alert contract).
pub const NAME: &str = "incident_exec_then_falco";

/// What an incident alert says of itself (its "rule").
pub static DOC: LazyLock<Arc<RuleDoc>> = LazyLock::new(|| {
    Arc::new(RuleDoc {
        id: "5e0c8a51-6f0e-5c8e-9a43-1d7c1f0b2e90".into(),
        name: NAME.into(),
        title: "Exec into a pod, then Falco alerts in it".into(),
        severity: Severity::High,
        description: "Someone opened a pod through the API (exec, attach or an ephemeral \
                      container) and Falco then saw suspicious behaviour in that pod within ten \
                      minutes: the API request and what was done inside, as one incident."
            .into(),
        why: Some(
            "The audit log says who got in; Falco says what they did. Together they show an \
             interactive session doing what Falco's rules flag, which is how stolen credentials \
             are used against workloads."
                .into(),
        ),
        false_positives: vec![
            "An engineer debugging a pod, when their session trips Falco's rules".into(),
        ],
        next_steps: vec![
            "Ask the user named as the actor whether the session was theirs and planned.".into(),
            "Read the Falco alert's process and command line, and every Falco alert on the pod \
             since."
                .into(),
            "If it was not planned, revoke the user's credentials, isolate the pod and keep it \
             for forensics."
                .into(),
        ],
        tags: vec![
            "attack.execution".into(),
            "attack.t1609".into(),
            "attack.t1059".into(),
        ],
        dedup: None,
    })
});

#[derive(Debug)]
struct Held {
    time: i64,
    pod: (String, String),
    alert: DetectionAlert,
}

/// One side's held alerts: by pod, and in arrival order for the bound.
#[derive(Debug, Default)]
struct Side {
    by_pod: HashMap<(String, String), Vec<usize>>,
    order: VecDeque<(u64, Held)>,
    next: u64,
    /// The latest time seen on this side.
    latest: Option<i64>,
}

impl Side {
    /// Holds `held`; returns what the bound dropped.
    fn push(&mut self, held: Held) -> Option<Held> {
        self.latest = Some(self.latest.map_or(held.time, |t| t.max(held.time)));
        let dropped = if self.order.len() >= MAX_HELD {
            self.pop_front()
        } else {
            None
        };
        let id = self.next;
        self.next += 1;
        self.by_pod
            .entry(held.pod.clone())
            .or_default()
            .push(id as usize);
        self.order.push_back((id, held));
        dropped
    }

    fn pop_front(&mut self) -> Option<Held> {
        let (id, held) = self.order.pop_front()?;
        if let Some(ids) = self.by_pod.get_mut(&held.pod) {
            ids.retain(|i| *i as u64 != id);
            if ids.is_empty() {
                self.by_pod.remove(&held.pod);
            }
        }
        Some(held)
    }

    fn get(&self, id: usize) -> Option<&Held> {
        let first = self.order.front()?.0;
        let i = (id as u64).checked_sub(first)?;
        self.order.get(i as usize).map(|(_, h)| h)
    }

    fn on_pod(&self, pod: &(String, String)) -> impl Iterator<Item = &Held> {
        self.by_pod
            .get(pod)
            .into_iter()
            .flatten()
            .filter_map(|id| self.get(*id))
    }

    /// Drops what is older than `before`, from the first held on (arrival order is time
    /// order enough); returns what it dropped.
    fn expire(&mut self, before: i64) -> Vec<Held> {
        let mut dropped = Vec::new();
        while self.order.front().is_some_and(|(_, h)| h.time < before) {
            dropped.extend(self.pop_front());
        }
        dropped
    }
}

/// Joins exec alerts with the Falco alerts of the same pod (see the module documentation).
#[derive(Debug, Default)]
pub struct ExecThenFalco {
    execs: Side,
    falco: Side,
    /// The dedup keys of exec alerts already told as incidents (dropped with their exec).
    told: HashSet<String>,
    /// Whether alerts are dropped once the other side's time passed them (a stream), or only
    /// for the bound (files: alerts come out of their dedup periods, not in time order).
    files: bool,
}

enum Kind {
    Exec,
    Falco,
}

fn classify(a: &DetectionAlert) -> Option<(Kind, (String, String), i64)> {
    let first = a.first_event();
    let or = &first["objectRef"];
    let pod = (
        or["namespace"].as_str()?.to_string(),
        or["name"].as_str()?.to_string(),
    );
    if or["resource"] != "pods" {
        return None;
    }
    let time = if a.update { a.last_seen } else { a.first_seen }?;
    if EXEC_RULES.contains(&a.name())
        && matches!(
            or["subresource"].as_str(),
            Some("exec" | "attach" | "ephemeralcontainers")
        )
    {
        return Some((Kind::Exec, pod, time));
    }
    if first["facts"]["falco"].is_object() && a.severity >= Severity::Low {
        return Some((Kind::Falco, pod, time));
    }
    None
}

impl ExecThenFalco {
    /// For streams: alerts come in about the order of their times.
    pub fn new() -> Self {
        Self::default()
    }

    /// For files, whose alerts come in no particular time order: nothing expires, within the
    /// bound.
    pub fn for_files() -> Self {
        ExecThenFalco {
            files: true,
            ..Self::default()
        }
    }

    /// Takes an alert of either source; returns the incident it completes, if any.
    pub fn observe(&mut self, alert: &DetectionAlert) -> Option<DetectionAlert> {
        let (kind, pod, time) = classify(alert)?;
        let held = Held {
            time,
            pod: pod.clone(),
            alert: alert.clone(),
        };
        let joined = match kind {
            Kind::Exec => {
                let key = alert.dedup_key.clone();
                let found = (!self.told.contains(&key))
                    .then(|| {
                        self.falco
                            .on_pod(&pod)
                            .filter(|f| f.time >= time - SKEW_MS && f.time <= time + WINDOW_MS)
                            .min_by_key(|f| f.time)
                            .map(|f| incident(alert, &f.alert))
                    })
                    .flatten();
                if let Some(gone) = self.execs.push(held) {
                    self.told.remove(&gone.alert.dedup_key);
                }
                found
            }
            Kind::Falco => {
                let exec = self
                    .execs
                    .on_pod(&pod)
                    .filter(|e| time >= e.time - SKEW_MS && time <= e.time + WINDOW_MS)
                    .filter(|e| !self.told.contains(&e.alert.dedup_key))
                    .max_by_key(|e| e.time)
                    .map(|e| incident(&e.alert, alert));
                self.falco.push(held);
                exec
            }
        };
        if let Some(i) = &joined {
            self.told.insert(i.events_exec_key.clone());
        }
        if self.files {
            return joined.map(|i| i.alert);
        }
        // Each side's alerts wait as long as the other side's time may still join them.
        if let Some(t) = self.falco.latest {
            for gone in self.execs.expire(t - WINDOW_MS) {
                self.told.remove(&gone.alert.dedup_key);
            }
        }
        if let Some(t) = self.execs.latest {
            self.falco.expire(t - SKEW_MS - WINDOW_MS);
        }
        joined.map(|i| i.alert)
    }
}

/// An incident alert and the exec alert's dedup key it tells.
struct Incident {
    alert: DetectionAlert,
    events_exec_key: String,
}

/// The incident of `exec` and `falco`: the exec's event with the Falco alert's facts added
/// (so the actor and action are the exec's, the facts both), then the Falco event.
fn incident(exec: &DetectionAlert, falco: &DetectionAlert) -> Incident {
    let mut first = exec.first_event().value().clone();
    let falco_event = falco.first_event().clone();
    if let Some(facts) = first.as_object_mut().map(|o| {
        o.entry("facts")
            .or_insert_with(|| Value::Object(Default::default()))
    }) && let Some(facts) = facts.as_object_mut()
    {
        facts.insert("falco".into(), falco_event["facts"]["falco"].clone());
    }
    let start = if exec.update {
        exec.last_seen
    } else {
        exec.first_seen
    };
    let end = if falco.update {
        falco.last_seen
    } else {
        falco.first_seen
    };
    let mut key = Sha256::new();
    key.update(NAME.as_bytes());
    key.update([0]);
    key.update(exec.dedup_key.as_bytes());
    let doc = Arc::clone(&DOC);
    Incident {
        events_exec_key: exec.dedup_key.clone(),
        alert: DetectionAlert {
            rule: doc.id.clone(),
            title: doc.title.clone(),
            severity: doc.severity,
            tags: doc.tags.clone(),
            time: start.map(format_rfc3339_ms),
            first_seen: start,
            last_seen: end.max(start),
            group: None,
            count: 2,
            update: false,
            dedup_key: kubevigil_model::text::hex(&key.finalize()),
            audit_ids: exec.audit_ids.clone(),
            events: vec![first.into(), falco_event],
            doc,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const MIN: i64 = 60_000;
    const T0: i64 = 1_764_496_800_000;

    fn exec(pod: &str, t: i64, key: &str) -> DetectionAlert {
        DetectionAlert {
            doc: Arc::new(RuleDoc {
                name: "k8s_pod_exec".into(),
                ..RuleDoc::default()
            }),
            first_seen: Some(t),
            last_seen: Some(t),
            dedup_key: key.into(),
            audit_ids: vec![format!("audit-{key}")],
            events: vec![json!({
                "user": {"username": "mallory"},
                "verb": "create",
                "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "shop", "name": pod},
                "facts": {"exec": {"command": ["sh"], "container": "web"}}
            })
            .into()],
            ..DetectionAlert::default()
        }
    }

    fn falco(pod: &str, t: i64, severity: Severity) -> DetectionAlert {
        DetectionAlert {
            severity,
            first_seen: Some(t),
            last_seen: Some(t),
            events: vec![json!({
                "objectRef": {"resource": "pods", "namespace": "shop", "name": pod},
                "facts": {"falco": {"rule": "Terminal shell in container", "process": {"name": "sh"}}}
            })
            .into()],
            ..DetectionAlert::default()
        }
    }

    #[test]
    fn an_exec_then_a_falco_alert_on_its_pod_is_one_incident_either_order() {
        let mut j = ExecThenFalco::new();
        assert!(j.observe(&exec("web-1", T0, "e1")).is_none());
        let i = j
            .observe(&falco("web-1", T0 + 5_000, Severity::Low))
            .unwrap();
        assert_eq!(i.name(), NAME);
        assert_eq!(i.severity, Severity::High);
        assert_eq!(i.events.len(), 2);
        assert_eq!(i.first_event()["user"]["username"], "mallory");
        assert_eq!(
            i.first_event()["facts"]["falco"]["rule"],
            "Terminal shell in container"
        );
        assert_eq!(i.first_event()["facts"]["exec"]["container"], "web");
        assert_eq!(i.audit_ids, ["audit-e1"]);
        // Told once per exec.
        assert!(
            j.observe(&falco("web-1", T0 + 9_000, Severity::Medium))
                .is_none()
        );

        // The Falco alert first (the audit batch comes later), within the skew.
        let mut j = ExecThenFalco::new();
        assert!(
            j.observe(&falco("web-2", T0 - 30_000, Severity::Low))
                .is_none()
        );
        assert!(j.observe(&exec("web-2", T0, "e2")).is_some());
    }

    #[test]
    fn other_pods_late_alerts_and_records_do_not_join() {
        let mut j = ExecThenFalco::new();
        j.observe(&exec("web-1", T0, "e1"));
        assert!(
            j.observe(&falco("web-2", T0 + MIN, Severity::Low))
                .is_none()
        );
        assert!(
            j.observe(&falco("web-1", T0 + MIN, Severity::Info))
                .is_none()
        );
        assert!(
            j.observe(&falco("web-1", T0 + 11 * MIN, Severity::High))
                .is_none()
        );
        assert!(
            j.observe(&falco("web-1", T0 - 2 * MIN, Severity::High))
                .is_none()
        );
        // A second exec opens a new window.
        j.observe(&exec("web-1", T0 + 20 * MIN, "e3"));
        assert!(
            j.observe(&falco("web-1", T0 + 21 * MIN, Severity::Low))
                .is_some()
        );
    }

    #[test]
    fn memory_is_bounded() {
        let mut j = ExecThenFalco::new();
        for i in 0..(MAX_HELD as i64 + 500) {
            j.observe(&exec(&format!("p-{i}"), T0, &format!("k{i}")));
        }
        assert_eq!(j.execs.order.len(), MAX_HELD);
        let held: usize = j.execs.by_pod.values().map(Vec::len).sum();
        assert_eq!(held, MAX_HELD);
        // The oldest were dropped, the newest still join.
        assert!(j.observe(&falco("p-0", T0, Severity::Low)).is_none());
        assert!(
            j.observe(&falco(&format!("p-{}", MAX_HELD + 499), T0, Severity::Low))
                .is_some()
        );
        // Time passing on the Falco side drops the execs.
        j.observe(&falco("x", T0 + 11 * MIN, Severity::Low));
        assert!(j.execs.order.is_empty());
        assert!(j.told.is_empty());
    }
}
