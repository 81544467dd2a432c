//! Resource abuse: hogging needs the whole window, dips start it over, requests and nodes are
//! read as Kubernetes writes quantities; OOM kills and crash loops are told once per restart;
//! the rules over the bundled example.

mod support;
use support::names;

use std::path::PathBuf;

use kubevigil_detect::resources::{Evaluator, Reading, ResourcesSource};
use kubevigil_detect::rules::Events;
use serde_json::{Value, json};

const MIN: i64 = 60_000;
const T0: i64 = 1_764_496_800_000;

fn pod(name: &str, cpu_request: Option<&str>, node: &str) -> Value {
    let resources = match cpu_request {
        Some(r) => json!({"requests": {"cpu": r}}),
        None => json!({}),
    };
    json!({"metadata": {"name": name, "namespace": "shop"},
        "spec": {"nodeName": node, "containers": [{"name": "app", "resources": resources}]},
        "status": {"phase": "Running"}})
}

fn usage(name: &str, cpu: &str, memory: &str) -> Value {
    json!({"metadata": {"name": name, "namespace": "shop"},
        "containers": [{"name": "app", "usage": {"cpu": cpu, "memory": memory}}]})
}

fn kinds(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .map(|e| {
            format!(
                "{} {}",
                e["kind"].as_str().unwrap(),
                e["pod"].as_str().unwrap_or("")
            )
        })
        .collect()
}

#[test]
fn hogging_is_told_once_it_lasted_the_window() {
    let pods = [pod("etl", Some("250m"), "n1"), pod("free", None, "n1")];
    let node = json!({"metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "4", "memory": "16Gi"}}});
    let mut e = Evaluator::default();
    let mut read = |minute: i64, etl_cpu: &str| {
        let m = [usage("etl", etl_cpu, "100Mi"), usage("free", "3", "1Gi")];
        e.observe(&Reading {
            now_ms: T0 + minute * MIN,
            pods: pods.iter().collect(),
            nodes: vec![&node],
            quotas: vec![],
            pod_metrics: m.iter().collect(),
            hpas: vec![],
        })
    };
    // 1 core is 4x a 250m request: from minute 0.
    for minute in 0..5 {
        assert!(kinds(&read(minute, "1")).is_empty(), "minute {minute}");
    }
    let told = read(5, "1");
    assert_eq!(kinds(&told), ["cpu_hog etl"]);
    assert_eq!(told[0]["ratio"], 4.0);
    assert_eq!(told[0]["minutes"], 5);
    // A dip below 4x starts it over.
    assert!(kinds(&read(6, "999m")).is_empty());
    for minute in 7..12 {
        assert!(kinds(&read(minute, "2")).is_empty(), "minute {minute}");
    }
    assert_eq!(kinds(&read(12, "2")), ["cpu_hog etl"]);
}

#[test]
fn a_pod_taking_most_of_its_node_is_a_node_hog() {
    let pods = [pod("cache", Some("8"), "n1")];
    let node = json!({"metadata": {"name": "n1"}, "status": {"allocatable": {"cpu": "4", "memory": "16Gi"}}});
    let mut e = Evaluator::with_window(0);
    let mut read = |metrics: &[Value]| {
        e.observe(&Reading {
            now_ms: T0,
            pods: pods.iter().collect(),
            nodes: vec![&node],
            quotas: vec![],
            pod_metrics: metrics.iter().collect(),
            hpas: vec![],
        })
    };
    let told = read(&[usage("cache", "3500m", "1Gi")]);
    assert_eq!(kinds(&told), ["node_hog cache"]);
    assert_eq!(told[0]["share"], 0.88);
    assert!(
        read(&[usage("cache", "3", "1Gi")]).is_empty(),
        "75% is not 80%"
    );
}

#[test]
fn restarts_and_quotas() {
    let mut p = pod("worker", None, "n1");
    p["status"]["containerStatuses"] = json!([{"name": "app", "restartCount": 2,
        "lastState": {"terminated": {"reason": "OOMKilled", "exitCode": 137}}, "state": {"running": {}}}]);
    let quota = json!({"metadata": {"name": "q", "namespace": "shop"},
        "status": {"hard": {"pods": "10", "requests.memory": "8Gi"}, "used": {"pods": "9", "requests.memory": "7Gi"}}});
    let mut e = Evaluator::default();
    let mut read = |p: &Value| {
        e.observe(&Reading {
            now_ms: T0,
            pods: vec![p],
            nodes: vec![],
            quotas: vec![&quota],
            pod_metrics: vec![],
            hpas: vec![],
        })
    };
    let told = read(&p);
    assert_eq!(kinds(&told), ["quota_near_limit ", "oom_killed worker"]);
    assert_eq!(told[0]["resource"], "pods");
    // The same restart is not told again; the next one is.
    assert_eq!(kinds(&read(&p)), ["quota_near_limit "]);
    p["status"]["containerStatuses"][0]["restartCount"] = json!(3);
    assert_eq!(kinds(&read(&p)), ["quota_near_limit ", "oom_killed worker"]);
}

#[test]
fn the_bundled_example_raises_its_alerts() {
    let root = PathBuf::from(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../examples/resources"
    ));
    let objects = kubevigil_model::load_paths(
        &[root.join("cluster.yaml")],
        &kubevigil_model::LoadOptions::default(),
    );
    assert!(objects.diagnostics.is_empty(), "{:?}", objects.diagnostics);
    let mut source = ResourcesSource {
        metrics: vec![root.join("metrics.json")],
        objects: objects.inventory,
        window_ms: 5 * MIN,
    };
    let (alerts, errors, _) = support::run(Events::Resources, &mut source);
    assert!(errors.is_empty(), "{errors:?}");
    assert_eq!(
        names(&alerts),
        [
            "resource_crash_loop",
            "resource_hog",
            "resource_hpa_at_max",
            "resource_oom_killed",
            "resource_quota_near_limit",
            "resource_restart_surge"
        ]
    );
    assert_eq!(
        alerts.iter().filter(|a| a.name() == "resource_hog").count(),
        3
    );
}

#[test]
fn autoscalers_stuck_at_max_or_unable_to_scale() {
    let hpa = |replicas: i64, current: i64, conditions: Value| {
        json!({"metadata": {"name": "web", "namespace": "shop"},
            "spec": {"scaleTargetRef": {"kind": "Deployment", "name": "web"}, "minReplicas": 2, "maxReplicas": 10,
                "metrics": [{"type": "Resource", "resource": {"name": "cpu", "target": {"type": "Utilization", "averageUtilization": 70}}}]},
            "status": {"currentReplicas": replicas, "desiredReplicas": replicas,
                "currentMetrics": [{"type": "Resource", "resource": {"name": "cpu", "current": {"averageUtilization": current}}}],
                "conditions": conditions}})
    };
    let mut e = Evaluator::with_window(5 * MIN);
    let mut read = |minute: i64, h: &Value| {
        e.observe(&Reading {
            now_ms: T0 + minute * MIN,
            hpas: vec![h],
            ..Reading::default()
        })
    };
    let stuck = hpa(10, 140, json!([]));
    assert!(read(0, &stuck).is_empty());
    let told = read(5, &stuck);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["kind"], "hpa_at_max");
    assert_eq!(told[0]["current"], 140);
    assert_eq!(told[0]["target"], "Deployment/web");
    // Below max, or at max within the target: nothing.
    assert!(read(6, &hpa(8, 140, json!([]))).is_empty());
    assert!(read(20, &hpa(10, 60, json!([]))).is_empty());
    let blind = hpa(
        3,
        0,
        json!([{"type": "ScalingActive", "status": "False", "reason": "FailedGetResourceMetric",
        "message": "the HPA was unable to compute the replica count: failed to get cpu utilization"}]),
    );
    let told = read(21, &blind);
    assert_eq!(told.len(), 1);
    assert_eq!(told[0]["kind"], "hpa_unable");
    assert_eq!(told[0]["reason"], "FailedGetResourceMetric");
}
