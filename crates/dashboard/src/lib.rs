//! The dashboard `kubevigil monitor` serves on `--listen`: server-rendered pages over the
//! monitor's history store, for people who would rather look than read.
//!
//! - `/` overview: open findings by severity and namespace, their trend over the retained
//!   history (an SVG chart drawn here), the alerts of the last 24 hours;
//! - `/findings`: the findings, filtered by namespace, check, severity, status (open, resolved,
//!   all) and text, with a plain GET form (it works without script);
//! - `/findings/{fingerprint}`: one finding with its object, field, message, history, the
//!   check's documentation and remediation, and the same object's other findings;
//! - `/compliance`: per framework (CIS Kubernetes Benchmark, NSA/CISA hardening guide, MITRE
//!   ATT&CK), the controls the checks cover and the open findings that break each;
//! - `/alerts`: the alerts by last occurrence with their dedup counts, actor and namespace,
//!   and the documentation of each rule that raised one.
//!
//! The pages are read-only and carry no script at all; the one style sheet is served from
//! [`STYLE_PATH`], and [`CONTENT_SECURITY_POLICY`] allows nothing else, so the dashboard works
//! in air-gapped clusters and an injected tag could not run. Every value from the store (names,
//! labels, messages, actors) goes through maud's HTML escaping and, first, through
//! [`escape_controls`], so control and bidi characters show as visible escapes. The store holds
//! no secret value (findings name fields, alert actors of secrets are hashes): nothing here can
//! show one.
//!
//! Rendering is pure: each page reads the store through [`HistoryStore`] and returns the HTML.

mod live;

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt::Write as _;

use kubevigil_detect::rules::RuleDoc;
use kubevigil_model::text::percent_encode as encode;
use kubevigil_model::{ObjectRef, Severity, escape_controls};
use kubevigil_rule::RuleMeta;
use kubevigil_store::{AlertRecord, FindingRecord, HistoryQuery, HistoryStore, Result, Transition};
use maud::{DOCTYPE, Markup, html};

/// The dashboard's style sheet, served at [`STYLE_PATH`].
pub const STYLE: &str = include_str!("dashboard.css");
pub const STYLE_PATH: &str = "/static/dashboard.css";

/// Sent with every page: its own style sheet and nothing else (no script, no frame, no form
/// target elsewhere). `img-src data:` is for the empty favicon, so that browsers do not ask
/// for one.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; style-src 'self'; img-src data:; form-action 'self'; base-uri 'none'; frame-ancestors 'none'";

/// Most rows a list shows: what a browser (and a phone) still opens at ease; the counts above
/// a list cover every match.
pub const MAX_ROWS: usize = 1000;

pub use live::MAX_MAP_WORKLOADS;

const HOUR_MS: i64 = 3_600_000;
const DAY_MS: i64 = 24 * HOUR_MS;
/// Points of the trend chart.
const TREND_POINTS: i64 = 48;

/// Text from the cluster or the store as a page shows it: control and bidi characters as
/// visible escapes (maud then escapes the markup).
fn shown(s: &str) -> String {
    escape_controls(s).into_owned()
}

/// `2026-12-01 09:35 UTC`.
fn when(ms: i64) -> String {
    let s = kubevigil_model::time::format_rfc3339_ms(ms);
    // `2026-12-01T09:35:12.345Z` -> `2026-12-01 09:35`
    format!("{} UTC", s.get(..16).unwrap_or(&s).replacen('T', " ", 1))
}

fn time_cell(ms: i64) -> Markup {
    html! { time datetime=(kubevigil_model::time::format_rfc3339_ms(ms)) { (when(ms)) } }
}

fn severity_badge(s: Severity) -> Markup {
    html! { span class={ "sev sev-" (s.as_str()) } { (s.as_str()) } }
}

fn object_label(o: &ObjectRef) -> String {
    match &o.namespace {
        Some(ns) => format!("{} {}/{}", o.kind, ns, o.name),
        None => format!("{} {}", o.kind, o.name),
    }
}

/// Where a finding's page is.
fn finding_href(fingerprint: &str) -> String {
    format!("/findings/{}", encode(fingerprint))
}

/// The page around `body`, with `current` marked in the navigation.
fn layout(title: &str, current: &str, generated_ms: i64, body: Markup) -> String {
    let nav = [
        ("/", "Overview"),
        ("/findings", "Findings"),
        ("/alerts", "Alerts"),
        ("/pod-security", "Pod Security"),
        ("/network", "Network"),
        ("/rbac", "RBAC"),
        ("/compliance", "Compliance"),
    ];
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · kubevigil" }
                link rel="icon" href="data:,";
                link rel="stylesheet" href=(STYLE_PATH);
            }
            body {
                header {
                    a class="brand" href="/" { "kubevigil" }
                    nav {
                        @for (href, label) in nav {
                            @if href == current {
                                a href=(href) aria-current="page" { (label) }
                            } @else {
                                a href=(href) { (label) }
                            }
                        }
                    }
                }
                main { (body) }
                footer {
                    "kubevigil " (env!("CARGO_PKG_VERSION")) " · read-only · as of " (when(generated_ms))
                }
            }
        }
    }
    .into_string()
}

/// Which findings `/findings` lists: its query string (`?namespace=&check=&severity=&status=&q=`).
/// An empty value (or none) does not filter; `namespace=-` is the cluster-scoped objects.
#[derive(Debug, Default, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(default)]
pub struct FindingFilter {
    pub namespace: String,
    pub check: String,
    pub severity: String,
    /// `open` (the default), `resolved`, `suppressed` (what exemptions and annotations suppress
    /// in the cluster now) or `all` (open and resolved).
    pub status: String,
    /// Words looked for, case-insensitively, in the message, title, check, object and field.
    pub q: String,
}

/// A filter value the dashboard does not know.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum FilterError {
    #[error("unknown severity \"{}\" (critical, high, medium, low or info)", kubevigil_model::Escaped(.0))]
    UnknownSeverity(String),
    #[error("unknown status \"{}\" (open, resolved, suppressed or all)", kubevigil_model::Escaped(.0))]
    UnknownStatus(String),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Status {
    Open,
    Resolved,
    All,
    /// What the configuration's exemptions or the objects' `kubevigil.io/ignore` annotations
    /// suppress now (never in the history: they are not reported).
    Suppressed,
}

/// A [`FindingFilter`] checked.
struct Filter<'a> {
    namespace: &'a str,
    check: &'a str,
    severity: Option<Severity>,
    status: Status,
    words: Vec<String>,
}

impl FindingFilter {
    fn checked(&self) -> std::result::Result<Filter<'_>, FilterError> {
        let severity = match self.severity.trim() {
            "" => None,
            s => Some(
                s.parse::<Severity>()
                    .map_err(|_| FilterError::UnknownSeverity(s.to_string()))?,
            ),
        };
        let status = match self.status.trim() {
            "" | "open" => Status::Open,
            "resolved" => Status::Resolved,
            "all" => Status::All,
            "suppressed" => Status::Suppressed,
            s => return Err(FilterError::UnknownStatus(s.to_string())),
        };
        Ok(Filter {
            namespace: self.namespace.trim(),
            check: self.check.trim(),
            severity,
            status,
            words: self.q.split_whitespace().map(str::to_lowercase).collect(),
        })
    }
}

impl Filter<'_> {
    fn matches(&self, f: &FindingRecord) -> bool {
        let status = match self.status {
            Status::Open => f.is_open(),
            Status::Resolved => !f.is_open(),
            Status::All | Status::Suppressed => true,
        };
        let namespace = match self.namespace {
            "" => true,
            "-" => f.object.namespace.is_none(),
            ns => f.object.namespace.as_deref() == Some(ns),
        };
        status
            && namespace
            && (self.check.is_empty() || f.check_id == self.check)
            && self.severity.is_none_or(|s| f.severity == s)
            && (self.words.is_empty() || {
                let text = [
                    &f.message,
                    &f.title,
                    &f.check_id,
                    &f.object.kind,
                    &f.object.name,
                    f.object.namespace.as_deref().unwrap_or(""),
                    &f.field_path,
                ]
                .map(|s| s.to_lowercase())
                .join("\n");
                self.words.iter().all(|w| text.contains(w.as_str()))
            })
    }
}

/// The pages, with what they know besides the store: the checks' and the detection rules'
/// documentation.
pub struct Dashboard {
    checks: HashMap<&'static str, &'static RuleMeta>,
    /// Detection rules by id.
    rules: HashMap<String, RuleDoc>,
}

/// A page, or why there is none.
#[derive(Debug, thiserror::Error)]
pub enum PageError {
    /// The store could not be read.
    #[error(transparent)]
    Store(#[from] kubevigil_store::StoreError),
    /// The query asked for something that does not exist (400).
    #[error(transparent)]
    BadRequest(FilterError),
}

impl Dashboard {
    /// The built-in checks' documentation, and `rules`' (the detection rules the monitor runs).
    pub fn new(rules: impl IntoIterator<Item = RuleDoc>) -> Dashboard {
        Dashboard {
            checks: kubevigil_checks::catalog()
                .into_iter()
                .map(|m| (m.id, m))
                .collect(),
            rules: rules.into_iter().map(|r| (r.id.clone(), r)).collect(),
        }
    }

    fn check_title<'a>(&self, id: &'a str, fallback: &'a str) -> &'a str {
        self.checks.get(id).map_or(fallback, |m| m.title)
    }

    /// `/`: open findings by severity and namespace, their trend, the last 24 hours' alerts,
    /// and, with the cluster's objects, Pod Security enforcement per namespace.
    pub fn overview(
        &self,
        store: &dyn HistoryStore,
        objects: Option<&kubevigil_model::Store>,
        now_ms: i64,
    ) -> Result<String> {
        let mut by_severity: BTreeMap<Severity, usize> = BTreeMap::new();
        let mut by_namespace: BTreeMap<Option<String>, BTreeMap<Severity, usize>> = BTreeMap::new();
        for (namespace, severity, n) in store.open_counts()? {
            let n = n as usize;
            *by_severity.entry(severity).or_default() += n;
            *by_namespace
                .entry(namespace)
                .or_default()
                .entry(severity)
                .or_default() += n;
        }
        let open_total: usize = by_severity.values().sum();
        let trend = Trend::read(store, &by_severity, now_ms)?;
        let mut alerts = Vec::new();
        store.alert_history(
            &HistoryQuery {
                since_ms: now_ms - DAY_MS,
                namespace: None,
            },
            &mut |a| {
                alerts.push(a);
                Ok(())
            },
        )?;
        let mut alerts_by_severity: BTreeMap<Severity, u64> = BTreeMap::new();
        for a in &alerts {
            *alerts_by_severity.entry(a.severity).or_default() += a.count;
        }
        alerts.sort_by(|a, b| {
            (b.severity, b.count, b.last_seen).cmp(&(a.severity, a.count, a.last_seen))
        });
        // Namespaces with the most severe open findings first.
        let mut namespaces: Vec<_> = by_namespace.into_iter().collect();
        namespaces.sort_by(|(an, a), (bn, b)| {
            let key = |m: &BTreeMap<Severity, usize>| {
                Severity::ALL.map(|s| std::cmp::Reverse(m.get(&s).copied().unwrap_or(0)))
            };
            key(a).cmp(&key(b)).then(an.cmp(bn))
        });
        let body = html! {
            h1 { "Overview" }
            p class="muted" { (open_total) " open findings" }
            div class="cards" {
                @for s in Severity::ALL {
                    a class={ "card sev-" (s.as_str()) } href={ "/findings?severity=" (s.as_str()) } {
                        b { (by_severity.get(&s).copied().unwrap_or(0)) }
                        (s.as_str())
                    }
                }
            }
            h2 { "Open findings over time" }
            (trend.svg())
            h2 { "Open findings by namespace" }
            @if namespaces.is_empty() {
                p class="muted" { "No open finding." }
            } @else {
                div class="scroll" {
                    table id="namespaces" {
                        thead { tr {
                            th { "Namespace" }
                            @for s in Severity::ALL { th class="n" { (s.as_str()) } }
                        } }
                        tbody {
                            @for (ns, counts) in namespaces.iter().take(MAX_ROWS) {
                                @let (label, value) = match ns {
                                    Some(ns) => (shown(ns), ns.as_str()),
                                    None => ("(cluster-scoped)".to_string(), "-"),
                                };
                                tr {
                                    td { a href={ "/findings?namespace=" (encode(value)) } { (label) } }
                                    @for s in Severity::ALL {
                                        td class="n" { (counts.get(&s).copied().unwrap_or(0)) }
                                    }
                                }
                            }
                        }
                    }
                }
            }
            h2 { "Pod Security enforcement" }
            (pss_summary(objects))
            h2 { "Alerts in the last 24 hours" }
            div class="cards" {
                @for s in Severity::ALL {
                    a class={ "card sev-" (s.as_str()) } href="/alerts" {
                        b { (alerts_by_severity.get(&s).copied().unwrap_or(0)) }
                        (s.as_str())
                    }
                }
            }
            (self.alert_table(alerts.iter().take(10)))
        };
        Ok(layout("Overview", "/", now_ms, body))
    }

    /// `/findings`: the findings the filter selects, the most recently seen first; with
    /// `status=suppressed`, those of `suppressed` (what a scan of the cluster's objects
    /// suppresses now; `None` without a cluster).
    pub fn findings(
        &self,
        store: &dyn HistoryStore,
        suppressed: Option<&[kubevigil_checks::Suppressed]>,
        filter: &FindingFilter,
        now_ms: i64,
    ) -> std::result::Result<String, PageError> {
        let checked = filter.checked().map_err(PageError::BadRequest)?;
        let (mut namespaces, mut checks) = (BTreeSet::new(), BTreeMap::new());
        let (mut rows, mut matched) = (Vec::new(), 0usize);
        // Why each suppressed row is, by fingerprint.
        let mut why: HashMap<String, String> = HashMap::new();
        let mut take = |f: FindingRecord| {
            namespaces.insert(f.object.namespace.clone());
            checks
                .entry(f.check_id.clone())
                .or_insert_with(|| f.title.clone());
            if checked.matches(&f) {
                matched += 1;
                if rows.len() < MAX_ROWS {
                    rows.push(f);
                }
            }
        };
        if checked.status == Status::Suppressed {
            for s in suppressed.unwrap_or_default() {
                let f = &s.finding;
                why.insert(f.fingerprint.clone(), suppressed_by(&s.by));
                // Not in the history: no time of its own.
                take(FindingRecord::of(f, 0));
            }
        } else {
            store.findings(&mut |f| {
                take(f);
                Ok(())
            })?;
        }
        let selected = |value: &str, current: &str| value == current;
        let body = html! {
            h1 { "Findings" }
            form class="filters" method="get" action="/findings" {
                label { "Namespace"
                    select name="namespace" {
                        option value="" { "any" }
                        @for ns in &namespaces {
                            @let value = ns.as_deref().unwrap_or("-");
                            option value=(value) selected[selected(value, checked.namespace)] {
                                @match ns { Some(ns) => (shown(ns)), None => "(cluster-scoped)" }
                            }
                        }
                    }
                }
                label { "Check"
                    select name="check" {
                        option value="" { "any" }
                        @for (id, title) in &checks {
                            option value=(id) selected[selected(id, checked.check)] {
                                (shown(id)) " — " (shown(self.check_title(id, title)))
                            }
                        }
                    }
                }
                label { "Severity"
                    select name="severity" {
                        option value="" { "any" }
                        @for s in Severity::ALL {
                            option value=(s.as_str()) selected[checked.severity == Some(s)] { (s.as_str()) }
                        }
                    }
                }
                label { "Status"
                    select name="status" {
                        @for (value, label, status) in [("open", "open", Status::Open), ("resolved", "resolved", Status::Resolved), ("suppressed", "suppressed", Status::Suppressed), ("all", "open or resolved", Status::All)] {
                            option value=(value) selected[checked.status == status] { (label) }
                        }
                    }
                }
                label { "Text"
                    input type="search" name="q" value=(filter.q) placeholder="name, message, field";
                }
                button type="submit" { "Filter" }
            }
            p id="matched" class="muted" {
                (matched) " findings"
                @if matched > rows.len() {
                    ", the " (rows.len()) " most recently seen shown: narrow the filter to see the others"
                }
            }
            @if checked.status == Status::Suppressed {
                @if suppressed.is_none() { p class="muted" id="no-cluster" { "No cluster objects yet: suppressed findings are those of the cluster's objects now." } }
                (self.suppressed_table(&rows, &why))
            } @else {
                (self.finding_table(&rows))
            }
        };
        Ok(layout("Findings", "/findings", now_ms, body))
    }

    /// Suppressed findings: not in the history, so without a page of their own.
    fn suppressed_table(&self, rows: &[FindingRecord], why: &HashMap<String, String>) -> Markup {
        html! {
            @if !rows.is_empty() {
                div class="scroll" {
                    table id="finding-list" {
                        thead { tr {
                            th { "Severity" } th { "Check" } th { "Object" } th { "Message" }
                            th class="hide-narrow" { "Field" } th { "Suppressed by" }
                        } }
                        tbody {
                            @for f in rows {
                                tr {
                                    td { (severity_badge(f.severity)) }
                                    td { (shown(self.check_title(&f.check_id, &f.title))) }
                                    td { (shown(&object_label(&f.object))) }
                                    td { (shown(&f.message)) }
                                    td class="hide-narrow" { code { (shown(&f.field_path)) } }
                                    td { (shown(why.get(&f.fingerprint).map_or("", String::as_str))) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    fn finding_table(&self, rows: &[FindingRecord]) -> Markup {
        html! {
            @if !rows.is_empty() {
                div class="scroll" {
                    table id="finding-list" {
                        thead { tr {
                            th { "Severity" } th { "Check" } th { "Object" } th { "Message" }
                            th class="hide-narrow" { "Field" } th { "Status" } th class="hide-narrow" { "First seen" }
                        } }
                        tbody {
                            @for f in rows {
                                tr {
                                    td { (severity_badge(f.severity)) }
                                    td { a href=(finding_href(&f.fingerprint)) { (shown(self.check_title(&f.check_id, &f.title))) } }
                                    td { (shown(&object_label(&f.object))) }
                                    td { (shown(&f.message)) }
                                    td class="hide-narrow" { code { (shown(&f.field_path)) } }
                                    td class="t" { @if f.is_open() { "open" } @else { "resolved" } }
                                    td class="t hide-narrow" { (time_cell(f.first_seen)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }

    /// `/findings/{fingerprint}`: the finding, its check's documentation and the object's other
    /// findings; `None` when the store has no such finding.
    pub fn finding(
        &self,
        store: &dyn HistoryStore,
        fingerprint: &str,
        now_ms: i64,
    ) -> Result<Option<String>> {
        let Some(f) = store.finding(fingerprint)? else {
            return Ok(None);
        };
        let mut others = store.findings_of(&f.object)?;
        others.retain(|o| o.fingerprint != f.fingerprint);
        others.truncate(MAX_ROWS);
        others.sort_by_key(|o| std::cmp::Reverse((o.is_open(), o.severity)));
        let meta = self.checks.get(f.check_id.as_str()).copied();
        let o = &f.object;
        let title = shown(self.check_title(&f.check_id, &f.title));
        let body = html! {
            h1 { (severity_badge(f.severity)) " " (title) }
            p id="message" { (shown(&f.message)) }
            dl class="facts" {
                dt { "Status" }
                dd { @if let Some(at) = f.resolved_at { "resolved " (time_cell(at)) } @else { "open" } }
                dt { "Object" }
                dd { (shown(&o.api_version)) " " (shown(&o.kind)) " "
                     @if let Some(ns) = &o.namespace { (shown(ns)) "/" } (shown(&o.name)) }
                dt { "Field" } dd { code { (shown(&f.field_path)) } }
                dt { "Check" } dd { code { (shown(&f.check_id)) } }
                dt { "First seen" } dd { (time_cell(f.first_seen)) }
                dt { "Last seen" } dd { (time_cell(f.last_seen)) }
                @if let Some(at) = f.reopened_at { dt { "Reopened" } dd { (time_cell(at)) } }
                dt { "Fingerprint" } dd { code { (shown(&f.fingerprint)) } }
            }
            @if let Some(meta) = meta {
                h2 { "Remediation" }
                p id="remediation" { (meta.remediation) }
                @if !meta.references.is_empty() {
                    h2 { "References" }
                    ul {
                        @for r in meta.references {
                            li {
                                @if r.url.is_empty() { (r.framework) " " (r.id) }
                                @else { a href=(r.url) rel="noreferrer" { (r.framework) " " (r.id) } }
                            }
                        }
                    }
                }
                h2 { "Documentation" }
                pre id="documentation" { (meta.doc) }
            } @else {
                p class="muted" { "This kubevigil does not know the check " code { (shown(&f.check_id)) } "." }
            }
            h2 { "The object's other findings" }
            @if others.is_empty() { p class="muted" { "None." } }
            (self.finding_table(&others))
        };
        Ok(Some(layout(&title, "/findings", now_ms, body)))
    }

    /// `/alerts`: the alerts last seen in the last `days` days, the latest first, and the
    /// documentation of the rules that raised them.
    pub fn alerts(&self, store: &dyn HistoryStore, days: u32, now_ms: i64) -> Result<String> {
        let mut alerts = Vec::new();
        store.alert_history(
            &HistoryQuery {
                since_ms: now_ms - i64::from(days) * DAY_MS,
                namespace: None,
            },
            &mut |a| {
                alerts.push(a);
                Ok(())
            },
        )?;
        let total = alerts.len();
        // Oldest first from the store: the latest are kept and shown first.
        alerts.reverse();
        alerts.truncate(MAX_ROWS);
        let rules: BTreeSet<&str> = alerts.iter().map(|a| a.rule.as_str()).collect();
        let body = html! {
            h1 { "Alerts" }
            p class="muted" {
                (total) " alerts last seen in the last " (days) " days"
                @if total > alerts.len() { ", the latest " (alerts.len()) " shown" }
                " · "
                @for d in [1u32, 7, 30, 90] {
                    a href={ "/alerts?days=" (d) } { (d) "d" } " "
                }
            }
            (self.alert_table(alerts.iter()))
            @if !rules.is_empty() {
                h2 { "Rules" }
                @for id in rules {
                    section id={ "rule-" (encode(id)) } {
                        @if let Some(doc) = self.rules.get(id) {
                            h3 { (severity_badge(doc.severity)) " " (shown(&doc.title)) " " code class="muted" { (shown(id)) } }
                            p { (shown(&doc.description)) }
                            @if let Some(why) = &doc.why { p { b { "Why it matters: " } (shown(why)) } }
                            @if !doc.false_positives.is_empty() {
                                p { b { "Known false positives:" } }
                                ul { @for fp in &doc.false_positives { li { (shown(fp)) } } }
                            }
                            @if !doc.next_steps.is_empty() {
                                p { b { "Next steps:" } }
                                ul { @for s in &doc.next_steps { li { (shown(s)) } } }
                            }
                        } @else {
                            h3 { code { (shown(id)) } }
                            p class="muted" { "A rule the monitor no longer runs." }
                        }
                    }
                }
            }
        };
        Ok(layout("Alerts", "/alerts", now_ms, body))
    }

    /// `/compliance`: per framework, the controls the built-in checks cover and the open
    /// findings that break each.
    pub fn compliance(&self, store: &dyn HistoryStore, now_ms: i64) -> Result<String> {
        let mut open: BTreeMap<String, usize> = BTreeMap::new();
        store.open_findings(&mut |f| {
            *open.entry(f.check_id).or_default() += 1;
            Ok(())
        })?;
        let mut compliance = kubevigil_report::compliance::Compliance::default();
        let mut checks: Vec<&&RuleMeta> = self.checks.values().collect();
        checks.sort_by_key(|m| m.id);
        for meta in checks {
            for r in meta.references {
                compliance.covers(meta.id, r);
                for _ in 0..open.get(meta.id).copied().unwrap_or(0) {
                    compliance.found(meta.id, r.framework, r.id, Some(r.url));
                }
            }
        }
        let body = html! {
            h1 { "Compliance" }
            p class="muted" {
                "The controls of each framework that kubevigil's checks cover, and the open findings that break them. "
                "A control without findings is not proven met: nothing kubevigil checks breaks it."
            }
            @for (framework, controls) in &compliance.frameworks {
                @let failing = controls.values().filter(|c| c.findings > 0).count();
                h2 { (framework) }
                p { (controls.len()) " controls checked, " (failing) " with open findings, " (controls.len() - failing) " without" }
                div class="scroll" {
                    table class="controls" {
                        thead { tr { th { "Control" } th class="n" { "Open findings" } th { "Checks" } } }
                        tbody {
                            @for (id, c) in controls {
                                tr {
                                    td {
                                        @match kubevigil_report::compliance::link(c.url) {
                                            Some(u) => a href=(u) rel="noreferrer" { (id) },
                                            None => (id),
                                        }
                                    }
                                    td class="n" { @if c.findings == 0 { span class="muted" { "none" } } @else { (c.findings) } }
                                    td {
                                        @for (i, check) in c.checks.iter().enumerate() {
                                            @if i > 0 { ", " }
                                            a href={ "/findings?check=" (encode(check)) } { (check) }
                                        }
                                    }
                                }
                            }
                        }
                    }
                }
            }
        };
        Ok(layout("Compliance", "/compliance", now_ms, body))
    }

    fn alert_table<'a>(&self, alerts: impl Iterator<Item = &'a AlertRecord>) -> Markup {
        let alerts: Vec<&AlertRecord> = alerts.collect();
        html! {
            @if alerts.is_empty() {
                p class="muted" { "No alert." }
            } @else {
                div class="scroll" {
                    table id="alert-list" {
                        thead { tr {
                            th { "Last seen" } th { "Severity" } th { "Rule" } th { "Actor or group" } th { "Action" }
                            th class="hide-narrow" { "Namespace" } th class="n" { "Count" } th class="hide-narrow" { "First seen" }
                        } }
                        tbody {
                            @for a in alerts {
                                tr {
                                    td class="t" { (time_cell(a.last_seen)) }
                                    td { (severity_badge(a.severity)) }
                                    td { a href={ "/alerts#rule-" (encode(&a.rule)) } { (shown(&a.title)) } }
                                    td { (shown(&a.subject)) }
                                    td { code { (shown(&a.action)) } }
                                    td class="hide-narrow" { (shown(a.namespace.as_deref().unwrap_or(""))) }
                                    td class="n" { (a.count) }
                                    td class="t hide-narrow" { (time_cell(a.first_seen)) }
                                }
                            }
                        }
                    }
                }
            }
        }
    }
}

/// Namespaces by the level they enforce, and how many could enforce a stricter one today.
fn pss_summary(objects: Option<&kubevigil_model::Store>) -> Markup {
    let Some(store) = objects else {
        return html! { p class="muted" { "No cluster objects yet." } };
    };
    let (rows, _) = live::pss_rows(store);
    let levels = [
        kubevigil_pss::Level::Restricted,
        kubevigil_pss::Level::Baseline,
        kubevigil_pss::Level::Privileged,
    ];
    let stricter = rows
        .iter()
        .filter(|r| r.strictest.is_some_and(|l| l > r.enforce.level))
        .count();
    html! {
        div class="cards" id="pss-summary" {
            @for level in levels {
                a class="card" href="/pod-security" {
                    b { (rows.iter().filter(|r| r.enforce.level == level).count()) }
                    "enforce " (level.as_str())
                }
            }
        }
        p { a href="/pod-security" { (stricter) " namespaces" } " could enforce a stricter level than they do: all their workloads meet it." }
    }
}

/// Open findings per severity at regular times over the retained history.
struct Trend {
    start_ms: i64,
    end_ms: i64,
    /// Per severity (most severe first), the open count at each point.
    series: Vec<(Severity, Vec<i64>)>,
}

impl Trend {
    /// From the history's transitions: the count at a time is today's minus what opened
    /// since, plus what resolved since (the history before the retention window is pruned,
    /// so counting up from zero would be wrong).
    fn read(
        store: &dyn HistoryStore,
        open_now: &BTreeMap<Severity, usize>,
        now_ms: i64,
    ) -> Result<Trend> {
        let mut changes: Vec<(i64, Severity, i64)> = Vec::new();
        store.transitions(&mut |time, severity, transition| {
            let delta = match transition {
                Transition::New | Transition::Reopened => 1,
                Transition::Resolved => -1,
            };
            changes.push((time, severity, delta));
        })?;
        changes.sort_by_key(|c| c.0);
        let first = changes.first().map_or(now_ms, |c| c.0);
        let start_ms = first.min(now_ms - DAY_MS);
        let span = (now_ms - start_ms).max(1);
        let mut series: Vec<(Severity, Vec<i64>)> = Severity::ALL
            .iter()
            .map(|&s| (s, vec![0; TREND_POINTS as usize + 1]))
            .collect();
        // Walking back from now: the count at point i undoes the changes made after it.
        let mut open: HashMap<Severity, i64> = Severity::ALL
            .iter()
            .map(|&s| (s, open_now.get(&s).copied().unwrap_or(0) as i64))
            .collect();
        let mut next = changes.len();
        for i in (0..=TREND_POINTS).rev() {
            let at = start_ms + span * i / TREND_POINTS;
            while next > 0 && changes[next - 1].0 > at {
                next -= 1;
                let (_, s, delta) = changes[next];
                *open.entry(s).or_default() -= delta;
            }
            for (s, points) in &mut series {
                points[i as usize] = open[s].max(0);
            }
        }
        Ok(Trend {
            start_ms,
            end_ms: now_ms,
            series,
        })
    }

    fn svg(&self) -> Markup {
        const W: i64 = 900;
        const H: i64 = 220;
        const LEFT: i64 = 48;
        const BOTTOM: i64 = 26;
        const TOP: i64 = 12;
        let max = self
            .series
            .iter()
            .flat_map(|(_, p)| p.iter().copied())
            .max()
            .unwrap_or(0)
            .max(1);
        let x = |i: usize| LEFT + (W - LEFT - 10) * i as i64 / TREND_POINTS;
        let y = |v: i64| TOP + (H - TOP - BOTTOM) * (max - v) / max;
        let points = |p: &[i64]| {
            let mut s = String::new();
            for (i, v) in p.iter().enumerate() {
                let _ = write!(s, "{},{} ", x(i), y(*v));
            }
            s
        };
        html! {
            svg class="chart" id="trend" viewBox={ "0 0 " (W) " " (H) } role="img" xmlns="http://www.w3.org/2000/svg" {
                title { "Open findings by severity, " (when(self.start_ms)) " to " (when(self.end_ms)) }
                @for v in [0, max / 2, max] {
                    // `{}`, not `;`: in HTML an SVG element is not void, and an unclosed one
                    // would hold everything after it.
                    line class="grid" x1=(LEFT) x2=(W - 10) y1=(y(v)) y2=(y(v)) {}
                    text x=(LEFT - 6) y=(y(v) + 4) text-anchor="end" { (v) }
                }
                text x=(LEFT) y=(H - 8) { (when(self.start_ms)) }
                text x=(W - 10) y=(H - 8) text-anchor="end" { (when(self.end_ms)) }
                @for (s, p) in &self.series {
                    polyline class={ "s-" (s.as_str()) } points=(points(p)) {
                        title { (s.as_str()) }
                    }
                }
            }
            ul class="legend" {
                @for (s, p) in &self.series {
                    li { (severity_badge(*s)) " " (p.last().copied().unwrap_or(0)) " open now" }
                }
            }
        }
    }
}

/// `annotation: reason`, `exemption: reason`.
fn suppressed_by(by: &kubevigil_checks::SuppressedBy) -> String {
    match by {
        kubevigil_checks::SuppressedBy::Annotation { reason } => with_reason("annotation", reason),
        kubevigil_checks::SuppressedBy::Exemption { reason } => with_reason("exemption", reason),
        kubevigil_checks::SuppressedBy::Baseline => "baseline".to_string(),
    }
}

fn with_reason(by: &str, reason: &str) -> String {
    if reason.is_empty() {
        by.to_string()
    } else {
        format!("{by}: {reason}")
    }
}

/// A page that says why there is nothing to show, with a way on.
fn notice(title: &str, text: &str, link: (&str, &str), now_ms: i64) -> String {
    let body = html! {
        h1 { (title) }
        p { (shown(text)) }
        p { a href=(link.0) { (link.1) } }
    };
    layout(title, "", now_ms, body)
}

/// The page for a path the dashboard does not serve, or a finding it does not have.
pub fn not_found(what: &str, now_ms: i64) -> String {
    notice("Not found", what, ("/", "Overview"), now_ms)
}

/// The page for a query the dashboard cannot answer (an unknown severity, say).
pub fn bad_request(why: &str, now_ms: i64) -> String {
    notice(
        "Bad request",
        why,
        ("/findings", "All open findings"),
        now_ms,
    )
}
