//! Resource abuse followed live (issue 19, point 3): every interval, the metrics API's
//! PodMetrics (`metrics.k8s.io/v1beta1`, served by metrics-server) and the Nodes are read, and
//! with the Pods and ResourceQuotas the monitor watches they make one reading for
//! [`kubevigil_detect::resources::Evaluator`], whose events go to the resources spool. Without a
//! metrics API (no metrics-server) the objects alone are judged (quotas, OOM kills, crash loops)
//! and the absence is logged once.

use std::sync::Arc;
use std::time::Duration;

use kube::api::{ApiResource, DynamicObject, ListParams};
use kubevigil_detect::resources::{Evaluator, Reading};

/// Reads and judges every `interval`, forever, sending each event to `tx`.
pub async fn run(
    client: kube::Client,
    live: Arc<crate::dashboard::LiveObjects>,
    interval: Duration,
    window: Duration,
    tx: std::sync::mpsc::SyncSender<Vec<u8>>,
) {
    let metrics_resource = ApiResource {
        group: "metrics.k8s.io".into(),
        version: "v1beta1".into(),
        api_version: "metrics.k8s.io/v1beta1".into(),
        kind: "PodMetrics".into(),
        plural: "pods".into(),
    };
    let pod_metrics: kube::Api<DynamicObject> =
        kube::Api::all_with(client.clone(), &metrics_resource);
    let nodes: kube::Api<k8s_openapi::api::core::v1::Node> = kube::Api::all(client.clone());
    let hpa_resource = ApiResource {
        group: "autoscaling".into(),
        version: "v2".into(),
        api_version: "autoscaling/v2".into(),
        kind: "HorizontalPodAutoscaler".into(),
        plural: "horizontalpodautoscalers".into(),
    };
    let hpas: kube::Api<DynamicObject> = kube::Api::all_with(client, &hpa_resource);
    let mut eval = Evaluator::with_window(i64::try_from(window.as_millis()).unwrap_or(i64::MAX));
    let mut told_missing = false;
    loop {
        tokio::time::sleep(interval).await;
        let Some(store) = live.latest() else { continue };
        let metrics: Vec<serde_json::Value> = match pod_metrics.list(&ListParams::default()).await {
            Ok(list) => list
                .items
                .iter()
                .filter_map(|m| serde_json::to_value(m).ok())
                .collect(),
            Err(e) => {
                if !told_missing {
                    tracing::warn!(error = %kubevigil_model::Escaped(&e.to_string()),
                        "the metrics API (metrics.k8s.io) is not readable: hogging is not judged");
                    told_missing = true;
                }
                Vec::new()
            }
        };
        let node_values: Vec<serde_json::Value> = match nodes.list(&ListParams::default()).await {
            Ok(list) => list
                .items
                .iter()
                .filter_map(|n| serde_json::to_value(n).ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        let hpa_values: Vec<serde_json::Value> = match hpas.list(&ListParams::default()).await {
            Ok(list) => list
                .items
                .iter()
                .filter_map(|h| serde_json::to_value(h).ok())
                .collect(),
            Err(_) => Vec::new(),
        };
        let of = |kind: &str| store.of_kind(kind).map(|o| &o.value).collect::<Vec<_>>();
        let reading = Reading {
            now_ms: kubevigil_store::now_ms(),
            pods: of("Pod"),
            nodes: node_values.iter().collect(),
            quotas: of("ResourceQuota"),
            pod_metrics: metrics.iter().collect(),
            hpas: hpa_values.iter().collect(),
        };
        for ev in eval.observe(&reading) {
            if tx.send(ev.to_string().into_bytes()).is_err() {
                return;
            }
        }
    }
}
