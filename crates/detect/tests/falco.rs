//! Falco alerts through the detector: every rule of the Falco pack fires on the alerts it is
//! about and stays quiet on the others; one alert per Falco rule; located errors.

mod support;
use support::names;

use std::path::PathBuf;

use kubevigil_detect::rules::Events;
use kubevigil_detect::{DetectionAlert, FalcoSource};
use serde_json::{Value, json};

fn detect(files: &[PathBuf]) -> (Vec<DetectionAlert>, Vec<String>, u64) {
    support::run(Events::Falco, &mut FalcoSource::new(files))
}

/// A Falco alert of `rule` at `priority` for `pod` in `shop`, `second` seconds after 10:00.
fn alert(rule: &str, priority: &str, pod: &str, second: u32) -> Value {
    json!({
        "output": format!("10:00:00.000000000: {priority} {rule} | proc_name=bash"),
        "priority": priority,
        "rule": rule,
        "time": format!("2026-11-30T10:{:02}:{:02}.123456789Z", second / 60, second % 60),
        "output_fields": {
            "k8s.ns.name": "shop", "k8s.pod.name": pod, "container.name": "web",
            "container.id": "8c1f2e9a4b7d", "proc.name": "bash", "user.name": "root",
            "proc.cmdline": "bash"
        },
        "source": "syscall",
        "tags": ["container", "mitre_execution"],
        "hostname": "node-1"
    })
}

fn file(dir: &tempfile::TempDir, name: &str, alerts: &[Value]) -> PathBuf {
    let path = dir.path().join(name);
    let lines: Vec<String> = alerts.iter().map(Value::to_string).collect();
    std::fs::write(&path, lines.join("\n") + "\n").unwrap();
    path
}

#[test]
fn each_priority_maps_to_its_severity() {
    let dir = tempfile::tempdir().unwrap();
    for (priority, rule, severity) in [
        ("Emergency", "falco_priority_critical", "critical"),
        ("Alert", "falco_priority_critical", "critical"),
        ("Critical", "falco_priority_critical", "critical"),
        ("Error", "falco_priority_error", "high"),
        ("Warning", "falco_priority_warning", "medium"),
        ("Notice", "falco_priority_notice", "low"),
        ("Informational", "falco_priority_informational", "info"),
        ("Debug", "falco_priority_informational", "info"),
        // As falcosidekick reads it: case ignored.
        ("warning", "falco_priority_warning", "medium"),
    ] {
        let path = file(&dir, "a.json", &[alert("Some rule", priority, "web-1", 0)]);
        let (alerts, errors, events) = detect(&[path]);
        assert!(errors.is_empty(), "{errors:?}");
        assert_eq!(events, 1);
        assert_eq!(names(&alerts), [rule], "{priority}");
        assert_eq!(alerts[0].severity.to_string(), severity, "{priority}");
    }
}

#[test]
fn each_falco_rule_is_its_own_alert_and_repeats_fold() {
    let dir = tempfile::tempdir().unwrap();
    let path = file(
        &dir,
        "a.json",
        &[
            alert("Terminal shell in container", "Notice", "web-1", 0),
            alert("Terminal shell in container", "Notice", "web-1", 30),
            alert(
                "Launch Package Management Process in Container",
                "Notice",
                "web-1",
                60,
            ),
        ],
    );
    let (alerts, _, _) = detect(&[path]);
    let counts: Vec<(String, u64)> = alerts
        .iter()
        .map(|a| {
            let rule = a.first_event()["facts"]["falco"]["rule"].as_str().unwrap();
            (rule.to_string(), a.count)
        })
        .collect();
    assert_eq!(
        counts,
        [
            ("Terminal shell in container".to_string(), 2),
            (
                "Launch Package Management Process in Container".to_string(),
                1
            )
        ]
    );
    assert_eq!(alerts[0].who(), "bash (root) in container web");
}

#[test]
fn the_intrusion_chain_needs_three_different_rules_on_one_pod_within_ten_minutes() {
    let dir = tempfile::tempdir().unwrap();
    let chain = |rules: &[(&str, &str, &str, u32)]| -> Vec<String> {
        let alerts: Vec<Value> = rules
            .iter()
            .map(|(r, p, pod, s)| alert(r, p, pod, *s))
            .collect();
        let (alerts, _, _) = detect(&[file(&dir, "chain.json", &alerts)]);
        alerts
            .iter()
            .filter(|a| a.name() == "falco_intrusion_chain")
            .map(|a| format!("{:?}", a.group))
            .collect()
    };
    let shell = "Terminal shell in container";
    let read = "Read sensitive file untrusted";
    let drop = "Drop and execute new binary in container";
    // Fires: three rules, one pod, 9 minutes.
    let fired = chain(&[
        (shell, "Notice", "web-1", 0),
        (read, "Warning", "web-1", 60),
        (drop, "Critical", "web-1", 540),
    ]);
    assert_eq!(fired.len(), 1, "{fired:?}");
    assert!(fired[0].contains("web-1"), "{fired:?}");
    // Quiet: one rule repeated, two rules, three rules over three pods, over 11 minutes, or
    // with an Informational record as the third.
    for quiet in [
        vec![
            (shell, "Notice", "web-1", 0),
            (shell, "Notice", "web-1", 10),
            (shell, "Notice", "web-1", 20),
        ],
        vec![
            (shell, "Notice", "web-1", 0),
            (read, "Warning", "web-1", 10),
            (read, "Warning", "web-1", 20),
        ],
        vec![
            (shell, "Notice", "web-1", 0),
            (read, "Warning", "web-2", 10),
            (drop, "Critical", "web-3", 20),
        ],
        vec![
            (shell, "Notice", "web-1", 0),
            (read, "Warning", "web-1", 60),
            (drop, "Critical", "web-1", 660),
        ],
        vec![
            (shell, "Notice", "web-1", 0),
            (read, "Warning", "web-1", 60),
            (
                "Contact K8S API Server From Container",
                "Informational",
                "web-1",
                90,
            ),
        ],
    ] {
        assert!(chain(&quiet).is_empty(), "{quiet:?}");
    }
}

#[test]
fn what_is_not_a_falco_alert_is_located_and_the_rest_read() {
    let dir = tempfile::tempdir().unwrap();
    let good = alert("Terminal shell in container", "Notice", "web-1", 0).to_string();
    let mut no_fields = alert("X", "Notice", "web-1", 0);
    no_fields["output_fields"] = json!({});
    let text = format!(
        "{good}\nFri Nov 30 10:00:00 2026: Falco initialized with configuration file: /etc/falco/falco.yaml\n{{\"rule\": \"x\", \"priority\": \n  {}\n{}\n",
        json!({"rule": "x", "priority": "Loud", "time": "2026-11-30T10:00:00Z", "output_fields": {"a": 1}}),
        no_fields
    );
    let path = dir.path().join("mixed.json");
    std::fs::write(&path, text).unwrap();
    let (alerts, errors, events) = detect(&[path]);
    assert_eq!(events, 1);
    assert_eq!(alerts.len(), 1);
    assert_eq!(errors.len(), 4, "{errors:?}");
    assert!(
        errors[0].contains("mixed.json:2:1: invalid JSON"),
        "{}",
        errors[0]
    );
    assert!(errors[1].contains("mixed.json:3:"), "{}", errors[1]);
    assert!(
        errors[2].contains(":4:3: not a Falco alert: unknown priority \"Loud\""),
        "{}",
        errors[2]
    );
    assert!(
        errors[3].contains(":5:1: not a Falco alert: no output_fields"),
        "{}",
        errors[3]
    );
}
