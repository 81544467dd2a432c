//! `kubevigil monitor`: the event pipeline as a service (audit intake, detection, history,
//! metrics). Its logic is `kubevigil_monitor`'s; this module reads the options.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::Context;
use kubevigil_checks::config_monitor::{SinkConfig, SinkTarget};
use kubevigil_detect::rules::{Events, RuleOptions, load_rules};
use kubevigil_model::DiagLevel;
use kubevigil_model::Severity;
use kubevigil_monitor::manifests;
use kubevigil_monitor::server::{
    ClusterOptions, DEFAULT_MAX_BODY_BYTES, DEFAULT_SPOOL_BYTES, Monitor, Options, SinkOptions,
    SinkSpec,
};
use kubevigil_sinks::{Filter, RuleFilter};

use crate::cli;

#[derive(Debug, clap::Args)]
#[command(args_conflicts_with_subcommands = true)]
#[command(after_help = "Examples:
  kubevigil monitor --context prod --audit-listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key
  kubevigil monitor --no-cluster --audit-listen 0.0.0.0:8443 --tls-cert tls.crt --tls-key tls.key
  kubevigil monitor --no-cluster --audit-listen 127.0.0.1:9000 --audit-plain-http --state-dir ./state
  kubevigil monitor --no-cluster --audit-log /var/log/kubernetes/audit/audit.log \
    --alertmanager http://alertmanager.monitoring:9093 --cluster-name prod-eu
  kubevigil monitor manifests | kubectl apply -f -

Without --no-cluster, the cluster (the kubeconfig's context, else the in-cluster service account)
is watched (every kind the checks read) and each change is evaluated by the scan's checks and
engines; findings that appear, reopen or are resolved go to the history and the sinks. kube-apiserver sends its audit events
with --audit-webhook-config-file pointing at https://<monitor>/audit. Each new alert is written to stdout as one JSON line (the alert
contract of `kubevigil audit detect -o json`) and kept in the history (`kubevigil history`).")]
pub struct MonitorArgs {
    #[command(subcommand)]
    command: Option<MonitorCommand>,
    /// Run the event pipeline alone (audit intake, detection, history, sinks) without reading a
    /// cluster: for managed clusters whose audit logs arrive another way, and for tests.
    #[arg(long, conflicts_with_all = ["kubeconfig", "context"])]
    no_cluster: bool,
    /// Kubeconfig file (default: KUBECONFIG, else ~/.kube/config, else the in-cluster service
    /// account).
    #[arg(long, value_name = "FILE")]
    kubeconfig: Option<PathBuf>,
    /// Kubeconfig context (default: its current-context).
    #[arg(long, value_name = "NAME")]
    context: Option<String>,
    /// Leave these namespaces out of the evaluation: names or globs, comma-separated.
    #[arg(long, value_name = "NS,...", value_delimiter = ',')]
    exclude_namespaces: Vec<String>,
    /// How often the open findings are marked seen in the history, in seconds (and the whole
    /// evaluation recorded again if the last one was incomplete). Changes are evaluated and
    /// recorded as the watches report them.
    #[arg(long, value_name = "SECONDS", default_value_t = 300, value_parser = clap::value_parser!(u64).range(1..))]
    resync_interval: u64,
    /// How long a watch of the cluster may keep failing before /readyz turns red and the sinks
    /// are told (KubevigilWatchFailing), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    watch_failure_grace: u64,
    /// Where the spool and the history are (default: $XDG_STATE_HOME/kubevigil, else
    /// ~/.local/state/kubevigil).
    #[arg(long, value_name = "DIR")]
    state_dir: Option<PathBuf>,
    /// Serves the dashboard (/), /metrics, /healthz and /readyz (plain HTTP).
    #[arg(long, value_name = "ADDR", default_value = "127.0.0.1:8080")]
    listen: SocketAddr,
    /// Keep the open findings in the cluster as report objects, written by server-side apply
    /// whenever they change: `policyreport` (wgpolicyk8s.io/v1alpha2 PolicyReports per namespace
    /// and a ClusterPolicyReport, as Kyverno's Policy Reporter reads them) or `openreports`
    /// (openreports.io/v1alpha1). Needs a cluster that serves the kind, and the RBAC of
    /// `kubevigil monitor manifests --policy-reports`. Off by default.
    #[arg(long, value_name = "FORMAT", conflicts_with = "no_cluster")]
    policy_reports: Option<ReportFormat>,
    /// Most results per report (the most severe are kept; a report also stops at 1 MiB of
    /// results, so that it fits in etcd).
    #[arg(long, value_name = "N", default_value_t = kubevigil_report::policyreport::DEFAULT_MAX_RESULTS)]
    max_report_results: usize,
    /// Least time between two writes of the reports, in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 60, value_parser = clap::value_parser!(u64).range(1..))]
    policy_reports_interval: u64,
    /// Follow the logs of the running pods of this namespace (repeatable), through the pod
    /// log rules (rules/pod-logs/).
    #[arg(long = "pod-logs-namespace", value_name = "NS")]
    pod_logs_namespaces: Vec<String>,
    /// Follow the logs of the running pods with these labels (`app=web,tier=frontend`), in the
    /// --pod-logs-namespace namespaces if any, else in all.
    #[arg(long, value_name = "SELECTOR")]
    pod_logs_selector: Option<String>,
    /// How often the metrics API (metrics.k8s.io, metrics-server) is read to judge resource
    /// abuse, in seconds; 0: never.
    #[arg(long, value_name = "SECONDS", default_value_t = 30)]
    metrics_interval: u64,
    /// Scan the images the cluster's workloads run for vulnerabilities (against the local OSV
    /// database, `kubevigil db import`), and again when an image's digest or the database
    /// changes: `image-vulnerable` findings, told to the sinks when they appear.
    #[arg(long)]
    images: bool,
    /// The vulnerability database for --images (default: the platform's data directory).
    #[arg(long, value_name = "DIR", requires = "images")]
    image_db: Option<PathBuf>,
    /// How often the images are resolved again (and scanned when changed), in seconds.
    #[arg(long, value_name = "SECONDS", default_value_t = 600, value_parser = clap::value_parser!(u64).range(10..), requires = "images")]
    image_interval: u64,
    /// A registry (host[:port]) spoken to over plain HTTP for --images.
    #[arg(long = "insecure-registry", value_name = "HOST", requires = "images")]
    insecure_registries: Vec<String>,
    /// How long a pod hogs CPU or memory before it is told, in minutes.
    #[arg(long, value_name = "MINUTES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1440))]
    hog_window: u32,
    /// The most containers whose logs are followed at once (default: monitor.podLogs.maxStreams,
    /// else 20).
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..=1000))]
    max_log_streams: Option<u16>,
    /// Do not serve the dashboard on --listen.
    #[arg(long, conflicts_with_all = ["dashboard_token_file", "dashboard_basic_auth_file"])]
    no_dashboard: bool,
    /// The dashboard asks for `Authorization: Bearer <token>`, the token being this file's
    /// content (a mounted Secret's key).
    #[arg(
        long,
        value_name = "FILE",
        conflicts_with = "dashboard_basic_auth_file"
    )]
    dashboard_token_file: Option<PathBuf>,
    /// Where people reach the dashboard (`https://kubevigil.example.org`): each notification the
    /// sinks send links to its finding's or alert's page there (Alertmanager's generatorURL,
    /// Slack's and webhooks' link).
    #[arg(long, value_name = "URL", conflicts_with = "no_dashboard")]
    dashboard_url: Option<String>,
    /// The dashboard asks for basic authentication (what a browser prompts for) with the
    /// `user:password` of this file.
    #[arg(long, value_name = "FILE")]
    dashboard_basic_auth_file: Option<PathBuf>,
    /// Serves POST /audit, the EventLists of kube-apiserver's audit webhook backend, and POST
    /// /falco, Falco's alerts (its http_output), and POST /hubble, Hubble's flows.
    #[arg(long, value_name = "ADDR")]
    audit_listen: Option<SocketAddr>,
    /// Certificate (PEM chain) of the audit endpoint.
    #[arg(
        long,
        value_name = "FILE",
        requires = "tls_key",
        conflicts_with = "audit_plain_http"
    )]
    tls_cert: Option<PathBuf>,
    /// Private key (PEM) of the audit endpoint.
    #[arg(long, value_name = "FILE", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Serve the audit endpoint over plain HTTP: for loopback and service meshes only.
    #[arg(long)]
    audit_plain_http: bool,
    /// The bound of the audit spool in bytes: past it, batches get 503 and the API server
    /// retries them.
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_SPOOL_BYTES)]
    spool_max_bytes: u64,
    /// Largest POST /audit body accepted (413 above). The bodies being received at once may
    /// hold twice this together (503 past it: kube-apiserver retries the batch).
    #[arg(long, value_name = "BYTES", default_value_t = DEFAULT_MAX_BODY_BYTES)]
    max_body_bytes: usize,
    /// A POST body (/audit, /falco, /hubble) must be received within this many seconds (408
    /// after), so that a client trickling one does not hold a connection and its memory.
    #[arg(long, value_name = "SECONDS", default_value_t = 30, value_parser = clap::value_parser!(u64).range(1..))]
    body_timeout: u64,
    /// An audit log file to follow as kube-apiserver writes it (`--audit-log-path`, JSON lines),
    /// across rotation; repeat for several.
    #[arg(long = "audit-log", value_name = "PATH")]
    audit_logs: Vec<PathBuf>,
    /// Alertmanager to send alerts to (API v2, `POST /api/v2/alerts`); repeatable.
    #[arg(long = "alertmanager", value_name = "URL")]
    alertmanagers: Vec<String>,
    /// Slack incoming webhook URL; repeatable. The URL holds a token: it is never logged.
    #[arg(long = "slack-webhook", value_name = "URL")]
    slack_webhooks: Vec<String>,
    /// An HTTP endpoint receiving JSON notifications signed with HMAC-SHA256
    /// (`X-Kubevigil-Signature`) under the secret of --webhook-secret-file; repeatable.
    #[arg(long = "webhook", value_name = "URL", requires = "webhook_secret_file")]
    webhooks: Vec<String>,
    /// The file holding the signing secret of --webhook (kept off the command line, which
    /// every local user can read).
    #[arg(long, value_name = "FILE")]
    webhook_secret_file: Option<PathBuf>,
    /// Notifications less severe than this are not sent to the sinks of the command line
    /// (--alertmanager, --slack-webhook, --webhook); sinks of --config have their own
    /// minSeverity.
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    min_severity: Severity,
    /// How often open findings are sent again to Alertmanager sinks, in seconds, so that they
    /// stay firing there; each is sent with endsAt 24 times this ahead.
    #[arg(long, value_name = "SECONDS", default_value_t = kubevigil_monitor::refresh::DEFAULT_INTERVAL.as_secs(), value_parser = clap::value_parser!(u64).range(1..))]
    alertmanager_refresh: u64,
    /// The cluster's name in notifications (the `cluster` label).
    #[arg(long, value_name = "NAME", default_value = "")]
    cluster_name: String,
    /// Configuration (`detect` section: disabled rules, exceptions, dedup, cluster networks;
    /// `monitor.sinks`: more sinks, each with its minimum severity and filters).
    #[arg(long, value_name = "FILE")]
    config: Option<PathBuf>,
}

#[derive(Debug, clap::Subcommand)]
enum MonitorCommand {
    /// Print the Kubernetes objects that run the monitor in a cluster (YAML on stdout), or
    /// kube-apiserver's audit webhook kubeconfig or audit policy.
    Manifests(Box<ManifestsArgs>),
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  kubevigil monitor manifests | kubectl apply -f -
  kubevigil monitor manifests --namespace security --image registry.example.com/kubevigil@sha256:<digest>
  kubevigil monitor manifests --audit-webhook-kubeconfig > audit-webhook.kubeconfig
  kubevigil monitor manifests --audit-policy > audit-policy.yaml

deploy/monitor is the same install as a kustomize base (kubectl apply -k deploy/monitor).
The audit endpoint's TLS Secret (kubevigil-monitor-tls) is not printed: the Deployment's comment
says how to make it.")]
struct ManifestsArgs {
    /// Namespace to install into.
    #[arg(long, default_value = "kubevigil")]
    namespace: String,
    /// Container image of kubevigil (pin it by digest: REPOSITORY@sha256:...).
    #[arg(long, value_name = "REF", default_value = concat!("ghcr.io/kubevigil/kubevigil:", env!("CARGO_PKG_VERSION")))]
    image: String,
    /// Print instead the kubeconfig of kube-apiserver's --audit-webhook-config-file, naming the
    /// monitor's /audit URL.
    #[arg(long, conflicts_with_all = ["audit_policy", "image"])]
    audit_webhook_kubeconfig: bool,
    /// The monitor's audit URL in that kubeconfig (default:
    /// https://kubevigil-monitor.NAMESPACE.svc:8443/audit).
    #[arg(long, value_name = "URL", requires = "audit_webhook_kubeconfig")]
    audit_url: Option<String>,
    /// The monitor keeps its findings in the cluster as these reports (`monitor
    /// --policy-reports`): the flag, and a ClusterRole of its own that may write them.
    #[arg(long, value_name = "FORMAT")]
    policy_reports: Option<ReportFormat>,
    /// Print instead the recommended audit policy (kube-apiserver's --audit-policy-file), the
    /// one of `kubevigil audit policy recommend`.
    #[arg(long, conflicts_with_all = ["namespace", "image"])]
    audit_policy: bool,
}

fn print_manifests(args: ManifestsArgs) -> anyhow::Result<ExitCode> {
    let opts = manifests::ManifestOptions {
        namespace: args.namespace,
        image: args.image,
        policy_reports: args.policy_reports.map(ReportFormat::flavor),
    };
    opts.validate()?;
    let text = if args.audit_policy {
        manifests::audit_policy().to_string()
    } else if args.audit_webhook_kubeconfig {
        let url = args
            .audit_url
            .unwrap_or_else(|| manifests::default_audit_url(&opts.namespace));
        manifests::audit_webhook_kubeconfig(&url)?
    } else {
        manifests::documents_yaml(&manifests::objects(&opts))
    };
    cli::write_with(None, |out| out.write_all(text.as_bytes()))?;
    Ok(ExitCode::SUCCESS)
}

pub fn run(args: MonitorArgs) -> anyhow::Result<ExitCode> {
    if let Some(MonitorCommand::Manifests(m)) = args.command {
        return print_manifests(*m);
    }
    if args.audit_listen.is_some() && args.tls_cert.is_none() && !args.audit_plain_http {
        anyhow::bail!("--audit-listen needs --tls-cert and --tls-key, or --audit-plain-http");
    }
    if args.audit_plain_http {
        tracing::warn!(
            "--audit-plain-http: audit events (identities, requests) travel unencrypted; use it on loopback or inside a service mesh only"
        );
    }
    let state_dir = match args.state_dir {
        Some(d) => d,
        None => kubevigil_store::default_state_dir()
            .context("no state directory: pass --state-dir, or set XDG_STATE_HOME or HOME")?,
    };
    let mut config = super::scan::load_config(args.config.as_deref())?;
    // The audit pack for the audit spool, the Falco and Hubble packs for POST /falco, /hubble,
    // the Events pack for the cluster's Events.
    let mut loaded = Vec::new();
    let wanted = std::iter::once(Events::Audit).chain(
        kubevigil_monitor::server::SIDES
            .iter()
            .map(|side| side.events),
    );
    for events in wanted {
        let (rules, problems) = load_rules(&RuleOptions {
            rule_paths: &[],
            builtin: true,
            disable: &[],
            cluster_networks: &[],
            ioc_files: &[],
            config: &config.detect,
            events,
        })?;
        for p in &problems {
            eprintln!("error: {}", kubevigil_model::Escaped(p));
        }
        for d in rules
            .diagnostics
            .iter()
            .filter(|d| d.level != DiagLevel::Note)
        {
            eprintln!("{d}");
        }
        loaded.push(rules);
    }
    // The audit rules first, then one set per side source.
    let side_rules = loaded.split_off(1);
    let rules = loaded.pop().expect("the audit rules");
    if let Some(url) = &args.dashboard_url {
        anyhow::ensure!(
            url.starts_with("https://") || url.starts_with("http://"),
            "--dashboard-url {}: expected an http:// or https:// URL",
            kubevigil_model::Escaped(url)
        );
    }
    let dashboard = if args.no_dashboard {
        None
    } else {
        use kubevigil_monitor::dashboard::Auth;
        let auth = match (&args.dashboard_token_file, &args.dashboard_basic_auth_file) {
            (Some(f), _) => Auth::bearer_from_file(f)?,
            (None, Some(f)) => Auth::basic_from_file(f)?,
            (None, None) => Auth::None,
        };
        if auth == Auth::None && !args.listen.ip().is_loopback() {
            tracing::warn!(
                listen = %args.listen,
                "the dashboard is served without authentication beyond loopback: pass --dashboard-token-file or --dashboard-basic-auth-file, or --no-dashboard"
            );
        }
        Some(auth)
    };
    let refresh = std::time::Duration::from_secs(args.alertmanager_refresh);
    let alertmanager = |url: &str| {
        let mut c = kubevigil_sinks::AlertmanagerConfig::new(url);
        c.finding_ttl = kubevigil_monitor::refresh::finding_ttl(refresh);
        SinkSpec::Alertmanager(c)
    };
    // Sinks of the command line take everything at or above --min-severity.
    let cli_filter = Filter {
        min_severity: args.min_severity,
        ..Filter::default()
    };
    let mut sinks = Vec::new();
    let mut cli = |spec| {
        sinks.push(SinkOptions {
            spec,
            filter: cli_filter.clone(),
        })
    };
    for url in &args.alertmanagers {
        cli(alertmanager(url));
    }
    for url in &args.slack_webhooks {
        cli(SinkSpec::Slack(kubevigil_sinks::SlackConfig::new(url)));
    }
    if !args.webhooks.is_empty() {
        let file = args
            .webhook_secret_file
            .as_deref()
            .expect("required by clap");
        let secret = read_secret(file)?;
        for url in &args.webhooks {
            cli(SinkSpec::Webhook(kubevigil_sinks::WebhookConfig::new(
                url, &secret,
            )));
        }
    }
    // Each detection rule's id (what notifications carry) and every name it goes by.
    let detection: Vec<(String, Vec<String>)> = rules
        .set
        .rules()
        .iter()
        .map(|r| (r.meta.id.clone(), kubevigil_detect::rules::names(&r.meta)))
        .collect();
    for sink in std::mem::take(&mut config.monitor.sinks) {
        sinks.push(configured_sink(sink, &detection, &alertmanager)?);
    }
    // The command line's selection, else the configuration's (`monitor.podLogs`).
    let configured = config.monitor.pod_logs.take();
    let flagged = !args.pod_logs_namespaces.is_empty() || args.pod_logs_selector.is_some();
    let pod_logs = if !flagged && configured.is_none() {
        None
    } else {
        anyhow::ensure!(
            !args.no_cluster,
            "following pod logs (--pod-logs-namespace, --pod-logs-selector, monitor.podLogs) needs a cluster (not --no-cluster)"
        );
        let configured = configured.unwrap_or_default();
        let (namespaces, selector, from) = if flagged {
            let s = args.pod_logs_selector.clone().unwrap_or_default();
            (args.pod_logs_namespaces.clone(), s, "--pod-logs-selector")
        } else {
            let s = configured.selector.clone().unwrap_or_default();
            (configured.namespaces.clone(), s, "monitor.podLogs.selector")
        };
        Some(kubevigil_monitor::pod_logs::LogOptions {
            namespaces,
            selector: kubevigil_monitor::pod_logs::LogOptions::parse_selector(&selector)
                .map_err(|e| anyhow::anyhow!("{from} {e}"))?,
            max_streams: usize::from(
                args.max_log_streams
                    .or(configured.max_streams)
                    .unwrap_or(20),
            ),
        })
    };
    let images = if args.images {
        anyhow::ensure!(
            !args.no_cluster,
            "--images needs a cluster (not --no-cluster)"
        );
        // Checked now: a monitor that would scan against no database says so at start.
        drop(super::image::open_existing(args.image_db.as_deref())?);
        let table = std::sync::Arc::new(kubevigil_checks::ImageScanTable::default());
        config.images.scans = Some(table.clone());
        let options = kubevigil_monitor::images::ImageOptions {
            db_dir: super::image::db_dir(args.image_db.as_deref())?,
            interval: std::time::Duration::from_secs(args.image_interval),
            scan: kubevigil_oci::scan::ScanOptions {
                pull: super::image::pull_options(None, &args.insecure_registries)?,
                image_ref: None,
            },
        };
        Some((options, table))
    } else {
        None
    };
    let opts = Options {
        images,
        listen: args.listen,
        audit_listen: args.audit_listen,
        audit_tls: args.tls_cert.zip(args.tls_key),
        dashboard,
        pod_logs,
        resources: (args.metrics_interval > 0 && !args.no_cluster).then(|| {
            (
                std::time::Duration::from_secs(args.metrics_interval),
                std::time::Duration::from_secs(u64::from(args.hog_window) * 60),
            )
        }),
        policy_reports: args
            .policy_reports
            .map(|f| kubevigil_monitor::reports::ReportOptions {
                flavor: f.flavor(),
                max_results: args.max_report_results,
                interval: std::time::Duration::from_secs(args.policy_reports_interval),
            }),
        state_dir,
        spool_max_bytes: args.spool_max_bytes,
        max_body_bytes: args.max_body_bytes,
        body_timeout: std::time::Duration::from_secs(args.body_timeout),
        audit_logs: args.audit_logs,
        sinks,
        refresh_interval: refresh,
        context: kubevigil_sinks::Context {
            cluster: args.cluster_name,
            dashboard_url: args.dashboard_url,
            ..Default::default()
        },
        cluster: (!args.no_cluster).then(|| ClusterOptions {
            target: kubevigil_cluster::Target {
                kubeconfig: args.kubeconfig,
                context: args.context,
            },
            scope: kubevigil_cluster::Scope {
                namespaces: Vec::new(),
                exclude: args.exclude_namespaces,
            },
            timing: kubevigil_monitor::posture::Timing {
                resync: std::time::Duration::from_secs(args.resync_interval),
                failure_grace: std::time::Duration::from_secs(args.watch_failure_grace),
                ..Default::default()
            },
            config: std::sync::Arc::new(config),
        }),
    };
    let tls = opts.audit_tls.is_some();
    let dashboard_on = opts.dashboard.is_some();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the runtime")?;
    rt.block_on(async move {
        let monitor = Monitor::bind(opts, rules, side_rules).await?;
        let (listen, audit) = monitor.local_addrs();
        if dashboard_on {
            eprintln!("kubevigil monitor: dashboard on http://{listen}/");
        }
        eprintln!("kubevigil monitor: metrics on http://{listen}/metrics");
        if let Some(a) = audit {
            let scheme = if tls { "https" } else { "http" };
            eprintln!("kubevigil monitor: audit events on {scheme}://{a}/audit");
            eprintln!("kubevigil monitor: Falco alerts on {scheme}://{a}/falco");
            eprintln!("kubevigil monitor: Hubble flows on {scheme}://{a}/hubble");
        }
        monitor
            .run(Box::new(std::io::stdout()), cli::shutdown_signal())
            .await?;
        anyhow::Ok(())
    })?;
    Ok(ExitCode::SUCCESS)
}

/// What `--policy-reports` writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
enum ReportFormat {
    /// wgpolicyk8s.io/v1alpha2 PolicyReport and ClusterPolicyReport.
    Policyreport,
    /// openreports.io/v1alpha1 Report and ClusterReport.
    Openreports,
}

impl ReportFormat {
    fn flavor(self) -> kubevigil_report::policyreport::Flavor {
        match self {
            ReportFormat::Policyreport => kubevigil_report::policyreport::Flavor::PolicyReport,
            ReportFormat::Openreports => kubevigil_report::policyreport::Flavor::OpenReports,
        }
    }
}

/// A webhook signing secret from its file (trimmed; empty is an error).
fn read_secret(file: &std::path::Path) -> anyhow::Result<Vec<u8>> {
    let secret = std::fs::read(file).with_context(|| format!("reading {}", file.display()))?;
    let secret = secret.trim_ascii();
    anyhow::ensure!(!secret.is_empty(), "{}: empty secret", file.display());
    Ok(secret.to_vec())
}

/// A sink of the `monitor.sinks` configuration, with its filter. Each rule pattern must name
/// a check, a detection rule (by id, name or file slug, as `detect.disable` does) or the
/// monitor's own alerts (`kubevigil-monitor`): a typo would silently filter everything out.
/// Notifications carry a detection rule's id, so names are turned into ids here.
fn configured_sink(
    sink: SinkConfig,
    detection: &[(String, Vec<String>)],
    alertmanager: &dyn Fn(&str) -> SinkSpec,
) -> anyhow::Result<SinkOptions> {
    use kubevigil_checks::ids;
    let checks = kubevigil_checks::catalog();
    let mut known: Vec<&str> = checks.iter().map(|e| e.id).collect();
    known.extend(
        detection
            .iter()
            .flat_map(|(_, names)| names.iter().map(String::as_str)),
    );
    known.push("kubevigil-monitor");
    let mut patterns = Vec::new();
    for (i, pattern) in sink.rules.iter().enumerate() {
        if let Some(problem) = ids::problem_among("check or rule id", pattern, &known) {
            anyhow::bail!("--config: {}: {problem}", sink.path.key("rules").index(i));
        }
        patterns.push(pattern.clone());
        for (id, names) in detection {
            if names.iter().any(|n| ids::matches(pattern, n)) && !patterns.contains(id) {
                patterns.push(id.clone());
            }
        }
    }
    let rules =
        RuleFilter::new(&patterns).map_err(|e| anyhow::anyhow!("--config: {}: {e}", sink.path))?;
    let spec = match &sink.target {
        SinkTarget::Alertmanager { url } => alertmanager(url),
        SinkTarget::Slack { url } => SinkSpec::Slack(kubevigil_sinks::SlackConfig::new(url)),
        SinkTarget::Webhook { url, secret_file } => SinkSpec::Webhook(
            kubevigil_sinks::WebhookConfig::new(url, &read_secret(secret_file)?),
        ),
    };
    Ok(SinkOptions {
        spec,
        filter: Filter {
            min_severity: sink.min_severity,
            findings: sink.findings,
            detections: sink.detections,
            namespaces: sink.namespaces,
            rules,
            refreshes: false,
        },
    })
}
