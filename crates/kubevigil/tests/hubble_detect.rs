//! `kubevigil hubble detect` (issue 19, point 5, offline): the README's commands on the bundled
//! flows and manifests, the alert JSON contract, stdin, exit codes.

const FLOWS: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../examples/hubble/flows.json"
);
const HARDENED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hardened");

#[path = "support/cli.rs"]
mod cli;
use cli::{json_lines as alerts, kubevigil};

#[test]
fn flows_against_the_manifests_give_their_alerts_in_the_contract() {
    let out = kubevigil(
        &[
            "hubble",
            "detect",
            "-o",
            "json",
            "--manifests",
            HARDENED,
            FLOWS,
        ],
        b"",
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let alerts = alerts(out.stdout);
    let names: Vec<&str> = alerts.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "hubble_policy_drop",
            "hubble_forwarded_policies_deny",
            "hubble_dropped_policies_allow",
            "hubble_policy_drop",
            "hubble_port_scan"
        ]
    );
    let gap = &alerts[1];
    assert_eq!(gap["severity"], "high");
    assert_eq!(gap["action"]["resource"], "pods");
    assert_eq!(gap["action"]["name"], "db-0");
    let flow = &gap["facts"]["flow"];
    assert_eq!(flow["verdict"], "FORWARDED");
    assert_eq!(flow["port"], 5432);
    assert_eq!(flow["node"], "node-3");
    assert_eq!(flow["source"]["workload"]["name"], "web");
    assert_eq!(flow["model"]["verdict"], "denied");
    let drift = &alerts[2]["facts"]["flow"];
    assert_eq!(drift["model"]["verdict"], "allowed");
    assert_eq!(drift["model"]["allowedBy"][0], "shop/api");
    assert_eq!(
        drift["deniedBy"][0],
        "CiliumClusterwideNetworkPolicy/lockdown"
    );
    // The drops of web toward db fold into one alert; the scan counts 10 ports.
    assert_eq!(alerts[0]["count"], 13);
    assert_eq!(alerts[4]["count"], 10);
    assert!(stderr.contains("17 events, 5 alerts"), "{stderr}");
}

#[test]
fn without_manifests_and_on_stdin() {
    let flows = std::fs::read(FLOWS).unwrap();
    let mut input = flows.clone();
    input.extend_from_slice(b"{\"flow\": {\"verdict\": \"\\u001b[2J\"}}\n");
    let out = kubevigil(&["hubble", "detect", "-o", "json", "-"], &input);
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("-:18:1: not a Hubble flow: unknown verdict"),
        "{stderr}"
    );
    assert!(!stderr.contains('\u{1b}'));
    let alerts = alerts(out.stdout);
    assert!(alerts.iter().all(|a| a["facts"]["flow"]["model"].is_null()));
    assert!(alerts.iter().any(|a| a["name"] == "hubble_port_scan"));
    assert!(
        !alerts
            .iter()
            .any(|a| a["name"] == "hubble_forwarded_policies_deny")
    );
}
