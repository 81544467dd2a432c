//! Data-driven tests of the built-in rule pack: every rule's `fire` events must raise its
//! alert and its `quiet` events must not (rules/tests/<rule>.yaml, merged onto
//! rules/tests/_base.json). A base rule that only feeds correlations is compiled alone for its test.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use kubevigil_sigma::yaml::{Kind, Node, load_documents};
use kubevigil_sigma::{DiagLevel, Engine, RuleSet, pack};
use serde_json::{Map, Value};

fn rules_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules")
}

fn to_json(n: &Node) -> Value {
    match &n.kind {
        Kind::Null => Value::Null,
        Kind::Bool(b) => Value::Bool(*b),
        Kind::Int(i) => Value::from(*i),
        Kind::Float(f) => Value::from(*f),
        Kind::Str(s) => Value::String(s.clone()),
        Kind::Seq(items) => Value::Array(items.iter().map(to_json).collect()),
        Kind::Map(entries) => Value::Object(
            entries
                .iter()
                .map(|(k, v)| (k.scalar_text().unwrap_or_default(), to_json(v)))
                .collect::<Map<_, _>>(),
        ),
    }
}

fn merge(base: &mut Value, patch: &Value) {
    match (base, patch) {
        (Value::Object(b), Value::Object(p)) => {
            for (k, v) in p {
                match b.get_mut(k) {
                    Some(existing) if existing.is_object() && v.is_object() => merge(existing, v),
                    _ => {
                        b.insert(k.clone(), v.clone());
                    }
                }
            }
        }
        (b, p) => *b = p.clone(),
    }
}

/// The event at `offset_ms` after its own time, as a distinct request (own auditID).
fn with_time(mut ev: Value, offset_ms: i64) -> Value {
    let id = format!("{}-{offset_ms}", ev["auditID"].as_str().unwrap_or("req"));
    ev["auditID"] = Value::String(id);
    let base = kubevigil_model::time::parse_rfc3339_ms(ev["stageTimestamp"].as_str().unwrap_or(""))
        .unwrap_or(0);
    ev["stageTimestamp"] =
        Value::String(kubevigil_model::time::format_rfc3339_ms(base + offset_ms));
    ev
}

/// Expands a test item into the events it stands for, and the expected alert count.
fn expand(item: &Value, base: &Value) -> (Vec<Value>, Option<u64>) {
    let expect = item.get("_expect").and_then(Value::as_u64);
    let parts: Vec<Value> = match item.get("_sequence") {
        Some(Value::Array(seq)) => seq.clone(),
        _ => vec![item.clone()],
    };
    let mut events = Vec::new();
    for part in parts {
        let repeat = part.get("_repeat").and_then(Value::as_i64).unwrap_or(1);
        let every = part.get("_every_ms").and_then(Value::as_i64).unwrap_or(0);
        let patch = part.get("event").cloned().unwrap_or(part.clone());
        let mut ev = base.clone();
        merge(&mut ev, &patch);
        for i in 0..repeat {
            let mut e = with_time(ev.clone(), i * every);
            e["auditID"] = Value::String(format!("test-{}", events.len()));
            events.push(e);
        }
    }
    (events, expect)
}

fn alerts_for(set: &Arc<RuleSet>, events: &[Value], rule_id: &str) -> u64 {
    let mut engine: Engine<()> = Engine::new(set.clone());
    let mut out = Vec::new();
    for ev in events {
        engine
            .process_json(ev.to_string().as_bytes(), &mut || (), &mut out)
            .expect("valid JSON");
    }
    engine.flush(&mut out);
    out.iter().filter(|a| a.rule.id == rule_id).count() as u64
}

#[test]
fn pack_loads_cleanly_and_is_large_enough() {
    let (set, diags) =
        RuleSet::compile(&pack::sources(), &kubevigil_detect::audit::sigma_options());
    assert!(
        diags.is_empty(),
        "{:#?}",
        diags.iter().map(|d| d.to_string()).collect::<Vec<_>>()
    );
    let rules = set.rules();
    assert!(rules.len() >= 40, "{}", rules.len());
    for r in &rules {
        let m = &r.meta;
        assert!(uuid_like(&m.id), "{}: id must be a UUID", m.file);
        assert!(m.level.is_some(), "{}: level", m.file);
        assert!(
            m.tags.iter().any(|t| t.starts_with("attack.t")),
            "{}: MITRE technique tag",
            m.file
        );
        assert!(
            !m.description.is_empty() && !m.falsepositives.is_empty(),
            "{}: description and falsepositives",
            m.file
        );
    }
}

fn uuid_like(s: &str) -> bool {
    s.len() == 36
        && s.chars().enumerate().all(|(i, c)| {
            if [8, 13, 18, 23].contains(&i) {
                c == '-'
            } else {
                c.is_ascii_hexdigit()
            }
        })
}

#[test]
fn every_rule_fires_on_its_positive_events_and_not_on_its_negative_ones() {
    let sources = pack::sources();
    let (set, diags) = RuleSet::compile(&sources, &kubevigil_detect::audit::sigma_options());
    assert!(diags.iter().all(|d| d.level != DiagLevel::Error));
    let set = Arc::new(set);
    let base: Value = serde_json::from_str(
        &std::fs::read_to_string(rules_dir().join("tests/_base.json")).unwrap(),
    )
    .unwrap();
    let mut failures = Vec::new();
    let mut tested = 0;
    let mut standalone = Vec::new();
    for info in set.rules() {
        let file = Path::new(&info.meta.file)
            .file_stem()
            .unwrap()
            .to_string_lossy()
            .to_string();
        let test_path = rules_dir().join("tests").join(format!("{file}.yaml"));
        let text = std::fs::read_to_string(&test_path)
            .unwrap_or_else(|_| panic!("missing {}", test_path.display()));
        let doc = to_json(&load_documents(&text).unwrap()[0]);
        assert_eq!(
            doc["rule"].as_str(),
            Some(info.meta.id.as_str()),
            "{}",
            test_path.display()
        );
        // A base rule that only feeds correlations (and does not alert on its own) is tested
        // alone: compiled without the correlations, its detection alerts.
        let id = info.meta.id.clone();
        let rules = if info.emits {
            set.clone()
        } else {
            let source = sources
                .iter()
                .find(|s| s.name == info.meta.file)
                .unwrap_or_else(|| panic!("{}: no source", info.meta.file));
            let (alone, diags) = RuleSet::compile(
                std::slice::from_ref(source),
                &kubevigil_detect::audit::sigma_options(),
            );
            assert!(diags.iter().all(|d| d.level != DiagLevel::Error), "{file}");
            let alone = Arc::new(alone);
            assert!(alone.rules().iter().all(|r| r.emits), "{file} alone emits");
            standalone.push(file.clone());
            alone
        };
        // `placeholders` in a test file give `expand` placeholders values (say, an indicator
        // list) for that rule's events.
        let set = match doc.get("placeholders").and_then(Value::as_object) {
            Some(values) => {
                let mut options = kubevigil_detect::audit::sigma_options();
                for (name, list) in values {
                    let list: Vec<String> = list
                        .as_array()
                        .unwrap_or_else(|| panic!("{file}: placeholder {name}: a list"))
                        .iter()
                        .map(|v| v.as_str().expect("string").to_string())
                        .collect();
                    match options.placeholders.iter_mut().find(|(n, _)| n == name) {
                        Some((_, v)) => *v = list,
                        None => panic!("{file}: unknown placeholder {name}"),
                    }
                }
                let (with, diags) = RuleSet::compile(&sources, &options);
                assert!(diags.iter().all(|d| d.level != DiagLevel::Error), "{file}");
                Arc::new(with)
            }
            None => rules,
        };
        let fire = doc["fire"].as_array().cloned().unwrap_or_default();
        let quiet = doc["quiet"].as_array().cloned().unwrap_or_default();
        assert!(
            !fire.is_empty() && !quiet.is_empty(),
            "{file}: needs fire and quiet events"
        );
        for (i, item) in fire.iter().enumerate() {
            let (events, expect) = expand(item, &base);
            let n = alerts_for(&set, &events, &id);
            let ok = match expect {
                Some(e) => n == e,
                None => n >= 1,
            };
            if !ok {
                failures.push(format!(
                    "{file}: fire[{i}] raised {n} alerts (expected {expect:?})"
                ));
            }
        }
        for (i, item) in quiet.iter().enumerate() {
            let (events, _) = expand(item, &base);
            let n = alerts_for(&set, &events, &id);
            if n != 0 {
                failures.push(format!("{file}: quiet[{i}] raised {n} alerts"));
            }
        }
        tested += 1;
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every rule file's test events ran, correlation-only base rules included.
    assert_eq!(tested, set.rules().len());
    assert!(
        standalone.iter().any(|f| f == "k8s_failed_request"),
        "{standalone:?}"
    );
    assert!(tested >= 40);
}

#[test]
fn burst_of_failed_gets_raises_exactly_one_alert_and_a_trickle_none() {
    let (set, _) = RuleSet::compile(&pack::sources(), &kubevigil_detect::audit::sigma_options());
    let set = Arc::new(set);
    let id = set
        .rules()
        .into_iter()
        .find(|r| r.meta.title == "Burst of denied API requests by one user")
        .unwrap()
        .meta
        .id
        .clone();
    let base: Value = serde_json::from_str(
        &std::fs::read_to_string(rules_dir().join("tests/_base.json")).unwrap(),
    )
    .unwrap();
    let mut failed_get = base.clone();
    merge(
        &mut failed_get,
        &serde_json::json!({"verb": "get", "responseStatus": {"code": 403}, "user": {"username": "mallory"}}),
    );
    // 50 failed GETs within one minute (one per second): exactly one alert.
    let burst: Vec<Value> = (0..50)
        .map(|i| with_time(failed_get.clone(), i * 1000))
        .collect();
    assert_eq!(alerts_for(&set, &burst, &id), 1);
    // The alert carries the group and the count at the threshold.
    let mut engine: Engine<u32> = Engine::new(set.clone());
    let mut out = Vec::new();
    let mut n = 0;
    for ev in &burst {
        engine
            .process_json(
                ev.to_string().as_bytes(),
                &mut || {
                    n += 1;
                    n
                },
                &mut out,
            )
            .unwrap();
    }
    let alert = out.iter().find(|a| a.rule.id == id).unwrap();
    assert_eq!(
        alert.group,
        vec![("user.username".to_string(), "mallory".to_string())]
    );
    assert_eq!(alert.count, 20);
    assert!(!alert.samples.is_empty() && alert.samples.len() <= 3);
    // The same 50 spread over more than four minutes (one every 5 s): none.
    let trickle: Vec<Value> = (0..50)
        .map(|i| with_time(failed_get.clone(), i * 5000))
        .collect();
    assert_eq!(alerts_for(&set, &trickle, &id), 0);
    // Two users interleaved: one alert each.
    let mut other = failed_get.clone();
    other["user"]["username"] = Value::String("eve".into());
    other["auditID"] = Value::String("eve".into());
    let both: Vec<Value> = (0..50)
        .flat_map(|i| {
            [
                with_time(failed_get.clone(), i * 1000),
                with_time(other.clone(), i * 1000),
            ]
        })
        .collect();
    assert_eq!(alerts_for(&set, &both, &id), 2);
}
