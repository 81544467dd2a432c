//! Audit events from the audit source, alerts from the detection pipeline, signals into both
//! sinks: the source's samples and everything the sinks write are free of the Secret data and
//! token the event carried.

use std::ops::ControlFlow;
use std::sync::Arc;

use kubevigil_detect::Detector;
use kubevigil_detect::rules::RuleFiles;
use kubevigil_signal::sinks::jsonl::JsonLinesSink;
use kubevigil_signal::sinks::stdout::{StdoutConfig, StdoutSink};
use kubevigil_signal::{AuditLogSource, EventSource, Signal, Sink, SourceSummary};

const SECRET_CREATE: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/secrets","verb":"create","user":{"username":"mallory"},"sourceIPs":["203.0.113.7"],"objectRef":{"resource":"secrets","namespace":"default","name":"db","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Secret","type":"kubernetes.io/service-account-token","data":{"password":"c3VwZXJzZWNyZXQ="},"stringData":{"token":"plain-token-value"}},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.250000Z"}"#;
const SECRETS: [&str; 2] = ["c3VwZXJzZWNyZXQ=", "plain-token-value"];

fn log() -> (tempfile::TempDir, std::path::PathBuf) {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, format!("{SECRET_CREATE}\n{{\"verb\":\n")).unwrap();
    (dir, log)
}

#[test]
fn the_audit_source_yields_events_redacted_samples_and_located_errors() {
    let (_dir, log) = log();
    let mut source = AuditLogSource::new([&log]);
    assert_eq!(source.kind(), "audit");
    let (mut samples, mut errors) = (Vec::new(), Vec::new());
    let mut texts = Vec::new();
    let summary = {
        let sample_of = source.clone();
        source.read(
            &mut |ev| {
                texts.push((ev.raw.line, ev.raw.text.len()));
                samples.push(sample_of.sample(ev.raw.text));
                ControlFlow::Continue(())
            },
            &mut |e| errors.push(e.to_string()),
        )
    };
    assert_eq!(
        summary,
        SourceSummary {
            events: 1,
            rejected: 1,
            failed_inputs: 0
        }
    );
    assert!(summary.has_errors());
    assert_eq!(texts, [(1, SECRET_CREATE.len())]);
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(&format!("{}:2:", log.display())),
        "{errors:?}"
    );
    let sample = serde_json::to_string(&samples[0]).unwrap();
    assert!(sample.contains("\"username\":\"mallory\""), "{sample}");
    for secret in SECRETS {
        assert!(!sample.contains(secret), "{sample}");
    }
}

#[test]
fn the_source_stops_when_asked() {
    let (_dir, log) = log();
    let mut source = AuditLogSource::new([&log, &log]);
    let mut n = 0;
    let summary = source.read(
        &mut |_| {
            n += 1;
            ControlFlow::Break(())
        },
        &mut |_| {},
    );
    assert_eq!((n, summary.events), (1, 1));
}

#[test]
fn alerts_reach_both_sinks_without_a_secret() {
    let (_dir, log) = log();
    let rules = RuleFiles::read(&[]).unwrap().compile(true, &[]);
    let mut signals = Vec::new();
    Detector::new(Arc::new(rules.set))
        .run(
            &mut AuditLogSource::new([&log]),
            |a| -> Result<(), ()> {
                signals.push(Signal::alert(a));
                Ok(())
            },
            |_| {},
        )
        .unwrap();
    assert!(!signals.is_empty());
    let mut stdout = StdoutSink::new(Vec::new(), StdoutConfig::default());
    let mut jsonl = JsonLinesSink::new(Vec::new());
    for s in &signals {
        stdout.send(s).unwrap();
        jsonl.send(s).unwrap();
    }
    let human = String::from_utf8(stdout.into_inner()).unwrap();
    let json = String::from_utf8(jsonl.into_inner()).unwrap();
    assert_eq!(human.lines().count(), signals.len());
    assert_eq!(json.lines().count(), signals.len());
    for secret in SECRETS {
        assert!(!human.contains(secret), "{human}");
        assert!(!json.contains(secret), "{json}");
    }
    for (line, s) in json.lines().zip(&signals) {
        assert_eq!(&serde_json::from_str::<Signal>(line).unwrap(), s);
        assert_eq!(s.subject, "user=mallory");
        assert_eq!(s.time.as_deref(), Some("2024-05-01T10:00:00.250Z"));
    }
}
