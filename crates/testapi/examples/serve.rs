//! Serves generated objects for benchmarks (bench/cluster.sh): PODS pods and OTHERS other
//! objects (Deployments, Services, ConfigMaps, Secrets in equal parts) across 50 namespaces.
//!
//! Usage: serve PODS OTHERS KUBECONFIG [DUMP]: writes a kubeconfig for the server to KUBECONFIG,
//! the objects as served (one JSON object per line) to DUMP if given, prints `ready` and serves
//! until killed.

use kubevigil_testapi::TestApi;
use serde_json::{Value, json};

fn pod(ns: &str, i: usize) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": format!("web-{i:05}-7b9c4d5f8-hq4wl"), "namespace": ns,
            "labels": {"app": format!("web-{}", i % 100), "pod-template-hash": "7b9c4d5f8"},
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{}"},
            "ownerReferences": [{"apiVersion": "apps/v1", "kind": "ReplicaSet", "name": format!("web-{i:05}-7b9c4d5f8"), "uid": "1", "controller": true}],
            "managedFields": [{"manager": "kube-controller-manager", "operation": "Update", "apiVersion": "v1", "fieldsType": "FieldsV1", "fieldsV1": {"f:metadata": {"f:labels": {}}}}],
        },
        "spec": {
            "serviceAccountName": "web",
            "containers": [
                {"name": "web", "image": format!("registry.example.com/web:{}", i % 7), "ports": [{"containerPort": 8080, "name": "http"}],
                 "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                 "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}},
                {"name": "proxy", "image": "envoyproxy/envoy:v1.31.0", "args": ["--config-path", "/etc/envoy/envoy.yaml"]}
            ],
            "volumes": [{"name": "config", "configMap": {"name": "envoy"}}]
        },
        "status": {"phase": "Running", "podIP": format!("10.1.{}.{}", i / 250, i % 250)}
    })
}

fn other(ns: &str, i: usize) -> Value {
    let name = format!("obj-{i:05}");
    match i % 4 {
        0 => {
            json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": name, "namespace": ns},
            "spec": {"replicas": 2, "selector": {"matchLabels": {"app": name}}, "template": {"metadata": {"labels": {"app": name}},
            "spec": {"containers": [{"name": "app", "image": "nginx:1.27", "resources": {"limits": {"memory": "64Mi"}}}]}}}})
        }
        1 => {
            json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": ns},
            "spec": {"selector": {"app": name}, "ports": [{"port": 80, "targetPort": 8080}]}})
        }
        2 => {
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": name, "namespace": ns},
            "data": {"app.properties": "log.level=info\nfeature.x=true\n"}})
        }
        _ => {
            json!({"apiVersion": "v1", "kind": "Secret", "metadata": {"name": name, "namespace": ns},
            "type": "Opaque", "data": {"token": "c2VjcmV0LXZhbHVlLW5ldmVyLXJlYWQ="}})
        }
    }
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let pods: usize = args.get(1).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let others: usize = args.get(2).and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let kubeconfig = args
        .get(3)
        .expect("usage: serve PODS OTHERS KUBECONFIG [DUMP]");
    let api = TestApi::start().expect("test API server");
    let namespaces: Vec<String> = (0..50).map(|i| format!("team-{i:02}")).collect();
    let mut objects: Vec<Value> = namespaces
        .iter()
        .map(|n| json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n, "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}))
        .collect();
    objects.extend((0..pods).map(|i| pod(&namespaces[i % 50], i)));
    objects.extend((0..others).map(|i| other(&namespaces[i % 50], i)));
    let mut dump = String::new();
    for o in objects {
        let stored = api.create(o).expect("create");
        if args.len() > 4 {
            dump.push_str(&stored.to_string());
            dump.push('\n');
        }
    }
    if let Some(path) = args.get(4) {
        std::fs::write(path, dump).expect("dump");
    }
    api.write_kubeconfig(std::path::Path::new(kubeconfig), "bench")
        .expect("kubeconfig");
    println!("ready");
    loop {
        std::thread::park();
    }
}
