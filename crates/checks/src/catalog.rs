//! The catalogue of everything `kubevigil scan` can report: the built-in checks of this crate
//! and the findings of the engines (Pod Security Standards, NetworkPolicy, audit policy lint). `checks list`,
//! `checks explain`, configuration validation and report rule lists all read from it.

use kubevigil_model::{Diagnostic, Finding, Inventory};
use kubevigil_rule::RuleMeta;

use crate::{Config, registry};

/// Every rule `kubevigil scan` can report: built-in checks first, then Pod Security, then
/// NetworkPolicy findings, then audit-policy lint rules.
pub fn catalog() -> Vec<&'static RuleMeta> {
    registry()
        .iter()
        .map(|c| c.meta())
        .chain(kubevigil_pss::scan::rules())
        .chain(kubevigil_netpol::findings::kinds())
        .chain(kubevigil_audit::lint::rules())
        .collect()
}

/// Looks a rule of the catalogue up by id.
pub fn find_rule(id: &str) -> Option<&'static RuleMeta> {
    catalog().into_iter().find(|r| r.id == id)
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
    let mut diagnostics: Vec<Diagnostic> = undecodable.iter().map(|d| d.diagnostic()).collect();
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
