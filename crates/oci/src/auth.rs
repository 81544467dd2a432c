//! Registry credentials from Docker's `config.json` (also the content of a
//! `kubernetes.io/dockerconfigjson` Secret): `auths.<registry>.auth` (base64 of `user:pass`),
//! `username`/`password`, or `identitytoken` (an OAuth2 refresh token, Docker's token spec:
//! <https://distribution.github.io/distribution/spec/auth/oauth/>).
//!
//! The local config's credential helpers are used as the docker CLI uses them
//! (`cli/config/configfile/file.go`, `GetCredentialsStore`; `cli/config/credentials/native_store.go`):
//! `credHelpers.<registry>` names the helper of one registry, else `credsStore` the helper of
//! every registry, and a registry with a helper is never read from `auths`. The helper is the
//! program `docker-credential-<name>` on `PATH`, run as `docker-credential-<name> get` with the
//! server address on its standard input (`https://index.docker.io/v1/` for Docker Hub, else
//! `host[:port]`), answering `{"ServerURL", "Username", "Secret"}`; the user name `<token>`
//! marks the secret as an identity token. "credentials not found" means anonymous. Helpers run
//! only when a registry is pulled from, once per pull. Pull secrets (Kubernetes Secrets) never
//! name helpers: the kubelet reads `auths` only.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;
use kubevigil_model::Escaped;

use crate::SourceError;

#[derive(Clone, PartialEq, Eq)]
pub(crate) enum Auth {
    Basic { username: String, password: String },
    IdentityToken { username: String, token: String },
}

impl fmt::Debug for Auth {
    // Secrets are never shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Auth::Basic { username, .. } => write!(f, "Basic({username:?}, ***)"),
            Auth::IdentityToken { .. } => write!(f, "IdentityToken(***)"),
        }
    }
}

/// A Secret by `(namespace, name)`.
pub type SecretRef = (String, String);

/// Credentials per registry host (`ghcr.io`, `127.0.0.1:5000`; Docker Hub as `docker.io`).
/// Its `Debug` shows the hosts only.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Credentials {
    hosts: BTreeMap<String, Auth>,
    /// `credHelpers`: helper name by registry host.
    helpers: BTreeMap<String, String>,
    /// `credsStore`: the helper of every other registry.
    store: Option<String>,
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("hosts", &self.hosts.keys().collect::<Vec<_>>())
            .field("helpers", &self.helpers)
            .field("store", &self.store)
            .finish()
    }
}

/// `https://index.docker.io/v1/` → `docker.io`, `ghcr.io/` → `ghcr.io`.
fn host_key(key: &str) -> String {
    let k = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = k.split('/').next().unwrap_or("").to_ascii_lowercase();
    match host.as_str() {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_string()
        }
        _ => host,
    }
}

impl Credentials {
    /// Parses a Docker `config.json`. An entry without usable credentials is skipped.
    pub fn from_docker_config(json: &[u8]) -> Result<Credentials, SourceError> {
        // Errors never quote the content: it is made of secrets.
        let v: serde_json::Value = serde_json::from_slice(json).map_err(|e| {
            SourceError::Credentials(format!(
                "docker config is not JSON (line {}, column {})",
                e.line(),
                e.column()
            ))
        })?;
        let mut creds = Credentials::default();
        let Some(auths) = v.get("auths") else {
            return Ok(creds);
        };
        let auths = auths.as_object().ok_or_else(|| {
            SourceError::Credentials("docker config: auths is not an object".into())
        })?;
        for (key, entry) in auths {
            let host = host_key(key);
            if host.is_empty() {
                continue;
            }
            let field = |name: &str| {
                entry
                    .get(name)
                    .and_then(|v| v.as_str())
                    .filter(|s| !s.is_empty())
                    .map(str::to_string)
            };
            let (mut username, mut password) = (field("username"), field("password"));
            if let Some(encoded) = field("auth") {
                let decoded = base64::engine::general_purpose::STANDARD
                    .decode(encoded.trim())
                    .ok()
                    .and_then(|d| String::from_utf8(d).ok())
                    .ok_or_else(|| {
                        SourceError::Credentials(format!(
                            "docker config: auths.{key}.auth is not base64 of user:password"
                        ))
                    })?;
                let (u, p) = decoded.split_once(':').ok_or_else(|| {
                    SourceError::Credentials(format!(
                        "docker config: auths.{key}.auth has no ':' between user and password"
                    ))
                })?;
                username = username.or(Some(u.to_string()));
                password = password.or(Some(p.to_string()));
            }
            let auth = match (field("identitytoken"), username, password) {
                (Some(token), username, _) => Auth::IdentityToken {
                    username: username.unwrap_or_default(),
                    token,
                },
                (None, Some(username), Some(password)) => Auth::Basic { username, password },
                _ => continue,
            };
            creds.hosts.insert(host, auth);
        }
        Ok(creds)
    }

    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`; a missing file gives no
    /// credentials.
    pub fn load_default() -> Result<Credentials, SourceError> {
        let path = match std::env::var_os("DOCKER_CONFIG") {
            Some(dir) => PathBuf::from(dir).join("config.json"),
            None => match std::env::var_os("HOME") {
                Some(home) => PathBuf::from(home).join(".docker").join("config.json"),
                None => return Ok(Credentials::default()),
            },
        };
        let file = match crate::rootfs::open_regular(&path) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                return Ok(Credentials::default());
            }
            Err(e) => return Err(SourceError::io(path.display().to_string(), e)),
        };
        let bytes = crate::digest::read_capped(file, &path.display().to_string(), 4 << 20)?;
        Credentials::from_local_docker_config(&bytes)
    }

    /// A Docker `config.json` of this machine: [`Credentials::from_docker_config`], and its
    /// credential helpers (`credHelpers`, `credsStore`), which win over `auths` for the
    /// registries they serve, as in the docker CLI.
    pub fn from_local_docker_config(json: &[u8]) -> Result<Credentials, SourceError> {
        let mut creds = Credentials::from_docker_config(json)?;
        let v: serde_json::Value = serde_json::from_slice(json)
            .map_err(|_| SourceError::Credentials("docker config is not JSON".into()))?;
        let name = |v: &serde_json::Value, what: &str| -> Result<String, SourceError> {
            match v.as_str() {
                Some(n) if valid_helper_name(n) => Ok(n.to_string()),
                _ => Err(SourceError::Credentials(format!(
                    "docker config: {what} is not a credential helper name (letters, digits, '.', '_', '-')"
                ))),
            }
        };
        if let Some(helpers) = v.get("credHelpers") {
            let helpers = helpers.as_object().ok_or_else(|| {
                SourceError::Credentials("docker config: credHelpers is not an object".into())
            })?;
            for (key, helper) in helpers {
                let host = host_key(key);
                if host.is_empty() {
                    continue;
                }
                let helper = name(helper, &format!("credHelpers.{}", Escaped(key)))?;
                creds.hosts.remove(&host);
                creds.helpers.insert(host, helper);
            }
        }
        match v.get("credsStore") {
            None | Some(serde_json::Value::Null) => {}
            Some(serde_json::Value::String(s)) if s.is_empty() => {}
            Some(store) => {
                creds.store = Some(name(store, "credsStore")?);
                creds.hosts.clear();
            }
        }
        Ok(creds)
    }

    /// The credentials of image pull secrets read from a cluster (each Secret's docker config
    /// JSON, or why there is none), by `(namespace, name)`. One that cannot be read or parsed
    /// is logged by name (never its content) and left out: the pull may still succeed with
    /// other credentials, or fail naming the registry.
    pub fn of_pull_secrets(
        found: Vec<(SecretRef, Result<Vec<u8>, String>)>,
    ) -> std::collections::HashMap<SecretRef, Credentials> {
        let mut out = std::collections::HashMap::new();
        for ((namespace, name), config) in found {
            match config
                .and_then(|json| Credentials::from_docker_config(&json).map_err(|e| e.to_string()))
            {
                Ok(c) => {
                    out.insert((namespace, name), c);
                }
                Err(e) => tracing::warn!(
                    secret = %kubevigil_model::Escaped(&format!("{namespace}/{name}")),
                    error = %kubevigil_model::Escaped(&e),
                    "image pull secret not used"
                ),
            }
        }
        out
    }

    /// Adds `other`'s hosts; `other` wins for a host both name, over this one's helpers too.
    pub fn merge(&mut self, other: Credentials) {
        self.hosts.extend(other.hosts);
        self.helpers.extend(other.helpers);
        if other.store.is_some() {
            self.store = other.store;
        }
    }

    /// Basic credentials for one registry host (`host[:port]`, or a `config.json` key).
    pub fn basic(host: &str, username: &str, password: &str) -> Credentials {
        let mut hosts = BTreeMap::new();
        hosts.insert(
            host_key(host),
            Auth::Basic {
                username: username.into(),
                password: password.into(),
            },
        );
        Credentials {
            hosts,
            ..Credentials::default()
        }
    }

    /// Hosts that have credentials.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty() && self.helpers.is_empty() && self.store.is_none()
    }

    /// The credentials for `registry`: written ones, else its helper's answer (which runs the
    /// helper), else none.
    pub(crate) fn for_registry(&self, registry: &str) -> Result<Option<Auth>, SourceError> {
        let host = host_key(registry);
        if let Some(auth) = self.hosts.get(&host) {
            return Ok(Some(auth.clone()));
        }
        match self.helpers.get(&host).or(self.store.as_ref()) {
            Some(helper) => run_helper(helper, &host),
            None => Ok(None),
        }
    }
}

/// What the docker CLI accepts as a helper name is anything; a name that would make the program
/// name a path, an option or a shell word is refused here.
fn valid_helper_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with(['-', '.'])
        && name
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'))
}

/// How long a helper may take (one that asks a cloud for a token takes a second or two).
const HELPER_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(60);

/// Runs `docker-credential-<helper> get` for the registry `host` (a [`host_key`]).
fn run_helper(helper: &str, host: &str) -> Result<Option<Auth>, SourceError> {
    use std::io::{Read as _, Write as _};
    use std::process::{Command, Stdio};

    let program = format!("docker-credential-{helper}");
    let fail = |why: String| SourceError::Credentials(format!("{program} for {host}: {why}"));
    // Docker Hub's credentials are stored under the index server's address.
    let server = if host == "docker.io" {
        "https://index.docker.io/v1/"
    } else {
        host
    };
    let mut child = Command::new(&program)
        .arg("get")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| match e.kind() {
            std::io::ErrorKind::NotFound => fail(
                "not found on PATH (named by credHelpers or credsStore in the docker config)"
                    .into(),
            ),
            _ => fail(e.to_string()),
        })?;
    if let Some(mut stdin) = child.stdin.take() {
        // A helper that exits without reading is judged by its exit status below.
        let _ = stdin.write_all(server.as_bytes());
    }
    // Read both pipes as the helper writes (a full pipe would stall it), at most 1 MiB each.
    let drain = |pipe: Option<Box<dyn std::io::Read + Send>>| {
        std::thread::spawn(move || {
            let mut out = Vec::new();
            if let Some(pipe) = pipe {
                let _ = pipe.take(1 << 20).read_to_end(&mut out);
            }
            out
        })
    };
    let stdout = drain(child.stdout.take().map(|p| Box::new(p) as _));
    let stderr = drain(child.stderr.take().map(|p| Box::new(p) as _));
    let deadline = std::time::Instant::now() + HELPER_TIMEOUT;
    let status = loop {
        match child.try_wait() {
            Ok(Some(status)) => break status,
            Ok(None) if std::time::Instant::now() < deadline => {
                std::thread::sleep(std::time::Duration::from_millis(20));
            }
            Ok(None) => {
                let _ = child.kill();
                let _ = child.wait();
                return Err(fail(format!(
                    "no answer within {} s",
                    HELPER_TIMEOUT.as_secs()
                )));
            }
            Err(e) => return Err(fail(e.to_string())),
        }
    };
    let stdout = stdout.join().unwrap_or_default();
    let stderr = stderr.join().unwrap_or_default();
    if !status.success() {
        // docker-credential-helpers' `credentials.NotFound` message, on standard output.
        let said = String::from_utf8_lossy(if stdout.is_empty() { &stderr } else { &stdout });
        if said.contains("credentials not found") {
            return Ok(None);
        }
        // What a helper says when it fails is an error message, not a secret; still shortened.
        let said: String = said.trim().chars().take(200).collect();
        return Err(fail(format!("{status}: {}", Escaped(&said))));
    }
    #[derive(serde::Deserialize)]
    struct Answer {
        #[serde(rename = "Username", default)]
        username: String,
        #[serde(rename = "Secret", default)]
        secret: String,
    }
    // The answer is never quoted: it holds the secret.
    let answer: Answer = serde_json::from_slice(&stdout)
        .map_err(|_| fail("its answer is not the credential JSON".into()))?;
    Ok(match (answer.username.as_str(), answer.secret) {
        (_, secret) if secret.is_empty() => None,
        ("<token>", token) => Some(Auth::IdentityToken {
            username: String::new(),
            token,
        }),
        (_, password) => Some(Auth::Basic {
            username: answer.username,
            password,
        }),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_config_forms() {
        let json = br#"{"auths": {
            "https://index.docker.io/v1/": {"auth": "dXNlcjpwYTpzcw=="},
            "ghcr.io": {"username": "u", "password": "p"},
            "quay.io": {"identitytoken": "tok"},
            "empty.io": {}
        }, "credsStore": "desktop"}"#;
        let c = Credentials::from_docker_config(json).unwrap();
        assert_eq!(
            c.for_registry("docker.io").unwrap(),
            Some(Auth::Basic {
                username: "user".into(),
                password: "pa:ss".into()
            })
        );
        assert!(matches!(
            c.for_registry("ghcr.io").unwrap(),
            Some(Auth::Basic { .. })
        ));
        assert!(matches!(
            c.for_registry("quay.io").unwrap(),
            Some(Auth::IdentityToken { .. })
        ));
        // A pull secret's config: its credsStore is ignored, as by the kubelet.
        assert!(c.for_registry("empty.io").unwrap().is_none());
        let shown = format!("{c:?}");
        assert!(
            !shown.contains("pa:ss") && !shown.contains("tok\""),
            "{shown}"
        );
        let e = Credentials::from_docker_config(br#"{"auths":{"x":{"auth":"!!secret"}}}"#)
            .unwrap_err()
            .to_string();
        assert!(!e.contains("secret"), "{e}");
    }

    /// The local config: a registry with a helper is never read from `auths` (the docker CLI's
    /// precedence), a pull secret merged in wins over the helper, and helper names that would
    /// be paths or options are refused.
    #[test]
    fn helpers_of_the_local_config() {
        let json = br#"{"auths": {
            "ghcr.io": {"username": "u", "password": "p"},
            "quay.io": {"username": "u", "password": "p"}
        }, "credHelpers": {"https://ghcr.io": "gh-test"}}"#;
        let c = Credentials::from_local_docker_config(json).unwrap();
        assert_eq!(c.hosts().collect::<Vec<_>>(), ["quay.io"]);
        assert_eq!(
            c.helpers.get("ghcr.io").map(String::as_str),
            Some("gh-test")
        );
        // No such program: an error naming it, not a silent anonymous pull.
        let e = c.for_registry("ghcr.io").unwrap_err().to_string();
        assert!(
            e.contains("docker-credential-gh-test") && e.contains("not found on PATH"),
            "{e}"
        );
        assert!(c.for_registry("quay.io").unwrap().is_some());

        let store = br#"{"auths": {"quay.io": {"auth": "dTpw"}}, "credsStore": "store-test"}"#;
        let mut c = Credentials::from_local_docker_config(store).unwrap();
        assert_eq!(c.hosts().count(), 0, "the store serves every registry");
        assert!(!c.is_empty());
        assert!(c.for_registry("quay.io").is_err());
        c.merge(Credentials::basic("quay.io", "from", "secret"));
        assert!(matches!(
            c.for_registry("quay.io").unwrap(),
            Some(Auth::Basic { .. })
        ));

        for bad in [r#""../bin/sh""#, r#""-x""#, r#""""#, "1", r#""a b""#] {
            let json = format!(r#"{{"credHelpers": {{"ghcr.io": {bad}}}}}"#);
            let e = Credentials::from_local_docker_config(json.as_bytes());
            assert!(e.is_err(), "{bad}");
        }
        assert!(Credentials::from_local_docker_config(br#"{"credsStore": "../x"}"#).is_err());
        // An empty credsStore is docker's "none".
        let c = Credentials::from_local_docker_config(br#"{"credsStore": ""}"#).unwrap();
        assert!(c.is_empty());
    }
}
