//! The catalogue of everything `kubevigil scan` can report: the built-in checks of this crate
//! and the findings of the engines (Pod Security Standards, NetworkPolicy, audit policy lint). `checks list`,
//! `checks explain`, configuration validation and report rule lists all read from it.

use kubevigil_model::{DiagLevel, Diagnostic, Finding, Inventory, Reference, Severity};

use crate::{Category, Config, registry};

/// One entry of the catalogue.
#[derive(Debug, Clone)]
pub struct CatalogEntry {
    pub id: &'static str,
    pub title: &'static str,
    pub severity: Severity,
    pub category: Category,
    pub doc: &'static str,
    pub remediation: &'static str,
    pub references: Vec<Reference>,
}

/// Built-in checks first, then Pod Security, then NetworkPolicy findings.
pub fn catalog() -> Vec<CatalogEntry> {
    let mut out: Vec<CatalogEntry> = registry()
        .iter()
        .map(|c| {
            let m = c.meta();
            CatalogEntry {
                id: m.id,
                title: m.title,
                severity: m.severity,
                category: m.category,
                doc: m.doc,
                remediation: m.remediation,
                references: m.references.iter().map(|r| r.to_reference()).collect(),
            }
        })
        .collect();
    out.extend(
        kubevigil_pss::scan::FINDING_METAS
            .iter()
            .map(|m| CatalogEntry {
                id: m.id,
                title: m.title,
                severity: m.severity,
                category: Category::PodSecurity,
                doc: m.doc,
                remediation: m.remediation(),
                references: vec![Reference {
                    framework: "Kubernetes Pod Security Standards".into(),
                    id: m.check.into(),
                    url: Some(
                        "https://kubernetes.io/docs/concepts/security/pod-security-standards/"
                            .into(),
                    ),
                }],
            }),
    );
    out.extend(kubevigil_netpol::findings::kinds().map(|k| CatalogEntry {
        id: k.id,
        title: k.title,
        severity: k.severity,
        category: Category::Network,
        doc: k.doc,
        remediation: k.remediation,
        references: k.references.iter().map(|r| r.to_reference()).collect(),
    }));
    out.extend(kubevigil_audit::lint::RULES.iter().map(|r| {
        CatalogEntry {
            id: r.id,
            title: r.title,
            severity: r.severity,
            category: Category::Audit,
            doc: r.doc,
            remediation: r.remediation,
            references: r
                .references
                .iter()
                .map(|(framework, id, url)| Reference {
                    framework: framework.to_string(),
                    id: id.to_string(),
                    url: (!url.is_empty()).then(|| url.to_string()),
                })
                .collect(),
        }
    }));
    out
}

pub fn find_entry(id: &str) -> Option<CatalogEntry> {
    catalog().into_iter().find(|e| e.id == id)
}

/// Findings of the engines, for the enabled entries only, and the diagnostics of objects an
/// engine could not read (an audit Policy that does not validate, say).
pub fn engine_findings(inventory: &Inventory, config: &Config) -> (Vec<Finding>, Vec<Diagnostic>) {
    let lv = config.pod_security;
    let (pss, undecodable) =
        kubevigil_pss::scan::scan_findings_and_errors(inventory, lv.level, lv.version);
    let mut out: Vec<Finding> = pss
        .into_iter()
        .filter(|f| config.is_enabled(&f.check_id))
        .collect();
    // A template the API server could not decode is an input error: say so, with its location.
    let mut diagnostics: Vec<Diagnostic> = undecodable
        .iter()
        .map(|d| {
            let pos = d.object.pos_of(&d.path);
            Diagnostic {
                level: DiagLevel::Error,
                file: d.object.source.file.to_string(),
                line: pos.line,
                col: pos.col,
                message: format!(
                    "{}: {} (the API server would reject it; Pod Security not evaluated)",
                    d.object.display_name(),
                    d.error
                ),
            }
        })
        .collect();
    let wanted: Vec<&str> = kubevigil_netpol::findings::kinds()
        .map(|k| k.id)
        .filter(|id| config.is_enabled(id))
        .collect();
    out.extend(kubevigil_netpol::findings::findings_of(
        inventory,
        Some(&wanted),
    ));
    let (audit, audit_diagnostics) = kubevigil_audit::lint::findings(inventory);
    out.extend(audit.into_iter().filter(|f| config.is_enabled(&f.check_id)));
    diagnostics.extend(audit_diagnostics);
    (out, diagnostics)
}
