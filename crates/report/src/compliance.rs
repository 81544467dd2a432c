//! Findings by compliance framework (CIS Kubernetes Benchmark, NSA/CISA hardening guide, MITRE
//! ATT&CK): per framework, each control the checks cover, which checks, and how many findings
//! break it. The HTML report and the monitor's dashboard show it.

use std::collections::{BTreeMap, BTreeSet};

/// One control of a framework.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct Control<'a> {
    /// Where the control is described, when known.
    pub url: Option<&'a str>,
    /// The checks that cover it.
    pub checks: BTreeSet<&'a str>,
    /// Findings that break it (0: nothing found breaks it).
    pub findings: usize,
}

/// Controls by framework and id, in order.
#[derive(Debug, Default)]
pub struct Compliance<'a> {
    pub frameworks: BTreeMap<&'a str, BTreeMap<&'a str, Control<'a>>>,
}

impl<'a> Compliance<'a> {
    fn control(
        &mut self,
        check: &'a str,
        framework: &'a str,
        id: &'a str,
        url: Option<&'a str>,
    ) -> &mut Control<'a> {
        let c = self
            .frameworks
            .entry(framework)
            .or_default()
            .entry(id)
            .or_default();
        c.url = c.url.or(url.filter(|u| !u.is_empty()));
        c.checks.insert(check);
        c
    }

    /// `check` covers the control `id` of `framework` (one of the check's references).
    pub fn covers(&mut self, check: &'a str, r: &'a kubevigil_model::Ref) {
        self.control(check, r.framework, r.id, Some(r.url));
    }

    /// A finding of `check` breaks the control `id` of `framework`.
    pub fn found(&mut self, check: &'a str, framework: &'a str, id: &'a str, url: Option<&'a str>) {
        self.control(check, framework, id, url).findings += 1;
    }
}

/// A control's URL when it may be a link: `https://` only (the rest is shown as text).
pub fn link(url: Option<&str>) -> Option<&str> {
    url.filter(|u| u.starts_with("https://"))
}
