//! `kubevigil events detect` (issue 19, point 4, offline): the README's commands on the bundled
//! example, the alert JSON contract, stdin, exit codes.

use serde_json::Value;

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/events/events.json"
);

#[path = "support/cli.rs"]
mod cli;
use cli::kubevigil;

#[test]
fn the_example_gives_three_alerts_in_the_contract() {
    let out = kubevigil(&["events", "detect", "-o", "json", EXAMPLE], b"");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let alerts: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = alerts.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "k8s_event_pod_security_rejected",
            "k8s_event_secret_mount_failed",
            "k8s_event_eviction_storm"
        ]
    );
    let psa = &alerts[0];
    assert_eq!(psa["action"]["resource"], "ReplicaSet");
    assert_eq!(psa["action"]["namespace"], "payments");
    assert_eq!(psa["facts"]["event"]["reason"], "FailedCreate");
    assert_eq!(psa["facts"]["event"]["count"], 7);
    assert_eq!(psa["time"], "2026-11-30T10:03:12.000Z");
    assert_eq!(alerts[2]["group"]["node"], "node-2");
    assert_eq!(alerts[2]["count"], 10);
    assert!(stderr.contains("24 events, 3 alerts"), "{stderr}");
    // Nothing above medium.
    let out = kubevigil(&["events", "detect", "--fail-on", "high", EXAMPLE], b"");
    assert_eq!(out.status.code(), Some(0));
}

#[test]
fn stdin_and_a_broken_input_exit_2_with_the_rest_read() {
    let example = std::fs::read(EXAMPLE).unwrap();
    let mut input = example.clone();
    input.extend_from_slice(b"\n{\"kind\": \"Event\", \"reason\": \x1b[31m");
    let out = kubevigil(&["events", "detect", "-o", "json", "-"], &input);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert_eq!(String::from_utf8(out.stdout).unwrap().lines().count(), 3);
    assert!(stderr.contains("-:"), "{stderr}");
    assert!(stderr.contains("invalid JSON"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'));
}
