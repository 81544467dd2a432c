//! `kubevigil scan` on inputs that `kubectl apply -f` reads and that used to be skipped, and on a
//! directory holding a FIFO that used to hang the scan (issue 10, defect 7).

use std::path::Path;
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// Runs `kubevigil scan -o json PATH...`; fails (and kills it) when it does not finish.
fn scan(paths: &[&Path]) -> (Output, Value) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(["scan", "-o", "json"])
        .args(paths)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // Generous: a loaded 2-core machine must never make this flaky.
    let deadline = Instant::now() + Duration::from_secs(120);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            child.kill().unwrap();
            panic!("kubevigil scan {paths:?} hangs");
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "no JSON report ({e}): {}",
            String::from_utf8_lossy(&out.stderr)
        )
    });
    (out, report)
}

fn service(name: &str) -> String {
    format!(
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: prod\nspec:\n  externalIPs:\n  - 192.0.2.1\n"
    )
}

/// (object name, line, column) of every `service-external-ips` finding.
fn external_ip_findings(report: &Value) -> Vec<(String, u64, u64)> {
    let mut out: Vec<_> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["checkId"] == "service-external-ips")
        .map(|f| {
            (
                f["object"]["name"].as_str().unwrap().to_string(),
                f["location"]["line"].as_u64().unwrap(),
                f["location"]["col"].as_u64().unwrap(),
            )
        })
        .collect();
    out.sort();
    out
}

#[test]
fn json_objects_one_after_the_other_are_all_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let obj = |name: &str| {
        format!(
            r#"{{"apiVersion":"v1","kind":"Service","metadata":{{"name":"{name}","namespace":"prod"}},"spec":{{"externalIPs":["192.0.2.1"]}}}}"#
        )
    };
    let file = dir.path().join("stream.json");
    std::fs::write(&file, format!("{}\n{}{}\n", obj("a"), obj("b"), obj("c"))).unwrap();
    let (out, report) = scan(&[&file]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["summary"]["objects"], 3);
    let names: Vec<String> = external_ip_findings(&report)
        .into_iter()
        .map(|f| f.0)
        .collect();
    assert_eq!(names, ["a", "b", "c"]);
}

#[test]
fn a_document_starting_with_a_byte_order_mark_is_scanned() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bom.yaml");
    let text = format!("{}---\n\u{feff}{}", service("first"), service("second"));
    std::fs::write(&file, text).unwrap();
    let (out, report) = scan(&[&file]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["summary"]["objects"], 2, "{}", report["diagnostics"]);
    assert_eq!(external_ip_findings(&report).len(), 2);
}

#[test]
fn utf16_files_are_scanned_with_the_positions_of_their_text() {
    let dir = tempfile::tempdir().unwrap();
    let text = format!("# ünïcödé\n{}", service("wide"));
    let utf8 = dir.path().join("utf8.yaml");
    std::fs::write(&utf8, &text).unwrap();
    let (_, report) = scan(&[&utf8]);
    let want = external_ip_findings(&report);
    assert_eq!(want.len(), 1);
    for (name, bom, big_endian) in [
        ("le.yaml", [0xFF, 0xFE], false),
        ("be.yaml", [0xFE, 0xFF], true),
    ] {
        let file = dir.path().join(name);
        let mut bytes = bom.to_vec();
        for unit in text.encode_utf16() {
            bytes.extend(if big_endian {
                unit.to_be_bytes()
            } else {
                unit.to_le_bytes()
            });
        }
        std::fs::write(&file, bytes).unwrap();
        let (out, report) = scan(&[&file]);
        assert_eq!(out.status.code(), Some(1), "{}", report["diagnostics"]);
        assert_eq!(external_ip_findings(&report), want, "{name}");
    }
}

#[cfg(unix)]
#[test]
fn a_fifo_in_a_scanned_directory_is_skipped_with_a_note() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("svc.yaml"), service("real")).unwrap();
    let fifo = dir.path().join("pipe.yaml");
    let made = Command::new("mkfifo").arg(&fifo).status().expect("mkfifo");
    assert!(made.success());
    let (out, report) = scan(&[dir.path()]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["summary"]["objects"], 1);
    let note = report["diagnostics"]
        .as_array()
        .unwrap()
        .iter()
        .find(|d| d["file"].as_str().unwrap().ends_with("pipe.yaml"))
        .expect("a note about the FIFO");
    assert_eq!(note["level"], "note");
    assert!(
        note["message"]
            .as_str()
            .unwrap()
            .contains("not a regular file"),
        "{note}"
    );
}

#[cfg(unix)]
#[test]
fn a_pipe_named_explicitly_is_still_read() {
    use std::io::Write;
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(["scan", "-o", "json", "/dev/stdin"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(service("piped").as_bytes()).unwrap();
    drop(stdin);
    let out = child.wait_with_output().unwrap();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(1), "{}", report["diagnostics"]);
    assert_eq!(external_ip_findings(&report).len(), 1);
}
