//! `kubevigil audit detect` (issue 14, points 1–4): alerts stream as their events arrive, say
//! who did what (the JSON contract of the README), fold repeats, and can be tuned.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

const BIN: &str = env!("CARGO_BIN_EXE_kubevigil");

fn kubevigil(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(BIN)
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

/// An audit event at `10:MM:SS` plus `secs` seconds, merged with `patch`.
fn event(secs: u64, patch: Value) -> Value {
    let t = format!(
        "2024-05-01T{:02}:{:02}:{:02}.000000Z",
        10 + secs / 3600,
        secs / 60 % 60,
        secs % 60
    );
    let mut ev = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": format!("id-{secs}"),
        "stage": "ResponseComplete", "requestURI": "/api/v1/namespaces/default/pods", "verb": "get",
        "user": {"username": "alice@example.com", "groups": ["system:authenticated"]}, "sourceIPs": ["203.0.113.7"],
        "userAgent": "kubectl/v1.30.0", "objectRef": {"resource": "pods", "namespace": "default", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": t, "stageTimestamp": t
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

fn exec(secs: u64, pod: &str, command: &str) -> Value {
    event(
        secs,
        json!({"verb": "create", "requestURI": format!("/api/v1/namespaces/default/pods/{pod}/exec?{command}&container=app&stdin=true"),
               "objectRef": {"resource": "pods", "subresource": "exec", "name": pod}, "responseStatus": {"code": 101}}),
    )
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

fn of_rule<'a>(all: &'a [Value], name: &str) -> Vec<&'a Value> {
    all.iter().filter(|a| a["name"] == name).collect()
}

/// Acceptance of point 1: events written one by one to a pipe that stays open; each alert is
/// read within 100 ms of its event, a correlation's as soon as its threshold is reached.
#[test]
fn each_alert_arrives_within_100ms_of_its_event_on_an_open_pipe() {
    let mut child = Command::new(BIN)
        .args(["audit", "detect", "-o", "json", "--fail-on", "none", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Value>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    let mut send = |ev: &Value| {
        stdin.write_all((ev.to_string() + "\n").as_bytes()).unwrap();
        stdin.flush().unwrap();
        Instant::now()
    };
    // Warm-up: the process starts and compiles the pack (not measured).
    send(&exec(0, "warm-up", "command=id"));
    let first = rx
        .recv_timeout(Duration::from_secs(60))
        .expect("first alert");
    assert_eq!(first["actor"]["username"], "alice@example.com");
    let mut latencies = Vec::new();
    for i in 1..=10u64 {
        // A new pod each time: no repeat for dedup to fold.
        let sent = send(&exec(i, &format!("web-{i}"), "command=id"));
        let a = rx
            .recv_timeout(Duration::from_secs(10))
            .expect("an alert per event");
        latencies.push(sent.elapsed());
        assert_eq!(a["action"]["name"], format!("web-{i}"));
        // Both exec rules may fire (the shell rule only for shells): drain what came with it.
        while rx.recv_timeout(Duration::from_millis(1)).is_ok() {}
    }
    // A burst of denied requests: the correlation fires at its 20th event, not at the end.
    let mut burst_latency = None;
    for i in 0..20u64 {
        let sent = send(&event(
            100 + i,
            json!({"user": {"username": "mallory"}, "responseStatus": {"code": 403}, "objectRef": {"resource": "configmaps", "name": format!("c{i}")}}),
        ));
        if i == 19 {
            let deadline = Instant::now() + Duration::from_secs(10);
            while Instant::now() < deadline {
                let Ok(a) = rx.recv_timeout(Duration::from_secs(10)) else {
                    break;
                };
                if a["name"] == "k8s-failed-requests-burst-user" {
                    burst_latency = Some(sent.elapsed());
                    break;
                }
            }
        }
    }
    drop(stdin);
    child.wait().unwrap();
    reader.join().unwrap();
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
    let out = kubevigil(
        &["audit", "detect", "-o", "json", "-"],
        &lines(std::slice::from_ref(&binding)),
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let all = alerts(&out);
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
    let (_d, cfg) = with_config("detect:\n  dedup: {period: soon}\n");
    let out = kubevigil(&["audit", "detect", "--config", &cfg, "-"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("detect.dedup.period: \"soon\""));
}

/// Point 4: exceptions silence what they describe, and nothing else; every name is checked.
#[test]
fn exceptions_silence_expected_alerts_and_unknown_rules_are_errors() {
    let sa = "system:serviceaccount:cert-manager:cert-manager";
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
        "detect:\n  exceptions:\n    - rules: [k8s_secret_read]\n      serviceAccounts: [\"cert-manager/*\"]\n      reason: cert-manager reads its own secrets\n",
    );
    let out = kubevigil(
        &["audit", "detect", "-o", "json", "--config", &cfg, "-"],
        &input,
    );
    assert_eq!(secret_reads(&out), ["mallory"]);
    assert!(String::from_utf8_lossy(&out.stderr).contains(", 1 excepted,"));
    // Typos are errors, with the closest name, wherever a rule is named.
    let (_d, cfg) = with_config(
        "detect:\n  exceptions:\n    - rules: [k8s_secret_raed]\n      users: [x]\n      reason: r\n",
    );
    let out = kubevigil(&["audit", "detect", "--config", &cfg, "-"], "");
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("detect.exceptions[0].rules: unknown rule id or name \"k8s_secret_raed\"; did you mean `k8s_secret_read`?"),
        "{stderr}"
    );
    let out = kubevigil(&["audit", "detect", "--disable", "k8s-pod-exek", "-"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("did you mean `k8s-pod-exec`?"));
    let (_d, cfg) = with_config("detect:\n  exceptions:\n    - rules: [\"*\"]\n      users: [x]\n");
    let out = kubevigil(&["audit", "detect", "--config", &cfg, "-"], "");
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("reason"));
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
        let out = kubevigil(
            &["audit", "detect", "-o", "json", "--disable", name, "-"],
            &input,
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let all = alerts(&out);
        assert!(of_rule(&all, "k8s-pod-exec-shell").is_empty(), "{name}");
        assert!(!of_rule(&all, "k8s_pod_exec").is_empty(), "{name}");
    }
}

/// Point 4: `--stats` lists rules with their top actors and objects; no secret in it.
#[test]
fn stats_show_per_rule_counts_with_top_actors_and_objects() {
    let mut events = Vec::new();
    for i in 0..6u64 {
        let user = if i < 4 {
            "system:serviceaccount:argocd:argocd-server"
        } else {
            "alice"
        };
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
    assert_eq!(
        block[1],
        "  actors   system:serviceaccount:argocd:argocd-server (4), alice (2)"
    );
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
    let mut child = Command::new(BIN)
        .args(["audit", "detect", "-o", "json", "--fail-on", "none", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel::<Value>();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if tx.send(serde_json::from_str(&line).unwrap()).is_err() {
                break;
            }
        }
    });
    for (i, pod) in ["first", "second"].iter().enumerate() {
        let text = exec(i as u64, pod, "command=id").to_string() + "\n";
        let (a, b) = text.split_at(text.len() / 2);
        stdin.write_all(a.as_bytes()).unwrap();
        stdin.flush().unwrap();
        assert!(
            rx.recv_timeout(Duration::from_millis(if i == 0 { 2000 } else { 300 }))
                .is_err(),
            "an alert before its event was complete"
        );
        stdin.write_all(b.as_bytes()).unwrap();
        stdin.flush().unwrap();
        let sent = Instant::now();
        let a = rx
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
        while rx.recv_timeout(Duration::from_millis(20)).is_ok() {}
    }
    drop(stdin);
    child.wait().unwrap();
    reader.join().unwrap();
}
