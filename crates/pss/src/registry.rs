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

/// One revision of a check: `(MinimumVersion minor, function, OverrideCheckIDs)`.
type Revision = (u64, CheckFn, &'static [&'static str]);

/// A registered check.
pub struct CheckDef {
    pub id: &'static str,
    pub level: Level,
    revisions: &'static [Revision],
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
    },
    CheckDef {
        id: "capabilities_baseline",
        level: Level::Baseline,
        revisions: &[(0, c::capabilities_baseline_1_0, NONE)],
    },
    CheckDef {
        id: "hostNamespaces",
        level: Level::Baseline,
        revisions: &[(0, c::host_namespaces_1_0, NONE)],
    },
    CheckDef {
        id: "hostPathVolumes",
        level: Level::Baseline,
        revisions: &[(0, c::host_path_volumes_1_0, NONE)],
    },
    CheckDef {
        id: "hostPorts",
        level: Level::Baseline,
        revisions: &[(0, c::host_ports_1_0, NONE)],
    },
    CheckDef {
        id: "hostProbesAndHostLifecycle",
        level: Level::Baseline,
        revisions: &[(34, c::host_probes_lifecycle_1_34, NONE)],
    },
    CheckDef {
        id: "privileged",
        level: Level::Baseline,
        revisions: &[(0, c::privileged_1_0, NONE)],
    },
    CheckDef {
        id: "procMount",
        level: Level::Baseline,
        revisions: &[
            (0, c::proc_mount_1_0, NONE),
            (35, c::proc_mount_1_35_baseline, NONE),
        ],
    },
    CheckDef {
        id: "seLinuxOptions",
        level: Level::Baseline,
        revisions: &[
            (0, c::selinux_options_1_0, NONE),
            (31, c::selinux_options_1_31, NONE),
        ],
    },
    CheckDef {
        id: "seccompProfile_baseline",
        level: Level::Baseline,
        revisions: &[
            (0, c::seccomp_baseline_1_0, NONE),
            (19, c::seccomp_baseline_1_19, NONE),
        ],
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
    },
    CheckDef {
        id: "windowsHostProcess",
        level: Level::Baseline,
        revisions: &[(0, c::windows_host_process_1_0, NONE)],
    },
    CheckDef {
        id: "allowPrivilegeEscalation",
        level: Level::Restricted,
        revisions: &[
            (8, c::allow_privilege_escalation_1_8, NONE),
            (25, c::allow_privilege_escalation_1_25, NONE),
        ],
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
    },
    CheckDef {
        id: "procMount_restricted",
        level: Level::Restricted,
        revisions: &[(35, c::proc_mount_restricted_1_35, &["procMount"])],
    },
    CheckDef {
        id: "restrictedVolumes",
        level: Level::Restricted,
        revisions: &[(0, c::restricted_volumes_1_0, &["hostPathVolumes"])],
    },
    CheckDef {
        id: "runAsNonRoot",
        level: Level::Restricted,
        revisions: &[
            (0, c::run_as_non_root_1_0, NONE),
            (35, c::run_as_non_root_1_35, NONE),
        ],
    },
    CheckDef {
        id: "runAsUser",
        level: Level::Restricted,
        revisions: &[
            (23, c::run_as_user_1_23, NONE),
            (35, c::run_as_user_1_35, NONE),
        ],
    },
    CheckDef {
        id: "seccompProfile_restricted",
        level: Level::Restricted,
        revisions: &[
            (19, c::seccomp_restricted_1_19, &["seccompProfile_baseline"]),
            (25, c::seccomp_restricted_1_25, &["seccompProfile_baseline"]),
        ],
    },
];

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
