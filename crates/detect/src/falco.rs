//! Falco alerts as an event source (issue 19, point 2): each alert an event the Sigma engine
//! matches (`logsource: {product: kubernetes, service: falco}`).
//!
//! Input: Falco's JSON output (`json_output: true`; `file_output`, `stdout_output` or
//! `http_output`), one alert per line, which is also what falcosidekick receives. An alert is
//! accepted as falcosidekick accepts one (`types.FalcoPayload.Check` in
//! github.com/falcosecurity/falcosidekick): a known `priority` (Emergency, Alert, Critical,
//! Error, Warning, Notice, Informational, Debug; case ignored), a non-empty `rule`, a `time`
//! (RFC 3339) and a non-empty `output_fields` object. Anything else is reported
//! (`file:line:column`) and skipped. Gzip-compressed files are read too.
//!
//! The event the rules see (see `rules/falco/README.md`): `time`, `rule`, `priority` (as Falco
//! spells it), `source` (`syscall`, `k8s_audit`, ...), `hostname`, `tags`, `output`,
//! `namespace` (`k8s.ns.name`), `pod` (`k8s.pod.name`), `container` `{id, name, image}`
//! (`container.id`, `container.name`, `container.image.repository`:`container.image.tag`, else
//! `container.image`), `process` `{name, cmdline, exepath, parent, pid}` (`proc.*`,
//! `proc.pname`), `user` `{name, uid, loginuid}`, `fd.name`, `evt.type`, and `fields`: every
//! output field, its dots made underscores (`proc.aname[2]` is `fields.proc_aname[2]`) since
//! the rules' field names nest on dots. Falco writes `null` for a field it could not resolve:
//! such a field is left out. A monitor adds what its inventory knows of the pod
//! ([`Enrichment`]): `workload`, `serviceAccount`, `namespaceLabels`.

use std::fmt;
use std::ops::ControlFlow;
use std::path::PathBuf;

use kubevigil_checks::rules::credentials;
use kubevigil_sigma::Options;
use serde_json::{Map, Value, json};

use crate::source::{
    EventSource, MAX_SAMPLE_MESSAGE, SourceEvent, SourceSummary, cap_text, read_json_lines,
};

/// The longest alert read; the rest of a longer line is skipped (and reported).
pub const MAX_LINE: usize = 1 << 20;

/// Falco's priorities, as Falco writes them, most severe first (falcosidekick
/// `types.PriorityType`).
pub const PRIORITIES: [&str; 8] = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];

/// The engine's options for Falco alerts.
pub fn sigma_options() -> Options {
    Options {
        product: Some("kubernetes".into()),
        service: Some("falco".into()),
        time_fields: vec!["time".into()],
        max_groups: 50_000,
        max_samples: 3,
        ..Options::default()
    }
}

/// A priority as Falco spells it, whatever its case; `None` when it is not one.
pub fn priority(s: &str) -> Option<&'static str> {
    PRIORITIES
        .iter()
        .copied()
        .find(|p| p.eq_ignore_ascii_case(s))
}

/// What a monitor's inventory knows of the pod an alert is about.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Enrichment {
    /// The controller at the top of the pod's owners: `(kind, name)` (a ReplicaSet's
    /// Deployment, a Job's CronJob), or the pod itself when it has none.
    pub workload: Option<(String, String)>,
    pub service_account: Option<String>,
    /// The labels of the pod's namespace.
    pub namespace_labels: Vec<(String, String)>,
}

/// Why a value is not a Falco alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NotAnAlert(pub String);

impl fmt::Display for NotAnAlert {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "not a Falco alert: {}", self.0)
    }
}

/// The event the rules see of one Falco alert (see the module documentation).
pub fn normalise(alert: &Value) -> Result<Map<String, Value>, NotAnAlert> {
    let no = |why: &str| NotAnAlert(why.to_string());
    let obj = alert.as_object().ok_or_else(|| no("not a JSON object"))?;
    let text = |k: &str| obj.get(k).and_then(Value::as_str).filter(|s| !s.is_empty());
    let prio = match obj.get("priority") {
        Some(Value::String(p)) => priority(p).ok_or_else(|| {
            NotAnAlert(format!(
                "unknown priority {:?} (expected one of {})",
                cut_for_message(p),
                PRIORITIES.join(", ")
            ))
        })?,
        _ => return Err(no("no priority")),
    };
    let rule = text("rule").ok_or_else(|| no("no rule"))?;
    let time = text("time").ok_or_else(|| no("no time"))?;
    if kubevigil_model::time::parse_rfc3339_micros(time).is_none() {
        return Err(NotAnAlert(format!(
            "time {:?} is not an RFC 3339 date-time",
            cut_for_message(time)
        )));
    }
    let fields = match obj.get("output_fields") {
        Some(Value::Object(f)) if !f.is_empty() => f,
        _ => return Err(no("no output_fields")),
    };
    let field = |k: &str| fields.get(k).filter(|v| !v.is_null()).cloned();
    let mut ev = Map::new();
    ev.insert("time".into(), json!(time));
    ev.insert("rule".into(), json!(rule));
    ev.insert("priority".into(), json!(prio));
    for k in ["source", "hostname", "output"] {
        if let Some(v) = text(k) {
            ev.insert(k.into(), json!(v));
        }
    }
    if let Some(tags) = obj.get("tags").and_then(Value::as_array) {
        let tags: Vec<&Value> = tags.iter().filter(|t| t.is_string()).collect();
        ev.insert("tags".into(), json!(tags));
    }
    for (to, from) in [("namespace", "k8s.ns.name"), ("pod", "k8s.pod.name")] {
        if let Some(v) = field(from) {
            ev.insert(to.into(), v);
        }
    }
    let image = match (
        field("container.image.repository"),
        field("container.image.tag"),
    ) {
        (Some(Value::String(r)), Some(Value::String(t))) if !t.is_empty() => {
            Some(json!(format!("{r}:{t}")))
        }
        (Some(r), _) => Some(r),
        (None, _) => field("container.image"),
    };
    let group = |pairs: &[(&str, Option<Value>)]| -> Option<Value> {
        let m: Map<String, Value> = pairs
            .iter()
            .filter_map(|(k, v)| Some((k.to_string(), v.clone()?)))
            .collect();
        (!m.is_empty()).then_some(Value::Object(m))
    };
    let groups = [
        (
            "container",
            group(&[
                ("id", field("container.id")),
                ("name", field("container.name")),
                ("image", image),
            ]),
        ),
        (
            "process",
            group(&[
                ("name", field("proc.name")),
                ("cmdline", field("proc.cmdline")),
                ("exepath", field("proc.exepath")),
                ("parent", field("proc.pname")),
                ("pid", field("proc.pid")),
            ]),
        ),
        (
            "user",
            group(&[
                ("name", field("user.name")),
                ("uid", field("user.uid")),
                ("loginuid", field("user.loginuid")),
            ]),
        ),
        ("fd", group(&[("name", field("fd.name"))])),
        ("evt", group(&[("type", field("evt.type"))])),
    ];
    for (k, v) in groups {
        // Falco names a process outside any container `host` (`container.id`, `.name`).
        if k == "container" && field("container.id").is_some_and(|id| id == "host") {
            continue;
        }
        if let Some(v) = v {
            ev.insert(k.into(), v);
        }
    }
    let flat: Map<String, Value> = fields
        .iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.replace('.', "_"), v.clone()))
        .collect();
    ev.insert("fields".into(), Value::Object(flat));
    Ok(ev)
}

/// Adds what the inventory knows of the alert's pod to a normalised event.
pub fn enrich(ev: &mut Map<String, Value>, e: &Enrichment) {
    if let Some((kind, name)) = &e.workload {
        ev.insert("workload".into(), json!({"kind": kind, "name": name}));
    }
    if let Some(sa) = &e.service_account {
        ev.insert("serviceAccount".into(), json!(sa));
    }
    if !e.namespace_labels.is_empty() {
        let labels: Map<String, Value> = e
            .namespace_labels
            .iter()
            .map(|(k, v)| (k.clone(), json!(v)))
            .collect();
        ev.insert("namespaceLabels".into(), Value::Object(labels));
    }
}

/// A value of the input quoted in an error: at most 80 characters.
fn cut_for_message(s: &str) -> String {
    s.chars().take(80).collect()
}

/// What credential a text of an alert (its output, a command line) holds, if any: the scan's
/// detectors on the whole text, then on its words as a command's arguments
/// (`--password hunter2`).
fn credential_in(text: &str) -> Option<String> {
    if !credentials::may_hold_credential(text) {
        return None;
    }
    if let Some(d) = credentials::detect_value(text, false) {
        return Some(d.describe());
    }
    let words: Vec<&str> = text.split_whitespace().collect();
    credentials::detect_args(&words)
        .into_iter()
        .next()
        .map(|(_, d)| d.describe())
}

/// A text an alert keeps: replaced by what credential it holds, else capped.
fn kept_text(v: Option<&Value>) -> Value {
    match v.and_then(Value::as_str) {
        Some(t) => match credential_in(t) {
            Some(what) => Value::String(format!("<redacted: {what}>")),
            None => {
                let mut t = t.to_string();
                cap_text(&mut t, MAX_SAMPLE_MESSAGE);
                Value::String(t)
            }
        },
        None => Value::Null,
    }
}

/// What an alert keeps of a Falco alert: the pod as the object (the node by its host name when
/// the alert is not about a pod), its time, and as facts the Falco rule, priority, source, host,
/// tags, output, container, process (command line), user, file and what the inventory added. An
/// output or command line holding a credential is replaced by what it holds.
pub fn sample(text: &[u8]) -> String {
    let Ok(ev) = serde_json::from_slice::<Map<String, Value>>(text) else {
        return "null".into();
    };
    let get = |k: &str| ev.get(k).cloned().unwrap_or(Value::Null);
    let object = match ev.get("pod").and_then(Value::as_str) {
        Some(pod) => json!({"resource": "pods", "namespace": get("namespace"), "name": pod}),
        None => json!({"resource": "nodes", "name": get("hostname")}),
    };
    let mut process = ev.get("process").cloned().unwrap_or(Value::Null);
    if let Some(p) = process.as_object_mut()
        && p.contains_key("cmdline")
    {
        let kept = kept_text(p.get("cmdline"));
        p.insert("cmdline".into(), kept);
    }
    let mut falco = Map::new();
    for k in ["rule", "priority", "source", "hostname", "tags"] {
        falco.insert(k.into(), get(k));
    }
    falco.insert("output".into(), kept_text(ev.get("output")));
    falco.insert("container".into(), get("container"));
    falco.insert("process".into(), process);
    falco.insert("user".into(), get("user"));
    falco.insert(
        "file".into(),
        ev.get("fd").map_or(Value::Null, |f| f["name"].clone()),
    );
    for k in ["workload", "serviceAccount"] {
        if let Some(v) = ev.get(k) {
            falco.insert(k.into(), v.clone());
        }
    }
    json!({
        "time": get("time"),
        "objectRef": object,
        "facts": {"falco": falco},
    })
    .to_string()
}

/// Reads one alert's JSON text into the event the rules see; the error is located in `text`
/// (0-based byte offset) when the JSON is invalid.
pub fn event_of(text: &[u8]) -> Result<Map<String, Value>, (Option<usize>, String)> {
    let value: Value = serde_json::from_slice(text).map_err(|e| {
        let offset = offset_of(text, e.line(), e.column());
        (Some(offset), format!("invalid JSON: {e}"))
    })?;
    normalise(&value).map_err(|e| (None, e.to_string()))
}

/// The byte offset of serde_json's 1-based line and column in `text`.
fn offset_of(text: &[u8], line: usize, col: usize) -> usize {
    let mut start = 0;
    for _ in 1..line {
        match memchr::memchr(b'\n', &text[start..]) {
            Some(i) => start += i + 1,
            None => break,
        }
    }
    (start + col.saturating_sub(1)).min(text.len())
}

/// Files of Falco alerts (`-` is stdin), read in order, line by line.
#[derive(Debug, Clone)]
pub struct FalcoSource {
    pub paths: Vec<PathBuf>,
}

impl FalcoSource {
    pub fn new(paths: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        FalcoSource {
            paths: paths.into_iter().map(Into::into).collect(),
        }
    }
}

impl EventSource for FalcoSource {
    fn kind(&self) -> &'static str {
        "falco"
    }

    fn read(
        &mut self,
        on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
        on_error: &mut dyn FnMut(&dyn fmt::Display),
    ) -> SourceSummary {
        read_json_lines(&self.paths, MAX_LINE, on_event, on_error, |line| {
            event_of(line)
                .map(|ev| Value::Object(ev).to_string())
                .map_err(|(offset, message)| (offset.unwrap_or(0) as u64, message))
        })
    }

    fn sampler(&self) -> crate::source::Sampler {
        |text, _| sample(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn alert(fields: Value) -> Value {
        json!({
            "uuid": "5b8c2d7e-8d0b-4b8c-9d27-3f1c2b7a9e10",
            "output": "10:18:46.286581237: Notice A shell was spawned in a container with an attached terminal (user=root command=bash)",
            "priority": "Notice",
            "rule": "Terminal shell in container",
            "time": "2026-11-30T10:18:46.286581237Z",
            "output_fields": fields,
            "source": "syscall",
            "tags": ["T1059", "container", "mitre_execution", "shell"],
            "hostname": "node-1"
        })
    }

    #[test]
    fn falcosidekick_acceptance() {
        let ok = alert(json!({"proc.name": "bash"}));
        assert!(normalise(&ok).is_ok());
        for (k, v, why) in [
            ("priority", json!("Loud"), "unknown priority"),
            ("priority", json!(3), "no priority"),
            ("rule", json!(""), "no rule"),
            ("time", json!("yesterday"), "not an RFC 3339"),
            ("output_fields", json!({}), "no output_fields"),
        ] {
            let mut a = ok.clone();
            a[k] = v;
            let e = normalise(&a).unwrap_err().to_string();
            assert!(e.contains(why), "{k}: {e}");
        }
        let mut lower = ok.clone();
        lower["priority"] = json!("critical");
        assert_eq!(normalise(&lower).unwrap()["priority"], "Critical");
    }

    #[test]
    fn fields_are_named_and_nulls_left_out() {
        let ev = normalise(&alert(json!({
            "k8s.ns.name": "shop", "k8s.pod.name": "web-1",
            "container.id": "2a3f", "container.name": "web",
            "container.image.repository": "nginx", "container.image.tag": "1.27",
            "proc.name": "bash", "proc.cmdline": "bash -i", "proc.pname": "runc",
            "user.name": "root", "user.uid": 0, "fd.name": null, "proc.aname[2]": "containerd-shim"
        })))
        .unwrap();
        assert_eq!(ev["namespace"], "shop");
        assert_eq!(ev["pod"], "web-1");
        assert_eq!(ev["container"]["image"], "nginx:1.27");
        assert_eq!(ev["process"]["parent"], "runc");
        assert_eq!(ev["user"]["uid"], 0);
        assert!(ev.get("fd").is_none());
        assert_eq!(ev["fields"]["proc_aname[2]"], "containerd-shim");
        assert!(ev["fields"].get("fd_name").is_none());
    }

    #[test]
    fn a_credential_in_the_output_or_command_line_is_named_never_kept() {
        let secret = ["hunter", "2-Xq9vLm"].concat();
        let mut a = alert(json!({
            "k8s.ns.name": "shop", "k8s.pod.name": "db-0",
            "proc.name": "mysql", "proc.cmdline": format!("mysql --password {secret} -h db"),
        }));
        a["output"] = json!(format!(
            "Notice DB client run (command=mysql --password {secret} -h db)"
        ));
        let ev = Value::Object(normalise(&a).unwrap()).to_string();
        let s = sample(ev.as_bytes());
        assert!(!s.contains(&secret), "{s}");
        let s: Value = serde_json::from_str(&s).unwrap();
        assert!(
            s["facts"]["falco"]["process"]["cmdline"]
                .as_str()
                .unwrap()
                .starts_with("<redacted: "),
            "{s}"
        );
        assert!(
            s["facts"]["falco"]["output"]
                .as_str()
                .unwrap()
                .starts_with("<redacted: ")
        );
        assert_eq!(s["objectRef"]["name"], "db-0");
    }
}
