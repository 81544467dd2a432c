//! Serves generated objects for benchmarks (bench/cluster.sh): PODS pods and OTHERS other
//! objects (Deployments, Services, ConfigMaps, Secrets in equal parts) across 50 namespaces.
//!
//! Usage: serve PODS OTHERS KUBECONFIG [DUMP]: writes a kubeconfig for the server to KUBECONFIG,
//! the objects as served (one JSON object per line) to DUMP if given, prints `ready` and serves
//! until killed.

use kubevigil_testapi::TestApi;
use kubevigil_testapi::generate::{other, pod};
use serde_json::{Value, json};

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
