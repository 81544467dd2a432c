use kubevigil_model::Object;
use kubevigil_model::{FieldPath, Severity};
use serde_json::Value;

use crate::{Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct ServiceNodePort;

static META: RuleMeta = RuleMeta {
    id: "service-nodeport",
    title: "Service of type NodePort",
    severity: Severity::Medium,
    category: Category::Exposure,
    doc: include_str!("service_nodeport.md"),
    remediation: "Use a ClusterIP Service behind an Ingress or Gateway, or a LoadBalancer with loadBalancerSourceRanges; if a NodePort is unavoidable, firewall the node port range to known sources.",
    references: &[
        Ref {
            framework: NSA,
            id: "Network separation and hardening",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1133",
            url: "https://attack.mitre.org/techniques/T1133/",
        },
    ],
};

impl Check<Config> for ServiceNodePort {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kind == "Service"
    }

    fn check_object(&self, _: &Config, object: &Object, out: &mut Emitter) {
        if object.api_version != "v1" {
            return;
        }
        if object.value.pointer("/spec/type").and_then(Value::as_str) != Some("NodePort") {
            return;
        }
        let ports = object
            .value
            .pointer("/spec/ports")
            .and_then(Value::as_array);
        let node_ports: Vec<String> = ports
            .into_iter()
            .flatten()
            .filter_map(|p| p.get("nodePort").and_then(Value::as_u64))
            .map(|p| p.to_string())
            .collect();
        let which = if node_ports.is_empty() {
            "allocated node ports".to_string()
        } else {
            format!("node port {}", node_ports.join(", "))
        };
        out.emit(
            object,
            &FieldPath::parse_keys("spec.type"),
            format!("Service is of type NodePort: it listens on {which} on every node's addresses, bypassing ingress controls"),
        );
    }
}
