//! `kubevigil audit detect`: Sigma threat detection over audit logs, with the built-in rule
//! pack (rules/, embedded) plus user rule directories.
//!
//! Output contract (scripts depend on it): `-o json` prints one alert per line:
//! `{"rule","title","severity","time","tags","group","count","events":[{"auditID","user",
//! "sourceIPs","verb","objectRef","responseStatus"}]}`; events are redacted before printing.
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
use kubevigil_detect::audit::{CLUSTER_NETWORKS, IOC_ADDRESSES};
use kubevigil_detect::indicators;
use kubevigil_detect::rules::RuleFiles;
use kubevigil_detect::{AuditLogSource, DetectionAlert, Detector};
use kubevigil_model::{DiagLevel, Escaped, Severity};
use kubevigil_report::alerts::{AlertTable, write_json_line};
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
    /// Additional Sigma rule directory or file (repeatable; `*.yml`/`*.yaml`, recursive,
    /// `tests/` folders skipped). Loaded together with the built-in pack.
    #[arg(long = "rules", value_name = "DIR")]
    pub rules: Vec<PathBuf>,
    /// Do not load the built-in rule pack.
    #[arg(long)]
    pub no_builtin: bool,
    /// Disable a rule by id or name (repeatable); `detect.disable` in the configuration adds more.
    #[arg(long = "disable", value_name = "ID")]
    pub disable: Vec<String>,
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
}

pub fn run(args: DetectArgs) -> anyhow::Result<ExitCode> {
    // The reader of our output went away (`| head`): not an error.
    crate::cli::ignore_broken_pipe(detect(args))
}

fn detect(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let (set, rule_errors) = load_rules(&args)?;
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.list_rules {
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
    let summary = Detector::new(Arc::new(set)).run(
        &mut AuditLogSource::new(&args.logs),
        |alert: &DetectionAlert| match args.output {
            DetectFormat::Json => write_json_line(&mut out, alert),
            DetectFormat::Table => table.write(&mut out, alert),
        },
        |e| {
            if let Some(line) = errors.message(e) {
                eprintln!("{line}");
            }
        },
    )?;
    out.flush()?;
    eprintln!(
        "{} events, {} alerts, {} malformed events skipped, {} unreadable input(s); correlation groups: {} expired, {} evicted (memory cap)",
        summary.events,
        summary.alerts,
        summary.skipped,
        summary.failed_inputs,
        summary.correlation.expired,
        summary.correlation.evicted
    );
    if rule_errors || summary.has_errors() {
        return Ok(ExitCode::from(2));
    }
    let fail = summary
        .worst
        .is_some_and(|w| fail_threshold(args.fail_on).is_some_and(|t| w >= t));
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

/// The rule set, and whether a rule file had errors (reported here; the run still goes on
/// with every other rule, and exits 2).
fn load_rules(args: &DetectArgs) -> anyhow::Result<(RuleSet, bool)> {
    let files = RuleFiles::read(&args.rules)?;
    let config = super::scan::load_config(args.config.as_deref())?;
    let disabled: Vec<String> = args
        .disable
        .iter()
        .chain(&config.detect.disable)
        .cloned()
        .collect();
    let mut errors = false;
    let mut placeholders = Vec::new();
    let networks: Vec<&String> = args
        .cluster_networks
        .iter()
        .chain(&config.detect.cluster_networks)
        .collect();
    if !networks.is_empty() {
        let mut parsed = Vec::new();
        for n in networks {
            match indicators::parse_entry(n.trim()) {
                Some(net) => parsed.push(net.to_string()),
                None => anyhow::bail!("cluster network {}: not a CIDR range", Escaped(n)),
            }
        }
        placeholders.push((CLUSTER_NETWORKS.to_string(), parsed));
    }
    let mut iocs = Vec::new();
    for path in args.ioc_files.iter().chain(&config.detect.ioc_files) {
        let (entries, problems) = indicators::read_indicator_file(path);
        for p in &problems {
            errors = true;
            eprintln!("error: {}", Escaped(&p.to_string()));
        }
        iocs.extend(entries);
    }
    placeholders.push((IOC_ADDRESSES.to_string(), iocs));
    let loaded = files.compile_with(!args.no_builtin, &disabled, &placeholders);
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
    for id in loaded.unknown_ids(&args.disable) {
        eprintln!("warning: --disable {}: no such rule", Escaped(id));
    }
    if loaded.set.rules().is_empty() {
        anyhow::bail!("no rules loaded");
    }
    Ok((loaded.set, errors))
}

fn list_rules(set: &RuleSet, out: &mut impl Write) -> std::io::Result<()> {
    writeln!(out, "{:<36}  {:<8}  {:<11}  TITLE", "ID", "LEVEL", "TYPE")?;
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
            "{:<36}  {:<8}  {:<11}  {}",
            Escaped(&r.meta.id),
            r.meta.severity().as_str(),
            kind,
            Escaped(&r.meta.title)
        )?;
    }
    Ok(())
}
