//! `kubevigil monitor manifests` through the real binary: the install passes kubevigil's own
//! scan, its ClusterRole grants exactly what a snapshot reads, the audit webhook kubeconfig is
//! one kubectl reads, the audit policy is the recommended one, and `deploy/monitor` (rendered by
//! a real `kubectl kustomize`) is the same install. kubectl is required: missing, the tests
//! fail.

use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use serde_json::{Value, json};

const DIGEST_IMAGE: &str = "ghcr.io/kubevigil/kubevigil@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";

/// Runs the binary with `stdin`; (exit code, stdout, stderr).
fn kubevigil(args: &[&str], stdin: &str) -> (i32, String, String) {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(stdin.as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8(out.stdout).unwrap(),
        String::from_utf8(out.stderr).unwrap(),
    )
}

fn manifests(args: &[&str]) -> String {
    let (code, out, err) = kubevigil(&[&["monitor", "manifests"][..], args].concat(), "");
    assert_eq!(code, 0, "{err}");
    out
}

/// The objects of a YAML stream, as kubevigil's loader reads them.
fn objects(text: &str) -> Vec<Value> {
    let mut loaded = kubevigil_model::Loaded::default();
    kubevigil_model::load::load_text_into("manifests.yaml", text, &Default::default(), &mut loaded);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    loaded
        .inventory
        .objects
        .into_iter()
        .map(|o| o.value)
        .collect()
}

fn by_kind<'a>(objs: &'a [Value], kind: &str) -> Vec<&'a Value> {
    objs.iter().filter(|o| o["kind"] == kind).collect()
}

/// kubectl from PATH, else /usr/bin/kubectl; none is a failure (CI installs Debian's
/// kubernetes-client), never a skip.
fn kubectl() -> PathBuf {
    std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("kubectl"))
        .chain([PathBuf::from("/usr/bin/kubectl")])
        .find(|p| p.is_file())
        .expect("kubectl is missing: install it (Debian: kubernetes-client)")
}

/// kubectl's stdout; its failure fails the test.
fn run_kubectl(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(kubectl()).args(args).output().unwrap();
    assert!(
        out.status.success(),
        "kubectl {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// A check id and the kind of the object it is suppressed on.
type Suppressed = (&'static str, &'static str);

/// Each option set of the install scans clean above info; what is suppressed is exactly the
/// monitor's known exceptions, each with a reason.
#[test]
fn printed_manifests_pass_kubevigil_scan() {
    let cases: &[(&[&str], &[Suppressed])] = &[
        (
            &[],
            &[
                ("rbac-secrets-read", "ClusterRole"),
                ("service-account-token-automount", "Deployment"),
                ("rbac-workload-risky-service-account", "Deployment"),
                ("image-not-pinned-by-digest", "Deployment"),
                ("netpol-rule-allows-any-address", "NetworkPolicy"),
            ],
        ),
        (
            &["--namespace", "security", "--image", DIGEST_IMAGE],
            &[
                ("rbac-secrets-read", "ClusterRole"),
                ("service-account-token-automount", "Deployment"),
                ("rbac-workload-risky-service-account", "Deployment"),
                ("netpol-rule-allows-any-address", "NetworkPolicy"),
            ],
        ),
        // The role that writes the reports adds nothing kubevigil would flag.
        (
            &["--image", DIGEST_IMAGE, "--policy-reports", "policyreport"],
            &[
                ("rbac-secrets-read", "ClusterRole"),
                ("service-account-token-automount", "Deployment"),
                ("rbac-workload-risky-service-account", "Deployment"),
                ("netpol-rule-allows-any-address", "NetworkPolicy"),
            ],
        ),
    ];
    for (args, expected) in cases {
        let text = manifests(args);
        let (code, out, err) = kubevigil(&["scan", "-o", "json", "--fail-on", "low", "-"], &text);
        assert_eq!(code, 0, "{args:?}: {out}{err}");
        let report: Value = serde_json::from_str(&out).unwrap();
        let above_info: Vec<_> = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["severity"] != "info")
            .collect();
        assert!(above_info.is_empty(), "{args:?}: {above_info:#?}");
        assert_eq!(report["diagnostics"], Value::Array(vec![]), "{args:?}");
        let suppressed: BTreeSet<(String, String)> = report["suppressed"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| {
                assert_eq!(s["by"], "annotation", "{s}");
                assert!(s["reason"].as_str().is_some_and(|r| r.len() > 20), "{s}");
                let f = &s["finding"];
                (
                    f["checkId"].as_str().unwrap().to_string(),
                    f["object"]["kind"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let expected: BTreeSet<(String, String)> = expected
            .iter()
            .map(|(c, k)| (c.to_string(), k.to_string()))
            .collect();
        assert_eq!(suppressed, expected, "{args:?}");
    }
}

/// The ClusterRole grants get/list/watch (Secrets: list/watch) on exactly the kinds
/// `kubevigil_cluster::KINDS` reads, and the binding gives it to the monitor's ServiceAccount.
#[test]
fn cluster_role_grants_exactly_what_a_snapshot_reads() {
    let objs = objects(&manifests(&["--namespace", "security"]));
    let role = by_kind(&objs, "ClusterRole");
    assert_eq!(role.len(), 1);
    let mut granted = BTreeSet::new();
    for rule in role[0]["rules"].as_array().unwrap() {
        let keys: BTreeSet<&str> = rule
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            BTreeSet::from(["apiGroups", "resources", "verbs"]),
            "no resourceNames, no nonResourceURLs: {rule}"
        );
        let verbs: Vec<&str> = rule["verbs"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_str().unwrap())
            .collect();
        for group in rule["apiGroups"].as_array().unwrap() {
            for resource in rule["resources"].as_array().unwrap() {
                let (g, r) = (group.as_str().unwrap(), resource.as_str().unwrap());
                let want: &[&str] = if r == "secrets" {
                    &["list", "watch"]
                } else if g == "metrics.k8s.io"
                    || g == "autoscaling"
                    || (g.is_empty() && r == "nodes")
                {
                    // Polled, not watched.
                    &["get", "list"]
                } else {
                    &["get", "list", "watch"]
                };
                assert_eq!(verbs, want, "{g}/{r}");
                assert!(
                    granted.insert((g.to_string(), r.to_string())),
                    "{g}/{r} twice"
                );
            }
        }
    }
    // Every kind a snapshot reads, and the Events the monitor watches.
    let read: BTreeSet<(String, String)> = kubevigil_cluster::KINDS
        .iter()
        .map(|k| (k.group.to_string(), k.plural.to_string()))
        .chain(
            [
                ("", "events"),
                ("events.k8s.io", "events"),
                ("", "nodes"),
                ("metrics.k8s.io", "pods"),
                ("metrics.k8s.io", "nodes"),
                ("autoscaling", "horizontalpodautoscalers"),
            ]
            .map(|(g, r)| (g.into(), r.into())),
        )
        .collect();
    assert_eq!(granted, read);

    let binding = by_kind(&objs, "ClusterRoleBinding");
    assert_eq!(binding.len(), 1);
    assert_eq!(binding[0]["roleRef"]["name"], role[0]["metadata"]["name"]);
    let sa = by_kind(&objs, "ServiceAccount");
    assert_eq!(
        binding[0]["subjects"],
        serde_json::json!([{"kind": "ServiceAccount", "name": sa[0]["metadata"]["name"],
            "namespace": "security"}])
    );
    let deploy = by_kind(&objs, "Deployment");
    assert_eq!(
        deploy[0]["spec"]["template"]["spec"]["serviceAccountName"],
        sa[0]["metadata"]["name"]
    );
}

/// What kubectl makes of a kubeconfig file.
fn kubectl_config_view(text: &str) -> Value {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("audit-webhook.kubeconfig");
    std::fs::write(&file, text).unwrap();
    let out = run_kubectl(&[
        "config".as_ref(),
        "view".as_ref(),
        "-o".as_ref(),
        "json".as_ref(),
        "--kubeconfig".as_ref(),
        file.as_os_str(),
    ]);
    serde_json::from_str(&out).unwrap()
}

#[test]
fn audit_webhook_kubeconfig_is_a_kubeconfig_kubectl_reads() {
    let cases: &[(&[&str], &str)] = &[
        (&[], "https://kubevigil-monitor.kubevigil.svc:8443/audit"),
        (
            &["--namespace", "security"],
            "https://kubevigil-monitor.security.svc:8443/audit",
        ),
        (
            &["--audit-url", "https://10.96.0.42:8443/audit"],
            "https://10.96.0.42:8443/audit",
        ),
    ];
    for (args, url) in cases {
        let text = manifests(&[&["--audit-webhook-kubeconfig"][..], args].concat());
        let config = kubectl_config_view(&text);
        assert_eq!(config["kind"], "Config", "{text}");
        let context = config["current-context"].as_str().unwrap();
        let contexts = config["contexts"].as_array().unwrap();
        assert_eq!(contexts.len(), 1);
        assert_eq!(contexts[0]["name"], context);
        let cluster_name = &contexts[0]["context"]["cluster"];
        let clusters = config["clusters"].as_array().unwrap();
        assert_eq!(clusters.len(), 1);
        assert_eq!(&clusters[0]["name"], cluster_name);
        assert_eq!(clusters[0]["cluster"]["server"], *url, "{args:?}");
        assert_eq!(
            clusters[0]["cluster"]["certificate-authority"],
            "/etc/kubernetes/kubevigil/ca.crt"
        );
        let users = config["users"].as_array().unwrap();
        assert_eq!(users[0]["name"], contexts[0]["context"]["user"]);
    }
    // Not https, or no host: refused with a reason.
    for url in [
        "http://monitor:8443/audit",
        "https:///audit",
        "https://:8443/audit",
        "monitor:8443",
    ] {
        let (code, _, err) = kubevigil(
            &[
                "monitor",
                "manifests",
                "--audit-webhook-kubeconfig",
                "--audit-url",
                url,
            ],
            "",
        );
        assert_eq!(code, 2, "{url}");
        assert!(err.contains("is not https://"), "{err}");
    }
}

#[test]
fn audit_policy_is_the_recommended_one() {
    let printed = manifests(&["--audit-policy"]);
    assert_eq!(printed, kubevigil_audit::recommend::RECOMMENDED_POLICY);
    let (code, recommended, err) = kubevigil(&["audit", "policy", "recommend"], "");
    assert_eq!(code, 0, "{err}");
    assert_eq!(printed, recommended);
}

/// Options that make no install are refused.
#[test]
fn bad_options_are_refused() {
    for (args, message) in [
        (&["--namespace", "Kube_Vigil"][..], "DNS-1123"),
        (&["--image", "a b"], "whitespace"),
        (
            &["--audit-url", "https://x/audit"],
            "--audit-webhook-kubeconfig",
        ),
        (
            &["--audit-policy", "--namespace", "x"],
            "cannot be used with",
        ),
    ] {
        let (code, _, err) = kubevigil(&[&["monitor", "manifests"][..], args].concat(), "");
        assert_eq!(code, 2, "{args:?}");
        assert!(err.contains(message), "{args:?}: {err}");
    }
    // The monitor's own flags are not the subcommand's, and the other way round.
    let (code, _, err) = kubevigil(&["monitor", "--no-cluster", "manifests"], "");
    assert_eq!(code, 2, "{err}");
}

/// `deploy/monitor` rendered by `kubectl kustomize` holds the same objects as the default
/// `kubevigil monitor manifests`, compared as values (kustomize reorders objects and keys).
#[test]
fn deploy_base_equals_printed_manifests() {
    let base = repo().join("deploy/monitor");
    let out = run_kubectl(&["kustomize".as_ref(), base.as_os_str()]);
    let keyed = |objs: Vec<Value>| -> BTreeMap<String, Value> {
        let mut map = BTreeMap::new();
        for o in objs {
            let key = format!(
                "{} {} {}/{}",
                o["apiVersion"].as_str().unwrap_or(""),
                o["kind"].as_str().unwrap_or(""),
                o["metadata"]["namespace"].as_str().unwrap_or(""),
                o["metadata"]["name"].as_str().unwrap_or("")
            );
            assert!(map.insert(key.clone(), o).is_none(), "{key} twice");
        }
        map
    };
    let base = keyed(objects(&out));
    let printed = keyed(objects(&manifests(&[])));
    assert_eq!(
        base.keys().collect::<Vec<_>>(),
        printed.keys().collect::<Vec<_>>()
    );
    for (key, want) in &printed {
        assert_eq!(&base[key], want, "{key} differs in deploy/monitor");
    }
}

/// Reads an object back as k8s-openapi's type and writes it again: a misspelt field, or a value
/// of the wrong type, makes the round trip differ or fail.
fn typed_round_trip<T: serde::de::DeserializeOwned + serde::Serialize>(v: &Value) {
    let typed: T = serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("{e}: {v}"));
    assert_eq!(&serde_json::to_value(&typed).unwrap(), v);
}

/// Every printed object is a valid object of its kind (the Kubernetes API's types).
#[test]
fn printed_objects_match_the_kubernetes_schema() {
    use k8s_openapi::api::{apps, core, networking, policy, rbac};
    let objs = objects(&manifests(&[]));
    let mut kinds = Vec::new();
    for o in &objs {
        let kind = o["kind"].as_str().unwrap();
        match kind {
            "Namespace" => typed_round_trip::<core::v1::Namespace>(o),
            "ServiceAccount" => typed_round_trip::<core::v1::ServiceAccount>(o),
            "ClusterRole" => typed_round_trip::<rbac::v1::ClusterRole>(o),
            "ClusterRoleBinding" => typed_round_trip::<rbac::v1::ClusterRoleBinding>(o),
            "PersistentVolumeClaim" => typed_round_trip::<core::v1::PersistentVolumeClaim>(o),
            "Deployment" => typed_round_trip::<apps::v1::Deployment>(o),
            "Service" => typed_round_trip::<core::v1::Service>(o),
            "NetworkPolicy" => typed_round_trip::<networking::v1::NetworkPolicy>(o),
            "ResourceQuota" => typed_round_trip::<core::v1::ResourceQuota>(o),
            "LimitRange" => typed_round_trip::<core::v1::LimitRange>(o),
            "PodDisruptionBudget" => typed_round_trip::<policy::v1::PodDisruptionBudget>(o),
            other => panic!("unexpected kind {other}"),
        }
        kinds.push(kind);
    }
    assert_eq!(
        kinds,
        [
            "Namespace",
            "ServiceAccount",
            "ClusterRole",
            "ClusterRoleBinding",
            "PersistentVolumeClaim",
            "Deployment",
            "Service",
            "NetworkPolicy",
            "NetworkPolicy",
            "ResourceQuota",
            "LimitRange",
            "PodDisruptionBudget",
        ]
    );
}

/// `--policy-reports`: the monitor's flag, and a ClusterRole of its own that writes exactly the
/// report kinds (the read-only one is unchanged), bound to the monitor's ServiceAccount.
#[test]
fn policy_reports_add_the_flag_and_a_role_that_writes_only_reports() {
    for (format, group, plurals) in [
        (
            "policyreport",
            "wgpolicyk8s.io",
            ["policyreports", "clusterpolicyreports"],
        ),
        (
            "openreports",
            "openreports.io",
            ["reports", "clusterreports"],
        ),
    ] {
        let plain = objects(&manifests(&[]));
        let objs = objects(&manifests(&["--policy-reports", format]));
        let deployment = by_kind(&objs, "Deployment")[0];
        let args: Vec<&str> = deployment["spec"]["template"]["spec"]["containers"][0]["args"]
            .as_array()
            .unwrap()
            .iter()
            .map(|a| a.as_str().unwrap())
            .collect();
        assert!(
            args.windows(2).any(|w| w == ["--policy-reports", format]),
            "{args:?}"
        );
        let roles = by_kind(&objs, "ClusterRole");
        assert_eq!(roles.len(), 2);
        assert_eq!(
            roles[0],
            by_kind(&plain, "ClusterRole")[0],
            "the read-only role changed"
        );
        assert_eq!(
            roles[1]["rules"],
            json!([{"apiGroups": [group], "resources": plurals,
                "verbs": ["get", "list", "create", "patch", "delete"]}])
        );
        let bindings = by_kind(&objs, "ClusterRoleBinding");
        assert_eq!(bindings[1]["roleRef"]["name"], roles[1]["metadata"]["name"]);
        assert_eq!(bindings[1]["subjects"][0]["name"], "kubevigil-monitor");
    }
}
