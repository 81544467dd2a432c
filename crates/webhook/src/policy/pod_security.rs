//! PodSecurity, as the built-in admission plugin decides it.
//!
//! Upstream: kubernetes/kubernetes `staging/src/k8s.io/pod-security-admission/admission/admission.go`
//! (`Validate`, `ValidateNamespace`, `ValidatePod`, `ValidatePodController`, `EvaluatePod`,
//! `isSignificantPodUpdate`, `ignoredPodSubresources`). The evaluation itself, the namespace
//! label resolution and the configuration are `kubevigil-pss`'s.
//!
//! Audit annotation keys are upstream's unprefixed keys (`enforce-policy`, `audit-violations`,
//! `exempt`, `error`): the API server prefixes them with the webhook's name, and the generated
//! manifests name this webhook `pod-security.kubernetes.io`, so audit events carry
//! `pod-security.kubernetes.io/enforce-policy` etc. exactly as with the built-in plugin.

use std::collections::HashMap;

use kubevigil_model::{ContainerKind, container_list};
use kubevigil_pss::admission::{NamespacePolicy, admit, aggregate, resolve_namespace};
use kubevigil_pss::config::PodSecurityConfiguration;
use kubevigil_pss::{Level, PodInput};
use serde_json::{Map, Value};

use super::{Decision, is_pod_controller, is_resource, pod_template};
use crate::review::{AdmissionRequest, Operation, Status};

/// Namespace labels by namespace name.
pub type NamespaceLabels = HashMap<String, Map<String, Value>>;

/// Pod subresources that never change the pod spec; any other (e.g. `ephemeralcontainers`,
/// `resize`) is evaluated as a Pod.
pub const IGNORED_POD_SUBRESOURCES: [&str; 8] = [
    "exec",
    "attach",
    "binding",
    "eviction",
    "log",
    "portforward",
    "proxy",
    "status",
];

pub fn validate(
    config: &PodSecurityConfiguration,
    namespaces: &NamespaceLabels,
    req: &AdmissionRequest,
) -> Decision {
    // The plugin handles create and update only (`admission.NewHandler(Create, Update)`).
    if !matches!(req.operation, Operation::Create | Operation::Update) {
        return Decision::skip();
    }
    if is_resource(&req.resource, "", "namespaces") {
        validate_namespace(config, req)
    } else if is_resource(&req.resource, "", "pods") {
        validate_pod(config, namespaces, req)
    } else if is_pod_controller(&req.resource) {
        validate_pod_controller(config, namespaces, req)
    } else {
        Decision::skip()
    }
}

fn labels_of(obj: &Value) -> Option<&Map<String, Value>> {
    obj.pointer("/metadata/labels").and_then(Value::as_object)
}

/// The namespace's policy. A namespace missing from the namespace source is treated as
/// unlabelled (the configured defaults apply).
fn namespace_policy(
    config: &PodSecurityConfiguration,
    namespaces: &NamespaceLabels,
    name: &str,
) -> NamespacePolicy {
    resolve_namespace(name, namespaces.get(name), config)
}

fn exempt(kind: &str) -> Decision {
    Decision::allow().annotate(
        unprefixed(kubevigil_pss::admission::EXEMPT_ANNOTATION),
        kind.into(),
    )
}

fn bad_request(msg: &str) -> Decision {
    Decision::deny(Status::bad_request(msg.to_string()))
}

/// `ValidateNamespace`: labels must be valid on create, and on update when they changed.
/// When an update tightens the enforce policy, upstream lists the namespace's pods and warns
/// about those that would violate it; this webhook keeps no pod cache, so it admits without
/// those warnings (exempt namespaces get the `exempt` annotation, as upstream).
fn validate_namespace(config: &PodSecurityConfiguration, req: &AdmissionRequest) -> Decision {
    if !req.sub_resource.is_empty() {
        return Decision::skip();
    }
    if !req.object.is_object() {
        return bad_request("failed to decode namespace");
    }
    let new = resolve_namespace(&req.name, labels_of(&req.object), config);
    let invalid = |errs: &[String]| {
        // `invalidResponse`: apierrors.NewInvalid(GroupKind "Namespace", name, errs).
        Decision::deny(Status::failure(
            422,
            "Invalid",
            format!(
                "Namespace {} is invalid: {}",
                kubevigil_pss::api::go_quote(&req.name),
                aggregate(errs)
            ),
        ))
    };
    match req.operation {
        Operation::Create if !new.errors.is_empty() => invalid(&new.errors),
        Operation::Update => {
            if !req.old_object.is_object() {
                return bad_request("failed to decode  old namespace");
            }
            let old = resolve_namespace(&req.name, labels_of(&req.old_object), config);
            if !new.errors.is_empty() && (old.errors.is_empty() || old.errors != new.errors) {
                return invalid(&new.errors);
            }
            let (n, o) = (new.policy.enforce, old.policy.enforce);
            let relaxed_or_same = n == o
                || n.level == Level::Privileged
                || (n.version == o.version && n.level <= o.level);
            if !relaxed_or_same && config.exempt_namespace(&req.namespace) {
                return exempt("namespace");
            }
            Decision::allow()
        }
        _ => Decision::allow(),
    }
}

fn validate_pod(
    config: &PodSecurityConfiguration,
    namespaces: &NamespaceLabels,
    req: &AdmissionRequest,
) -> Decision {
    if IGNORED_POD_SUBRESOURCES.contains(&req.sub_resource.as_str()) {
        return Decision::skip();
    }
    if config.exempt_namespace(&req.namespace) {
        return exempt("namespace");
    }
    if config.exempt_user(&req.user_info.username) {
        return exempt("user");
    }
    let ns = namespace_policy(config, namespaces, &req.namespace);
    if ns.errors.is_empty() && ns.policy.fully_privileged() {
        return Decision::allow();
    }
    let Some(pod) = decode_pod(&req.object, true) else {
        return bad_request("failed to decode pod");
    };
    if req.operation == Operation::Update {
        if !req.old_object.is_object() {
            return bad_request("failed to decode old pod");
        }
        if !is_significant_pod_update(&req.object, &req.old_object) {
            return Decision::allow();
        }
    }
    evaluate(config, &ns, req, &pod, true)
}

fn validate_pod_controller(
    config: &PodSecurityConfiguration,
    namespaces: &NamespaceLabels,
    req: &AdmissionRequest,
) -> Decision {
    if !req.sub_resource.is_empty() {
        return Decision::skip();
    }
    if config.exempt_namespace(&req.namespace) {
        return exempt("namespace");
    }
    if config.exempt_user(&req.user_info.username) {
        return exempt("user");
    }
    let ns = namespace_policy(config, namespaces, &req.namespace);
    if ns.errors.is_empty()
        && ns.policy.warn.level == Level::Privileged
        && ns.policy.audit.level == Level::Privileged
    {
        return Decision::allow();
    }
    if !req.object.is_object() {
        return Decision::allow().annotate("error", "failed to decode object".into());
    }
    // A controller whose optional template is absent is not evaluated.
    let Some((meta, spec)) = pod_template(req, &req.object) else {
        return Decision::allow();
    };
    match PodInput::from_values(meta, spec, false) {
        Ok(pod) => evaluate(config, &ns, req, &pod, false),
        Err(e) => {
            Decision::allow().annotate("error", format!("failed to extract pod template: {e}"))
        }
    }
}

fn decode_pod(obj: &Value, is_pod: bool) -> Option<PodInput> {
    let spec = obj.get("spec")?;
    PodInput::from_values(obj.get("metadata").unwrap_or(&Value::Null), spec, is_pod).ok()
}

/// `EvaluatePod`, via `kubevigil_pss::admission::admit`.
fn evaluate(
    config: &PodSecurityConfiguration,
    ns: &NamespacePolicy,
    req: &AdmissionRequest,
    pod: &PodInput,
    is_pod: bool,
) -> Decision {
    let user = (!req.user_info.username.is_empty()).then_some(req.user_info.username.as_str());
    let verdict = admit(config, ns, user, pod, is_pod);
    let mut d = match verdict.message {
        Some(msg) if verdict.denied => {
            Decision::deny(Status::forbidden(&req.resource, &req.name, &msg))
        }
        _ => Decision::allow(),
    };
    d.warnings = verdict.warnings;
    d.audit_annotations = verdict
        .audit_annotations
        .into_iter()
        .map(|(k, v)| (unprefixed(&k).to_string(), v))
        .collect();
    d
}

fn unprefixed(key: &str) -> &str {
    key.strip_prefix("pod-security.kubernetes.io/")
        .unwrap_or(key)
}

/// `isSignificantPodUpdate`: only the seccomp annotations, container counts, images and
/// ephemeral containers matter (the other pod spec fields are immutable).
pub fn is_significant_pod_update(pod: &Value, old: &Value) -> bool {
    const POD_SECCOMP: &str = "seccomp.security.alpha.kubernetes.io/pod";
    const CONTAINER_SECCOMP: &str = "container.seccomp.security.alpha.kubernetes.io/";
    fn ann<'a>(o: &'a Value, k: &str) -> &'a str {
        o.pointer("/metadata/annotations")
            .and_then(|a| a.get(k))
            .and_then(Value::as_str)
            .unwrap_or("")
    }
    // Borrowed: a pod may hold tens of thousands of containers.
    fn list(o: &Value, kind: ContainerKind) -> &[Value] {
        o.get("spec").map_or(&[], |spec| container_list(spec, kind))
    }
    fn str_of<'a>(c: &'a Value, k: &str) -> &'a str {
        c.get(k).and_then(Value::as_str).unwrap_or("")
    }
    let significant_container = |c: &Value, oc: &Value| {
        if str_of(c, "image") != str_of(oc, "image") {
            return true;
        }
        let key = format!("{CONTAINER_SECCOMP}{}", str_of(c, "name"));
        ann(pod, &key) != ann(old, &key)
    };
    if ann(pod, POD_SECCOMP) != ann(old, POD_SECCOMP) {
        return true;
    }
    for kind in [ContainerKind::Regular, ContainerKind::Init] {
        let (new, prev) = (list(pod, kind), list(old, kind));
        if new.len() != prev.len() {
            return true;
        }
        if new
            .iter()
            .zip(prev)
            .any(|(c, oc)| significant_container(c, oc))
        {
            return true;
        }
    }
    let prev = list(old, ContainerKind::Ephemeral);
    for c in list(pod, ContainerKind::Ephemeral) {
        let name = str_of(c, "name");
        match prev.iter().find(|oc| str_of(oc, "name") == name) {
            None => return true,
            Some(oc) if significant_container(c, oc) => return true,
            Some(_) => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ns(labels: Value) -> NamespaceLabels {
        let mut m = NamespaceLabels::new();
        m.insert("shop".into(), labels.as_object().unwrap().clone());
        m
    }

    fn req(
        op: &str,
        group: &str,
        resource: &str,
        sub: &str,
        obj: Value,
        old: Value,
    ) -> AdmissionRequest {
        serde_json::from_value(json!({
            "uid": "1", "operation": op, "subResource": sub, "name": "p", "namespace": "shop",
            "resource": {"group": group, "version": "v1", "resource": resource},
            "userInfo": {"username": "alice"}, "object": obj, "oldObject": old,
        }))
        .unwrap()
    }

    fn privileged_pod(image: &str) -> Value {
        json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": image, "securityContext": {"privileged": true}}]}})
    }

    #[test]
    fn pods_enforced_with_upstream_message_and_annotations() {
        let cfg = PodSecurityConfiguration::default();
        let n = ns(
            json!({"pod-security.kubernetes.io/enforce": "baseline", "pod-security.kubernetes.io/audit": "restricted"}),
        );
        let d = validate(
            &cfg,
            &n,
            &req("CREATE", "", "pods", "", privileged_pod("a"), Value::Null),
        );
        assert!(!d.allowed);
        let st = d.status.unwrap();
        assert_eq!(st.code, 403);
        assert_eq!(
            st.message,
            r#"pods "p" is forbidden: violates PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)"#
        );
        let keys: Vec<&str> = d
            .audit_annotations
            .iter()
            .map(|(k, _)| k.as_str())
            .collect();
        assert_eq!(keys, ["audit-violations", "enforce-policy"]);
    }

    #[test]
    fn update_rules_and_subresources() {
        let cfg = PodSecurityConfiguration::default();
        let n = ns(json!({"pod-security.kubernetes.io/enforce": "baseline"}));
        // Insignificant update (labels only) of a violating pod: allowed.
        let mut labelled = privileged_pod("a");
        labelled["metadata"]["labels"] = json!({"x": "y"});
        assert!(
            validate(
                &cfg,
                &n,
                &req("UPDATE", "", "pods", "", labelled, privileged_pod("a"))
            )
            .allowed
        );
        // An image change is significant.
        assert!(
            !validate(
                &cfg,
                &n,
                &req(
                    "UPDATE",
                    "",
                    "pods",
                    "",
                    privileged_pod("b"),
                    privileged_pod("a")
                )
            )
            .allowed
        );
        // status and exec are ignored; ephemeralcontainers is evaluated.
        for sub in ["status", "exec", "eviction"] {
            assert!(
                validate(
                    &cfg,
                    &n,
                    &req(
                        "UPDATE",
                        "",
                        "pods",
                        sub,
                        privileged_pod("b"),
                        privileged_pod("a")
                    )
                )
                .not_applicable
            );
        }
        let mut with_debug = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "a"}]}});
        let old = with_debug.clone();
        with_debug["spec"]["ephemeralContainers"] =
            json!([{"name": "dbg", "image": "busybox", "securityContext": {"privileged": true}}]);
        let d = validate(
            &cfg,
            &n,
            &req("UPDATE", "", "pods", "ephemeralcontainers", with_debug, old),
        );
        assert!(!d.allowed, "{d:?}");
        assert!(
            d.status
                .unwrap()
                .message
                .contains(r#"container "dbg" must not set securityContext.privileged=true"#)
        );
        // DELETE is not handled.
        assert!(
            validate(
                &cfg,
                &n,
                &req("DELETE", "", "pods", "", Value::Null, Value::Null)
            )
            .not_applicable
        );
    }

    #[test]
    fn controllers_are_only_warned_and_audited() {
        let cfg = PodSecurityConfiguration::default();
        let n = ns(
            json!({"pod-security.kubernetes.io/enforce": "restricted", "pod-security.kubernetes.io/warn": "baseline"}),
        );
        let deploy = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "securityContext": {"privileged": true}}]}}}});
        let d = validate(
            &cfg,
            &n,
            &req("CREATE", "apps", "deployments", "", deploy, Value::Null),
        );
        assert!(d.allowed);
        assert_eq!(
            d.warnings,
            [
                r#"would violate PodSecurity "baseline:latest": privileged (container "c" must not set securityContext.privileged=true)"#
            ]
        );
        assert!(
            d.audit_annotations
                .iter()
                .all(|(k, _)| k != "enforce-policy")
        );
        // Audit alone set: the controller is evaluated, the violation recorded for audit.
        let n_audit = ns(json!({"pod-security.kubernetes.io/audit": "baseline"}));
        let deploy = json!({"spec": {"template": {"spec": {"containers": [{"name": "c", "securityContext": {"privileged": true}}]}}}});
        let d = validate(
            &cfg,
            &n_audit,
            &req("CREATE", "apps", "deployments", "", deploy, Value::Null),
        );
        assert!(d.allowed && d.warnings.is_empty());
        assert!(
            d.audit_annotations
                .iter()
                .any(|(k, v)| k == "audit-violations" && v.contains("privileged")),
            "{d:?}"
        );
        // Privileged warn+audit: short-circuit, nothing decoded.
        let n = ns(json!({"pod-security.kubernetes.io/enforce": "restricted"}));
        let d = validate(
            &cfg,
            &n,
            &req(
                "CREATE",
                "apps",
                "deployments",
                "",
                json!({"spec": 5}),
                Value::Null,
            ),
        );
        assert_eq!(d, Decision::allow());
        // Services are not pod controllers.
        assert!(
            validate(
                &cfg,
                &n,
                &req("CREATE", "", "services", "", json!({}), Value::Null)
            )
            .not_applicable
        );
    }

    /// `isSignificantPodUpdate` (admission.go), case by case: what an UPDATE must change for
    /// the pod to be evaluated again.
    #[test]
    fn significant_pod_updates_follow_upstream() {
        let base = json!({
            "metadata": {"annotations": {"seccomp.security.alpha.kubernetes.io/pod": "runtime/default",
                "container.seccomp.security.alpha.kubernetes.io/c": "runtime/default"}},
            "spec": {
                "initContainers": [{"name": "i", "image": "init:1"}],
                "containers": [{"name": "c", "image": "app:1"}, {"name": "d", "image": "side:1"}],
                "ephemeralContainers": [{"name": "e1", "image": "dbg:1"}, {"name": "e2", "image": "dbg:2"}]
            }
        });
        let changed = |edit: &dyn Fn(&mut Value)| {
            let mut pod = base.clone();
            edit(&mut pod);
            is_significant_pod_update(&pod, &base)
        };
        let ann = "/metadata/annotations";
        type Edit<'a> = &'a dyn Fn(&mut Value);
        let cases: &[(&str, Edit, bool)] = &[
            ("nothing", &|_| {}, false),
            (
                "a label",
                &|p| p["metadata"]["labels"] = json!({"x": "y"}),
                false,
            ),
            (
                "another field of a container",
                &|p| p["spec"]["containers"][0]["securityContext"] = json!({"privileged": true}),
                false,
            ),
            (
                "pod seccomp annotation",
                &|p| {
                    p.pointer_mut(ann).unwrap()["seccomp.security.alpha.kubernetes.io/pod"] =
                        json!("unconfined")
                },
                true,
            ),
            (
                "pod seccomp annotation removed",
                &|p| {
                    p.pointer_mut(ann)
                        .unwrap()
                        .as_object_mut()
                        .unwrap()
                        .remove("seccomp.security.alpha.kubernetes.io/pod");
                },
                true,
            ),
            (
                "container seccomp annotation",
                &|p| {
                    p.pointer_mut(ann).unwrap()["container.seccomp.security.alpha.kubernetes.io/c"] =
                        json!("unconfined")
                },
                true,
            ),
            (
                "seccomp annotation of the second container",
                &|p| {
                    p.pointer_mut(ann).unwrap()["container.seccomp.security.alpha.kubernetes.io/d"] =
                        json!("unconfined")
                },
                true,
            ),
            (
                "seccomp annotation of the init container",
                &|p| {
                    p.pointer_mut(ann).unwrap()["container.seccomp.security.alpha.kubernetes.io/i"] =
                        json!("unconfined")
                },
                true,
            ),
            (
                "seccomp annotation of an ephemeral container",
                &|p| {
                    p.pointer_mut(ann).unwrap()["container.seccomp.security.alpha.kubernetes.io/e2"] =
                        json!("unconfined")
                },
                true,
            ),
            (
                "seccomp annotation of no container",
                &|p| {
                    p.pointer_mut(ann).unwrap()["container.seccomp.security.alpha.kubernetes.io/zz"] =
                        json!("unconfined")
                },
                false,
            ),
            (
                "image of the second container",
                &|p| p["spec"]["containers"][1]["image"] = json!("side:2"),
                true,
            ),
            (
                "image of the init container",
                &|p| p["spec"]["initContainers"][0]["image"] = json!("init:2"),
                true,
            ),
            (
                "a container added",
                &|p| {
                    p["spec"]["containers"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"name": "x", "image": "x"}))
                },
                true,
            ),
            (
                "an init container added",
                &|p| {
                    p["spec"]["initContainers"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"name": "x", "image": "x"}))
                },
                true,
            ),
            (
                "an ephemeral container added",
                &|p| {
                    p["spec"]["ephemeralContainers"]
                        .as_array_mut()
                        .unwrap()
                        .push(json!({"name": "e3", "image": "dbg:1"}))
                },
                true,
            ),
            (
                "image of the second ephemeral container",
                &|p| p["spec"]["ephemeralContainers"][1]["image"] = json!("dbg:3"),
                true,
            ),
            (
                "ephemeral containers reordered",
                &|p| {
                    p["spec"]["ephemeralContainers"]
                        .as_array_mut()
                        .unwrap()
                        .reverse()
                },
                false,
            ),
            (
                "an ephemeral container removed",
                &|p| {
                    p["spec"]["ephemeralContainers"]
                        .as_array_mut()
                        .unwrap()
                        .pop();
                },
                false,
            ),
        ];
        for (what, edit, want) in cases {
            assert_eq!(changed(edit), *want, "{what}");
        }
    }

    /// `ValidateNamespace` on UPDATE (admission.go): invalid labels are refused only when they
    /// changed; the exempt annotation is set only when the enforce policy tightened.
    #[test]
    fn namespace_updates_follow_upstream() {
        let cfg = match kubevigil_pss::config::parse_text(
            "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\nexemptions: {namespaces: [team]}\n",
        )
        .unwrap()
        {
            kubevigil_pss::config::ConfigDoc::Config(c) => c,
            other => panic!("{other:?}"),
        };
        let ns_obj = |labels: Value| json!({"metadata": {"name": "team", "labels": labels}});
        let update = |namespace: &str, new: Value, old: Value| {
            let mut r = req("UPDATE", "", "namespaces", "", new, old);
            r.name = namespace.into();
            r.namespace = namespace.into();
            validate(&cfg, &NamespaceLabels::new(), &r)
        };
        let exempted = Decision::allow().annotate("exempt", "namespace".into());
        let enforce = |level: &str| json!({"pod-security.kubernetes.io/enforce": level});
        let versioned = |level: &str, version: &str| json!({"pod-security.kubernetes.io/enforce": level, "pod-security.kubernetes.io/enforce-version": version});
        let cases: &[(&str, Value, Value, bool)] = &[
            ("unchanged", enforce("baseline"), enforce("baseline"), false),
            (
                "tightened",
                enforce("restricted"),
                enforce("baseline"),
                true,
            ),
            (
                "tightened from nothing",
                enforce("baseline"),
                json!({}),
                true,
            ),
            ("relaxed", enforce("baseline"), enforce("restricted"), false),
            (
                "to privileged",
                enforce("privileged"),
                enforce("restricted"),
                false,
            ),
            (
                "to privileged, other version",
                versioned("privileged", "v1.25"),
                enforce("restricted"),
                false,
            ),
            (
                "same level, older version",
                versioned("baseline", "v1.25"),
                enforce("baseline"),
                true,
            ),
            (
                "relaxed, other version",
                versioned("baseline", "v1.25"),
                enforce("restricted"),
                true,
            ),
        ];
        for (what, new, old, exempt) in cases {
            let d = update("team", ns_obj(new.clone()), ns_obj(old.clone()));
            let want = if *exempt {
                exempted.clone()
            } else {
                Decision::allow()
            };
            assert_eq!(d, want, "{what}");
            // A namespace that is not exempt is admitted without the annotation.
            assert_eq!(
                update("other", ns_obj(new.clone()), ns_obj(old.clone())),
                Decision::allow(),
                "{what}"
            );
        }
        let bad = enforce("strict");
        let denied = |d: Decision| d.status.map(|s| (s.code, s.reason));
        let invalid = Some((422, "Invalid"));
        assert_eq!(
            denied(update(
                "other",
                ns_obj(bad.clone()),
                ns_obj(enforce("baseline"))
            )),
            invalid
        );
        // The same invalid labels as before: left alone (they may predate the plugin).
        assert_eq!(
            update("other", ns_obj(bad.clone()), ns_obj(bad.clone())),
            Decision::allow()
        );
        // Other invalid labels than before: refused.
        let worse = json!({"pod-security.kubernetes.io/enforce": "strict", "pod-security.kubernetes.io/warn": "strict"});
        assert_eq!(
            denied(update("other", ns_obj(worse), ns_obj(bad.clone()))),
            invalid
        );
        let d = update("other", ns_obj(enforce("baseline")), json!("x"));
        assert_eq!(d.status.unwrap().message, "failed to decode  old namespace");
        let d = update("other", json!(5), ns_obj(enforce("baseline")));
        assert_eq!(d.status.unwrap().message, "failed to decode namespace");
        // Subresources (status, finalize) are not looked at.
        let mut r = req(
            "UPDATE",
            "",
            "namespaces",
            "status",
            ns_obj(bad.clone()),
            ns_obj(enforce("baseline")),
        );
        r.name = "other".into();
        assert!(validate(&cfg, &NamespaceLabels::new(), &r).not_applicable);
        // CREATE: valid labels admitted without annotation, exempt or not.
        let mut r = req(
            "CREATE",
            "",
            "namespaces",
            "",
            ns_obj(enforce("restricted")),
            Value::Null,
        );
        r.name = "team".into();
        r.namespace = "team".into();
        assert_eq!(
            validate(&cfg, &NamespaceLabels::new(), &r),
            Decision::allow()
        );
    }

    #[test]
    fn exemptions_and_invalid_namespace_labels() {
        let cfg = match kubevigil_pss::config::parse_text(
            "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: restricted}\nexemptions: {usernames: [alice], namespaces: [kube-system]}\n",
        )
        .unwrap()
        {
            kubevigil_pss::config::ConfigDoc::Config(c) => c,
            other => panic!("{other:?}"),
        };
        let n = NamespaceLabels::new();
        let d = validate(
            &cfg,
            &n,
            &req("CREATE", "", "pods", "", privileged_pod("a"), Value::Null),
        );
        assert_eq!(
            d.audit_annotations,
            [("exempt".to_string(), "user".to_string())]
        );
        let mut r = req(
            "CREATE",
            "",
            "namespaces",
            "",
            json!({"metadata": {"labels": {"pod-security.kubernetes.io/enforce": "strict"}}}),
            Value::Null,
        );
        r.name = "team".into();
        let d = validate(&cfg, &n, &r);
        assert_eq!(
            d.status.unwrap().message,
            r#"Namespace "team" is invalid: metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "strict": must be one of privileged, baseline, restricted"#
        );
    }
}
