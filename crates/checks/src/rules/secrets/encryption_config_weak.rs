use kubevigil_model::{FieldPath, Object, Severity};
use serde_json::Value;

use crate::{CIS, Category, Check, Config, Emitter, NSA, Ref, RuleMeta, Scope};

pub struct EncryptionConfigWeak;

static META: RuleMeta = RuleMeta {
    id: "encryption-config-weak",
    title: "Secrets not (or weakly) encrypted at rest",
    severity: Severity::High,
    category: Category::SensitiveData,
    doc: include_str!("encryption_config_weak.md"),
    remediation: "Cover secrets with a resources entry whose first provider is kms (apiVersion: v2), or aesgcm/secretbox with keys rotated; keep identity last only, to read data written before encryption.",
    references: &[
        Ref {
            framework: CIS,
            id: "1.2.27",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: NSA,
            id: "Secrets",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
    ],
};

/// Whether a `resources` entry of the configuration covers Secrets: `secrets`, `*.` (every
/// core-group resource) or `*.*` (k8s.io/apiserver pkg/server/options/encryptionconfig).
fn covers_secrets(resources: &[&str]) -> bool {
    resources
        .iter()
        .any(|r| matches!(*r, "secrets" | "*." | "*.*"))
}

impl Check<Config> for EncryptionConfigWeak {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kind == "EncryptionConfiguration"
    }

    fn check_object(&self, _: &Config, o: &Object, out: &mut Emitter) {
        if o.group() != "apiserver.config.k8s.io" {
            return;
        }
        let entries = o.value.get("resources").and_then(Value::as_array);
        let mut covered = false;
        for (i, e) in entries.into_iter().flatten().enumerate() {
            let resources: Vec<&str> = e
                .get("resources")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            if !covers_secrets(&resources) {
                continue;
            }
            // The first entry that names a resource decides it; later ones are not consulted.
            if covered {
                continue;
            }
            covered = true;
            let path = FieldPath::parse_keys("resources").index(i).key("providers");
            let first = e
                .get("providers")
                .and_then(Value::as_array)
                .and_then(|p| p.first())
                .and_then(Value::as_object);
            let Some((provider, config)) = first.and_then(|m| m.iter().next()) else {
                out.emit(
                    o,
                    &path,
                    "resources[] covering secrets lists no provider".into(),
                );
                continue;
            };
            let path = path.index(0).key(provider);
            let message = match provider.as_str() {
                "identity" => Some(
                    "the first provider for secrets is identity: Secrets are written to etcd unencrypted"
                        .to_string(),
                ),
                "aescbc" => Some(
                    "the first provider for secrets is aescbc, which is vulnerable to padding-oracle attacks; upstream recommends kms v2, aesgcm or secretbox"
                        .to_string(),
                ),
                "kms" if config.get("apiVersion").and_then(Value::as_str).unwrap_or("v1") == "v1" => Some(
                    "the first provider for secrets is KMS v1, deprecated since Kubernetes 1.28 and disabled by default since 1.29; use apiVersion: v2".to_string(),
                ),
                _ => None,
            };
            if let Some(m) = message {
                out.emit(o, &path, m);
            }
        }
        if !covered {
            out.emit(
                o,
                &FieldPath::parse_keys("resources"),
                "no resources entry covers secrets (secrets, *. or *.*): Secrets are stored unencrypted".into(),
            );
        }
    }
}
