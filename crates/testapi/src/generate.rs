//! Generated objects for benchmarks (`examples/serve.rs`, the monitor's watch benchmark):
//! realistic Pods as a ReplicaSet makes them, and Deployments, Services, ConfigMaps and Secrets.

use serde_json::{Value, json};

/// Pod `i` of namespace `ns`: two containers, owner reference, managed fields and a
/// last-applied annotation (which ingest drops), a running status.
pub fn pod(ns: &str, i: usize) -> Value {
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

/// Object `i` of namespace `ns`: a Deployment, Service, ConfigMap or Secret, by `i % 4`.
pub fn other(ns: &str, i: usize) -> Value {
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
