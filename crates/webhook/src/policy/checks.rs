//! `kubevigil scan` checks marked enforceable in the webhook configuration, run on the single
//! object of the request (create and update, no subresource). Configuration exemptions and the
//! `kubevigil.io/ignore` annotation apply as in `kubevigil scan` (`kubevigil_checks::run_scan`).
//! Checks that need other objects (e.g. a Service's selected pods) see only this object.

use kubevigil_checks::{Check, Config, run_scan};
use kubevigil_model::{Inventory, Object};

use super::Decision;
use crate::review::{AdmissionRequest, Operation, Status};

pub struct ChecksPolicy {
    pub config: Config,
    pub checks: Vec<&'static dyn Check<Config>>,
}

impl ChecksPolicy {
    pub fn validate(&self, req: &AdmissionRequest) -> Decision {
        if !matches!(req.operation, Operation::Create | Operation::Update)
            || !req.sub_resource.is_empty()
            || self.checks.is_empty()
        {
            return Decision::skip();
        }
        let mut value = req.object.clone();
        // apiVersion and kind are always set by the API server; fill them from the request
        // for hand-made reviews.
        if let Some(obj) = value.as_object_mut() {
            let api_version = if req.kind.group.is_empty() {
                req.kind.version.clone()
            } else {
                format!("{}/{}", req.kind.group, req.kind.version)
            };
            obj.entry("apiVersion")
                .or_insert_with(|| serde_json::Value::String(api_version));
            obj.entry("kind")
                .or_insert_with(|| serde_json::Value::String(req.kind.kind.clone()));
        }
        // The object's namespace may only be in the request (e.g. a create without metadata.namespace).
        if let Some(meta) = value
            .get_mut("metadata")
            .and_then(|m| m.as_object_mut())
            .filter(|_| !req.namespace.is_empty())
        {
            meta.entry("namespace")
                .or_insert_with(|| serde_json::Value::String(req.namespace.clone()));
        }
        let Some(object) = Object::from_admission(value, &req.uid) else {
            return Decision::skip();
        };
        let inventory = Inventory {
            objects: vec![object],
        };
        let outcome = run_scan(&inventory, &self.config, &self.checks, Vec::new(), None);
        if outcome.findings.is_empty() {
            return Decision::allow();
        }
        let msgs: Vec<String> = outcome
            .findings
            .iter()
            .map(|f| format!("{}: {}", f.check_id, f.message))
            .collect();
        Decision::deny(Status::forbidden(
            &req.resource,
            &req.name,
            &msgs.join("; "),
        ))
    }
}
