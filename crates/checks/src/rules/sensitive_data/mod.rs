pub mod annotation_credential;
pub mod configmap_credential;
pub mod env_literal_credential;
pub mod secret_as_env_var;
pub mod secret_literal_values;
pub mod service_account_default_used;
pub mod service_account_token_automount;

#[cfg(test)]
mod tests {
    use std::path::Path;

    use kubevigil_model::{LoadOptions, load_paths};

    use crate::{Config, registry, run_scan};

    /// Secret parts of the fake credentials in the fixtures of the two credential checks.
    const FIXTURE_SECRETS: &[&str] = &[
        "IOSFODNN7EXAMPLE",
        "wJalrXUtnFEMI/K7MDENG",
        "Hunter2-fixture-pw",
        "Conn-fixture-pw",
        "sk_fixture_51H",
        "Jvm-fixture-pw",
        "MIIEfixture",
        "Opaque-fixture-bearer",
        "FIXTUREfixture0123",
        "1111111111-fixture-slack",
        "eyJzdWIiOiJmaXh0dXJlIn0",
        "Zml4dHVyZS1zaWduYXR1cmU",
        "FIXTURE0fixture1",
        "Redis-fixture-pw",
        "Cm-fixture-pw",
        "Props-fixture-pw",
        "Json-fixture-apikey",
        "Cm-fixture-bearer",
        "3q2+7w==",
        "Secret-fixture-pw",
        "LS0tLS1CRUdJTiBFQyBQUklWQVRFIEtFWS0tLS0tCk1IY0NBUUVFSUZJWFRVUkVmaXh0dXJl",
        "Slackfixturehook0123456789",
        "Discord-fixture-hook_0123456789abcdef",
        "0123456789abcdef0123456789abcdef",
        "cm9ib3Q6RG9ja2VyLWZpeHR1cmUtcHc=",
        "Tsig+fixture/Key0123456789",
        "Args-fixture-pw",
        "Args-fixture-token-0123",
        "Url-fixture-pw",
        "FIXTUREfixtureFIXTUREfixture01234567",
        "Slv-fixture-pw",
        "Slv-fixture-apikey",
        "U2x2Rml4dHVyZVJhbmRvbTAxMjM0NTY3ODk=",
        "cm9ib3Q6U2x2LWRvY2tlci1maXh0dXJl",
        "MIIEAnnotationFixtureKeyMaterial0123456789abcdef",
        "Annotationfixturehook0123",
        "Z2hwX0FOTk9UQVRJT05maXh0dXJlRklYVFVSRWZpeHR1cmUwMTIz",
    ];

    /// Runs every check over the credential fixtures and asserts that no finding, whatever its
    /// field, contains a secret (the report formats only render finding fields).
    #[test]
    fn findings_never_contain_fixture_secrets() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures");
        let mut files = Vec::new();
        for id in [
            "env-literal-credential",
            "configmap-credential",
            "secret-literal-values",
            "annotation-credential",
        ] {
            for kind in ["fail", "pass"] {
                for e in std::fs::read_dir(root.join(id).join(kind)).unwrap() {
                    files.push(e.unwrap().path());
                }
            }
        }
        let all_text: String = files
            .iter()
            .map(|f| std::fs::read_to_string(f).unwrap())
            .collect();
        for s in FIXTURE_SECRETS {
            assert!(all_text.contains(s), "{s} is not in the fixtures any more");
        }
        let loaded = load_paths(&files, &LoadOptions::default());
        let outcome = run_scan(
            &loaded.inventory,
            &Config::default(),
            registry(),
            Vec::new(),
            None,
        );
        let credential_findings = outcome
            .findings
            .iter()
            .filter(|f| {
                f.check_id.ends_with("-credential") || f.check_id == "secret-literal-values"
            })
            .count();
        assert!(credential_findings >= 35, "{credential_findings}");
        let json = serde_json::to_string(&outcome.findings).unwrap();
        for s in FIXTURE_SECRETS {
            assert!(!json.contains(s), "a finding leaks {s}");
        }
    }
}
