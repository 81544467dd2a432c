//! Hubble flows through the detector: the NetworkPolicy model's answer for each kind of flow, the
//! rules firing and staying quiet, located errors.

mod support;
use support::names;

use std::path::PathBuf;

use kubevigil_detect::hubble::{Model, normalise};
use kubevigil_detect::rules::Events;
use kubevigil_detect::{DetectionAlert, HubbleSource};
use kubevigil_model::{Inventory, LoadOptions, load_paths};
use serde_json::{Value, json};

const HARDENED: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/hardened");

fn hardened() -> Inventory {
    load_paths(&[PathBuf::from(HARDENED)], &LoadOptions::default()).inventory
}

fn ep(pod: &str, labels: &[(&str, &str)]) -> Value {
    let labels: Vec<String> = labels.iter().map(|(k, v)| format!("k8s:{k}={v}")).collect();
    json!({"namespace": "shop", "pod_name": pod, "labels": labels})
}

fn web() -> Value {
    ep("web-1", &[("app", "web"), ("tier", "frontend")])
}
fn api() -> Value {
    ep("api-1", &[("app", "api"), ("tier", "backend")])
}
fn db() -> Value {
    ep(
        "db-0",
        &[("app", "db"), ("data-classification", "sensitive")],
    )
}

/// A TCP flow at `second` seconds after 10:00.
fn flow(verdict: &str, src: Value, dst: Value, port: u16, flags: Value, second: u32) -> Value {
    let mut f = json!({
        "time": format!("2026-11-30T10:{:02}:{:02}.000000000Z", second / 60, second % 60),
        "verdict": verdict,
        "IP": {"source": "10.0.1.21", "destination": "10.0.2.14", "ipVersion": "IPv4"},
        "l4": {"TCP": {"source_port": 40000 + second, "destination_port": port, "flags": flags}},
        "source": src, "destination": dst, "Type": "L3_L4", "node_name": "node-1",
        "traffic_direction": "EGRESS", "is_reply": false
    });
    if verdict == "DROPPED" {
        f["drop_reason_desc"] = json!("POLICY_DENIED");
    }
    json!({"flow": f, "node_name": "node-1", "time": f["time"]})
}

fn syn() -> Value {
    json!({"SYN": true})
}

fn judged(f: &Value) -> Value {
    let inv = hardened();
    let mut m = Model::new(&inv);
    m.judge(&normalise(f).unwrap())
}

#[test]
fn the_model_answers_for_new_connections_only() {
    assert_eq!(
        judged(&flow("FORWARDED", web(), api(), 8080, syn(), 0))["verdict"],
        "allowed"
    );
    let denied = judged(&flow("FORWARDED", web(), db(), 5432, syn(), 0));
    assert_eq!(denied["verdict"], "denied");
    assert_eq!(
        denied["ingressIsolatedBy"],
        json!(["shop/db", "shop/default-deny"])
    );
    assert_eq!(
        judged(&flow("FORWARDED", api(), db(), 5432, syn(), 0))["verdict"],
        "allowed"
    );
    // Not a question NetworkPolicy answers, or not one the manifests can.
    let mut reply = flow(
        "FORWARDED",
        db(),
        api(),
        40000,
        json!({"SYN": true, "ACK": true}),
        0,
    );
    reply["flow"]["is_reply"] = json!(true);
    for (f, why) in [
        (reply, "a reply"),
        (
            flow(
                "FORWARDED",
                web(),
                db(),
                5432,
                json!({"ACK": true, "PSH": true}),
                0,
            ),
            "not the first packet",
        ),
        (
            flow(
                "FORWARDED",
                web(),
                ep("cache-0", &[("app", "cache")]),
                6379,
                syn(),
                0,
            ),
            "not a workload of the manifests",
        ),
    ] {
        let j = judged(&f);
        assert_eq!(j["verdict"], "unknown", "{f}");
        assert!(j["reason"].as_str().unwrap().contains(why), "{j}");
    }
    // An address outside the cluster: api may reach 192.0.2.0/24 on 443, web may not.
    let mut out = flow(
        "FORWARDED",
        api(),
        json!({"labels": ["reserved:world"]}),
        443,
        syn(),
        0,
    );
    out["flow"]["IP"]["destination"] = json!("192.0.2.10");
    assert_eq!(judged(&out)["verdict"], "allowed");
    out["flow"]["source"] = web();
    assert_eq!(judged(&out)["verdict"], "denied");
}

fn detect(flows: &[Value], manifests: bool) -> (Vec<DetectionAlert>, Vec<String>, u64) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("flows.json");
    let lines: Vec<String> = flows.iter().map(Value::to_string).collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    let mut source = HubbleSource::new([path]);
    if manifests {
        source = source.with_manifests(hardened());
    }
    support::run(Events::Hubble, &mut source)
}

#[test]
fn the_rules_fire_on_their_flows_and_stay_quiet_otherwise() {
    let (alerts, errors, _) = detect(
        &[
            flow("FORWARDED", web(), api(), 8080, syn(), 0),
            flow("FORWARDED", web(), db(), 5432, syn(), 1),
            flow("DROPPED", api(), db(), 5432, syn(), 2),
        ],
        true,
    );
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        names(&alerts),
        [
            "hubble_dropped_policies_allow",
            "hubble_forwarded_policies_deny",
            "hubble_policy_drop"
        ]
    );
    // Without manifests the model says nothing: only the drop.
    let (alerts, _, _) = detect(
        &[
            flow("FORWARDED", web(), db(), 5432, syn(), 1),
            flow("DROPPED", api(), db(), 5432, syn(), 2),
        ],
        false,
    );
    assert_eq!(names(&alerts), ["hubble_policy_drop"]);
}

#[test]
fn scans_and_sweeps_need_ten_within_five_minutes() {
    let scan = |ports: u16, every: u32| -> Vec<String> {
        let flows: Vec<Value> = (0..ports)
            .map(|i| {
                flow(
                    "DROPPED",
                    web(),
                    db(),
                    1000 + i,
                    syn(),
                    u32::from(i) * every,
                )
            })
            .collect();
        names(&detect(&flows, false).0)
    };
    assert_eq!(scan(10, 20), ["hubble_policy_drop", "hubble_port_scan"]);
    assert_eq!(scan(9, 20), ["hubble_policy_drop"]);
    assert_eq!(scan(10, 40), ["hubble_policy_drop"]);
    // One port, many addresses.
    let flows: Vec<Value> = (0..10)
        .map(|i| {
            let mut f = flow(
                "DROPPED",
                web(),
                json!({"labels": ["reserved:world"]}),
                22,
                syn(),
                i,
            );
            f["flow"]["IP"]["destination"] = json!(format!("10.9.0.{i}"));
            f
        })
        .collect();
    assert_eq!(
        names(&detect(&flows, false).0),
        ["hubble_host_sweep", "hubble_policy_drop"]
    );
}

#[test]
fn what_is_not_a_flow_is_located_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("mixed.json");
    let good = flow("DROPPED", web(), db(), 5432, syn(), 0).to_string();
    std::fs::write(
        &path,
        format!(
            "{good}\nnot json\n{{\"flow\": {{\"verdict\": \"MAYBE\"}}}}\n{{\"kind\": \"Pod\"}}\n{}\n",
            json!({"flow": {"verdict": "DROPPED", "time": "noon"}})
        ),
    )
    .unwrap();
    let (alerts, errors, events) = support::run(Events::Hubble, &mut HubbleSource::new([path]));
    assert_eq!((events, alerts.len()), (1, 1));
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors[0].contains("mixed.json:2:2: invalid JSON"),
        "{}",
        errors[0]
    );
    assert!(
        errors[1].contains(":3:1: not a Hubble flow: unknown verdict \"MAYBE\""),
        "{}",
        errors[1]
    );
    assert!(
        errors[2].contains(":4:1: not a Hubble flow: no `flow`"),
        "{}",
        errors[2]
    );
    assert!(
        errors[3].contains(":5:1: not a Hubble flow: time \"noon\""),
        "{}",
        errors[3]
    );
}
