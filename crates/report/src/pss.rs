//! Pod Security results (`kubevigil pss`) as [`Table`] and [`Json`]: every workload at one
//! level, each under its namespace's policy, and the what-if question.

use std::io;

use kubevigil_model::{Escaped, Object};
use kubevigil_pss::Evaluation;
use kubevigil_pss::admission::NamespacePolicy;
use kubevigil_pss::workloads::{FixedLevel, NamespaceAware, WhatIf, namespace_of};
use serde_json::{Map, Value, json};

use crate::emit::{Emitter, Json, Table, write_columns, write_json};

/// `file:line`, for people (escaped); for an object not read from a file, its origin.
fn location(o: &Object) -> String {
    match o.source.file() {
        Some(s) => format!("{}:{}", Escaped(&s.file), s.line),
        None => Escaped(&o.source.to_string()).to_string(),
    }
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

/// The fields every result starts with, in this order.
fn result_json(o: &Object, e: &Evaluation) -> Map<String, Value> {
    let mut m = Map::new();
    // Only objects read from a file have a file and line.
    if let Some(s) = o.source.file() {
        m.insert("file".into(), json!(s.file.as_ref()));
        m.insert("line".into(), json!(s.line));
    }
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

fn mode_json(e: &Evaluation) -> Value {
    json!({
        "level": e.level_version.level.as_str(),
        "version": e.level_version.version.to_string(),
        "allowed": e.allowed(),
        "violations": violations_json(e),
    })
}

impl Emitter<FixedLevel<'_, '_>> for Json {
    fn emit(&self, out: &mut dyn io::Write, r: &FixedLevel<'_, '_>) -> io::Result<()> {
        let results: Vec<Value> = r
            .results
            .iter()
            .map(|(w, e)| Value::Object(result_json(w.template.object, e)))
            .collect();
        write_json(out, &json!({ "results": results }))
    }
}

impl Emitter<FixedLevel<'_, '_>> for Table {
    fn emit(&self, out: &mut dyn io::Write, r: &FixedLevel<'_, '_>) -> io::Result<()> {
        let lv = r.level_version;
        let rows: Vec<Vec<String>> = r
            .results
            .iter()
            .map(|(w, e)| {
                let o = w.template.object;
                vec![
                    workload_name(o),
                    (if e.allowed() { "allowed" } else { "VIOLATES" }).to_string(),
                    location(o),
                ]
            })
            .collect();
        write_columns(
            out,
            &["WORKLOAD", lv.to_string().as_str(), "LOCATION"],
            &rows,
        )?;
        for (w, e) in &r.results {
            if let Some(m) = e.message() {
                writeln!(
                    out,
                    "\n{}:\n  {}",
                    workload_name(w.template.object),
                    Escaped(&m)
                )?;
            }
        }
        writeln!(
            out,
            "\n{} workloads, {} violate {lv}",
            r.results.len(),
            r.denied()
        )
    }
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

impl Emitter<NamespaceAware<'_, '_>> for Json {
    fn emit(&self, out: &mut dyn io::Write, r: &NamespaceAware<'_, '_>) -> io::Result<()> {
        let namespaces: Vec<Value> = r
            .namespaces
            .iter()
            .map(|ns| namespace_json(&ns.policy, ns.object.is_some()))
            .collect();
        let results: Vec<Value> = r
            .verdicts
            .iter()
            .map(|wv| {
                let o = wv.workload.template.object;
                let v = &wv.verdict;
                let mut m = result_json(o, &wv.enforce());
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
                let annotations: Map<String, Value> = v
                    .audit_annotations
                    .iter()
                    .map(|(k, val)| (k.clone(), json!(val)))
                    .collect();
                m.insert("auditAnnotations".into(), Value::Object(annotations));
                Value::Object(m)
            })
            .collect();
        write_json(out, &json!({"namespaces": namespaces, "results": results}))
    }
}

impl Emitter<NamespaceAware<'_, '_>> for Table {
    fn emit(&self, out: &mut dyn io::Write, r: &NamespaceAware<'_, '_>) -> io::Result<()> {
        let namespace_rows: Vec<Vec<String>> = r
            .namespaces
            .iter()
            .map(|resolved| {
                let ns = &resolved.policy;
                let mut notes = Vec::new();
                if ns.exempt {
                    notes.push("exempt".to_string());
                }
                if resolved.object.is_none() {
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
            .collect();
        write_columns(
            out,
            &["NAMESPACE", "ENFORCE", "AUDIT", "WARN", "NOTES"],
            &namespace_rows,
        )?;
        for resolved in r.namespaces.iter() {
            let ns = &resolved.policy;
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
        let rows: Vec<Vec<String>> = r
            .verdicts
            .iter()
            .map(|wv| {
                let o = wv.workload.template.object;
                let v = &wv.verdict;
                let (enforce, audit, warn) = match (&v.modes, v.exempt) {
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
                    enforce,
                    audit,
                    warn,
                    v.highest_level.to_string(),
                    location(o),
                ]
            })
            .collect();
        write_columns(
            out,
            &[
                "WORKLOAD", "ENFORCE", "AUDIT", "WARN", "HIGHEST", "LOCATION",
            ],
            &rows,
        )?;
        for wv in &r.verdicts {
            let Some(m) = &wv.verdict.modes else { continue };
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
                writeln!(out, "\n{}:", workload_name(wv.workload.template.object))?;
                for l in lines {
                    writeln!(out, "  {}", Escaped(&l))?;
                }
            }
        }
        writeln!(
            out,
            "\n{} workloads, {} rejected by their namespace's enforce policy",
            r.verdicts.len(),
            r.rejected()
        )
    }
}

impl Emitter<WhatIf<'_, '_>> for Json {
    fn emit(&self, out: &mut dyn io::Write, r: &WhatIf<'_, '_>) -> io::Result<()> {
        let namespaces: Vec<Value> = r
            .namespaces
            .iter()
            .map(|ns| {
                json!({
                    "name": ns.namespace.name,
                    "current": ns.namespace.policy.enforce.to_string(),
                    "exempt": ns.namespace.exempt,
                    "rejected": ns.rejected(),
                    "warnings": ns.warnings,
                })
            })
            .collect();
        let results: Vec<Value> = r
            .namespaces
            .iter()
            .flat_map(|ns| ns.workloads.iter())
            .map(|w| {
                let mut m = result_json(w.workload.template.object, &w.evaluation);
                m.insert("exempt".into(), json!(w.exempt.map(|e| e.as_str())));
                m.insert("rejected".into(), json!(w.rejected()));
                Value::Object(m)
            })
            .collect();
        write_json(
            out,
            &json!({"whatIf": r.level_version.to_string(), "namespaces": namespaces, "results": results}),
        )
    }
}

impl Emitter<WhatIf<'_, '_>> for Table {
    fn emit(&self, out: &mut dyn io::Write, r: &WhatIf<'_, '_>) -> io::Result<()> {
        let lv = r.level_version;
        writeln!(out, "What if every namespace enforced {lv}:")?;
        for ns in &r.namespaces {
            let n = ns.rejected();
            let status = if ns.namespace.exempt {
                "exempt".to_string()
            } else if n == 0 {
                "no workload would be rejected".to_string()
            } else {
                format!("{n} of {} workloads would be rejected", ns.workloads.len())
            };
            writeln!(
                out,
                "\nnamespace {} (enforce now {}): {status}",
                Escaped(&ns.namespace.name),
                ns.namespace.policy.enforce
            )?;
            for w in &ns.warnings {
                writeln!(out, "  Warning: {}", Escaped(w))?;
            }
            for w in ns.workloads.iter().filter(|w| w.rejected()) {
                let o = w.workload.template.object;
                writeln!(
                    out,
                    "  {} {} ({}): {}",
                    Escaped(&o.kind),
                    Escaped(&o.name),
                    location(o),
                    Escaped(&w.evaluation.message().unwrap_or_default())
                )?;
            }
        }
        writeln!(
            out,
            "\n{} workloads would be rejected under {lv}",
            r.rejected()
        )
    }
}
