//! Hostile audit input: every audit command reads it with the same reader (same events
//! accepted, same located errors, same exit codes), and secret values never leave the process.

use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Command, Output};

use serde_json::{Value, json};

fn kubevigil(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(args)
        .output()
        .expect("run kubevigil")
}

fn stderr(out: &Output) -> String {
    String::from_utf8_lossy(&out.stderr).into_owned()
}

fn base(i: usize) -> Value {
    json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("e{i}"), "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/d/pods", "verb": "get",
        "user": {"username": "u", "groups": ["g"]}, "sourceIPs": ["192.0.2.1"],
        "objectRef": {"resource": "pods", "namespace": "d", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2024-05-01T10:00:00.000001Z",
        "stageTimestamp": "2024-05-01T10:00:00.000002Z"
    })
}

fn with(i: usize, key: &str, v: Value) -> String {
    let mut e = base(i);
    if v.is_null() {
        e.as_object_mut().unwrap().remove(key);
    } else {
        e[key] = v;
    }
    e.to_string()
}

/// The event with `"key": <raw JSON>` appended as its last member.
fn with_raw(i: usize, key: &str, raw: &str) -> String {
    let e = base(i).to_string();
    format!("{},\"{key}\":{raw}}}", &e[..e.len() - 1])
}

fn nested_arrays(n: usize) -> String {
    "[".repeat(n) + &"]".repeat(n)
}

fn nested_objects(n: usize) -> String {
    "{\"a\":".repeat(n) + "1" + &"}".repeat(n)
}

/// JSON lines of odd events: wrong types, missing fields, deep nesting, trailing garbage, ...
fn odd_corpus() -> String {
    let mut lines: Vec<String> = Vec::new();
    let wrong: Vec<(&str, Value)> = vec![
        ("verb", json!(5)),
        ("verb", Value::Null),
        ("user", json!("x")),
        ("user", json!([])),
        ("objectRef", json!("pods")),
        ("sourceIPs", json!("192.0.2.1")),
        ("sourceIPs", json!([1])),
        ("responseStatus", json!({"code": "403"})),
        ("responseStatus", json!({"code": 1.5})),
        ("responseStatus", json!({"code": 99_999_999_999u64})),
        ("stage", json!(1)),
        ("auditID", json!({})),
        ("auditID", Value::Null),
        ("kind", json!(5)),
        ("kind", json!("Pod")),
        ("kind", Value::Null),
        ("apiVersion", json!("v1")),
        ("annotations", json!([])),
        ("annotations", json!({"a": 1})),
        ("requestObject", json!(5)),
        ("requestReceivedTimestamp", json!(5)),
        ("level", json!(true)),
        ("user", json!({"username": 5})),
        ("user", json!({"groups": "g"})),
        ("objectRef", json!({"resource": 1})),
        ("stageTimestamp", json!("not a time")),
    ];
    for (k, v) in wrong {
        lines.push(with(lines.len(), k, v));
    }
    for n in [63, 64, 65, 66, 127, 128, 129, 130, 300, 2000] {
        lines.push(with_raw(lines.len(), "requestObject", &nested_arrays(n)));
    }
    for n in [65, 129, 500] {
        lines.push(with_raw(lines.len(), "unknownField", &nested_objects(n)));
        lines.push(with_raw(lines.len(), "responseObject", &nested_objects(n)));
    }
    let ok = base(900).to_string();
    lines.push("{}".into());
    lines.push(format!("{ok} trailing garbage"));
    lines.push(format!("{ok}}}"));
    lines.push(ok[..ok.len() - 7].to_string());
    lines.push("[1,2]".into());
    lines.push(r#"["audit.k8s.io/v1","Event"]"#.into());
    lines.push("\"str\"".into());
    lines.push(r#"{"auditID":"x","auditID":"y"}"#.into());
    lines.push("{\"verb\":\"get\u{1}\"}".into());
    lines.push(r#"{"\u0076erb":"get","auditID":"escaped-key"}"#.into());
    lines.push(
        r#"{"kind":"EventList","apiVersion":"audit.k8s.io/v1","items":[{"auditID":"l1"},{"auditID":"l2","verb":5}]}"#
            .into(),
    );
    lines.push(format!("   {ok}"));
    lines.push(format!("\u{feff}{ok}"));
    lines.push(format!("{ok}\r"));
    lines.join("\n") + "\n"
}

fn write(dir: &Path, name: &str, bytes: &[u8]) -> String {
    let p = dir.join(name);
    std::fs::write(&p, bytes).unwrap();
    p.display().to_string()
}

fn gzip(bytes: &[u8]) -> Vec<u8> {
    let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    enc.write_all(bytes).unwrap();
    enc.finish().unwrap()
}

/// `path:line:col: message` lines of stderr (the per-event errors), as a set.
fn located_errors(stderr: &str) -> BTreeSet<String> {
    stderr
        .lines()
        .filter_map(|l| l.strip_prefix("error: "))
        .map(str::to_string)
        .collect()
}

fn policy(dir: &Path) -> String {
    write(
        dir,
        "policy.yaml",
        b"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Metadata\n",
    )
}

fn simulate(dir: &Path, logs: &[&str]) -> (Output, Value) {
    let pol = policy(dir);
    let mut args = vec![
        "audit", "policy", "simulate", "--policy", &pol, "-o", "json",
    ];
    args.extend_from_slice(logs);
    let out = kubevigil(&args);
    let report = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
    (out, report)
}

/// Accepted events per `audit detect`'s summary line.
fn detect_events(stderr: &str) -> u64 {
    let line = stderr
        .lines()
        .find(|l| l.contains(" events, "))
        .unwrap_or_else(|| panic!("no summary line in {stderr}"));
    line.split(' ').next().unwrap().parse().unwrap()
}

#[test]
fn detect_and_simulate_accept_the_same_events_with_the_same_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let corpus = odd_corpus();
    let odd = write(dir.path(), "odd.log", corpus.as_bytes());
    // A gzip file cut short: the events before the cut are read, then a located error.
    let full = gzip(corpus.as_bytes());
    let cut = write(dir.path(), "cut.log.gz", &full[..full.len() * 2 / 3]);
    let logs = [odd.as_str(), cut.as_str()];

    let mut args = vec!["audit", "detect", "-o", "json", "--no-builtin", "--rules"];
    let rule = write(
        dir.path(),
        "any.yml",
        b"title: any\nid: any-1\nlogsource: {product: kubernetes, service: audit}\ndetection:\n  sel: {verb|exists: true}\n  condition: sel\nlevel: low\n",
    );
    args.push(&rule);
    args.extend_from_slice(&logs);
    let det = kubevigil(&args);
    let (sim, report) = simulate(dir.path(), &logs);
    let (det_err, sim_err) = (stderr(&det), stderr(&sim));

    assert_eq!(det.status.code(), Some(2), "{det_err}");
    assert_eq!(sim.status.code(), Some(2), "{sim_err}");
    let (de, se) = (located_errors(&det_err), located_errors(&sim_err));
    assert_eq!(de, se, "detect and simulate disagree on the errors");
    assert_eq!(
        detect_events(&det_err),
        report["totals"]["events"].as_u64().unwrap(),
        "detect and simulate disagree on the accepted events\n{det_err}"
    );
    // Every error is located: path:line:col: message.
    for e in &de {
        let mut parts = e.splitn(4, ':');
        let (file, line, col) = (parts.next(), parts.next(), parts.next());
        assert!(
            file.is_some_and(|f| f == odd || f == cut)
                && line.is_some_and(|l| l.parse::<u64>().is_ok_and(|l| l > 0))
                && col.is_some_and(|c| c.parse::<u64>().is_ok_and(|c| c > 0)),
            "not located: {e}"
        );
    }
    // Deep nesting is accepted whatever the depth (the API server accepted those objects);
    // the wrong types and broken JSON are not.
    for n in [66, 129, 2000] {
        let line = odd_corpus()
            .lines()
            .position(|l| l.contains(&nested_arrays(n)))
            .unwrap()
            + 1;
        assert!(
            !de.iter().any(|e| e.starts_with(&format!("{odd}:{line}:"))),
            "depth {n} rejected: {de:#?}"
        );
    }
    for expected in [
        format!("{odd}:1:"),
        format!("{odd}:15:1: not an audit event: kind \"Pod\""),
    ] {
        assert!(
            de.iter().any(|e| e.starts_with(&expected)),
            "{expected}: {de:#?}"
        );
    }
    assert!(
        de.iter()
            .any(|e| e.starts_with(&format!("{cut}:")) && e.contains("read error")),
        "{de:#?}"
    );
    assert_eq!(report["failedInputs"], 1);
}

#[test]
fn unreadable_gzip_exits_2_in_every_audit_command_and_the_rest_is_processed() {
    let dir = tempfile::tempdir().unwrap();
    let good = write(
        dir.path(),
        "good.log",
        (base(1).to_string() + "\n").as_bytes(),
    );
    let bad = write(
        dir.path(),
        "bad.log.gz",
        b"\x1f\x8b\x08\x00garbage, not deflate",
    );
    let (sim, report) = simulate(dir.path(), &[&bad, &good]);
    assert_eq!(sim.status.code(), Some(2), "{}", stderr(&sim));
    assert_eq!(report["totals"]["events"], 1);
    assert!(stderr(&sim).contains(&format!("error: {bad}:1:1: read error")));
    let det = kubevigil(&["audit", "detect", "--fail-on", "none", &bad, &good]);
    assert_eq!(det.status.code(), Some(2), "{}", stderr(&det));
    assert_eq!(detect_events(&stderr(&det)), 1);
    assert!(stderr(&det).contains(&format!("error: {bad}:1:1: read error")));
}

#[test]
fn a_log_starting_with_a_byte_order_mark_keeps_its_first_event() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("\u{feff}{}\n{}\n", base(1), base(2));
    let plain = write(dir.path(), "bom.log", text.as_bytes());
    let gz = write(dir.path(), "bom.log.gz", &gzip(text.as_bytes()));
    let pretty = write(
        dir.path(),
        "bom.json",
        format!(
            "\u{feff}[\n{},\n{}\n]\n",
            serde_json::to_string_pretty(&base(1)).unwrap(),
            base(2)
        )
        .as_bytes(),
    );
    for log in [&plain, &gz, &pretty] {
        let (sim, report) = simulate(dir.path(), &[log]);
        assert_eq!(sim.status.code(), Some(0), "{log}: {}", stderr(&sim));
        assert_eq!(report["totals"]["events"], 2, "{log}");
        let det = kubevigil(&["audit", "detect", "--fail-on", "none", log]);
        assert_eq!(det.status.code(), Some(0), "{log}: {}", stderr(&det));
        assert_eq!(detect_events(&stderr(&det)), 2, "{log}");
    }
}

/// A correlation grouped on a field holding secret data must not print it, in any format.
#[test]
fn secret_group_by_values_never_leave_the_process() {
    const PASSWORD: &str = "aHVudGVyMi1kby1ub3QtbGVhaw==";
    const BEARER: &str = "Bearer eyJhbGciOiJSUzI1NiJ9.do-not-leak";
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir(&rules).unwrap();
    std::fs::write(
        rules.join("secret_write.yml"),
        "title: secret written\nid: s-1\nname: secret_write\nlogsource: {product: kubernetes, service: audit}\n\
         detection:\n  sel: {objectRef.resource: secrets, verb: create}\n  condition: sel\nlevel: low\n",
    )
    .unwrap();
    for (id, field) in [
        ("c-1", "requestObject.data.password"),
        ("c-2", "annotations.Authorization"),
        ("c-3", "annotations.example.com/api-token"),
    ] {
        std::fs::write(
            rules.join(format!("{id}.yml")),
            format!(
                "title: same value {id}\nid: {id}\ncorrelation:\n  type: event_count\n  rules: [secret_write]\n  \
                 group-by: [{field}]\n  timespan: 1h\n  condition: {{gte: 2}}\nlevel: high\n"
            ),
        )
        .unwrap();
    }
    let events: String = (0..3)
        .map(|i| {
            let mut e = base(i);
            e["verb"] = "create".into();
            e["level"] = "RequestResponse".into();
            e["objectRef"] = json!({"resource": "secrets", "namespace": "d", "apiVersion": "v1"});
            e["requestURI"] = "/api/v1/namespaces/d/secrets".into();
            e["requestObject"] = json!({"kind": "Secret", "apiVersion": "v1",
                "metadata": {"name": format!("db{i}")}, "data": {"password": PASSWORD}});
            e["annotations"] = json!({"authorization.k8s.io/decision": "allow",
                "Authorization": BEARER, "example.com/api-token": PASSWORD});
            e.to_string() + "\n"
        })
        .collect();
    let log = write(dir.path(), "audit.log", events.as_bytes());
    let rules = rules.display().to_string();
    for format in ["table", "json"] {
        let out = kubevigil(&[
            "audit",
            "detect",
            "--no-builtin",
            "--rules",
            &rules,
            "-o",
            format,
            &log,
        ]);
        let (stdout, err) = (String::from_utf8_lossy(&out.stdout), stderr(&out));
        assert_eq!(out.status.code(), Some(1), "{format}: {err}");
        for id in ["c-1", "c-2", "c-3"] {
            assert!(
                stdout.contains(&format!("same value {id}")),
                "{format}: correlation {id} must fire\n{stdout}\n{err}"
            );
        }
        for secret in [PASSWORD, BEARER, "do-not-leak", "aHVudGVy"] {
            assert!(
                !stdout.contains(secret) && !err.contains(secret),
                "{format} leaks {secret}:\n{stdout}\n{err}"
            );
        }
        assert!(stdout.contains("<redacted:"), "{format}: {stdout}");
    }
}

/// A client chooses its requests' auditID (`Audit-ID` header): reusing one must not hide
/// requests from `audit detect`, while one request logged at several stages alerts once.
#[test]
fn a_reused_audit_id_hides_nothing_from_detect() {
    let dir = tempfile::tempdir().unwrap();
    let denied = |i: usize| {
        let mut e = base(i);
        e["auditID"] = "fixed".into();
        e["user"] = json!({"username": "mallory", "uid": "m"});
        e["requestURI"] = format!("/api/v1/namespaces/d/secrets/s{i}").into();
        e["objectRef"] = json!({"resource": "secrets", "namespace": "d", "name": format!("s{i}"), "apiVersion": "v1"});
        e["responseStatus"] = json!({"metadata": {}, "code": 403});
        let t = format!("2024-05-01T10:00:{:02}.{i:06}Z", i / 2);
        e["requestReceivedTimestamp"] = t.clone().into();
        e["stageTimestamp"] = t.into();
        e.to_string()
    };
    let mut lines: Vec<String> = (0..50).map(denied).collect();
    // Two days later, another user execs into a pod with the same id; the request is logged
    // at three stages.
    for stage in ["RequestReceived", "ResponseStarted", "ResponseComplete"] {
        let mut e = base(0);
        e["auditID"] = "fixed".into();
        e["stage"] = stage.into();
        e["verb"] = "create".into();
        e["user"] = json!({"username": "eve", "uid": "e"});
        e["requestURI"] = "/api/v1/namespaces/d/pods/web/exec?command=sh".into();
        e["objectRef"] = json!({"resource": "pods", "subresource": "exec", "namespace": "d", "name": "web", "apiVersion": "v1"});
        e["responseStatus"] = json!({"metadata": {}, "code": 101});
        e["requestReceivedTimestamp"] = "2024-05-03T10:00:00.000001Z".into();
        e["stageTimestamp"] = "2024-05-03T10:00:01.000000Z".into();
        lines.push(e.to_string());
    }
    let log = write(
        dir.path(),
        "audit.log",
        (lines.join("\n") + "\n").as_bytes(),
    );
    let out = kubevigil(&["audit", "detect", "-o", "json", &log]);
    assert_eq!(out.status.code(), Some(1), "{}", stderr(&out));
    let alerts: Vec<Value> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let count = |title: &str| alerts.iter().filter(|a| a["title"] == title).count();
    assert_eq!(count("Secret read attempt denied"), 50);
    assert!(count("Burst of denied API requests by one user") >= 1);
    assert_eq!(count("Command executed in a pod (exec)"), 1);
}
