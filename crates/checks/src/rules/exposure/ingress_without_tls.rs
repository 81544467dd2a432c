use kubevigil_model::Object;
use kubevigil_model::{FieldPath, Severity};
use serde_json::Value;

use crate::{Category, Check, Config, Emitter, MITRE, NSA, Ref, RuleMeta, Scope};

pub struct IngressWithoutTls;

static META: RuleMeta = RuleMeta {
    id: "ingress-without-tls",
    title: "Ingress serves hosts without TLS",
    severity: Severity::Medium,
    category: Category::Exposure,
    doc: include_str!("ingress_without_tls.md"),
    remediation: "Add spec.tls entries (with a certificate Secret, e.g. issued by cert-manager) covering every host of spec.rules, and redirect HTTP to HTTPS.",
    references: &[
        Ref {
            framework: NSA,
            id: "Encryption",
            url: "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF",
        },
        Ref {
            framework: MITRE,
            id: "T1040",
            url: "https://attack.mitre.org/techniques/T1040/",
        },
        Ref {
            framework: MITRE,
            id: "T1557",
            url: "https://attack.mitre.org/techniques/T1557/",
        },
    ],
};

/// Whether a TLS host covers a rule host. A TLS wildcard `*.example.com` covers exactly one label
/// (`a.example.com`, not `example.com` nor `a.b.example.com`), as certificate wildcards do
/// (RFC 6125 §6.4.3); a wildcard rule host is covered only by the same wildcard.
fn covers(tls_host: &str, rule_host: &str) -> bool {
    if tls_host.eq_ignore_ascii_case(rule_host) {
        return true;
    }
    match (tls_host.strip_prefix("*."), rule_host.starts_with("*.")) {
        (Some(suffix), false) => rule_host
            .split_once('.')
            .is_some_and(|(label, rest)| !label.is_empty() && rest.eq_ignore_ascii_case(suffix)),
        _ => false,
    }
}

impl Check<Config> for IngressWithoutTls {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kind == "Ingress"
    }

    fn check_object(&self, _: &Config, object: &Object, out: &mut Emitter) {
        if !matches!(object.group(), "networking.k8s.io" | "extensions") {
            return;
        }
        let tls = object
            .value
            .pointer("/spec/tls")
            .and_then(Value::as_array)
            .filter(|t| !t.is_empty());
        let Some(tls) = tls else {
            out.emit(
                object,
                &FieldPath::parse_keys("spec.tls"),
                "Ingress has no spec.tls: every host is served over plain HTTP".to_string(),
            );
            return;
        };
        // A TLS entry without hosts applies to the controller's default (any) host.
        let catch_all = tls.iter().any(|t| {
            t.get("hosts")
                .and_then(Value::as_array)
                .is_none_or(|h| h.is_empty())
        });
        let tls_hosts: Vec<&str> = tls
            .iter()
            .filter_map(|t| t.get("hosts").and_then(Value::as_array))
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let rules = object
            .value
            .pointer("/spec/rules")
            .and_then(Value::as_array);
        for (i, rule) in rules.into_iter().flatten().enumerate() {
            let host = rule.get("host").and_then(Value::as_str).unwrap_or("");
            let covered = if host.is_empty() {
                catch_all
            } else {
                catch_all || tls_hosts.iter().any(|t| covers(t, host))
            };
            if covered {
                continue;
            }
            let path = FieldPath::parse_keys("spec.rules").index(i);
            if host.is_empty() {
                out.emit(
                    object,
                    &path,
                    "Ingress rule without a host (any host) is not covered by a spec.tls entry: it is served over plain HTTP".to_string(),
                );
            } else {
                out.emit(
                    object,
                    &path.key("host"),
                    format!("Ingress host {host:?} is not covered by any spec.tls hosts entry: it is served over plain HTTP"),
                );
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::covers;

    #[test]
    fn wildcard_coverage() {
        assert!(covers("shop.example.com", "SHOP.example.com"));
        assert!(covers("*.example.com", "shop.example.com"));
        assert!(!covers("*.example.com", "example.com"));
        assert!(!covers("*.example.com", "a.shop.example.com"));
        assert!(covers("*.example.com", "*.example.com"));
        assert!(!covers("shop.example.com", "*.example.com"));
        assert!(!covers("*.example.com", "*.shop.example.com"));
    }
}
