//! The alert contract: what `kubevigil audit detect -o json` prints, one alert per line, and
//! what the monitor's sinks carry (scripts depend on it). Every key is documented in the
//! README ("Alert JSON contract"); in order:
//!
//! `rule` (id), `name`, `title`, `severity`, `description`, `why`, `falsePositives`,
//! `nextSteps`, `tags`, `mitre` {`tactics`, `techniques`}, `time`, `firstSeen`, `lastSeen`,
//! `update`, `count`, `dedupKey`, `group`, `actor` {`username`, `groups`, `serviceAccount`,
//! `impersonatedUser`, `sourceIPs`, `userAgent`}, `action` {`verb`, `resource`, `subresource`,
//! `apiGroup`, `namespace`, `name`, `requestURI`, `responseCode`}, `facts`, `auditIDs`,
//! `events` [{`auditID`, `time`, `user`, `sourceIPs`, `verb`, `objectRef`, `responseStatus`}].

use std::sync::{Arc, LazyLock};

use kubevigil_model::Severity;
use kubevigil_model::time::{format_rfc3339_ms, parse_rfc3339_ms};
use kubevigil_sigma::Alert;
use serde_json::{Map, Value};

use crate::audit::CONTRACT_FIELDS;
use crate::rules::RuleDoc;
use crate::sample::{Obj, Raw, Sample};

/// One alert: a rule matched an event, or a correlation fired over several; with repeats
/// folded in by [`crate::dedup`].
#[derive(Debug, Clone, PartialEq)]
pub struct DetectionAlert {
    /// The rule's `id`.
    pub rule: String,
    pub title: String,
    pub severity: Severity,
    pub tags: Vec<String>,
    /// What the rule file says: readable name, description, why it matters, known false
    /// positives, next steps (shared by every alert of the rule).
    pub doc: Arc<RuleDoc>,
    /// Event time (RFC 3339, UTC, milliseconds) of the first occurrence, when known.
    pub time: Option<String>,
    /// Event times (ms since the epoch) of the first and the last occurrence.
    pub first_seen: Option<i64>,
    pub last_seen: Option<i64>,
    /// A correlation's group-by fields and values (a secret value as `<redacted:HASH>`);
    /// `None` for a single-event rule.
    pub group: Option<Vec<(String, String)>>,
    /// Events that made the alert and its repeats.
    pub count: u64,
    /// A stream's update of an alert emitted earlier (same `dedup_key`): the running count.
    pub update: bool,
    /// The dedup key ([`crate::dedup::key_of`], 64 hex digits).
    pub dedup_key: String,
    /// The auditIDs of the events (the first [`crate::dedup::MAX_AUDIT_IDS`]).
    pub audit_ids: Vec<String>,
    /// The event, or up to 3 sample events of a correlation, each as
    /// [`crate::audit::sample`] keeps it: request attributes and facts, never bodies.
    pub events: Vec<Sample>,
}

impl Default for DetectionAlert {
    fn default() -> Self {
        DetectionAlert {
            rule: String::new(),
            title: String::new(),
            severity: Severity::Medium,
            tags: Vec::new(),
            doc: Arc::default(),
            time: None,
            first_seen: None,
            last_seen: None,
            group: None,
            count: 1,
            update: false,
            dedup_key: String::new(),
            audit_ids: Vec::new(),
            events: Vec::new(),
        }
    }
}

impl DetectionAlert {
    /// The engine's alert, explained by its rule's `doc`, its samples (texts made by the
    /// source's sampler, such as [`crate::audit::sample`]) kept as they are. The dedup key is left empty (set by the
    /// pipeline).
    pub fn from_engine(a: Alert<String>, doc: &Arc<RuleDoc>) -> DetectionAlert {
        let events: Vec<Sample> = a.samples.into_iter().map(Sample::from_text).collect();
        let audit_ids = events
            .iter()
            .filter_map(|e| e.members().get("auditID").as_str().map(String::from))
            .take(crate::dedup::MAX_AUDIT_IDS)
            .collect();
        DetectionAlert {
            severity: a.rule.severity(),
            rule: a.rule.id.clone(),
            title: a.rule.title.clone(),
            tags: a.rule.tags.clone(),
            doc: Arc::clone(doc),
            time: a.time_ms.map(format_rfc3339_ms),
            first_seen: a.time_ms,
            last_seen: a.time_ms,
            group: a.correlation.then_some(a.group),
            count: a.count,
            update: false,
            dedup_key: String::new(),
            audit_ids,
            events,
        }
    }

    /// The rule's readable name ([`crate::rules::display_name`]).
    pub fn name(&self) -> &str {
        &self.doc.name
    }

    /// The first sample event (`null` when there is none).
    pub fn first_event(&self) -> &Sample {
        static NULL: LazyLock<Sample> = LazyLock::new(|| Sample::from(Value::Null));
        self.events.first().unwrap_or(&NULL)
    }

    /// Who: the group of a correlation, else the actor ([`actor_label`]).
    pub fn who(&self) -> String {
        self.group_label()
            .unwrap_or_else(|| actor_label(self.first_event()))
    }

    /// A correlation's group values (`a,b`), when it has any.
    pub fn group_label(&self) -> Option<String> {
        let group = self.group.as_ref().filter(|g| !g.is_empty())?;
        Some(
            group
                .iter()
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
                .join(","),
        )
    }

    /// The first sample's actor and object as people read them ([`actor_label`],
    /// [`object_label`]): what the dedup key and the statistics of every alert read.
    pub fn labels(&self) -> Labels {
        let first = self.first_event();
        Labels {
            actor: actor_label(first),
            object: object_label(first),
        }
    }

    /// The alert as the JSON contract (see the module documentation): what
    /// [`DetectionAlert::write_contract`] writes, parsed.
    pub fn to_json(&self) -> Value {
        let mut line = Vec::with_capacity(4096);
        self.write_contract(&mut line)
            .expect("writing to memory does not fail");
        serde_json::from_slice(&line).expect("the contract is JSON")
    }

    /// The contract's keys from `rule` to `mitre`: the same for every alert of a rule.
    fn contract_head(&self) -> ContractHead<'_> {
        ContractHead {
            rule: &self.rule,
            name: &self.doc.name,
            title: &self.title,
            severity: self.severity.as_str(),
            description: &self.doc.description,
            why: self.doc.why.as_deref(),
            false_positives: &self.doc.false_positives,
            next_steps: &self.doc.next_steps,
            tags: &self.tags,
            mitre: Mitre::of(&self.tags),
        }
    }

    /// Appends the contract (see the module documentation) as compact JSON, strings escaped as
    /// [`kubevigil_model::text::json::to_writer`] escapes them. The rule's part (`rule` to
    /// `mitre`: its documentation, most of an alert's text) is written once per rule and
    /// thread, then copied: escaping it for every alert was a visible share of writing alerts.
    /// The alert's own part is written from the samples' text: parts of it are copied, never
    /// parsed into `Value`s.
    pub fn write_contract(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        HEADS.with_borrow_mut(|heads| {
            let key = Arc::as_ptr(&self.doc);
            match heads.get(&key) {
                Some(h) if h.is_for(self) => out.extend_from_slice(&h.json),
                _ => {
                    let start = out.len();
                    kubevigil_model::text::json::to_writer(
                        &mut *out,
                        &self.contract_head(),
                        false,
                    )?;
                    // Without its closing brace: the tail's members follow.
                    out.pop();
                    if heads.len() >= MAX_CACHED_HEADS {
                        heads.clear();
                    }
                    heads.insert(
                        key,
                        CachedHead {
                            doc: Arc::clone(&self.doc),
                            rule: self.rule.clone(),
                            title: self.title.clone(),
                            severity: self.severity,
                            tags: self.tags.clone(),
                            json: out[start..].to_vec(),
                        },
                    );
                }
            }
            self.write_tail(out)
        })
    }

    /// The contract's members from `time` on (after the head's last member): this alert's own.
    fn write_tail(&self, out: &mut Vec<u8>) -> serde_json::Result<()> {
        use kubevigil_model::text::json::to_writer;
        let first = self.first_event().members();
        let time = |out: &mut Vec<u8>, ms: Option<i64>| match ms {
            Some(ms) => write_time(out, ms),
            None => out.extend_from_slice(b"null"),
        };
        out.extend_from_slice(b",\"time\":");
        to_writer(&mut *out, &self.time, false)?;
        out.extend_from_slice(b",\"firstSeen\":");
        time(out, self.first_seen);
        out.extend_from_slice(b",\"lastSeen\":");
        time(out, self.last_seen);
        out.extend_from_slice(if self.update {
            b",\"update\":true,\"count\":"
        } else {
            b",\"update\":false,\"count\":"
        });
        out.extend_from_slice(self.count.to_string().as_bytes());
        out.extend_from_slice(b",\"dedupKey\":");
        to_writer(&mut *out, dedup_hash(&self.dedup_key), false)?;
        out.extend_from_slice(b",\"group\":");
        match &self.group {
            // A map, as JSON has it: a repeated field keeps its first place, last value.
            Some(group) => {
                let map: Map<String, Value> = group
                    .iter()
                    .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                    .collect();
                to_writer(&mut *out, &map, false)?;
            }
            None => out.extend_from_slice(b"null"),
        }
        out.extend_from_slice(b",\"actor\":");
        write_actor(out, &first);
        out.extend_from_slice(b",\"action\":");
        write_action(out, &first);
        out.extend_from_slice(b",\"facts\":");
        first.get("facts").write_or(out, "{}");
        out.extend_from_slice(b",\"auditIDs\":");
        to_writer(&mut *out, &self.audit_ids, false)?;
        out.extend_from_slice(b",\"events\":[");
        for (i, e) in self.events.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_event(out, &e.members());
        }
        out.extend_from_slice(b"]}");
        Ok(())
    }
}

/// [`DetectionAlert::labels`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Labels {
    pub actor: String,
    pub object: String,
}

/// A time as the contract writes it: an RFC 3339 string with milliseconds.
fn write_time(out: &mut Vec<u8>, ms: i64) {
    out.push(b'"');
    out.extend_from_slice(format_rfc3339_ms(ms).as_bytes());
    out.push(b'"');
}

/// The `actor` of the contract ([`actor`]): the user's `username`, `groups` and
/// `serviceAccount`, then `impersonatedUser` (the same three, `null` without impersonation),
/// `sourceIPs` (`[]` unless a list) and `userAgent`.
fn write_actor(out: &mut Vec<u8>, sample: &Obj<'_>) {
    out.push(b'{');
    write_identity(out, &sample.get("user").object());
    out.extend_from_slice(b",\"impersonatedUser\":");
    let imp = sample.get("impersonatedUser");
    if imp.is_object() {
        out.push(b'{');
        write_identity(out, &imp.object());
        out.push(b'}');
    } else {
        out.extend_from_slice(b"null");
    }
    out.extend_from_slice(b",\"sourceIPs\":");
    sample
        .get("sourceIPs")
        .filter(Raw::is_array)
        .write_or(out, "[]");
    out.extend_from_slice(b",\"userAgent\":");
    sample.get("userAgent").write_or(out, "null");
    out.push(b'}');
}

/// A user's members in the contract: `username` (`null` unless a string), `groups` (`[]` when
/// absent) and `serviceAccount` (`namespace` and `name`, [`service_account`]; `null` when the
/// username is not a service account's).
fn write_identity(out: &mut Vec<u8>, user: &Obj<'_>) {
    let username = user.get("username");
    let name = username.as_str();
    out.extend_from_slice(b"\"username\":");
    username
        .filter(|u| u.as_str().is_some())
        .write_or(out, "null");
    out.extend_from_slice(b",\"groups\":");
    user.get("groups").write_or(out, "[]");
    out.extend_from_slice(b",\"serviceAccount\":");
    match name.as_deref().and_then(service_account) {
        Some((namespace, name)) => {
            kubevigil_model::text::json::to_writer(
                &mut *out,
                &ServiceAccount { namespace, name },
                false,
            )
            .expect("writing to memory does not fail");
        }
        None => out.extend_from_slice(b"null"),
    }
}

/// The `action` of the contract ([`action`]).
fn write_action(out: &mut Vec<u8>, sample: &Obj<'_>) {
    let or = sample.get("objectRef").object();
    let members: [(&str, Raw<'_>); 8] = [
        ("{\"verb\":", sample.get("verb")),
        (",\"resource\":", or.get("resource")),
        (",\"subresource\":", or.get("subresource")),
        (",\"apiGroup\":", or.get("apiGroup")),
        (",\"namespace\":", or.get("namespace")),
        (",\"name\":", or.get("name")),
        (",\"requestURI\":", sample.get("requestURI")),
        (
            ",\"responseCode\":",
            sample.get("responseStatus").object().get("code"),
        ),
    ];
    for (key, value) in members {
        out.extend_from_slice(key.as_bytes());
        value.write_or(out, "null");
    }
    out.push(b'}');
}

/// One of the contract's `events`: the sample's `CONTRACT_FIELDS`, `time` as RFC 3339 with
/// milliseconds ([`event_time`]), `null` for what it lacks.
fn write_event(out: &mut Vec<u8>, sample: &Obj<'_>) {
    out.push(b'{');
    for (i, k) in CONTRACT_FIELDS.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        out.push(b'"');
        out.extend_from_slice(k.as_bytes());
        out.extend_from_slice(b"\":");
        match *k {
            "time" => match event_time_of(sample) {
                Some(ms) => write_time(out, ms),
                None => out.extend_from_slice(b"null"),
            },
            _ => sample.get(k).write_or(out, "null"),
        }
    }
    out.push(b'}');
}

thread_local! {
    /// The JSON of contract heads already written, by rule documentation.
    static HEADS: std::cell::RefCell<std::collections::HashMap<*const RuleDoc, CachedHead>> =
        Default::default();
}

/// Rules whose heads a thread keeps (a monitor reloading its rules makes new ones).
const MAX_CACHED_HEADS: usize = 4096;

/// A contract head as written (without its closing brace), with what it was written from. The
/// documentation is held, so its address is not reused for another while the head is cached;
/// the alert's own fields are compared, as an alert may carry another title or severity than
/// its rule's documentation.
struct CachedHead {
    doc: Arc<RuleDoc>,
    rule: String,
    title: String,
    severity: Severity,
    tags: Vec<String>,
    json: Vec<u8>,
}

impl CachedHead {
    fn is_for(&self, a: &DetectionAlert) -> bool {
        Arc::ptr_eq(&self.doc, &a.doc)
            && self.rule == a.rule
            && self.title == a.title
            && self.severity == a.severity
            && self.tags == a.tags
    }
}

#[derive(Debug, serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct ContractHead<'a> {
    rule: &'a str,
    name: &'a str,
    title: &'a str,
    severity: &'static str,
    description: &'a str,
    why: Option<&'a str>,
    false_positives: &'a [String],
    next_steps: &'a [String],
    tags: &'a [String],
    mitre: Mitre<'a>,
}

#[derive(serde::Serialize)]
struct ServiceAccount<'a> {
    namespace: &'a str,
    name: &'a str,
}

/// `dedupKey` in the contract: the first 16 hex digits of the key (a SHA-256: stable across
/// runs, so an update can be matched to its alert).
fn dedup_hash(key: &str) -> &str {
    &key[..key.floor_char_boundary(16)]
}

/// MITRE ATT&CK from Sigma tags (Sigma tags appendix: `attack.tNNNN[.NNN]` a technique,
/// other `attack.*` tags a tactic), borrowed from the tags.
#[derive(Debug, serde::Serialize)]
struct Mitre<'a> {
    tactics: Vec<&'a str>,
    techniques: Vec<String>,
}

impl<'a> Mitre<'a> {
    fn of(tags: &'a [String]) -> Mitre<'a> {
        let mut tactics = Vec::new();
        let mut techniques = Vec::new();
        for t in tags {
            let Some(rest) = t.strip_prefix("attack.") else {
                continue;
            };
            let is_technique = rest.len() > 1
                && rest.starts_with(['t', 'T'])
                && rest[1..].chars().all(|c| c.is_ascii_digit() || c == '.');
            if is_technique {
                techniques.push(rest.to_uppercase());
            } else if !rest.starts_with(['g', 's'])
                || !rest[1..].chars().all(|c| c.is_ascii_digit())
            {
                // `attack.gNNNN` (groups) and `attack.sNNNN` (software) are neither.
                tactics.push(rest);
            }
        }
        Mitre {
            tactics,
            techniques,
        }
    }
}

/// A service account username split as the API server does (`SplitUsername` in
/// k8s.io/apiserver/pkg/authentication/serviceaccount/util.go): `system:serviceaccount:` then
/// exactly two `:`-separated parts, a namespace (a DNS-1123 label) and a name (a DNS-1123
/// subdomain).
pub fn service_account(username: &str) -> Option<(&str, &str)> {
    let rest = username.strip_prefix("system:serviceaccount:")?;
    let (ns, name) = rest.split_once(':')?;
    let label = |s: &str, max: usize, dots: bool| {
        !s.is_empty()
            && s.len() <= max
            && s.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-' || (dots && b == b'.')
            })
            && !s.starts_with(['-', '.'])
            && !s.ends_with(['-', '.'])
    };
    (label(ns, 63, false) && label(name, 253, true)).then_some((ns, name))
}

/// The actor of an event sample: its user, the impersonated user (`null` without
/// impersonation), source addresses and user agent.
pub fn actor(sample: &Sample) -> Value {
    let mut out = Vec::with_capacity(256);
    write_actor(&mut out, &sample.members());
    serde_json::from_slice(&out).expect("the actor is JSON")
}

/// What was done: verb, resource, subresource, API group, namespace, name, request URI and
/// response code of an event sample.
pub fn action(sample: &Sample) -> Value {
    let mut out = Vec::with_capacity(256);
    write_action(&mut out, &sample.members());
    serde_json::from_slice(&out).expect("the action is JSON")
}

/// The actor as people read it: `user`, or `user as impersonated-user`; for a pod log line,
/// `container NAME`; for a Kubernetes Event, its reporter (`kubelet on node-1`); `-` when
/// unknown.
pub fn actor_label(sample: &Sample) -> String {
    let m = sample.members();
    if m.get("user").is_null()
        && let Some(label) = source_actor(sample.value())
    {
        return label;
    }
    let user = m.get("user").object().get("username").as_str();
    let user = user.as_deref().unwrap_or("-");
    match m.get("impersonatedUser").object().get("username").as_str() {
        Some(imp) => format!("{user} as {imp}"),
        None => user.to_string(),
    }
}

/// The actor of a sample without a user (not an audit event), from its facts.
fn source_actor(sample: &Value) -> Option<String> {
    let f = &sample["facts"];
    if let Some(c) = f["log"]["container"].as_str() {
        return Some(format!("container {c}"));
    }
    let falco = &f["falco"];
    if falco.is_object() {
        return Some(falco_actor(falco));
    }
    let flow = &f["flow"];
    if flow.is_object() {
        return Some(flow_end(&flow["source"]));
    }
    let r = &f["resources"];
    if r.is_object() {
        return Some(
            match (
                r["container"].as_str(),
                r["quota"].as_str(),
                r["hpa"].as_str(),
            ) {
                (Some(c), _, _) => format!("container {c}"),
                (None, Some(q), _) => format!("quota {q}"),
                (None, None, Some(h)) => format!("autoscaler {h}"),
                _ => format!("pod {}", r["pod"].as_str().unwrap_or("?")),
            },
        );
    }
    let r = f["event"]["reporter"].as_str()?;
    Some(match f["event"]["node"].as_str() {
        Some(node) => format!("{r} on {node}"),
        None => r.to_string(),
    })
}

/// A Falco alert's actor: the process, its user, and where it ran (`bash (root) in container
/// web`, `sshd (root) on node-1`).
fn falco_actor(falco: &Value) -> String {
    let mut s = falco["process"]["name"]
        .as_str()
        .unwrap_or("a process")
        .to_string();
    if let Some(u) = falco["user"]["name"].as_str() {
        s.push_str(&format!(" ({u})"));
    }
    match (
        falco["container"]["name"].as_str(),
        falco["hostname"].as_str(),
    ) {
        (Some(c), _) => s.push_str(&format!(" in container {c}")),
        (None, Some(h)) => s.push_str(&format!(" on {h}")),
        (None, None) => {}
    }
    s
}

/// An end of a flow as people read it: `shop/web-1 (Deployment web)`, `shop/web-1`, or its
/// address and port.
pub fn flow_end(end: &Value) -> String {
    match (end["namespace"].as_str(), end["pod"].as_str()) {
        (Some(ns), Some(pod)) => match end["workload"]["name"].as_str() {
            Some(w) => format!(
                "{ns}/{pod} ({} {w})",
                end["workload"]["kind"].as_str().unwrap_or("workload")
            ),
            None => format!("{ns}/{pod}"),
        },
        (Some(ns), None) => format!("{ns}/?"),
        _ => end["ip"].as_str().unwrap_or("?").to_string(),
    }
}

/// The object as people read it: `resource[/subresource] [namespace/]name`, or a non-resource
/// request's path.
pub fn object_label(sample: &Sample) -> String {
    let m = sample.members();
    let or = m.get("objectRef");
    if !or.is_object() {
        return m
            .get("requestURI")
            .as_str()
            .unwrap_or_default()
            .into_owned();
    }
    let or = or.object();
    let mut s = or.get("resource").as_str().unwrap_or_default().into_owned();
    if let Some(sub) = or.get("subresource").as_str() {
        s.push('/');
        s.push_str(&sub);
    }
    match (or.get("namespace").as_str(), or.get("name").as_str()) {
        (Some(ns), name) => s.push_str(&format!(" {ns}/{}", name.as_deref().unwrap_or("*"))),
        (None, Some(n)) => s.push_str(&format!(" {n}")),
        (None, None) => {}
    }
    s
}

/// The facts of an event sample in a few words, for the table: the command of an exec, who a
/// binding grants what, a pod's privileged settings.
pub fn facts_label(sample: &Value) -> String {
    let f = &sample["facts"];
    let mut parts = Vec::new();
    let event = &f["event"];
    if event.is_object() {
        parts.push(format!(
            "{}: {}",
            event["reason"].as_str().unwrap_or("?"),
            event["message"].as_str().unwrap_or("")
        ));
    }
    let r = &f["resources"];
    if r.is_object() {
        parts.push(match r["kind"].as_str().unwrap_or("") {
            "cpu_hog" | "memory_hog" => format!(
                "{} {}x its request for {} min",
                r["resource"].as_str().unwrap_or("?"),
                r["ratio"],
                r["minutes"]
            ),
            "node_hog" => format!(
                "{} of node {}'s {} for {} min",
                r["share"],
                r["node"].as_str().unwrap_or("?"),
                r["resource"].as_str().unwrap_or("?"),
                r["minutes"]
            ),
            "quota_near_limit" => format!(
                "{}: {} used of {}",
                r["resource"].as_str().unwrap_or("?"),
                r["used"].as_str().unwrap_or("?"),
                r["hard"].as_str().unwrap_or("?")
            ),
            "hpa_at_max" => format!(
                "{} at maxReplicas {} with {} at {}% (target {}%) for {} min",
                r["target"].as_str().unwrap_or("?"),
                r["maxReplicas"],
                r["metric"].as_str().unwrap_or("?"),
                r["current"],
                r["targetUtilization"],
                r["minutes"]
            ),
            "hpa_unable" => format!(
                "{} {}: {}",
                r["condition"].as_str().unwrap_or("?"),
                r["reason"].as_str().unwrap_or("?"),
                r["message"].as_str().unwrap_or("")
            ),
            kind => format!("{kind}, {} restarts", r["restarts"]),
        });
    }
    let flow = &f["flow"];
    if flow.is_object() {
        let mut s = format!(
            "{} {}/{}",
            flow["verdict"].as_str().unwrap_or("?"),
            flow["protocol"].as_str().unwrap_or("?"),
            flow["port"]
        );
        if let Some(r) = flow["dropReason"].as_str() {
            s.push_str(&format!(" ({r})"));
        }
        if let Some(m) = flow["model"]["verdict"].as_str() {
            s.push_str(&format!("; the NetworkPolicies: {m}"));
        }
        parts.push(s);
    }
    let falco = &f["falco"];
    if falco.is_object() {
        parts.push(format!(
            "falco {}: {}",
            falco["rule"].as_str().unwrap_or("?"),
            falco["process"]["cmdline"]
                .as_str()
                .or(falco["output"].as_str())
                .unwrap_or("")
        ));
    }
    let log = &f["log"];
    if log.is_object() {
        parts.push(format!(
            "[{}] {}",
            log["container"].as_str().unwrap_or("?"),
            log["message"].as_str().unwrap_or("")
        ));
    }
    if let Some(cmd) = f["exec"]["command"].as_array().filter(|c| !c.is_empty()) {
        let words: Vec<&str> = cmd.iter().filter_map(Value::as_str).collect();
        let mut s = format!("$ {}", words.join(" "));
        if let Some(c) = f["exec"]["container"].as_str() {
            s.push_str(&format!(" (container {c})"));
        }
        parts.push(s);
    }
    let b = &f["binding"];
    if b.is_object() {
        let role = format!(
            "{}/{}",
            b["roleRef"]["kind"].as_str().unwrap_or("?"),
            b["roleRef"]["name"].as_str().unwrap_or("?")
        );
        let subjects: Vec<String> = b["subjects"]
            .as_array()
            .map(|s| {
                s.iter()
                    .map(|s| {
                        let name = s["name"].as_str().unwrap_or("?");
                        match s["namespace"].as_str() {
                            Some(ns) => {
                                format!("{}:{ns}/{name}", s["kind"].as_str().unwrap_or("?"))
                            }
                            None => format!("{}:{name}", s["kind"].as_str().unwrap_or("?")),
                        }
                    })
                    .collect()
            })
            .unwrap_or_default();
        parts.push(format!("grants {role} to {}", subjects.join(", ")));
    }
    let p = &f["pod"];
    if p.is_object() {
        let mut s = Vec::new();
        for k in ["hostNetwork", "hostPID", "hostIPC"] {
            if p[k] == true {
                s.push(k.to_string());
            }
        }
        for c in p["containers"].as_array().into_iter().flatten() {
            let name = c["name"].as_str().unwrap_or("?");
            if c["privileged"] == true {
                s.push(format!("{name}: privileged"));
            }
            let caps: Vec<&str> = c["capabilities"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !caps.is_empty() {
                s.push(format!("{name}: +{}", caps.join(",")));
            }
        }
        if !s.is_empty() {
            parts.push(s.join("; "));
        }
    }
    parts.join("; ")
}

/// An event sample's time: `stageTimestamp`, else `requestReceivedTimestamp` (audit events),
/// else `time` (pod log lines, Kubernetes Events).
pub fn event_time(sample: &Sample) -> Option<i64> {
    event_time_of(&sample.members())
}

fn event_time_of(sample: &Obj<'_>) -> Option<i64> {
    ["stageTimestamp", "requestReceivedTimestamp", "time"]
        .iter()
        .find_map(|k| sample.get(k).as_str().and_then(|t| parse_rfc3339_ms(&t)))
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The contract as it was written from parsed samples, before samples were kept as text:
    /// the reference the writer is compared with.
    mod reference {
        use std::borrow::Cow;

        use serde_json::{Map, Value, json};

        use super::super::*;

        /// The contract line of `a`, written as the alert writer escapes it.
        pub fn line(a: &DetectionAlert) -> String {
            kubevigil_model::text::json::to_string(&contract(a), false).unwrap()
        }

        pub fn contract(a: &DetectionAlert) -> Value {
            let first = a.first_event().value();
            let mut head = serde_json::to_value(a.contract_head()).unwrap();
            let tail = ContractTail {
                time: a.time.as_deref(),
                first_seen: a.first_seen.map(format_rfc3339_ms),
                last_seen: a.last_seen.map(format_rfc3339_ms),
                update: a.update,
                count: a.count,
                dedup_key: dedup_hash(&a.dedup_key),
                group: a.group.as_ref().map(|group| {
                    group
                        .iter()
                        .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                        .collect::<Map<String, Value>>()
                }),
                actor: ActorView(first),
                action: ActionView(first),
                facts: match first.get("facts") {
                    Some(f) => Cow::Borrowed(f),
                    None => Cow::Owned(json!({})),
                },
                audit_ids: &a.audit_ids,
                events: a.events.iter().map(|e| EventView(e.value())).collect(),
            };
            let Value::Object(tail) = serde_json::to_value(tail).unwrap() else {
                unreachable!()
            };
            head.as_object_mut().unwrap().extend(tail);
            head
        }

        fn event_time(sample: &Value) -> Option<i64> {
            ["stageTimestamp", "requestReceivedTimestamp", "time"]
                .iter()
                .find_map(|k| sample[*k].as_str().and_then(parse_rfc3339_ms))
        }

        #[derive(Debug, serde::Serialize)]
        #[serde(rename_all = "camelCase")]
        struct ContractTail<'a> {
            time: Option<&'a str>,
            first_seen: Option<String>,
            last_seen: Option<String>,
            update: bool,
            count: u64,
            dedup_key: &'a str,
            group: Option<Map<String, Value>>,
            actor: ActorView<'a>,
            action: ActionView<'a>,
            facts: Cow<'a, Value>,
            #[serde(rename = "auditIDs")]
            audit_ids: &'a [String],
            events: Vec<EventView<'a>>,
        }

        // The contract's parts written straight from the sample, without copying it into new
        // `Value`s: every alert goes through them.

        /// The `actor` of the contract ([`actor`]).
        #[derive(Debug)]
        struct ActorView<'a>(&'a Value);

        /// A user: `username`, `groups` (`[]` when absent) and `serviceAccount` (`namespace` and
        /// `name`, [`service_account`]), `null` when the username is not a service account's.
        #[derive(Debug)]
        struct IdentityView<'a>(&'a Value);

        /// The `action` of the contract ([`action`]).
        #[derive(Debug)]
        struct ActionView<'a>(&'a Value);

        /// One of the contract's `events`: the sample's `CONTRACT_FIELDS`, `time` as RFC 3339 with
        /// milliseconds ([`event_time`]), `null` for what it lacks.
        #[derive(Debug)]
        struct EventView<'a>(&'a Value);

        static EMPTY_LIST: Value = Value::Array(Vec::new());

        impl serde::Serialize for IdentityView<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let mut m = s.serialize_map(Some(3))?;
                self.entries(&mut m)?;
                m.end()
            }
        }

        impl serde::Serialize for ActorView<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let sample = self.0;
                let user = IdentityView(&sample["user"]);
                let imp = &sample["impersonatedUser"];
                let mut m = s.serialize_map(Some(6))?;
                // The identity's three keys, then the others (as `actor` adds them to it).
                user.entries(&mut m)?;
                m.serialize_entry(
                    "impersonatedUser",
                    &imp.is_object().then_some(IdentityView(imp)),
                )?;
                m.serialize_entry(
                    "sourceIPs",
                    sample
                        .get("sourceIPs")
                        .filter(|v| v.is_array())
                        .unwrap_or(&EMPTY_LIST),
                )?;
                m.serialize_entry("userAgent", sample.get("userAgent").unwrap_or(&Value::Null))?;
                m.end()
            }
        }

        impl IdentityView<'_> {
            fn entries<M: serde::ser::SerializeMap>(&self, m: &mut M) -> Result<(), M::Error> {
                let user = self.0;
                let username = user["username"].as_str();
                let sa = username.and_then(service_account);
                m.serialize_entry("username", &username)?;
                m.serialize_entry("groups", user.get("groups").unwrap_or(&EMPTY_LIST))?;
                m.serialize_entry(
                    "serviceAccount",
                    &sa.map(|(namespace, name)| ServiceAccount { namespace, name }),
                )
            }
        }

        impl serde::Serialize for ActionView<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let sample = self.0;
                let or = &sample["objectRef"];
                let mut m = s.serialize_map(Some(8))?;
                m.serialize_entry("verb", &sample["verb"])?;
                m.serialize_entry("resource", &or["resource"])?;
                m.serialize_entry("subresource", &or["subresource"])?;
                m.serialize_entry("apiGroup", &or["apiGroup"])?;
                m.serialize_entry("namespace", &or["namespace"])?;
                m.serialize_entry("name", &or["name"])?;
                m.serialize_entry("requestURI", &sample["requestURI"])?;
                m.serialize_entry("responseCode", &sample["responseStatus"]["code"])?;
                m.end()
            }
        }

        impl serde::Serialize for EventView<'_> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                use serde::ser::SerializeMap;
                let sample = self.0;
                let mut m = s.serialize_map(Some(CONTRACT_FIELDS.len()))?;
                for k in CONTRACT_FIELDS {
                    match k {
                        "time" => {
                            m.serialize_entry(k, &event_time(sample).map(format_rfc3339_ms))?
                        }
                        _ => m.serialize_entry(k, sample.get(k).unwrap_or(&Value::Null))?,
                    }
                }
                m.end()
            }
        }
    }

    /// `write_contract` writes what serialising the reference contract writes, whichever rule, title,
    /// severity and tags an alert of a cached head carries, and with hostile text in them.
    #[test]
    fn contract_lines_are_the_contract_serialised() {
        let doc = |name: &str, why: Option<&str>| {
            Arc::new(RuleDoc {
                id: format!("id-{name}"),
                name: name.into(),
                title: format!("Title of {name}"),
                description: "quote \" backslash \\ bidi \u{202e} esc \u{1b}[2J".into(),
                why: why.map(String::from),
                false_positives: vec!["CI \u{85} jobs".into()],
                next_steps: vec!["look".into(), "ask".into()],
                tags: vec!["attack.execution".into(), "attack.t1609".into()],
                ..RuleDoc::default()
            })
        };
        let (a, b) = (doc("a", Some("why a")), doc("b", None));
        let alert =
            |doc: &Arc<RuleDoc>, title: &str, severity: Severity, tags: &[&str]| DetectionAlert {
                rule: doc.id.clone(),
                title: title.into(),
                severity,
                tags: tags.iter().map(|t| t.to_string()).collect(),
                doc: Arc::clone(doc),
                time: Some("2024-05-01T10:00:00.000Z".into()),
                first_seen: Some(1_714_557_600_000),
                last_seen: Some(1_714_557_660_000),
                count: 3,
                dedup_key: "0123456789abcdef0123".into(),
                audit_ids: vec!["id-1".into()],
                events: vec![
                    json!({"auditID": "id-1", "user": {"username": "eve\u{202e}"},
                    "verb": "create", "objectRef": {"resource": "pods", "name": "p"},
                    "facts": {"exec": {"command": ["sh"]}}})
                    .into(),
                ],
                ..DetectionAlert::default()
            };
        let alerts = [
            alert(&a, "Title of a", Severity::High, &["attack.execution"]),
            alert(&a, "Title of a", Severity::High, &["attack.execution"]),
            alert(&a, "Another title", Severity::High, &["attack.execution"]),
            alert(&a, "Another title", Severity::Low, &["attack.execution"]),
            alert(&a, "Another title", Severity::Low, &["attack.t1609"]),
            alert(&b, "Title of b", Severity::Medium, &[]),
            alert(&a, "Title of a", Severity::High, &["attack.execution"]),
            DetectionAlert {
                rule: "another-id".into(),
                ..alert(&a, "Title of a", Severity::High, &["attack.execution"])
            },
        ];
        for (i, alert) in alerts.iter().enumerate() {
            let expected = reference::line(alert);
            let mut line = b"prefix".to_vec();
            alert.write_contract(&mut line).unwrap();
            assert_eq!(String::from_utf8_lossy(&line[6..]), expected, "alert {i}");
            let value: Value = serde_json::from_slice(&line[6..]).unwrap();
            assert_eq!(value, alert.to_json(), "alert {i}");
        }
    }

    /// The contract written from the samples' text is the reference contract written from their
    /// parsed values, on samples the audit sampler made of hostile events: escapes, bidi and
    /// C1 controls, escaped and repeated keys, values of unexpected types, impersonation,
    /// several samples and a correlation's group.
    #[test]
    fn contracts_from_hostile_samples_are_the_reference() {
        let events = [
            r#"{"auditID":"a\u0001","stageTimestamp":"2024-05-01T10:00:00.5Z","user":{"username":"system:serviceaccount:ns:sa","groups":["g\u202e","\u0085"],"extra":{"k\"ey":["v"]}},"impersonatedUser":{"username":"root\u2028x","groups":null},"sourceIPs":["10.0.0.1","::1"],"userAgent":"ua\u007f","verb":"create","objectRef":{"resource":"pods","subresource":"exec","namespace":"n","name":"p\u009b"},"requestURI":"/api/v1/namespaces/n/pods/p/exec?command=sh&command=-c&command=echo%20--password%3Dx","responseStatus":{"code":101}}"#,
            r#"{"auditID":7,"requestReceivedTimestamp":"bad","user":{"user\u006eame":"escaped-key","username":{"nested":1},"groups":"not-a-list"},"sourceIPs":"x","verb":["list"],"objectRef":"pods","responseStatus":{"code":"403"}}"#,
            r#"{"user":{"username":"a","username":"b"},"impersonatedUser":"someone","verb":"get","verb":"delete","objectRef":{"resource":"secrets","name":"s","name":"t"},"requestURI":"/api/v1/secrets"}"#,
            r#"{"kind":"Event","user":{"username":"ü✓ é"},"objectRef":{"resource":"clusterrolebindings","name":"b"},"verb":"create","requestObject":{"subjects":[{"kind":"User","name":"eve\u202e"}],"roleRef":{"kind":"ClusterRole","name":"cluster-admin"}}}"#,
            "not json",
        ];
        let samples: Vec<Sample> = events
            .iter()
            .map(|e| Sample::from_text(crate::audit::sample(e.as_bytes())))
            .collect();
        let doc = Arc::new(RuleDoc::default());
        let mut alerts: Vec<DetectionAlert> = samples
            .iter()
            .map(|s| DetectionAlert {
                rule: "r".into(),
                doc: Arc::clone(&doc),
                events: vec![s.clone()],
                ..DetectionAlert::default()
            })
            .collect();
        alerts.push(DetectionAlert {
            rule: "r".into(),
            doc: Arc::clone(&doc),
            group: Some(vec![
                ("user".into(), "eve\u{202e}".into()),
                ("user".into(), "again".into()),
            ]),
            events: samples.clone(),
            ..DetectionAlert::default()
        });
        alerts.push(DetectionAlert::default());
        for (i, alert) in alerts.iter().enumerate() {
            let mut line = Vec::new();
            alert.write_contract(&mut line).unwrap();
            assert_eq!(
                String::from_utf8_lossy(&line),
                reference::line(alert),
                "alert {i}"
            );
        }
        // The second event's escaped key spelled `username` (serde reads the last of the two).
        assert_eq!(
            alerts[1].to_json()["actor"]["username"],
            Value::Null,
            "{}",
            samples[1].text()
        );
        assert_eq!(actor_label(&samples[2]), "b");
        assert_eq!(object_label(&samples[2]), "secrets t");
    }

    #[test]
    fn service_accounts_split_as_the_api_server_does() {
        assert_eq!(
            service_account("system:serviceaccount:cert-manager:cert-manager-cainjector"),
            Some(("cert-manager", "cert-manager-cainjector"))
        );
        assert_eq!(service_account("system:serviceaccount:ns:a:b"), None);
        assert_eq!(service_account("system:serviceaccount:ns:"), None);
        assert_eq!(service_account("system:serviceaccount:Ns:x"), None);
        assert_eq!(service_account("system:serviceaccounts:ns"), None);
        assert_eq!(service_account("alice"), None);
    }

    #[test]
    fn mitre_tactics_and_techniques_from_tags() {
        let tags: Vec<String> = [
            "attack.execution",
            "attack.t1609",
            "attack.t1069.003",
            "attack.g0007",
            "cve.2021-1",
        ]
        .map(String::from)
        .to_vec();
        assert_eq!(
            serde_json::to_value(Mitre::of(&tags)).unwrap(),
            json!({"tactics": ["execution"], "techniques": ["T1609", "T1069.003"]})
        );
    }

    #[test]
    fn impersonation_names_both_identities() {
        let s = Sample::from(json!({"user": {"username": "ci-bot", "groups": ["ci"]},
            "impersonatedUser": {"username": "system:serviceaccount:kube-system:root-admin", "groups": ["system:masters"]}}));
        assert_eq!(
            actor_label(&s),
            "ci-bot as system:serviceaccount:kube-system:root-admin"
        );
        let a = actor(&s);
        assert_eq!(a["username"], "ci-bot");
        assert_eq!(
            a["impersonatedUser"]["serviceAccount"],
            json!({"namespace": "kube-system", "name": "root-admin"})
        );
        assert_eq!(a["impersonatedUser"]["groups"], json!(["system:masters"]));
        assert_eq!(
            actor(&json!({"user": {"username": "x"}}).into())["impersonatedUser"],
            Value::Null
        );
    }

    /// The contract's `actor`, `action` and `events`, written straight from the sample, hold
    /// what the sample says under the contract's keys, in the contract's order; what the sample
    /// lacks (or holds in another shape) is `null` or `[]`.
    #[test]
    fn contract_parts_are_written_from_the_sample() {
        let sample = json!({
            "auditID": "a-1", "stageTimestamp": "2024-05-01T10:00:00.123456Z",
            "user": {"username": "system:serviceaccount:ci:deployer", "groups": ["g1"], "uid": "u"},
            "impersonatedUser": {"username": "alice"},
            "sourceIPs": ["203.0.113.7"], "userAgent": "curl/8.0", "verb": "create",
            "objectRef": {"resource": "pods", "subresource": "exec", "apiGroup": "",
                          "namespace": "shop", "name": "web-1"},
            "requestURI": "/api/v1/namespaces/shop/pods/web-1/exec?command=id",
            "responseStatus": {"code": 101, "reason": "Switching"},
            "facts": {"exec": {"command": ["id"]}}
        });
        let alert = DetectionAlert {
            rule: "r".into(),
            events: vec![
                sample.into(),
                json!({"verb": 7, "sourceIPs": "not-a-list", "user": "x"}).into(),
            ],
            ..DetectionAlert::default()
        };
        let contract = alert.to_json();
        assert_eq!(
            contract["actor"].to_string(),
            r#"{"username":"system:serviceaccount:ci:deployer","groups":["g1"],"serviceAccount":{"namespace":"ci","name":"deployer"},"impersonatedUser":{"username":"alice","groups":[],"serviceAccount":null},"sourceIPs":["203.0.113.7"],"userAgent":"curl/8.0"}"#
        );
        assert_eq!(
            contract["action"].to_string(),
            r#"{"verb":"create","resource":"pods","subresource":"exec","apiGroup":"","namespace":"shop","name":"web-1","requestURI":"/api/v1/namespaces/shop/pods/web-1/exec?command=id","responseCode":101}"#
        );
        assert_eq!(
            contract["events"].to_string(),
            r#"[{"auditID":"a-1","time":"2024-05-01T10:00:00.123Z","user":{"username":"system:serviceaccount:ci:deployer","groups":["g1"],"uid":"u"},"sourceIPs":["203.0.113.7"],"verb":"create","objectRef":{"resource":"pods","subresource":"exec","apiGroup":"","namespace":"shop","name":"web-1"},"responseStatus":{"code":101,"reason":"Switching"}},{"auditID":null,"time":null,"user":"x","sourceIPs":"not-a-list","verb":7,"objectRef":null,"responseStatus":null}]"#
        );
        let odd = actor(&alert.events[1]);
        assert_eq!(
            odd.to_string(),
            r#"{"username":null,"groups":[],"serviceAccount":null,"impersonatedUser":null,"sourceIPs":[],"userAgent":null}"#
        );
    }
}
