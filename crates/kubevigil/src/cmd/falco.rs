//! `kubevigil falco detect`: Falco's alerts (its JSON output, one alert per line) through the
//! built-in Falco pack (rules/falco/: Falco's priority as kubevigil's severity, and several
//! Falco rules on one pod as one incident) plus user rule directories. Alerts are read by
//! `kubevigil_detect::falco`; dedup, exceptions, output and exit codes are those of
//! `audit detect`.

use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::Arc;

use kubevigil_detect::incident::ExecThenFalco;
use kubevigil_detect::rules::Events;
use kubevigil_detect::{AuditLogSource, Detector, FalcoSource, Mode};

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
    /// Audit logs of the same time (repeatable): their exec, attach and ephemeral-container
    /// alerts (the built-in audit pack, tuned by the configuration) are joined with the Falco
    /// alerts of the same pod into incidents (incident_exec_then_falco). Only the incidents
    /// are told of them.
    #[arg(long = "audit", value_name = "AUDIT_LOG")]
    pub audit: Vec<PathBuf>,
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
    let (set, tuning, mut rule_errors) =
        load_rules(&args.select, &args.run, &[], &[], Events::Falco)?;
    let mut incidents = None;
    if !args.audit.is_empty() && !args.run.list_rules {
        let (joiner, audit_errors) = exec_alerts(&args.audit, &args.run)?;
        rule_errors |= audit_errors;
        incidents = Some(joiner);
    }
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
        incidents.as_mut(),
    )
}

/// The built-in audit pack over `logs`, its alerts held by a joiner for the Falco alerts to come;
/// and whether the logs or the rules had errors (reported here).
fn exec_alerts(logs: &[PathBuf], run: &RunArgs) -> anyhow::Result<(ExecThenFalco, bool)> {
    let select = RulesArgs {
        rules: Vec::new(),
        no_builtin: false,
        disable: Vec::new(),
    };
    let (set, tuning, rule_errors) = load_rules(&select, run, &[], &[], Events::Audit)?;
    let mut joiner = ExecThenFalco::for_files();
    let errors = kubevigil_audit::input::ReadErrorLog::default();
    let summary = Detector::new(Arc::new(set))
        .with_tuning(tuning)
        .with_mode(Mode::Batch)
        .run(
            &mut AuditLogSource::new(logs),
            |a| -> Result<(), std::convert::Infallible> {
                joiner.observe(a);
                Ok(())
            },
            |e| {
                if let Some(line) = errors.message(e) {
                    eprintln!("{line}");
                }
            },
        )
        .unwrap_or_else(|never| match never {});
    Ok((joiner, rule_errors || summary.has_errors()))
}
