//! OSV parsing and matching on records shaped like real advisories (`data/osv/`).

use std::cmp::Ordering;

use kubevigil_image::osv::{
    self, Match, OsvError, RangeKind, Record, Severity, ecosystem_matches, normalize_name,
};

fn load(name: &str) -> Record {
    let path = format!("{}/tests/data/osv/{name}", env!("CARGO_MANIFEST_DIR"));
    let bytes = std::fs::read(&path).unwrap();
    osv::parse(&bytes).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// Orders versions by their runs of digits (`1:8.9p1-3ubuntu0.10` → 1 8 9 1 3 0 10), the
/// kind of order a real ecosystem comparator refines. A version without digits is invalid.
/// Trailing zero runs are dropped, so `1.19.0-0` (Go's pre-release floor) equals `1.19.0`.
fn numeric(_: RangeKind<'_>, a: &str, b: &str) -> Option<Ordering> {
    fn runs(v: &str) -> Option<Vec<&str>> {
        let mut runs: Vec<&str> = v
            .split(|c: char| !c.is_ascii_digit())
            .filter(|r| !r.is_empty())
            .map(|r| r.trim_start_matches('0'))
            .collect();
        let valid = !runs.is_empty();
        // Trailing zeros do not count: 2.1 == 2.1.0.
        while runs.last() == Some(&"") {
            runs.pop();
        }
        valid.then_some(runs)
    }
    let (a, b) = (runs(a)?, runs(b)?);
    for (x, y) in a.iter().zip(&b) {
        match x.len().cmp(&y.len()).then_with(|| x.cmp(y)) {
            Ordering::Equal => {}
            other => return Some(other),
        }
    }
    Some(a.len().cmp(&b.len()))
}

fn hit(record: &Record, eco: &str, name: &str, version: &str) -> Option<Match> {
    osv::affects(record, eco, name, version, &numeric)
}

fn m(affected_index: usize, fixed: Option<&str>) -> Option<Match> {
    Some(Match {
        affected_index,
        fixed: fixed.map(str::to_string),
    })
}

#[test]
fn debian_source_package_with_ecosystem_range() {
    let r = load("DEBIAN-CVE-2023-4911.json");
    assert_eq!(
        hit(&r, "Debian:12", "glibc", "2.36.8"),
        m(0, Some("2.36.9"))
    );
    assert_eq!(hit(&r, "Debian:12", "glibc", "2.36.9"), None);
    assert_eq!(hit(&r, "Debian:12", "glibc", "2.40"), None);
    assert_eq!(
        hit(&r, "Debian:13", "glibc", "2.37.1"),
        m(1, Some("2.37.12"))
    );
    assert_eq!(
        hit(&r, "Debian:11", "glibc", "2.31"),
        None,
        "no Debian:11 entry"
    );
    assert_eq!(
        hit(&r, "Debian:12", "libc6", "2.36.8"),
        None,
        "binary name is not the source"
    );
    assert_eq!(osv::severity(&r, 0), (Severity::High, Some(7.8)));
}

#[test]
fn alpine_record() {
    let r = load("ALPINE-CVE-2024-2511.json");
    assert_eq!(
        hit(&r, "Alpine:v3.19", "openssl", "3.1.4-r5"),
        m(0, Some("3.1.5"))
    );
    assert_eq!(hit(&r, "Alpine:v3.19", "openssl", "3.1.5-r0"), None);
    assert_eq!(hit(&r, "Alpine:v3.18", "openssl", "3.1.4-r5"), None);
    assert_eq!(osv::severity(&r, 0), (Severity::Unknown, None));
}

#[test]
fn ghsa_npm_semver_and_last_affected() {
    let r = load("GHSA-952p-6rrq-rcjv.json");
    assert_eq!(hit(&r, "npm", "braces", "3.0.2"), m(0, Some("3.0.3")));
    assert_eq!(hit(&r, "npm", "braces", "3.0.3"), None);
    assert_eq!(
        hit(&r, "npm", "micromatch", "4.0.5"),
        m(1, None),
        "last_affected is inclusive"
    );
    assert_eq!(hit(&r, "npm", "micromatch", "4.0.6"), None);
    assert_eq!(hit(&r, "npm", "micromatch", "3.1.10"), None);
    assert_eq!(
        hit(&r, "npm", "Braces", "3.0.2"),
        None,
        "npm names are exact"
    );
    assert_eq!(osv::severity(&r, 0), (Severity::High, Some(7.5)));
}

#[test]
fn pypi_versions_list_and_normalized_names() {
    let r = load("PYSEC-2021-19.json");
    // The GIT range is skipped; the ECOSYSTEM range and the versions list decide.
    assert_eq!(hit(&r, "PyPI", "urllib3", "1.26.3"), m(0, Some("1.26.4")));
    assert_eq!(hit(&r, "PyPI", "URLLib3", "1.26.0"), m(0, Some("1.26.4")));
    assert_eq!(hit(&r, "PyPI", "urllib3", "1.25.11"), None);
    assert_eq!(hit(&r, "PyPI", "zope-interface-extras", "2.1"), m(1, None));
    assert_eq!(
        hit(&r, "PyPI", "zope_interface.EXTRAS", "2.1.0"),
        m(1, None),
        "compare == Equal"
    );
    assert_eq!(hit(&r, "PyPI", "zope-interface-extras", "2.2"), None);
    assert_eq!(normalize_name("PyPI", "Foo.__Bar-baz"), "foo-bar-baz");
    assert_eq!(normalize_name("npm", "Foo.__Bar"), "Foo.__Bar");
    assert_eq!(osv::severity(&r, 0), (Severity::Unknown, None));
}

#[test]
fn go_record_with_two_introduced() {
    let r = load("GO-2022-0969.json");
    assert_eq!(hit(&r, "Go", "stdlib", "1.18.5"), m(0, Some("1.18.6")));
    assert_eq!(hit(&r, "Go", "stdlib", "1.18.6"), None);
    assert_eq!(hit(&r, "Go", "stdlib", "1.19.0"), m(0, Some("1.19.1")));
    assert_eq!(hit(&r, "Go", "stdlib", "1.19.1"), None);
    assert_eq!(
        hit(
            &r,
            "Go",
            "golang.org/x/net",
            "0.0.0-20220722155237-a158d28d115b"
        ),
        m(1, Some("0.0.0-20220906165146-f3363e06e74c"))
    );
}

#[test]
fn withdrawn_never_matches() {
    let r = load("GHSA-withdrawn.json");
    assert!(r.withdrawn.is_some());
    assert_eq!(hit(&r, "npm", "braces", "1.0.0"), None);
}

#[test]
fn ubuntu_lts_suffix_and_priority() {
    let r = load("UBUNTU-CVE-2024-6387.json");
    assert_eq!(
        hit(&r, "Ubuntu:22.04", "openssh", "1:8.9p1-3ubuntu0.6"),
        m(0, Some("1:8.9p1-3ubuntu0.10"))
    );
    assert_eq!(
        hit(&r, "Ubuntu:22.04", "openssh", "1:8.9p1-3ubuntu0.10"),
        None
    );
    assert_eq!(
        hit(&r, "Ubuntu:16.04", "openssh", "1:7.2p2"),
        None,
        "Pro is another stream"
    );
    assert_eq!(osv::severity(&r, 0), (Severity::High, None));
}

#[test]
fn limit_and_v4_first() {
    let r = load("GHSA-v4-crates.json");
    assert_eq!(
        hit(&r, "crates.io", "hyper", "0.14.5"),
        m(0, Some("0.14.10"))
    );
    assert_eq!(hit(&r, "crates.io", "hyper", "0.14.10"), None);
    assert_eq!(hit(&r, "crates.io", "hyper", "1.1.0"), m(0, None));
    assert_eq!(
        hit(&r, "crates.io", "hyper", "1.2.0"),
        None,
        "limit bounds the range"
    );
    assert_eq!(osv::severity(&r, 0), (Severity::Critical, Some(9.3)));
    // modified with an offset: 09:00+01:00 is 08:00Z.
    assert_eq!(
        osv::timestamp(&r.modified),
        osv::timestamp("2025-01-10T08:00:00Z")
    );
}

#[test]
fn ecosystems() {
    for (advisory, package, expected) in [
        ("Debian:12", "Debian:12", true),
        ("Debian", "Debian:12", true),
        ("Debian:11", "Debian:12", false),
        ("Debian:1", "Debian:12", false),
        ("Ubuntu:22.04:LTS", "Ubuntu:22.04", true),
        ("Ubuntu:Pro:22.04:LTS", "Ubuntu:22.04", false),
        ("npm", "npm", true),
        ("npm", "PyPI", false),
        ("Go", "GoLang", false),
    ] {
        assert_eq!(
            ecosystem_matches(advisory, package),
            expected,
            "{advisory} vs {package}"
        );
    }
}

#[test]
fn severity_words() {
    let mut r = load("GHSA-952p-6rrq-rcjv.json");
    r.severity.clear();
    assert_eq!(
        osv::severity(&r, 0),
        (Severity::High, None),
        "database_specific.severity"
    );
    r.database_specific = Some(serde_json::json!({"severity": "MODERATE"}));
    assert_eq!(osv::severity(&r, 0), (Severity::Medium, None));
    r.affected[0].ecosystem_specific = Some(serde_json::json!({"severity": "negligible"}));
    assert_eq!(
        osv::severity(&r, 0),
        (Severity::Low, None),
        "the entry's rating first"
    );
    r.severity.push(osv::SeverityScore {
        kind: "CVSS_V3".into(),
        score: "CVSS:3.1/garbage".into(),
    });
    assert_eq!(
        osv::severity(&r, 0),
        (Severity::Low, None),
        "an unscorable vector is skipped"
    );
    assert_eq!(
        osv::severity(&r, 99),
        (Severity::Medium, None),
        "index out of range"
    );
    assert!(Severity::Critical > Severity::High && Severity::Low > Severity::Unknown);
    assert_eq!(
        serde_json::to_string(&Severity::Medium).unwrap(),
        "\"medium\""
    );
}

fn error_of(json: &str) -> OsvError {
    osv::parse(json.as_bytes()).expect_err(json)
}

#[test]
fn schema_violations_name_their_path() {
    let base = r#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},"ranges":[RANGE]}]}"#;
    let with = |range: &str| base.replace("RANGE", range);
    let cases = [
        (
            with(r#"{"type":"SEMVER","events":[{"introduced":"0","fixed":"1"}]}"#),
            "affected[0].ranges[0].events[0]",
        ),
        (
            with(r#"{"type":"SEMVER","events":[{"fixd":"1"}]}"#),
            "affected[0].ranges[0].events[0]",
        ),
        (
            with(r#"{"type":"SEMVER","events":[{"introduced":1}]}"#),
            "affected[0].ranges[0].events[0]",
        ),
        (
            with(r#"{"type":"RPM","events":[{"introduced":"0"}]}"#),
            "affected[0].ranges[0].type",
        ),
        (
            with(r#"{"type":"GIT","events":[{"introduced":"0"}]}"#),
            "affected[0].ranges[0].repo",
        ),
        (
            with(r#"{"type":"SEMVER","events":[]}"#),
            "affected[0].ranges[0].events",
        ),
        (
            with(r#"{"type":"SEMVER","events":[{"fixed":"1"}]}"#),
            "affected[0].ranges[0].events",
        ),
        (with(r#"{"type":"SEMVER"}"#), "affected[0].ranges[0]"),
        (r#"{"modified":"2024-01-01T00:00:00Z"}"#.to_string(), "."),
        (r#"{"id":"X-2"}"#.to_string(), "."),
        (
            r#"{"id":"X-3","modified":"yesterday"}"#.to_string(),
            "modified",
        ),
        (
            r#"{"id":"","modified":"2024-01-01T00:00:00Z"}"#.to_string(),
            "id",
        ),
        (
            r#"{"id":"X-4","modified":"2024-01-01T00:00:00Z","aliases":"CVE-1"}"#.to_string(),
            "aliases",
        ),
        (
            r#"{"id":"X-5","modified":"2024-01-01T00:00:00Z"} trailing"#.to_string(),
            ".",
        ),
    ];
    for (json, path) in cases {
        let e = error_of(&json);
        let text = e.to_string();
        assert!(
            text.starts_with(path) || text.contains(&format!(": {path}:")),
            "{json}: {text}"
        );
    }
    assert_eq!(
        error_of(&with(r#"{"type":"GIT","events":[{"introduced":"0"}]}"#)).id(),
        Some("X-1")
    );
    assert!(matches!(
        osv::parse(&vec![b' '; osv::MAX_RECORD_BYTES + 1]),
        Err(OsvError::TooLarge(_))
    ));
    assert!(osv::parse(b"\xff\xfe").is_err());
    // Nesting deeper than serde_json's recursion limit is an error, not a stack overflow.
    let deep = format!(
        r#"{{"id":"X","modified":"2024-01-01T00:00:00Z","database_specific":{}1{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    assert!(osv::parse(deep.as_bytes()).is_err());
}

#[test]
fn null_lists_and_unknown_fields_are_accepted() {
    let r = osv::parse(br#"{"id":"X-1","modified":"2024-01-01T00:00:00.5+02:00","aliases":null,"affected":null,"credits":[{"name":"x"}],"future_field":1}"#).unwrap();
    assert!(r.aliases.is_empty() && r.affected.is_empty());
}

#[test]
fn unorderable_event_versions_are_skipped() {
    let r = osv::parse(br#"{"id":"X-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"a"},
        "ranges":[{"type":"SEMVER","events":[{"introduced":"0"},{"fixed":"not-a-version"},{"fixed":"2.0"}]}]}]}"#).unwrap();
    assert_eq!(hit(&r, "npm", "a", "1.5"), m(0, Some("2.0")));
    assert_eq!(hit(&r, "npm", "a", "2.0"), None);
    assert_eq!(
        hit(&r, "npm", "a", "garbage"),
        None,
        "an unorderable package version matches no range"
    );
    // A comparator that is no order at all must not panic.
    let chaos = |_: RangeKind<'_>, a: &str, b: &str| {
        Some(if a.len() % 2 == b.len() % 2 {
            Ordering::Less
        } else {
            Ordering::Greater
        })
    };
    let _ = osv::affects(&r, "npm", "a", "1.5", &chaos);
}

#[test]
fn timestamps() {
    assert!(
        osv::timestamp("2024-02-30T00:00:00Z").is_some(),
        "day range is checked loosely"
    );
    assert!(
        osv::timestamp("2024-01-01T00:00:00").is_none(),
        "an offset is required"
    );
    assert!(osv::timestamp("2024-01-01").is_none());
    assert!(osv::timestamp("2024-01-01T00:00:00.Z").is_none());
    assert!(osv::timestamp("2024-01-01T00:00:00.1Z") > osv::timestamp("2024-01-01T00:00:00Z"));
    assert_eq!(osv::timestamp("1970-01-01T00:00:00Z"), Some((0, 0)));
    assert_eq!(
        osv::timestamp("2000-03-01T00:00:00.000001Z"),
        Some((951_868_800, 1_000))
    );
    // To the microsecond: digits beyond it are read and ignored.
    assert_eq!(
        osv::timestamp("2000-03-01T00:00:00.000000001Z"),
        Some((951_868_800, 0))
    );
    assert_eq!(
        osv::timestamp("2000-03-01T02:00:00+02:00"),
        Some((951_868_800, 0))
    );
}

/// A record that carries only a CVSS v2 vector (older advisories) is rated from it, with NVD's
/// ratings; a v3 vector, when present too, wins; a broken v2 vector falls back to the text.
#[test]
fn cvss_v2_only_records_are_rated() {
    let record = |severity: &str| {
        let json = format!(
            r#"{{"schema_version":"1.6.0","id":"PYSEC-2013-1","modified":"2021-01-01T00:00:00Z",
              "severity":{severity},
              "affected":[{{"package":{{"ecosystem":"PyPI","name":"x"}},
                "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"2"}}]}}]}}],
              "database_specific":{{"severity":"LOW"}}}}"#
        );
        osv::parse(json.as_bytes()).unwrap()
    };
    let v2 = r#"{"type":"CVSS_V2","score":"AV:N/AC:L/Au:N/C:P/I:P/A:P"}"#;
    let v3 = r#"{"type":"CVSS_V3","score":"CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}"#;
    assert_eq!(
        osv::severity(&record(&format!("[{v2}]")), 0),
        (Severity::High, Some(7.5))
    );
    assert_eq!(
        osv::severity(&record(&format!("[{v2},{v3}]")), 0),
        (Severity::Critical, Some(9.8))
    );
    let broken = r#"{"type":"CVSS_V2","score":"AV:N/AC:L"}"#;
    assert_eq!(
        osv::severity(&record(&format!("[{broken}]")), 0),
        (Severity::Low, None)
    );
}
