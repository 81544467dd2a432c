//! `kubevigil hubble detect`: Hubble's flows (`hubble observe -o jsonpb`, the flow exporter's
//! files) through the built-in Hubble pack (rules/hubble/: policy drops, scans and sweeps, and
//! with `--manifests` flows the NetworkPolicies of those manifests would not let through, or
//! would) plus user rule directories. Flows are read by `kubevigil_detect::hubble`; dedup,
//! exceptions, output and exit codes are those of `audit detect`.

use std::path::PathBuf;
use std::process::ExitCode;

use kubevigil_detect::HubbleSource;
use kubevigil_detect::rules::Events;
use kubevigil_model::{DiagLevel, LoadOptions};

use super::detect::{RulesArgs, RunArgs, load_rules, run_detection};

#[derive(Debug, clap::Args)]
pub struct HubbleArgs {
    #[command(subcommand)]
    pub command: HubbleCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum HubbleCommand {
    /// Threat detection: run Sigma rules (built-in Hubble pack + --rules DIR) over Hubble's
    /// flows, judged against the NetworkPolicies of --manifests.
    #[command(
        after_help = "Examples:\n  kubevigil hubble detect --manifests examples/hubble/manifests examples/hubble/flows.json\n  hubble observe -o jsonpb --follow | kubevigil hubble detect -\n\nExit codes: 0 no alert at or above --fail-on, 1 at least one, 2 an input error."
    )]
    Detect(HubbleDetectArgs),
}

#[derive(Debug, clap::Args)]
pub struct HubbleDetectArgs {
    /// Files of flows (`hubble observe -o jsonpb`, Hubble's exported flow logs; one flow per
    /// line, gzip read too), or `-` for stdin.
    #[arg(value_name = "FILE", required_unless_present = "list_rules")]
    pub files: Vec<PathBuf>,
    /// Manifests of the cluster the flows were seen in (files or directories, repeatable): each
    /// new connection is judged against their NetworkPolicies (the `model` of a flow).
    #[arg(long = "manifests", value_name = "PATH")]
    pub manifests: Vec<PathBuf>,
    #[command(flatten)]
    pub select: RulesArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: HubbleArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        HubbleCommand::Detect(a) => crate::cli::ignore_broken_pipe(detect(a)),
    }
}

fn detect(args: HubbleDetectArgs) -> anyhow::Result<ExitCode> {
    let (set, tuning, mut rule_errors) =
        load_rules(&args.select, &args.run, &[], &[], Events::Hubble)?;
    let stdin = args.files.iter().any(|p| p.as_os_str() == "-");
    let mut source = HubbleSource::new(&args.files);
    if !args.manifests.is_empty() {
        let loaded = kubevigil_model::load_paths(&args.manifests, &LoadOptions::default());
        for d in &loaded.diagnostics {
            eprintln!("{d}");
            rule_errors |= d.level == DiagLevel::Error;
        }
        source = source.with_manifests(loaded.inventory);
    }
    // Flows are judged on the reading thread, matched on the others; a stream flow by flow.
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
