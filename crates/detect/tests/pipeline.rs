//! The pipeline as the monitor would use it: logs in, alerts and located errors out.

use std::sync::Arc;

use kubevigil_detect::rules::RuleFiles;
use kubevigil_detect::tuning::Tuning;
use kubevigil_detect::{AuditLogSource, Detector, Mode};
use kubevigil_model::Severity;

const SECRET_CREATE: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/secrets","verb":"create","user":{"username":"mallory"},"sourceIPs":["203.0.113.7"],"objectRef":{"resource":"secrets","namespace":"default","name":"db","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Secret","data":{"password":"c3VwZXJzZWNyZXQ="},"stringData":{"token":"plain-token-value"}},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.250000Z"}"#;

#[test]
fn alerts_carry_the_contract_and_never_a_secret_and_errors_are_located() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, format!("{SECRET_CREATE}\n{{\"verb\":\n")).unwrap();
    let loaded = RuleFiles::read(&[]).unwrap().compile(true, &[]);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let mut alerts = Vec::new();
    let mut errors = Vec::new();
    let summary = Detector::new(Arc::new(loaded.set))
        .run(
            &mut AuditLogSource::new([&log]),
            |a| -> Result<(), ()> {
                alerts.push(a.clone());
                Ok(())
            },
            |e| errors.push(e.to_string()),
        )
        .unwrap();
    assert_eq!(
        (summary.events, summary.skipped, summary.failed_inputs),
        (1, 1, 0)
    );
    assert!(summary.has_errors());
    assert_eq!(summary.alerts, alerts.len() as u64);
    assert!(!alerts.is_empty());
    assert_eq!(summary.worst, alerts.iter().map(|a| a.severity).max());
    assert_eq!(errors.len(), 1);
    assert!(
        errors[0].starts_with(&format!("{}:2:", log.display())),
        "{}",
        errors[0]
    );
    let alert = &alerts[0];
    assert_eq!(alert.time.as_deref(), Some("2024-05-01T10:00:00.250Z"));
    assert!(alert.severity >= Severity::Info);
    let json = alert.to_json().to_string();
    assert!(json.contains(r#""auditID":"a1""#), "{json}");
    for secret in ["c3VwZXJzZWNyZXQ=", "plain-token-value"] {
        for a in &alerts {
            assert!(
                !a.to_json().to_string().contains(secret),
                "alert leaks {secret}"
            );
            assert!(
                !format!("{a:?}").contains(secret),
                "alert value holds {secret}"
            );
        }
    }
}

/// A consumer that fails (a closed stdout) stops the run, on one thread or several, and its
/// error is returned.
#[test]
fn an_alert_error_stops_the_run_and_is_returned() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(
        &log,
        format!("{SECRET_CREATE}\n{SECRET_CREATE}\n{}", varied_traffic(300)),
    )
    .unwrap();
    let set = Arc::new(RuleFiles::read(&[]).unwrap().compile(true, &[]).set);
    for threads in [None, Some(2)] {
        let mut seen = 0;
        let on_alert = |_: &kubevigil_detect::DetectionAlert| {
            seen += 1;
            Err("closed")
        };
        let mut detector = Detector::new(Arc::clone(&set));
        let mut source = AuditLogSource::new([&log]);
        let err = match threads {
            None => detector.run(&mut source, on_alert, |_| {}),
            Some(n) => detector.run_parallel(&mut source, n, on_alert, |_| {}),
        }
        .unwrap_err();
        assert_eq!((err, seen), ("closed", 1), "{threads:?}");
    }
}

/// The monitor's way: the mode and the tuning may be set in any order; a stream alerts at once
/// and reports repeats as an update, a batch gives one alert with the count.
#[test]
fn stream_and_batch_modes_report_repeats_whatever_the_builder_order() {
    let exec = |id: &str, t: &str| {
        format!(
            r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"{id}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods/web/exec?command=id","verb":"create","user":{{"username":"mallory"}},"sourceIPs":["203.0.113.7"],"objectRef":{{"resource":"pods","subresource":"exec","namespace":"default","name":"web","apiVersion":"v1"}},"responseStatus":{{"code":101}},"requestReceivedTimestamp":"{t}","stageTimestamp":"{t}"}}"#
        )
    };
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(
        &log,
        format!(
            "{}\n{}\n",
            exec("a1", "2024-05-01T10:00:00.000000Z"),
            exec("a2", "2024-05-01T10:05:00.000000Z")
        ),
    )
    .unwrap();
    let set = Arc::new(RuleFiles::read(&[]).unwrap().compile(true, &[]).set);
    let run = |d: Detector| {
        let mut d = d;
        let mut out = Vec::new();
        d.run(
            &mut AuditLogSource::new([&log]),
            |a| -> Result<(), ()> {
                if a.name() == "k8s_pod_exec" {
                    out.push((a.update, a.count, a.audit_ids.clone()));
                }
                Ok(())
            },
            |_| {},
        )
        .unwrap();
        out
    };
    let ids = vec!["a1".to_string(), "a2".to_string()];
    let batch = run(Detector::new(Arc::clone(&set))
        .with_mode(Mode::Batch)
        .with_tuning(Tuning::default()));
    assert_eq!(batch, [(false, 2, ids.clone())]);
    let stream = run(Detector::new(set).with_tuning(Tuning::default()));
    assert_eq!(stream, [(false, 1, vec!["a1".to_string()]), (true, 2, ids)]);
}

/// Varied traffic from the bundled sample log: users, addresses, times and request ids change
/// from one copy to the next, with malformed lines among them.
fn varied_traffic(copies: usize) -> String {
    let sample = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/audit/sample.log"
    ))
    .unwrap();
    let mut log = String::new();
    for c in 0..copies {
        for line in sample.lines() {
            let line = line
                .replace(
                    "00000000-0000-0000-0000-0000",
                    &format!("{c:08}-0000-0000-0000-0000"),
                )
                .replace("mallory", &format!("mallory-{}", c % 7))
                .replace(
                    "2024-05-01T10:00:",
                    &format!("2024-05-01T{:02}:{:02}:", 10 + c / 600, (c / 10) % 60),
                );
            let line = if c % 5 == 0 {
                line.replace("\"10.0.0.", "\"203.0.113.")
            } else {
                line
            };
            log.push_str(&line);
            log.push('\n');
        }
        if c % 97 == 0 {
            log.push_str("{\"verb\":\n");
        }
        if c % 89 == 0 {
            // A one-line EventList: a good item, and one that is not an audit event.
            let item = sample.lines().nth(1).unwrap();
            log.push_str(&format!(
                "{{\"kind\":\"EventList\",\"apiVersion\":\"audit.k8s.io/v1\",\"items\":[{item},{{\"kind\":\"Event\",\"verb\":5}}]}}\n"
            ));
        }
    }
    log
}

/// Evaluating on worker threads changes nothing: the same alerts (correlations and dedup
/// included), in the same order, the same located errors and the same counts as on one thread,
/// for any number of threads, in batch and stream mode, over two inputs (a batch holds events
/// of both).
#[test]
fn parallel_evaluation_gives_what_one_thread_gives() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, varied_traffic(600)).unwrap();
    let rotated = dir.path().join("audit-2024-05-01.log");
    std::fs::write(&rotated, varied_traffic(600)).unwrap();
    let set = Arc::new(RuleFiles::read(&[]).unwrap().compile(true, &[]).set);
    for mode in [Mode::Batch, Mode::Stream] {
        let run = |threads: Option<usize>| {
            let mut d = Detector::new(Arc::clone(&set)).with_mode(mode);
            let (mut alerts, mut errors) = (Vec::new(), Vec::new());
            let on_alert = |a: &kubevigil_detect::DetectionAlert| -> Result<(), ()> {
                alerts.push(a.to_json().to_string());
                Ok(())
            };
            let on_error = |e: &dyn std::fmt::Display| errors.push(e.to_string());
            let mut source = AuditLogSource::new([&rotated, &log]);
            let summary = match threads {
                None => d.run(&mut source, on_alert, on_error),
                Some(n) => d.run_parallel(&mut source, n, on_alert, on_error),
            }
            .unwrap();
            (summary, alerts, errors)
        };
        let (summary, alerts, errors) = run(None);
        assert_eq!((summary.events, summary.skipped), (12_014, 28));
        assert_eq!(errors.len(), 28);
        for name in ["audit.log:", "audit-2024-05-01.log:"] {
            assert_eq!(errors.iter().filter(|e| e.contains(name)).count(), 14);
        }
        assert!(
            errors.iter().any(|e| e.contains("EventList item")),
            "{errors:?}"
        );
        assert!(alerts.len() > 10, "{}", alerts.len());
        assert!(
            alerts.iter().any(|a| a.contains("\"group\"")),
            "no correlation alert: the test would not cover correlations"
        );
        for threads in [1, 2, 3, 8] {
            let got = run(Some(threads));
            assert!(got.0 == summary, "{mode:?} {threads} threads: {:?}", got.0);
            assert!(got.1 == alerts, "{mode:?} {threads} threads: alerts differ");
            assert_eq!(got.2, errors, "{mode:?} {threads} threads");
        }
    }
}

/// The rules' projection made from the members the audit reader noted while checking an event
/// is the projection of a scan of the whole text, for every field the built-in pack reads:
/// on varied traffic and on hostile shapes (keys repeated where the reader accepts them: in
/// bodies and unknown members; dotted keys, arrays along a path, escapes, nulls, bodies,
/// members the reader does not know).
#[test]
fn projection_from_noted_members_is_the_scan_of_the_text() {
    use kubevigil_audit::event::Event;
    use kubevigil_model::json_skip::Members;
    use kubevigil_sigma::event::{Projection, project_json, project_members};
    let set = RuleFiles::read(&[]).unwrap().compile(true, &[]).set;
    // The pack's fields, and fields that end at objects the reader reads member by member
    // (a custom rule's `user|exists`).
    let mut fields = set.fields().clone();
    for path in [
        "user",
        "objectRef",
        "responseStatus.metadata",
        "annotations",
        "user.extra",
    ] {
        fields.intern(path);
    }
    let fields = &fields;
    let head = r#""kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"h1","stage":"ResponseComplete""#;
    let mut lines: Vec<String> = varied_traffic(3).lines().map(String::from).collect();
    for body in [
        r#""verb":"create","x":1,"x":{"verb":"delete"},"objectRef":{"resource":"pods"},"requestObject":{"kind":"Pod","spec":{"hostPID":false,"hostPID":true,"containers":[{"name":"a"}],"containers":[{"name":"b","securityContext":{"privileged":true}}]}}"#,
        r#""verb":"create","user":{"username":"mallory","groups":["system:masters","dev"]},"impersonatedUser":null,"sourceIPs":["203.0.113.7","10.0.0.1"]"#,
        r#""annotations":{"authorization.k8s.io/decision":"forbid","authorization.k8s.io/reason":"say \"no\""},"verb":"list""#,
        r#""userAgent":"curl\/7.1 \u0041\u00e9","responseStatus":{"code":403,"reason":"Forbidden"},"x":{"y":[1,{"z":"w"}]}"#,
        r#""verb":"create","objectRef":{"resource":"pods","namespace":"kube-system"},"requestObject":{"kind":"Pod","spec":{"hostPID":true,"containers":[{"name":"a","securityContext":{"privileged":true}},{"name":"b","image":"x"}]}},"responseObject":null"#,
        r#""verb":"create","objectRef":{"resource":"clusterrolebindings"},"requestObject":{"roleRef":{"name":"cluster-admin"},"subjects":[{"kind":"User","name":"eve"},{"kind":"Group","name":"system:anonymous"}]}"#,
        // The members of `user`, `objectRef`, `responseStatus` and the annotations, as the
        // reader noted them: unknown and repeated unknown keys, nested values, empty and null
        // objects, escapes in values.
        r#""user":{"x":{"username":"no"},"username":"system:serviceaccount:a:b","x":[1],"groups":["gA"],"extra":{"authentication.kubernetes.io/pod-name":["p"]}},"impersonatedUser":{"username":"root-admin","groups":[]},"objectRef":{"resource":"pods","subresource":"exec","name":"n"m","namespace":"kube-system"},"verb":"create""#,
        // Strings whose token is not their value: escapes, one ending in an escaped backslash.
        r#""userAgent":"a\\","requestURI":"/api?x=\"q\"","verb":"g\u0065t","user":{"username":"\u0073ystem:anonymous","groups":["a\\","b"]},"objectRef":{"resource":"secrets","name":"\\"}"#,
        r#""user":{},"objectRef":null,"responseStatus":{"metadata":{"x":"y"},"code":201,"status":"Success"},"annotations":{},"verb":"get""#,
        r#""user":null,"impersonatedUser":{},"objectRef":{},"responseStatus":null,"annotations":null,"verb":"get""#,
    ] {
        lines.push(format!("{{{head},{body}}}"));
    }
    let mut complete = 0;
    for line in &lines {
        let text = line.as_bytes();
        let mut members = Members::default();
        if Event::parse_members(text, &mut members).is_err() {
            assert!(!members.complete, "{line}");
            continue;
        }
        if !members.complete {
            continue;
        }
        complete += 1;
        let (mut scanned, mut noted) = (Projection::new(fields), Projection::new(fields));
        project_json(fields, text, &mut scanned).unwrap();
        project_members(fields, text, &members, &mut noted).unwrap();
        scanned.expand(fields);
        noted.expand(fields);
        for id in 0..fields.len() as u32 {
            let values =
                |p: &Projection| format!("{} {:?}", p.exists(id), p.values(id).collect::<Vec<_>>());
            assert_eq!(
                values(&scanned),
                values(&noted),
                "{}: {line}",
                fields.name(id)
            );
        }
    }
    assert!(complete >= lines.len() / 2, "{complete} of {}", lines.len());
}
