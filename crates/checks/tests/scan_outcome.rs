//! `run_scan` configuration semantics (README "Configuration" and "Suppressing findings"):
//! enabled checks, severity overrides, exemptions, the `kubevigil.io/ignore` annotation and
//! `strict`, baselines, de-duplication and ordering; and the parallel path of `run_checks`
//! giving the same findings as the sequential one (cargo-mutants survivors, issue 11).

use std::collections::HashSet;

use kubevigil_checks::{Config, SuppressedBy, find_check, registry, run_checks, run_scan};
use kubevigil_model::load::load_text_into;
use kubevigil_model::{Finding, LoadOptions, Loaded, Severity};
use serde_json::json;

const CHECK: &str = "service-external-ips";

fn service(ns: &str, name: &str, annotations: &str) -> String {
    format!(
        "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: {name}\n  namespace: {ns}\n  annotations: {{{annotations}}}\nspec:\n  selector: {{app: web}}\n  ports:\n  - port: 80\n  externalIPs:\n  - 203.0.113.10\n"
    )
}

fn load(text: &str) -> Loaded {
    let mut loaded = Loaded::default();
    load_text_into("s.yaml", text, &LoadOptions::default(), &mut loaded);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded
}

fn config(value: serde_json::Value) -> Config {
    let ids: Vec<&str> = registry().iter().map(|c| c.meta().id).collect();
    Config::from_value(value, &ids).unwrap()
}

fn names(findings: &[Finding]) -> Vec<String> {
    findings.iter().map(|f| f.object.name.clone()).collect()
}

#[test]
fn severity_override_replaces_the_check_severity() {
    let check = find_check(CHECK).unwrap();
    assert_eq!(check.meta().severity, Severity::High);
    let loaded = load(&service("a", "s", ""));
    let out = run_scan(
        &loaded.inventory,
        &Config::default(),
        &[check],
        vec![],
        None,
    );
    assert_eq!(out.findings[0].severity, Severity::High);
    let cfg = config(json!({"severity": {"service-external-ips": "low"}}));
    let out = run_scan(&loaded.inventory, &cfg, &[check], vec![], None);
    assert_eq!(out.findings.len(), 1);
    assert_eq!(out.findings[0].severity, Severity::Low);
    // Overrides apply to findings passed in from other engines too.
    let extra = out.findings.clone();
    let out = run_scan(&loaded.inventory, &cfg, &[], extra, None);
    assert_eq!(out.findings[0].severity, Severity::Low);
}

#[test]
fn ignore_annotation_suppresses_listed_checks_with_the_reason() {
    let check = find_check(CHECK).unwrap();
    let text = [
        service(
            "a",
            "listed",
            "kubevigil.io/ignore: \"other-check, service-external-ips\", kubevigil.io/ignore-reason: lab network",
        ),
        service("a", "star", "kubevigil.io/ignore: \"*\""),
        service("a", "other", "kubevigil.io/ignore: service-nodeport"),
        service("a", "prefix", "kubevigil.io/ignore: service-external"),
        service("a", "plain", ""),
    ]
    .concat();
    let loaded = load(&text);
    let out = run_scan(
        &loaded.inventory,
        &Config::default(),
        &[check],
        vec![],
        None,
    );
    assert_eq!(names(&out.findings), ["other", "prefix", "plain"]);
    let by: Vec<(String, SuppressedBy)> = out
        .suppressed
        .iter()
        .map(|s| (s.finding.object.name.clone(), s.by.clone()))
        .collect();
    assert_eq!(
        by,
        [
            (
                "listed".to_string(),
                SuppressedBy::Annotation {
                    reason: "lab network".into()
                }
            ),
            (
                "star".to_string(),
                SuppressedBy::Annotation {
                    reason: String::new()
                }
            ),
        ]
    );
    // `strict` checks ignore the annotation; exemptions still apply to them.
    let cfg = config(json!({"strict": ["service-external-ips"]}));
    let out = run_scan(&loaded.inventory, &cfg, &[check], vec![], None);
    assert_eq!(out.findings.len(), 5);
    assert!(out.suppressed.is_empty());
    let cfg = config(json!({"strict": ["*"], "exemptions": [
        {"checks": ["service-external-ips"], "names": ["st*"], "reason": "approved"}]}));
    let out = run_scan(&loaded.inventory, &cfg, &[check], vec![], None);
    assert_eq!(names(&out.findings), ["listed", "other", "prefix", "plain"]);
    assert_eq!(
        out.suppressed[0].by,
        SuppressedBy::Exemption {
            reason: "approved".into()
        }
    );
}

#[test]
fn baseline_suppresses_known_fingerprints_only() {
    let check = find_check(CHECK).unwrap();
    let loaded = load(&[service("a", "old", ""), service("a", "new", "")].concat());
    let out = run_scan(
        &loaded.inventory,
        &Config::default(),
        &[check],
        vec![],
        None,
    );
    assert_eq!(out.findings.len(), 2);
    let old: HashSet<String> = out
        .findings
        .iter()
        .filter(|f| f.object.name == "old")
        .map(|f| f.fingerprint.clone())
        .collect();
    let out = run_scan(
        &loaded.inventory,
        &Config::default(),
        &[check],
        vec![],
        Some(&old),
    );
    assert_eq!(names(&out.findings), ["new"]);
    assert_eq!(out.suppressed.len(), 1);
    assert_eq!(out.suppressed[0].by, SuppressedBy::Baseline);
    assert_eq!(out.suppressed[0].finding.object.name, "old");
}

#[test]
fn disabled_checks_drop_extra_findings_and_duplicates_are_merged() {
    let check = find_check(CHECK).unwrap();
    let loaded = load(&[service("a", "s2", ""), service("a", "s1", "")].concat());
    let found = run_scan(
        &loaded.inventory,
        &Config::default(),
        &[check],
        vec![],
        None,
    )
    .findings;
    // Sorted by file and line: s2 comes first in the file.
    assert_eq!(names(&found), ["s2", "s1"]);
    assert!(found[0].location.line < found[1].location.line);
    // The same findings from another engine and from the check: reported once each.
    let out = run_scan(
        &loaded.inventory,
        &Config::default(),
        &[check],
        found.clone(),
        None,
    );
    assert_eq!(names(&out.findings), ["s2", "s1"]);
    let cfg = config(json!({"checks": {"disable": ["service-external-ips"]}}));
    let out = run_scan(&loaded.inventory, &cfg, &[check], found.clone(), None);
    assert!(out.findings.is_empty() && out.suppressed.is_empty());
    let cfg = config(json!({"checks": {"enable": ["service-nodeport"]}}));
    let out = run_scan(&loaded.inventory, &cfg, &[check], found, None);
    assert!(out.findings.is_empty());
}

/// Past 2,000 objects the checks run on several threads; the findings are the same as when
/// each check runs alone.
#[test]
fn large_inventories_get_every_check_once() {
    let text: String = (0..2100)
        .map(|i| service("big", &format!("s{i:04}"), ""))
        .collect();
    let loaded = load(&text);
    let cfg = Config::default();
    let mut together: Vec<String> = run_checks(&loaded.inventory, &cfg, registry())
        .into_iter()
        .map(|f| f.fingerprint)
        .collect();
    let mut alone: Vec<String> = registry()
        .iter()
        .flat_map(|c| run_checks(&loaded.inventory, &cfg, &[*c]))
        .map(|f| f.fingerprint)
        .collect();
    assert!(alone.len() >= 2100, "{}", alone.len());
    together.sort();
    alone.sort();
    assert_eq!(together, alone);
    // No enabled check (none given, or all disabled): no finding, and no work split among
    // zero threads.
    assert!(run_checks(&loaded.inventory, &cfg, &[]).is_empty());
    let none = config(json!({"checks": {"disable": ["*"]}}));
    assert!(run_checks(&loaded.inventory, &none, registry()).is_empty());
}

/// A baseline written from files applies to the same objects read from a cluster (or an
/// admission request): fingerprints do not depend on the origin, and annotations still
/// suppress findings on objects without a file.
#[test]
fn a_baseline_written_from_files_applies_to_cluster_objects() {
    use kubevigil_checks::baseline;
    use kubevigil_model::{Inventory, Object};

    let check = find_check(CHECK).unwrap();
    let text = format!(
        "{}{}",
        service("a", "s1", ""),
        service("a", "s2", "kubevigil.io/ignore: service-external-ips")
    );
    let files = load(&text);
    let from_files = run_scan(&files.inventory, &Config::default(), &[check], vec![], None);
    assert_eq!(names(&from_files.findings), ["s1"]);
    let (written, n) = baseline::render(&from_files.findings);
    assert_eq!(n, 1);
    let known = baseline::parse(&written).unwrap();

    let cluster = Inventory {
        objects: files
            .inventory
            .objects
            .iter()
            .map(|o| Object::from_cluster(o.value.clone(), "prod").unwrap())
            .collect(),
    };
    let without = run_scan(&cluster, &Config::default(), &[check], vec![], None);
    assert_eq!(names(&without.findings), ["s1"]);
    assert_eq!(without.findings[0].location.file_pos(), None);
    assert_eq!(
        without.findings[0].fingerprint,
        from_files.findings[0].fingerprint
    );
    assert_eq!(without.suppressed.len(), 1, "the annotation applies");
    let with = run_scan(&cluster, &Config::default(), &[check], vec![], Some(&known));
    assert!(with.findings.is_empty(), "{:?}", with.findings);
}

/// An empty input: no finding, and no work split into zero-sized chunks (`chunks(0)` panics).
#[test]
fn an_empty_inventory_gives_no_finding() {
    let empty = kubevigil_model::Inventory::default();
    assert!(run_checks(&empty, &Config::default(), registry()).is_empty());
    let outcome = kubevigil_checks::scan(&empty, &Config::default(), None);
    assert!(outcome.findings.is_empty() && outcome.diagnostics.is_empty());
}

/// `scan` = built-in checks + engines, then `run_scan`: a Deployment that breaks a built-in check
/// and Pod Security, an undecodable template (a diagnostic), and a suppression by annotation.
#[test]
fn scan_runs_the_checks_and_the_engines_together() {
    let text = "
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: shop}
spec:
  template:
    spec:
      containers:
      - {name: c, image: 'nginx:latest', securityContext: {privileged: true}}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: odd, namespace: shop}
spec:
  template:
    spec:
      securityContext: {runAsUser: root}
      containers:
      - {name: c, image: 'nginx:1.27'}
";
    let text = format!(
        "{text}{}",
        service("shop", "ext", "kubevigil.io/ignore: service-external-ips")
    );
    let loaded = load(&text);
    let outcome = kubevigil_checks::scan(&loaded.inventory, &Config::default(), None);
    let ids: HashSet<(&str, &str)> = outcome
        .findings
        .iter()
        .map(|f| (f.check_id.as_ref(), f.object.name.as_str()))
        .collect();
    assert!(ids.contains(&("image-tag-latest", "web")), "{ids:?}");
    assert!(ids.contains(&("pss-privileged", "web")), "{ids:?}");
    assert!(
        ids.iter().any(|(id, _)| id.starts_with("netpol-")),
        "{ids:?}"
    );
    assert!(!ids.contains(&(CHECK, "ext")));
    assert_eq!(outcome.suppressed.len(), 1);
    assert_eq!(outcome.suppressed[0].finding.check_id, CHECK);
    assert_eq!(outcome.diagnostics.len(), 1, "{:?}", outcome.diagnostics);
    assert!(outcome.diagnostics[0].message.contains("odd"));
}

#[test]
fn ignore_annotation_accepts_globs() {
    let check = find_check(CHECK).unwrap();
    let text = [
        service("a", "glob", "kubevigil.io/ignore: \"pss-*, service-*\""),
        service(
            "a",
            "qmark",
            "kubevigil.io/ignore: \"service-external-ip?\"",
        ),
        service("a", "other", "kubevigil.io/ignore: \"service-node*\""),
    ]
    .concat();
    let loaded = load(&text);
    let out = run_scan(
        &loaded.inventory,
        &Config::default(),
        &[check],
        vec![],
        None,
    );
    assert_eq!(names(&out.findings), ["other"]);
    let suppressed: Vec<&str> = out
        .suppressed
        .iter()
        .map(|s| s.finding.object.name.as_str())
        .collect();
    assert_eq!(suppressed, ["glob", "qmark"]);
}

/// Every id a user can write is an id of the catalogue, which is the evaluator's set of checks.
#[test]
fn known_ids_are_the_evaluator_checks() {
    let mut catalog: Vec<&str> = kubevigil_checks::catalog().iter().map(|r| r.id).collect();
    let mut evaluator: Vec<&str> = kubevigil_checks::evaluator_checks()
        .iter()
        .map(|c| c.meta().id)
        .collect();
    catalog.sort_unstable();
    evaluator.sort_unstable();
    assert_eq!(catalog, evaluator);
}

#[test]
fn ignore_annotation_entries_that_name_no_check_are_warnings_at_the_annotation() {
    let text = [
        service(
            "shop",
            "typo",
            "kubevigil.io/ignore: \"image-tag-latst, pss-*, netpol-nope-*, *\"",
        ),
        service(
            "shop",
            "fine",
            "kubevigil.io/ignore: \"service-external-ips,audit-policy-*\"",
        ),
    ]
    .concat();
    let loaded = load(&text);
    let out = kubevigil_checks::scan(&loaded.inventory, &Config::default(), None);
    let warnings: Vec<String> = out
        .diagnostics
        .iter()
        .filter(|d| d.level == kubevigil_model::DiagLevel::Warning)
        .map(ToString::to_string)
        .collect();
    assert_eq!(
        warnings,
        [
            "s.yaml:7:17: warning: Service shop/typo: annotation kubevigil.io/ignore: unknown check id \"image-tag-latst\"; did you mean `image-tag-latest`? (see `kubevigil checks list`)",
            "s.yaml:7:17: warning: Service shop/typo: annotation kubevigil.io/ignore: glob \"netpol-nope-*\" matches no check id (see `kubevigil checks list`)",
        ]
    );
}
