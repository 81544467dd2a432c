use kubevigil_model::time::{format_rfc3339_ms, parse_rfc3339_ms};
use kubevigil_model::{FieldPath, Object, Severity};
use serde_json::Value;

use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct SecretNotRotated;

static META: RuleMeta = RuleMeta {
    id: "secret-not-rotated",
    title: "Secret not changed for longer than the rotation period",
    severity: Severity::Low,
    category: Category::SensitiveData,
    doc: include_str!("secret_not_rotated.md"),
    remediation: "Rotate the credential at its source, write the new value into the Secret, and restart what reads it; for service account tokens, use projected tokens (TokenRequest) instead of token Secrets.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.4.1",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: MITRE,
            id: "T1552.007",
            url: "https://attack.mitre.org/techniques/T1552/007/",
        },
    ],
};

/// Secret types that hold no credential to rotate (Helm's release records) or expire by
/// themselves (bootstrap tokens carry `expiration`).
const SKIPPED_TYPES: &[&str] = &["helm.sh/release.v1", "bootstrap.kubernetes.io/token"];

const DAY_MS: i64 = 86_400_000;

/// When the Secret's value was last written, in ms since the epoch: the newest of
/// `creationTimestamp` and the `time` of the `metadata.managedFields` entries whose fields
/// touch `data` or `stringData` (the API server updates `time` on every write by that manager:
/// k8s.io/apimachinery/pkg/apis/meta/v1 ManagedFieldsEntry). `None` without a creation time
/// (manifests that were never applied).
pub fn last_written_ms(o: &Object) -> Option<i64> {
    let meta = o.value.get("metadata")?;
    let created = meta
        .get("creationTimestamp")
        .and_then(Value::as_str)
        .and_then(parse_rfc3339_ms)?;
    let updated = meta
        .get("managedFields")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter(|e| {
            e.get("fieldsV1")
                .and_then(Value::as_object)
                .is_some_and(|f| f.contains_key("f:data") || f.contains_key("f:stringData"))
        })
        .filter_map(|e| {
            e.get("time")
                .and_then(Value::as_str)
                .and_then(parse_rfc3339_ms)
        })
        .max();
    Some(updated.map_or(created, |u| u.max(created)))
}

impl Check<Config> for SecretNotRotated {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        kind == "Secret"
    }

    fn check_object(&self, config: &Config, o: &Object, out: &mut Emitter) {
        if o.api_version != "v1" {
            return;
        }
        // A cluster's Secrets are read as metadata only, without `type`: the same Secrets are
        // then known by the metadata their controllers give them.
        let ty = o
            .value
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or_else(|| {
                let annotations = o.annotations();
                if o.labels().get("owner").and_then(Value::as_str) == Some("helm")
                    && o.name.starts_with("sh.helm.release.v1.")
                {
                    "helm.sh/release.v1"
                } else if o.name.starts_with("bootstrap-token-")
                    && o.namespace.as_deref() == Some("kube-system")
                {
                    "bootstrap.kubernetes.io/token"
                } else if annotations.contains_key("kubernetes.io/service-account.name") {
                    "kubernetes.io/service-account-token"
                } else {
                    ""
                }
            });
        if SKIPPED_TYPES.contains(&ty) {
            return;
        }
        // Controllers that own a Secret, and cert-manager, rewrite it in place: its age is not
        // the age of its value.
        let owned = o
            .value
            .pointer("/metadata/ownerReferences")
            .and_then(Value::as_array)
            .is_some_and(|a| !a.is_empty());
        let renewed = o
            .annotations()
            .keys()
            .any(|k| k.starts_with("cert-manager.io/"));
        if owned || renewed {
            return;
        }
        let Some(written) = last_written_ms(o) else {
            return;
        };
        let max_days = config.secrets.max_age_days;
        let now = config.secrets.now_ms();
        if now - written <= i64::from(max_days) * DAY_MS {
            return;
        }
        let what = if ty == "kubernetes.io/service-account-token" {
            "long-lived service account token"
        } else {
            "value"
        };
        out.emit(
            o,
            &FieldPath::parse_keys("metadata.creationTimestamp"),
            format!(
                "Secret {}/{}: {what} last written {}, longer ago than the rotation period of {max_days} days",
                o.namespace.as_deref().unwrap_or("default"),
                o.name,
                &format_rfc3339_ms(written)[..10],
            ),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};

    const NOW: &str = "2026-06-01T00:00:00Z";

    fn findings(yaml: &str, max_age_days: u32) -> Vec<String> {
        let mut loaded = Loaded::default();
        load_text_into("s.yaml", yaml, &LoadOptions::default(), &mut loaded);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let mut config = Config::default();
        config.secrets.max_age_days = max_age_days;
        config.secrets.now_ms = parse_rfc3339_ms(NOW);
        let mut out = Emitter::new(&META);
        for o in &loaded.inventory.objects {
            SecretNotRotated.check_object(&config, o, &mut out);
        }
        out.findings.iter().map(|f| f.message.to_string()).collect()
    }

    fn secret(extra_meta: &str, ty: &str) -> String {
        format!(
            "apiVersion: v1\nkind: Secret\nmetadata:\n  name: db\n  namespace: shop\n{extra_meta}type: {ty}\ndata: {{password: aHVudGVyMg==}}\n"
        )
    }

    #[test]
    fn ages_against_the_period() {
        // (metadata lines, type, period in days, reported)
        let cases: &[(&str, &str, u32, bool)] = &[
            // 152 days old.
            (
                "  creationTimestamp: '2026-01-01T00:00:00Z'\n",
                "Opaque",
                90,
                true,
            ),
            (
                "  creationTimestamp: '2026-01-01T00:00:00Z'\n",
                "Opaque",
                200,
                false,
            ),
            // Exactly the period: not yet over it.
            (
                "  creationTimestamp: '2026-03-03T00:00:00Z'\n",
                "Opaque",
                90,
                false,
            ),
            (
                "  creationTimestamp: '2026-03-02T23:59:59Z'\n",
                "Opaque",
                90,
                true,
            ),
            // No creation time (a manifest never applied): nothing to judge.
            ("", "Opaque", 90, false),
            (
                "  creationTimestamp: '2020-01-01T00:00:00Z'\n",
                "helm.sh/release.v1",
                90,
                false,
            ),
            (
                "  creationTimestamp: '2020-01-01T00:00:00Z'\n",
                "bootstrap.kubernetes.io/token",
                90,
                false,
            ),
            (
                "  creationTimestamp: '2020-01-01T00:00:00Z'\n",
                "kubernetes.io/service-account-token",
                90,
                true,
            ),
            (
                "  creationTimestamp: '2020-01-01T00:00:00Z'\n  annotations: {cert-manager.io/certificate-name: web}\n",
                "kubernetes.io/tls",
                90,
                false,
            ),
            (
                "  creationTimestamp: '2020-01-01T00:00:00Z'\n  ownerReferences: [{apiVersion: external-secrets.io/v1beta1, kind: ExternalSecret, name: db, uid: u}]\n",
                "Opaque",
                90,
                false,
            ),
            // Written again last month through kubectl apply: recent.
            (
                "  creationTimestamp: '2020-01-01T00:00:00Z'\n  managedFields:\n  - {manager: kubectl, operation: Apply, time: '2026-05-01T00:00:00Z', fieldsV1: {'f:data': {'f:password': {}}}}\n",
                "Opaque",
                90,
                false,
            ),
            // A later write that touched only labels does not count as a rotation.
            (
                "  creationTimestamp: '2020-01-01T00:00:00Z'\n  managedFields:\n  - {manager: kubectl, operation: Update, time: '2026-05-01T00:00:00Z', fieldsV1: {'f:metadata': {'f:labels': {}}}}\n",
                "Opaque",
                90,
                true,
            ),
        ];
        for (meta, ty, days, reported) in cases {
            let got = findings(&secret(meta, ty), *days);
            assert_eq!(!got.is_empty(), *reported, "{meta} {ty} {days}: {got:?}");
        }
    }

    /// Read from a cluster, Secrets are metadata only (no `type`): Helm records and bootstrap
    /// tokens are known by their names and labels, token Secrets by their annotation.
    #[test]
    fn cluster_secrets_without_type_are_known_by_their_metadata() {
        let meta = |name: &str, ns: &str, extra: &str| {
            format!(
                "apiVersion: v1\nkind: Secret\nmetadata:\n  name: {name}\n  namespace: {ns}\n  creationTimestamp: '2020-01-01T00:00:00Z'\n{extra}"
            )
        };
        let cases = [
            (
                meta(
                    "sh.helm.release.v1.shop.v3",
                    "shop",
                    "  labels: {owner: helm}\n",
                ),
                false,
            ),
            (meta("bootstrap-token-abcdef", "kube-system", ""), false),
            (meta("bootstrap-token-abcdef", "shop", ""), true),
            (meta("sh.helm.release.v1.shop.v3", "shop", ""), true),
            (
                meta(
                    "ci-token",
                    "ci",
                    "  annotations: {kubernetes.io/service-account.name: ci}\n",
                ),
                true,
            ),
            (meta("db", "shop", ""), true),
        ];
        for (yaml, reported) in cases {
            let got = findings(&yaml, 90);
            assert_eq!(!got.is_empty(), reported, "{yaml}: {got:?}");
        }
        let token = findings(
            &meta(
                "ci-token",
                "ci",
                "  annotations: {kubernetes.io/service-account.name: ci}\n",
            ),
            90,
        );
        assert!(
            token[0].contains("long-lived service account token"),
            "{token:?}"
        );
    }

    #[test]
    fn the_message_names_the_date_and_never_the_value() {
        let got = findings(
            &secret("  creationTimestamp: '2026-01-01T00:00:00Z'\n", "Opaque"),
            90,
        );
        assert_eq!(
            got,
            [
                "Secret shop/db: value last written 2026-01-01, longer ago than the rotation period of 90 days"
            ]
        );
        assert!(!got[0].contains("aHVudGVyMg") && !got[0].contains("hunter2"));
    }
}
