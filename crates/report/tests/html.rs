//! `scan -o html`: a self-contained page whose only style and script are the ones its
//! Content-Security-Policy allows by hash, every input value escaped (script, markup, control
//! and bidi characters in names, labels, messages and file names), and links that resolve.

use kubevigil_model::{DiagLevel, Diagnostic, Finding, Location, ObjectRef, Ref, Severity};
use kubevigil_report::html::{content_security_policy, render};
use kubevigil_report::{Report, RuleInfo, SuppressedFinding};

const HOSTILE: &str = "<script>alert(1)</script>\"'&\u{1b}[31m\u{202e}\u{0}";

fn finding(check: &str, severity: Severity, ns: &str, name: &str) -> Finding {
    Finding {
        check_id: check.to_string().into(),
        severity,
        title: "A title".into(),
        message: format!("container {HOSTILE} is bad"),
        object: ObjectRef {
            api_version: "apps/v1".into(),
            kind: "Deployment".into(),
            namespace: Some(ns.into()),
            name: name.into(),
        }
        .into(),
        location: Location::in_file(format!("dir/{HOSTILE}.yaml"), 4, 2, "spec.x".into()),
        remediation: "do <b>this</b>".into(),
        references: [
            Ref {
                framework: "CIS Kubernetes Benchmark",
                id: "5.2.2",
                url: "https://www.cisecurity.org/",
            },
            Ref {
                framework: "MITRE ATT&CK",
                id: "T1611",
                url: "javascript:alert(1)",
            },
        ]
        .iter()
        .map(|r| r.to_reference())
        .collect::<Vec<_>>()
        .into(),
        fingerprint: "f".into(),
    }
}

fn page() -> String {
    // A check that covers a control no finding breaks: it counts as covered, without findings.
    let rules = vec![RuleInfo {
        id: "a-check".into(),
        title: "A".into(),
        severity: Severity::High,
        category: "x".into(),
        doc: String::new(),
        references: &[
            Ref {
                framework: "CIS Kubernetes Benchmark",
                id: "5.2.1",
                url: "",
            },
            Ref {
                framework: "CIS Kubernetes Benchmark",
                id: "5.2.2",
                url: "https://www.cisecurity.org/",
            },
        ],
    }];
    let findings = vec![
        finding("a-check", Severity::High, "shop", "web"),
        finding(
            "b-check",
            Severity::Critical,
            &format!("ns{HOSTILE}"),
            HOSTILE,
        ),
        finding("a-check", Severity::Low, "shop", "web"),
    ];
    let suppressed = vec![SuppressedFinding {
        finding: finding("c-check", Severity::Medium, "shop", "db"),
        by: "annotation".into(),
        reason: format!("because {HOSTILE}"),
    }];
    let diagnostics = vec![Diagnostic {
        level: DiagLevel::Error,
        file: format!("{HOSTILE}.yaml"),
        line: 1,
        col: 1,
        message: format!("invalid YAML {HOSTILE}"),
    }];
    render(&Report {
        tool_version: "0.1.0",
        rules: &rules,
        findings: &findings,
        suppressed: &suppressed,
        diagnostics: &diagnostics,
        objects: &[],
    })
}

#[test]
fn every_input_value_is_escaped() {
    let html = page();
    // Only the report's own script element, and no raw control or bidi character.
    assert_eq!(html.matches("<script").count(), 1, "{html}");
    assert!(!html.contains("<b>this"), "markup from the input is text");
    for c in html.chars() {
        assert!(
            !kubevigil_model::text::is_unsafe(c) || c == '\n',
            "raw {c:?} in the page"
        );
    }
    assert!(
        html.contains("&lt;script&gt;alert(1)&lt;/script&gt;&quot;&apos;&amp;\\e[31m\\u{202e}\\0"),
        "{html}"
    );
    // A reference URL that is not https is not made a link.
    assert!(!html.contains("href=\"javascript:"), "{html}");
    assert!(html.contains("<a href=\"https://www.cisecurity.org/\" rel=\"noreferrer\">5.2.2</a>"));
}

#[test]
fn the_policy_allows_exactly_the_inline_style_and_script() {
    let html = page();
    let csp = content_security_policy();
    assert!(
        csp.starts_with("default-src 'none'; style-src 'sha256-"),
        "{csp}"
    );
    assert!(html.contains(&format!("content=\"{}\"", csp.replace('\'', "&apos;"))));
    let between = |open: &str, close: &str| {
        let start = html.find(open).unwrap() + open.len();
        let end = start + html[start..].find(close).unwrap();
        html[start..end].to_string()
    };
    use base64::Engine as _;
    use sha2::Digest as _;
    let hash = |t: &str| {
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha256::digest(t.as_bytes()))
    };
    assert!(csp.contains(&format!(
        "style-src 'sha256-{}'",
        hash(&between("<style>", "</style>"))
    )));
    assert!(csp.contains(&format!(
        "script-src 'sha256-{}'",
        hash(&between("<script>", "</script>"))
    )));
    // Nothing is fetched: no external URL in an element that loads one.
    for attr in ["src=", "<link", "@import", "url("] {
        assert!(!html.contains(attr), "{attr}");
    }
}

#[test]
fn rows_filters_and_object_links() {
    let html = page();
    // One row per finding and per suppressed finding, most severe first, suppressed last.
    let rows: Vec<&str> = html
        .split("<tr data-severity=\"")
        .skip(1)
        .map(|r| &r[..r.find('"').unwrap()])
        .collect();
    assert_eq!(rows, ["critical", "high", "low", "medium"]);
    assert_eq!(html.matches("data-status=\"suppressed\"").count(), 1);
    // Filter choices come from the findings.
    for option in [
        "<option value=\"a-check\">",
        "<option value=\"c-check\">",
        "<option value=\"shop\">",
    ] {
        assert!(html.contains(option), "{option}");
    }
    // Every object link has its section, and each object has one.
    let targets: Vec<&str> = html
        .split("<a href=\"#o")
        .skip(1)
        .map(|r| &r[..r.find('"').unwrap()])
        .filter(|t| t.bytes().all(|b| b.is_ascii_digit()))
        .collect();
    assert_eq!(targets.len(), 4);
    for t in &targets {
        assert!(html.contains(&format!("<article id=\"o{t}\">")), "o{t}");
    }
    assert_eq!(html.matches("<article id=").count(), 3);
    // Compliance: controls with their findings.
    assert!(
        html.contains("CIS Kubernetes Benchmark: 2 controls checked, 1 with findings, 1 without"),
        "{html}"
    );
    assert!(
        html.contains(
            "<tr><td>5.2.1</td><td><span class=\"pass\">none</span></td><td>a-check</td></tr>"
        ),
        "{html}"
    );
}

/// A scan with more findings than a page lists: the most severe are listed, the note says so,
/// the counts still cover every finding.
#[test]
fn a_huge_scan_lists_the_most_severe() {
    use kubevigil_report::html::MAX_ROWS;
    let rules: Vec<RuleInfo> = Vec::new();
    let mut findings: Vec<Finding> = (0..MAX_ROWS + 50)
        .map(|i| finding("a-check", Severity::Low, "shop", &format!("w{i}")))
        .collect();
    findings.push(finding("b-check", Severity::Critical, "shop", "worst"));
    let html = render(&Report {
        tool_version: "0.1.0",
        rules: &rules,
        findings: &findings,
        suppressed: &[],
        diagnostics: &[],
        objects: &[],
    });
    assert_eq!(html.matches("<tr data-severity=").count(), MAX_ROWS);
    assert!(html.contains("<tr data-severity=\"critical\""));
    assert!(html.contains(&format!(
        "The {MAX_ROWS} most severe of {} findings are listed",
        MAX_ROWS + 51
    )));
    assert_eq!(html.matches("<article id=").count(), MAX_ROWS);
    assert!(html.contains(&format!("{} findings", MAX_ROWS + 51)));
}
