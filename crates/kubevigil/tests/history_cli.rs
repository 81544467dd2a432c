//! `kubevigil history` on a state directory seeded through the store library: the JSON shape
//! (documented in the README), the filters, escaped tables, an empty state directory, and no
//! secret value in the store or its output.

use std::borrow::Cow;
use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;

use kubevigil_model::{Finding, Location, ObjectRef, Severity};
use kubevigil_store::{HistoryStore, Run, Scope, SqliteStore};
use serde_json::Value;

const HOUR: i64 = 3_600_000;

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kubevigil"))
}

fn history(state: &Path, args: &[&str]) -> Output {
    bin()
        .arg("history")
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .env_remove("KUBEVIGIL_LOG")
        .output()
        .unwrap()
}

fn finding(fp: &str, ns: &str, name: &str, message: &str) -> Finding {
    Finding {
        check_id: Cow::Borrowed("privileged-container"),
        severity: Severity::High,
        title: Cow::Borrowed("Privileged container"),
        message: message.into(),
        object: Arc::new(ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some(ns.into()),
            name: name.into(),
        }),
        location: Location::field_only("spec.template.spec.containers[0]".into()),
        remediation: Cow::Borrowed(""),
        references: Cow::Borrowed(&[]),
        fingerprint: fp.into(),
    }
}

/// Three hours ago: web and db in shop, api in other; two hours ago db resolved; 30 minutes ago
/// api resolved; an alert 10 minutes ago.
fn seed(state: &Path) {
    let now = kubevigil_store::now_ms();
    let mut store = SqliteStore::open_dir(state).unwrap();
    let all = Scope::everything();
    let web = finding("fp-web", "shop", "web", "container app is privileged");
    let db = finding("fp-db", "shop", "db", "container pg is privileged");
    let api = finding("fp-api", "other", "api", "container api is privileged");
    for (t, found) in [
        (now - 3 * HOUR, vec![web.clone(), db, api.clone()]),
        (now - 2 * HOUR, vec![web.clone(), api]),
        (now - HOUR / 2, vec![web]),
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
        count: 2,
        events: vec![
            serde_json::json!({
                "user": {"username": "mallory"},
                "objectRef": {"resource": "pods", "namespace": "shop", "name": "web-1"}
            })
            .into(),
        ],
        ..Default::default()
    };
    store.record_alert(&alert, now).unwrap();
}

fn json_of(out: &Output) -> Value {
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn changes(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            format!(
                "{} {}",
                f["change"].as_str().unwrap(),
                f["fingerprint"].as_str().unwrap()
            )
        })
        .collect()
}

#[test]
fn json_lists_what_appeared_and_what_was_resolved_in_the_documented_shape() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let report = json_of(&history(dir.path(), &["--since", "4h", "-o", "json"]));
    assert_eq!(
        changes(&report),
        [
            "new fp-web",
            "new fp-db",
            "new fp-api",
            "resolved fp-db",
            "resolved fp-api"
        ]
    );
    assert!(report["namespace"].is_null());
    kubevigil_model::time::parse_rfc3339_ms(report["since"].as_str().unwrap()).unwrap();
    // Every key the README documents, in that order.
    let f = &report["findings"][3];
    let keys: Vec<&str> = f.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "time",
            "change",
            "fingerprint",
            "checkId",
            "severity",
            "title",
            "message",
            "object",
            "fieldPath",
            "firstSeen",
            "lastSeen",
            "resolvedAt",
            "reopenedAt"
        ]
    );
    assert_eq!(f["object"]["kind"], "Deployment");
    assert_eq!(f["object"]["namespace"], "shop");
    assert_eq!(f["object"]["name"], "db");
    assert_eq!(f["severity"], "high");
    assert_eq!(f["resolvedAt"], f["time"]);
    assert!(f["reopenedAt"].is_null());
    let a = &report["alerts"][0];
    let keys: Vec<&str> = a.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "dedupKey",
            "rule",
            "title",
            "severity",
            "namespace",
            "subject",
            "count",
            "firstSeen",
            "lastSeen"
        ]
    );
    assert_eq!(a["dedupKey"], "0123456789abcdef");
    assert_eq!(a["count"], 2);
    assert_eq!(a["subject"], "mallory");
    assert_eq!(a["namespace"], "shop");
}

#[test]
fn since_and_namespace_filter() {
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    let report = json_of(&history(dir.path(), &["--since", "90m", "-o", "json"]));
    assert_eq!(changes(&report), ["resolved fp-api"]);
    assert_eq!(report["alerts"].as_array().unwrap().len(), 1);
    let report = json_of(&history(
        dir.path(),
        &["--since", "1d", "-n", "shop", "-o", "json"],
    ));
    assert_eq!(
        changes(&report),
        ["new fp-web", "new fp-db", "resolved fp-db"]
    );
    assert_eq!(report["namespace"], "shop");
    assert_eq!(report["alerts"].as_array().unwrap().len(), 1);
    let report = json_of(&history(
        dir.path(),
        &["--since", "1d", "--namespace", "other", "-o", "json"],
    ));
    assert_eq!(changes(&report), ["new fp-api", "resolved fp-api"]);
    assert_eq!(report["alerts"].as_array().unwrap().len(), 0);
    let report = json_of(&history(dir.path(), &["--since", "5m", "-o", "json"]));
    assert!(report["findings"].as_array().unwrap().is_empty());
    assert!(report["alerts"].as_array().unwrap().is_empty());
}

#[test]
fn the_table_shows_each_change_and_escapes_stored_text() {
    let dir = tempfile::tempdir().unwrap();
    let hostile = "e\u{1b}]0;owned\u{7}\u{1b}[2J";
    {
        let mut store = SqliteStore::open_dir(dir.path()).unwrap();
        let found = [finding(
            "fp-x",
            "shop\u{202e}",
            hostile,
            "line one\rforged\nrow\u{9b}",
        )];
        store
            .record_run(&Run {
                time_ms: kubevigil_store::now_ms(),
                scope: &Scope::everything(),
                complete: true,
                findings: &found,
            })
            .unwrap();
    }
    let out = history(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(
        !text.contains('\u{1b}') && !text.contains('\r') && !text.contains('\u{202e}'),
        "{text:?}"
    );
    assert!(
        text.contains("Deployment shop\\u{202e}/e\\e]0;owned\\a\\e[2J"),
        "{text}"
    );
    assert!(text.contains("line one\\rforged\\nrow\\u{9b}"), "{text}");
    let rows: Vec<&str> = text
        .lines()
        .filter(|l| l.contains("privileged-container"))
        .collect();
    assert_eq!(rows.len(), 1, "one line per change: {text}");
    assert!(rows[0].contains("  new  "), "{text}");
    assert!(text.contains("Alerts last seen since"), "{text}");
    // The JSON keeps the exact text, with the controls serde_json leaves raw (bidi, C1, DEL)
    // escaped as in every JSON output.
    let out = history(dir.path(), &["-o", "json"]);
    let raw = String::from_utf8(out.stdout.clone()).unwrap();
    assert!(
        !raw.contains('\u{202e}') && !raw.contains('\u{9b}'),
        "{raw}"
    );
    let report = json_of(&out);
    assert_eq!(report["findings"][0]["object"]["name"], hostile);
    assert_eq!(report["findings"][0]["object"]["namespace"], "shop\u{202e}");
    assert_eq!(
        report["findings"][0]["message"],
        "line one\rforged\nrow\u{9b}"
    );
}

#[test]
fn a_missing_state_directory_is_an_empty_history_and_is_not_created() {
    let dir = tempfile::tempdir().unwrap();
    let state = dir.path().join("never-written");
    let out = history(&state, &["-o", "json"]);
    let report = json_of(&out);
    assert!(report["findings"].as_array().unwrap().is_empty());
    assert!(report["alerts"].as_array().unwrap().is_empty());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no history"));
    assert!(!state.exists());
    let out = history(&state, &[]);
    assert_eq!(out.status.code(), Some(0));
    assert!(String::from_utf8_lossy(&out.stdout).contains("(none)"));
}

#[test]
fn the_default_state_directory_follows_xdg_state_home() {
    let dir = tempfile::tempdir().unwrap();
    seed(&dir.path().join("kubevigil"));
    let out = bin()
        .args(["history", "-o", "json", "--since", "4h"])
        .env("XDG_STATE_HOME", dir.path())
        .output()
        .unwrap();
    assert_eq!(json_of(&out)["findings"].as_array().unwrap().len(), 5);
}

#[test]
fn a_file_that_is_not_a_history_database_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("history.db"), [b'x'; 4096]).unwrap();
    let out = history(dir.path(), &[]);
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("history.db") && err.contains("not a database"),
        "{err}"
    );
}

#[test]
fn bad_arguments_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--since", "yesterday"][..],
        &["--since", "0h"],
        &["-o", "yaml"],
    ] {
        let out = history(dir.path(), args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
    }
}

/// An audit event creating a Secret with its data in the request body (as in the detect
/// crate's pipeline test).
const SECRET_CREATE: &str = r#"{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"RequestResponse","auditID":"a1","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/secrets","verb":"create","user":{"username":"mallory"},"sourceIPs":["203.0.113.7"],"objectRef":{"resource":"secrets","namespace":"default","name":"db","apiVersion":"v1"},"responseStatus":{"metadata":{},"code":201},"requestObject":{"kind":"Secret","type":"kubernetes.io/service-account-token","data":{"password":"c3VwZXJzZWNyZXQ="},"stringData":{"token":"plain-token-value"}},"requestReceivedTimestamp":"2024-05-01T10:00:00.000000Z","stageTimestamp":"2024-05-01T10:00:00.250000Z"}"#;

/// The alerts the built-in rules raise on `SECRET_CREATE`.
fn secret_alerts(dir: &Path) -> Vec<kubevigil_detect::DetectionAlert> {
    let log = dir.join("audit.log");
    std::fs::write(&log, format!("{SECRET_CREATE}\n")).unwrap();
    let rules = kubevigil_detect::rules::RuleFiles::read(&[])
        .unwrap()
        .compile(true, &[]);
    let mut alerts = Vec::new();
    kubevigil_detect::Detector::new(Arc::new(rules.set))
        .run(
            &mut kubevigil_detect::AuditLogSource::new([&log]),
            |a| -> Result<(), ()> {
                alerts.push(a.clone());
                Ok(())
            },
            |e| panic!("{e}"),
        )
        .unwrap();
    assert!(!alerts.is_empty());
    alerts
}

/// The findings of a scan of manifests full of credentials and the alerts on an audit event
/// carrying Secret data, recorded in the store: no value reaches the database files or
/// `history` in any format.
#[test]
fn no_secret_value_reaches_the_store_or_its_output() {
    let data = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/leaky");
    let mut values: Vec<String> = std::fs::read_to_string(format!("{data}/values.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    values.extend([
        "c3VwZXJzZWNyZXQ=".into(),
        "plain-token-value".into(),
        "supersecret".into(),
    ]);
    let scan = kubevigil_checks::scan_paths(
        &[data],
        &kubevigil_model::LoadOptions::default(),
        &kubevigil_checks::Config::default(),
        None,
    );
    let findings = scan.outcome.findings;
    // Not vacuous: the credentials are found (as in scan_cli's test of the same data).
    assert!(
        findings
            .iter()
            .filter(|f| f.check_id == "env-literal-credential")
            .count()
            >= 7,
        "{findings:#?}"
    );
    let dir = tempfile::tempdir().unwrap();
    let logs = tempfile::tempdir().unwrap();
    let alerts = secret_alerts(logs.path());
    {
        let mut store = SqliteStore::open_dir(dir.path()).unwrap();
        for a in &alerts {
            store.record_alert(a, 0).unwrap();
        }
        let t = store
            .record_run(&Run {
                time_ms: kubevigil_store::now_ms(),
                scope: &Scope::everything(),
                complete: true,
                findings: &findings,
            })
            .unwrap();
        assert_eq!(t.new.len(), findings.len());
    }
    let mut all = Vec::new();
    for format in ["table", "json"] {
        // The audit event is from 2024: a window that holds it.
        let out = history(dir.path(), &["-o", format, "--since", "10000d"]);
        assert_eq!(out.status.code(), Some(0));
        all.extend(out.stdout);
        all.extend(out.stderr);
    }
    // The database and whatever WAL or journal files are beside it.
    for entry in std::fs::read_dir(dir.path()).unwrap() {
        all.extend(std::fs::read(entry.unwrap().path()).unwrap());
    }
    let text = String::from_utf8_lossy(&all);
    assert!(
        text.contains("env-literal-credential"),
        "the findings are stored"
    );
    assert!(
        text.contains(alerts[0].rule.as_str()),
        "the alerts are stored and listed"
    );
    for v in &values {
        assert!(!text.contains(v.as_str()), "the history leaks {v:?}");
    }
}
