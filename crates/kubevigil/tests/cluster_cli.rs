//! `--cluster` against the test API server: the same findings (same fingerprints) as the same
//! objects scanned from files, cluster locations, warnings for forbidden kinds, exit code 2
//! when a list fails, Pod Security with the live namespace labels, NetworkPolicy analysis.

use std::path::Path;
use std::process::Command;

use kubevigil_model::{LoadOptions, load_paths};
use kubevigil_testapi::{Fault, FaultOn, TestApi};
use serde_json::{Value, json};

fn repo() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .unwrap()
        .parent()
        .unwrap()
}

/// Puts the objects of `dir` on the server; returns them as stored (uid, resourceVersion,
/// creationTimestamp added), which is what the cluster serves.
fn serve(api: &TestApi, dir: &Path) -> Vec<Value> {
    let loaded = load_paths(&[dir], &LoadOptions::default());
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded
        .inventory
        .objects
        .into_iter()
        .map(|o| api.create(o.value).unwrap())
        .collect()
}

struct Env {
    api: TestApi,
    dir: tempfile::TempDir,
}

impl Env {
    fn new(api: TestApi) -> Env {
        let dir = tempfile::tempdir().unwrap();
        api.write_kubeconfig(&dir.path().join("config"), "shop-prod")
            .unwrap();
        Env { api, dir }
    }

    /// Runs kubevigil with KUBECONFIG pointing at the server: (exit code, stdout, stderr).
    fn run(&self, args: &[&str]) -> (i32, String, String) {
        let out = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
            .args(args)
            .env("KUBECONFIG", self.dir.path().join("config"))
            .env("NO_COLOR", "1")
            .current_dir(self.dir.path())
            .output()
            .unwrap();
        (
            out.status.code().unwrap(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }
}

fn fingerprints(report: &Value) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| {
            (
                f["fingerprint"].as_str().unwrap().to_string(),
                f["checkId"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    v.sort();
    v
}

#[test]
fn scan_cluster_finds_what_a_scan_of_the_same_objects_from_files_finds() {
    let env = Env::new(TestApi::start().unwrap());
    let stored = serve(&env.api, &repo().join("examples/insecure"));
    // The same objects as files: what `kubectl get -o yaml` of the cluster would give.
    let files = env.dir.path().join("objects.json");
    let text: String = stored.iter().map(|o| format!("{o}\n")).collect();
    std::fs::write(&files, text).unwrap();

    let (code, stdout, stderr) = env.run(&["scan", "-o", "json", files.to_str().unwrap()]);
    assert_eq!(code, 1, "{stderr}");
    let from_files: Value = serde_json::from_str(&stdout).unwrap();
    let (code, stdout, stderr) = env.run(&["scan", "--cluster", "-o", "json"]);
    assert_eq!(code, 1, "{stderr}");
    let from_cluster: Value = serde_json::from_str(&stdout).unwrap();

    // Secrets are read as metadata only: the findings about their values exist only for files.
    let secret_checks = ["secret-literal-values"];
    let expected: Vec<(String, String)> = fingerprints(&from_files)
        .into_iter()
        .filter(|(_, id)| !secret_checks.contains(&id.as_str()))
        .collect();
    assert!(expected.len() > 20, "{expected:?}");
    assert_eq!(fingerprints(&from_cluster), expected);
    assert!(
        fingerprints(&from_files)
            .iter()
            .any(|(_, id)| id == "secret-literal-values"),
        "the fixture has a Secret with a literal value"
    );

    // Cluster findings are located by context, namespace, kind and name.
    let f = &from_cluster["findings"][0];
    let uri = f["location"]["uri"].as_str().unwrap();
    let o = &f["object"];
    assert_eq!(
        uri,
        format!(
            "cluster:shop-prod/{}/{}/{}",
            o["namespace"].as_str().unwrap_or(""),
            o["kind"].as_str().unwrap(),
            o["name"].as_str().unwrap()
        )
    );
    assert!(f["location"].get("line").is_none());

    // A baseline written from the files silences the cluster scan.
    let baseline = env.dir.path().join("baseline.json");
    let (code, _, stderr) = env.run(&[
        "scan",
        "--baseline-write",
        baseline.to_str().unwrap(),
        files.to_str().unwrap(),
    ]);
    assert_eq!(code, 1, "{stderr}");
    let (code, stdout, stderr) = env.run(&[
        "scan",
        "--cluster",
        "--baseline",
        baseline.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");

    // The table heads each object with its cluster locator.
    let (_, table, _) = env.run(&["scan", "--cluster", "-n", "shop"]);
    assert!(
        table.contains("cluster:shop-prod/shop/Deployment/"),
        "{table}"
    );
    // No Secret value is read, so none can be shown.
    for value in stored
        .iter()
        .filter(|o| o["kind"] == "Secret")
        .flat_map(|o| o["data"].as_object().into_iter().flatten())
    {
        let value = value.1.as_str().unwrap();
        assert!(!table.contains(value));
        assert!(!from_cluster.to_string().contains(value));
    }
}

#[test]
fn a_forbidden_kind_warns_and_a_failed_list_exits_2() {
    let env = Env::new(TestApi::start().unwrap());
    serve(&env.api, &repo().join("examples/insecure"));
    env.api.add_fault(Fault::forbidden("", "secrets"));
    let (code, _, stderr) = env.run(&["scan", "--cluster", "-o", "json"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        stderr.contains("cluster shop-prod: warning: cannot list Secret: GET https://127.0.0.1:"),
        "{stderr}"
    );
    assert!(stderr.contains("incomplete checks: "), "{stderr}");
    assert!(stderr.contains("secret-literal-values"), "{stderr}");

    env.api.clear_faults();
    env.api
        .add_fault(Fault::status("apps", "deployments", 503).on(FaultOn::Every));
    let (code, stdout, stderr) = env.run(&["scan", "--cluster", "-o", "json"]);
    assert_eq!(code, 2, "{stderr}");
    assert!(
        stderr.contains(
            "cannot list Deployment.apps: cluster context \"shop-prod\": GET https://127.0.0.1:"
        ),
        "{stderr}"
    );
    assert!(
        stderr.contains("/apis/apps/v1/deployments?limit=500: 503"),
        "{stderr}"
    );
    // The report still covers what could be read, and says what could not.
    let report: Value = serde_json::from_str(&stdout).unwrap();
    assert!(!report["findings"].as_array().unwrap().is_empty());
    assert!(
        report["diagnostics"]
            .to_string()
            .contains("the result is incomplete")
    );
}

#[test]
fn an_unreachable_cluster_is_an_error_naming_context_and_path() {
    let env = Env::new(TestApi::start().unwrap());
    let config = env.dir.path().join("config");
    let text = std::fs::read_to_string(&config).unwrap();
    // A port nothing listens on any more.
    let url = env.api.url();
    let closed = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap().port()
    };
    std::fs::write(
        &config,
        text.replace(&url, &format!("https://127.0.0.1:{closed}")),
    )
    .unwrap();
    let (code, _, stderr) = env.run(&["scan", "--cluster"]);
    assert_eq!(code, 2);
    assert!(
        stderr.contains(&format!(
            "error: cluster context \"shop-prod\": GET https://127.0.0.1:{closed}/apis: cannot reach the API server"
        )),
        "{stderr}"
    );
}

#[test]
fn pss_cluster_uses_the_live_namespace_labels() {
    let env = Env::new(TestApi::start().unwrap());
    serve(&env.api, &repo().join("examples/insecure"));
    let (code, stdout, stderr) = env.run(&["pss", "--cluster", "-o", "json"]);
    let from_cluster: Value = serde_json::from_str(&stdout).unwrap();
    let (code_files, stdout, _) = env.run(&[
        "pss",
        "-o",
        "json",
        repo().join("examples/insecure").to_str().unwrap(),
    ]);
    let from_files: Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(code, code_files, "{stderr}");
    assert_eq!(
        from_cluster["results"].as_array().unwrap().len(),
        from_files["results"].as_array().unwrap().len()
    );

    // Relabel the namespace on the server: enforce restricted.
    let mut ns = env
        .api
        .apply(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop", "labels": {"pod-security.kubernetes.io/enforce": "restricted"}}}))
        .unwrap();
    ns["metadata"]["labels"]["kubernetes.io/metadata.name"] = json!("shop");
    env.api.apply(ns).unwrap();
    let (code, stdout, stderr) = env.run(&["pss", "--cluster"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    assert!(stdout.contains("restricted"), "{stdout}");
    let (code, stdout, stderr) =
        env.run(&["pss", "--cluster", "--what-if", "restricted", "-o", "json"]);
    assert_eq!(code, 1, "{stdout}{stderr}");
    let (code_files, files_stdout, _) = env.run(&[
        "pss",
        "--what-if",
        "restricted",
        "-o",
        "json",
        repo().join("examples/insecure").to_str().unwrap(),
    ]);
    assert_eq!(code_files, 1);
    let a: Value = serde_json::from_str(&stdout).unwrap();
    let b: Value = serde_json::from_str(&files_stdout).unwrap();
    assert_eq!(a["rejected"], b["rejected"], "{a}\n{b}");
}

#[test]
fn netpol_reads_the_cluster() {
    let env = Env::new(TestApi::start().unwrap());
    serve(&env.api, &repo().join("examples/hardened"));
    let hardened = repo().join("examples/hardened");
    let (code, from_cluster, stderr) =
        env.run(&["netpol", "connectivity", "--cluster", "-o", "json"]);
    assert_eq!(code, 0, "{stderr}");
    let (_, from_files, _) = env.run(&[
        "netpol",
        "connectivity",
        "-o",
        "json",
        hardened.to_str().unwrap(),
    ]);
    // The notes follow the input's order: files in file order, a cluster in the API's.
    let unordered = |text: &str| {
        let mut v: Value = serde_json::from_str(text).unwrap();
        let peers = v["unmatchedPeers"].as_array_mut().unwrap();
        peers.sort_by_key(|p| p.to_string());
        v
    };
    assert_eq!(unordered(&from_cluster), unordered(&from_files));
    let (code, stdout, stderr) = env.run(&[
        "netpol",
        "can-reach",
        "--cluster",
        "--from",
        "shop/api",
        "--to",
        "shop/db",
        "--port",
        "5432/TCP",
    ]);
    assert_eq!(code, 0, "{stdout}{stderr}");
    // What applying the insecure manifests would change in the cluster.
    let insecure = repo().join("examples/insecure");
    let (code, diff_cluster, stderr) = env.run(&[
        "netpol",
        "diff",
        "--cluster",
        "-o",
        "json",
        insecure.to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    let (_, diff_files, _) = env.run(&[
        "netpol",
        "diff",
        "-o",
        "json",
        hardened.to_str().unwrap(),
        insecure.to_str().unwrap(),
    ]);
    assert_eq!(diff_cluster, diff_files);
}

/// Installed as `kubectl-vigil`, the binary is a kubectl plugin reading the current context:
/// `kubectl vigil scan` through the real kubectl when there is one, and directly otherwise.
#[test]
fn kubectl_vigil_scans_the_current_context() {
    let env = Env::new(TestApi::start().unwrap());
    serve(&env.api, &repo().join("examples/insecure"));
    let bin = env.dir.path().join("bin");
    std::fs::create_dir(&bin).unwrap();
    std::os::unix::fs::symlink(env!("CARGO_BIN_EXE_kubevigil"), bin.join("kubectl-vigil")).unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let kubectl = ["/usr/bin/kubectl", "/usr/local/bin/kubectl"]
        .into_iter()
        .find(|p| Path::new(p).is_file());
    if kubectl.is_none() && std::env::var_os("CI").is_some() {
        panic!("kubectl is missing (CI is set: install Debian's kubernetes-client)");
    }
    let mut runs = vec![Command::new(bin.join("kubectl-vigil"))];
    if let Some(k) = kubectl {
        let mut c = Command::new(k);
        c.arg("vigil");
        runs.push(c);
    }
    for mut c in runs {
        let out = c
            .args(["scan", "-n", "shop", "-o", "json"])
            .env("PATH", &path)
            .env("KUBECONFIG", env.dir.path().join("config"))
            .env("HOME", env.dir.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{c:?}: {stderr}");
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        // Findings come grouped by object, the namespace `shop` itself first: the first one
        // about an object in the namespace.
        let f = report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .find(|f| f["object"]["namespace"].is_string())
            .unwrap();
        let uri = f["location"]["uri"].as_str().unwrap();
        assert!(uri.starts_with("cluster:shop-prod/shop/"), "{uri}");
    }
}

/// `rbac ... --cluster` reads the whole cluster (every namespace's bindings) and answers as it
/// does for the same objects from files: who-can, can, permissions and secrets.
#[test]
fn rbac_reads_the_cluster() {
    let env = Env::new(TestApi::start().unwrap());
    let dir = repo().join("examples/rbac");
    serve(&env.api, &dir);
    let dir = dir.to_str().unwrap();
    let log = repo().join("examples/audit/rbac-usage.log");
    let log = log.to_str().unwrap();
    let queries: [&[&str]; 5] = [
        &[
            "rbac", "who-can", "get", "secrets", "-n", "shop", "-o", "json",
        ],
        &[
            "rbac",
            "can",
            "sa:shop/api",
            "list",
            "secrets",
            "-n",
            "shop",
            "-o",
            "json",
        ],
        &["rbac", "permissions", "sa:shop/api", "-o", "json"],
        &["rbac", "secrets", "-o", "json"],
        &["rbac", "unused", "--audit", log, "-o", "json"],
    ];
    for query in queries {
        let from_files = env.run(&[query, &[dir]].concat());
        let from_cluster = env.run(&[query, &["--cluster"]].concat());
        assert_eq!(
            from_cluster.0, from_files.0,
            "{query:?}: {}",
            from_cluster.2
        );
        assert!(from_cluster.0 <= 1, "{query:?}: {}", from_cluster.2);
        let parse = |s: &str| serde_json::from_str::<Value>(s).unwrap();
        assert_eq!(parse(&from_cluster.1), parse(&from_files.1), "{query:?}");
        if query[1] == "who-can" {
            let subjects = &parse(&from_cluster.1)["subjects"];
            assert!(
                subjects.as_array().is_some_and(|s| !s.is_empty()),
                "{subjects}"
            );
        }
    }
    // Paths and --cluster are one or the other.
    let (code, _, err) = env.run(&["rbac", "secrets", "--cluster", dir]);
    assert_eq!(code, 2, "{err}");
}
