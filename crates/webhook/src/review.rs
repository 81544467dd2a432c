//! The `admission.k8s.io/v1` AdmissionReview wire format, request and response.
//!
//! Upstream: `k8s.io/api/admission/v1/types.go`. The response's `patch` is a JSON Patch
//! (RFC 6902) encoded as **base64** in the JSON body (Go marshals `[]byte` that way); we encode it
//! ourselves rather than use a `Vec<u8>` that serde would write as an array of numbers.

use std::collections::BTreeMap;

use base64::Engine;
use serde::{Deserialize, Serialize};
use serde_json::Value;

pub const API_VERSION: &str = "admission.k8s.io/v1";
pub const KIND: &str = "AdmissionReview";

/// An incoming review. Only `request` is read; unknown fields are ignored as the API server's
/// decoder ignores them.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(bound(deserialize = "O: Deserialize<'de> + Default"))]
pub struct AdmissionReview<O = Value> {
    #[serde(default)]
    pub api_version: String,
    #[serde(default)]
    pub kind: String,
    pub request: Option<AdmissionRequest<O>>,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct GroupVersionKind {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub kind: String,
}

#[derive(Debug, Clone, Default, Deserialize, PartialEq, Eq)]
pub struct GroupVersionResource {
    #[serde(default)]
    pub group: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub resource: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
pub struct UserInfo {
    #[serde(default)]
    pub username: String,
    #[serde(default)]
    pub uid: String,
    #[serde(default)]
    pub groups: Vec<String>,
}

/// `AdmissionRequest`. `O` is what `object` and `oldObject` decode to: a JSON tree, or
/// [`crate::budget::ObjectCost`] when only their size is measured (see [`parse_envelope`]).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
#[serde(bound(deserialize = "O: Deserialize<'de> + Default"))]
pub struct AdmissionRequest<O = Value> {
    pub uid: String,
    #[serde(default)]
    pub kind: GroupVersionKind,
    #[serde(default)]
    pub resource: GroupVersionResource,
    #[serde(default)]
    pub sub_resource: String,
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub namespace: String,
    pub operation: Operation,
    #[serde(default)]
    pub user_info: UserInfo,
    #[serde(default)]
    pub object: O,
    #[serde(default)]
    pub old_object: O,
    #[serde(default)]
    pub dry_run: Option<bool>,
}

#[derive(Debug, Clone, Copy, Deserialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "UPPERCASE")]
pub enum Operation {
    Create,
    Update,
    Delete,
    Connect,
}

impl Operation {
    pub fn as_str(self) -> &'static str {
        match self {
            Operation::Create => "CREATE",
            Operation::Update => "UPDATE",
            Operation::Delete => "DELETE",
            Operation::Connect => "CONNECT",
        }
    }
}

impl<O> AdmissionRequest<O> {
    pub fn is_dry_run(&self) -> bool {
        self.dry_run == Some(true)
    }
}

/// `metav1.Status`, as carried in `response.status`.
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Status {
    pub metadata: serde_json::Map<String, Value>,
    pub status: &'static str,
    pub message: String,
    pub reason: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<StatusDetails>,
    pub code: u16,
}

/// `metav1.StatusDetails`: what the error is about (`kind` holds the resource, as upstream's
/// `NewForbidden` sets it).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct StatusDetails {
    #[serde(skip_serializing_if = "String::is_empty")]
    pub name: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub group: String,
    #[serde(skip_serializing_if = "String::is_empty")]
    pub kind: String,
}

impl Status {
    pub fn failure(code: u16, reason: &'static str, message: String) -> Status {
        Status {
            metadata: serde_json::Map::new(),
            status: "Failure",
            message,
            reason,
            details: None,
            code,
        }
    }

    /// `apierrors.NewForbidden(resource, name, err)` (apimachinery `pkg/api/errors/errors.go`):
    /// `<resource>[.<group>] "<name>" is forbidden: <err>`.
    pub fn forbidden(resource: &GroupVersionResource, name: &str, err: &str) -> Status {
        let gr = if resource.group.is_empty() {
            resource.resource.clone()
        } else {
            format!("{}.{}", resource.resource, resource.group)
        };
        let message = if gr.is_empty() {
            format!("forbidden: {err}")
        } else if name.is_empty() {
            format!("{gr} is forbidden: {err}")
        } else {
            format!(
                "{gr} {} is forbidden: {err}",
                kubevigil_pss::api::go_quote(name)
            )
        };
        let mut status = Status::failure(403, "Forbidden", message);
        if !resource.resource.is_empty() {
            status.details = Some(StatusDetails {
                name: name.to_string(),
                group: resource.group.clone(),
                kind: resource.resource.clone(),
            });
        }
        status
    }

    /// `apierrors.NewTooManyRequestsError(msg)`: `Too many requests: <msg>`, code 429.
    pub fn too_many_requests(msg: &str) -> Status {
        Status::failure(429, "TooManyRequests", format!("Too many requests: {msg}"))
    }

    pub fn bad_request(msg: String) -> Status {
        Status::failure(400, "BadRequest", msg)
    }
}

/// `AdmissionResponse`.
#[derive(Debug, Clone, Serialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct AdmissionResponse {
    pub uid: String,
    pub allowed: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub status: Option<Status>,
    /// Base64 of the JSON Patch document.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub patch_type: Option<&'static str>,
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub audit_annotations: BTreeMap<String, String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub warnings: Vec<String>,
}

impl AdmissionResponse {
    /// Sets a JSON Patch (an array of operations); an empty patch sets nothing.
    pub fn set_patch(&mut self, ops: &[Value]) {
        if ops.is_empty() {
            return;
        }
        let bytes = serde_json::to_vec(ops).expect("JSON values always serialize");
        self.patch = Some(base64::engine::general_purpose::STANDARD.encode(bytes));
        self.patch_type = Some("JSONPatch");
    }
}

/// The outgoing review.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ReviewResponse {
    pub api_version: &'static str,
    pub kind: &'static str,
    pub response: AdmissionResponse,
}

impl ReviewResponse {
    pub fn new(response: AdmissionResponse) -> Self {
        ReviewResponse {
            api_version: API_VERSION,
            kind: KIND,
            response,
        }
    }
}

/// Why a body is not an AdmissionReview we can answer.
#[derive(Debug, thiserror::Error)]
pub enum ReviewError {
    #[error("malformed AdmissionReview: {0}")]
    Json(#[from] serde_json::Error),
    #[error("unsupported AdmissionReview apiVersion {0:?} (expected admission.k8s.io/v1)")]
    Version(String),
    #[error("unexpected kind {0:?} (expected AdmissionReview)")]
    Kind(String),
    #[error("AdmissionReview has no request")]
    NoRequest,
}

/// Decodes a review body and checks its apiVersion and kind.
pub fn parse_review(body: &[u8]) -> Result<AdmissionRequest, ReviewError> {
    checked(serde_json::from_slice(body)?)
}

/// Decodes a review's envelope and only measures its objects ([`crate::budget::ObjectCost`]):
/// no JSON tree is built, so the memory evaluating the review will take can be reserved
/// before [`parse_review`] builds it.
pub fn parse_envelope(
    body: &[u8],
) -> Result<AdmissionRequest<crate::budget::ObjectCost>, ReviewError> {
    checked(serde_json::from_slice(body)?)
}

fn checked<O>(review: AdmissionReview<O>) -> Result<AdmissionRequest<O>, ReviewError> {
    if review.api_version != API_VERSION {
        return Err(ReviewError::Version(review.api_version));
    }
    if review.kind != KIND {
        return Err(ReviewError::Kind(review.kind));
    }
    review.request.ok_or(ReviewError::NoRequest)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn patch_is_base64_on_the_wire() {
        let mut r = AdmissionResponse {
            uid: "u1".into(),
            allowed: true,
            ..Default::default()
        };
        r.set_patch(&[json!({"op": "add", "path": "/a", "value": 1})]);
        let bytes = serde_json::to_vec(&ReviewResponse::new(r)).unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(
            text,
            r#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","response":{"uid":"u1","allowed":true,"patch":"W3sib3AiOiJhZGQiLCJwYXRoIjoiL2EiLCJ2YWx1ZSI6MX1d","patchType":"JSONPatch"}}"#
        );
        let b64 = json!(serde_json::from_slice::<Value>(&bytes).unwrap())["response"]["patch"]
            .as_str()
            .unwrap()
            .to_string();
        let decoded = base64::engine::general_purpose::STANDARD
            .decode(b64)
            .unwrap();
        assert_eq!(decoded, br#"[{"op":"add","path":"/a","value":1}]"#);
    }

    #[test]
    fn denial_carries_status_and_omits_empty_fields() {
        let r = AdmissionResponse {
            uid: "u2".into(),
            allowed: false,
            status: Some(Status::forbidden(
                &GroupVersionResource {
                    group: "".into(),
                    version: "v1".into(),
                    resource: "services".into(),
                },
                "web",
                "Use of external IPs is denied by admission control",
            )),
            ..Default::default()
        };
        let v = serde_json::to_value(ReviewResponse::new(r)).unwrap();
        assert_eq!(
            v["response"],
            json!({"uid": "u2", "allowed": false, "status": {"metadata": {}, "status": "Failure",
                "message": "services \"web\" is forbidden: Use of external IPs is denied by admission control",
                "reason": "Forbidden", "details": {"name": "web", "kind": "services"}, "code": 403}})
        );
    }

    #[test]
    fn parse_rejects_wrong_version_kind_and_missing_request() {
        assert!(matches!(
            parse_review(br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x","operation":"CREATE"}}"#),
            Err(ReviewError::Version(_))
        ));
        assert!(matches!(
            parse_review(br#"{"apiVersion":"admission.k8s.io/v1","kind":"Pod"}"#),
            Err(ReviewError::Kind(_))
        ));
        assert!(matches!(
            parse_review(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#),
            Err(ReviewError::NoRequest)
        ));
        assert!(matches!(parse_review(b"\xff{"), Err(ReviewError::Json(_))));
        let req = parse_review(br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","operation":"UPDATE","dryRun":true,"subResource":"status"}}"#).unwrap();
        assert_eq!(req.operation, Operation::Update);
        assert!(req.is_dry_run());
        assert_eq!(req.sub_resource, "status");
    }
}
