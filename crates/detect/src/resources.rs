//! Resource abuse as an event source (issue 19, point 3): what the metrics API says pods use,
//! against what they request and what their nodes have, and what pod statuses and
//! ResourceQuotas say, as events the Sigma engine matches (`logsource: {product: kubernetes,
//! service: resources}`).
//!
//! [`Evaluator::observe`] takes one reading (PodMetrics and NodeMetrics of `metrics.k8s.io/v1beta1`
//! as `kubectl get --raw /apis/metrics.k8s.io/v1beta1/pods` gives them, with the cluster's Pods,
//! Nodes and ResourceQuotas) and yields the events of that reading. `kind` says what each is:
//!
//! * `cpu_hog`, `memory_hog`: a container using at least [`HOG_FACTOR`] times what it requests
//!   in every reading for at least [`Evaluator::window_ms`] (default 5 minutes): `usage`,
//!   `request`, `limit`, `ratio`, `minutes`. A container without a request is left out (the
//!   scan's resource checks report those).
//! * `node_hog`: one pod using at least [`NODE_SHARE`] of its node's allocatable CPU or memory
//!   (`resource`, `usage`, `allocatable`, `share`), over the same window.
//! * `quota_near_limit`: a ResourceQuota's `status.used` at least [`QUOTA_SHARE`] of its
//!   `status.hard` for a resource (`quota`, `resource`, `used`, `hard`, `share`).
//! * `oom_killed`: a container whose last termination was `OOMKilled` (told once per restart
//!   count), `crash_loop`: a container waiting in `CrashLoopBackOff` (once per restart count).
//! * `hpa_at_max`: a HorizontalPodAutoscaler (`autoscaling/v2`) at its `maxReplicas` while a
//!   resource metric's current average utilisation stays above its target, over the window
//!   (`hpa`, `target`, `replicas`, `maxReplicas`, `metric`, `current`, `targetUtilization`):
//!   replicas that do not increase despite the load. `hpa_unable`: its `ScalingActive` or
//!   `AbleToScale` condition is `False` (`reason`: `FailedGetResourceMetric`, missing metrics,
//!   `FailedGetScale`, ...).
//!
//! Quantities are read as k8s.io/apimachinery `resource.Quantity` writes them (decimal and
//! binary SI suffixes, decimal exponents): CPU in cores, memory in bytes.

use std::collections::{HashMap, HashSet};

use kubevigil_sigma::Options;
use serde_json::{Value, json};

/// Usage over request that is hogging.
pub const HOG_FACTOR: f64 = 4.0;
/// Share of a node's allocatable that one pod may not take for long.
pub const NODE_SHARE: f64 = 0.8;
/// Share of a quota that is near its limit.
pub const QUOTA_SHARE: f64 = 0.9;

/// The engine's options for resource events.
pub fn sigma_options() -> Options {
    Options {
        product: Some("kubernetes".into()),
        service: Some("resources".into()),
        time_fields: vec!["time".into()],
        max_groups: 50_000,
        max_samples: 3,
        ..Options::default()
    }
}

/// A `resource.Quantity` (`100m`, `1.5`, `128Mi`, `1e3`, `2Gi`) in base units; `None` when it is
/// not one (k8s.io/apimachinery/pkg/api/resource/quantity.go `ParseQuantity`).
pub fn quantity(s: &str) -> Option<f64> {
    let s = s.trim();
    let split = s
        .find(|c: char| !(c.is_ascii_digit() || matches!(c, '.' | '+' | '-')))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(split);
    let n: f64 = number.parse().ok()?;
    let scale = match suffix {
        "" => 1.0,
        "n" => 1e-9,
        "u" => 1e-6,
        "m" => 1e-3,
        "k" => 1e3,
        "M" => 1e6,
        "G" => 1e9,
        "T" => 1e12,
        "P" => 1e15,
        "E" => 1e18,
        "Ki" => 1024.0,
        "Mi" => 1024f64.powi(2),
        "Gi" => 1024f64.powi(3),
        "Ti" => 1024f64.powi(4),
        "Pi" => 1024f64.powi(5),
        "Ei" => 1024f64.powi(6),
        e if e.starts_with(['e', 'E']) => 10f64.powi(e[1..].parse().ok()?),
        _ => return None,
    };
    Some(n * scale)
}

/// The objects of one reading.
#[derive(Debug, Default)]
pub struct Reading<'a> {
    /// The reading's time (ms since the epoch).
    pub now_ms: i64,
    pub pods: Vec<&'a Value>,
    pub nodes: Vec<&'a Value>,
    pub quotas: Vec<&'a Value>,
    pub pod_metrics: Vec<&'a Value>,
    /// HorizontalPodAutoscalers (`autoscaling/v2`).
    pub hpas: Vec<&'a Value>,
}

/// Hogging followed from reading to reading.
#[derive(Debug)]
pub struct Evaluator {
    /// How long hogging lasts before it is told.
    pub window_ms: i64,
    /// Since when each (kind, namespace, pod, container) hogs.
    since: HashMap<(String, String, String, String), i64>,
    /// Restart counts already told per (kind, namespace, pod, container).
    told: HashSet<(String, String, String, String, i64)>,
}

impl Default for Evaluator {
    fn default() -> Self {
        Evaluator {
            window_ms: 5 * 60 * 1000,
            since: HashMap::new(),
            told: HashSet::new(),
        }
    }
}

fn s(v: &Value) -> String {
    v.as_str().unwrap_or("").to_string()
}

impl Evaluator {
    /// An evaluator that tells hogging once it lasted `window_ms`.
    pub fn with_window(window_ms: i64) -> Self {
        Evaluator {
            window_ms,
            ..Evaluator::default()
        }
    }

    /// The events of one reading (see the module documentation).
    pub fn observe(&mut self, r: &Reading) -> Vec<Value> {
        let time = kubevigil_model::time::format_rfc3339_ms(r.now_ms);
        let mut out = Vec::new();
        let pods: HashMap<(String, String), &Value> = r
            .pods
            .iter()
            .map(|p| {
                (
                    (s(&p["metadata"]["namespace"]), s(&p["metadata"]["name"])),
                    *p,
                )
            })
            .collect();
        let allocatable: HashMap<String, (Option<f64>, Option<f64>)> = r
            .nodes
            .iter()
            .map(|n| {
                let a = &n["status"]["allocatable"];
                (
                    s(&n["metadata"]["name"]),
                    (
                        a["cpu"].as_str().and_then(quantity),
                        a["memory"].as_str().and_then(quantity),
                    ),
                )
            })
            .collect();
        let mut hogging = HashSet::new();
        for m in &r.pod_metrics {
            let ns = s(&m["metadata"]["namespace"]);
            let name = s(&m["metadata"]["name"]);
            let Some(pod) = pods.get(&(ns.clone(), name.clone())) else {
                continue;
            };
            let node = s(&pod["spec"]["nodeName"]);
            let mut pod_use = (0.0, 0.0);
            for c in m["containers"].as_array().into_iter().flatten() {
                let cname = s(&c["name"]);
                let usage = |k: &str| c["usage"][k].as_str().and_then(quantity);
                let spec = pod["spec"]["containers"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|x| x["name"] == c["name"]);
                let request = |k: &str| {
                    spec.and_then(|x| x["resources"]["requests"][k].as_str())
                        .and_then(quantity)
                };
                let limit = |k: &str| {
                    spec.and_then(|x| x["resources"]["limits"][k].as_str())
                        .and_then(quantity)
                };
                for (k, kind) in [("cpu", "cpu_hog"), ("memory", "memory_hog")] {
                    let Some(u) = usage(k) else { continue };
                    if k == "cpu" {
                        pod_use.0 += u;
                    } else {
                        pod_use.1 += u;
                    }
                    let Some(req) = request(k).filter(|q| *q > 0.0) else {
                        continue;
                    };
                    let ratio = u / req;
                    if ratio < HOG_FACTOR {
                        continue;
                    }
                    let key = (kind.to_string(), ns.clone(), name.clone(), cname.clone());
                    hogging.insert(key.clone());
                    let since = *self.since.entry(key).or_insert(r.now_ms);
                    if r.now_ms - since >= self.window_ms {
                        out.push(json!({
                            "time": time, "kind": kind, "namespace": ns, "pod": name,
                            "container": cname, "node": node, "resource": k,
                            "usage": u, "request": req, "limit": limit(k),
                            "ratio": (ratio * 10.0).round() / 10.0,
                            "minutes": (r.now_ms - since) / 60_000,
                        }));
                    }
                }
            }
            if let Some((cpu, mem)) = allocatable.get(&node) {
                for (k, used, total) in [("cpu", pod_use.0, cpu), ("memory", pod_use.1, mem)] {
                    let Some(total) = total.filter(|t| *t > 0.0) else {
                        continue;
                    };
                    let share = used / total;
                    if share < NODE_SHARE {
                        continue;
                    }
                    let key = (
                        format!("node_hog_{k}"),
                        ns.clone(),
                        name.clone(),
                        String::new(),
                    );
                    hogging.insert(key.clone());
                    let since = *self.since.entry(key).or_insert(r.now_ms);
                    if r.now_ms - since >= self.window_ms {
                        out.push(json!({
                            "time": time, "kind": "node_hog", "namespace": ns, "pod": name,
                            "node": node, "resource": k, "usage": used, "allocatable": total,
                            "share": (share * 100.0).round() / 100.0,
                            "minutes": (r.now_ms - since) / 60_000,
                        }));
                    }
                }
            }
        }
        for h in &r.hpas {
            let ns = s(&h["metadata"]["namespace"]);
            let name = s(&h["metadata"]["name"]);
            let target = format!(
                "{}/{}",
                s(&h["spec"]["scaleTargetRef"]["kind"]),
                s(&h["spec"]["scaleTargetRef"]["name"])
            );
            let max = h["spec"]["maxReplicas"].as_i64().unwrap_or(0);
            let replicas = h["status"]["currentReplicas"].as_i64().unwrap_or(0);
            if max > 0 && replicas >= max {
                // The first resource metric whose utilisation is above its target.
                let over = h["spec"]["metrics"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter(|m| m["type"] == "Resource")
                    .find_map(|m| {
                        let metric = m["resource"]["name"].as_str()?;
                        let target = m["resource"]["target"]["averageUtilization"].as_i64()?;
                        let current =
                            h["status"]["currentMetrics"].as_array()?.iter().find(|c| {
                                c["type"] == "Resource" && c["resource"]["name"] == metric
                            })?["resource"]["current"]["averageUtilization"]
                                .as_i64()?;
                        (current > target).then_some((metric.to_string(), current, target))
                    });
                if let Some((metric, current, util_target)) = over {
                    let key = (
                        "hpa_at_max".to_string(),
                        ns.clone(),
                        name.clone(),
                        String::new(),
                    );
                    hogging.insert(key.clone());
                    let since = *self.since.entry(key).or_insert(r.now_ms);
                    if r.now_ms - since >= self.window_ms {
                        out.push(json!({
                            "time": time, "kind": "hpa_at_max", "namespace": ns, "hpa": name,
                            "target": target, "replicas": replicas, "maxReplicas": max,
                            "metric": metric, "current": current, "targetUtilization": util_target,
                            "minutes": (r.now_ms - since) / 60_000,
                        }));
                    }
                }
            }
            for c in h["status"]["conditions"].as_array().into_iter().flatten() {
                if matches!(c["type"].as_str(), Some("ScalingActive" | "AbleToScale"))
                    && c["status"] == "False"
                {
                    out.push(json!({
                        "time": time, "kind": "hpa_unable", "namespace": ns, "hpa": name,
                        "target": target, "condition": c["type"], "reason": c["reason"],
                        "message": c["message"],
                    }));
                }
            }
        }
        // Hogging that stopped starts over.
        self.since.retain(|k, _| hogging.contains(k));
        for q in &r.quotas {
            let (used, hard) = (&q["status"]["used"], &q["status"]["hard"]);
            for (res, h) in hard.as_object().into_iter().flatten() {
                let (Some(h), Some(u)) = (
                    h.as_str().and_then(quantity),
                    used[res].as_str().and_then(quantity),
                ) else {
                    continue;
                };
                if h <= 0.0 || u / h < QUOTA_SHARE {
                    continue;
                }
                out.push(json!({
                    "time": time, "kind": "quota_near_limit",
                    "namespace": q["metadata"]["namespace"], "quota": q["metadata"]["name"],
                    "resource": res, "used": used[res], "hard": hard[res],
                    "share": ((u / h) * 100.0).round() / 100.0,
                }));
            }
        }
        for p in &r.pods {
            let ns = s(&p["metadata"]["namespace"]);
            let name = s(&p["metadata"]["name"]);
            for c in p["status"]["containerStatuses"]
                .as_array()
                .into_iter()
                .flatten()
            {
                let cname = s(&c["name"]);
                let restarts = c["restartCount"].as_i64().unwrap_or(0);
                let terminated = &c["lastState"]["terminated"];
                let waiting = c["state"]["waiting"]["reason"].as_str();
                let mut tell = |kind: &str, extra: Value| {
                    let key = (
                        kind.to_string(),
                        ns.clone(),
                        name.clone(),
                        cname.clone(),
                        restarts,
                    );
                    if self.told.insert(key) {
                        let mut ev = json!({
                            "time": time, "kind": kind, "namespace": ns, "pod": name,
                            "container": cname, "node": p["spec"]["nodeName"], "restarts": restarts,
                        });
                        if let (Some(o), Some(e)) = (ev.as_object_mut(), extra.as_object()) {
                            o.extend(e.clone());
                        }
                        out.push(ev);
                    }
                };
                if terminated["reason"] == "OOMKilled" {
                    tell(
                        "oom_killed",
                        json!({"finishedAt": terminated["finishedAt"], "exitCode": terminated["exitCode"]}),
                    );
                }
                if waiting == Some("CrashLoopBackOff") {
                    tell("crash_loop", json!({"reason": "CrashLoopBackOff"}));
                }
            }
        }
        out
    }
}

/// What an alert keeps of a resource event: the pod (or the quota) as the object, and the
/// numbers as facts.
pub fn sample(text: &[u8]) -> String {
    let Ok(ev) = serde_json::from_slice::<Value>(text) else {
        return "null".into();
    };
    let object = match ev["kind"].as_str() {
        Some("quota_near_limit") => {
            json!({"resource": "resourcequotas", "namespace": ev["namespace"], "name": ev["quota"]})
        }
        Some("hpa_at_max" | "hpa_unable") => json!({"resource": "horizontalpodautoscalers",
            "namespace": ev["namespace"], "name": ev["hpa"]}),
        _ => json!({"resource": "pods", "namespace": ev["namespace"], "name": ev["pod"]}),
    };
    let mut facts = ev.clone();
    if let Some(f) = facts.as_object_mut() {
        f.remove("time");
    }
    json!({"time": ev["time"], "objectRef": object, "facts": {"resources": facts}}).to_string()
}

/// Readings from saved metrics (`kubectl get --raw /apis/metrics.k8s.io/v1beta1/pods`, taken
/// again and again: PodMetricsLists or PodMetrics, one after the other or as JSON lines), judged
/// against the cluster's objects (`kubectl get pods,nodes,resourcequotas -A -o yaml`): each
/// distinct PodMetrics `timestamp` is a reading, in time order. Without metrics, one reading of
/// the objects alone (quotas, OOM kills, crash loops) at the current time.
pub struct ResourcesSource {
    pub metrics: Vec<std::path::PathBuf>,
    pub objects: kubevigil_model::Inventory,
    pub window_ms: i64,
}

impl crate::EventSource for ResourcesSource {
    fn kind(&self) -> &'static str {
        "resources"
    }

    fn read(
        &mut self,
        on_event: &mut dyn FnMut(&crate::SourceEvent<'_>) -> std::ops::ControlFlow<()>,
        on_error: &mut dyn FnMut(&dyn std::fmt::Display),
    ) -> crate::SourceSummary {
        use std::io::Read as _;
        let mut items: Vec<(i64, Value)> = Vec::new();
        let mut summary = crate::source::read_inputs(
            &self.metrics,
            on_error,
            |_, name, input, summary, on_error| {
                let mut text = Vec::new();
                let max = crate::k8s_events::MAX_INPUT;
                if input.take(max + 1).read_to_end(&mut text)? as u64 > max {
                    return Err(std::io::Error::other(format!(
                        "larger than {} MiB: not read",
                        max >> 20
                    )));
                }
                for (i, v) in serde_json::Deserializer::from_slice(&text)
                    .into_iter::<Value>()
                    .enumerate()
                {
                    let v = match v {
                        Ok(v) => v,
                        Err(e) => {
                            on_error(&crate::source::InputError {
                                input: name,
                                at: Some((e.line() as u64, e.column() as u64)),
                                message: format!("invalid JSON: {e}; the rest is not read"),
                            });
                            summary.failed_inputs += 1;
                            break;
                        }
                    };
                    let list: Vec<Value> = match v["items"].as_array() {
                        Some(items) => items.clone(),
                        None => vec![v],
                    };
                    for m in list {
                        let t = m["timestamp"]
                            .as_str()
                            .and_then(kubevigil_model::time::parse_rfc3339_ms);
                        match (m["kind"].as_str(), t) {
                            (Some("PodMetrics") | None, Some(t)) if m["containers"].is_array() => {
                                items.push((t, m))
                            }
                            _ => {
                                on_error(&crate::source::InputError {
                                    input: name,
                                    at: None,
                                    message: format!(
                                        "value {i}: not a PodMetrics with a timestamp: left out"
                                    ),
                                });
                                summary.rejected += 1;
                            }
                        }
                    }
                }
                Ok(std::ops::ControlFlow::Continue(()))
            },
        );
        items.sort_by_key(|(t, _)| *t);
        let mut readings: Vec<(i64, Vec<&Value>)> = Vec::new();
        for (t, m) in &items {
            match readings.last_mut() {
                Some((rt, ms)) if rt == t => ms.push(m),
                _ => readings.push((*t, vec![m])),
            }
        }
        if readings.is_empty() {
            readings.push((kubevigil_model::time::now_ms(), Vec::new()));
        }
        let of = |kind: &str| -> Vec<&Value> {
            self.objects
                .objects
                .iter()
                .filter(|o| o.kind == kind)
                .map(|o| &o.value)
                .collect()
        };
        let (pods, nodes, quotas) = (of("Pod"), of("Node"), of("ResourceQuota"));
        let hpas = of("HorizontalPodAutoscaler");
        let mut eval = Evaluator {
            window_ms: self.window_ms,
            ..Evaluator::default()
        };
        for (now_ms, pod_metrics) in readings {
            let reading = Reading {
                now_ms,
                pods: pods.clone(),
                nodes: nodes.clone(),
                quotas: quotas.clone(),
                pod_metrics,
                hpas: hpas.clone(),
            };
            for ev in eval.observe(&reading) {
                let text = ev.to_string();
                summary.events += 1;
                let flow = on_event(&crate::SourceEvent {
                    input: "resources",
                    raw: kubevigil_audit::reader::RawEvent {
                        line: 1,
                        col: 1,
                        text: text.as_bytes(),
                    },
                    unwrapped_from: None,
                });
                if flow.is_break() {
                    return summary;
                }
            }
        }
        summary
    }

    fn sampler(&self) -> crate::source::Sampler {
        |text, _| sample(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quantities_as_kubernetes_writes_them() {
        for (q, want) in [
            ("100m", 0.1),
            ("2", 2.0),
            ("1.5", 1.5),
            ("250000n", 0.00025),
            ("128Mi", 134_217_728.0),
            ("1Gi", 1_073_741_824.0),
            ("1G", 1e9),
            ("1e3", 1000.0),
            ("64Ki", 65_536.0),
        ] {
            let got = quantity(q).unwrap();
            assert!((got - want).abs() < want * 1e-9, "{q}: {got}");
        }
        for bad in ["", "Mi", "1Q", "abc"] {
            assert!(quantity(bad).is_none(), "{bad}");
        }
    }
}
