//! Findings as Kubernetes report objects, for the tools that read them (Kyverno's Policy
//! Reporter and its UI, Fairwinds Insights, any `kubectl get polr`):
//!
//! * `scan -o policyreport`: `wgpolicyk8s.io/v1alpha2` `PolicyReport`s (one per namespace) and a
//!   `ClusterPolicyReport` for cluster-scoped objects; the types of
//!   kubernetes-sigs/wg-policy-prototypes, `policy-report/apis/wgpolicyk8s.io/v1alpha2/
//!   policyreport_types.go`.
//! * `scan -o openreports`: their successors, `openreports.io/v1alpha1` `Report`s and a
//!   `ClusterReport` (openreports/reports-api, `apis/openreports.io/v1alpha1/report_types.go`):
//!   the same results, plus the report-level `source` and `configuration.limits.maxResults`.
//!
//! A finding is a `fail` result, a suppressed finding a `skip` result (with who suppressed it
//! and why). Objects without a namespace go to the `ClusterPolicyReport` when their kind is
//! cluster-scoped, else to the report of namespace `default`, where `kubectl apply` would have
//! put them. Results are ordered most severe first, and a report keeps at most
//! [`Options::max_results`] of them and at most [`MAX_RESULT_BYTES`] of their JSON, so that it
//! always fits in etcd (1.5 MiB per object by default); the summary still counts every result,
//! and the annotations `kubevigil.io/results-limit` and `kubevigil.io/results-omitted` say what
//! was left out. Only what the other formats show is written (check, severity, message,
//! object, field path, place, fingerprint): never a secret value.

use std::collections::BTreeMap;

use kubevigil_model::text::yaml::to_yaml;
use kubevigil_model::{Finding, is_cluster_scoped_kind};
use serde_json::{Map, Value, json};

use crate::Report;

/// Which API the reports are written for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Flavor {
    /// `wgpolicyk8s.io/v1alpha2` `PolicyReport` and `ClusterPolicyReport`.
    PolicyReport,
    /// `openreports.io/v1alpha1` `Report` and `ClusterReport`.
    OpenReports,
}

impl Flavor {
    pub fn api_version(self) -> &'static str {
        match self {
            Flavor::PolicyReport => "wgpolicyk8s.io/v1alpha2",
            Flavor::OpenReports => "openreports.io/v1alpha1",
        }
    }

    pub fn kind(self, cluster: bool) -> &'static str {
        match (self, cluster) {
            (Flavor::PolicyReport, false) => "PolicyReport",
            (Flavor::PolicyReport, true) => "ClusterPolicyReport",
            (Flavor::OpenReports, false) => "Report",
            (Flavor::OpenReports, true) => "ClusterReport",
        }
    }
}

impl Flavor {
    /// The resource's plural name, as in its API path.
    pub fn plural(self, cluster: bool) -> &'static str {
        match (self, cluster) {
            (Flavor::PolicyReport, false) => "policyreports",
            (Flavor::PolicyReport, true) => "clusterpolicyreports",
            (Flavor::OpenReports, false) => "reports",
            (Flavor::OpenReports, true) => "clusterreports",
        }
    }
}

/// The name of every report kubevigil writes (one per namespace, one cluster-wide).
pub const REPORT_NAME: &str = "kubevigil";

/// Most bytes of result JSON one report holds: well under etcd's default request limit of
/// 1.5 MiB, whatever the cap on the number of results.
pub const MAX_RESULT_BYTES: usize = 1 << 20;

/// The default cap on results per report.
pub const DEFAULT_MAX_RESULTS: usize = 1000;

#[derive(Debug, Clone, Copy)]
pub struct Options {
    pub flavor: Flavor,
    /// Most results per report; the most severe are kept.
    pub max_results: usize,
    /// When the results were found: seconds since the epoch (the results' `timestamp`).
    pub timestamp_secs: i64,
}

/// A report whose results were cut to fit.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Truncated {
    /// `None` for the cluster-wide report.
    pub namespace: Option<String>,
    pub kept: usize,
    pub total: usize,
}

/// The reports as a YAML stream (`kubectl apply -f` takes it), and the reports that had to
/// leave results out. Each report is written as soon as it is built, so only one is held as a
/// value at a time.
pub fn render(report: &Report<'_>, opts: &Options) -> (String, Vec<Truncated>) {
    let mut yaml = String::new();
    let truncated = each_report(report, opts, |doc| yaml.push_str(&to_yaml(&[doc])));
    (yaml, truncated)
}

/// One entry of a report before it is capped.
struct Entry<'a> {
    finding: &'a Finding,
    /// `None` for a finding; who suppressed it and why for a suppressed one.
    suppressed: Option<(&'a str, &'a str)>,
}

/// The report objects: the namespaces' in name order, then the cluster-wide one.
pub fn build(report: &Report<'_>, opts: &Options) -> (Vec<Value>, Vec<Truncated>) {
    let mut docs = Vec::new();
    let truncated = each_report(report, opts, |doc| docs.push(doc));
    (docs, truncated)
}

/// Gives [`build`]'s report objects, in its order, to `out` one at a time; returns the reports
/// that had to leave results out.
fn each_report(report: &Report<'_>, opts: &Options, mut out: impl FnMut(Value)) -> Vec<Truncated> {
    // `None` sorts first: reorder below so the cluster report comes last.
    let mut scopes: BTreeMap<Option<&str>, Vec<Entry<'_>>> = BTreeMap::new();
    for f in report.findings {
        scopes.entry(scope_of(f)).or_default().push(Entry {
            finding: f,
            suppressed: None,
        });
    }
    for s in report.suppressed {
        scopes.entry(scope_of(&s.finding)).or_default().push(Entry {
            finding: &s.finding,
            suppressed: Some((&s.by, &s.reason)),
        });
    }
    let categories: BTreeMap<&str, &str> = report
        .rules
        .iter()
        .map(|r| (r.id.as_str(), r.category.as_str()))
        .collect();
    let mut truncated = Vec::new();
    let mut cluster = None;
    for (namespace, mut entries) in scopes {
        entries.sort_by(|a, b| entry_order(a).cmp(&entry_order(b)));
        let (doc, cut) = report_object(namespace, &entries, &categories, opts);
        if let Some(t) = cut {
            truncated.push(t);
        }
        match namespace {
            Some(_) => out(doc),
            None => cluster = Some(doc),
        }
    }
    if let Some(doc) = cluster {
        out(doc);
    }
    truncated
}

/// Failures before skips, the most severe first, then a stable order; borrowed, so sorting
/// allocates nothing per comparison.
fn entry_order<'e>(
    e: &Entry<'e>,
) -> (
    bool,
    std::cmp::Reverse<kubevigil_model::Severity>,
    &'e str,
    &'e str,
    &'e str,
    &'e str,
) {
    let f = e.finding;
    (
        e.suppressed.is_some(),
        std::cmp::Reverse(f.severity),
        &f.object.kind,
        &f.object.name,
        &f.check_id,
        &f.location.field_path,
    )
}

/// The namespace whose report holds the finding's result; `None` for the cluster-wide one.
fn scope_of(f: &Finding) -> Option<&str> {
    match f.object.namespace.as_deref() {
        Some(ns) if !ns.is_empty() => Some(ns),
        _ if is_cluster_scoped_kind(&f.object.kind) => None,
        _ => Some("default"),
    }
}

fn report_object(
    namespace: Option<&str>,
    entries: &[Entry<'_>],
    categories: &BTreeMap<&str, &str>,
    opts: &Options,
) -> (Value, Option<Truncated>) {
    let mut results = Vec::new();
    let mut bytes = 0;
    for e in entries {
        if results.len() >= opts.max_results {
            break;
        }
        let r = result(e, categories, opts);
        let size = r.to_string().len();
        if bytes + size > MAX_RESULT_BYTES {
            break;
        }
        bytes += size;
        results.push(r);
    }
    let fail = entries.iter().filter(|e| e.suppressed.is_none()).count();
    let skip = entries.len() - fail;
    let omitted = entries.len() - results.len();
    let mut annotations = Map::new();
    annotations.insert(
        "kubevigil.io/results-limit".into(),
        opts.max_results.to_string().into(),
    );
    if omitted > 0 {
        annotations.insert(
            "kubevigil.io/results-omitted".into(),
            omitted.to_string().into(),
        );
    }
    let mut metadata = Map::new();
    metadata.insert("name".into(), REPORT_NAME.into());
    if let Some(ns) = namespace {
        metadata.insert("namespace".into(), ns.into());
    }
    metadata.insert(
        "labels".into(),
        json!({"app.kubernetes.io/managed-by": "kubevigil"}),
    );
    metadata.insert("annotations".into(), Value::Object(annotations));
    let mut doc = Map::new();
    doc.insert("apiVersion".into(), opts.flavor.api_version().into());
    doc.insert("kind".into(), opts.flavor.kind(namespace.is_none()).into());
    doc.insert("metadata".into(), Value::Object(metadata));
    if opts.flavor == Flavor::OpenReports {
        doc.insert("source".into(), "kubevigil".into());
        doc.insert(
            "configuration".into(),
            json!({"limits": {"maxResults": opts.max_results}}),
        );
    }
    doc.insert(
        "summary".into(),
        json!({"pass": 0, "fail": fail, "warn": 0, "error": 0, "skip": skip}),
    );
    doc.insert("results".into(), Value::Array(results));
    let cut = (omitted > 0).then(|| Truncated {
        namespace: namespace.map(String::from),
        kept: entries.len() - omitted,
        total: entries.len(),
    });
    (Value::Object(doc), cut)
}

fn result(e: &Entry<'_>, categories: &BTreeMap<&str, &str>, opts: &Options) -> Value {
    let f = e.finding;
    let o = &f.object;
    let mut resource = Map::new();
    resource.insert("apiVersion".into(), o.api_version.clone().into());
    resource.insert("kind".into(), o.kind.clone().into());
    if let Some(ns) = o.namespace.as_deref().filter(|ns| !ns.is_empty()) {
        resource.insert("namespace".into(), ns.into());
    }
    resource.insert("name".into(), o.name.clone().into());
    let mut properties = Map::new();
    properties.insert("title".into(), f.title.clone().into());
    properties.insert("fieldPath".into(), f.location.field_path.clone().into());
    let place = match f.location.file_pos() {
        Some((file, line, col)) => Some(format!("{file}:{line}:{col}")),
        None => f.location.place().map(String::from),
    };
    if let Some(place) = place {
        properties.insert("location".into(), place.into());
    }
    properties.insert("fingerprint".into(), f.fingerprint.clone().into());
    if let Some((by, reason)) = e.suppressed {
        properties.insert("suppressedBy".into(), by.into());
        if !reason.is_empty() {
            properties.insert("suppressionReason".into(), reason.into());
        }
    }
    let mut r = Map::new();
    r.insert("source".into(), "kubevigil".into());
    r.insert("policy".into(), f.check_id.clone().into());
    if let Some(category) = categories.get(&*f.check_id) {
        r.insert("category".into(), (*category).into());
    }
    r.insert("severity".into(), f.severity.as_str().into());
    r.insert(
        "timestamp".into(),
        json!({"seconds": opts.timestamp_secs, "nanos": 0}),
    );
    r.insert(
        "result".into(),
        if e.suppressed.is_some() {
            "skip"
        } else {
            "fail"
        }
        .into(),
    );
    r.insert("scored".into(), true.into());
    r.insert("message".into(), f.message.clone().into());
    r.insert("resources".into(), json!([resource]));
    r.insert("properties".into(), Value::Object(properties));
    Value::Object(r)
}
