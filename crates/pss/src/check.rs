//! The Pod Security controls as [`Check`]s, one per control, for runners that evaluate objects
//! one at a time (the monitor's incremental evaluator). Each finds exactly what
//! [`scan::scan_findings_and_errors`] finds for its control; the batch scan keeps one decode and
//! one evaluation per template for speed.

use kubevigil_model::Object;
use kubevigil_model::workload::{is_workload_kind, pod_template};
use kubevigil_rule::{Check, Emitter, RuleMeta, Scope};

use crate::api::LevelVersion;
use crate::registry::{CHECKS, CheckDef, evaluate_one};
use crate::scan;

/// What the Pod Security checks are configured with: the level and version to enforce.
pub trait PodSecuritySettings {
    fn pod_security(&self) -> LevelVersion;
}

impl PodSecuritySettings for LevelVersion {
    fn pod_security(&self) -> LevelVersion {
        *self
    }
}

/// One Pod Security control (finding `pss-<id>`) over Pods and workloads' pod templates.
#[derive(Clone, Copy)]
pub struct ControlCheck {
    def: &'static CheckDef,
}

/// Every control as a check, in [`CHECKS`] order.
pub static CONTROL_CHECKS: [ControlCheck; 19] = {
    let mut out = [ControlCheck { def: &CHECKS[0] }; 19];
    let mut i = 1;
    while i < out.len() {
        out[i] = ControlCheck { def: &CHECKS[i] };
        i += 1;
    }
    out
};

impl<S: PodSecuritySettings + ?Sized> Check<S> for ControlCheck {
    fn meta(&self) -> &'static RuleMeta {
        &self.def.rule
    }

    fn scope(&self) -> Scope {
        Scope::Object
    }

    fn reads(&self, kind: &str) -> bool {
        is_workload_kind(kind)
    }

    fn check_object(&self, settings: &S, object: &Object, out: &mut Emitter) {
        let Some(template) = pod_template(object) else {
            return;
        };
        // Every control reports an undecodable template (runners keep one copy per object), so
        // that it is reported whichever controls are enabled, at any level.
        let pod = match scan::decode(&template) {
            Ok(pod) => pod,
            Err(e) => return out.diagnostics.push(e.diagnostic()),
        };
        let lv = settings.pod_security();
        if let Some(v) = evaluate_one(lv, self.def.id, &pod.meta, &pod.spec) {
            out.findings
                .push(scan::finding_for(&template, lv, &pod, &v));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_check_per_control_in_order() {
        let ids: Vec<&str> = CONTROL_CHECKS.iter().map(|c| c.def.id).collect();
        let want: Vec<&str> = CHECKS.iter().map(|d| d.id).collect();
        assert_eq!(ids, want);
    }
}
