//! DenyServiceExternalIPs, as upstream's plugin
//! (kubernetes/kubernetes `plugin/pkg/admission/network/denyserviceexternalips/admission.go`):
//! on Service create and update (no subresource), any external IP not already on the old
//! Service is refused; removing or keeping IPs is allowed.

use super::{Decision, is_resource};
use crate::review::{AdmissionRequest, Operation, Status};

/// Upstream's error text, wrapped by `admission.NewForbidden`.
pub const MESSAGE: &str = "Use of external IPs is denied by admission control";

pub fn validate(req: &AdmissionRequest) -> Decision {
    if !matches!(req.operation, Operation::Create | Operation::Update)
        || !is_resource(&req.resource, "", "services")
        || !req.sub_resource.is_empty()
    {
        return Decision::skip();
    }
    let new_ips = external_ips(&req.object);
    let old_ips = (!req.old_object.is_null()).then(|| external_ips(&req.old_object));
    if is_subset(&new_ips, old_ips.as_deref()) {
        return Decision::allow();
    }
    Decision::deny(Status::forbidden(&req.resource, &req.name, MESSAGE))
}

fn external_ips(svc: &serde_json::Value) -> Vec<&str> {
    svc.pointer("/spec/externalIPs")
        .and_then(|v| v.as_array())
        .map(|a| a.iter().filter_map(|ip| ip.as_str()).collect())
        .unwrap_or_default()
}

/// `isSubset`: no IPs is a subset; IPs on a create are not; otherwise every new IP must be old.
fn is_subset(new: &[&str], old: Option<&[&str]>) -> bool {
    if new.is_empty() {
        return true;
    }
    let Some(old) = old else {
        return false;
    };
    new.iter().all(|ip| old.contains(ip))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn req(
        op: &str,
        sub: &str,
        new: serde_json::Value,
        old: serde_json::Value,
    ) -> AdmissionRequest {
        serde_json::from_value(json!({
            "uid": "1", "operation": op, "subResource": sub, "name": "web", "namespace": "shop",
            "kind": {"group": "", "version": "v1", "kind": "Service"},
            "resource": {"group": "", "version": "v1", "resource": "services"},
            "object": new, "oldObject": old,
        }))
        .unwrap()
    }
    fn svc(ips: &[&str]) -> serde_json::Value {
        json!({"spec": {"externalIPs": ips}})
    }

    #[test]
    fn upstream_cases() {
        let d = validate(&req("CREATE", "", svc(&["1.1.1.1"]), json!(null)));
        assert_eq!(
            d.status.unwrap().message,
            r#"services "web" is forbidden: Use of external IPs is denied by admission control"#
        );
        assert!(validate(&req("CREATE", "", svc(&[]), json!(null))).allowed);
        assert!(validate(&req("CREATE", "", json!({"spec": {}}), json!(null))).allowed);
        // Update: adding is denied, keeping, reordering and removing are allowed.
        assert!(
            !validate(&req(
                "UPDATE",
                "",
                svc(&["1.1.1.1", "2.2.2.2"]),
                svc(&["1.1.1.1"])
            ))
            .allowed
        );
        assert!(!validate(&req("UPDATE", "", svc(&["1.1.1.1"]), svc(&[]))).allowed);
        assert!(
            validate(&req(
                "UPDATE",
                "",
                svc(&["2.2.2.2", "1.1.1.1"]),
                svc(&["1.1.1.1", "2.2.2.2"])
            ))
            .allowed
        );
        assert!(
            validate(&req(
                "UPDATE",
                "",
                svc(&["1.1.1.1"]),
                svc(&["1.1.1.1", "2.2.2.2"])
            ))
            .allowed
        );
        assert!(validate(&req("UPDATE", "", svc(&[]), svc(&["1.1.1.1"]))).allowed);
        // Subresources (status) are not checked.
        assert!(validate(&req("UPDATE", "status", svc(&["1.1.1.1"]), svc(&[]))).not_applicable);
    }

    /// Only creates and updates of core Services are judged.
    #[test]
    fn other_operations_and_resources_are_not_judged() {
        let mut delete = req("DELETE", "", svc(&["1.1.1.1"]), json!(null));
        assert!(validate(&delete).not_applicable);
        delete.operation = Operation::Create;
        assert!(!validate(&delete).allowed);
        delete.resource.resource = "pods".into();
        assert!(validate(&delete).not_applicable);
        let mut other_group = req("CREATE", "", svc(&["1.1.1.1"]), json!(null));
        other_group.resource.group = "example.com".into();
        assert!(validate(&other_group).not_applicable);
    }
}
