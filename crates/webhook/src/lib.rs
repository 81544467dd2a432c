//! kubevigil's admission webhook: the pure admission policies ([`policy`], [`mutate`]), the
//! AdmissionReview wire format ([`review`]), and the HTTPS server ([`server`]).
//!
//! [`Webhook`] holds the configured policies; [`Webhook::validate`] and [`Webhook::mutate`]
//! answer one request without I/O (the image vulnerability policy excepted: it reads the local
//! vulnerability database).

pub mod budget;
#[cfg(feature = "test-support")]
pub mod client;
pub mod config;
pub mod manifests;
pub mod metrics;
pub mod mutate;
pub mod namespaces;
pub mod policy;
pub mod review;
pub mod server;

use std::time::Instant;

use kubevigil_pss::config::PodSecurityConfiguration;

use mutate::MutationConfig;
use policy::checks::ChecksPolicy;
use policy::csr::CsrPolicy;
use policy::event_rate_limit::EventRateLimit;
use policy::image::ImagePolicy;
use policy::image_vulnerabilities::ImageVulnerabilityPolicy;
use policy::{Decision, Mode, PolicyId};
use review::{AdmissionRequest, AdmissionResponse};

/// The configured policies and the namespace labels they read.
pub struct Webhook {
    pub pod_security: Option<(Mode, PodSecurityConfiguration)>,
    pub external_ips: Option<Mode>,
    pub event_rate_limit: Option<(Mode, EventRateLimit)>,
    pub image: Option<(Mode, ImagePolicy)>,
    pub image_vulnerabilities: Option<(Mode, ImageVulnerabilityPolicy)>,
    pub csr: Option<(Mode, CsrPolicy)>,
    pub checks: Option<(Mode, ChecksPolicy)>,
    pub mutation: Option<MutationConfig>,
    pub namespaces: namespaces::NamespaceCache,
}

impl Default for Webhook {
    /// Pod Security enforced with upstream's defaults; hardening on namespace opt-in.
    fn default() -> Self {
        Webhook {
            pod_security: Some((Mode::Enforce, PodSecurityConfiguration::default())),
            external_ips: None,
            event_rate_limit: None,
            image: None,
            image_vulnerabilities: None,
            csr: None,
            checks: None,
            mutation: Some(MutationConfig::default()),
            namespaces: namespaces::NamespaceCache::default(),
        }
    }
}

/// A response and what each policy decided (for metrics and logs).
#[derive(Debug)]
pub struct Outcome {
    pub response: AdmissionResponse,
    /// (policy, decision) pairs; the mutation is reported as policy `harden`.
    pub decisions: Vec<(&'static str, &'static str)>,
}

impl Webhook {
    pub fn enabled(&self, id: PolicyId) -> bool {
        match id {
            PolicyId::PodSecurity => self.pod_security.is_some(),
            PolicyId::DenyServiceExternalIps => self.external_ips.is_some(),
            PolicyId::EventRateLimit => self.event_rate_limit.is_some(),
            PolicyId::ImagePolicy => self.image.is_some(),
            PolicyId::ImageVulnerabilities => self.image_vulnerabilities.is_some(),
            PolicyId::CsrApproval => self.csr.is_some(),
            PolicyId::Checks => self.checks.is_some(),
        }
    }

    fn run(&self, id: PolicyId, req: &AdmissionRequest, now: Instant) -> Option<Decision> {
        let (mode, d) = match id {
            PolicyId::PodSecurity => {
                let (mode, cfg) = self.pod_security.as_ref()?;
                (
                    *mode,
                    policy::pod_security::validate(cfg, &self.namespaces.read(), req),
                )
            }
            PolicyId::DenyServiceExternalIps => (
                *self.external_ips.as_ref()?,
                policy::external_ips::validate(req),
            ),
            PolicyId::EventRateLimit => {
                let (mode, erl) = self.event_rate_limit.as_ref()?;
                (*mode, erl.validate(req, now))
            }
            PolicyId::ImagePolicy => {
                let (mode, p) = self.image.as_ref()?;
                (*mode, p.validate(req))
            }
            PolicyId::ImageVulnerabilities => {
                let (mode, p) = self.image_vulnerabilities.as_ref()?;
                // Image and scan ages are counted from the wall clock.
                (
                    *mode,
                    p.validate(req, *mode, kubevigil_model::time::now_ms()),
                )
            }
            PolicyId::CsrApproval => {
                let (mode, p) = self.csr.as_ref()?;
                (*mode, p.validate(req))
            }
            PolicyId::Checks => {
                let (mode, p) = self.checks.as_ref()?;
                (*mode, p.validate(req))
            }
        };
        Some(d.with_mode(id, mode))
    }

    /// Runs every enabled policy (or only `only`) in order, stopping at the first denial as
    /// the API server's admission chain does. Warnings and audit annotations accumulate.
    pub fn validate(
        &self,
        req: &AdmissionRequest,
        only: Option<PolicyId>,
        now: Instant,
    ) -> Outcome {
        let mut response = AdmissionResponse {
            uid: req.uid.clone(),
            allowed: true,
            ..Default::default()
        };
        let mut decisions = Vec::new();
        for id in PolicyId::ALL {
            if only.is_some_and(|o| o != id) {
                continue;
            }
            let Some(d) = self.run(id, req, now) else {
                continue;
            };
            decisions.push((id.as_str(), d.label()));
            response.warnings.extend(d.warnings);
            response.audit_annotations.extend(d.audit_annotations);
            if !d.allowed {
                response.allowed = false;
                response.status = d.status;
                break;
            }
        }
        Outcome {
            response,
            decisions,
        }
    }

    /// The hardening patch for a Pod create in an opted-in namespace.
    pub fn mutate(&self, req: &AdmissionRequest) -> Outcome {
        let mut response = AdmissionResponse {
            uid: req.uid.clone(),
            allowed: true,
            ..Default::default()
        };
        let label = match &self.mutation {
            Some(m) if m.opted_in(self.namespaces.read().get(&req.namespace)) => {
                let ops = m.patch(req);
                response.set_patch(&ops);
                if ops.is_empty() { "allow" } else { "patch" }
            }
            _ => "skip",
        };
        Outcome {
            response,
            decisions: vec![("harden", label)],
        }
    }
}
