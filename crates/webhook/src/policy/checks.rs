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

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn policy(exemptions: serde_json::Value) -> ChecksPolicy {
        let ids: Vec<&str> = kubevigil_checks::catalog().iter().map(|r| r.id).collect();
        let config = Config::from_value(json!({ "exemptions": exemptions }), &ids).unwrap();
        let check = kubevigil_checks::find_check("image-tag-latest").unwrap();
        ChecksPolicy {
            config,
            checks: vec![check],
        }
    }

    /// A CREATE of a Deployment running `nginx:latest`, its namespace only in the request.
    fn request() -> AdmissionRequest {
        serde_json::from_value(json!({
            "uid": "1", "operation": "CREATE", "name": "web", "namespace": "legacy",
            "kind": {"group": "apps", "version": "v1", "kind": "Deployment"},
            "resource": {"group": "apps", "version": "v1", "resource": "deployments"},
            "object": {"metadata": {"name": "web"}, "spec": {"template": {"spec": {
                "containers": [{"name": "app", "image": "nginx:latest"}]}}}},
        }))
        .unwrap()
    }

    #[test]
    fn denies_then_skips_what_it_does_not_judge() {
        let p = policy(json!([]));
        let d = p.validate(&request());
        assert!(!d.allowed, "{d:?}");
        assert!(
            d.status.unwrap().message.contains("image-tag-latest: "),
            "the denial names the check"
        );
        let mut delete = request();
        delete.operation = Operation::Delete;
        assert!(p.validate(&delete).not_applicable);
        let mut status = request();
        status.sub_resource = "status".into();
        assert!(p.validate(&status).not_applicable);
        let none = ChecksPolicy {
            checks: Vec::new(),
            ..policy(json!([]))
        };
        assert!(none.validate(&request()).not_applicable);
    }

    /// The object's namespace may be only in the request; exemptions by namespace still apply.
    #[test]
    fn the_request_namespace_counts_for_exemptions() {
        let p = policy(
            json!([{"checks": ["image-tag-latest"], "namespaces": ["legacy"], "reason": "old"}]),
        );
        let d = p.validate(&request());
        assert!(d.allowed && !d.not_applicable, "{d:?}");
        let mut elsewhere = request();
        elsewhere.namespace = "shop".into();
        assert!(!p.validate(&elsewhere).allowed);
    }
}
