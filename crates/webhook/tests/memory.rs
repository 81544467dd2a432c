//! The webhook's memory bounds, measured as the process's peak RSS (Linux `/proc`).
//!
//! * Serving one worst-case review (tens of thousands of containers, an update carrying two
//!   such pods, tens of thousands of volumes, huge string lists) never takes more than
//!   [`budget::cost`] says, which is what the server reserves from its byte budget.
//! * A server under concurrent large reviews stays within its byte budget: the peak RSS
//!   grows by at most `max_in_flight_bytes` plus a fixed margin, whatever the concurrency.
//!
//! Measured with mimalloc, the kubevigil binary's allocator. Each case runs in a fresh child process (this test binary, re-run with `KV_MEMORY_CASE`), so
//! memory freed by one case and kept by the allocator cannot hide the next one's peak.

#![cfg(target_os = "linux")]

// The allocator of the kubevigil binary: what it keeps and how it grows large blocks shape
// the peak (a growing array is copied, both copies resident for a moment).
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use kubevigil_webhook::budget::{self, Work};
use kubevigil_webhook::review::{ReviewResponse, parse_envelope, parse_review};

const CASE_VAR: &str = "KV_MEMORY_CASE";

fn kib(field: &str) -> usize {
    let status = std::fs::read_to_string("/proc/self/status").unwrap();
    let line = status
        .lines()
        .find(|l| l.starts_with(field))
        .unwrap_or_else(|| panic!("{field} not in /proc/self/status"));
    line.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// Resets VmHWM to the current RSS (proc(5), `clear_refs` value 5) and returns the RSS in bytes.
fn reset_peak() -> usize {
    std::fs::write("/proc/self/clear_refs", "5").expect("writing /proc/self/clear_refs");
    kib("VmRSS:") * 1024
}

fn peak() -> usize {
    kib("VmHWM:") * 1024
}

/// Review bodies are written as text: building them as JSON trees first would leave freed
/// memory in the allocator for the measured decoding to reuse unseen.
fn review(op: &str, object: &str, old: &str) -> Vec<u8> {
    format!(
        r#"{{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{{"uid":"m","operation":"{op}","namespace":"shop","name":"big","kind":{{"group":"","version":"v1","kind":"Pod"}},"resource":{{"group":"","version":"v1","resource":"pods"}},"userInfo":{{"username":"alice"}},"object":{object},"oldObject":{old}}}}}"#
    )
    .into_bytes()
}

fn pod(spec: &str) -> String {
    format!(
        r#"{{"apiVersion":"v1","kind":"Pod","metadata":{{"name":"big","namespace":"shop"}},"spec":{spec}}}"#
    )
}

fn list(n: usize, item: impl Fn(usize) -> String) -> String {
    let mut out = String::from("[");
    for i in 0..n {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&item(i));
    }
    out.push(']');
    out
}

/// A pod of `n` small containers: what the issue's 3 MB review holds (36,000 containers).
fn many_containers(n: usize) -> String {
    pod(&format!(
        r#"{{"containers":{}}}"#,
        list(n, |i| format!(
            r#"{{"name":"c{i:05}","image":"registry.example.com/app:1.0","securityContext":{{"runAsNonRoot":true}}}}"#
        ))
    ))
}

const CASES: [&str; 5] = [
    "36,000 containers, /validate",
    "36,000 containers, /mutate",
    "update, 18,000 containers in object and oldObject",
    "90,000 volumes",
    "700,000 one-character args",
];

/// Worst-case review `i` (about 3 MB each), the work its endpoint does, and whether it is
/// the `/mutate` endpoint.
fn case(i: usize) -> (Vec<u8>, Work, bool) {
    let validate = Work {
        pod_security: true,
        checks: true,
        patch: false,
    };
    let mutate = Work {
        patch: true,
        ..Work::default()
    };
    match i {
        0 => (
            review("CREATE", &many_containers(36_000), "null"),
            validate,
            false,
        ),
        1 => (
            review("CREATE", &many_containers(36_000), "null"),
            mutate,
            true,
        ),
        2 => (
            review("UPDATE", &many_containers(18_000), &many_containers(17_999)),
            validate,
            false,
        ),
        3 => {
            let volumes = list(90_000, |i| format!(r#"{{"name":"v{i}","emptyDir":{{}}}}"#));
            let spec =
                format!(r#"{{"containers":[{{"name":"a","image":"x:1"}}],"volumes":{volumes}}}"#);
            (review("CREATE", &pod(&spec), "null"), validate, false)
        }
        _ => {
            let args = list(700_000, |i| format!(r#""{}""#, i % 10));
            let spec = format!(r#"{{"containers":[{{"name":"a","image":"x:1","args":{args}}}]}}"#);
            (review("CREATE", &pod(&spec), "null"), validate, false)
        }
    }
}

fn webhook() -> kubevigil_webhook::Webhook {
    let cfg = r#"
podSecurity: {}
imagePolicy: {allowedRegistries: [registry.example.com]}
checks: {mode: warn, enforce: [image-tag-latest]}
mutation: {}
"#;
    let mut w = kubevigil_webhook::config::from_text(cfg, &|_| Err("none".into())).unwrap();
    w.namespaces = kubevigil_webhook::namespaces::NamespaceCache::from_labels(
        kubevigil_webhook::config::namespaces_from_text(
            "ns",
            "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {kubevigil.io/harden: 'true', pod-security.kubernetes.io/enforce: restricted, pod-security.kubernetes.io/warn: baseline}}\n",
        )
        .unwrap(),
    );
    w
}

/// Child: serve case `i` as the server does and print `peak=<bytes> cost=<bytes>`.
fn run_case(i: usize) {
    let w = webhook();
    let (body, work, mutate) = case(i);
    let base = reset_peak();
    let envelope = parse_envelope(&body).unwrap();
    let cost = budget::cost(body.len(), &envelope.object, &envelope.old_object, work);
    drop(envelope);
    let req = parse_review(&body).unwrap();
    let out = if mutate {
        w.mutate(&req)
    } else {
        w.validate(&req, None, Instant::now())
    };
    let wire = serde_json::to_vec(&ReviewResponse::new(out.response)).unwrap();
    let used = peak().saturating_sub(base);
    drop((req, wire));
    println!("peak={used} cost={cost} body={}", body.len());
}

/// Child: a server with a 256 MiB budget under 8 concurrent 2 MB reviews (20,000 containers,
/// each reserving about 190 MB, so one at a time fits); prints `peak=<bytes> budget=<bytes> ok=<n> shed=<n> other=<n>`.
fn run_server() {
    const BUDGET: usize = 256 << 20;
    // As many workers as requests: without the budget all eight would be decoded at once.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(8)
        .enable_all()
        .build()
        .unwrap();
    rt.block_on(async {
        let dir = tempfile::tempdir().unwrap();
        let tls = kubevigil_webhook::manifests::generate_tls(vec!["localhost".into()]).unwrap();
        let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
        std::fs::write(&cert, &tls.cert_pem).unwrap();
        std::fs::write(&key, &tls.key_pem).unwrap();
        let mut opts = kubevigil_webhook::server::ServerOptions::new(
            "127.0.0.1:0".parse().unwrap(),
            cert,
            key,
        );
        opts.max_in_flight_bytes = BUDGET;
        opts.deadline = std::time::Duration::from_secs(60);
        let server = kubevigil_webhook::server::Server::bind(Arc::new(webhook()), opts)
            .await
            .unwrap();
        let addr = server.local_addr().unwrap();
        tokio::spawn(server.run(std::future::pending()));
        let body = review("CREATE", &many_containers(20_000), "null");
        let mut clients = Vec::new();
        for _ in 0..8 {
            clients.push(
                kubevigil_webhook::client::connect(addr, &tls.ca_pem, "localhost")
                    .await
                    .unwrap(),
            );
        }
        let base = reset_peak();
        let tasks: Vec<_> = clients
            .into_iter()
            .map(|mut c| {
                let body = body.clone();
                tokio::spawn(async move {
                    let (status, body) = c.request("POST", "/validate", body).await.unwrap();
                    // Evaluated: not refused as too large for the budget.
                    let evaluated =
                        !String::from_utf8_lossy(&body).contains("RequestEntityTooLarge");
                    (status, evaluated)
                })
            })
            .collect();
        let (mut ok, mut shed, mut other) = (0, 0, 0);
        for t in tasks {
            match t.await.unwrap() {
                (200, true) => ok += 1,
                (503, _) => shed += 1,
                _ => other += 1,
            }
        }
        let used = peak().saturating_sub(base);
        println!("peak={used} budget={BUDGET} ok={ok} shed={shed} other={other}");
    });
}

fn field(out: &str, name: &str) -> usize {
    let v = out
        .split_whitespace()
        .find_map(|w| w.strip_prefix(&format!("{name}=")))
        .unwrap_or_else(|| panic!("no {name}= in {out:?}"));
    v.parse().unwrap()
}

fn run_child(case: &str) -> String {
    let out = Command::new(std::env::current_exe().unwrap())
        .args(["child", "--exact", "--nocapture", "--test-threads=1"])
        .env(CASE_VAR, case)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(
        out.status.success(),
        "case {case}: {stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // libtest may print its `test child ... ` prefix on the same line.
    stdout
        .lines()
        .find_map(|l| l.find("peak=").map(|i| l[i..].to_string()))
        .unwrap_or_else(|| panic!("case {case} printed no figures: {stdout}"))
}

/// The child entry point (does nothing unless run by the tests below).
#[test]
fn child() {
    match std::env::var(CASE_VAR).as_deref() {
        Ok("server") => run_server(),
        Ok(i) => run_case(i.parse().unwrap()),
        Err(_) => {}
    }
}

#[test]
fn one_review_takes_at_most_its_reserved_cost() {
    let names = CASES;
    let figures: Vec<(usize, usize, usize)> = (0..names.len())
        .map(|i| {
            let line = run_child(&i.to_string());
            let f = (
                field(&line, "peak"),
                field(&line, "cost"),
                field(&line, "body"),
            );
            eprintln!(
                "{}: body {:.1} MB, peak RSS growth {:.1} MB, reserved {:.1} MB",
                names[i],
                f.2 as f64 / 1e6,
                f.0 as f64 / 1e6,
                f.1 as f64 / 1e6
            );
            f
        })
        .collect();
    for (name, (used, cost, body)) in names.iter().zip(figures) {
        assert!(body > 2_500_000, "{name}: a worst-case body ({body} bytes)");
        assert!(
            used <= cost,
            "{name}: peak RSS grew by {used} bytes, more than the {cost} reserved"
        );
        // The reservation is an honest estimate, not a refusal of everything.
        assert!(
            cost <= 8 * used.max(1 << 20),
            "{name}: reserved {cost} bytes for a peak of {used}"
        );
    }
}

#[test]
fn a_server_stays_within_its_byte_budget() {
    let line = run_child("server");
    let (used, budget) = (field(&line, "peak"), field(&line, "budget"));
    let (ok, shed, other) = (
        field(&line, "ok"),
        field(&line, "shed"),
        field(&line, "other"),
    );
    eprintln!(
        "8 concurrent 2 MB reviews, budget {} MiB: peak RSS growth {:.1} MB; {ok} served, {shed} shed",
        budget >> 20,
        used as f64 / 1e6
    );
    assert_eq!(other, 0, "only evaluated (200) and shed (503): {line}");
    assert!(ok >= 1, "at least one review is evaluated: {line}");
    // Margin: connection and TLS buffers, runtime, response encoding.
    const MARGIN: usize = 32 << 20;
    assert!(
        used <= budget + MARGIN,
        "peak RSS grew by {used} bytes with a budget of {budget}"
    );
}

#[test]
fn the_generated_memory_limit_covers_the_budget() {
    use kubevigil_webhook::manifests::{self, MEMORY_HEADROOM, ManifestOptions};
    let objects = manifests::objects(
        &ManifestOptions {
            namespace: "kubevigil".into(),
            image: "kubevigil:test".into(),
            cert_manager: true,
        },
        None,
    );
    let deployment = objects
        .iter()
        .find(|o| o["kind"] == "Deployment")
        .expect("a Deployment");
    let container = &deployment["spec"]["template"]["spec"]["containers"][0];
    let limit = container["resources"]["limits"]["memory"].as_str().unwrap();
    let limit: usize = limit.strip_suffix("Mi").unwrap().parse::<usize>().unwrap() << 20;
    let args: Vec<&str> = container["args"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a.as_str().unwrap())
        .collect();
    let budget: usize = args
        .iter()
        .position(|a| *a == "--max-in-flight-bytes")
        .map(|i| args[i + 1].parse().unwrap())
        .expect("the Deployment sets --max-in-flight-bytes");
    assert_eq!(
        budget,
        kubevigil_webhook::server::DEFAULT_MAX_IN_FLIGHT_BYTES
    );
    assert!(
        limit >= budget + MEMORY_HEADROOM,
        "limit {limit} < budget {budget} + headroom {MEMORY_HEADROOM}"
    );
}
