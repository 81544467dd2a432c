//! Where each Pod Security check points a `kubevigil scan` finding: the first offending field in
//! upstream's visit order (pod-level fields first where upstream names the pod first). Every
//! [`CheckDef`](crate::registry::CheckDef) names its locator; `None` means the pod spec itself.

use kubevigil_model::PodTemplate;

use crate::checks;
use kubevigil_model::span::FieldPath;
use serde_json::Value;

/// Finds the offending field of one check in a template that fails it.
pub(crate) type Locator = fn(&PodTemplate<'_>) -> Option<FieldPath>;

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

/// The field at `keys` of the first container where it is `bad`.
fn in_container(
    t: &PodTemplate<'_>,
    keys: &[&str],
    bad: impl Fn(&Value) -> bool,
) -> Option<FieldPath> {
    t.containers()
        .find(|c| get(c.value, keys).is_some_and(&bad))
        .map(|c| path_of(&c.path, keys))
}

/// The field at `keys` of the pod spec, when it is `bad`.
fn in_pod(t: &PodTemplate<'_>, keys: &[&str], bad: impl Fn(&Value) -> bool) -> Option<FieldPath> {
    get(t.spec, keys)
        .filter(|v| bad(v))
        .map(|_| path_of(t.spec_path, keys))
}

/// The first pod annotation whose key starts with `prefix` and whose value is `bad`.
fn annotation(t: &PodTemplate<'_>, prefix: &str, bad: impl Fn(&str) -> bool) -> Option<FieldPath> {
    let ann = t.metadata.get("annotations")?.as_object()?;
    let (k, _) = ann
        .iter()
        .find(|(k, v)| k.starts_with(prefix) && v.as_str().is_some_and(&bad))?;
    Some(t.metadata_path.key("annotations").key(k))
}

pub(crate) fn host_namespaces(t: &PodTemplate<'_>) -> Option<FieldPath> {
    ["hostNetwork", "hostPID", "hostIPC"]
        .into_iter()
        .find(|k| is_true(t.spec.get(*k)))
        .map(|k| t.spec_path.key(k))
}

pub(crate) fn privileged(t: &PodTemplate<'_>) -> Option<FieldPath> {
    in_container(t, &["securityContext", "privileged"], |v| {
        v.as_bool() == Some(true)
    })
}

pub(crate) fn capabilities_baseline(t: &PodTemplate<'_>) -> Option<FieldPath> {
    in_container(t, &["securityContext", "capabilities", "add"], |v| {
        v.as_array().is_some_and(|a| {
            a.iter()
                .filter_map(Value::as_str)
                .any(|c| !checks::CAPABILITIES_ALLOWED_1_0.contains(&c))
        })
    })
}

pub(crate) fn capabilities_restricted(t: &PodTemplate<'_>) -> Option<FieldPath> {
    let drop_missing = t.containers().find(|c| {
        !get(c.value, &["securityContext", "capabilities", "drop"])
            .and_then(Value::as_array)
            .is_some_and(|d| d.iter().any(|x| x.as_str() == Some("ALL")))
    });
    match drop_missing {
        Some(c) => Some(path_of(
            &c.path,
            &["securityContext", "capabilities", "drop"],
        )),
        None => in_container(t, &["securityContext", "capabilities", "add"], |v| {
            v.as_array().is_some_and(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .any(|c| c != "NET_BIND_SERVICE")
            })
        }),
    }
}

/// The first volume that is `bad`.
fn volume(
    t: &PodTemplate<'_>,
    bad: impl Fn(&serde_json::Map<String, Value>) -> bool,
) -> Option<FieldPath> {
    let vols = t.spec.get("volumes").and_then(Value::as_array);
    vols.into_iter().flatten().enumerate().find_map(|(i, v)| {
        let obj = v.as_object()?;
        bad(obj).then(|| t.spec_path.key("volumes").index(i))
    })
}

pub(crate) fn host_path_volumes(t: &PodTemplate<'_>) -> Option<FieldPath> {
    volume(t, |v| v.contains_key("hostPath"))
}

pub(crate) fn restricted_volumes(t: &PodTemplate<'_>) -> Option<FieldPath> {
    volume(t, |v| {
        v.keys()
            .any(|k| k != "name" && !RESTRICTED_OK_VOLUMES.contains(&k.as_str()))
    })
}

pub(crate) fn host_ports(t: &PodTemplate<'_>) -> Option<FieldPath> {
    let host_network = is_true(t.spec.get("hostNetwork"));
    t.containers().find_map(|c| {
        let ports = c.value.get("ports")?.as_array()?;
        ports.iter().enumerate().find_map(|(j, p)| {
            let hp = p.get("hostPort").and_then(Value::as_i64).unwrap_or(0);
            (hp != 0 || host_network).then(|| c.path.key("ports").index(j))
        })
    })
}

pub(crate) fn app_armor_profile(t: &PodTemplate<'_>) -> Option<FieldPath> {
    let bad = |v: &Value| !matches!(v.as_str(), Some("RuntimeDefault" | "Localhost"));
    in_pod(t, &["securityContext", "appArmorProfile", "type"], bad)
        .or_else(|| in_container(t, &["securityContext", "appArmorProfile", "type"], bad))
        .or_else(|| {
            annotation(t, checks::APPARMOR_ANNOTATION_PREFIX, |v| {
                !checks::apparmor_annotation_allowed(v)
            })
        })
}

pub(crate) fn se_linux_options(t: &PodTemplate<'_>) -> Option<FieldPath> {
    in_pod(t, &["securityContext", "seLinuxOptions"], |_| true)
        .filter(|_| {
            get(t.spec, &["securityContext", "seLinuxOptions"]).is_some_and(selinux_suspicious)
        })
        .or_else(|| {
            in_container(
                t,
                &["securityContext", "seLinuxOptions"],
                selinux_suspicious,
            )
        })
}

/// Both `procMount` checks (baseline and, from v1.35, restricted).
pub(crate) fn proc_mount(t: &PodTemplate<'_>) -> Option<FieldPath> {
    in_container(t, &["securityContext", "procMount"], |v| {
        v.as_str() != Some("Default")
    })
}

/// A seccomp profile set to something other than RuntimeDefault or Localhost, by field or by
/// annotation.
fn seccomp_not_allowed(t: &PodTemplate<'_>) -> Option<FieldPath> {
    let bad = |v: &Value| !matches!(v.as_str(), Some("RuntimeDefault" | "Localhost"));
    in_pod(t, &["securityContext", "seccompProfile", "type"], bad)
        .or_else(|| in_container(t, &["securityContext", "seccompProfile", "type"], bad))
        .or_else(|| {
            annotation(t, checks::SECCOMP_POD_ANNOTATION, |v| {
                !checks::seccomp_annotation_valid(v)
            })
            .or_else(|| {
                annotation(t, checks::SECCOMP_CONTAINER_ANNOTATION_PREFIX, |v| {
                    !checks::seccomp_annotation_valid(v)
                })
            })
        })
}

pub(crate) fn seccomp_profile_baseline(t: &PodTemplate<'_>) -> Option<FieldPath> {
    seccomp_not_allowed(t)
}

pub(crate) fn seccomp_profile_restricted(t: &PodTemplate<'_>) -> Option<FieldPath> {
    // Nothing set anywhere: point at the pod securityContext.
    seccomp_not_allowed(t).or_else(|| Some(t.spec_path.key("securityContext")))
}

pub(crate) fn sysctls(t: &PodTemplate<'_>) -> Option<FieldPath> {
    get(t.spec, &["securityContext", "sysctls"])
        .and_then(Value::as_array)
        .map(|_| path_of(t.spec_path, &["securityContext", "sysctls"]))
}

pub(crate) fn windows_host_process(t: &PodTemplate<'_>) -> Option<FieldPath> {
    let bad = |v: &Value| v.as_bool() == Some(true);
    in_pod(
        t,
        &["securityContext", "windowsOptions", "hostProcess"],
        bad,
    )
    .or_else(|| {
        in_container(
            t,
            &["securityContext", "windowsOptions", "hostProcess"],
            bad,
        )
    })
}

pub(crate) fn host_probes_and_host_lifecycle(t: &PodTemplate<'_>) -> Option<FieldPath> {
    t.containers().find_map(|c| {
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
    })
}

pub(crate) fn allow_privilege_escalation(t: &PodTemplate<'_>) -> Option<FieldPath> {
    t.containers()
        .find(|c| {
            get(c.value, &["securityContext", "allowPrivilegeEscalation"]).and_then(Value::as_bool)
                != Some(false)
        })
        .map(|c| path_of(&c.path, &["securityContext", "allowPrivilegeEscalation"]))
}

pub(crate) fn run_as_non_root(t: &PodTemplate<'_>) -> Option<FieldPath> {
    let is_false = |v: &Value| v.as_bool() == Some(false);
    in_pod(t, &["securityContext", "runAsNonRoot"], is_false)
        .or_else(|| in_container(t, &["securityContext", "runAsNonRoot"], is_false))
        .or_else(|| {
            t.containers()
                .find(|c| get(c.value, &["securityContext", "runAsNonRoot"]).is_none())
                .map(|c| path_of(&c.path, &["securityContext", "runAsNonRoot"]))
        })
}

pub(crate) fn run_as_user(t: &PodTemplate<'_>) -> Option<FieldPath> {
    let is_root = |v: &Value| v.as_i64() == Some(0);
    in_pod(t, &["securityContext", "runAsUser"], is_root)
        .or_else(|| in_container(t, &["securityContext", "runAsUser"], is_root))
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
