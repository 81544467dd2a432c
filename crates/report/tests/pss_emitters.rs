//! Each Pod Security result in each format, once: the table and JSON that `kubevigil pss`
//! prints, on manifests that exercise denial, warnings, invalid labels, a namespace without a
//! Namespace object, workloads and an exempt namespace.

use kubevigil_model::Loaded;
use kubevigil_pss::config::{self, PodSecurityConfiguration};
use kubevigil_pss::scan::workloads;
use kubevigil_pss::workloads::{FixedLevel, NamespaceAware, Namespaces, WhatIf};
use kubevigil_pss::{Level, LevelVersion, Version};
use kubevigil_report::{Emitter, Json, Table};

const MANIFESTS: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels:
    pod-security.kubernetes.io/enforce: baseline
    pod-security.kubernetes.io/enforce-version: v1.29
    pod-security.kubernetes.io/warn: restricted
---
apiVersion: v1
kind: Namespace
metadata:
  name: legacy
  labels:
    pod-security.kubernetes.io/enforce: strict
---
apiVersion: v1
kind: Namespace
metadata:
  name: kube-system
  labels:
    pod-security.kubernetes.io/enforce: restricted
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: prod}
spec:
  hostNetwork: true
  containers:
  - name: app
    image: nginx
    securityContext: {privileged: true}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: legacy}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
          containers:
          - name: report
            image: report
            securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
---
apiVersion: apps/v1
kind: DaemonSet
metadata: {name: agent, namespace: kube-system}
spec:
  template:
    spec:
      hostPID: true
      containers:
      - name: agent
        image: agent
---
apiVersion: v1
kind: Pod
metadata: {name: stray}
spec:
  containers:
  - name: stray
    image: "stray\u001b[31m"
"#;

fn loaded() -> Loaded {
    let mut loaded = Loaded::default();
    kubevigil_model::load::load_text_into("all.yaml", MANIFESTS, &Default::default(), &mut loaded);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded
}

fn config() -> PodSecurityConfiguration {
    let doc = config::parse_text(
        "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: baseline}\nexemptions: {namespaces: [kube-system]}\n",
    )
    .unwrap();
    config::follow_plugin_file(doc, |_| Err::<String, ()>(())).unwrap()
}

fn both<T>(result: &T) -> String
where
    Table: Emitter<T>,
    Json: Emitter<T>,
{
    let mut out = Vec::new();
    Table.emit(&mut out, result).unwrap();
    out.extend_from_slice(b"---\n");
    Json.emit(&mut out, result).unwrap();
    String::from_utf8(out).unwrap()
}

#[test]
fn fixed_level() {
    let loaded = loaded();
    let (evaluated, errors) = workloads(&loaded.inventory);
    assert!(errors.is_empty());
    let lv = LevelVersion::new(Level::Baseline, Version::Minor(29));
    insta::assert_snapshot!(both(&FixedLevel::evaluate(&evaluated, lv)));
}

#[test]
fn namespace_aware() {
    let loaded = loaded();
    let (evaluated, _) = workloads(&loaded.inventory);
    let config = config();
    let namespaces = Namespaces::resolve(&loaded.inventory.objects, &evaluated, &config);
    insta::assert_snapshot!(both(&NamespaceAware::admit(
        &evaluated,
        &namespaces,
        &config,
        None
    )));
}

#[test]
fn what_if() {
    let loaded = loaded();
    let (evaluated, _) = workloads(&loaded.inventory);
    let config = config();
    let namespaces = Namespaces::resolve(&loaded.inventory.objects, &evaluated, &config);
    let lv = LevelVersion::new(Level::Restricted, Version::Latest);
    insta::assert_snapshot!(both(&WhatIf::evaluate(
        &evaluated,
        &namespaces,
        &config,
        None,
        lv
    )));
}
