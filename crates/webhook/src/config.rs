//! The webhook configuration file (`--config`), YAML or JSON:
//!
//! ```yaml
//! apiVersion: kubevigil.io/v1alpha1
//! kind: WebhookConfiguration
//! namespacesFile: namespaces.yaml        # Namespace objects whose labels drive Pod Security and mutation
//! podSecurity:
//!   mode: enforce                        # enforce | warn | audit
//!   configurationFile: psa.yaml          # AdmissionConfiguration or PodSecurityConfiguration (or `configuration:` inline)
//! denyServiceExternalIPs: {mode: enforce}
//! eventRateLimit:
//!   mode: enforce
//!   configuration:                       # eventratelimit.admission.k8s.io/v1alpha1 Configuration (or configurationFile)
//!     apiVersion: eventratelimit.admission.k8s.io/v1alpha1
//!     kind: Configuration
//!     limits: [{type: Namespace, qps: 50, burst: 100, cacheSize: 2000}]
//! imagePolicy: {mode: enforce, allowedRegistries: [ghcr.io/acme], forbidLatest: true, requireTag: true, requireDigest: false}
//! imageVulnerabilities:                  # images by their cached scan (`kubevigil image scan`)
//!   mode: enforce
//!   database: /var/lib/kubevigil/db      # directory holding osv.sqlite (opened read-only; relative to this file)
//!   denyAtOrAbove: high                  # critical | high | medium | low | unknown (default high)
//!   unscanned: allow                     # allow | warn | deny: an image never scanned (default allow)
//!   maxAge: 30d                          # optional: a scan older than this (d, h, m) counts as none
//! csrApproval: {mode: enforce, allowedSigners: [kubernetes.io/kubelet-serving], denySystemMasters: true}
//! checks: {mode: warn, enforce: [image-tag-latest], config: {}}   # `kubevigil scan` checks, with a .kubevigil.yaml body
//! mutation: {namespaceLabel: kubevigil.io/harden, namespaceLabelValue: "true"}
//! ```
//!
//! A policy is enabled when its key is present. Without a configuration file, Pod Security is
//! enforced with upstream's defaults (namespace labels decide) and hardening mutation is
//! available to namespaces labelled `kubevigil.io/harden: "true"`.

use std::path::Path;

use kubevigil_pss::config::{PluginFileError, PodSecurityConfiguration, follow_plugin_file};
use serde::Deserialize;
use serde_json::Value;

use crate::Webhook;
use crate::mutate::MutationConfig;
use crate::policy::Mode;
use crate::policy::checks::ChecksPolicy;
use crate::policy::csr::CsrPolicy;
use crate::policy::event_rate_limit::{Configuration, EventRateLimit};
use crate::policy::image::ImagePolicy;
use crate::policy::image_vulnerabilities::{ImageVulnerabilityPolicy, Unscanned, parse_max_age};
use crate::policy::pod_security::NamespaceLabels;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Yaml(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{file}: {message}")]
    File { file: String, message: String },
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawConfig {
    #[serde(default)]
    api_version: Option<String>,
    #[serde(default)]
    kind: Option<String>,
    #[serde(default)]
    namespaces_file: Option<String>,
    #[serde(default)]
    pod_security: Option<WithConfiguration>,
    #[serde(default, rename = "denyServiceExternalIPs")]
    deny_service_external_ips: Option<ModeOnly>,
    #[serde(default)]
    event_rate_limit: Option<WithConfiguration>,
    #[serde(default)]
    image_policy: Option<WithMode<ImagePolicy>>,
    #[serde(default)]
    image_vulnerabilities: Option<RawImageVulnerabilities>,
    #[serde(default)]
    csr_approval: Option<WithMode<CsrPolicy>>,
    #[serde(default)]
    checks: Option<RawChecks>,
    #[serde(default)]
    mutation: Option<MutationConfig>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct WithConfiguration {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    configuration: Option<Value>,
    #[serde(default)]
    configuration_file: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ModeOnly {
    #[serde(default)]
    mode: Mode,
}

/// A policy's own settings plus `mode` (decoded from one mapping).
#[derive(Debug)]
struct WithMode<T> {
    mode: Mode,
    policy: T,
}

impl<'de, T: serde::de::DeserializeOwned> Deserialize<'de> for WithMode<T> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let mut v = Value::deserialize(d)?;
        let mode = match v.as_object_mut().and_then(|m| m.remove("mode")) {
            Some(m) => serde_json::from_value(m).map_err(serde::de::Error::custom)?,
            None => Mode::Enforce,
        };
        let policy = serde_json::from_value(v).map_err(serde::de::Error::custom)?;
        Ok(WithMode { mode, policy })
    }
}

/// `imageVulnerabilities`: strings, parsed by hand so that a bad value names its field.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct RawImageVulnerabilities {
    #[serde(default)]
    mode: Mode,
    database: String,
    #[serde(default)]
    deny_at_or_above: Option<String>,
    #[serde(default)]
    unscanned: Option<String>,
    #[serde(default)]
    max_age: Option<String>,
}

impl RawImageVulnerabilities {
    fn build(&self, base_dir: &Path) -> Result<ImageVulnerabilityPolicy, ConfigError> {
        let severity = self.deny_at_or_above.as_deref().unwrap_or("high");
        let deny_at_or_above = kubevigil_image::osv::Severity::parse(severity).ok_or_else(|| {
            ConfigError::Invalid(format!(
                "imageVulnerabilities.denyAtOrAbove: unknown severity {severity:?} (critical, high, medium, low or unknown)"
            ))
        })?;
        let unscanned = match self.unscanned.as_deref() {
            None => Unscanned::Allow,
            Some(u) => Unscanned::parse(u).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "imageVulnerabilities.unscanned: {u:?} is not allow, warn or deny"
                ))
            })?,
        };
        let max_age = match self.max_age.as_deref() {
            None => None,
            Some(a) => Some(parse_max_age(a).ok_or_else(|| {
                ConfigError::Invalid(format!(
                    "imageVulnerabilities.maxAge: {a:?} is not a positive number of days, hours or minutes (30d, 12h, 90m)"
                ))
            })?),
        };
        if self.database.is_empty() {
            return Err(ConfigError::Invalid(
                "imageVulnerabilities.database: a directory is required".into(),
            ));
        }
        let database = base_dir.join(&self.database);
        ImageVulnerabilityPolicy::open(&database, deny_at_or_above, unscanned, max_age)
            .map_err(|e| ConfigError::Invalid(e.to_string()))
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChecks {
    #[serde(default)]
    mode: Mode,
    #[serde(default)]
    enforce: Vec<String>,
    #[serde(default)]
    config: Option<Value>,
}

/// Parses one YAML/JSON document into a value.
pub fn parse_yaml(text: &str) -> Result<Value, ConfigError> {
    match kubevigil_model::yaml::parse_document(text, 0, Default::default()) {
        Ok(Some((v, _))) => Ok(v),
        Ok(None) => Ok(Value::Object(Default::default())),
        Err(e) => Err(ConfigError::Yaml(e.to_string())),
    }
}

/// Builds the webhook from configuration text; `read` returns the text of a file named in it
/// (relative names are the caller's to resolve, usually against the configuration's directory).
/// A relative `imageVulnerabilities.database` is taken from the working directory; see
/// [`from_text_in`].
pub fn from_text(
    text: &str,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Webhook, ConfigError> {
    from_text_in(text, Path::new(""), read)
}

/// [`from_text`], with a relative `imageVulnerabilities.database` resolved against `base_dir`
/// (the configuration file's directory).
pub fn from_text_in(
    text: &str,
    base_dir: &Path,
    read: &dyn Fn(&str) -> Result<String, String>,
) -> Result<Webhook, ConfigError> {
    let raw: RawConfig = serde_json::from_value(parse_yaml(text)?)
        .map_err(|e| ConfigError::Invalid(format!("webhook configuration: {e}")))?;
    if let Some(kind) = raw.kind.as_ref().filter(|k| *k != "WebhookConfiguration") {
        return Err(ConfigError::Invalid(format!(
            "kind: expected WebhookConfiguration, got {kind:?}"
        )));
    }
    let _ = raw.api_version;
    let file = |name: &str| {
        read(name).map_err(|message| ConfigError::File {
            file: name.to_string(),
            message,
        })
    };
    let embedded =
        |w: &WithConfiguration, what: &str| -> Result<Option<(Value, String)>, ConfigError> {
            match (&w.configuration, &w.configuration_file) {
                (Some(_), Some(_)) => Err(ConfigError::Invalid(format!(
                    "{what}: set configuration or configurationFile, not both"
                ))),
                (Some(v), None) => Ok(Some((v.clone(), what.to_string()))),
                (None, Some(f)) => {
                    let text = file(f)?;
                    let v = parse_yaml(&text).map_err(|e| ConfigError::File {
                        file: f.clone(),
                        message: e.to_string(),
                    })?;
                    Ok(Some((v, f.clone())))
                }
                (None, None) => Ok(None),
            }
        };

    let mut webhook = Webhook {
        pod_security: None,
        ..Webhook::default()
    };

    if let Some(ps) = &raw.pod_security {
        let cfg = match embedded(ps, "podSecurity")? {
            None => PodSecurityConfiguration::default(),
            Some((v, origin)) => pod_security_config(&v, &origin, &file)?,
        };
        webhook.pod_security = Some((ps.mode, cfg));
    }
    if let Some(m) = raw.deny_service_external_ips {
        webhook.external_ips = Some(m.mode);
    }
    if let Some(erl) = &raw.event_rate_limit {
        let Some((v, origin)) = embedded(erl, "eventRateLimit")? else {
            return Err(ConfigError::Invalid(
                "eventRateLimit: a configuration (or configurationFile) with limits is required"
                    .into(),
            ));
        };
        let cfg = Configuration::from_value(&v).map_err(|e| ConfigError::File {
            file: origin,
            message: e.to_string(),
        })?;
        webhook.event_rate_limit = Some((erl.mode, EventRateLimit::new(&cfg)));
    }
    if let Some(i) = raw.image_policy {
        webhook.image = Some((i.mode, i.policy));
    }
    if let Some(v) = &raw.image_vulnerabilities {
        webhook.image_vulnerabilities = Some((v.mode, v.build(base_dir)?));
    }
    if let Some(c) = raw.csr_approval {
        webhook.csr = Some((c.mode, c.policy));
    }
    if let Some(c) = raw.checks {
        let ids: Vec<&str> = kubevigil_checks::registry()
            .iter()
            .map(|c| c.meta().id)
            .collect();
        let config = kubevigil_checks::Config::from_value(
            c.config.unwrap_or(Value::Object(Default::default())),
            &ids,
        )
        .map_err(|e| ConfigError::Invalid(format!("checks.config: {e}")))?;
        let mut checks = Vec::new();
        for id in &c.enforce {
            match kubevigil_checks::find_check(id) {
                Some(check) => checks.push(check),
                None => {
                    return Err(ConfigError::Invalid(format!(
                        "checks.enforce: unknown check id {id:?} (see `kubevigil checks list`)"
                    )));
                }
            }
        }
        webhook.checks = Some((c.mode, ChecksPolicy { config, checks }));
    }
    if let Some(m) = raw.mutation {
        webhook.mutation = Some(m);
    }
    if let Some(f) = &raw.namespaces_file {
        webhook.namespaces =
            crate::namespaces::NamespaceCache::from_labels(namespaces_from_text(f, &file(f)?)?);
    }
    Ok(webhook)
}

fn pod_security_config(
    v: &Value,
    origin: &str,
    file: &dyn Fn(&str) -> Result<String, ConfigError>,
) -> Result<PodSecurityConfiguration, ConfigError> {
    let doc = kubevigil_pss::config::from_value(v).map_err(|e| ConfigError::File {
        file: origin.to_string(),
        message: e.to_string(),
    })?;
    follow_plugin_file(doc, file).map_err(|e| match e {
        PluginFileError::Read(e) => e,
        PluginFileError::Invalid { path, error } => ConfigError::File {
            file: path,
            message: error.to_string(),
        },
        PluginFileError::NotPodSecurityConfiguration { path } => ConfigError::File {
            file: path,
            message: "a PodSecurity plugin file must hold a PodSecurityConfiguration".into(),
        },
    })
}

/// Namespace labels from a file of Namespace objects (multi-document YAML, JSON or a List).
pub fn namespaces_from_text(name: &str, text: &str) -> Result<NamespaceLabels, ConfigError> {
    let mut loaded = kubevigil_model::Loaded::default();
    kubevigil_model::load::load_text_into(name, text, &Default::default(), &mut loaded);
    if let Some(d) = loaded
        .diagnostics
        .iter()
        .find(|d| d.level == kubevigil_model::DiagLevel::Error)
    {
        return Err(ConfigError::Invalid(d.to_string()));
    }
    let mut out = NamespaceLabels::new();
    for o in loaded.inventory.of_kind("Namespace") {
        out.insert(o.name.clone(), o.labels().clone());
    }
    Ok(out)
}
