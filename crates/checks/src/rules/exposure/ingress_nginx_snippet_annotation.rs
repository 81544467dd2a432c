use kubevigil_model::{FieldPath, Object, Severity};

use crate::{Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct IngressNginxSnippetAnnotation;

static META: RuleMeta = RuleMeta {
    id: "ingress-nginx-snippet-annotation",
    title: "Ingress injects raw NGINX configuration through a snippet annotation",
    severity: Severity::High,
    category: Category::Exposure,
    doc: include_str!("ingress_nginx_snippet_annotation.md"),
    remediation: "Replace the snippet with the dedicated ingress-nginx annotations or ConfigMap options, and keep allow-snippet-annotations: false on the controller.",
    references: &[
        Ref {
            framework: "CVE",
            id: "CVE-2021-25742",
            url: "https://github.com/kubernetes/ingress-nginx/issues/7837",
        },
        Ref {
            framework: "CVE",
            id: "CVE-2023-5043",
            url: "https://github.com/kubernetes/ingress-nginx/issues/10571",
        },
        Ref {
            framework: "CVE",
            id: "CVE-2025-1974",
            url: "https://github.com/kubernetes/kubernetes/issues/131009",
        },
        Ref {
            framework: MITRE,
            id: "T1190",
            url: "https://attack.mitre.org/techniques/T1190/",
        },
    ],
};

const PREFIX: &str = "nginx.ingress.kubernetes.io/";

impl Check<Config> for IngressNginxSnippetAnnotation {
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
        // configuration-snippet, server-snippet, auth-snippet, stream-snippet,
        // modsecurity-snippet, and any later one. Only the key is reported, never the value.
        for key in object.annotations().keys() {
            let is_snippet = key
                .strip_prefix(PREFIX)
                .is_some_and(|name| name.ends_with("-snippet"));
            if !is_snippet {
                continue;
            }
            out.emit(
                object,
                &FieldPath::parse_keys("metadata.annotations").key(key),
                format!(
                    "Ingress sets annotation {key:?}: its value is pasted verbatim into the ingress-nginx controller's nginx.conf, which runs with the controller's credentials (all Secrets it can read)"
                ),
            );
        }
    }
}
