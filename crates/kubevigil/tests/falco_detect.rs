//! `kubevigil falco detect` (issue 19, point 2, offline): the README's command on the bundled
//! example, the alert JSON contract, redaction, stdin, exit codes.

const EXAMPLE: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/falco/falco.json"
);

#[path = "support/cli.rs"]
mod cli;
use cli::{json_lines as alerts, kubevigil};

#[test]
fn the_example_gives_its_alerts_in_the_contract() {
    let out = kubevigil(&["falco", "detect", "-o", "json", EXAMPLE], b"");
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let stdout = String::from_utf8(out.stdout.clone()).unwrap();
    // The password in the curl command's URL is in the input, never in the output.
    let example = std::fs::read_to_string(EXAMPLE).unwrap();
    let secret = ["Xq9vLm27Rt", "Kp4Wz"].concat();
    assert!(example.contains(&secret));
    assert!(!stdout.contains(&secret) && !stderr.contains(&secret));
    let alerts = alerts(out.stdout);
    let names: Vec<&str> = alerts.iter().map(|a| a["name"].as_str().unwrap()).collect();
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
        ]
    );
    let drop = &alerts[4];
    assert_eq!(drop["severity"], "critical");
    assert!(drop["tags"].as_array().unwrap().is_empty());
    assert_eq!(drop["action"]["resource"], "pods");
    assert_eq!(drop["action"]["namespace"], "shop");
    assert_eq!(drop["action"]["name"], "web-7d9f8b6c5d-x2x4q");
    let falco = &drop["facts"]["falco"];
    assert_eq!(falco["rule"], "Drop and execute new binary in container");
    assert_eq!(falco["priority"], "Critical");
    assert_eq!(
        falco["container"]["image"],
        "registry.example.com/shop/web:2.4.1"
    );
    assert_eq!(falco["process"]["parent"], "bash");
    assert_eq!(drop["time"], "2026-11-30T10:03:02.558Z");
    let curl = &alerts[2]["facts"]["falco"];
    assert!(
        curl["process"]["cmdline"]
            .as_str()
            .unwrap()
            .starts_with("<redacted: a connection string with a password"),
        "{curl}"
    );
    // The debugging session's two shells are one alert; the node's module is about the node.
    assert_eq!(alerts[5]["count"], 2);
    assert_eq!(alerts[6]["action"]["resource"], "nodes");
    assert_eq!(alerts[6]["action"]["name"], "ip-10-0-2-31");
    assert_eq!(alerts[3]["group"]["pod"], "web-7d9f8b6c5d-x2x4q");
    assert!(stderr.contains("7 events, 7 alerts"), "{stderr}");
    let out = kubevigil(&["falco", "detect", "--fail-on", "critical", EXAMPLE], b"");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn stdin_streams_and_a_bad_line_exits_2_with_the_rest_read() {
    let example = std::fs::read(EXAMPLE).unwrap();
    let mut input =
        b"Falco initialized \x1b[2J with configuration file /etc/falco/falco.yaml\n".to_vec();
    input.extend_from_slice(&example);
    let out = kubevigil(&["falco", "detect", "-o", "json", "-"], &input);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("-:1:1: invalid JSON"), "{stderr}");
    assert!(!stderr.contains('\u{1b}'));
    // A stream: the first occurrence alerts at once, the repeat is an update.
    let alerts = alerts(out.stdout);
    assert_eq!(alerts.len(), 8, "{alerts:?}");
    assert_eq!(alerts.iter().filter(|a| a["update"] == true).count(), 1);
}

#[test]
fn an_exec_in_the_audit_log_then_falco_in_the_pod_is_one_incident() {
    let audit = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/falco/audit.log"
    );
    let out = kubevigil(
        &["falco", "detect", "-o", "json", "--audit", audit, EXAMPLE],
        b"",
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let alerts = alerts(out.stdout);
    // The audit log's own alerts are not told; the incident follows the Falco alert that made it.
    assert_eq!(alerts.len(), 8);
    assert_eq!(alerts[0]["name"], "falco_priority_notice");
    let i = &alerts[1];
    assert_eq!(i["name"], "incident_exec_then_falco");
    assert_eq!(i["severity"], "high");
    assert_eq!(i["actor"]["username"], "jane@example.com");
    assert_eq!(i["action"]["verb"], "create");
    assert_eq!(i["action"]["subresource"], "exec");
    assert_eq!(i["facts"]["falco"]["rule"], "Terminal shell in container");
    assert_eq!(i["facts"]["exec"]["container"], "web");
    assert_eq!(i["firstSeen"], "2026-11-30T10:00:04.020Z");
    assert_eq!(i["lastSeen"], "2026-11-30T10:00:05.114Z");
    assert_eq!(i["events"].as_array().unwrap().len(), 2);
    assert!(stderr.contains("7 events, 8 alerts"), "{stderr}");
    // An unreadable audit log is an input error, and the Falco alerts are still read.
    let out = kubevigil(
        &[
            "falco",
            "detect",
            "-o",
            "json",
            "--audit",
            "/nonexistent.log",
            EXAMPLE,
        ],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(cli::json_lines(out.stdout).len(), 7);
}
