use kubevigil_model::{Objects, Severity};
use kubevigil_rbac::risk::{Capability, granted, is_full_wildcard};
use kubevigil_rbac::{PolicyRule, Rbac};

use crate::{CIS, Category, Check, Config, Emitter, MITRE, Ref, RuleMeta, Scope};

pub struct RbacPersistentvolumeCreate;

static META: RuleMeta = RuleMeta {
    id: "rbac-persistentvolume-create",
    title: "RBAC grants creating PersistentVolumes",
    severity: Severity::High,
    category: Category::Rbac,
    doc: include_str!("rbac_persistentvolume_create.md"),
    remediation: "Let users claim storage with PersistentVolumeClaims and provision volumes through StorageClasses.",
    references: &[
        Ref {
            framework: CIS,
            id: "5.1.9",
            url: "https://www.cisecurity.org/benchmark/kubernetes",
        },
        Ref {
            framework: MITRE,
            id: "T1611",
            url: "https://attack.mitre.org/techniques/T1611/",
        },
    ],
};

const CAPS: &[Capability] = &[Capability::new(&["create"], "", &["persistentvolumes"])];

/// The capabilities of [`CAPS`] that `rule` grants; none for a rule with `*` verbs on `*`
/// resources, which `rbac-wildcard` reports alone.
pub fn flags(rule: &PolicyRule) -> Vec<String> {
    if is_full_wildcard(rule) {
        return Vec::new();
    }
    granted(rule, CAPS)
}

impl Check<Config> for RbacPersistentvolumeCreate {
    fn meta(&self) -> &'static RuleMeta {
        &META
    }

    fn scope(&self) -> Scope {
        Scope::Cluster
    }

    fn reads(&self, kind: &str) -> bool {
        super::reads_rbac(kind)
    }

    fn check_cluster(&self, _: &Config, objects: &dyn Objects, out: &mut Emitter) {
        super::alone(self, objects, out);
    }

    fn shared_analysis(&self) -> Option<&'static dyn std::any::Any> {
        super::shared(META.id)
    }
}

impl super::RbacCheck for RbacPersistentvolumeCreate {
    fn check_rbac(&self, rbac: &Rbac, _: &dyn Objects, out: &mut Emitter) {
        super::report_rules(rbac, out, flags);
    }
}
