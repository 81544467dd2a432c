//! The monitor's watch benchmark (bench/monitor-watch.sh): the test API server (in this process)
//! holding OBJECTS objects, a real `kubevigil monitor` following it, then RATE changes per second
//! for SECONDS seconds, half creations of Pods that break a check (`hostPID`), half deletions
//! of the Pods created a second earlier. Prints the time to the first complete evaluation, the
//! monitor's resident memory, and the latency from each change on the API server to its
//! finding in the history (`first seen` of the new finding, `resolved` of a deleted Pod's),
//! read from the store after the run.
//!
//! Usage: watch_churn KUBEVIGIL OBJECTS RATE SECONDS

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicIsize, Ordering};
use std::time::{Duration, Instant};

use kubevigil_store::{HistoryQuery, HistoryStore, SqliteStore, Transition};
use kubevigil_testapi::TestApi;
use kubevigil_testapi::generate::{other, pod};
use serde_json::json;

/// Counts the bytes allocated, to weigh the objects as kubevigil holds them.
struct Counting;

static ALLOCATED: AtomicIsize = AtomicIsize::new(0);

unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATED.fetch_add(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        ALLOCATED.fetch_sub(layout.size() as isize, Ordering::Relaxed);
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATED.fetch_add(
            new_size as isize - layout.size() as isize,
            Ordering::Relaxed,
        );
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

/// Heap bytes of `values` made into objects as the monitor holds them: without managedFields
/// and the last-applied annotation (what ingest drops).
fn objects_bytes(values: &[serde_json::Value]) -> isize {
    let before = ALLOCATED.load(Ordering::Relaxed);
    let held: Vec<kubevigil_model::Object> = values
        .iter()
        .filter_map(|v| {
            let mut v = v.clone();
            if let Some(meta) = v.get_mut("metadata").and_then(|m| m.as_object_mut()) {
                meta.remove("managedFields");
                if let Some(a) = meta.get_mut("annotations").and_then(|a| a.as_object_mut()) {
                    a.remove("kubectl.kubernetes.io/last-applied-configuration");
                }
            }
            kubevigil_model::Object::from_cluster(v, "bench")
        })
        .collect();
    let bytes = ALLOCATED.load(Ordering::Relaxed) - before;
    let checks = kubevigil_checks::evaluator_checks();
    let before = ALLOCATED.load(Ordering::Relaxed);
    let mut evaluator =
        kubevigil_checks::Evaluator::new(kubevigil_checks::Config::default(), &checks).reporting();
    let diff = evaluator.apply(held.into_iter().map(kubevigil_model::Change::Upsert));
    drop(diff);
    let evaluated = ALLOCATED.load(Ordering::Relaxed) - before;
    let findings = evaluator.findings().count();
    // As the monitor keeps them once recorded.
    evaluator.make_lean();
    let lean = ALLOCATED.load(Ordering::Relaxed) - before;
    // The evaluator's index alone: one without checks, given copies of the objects (whose
    // bytes are counted apart).
    let copies: Vec<kubevigil_model::Object> = evaluator.store().objects().cloned().collect();
    drop(evaluator);
    let before = ALLOCATED.load(Ordering::Relaxed);
    let mut index = kubevigil_checks::Evaluator::new(kubevigil_checks::Config::default(), &[]);
    drop(index.apply(copies.into_iter().map(kubevigil_model::Change::Upsert)));
    // The copies' buffer, freed here, held each object's inline part, which now lives in the
    // store's `Arc`: it is the object's, counted in `bytes`.
    let index_bytes = ALLOCATED.load(Ordering::Relaxed) - before;
    let n = values.len() as f64;
    println!(
        "in process, per object: the object {:.0} B; the evaluator's index {:.0} B; with every check, index and findings ({:.1} per object) {:.0} B whole, {:.0} B lean (as the monitor keeps them)",
        bytes as f64 / n,
        index_bytes as f64 / n,
        findings as f64 / n,
        evaluated as f64 / n,
        lean as f64 / n
    );
    bytes
}

fn now_ms() -> i64 {
    kubevigil_store::now_ms()
}

fn get(addr: &str, path: &str) -> String {
    let mut s = TcpStream::connect(addr).expect("metrics endpoint");
    write!(
        s,
        "GET {path} HTTP/1.1\r\nHost: {addr}\r\nConnection: close\r\n\r\n"
    )
    .unwrap();
    let mut out = String::new();
    s.read_to_string(&mut out).unwrap();
    out
}

/// VmRSS and VmHWM of `pid`, in KiB.
fn rss_kib(pid: u32) -> (u64, u64) {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let field = |name: &str| {
        status
            .lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    (field("VmRSS:"), field("VmHWM:"))
}

struct Monitor {
    child: Child,
    metrics: String,
}

/// Starts the monitor on `kubeconfig`; returns once its metrics address is known.
fn start(bin: &str, kubeconfig: &std::path::Path, state: &std::path::Path) -> Monitor {
    let mut child = Command::new(bin)
        .args(["monitor", "--kubeconfig"])
        .arg(kubeconfig)
        .arg("--state-dir")
        .arg(state)
        .args(["--listen", "127.0.0.1:0", "--resync-interval", "3600"])
        .env("KUBEVIGIL_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("kubevigil monitor");
    let mut stderr = BufReader::new(child.stderr.take().unwrap());
    let mut line = String::new();
    let metrics = loop {
        line.clear();
        assert!(stderr.read_line(&mut line).unwrap() > 0, "monitor exited");
        if let Some(rest) = line.split("http://").nth(1)
            && line.contains("metrics on")
        {
            break rest.split('/').next().unwrap().to_string();
        }
    };
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            eprintln!("monitor: {line}");
        }
    });
    Monitor { child, metrics }
}

/// Waits for the first complete evaluation; returns how long it took.
fn synced(m: &Monitor, since: Instant) -> Duration {
    loop {
        if get(&m.metrics, "/metrics").contains("kubevigil_evaluations_total{result=\"complete\"}")
        {
            return since.elapsed();
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

fn percentile(sorted: &[i64], p: f64) -> i64 {
    if sorted.is_empty() {
        return 0;
    }
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i]
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let usage = "usage: watch_churn KUBEVIGIL OBJECTS RATE SECONDS";
    let bin = args.get(1).expect(usage);
    let objects: usize = args.get(2).and_then(|a| a.parse().ok()).expect(usage);
    let rate: u64 = args.get(3).and_then(|a| a.parse().ok()).expect(usage);
    let seconds: u64 = args.get(4).and_then(|a| a.parse().ok()).expect(usage);
    let dir = tempfile::tempdir().unwrap();

    // The monitor's memory with (almost) nothing to watch, then with OBJECTS objects.
    let empty = TestApi::start().expect("test API server");
    empty
        .write_kubeconfig(&dir.path().join("empty"), "bench")
        .unwrap();
    let mut m = start(
        bin,
        &dir.path().join("empty"),
        &dir.path().join("state-empty"),
    );
    synced(&m, Instant::now());
    std::thread::sleep(Duration::from_secs(1));
    let (base_rss, _) = rss_kib(m.child.id());
    m.child.kill().unwrap();
    m.child.wait().unwrap();
    drop(empty);

    let api = TestApi::start().expect("test API server");
    let namespaces: Vec<String> = (0..50).map(|i| format!("team-{i:02}")).collect();
    for n in &namespaces {
        api.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": n}}))
            .unwrap();
    }
    let pods = objects / 2;
    let mut served = Vec::with_capacity(objects);
    for i in 0..pods {
        served.push(api.create(pod(&namespaces[i % 50], i)).unwrap());
    }
    for i in 0..objects - pods {
        served.push(api.create(other(&namespaces[i % 50], i)).unwrap());
    }
    let held_bytes = objects_bytes(&served);
    drop(served);
    let kubeconfig = dir.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "bench").unwrap();
    let state = dir.path().join("state");
    let started = Instant::now();
    let mut m = start(bin, &kubeconfig, &state);
    let sync = synced(&m, started);
    std::thread::sleep(Duration::from_secs(2));
    let (rss, hwm) = rss_kib(m.child.id());
    let watched = objects + namespaces.len();
    let per_object = rss.saturating_sub(base_rss) as f64 * 1024.0 / watched as f64;
    let object_itself = held_bytes as f64 / objects as f64;
    println!(
        "{watched} objects watched: first complete evaluation after {:.2} s; RSS {:.1} MiB (peak {:.1} MiB), {:.1} MiB with nothing to watch",
        sync.as_secs_f64(),
        rss as f64 / 1024.0,
        hwm as f64 / 1024.0,
        base_rss as f64 / 1024.0,
    );
    println!(
        "memory per watched object: {per_object:.0} B in all; the object itself (heap, as held) {object_itself:.0} B; beyond it {:.0} B",
        per_object - object_itself
    );

    // Churn: one change every 1/RATE s, creations and deletions alternating.
    let interval = Duration::from_secs_f64(1.0 / rate as f64);
    let lifetime = rate as usize; // changes between a Pod's creation and its deletion
    let mut created: HashMap<String, i64> = HashMap::new();
    let mut deleted: HashMap<String, i64> = HashMap::new();
    let total = (rate * seconds) as usize;
    let churn_start = Instant::now();
    let (mut next_create, mut next_delete) = (0usize, 0usize);
    for change in 0..total {
        let due = churn_start + interval * change as u32;
        if let Some(wait) = due.checked_duration_since(Instant::now()) {
            std::thread::sleep(wait);
        }
        if change % 2 == 0 || next_delete >= next_create || change < lifetime {
            let name = format!("churn-{next_create:06}");
            let ns = &namespaces[next_create % 50];
            let t = now_ms();
            api.create(json!({"apiVersion": "v1", "kind": "Pod",
                "metadata": {"name": name, "namespace": ns, "labels": {"app": "churn"}},
                "spec": {"hostPID": true, "containers": [{"name": "c", "image": "registry.example.com/tool:1.2"}]}}))
                .unwrap();
            created.insert(name, t);
            next_create += 1;
        } else {
            let name = format!("churn-{next_delete:06}");
            let ns = &namespaces[next_delete % 50];
            let t = now_ms();
            api.delete("v1", "Pod", Some(ns), &name).unwrap();
            deleted.insert(name, t);
            next_delete += 1;
        }
    }
    let churn_took = churn_start.elapsed().as_secs_f64();
    let achieved = total as f64 / churn_took;
    std::thread::sleep(Duration::from_secs(5));
    let (rss_after, hwm_after) = rss_kib(m.child.id());
    let metrics = get(&m.metrics, "/metrics");
    stop(&mut m.child);

    // From the history: when each churn Pod's hostPID finding appeared and was resolved.
    let store = SqliteStore::open_dir(&state).expect("the monitor's store");
    let mut appeared: HashMap<String, i64> = HashMap::new();
    let mut resolved: HashMap<String, i64> = HashMap::new();
    store
        .finding_history(&HistoryQuery::default(), &mut |e| {
            if e.finding.check_id == "pss-hostNamespaces"
                && e.finding.object.name.starts_with("churn-")
            {
                let map = match e.transition {
                    Transition::New | Transition::Reopened => &mut appeared,
                    Transition::Resolved => &mut resolved,
                };
                map.entry(e.finding.object.name.clone())
                    .or_insert(e.time_ms);
            }
            Ok(())
        })
        .unwrap();
    let report = |what: &str, changes: &HashMap<String, i64>, seen: &HashMap<String, i64>| {
        let mut named: Vec<(i64, &String)> = changes
            .iter()
            .filter_map(|(n, t)| seen.get(n).map(|s| (s - t, n)))
            .collect();
        named.sort_unstable();
        let slowest: Vec<_> = named.iter().rev().take(5).collect();
        println!("  slowest: {slowest:?}");
        let lat: Vec<i64> = named.iter().map(|(l, _)| *l).collect();
        let missing = changes.len() - lat.len();
        println!(
            "{what}: {} changes, {} in the history: latency p50 {} ms, p99 {} ms, max {} ms; missing {missing}",
            changes.len(),
            lat.len(),
            percentile(&lat, 0.5),
            percentile(&lat, 0.99),
            lat.last().copied().unwrap_or(0)
        );
    };
    println!(
        "churn: {total} changes in {churn_took:.1} s ({achieved:.0} changes/s; asked {rate}/s)"
    );
    report("creation -> finding first seen", &created, &appeared);
    report("deletion -> finding resolved", &deleted, &resolved);
    println!(
        "monitor after the churn: RSS {:.1} MiB (peak {:.1} MiB)",
        rss_after as f64 / 1024.0,
        hwm_after as f64 / 1024.0
    );
    for line in metrics.lines().filter(|l| {
        l.starts_with("kubevigil_evaluation_duration_seconds_sum")
            || (l.starts_with("kubevigil_evaluation_duration_seconds_bucket")
                && (l.contains("le=\"0.1\"") || l.contains("le=\"0.25\"")))
            || l.starts_with("kubevigil_evaluation_duration_seconds_count")
            || l.starts_with("kubevigil_watch_relists_total{")
            || l.starts_with("kubevigil_watch_failures_total{")
    }) {
        println!("  {line}");
    }
}

/// Stops the monitor (SIGKILL: what it recorded is committed).
fn stop(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}
