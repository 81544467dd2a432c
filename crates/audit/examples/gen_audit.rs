//! Generator of realistic Kubernetes audit traffic (audit.k8s.io/v1 JSON lines) for benchmarks.
//!
//! `cargo run --release -p kubevigil-audit --example gen_audit -- --events 1000000 > audit.log`
//!
//! The mix models a busy cluster: node and controller lease renewals, node status patches,
//! controllers listing and watching, kubelets reading secrets and configmaps, humans and CI
//! service accounts changing workloads (with request and response bodies), exec sessions,
//! health and metrics probes, anonymous and failed (401/403) requests, core events, token
//! requests. Weights are configurable with `--mix name=weight,...`; output is deterministic for
//! a given `--seed`. Bodies are realistic objects (with managedFields), 1-2 KB per event on
//! average with the default mix.
//!
//! `--preset day` models a day of a production cluster instead (what the precision benchmark
//! `bench/detect-precision.sh` runs): besides nodes and controllers, add-ons reading and
//! writing the secrets they own (cert-manager, ingress-nginx, Argo CD, external-secrets,
//! prometheus-operator), cert-manager's cainjector updating webhook CA bundles,
//! kube-state-metrics watching everything, the scheduler binding pods, the ReplicaSet and
//! DaemonSet controllers creating add-on pods in kube-system, CI applying releases with Helm
//! (one namespace per pipeline), administrators reading, rare writes and exec sessions by
//! people. `--attacks N --truth FILE` injects N episodes of each attack scenario (see
//! `SCENARIOS`) and writes `auditID<TAB>scenario` for each of their events to FILE; nothing
//! in the events themselves marks them.

use std::io::{self, BufWriter, Write};

use serde_json::{Value, json};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        // splitmix64
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    fn pct(&mut self, p: u64) -> bool {
        self.below(100) < p
    }
    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len() as u64) as usize]
    }
}

const KINDS: &[&str] = &[
    "lease",
    "node",
    "controller",
    "kubelet",
    "user",
    "ci",
    "health",
    "anon",
    "events",
    "token",
    "exec",
    // Kinds of the `day` preset (also usable in `--mix`).
    "operator",
    "cainjector",
    "ksm",
    "controlplane",
    "admin",
    "deploy",
];

/// The `day` preset: a day of a production cluster, in events per 10,000. Nodes and the
/// control plane dominate (leases, status, controllers, kubelets); add-ons that own secrets
/// (cert-manager, ingress-nginx, Argo CD, external-secrets, kube-state-metrics) read them
/// all day; people mostly read, CI applies workloads, writes by hand and exec sessions are
/// rare; the API endpoint sees a trickle of unauthenticated internet scans.
const DAY_MIX: &[(&str, u64)] = &[
    ("lease", 2500),
    ("node", 800),
    ("controller", 2000),
    ("kubelet", 800),
    ("health", 1000),
    ("events", 600),
    ("token", 300),
    ("anon", 50),
    ("controlplane", 600),
    ("operator", 700),
    ("ksm", 150),
    ("cainjector", 30),
    ("admin", 250),
    ("deploy", 200),
    ("user", 10),
    ("exec", 1),
];

/// Attack scenarios injected by `--attacks N` (N episodes each), with their events' auditIDs
/// written to `--truth FILE` as `auditID<TAB>scenario` lines. No field of an event says it is
/// an attack: the truth file is the only record.
const SCENARIOS: &[&str] = &[
    "exec",
    "secret-enumeration",
    "cluster-admin-binding",
    "privileged-pod",
    "impersonation",
    "anonymous",
    "token-other-namespace",
    "pod-in-kube-system",
    "attack-tool",
    "denied-secret-burst",
    "system-identity-outside",
    "system-identity-in-user-namespace",
    "ioc-address",
];

/// Addresses attacks come from: documentation ranges (RFC 5737) for the internet, and one
/// Tor exit range (185.220.101.0/24) that `bench/detect-precision.sh` puts on its indicator
/// list.
const ATTACKER_IPS: &[&str] = &["198.51.100.23", "203.0.113.66", "192.0.2.150"];
const TOR_EXIT_IP: &str = "185.220.101.47";

struct Config {
    events: u64,
    seed: u64,
    fail_pct: u64,
    request_received_pct: u64,
    users: u64,
    namespaces: u64,
    nodes: u64,
    weights: Vec<(usize, u64)>,
    /// Episodes per attack scenario.
    attacks: u64,
    truth: Option<String>,
    /// `--preset day`: stages of one request share its auditID, probes stay realistic.
    day: bool,
}

fn usage() -> ! {
    eprintln!(
        "usage: gen_audit [--events N] [--seed S] [--fail-pct P] [--request-received-pct P]\n\
         \x20                [--users N] [--namespaces N] [--nodes N] [--mix kind=weight,...]\n\
         \x20                [--preset throughput|day] [--attacks N --truth FILE]\n\
         kinds: {}\nscenarios: {}",
        KINDS.join(", "),
        SCENARIOS.join(", ")
    );
    std::process::exit(2)
}

fn parse_args() -> Config {
    let mut c = Config {
        events: 100_000,
        seed: 42,
        fail_pct: 4,
        request_received_pct: 30,
        users: 25,
        namespaces: 40,
        nodes: 50,
        weights: vec![
            (0, 26),
            (1, 8),
            (2, 22),
            (3, 8),
            (4, 8),
            (5, 5),
            (6, 10),
            (7, 2),
            (8, 6),
            (9, 3),
            (10, 2),
        ],
        attacks: 0,
        truth: None,
        day: false,
    };
    let args: Vec<String> = std::env::args().skip(1).collect();
    let mut i = 0;
    while i < args.len() {
        let val = args.get(i + 1).cloned().unwrap_or_else(|| usage());
        let num = || val.parse::<u64>().unwrap_or_else(|_| usage());
        match args[i].as_str() {
            "--events" => c.events = num(),
            "--seed" => c.seed = num(),
            "--fail-pct" => c.fail_pct = num(),
            "--request-received-pct" => c.request_received_pct = num(),
            "--users" => c.users = num(),
            "--namespaces" => c.namespaces = num(),
            "--nodes" => c.nodes = num(),
            "--attacks" => c.attacks = num(),
            "--truth" => c.truth = Some(val.clone()),
            // The default mix (`throughput`) is what the speed benchmarks were measured on.
            "--preset" => match val.as_str() {
                "throughput" => {}
                "day" => {
                    c.day = true;
                    c.fail_pct = 1;
                    c.weights = DAY_MIX
                        .iter()
                        .map(|(k, w)| (kind_index(k).unwrap_or_else(|| usage()), *w))
                        .collect();
                }
                _ => usage(),
            },
            "--mix" => {
                c.weights = val
                    .split(',')
                    .map(|kv| {
                        let (k, w) = kv.split_once('=').unwrap_or_else(|| usage());
                        let idx = kind_index(k).unwrap_or_else(|| usage());
                        (idx, w.parse().unwrap_or_else(|_| usage()))
                    })
                    .collect()
            }
            _ => usage(),
        }
        i += 2;
    }
    if c.attacks > 0 && c.truth.is_none() {
        usage()
    }
    c
}

fn kind_index(k: &str) -> Option<usize> {
    KINDS.iter().position(|x| *x == k)
}

struct Gen {
    rng: Rng,
    cfg: Config,
    total_weight: u64,
    seq: u64,
    /// Requests generated so far (auditIDs of the day preset).
    requests: u64,
    /// Attack events written so far (their auditIDs).
    attack_seq: u64,
    /// The namespace the current CI pipeline deploys to.
    ci_ns: String,
    /// Microseconds since the epoch of the current event.
    now: i64,
}

struct Req {
    verb: &'static str,
    user: Value,
    uri: String,
    object_ref: Option<Value>,
    user_agent: String,
    level: &'static str,
    code: u16,
    request_object: Option<Value>,
    response_object: Option<Value>,
    watch: bool,
    /// Source address; a random cluster address when `None`.
    ip: Option<String>,
    /// More top-level fields (`impersonatedUser`), written after `user`.
    extra: Vec<(&'static str, Value)>,
}

fn timestamp(micros: i64) -> String {
    let secs = micros.div_euclid(1_000_000);
    let us = micros.rem_euclid(1_000_000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    // civil_from_days (Howard Hinnant)
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    let y = yoe + era * 400 + i64::from(m <= 2);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{us:06}Z",
        rem / 3600,
        rem % 3600 / 60,
        rem % 60
    )
}

fn managed_fields(manager: &str, ts: &str) -> Value {
    json!([{
        "manager": manager, "operation": "Update", "apiVersion": "v1", "time": ts,
        "fieldsType": "FieldsV1",
        "fieldsV1": {"f:metadata": {"f:labels": {".": {}, "f:app": {}}}, "f:spec": {"f:replicas": {}, "f:template": {"f:spec": {"f:containers": {}}}}}
    }])
}

impl Gen {
    fn uid(&mut self) -> String {
        let a = self.rng.next();
        let b = self.rng.next();
        format!(
            "{:08x}-{:04x}-4{:03x}-{:04x}-{:012x}",
            a >> 32,
            (a >> 16) & 0xffff,
            a & 0xfff,
            (b >> 48) | 0x8000,
            b & 0xffff_ffff_ffff
        )
    }

    fn ns(&mut self) -> String {
        const BASE: &[&str] = &[
            "shop", "payments", "search", "auth", "data", "ml", "web", "batch",
        ];
        let i = self.rng.below(self.cfg.namespaces);
        format!("{}-{}", BASE[(i % BASE.len() as u64) as usize], i)
    }

    fn node(&mut self) -> String {
        format!(
            "ip-10-0-{}-{}.ec2.internal",
            self.rng.below(4),
            self.rng.below(self.cfg.nodes)
        )
    }

    fn human(&mut self) -> Value {
        let i = self.rng.below(self.cfg.users);
        let groups = if i.is_multiple_of(5) {
            json!(["platform-admins", "system:authenticated"])
        } else {
            json!(["developers", "system:authenticated"])
        };
        json!({"username": format!("user{i}@example.com"), "groups": groups,
               "extra": {"authentication.kubernetes.io/credential-id": [format!("X509SHA256=8a4c{i:04x}")]}})
    }

    fn sa(&self, ns: &str, name: &str) -> Value {
        json!({"username": format!("system:serviceaccount:{ns}:{name}"),
               "uid": format!("5f0c{:04x}-0000-4000-8000-000000000000", name.len()),
               "groups": ["system:serviceaccounts", format!("system:serviceaccounts:{ns}"), "system:authenticated"]})
    }

    fn deployment(&mut self, ns: &str, name: &str, ts: &str) -> Value {
        let image = format!(
            "registry.example.com/{name}:1.{}.{}",
            self.rng.below(20),
            self.rng.below(10)
        );
        json!({"kind": "Deployment", "apiVersion": "apps/v1",
          "metadata": {"name": name, "namespace": ns, "uid": self.uid(), "resourceVersion": self.rng.below(9_000_000).to_string(),
                       "generation": self.rng.below(50), "creationTimestamp": ts, "labels": {"app": name, "team": "core"},
                       "annotations": {"deployment.kubernetes.io/revision": "7"}, "managedFields": managed_fields("kubectl-client-side-apply", ts)},
          "spec": {"replicas": 3, "selector": {"matchLabels": {"app": name}},
                   "template": {"metadata": {"labels": {"app": name}},
                                "spec": {"containers": [{"name": name, "image": image, "ports": [{"containerPort": 8080, "protocol": "TCP"}],
                                   "resources": {"requests": {"cpu": "100m", "memory": "128Mi"}, "limits": {"memory": "256Mi"}},
                                   "securityContext": {"runAsNonRoot": true, "allowPrivilegeEscalation": false}}],
                                   "serviceAccountName": name}}}})
    }

    fn next_request(&mut self) -> Req {
        let mut roll = self.rng.below(self.total_weight);
        let mut kind = 0;
        for &(k, w) in &self.cfg.weights {
            if roll < w {
                kind = k;
                break;
            }
            roll -= w;
        }
        let ts = timestamp(self.now);
        let mut r = match KINDS[kind] {
            "lease" => {
                let node = self.node();
                let update = self.rng.pct(50);
                let body = json!({"kind": "Lease", "apiVersion": "coordination.k8s.io/v1",
                    "metadata": {"name": node, "namespace": "kube-node-lease", "uid": self.uid(), "resourceVersion": self.rng.below(9_000_000).to_string()},
                    "spec": {"holderIdentity": node, "leaseDurationSeconds": 40, "renewTime": ts}});
                Req {
                    verb: if update { "update" } else { "get" },
                    user: json!({"username": format!("system:node:{node}"), "groups": ["system:nodes", "system:authenticated"]}),
                    uri: format!(
                        "/apis/coordination.k8s.io/v1/namespaces/kube-node-lease/leases/{node}?timeout=10s"
                    ),
                    object_ref: Some(
                        json!({"resource": "leases", "namespace": "kube-node-lease", "name": node, "apiGroup": "coordination.k8s.io", "apiVersion": "v1"}),
                    ),
                    user_agent: "kubelet/v1.30.2 (linux/amd64) kubernetes/39683505".into(),
                    level: if update {
                        "RequestResponse"
                    } else {
                        "Metadata"
                    },
                    code: 200,
                    request_object: update.then(|| body.clone()),
                    response_object: update.then_some(body),
                    watch: false,
                    ip: None,
                    extra: Vec::new(),
                }
            }
            "node" => {
                let node = self.node();
                let patch = json!({"status": {"conditions": [
                    {"type": "MemoryPressure", "status": "False", "lastHeartbeatTime": ts, "reason": "KubeletHasSufficientMemory", "message": "kubelet has sufficient memory available"},
                    {"type": "DiskPressure", "status": "False", "lastHeartbeatTime": ts, "reason": "KubeletHasNoDiskPressure", "message": "kubelet has no disk pressure"},
                    {"type": "PIDPressure", "status": "False", "lastHeartbeatTime": ts, "reason": "KubeletHasSufficientPID", "message": "kubelet has sufficient PID available"},
                    {"type": "Ready", "status": "True", "lastHeartbeatTime": ts, "reason": "KubeletReady", "message": "kubelet is posting ready status"}]}});
                Req {
                    verb: "patch",
                    user: json!({"username": format!("system:node:{node}"), "groups": ["system:nodes", "system:authenticated"]}),
                    uri: format!("/api/v1/nodes/{node}/status?timeout=10s"),
                    object_ref: Some(
                        json!({"resource": "nodes", "name": node, "apiVersion": "v1", "subresource": "status"}),
                    ),
                    user_agent: "kubelet/v1.30.2 (linux/amd64) kubernetes/39683505".into(),
                    level: "Request",
                    code: 200,
                    request_object: Some(patch),
                    response_object: None,
                    watch: false,
                    ip: None,
                    extra: Vec::new(),
                }
            }
            "controller" => {
                const RES: &[(&str, &str)] = &[
                    ("pods", ""),
                    ("endpoints", ""),
                    ("endpointslices", "discovery.k8s.io"),
                    ("configmaps", ""),
                    ("replicasets", "apps"),
                    ("deployments", "apps"),
                    ("jobs", "batch"),
                ];
                const SA: &[&str] = &[
                    "replicaset-controller",
                    "deployment-controller",
                    "endpointslice-controller",
                    "job-controller",
                    "namespace-controller",
                    "generic-garbage-collector",
                ];
                let (res, group) = *self.rng.pick(RES);
                let sa = *self.rng.pick(SA);
                let verb = *self.rng.pick(&["list", "watch", "get", "get", "update"]);
                let ns = self.ns();
                let prefix = if group.is_empty() {
                    "/api/v1".to_string()
                } else {
                    format!("/apis/{group}/v1")
                };
                let mut oref = json!({"resource": res, "namespace": ns, "apiVersion": "v1"});
                if !group.is_empty() {
                    oref["apiGroup"] = json!(group);
                }
                let uri = match verb {
                    "list" => format!("{prefix}/namespaces/{ns}/{res}?limit=500&resourceVersion=0"),
                    "watch" => format!(
                        "{prefix}/namespaces/{ns}/{res}?allowWatchBookmarks=true&resourceVersion=812345&timeout=7m41s&timeoutSeconds=461&watch=true"
                    ),
                    _ => {
                        let name = format!("{res}-{}", self.rng.below(300));
                        oref["name"] = json!(name.clone());
                        format!("{prefix}/namespaces/{ns}/{res}/{name}")
                    }
                };
                let body = (verb == "update").then(|| {
                    let n = format!("{res}-{}", self.rng.below(300));
                    let ts2 = ts.clone();
                    self.deployment(&ns, &n, &ts2)
                });
                Req {
                    verb,
                    user: self.sa("kube-system", sa),
                    uri,
                    object_ref: Some(oref),
                    user_agent: format!(
                        "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/39683505/system:serviceaccount:kube-system:{sa}"
                    ),
                    level: if body.is_some() {
                        "RequestResponse"
                    } else {
                        "Metadata"
                    },
                    code: 200,
                    request_object: body.clone(),
                    response_object: body,
                    watch: verb == "watch",
                    ip: None,
                    extra: Vec::new(),
                }
            }
            "kubelet" => {
                let node = self.node();
                let ns = self.ns();
                let res = *self.rng.pick(&["secrets", "configmaps", "pods"]);
                let name = format!("{}-{}", &res[..res.len() - 1], self.rng.below(200));
                Req {
                    verb: if self.rng.pct(70) { "watch" } else { "get" },
                    user: json!({"username": format!("system:node:{node}"), "groups": ["system:nodes", "system:authenticated"]}),
                    uri: format!(
                        "/api/v1/namespaces/{ns}/{res}?fieldSelector=metadata.name%3D{name}&resourceVersion=0&watch=true"
                    ),
                    object_ref: Some(
                        json!({"resource": res, "namespace": ns, "name": name, "apiVersion": "v1"}),
                    ),
                    user_agent: "kubelet/v1.30.2 (linux/amd64) kubernetes/39683505".into(),
                    level: "Metadata",
                    code: 200,
                    request_object: None,
                    response_object: None,
                    watch: true,
                    ip: None,
                    extra: Vec::new(),
                }
            }
            "user" | "ci" => {
                let user = if KINDS[kind] == "user" {
                    self.human()
                } else {
                    self.sa("ci", "deployer")
                };
                let ns = self.ns();
                let (res, group) = *self.rng.pick(&[
                    ("deployments", "apps"),
                    ("pods", ""),
                    ("configmaps", ""),
                    ("services", ""),
                    ("secrets", ""),
                    ("rolebindings", "rbac.authorization.k8s.io"),
                ]);
                let verb = *self.rng.pick(&[
                    "get", "list", "create", "patch", "update", "delete", "get", "list",
                ]);
                let name = format!("app-{}", self.rng.below(100));
                let prefix = if group.is_empty() {
                    "/api/v1".to_string()
                } else {
                    format!("/apis/{group}/v1")
                };
                let mut oref = json!({"resource": res, "namespace": ns, "apiVersion": "v1"});
                if !group.is_empty() {
                    oref["apiGroup"] = json!(group);
                }
                let uri = if verb == "list" || verb == "create" {
                    format!("{prefix}/namespaces/{ns}/{res}")
                } else {
                    oref["name"] = json!(name.clone());
                    format!("{prefix}/namespaces/{ns}/{res}/{name}")
                };
                let object = match res {
                    "secrets" => {
                        json!({"kind": "Secret", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns, "uid": self.uid()},
                                        "type": "Opaque", "data": {"password": "c3VwZXItc2VjcmV0LXZhbHVl", "username": "YWRtaW4="}})
                    }
                    "configmaps" => {
                        json!({"kind": "ConfigMap", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns, "uid": self.uid(), "managedFields": managed_fields("kubectl", &ts)},
                                           "data": {"LOG_LEVEL": "info", "FEATURE_FLAGS": "search,checkout,recommendations", "config.yaml": "server:\n  port: 8080\n  timeout: 30s\n"}})
                    }
                    _ => {
                        let ts2 = ts.clone();
                        self.deployment(&ns, &name, &ts2)
                    }
                };
                let write = matches!(verb, "create" | "patch" | "update");
                let request_object = match verb {
                    "patch" => Some(
                        json!({"spec": {"template": {"metadata": {"annotations": {"kubectl.kubernetes.io/restartedAt": ts}}}}}),
                    ),
                    "create" | "update" => Some(object.clone()),
                    "delete" => Some(
                        json!({"kind": "DeleteOptions", "apiVersion": "meta.k8s.io/__internal", "propagationPolicy": "Background"}),
                    ),
                    _ => None,
                };
                let response_object = (write || verb == "get").then_some(object);
                Req {
                    verb,
                    user,
                    uri,
                    object_ref: Some(oref),
                    user_agent: if KINDS[kind] == "user" {
                        "kubectl/v1.30.1 (darwin/arm64) kubernetes/6911225".into()
                    } else {
                        "argocd-application-controller/v2.11.3".into()
                    },
                    level: if response_object.is_some() {
                        "RequestResponse"
                    } else if request_object.is_some() {
                        "Request"
                    } else {
                        "Metadata"
                    },
                    code: match verb {
                        "create" => 201,
                        _ => 200,
                    },
                    request_object,
                    response_object,
                    watch: false,
                    ip: None,
                    extra: Vec::new(),
                }
            }
            "exec" => {
                let ns = self.ns();
                let pod = format!("web-{}", self.rng.below(50));
                Req {
                    verb: "create",
                    user: self.human(),
                    uri: format!(
                        "/api/v1/namespaces/{ns}/pods/{pod}/exec?command=%2Fbin%2Fsh&container=web&stdin=true&stdout=true&tty=true"
                    ),
                    object_ref: Some(
                        json!({"resource": "pods", "namespace": ns, "name": pod, "apiVersion": "v1", "subresource": "exec"}),
                    ),
                    user_agent: "kubectl/v1.30.1 (darwin/arm64) kubernetes/6911225".into(),
                    level: "Metadata",
                    code: 101,
                    request_object: None,
                    response_object: None,
                    watch: false,
                    ip: None,
                    extra: Vec::new(),
                }
            }
            "health" => {
                let path = *self.rng.pick(&[
                    "/healthz",
                    "/livez",
                    "/readyz",
                    "/metrics",
                    "/version",
                    "/openapi/v2",
                    "/readyz?verbose",
                ]);
                // system:public-info-viewer grants anonymous users /healthz, /livez,
                // /readyz and /version only (plugin/pkg/auth/authorizer/rbac/bootstrappolicy);
                // the day preset keeps probes to those.
                let path = if self.cfg.day && path == "/openapi/v2" {
                    "/readyz"
                } else {
                    path
                };
                let metrics = path == "/metrics";
                Req {
                    verb: "get",
                    user: if metrics {
                        self.sa("monitoring", "prometheus")
                    } else {
                        json!({"username": "system:anonymous", "groups": ["system:unauthenticated"]})
                    },
                    uri: path.to_string(),
                    object_ref: None,
                    user_agent: if metrics {
                        "Prometheus/2.52.0".into()
                    } else {
                        "kube-probe/1.30".into()
                    },
                    level: "Metadata",
                    code: 200,
                    request_object: None,
                    response_object: None,
                    watch: false,
                    ip: None,
                    extra: Vec::new(),
                }
            }
            "anon" => Req {
                verb: if self.rng.pct(50) { "get" } else { "list" },
                user: json!({}),
                uri: "/api/v1/namespaces/kube-system/secrets".into(),
                object_ref: Some(
                    json!({"resource": "secrets", "namespace": "kube-system", "apiVersion": "v1"}),
                ),
                user_agent: "python-requests/2.31.0".into(),
                level: "Metadata",
                code: 401,
                request_object: None,
                response_object: None,
                watch: false,
                ip: None,
                extra: Vec::new(),
            },
            "events" => {
                let ns = self.ns();
                let node = self.node();
                let name = format!(
                    "web-{}.17c{:x}",
                    self.rng.below(50),
                    self.rng.next() & 0xffffff
                );
                let ev = json!({"kind": "Event", "apiVersion": "v1", "metadata": {"name": name, "namespace": ns},
                    "involvedObject": {"kind": "Pod", "namespace": ns, "name": "web-1", "uid": self.uid(), "apiVersion": "v1", "fieldPath": "spec.containers{web}"},
                    "reason": "Pulled", "message": "Successfully pulled image \"registry.example.com/web:1.4.2\" in 1.2s (1.2s including waiting)",
                    "source": {"component": "kubelet", "host": node}, "firstTimestamp": ts, "lastTimestamp": ts, "count": 1, "type": "Normal",
                    "reportingComponent": "kubelet", "reportingInstance": node});
                Req {
                    verb: "create",
                    user: json!({"username": format!("system:node:{node}"), "groups": ["system:nodes", "system:authenticated"]}),
                    uri: format!("/api/v1/namespaces/{ns}/events"),
                    object_ref: Some(
                        json!({"resource": "events", "namespace": ns, "name": name, "apiVersion": "v1"}),
                    ),
                    user_agent: "kubelet/v1.30.2 (linux/amd64) kubernetes/39683505".into(),
                    level: "Request",
                    code: 201,
                    request_object: Some(ev),
                    response_object: None,
                    watch: false,
                    ip: None,
                    extra: Vec::new(),
                }
            }
            "operator" | "cainjector" | "ksm" | "controlplane" | "admin" | "deploy" => {
                self.day_request(KINDS[kind], &ts)
            }
            _ => {
                // token
                let ns = self.ns();
                let sa = format!("app-{}", self.rng.below(40));
                let node = self.node();
                Req {
                    verb: "create",
                    user: json!({"username": format!("system:node:{node}"), "groups": ["system:nodes", "system:authenticated"]}),
                    uri: format!("/api/v1/namespaces/{ns}/serviceaccounts/{sa}/token"),
                    object_ref: Some(
                        json!({"resource": "serviceaccounts", "namespace": ns, "name": sa, "apiVersion": "v1", "subresource": "token"}),
                    ),
                    user_agent: "kubelet/v1.30.2 (linux/amd64) kubernetes/39683505".into(),
                    level: "RequestResponse",
                    code: 201,
                    request_object: Some(
                        json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": {"audiences": ["https://kubernetes.default.svc.cluster.local"], "expirationSeconds": 3607, "boundObjectRef": {"kind": "Pod", "apiVersion": "v1", "name": "web-1", "uid": self.uid()}}, "status": {"token": "", "expirationTimestamp": null}}),
                    ),
                    response_object: Some(
                        json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {"name": sa, "namespace": ns, "creationTimestamp": ts}, "spec": {"audiences": ["https://kubernetes.default.svc.cluster.local"], "expirationSeconds": 3607}, "status": {"token": "eyJhbGciOiJSUzI1NiIsImtpZCI6IjEyMyJ9.eyJhdWQiOlsiaHR0cHM6Ly9rdWJlcm5ldGVzIl19.c2lnbmF0dXJlLWZha2U", "expirationTimestamp": ts}}),
                    ),
                    watch: false,
                    ip: None,
                    extra: Vec::new(),
                }
            }
        };
        // Failed requests: unauthenticated (401) or forbidden (403); the body is not recorded.
        if r.code < 300 && self.rng.pct(self.cfg.fail_pct) {
            if self.rng.pct(30) {
                r.user = json!({});
                r.code = 401;
            } else {
                r.code = 403;
            }
            r.response_object = None;
            r.watch = false;
        }
        r
    }

    fn write_event(
        &mut self,
        out: &mut impl Write,
        r: &Req,
        stage: &str,
        received: &str,
        id: Option<&str>,
    ) -> io::Result<()> {
        self.seq += 1;
        let mut ev = serde_json::Map::new();
        ev.insert("kind".into(), json!("Event"));
        ev.insert("apiVersion".into(), json!("audit.k8s.io/v1"));
        ev.insert("level".into(), json!(r.level));
        let audit_id = match id {
            Some(id) => id.to_string(),
            // The API server gives every stage of a request the request's auditID; the
            // throughput preset keeps its historical numbering (byte-identical output).
            None if self.cfg.day => {
                format!(
                    "{:08x}-0000-4000-8000-{:012x}",
                    self.cfg.seed, self.requests
                )
            }
            None => format!("{:08x}-0000-4000-8000-{:012x}", self.cfg.seed, self.seq / 2),
        };
        ev.insert("auditID".into(), json!(audit_id));
        ev.insert("stage".into(), json!(stage));
        ev.insert("requestURI".into(), json!(r.uri));
        ev.insert("verb".into(), json!(r.verb));
        ev.insert("user".into(), r.user.clone());
        for (k, v) in &r.extra {
            ev.insert((*k).into(), v.clone());
        }
        let ip = match &r.ip {
            Some(ip) => ip.clone(),
            None => format!(
                "10.{}.{}.{}",
                self.rng.below(4),
                self.rng.below(256),
                1 + self.rng.below(254)
            ),
        };
        ev.insert("sourceIPs".into(), json!([ip]));
        ev.insert("userAgent".into(), json!(r.user_agent));
        if let Some(o) = &r.object_ref {
            ev.insert("objectRef".into(), o.clone());
        }
        let complete = stage != "RequestReceived";
        if complete {
            let status = match r.code {
                401 => {
                    json!({"metadata": {}, "status": "Failure", "message": "Unauthorized", "reason": "Unauthorized", "code": 401})
                }
                403 => {
                    json!({"metadata": {}, "status": "Failure", "message": format!("{} is forbidden: User cannot {} resource", r.uri, r.verb), "reason": "Forbidden", "details": {}, "code": 403})
                }
                c => json!({"metadata": {}, "code": c}),
            };
            ev.insert("responseStatus".into(), status);
        }
        if let Some(b) = &r.request_object {
            ev.insert("requestObject".into(), b.clone());
        }
        if complete && let Some(b) = &r.response_object {
            ev.insert("responseObject".into(), b.clone());
        }
        ev.insert("requestReceivedTimestamp".into(), json!(received));
        ev.insert("stageTimestamp".into(), json!(timestamp(self.now)));
        let decision = if r.code == 403 { "forbid" } else { "allow" };
        if r.code != 401 {
            ev.insert(
                "annotations".into(),
                json!({"authorization.k8s.io/decision": decision, "authorization.k8s.io/reason": if decision == "allow" { "RBAC: allowed by ClusterRoleBinding \"system:controller\"" } else { "" }}),
            );
        }
        serde_json::to_writer(&mut *out, &Value::Object(ev))?;
        out.write_all(b"\n")
    }
}

/// Kubernetes API path of a resource: `(prefix, namespaced path)`.
fn api_prefix(group: &str) -> String {
    if group.is_empty() {
        "/api/v1".to_string()
    } else {
        format!("/apis/{group}/v1")
    }
}

/// A request at Metadata level without bodies.
#[allow(clippy::too_many_arguments)]
fn plain(
    verb: &'static str,
    user: Value,
    group: &str,
    res: &str,
    ns: Option<&str>,
    name: Option<&str>,
    user_agent: &str,
    code: u16,
) -> Req {
    let mut uri = api_prefix(group);
    let mut oref = json!({"resource": res, "apiVersion": "v1"});
    if !group.is_empty() {
        oref["apiGroup"] = json!(group);
    }
    if let Some(ns) = ns {
        uri.push_str(&format!("/namespaces/{ns}"));
        oref["namespace"] = json!(ns);
    }
    uri.push('/');
    uri.push_str(res);
    if let Some(name) = name {
        uri.push('/');
        uri.push_str(name);
        oref["name"] = json!(name);
    }
    match verb {
        "watch" => uri.push_str(
            "?allowWatchBookmarks=true&resourceVersion=812345&timeoutSeconds=411&watch=true",
        ),
        "list" => uri.push_str("?limit=500&resourceVersion=0"),
        _ => {}
    }
    Req {
        verb,
        user,
        uri,
        object_ref: Some(oref),
        user_agent: user_agent.to_string(),
        level: "Metadata",
        code,
        request_object: None,
        response_object: None,
        watch: verb == "watch",
        ip: None,
        extra: Vec::new(),
    }
}

/// Where an add-on's request goes.
#[derive(Clone, Copy)]
enum Scope {
    /// All namespaces (a cluster-wide list or watch, or a cluster-scoped object).
    Cluster,
    /// Its own namespace, the collection or one of these objects.
    Own(&'static [&'static str]),
    /// An application namespace, an object named `{prefix}N{suffix}`.
    App(&'static str, &'static str),
}

/// One behaviour of an add-on: taken when a percentile roll is below the bound.
type Step = (u64, &'static str, &'static str, &'static str, Scope);

const TLS: Scope = Scope::App("app-", "-tls");
const DB: Scope = Scope::App("app-", "-db");
const APP: Scope = Scope::App("app-", "");
const OWN: Scope = Scope::Own(&[]);
const ACME_KEY: Scope = Scope::Own(&["letsencrypt-prod-account-key"]);
const LEADER: Scope = Scope::Own(&["ingress-nginx-leader"]);
const ARGO_SECRETS: Scope = Scope::Own(&[
    "argocd-secret",
    "argocd-initial-admin-secret",
    "repo-creds-github",
    "cluster-prod",
]);
const PROM_SECRETS: Scope = Scope::Own(&[
    "prometheus-k8s",
    "alertmanager-main-generated",
    "prometheus-k8s-tls-assets-0",
]);
const LEASES: (&str, &str) = ("coordination.k8s.io", "leases");

/// Add-ons that own secrets: (namespace, service account, user agent, behaviours).
const OPERATORS: &[(&str, &str, &str, &[Step])] = &[
    (
        "cert-manager",
        "cert-manager",
        "cert-manager-controller/v1.14.5 (linux/amd64) cert-manager/5ce0eb4b0bb11e8dbd4a8df6fe6ea9d8d0b1e9a2",
        // Issuers and certificates: TLS secrets where the Certificate lives.
        &[
            (10, "watch", "", "secrets", Scope::Cluster),
            (60, "get", "", "secrets", TLS),
            (70, "update", "", "secrets", TLS),
            (100, "get", "", "secrets", ACME_KEY),
        ],
    ),
    (
        "ingress-nginx",
        "ingress-nginx",
        "nginx-ingress-controller/v1.10.1 (linux/amd64) ingress-nginx/4fb5aac1dd3669daa3a14d9de3e3cdb371b4c518",
        // TLS secrets of every Ingress, watched cluster-wide.
        &[
            (5, "list", "", "secrets", Scope::Cluster),
            (20, "watch", "", "secrets", Scope::Cluster),
            (60, "get", "", "secrets", TLS),
            (100, "update", LEASES.0, LEASES.1, LEADER),
        ],
    ),
    (
        "argocd",
        "argocd-server",
        "argocd-server/v2.11.3+0f1e2d4 (linux/amd64)",
        // Cluster credentials and repository secrets in its own namespace.
        &[
            (40, "get", "", "secrets", ARGO_SECRETS),
            (70, "list", "", "secrets", OWN),
            (100, "list", "argoproj.io", "applications", OWN),
        ],
    ),
    (
        "argocd",
        "argocd-application-controller",
        "argocd-application-controller/v2.11.3+0f1e2d4 (linux/amd64)",
        &[
            (30, "watch", "", "secrets", OWN),
            (70, "get", "apps", "deployments", APP),
            (100, "patch", "apps", "deployments", APP),
        ],
    ),
    (
        "external-secrets",
        "external-secrets",
        "external-secrets/v0.9.18",
        // Synced from a vault into the application's namespace.
        &[
            (50, "get", "", "secrets", DB),
            (70, "update", "", "secrets", DB),
            (
                100,
                "list",
                "external-secrets.io",
                "externalsecrets",
                Scope::Cluster,
            ),
        ],
    ),
    (
        "monitoring",
        "prometheus-operator",
        "PrometheusOperator/0.74.0",
        &[
            (30, "get", "", "secrets", PROM_SECRETS),
            (60, "update", "", "secrets", PROM_SECRETS),
            (100, "watch", "", "secrets", OWN),
        ],
    ),
];

impl Gen {
    fn pod_ip(&mut self) -> String {
        format!(
            "10.{}.{}.{}",
            1 + self.rng.below(3),
            self.rng.below(256),
            1 + self.rng.below(254)
        )
    }

    fn admin(&mut self) -> Value {
        let i = self.rng.below(4);
        json!({"username": format!("admin{i}@example.com"), "groups": ["platform-admins", "system:authenticated"]})
    }

    /// Traffic of the `day` preset's kinds.
    fn day_request(&mut self, kind: &str, ts: &str) -> Req {
        match kind {
            "operator" => {
                let (own, sa, ua, steps) = *self.rng.pick(OPERATORS);
                let user = self.sa(own, sa);
                let roll = self.rng.below(100);
                let &(_, verb, group, res, scope) = steps
                    .iter()
                    .find(|s| roll < s.0)
                    .expect("the last step's bound is 100");
                let (ns, name) = match scope {
                    Scope::Cluster => (None, None),
                    Scope::Own([]) => (Some(own.to_string()), None),
                    Scope::Own(names) => (
                        Some(own.to_string()),
                        Some(self.rng.pick(names).to_string()),
                    ),
                    Scope::App(prefix, suffix) => {
                        let ns = self.ns();
                        (
                            Some(ns),
                            Some(format!("{prefix}{}{suffix}", self.rng.below(100))),
                        )
                    }
                };
                plain(
                    verb,
                    user,
                    group,
                    res,
                    ns.as_deref(),
                    name.as_deref(),
                    ua,
                    200,
                )
            }
            "cainjector" => {
                let user = self.sa("cert-manager", "cert-manager-cainjector");
                let ua = "cainjector/v1.14.5 (linux/amd64) cert-manager/5ce0eb4b0bb11e8dbd4a8df6fe6ea9d8d0b1e9a2";
                let (res, name) = *self.rng.pick(&[
                    ("validatingwebhookconfigurations", "cert-manager-webhook"),
                    ("mutatingwebhookconfigurations", "cert-manager-webhook"),
                    ("validatingwebhookconfigurations", "ingress-nginx-admission"),
                    ("mutatingwebhookconfigurations", "istio-sidecar-injector"),
                ]);
                let verb = if self.rng.pct(40) { "watch" } else { "update" };
                let mut r = plain(
                    verb,
                    user,
                    "admissionregistration.k8s.io",
                    res,
                    None,
                    (verb == "update").then_some(name),
                    ua,
                    200,
                );
                if verb == "update" {
                    let bundle =
                        "LS0tLS1CRUdJTiBDRVJUSUZJQ0FURS0tLS0tCk1JSUJkekNDQVIyZ0F3SUJBZ0lRSGVz";
                    r.level = "RequestResponse";
                    let body = json!({"kind": res.trim_end_matches('s'), "apiVersion": "admissionregistration.k8s.io/v1",
                        "metadata": {"name": name, "annotations": {"cert-manager.io/inject-ca-from": format!("cert-manager/{name}")}},
                        "webhooks": [{"name": format!("webhook.{name}.io"), "clientConfig": {"caBundle": bundle, "service": {"name": name, "namespace": "cert-manager", "path": "/validate"}}}]});
                    r.request_object = Some(body.clone());
                    r.response_object = Some(body);
                }
                r
            }
            "ksm" => {
                let user = self.sa("kube-system", "kube-state-metrics");
                let (res, group) = *self.rng.pick(&[
                    ("secrets", ""),
                    ("configmaps", ""),
                    ("pods", ""),
                    ("deployments", "apps"),
                    ("nodes", ""),
                    ("leases", "coordination.k8s.io"),
                ]);
                let verb = if self.rng.pct(20) { "list" } else { "watch" };
                plain(
                    verb,
                    user,
                    group,
                    res,
                    None,
                    None,
                    "kube-state-metrics/v2.12.0 (linux/amd64) kubernetes/v2.12.0",
                    200,
                )
            }
            "controlplane" => {
                let ua_kcm = "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/39683505/leader-election";
                match self.rng.below(10) {
                    // Leader election of the controller manager and the scheduler.
                    roll @ 0..5 => {
                        let (who, ua) = if roll < 3 {
                            ("kube-controller-manager", ua_kcm)
                        } else {
                            (
                                "kube-scheduler",
                                "kube-scheduler/v1.30.2 (linux/amd64) kubernetes/39683505/leader-election",
                            )
                        };
                        let user = json!({"username": format!("system:{who}"), "groups": ["system:authenticated"]});
                        let verb = if self.rng.pct(50) { "get" } else { "update" };
                        plain(
                            verb,
                            user,
                            "coordination.k8s.io",
                            "leases",
                            Some("kube-system"),
                            Some(who),
                            ua,
                            200,
                        )
                    }
                    5..7 => {
                        // The scheduler binds pods to nodes.
                        let user = json!({"username": "system:kube-scheduler", "groups": ["system:authenticated"]});
                        let ns = self.ns();
                        let pod = format!(
                            "web-{}-7d9f8b6c5-{:05x}",
                            self.rng.below(50),
                            self.rng.below(0xfffff)
                        );
                        let mut r = plain(
                            "create",
                            user,
                            "",
                            "pods",
                            Some(&ns),
                            Some(&pod),
                            "kube-scheduler/v1.30.2 (linux/amd64) kubernetes/39683505/scheduler",
                            201,
                        );
                        r.uri.push_str("/binding");
                        r.object_ref.as_mut().expect("set")["subresource"] = json!("binding");
                        r
                    }
                    7 => {
                        // ReplicaSet and DaemonSet controllers create the add-ons' pods.
                        let sa = *self
                            .rng
                            .pick(&["replicaset-controller", "daemon-set-controller"]);
                        let user = self.sa("kube-system", sa);
                        let pod = format!(
                            "{}-{:05x}",
                            self.rng.pick(&[
                                "coredns-5d78c9869d",
                                "kube-proxy",
                                "aws-node",
                                "ebs-csi-node"
                            ]),
                            self.rng.below(0xfffff)
                        );
                        let mut r = plain(
                            "create",
                            user,
                            "",
                            "pods",
                            Some("kube-system"),
                            None,
                            &format!(
                                "kube-controller-manager/v1.30.2 (linux/amd64) kubernetes/39683505/system:serviceaccount:kube-system:{sa}"
                            ),
                            201,
                        );
                        r.level = "Request";
                        r.request_object = Some(
                            json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"generateName": pod, "namespace": "kube-system"},
                            "spec": {"containers": [{"name": "main", "image": "registry.k8s.io/coredns/coredns:v1.11.1", "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true}}], "serviceAccountName": "coredns"}}),
                        );
                        r
                    }
                    // Add-ons of kube-system watching the cluster.
                    roll => {
                        let (sa, group, res, ua) = if roll == 8 {
                            (
                                "coredns",
                                "discovery.k8s.io",
                                "endpointslices",
                                "coredns/v1.11.1 (linux/amd64) kubernetes/ae2bbc2",
                            )
                        } else {
                            (
                                "kube-proxy",
                                "",
                                "services",
                                "kube-proxy/v1.30.2 (linux/amd64) kubernetes/39683505",
                            )
                        };
                        let user = self.sa("kube-system", sa);
                        plain("watch", user, group, res, None, None, ua, 200)
                    }
                }
            }
            "admin" => {
                let user = self.admin();
                let ua = "kubectl/v1.30.1 (darwin/arm64) kubernetes/6911225";
                let ns = self.ns();
                let mut r = match self.rng.below(200) {
                    0 => plain(
                        "get",
                        user,
                        "",
                        "secrets",
                        Some(&ns),
                        Some("app-config"),
                        ua,
                        200,
                    ),
                    1..40 => plain("list", user, "", "pods", Some(&ns), None, ua, 200),
                    40..60 => plain("list", user, "", "pods", None, None, ua, 200),
                    60..90 => {
                        let pod = format!("web-{}", self.rng.below(50));
                        let mut r = plain("get", user, "", "pods", Some(&ns), Some(&pod), ua, 200);
                        r.uri.push_str("/log?container=web&tailLines=200");
                        r.object_ref.as_mut().expect("set")["subresource"] = json!("log");
                        r
                    }
                    90..120 => plain(
                        "list",
                        user,
                        "apps",
                        "deployments",
                        Some(&ns),
                        None,
                        ua,
                        200,
                    ),
                    120..140 => plain("list", user, "", "nodes", None, None, ua, 200),
                    140..160 => plain("list", user, "", "events", Some(&ns), None, ua, 200),
                    160..180 => plain("list", user, "", "namespaces", None, None, ua, 200),
                    _ => plain("get", user, "", "services", Some(&ns), Some("web"), ua, 200),
                };
                r.ip = Some(format!(
                    "10.8.{}.{}",
                    self.rng.below(4),
                    1 + self.rng.below(254)
                ));
                r
            }
            _ => {
                // deploy: a CI pipeline applies one application's manifests (helm upgrade).
                if self.ci_ns.is_empty() || self.rng.pct(4) {
                    self.ci_ns = self.ns();
                }
                let ns = self.ci_ns.clone();
                let user = self.sa("ci", "deployer");
                let app = format!("app-{}", ns.len() * 7 % 100);
                match self.rng.below(10) {
                    0..2 => {
                        // Helm keeps its release records in Secrets of the release namespace.
                        let mut r = plain(
                            "list",
                            user,
                            "",
                            "secrets",
                            Some(&ns),
                            None,
                            "Helm/3.15.2",
                            200,
                        );
                        r.uri = format!(
                            "/api/v1/namespaces/{ns}/secrets?labelSelector=name%3D{app}%2Cowner%3Dhelm"
                        );
                        r
                    }
                    2..4 => plain(
                        "get",
                        user,
                        "apps",
                        "deployments",
                        Some(&ns),
                        Some(&app),
                        "Helm/3.15.2",
                        200,
                    ),
                    4..6 => {
                        let mut r = plain(
                            "patch",
                            user,
                            "apps",
                            "deployments",
                            Some(&ns),
                            Some(&app),
                            "Helm/3.15.2",
                            200,
                        );
                        let body = self.deployment(&ns, &app, ts);
                        r.level = "RequestResponse";
                        r.request_object = Some(
                            json!({"spec": {"template": {"spec": {"containers": [{"name": app, "image": body["spec"]["template"]["spec"]["containers"][0]["image"]}]}}}}),
                        );
                        r.response_object = Some(body);
                        r
                    }
                    6 => plain(
                        "patch",
                        user,
                        "",
                        "configmaps",
                        Some(&ns),
                        Some(&format!("{app}-config")),
                        "Helm/3.15.2",
                        200,
                    ),
                    7 => plain(
                        "create",
                        user,
                        "",
                        "secrets",
                        Some(&ns),
                        None,
                        "Helm/3.15.2",
                        201,
                    ),
                    8 => plain(
                        "get",
                        user,
                        "",
                        "services",
                        Some(&ns),
                        Some(&app),
                        "Helm/3.15.2",
                        200,
                    ),
                    _ => plain(
                        "patch",
                        user,
                        "networking.k8s.io",
                        "ingresses",
                        Some(&ns),
                        Some(&app),
                        "Helm/3.15.2",
                        200,
                    ),
                }
            }
        }
    }
}

impl Gen {
    /// The requests of one episode of an attack scenario (`ep` counts the scenario's episodes).
    fn episode(&mut self, scenario: &str, ep: u64) -> Vec<Req> {
        let ip = ATTACKER_IPS[(ep % ATTACKER_IPS.len() as u64) as usize].to_string();
        let kubectl = "kubectl/v1.30.1 (linux/amd64) kubernetes/6911225";
        let victim_ns = format!("shop-{}", 8 * (ep % 5));
        let stolen_sa = self.sa(&victim_ns, "web");
        let pod_ip = self.pod_ip();
        let human = json!({"username": format!("user{}@example.com", 1 + ep % 20), "groups": ["developers", "system:authenticated"]});
        let from = |mut r: Req, ip: &str| {
            r.ip = Some(ip.to_string());
            r
        };
        let create = |mut r: Req, body: Value| {
            r.level = "Request";
            r.request_object = Some(body);
            r
        };
        match scenario {
            "exec" => {
                let pod = format!("payments-api-{}", ep);
                let mut exec = plain(
                    "create",
                    human.clone(),
                    "",
                    "pods",
                    Some("payments-0"),
                    Some(&pod),
                    kubectl,
                    101,
                );
                exec.uri.push_str("/exec?command=sh&command=-c&command=cat+%2Fvar%2Frun%2Fsecrets%2Fkubernetes.io%2Fserviceaccount%2Ftoken&container=api&stderr=true&stdout=true");
                exec.object_ref.as_mut().expect("set")["subresource"] = json!("exec");
                vec![
                    from(
                        plain(
                            "get",
                            human.clone(),
                            "",
                            "pods",
                            Some("payments-0"),
                            Some(&pod),
                            kubectl,
                            200,
                        ),
                        &ip,
                    ),
                    from(exec, &ip),
                ]
            }
            "secret-enumeration" => {
                let mut v = Vec::new();
                if ep % 2 == 1 {
                    v.push(from(
                        plain(
                            "list",
                            stolen_sa.clone(),
                            "",
                            "secrets",
                            None,
                            None,
                            kubectl,
                            200,
                        ),
                        &pod_ip,
                    ));
                }
                for i in 0..8 {
                    let ns = format!(
                        "{}-{}",
                        [
                            "shop", "payments", "search", "auth", "data", "ml", "web", "batch"
                        ][i % 8],
                        i * 5 % 40
                    );
                    v.push(from(
                        plain(
                            "list",
                            stolen_sa.clone(),
                            "",
                            "secrets",
                            Some(&ns),
                            None,
                            kubectl,
                            200,
                        ),
                        &pod_ip,
                    ));
                }
                v
            }
            "cluster-admin-binding" => {
                let name = format!("backup-operator-{ep}");
                let body = json!({"kind": "ClusterRoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1", "metadata": {"name": name},
                    "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "cluster-admin"},
                    "subjects": [{"kind": "ServiceAccount", "name": "default", "namespace": victim_ns}]});
                vec![from(
                    create(
                        plain(
                            "create",
                            human,
                            "rbac.authorization.k8s.io",
                            "clusterrolebindings",
                            None,
                            None,
                            kubectl,
                            201,
                        ),
                        body,
                    ),
                    &ip,
                )]
            }
            "privileged-pod" => {
                let body = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": format!("node-debugger-{ep}"), "namespace": victim_ns},
                    "spec": {"hostPID": true, "containers": [{"name": "debugger", "image": "docker.io/library/alpine:3.19", "command": ["nsenter", "-t", "1", "-m", "-u", "-i", "-n", "sh"],
                        "securityContext": {"privileged": true}, "volumeMounts": [{"name": "host", "mountPath": "/host"}]}],
                        "volumes": [{"name": "host", "hostPath": {"path": "/"}}]}});
                vec![from(
                    create(
                        plain(
                            "create",
                            human,
                            "",
                            "pods",
                            Some(&victim_ns),
                            None,
                            kubectl,
                            201,
                        ),
                        body,
                    ),
                    &ip,
                )]
            }
            "impersonation" => {
                let mut r = plain(
                    "list",
                    human,
                    "",
                    "secrets",
                    Some("kube-system"),
                    None,
                    kubectl,
                    200,
                );
                r.extra.push(("impersonatedUser", json!({"username": "kubernetes-admin", "groups": ["system:masters", "system:authenticated"]})));
                vec![from(r, &ip)]
            }
            "anonymous" => {
                let anon =
                    json!({"username": "system:anonymous", "groups": ["system:unauthenticated"]});
                vec![from(
                    plain(
                        "list",
                        anon,
                        "",
                        "pods",
                        Some("kube-system"),
                        None,
                        "curl/8.5.0",
                        200,
                    ),
                    &ip,
                )]
            }
            "token-other-namespace" => {
                let mut r = plain(
                    "create",
                    stolen_sa,
                    "",
                    "serviceaccounts",
                    Some("kube-system"),
                    Some("clusterrole-aggregation-controller"),
                    kubectl,
                    201,
                );
                r.uri.push_str("/token");
                r.object_ref.as_mut().expect("set")["subresource"] = json!("token");
                r.level = "Request";
                r.request_object = Some(
                    json!({"kind": "TokenRequest", "apiVersion": "authentication.k8s.io/v1", "metadata": {"creationTimestamp": null}, "spec": {"audiences": null, "expirationSeconds": 86400, "boundObjectRef": null}, "status": {"token": "", "expirationTimestamp": null}}),
                );
                vec![from(r, &pod_ip)]
            }
            "pod-in-kube-system" => {
                let ci = self.sa("ci", "deployer");
                let body = json!({"kind": "Pod", "apiVersion": "v1", "metadata": {"name": format!("kube-proxy-{ep}x7k2"), "namespace": "kube-system"},
                    "spec": {"containers": [{"name": "kube-proxy", "image": "docker.io/library/alpine:3.19", "command": ["sleep", "infinity"]}], "serviceAccountName": "kube-proxy"}});
                vec![from(
                    create(
                        plain(
                            "create",
                            ci,
                            "",
                            "pods",
                            Some("kube-system"),
                            None,
                            kubectl,
                            201,
                        ),
                        body,
                    ),
                    &pod_ip,
                )]
            }
            "attack-tool" => {
                let ua = ["kube-hunter", "peirates", "kubiscan"][(ep % 3) as usize];
                vec![
                    from(
                        plain(
                            "list",
                            stolen_sa.clone(),
                            "",
                            "pods",
                            Some(&victim_ns),
                            None,
                            ua,
                            200,
                        ),
                        &pod_ip,
                    ),
                    from(
                        plain(
                            "list",
                            stolen_sa,
                            "",
                            "secrets",
                            Some(&victim_ns),
                            None,
                            ua,
                            403,
                        ),
                        &pod_ip,
                    ),
                ]
            }
            "denied-secret-burst" => (0..25)
                .map(|i| {
                    let ns = format!(
                        "{}-{}",
                        ["shop", "payments", "search", "auth", "data"][i % 5],
                        i % 40
                    );
                    let name = [
                        "db-credentials",
                        "api-keys",
                        "tls",
                        "registry-pull",
                        "oauth",
                    ][i % 5];
                    from(
                        plain(
                            "get",
                            stolen_sa.clone(),
                            "",
                            "secrets",
                            Some(&ns),
                            Some(name),
                            kubectl,
                            403,
                        ),
                        &pod_ip,
                    )
                })
                .collect(),
            "system-identity-outside" => {
                if ep.is_multiple_of(2) {
                    let node = format!("ip-10-0-1-{}.ec2.internal", ep % 50);
                    let user = json!({"username": format!("system:node:{node}"), "groups": ["system:nodes", "system:authenticated"]});
                    vec![from(
                        plain("list", user, "", "pods", None, None, kubectl, 200),
                        &ip,
                    )]
                } else {
                    let user = self.sa("kube-system", "replicaset-controller");
                    vec![from(
                        plain(
                            "get",
                            user,
                            "",
                            "secrets",
                            Some("kube-system"),
                            Some("bootstrap-token-abcdef"),
                            kubectl,
                            200,
                        ),
                        &ip,
                    )]
                }
            }
            "system-identity-in-user-namespace" => {
                // Credentials taken from a node or a kube-system pod, used from inside the
                // cluster: a shell in an application pod, or a RoleBinding granting the attacker.
                if ep.is_multiple_of(2) {
                    let node = format!("ip-10-0-1-{}.ec2.internal", ep % 50);
                    let user = json!({"username": format!("system:node:{node}"), "groups": ["system:nodes", "system:authenticated"]});
                    let pod = format!("web-{ep}");
                    let mut exec = plain(
                        "create",
                        user,
                        "",
                        "pods",
                        Some(&victim_ns),
                        Some(&pod),
                        kubectl,
                        101,
                    );
                    exec.uri
                        .push_str("/exec?command=sh&container=web&stdin=true&stdout=true&tty=true");
                    exec.object_ref.as_mut().expect("set")["subresource"] = json!("exec");
                    vec![from(exec, &pod_ip)]
                } else {
                    let user = self.sa("kube-system", "kube-proxy");
                    let body = json!({"kind": "RoleBinding", "apiVersion": "rbac.authorization.k8s.io/v1",
                        "metadata": {"name": format!("debug-{ep}"), "namespace": victim_ns},
                        "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": "admin"},
                        "subjects": [{"kind": "User", "apiGroup": "rbac.authorization.k8s.io", "name": "mallory"}]});
                    vec![from(
                        create(
                            plain(
                                "create",
                                user,
                                "rbac.authorization.k8s.io",
                                "rolebindings",
                                Some(&victim_ns),
                                None,
                                kubectl,
                                201,
                            ),
                            body,
                        ),
                        &pod_ip,
                    )]
                }
            }
            _ => {
                // ioc-address: valid credentials used from a Tor exit node.
                vec![from(
                    plain(
                        "list",
                        human,
                        "",
                        "pods",
                        Some(&victim_ns),
                        None,
                        kubectl,
                        200,
                    ),
                    TOR_EXIT_IP,
                )]
            }
        }
    }
}

fn main() -> io::Result<()> {
    let cfg = parse_args();
    let total_weight = cfg.weights.iter().map(|w| w.1).sum::<u64>().max(1);
    let events = cfg.events;
    let mut g = Gen {
        rng: Rng(cfg.seed),
        total_weight,
        cfg,
        seq: 0,
        requests: 0,
        attack_seq: 0,
        ci_ns: String::new(),
        now: 1_714_557_600_000_000,
    };
    let total_attacks = g.cfg.attacks * SCENARIOS.len() as u64;
    let mut attacks_done = 0;
    let mut truth = match &g.cfg.truth {
        Some(path) => Some(BufWriter::new(std::fs::File::create(path)?)),
        None => None,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut written = 0;
    while written < events {
        g.now += 1 + g.rng.below(2_000) as i64;
        let r = g.next_request();
        g.requests += 1;
        let received = timestamp(g.now);
        if written + 1 < events && g.rng.pct(g.cfg.request_received_pct) {
            g.write_event(&mut out, &r, "RequestReceived", &received, None)?;
            written += 1;
        }
        g.now += 200 + g.rng.below(20_000) as i64;
        let stage = if r.watch {
            "ResponseStarted"
        } else {
            "ResponseComplete"
        };
        g.write_event(&mut out, &r, stage, &received, None)?;
        written += 1;
        // Attack episodes, spread evenly over the run, scenarios interleaved.
        while g.cfg.attacks > 0 && attacks_done < total_attacks {
            let at = (2 * attacks_done + 1) * events / (2 * total_attacks);
            if written < at {
                break;
            }
            let scenario = SCENARIOS[(attacks_done % SCENARIOS.len() as u64) as usize];
            for r in g.episode(scenario, attacks_done / SCENARIOS.len() as u64) {
                g.now += 100_000 + g.rng.below(1_000_000) as i64;
                let ts = timestamp(g.now);
                let id = format!("{:08x}-a77a-4000-8000-{:012x}", g.cfg.seed, g.attack_seq);
                g.attack_seq += 1;
                g.write_event(&mut out, &r, "ResponseComplete", &ts, Some(&id))?;
                if let Some(t) = truth.as_mut() {
                    writeln!(t, "{id}\t{scenario}")?;
                }
                written += 1;
            }
            attacks_done += 1;
        }
    }
    if let Some(t) = truth.as_mut() {
        t.flush()?;
    }
    out.flush()
}
