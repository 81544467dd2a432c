use crate::sinks::fixtures::{SECRET, alert, finding};
use crate::{Signal, Sink};

use super::{StdoutConfig, StdoutSink};

fn lines(color: bool) -> String {
    let mut sink = StdoutSink::new(Vec::new(), StdoutConfig { color });
    sink.send(&Signal::finding(&finding(), None)).unwrap();
    sink.send(&Signal::alert(&alert())).unwrap();
    sink.flush().unwrap();
    String::from_utf8(sink.into_inner()).unwrap()
}

#[test]
fn a_finding_and_an_alert_one_line_each() {
    let alert_key = Signal::alert(&alert()).key;
    assert_eq!(
        lines(false),
        format!(
            "- medium   finding image-tag-latest: container \"web\" uses image nginx:latest\\e[31m [Deployment shop/web] key=0123456789abcdef0123456789abcdef\n\
             2024-05-01T10:00:00.250Z high     alert   k8s-secret-burst: Secrets created in a burst [user.username=mallory, requestObject.data.password=<redacted:1f2e3d4c>] key={alert_key}\n"
        )
    );
}

#[test]
fn colour_marks_the_severity_only() {
    let out = lines(true);
    assert!(
        out.starts_with("- \x1b[33mmedium  \x1b[0m finding "),
        "{out}"
    );
    assert!(out.contains(" \x1b[31mhigh    \x1b[0m alert "), "{out}");
    // The input's own escape is still escaped.
    assert!(out.contains("nginx:latest\\e[31m"), "{out}");
}

#[test]
fn no_secret_value_reaches_stdout() {
    let out = lines(false);
    assert!(!out.contains(SECRET), "{out}");
    assert!(out.contains("<redacted:1f2e3d4c>"), "{out}");
}
