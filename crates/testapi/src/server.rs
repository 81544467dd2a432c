//! The HTTPS server: routing, list, watch, discovery, errors, faults.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::ops::Bound;
use std::path::Path;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use hyper::{Request, Response, StatusCode};
use serde_json::{Map, Value, json};
use tokio::sync::{broadcast, mpsc, oneshot};

use crate::Error;
use crate::store::{Event, Key, Resource, Store};

/// Which requests a [`Fault`] answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FaultOn {
    /// Every request for the resource (list, get, watch).
    Every,
    /// List requests that carry a `continue` token (a later page of a paginated list).
    ContinuePages,
    /// Watch requests.
    Watch,
}

/// An error the server answers instead of serving a resource.
#[derive(Debug, Clone)]
pub struct Fault {
    pub group: String,
    pub plural: String,
    pub on: FaultOn,
    /// The HTTP status (403, 410, 429, 500, 503, ...).
    pub code: u16,
    /// Sent as `Retry-After` and `details.retryAfterSeconds`.
    pub retry_after: Option<u64>,
    /// How many requests it answers; `None` for all of them.
    pub times: Option<usize>,
}

impl Fault {
    /// `403 Forbidden` for every request on the resource, as RBAC denies a `list`.
    pub fn forbidden(group: &str, plural: &str) -> Fault {
        Fault::status(group, plural, 403)
    }

    /// `code` for every request on the resource; narrow it with [`Fault::on`] and
    /// [`Fault::times`].
    pub fn status(group: &str, plural: &str, code: u16) -> Fault {
        Fault {
            group: group.into(),
            plural: plural.into(),
            on: FaultOn::Every,
            code,
            retry_after: None,
            times: None,
        }
    }

    /// The next later page of a list of the resource is `410 Expired`: its continue token is
    /// too old, as after an etcd compaction.
    pub fn expired_continue(group: &str, plural: &str) -> Fault {
        Fault::status(group, plural, 410)
            .on(FaultOn::ContinuePages)
            .times(1)
    }

    pub fn on(mut self, on: FaultOn) -> Fault {
        self.on = on;
        self
    }

    pub fn times(mut self, n: usize) -> Fault {
        self.times = Some(n);
        self
    }

    pub fn retry_after(mut self, seconds: u64) -> Fault {
        self.retry_after = Some(seconds);
        self
    }
}

struct State {
    store: Store,
    faults: Vec<Fault>,
    requests: Vec<String>,
    /// Container logs: (namespace, pod, container) → lines (RFC 3339 time, message).
    logs: BTreeMap<(String, String, String), Vec<(String, String)>>,
}

/// A log line appended while clients follow, or the end of every followed stream.
#[derive(Debug, Clone)]
enum LogNews {
    Line {
        key: (String, String, String),
        time: String,
        message: String,
    },
    Cut,
}

struct Shared {
    state: Mutex<State>,
    events: broadcast::Sender<Event>,
    logs: broadcast::Sender<LogNews>,
    token: Option<String>,
    bookmark_interval: Duration,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// Configures a [`TestApi`].
pub struct TestApiBuilder {
    resources: Vec<Resource>,
    token: Option<String>,
    bookmark_interval: Duration,
}

impl Default for TestApiBuilder {
    fn default() -> Self {
        TestApiBuilder {
            resources: crate::default_resources(),
            token: None,
            bookmark_interval: Duration::from_secs(1),
        }
    }
}

impl TestApiBuilder {
    /// Serves one more resource (a CRD, say).
    pub fn resource(mut self, resource: Resource) -> Self {
        self.resources.push(resource);
        self
    }

    /// Serves exactly these resources.
    pub fn resources(mut self, resources: Vec<Resource>) -> Self {
        self.resources = resources;
        self
    }

    /// Requires `Authorization: Bearer TOKEN` (401 otherwise).
    pub fn token(mut self, token: &str) -> Self {
        self.token = Some(token.into());
        self
    }

    /// How often a watch with `allowWatchBookmarks=true` gets a `BOOKMARK`.
    pub fn bookmark_interval(mut self, interval: Duration) -> Self {
        self.bookmark_interval = interval;
        self
    }

    /// Starts the server on a loopback port, on its own thread and runtime.
    pub fn start(self) -> Result<TestApi, Error> {
        let tls = generate_tls()?;
        let (events, _) = broadcast::channel(1 << 16);
        let (logs, _) = broadcast::channel(1 << 14);
        let shared = Arc::new(Shared {
            state: Mutex::new(State {
                store: Store::new(self.resources),
                faults: Vec::new(),
                requests: Vec::new(),
                logs: BTreeMap::new(),
            }),
            events,
            logs,
            token: self.token,
            bookmark_interval: self.bookmark_interval,
        });
        let listener = std::net::TcpListener::bind("127.0.0.1:0")?;
        listener.set_nonblocking(true)?;
        let addr = listener.local_addr()?;
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls.server_config));
        let serving = shared.clone();
        let thread = std::thread::Builder::new()
            .name("testapi".into())
            .spawn(move || {
                let rt = tokio::runtime::Builder::new_multi_thread()
                    .worker_threads(1)
                    .enable_all()
                    .build()
                    .expect("test API runtime");
                rt.block_on(serve(listener, acceptor, serving, stop_rx));
            })?;
        Ok(TestApi {
            shared,
            addr,
            ca_pem: tls.ca_pem,
            stop: Some(stop_tx),
            thread: Some(thread),
        })
    }
}

/// A running test API server. Dropping it stops it.
pub struct TestApi {
    shared: Arc<Shared>,
    addr: SocketAddr,
    ca_pem: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl Drop for TestApi {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl TestApi {
    pub fn builder() -> TestApiBuilder {
        TestApiBuilder::default()
    }

    /// A server with the default resources and no authentication.
    pub fn start() -> Result<TestApi, Error> {
        TestApiBuilder::default().start()
    }

    /// `https://127.0.0.1:PORT`.
    pub fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// The PEM of the CA that signed the serving certificate.
    pub fn ca_pem(&self) -> &str {
        &self.ca_pem
    }

    /// A kubeconfig whose current context `context` points at this server (with the CA, and
    /// the token if one is set).
    pub fn kubeconfig(&self, context: &str) -> String {
        let ca = b64(self.ca_pem.as_bytes());
        // kubectl prompts for a user name when the user has no credentials at all: without a
        // required token, any token will do.
        let token = self.shared.token.as_deref().unwrap_or("kubevigil-test");
        let user = format!("{{\"token\": {}}}", json!(token));
        let context_json = json!(context);
        format!(
            "apiVersion: v1\nkind: Config\nclusters:\n- name: test\n  cluster:\n    server: {url}\n    certificate-authority-data: {ca}\ncontexts:\n- name: {context_json}\n  context: {{cluster: test, user: test, namespace: default}}\ncurrent-context: {context_json}\nusers:\n- name: test\n  user: {user}\n",
            url = self.url(),
        )
    }

    /// Writes [`TestApi::kubeconfig`] to `path`.
    pub fn write_kubeconfig(&self, path: &Path, context: &str) -> Result<(), Error> {
        std::fs::write(path, self.kubeconfig(context))?;
        Ok(())
    }

    /// Creates an object (it must not exist); returns it as stored (uid, resourceVersion,
    /// creationTimestamp set). Watchers see an `ADDED` event.
    pub fn create(&self, object: Value) -> Result<Value, Error> {
        self.write(object, true)
    }

    /// Creates or replaces an object; watchers see `ADDED` or `MODIFIED`.
    pub fn apply(&self, object: Value) -> Result<Value, Error> {
        self.write(object, false)
    }

    /// Creates many objects at once (one lock), faster for large fixtures.
    pub fn create_all(&self, objects: impl IntoIterator<Item = Value>) -> Result<(), Error> {
        let mut state = self.shared.lock();
        for o in objects {
            let event = state.store.write(o, true)?;
            let _ = self.shared.events.send(event);
        }
        Ok(())
    }

    fn write(&self, object: Value, create_only: bool) -> Result<Value, Error> {
        let mut state = self.shared.lock();
        let event = state.store.write(object, create_only)?;
        let stored = event.object.clone();
        let _ = self.shared.events.send(event);
        Ok(stored)
    }

    /// Appends a line to a container's log (`time` RFC 3339); clients following it get it.
    pub fn append_log(
        &self,
        namespace: &str,
        pod: &str,
        container: &str,
        time: &str,
        message: &str,
    ) {
        let key = (
            namespace.to_string(),
            pod.to_string(),
            container.to_string(),
        );
        let mut state = self.shared.lock();
        state
            .logs
            .entry(key.clone())
            .or_default()
            .push((time.to_string(), message.to_string()));
        let _ = self.shared.logs.send(LogNews::Line {
            key,
            time: time.to_string(),
            message: message.to_string(),
        });
    }

    /// Ends every followed log stream (a container restart, a dropped connection): clients
    /// must connect again.
    pub fn cut_log_streams(&self) {
        let _ = self.shared.logs.send(LogNews::Cut);
    }

    /// Deletes an object; watchers see `DELETED`.
    pub fn delete(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Result<(), Error> {
        let mut state = self.shared.lock();
        let event = state.store.delete(api_version, kind, namespace, name)?;
        let _ = self.shared.events.send(event);
        Ok(())
    }

    /// The object as stored now, if any (`namespace` is ignored for a cluster-scoped kind).
    pub fn get(
        &self,
        api_version: &str,
        kind: &str,
        namespace: Option<&str>,
        name: &str,
    ) -> Option<Value> {
        let state = self.shared.lock();
        let index = state.store.resource_of(api_version, kind)?;
        let namespace = if state.store.resources[index].namespaced {
            namespace.unwrap_or("default")
        } else {
            ""
        };
        state
            .store
            .current(index, &(namespace.to_string(), name.to_string()))
            .cloned()
    }

    /// The current resourceVersion of the store.
    pub fn resource_version(&self) -> u64 {
        self.shared.lock().store.rv
    }

    /// Compacts the history: lists and watches from an older resourceVersion get `410`.
    pub fn compact(&self) {
        self.shared.lock().store.compact();
    }

    pub fn add_fault(&self, fault: Fault) {
        self.shared.lock().faults.push(fault);
    }

    pub fn clear_faults(&self) {
        self.shared.lock().faults.clear();
    }

    /// Every request so far, as `GET /path?query`.
    pub fn requests(&self) -> Vec<String> {
        self.shared.lock().requests.clone()
    }
}

fn b64(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    encode_b64(bytes, A, true)
}

fn b64url(bytes: &[u8]) -> String {
    const A: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    encode_b64(bytes, A, false)
}

fn encode_b64(bytes: &[u8], alphabet: &[u8; 64], pad: bool) -> String {
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = (u32::from(chunk[0]) << 16)
            | (u32::from(*chunk.get(1).unwrap_or(&0)) << 8)
            | u32::from(*chunk.get(2).unwrap_or(&0));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(alphabet[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else if pad {
                out.push('=');
            }
        }
    }
    out
}

fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    let value = |c: u8| -> Option<u32> {
        Some(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' | b'+' => 62,
            b'_' | b'/' => 63,
            _ => return None,
        } as u32)
    };
    let text = text.trim_end_matches('=');
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        if chunk.len() == 1 {
            return None;
        }
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c)? << (18 - 6 * i);
        }
        for i in 0..chunk.len() - 1 {
            out.push((n >> (16 - 8 * i)) as u8);
        }
    }
    Some(out)
}

struct Tls {
    server_config: rustls::ServerConfig,
    ca_pem: String,
}

/// A CA and a serving certificate for `localhost` and `127.0.0.1` signed by it.
fn generate_tls() -> Result<Tls, Error> {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, Issuer, KeyPair};
    let tls = |e: rcgen::Error| Error::Tls(e.to_string());
    let mut ca = CertificateParams::new(Vec::<String>::new()).map_err(tls)?;
    ca.is_ca = IsCa::Ca(BasicConstraints::Constrained(0));
    ca.distinguished_name
        .push(DnType::CommonName, "kubevigil-testapi-ca");
    let ca_key = KeyPair::generate().map_err(tls)?;
    let ca_cert = ca.self_signed(&ca_key).map_err(tls)?;
    let issuer = Issuer::new(ca, ca_key);
    let mut leaf = CertificateParams::new(vec!["localhost".to_string(), "127.0.0.1".to_string()])
        .map_err(tls)?;
    leaf.distinguished_name
        .push(DnType::CommonName, "localhost");
    let key = KeyPair::generate().map_err(tls)?;
    let cert = leaf.signed_by(&key, &issuer).map_err(tls)?;
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Error::Tls(e.to_string()))?
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivateKeyDer::Pkcs8(key.serialize_der().into()),
        )
        .map_err(|e| Error::Tls(e.to_string()))?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(Tls {
        server_config: config,
        ca_pem: ca_cert.pem(),
    })
}

async fn serve(
    listener: std::net::TcpListener,
    acceptor: tokio_rustls::TlsAcceptor,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let listener = tokio::net::TcpListener::from_std(listener).expect("tokio listener");
    loop {
        let (stream, _) = tokio::select! {
            _ = &mut stop => return,
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(_) => continue,
            },
        };
        // As kube-apiserver (Go's net package sets TCP_NODELAY on every connection): without
        // it, a watch event's small write waits for the client's delayed ACK.
        let _ = stream.set_nodelay(true);
        let acceptor = acceptor.clone();
        let shared = shared.clone();
        tokio::spawn(async move {
            let Ok(tls) = acceptor.accept(stream).await else {
                return;
            };
            let svc = hyper::service::service_fn(move |req: Request<hyper::body::Incoming>| {
                let shared = shared.clone();
                async move {
                    if req.method() == hyper::Method::PATCH || req.method() == hyper::Method::DELETE
                    {
                        return Ok::<_, Infallible>(handle_write(&shared, req).await);
                    }
                    Ok::<_, Infallible>(handle(&shared, req))
                }
            });
            let _ = hyper::server::conn::http1::Builder::new()
                .serve_connection(hyper_util::rt::TokioIo::new(tls), svc)
                .await;
        });
    }
}

/// A `metav1.Status` failure response.
fn status(code: u16, reason: &str, message: &str, details: Option<Value>) -> Response<Body> {
    let mut body = json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Failure",
        "message": message,
        "reason": reason,
        "code": code,
    });
    if let Some(d) = details {
        body["details"] = d;
    }
    json_response(
        StatusCode::from_u16(code).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
        &body,
    )
}

fn json_response(code: StatusCode, body: &Value) -> Response<Body> {
    Response::builder()
        .status(code)
        .header("Content-Type", "application/json")
        .body(Body::from(serde_json::to_vec(body).expect("JSON")))
        .expect("response")
}

fn not_found() -> Response<Body> {
    status(
        404,
        "NotFound",
        "the server could not find the requested resource",
        Some(json!({})),
    )
}

/// What the client accepts: full objects, metadata only, or nothing we serve (Table only).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Accept {
    Full,
    Metadata,
    Unsupported,
}

/// Parses `Accept` as the API server's content negotiation does for the JSON serializer: the
/// first media type it can serve wins (`as=Table` is not served here; a client that asks for it
/// lists `application/json` after it).
fn accept_of(header: Option<&str>, list: bool) -> Accept {
    let Some(header) = header.filter(|h| !h.trim().is_empty()) else {
        return Accept::Full;
    };
    let wanted_as = if list {
        "PartialObjectMetadataList"
    } else {
        "PartialObjectMetadata"
    };
    for media in header.split(',') {
        let mut parts = media.split(';').map(str::trim);
        let mime = parts.next().unwrap_or("");
        if !matches!(mime, "application/json" | "*/*" | "application/*") {
            continue;
        }
        let params: BTreeMap<&str, &str> = parts
            .filter_map(|p| p.split_once('='))
            .map(|(k, v)| (k.trim(), v.trim()))
            .filter(|(k, _)| *k != "q")
            .collect();
        match params.get("as") {
            None => return Accept::Full,
            Some(a)
                if *a == wanted_as
                    && params.get("g") == Some(&"meta.k8s.io")
                    && params.get("v") == Some(&"v1") =>
            {
                return Accept::Metadata;
            }
            Some(_) => continue,
        }
    }
    Accept::Unsupported
}

#[derive(Debug, Default)]
struct Params {
    map: BTreeMap<String, String>,
}

impl Params {
    fn parse(query: Option<&str>) -> Params {
        let mut map = BTreeMap::new();
        for pair in query.unwrap_or("").split('&').filter(|p| !p.is_empty()) {
            let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
            map.insert(percent_decode(k), percent_decode(v));
        }
        Params { map }
    }

    fn get(&self, key: &str) -> Option<&str> {
        self.map
            .get(key)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    fn flag(&self, key: &str) -> bool {
        matches!(self.get(key), Some("true" | "1"))
    }
}

fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => out.push(b' '),
            b'%' if i + 2 < bytes.len() => {
                match std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok())
                {
                    Some(b) => {
                        out.push(b);
                        i += 2;
                    }
                    None => out.push(b'%'),
                }
            }
            b => out.push(b),
        }
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Records the request; `Some(401)` when it does not carry the token.
fn admit<B>(shared: &Shared, req: &Request<B>) -> Option<Response<Body>> {
    let path = req.uri().path();
    {
        let mut state = shared.lock();
        let line = match req.uri().query() {
            Some(q) => format!("{} {path}?{q}", req.method()),
            None => format!("{} {path}", req.method()),
        };
        state.requests.push(line);
    }
    if let Some(token) = &shared.token {
        let given = req
            .headers()
            .get("authorization")
            .and_then(|v| v.to_str().ok());
        if given != Some(format!("Bearer {token}").as_str()) {
            return Some(status(401, "Unauthorized", "Unauthorized", None));
        }
    }
    None
}

/// Largest body a write takes (kube-apiserver's limit is 3 MiB).
const MAX_WRITE_BODY: usize = 3 << 20;

/// `PATCH` as server-side apply (`application/apply-patch+yaml`, JSON body, `fieldManager`
/// required) and `DELETE`, on one object. Apply here gives the applier every field: exact for a
/// single field manager applying with `force`, which is how kubevigil writes (managed fields
/// are not tracked).
async fn handle_write(shared: &Shared, req: Request<hyper::body::Incoming>) -> Response<Body> {
    use http_body_util::BodyExt;
    if let Some(denied) = admit(shared, &req) {
        return denied;
    }
    let (parts, body) = req.into_parts();
    let body = match http_body_util::Limited::new(body, MAX_WRITE_BODY)
        .collect()
        .await
    {
        Ok(b) => b.to_bytes(),
        Err(_) => {
            return status(
                413,
                "RequestEntityTooLarge",
                "the request body is too large",
                None,
            );
        }
    };
    let params = Params::parse(parts.uri.query());
    let segs: Vec<&str> = parts
        .uri
        .path()
        .split('/')
        .filter(|s| !s.is_empty())
        .collect();
    let (group, version, rest) = match segs.as_slice() {
        ["api", version, rest @ ..] => ("", *version, rest),
        ["apis", group, version, rest @ ..] => (*group, *version, rest),
        _ => return not_found(),
    };
    let (namespace, plural, name) = match rest {
        [plural, name] => ("", *plural, *name),
        ["namespaces", ns, plural, name] => (*ns, *plural, *name),
        _ => {
            return status(
                405,
                "MethodNotAllowed",
                "the server does not allow this method on the requested resource",
                Some(json!({})),
            );
        }
    };
    let mut state = shared.lock();
    let Some(index) = state.store.find(group, version, plural) else {
        return not_found();
    };
    let resource = state.store.resources[index].clone();
    if resource.namespaced == namespace.is_empty() {
        return not_found();
    }
    let key = (namespace.to_string(), name.to_string());
    let api_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    if parts.method == hyper::Method::DELETE {
        return match state
            .store
            .delete(&api_version, &resource.kind, Some(namespace), name)
        {
            Ok(event) => {
                let gone = event.object.clone();
                let _ = shared.events.send(event);
                json_response(StatusCode::OK, &gone)
            }
            Err(_) => status(
                404,
                "NotFound",
                &format!("{plural} \"{name}\" not found"),
                Some(json!({"name": name, "kind": plural})),
            ),
        };
    }
    let content_type = parts
        .headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    if content_type.split(';').next().map(str::trim) != Some("application/apply-patch+yaml") {
        return status(
            415,
            "UnsupportedMediaType",
            &format!(
                "the body of the request was in an unknown format - accepted media types include: application/apply-patch+yaml (this test server applies only); got {content_type:?}"
            ),
            None,
        );
    }
    if params.get("fieldManager").is_none_or(str::is_empty) {
        return status(
            422,
            "Invalid",
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
            None,
        );
    }
    let mut object: Value = match serde_json::from_slice(&body) {
        Ok(Value::Object(o)) => Value::Object(o),
        _ => {
            return status(
                400,
                "BadRequest",
                "the body must be one JSON object (this test server reads apply patches as JSON)",
                None,
            );
        }
    };
    let same = |field: &str, want: &str| object.get(field).and_then(Value::as_str) == Some(want);
    if !same("apiVersion", &api_version) || !same("kind", &resource.kind) {
        return status(
            400,
            "BadRequest",
            &format!(
                "the object's apiVersion and kind must be {api_version} {}",
                resource.kind
            ),
            None,
        );
    }
    let meta = object.get("metadata");
    let meta_name = meta.and_then(|m| m.get("name")).and_then(Value::as_str);
    let meta_ns = meta
        .and_then(|m| m.get("namespace"))
        .and_then(Value::as_str);
    if meta_name != Some(name) || meta_ns.is_some_and(|ns| ns != namespace) {
        return status(
            400,
            "BadRequest",
            "the name and namespace of the object do not match the request's",
            None,
        );
    }
    if !namespace.is_empty() {
        object["metadata"]["namespace"] = Value::String(namespace.to_string());
    }
    let created = state.store.current(index, &key).is_none();
    match state.store.write(object, false) {
        Ok(event) => {
            let stored = event.object.clone();
            let _ = shared.events.send(event);
            let code = if created {
                StatusCode::CREATED
            } else {
                StatusCode::OK
            };
            json_response(code, &stored)
        }
        Err(e) => status(400, "BadRequest", &e.to_string(), None),
    }
}

fn handle(shared: &Shared, req: Request<hyper::body::Incoming>) -> Response<Body> {
    if let Some(denied) = admit(shared, &req) {
        return denied;
    }
    let path = req.uri().path().to_string();
    let query = req.uri().query().map(str::to_string);
    if req.method() != hyper::Method::GET {
        return status(
            405,
            "MethodNotAllowed",
            "the server does not allow this method on the requested resource",
            Some(json!({})),
        );
    }
    let accept = req
        .headers()
        .get("accept")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let params = Params::parse(query.as_deref());
    let segs: Vec<&str> = path.split('/').filter(|s| !s.is_empty()).collect();
    match segs.as_slice() {
        ["version"] => json_response(
            StatusCode::OK,
            &json!({
                "major": "1", "minor": "34", "gitVersion": "v1.34.0",
                "gitCommit": "0000000000000000000000000000000000000000",
                "gitTreeState": "clean", "buildDate": "2026-01-01T00:00:00Z",
                "goVersion": "go1.24.0", "compiler": "gc", "platform": "linux/amd64"
            }),
        ),
        ["api"] => json_response(
            StatusCode::OK,
            &json!({
                "kind": "APIVersions",
                "versions": ["v1"],
                "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": ""}]
            }),
        ),
        ["apis"] => {
            let state = shared.lock();
            let groups: Vec<Value> = groups(&state.store.resources)
                .into_iter()
                .map(|(g, versions)| group_doc(&g, &versions))
                .collect();
            json_response(
                StatusCode::OK,
                &json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups}),
            )
        }
        ["apis", group] => {
            let state = shared.lock();
            match groups(&state.store.resources)
                .into_iter()
                .find(|(g, _)| g == group)
            {
                Some((g, versions)) => {
                    let mut doc = group_doc(&g, &versions);
                    doc["kind"] = json!("APIGroup");
                    doc["apiVersion"] = json!("v1");
                    json_response(StatusCode::OK, &doc)
                }
                None => not_found(),
            }
        }
        ["api", version] => resource_list(shared, "", version),
        ["apis", group, version] => resource_list(shared, group, version),
        ["api", "v1", "namespaces", ns, "pods", pod, "log"] => pod_log(shared, ns, pod, &params),
        ["api", version, rest @ ..] => {
            resource_request(shared, "", version, rest, &params, accept.as_deref())
        }
        ["apis", group, version, rest @ ..] => {
            resource_request(shared, group, version, rest, &params, accept.as_deref())
        }
        _ => not_found(),
    }
}

/// `GET .../pods/NAME/log` (core/v1 `PodLogOptions`: `container`, `follow`, `timestamps`,
/// `sinceTime`): the lines a test appended, from `sinceTime` on (inclusive, as the kubelet
/// reads it), each `TIME message` with `timestamps`; with `follow`, then every line appended
/// until [`TestApi::cut_log_streams`]. 404 for a pod that does not exist, 400 for a container it
/// does not have, or without `container` when it has several (the API server's messages).
fn pod_log(shared: &Shared, ns: &str, pod: &str, params: &Params) -> Response<Body> {
    let state = shared.lock();
    let Some(index) = state.store.resource_of("v1", "Pod") else {
        return not_found();
    };
    let Some(object) = state
        .store
        .current(index, &(ns.to_string(), pod.to_string()))
    else {
        return status(404, "NotFound", &format!("pods \"{pod}\" not found"), None);
    };
    let containers: Vec<String> = object["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| c["name"].as_str().map(str::to_string))
        .collect();
    let container = match params.get("container") {
        Some(c) if containers.iter().any(|n| n == c) => c.to_string(),
        Some(c) => {
            return status(
                400,
                "BadRequest",
                &format!("container {c} is not valid for pod {pod}"),
                None,
            );
        }
        None if containers.len() == 1 => containers[0].clone(),
        None => {
            return status(
                400,
                "BadRequest",
                &format!(
                    "a container name must be specified for pod {pod}, choose one of: [{}]",
                    containers.join(" ")
                ),
                None,
            );
        }
    };
    let since = params
        .get("sinceTime")
        .and_then(kubevigil_model::time::parse_rfc3339_micros);
    let timestamps = params.flag("timestamps");
    let render = move |time: &str, message: &str| -> Option<Bytes> {
        let t = kubevigil_model::time::parse_rfc3339_micros(time).unwrap_or(0);
        if since.is_some_and(|s| t < s) {
            return None;
        }
        Some(Bytes::from(if timestamps {
            format!("{time} {message}\n")
        } else {
            format!("{message}\n")
        }))
    };
    let key = (ns.to_string(), pod.to_string(), container);
    let past: Vec<Bytes> = state
        .logs
        .get(&key)
        .into_iter()
        .flatten()
        .filter_map(|(t, m)| render(t, m))
        .collect();
    let response = |body: Body| {
        Response::builder()
            .status(StatusCode::OK)
            .header("Content-Type", "text/plain")
            .body(body)
            .expect("response")
    };
    if !params.flag("follow") {
        return response(Body::from(past.concat()));
    }
    let mut news = shared.logs.subscribe();
    drop(state);
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    tokio::spawn(async move {
        for b in past {
            if tx.send(b).await.is_err() {
                return;
            }
        }
        loop {
            match news.recv().await {
                Ok(LogNews::Line {
                    key: k,
                    time,
                    message,
                }) if k == key => {
                    if let Some(b) = render(&time, &message)
                        && tx.send(b).await.is_err()
                    {
                        return;
                    }
                }
                Ok(LogNews::Line { .. }) | Err(broadcast::error::RecvError::Lagged(_)) => {}
                Ok(LogNews::Cut) | Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
    let stream = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    response(Body::from_stream(stream))
}

/// Groups (not the core group) in the order their resources are served, with their versions.
fn groups(resources: &[Resource]) -> Vec<(String, Vec<String>)> {
    let mut out: Vec<(String, Vec<String>)> = Vec::new();
    for r in resources.iter().filter(|r| !r.group.is_empty()) {
        match out.iter_mut().find(|(g, _)| *g == r.group) {
            Some((_, versions)) => {
                if !versions.contains(&r.version) {
                    versions.push(r.version.clone());
                }
            }
            None => out.push((r.group.clone(), vec![r.version.clone()])),
        }
    }
    out
}

fn group_doc(group: &str, versions: &[String]) -> Value {
    let vs: Vec<Value> = versions
        .iter()
        .map(|v| json!({"groupVersion": format!("{group}/{v}"), "version": v}))
        .collect();
    json!({"name": group, "versions": vs, "preferredVersion": vs[0]})
}

fn resource_list(shared: &Shared, group: &str, version: &str) -> Response<Body> {
    let state = shared.lock();
    let resources: Vec<Value> = state
        .store
        .resources
        .iter()
        .filter(|r| r.group == group && r.version == version)
        .map(|r| {
            json!({
                "name": r.plural,
                "singularName": r.kind.to_lowercase(),
                "namespaced": r.namespaced,
                "kind": r.kind,
                "verbs": ["get", "list", "watch"],
                "shortNames": r.short_names,
            })
        })
        .collect();
    if resources.is_empty() {
        return not_found();
    }
    let gv = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    json_response(
        StatusCode::OK,
        &json!({"kind": "APIResourceList", "apiVersion": "v1", "groupVersion": gv, "resources": resources}),
    )
}

/// The built-in types' lists leave `apiVersion` and `kind` out of their items (the API server
/// encodes typed lists so); custom resources' lists keep them.
fn is_builtin(group: &str) -> bool {
    !group.contains('.') || group.ends_with(".k8s.io")
}

/// Takes the fault that answers this request, if any (counting it down).
fn take_fault(
    state: &mut State,
    group: &str,
    plural: &str,
    is_watch: bool,
    is_continue: bool,
) -> Option<Fault> {
    let i = state.faults.iter().position(|f| {
        f.group == group
            && f.plural == plural
            && match f.on {
                FaultOn::Every => true,
                FaultOn::ContinuePages => is_continue && !is_watch,
                FaultOn::Watch => is_watch,
            }
    })?;
    let fault = state.faults[i].clone();
    if let Some(n) = &mut state.faults[i].times {
        *n -= 1;
        if *n == 0 {
            state.faults.remove(i);
        }
    }
    Some(fault)
}

fn fault_response(fault: &Fault, resource: &Resource, namespace: Option<&str>) -> Response<Body> {
    let plural = &resource.plural;
    let gr_group = &resource.group;
    let mut response = match fault.code {
        403 => {
            let scope = match namespace {
                Some(ns) => format!("in the namespace \"{ns}\""),
                None => "at the cluster scope".to_string(),
            };
            status(
                403,
                "Forbidden",
                &format!(
                    "{plural} is forbidden: User \"system:serviceaccount:test:reader\" cannot list resource \"{plural}\" in API group \"{gr_group}\" {scope}"
                ),
                Some(json!({"kind": plural, "group": gr_group})),
            )
        }
        410 => status(
            410,
            "Expired",
            "The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.",
            None,
        ),
        429 => status(
            429,
            "TooManyRequests",
            "Too many requests, please try again later.",
            Some(json!({"retryAfterSeconds": fault.retry_after.unwrap_or(1)})),
        ),
        503 => status(
            503,
            "ServiceUnavailable",
            "the server is currently unable to handle the request",
            fault.retry_after.map(|s| json!({"retryAfterSeconds": s})),
        ),
        504 => status(
            504,
            "Timeout",
            "Timeout: request did not complete within the allowed duration",
            None,
        ),
        code => status(
            code,
            "InternalError",
            "Internal error occurred: injected fault",
            Some(json!({"causes": [{"message": "injected fault"}]})),
        ),
    };
    if let Some(s) = fault.retry_after {
        response
            .headers_mut()
            .insert("Retry-After", s.to_string().parse().expect("header"));
    }
    response
}

fn resource_request(
    shared: &Shared,
    group: &str,
    version: &str,
    rest: &[&str],
    params: &Params,
    accept: Option<&str>,
) -> Response<Body> {
    // [plural] | [plural, name] | [namespaces, ns, plural] | [namespaces, ns, plural, name]
    let (namespace, plural, name) = match rest {
        [plural] => (None, *plural, None),
        [plural, name] => (None, *plural, Some(*name)),
        ["namespaces", ns, plural] => (Some(*ns), *plural, None),
        ["namespaces", ns, plural, name] => (Some(*ns), *plural, Some(*name)),
        _ => return not_found(),
    };
    let is_watch = params.flag("watch");
    let mut state = shared.lock();
    let Some(index) = state.store.find(group, version, plural) else {
        return not_found();
    };
    let resource = state.store.resources[index].clone();
    if namespace.is_some() && !resource.namespaced {
        return not_found();
    }
    if let Some(fault) = take_fault(
        &mut state,
        group,
        plural,
        is_watch,
        params.get("continue").is_some(),
    ) {
        // The watch cache answers an expired resourceVersion with a 200 and an ERROR event.
        if is_watch && fault.code == 410 {
            let rv = params.get("resourceVersion").unwrap_or("0").to_string();
            return expired_watch(&rv, state.store.rv);
        }
        return fault_response(&fault, &resource, namespace);
    }
    let accept = accept_of(accept, name.is_none() && !is_watch);
    if accept == Accept::Unsupported {
        return status(
            406,
            "NotAcceptable",
            "only the following media types are accepted: application/json",
            None,
        );
    }
    if let Some(name) = name {
        let key = (namespace.unwrap_or("").to_string(), name.to_string());
        return match state.store.current(index, &key) {
            Some(o) => json_response(StatusCode::OK, &shape(o, &resource, accept, true)),
            None => status(
                404,
                "NotFound",
                &format!("{plural} \"{name}\" not found"),
                Some(json!({"name": name, "kind": plural})),
            ),
        };
    }
    let selector = match Selector::parse(params) {
        Ok(s) => s,
        Err(message) => return status(400, "BadRequest", &message, None),
    };
    if is_watch {
        drop(state);
        return watch(shared, index, resource, namespace, params, accept, selector);
    }
    list(
        &state, index, &resource, namespace, params, accept, &selector,
    )
}

/// The object as served: metadata only, or whole (with `apiVersion`/`kind` unless it is an item
/// of a built-in type's list).
fn shape(object: &Value, resource: &Resource, accept: Accept, with_type: bool) -> Value {
    match accept {
        Accept::Metadata => json!({
            "kind": "PartialObjectMetadata",
            "apiVersion": "meta.k8s.io/v1",
            "metadata": object.get("metadata").cloned().unwrap_or_else(|| json!({})),
        }),
        _ => {
            let mut o = object.clone();
            if !with_type
                && is_builtin(&resource.group)
                && let Some(m) = o.as_object_mut()
            {
                m.remove("apiVersion");
                m.remove("kind");
            }
            o
        }
    }
}

/// `labelSelector` (equality, inequality, existence, `in`/`notin` are not supported and are
/// refused) and `fieldSelector` on `metadata.name` and `metadata.namespace`.
#[derive(Debug, Default, Clone)]
struct Selector {
    labels: Vec<(String, Option<String>, bool)>,
    fields: Vec<(String, String, bool)>,
}

impl Selector {
    fn parse(params: &Params) -> Result<Selector, String> {
        let mut s = Selector::default();
        for term in params
            .get("labelSelector")
            .unwrap_or("")
            .split(',')
            .filter(|t| !t.is_empty())
        {
            if term.contains(" in ") || term.contains(" notin ") || term.contains('(') {
                return Err(format!(
                    "unable to parse requirement: set-based selector {term:?} is not supported by the test server"
                ));
            }
            if let Some((k, v)) = term.split_once("!=") {
                s.labels
                    .push((k.trim().into(), Some(v.trim().into()), false));
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                s.labels
                    .push((k.trim().into(), Some(v.trim().into()), true));
            } else if let Some(k) = term.strip_prefix('!') {
                s.labels.push((k.trim().into(), None, false));
            } else {
                s.labels.push((term.trim().into(), None, true));
            }
        }
        for term in params
            .get("fieldSelector")
            .unwrap_or("")
            .split(',')
            .filter(|t| !t.is_empty())
        {
            let (k, v, eq) = if let Some((k, v)) = term.split_once("!=") {
                (k, v, false)
            } else if let Some((k, v)) = term.split_once("==").or_else(|| term.split_once('=')) {
                (k, v, true)
            } else {
                return Err(format!("invalid field selector: {term:?}"));
            };
            if !matches!(k, "metadata.name" | "metadata.namespace") {
                return Err(format!("field label not supported: {k}"));
            }
            s.fields.push((k.into(), v.into(), eq));
        }
        Ok(s)
    }

    fn is_empty(&self) -> bool {
        self.labels.is_empty() && self.fields.is_empty()
    }

    fn matches(&self, object: &Value) -> bool {
        let labels = object
            .pointer("/metadata/labels")
            .and_then(Value::as_object);
        let label = |k: &str| labels.and_then(|l| l.get(k)).and_then(Value::as_str);
        let labels_ok = self.labels.iter().all(|(k, v, eq)| match (v, eq) {
            (None, true) => label(k).is_some(),
            (None, false) => label(k).is_none(),
            (Some(v), true) => label(k) == Some(v.as_str()),
            (Some(v), false) => label(k) != Some(v.as_str()),
        });
        let fields_ok = self.fields.iter().all(|(k, v, eq)| {
            let actual = match k.as_str() {
                "metadata.name" => object.pointer("/metadata/name"),
                _ => object.pointer("/metadata/namespace"),
            }
            .and_then(Value::as_str)
            .unwrap_or("");
            (actual == v) == *eq
        });
        labels_ok && fields_ok
    }
}

fn encode_continue(rv: u64, key: &Key) -> String {
    let token =
        json!({"v": "meta.k8s.io/v1", "rv": rv, "start": format!("{}/{}\u{0}", key.0, key.1)});
    b64url(token.to_string().as_bytes())
}

fn decode_continue(token: &str) -> Result<(u64, Key), String> {
    let bad = |why: &str| format!("continue key is not valid: {why}");
    let bytes = b64url_decode(token).ok_or_else(|| bad("illegal base64 data"))?;
    let v: Value = serde_json::from_slice(&bytes).map_err(|e| bad(&e.to_string()))?;
    if v.get("v").and_then(Value::as_str) != Some("meta.k8s.io/v1") {
        return Err(bad(
            "incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        ));
    }
    let rv = v
        .get("rv")
        .and_then(Value::as_u64)
        .filter(|rv| *rv > 0)
        .ok_or_else(|| bad("incorrect encoded start resourceVersion (version meta.k8s.io/v1)"))?;
    let start = v
        .get("start")
        .and_then(Value::as_str)
        .ok_or_else(|| bad("encoded start key empty"))?;
    let start = start.strip_suffix('\u{0}').unwrap_or(start);
    let (ns, name) = start
        .split_once('/')
        .ok_or_else(|| bad("encoded start key invalid"))?;
    Ok((rv, (ns.to_string(), name.to_string())))
}

fn too_old(rv: u64, current: u64) -> Response<Body> {
    status(
        410,
        "Expired",
        &format!("too old resource version: {rv} ({current})"),
        None,
    )
}

fn list(
    state: &State,
    index: usize,
    resource: &Resource,
    namespace: Option<&str>,
    params: &Params,
    accept: Accept,
    selector: &Selector,
) -> Response<Body> {
    let store = &state.store;
    let limit: usize = match params.get("limit").map(str::parse::<i64>) {
        None => 0,
        Some(Ok(n)) if n >= 0 => n as usize,
        Some(_) => {
            return status(
                400,
                "BadRequest",
                "limit must be a non-negative integer",
                None,
            );
        }
    };
    let rv_param = params.get("resourceVersion");
    let (read_rv, start) = if let Some(token) = params.get("continue") {
        if rv_param.is_some_and(|rv| rv != "0") {
            return status(
                400,
                "BadRequest",
                "specifying resource version is not allowed when using continue",
                None,
            );
        }
        let (rv, key) = match decode_continue(token) {
            Ok(t) => t,
            Err(message) => return status(400, "BadRequest", &message, None),
        };
        if rv < store.compacted {
            return fault_response(
                &Fault::status(&resource.group, &resource.plural, 410),
                resource,
                namespace,
            );
        }
        (rv, Some(key))
    } else {
        let exact = params.get("resourceVersionMatch") == Some("Exact")
            || (params.get("resourceVersionMatch").is_none() && limit > 0);
        match rv_param {
            None | Some("0") => (store.rv, None),
            Some(text) => {
                let Ok(rv) = text.parse::<u64>() else {
                    return status(
                        400,
                        "BadRequest",
                        &format!("invalid resource version: {text}"),
                        None,
                    );
                };
                if rv > store.rv {
                    return status(
                        504,
                        "Timeout",
                        "Too large resource version",
                        Some(
                            json!({"causes": [{"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}], "retryAfterSeconds": 1}),
                        ),
                    );
                }
                if exact {
                    if rv < store.compacted {
                        return too_old(rv, store.rv);
                    }
                    (rv, None)
                } else {
                    (store.rv, None)
                }
            }
        }
    };
    let bound = match &start {
        Some(k) => Bound::Excluded(k.clone()),
        None => Bound::Unbounded,
    };
    let mut items = Vec::new();
    let mut matching = store
        .list_at(index, read_rv, namespace, bound)
        .filter(|(_, o)| selector.matches(o));
    let mut last_key = None;
    for (k, o) in matching.by_ref() {
        items.push(shape(o, resource, accept, false));
        last_key = Some(k.clone());
        if limit > 0 && items.len() == limit {
            break;
        }
    }
    let mut metadata = Map::new();
    metadata.insert("resourceVersion".into(), json!(read_rv.to_string()));
    let remaining = matching.count();
    if remaining > 0 {
        let key = last_key.expect("a full page has a last key");
        metadata.insert("continue".into(), json!(encode_continue(read_rv, &key)));
        if selector.is_empty() {
            metadata.insert("remainingItemCount".into(), json!(remaining));
        }
    }
    let (kind, api_version) = match accept {
        Accept::Metadata => (
            "PartialObjectMetadataList".to_string(),
            "meta.k8s.io/v1".to_string(),
        ),
        _ => (format!("{}List", resource.kind), resource.api_version()),
    };
    json_response(
        StatusCode::OK,
        &json!({"kind": kind, "apiVersion": api_version, "metadata": metadata, "items": items}),
    )
}

fn event_line(kind: &str, object: &Value) -> Bytes {
    let mut line = serde_json::to_vec(&json!({"type": kind, "object": object})).expect("JSON");
    line.push(b'\n');
    Bytes::from(line)
}

#[allow(clippy::too_many_arguments)]
fn watch(
    shared: &Shared,
    index: usize,
    resource: Resource,
    namespace: Option<&str>,
    params: &Params,
    accept: Accept,
    selector: Selector,
) -> Response<Body> {
    let bookmarks = params.flag("allowWatchBookmarks");
    let send_initial = params.flag("sendInitialEvents");
    let timeout = params
        .get("timeoutSeconds")
        .and_then(|t| t.parse::<u64>().ok())
        .map_or(Duration::from_secs(1800), Duration::from_secs);
    let rv_param = params.get("resourceVersion");
    if send_initial && !(bookmarks && params.get("resourceVersionMatch") == Some("NotOlderThan")) {
        return status(
            422,
            "Invalid",
            "sendInitialEvents requires allowWatchBookmarks=true and resourceVersionMatch=NotOlderThan",
            None,
        );
    }
    let namespace = namespace.map(str::to_string);
    let matches = {
        let resource_index = index;
        let namespace = namespace.clone();
        move |resource: usize, object: &Value| {
            resource == resource_index
                && namespace.as_deref().is_none_or(|ns| {
                    object
                        .pointer("/metadata/namespace")
                        .and_then(Value::as_str)
                        == Some(ns)
                })
                && selector.matches(object)
        }
    };
    let (tx, rx) = mpsc::channel::<Bytes>(256);
    let mut pending: Vec<Bytes> = Vec::new();
    let (mut live, mut last_rv) = {
        let state = shared.lock();
        let store = &state.store;
        let live = shared.events.subscribe();
        let from = match rv_param {
            None | Some("0") => None,
            Some(text) => match text.parse::<u64>() {
                Ok(rv) => Some(rv),
                Err(_) => {
                    return status(
                        400,
                        "BadRequest",
                        &format!("invalid resource version: {text}"),
                        None,
                    );
                }
            },
        };
        match from {
            Some(rv) if !send_initial => {
                if rv < store.compacted {
                    // The watch cache answers an expired version with an ERROR event.
                    return expired_watch(&rv.to_string(), store.compacted);
                } else {
                    for e in store
                        .events
                        .iter()
                        .filter(|e| e.rv > rv && matches(e.resource, &e.object))
                    {
                        pending.push(event_line(
                            e.kind,
                            &shape(&e.object, &resource, accept, true),
                        ));
                    }
                }
            }
            _ => {
                let ns = namespace.as_deref();
                for (_, o) in store.list_at(index, store.rv, ns, Bound::Unbounded) {
                    if matches(index, o) {
                        pending.push(event_line("ADDED", &shape(o, &resource, accept, true)));
                    }
                }
                if send_initial {
                    pending.push(event_line(
                        "BOOKMARK",
                        &bookmark(&resource, accept, store.rv, true),
                    ));
                }
            }
        }
        (live, store.rv)
    };
    let interval = shared.bookmark_interval;
    tokio::spawn(async move {
        for line in pending {
            if tx.send(line).await.is_err() {
                return;
            }
        }
        let deadline = tokio::time::Instant::now() + timeout;
        let mut ticker = tokio::time::interval(interval);
        ticker.tick().await;
        loop {
            tokio::select! {
                _ = tokio::time::sleep_until(deadline) => {
                    if bookmarks {
                        let _ = tx.send(event_line("BOOKMARK", &bookmark(&resource, accept, last_rv, false))).await;
                    }
                    return;
                }
                _ = ticker.tick(), if bookmarks => {
                    if tx.send(event_line("BOOKMARK", &bookmark(&resource, accept, last_rv, false))).await.is_err() {
                        return;
                    }
                }
                e = live.recv() => match e {
                    Ok(e) => {
                        if e.rv <= last_rv {
                            continue;
                        }
                        last_rv = e.rv;
                        if matches(e.resource, &e.object) && tx.send(event_line(e.kind, &shape(&e.object, &resource, accept, true))).await.is_err() {
                            return;
                        }
                    }
                    // A watcher too slow for the event stream is closed, as the watch cache
                    // closes one whose buffer is full: the client watches again.
                    Err(_) => return,
                },
                _ = tx.closed() => return,
            }
        }
    });
    let body = futures::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    watch_response(Body::from_stream(body))
}

/// A watch from a resourceVersion that is too old: `200` and one `ERROR` event holding a
/// `410 Expired` Status, as the watch cache answers (apiserver storage/cacher
/// `watchCache.getAllEventsSinceLocked`: "too old resource version").
fn expired_watch(rv: &str, oldest: u64) -> Response<Body> {
    let status = json!({
        "kind": "Status", "apiVersion": "v1", "metadata": {},
        "status": "Failure",
        "message": format!("too old resource version: {rv} ({oldest})"),
        "reason": "Expired", "code": 410,
    });
    let line = event_line("ERROR", &status);
    watch_response(Body::from_stream(futures::stream::iter([Ok::<
        _,
        Infallible,
    >(line)])))
}

fn watch_response(body: Body) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header("Content-Type", "application/json")
        .header("Transfer-Encoding", "chunked")
        .body(body)
        .expect("response")
}

/// A `BOOKMARK` event's object: only the type and `metadata.resourceVersion` (and the
/// `k8s.io/initial-events-end` annotation after the initial events of `sendInitialEvents`).
fn bookmark(resource: &Resource, accept: Accept, rv: u64, initial_end: bool) -> Value {
    let (api_version, kind) = match accept {
        Accept::Metadata => (
            "meta.k8s.io/v1".to_string(),
            "PartialObjectMetadata".to_string(),
        ),
        _ => (resource.api_version(), resource.kind.clone()),
    };
    let mut metadata = json!({"resourceVersion": rv.to_string(), "creationTimestamp": null});
    if initial_end {
        metadata["annotations"] = json!({"k8s.io/initial-events-end": "true"});
    }
    json!({"kind": kind, "apiVersion": api_version, "metadata": metadata})
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_round_trips() {
        for s in ["", "a", "ab", "abc", "abcd", "{\"v\":\"meta.k8s.io/v1\"}"] {
            assert_eq!(b64url_decode(&b64url(s.as_bytes())).unwrap(), s.as_bytes());
        }
        assert_eq!(b64(b"hello"), "aGVsbG8=");
    }

    #[test]
    fn accept_negotiation() {
        assert_eq!(accept_of(None, true), Accept::Full);
        assert_eq!(
            accept_of(
                Some("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"),
                true
            ),
            Accept::Metadata
        );
        assert_eq!(
            accept_of(
                Some("application/json;as=Table;v=v1;g=meta.k8s.io,application/json"),
                true
            ),
            Accept::Full
        );
        assert_eq!(
            accept_of(Some("application/json;as=Table;v=v1;g=meta.k8s.io"), true),
            Accept::Unsupported
        );
    }

    #[test]
    fn continue_tokens_have_the_upstream_shape() {
        let t = encode_continue(42, &("shop".into(), "web".into()));
        let decoded = String::from_utf8(b64url_decode(&t).unwrap()).unwrap();
        let v: Value = serde_json::from_str(&decoded).unwrap();
        assert_eq!(
            v,
            json!({"v": "meta.k8s.io/v1", "rv": 42, "start": "shop/web\u{0}"})
        );
        assert_eq!(
            decode_continue(&t).unwrap(),
            (42, ("shop".into(), "web".into()))
        );
        assert!(decode_continue("not-base64!").is_err());
    }
}
