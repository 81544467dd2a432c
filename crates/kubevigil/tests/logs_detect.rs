//! `kubevigil logs detect` (issue 19, point 1): the README's command on the bundled examples,
//! the alert JSON contract, exit codes, stdin as a stream, escaping and redaction.

use std::io::{BufRead, BufReader, Write};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

#[path = "support/cli.rs"]
mod cli;
use cli::kubevigil;

fn example_logs() -> Vec<String> {
    let root = concat!(env!("CARGO_MANIFEST_DIR"), "/../../examples/logs/pods");
    let mut files: Vec<String> = std::fs::read_dir(root)
        .unwrap()
        .map(|d| {
            let pod = d.unwrap().path();
            let c = std::fs::read_dir(&pod).unwrap().next().unwrap().unwrap();
            c.path().join("0.log").display().to_string()
        })
        .collect();
    files.sort();
    files
}

#[test]
fn the_examples_give_four_alerts_in_the_contract_and_exit_1() {
    let files = example_logs();
    let mut args = vec!["logs", "detect", "-o", "json", "--fail-on", "high"];
    args.extend(files.iter().map(String::as_str));
    let out = kubevigil(&args, "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    let alerts: Vec<Value> = stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let names: Vec<&str> = alerts.iter().map(|a| a["name"].as_str().unwrap()).collect();
    assert_eq!(
        names,
        [
            "pod_log_credential",
            "pod_log_crash_storm",
            "pod_log_auth_failure_burst",
            "pod_log_reverse_shell_or_miner"
        ]
    );
    let burst = &alerts[2];
    assert_eq!(burst["count"], 20);
    assert_eq!(burst["group"]["pod"], "db-0");
    assert_eq!(burst["action"]["resource"], "pods");
    assert_eq!(burst["action"]["subresource"], "log");
    assert_eq!(burst["action"]["namespace"], "shop");
    assert_eq!(burst["facts"]["log"]["container"], "postgres");
    assert!(burst["nextSteps"].as_array().is_some_and(|s| !s.is_empty()));
    // The connection string's password is in the example; never in the output.
    assert!(!stdout.contains("Wint3r-Is-C0ming") && !stderr.contains("Wint3r-Is-C0ming"));
    assert!(stderr.contains("250 events, 4 alerts"), "{stderr}");
}

#[test]
fn stdin_is_a_stream_and_names_the_pod_given() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(["logs", "detect", "-o", "json", "--namespace", "ci"])
        .args(["--pod", "runner-0", "--container", "job", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let mut stdin = child.stdin.take().unwrap();
    stdin
        .write_all(
            b"2026-11-30T10:00:00.5Z starting job\n2026-11-30T10:00:01Z xmrig 6.21 started\n",
        )
        .unwrap();
    stdin.flush().unwrap();
    // The alert arrives while the pipe is still open.
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let start = Instant::now();
    let first = lines.next().unwrap().unwrap();
    assert!(start.elapsed() < Duration::from_secs(10));
    let alert: Value = serde_json::from_str(&first).unwrap();
    assert_eq!(alert["name"], "pod_log_reverse_shell_or_miner");
    assert_eq!(alert["action"]["namespace"], "ci");
    assert_eq!(alert["action"]["name"], "runner-0");
    assert_eq!(alert["facts"]["log"]["container"], "job");
    assert_eq!(alert["time"], "2026-11-30T10:00:01.000Z");
    drop(stdin);
    assert_eq!(child.wait().unwrap().code(), Some(1));
}

#[test]
fn the_table_escapes_what_a_log_line_holds_and_bad_lines_exit_2() {
    let input = "2026-11-30T10:00:00Z stdout F \u{1b}]0;owned\u{7}xmrig \u{1b}[2J\n\
                 2026-11-30T10:00:01Z stdout X broken\n";
    let out = kubevigil(
        &["logs", "detect", "--namespace", "a", "--pod", "b", "-"],
        input,
    );
    let stdout = String::from_utf8(out.stdout).unwrap();
    let stderr = String::from_utf8(out.stderr).unwrap();
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stdout.contains('\u{1b}') && !stderr.contains('\u{1b}'));
    assert!(stdout.contains("\\e]0;owned\\axmrig"), "{stdout}");
    assert!(
        stderr.contains("-:2:29: malformed CRI log line: expected the tag F or P"),
        "{stderr}"
    );
}

#[test]
fn rules_list_and_an_unknown_rule_is_an_error() {
    let out = kubevigil(&["logs", "detect", "--list-rules"], "");
    let stdout = String::from_utf8(out.stdout).unwrap();
    assert_eq!(out.status.code(), Some(0));
    for r in [
        "pod_log_credential",
        "pod_log_auth_failure_burst",
        "pod_log_crash_storm",
        "pod_log_reverse_shell_or_miner",
    ] {
        assert!(stdout.contains(r), "{stdout}");
    }
    // A name of the audit pack is known (the configuration is shared), a typo is not.
    let out = kubevigil(&["logs", "detect", "--disable", "k8s_pod_exec", "-"], "");
    assert_eq!(out.status.code(), Some(0));
    let out = kubevigil(
        &["logs", "detect", "--disable", "pod_log_credentail", "-"],
        "",
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("pod_log_credential"));
}
