use kubevigil_model::{Objects, Severity, pod_template};
use kubevigil_rbac::answer::describe_grant;
use kubevigil_rbac::{Rbac, User};
use serde_json::Value;

use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct RbacWorkloadRiskyServiceAccount;

static META: RuleMeta = RuleMeta {
    id: "rbac-workload-risky-service-account",
    title: "Workload's ServiceAccount holds a risky permission",
    severity: Severity::High,
    category: Category::Rbac,
    doc: include_str!("rbac_workload_risky_service_account.md"),
    remediation: "Trim the ServiceAccount's roles to what the workload does (kubevigil rbac permissions sa:NS/NAME shows them), or set automountServiceAccountToken: false if it never calls the API.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.1.6",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: MITRE,
            id: "T1528",
            url: "https://attack.mitre.org/techniques/T1528/",
        },
    ],
};

impl Check<Config> for RbacWorkloadRiskyServiceAccount {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn reads(&self, kind: &str) -> bool {
        super::reads_rbac(kind) || kubevigil_model::is_workload_kind(kind)
    }

    fn check_cluster(&self, _: &Config, objects: &dyn Objects, out: &mut Emitter) {
        super::alone(self, objects, out);
    }

    fn shared_analysis(&self) -> Option<&'static dyn std::any::Any> {
        super::shared(META.id)
    }
}

impl super::RbacCheck for RbacWorkloadRiskyServiceAccount {
    fn check_rbac(&self, rbac: &Rbac, objects: &dyn Objects, out: &mut Emitter) {
        if rbac.bindings.is_empty() {
            return;
        }
        for o in objects.all() {
            let Some(pod) = pod_template(o) else { continue };
            // Without a token the ServiceAccount's permissions are unusable from the pod.
            if pod
                .spec
                .get("automountServiceAccountToken")
                .and_then(Value::as_bool)
                == Some(false)
            {
                continue;
            }
            let named = pod.service_account();
            let (path, sa) = match named {
                Some((k, s)) => (pod.spec_path.key(k), s),
                None => (pod.spec_path.clone(), "default"),
            };
            let ns = o.namespace.as_deref().unwrap_or("default");
            let user = User::service_account(ns, sa);
            let mut found: Vec<String> = Vec::new();
            let mut first_path = None;
            // As severe as the most severe capability held.
            let mut severity = Severity::Info;
            for (scope, rule, grant) in rbac.rules_of(&user) {
                if scope != "*" && scope != ns {
                    continue;
                }
                for (id, flags) in super::RISKS {
                    let what = flags(rule);
                    if what.is_empty() {
                        continue;
                    }
                    if let Some(c) = crate::registry().iter().find(|c| c.meta().id == *id) {
                        severity = severity.max(c.meta().severity);
                    }
                    let entry = format!("{} ({id})", what.join(", "));
                    if !found.contains(&entry) {
                        found.push(entry);
                    }
                    first_path.get_or_insert_with(|| describe_grant(rbac, &grant));
                }
            }
            let Some(via) = first_path else { continue };
            let more = if found.len() > 3 {
                format!(" and {} more", found.len() - 3)
            } else {
                String::new()
            };
            found.truncate(3);
            out.emit_with_severity(
                o,
                &path,
                format!(
                    "runs as ServiceAccount {ns}/{sa}, which holds {}{more}; e.g. via {via}",
                    found.join("; ")
                ),
                severity.min(META.severity),
            );
        }
    }
}
