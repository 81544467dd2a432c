//! `scan -o html` in a real browser: Debian's Chromium, headless, opens the report from a
//! `file://` URL. The page's script runs under its Content-Security-Policy with nothing logged
//! to the console (a blocked script or style would be), filters given in the URL's fragment
//! change the list, and a screenshot is written next to the test's binaries
//! (`html-report.png` under `CARGO_TARGET_TMPDIR`) for people to look at.
//!
//! Chromium is required (`.ci/run` installs it): without it the test fails, it never skips.

#[path = "support/chromium.rs"]
mod chromium;

use std::path::{Path, PathBuf};
use std::process::Command;

use chromium::{chromium, console_lines};

fn bin() -> Command {
    Command::new(env!("CARGO_BIN_EXE_kubevigil"))
}

fn repo(p: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..").join(p)
}

/// `N of M findings shown`, as the page's script wrote it.
fn shown(dom: &str) -> (usize, usize) {
    let at = dom
        .find(" findings shown")
        .unwrap_or_else(|| panic!("the script did not run: {dom}"));
    let words: Vec<&str> = dom[..at].rsplit('>').next().unwrap().split(' ').collect();
    (words[0].parse().unwrap(), words[2].parse().unwrap())
}

#[test]
fn the_report_works_in_chromium() {
    let dir = tempfile::tempdir().unwrap();
    let page = dir.path().join("report.html");
    let out = bin()
        .args(["scan", "-o", "html", "--output-file"])
        .arg(&page)
        .arg(repo("examples/insecure"))
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1), "{out:?}");
    let json = bin()
        .args(["scan", "-o", "json"])
        .arg(repo("examples/insecure"))
        .output()
        .unwrap();
    let report: serde_json::Value = serde_json::from_slice(&json.stdout).unwrap();
    let findings = report["findings"].as_array().unwrap();
    let critical = findings
        .iter()
        .filter(|f| f["severity"] == "critical")
        .count();
    assert!(critical > 0 && critical < findings.len());
    let url = format!("file://{}", page.display());

    // Unfiltered: every finding shown, nothing on the console.
    let out = chromium(&dir.path().join("p1"), &["--dump-dom"], &url);
    assert!(out.status.success(), "{out:?}");
    let dom = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown(&dom), (findings.len(), findings.len()));
    assert_eq!(console_lines(&out.stderr), Vec::<String>::new());

    // Filters from the fragment: only the critical findings' rows stay visible.
    let out = chromium(
        &dir.path().join("p2"),
        &["--dump-dom"],
        &format!("{url}#severity=critical"),
    );
    let dom = String::from_utf8_lossy(&out.stdout);
    assert_eq!(shown(&dom), (critical, findings.len()));
    let rows: Vec<&str> = dom.split("<tr data-severity=").skip(1).collect();
    assert_eq!(rows.len(), findings.len());
    for row in rows {
        let tag = &row[..row.find('>').unwrap()];
        assert_eq!(
            tag.starts_with("\"critical\""),
            !tag.contains(" hidden"),
            "{tag}"
        );
    }
    let out = chromium(
        &dir.path().join("p3"),
        &["--dump-dom"],
        &format!("{url}#q=docker.sock&status=open"),
    );
    let (n, _) = shown(&String::from_utf8_lossy(&out.stdout));
    assert!(n >= 1 && n < findings.len(), "{n}");
    assert_eq!(console_lines(&out.stderr), Vec::<String>::new());

    // A screenshot for people, at a desktop and a phone width.
    let shots = Path::new(env!("CARGO_TARGET_TMPDIR"));
    for (name, size) in [
        ("html-report.png", "1280,1000"),
        ("html-report-phone.png", "390,900"),
    ] {
        let png = shots.join(name);
        let out = chromium(
            &dir.path().join(name),
            &[
                &format!("--window-size={size}"),
                &format!("--screenshot={}", png.display()),
            ],
            &url,
        );
        assert!(out.status.success(), "{out:?}");
        let bytes = std::fs::read(&png).unwrap();
        assert!(
            bytes.starts_with(b"\x89PNG") && bytes.len() > 10_000,
            "{name}"
        );
    }
}
