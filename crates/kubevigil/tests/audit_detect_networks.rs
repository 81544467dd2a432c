//! `kubevigil audit detect --ioc-file` and `--cluster-network`: indicator lists and the
//! cluster's networks reach the rules that use them (k8s_ioc_source_address,
//! k8s_system_identity_outside_cluster); bad list entries are located errors (exit 2) and the
//! rest of the list still applies.

use std::io::Write;
use std::process::{Command, Output, Stdio};

fn kubevigil(args: &[&str], stdin: &str) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
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

fn event(user: &str, ip: &str) -> String {
    format!(
        r#"{{"kind":"Event","apiVersion":"audit.k8s.io/v1","level":"Metadata","auditID":"a-{ip}","stage":"ResponseComplete","requestURI":"/api/v1/namespaces/default/pods","verb":"list","user":{{"username":"{user}"}},"sourceIPs":["{ip}"],"userAgent":"kubectl/v1.30.0","objectRef":{{"resource":"pods","namespace":"default","apiVersion":"v1"}},"responseStatus":{{"metadata":{{}},"code":200}},"requestReceivedTimestamp":"2024-05-01T10:00:00Z","stageTimestamp":"2024-05-01T10:00:00Z"}}"#
    )
}

fn rules_fired(out: &Output) -> Vec<String> {
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(|l| {
            let v: serde_json::Value = serde_json::from_str(l).unwrap();
            v["title"].as_str().unwrap().to_string()
        })
        .collect()
}

const IOC: &str = "Request from an address on an indicator list";
const OUTSIDE: &str = "System identity used from outside the cluster networks";

#[test]
fn indicator_list_from_a_file_with_a_bad_line() {
    let dir = tempfile::tempdir().unwrap();
    let list = dir.path().join("tor.txt");
    std::fs::write(
        &list,
        "# Tor exits\n185.220.101.0/24\nnot-an-ip\u{1b}]0;x\u{7}\n",
    )
    .unwrap();
    let input = [
        event("alice@example.com", "185.220.101.47"),
        event("alice@example.com", "198.51.100.1"),
    ]
    .join("\n");
    let out = kubevigil(
        &[
            "audit",
            "detect",
            "-o",
            "json",
            "--ioc-file",
            list.to_str().unwrap(),
            "-",
        ],
        &input,
    );
    assert_eq!(rules_fired(&out), [IOC]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        stderr.contains("tor.txt:3:1: not an IP address or CIDR range: not-an-ip\\e]0;x\\a"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'), "{stderr}");
    assert_eq!(out.status.code(), Some(2));
    // Without a list the rule matches nothing.
    let out = kubevigil(&["audit", "detect", "-o", "json", "-"], &input);
    assert_eq!(rules_fired(&out), Vec::<String>::new());
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn cluster_networks_replace_the_private_ranges() {
    let input = [
        event("system:node:worker-1", "10.0.0.5"),
        event("system:node:worker-1", "198.51.100.9"),
    ]
    .join("\n");
    let out = kubevigil(&["audit", "detect", "-o", "json", "-"], &input);
    assert_eq!(rules_fired(&out), [OUTSIDE]);
    // The nodes live in 198.51.100.0/24: now 10.0.0.5 is outside.
    let out = kubevigil(
        &[
            "audit",
            "detect",
            "-o",
            "json",
            "--cluster-network",
            "198.51.100.0/24",
            "-",
        ],
        &input,
    );
    let fired = rules_fired(&out);
    assert_eq!(fired, [OUTSIDE]);
    assert!(String::from_utf8_lossy(&out.stdout).contains("10.0.0.5"));
    let out = kubevigil(
        &["audit", "detect", "--cluster-network", "10.0.0.0/33", "-"],
        &input,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("10.0.0.0/33: not a CIDR range"));
}
