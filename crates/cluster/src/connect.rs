//! A client for one kubeconfig context, or for the in-cluster service account.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};

use crate::{Error, chain};

/// The context name given to the in-cluster service account's configuration.
pub const IN_CLUSTER_CONTEXT: &str = "in-cluster";

/// Which cluster to talk to.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// A kubeconfig file (`--kubeconfig`); otherwise `KUBECONFIG` (its files merged as kubectl
    /// merges them) or `~/.kube/config`, and, when there is none, the in-cluster service
    /// account.
    pub kubeconfig: Option<PathBuf>,
    /// A context of the kubeconfig (`--context`); otherwise its `current-context`.
    pub context: Option<String>,
}

/// A client and the name of the context it talks to.
#[derive(Clone)]
pub struct Connection {
    pub client: kube::Client,
    /// The kubeconfig context (or [`IN_CLUSTER_CONTEXT`]); objects read through this
    /// connection carry it in their origin.
    pub context: String,
    /// The API server's URL, for messages.
    pub server: String,
}

impl std::fmt::Debug for Connection {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Connection")
            .field("context", &self.context)
            .field("server", &self.server)
            .finish()
    }
}

impl Connection {
    /// Builds the client as kube-rs does for this kubeconfig context: TLS (custom CA, client
    /// certificates, insecure-skip-tls-verify), tokens and token files, exec credential plugins,
    /// auth providers, proxies (`proxy-url`). Nothing is sent yet: a server that cannot be
    /// reached or refuses the credentials is an error on the first request, naming its path.
    pub async fn connect(target: &Target) -> Result<Connection, Error> {
        let kubeconfig = match &target.kubeconfig {
            Some(path) => Some(
                Kubeconfig::read_from(path)
                    .map_err(|e| Error::Kubeconfig(format!("{}: {}", path.display(), chain(&e))))?,
            ),
            None => {
                let from_env = std::env::var_os("KUBECONFIG").is_some_and(|v| !v.is_empty());
                match Kubeconfig::read() {
                    Ok(k) => Some(k),
                    // No kubeconfig at all: the in-cluster service account, when there is one.
                    Err(_)
                        if !from_env
                            && target.context.is_none()
                            && std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() =>
                    {
                        None
                    }
                    Err(e) => return Err(Error::Kubeconfig(chain(&e))),
                }
            }
        };
        let (mut config, context) = match kubeconfig {
            Some(kubeconfig) => {
                let context = target
                    .context
                    .clone()
                    .or_else(|| kubeconfig.current_context.clone())
                    .filter(|c| !c.is_empty())
                    .ok_or_else(|| {
                        Error::Kubeconfig(
                            "no current-context is set and no --context was given".into(),
                        )
                    })?;
                if !kubeconfig.contexts.iter().any(|c| c.name == context) {
                    let known: Vec<&str> = kubeconfig
                        .contexts
                        .iter()
                        .map(|c| c.name.as_str())
                        .collect();
                    return Err(Error::Config {
                        context,
                        message: format!(
                            "no such context in the kubeconfig (contexts: {})",
                            known.join(", ")
                        ),
                    });
                }
                let options = KubeConfigOptions {
                    context: Some(context.clone()),
                    ..Default::default()
                };
                let config = kube::Config::from_custom_kubeconfig(kubeconfig, &options)
                    .await
                    .map_err(|e| Error::Config {
                        context: context.clone(),
                        message: chain(&e),
                    })?;
                (config, context)
            }
            None => {
                let config = kube::Config::incluster().map_err(|e| Error::Config {
                    context: IN_CLUSTER_CONTEXT.into(),
                    message: chain(&e),
                })?;
                (config, IN_CLUSTER_CONTEXT.to_string())
            }
        };
        // Retries are ours (api.rs), as client-go decides them: 429 and 5xx with Retry-After.
        config.default_retry = false;
        config.connect_timeout = Some(Duration::from_secs(10));
        let server = config.cluster_url.to_string();
        let client = kube::Client::try_from(config).map_err(|e| Error::Config {
            context: context.clone(),
            message: chain(&e),
        })?;
        Ok(Connection {
            client,
            context,
            server: server.trim_end_matches('/').to_string(),
        })
    }
}
