//! Policy simulation: which level every recorded request would get under a policy, and how large
//! the audit log would be.
//!
//! Each event is evaluated with [`Checker`] on the attributes it records. The output size of an
//! event is estimated from its input size:
//! * level `None`, or an event whose stage the decision omits: 0 bytes;
//! * `Metadata`: the input event minus `requestObject` and `responseObject`;
//! * `Request`: minus `responseObject`;
//! * `RequestResponse`: both bodies kept;
//! * `omitManagedFields`: minus every `managedFields` value inside the kept bodies;
//! * the `level` string is rewritten to the new level.
//!
//! Bodies that are not in the input (it was recorded at a lower level than the policy asks
//! for) cannot be estimated: such events are counted in [`Totals::lower_bound_events`] and
//! the volume estimate is then a lower bound.
//!
//! State is bounded: per-level and per-rule counters, plus at most [`MAX_UNRECORDED_KEYS`]
//! distinct unrecorded request shapes (the rest are counted together).

use std::collections::HashMap;

use serde::Serialize;

use crate::checker::{Checker, Decision, RequestAttributes};
use crate::event::{Event, Level, Stage};

/// Cap on distinct unrecorded request shapes kept for the report.
pub const MAX_UNRECORDED_KEYS: usize = 10_000;

/// Event and byte counts.
#[derive(Debug, Clone, Copy, Default, Serialize, PartialEq, Eq)]
#[serde(rename_all = "camelCase")]
pub struct Counts {
    /// Events in the input.
    pub events: u64,
    /// Requests (events at their final stage: ResponseComplete, Panic, or no stage).
    pub requests: u64,
    pub bytes_in: u64,
    /// Estimated bytes written under the policy.
    pub bytes_out: u64,
    /// Events that would be written under the policy.
    pub events_out: u64,
}

impl Counts {
    fn add(&mut self, final_stage: bool, bytes_in: u64, bytes_out: Option<u64>) {
        self.events += 1;
        self.requests += u64::from(final_stage);
        self.bytes_in += bytes_in;
        if let Some(b) = bytes_out {
            self.bytes_out += b;
            self.events_out += 1;
        }
    }
}

/// Totals over the whole input.
#[derive(Debug, Clone, Copy, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Totals {
    #[serde(flatten)]
    pub counts: Counts,
    /// Events the policy would record at a higher level than the input has (bodies missing).
    pub lower_bound_events: u64,
    /// Events dropped because the decision omits their stage.
    pub omitted_stage_events: u64,
}

/// A request shape that the policy would not record.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, PartialOrd, Ord)]
pub struct Shape {
    pub verb: String,
    /// `group/resource/subresource` (core group empty) for resource requests, the path otherwise.
    pub target: String,
    pub user: String,
}

/// Accumulates a simulation; feed it every event, then call [`Simulation::report`].
pub struct Simulation<'c> {
    checker: &'c Checker,
    totals: Totals,
    levels: [Counts; 4],
    rules: Vec<Counts>,
    no_match: Counts,
    /// Unrecorded request shapes keyed by `verb \0 target \0 user` (looked up without
    /// allocating; the key buffer is reused).
    unrecorded: HashMap<String, u64>,
    unrecorded_other: u64,
    key_buf: String,
}

/// The result of a simulation.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Report {
    pub totals: Totals,
    /// Estimated output bytes / input bytes.
    pub volume_ratio: f64,
    pub levels: Vec<LevelCounts>,
    pub rules: Vec<RuleCounts>,
    /// Events no rule matched (recorded at level None).
    pub no_match: Counts,
    /// Indices (0-based) and lines of rules that no event matched.
    pub rules_never_hit: Vec<RuleRef>,
    /// Most frequent request shapes that would go unrecorded (level None), by request count.
    pub unrecorded: Vec<UnrecordedShape>,
    /// Unrecorded requests beyond the shapes listed (not kept, or over the cap).
    pub unrecorded_other: u64,
}

#[derive(Debug, Clone, Serialize)]
pub struct LevelCounts {
    pub level: Level,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleCounts {
    pub index: usize,
    pub line: u32,
    pub level: Level,
    #[serde(flatten)]
    pub counts: Counts,
}

#[derive(Debug, Clone, Serialize)]
pub struct RuleRef {
    pub index: usize,
    pub line: u32,
}

#[derive(Debug, Clone, Serialize)]
pub struct UnrecordedShape {
    #[serde(flatten)]
    pub shape: Shape,
    pub requests: u64,
}

/// Per-event outcome, for per-request output.
#[derive(Debug, Clone, Copy)]
pub struct Outcome {
    pub decision: Decision,
    pub final_stage: bool,
    pub bytes_out: Option<u64>,
}

impl<'c> Simulation<'c> {
    pub fn new(checker: &'c Checker) -> Self {
        Simulation {
            checker,
            totals: Totals::default(),
            levels: [Counts::default(); 4],
            rules: vec![Counts::default(); checker.policy().rules.len()],
            no_match: Counts::default(),
            unrecorded: HashMap::new(),
            unrecorded_other: 0,
            key_buf: String::new(),
        }
    }

    /// Adds one event; `text_len` is its size in the input (the line terminator included).
    pub fn add(&mut self, ev: &Event<'_>, text_len: u64) -> Outcome {
        let attrs = RequestAttributes::from_event(ev);
        let decision = self.checker.evaluate(&attrs);
        let stage = ev.stage();
        let final_stage = matches!(stage, None | Some(Stage::ResponseComplete | Stage::Panic));
        let omitted = stage.is_some_and(|s| decision.omit_stages.contains(s));
        let bytes_out = if decision.level == Level::None {
            None
        } else if omitted {
            self.totals.omitted_stage_events += 1;
            None
        } else {
            let (bytes, lower_bound) = estimate_size(ev, text_len, &decision);
            self.totals.lower_bound_events += u64::from(lower_bound);
            Some(bytes)
        };
        self.totals.counts.add(final_stage, text_len, bytes_out);
        self.levels[decision.level as usize].add(final_stage, text_len, bytes_out);
        match decision.rule {
            Some(i) => self.rules[i].add(final_stage, text_len, bytes_out),
            None => self.no_match.add(final_stage, text_len, bytes_out),
        }
        if decision.level == Level::None && final_stage {
            self.note_unrecorded(&attrs);
        }
        Outcome {
            decision,
            final_stage,
            bytes_out,
        }
    }

    fn note_unrecorded(&mut self, attrs: &RequestAttributes<'_>) {
        write_shape_key(&mut self.key_buf, attrs);
        if let Some(n) = self.unrecorded.get_mut(self.key_buf.as_str()) {
            *n += 1;
        } else if self.unrecorded.len() < MAX_UNRECORDED_KEYS {
            self.unrecorded.insert(self.key_buf.clone(), 1);
        } else {
            self.unrecorded_other += 1;
        }
    }

    /// The report; `top` limits the unrecorded shapes listed.
    pub fn report(&self, top: usize) -> Report {
        let policy = self.checker.policy();
        let mut unrecorded: Vec<UnrecordedShape> = self
            .unrecorded
            .iter()
            .map(|(key, &requests)| UnrecordedShape {
                shape: shape_from_key(key),
                requests,
            })
            .collect();
        unrecorded.sort_by(|a, b| {
            b.requests
                .cmp(&a.requests)
                .then_with(|| a.shape.cmp(&b.shape))
        });
        let listed: u64 = unrecorded.iter().take(top).map(|u| u.requests).sum();
        let all: u64 = unrecorded.iter().map(|u| u.requests).sum();
        unrecorded.truncate(top);
        let c = self.totals.counts;
        Report {
            totals: self.totals,
            volume_ratio: if c.bytes_in == 0 {
                0.0
            } else {
                c.bytes_out as f64 / c.bytes_in as f64
            },
            levels: Level::ALL
                .iter()
                .map(|&level| LevelCounts {
                    level,
                    counts: self.levels[level as usize],
                })
                .collect(),
            rules: policy
                .rules
                .iter()
                .enumerate()
                .map(|(index, r)| RuleCounts {
                    index,
                    line: r.pos.line,
                    level: r.level,
                    counts: self.rules[index],
                })
                .collect(),
            no_match: self.no_match,
            rules_never_hit: policy
                .rules
                .iter()
                .enumerate()
                .filter(|(i, _)| self.rules[*i].events == 0)
                .map(|(index, r)| RuleRef {
                    index,
                    line: r.pos.line,
                })
                .collect(),
            unrecorded,
            unrecorded_other: self.unrecorded_other + (all - listed),
        }
    }
}

fn write_shape_key(key: &mut String, attrs: &RequestAttributes<'_>) {
    key.clear();
    key.push_str(attrs.verb);
    key.push('\0');
    if attrs.resource_request {
        if !attrs.api_group.is_empty() {
            key.push_str(attrs.api_group);
            key.push('/');
        }
        key.push_str(attrs.resource);
        if !attrs.subresource.is_empty() {
            key.push('/');
            key.push_str(attrs.subresource);
        }
    } else {
        key.push_str(attrs.path);
    }
    key.push('\0');
    match attrs.user {
        Some(u) => key.push_str(u.name),
        None => key.push_str("<unauthenticated>"),
    }
}

fn shape_from_key(key: &str) -> Shape {
    let mut parts = key.splitn(3, '\0');
    let mut next = || parts.next().unwrap_or("").to_string();
    Shape {
        verb: next(),
        target: next(),
        user: next(),
    }
}

/// `,"requestObject":` and `,"responseObject":` around a body.
const REQUEST_KEY_OVERHEAD: u64 = 17;
const RESPONSE_KEY_OVERHEAD: u64 = 18;

/// Estimated size of the event under `decision`, and whether it is only a lower bound.
pub fn estimate_size(ev: &Event<'_>, text_len: u64, decision: &Decision) -> (u64, bool) {
    let req = ev.request_object.map(|r| r.bytes());
    let resp = ev.response_object.map(|r| r.bytes());
    let mut size = text_len as i64;
    let keep_req = decision.level >= Level::Request;
    let keep_resp = decision.level >= Level::RequestResponse;
    if let Some(body) = req {
        if !keep_req {
            size -= (body.len() as u64 + REQUEST_KEY_OVERHEAD) as i64;
        } else if decision.omit_managed_fields {
            size -= managed_fields_len(body) as i64;
        }
    }
    if let Some(body) = resp {
        if !keep_resp {
            size -= (body.len() as u64 + RESPONSE_KEY_OVERHEAD) as i64;
        } else if decision.omit_managed_fields {
            size -= managed_fields_len(body) as i64;
        }
    }
    if let Some(level) = ev.level() {
        size += decision.level.as_str().len() as i64 - level.as_str().len() as i64;
    }
    // Bodies the policy wants but the input lacks: only possible when it was recorded lower.
    let recorded = ev.level().unwrap_or(Level::RequestResponse);
    let lower_bound = decision.level > recorded;
    (size.max(0) as u64, lower_bound)
}

/// Bytes taken by every `"managedFields":[...]` member (with its comma) in a JSON body.
pub fn managed_fields_len(body: &[u8]) -> u64 {
    const KEY: &[u8] = b"\"managedFields\":";
    let b = body;
    let mut total = 0u64;
    static FINDER: std::sync::OnceLock<memchr::memmem::Finder<'static>> =
        std::sync::OnceLock::new();
    let finder = FINDER.get_or_init(|| memchr::memmem::Finder::new(KEY));
    let mut from = 0;
    while let Some(i) = finder.find(&b[from..]) {
        let start = from + i;
        let value_start = start + KEY.len();
        let end = skip_json_value(b, value_start);
        total += (end - start) as u64 + 1; // the separating comma
        from = end;
    }
    total
}

/// Index just past the JSON value starting at `i` (whitespace allowed before it).
fn skip_json_value(b: &[u8], mut i: usize) -> usize {
    while i < b.len() && b[i].is_ascii_whitespace() {
        i += 1;
    }
    let mut depth = 0usize;
    let mut in_str = false;
    while i < b.len() {
        let c = b[i];
        i += 1;
        if in_str {
            match c {
                b'\\' => i += 1,
                b'"' => {
                    in_str = false;
                    if depth == 0 {
                        return i;
                    }
                }
                _ => {}
            }
            continue;
        }
        match c {
            b'"' => in_str = true,
            b'{' | b'[' => depth += 1,
            b'}' | b']' => {
                if depth == 0 {
                    return i - 1;
                }
                depth -= 1;
                if depth == 0 {
                    return i;
                }
            }
            b',' if depth == 0 => return i - 1,
            _ => {}
        }
    }
    b.len().min(i)
}

/// The decision for one request, as `audit policy simulate --per-request` writes it (one JSON
/// line each): the request's attributes, never its bodies.
pub fn request_line(file: &str, line: u64, ev: &Event<'_>, outcome: &Outcome) -> serde_json::Value {
    let or = ev.object_ref.as_ref();
    let s = |f: Option<&crate::event::Str<'_>>| f.map(|s| s.to_string());
    serde_json::json!({
        "file": file,
        "line": line,
        "auditID": ev.audit_id(),
        "user": ev.authenticated_user().map(|u| u.name().to_string()),
        "verb": ev.verb(),
        "resource": s(or.and_then(|o| o.resource.as_ref())),
        "subresource": s(or.and_then(|o| o.subresource.as_ref())),
        "apiGroup": s(or.and_then(|o| o.api_group.as_ref())),
        "namespace": s(or.and_then(|o| o.namespace.as_ref())),
        "name": s(or.and_then(|o| o.name.as_ref())),
        "path": if or.is_none() { Some(ev.path()) } else { None },
        "level": outcome.decision.level,
        "rule": outcome.decision.rule,
        "estimatedBytes": outcome.bytes_out.unwrap_or(0),
    })
}

/// `audit policy simulate`'s pipeline: every event of every log (`-` is stdin), read with the
/// one audit reader (`crate::input::read_all`), added to a simulation of `checker`'s policy.
/// `on_request` gets the decision for each request at its final stage (for `--per-request`);
/// `on_error` every located problem of the input. Returns the report (`top` unrecorded shapes)
/// and what reading gave; an error from `on_request` (a closed output) stops the run.
pub fn run<E>(
    checker: &Checker,
    logs: &[impl AsRef<std::path::Path>],
    top: usize,
    mut on_request: impl FnMut(&str, u64, &Event<'_>, &Outcome) -> Result<(), E>,
    on_error: impl FnMut(&crate::ReadError),
) -> Result<(Report, crate::input::Summary), E> {
    let mut sim = Simulation::new(checker);
    let read = crate::input::read_all(
        logs,
        |name, raw, ev| {
            let outcome = sim.add(ev, raw.text.len() as u64 + 1);
            if outcome.final_stage {
                on_request(name, raw.line, ev, &outcome)?;
            }
            Ok(())
        },
        on_error,
    )?;
    Ok((sim.report(top), read))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::load_policy;

    fn checker(rules: &str) -> Checker {
        let text = format!("apiVersion: audit.k8s.io/v1\nkind: Policy\n{rules}");
        Checker::new(load_policy("p", &text).unwrap().policy)
    }

    #[test]
    fn managed_fields_measure() {
        let body = br#"{"metadata":{"name":"x","managedFields":[{"manager":"kubectl","fieldsV1":{"f:a":{}}}],"uid":"u"}}"#;
        let mf = r#""managedFields":[{"manager":"kubectl","fieldsV1":{"f:a":{}}}],"#;
        assert_eq!(managed_fields_len(body), mf.len() as u64);
        assert_eq!(managed_fields_len(br#"{"a":1}"#), 0);
    }

    #[test]
    fn size_estimates_per_level() {
        let line = r#"{"level":"RequestResponse","stage":"ResponseComplete","verb":"create","user":{"username":"u"},"objectRef":{"resource":"pods","namespace":"n"},"requestObject":{"a":1},"responseObject":{"b":22}}"#;
        let ev = Event::parse(line.as_bytes()).unwrap();
        let n = line.len() as u64;
        let d = |level| Decision {
            level,
            omit_stages: Default::default(),
            omit_managed_fields: false,
            rule: None,
        };
        let metadata = r#"{"level":"Metadata","stage":"ResponseComplete","verb":"create","user":{"username":"u"},"objectRef":{"resource":"pods","namespace":"n"}}"#;
        assert_eq!(
            estimate_size(&ev, n, &d(Level::Metadata)),
            (metadata.len() as u64, false)
        );
        let request = r#"{"level":"Request","stage":"ResponseComplete","verb":"create","user":{"username":"u"},"objectRef":{"resource":"pods","namespace":"n"},"requestObject":{"a":1}}"#;
        assert_eq!(
            estimate_size(&ev, n, &d(Level::Request)),
            (request.len() as u64, false)
        );
        assert_eq!(
            estimate_size(&ev, n, &d(Level::RequestResponse)),
            (n, false)
        );
        let md = Event::parse(metadata.as_bytes()).unwrap();
        assert!(estimate_size(&md, metadata.len() as u64, &d(Level::Request)).1);
    }

    #[test]
    fn simulation_counts_levels_rules_and_stages() {
        let c = checker(
            "omitStages: [RequestReceived]\nrules:\n- level: None\n  nonResourceURLs: [\"/healthz*\"]\n- level: Metadata\n  verbs: [get]\n- level: Request\n  verbs: [delete]\n",
        );
        let mut sim = Simulation::new(&c);
        let events = [
            r#"{"stage":"ResponseComplete","verb":"get","user":{"username":"a"},"requestURI":"/healthz"}"#,
            r#"{"stage":"RequestReceived","verb":"get","user":{"username":"a"},"objectRef":{"resource":"pods"}}"#,
            r#"{"stage":"ResponseComplete","verb":"get","user":{"username":"a"},"objectRef":{"resource":"pods"}}"#,
            r#"{"stage":"ResponseComplete","verb":"list","user":{"username":"b"},"objectRef":{"resource":"pods","apiGroup":""}}"#,
            r#"{"stage":"ResponseComplete","verb":"list","user":{"username":"b"},"objectRef":{"resource":"deployments","apiGroup":"apps"}}"#,
            r#"{"stage":"ResponseComplete","verb":"list","user":{"username":"b"},"objectRef":{"resource":"pods"}}"#,
        ];
        for e in events {
            sim.add(&Event::parse(e.as_bytes()).unwrap(), e.len() as u64 + 1);
        }
        let r = sim.report(10);
        assert_eq!(r.totals.counts.events, 6);
        assert_eq!(r.totals.counts.requests, 5);
        assert_eq!(r.totals.omitted_stage_events, 1);
        assert_eq!(r.totals.counts.events_out, 1);
        assert_eq!(r.levels[0].counts.events, 4);
        assert_eq!(r.rules[0].counts.events, 1);
        assert_eq!(r.rules[1].counts.events, 2);
        assert_eq!(r.rules_never_hit.len(), 1);
        assert_eq!(r.rules_never_hit[0].line, 9);
        assert_eq!(r.no_match.events, 3);
        assert_eq!(r.unrecorded[0].shape.target, "pods");
        assert_eq!(r.unrecorded[0].requests, 2);
        assert_eq!(r.unrecorded.len(), 3);
        let top1 = sim.report(1);
        assert_eq!(top1.unrecorded_other, 2);
    }
}
