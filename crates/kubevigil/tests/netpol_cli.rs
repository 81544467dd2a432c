//! End-to-end tests of `kubevigil netpol` through the real binary, on the shipped examples.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

fn run(args: &[&str], stdin: Option<&str>) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut input = child.stdin.take().unwrap();
    input.write_all(stdin.unwrap_or("").as_bytes()).unwrap();
    drop(input);
    child.wait_with_output().unwrap()
}

fn stdout(o: &Output) -> String {
    String::from_utf8(o.stdout.clone()).unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8(o.stderr.clone()).unwrap()
}

#[test]
fn hardened_connectivity_json_follows_the_contract() {
    let hardened = repo("examples/hardened");
    let o = run(
        &[
            "netpol",
            "connectivity",
            "-o",
            "json",
            hardened.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let mut doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    // kube-dns and the ingress controller are not in the manifests: listed as unmatched peers.
    let unmatched = doc
        .as_object_mut()
        .unwrap()
        .remove("unmatchedPeers")
        .unwrap();
    assert_eq!(unmatched.as_array().unwrap().len(), 3, "{unmatched}");
    assert_eq!(
        unmatched[1],
        serde_json::json!({"policy": {"namespace": "shop", "name": "web"}, "direction": "ingress",
            "rule": 0, "peer": 0, "matches": "noNamespace",
            "namespaceSelector": "kubernetes.io/metadata.name=ingress-nginx",
            "podSelector": "app.kubernetes.io/name=ingress-nginx"})
    );
    assert_eq!(
        doc,
        serde_json::json!({"connections": [
            {"src": {"namespace": "shop", "name": "api", "kind": "Deployment"},
             "dst": {"namespace": "shop", "name": "db", "kind": "StatefulSet"},
             "conn": {"ports": [{"protocol": "TCP", "port": 5432, "endPort": 5432}]}},
            {"src": {"namespace": "shop", "name": "api", "kind": "Deployment"},
             "dst": {"cidrs": ["192.0.2.0/24"]},
             "conn": {"ports": [{"protocol": "TCP", "port": 443, "endPort": 443}]}},
            {"src": {"namespace": "shop", "name": "web", "kind": "Deployment"},
             "dst": {"namespace": "shop", "name": "api", "kind": "Deployment"},
             "conn": {"ports": [{"protocol": "TCP", "port": 8080, "endPort": 8080}]}}
        ]})
    );
}

#[test]
fn diff_lists_what_the_hardening_removes() {
    let (old, new) = (repo("examples/insecure"), repo("examples/hardened"));
    let o = run(
        &[
            "netpol",
            "diff",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    for line in [
        "~ shop/web -> shop/api : All => TCP 8080\n",
        "~ shop/api -> shop/db : All => TCP 5432\n",
        "- shop/web -> shop/db : All\n",
        "- shop/db -> 0.0.0.0/0 : All\n",
        "- 0.0.0.0/0 -> shop/db : All\n",
        "- shop/node-debugger -> shop/db : All\n",
    ] {
        assert!(out.contains(line), "missing {line:?} in\n{out}");
    }
    assert!(
        !out.lines().any(|l| l.starts_with('+')),
        "hardening adds nothing:\n{out}"
    );
    // The insecure variant's host-network pods are flagged, not silently analysed.
    assert!(stderr(&o).contains("hostNetwork"), "{}", stderr(&o));
    let o = run(
        &[
            "netpol",
            "diff",
            "-o",
            "json",
            old.to_str().unwrap(),
            new.to_str().unwrap(),
        ],
        None,
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert!(doc["added"].as_array().unwrap().is_empty());
    assert!(
        doc["removed"].as_array().unwrap().len() > 10
            && doc["changed"].as_array().unwrap().len() == 3
    );
}

#[test]
fn can_reach_answers_with_exit_code_and_explanation() {
    let hardened = repo("examples/hardened");
    let h = hardened.to_str().unwrap();
    let o = run(
        &[
            "netpol",
            "can-reach",
            "--from",
            "shop/web",
            "--to",
            "shop/api",
            "--port",
            "http",
            h,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.starts_with("shop/web -> shop/api on TCP 8080: yes\n"),
        "{out}"
    );
    assert!(
        out.contains("allowed by shop/web egress[0]")
            && out.contains("allowed by shop/api ingress[0]"),
        "{out}"
    );
    let o = run(
        &[
            "netpol",
            "can-reach",
            "--from",
            "shop/web",
            "--to",
            "shop/db",
            "--port",
            "5432/TCP",
            h,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    let out = stdout(&o);
    assert!(
        out.contains(": no\n")
            && out.contains(
                "isolated by NetworkPolicy shop/default-deny, shop/web; no rule allows it: denied"
            ),
        "{out}"
    );
    let o = run(
        &[
            "netpol",
            "can-reach",
            "--from",
            "shop/web",
            "--to",
            "shop/api",
            "--port",
            "9090",
            h,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(1));
    assert!(
        stdout(&o).contains("(shop/api ingress[0] matches this peer but only opens TCP 8080)"),
        "{}",
        stdout(&o)
    );
    let o = run(
        &[
            "netpol",
            "can-reach",
            "--from",
            "shop/api",
            "--to",
            "192.0.2.10",
            "--port",
            "443",
            "-o",
            "json",
            h,
        ],
        None,
    );
    let doc: serde_json::Value = serde_json::from_str(&stdout(&o)).unwrap();
    assert_eq!(doc["allowed"], true);
    assert_eq!(doc["egress"]["allowedBy"][0]["name"], "api");
    assert_eq!(doc["ingress"]["inCluster"], false);
    let o = run(
        &[
            "netpol",
            "can-reach",
            "--from",
            "shop/nope",
            "--to",
            "shop/api",
            "--port",
            "1",
            h,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(2));
    assert!(
        stderr(&o).contains("no workload shop/nope"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn stdin_focus_formats_and_located_errors() {
    let input = "apiVersion: v1\nkind: Pod\nmetadata: {name: a, namespace: ns1, labels: {app: a}}\nspec: {containers: [{name: c, image: i}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: b, namespace: ns1}\nspec: {containers: [{name: c, image: i}]}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: bad, namespace: ns1}\nspec:\n  podSelector: {}\n  ingress:\n  - ports: [{port: 0}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: a, namespace: ns1}\nspec:\n  podSelector: {matchLabels: {app: a}}\n  ingress:\n  - from: [{podSelector: {}}]\n    ports: [{port: 80}]\n";
    let o = run(
        &[
            "netpol",
            "connectivity",
            "--focus",
            "ns1/a",
            "-o",
            "csv",
            "-",
        ],
        Some(input),
    );
    // The invalid policy is reported with file:line:col and skipped; the rest is analysed.
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("<stdin>:17:14: error: NetworkPolicy ns1/bad: spec.ingress[0].ports[0].port: must be between 1 and 65535"), "{}", stderr(&o));
    assert_eq!(
        stdout(&o),
        "src,dst,conn\nns1/a,ns1/b,All\nns1/a,0.0.0.0/0,All\nns1/a,::/0,All\nns1/b,ns1/a,TCP 80\n"
    );
    let o = run(&["netpol", "connectivity", "-o", "md", "-"], Some(input));
    assert!(
        stdout(&o).starts_with(
            "| Source | Destination | Allowed |\n|---|---|---|\n| ns1/a | ns1/b | All |\n"
        ),
        "{}",
        stdout(&o)
    );
    let o = run(&["netpol", "connectivity", "-"], Some(input));
    assert!(stdout(&o).starts_with("SOURCE"), "{}", stdout(&o));
    let o = run(
        &["netpol", "connectivity", "--focus", "ns1/zz", "-"],
        Some(input),
    );
    assert_eq!(o.status.code(), Some(2));
}

#[test]
fn no_secret_value_in_any_output() {
    let insecure = repo("examples/insecure");
    let hardened = repo("examples/hardened");
    let (i, h) = (insecure.to_str().unwrap(), hardened.to_str().unwrap());
    let mut outputs = Vec::new();
    for format in ["table", "json", "csv", "md", "dot"] {
        outputs.push(run(&["netpol", "connectivity", "-o", format, i], None));
    }
    outputs.push(run(&["netpol", "diff", i, h], None));
    outputs.push(run(
        &[
            "netpol",
            "can-reach",
            "--from",
            "shop/api",
            "--to",
            "shop/db",
            "--port",
            "5432",
            i,
        ],
        None,
    ));
    for o in &outputs {
        let all = format!("{}{}", stdout(o), stderr(o));
        for secret in [
            "demo-only-password-1",
            "Sup3rS3cret-demo",
            "wJalrXUtnFEMI",
            "AKIAIOSFODNN7EXAMPLE",
        ] {
            assert!(!all.contains(secret), "secret leaked");
        }
    }
}

/// A cluster dump as CSV: the note on peers missing from the input goes to stderr, and a pod
/// name focuses on the node standing for its pods.
#[test]
fn cluster_dump_csv_notes_on_stderr_and_focus_by_pod_name() {
    let dump = repo("examples/cluster-dump");
    let d = dump.to_str().unwrap();
    let o = run(&["netpol", "connectivity", "-o", "csv", d], None);
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    assert!(
        stderr(&o).contains("note: NetworkPolicy shop/web ingress[0].from[0] (namespaceSelector kubernetes.io/metadata.name=ingress-nginx) matches no namespace in the input"),
        "{}",
        stderr(&o)
    );
    assert!(
        stdout(&o).contains("shop/api[Deployment],\"10.2.0.0/15, 10.4.0.0/14, 10.8.0.0/13, 10.16.0.0/12, 10.32.0.0/11, 10.64.0.0/10, 10.128.0.0/9\",TCP 443\n"),
        "{}",
        stdout(&o)
    );
    let o = run(
        &[
            "netpol",
            "connectivity",
            "--focus",
            "shop/web-7b9c4d5f8-hq4wl",
            d,
        ],
        None,
    );
    assert_eq!(o.status.code(), Some(0), "{}", stderr(&o));
    let out = stdout(&o);
    assert!(
        out.contains("shop/web[Deployment] (pod-template-hash=7b9c4d5f8)")
            && !out.contains("pod-template-hash=5d8f7c9b6")
            && !out.contains("shop/db ingress[1]"),
        "{out}"
    );
}
