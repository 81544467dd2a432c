//! kubevigil: the binary. CLI wiring only; all logic lives in the library crates.
//!
//! Each subcommand lives in `cmd/<name>.rs` and exposes a clap `Args` struct plus
//! `run(args) -> anyhow::Result<ExitCode>`. Errors that reach `main` exit with code 2.

mod cli;
mod cmd;

// mimalloc: the inventory is millions of small allocations; it is markedly faster than glibc's
// malloc here and returns memory more readily.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "kubevigil",
    version,
    about = "Kubernetes security monitor: scan manifests, check Pod Security, analyse audit logs and detect threats",
    long_about = None,
    after_help = "Examples:\n  kubevigil scan examples/insecure\n  helm template ./chart | kubevigil scan -\n  kubevigil checks list\n\nExit codes: 0 ok, 1 findings/violations at or above the threshold, 2 error."
)]
struct Cli {
    /// Log verbosity (error, warn, info, debug, trace); also read from KUBEVIGIL_LOG.
    #[arg(long, global = true, default_value = "warn")]
    log_level: String,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    // Each helper adds exactly one variant line here and one match arm below.
    /// Scan manifests (files, directories, stdin) for security findings.
    Scan(cmd::scan::ScanArgs),
    /// List the checks, or explain one.
    Checks(cmd::checks::ChecksArgs),
    /// NetworkPolicy analysis: connectivity map, reachability questions, diffs.
    #[command(
        after_help = "Examples:\n  kubevigil netpol connectivity examples/hardened\n  kubevigil netpol can-reach --from shop/web --to shop/db --port 5432/TCP examples/hardened\n  kubevigil netpol diff examples/insecure examples/hardened"
    )]
    Netpol(cmd::netpol::NetpolArgs),
    /// Audit logs and audit policies: simulate a policy on recorded events, lint, recommend.
    #[command(
        after_help = "Examples:\n  kubevigil audit policy simulate --policy policy.yaml audit.log\n  kubevigil audit policy lint policy.yaml\n  kubevigil audit policy recommend > policy.yaml"
    )]
    Audit(cmd::audit::AuditArgs),
    /// Kubernetes Events: threat detection over saved Events (Pod Security rejections, missing
    /// Secrets, eviction storms).
    #[command(
        after_help = "Examples:\n  kubevigil events detect examples/events/events.json\n  kubectl get events -A -o json | kubevigil events detect -"
    )]
    Events(cmd::events::EventsArgs),
    /// Falco: threat detection over Falco's alerts (its priority as severity, several Falco
    /// rules on one pod as one incident).
    #[command(
        after_help = "Examples:\n  kubevigil falco detect examples/falco/falco.json\n  falco -o json_output=true | kubevigil falco detect -"
    )]
    Falco(cmd::falco::FalcoArgs),
    /// Hubble: threat detection over Cilium's flows (policy drops, scans), and flows the
    /// NetworkPolicies of the manifests would treat otherwise.
    #[command(
        after_help = "Examples:\n  kubevigil hubble detect --manifests examples/hubble/manifests examples/hubble/flows.json\n  hubble observe -o jsonpb --follow | kubevigil hubble detect -"
    )]
    Hubble(cmd::hubble::HubbleArgs),
    /// Resource abuse: pods hogging CPU or memory, quotas near their limit, OOM kills and crash
    /// loops, from saved readings of the metrics API and the cluster's objects.
    #[command(
        after_help = "Examples:\n  kubevigil resources detect --objects examples/resources/cluster.yaml examples/resources/metrics.json"
    )]
    Resources(cmd::resources::ResourcesArgs),
    /// Pod logs: threat detection over saved container logs (credentials printed, password
    /// guessing, crash storms, reverse shells and miners).
    #[command(
        after_help = "Examples:\n  kubevigil logs detect examples/logs/shop_web-7d9f8b6c5d-x2x4q_*/app/0.log\n  kubectl logs -n shop web-0 --timestamps | kubevigil logs detect --namespace shop --pod web-0 -"
    )]
    Logs(cmd::logs::LogsArgs),
    /// Image security: vulnerable packages in container images (registry, OCI layout, docker
    /// archive, root filesystem) and SBOMs, from the local OSV database.
    #[command(
        after_help = "Examples:\n  kubevigil db import Debian.zip npm.zip\n  kubevigil image scan registry.example.com/team/app:1.4\n  kubevigil image scan --oci-layout ./layout -o json"
    )]
    Image(cmd::image::ImageArgs),
    /// The local vulnerability database: import OSV records, show what it holds.
    Db(cmd::image::DbArgs),
    /// Pod Security Standards verdicts exactly as the PodSecurity admission plugin gives them.
    #[command(
        after_help = "Examples:\n  kubevigil pss --level baseline --version v1.29 examples/insecure\n  kubevigil pss -o json --level restricted examples/hardened\n  kubevigil pss --admission-config admission.yaml examples/insecure\n  kubevigil pss --what-if restricted examples/insecure\n\nExit codes: 0 all allowed, 1 some workload violates (or would be rejected), 2 error."
    )]
    Pss(cmd::pss::PssArgs),
    /// Admission webhook: Pod Security, external IPs, event rate limits, image policy, CSR approvals; hardening patches.
    #[command(
        after_help = "Examples:\n  kubevigil webhook --tls-cert tls.crt --tls-key tls.key --config webhook.yaml\n  kubevigil webhook manifests --namespace kubevigil | kubectl apply -f -\n  kubevigil webhook manifests --namespace kubevigil --cert-manager"
    )]
    Webhook(cmd::webhook::WebhookArgs),
    /// What reading a live cluster needs: the read-only ClusterRole.
    #[command(after_help = "Examples:\n  kubevigil cluster role | kubectl apply -f -")]
    Cluster(cmd::cluster::ClusterArgs),
    /// RBAC: who can do what, what a subject can do, who can read which secret, which grants
    /// audit logs show unused.
    #[command(
        after_help = "Examples:\n  kubevigil rbac who-can get secrets -n shop examples/rbac\n  kubevigil rbac can sa:shop/api list secrets -n shop examples/rbac\n  kubevigil rbac permissions sa:shop/api examples/rbac\n  kubevigil rbac secrets examples/rbac\n  kubevigil rbac unused --audit examples/audit/rbac-usage.log examples/rbac\n\nExit codes: 0 the query ran (can: allowed), 1 can: denied, 2 error."
    )]
    Rbac(cmd::rbac::RbacArgs),
    /// What appeared and what was resolved: the monitor's history of findings and alerts.
    History(cmd::history::HistoryArgs),
    /// Run continuously: the cluster's posture, and audit events, Falco alerts, Hubble flows,
    /// Kubernetes Events, pod logs and resource use through detection into the history; alerts
    /// as JSON lines, sinks, Prometheus metrics, a dashboard.
    Monitor(Box<cmd::monitor::MonitorArgs>),
}

fn main() -> ExitCode {
    let cli = Cli::parse_from(plugin_args(std::env::args_os().collect()));
    init_logging(&cli.log_level);
    let result = match cli.command {
        Command::Scan(args) => cmd::scan::run(args),
        Command::Checks(args) => cmd::checks::run(args),
        Command::Netpol(args) => cmd::netpol::run(args),
        Command::Audit(args) => cmd::audit::run(args),
        Command::Events(args) => cmd::events::run(args),
        Command::Logs(args) => cmd::logs::run(args),
        Command::Falco(args) => cmd::falco::run(args),
        Command::Hubble(args) => cmd::hubble::run(args),
        Command::Resources(args) => cmd::resources::run(args),
        Command::Image(args) => cmd::image::run_image(args),
        Command::Db(args) => cmd::image::run_db(args),
        Command::Pss(args) => cmd::pss::run(args),
        Command::Webhook(args) => cmd::webhook::run(args),
        Command::Cluster(args) => cmd::cluster::run(args),
        Command::Rbac(args) => cmd::rbac::run(args),
        Command::History(args) => cmd::history::run(args),
        Command::Monitor(args) => cmd::monitor::run(*args),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            // Error messages quote file names and input: escaped like all text for people.
            eprintln!("error: {}", kubevigil_model::Escaped(&format!("{err:#}")));
            ExitCode::from(2)
        }
    }
}

/// Installed as `kubectl-vigil` (a kubectl plugin: `kubectl vigil scan`), the binary reads the
/// cluster of the current context: `--cluster` is added after the commands that read one
/// (`scan`, `pss`, `netpol connectivity|can-reach|diff`, `rbac who-can|can|permissions|secrets|unused`)
/// unless it is already given.
fn plugin_args(mut args: Vec<std::ffi::OsString>) -> Vec<std::ffi::OsString> {
    let invoked = args
        .first()
        .and_then(|a| std::path::Path::new(a).file_stem())
        .and_then(|s| s.to_str())
        .unwrap_or("");
    if invoked != "kubectl-vigil" || args.iter().any(|a| a == "--cluster") {
        return args;
    }
    // The first word that is not an option (or an option's value) is the command.
    let Some(i) = args
        .iter()
        .position(|a| matches!(a.to_str(), Some("scan" | "pss" | "netpol" | "rbac")))
    else {
        return args;
    };
    let at = match (args[i].to_str(), args.get(i + 1).and_then(|a| a.to_str())) {
        (Some("netpol"), Some("connectivity" | "can-reach" | "diff"))
        | (Some("rbac"), Some("who-can" | "can" | "permissions" | "secrets" | "unused")) => i + 2,
        (Some("netpol" | "rbac"), _) => return args,
        _ => i + 1,
    };
    args.insert(at, "--cluster".into());
    args
}

fn init_logging(level: &str) {
    use tracing_subscriber::field::MakeExt as _;

    let filter = tracing_subscriber::EnvFilter::try_from_env("KUBEVIGIL_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(level));
    // Log fields carry names and messages from the input (the webhook logs each denied
    // request): every field goes through the one escape for text shown to people.
    let fields = tracing_subscriber::fmt::format::debug_fn(|w, field, value| {
        let text = format!("{value:?}");
        let text = kubevigil_model::escape_controls(&text);
        if field.name() == "message" {
            w.write_str(&text)
        } else {
            write!(w, "{}={text}", field.name())
        }
    })
    .delimited(" ");
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .fmt_fields(fields)
        .with_writer(std::io::stderr)
        // Colour only on a terminal: a log file or pipe gets no escape codes.
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_target(false)
        .init();
}

#[cfg(test)]
mod tests {
    use super::plugin_args;

    fn args(v: &[&str]) -> Vec<String> {
        plugin_args(v.iter().map(Into::into).collect())
            .into_iter()
            .map(|a| a.into_string().unwrap())
            .collect()
    }

    #[test]
    fn kubectl_vigil_reads_the_current_context() {
        assert_eq!(
            args(&["/usr/local/bin/kubectl-vigil", "scan", "-o", "json"]),
            [
                "/usr/local/bin/kubectl-vigil",
                "scan",
                "--cluster",
                "-o",
                "json"
            ]
        );
        assert_eq!(
            args(&[
                "kubectl-vigil",
                "--log-level",
                "info",
                "pss",
                "--what-if",
                "restricted"
            ]),
            [
                "kubectl-vigil",
                "--log-level",
                "info",
                "pss",
                "--cluster",
                "--what-if",
                "restricted"
            ]
        );
        assert_eq!(
            args(&["kubectl-vigil", "netpol", "can-reach", "--from", "a/b"]),
            [
                "kubectl-vigil",
                "netpol",
                "can-reach",
                "--cluster",
                "--from",
                "a/b"
            ]
        );
        assert_eq!(
            args(&["kubectl-vigil", "rbac", "who-can", "get", "secrets", "-A"]),
            [
                "kubectl-vigil",
                "rbac",
                "who-can",
                "--cluster",
                "get",
                "secrets",
                "-A"
            ]
        );
        assert_eq!(
            args(&["kubectl-vigil", "rbac", "unused", "--audit", "a.log"]),
            [
                "kubectl-vigil",
                "rbac",
                "unused",
                "--cluster",
                "--audit",
                "a.log"
            ]
        );
        assert_eq!(
            args(&["kubectl-vigil", "rbac", "--help"]),
            ["kubectl-vigil", "rbac", "--help"]
        );
        assert_eq!(
            args(&["kubectl-vigil", "scan", "--cluster", "--context", "x"]),
            ["kubectl-vigil", "scan", "--cluster", "--context", "x"]
        );
        assert_eq!(
            args(&["kubectl-vigil", "checks", "list"]),
            ["kubectl-vigil", "checks", "list"]
        );
        // As kubevigil, nothing changes.
        assert_eq!(
            args(&["kubevigil", "scan", "x.yaml"]),
            ["kubevigil", "scan", "x.yaml"]
        );
    }
}
