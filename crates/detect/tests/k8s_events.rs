//! Kubernetes Events through the detector: every rule of the Events pack fires on the Events it
//! is about and stays quiet on look-alikes; the input forms; located errors.

mod support;
use support::names;

use std::path::PathBuf;

use kubevigil_detect::rules::{Events, RuleFiles};
use kubevigil_detect::{DetectionAlert, K8sEventSource};
use serde_json::{Value, json};

/// The registries the tests allow (`images.allowedRegistries`).
const ALLOWED: &str = "registry.example.com";

fn detect(files: &[PathBuf]) -> (Vec<DetectionAlert>, Vec<String>, u64) {
    let mut source = K8sEventSource::new(files);
    source.allowed_registries = vec![ALLOWED.to_string()];
    support::run(Events::K8sEvents, &mut source)
}

/// A core v1 Event about `kind/name` in `ns`, `second` seconds after 10:00 on `node`.
fn event(kind: &str, name: &str, reason: &str, message: &str, second: u32, node: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Event",
        "metadata": {"name": format!("{name}.{second}"), "namespace": "ns"},
        "involvedObject": {"kind": kind, "namespace": "ns", "name": name},
        "reason": reason, "type": "Warning", "message": message,
        "source": {"component": "kubelet", "host": node},
        "lastTimestamp": format!("2026-11-30T10:{:02}:{:02}Z", second / 60, second % 60),
    })
}

fn file(dir: &tempfile::TempDir, name: &str, events: &[Value]) -> PathBuf {
    let path = dir.path().join(name);
    let list = json!({"apiVersion": "v1", "kind": "List", "items": events});
    std::fs::write(&path, serde_json::to_string_pretty(&list).unwrap()).unwrap();
    path
}

fn evictions(n: u32, every: u32, nodes: &[&str]) -> Vec<Value> {
    (0..n)
        .map(|i| {
            event(
                "Pod",
                &format!("etl-{i}"),
                "Evicted",
                "The node was low on resource: memory.",
                i * every,
                nodes[i as usize % nodes.len()],
            )
        })
        .collect()
}

#[test]
fn every_rule_fires_on_its_events_and_stays_quiet_on_lookalikes() {
    let dir = tempfile::tempdir().unwrap();
    let psa = r#"Error creating: pods "x-1" is forbidden: violates PodSecurity "baseline:latest": host namespaces (hostNetwork=true)"#;
    let cases: Vec<(&str, Vec<Value>, Vec<Value>)> = vec![
        (
            "k8s_event_pod_security_rejected",
            vec![event("ReplicaSet", "x", "FailedCreate", psa, 0, "")],
            vec![
                event(
                    "ReplicaSet",
                    "x",
                    "FailedCreate",
                    r#"Error creating: pods "x-1" is forbidden: exceeded quota: compute, requested: cpu=2, used: cpu=8, limited: cpu=8"#,
                    0,
                    "",
                ),
                event(
                    "ReplicaSet",
                    "x",
                    "SuccessfulCreate",
                    "Created pod: x-1",
                    1,
                    "",
                ),
            ],
        ),
        (
            "k8s_event_secret_mount_failed",
            vec![event(
                "Pod",
                "p",
                "FailedMount",
                r#"MountVolume.SetUp failed for volume "db" : secret "db" not found"#,
                0,
                "n1",
            )],
            vec![
                event(
                    "Pod",
                    "p",
                    "FailedMount",
                    r#"MountVolume.SetUp failed for volume "cfg" : configmap "cfg" not found"#,
                    0,
                    "n1",
                ),
                event(
                    "Pod",
                    "p",
                    "FailedMount",
                    r#"Unable to attach or mount volumes: unmounted volumes=[data], unattached volumes=[data]: timed out waiting for the condition"#,
                    1,
                    "n1",
                ),
            ],
        ),
        (
            "k8s_event_image_pull_unknown_registry",
            vec![event(
                "Pod",
                "p",
                "Failed",
                r#"Failed to pull image "evil.example.net/tools/xmrig:6.21": failed to resolve reference "evil.example.net/tools/xmrig:6.21": not found"#,
                0,
                "n1",
            )],
            vec![
                // The allowed registry, a pull that worked, another failure.
                event(
                    "Pod",
                    "p",
                    "BackOff",
                    r#"Back-off pulling image "registry.example.com/shop/web:2.4.1""#,
                    0,
                    "n1",
                ),
                event(
                    "Pod",
                    "p",
                    "Pulled",
                    r#"Successfully pulled image "evil.example.net/x:1" in 1.2s"#,
                    1,
                    "n1",
                ),
                event("Pod", "p", "Failed", "Error: ImagePullBackOff", 2, "n1"),
            ],
        ),
        (
            "k8s_event_eviction_storm",
            evictions(10, 30, &["n2"]),
            // Nine on one node; twelve spread over three nodes; ten over an hour.
            [
                evictions(9, 30, &["n2"]),
                evictions(12, 20, &["a", "b", "c"]),
                evictions(10, 400, &["n4"]),
            ]
            .concat(),
        ),
    ];
    let mut covered = Vec::new();
    for (rule, fire, quiet) in cases {
        covered.push(rule);
        let (alerts, errors, _) = detect(&[file(&dir, &format!("{rule}-fire.json"), &fire)]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(names(&alerts), [rule]);
        let (alerts, errors, n) = detect(&[file(&dir, &format!("{rule}-quiet.json"), &quiet)]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(n, quiet.len() as u64);
        assert!(alerts.is_empty(), "{rule}: {:?}", names(&alerts));
    }
    let loaded = RuleFiles::read(&[])
        .unwrap()
        .for_events(Events::K8sEvents)
        .compile(true, &[]);
    for r in loaded.set.rules().iter().filter(|r| r.emits) {
        let name = r.meta.name.clone().unwrap_or_default();
        assert!(covered.contains(&name.as_str()), "no test case for {name}");
    }
}

#[test]
fn the_bundled_example_raises_its_three_alerts() {
    let example = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/events/events.json"
    ));
    let (alerts, errors, events) = detect(&[example]);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(events, 24);
    let got: Vec<(String, String, String)> = alerts
        .iter()
        .map(|a| {
            let or = &a.first_event()["objectRef"];
            (
                a.name().to_string(),
                or["resource"].as_str().unwrap().to_string(),
                format!(
                    "{}/{}",
                    or["namespace"].as_str().unwrap(),
                    or["name"].as_str().unwrap()
                ),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "k8s_event_pod_security_rejected".into(),
                "ReplicaSet".into(),
                "payments/netshoot-5b8c9d7f6".into()
            ),
            (
                "k8s_event_secret_mount_failed".into(),
                "Pod".into(),
                "shop/worker-5c8d7b9f4-k7m2p".into()
            ),
            (
                "k8s_event_eviction_storm".into(),
                "Pod".into(),
                "batch/etl-00-x7k2p".into()
            ),
        ]
    );
    assert_eq!(alerts[0].who(), "replicaset-controller");
    assert_eq!(alerts[1].who(), "kubelet on node-1");
    assert_eq!(
        alerts[2].group.as_deref(),
        Some(&[("node".to_string(), "node-2".to_string())][..])
    );
}

#[test]
fn watch_output_json_lines_events_v1_and_located_errors() {
    let dir = tempfile::tempdir().unwrap();
    let psa = r#"Error creating: pods "x-1" is forbidden: violates PodSecurity "restricted:latest": privileged"#;
    let core = event("ReplicaSet", "x", "FailedCreate", psa, 0, "");
    let v1 = json!({
        "apiVersion": "events.k8s.io/v1", "kind": "Event",
        "metadata": {"name": "y.1", "namespace": "ns"},
        "regarding": {"kind": "ReplicaSet", "namespace": "ns", "name": "y"},
        "reason": "FailedCreate", "type": "Warning", "note": psa,
        "reportingController": "replicaset-controller", "eventTime": "2026-11-30T10:00:05.000000Z"
    });
    // `kubectl get events -o json --watch`: pretty objects one after the other; then a
    // ConfigMap (not an Event), then JSON lines, then a broken object.
    let text = format!(
        "{}\n{}\n{{\"kind\":\"ConfigMap\",\"metadata\":{{}}}}\n{}\n{{\"kind\": \"Event\", \"reason\":\n",
        serde_json::to_string_pretty(&core).unwrap(),
        serde_json::to_string_pretty(&v1).unwrap(),
        serde_json::to_string(&core).unwrap(),
    );
    let f = dir.path().join("watch.json");
    std::fs::write(&f, &text).unwrap();
    let (alerts, errors, events) = detect(std::slice::from_ref(&f));
    assert_eq!(events, 3);
    // The two objects, y and x: one alert each (x's second Event folds into its first).
    assert_eq!(alerts.len(), 2);
    assert_eq!(alerts.iter().map(|a| a.count).sum::<u64>(), 3);
    let config_map_line = text.lines().position(|l| l.contains("ConfigMap")).unwrap() + 1;
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert_eq!(
        errors[0],
        format!("{}:{config_map_line}:1: not an Event", f.display())
    );
    assert!(
        errors[1].starts_with(&format!("{}:", f.display())),
        "{}",
        errors[1]
    );
    assert!(
        errors[1]
            .contains("invalid JSON: unexpected end of input; the rest of the input is not read"),
        "{}",
        errors[1]
    );
}

/// An object whose brackets balance but whose JSON is wrong is reported where it goes wrong
/// and skipped; the values after it are still read. A list's item that is not an Event is
/// reported with its index.
#[test]
fn a_bad_object_is_skipped_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let psa = r#"Error creating: pods "x-1" is forbidden: violates PodSecurity "restricted:latest": privileged"#;
    let good =
        serde_json::to_string(&event("ReplicaSet", "x", "FailedCreate", psa, 0, "")).unwrap();
    let list = json!({"kind": "List", "items": [{"kind": "Pod"}, event("ReplicaSet", "z", "FailedCreate", psa, 9, "")]});
    let text = format!("{{\"kind\": \"Event\", \"reason\" 5}}\n{good}\n{list}\n");
    let f = dir.path().join("bad.json");
    std::fs::write(&f, &text).unwrap();
    let (alerts, errors, events) = detect(std::slice::from_ref(&f));
    assert_eq!(events, 2);
    assert_eq!(alerts.len(), 2);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].starts_with(&format!("{}:1:28: invalid JSON: expected `:`", f.display())),
        "{}",
        errors[0]
    );
    assert_eq!(
        errors[1],
        format!("{}:3:1: item 0 of the list is not an Event", f.display())
    );
}

#[test]
fn image_pulls_are_judged_only_with_an_allow_list() {
    let dir = tempfile::tempdir().unwrap();
    let failed = event(
        "Pod",
        "p",
        "Failed",
        r#"Failed to pull image "nginx:latest": toomanyrequests"#,
        0,
        "n1",
    );
    let path = file(&dir, "pull.json", &[failed]);
    // docker.io is not allowed here.
    let (alerts, _, _) = detect(std::slice::from_ref(&path));
    assert_eq!(names(&alerts), ["k8s_event_image_pull_unknown_registry"]);
    let image = &alerts[0].first_event()["facts"]["event"]["image"];
    assert_eq!(image["registry"], "docker.io");
    assert_eq!(image["reference"], "nginx:latest");
    // Without an allow-list nothing is unknown.
    let (alerts, _, _) = support::run(Events::K8sEvents, &mut K8sEventSource::new([path]));
    assert!(alerts.is_empty(), "{:?}", names(&alerts));
}

#[test]
fn a_value_too_large_to_be_an_event_is_skipped_unparsed() {
    let dir = tempfile::tempdir().unwrap();
    let big = "x".repeat(kubevigil_detect::k8s_events::MAX_EVENT_BYTES + 1);
    let mut huge = event(
        "Pod",
        "p",
        "Evicted",
        "The node was low on resource: memory.",
        0,
        "n1",
    );
    huge["message"] = json!(big);
    let ok = event(
        "Pod",
        "q",
        "Evicted",
        "The node was low on resource: memory.",
        1,
        "n1",
    );
    // In a list, and alone.
    let path = file(&dir, "big.json", &[huge.clone(), ok.clone()]);
    let alone = dir.path().join("alone.json");
    std::fs::write(&alone, format!("{huge}\n{ok}\n")).unwrap();
    for (p, what) in [(path, "item 0 of the list"), (alone, "an object")] {
        let (_, errors, events) = detect(&[p]);
        assert_eq!(events, 1, "{errors:?}");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(
            errors[0].contains(&format!("{what} of "))
                && errors[0].contains("larger than an Event can be"),
            "{}",
            errors[0]
        );
    }
}
