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
use kubevigil_audit::policy::load_policy;
use kubevigil_audit::simulate::{Report, Simulation};
use kubevigil_model::Escaped;

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
  kubevigil audit detect --list-rules

JSON output: one alert per line {rule, title, severity, time, tags, group, count, events[]};
events are redacted.

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

fn read_policy_text(path: &Path) -> anyhow::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("cannot read stdin")?;
        return Ok(("<stdin>".into(), text));
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((path.display().to_string(), text))
}

fn lint_rule_infos() -> Vec<kubevigil_report::RuleInfo> {
    kubevigil_audit::lint::rules()
        .map(|r| kubevigil_report::RuleInfo {
            id: r.id.to_string(),
            title: r.title.to_string(),
            severity: r.severity,
            category: "audit-policy".into(),
            doc: r.doc.to_string(),
        })
        .collect()
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
    let (name, text) = read_policy_text(path)?;
    let (findings, diagnostics, objects) = match load_policy(&name, &text) {
        Ok(mut loaded) => {
            let findings = kubevigil_audit::lint::lint(&loaded);
            if kubevigil_audit::lint::probe::Vocabulary::of(&loaded.policy).truncated {
                loaded.warnings.push(kubevigil_model::Diagnostic {
                    level: kubevigil_model::DiagLevel::Warning,
                    file: name.clone(),
                    line: 0,
                    col: 0,
                    message: "the policy names too many distinct values for an exhaustive analysis; some were left out, findings may be incomplete".into(),
                });
            }
            let objects = vec![kubevigil_model::ObjectRef::of(&loaded.object)];
            (findings, loaded.warnings, objects)
        }
        Err(errors) => (Vec::new(), errors, Vec::new()),
    };
    let rules = lint_rule_infos();
    let report = kubevigil_report::Report {
        tool_version: env!("CARGO_PKG_VERSION"),
        rules: &rules,
        findings: &findings,
        suppressed: &[],
        diagnostics: &diagnostics,
        objects: &objects,
    };
    let rendered = match args.output {
        LintFormat::Table => {
            let color = std::io::IsTerminal::is_terminal(&std::io::stdout())
                && std::env::var_os("NO_COLOR").is_none();
            kubevigil_report::table::render(&report, color && args.output_file.is_none())
        }
        LintFormat::Json => kubevigil_report::json::render(&report),
        LintFormat::Sarif => kubevigil_report::sarif::render(&report),
        LintFormat::Junit => kubevigil_report::junit::render(&report),
    };
    super::scan::write_output(args.output_file.as_deref(), &rendered)?;
    if diagnostics
        .iter()
        .any(|d| d.level == kubevigil_model::DiagLevel::Error)
    {
        return Ok(ExitCode::from(2));
    }
    Ok(if findings.iter().any(|f| f.severity >= args.fail_on) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
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
    let mut sim = Simulation::new(&checker);
    let mut per_request: Option<Box<dyn Write>> = match &args.per_request {
        None => None,
        Some(p) if p.as_os_str() == "-" => {
            Some(Box::new(std::io::BufWriter::new(std::io::stdout().lock())))
        }
        Some(p) => Some(Box::new(std::io::BufWriter::new(
            std::fs::File::create(p).with_context(|| format!("cannot create {}", p.display()))?,
        ))),
    };
    let errors = ReadErrorLog::default();
    let summary = kubevigil_audit::input::read_all(
        &args.logs,
        |name, raw, ev| -> anyhow::Result<()> {
            let outcome = sim.add(ev, raw.text.len() as u64 + 1);
            if let Some(out) = per_request.as_mut()
                && outcome.final_stage
            {
                write_request_line(out, name, raw.line, ev, &outcome)?;
            }
            Ok(())
        },
        |e| {
            if let Some(line) = errors.message(e) {
                eprintln!("{line}");
            }
        },
    )?;
    let skipped = summary.rejected;
    if let Some(mut out) = per_request {
        out.flush()?;
    }
    let report = sim.report(args.top);
    let policy_name = args.policy.display().to_string();
    let text = match args.output {
        SimulateFormat::Json => {
            let mut v = serde_json::to_value(&report)?;
            v["policy"] = policy_name.into();
            v["inputs"] = args.logs.iter().map(|p| p.display().to_string()).collect();
            v["skippedEvents"] = skipped.into();
            v["failedInputs"] = summary.failed_inputs.into();
            kubevigil_model::text::json::to_string(&v, true)? + "\n"
        }
        SimulateFormat::Table => render_table(&report, &policy_name, args.logs.len(), skipped),
    };
    if args
        .per_request
        .as_deref()
        .is_some_and(|p| p.as_os_str() == "-")
    {
        eprint!("{text}");
    } else {
        print!("{text}");
    }
    Ok(if summary.has_errors() {
        ExitCode::from(2)
    } else {
        ExitCode::SUCCESS
    })
}

/// One decision per request: attributes only, never bodies.
fn write_request_line(
    out: &mut dyn Write,
    file: &str,
    line: u64,
    ev: &kubevigil_audit::Event<'_>,
    outcome: &kubevigil_audit::simulate::Outcome,
) -> anyhow::Result<()> {
    let or = ev.object_ref.as_ref();
    let s = |f: Option<&kubevigil_audit::event::Str<'_>>| f.map(|s| s.to_string());
    let v = serde_json::json!({
        "file": file,
        "line": line,
        "auditID": ev.audit_id(),
        "user": ev.authenticated_user().map(|u| u.name().to_string()),
        "verb": ev.verb(),
        "resource": s(or.and_then(|o| o.resource.as_ref())),
        "subresource": s(or.and_then(|o| o.subresource.as_ref())),
        "apiGroup": s(or.and_then(|o| o.api_group.as_ref())),
        "namespace": s(or.and_then(|o| o.namespace.as_ref())),
        "name": s(or.and_then(|o| o.name.as_ref())),
        "path": if or.is_none() { Some(ev.path()) } else { None },
        "level": outcome.decision.level,
        "rule": outcome.decision.rule,
        "estimatedBytes": outcome.bytes_out.unwrap_or(0),
    });
    kubevigil_model::text::json::to_writer(&mut *out, &v, false)?;
    out.write_all(b"\n")?;
    Ok(())
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn render_table(r: &Report, policy: &str, inputs: usize, skipped: u64) -> String {
    use std::fmt::Write as _;
    let mut s = String::new();
    let c = r.totals.counts;
    let _ = writeln!(s, "Policy: {} ({} rules)", Escaped(policy), r.rules.len());
    let _ = writeln!(
        s,
        "Input:  {inputs} log(s), {} events, {} requests, {}, {skipped} malformed event(s) skipped",
        c.events,
        c.requests,
        human_bytes(c.bytes_in)
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<16} {:>12} {:>12} {:>12} {:>14}",
        "LEVEL", "EVENTS", "REQUESTS", "BYTES IN", "EST. BYTES OUT"
    );
    for l in &r.levels {
        let k = l.counts;
        let _ = writeln!(
            s,
            "{:<16} {:>12} {:>12} {:>12} {:>14}",
            l.level.as_str(),
            k.events,
            k.requests,
            human_bytes(k.bytes_in),
            human_bytes(k.bytes_out)
        );
    }
    let _ = writeln!(
        s,
        "{:<16} {:>12} {:>12} {:>12} {:>14}",
        "total",
        c.events,
        c.requests,
        human_bytes(c.bytes_in),
        human_bytes(c.bytes_out)
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Estimated log volume: {} of {} input ({:.1}%), {} of {} events written",
        human_bytes(c.bytes_out),
        human_bytes(c.bytes_in),
        r.volume_ratio * 100.0,
        c.events_out,
        c.events
    );
    if r.totals.omitted_stage_events > 0 {
        let _ = writeln!(
            s,
            "  {} event(s) dropped by omitStages",
            r.totals.omitted_stage_events
        );
    }
    if r.totals.lower_bound_events > 0 {
        let _ = writeln!(
            s,
            "  {} event(s) would be recorded with bodies the input lacks: the estimate is a lower bound",
            r.totals.lower_bound_events
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Rules (first match wins):");
    let _ = writeln!(
        s,
        "{:>4} {:>6} {:<16} {:>12} {:>12} {:>14}",
        "#", "LINE", "LEVEL", "EVENTS", "REQUESTS", "EST. BYTES OUT"
    );
    for rule in &r.rules {
        let k = rule.counts;
        let _ = writeln!(
            s,
            "{:>4} {:>6} {:<16} {:>12} {:>12} {:>14}",
            rule.index,
            rule.line,
            rule.level.as_str(),
            k.events,
            k.requests,
            human_bytes(k.bytes_out)
        );
    }
    let _ = writeln!(
        s,
        "{:>4} {:>6} {:<16} {:>12} {:>12} {:>14}",
        "-",
        "-",
        "None (no match)",
        r.no_match.events,
        r.no_match.requests,
        human_bytes(0)
    );
    let _ = writeln!(s);
    if r.rules_never_hit.is_empty() {
        let _ = writeln!(s, "Rules never hit: none");
    } else {
        let list: Vec<String> = r
            .rules_never_hit
            .iter()
            .map(|x| format!("#{} (line {})", x.index, x.line))
            .collect();
        let _ = writeln!(s, "Rules never hit: {}", list.join(", "));
    }
    let _ = writeln!(s);
    if r.unrecorded.is_empty() {
        let _ = writeln!(s, "Unrecorded requests: none");
    } else {
        let _ = writeln!(s, "Unrecorded requests (level None), most frequent first:");
        let _ = writeln!(
            s,
            "{:>10}  {:<10} {:<40} USER",
            "REQUESTS", "VERB", "RESOURCE OR PATH"
        );
        for u in &r.unrecorded {
            let _ = writeln!(
                s,
                "{:>10}  {:<10} {:<40} {}",
                u.requests,
                Escaped(&u.shape.verb),
                Escaped(&u.shape.target),
                Escaped(&u.shape.user)
            );
        }
        if r.unrecorded_other > 0 {
            let _ = writeln!(s, "{:>10}  (other unrecorded requests)", r.unrecorded_other);
        }
    }
    s
}
