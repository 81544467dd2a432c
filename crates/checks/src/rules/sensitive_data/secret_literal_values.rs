use kubevigil_model::Object;
use kubevigil_model::{FieldPath, Severity};
use serde_json::Value;

use crate::rules::credentials::{Detection, decode_base64, detect_entries, is_placeholder};
use crate::{CIS, Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct SecretLiteralValues;

static META: RuleMeta = RuleMeta {
    id: "secret-literal-values",
    title: "Secret manifest with literal credential values",
    severity: Severity::High,
    category: Category::SensitiveData,
    doc: include_str!("secret_literal_values.md"),
    remediation: "Rotate the value (it is in every copy and in the history of this manifest) and stop committing it: encrypt it (Sealed Secrets, SOPS) or fetch it from a secret store at deploy time (External Secrets Operator, Secrets Store CSI driver).",
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

/// A key that names a file (`tls.key`, `config.yaml`, `.dockerconfigjson`) or a multi-line value:
/// judged by its content only, since a file name says little about what the file holds.
fn file_like(key: &str, text: &str) -> bool {
    key.contains('.') || text.trim_end().contains('\n')
}

/// Public material: certificates (and their bundles) without a private key.
fn public_only(text: &str) -> bool {
    text.contains("-----BEGIN") && !text.contains("PRIVATE KEY")
}

/// A single random-looking word: 20 to 128 characters mixing upper case, lower case and digits.
fn random_looking(text: &str) -> bool {
    let t = text.trim();
    (20..=128).contains(&t.len())
        && !t.contains(char::is_whitespace)
        && !t.contains("://")
        && t.bytes().any(|b| b.is_ascii_uppercase())
        && t.bytes().any(|b| b.is_ascii_lowercase())
        && t.bytes().any(|b| b.is_ascii_digit())
        && !is_placeholder(t)
}

impl Check<Config> for SecretLiteralValues {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kind == "Secret"
    }

    fn check_object(&self, _: &Config, object: &Object, out: &mut Emitter) {
        if object.api_version != "v1" {
            return;
        }
        // The control plane fills service-account-token Secrets; a manifest only declares them.
        if object.value.get("type").and_then(Value::as_str)
            == Some("kubernetes.io/service-account-token")
        {
            return;
        }
        // (field, key, text, binary): `data` is decoded; a value that is not base64 (rejected by the
        // API server, but committed all the same) is judged as written.
        let mut entries: Vec<(&str, &str, String, bool)> = Vec::new();
        for field in ["data", "stringData"] {
            let Some(map) = object.value.get(field).and_then(Value::as_object) else {
                continue;
            };
            for (key, value) in map {
                let Some(raw) = value.as_str() else { continue };
                let (text, binary) = if field == "data" {
                    match decode_base64(raw).map(String::from_utf8) {
                        Some(Ok(decoded)) => (decoded, false),
                        Some(Err(_)) => (String::new(), true),
                        None => (raw.to_string(), false),
                    }
                } else {
                    (raw.to_string(), false)
                };
                entries.push((field, key, text, binary));
            }
        }
        // File-like entries are given no name, so that only their content counts.
        let pairs: Vec<(&str, &str)> = entries
            .iter()
            .map(|(_, k, t, binary)| {
                let name = if file_like(k, t) && !binary { "" } else { *k };
                (
                    name,
                    if *binary {
                        "(binary content)"
                    } else {
                        t.as_str()
                    },
                )
            })
            .collect();
        let mut found: Vec<(usize, Detection)> = detect_entries(&pairs)
            .into_iter()
            .filter(|(i, _)| !public_only(&entries[*i].2))
            .collect();
        for (i, (_, key, text, binary)) in entries.iter().enumerate() {
            if !binary
                && !file_like(key, text)
                && !found.iter().any(|(j, _)| *j == i)
                && random_looking(text)
            {
                found.push((
                    i,
                    Detection {
                        kind: "random-looking secret value",
                        hint: None,
                        inner_key: None,
                    },
                ));
            }
        }
        found.sort_by_key(|(i, _)| *i);
        for (i, detection) in found {
            let (field, key, _, _) = &entries[i];
            out.emit(
                object,
                &FieldPath::root().key(field).key(key),
                format!(
                    "Secret key {key:?} ({field}) holds {} committed as a literal value",
                    detection.describe()
                ),
            );
        }
    }
}
