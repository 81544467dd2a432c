//! Pod evaluations per second at restricted:latest on one core.
//!
//! `cargo bench -p kubevigil-pss --bench evaluate` prints one line per pod shape and the mix.
//! Pods are decoded and defaulted once (as the CLI and webhook do); the figure is the cost of
//! the policy decision itself, message building included for failing pods.

use std::hint::black_box;
use std::time::{Duration, Instant};

use kubevigil_pss::{Level, LevelVersion, PodInput, Version};
use serde_json::json;

fn pods() -> Vec<(&'static str, PodInput)> {
    let hardened_sc = json!({
        "allowPrivilegeEscalation": false,
        "capabilities": {"drop": ["ALL"]},
        "readOnlyRootFilesystem": true,
        "runAsNonRoot": true
    });
    let restricted = json!({
        "securityContext": {"runAsNonRoot": true, "runAsUser": 10001, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [{"name": "migrate", "image": "app:1", "securityContext": hardened_sc}],
        "containers": [
            {"name": "app", "image": "app:1", "ports": [{"containerPort": 8080}],
             "livenessProbe": {"httpGet": {"path": "/healthz", "port": 8080}},
             "readinessProbe": {"httpGet": {"path": "/ready", "port": 8080}},
             "securityContext": hardened_sc,
             "volumeMounts": [{"name": "cfg", "mountPath": "/etc/app"}, {"name": "tmp", "mountPath": "/tmp"}]},
            {"name": "proxy", "image": "envoy:1", "ports": [{"containerPort": 9901}], "securityContext": hardened_sc}
        ],
        "volumes": [
            {"name": "cfg", "configMap": {"name": "app"}},
            {"name": "tmp", "emptyDir": {}},
            {"name": "token", "projected": {"sources": [{"serviceAccountToken": {"path": "token"}}]}}
        ]
    });
    let typical = json!({
        "containers": [
            {"name": "web", "image": "nginx:1.27", "ports": [{"containerPort": 80}],
             "readinessProbe": {"httpGet": {"path": "/", "port": 80}}},
            {"name": "sidecar", "image": "fluent-bit:3", "volumeMounts": [{"name": "logs", "mountPath": "/var/log"}]}
        ],
        "volumes": [{"name": "logs", "emptyDir": {}}]
    });
    let privileged = json!({
        "hostNetwork": true, "hostPID": true,
        "containers": [
            {"name": "agent", "image": "agent:1", "ports": [{"containerPort": 9100}],
             "securityContext": {"privileged": true, "capabilities": {"add": ["SYS_ADMIN", "NET_ADMIN"]}},
             "volumeMounts": [{"name": "root", "mountPath": "/host"}]}
        ],
        "volumes": [{"name": "root", "hostPath": {"path": "/"}}]
    });
    [
        ("restricted-compliant", restricted, true),
        ("typical-unhardened", typical, false),
        ("privileged-agent", privileged, true),
    ]
    .into_iter()
    .map(|(name, spec, is_pod)| {
        (
            name,
            PodInput::from_values(&json!({"name": name}), &spec, is_pod).unwrap(),
        )
    })
    .collect()
}

fn rate(pods: &[&PodInput], lv: LevelVersion) -> f64 {
    // Warm up, then run for about a second.
    for p in pods {
        black_box(p.evaluate(lv));
    }
    let mut n: u64 = 0;
    let start = Instant::now();
    while start.elapsed() < Duration::from_secs(1) {
        for _ in 0..1000 {
            for p in pods {
                black_box(black_box(p).evaluate(lv));
            }
            n += pods.len() as u64;
        }
    }
    n as f64 / start.elapsed().as_secs_f64()
}

fn main() {
    let lv = LevelVersion::new(Level::Restricted, Version::Latest);
    let pods = pods();
    for (name, pod) in &pods {
        let eval = pod.evaluate(lv);
        println!(
            "{name:<22} {:>12.0} evals/s  ({} violations)",
            rate(&[pod], lv),
            eval.violations.len()
        );
    }
    let mix: Vec<&PodInput> = pods.iter().map(|(_, p)| p).collect();
    println!(
        "{:<22} {:>12.0} evals/s  restricted:latest, one core",
        "mix",
        rate(&mix, lv)
    );
}
