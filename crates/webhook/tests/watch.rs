//! The namespace cache kept current by kubevigil-cluster's kube-runtime watcher against the
//! test API server: the first list, watch events (add, change, delete), and a relist that
//! replaces the cache after the watch is refused with 410 Gone.

use std::sync::Arc;
use std::time::Duration;

use kubevigil_cluster::{Connection, Target};
use kubevigil_testapi::{Fault, FaultOn, TestApi};
use kubevigil_webhook::Webhook;
use kubevigil_webhook::namespaces::run_watch;
use serde_json::json;

fn ns(name: &str, level: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": {"pod-security.kubernetes.io/enforce": level}}})
}

#[tokio::test]
async fn lists_watches_and_relists_on_gone() {
    let api = TestApi::start().unwrap();
    api.create(ns("a", "restricted")).unwrap();
    api.create(ns("d", "restricted")).unwrap();
    // The first watch is refused as expired: the watcher lists again before watching.
    api.add_fault(
        Fault::status("", "namespaces", 410)
            .on(FaultOn::Watch)
            .times(1),
    );
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    api.write_kubeconfig(&kubeconfig, "test").unwrap();
    let conn = Connection::connect(&Target {
        kubeconfig: Some(kubeconfig),
        context: None,
    })
    .await
    .unwrap();

    let webhook = Arc::new(Webhook::default());
    assert!(webhook.namespaces.is_synced(), "a static cache is complete");
    let task = tokio::spawn(run_watch(conn, webhook.clone()));
    let levels = || -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = webhook
            .namespaces
            .read()
            .iter()
            .map(|(n, l)| {
                let level = l
                    .get("pod-security.kubernetes.io/enforce")
                    .and_then(|v| v.as_str())
                    .unwrap_or("-");
                (n.clone(), level.to_string())
            })
            .collect();
        v.sort();
        v
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    // Generous bounds (60 s each) for a loaded machine; the state is asserted after waiting.
    let wait_for = |want: Vec<(String, String)>| {
        let levels = &levels;
        async move {
            for _ in 0..600 {
                if levels() == want {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            levels()
        }
    };
    let want = pairs(&[("a", "restricted"), ("d", "restricted")]);
    assert_eq!(wait_for(want.clone()).await, want, "listed");
    assert!(webhook.namespaces.is_synced());
    // Wait for a watch that is not refused.
    let watching = || {
        api.requests()
            .iter()
            .filter(|r| r.starts_with("GET /api/v1/namespaces?") && r.contains("watch=true"))
            .count()
    };
    for _ in 0..600 {
        if watching() >= 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let requests = api.requests();
    let lists = requests
        .iter()
        .filter(|r| r.starts_with("GET /api/v1/namespaces?") && !r.contains("watch=true"))
        .count();
    assert_eq!(lists, 2, "relisted once, after 410: {requests:#?}");
    assert!(watching() >= 2, "{requests:#?}");

    // Watch events: b added, a changed, d deleted.
    api.create(ns("b", "baseline")).unwrap();
    api.apply(ns("a", "baseline")).unwrap();
    api.delete("v1", "Namespace", None, "d").unwrap();
    let want = pairs(&[("a", "baseline"), ("b", "baseline")]);
    assert_eq!(wait_for(want.clone()).await, want, "watch events applied");
    assert!(webhook.namespaces.is_synced());
    task.abort();
}
