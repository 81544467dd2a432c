//! Headless Chromium (Debian's `chromium`) for the browser tests: a page loaded from a URL,
//! its DOM or a screenshot, and its console as Chromium logs it. Chromium is required (`.ci/run`
//! installs it): without it a test fails, it never skips.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn chromium_path() -> PathBuf {
    for name in ["chromium", "chromium-browser"] {
        if let Ok(out) = Command::new("sh")
            .args(["-c", &format!("command -v {name}")])
            .output()
            && out.status.success()
        {
            return PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
        }
    }
    panic!("chromium is not installed (Debian package chromium; .ci/run installs it)");
}

/// Headless Chromium on `url` with `args` (`--dump-dom`, `--screenshot=...`), flags that keep
/// it off the network, its console logged to stderr.
pub fn chromium(profile: &Path, args: &[&str], url: &str) -> Output {
    Command::new(chromium_path())
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--enable-logging=stderr",
            "--v=0",
        ])
        .arg(format!("--user-data-dir={}", profile.display()))
        .args(args)
        .arg(url)
        .output()
        .expect("chromium runs")
}

/// The page's console messages (CSP violations included) as Chromium logs them.
pub fn console_lines(stderr: &[u8]) -> Vec<String> {
    String::from_utf8_lossy(stderr)
        .lines()
        .filter(|l| l.contains(":CONSOLE"))
        .map(String::from)
        .collect()
}
