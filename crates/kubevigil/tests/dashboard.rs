//! The monitor's dashboard, served by the real binary over loopback: the pages from a history
//! seeded with findings and an alert about objects whose names carry markup and control
//! characters; the security headers; GET only; bearer and basic authentication; and every page
//! in headless Chromium (Debian's `chromium`, required: the test fails without it) with nothing
//! on the console, the filters changing the list, and screenshots under `CARGO_TARGET_TMPDIR`
//! (`dashboard-*.png`) for people to look at.

#[path = "support/chromium.rs"]
mod chromium;

use std::borrow::Cow;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use chromium::{chromium, console_lines};
use kubevigil_model::{Finding, Location, ObjectRef, Severity};
use kubevigil_store::{HistoryStore, Run, Scope, SqliteStore};

const HOUR: i64 = 3_600_000;
const HOSTILE: &str = "web<script>alert(1)</script>\u{1b}[2J\u{202e}";

fn finding(fp: &str, check: &'static str, severity: Severity, ns: &str, name: &str) -> Finding {
    Finding {
        check_id: Cow::Borrowed(check),
        severity,
        title: Cow::Borrowed("from the store"),
        message: format!("{name}: something to fix"),
        object: Arc::new(ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some(ns.into()),
            name: name.into(),
        }),
        location: Location::field_only("spec.template.spec.containers[0].image".into()),
        remediation: Cow::Borrowed(""),
        references: Cow::Borrowed(&[]),
        fingerprint: fp.into(),
    }
}

/// A day of history: five findings a day ago, one resolved six hours ago, one more two hours
/// ago; an exec alert ten minutes ago.
fn seed(state: &Path) {
    let now = kubevigil_store::now_ms();
    let mut store = SqliteStore::open_dir(state).unwrap();
    let all = Scope::everything();
    let base = vec![
        finding(
            "fp-1",
            "image-tag-latest",
            Severity::Medium,
            "shop",
            HOSTILE,
        ),
        finding(
            "fp-2",
            "env-literal-credential",
            Severity::Critical,
            "shop",
            "db",
        ),
        finding(
            "fp-3",
            "image-not-pinned-by-digest",
            Severity::Low,
            "shop",
            "db",
        ),
        finding(
            "fp-4",
            "image-tag-latest",
            Severity::Medium,
            "payments",
            "api",
        ),
        finding(
            "fp-5",
            "image-registry-not-allowed",
            Severity::High,
            "payments",
            "api",
        ),
    ];
    let mut later = base.clone();
    later.retain(|f| f.fingerprint != "fp-3");
    let mut last = later.clone();
    last.push(finding(
        "fp-6",
        "env-literal-credential",
        Severity::Critical,
        "payments",
        "worker",
    ));
    for (t, found) in [
        (now - 24 * HOUR, base),
        (now - 6 * HOUR, later),
        (now - 2 * HOUR, last),
    ] {
        store
            .record_run(&Run {
                time_ms: t,
                scope: &all,
                complete: true,
                findings: &found,
            })
            .unwrap();
    }
    let alert = kubevigil_detect::DetectionAlert {
        rule: "k8s-exec-into-pod".into(),
        title: "Exec into a pod".into(),
        dedup_key: "0123456789abcdef".repeat(4),
        first_seen: Some(now - HOUR / 6),
        last_seen: Some(now - HOUR / 6),
        count: 4,
        events: vec![serde_json::json!({
            "verb": "create",
            "user": {"username": "mallory"},
            "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "shop", "name": "db-1"}
        }).into()],
        ..Default::default()
    };
    store.record_alert(&alert, now).unwrap();
}

struct Running {
    child: Child,
    addr: String,
}

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn start(state: &Path, extra: &[&str]) -> Running {
    let cluster = if extra.contains(&"--kubeconfig") {
        None
    } else {
        Some("--no-cluster")
    };
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .arg("monitor")
        .args(cluster)
        .args(["--listen", "127.0.0.1:0", "--state-dir"])
        .arg(state)
        .args(extra)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let (mut line, mut said) = (String::new(), String::new());
    let addr = loop {
        line.clear();
        assert!(
            stderr.read_line(&mut line).unwrap() > 0,
            "monitor exited: {said}"
        );
        said.push_str(&line);
        if let Some(rest) = line.split("dashboard on http://").nth(1) {
            break rest.trim().trim_end_matches('/').to_string();
        }
    };
    std::thread::spawn(move || for _ in stderr.lines() {});
    Running { child, addr }
}

/// One request; (status, head, body).
fn get(addr: &str, method: &str, path: &str, authorization: Option<&str>) -> (u16, String, String) {
    let mut s = TcpStream::connect(addr).unwrap();
    s.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let auth = authorization.map_or(String::new(), |a| format!("Authorization: {a}\r\n"));
    write!(s, "{method} {path} HTTP/1.1\r\nHost: {addr}\r\n{auth}Content-Length: 0\r\nConnection: close\r\n\r\n").unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    let (head, body) = out.split_once("\r\n\r\n").unwrap_or((&out, ""));
    let status = head.split_whitespace().nth(1).unwrap().parse().unwrap();
    (status, head.to_ascii_lowercase(), body.to_string())
}

/// The rows of the findings list in a page or a DOM.
fn finding_rows(page: &str) -> Vec<&str> {
    let Some(start) = page.find("<table id=\"finding-list\">") else {
        return Vec::new();
    };
    let end = page[start..].find("</table>").unwrap() + start;
    page[start..end].split("<tr>").skip(2).collect()
}

#[test]
fn the_dashboard_pages_are_served_read_only_with_strict_headers() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let m = start(dir.path(), &[]);
    for path in [
        "/",
        "/findings",
        "/findings?status=all&q=db",
        "/findings/fp-2",
        "/alerts?days=1",
    ] {
        let (status, head, body) = get(&m.addr, "GET", path, None);
        assert_eq!(status, 200, "{path}: {head}");
        assert!(
            head.contains("content-type: text/html; charset=utf-8"),
            "{path}"
        );
        assert!(
            head.contains(&format!(
                "content-security-policy: {}",
                kubevigil_dashboard_csp()
            )),
            "{path}: {head}"
        );
        for h in [
            "x-content-type-options: nosniff",
            "referrer-policy: no-referrer",
            "x-frame-options: deny",
            "cache-control: no-store",
        ] {
            assert!(head.contains(h), "{path}: no {h}");
        }
        assert!(
            !body.contains("<script") && !body.contains('\u{1b}') && !body.contains('\u{202e}'),
            "{path}: raw input\n{body}"
        );
    }
    let (_, _, list) = get(&m.addr, "GET", "/findings", None);
    assert_eq!(finding_rows(&list).len(), 5, "{list}");
    assert!(
        list.contains("web&lt;script&gt;alert(1)&lt;/script&gt;\\e[2J\\u{202e}"),
        "{list}"
    );
    let (_, _, critical) = get(&m.addr, "GET", "/findings?severity=critical", None);
    assert_eq!(finding_rows(&critical).len(), 2);
    // The style sheet, and nothing that writes.
    let (status, head, css) = get(&m.addr, "GET", "/static/dashboard.css", None);
    assert_eq!(status, 200);
    assert!(head.contains("content-type: text/css") && css.contains("prefers-color-scheme:dark"));
    for method in ["POST", "PUT", "DELETE", "PATCH"] {
        assert_eq!(get(&m.addr, method, "/findings", None).0, 405, "{method}");
    }
    assert_eq!(
        get(&m.addr, "GET", "/findings?severity=urgent", None).0,
        400
    );
    assert_eq!(
        get(&m.addr, "GET", "/findings/no-such-finding", None).0,
        404
    );
    assert_eq!(get(&m.addr, "GET", "/admin", None).0, 404);
    // The monitor's own endpoints are still there.
    assert_eq!(get(&m.addr, "GET", "/healthz", None).0, 200);
}

fn kubevigil_dashboard_csp() -> String {
    "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'".to_ascii_lowercase()
}

#[test]
fn the_dashboard_asks_for_the_token_or_the_password_it_is_given() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let token = dir.path().join("token");
    std::fs::write(&token, "s3cret-token\n").unwrap();
    let m = start(
        dir.path(),
        &["--dashboard-token-file", token.to_str().unwrap()],
    );
    let (status, head, _) = get(&m.addr, "GET", "/", None);
    assert_eq!(status, 401);
    assert!(
        head.contains("www-authenticate: bearer realm=\"kubevigil\""),
        "{head}"
    );
    assert_eq!(get(&m.addr, "GET", "/", Some("Bearer wrong")).0, 401);
    assert_eq!(
        get(&m.addr, "GET", "/findings", Some("Bearer s3cret-token")).0,
        200
    );
    // Not the dashboard: Prometheus and the kubelet's probes need no token.
    assert_eq!(get(&m.addr, "GET", "/metrics", None).0, 200);
    assert_eq!(get(&m.addr, "GET", "/healthz", None).0, 200);
    drop(m);

    let basic = dir.path().join("basic");
    std::fs::write(&basic, "auditor:correct horse\n").unwrap();
    let m = start(
        dir.path(),
        &["--dashboard-basic-auth-file", basic.to_str().unwrap()],
    );
    let (status, head, _) = get(&m.addr, "GET", "/alerts", None);
    assert_eq!(status, 401);
    assert!(
        head.contains("www-authenticate: basic realm=\"kubevigil\""),
        "{head}"
    );
    let b64 = |s: &str| base64::engine::general_purpose::STANDARD.encode(s);
    assert_eq!(
        get(
            &m.addr,
            "GET",
            "/alerts",
            Some(&format!("Basic {}", b64("auditor:wrong")))
        )
        .0,
        401
    );
    assert_eq!(
        get(
            &m.addr,
            "GET",
            "/alerts",
            Some(&format!("Basic {}", b64("auditor:correct horse")))
        )
        .0,
        200
    );
    drop(m);

    // A file that cannot be a credential is refused at start.
    std::fs::write(&basic, "no-colon\n").unwrap();
    let out = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args([
            "monitor",
            "--no-cluster",
            "--listen",
            "127.0.0.1:0",
            "--state-dir",
        ])
        .arg(dir.path())
        .args(["--dashboard-basic-auth-file", basic.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("user:password"),
        "{out:?}"
    );
}

#[test]
fn the_dashboard_works_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let m = start(dir.path(), &[]);
    let url = |path: &str| format!("http://{}{path}", m.addr);
    let profile = |n: &str| dir.path().join(format!("profile-{n}"));
    // Every page loads with nothing on the console (a style sheet or a resource the policy
    // blocked would be logged there).
    let mut doms = Vec::new();
    for (i, path) in [
        "/",
        "/findings",
        "/findings?severity=critical",
        "/findings/fp-2",
        "/alerts",
    ]
    .iter()
    .enumerate()
    {
        let out = chromium(&profile(&i.to_string()), &["--dump-dom"], &url(path));
        assert!(out.status.success(), "{path}: {out:?}");
        assert_eq!(console_lines(&out.stderr), Vec::<String>::new(), "{path}");
        doms.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    // The filter changes the list: five open findings, two of them critical.
    assert_eq!(finding_rows(&doms[1]).len(), 5);
    let critical = finding_rows(&doms[2]);
    assert_eq!(critical.len(), 2);
    assert!(
        critical.iter().all(|r| r.contains("sev-critical")),
        "{critical:?}"
    );
    // The finding page shows the check's documentation.
    assert!(
        doms[3].contains("<pre id=\"documentation\">"),
        "{}",
        doms[3]
    );
    assert!(doms[3].contains("Credential in a literal environment variable"));
    // The overview draws the trend; the alerts page lists the alert with its count.
    assert!(doms[0].contains("<svg class=\"chart\" id=\"trend\""));
    // As the browser parsed it: each grid line closed, not the parent of what follows.
    let lines: Vec<&str> = doms[0].split("<line ").skip(1).collect();
    assert_eq!(lines.len(), 3);
    for l in lines {
        assert!(l.find("></line>").unwrap() < l.find('<').unwrap(), "{l}");
    }
    assert_eq!(doms[0].matches("<polyline ").count(), 5);
    assert!(doms[4].contains("Exec into a pod"));
    assert!(
        doms[4].contains("<code>create pods/exec shop/db-1</code>"),
        "{}",
        doms[4]
    );

    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    // The last in the system's dark theme (prefers-color-scheme: dark).
    for (name, path, size, theme) in [
        ("dashboard-overview.png", "/", "1280,1100", ""),
        ("dashboard-findings.png", "/findings", "1280,900", ""),
        ("dashboard-finding.png", "/findings/fp-2", "1280,1100", ""),
        ("dashboard-alerts.png", "/alerts", "1280,900", ""),
        ("dashboard-compliance.png", "/compliance", "1280,1100", ""),
        ("dashboard-overview-phone.png", "/", "390,1100", ""),
        (
            "dashboard-overview-dark.png",
            "/",
            "1280,1100",
            "--force-dark-mode",
        ),
    ] {
        let png = shots.join(name);
        let mut args = vec![
            format!("--window-size={size}"),
            format!("--screenshot={}", png.display()),
        ];
        if !theme.is_empty() {
            args.push(theme.to_string());
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let out = chromium(&profile(name), &args, &url(path));
        assert!(out.status.success(), "{name}: {out:?}");
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{name}"
        );
    }
}

/// The pages over the cluster's objects, with the monitor watching the test API server that
/// serves the hardened example application and its RBAC.
#[test]
fn the_cluster_pages_work_in_chromium() {
    let api = kubevigil_testapi::TestApi::start().unwrap();
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let loaded = kubevigil_model::load_paths(
        &[root.join("examples/hardened"), root.join("examples/rbac")],
        &kubevigil_model::LoadOptions::default(),
    );
    for o in loaded.inventory.objects {
        // Both directories declare the namespace.
        if let Err(e) = api.create(o.value) {
            assert!(format!("{e:?}").starts_with("Exists("), "{e:?}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "shop-prod").unwrap();
    let m = start(
        &dir.path().join("state"),
        &["--kubeconfig", kubeconfig.to_str().unwrap()],
    );
    // Until every kind is listed and the objects published.
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    loop {
        let (_, _, page) = get(&m.addr, "GET", "/network", None);
        if !page.contains("id=\"no-cluster\"") {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "the objects never showed: {page}"
        );
        std::thread::sleep(Duration::from_millis(200));
    }
    let url = |path: &str| format!("http://{}{path}", m.addr);
    let mut doms = Vec::new();
    for path in [
        "/pod-security",
        "/network",
        "/rbac",
        "/findings?status=suppressed",
    ] {
        let out = chromium(
            &dir.path().join(format!("p{}", doms.len())),
            &["--dump-dom"],
            &url(path),
        );
        assert!(out.status.success(), "{path}: {out:?}");
        assert_eq!(console_lines(&out.stderr), Vec::<String>::new(), "{path}");
        doms.push(String::from_utf8_lossy(&out.stdout).into_owned());
    }
    assert!(
        doms[0].contains("<table id=\"pod-security\">") && doms[0].contains("restricted:latest"),
        "{}",
        doms[0]
    );
    assert!(
        doms[1].contains("<svg class=\"chart map\" id=\"connectivity\""),
        "{}",
        doms[1]
    );
    assert!(doms[1].contains("<table id=\"isolation\">"));
    assert!(
        doms[2].contains("<table id=\"secret-readers\">"),
        "{}",
        doms[2]
    );
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (name, path) in [
        ("dashboard-pod-security.png", "/pod-security"),
        ("dashboard-network.png", "/network"),
        ("dashboard-rbac.png", "/rbac"),
    ] {
        let png = shots.join(name);
        let out = chromium(
            &dir.path().join(name),
            &[
                "--window-size=1280,1100",
                &format!("--screenshot={}", png.display()),
            ],
            &url(path),
        );
        assert!(out.status.success(), "{name}: {out:?}");
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{name}"
        );
    }
}
