//! Load generator for `kubevigil webhook` over loopback HTTPS (keep-alive connections, open
//! loop at fixed rates). Used by bench/webhook.sh.
//!
//! ```text
//! loadgen certs DIR                     # write tls.crt, tls.key, ca.crt for "localhost"
//! loadgen bench ADDR CA_FILE [SECONDS]  # 1,000 and 5,000 rps, then a ramp; prints a table
//! loadgen serve CONFIG CERT KEY ADDR    # the webhook server alone (same code as `kubevigil webhook`)
//! loadgen micro CONFIG                  # in-process cost of decode + policies + encode, one thread
//! ```
//!
//! Requests are Pod CREATE AdmissionReviews for namespace `shop` (restricted Pod Security,
//! image policy active): nine in ten are compliant (allowed), one in ten violates (denied).
//! Each connection sends its share of requests at their scheduled times; latency is measured
//! from sending the request to having read the whole response.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use kubevigil_webhook::client;
use serde_json::json;

const CONNECTIONS: usize = 64;

fn review(i: usize) -> Vec<u8> {
    let mut pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": format!("web-{i}"), "namespace": "shop", "labels": {"app": "web"}},
        "spec": {
            "securityContext": {"runAsNonRoot": true, "runAsUser": 101, "seccompProfile": {"type": "RuntimeDefault"}},
            "containers": [{
                "name": "web",
                "image": "registry.example.com/shop/web:1.4.2@sha256:6af79ae5de407283dcea8b00d5c37ace95441fd58a8b1d2aa1ed93f5511bb18c",
                "ports": [{"containerPort": 8080}],
                "resources": {"requests": {"cpu": "100m", "memory": "64Mi"}, "limits": {"cpu": "500m", "memory": "128Mi"}},
                "securityContext": {"allowPrivilegeEscalation": false, "readOnlyRootFilesystem": true, "capabilities": {"drop": ["ALL"]}},
                "volumeMounts": [{"name": "cache", "mountPath": "/var/cache/nginx"}]
            }],
            "volumes": [{"name": "cache", "emptyDir": {}}]
        }
    });
    if i % 10 == 9 {
        pod["spec"]["hostNetwork"] = json!(true);
        pod["spec"]["containers"][0]["image"] = json!("nginx:latest");
        pod["spec"]["containers"][0]["securityContext"] = json!({"privileged": true});
    }
    serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": format!("00000000-0000-0000-0000-{i:012}"),
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "requestKind": {"group": "", "version": "v1", "kind": "Pod"},
            "requestResource": {"group": "", "version": "v1", "resource": "pods"},
            "name": format!("web-{i}"), "namespace": "shop", "operation": "CREATE",
            "userInfo": {"username": "system:serviceaccount:kube-system:replicaset-controller", "groups": ["system:serviceaccounts", "system:authenticated"]},
            "object": pod, "oldObject": null, "dryRun": false,
            "options": {"apiVersion": "meta.k8s.io/v1", "kind": "CreateOptions"}
        }
    }))
    .unwrap()
}

struct RunResult {
    /// Server CPU time per request (µs), when its pid is known.
    cpu_us: Option<f64>,
    target: f64,
    achieved: f64,
    latencies_us: Vec<u64>,
    errors: usize,
    denied: usize,
}

impl RunResult {
    fn pct(&self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        let i = ((self.latencies_us.len() as f64 * p).ceil() as usize)
            .clamp(1, self.latencies_us.len())
            - 1;
        self.latencies_us[i] as f64 / 1000.0
    }
}

/// utime + stime of a process, in seconds (Linux `/proc/PID/stat`, 100 ticks per second).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &stat[stat.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: f64 = f.get(11)?.parse::<f64>().ok()? + f.get(12)?.parse::<f64>().ok()?;
    Some(ticks / 100.0)
}

fn server_pid() -> Option<u32> {
    std::env::var("SERVER_PID").ok()?.parse().ok()
}

async fn run(
    addr: SocketAddr,
    ca: Arc<String>,
    bodies: Arc<Vec<Vec<u8>>>,
    rate: f64,
    secs: f64,
) -> RunResult {
    let total = (rate * secs) as usize;
    let cpu_before = server_pid().and_then(cpu_seconds);
    let mut clients = Vec::new();
    for _ in 0..CONNECTIONS {
        clients.push(
            client::connect(addr, &ca, "localhost")
                .await
                .expect("connect"),
        );
    }
    let start = Instant::now() + Duration::from_millis(50);
    let mut tasks = Vec::new();
    for (k, mut c) in clients.into_iter().enumerate() {
        let bodies = bodies.clone();
        tasks.push(tokio::spawn(async move {
            let (mut lat, mut errors, mut denied) = (Vec::new(), 0usize, 0usize);
            let mut i = k;
            while i < total {
                let at = start + Duration::from_secs_f64(i as f64 / rate);
                tokio::time::sleep_until(at.into()).await;
                let sent = Instant::now();
                match c
                    .request("POST", "/validate", bodies[i % bodies.len()].clone())
                    .await
                {
                    Ok((200, body)) => {
                        lat.push(sent.elapsed().as_micros() as u64);
                        const DENIED: &[u8] = b"\"allowed\":false";
                        if body.windows(DENIED.len()).any(|w| w == DENIED) {
                            denied += 1;
                        }
                    }
                    _ => errors += 1,
                }
                i += CONNECTIONS;
            }
            (lat, errors, denied)
        }));
    }
    let mut r = RunResult {
        cpu_us: None,
        target: rate,
        achieved: 0.0,
        latencies_us: Vec::new(),
        errors: 0,
        denied: 0,
    };
    for t in tasks {
        let (lat, e, d) = t.await.unwrap();
        r.latencies_us.extend(lat);
        r.errors += e;
        r.denied += d;
    }
    let elapsed = start.elapsed().as_secs_f64();
    if let (Some(b), Some(a)) = (cpu_before, server_pid().and_then(cpu_seconds)) {
        r.cpu_us = Some((a - b) * 1e6 / r.latencies_us.len().max(1) as f64);
    }
    r.achieved = r.latencies_us.len() as f64 / elapsed;
    r.latencies_us.sort_unstable();
    r
}

fn row(r: &RunResult, label: &str) {
    println!(
        "| {label:<6} | {:>9.0} | {:>10.0} | {:>7.3} | {:>7.3} | {:>7.3} | {:>7.3} | {:>6} | {:>6} | {:>14} |",
        r.target,
        r.achieved,
        r.pct(0.50),
        r.pct(0.95),
        r.pct(0.99),
        r.pct(1.0),
        r.errors,
        r.denied,
        r.cpu_us.map_or("-".to_string(), |c| format!("{c:.0}"))
    );
}

async fn bench(addr: SocketAddr, ca: String, secs: f64) {
    let ca = Arc::new(ca);
    let bodies = Arc::new((0..100).map(review).collect::<Vec<_>>());
    println!(
        "request body: {} bytes (Pod CREATE AdmissionReview), {CONNECTIONS} keep-alive TLS connections, {secs} s per rate",
        bodies[0].len()
    );
    println!(
        "| run    | target/s  | achieved/s | p50 ms  | p95 ms  | p99 ms  | max ms  | errors | denied | server CPU µs/req |"
    );
    println!(
        "|--------|-----------|------------|---------|---------|---------|---------|--------|--------|----------------|"
    );
    // Warm-up (connections, allocator, branch predictors); not reported.
    let _ = run(addr, ca.clone(), bodies.clone(), 1000.0, 1.0).await;
    for rate in [1000.0, 5000.0] {
        let r = run(addr, ca.clone(), bodies.clone(), rate, secs).await;
        row(&r, "fixed");
    }
    // Ramp ×1.5 while the server keeps up (≥ 98% of the target, no errors).
    let (mut best_slo, mut best_rate) = (None, None);
    let mut rate = 7500.0;
    while rate <= 60000.0 {
        let r = run(addr, ca.clone(), bodies.clone(), rate, secs).await;
        row(&r, "ramp");
        if r.errors > 0 || r.achieved < 0.98 * r.target {
            break;
        }
        best_rate = Some(r.achieved);
        if r.pct(0.99) <= 2.0 && best_slo.is_none_or(|b| b < rate) {
            best_slo = Some(rate);
        }
        rate *= 1.5;
    }
    let show = |v: Option<f64>| v.map_or("below 7500".to_string(), |v| format!("{v:.0}"));
    println!(
        "max sustained rate (>= 98% of target, no errors): {} requests/s",
        show(best_rate)
    );
    println!(
        "max rate with p99 <= 2 ms in the ramp: {} requests/s",
        show(best_slo)
    );
}

fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("certs") if args.len() == 2 => {
            let dir = std::path::Path::new(&args[1]);
            std::fs::create_dir_all(dir).unwrap();
            let tls = kubevigil_webhook::manifests::generate_tls(vec!["localhost".into()]).unwrap();
            std::fs::write(dir.join("tls.crt"), tls.cert_pem).unwrap();
            std::fs::write(dir.join("tls.key"), tls.key_pem).unwrap();
            std::fs::write(dir.join("ca.crt"), tls.ca_pem).unwrap();
        }
        Some("bench") if args.len() >= 3 => {
            let addr: SocketAddr = args[1].parse().expect("ADDR");
            let ca = std::fs::read_to_string(&args[2]).expect("CA_FILE");
            let secs: f64 = args
                .get(3)
                .map(|s| s.parse().expect("SECONDS"))
                .unwrap_or(10.0);
            let threads = std::env::var("LOADGEN_THREADS")
                .ok()
                .and_then(|s| s.parse().ok())
                .unwrap_or(1);
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(threads)
                .enable_all()
                .build()
                .unwrap()
                .block_on(bench(addr, ca, secs));
        }
        Some("micro") if args.len() == 2 => {
            let cfg_path = std::path::PathBuf::from(&args[1]);
            let dir = cfg_path.parent().unwrap().to_path_buf();
            let text = std::fs::read_to_string(&cfg_path).unwrap();
            let read =
                move |n: &str| std::fs::read_to_string(dir.join(n)).map_err(|e| e.to_string());
            let webhook = kubevigil_webhook::config::from_text(&text, &read).unwrap();
            let bodies: Vec<Vec<u8>> = (0..100).map(review).collect();
            let n = 200_000;
            let t = Instant::now();
            let mut denied = 0;
            for i in 0..n {
                let req =
                    kubevigil_webhook::review::parse_review(&bodies[i % bodies.len()]).unwrap();
                let out = webhook.validate(&req, None, Instant::now());
                denied += usize::from(!out.response.allowed);
                let bytes = serde_json::to_vec(&kubevigil_webhook::review::ReviewResponse::new(
                    out.response,
                ))
                .unwrap();
                std::hint::black_box(bytes);
            }
            let us = t.elapsed().as_secs_f64() * 1e6 / n as f64;
            println!(
                "in-process: {us:.1} µs per review (decode + policies + encode, one thread) = {:.0} reviews/s per core; {denied} of {n} denied",
                1e6 / us
            );
        }
        Some("serve") if args.len() == 5 => {
            let cfg_path = std::path::PathBuf::from(&args[1]);
            let dir = cfg_path.parent().unwrap().to_path_buf();
            let text = std::fs::read_to_string(&cfg_path).unwrap();
            let read =
                move |n: &str| std::fs::read_to_string(dir.join(n)).map_err(|e| e.to_string());
            let webhook = kubevigil_webhook::config::from_text(&text, &read).unwrap();
            let opts = kubevigil_webhook::server::ServerOptions::new(
                args[4].parse().expect("ADDR"),
                args[2].clone().into(),
                args[3].clone().into(),
            );
            tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .unwrap()
                .block_on(async move {
                    let server = kubevigil_webhook::server::Server::bind(Arc::new(webhook), opts)
                        .await
                        .unwrap();
                    server
                        .run(async {
                            let _ = tokio::signal::ctrl_c().await;
                        })
                        .await
                        .unwrap();
                });
        }
        _ => {
            eprintln!(
                "usage: loadgen certs DIR | loadgen bench ADDR CA_FILE [SECONDS] | loadgen serve CONFIG CERT KEY ADDR"
            );
            std::process::exit(2);
        }
    }
}
