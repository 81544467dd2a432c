//! `kubevigil audit ...`: audit logs and audit policies.
//!
//! Subcommands: `audit policy simulate|lint|recommend` (this file). To add a subcommand, add a
//! variant to [`AuditCommand`] and an arm to [`run`]; its code lives in its own `cmd/` module.
//! Every command that reads audit logs reads them with `kubevigil_audit::input::read_all`, reports
//! problems through `kubevigil_audit::input::ReadErrorLog` and exits 2 when the summary has
//! errors.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::ValueEnum;
use kubevigil_audit::checker::Checker;
use kubevigil_audit::input::ReadErrorLog;
use kubevigil_audit::lint::LintRun;
use kubevigil_audit::policy::load_policy;
use kubevigil_audit::simulate::request_line;
use kubevigil_report::audit::Simulated;
use kubevigil_report::{Emitter, Json, RuleInfo, Table};

use crate::cli;

#[derive(Debug, clap::Args)]
pub struct AuditArgs {
    #[command(subcommand)]
    pub command: AuditCommand,
}

#[derive(Debug, clap::Subcommand)]
pub enum AuditCommand {
    /// Audit policies: simulate a policy on recorded events, lint it, print a recommended one.
    #[command(subcommand)]
    Policy(PolicyCommand),
    /// Threat detection: run Sigma rules (built-in pack + --rules DIR) over audit logs.
    #[command(after_help = "Examples:
  kubevigil audit detect /var/log/kubernetes/audit.log
  kubevigil audit detect --rules ./my-rules -o json --fail-on high audit-*.log.gz
  tail -F audit.log | kubevigil audit detect -o json -
  kubevigil audit detect --stats --config .kubevigil.yaml audit.log
  kubevigil audit detect --list-rules

JSON output: one alert per line (rule, name, title, severity, description, why, falsePositives,
nextSteps, mitre, firstSeen, lastSeen, update, count, dedupKey, actor, action, facts, auditIDs,
events; see the README, \"Alert JSON contract\"); bodies are never printed. Repeats fold by
dedup key and period: on stdin an alert at once, then one update per period; over files one
alert per key and period. Exceptions and dedup settings: `detect` in the configuration.

Exit codes: 0 no alert at or above --fail-on; 1 at least one; 2 an input error (unreadable
input, malformed events or rule files: reported with file:line:column and skipped; everything
else is still processed).")]
    Detect(super::detect::DetectArgs),
}

#[derive(Debug, clap::Subcommand)]
pub enum PolicyCommand {
    /// Apply a policy to recorded audit events: level per request, volume estimate, rules never hit.
    #[command(after_help = "Examples:
  kubevigil audit policy simulate --policy policy.yaml /var/log/kubernetes/audit.log
  kubevigil audit policy simulate --policy policy.yaml -o json audit-*.log.gz
  zcat audit.log.gz | kubevigil audit policy simulate --policy policy.yaml -

The input must carry the request attributes (any level records them). Its bodies are used
for the size estimate; where the policy asks for bodies the input lacks, the estimate is a
lower bound (and says so).

Exit codes: 0 ok; 2 an input error (unreadable input, malformed events: reported with
file:line:column, skipped and counted; the report still covers every other event).")]
    Simulate(SimulateArgs),
    /// Lint a policy: secrets logged with bodies, exec/RBAC not recorded, shadowed rules, ...
    #[command(after_help = "Examples:
  kubevigil audit policy lint /etc/kubernetes/audit-policy.yaml
  kubevigil audit policy lint -o sarif --output-file audit-policy.sarif audit-policy.yaml
  kubevigil audit policy lint --list
  kubevigil audit policy lint --explain audit-policy-sensitive-bodies

Exit codes: 0 no finding at or above --fail-on; 1 at least one; 2 the policy cannot be loaded.")]
    Lint(LintArgs),
    /// Print a documented, lint-clean audit policy covering the guide's recommendations.
    #[command(after_help = "Examples:
  kubevigil audit policy recommend > audit-policy.yaml
  kubevigil audit policy recommend | kubevigil audit policy lint -")]
    Recommend,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    Table,
    Json,
    Sarif,
    Junit,
}

#[derive(Debug, clap::Args)]
pub struct LintArgs {
    /// The audit policy file (`-` for stdin).
    #[arg(value_name = "FILE", required_unless_present_any = ["list", "explain"])]
    pub policy: Option<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: LintFormat,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// Exit 1 when a finding has at least this severity (critical, high, medium, low, info).
    #[arg(long, default_value = "low", value_name = "SEVERITY")]
    pub fail_on: kubevigil_model::Severity,
    /// List the lint rules.
    #[arg(long, conflicts_with = "explain")]
    pub list: bool,
    /// Print the documentation of one lint rule.
    #[arg(long, value_name = "RULE")]
    pub explain: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum SimulateFormat {
    Table,
    Json,
}

#[derive(Debug, clap::Args)]
pub struct SimulateArgs {
    /// The audit policy file (audit.k8s.io/v1 Policy, YAML or JSON).
    #[arg(long, value_name = "FILE")]
    pub policy: PathBuf,
    /// Audit log files (JSON lines, JSON array, EventList; gzip detected) or `-` for stdin.
    #[arg(required = true, value_name = "LOG")]
    pub logs: Vec<PathBuf>,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: SimulateFormat,
    /// How many unrecorded request shapes to list.
    #[arg(long, default_value_t = 20, value_name = "N")]
    pub top: usize,
    /// Also write the decision for every request as JSON lines to FILE (`-`: stdout).
    #[arg(long, value_name = "FILE")]
    pub per_request: Option<PathBuf>,
}

pub fn run(args: AuditArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        AuditCommand::Policy(PolicyCommand::Simulate(a)) => simulate(a),
        AuditCommand::Policy(PolicyCommand::Lint(a)) => lint(a),
        AuditCommand::Policy(PolicyCommand::Recommend) => {
            print!("{}", kubevigil_audit::recommend::RECOMMENDED_POLICY);
            Ok(ExitCode::SUCCESS)
        }
        AuditCommand::Detect(a) => super::detect::run(a),
    }
}

fn lint(args: LintArgs) -> anyhow::Result<ExitCode> {
    if args.list {
        for r in kubevigil_audit::lint::rules() {
            println!("{:<36} {:<8} {}", r.id, r.severity.as_str(), r.title);
        }
        return Ok(ExitCode::SUCCESS);
    }
    if let Some(id) = &args.explain {
        let rule = kubevigil_audit::lint::find_rule(id)
            .with_context(|| format!("unknown lint rule {id:?} (see --list)"))?;
        print!("{}", rule.doc);
        return Ok(ExitCode::SUCCESS);
    }
    let path = args
        .policy
        .as_deref()
        .context("a policy file is required")?;
    let (name, text) = cli::read_input(path)?;
    let run = LintRun::of_text(&name, &text);
    let rules: Vec<RuleInfo> = kubevigil_audit::lint::rules()
        .map(|r| RuleInfo::of(r, "audit-policy"))
        .collect();
    let report = kubevigil_report::Report {
        tool_version: env!("CARGO_PKG_VERSION"),
        rules: &rules,
        findings: &run.findings,
        suppressed: &[],
        diagnostics: &run.diagnostics,
        objects: &run.objects,
    };
    let rendered = match args.output {
        LintFormat::Table => {
            let color = cli::use_color("auto", args.output_file.is_some())?;
            kubevigil_report::table::render(&report, color)
        }
        LintFormat::Json => kubevigil_report::json::render(&report),
        LintFormat::Sarif => kubevigil_report::sarif::render(&report),
        LintFormat::Junit => kubevigil_report::junit::render(&report),
    };
    cli::write_output(args.output_file.as_deref(), &rendered)?;
    let failed = run.findings.iter().any(|f| f.severity >= args.fail_on);
    Ok(cli::exit_code(run.has_errors(), failed))
}

fn load_policy_file(path: &Path) -> anyhow::Result<kubevigil_audit::policy::LoadedPolicy> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    let name = path.display().to_string();
    match load_policy(&name, &text) {
        Ok(loaded) => {
            for w in &loaded.warnings {
                eprintln!("{w}");
            }
            Ok(loaded)
        }
        Err(errors) => {
            for e in &errors {
                eprintln!("{e}");
            }
            anyhow::bail!("invalid audit policy {name}: {} error(s)", errors.len())
        }
    }
}

fn simulate(args: SimulateArgs) -> anyhow::Result<ExitCode> {
    let loaded = load_policy_file(&args.policy)?;
    let checker = Checker::new(loaded.policy);
    let to_stdout = args
        .per_request
        .as_deref()
        .is_some_and(|p| p.as_os_str() == "-");
    let mut per_request = args.per_request.as_deref().map(cli::create).transpose()?;
    let errors = ReadErrorLog::default();
    let (report, read) = kubevigil_audit::simulate::run(
        &checker,
        &args.logs,
        args.top,
        |name, line, ev, outcome| -> anyhow::Result<()> {
            if let Some(out) = per_request.as_mut() {
                let v = request_line(name, line, ev, outcome);
                kubevigil_model::text::json::to_writer(&mut *out, &v, false)?;
                out.write_all(b"\n")?;
            }
            Ok(())
        },
        |e| {
            if let Some(line) = errors.message(e) {
                eprintln!("{line}");
            }
        },
    )?;
    if let Some(mut out) = per_request {
        out.flush()?;
    }
    let result = Simulated {
        report: &report,
        policy: args.policy.display().to_string(),
        inputs: args.logs.iter().map(|p| p.display().to_string()).collect(),
        read,
    };
    let emitter: &dyn for<'a> Emitter<Simulated<'a>> = match args.output {
        SimulateFormat::Json => &Json,
        SimulateFormat::Table => &Table,
    };
    let mut text = Vec::new();
    emitter.emit(&mut text, &result)?;
    let text = String::from_utf8(text)?;
    // With the per-request lines on stdout, the summary goes to stderr.
    if to_stdout {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    Ok(cli::exit_code(read.has_errors(), false))
}
