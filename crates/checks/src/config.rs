//! The `.kubevigil.yaml` configuration.
//!
//! ```yaml
//! checks:
//!   disable: [image-not-pinned-by-digest]   # never run these
//!   enable: []                              # when non-empty, run only these
//! severity:                                 # severity overrides
//!   service-nodeport: high
//! exemptions:                               # per-check exemptions by glob
//!   - checks: [image-tag-latest]            # or ["*"]
//!     namespaces: ["kube-*"]
//!     kinds: [DaemonSet]
//!     names: ["fluent-*"]
//!     reason: vendor-managed agents
//! strict: [env-literal-credential]          # annotations cannot suppress these
//! images:
//!   allowedRegistries: [registry.example.com, ghcr.io/acme]
//! placement:
//!   sensitiveWorkloads: {matchLabels: {data-classification: sensitive}}
//!   nodeLabel: {key: node.example.com/security, value: hardened}
//! secrets:
//!   maxAgeDays: 90                          # secret-not-rotated: the rotation period
//! podSecurity: restricted:latest              # level[:version] PSS findings are judged against
//! detect:                                   # `audit detect`; see kubevigil_detect::tuning
//!   disable: [k8s-pod-exec]                   # Sigma rules (ids, names, globs) not to run
//!   clusterNetworks: [10.0.0.0/16]             # where the cluster's own components connect from
//!   iocFiles: [tor-exits.txt]                  # indicator lists (one IP or CIDR per line)
//!   exceptions:
//!     - rules: [k8s-secret-read-by-user]
//!       serviceAccounts: ["cert-manager/*"]
//!       reason: cert-manager reads the secrets it manages
//!   dedup: {period: 30m, key: [actor, namespace, object], maxEntries: 10000}
//! monitor:                                  # `kubevigil monitor`; see config_monitor
//!   sinks:                                    # besides --alertmanager, --slack-webhook, --webhook
//!     - alertmanager: http://alertmanager.monitoring:9093   # exactly one of alertmanager,
//!       minSeverity: medium                               #   slack, webhook (a URL)
//!     - slack: https://hooks.slack.com/services/...         # holds a token: never logged
//!       minSeverity: high                       # info (default), low, medium, high, critical
//!       findings: true                          # posture findings (default true)
//!       detections: true                        # audit detections (default true)
//!       namespaces: [shop, payments]            # only these (default: all, cluster-scoped too)
//!       rules: ["pss-*", k8s-pod-exec]          # check/rule ids or globs (default: all)
//!     - webhook: https://hooks.example.com/kubevigil
//!       secretFile: /etc/kubevigil/webhook-secret  # required: the HMAC-SHA256 secret
//!   podLogs:                                  # pods whose logs are followed (or --pod-logs-*)
//!     namespaces: [shop]                      # default: every namespace
//!     selector: app=web,tier=frontend         # equality requirements (default: any pod)
//!     maxStreams: 20                          # containers followed at once (1-1000)
//! ```
//!
//! Errors of the `monitor` section name the field ([`ConfigError::At`]); the loader turns that
//! into `file:line:column`.

use std::collections::BTreeMap;

use globset::{Glob, GlobMatcher};
use kubevigil_model::{Object, Severity};
use serde::Deserialize;
use serde_json::Value;

use crate::ids;
use crate::selector::LabelSelector;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid configuration: {0}")]
    Invalid(String),
    /// An id that names no check, or a glob that matches none (the message says which, with
    /// the closest known id).
    #[error("{0} in configuration (see `kubevigil checks list`)")]
    UnknownCheck(String),
    #[error("invalid glob {glob:?}: {message}")]
    Glob { glob: String, message: String },
    /// A problem at a field (`monitor.sinks[1].minSeverity`), which the loader locates in
    /// the file.
    #[error("{path}: {message}")]
    At {
        path: kubevigil_model::FieldPath,
        message: String,
    },
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    checks: RawChecks,
    #[serde(default)]
    severity: BTreeMap<String, Severity>,
    #[serde(default)]
    exemptions: Vec<RawExemption>,
    #[serde(default)]
    strict: Vec<String>,
    #[serde(default)]
    images: ImagesConfig,
    #[serde(default)]
    placement: PlacementConfig,
    #[serde(default)]
    secrets: SecretsConfig,
    #[serde(default)]
    pod_security: Option<String>,
    #[serde(default)]
    detect: DetectConfig,
    /// Read by [`crate::config_monitor::parse`], which names the field of each error.
    #[serde(default)]
    monitor: Option<Value>,
}

/// Settings of the Secrets hygiene checks.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct SecretsConfig {
    /// `secret-not-rotated`: a Secret whose value was last written longer ago than this is
    /// reported.
    #[serde(default = "default_max_age_days")]
    pub max_age_days: u32,
    /// The time ages are measured at, in ms since the epoch; `None` (always, outside tests):
    /// the clock's.
    #[serde(skip)]
    pub now_ms: Option<i64>,
}

fn default_max_age_days() -> u32 {
    90
}

impl Default for SecretsConfig {
    fn default() -> Self {
        SecretsConfig {
            max_age_days: default_max_age_days(),
            now_ms: None,
        }
    }
}

impl SecretsConfig {
    pub fn now_ms(&self) -> i64 {
        self.now_ms.unwrap_or_else(kubevigil_model::time::now_ms)
    }
}

/// Settings of `kubevigil audit detect` (and the monitor), as written; what they mean is
/// `kubevigil_detect::tuning`'s (rule ids, names and globs are checked there, against the loaded
/// rules).
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DetectConfig {
    /// Sigma rule ids, names or globs not to run.
    #[serde(default)]
    pub disable: Vec<String>,
    /// Address ranges of the cluster's own networks (replace the default private ranges of
    /// the `%cluster_networks%` placeholder).
    #[serde(default, rename = "clusterNetworks")]
    pub cluster_networks: Vec<String>,
    /// Indicator lists (files of IP addresses and CIDR ranges) for `k8s_ioc_source_address`.
    #[serde(default, rename = "iocFiles")]
    pub ioc_files: Vec<std::path::PathBuf>,
    /// Alerts not to raise: rules and who or what they concern.
    #[serde(default)]
    pub exceptions: Vec<DetectException>,
    /// Deduplication defaults for every rule (a rule's own `dedup` attribute wins).
    #[serde(default)]
    pub dedup: DedupConfig,
}

/// One entry of `detect.exceptions`: the alerts of `rules` whose events all match every
/// non-empty list (each a list of globs, any of which may match) are not raised.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DetectException {
    /// Rule ids, names or globs over them.
    pub rules: Vec<String>,
    #[serde(default)]
    pub users: Vec<String>,
    #[serde(default)]
    pub groups: Vec<String>,
    /// `NAMESPACE/NAME` globs.
    #[serde(default)]
    pub service_accounts: Vec<String>,
    #[serde(default)]
    pub namespaces: Vec<String>,
    /// Resource names (`objectRef.name`).
    #[serde(default)]
    pub names: Vec<String>,
    #[serde(default)]
    pub user_agents: Vec<String>,
    /// Why these alerts are expected (required).
    pub reason: String,
}

/// `detect.dedup`.
#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct DedupConfig {
    /// A Sigma timespan (`30m`, `1h`) or `0` (no deduplication).
    #[serde(default)]
    pub period: Option<String>,
    /// What makes two alerts of one rule the same (`actor`, `namespace`, `object`, ...).
    #[serde(default)]
    pub key: Option<Vec<String>>,
    /// Most alerts held for deduplication at once.
    #[serde(default)]
    pub max_entries: Option<usize>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChecks {
    #[serde(default)]
    enable: Vec<String>,
    #[serde(default)]
    disable: Vec<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawExemption {
    checks: Vec<String>,
    #[serde(default)]
    namespaces: Vec<String>,
    #[serde(default)]
    kinds: Vec<String>,
    #[serde(default)]
    names: Vec<String>,
    #[serde(default)]
    reason: String,
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct ImagesConfig {
    /// Registries (optionally with a path prefix) images may come from. Empty: no restriction.
    #[serde(default)]
    pub allowed_registries: Vec<String>,
    /// Image scans by image reference as written in manifests (`kubevigil scan --images`, the
    /// monitor): what `image-vulnerable` judges. Not read from the configuration file.
    #[serde(skip)]
    pub scans: Option<std::sync::Arc<ImageScanTable>>,
    /// The time image ages are counted from (milliseconds since the epoch); set with `scans`.
    #[serde(skip)]
    pub now_ms: Option<i64>,
}

/// Image scan summaries by image reference.
pub type ImageScans = std::collections::BTreeMap<String, kubevigil_image::summary::ImageSummary>;

/// [`ImageScans`] shared between whoever scans images and the checks that read them: the
/// monitor's image scanner updates it while evaluations read it.
#[derive(Debug, Default)]
pub struct ImageScanTable(std::sync::RwLock<ImageScans>);

impl ImageScanTable {
    pub fn new(scans: ImageScans) -> Self {
        ImageScanTable(std::sync::RwLock::new(scans))
    }

    pub fn get(&self, image: &str) -> Option<kubevigil_image::summary::ImageSummary> {
        self.0
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .get(image)
            .cloned()
    }

    pub fn insert(&self, image: String, summary: kubevigil_image::summary::ImageSummary) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .insert(image, summary);
    }

    /// Forgets the images `keep` refuses (no workload names them any more).
    pub fn retain(&self, keep: impl Fn(&str) -> bool) {
        self.0
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .retain(|k, _| keep(k));
    }
}

#[derive(Debug, Default, Clone, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
pub struct PlacementConfig {
    /// Workloads whose pod labels match are sensitive. Unset: the placement check is inactive.
    #[serde(default)]
    pub sensitive_workloads: Option<LabelSelector>,
    /// The node label sensitive workloads must require.
    #[serde(default)]
    pub node_label: Option<NodeLabel>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeLabel {
    pub key: String,
    /// When unset, any value of the key satisfies the requirement.
    #[serde(default)]
    pub value: Option<String>,
}

/// An exemption: the listed checks do not apply to matching objects.
#[derive(Debug, Clone)]
pub struct Exemption {
    pub checks: Vec<String>,
    namespaces: Vec<GlobMatcher>,
    kinds: Vec<GlobMatcher>,
    names: Vec<GlobMatcher>,
    pub reason: String,
}

impl Exemption {
    pub fn matches(&self, check_id: &str, object: &Object) -> bool {
        let any = |globs: &[GlobMatcher], s: &str| {
            globs.is_empty() || globs.iter().any(|g| g.is_match(s))
        };
        self.checks.iter().any(|c| ids::matches(c, check_id))
            && any(&self.namespaces, object.namespace.as_deref().unwrap_or(""))
            && any(&self.kinds, &object.kind)
            && any(&self.names, &object.name)
    }
}

/// Validated configuration.
#[derive(Debug, Clone)]
pub struct Config {
    pub enable: Vec<String>,
    pub disable: Vec<String>,
    pub severity: BTreeMap<String, Severity>,
    pub exemptions: Vec<Exemption>,
    pub strict: Vec<String>,
    pub images: ImagesConfig,
    pub placement: PlacementConfig,
    pub secrets: SecretsConfig,
    /// The Pod Security level and version scan findings are judged against (`restricted:latest`).
    pub pod_security: kubevigil_pss::LevelVersion,
    pub detect: DetectConfig,
    pub monitor: crate::config_monitor::MonitorConfig,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            enable: Vec::new(),
            disable: Vec::new(),
            severity: BTreeMap::new(),
            exemptions: Vec::new(),
            strict: Vec::new(),
            images: ImagesConfig::default(),
            placement: PlacementConfig::default(),
            secrets: SecretsConfig::default(),
            detect: DetectConfig::default(),
            monitor: Default::default(),
            pod_security: kubevigil_pss::LevelVersion::new(
                kubevigil_pss::Level::Restricted,
                kubevigil_pss::Version::Latest,
            ),
        }
    }
}

/// The Pod Security checks ([`kubevigil_pss::CONTROL_CHECKS`]) read the level and version here.
impl kubevigil_pss::PodSecuritySettings for Config {
    fn pod_security(&self) -> kubevigil_pss::LevelVersion {
        self.pod_security
    }
}

impl Config {
    /// Builds a configuration from its parsed YAML/JSON. `known_ids` are the check ids that
    /// exist (built-in and engine checks); any other id is an error, so typos don't go unseen.
    pub fn from_value(value: Value, known_ids: &[&str]) -> Result<Config, ConfigError> {
        let raw: RawConfig = if value.is_null() {
            RawConfig::default()
        } else {
            serde_json::from_value(value).map_err(|e| ConfigError::Invalid(e.to_string()))?
        };
        let check_known = |id: &String| match ids::problem(id, known_ids) {
            None => Ok(()),
            Some(problem) => Err(ConfigError::UnknownCheck(problem)),
        };
        for id in raw
            .checks
            .enable
            .iter()
            .chain(&raw.checks.disable)
            .chain(raw.severity.keys())
            .chain(&raw.strict)
            .chain(raw.exemptions.iter().flat_map(|e| &e.checks))
        {
            check_known(id)?;
        }
        let globs = |pats: &[String]| -> Result<Vec<GlobMatcher>, ConfigError> {
            pats.iter()
                .map(|p| {
                    Glob::new(p)
                        .map(|g| g.compile_matcher())
                        .map_err(|e| ConfigError::Glob {
                            glob: p.clone(),
                            message: e.to_string(),
                        })
                })
                .collect()
        };
        let exemptions = raw
            .exemptions
            .into_iter()
            .map(|e| {
                Ok(Exemption {
                    namespaces: globs(&e.namespaces)?,
                    kinds: globs(&e.kinds)?,
                    names: globs(&e.names)?,
                    checks: e.checks,
                    reason: e.reason,
                })
            })
            .collect::<Result<_, ConfigError>>()?;
        let pod_security = match raw.pod_security.as_deref() {
            None => Config::default().pod_security,
            Some(s) => kubevigil_pss::LevelVersion::parse(s)
                .map_err(|e| ConfigError::Invalid(format!("podSecurity: {e}")))?,
        };
        let monitor = crate::config_monitor::parse(raw.monitor.as_ref())?;
        Ok(Config {
            monitor,
            pod_security,
            detect: raw.detect,
            enable: raw.checks.enable,
            disable: raw.checks.disable,
            severity: raw.severity,
            exemptions,
            strict: raw.strict,
            images: raw.images,
            placement: raw.placement,
            secrets: raw.secrets,
        })
    }

    /// Whether the check `id` runs: `checks.enable` (ids or globs; empty: all) minus
    /// `checks.disable`.
    pub fn is_enabled(&self, id: &str) -> bool {
        (self.enable.is_empty() || self.enable.iter().any(|e| ids::matches(e, id)))
            && !self.disable.iter().any(|d| ids::matches(d, id))
    }

    /// Whether a scan judges objects by the check `id`: enabled, and for `image-vulnerable`
    /// with image scans to judge by (without `--images` a report must not list it as passed).
    pub fn is_judged(&self, id: &str) -> bool {
        self.is_enabled(id)
            && (id != crate::rules::images::image_vulnerable::ID || self.images.scans.is_some())
    }

    pub fn is_strict(&self, id: &str) -> bool {
        self.strict.iter().any(|s| ids::matches(s, id))
    }

    /// The severity override for the check `id`: an exact id wins over a glob; among globs, the
    /// first in the file.
    pub fn severity_of(&self, id: &str) -> Option<Severity> {
        self.severity.get(id).copied().or_else(|| {
            self.severity
                .iter()
                .find(|(pattern, _)| ids::is_glob(pattern) && ids::matches(pattern, id))
                .map(|(_, s)| *s)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn image_vulnerable_is_judged_only_with_image_scans() {
        let mut config = Config::default();
        assert!(config.is_enabled("image-vulnerable"));
        assert!(
            !config.is_judged("image-vulnerable"),
            "no --images: not listed as passed"
        );
        assert!(config.is_judged("image-tag-latest"));
        config.images.scans = Some(std::sync::Arc::new(ImageScanTable::default()));
        assert!(config.is_judged("image-vulnerable"));
        config.disable.push("image-*".into());
        assert!(!config.is_judged("image-vulnerable"));
    }

    #[test]
    fn unknown_ids_and_fields_are_errors() {
        let err = Config::from_value(json!({"checks": {"disable": ["nope"]}}), &["a"]).unwrap_err();
        assert!(err.to_string().contains("nope"));
        let err = Config::from_value(json!({"chekcs": {}}), &["a"]).unwrap_err();
        assert!(err.to_string().contains("chekcs"), "{err}");
        let err = Config::from_value(json!({"strict": ["pss-privilegd"]}), &["pss-privileged"])
            .unwrap_err();
        assert!(
            err.to_string().contains("did you mean `pss-privileged`?"),
            "{err}"
        );
        let err =
            Config::from_value(json!({"strict": ["psss-*"]}), &["pss-privileged"]).unwrap_err();
        assert!(err.to_string().contains("matches no check id"), "{err}");
    }

    #[test]
    fn globs_select_checks_everywhere_ids_are_accepted() {
        let known = ["pss-a", "pss-b", "image-x"];
        let c = Config::from_value(
            json!({
                "checks": {"disable": ["pss-*"]},
                "strict": ["image-*"],
                "severity": {"pss-*": "low", "pss-b": "critical"},
                "exemptions": [{"checks": ["image-*"], "names": ["n"]}],
            }),
            &known,
        )
        .unwrap();
        assert!(!c.is_enabled("pss-a") && c.is_enabled("image-x"));
        assert!(c.is_strict("image-x") && !c.is_strict("pss-a"));
        assert_eq!(c.severity_of("pss-a"), Some(Severity::Low));
        assert_eq!(c.severity_of("pss-b"), Some(Severity::Critical));
        assert_eq!(c.severity_of("image-x"), None);
    }

    #[test]
    fn secrets_max_age() {
        assert_eq!(Config::default().secrets.max_age_days, 90);
        let c = Config::from_value(json!({"secrets": {"maxAgeDays": 30}}), &[]).unwrap();
        assert_eq!(c.secrets.max_age_days, 30);
        assert!(Config::from_value(json!({"secrets": {"maxAge": 30}}), &[]).is_err());
        assert!(Config::from_value(json!({"secrets": {"maxAgeDays": -1}}), &[]).is_err());
    }

    #[test]
    fn enable_disable() {
        let c = Config::from_value(
            json!({"checks": {"enable": ["a", "b"], "disable": ["b"]}}),
            &["a", "b", "c"],
        )
        .unwrap();
        assert!(c.is_enabled("a"));
        assert!(!c.is_enabled("b"));
        assert!(!c.is_enabled("c"));
    }
}
