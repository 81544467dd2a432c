//! Watch semantics of the test API server through kube-rs: bookmarks, resuming from a
//! resourceVersion, and `410 Gone` (an ERROR event) for a compacted one; and the namespace
//! watcher's view of a changing cluster.

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, WatchEvent, WatchParams};
use kubevigil_cluster::watch::{NamespaceChange, watch_namespaces};
use kubevigil_cluster::{Connection, Target};
use kubevigil_testapi::TestApi;
use serde_json::json;

fn pod(name: &str, image: &str) -> serde_json::Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "shop"},
           "spec": {"containers": [{"name": "main", "image": image}]}})
}

async fn connect(api: &TestApi, dir: &tempfile::TempDir) -> Connection {
    let path = dir.path().join("config");
    api.write_kubeconfig(&path, "test").unwrap();
    Connection::connect(&Target {
        kubeconfig: Some(path),
        context: None,
    })
    .await
    .unwrap()
}

#[tokio::test]
async fn watches_resume_from_a_version_send_bookmarks_and_expire() {
    let api = TestApi::builder()
        .bookmark_interval(Duration::from_millis(100))
        .start()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conn = connect(&api, &dir).await;
    let first = api.create(pod("a", "nginx:1")).unwrap();
    let rv_a = first["metadata"]["resourceVersion"]
        .as_str()
        .unwrap()
        .to_string();
    api.create(pod("b", "nginx:1")).unwrap();
    api.apply(pod("a", "nginx:2")).unwrap();
    let pods: Api<Pod> = Api::namespaced(conn.client.clone(), "shop");

    // From a's creation: b ADDED, a MODIFIED, then bookmarks at the latest version.
    let params = WatchParams::default().timeout(5);
    let stream = pods.watch(&params, &rv_a).await.unwrap();
    futures::pin_mut!(stream);
    let mut seen = Vec::new();
    while let Some(e) = stream.try_next().await.unwrap() {
        match e {
            WatchEvent::Added(p) => seen.push(format!("ADDED {}", p.metadata.name.unwrap())),
            WatchEvent::Modified(p) => seen.push(format!("MODIFIED {}", p.metadata.name.unwrap())),
            WatchEvent::Bookmark(b) => {
                assert_eq!(
                    b.metadata.resource_version,
                    api.resource_version().to_string()
                );
                seen.push("BOOKMARK".into());
                break;
            }
            other => panic!("{other:?}"),
        }
    }
    assert_eq!(seen, ["ADDED b", "MODIFIED a", "BOOKMARK"]);

    // A compacted version: a 200 and an ERROR event with 410 Expired.
    api.compact();
    let stream = pods.watch(&params, &rv_a).await.unwrap();
    futures::pin_mut!(stream);
    match stream.next().await.unwrap().unwrap() {
        WatchEvent::Error(status) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn the_namespace_watcher_lists_then_follows_changes() {
    let api = TestApi::start().unwrap();
    api.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "a", "labels": {"x": "1"}}}))
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let conn = connect(&api, &dir).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let task = tokio::spawn(watch_namespaces(conn, move |c| {
        let _ = tx.send(c);
    }));
    let next = async |rx: &mut tokio::sync::mpsc::UnboundedReceiver<NamespaceChange>| {
        tokio::time::timeout(Duration::from_secs(30), rx.recv())
            .await
            .unwrap()
            .unwrap()
    };
    match next(&mut rx).await {
        NamespaceChange::Listed(all) => {
            assert_eq!(all.len(), 1);
            assert_eq!(all["a"]["x"], "1");
        }
        other => panic!("{other:?}"),
    }
    // Only metadata is asked for.
    assert!(
        api.requests()
            .iter()
            .any(|r| r.starts_with("GET /api/v1/namespaces?"))
    );
    api.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "b"}}))
        .unwrap();
    assert_eq!(
        next(&mut rx).await,
        NamespaceChange::Applied {
            name: "b".into(),
            labels: Default::default()
        }
    );
    api.delete("v1", "Namespace", None, "a").unwrap();
    assert_eq!(
        next(&mut rx).await,
        NamespaceChange::Deleted { name: "a".into() }
    );
    task.abort();
}
