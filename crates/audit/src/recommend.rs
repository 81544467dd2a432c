//! The recommended audit policy printed by `kubevigil audit policy recommend`
//! (`policies/recommended.yaml`): commented, guide-compliant, and lint-clean (tested).

/// The policy text, comments included.
pub const RECOMMENDED_POLICY: &str = include_str!("../policies/recommended.yaml");

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checker::{Checker, RequestAttributes};
    use crate::event::{Event, Level};
    use crate::policy::load_policy;

    #[test]
    fn recommended_policy_loads_and_lints_clean() {
        let loaded = load_policy("recommended.yaml", RECOMMENDED_POLICY).unwrap();
        assert!(loaded.warnings.is_empty(), "{:?}", loaded.warnings);
        let findings = crate::lint::lint(&loaded);
        assert!(findings.is_empty(), "{findings:#?}");
    }

    #[test]
    fn recommended_policy_covers_the_guide() {
        let checker = Checker::new(load_policy("r", RECOMMENDED_POLICY).unwrap().policy);
        let level = |e: &str| {
            checker
                .evaluate(&RequestAttributes::from_event(
                    &Event::parse(e.as_bytes()).unwrap(),
                ))
                .level
        };
        let user = r#""user":{"username":"alice","groups":["system:authenticated"]}"#;
        // ConfigMap changes at Request level in the chosen namespace, Metadata elsewhere.
        let cm = |ns: &str, verb: &str| {
            format!(
                r#"{{"verb":"{verb}",{user},"objectRef":{{"resource":"configmaps","namespace":"{ns}"}}}}"#
            )
        };
        assert_eq!(level(&cm("sample", "update")), Level::Request);
        assert_eq!(level(&cm("sample", "get")), Level::Metadata);
        assert_eq!(level(&cm("prod", "update")), Level::Metadata);
        // Health endpoints not logged.
        for path in ["/healthz", "/livez", "/readyz?verbose", "/healthz/etcd"] {
            assert_eq!(
                level(&format!(r#"{{"verb":"get",{user},"requestURI":"{path}"}}"#)),
                Level::None,
                "{path}"
            );
        }
        // Secrets never with bodies; RBAC changes in full; unknown things still recorded.
        assert_eq!(
            level(&format!(
                r#"{{"verb":"create",{user},"objectRef":{{"resource":"secrets","namespace":"a"}}}}"#
            )),
            Level::Metadata
        );
        assert_eq!(
            level(&format!(
                r#"{{"verb":"create",{user},"objectRef":{{"resource":"clusterrolebindings","apiGroup":"rbac.authorization.k8s.io"}}}}"#
            )),
            Level::RequestResponse
        );
        assert_eq!(
            level(&format!(
                r#"{{"verb":"create",{user},"objectRef":{{"resource":"widgets","apiGroup":"example.com"}}}}"#
            )),
            Level::Metadata
        );
    }
}
