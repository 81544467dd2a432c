//! Which rules run: the built-in pack (`rules/`, embedded in kubevigil-sigma) and rule files
//! or directories, loaded together (so a user correlation may refer to a pack rule), minus
//! disabled ones.

use std::path::{Path, PathBuf};

use kubevigil_checks::config::DetectConfig;
use kubevigil_checks::ids;
use kubevigil_model::{DiagLevel, Diagnostic, Severity};
use kubevigil_sigma::yaml::Node;
use kubevigil_sigma::{RuleMeta, RuleSet, Source};

use crate::dedup::DedupSpec;
use crate::tuning::Tuning;

#[derive(Debug, thiserror::Error)]
#[error("cannot read rules from {}", path.display())]
pub struct RulesError {
    /// The rule file or directory as given.
    pub path: PathBuf,
    #[source]
    pub source: std::io::Error,
}

/// The text of every rule file below some roots, in a stable order.
#[derive(Debug, Default)]
pub struct RuleFiles {
    /// (name as shown in diagnostics, text)
    files: Vec<(String, String)>,
    events: Events,
}

/// The events rules run on: each has its built-in pack and its Sigma `logsource`; a rule
/// file for the other is left out.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum Events {
    /// Kubernetes audit events (`product: kubernetes, service: audit`), `rules/`.
    #[default]
    Audit,
    /// Pod log lines (`product: kubernetes, service: pod-logs`), `rules/pod-logs/`.
    PodLogs,
    /// Kubernetes Events (`product: kubernetes, service: events`), `rules/k8s-events/`.
    K8sEvents,
    /// Falco alerts (`product: kubernetes, service: falco`), `rules/falco/`.
    Falco,
    /// Hubble flows (`product: kubernetes, service: hubble`), `rules/hubble/`.
    Hubble,
    /// Resource abuse (`product: kubernetes, service: resources`), `rules/resources/`.
    Resources,
}

impl Events {
    fn pack(self) -> Vec<Source<'static>> {
        match self {
            Events::Audit => kubevigil_sigma::pack::sources(),
            Events::PodLogs => kubevigil_sigma::pack::pod_logs_sources(),
            Events::K8sEvents => kubevigil_sigma::pack::k8s_events_sources(),
            Events::Falco => kubevigil_sigma::pack::falco_sources(),
            Events::Hubble => kubevigil_sigma::pack::hubble_sources(),
            Events::Resources => kubevigil_sigma::pack::resources_sources(),
        }
    }

    fn sigma_options(self) -> kubevigil_sigma::Options {
        match self {
            Events::Audit => crate::audit::sigma_options(),
            Events::PodLogs => crate::pod_logs::sigma_options(),
            Events::K8sEvents => crate::k8s_events::sigma_options(),
            Events::Falco => crate::falco::sigma_options(),
            Events::Hubble => crate::hubble::sigma_options(),
            Events::Resources => crate::resources::sigma_options(),
        }
    }

    /// The other kinds (their rule names are valid in a shared configuration).
    fn others(self) -> impl Iterator<Item = Events> {
        [
            Events::Audit,
            Events::PodLogs,
            Events::K8sEvents,
            Events::Falco,
            Events::Hubble,
            Events::Resources,
        ]
        .into_iter()
        .filter(move |e| *e != self)
    }
}

impl RuleFiles {
    /// Reads each root: a file, or a directory walked recursively for `*.yml`/`*.yaml` in
    /// name order, skipping folders named `tests` (SigmaHQ keeps test data there).
    pub fn read(roots: &[PathBuf]) -> Result<RuleFiles, RulesError> {
        let mut files = Vec::new();
        for root in roots {
            collect(root, &mut files).map_err(|source| RulesError {
                path: root.clone(),
                source,
            })?;
        }
        Ok(RuleFiles {
            files,
            events: Events::Audit,
        })
    }

    /// These files, for `events` (default: audit events).
    pub fn for_events(mut self, events: Events) -> RuleFiles {
        self.events = events;
        self
    }

    /// Compiles these files, after the built-in pack unless `builtin` is false, with the
    /// Kubernetes audit field mapping. A rule with a problem is skipped and reported; a rule
    /// named (id, name, slug or glob: [`names`]) in `disabled` is left out (noted).
    pub fn compile(&self, builtin: bool, disabled: &[String]) -> LoadedRules {
        self.compile_ids(builtin, &self.resolve(builtin, disabled), &[])
    }

    /// Loads the rules and the tuning of `config` (`detect` of the configuration file), plus
    /// the rules disabled on the command line (`--disable`). Every rule id, name or glob there
    /// must name a rule of the whole pack (disabled ones included): a typo is an error, with the
    /// closest known name.
    ///
    /// `placeholders` replace the defaults of [`crate::audit::sigma_options`] of the same name
    /// (`expand`: cluster networks, indicator lists).
    pub fn load(
        &self,
        builtin: bool,
        cli_disable: &[String],
        config: &DetectConfig,
        placeholders: &[(String, Vec<String>)],
    ) -> Result<LoadedRules, TuningError> {
        let all = self.compile_ids(builtin, &[], placeholders);
        let mut names = all_names(&all.set);
        let named = !cli_disable.is_empty()
            || !config.disable.is_empty()
            || config.exceptions.iter().any(|e| !e.rules.is_empty());
        // The configuration is shared by every kind of events: a name of another built-in pack
        // is known (and does nothing here).
        for events in self.events.others().filter(|_| named) {
            let other = RuleFiles {
                files: Vec::new(),
                events,
            };
            names.extend(all_names(&other.compile_ids(true, &[], &[]).set));
        }
        let known: Vec<&str> = names.iter().map(String::as_str).collect();
        let check = |place: &str, pats: &[String]| -> Result<(), TuningError> {
            for p in pats {
                if let Some(problem) = ids::problem_among("rule id or name", p, &known) {
                    return Err(TuningError::UnknownRule {
                        place: place.to_string(),
                        problem,
                    });
                }
            }
            Ok(())
        };
        check("--disable", cli_disable)?;
        check("detect.disable", &config.disable)?;
        for (i, e) in config.exceptions.iter().enumerate() {
            check(&format!("detect.exceptions[{i}].rules"), &e.rules)?;
        }
        let tuning = Tuning::from_config(config)?;
        let disabled: Vec<String> = cli_disable.iter().chain(&config.disable).cloned().collect();
        let mut loaded = if disabled.is_empty() {
            all
        } else {
            self.compile_ids(builtin, &resolve_in(&all.set, &disabled), placeholders)
        };
        loaded.tuning = tuning;
        Ok(loaded)
    }

    /// The ids of the rules `patterns` name (in a set compiled without disabling).
    fn resolve(&self, builtin: bool, patterns: &[String]) -> Vec<String> {
        if patterns.is_empty() {
            return Vec::new();
        }
        resolve_in(&self.compile_ids(builtin, &[], &[]).set, patterns)
    }

    fn compile_ids(
        &self,
        builtin: bool,
        disabled: &[String],
        placeholders: &[(String, Vec<String>)],
    ) -> LoadedRules {
        let mut sources: Vec<Source> = if builtin {
            self.events.pack()
        } else {
            Vec::new()
        };
        sources.extend(self.files.iter().map(|(n, t)| Source { name: n, text: t }));
        let mut options = self.events.sigma_options();
        options.disabled.extend(disabled.iter().cloned());
        for (name, values) in placeholders {
            match options.placeholders.iter_mut().find(|(n, _)| n == name) {
                Some((_, v)) => v.clone_from(values),
                None => options.placeholders.push((name.clone(), values.clone())),
            }
        }
        let networks = options
            .placeholders
            .iter()
            .find(|(n, _)| n == crate::audit::CLUSTER_NETWORKS)
            .map(|(_, v)| crate::audit::outside(v.iter().map(String::as_str)));
        if let (Some(outside), Some((_, v))) = (
            networks,
            options
                .placeholders
                .iter_mut()
                .find(|(n, _)| n == crate::audit::OUTSIDE_CLUSTER_NETWORKS),
        ) {
            *v = outside;
        }
        let (set, mut diagnostics) = RuleSet::compile(&sources, &options);
        for r in set.rules() {
            diagnostics.extend(RuleDoc::from_meta(&r.meta).1);
        }
        LoadedRules {
            set,
            diagnostics,
            tuning: Tuning::default(),
        }
    }
}

/// The ids (or, for a rule without one, names) of the rules of `set` that `patterns` name.
fn resolve_in(set: &RuleSet, patterns: &[String]) -> Vec<String> {
    set.rules()
        .iter()
        .filter(|r| {
            names(&r.meta)
                .iter()
                .any(|n| patterns.iter().any(|p| ids::matches(p, n)))
        })
        .filter_map(|r| {
            Some(r.meta.id.clone())
                .filter(|id| !id.is_empty())
                .or_else(|| r.meta.name.clone())
        })
        .collect()
}

/// A configuration that names unknown rules, or is otherwise invalid.
#[derive(Debug, thiserror::Error)]
pub enum TuningError {
    #[error("{place}: {problem} (see `kubevigil audit detect --list-rules`)")]
    UnknownRule { place: String, problem: String },
    #[error("invalid configuration: {0}")]
    Invalid(String),
}

/// A compiled rule set, what loading it reported, and the configuration's tuning.
pub struct LoadedRules {
    pub set: RuleSet,
    pub diagnostics: Vec<Diagnostic>,
    pub tuning: Tuning,
}

/// The readable name of a rule: its Sigma `name`, else the slug of its file name
/// (`rules/k8s_pod_exec.yml` is `k8s-pod-exec`).
pub fn display_name(meta: &RuleMeta) -> String {
    meta.name.clone().unwrap_or_else(|| slug(&meta.file))
}

/// A file name's stem, lower case, `_` and spaces as `-`.
pub fn slug(file: &str) -> String {
    let stem = Path::new(file)
        .file_stem()
        .map(|s| s.to_string_lossy().into_owned())
        .unwrap_or_default();
    stem.to_lowercase().replace(['_', ' '], "-")
}

/// Every way a rule can be named where a rule id is accepted (`--disable`, the configuration,
/// exceptions): its id, its Sigma `name` and its file slug.
pub fn names(meta: &RuleMeta) -> Vec<String> {
    let mut out = Vec::with_capacity(3);
    for n in [
        Some(meta.id.clone()),
        meta.name.clone(),
        Some(slug(&meta.file)),
    ]
    .into_iter()
    .flatten()
    {
        if !n.is_empty() && !out.contains(&n) {
            out.push(n);
        }
    }
    out
}

fn all_names(set: &RuleSet) -> Vec<String> {
    let mut all: Vec<String> = set.rules().iter().flat_map(|r| names(&r.meta)).collect();
    all.sort();
    all.dedup();
    all
}

/// What an alert says about its rule, from the rule file: the Sigma fields (`id`, `name`,
/// `title`, `level`, `description`, `falsepositives`, `tags`) and kubevigil's custom attributes
/// (Sigma rules specification, "Custom Fields"):
///
/// ```yaml
/// why: What an attacker gains; why it matters.          # a string
/// next_steps:                                            # a string or a list
///   - Check who ran it and whether a change was planned.
/// dedup: {key: [actor, namespace, object], period: 60m}  # see crate::dedup
/// ```
#[derive(Debug, Clone, PartialEq)]
pub struct RuleDoc {
    pub id: String,
    pub name: String,
    pub title: String,
    pub severity: Severity,
    pub description: String,
    pub why: Option<String>,
    pub false_positives: Vec<String>,
    pub next_steps: Vec<String>,
    pub tags: Vec<String>,
    /// The rule's `dedup` attribute, when it has one.
    pub dedup: Option<DedupSpec>,
}

impl Default for RuleDoc {
    fn default() -> Self {
        RuleDoc {
            id: String::new(),
            name: String::new(),
            title: String::new(),
            severity: Severity::Medium,
            description: String::new(),
            why: None,
            false_positives: Vec::new(),
            next_steps: Vec::new(),
            tags: Vec::new(),
            dedup: None,
        }
    }
}

impl RuleDoc {
    /// The doc of a rule, and the problems of its custom attributes (errors located in the rule
    /// file; the attribute is then ignored).
    pub fn from_meta(meta: &RuleMeta) -> (RuleDoc, Vec<Diagnostic>) {
        let mut diags = Vec::new();
        let mut doc = RuleDoc {
            id: meta.id.clone(),
            name: display_name(meta),
            title: meta.title.clone(),
            severity: meta.severity(),
            description: meta.description.clone(),
            why: None,
            false_positives: meta.falsepositives.clone(),
            next_steps: Vec::new(),
            tags: meta.tags.clone(),
            dedup: None,
        };
        let mut err = |node: &Node, message: String| {
            diags.push(Diagnostic {
                level: DiagLevel::Error,
                file: meta.file.clone(),
                line: u32::try_from(node.line).unwrap_or(u32::MAX),
                col: u32::try_from(node.col).unwrap_or(u32::MAX),
                message: format!("rule `{}`: {message} (attribute ignored)", meta.title),
            })
        };
        for (key, node) in &meta.custom {
            match key.as_str() {
                "why" => match node.scalar_text() {
                    Some(t) => doc.why = Some(t.trim().to_string()),
                    None => err(node, "`why` must be a string".into()),
                },
                "next_steps" => match node.str_list() {
                    Some(l) => {
                        doc.next_steps = l.into_iter().map(|s| s.trim().to_string()).collect()
                    }
                    None => err(
                        node,
                        "`next_steps` must be a string or a list of strings".into(),
                    ),
                },
                "dedup" => match DedupSpec::from_node(node) {
                    Ok(d) => doc.dedup = Some(d),
                    Err((n, m)) => err(n, m),
                },
                _ => {}
            }
        }
        (doc, diags)
    }
}

fn collect(path: &Path, out: &mut Vec<(String, String)>) -> std::io::Result<()> {
    if path.is_file() {
        out.push((path.display().to_string(), std::fs::read_to_string(path)?));
        return Ok(());
    }
    let mut entries: Vec<PathBuf> = std::fs::read_dir(path)?
        .filter_map(Result::ok)
        .map(|e| e.path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            if p.file_name().is_some_and(|n| n != "tests") {
                collect(&p, out)?;
            }
        } else if p.extension().is_some_and(|e| e == "yml" || e == "yaml") {
            out.push((p.display().to_string(), std::fs::read_to_string(&p)?));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: &str = "title: t\nid: mine\nname: my-rule\nlogsource: {product: kubernetes, service: audit}\n\
                        detection:\n  sel: {verb: create}\n  condition: sel\n";

    #[test]
    fn walks_directories_in_order_skipping_tests_folders() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir_all(dir.path().join("b/tests")).unwrap();
        std::fs::write(dir.path().join("b/z.yaml"), RULE.replace("mine", "z")).unwrap();
        std::fs::write(dir.path().join("a.yml"), RULE).unwrap();
        std::fs::write(dir.path().join("b/tests/t.yml"), "not: [a rule").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not a rule").unwrap();
        let files = RuleFiles::read(&[dir.path().to_path_buf()]).unwrap();
        let names: Vec<&str> = files.files.iter().map(|(n, _)| n.as_str()).collect();
        assert_eq!(names.len(), 2);
        assert!(names[0].ends_with("a.yml") && names[1].ends_with("z.yaml"));
        let loaded = files.compile(false, &[]);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        assert_eq!(loaded.set.rules().len(), 2);
    }

    #[test]
    fn a_missing_root_is_an_error_naming_it() {
        let err = RuleFiles::read(&[PathBuf::from("/nonexistent/rules")]).unwrap_err();
        assert_eq!(err.to_string(), "cannot read rules from /nonexistent/rules");
    }

    #[test]
    fn rules_are_named_by_id_name_slug_or_glob_and_typos_are_errors() {
        let files = RuleFiles {
            files: vec![
                ("r.yml".into(), RULE.into()),
                (
                    "dir/other_rule.yml".into(),
                    RULE.replace("mine", "2").replace("my-rule", "x"),
                ),
            ],
            events: Events::Audit,
        };
        let config = DetectConfig::default();
        for name in ["mine", "my-rule", "other-rule", "other-*"] {
            let loaded = files.load(false, &[name.into()], &config, &[]).unwrap();
            assert_eq!(loaded.set.rules().len(), 1, "{name}");
        }
        let err = files
            .load(false, &["my-rul".into()], &config, &[])
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "--disable: unknown rule id or name \"my-rul\"; did you mean `my-rule`? (see `kubevigil audit detect --list-rules`)"
        );
        let config = DetectConfig {
            disable: vec!["nothing-*".into()],
            ..DetectConfig::default()
        };
        let err = files
            .load(false, &[], &config, &[])
            .err()
            .unwrap()
            .to_string();
        assert!(
            err.starts_with("detect.disable: glob \"nothing-*\" matches no rule id or name"),
            "{err}"
        );
    }

    #[test]
    fn custom_attributes_explain_the_rule_and_bad_ones_are_located() {
        let text = format!(
            "{RULE}why: Attackers run code.\nnext_steps:\n- Ask the user.\n- Check the pod.\n"
        );
        let files = RuleFiles {
            files: vec![("dir/pod_exec.yml".into(), text)],
            events: Events::Audit,
        };
        let loaded = files.compile(false, &[]);
        assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
        let (doc, _) = RuleDoc::from_meta(&loaded.set.rules()[0].meta);
        assert_eq!(doc.name, "my-rule");
        assert_eq!(doc.why.as_deref(), Some("Attackers run code."));
        assert_eq!(doc.next_steps, ["Ask the user.", "Check the pod."]);
        let bad = RULE.replace("name: my-rule\n", "") + "dedup: {period: soon}\n";
        let files = RuleFiles {
            files: vec![("dir/pod_exec.yml".into(), bad)],
            events: Events::Audit,
        };
        let loaded = files.compile(false, &[]);
        let (doc, _) = RuleDoc::from_meta(&loaded.set.rules()[0].meta);
        assert_eq!(doc.name, "pod-exec");
        assert_eq!(loaded.diagnostics.len(), 1);
        assert_eq!(
            loaded.diagnostics[0].to_string(),
            "dir/pod_exec.yml:7:17: error: rule `t`: dedup period \"soon\" is not a timespan such as 10m, 1h or 0 (attribute ignored)"
        );
    }
}

/// What selects and tunes the rules: the command line's options and the configuration's
/// `detect` section (the CLI and the monitor load rules alike).
#[derive(Debug, Clone, Copy)]
pub struct RuleOptions<'a> {
    /// Rule files and directories, added to the built-in pack.
    pub rule_paths: &'a [PathBuf],
    /// Whether the built-in pack runs.
    pub builtin: bool,
    /// Rule ids, names or globs not to run (besides the configuration's).
    pub disable: &'a [String],
    /// The cluster's own networks (besides the configuration's): CIDR ranges.
    pub cluster_networks: &'a [String],
    /// Indicator lists (besides the configuration's).
    pub ioc_files: &'a [PathBuf],
    pub config: &'a DetectConfig,
    /// Which events the rules are for.
    pub events: Events,
}

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error(transparent)]
    Files(#[from] RulesError),
    #[error(transparent)]
    Tuning(#[from] TuningError),
    #[error("cluster network {}: not a CIDR range", kubevigil_model::Escaped(.0))]
    ClusterNetwork(String),
    #[error("no rules loaded")]
    NoRules,
}

/// Loads the rules `options` select. Problems that leave the other rules running (a rule file
/// with an error, an indicator list with a bad line) are in the diagnostics, and indicator-file
/// problems in the returned messages; a problem that makes the selection itself wrong (an
/// unreadable rule directory, a disabled rule that does not exist, a bad CIDR) is an error.
pub fn load_rules(options: &RuleOptions<'_>) -> Result<(LoadedRules, Vec<String>), LoadError> {
    let files = RuleFiles::read(options.rule_paths)?.for_events(options.events);
    let config = options.config;
    let mut placeholders = Vec::new();
    let networks: Vec<&String> = options
        .cluster_networks
        .iter()
        .chain(&config.cluster_networks)
        .collect();
    if !networks.is_empty() {
        let mut parsed = Vec::new();
        for n in networks {
            match crate::indicators::parse_entry(n.trim()) {
                Some(net) => parsed.push(net.to_string()),
                None => return Err(LoadError::ClusterNetwork(n.clone())),
            }
        }
        placeholders.push((crate::audit::CLUSTER_NETWORKS.to_string(), parsed));
    }
    let mut iocs = Vec::new();
    let mut problems = Vec::new();
    for path in options.ioc_files.iter().chain(&config.ioc_files) {
        let (entries, errors) = crate::indicators::read_indicator_file(path);
        problems.extend(errors.iter().map(ToString::to_string));
        iocs.extend(entries);
    }
    placeholders.push((crate::audit::IOC_ADDRESSES.to_string(), iocs));
    let loaded = files.load(options.builtin, options.disable, config, &placeholders)?;
    if loaded.set.rules().is_empty() {
        return Err(LoadError::NoRules);
    }
    Ok((loaded, problems))
}
