//! Hostile clients over real HTTPS on loopback: idle and stalled connections are closed,
//! refused requests are answered (503 with `Retry-After`, never a dropped connection), oversize
//! bodies are refused before they are read, and the in-flight limit counts bytes.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper_util::rt::{TokioExecutor, TokioIo};
use kubevigil_webhook::manifests::generate_tls;
use kubevigil_webhook::server::{Server, ServerOptions};
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;

struct Running {
    addr: SocketAddr,
    ca: String,
    _dir: tempfile::TempDir,
}

const CONFIG: &str = "namespacesFile: namespaces.yaml\npodSecurity: {mode: enforce}\n";
const NAMESPACES: &str = "apiVersion: v1\nkind: Namespace\nmetadata: {name: shop, labels: {pod-security.kubernetes.io/enforce: restricted}}\n";

async fn start(tune: impl FnOnce(&mut ServerOptions)) -> Running {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("namespaces.yaml"), NAMESPACES).unwrap();
    let tls = generate_tls(vec!["localhost".into()]).unwrap();
    let (cert, key) = (dir.path().join("tls.crt"), dir.path().join("tls.key"));
    std::fs::write(&cert, &tls.cert_pem).unwrap();
    std::fs::write(&key, &tls.key_pem).unwrap();
    let base = dir.path().to_path_buf();
    let read = move |n: &str| std::fs::read_to_string(base.join(n)).map_err(|e| e.to_string());
    let webhook = kubevigil_webhook::config::from_text(CONFIG, &read).unwrap();
    let mut opts = ServerOptions::new("127.0.0.1:0".parse().unwrap(), cert, key);
    tune(&mut opts);
    let server = Server::bind(Arc::new(webhook), opts).await.unwrap();
    let addr = server.local_addr().unwrap();
    tokio::spawn(server.run(std::future::pending()));
    Running {
        addr,
        ca: tls.ca_pem,
        _dir: dir,
    }
}

impl Running {
    /// A TLS connection offering `alpn`, handshake done.
    async fn tls(&self, alpn: &[&[u8]]) -> TlsStream<TcpStream> {
        let mut roots = rustls::RootCertStore::empty();
        for c in rustls_pki_types::pem::PemObject::pem_slice_iter(self.ca.as_bytes()) {
            roots.add(c.unwrap()).unwrap();
        }
        let mut cfg = rustls::ClientConfig::builder_with_provider(Arc::new(
            rustls::crypto::ring::default_provider(),
        ))
        .with_safe_default_protocol_versions()
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
        cfg.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
        let tcp = TcpStream::connect(self.addr).await.unwrap();
        tokio_rustls::TlsConnector::from(Arc::new(cfg))
            .connect(
                rustls_pki_types::ServerName::try_from("localhost").unwrap(),
                tcp,
            )
            .await
            .unwrap()
    }

    /// An HTTP/1.1 keep-alive connection.
    async fn h1(&self) -> hyper::client::conn::http1::SendRequest<Full<Bytes>> {
        let (sender, conn) =
            hyper::client::conn::http1::handshake(TokioIo::new(self.tls(&[b"http/1.1"]).await))
                .await
                .unwrap();
        tokio::spawn(conn);
        sender
    }

    /// A client that sent a request's head and part of its body, then stalls: it holds an
    /// in-flight slot and `declared` bytes of the budget until the deadline.
    async fn stalled(&self, declared: usize) -> TlsStream<TcpStream> {
        let mut s = self.tls(&[b"http/1.1"]).await;
        s.write_all(
            format!("POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-length: {declared}\r\n\r\n{{\"apiV")
                .as_bytes(),
        )
        .await
        .unwrap();
        s.flush().await.unwrap();
        s
    }
}

/// Status, `Retry-After` and body of one request, or the transport error.
async fn send(
    sender: &mut hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    body: Vec<u8>,
) -> Result<(u16, Option<String>, Vec<u8>), String> {
    sender.ready().await.map_err(|e| e.to_string())?;
    let req = hyper::Request::post("/validate")
        .header("host", "localhost")
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = resp.status().as_u16();
    let retry = resp
        .headers()
        .get("retry-after")
        .map(|v| v.to_str().unwrap().to_string());
    let body = resp
        .into_body()
        .collect()
        .await
        .map_err(|e| e.to_string())?
        .to_bytes();
    Ok((status, retry, body.to_vec()))
}

fn review(uid: &str, containers: usize) -> Vec<u8> {
    let sc = json!({"allowPrivilegeEscalation": false, "capabilities": {"drop": ["ALL"]},
        "runAsNonRoot": true, "seccompProfile": {"type": "RuntimeDefault"}});
    let containers: Vec<Value> = (0..containers)
        .map(|i| json!({"name": format!("c{i}"), "image": "registry.example.com/app:1.0", "securityContext": sc}))
        .collect();
    serde_json::to_vec(&json!({"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {"uid": uid, "operation": "CREATE", "namespace": "shop", "name": "p",
            "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "object": {"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "p", "namespace": "shop"},
                "spec": {"containers": containers}}}}))
    .unwrap()
}

/// Reads until the server closes the connection; how long that took (None: still open).
/// One HTTP/1.1 admission request written by hand on `tls`; its status line must be 200.
async fn validate_h1(tls: &mut TlsStream<TcpStream>, uid: &str) {
    let body = review(uid, 1);
    let head = format!(
        "POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-length: {}\r\n\r\n",
        body.len()
    );
    tls.write_all(head.as_bytes()).await.unwrap();
    tls.write_all(&body).await.unwrap();
    tls.flush().await.unwrap();
    let mut status = [0u8; 12];
    tls.read_exact(&mut status).await.unwrap();
    assert_eq!(&status, b"HTTP/1.1 200");
}

async fn closed_within<S: tokio::io::AsyncRead + Unpin>(
    s: &mut S,
    limit: Duration,
) -> Option<Duration> {
    let t = Instant::now();
    let mut buf = [0u8; 1024];
    tokio::time::timeout(limit, async {
        loop {
            match s.read(&mut buf).await {
                Ok(0) | Err(_) => return,
                Ok(_) => {}
            }
        }
    })
    .await
    .ok()
    .map(|_| t.elapsed())
}

#[tokio::test]
async fn idle_and_stalled_connections_are_closed() {
    let s = start(|o| {
        o.handshake_timeout = Duration::from_millis(300);
        o.header_timeout = Duration::from_millis(300);
        o.idle_timeout = Duration::from_millis(600);
    })
    .await;
    // Generous: the timeouts are under a second; before, these stayed open for minutes.
    const LIMIT: Duration = Duration::from_secs(4);

    // TCP only, no TLS handshake.
    let mut tcp = TcpStream::connect(s.addr).await.unwrap();
    assert!(
        closed_within(&mut tcp, LIMIT).await.is_some(),
        "no handshake: closed"
    );

    // Handshake, then nothing.
    let mut quiet = s.tls(&[b"h2", b"http/1.1"]).await;
    assert!(
        closed_within(&mut quiet, LIMIT).await.is_some(),
        "handshake only: closed"
    );

    // HTTP/1.1: one request, then idle.
    let mut tls = s.tls(&[b"http/1.1"]).await;
    validate_h1(&mut tls, "h1").await;
    assert!(
        closed_within(&mut tls, LIMIT).await.is_some(),
        "HTTP/1.1 idle after a request: closed"
    );

    // HTTP/2: one request, then idle.
    let (mut h2, conn) = hyper::client::conn::http2::handshake(
        TokioExecutor::new(),
        TokioIo::new(s.tls(&[b"h2"]).await),
    )
    .await
    .unwrap();
    let conn = tokio::spawn(conn);
    let req = hyper::Request::post(format!("https://localhost:{}/validate", s.addr.port()))
        .body(Full::new(Bytes::from(review("h2", 1))))
        .unwrap();
    let resp = h2.send_request(req).await.unwrap();
    assert_eq!(resp.status(), 200);
    resp.into_body().collect().await.unwrap();
    let t = Instant::now();
    tokio::time::timeout(LIMIT, conn)
        .await
        .expect("HTTP/2 idle after a request: closed")
        .unwrap()
        .ok();
    assert!(
        t.elapsed() >= Duration::from_millis(300),
        "closed for idleness, not at once"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_refused_request_is_answered_503_with_retry_after() {
    let s = Arc::new(
        start(|o| {
            o.max_in_flight = 4;
            o.deadline = Duration::from_secs(30);
        })
        .await,
    );
    // Four stalled requests hold the four slots.
    let mut stalled = Vec::new();
    for _ in 0..4 {
        stalled.push(s.stalled(100).await);
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    // 64 connections, two requests each with a body larger than socket buffers (so a refusal
    // that does not read it would reset the connection under the answer).
    let body = vec![b' '; 256 << 10];
    let mut tasks = Vec::new();
    for _ in 0..64 {
        let (s, body) = (s.clone(), body.clone());
        tasks.push(tokio::spawn(async move {
            let mut c = s.h1().await;
            let mut got = Vec::new();
            for _ in 0..2 {
                got.push(send(&mut c, body.clone()).await.map(|(st, ra, _)| (st, ra)));
            }
            (c, got)
        }));
    }
    let mut conns = Vec::new();
    let mut answers = Vec::new();
    for t in tasks {
        let (c, got) = t.await.unwrap();
        conns.push(c);
        answers.extend(got);
    }
    let bad: Vec<_> = answers
        .iter()
        .filter(|a| !matches!(a, Ok((503, Some(ra))) if ra == "1"))
        .collect();
    assert!(
        bad.is_empty(),
        "{} of {} not 503 with Retry-After: {:?}",
        bad.len(),
        answers.len(),
        &bad[..bad.len().min(5)]
    );
    // The slots free up (the stalled clients go away): the same connections are served.
    drop(stalled);
    tokio::time::sleep(Duration::from_millis(300)).await;
    let mut served = 0;
    for c in &mut conns {
        match send(c, review("after", 1)).await {
            Ok((200, _, _)) => served += 1,
            Ok((503, Some(_), _)) => {}
            other => panic!("after the overload: {other:?}"),
        }
    }
    assert!(served > 0, "requests are served once the slots are free");
}

#[tokio::test]
async fn a_declared_oversize_body_is_refused_before_it_is_read() {
    let s = start(|o| o.deadline = Duration::from_secs(30)).await;
    let mut tls = s.tls(&[b"http/1.1"]).await;
    tls.write_all(
        b"POST /validate HTTP/1.1\r\nhost: localhost\r\ncontent-length: 104857600\r\n\r\n",
    )
    .await
    .unwrap();
    tls.flush().await.unwrap();
    let mut head = [0u8; 12];
    tokio::time::timeout(Duration::from_secs(5), tls.read_exact(&mut head))
        .await
        .expect("answered without waiting for the body")
        .unwrap();
    assert_eq!(&head, b"HTTP/1.1 413");
}

#[tokio::test]
async fn the_in_flight_limit_counts_bytes() {
    let s = start(|o| {
        o.max_in_flight_bytes = 1 << 20;
        o.deadline = Duration::from_secs(30);
    })
    .await;
    // One stalled request declares 900 KB: the next 200 KB one does not fit.
    let stalled = s.stalled(900_000).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    let mut c = s.h1().await;
    let (status, retry, _) = send(&mut c, vec![b' '; 200_000]).await.unwrap();
    assert_eq!((status, retry.as_deref()), (503, Some("1")));
    drop(stalled);
    tokio::time::sleep(Duration::from_millis(300)).await;
    // A small review fits and is evaluated.
    let (status, _, body) = send(&mut c, review("small", 1)).await.unwrap();
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["response"]["allowed"], true, "{v}");
    // A review that alone needs more than the budget is denied (fail closed), not shed.
    let big = review("big", 2000);
    assert!(big.len() < 1 << 20, "the body itself fits");
    let (status, _, body) = send(&mut c, big).await.unwrap();
    assert_eq!(status, 200);
    let v: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(v["response"]["uid"], "big");
    assert_eq!(v["response"]["allowed"], false, "{v}");
    assert_eq!(v["response"]["status"]["code"], 413, "{v}");
    assert_eq!(
        v["response"]["status"]["reason"], "RequestEntityTooLarge",
        "{v}"
    );
}

/// At most `max_connections` are open at once: a client past the cap is not served (its
/// handshake waits in the accept queue) until a slot frees, then it is served normally.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connections_past_the_cap_wait_for_a_slot() {
    let s = Arc::new(
        start(|o| {
            o.max_connections = 2;
            // Long enough that the held connections keep their slots during the test.
            o.handshake_timeout = Duration::from_secs(60);
        })
        .await,
    );
    let held_a = TcpStream::connect(s.addr).await.unwrap();
    let _held_b = TcpStream::connect(s.addr).await.unwrap();
    let third = {
        let s = s.clone();
        tokio::spawn(async move { s.tls(&[b"http/1.1"]).await })
    };
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(
        !third.is_finished(),
        "a third connection was served while two held both slots"
    );
    drop(held_a); // its handshake fails at once: the slot frees
    let mut tls = tokio::time::timeout(Duration::from_secs(30), third)
        .await
        .expect("served once a slot freed")
        .unwrap();
    validate_h1(&mut tls, "cap").await;
}
