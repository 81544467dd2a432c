//! The namespace list/watch against a fake API server over loopback TLS.

use std::convert::Infallible;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use http_body_util::Full;
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use kubevigil_webhook::Webhook;
use kubevigil_webhook::namespaces::{ApiServer, run_watch};
use rustls_pki_types::pem::PemObject;
use serde_json::json;

fn ns(name: &str, level: &str, rv: &str) -> serde_json::Value {
    json!({"metadata": {"name": name, "resourceVersion": rv, "labels": {"pod-security.kubernetes.io/enforce": level}}})
}

#[tokio::test]
async fn lists_watches_and_relists_on_gone() {
    let tls = kubevigil_webhook::manifests::generate_tls(vec!["localhost".into()]).unwrap();
    let certs: Vec<_> = rustls_pki_types::CertificateDer::pem_slice_iter(tls.cert_pem.as_bytes())
        .map(Result::unwrap)
        .collect();
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(tls.key_pem.as_bytes()).unwrap();
    let cfg = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(cfg));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let lists = Arc::new(AtomicUsize::new(0));
    let watches = Arc::new(AtomicUsize::new(0));
    let gate = Arc::new(tokio::sync::Notify::new());
    let (l2, w2, g2) = (lists.clone(), watches.clone(), gate.clone());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let (lists, watches, gate) = (l2.clone(), w2.clone(), g2.clone());
            let svc = hyper::service::service_fn(
                move |req: hyper::Request<hyper::body::Incoming>| {
                    let (lists, watches, gate) = (lists.clone(), watches.clone(), gate.clone());
                    async move {
                        assert_eq!(req.headers()["authorization"], "Bearer tok");
                        let q = req.uri().query().unwrap_or("").to_string();
                        let body = if !q.contains("watch=1") {
                            let n = lists.fetch_add(1, Ordering::SeqCst);
                            let items = if n == 0 {
                                vec![ns("a", "restricted", "5"), ns("d", "restricted", "6")]
                            } else {
                                vec![ns("a", "privileged", "20"), ns("c", "baseline", "21")]
                            };
                            json!({"kind": "NamespaceList", "items": items, "metadata": {"resourceVersion": if n == 0 { "10" } else { "30" }}}).to_string()
                        } else if watches.fetch_add(1, Ordering::SeqCst) == 0 {
                            assert!(q.contains("resourceVersion=10"), "{q}");
                            [json!({"type": "ADDED", "object": ns("b", "baseline", "11")}),
                         json!({"type": "MODIFIED", "object": ns("a", "baseline", "12")}),
                         json!({"type": "DELETED", "object": ns("d", "restricted", "13")}),
                         json!({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "14"}}})]
                            .iter().map(|e| format!("{e}\n")).collect()
                        } else if q.contains("resourceVersion=14") {
                            // The re-watch waits until the test has seen the watched state.
                            gate.notified().await;
                            format!(
                                "{}\n",
                                json!({"type": "ERROR", "object": {"kind": "Status", "code": 410, "message": "too old"}})
                            )
                        } else {
                            // After the relist: hold the watch open.
                            tokio::time::sleep(Duration::from_secs(30)).await;
                            String::new()
                        };
                        Ok::<_, Infallible>(hyper::Response::new(Full::new(Bytes::from(body))))
                    }
                },
            );
            tokio::spawn(async move {
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(tls), svc)
                    .await;
            });
        }
    });

    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("token"), "tok\n").unwrap();
    let api = ApiServer {
        address: addr.to_string(),
        server_name: "localhost".into(),
        ca_pem: tls.ca_pem.clone(),
        token_file: dir.path().join("token"),
    };
    let webhook = Arc::new(Webhook::default());
    let task = tokio::spawn(run_watch(api, webhook.clone()));
    // Sorted by namespace name (the cache is a hash map).
    let levels = || -> Vec<(String, String)> {
        let mut v: Vec<(String, String)> = webhook
            .namespaces
            .read()
            .iter()
            .map(|(n, l)| {
                let level = l
                    .get("pod-security.kubernetes.io/enforce")
                    .and_then(|v| v.as_str())
                    .unwrap_or("-");
                (n.clone(), level.to_string())
            })
            .collect();
        v.sort();
        v
    };
    let pairs = |v: &[(&str, &str)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(a, b)| (a.to_string(), b.to_string()))
            .collect()
    };
    // Generous bounds (60 s each) for a loaded machine; the state is asserted after waiting.
    let wait_for = |want: Vec<(String, String)>| {
        let levels = &levels;
        async move {
            for _ in 0..600 {
                if levels() == want {
                    break;
                }
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            levels()
        }
    };
    // After the first watch: b ADDED, a MODIFIED, d DELETED.
    let want = pairs(&[("a", "baseline"), ("b", "baseline")]);
    assert_eq!(wait_for(want.clone()).await, want, "watch events applied");
    assert!(webhook.namespaces.is_synced());
    assert_eq!(lists.load(Ordering::SeqCst), 1);
    // Let the re-watch answer 410 Gone: the cache is relisted and replaced.
    gate.notify_one();
    let want = pairs(&[("a", "privileged"), ("c", "baseline")]);
    assert_eq!(
        wait_for(want.clone()).await,
        want,
        "relist replaces the cache"
    );
    assert!(webhook.namespaces.is_synced());
    assert_eq!(lists.load(Ordering::SeqCst), 2, "relisted once, after 410");
    task.abort();
}
