//! `kubevigil audit policy simulate|lint|recommend` end to end, including the acceptance cases
//! of the audit issue: a corrupt line in the middle of a log, a policy recording secrets at
//! RequestResponse, and the recommended policy linting clean. No output may contain a secret.

use std::io::Write;
use std::process::{Command, Output, Stdio};

const BIN: &str = env!("CARGO_BIN_EXE_kubevigil");
const ROOT: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../..");
/// Secret values present in examples/audit/sample.log (a Secret's data, a TokenRequest token).
const SECRETS: &[&str] = &["aHVudGVyMg==", "eyJhbGciOiJSUzI1NiJ9", "hunter2"];

fn run(args: &[&str], stdin: Option<&[u8]>) -> Output {
    let mut child = Command::new(BIN)
        .args(args)
        .current_dir(ROOT)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    if let Some(data) = stdin {
        input.write_all(data).unwrap();
    }
    drop(input);
    child.wait_with_output().unwrap()
}

fn text(out: &Output) -> (String, String) {
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn assert_no_secret(s: &str) {
    for secret in SECRETS {
        assert!(!s.contains(secret), "output leaks {secret}:\n{s}");
    }
}

#[test]
fn simulate_corrupt_line_reported_rest_processed() {
    let out = run(
        &[
            "audit",
            "policy",
            "simulate",
            "--policy",
            "examples/audit/guide-policy.yaml",
            "-o",
            "json",
            "examples/audit/malformed.log",
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("examples/audit/malformed.log:2:204: invalid JSON"),
        "{stderr}"
    );
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(
        report["totals"]["events"], 2,
        "the events around the bad line"
    );
    assert_eq!(report["skippedEvents"], 1);
}

#[test]
fn simulate_sample_log() {
    let out = run(
        &[
            "audit",
            "policy",
            "simulate",
            "--policy",
            "examples/audit/guide-policy.yaml",
            "-o",
            "json",
            "examples/audit/sample.log",
        ],
        None,
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let report: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(report["totals"]["events"], 10);
    assert_eq!(report["skippedEvents"], 0);
    assert_eq!(
        report["rules"][0]["events"], 1,
        "the ConfigMap change in namespace sample"
    );
    assert_eq!(report["rulesNeverHit"][0]["line"], 19);
    assert_no_secret(&stdout);
    assert_no_secret(&stderr);
}

#[test]
fn simulate_table_per_request_and_gzip_never_leak() {
    let gz = {
        let mut enc = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        enc.write_all(&std::fs::read(format!("{ROOT}/examples/audit/sample.log")).unwrap())
            .unwrap();
        enc.finish().unwrap()
    };
    let out = run(
        &[
            "audit",
            "policy",
            "simulate",
            "--policy",
            "examples/audit/guide-policy.yaml",
            "--per-request",
            "-",
            "-",
        ],
        Some(&gz),
    );
    let (stdout, stderr) = text(&out);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    // Per-request lines on stdout, the table on stderr.
    assert_eq!(stdout.lines().count(), 8, "{stdout}");
    assert!(stderr.contains("Estimated log volume"), "{stderr}");
    assert_no_secret(&stdout);
    assert_no_secret(&stderr);
}

#[test]
fn lint_flags_secrets_with_line_in_every_format() {
    let policy = "crates/audit/tests/data/lint/secrets-at-requestresponse.yaml";
    for format in ["table", "json", "sarif", "junit"] {
        let out = run(&["audit", "policy", "lint", "-o", format, policy], None);
        let (stdout, _) = text(&out);
        assert_eq!(out.status.code(), Some(1), "{format}");
        assert!(
            stdout.contains("audit-policy-sensitive-bodies"),
            "{format}: {stdout}"
        );
    }
    let out = run(&["audit", "policy", "lint", "-o", "sarif", policy], None);
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    let secret = results
        .iter()
        .find(|r| {
            r["ruleId"] == "audit-policy-sensitive-bodies"
                && r["message"]["text"]
                    .as_str()
                    .unwrap()
                    .contains("Secret data")
        })
        .unwrap();
    assert_eq!(
        secret["locations"][0]["physicalLocation"]["region"]["startLine"],
        8
    );
}

#[test]
fn recommend_lints_clean() {
    let out = run(&["audit", "policy", "recommend"], None);
    assert_eq!(out.status.code(), Some(0));
    let lint = run(&["audit", "policy", "lint", "-"], Some(&out.stdout));
    let (stdout, stderr) = text(&lint);
    assert_eq!(lint.status.code(), Some(0), "{stdout}{stderr}");
}

#[test]
fn invalid_policy_is_an_error_with_position() {
    let policy = b"apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: Loud\n";
    let lint = run(&["audit", "policy", "lint", "-"], Some(policy));
    let (stdout, _) = text(&lint);
    assert_eq!(lint.status.code(), Some(2));
    assert!(stdout.contains("<stdin>:4:3"), "{stdout}");
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("p.yaml");
    std::fs::write(&path, policy).unwrap();
    let sim = run(
        &[
            "audit",
            "policy",
            "simulate",
            "--policy",
            path.to_str().unwrap(),
            "examples/audit/sample.log",
        ],
        None,
    );
    let (_, stderr) = text(&sim);
    assert_eq!(sim.status.code(), Some(2));
    assert!(
        stderr.contains("p.yaml:4:3: error: rules[0].level: Unsupported value"),
        "{stderr}"
    );
}
