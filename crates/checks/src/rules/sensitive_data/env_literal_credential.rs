use kubevigil_model::Object;
use kubevigil_model::{Severity, pod_template};
use serde_json::Value;

use crate::rules::credentials::{detect_args, detect_entries};
use crate::rules::env_vars;
use crate::{CIS, Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct EnvLiteralCredential;

static META: RuleMeta = RuleMeta {
    id: "env-literal-credential",
    title: "Credential in a literal environment variable or command line",
    severity: Severity::Critical,
    category: Category::SensitiveData,
    doc: include_str!("env_literal_credential.md"),
    remediation: "Rotate the credential (it is in every copy of this manifest), store it in a Secret (or an external secret store) and mount it as a file; if an env var is unavoidable use valueFrom.secretKeyRef.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.4.1",
            url: "",
        },
        Ref {
            framework: NSA,
            id: "Secrets",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1552.001",
            url: "https://attack.mitre.org/techniques/T1552/001/",
        },
    ],
};

impl Check<Config> for EnvLiteralCredential {
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
            // Only literal values: valueFrom is resolved at run time from elsewhere.
            let literals: Vec<_> = env_vars(&c)
                .filter_map(|e| Some((e.value.get("value")?.as_str()?, e)))
                .collect();
            let entries: Vec<(&str, &str)> = literals.iter().map(|(v, e)| (e.name, *v)).collect();
            for (i, detection) in detect_entries(&entries) {
                let env = &literals[i].1;
                out.emit(
                    object,
                    &env.path.key("value"),
                    format!(
                        "container {:?} env var {:?} holds {} as a literal value",
                        c.name,
                        env.name,
                        detection.describe()
                    ),
                );
            }
            // The command line is as public as the env: `ps`, `/proc/<pid>/cmdline`, the pod spec.
            for field in ["command", "args"] {
                let Some(list) = c.value.get(field).and_then(Value::as_array) else {
                    continue;
                };
                let args: Vec<&str> = list.iter().map(|a| a.as_str().unwrap_or("")).collect();
                for (i, detection) in detect_args(&args) {
                    out.emit(
                        object,
                        &c.path.key(field).index(i),
                        format!(
                            "container {:?} {field}[{i}] holds {} as a literal value",
                            c.name,
                            detection.describe()
                        ),
                    );
                }
            }
        }
    }
}
