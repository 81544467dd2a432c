use kubevigil_model::Object;
use kubevigil_model::{Severity, pod_template};
use serde_json::Value;

use crate::rules::env_vars;
use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct SecretAsEnvVar;

static META: RuleMeta = RuleMeta {
    id: "secret-as-env-var",
    title: "Secret passed as an environment variable",
    severity: Severity::Low,
    category: Category::SensitiveData,
    doc: include_str!("secret_as_env_var.md"),
    remediation: "Mount the Secret as a read-only volume (optionally only the needed items) and have the application read the file, e.g. DB_PASSWORD_FILE=/run/secrets/db/password.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.4.1",
            url: "",
        },
        Ref {
            framework: MITRE,
            id: "T1552",
            url: "https://attack.mitre.org/techniques/T1552/",
        },
    ],
};

fn str_at<'a>(v: &'a Value, pointer: &str) -> &'a str {
    v.pointer(pointer).and_then(Value::as_str).unwrap_or("")
}

impl Check<Config> for SecretAsEnvVar {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kubevigil_model::is_workload_kind(kind)
    }

    fn check_object(&self, _: &Config, object: &Object, out: &mut Emitter) {
        let Some(pod) = pod_template(object) else {
            return;
        };
        for c in pod.containers() {
            for env in env_vars(&c) {
                let Some(sel) = env.value.pointer("/valueFrom/secretKeyRef") else {
                    continue;
                };
                out.emit(
                    object,
                    &env.path.key("valueFrom").key("secretKeyRef"),
                    format!(
                        "container {:?} env var {:?} is read from Secret {:?} key {:?}",
                        c.name,
                        env.name,
                        str_at(sel, "/name"),
                        str_at(sel, "/key")
                    ),
                );
            }
            let env_from = c.value.get("envFrom").and_then(Value::as_array);
            for (i, source) in env_from.into_iter().flatten().enumerate() {
                let Some(sel) = source.get("secretRef") else {
                    continue;
                };
                out.emit(
                    object,
                    &c.path.key("envFrom").index(i).key("secretRef"),
                    format!(
                        "container {:?} imports every key of Secret {:?} as env vars",
                        c.name,
                        str_at(sel, "/name")
                    ),
                );
            }
        }
    }
}
