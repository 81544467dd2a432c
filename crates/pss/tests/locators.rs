//! Every Pod Security check's finding points at the offending field: one case per check, built
//! on a pod that passes `restricted`, with a compliant element placed before the offending one
//! (a locator that picks the first element, or inverts its condition, points elsewhere).

use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};
use kubevigil_pss::CHECKS;
use kubevigil_pss::scan::scan_findings;
use kubevigil_pss::{Level, Version};
use serde_json::{Value, json};

fn container(name: &str) -> Value {
    json!({"name": name, "image": "nginx:1.27", "ports": [{"containerPort": 80}],
           "securityContext": {"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}}})
}

fn hardened() -> Value {
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
    "spec": {
        "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}},
        "initContainers": [container("init")],
        "containers": [container("ok"), container("bad")],
    }})
}

/// `(pointer, value)` pairs set on the hardened pod (`None` removes the field).
type Edit = (&'static str, Option<Value>);

fn pod(edits: &[Edit]) -> Value {
    let mut p = hardened();
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        let mut node = &mut p;
        for seg in parent.split('/').skip(1) {
            node = match node {
                Value::Array(a) => &mut a[seg.parse::<usize>().unwrap()],
                Value::Object(m) => m.entry(seg).or_insert_with(|| json!({})),
                _ => panic!("{pointer}"),
            };
        }
        let map = node.as_object_mut().unwrap();
        match value {
            Some(v) => {
                map.insert(key.into(), v.clone());
            }
            None => {
                map.remove(key);
            }
        }
    }
    p
}

const C0: &str = "/spec/containers/0/securityContext";
const C1: &str = "/spec/containers/1/securityContext";

#[allow(clippy::type_complexity)]
fn cases() -> Vec<(&'static str, Vec<Edit>, &'static str)> {
    let c0 = |k: &str| -> &'static str { format!("{C0}/{k}").leak() };
    let c1 = |k: &str| -> &'static str { format!("{C1}/{k}").leak() };
    vec![
        (
            "hostNamespaces",
            vec![
                ("/spec/hostNetwork", Some(json!(false))),
                ("/spec/hostPID", Some(json!(true))),
            ],
            "spec.hostPID",
        ),
        (
            "privileged",
            vec![
                (c0("privileged"), Some(json!(false))),
                (c1("privileged"), Some(json!(true))),
            ],
            "spec.containers[1].securityContext.privileged",
        ),
        (
            "capabilities_baseline",
            vec![
                (c0("capabilities/add"), Some(json!(["NET_BIND_SERVICE"]))),
                (c1("capabilities/add"), Some(json!(["CHOWN", "SYS_ADMIN"]))),
            ],
            "spec.containers[1].securityContext.capabilities.add",
        ),
        (
            "capabilities_restricted",
            vec![
                (c0("capabilities/add"), Some(json!(["NET_BIND_SERVICE"]))),
                (c1("capabilities/add"), Some(json!(["CHOWN"]))),
            ],
            "spec.containers[1].securityContext.capabilities.add",
        ),
        (
            "capabilities_restricted",
            vec![(c1("capabilities/drop"), Some(json!(["NET_RAW"])))],
            "spec.containers[1].securityContext.capabilities.drop",
        ),
        (
            "hostPathVolumes",
            vec![(
                "/spec/volumes",
                Some(
                    json!([{"name": "a", "emptyDir": {}}, {"name": "b", "hostPath": {"path": "/"}}]),
                ),
            )],
            "spec.volumes[1]",
        ),
        (
            "restrictedVolumes",
            vec![(
                "/spec/volumes",
                Some(
                    json!([{"name": "a", "configMap": {"name": "c"}}, {"name": "b", "nfs": {"server": "s", "path": "/"}}]),
                ),
            )],
            "spec.volumes[1]",
        ),
        (
            "hostPorts",
            vec![(
                "/spec/containers/1/ports",
                Some(json!([{"containerPort": 80}, {"containerPort": 81, "hostPort": 8081}])),
            )],
            "spec.containers[1].ports[1]",
        ),
        (
            "appArmorProfile",
            vec![
                (
                    c0("appArmorProfile"),
                    Some(json!({"type": "RuntimeDefault"})),
                ),
                (c1("appArmorProfile"), Some(json!({"type": "Unconfined"}))),
            ],
            "spec.containers[1].securityContext.appArmorProfile.type",
        ),
        (
            "seLinuxOptions",
            vec![
                (c0("seLinuxOptions"), Some(json!({"type": "container_t"}))),
                (c1("seLinuxOptions"), Some(json!({"type": "spc_t"}))),
            ],
            "spec.containers[1].securityContext.seLinuxOptions",
        ),
        (
            "procMount",
            vec![
                (c0("procMount"), Some(json!("Default"))),
                (c1("procMount"), Some(json!("Unmasked"))),
            ],
            "spec.containers[1].securityContext.procMount",
        ),
        (
            "procMount_restricted",
            vec![
                (c0("procMount"), Some(json!("Default"))),
                (c1("procMount"), Some(json!("Unmasked"))),
            ],
            "spec.containers[1].securityContext.procMount",
        ),
        (
            "seccompProfile_baseline",
            vec![
                (
                    c0("seccompProfile"),
                    Some(json!({"type": "Localhost", "localhostProfile": "p.json"})),
                ),
                (c1("seccompProfile"), Some(json!({"type": "Unconfined"}))),
            ],
            "spec.containers[1].securityContext.seccompProfile.type",
        ),
        (
            "seccompProfile_restricted",
            vec![
                (
                    c0("seccompProfile"),
                    Some(json!({"type": "RuntimeDefault"})),
                ),
                (c1("seccompProfile"), Some(json!({"type": "Unconfined"}))),
            ],
            "spec.containers[1].securityContext.seccompProfile.type",
        ),
        (
            "seccompProfile_restricted",
            vec![("/spec/securityContext/seccompProfile", None)],
            "spec.securityContext",
        ),
        (
            "sysctls",
            vec![(
                "/spec/securityContext/sysctls",
                Some(
                    json!([{"name": "kernel.shm_rmid_forced", "value": "0"}, {"name": "kernel.msgmax", "value": "1"}]),
                ),
            )],
            "spec.securityContext.sysctls",
        ),
        (
            "windowsHostProcess",
            vec![
                (c0("windowsOptions"), Some(json!({"hostProcess": false}))),
                (c1("windowsOptions"), Some(json!({"hostProcess": true}))),
            ],
            "spec.containers[1].securityContext.windowsOptions.hostProcess",
        ),
        (
            "hostProbesAndHostLifecycle",
            vec![
                (
                    "/spec/containers/1/livenessProbe",
                    Some(json!({"httpGet": {"port": 80}})),
                ),
                (
                    "/spec/containers/1/readinessProbe",
                    Some(json!({"tcpSocket": {"port": 80, "host": "10.0.0.1"}})),
                ),
            ],
            "spec.containers[1].readinessProbe.tcpSocket.host",
        ),
        (
            "allowPrivilegeEscalation",
            vec![(c1("allowPrivilegeEscalation"), Some(json!(true)))],
            "spec.containers[1].securityContext.allowPrivilegeEscalation",
        ),
        (
            "runAsNonRoot",
            vec![
                ("/spec/securityContext/runAsNonRoot", None),
                (
                    "/spec/initContainers/0/securityContext/runAsNonRoot",
                    Some(json!(true)),
                ),
                (c0("runAsNonRoot"), Some(json!(true))),
                (c1("runAsNonRoot"), Some(json!(false))),
            ],
            "spec.containers[1].securityContext.runAsNonRoot",
        ),
        (
            "runAsUser",
            vec![
                (c0("runAsUser"), Some(json!(1000))),
                (c1("runAsUser"), Some(json!(0))),
            ],
            "spec.containers[1].securityContext.runAsUser",
        ),
    ]
}

fn findings(pod: &Value, level: Level) -> Vec<kubevigil_model::Finding> {
    findings_at(pod, level, Version::Latest)
}

fn findings_at(pod: &Value, level: Level, version: Version) -> Vec<kubevigil_model::Finding> {
    let text = serde_json::to_string_pretty(pod).unwrap();
    let mut loaded = Loaded::default();
    load_text_into("pod.json", &text, &LoadOptions::default(), &mut loaded);
    assert!(!loaded.has_errors(), "{:?}", loaded.diagnostics);
    scan_findings(&loaded.inventory, level, version)
}

#[test]
fn the_hardened_pod_has_no_finding() {
    let f = findings(&hardened(), Level::Restricted);
    assert!(f.is_empty(), "{f:#?}");
}

#[test]
fn every_check_locates_the_offending_field() {
    let cases = cases();
    for def in CHECKS.iter() {
        assert!(
            cases.iter().any(|(check, _, _)| *check == def.id),
            "no locator case for {}",
            def.id
        );
    }
    for (check, edits, want) in &cases {
        let pod = pod(edits);
        let text = serde_json::to_string_pretty(&pod).unwrap();
        let id = format!("pss-{check}");
        // At `restricted`, restricted checks replace the baseline ones they override
        // (upstream `OverrideCheckIDs`): baseline checks are evaluated at `baseline`.
        let level = CHECKS.iter().find(|d| d.id == *check).unwrap().level;
        let all = findings(&pod, level);
        let f = all
            .iter()
            .find(|f| f.check_id == id)
            .unwrap_or_else(|| panic!("{check}: no finding among {all:#?}"));
        assert_eq!(f.location.field_path, *want, "{check}");
        // The line is the offending field's line in the file.
        let key = want.rsplit('.').next().unwrap();
        let key = key.split('[').next().unwrap();
        let line = text.lines().nth(f.location.line as usize - 1).unwrap_or("");
        assert!(
            line.contains(&format!("\"{key}\"")) || want.ends_with(']'),
            "{check}: line {} is {line:?}",
            f.location.line
        );
    }
}

/// Pod-level fields and annotations: where upstream looks at the pod before its containers,
/// the finding points at the pod's field even when a container repeats the offence; an
/// annotation is found by key prefix *and* value (an unrelated annotation placed first has a
/// value the predicate would refuse). Seccomp annotations only count before v1.19.
#[test]
fn pod_level_fields_and_annotations_are_located() {
    const APPARMOR: &str = "container.apparmor.security.beta.kubernetes.io/";
    const SECCOMP_CTR: &str = "container.seccomp.security.alpha.kubernetes.io/";
    let annotations = |pairs: &[(&str, &str)]| -> Option<Value> {
        let map: serde_json::Map<String, Value> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), json!(v)))
            .collect();
        Some(Value::Object(map))
    };
    let unrelated = ("example.com/profile", "unconfined");
    let cases: Vec<(&str, Vec<Edit>, Version, String)> = vec![
        (
            "appArmorProfile",
            vec![
                (
                    "/spec/securityContext/appArmorProfile",
                    Some(json!({"type": "Unconfined"})),
                ),
                (
                    "/spec/containers/1/securityContext/appArmorProfile",
                    Some(json!({"type": "Unconfined"})),
                ),
            ],
            Version::Latest,
            "spec.securityContext.appArmorProfile.type".into(),
        ),
        (
            "appArmorProfile",
            vec![(
                "/metadata/annotations",
                annotations(&[
                    unrelated,
                    (&format!("{APPARMOR}init"), "runtime/default"),
                    (&format!("{APPARMOR}ok"), "localhost/custom"),
                    (&format!("{APPARMOR}bad"), "unconfined"),
                ]),
            )],
            Version::Latest,
            format!("metadata.annotations.{APPARMOR}bad"),
        ),
        (
            "seLinuxOptions",
            vec![
                (
                    "/spec/securityContext/seLinuxOptions",
                    Some(json!({"type": "spc_t"})),
                ),
                (
                    "/spec/containers/1/securityContext/seLinuxOptions",
                    Some(json!({"type": "spc_t"})),
                ),
            ],
            Version::Latest,
            "spec.securityContext.seLinuxOptions".into(),
        ),
        (
            // An empty user is not set; a role alone is forbidden.
            "seLinuxOptions",
            vec![
                (
                    "/spec/containers/0/securityContext/seLinuxOptions",
                    Some(json!({"type": "container_t", "user": ""})),
                ),
                (
                    c1_path("seLinuxOptions"),
                    Some(json!({"type": "container_t", "role": "sysadm_r"})),
                ),
            ],
            Version::Latest,
            "spec.containers[1].securityContext.seLinuxOptions".into(),
        ),
        (
            "seccompProfile_baseline",
            vec![
                (
                    "/spec/securityContext/seccompProfile",
                    Some(json!({"type": "Unconfined"})),
                ),
                (
                    "/spec/containers/1/securityContext/seccompProfile",
                    Some(json!({"type": "Unconfined"})),
                ),
            ],
            Version::Latest,
            "spec.securityContext.seccompProfile.type".into(),
        ),
        (
            "seccompProfile_baseline",
            vec![
                ("/spec/securityContext/seccompProfile", None),
                (
                    "/metadata/annotations",
                    annotations(&[
                        unrelated,
                        ("seccomp.security.alpha.kubernetes.io/pod", "unconfined"),
                        (&format!("{SECCOMP_CTR}bad"), "unconfined"),
                    ]),
                ),
            ],
            Version::Minor(18),
            "metadata.annotations.seccomp.security.alpha.kubernetes.io/pod".into(),
        ),
        (
            "seccompProfile_baseline",
            vec![
                ("/spec/securityContext/seccompProfile", None),
                (
                    "/metadata/annotations",
                    annotations(&[
                        unrelated,
                        (
                            "seccomp.security.alpha.kubernetes.io/pod",
                            "runtime/default",
                        ),
                        (&format!("{SECCOMP_CTR}ok"), "docker/default"),
                        (&format!("{SECCOMP_CTR}bad"), "unconfined"),
                    ]),
                ),
            ],
            Version::Minor(18),
            format!("metadata.annotations.{SECCOMP_CTR}bad"),
        ),
        (
            "windowsHostProcess",
            vec![
                (
                    "/spec/securityContext/windowsOptions",
                    Some(json!({"hostProcess": true})),
                ),
                (
                    c1_path("windowsOptions"),
                    Some(json!({"hostProcess": true})),
                ),
            ],
            Version::Latest,
            "spec.securityContext.windowsOptions.hostProcess".into(),
        ),
        (
            "runAsNonRoot",
            vec![
                ("/spec/securityContext/runAsNonRoot", Some(json!(false))),
                (c1_path("runAsNonRoot"), Some(json!(false))),
            ],
            Version::Latest,
            "spec.securityContext.runAsNonRoot".into(),
        ),
        (
            "runAsUser",
            vec![
                ("/spec/securityContext/runAsUser", Some(json!(0))),
                (c1_path("runAsUser"), Some(json!(0))),
            ],
            Version::Latest,
            "spec.securityContext.runAsUser".into(),
        ),
    ];
    for (check, edits, version, want) in &cases {
        let pod = pod(edits);
        let level = CHECKS.iter().find(|d| d.id == *check).unwrap().level;
        let all = findings_at(&pod, level, *version);
        let id = format!("pss-{check}");
        let f = all
            .iter()
            .find(|f| f.check_id == id)
            .unwrap_or_else(|| panic!("{check}: no finding among {all:#?}"));
        assert_eq!(f.location.field_path, *want, "{check} at {version}");
    }
}

fn c1_path(key: &str) -> &'static str {
    format!("{C1}/{key}").leak()
}

/// The catalogue (`checks list`, SARIF rules) lists every Pod Security check once, in the
/// registry's order.
#[test]
fn rules_list_every_check() {
    let ids: Vec<&str> = kubevigil_pss::scan::rules().map(|r| r.id).collect();
    let want: Vec<String> = CHECKS.iter().map(|d| format!("pss-{}", d.id)).collect();
    assert_eq!(ids, want);
}
