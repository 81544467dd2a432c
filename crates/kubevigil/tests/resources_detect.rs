//! `kubevigil resources detect` (issue 19, point 3, offline): the README's command on the bundled
//! readings and objects, the alert JSON contract, bad input.

use serde_json::Value;

const DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/resources");

#[path = "support/cli.rs"]
mod cli;
use cli::kubevigil;

#[test]
fn the_example_gives_its_alerts_in_the_contract() {
    let objects = format!("{DIR}/cluster.yaml");
    let metrics = format!("{DIR}/metrics.json");
    let out = kubevigil(
        &[
            "resources",
            "detect",
            "-o",
            "json",
            "--objects",
            &objects,
            &metrics,
        ],
        b"",
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let alerts: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let hog = alerts
        .iter()
        .find(|a| a["name"] == "resource_hog" && a["action"]["name"] == "etl-0")
        .expect("the CPU hog");
    assert_eq!(hog["severity"], "medium");
    assert_eq!(hog["action"]["resource"], "pods");
    assert_eq!(hog["facts"]["resources"]["kind"], "cpu_hog");
    assert_eq!(hog["facts"]["resources"]["ratio"], 7.6);
    assert_eq!(hog["time"], "2026-11-30T10:05:00.000Z");
    let quota = alerts
        .iter()
        .find(|a| a["name"] == "resource_quota_near_limit")
        .unwrap();
    assert_eq!(quota["action"]["resource"], "resourcequotas");
    assert_eq!(quota["facts"]["resources"]["used"], "19");
    assert!(alerts.iter().any(|a| a["name"] == "resource_restart_surge"));
    assert!(stderr.contains("20 events, 11 alerts"), "{stderr}");
    // A shorter window tells the hog sooner; a broken reading is an input error.
    let out = kubevigil(
        &[
            "resources",
            "detect",
            "--objects",
            &objects,
            "--hog-window",
            "0",
            "-o",
            "json",
            &metrics,
        ],
        b"",
    );
    let first_hog: Value = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str::<Value>(l).unwrap())
        .find(|a| a["name"] == "resource_hog")
        .unwrap();
    assert_eq!(first_hog["time"], "2026-11-30T10:00:00.000Z");
    let out = kubevigil(
        &["resources", "detect", "--objects", &objects, "-"],
        b"{\"kind\": \"PodMetricsList\", \"items\": [{\"metadata\": {}}]}\n{\"items\": [",
    );
    let stderr = String::from_utf8_lossy(&out.stderr).to_string();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("not a PodMetrics with a timestamp"),
        "{stderr}"
    );
    assert!(stderr.contains("invalid JSON"), "{stderr}");
}
