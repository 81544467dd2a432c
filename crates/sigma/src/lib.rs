//! kubevigil-sigma: a Sigma rule engine with correlations, generic over JSON events.
//!
//! Rules follow the SigmaHQ specification (rules v2, correlation rules v2, modifiers appendix
//! v2.1). Rules are compiled once: field paths are interned and resolved at compile time,
//! rules are indexed by the exact values their conditions require on dispatch fields (for
//! Kubernetes audit: `objectRef.resource`, then `verb`), long string alternative lists run
//! through one Aho-Corasick automaton, and events are scanned once with only the needed
//! fields extracted. The crate does no I/O.
//!
//! ```
//! use kubevigil_sigma::{Engine, Options, RuleSet, Source};
//! let rule = "title: exec\nid: 1\nlogsource: {product: kubernetes, service: audit}\n\
//!             detection:\n  sel: {verb: create, objectRef.subresource: exec}\n  condition: sel\n";
//! let (set, diags) = RuleSet::compile(&[Source { name: "r.yml", text: rule }], &kubevigil_detect::audit::sigma_options());
//! assert!(diags.is_empty());
//! let mut engine: Engine<()> = Engine::new(std::sync::Arc::new(set));
//! let mut alerts = Vec::new();
//! engine.process_json(br#"{"verb":"create","objectRef":{"resource":"pods","subresource":"exec"}}"#, &mut || (), &mut alerts).unwrap();
//! assert_eq!(alerts.len(), 1);
//! ```

pub mod condition;
pub mod correlation;
pub mod engine;
pub mod event;
pub mod pattern;
pub mod rule;
pub mod time;
pub mod yaml;

pub use correlation::CorrStats;
pub use engine::{
    Alert, Engine, EngineStats, Matcher, Matches, Options, RuleInfo, RuleSet, SensitiveFn, Source,
};
pub use event::{FieldTable, JsonError, Projection, Val};
/// Rule loading problems are the project's diagnostics (`file:line:col: level: message`).
pub use kubevigil_model::{DiagLevel, Diagnostic};
pub use rule::{Level, RuleMeta};

/// The built-in rule packs, embedded at build time: Kubernetes audit logs from `rules/`, pod
/// logs from `rules/pod-logs/`, Kubernetes Events from `rules/k8s-events/`, Falco alerts from
/// `rules/falco/`, Hubble flows from `rules/hubble/`.
pub mod pack {
    include!(concat!(env!("OUT_DIR"), "/pack.rs"));

    /// The audit pack as compile sources.
    pub fn sources() -> Vec<crate::Source<'static>> {
        as_sources(PACK)
    }

    /// The pod log pack as compile sources.
    pub fn pod_logs_sources() -> Vec<crate::Source<'static>> {
        as_sources(POD_LOGS_PACK)
    }

    /// The Kubernetes Events pack as compile sources.
    pub fn k8s_events_sources() -> Vec<crate::Source<'static>> {
        as_sources(K8S_EVENTS_PACK)
    }

    /// The Falco pack as compile sources.
    pub fn falco_sources() -> Vec<crate::Source<'static>> {
        as_sources(FALCO_PACK)
    }

    /// The Hubble pack as compile sources.
    pub fn hubble_sources() -> Vec<crate::Source<'static>> {
        as_sources(HUBBLE_PACK)
    }

    /// The resource abuse pack as compile sources.
    pub fn resources_sources() -> Vec<crate::Source<'static>> {
        as_sources(RESOURCES_PACK)
    }

    fn as_sources(pack: &'static [(&'static str, &'static str)]) -> Vec<crate::Source<'static>> {
        pack.iter()
            .map(|(name, text)| crate::Source { name, text })
            .collect()
    }
}
