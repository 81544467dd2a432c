//! `kubevigil audit detect`: Sigma threat detection over audit logs, with the built-in rule
//! pack (rules/, embedded) plus user rule directories.
//!
//! Output contract (scripts depend on it): `-o json` prints one alert per line, the contract of
//! `kubevigil_detect::alert` (documented in the README, "Alert JSON contract"); events are
//! samples without bodies. Every alert is written and flushed as soon as its event is processed.
//! Repeats are folded by `kubevigil_detect::dedup`: reading stdin (`-`), an alert is printed at
//! once and its repeats as one update per period; reading files only, one alert per key and
//! period, with its count and first and last times. `--stats` prints per-rule counts instead.
//! Exit codes: 0 no alert at or above `--fail-on`; 1 at least one; 2 an input error (unreadable
//! input, malformed events or rule files: reported, skipped, the rest still processed).
//! The pipeline (reading events, the engine, the alert contract, rule loading) is
//! `kubevigil_detect`; alerts are rendered by `kubevigil_report::alerts`.

use std::io::{BufWriter, Write};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;

use clap::ValueEnum;
use kubevigil_audit::input::ReadErrorLog;
use kubevigil_detect::incident::ExecThenFalco;
use kubevigil_detect::rules::{Events, RuleOptions, display_name};
use kubevigil_detect::tuning::Tuning;
use kubevigil_detect::{AuditLogSource, DetectionAlert, Detector, EventSource, Mode};
use kubevigil_model::{DiagLevel, Escaped, Severity};
use kubevigil_report::alerts::{AlertTable, write_json_line, write_stats, write_stats_json};
use kubevigil_sigma::RuleSet;

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum DetectFormat {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, ValueEnum)]
pub enum FailOn {
    Info,
    Low,
    Medium,
    High,
    Critical,
    /// Never exit 1 because of alerts.
    None,
}

#[derive(Debug, clap::Args)]
pub struct DetectArgs {
    /// Audit log files (JSON lines, JSON array, EventList; EKS CloudWatch, AKS diagnostic and
    /// GKE Cloud Logging exports; gzip detected), directories of rotated logs (read oldest
    /// first), or `-` for stdin.
    #[arg(value_name = "LOG", required_unless_present = "list_rules")]
    pub logs: Vec<PathBuf>,
    #[command(flatten)]
    pub select: RulesArgs,
    /// Indicator list: a file of IP addresses and CIDR ranges, one per line, `#` comments
    /// (repeatable; `detect.iocFiles` adds more). Requests from them raise
    /// k8s_ioc_source_address.
    #[arg(long = "ioc-file", value_name = "FILE")]
    pub ioc_files: Vec<PathBuf>,
    /// An address range of the cluster's own networks (repeatable; replaces the default
    /// private ranges; `detect.clusterNetworks`). System identities acting from elsewhere
    /// raise k8s_system_identity_outside_cluster.
    #[arg(long = "cluster-network", value_name = "CIDR")]
    pub cluster_networks: Vec<String>,
    #[command(flatten)]
    pub run: RunArgs,
    /// Threads that evaluate events read from files (default: one per CPU core; 1 evaluates on
    /// the reading thread). Alerts come out in input order, as with one thread. stdin is always
    /// read event by event, so that each alert is written as soon as its event arrives.
    #[arg(long, value_name = "N", value_parser = clap::value_parser!(u16).range(1..))]
    pub threads: Option<u16>,
}

/// The rules a `detect` command runs (`audit detect`, `logs detect`).
#[derive(Debug, clap::Args)]
pub struct RulesArgs {
    /// Additional Sigma rule directory or file (repeatable; `*.yml`/`*.yaml`, recursive,
    /// `tests/` folders skipped). Loaded together with the built-in pack; rules for other
    /// events (another `logsource`) are left out.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Do not load the built-in rule pack.
    #[arg(long)]
    pub no_builtin: bool,
    /// Disable rules by id, name or glob (repeatable); `detect.disable` in the configuration adds
    /// more. A name that matches no rule is an error.
    #[arg(long = "disable", value_name = "ID")]
    pub disable: Vec<String>,
}

/// How a `detect` command runs and reports.
#[derive(Debug, clap::Args)]
pub struct RunArgs {
    /// Configuration file (default: .kubevigil.yaml in the working directory, if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: DetectFormat,
    /// Exit 1 when an alert of at least this severity is raised.
    #[arg(long, value_enum, default_value = "info", value_name = "LEVEL")]
    pub fail_on: FailOn,
    /// List the loaded rules and exit.
    #[arg(long)]
    pub list_rules: bool,
    /// Print per-rule counts (alerts, updates, matches, exceptions) with the top actors and
    /// objects instead of the alerts.
    #[arg(long)]
    pub stats: bool,
}

pub fn run(args: DetectArgs) -> anyhow::Result<ExitCode> {
    // The reader of our output went away (`| head`): not an error.
    crate::cli::ignore_broken_pipe(detect(args))
}

fn detect(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let (set, tuning, rule_errors) = load_rules(
        &args.select,
        &args.run,
        &args.cluster_networks,
        &args.ioc_files,
        Events::Audit,
    )?;
    let threads = args.threads.map_or_else(
        || std::thread::available_parallelism().map_or(1, |n| n.get()),
        usize::from,
    );
    let mut source = AuditLogSource::new(&args.logs);
    let stdin = args.logs.iter().any(|p| p.as_os_str() == "-");
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

/// Runs `set` over `source` and prints the alerts (or the rules, or the stats) as `output`
/// says; the summary goes to stderr. `stdin`: the source reads a stream (alert at once, then
/// updates), else files read to the end (one alert per key and period). `incidents`, when
/// given, sees every alert and each incident it completes is told after the alert (and counts
/// as one).
#[allow(clippy::too_many_arguments)]
pub(crate) fn run_detection(
    output: &RunArgs,
    set: RuleSet,
    tuning: Tuning,
    rule_errors: bool,
    source: &mut (dyn EventSource + Send),
    stdin: bool,
    threads: usize,
    mut incidents: Option<&mut ExecThenFalco>,
) -> anyhow::Result<ExitCode> {
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if output.list_rules {
        list_rules(&set, &mut out)?;
        out.flush()?;
        return Ok(if rule_errors {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    let mut table = AlertTable::default();
    let errors = ReadErrorLog::default();
    let mode = if stdin { Mode::Stream } else { Mode::Batch };
    let mut detector = Detector::new(Arc::new(set))
        .with_tuning(tuning)
        .with_mode(mode);
    let stream = mode == Mode::Stream;
    let (mut told, mut incidents_worst) = (0u64, None);
    let on_alert = |alert: &DetectionAlert| {
        let incident = incidents.as_deref_mut().and_then(|j| j.observe(alert));
        if let Some(i) = &incident {
            told += 1;
            incidents_worst = incidents_worst.max(Some(i.severity));
        }
        if output.stats {
            return Ok(());
        }
        for a in std::iter::once(alert).chain(incident.as_ref()) {
            match output.output {
                DetectFormat::Json => write_json_line(&mut out, a)?,
                DetectFormat::Table => table.write(&mut out, a)?,
            }
        }
        // Whoever reads a stream sees each alert when its event was processed.
        if stream { out.flush() } else { Ok(()) }
    };
    let on_error = |e: &dyn std::fmt::Display| {
        if let Some(line) = errors.message(e) {
            eprintln!("{line}");
        }
    };
    let mut summary = if stream || threads <= 1 {
        detector.run(source, on_alert, on_error)?
    } else {
        detector.run_parallel(source, threads, on_alert, on_error)?
    };
    summary.alerts += told;
    summary.worst = summary.worst.max(incidents_worst);
    if output.stats {
        match output.output {
            DetectFormat::Json => write_stats_json(&mut out, detector.stats())?,
            DetectFormat::Table => write_stats(&mut out, detector.stats())?,
        }
    }
    out.flush()?;
    eprintln!(
        "{} events, {} alerts, {} updates, {} excepted, {} malformed events skipped, {} unreadable input(s); correlation groups: {} expired, {} evicted (memory cap); dedup: {} repeats folded, {} evicted (memory cap)",
        summary.events,
        summary.alerts,
        summary.updates,
        summary.excepted,
        summary.skipped,
        summary.failed_inputs,
        summary.correlation.expired,
        summary.correlation.evicted,
        summary.dedup.merged,
        summary.dedup.evicted
    );
    if rule_errors || summary.has_errors() {
        return Ok(ExitCode::from(2));
    }
    let fail = summary
        .worst
        .is_some_and(|w| fail_threshold(output.fail_on).is_some_and(|t| w >= t));
    Ok(if fail {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn fail_threshold(f: FailOn) -> Option<Severity> {
    Some(match f {
        FailOn::Info => Severity::Info,
        FailOn::Low => Severity::Low,
        FailOn::Medium => Severity::Medium,
        FailOn::High => Severity::High,
        FailOn::Critical => Severity::Critical,
        FailOn::None => return None,
    })
}

/// The rule set, the configuration's tuning, and whether a rule file had errors (reported here;
/// the run still goes on with every other rule, and exits 2). A rule id or name in `--disable`
/// or the configuration that names no rule is an error.
pub(crate) fn load_rules(
    args: &RulesArgs,
    run: &RunArgs,
    cluster_networks: &[String],
    ioc_files: &[PathBuf],
    events: Events,
) -> anyhow::Result<(RuleSet, Tuning, bool)> {
    let config = super::scan::load_config(run.config.as_deref())?;
    let (loaded, problems) = kubevigil_detect::rules::load_rules(&RuleOptions {
        rule_paths: &args.rules,
        builtin: !args.no_builtin,
        disable: &args.disable,
        cluster_networks,
        ioc_files,
        config: &config.detect,
        events,
    })?;
    let mut errors = false;
    for p in &problems {
        errors = true;
        eprintln!("error: {}", Escaped(p));
    }
    for d in &loaded.diagnostics {
        match d.level {
            DiagLevel::Error => {
                errors = true;
                eprintln!("{d}");
            }
            DiagLevel::Warning => eprintln!("{d}"),
            DiagLevel::Note => tracing::info!("{d}"),
        }
    }
    Ok((loaded.set, loaded.tuning, errors))
}

fn list_rules(set: &RuleSet, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(
        out,
        "{:<36}  {:<40}  {:<8}  {:<11}  TITLE",
        "ID", "NAME", "LEVEL", "TYPE"
    )?;
    for r in set.rules() {
        let kind = if r.correlation {
            "correlation"
        } else if r.emits {
            "detection"
        } else {
            "base"
        };
        writeln!(
            out,
            "{:<36}  {:<40}  {:<8}  {:<11}  {}",
            Escaped(&r.meta.id),
            Escaped(&display_name(&r.meta)),
            r.meta.severity().as_str(),
            kind,
            Escaped(&r.meta.title)
        )?;
    }
    Ok(())
}
