//! Hubble flows as an event source (issue 19, point 5): each flow an event the Sigma engine
//! matches (`logsource: {product: kubernetes, service: hubble}`), and, given the manifests of the
//! same cluster, what kubevigil's NetworkPolicy model says of it.
//!
//! Input: what `hubble observe -o jsonpb` prints and what Hubble's flow exporter writes
//! (`GetFlowsResponse`: `{"flow": {...}, "node_name", "time"}` per line, the field names of
//! `flow/flow.proto` as protojson writes them with proto names), or bare `Flow` objects; gzip read
//! too. A line that is not a flow is reported (`file:line:column`) and skipped.
//!
//! The event the rules see (`rules/hubble/README.md`): `time`, `verdict` (`FORWARDED`,
//! `DROPPED`, `AUDIT`, `REDIRECTED`, `ERROR`, `TRACED`, `TRANSLATED`), `dropReason`
//! (`drop_reason_desc`), `direction` (`traffic_direction`), `type` (`Type`), `reply`
//! (`is_reply`), `node`, `protocol` (`TCP`, `UDP`, `SCTP`, `ICMPv4`, `ICMPv6`), `port` (the
//! destination port), `flags` (TCP flags set, `SYN ACK`), `source` and `destination`
//! `{namespace, pod, workload {kind, name}, labels {key: value}, ip, port, identity, names}`,
//! `deniedBy` (the policies Hubble names in `egress_denied_by` / `ingress_denied_by`), and with
//! manifests `model` `{verdict, reason, egressIsolatedBy, ingressIsolatedBy, allowedBy}`:
//!
//! * `verdict` is `allowed` or `denied` when both ends are known (a workload of the manifests,
//!   or an address outside the cluster) and the flow opens a connection (not a reply; for TCP a
//!   SYN without ACK); otherwise `unknown` with the `reason` (an end the manifests do not hold,
//!   a reply, a protocol NetworkPolicy does not govern, policies of other engines such as
//!   CiliumNetworkPolicy in play, or host networking).
//! * The answer is [`kubevigil_netpol::can_reach`]'s: the same semantics as `kubevigil netpol`.

use std::collections::HashMap;
use std::fmt;
use std::net::IpAddr;
use std::ops::ControlFlow;
use std::path::PathBuf;

use kubevigil_model::{Inventory, Objects};
use kubevigil_netpol::{Cluster, Protocol, Target, can_reach};
use kubevigil_sigma::Options;
use serde_json::{Map, Value, json};

use crate::source::{EventSource, SourceEvent, SourceSummary, read_json_lines};

/// The longest line read; the rest of a longer line is skipped (and reported).
pub const MAX_LINE: usize = 1 << 20;

/// Verdicts as `flow.proto` names them.
pub const VERDICTS: [&str; 8] = [
    "VERDICT_UNKNOWN",
    "FORWARDED",
    "DROPPED",
    "ERROR",
    "AUDIT",
    "REDIRECTED",
    "TRACED",
    "TRANSLATED",
];

/// The engine's options for Hubble flows.
pub fn sigma_options() -> Options {
    Options {
        product: Some("kubernetes".into()),
        service: Some("hubble".into()),
        time_fields: vec!["time".into()],
        max_groups: 50_000,
        max_samples: 3,
        ..Options::default()
    }
}

/// Why a value is not a flow.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAFlow(pub String);

impl fmt::Display for NotAFlow {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a Hubble flow: {}", self.0)
    }
}

/// Pod labels as Cilium writes them (`k8s:app=web`, `reserved:world`): the Kubernetes ones by
/// key, without their source.
fn labels_of(endpoint: &Value) -> Map<String, Value> {
    endpoint["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|l| l.strip_prefix("k8s:"))
        .map(|l| match l.split_once('=') {
            Some((k, v)) => (k.to_string(), json!(v)),
            None => (l.to_string(), json!("")),
        })
        .collect()
}

fn endpoint(e: &Value, ip: &Value, port: Option<&Value>, names: &Value) -> Value {
    let s = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    let mut m = Map::new();
    let mut put = |k: &str, v: Option<Value>| {
        if let Some(v) = v.filter(|v| !v.is_null()) {
            m.insert(k.into(), v);
        }
    };
    put("namespace", s(&e["namespace"]).map(Value::String));
    put("pod", s(&e["pod_name"]).map(Value::String));
    put(
        "workload",
        e["workloads"]
            .as_array()
            .and_then(|w| w.first())
            .map(|w| json!({"kind": w["kind"], "name": w["name"]})),
    );
    let labels = labels_of(e);
    if !labels.is_empty() {
        put("labels", Some(Value::Object(labels)));
    }
    let reserved: Vec<&str> = e["labels"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .filter_map(|l| l.strip_prefix("reserved:"))
        .collect();
    if !reserved.is_empty() {
        put("reserved", Some(json!(reserved)));
    }
    put("ip", s(ip).map(Value::String));
    put("port", port.cloned());
    put("identity", e.get("identity").cloned());
    if names.as_array().is_some_and(|n| !n.is_empty()) {
        put("names", Some(names.clone()));
    }
    Value::Object(m)
}

/// The event the rules see of one flow (see the module documentation), before the model.
pub fn normalise(v: &Value) -> Result<Map<String, Value>, NotAFlow> {
    let obj = v
        .as_object()
        .ok_or_else(|| NotAFlow("not a JSON object".into()))?;
    let flow = match obj.get("flow") {
        Some(Value::Object(_)) => &obj["flow"],
        Some(_) => return Err(NotAFlow("`flow` is not an object".into())),
        None if obj.contains_key("verdict") => v,
        None => return Err(NotAFlow("no `flow` and no `verdict`".into())),
    };
    let verdict = match &flow["verdict"] {
        Value::String(s) if VERDICTS.contains(&s.as_str()) => s.clone(),
        Value::Null => "VERDICT_UNKNOWN".into(),
        other => {
            let shown: String = other.to_string().chars().take(40).collect();
            return Err(NotAFlow(format!("unknown verdict {shown}")));
        }
    };
    let time = flow["time"]
        .as_str()
        .or(obj.get("time").and_then(Value::as_str));
    if let Some(t) = time
        && kubevigil_model::time::parse_rfc3339_micros(t).is_none()
    {
        let shown: String = t.chars().take(40).collect();
        return Err(NotAFlow(format!(
            "time {shown:?} is not an RFC 3339 date-time"
        )));
    }
    let l4 = flow["l4"].as_object();
    let (protocol, l4v) = match l4.and_then(|m| m.iter().next()) {
        Some((p, v)) => (Some(p.clone()), v),
        None => (None, &Value::Null),
    };
    let flags: Vec<&str> = l4v["flags"]
        .as_object()
        .into_iter()
        .flatten()
        .filter(|(_, v)| **v == true)
        .map(|(k, _)| k.as_str())
        .collect();
    let mut ev = Map::new();
    let mut put = |k: &str, v: Value| {
        if !v.is_null() {
            ev.insert(k.into(), v);
        }
    };
    put("time", json!(time));
    put("verdict", json!(verdict));
    put("dropReason", flow["drop_reason_desc"].clone());
    put("direction", flow["traffic_direction"].clone());
    put("type", flow["Type"].clone());
    put("reply", flow["is_reply"].clone());
    put(
        "node",
        flow["node_name"]
            .as_str()
            .or(obj.get("node_name").and_then(Value::as_str))
            .map_or(Value::Null, |n| json!(n)),
    );
    put("protocol", json!(protocol));
    put("port", l4v["destination_port"].clone());
    if !flags.is_empty() {
        put("flags", json!(flags.join(" ")));
    }
    put(
        "source",
        endpoint(
            &flow["source"],
            &flow["IP"]["source"],
            l4v.get("source_port"),
            &flow["source_names"],
        ),
    );
    put(
        "destination",
        endpoint(
            &flow["destination"],
            &flow["IP"]["destination"],
            l4v.get("destination_port"),
            &flow["destination_names"],
        ),
    );
    let denied: Vec<Value> = ["egress_denied_by", "ingress_denied_by"]
        .iter()
        .flat_map(|k| flow[*k].as_array().into_iter().flatten())
        .map(|p| {
            json!(format!(
                "{}/{}",
                p["kind"].as_str().unwrap_or("Policy"),
                p["name"].as_str().unwrap_or("?")
            ))
        })
        .collect();
    if !denied.is_empty() {
        put("deniedBy", Value::Array(denied));
    }
    Ok(ev)
}

/// The NetworkPolicy model of the cluster the flows were seen in.
pub struct Model<'a> {
    cluster: Cluster<'a>,
    cache: HashMap<(Target, Target, Protocol, u16), Value>,
}

/// An end of a flow in the model: a workload of the manifests, an address outside the cluster,
/// or why neither.
fn target_of(cluster: &Cluster, end: &Value) -> Result<Target, String> {
    let Some(ns) = end["namespace"].as_str() else {
        // No namespace: outside the cluster (`reserved:world`), unless Cilium says it is the
        // host or the cluster's own machinery.
        let reserved = end["reserved"].as_array();
        let world = reserved.is_none_or(|r| r.iter().any(|l| l == "world"));
        return match end["ip"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) {
            Some(ip) if world => Ok(Target::Ip(ip)),
            Some(_) => Err("an end is the host or a cluster component, not a pod".into()),
            None => Err("an end has neither namespace nor address".into()),
        };
    };
    let pod = end["pod"].as_str();
    let in_ns = || (0..cluster.workloads.len()).filter(|&i| cluster.workloads[i].namespace == ns);
    // The pod itself (a dump of pods), then its workload as Hubble names it, then the workload
    // whose pod template's labels the pod carries (the most specific).
    if let Some(pod) = pod
        && let Some(i) = in_ns().find(|&i| {
            let w = &cluster.workloads[i];
            w.pods.iter().any(|p| p == pod) || (w.kind == "Pod" && w.name == pod)
        })
    {
        return Ok(Target::Workload(i));
    }
    if let Some(name) = end["workload"]["name"].as_str() {
        let kind = end["workload"]["kind"].as_str();
        if let Some(i) = in_ns().find(|&i| {
            let w = &cluster.workloads[i];
            w.name == name && kind.is_none_or(|k| k == w.kind)
        }) {
            return Ok(Target::Workload(i));
        }
    }
    let labels = end["labels"].as_object();
    let best = in_ns()
        .filter(|&i| {
            let w = &cluster.workloads[i];
            !w.labels.is_empty()
                && w.labels
                    .iter()
                    .all(|(k, v)| labels.and_then(|l| l.get(k)).and_then(Value::as_str) == Some(v))
        })
        .max_by_key(|&i| cluster.workloads[i].labels.len());
    best.map(Target::Workload).ok_or_else(|| {
        format!(
            "{}/{} is not a workload of the manifests",
            ns,
            pod.unwrap_or("?")
        )
    })
}

impl<'a> Model<'a> {
    /// The model of `objects`: manifests, or the objects a monitor watches.
    pub fn new(objects: &'a dyn Objects) -> Model<'a> {
        Model {
            cluster: Cluster::from_objects(objects),
            cache: HashMap::new(),
        }
    }

    /// What the model says of a normalised flow (`model` of the module documentation).
    pub fn judge(&mut self, ev: &Map<String, Value>) -> Value {
        let unknown = |reason: String| json!({"verdict": "unknown", "reason": reason});
        if ev.get("reply") == Some(&Value::Bool(true)) {
            return unknown("a reply: allowed by connection tracking whatever the policies".into());
        }
        let protocol = ev.get("protocol").and_then(Value::as_str).unwrap_or("");
        let Some(proto) = Protocol::parse(protocol) else {
            return unknown(format!(
                "{} is not a protocol NetworkPolicy governs",
                if protocol.is_empty() {
                    "no L4"
                } else {
                    protocol
                }
            ));
        };
        if proto == Protocol::Tcp {
            let flags = ev.get("flags").and_then(Value::as_str).unwrap_or("");
            let words: Vec<&str> = flags.split(' ').collect();
            if !words.contains(&"SYN") || words.contains(&"ACK") {
                return unknown("not the first packet of a TCP connection".into());
            }
        }
        let Some(port) = ev
            .get("port")
            .and_then(Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
        else {
            return unknown("no destination port".into());
        };
        let (src, dst) = match (
            target_of(&self.cluster, &ev["source"]),
            target_of(&self.cluster, &ev["destination"]),
        ) {
            (Ok(s), Ok(d)) => (s, d),
            (Err(e), _) | (_, Err(e)) => return unknown(e),
        };
        if matches!((src, dst), (Target::Ip(_), Target::Ip(_))) {
            return unknown("neither end is a pod of the cluster".into());
        }
        if self.cache.len() > 100_000 {
            self.cache.clear();
        }
        let cluster = &self.cluster;
        self.cache
            .entry((src, dst, proto, port))
            .or_insert_with(|| {
                let v = can_reach(cluster, src, dst, proto, port);
                if !v.caveats.is_empty() {
                    return json!({"verdict": "unknown", "reason": v.caveats.join("; ")});
                }
                // Sorted: the policies' order is the objects', which differs between manifests
                // and a watched cluster.
                let names = |pis: &[usize]| -> Vec<String> {
                    let mut n: Vec<String> = pis
                        .iter()
                        .map(|&p| {
                            let p = &cluster.policies[p];
                            format!("{}/{}", p.namespace, p.name)
                        })
                        .collect();
                    n.sort();
                    n
                };
                let allowed_by: Vec<String> = v
                    .egress
                    .allowing
                    .iter()
                    .chain(&v.ingress.allowing)
                    .map(|&(p, _)| {
                        let p = &cluster.policies[p];
                        format!("{}/{}", p.namespace, p.name)
                    })
                    .collect::<std::collections::BTreeSet<_>>()
                    .into_iter()
                    .collect::<Vec<_>>();
                json!({
                    "verdict": if v.allowed { "allowed" } else { "denied" },
                    "egressIsolatedBy": names(&v.egress.isolating),
                    "ingressIsolatedBy": names(&v.ingress.isolating),
                    "allowedBy": allowed_by,
                })
            })
            .clone()
    }
}

/// What an alert keeps of a flow: the destination as the object (a pod, or an address), its
/// time, and as facts the flow: verdict, drop reason, direction, protocol and port, both ends
/// (namespace, pod, workload, address, port), the policies Hubble names and the model's answer.
/// Labels are left out (they are the pods', and long).
pub fn sample(text: &[u8]) -> String {
    let Ok(ev) = serde_json::from_slice::<Map<String, Value>>(text) else {
        return "null".into();
    };
    let get = |k: &str| ev.get(k).cloned().unwrap_or(Value::Null);
    let end = |k: &str| {
        let e = &ev.get(k).cloned().unwrap_or(Value::Null);
        json!({
            "namespace": e["namespace"], "pod": e["pod"], "workload": e["workload"],
            "ip": e["ip"], "port": e["port"], "names": e["names"], "reserved": e["reserved"],
        })
    };
    let dst = &ev.get("destination").cloned().unwrap_or(Value::Null);
    let object = match (dst["namespace"].as_str(), dst["pod"].as_str()) {
        (Some(ns), Some(pod)) => json!({"resource": "pods", "namespace": ns, "name": pod}),
        _ => json!({"resource": "address", "name": dst["ip"]}),
    };
    json!({
        "time": get("time"),
        "objectRef": object,
        "facts": {"flow": {
            "verdict": get("verdict"),
            "dropReason": get("dropReason"),
            "direction": get("direction"),
            "protocol": get("protocol"),
            "port": get("port"),
            "node": get("node"),
            "source": end("source"),
            "destination": end("destination"),
            "deniedBy": get("deniedBy"),
            "model": get("model"),
        }},
    })
    .to_string()
}

/// Files of flows (`-` is stdin), read in order, line by line; `manifests`, when given, the
/// objects of the same cluster the flows are judged against.
pub struct HubbleSource {
    pub paths: Vec<PathBuf>,
    pub manifests: Option<Inventory>,
}

impl HubbleSource {
    pub fn new(paths: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        HubbleSource {
            paths: paths.into_iter().map(Into::into).collect(),
            manifests: None,
        }
    }

    pub fn with_manifests(mut self, inventory: Inventory) -> Self {
        self.manifests = Some(inventory);
        self
    }
}

impl EventSource for HubbleSource {
    fn kind(&self) -> &'static str {
        "hubble"
    }

    fn read(
        &mut self,
        on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
        on_error: &mut dyn FnMut(&dyn fmt::Display),
    ) -> SourceSummary {
        let mut model = self.manifests.as_ref().map(|m| Model::new(m));
        read_json_lines(&self.paths, MAX_LINE, on_event, on_error, |line| {
            let value: Value = serde_json::from_slice(line).map_err(|e| {
                let col = if e.line() <= 1 { e.column() } else { 1 };
                (col.saturating_sub(1) as u64, format!("invalid JSON: {e}"))
            })?;
            let mut ev = normalise(&value).map_err(|e| (0, e.to_string()))?;
            if let Some(m) = model.as_mut() {
                let judged = m.judge(&ev);
                ev.insert("model".into(), judged);
            }
            Ok(Value::Object(ev).to_string())
        })
    }

    fn sampler(&self) -> crate::source::Sampler {
        |text, _| sample(text)
    }
}
