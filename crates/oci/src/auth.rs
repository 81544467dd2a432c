//! Registry credentials from Docker's `config.json` (also the content of a
//! `kubernetes.io/dockerconfigjson` Secret): `auths.<registry>.auth` (base64 of `user:pass`),
//! `username`/`password`, or `identitytoken` (an OAuth2 refresh token, Docker's token spec:
//! <https://distribution.github.io/distribution/spec/auth/oauth/>). Credential helpers
//! (`credsStore`, `credHelpers`) run programs and are not used.

use std::collections::BTreeMap;
use std::fmt;
use std::path::PathBuf;

use base64::Engine as _;

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
}

impl fmt::Debug for Credentials {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Credentials")
            .field("hosts", &self.hosts.keys().collect::<Vec<_>>())
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
        Credentials::from_docker_config(&bytes)
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

    /// Adds `other`'s hosts; `other` wins for a host both name.
    pub fn merge(&mut self, other: Credentials) {
        self.hosts.extend(other.hosts);
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
        Credentials { hosts }
    }

    /// Hosts that have credentials.
    pub fn hosts(&self) -> impl Iterator<Item = &str> {
        self.hosts.keys().map(String::as_str)
    }

    pub fn is_empty(&self) -> bool {
        self.hosts.is_empty()
    }

    pub(crate) fn for_registry(&self, registry: &str) -> Option<&Auth> {
        self.hosts.get(&host_key(registry))
    }
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
            c.for_registry("docker.io"),
            Some(&Auth::Basic {
                username: "user".into(),
                password: "pa:ss".into()
            })
        );
        assert!(matches!(
            c.for_registry("ghcr.io"),
            Some(Auth::Basic { .. })
        ));
        assert!(matches!(
            c.for_registry("quay.io"),
            Some(Auth::IdentityToken { .. })
        ));
        assert!(c.for_registry("empty.io").is_none());
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
}
