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
];

struct Config {
    events: u64,
    seed: u64,
    fail_pct: u64,
    request_received_pct: u64,
    users: u64,
    namespaces: u64,
    nodes: u64,
    weights: Vec<(usize, u64)>,
}

fn usage() -> ! {
    eprintln!(
        "usage: gen_audit [--events N] [--seed S] [--fail-pct P] [--request-received-pct P]\n\
         \x20                [--users N] [--namespaces N] [--nodes N] [--mix kind=weight,...]\n\
         kinds: {}",
        KINDS.join(", ")
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
            "--mix" => {
                c.weights = val
                    .split(',')
                    .map(|kv| {
                        let (k, w) = kv.split_once('=').unwrap_or_else(|| usage());
                        let idx = KINDS
                            .iter()
                            .position(|x| *x == k)
                            .unwrap_or_else(|| usage());
                        (idx, w.parse().unwrap_or_else(|_| usage()))
                    })
                    .collect()
            }
            _ => usage(),
        }
        i += 2;
    }
    c
}

struct Gen {
    rng: Rng,
    cfg: Config,
    total_weight: u64,
    seq: u64,
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
                }
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
    ) -> io::Result<()> {
        self.seq += 1;
        let mut ev = serde_json::Map::new();
        ev.insert("kind".into(), json!("Event"));
        ev.insert("apiVersion".into(), json!("audit.k8s.io/v1"));
        ev.insert("level".into(), json!(r.level));
        ev.insert(
            "auditID".into(),
            json!(format!(
                "{:08x}-0000-4000-8000-{:012x}",
                self.cfg.seed,
                self.seq / 2
            )),
        );
        ev.insert("stage".into(), json!(stage));
        ev.insert("requestURI".into(), json!(r.uri));
        ev.insert("verb".into(), json!(r.verb));
        ev.insert("user".into(), r.user.clone());
        let ip = format!(
            "10.{}.{}.{}",
            self.rng.below(4),
            self.rng.below(256),
            1 + self.rng.below(254)
        );
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

fn main() -> io::Result<()> {
    let cfg = parse_args();
    let total_weight = cfg.weights.iter().map(|w| w.1).sum::<u64>().max(1);
    let events = cfg.events;
    let mut g = Gen {
        rng: Rng(cfg.seed),
        total_weight,
        cfg,
        seq: 0,
        now: 1_714_557_600_000_000,
    };
    let stdout = io::stdout();
    let mut out = BufWriter::with_capacity(1 << 20, stdout.lock());
    let mut written = 0;
    while written < events {
        g.now += 1 + g.rng.below(2_000) as i64;
        let r = g.next_request();
        let received = timestamp(g.now);
        if written + 1 < events && g.rng.pct(g.cfg.request_received_pct) {
            g.write_event(&mut out, &r, "RequestReceived", &received)?;
            written += 1;
        }
        g.now += 200 + g.rng.below(20_000) as i64;
        let stage = if r.watch {
            "ResponseStarted"
        } else {
            "ResponseComplete"
        };
        g.write_event(&mut out, &r, stage, &received)?;
        written += 1;
    }
    out.flush()
}
