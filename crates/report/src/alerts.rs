//! Detection alerts (`kubevigil audit detect`), rendered one at a time as they are raised: a
//! table for people, or the JSON contract one alert per line
//! ([`kubevigil_detect::DetectionAlert::to_json`]).

use std::io::{self, Write};

use kubevigil_detect::DetectionAlert;
use kubevigil_model::{Escaped, escape_controls};
use serde_json::Value;

/// Writes the alert as one line of JSON (the contract).
pub fn write_json_line(out: &mut impl Write, alert: &DetectionAlert) -> io::Result<()> {
    kubevigil_model::text::json::to_writer(&mut *out, &alert.to_json(), false)?;
    writeln!(out)
}

/// The alert table: `TIME SEVERITY COUNT WHO WHAT RULE`, the header before the first alert
/// (no alert, no header).
#[derive(Debug, Default)]
pub struct AlertTable {
    header_done: bool,
}

impl AlertTable {
    pub fn write(&mut self, out: &mut impl Write, a: &DetectionAlert) -> io::Result<()> {
        if !self.header_done {
            writeln!(
                out,
                "{:<24}  {:<8}  {:>5}  {:<28}  {:<40}  RULE",
                "TIME", "SEVERITY", "COUNT", "WHO", "WHAT"
            )?;
            self.header_done = true;
        }
        let first = a.events.first().cloned().unwrap_or(Value::Null);
        let who = match &a.group {
            Some(group) if !group.is_empty() => group
                .iter()
                .map(|(_, v)| v.as_str())
                .collect::<Vec<_>>()
                .join(","),
            _ => first["user"]["username"]
                .as_str()
                .unwrap_or("-")
                .to_string(),
        };
        let or = &first["objectRef"];
        let mut what = first["verb"].as_str().unwrap_or("-").to_string();
        let resource = match (or["resource"].as_str(), or["subresource"].as_str()) {
            (Some(r), Some(s)) => format!(" {r}/{s}"),
            (Some(r), None) => format!(" {r}"),
            _ => String::new(),
        };
        what.push_str(&resource);
        if or.is_null() {
            what.push(' ');
            what.push_str(first["requestURI"].as_str().unwrap_or(""));
        } else if let Some(ns) = or["namespace"].as_str() {
            what.push_str(&format!(" {ns}/"));
            what.push_str(or["name"].as_str().unwrap_or("*"));
        } else if let Some(n) = or["name"].as_str() {
            what.push_str(&format!(" {n}"));
        }
        writeln!(
            out,
            "{:<24}  {:<8}  {:>5}  {:<28}  {:<40}  {}",
            a.time.as_deref().unwrap_or("-"),
            a.severity.as_str(),
            a.count,
            // Escaped before truncation: the width counts what is shown.
            truncate(&escape_controls(&who), 28),
            truncate(&escape_controls(&what), 40),
            Escaped(&a.title)
        )
    }
}

fn truncate(s: &str, n: usize) -> String {
    if s.chars().count() <= n {
        s.to_string()
    } else {
        let mut t: String = s.chars().take(n - 1).collect();
        t.push('…');
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubevigil_model::Severity;
    use serde_json::json;

    fn alert(group: Option<Vec<(String, String)>>, event: Value) -> DetectionAlert {
        DetectionAlert {
            rule: "r1".into(),
            title: "Exec into a pod\x1b[31m".into(),
            severity: Severity::High,
            time: Some("2024-05-01T10:00:00.000Z".into()),
            tags: vec!["attack.execution".into()],
            group,
            count: 1,
            events: vec![event],
        }
    }

    #[test]
    fn table_header_once_then_one_line_per_alert_escaped_and_truncated() {
        let ev = json!({"user": {"username": "mallory\u{7}"}, "verb": "create",
            "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "default", "name": "web-0"}});
        let mut out = Vec::new();
        let mut table = AlertTable::default();
        table.write(&mut out, &alert(None, ev.clone())).unwrap();
        let long_group = vec![("user.username".into(), "x".repeat(40))];
        table.write(&mut out, &alert(Some(long_group), ev)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        assert!(lines[0].starts_with("TIME "));
        assert!(lines[1].contains("mallory\\a "), "{}", lines[1]);
        assert!(lines[1].ends_with("Exec into a pod\\e[31m"));
        assert!(lines[1].contains("create pods/exec default/web-0"));
        assert!(!text.contains('\x1b') && !text.contains('\u{7}'));
        assert!(lines[2].contains(&format!("{}…", "x".repeat(27))));
    }

    #[test]
    fn non_resource_requests_show_their_path() {
        let ev = json!({"verb": "get", "objectRef": null, "requestURI": "/healthz"});
        let mut out = Vec::new();
        AlertTable::default()
            .write(&mut out, &alert(None, ev))
            .unwrap();
        assert!(String::from_utf8(out).unwrap().contains("get /healthz"));
    }

    #[test]
    fn json_line_is_the_contract() {
        let ev = json!({"auditID": "a", "verb": "get", "requestURI": "/x", "requestObject": {"data": "c2VjcmV0"}});
        let mut out = Vec::new();
        write_json_line(&mut out, &alert(Some(vec![]), ev)).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert!(text.ends_with('\n') && text.lines().count() == 1);
        let v: Value = serde_json::from_str(&text).unwrap();
        let keys: Vec<&str> = v.as_object().unwrap().keys().map(String::as_str).collect();
        assert_eq!(
            keys,
            [
                "rule", "title", "severity", "time", "tags", "group", "count", "events"
            ]
        );
        assert_eq!(v["severity"], "high");
        assert_eq!(v["group"], json!({}));
        let event_keys: Vec<&str> = v["events"][0]
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            event_keys,
            [
                "auditID",
                "user",
                "sourceIPs",
                "verb",
                "objectRef",
                "responseStatus"
            ]
        );
        assert!(!text.contains("c2VjcmV0") && !text.contains("requestURI"));
    }
}
