//! `kubevigil logs detect`: Sigma threat detection over saved pod logs (the built-in pod log
//! pack, rules/pod-logs/, plus user rule directories). Lines are read by
//! `kubevigil_detect::pod_logs` (CRI, Docker json-file and `kubectl logs` formats); alerts,
//! dedup, exceptions, output and exit codes are those of `audit detect`.

use std::path::PathBuf;
use std::process::ExitCode;

use kubevigil_detect::rules::Events;
use kubevigil_detect::{PodLogSource, PodRef};

use super::detect::{RulesArgs, RunArgs, load_rules, run_detection};

#[derive(Debug, clap::Args)]
pub struct LogsArgs {
    #[command(subcommand)]
    pub command: LogsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum LogsCommand {
    /// Threat detection: run Sigma rules (built-in pod log pack + --rules DIR) over saved pod
    /// logs.
    #[command(
        after_help = "Examples:\n  kubevigil logs detect examples/logs/shop_web-7d9f8b6c5d-x2x4q_*/app/0.log\n  kubectl logs -n shop web-0 --timestamps | kubevigil logs detect --namespace shop --pod web-0 -\n  kubevigil logs detect -o json --fail-on high /var/log/pods/*/*/*.log\n\nExit codes: 0 no alert at or above --fail-on, 1 at least one, 2 an input error."
    )]
    Detect(LogsDetectArgs),
}

#[derive(Debug, clap::Args)]
pub struct LogsDetectArgs {
    /// Log files (the kubelet's CRI files under /var/log/pods and /var/log/containers, Docker
    /// json-file logs, `kubectl logs` output; gzip detected), or `-` for stdin.
    #[arg(value_name = "LOG", required_unless_present = "list_rules")]
    pub logs: Vec<PathBuf>,
    /// Namespace of the pod the logs come from (default: from the kubelet's file name).
    #[arg(long)]
    pub namespace: Option<String>,
    /// Pod the logs come from (default: from the kubelet's file name).
    #[arg(long)]
    pub pod: Option<String>,
    /// Container the logs come from (default: from the kubelet's file name).
    #[arg(long)]
    pub container: Option<String>,
    /// Node the pod runs on.
    #[arg(long)]
    pub node: Option<String>,
    #[command(flatten)]
    pub select: RulesArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: LogsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        LogsCommand::Detect(a) => crate::cli::ignore_broken_pipe(detect(a)),
    }
}

fn detect(args: LogsDetectArgs) -> anyhow::Result<ExitCode> {
    let (set, tuning, rule_errors) =
        load_rules(&args.select, &args.run, &[], &[], Events::PodLogs)?;
    let pod = PodRef {
        namespace: args.namespace,
        pod: args.pod,
        container: args.container,
        node: args.node,
    };
    let stdin = args.logs.iter().any(|p| p.as_os_str() == "-");
    let mut source = PodLogSource::new(&args.logs, pod);
    // Files: lines are read (and their credentials judged) on one thread, matched on the
    // others; a stream is matched line by line as it comes.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    run_detection(
        &args.run,
        set,
        tuning,
        rule_errors,
        &mut source,
        stdin,
        threads,
        None,
    )
}
