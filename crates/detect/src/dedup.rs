//! Alert deduplication: repeats of an alert fold into the first one.
//!
//! Each rule has a dedup key (by default: the rule, the actor, the namespace and the object;
//! for a correlation, the rule and its group) and a period (by default 60 minutes). An alert
//! whose key was seen less than one period before (measured in event time, from the first
//! occurrence: periods are fixed windows, not sliding ones) raises the count and the last-seen
//! time of the held alert instead of making a new one. What is emitted depends on the [`Mode`]:
//!
//! * [`Mode::Stream`] (stdin, the monitor): the first occurrence is emitted at once; when its
//!   period ends (a later event is past it, or the input ends) and repeats were folded in, one
//!   update is emitted (`update: true`, the period's running count, first and last times), so at
//!   most one update per key and period;
//! * [`Mode::Batch`] (files): one alert per key and period, emitted when the period ends, with
//!   the count and the first and last times.
//!
//! State is bounded: at most `max_entries` keys are held; when full, the key whose period ends
//! first is closed early (emitted as if its period had ended) and counted as evicted. Nothing is
//! lost, an evicted key only alerts again sooner.
//!
//! A rule sets its own key and period with the custom attribute `dedup` (Sigma rules
//! specification, "Custom Fields"), the configuration file for every rule with `detect.dedup`:
//!
//! ```yaml
//! dedup:
//!   key: [actor, namespace, object]   # any of: actor, namespace, object, verb, sourceIP,
//!                                     # userAgent, group; [] is one alert per rule and period
//!   period: 10m                       # a Sigma timespan (s, m, h, d, w); 0 turns dedup off
//! ```

use std::borrow::Cow;
use std::collections::{BTreeMap, HashMap};

use kubevigil_sigma::time::parse_timespan_ms;
use kubevigil_sigma::yaml::Node;
use sha2::{Digest, Sha256};

use crate::DetectionAlert;
use crate::alert::Labels;
use crate::sample::Sample;

/// The default period: an hour, as most rule sets (Elastic's rule `throttle`, Panther's
/// `DedupPeriodMinutes`) use.
pub const DEFAULT_PERIOD_MS: i64 = 60 * 60 * 1000;

/// The default number of keys held at once.
pub const DEFAULT_MAX_ENTRIES: usize = 10_000;

/// Most auditIDs an alert lists (the first ones).
pub const MAX_AUDIT_IDS: usize = 20;

/// A part of a dedup key: what two alerts of one rule must share to be the same alert.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeyPart {
    /// The user (and the impersonated user, if any).
    Actor,
    /// `objectRef.namespace`.
    Namespace,
    /// The resource, subresource and name (or, for a non-resource request, the path).
    Object,
    Verb,
    /// The first source address.
    SourceIp,
    UserAgent,
    /// A correlation's group-by values.
    Group,
}

impl KeyPart {
    pub const ALL: [(&'static str, KeyPart); 7] = [
        ("actor", KeyPart::Actor),
        ("namespace", KeyPart::Namespace),
        ("object", KeyPart::Object),
        ("verb", KeyPart::Verb),
        ("sourceIP", KeyPart::SourceIp),
        ("userAgent", KeyPart::UserAgent),
        ("group", KeyPart::Group),
    ];

    pub fn parse(s: &str) -> Option<KeyPart> {
        KeyPart::ALL.iter().find(|(n, _)| *n == s).map(|(_, k)| *k)
    }

    fn names() -> String {
        KeyPart::ALL.map(|(n, _)| n).join(", ")
    }

    /// The default key: actor, namespace and object; a correlation's group.
    pub fn default_for(correlation: bool) -> Vec<KeyPart> {
        if correlation {
            vec![KeyPart::Group]
        } else {
            vec![KeyPart::Actor, KeyPart::Namespace, KeyPart::Object]
        }
    }
}

/// A dedup key and period, each optional (unset: the configuration's, else the default).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct DedupSpec {
    pub key: Option<Vec<KeyPart>>,
    /// 0: no deduplication.
    pub period_ms: Option<i64>,
}

impl DedupSpec {
    /// Reads a `dedup` attribute of a rule file; an error points at the offending node.
    pub fn from_node(node: &Node) -> Result<DedupSpec, (&Node, String)> {
        let Some(map) = node.as_map() else {
            return Err((node, "`dedup` must be a map with `key` and `period`".into()));
        };
        let mut spec = DedupSpec::default();
        for (k, v) in map {
            match k.as_str() {
                Some("key") => {
                    let parts = v
                        .str_list()
                        .ok_or((v, "dedup key must be a list of key parts".to_string()))?;
                    spec.key = Some(parse_key(&parts).map_err(|m| (v, m))?);
                }
                Some("period") => {
                    let text = v.scalar_text().unwrap_or_default();
                    spec.period_ms = Some(parse_period(&text).ok_or((
                        v,
                        format!("dedup period {text:?} is not a timespan such as 10m, 1h or 0"),
                    ))?);
                }
                _ => {
                    return Err((
                        k,
                        format!(
                            "unknown dedup setting {:?} (key, period)",
                            k.scalar_text().unwrap_or_default()
                        ),
                    ));
                }
            }
        }
        Ok(spec)
    }
}

/// Parses key part names.
pub fn parse_key(parts: &[String]) -> Result<Vec<KeyPart>, String> {
    parts
        .iter()
        .map(|p| {
            KeyPart::parse(p).ok_or_else(|| {
                format!(
                    "unknown dedup key part {:?} (one of: {})",
                    kubevigil_model::Escaped(p).to_string(),
                    KeyPart::names()
                )
            })
        })
        .collect()
}

/// A Sigma timespan, or `0` for no deduplication.
pub fn parse_period(s: &str) -> Option<i64> {
    if s.trim() == "0" {
        return Some(0);
    }
    parse_timespan_ms(s)
}

/// How repeats are reported (see the module documentation).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    /// Alert at once, then one update per period.
    #[default]
    Stream,
    /// One alert per key and period, when the period ends.
    Batch,
}

/// What deduplication did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DedupStats {
    /// Alerts folded into an earlier one.
    pub merged: u64,
    /// Keys closed early for the memory cap.
    pub evicted: u64,
}

struct Entry {
    /// The held alert, its samples as text only: a parsed sample costs several times its text
    /// (a map and a string per field), and up to `max_entries` are held.
    alert: DetectionAlert,
    /// The count last emitted (stream mode).
    reported: u64,
    /// Where the entry is in `by_end`.
    end: (i64, u64),
}

/// Deduplication state of one event stream.
pub struct Deduplicator {
    mode: Mode,
    max_entries: usize,
    /// Keyed by input values: a randomly seeded hasher, so a log cannot flood it.
    entries: HashMap<String, Entry, ahash::RandomState>,
    /// (period end, sequence) → key: the entries in the order their periods end.
    by_end: BTreeMap<(i64, u64), String>,
    seq: u64,
    stats: DedupStats,
}

impl Deduplicator {
    pub fn new(mode: Mode, max_entries: usize) -> Deduplicator {
        Deduplicator {
            mode,
            max_entries: max_entries.max(1),
            entries: HashMap::default(),
            by_end: BTreeMap::new(),
            seq: 0,
            stats: DedupStats::default(),
        }
    }

    pub fn stats(&self) -> DedupStats {
        self.stats
    }

    /// Keys held now.
    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// Takes one alert (its `dedup_key` set, its `first_seen`/`last_seen` the event time) with
    /// its rule's period; pushes to `out` what is to be emitted now: alerts and updates whose
    /// period ended before `alert`'s time, then `alert` itself in stream mode when it is new.
    pub fn push(&mut self, alert: DetectionAlert, period_ms: i64, out: &mut Vec<DetectionAlert>) {
        let now = alert.first_seen.unwrap_or(i64::MIN);
        self.close_until(now, out);
        if period_ms <= 0 {
            out.push(alert);
            return;
        }
        if let Some(e) = self.entries.get_mut(&alert.dedup_key) {
            self.stats.merged += 1;
            let held = &mut e.alert;
            held.count += alert.count;
            held.last_seen = held.last_seen.max(alert.last_seen);
            for id in alert.audit_ids {
                if held.audit_ids.len() < MAX_AUDIT_IDS && !held.audit_ids.contains(&id) {
                    held.audit_ids.push(id);
                }
            }
            return;
        }
        if self.entries.len() >= self.max_entries
            && let Some((&end, _)) = self.by_end.iter().next()
        {
            self.stats.evicted += 1;
            self.close(end, out);
        }
        if self.mode == Mode::Stream {
            out.push(alert.clone());
        }
        self.seq += 1;
        let end = (now.saturating_add(period_ms), self.seq);
        self.by_end.insert(end, alert.dedup_key.clone());
        let reported = alert.count;
        let mut alert = alert;
        alert.events.iter_mut().for_each(Sample::shed);
        self.entries.insert(
            alert.dedup_key.clone(),
            Entry {
                alert,
                reported,
                end,
            },
        );
    }

    /// Closes every period that ended at or before `now` (event time).
    pub fn close_until(&mut self, now: i64, out: &mut Vec<DetectionAlert>) {
        while let Some((&end, _)) = self.by_end.iter().next() {
            if end.0 > now {
                break;
            }
            self.close(end, out);
        }
    }

    /// The end of the input: closes every period, in the order they end.
    pub fn finish(&mut self, out: &mut Vec<DetectionAlert>) {
        while self.close_first(out) {}
    }

    /// Closes the period that ends first, if any (the end of the input, one alert at a time, so
    /// that the held alerts are not all materialised at once); whether there was one.
    pub fn close_first(&mut self, out: &mut Vec<DetectionAlert>) -> bool {
        match self.by_end.keys().next() {
            Some(&end) => {
                self.close(end, out);
                true
            }
            None => false,
        }
    }

    fn close(&mut self, end: (i64, u64), out: &mut Vec<DetectionAlert>) {
        let Some(key) = self.by_end.remove(&end) else {
            return;
        };
        let Some(e) = self.entries.remove(&key) else {
            return;
        };
        debug_assert_eq!(e.end, end);
        let update = match self.mode {
            Mode::Batch => false,
            Mode::Stream if e.alert.count > e.reported => true,
            Mode::Stream => return,
        };
        let mut alert = e.alert;
        alert.update = update;
        out.push(alert);
    }
}

/// The dedup key of an alert: the SHA-256 (hex) of the rule and the values of `parts`, encoded
/// without ambiguity (a JSON array: values from the input cannot make two keys equal). Held
/// keys are 64 bytes however long the values (user names, URIs) of a hostile log are. A Falco
/// alert's key also holds its Falco rule.
/// `labels` are the alert's ([`DetectionAlert::labels`]), which the caller also gives the
/// statistics.
pub fn key_of(alert: &DetectionAlert, parts: &[KeyPart], labels: &Labels) -> String {
    let sample = alert.first_event();
    let first = sample.members();
    let or = first.get("objectRef").object();
    let mut values: Vec<Cow<'_, str>> = Vec::with_capacity(parts.len() + 3);
    values.push(Cow::Borrowed(&alert.rule));
    values.push(Cow::Borrowed(alert.name()));
    for p in parts {
        values.push(match p {
            KeyPart::Actor => Cow::Borrowed(labels.actor.as_str()),
            KeyPart::Namespace => or.get("namespace").as_str().unwrap_or_default(),
            KeyPart::Object => Cow::Borrowed(labels.object.as_str()),
            KeyPart::Verb => first.get("verb").as_str().unwrap_or_default(),
            KeyPart::SourceIp => first.get("sourceIPs").first().as_str().unwrap_or_default(),
            KeyPart::UserAgent => first.get("userAgent").as_str().unwrap_or_default(),
            KeyPart::Group => Cow::Owned(
                alert
                    .group
                    .iter()
                    .flatten()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join("\u{0}"),
            ),
        });
    }
    // A Falco alert's own rule is part of what it is: one forwarding rule carries them all.
    // (Only facts whose text names it can hold it: the text is serde_json's, which writes that
    // key without escapes.)
    let facts = first.get("facts");
    if let Some(falco_rule) = facts
        .0
        .filter(|t| t.contains("\"falco\":"))
        .and_then(|_| facts.object().get("falco").object().get("rule").as_str())
    {
        values.push(falco_rule);
    }
    // The JSON array of the parts, hashed at once: the hasher is slow at the serializer's many
    // small writes.
    let array = serde_json::to_vec(&values).expect("strings serialise");
    kubevigil_model::text::hex(&Sha256::digest(&array))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{Value, json};

    const MIN: i64 = 60_000;

    /// The key is the SHA-256 of the JSON array of its parts, written as serde_json writes a
    /// `Value::Array` of strings: keys stay the same across versions (the monitor's history
    /// recognises alerts by them).
    #[test]
    fn keys_hash_the_json_array_of_their_parts() {
        for user in [
            "alice",
            "quote\"back\\slash",
            "ctl\u{1}\u{1b}[2J",
            "\u{202e}ünïcode",
            "",
        ] {
            let a = DetectionAlert {
                rule: "r-1".into(),
                events: vec![
                    json!({"user": {"username": user}, "verb": "get",
                    "objectRef": {"resource": "secrets", "namespace": "ns", "name": "s"},
                    "facts": {"falco": {"rule": user}}})
                    .into(),
                ],
                group: Some(vec![("a".into(), user.into()), ("b".into(), "2".into())]),
                ..DetectionAlert::default()
            };
            let parts = KeyPart::ALL.map(|(_, p)| p);
            let mut values = vec![json!(a.rule), json!(a.name())];
            values.push(json!(crate::alert::actor_label(&a.events[0])));
            values.push(json!("ns"));
            values.push(json!(crate::alert::object_label(&a.events[0])));
            values.push(json!("get"));
            values.push(json!(""));
            values.push(json!(""));
            values.push(json!(format!("a={user}\u{0}b=2")));
            values.push(json!(user));
            let want = kubevigil_model::text::hex(&Sha256::digest(
                Value::Array(values).to_string().as_bytes(),
            ));
            assert_eq!(key_of(&a, &parts, &a.labels()), want, "{user:?}");
        }
    }

    fn alert(t: i64, user: &str) -> DetectionAlert {
        let mut a = DetectionAlert {
            rule: "r".into(),
            first_seen: Some(t),
            last_seen: Some(t),
            count: 1,
            audit_ids: vec![format!("id-{t}")],
            events: vec![
                json!({"user": {"username": user}, "objectRef": {"resource": "pods", "namespace": "ns", "name": "p"}}).into(),
            ],
            ..DetectionAlert::default()
        };
        a.dedup_key = key_of(&a, &KeyPart::default_for(false), &a.labels());
        a
    }

    /// (time of the alert, user) in; (update, count, first, last) out, as emitted.
    fn run(
        mode: Mode,
        cap: usize,
        input: &[(i64, &str)],
    ) -> (Vec<(bool, u64, i64, i64)>, DedupStats) {
        let mut d = Deduplicator::new(mode, cap);
        let mut out = Vec::new();
        for (t, u) in input {
            d.push(alert(*t, u), 60 * MIN, &mut out);
        }
        d.finish(&mut out);
        let got = out
            .iter()
            .map(|a| {
                (
                    a.update,
                    a.count,
                    a.first_seen.unwrap(),
                    a.last_seen.unwrap(),
                )
            })
            .collect();
        (got, d.stats())
    }

    #[test]
    fn stream_alerts_at_once_then_one_update_per_period() {
        let input = [
            (0, "a"),
            (MIN, "a"),
            (2 * MIN, "a"),
            (61 * MIN, "a"),
            (62 * MIN, "b"),
        ];
        let (got, stats) = run(Mode::Stream, 100, &input);
        assert_eq!(
            got,
            [
                (false, 1, 0, 0),
                // The period of the first alert ended before 61m: its update, then a new alert.
                (true, 3, 0, 2 * MIN),
                (false, 1, 61 * MIN, 61 * MIN),
                (false, 1, 62 * MIN, 62 * MIN),
            ]
        );
        assert_eq!(stats.merged, 2);
    }

    #[test]
    fn batch_is_one_alert_per_key_and_period() {
        let input = [
            (0, "a"),
            (MIN, "b"),
            (30 * MIN, "a"),
            (59 * MIN, "a"),
            (60 * MIN, "a"),
        ];
        let (got, _) = run(Mode::Batch, 100, &input);
        assert_eq!(
            got,
            [
                (false, 3, 0, 59 * MIN),
                (false, 1, MIN, MIN),
                (false, 1, 60 * MIN, 60 * MIN),
            ]
        );
    }

    #[test]
    fn the_cap_closes_the_oldest_key_early_and_counts_it() {
        let input = [(0, "a"), (MIN, "b"), (2 * MIN, "c"), (3 * MIN, "a")];
        let (got, stats) = run(Mode::Batch, 2, &input);
        // "a" was closed when "c" came, so its repeat starts a new alert.
        assert_eq!(got.len(), 4, "{got:?}");
        assert_eq!(stats.evicted, 2);
        assert_eq!(stats.merged, 0);
    }

    #[test]
    fn held_alerts_come_back_whole() {
        for mode in [Mode::Batch, Mode::Stream] {
            let mut d = Deduplicator::new(mode, 10);
            let mut out = Vec::new();
            let first = alert(0, "a");
            d.push(first.clone(), 60 * MIN, &mut out);
            d.push(alert(MIN, "a"), 60 * MIN, &mut out);
            d.finish(&mut out);
            let last = out.last().unwrap();
            assert_eq!(last.events, first.events, "{mode:?}");
            assert_eq!(last.audit_ids, ["id-0", "id-60000"]);
        }
    }

    #[test]
    fn held_keys_are_small_whatever_the_values() {
        let huge = alert(0, &"x".repeat(1 << 20));
        assert_eq!(huge.dedup_key.len(), 64);
    }

    #[test]
    fn keys_cannot_be_forged_from_values() {
        let mut a = alert(0, "x\",\"ns");
        let mut event = a.events[0].value().clone();
        event["objectRef"]["namespace"] = json!("");
        a.events[0] = event.into();
        let b = alert(0, "x");
        assert_ne!(
            key_of(&a, &[KeyPart::Actor, KeyPart::Namespace], &a.labels()),
            key_of(&b, &[KeyPart::Actor, KeyPart::Namespace], &b.labels())
        );
    }

    #[test]
    fn dedup_attribute_parsing() {
        let doc =
            &kubevigil_sigma::yaml::load_documents("dedup: {key: [actor, verb], period: 10m}\n")
                .unwrap()[0];
        let spec = DedupSpec::from_node(doc.get("dedup").unwrap()).unwrap();
        assert_eq!(spec.key, Some(vec![KeyPart::Actor, KeyPart::Verb]));
        assert_eq!(spec.period_ms, Some(10 * MIN));
        let doc = &kubevigil_sigma::yaml::load_documents("dedup: {key: [who]}\n").unwrap()[0];
        let (_, msg) = DedupSpec::from_node(doc.get("dedup").unwrap()).unwrap_err();
        assert!(msg.starts_with("unknown dedup key part \"who\""), "{msg}");
        assert_eq!(parse_period("0"), Some(0));
    }
}
