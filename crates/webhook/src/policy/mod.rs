//! Admission policies: pure functions from an [`AdmissionRequest`] to a [`Decision`].
//!
//! Every policy has a [`Mode`]: `enforce` denies, `warn` turns a denial into a warning returned
//! to the client, `audit` turns it into an audit annotation. Policies never do I/O, except that
//! the image vulnerability policy reads the local vulnerability database (a file, never the
//! network); the rate limiter keeps its token buckets in memory and takes the current time as
//! an argument.

pub mod checks;
pub mod csr;
pub mod event_rate_limit;
pub mod external_ips;
pub mod image;
pub mod image_vulnerabilities;
pub mod pod_security;

use kubevigil_model::{pod_template_value, workload_kind_of_resource};
use serde::Deserialize;

use crate::review::{AdmissionRequest, GroupVersionResource, Status};

/// What a policy does with a violation.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Mode {
    #[default]
    Enforce,
    Warn,
    Audit,
}

/// A policy's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Decision {
    pub allowed: bool,
    /// Set when denied.
    pub status: Option<Status>,
    pub warnings: Vec<String>,
    /// Keys without prefix: the API server prefixes them with the webhook's name.
    pub audit_annotations: Vec<(String, String)>,
    /// The policy did not look at the request (wrong kind, operation or subresource).
    pub not_applicable: bool,
}

impl Decision {
    pub fn allow() -> Decision {
        Decision {
            allowed: true,
            status: None,
            warnings: Vec::new(),
            audit_annotations: Vec::new(),
            not_applicable: false,
        }
    }

    pub fn skip() -> Decision {
        Decision {
            not_applicable: true,
            ..Decision::allow()
        }
    }

    pub fn deny(status: Status) -> Decision {
        Decision {
            allowed: false,
            status: Some(status),
            ..Decision::allow()
        }
    }

    pub fn annotate(mut self, key: &str, value: String) -> Decision {
        self.audit_annotations.push((key.to_string(), value));
        self
    }

    /// Applies `mode` to a denial: `warn` admits with the message as a warning, `audit` admits
    /// with the message in the `<policy>` audit annotation.
    pub fn with_mode(mut self, policy: PolicyId, mode: Mode) -> Decision {
        if self.allowed || mode == Mode::Enforce {
            return self;
        }
        let message = self.status.take().map(|s| s.message).unwrap_or_default();
        self.allowed = true;
        match mode {
            Mode::Warn => self.warnings.push(message),
            Mode::Audit | Mode::Enforce => self
                .audit_annotations
                .push((policy.as_str().to_string(), message)),
        }
        self
    }

    /// The label used in metrics and logs.
    pub fn label(&self) -> &'static str {
        if self.not_applicable {
            "skip"
        } else if !self.allowed {
            "deny"
        } else if !self.warnings.is_empty() {
            "warn"
        } else {
            "allow"
        }
    }
}

/// The policies, in evaluation order; `as_str` is the URL path segment (`/validate/<id>`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum PolicyId {
    PodSecurity,
    DenyServiceExternalIps,
    EventRateLimit,
    ImagePolicy,
    ImageVulnerabilities,
    CsrApproval,
    Checks,
}

impl PolicyId {
    pub const ALL: [PolicyId; 7] = [
        PolicyId::PodSecurity,
        PolicyId::DenyServiceExternalIps,
        PolicyId::EventRateLimit,
        PolicyId::ImagePolicy,
        PolicyId::ImageVulnerabilities,
        PolicyId::CsrApproval,
        PolicyId::Checks,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            PolicyId::PodSecurity => "pod-security",
            PolicyId::DenyServiceExternalIps => "deny-service-external-ips",
            PolicyId::EventRateLimit => "event-rate-limit",
            PolicyId::ImagePolicy => "image-policy",
            PolicyId::ImageVulnerabilities => "image-vulnerabilities",
            PolicyId::CsrApproval => "csr-approval",
            PolicyId::Checks => "checks",
        }
    }

    pub fn parse(s: &str) -> Option<PolicyId> {
        PolicyId::ALL.into_iter().find(|p| p.as_str() == s)
    }
}

/// `group/resource` of a request, e.g. `("apps", "deployments")`.
pub(crate) fn is_resource(r: &GroupVersionResource, group: &str, resource: &str) -> bool {
    r.group == group && r.resource == resource
}

/// The workload kind of a request's resource (`kubevigil_model::WORKLOAD_RESOURCES`: Pods and
/// the pod controllers of upstream's `DefaultPodSpecExtractor`).
fn workload_kind(r: &GroupVersionResource) -> Option<&'static str> {
    workload_kind_of_resource(&r.group, &r.resource)
}

/// Resources whose objects carry a pod template, as upstream's `DefaultPodSpecExtractor`
/// (pod-security-admission `admission/admission.go`) knows them (Pods excluded).
pub(crate) fn is_pod_controller(r: &GroupVersionResource) -> bool {
    workload_kind(r).is_some_and(|kind| kind != "Pod")
}

/// The pod metadata and spec of a Pod or pod controller object (`None` when absent), with
/// `kubevigil_model::pod_template_value`, the accessor the scan's checks use.
pub(crate) fn pod_template<'a>(
    req: &AdmissionRequest,
    object: &'a serde_json::Value,
) -> Option<(&'a serde_json::Value, &'a serde_json::Value)> {
    pod_template_value(workload_kind(&req.resource)?, object)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The `decision` label of `kubevigil_webhook_decisions_total` and of the decision logs.
    #[test]
    fn decision_labels() {
        let pods = GroupVersionResource {
            group: String::new(),
            version: "v1".into(),
            resource: "pods".into(),
        };
        let denial = || Decision::deny(Status::forbidden(&pods, "p", "no"));
        assert_eq!(Decision::skip().label(), "skip");
        assert_eq!(Decision::allow().label(), "allow");
        assert_eq!(denial().label(), "deny");
        assert_eq!(
            denial()
                .with_mode(PolicyId::PodSecurity, Mode::Enforce)
                .label(),
            "deny"
        );
        assert_eq!(
            denial()
                .with_mode(PolicyId::PodSecurity, Mode::Warn)
                .label(),
            "warn"
        );
        // Audit mode admits silently: the message is only in the audit annotation.
        assert_eq!(
            denial()
                .with_mode(PolicyId::PodSecurity, Mode::Audit)
                .label(),
            "allow"
        );
    }
}
