//! Terminal injection (issue 10, defect 5): control characters, C1 controls and bidi overrides
//! in names, namespaces, labels, file names and audit fields never reach the operator's
//! terminal raw, in any human-readable output, on stdout or stderr; they are shown in the
//! visible form of `kubevigil_model::escape_controls` (`\e`, `\a`, `\r`, `\u{9b}`, ...).
//!
//! `KUBEVIGIL_BIN` runs these tests against another build (for example a release build of an
//! older main, to see them fail there).

use std::io::Write;
use std::path::Path;
use std::process::{Command, Output, Stdio};

use serde_json::{Value, json};

/// The issue's reproducer: sets the window title, clears the screen.
const HOSTILE_NAME: &str = "e\u{1b}]0;owned\u{7}\u{1b}[2J";
/// How the table shows it.
const HOSTILE_SHOWN: &str = "e\\e]0;owned\\a\\e[2J";

fn bin() -> Command {
    Command::new(
        std::env::var_os("KUBEVIGIL_BIN").unwrap_or_else(|| env!("CARGO_BIN_EXE_kubevigil").into()),
    )
}

fn run(args: &[&str], stdin: &[u8]) -> Output {
    let mut child = bin()
        .args(args)
        .env_remove("NO_COLOR")
        .env_remove("KUBEVIGIL_LOG")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run kubevigil");
    child.stdin.take().unwrap().write_all(stdin).unwrap();
    child.wait_with_output().unwrap()
}

fn arg(p: &Path) -> &str {
    p.to_str().unwrap()
}

/// Characters that act on a terminal or reorder text: C0 (but the layout's own `\n` and `\t`),
/// DEL, C1, bidi controls and line/paragraph separators.
fn is_hostile(c: char) -> bool {
    (c.is_control() && c != '\n' && c != '\t')
        || matches!(
            c,
            '\u{061C}'
                | '\u{200E}'
                | '\u{200F}'
                | '\u{202A}'..='\u{202E}'
                | '\u{2066}'..='\u{2069}'
                | '\u{2028}'
                | '\u{2029}'
        )
}

/// Asserts that `bytes` hold no hostile character. With `color`, the tool's own SGR sequences
/// (`ESC [ digits/semicolons m`) are allowed; returns how many there were.
fn assert_clean(what: &str, bytes: &[u8], color: bool) -> usize {
    let text = std::str::from_utf8(bytes).unwrap_or_else(|e| panic!("{what}: not UTF-8: {e}"));
    let mut sgr = 0;
    let mut chars = text.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        if color && c == '\u{1b}' {
            let rest = &text[i + 1..];
            let params = rest.strip_prefix('[').map(|r| {
                r.len()
                    - r.trim_start_matches(|c: char| c.is_ascii_digit() || c == ';')
                        .len()
            });
            if let Some(n) = params
                && rest[1 + n..].starts_with('m')
            {
                sgr += 1;
                for _ in 0..n + 2 {
                    chars.next();
                }
                continue;
            }
        }
        assert!(
            !is_hostile(c),
            "{what}: raw {c:?} at byte {i}: {:?}",
            &text[i.saturating_sub(40)..(i + 40).min(text.len())]
        );
    }
    sgr
}

fn assert_output_clean(what: &str, out: &Output) {
    assert_clean(&format!("{what} stdout"), &out.stdout, false);
    assert_clean(&format!("{what} stderr"), &out.stderr, false);
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A privileged Pod in a hostile namespace, with hostile names, labels and a hostile container
/// name, in a file whose name holds controls; a Namespace whose Pod Security label is invalid
/// and hostile; a document with a syntax error (a diagnostic naming the file).
fn hostile_manifests(dir: &Path) -> std::path::PathBuf {
    let ns = "ns\u{1b}[31m\r\u{9b}2J";
    let pod = json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": HOSTILE_NAME, "namespace": ns,
            "labels": {"app\u{1b}[8m": "x\u{202e}gnp.exe", "tier": "a\nFAKE LINE"}},
        "spec": {"hostPID": true, "containers": [{"name": "c\u{1b}[1m\u{7f}", "image": "nginx\u{85}:latest",
            "securityContext": {"privileged": true}}]}
    });
    let namespace = json!({
        "apiVersion": "v1", "kind": "Namespace",
        "metadata": {"name": ns, "labels": {"pod-security.kubernetes.io/enforce": "strict\u{1b}[2J\u{7}"}}
    });
    // One object per JSON file.
    std::fs::write(dir.join("pods\u{1b}[2J\r\u{2066}.json"), pod.to_string()).unwrap();
    std::fs::write(dir.join("namespace.json"), namespace.to_string()).unwrap();
    std::fs::write(
        dir.join("broken\u{1b}]0;x\u{7}.yaml"),
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: [\n",
    )
    .unwrap();
    dir.to_path_buf()
}

#[test]
fn scan_table_shows_hostile_names_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let root = hostile_manifests(dir.path());
    for color in ["never", "always"] {
        let out = run(&["scan", "--color", color, arg(&root)], b"");
        assert_eq!(out.status.code(), Some(2), "the broken file is an error");
        let colours = assert_clean("scan stdout", &out.stdout, color == "always");
        assert_eq!(
            colours > 0,
            color == "always",
            "the tool's own colours still work"
        );
        assert_clean("scan stderr", &out.stderr, false);
        let text = stdout(&out);
        assert!(text.contains(HOSTILE_SHOWN), "{text}");
        assert!(text.contains("ns\\e[31m\\r\\u{9b}2J"), "{text}");
        assert!(text.contains("pods\\e[2J\\r\\u{2066}.json"), "{text}");
        assert!(text.contains("broken\\e]0;x\\a.yaml"), "{text}");
    }
    // Machine formats send their diagnostics to stderr too.
    for format in [
        "json",
        "sarif",
        "junit",
        "policyreport",
        "openreports",
        "html",
    ] {
        let out = run(&["scan", "-o", format, arg(&root)], b"");
        assert_clean(&format!("scan -o {format} stderr"), &out.stderr, false);
        assert!(
            String::from_utf8_lossy(&out.stderr).contains("broken\\e]0;x\\a.yaml"),
            "{format}"
        );
    }
    // JUnit: forbidden C0 controls are shown, not dropped, and the XML stays well formed.
    let out = run(&["scan", "-o", "junit", arg(&root)], b"");
    let xml = stdout(&out);
    assert!(xml.contains(HOSTILE_SHOWN), "{xml}");
    assert_clean("junit", xml.as_bytes(), false);
    // Report objects: hostile names and messages are YAML double-quoted with visible escapes.
    for format in ["policyreport", "openreports", "html"] {
        let out = run(&["scan", "-o", format, arg(&root)], b"");
        assert_clean(format, &out.stdout, false);
    }
}

#[test]
fn pss_tables_show_hostile_names_and_labels_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let root = hostile_manifests(dir.path());
    for mode in [
        &["--level", "restricted"][..],
        &[][..],
        &["--what-if", "restricted"][..],
    ] {
        let mut args = vec!["pss"];
        args.extend_from_slice(mode);
        args.push(arg(&root));
        let out = run(&args, b"");
        assert_output_clean(&format!("pss {mode:?}"), &out);
        let text = stdout(&out);
        assert!(
            text.contains("e\\e]0;owned\\a\\e[2J"),
            "pss {mode:?}:\n{text}"
        );
        assert!(
            text.contains("ns\\e[31m\\r\\u{9b}2J"),
            "pss {mode:?}:\n{text}"
        );
    }
    // The namespace-aware table quotes the invalid label value (Go-quoted, as upstream does).
    let out = run(&["pss", arg(&root)], b"");
    assert!(
        stdout(&out).contains("\"strict\\x1b[2J\\a\""),
        "{}",
        stdout(&out)
    );
}

fn audit_event(i: usize, patch: Value) -> Value {
    let mut ev = json!({
        "kind": "Event", "apiVersion": "audit.k8s.io/v1", "level": "Metadata",
        "auditID": format!("id-{i}"), "stage": "ResponseComplete",
        "requestURI": "/api/v1/namespaces/default/pods/web/exec?command=id", "verb": "create",
        "user": {"username": "eve\u{1b}[2J\r\u{7}", "groups": ["system:authenticated"]},
        "sourceIPs": ["203.0.113.7"], "userAgent": "kubectl/v1.30.0",
        "objectRef": {"resource": "pods", "subresource": "exec", "namespace": "default",
            "name": "w\u{1b}]0;o\u{7}\r", "apiVersion": "v1"},
        "responseStatus": {"metadata": {}, "code": 200},
        "requestReceivedTimestamp": "2024-05-01T10:00:00.000000Z",
        "stageTimestamp": "2024-05-01T10:00:01.000000Z"
    });
    if let (Value::Object(ev), Value::Object(p)) = (&mut ev, patch) {
        ev.extend(p);
    }
    ev
}

#[test]
fn audit_detect_table_shows_hostile_who_and_what_escaped() {
    let log = format!("{}\n", audit_event(1, json!({})));
    let out = run(
        &["audit", "detect", "--fail-on", "none", "-"],
        log.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_output_clean("audit detect", &out);
    let text = stdout(&out);
    assert!(text.contains("Command executed in a pod"), "{text}");
    assert!(text.contains("eve\\e[2J\\r\\a"), "WHO:\n{text}");
    assert!(text.contains("default/w\\e]0;o\\a\\r"), "WHAT:\n{text}");
}

#[test]
fn audit_policy_simulate_table_shows_hostile_path_and_user_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let policy = dir.path().join("policy\u{1b}[2J.yaml");
    std::fs::write(
        &policy,
        "apiVersion: audit.k8s.io/v1\nkind: Policy\nrules:\n- level: None\n",
    )
    .unwrap();
    // A non-resource request (no objectRef): the table shows its path.
    let mut ev = audit_event(
        1,
        json!({"requestURI": "/healthz\u{1b}]0;owned\u{7}\u{202e}", "verb": "get"}),
    );
    ev.as_object_mut().unwrap().remove("objectRef");
    let log = format!("{ev}\n{}\n", audit_event(2, json!({})));
    let out = run(
        &["audit", "policy", "simulate", "--policy", arg(&policy), "-"],
        log.as_bytes(),
    );
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_output_clean("audit policy simulate", &out);
    let text = stdout(&out);
    assert!(
        text.contains("/healthz\\e]0;owned\\a\\u{202e}"),
        "PATH:\n{text}"
    );
    assert!(text.contains("eve\\e[2J\\r\\a"), "USER:\n{text}");
    assert!(text.contains("policy\\e[2J.yaml"), "{text}");
}

#[test]
fn netpol_text_formats_cannot_be_broken_by_names() {
    let dir = tempfile::tempdir().unwrap();
    let name = "a|b\"c\\\u{1b}[2J\r\nX";
    let deploy = |n: &str| {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": n, "namespace": "shop"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "x"}},
            "spec": {"containers": [{"name": "c", "image": "nginx:1"}]}}}})
    };
    std::fs::write(dir.path().join("a.json"), deploy(name).to_string()).unwrap();
    std::fs::write(dir.path().join("b.json"), deploy("plain").to_string()).unwrap();
    let file = dir.path();
    for format in ["table", "md", "csv", "dot"] {
        let out = run(&["netpol", "connectivity", "-o", format, arg(file)], b"");
        assert_output_clean(&format!("netpol -o {format}"), &out);
        let text = stdout(&out);
        // Markdown and DOT then escape the backslashes of the visible form once more.
        let shown = match format {
            "md" | "dot" => "\\\\e[2J\\\\r\\\\nX",
            _ => "\\e[2J\\r\\nX",
        };
        assert!(text.contains(shown), "{format}:\n{text}");
        let rows: Vec<&str> = text.lines().filter(|l| l.contains("plain")).collect();
        assert!(!rows.is_empty(), "{format}:\n{text}");
        match format {
            "md" => {
                for row in text.lines().skip(2).filter(|l| l.starts_with('|')) {
                    // Cell separators: `|` not escaped by a backslash (`\\` is an escaped one).
                    let (mut cells, mut chars) = (0, row.chars());
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => {
                                chars.next();
                            }
                            '|' => cells += 1,
                            _ => {}
                        }
                    }
                    assert_eq!(cells, 4, "one row, three cells: {row}");
                }
            }
            "csv" => {
                for row in text.lines().skip(1) {
                    // Quoted fields: the `,` and `"` inside them do not split.
                    let (mut fields, mut quoted) = (1, false);
                    for c in row.chars() {
                        match c {
                            '"' => quoted = !quoted,
                            ',' if !quoted => fields += 1,
                            _ => {}
                        }
                    }
                    assert!(!quoted && fields == 3, "{row}");
                }
            }
            "dot" => {
                // Every quote that is not escaped opens or closes an ID: they pair up per line.
                for line in text.lines() {
                    let mut unescaped = 0;
                    let mut chars = line.chars();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => {
                                chars.next();
                            }
                            '"' => unescaped += 1,
                            _ => {}
                        }
                    }
                    assert_eq!(unescaped % 2, 0, "{line}");
                }
            }
            _ => {}
        }
    }
}

#[test]
fn log_lines_are_escaped() {
    let dir = tempfile::tempdir().unwrap();
    let root = hostile_manifests(dir.path());
    let baseline = dir.path().join("base\u{1b}[2J\r\nFAKE: line.json");
    let out = run(
        &[
            "--log-level",
            "info",
            "scan",
            "-o",
            "json",
            "--baseline-write",
            arg(&baseline),
            arg(&root),
        ],
        b"",
    );
    // The log's own colours (if any) are allowed; nothing from the input.
    assert_clean("log", &out.stderr, true);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("baseline written"), "{stderr}");
    assert!(
        stderr.contains("base\\e[2J\\r\\nFAKE: line.json"),
        "{stderr}"
    );
}

#[test]
fn errors_at_the_binary_edge_are_escaped() {
    let out = run(
        &["scan", "--config", "no\u{1b}]0;such\u{7}\r\nfile", "-"],
        b"",
    );
    assert_eq!(out.status.code(), Some(2));
    assert_output_clean("error", &out);
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("no\\e]0;such\\a\\r\\nfile"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// JSON escapes C0 controls itself; DEL, C1 and bidi controls are written as `\uXXXX` too, so
/// that `-o json` on a terminal is as safe as the tables, and the document parses back exactly.
#[test]
fn json_outputs_carry_no_raw_c1_or_bidi_control() {
    let dir = tempfile::tempdir().unwrap();
    let root = hostile_manifests(dir.path());
    let check = |what: &str, out: &Output, docs: Vec<Value>| {
        assert_output_clean(what, out);
        assert!(!docs.is_empty(), "{what}");
        fn strings(v: &Value, out: &mut Vec<String>) {
            match v {
                Value::String(s) => out.push(s.clone()),
                Value::Array(a) => a.iter().for_each(|v| strings(v, out)),
                Value::Object(m) => m.iter().for_each(|(k, v)| {
                    out.push(k.clone());
                    strings(v, out)
                }),
                _ => {}
            }
        }
        let mut all = Vec::new();
        docs.iter().for_each(|d| strings(d, &mut all));
        assert!(
            all.iter().any(|s| s.contains("ns\u{1b}[31m\r\u{9b}2J")),
            "{what}: the exact text comes back: {all:?}"
        );
    };
    for args in [
        &["scan", "-o", "json"][..],
        &["scan", "-o", "sarif"][..],
        &["pss", "-o", "json", "--level", "restricted"][..],
        &["pss", "-o", "json"][..],
        &["pss", "-o", "json", "--what-if", "baseline"][..],
    ] {
        let mut a = args.to_vec();
        a.push(arg(&root));
        let out = run(&a, b"");
        let doc: Value =
            serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{args:?}: {e}"));
        check(&format!("{args:?}"), &out, vec![doc]);
    }
    let mut ev = audit_event(1, json!({}));
    ev["objectRef"]["namespace"] = json!("ns\u{1b}[31m\r\u{9b}2J");
    let log = format!("{ev}\n");
    let out = run(
        &["audit", "detect", "-o", "json", "--fail-on", "none", "-"],
        log.as_bytes(),
    );
    let docs = stdout(&out)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    check("audit detect -o json", &out, docs);
}
