use kubevigil_model::{FieldPath, Object, Severity, pod_template};
use serde_json::Value;

use kubevigil_rule::{Category, Emitter, RuleMeta};

use super::{Ctx, K8S_NETPOL_DOCS, Ref};

pub static KIND: RuleMeta = RuleMeta {
    id: "netpol-cni-not-enforcing",
    title: "CNI does not enforce NetworkPolicies",
    severity: Severity::High,
    category: Category::Network,
    doc: include_str!("cni_not_enforcing.md"),
    remediation: "Run a CNI that enforces NetworkPolicy: Calico (alone or with Flannel as Canal), Cilium, Antrea, kube-router or Weave Net.",
    references: &[
        Ref {
            framework: kubevigil_rule::refs::CIS,
            id: "5.3.1",
            url: kubevigil_rule::refs::CIS_URL,
        },
        K8S_NETPOL_DOCS,
    ],
};

/// Substrings of DaemonSet names or images of CNIs that enforce NetworkPolicy.
const ENFORCERS: &[&str] = &[
    "calico",
    "cilium",
    "antrea",
    "kube-router",
    "weave-net",
    "weave-kube",
    "weave-npc",
];

fn images(o: &Object) -> Vec<(FieldPath, String)> {
    pod_template(o)
        .map(|t| {
            t.containers()
                .filter_map(|c| {
                    c.value
                        .get("image")
                        .and_then(Value::as_str)
                        .map(|i| (c.path.key("image"), i.to_string()))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Flannel only routes; it ignores NetworkPolicies. Fires when policies exist, a Flannel
/// DaemonSet runs, and no enforcing CNI's DaemonSet is in the manifests.
pub fn run(cx: &Ctx<'_>, out: &mut Emitter) {
    if cx.cluster.policies.is_empty() {
        return;
    }
    let daemonsets: Vec<&Object> = cx.objects.of_kind("DaemonSet").collect();
    let mentions = |o: &Object, needle: &str| {
        o.name.to_ascii_lowercase().contains(needle)
            || images(o)
                .iter()
                .any(|(_, i)| i.to_ascii_lowercase().contains(needle))
    };
    if daemonsets
        .iter()
        .any(|o| ENFORCERS.iter().any(|e| mentions(o, e)))
    {
        return;
    }
    for o in daemonsets.into_iter().filter(|o| mentions(o, "flannel")) {
        let path = images(o)
            .into_iter()
            .find(|(_, i)| i.contains("flannel"))
            .map_or_else(|| FieldPath::parse_keys("metadata.name"), |(p, _)| p);
        out.emit(
            o,
            &path,
            format!(
                "{} runs Flannel without Calico or Cilium, yet the manifests define {} NetworkPolicy object(s): Flannel does not enforce them, so none of their isolation is real",
                o.display_name(),
                cx.cluster.policies.len()
            ),
        );
    }
}
