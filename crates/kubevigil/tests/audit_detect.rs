//! `kubevigil audit detect`: output contract, exit codes, malformed input, redaction.

use std::io::Write;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

fn kubevigil(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubevigil");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

fn event(i: usize, patch: Value) -> Value {
    let mut ev = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": format!("id-{i}"),
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/default/pods", "verb": "get",
        "user": {"username": "alice@example.com", "groups": ["system:authenticated"]}, "sourceIPs": ["203.0.113.7"],
        "userAgent": "kubectl/v1.30.0", "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2024-05-01T10:00:00.000000Z", "stageTimestamp": format!("2024-05-01T10:{:02}:{:02}.000000Z", i / 60, i % 60)
    });
    merge(&mut ev, &patch);
    ev
}

fn merge(base: &mut Value, patch: &Value) {
    if let (Value::Object(b), Value::Object(p)) = (&mut *base, patch) {
        for (k, v) in p {
            match b.get_mut(k) {
                Some(e) if e.is_object() && v.is_object() => merge(e, v),
                _ => {
                    b.insert(k.clone(), v.clone());
                }
            }
        }
    }
}

fn lines(events: &[Value]) -> String {
    events.iter().map(|e| e.to_string() + "\n").collect()
}

fn alerts(out: &Output) -> Vec<Value> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).expect("one JSON alert per line"))
        .collect()
}

#[test]
fn burst_of_failed_gets_is_one_alert_with_the_json_contract() {
    let events: Vec<Value> = (0..50)
        .map(|i| event(i, json!({"user": {"username": "mallory"}, "responseStatus": {"code": 403}, "objectRef": {"resource": "configmaps"}})))
        .collect();
    let out = kubevigil(&["audit", "detect", "-o", "json", "-"], &lines(&events));
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = alerts(&out);
    let burst: Vec<&Value> = all
        .iter()
        .filter(|a| a["title"] == "Burst of denied API requests by one user")
        .collect();
    assert_eq!(burst.len(), 1, "{all:#?}");
    let a = burst[0];
    for key in [
        "rule", "title", "severity", "time", "tags", "group", "count", "events",
    ] {
        assert!(a.get(key).is_some(), "missing {key}");
    }
    assert_eq!(a["severity"], "high");
    assert_eq!(a["group"], json!({"user.username": "mallory"}));
    assert_eq!(a["count"], 20);
    let ev = &a["events"][0];
    let keys: Vec<&str> = ev.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "auditID",
            "time",
            "user",
            "sourceIPs",
            "verb",
            "objectRef",
            "responseStatus"
        ]
    );
    assert!(all.iter().all(|a| {
        ["critical", "high", "medium", "low", "info"].contains(&a["severity"].as_str().unwrap())
    }));
}

#[test]
fn fail_on_threshold_and_exit_codes() {
    let exec = lines(&[event(
        1,
        json!({"verb": "create", "objectRef": {"resource": "pods", "subresource": "exec", "name": "web"}, "requestURI": "/api/v1/namespaces/default/pods/web/exec?command=id"}),
    )]);
    let out = kubevigil(
        &["audit", "detect", "-o", "json", "--fail-on", "high", "-"],
        &exec,
    );
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(alerts(&out).len(), 1);
    let out = kubevigil(&["audit", "detect", "--fail-on", "medium", "-"], &exec);
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("Command executed in a pod"));
    let out = kubevigil(&["audit", "detect", "--fail-on", "none", "-"], &exec);
    assert_eq!(out.status.code(), Some(0));
    let quiet = lines(&[event(1, json!({}))]);
    let out = kubevigil(&["audit", "detect", "-o", "json", "-"], &quiet);
    assert_eq!((out.status.code(), alerts(&out).len()), (Some(0), 0));
    // --disable by id silences a rule.
    let out = kubevigil(
        &[
            "audit",
            "detect",
            "-o",
            "json",
            "--disable",
            "k8s_pod_exec",
            "--fail-on",
            "none",
            "-",
        ],
        &exec,
    );
    assert!(
        alerts(&out)
            .iter()
            .all(|a| a["title"] != "Command executed in a pod (exec)")
    );
}

#[test]
fn malformed_lines_are_reported_and_skipped() {
    let exec = event(
        3,
        json!({"verb": "create", "objectRef": {"resource": "pods", "subresource": "attach", "name": "web"}}),
    );
    let input = format!(
        "{}\n{{\"kind\":\"Event\",\"verb\":\n{}\n{}\n",
        event(1, json!({})),
        json!({"kind": "Pod", "apiVersion": "v1"}),
        exec
    );
    let out = kubevigil(&["audit", "detect", "-o", "json", "-"], &input);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("<stdin>:2:"), "{stderr}");
    assert!(
        stderr.contains("<stdin>:3:") && stderr.contains("kind \"Pod\""),
        "{stderr}"
    );
    assert!(
        alerts(&out)
            .iter()
            .any(|a| a["title"] == "Attached to a running container"),
        "the event after the bad lines is processed"
    );
}

#[test]
fn older_captures_v1beta1_and_without_api_version() {
    let mut old = event(
        1,
        json!({"verb": "create", "objectRef": {"resource": "pods", "subresource": "portforward", "name": "db"}}),
    );
    old["apiVersion"] = json!("audit.k8s.io/v1beta1");
    old.as_object_mut().unwrap().remove("stageTimestamp");
    old.as_object_mut()
        .unwrap()
        .remove("requestReceivedTimestamp");
    old["timestamp"] = json!("2019-01-01T00:00:00Z");
    let mut bare = event(
        2,
        json!({"verb": "delete", "objectRef": {"resource": "events"}}),
    );
    bare.as_object_mut().unwrap().remove("apiVersion");
    bare.as_object_mut().unwrap().remove("kind");
    let list = json!({"kind": "EventList", "apiVersion": "audit.k8s.io/v1beta1", "items": [event(3, json!({"verb": "create", "objectRef": {"resource": "selfsubjectrulesreviews"}}))]});
    let out = kubevigil(
        &["audit", "detect", "-o", "json", "-"],
        &format!("{old}\n{bare}\n{list}\n"),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = alerts(&out);
    let pf = all
        .iter()
        .find(|a| a["title"] == "Port forwarded to a pod")
        .expect("v1beta1 event");
    assert_eq!(pf["time"], "2019-01-01T00:00:00.000Z");
    assert!(
        all.iter()
            .any(|a| a["title"] == "Kubernetes events deleted"),
        "event without apiVersion/kind"
    );
    assert!(
        all.iter()
            .any(|a| a["title"] == "RBAC self-enumeration (can-i)"),
        "EventList on one line"
    );
}

#[test]
fn secret_values_never_appear_in_any_output() {
    let secret = event(
        1,
        json!({"level": "RequestResponse", "verb": "create", "objectRef": {"resource": "secrets", "name": "db", "namespace": "default"},
        "requestObject": {"kind": "Secret", "type": "kubernetes.io/service-account-token", "data": {"password": "c3VwZXJzZWNyZXQ="}, "stringData": {"token": "plain-token-value"}},
        "responseObject": {"kind": "Secret", "data": {"password": "c3VwZXJzZWNyZXQ="}}}),
    );
    let review = event(
        2,
        json!({"level": "RequestResponse", "verb": "create", "userAgent": "curl/8.0", "objectRef": {"resource": "tokenreviews"},
        "requestObject": {"kind": "TokenReview", "spec": {"token": "eyJhbGciOiJSUzI1NiJ9.secret-jwt"}}}),
    );
    let input = lines(&[secret, review]);
    for format in ["json", "table"] {
        let out = kubevigil(&["audit", "detect", "-o", format, "-"], &input);
        assert_eq!(out.status.code(), Some(1));
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("Secret created, modified or deleted"), "{all}");
        for secret in ["c3VwZXJzZWNyZXQ=", "plain-token-value", "secret-jwt"] {
            assert!(!all.contains(secret), "{format} output leaks {secret}");
        }
    }
}

/// Correlations may group by any field, bodies included: a group-by value that redaction removes
/// from the event is printed redacted. The events keep their bodies and every correlation must
/// fire with a group, so that a disabled or partial redaction (JSON patch `replace`, `test`,
/// `stringData`, tokens) shows up here as a leak.
#[test]
fn group_by_values_from_secret_bodies_are_redacted() {
    const SECRETS: [&str; 6] = [
        "c3VwZXJzZWNyZXQ=",
        "plain-token-value",
        "eyJhbGciOiJSUzI1NiJ9.secret-jwt",
        "replaced-secret-value",
        "tested-secret-value",
        "added-secret-value",
    ];
    let secret = |i, verb: &str, body: Value| {
        event(
            i,
            json!({"level": "RequestResponse", "verb": verb, "objectRef": {"resource": "secrets", "name": "db", "namespace": "default"}, "requestObject": body}),
        )
    };
    let input = lines(&[
        secret(
            1,
            "create",
            json!({"kind": "Secret", "metadata": {"name": "db"}, "data": {"password": SECRETS[0]}, "stringData": {"token": SECRETS[1]}}),
        ),
        event(
            2,
            json!({"level": "RequestResponse", "verb": "create", "objectRef": {"resource": "tokenreviews"},
            "requestObject": {"kind": "TokenReview", "spec": {"token": SECRETS[2]}}}),
        ),
        secret(
            3,
            "patch",
            json!([{"op": "replace", "path": "/data/password", "value": SECRETS[3]}]),
        ),
        secret(
            4,
            "patch",
            json!([{"op": "test", "path": "/data/password", "value": SECRETS[4]}]),
        ),
        secret(
            5,
            "patch",
            json!([{"op": "add", "path": "/data/other", "value": SECRETS[5]}]),
        ),
    ]);
    let base = "title: body\nname: body\nid: body-1\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  sel:\n    objectRef.resource: [secrets, tokenreviews]\n  condition: sel\nlevel: low\n";
    // (group-by field, value when not a secret)
    let groups = [
        ("requestObject.data.password", None),
        ("requestObject.stringData.token", None),
        ("requestObject.spec.token", None),
        ("requestObject.value", None),
        ("requestObject.metadata.name", Some("db")),
    ];
    let mut rules = base.to_string();
    for (i, (field, _)) in groups.iter().enumerate() {
        rules.push_str(&format!(
            "---\ntitle: by {field}\nid: group-{i}\ncorrelation:\n  type: event_count\n  rules: [body]\n  group-by: [{field}]\n  timespan: 1h\n  condition: {{gte: 1}}\nlevel: high\n"
        ));
    }
    let dir = tempfile::tempdir().unwrap();
    let rules_file = dir.path().join("rules.yml");
    std::fs::write(&rules_file, rules).unwrap();
    let rules_arg = rules_file.to_str().unwrap();
    for format in ["json", "table"] {
        let out = kubevigil(
            &[
                "audit",
                "detect",
                "--no-builtin",
                "--rules",
                rules_arg,
                "-o",
                format,
                "-",
            ],
            &input,
        );
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(out.status.code(), Some(1), "{all}");
        for s in SECRETS {
            assert!(!all.contains(s), "{format} output leaks {s}:\n{all}");
        }
        if format != "json" {
            continue;
        }
        let alerts = alerts(&out);
        for (i, (field, plain)) in groups.iter().enumerate() {
            let groups: Vec<&Value> = alerts
                .iter()
                .filter(|a| a["rule"] == format!("group-{i}"))
                .map(|a| &a["group"][field])
                .collect();
            assert!(!groups.is_empty(), "{field}: no alert\n{all}");
            for g in groups {
                let g = g.as_str().unwrap();
                match plain {
                    Some(plain) => assert_eq!(g, *plain, "{field}"),
                    // A keyed hash: equal secrets still group together.
                    None => assert!(g.starts_with("<redacted:"), "{field}: {g}"),
                }
            }
        }
        // Each secret-bearing group-by value gave its own group, under its own hash.
        let redacted: std::collections::BTreeSet<&str> = alerts
            .iter()
            .flat_map(|a| a["group"].as_object().unwrap().values())
            .filter_map(Value::as_str)
            .filter(|v| v.starts_with("<redacted:"))
            .collect();
        assert_eq!(redacted.len(), SECRETS.len(), "{all}");
    }
}

#[test]
fn bad_user_rules_are_reported_with_position_and_the_rest_runs() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("mine.yml"),
        "title: mine\nid: 11111111-2222-4333-8444-555555555555\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  sel:\n    verb|utf16le: get\n  condition: sel\n---\ntitle: gets\nid: 11111111-2222-4333-8444-555555555556\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  sel:\n    verb: get\n    objectRef.resource: pods\n  condition: sel\nlevel: low\n",
    )
    .unwrap();
    let rules = dir.path().display().to_string();
    let out = kubevigil(
        &["audit", "detect", "--rules", &rules, "-o", "json", "-"],
        &lines(&[event(1, json!({}))]),
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("mine.yml:6:5: error:") && stderr.contains("utf16le"),
        "{stderr}"
    );
    assert!(alerts(&out).iter().any(|a| a["title"] == "gets"));
}

#[test]
fn configuration_disables_rules_by_id() {
    let listed = |extra: &[&str]| {
        let mut args = vec!["audit", "detect", "--list-rules"];
        args.extend_from_slice(extra);
        String::from_utf8(kubevigil(&args, "").stdout).unwrap()
    };
    let all = listed(&[]);
    let id = all
        .lines()
        .nth(1)
        .and_then(|l| l.split_whitespace().next())
        .expect("a rule");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubevigil.yaml");
    std::fs::write(&config, format!("detect:\n  disable: [{id}]\n")).unwrap();
    let fewer = listed(&["--config", config.to_str().unwrap()]);
    assert!(all.contains(id));
    assert!(!fewer.contains(id), "{id} still listed");
}
