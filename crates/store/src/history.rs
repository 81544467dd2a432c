//! `kubevigil history`: what appeared and what was resolved, as a table or as JSON, written as
//! it is read (the history is never loaded whole).
//!
//! JSON (documented in the README, "kubevigil history"):
//!
//! ```text
//! {"since": RFC3339, "namespace": NS|null,
//!  "findings": [{"time", "change": "new"|"reopened"|"resolved", "fingerprint", "checkId",
//!                "severity", "title", "message", "object": {"apiVersion", "kind", "namespace"?,
//!                "name"}, "fieldPath", "firstSeen", "lastSeen", "resolvedAt", "reopenedAt"}],
//!  "alerts": [{"dedupKey", "rule", "title", "severity", "namespace", "subject", "count",
//!              "firstSeen", "lastSeen"}]}
//! ```

use std::io::Write;

use kubevigil_model::escape_controls;
// JSON is read on terminals too: DEL, C1 and bidi controls escaped, as every JSON output does.
use kubevigil_model::text::json as safe_json;
use kubevigil_model::time::format_rfc3339_ms;
use serde_json::json;

use crate::{AlertRecord, FindingEvent, HistoryQuery, HistoryStore, Result};

/// Output format.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Table,
    Json,
}

/// Writes the history of `query` from `store` to `out`.
pub fn render(
    store: &dyn HistoryStore,
    query: &HistoryQuery,
    format: Format,
    out: &mut dyn Write,
) -> Result<()> {
    match format {
        Format::Json => write_json(store, query, out),
        Format::Table => write_table(store, query, out),
    }
}

fn write_json(store: &dyn HistoryStore, query: &HistoryQuery, out: &mut dyn Write) -> Result<()> {
    let head = json!({"since": format_rfc3339_ms(query.since_ms), "namespace": query.namespace});
    // The header's object without its closing brace, then the two arrays, one entry a line.
    let head = safe_json::to_string(&head, false).map_err(std::io::Error::from)?;
    write!(out, "{},\"findings\":[", &head[..head.len() - 1])?;
    let mut first = true;
    store.finding_history(query, &mut |e| {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        safe_json::to_writer(&mut *out, &finding_json(&e), false).map_err(std::io::Error::from)
    })?;
    write!(out, "\n],\"alerts\":[")?;
    first = true;
    store.alert_history(query, &mut |a| {
        out.write_all(if first { b"\n" } else { b",\n" })?;
        first = false;
        safe_json::to_writer(&mut *out, &alert_json(&a), false).map_err(std::io::Error::from)
    })?;
    writeln!(out, "\n]}}")?;
    Ok(())
}

fn finding_json(e: &FindingEvent) -> serde_json::Value {
    let f = &e.finding;
    json!({
        "time": format_rfc3339_ms(e.time_ms),
        "change": e.transition.as_str(),
        "fingerprint": f.fingerprint,
        "checkId": f.check_id,
        "severity": f.severity.as_str(),
        "title": f.title,
        "message": f.message,
        "object": f.object,
        "fieldPath": f.field_path,
        "firstSeen": format_rfc3339_ms(f.first_seen),
        "lastSeen": format_rfc3339_ms(f.last_seen),
        "resolvedAt": f.resolved_at.map(format_rfc3339_ms),
        "reopenedAt": f.reopened_at.map(format_rfc3339_ms),
    })
}

fn alert_json(a: &AlertRecord) -> serde_json::Value {
    json!({
        // As the alert contract shows it: the first 16 hex digits.
        "dedupKey": a.dedup_key.get(..16).unwrap_or(&a.dedup_key),
        "rule": a.rule,
        "title": a.title,
        "severity": a.severity.as_str(),
        "namespace": a.namespace,
        "subject": a.subject,
        "count": a.count,
        "firstSeen": format_rfc3339_ms(a.first_seen),
        "lastSeen": format_rfc3339_ms(a.last_seen),
    })
}

/// Fixed column widths: rows are written as they are read, so widths cannot be measured first;
/// a longer value widens its row only.
fn write_table(store: &dyn HistoryStore, query: &HistoryQuery, out: &mut dyn Write) -> Result<()> {
    let since = format_rfc3339_ms(query.since_ms);
    writeln!(out, "Findings since {since}:")?;
    writeln!(
        out,
        "{:<24}  {:<8}  {:<8}  {:<28}  {:<40}  MESSAGE",
        "TIME", "CHANGE", "SEVERITY", "CHECK", "OBJECT"
    )?;
    let mut rows = 0usize;
    store.finding_history(query, &mut |e| {
        rows += 1;
        let f = &e.finding;
        let o = &f.object;
        let object = match &o.namespace {
            Some(ns) => format!("{} {ns}/{}", o.kind, o.name),
            None => format!("{} {}", o.kind, o.name),
        };
        // Names and messages come from the cluster: escaped, one row per line.
        writeln!(
            out,
            "{:<24}  {:<8}  {:<8}  {:<28}  {:<40}  {}",
            format_rfc3339_ms(e.time_ms),
            e.transition.as_str(),
            f.severity.as_str(),
            escape_controls(&f.check_id),
            escape_controls(&object),
            escape_controls(&f.message)
        )
    })?;
    if rows == 0 {
        writeln!(out, "(none)")?;
    }
    writeln!(out, "\nAlerts last seen since {since}:")?;
    writeln!(
        out,
        "{:<24}  {:<24}  {:>6}  {:<8}  {:<36}  {:<16}  SUBJECT",
        "FIRST SEEN", "LAST SEEN", "COUNT", "SEVERITY", "RULE", "NAMESPACE"
    )?;
    rows = 0;
    store.alert_history(query, &mut |a| {
        rows += 1;
        writeln!(
            out,
            "{:<24}  {:<24}  {:>6}  {:<8}  {:<36}  {:<16}  {}",
            format_rfc3339_ms(a.first_seen),
            format_rfc3339_ms(a.last_seen),
            a.count,
            a.severity.as_str(),
            escape_controls(&a.rule),
            escape_controls(a.namespace.as_deref().unwrap_or("-")),
            escape_controls(&a.subject)
        )
    })?;
    if rows == 0 {
        writeln!(out, "(none)")?;
    }
    Ok(())
}
