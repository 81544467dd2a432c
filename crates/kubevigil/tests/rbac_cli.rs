//! End-to-end tests of `kubevigil rbac` through the real binary: the who-can JSON contract,
//! exit codes, escapes of hostile names, and no Secret value in any output.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use serde_json::Value;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(b: &[u8]) -> String {
    String::from_utf8(b.to_vec()).unwrap()
}

fn examples() -> String {
    repo("examples/rbac").display().to_string()
}

#[test]
fn who_can_json_follows_the_contract() {
    let ex = examples();
    let o = run(
        &[
            "rbac",
            "who-can",
            "get",
            "secrets",
            "-n",
            "shop",
            "--name",
            "db-password",
            "-o",
            "json",
            &ex,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", text(&o.stderr));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
    assert_eq!(
        keys,
        [
            "verb",
            "resource",
            "group",
            "subresource",
            "namespace",
            "name",
            "subjects"
        ]
    );
    assert_eq!(v["verb"], "get");
    assert_eq!(v["resource"], "secrets");
    assert_eq!(v["group"], "");
    assert_eq!(v["subresource"], Value::Null);
    assert_eq!(v["namespace"], "shop");
    assert_eq!(v["name"], "db-password");
    let subjects = v["subjects"].as_array().unwrap();
    let api = subjects
        .iter()
        .find(|s| s["kind"] == "ServiceAccount" && s["name"] == "api")
        .expect("the api service account reads its secret");
    let keys: Vec<&str> = api
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys, ["kind", "name", "namespace", "namespaces", "via"]);
    assert_eq!(api["namespace"], "shop");
    assert_eq!(api["namespaces"], serde_json::json!(["shop"]));
    assert_eq!(
        api["via"],
        serde_json::json!([{
            "binding": {"kind": "RoleBinding", "namespace": "shop", "name": "api-db-secret"},
            "role": {"kind": "Role", "namespace": "shop", "name": "api-db-secret"},
            "rule": 0
        }])
    );
    // Users and groups have no "namespace" key; a ClusterRoleBinding grants everywhere.
    let alice = subjects.iter().find(|s| s["name"] == "alice").unwrap();
    assert!(alice.get("namespace").is_none());
    let ci = subjects.iter().find(|s| s["name"] == "ci").unwrap();
    assert_eq!(ci["namespaces"], serde_json::json!(["*"]));
    // Another secret's name: the resourceNames rule no longer grants.
    let o = run(
        &[
            "rbac", "who-can", "get", "secrets", "-n", "shop", "--name", "other", "-o", "json", &ex,
        ],
        None,
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert!(
        !v["subjects"]
            .as_array()
            .unwrap()
            .iter()
            .any(|s| s["name"] == "api")
    );
}

#[test]
fn who_can_any_namespace_and_non_resource_urls() {
    let ex = examples();
    let o = run(
        &[
            "rbac",
            "who-can",
            "create",
            "pods/exec",
            "-A",
            "-o",
            "json",
            &ex,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["namespace"], "*");
    assert_eq!(v["subresource"], "exec");
    let dev = v["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "dev")
        .unwrap();
    assert_eq!(dev["namespaces"], serde_json::json!(["shop"]));
    let o = run(
        &["rbac", "who-can", "get", "/metrics", "-o", "json", &ex],
        None,
    );
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(v["resource"], "/metrics");
    assert_eq!(v["group"], Value::Null);
    let names: Vec<&str> = v["subjects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["system:masters", "ci", "metrics-agent"]);
}

#[test]
fn can_answers_with_the_path_or_the_reason_and_exit_codes() {
    let ex = examples();
    let yes = run(
        &[
            "rbac",
            "can",
            "sa:shop/api",
            "get",
            "secrets",
            "-n",
            "shop",
            "--name",
            "db-password",
            &ex,
        ],
        None,
    );
    assert_eq!(yes.status.code(), Some(0));
    assert!(
        text(&yes.stdout)
            .contains("RoleBinding shop/api-db-secret → Role shop/api-db-secret rules[0]")
    );
    let no = run(
        &[
            "rbac",
            "can",
            "sa:shop/api",
            "list",
            "secrets",
            "-n",
            "shop",
            &ex,
        ],
        None,
    );
    assert_eq!(no.status.code(), Some(1));
    assert!(text(&no.stdout).starts_with("no: "));
    assert!(text(&no.stdout).contains(
        "RoleBinding shop/api-db-secret → Role shop/api-db-secret: grants no matching rule"
    ));
    assert!(text(&no.stdout).contains("rules[0] grants get on secrets, not list"));
    let other = run(
        &[
            "rbac",
            "can",
            "sa:shop/api",
            "get",
            "secrets",
            "-n",
            "shop",
            "--name",
            "other",
            &ex,
        ],
        None,
    );
    assert_eq!(other.status.code(), Some(1));
    assert!(
        text(&other.stdout)
            .contains("rules[0] grants get only for resourceNames db-password: not \"other\""),
        "{}",
        text(&other.stdout)
    );
    let bad = run(&["rbac", "can", "alice", "get", "pods", &ex], None);
    assert_eq!(bad.status.code(), Some(2));
    assert!(text(&bad.stderr).contains("expected user:NAME"));
    let masters = run(
        &[
            "rbac",
            "can",
            "group:system:masters",
            "delete",
            "nodes",
            &ex,
        ],
        None,
    );
    assert_eq!(masters.status.code(), Some(0));
}

#[test]
fn permissions_merge_and_secrets_list_readers_and_workloads() {
    let ex = examples();
    let o = run(
        &[
            "rbac",
            "permissions",
            "user:alice",
            "-n",
            "shop",
            "-o",
            "json",
            &ex,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let rules = v["rules"].as_array().unwrap();
    // edit's two rules on pods/exec... merged by their other fields: one row per resource set.
    let secrets_rows: Vec<&Value> = rules
        .iter()
        .filter(|r| {
            r["resources"]
                .as_array()
                .is_some_and(|a| a.iter().any(|x| x == "secrets"))
        })
        .collect();
    assert!(!secrets_rows.is_empty());
    assert!(
        rules
            .iter()
            .all(|r| r["namespace"] == "shop" || r["namespace"] == "*")
    );
    let o = run(&["rbac", "secrets", "-o", "json", &ex], None);
    assert_eq!(o.status.code(), Some(0));
    let v: Value = serde_json::from_slice(&o.stdout).unwrap();
    let db = v
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["name"] == "db-password")
        .unwrap();
    assert_eq!(db["workloads"][0]["name"], "api");
    assert_eq!(db["workloads"][0]["verbs"], serde_json::json!(["get"]));
}

const HOSTILE: &str = r#"
apiVersion: v1
kind: Secret
metadata: {name: "s\e]0;owned\a", namespace: "x\e[2J"}
data: {token: QUtJQUlPU0ZPRE5ON0VYQU1QTEU=}
stringData: {password: hunter2-super-secret}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: Role
metadata: {name: "r\e[31m", namespace: "x\e[2J"}
rules:
- {apiGroups: [""], resources: [secrets], verbs: [get]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: RoleBinding
metadata: {name: "b\u202e", namespace: "x\e[2J"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: Role, name: "r\e[31m"}
subjects:
- {kind: User, name: "u\e]0;x\a"}
- {kind: ServiceAccount, name: "sa\n"}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: "dangling\e[1m"}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: "missing\e[5m"}
subjects:
- {kind: User, name: "u\e]0;x\a"}
"#;

#[test]
fn hostile_names_are_escaped_and_secret_values_never_appear() {
    let ns = "x\u{1b}[2J";
    let cases: Vec<Vec<&str>> = vec![
        vec!["rbac", "who-can", "get", "secrets", "-n", ns, "-"],
        vec!["rbac", "who-can", "get", "secrets", "-A", "-o", "json", "-"],
        vec![
            "rbac",
            "can",
            "user:u\u{1b}]0;x\u{7}",
            "get",
            "secrets",
            "-n",
            ns,
            "-",
        ],
        vec![
            "rbac",
            "can",
            "user:u\u{1b}]0;x\u{7}",
            "list",
            "secrets",
            "-n",
            ns,
            "-",
        ],
        vec![
            "rbac",
            "can",
            "user:u\u{1b}]0;x\u{7}",
            "get",
            "secrets",
            "-n",
            ns,
            "-o",
            "json",
            "-",
        ],
        vec!["rbac", "permissions", "user:u\u{1b}]0;x\u{7}", "-"],
        vec![
            "rbac",
            "permissions",
            "user:u\u{1b}]0;x\u{7}",
            "-o",
            "json",
            "-",
        ],
        vec!["rbac", "secrets", "-"],
        vec!["rbac", "secrets", "-o", "json", "-"],
    ];
    for args in cases {
        let o = run(&args, Some(HOSTILE));
        let out = text(&o.stdout) + &text(&o.stderr);
        assert!(o.status.code().is_some_and(|c| c < 2), "{args:?}: {out}");
        assert!(!out.is_empty(), "{args:?}");
        for raw in ['\u{1b}', '\u{7}', '\u{202e}'] {
            assert!(!out.contains(raw), "{args:?} printed {raw:?} raw:\n{out}");
        }
        for secret in [
            "QUtJQUlPU0ZPRE5ON0VYQU1QTEU",
            "AKIAIOSFODNN7EXAMPLE",
            "hunter2",
        ] {
            assert!(!out.contains(secret), "{args:?} leaked a secret value");
        }
    }
}

#[test]
fn scan_findings_about_rbac_and_secrets_never_carry_secret_values() {
    let ex = examples();
    for format in ["table", "json", "sarif", "junit"] {
        let o = run(&["scan", "-o", format, &ex], None);
        assert_eq!(o.status.code(), Some(1), "{format}: {}", text(&o.stderr));
        let out = text(&o.stdout) + &text(&o.stderr);
        assert!(out.contains("rbac-cluster-admin-binding"), "{format}");
        // examples/rbac/shop-rbac.yaml: Secret shop/db-password, data.password.
        for value in ["c2hvcC1leGFtcGxlLW9ubHk", "shop-example-only"] {
            assert!(!out.contains(value), "{format} leaked the Secret's value");
        }
    }
}
