//! Pod Security violations as `kubevigil scan` findings: one finding per failed check per
//! workload, pointing at the offending field, with upstream's detail and a remediation.

use kubevigil_model::span::FieldPath;
use kubevigil_model::workload::pod_template;
use kubevigil_model::{Finding, Inventory, Object, PodTemplate, Reference, Severity};
use serde_json::Value;

use crate::api::{Level, LevelVersion, Version};
use crate::{Evaluation, InputError, PodInput};

/// A workload whose pod template could not be decoded as the API server would decode it.
#[derive(Debug)]
pub struct DecodeError<'a> {
    pub object: &'a Object,
    /// The pod metadata or spec that failed to decode.
    pub path: FieldPath,
    pub error: InputError,
}

/// One evaluated Pod or workload.
pub struct Evaluated<'a> {
    pub template: PodTemplate<'a>,
    pub pod: PodInput,
}

/// Decodes the pod template of every Pod and workload in the inventory (API defaults applied).
pub fn workloads(inventory: &Inventory) -> (Vec<Evaluated<'_>>, Vec<DecodeError<'_>>) {
    let mut ok = Vec::new();
    let mut errors = Vec::new();
    for object in &inventory.objects {
        let Some(template) = pod_template(object) else {
            continue;
        };
        let is_pod = object.kind == "Pod";
        match PodInput::from_values(template.metadata, template.spec, is_pod) {
            Ok(pod) => ok.push(Evaluated { template, pod }),
            Err(error) => {
                let path = match error {
                    InputError::Metadata(_) => template.metadata_path.clone(),
                    InputError::Spec(_) => template.spec_path.clone(),
                };
                errors.push(DecodeError {
                    object,
                    path,
                    error,
                })
            }
        }
    }
    (ok, errors)
}

/// Findings for every Pod and workload at `level`/`version`: baseline violations are high
/// severity, restricted-only ones medium. Templates that cannot be decoded are skipped here;
/// [`workloads`] reports them.
pub fn scan_findings(inventory: &Inventory, level: Level, version: Version) -> Vec<Finding> {
    scan_findings_and_errors(inventory, level, version).0
}

/// [`scan_findings`], plus the templates that could not be decoded (so that a caller can
/// report them rather than skip them silently).
pub fn scan_findings_and_errors(
    inventory: &Inventory,
    level: Level,
    version: Version,
) -> (Vec<Finding>, Vec<DecodeError<'_>>) {
    let lv = LevelVersion::new(level, version);
    let (evaluated, errors) = workloads(inventory);
    let mut out = Vec::new();
    for e in &evaluated {
        out.extend(findings_for(&e.template, &e.pod.evaluate(lv)));
    }
    (out, errors)
}

/// Findings for one evaluated template.
pub fn findings_for(template: &PodTemplate<'_>, eval: &Evaluation) -> Vec<Finding> {
    eval.violations
        .iter()
        .map(|v| {
            let meta = finding_meta(v.check).expect("every check has finding metadata");
            let level = if meta.severity == Severity::High {
                Level::Baseline
            } else {
                Level::Restricted
            };
            let path = locate(v.check, template);
            let message = if v.detail.is_empty() {
                v.reason.to_string()
            } else {
                format!("{} ({})", v.reason, v.detail)
            };
            Finding::at(
                meta.id,
                meta.severity,
                meta.title,
                format!(
                    "{} violates PodSecurity \"{}\": {message}",
                    template.object.display_name(),
                    eval.level_version
                ),
                template.object,
                &path,
                meta.remediation(),
                vec![Reference {
                    framework: "Kubernetes Pod Security Standards".into(),
                    id: format!("{level}/{}", v.check),
                    url: Some(
                        "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
                            .into(),
                    ),
                }],
            )
        })
        .collect()
}

/// Scan metadata of the finding each check produces.
#[derive(Debug)]
pub struct FindingMeta {
    /// Finding id: `pss-<check id>`.
    pub id: &'static str,
    /// Upstream check id.
    pub check: &'static str,
    pub title: &'static str,
    /// High for baseline checks, medium for restricted-only ones.
    pub severity: Severity,
    /// Markdown documentation (`crates/pss/docs/<check>.md`).
    pub doc: &'static str,
}

impl FindingMeta {
    pub fn remediation(&self) -> &'static str {
        remediation(self.check)
    }
}

/// One entry per check, in evaluation order.
pub static FINDING_METAS: [FindingMeta; 19] = [
    FindingMeta {
        id: "pss-appArmorProfile",
        check: "appArmorProfile",
        title: "AppArmor profile overridden or disabled",
        severity: Severity::High,
        doc: include_str!("../docs/appArmorProfile.md"),
    },
    FindingMeta {
        id: "pss-capabilities_baseline",
        check: "capabilities_baseline",
        title: "Capabilities beyond the default set added",
        severity: Severity::High,
        doc: include_str!("../docs/capabilities_baseline.md"),
    },
    FindingMeta {
        id: "pss-hostNamespaces",
        check: "hostNamespaces",
        title: "Host namespaces shared",
        severity: Severity::High,
        doc: include_str!("../docs/hostNamespaces.md"),
    },
    FindingMeta {
        id: "pss-hostPathVolumes",
        check: "hostPathVolumes",
        title: "hostPath volumes",
        severity: Severity::High,
        doc: include_str!("../docs/hostPathVolumes.md"),
    },
    FindingMeta {
        id: "pss-hostPorts",
        check: "hostPorts",
        title: "Host ports",
        severity: Severity::High,
        doc: include_str!("../docs/hostPorts.md"),
    },
    FindingMeta {
        id: "pss-hostProbesAndHostLifecycle",
        check: "hostProbesAndHostLifecycle",
        title: "Probes or lifecycle handlers aimed at another host",
        severity: Severity::High,
        doc: include_str!("../docs/hostProbesAndHostLifecycle.md"),
    },
    FindingMeta {
        id: "pss-privileged",
        check: "privileged",
        title: "Privileged containers",
        severity: Severity::High,
        doc: include_str!("../docs/privileged.md"),
    },
    FindingMeta {
        id: "pss-procMount",
        check: "procMount",
        title: "Unmasked /proc",
        severity: Severity::High,
        doc: include_str!("../docs/procMount.md"),
    },
    FindingMeta {
        id: "pss-seLinuxOptions",
        check: "seLinuxOptions",
        title: "Custom SELinux type, user or role",
        severity: Severity::High,
        doc: include_str!("../docs/seLinuxOptions.md"),
    },
    FindingMeta {
        id: "pss-seccompProfile_baseline",
        check: "seccompProfile_baseline",
        title: "Seccomp disabled",
        severity: Severity::High,
        doc: include_str!("../docs/seccompProfile_baseline.md"),
    },
    FindingMeta {
        id: "pss-sysctls",
        check: "sysctls",
        title: "Unsafe sysctls",
        severity: Severity::High,
        doc: include_str!("../docs/sysctls.md"),
    },
    FindingMeta {
        id: "pss-windowsHostProcess",
        check: "windowsHostProcess",
        title: "Windows HostProcess containers",
        severity: Severity::High,
        doc: include_str!("../docs/windowsHostProcess.md"),
    },
    FindingMeta {
        id: "pss-allowPrivilegeEscalation",
        check: "allowPrivilegeEscalation",
        title: "Privilege escalation allowed",
        severity: Severity::Medium,
        doc: include_str!("../docs/allowPrivilegeEscalation.md"),
    },
    FindingMeta {
        id: "pss-capabilities_restricted",
        check: "capabilities_restricted",
        title: "Capabilities not dropped",
        severity: Severity::Medium,
        doc: include_str!("../docs/capabilities_restricted.md"),
    },
    FindingMeta {
        id: "pss-procMount_restricted",
        check: "procMount_restricted",
        title: "Unmasked /proc (restricted)",
        severity: Severity::Medium,
        doc: include_str!("../docs/procMount_restricted.md"),
    },
    FindingMeta {
        id: "pss-restrictedVolumes",
        check: "restrictedVolumes",
        title: "Volume types outside the restricted set",
        severity: Severity::Medium,
        doc: include_str!("../docs/restrictedVolumes.md"),
    },
    FindingMeta {
        id: "pss-runAsNonRoot",
        check: "runAsNonRoot",
        title: "Containers may run as root",
        severity: Severity::Medium,
        doc: include_str!("../docs/runAsNonRoot.md"),
    },
    FindingMeta {
        id: "pss-runAsUser",
        check: "runAsUser",
        title: "Containers run as UID 0",
        severity: Severity::Medium,
        doc: include_str!("../docs/runAsUser.md"),
    },
    FindingMeta {
        id: "pss-seccompProfile_restricted",
        check: "seccompProfile_restricted",
        title: "Seccomp profile not set",
        severity: Severity::Medium,
        doc: include_str!("../docs/seccompProfile_restricted.md"),
    },
];

/// The finding metadata of a check id.
pub fn finding_meta(check: &str) -> Option<&'static FindingMeta> {
    FINDING_METAS.iter().find(|m| m.check == check)
}

/// How to fix a violation of each check.
pub fn remediation(check: &str) -> &'static str {
    match check {
        "hostNamespaces" => "Remove hostNetwork, hostPID and hostIPC (or set them to false).",
        "privileged" => "Remove securityContext.privileged or set it to false.",
        "capabilities_baseline" => {
            "Add only capabilities from the baseline set (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT)."
        }
        "hostPathVolumes" => {
            "Replace hostPath volumes with emptyDir, configMap, secret, projected or a persistentVolumeClaim."
        }
        "hostPorts" => {
            "Remove hostPort from container ports (expose the pod through a Service instead); note that hostNetwork pods get hostPort = containerPort by default."
        }
        "appArmorProfile" => {
            "Set securityContext.appArmorProfile.type to RuntimeDefault or Localhost, and remove unconfined AppArmor annotations."
        }
        "seLinuxOptions" => {
            "Use only the container_t, container_init_t, container_kvm_t (or, from v1.31, container_engine_t) SELinux types and do not set the user or role."
        }
        "procMount" | "procMount_restricted" => {
            "Remove securityContext.procMount or set it to Default."
        }
        "seccompProfile_baseline" => {
            "Set securityContext.seccompProfile.type to RuntimeDefault or Localhost (never Unconfined); for policy versions before v1.19 use the runtime/default annotation."
        }
        "sysctls" => {
            "Set only the safe sysctls allowed at this policy version, or configure unsafe ones on the node."
        }
        "windowsHostProcess" => {
            "Remove securityContext.windowsOptions.hostProcess or set it to false."
        }
        "hostProbesAndHostLifecycle" => {
            "Remove the host field from httpGet/tcpSocket probes and lifecycle handlers; they then target the pod's own IP."
        }
        "restrictedVolumes" => {
            "Use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes."
        }
        "allowPrivilegeEscalation" => {
            "Set securityContext.allowPrivilegeEscalation: false on every container."
        }
        "runAsNonRoot" => {
            "Set securityContext.runAsNonRoot: true at pod level (or on every container) and run as a non-zero UID."
        }
        "runAsUser" => "Do not set runAsUser: 0; use a non-zero UID.",
        "seccompProfile_restricted" => {
            "Set spec.securityContext.seccompProfile.type: RuntimeDefault (or Localhost) at pod level or on every container."
        }
        "capabilities_restricted" => {
            "Set securityContext.capabilities.drop: [\"ALL\"] on every container and add at most NET_BIND_SERVICE."
        }
        _ => "See the Pod Security Standards.",
    }
}

fn is_true(v: Option<&Value>) -> bool {
    v.and_then(Value::as_bool) == Some(true)
}

fn str_at<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a str> {
    keys.iter().try_fold(v, |v, k| v.get(k))?.as_str()
}

fn get<'a>(v: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter().try_fold(v, |v, k| v.get(k))
}

fn path_of(base: &FieldPath, keys: &[&str]) -> FieldPath {
    keys.iter().fold(base.clone(), |p, k| p.key(k))
}

/// The field that makes a check fail: the first offending field in upstream's visit order
/// (pod-level fields first where upstream names the pod first). Falls back to the pod spec.
pub fn locate(check: &str, t: &PodTemplate<'_>) -> FieldPath {
    let spec = t.spec;
    let sp = &t.spec_path;
    let containers: Vec<_> = t.containers().collect();
    let in_container = |keys: &[&str], bad: &dyn Fn(&Value) -> bool| -> Option<FieldPath> {
        containers
            .iter()
            .find(|c| get(c.value, keys).is_some_and(bad))
            .map(|c| path_of(&c.path, keys))
    };
    let in_pod = |keys: &[&str], bad: &dyn Fn(&Value) -> bool| -> Option<FieldPath> {
        get(spec, keys)
            .filter(|v| bad(v))
            .map(|_| path_of(sp, keys))
    };
    let annotation = |prefix: &str, bad: &dyn Fn(&str) -> bool| -> Option<FieldPath> {
        let ann = t.metadata.get("annotations")?.as_object()?;
        let (k, _) = ann
            .iter()
            .find(|(k, v)| k.starts_with(prefix) && v.as_str().is_some_and(bad))?;
        Some(t.metadata_path.key("annotations").key(k))
    };
    let found = match check {
        "hostNamespaces" => ["hostNetwork", "hostPID", "hostIPC"]
            .into_iter()
            .find(|k| is_true(spec.get(*k)))
            .map(|k| sp.key(k)),
        "privileged" => in_container(&["securityContext", "privileged"], &|v| {
            v.as_bool() == Some(true)
        }),
        "capabilities_baseline" | "capabilities_restricted" => {
            let allowed_restricted = |c: &str| c == "NET_BIND_SERVICE";
            let restricted = check == "capabilities_restricted";
            let drop_missing = containers.iter().find(|c| {
                restricted
                    && !get(c.value, &["securityContext", "capabilities", "drop"])
                        .and_then(Value::as_array)
                        .is_some_and(|d| d.iter().any(|x| x.as_str() == Some("ALL")))
            });
            match drop_missing {
                Some(c) => Some(path_of(
                    &c.path,
                    &["securityContext", "capabilities", "drop"],
                )),
                None => in_container(&["securityContext", "capabilities", "add"], &|v| {
                    v.as_array().is_some_and(|a| {
                        a.iter().filter_map(Value::as_str).any(|c| {
                            if restricted {
                                !allowed_restricted(c)
                            } else {
                                !crate::checks::CAPABILITIES_ALLOWED_1_0.contains(&c)
                            }
                        })
                    })
                }),
            }
        }
        "hostPathVolumes" | "restrictedVolumes" => {
            let vols = spec.get("volumes").and_then(Value::as_array);
            vols.into_iter().flatten().enumerate().find_map(|(i, v)| {
                let obj = v.as_object()?;
                let bad = if check == "hostPathVolumes" {
                    obj.contains_key("hostPath")
                } else {
                    obj.keys()
                        .any(|k| k != "name" && !RESTRICTED_OK_VOLUMES.contains(&k.as_str()))
                };
                bad.then(|| sp.key("volumes").index(i))
            })
        }
        "hostPorts" => containers.iter().find_map(|c| {
            let ports = c.value.get("ports")?.as_array()?;
            let host_network = is_true(spec.get("hostNetwork"));
            ports.iter().enumerate().find_map(|(j, p)| {
                let hp = p.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
                (hp != 0 || host_network).then(|| c.path.key("ports").index(j))
            })
        }),
        "appArmorProfile" => in_pod(&["securityContext", "appArmorProfile", "type"], &|v| {
            !matches!(v.as_str(), Some("RuntimeDefault" | "Localhost"))
        })
        .or_else(|| {
            in_container(&["securityContext", "appArmorProfile", "type"], &|v| {
                !matches!(v.as_str(), Some("RuntimeDefault" | "Localhost"))
            })
        })
        .or_else(|| {
            annotation("container.apparmor.security.beta.kubernetes.io/", &|v| {
                !(v.is_empty() || v == "runtime/default" || v.starts_with("localhost/"))
            })
        }),
        "seLinuxOptions" => in_pod(&["securityContext", "seLinuxOptions"], &|_| true)
            .filter(|_| {
                get(spec, &["securityContext", "seLinuxOptions"]).is_some_and(selinux_suspicious)
            })
            .or_else(|| in_container(&["securityContext", "seLinuxOptions"], &selinux_suspicious)),
        "procMount" | "procMount_restricted" => {
            in_container(&["securityContext", "procMount"], &|v| {
                v.as_str() != Some("Default")
            })
        }
        "seccompProfile_baseline" | "seccompProfile_restricted" => {
            let bad = |v: &Value| !matches!(v.as_str(), Some("RuntimeDefault" | "Localhost"));
            in_pod(&["securityContext", "seccompProfile", "type"], &bad)
                .or_else(|| in_container(&["securityContext", "seccompProfile", "type"], &bad))
                .or_else(|| {
                    annotation("seccomp.security.alpha.kubernetes.io/pod", &|v| {
                        !seccomp_annotation_ok(v)
                    })
                    .or_else(|| {
                        annotation("container.seccomp.security.alpha.kubernetes.io/", &|v| {
                            !seccomp_annotation_ok(v)
                        })
                    })
                })
                .or_else(|| {
                    // Restricted: nothing set anywhere; point at the pod securityContext.
                    (check == "seccompProfile_restricted").then(|| sp.key("securityContext"))
                })
        }
        "sysctls" => get(spec, &["securityContext", "sysctls"])
            .and_then(Value::as_array)
            .map(|_| path_of(sp, &["securityContext", "sysctls"])),
        "windowsHostProcess" => {
            let bad = |v: &Value| v.as_bool() == Some(true);
            in_pod(&["securityContext", "windowsOptions", "hostProcess"], &bad).or_else(|| {
                in_container(&["securityContext", "windowsOptions", "hostProcess"], &bad)
            })
        }
        "hostProbesAndHostLifecycle" => containers.iter().find_map(|c| {
            for handler in [
                &["livenessProbe"][..],
                &["readinessProbe"],
                &["startupProbe"],
                &["lifecycle", "postStart"],
                &["lifecycle", "preStop"],
            ] {
                for action in ["httpGet", "tcpSocket"] {
                    let mut keys = handler.to_vec();
                    keys.extend([action, "host"]);
                    if str_at(c.value, &keys).is_some_and(|h| !h.is_empty()) {
                        return Some(path_of(&c.path, &keys));
                    }
                }
            }
            None
        }),
        "allowPrivilegeEscalation" => containers
            .iter()
            .find(|c| {
                get(c.value, &["securityContext", "allowPrivilegeEscalation"])
                    .and_then(Value::as_bool)
                    != Some(false)
            })
            .map(|c| path_of(&c.path, &["securityContext", "allowPrivilegeEscalation"])),
        "runAsNonRoot" => in_pod(&["securityContext", "runAsNonRoot"], &|v| {
            v.as_bool() == Some(false)
        })
        .or_else(|| {
            in_container(&["securityContext", "runAsNonRoot"], &|v| {
                v.as_bool() == Some(false)
            })
        })
        .or_else(|| {
            containers
                .iter()
                .find(|c| get(c.value, &["securityContext", "runAsNonRoot"]).is_none())
                .map(|c| path_of(&c.path, &["securityContext", "runAsNonRoot"]))
        }),
        "runAsUser" => in_pod(&["securityContext", "runAsUser"], &|v| {
            v.as_i64() == Some(0)
        })
        .or_else(|| {
            in_container(&["securityContext", "runAsUser"], &|v| {
                v.as_i64() == Some(0)
            })
        }),
        _ => None,
    };
    found.unwrap_or_else(|| sp.clone())
}

const RESTRICTED_OK_VOLUMES: [&str; 9] = [
    "configMap",
    "csi",
    "downwardAPI",
    "emptyDir",
    "ephemeral",
    "image",
    "persistentVolumeClaim",
    "projected",
    "secret",
];

fn selinux_suspicious(v: &Value) -> bool {
    let t = v.get("type").and_then(Value::as_str).unwrap_or("");
    let set = |k: &str| {
        v.get(k)
            .and_then(Value::as_str)
            .is_some_and(|s| !s.is_empty())
    };
    !matches!(
        t,
        "" | "container_t" | "container_init_t" | "container_kvm_t" | "container_engine_t"
    ) || set("user")
        || set("role")
}

fn seccomp_annotation_ok(v: &str) -> bool {
    v == "runtime/default" || v == "docker/default" || v.starts_with("localhost/")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::registry::CHECKS;

    #[test]
    fn finding_metadata_matches_the_registry() {
        for (meta, def) in FINDING_METAS.iter().zip(CHECKS.iter()) {
            assert_eq!(meta.check, def.id);
            let want = if def.level == Level::Baseline {
                Severity::High
            } else {
                Severity::Medium
            };
            assert_eq!(meta.severity, want, "{}", def.id);
            assert!(
                meta.doc.starts_with(&format!("# {}:", meta.id)),
                "{}",
                meta.id
            );
            assert_ne!(
                meta.remediation(),
                "See the Pod Security Standards.",
                "{}",
                meta.id
            );
        }
    }
    use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};

    #[test]
    fn one_finding_per_check_per_workload_at_the_offending_line() {
        let text = r#"apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      hostPID: true
      containers:
      - name: app
        image: nginx
        securityContext:
          privileged: true
      - name: side
        image: busybox
        securityContext:
          privileged: true
"#;
        let mut loaded = Loaded::default();
        load_text_into("web.yaml", text, &LoadOptions::default(), &mut loaded);
        let f = scan_findings(&loaded.inventory, Level::Restricted, Version::Latest);
        let summary: Vec<String> = f
            .iter()
            .map(|f| {
                format!(
                    "{} {} {}:{} {}",
                    f.check_id, f.severity, f.location.line, f.location.field_path, f.message
                )
            })
            .collect();
        insta::assert_snapshot!(summary.join("\n"));
        assert!(f.iter().all(|f| !f.remediation.is_empty()));
    }
}
