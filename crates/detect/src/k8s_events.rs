//! Kubernetes Events as an event source (issue 19, point 4): saved Event objects, each an
//! event the Sigma engine matches (`logsource: {product: kubernetes, service: events}`).
//!
//! Input: what `kubectl get events -o json` prints (a `List` or `EventList` of Events), what
//! `kubectl get events -o json --watch` prints (Event objects one after the other), JSON lines,
//! or one Event; core `v1` Events and `events.k8s.io/v1` Events alike. A file is read whole (at
//! most [`MAX_INPUT`] bytes). A value that is not an Event is reported (`file:line:column`) and
//! skipped; invalid JSON ends the input there, reported.
//!
//! The two APIs name the same things differently (k8s.io/api/core/v1 `Event` and
//! k8s.io/api/events/v1 `Event`); the event the rules see has one shape: `time` (`eventTime`,
//! else `lastTimestamp`, else `firstTimestamp`, else the series' `lastObservedTime`), `type`
//! (`Normal`, `Warning`), `reason`, `message` (v1 `message`, events/v1 `note`), `object`
//! `{kind, apiVersion, namespace, name, fieldPath}` (v1 `involvedObject`, events/v1
//! `regarding`), `namespace` (the Event's own), `reporter` (`reportingController`, else
//! `reportingComponent`, else `source.component`), `node` (`reportingInstance`, else
//! `source.host`) and `count` (`series.count`, `deprecatedCount`, `count`; 1 when absent).

use std::fmt;
use std::io::Read;
use std::ops::ControlFlow;
use std::path::PathBuf;

use kubevigil_audit::reader::RawEvent;
use kubevigil_checks::rules::credentials;
use kubevigil_sigma::Options;
use serde_json::{Map, Value, json};

use kubevigil_model::json_skip;

use crate::source::{
    EventSource, InputError, MAX_SAMPLE_MESSAGE, SourceEvent, SourceSummary, cap_text, read_inputs,
};

/// The largest input read.
pub const MAX_INPUT: u64 = 256 << 20;

/// The largest Event parsed: the API server refuses requests over 3 MiB and etcd stores values
/// of at most 1.5 MiB, so a bigger one is not a real Event; it is reported and skipped unparsed
/// (a parsed tree takes several times its text).
pub const MAX_EVENT_BYTES: usize = 4 << 20;

/// The engine's options for Kubernetes Events.
pub fn sigma_options() -> Options {
    Options {
        product: Some("kubernetes".into()),
        service: Some("events".into()),
        time_fields: vec!["time".into()],
        max_groups: 50_000,
        max_samples: 3,
        ..Options::default()
    }
}

/// The event the rules see of one Event object (see the module documentation); `None` when
/// the value is not an Event.
pub fn normalise(ev: &Value) -> Option<Value> {
    let obj = ev.as_object()?;
    let kind_ok = obj.get("kind").is_none_or(|k| k == "Event");
    let api = obj
        .get("apiVersion")
        .and_then(Value::as_str)
        .unwrap_or("v1");
    let events_v1 = api.starts_with("events.k8s.io/");
    let regarding = if events_v1 {
        obj.get("regarding")
    } else {
        obj.get("involvedObject")
    };
    if !kind_ok || !(api == "v1" || events_v1) || !regarding.is_some_and(Value::is_object) {
        return None;
    }
    fn s(v: Option<&Value>) -> Option<&str> {
        v.and_then(Value::as_str).filter(|s| !s.is_empty())
    }
    let regarding = regarding?;
    let series = obj.get("series");
    let time = s(obj.get("eventTime"))
        .or(s(obj.get("lastTimestamp")))
        .or(s(obj.get("firstTimestamp")))
        .or(s(series.and_then(|x| x.get("lastObservedTime"))));
    let message = if events_v1 {
        s(obj.get("note"))
    } else {
        s(obj.get("message"))
    };
    let source = obj.get("source");
    let reporter = s(obj.get("reportingController"))
        .or(s(obj.get("reportingComponent")))
        .or(s(source.and_then(|x| x.get("component"))));
    let node = s(obj.get("reportingInstance")).or(s(source.and_then(|x| x.get("host"))));
    let count = series
        .and_then(|x| x.get("count"))
        .or(obj.get("deprecatedCount"))
        .or(obj.get("count"))
        .and_then(Value::as_u64)
        .unwrap_or(1);
    let field = |k: &str| s(regarding.get(k));
    Some(json!({
        "time": time,
        "type": s(obj.get("type")),
        "reason": s(obj.get("reason")),
        "message": message,
        "object": {
            "kind": field("kind"),
            "apiVersion": field("apiVersion"),
            "namespace": field("namespace"),
            "name": field("name"),
            "fieldPath": field("fieldPath"),
        },
        "namespace": s(obj.get("metadata").and_then(|m| m.get("namespace"))),
        "reporter": reporter,
        "node": node,
        "count": count,
    }))
}

/// The image a kubelet image-pull failure names (`Failed to pull image "x"`, `Back-off pulling
/// image "x"`, as `pkg/kubelet/images/image_manager.go` words them; reasons `Failed`, `BackOff`,
/// `ErrImagePull`, `ImagePullBackOff`), added to a normalised Event as `image` `{reference,
/// registry}`, with `allowed` (`yes` or `no`) when `allowed_registries` is not empty (the
/// configuration's `images.allowedRegistries`, the scan's allow-list, matched the same way).
pub fn add_pulled_image(ev: &mut Value, allowed_registries: &[String]) {
    let reason = ev["reason"].as_str().unwrap_or("");
    if !matches!(
        reason,
        "Failed" | "BackOff" | "ErrImagePull" | "ImagePullBackOff"
    ) {
        return;
    }
    let Some(message) = ev["message"].as_str() else {
        return;
    };
    let Some(rest) = ["Failed to pull image \"", "Back-off pulling image \""]
        .iter()
        .find_map(|p| message.find(p).map(|i| &message[i + p.len()..]))
    else {
        return;
    };
    let Some(reference) = rest.split('"').next().filter(|r| !r.is_empty()) else {
        return;
    };
    let r = kubevigil_checks::rules::image_ref::ImageRef::parse(reference);
    let mut image = json!({"reference": reference, "registry": r.registry});
    if !allowed_registries.is_empty() {
        image["allowed"] = json!(if r.allowed_by_any(allowed_registries) {
            "yes"
        } else {
            "no"
        });
    }
    ev["image"] = image;
}

/// What an alert keeps of an Event: the object it is about, its time, and as facts the
/// reason, type, message (replaced by what credential it holds when it holds one), reporter,
/// node and count.
pub fn sample(text: &[u8]) -> String {
    let Ok(ev) = serde_json::from_slice::<Map<String, Value>>(text) else {
        return "null".into();
    };
    let get = |k: &str| ev.get(k).cloned().unwrap_or(Value::Null);
    let object = get("object");
    let message = match ev.get("message").and_then(Value::as_str) {
        Some(m) => match credential_in(m) {
            Some(what) => Value::String(format!("<redacted: {what}>")),
            None => Value::String(cut(m)),
        },
        None => Value::Null,
    };
    json!({
        "time": get("time"),
        "objectRef": {
            "resource": object["kind"],
            "namespace": object["namespace"],
            "name": object["name"],
        },
        "facts": {
            "event": {
                "reason": get("reason"),
                "type": get("type"),
                "message": message,
                "reporter": get("reporter"),
                "node": get("node"),
                "count": get("count"),
                "image": get("image"),
            }
        }
    })
    .to_string()
}

/// What credential an Event's message holds, if any (a probe's URL with a password, a
/// command line). Kubernetes quotes the objects it names (`secret "db" not found`, `secrets
/// "db" is forbidden`): a Secret's name is not its value, so those are read as names
/// (`secret_name "db"`) and the rest of the message is still judged.
fn credential_in(message: &str) -> Option<String> {
    if !credentials::may_hold_credential(message) {
        return None;
    }
    let probe = message
        .replace("secrets \"", "secret_name \"")
        .replace("secret \"", "secret_name \"");
    credentials::detect_value(&probe, false).map(|d| d.describe())
}

fn cut(m: &str) -> String {
    let mut m = m.to_string();
    cap_text(&mut m, MAX_SAMPLE_MESSAGE);
    m
}

/// Event files (`-` is stdin), read in order.
#[derive(Debug, Clone)]
pub struct K8sEventSource {
    pub paths: Vec<PathBuf>,
    /// The configuration's `images.allowedRegistries` ([`add_pulled_image`]).
    pub allowed_registries: Vec<String>,
}

impl K8sEventSource {
    pub fn new(paths: impl IntoIterator<Item = impl Into<PathBuf>>) -> Self {
        K8sEventSource {
            paths: paths.into_iter().map(Into::into).collect(),
            allowed_registries: Vec::new(),
        }
    }
}

impl EventSource for K8sEventSource {
    fn kind(&self) -> &'static str {
        "events"
    }

    fn read(
        &mut self,
        on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
        on_error: &mut dyn FnMut(&dyn fmt::Display),
    ) -> SourceSummary {
        read_inputs(
            &self.paths,
            on_error,
            |path, name, input, summary, on_error| {
                // A file's size is known: its text is read into one allocation, not a doubling one.
                let size = std::fs::metadata(path).map_or(0, |m| m.len().min(MAX_INPUT + 1));
                let mut text = Vec::with_capacity(usize::try_from(size).unwrap_or(0));
                if input.take(MAX_INPUT + 1).read_to_end(&mut text)? as u64 > MAX_INPUT {
                    return Err(std::io::Error::other(format!(
                        "larger than {} MiB: not read",
                        MAX_INPUT >> 20
                    )));
                }
                Ok(read_values(
                    name,
                    &text,
                    &self.allowed_registries,
                    summary,
                    on_event,
                    on_error,
                ))
            },
        )
    }

    fn sampler(&self) -> crate::source::Sampler {
        |text, _| sample(text)
    }
}

/// Every JSON value of `text`, Lists unwrapped, each Event normalised and yielded.
///
/// Each top-level object is found by bracket matching, then parsed with the items of a list
/// taken one at a time ([`ItemsSeed`]): memory holds the input and one Event, not the tree of a
/// whole list (a 145 MB List took 1.3 GB as one `Value`).
fn read_values(
    name: &str,
    text: &[u8],
    allowed_registries: &[String],
    summary: &mut SourceSummary,
    on_event: &mut dyn FnMut(&SourceEvent<'_>) -> ControlFlow<()>,
    on_error: &mut dyn FnMut(&dyn fmt::Display),
) -> ControlFlow<()> {
    // Where the last value started: positions are counted on from there, not from the start.
    let mut mark = (0usize, 1u64, 1u64);
    let mut pos = 0;
    loop {
        pos += text[pos..]
            .iter()
            .take_while(|b| b.is_ascii_whitespace())
            .count();
        if pos >= text.len() {
            return ControlFlow::Continue(());
        }
        let (from, line, col) = mark;
        let locate = |offset: usize| {
            RawEvent {
                line,
                col,
                text: &text[from..],
            }
            .position_of(offset - from)
        };
        let at = locate(pos);
        mark = (pos, at.0, at.1);
        let mut stop = |offset: usize, message: String, summary: &mut SourceSummary| {
            on_error(&InputError {
                input: name,
                at: Some(locate(offset)),
                message: format!("{message}; the rest of the input is not read"),
            });
            summary.failed_inputs += 1;
            ControlFlow::Continue(())
        };
        if text[pos] != b'{' {
            return stop(pos, "not an Event (expected a JSON object)".into(), summary);
        }
        let end = match json_skip::skip_container(text, pos, json_skip::Strings::Strict) {
            Ok(end) => end,
            Err(e) => return stop(e.offset, format!("invalid JSON: {}", e.message), summary),
        };
        let mut stopped = false;
        let mut each = |item: Item, i: Option<usize>| -> bool {
            let item = match item {
                Item::Event(v) => v,
                Item::TooLarge(size) => {
                    let what = match i {
                        Some(i) => format!("item {i} of the list"),
                        None => "an object".to_string(),
                    };
                    on_error(&InputError {
                        input: name,
                        at: Some(at),
                        message: format!(
                            "{what} of {size} bytes is larger than an Event can be ({} MiB): skipped",
                            MAX_EVENT_BYTES >> 20
                        ),
                    });
                    summary.rejected += 1;
                    return true;
                }
            };
            let Some(mut ev) = normalise(&item) else {
                let what = match i {
                    Some(i) => format!("item {i} of the list is not an Event"),
                    None => "not an Event".to_string(),
                };
                on_error(&InputError {
                    input: name,
                    at: Some(at),
                    message: what,
                });
                summary.rejected += 1;
                return true;
            };
            add_pulled_image(&mut ev, allowed_registries);
            let text = ev.to_string();
            summary.events += 1;
            let flow = on_event(&SourceEvent {
                input: name,
                raw: RawEvent {
                    line: at.0,
                    col: at.1,
                    text: text.as_bytes(),
                },
                unwrapped_from: i.map(|_| "list item"),
            });
            stopped = flow.is_break();
            !stopped
        };
        let mut de = serde_json::Deserializer::from_slice(&text[pos..end]);
        let parsed =
            serde::de::DeserializeSeed::deserialize(ObjectSeed { each: &mut each }, &mut de)
                .and_then(|()| de.end());
        if stopped {
            return ControlFlow::Break(());
        }
        if let Err(e) = parsed {
            let (l, c) = (e.line() as u64, e.column() as u64);
            on_error(&InputError {
                input: name,
                at: Some(if l <= 1 {
                    (at.0, at.1 + c.saturating_sub(1))
                } else {
                    (at.0 + l - 1, c)
                }),
                message: format!("invalid JSON: {e}"),
            });
            summary.rejected += 1;
        }
        pos = end;
    }
}

/// What [`ObjectSeed`] hands over: an Event's value, or the size of a value too large to be one
/// (left unparsed).
enum Item {
    Event(Value),
    TooLarge(usize),
}

/// Parses a value's text into an [`Item`], unless it is larger than [`MAX_EVENT_BYTES`].
fn item_of<E: serde::de::Error>(raw: &str) -> Result<Item, E> {
    if raw.len() > MAX_EVENT_BYTES {
        return Ok(Item::TooLarge(raw.len()));
    }
    serde_json::from_str(raw)
        .map(Item::Event)
        .map_err(E::custom)
}

/// One top-level object: an Event (handed over whole), or a list whose `items` are handed
/// over one at a time (with their index). The callback says whether to go on. Values are taken
/// as text first, so that one too large to be an Event is never parsed.
struct ObjectSeed<'f> {
    each: &'f mut dyn FnMut(Item, Option<usize>) -> bool,
}

/// Raised to stop parsing when the callback asks to.
const STOPPED: &str = "stopped by the reader of the events";

impl<'de> serde::de::DeserializeSeed<'de> for ObjectSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ObjectSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("an Event or a list of Events")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        let mut rest: Vec<(String, &'de serde_json::value::RawValue)> = Vec::new();
        let mut size = 0;
        let mut listed = false;
        while let Some(key) = map.next_key::<String>()? {
            if key == "items" && !listed {
                listed = true;
                map.next_value_seed(ItemsSeed {
                    each: &mut *self.each,
                })?;
            } else {
                let raw: &'de serde_json::value::RawValue = map.next_value()?;
                size += key.len() + raw.get().len();
                rest.push((key, raw));
            }
        }
        if !listed {
            let item = if size > MAX_EVENT_BYTES {
                Item::TooLarge(size)
            } else {
                let mut m = Map::new();
                for (k, raw) in rest {
                    m.insert(
                        k,
                        serde_json::from_str(raw.get())
                            .map_err(<A::Error as serde::de::Error>::custom)?,
                    );
                }
                Item::Event(Value::Object(m))
            };
            (self.each)(item, None);
        }
        Ok(())
    }
}

/// The `items` of a list, each handed to the callback as it is read.
struct ItemsSeed<'f> {
    each: &'f mut dyn FnMut(Item, Option<usize>) -> bool,
}

impl<'de> serde::de::DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();

    fn deserialize<D: serde::Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }
}

impl<'de> serde::de::Visitor<'de> for ItemsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
        f.write_str("a list of Events")
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        let mut i = 0;
        while let Some(raw) = seq.next_element::<&'de serde_json::value::RawValue>()? {
            if !(self.each)(item_of(raw.get())?, Some(i)) {
                return Err(serde::de::Error::custom(STOPPED));
            }
            i += 1;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_named_is_kept_a_credential_is_not() {
        let ev = |m: &str| json!({"message": m, "object": {"kind": "Pod"}}).to_string();
        let named =
            r#"MountVolume.SetUp failed for volume "db" : secret "db-credentials" not found"#;
        let s: Value = serde_json::from_str(&sample(ev(named).as_bytes())).unwrap();
        assert_eq!(s["facts"]["event"]["message"], named);
        let leaky = r#"secret "db" not found; Liveness probe failed: Get "http://admin:Hunter2-xyz@10.0.0.5:8080/healthz""#;
        let s = sample(ev(leaky).as_bytes());
        assert!(!s.contains("Hunter2-xyz"), "{s}");
        assert!(
            s.contains("<redacted: a connection string with a password"),
            "{s}"
        );
    }

    #[test]
    fn core_and_events_v1_read_the_same() {
        let core = json!({
            "apiVersion": "v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "shop"},
            "involvedObject": {"kind": "Pod", "namespace": "shop", "name": "web-0", "apiVersion": "v1"},
            "reason": "FailedMount", "type": "Warning", "count": 3,
            "message": "MountVolume.SetUp failed for volume \"db\" : secret \"db\" not found",
            "source": {"component": "kubelet", "host": "node-1"},
            "firstTimestamp": "2026-11-30T10:00:00Z", "lastTimestamp": "2026-11-30T10:05:00Z"
        });
        let v1 = json!({
            "apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": "web.1", "namespace": "shop"},
            "regarding": {"kind": "Pod", "namespace": "shop", "name": "web-0", "apiVersion": "v1"},
            "reason": "FailedMount", "type": "Warning", "deprecatedCount": 3,
            "note": "MountVolume.SetUp failed for volume \"db\" : secret \"db\" not found",
            "reportingController": "kubelet", "reportingInstance": "node-1",
            "deprecatedLastTimestamp": "2026-11-30T10:05:00Z",
            "eventTime": "2026-11-30T10:05:00.000000Z"
        });
        let a = normalise(&core).unwrap();
        let mut b = normalise(&v1).unwrap();
        assert_eq!(b["time"], "2026-11-30T10:05:00.000000Z");
        b["time"] = a["time"].clone();
        assert_eq!(a, b);
        assert_eq!(a["count"], 3);
        assert_eq!(a["node"], "node-1");
        assert!(normalise(&json!({"kind": "Pod", "involvedObject": {}})).is_none());
        assert!(normalise(&json!({"kind": "Event"})).is_none());
    }
}
