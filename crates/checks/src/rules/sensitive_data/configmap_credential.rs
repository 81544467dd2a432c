use kubevigil_model::Object;
use kubevigil_model::{FieldPath, Severity};
use serde_json::Value;

use crate::rules::credentials::{decode_base64, detect_entries};
use crate::{CIS, Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct ConfigMapCredential;

static META: RuleMeta = RuleMeta {
    id: "configmap-credential",
    title: "Credential stored in a ConfigMap",
    severity: Severity::High,
    category: Category::SensitiveData,
    doc: include_str!("configmap_credential.md"),
    remediation: "Rotate the credential and move it to a Secret (or an external secret store) mounted as a file; keep only non-sensitive settings in the ConfigMap.",
    references: &[
        Ref {
            framework: NSA,
            id: "Secrets",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: CIS,
            id: "5.4.2",
            url: "",
        },
        Ref {
            framework: MITRE,
            id: "T1552.001",
            url: "https://attack.mitre.org/techniques/T1552/001/",
        },
    ],
};

impl Check<Config> for ConfigMapCredential {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kind == "ConfigMap"
    }

    fn check_object(&self, _: &Config, object: &Object, out: &mut Emitter) {
        if object.api_version != "v1" {
            return;
        }
        // (field, key, text): binaryData is scanned once decoded; non-text binary content is
        // still judged by its key name.
        let mut entries: Vec<(&str, &str, String)> = Vec::new();
        for field in ["data", "binaryData"] {
            let Some(map) = object.value.get(field).and_then(Value::as_object) else {
                continue;
            };
            for (key, value) in map {
                // Knative-style documentation blocks: `_example` holds commented sample settings.
                if key.starts_with("_example") {
                    continue;
                }
                let Some(text) = value.as_str() else { continue };
                let text = if field == "binaryData" {
                    match decode_base64(text).map(String::from_utf8) {
                        Some(Ok(decoded)) => decoded,
                        _ => "(binary content)".to_string(),
                    }
                } else {
                    text.to_string()
                };
                entries.push((field, key, text));
            }
        }
        let pairs: Vec<(&str, &str)> = entries.iter().map(|(_, k, t)| (*k, t.as_str())).collect();
        for (i, detection) in detect_entries(&pairs) {
            let (field, key, _) = &entries[i];
            out.emit(
                object,
                &FieldPath::root().key(field).key(key),
                format!(
                    "ConfigMap key {key:?} ({field}) holds {}",
                    detection.describe()
                ),
            );
        }
    }
}
