//! Namespace labels: a cache fed by a static file of Namespace objects, or kept current from
//! the cluster by a list-then-watch of `/api/v1/namespaces` (in-cluster service account; RBAC
//! needs only namespaces get/list/watch).
//!
//! The watch follows the API's list/watch contract: list (paged), then watch from the list's
//! `resourceVersion` with bookmarks; `410 Gone` (an `ERROR` event with code 410, or the HTTP
//! status) and any stream failure lead to a fresh list after a short backoff. Until the first
//! list has been applied the cache reports itself unsynced and `/readyz` fails, so the API
//! server does not send requests that would be judged against missing labels.

use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::time::Duration;

use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::{Map, Value};

use crate::policy::pod_security::NamespaceLabels;

/// Labels by namespace name, shared between the watcher and the request handlers.
#[derive(Debug)]
pub struct NamespaceCache {
    labels: RwLock<NamespaceLabels>,
    synced: AtomicBool,
}

impl Default for NamespaceCache {
    fn default() -> Self {
        NamespaceCache::from_labels(NamespaceLabels::new())
    }
}

impl NamespaceCache {
    /// A cache that is complete as given (a static file).
    pub fn from_labels(labels: NamespaceLabels) -> Self {
        NamespaceCache {
            labels: RwLock::new(labels),
            synced: AtomicBool::new(true),
        }
    }

    pub fn read(&self) -> RwLockReadGuard<'_, NamespaceLabels> {
        self.labels.read().unwrap_or_else(|p| p.into_inner())
    }

    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::SeqCst)
    }

    pub fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::SeqCst);
    }

    pub fn replace(&self, labels: NamespaceLabels) {
        *self.labels.write().unwrap_or_else(|p| p.into_inner()) = labels;
    }

    /// Applies one watch event (`ADDED`, `MODIFIED`, `DELETED`); other types are ignored.
    pub fn apply(&self, event_type: &str, object: &Value) {
        let Some(name) = object.pointer("/metadata/name").and_then(Value::as_str) else {
            return;
        };
        let mut m = self.labels.write().unwrap_or_else(|p| p.into_inner());
        match event_type {
            "ADDED" | "MODIFIED" => {
                m.insert(name.to_string(), labels_of(object));
            }
            "DELETED" => {
                m.remove(name);
            }
            _ => {}
        }
    }
}

fn labels_of(o: &Value) -> Map<String, Value> {
    o.pointer("/metadata/labels")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default()
}

/// Where and how to reach the API server.
#[derive(Debug, Clone)]
pub struct ApiServer {
    /// `host:port`.
    pub address: String,
    /// Host name (or IP) the serving certificate is checked against.
    pub server_name: String,
    pub ca_pem: String,
    /// Re-read at every (re)connection: projected tokens rotate.
    pub token_file: PathBuf,
}

const SA_DIR: &str = "/var/run/secrets/kubernetes.io/serviceaccount";

impl ApiServer {
    /// The in-cluster configuration (`KUBERNETES_SERVICE_HOST`/`_PORT`, the mounted service
    /// account token and CA).
    pub fn in_cluster() -> std::io::Result<ApiServer> {
        let host = std::env::var("KUBERNETES_SERVICE_HOST").map_err(|_| {
            std::io::Error::other("KUBERNETES_SERVICE_HOST is not set (not in a cluster?)")
        })?;
        let port = std::env::var("KUBERNETES_SERVICE_PORT").unwrap_or_else(|_| "443".into());
        let ca_pem = std::fs::read_to_string(format!("{SA_DIR}/ca.crt"))?;
        let address = if host.contains(':') {
            format!("[{host}]:{port}")
        } else {
            format!("{host}:{port}")
        };
        Ok(ApiServer {
            address,
            server_name: host,
            ca_pem,
            token_file: PathBuf::from(format!("{SA_DIR}/token")),
        })
    }
}

#[derive(Debug, thiserror::Error)]
enum WatchError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("HTTP {0}: {1}")]
    Status(u16, String),
    #[error("resource version expired (410 Gone)")]
    Gone,
    #[error("decoding: {0}")]
    Decode(String),
}

type Sender = hyper::client::conn::http1::SendRequest<Empty<Bytes>>;

async fn connect(api: &ApiServer) -> Result<Sender, WatchError> {
    let mut roots = rustls::RootCertStore::empty();
    for c in CertificateDer::pem_slice_iter(api.ca_pem.as_bytes()) {
        roots
            .add(c.map_err(std::io::Error::other)?)
            .map_err(std::io::Error::other)?;
    }
    let mut config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(std::io::Error::other)?
    .with_root_certificates(roots)
    .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let tcp = tokio::net::TcpStream::connect(&api.address).await?;
    let name = ServerName::try_from(api.server_name.clone()).map_err(std::io::Error::other)?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .map_err(std::io::Error::other)?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

async fn get(
    sender: &mut Sender,
    api: &ApiServer,
    path: &str,
) -> Result<hyper::Response<hyper::body::Incoming>, WatchError> {
    let token = std::fs::read_to_string(&api.token_file)?;
    sender.ready().await.map_err(std::io::Error::other)?;
    let req = hyper::Request::get(path)
        .header("host", &api.server_name)
        .header("accept", "application/json")
        .header("authorization", format!("Bearer {}", token.trim()))
        .body(Empty::new())
        .map_err(std::io::Error::other)?;
    let resp = sender
        .send_request(req)
        .await
        .map_err(std::io::Error::other)?;
    let status = resp.status().as_u16();
    if status == 410 {
        return Err(WatchError::Gone);
    }
    if status != 200 {
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        // The API server's Status message only (never headers, which carry the token).
        let msg = serde_json::from_slice::<Value>(&body)
            .ok()
            .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_default();
        return Err(WatchError::Status(status, msg));
    }
    Ok(resp)
}

/// Lists every namespace (paged); returns the labels and the list's resourceVersion.
async fn list(
    sender: &mut Sender,
    api: &ApiServer,
) -> Result<(NamespaceLabels, String), WatchError> {
    let mut out = NamespaceLabels::new();
    let mut cont = String::new();
    loop {
        let mut path = "/api/v1/namespaces?limit=500".to_string();
        if !cont.is_empty() {
            path.push_str("&continue=");
            path.push_str(&cont);
        }
        let body = get(sender, api, &path)
            .await?
            .into_body()
            .collect()
            .await
            .map_err(std::io::Error::other)?
            .to_bytes();
        let v: Value =
            serde_json::from_slice(&body).map_err(|e| WatchError::Decode(e.to_string()))?;
        for item in v
            .get("items")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            if let Some(name) = item.pointer("/metadata/name").and_then(Value::as_str) {
                out.insert(name.to_string(), labels_of(item));
            }
        }
        let meta = v.get("metadata");
        let field = |k: &str| {
            meta.and_then(|m| m.get(k))
                .and_then(Value::as_str)
                .unwrap_or("")
                .to_string()
        };
        cont = field("continue");
        if cont.is_empty() {
            return Ok((out, field("resourceVersion")));
        }
    }
}

/// Watches from `rv` until the stream ends (server timeout) or fails; returns the last
/// resourceVersion seen.
async fn watch(
    sender: &mut Sender,
    api: &ApiServer,
    cache: &NamespaceCache,
    mut rv: String,
) -> Result<String, WatchError> {
    let path = format!(
        "/api/v1/namespaces?watch=1&allowWatchBookmarks=true&timeoutSeconds=300&resourceVersion={rv}"
    );
    let mut body = get(sender, api, &path).await?.into_body();
    let mut buf: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(std::io::Error::other)?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buf.extend_from_slice(&data);
        while let Some(nl) = buf.iter().position(|&b| b == b'\n') {
            let line: Vec<u8> = buf.drain(..=nl).collect();
            if line.iter().all(u8::is_ascii_whitespace) {
                continue;
            }
            let ev: Value =
                serde_json::from_slice(&line).map_err(|e| WatchError::Decode(e.to_string()))?;
            let t = ev.get("type").and_then(Value::as_str).unwrap_or("");
            let obj = ev.get("object").unwrap_or(&Value::Null);
            if t == "ERROR" {
                if obj.get("code").and_then(Value::as_u64) == Some(410) {
                    return Err(WatchError::Gone);
                }
                let msg = obj.get("message").and_then(Value::as_str).unwrap_or("");
                return Err(WatchError::Status(
                    obj.get("code").and_then(Value::as_u64).unwrap_or(0) as u16,
                    msg.to_string(),
                ));
            }
            cache.apply(t, obj);
            if let Some(v) = obj
                .pointer("/metadata/resourceVersion")
                .and_then(Value::as_str)
            {
                rv = v.to_string();
            }
        }
    }
    Ok(rv)
}

/// Keeps the webhook's namespace cache current forever: list, watch, re-watch, re-list on
/// expiry or failure. Marks the cache unsynced until the first list is applied.
pub async fn run_watch(api: ApiServer, webhook: Arc<crate::Webhook>) {
    let cache = &webhook.namespaces;
    cache.set_synced(false);
    let mut backoff = Duration::from_millis(500);
    loop {
        let result: Result<(), WatchError> = async {
            let mut sender = connect(&api).await?;
            let (labels, mut rv) = list(&mut sender, &api).await?;
            tracing::info!(namespaces = labels.len(), "namespace cache listed");
            cache.replace(labels);
            cache.set_synced(true);
            backoff = Duration::from_millis(500);
            loop {
                rv = watch(&mut sender, &api, cache, rv).await?;
            }
        }
        .await;
        if let Err(e) = result {
            match e {
                WatchError::Gone => tracing::info!("namespace watch expired; listing again"),
                e => tracing::warn!(error = %e, "namespace watch failed; retrying"),
            }
        }
        tokio::time::sleep(backoff).await;
        backoff = (backoff * 2).min(Duration::from_secs(30));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn watch_events_update_the_cache() {
        let c = NamespaceCache::default();
        c.apply(
            "ADDED",
            &json!({"metadata": {"name": "a", "labels": {"x": "1"}}}),
        );
        c.apply(
            "MODIFIED",
            &json!({"metadata": {"name": "a", "labels": {"x": "2"}}}),
        );
        c.apply("ADDED", &json!({"metadata": {"name": "b"}}));
        c.apply("BOOKMARK", &json!({"metadata": {"resourceVersion": "9"}}));
        assert_eq!(c.read()["a"]["x"], "2");
        assert!(c.read()["b"].is_empty());
        c.apply("DELETED", &json!({"metadata": {"name": "a"}}));
        assert!(!c.read().contains_key("a"));
        c.apply("ADDED", &json!({"metadata": {}}));
        assert_eq!(c.read().len(), 1);
    }
}
