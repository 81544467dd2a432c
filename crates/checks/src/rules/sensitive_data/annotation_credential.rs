use kubevigil_model::Object;
use kubevigil_model::{FieldPath, Severity};
use serde_json::Value;

use crate::rules::credentials::{decode_base64, detect_value};
use crate::{Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct AnnotationCredential;

static META: RuleMeta = RuleMeta {
    id: "annotation-credential",
    title: "Credential in an annotation",
    severity: Severity::High,
    category: Category::SensitiveData,
    doc: include_str!("annotation_credential.md"),
    remediation: "Rotate the credential and remove it from the annotation; store it in a Secret (or an external secret store) and reference the Secret by name.",
    references: &[
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

impl Check<Config> for AnnotationCredential {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, _: &str) -> bool {
        true
    }

    fn check_object(&self, _: &Config, object: &Object, out: &mut Emitter) {
        let Some(annotations) = object
            .value
            .get("metadata")
            .and_then(|m| m.get("annotations"))
            .and_then(Value::as_object)
        else {
            return;
        };
        for (key, value) in annotations {
            // A copy of the object itself, judged by the checks of its own fields.
            if key == "kubectl.kubernetes.io/last-applied-configuration" {
                continue;
            }
            let Some(text) = value.as_str() else { continue };
            // By value only: annotation names such as `vault.hashicorp.com/agent-inject-secret-db`
            // say what to fetch, not what is there. A base64 value is judged once decoded too.
            let decoded = (text.len() >= 16)
                .then(|| decode_base64(text))
                .flatten()
                .and_then(|b| String::from_utf8(b).ok());
            let Some(detection) =
                detect_value(text, false).or_else(|| decoded.and_then(|d| detect_value(&d, false)))
            else {
                continue;
            };
            out.emit(
                object,
                &FieldPath::root()
                    .key("metadata")
                    .key("annotations")
                    .key(key),
                format!("annotation {key:?} holds {}", detection.describe()),
            );
        }
    }
}
