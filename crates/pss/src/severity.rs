//! How dangerous one Pod Security violation is, and the lowest level that forbids it.
//!
//! Upstream has no severities; it only says which level a pod breaks. A restricted control can
//! report something baseline forbids already (restricted's `restrictedVolumes` replaces
//! baseline's `hostPathVolumes`, `capabilities_restricted` replaces `capabilities_baseline`,
//! ...), so the control's level is not the violation's. The rules:
//!
//! * **critical**: privileged containers; hostPath volumes of container runtime sockets or of
//!   host paths that hand over the node ([`critical_host_path`]); added capabilities SYS_ADMIN,
//!   SYS_MODULE, SYS_PTRACE, NET_ADMIN, BPF or ALL, in any spelling ([`critical_capability`]);
//! * **high**: anything else baseline forbids, whichever control reports it;
//! * otherwise the control's rule severity (medium for restricted-only violations).
//!
//! A finding covers every offending item of its control, so it takes the worst of them.

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;
use kubevigil_model::Severity;

use crate::api::{Level, LevelVersion};
use crate::checks::{containers, restricted_volume_allowed};
use crate::registry::{CheckDef, replaced_baseline_fails};

/// The severity of a violation and the lowest level it breaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Danger {
    pub severity: Severity,
    /// `Baseline` when baseline forbids (part of) what was reported, else `Restricted`.
    pub level: Level,
}

const BASELINE_HIGH: Danger = Danger {
    severity: Severity::High,
    level: Level::Baseline,
};
const CRITICAL: Danger = Danger {
    severity: Severity::Critical,
    level: Level::Baseline,
};

/// The danger of the violation `def` reported on the pod evaluated at `lv`. Only call it for a
/// check that failed: it judges the items the check reports, not whether it fails.
pub fn danger(def: &CheckDef, lv: LevelVersion, meta: &ObjectMeta, spec: &PodSpec) -> Danger {
    let own = Danger {
        severity: def.rule.severity,
        level: def.level,
    };
    let volumes = || spec.volumes.as_deref().unwrap_or(&[]).iter();
    match def.id {
        "privileged" => CRITICAL,
        "hostPathVolumes" | "restrictedVolumes" => {
            // restrictedVolumes reports only volumes outside its allowed sources; judge those.
            let reported = |v: &&k8s_openapi::api::core::v1::Volume| {
                def.id == "hostPathVolumes" || !restricted_volume_allowed(v)
            };
            let mut host_paths = volumes()
                .filter(reported)
                .filter_map(|v| v.host_path.as_ref());
            let mut any = false;
            for hp in host_paths.by_ref() {
                if critical_host_path(&hp.path) {
                    return CRITICAL;
                }
                any = true;
            }
            if any { BASELINE_HIGH } else { own }
        }
        // Both report every added capability that a critical one could be (none of them is in
        // baseline's allowed list nor is NET_BIND_SERVICE).
        "capabilities_baseline" | "capabilities_restricted" if adds_critical_capability(spec) => {
            CRITICAL
        }
        _ if def.level == Level::Baseline => own,
        _ if replaced_baseline_fails(def, lv, meta, spec) => BASELINE_HIGH,
        _ => own,
    }
}

/// Capabilities that give a container the node (mount, load modules, trace host processes,
/// rewrite the network, load eBPF) or all of them.
const CRITICAL_CAPABILITIES: [&str; 6] = [
    "SYS_ADMIN",
    "SYS_MODULE",
    "SYS_PTRACE",
    "NET_ADMIN",
    "BPF",
    "ALL",
];

/// Whether a `capabilities.add` entry names a critical capability. Upstream PodSecurity compares
/// names exactly (so `cap_sys_admin` already fails both capability controls), but runtimes
/// normalise them: CRI-O and Docker upper-case and accept a `CAP_` prefix (moby
/// `oci/caps/utils.go` `NormalizeLegacyCapabilities`, cri-o `internal/config/capabilities`), so
/// every spelling counts here.
pub fn critical_capability(raw: &str) -> bool {
    let upper = raw.trim().to_ascii_uppercase();
    let name = upper.strip_prefix("CAP_").unwrap_or(&upper);
    CRITICAL_CAPABILITIES.contains(&name)
}

fn adds_critical_capability(spec: &PodSpec) -> bool {
    containers(spec)
        .filter_map(|c| c.sc?.capabilities.as_ref()?.add.as_deref())
        .flatten()
        .any(|cap| critical_capability(cap))
}

/// Container runtime sockets (with `/var/run` already read as `/run`): docker, containerd,
/// cri-o, podman. Whoever reaches one starts privileged containers on the node.
const RUNTIME_SOCKETS: [&str; 4] = [
    "/run/docker.sock",
    "/run/containerd/containerd.sock",
    "/run/crio/crio.sock",
    "/run/podman/podman.sock",
];

/// Critical as the exact path and as any directory above it (mounting a parent exposes it):
/// the host root, its configuration and credentials, kernel interfaces, the runtime directory
/// (all sockets) and the kubelet's state (every pod's secrets, its credentials).
const SENSITIVE: [&str; 7] = [
    "/",
    "/etc",
    "/proc",
    "/sys",
    "/root",
    "/run",
    "/var/lib/kubelet",
];

/// Critical with everything beneath: below these no path is harmless (host processes and kernel
/// knobs, root's keys and kubeconfigs, pod volumes and kubelet PKI, runtime state and sockets).
/// Other subpaths of [`SENSITIVE`] stay high: `/etc/ssl/certs`, `/etc/localtime`,
/// `/sys/fs/cgroup`, `/run/xtables.lock` are mounted by ordinary node agents.
const SENSITIVE_TREES: [&str; 6] = [
    "/proc",
    "/root",
    "/var/lib/kubelet",
    "/run/containerd",
    "/run/crio",
    "/run/podman",
];

/// Whether a hostPath volume's path is critical: see [`RUNTIME_SOCKETS`], [`SENSITIVE`] and
/// [`SENSITIVE_TREES`]. The path is normalised first so that a spelling cannot evade.
pub fn critical_host_path(path: &str) -> bool {
    let p = normalise_host_path(path);
    SENSITIVE
        .iter()
        .chain(&RUNTIME_SOCKETS)
        .any(|c| within(&p, c))
        || SENSITIVE_TREES
            .iter()
            .chain(&RUNTIME_SOCKETS)
            .any(|t| within(t, &p))
}

/// Whether a hostPath volume's path exposes a container runtime's API: one of
/// [`RUNTIME_SOCKETS`] (or beneath it), a directory under `/run` that holds one (`/run` itself,
/// `/run/containerd`), or anything in a runtime's own directory (`/run/containerd/...`). Every
/// such path is a [`critical_host_path`]; the directories above `/run` (`/`, `/var`) hand over
/// the whole node and are not counted here.
pub fn runtime_socket_host_path(path: &str) -> bool {
    let p = normalise_host_path(path);
    RUNTIME_SOCKETS.iter().any(|socket| {
        (within(&p, socket) && within("/run", &p))
            || within(socket, &p)
            || socket
                .rsplit_once('/')
                .is_some_and(|(dir, _)| dir != "/run" && within(dir, &p))
    })
}

/// Whether `path` is `dir` or lies beneath it (both normalised).
fn within(dir: &str, path: &str) -> bool {
    dir == "/"
        || path == dir
        || (path.starts_with(dir) && path.as_bytes().get(dir.len()) == Some(&b'/'))
}

/// A hostPath as the node sees it: absolute (a relative path is taken from the root, where the
/// kubelet runs), duplicate slashes, `.` and trailing slashes dropped, `..` resolved lexically,
/// and `/var/run` read as `/run` (a symlink to it on current distributions; the runtimes'
/// documented socket paths use either).
pub fn normalise_host_path(path: &str) -> String {
    let mut parts: Vec<&str> = Vec::new();
    for seg in path.split('/') {
        match seg {
            "" | "." => {}
            ".." => {
                parts.pop();
            }
            s => parts.push(s),
        }
    }
    if parts.starts_with(&["var", "run"]) {
        parts.remove(0);
    }
    format!("/{}", parts.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_normalised() {
        for (raw, want) in [
            ("/", "/"),
            ("", "/"),
            ("//", "/"),
            ("/var/run/", "/run"),
            ("/var//run/./docker.sock", "/run/docker.sock"),
            ("/etc/../var/run/docker.sock", "/run/docker.sock"),
            ("/../../etc", "/etc"),
            ("var/lib/kubelet/", "/var/lib/kubelet"),
            ("/var/runx", "/var/runx"),
        ] {
            assert_eq!(normalise_host_path(raw), want, "{raw:?}");
        }
    }

    #[test]
    fn critical_paths() {
        for p in [
            "/",
            "/etc",
            "/etc/",
            "/proc",
            "/proc/sys/kernel",
            "/sys",
            "/root",
            "/root/.kube",
            "/var",
            "/var/lib",
            "/var/lib/kubelet",
            "/var/lib/kubelet/pods",
            "/var/run",
            "/run",
            "/var/run/docker.sock",
            "/run/docker.sock",
            "/run/containerd/containerd.sock",
            "/var/run/containerd/containerd.sock",
            "/run/containerd",
            "/var/run/crio/crio.sock",
            "/run/podman/podman.sock",
            "//var/run//docker.sock/",
            "/tmp/../var/run/docker.sock",
        ] {
            assert!(critical_host_path(p), "{p}");
        }
        for p in [
            "/etc/ssl/certs",
            "/etc/localtime",
            "/sys/fs/cgroup",
            "/run/xtables.lock",
            "/var/log",
            "/var/lib/docker2",
            "/var/lib/kubeletx",
            "/data",
            "/procfs",
            "/lib/modules",
        ] {
            assert!(!critical_host_path(p), "{p}");
        }
    }

    #[test]
    fn runtime_socket_paths() {
        for p in [
            "/var/run",
            "/run/",
            "/var/run/docker.sock",
            "/run/containerd",
            "/run/containerd/containerd.sock",
            "/run/containerd/io.containerd.runtime.v2.task",
            "/var/run/crio/crio.sock",
            "/run/podman",
            "/run/podman/podman.sock",
        ] {
            assert!(runtime_socket_host_path(p), "{p}");
            assert!(critical_host_path(p), "{p}");
        }
        for p in [
            "/",
            "/var",
            "/etc",
            "/proc",
            "/var/lib/kubelet",
            "/run/xtables.lock",
            "/run/docker",
            "/var/lib/docker",
            "/run/docker.sockx",
        ] {
            assert!(!runtime_socket_host_path(p), "{p}");
        }
    }

    #[test]
    fn capability_spellings() {
        for c in [
            "SYS_ADMIN",
            "sys_admin",
            "CAP_SYS_ADMIN",
            "cap_sys_admin",
            "Cap_Sys_Module",
            "SYS_PTRACE",
            "NET_ADMIN",
            "bpf",
            "ALL",
            "all",
        ] {
            assert!(critical_capability(c), "{c}");
        }
        for c in [
            "NET_RAW",
            "CHOWN",
            "SYS_TIME",
            "NET_BIND_SERVICE",
            "CAP_",
            "",
        ] {
            assert!(!critical_capability(c), "{c}");
        }
    }
}
