//! Test support: notifications, and a local HTTP server that answers as a script says.

#![allow(dead_code)]

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use kubevigil_model::Severity;
use kubevigil_sinks::{Notification, Source, Status};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// A firing finding notification numbered `i`.
pub fn notification(i: usize, severity: Severity) -> Notification {
    let mut labels = BTreeMap::new();
    labels.insert("alertname".into(), "Privileged container".into());
    labels.insert("severity".into(), severity.as_str().into());
    labels.insert("rule".into(), "pss-privileged".into());
    labels.insert("namespace".into(), "team-a".into());
    labels.insert("kind".into(), "Pod".into());
    labels.insert("name".into(), format!("pod-{i}"));
    labels.insert("fingerprint".into(), format!("fp{i:04}"));
    let mut annotations = BTreeMap::new();
    annotations.insert("summary".into(), "Privileged container".into());
    annotations.insert("description".into(), format!("pod-{i} runs privileged"));
    Notification {
        id: format!("finding/fp{i:04}/new/1000"),
        source: Source::Finding,
        status: Status::Firing,
        change: Some(kubevigil_sinks::Change::New),
        severity,
        labels,
        annotations,
        starts_at_ms: 1_700_000_000_000,
        ends_at_ms: None,
        generator_url: None,
        refresh: false,
    }
}

/// What the server answers: status, extra headers, body.
pub type Answer = (u16, Vec<(String, String)>, String);

/// A request the server received.
#[derive(Debug, Clone)]
pub struct Received {
    pub at: Instant,
    pub path: String,
    pub headers: Vec<(String, String)>,
    pub body: String,
}

/// How the server answers the `n`-th request (0-based), given its body.
type Script = Arc<dyn Fn(usize, &str) -> Answer + Send + Sync>;

/// A minimal HTTP/1.1 server: one request per connection, answered by a script.
pub struct Server {
    pub addr: SocketAddr,
    pub received: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

impl Server {
    /// Answers `script(n)` to the `n`-th request.
    pub async fn start(script: impl Fn(usize) -> Answer + Send + Sync + 'static) -> Server {
        Server::start_by_body(move |n, _| script(n)).await
    }

    /// Answers `script(n, body)`.
    pub async fn start_by_body(
        script: impl Fn(usize, &str) -> Answer + Send + Sync + 'static,
    ) -> Server {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        Server::listen(listener, Arc::new(script))
    }

    /// Answers `script(n)` on `listener`.
    pub fn on(
        listener: TcpListener,
        script: impl Fn(usize) -> Answer + Send + Sync + 'static,
    ) -> Server {
        Server::listen(listener, Arc::new(move |n, _: &str| script(n)))
    }

    fn listen(listener: TcpListener, script: Script) -> Server {
        let addr = listener.local_addr().unwrap();
        let received = Arc::new(Mutex::new(Vec::new()));
        let rec = Arc::clone(&received);
        let task = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    return;
                };
                let rec = Arc::clone(&rec);
                let script = Arc::clone(&script);
                tokio::spawn(async move {
                    let _ = serve(stream, rec, script).await;
                });
            }
        });
        Server {
            addr,
            received,
            task,
        }
    }

    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn received(&self) -> Vec<Received> {
        self.received.lock().unwrap().clone()
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn serve(
    mut stream: TcpStream,
    received: Arc<Mutex<Vec<Received>>>,
    script: Script,
) -> std::io::Result<()> {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    let head_end = loop {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            return Ok(());
        }
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break i + 4;
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).to_string();
    let mut lines = head.split("\r\n");
    let path = lines
        .next()
        .unwrap_or("")
        .split(' ')
        .nth(1)
        .unwrap_or("")
        .to_string();
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_ascii_lowercase(), v.trim().to_string()))
        .collect();
    let len: usize = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse().ok())
        .unwrap_or(0);
    while buf.len() < head_end + len {
        let n = stream.read(&mut chunk).await?;
        if n == 0 {
            break;
        }
        buf.extend_from_slice(&chunk[..n]);
    }
    let body = String::from_utf8_lossy(&buf[head_end..]).to_string();
    let n = {
        let mut r = received.lock().unwrap();
        r.push(Received {
            at: Instant::now(),
            path,
            headers,
            body: body.clone(),
        });
        r.len() - 1
    };
    let (status, extra, body) = script(n, &body);
    let mut answer = format!(
        "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
        body.len()
    );
    for (k, v) in extra {
        answer.push_str(&format!("{k}: {v}\r\n"));
    }
    answer.push_str("\r\n");
    answer.push_str(&body);
    stream.write_all(answer.as_bytes()).await?;
    stream.shutdown().await
}

/// Waits until `cond` holds, polling; panics with `what` after `timeout`.
pub async fn wait_for(what: &str, timeout: Duration, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + timeout;
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
