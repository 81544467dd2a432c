use kubevigil_model::Object;
use kubevigil_model::{FieldPath, Severity};
use serde_json::Value;

use crate::{Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct ServiceExternalIps;

static META: RuleMeta = RuleMeta {
    id: "service-external-ips",
    title: "Service sets externalIPs",
    severity: Severity::High,
    category: Category::Exposure,
    doc: include_str!("service_external_ips.md"),
    remediation: "Remove spec.externalIPs; expose the service through a LoadBalancer or an Ingress, and enable the DenyServiceExternalIPs admission plugin (or kubevigil's webhook policy).",
    references: &[
        Ref {
            framework: "CVE",
            id: "CVE-2020-8554",
            url: "https://github.com/kubernetes/kubernetes/issues/97076",
        },
        Ref {
            framework: MITRE,
            id: "T1557",
            url: "https://attack.mitre.org/techniques/T1557/",
        },
    ],
};

impl Check<Config> for ServiceExternalIps {
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
        let Some(ips) = object
            .value
            .pointer("/spec/externalIPs")
            .and_then(Value::as_array)
        else {
            return;
        };
        if ips.is_empty() {
            return;
        }
        let list: Vec<&str> = ips.iter().filter_map(Value::as_str).collect();
        out.emit(
            object,
            &FieldPath::parse_keys("spec.externalIPs"),
            format!("Service claims external IPs {}: any user who can create Services can intercept traffic to those addresses (CVE-2020-8554)", list.join(", ")),
        );
    }
}
