//! Every workload kind is evaluated on its pod template, as `ValidatePodController` does.

use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};
use kubevigil_pss::scan::workloads;
use kubevigil_pss::{Level, LevelVersion, Version};

const PRIV: &str = "{containers: [{name: c, image: i, securityContext: {privileged: true}}]}";

fn manifests() -> String {
    let t = |path_open: &str, path_close: &str| {
        format!("{path_open}template: {{spec: {PRIV}}}{path_close}")
    };
    [
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: pod}}\nspec: {PRIV}\n"),
        format!("apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: deploy}}\nspec: {}\n", t("{", "}")),
        format!("apiVersion: apps/v1\nkind: StatefulSet\nmetadata: {{name: sts}}\nspec: {}\n", t("{", "}")),
        format!("apiVersion: apps/v1\nkind: DaemonSet\nmetadata: {{name: ds}}\nspec: {}\n", t("{", "}")),
        format!("apiVersion: apps/v1\nkind: ReplicaSet\nmetadata: {{name: rs}}\nspec: {}\n", t("{", "}")),
        format!("apiVersion: v1\nkind: ReplicationController\nmetadata: {{name: rc}}\nspec: {}\n", t("{", "}")),
        format!("apiVersion: batch/v1\nkind: Job\nmetadata: {{name: job}}\nspec: {}\n", t("{", "}")),
        format!(
            "apiVersion: batch/v1\nkind: CronJob\nmetadata: {{name: cron}}\nspec: {{schedule: '@daily', jobTemplate: {{spec: {}}}}}\n",
            t("{", "}")
        ),
        format!("apiVersion: v1\nkind: PodTemplate\nmetadata: {{name: tmpl}}\n{}\n", t("", "")),
        // Not workloads: a ConfigMap, and a CRD that happens to be called Deployment.
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: cm}\ndata: {a: b}\n".to_string(),
        format!("apiVersion: example.com/v1\nkind: Deployment\nmetadata: {{name: crd}}\nspec: {}\n", t("{", "}")),
    ]
    .join("---\n")
}

#[test]
fn every_workload_kind_is_evaluated_on_its_pod_template() {
    let mut loaded = Loaded::default();
    load_text_into(
        "all.yaml",
        &manifests(),
        &LoadOptions::default(),
        &mut loaded,
    );
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    let (evaluated, errors) = workloads(&loaded.inventory);
    assert!(errors.is_empty());
    let lv = LevelVersion::new(Level::Baseline, Version::Latest);
    let got: Vec<String> = evaluated
        .iter()
        .map(|e| {
            let eval = e.pod.evaluate(lv);
            format!(
                "{}/{}: {}",
                e.template.object.kind,
                e.template.object.name,
                eval.forbidden_detail()
            )
        })
        .collect();
    let want: Vec<String> = [
        ("Pod", "pod"),
        ("Deployment", "deploy"),
        ("StatefulSet", "sts"),
        ("DaemonSet", "ds"),
        ("ReplicaSet", "rs"),
        ("ReplicationController", "rc"),
        ("Job", "job"),
        ("CronJob", "cron"),
        ("PodTemplate", "tmpl"),
    ]
    .iter()
    .map(|(k, n)| {
        format!(
            r#"{k}/{n}: privileged (container "c" must not set securityContext.privileged=true)"#
        )
    })
    .collect();
    assert_eq!(got, want);
}

#[test]
fn template_metadata_annotations_are_the_pod_annotations() {
    let text = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: d\n  annotations: {container.apparmor.security.beta.kubernetes.io/c: runtime/default}\nspec:\n  template:\n    metadata:\n      annotations: {container.apparmor.security.beta.kubernetes.io/c: unconfined}\n    spec: {containers: [{name: c}]}\n";
    let mut loaded = Loaded::default();
    load_text_into("d.yaml", text, &LoadOptions::default(), &mut loaded);
    let (evaluated, _) = workloads(&loaded.inventory);
    let eval = evaluated[0]
        .pod
        .evaluate(LevelVersion::new(Level::Baseline, Version::Latest));
    assert_eq!(
        eval.forbidden_detail(),
        r#"forbidden AppArmor profile (annotation must not set AppArmor profile type to "container.apparmor.security.beta.kubernetes.io/c="unconfined"")"#
    );
}

/// The API server defaults `hostPort = containerPort` on host-network Pods only (templates
/// stopped getting it in v1.28), so a host-network Pod fails `hostPorts` with its container
/// port, and the same template in a Deployment does not.
#[test]
fn host_network_ports_are_defaulted_on_pods_only() {
    let spec =
        "{hostNetwork: true, containers: [{name: c, image: i, ports: [{containerPort: 8080}]}]}";
    let text = [
        format!("apiVersion: v1\nkind: Pod\nmetadata: {{name: pod}}\nspec: {spec}\n"),
        format!(
            "apiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: deploy}}\nspec: {{template: {{spec: {spec}}}}}\n"
        ),
    ]
    .join("---\n");
    let mut loaded = Loaded::default();
    load_text_into("hostnet.yaml", &text, &LoadOptions::default(), &mut loaded);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    let findings =
        kubevigil_pss::scan::scan_findings(&loaded.inventory, Level::Baseline, Version::Latest);
    let host_ports: Vec<(&str, &str)> = findings
        .iter()
        .filter(|f| f.check_id == "pss-hostPorts")
        .map(|f| (f.object.name.as_str(), f.message.as_str()))
        .collect();
    assert_eq!(
        host_ports,
        [(
            "pod",
            "Pod pod violates PodSecurity \"baseline:latest\": hostPort (container \"c\" uses hostPort 8080) [breaks baseline]"
        )],
        "{findings:#?}"
    );
    // Both still fail hostNamespaces.
    let host_ns = findings
        .iter()
        .filter(|f| f.check_id == "pss-hostNamespaces")
        .count();
    assert_eq!(host_ns, 2);
}
