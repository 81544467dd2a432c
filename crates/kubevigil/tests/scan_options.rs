//! `kubevigil scan` options that are CLI glue (default configuration file, colour decision,
//! file size limit, baseline writing, output errors): each test pins behaviour that a
//! deliberate bug in `cmd/scan.rs` would change (cargo-mutants survivors, issue 11).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn bin() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubevigil"));
    c.env_remove("NO_COLOR");
    c
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

const LATEST_POD: &str = "apiVersion: v1\nkind: Pod\nmetadata: {name: p, namespace: ns}\nspec:\n  containers:\n  - name: c\n    image: nginx:latest\n";

fn check_ids(report: &[u8]) -> BTreeSet<String> {
    let v: serde_json::Value = serde_json::from_slice(report).unwrap();
    v["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["checkId"].as_str().unwrap().to_string())
        .collect()
}

#[test]
fn default_config_is_read_from_the_working_directory() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pod.yaml"), LATEST_POD).unwrap();
    let scan = || {
        bin()
            .current_dir(dir.path())
            .args(["scan", "-o", "json", "pod.yaml"])
            .output()
            .unwrap()
    };
    let without = scan();
    assert!(
        check_ids(&without.stdout).contains("image-tag-latest"),
        "{}",
        stderr(&without)
    );
    std::fs::write(
        dir.path().join(".kubevigil.yaml"),
        "checks:\n  disable: [image-tag-latest]\n",
    )
    .unwrap();
    let with = scan();
    let ids = check_ids(&with.stdout);
    assert!(!ids.contains("image-tag-latest"), "config ignored: {ids:?}");
    assert!(!ids.is_empty(), "other checks still run");
}

fn has_ansi(bytes: &[u8]) -> bool {
    bytes.windows(2).any(|w| w == b"\x1b[")
}

#[test]
fn colour_only_when_asked_or_on_a_terminal() {
    let insecure = repo("examples/insecure");
    let insecure = insecure.to_str().unwrap();
    let run = |when: &str| {
        bin()
            .args(["scan", "--color", when, insecure])
            .stdout(Stdio::piped())
            .output()
            .unwrap()
    };
    assert!(has_ansi(&run("always").stdout));
    assert!(!has_ansi(&run("never").stdout));
    // stdout is a pipe here: auto means no colour.
    assert!(!has_ansi(&run("auto").stdout));
    let bad = run("sometimes");
    assert_eq!(bad.status.code(), Some(2));
    assert!(stderr(&bad).contains("--color must be auto, always or never"));
}

/// Runs `kubevigil scan` under a pseudo-terminal (util-linux `script`, in every Debian base
/// system), so that `--color auto` sees a terminal.
fn under_pty(extra_env: &[(&str, &str)], scan_args: &str) -> Vec<u8> {
    let cmd = format!(
        "{} scan {scan_args} {}",
        env!("CARGO_BIN_EXE_kubevigil"),
        repo("examples/insecure").display()
    );
    let mut c = Command::new("script");
    c.args(["-qec", &cmd, "/dev/null"]).env_remove("NO_COLOR");
    for (k, v) in extra_env {
        c.env(k, v);
    }
    let out = c
        .stdin(Stdio::null())
        .output()
        .expect("util-linux `script` is needed");
    out.stdout
}

#[test]
fn auto_colour_on_a_terminal_unless_no_color_or_a_file() {
    assert!(
        has_ansi(&under_pty(&[], "--color auto")),
        "a terminal gets colour"
    );
    assert!(
        !has_ansi(&under_pty(&[("NO_COLOR", "1")], "--color auto")),
        "NO_COLOR is honoured"
    );
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("report.txt");
    under_pty(
        &[],
        &format!("--color auto --output-file {}", file.display()),
    );
    let written = std::fs::read(&file).unwrap();
    assert!(written.len() > 100);
    assert!(!has_ansi(&written), "a report file never gets colour");
}

#[test]
fn max_file_size_is_applied() {
    let dir = tempfile::tempdir().unwrap();
    let pod = dir.path().join("pod.yaml");
    std::fs::write(&pod, LATEST_POD).unwrap();
    let out = bin()
        .args(["scan", "--max-file-size", "16", pod.to_str().unwrap()])
        .output()
        .unwrap();
    let report = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(2), "{report}");
    assert!(report.contains("over the 16 byte limit"), "{report}");
    let ok = bin()
        .args(["scan", "--max-file-size", "4096", pod.to_str().unwrap()])
        .output()
        .unwrap();
    assert_eq!(ok.status.code(), Some(1), "{}", stderr(&ok));
}

#[test]
fn baseline_records_each_distinct_fingerprint_once() {
    let dir = tempfile::tempdir().unwrap();
    let baseline = dir.path().join("baseline.json");
    let out = bin()
        .args(["scan", "-o", "json", "--baseline-write"])
        .arg(&baseline)
        .arg(repo("examples/insecure"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let mut expected: BTreeSet<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["fingerprint"].as_str().unwrap().to_string())
        .collect();
    for s in report["suppressed"].as_array().unwrap() {
        let fp = s["finding"]["fingerprint"]
            .as_str()
            .or(s["fingerprint"].as_str());
        expected.insert(fp.unwrap().to_string());
    }
    let file: serde_json::Value =
        serde_json::from_slice(&std::fs::read(&baseline).unwrap()).unwrap();
    let written: Vec<String> = file["fingerprints"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["fingerprint"].as_str().unwrap().to_string())
        .collect();
    assert!(expected.len() > 10);
    assert_eq!(
        written.len(),
        expected.len(),
        "one entry per distinct fingerprint"
    );
    assert_eq!(written.iter().cloned().collect::<BTreeSet<_>>(), expected);
}

#[test]
fn a_closed_pipe_is_not_an_error() {
    let mut child = bin()
        .args(["scan", "-o", "json"])
        .arg(repo("examples/insecure"))
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    drop(child.stdout.take()); // the reader goes away before anything is written
    let out = child.wait_with_output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "findings decide the exit code: {}",
        stderr(&out)
    );
    assert!(!stderr(&out).contains("cannot write"), "{}", stderr(&out));
}

#[test]
fn a_failed_write_is_an_error() {
    let out = bin()
        .args(["scan", "--output-file", "/dev/full"])
        .arg(repo("examples/insecure"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "{}", stderr(&out));
    assert!(
        stderr(&out).contains("cannot write the report"),
        "{}",
        stderr(&out)
    );
}

/// Issue 13: the docker socket, the host root and SYS_ADMIN are critical Pod Security findings
/// under the default configuration; a `severity:` override still has the last word, and the
/// fingerprints (baselines, suppressions) do not depend on severity.
#[test]
fn pod_security_findings_that_hand_over_the_node_are_critical() {
    const POD: &str = "apiVersion: v1
kind: Pod
metadata: {name: agent, namespace: ops}
spec:
  containers:
  - name: a
    image: registry.example.com/agent@sha256:0000000000000000000000000000000000000000000000000000000000000000
    securityContext:
      capabilities: {add: [SYS_ADMIN]}
  volumes:
  - {name: sock, hostPath: {path: /var/run/docker.sock}}
  - {name: root, hostPath: {path: /}}
";
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("pod.yaml"), POD).unwrap();
    let scan = |fail_on: &str| {
        bin()
            .current_dir(dir.path())
            .args(["scan", "-o", "json", "--fail-on", fail_on, "pod.yaml"])
            .output()
            .unwrap()
    };
    for fail_on in ["high", "critical"] {
        let out = scan(fail_on);
        assert_eq!(
            out.status.code(),
            Some(1),
            "--fail-on {fail_on}: {}",
            stderr(&out)
        );
    }
    let pss = |out: &Output| -> Vec<(String, String, String, String)> {
        let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["checkId"].as_str().unwrap().starts_with("pss-"))
            .map(|f| {
                let s = |k: &str| f[k].as_str().unwrap().to_string();
                (s("checkId"), s("severity"), s("message"), s("fingerprint"))
            })
            .collect()
    };
    let before = pss(&scan("critical"));
    let severity = |id: &str| {
        before
            .iter()
            .find(|f| f.0 == id)
            .map(|f| (f.1.as_str(), f.2.ends_with(" [breaks baseline]")))
    };
    assert_eq!(
        severity("pss-restrictedVolumes"),
        Some(("critical", true)),
        "{before:#?}"
    );
    assert_eq!(
        severity("pss-capabilities_restricted"),
        Some(("critical", true)),
        "{before:#?}"
    );
    assert_eq!(
        severity("pss-runAsNonRoot"),
        Some(("medium", false)),
        "{before:#?}"
    );

    std::fs::write(
        dir.path().join(".kubevigil.yaml"),
        "severity:\n  pss-restrictedVolumes: low\n  pss-capabilities_restricted: low\n",
    )
    .unwrap();
    let after = pss(&scan("critical"));
    assert!(
        after.iter().all(|f| f.1 != "critical"),
        "overrides ignored: {after:#?}"
    );
    let prints = |v: &[(String, String, String, String)]| -> Vec<(String, String)> {
        v.iter().map(|f| (f.0.clone(), f.3.clone())).collect()
    };
    assert_eq!(prints(&before), prints(&after));
}
