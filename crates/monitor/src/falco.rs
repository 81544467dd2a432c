//! `POST /falco`: Falco's alerts as its `http_output` sends them (one JSON alert per request,
//! what falcosidekick receives), or several, one after the other (JSON lines).
//!
//! Each alert is judged as `kubevigil falco detect` judges one
//! ([`kubevigil_detect::falco::normalise`]: falcosidekick's checks), enriched with what the
//! monitor's inventory knows of its pod ([`enrichment`]), and spooled as one line; detection
//! reads the Falco spool as it reads the audit one. An alert that is not one is left out and
//! counted, and the others are kept. A body with no alert at all is refused (400), so that Falco
//! logs the failure.

use kubevigil_detect::falco::{Enrichment, enrich, normalise};
use kubevigil_model::{Object, ObjectKey, Store};

use crate::intake::{Batch, read_values};
use serde_json::Value;

/// The input name of spooled Falco alerts in messages.
pub const INPUT: &str = "falco webhook";

/// Reads a body of Falco alerts ([`crate::intake::read_values`]); `inventory`, when the
/// monitor watches a cluster, enriches them. `Err` when the body holds no alert (its reason).
pub fn read_alerts(body: &[u8], inventory: Option<&Store>) -> Result<Batch, String> {
    read_values(body, "alert", |value| {
        let mut ev = normalise(value).map_err(|e| e.to_string())?;
        if let Some(store) = inventory {
            let name = |k: &str| ev.get(k).and_then(Value::as_str).map(str::to_string);
            if let (Some(ns), Some(pod)) = (name("namespace"), name("pod")) {
                enrich(&mut ev, &enrichment(store, &ns, &pod));
            }
        }
        Ok(serde_json::to_vec(&Value::Object(ev)).expect("a value serialises"))
    })
}

fn key(kind: &str, group: &str, namespace: Option<&str>, name: &str) -> ObjectKey {
    ObjectKey {
        group: group.into(),
        kind: kind.into(),
        namespace: namespace.map(Into::into),
        name: name.into(),
    }
}

/// The controller among an object's owners (`ownerReferences` with `controller: true`): its
/// kind and name.
fn controller_of(o: &Object) -> Option<(String, String)> {
    o.value["metadata"]["ownerReferences"]
        .as_array()?
        .iter()
        .find(|r| r["controller"] == true)
        .and_then(|r| Some((r["kind"].as_str()?.into(), r["name"].as_str()?.into())))
}

/// What the inventory knows of pod `namespace/name`: the workload at the top of its
/// controllers (a ReplicaSet's Deployment, a Job's CronJob, as far as the inventory holds
/// them; the pod itself when it has no controller), its service account and its namespace's
/// labels. Empty when the inventory does not hold the pod.
pub fn enrichment(store: &Store, namespace: &str, name: &str) -> Enrichment {
    let mut e = Enrichment::default();
    let Some(pod) = store.get(&key("Pod", "", Some(namespace), name)) else {
        return e;
    };
    e.service_account = pod.value["spec"]["serviceAccountName"]
        .as_str()
        .map(str::to_string);
    let mut workload = ("Pod".to_string(), name.to_string());
    let mut current = controller_of(pod);
    // A pod's controller, and that controller's: ReplicaSet → Deployment, Job → CronJob.
    for _ in 0..2 {
        let Some((kind, owner)) = current.take() else {
            break;
        };
        let group = match kind.as_str() {
            "ReplicaSet" | "Deployment" | "StatefulSet" | "DaemonSet" => "apps",
            "Job" | "CronJob" => "batch",
            _ => "",
        };
        current = store
            .get(&key(&kind, group, Some(namespace), &owner))
            .and_then(controller_of);
        workload = (kind, owner);
    }
    e.workload = Some(workload);
    if let Some(ns) = store.get(&key("Namespace", "", None, namespace))
        && let Some(labels) = ns.value["metadata"]["labels"].as_object()
    {
        e.namespace_labels = labels
            .iter()
            .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_string())))
            .collect();
    }
    e
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubevigil_model::Inventory;
    use serde_json::json;

    fn object(v: Value) -> Object {
        Object::from_cluster(v, "test").unwrap()
    }

    fn alert(pod: &str) -> Value {
        json!({
            "output": "Notice A shell was spawned", "priority": "Notice",
            "rule": "Terminal shell in container", "time": "2026-11-30T10:00:00.123456789Z",
            "output_fields": {"k8s.ns.name": "shop", "k8s.pod.name": pod, "proc.name": "bash"},
            "source": "syscall", "hostname": "node-1"
        })
    }

    fn inventory() -> Store {
        let owned = |kind: &str, name: &str| json!([{"kind": kind, "name": name, "controller": true, "apiVersion": "apps/v1", "uid": "u"}]);
        Store::from_inventory(Inventory {
            objects: vec![
                object(json!({"apiVersion": "v1", "kind": "Namespace",
                    "metadata": {"name": "shop", "labels": {"team": "web", "pod-security.kubernetes.io/enforce": "baseline"}}})),
                object(json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "web-7d9f-x2x4q", "namespace": "shop", "ownerReferences": owned("ReplicaSet", "web-7d9f")},
                    "spec": {"serviceAccountName": "web", "containers": [{"name": "web", "image": "nginx"}]}})),
                object(json!({"apiVersion": "apps/v1", "kind": "ReplicaSet",
                    "metadata": {"name": "web-7d9f", "namespace": "shop", "ownerReferences": owned("Deployment", "web")},
                    "spec": {"template": {"spec": {"containers": []}}}})),
                object(json!({"apiVersion": "v1", "kind": "Pod",
                    "metadata": {"name": "debug", "namespace": "shop"},
                    "spec": {"containers": [{"name": "sh", "image": "busybox"}]}})),
            ],
        })
    }

    #[test]
    fn alerts_are_enriched_from_the_inventory() {
        let store = inventory();
        let e = enrichment(&store, "shop", "web-7d9f-x2x4q");
        assert_eq!(e.workload, Some(("Deployment".into(), "web".into())));
        assert_eq!(e.service_account.as_deref(), Some("web"));
        assert!(e.namespace_labels.contains(&("team".into(), "web".into())));
        let bare = enrichment(&store, "shop", "debug");
        assert_eq!(bare.workload, Some(("Pod".into(), "debug".into())));
        assert_eq!(enrichment(&store, "shop", "gone"), Enrichment::default());
        let body = format!("{}\n{}", alert("web-7d9f-x2x4q"), alert("gone"));
        let batch = read_alerts(body.as_bytes(), Some(&store)).unwrap();
        assert_eq!(batch.events.len(), 2);
        let ev: Value = serde_json::from_slice(&batch.events[0]).unwrap();
        assert_eq!(ev["workload"], json!({"kind": "Deployment", "name": "web"}));
        assert_eq!(ev["serviceAccount"], "web");
        assert_eq!(ev["namespaceLabels"]["team"], "web");
        let ev: Value = serde_json::from_slice(&batch.events[1]).unwrap();
        assert!(ev.get("workload").is_none());
    }

    #[test]
    fn bad_alerts_are_left_out_and_an_empty_body_refused() {
        let mut no_rule = alert("p");
        no_rule["rule"] = json!("");
        let body = format!("{}{}\n{{\"rule\": ", alert("p"), no_rule);
        let batch = read_alerts(body.as_bytes(), None).unwrap();
        assert_eq!(batch.events.len(), 1);
        assert_eq!(batch.rejected.len(), 2, "{:?}", batch.rejected);
        assert!(batch.rejected[0].starts_with("alert 1: not a Falco alert: no rule"));
        assert!(batch.rejected[1].contains("invalid JSON"));
        for body in ["", "[]", "{\"rule\": \"x\"}", "not json"] {
            assert!(read_alerts(body.as_bytes(), None).is_err(), "{body}");
        }
    }
}
