//! Pod logs as an event source (C8): saved container logs read line by line, each line an
//! event the Sigma engine matches (`logsource: {product: kubernetes, service: pod-logs}`).
//!
//! Line formats, told apart by a file's first line:
//! * the CRI log format the kubelet writes under `/var/log/pods` (containerd, CRI-O):
//!   `TIMESTAMP STREAM TAG MESSAGE`, the timestamp RFC 3339 with nanoseconds, the stream
//!   `stdout` or `stderr`, the tag `F` (a full line) or `P` (a partial one, continued by the
//!   next lines of the same stream up to an `F`): `parseCRILog` in
//!   k8s.io/kubernetes/pkg/kubelet/kuberuntime/logs/logs.go;
//! * Docker's json-file format (`{"log":"...\n","stream":"stdout","time":"..."}`, a line
//!   without its final newline continued by the next): `parseDockerJSONLog`, same file;
//! * anything else, `kubectl logs` output: one line a message, with the RFC 3339 timestamp
//!   `kubectl logs --timestamps` puts first when there is one.
//!
//! In a CRI or Docker file, a line that does not parse is malformed: reported
//! (`file:line:column`) and skipped. A line longer than [`MAX_LINE`] is cut there and
//! reported. Invalid UTF-8 is read lossily (U+FFFD), as logs are often not text.
//!
//! Which pod a line comes from: `--namespace`, `--pod`, `--container` and `--node`, else the
//! kubelet's file names, `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log` and
//! `/var/log/containers/<pod>_<namespace>_<container>-<id>.log`.
//!
//! The event the rules see: `time`, `namespace`, `pod`, `container`, `node`, `stream`,
//! `message`, `fields` (the message's members when it is a JSON object) and `credentials`
//! (the kinds of credential the scan's detectors find in the message; never the value).
//! An alert keeps the pod, the container and the message, replaced by what credential it holds
//! when it holds one.

use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::{Path, PathBuf};

use kubevigil_audit::reader::RawEvent;
use kubevigil_checks::rules::credentials;
use kubevigil_sigma::Options;
use serde_json::{Map, Value, json};

use crate::source::{
    Checker, EventSource, InputError, MAX_SAMPLE_MESSAGE, SourceEvent, SourceSummary, cap_text,
    line_reader, read_capped_line, read_inputs,
};

/// The longest line read; the rest of a longer line is skipped (and reported).
pub const MAX_LINE: usize = 1 << 20;
/// Streams with a partial line held at once (CRI has two; more is a malformed Docker log).
const MAX_PENDING_STREAMS: usize = 4;
/// The longest message whose JSON members become `fields`.
const MAX_JSON_MESSAGE: usize = 64 << 10;

/// The engine's options for pod log events.
pub fn sigma_options() -> Options {
    Options {
        product: Some("kubernetes".into()),
        service: Some("pod-logs".into()),
        time_fields: vec!["time".into()],
        max_groups: 50_000,
        max_samples: 3,
        ..Options::default()
    }
}

/// Which pod the lines of an input come from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodRef {
    pub namespace: Option<String>,
    pub pod: Option<String>,
    pub container: Option<String>,
    pub node: Option<String>,
}

impl PodRef {
    /// What the kubelet's log file names say: `/var/log/pods/<namespace>_<pod>_<uid>/<container>/<n>.log`
    /// (rotated `<n>.log.<time>` too) or `/var/log/containers/<pod>_<namespace>_<container>-<id>.log`.
    pub fn from_path(path: &Path) -> PodRef {
        let parts: Vec<&str> = path
            .components()
            .filter_map(|c| c.as_os_str().to_str())
            .collect();
        let n = parts.len();
        // .../pods/<ns>_<pod>_<uid>/<container>/<file>
        if n >= 4 && parts[n - 4] == "pods" {
            let mut it = parts[n - 3].splitn(3, '_');
            if let (Some(ns), Some(pod), Some(_uid)) = (it.next(), it.next(), it.next()) {
                return PodRef {
                    namespace: Some(ns.into()),
                    pod: Some(pod.into()),
                    container: Some(parts[n - 2].into()),
                    node: None,
                };
            }
        }
        // .../containers/<pod>_<ns>_<container>-<64 hex>.log
        if n >= 2 && parts[n - 2] == "containers" {
            let stem = parts[n - 1].strip_suffix(".log").unwrap_or(parts[n - 1]);
            let mut it = stem.splitn(3, '_');
            if let (Some(pod), Some(ns), Some(rest)) = (it.next(), it.next(), it.next())
                && let Some((container, id)) = rest.rsplit_once('-')
                && id.len() == 64
                && id.bytes().all(|b| b.is_ascii_hexdigit())
            {
                return PodRef {
                    namespace: Some(ns.into()),
                    pod: Some(pod.into()),
                    container: Some(container.into()),
                    node: None,
                };
            }
        }
        PodRef::default()
    }

    /// `self`, with what it leaves unset taken from `other`.
    fn or(&self, other: PodRef) -> PodRef {
        PodRef {
            namespace: self.namespace.clone().or(other.namespace),
            pod: self.pod.clone().or(other.pod),
            container: self.container.clone().or(other.container),
            node: self.node.clone().or(other.node),
        }
    }
}

/// The format of a log file, from its first line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LineFormat {
    Cri,
    DockerJson,
    Plain,
}

/// One line of a log, parsed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogLine<'a> {
    pub time: Option<&'a str>,
    pub stream: Option<&'a str>,
    /// A partial line, continued by the next one (CRI tag `P`, a Docker line without `\n`).
    pub partial: bool,
    pub message: std::borrow::Cow<'a, str>,
}

/// Whether `s` starts with an RFC 3339 timestamp followed by a space; its length.
fn timestamp_prefix(s: &str) -> Option<usize> {
    let end = s.find(' ')?;
    let ts = &s[..end];
    (ts.len() >= 20 && kubevigil_model::time::parse_rfc3339_ms(ts).is_some()).then_some(end)
}

impl LineFormat {
    /// The format the first line of a file is in.
    pub fn detect(line: &str) -> LineFormat {
        if parse_cri(line).is_ok() {
            LineFormat::Cri
        } else if line.starts_with("{\"log\":") && parse_docker(line).is_ok() {
            LineFormat::DockerJson
        } else {
            LineFormat::Plain
        }
    }

    /// Parses one line (without its newline); `Err` says why a CRI or Docker line is malformed,
    /// with the byte offset it concerns.
    pub fn parse(self, line: &str) -> Result<LogLine<'_>, (usize, &'static str)> {
        match self {
            LineFormat::Cri => parse_cri(line),
            LineFormat::DockerJson => parse_docker(line),
            LineFormat::Plain => Ok(match timestamp_prefix(line) {
                Some(end) => LogLine {
                    time: Some(&line[..end]),
                    stream: None,
                    partial: false,
                    message: line[end + 1..].into(),
                },
                None => LogLine {
                    time: None,
                    stream: None,
                    partial: false,
                    message: line.into(),
                },
            }),
        }
    }
}

/// `TIMESTAMP STREAM TAG MESSAGE` (`parseCRILog`): the tag is `:`-separated, its first part
/// `P` (partial) or `F` (full); the message may be empty (then the space before it may be
/// missing too).
fn parse_cri(line: &str) -> Result<LogLine<'_>, (usize, &'static str)> {
    let ts_end = timestamp_prefix(line).ok_or((0, "expected an RFC 3339 timestamp"))?;
    let rest = &line[ts_end + 1..];
    let (stream, rest) = rest
        .split_once(' ')
        .ok_or((ts_end + 1, "expected a stream and a tag"))?;
    if stream != "stdout" && stream != "stderr" {
        return Err((ts_end + 1, "expected the stream stdout or stderr"));
    }
    let (tag, message) = rest.split_once(' ').unwrap_or((rest, ""));
    let partial = match tag.split(':').next() {
        Some("P") => true,
        Some("F") => false,
        _ => return Err((ts_end + stream.len() + 2, "expected the tag F or P")),
    };
    Ok(LogLine {
        time: Some(&line[..ts_end]),
        stream: Some(stream),
        partial,
        message: message.into(),
    })
}

/// `{"log":"...\n","stream":"stdout","time":"..."}` (`parseDockerJSONLog`).
fn parse_docker(line: &str) -> Result<LogLine<'_>, (usize, &'static str)> {
    #[derive(serde::Deserialize)]
    struct Docker<'a> {
        #[serde(borrow)]
        log: std::borrow::Cow<'a, str>,
        stream: Option<&'a str>,
        time: Option<&'a str>,
    }
    let d: Docker<'_> = serde_json::from_str(line).map_err(|e| {
        let offset = line
            .split_inclusive('\n')
            .take(e.line().saturating_sub(1))
            .map(str::len)
            .sum::<usize>()
            + e.column().saturating_sub(1);
        (offset, "not a Docker json-file log line")
    })?;
    let partial = !d.log.ends_with('\n');
    let message = match d.log {
        std::borrow::Cow::Borrowed(s) => s.strip_suffix('\n').unwrap_or(s).into(),
        std::borrow::Cow::Owned(mut s) => {
            if s.ends_with('\n') {
                s.pop();
            }
            s.into()
        }
    };
    Ok(LogLine {
        time: d.time,
        stream: d.stream,
        partial,
        message,
    })
}

/// The JSON text of one log line's event (see the module documentation).
pub fn event_json(pod: &PodRef, time: Option<&str>, stream: Option<&str>, message: &str) -> String {
    let mut ev = Map::new();
    ev.insert("time".into(), json!(time));
    ev.insert("namespace".into(), json!(pod.namespace));
    ev.insert("pod".into(), json!(pod.pod));
    ev.insert("container".into(), json!(pod.container));
    ev.insert("node".into(), json!(pod.node));
    ev.insert("stream".into(), json!(stream));
    ev.insert("message".into(), json!(message));
    let trimmed = message.trim();
    let fields = (trimmed.starts_with('{') && trimmed.len() <= MAX_JSON_MESSAGE)
        .then(|| serde_json::from_str::<Map<String, Value>>(trimmed).ok())
        .flatten();
    let found = credentials_in(message, fields.as_ref());
    if let Some(f) = fields {
        ev.insert("fields".into(), Value::Object(f));
    }
    if !found.is_empty() {
        ev.insert("credentials".into(), json!(found));
    }
    Value::Object(ev).to_string()
}

/// What credentials a message holds, described without their values (`a GitHub token
/// (ghp_****)`): the scan's detectors over the whole message, and over the string members of
/// a JSON message by their names (`"password": "..."`).
fn credentials_in(message: &str, fields: Option<&Map<String, Value>>) -> Vec<String> {
    let mut found: Vec<String> = Vec::new();
    // Most lines hold none of the detectors' markers. A JSON line with `\u` escapes is judged
    // on its decoded members.
    let escaped_json = fields.is_some() && message.contains("\\u");
    if !escaped_json && !credentials::may_hold_credential(message) {
        return found;
    }
    if let Some(fields) = fields {
        let entries: Vec<(&str, &str)> = fields
            .iter()
            .filter_map(|(k, v)| Some((k.as_str(), v.as_str()?)))
            .collect();
        for (i, d) in credentials::detect_entries(&entries) {
            let mut text = d.describe();
            if d.inner_key.is_none() {
                text.push_str(&format!(" (in {:?})", entries[i].0));
            }
            if !found.contains(&text) {
                found.push(text);
            }
        }
    }
    // The whole text, for what the members do not show (nested values, a plain message).
    if found.is_empty()
        && let Some(d) = credentials::detect_value(message, false)
    {
        found.push(d.describe());
    }
    found
}

/// What an alert keeps of a log event: the pod as an object (`pods/log` of the namespace and
/// pod), its time, and as facts the container, node, stream and message; a message holding a
/// credential is replaced by what it holds.
pub fn sample(text: &[u8]) -> String {
    let Ok(ev) = serde_json::from_slice::<Map<String, Value>>(text) else {
        return "null".into();
    };
    let credentials = ev.get("credentials").cloned().unwrap_or(Value::Null);
    let message = match (&credentials, ev.get("message").and_then(Value::as_str)) {
        (Value::Array(kinds), _) if !kinds.is_empty() => {
            let kinds: Vec<&str> = kinds.iter().filter_map(Value::as_str).collect();
            Value::String(format!("<redacted: {}>", kinds.join(", ")))
        }
        (_, Some(m)) => {
            let mut m = m.to_string();
            cap_text(&mut m, MAX_SAMPLE_MESSAGE);
            Value::String(m)
        }
        _ => Value::Null,
    };
    let get = |k: &str| ev.get(k).cloned().unwrap_or(Value::Null);
    json!({
        "time": get("time"),
        "objectRef": {
            "resource": "pods",
            "subresource": "log",
            "namespace": get("namespace"),
            "name": get("pod"),
        },
        "facts": {
            "log": {
                "container": get("container"),
                "node": get("node"),
                "workload": get("workload"),
                "stream": get("stream"),
                "message": message,
                "credentials": credentials,
            }
        }
    })
    .to_string()
}

/// Log files (`-` is stdin), read in order; `pod` says which pod their lines come from, else
/// their paths do.
#[derive(Debug, Clone)]
pub struct PodLogSource {
    pub paths: Vec<PathBuf>,
    pub pod: PodRef,
}

impl PodLogSource {
    pub fn new(paths: impl IntoIterator<Item = impl Into<PathBuf>>, pod: PodRef) -> Self {
        PodLogSource {
            paths: paths.into_iter().map(Into::into).collect(),
            pod,
        }
    }
}

impl EventSource for PodLogSource {
    fn kind(&self) -> &'static str {
        "pod-logs"
    }

    fn read(
        &mut self,
        on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
        on_error: &mut dyn FnMut(&dyn fmt::Display),
    ) -> SourceSummary {
        let pod = &self.pod;
        read_inputs(
            &self.paths,
            on_error,
            |path, name, input, summary, on_error| {
                let pod = pod.or(PodRef::from_path(path));
                read_input(name, input, &pod, summary, on_event, on_error)
            },
        )
    }

    /// Lines are judged while reading: nothing is left to check.
    fn checker(&self) -> Option<Checker> {
        None
    }

    fn sampler(&self) -> crate::source::Sampler {
        |text, _| sample(text)
    }
}

/// A partial line being continued: where it started, its time and stream, the text so far.
struct Pending {
    line: u64,
    time: Option<String>,
    stream: Option<String>,
    message: String,
    /// Whether the joined line passed [`MAX_LINE`] (reported once).
    cut: bool,
}

impl Pending {
    /// Appends the next piece, up to [`MAX_LINE`] bytes in all; true when this piece is the
    /// first one cut.
    fn append(&mut self, piece: &str) -> bool {
        let room = MAX_LINE.saturating_sub(self.message.len());
        let kept = piece.floor_char_boundary(room);
        self.message.push_str(&piece[..kept]);
        let first_cut = kept < piece.len() && !self.cut;
        self.cut |= kept < piece.len();
        first_cut
    }
}

/// The report of a line joined from partial pieces that passed [`MAX_LINE`].
fn joined_too_long<'a>(input: &'a str, p: &Pending) -> InputError<'a> {
    InputError {
        input,
        at: Some((p.line, 1)),
        message: format!(
            "line joined from partial lines longer than {} MiB: the rest is skipped",
            MAX_LINE >> 20
        ),
    }
}

/// Reads one input (gzip detected), line by line.
fn read_input(
    name: &str,
    input: Box<dyn Read>,
    pod: &PodRef,
    summary: &mut SourceSummary,
    on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
    on_error: &mut dyn FnMut(&dyn fmt::Display),
) -> std::io::Result<ControlFlow<()>> {
    let mut reader = line_reader(input)?;
    let mut format: Option<LineFormat> = None;
    let mut buf = Vec::new();
    let mut line_no = 0u64;
    // Partial lines are continued per stream (CRI interleaves stdout and stderr).
    let mut pending: Vec<Pending> = Vec::new();
    let mut emit = |line: u64, time: Option<&str>, stream: Option<&str>, message: &str| {
        let text = event_json(pod, time, stream, message);
        summary.events += 1;
        on_event(&SourceEvent {
            input: name,
            raw: RawEvent {
                line,
                col: 1,
                text: text.as_bytes(),
            },
            unwrapped_from: None,
        })
    };
    loop {
        buf.clear();
        let (read, cut) = read_capped_line(&mut *reader, &mut buf, MAX_LINE)?;
        if read == 0 {
            break;
        }
        line_no += 1;
        if buf.last() == Some(&b'\n') {
            buf.pop();
            if buf.last() == Some(&b'\r') {
                buf.pop();
            }
        }
        let text = String::from_utf8_lossy(&buf);
        if cut {
            on_error(&InputError {
                input: name,
                at: Some((line_no, MAX_LINE as u64 + 1)),
                message: format!(
                    "line longer than {} MiB: the rest is skipped",
                    MAX_LINE >> 20
                ),
            });
            summary.rejected += 1;
        }
        if format.is_none() {
            if text.trim().is_empty() {
                continue;
            }
            format = Some(LineFormat::detect(&text));
        }
        let Some(fmt) = format else { continue };
        if fmt != LineFormat::Plain && text.trim().is_empty() {
            continue;
        }
        let parsed = match fmt.parse(&text) {
            Ok(p) => p,
            Err((offset, why)) => {
                // A sample of the line, unless it holds a credential (judged on the whole line,
                // so that a cut cannot hide one).
                let found = credentials_in(&text, None);
                let shown: String = if found.is_empty() {
                    text.chars().take(80).collect()
                } else {
                    format!("<redacted: {}>", found.join(", "))
                };
                on_error(&InputError {
                    input: name,
                    at: Some((line_no, offset as u64 + 1)),
                    message: format!(
                        "malformed {} log line: {why}: {}",
                        if fmt == LineFormat::Cri {
                            "CRI"
                        } else {
                            "Docker"
                        },
                        kubevigil_model::Escaped(&shown)
                    ),
                });
                summary.rejected += 1;
                continue;
            }
        };
        let stream = parsed.stream.map(str::to_string);
        let slot = pending.iter().position(|p| p.stream == stream);
        if parsed.partial {
            match slot {
                Some(i) => {
                    if pending[i].append(&parsed.message) {
                        on_error(&joined_too_long(name, &pending[i]));
                        summary.rejected += 1;
                    }
                }
                // A Docker log names its own streams: past a few at once, a partial line is
                // taken whole rather than held.
                None if pending.len() >= MAX_PENDING_STREAMS => {
                    if emit(line_no, parsed.time, parsed.stream, &parsed.message).is_break() {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                None => pending.push(Pending {
                    line: line_no,
                    time: parsed.time.map(str::to_string),
                    stream,
                    message: parsed.message.into_owned(),
                    cut: false,
                }),
            }
            continue;
        }
        let flow = match slot {
            Some(i) => {
                let mut p = pending.swap_remove(i);
                if p.append(&parsed.message) {
                    on_error(&joined_too_long(name, &p));
                    summary.rejected += 1;
                }
                emit(p.line, p.time.as_deref(), p.stream.as_deref(), &p.message)
            }
            None => emit(line_no, parsed.time, parsed.stream, &parsed.message),
        };
        if flow.is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    // A partial line the input ended in is still a line.
    for p in pending {
        if emit(p.line, p.time.as_deref(), p.stream.as_deref(), &p.message).is_break() {
            return Ok(ControlFlow::Break(()));
        }
    }
    Ok(ControlFlow::Continue(()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cri_lines_as_the_kubelet_parses_them() {
        let l = parse_cri("2016-10-06T00:17:09.669794202Z stdout F log content 1").unwrap();
        assert_eq!(l.time, Some("2016-10-06T00:17:09.669794202Z"));
        assert_eq!(l.stream, Some("stdout"));
        assert!(!l.partial);
        assert_eq!(l.message, "log content 1");
        let l = parse_cri("2016-10-06T00:17:09.669794203Z stderr P:x log ").unwrap();
        assert!(l.partial);
        assert_eq!(l.message, "log ");
        // An empty message, with or without the space before it.
        assert_eq!(
            parse_cri("2016-10-06T00:17:09Z stdout F").unwrap().message,
            ""
        );
        assert_eq!(
            parse_cri("2016-10-06T00:17:09Z stdout F ").unwrap().message,
            ""
        );
        for (bad, col) in [
            ("not a timestamp stdout F x", 0),
            ("2016-10-06T00:17:09Z stdin F x", 21),
            ("2016-10-06T00:17:09Z stdout X x", 28),
            ("2016-10-06T00:17:09Z", 0),
        ] {
            assert_eq!(parse_cri(bad).map_err(|e| e.0), Err(col), "{bad}");
        }
    }

    #[test]
    fn docker_lines() {
        let l = parse_docker(
            r#"{"log":"hello \"x\"\n","stream":"stderr","time":"2024-05-01T10:00:00.1Z"}"#,
        )
        .unwrap();
        assert_eq!(l.message, "hello \"x\"");
        assert_eq!(l.stream, Some("stderr"));
        assert!(!l.partial);
        assert!(
            parse_docker(r#"{"log":"part","stream":"stdout"}"#)
                .unwrap()
                .partial
        );
        assert!(parse_docker(r#"{"log":"x"#).is_err());
    }

    #[test]
    fn pods_from_kubelet_paths() {
        let p = PodRef::from_path(Path::new(
            "/var/log/pods/shop_web-7d9f8b-abcde_0f1e2d3c-aaaa-bbbb-cccc-000000000000/app/0.log",
        ));
        assert_eq!(p.namespace.as_deref(), Some("shop"));
        assert_eq!(p.pod.as_deref(), Some("web-7d9f8b-abcde"));
        assert_eq!(p.container.as_deref(), Some("app"));
        let id = "a".repeat(64);
        let p = PodRef::from_path(Path::new(&format!(
            "/var/log/containers/web-0_shop_istio-proxy-{id}.log"
        )));
        assert_eq!(
            (
                p.pod.as_deref(),
                p.namespace.as_deref(),
                p.container.as_deref()
            ),
            (Some("web-0"), Some("shop"), Some("istio-proxy"))
        );
        assert_eq!(PodRef::from_path(Path::new("app.log")), PodRef::default());
    }

    /// Partial lines of many streams are not all held: memory stays bounded by
    /// `MAX_PENDING_STREAMS` lines of at most `MAX_LINE` bytes.
    #[test]
    fn partial_lines_of_many_streams_are_bounded() {
        let mut text = String::new();
        for i in 0..100 {
            text.push_str(&format!(
                "{{\"log\":\"part {i}\",\"stream\":\"s{i}\",\"time\":\"2026-11-30T10:00:00Z\"}}\n"
            ));
        }
        let mut messages = Vec::new();
        let mut summary = SourceSummary::default();
        let flow = read_input(
            "x",
            Box::new(std::io::Cursor::new(text.into_bytes())),
            &PodRef::default(),
            &mut summary,
            &mut |e| {
                let v: Value = serde_json::from_slice(e.raw.text).unwrap();
                messages.push(v["message"].as_str().unwrap().to_string());
                ControlFlow::Continue(())
            },
            &mut |e| panic!("{e}"),
        )
        .unwrap();
        assert!(flow.is_continue());
        // Each line is an event: four held to the end, the others taken whole at once.
        assert_eq!(messages.len(), 100);
        assert_eq!(messages[0], format!("part {MAX_PENDING_STREAMS}"));
        assert_eq!(messages[99], "part 3");
    }

    #[test]
    fn a_credential_is_named_never_kept() {
        let token = "ghp_abcdefghijklmnopqrstuvwxyz0123456789";
        let pod = PodRef {
            namespace: Some("ci".into()),
            pod: Some("runner-0".into()),
            ..PodRef::default()
        };
        let ev = event_json(&pod, None, Some("stdout"), &format!("using token {token}"));
        let v: Value = serde_json::from_str(&ev).unwrap();
        assert_eq!(v["credentials"][0], "a GitHub token (ghp_****)");
        let s = sample(ev.as_bytes());
        assert!(!s.contains(token), "{s}");
        assert!(s.contains("<redacted: a GitHub token (ghp_****)>"), "{s}");
        // By name, in a JSON message.
        let ev = event_json(
            &pod,
            None,
            None,
            r#"{"level":"info","db_password":"Tr0ub4dor&3"}"#,
        );
        assert!(!sample(ev.as_bytes()).contains("Tr0ub4dor"));
        let v: Value = serde_json::from_str(&ev).unwrap();
        assert_eq!(v["fields"]["level"], "info");
        assert_eq!(v["credentials"][0], "a password (in \"db_password\")");
    }
}
