//! `kubevigil audit detect`: output contract, exit codes, malformed input, redaction; and
//! (issue 14, points 1–4) alerts stream as their events arrive, say who did what (the JSON
//! contract of the README), fold repeats, and can be tuned.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

#[path = "support/cli.rs"]
mod cli;
use cli::kubevigil;

fn event(i: u64, patch: Value) -> Value {
    let mut ev = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": format!("id-{i}"),
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/default/pods", "verb": "get",
        "user": {"username": "alice@example.com", "groups": ["system:authenticated"]}, "sourceIPs": ["203.0.113.7"],
        "userAgent": "kubectl/v1.30.0", "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2024-05-01T10:00:00.000000Z",
        "stageTimestamp": format!("2024-05-01T{:02}:{:02}:{:02}.000000Z", 10 + i / 3600, i / 60 % 60, i % 60)
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

/// The alerts of `audit detect -o json [extra] -` on `input`, which must exit `code`.
fn detect_json(extra: &[&str], input: &str, code: i32) -> Vec<Value> {
    let mut args = vec!["audit", "detect", "-o", "json"];
    args.extend_from_slice(extra);
    args.push("-");
    let out = kubevigil(&args, input);
    assert_eq!(
        out.status.code(),
        Some(code),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    alerts(&out)
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
    let all = detect_json(&[], &lines(&events), 1);
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
    let all = detect_json(&[], &format!("{old}\n{bare}\n{list}\n"), 1);
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

/// Titles of the alerts of a `-o json` run.
fn titles(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: Value = serde_json::from_str(l).unwrap();
            v["title"].as_str().unwrap().to_string()
        })
        .collect()
}

fn from(i: u64, user: &str, ip: &str) -> String {
    event(
        i,
        json!({"user": {"username": user}, "sourceIPs": [ip], "verb": "list"}),
    )
    .to_string()
}

const IOC: &str = "Request from an address on an indicator list";
const OUTSIDE: &str = "System identity used from outside the cluster networks";

/// `--ioc-file`: the list reaches k8s_ioc_source_address; a bad line is a located, escaped
/// error (exit 2) and the rest of the list still applies; without a list nothing matches.
#[test]
fn indicator_list_from_a_file_with_a_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("tor.txt");
    std::fs::write(
        &list,
        "# Tor exits\n185.220.101.0/24\nnot-an-ip\u{1b}]0;x\u{7}\n",
    )
    .unwrap();
    let input = [
        from(0, "alice@example.com", "185.220.101.47"),
        from(1, "alice@example.com", "198.51.100.1"),
    ]
    .join("\n");
    let list = list.to_str().unwrap();
    let out = kubevigil(
        &["audit", "detect", "-o", "json", "--ioc-file", list, "-"],
        &input,
    );
    assert_eq!(titles(&out), [IOC]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tor.txt:3:1: not an IP address or CIDR range: not-an-ip\\e]0;x\\a"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert_eq!(out.status.code(), Some(2));
    let out = kubevigil(&["audit", "detect", "-o", "json", "-"], &input);
    assert_eq!(titles(&out), Vec::<String>::new());
    assert_eq!(out.status.code(), Some(0));
}

/// `--cluster-network` replaces the default private ranges of k8s_system_identity_outside_cluster.
#[test]
fn cluster_networks_replace_the_private_ranges() {
    let input = [
        from(0, "system:node:worker-1", "10.0.0.5"),
        from(1, "system:node:worker-1", "198.51.100.9"),
    ]
    .join("\n");
    let out = kubevigil(&["audit", "detect", "-o", "json", "-"], &input);
    assert_eq!(titles(&out), [OUTSIDE]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("198.51.100.9"));
    // The nodes live in 198.51.100.0/24: now 10.0.0.5 is outside.
    let args = [
        "audit",
        "detect",
        "-o",
        "json",
        "--cluster-network",
        "198.51.100.0/24",
        "-",
    ];
    let out = kubevigil(&args, &input);
    assert_eq!(titles(&out), [OUTSIDE]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("10.0.0.5"));
    let out = kubevigil(
        &["audit", "detect", "--cluster-network", "10.0.0.0/33", "-"],
        &input,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("10.0.0.0/33: not a CIDR range"));
}

fn managed_sample(file: &str) -> String {
    format!(
        "{}/../audit/tests/data/managed/{file}",
        env!("CARGO_MANIFEST_DIR")
    )
}

/// Managed clusters' exports are detected per input and run through the same rules: a GKE
/// privileged pod and cluster-admin binding, an AKS kube-system account used from outside.
#[test]
fn managed_cluster_exports_raise_alerts() {
    let gke = managed_sample("gke-gcloud.json");
    let out = kubevigil(&["audit", "detect", "-o", "json", &gke], "");
    let fired = titles(&out);
    for t in [
        "Privileged container created",
        "Pod sharing the host PID namespace",
        "Binding to cluster-admin created",
    ] {
        assert!(fired.iter().any(|f| f == t), "{t}: {fired:?}");
    }
    // The entry of another Google service is a located error; the rest was read.
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("gke-gcloud.json:183:3: GKE log entry"));
    let aks = managed_sample("aks-storage.json");
    let out = kubevigil(&["audit", "detect", "-o", "json", &aks], "");
    assert!(
        titles(&out).iter().any(|t| t == OUTSIDE),
        "{:?}",
        titles(&out)
    );
}

/// A Secret's data inside a wrapped event (AKS `properties.log`) never reaches the output.
#[test]
fn wrapped_secret_bodies_are_not_printed() {
    let inner = event(
        0,
        json!({"verb": "create", "requestURI": "/api/v1/namespaces/prod/secrets",
               "objectRef": {"resource": "secrets", "namespace": "prod", "name": "db"},
               "responseStatus": {"code": 201},
               "requestObject": {"kind": "Secret", "data": {"password": "c3VwZXJzZWNyZXQtdmFsdWU="}, "stringData": {"token": "plain-secret-token"}}}),
    );
    let record = json!({"category": "kube-audit", "operationName": "Microsoft.ContainerService/managedClusters/diagnosticLogs/Read",
        "properties": {"log": inner.to_string(), "pod": "kube-apiserver-1", "stream": "stdout"}, "time": "2024-05-01T10:00:00Z"});
    for fmt in ["json", "table"] {
        let out = kubevigil(&["audit", "detect", "-o", fmt, "-"], &record.to_string());
        let all = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(all.contains("Secret created, modified or deleted"), "{all}");
        assert!(
            !all.contains("c3VwZXJzZWNyZXQtdmFsdWU") && !all.contains("plain-secret-token"),
            "{all}"
        );
    }
}

/// `audit detect -o json -` reading a pipe kept open: its stdin, and the alerts it prints as
/// they come (read by a thread).
struct Stream {
    child: std::process::Child,
    stdin: std::process::ChildStdin,
    alerts: mpsc::Receiver<Value>,
    reader: std::thread::JoinHandle<()>,
}

impl Stream {
    fn start() -> Stream {
        let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
            .args(["audit", "detect", "-o", "json", "--fail-on", "none", "-"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdin = child.stdin.take().unwrap();
        let stdout = child.stdout.take().unwrap();
        let (tx, alerts) = mpsc::channel::<Value>();
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                    break;
                }
            }
        });
        Stream {
            child,
            stdin,
            alerts,
            reader,
        }
    }

    /// Writes `text` and flushes; returns when.
    fn write(&mut self, text: &str) -> Instant {
        self.stdin.write_all(text.as_bytes()).unwrap();
        self.stdin.flush().unwrap();
        Instant::now()
    }

    fn send(&mut self, ev: &Value) -> Instant {
        self.write(&(ev.to_string() + "\n"))
    }

    fn end(self) {
        drop(self.stdin);
        let mut child = self.child;
        child.wait().unwrap();
        self.reader.join().unwrap();
    }
}

fn exec(secs: u64, pod: &str, command: &str) -> Value {
    event(
        secs,
        json!({"verb": "create", "requestURI": format!("/api/v1/namespaces/default/pods/{pod}/exec?{command}&container=app&stdin=true"),
               "objectRef": {"resource": "pods", "subresource": "exec", "name": pod}, "responseStatus": {"code": 101}}),
    )
}

fn of_rule<'a>(all: &'a [Value], name: &str) -> Vec<&'a Value> {
    all.iter().filter(|a| a["name"] == name).collect()
}

/// Acceptance of point 1: events written one by one to a pipe that stays open; each alert is
/// read within 100 ms of its event, a correlation's as soon as its threshold is reached.
#[test]
fn each_alert_arrives_within_100ms_of_its_event_on_an_open_pipe() {
    let mut s = Stream::start();
    // Warm-up: the process starts and compiles the pack (not measured).
    s.send(&exec(0, "warm-up", "command=id"));
    let first = s
        .alerts
        .recv_timeout(Duration::from_secs(60))
        .expect("first alert");
    assert_eq!(first["actor"]["username"], "alice@example.com");
    let mut latencies = Vec::new();
    for i in 1..=10u64 {
        // A new pod each time: no repeat for dedup to fold.
        let sent = s.send(&exec(i, &format!("web-{i}"), "command=id"));
        let a = s
            .alerts
            .recv_timeout(Duration::from_secs(10))
            .expect("an alert per event");
        latencies.push(sent.elapsed());
        assert_eq!(a["action"]["name"], format!("web-{i}"));
        // Both exec rules may fire (the shell rule only for shells): drain what came with it.
        while s.alerts.recv_timeout(Duration::from_millis(1)).is_ok() {}
    }
    // A burst of denied requests: the correlation fires at its 20th event, not at the end.
    let mut burst_latency = None;
    for i in 0..20u64 {
        let sent = s.send(&event(
            100 + i,
            json!({"user": {"username": "mallory"}, "responseStatus": {"code": 403}, "objectRef": {"resource": "configmaps", "name": format!("c{i}")}}),
        ));
        if i == 19 {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                let Ok(a) = s.alerts.recv_timeout(Duration::from_secs(10)) else {
                    break;
                };
                if a["name"] == "k8s-failed-requests-burst-user" {
                    burst_latency = Some(sent.elapsed());
                    break;
                }
            }
        }
    }
    s.end();
    let worst = latencies.iter().max().unwrap();
    assert!(
        *worst < Duration::from_millis(100),
        "per-event latencies {latencies:?}"
    );
    let burst = burst_latency.expect("the burst alert while the pipe was open");
    assert!(
        burst < Duration::from_millis(100),
        "burst latency {burst:?}"
    );
}

/// Acceptance of point 2: impersonation (both identities) and a binding's subjects and roleRef.
#[test]
fn the_contract_names_both_identities_and_who_a_binding_grants() {
    let binding = event(
        5,
        json!({"level": "RequestResponse", "verb": "create", "requestURI": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings",
            "user": {"username": "ci-bot", "groups": ["ci", "system:authenticated"]},
            "impersonatedUser": {"username": "system:serviceaccount:kube-system:root-admin", "groups": ["system:serviceaccounts"]},
            "userAgent": "kubectl/v1.30.0 (linux/amd64)",
            "objectRef": {"resource": "clusterrolebindings", "apiGroup": "rbac.authorization.k8s.io", "apiVersion": "v1", "name": "backdoor", "namespace": null},
            "responseStatus": {"code": 201},
            "requestObject": {"kind": "ClusterRoleBinding", "metadata": {"name": "backdoor"},
                "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                "subjects": [{"kind": "User", "name": "mallory"}, {"kind": "ServiceAccount", "name": "x", "namespace": "default"}]}}),
    );
    let all = detect_json(&[], &lines(std::slice::from_ref(&binding)), 1);
    let a = of_rule(&all, "k8s-binding-cluster-admin")[0];
    assert_eq!(a["rule"], "d0ef6e1e-64fa-5c65-8798-5d3da6d52c62");
    assert_eq!(a["title"], "Binding to cluster-admin created");
    assert_eq!(a["severity"], "high");
    assert!(a["description"].as_str().unwrap().contains("cluster-admin"));
    assert_eq!(a["falsePositives"], json!(["Cluster bootstrap"]));
    assert!(a["why"].is_string(), "{a}");
    assert!(!a["nextSteps"].as_array().unwrap().is_empty());
    assert_eq!(a["mitre"]["techniques"], json!(["T1098", "T1078"]));
    assert_eq!(
        a["actor"],
        json!({"username": "ci-bot", "groups": ["ci", "system:authenticated"], "serviceAccount": null,
            "impersonatedUser": {"username": "system:serviceaccount:kube-system:root-admin", "groups": ["system:serviceaccounts"],
                "serviceAccount": {"namespace": "kube-system", "name": "root-admin"}},
            "sourceIPs": ["203.0.113.7"], "userAgent": "kubectl/v1.30.0 (linux/amd64)"})
    );
    assert_eq!(
        a["action"],
        json!({"verb": "create", "resource": "clusterrolebindings", "subresource": null, "apiGroup": "rbac.authorization.k8s.io",
            "namespace": null, "name": "backdoor", "requestURI": "/apis/rbac.authorization.k8s.io/v1/clusterrolebindings", "responseCode": 201})
    );
    assert_eq!(
        a["facts"],
        json!({"binding": {"roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
            "subjects": [{"kind": "User", "name": "mallory"}, {"kind": "ServiceAccount", "name": "x", "namespace": "default"}]}})
    );
    assert_eq!(a["auditIDs"], json!(["id-5"]));
    assert_eq!(a["events"][0]["time"], "2024-05-01T10:00:05.000Z");
    assert_eq!(
        (a["count"].as_u64(), a["update"].as_bool()),
        (Some(1), Some(false))
    );
    assert_eq!(a["dedupKey"].as_str().unwrap().len(), 16);
    // The impersonation rule names both identities too, and the table says `ci-bot as ...`.
    assert!(!of_rule(&all, "k8s-impersonation").is_empty());
    let table = kubevigil(&["audit", "detect", "-"], &lines(&[binding]));
    let text = String::from_utf8_lossy(&table.stdout);
    // Cells wrap (at spaces when they can): read the WHO and WHAT columns of the first row and
    // of the rows that continue it.
    let rows: Vec<&str> = text.lines().collect();
    let at = |h: &str| rows[0].find(h).unwrap();
    let column = |from: usize, to: usize| -> Vec<String> {
        rows[1..]
            .iter()
            .enumerate()
            .take_while(|(i, l)| *i == 0 || l.starts_with(' '))
            .map(|(_, l)| {
                l.get(from..to.min(l.len()))
                    .unwrap_or("")
                    .trim()
                    .to_string()
            })
            .collect()
    };
    assert_eq!(
        column(at("WHO"), at("WHAT")).concat(),
        "ci-bot assystem:serviceaccount:kube-system:root-admin",
        "{text}"
    );
    assert_eq!(
        column(at("WHAT"), at("RULE")).join(" "),
        "create clusterrolebindings backdoor: grants ClusterRole/cluster-admin to User:mallory, ServiceAccount:default/x",
        "{text}"
    );
}

#[test]
fn exec_alerts_show_the_command_and_the_container() {
    let out = kubevigil(
        &["audit", "detect", "-o", "json", "-"],
        &lines(&[exec(
            1,
            "web-0",
            "command=sh&command=-c&command=cat+%2Fetc%2Fshadow",
        )]),
    );
    let all = alerts(&out);
    let a = of_rule(&all, "k8s_pod_exec")[0];
    assert_eq!(
        a["facts"]["exec"],
        json!({"command": ["sh", "-c", "cat /etc/shadow"], "container": "app"})
    );
}

/// Point 3: stdin is a stream (alert at once, one update per period); files get one alert per
/// key and period with first and last times.
#[test]
fn repeats_fold_into_updates_on_a_stream_and_into_one_alert_over_files() {
    // 5 execs by alice into web-0 within 4 minutes, one an hour later, one by bob.
    let mut events: Vec<Value> = (0..5)
        .map(|i| exec(i * 60, "web-0", "command=id"))
        .collect();
    events.push(exec(3700, "web-0", "command=id"));
    events.push(merge_into(
        exec(3701, "web-0", "command=id"),
        json!({"user": {"username": "bob"}}),
    ));
    let input = lines(&events);
    let out = kubevigil(&["audit", "detect", "-o", "json", "-"], &input);
    let all = alerts(&out);
    let got: Vec<(bool, u64, &str, &str, &str)> = of_rule(&all, "k8s_pod_exec")
        .iter()
        .map(|a| {
            (
                a["update"].as_bool().unwrap(),
                a["count"].as_u64().unwrap(),
                a["firstSeen"].as_str().unwrap(),
                a["lastSeen"].as_str().unwrap(),
                a["actor"]["username"].as_str().unwrap(),
            )
        })
        .collect();
    let alice = "alice@example.com";
    assert_eq!(
        got,
        [
            (
                false,
                1,
                "2024-05-01T10:00:00.000Z",
                "2024-05-01T10:00:00.000Z",
                alice
            ),
            (
                true,
                5,
                "2024-05-01T10:00:00.000Z",
                "2024-05-01T10:04:00.000Z",
                alice
            ),
            (
                false,
                1,
                "2024-05-01T11:01:40.000Z",
                "2024-05-01T11:01:40.000Z",
                alice
            ),
            (
                false,
                1,
                "2024-05-01T11:01:41.000Z",
                "2024-05-01T11:01:41.000Z",
                "bob"
            ),
        ]
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("dedup: 4 repeats folded"), "{stderr}");
    let update = of_rule(&all, "k8s_pod_exec")[1];
    assert_eq!(
        update["auditIDs"],
        json!(["id-0", "id-60", "id-120", "id-180", "id-240"])
    );

    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, &input).unwrap();
    let out = kubevigil(
        &["audit", "detect", "-o", "json", log.to_str().unwrap()],
        "",
    );
    let all = alerts(&out);
    let got: Vec<(bool, u64, &str)> = of_rule(&all, "k8s_pod_exec")
        .iter()
        .map(|a| {
            (
                a["update"].as_bool().unwrap(),
                a["count"].as_u64().unwrap(),
                a["lastSeen"].as_str().unwrap(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (false, 5, "2024-05-01T10:04:00.000Z"),
            (false, 1, "2024-05-01T11:01:40.000Z"),
            (false, 1, "2024-05-01T11:01:41.000Z"),
        ]
    );
}

fn merge_into(mut ev: Value, patch: Value) -> Value {
    merge(&mut ev, &patch);
    ev
}

/// `audit detect` with the configuration `yaml` and `args` must exit 2; its stderr.
fn usage_error(yaml: &str, args: &[&str]) -> String {
    let (_d, cfg) = with_config(yaml);
    let mut all = vec!["audit", "detect", "--config", &cfg];
    all.extend_from_slice(args);
    all.push("-");
    let out = kubevigil(&all, "");
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    stderr
}

fn with_config(yaml: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("kubevigil.yaml");
    std::fs::write(&path, yaml).unwrap();
    let p = path.to_str().unwrap().to_string();
    (dir, p)
}

/// Point 3, configuration: a global period and key; a rule's own `dedup` attribute wins.
#[test]
fn dedup_is_configured_globally_and_per_rule() {
    let events: Vec<Value> = (0..3)
        .map(|i| exec(i * 600, &format!("web-{i}"), "command=id"))
        .collect();
    let input = lines(&events);
    let count = |args: &[&str]| {
        let out = kubevigil(args, &input);
        assert!(
            out.status.code() != Some(2),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        of_rule(&alerts(&out), "k8s_pod_exec")
            .iter()
            .filter(|a| a["update"] == false)
            .count()
    };
    // Default key (actor, namespace, object): three pods, three alerts.
    assert_eq!(count(&["audit", "detect", "-o", "json", "-"]), 3);
    let (_d, cfg) = with_config("detect:\n  dedup: {key: [actor]}\n");
    assert_eq!(
        count(&["audit", "detect", "-o", "json", "--config", &cfg, "-"]),
        1
    );
    let (_d, cfg) = with_config("detect:\n  dedup: {key: [actor], period: 5m}\n");
    assert_eq!(
        count(&["audit", "detect", "-o", "json", "--config", &cfg, "-"]),
        3
    );
    // A rule's attribute (here a user rule) overrides the configuration.
    let rules = tempfile::tempdir().unwrap();
    std::fs::write(
        rules.path().join("execs.yml"),
        "title: execs\nid: my-execs\nlogsource: {product: kubernetes, service: audit}\n\
         detection:\n  sel: {objectRef.subresource: exec}\n  condition: sel\nlevel: low\n\
         dedup: {key: [actor], period: 1h}\n",
    )
    .unwrap();
    let out = kubevigil(
        &[
            "audit",
            "detect",
            "-o",
            "json",
            "--no-builtin",
            "--rules",
            rules.path().to_str().unwrap(),
            "--config",
            &cfg,
            "-",
        ],
        &input,
    );
    let all = alerts(&out);
    let mine: Vec<&Value> = all
        .iter()
        .filter(|a| a["rule"] == "my-execs" && a["update"] == false)
        .collect();
    assert_eq!(mine.len(), 1, "{all:#?}");
    assert!(
        usage_error("detect:\n  dedup: {period: soon}\n", &[])
            .contains("detect.dedup.period: \"soon\"")
    );
}

/// Point 4: exceptions silence what they describe, and nothing else; every name is checked.
#[test]
fn exceptions_silence_expected_alerts_and_unknown_rules_are_errors() {
    // The secret-read rule concerns people (service accounts are judged by the enumeration
    // correlation): an operator whose reads are expected is excepted by name.
    let sa = "cert-operator";
    let read = |secs: u64, user: &str| {
        event(
            secs,
            json!({"verb": "get", "user": {"username": user}, "objectRef": {"resource": "secrets", "namespace": "cert-manager", "name": format!("tls-{secs}")}}),
        )
    };
    let input = lines(&[read(1, sa), read(2, "mallory")]);
    let secret_reads = |out: &Output| {
        of_rule(&alerts(out), "k8s_secret_read")
            .iter()
            .map(|a| a["actor"]["username"].as_str().unwrap().to_string())
            .collect::<Vec<_>>()
    };
    let out = kubevigil(&["audit", "detect", "-o", "json", "-"], &input);
    assert_eq!(secret_reads(&out), [sa, "mallory"]);
    let (_d, cfg) = with_config(
        "detect:\n  exceptions:\n    - rules: [k8s_secret_read]\n      users: [\"cert-*\"]\n      reason: the cert operator reads the secrets it renews\n",
    );
    let out = kubevigil(
        &["audit", "detect", "-o", "json", "--config", &cfg, "-"],
        &input,
    );
    assert_eq!(secret_reads(&out), ["mallory"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains(", 1 excepted,"));
    // Typos are errors, with the closest name, wherever a rule is named.
    let stderr = usage_error(
        "detect:\n  exceptions:\n    - rules: [k8s_secret_raed]\n      users: [x]\n      reason: r\n",
        &[],
    );
    assert!(
        stderr.contains("detect.exceptions[0].rules: unknown rule id or name \"k8s_secret_raed\"; did you mean `k8s_secret_read`?"),
        "{stderr}"
    );
    assert!(
        usage_error("", &["--disable", "k8s-pod-exek"]).contains("did you mean `k8s-pod-exec`?")
    );
    assert!(
        usage_error(
            "detect:\n  exceptions:\n    - rules: [\"*\"]\n      users: [x]\n",
            &[]
        )
        .contains("reason")
    );
}

/// `--disable` accepts the slug and the Sigma name as well as the id.
#[test]
fn rules_are_disabled_by_id_name_or_slug() {
    let input = lines(&[exec(1, "web-0", "command=sh")]);
    let out = kubevigil(&["audit", "detect", "-o", "json", "-"], &input);
    assert!(!of_rule(&alerts(&out), "k8s-pod-exec-shell").is_empty());
    for name in [
        "k8s-pod-exec-shell",
        "3bfa2e00-2f6e-5f2d-a42b-16425033d671",
        "k8s-pod-exec-*",
    ] {
        let all = detect_json(&["--disable", name], &input, 1);
        assert!(of_rule(&all, "k8s-pod-exec-shell").is_empty(), "{name}");
        assert!(!of_rule(&all, "k8s_pod_exec").is_empty(), "{name}");
    }
}

/// Point 4: `--stats` lists rules with their top actors and objects; no secret in it.
#[test]
fn stats_show_per_rule_counts_with_top_actors_and_objects() {
    let mut events = Vec::new();
    for i in 0..6u64 {
        let user = if i < 4 { "carol" } else { "alice" };
        events.push(event(
            i,
            json!({"level": "RequestResponse", "verb": "get", "user": {"username": user},
                "objectRef": {"resource": "secrets", "namespace": "argocd", "name": "repo-creds"},
                "responseObject": {"kind": "Secret", "data": {"password": "c3VwZXJzZWNyZXQ="}}}),
        ));
    }
    let out = kubevigil(&["audit", "detect", "--stats", "-"], &lines(&events));
    let text = String::from_utf8_lossy(&out.stdout);
    let block: Vec<&str> = text
        .lines()
        .skip_while(|l| !l.starts_with("k8s_secret_read "))
        .take(3)
        .collect();
    assert_eq!(block.len(), 3, "{text}");
    assert!(
        block[0].contains("alerts 2  updates 2  matches 6  events 6  excepted 0"),
        "{text}"
    );
    assert_eq!(block[1], "  actors   carol (4), alice (2)");
    assert_eq!(block[2], "  objects  secrets argocd/repo-creds (6)");
    let json_out = kubevigil(
        &["audit", "detect", "--stats", "-o", "json", "-"],
        &lines(&events),
    );
    let all = format!(
        "{text}{}{}{}",
        String::from_utf8_lossy(&out.stderr),
        String::from_utf8_lossy(&json_out.stdout),
        String::from_utf8_lossy(&json_out.stderr)
    );
    assert!(all.contains("\"matches\":6"), "{all}");
    assert!(!all.contains("c3VwZXJzZWNyZXQ="));
}

/// An event that reaches the pipe in pieces is processed when its last piece arrives: the
/// reader neither waits for more input nor for the end of the stream.
#[test]
fn an_event_written_in_pieces_alerts_when_it_is_complete() {
    let mut s = Stream::start();
    for (i, pod) in ["first", "second"].iter().enumerate() {
        let text = exec(i as u64, pod, "command=id").to_string() + "\n";
        let (a, b) = text.split_at(text.len() / 2);
        s.write(a);
        assert!(
            s.alerts
                .recv_timeout(Duration::from_millis(if i == 0 { 2000 } else { 300 }))
                .is_err(),
            "an alert before its event was complete"
        );
        let sent = s.write(b);
        let a = s
            .alerts
            .recv_timeout(Duration::from_secs(60))
            .expect("the alert once the event is complete");
        assert_eq!(a["action"]["name"], *pod);
        if i > 0 {
            assert!(
                sent.elapsed() < Duration::from_millis(100),
                "{:?}",
                sent.elapsed()
            );
        }
        while s.alerts.recv_timeout(Duration::from_millis(20)).is_ok() {}
    }
    s.end();
}
