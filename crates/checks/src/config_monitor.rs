//! The `monitor` section of the configuration: where `kubevigil monitor` sends notifications,
//! and which. Read by hand rather than by serde so that each error names the field it is about
//! (`monitor.sinks[1].minSeverity`), which the loader turns into `file:line:column`.

use std::path::PathBuf;

use kubevigil_model::{FieldPath, Severity};
use serde_json::{Map, Value};

use crate::config::ConfigError;

/// `monitor`.
#[derive(Debug, Default, Clone)]
pub struct MonitorConfig {
    /// Sinks besides those of the command line (`--alertmanager`, ...), in order.
    pub sinks: Vec<SinkConfig>,
    /// Which pods' logs the monitor follows (`monitor.podLogs`), besides the command line's.
    pub pod_logs: Option<PodLogsConfig>,
}

/// `monitor.podLogs`: `{namespaces: [...], selector: "app=web,tier=frontend", maxStreams: N}`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodLogsConfig {
    /// Empty: every namespace.
    pub namespaces: Vec<String>,
    /// Equality requirements (`key=value`, all of them).
    pub selector: Option<String>,
    pub max_streams: Option<u16>,
}

/// Where one sink is.
#[derive(Clone, PartialEq, Eq)]
pub enum SinkTarget {
    Alertmanager {
        url: String,
    },
    /// The URL holds the webhook's token: never shown.
    Slack {
        url: String,
    },
    Webhook {
        url: String,
        secret_file: PathBuf,
    },
}

// By hand: a Slack webhook URL is a secret.
impl std::fmt::Debug for SinkTarget {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SinkTarget::Alertmanager { url } => write!(f, "Alertmanager({url:?})"),
            SinkTarget::Slack { .. } => write!(f, "Slack(<redacted>)"),
            SinkTarget::Webhook { url, secret_file } => {
                write!(f, "Webhook({url:?}, secret file {secret_file:?})")
            }
        }
    }
}

/// One entry of `monitor.sinks`.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub target: SinkTarget,
    /// Notifications less severe are not sent to this sink.
    pub min_severity: Severity,
    /// Posture findings (new, reopened, resolved).
    pub findings: bool,
    /// Detections (audit alerts) and the monitor's own alerts.
    pub detections: bool,
    /// Only notifications about these namespaces; empty: all, cluster-scoped ones included.
    pub namespaces: Vec<String>,
    /// Only notifications of these check or rule ids (or globs over them); empty: all.
    pub rules: Vec<String>,
    /// Where the entry is (`monitor.sinks[1]`), for what is checked later (rule ids, once
    /// the detection rules are loaded).
    pub path: FieldPath,
}

const KEYS: [&str; 9] = [
    "alertmanager",
    "slack",
    "webhook",
    "secretFile",
    "minSeverity",
    "findings",
    "detections",
    "namespaces",
    "rules",
];

fn at(path: &FieldPath, message: impl Into<String>) -> ConfigError {
    ConfigError::At {
        path: path.clone(),
        message: message.into(),
    }
}

fn mapping<'a>(value: &'a Value, path: &FieldPath) -> Result<&'a Map<String, Value>, ConfigError> {
    value
        .as_object()
        .ok_or_else(|| at(path, "expected a mapping"))
}

fn string<'a>(value: &'a Value, path: &FieldPath) -> Result<&'a str, ConfigError> {
    value
        .as_str()
        .filter(|s| !s.is_empty())
        .ok_or_else(|| at(path, "expected a non-empty string"))
}

fn strings(value: &Value, path: &FieldPath) -> Result<Vec<String>, ConfigError> {
    let items = value
        .as_array()
        .ok_or_else(|| at(path, "expected a list of strings"))?;
    items
        .iter()
        .enumerate()
        .map(|(i, v)| string(v, &path.index(i)).map(String::from))
        .collect()
}

fn boolean(value: &Value, path: &FieldPath) -> Result<bool, ConfigError> {
    value
        .as_bool()
        .ok_or_else(|| at(path, "expected true or false"))
}

/// The URL of a sink: http or https. Not quoted in the error, as it may hold a token.
fn url(value: &Value, path: &FieldPath) -> Result<String, ConfigError> {
    let s = string(value, path)?;
    let lower = s.to_ascii_lowercase();
    if !(lower.starts_with("http://") || lower.starts_with("https://"))
        || s.contains(char::is_whitespace)
    {
        return Err(at(
            path,
            "expected an http:// or https:// URL (the value is not shown: it may hold a token)",
        ));
    }
    Ok(s.to_string())
}

/// Reads `monitor` (absent or null: nothing).
pub fn parse(value: Option<&Value>) -> Result<MonitorConfig, ConfigError> {
    let root = FieldPath::root().key("monitor");
    let Some(value) = value.filter(|v| !v.is_null()) else {
        return Ok(MonitorConfig::default());
    };
    let mut config = MonitorConfig::default();
    for (key, v) in mapping(value, &root)? {
        let path = root.key(key);
        match key.as_str() {
            "sinks" if v.is_null() => {}
            "sinks" => {
                let items = v
                    .as_array()
                    .ok_or_else(|| at(&path, "expected a list of sinks"))?;
                for (i, item) in items.iter().enumerate() {
                    config.sinks.push(sink(item, &path.index(i))?);
                }
            }
            "podLogs" if v.is_null() => {}
            "podLogs" => config.pod_logs = Some(pod_logs(v, &path)?),
            other => return Err(unknown(&path, other, &["sinks", "podLogs"])),
        }
    }
    Ok(config)
}

fn pod_logs(value: &Value, path: &FieldPath) -> Result<PodLogsConfig, ConfigError> {
    let mut out = PodLogsConfig::default();
    for (key, v) in mapping(value, path)? {
        let at_key = path.key(key);
        match key.as_str() {
            "namespaces" => out.namespaces = strings(v, &at_key)?,
            "selector" => out.selector = Some(string(v, &at_key)?.to_string()),
            "maxStreams" => {
                let n = v
                    .as_u64()
                    .filter(|n| (1..=1000).contains(n))
                    .ok_or_else(|| at(&at_key, "expected a number from 1 to 1000"))?;
                out.max_streams = Some(n as u16);
            }
            other => {
                return Err(unknown(
                    &at_key,
                    other,
                    &["namespaces", "selector", "maxStreams"],
                ));
            }
        }
    }
    Ok(out)
}

fn unknown(path: &FieldPath, key: &str, known: &[&str]) -> ConfigError {
    let near = crate::ids::closest(key, known);
    let expected = known.join(", ");
    match near {
        Some(n) => at(
            path,
            format!("unknown key {key:?}; did you mean `{n}`? (expected one of {expected})"),
        ),
        None => at(
            path,
            format!("unknown key {key:?} (expected one of {expected})"),
        ),
    }
}

fn sink(value: &Value, path: &FieldPath) -> Result<SinkConfig, ConfigError> {
    let map = mapping(value, path)?;
    let mut target: Option<(&str, String)> = None;
    let mut secret_file = None;
    let mut out = SinkConfig {
        target: SinkTarget::Alertmanager { url: String::new() },
        min_severity: Severity::Info,
        findings: true,
        detections: true,
        namespaces: Vec::new(),
        rules: Vec::new(),
        path: path.clone(),
    };
    for (key, v) in map {
        let at_key = path.key(key);
        match key.as_str() {
            kind @ ("alertmanager" | "slack" | "webhook") => {
                if let Some((first, _)) = target {
                    return Err(at(
                        &at_key,
                        format!("{first:?} and {kind:?} in one entry: one sink per entry"),
                    ));
                }
                target = Some((kind, url(v, &at_key)?));
            }
            "secretFile" => secret_file = Some((PathBuf::from(string(v, &at_key)?), at_key)),
            "minSeverity" => {
                let s = v
                    .as_str()
                    .ok_or_else(|| at(&at_key, "expected critical, high, medium, low or info"))?;
                out.min_severity = s.parse().map_err(|e: String| at(&at_key, e))?;
            }
            "findings" => out.findings = boolean(v, &at_key)?,
            "detections" => out.detections = boolean(v, &at_key)?,
            "namespaces" => out.namespaces = strings(v, &at_key)?,
            "rules" => {
                out.rules = strings(v, &at_key)?;
                for (i, r) in out.rules.iter().enumerate() {
                    crate::ids::glob(r).map_err(|e| {
                        at(
                            &at_key.index(i),
                            format!("invalid glob {r:?}: {}", e.kind()),
                        )
                    })?;
                }
            }
            other => return Err(unknown(&at_key, other, &KEYS)),
        }
    }
    let Some((kind, url)) = target else {
        return Err(at(
            path,
            "a sink needs one of alertmanager, slack or webhook (a URL)",
        ));
    };
    out.target = match (kind, secret_file) {
        ("webhook", Some((secret_file, _))) => SinkTarget::Webhook { url, secret_file },
        ("webhook", None) => {
            return Err(at(
                path,
                "a webhook sink needs secretFile (the file holding its HMAC signing secret)",
            ));
        }
        (_, Some((_, at_secret))) => {
            return Err(at(
                &at_secret,
                format!("secretFile is for webhook sinks, not {kind}"),
            ));
        }
        ("slack", None) => SinkTarget::Slack { url },
        (_, None) => SinkTarget::Alertmanager { url },
    };
    if !out.findings && !out.detections {
        return Err(at(
            path,
            "findings and detections are both false: the sink would receive nothing",
        ));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Config;
    use serde_json::json;

    fn error(monitor: Value) -> String {
        Config::from_value(json!({ "monitor": monitor }), &[])
            .unwrap_err()
            .to_string()
    }

    #[test]
    fn pod_logs_selection() {
        let c = Config::from_value(
            json!({"monitor": {"podLogs": {"namespaces": ["shop"], "selector": "app=web", "maxStreams": 5}}}),
            &[],
        )
        .unwrap();
        assert_eq!(
            c.monitor.pod_logs,
            Some(PodLogsConfig {
                namespaces: vec!["shop".into()],
                selector: Some("app=web".into()),
                max_streams: Some(5),
            })
        );
        let none = Config::from_value(json!({"monitor": {}}), &[]).unwrap();
        assert_eq!(none.monitor.pod_logs, None);
        assert!(
            error(json!({"podLogs": {"maxStreams": 0}})).contains("monitor.podLogs.maxStreams")
        );
        let typo = error(json!({"podLogs": {"namespace": ["shop"]}}));
        assert!(typo.contains("did you mean `namespaces`"), "{typo}");
    }

    #[test]
    fn sinks_with_their_filters() {
        let c = Config::from_value(
            json!({"monitor": {"sinks": [
                {"alertmanager": "http://am:9093", "minSeverity": "high", "rules": ["pss-*"]},
                {"slack": "https://hooks.slack.com/services/T/B/secret", "findings": false,
                 "namespaces": ["shop"]},
                {"webhook": "https://h.example.com/k", "secretFile": "/s"},
            ]}}),
            &[],
        )
        .unwrap();
        let s = &c.monitor.sinks;
        assert_eq!(s.len(), 3);
        assert_eq!(
            s[0].target,
            SinkTarget::Alertmanager {
                url: "http://am:9093".into()
            }
        );
        assert_eq!(s[0].min_severity, Severity::High);
        assert_eq!(s[0].rules, ["pss-*"]);
        assert!(s[0].findings && s[0].detections);
        assert!(!s[1].findings && s[1].detections);
        assert_eq!(s[1].namespaces, ["shop"]);
        assert_eq!(s[1].path.to_string(), "monitor.sinks[1]");
        assert_eq!(
            s[2].target,
            SinkTarget::Webhook {
                url: "https://h.example.com/k".into(),
                secret_file: "/s".into()
            }
        );
        // The Slack URL is a secret: not in the debug output.
        assert!(!format!("{:?}", c.monitor).contains("secret\""));
        assert!(!format!("{:?}", s[1]).contains("hooks.slack.com"));
        assert!(Config::from_value(json!({"monitor": null}), &[]).is_ok());
    }

    #[test]
    fn each_mistake_names_its_field() {
        for (monitor, expected) in [
            (
                json!({"sinks": [{"alertmanager": "http://a", "minSeverty": "high"}]}),
                "monitor.sinks[0].minSeverty: unknown key \"minSeverty\"; did you mean `minSeverity`?",
            ),
            (
                json!({"sinks": [{"alertmanager": "http://a", "slack": "https://s"}]}),
                "monitor.sinks[0].slack: \"alertmanager\" and \"slack\" in one entry: one sink per entry",
            ),
            (
                json!({"sinks": [{"alertmanager": "http://a", "minSeverity": "urgent"}]}),
                "monitor.sinks[0].minSeverity: unknown severity \"urgent\" (expected critical, high, medium, low or info)",
            ),
            (
                json!({"sinks": [{"alertmanager": "http://a"}, {"minSeverity": "low"}]}),
                "monitor.sinks[1]: a sink needs one of alertmanager, slack or webhook",
            ),
            (
                json!({"sinks": [{"webhook": "http://a"}]}),
                "monitor.sinks[0]: a webhook sink needs secretFile",
            ),
            (
                json!({"sinks": [{"slack": "http://a", "secretFile": "/s"}]}),
                "monitor.sinks[0].secretFile: secretFile is for webhook sinks, not slack",
            ),
            (
                json!({"sinks": [{"slack": "hooks.slack.com/services/T/B/xyzzy"}]}),
                "monitor.sinks[0].slack: expected an http:// or https:// URL",
            ),
            (
                json!({"sinks": [{"alertmanager": "http://a", "rules": ["pss-["]}]}),
                "monitor.sinks[0].rules[0]: invalid glob \"pss-[\"",
            ),
            (
                json!({"sinks": [{"alertmanager": "http://a", "findings": false, "detections": false}]}),
                "the sink would receive nothing",
            ),
            (
                json!({"sinks": [{"alertmanager": "http://a", "findings": "yes"}]}),
                "monitor.sinks[0].findings: expected true or false",
            ),
            (json!({"sink": []}), "monitor.sink: unknown key \"sink\""),
            (json!(["x"]), "monitor: expected a mapping"),
        ] {
            let e = error(monitor.clone());
            assert!(e.contains(expected), "{monitor}: {e}");
            // A URL may hold a token: never in an error.
            assert!(!e.contains("xyzzy"), "{e}");
        }
    }
}
