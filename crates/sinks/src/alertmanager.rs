//! Alertmanager: notifications as alerts through its API v2 (`POST /api/v2/alerts`).
//!
//! Alertmanager keeps an alert until its `endsAt`; an alert sent without one resolves by itself
//! after `resolve_timeout` (5 minutes by default), which would resolve a finding that is still
//! open. So a firing finding is sent with `endsAt` [`AlertmanagerConfig::finding_ttl`] after
//! delivery (the monitor sends open findings again before that), a detection, which nothing
//! resolves, with [`AlertmanagerConfig::detection_ttl`], and a resolved finding with its
//! resolution time, which resolves the alert of the same labels at once.

use std::collections::BTreeMap;
use std::time::Duration;

use bytes::Bytes;
use hyper::Uri;
use hyper::header::{AUTHORIZATION, HeaderName, HeaderValue};
use kubevigil_model::escape_controls;
use kubevigil_model::time::format_rfc3339_ms;
use serde_json::{Map, Value, json};

use crate::http::HttpClient;
use crate::notification::{Notification, Source};
use crate::worker::{DeliveryError, Sink};
use crate::{SinkError, now_ms, redacted_url_error};

/// Where and how to send alerts.
#[derive(Clone, PartialEq, Eq)]
pub struct AlertmanagerConfig {
    /// Alertmanager's base URL (`http://alertmanager:9093`); `/api/v2/alerts` is appended.
    pub url: String,
    /// How long a firing finding stays active in Alertmanager without being sent again.
    pub finding_ttl: Duration,
    /// How long a detection stays active.
    pub detection_ttl: Duration,
    pub timeout: Duration,
    /// Alerts per request.
    pub max_batch: usize,
    /// The `Authorization` header value (`Bearer TOKEN`, `Basic BASE64`) when Alertmanager is
    /// behind an authenticating proxy: a secret, never logged.
    pub authorization: Option<String>,
}

// By hand: the authorization is a secret.
impl std::fmt::Debug for AlertmanagerConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AlertmanagerConfig")
            .field("url", &self.url)
            .field("finding_ttl", &self.finding_ttl)
            .field("detection_ttl", &self.detection_ttl)
            .field("timeout", &self.timeout)
            .field("max_batch", &self.max_batch)
            .field(
                "authorization",
                &self.authorization.as_ref().map(|_| "<redacted>"),
            )
            .finish()
    }
}

impl AlertmanagerConfig {
    pub fn new(url: &str) -> AlertmanagerConfig {
        AlertmanagerConfig {
            url: url.to_string(),
            finding_ttl: Duration::from_secs(24 * 3600),
            detection_ttl: Duration::from_secs(3600),
            timeout: Duration::from_secs(10),
            max_batch: 64,
            authorization: None,
        }
    }
}

/// The Alertmanager sink.
pub struct Alertmanager {
    client: HttpClient,
    endpoint: Uri,
    headers: Vec<(HeaderName, HeaderValue)>,
    config: AlertmanagerConfig,
}

impl Alertmanager {
    pub fn new(config: AlertmanagerConfig) -> Result<Alertmanager, SinkError> {
        let endpoint = format!("{}/api/v2/alerts", config.url.trim_end_matches('/'));
        let endpoint = endpoint
            .parse::<Uri>()
            .map_err(|e| redacted_url_error(&e))?;
        let mut headers = Vec::new();
        if let Some(value) = &config.authorization {
            let mut value = HeaderValue::from_str(value)
                .map_err(|_| SinkError::Header("authorization (not shown)".into()))?;
            // Keeps it out of hyper's own debug output too.
            value.set_sensitive(true);
            headers.push((AUTHORIZATION, value));
        }
        Ok(Alertmanager {
            client: HttpClient::new(config.timeout)?,
            endpoint,
            headers,
            config,
        })
    }
}

impl Sink for Alertmanager {
    fn max_batch(&self) -> usize {
        self.config.max_batch
    }

    async fn deliver(&self, batch: &[Notification]) -> Result<(), DeliveryError> {
        let body = alerts_body(batch, &self.config, now_ms());
        let body = Bytes::from(body.to_string());
        self.client
            .post_json(&self.endpoint, &self.headers, body)
            .await
    }
}

/// The request body: an array of postable alerts (Alertmanager's OpenAPI `postableAlerts`).
pub fn alerts_body(batch: &[Notification], config: &AlertmanagerConfig, now_ms: i64) -> Value {
    Value::Array(
        batch
            .iter()
            .map(|n| postable_alert(n, config, now_ms))
            .collect(),
    )
}

fn postable_alert(n: &Notification, config: &AlertmanagerConfig, now_ms: i64) -> Value {
    let ends_at_ms = n.ends_at_ms.unwrap_or_else(|| {
        let ttl = match n.source {
            Source::Finding => config.finding_ttl,
            Source::Detection => config.detection_ttl,
        };
        now_ms + ttl.as_millis() as i64
    });
    // Alertmanager refuses an alert that ends before it starts (an event time ahead of the
    // clock, a resolution recorded by a skewed clock).
    let ends_at_ms = ends_at_ms.max(n.starts_at_ms);
    let mut alert = json!({
        "labels": label_set(&n.labels),
        "annotations": annotations(&n.annotations),
        "startsAt": format_rfc3339_ms(n.starts_at_ms),
        "endsAt": format_rfc3339_ms(ends_at_ms),
    });
    if let Some(url) = &n.generator_url {
        alert["generatorURL"] = Value::String(escape_controls(url).into_owned());
    }
    alert
}

/// Labels with names Alertmanager accepts and values without control characters.
fn label_set(labels: &BTreeMap<String, String>) -> Map<String, Value> {
    labels
        .iter()
        .map(|(k, v)| {
            (
                sanitize_label_name(k),
                Value::String(escape_controls(v).into_owned()),
            )
        })
        .collect()
}

fn annotations(annotations: &BTreeMap<String, String>) -> Map<String, Value> {
    annotations
        .iter()
        .map(|(k, v)| {
            (
                sanitize_label_name(k),
                Value::String(escape_controls(v).into_owned()),
            )
        })
        .collect()
}

/// A label name of Prometheus's classic syntax `[a-zA-Z_][a-zA-Z0-9_]*`: every other character
/// becomes `_`, and a leading digit gets a `_` before it.
pub fn sanitize_label_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len() + 1);
    if !name.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_') {
        out.push('_');
        if !name.starts_with(|c: char| c.is_ascii_digit()) {
            // The offending first character itself becomes the `_`.
            return out + &sanitize_rest(name.chars().skip(1));
        }
    }
    out + &sanitize_rest(name.chars())
}

fn sanitize_rest(chars: impl Iterator<Item = char>) -> String {
    chars
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '_' {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_names_are_sanitised() {
        assert_eq!(sanitize_label_name("alertname"), "alertname");
        assert_eq!(
            sanitize_label_name("app.kubernetes.io/name"),
            "app_kubernetes_io_name"
        );
        assert_eq!(sanitize_label_name("9lives"), "_9lives");
        assert_eq!(sanitize_label_name("-x"), "_x");
        assert_eq!(sanitize_label_name(""), "_");
        assert_eq!(sanitize_label_name("naïve"), "na_ve");
        assert_eq!(sanitize_label_name("_ok_1"), "_ok_1");
    }
}

#[cfg(test)]
mod body_tests {
    use super::*;
    use crate::notification::{Change, Status};

    fn notification() -> Notification {
        let mut labels = BTreeMap::new();
        labels.insert("name".into(), "evil\u{1b}]0;pwned\u{7}\n".into());
        labels.insert("app.kubernetes.io/name".into(), "x".into());
        let mut annotations = BTreeMap::new();
        annotations.insert("summary".into(), "line1\r\nline2 \u{202e}txt".into());
        Notification {
            id: "i".into(),
            source: Source::Finding,
            status: Status::Firing,
            change: Some(Change::New),
            severity: kubevigil_model::Severity::Low,
            labels,
            annotations,
            starts_at_ms: 1_000,
            ends_at_ms: None,
            generator_url: None,
            refresh: false,
        }
    }

    #[test]
    fn untrusted_text_is_escaped_and_names_sanitised() {
        let config = AlertmanagerConfig::new("http://am");
        let body = alerts_body(&[notification()], &config, 2_000);
        let alert = &body[0];
        assert_eq!(alert["labels"]["name"], "evil\\e]0;pwned\\a\\n");
        assert_eq!(alert["labels"]["app_kubernetes_io_name"], "x");
        assert_eq!(
            alert["annotations"]["summary"],
            "line1\\r\\nline2 \\u{202e}txt"
        );
        assert!(alert.get("generatorURL").is_none());
    }

    #[test]
    fn firing_ends_after_its_ttl_and_resolved_at_its_resolution() {
        let config = AlertmanagerConfig::new("http://am");
        let firing = notification();
        let body = alerts_body(std::slice::from_ref(&firing), &config, 2_000);
        assert_eq!(body[0]["startsAt"], "1970-01-01T00:00:01.000Z");
        assert_eq!(
            body[0]["endsAt"],
            format_rfc3339_ms(2_000 + config.finding_ttl.as_millis() as i64)
        );
        let resolved = Notification {
            status: Status::Resolved,
            ends_at_ms: Some(3_000),
            ..firing.clone()
        };
        let body = alerts_body(&[resolved], &config, 9_000);
        assert_eq!(body[0]["endsAt"], "1970-01-01T00:00:03.000Z");
        // A resolution stamped before the start (clock skew) ends at the start, not before.
        let skewed = Notification {
            ends_at_ms: Some(500),
            ..firing
        };
        let body = alerts_body(&[skewed], &config, 9_000);
        assert_eq!(body[0]["endsAt"], body[0]["startsAt"]);
    }
}
