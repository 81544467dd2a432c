//! Hardening patches for Pods in namespaces that opt in with a label (default
//! `kubevigil.io/harden: "true"`): pod `seccompProfile: RuntimeDefault`, and per container
//! `allowPrivilegeEscalation: false` and `capabilities.drop: [ALL]`, each only where unset.
//!
//! The patch is a minimal JSON Patch (RFC 6902): only `add` operations on absent fields, one
//! per missing object, so nothing the user set is replaced. Containers that are privileged or
//! add `SYS_ADMIN` keep their privilege-escalation setting (the API server rejects
//! `allowPrivilegeEscalation: false` with either). Windows pods (`spec.os.name: windows`) are
//! not patched (these fields are Linux-only).

use kubevigil_model::{ContainerKind, container_list};
use serde::Deserialize;
use serde_json::{Value, json};

use crate::review::{AdmissionRequest, Operation};

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct MutationConfig {
    #[serde(default = "default_label")]
    pub namespace_label: String,
    #[serde(default = "default_value")]
    pub namespace_label_value: String,
    #[serde(default = "yes")]
    pub seccomp_profile: bool,
    #[serde(default = "yes")]
    pub allow_privilege_escalation: bool,
    #[serde(default = "yes")]
    pub drop_all_capabilities: bool,
}

fn default_label() -> String {
    "kubevigil.io/harden".into()
}
fn default_value() -> String {
    "true".into()
}
fn yes() -> bool {
    true
}

impl Default for MutationConfig {
    fn default() -> Self {
        MutationConfig {
            namespace_label: default_label(),
            namespace_label_value: default_value(),
            seccomp_profile: true,
            allow_privilege_escalation: true,
            drop_all_capabilities: true,
        }
    }
}

impl MutationConfig {
    /// Whether a namespace with these labels opted in.
    pub fn opted_in(&self, labels: Option<&serde_json::Map<String, Value>>) -> bool {
        labels
            .and_then(|l| l.get(&self.namespace_label))
            .and_then(Value::as_str)
            == Some(self.namespace_label_value.as_str())
    }

    /// The JSON Patch operations hardening a Pod create request (empty when nothing to do).
    pub fn patch(&self, req: &AdmissionRequest) -> Vec<Value> {
        if req.operation != Operation::Create
            || !req.resource.group.is_empty()
            || req.resource.resource != "pods"
            || !req.sub_resource.is_empty()
        {
            return Vec::new();
        }
        let Some(spec_value) = req.object.get("spec") else {
            return Vec::new();
        };
        let Some(spec) = spec_value.as_object() else {
            return Vec::new();
        };
        if spec
            .get("os")
            .and_then(|o| o.get("name"))
            .and_then(Value::as_str)
            == Some("windows")
        {
            return Vec::new();
        }
        let mut ops = Vec::new();
        if self.seccomp_profile {
            match spec.get("securityContext") {
                Some(Value::Object(sc)) => {
                    if sc.get("seccompProfile").is_none_or(Value::is_null) {
                        ops.push(add(
                            "/spec/securityContext/seccompProfile",
                            json!({"type": "RuntimeDefault"}),
                        ));
                    }
                }
                None | Some(Value::Null) => ops.push(add(
                    "/spec/securityContext",
                    json!({"seccompProfile": {"type": "RuntimeDefault"}}),
                )),
                Some(_) => {}
            }
        }
        for kind in [ContainerKind::Init, ContainerKind::Regular] {
            for (i, c) in container_list(spec_value, kind).iter().enumerate() {
                self.container_ops(&format!("/spec/{}/{i}", kind.field()), c, &mut ops);
            }
        }
        ops
    }

    fn container_ops(&self, base: &str, c: &Value, ops: &mut Vec<Value>) {
        if !c.is_object() {
            return;
        }
        let sc = c.get("securityContext").filter(|v| !v.is_null());
        let privileged = sc
            .and_then(|s| s.get("privileged"))
            .and_then(Value::as_bool)
            == Some(true);
        let adds_sys_admin = sc
            .and_then(|s| s.pointer("/capabilities/add"))
            .and_then(Value::as_array)
            .is_some_and(|a| {
                a.iter()
                    .any(|c| matches!(c.as_str(), Some("SYS_ADMIN" | "CAP_SYS_ADMIN")))
            });
        let want_ape = self.allow_privilege_escalation
            && !privileged
            && !adds_sys_admin
            && sc
                .and_then(|s| s.get("allowPrivilegeEscalation"))
                .is_none_or(Value::is_null);
        let caps = sc
            .and_then(|s| s.get("capabilities"))
            .filter(|v| !v.is_null());
        let want_drop = self.drop_all_capabilities
            && caps.and_then(|c| c.get("drop")).is_none_or(Value::is_null);
        let Some(sc) = sc else {
            let mut new = serde_json::Map::new();
            if want_ape {
                new.insert("allowPrivilegeEscalation".into(), json!(false));
            }
            if want_drop {
                new.insert("capabilities".into(), json!({"drop": ["ALL"]}));
            }
            if !new.is_empty() {
                ops.push(add(&format!("{base}/securityContext"), Value::Object(new)));
            }
            return;
        };
        if !sc.is_object() {
            return;
        }
        if want_ape {
            ops.push(add(
                &format!("{base}/securityContext/allowPrivilegeEscalation"),
                json!(false),
            ));
        }
        if want_drop {
            match caps {
                None => ops.push(add(
                    &format!("{base}/securityContext/capabilities"),
                    json!({"drop": ["ALL"]}),
                )),
                Some(c) if c.is_object() => ops.push(add(
                    &format!("{base}/securityContext/capabilities/drop"),
                    json!(["ALL"]),
                )),
                Some(_) => {}
            }
        }
    }
}

fn add(path: &str, value: Value) -> Value {
    json!({"op": "add", "path": path, "value": value})
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod_req(spec: Value) -> AdmissionRequest {
        serde_json::from_value(json!({
            "uid": "1", "operation": "CREATE", "name": "p", "namespace": "ns",
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p"}, "spec": spec},
        }))
        .unwrap()
    }

    fn apply(req: &AdmissionRequest, ops: &[Value]) -> Value {
        let patch: json_patch::Patch = serde_json::from_value(Value::Array(ops.to_vec())).unwrap();
        let mut doc = req.object.clone();
        json_patch::patch(&mut doc, &patch).unwrap();
        doc
    }

    #[test]
    fn bare_pod_gets_everything_in_minimal_ops() {
        let r = pod_req(
            json!({"containers": [{"name": "a", "image": "x"}], "initContainers": [{"name": "i", "image": "x"}]}),
        );
        let ops = MutationConfig::default().patch(&r);
        assert_eq!(ops.len(), 3, "{ops:?}");
        let out = apply(&r, &ops);
        assert_eq!(
            out["spec"]["securityContext"],
            json!({"seccompProfile": {"type": "RuntimeDefault"}})
        );
        for c in [
            &out["spec"]["containers"][0],
            &out["spec"]["initContainers"][0],
        ] {
            assert_eq!(
                c["securityContext"],
                json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})
            );
        }
    }

    #[test]
    fn never_touches_what_the_user_set() {
        let spec = json!({
            "securityContext": {"runAsNonRoot": true, "seccompProfile": {"type": "Localhost", "localhostProfile": "p.json"}},
            "containers": [
                {"name": "a", "securityContext": {"allowPrivilegeEscalation": true, "capabilities": {"add": ["NET_ADMIN"]}}},
                {"name": "b", "securityContext": {"privileged": true, "capabilities": {"drop": []}}},
                {"name": "c", "securityContext": {"readOnlyRootFilesystem": true}}
            ]
        });
        let r = pod_req(spec.clone());
        let ops = MutationConfig::default().patch(&r);
        let out = apply(&r, &ops);
        assert_eq!(out["spec"]["securityContext"], spec["securityContext"]);
        assert_eq!(
            out["spec"]["containers"][0]["securityContext"],
            json!({"allowPrivilegeEscalation": true, "capabilities": {"add": ["NET_ADMIN"], "drop": ["ALL"]}})
        );
        assert_eq!(
            out["spec"]["containers"][1], spec["containers"][1],
            "privileged container untouched"
        );
        assert_eq!(
            out["spec"]["containers"][2]["securityContext"],
            json!({"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})
        );
        // Already hardened: no patch at all.
        let hardened = pod_req(out["spec"].clone());
        let again = MutationConfig::default().patch(&hardened);
        assert!(again.is_empty(), "{again:?}");
    }

    #[test]
    fn windows_pods_updates_and_opt_in() {
        assert!(
            MutationConfig::default()
                .patch(&pod_req(
                    json!({"os": {"name": "windows"}, "containers": [{"name": "a"}]})
                ))
                .is_empty()
        );
        let m = MutationConfig::default();
        let labels = json!({"kubevigil.io/harden": "true"});
        assert!(m.opted_in(labels.as_object()));
        assert!(!m.opted_in(json!({"kubevigil.io/harden": "yes"}).as_object()));
        assert!(!m.opted_in(None));
    }
}
