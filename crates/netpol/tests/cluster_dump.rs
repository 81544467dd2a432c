//! Cluster dumps (`kubectl get pods -A -o yaml`): pods are shown as the workload owning them,
//! one owner's pods that differ stay apart, and rule peers selecting nothing in the input are
//! listed. The renderers' side is in kubevigil-report's `tests/netpol_cluster_dump.rs`.

use std::path::Path;

use kubevigil_model::load::load_text_into;
use kubevigil_model::{LoadOptions, Loaded, load_paths};
use kubevigil_netpol::{Cluster, named};

fn load(text: &str) -> Loaded {
    let mut loaded = Loaded::default();
    load_text_into("input.yaml", text, &LoadOptions::default(), &mut loaded);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded
}

fn names(cluster: &Cluster) -> Vec<String> {
    cluster.workloads.iter().map(|w| w.to_string()).collect()
}

fn example() -> Loaded {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/cluster-dump");
    let loaded = load_paths(&[dir], &LoadOptions::default());
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded
}

/// A pod: `owner` is `KIND NAME [UID]`, `labels` flow-style YAML.
fn pod(ns: &str, name: &str, labels: &str, owner: Option<&str>) -> String {
    let owner = owner.map_or(String::new(), |o| {
        let mut parts = o.split(' ');
        let (kind, oname) = (parts.next().unwrap(), parts.next().unwrap());
        let uid = parts.next().map_or(String::new(), |u| format!(", uid: {u}"));
        format!(
            "\n  ownerReferences: [{{apiVersion: apps/v1, kind: {kind}, name: {oname}, controller: true{uid}}}]"
        )
    });
    format!(
        "---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: {name}\n  namespace: {ns}\n  labels: {labels}{owner}\nspec: {{containers: [{{name: c, image: x}}]}}\n"
    )
}

#[test]
fn pods_are_shown_as_their_owning_workload() {
    let loaded = example();
    let cluster = Cluster::from_inventory(&loaded.inventory);
    assert_eq!(
        names(&cluster),
        [
            "monitoring/node-exporter[DaemonSet]",
            "shop/api[Deployment]",
            "shop/db[StatefulSet]",
            "shop/db-migrate[Job]",
            "shop/debug",
            "shop/web[Deployment] (pod-template-hash=5d8f7c9b6)",
            "shop/web[Deployment] (pod-template-hash=7b9c4d5f8)",
        ]
    );
    let web = &cluster.workloads[cluster.find_workload("shop/web-5d8f7c9b6-9tvzm").unwrap()];
    assert_eq!(web.pods, ["web-5d8f7c9b6-2xkqp", "web-5d8f7c9b6-9tvzm"]);
    assert_eq!(web.variant.as_deref(), Some("pod-template-hash=5d8f7c9b6"));
    // Both rollout halves answer to the Deployment's name: ambiguous, a pod name is not.
    assert!(cluster.find_workload("shop/web").is_err());
    let api = cluster.find_workload("shop/api").unwrap();
    assert_eq!(cluster.workloads[api].kind, "Deployment");
    assert_eq!(cluster.workloads[api].pods.len(), 2);
    // The StatefulSet's per-pod labels (name, index) are selected by no policy: one node.
    let db = cluster.find_workload("shop/db").unwrap();
    assert_eq!(cluster.workloads[db].pods, ["db-0", "db-1"]);
}

#[test]
fn replicaset_in_the_input_resolves_to_its_deployment() {
    // No pod-template-hash label: only the ReplicaSet object can name the Deployment.
    let mut text = pod(
        "ns",
        "front-abc-1",
        "{app: front}",
        Some("ReplicaSet front-abc u1"),
    );
    text += "---\napiVersion: apps/v1\nkind: ReplicaSet\nmetadata:\n  name: front-abc\n  namespace: ns\n  uid: u1\n  ownerReferences: [{apiVersion: apps/v1, kind: Deployment, name: front, controller: true}]\nspec: {template: {metadata: {labels: {app: front}}, spec: {containers: [{name: c, image: x}]}}}\n";
    let loaded = load(&text);
    let cluster = Cluster::from_inventory(&loaded.inventory);
    // The ReplicaSet's own template is not shown beside its pods.
    assert_eq!(names(&cluster), ["ns/front[Deployment]"]);
    // A ReplicaSet with another uid is another object: the pod's stays a ReplicaSet.
    let loaded = load(&text.replace("\n  uid: u1", "\n  uid: u2"));
    let cluster = Cluster::from_inventory(&loaded.inventory);
    assert_eq!(
        names(&cluster),
        ["ns/front-abc", "ns/front-abc[ReplicaSet]"]
    );
}

#[test]
fn replicaset_name_is_stripped_only_by_the_pod_template_hash() {
    let text = [
        pod(
            "ns",
            "a-1",
            "{app: a, pod-template-hash: h1}",
            Some("ReplicaSet a-h1"),
        ),
        // Label and suffix differ: not how a Deployment names its ReplicaSet.
        pod(
            "ns",
            "b-1",
            "{app: b, pod-template-hash: zz}",
            Some("ReplicaSet b-h2"),
        ),
        // No label at all.
        pod("ns", "c-1", "{app: c}", Some("ReplicaSet c-h3")),
        // A DaemonSet's pods are never renamed.
        pod(
            "ns",
            "d-1",
            "{app: d, pod-template-hash: h4}",
            Some("DaemonSet d-h4"),
        ),
        // A mirror pod's owner is its Node: no workload.
        pod("ns", "etcd-node1", "{component: etcd}", Some("Node node1")),
        pod("ns", "bare", "{run: bare}", None),
    ]
    .concat();
    let loaded = load(&text);
    let cluster = Cluster::from_inventory(&loaded.inventory);
    assert_eq!(
        names(&cluster),
        [
            "ns/a[Deployment]",
            "ns/b-h2[ReplicaSet]",
            "ns/bare",
            "ns/c-h3[ReplicaSet]",
            "ns/d-h4[DaemonSet]",
            "ns/etcd-node1",
        ]
    );
}

#[test]
fn pods_of_one_owner_with_different_labels_stay_apart() {
    let text = [
        pod("ns", "x-1", "{app: x, track: stable}", Some("DaemonSet x")),
        pod("ns", "x-2", "{app: x, track: stable}", Some("DaemonSet x")),
        pod("ns", "x-3", "{app: x}", Some("DaemonSet x")),
        pod(
            "ns",
            "st-0",
            "{app: st, statefulset.kubernetes.io/pod-name: st-0}",
            Some("StatefulSet st"),
        ),
        pod(
            "ns",
            "st-1",
            "{app: st, statefulset.kubernetes.io/pod-name: st-1}",
            Some("StatefulSet st"),
        ),
    ]
    .concat();
    let loaded = load(&text);
    let cluster = Cluster::from_inventory(&loaded.inventory);
    assert_eq!(
        names(&cluster),
        [
            "ns/st[StatefulSet]",
            "ns/x[DaemonSet] (!track)",
            "ns/x[DaemonSet] (track=stable)"
        ]
    );
    // Once a policy selects on the per-pod label, the StatefulSet's pods differ for it.
    let policy = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: p, namespace: ns}\nspec: {podSelector: {matchLabels: {statefulset.kubernetes.io/pod-name: st-0}}}\n";
    let loaded = load(&(text.clone() + policy));
    let cluster = Cluster::from_inventory(&loaded.inventory);
    assert!(
        names(&cluster)
            .contains(&"ns/st[StatefulSet] (statefulset.kubernetes.io/pod-name=st-1)".to_string()),
        "{:?}",
        names(&cluster)
    );
    // The same labels with other container ports: numbered.
    let text = pod("ns", "x-1", "{app: x}", Some("DaemonSet x"))
        + &pod("ns", "x-2", "{app: x}", Some("DaemonSet x")).replace(
            "{name: c, image: x}",
            "{name: c, image: x, ports: [{containerPort: 80}]}",
        );
    let loaded = load(&text);
    let cluster = Cluster::from_inventory(&loaded.inventory);
    assert_eq!(
        names(&cluster),
        ["ns/x[DaemonSet] (#1)", "ns/x[DaemonSet] (#2)"]
    );
}

#[test]
fn peers_selecting_nothing_in_the_input_are_listed() {
    let loaded = example();
    let cluster = Cluster::from_inventory(&loaded.inventory);
    let got: Vec<String> = named::unmatched_peers(&cluster, None)
        .iter()
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        got,
        [
            "NetworkPolicy shop/allow-dns egress[0].to[0] (namespaceSelector kubernetes.io/metadata.name=kube-system, podSelector k8s-app=kube-dns) matches no namespace in the input: the traffic it allows to those pods is not shown",
            "NetworkPolicy shop/web ingress[0].from[0] (namespaceSelector kubernetes.io/metadata.name=ingress-nginx) matches no namespace in the input: the traffic it allows from those pods is not shown",
            "NetworkPolicy shop/db ingress[1].from[0] (namespaceSelector kubernetes.io/metadata.name=monitoring, podSelector app.kubernetes.io/name=prometheus) matches no workload in the input: the traffic it allows from those pods is not shown",
        ]
    );
    // Focused on a workload: only the rules of the policies selecting it.
    let web = cluster.find_workload("shop/web-7b9c4d5f8-hq4wl").unwrap();
    let focused = named::unmatched_peers(&cluster, Some(web));
    assert_eq!(focused.len(), 2);
    assert!(focused.iter().all(|u| u.policy != "db"));
}
