//! CVSS base scores against published values. `data/cvss_vectors.txt` holds the CVSS v3.x
//! examples of FIRST's specification documents and NVD (Heartbleed 7.5, Shellshock 9.8,
//! POODLE 3.1, ...) and v4.0 vectors, each with the score of FIRST's reference calculator.

use kubevigil_image::cvss::{CvssError, base_score, rating};
use kubevigil_image::osv::Severity;

fn vectors() -> Vec<(&'static str, f64)> {
    include_str!("data/cvss_vectors.txt")
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|l| {
            let (v, s) = l.rsplit_once(' ').expect("vector score");
            (v, s.parse().expect("score"))
        })
        .collect()
}

#[test]
fn published_scores() {
    let all = vectors();
    let v3 = all.iter().filter(|(v, _)| v.starts_with("CVSS:3")).count();
    let v4 = all.iter().filter(|(v, _)| v.starts_with("CVSS:4")).count();
    assert!(v3 >= 20 && v4 >= 20, "{v3} v3 and {v4} v4 vectors");
    for (vector, expected) in all {
        assert_eq!(base_score(vector), Ok(expected), "{vector}");
    }
}

/// A file of `vector score` lines from another reference implementation, when one is given
/// (`CVSS_REFERENCE_FILE=...`): thousands of random vectors to compare against.
#[test]
fn reference_file_when_given() {
    let Ok(path) = std::env::var("CVSS_REFERENCE_FILE") else {
        return;
    };
    let text = std::fs::read_to_string(path).unwrap();
    let mut wrong = Vec::new();
    for line in text.lines().filter(|l| !l.is_empty()) {
        let (v, s) = line.rsplit_once(' ').unwrap();
        let expected: f64 = s.parse().unwrap();
        if base_score(v) != Ok(expected) {
            wrong.push(format!("{v}: {:?} != {expected}", base_score(v)));
        }
    }
    assert!(
        wrong.is_empty(),
        "{} wrong, first: {:?}",
        wrong.len(),
        &wrong[..wrong.len().min(10)]
    );
}

#[test]
fn refuses_invalid_vectors() {
    let cases: &[(&str, CvssError)] = &[
        ("AV:N/AC:L", CvssError::UnsupportedVersion),
        ("CVSS:2.0/AV:N", CvssError::UnsupportedVersion),
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H",
            CvssError::Missing("A"),
        ),
        (
            "CVSS:3.1/AV:N/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            CvssError::Duplicate("AV".into()),
        ),
        (
            "CVSS:3.1/AV:Q/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
            CvssError::InvalidValue {
                metric: "AV".into(),
                value: "Q".into(),
            },
        ),
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/ZZ:1",
            CvssError::UnknownMetric("ZZ".into()),
        ),
        (
            "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/",
            CvssError::Malformed(String::new()),
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N",
            CvssError::Missing("SA"),
        ),
        (
            // S (safety) is a supplemental v4 metric, MSC cannot be S.
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/MSC:S",
            CvssError::InvalidValue {
                metric: "MSC".into(),
                value: "S".into(),
            },
        ),
        (
            "CVSS:4.0/AV:N/AC:L/AT:N/PR:N/UI:N/VC:H/VI:H/VA:H/SC:N/SI:N/SA:N/E:A/E:U",
            CvssError::Duplicate("E".into()),
        ),
    ];
    for (vector, error) in cases {
        assert_eq!(base_score(vector).as_ref(), Err(error), "{vector}");
    }
    assert_eq!(
        base_score(&"CVSS:3.1/".repeat(100)),
        Err(CvssError::TooLong)
    );
}

#[test]
fn temporal_metrics_do_not_change_a_v3_base_score() {
    let v = "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H/E:U/RL:O/RC:U/CR:L/MAV:P";
    assert_eq!(base_score(v), Ok(9.8));
}

#[test]
fn ratings() {
    for (score, severity) in [
        (0.0, Severity::Unknown),
        (0.1, Severity::Low),
        (3.9, Severity::Low),
        (4.0, Severity::Medium),
        (6.9, Severity::Medium),
        (7.0, Severity::High),
        (8.9, Severity::High),
        (9.0, Severity::Critical),
        (10.0, Severity::Critical),
        (10.5, Severity::Unknown),
        (-1.0, Severity::Unknown),
        (f64::NAN, Severity::Unknown),
    ] {
        assert_eq!(rating(score), severity, "{score}");
    }
}

/// CVSS v2: the worked examples of the v2 guide (section 3.3: CVE-2002-0392 7.8, CVE-2003-0818
/// 10.0, CVE-2003-0062 6.2) and NVD's scores of well-known CVEs, with NVD's ratings.
#[test]
fn v2_published_scores() {
    use kubevigil_image::cvss::{v2_base_score, v2_rating};
    for (vector, score, severity) in [
        ("AV:N/AC:L/Au:N/C:N/I:N/A:C", 7.8, Severity::High),
        ("AV:N/AC:L/Au:N/C:C/I:C/A:C", 10.0, Severity::High),
        ("AV:L/AC:H/Au:N/C:C/I:C/A:C", 6.2, Severity::Medium),
        // With the guide's temporal and environmental metrics (checked, not scored).
        (
            "AV:N/AC:L/Au:N/C:N/I:N/A:C/E:F/RL:OF/RC:C/CDP:H/TD:H/CR:M/IR:M/AR:H",
            7.8,
            Severity::High,
        ),
        // CVE-2014-0160 (Heartbleed), CVE-2014-6271 (Shellshock), CVE-2016-5195 (Dirty COW).
        ("AV:N/AC:L/Au:N/C:P/I:N/A:N", 5.0, Severity::Medium),
        ("(AV:N/AC:L/Au:N/C:C/I:C/A:C)", 10.0, Severity::High),
        ("AV:L/AC:L/Au:N/C:C/I:C/A:C", 7.2, Severity::High),
        ("AV:N/AC:M/Au:N/C:N/I:P/A:N", 4.3, Severity::Medium),
        ("AV:N/AC:M/Au:N/C:P/I:P/A:P", 6.8, Severity::Medium),
        ("AV:N/AC:L/Au:S/C:P/I:P/A:P", 6.5, Severity::Medium),
        ("AV:L/AC:L/Au:N/C:P/I:N/A:N", 2.1, Severity::Low),
        ("AV:N/AC:L/Au:N/C:N/I:N/A:N", 0.0, Severity::Unknown),
    ] {
        assert_eq!(v2_base_score(vector), Ok(score), "{vector}");
        assert_eq!(v2_rating(score), severity, "{vector}");
    }
    for bad in [
        "AV:N/AC:L/Au:N/C:P/I:P",
        "AV:N/AC:L/Au:N/C:P/I:P/A:P/A:P",
        "AV:X/AC:L/Au:N/C:P/I:P/A:P",
        "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
        "AV:N/AC:L/Au:N/C:P/I:P/A:P/ZZ:1",
        "",
    ] {
        assert!(v2_base_score(bad).is_err(), "{bad}");
    }
    assert_eq!(v2_base_score(&"AV:N/".repeat(200)), Err(CvssError::TooLong));
}
