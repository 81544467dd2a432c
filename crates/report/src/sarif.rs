//! SARIF 2.1.0 (OASIS), as code-scanning services ingest it: every rule in
//! `tool.driver.rules`, `results` always present, severity mapped to `level` plus the
//! `security-severity` property GitHub uses to rank security alerts, and a physical location
//! with line and column for every result that has one.

use kubevigil_model::{DiagLevel, Severity};
use serde::Serialize;
use serde_json::{Value, json};

use crate::Report;

pub fn level(s: Severity) -> &'static str {
    match s {
        Severity::Critical | Severity::High => "error",
        Severity::Medium => "warning",
        Severity::Low | Severity::Info => "note",
    }
}

fn security_severity(s: Severity) -> &'static str {
    match s {
        Severity::Critical => "9.5",
        Severity::High => "8.0",
        Severity::Medium => "5.5",
        Severity::Low => "3.0",
        Severity::Info => "0.0",
    }
}

/// A relative URI reference for a file path (stdin has no path).
fn artifact_uri(file: &str) -> String {
    if file == "<stdin>" {
        return "stdin".to_string();
    }
    let path = file.replace('\\', "/");
    let path = path.strip_prefix("./").unwrap_or(&path);
    let mut out = String::with_capacity(path.len());
    for b in path.bytes() {
        if b.is_ascii_alphanumeric() || b"-._~/!$&'()*+,;=:@".contains(&b) {
            out.push(b as char);
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

fn region(line: u32, col: u32) -> Option<Value> {
    (line >= 1).then(|| json!({"startLine": line, "startColumn": col.max(1)}))
}

/// A result's location: the physical location (when the object came from a file), then the
/// logical one.
fn location(physical: Option<Value>, logical: String) -> Value {
    let logical = json!([{"fullyQualifiedName": logical, "kind": "object"}]);
    match physical {
        Some(physical) => json!({"physicalLocation": physical, "logicalLocations": logical}),
        None => json!({"logicalLocations": logical}),
    }
}

/// The SARIF log of `report`, as a string.
pub fn render(report: &Report<'_>) -> String {
    let mut out = Vec::new();
    write(report, &mut out).expect("SARIF serialises");
    String::from_utf8(out).expect("serde_json writes UTF-8")
}

/// Writes the SARIF log straight to `out`: one result at a time, never a tree of all of them
/// (a large scan has hundreds of thousands).
pub fn write(report: &Report<'_>, out: &mut dyn std::io::Write) -> std::io::Result<()> {
    let rules: Vec<Value> = report.rules.iter().map(rule).collect();
    let notifications: Vec<Value> = report
        .diagnostics
        .iter()
        .filter(|d| d.level != DiagLevel::Note)
        .map(|d| {
            let mut n = json!({
                "level": if d.level == DiagLevel::Error { "error" } else { "warning" },
                "message": {"text": d.message},
            });
            let mut physical = json!({"artifactLocation": {"uri": artifact_uri(&d.file)}});
            if let Some(r) = region(d.line, d.col) {
                physical["region"] = r;
            }
            n["locations"] = json!([{"physicalLocation": physical}]);
            n
        })
        .collect();
    let has_errors = report
        .diagnostics
        .iter()
        .any(|d| d.level == DiagLevel::Error);
    // Fields in this order: `$schema`, `version`, `runs`; a run's `tool`, `invocations`,
    // `results`.
    #[derive(Serialize)]
    struct Log<'a> {
        #[serde(rename = "$schema")]
        schema: &'static str,
        version: &'static str,
        runs: [Run<'a>; 1],
    }
    #[derive(Serialize)]
    struct Run<'a> {
        tool: Value,
        invocations: Value,
        results: Results<'a>,
    }
    let log = Log {
        schema: "https://json.schemastore.org/sarif-2.1.0.json",
        version: "2.1.0",
        runs: [Run {
            tool: json!({"driver": {
                "name": "kubevigil",
                "version": report.tool_version,
                "semanticVersion": report.tool_version,
                "informationUri": "https://github.com/kubevigil/kubevigil",
                "rules": rules,
            }}),
            invocations: json!([{
                "executionSuccessful": !has_errors,
                "toolExecutionNotifications": notifications,
            }]),
            results: Results(report),
        }],
    };
    crate::emit::write_json(out, &log)
}

fn rule(r: &crate::RuleInfo) -> Value {
    json!({
        "id": r.id,
        "name": r.id,
        "shortDescription": {"text": r.title},
        "fullDescription": {"text": r.title},
        "help": {"text": r.doc, "markdown": r.doc},
        "defaultConfiguration": {"level": level(r.severity)},
        "properties": {
            "tags": ["security", "kubernetes", r.category],
            "security-severity": security_severity(r.severity),
            "problem.severity": level(r.severity),
        },
    })
}

/// The results, each made when it is written.
struct Results<'a>(&'a Report<'a>);

impl Serialize for Results<'_> {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let report = self.0;
        serializer.collect_seq(report.findings.iter().map(|f| result(report, f)))
    }
}

fn result(report: &Report<'_>, f: &kubevigil_model::Finding) -> Value {
    // An object that did not come from a file has no artifact: its result has only the
    // logical location (SARIF 2.1.0 §3.28: every property of a location is optional).
    let physical = match (f.location.file_pos(), &f.location.uri) {
        (Some((file, line, col)), _) => {
            let mut physical = json!({"artifactLocation": {"uri": artifact_uri(file)}});
            if let Some(r) = region(line, col) {
                physical["region"] = r;
            }
            Some(physical)
        }
        // An object read from a cluster: its `cluster:` locator, without a region.
        (None, Some(uri)) => Some(json!({"artifactLocation": {"uri": artifact_uri(uri)}})),
        (None, None) => None,
    };
    let logical = format!(
        "{}/{}{}{}",
        f.object.kind,
        f.object
            .namespace
            .as_deref()
            .map(|n| format!("{n}/"))
            .unwrap_or_default(),
        f.object.name,
        if f.location.field_path.is_empty() {
            String::new()
        } else {
            format!(":{}", f.location.field_path)
        }
    );
    let mut result = json!({
        "ruleId": f.check_id,
        "level": level(f.severity),
        "message": {"text": format!("{} Remediation: {}", f.message, f.remediation)},
        "locations": [location(physical, logical)],
        "partialFingerprints": {"kubevigil/v1": f.fingerprint},
        "properties": {"severity": f.severity.as_str()},
    });
    if let Some(i) = report.rules.iter().position(|r| r.id == f.check_id) {
        result["ruleIndex"] = json!(i);
    }
    result
}
