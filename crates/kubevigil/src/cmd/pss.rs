//! `kubevigil pss`: Pod Security Standards verdicts, as the PodSecurity admission plugin gives
//! them, for every Pod and workload pod template in the input.
//!
//! Three modes: a fixed `--level`/`--version`; namespace-aware (no `--level`: the
//! `pod-security.kubernetes.io/*` labels of the Namespace objects in the input over the
//! defaults and exemptions of `--admission-config`); and `--what-if LEVEL[:VERSION]`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::{Context, bail};
use kubevigil_model::{DiagLevel, Escaped, LoadOptions, Object, escape_controls, load_paths};
use kubevigil_pss::admission::{self, DryRunPod, NamespacePolicy, Verdict};
use kubevigil_pss::config::{self, ConfigDoc, PodSecurityConfiguration};
use kubevigil_pss::scan::{Evaluated, workloads};
use kubevigil_pss::{Evaluation, Level, LevelVersion, Version};
use serde_json::{Value, json};

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

#[derive(clap::Args)]
pub struct PssArgs {
    /// Evaluate every workload at this level (privileged, baseline, restricted). Without it,
    /// each workload gets its namespace's enforce/audit/warn policy.
    #[arg(long, value_parser = parse_level, conflicts_with = "what_if")]
    level: Option<Level>,
    /// Policy version with --level: `latest` or `v1.N` (versions above the newest behave as it).
    #[arg(long, value_parser = parse_version, requires = "level", default_value = "latest")]
    version: Version,
    /// AdmissionConfiguration (or PodSecurityConfiguration) file: defaults and exemptions for
    /// the namespace-aware and what-if modes.
    #[arg(long, value_name = "FILE")]
    admission_config: Option<PathBuf>,
    /// Requesting user, for username exemptions.
    #[arg(long = "as", value_name = "USER")]
    username: Option<String>,
    /// Which workloads would be rejected if every namespace enforced LEVEL[:VERSION]?
    #[arg(long, value_name = "LEVEL[:VERSION]", value_parser = parse_level_version)]
    what_if: Option<LevelVersion>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    /// Manifest files or directories; `-` reads stdin.
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).map_err(|(_, e)| e.to_string())
}

fn parse_version(s: &str) -> Result<Version, String> {
    Version::parse(s).map_err(|(_, e)| e.to_string())
}

fn parse_level_version(s: &str) -> Result<LevelVersion, String> {
    LevelVersion::parse(s)
}

/// The namespace a namespaced object lands in when the manifest does not say.
const DEFAULT_NAMESPACE: &str = "default";

pub fn run(args: PssArgs) -> anyhow::Result<ExitCode> {
    let result = execute(
        args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    );
    // A reader that stops early (`| head`) is not an error.
    if let Err(e) = &result {
        let broken_pipe = e.chain().any(|c| {
            c.downcast_ref::<std::io::Error>()
                .is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe)
                || c.downcast_ref::<serde_json::Error>()
                    .is_some_and(|j| j.io_error_kind() == Some(std::io::ErrorKind::BrokenPipe))
        });
        if broken_pipe {
            return Ok(ExitCode::SUCCESS);
        }
    }
    result
}

fn execute<W: std::io::Write, E: std::io::Write>(
    args: PssArgs,
    out: &mut W,
    err: &mut E,
) -> anyhow::Result<ExitCode> {
    let config = match &args.admission_config {
        Some(path) => load_config(path)?,
        None => PodSecurityConfiguration::default(),
    };
    let loaded = load_paths(&args.paths, &LoadOptions::default());
    let mut had_error = false;
    for d in &loaded.diagnostics {
        writeln!(err, "{d}")?;
        had_error |= d.level == DiagLevel::Error;
    }
    let (evaluated, decode_errors) = workloads(&loaded.inventory);
    for e in &decode_errors {
        let pos = e.object.pos_of(&e.path);
        let file = &e.object.source.file;
        writeln!(
            err,
            "{}:{}:{}: error: {} {}: {}",
            Escaped(file),
            pos.line,
            pos.col,
            Escaped(&e.object.display_name()),
            Escaped(&e.path.to_string()),
            Escaped(&e.error.to_string())
        )?;
        had_error = true;
    }

    let any_denied = if let Some(level) = args.level {
        fixed_level(
            out,
            &evaluated,
            LevelVersion::new(level, args.version),
            args.output,
        )?
    } else {
        let namespaces = resolve_namespaces(&loaded.inventory.objects, &evaluated, &config);
        match args.what_if {
            Some(lv) => what_if(
                out,
                &evaluated,
                &namespaces,
                &config,
                args.username.as_deref(),
                lv,
                args.output,
            )?,
            None => namespace_aware(
                out,
                &evaluated,
                &namespaces,
                &config,
                args.username.as_deref(),
                args.output,
            )?,
        }
    };
    Ok(if had_error {
        ExitCode::from(2)
    } else if any_denied {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    })
}

fn load_config(path: &Path) -> anyhow::Result<PodSecurityConfiguration> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let doc = config::parse_text(&text)
        .with_context(|| format!("{}: invalid admission configuration", path.display()))?;
    match doc {
        ConfigDoc::Config(c) => Ok(c),
        ConfigDoc::PluginFile(rel) => {
            let file = path.parent().unwrap_or(Path::new(".")).join(&rel);
            let text = std::fs::read_to_string(&file).with_context(|| {
                format!(
                    "reading {} (PodSecurity plugin path in {})",
                    file.display(),
                    path.display()
                )
            })?;
            match config::parse_text(&text)
                .with_context(|| format!("{}: invalid PodSecurityConfiguration", file.display()))?
            {
                ConfigDoc::Config(c) => Ok(c),
                ConfigDoc::PluginFile(_) => {
                    bail!("{}: expected a PodSecurityConfiguration", file.display())
                }
            }
        }
    }
}

fn namespace_of(o: &Object) -> &str {
    o.namespace.as_deref().unwrap_or(DEFAULT_NAMESPACE)
}

/// Namespace policies, for every namespace that is declared or used, sorted by name.
struct Namespaces<'a> {
    policies: BTreeMap<String, (NamespacePolicy, Option<&'a Object>)>,
}

fn resolve_namespaces<'a>(
    objects: &'a [Object],
    evaluated: &[Evaluated<'_>],
    config: &PodSecurityConfiguration,
) -> Namespaces<'a> {
    let mut policies = BTreeMap::new();
    for o in objects
        .iter()
        .filter(|o| o.kind == "Namespace" && o.api_version == "v1")
    {
        let labels = o
            .value
            .get("metadata")
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        policies.insert(
            o.name.clone(),
            (
                admission::resolve_namespace(&o.name, labels, config),
                Some(o),
            ),
        );
    }
    for e in evaluated {
        let ns = namespace_of(e.template.object);
        if !policies.contains_key(ns) {
            policies.insert(
                ns.to_string(),
                (admission::resolve_namespace(ns, None, config), None),
            );
        }
    }
    Namespaces { policies }
}

/// `file:line`, for people (escaped).
fn location(o: &Object) -> String {
    format!("{}:{}", Escaped(&o.source.file), o.source.line)
}

/// `namespace/Kind/name`, for people (escaped).
fn workload_name(o: &Object) -> String {
    format!(
        "{}/{}/{}",
        Escaped(namespace_of(o)),
        Escaped(&o.kind),
        Escaped(&o.name)
    )
}

fn violations_json(e: &Evaluation) -> Value {
    Value::Array(
        e.violations
            .iter()
            .map(|v| json!({"check": v.check, "reason": v.reason, "detail": v.detail}))
            .collect(),
    )
}

fn result_json(o: &Object, e: &Evaluation) -> serde_json::Map<String, Value> {
    let mut m = serde_json::Map::new();
    m.insert("file".into(), json!(o.source.file.as_ref()));
    m.insert("line".into(), json!(o.source.line));
    m.insert("kind".into(), json!(o.kind));
    m.insert("namespace".into(), json!(namespace_of(o)));
    m.insert("name".into(), json!(o.name));
    m.insert("level".into(), json!(e.level_version.level.as_str()));
    m.insert("version".into(), json!(e.level_version.version.to_string()));
    m.insert("allowed".into(), json!(e.allowed()));
    m.insert("violations".into(), violations_json(e));
    m.insert("message".into(), json!(e.message()));
    m
}

fn fixed_level(
    out: &mut impl std::io::Write,
    evaluated: &[Evaluated<'_>],
    lv: LevelVersion,
    format: Format,
) -> anyhow::Result<bool> {
    let evals: Vec<Evaluation> = evaluated.iter().map(|e| e.pod.evaluate(lv)).collect();
    let denied = evals.iter().filter(|e| !e.allowed()).count();
    match format {
        Format::Json => {
            let results: Vec<Value> = evaluated
                .iter()
                .zip(&evals)
                .map(|(w, e)| Value::Object(result_json(w.template.object, e)))
                .collect();
            kubevigil_model::text::json::to_writer(
                &mut *out,
                &json!({ "results": results }),
                true,
            )?;
            writeln!(out)?;
        }
        Format::Table => {
            let rows: Vec<[String; 3]> = evaluated
                .iter()
                .zip(&evals)
                .map(|(w, e)| {
                    let o = w.template.object;
                    [
                        workload_name(o),
                        (if e.allowed() { "allowed" } else { "VIOLATES" }).to_string(),
                        location(o),
                    ]
                })
                .collect();
            print_table(
                out,
                &["WORKLOAD", lv.to_string().as_str(), "LOCATION"],
                &rows,
            )?;
            for (w, e) in evaluated.iter().zip(&evals) {
                if let Some(m) = e.message() {
                    writeln!(
                        out,
                        "\n{}:\n  {}",
                        workload_name(w.template.object),
                        Escaped(&m)
                    )?;
                }
            }
            writeln!(out, "\n{} workloads, {denied} violate {lv}", evals.len())?;
        }
    }
    Ok(denied > 0)
}

fn print_table(
    out: &mut impl std::io::Write,
    header: &[&str],
    rows: &[[String; 3]],
) -> std::io::Result<()> {
    print_rows(
        out,
        header,
        &rows.iter().map(|r| r.to_vec()).collect::<Vec<_>>(),
    )
}

fn print_rows(
    out: &mut impl std::io::Write,
    header: &[&str],
    rows: &[Vec<String>],
) -> std::io::Result<()> {
    // Cells hold names, labels and messages from the input.
    let rows: Vec<Vec<std::borrow::Cow<'_, str>>> = rows
        .iter()
        .map(|r| r.iter().map(|c| escape_controls(c)).collect())
        .collect();
    let mut widths: Vec<usize> = header.iter().map(|h| h.len()).collect();
    for r in &rows {
        for (w, c) in widths.iter_mut().zip(r) {
            *w = (*w).max(c.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut s = String::new();
        for (i, (c, w)) in cells.iter().zip(&widths).enumerate() {
            if i + 1 == cells.len() {
                s.push_str(c);
            } else {
                s.push_str(&format!("{c:<w$}  "));
            }
        }
        s.trim_end().to_string()
    };
    writeln!(out, "{}", line(header.to_vec()))?;
    for r in &rows {
        writeln!(out, "{}", line(r.iter().map(|c| c.as_ref()).collect()))?;
    }
    Ok(())
}

fn namespace_json(ns: &NamespacePolicy, declared: bool) -> Value {
    json!({
        "name": ns.name,
        "enforce": ns.policy.enforce.to_string(),
        "audit": ns.policy.audit.to_string(),
        "warn": ns.policy.warn.to_string(),
        "exempt": ns.exempt,
        "declared": declared,
        "labelErrors": ns.errors,
    })
}

fn namespace_rows(namespaces: &Namespaces<'_>) -> Vec<Vec<String>> {
    namespaces
        .policies
        .values()
        .map(|(ns, obj)| {
            let mut notes = Vec::new();
            if ns.exempt {
                notes.push("exempt".to_string());
            }
            if obj.is_none() {
                notes.push("no Namespace object: defaults".to_string());
            }
            if !ns.errors.is_empty() {
                notes.push(format!(
                    "{} invalid label(s): creating this Namespace is rejected; pods get enforce {}",
                    ns.errors.len(),
                    ns.policy.enforce
                ));
            }
            vec![
                ns.name.clone(),
                ns.policy.enforce.to_string(),
                ns.policy.audit.to_string(),
                ns.policy.warn.to_string(),
                notes.join("; "),
            ]
        })
        .collect()
}

fn mode_json(e: &Evaluation) -> Value {
    json!({
        "level": e.level_version.level.as_str(),
        "version": e.level_version.version.to_string(),
        "allowed": e.allowed(),
        "violations": violations_json(e),
    })
}

fn namespace_aware(
    out: &mut impl std::io::Write,
    evaluated: &[Evaluated<'_>],
    namespaces: &Namespaces<'_>,
    config: &PodSecurityConfiguration,
    username: Option<&str>,
    format: Format,
) -> anyhow::Result<bool> {
    let verdicts: Vec<(&Evaluated<'_>, &NamespacePolicy, Verdict)> = evaluated
        .iter()
        .map(|w| {
            let o = w.template.object;
            let ns = &namespaces.policies[namespace_of(o)].0;
            (
                w,
                ns,
                admission::admit(config, ns, username, &w.pod, o.kind == "Pod"),
            )
        })
        .collect();
    // A workload "fails" when the pods it is or creates would be rejected.
    let rejected = |v: &Verdict| v.modes.as_ref().is_some_and(|m| !m.enforce.allowed());
    let any_rejected = verdicts.iter().any(|(_, _, v)| rejected(v));
    match format {
        Format::Json => {
            let ns_json: Vec<Value> = namespaces
                .policies
                .values()
                .map(|(ns, obj)| namespace_json(ns, obj.is_some()))
                .collect();
            let results: Vec<Value> = verdicts
                .iter()
                .map(|(w, ns, v)| {
                    let o = w.template.object;
                    let enforce =
                        v.modes
                            .as_ref()
                            .map(|m| m.enforce.clone())
                            .unwrap_or_else(|| Evaluation {
                                level_version: ns.policy.enforce,
                                violations: Vec::new(),
                            });
                    let mut m = result_json(o, &enforce);
                    m.insert("enforced".into(), json!(o.kind == "Pod"));
                    m.insert("exempt".into(), json!(v.exempt.map(|e| e.as_str())));
                    m.insert(
                        "audit".into(),
                        v.modes
                            .as_ref()
                            .map_or(Value::Null, |m| mode_json(&m.audit)),
                    );
                    m.insert(
                        "warn".into(),
                        v.modes.as_ref().map_or(Value::Null, |m| mode_json(&m.warn)),
                    );
                    m.insert("highestLevel".into(), json!(v.highest_level.as_str()));
                    m.insert("warnings".into(), json!(v.warnings));
                    let ann: serde_json::Map<String, Value> = v
                        .audit_annotations
                        .iter()
                        .map(|(k, val)| (k.clone(), json!(val)))
                        .collect();
                    m.insert("auditAnnotations".into(), Value::Object(ann));
                    Value::Object(m)
                })
                .collect();
            kubevigil_model::text::json::to_writer(
                &mut *out,
                &json!({"namespaces": ns_json, "results": results}),
                true,
            )?;
            writeln!(out)?;
        }
        Format::Table => {
            print_rows(
                out,
                &["NAMESPACE", "ENFORCE", "AUDIT", "WARN", "NOTES"],
                &namespace_rows(namespaces),
            )?;
            for (ns, _) in namespaces.policies.values() {
                for e in &ns.errors {
                    writeln!(out, "  {}: {}", Escaped(&ns.name), Escaped(e))?;
                }
            }
            writeln!(out)?;
            let verdict_cell = |ok: bool, word: &str| {
                if ok {
                    "ok".to_string()
                } else {
                    word.to_string()
                }
            };
            let rows: Vec<Vec<String>> = verdicts
                .iter()
                .map(|(w, _, v)| {
                    let o = w.template.object;
                    let (enf, aud, warn) = match (&v.modes, v.exempt) {
                        (_, Some(e)) => {
                            let s = format!("exempt ({})", e.as_str());
                            (s.clone(), s.clone(), s)
                        }
                        (Some(m), None) => (
                            verdict_cell(
                                m.enforce.allowed(),
                                if o.kind == "Pod" {
                                    "DENIED"
                                } else {
                                    "DENIED (pods)"
                                },
                            ),
                            verdict_cell(m.audit.allowed(), "violation"),
                            verdict_cell(m.warn.allowed(), "warning"),
                        ),
                        (None, None) => Default::default(),
                    };
                    vec![
                        workload_name(o),
                        enf,
                        aud,
                        warn,
                        v.highest_level.to_string(),
                        location(o),
                    ]
                })
                .collect();
            print_rows(
                out,
                &[
                    "WORKLOAD", "ENFORCE", "AUDIT", "WARN", "HIGHEST", "LOCATION",
                ],
                &rows,
            )?;
            for (w, _, v) in &verdicts {
                let Some(m) = &v.modes else { continue };
                let mut lines = Vec::new();
                if let Some(msg) = m.enforce.message() {
                    lines.push(format!("enforce: {msg}"));
                }
                if let Some(msg) = m.audit.warning() {
                    lines.push(format!("audit:   {msg}"));
                }
                if let Some(msg) = m.warn.warning() {
                    lines.push(format!("warn:    {msg}"));
                }
                if !lines.is_empty() {
                    writeln!(out, "\n{}:", workload_name(w.template.object))?;
                    for l in lines {
                        writeln!(out, "  {}", Escaped(&l))?;
                    }
                }
            }
            let n = verdicts.iter().filter(|(_, _, v)| rejected(v)).count();
            writeln!(
                out,
                "\n{} workloads, {n} rejected by their namespace's enforce policy",
                verdicts.len()
            )?;
        }
    }
    Ok(any_rejected)
}

fn dry_run_name(o: &Object) -> String {
    if o.kind == "Pod" {
        o.name.clone()
    } else {
        format!("{}/{}", o.kind, o.name)
    }
}

#[allow(clippy::too_many_arguments)]
fn what_if(
    out: &mut impl std::io::Write,
    evaluated: &[Evaluated<'_>],
    namespaces: &Namespaces<'_>,
    config: &PodSecurityConfiguration,
    username: Option<&str>,
    lv: LevelVersion,
    format: Format,
) -> anyhow::Result<bool> {
    let user_exempt = username.is_some_and(|u| config.exempt_user(u));
    struct Row<'a, 'b> {
        w: &'a Evaluated<'b>,
        exempt: Option<&'static str>,
        eval: Evaluation,
        name: String,
    }
    let mut by_ns: BTreeMap<&str, Vec<Row<'_, '_>>> = BTreeMap::new();
    for w in evaluated {
        let o = w.template.object;
        let ns = &namespaces.policies[namespace_of(o)].0;
        let exempt = if ns.exempt {
            Some("namespace")
        } else if user_exempt {
            Some("user")
        } else if config.exempt_runtime_class(w.pod.spec.runtime_class_name.as_deref()) {
            Some("runtimeClass")
        } else {
            None
        };
        by_ns.entry(namespace_of(o)).or_default().push(Row {
            w,
            exempt,
            eval: w.pod.evaluate(lv),
            name: dry_run_name(o),
        });
    }
    let rejected = |r: &Row<'_, '_>| r.exempt.is_none() && !r.eval.allowed();
    let any = by_ns.values().flatten().any(rejected);
    let mut ns_out = Vec::new();
    for (ns_name, rows) in &by_ns {
        let (ns, obj) = &namespaces.policies[*ns_name];
        let labels = obj
            .and_then(|o| o.value.get("metadata"))
            .and_then(|m| m.get("labels"))
            .and_then(Value::as_object);
        let warnings = if ns.exempt {
            // Upstream skips the dry run for exempt namespaces and only warns about the labels.
            let mut what_if_ns = ns.clone();
            what_if_ns.policy.enforce = lv;
            let mut l = labels.cloned().unwrap_or_default();
            l.insert(
                kubevigil_pss::api::ENFORCE_LEVEL_LABEL.into(),
                json!(lv.level.as_str()),
            );
            admission::exempt_namespace_warning(&what_if_ns, Some(&l), &config.defaults)
                .into_iter()
                .collect()
        } else {
            let pods: Vec<DryRunPod<'_>> = rows
                .iter()
                .filter(|r| r.exempt.is_none())
                .map(|r| DryRunPod {
                    name: &r.name,
                    evaluation: &r.eval,
                })
                .collect();
            admission::namespace_dry_run_warnings(ns_name, lv, &pods)
        };
        ns_out.push((ns, rows, warnings));
    }
    match format {
        Format::Json => {
            let namespaces: Vec<Value> = ns_out
                .iter()
                .map(|(ns, rows, warnings)| {
                    json!({
                        "name": ns.name,
                        "current": ns.policy.enforce.to_string(),
                        "exempt": ns.exempt,
                        "rejected": rows.iter().filter(|r| rejected(r)).count(),
                        "warnings": warnings,
                    })
                })
                .collect();
            let results: Vec<Value> = ns_out
                .iter()
                .flat_map(|(_, rows, _)| rows.iter())
                .map(|r| {
                    let mut m = result_json(r.w.template.object, &r.eval);
                    m.insert("exempt".into(), json!(r.exempt));
                    m.insert("rejected".into(), json!(rejected(r)));
                    Value::Object(m)
                })
                .collect();
            kubevigil_model::text::json::to_writer(
                &mut *out,
                &json!({"whatIf": lv.to_string(), "namespaces": namespaces, "results": results}),
                true,
            )?;
            writeln!(out)?;
        }
        Format::Table => {
            writeln!(out, "What if every namespace enforced {lv}:")?;
            for (ns, rows, warnings) in &ns_out {
                let n = rows.iter().filter(|r| rejected(r)).count();
                let status = if ns.exempt {
                    "exempt".to_string()
                } else if n == 0 {
                    "no workload would be rejected".to_string()
                } else {
                    format!("{n} of {} workloads would be rejected", rows.len())
                };
                writeln!(
                    out,
                    "\nnamespace {} (enforce now {}): {status}",
                    Escaped(&ns.name),
                    ns.policy.enforce
                )?;
                for w in warnings {
                    writeln!(out, "  Warning: {}", Escaped(w))?;
                }
                for r in rows.iter().filter(|r| rejected(r)) {
                    let o = r.w.template.object;
                    writeln!(
                        out,
                        "  {} {} ({}): {}",
                        Escaped(&o.kind),
                        Escaped(&o.name),
                        location(o),
                        Escaped(&r.eval.message().unwrap_or_default())
                    )?;
                }
            }
            let total: usize = ns_out
                .iter()
                .map(|(_, rows, _)| rows.iter().filter(|r| rejected(r)).count())
                .sum();
            writeln!(out, "\n{total} workloads would be rejected under {lv}")?;
        }
    }
    Ok(any)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: PssArgs,
    }

    fn run_cli(argv: &[&str]) -> (u8, String, String) {
        let cli = Cli::try_parse_from(std::iter::once("pss").chain(argv.iter().copied())).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = execute(cli.args, &mut out, &mut err).unwrap();
        let code = if code == ExitCode::SUCCESS {
            0
        } else if code == ExitCode::from(1) {
            1
        } else {
            2
        };
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    const MANIFESTS: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels:
    pod-security.kubernetes.io/enforce: baseline
    pod-security.kubernetes.io/enforce-version: v1.29
    pod-security.kubernetes.io/warn: restricted
---
apiVersion: v1
kind: Namespace
metadata:
  name: legacy
  labels:
    pod-security.kubernetes.io/enforce: strict
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: prod}
spec:
  hostNetwork: true
  containers:
  - name: app
    image: nginx
    securityContext: {privileged: true}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: legacy}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
          containers:
          - name: report
            image: report
            securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
"#;

    fn manifests() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("all.yaml"), MANIFESTS).unwrap();
        dir
    }

    #[test]
    fn json_contract_for_a_fixed_level() {
        let dir = manifests();
        let path = dir.path().join("all.yaml");
        let (code, out, _) = run_cli(&[
            "--level",
            "baseline",
            "--version",
            "v1.29",
            "-o",
            "json",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        let pod = &results[0];
        let keys: Vec<&str> = pod
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "file",
                "line",
                "kind",
                "namespace",
                "name",
                "level",
                "version",
                "allowed",
                "violations",
                "message"
            ]
        );
        assert_eq!(pod["line"], 17);
        assert_eq!(pod["allowed"], false);
        assert_eq!(pod["version"], "v1.29");
        assert_eq!(
            pod["message"],
            r#"violates PodSecurity "baseline:v1.29": host namespaces (hostNetwork=true), privileged (container "app" must not set securityContext.privileged=true)"#
        );
        assert_eq!(
            pod["violations"][0],
            json!({"check": "hostNamespaces", "reason": "host namespaces", "detail": "hostNetwork=true"})
        );
        assert_eq!(results[1]["allowed"], true);
        assert_eq!(results[1]["message"], Value::Null);

        let (code, _, _) = run_cli(&["--level", "privileged", path.to_str().unwrap()]);
        assert_eq!(code, 0);
    }

    #[test]
    fn namespace_aware_uses_labels_defaults_and_exemptions() {
        let dir = manifests();
        let cfg = dir.path().join("admission.yaml");
        std::fs::write(
            &cfg,
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  path: psa.yaml\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("psa.yaml"),
            "apiVersion: pod-security.admission.config.k8s.io/v1beta1\nkind: PodSecurityConfiguration\ndefaults: {enforce: baseline}\nexemptions: {namespaces: [prod]}\n",
        )
        .unwrap();
        let path = dir.path().join("all.yaml");
        // Without the config: prod enforces baseline:v1.29 (the Pod is rejected), legacy has an
        // invalid enforce label, which fails closed to restricted:latest.
        let (code, out, _) = run_cli(&["-o", "json", path.to_str().unwrap()]);
        assert_eq!(code, 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        let ns: Vec<(String, String)> = v["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["name"].as_str().unwrap().to_string(),
                    n["enforce"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            ns,
            [
                ("legacy".to_string(), "restricted:latest".to_string()),
                ("prod".into(), "baseline:v1.29".into())
            ]
        );
        assert_eq!(
            v["namespaces"][0]["labelErrors"].as_array().unwrap().len(),
            1
        );
        let r = &v["results"];
        assert_eq!(r[0]["allowed"], false);
        assert_eq!(r[0]["enforced"], true);
        assert_eq!(r[1]["allowed"], true, "web passes baseline");
        assert_eq!(r[1]["highestLevel"], "baseline");
        assert_eq!(
            r[1]["warnings"][0].as_str().unwrap().split(':').next(),
            Some(r#"would violate PodSecurity "restricted"#)
        );
        assert_eq!(r[2]["allowed"], true, "the CronJob is restricted-clean");

        // With the config: prod is exempt.
        let (code, out, _) = run_cli(&[
            "--admission-config",
            cfg.to_str().unwrap(),
            "-o",
            "json",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["results"][0]["exempt"], "namespace");

        let (code, out, _) = run_cli(&[
            "--admission-config",
            cfg.to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 0);
        assert!(out.contains("exempt (namespace)"), "{out}");
    }

    #[test]
    fn what_if_lists_exactly_the_rejected_workloads() {
        let dir = manifests();
        let path = dir.path().join("all.yaml");
        let (code, out, _) = run_cli(&["--what-if", "restricted", path.to_str().unwrap()]);
        assert_eq!(code, 1);
        assert!(out.contains(r#"Warning: existing pods in namespace "prod" violate the new PodSecurity enforce level "restricted:latest""#), "{out}");
        assert!(out.contains("Pod app ("), "{out}");
        assert!(out.contains("Deployment web ("), "{out}");
        assert!(!out.contains("CronJob report ("), "{out}");
        assert!(
            out.contains("2 workloads would be rejected under restricted:latest"),
            "{out}"
        );

        let (code, out, _) = run_cli(&[
            "--what-if",
            "baseline:v1.29",
            "-o",
            "json",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        let rejected: Vec<&str> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["rejected"] == true)
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(rejected, ["app"]);
    }

    #[test]
    fn bad_input_exits_2_but_the_rest_is_evaluated() {
        let dir = manifests();
        std::fs::write(
            dir.path().join("broken.yaml"),
            "kind: Pod\nmetadata: {name: x\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("typed.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: bad-type}\nspec:\n  hostNetwork: \"maybe\"\n  containers: [{name: a}]\n",
        )
        .unwrap();
        let (code, out, err) = run_cli(&[
            "--level",
            "baseline",
            "-o",
            "json",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(code, 2);
        assert!(err.contains("broken.yaml:"), "{err}");
        assert!(err.contains(r#"typed.yaml:4:1: error: Pod bad-type spec: pod spec: invalid type: string, expected a boolean"#), "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["results"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn secret_values_never_reach_the_output() {
        let dir = manifests();
        std::fs::write(
            dir.path().join("secret.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: prod}\nstringData: {password: hunter2-SECRET-VALUE}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: leaky, namespace: prod}\nspec:\n  containers:\n  - name: a\n    env: [{name: DB_PASSWORD, value: hunter2-SECRET-VALUE}]\n    securityContext: {privileged: true}\n",
        )
        .unwrap();
        for argv in [
            vec!["--level", "restricted", "-o", "json"],
            vec!["--level", "baseline"],
            vec![],
            vec!["-o", "json"],
            vec!["--what-if", "restricted"],
            vec!["--what-if", "restricted", "-o", "json"],
        ] {
            let mut argv = argv;
            let p = dir.path().to_str().unwrap().to_string();
            argv.push(&p);
            let (_, out, err) = run_cli(&argv);
            assert!(
                !out.contains("hunter2") && !err.contains("hunter2"),
                "{argv:?} leaked:\n{out}\n{err}"
            );
            assert!(out.contains("leaky"), "{argv:?}");
        }
    }

    #[test]
    fn invalid_admission_config_is_an_error() {
        let dir = manifests();
        let cfg = dir.path().join("bad.yaml");
        std::fs::write(&cfg, "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: strict}\n").unwrap();
        let cli = Cli::try_parse_from([
            "pss",
            "--admission-config",
            cfg.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ])
        .unwrap();
        let err = execute(cli.args, &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert!(
            format!("{err:#}").contains(r#"defaults.enforce: Invalid value: "strict""#),
            "{err:#}"
        );
    }
}
