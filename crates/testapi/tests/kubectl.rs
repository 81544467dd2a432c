//! The test API server is honest when a real client, kubectl, can use it: discovery, a paginated
//! list across namespaces, and a watch that receives an update made while it runs. Under CI
//! (`CI` set) a missing kubectl fails these tests instead of skipping them; `.ci/run` installs
//! Debian's `kubernetes-client`.

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use kubevigil_testapi::{Fault, TestApi};
use serde_json::{Value, json};

fn kubectl() -> Option<PathBuf> {
    let found = std::env::var_os("PATH")
        .into_iter()
        .flat_map(|p| std::env::split_paths(&p).collect::<Vec<_>>())
        .map(|d| d.join("kubectl"))
        .chain([PathBuf::from("/usr/bin/kubectl")])
        .find(|p| p.is_file());
    if found.is_none() {
        if std::env::var_os("CI").is_some() {
            panic!("kubectl is missing (CI is set: install Debian's kubernetes-client)");
        }
        eprintln!("skipped: kubectl is missing (install Debian's kubernetes-client)");
    }
    found
}

fn pod(namespace: &str, name: &str, image: &str) -> Value {
    json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": {"name": name, "namespace": namespace, "labels": {"app": name}},
        "spec": {"containers": [{"name": "main", "image": image}]},
    })
}

struct Kubectl {
    bin: PathBuf,
    dir: tempfile::TempDir,
}

impl Kubectl {
    fn new(api: &TestApi) -> Option<Kubectl> {
        let bin = kubectl()?;
        let dir = tempfile::tempdir().unwrap();
        api.write_kubeconfig(&dir.path().join("config"), "test-ctx")
            .unwrap();
        Some(Kubectl { bin, dir })
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut c = Command::new(&self.bin);
        c.arg("--kubeconfig")
            .arg(self.dir.path().join("config"))
            .arg("--cache-dir")
            .arg(self.dir.path().join("cache"))
            .args(args)
            .env("HOME", self.dir.path())
            .env_remove("KUBECONFIG");
        c
    }

    fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = self.command(args).output().unwrap();
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

#[test]
fn kubectl_lists_pods_in_every_namespace() {
    let api = TestApi::start().unwrap();
    for (ns, name) in [("shop", "web"), ("shop", "db"), ("kube-system", "coredns")] {
        api.create(pod(ns, name, "nginx:1.27")).unwrap();
    }
    let Some(k) = Kubectl::new(&api) else { return };
    let (ok, stdout, stderr) = k.run(&["get", "pods", "-A", "-o", "json"]);
    assert!(ok, "kubectl failed: {stderr}");
    let list: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(list["kind"], "List");
    let names: Vec<String> = list["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| {
            assert_eq!(p["kind"], "Pod", "{p}");
            format!(
                "{}/{}",
                p["metadata"]["namespace"].as_str().unwrap(),
                p["metadata"]["name"].as_str().unwrap()
            )
        })
        .collect();
    assert_eq!(names, ["kube-system/coredns", "shop/db", "shop/web"]);
    let requests = api.requests();
    assert!(
        requests
            .iter()
            .any(|r| r.starts_with("GET /api/v1/pods?limit=500")),
        "{requests:#?}"
    );
}

#[test]
fn kubectl_pages_through_a_list_with_chunk_size() {
    let api = TestApi::start().unwrap();
    api.create_all((0..7).map(|i| pod("shop", &format!("p{i}"), "nginx:1.27")))
        .unwrap();
    let Some(k) = Kubectl::new(&api) else { return };
    let (ok, stdout, stderr) =
        k.run(&["get", "pods", "-n", "shop", "--chunk-size=3", "-o", "name"]);
    assert!(ok, "kubectl failed: {stderr}");
    let names: Vec<&str> = stdout.lines().collect();
    assert_eq!(
        names,
        (0..7).map(|i| format!("pod/p{i}")).collect::<Vec<_>>()
    );
    let pages = api
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /api/v1/namespaces/shop/pods?"))
        .collect::<Vec<_>>();
    assert_eq!(pages.len(), 3, "{pages:#?}");
    assert!(pages[1].contains("continue="), "{pages:#?}");
}

#[test]
fn kubectl_sees_errors_as_status() {
    let api = TestApi::start().unwrap();
    api.add_fault(Fault::forbidden("", "secrets"));
    api.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}))
        .unwrap();
    let Some(k) = Kubectl::new(&api) else { return };
    let (ok, _, stderr) = k.run(&["get", "secrets", "-n", "shop"]);
    assert!(!ok);
    assert!(
        stderr.contains("secrets is forbidden: User \"system:serviceaccount:test:reader\" cannot list resource \"secrets\""),
        "{stderr}"
    );
    let (ok, _, stderr) = k.run(&["get", "pods", "-n", "shop", "missing"]);
    assert!(!ok);
    assert!(stderr.contains("pods \"missing\" not found"), "{stderr}");
}

#[test]
fn kubectl_watch_receives_an_update() {
    let api = TestApi::start().unwrap();
    api.create(pod("shop", "web", "nginx:1.27")).unwrap();
    let Some(k) = Kubectl::new(&api) else { return };
    let mut child = k
        .command(&["get", "pods", "-n", "shop", "-w", "-o", "name"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let next = |what: &str| {
        let line = rx.recv_timeout(Duration::from_secs(20));
        line.unwrap_or_else(|_| panic!("kubectl printed no line for {what}"))
    };
    assert_eq!(next("the initial list"), "pod/web");
    // Wait until the watch request is in, then change the world.
    let start = Instant::now();
    while !api
        .requests()
        .iter()
        .any(|r| r.contains("/api/v1/namespaces/shop/pods?") && r.contains("watch=true"))
    {
        assert!(
            start.elapsed() < Duration::from_secs(20),
            "kubectl never watched"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
    api.create(pod("shop", "api", "nginx:1.27")).unwrap();
    assert_eq!(next("a created pod"), "pod/api");
    let mut changed = pod("shop", "web", "nginx:1.28");
    changed["metadata"]["labels"]["tier"] = json!("front");
    api.apply(changed).unwrap();
    assert_eq!(next("an updated pod"), "pod/web");
    child.kill().unwrap();
    child.wait().unwrap();
    let watch = api
        .requests()
        .into_iter()
        .find(|r| r.contains("watch=true"))
        .unwrap();
    assert!(watch.contains("resourceVersion=2"), "{watch}");
}

/// Server-side apply and delete as kubectl sends them: `kubectl apply --server-side` creates,
/// then changes, a custom resource (a PolicyReport); `kubectl delete` removes it. Without a
/// field manager, or with another patch type, the server refuses as kube-apiserver does.
#[test]
fn kubectl_applies_server_side_and_deletes() {
    let mut resources = kubevigil_testapi::default_resources();
    resources.push(kubevigil_testapi::Resource::new(
        "wgpolicyk8s.io",
        "v1alpha2",
        "policyreports",
        "PolicyReport",
        true,
    ));
    let api = TestApi::builder().resources(resources).start().unwrap();
    api.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}))
        .unwrap();
    let Some(k) = Kubectl::new(&api) else { return };
    let report = |fail: u32| {
        format!(
            "apiVersion: wgpolicyk8s.io/v1alpha2\nkind: PolicyReport\nmetadata:\n  name: kubevigil\n  namespace: shop\nsummary: {{fail: {fail}}}\nresults: []\n"
        )
    };
    let file = k.dir.path().join("report.yaml");
    for fail in [3, 1] {
        std::fs::write(&file, report(fail)).unwrap();
        let (ok, out, err) = k.run(&[
            "apply",
            "--server-side",
            "--field-manager=kubevigil",
            "--validate=false",
            "-f",
            file.to_str().unwrap(),
        ]);
        assert!(ok, "{out}\n{err}");
        let (ok, out, err) = k.run(&[
            "get",
            "policyreports",
            "-n",
            "shop",
            "kubevigil",
            "-o",
            "json",
        ]);
        assert!(ok, "{err}");
        let got: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(got["summary"]["fail"], fail, "{got}");
    }
    let (ok, _, err) = k.run(&["delete", "policyreport", "-n", "shop", "kubevigil"]);
    assert!(ok, "{err}");
    let (ok, _, err) = k.run(&["get", "policyreports", "-n", "shop", "kubevigil"]);
    assert!(!ok && err.contains("NotFound"), "{err}");
    assert!(
        api.requests().iter().any(|r| r.starts_with(
            "PATCH /apis/wgpolicyk8s.io/v1alpha2/namespaces/shop/policyreports/kubevigil?"
        ) && r.contains("fieldManager=kubevigil")),
        "{:?}",
        api.requests()
    );
}

/// `kubectl logs` reads the log subresource: the container's lines, `--timestamps`,
/// `--since-time`, and `-f` receiving a line appended while it follows.
#[test]
fn kubectl_reads_and_follows_pod_logs() {
    let api = TestApi::start().unwrap();
    let Some(k) = Kubectl::new(&api) else { return };
    api.create(pod("shop", "web", "nginx:1.27")).unwrap();
    api.append_log("shop", "web", "main", "2026-11-30T10:00:00.5Z", "starting");
    api.append_log("shop", "web", "main", "2026-11-30T10:00:02.25Z", "ready");
    let (ok, out, err) = k.run(&["logs", "-n", "shop", "web"]);
    assert!(ok, "{err}");
    assert_eq!(out, "starting\nready\n");
    let (ok, out, err) = k.run(&[
        "logs",
        "-n",
        "shop",
        "web",
        "--timestamps",
        "--since-time=2026-11-30T10:00:01Z",
    ]);
    assert!(ok, "{err}");
    assert_eq!(out, "2026-11-30T10:00:02.25Z ready\n");
    let (ok, _, err) = k.run(&["logs", "-n", "shop", "web", "-c", "sidecar"]);
    assert!(
        !ok && err.contains("container sidecar is not valid for pod web"),
        "{err}"
    );
    let mut child = k
        .command(&["logs", "-n", "shop", "web", "-f"])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let _ = tx.send(line);
        }
    });
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "starting"
    );
    assert_eq!(rx.recv_timeout(Duration::from_secs(10)).unwrap(), "ready");
    api.append_log(
        "shop",
        "web",
        "main",
        "2026-11-30T10:00:03Z",
        "GET /healthz 200",
    );
    assert_eq!(
        rx.recv_timeout(Duration::from_secs(10)).unwrap(),
        "GET /healthz 200"
    );
    api.cut_log_streams();
    let deadline = Instant::now() + Duration::from_secs(10);
    while child.try_wait().unwrap().is_none() {
        assert!(Instant::now() < deadline, "kubectl logs -f did not end");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// `kubectl top pod` reads the PodMetrics served as metrics-server serves them.
#[test]
fn kubectl_top_reads_pod_metrics() {
    let api = TestApi::start().unwrap();
    let Some(k) = Kubectl::new(&api) else { return };
    api.create(pod("shop", "etl", "etl:1")).unwrap();
    api.create(
        json!({"apiVersion": "metrics.k8s.io/v1beta1", "kind": "PodMetrics",
        "metadata": {"name": "etl", "namespace": "shop"},
        "timestamp": "2026-11-30T10:00:00Z", "window": "15s",
        "containers": [{"name": "main", "usage": {"cpu": "1900m", "memory": "300Mi"}}]}),
    )
    .unwrap();
    let (ok, out, err) = k.run(&["top", "pod", "-n", "shop", "--no-headers"]);
    assert!(ok, "{err}");
    let cols: Vec<&str> = out.split_whitespace().collect();
    assert_eq!(cols, ["etl", "1900m", "300Mi"], "{out}");
}
