//! `kubevigil webhook`: the admission webhook server, and `kubevigil webhook manifests` to
//! install it. The policies, server and manifests live in `kubevigil-webhook`.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use kubevigil_webhook::Webhook;
use kubevigil_webhook::manifests::{self, ManifestOptions};
use kubevigil_webhook::server::{Server, ServerOptions};

use crate::cli;

#[derive(clap::Args)]
#[command(args_conflicts_with_subcommands = true, subcommand_negates_reqs = true)]
pub struct WebhookArgs {
    #[command(subcommand)]
    command: Option<WebhookCommand>,
    /// Serving certificate chain (PEM); reloaded when the file changes.
    #[arg(long, value_name = "FILE", required = true)]
    tls_cert: Option<PathBuf>,
    /// Serving private key (PEM); reloaded when the file changes.
    #[arg(long, value_name = "FILE", required = true)]
    tls_key: Option<PathBuf>,
    /// Webhook configuration (policies and modes); without it Pod Security is enforced from
    /// namespace labels and hardening is offered to namespaces labelled kubevigil.io/harden=true.
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
    /// Namespace objects (YAML/JSON) whose labels the policies read; overrides the
    /// configuration's namespacesFile.
    #[arg(long, value_name = "FILE")]
    namespaces: Option<PathBuf>,
    /// Keep namespace labels current from the cluster (the kubeconfig, else the in-cluster
    /// service account; needs namespaces get/list/watch). /readyz fails until the first list
    /// is in.
    #[arg(long, conflicts_with = "namespaces")]
    watch_namespaces: bool,
    #[arg(long, value_name = "ADDR", default_value = "0.0.0.0:8443")]
    listen: SocketAddr,
    /// Requests served at once; more are refused at once with 503 so the API server applies
    /// the webhook's failurePolicy without waiting.
    #[arg(long, default_value_t = 512)]
    max_in_flight: usize,
    /// Per-request deadline in milliseconds (keep below the webhook's timeoutSeconds).
    #[arg(long, default_value_t = 2500)]
    deadline_ms: u64,
    /// Largest accepted request body in bytes (declared larger: 413 before reading it).
    #[arg(long, default_value_t = kubevigil_webhook::server::DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// Memory the requests in flight may take together, in bytes (each request reserves its
    /// body and an upper bound of what evaluating it takes; when that does not fit, 503).
    #[arg(long, default_value_t = kubevigil_webhook::server::DEFAULT_MAX_IN_FLIGHT_BYTES)]
    max_in_flight_bytes: usize,
    /// Seconds a TLS handshake may take.
    #[arg(long, default_value_t = 5)]
    handshake_timeout_secs: u64,
    /// Seconds from the handshake to the first request (HTTP/1.1: for every request head).
    #[arg(long, default_value_t = 10)]
    header_timeout_secs: u64,
    /// Seconds a connection with no request in flight is kept open.
    #[arg(long, default_value_t = 120)]
    idle_timeout_secs: u64,
    /// Connections open at once; more wait in the kernel's accept queue.
    #[arg(long, default_value_t = 1024)]
    max_connections: usize,
    /// How often the certificate files are checked for changes, in seconds.
    #[arg(long, default_value_t = 10)]
    cert_reload_secs: u64,
    /// Worker threads (default: one per CPU).
    #[arg(long)]
    workers: Option<usize>,
}

#[derive(clap::Subcommand)]
enum WebhookCommand {
    /// Print the Kubernetes objects that install the webhook (YAML on stdout).
    Manifests(ManifestsArgs),
}

#[derive(clap::Args)]
#[command(after_help = "Examples:
  kubevigil webhook manifests --namespace kubevigil > kubevigil-webhook.yaml
  kubevigil webhook manifests --cert-manager --image registry.example.com/kubevigil:0.1.0 | kubectl apply -f -")]
struct ManifestsArgs {
    /// Namespace to install into (excluded from the webhooks, as is kube-system).
    #[arg(long, default_value = "kubevigil")]
    namespace: String,
    /// Use cert-manager (Issuer, Certificate, cainjector annotation) instead of a CA and
    /// serving certificate generated now.
    #[arg(long)]
    cert_manager: bool,
    /// Container image of kubevigil.
    #[arg(long, default_value = concat!("ghcr.io/kubevigil/kubevigil:", env!("CARGO_PKG_VERSION")))]
    image: String,
}

pub fn run(args: WebhookArgs) -> anyhow::Result<ExitCode> {
    if let Some(WebhookCommand::Manifests(m)) = args.command {
        return print_manifests(m);
    }
    let (Some(cert), Some(key)) = (args.tls_cert, args.tls_key) else {
        bail!("--tls-cert and --tls-key are required");
    };
    let mut webhook = match &args.config {
        Some(path) => load_config(path)?,
        None => Webhook::default(),
    };
    if let Some(path) = &args.namespaces {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        webhook.namespaces = kubevigil_webhook::namespaces::NamespaceCache::from_labels(
            kubevigil_webhook::config::namespaces_from_text(&path.display().to_string(), &text)?,
        );
    }
    let watch = args.watch_namespaces;
    let mut opts = ServerOptions::new(args.listen, cert, key);
    opts.max_in_flight = args.max_in_flight.max(1);
    opts.deadline = Duration::from_millis(args.deadline_ms.max(1));
    opts.max_body_bytes = args.max_body_bytes;
    opts.max_in_flight_bytes = args.max_in_flight_bytes.max(1);
    opts.handshake_timeout = Duration::from_secs(args.handshake_timeout_secs.max(1));
    opts.header_timeout = Duration::from_secs(args.header_timeout_secs.max(1));
    opts.idle_timeout = Duration::from_secs(args.idle_timeout_secs.max(1));
    opts.max_connections = args.max_connections.max(1);
    opts.reload_interval = Duration::from_secs(args.cert_reload_secs.max(1));

    let mut rt = tokio::runtime::Builder::new_multi_thread();
    if let Some(n) = args.workers {
        rt.worker_threads(n.max(1));
    }
    let rt = rt.enable_all().build().context("starting the runtime")?;
    rt.block_on(async move {
        let webhook = Arc::new(webhook);
        if watch {
            // The kubeconfig if there is one, else the in-cluster service account.
            let conn = kubevigil_cluster::Connection::connect(&Default::default())
                .await
                .context("--watch-namespaces")?;
            webhook.namespaces.set_synced(false);
            tokio::spawn(kubevigil_webhook::namespaces::run_watch(
                conn,
                webhook.clone(),
            ));
        }
        let server = Server::bind(webhook, opts)
            .await
            .context("starting the webhook server")?;
        tracing::warn!(addr = %server.local_addr()?, "kubevigil webhook listening");
        eprintln!(
            "kubevigil webhook listening on https://{}",
            server.local_addr()?
        );
        server.run(cli::shutdown_signal()).await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

fn load_config(path: &Path) -> anyhow::Result<Webhook> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let dir = path.parent().map(Path::to_path_buf).unwrap_or_default();
    let read = |name: &str| {
        let p = dir.join(name);
        std::fs::read_to_string(&p).map_err(|e| format!("reading {}: {e}", p.display()))
    };
    kubevigil_webhook::config::from_text_in(&text, &dir, &read)
        .with_context(|| format!("{}", path.display()))
}

fn print_manifests(m: ManifestsArgs) -> anyhow::Result<ExitCode> {
    let tls = if m.cert_manager {
        None
    } else {
        Some(manifests::generate_tls(manifests::service_dns_names(
            &m.namespace,
        ))?)
    };
    let objects = manifests::objects(
        &ManifestOptions {
            namespace: m.namespace,
            image: m.image,
            cert_manager: m.cert_manager,
        },
        tls.as_ref(),
    );
    cli::write_output(None, &manifests::to_yaml(&objects))?;
    Ok(ExitCode::SUCCESS)
}
