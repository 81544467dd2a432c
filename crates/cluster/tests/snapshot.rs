//! Snapshots against the test API server: pagination, discovery of optional groups, Secrets as
//! metadata only, what is dropped on ingest, scopes, and every way the server can misbehave.

use std::path::PathBuf;

use kubevigil_cluster::{Connection, Error, Problem, Scope, SnapshotOptions, Target, snapshot};
use kubevigil_model::{DiagLevel, Origin};
use kubevigil_testapi::{Fault, FaultOn, Resource, TestApi};
use serde_json::{Value, json};

const SECRET_VALUE: &str = "aHVudGVyMi1zdXBlci1zZWNyZXQ=";

fn pod(ns: &str, name: &str) -> Value {
    json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {
            "name": name, "namespace": ns,
            "annotations": {"kubectl.kubernetes.io/last-applied-configuration": "{\"password\":\"hunter2\"}", "team": "shop"},
            "managedFields": [{"manager": "kubectl", "operation": "Apply"}],
        },
        "spec": {"containers": [{"name": "main", "image": "nginx:latest"}]},
    })
}

fn fixtures(api: &TestApi) {
    for ns in ["shop", "kube-system", "team-a"] {
        api.create(json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": ns, "labels": {"pod-security.kubernetes.io/enforce": "baseline"}}}))
            .unwrap();
    }
    for i in 0..5 {
        api.create(pod("shop", &format!("web-{i}"))).unwrap();
    }
    api.create(pod("kube-system", "coredns")).unwrap();
    api.create(pod("team-a", "job")).unwrap();
    api.create(json!({
        "apiVersion": "v1", "kind": "Secret",
        "metadata": {"name": "db", "namespace": "shop", "annotations": {"kubectl.kubernetes.io/last-applied-configuration": format!("{{\"data\":{{\"password\":\"{SECRET_VALUE}\"}}}}")}},
        "type": "Opaque",
        "data": {"password": SECRET_VALUE},
    }))
    .unwrap();
    api.create(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": "api", "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": "api"}}, "template": {"metadata": {"labels": {"app": "api"}}, "spec": {"containers": [{"name": "api", "image": "api:1"}]}}},
    }))
    .unwrap();
}

struct Setup {
    api: TestApi,
    _dir: tempfile::TempDir,
    kubeconfig: PathBuf,
}

fn setup(api: TestApi) -> Setup {
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("config");
    api.write_kubeconfig(&kubeconfig, "kind-test").unwrap();
    Setup {
        api,
        _dir: dir,
        kubeconfig,
    }
}

async fn connect(s: &Setup) -> Connection {
    Connection::connect(&Target {
        kubeconfig: Some(s.kubeconfig.clone()),
        context: None,
    })
    .await
    .unwrap()
}

fn small_pages() -> SnapshotOptions {
    SnapshotOptions {
        page_size: 2,
        ..Default::default()
    }
}

fn names(snap: &kubevigil_cluster::Snapshot, kind: &str) -> Vec<String> {
    snap.objects
        .iter()
        .filter(|o| o.kind == kind)
        .map(|o| format!("{}/{}", o.namespace.as_deref().unwrap_or(""), o.name))
        .collect()
}

#[tokio::test]
async fn a_snapshot_reads_every_page_of_every_kind() {
    let s = setup(TestApi::start().unwrap());
    fixtures(&s.api);
    let conn = connect(&s).await;
    assert_eq!(conn.context, "kind-test");
    let snap = snapshot(&conn, &small_pages()).await.unwrap();
    assert!(snap.problems.is_empty(), "{:?}", snap.problems);
    assert_eq!(
        names(&snap, "Pod"),
        [
            "kube-system/coredns",
            "shop/web-0",
            "shop/web-1",
            "shop/web-2",
            "shop/web-3",
            "shop/web-4",
            "team-a/job"
        ]
    );
    // 7 pods in pages of 2: 4 requests.
    let pages = s
        .api
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /api/v1/pods?limit=2"))
        .count();
    assert_eq!(pages, 4);
    let pod = snap.objects.iter().find(|o| o.name == "web-0").unwrap();
    // The API server leaves apiVersion and kind out of typed lists' items: filled in.
    assert_eq!((pod.api_version.as_str(), pod.kind.as_str()), ("v1", "Pod"));
    assert_eq!(pod.value["apiVersion"], "v1");
    // Dropped on ingest.
    assert!(pod.value["metadata"].get("managedFields").is_none());
    assert_eq!(
        pod.value["metadata"]["annotations"],
        json!({"team": "shop"})
    );
    match &pod.source {
        Origin::Cluster {
            context,
            uid,
            resource_version,
        } => {
            assert_eq!(&**context, "kind-test");
            assert!(uid.starts_with("00000000-0000-4000-8000-"), "{uid}");
            assert!(resource_version.parse::<u64>().unwrap() > 1);
        }
        other => panic!("{other:?}"),
    }
    let deploy = snap
        .objects
        .iter()
        .find(|o| o.kind == "Deployment")
        .unwrap();
    assert_eq!(deploy.api_version, "apps/v1");
    // Optional groups that are not served are skipped without a problem.
    assert!(snap.read.iter().all(|(k, _, _)| k.builtin));
}

#[tokio::test]
async fn secrets_are_read_as_metadata_only() {
    let s = setup(TestApi::start().unwrap());
    fixtures(&s.api);
    let conn = connect(&s).await;
    let snap = snapshot(&conn, &small_pages()).await.unwrap();
    let secret = snap.objects.iter().find(|o| o.kind == "Secret").unwrap();
    assert_eq!(
        secret.value,
        json!({"apiVersion": "v1", "kind": "Secret", "metadata": secret.value["metadata"].clone()})
    );
    assert_eq!(secret.value["metadata"]["name"], "db");
    // Neither the data nor the copy in last-applied-configuration is kept anywhere.
    let everything = format!("{:?}", snap.objects);
    assert!(!everything.contains(SECRET_VALUE));
    assert!(!everything.contains("hunter2"));
    let secret_lists: Vec<String> = s
        .api
        .requests()
        .into_iter()
        .filter(|r| r.starts_with("GET /api/v1/secrets"))
        .collect();
    assert!(!secret_lists.is_empty());
}

#[tokio::test]
async fn optional_groups_are_read_when_discovery_finds_them() {
    let api = TestApi::builder()
        .resource(Resource::new(
            "cilium.io",
            "v2",
            "ciliumnetworkpolicies",
            "CiliumNetworkPolicy",
            true,
        ))
        .start()
        .unwrap();
    api.create(json!({"apiVersion": "cilium.io/v2", "kind": "CiliumNetworkPolicy", "metadata": {"name": "deny", "namespace": "shop"}, "spec": {"endpointSelector": {}}}))
        .unwrap();
    let s = setup(api);
    let snap = snapshot(&connect(&s).await, &SnapshotOptions::default())
        .await
        .unwrap();
    let cnp = snap
        .objects
        .iter()
        .find(|o| o.kind == "CiliumNetworkPolicy")
        .unwrap();
    assert_eq!(cnp.api_version, "cilium.io/v2");
    assert!(snap.problems.is_empty(), "{:?}", snap.problems);
}

#[tokio::test]
async fn namespaces_and_exclusions_scope_the_snapshot() {
    let s = setup(TestApi::start().unwrap());
    fixtures(&s.api);
    let conn = connect(&s).await;
    let only_shop = SnapshotOptions {
        scope: Scope {
            namespaces: vec!["shop".into()],
            exclude: vec![],
        },
        ..Default::default()
    };
    let snap = snapshot(&conn, &only_shop).await.unwrap();
    assert_eq!(names(&snap, "Namespace"), ["/shop"]);
    assert_eq!(names(&snap, "Pod").len(), 5);
    assert!(
        s.api
            .requests()
            .iter()
            .any(|r| r.starts_with("GET /api/v1/namespaces/shop/pods?limit=500"))
    );
    let excluded = SnapshotOptions {
        scope: Scope {
            namespaces: vec![],
            exclude: vec!["kube-*".into(), "team-a".into()],
        },
        ..Default::default()
    };
    let snap = snapshot(&conn, &excluded).await.unwrap();
    assert_eq!(names(&snap, "Namespace"), ["/shop"]);
    assert_eq!(names(&snap, "Pod").len(), 5);
}

#[tokio::test]
async fn a_forbidden_kind_is_a_warning_naming_the_checks_left_incomplete() {
    let s = setup(TestApi::start().unwrap());
    fixtures(&s.api);
    s.api.add_fault(Fault::forbidden("", "serviceaccounts"));
    let snap = snapshot(&connect(&s).await, &SnapshotOptions::default())
        .await
        .unwrap();
    assert!(!snap.has_errors());
    assert!(matches!(
        &snap.problems[..],
        [Problem::Forbidden { kind, .. }] if kind.kind == "ServiceAccount"
    ));
    let diags = snap.diagnostics(&|_| true);
    assert_eq!(diags.len(), 1);
    assert_eq!(diags[0].level, DiagLevel::Warning);
    assert_eq!(diags[0].file, "cluster kind-test");
    let m = &diags[0].message;
    assert!(
        m.starts_with("cannot list ServiceAccount: GET https://127.0.0.1:"),
        "{m}"
    );
    assert!(
        m.contains(
            "/api/v1/serviceaccounts?limit=500: 403 Forbidden: serviceaccounts is forbidden: User"
        ),
        "{m}"
    );
    assert!(
        m.ends_with(
            "; incomplete checks: annotation-credential, service-account-token-automount, secret-unreferenced"
        ),
        "{m}"
    );
    // The other kinds were read.
    assert_eq!(names(&snap, "Pod").len(), 7);
}

#[tokio::test]
async fn a_429_mid_pagination_is_retried_after_the_time_the_server_asks() {
    let s = setup(TestApi::start().unwrap());
    fixtures(&s.api);
    s.api.add_fault(
        Fault::status("", "pods", 429)
            .on(FaultOn::ContinuePages)
            .times(1)
            .retry_after(1),
    );
    let started = std::time::Instant::now();
    let snap = snapshot(&connect(&s).await, &small_pages()).await.unwrap();
    assert!(started.elapsed() >= std::time::Duration::from_secs(1));
    assert!(snap.problems.is_empty(), "{:?}", snap.problems);
    assert_eq!(names(&snap, "Pod").len(), 7);
}

#[tokio::test]
async fn a_500_mid_pagination_makes_the_result_incomplete() {
    let s = setup(TestApi::start().unwrap());
    fixtures(&s.api);
    // No Retry-After: client-go does not retry it, neither do we.
    s.api
        .add_fault(Fault::status("", "pods", 500).on(FaultOn::ContinuePages));
    let snap = snapshot(&connect(&s).await, &small_pages()).await.unwrap();
    assert!(snap.has_errors());
    let diags = snap.diagnostics(&|_| true);
    let d = diags.iter().find(|d| d.level == DiagLevel::Error).unwrap();
    assert!(
        d.message
            .starts_with("cannot list Pod: cluster context \"kind-test\": GET https://127.0.0.1:"),
        "{}",
        d.message
    );
    assert!(
        d.message.contains("/api/v1/pods?limit=2&continue="),
        "{}",
        d.message
    );
    assert!(d.message.contains("500 InternalError"), "{}", d.message);
    assert!(
        d.message.contains("the result is incomplete"),
        "{}",
        d.message
    );
    // No pod of the failed list is kept: a partial list would look complete.
    assert_eq!(names(&snap, "Pod").len(), 0);
}

#[tokio::test]
async fn an_expired_continue_token_restarts_the_list() {
    let s = setup(TestApi::start().unwrap());
    fixtures(&s.api);
    s.api.add_fault(Fault::expired_continue("", "pods"));
    let snap = snapshot(&connect(&s).await, &small_pages()).await.unwrap();
    assert!(snap.problems.is_empty(), "{:?}", snap.problems);
    assert_eq!(snap.relists, 1);
    assert_eq!(names(&snap, "Pod").len(), 7);
}

#[tokio::test]
async fn a_compaction_between_pages_expires_the_token() {
    let s = setup(TestApi::start().unwrap());
    fixtures(&s.api);
    let conn = connect(&s).await;
    // A continue token taken before a compaction is refused with 410 by the server itself.
    let first = conn
        .client
        .request_text(
            http::Request::get("/api/v1/pods?limit=2")
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap();
    let token = serde_json::from_str::<Value>(&first).unwrap()["metadata"]["continue"]
        .as_str()
        .unwrap()
        .to_string();
    s.api.create(pod("shop", "late")).unwrap();
    s.api.compact();
    let err = conn
        .client
        .request_text(
            http::Request::get(format!("/api/v1/pods?limit=2&continue={token}"))
                .body(Vec::new())
                .unwrap(),
        )
        .await
        .unwrap_err();
    match err {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 410);
            assert_eq!(status.reason, "Expired");
        }
        other => panic!("{other:?}"),
    }
}

#[tokio::test]
async fn an_unreachable_server_names_the_context_and_path() {
    let s = setup(TestApi::start().unwrap());
    let conn = connect(&s).await;
    drop(s.api);
    let Err(err) = snapshot(&conn, &SnapshotOptions::default()).await else {
        panic!("a stopped server answered");
    };
    let text = err.to_string();
    assert!(
        text.starts_with("cluster context \"kind-test\": GET https://127.0.0.1:"),
        "{text}"
    );
    assert!(
        text.contains("/apis: cannot reach the API server"),
        "{text}"
    );
}

#[tokio::test]
async fn refused_credentials_are_named() {
    let api = TestApi::builder().token("right").start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    std::fs::write(&path, api.kubeconfig("prod").replace("right", "expired")).unwrap();
    let conn = Connection::connect(&Target {
        kubeconfig: Some(path),
        context: None,
    })
    .await
    .unwrap();
    let err = snapshot(&conn, &SnapshotOptions::default())
        .await
        .unwrap_err();
    let text = err.to_string();
    assert!(text.contains("cluster context \"prod\""), "{text}");
    assert!(
        text.contains("401 Unauthorized: the API server refused the credentials"),
        "{text}"
    );
}

#[tokio::test]
async fn an_untrusted_certificate_is_a_tls_error() {
    let api = TestApi::start().unwrap();
    let other = TestApi::start().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("config");
    // The other server's CA does not sign this server's certificate.
    let text = api.kubeconfig("prod");
    let ca = |a: &TestApi| {
        a.kubeconfig("x")
            .lines()
            .find(|l| l.contains("certificate-authority-data"))
            .unwrap()
            .to_string()
    };
    std::fs::write(&path, text.replace(&ca(&api), &ca(&other))).unwrap();
    let conn = Connection::connect(&Target {
        kubeconfig: Some(path),
        context: None,
    })
    .await
    .unwrap();
    let text = snapshot(&conn, &SnapshotOptions::default())
        .await
        .unwrap_err()
        .to_string();
    assert!(text.contains("cluster context \"prod\""), "{text}");
    assert!(text.contains("certificate"), "{text}");
}

#[tokio::test]
async fn an_unknown_context_is_an_error_listing_the_known_ones() {
    let s = setup(TestApi::start().unwrap());
    let err = Connection::connect(&Target {
        kubeconfig: Some(s.kubeconfig.clone()),
        context: Some("nope".into()),
    })
    .await
    .unwrap_err();
    assert!(matches!(err, Error::Config { .. }));
    assert_eq!(
        err.to_string(),
        "context \"nope\": no such context in the kubeconfig (contexts: kind-test)"
    );
}
