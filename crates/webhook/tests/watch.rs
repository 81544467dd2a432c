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
    let (l2, w2) = (lists.clone(), watches.clone());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            let tls = acceptor.accept(tcp).await.unwrap();
            let (lists, watches) = (l2.clone(), w2.clone());
            let svc = hyper::service::service_fn(
                move |req: hyper::Request<hyper::body::Incoming>| {
                    let (lists, watches) = (lists.clone(), watches.clone());
                    async move {
                        assert_eq!(req.headers()["authorization"], "Bearer tok");
                        let q = req.uri().query().unwrap_or("").to_string();
                        let body = if !q.contains("watch=1") {
                            let n = lists.fetch_add(1, Ordering::SeqCst);
                            let items = if n == 0 {
                                vec![ns("a", "restricted", "5")]
                            } else {
                                vec![ns("a", "privileged", "20"), ns("c", "baseline", "21")]
                            };
                            json!({"kind": "NamespaceList", "items": items, "metadata": {"resourceVersion": if n == 0 { "10" } else { "30" }}}).to_string()
                        } else if watches.fetch_add(1, Ordering::SeqCst) == 0 {
                            assert!(q.contains("resourceVersion=10"), "{q}");
                            [json!({"type": "ADDED", "object": ns("b", "baseline", "11")}),
                         json!({"type": "MODIFIED", "object": ns("a", "baseline", "12")}),
                         json!({"type": "BOOKMARK", "object": {"metadata": {"resourceVersion": "13"}}})]
                            .iter().map(|e| format!("{e}\n")).collect()
                        } else if q.contains("resourceVersion=13") {
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
    let mut seen_first = false;
    for _ in 0..100 {
        tokio::time::sleep(Duration::from_millis(30)).await;
        let m = webhook.namespaces.read();
        let level = |n: &str| {
            m.get(n).and_then(|l| {
                l["pod-security.kubernetes.io/enforce"]
                    .as_str()
                    .map(str::to_string)
            })
        };
        if level("b").as_deref() == Some("baseline") && level("a").as_deref() == Some("baseline") {
            seen_first = true;
        }
        if lists.load(Ordering::SeqCst) >= 2 && level("c").is_some() {
            assert_eq!(level("a").as_deref(), Some("privileged"));
            assert!(level("b").is_none(), "relist replaces the cache");
            break;
        }
    }
    assert!(webhook.namespaces.is_synced());
    assert!(lists.load(Ordering::SeqCst) >= 2, "relisted after 410");
    let _ = seen_first; // the intermediate state may be overwritten before it is observed
    task.abort();
}
