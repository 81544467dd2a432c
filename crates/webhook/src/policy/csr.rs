//! CertificateSigningRequest approval guard.
//!
//! On an update of the `approval` subresource of a `certificates.k8s.io` CSR that adds an
//! `Approved` condition: refuse (or warn, per mode) approving a signer outside the allow-list,
//! and approving a client certificate whose subject carries the organisation `system:masters`
//! (a credential that bypasses all authorization, and that cannot be revoked short of rotating
//! the cluster CA). The CSR's PEM is parsed with a minimal DER reader (subject only).

use base64::Engine;
use serde::Deserialize;
use serde_json::Value;

use super::Decision;
use crate::review::{AdmissionRequest, Operation, Status};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct CsrPolicy {
    /// Signers whose requests may be approved; empty admits every signer.
    #[serde(default)]
    pub allowed_signers: Vec<String>,
    /// Refuse approving client certificates for the `system:masters` group.
    #[serde(default = "yes")]
    pub deny_system_masters: bool,
}

fn yes() -> bool {
    true
}

impl Default for CsrPolicy {
    fn default() -> Self {
        CsrPolicy {
            allowed_signers: Vec::new(),
            deny_system_masters: true,
        }
    }
}

const OID_ORGANIZATION: &[u8] = &[0x55, 0x04, 0x0a];

impl CsrPolicy {
    pub fn validate(&self, req: &AdmissionRequest) -> Decision {
        if req.operation != Operation::Update
            || req.resource.group != "certificates.k8s.io"
            || req.resource.resource != "certificatesigningrequests"
            || req.sub_resource != "approval"
        {
            return Decision::skip();
        }
        if !has_condition(&req.object, "Approved") || has_condition(&req.old_object, "Approved") {
            return Decision::allow();
        }
        let spec = req.object.get("spec").unwrap_or(&Value::Null);
        let signer = spec.get("signerName").and_then(Value::as_str).unwrap_or("");
        let mut problems = Vec::new();
        if !self.allowed_signers.is_empty() && !self.allowed_signers.iter().any(|s| s == signer) {
            problems.push(format!(
                "signer {signer:?} is not in the allowed signers ({})",
                self.allowed_signers.join(", ")
            ));
        }
        if self.deny_system_masters && is_client_cert(spec, signer) {
            let orgs = spec
                .get("request")
                .and_then(Value::as_str)
                .and_then(subject_organizations)
                .unwrap_or_default();
            if orgs.iter().any(|o| o == "system:masters") {
                problems.push(
                    "approving a client certificate for group \"system:masters\" is not allowed"
                        .into(),
                );
            }
        }
        if problems.is_empty() {
            Decision::allow()
        } else {
            Decision::deny(Status::forbidden(
                &req.resource,
                &req.name,
                &problems.join("; "),
            ))
        }
    }
}

fn has_condition(csr: &Value, t: &str) -> bool {
    csr.pointer("/status/conditions")
        .and_then(Value::as_array)
        .is_some_and(|c| {
            c.iter()
                .any(|c| c.get("type").and_then(Value::as_str) == Some(t))
        })
}

fn is_client_cert(spec: &Value, signer: &str) -> bool {
    signer == "kubernetes.io/kube-apiserver-client"
        || spec
            .get("usages")
            .and_then(Value::as_array)
            .is_some_and(|u| u.iter().any(|u| u.as_str() == Some("client auth")))
}

/// The `O=` values of the subject of a PEM (or DER) PKCS#10 request given base64-encoded, as
/// in `spec.request`. `None` when it cannot be read.
pub fn subject_organizations(request_b64: &str) -> Option<Vec<String>> {
    let raw = base64::engine::general_purpose::STANDARD
        .decode(request_b64.trim())
        .ok()?;
    let der = match std::str::from_utf8(&raw) {
        Ok(text) if text.contains("-----BEGIN") => {
            let body: String = text.lines().filter(|l| !l.starts_with("-----")).collect();
            base64::engine::general_purpose::STANDARD
                .decode(body.trim())
                .ok()?
        }
        _ => raw,
    };
    // CertificationRequest ::= SEQUENCE { CertificationRequestInfo ::= SEQUENCE { version, subject, ...
    let (_, csr, _) = der_read(&der)?;
    let (_, info, _) = der_read(csr)?;
    let (_, _, rest) = der_read(info)?; // version
    let (tag, mut name, _) = der_read(rest)?;
    if tag != 0x30 {
        return None;
    }
    let mut out = Vec::new();
    while !name.is_empty() {
        let (_, mut set, rest) = der_read(name)?;
        name = rest;
        while !set.is_empty() {
            let (_, atv, rest) = der_read(set)?;
            set = rest;
            let (tag, oid, after) = der_read(atv)?;
            let (_, value, _) = der_read(after)?;
            if tag == 0x06 && oid == OID_ORGANIZATION {
                out.push(String::from_utf8_lossy(value).into_owned());
            }
        }
    }
    Some(out)
}

/// One DER TLV: (tag, contents, rest).
fn der_read(b: &[u8]) -> Option<(u8, &[u8], &[u8])> {
    let (&tag, b) = b.split_first()?;
    let (&len0, mut b) = b.split_first()?;
    let len = if len0 < 0x80 {
        len0 as usize
    } else {
        let n = (len0 & 0x7f) as usize;
        if n == 0 || n > 4 || b.len() < n {
            return None;
        }
        let len = b[..n].iter().fold(0usize, |a, &x| (a << 8) | x as usize);
        b = &b[n..];
        len
    };
    if b.len() < len {
        return None;
    }
    Some((tag, &b[..len], &b[len..]))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    pub fn csr_pem(org: &str) -> String {
        let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
        params
            .distinguished_name
            .push(rcgen::DnType::CommonName, "admin");
        params
            .distinguished_name
            .push(rcgen::DnType::OrganizationName, org);
        let key = rcgen::KeyPair::generate().unwrap();
        params.serialize_request(&key).unwrap().pem().unwrap()
    }

    fn approval(signer: &str, org: &str, old_approved: bool) -> AdmissionRequest {
        let request = base64::engine::general_purpose::STANDARD.encode(csr_pem(org));
        let cond = json!({"status": {"conditions": [{"type": "Approved", "status": "True"}]}});
        let mut obj =
            json!({"spec": {"signerName": signer, "request": request, "usages": ["client auth"]}});
        obj["status"] = cond["status"].clone();
        let mut old = json!({"spec": obj["spec"].clone()});
        if old_approved {
            old["status"] = cond["status"].clone();
        }
        serde_json::from_value(json!({
            "uid": "1", "operation": "UPDATE", "subResource": "approval", "name": "csr-1",
            "resource": {"group": "certificates.k8s.io", "version": "v1", "resource": "certificatesigningrequests"},
            "object": obj, "oldObject": old,
        }))
        .unwrap()
    }

    /// A request given as DER rather than PEM, here one whose bytes are all ASCII (so also
    /// valid UTF-8 text, yet not PEM): its subject is still read.
    #[test]
    fn reads_a_der_request_that_is_also_text() {
        let mut der = vec![
            0x30, 0x20, // CertificationRequest
            0x30, 0x1e, // CertificationRequestInfo
            0x02, 0x01, 0x00, // version 0
            0x30, 0x19, // subject Name
            0x31, 0x17, // RelativeDistinguishedName
            0x30, 0x15, // AttributeTypeAndValue
            0x06, 0x03, 0x55, 0x04, 0x0a, // id-at-organizationName
            0x0c, 0x0e, // UTF8String, 14 bytes
        ];
        der.extend_from_slice(b"system:masters");
        assert!(std::str::from_utf8(&der).is_ok());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&der);
        assert_eq!(subject_organizations(&b64).unwrap(), ["system:masters"]);
    }

    /// DER lengths (X.690 8.1.3): short form, long form of 1 to 4 bytes; the indefinite form
    /// (0x80) is not DER, and a truncated length or content is refused.
    #[test]
    fn der_read_lengths() {
        let mut indefinite = vec![0x30, 0x80];
        indefinite.extend([0u8; 130]);
        assert_eq!(der_read(&indefinite), None);
        assert_eq!(
            der_read(&[0x30, 0x84, 0, 0, 0, 2, 0xaa, 0xbb]),
            Some((0x30, &[0xaa, 0xbb][..], &[][..]))
        );
        assert_eq!(der_read(&[0x30, 0x85, 0, 0, 0, 0, 2, 0xaa, 0xbb]), None);
        assert_eq!(der_read(&[0x30, 0x82, 0x01]), None);
        // Long form with the length bytes ending the buffer: an empty content.
        assert_eq!(
            der_read(&[0x04, 0x81, 0x00]),
            Some((0x04, &[][..], &[][..]))
        );
        // Length bytes are big-endian: 0x01 0x00 is 256.
        let mut long = vec![0x04, 0x82, 0x01, 0x00];
        long.extend([7u8; 257]);
        let (_, content, rest) = der_read(&long).unwrap();
        assert_eq!((content.len(), rest), (256, &[7u8][..]));
        assert_eq!(der_read(&[0x30, 0x81, 0x02, 0xaa]), None);
        assert_eq!(
            der_read(&[0x30, 0x81, 0x02, 0xaa, 0xbb, 0xcc]),
            Some((0x30, &[0xaa, 0xbb][..], &[0xcc][..]))
        );
    }

    #[test]
    fn reads_the_subject_organisation() {
        let b64 = base64::engine::general_purpose::STANDARD.encode(csr_pem("system:masters"));
        assert_eq!(subject_organizations(&b64).unwrap(), ["system:masters"]);
        assert_eq!(subject_organizations("!!"), None);
        assert_eq!(
            subject_organizations(
                &base64::engine::general_purpose::STANDARD.encode([0x30, 0x85, 1])
            ),
            None
        );
    }

    #[test]
    fn guards_masters_and_signers() {
        let p = CsrPolicy {
            allowed_signers: vec!["kubernetes.io/kube-apiserver-client".into()],
            ..Default::default()
        };
        let d = p.validate(&approval(
            "kubernetes.io/kube-apiserver-client",
            "system:masters",
            false,
        ));
        assert_eq!(
            d.status.unwrap().message,
            r#"certificatesigningrequests.certificates.k8s.io "csr-1" is forbidden: approving a client certificate for group "system:masters" is not allowed"#
        );
        assert!(
            p.validate(&approval(
                "kubernetes.io/kube-apiserver-client",
                "dev",
                false
            ))
            .allowed
        );
        assert!(
            !p.validate(&approval("example.com/other", "dev", false))
                .allowed
        );
        assert!(
            p.validate(&approval(
                "kubernetes.io/kube-apiserver-client",
                "system:masters",
                true
            ))
            .allowed,
            "already approved"
        );
    }

    /// The policy judges only approvals (UPDATE of `certificatesigningrequests/approval` in
    /// `certificates.k8s.io`): changing any one of the four leaves a request it would deny
    /// unexamined.
    /// With no allowed-signers list every signer is allowed; only the masters group is refused.
    #[test]
    fn no_signer_list_allows_every_signer() {
        let p = CsrPolicy::default();
        assert!(
            p.validate(&approval("example.com/other", "dev", false))
                .allowed
        );
        assert!(
            !p.validate(&approval("example.com/other", "system:masters", false))
                .allowed
        );
        // A serving certificate may name any organisation.
        let mut serving = approval("kubernetes.io/kubelet-serving", "system:masters", false);
        serving.object["spec"]["usages"] = json!(["server auth"]);
        assert!(p.validate(&serving).allowed);
        // The masters guard can be turned off.
        let off = CsrPolicy {
            deny_system_masters: false,
            ..CsrPolicy::default()
        };
        assert!(
            off.validate(&approval(
                "kubernetes.io/kube-apiserver-client",
                "system:masters",
                false
            ))
            .allowed
        );
    }

    #[test]
    fn each_guard_alone_skips() {
        let p = CsrPolicy::default();
        let denied = || {
            approval(
                "kubernetes.io/kube-apiserver-client",
                "system:masters",
                false,
            )
        };
        assert!(!p.validate(&denied()).allowed);
        let variants: [fn(&mut AdmissionRequest); 5] = [
            |r| r.operation = Operation::Create,
            |r| r.resource.group = "example.com".into(),
            |r| r.resource.resource = "pods".into(),
            |r| r.sub_resource = String::new(),
            |r| r.sub_resource = "status".into(),
        ];
        for (i, change) in variants.iter().enumerate() {
            let mut r = denied();
            change(&mut r);
            let d = p.validate(&r);
            assert!(d.not_applicable && d.allowed, "variant {i}: {d:?}");
        }
    }
}
