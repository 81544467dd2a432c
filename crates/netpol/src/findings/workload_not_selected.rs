use kubevigil_model::{FieldPath, Severity, pod_template};

use kubevigil_rule::{Category, Emitter, RuleMeta};

use super::{CIS_5_3_2, Ctx, K8S_NETPOL_DOCS, MITRE_T1210, NSA_NETPOL};

pub static KIND: RuleMeta = RuleMeta {
    id: "netpol-workload-not-selected",
    title: "Workload is not selected by any NetworkPolicy",
    severity: Severity::Low,
    category: Category::Network,
    doc: include_str!("workload_not_selected.md"),
    remediation: "Select the workload with a NetworkPolicy (a namespace-wide default deny does it) and allow only the traffic it needs.",
    references: &[CIS_5_3_2, NSA_NETPOL, MITRE_T1210, K8S_NETPOL_DOCS],
};

pub fn run(cx: &Ctx<'_>, out: &mut Emitter) {
    for w in &cx.cluster.workloads {
        let selected = cx
            .cluster
            .policies
            .iter()
            .any(|p| p.namespace == w.namespace && p.pod_selector.matches(&w.labels));
        if !selected {
            let o = w.object;
            let path = pod_template(o).map_or_else(
                || FieldPath::parse_keys("metadata"),
                |t| t.metadata_path.key("labels"),
            );
            out.emit(
                o,
                &path,
                format!("{} {w} is selected by no NetworkPolicy: all ingress and egress traffic of its pods is allowed", w.kind),
            );
        }
    }
}
