//! Pulling from a registry with the OCI distribution API
//! (<https://github.com/opencontainers/distribution-spec/blob/main/spec.md>): manifests by tag
//! or digest, blobs streamed through the layer reader and hashed as they arrive; Docker's token
//! authentication (<https://distribution.github.io/distribution/spec/auth/token/>) or Basic.
//!
//! The API is blocking: a current-thread tokio runtime drives hyper, and a layer's body is read
//! frame by frame (`block_on` per frame) as the tar reader asks for bytes, so no layer is ever
//! held whole in memory.

use std::io::{self, Read};
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::{Request, Response, StatusCode, Uri, header};
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use tokio::runtime::Runtime;

use crate::auth::Auth;
use crate::digest::Digest;
use crate::manifest::{self, Parsed};
use crate::reference::Reference;
use crate::{
    Image, Limits, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, PullOptions, Select, SourceError,
};

const CONNECT_TIMEOUT: Duration = Duration::from_secs(30);
/// From a request to its response's headers.
const RESPONSE_TIMEOUT: Duration = Duration::from_secs(60);
/// Between two chunks of a body: a stalled transfer ends, a slow one does not.
const IDLE_TIMEOUT: Duration = Duration::from_secs(120);
const MAX_REDIRECTS: usize = 5;
const MAX_TOKEN_RESPONSE: u64 = 1 << 20;
/// Index levels followed down to an image manifest.
const MAX_DEPTH: usize = 4;

const ACCEPT: &str = "application/vnd.oci.image.index.v1+json, \
application/vnd.oci.image.manifest.v1+json, \
application/vnd.docker.distribution.manifest.list.v2+json, \
application/vnd.docker.distribution.manifest.v2+json";

type HttpClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Speaks to the registry of `reference` with `options`' credentials: `talk` gets the
/// registry client, the parsed reference and the runtime to block on.
fn with_registry<T>(
    reference: &str,
    options: &PullOptions,
    talk: impl FnOnce(&mut Registry<'_>, &Reference, &Runtime) -> Result<T, SourceError>,
) -> Result<T, SourceError> {
    let r = Reference::parse(reference)?;
    let host = r.api_host().to_string();
    let insecure = options
        .insecure_registries
        .iter()
        .any(|h| h.eq_ignore_ascii_case(&host) || h.eq_ignore_ascii_case(&r.registry));
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| SourceError::io("starting the HTTP runtime", e))?;
    let client = client()?;
    let mut reg = Registry {
        rt: &rt,
        client,
        base: format!("{}://{host}", if insecure { "http" } else { "https" }),
        host,
        repository: r.repository.clone(),
        insecure,
        auth: options.credentials.for_registry(&r.registry)?,
        authorization: None,
    };
    talk(&mut reg, &r, &rt)
}

/// The digest of the manifest `reference` names (an index's for a multi-platform image), from
/// one manifest request: what `pull` would report as the image's digest.
pub(crate) fn digest_of(reference: &str, options: &PullOptions) -> Result<String, SourceError> {
    with_registry(reference, options, |reg, r, _| {
        let by_digest = match &r.digest {
            Some(d) => Some(Digest::parse(d)?),
            None => None,
        };
        let (_, _, digest) = reg.manifest(r.manifest_ref(), by_digest.as_ref())?;
        Ok(digest.to_string())
    })
}

pub(crate) fn pull(
    reference: &str,
    options: &PullOptions,
    select: &Select,
) -> Result<Image, SourceError> {
    with_registry(reference, options, |reg, r, rt| {
        pull_with(reg, r, rt, reference, options, select)
    })
}

fn pull_with(
    reg: &mut Registry<'_>,
    r: &Reference,
    rt: &Runtime,
    reference: &str,
    options: &PullOptions,
    select: &Select,
) -> Result<Image, SourceError> {
    let limits = Limits {
        max_layer_bytes: options.max_layer_bytes,
        ..Limits::default()
    };

    let asked = r.manifest_ref().to_string();
    let by_digest = match &r.digest {
        Some(d) => Some(Digest::parse(d)?),
        None => None,
    };
    let (mut bytes, mut content_type, top_digest) = reg.manifest(&asked, by_digest.as_ref())?;
    let mut depth = 0;
    let (config_desc, layers, annotations) = loop {
        let what = format!("{}/{}@{asked}", r.registry, r.repository);
        match manifest::parse(&what, &bytes, content_type.as_deref())? {
            Parsed::Index(entries) => {
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err(SourceError::Unsupported(format!(
                        "indexes nested more than {MAX_DEPTH} deep"
                    )));
                }
                let chosen = manifest::choose(&entries, &options.platform)?;
                let d = chosen.digest()?;
                (bytes, content_type, _) = reg.manifest(&d.to_string(), Some(&d))?;
            }
            Parsed::Manifest {
                config,
                layers,
                annotations,
            } => break (config, layers, annotations),
        }
    };

    let config_digest = config_desc.digest()?;
    if config_desc.size()?.is_some_and(|s| s > MAX_CONFIG_BYTES) {
        return Err(SourceError::TooLarge {
            what: format!("config {config_digest}"),
            limit: MAX_CONFIG_BYTES,
        });
    }
    let resp = reg.blob(&config_digest)?;
    let config_bytes =
        reg.read_small(resp, MAX_CONFIG_BYTES, &format!("config {config_digest}"))?;
    config_digest.verify(&format!("config {config_digest}"), &config_bytes)?;
    let config = manifest::parse_config(
        &format!("config {config_digest}"),
        &config_bytes,
        &annotations,
    )?;

    let mut image = Image {
        target: reference.to_string(),
        digest: Some(top_digest.to_string()),
        config: Some(config),
        layers: Vec::new(),
        tree: kubevigil_image::tree::Tree::new(),
        errors: Vec::new(),
    };
    for l in &layers {
        let d = l.digest()?;
        // Checked before the download: a layer type that cannot be read is not fetched.
        if !crate::layer::supported_layer_type(&l.media_type) {
            return Err(SourceError::Unsupported(format!(
                "layer {d}: media type {}",
                l.media_type
            )));
        }
        let resp = reg.blob(&d)?;
        let body = BodyReader {
            rt,
            body: resp.into_body(),
            chunk: Bytes::new(),
        };
        crate::layer::apply_descriptor(&mut image, l, body, select, &limits)?;
    }
    Ok(image)
}

fn client() -> Result<HttpClient, SourceError> {
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let builder = match hyper_rustls::HttpsConnectorBuilder::new()
        .with_provider_and_native_roots(provider.clone())
    {
        Ok(b) => b,
        // No CA certificates on this machine: plain-HTTP registries still work, HTTPS fails
        // verification with a clear error.
        Err(_) => {
            let config = rustls::ClientConfig::builder_with_provider(provider)
                .with_safe_default_protocol_versions()
                .map_err(|e| SourceError::Registry {
                    registry: "-".into(),
                    reason: format!("TLS: {e}"),
                })?
                .with_root_certificates(rustls::RootCertStore::empty())
                .with_no_client_auth();
            hyper_rustls::HttpsConnectorBuilder::new().with_tls_config(config)
        }
    };
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    http.set_connect_timeout(Some(CONNECT_TIMEOUT));
    let connector = builder.https_or_http().enable_http1().wrap_connector(http);
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}

struct Registry<'a> {
    rt: &'a Runtime,
    client: HttpClient,
    /// `https://host[:port]`
    base: String,
    host: String,
    repository: String,
    insecure: bool,
    auth: Option<Auth>,
    /// The `Authorization` value earned by the last challenge (a bearer token, or Basic).
    authorization: Option<String>,
}

fn origin(uri: &Uri) -> String {
    format!(
        "{}://{}",
        uri.scheme_str().unwrap_or(""),
        uri.authority().map_or("", |a| a.as_str())
    )
}

impl Registry<'_> {
    fn err(&self, reason: impl Into<String>) -> SourceError {
        SourceError::Registry {
            registry: self.host.clone(),
            reason: reason.into(),
        }
    }

    fn unauthorized(&self) -> SourceError {
        SourceError::Unauthorized {
            registry: self.host.clone(),
            repository: self.repository.clone(),
            had_credentials: self.auth.is_some(),
        }
    }

    fn request(
        &self,
        method: hyper::Method,
        uri: &Uri,
        headers: &[(header::HeaderName, String)],
        body: Bytes,
    ) -> Result<Response<Incoming>, SourceError> {
        let mut req = Request::builder().method(method).uri(uri.clone()).header(
            header::USER_AGENT,
            concat!("kubevigil/", env!("CARGO_PKG_VERSION")),
        );
        for (k, v) in headers {
            req = req.header(k, v);
        }
        let req = req
            .body(Full::new(body))
            .map_err(|e| self.err(format!("request: {e}")))?;
        let host = uri.authority().map_or("", |a| a.as_str()).to_string();
        match self.rt.block_on(async {
            tokio::time::timeout(RESPONSE_TIMEOUT, self.client.request(req)).await
        }) {
            Ok(Ok(resp)) => Ok(resp),
            Ok(Err(e)) => {
                // The error chain (connection refused, certificate invalid) says why.
                let mut reason = e.to_string();
                let mut src = std::error::Error::source(&e);
                while let Some(s) = src {
                    reason.push_str(": ");
                    reason.push_str(&s.to_string());
                    src = s.source();
                }
                Err(self.err(format!("{host}: {reason}")))
            }
            Err(_) => Err(self.err(format!(
                "{host}: no response within {}s",
                RESPONSE_TIMEOUT.as_secs()
            ))),
        }
    }

    /// GET `path` on the registry, answering its authentication challenge once and following
    /// redirects (the registry's `Authorization` is sent to the registry only).
    fn get(&mut self, path: &str, accept: Option<&str>) -> Result<Response<Incoming>, SourceError> {
        let mut uri: Uri = format!("{}{path}", self.base)
            .parse()
            .map_err(|e| self.err(format!("URL: {e}")))?;
        let registry_origin = origin(&uri);
        let mut challenged = false;
        let mut redirects = 0;
        loop {
            let to_registry = origin(&uri) == registry_origin;
            let mut headers = Vec::new();
            if let Some(a) = accept {
                headers.push((header::ACCEPT, a.to_string()));
            }
            if let (true, Some(a)) = (to_registry, &self.authorization) {
                headers.push((header::AUTHORIZATION, a.clone()));
            }
            let resp = self.request(hyper::Method::GET, &uri, &headers, Bytes::new())?;
            match resp.status() {
                StatusCode::UNAUTHORIZED if to_registry && !challenged => {
                    challenged = true;
                    self.answer_challenge(&resp)?;
                }
                StatusCode::UNAUTHORIZED => return Err(self.unauthorized()),
                s if s.is_redirection() && s != StatusCode::NOT_MODIFIED => {
                    redirects += 1;
                    if redirects > MAX_REDIRECTS {
                        return Err(self.err(format!("more than {MAX_REDIRECTS} redirects")));
                    }
                    let location = resp
                        .headers()
                        .get(header::LOCATION)
                        .and_then(|v| v.to_str().ok())
                        .ok_or_else(|| self.err(format!("{s} without a Location")))?;
                    let next = resolve(&uri, location)
                        .ok_or_else(|| self.err(format!("{s} to an invalid Location")))?;
                    if next.scheme_str() == Some("http") && uri.scheme_str() == Some("https") {
                        return Err(self.err("redirected from HTTPS to plain HTTP"));
                    }
                    uri = next;
                }
                _ => return Ok(resp),
            }
        }
    }

    fn answer_challenge(&mut self, resp: &Response<Incoming>) -> Result<(), SourceError> {
        let challenges: Vec<Challenge> = resp
            .headers()
            .get_all(header::WWW_AUTHENTICATE)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .filter_map(parse_challenge)
            .collect();
        if let Some(bearer) = challenges
            .iter()
            .find(|c| c.scheme.eq_ignore_ascii_case("bearer"))
        {
            let token = self.fetch_token(bearer)?;
            self.authorization = Some(format!("Bearer {token}"));
            return Ok(());
        }
        if challenges
            .iter()
            .any(|c| c.scheme.eq_ignore_ascii_case("basic"))
        {
            return match &self.auth {
                Some(Auth::Basic { username, password }) => {
                    let b64 = base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"));
                    self.authorization = Some(format!("Basic {b64}"));
                    Ok(())
                }
                _ => Err(self.unauthorized()),
            };
        }
        Err(self.unauthorized())
    }

    /// Docker's token flow: GET the realm with `service` and `scope` (Basic credentials when
    /// there are some), or for an identity token the OAuth2 refresh-token POST.
    fn fetch_token(&self, c: &Challenge) -> Result<String, SourceError> {
        let realm = c
            .param("realm")
            .ok_or_else(|| self.err("Bearer challenge without a realm"))?;
        let realm_uri: Uri = realm
            .parse()
            .map_err(|_| self.err("Bearer challenge with an invalid realm"))?;
        // Credentials go to the realm: never in clear text unless the registry itself is
        // spoken to in clear text.
        match realm_uri.scheme_str() {
            Some("https") => {}
            Some("http") if self.insecure => {}
            _ => {
                return Err(self.err(format!("token realm {} is not HTTPS", origin(&realm_uri))));
            }
        }
        let scope = c
            .param("scope")
            .map(str::to_string)
            .unwrap_or_else(|| format!("repository:{}:pull", self.repository));
        let mut query = Vec::new();
        if let Some(s) = c.param("service") {
            query.push(("service", s.to_string()));
        }
        query.push(("scope", scope));
        let resp = match &self.auth {
            Some(Auth::IdentityToken { token, .. }) => {
                query.push(("grant_type", "refresh_token".into()));
                query.push(("client_id", "kubevigil".into()));
                query.push(("refresh_token", token.clone()));
                let form = encode_query(&query);
                self.request(
                    hyper::Method::POST,
                    &realm_uri,
                    &[(
                        header::CONTENT_TYPE,
                        "application/x-www-form-urlencoded".to_string(),
                    )],
                    Bytes::from(form),
                )?
            }
            auth => {
                let sep = if realm.contains('?') { '&' } else { '?' };
                let uri: Uri = format!("{realm}{sep}{}", encode_query(&query))
                    .parse()
                    .map_err(|_| self.err("Bearer challenge with an invalid realm"))?;
                let mut headers = Vec::new();
                if let Some(Auth::Basic { username, password }) = auth {
                    let b64 = base64::engine::general_purpose::STANDARD
                        .encode(format!("{username}:{password}"));
                    headers.push((header::AUTHORIZATION, format!("Basic {b64}")));
                }
                self.request(hyper::Method::GET, &uri, &headers, Bytes::new())?
            }
        };
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return Err(self.unauthorized());
        }
        // The token endpoint's body is never quoted in an error: it may hold secrets.
        if !status.is_success() {
            return Err(self.err(format!("token endpoint answered {status}")));
        }
        let body = self.read_small(resp, MAX_TOKEN_RESPONSE, "token response")?;
        let v: serde_json::Value = serde_json::from_slice(&body)
            .map_err(|_| self.err("token endpoint answered something that is not JSON"))?;
        v.get("token")
            .or_else(|| v.get("access_token"))
            .and_then(|t| t.as_str())
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .ok_or_else(|| self.err("token endpoint answered without a token"))
    }

    /// An error for a non-success status, quoting the registry's error codes
    /// (spec.md#error-codes), which carry no secrets.
    fn status_error(&self, resp: Response<Incoming>, what: &str) -> SourceError {
        let status = resp.status();
        if status == StatusCode::UNAUTHORIZED || status == StatusCode::FORBIDDEN {
            return self.unauthorized();
        }
        let detail = self
            .read_small(resp, 64 << 10, what)
            .ok()
            .and_then(|b| serde_json::from_slice::<serde_json::Value>(&b).ok())
            .and_then(|v| {
                let errors = v.get("errors")?.as_array()?.clone();
                Some(
                    errors
                        .iter()
                        .map(|e| {
                            format!(
                                "{} {}",
                                e.get("code").and_then(|c| c.as_str()).unwrap_or(""),
                                e.get("message").and_then(|c| c.as_str()).unwrap_or("")
                            )
                        })
                        .collect::<Vec<_>>()
                        .join("; "),
                )
            })
            .map(|d| format!(" ({})", d.chars().take(300).collect::<String>()))
            .unwrap_or_default();
        if status == StatusCode::NOT_FOUND {
            return SourceError::NotFound(format!(
                "registry {}: {what} not found{detail}",
                self.host
            ));
        }
        self.err(format!("{what}: {status}{detail}"))
    }

    /// The manifest named by `reference` (tag or digest): its bytes, media type and digest
    /// (verified against `expected`).
    fn manifest(
        &mut self,
        reference: &str,
        expected: Option<&Digest>,
    ) -> Result<(Vec<u8>, Option<String>, Digest), SourceError> {
        let what = format!("manifest {}:{reference}", self.repository);
        let resp = self.get(
            &format!("/v2/{}/manifests/{reference}", self.repository),
            Some(ACCEPT),
        )?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp, &what));
        }
        let content_type = resp
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(|v| v.split(';').next().unwrap_or("").trim().to_string());
        let bytes = self.read_small(resp, MAX_MANIFEST_BYTES, &what)?;
        let digest = match expected {
            Some(d) => {
                let mut h = d.hasher();
                h.update(&bytes);
                let actual = h.finish();
                d.check(&what, actual.clone())?;
                actual
            }
            None => Digest::of(&bytes),
        };
        Ok((bytes, content_type, digest))
    }

    fn blob(&mut self, digest: &Digest) -> Result<Response<Incoming>, SourceError> {
        let resp = self.get(&format!("/v2/{}/blobs/{digest}", self.repository), None)?;
        if !resp.status().is_success() {
            return Err(self.status_error(resp, &format!("blob {digest}")));
        }
        Ok(resp)
    }

    fn read_small(
        &self,
        resp: Response<Incoming>,
        cap: u64,
        what: &str,
    ) -> Result<Vec<u8>, SourceError> {
        let reader = BodyReader {
            rt: self.rt,
            body: resp.into_body(),
            chunk: Bytes::new(),
        };
        crate::digest::read_capped(reader, what, cap)
    }
}

/// A response body as a blocking reader: each frame is awaited on the runtime when the reader
/// runs dry.
struct BodyReader<'a> {
    rt: &'a Runtime,
    body: Incoming,
    chunk: Bytes,
}

impl Read for BodyReader<'_> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        while self.chunk.is_empty() {
            let frame = self
                .rt
                .block_on(async { tokio::time::timeout(IDLE_TIMEOUT, self.body.frame()).await })
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no data for {}s", IDLE_TIMEOUT.as_secs()),
                    )
                })?;
            match frame {
                None => return Ok(0),
                Some(Err(e)) => return Err(io::Error::other(e)),
                Some(Ok(f)) => {
                    if let Ok(data) = f.into_data() {
                        self.chunk = data;
                    }
                }
            }
        }
        let n = buf.len().min(self.chunk.len());
        buf[..n].copy_from_slice(&self.chunk.split_to(n));
        Ok(n)
    }
}

fn resolve(base: &Uri, location: &str) -> Option<Uri> {
    if location.starts_with("http://") || location.starts_with("https://") {
        return location.parse().ok();
    }
    if location.starts_with('/') {
        return format!("{}{location}", origin(base)).parse().ok();
    }
    let path = base.path();
    let dir = path.rsplit_once('/').map_or("", |(d, _)| d);
    format!("{}{dir}/{location}", origin(base)).parse().ok()
}

struct Challenge {
    scheme: String,
    params: Vec<(String, String)>,
}

impl Challenge {
    fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// `Bearer realm="https://auth/token",service="reg",scope="repository:a:pull,push"` (RFC 7235;
/// a quoted value may hold commas).
fn parse_challenge(header: &str) -> Option<Challenge> {
    let header = header.trim();
    let (scheme, rest) = header.split_once(' ').unwrap_or((header, ""));
    let mut params = Vec::new();
    let mut chars = rest.chars().peekable();
    loop {
        while chars.peek().is_some_and(|c| *c == ',' || c.is_whitespace()) {
            chars.next();
        }
        let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
        if key.is_empty() {
            break;
        }
        let mut value = String::new();
        if chars.peek() == Some(&'"') {
            chars.next();
            while let Some(c) = chars.next() {
                match c {
                    '\\' => value.extend(chars.next()),
                    '"' => break,
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.peek() {
                if *c == ',' {
                    break;
                }
                value.push(*c);
                chars.next();
            }
        }
        params.push((key.trim().to_string(), value.trim().to_string()));
    }
    Some(Challenge {
        scheme: scheme.to_string(),
        params,
    })
}

fn encode_query(pairs: &[(&str, String)]) -> String {
    let enc = |s: &str| {
        let mut out = String::new();
        for b in s.bytes() {
            if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
                out.push(b as char);
            } else {
                out.push_str(&format!("%{b:02X}"));
            }
        }
        out
    };
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", enc(k), enc(v)))
        .collect::<Vec<_>>()
        .join("&")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn challenges_parse() {
        let c = parse_challenge(
            r#"Bearer realm="https://auth.docker.io/token",service="registry.docker.io",scope="repository:a/b:pull,push""#,
        )
        .unwrap();
        assert_eq!(c.scheme, "Bearer");
        assert_eq!(c.param("realm"), Some("https://auth.docker.io/token"));
        assert_eq!(c.param("scope"), Some("repository:a/b:pull,push"));
        let c = parse_challenge(r#"Basic realm="Registry Realm""#).unwrap();
        assert_eq!(c.scheme, "Basic");
        assert_eq!(
            encode_query(&[("scope", "repository:a/b:pull".into())]),
            "scope=repository%3Aa%2Fb%3Apull"
        );
    }

    #[test]
    fn redirects_resolve() {
        let base: Uri = "https://r.io/v2/a/blobs/x".parse().unwrap();
        assert_eq!(
            resolve(&base, "/other").unwrap().to_string(),
            "https://r.io/other"
        );
        assert_eq!(
            resolve(&base, "https://cdn.io/b?sig=1")
                .unwrap()
                .to_string(),
            "https://cdn.io/b?sig=1"
        );
    }
}
