use crate::sinks::fixtures::{SECRET, alert, finding};
use crate::{Body, Signal, Sink};

use super::{JsonLinesConfig, JsonLinesSink};

fn signals() -> Vec<Signal> {
    vec![
        Signal::finding(&finding(), Some("2024-05-01T09:00:00.000Z".into())),
        Signal::alert(&alert()),
    ]
}

fn written() -> String {
    let mut sink = JsonLinesSink::new(Vec::new());
    for s in signals() {
        sink.send(&s).unwrap();
    }
    sink.flush().unwrap();
    String::from_utf8(sink.into_inner()).unwrap()
}

#[test]
fn one_signal_per_line_and_each_line_reads_back() {
    let out = written();
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines.len(), 2);
    let back: Vec<Signal> = lines
        .iter()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(back, signals());
    assert!(lines[0].starts_with(r#"{"time":"2024-05-01T09:00:00.000Z","severity":"medium","subject":"Deployment shop/web","key":"0123456789abcdef0123456789abcdef","body":{"kind":"finding","data":{"checkId":"image-tag-latest""#), "{}", lines[0]);
    assert!(
        lines[1].contains(r#""body":{"kind":"alert","data":{"rule":"k8s-secret-burst""#),
        "{}",
        lines[1]
    );
    // Input text with a terminal escape stays escaped in JSON.
    assert!(!out.contains('\u{1b}'));
}

#[test]
fn the_alert_payload_is_the_alert_contract() {
    let s = Signal::alert(&alert());
    assert_eq!(s.body, Body::Alert(alert().to_json()));
    assert_eq!(s.kind(), "alert");
    assert_eq!(s.rule(), "k8s-secret-burst");
}

#[test]
fn no_secret_value_reaches_json_lines() {
    let out = written();
    assert!(!out.contains(SECRET), "{out}");
    assert!(out.contains("<redacted:1f2e3d4c>"), "{out}");
    // The sample kept the request's attributes, not its body.
    assert!(out.contains(r#""user":{"username":"mallory"}"#), "{out}");
    assert!(!out.contains("requestObject\":"), "{out}");
}

#[test]
fn a_file_is_appended_to() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("signals.jsonl");
    for _ in 0..2 {
        let mut sink = JsonLinesConfig {
            path: Some(path.clone()),
        }
        .build()
        .unwrap();
        sink.send(&signals()[0]).unwrap();
        sink.flush().unwrap();
    }
    let text = std::fs::read_to_string(&path).unwrap();
    assert_eq!(text.lines().count(), 2);
    for l in text.lines() {
        assert_eq!(serde_json::from_str::<Signal>(l).unwrap(), signals()[0]);
    }
}
