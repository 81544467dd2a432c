//! Which check revisions run for a level and version, in upstream's order.
//!
//! Mirrors `policy/registry.go`: every check's revision with the highest `MinimumVersion` at or
//! below the requested version runs; restricted is baseline minus the checks a restricted
//! revision overrides (`OverrideCheckIDs`), plus the restricted checks; results are ordered by
//! check id, baseline ids (sorted) first, then restricted ids (sorted). That ordering is what
//! makes the aggregate message byte-identical.

use std::sync::OnceLock;

use k8s_openapi::api::core::v1::PodSpec;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::ObjectMeta;

use crate::api::{Level, LevelVersion, MAX_MINOR};
use crate::checks::{self as c, CheckFn, Violation};
use crate::locate::{self, Locator};
use kubevigil_model::Severity;
use kubevigil_rule::{Category, RuleMeta, refs};

/// One revision of a check: `(MinimumVersion minor, function, OverrideCheckIDs)`.
type Revision = (u64, CheckFn, &'static [&'static str]);

/// A registered check: its upstream id and level, its revisions, and what `kubevigil scan`
/// reports when it fails (finding `pss-<id>`; the rule's severity, high for baseline checks and
/// medium for restricted-only ones, is the typical one: a finding can be raised above it, see
/// [`crate::severity`]; the offending field).
pub struct CheckDef {
    pub id: &'static str,
    pub level: Level,
    revisions: &'static [Revision],
    pub rule: RuleMeta,
    pub(crate) locate: Locator,
}

impl CheckDef {
    /// The policy versions (minor numbers) at which this check's behaviour changes.
    pub fn revision_minors(&self) -> impl Iterator<Item = u64> + '_ {
        self.revisions.iter().map(|r| r.0)
    }

    fn at(&self, minor: u64) -> Option<&Revision> {
        self.revisions.iter().rev().find(|r| r.0 <= minor)
    }
}

const NONE: &[&str] = &[];

/// All 19 checks, already in upstream's evaluation order.
pub static CHECKS: [CheckDef; 19] = [
    CheckDef {
        id: "appArmorProfile",
        level: Level::Baseline,
        revisions: &[(0, c::apparmor_profile_1_0, NONE)],
        rule: RuleMeta {
            id: "pss-appArmorProfile",
            title: "AppArmor profile overridden or disabled",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/appArmorProfile.md"),
            remediation: "Set securityContext.appArmorProfile.type to RuntimeDefault or Localhost, and remove unconfined AppArmor annotations.",
            references: &[refs::pss("appArmorProfile")],
        },
        locate: locate::app_armor_profile,
    },
    CheckDef {
        id: "capabilities_baseline",
        level: Level::Baseline,
        revisions: &[(0, c::capabilities_baseline_1_0, NONE)],
        rule: RuleMeta {
            id: "pss-capabilities_baseline",
            title: "Capabilities beyond the default set added",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/capabilities_baseline.md"),
            remediation: "Add only capabilities from the baseline set (AUDIT_WRITE, CHOWN, DAC_OVERRIDE, FOWNER, FSETID, KILL, MKNOD, NET_BIND_SERVICE, SETFCAP, SETGID, SETPCAP, SETUID, SYS_CHROOT).",
            references: &[refs::pss("capabilities_baseline")],
        },
        locate: locate::capabilities_baseline,
    },
    CheckDef {
        id: "hostNamespaces",
        level: Level::Baseline,
        revisions: &[(0, c::host_namespaces_1_0, NONE)],
        rule: RuleMeta {
            id: "pss-hostNamespaces",
            title: "Host namespaces shared",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/hostNamespaces.md"),
            remediation: "Remove hostNetwork, hostPID and hostIPC (or set them to false).",
            references: &[refs::pss("hostNamespaces")],
        },
        locate: locate::host_namespaces,
    },
    CheckDef {
        id: "hostPathVolumes",
        level: Level::Baseline,
        revisions: &[(0, c::host_path_volumes_1_0, NONE)],
        rule: RuleMeta {
            id: "pss-hostPathVolumes",
            title: "hostPath volumes",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/hostPathVolumes.md"),
            remediation: "Replace hostPath volumes with emptyDir, configMap, secret, projected or a persistentVolumeClaim.",
            references: &[refs::pss("hostPathVolumes")],
        },
        locate: locate::host_path_volumes,
    },
    CheckDef {
        id: "hostPorts",
        level: Level::Baseline,
        revisions: &[(0, c::host_ports_1_0, NONE)],
        rule: RuleMeta {
            id: "pss-hostPorts",
            title: "Host ports",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/hostPorts.md"),
            remediation: "Remove hostPort from container ports (expose the pod through a Service instead); note that hostNetwork pods get hostPort = containerPort by default.",
            references: &[refs::pss("hostPorts")],
        },
        locate: locate::host_ports,
    },
    CheckDef {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        revisions: &[(34, c::host_probes_lifecycle_1_34, NONE)],
        rule: RuleMeta {
            id: "pss-hostProbesAndHostLifecycle",
            title: "Probes or lifecycle handlers aimed at another host",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/hostProbesAndHostLifecycle.md"),
            remediation: "Remove the host field from httpGet/tcpSocket probes and lifecycle handlers; they then target the pod's own IP.",
            references: &[refs::pss("hostProbesAndHostLifecycle")],
        },
        locate: locate::host_probes_and_host_lifecycle,
    },
    CheckDef {
        id: "privileged",
        level: Level::Baseline,
        revisions: &[(0, c::privileged_1_0, NONE)],
        rule: RuleMeta {
            id: "pss-privileged",
            title: "Privileged containers",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/privileged.md"),
            remediation: "Remove securityContext.privileged or set it to false.",
            references: &[refs::pss("privileged")],
        },
        locate: locate::privileged,
    },
    CheckDef {
        id: "procMount",
        level: Level::Baseline,
        revisions: &[
            (0, c::proc_mount_1_0, NONE),
            (35, c::proc_mount_1_35_baseline, NONE),
        ],
        rule: RuleMeta {
            id: "pss-procMount",
            title: "Unmasked /proc",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/procMount.md"),
            remediation: "Remove securityContext.procMount or set it to Default.",
            references: &[refs::pss("procMount")],
        },
        locate: locate::proc_mount,
    },
    CheckDef {
        id: "seLinuxOptions",
        level: Level::Baseline,
        revisions: &[
            (0, c::selinux_options_1_0, NONE),
            (31, c::selinux_options_1_31, NONE),
        ],
        rule: RuleMeta {
            id: "pss-seLinuxOptions",
            title: "Custom SELinux type, user or role",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/seLinuxOptions.md"),
            remediation: "Use only the container_t, container_init_t, container_kvm_t (or, from v1.31, container_engine_t) SELinux types and do not set the user or role.",
            references: &[refs::pss("seLinuxOptions")],
        },
        locate: locate::se_linux_options,
    },
    CheckDef {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        revisions: &[
            (0, c::seccomp_baseline_1_0, NONE),
            (19, c::seccomp_baseline_1_19, NONE),
        ],
        rule: RuleMeta {
            id: "pss-seccompProfile_baseline",
            title: "Seccomp disabled",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/seccompProfile_baseline.md"),
            remediation: "Set securityContext.seccompProfile.type to RuntimeDefault or Localhost (never Unconfined); for policy versions before v1.19 use the runtime/default annotation.",
            references: &[refs::pss("seccompProfile_baseline")],
        },
        locate: locate::seccomp_profile_baseline,
    },
    CheckDef {
        id: "sysctls",
        level: Level::Baseline,
        revisions: &[
            (0, c::sysctls_1_0, NONE),
            (27, c::sysctls_1_27, NONE),
            (29, c::sysctls_1_29, NONE),
            (32, c::sysctls_1_32, NONE),
            (37, c::sysctls_1_37, NONE),
        ],
        rule: RuleMeta {
            id: "pss-sysctls",
            title: "Unsafe sysctls",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/sysctls.md"),
            remediation: "Set only the safe sysctls allowed at this policy version, or configure unsafe ones on the node.",
            references: &[refs::pss("sysctls")],
        },
        locate: locate::sysctls,
    },
    CheckDef {
        id: "windowsHostProcess",
        level: Level::Baseline,
        revisions: &[(0, c::windows_host_process_1_0, NONE)],
        rule: RuleMeta {
            id: "pss-windowsHostProcess",
            title: "Windows HostProcess containers",
            severity: Severity::High,
            category: Category::PodSecurity,
            doc: include_str!("../docs/windowsHostProcess.md"),
            remediation: "Remove securityContext.windowsOptions.hostProcess or set it to false.",
            references: &[refs::pss("windowsHostProcess")],
        },
        locate: locate::windows_host_process,
    },
    CheckDef {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        revisions: &[
            (8, c::allow_privilege_escalation_1_8, NONE),
            (25, c::allow_privilege_escalation_1_25, NONE),
        ],
        rule: RuleMeta {
            id: "pss-allowPrivilegeEscalation",
            title: "Privilege escalation allowed",
            severity: Severity::Medium,
            category: Category::PodSecurity,
            doc: include_str!("../docs/allowPrivilegeEscalation.md"),
            remediation: "Set securityContext.allowPrivilegeEscalation: false on every container.",
            references: &[refs::pss("allowPrivilegeEscalation")],
        },
        locate: locate::allow_privilege_escalation,
    },
    CheckDef {
        id: "capabilities_restricted",
        level: Level::Restricted,
        revisions: &[
            (
                22,
                c::capabilities_restricted_1_22,
                &["capabilities_baseline"],
            ),
            (
                25,
                c::capabilities_restricted_1_25,
                &["capabilities_baseline"],
            ),
        ],
        rule: RuleMeta {
            id: "pss-capabilities_restricted",
            title: "Capabilities not dropped",
            severity: Severity::Medium,
            category: Category::PodSecurity,
            doc: include_str!("../docs/capabilities_restricted.md"),
            remediation: "Set securityContext.capabilities.drop: [\"ALL\"] on every container and add at most NET_BIND_SERVICE.",
            references: &[refs::pss("capabilities_restricted")],
        },
        locate: locate::capabilities_restricted,
    },
    CheckDef {
        id: "procMount_restricted",
        level: Level::Restricted,
        revisions: &[(35, c::proc_mount_restricted_1_35, &["procMount"])],
        rule: RuleMeta {
            id: "pss-procMount_restricted",
            title: "Unmasked /proc (restricted)",
            severity: Severity::Medium,
            category: Category::PodSecurity,
            doc: include_str!("../docs/procMount_restricted.md"),
            remediation: "Remove securityContext.procMount or set it to Default.",
            references: &[refs::pss("procMount_restricted")],
        },
        locate: locate::proc_mount,
    },
    CheckDef {
        id: "restrictedVolumes",
        level: Level::Restricted,
        revisions: &[(0, c::restricted_volumes_1_0, &["hostPathVolumes"])],
        rule: RuleMeta {
            id: "pss-restrictedVolumes",
            title: "Volume types outside the restricted set",
            severity: Severity::Medium,
            category: Category::PodSecurity,
            doc: include_str!("../docs/restrictedVolumes.md"),
            remediation: "Use only configMap, csi, downwardAPI, emptyDir, ephemeral, image, persistentVolumeClaim, projected and secret volumes.",
            references: &[refs::pss("restrictedVolumes")],
        },
        locate: locate::restricted_volumes,
    },
    CheckDef {
        id: "runAsNonRoot",
        level: Level::Restricted,
        revisions: &[
            (0, c::run_as_non_root_1_0, NONE),
            (35, c::run_as_non_root_1_35, NONE),
        ],
        rule: RuleMeta {
            id: "pss-runAsNonRoot",
            title: "Containers may run as root",
            severity: Severity::Medium,
            category: Category::PodSecurity,
            doc: include_str!("../docs/runAsNonRoot.md"),
            remediation: "Set securityContext.runAsNonRoot: true at pod level (or on every container) and run as a non-zero UID.",
            references: &[refs::pss("runAsNonRoot")],
        },
        locate: locate::run_as_non_root,
    },
    CheckDef {
        id: "runAsUser",
        level: Level::Restricted,
        revisions: &[
            (23, c::run_as_user_1_23, NONE),
            (35, c::run_as_user_1_35, NONE),
        ],
        rule: RuleMeta {
            id: "pss-runAsUser",
            title: "Containers run as UID 0",
            severity: Severity::Medium,
            category: Category::PodSecurity,
            doc: include_str!("../docs/runAsUser.md"),
            remediation: "Do not set runAsUser: 0; use a non-zero UID.",
            references: &[refs::pss("runAsUser")],
        },
        locate: locate::run_as_user,
    },
    CheckDef {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        revisions: &[
            (19, c::seccomp_restricted_1_19, &["seccompProfile_baseline"]),
            (25, c::seccomp_restricted_1_25, &["seccompProfile_baseline"]),
        ],
        rule: RuleMeta {
            id: "pss-seccompProfile_restricted",
            title: "Seccomp profile not set",
            severity: Severity::Medium,
            category: Category::PodSecurity,
            doc: include_str!("../docs/seccompProfile_restricted.md"),
            remediation: "Set spec.securityContext.seccompProfile.type: RuntimeDefault (or Localhost) at pod level or on every container.",
            references: &[refs::pss("seccompProfile_restricted")],
        },
        locate: locate::seccomp_profile_restricted,
    },
];

/// The registered check of a violation.
pub fn check_def(id: &str) -> Option<&'static CheckDef> {
    CHECKS.iter().find(|d| d.id == id)
}

/// Check functions for one level at one minor version, in evaluation order.
type Plan = Vec<(&'static str, CheckFn)>;

struct Plans {
    baseline: Vec<Plan>,
    restricted: Vec<Plan>,
}

fn plans() -> &'static Plans {
    static PLANS: OnceLock<Plans> = OnceLock::new();
    PLANS.get_or_init(|| {
        let mut baseline = Vec::new();
        let mut restricted = Vec::new();
        for minor in 0..=MAX_MINOR {
            let overridden: Vec<&str> = CHECKS
                .iter()
                .filter(|d| d.level == Level::Restricted)
                .filter_map(|d| d.at(minor))
                .flat_map(|r| r.2.iter().copied())
                .collect();
            let active = |d: &CheckDef| d.at(minor).map(|r| (d.id, r.1));
            baseline.push(
                CHECKS
                    .iter()
                    .filter(|d| d.level == Level::Baseline)
                    .filter_map(active)
                    .collect(),
            );
            restricted.push(
                CHECKS
                    .iter()
                    .filter(|d| !(d.level == Level::Baseline && overridden.contains(&d.id)))
                    .filter_map(active)
                    .collect(),
            );
        }
        Plans {
            baseline,
            restricted,
        }
    })
}

/// The ids of the checks that run for a level and version, in evaluation order.
pub fn check_ids(lv: LevelVersion) -> Vec<&'static str> {
    plan(lv).iter().map(|(id, _)| *id).collect()
}

fn plan(lv: LevelVersion) -> &'static [(&'static str, CheckFn)] {
    let minor = lv.version.effective_minor() as usize;
    match lv.level {
        Level::Privileged => &[],
        Level::Baseline => &plans().baseline[minor],
        Level::Restricted => &plans().restricted[minor],
    }
}

/// Runs the check `id` alone, if it runs for `lv` (the revision `lv` selects).
pub(crate) fn evaluate_one(
    lv: LevelVersion,
    id: &str,
    meta: &ObjectMeta,
    spec: &PodSpec,
) -> Option<Violation> {
    let (_, check) = plan(lv).iter().find(|(i, _)| *i == id)?;
    check(meta, spec)
}

/// Runs the checks for `lv`, appending violations to `out` (which is not cleared), in order.
pub fn evaluate_into(
    lv: LevelVersion,
    meta: &ObjectMeta,
    spec: &PodSpec,
    out: &mut Vec<Violation>,
) {
    for (_, check) in plan(lv) {
        if let Some(v) = check(meta, spec) {
            out.push(v);
        }
    }
}

/// Whether a baseline check that the restricted check `def` replaces at `lv`'s version
/// (`OverrideCheckIDs`) fails on the pod: then part of what `def` reports is already forbidden
/// at baseline (a restricted check reports a superset of what the check it replaces reports).
pub(crate) fn replaced_baseline_fails(
    def: &CheckDef,
    lv: LevelVersion,
    meta: &ObjectMeta,
    spec: &PodSpec,
) -> bool {
    let minor = lv.version.effective_minor();
    let Some(rev) = def.at(minor) else {
        return false;
    };
    rev.2
        .iter()
        .filter_map(|id| check_def(id))
        .filter_map(|b| b.at(minor))
        .any(|r| (r.1)(meta, spec).is_some())
}
