use std::collections::HashMap;

use kubevigil_model::Objects;
use kubevigil_model::{Severity, pod_template};
use serde_json::Value;

use crate::{CIS, Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct ServiceAccountTokenAutomount;

static META: RuleMeta = RuleMeta {
    id: "service-account-token-automount",
    title: "Service account token is mounted automatically",
    severity: Severity::Medium,
    category: Category::SensitiveData,
    doc: include_str!("service_account_token_automount.md"),
    remediation: "Set automountServiceAccountToken: false in the pod spec (or on its ServiceAccount); workloads that call the API server mount a projected token explicitly, with a short expiry and audience.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.1.6",
            url: "",
        },
        Ref {
            framework: NSA,
            id: "Protecting Pod service account tokens",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1528",
            url: "https://attack.mitre.org/techniques/T1528/",
        },
    ],
};

impl Check<Config> for ServiceAccountTokenAutomount {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn reads(&self, kind: &str) -> bool {
        kind == "ServiceAccount" || kubevigil_model::is_workload_kind(kind)
    }

    /// Mirrors plugin/pkg/admission/serviceaccount/admission.go `shouldAutomount`: the pod's
    /// `automountServiceAccountToken` wins, then the ServiceAccount's, and the default is true.
    /// The ServiceAccount is `serviceAccountName`, else the deprecated `serviceAccount`
    /// (pkg/apis/core/v1/conversion.go), else `default` (the admission plugin's
    /// `DefaultServiceAccountName`), in the pod's namespace.
    fn check_cluster(&self, _: &Config, objects: &dyn Objects, out: &mut Emitter) {
        // (namespace, name) -> the ServiceAccount's automountServiceAccountToken, if set.
        let service_accounts: HashMap<(Option<&str>, &str), Option<bool>> = objects
            .all()
            .filter(|o| o.kind == "ServiceAccount" && o.api_version == "v1")
            .map(|sa| {
                let automount = sa.value.get("automountServiceAccountToken");
                let key = (sa.namespace.as_deref(), sa.name.as_str());
                (key, automount.and_then(Value::as_bool))
            })
            .collect();
        for object in objects.all() {
            let Some(pod) = pod_template(object) else {
                continue;
            };
            let path = pod.spec_path.key("automountServiceAccountToken");
            let sa_name = pod.service_account().map_or("default", |(_, name)| name);
            let message = match pod
                .spec
                .get("automountServiceAccountToken")
                .and_then(Value::as_bool)
            {
                Some(false) => continue,
                Some(true) => format!(
                    "automountServiceAccountToken is true: every container gets an API token for ServiceAccount {sa_name:?}"
                ),
                None => {
                    let sa = service_accounts.get(&(object.namespace.as_deref(), sa_name));
                    match sa.copied().flatten() {
                        Some(false) => continue,
                        Some(true) => format!(
                            "automountServiceAccountToken is not set and ServiceAccount {sa_name:?} sets it to true: every container gets an API token"
                        ),
                        None if sa.is_some() => format!(
                            "automountServiceAccountToken is not set, nor on ServiceAccount {sa_name:?}: the API server mounts a token in every container by default"
                        ),
                        None => format!(
                            "automountServiceAccountToken is not set and ServiceAccount {sa_name:?} is not in the input: the API server mounts a token in every container by default"
                        ),
                    }
                }
            };
            out.emit(object, &path, message);
        }
    }
}
