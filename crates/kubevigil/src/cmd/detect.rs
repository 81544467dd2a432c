//! `kubevigil audit detect`: Sigma threat detection over audit logs, with the built-in rule
//! pack (rules/, embedded) plus user rule directories.
//!
//! Output contract (scripts depend on it): `-o json` prints one alert per line:
//! `{"rule","title","severity","time","tags","group","count","events":[{"auditID","user",
//! "sourceIPs","verb","objectRef","responseStatus"}]}`; events are redacted before printing.
//! Exit codes: 0 no alert at or above `--fail-on`; 1 at least one; 2 an input error (unreadable
//! input, malformed events or rule files: reported, skipped, the rest still processed).
//! Events are read with `kubevigil_audit::input::read_all`, like every audit command: what is
//! an event, and every error message, is the same for all of them.

use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context as _;
use clap::ValueEnum;
use kubevigil_model::{Escaped, escape_controls};
use kubevigil_sigma::{Alert, DiagLevel, Engine, Level, Options, RuleSet, Source};
use serde_json::{Map, Value, json};

use super::audit::report_read_error;

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
    /// Audit log files (JSON lines, JSON array, EventList; gzip detected) or `-` for stdin.
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
    match detect(args) {
        // The reader of our output went away (`| head`): not an error.
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
    })
}

fn detect(args: DetectArgs) -> anyhow::Result<ExitCode> {
    let mut errors = 0u64;
    let set = load_rules(&args, &mut errors)?;
    let set = Arc::new(set);
    let stdout = std::io::stdout();
    let mut out = BufWriter::new(stdout.lock());
    if args.list_rules {
        list_rules(&set, &mut out)?;
        out.flush()?;
        return Ok(if errors > 0 {
            ExitCode::from(2)
        } else {
            ExitCode::SUCCESS
        });
    }
    // Samples are kept as compact JSON text: correlation state may hold many of them.
    let mut engine: Engine<String> =
        Engine::new(set.clone()).with_sensitive_fields(Box::new(|path: &str, text: &[u8]| {
            kubevigil_audit::redact::is_secret_field(text, path)
        }));
    let mut alerts: Vec<Alert<String>> = Vec::new();
    let mut printer = Printer {
        format: args.output,
        header_done: false,
        worst: None,
        count: 0,
    };
    let printed = std::cell::Cell::new(0u64);
    let mut unprojected = 0u64;
    let summary = kubevigil_audit::input::read_all(
        &args.logs,
        |name, raw, _ev| -> anyhow::Result<()> {
            let mut sample = || summarize(raw.text);
            if let Err(e) = engine.process_json(raw.text, &mut sample, &mut alerts) {
                // The engine's scanner accepts every event the reader accepts; should it
                // ever not, the event is reported like any other malformed one.
                let (line, col) = raw.position_of(e.offset);
                let e = kubevigil_audit::ReadError {
                    source_name: name.to_string(),
                    line,
                    col,
                    kind: kubevigil_audit::reader::ReadErrorKind::Invalid(e.message.into()),
                };
                report_read_error(&e, &printed);
                unprojected += 1;
            }
            for alert in alerts.drain(..) {
                printer.print(&alert, &mut out)?;
            }
            Ok(())
        },
        |e| report_read_error(e, &printed),
    )?;
    let events = summary.events - unprojected;
    let skipped = summary.rejected + unprojected;
    engine.flush(&mut alerts);
    for alert in alerts.drain(..) {
        printer.print(&alert, &mut out)?;
    }
    out.flush()?;
    let stats = engine.stats();
    eprintln!(
        "{events} events, {} alerts, {skipped} malformed events skipped, {} unreadable input(s); correlation groups: {} expired, {} evicted (memory cap)",
        printer.count, summary.failed_inputs, stats.correlation.expired, stats.correlation.evicted
    );
    if errors > 0 || summary.has_errors() || unprojected > 0 {
        return Ok(ExitCode::from(2));
    }
    let fail = printer
        .worst
        .is_some_and(|w| fail_rank(args.fail_on).is_some_and(|t| w >= t));
    Ok(if fail {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn fail_rank(f: FailOn) -> Option<Level> {
    Some(match f {
        FailOn::Info => Level::Informational,
        FailOn::Low => Level::Low,
        FailOn::Medium => Level::Medium,
        FailOn::High => Level::High,
        FailOn::Critical => Level::Critical,
        FailOn::None => return None,
    })
}

/// The event fields of the JSON alert contract.
const EVENT_FIELDS: [&str; 6] = [
    "auditID",
    "user",
    "sourceIPs",
    "verb",
    "objectRef",
    "responseStatus",
];

/// The alert's view of one event: who did what (plus `requestURI`, shown in the table for
/// non-resource requests and left out of the JSON contract). Only request attributes are
/// kept, never bodies (where Secret data and tokens are: see `kubevigil_audit::redact`). The
/// event is split into its top-level members without materialising them, so an event whose
/// body nests deeper than serde_json's recursion limit still has a sample.
fn summarize(text: &[u8]) -> String {
    let Ok(members) = serde_json::from_slice::<
        std::collections::HashMap<String, Box<serde_json::value::RawValue>>,
    >(text) else {
        return "null".into();
    };
    let mut m = Map::new();
    for key in EVENT_FIELDS.iter().chain(&["requestURI"]) {
        let v = members
            .get(*key)
            .and_then(|raw| serde_json::from_str(raw.get()).ok())
            .unwrap_or(Value::Null);
        m.insert(key.to_string(), v);
    }
    Value::Object(m).to_string()
}

fn contract_event(sample: &Value) -> Value {
    Value::Object(
        EVENT_FIELDS
            .iter()
            .map(|k| {
                (
                    k.to_string(),
                    sample.get(*k).cloned().unwrap_or(Value::Null),
                )
            })
            .collect(),
    )
}

fn load_rules(args: &DetectArgs, errors: &mut u64) -> anyhow::Result<RuleSet> {
    let mut files: Vec<(String, String)> = Vec::new();
    for root in &args.rules {
        collect_rule_files(root, &mut files)
            .with_context(|| format!("cannot read rules from {}", root.display()))?;
    }
    let mut sources: Vec<Source> = if args.no_builtin {
        Vec::new()
    } else {
        kubevigil_sigma::pack::sources()
    };
    sources.extend(files.iter().map(|(n, t)| Source { name: n, text: t }));
    let mut options = Options::kubernetes_audit();
    options.disabled.extend(args.disable.iter().cloned());
    let config = super::scan::load_config(args.config.as_deref())?;
    options
        .disabled
        .extend(config.detect.disable.iter().cloned());
    let (set, diags) = RuleSet::compile(&sources, &options);
    for d in &diags {
        match d.level {
            DiagLevel::Error => {
                *errors += 1;
                eprintln!("{d}");
            }
            DiagLevel::Warning => eprintln!("{d}"),
            DiagLevel::Note => tracing::info!("{d}"),
        }
    }
    let loaded_ids: Vec<String> = set
        .rules()
        .iter()
        .flat_map(|r| [r.meta.id.clone()].into_iter().chain(r.meta.name.clone()))
        .collect();
    for id in &args.disable {
        if !diags
            .iter()
            .any(|d| d.message.contains("disabled by configuration"))
            && !loaded_ids.contains(id)
        {
            eprintln!("warning: --disable {}: no such rule", Escaped(id));
        }
    }
    if set.rules().is_empty() {
        anyhow::bail!("no rules loaded");
    }
    Ok(set)
}

fn collect_rule_files(path: &Path, out: &mut Vec<(String, String)>) -> std::io::Result<()> {
    if path.is_file() {
        out.push((path.display().to_string(), std::fs::read_to_string(path)?));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "tests") {
                collect_rule_files(&p, out)?;
            }
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push((p.display().to_string(), std::fs::read_to_string(&p)?));
        }
    }
    Ok(())
}

fn list_rules(set: &RuleSet, out: &mut impl Write) -> anyhow::Result<()> {
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
            r.meta.severity(),
            kind,
            Escaped(&r.meta.title)
        )?;
    }
    Ok(())
}

struct Printer {
    format: DetectFormat,
    header_done: bool,
    worst: Option<Level>,
    count: u64,
}

impl Printer {
    fn print(&mut self, a: &Alert<String>, out: &mut impl Write) -> anyhow::Result<()> {
        let samples: Vec<Value> = a
            .samples
            .iter()
            .map(|s| serde_json::from_str(s).unwrap_or(Value::Null))
            .collect();
        self.count += 1;
        let level = a.rule.level.unwrap_or(Level::Medium);
        self.worst = Some(self.worst.map_or(level, |w| w.max(level)));
        let time = a.time_ms.map(kubevigil_model::time::format_rfc3339_ms);
        match self.format {
            DetectFormat::Json => {
                let group = if a.correlation {
                    Value::Object(
                        a.group
                            .iter()
                            .map(|(k, v)| (k.clone(), Value::String(v.clone())))
                            .collect(),
                    )
                } else {
                    Value::Null
                };
                let line = json!({
                    "rule": a.rule.id,
                    "title": a.rule.title,
                    "severity": a.rule.severity(),
                    "time": time,
                    "tags": a.rule.tags,
                    "group": group,
                    "count": a.count,
                    "events": samples.iter().map(contract_event).collect::<Vec<_>>(),
                });
                kubevigil_model::text::json::to_writer(&mut *out, &line, false)?;
                writeln!(out)?;
            }
            DetectFormat::Table => {
                if !self.header_done {
                    writeln!(
                        out,
                        "{:<24}  {:<8}  {:>5}  {:<28}  {:<40}  RULE",
                        "TIME", "SEVERITY", "COUNT", "WHO", "WHAT"
                    )?;
                    self.header_done = true;
                }
                let first = samples.first().cloned().unwrap_or(Value::Null);
                let who = if a.correlation && !a.group.is_empty() {
                    a.group
                        .iter()
                        .map(|(_, v)| v.as_str())
                        .collect::<Vec<_>>()
                        .join(",")
                } else {
                    first["user"]["username"]
                        .as_str()
                        .unwrap_or("-")
                        .to_string()
                };
                let or = &first["objectRef"];
                let mut what = first["verb"].as_str().unwrap_or("-").to_string();
                let resource = match (or["resource"].as_str(), or["subresource"].as_str()) {
                    (Some(r), Some(s)) => format!(" {r}/{s}"),
                    (Some(r), None) => format!(" {r}"),
                    _ => String::new(),
                };
                what.push_str(&resource);
                if or.is_null() {
                    what.push(' ');
                    what.push_str(first["requestURI"].as_str().unwrap_or(""));
                } else if let Some(ns) = or["namespace"].as_str() {
                    what.push_str(&format!(" {ns}/"));
                    what.push_str(or["name"].as_str().unwrap_or("*"));
                } else if let Some(n) = or["name"].as_str() {
                    what.push_str(&format!(" {n}"));
                }
                writeln!(
                    out,
                    "{:<24}  {:<8}  {:>5}  {:<28}  {:<40}  {}",
                    time.as_deref().unwrap_or("-"),
                    a.rule.severity(),
                    a.count,
                    // Escaped before truncation: the width counts what is shown.
                    truncate(&escape_controls(&who), 28),
                    truncate(&escape_controls(&what), 40),
                    Escaped(&a.rule.title)
                )?;
            }
        }
        Ok(())
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}
