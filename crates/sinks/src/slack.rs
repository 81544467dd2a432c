//! Slack incoming webhooks: one Block Kit message per notification.
//!
//! Untrusted text goes into `mrkdwn` and `plain_text` objects escaped as Slack asks (`&`, `<`,
//! `>` as HTML entities: otherwise `<!channel>` in an object name would ping a whole channel
//! and `<https://evil|docs>` would forge a link), with control characters made visible, and
//! cut to Block Kit's limits. The webhook URL holds Slack's token: it is never logged.

use std::time::Duration;

use bytes::Bytes;
use hyper::Uri;
use serde_json::{Value, json};

use crate::http::HttpClient;
use crate::notification::{Notification, Status};
use crate::worker::{DeliveryError, Sink};
use crate::{SinkError, redacted_url_error};

/// Block Kit's limits (characters): header text, section text, a section field.
const HEADER_MAX: usize = 150;
const SECTION_MAX: usize = 3000;
const FIELD_MAX: usize = 2000;

/// The incoming webhook.
#[derive(Clone, PartialEq, Eq)]
pub struct SlackConfig {
    /// `https://hooks.slack.com/services/...`: a secret.
    pub url: String,
    pub timeout: Duration,
}

// By hand: the URL is the secret.
impl std::fmt::Debug for SlackConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SlackConfig")
            .field("url", &"<redacted>")
            .field("timeout", &self.timeout)
            .finish()
    }
}

impl SlackConfig {
    pub fn new(url: &str) -> SlackConfig {
        SlackConfig {
            url: url.to_string(),
            timeout: Duration::from_secs(10),
        }
    }
}

/// The Slack sink.
pub struct Slack {
    client: HttpClient,
    endpoint: Uri,
}

impl Slack {
    pub fn new(config: SlackConfig) -> Result<Slack, SinkError> {
        let endpoint = config
            .url
            .parse::<Uri>()
            .map_err(|e| redacted_url_error(&e))?;
        Ok(Slack {
            client: HttpClient::new(config.timeout)?,
            endpoint,
        })
    }
}

impl Sink for Slack {
    // Slack takes one message per request (and about one request per second: its 429s carry
    // a Retry-After, which the worker honours).
    fn max_batch(&self) -> usize {
        1
    }

    async fn deliver(&self, batch: &[Notification]) -> Result<(), DeliveryError> {
        for n in batch {
            let body = Bytes::from(message(n).to_string());
            self.client.post_json(&self.endpoint, &[], body).await?;
        }
        Ok(())
    }
}

/// The Block Kit message of a notification.
pub fn message(n: &Notification) -> Value {
    let label = |k: &str| n.labels.get(k).map(String::as_str).unwrap_or("");
    let state = match n.status {
        Status::Firing => "FIRING",
        Status::Resolved => "RESOLVED",
    };
    let severity = n.severity.as_str().to_uppercase();
    let object = [label("namespace"), label("kind"), label("name")]
        .into_iter()
        .filter(|s| !s.is_empty())
        .collect::<Vec<_>>()
        .join("/");
    let title = format!("[{state}] [{severity}] {}", n.summary());

    let mut fields = vec![
        field("Severity", n.severity.as_str()),
        field("Rule", label("rule")),
    ];
    if !object.is_empty() {
        fields.push(field("Object", &object));
    }
    if !label("cluster").is_empty() {
        fields.push(field("Cluster", label("cluster")));
    }
    let mut blocks = vec![
        json!({"type": "header", "text": {"type": "plain_text", "text": cut(&escape(&title), HEADER_MAX)}}),
        json!({"type": "section", "fields": fields}),
    ];
    if let Some(description) = n.annotations.get("description") {
        blocks.push(json!({
            "type": "section",
            "text": {"type": "mrkdwn", "text": cut(&escape(description), SECTION_MAX)},
        }));
    }
    let mut context = vec![json!({"type": "mrkdwn", "text": cut(&escape(&n.id), FIELD_MAX)})];
    if let Some(url) = n.annotations.get("runbook_url") {
        context.push(json!({"type": "mrkdwn", "text": format!("<{}|Runbook>", escape(url))}));
    }
    if let Some(url) = &n.generator_url {
        context.push(json!({"type": "mrkdwn", "text": format!("<{}|kubevigil>", escape(url))}));
    }
    blocks.push(json!({"type": "context", "elements": context}));
    json!({
        // What notifications and clients without Block Kit show.
        "text": cut(&escape(&format!("{title} {object}")), SECTION_MAX),
        "blocks": blocks,
    })
}

fn field(name: &str, value: &str) -> Value {
    json!({"type": "mrkdwn", "text": cut(&format!("*{name}*\n{}", escape(value)), FIELD_MAX)})
}

/// Control characters made visible, then `&`, `<`, `>` as Slack's entities.
pub fn escape(s: &str) -> String {
    kubevigil_model::escape_controls(s)
        .replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// At most `max` characters, the last an ellipsis when cut (never inside an entity).
fn cut(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max - 1).collect();
    if let Some(amp) = out.rfind('&').filter(|&i| !out[i..].contains(';')) {
        out.truncate(amp);
    }
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cut_keeps_limits_and_entities_whole() {
        assert_eq!(cut("abc", 3), "abc");
        assert_eq!(cut("abcd", 3), "ab…");
        assert_eq!(cut("a&lt;b", 4), "a…");
        assert_eq!(cut("ééééé", 4).chars().count(), 4);
    }

    #[test]
    fn the_url_is_not_in_debug_output() {
        let config = SlackConfig::new("https://hooks.slack.com/services/T0/B0/XXXXSECRET");
        assert!(!format!("{config:?}").contains("SECRET"));
    }
}
