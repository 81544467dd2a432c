//! `kubevigil resources detect`: resource abuse from saved readings of the metrics API
//! (`kubectl get --raw /apis/metrics.k8s.io/v1beta1/pods`, taken again and again) against the
//! cluster's objects (`kubectl get pods,nodes,resourcequotas -A -o yaml`), through the built-in
//! resources pack (rules/resources/) plus user rule directories. Readings are judged by
//! `kubevigil_detect::resources`; dedup, exceptions, output and exit codes are those of
//! `audit detect`.

use std::path::PathBuf;
use std::process::ExitCode;

use kubevigil_detect::resources::ResourcesSource;
use kubevigil_detect::rules::Events;
use kubevigil_model::{DiagLevel, LoadOptions};

use super::detect::{RulesArgs, RunArgs, load_rules, run_detection};

#[derive(Debug, clap::Args)]
pub struct ResourcesArgs {
    #[command(subcommand)]
    pub command: ResourcesCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum ResourcesCommand {
    /// Threat detection: pods hogging CPU or memory, quotas near their limit, OOM kills and
    /// crash loops, from saved metrics and objects.
    #[command(
        after_help = "Examples:\n  kubevigil resources detect --objects examples/resources/cluster.yaml examples/resources/metrics.json\n  kubectl get --raw /apis/metrics.k8s.io/v1beta1/pods > m1.json; kubevigil resources detect --objects dump.yaml m1.json\n\nExit codes: 0 no alert at or above --fail-on, 1 at least one, 2 an input error."
    )]
    Detect(ResourcesDetectArgs),
}

#[derive(Debug, clap::Args)]
pub struct ResourcesDetectArgs {
    /// Files of PodMetrics (PodMetricsLists or PodMetrics, one after the other or as JSON
    /// lines), read in time order; none: the objects alone are judged (quotas, OOM kills,
    /// crash loops).
    #[arg(value_name = "METRICS")]
    pub metrics: Vec<PathBuf>,
    /// The cluster's Pods, Nodes and ResourceQuotas (files or directories, repeatable;
    /// `kubectl get pods,nodes,resourcequotas -A -o yaml`).
    #[arg(
        long = "objects",
        value_name = "PATH",
        required_unless_present = "list_rules"
    )]
    pub objects: Vec<PathBuf>,
    /// How long hogging lasts before it is told, in minutes.
    #[arg(long, value_name = "MINUTES", default_value_t = 5, value_parser = clap::value_parser!(u32).range(0..=1440))]
    pub hog_window: u32,
    #[command(flatten)]
    pub select: RulesArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: ResourcesArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        ResourcesCommand::Detect(a) => crate::cli::ignore_broken_pipe(detect(a)),
    }
}

fn detect(args: ResourcesDetectArgs) -> anyhow::Result<ExitCode> {
    let (set, tuning, mut errors) =
        load_rules(&args.select, &args.run, &[], &[], Events::Resources)?;
    let loaded = kubevigil_model::load_paths(&args.objects, &LoadOptions::default());
    for d in &loaded.diagnostics {
        eprintln!("{d}");
        errors |= d.level == DiagLevel::Error;
    }
    let mut source = ResourcesSource {
        metrics: args.metrics.clone(),
        objects: loaded.inventory,
        window_ms: i64::from(args.hog_window) * 60_000,
    };
    let stdin = args.metrics.iter().any(|p| p.as_os_str() == "-");
    run_detection(&args.run, set, tuning, errors, &mut source, stdin, 1, None)
}
