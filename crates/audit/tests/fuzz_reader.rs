//! Fuzz target for the audit event reader (proptest): random bytes and structure-aware
//! mutations of valid events never panic, always terminate, and every error is located inside
//! the input.
//!
//! CI runs a few hundred cases in seconds; run longer locally with, e.g.,
//! `PROPTEST_CASES=200000 cargo test --release -p kubevigil-audit --test fuzz_reader`.

use std::io::{self, BufReader, Write};

use kubevigil_audit::reader::ReadErrorKind;
use kubevigil_audit::{EventReader, input};
use proptest::prelude::*;
use serde_json::{Value, json};

fn config() -> ProptestConfig {
    let cases = std::env::var("PROPTEST_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(256);
    ProptestConfig {
        cases,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// What reading `bytes` gave: accepted event ids, and the errors as (line, col, message).
struct Outcome {
    accepted: Vec<String>,
    errors: Vec<(u64, u64, String)>,
}

/// Reads everything, checking termination and that every error is located inside the input.
fn read(bytes: &[u8], capacity: usize) -> Outcome {
    let src = input::from_reader(BufReader::with_capacity(
        capacity,
        io::Cursor::new(bytes.to_vec()),
    ))
    .expect("in-memory input");
    read_from(bytes, EventReader::new("t", src))
}

fn read_from<R: io::BufRead>(bytes: &[u8], mut r: EventReader<R>) -> Outcome {
    let lines = 1 + bytes.iter().filter(|&&b| b == b'\n').count() as u64;
    let mut out = Outcome {
        accepted: Vec::new(),
        errors: Vec::new(),
    };
    // Every item consumes input: no more items than (decompressed) bytes, plus the end.
    // Deflate expands at most 1032:1.
    let max_items = if is_gzip(bytes) {
        bytes.len() * 1032 + 1
    } else {
        bytes.len() + 1
    };
    let mut items = 0usize;
    while let Some(item) = r.next_event() {
        items += 1;
        assert!(
            items <= max_items,
            "more items than input bytes: the reader loops"
        );
        match item {
            Ok((raw, ev)) => {
                assert!(raw.line >= 1 && raw.col >= 1);
                out.accepted.push(ev.audit_id().to_string());
            }
            Err(e) => {
                let msg = e.to_string();
                assert!(e.line >= 1 && e.col >= 1, "unlocated: {msg}");
                // Decompressed input may have more lines than the compressed bytes.
                if !matches!(e.kind, ReadErrorKind::Io(_)) && !is_gzip(bytes) {
                    assert!(e.line <= lines, "line past the input: {msg}");
                    let len = bytes
                        .split(|&b| b == b'\n')
                        .nth(e.line as usize - 1)
                        .map_or(0, <[u8]>::len);
                    assert!(
                        e.col <= len as u64 + 1,
                        "column past the line ({len} bytes): {msg}"
                    );
                }
                assert!(
                    msg.starts_with(&format!("t:{}:{}: ", e.line, e.col)),
                    "{msg}"
                );
                out.errors.push((e.line, e.col, msg));
            }
        }
    }
    let stats = r.stats();
    assert_eq!(stats.events as usize, out.accepted.len());
    assert_eq!(stats.skipped as usize, out.errors.len());
    out
}

fn is_gzip(b: &[u8]) -> bool {
    b.starts_with(&[0x1f, 0x8b])
}

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_filter("finite", |f| f.is_finite())
            .prop_map(Value::from),
        ".{0,8}".prop_map(Value::from),
        "[a-z/:.-]{0,12}".prop_map(Value::from),
    ]
}

fn any_json() -> impl Strategy<Value = Value> {
    scalar().prop_recursive(6, 48, 5, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-zA-Z.]{0,6}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

/// Mostly well-typed audit events, sometimes with a wrong-typed or odd field.
fn event() -> impl Strategy<Value = Value> {
    let good = (
        "[a-z0-9-]{0,12}",
        prop::sample::select(vec!["get", "list", "create", "delete", "patch", "watch"]),
        prop::sample::select(vec![
            "RequestReceived",
            "ResponseStarted",
            "ResponseComplete",
            "Panic",
        ]),
        "[a-z:@.]{0,12}",
        prop::option::of(any::<i32>()),
        any_json(),
    )
        .prop_map(|(id, verb, stage, user, code, body)| {
            json!({
                "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "RequestResponse",
                "auditID": id, "stage": stage, "verb": verb,
                "requestURI": "/api/v1/namespaces/d/pods",
                "user": {"username": user, "groups": ["system:authenticated"]},
                "sourceIPs": ["192.0.2.1"],
                "objectRef": {"resource": "pods", "namespace": "d", "apiVersion": "v1"},
                "responseStatus": {"metadata": {}, "code": code},
                "requestObject": body,
                "annotations": {"authorization.k8s.io/decision": "allow"},
                "requestReceivedTimestamp": "2024-05-01T10:00:00.000001Z",
                "stageTimestamp": "2024-05-01T10:00:00.000002Z"
            })
        });
    let keys = prop::sample::select(vec![
        "kind",
        "apiVersion",
        "auditID",
        "verb",
        "user",
        "objectRef",
        "sourceIPs",
        "responseStatus",
        "annotations",
        "requestObject",
        "stageTimestamp",
    ]);
    (good, prop::option::of((keys, any_json()))).prop_map(|(mut ev, odd)| {
        if let Some((k, v)) = odd {
            ev[k] = v;
        }
        ev
    })
}

#[derive(Debug, Clone)]
enum Layout {
    Lines,
    Pretty,
    Array,
    EventList,
    OneLineList,
}

#[derive(Debug, Clone)]
enum Mutation {
    Insert(usize, u8),
    Delete(usize),
    Replace(usize, u8),
    Truncate(usize),
    Duplicate(usize, usize),
    Bom,
    Deep(usize, usize),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    let structural = prop::sample::select(b"{}[]\",:\\\n \x00\xef\xbb\xbf".to_vec());
    prop_oneof![
        (any::<usize>(), structural.clone()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(i, b)| Mutation::Insert(i, b)),
        any::<usize>().prop_map(Mutation::Delete),
        (any::<usize>(), structural).prop_map(|(i, b)| Mutation::Replace(i, b)),
        any::<usize>().prop_map(Mutation::Truncate),
        (any::<usize>(), 0usize..200).prop_map(|(i, n)| Mutation::Duplicate(i, n)),
        Just(Mutation::Bom),
        (any::<usize>(), 1usize..400).prop_map(|(i, n)| Mutation::Deep(i, n)),
    ]
}

fn apply(bytes: &mut Vec<u8>, m: &Mutation) {
    let at = |i: usize, len: usize| if len == 0 { 0 } else { i % (len + 1) };
    match *m {
        Mutation::Insert(i, b) => {
            let i = at(i, bytes.len());
            bytes.insert(i, b);
        }
        Mutation::Delete(i) if !bytes.is_empty() => {
            bytes.remove(i % bytes.len());
        }
        Mutation::Replace(i, b) if !bytes.is_empty() => {
            let n = bytes.len();
            bytes[i % n] = b;
        }
        Mutation::Truncate(i) => bytes.truncate(at(i, bytes.len())),
        Mutation::Duplicate(i, n) => {
            let i = at(i, bytes.len());
            let end = (i + n).min(bytes.len());
            let piece = bytes[i..end].to_vec();
            bytes.splice(i..i, piece);
        }
        Mutation::Bom => {
            bytes.splice(0..0, *b"\xEF\xBB\xBF");
        }
        Mutation::Deep(i, n) => {
            let i = at(i, bytes.len());
            let mut deep = vec![b'['; n];
            deep.extend(std::iter::repeat_n(b']', n));
            bytes.splice(i..i, deep);
        }
        _ => {}
    }
}

fn render(events: &[Value], layout: &Layout) -> Vec<u8> {
    let s = match layout {
        Layout::Lines => events.iter().map(|e| e.to_string() + "\n").collect(),
        Layout::Pretty => events
            .iter()
            .map(|e| serde_json::to_string_pretty(e).unwrap() + "\n")
            .collect(),
        Layout::Array => serde_json::to_string_pretty(&Value::Array(events.to_vec())).unwrap(),
        Layout::EventList => serde_json::to_string_pretty(&json!({
            "kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": events
        }))
        .unwrap(),
        Layout::OneLineList => json!({
            "kind": "EventList", "apiVersion": "audit.k8s.io/v1", "items": events
        })
        .to_string(),
    };
    s.into_bytes()
}

fn layout() -> impl Strategy<Value = Layout> {
    prop_oneof![
        3 => Just(Layout::Lines),
        1 => Just(Layout::Pretty),
        1 => Just(Layout::Array),
        1 => Just(Layout::EventList),
        1 => Just(Layout::OneLineList),
    ]
}

fn capacity() -> impl Strategy<Value = usize> {
    prop_oneof![1usize..16, 16usize..300, Just(256 * 1024)]
}

fn gz(bytes: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(bytes).unwrap();
    e.finish().unwrap()
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes(bytes in prop::collection::vec(any::<u8>(), 0..2048), cap in capacity()) {
        read(&bytes, cap);
    }

    #[test]
    fn random_text_of_json_bytes(
        bytes in prop::collection::vec(prop::sample::select(b"{}[]\":,\\ \n0aeEtrunl-.".to_vec()), 0..2048),
        cap in capacity(),
    ) {
        read(&bytes, cap);
    }

    #[test]
    fn valid_events_are_all_accepted(events in prop::collection::vec(event(), 1..8), layout in layout(), cap in capacity()) {
        let bytes = render(&events, &layout);
        let got = read(&bytes, cap);
        let accepted = got.accepted.len() + got.errors.len();
        prop_assert_eq!(accepted, events.len(), "one result per event: {:?}", got.errors);
        // Well-typed events (no odd field) are never rejected.
        for (line, col, msg) in &got.errors {
            prop_assert!(msg.contains("not an audit event") || msg.contains("invalid JSON"),
                "{}:{}: {}", line, col, msg);
        }
        // The same events gzip-compressed read the same.
        let zipped = read(&gz(&bytes), cap);
        prop_assert_eq!(zipped.accepted, got.accepted);
        prop_assert_eq!(zipped.errors, got.errors);
    }

    #[test]
    fn mutated_events(
        events in prop::collection::vec(event(), 1..6),
        layout in layout(),
        mutations in prop::collection::vec(mutation(), 1..6),
        cap in capacity(),
        zip in any::<bool>(),
    ) {
        let mut bytes = render(&events, &layout);
        for m in &mutations {
            apply(&mut bytes, m);
        }
        if zip {
            let mut z = gz(&bytes);
            // Sometimes cut the compressed stream too.
            if let Some(Mutation::Truncate(i)) = mutations.first() {
                z.truncate(i % (z.len() + 1));
            }
            read(&z, cap);
        } else {
            read(&bytes, cap);
        }
    }
}
