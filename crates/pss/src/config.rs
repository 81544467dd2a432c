//! The PodSecurity admission plugin configuration: an `AdmissionConfiguration` file with a
//! `PodSecurity` plugin entry, or a bare `PodSecurityConfiguration` (v1, v1beta1, v1alpha1).
//!
//! Upstream: `admission/api/{v1,v1beta1,v1alpha1}/types.go` and `defaults.go` (every unset
//! default is `privileged` / `latest` in all three versions), `admission/api/load/load.go`
//! (strict decoding), `admission/api/validation/validation.go`.

use std::path::{Path, PathBuf};

use serde_json::Value;

use crate::api::{Level, LevelVersion, Policy, Version, go_quote};

/// Exemptions: requests by these users, pods in these namespaces, and pods with these
/// runtime classes are not evaluated.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Exemptions {
    pub usernames: Vec<String>,
    pub namespaces: Vec<String>,
    pub runtime_classes: Vec<String>,
}

/// A validated PodSecurity configuration.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodSecurityConfiguration {
    pub defaults: Policy,
    pub exemptions: Exemptions,
}

impl PodSecurityConfiguration {
    /// `exemptNamespace`: the empty namespace is never exempt.
    pub fn exempt_namespace(&self, ns: &str) -> bool {
        !ns.is_empty() && self.exemptions.namespaces.iter().any(|n| n == ns)
    }
    /// `exemptUser`.
    pub fn exempt_user(&self, user: &str) -> bool {
        !user.is_empty() && self.exemptions.usernames.iter().any(|u| u == user)
    }
    /// `exemptRuntimeClass`: unset or empty runtime class is never exempt.
    pub fn exempt_runtime_class(&self, rc: Option<&str>) -> bool {
        rc.is_some_and(|rc| {
            !rc.is_empty() && self.exemptions.runtime_classes.iter().any(|r| r == rc)
        })
    }
}

/// What a configuration document resolved to.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigDoc {
    Config(PodSecurityConfiguration),
    /// An AdmissionConfiguration whose PodSecurity entry names a separate file (`path`);
    /// the caller reads it (relative paths are relative to the AdmissionConfiguration file).
    PluginFile(String),
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("{0}")]
    Yaml(#[from] kubevigil_model::yaml::YamlError),
    #[error("empty configuration document")]
    Empty,
    #[error("{}", .0.join("; "))]
    Invalid(Vec<String>),
}

/// Why the PodSecurity plugin file named by an AdmissionConfiguration gave no configuration;
/// `path` is the name as written in the AdmissionConfiguration.
#[derive(Debug)]
pub enum PluginFileError<E> {
    /// The caller's `read` failed.
    Read(E),
    Invalid {
        path: String,
        error: ConfigError,
    },
    /// The plugin file is itself an AdmissionConfiguration naming another file.
    NotPodSecurityConfiguration {
        path: String,
    },
}

/// The configuration `doc` stands for: an AdmissionConfiguration whose PodSecurity entry names
/// a file is followed once, through `read` (which resolves the name, relative to the
/// AdmissionConfiguration as the API server does, and returns the text).
pub fn follow_plugin_file<E>(
    doc: ConfigDoc,
    read: impl FnOnce(&str) -> Result<String, E>,
) -> Result<PodSecurityConfiguration, PluginFileError<E>> {
    let path = match doc {
        ConfigDoc::Config(c) => return Ok(c),
        ConfigDoc::PluginFile(path) => path,
    };
    let text = read(&path).map_err(PluginFileError::Read)?;
    match parse_text(&text) {
        Ok(ConfigDoc::Config(c)) => Ok(c),
        Ok(ConfigDoc::PluginFile(_)) => Err(PluginFileError::NotPodSecurityConfiguration { path }),
        Err(error) => Err(PluginFileError::Invalid { path, error }),
    }
}

/// Why an admission configuration file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("reading {}", .path.display())]
    Read {
        path: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("{}: invalid admission configuration", .path.display())]
    Invalid {
        path: PathBuf,
        #[source]
        error: ConfigError,
    },
    #[error("reading {} (PodSecurity plugin path in {})", .plugin.display(), .config.display())]
    ReadPlugin {
        plugin: PathBuf,
        config: PathBuf,
        #[source]
        error: std::io::Error,
    },
    #[error("{}: invalid PodSecurityConfiguration", .plugin.display())]
    InvalidPlugin {
        plugin: PathBuf,
        #[source]
        error: ConfigError,
    },
    #[error("{}: expected a PodSecurityConfiguration", .plugin.display())]
    NotPodSecurityConfiguration { plugin: PathBuf },
}

/// Loads an AdmissionConfiguration or PodSecurityConfiguration file; a plugin `path` is
/// relative to the file's directory.
pub fn load_file(path: &Path) -> Result<PodSecurityConfiguration, LoadError> {
    let text = std::fs::read_to_string(path).map_err(|error| LoadError::Read {
        path: path.to_path_buf(),
        error,
    })?;
    let doc = parse_text(&text).map_err(|error| LoadError::Invalid {
        path: path.to_path_buf(),
        error,
    })?;
    let dir = path.parent().unwrap_or(Path::new("."));
    follow_plugin_file(doc, |rel| {
        let plugin = dir.join(rel);
        std::fs::read_to_string(&plugin).map_err(|error| LoadError::ReadPlugin {
            plugin,
            config: path.to_path_buf(),
            error,
        })
    })
    .map_err(|e| match e {
        PluginFileError::Read(e) => e,
        PluginFileError::Invalid { path, error } => LoadError::InvalidPlugin {
            plugin: dir.join(path),
            error,
        },
        PluginFileError::NotPodSecurityConfiguration { path } => {
            LoadError::NotPodSecurityConfiguration {
                plugin: dir.join(path),
            }
        }
    })
}

const PSA_GROUP: &str = "pod-security.admission.config.k8s.io/";
const PSA_VERSIONS: [&str; 3] = ["v1", "v1beta1", "v1alpha1"];
const ADMISSION_API_VERSIONS: [&str; 3] = [
    "apiserver.config.k8s.io/v1",
    "apiserver.config.k8s.io/v1alpha1",
    "apiserver.k8s.io/v1alpha1",
];

/// Parses YAML or JSON text.
pub fn parse_text(text: &str) -> Result<ConfigDoc, ConfigError> {
    let doc = kubevigil_model::yaml::parse_document(text, 0, Default::default())?;
    let (value, _) = doc.ok_or(ConfigError::Empty)?;
    from_value(&value)
}

/// Interprets an AdmissionConfiguration or PodSecurityConfiguration value.
pub fn from_value(v: &Value) -> Result<ConfigDoc, ConfigError> {
    let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    match kind {
        "AdmissionConfiguration" => {
            if !ADMISSION_API_VERSIONS.contains(&api_version) {
                return Err(invalid(format!(
                    "apiVersion: unsupported AdmissionConfiguration version {}",
                    go_quote(api_version)
                )));
            }
            let plugins = v
                .get("plugins")
                .and_then(Value::as_array)
                .map(Vec::as_slice)
                .unwrap_or(&[]);
            let Some(entry) = plugins
                .iter()
                .find(|p| p.get("name").and_then(Value::as_str) == Some("PodSecurity"))
            else {
                return Ok(ConfigDoc::Config(PodSecurityConfiguration::default()));
            };
            if let Some(cfg) = entry.get("configuration").filter(|c| !c.is_null()) {
                return pod_security_configuration(cfg).map(ConfigDoc::Config);
            }
            match entry
                .get("path")
                .and_then(Value::as_str)
                .filter(|p| !p.is_empty())
            {
                Some(path) => Ok(ConfigDoc::PluginFile(path.to_string())),
                None => Ok(ConfigDoc::Config(PodSecurityConfiguration::default())),
            }
        }
        "PodSecurityConfiguration" => pod_security_configuration(v).map(ConfigDoc::Config),
        _ => Err(invalid(format!(
            "expected kind AdmissionConfiguration or PodSecurityConfiguration, got {}",
            go_quote(kind)
        ))),
    }
}

fn invalid(msg: String) -> ConfigError {
    ConfigError::Invalid(vec![msg])
}

fn pod_security_configuration(v: &Value) -> Result<PodSecurityConfiguration, ConfigError> {
    let mut errs = Vec::new();
    let api_version = v.get("apiVersion").and_then(Value::as_str).unwrap_or("");
    let kind = v.get("kind").and_then(Value::as_str).unwrap_or("");
    let known = api_version
        .strip_prefix(PSA_GROUP)
        .is_some_and(|ver| PSA_VERSIONS.contains(&ver));
    if !known || kind != "PodSecurityConfiguration" {
        return Err(invalid(format!(
            "expected kind PodSecurityConfiguration in {PSA_GROUP}{{v1,v1beta1,v1alpha1}}, got {}/{}",
            go_quote(api_version),
            go_quote(kind)
        )));
    }
    let Some(obj) = v.as_object() else {
        return Err(invalid("configuration must be an object".into()));
    };
    // Strict decoding (load.go decodes with a strict codec): unknown fields are errors.
    for k in obj.keys() {
        if !matches!(
            k.as_str(),
            "apiVersion" | "kind" | "defaults" | "exemptions"
        ) {
            errs.push(format!("unknown field {}", go_quote(k)));
        }
    }
    let mut cfg = PodSecurityConfiguration::default();
    if let Some(d) = obj.get("defaults").filter(|d| !d.is_null()) {
        parse_defaults(d, &mut cfg.defaults, &mut errs);
    }
    if let Some(e) = obj.get("exemptions").filter(|e| !e.is_null()) {
        parse_exemptions(e, &mut cfg.exemptions, &mut errs);
    }
    if errs.is_empty() {
        Ok(cfg)
    } else {
        Err(ConfigError::Invalid(errs))
    }
}

fn parse_defaults(d: &Value, out: &mut Policy, errs: &mut Vec<String>) {
    let Some(d) = d.as_object() else {
        errs.push("defaults: must be an object".into());
        return;
    };
    for (k, v) in d {
        let target: &mut LevelVersion = match k.as_str() {
            "enforce" | "enforce-version" => &mut out.enforce,
            "audit" | "audit-version" => &mut out.audit,
            "warn" | "warn-version" => &mut out.warn,
            _ => {
                errs.push(format!(
                    "unknown field {}",
                    go_quote(&format!("defaults.{k}"))
                ));
                continue;
            }
        };
        let Some(s) = v.as_str() else {
            errs.push(format!("defaults.{k}: must be a string"));
            continue;
        };
        // Empty means unset, which defaults to privileged / latest.
        if s.is_empty() {
            continue;
        }
        if k.ends_with("-version") {
            match Version::parse(s) {
                Ok(ver) => target.version = ver,
                Err((_, m)) => {
                    errs.push(format!("defaults.{k}: Invalid value: {}: {m}", go_quote(s)))
                }
            }
        } else {
            match Level::parse(s) {
                Ok(l) => target.level = l,
                Err((_, m)) => {
                    errs.push(format!("defaults.{k}: Invalid value: {}: {m}", go_quote(s)))
                }
            }
        }
    }
}

/// Validates one exemption entry: `Some(message)` when invalid.
type NameCheck = fn(&str) -> Option<&'static str>;

fn parse_exemptions(e: &Value, out: &mut Exemptions, errs: &mut Vec<String>) {
    let Some(e) = e.as_object() else {
        errs.push("exemptions: must be an object".into());
        return;
    };
    for (k, v) in e {
        let (target, validate): (&mut Vec<String>, NameCheck) = match k.as_str() {
            "usernames" => (&mut out.usernames, |s| {
                s.is_empty().then_some("must not be empty")
            }),
            "namespaces" => (&mut out.namespaces, dns1123_label),
            "runtimeClasses" => (&mut out.runtime_classes, dns1123_subdomain),
            _ => {
                errs.push(format!(
                    "unknown field {}",
                    go_quote(&format!("exemptions.{k}"))
                ));
                continue;
            }
        };
        let items = match v {
            Value::Null => continue,
            Value::Array(a) => a,
            _ => {
                errs.push(format!("exemptions.{k}: must be a list of strings"));
                continue;
            }
        };
        for (i, item) in items.iter().enumerate() {
            let Some(s) = item.as_str() else {
                errs.push(format!("exemptions.{k}[{i}]: must be a string"));
                continue;
            };
            if let Some(m) = validate(s) {
                errs.push(format!(
                    "exemptions.{k}[{i}]: Invalid value: {}: {m}",
                    go_quote(s)
                ));
            } else if target.iter().any(|t| t == s) {
                errs.push(format!(
                    "exemptions.{k}[{i}]: Duplicate value: {}",
                    go_quote(s)
                ));
            } else {
                target.push(s.to_string());
            }
        }
    }
}

const DNS1123_LABEL_MSG: &str = "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')";
const DNS1123_SUBDOMAIN_MSG: &str = "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')";

/// `[a-z0-9]([-a-z0-9]*[a-z0-9])?`
fn is_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `validation.IsDNS1123Label` (namespace names).
fn dns1123_label(s: &str) -> Option<&'static str> {
    if s.len() > 63 {
        return Some("must be no more than 63 characters");
    }
    (!is_label(s)).then_some(DNS1123_LABEL_MSG)
}

/// `validation.IsDNS1123Subdomain` (RuntimeClass names).
fn dns1123_subdomain(s: &str) -> Option<&'static str> {
    if s.len() > 253 {
        return Some("must be no more than 253 characters");
    }
    (!s.split('.').all(is_label)).then_some(DNS1123_SUBDOMAIN_MSG)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(text: &str) -> PodSecurityConfiguration {
        match parse_text(text).unwrap() {
            ConfigDoc::Config(c) => c,
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn admission_configuration_v1_with_embedded_v1_config() {
        let c = cfg(r#"
apiVersion: apiserver.config.k8s.io/v1
kind: AdmissionConfiguration
plugins:
- name: PodSecurity
  configuration:
    apiVersion: pod-security.admission.config.k8s.io/v1
    kind: PodSecurityConfiguration
    defaults:
      enforce: baseline
      enforce-version: v1.29
      warn: restricted
    exemptions:
      usernames: [system:serviceaccount:kube-system:replicaset-controller]
      namespaces: [kube-system]
      runtimeClasses: [kata]
"#);
        assert_eq!(c.defaults.enforce.to_string(), "baseline:v1.29");
        assert_eq!(c.defaults.audit.to_string(), "privileged:latest");
        assert_eq!(c.defaults.warn.to_string(), "restricted:latest");
        assert!(c.exempt_namespace("kube-system"));
        assert!(!c.exempt_namespace(""));
        assert!(c.exempt_runtime_class(Some("kata")));
        assert!(!c.exempt_runtime_class(Some("")));
        assert!(c.exempt_user("system:serviceaccount:kube-system:replicaset-controller"));
    }

    #[test]
    fn every_config_version_defaults_to_privileged_latest() {
        for v in ["v1", "v1beta1", "v1alpha1"] {
            let c = cfg(&format!(
                "apiVersion: pod-security.admission.config.k8s.io/{v}\nkind: PodSecurityConfiguration\n"
            ));
            assert_eq!(c, PodSecurityConfiguration::default(), "{v}");
        }
        for av in [
            "apiserver.config.k8s.io/v1alpha1",
            "apiserver.k8s.io/v1alpha1",
        ] {
            let c = cfg(&format!(
                "apiVersion: {av}\nkind: AdmissionConfiguration\nplugins: []\n"
            ));
            assert_eq!(c, PodSecurityConfiguration::default());
        }
    }

    #[test]
    fn plugin_path_is_returned_to_the_caller() {
        let doc = parse_text(
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  path: psa.yaml\n",
        )
        .unwrap();
        assert_eq!(doc, ConfigDoc::PluginFile("psa.yaml".into()));
    }

    #[test]
    fn invalid_values_unknown_fields_and_duplicates_are_errors() {
        let err = parse_text(
            r#"
apiVersion: pod-security.admission.config.k8s.io/v1beta1
kind: PodSecurityConfiguration
defaults: {enforce: Restricted, audit-version: "1.25", enforc: baseline}
exemptions: {namespaces: [kube-system, kube-system, Bad_NS], runtimeClasses: [ok.example]}
extra: 1
"#,
        )
        .unwrap_err();
        let ConfigError::Invalid(errs) = err else {
            panic!()
        };
        assert!(
            errs.contains(&"unknown field \"extra\"".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.contains(&"unknown field \"defaults.enforc\"".to_string()),
            "{errs:?}"
        );
        assert!(
            errs.contains(&r#"defaults.enforce: Invalid value: "Restricted": must be one of privileged, baseline, restricted"#.to_string()),
            "{errs:?}"
        );
        assert!(
            errs.contains(
                &r#"defaults.audit-version: Invalid value: "1.25": must be "latest" or "v1.x""#
                    .to_string()
            )
        );
        assert!(
            errs.contains(
                &r#"exemptions.namespaces[1]: Duplicate value: "kube-system""#.to_string()
            )
        );
        assert!(errs.iter().any(|e| e.starts_with(
            r#"exemptions.namespaces[2]: Invalid value: "Bad_NS": a lowercase RFC 1123 label"#
        )));
    }

    #[test]
    fn wrong_kinds_are_rejected() {
        assert!(parse_text("apiVersion: v1\nkind: ConfigMap\n").is_err());
        assert!(parse_text("apiVersion: pod-security.admission.config.k8s.io/v2\nkind: PodSecurityConfiguration\n").is_err());
        assert_eq!(parse_text("# nothing\n"), Err(ConfigError::Empty));
    }
}
