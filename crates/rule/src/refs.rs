//! The frameworks rules cite, defined once.

use crate::Ref;

pub const CIS: &str = "CIS Kubernetes Benchmark";
pub const NSA: &str = "NSA/CISA Kubernetes Hardening Guide";
pub const MITRE: &str = "MITRE ATT&CK";
pub const PSS: &str = "Kubernetes Pod Security Standards";

pub const CIS_URL: &str = "https://www.cisecurity.org/benchmark/kubernetes";
/// Kubernetes Hardening Guidance 1.2 (August 2022).
pub const NSA_URL: &str = "https://media.defense.gov/2022/Aug/29/2003066362/-1/-1/0/CTR_KUBERNETES_HARDENING_GUIDANCE_1.2_20220829.PDF";
pub const PSS_URL: &str = "https://kubernetes.io/docs/concepts/security/pod-security-standards/";

/// A Pod Security Standards control, e.g. `privileged` or `baseline/privileged`.
pub const fn pss(id: &'static str) -> Ref {
    Ref {
        framework: PSS,
        id,
        url: PSS_URL,
    }
}
