//! `kubevigil falco detect`: Falco's alerts (its JSON output, one alert per line) through the
//! built-in Falco pack (rules/falco/: Falco's priority as kubevigil's severity, and several
//! Falco rules on one pod as one incident) plus user rule directories. Alerts are read by
//! `kubevigil_detect::falco`; dedup, exceptions, output and exit codes are those of
//! `audit detect`.

use std::path::PathBuf;
use std::process::ExitCode;

use kubevigil_detect::FalcoSource;
use kubevigil_detect::rules::Events;

use super::detect::{RulesArgs, RunArgs, load_rules, run_detection};

#[derive(Debug, clap::Args)]
pub struct FalcoArgs {
    #[command(subcommand)]
    pub command: FalcoCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum FalcoCommand {
    /// Threat detection: run Sigma rules (built-in Falco pack + --rules DIR) over Falco's
    /// alerts.
    #[command(
        after_help = "Examples:\n  kubevigil falco detect examples/falco/falco.json\n  falco -o json_output=true | kubevigil falco detect -\n\nExit codes: 0 no alert at or above --fail-on, 1 at least one, 2 an input error."
    )]
    Detect(FalcoDetectArgs),
}

#[derive(Debug, clap::Args)]
pub struct FalcoDetectArgs {
    /// Files of Falco alerts (its JSON output, `json_output: true`, one alert per line; gzip
    /// read too), or `-` for stdin.
    #[arg(value_name = "FILE", required_unless_present = "list_rules")]
    pub files: Vec<PathBuf>,
    #[command(flatten)]
    pub select: RulesArgs,
    #[command(flatten)]
    pub run: RunArgs,
}

pub fn run(args: FalcoArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        FalcoCommand::Detect(a) => crate::cli::ignore_broken_pipe(detect(a)),
    }
}

fn detect(args: FalcoDetectArgs) -> anyhow::Result<ExitCode> {
    let (set, tuning, rule_errors) = load_rules(&args.select, &args.run, &[], &[], Events::Falco)?;
    let stdin = args.files.iter().any(|p| p.as_os_str() == "-");
    let mut source = FalcoSource::new(&args.files);
    // Files: alerts are read on one thread and matched on the others; a stream is matched
    // alert by alert as it comes.
    let threads = std::thread::available_parallelism().map_or(1, |n| n.get());
    run_detection(
        &args.run,
        set,
        tuning,
        rule_errors,
        &mut source,
        stdin,
        threads,
    )
}
