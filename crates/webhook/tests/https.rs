//! Real HTTPS over loopback: a server with a generated CA, real AdmissionReview bodies built
//! from the repository's example manifests, and the answers read off the wire.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use base64::Engine;
use kubevigil_webhook::client::{self, Client};
use kubevigil_webhook::manifests::generate_tls;
use kubevigil_webhook::server::{Server, ServerOptions};
use serde_json::{Value, json};
use tokio::sync::oneshot;

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Objects of an example file, by kind and name.
fn example(file: &str, kind: &str, name: &str) -> Value {
    let loaded = kubevigil_model::load_paths(&[repo().join(file)], &Default::default());
    loaded
        .inventory
        .objects
        .iter()
        .find(|o| o.kind == kind && o.name == name)
        .unwrap_or_else(|| panic!("{kind}/{name} not in {file}"))
        .value
        .clone()
}

const NAMESPACES: &str = r#"
apiVersion: v1
kind: Namespace
metadata:
  name: shop
  labels:
    pod-security.kubernetes.io/enforce: restricted
    pod-security.kubernetes.io/warn: restricted
    pod-security.kubernetes.io/audit: restricted
---
apiVersion: v1
kind: Namespace
metadata:
  name: team
  labels: {pod-security.kubernetes.io/enforce: baseline, pod-security.kubernetes.io/enforce-version: v1.30}
---
apiVersion: v1
kind: Namespace
metadata:
  name: hardened
  labels: {kubevigil.io/harden: "true", pod-security.kubernetes.io/enforce: restricted}
"#;

struct Running {
    addr: SocketAddr,
    ca: String,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<std::io::Result<()>>,
    dir: tempfile::TempDir,
}

impl Running {
    async fn client(&self) -> Client {
        client::connect(self.addr, &self.ca, "localhost")
            .await
            .unwrap()
    }
    async fn stop(mut self) {
        self.stop.take().unwrap().send(()).unwrap();
        tokio::time::timeout(Duration::from_secs(60), self.task)
            .await
            .expect("graceful shutdown finishes")
            .unwrap()
            .unwrap();
    }
}

async fn start(config: &str, tune: impl FnOnce(&mut ServerOptions)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("namespaces.yaml"), NAMESPACES).unwrap();
    let tls = generate_tls(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &tls.cert_pem).unwrap();
    std::fs::write(&key, &tls.key_pem).unwrap();
    let base = dir.path().to_path_buf();
    let read = move |n: &str| std::fs::read_to_string(base.join(n)).map_err(|e| e.to_string());
    let webhook = kubevigil_webhook::config::from_text(config, &read).unwrap();
    let mut opts = ServerOptions::new("127.0.0.1:0".parse().unwrap(), cert, key);
    tune(&mut opts);
    let server = Server::bind(Arc::new(webhook), opts).await.unwrap();
    let addr = server.local_addr().unwrap();
    let (tx, rx) = oneshot::channel();
    let task = tokio::spawn(server.run(async {
        let _ = rx.await;
    }));
    Running {
        addr,
        ca: tls.ca_pem,
        stop: Some(tx),
        task,
        dir,
    }
}

const ENFORCING: &str = r#"
namespacesFile: namespaces.yaml
podSecurity: {mode: enforce}
denyServiceExternalIPs: {mode: enforce}
eventRateLimit:
  configuration:
    apiVersion: eventratelimit.admission.k8s.io/v1alpha1
    kind: Configuration
    limits: [{type: Namespace, qps: 1, burst: 5}]
imagePolicy: {mode: enforce, allowedRegistries: [docker.io/library, registry.example.com]}
csrApproval: {allowedSigners: [kubernetes.io/kube-apiserver-client, kubernetes.io/kubelet-serving]}
checks: {mode: audit, enforce: [image-tag-latest]}
mutation: {}
"#;

const WARNING: &str = r#"
namespacesFile: namespaces.yaml
imagePolicy: {mode: warn, requireDigest: true}
csrApproval: {mode: warn}
checks: {mode: warn, enforce: [image-tag-latest]}
"#;

struct Req<'a> {
    op: &'a str,
    group: &'a str,
    kind: &'a str,
    resource: &'a str,
    sub: &'a str,
    ns: &'a str,
    name: &'a str,
    object: Value,
    old: Value,
}

fn review(uid: &str, r: &Req<'_>) -> Vec<u8> {
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid,
            "kind": {"group": r.group, "version": "v1", "kind": r.kind},
            "resource": {"group": r.group, "version": "v1", "resource": r.resource},
            "subResource": r.sub, "name": r.name, "namespace": r.ns, "operation": r.op,
            "userInfo": {"username": "alice", "groups": ["system:authenticated"]},
            "object": r.object, "oldObject": r.old, "dryRun": false,
        }
    }))
    .unwrap()
}

fn pod_req<'a>(ns: &'a str, name: &'a str, pod: Value) -> Req<'a> {
    Req {
        op: "CREATE",
        group: "",
        kind: "Pod",
        resource: "pods",
        sub: "",
        ns,
        name,
        object: pod,
        old: Value::Null,
    }
}

/// Posts a review and returns the `response` object.
async fn post(c: &mut Client, path: &str, uid: &str, r: &Req<'_>) -> Value {
    let (status, body) = c.request("POST", path, review(uid, r)).await.unwrap();
    assert_eq!(status, 200, "{}", String::from_utf8_lossy(&body));
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["apiVersion"], "admission.k8s.io/v1");
    assert_eq!(v["kind"], "AdmissionReview");
    assert_eq!(v["response"]["uid"], uid, "uid echoed");
    v["response"].clone()
}

fn pod_of_template(workload: &Value, name: &str) -> Value {
    let t = &workload["spec"]["template"];
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "labels": t["metadata"]["labels"]}, "spec": t["spec"]})
}

#[tokio::test]
async fn pod_security_acceptance() {
    let s = start(ENFORCING, |_| {}).await;
    let mut c = s.client().await;
    let debug_pod = example("examples/insecure/debug-pod.yaml", "Pod", "node-debugger");

    // Restricted namespace: denied with upstream's message, byte for byte.
    let r = post(
        &mut c,
        "/validate/pod-security",
        "u1",
        &pod_req("shop", "node-debugger", debug_pod.clone()),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(r["status"]["reason"], "Forbidden");
    // Upstream's text, written out (kubernetes/kubernetes, staging/src/k8s.io/pod-security-admission):
    // admission/admission.go EvaluatePod: forbiddenResponse(attrs, fmt.Errorf("violates
    // PodSecurity %q: %s", policy.Enforce.String(), aggregate.ForbiddenDetail())), which
    // apierrors.NewForbidden renders as `pods "<name>" is forbidden: <err>`;
    // policy/checks.go ForbiddenDetail joins `reason (detail)` with ", ", baseline checks then
    // restricted ones, each level by check ID (policy/registry.go); reasons and details from
    // policy/check_hostNamespaces.go, check_privileged.go, check_allowPrivilegeEscalation.go,
    // check_capabilities_restricted.go, check_restrictedVolumes.go, check_runAsNonRoot.go and
    // check_seccompProfile_restricted.go.
    let expected = concat!(
        r#"pods "node-debugger" is forbidden: violates PodSecurity "restricted:latest": "#,
        r#"host namespaces (hostNetwork=true, hostPID=true), "#,
        r#"privileged (container "shell" must not set securityContext.privileged=true), "#,
        r#"allowPrivilegeEscalation != false (container "shell" must set securityContext.allowPrivilegeEscalation=false), "#,
        r#"unrestricted capabilities (container "shell" must set securityContext.capabilities.drop=["ALL"]), "#,
        r#"restricted volume types (volume "docker" uses restricted volume type "hostPath"), "#,
        r#"runAsNonRoot != true (pod or container "shell" must set securityContext.runAsNonRoot=true), "#,
        r#"seccompProfile (pod or container "shell" must set securityContext.seccompProfile.type to "RuntimeDefault" or "Localhost")"#,
    );
    assert_eq!(r["status"]["message"], expected);
    assert_eq!(r["auditAnnotations"]["enforce-policy"], "restricted:latest");
    assert!(
        r["auditAnnotations"]["audit-violations"]
            .as_str()
            .unwrap()
            .starts_with("would violate PodSecurity \"restricted:latest\"")
    );
    assert!(r.get("warnings").is_none(), "no warnings on a denied pod");

    // Baseline namespace (pinned version): the baseline message.
    let r = post(
        &mut c,
        "/validate/pod-security",
        "u2",
        &pod_req("team", "node-debugger", debug_pod),
    )
    .await;
    assert_eq!(
        r["status"]["message"],
        r#"pods "node-debugger" is forbidden: violates PodSecurity "baseline:v1.30": host namespaces (hostNetwork=true, hostPID=true), hostPath volumes (volume "docker"), privileged (container "shell" must not set securityContext.privileged=true)"#
    );

    // The hardened example's workloads, as Pods in the restricted namespace: allowed, silent.
    for (file, name) in [
        ("examples/hardened/web.yaml", "web"),
        ("examples/hardened/api.yaml", "api"),
    ] {
        let deploy = example(file, "Deployment", name);
        let r = post(
            &mut c,
            "/validate",
            "u3",
            &pod_req("shop", name, pod_of_template(&deploy, name)),
        )
        .await;
        assert_eq!(r["allowed"], true, "{file}: {r}");
        assert!(r.get("warnings").is_none(), "{r}");
        assert_eq!(r["auditAnnotations"]["enforce-policy"], "restricted:latest");
    }

    // An insecure Deployment: warnings only (workloads are not enforced).
    let deploy = example("examples/insecure/web.yaml", "Deployment", "web");
    let req = Req {
        op: "CREATE",
        group: "apps",
        kind: "Deployment",
        resource: "deployments",
        sub: "",
        ns: "shop",
        name: "web",
        object: deploy,
        old: Value::Null,
    };
    let r = post(&mut c, "/validate/pod-security", "u4", &req).await;
    assert_eq!(r["allowed"], true);
    let warnings = r["warnings"].as_array().unwrap();
    assert_eq!(warnings.len(), 1);
    assert!(
        warnings[0]
            .as_str()
            .unwrap()
            .starts_with("would violate PodSecurity \"restricted:latest\": "),
        "{warnings:?}"
    );
    assert!(r["auditAnnotations"].get("enforce-policy").is_none());
    s.stop().await;
}

#[tokio::test]
async fn external_ips_acceptance() {
    let s = start(ENFORCING, |_| {}).await;
    let mut c = s.client().await;
    let svc = |ips: &[&str]| {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "shop"},
        "spec": {"ports": [{"port": 80}], "externalIPs": ips}})
    };
    let update = |new, old| Req {
        op: "UPDATE",
        group: "",
        kind: "Service",
        resource: "services",
        sub: "",
        ns: "shop",
        name: "web",
        object: new,
        old,
    };
    let r = post(
        &mut c,
        "/validate",
        "e1",
        &update(svc(&["10.0.0.1", "203.0.113.7"]), svc(&["10.0.0.1"])),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert_eq!(
        r["status"]["message"],
        r#"services "web" is forbidden: Use of external IPs is denied by admission control"#
    );
    let r = post(
        &mut c,
        "/validate/deny-service-external-ips",
        "e2",
        &update(svc(&["10.0.0.1"]), svc(&["10.0.0.1", "203.0.113.7"])),
    )
    .await;
    assert_eq!(r["allowed"], true);
    assert!(r.get("status").is_none());
    s.stop().await;
}

#[tokio::test]
async fn event_rate_limit_acceptance() {
    let s = start(ENFORCING, |_| {}).await;
    let mut c = s.client().await;
    let event = |ns: &'static str| Req {
        op: "CREATE",
        group: "",
        kind: "Event",
        resource: "events",
        sub: "",
        ns,
        name: "e",
        object: json!({"apiVersion": "v1", "kind": "Event", "metadata": {"name": "e", "namespace": ns},
            "involvedObject": {"kind": "Pod", "name": "p", "namespace": ns}, "reason": "BackOff", "source": {"component": "kubelet"}}),
        old: Value::Null,
    };
    let mut denied = 0;
    for i in 0..8 {
        let r = post(
            &mut c,
            "/validate/event-rate-limit",
            &format!("ev{i}"),
            &event("noisy"),
        )
        .await;
        if r["allowed"] == false {
            denied += 1;
            assert_eq!(r["status"]["code"], 429);
            assert_eq!(r["status"]["reason"], "TooManyRequests");
            assert_eq!(
                r["status"]["message"],
                "Too many requests: limit reached on type Namespace for key noisy"
            );
        }
    }
    // burst 5 at 1 qps: 5 pass, then (within a second or two) the rest are refused.
    assert!((2..=3).contains(&denied), "denied {denied}");
    let r = post(
        &mut c,
        "/validate/event-rate-limit",
        "quiet",
        &event("quiet"),
    )
    .await;
    assert_eq!(r["allowed"], true, "another namespace is unaffected");
    s.stop().await;
}

#[tokio::test]
async fn mutation_patch_is_base64_json_patch_that_applies() {
    let s = start(ENFORCING, |_| {}).await;
    let mut c = s.client().await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "hardened"},
        "spec": {"securityContext": {"runAsNonRoot": true, "runAsUser": 1000},
            "containers": [{"name": "app", "image": "registry.example.com/app:1.0", "securityContext": {"readOnlyRootFilesystem": true}}]}});
    let r = post(
        &mut c,
        "/mutate",
        "m1",
        &pod_req("hardened", "p", pod.clone()),
    )
    .await;
    assert_eq!(r["allowed"], true);
    assert_eq!(r["patchType"], "JSONPatch");
    let raw = base64::engine::general_purpose::STANDARD
        .decode(r["patch"].as_str().unwrap())
        .unwrap();
    let patch: json_patch::Patch = serde_json::from_slice(&raw).unwrap();
    let mut patched = pod.clone();
    json_patch::patch(&mut patched, &patch).unwrap();
    assert_eq!(
        patched["spec"]["securityContext"]["seccompProfile"]["type"],
        "RuntimeDefault"
    );
    assert_eq!(
        patched["spec"]["securityContext"]["runAsUser"], 1000,
        "user's fields kept"
    );
    assert_eq!(
        patched["spec"]["containers"][0]["securityContext"],
        json!({"readOnlyRootFilesystem": true, "allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]}})
    );
    // The patched pod now passes restricted Pod Security where the original did not.
    let r = post(
        &mut c,
        "/validate/pod-security",
        "m2",
        &pod_req("hardened", "p", pod),
    )
    .await;
    assert_eq!(r["allowed"], false);
    let r = post(
        &mut c,
        "/validate/pod-security",
        "m3",
        &pod_req("hardened", "p", patched),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    // Namespaces that did not opt in get no patch.
    let r = post(
        &mut c,
        "/mutate",
        "m4",
        &pod_req(
            "shop",
            "p",
            json!({"spec": {"containers": [{"name": "a"}]}}),
        ),
    )
    .await;
    assert!(
        r.get("patch").is_none() && r.get("patchType").is_none(),
        "{r}"
    );
    s.stop().await;
}

fn csr_request(org: &str) -> String {
    let mut params = rcgen::CertificateParams::new(Vec::<String>::new()).unwrap();
    params
        .distinguished_name
        .push(rcgen::DnType::CommonName, "someone");
    params
        .distinguished_name
        .push(rcgen::DnType::OrganizationName, org);
    let key = rcgen::KeyPair::generate().unwrap();
    base64::engine::general_purpose::STANDARD
        .encode(params.serialize_request(&key).unwrap().pem().unwrap())
}

fn csr_approval<'a>(signer: &str, org: &str) -> Req<'a> {
    let spec =
        json!({"signerName": signer, "request": csr_request(org), "usages": ["client auth"]});
    Req {
        op: "UPDATE",
        group: "certificates.k8s.io",
        kind: "CertificateSigningRequest",
        resource: "certificatesigningrequests",
        sub: "approval",
        ns: "",
        name: "csr-1",
        object: json!({"spec": spec, "status": {"conditions": [{"type": "Approved", "status": "True"}]}}),
        old: json!({"spec": spec}),
    }
}

#[tokio::test]
async fn image_csr_and_checks_deny_and_audit() {
    let s = start(ENFORCING, |_| {}).await;
    let mut c = s.client().await;
    let pod = |image: &str| json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": image}]}});
    // Image policy: deny outside the allowed registries; allow inside.
    let r = post(
        &mut c,
        "/validate/image-policy",
        "i1",
        &pod_req("default", "p", pod("quay.io/evil/miner:1.0")),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains("is not from an allowed registry"),
        "{r}"
    );
    let r = post(
        &mut c,
        "/validate/image-policy",
        "i2",
        &pod_req("default", "p", pod("registry.example.com/app:1.0")),
    )
    .await;
    assert_eq!(r["allowed"], true);
    // Scan check in audit mode: admitted, with the finding as an audit annotation.
    let r = post(
        &mut c,
        "/validate/checks",
        "k1",
        &pod_req("default", "p", pod("nginx:latest")),
    )
    .await;
    assert_eq!(r["allowed"], true);
    assert!(
        r["auditAnnotations"]["checks"]
            .as_str()
            .unwrap()
            .contains("image-tag-latest"),
        "{r}"
    );
    // CSR guard.
    let r = post(
        &mut c,
        "/validate/csr-approval",
        "c1",
        &csr_approval("kubernetes.io/kube-apiserver-client", "system:masters"),
    )
    .await;
    assert_eq!(r["allowed"], false);
    assert!(
        r["status"]["message"].as_str().unwrap().ends_with(
            r#"approving a client certificate for group "system:masters" is not allowed"#
        )
    );
    let r = post(
        &mut c,
        "/validate/csr-approval",
        "c2",
        &csr_approval("example.com/custom", "dev"),
    )
    .await;
    assert!(
        r["status"]["message"]
            .as_str()
            .unwrap()
            .contains(r#"signer "example.com/custom" is not in the allowed signers"#),
        "{r}"
    );
    let r = post(
        &mut c,
        "/validate/csr-approval",
        "c3",
        &csr_approval("kubernetes.io/kube-apiserver-client", "dev"),
    )
    .await;
    assert_eq!(r["allowed"], true);
    s.stop().await;
}

#[tokio::test]
async fn warn_mode_admits_with_warnings() {
    let s = start(WARNING, |_| {}).await;
    let mut c = s.client().await;
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "app", "image": "nginx:latest"}]}});
    let r = post(&mut c, "/validate", "w1", &pod_req("default", "p", pod)).await;
    assert_eq!(r["allowed"], true);
    let w: Vec<&str> = r["warnings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|w| w.as_str().unwrap())
        .collect();
    assert_eq!(w.len(), 2, "{w:?}");
    assert!(
        w[0].contains(r#"image "nginx:latest" is not pinned by digest"#),
        "{w:?}"
    );
    assert!(w[1].contains("image-tag-latest"), "{w:?}");
    let r = post(
        &mut c,
        "/validate/csr-approval",
        "w2",
        &csr_approval("kubernetes.io/kube-apiserver-client", "system:masters"),
    )
    .await;
    assert_eq!(r["allowed"], true);
    assert!(
        r["warnings"][0]
            .as_str()
            .unwrap()
            .contains("system:masters")
    );
    // Pod Security is not enabled in this configuration.
    let (status, _) = c
        .request("POST", "/validate/pod-security", b"{}".to_vec())
        .await
        .unwrap();
    assert_eq!(status, 404);
    s.stop().await;
}

#[tokio::test]
async fn malformed_bodies_health_and_metrics() {
    let s = start(ENFORCING, |o| o.max_body_bytes = 64 << 10).await;
    let mut c = s.client().await;
    for (body, needle) in [
        (b"not json".to_vec(), "malformed AdmissionReview"),
        (br#"{"apiVersion":"admission.k8s.io/v1beta1","kind":"AdmissionReview","request":{"uid":"x","operation":"CREATE"}}"#.to_vec(), "unsupported AdmissionReview apiVersion"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}"#.to_vec(), "has no request"),
        (br#"{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","operation":"PATCH"}}"#.to_vec(), "malformed"),
    ] {
        let (status, body) = c.request("POST", "/validate", body).await.unwrap();
        assert_eq!(status, 400);
        assert!(String::from_utf8_lossy(&body).contains(needle), "{}", String::from_utf8_lossy(&body));
    }
    let (status, _) = c
        .request("POST", "/validate", vec![b' '; 100 << 10])
        .await
        .unwrap();
    assert_eq!(status, 413);
    let mut c = s.client().await;
    assert_eq!(c.request("GET", "/healthz", vec![]).await.unwrap().0, 200);
    assert_eq!(c.request("GET", "/readyz", vec![]).await.unwrap().0, 200);
    assert_eq!(
        c.request("POST", "/validate/nope", vec![]).await.unwrap().0,
        404
    );
    let debug_pod = example("examples/insecure/debug-pod.yaml", "Pod", "node-debugger");
    post(
        &mut c,
        "/validate",
        "x",
        &pod_req("shop", "node-debugger", debug_pod),
    )
    .await;
    let (status, body) = c.request("GET", "/metrics", vec![]).await.unwrap();
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains(r#"kubevigil_webhook_decisions_total{policy="pod-security",decision="deny",operation="CREATE"} 1"#), "{text}");
    assert!(
        text.contains(r#"kubevigil_webhook_requests_total{endpoint="validate",code="400"} 4"#),
        "{text}"
    );
    assert!(
        text.contains(r#"kubevigil_webhook_request_duration_seconds_count{endpoint="validate"}"#),
        "{text}"
    );
    s.stop().await;
}

#[tokio::test]
async fn overload_is_shed_at_once_and_slow_bodies_time_out() {
    use tokio::io::AsyncWriteExt;
    // Generous: the stalled request must still hold the slot when the probe arrives, on a
    // loaded machine too.
    const DEADLINE: Duration = Duration::from_secs(5);
    let s = start(ENFORCING, |o| {
        o.max_in_flight = 1;
        o.deadline = DEADLINE;
    })
    .await;
    // A client that sends headers and half a body, then stalls, holds the only slot.
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(s.ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let mut slow = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    slow.write_all(
        b"POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-length: 100\r\n\r\n{\"apiV",
    )
    .await
    .unwrap();
    slow.flush().await.unwrap();
    let mut c = s.client().await;
    // Probe until the server holds the slot for the stalled request (before that, `{}` is a
    // bad review: 400). Every answer, the 503 included, comes before the stalled request's
    // deadline: shed at once, never queued behind the slot.
    let mut shed = false;
    for _ in 0..200 {
        let started = std::time::Instant::now();
        let (status, _) = c
            .request("POST", "/validate", b"{}".to_vec())
            .await
            .unwrap();
        assert!(started.elapsed() < DEADLINE, "answered at once ({status})");
        if status == 503 {
            shed = true;
            break;
        }
        assert_eq!(status, 400, "a bad review while the slot is free");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert!(shed, "shed while the slot is held");
    // The stalled request hits the deadline (408), freeing the slot.
    let mut timed_out = false;
    for _ in 0..600 {
        let (_, body) = c.request("GET", "/metrics", vec![]).await.unwrap();
        let text = String::from_utf8(body).unwrap();
        if text.contains(r#"kubevigil_webhook_requests_total{endpoint="validate",code="408"} 1"#) {
            timed_out = true;
            break;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert!(timed_out, "the stalled request timed out with 408");
    let debug_pod = example("examples/insecure/debug-pod.yaml", "Pod", "node-debugger");
    let r = post(
        &mut c,
        "/validate",
        "after",
        &pod_req("shop", "node-debugger", debug_pod),
    )
    .await;
    assert_eq!(r["allowed"], false);
    let (_, body) = c.request("GET", "/metrics", vec![]).await.unwrap();
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("kubevigil_webhook_shed_total 1"), "{text}");
    assert!(
        text.contains(r#"kubevigil_webhook_requests_total{endpoint="validate",code="408"} 1"#),
        "{text}"
    );
    drop(slow);
    s.stop().await;
}

#[tokio::test]
async fn certificate_reload_when_files_change() {
    let s = start(ENFORCING, |o| {
        o.reload_interval = Duration::from_millis(100)
    })
    .await;
    assert_eq!(
        s.client()
            .await
            .request("GET", "/healthz", vec![])
            .await
            .unwrap()
            .0,
        200
    );
    let new = generate_tls(vec!["localhost".into()]).unwrap();
    // A client trusting only the new CA is refused until the files change.
    assert!(
        client::connect(s.addr, &new.ca_pem, "localhost")
            .await
            .is_err()
    );
    tokio::time::sleep(Duration::from_millis(20)).await; // distinct mtimes
    std::fs::write(s.dir.path().join("tls.key"), &new.key_pem).unwrap();
    std::fs::write(s.dir.path().join("tls.crt"), &new.cert_pem).unwrap();
    let mut ok = false;
    // Up to 60 s: a generous bound for a loaded machine (the reload interval is 100 ms).
    for _ in 0..600 {
        tokio::time::sleep(Duration::from_millis(100)).await;
        if let Ok(mut c) = client::connect(s.addr, &new.ca_pem, "localhost").await {
            ok = c
                .request("GET", "/healthz", vec![])
                .await
                .is_ok_and(|(st, _)| st == 200);
            if ok {
                break;
            }
        }
    }
    assert!(ok, "new certificate served");
    assert!(
        client::connect(s.addr, &s.ca, "localhost").await.is_err(),
        "old CA no longer matches"
    );
    s.stop().await;
}

#[tokio::test]
async fn credential_values_never_reach_the_response() {
    let cfg = "checks: {mode: enforce, enforce: [configmap-credential, env-literal-credential]}\n";
    let s = start(cfg, |_| {}).await;
    let mut c = s.client().await;
    let secret_value = "hunter2-Zx9!qQ7#long-password-value";
    let cm = json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "app", "namespace": "default"},
        "data": {"DB_PASSWORD": secret_value}});
    let req = Req {
        op: "CREATE",
        group: "",
        kind: "ConfigMap",
        resource: "configmaps",
        sub: "",
        ns: "default",
        name: "app",
        object: cm,
        old: Value::Null,
    };
    let (status, body) = c
        .request("POST", "/validate/checks", review("s1", &req))
        .await
        .unwrap();
    assert_eq!(status, 200);
    let text = String::from_utf8(body).unwrap();
    assert!(
        text.contains("configmap-credential"),
        "the finding is reported: {text}"
    );
    assert!(text.contains("\"allowed\":false"), "{text}");
    assert!(!text.contains("hunter2"), "secret value leaked: {text}");
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "default"},
        "spec": {"containers": [{"name": "a", "image": "x:1", "env": [{"name": "API_TOKEN", "value": secret_value}]}]}});
    let (_, body) = c
        .request(
            "POST",
            "/validate",
            review("s2", &pod_req("default", "p", pod)),
        )
        .await
        .unwrap();
    let text = String::from_utf8(body).unwrap();
    assert!(text.contains("env-literal-credential"), "{text}");
    assert!(!text.contains("hunter2"), "secret value leaked: {text}");
    s.stop().await;
}

#[tokio::test]
async fn garbage_bodies_over_https_get_400_and_the_server_stays_up() {
    let s = start(ENFORCING, |_| {}).await;
    let mut c = s.client().await;
    // A deterministic xorshift stream: random bytes, truncated and corrupted valid reviews.
    let valid = review(
        "g",
        &pod_req(
            "shop",
            "p",
            json!({"spec": {"containers": [{"name": "a", "image": "nginx:1"}]}}),
        ),
    );
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    for i in 0..200 {
        let body: Vec<u8> = match i % 3 {
            0 => (0..(next() % 300)).map(|_| next() as u8).collect(),
            1 => valid[..(next() as usize % valid.len())].to_vec(),
            _ => {
                let mut b = valid.clone();
                for _ in 0..4 {
                    let at = next() as usize % b.len();
                    b[at] = next() as u8;
                }
                b
            }
        };
        let (status, _) = c.request("POST", "/validate", body).await.unwrap();
        assert!(status == 200 || status == 400, "status {status}");
    }
    let (status, _) = c.request("POST", "/validate", valid).await.unwrap();
    assert_eq!(status, 200);
    s.stop().await;
}

#[tokio::test]
async fn http2_clients_are_served() {
    use http_body_util::{BodyExt, Full};
    let s = start(ENFORCING, |_| {}).await;
    let mut roots = rustls::RootCertStore::empty();
    for c in rustls_pki_types::pem::PemObject::pem_slice_iter(s.ca.as_bytes()) {
        roots.add(c.unwrap()).unwrap();
    }
    let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_root_certificates(roots)
    .with_no_client_auth();
    cfg.alpn_protocols = vec![b"h2".to_vec()];
    let tcp = tokio::net::TcpStream::connect(s.addr).await.unwrap();
    let tls = tokio_rustls::TlsConnector::from(Arc::new(cfg))
        .connect(
            rustls_pki_types::ServerName::try_from("localhost").unwrap(),
            tcp,
        )
        .await
        .unwrap();
    assert_eq!(tls.get_ref().1.alpn_protocol(), Some(&b"h2"[..]));
    let (mut send, conn) = hyper::client::conn::http2::handshake(
        hyper_util::rt::TokioExecutor::new(),
        hyper_util::rt::TokioIo::new(tls),
    )
    .await
    .unwrap();
    tokio::spawn(conn);
    let svc = json!({"spec": {"externalIPs": ["192.0.2.1"]}});
    let body = review(
        "h2",
        &Req {
            op: "CREATE",
            group: "",
            kind: "Service",
            resource: "services",
            sub: "",
            ns: "shop",
            name: "web",
            object: svc,
            old: Value::Null,
        },
    );
    let req = hyper::Request::post("https://localhost/validate/deny-service-external-ips")
        .header("content-type", "application/json")
        .body(Full::new(hyper::body::Bytes::from(body)))
        .unwrap();
    let resp = send.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    let bytes = resp.into_body().collect().await.unwrap().to_bytes();
    let v: Value = serde_json::from_slice(&bytes).unwrap();
    assert_eq!(v["response"]["uid"], "h2");
    assert_eq!(v["response"]["allowed"], false);
    s.stop().await;
}

/// `/validate/image-vulnerabilities` over the wire: the cached scan of a vulnerable image
/// denies it, a clean one is admitted, an unscanned one is warned about.
#[tokio::test]
async fn image_vulnerabilities_over_https() {
    use kubevigil_image::summary::ImageSummary;
    let db_dir = tempfile::tempdir().unwrap();
    let db = kubevigil_vulndb::Db::open(db_dir.path()).unwrap();
    for (reference, digest, critical) in [
        ("registry.example.com/shop/web:1.4", "sha256:1111", 2),
        ("registry.example.com/shop/clean:2.0", "sha256:2222", 0),
    ] {
        let summary = ImageSummary {
            reference: reference.into(),
            digest: Some(digest.into()),
            created: None,
            base_image: Some("debian:12".into()),
            critical,
            high: 0,
            medium: 0,
            low: 0,
            unknown: 0,
            fixable: 0,
            top: Vec::new(),
        };
        db.record_scan(&summary, 1).unwrap();
    }
    let config = format!(
        "imageVulnerabilities: {{mode: enforce, database: {}, denyAtOrAbove: critical, unscanned: warn}}\n",
        db_dir.path().display()
    );
    let s = start(&config, |_| {}).await;
    let mut c = s.client().await;
    let pod = |image: &str| json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "web", "image": image}]}});
    let r = post(
        &mut c,
        "/validate/image-vulnerabilities",
        "v1",
        &pod_req("shop", "p", pod("registry.example.com/shop/web:1.4")),
    )
    .await;
    assert_eq!(r["allowed"], false, "{r}");
    assert_eq!(
        r["status"]["message"],
        r#"pods "p" is forbidden: image vulnerabilities: container "web": image "registry.example.com/shop/web:1.4" has 2 vulnerabilities (2 critical; 0 with a fix); base image debian:12"#
    );
    let r = post(
        &mut c,
        "/validate",
        "v2",
        &pod_req("shop", "p", pod("registry.example.com/shop/clean:2.0")),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    assert!(r.get("warnings").is_none(), "{r}");
    let r = post(
        &mut c,
        "/validate/image-vulnerabilities",
        "v3",
        &pod_req("shop", "p", pod("registry.example.com/shop/new:1.0")),
    )
    .await;
    assert_eq!(r["allowed"], true, "{r}");
    assert_eq!(
        r["warnings"][0],
        r#"image vulnerabilities: container "web": image "registry.example.com/shop/new:1.0" has not been scanned"#
    );
    s.stop().await;
}
