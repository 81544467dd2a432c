//! End-to-end tests of `kubevigil scan` through the real binary.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kubevigil"))
}

fn data(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(p)
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

fn run_with_stdin(args: &[&str], stdin: &str) -> Output {
    let mut child = bin()
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    child.wait_with_output().unwrap()
}

#[test]
fn list_on_stdin_gets_findings_with_names_and_lines() {
    let list = "apiVersion: v1\nkind: List\nitems:\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: first\n    namespace: a\n  spec:\n    ports: [{port: 80}]\n- apiVersion: v1\n  kind: Service\n  metadata:\n    name: second\n    namespace: b\n  spec:\n    externalIPs:\n    - 192.0.2.1\n";
    let out = run_with_stdin(&["scan", "-o", "json", "-"], list);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let f: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["checkId"] == "service-external-ips")
        .collect();
    assert_eq!(f.len(), 1);
    assert_eq!(f[0]["object"]["name"], "second");
    assert_eq!(f[0]["location"]["file"], "<stdin>");
    assert_eq!(f[0]["location"]["line"], 17);
    assert_eq!(report["summary"]["objects"], 2);
}

#[test]
fn malformed_file_in_a_directory_reports_location_and_keeps_going() {
    let out = bin()
        .args(["scan", "-o", "json"])
        .arg(data("mixed"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let diags = report["diagnostics"].as_array().unwrap();
    let err = diags
        .iter()
        .find(|d| d["level"] == "error")
        .expect("an error diagnostic");
    assert!(err["file"].as_str().unwrap().ends_with("broken.yaml"));
    // The parser reports where it detects the unclosed `[` of line 12: at the end of that document.
    let line = err["line"].as_u64().unwrap();
    assert!((12..=14).contains(&line), "{err}");
    assert!(err["col"].as_u64().unwrap() > 0);
    let names: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["object"]["name"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"exposed"),
        "other files still scanned: {names:?}"
    );
    assert!(
        names.contains(&"after-the-error"),
        "later documents still scanned: {names:?}"
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(&format!("broken.yaml:{line}:")), "{stderr}");
}

#[test]
fn examples_insecure_has_findings_and_hardened_nothing_above_info() {
    let config = repo("examples/kubevigil.yaml");
    let out = bin()
        .args(["scan", "-o", "json", "--config"])
        .arg(&config)
        .arg(repo("examples/insecure"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(report["summary"]["findings"].as_u64().unwrap() >= 10);
    let out = bin()
        .args(["scan", "--fail-on", "low", "-o", "json", "--config"])
        .arg(&config)
        .arg(repo("examples/hardened"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let above_info: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["severity"] != "info")
        .collect();
    assert!(above_info.is_empty(), "{above_info:#?}");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn no_secret_value_appears_in_any_output_format() {
    let values: Vec<String> = std::fs::read_to_string(data("leaky/values.txt"))
        .unwrap()
        .lines()
        .filter(|l| !l.is_empty())
        .map(String::from)
        .collect();
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    for format in [
        "table",
        "json",
        "sarif",
        "junit",
        "policyreport",
        "openreports",
        "html",
    ] {
        let out = bin()
            .args([
                "scan",
                "--color",
                "always",
                "-o",
                format,
                "--baseline-write",
            ])
            .arg(&baseline)
            .arg(data("leaky"))
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(1),
            "{format}: credentials are findings"
        );
        let all = [
            out.stdout.clone(),
            out.stderr,
            std::fs::read(&baseline).unwrap(),
        ]
        .concat();
        let text = String::from_utf8_lossy(&all);
        for v in &values {
            assert!(!text.contains(v.as_str()), "{format} output leaks {v:?}");
        }
        if format == "json" {
            // Not skippable: the check must be registered and find every literal credential,
            // otherwise "no value leaks" would hold vacuously.
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let creds = report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .filter(|f| f["checkId"] == "env-literal-credential")
                .count();
            assert!(creds >= 7, "every literal credential is found ({creds})");
        }
    }
}

/// `--fail-on S` exits 1 when a finding has severity S or above (`>=`, not `>`), for every
/// pair of finding severity and threshold.
#[test]
fn fail_on_is_inclusive_at_every_severity() {
    const SEVERITIES: [&str; 5] = ["info", "low", "medium", "high", "critical"];
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("svc.yaml");
    std::fs::write(
        &manifest,
        "apiVersion: v1\nkind: Service\nmetadata: {name: s, namespace: a}\nspec:\n  externalIPs: [192.0.2.1]\n",
    )
    .unwrap();
    for (si, severity) in SEVERITIES.iter().enumerate() {
        let config = dir.path().join(format!("{severity}.yaml"));
        std::fs::write(
            &config,
            format!(
                "checks:\n  enable: [service-external-ips]\nseverity:\n  service-external-ips: {severity}\n"
            ),
        )
        .unwrap();
        for (ti, threshold) in SEVERITIES.iter().enumerate() {
            let out = bin()
                .args(["scan", "-o", "json", "--fail-on", threshold, "--config"])
                .arg(&config)
                .arg(&manifest)
                .output()
                .unwrap();
            let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
            let severities: Vec<&str> = report["findings"]
                .as_array()
                .unwrap()
                .iter()
                .map(|f| f["severity"].as_str().unwrap())
                .collect();
            assert_eq!(
                severities,
                [*severity],
                "one finding of the configured severity"
            );
            let want = if si >= ti { 1 } else { 0 };
            assert_eq!(
                out.status.code(),
                Some(want),
                "finding {severity}, --fail-on {threshold}: {}",
                String::from_utf8_lossy(&out.stderr)
            );
        }
    }
}

#[test]
fn baseline_hides_known_findings_and_counts_them() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("b.json");
    let first = bin()
        .args(["scan", "-o", "json", "--baseline-write"])
        .arg(&baseline)
        .arg(data("mixed/good.yaml"))
        .output()
        .unwrap();
    assert_eq!(first.status.code(), Some(1));
    let out = bin()
        .args(["scan", "-o", "json", "--baseline"])
        .arg(&baseline)
        .arg(data("mixed/good.yaml"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["summary"]["findings"], 0);
    assert!(report["summary"]["suppressed"].as_u64().unwrap() >= 1);
    assert_eq!(report["suppressed"][0]["by"], "baseline");
}

#[test]
fn annotation_suppresses_unless_strict() {
    let svc = "apiVersion: v1\nkind: Service\nmetadata:\n  name: s\n  annotations:\n    kubevigil.io/ignore: \"service-external-ips, other\"\n    kubevigil.io/ignore-reason: lab network\nspec:\n  externalIPs: [192.0.2.9]\n";
    let out = run_with_stdin(&["scan", "-o", "json", "-"], svc);
    assert_eq!(out.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["suppressed"][0]["by"], "annotation");
    assert_eq!(report["suppressed"][0]["reason"], "lab network");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("c.yaml");
    std::fs::write(&config, "strict: [service-external-ips]\n").unwrap();
    let out = run_with_stdin(
        &[
            "scan",
            "-o",
            "json",
            "--config",
            config.to_str().unwrap(),
            "-",
        ],
        svc,
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "strict checks cannot be suppressed by annotation"
    );
}

#[test]
fn checks_list_and_explain_read_the_registry() {
    let out = bin().args(["checks", "list"]).output().unwrap();
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.contains("image-tag-latest") && text.contains("service-external-ips"));
    let out = bin()
        .args(["checks", "explain", "image-tag-latest"])
        .output()
        .unwrap();
    assert!(
        String::from_utf8(out.stdout)
            .unwrap()
            .contains("**Why it matters.**")
    );
    let out = bin()
        .args(["checks", "explain", "no-such-check"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
}

#[test]
fn sarif_of_the_insecure_example_validates_and_junit_is_well_formed() {
    let schema: serde_json::Value = serde_json::from_str(include_str!(
        "../../report/tests/data/sarif-schema-2.1.0.json"
    ))
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let config = repo("examples/kubevigil.yaml");
    let out = bin()
        .args(["scan", "-o", "sarif", "--config"])
        .arg(&config)
        .arg(repo("examples/insecure"))
        .output()
        .unwrap();
    let sarif: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert!(!results.is_empty());
    assert!(
        results.iter().all(
            |r| r["locations"][0]["physicalLocation"]["region"]["startLine"].as_u64() >= Some(1)
        )
    );
    let rules = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap();
    assert!(
        rules.iter().any(|r| r["id"] == "pss-privileged")
            && rules.iter().any(|r| r["id"] == "image-tag-latest")
    );

    let out = bin()
        .args(["scan", "-o", "junit", "--config"])
        .arg(&config)
        .arg(repo("examples/insecure"))
        .output()
        .unwrap();
    let xml = String::from_utf8(out.stdout).unwrap();
    let mut reader = quick_xml::Reader::from_str(&xml);
    let mut testcases = 0;
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("malformed JUnit XML: {e}"))
        {
            quick_xml::events::Event::Eof => break,
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e)
                if e.name().as_ref() == b"testcase" =>
            {
                testcases += 1
            }
            _ => {}
        }
    }
    let objects = 11;
    assert_eq!(
        testcases,
        objects * rules.len(),
        "one testcase per object and check"
    );
}

#[test]
fn undecodable_pod_template_is_an_error_with_location_and_no_value() {
    let pod = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: x}\nspec:\n  containers:\n  - name: a\n    image: nginx:1.27\n    env:\n    - name: DB_PASSWORD\n      value: 31337424242\n";
    let out = run_with_stdin(&["scan", "-o", "json", "-"], pod);
    assert_eq!(out.status.code(), Some(2));
    let all = [out.stdout.clone(), out.stderr].concat();
    assert!(!String::from_utf8_lossy(&all).contains("31337424242"));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let d = &report["diagnostics"][0];
    assert_eq!(d["level"], "error");
    // At the field that does not decode, not at the pod spec (issue 13 point 5).
    assert_eq!(
        (d["line"].as_u64(), d["col"].as_u64()),
        (Some(10), Some(7)),
        "{d}"
    );
    let message = d["message"].as_str().unwrap();
    assert!(message.contains("spec.containers[0].env[0].value"), "{d}");
    assert!(message.contains("Pod Security not evaluated"), "{d}");
}
