//! `kubevigil events detect`: Sigma threat detection over saved Kubernetes Events (the built-in
//! Events pack, rules/k8s-events/, plus user rule directories). Events are read by
//! `kubevigil_detect::k8s_events` (`kubectl get events -o json`, `--watch` output, JSON lines;
//! core v1 and events.k8s.io/v1); alerts, dedup, exceptions, output and exit codes are those of
//! `audit detect`.

use std::path::PathBuf;
use std::process::ExitCode;

use kubevigil_detect::K8sEventSource;
use kubevigil_detect::rules::Events;

use super::detect::{RulesArgs, RunArgs, load_rules, run_detection};

#[derive(Debug, clap::Args)]
pub struct EventsArgs {
    #[command(subcommand)]
    pub command: EventsCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum EventsCommand {
    /// Threat detection: run Sigma rules (built-in Events pack + --rules DIR) over saved
    /// Kubernetes Events.
    #[command(
        after_help = "Examples:\n  kubevigil events detect examples/events/events.json\n  kubectl get events -A -o json | kubevigil events detect -\n\nExit codes: 0 no alert at or above --fail-on, 1 at least one, 2 an input error."
    )]
    Detect(EventsDetectArgs),
}

#[derive(Debug, clap::Args)]
pub struct EventsDetectArgs {
    /// Files of Events (`kubectl get events -o json`, its `--watch` output, JSON lines; core v1
    /// and events.k8s.io/v1), or `-` for stdin.
    #[arg(value_name = "FILE", required_unless_present = "list_rules")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub select: RulesArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: EventsArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        EventsCommand::Detect(a) => crate::cli::ignore_broken_pipe(detect(a)),
    }
}

fn detect(args: EventsDetectArgs) -> anyhow::Result<ExitCode> {
    let (set, tuning, rule_errors) =
        load_rules(&args.select, &args.run, &[], &[], Events::K8sEvents)?;
    let stdin = args.files.iter().any(|p| p.as_os_str() == "-");
    let mut source = K8sEventSource::new(&args.files);
    source.allowed_registries = super::scan::load_config(args.run.config.as_deref())?
        .images
        .allowed_registries;
    // An input is read whole, then matched: one thread is plenty.
    run_detection(
        &args.run,
        set,
        tuning,
        rule_errors,
        &mut source,
        stdin,
        1,
        None,
    )
}
