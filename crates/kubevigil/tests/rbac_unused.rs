//! `kubevigil rbac unused`: least privilege from audit logs, through the real binary. The
//! proposals are applied by a real kubectl (`apply --dry-run=client`) to the test API server and
//! read back as k8s-openapi's typed RBAC objects; hostile identities reach no terminal raw.
//! Under CI (`CI` set) a missing kubectl fails the test; `.ci/run` installs Debian's
//! `kubernetes-client`.

use std::path::{Path, PathBuf};
use std::process::Command;

use k8s_openapi::api::rbac::v1::{ClusterRole, ClusterRoleBinding, Role, RoleBinding};
use kubevigil_model::{LoadOptions, load_paths};
use kubevigil_testapi::TestApi;
use serde_json::Value;

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

fn run(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(args)
        .output()
        .unwrap();
    (
        out.status.code().unwrap(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn example(format: &str) -> (i32, String, String) {
    let log = repo("examples/audit/rbac-usage.log");
    let rbac = repo("examples/rbac");
    run(&[
        "rbac",
        "unused",
        "--audit",
        log.to_str().unwrap(),
        "-o",
        format,
        rbac.to_str().unwrap(),
    ])
}

#[test]
fn the_example_week_of_audit_events() {
    let (code, out, err) = example("json");
    assert_eq!(code, 0, "{err}");
    let r: Value = serde_json::from_str(&out).unwrap();
    assert_eq!(
        (
            &r["decided"],
            &r["denied"],
            &r["undecided"],
            &r["unreadable"]
        ),
        (&106.into(), &2.into(), &1.into(), &0.into())
    );
    assert_eq!(r["from"], "2026-11-23T00:00:00.000Z");
    assert_eq!(r["to"], "2026-11-29T18:06:00.000Z");
    let unused: Vec<String> = r["unused"]
        .as_array()
        .unwrap()
        .iter()
        .map(|u| {
            format!(
                "{} {} {} rules[{}]",
                u["subject"]["kind"].as_str().unwrap(),
                u["subject"]["name"].as_str().unwrap(),
                u["binding"]["name"].as_str().unwrap(),
                u["rule"]
            )
        })
        .collect();
    // CI used cluster-admin's resource rule, never its non-resource one.
    assert!(unused.contains(&"ServiceAccount ci ci-cluster-admin rules[1]".to_string()));
    assert!(!unused.contains(&"ServiceAccount ci ci-cluster-admin rules[0]".to_string()));
    // The API and the metrics agent used every rule they hold.
    assert!(
        !unused
            .iter()
            .any(|u| u.contains(" api ") || u.contains("metrics-agent"))
    );
    // Alice read pods and logs through `edit` (rules 12 and 13 come from `view`).
    assert!(unused.contains(&"User alice developers-edit rules[0]".to_string()));
    assert!(
        !unused
            .iter()
            .any(|u| u.starts_with("User alice") && u.ends_with("rules[12]"))
    );
    assert_eq!(r["granted"], 47);
    let proposals: Vec<(String, u64, usize)> = r["proposals"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            (
                p["subject"]["name"].as_str().unwrap().to_string(),
                p["requests"].as_u64().unwrap(),
                p["objects"].as_array().unwrap().len(),
            )
        })
        .collect();
    assert_eq!(
        proposals,
        [
            ("api".to_string(), 28, 2),
            ("ci".to_string(), 37, 4),
            ("metrics-agent".to_string(), 28, 2),
            ("alice".to_string(), 15, 2),
        ]
    );
    // The Secret's value is in examples/rbac; no output carries it.
    for format in ["json", "yaml", "table"] {
        let (_, out, _) = example(format);
        assert!(!out.contains("c2hvcC1leGFtcGxlLW9ubHk") && !out.contains("shop-example-only"));
    }
}

fn kubectl() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("kubectl"))
        .chain([PathBuf::from("/usr/bin/kubectl")])
        .find(|p| p.is_file());
    if found.is_none() && std::env::var_os("CI").is_some() {
        panic!("kubectl is missing (CI is set: install Debian's kubernetes-client)");
    }
    found
}

/// Reads an object back as k8s-openapi's type and writes it again: a field the type does not
/// have, or a value of the wrong type, makes the round trip differ or fail.
fn typed_round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) {
    let typed: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"));
    assert_eq!(&serde_json::to_value(&typed).unwrap(), v);
}

#[test]
fn proposals_are_rbac_objects_kubectl_applies() {
    let (code, yaml, err) = example("yaml");
    assert_eq!(code, 0, "{err}");
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("proposal.yaml");
    std::fs::write(&file, &yaml).unwrap();
    let loaded = load_paths(&[&file], &LoadOptions::default());
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let objects = &loaded.inventory.objects;
    assert_eq!(objects.len(), 10);
    for o in objects {
        match o.kind.as_str() {
            "Role" => typed_round_trip::<Role>(&o.value),
            "RoleBinding" => typed_round_trip::<RoleBinding>(&o.value),
            "ClusterRole" => typed_round_trip::<ClusterRole>(&o.value),
            "ClusterRoleBinding" => typed_round_trip::<ClusterRoleBinding>(&o.value),
            other => panic!("unexpected kind {other}"),
        }
    }
    let Some(kubectl) = kubectl() else {
        eprintln!("skipped the kubectl part: kubectl is missing");
        return;
    };
    let api = TestApi::start().unwrap();
    api.write_kubeconfig(&dir.path().join("config"), "test")
        .unwrap();
    // Validation would download the OpenAPI document (protobuf), which the test server does not
    // serve; the typed round trip above checks the schema instead.
    let out = Command::new(kubectl)
        .arg("--kubeconfig")
        .arg(dir.path().join("config"))
        .arg("--cache-dir")
        .arg(dir.path().join("cache"))
        .args(["apply", "--dry-run=client", "--validate=false", "-f"])
        .arg(&file)
        .env("HOME", dir.path())
        .env_remove("KUBECONFIG")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(stdout.matches("created (dry run)").count(), 10, "{stdout}");
}

#[test]
fn hostile_identities_reach_no_output_raw() {
    let dir = tempfile::tempdir().unwrap();
    let evil = "mallory\u{1b}]0;pwned\u{7}\u{202e}";
    let rbac = format!(
        "apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {{name: reader}}
rules:
- {{apiGroups: [''], resources: [pods], verbs: [list]}}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {{name: reader}}
roleRef: {{apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: reader}}
subjects:
- {{apiGroup: rbac.authorization.k8s.io, kind: User, name: {}}}
",
        serde_json::to_string(evil).unwrap()
    );
    std::fs::write(dir.path().join("rbac.yaml"), rbac).unwrap();
    let event = serde_json::json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata", "auditID": "a-1",
        "stage": "ResponseComplete", "requestURI": "/api/v1/pods", "verb": "list",
        "user": {"username": evil, "groups": ["system:authenticated"]},
        "objectRef": {"resource": "pods", "apiVersion": "v1"},
        "responseStatus": {"code": 200},
        "stageTimestamp": "2026-11-30T10:00:00.000000Z"
    });
    std::fs::write(dir.path().join("audit.log"), format!("{event}\n")).unwrap();
    for format in ["table", "json", "yaml"] {
        let (code, out, err) = run(&[
            "rbac",
            "unused",
            "--audit",
            dir.path().join("audit.log").to_str().unwrap(),
            "-o",
            format,
            dir.path().join("rbac.yaml").to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{err}");
        assert!(
            !out.contains('\u{1b}') && !out.contains('\u{7}') && !out.contains('\u{202e}'),
            "{format}: {out:?}"
        );
        assert!(out.contains("mallory"), "{format}: {out}");
    }
}
