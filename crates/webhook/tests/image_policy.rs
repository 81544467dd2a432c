//! The image policy judges every container list of a pod (init, regular and ephemeral
//! containers), of Pods and of every pod-controller template, on create and when an image
//! changes on update (ephemeral containers arrive by an UPDATE of `pods/ephemeralcontainers`).

use kubevigil_webhook::policy::image::ImagePolicy;
use kubevigil_webhook::review::AdmissionRequest;
use serde_json::{Value, json};

const LISTS: [&str; 3] = ["initContainers", "containers", "ephemeralContainers"];

fn policy() -> ImagePolicy {
    ImagePolicy {
        allowed_registries: vec!["docker.io/library".into(), "ghcr.io/acme".into()],
        ..Default::default()
    }
}

/// A pod spec with a good image in every list, and `bad` in `list` (container "bad").
fn spec(list: Option<&str>, bad: &str) -> Value {
    let mut spec = serde_json::Map::new();
    for l in LISTS {
        let mut cs = vec![json!({"name": format!("{l}-ok"), "image": "nginx:1.27"})];
        if Some(l) == list {
            cs.push(json!({"name": "bad", "image": bad}));
        }
        spec.insert(l.into(), Value::Array(cs));
    }
    Value::Object(spec)
}

fn request(
    op: &str,
    (group, resource, sub): (&str, &str, &str),
    object: Value,
    old: Value,
) -> AdmissionRequest {
    serde_json::from_value(json!({
        "uid": "1", "operation": op, "name": "x", "namespace": "ns",
        "resource": {"group": group, "version": "v1", "resource": resource},
        "subResource": sub, "object": object, "oldObject": old,
    }))
    .unwrap()
}

fn wrap(resource: &str, spec: Value) -> Value {
    match resource {
        "pods" => json!({"spec": spec}),
        "cronjobs" => json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": spec}}}}}),
        "podtemplates" => json!({"template": {"spec": spec}}),
        _ => json!({"spec": {"template": {"spec": spec}}}),
    }
}

#[test]
fn every_container_list_of_every_pod_carrier_is_judged() {
    let bad_images = [
        ("nginx:latest", "uses the latest tag"),
        ("nginx", "has no tag (means latest)"),
        ("quay.io/evil/miner:1.0", "is not from an allowed registry"),
    ];
    let resources = [
        ("", "pods"),
        ("", "podtemplates"),
        ("", "replicationcontrollers"),
        ("apps", "deployments"),
        ("apps", "replicasets"),
        ("apps", "statefulsets"),
        ("apps", "daemonsets"),
        ("batch", "jobs"),
        ("batch", "cronjobs"),
    ];
    let p = policy();
    for (group, resource) in resources {
        let good = request(
            "CREATE",
            (group, resource, ""),
            wrap(resource, spec(None, "")),
            Value::Null,
        );
        assert!(p.validate(&good).allowed, "{resource}: good images");
        for list in LISTS {
            for (image, why) in bad_images {
                let req = request(
                    "CREATE",
                    (group, resource, ""),
                    wrap(resource, spec(Some(list), image)),
                    Value::Null,
                );
                let d = p.validate(&req);
                assert!(!d.allowed, "{resource} {list} {image}: admitted");
                let msg = d.status.unwrap().message;
                assert!(
                    msg.contains(&format!(r#"container "bad": image "{image}" {why}"#)),
                    "{resource} {list} {image}: {msg}"
                );
            }
        }
    }
}

/// `kubectl debug` adds an ephemeral container with an UPDATE of `pods/ephemeralcontainers`;
/// init containers and containers cannot change image names except through an update too.
#[test]
fn updates_judge_new_images_in_every_list() {
    let p = policy();
    for list in LISTS {
        for sub in ["", "ephemeralcontainers"] {
            let old = json!({"spec": spec(None, "")});
            let new = json!({"spec": spec(Some(list), "busybox:latest")});
            let d = p.validate(&request("UPDATE", ("", "pods", sub), new.clone(), old));
            assert!(!d.allowed, "{list} via {sub:?}: admitted");
            // The same bad image already present before the update is not re-judged.
            let d = p.validate(&request("UPDATE", ("", "pods", sub), new.clone(), new));
            assert!(d.allowed, "{list} via {sub:?}: unchanged image re-judged");
        }
    }
}

/// The webhook's image policy and the scan's image checks take one decision (the predicates of
/// `kubevigil_checks::rules::image_ref`): on every reference, the webhook refuses the latest or
/// a missing tag exactly when `image-tag-latest` reports it, an unpinned reference (with
/// `requireDigest`) exactly when `image-not-pinned-by-digest` does, and a registry exactly when
/// `image-registry-not-allowed` does with the same allow-list.
#[test]
fn same_verdict_as_the_scan_checks() {
    use kubevigil_checks::{Config, find_check, run_checks};
    use kubevigil_model::{Inventory, Object};

    let allowed = vec!["docker.io/library".to_string(), "ghcr.io/acme".to_string()];
    let mut config = Config::default();
    config.images.allowed_registries = allowed.clone();
    let scan_reports = |check: &str, image: &str| {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "ns"},
            "spec": {"containers": [{"name": "c", "image": image}]}});
        let inventory = Inventory {
            objects: vec![Object::from_admission(pod, "1").unwrap()],
        };
        !run_checks(&inventory, &config, &[find_check(check).unwrap()]).is_empty()
    };
    let latest_only = ImagePolicy::default();
    let digest_only = ImagePolicy {
        require_digest: true,
        forbid_latest: false,
        require_tag: false,
        ..Default::default()
    };
    let registries_only = ImagePolicy {
        allowed_registries: allowed.clone(),
        forbid_latest: false,
        require_tag: false,
        ..Default::default()
    };
    for image in [
        "nginx",
        "nginx:latest",
        "nginx:1.27",
        "nginx@sha256:abc",
        "nginx:latest@sha256:abc",
        "docker.io/library/nginx:latest",
        "index.docker.io/bitnami/redis",
        "ghcr.io/acme/api:v1",
        "ghcr.io/acme-evil/api:v1",
        "GHCR.io/acme/api",
        "localhost:5000/app:latest",
        "registry:5000/app@sha256:abc",
        "quay.io/x/y:latest",
    ] {
        assert_eq!(
            latest_only.problem(image).is_some(),
            scan_reports("image-tag-latest", image),
            "latest: {image}"
        );
        assert_eq!(
            digest_only.problem(image).is_some(),
            scan_reports("image-not-pinned-by-digest", image),
            "digest: {image}"
        );
        assert_eq!(
            registries_only.problem(image).is_some(),
            scan_reports("image-registry-not-allowed", image),
            "registry: {image}"
        );
    }
}
