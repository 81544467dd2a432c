//! Format conformance: SARIF against the OASIS 2.1.0 schema, JUnit as well-formed XML.

use kubevigil_model::{DiagLevel, Diagnostic, Finding, Location, ObjectRef, Severity};
use kubevigil_report::{Report, RuleInfo, SuppressedFinding, junit, sarif};

#[allow(clippy::type_complexity)]
fn sample() -> (
    Vec<RuleInfo>,
    Vec<Finding>,
    Vec<SuppressedFinding>,
    Vec<Diagnostic>,
    Vec<ObjectRef>,
) {
    let rules = vec![
        RuleInfo {
            id: "image-tag-latest".into(),
            title: "Image uses latest".into(),
            severity: Severity::Medium,
            category: "images".into(),
            doc: "# image-tag-latest\n".into(),
            references: &[],
        },
        RuleInfo {
            id: "service-external-ips".into(),
            title: "externalIPs".into(),
            severity: Severity::High,
            category: "exposure".into(),
            doc: "# x <&>\n".into(),
            references: &[],
        },
    ];
    let object = ObjectRef {
        api_version: "apps/v1".into(),
        kind: "Deployment".into(),
        namespace: Some("shop".into()),
        name: "web".into(),
    };
    let finding = Finding {
        check_id: "image-tag-latest".into(),
        severity: Severity::Medium,
        title: "Image uses latest".into(),
        message: "container \"web\" uses <latest> & more".into(),
        object: object.clone().into(),
        location: Location {
            file: Some("dir with space/web.yaml".into()),
            line: 12,
            col: 9,
            uri: None,
            field_path: "spec.template.spec.containers[0].image".into(),
        },
        remediation: "pin it".into(),
        references: vec![].into(),
        fingerprint: "0123456789abcdef".into(),
    };
    let suppressed = vec![SuppressedFinding {
        finding: Finding {
            check_id: "service-external-ips".into(),
            ..finding.clone()
        },
        by: "annotation".into(),
        reason: "lab only".into(),
    }];
    let diags = vec![Diagnostic {
        level: DiagLevel::Error,
        file: "bad.yaml".into(),
        line: 3,
        col: 7,
        message: "invalid YAML: x".into(),
    }];
    (rules, vec![finding], suppressed, diags, vec![object])
}

#[test]
fn sarif_validates_against_the_2_1_0_schema() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("data/sarif-schema-2.1.0.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let (rules, findings, suppressed, diags, objects) = sample();
    for findings in [&findings[..], &[][..]] {
        let report = Report {
            tool_version: "0.1.0",
            rules: &rules,
            findings,
            suppressed: &suppressed,
            diagnostics: &diags,
            objects: &objects,
        };
        let out: serde_json::Value = serde_json::from_str(&sarif::render(&report)).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&out)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        assert!(
            out["runs"][0]["results"].is_array(),
            "results always present"
        );
        assert_eq!(
            out["runs"][0]["tool"]["driver"]["rules"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
    }
    let report = Report {
        tool_version: "0.1.0",
        rules: &rules,
        findings: &findings,
        suppressed: &suppressed,
        diagnostics: &diags,
        objects: &objects,
    };
    let out: serde_json::Value = serde_json::from_str(&sarif::render(&report)).unwrap();
    // The validator does reject what the schema forbids.
    let mut broken = out.clone();
    broken["runs"][0]["results"][0]["level"] = "fatal".into();
    assert!(!validator.is_valid(&broken));
    let loc = &out["runs"][0]["results"][0]["locations"][0]["physicalLocation"];
    assert_eq!(
        loc["artifactLocation"]["uri"],
        "dir%20with%20space/web.yaml"
    );
    assert_eq!(loc["region"]["startLine"], 12);
    assert_eq!(loc["region"]["startColumn"], 9);
    assert_eq!(out["runs"][0]["results"][0]["level"], "warning");
}

#[test]
fn junit_is_well_formed_with_one_testcase_per_object_and_check() {
    let (rules, findings, suppressed, diags, objects) = sample();
    let report = Report {
        tool_version: "0.1.0",
        rules: &rules,
        findings: &findings,
        suppressed: &suppressed,
        diagnostics: &diags,
        objects: &objects,
    };
    let xml = junit::render(&report);
    let (testcases, failures, _, skipped) = junit_elements(&xml);
    // 1 object x 2 rules, plus one load error.
    assert_eq!((testcases, failures, skipped), (3, 1, 1), "{xml}");
    assert!(
        xml.contains("tests=\"3\" failures=\"1\" errors=\"1\" skipped=\"1\""),
        "{xml}"
    );
}

/// Counts the elements of a JUnit document: test cases, failures, errors, skipped.
fn junit_elements(xml: &str) -> (usize, usize, usize, usize) {
    let mut reader = quick_xml::Reader::from_str(xml);
    let mut n = (0, 0, 0, 0);
    loop {
        match reader
            .read_event()
            .unwrap_or_else(|e| panic!("malformed XML: {e}\n{xml}"))
        {
            quick_xml::events::Event::Eof => return n,
            quick_xml::events::Event::Start(e) | quick_xml::events::Event::Empty(e) => {
                match e.name().as_ref() {
                    b"testcase" => n.0 += 1,
                    b"failure" => n.1 += 1,
                    b"error" => n.2 += 1,
                    b"skipped" => n.3 += 1,
                    _ => {}
                }
            }
            _ => {}
        }
    }
}

/// The counts JUnit opens with are worked out before the test cases are written: they must
/// still be the counts of what follows, when an object is listed twice, when a finding's
/// object is not listed, and when a pair both fails and is suppressed.
#[test]
fn junit_counts_are_those_of_the_test_cases_written() {
    let (rules, mut findings, mut suppressed, diags, mut objects) = sample();
    objects.push(objects[0].clone());
    let mut unlisted = findings[0].clone();
    unlisted.object = ObjectRef {
        name: "gone".into(),
        ..objects[0].clone()
    }
    .into();
    findings.push(unlisted);
    suppressed.push(SuppressedFinding {
        finding: findings[0].clone(),
        by: "exemption".into(),
        reason: String::new(),
    });
    let report = Report {
        tool_version: "0.1.0",
        rules: &rules,
        findings: &findings,
        suppressed: &suppressed,
        diagnostics: &diags,
        objects: &objects,
    };
    let xml = junit::render(&report);
    let (tests, failures, errors, skipped) = junit_elements(&xml);
    // 2 objects x 2 rules and one load error; each listing of the object fails one rule and
    // skips the other.
    assert_eq!((tests, failures, errors, skipped), (5, 2, 1, 2), "{xml}");
    let header = format!(
        "tests=\"{tests}\" failures=\"{failures}\" errors=\"{errors}\" skipped=\"{skipped}\""
    );
    assert_eq!(xml.matches(&header).count(), 2, "{header}\n{xml}");
}

/// The SARIF level and `security-severity` of every severity, in the rule metadata and in the
/// result: GitHub code scanning ranks alerts by `security-severity` (>= 9.0 critical,
/// 7.0-8.9 high, 4.0-6.9 medium, 0.1-3.9 low) and SARIF 2.1.0 §3.27.10 defines `level`.
#[test]
fn sarif_level_for_every_severity() {
    let table = [
        (Severity::Critical, "error", "9.5"),
        (Severity::High, "error", "8.0"),
        (Severity::Medium, "warning", "5.5"),
        (Severity::Low, "note", "3.0"),
        (Severity::Info, "note", "0.0"),
    ];
    assert_eq!(
        table.iter().map(|t| t.0).collect::<Vec<_>>(),
        Severity::ALL.to_vec(),
        "the table covers every severity"
    );
    let (mut rules, findings, _, _, objects) = sample();
    for (severity, level, security) in table {
        assert_eq!(sarif::level(severity), level, "{severity:?}");
        rules[0].severity = severity;
        let finding = Finding {
            severity,
            ..findings[0].clone()
        };
        let report = Report {
            tool_version: "0.1.0",
            rules: &rules,
            findings: std::slice::from_ref(&finding),
            suppressed: &[],
            diagnostics: &[],
            objects: &objects,
        };
        let out: serde_json::Value = serde_json::from_str(&sarif::render(&report)).unwrap();
        let run = &out["runs"][0];
        assert_eq!(run["results"][0]["level"], level, "{severity:?}");
        let rule = &run["tool"]["driver"]["rules"][0];
        assert_eq!(rule["defaultConfiguration"]["level"], level, "{severity:?}");
        assert_eq!(
            rule["properties"]["security-severity"], security,
            "{severity:?}"
        );
    }
}

/// Each result's `ruleIndex` points at its own rule (SARIF 2.1.0 §3.27.6); input errors and
/// warnings are tool execution notifications, notes are not, and an error makes the
/// invocation unsuccessful (§3.20.14).
#[test]
fn sarif_rule_index_notifications_and_execution_status() {
    let (rules, findings, _, mut diags, objects) = sample();
    let second = Finding {
        check_id: "service-external-ips".into(),
        severity: Severity::High,
        ..findings[0].clone()
    };
    let findings = vec![second, findings[0].clone()];
    diags.push(Diagnostic {
        level: DiagLevel::Note,
        file: "skipped.yaml".into(),
        line: 1,
        col: 1,
        message: "document without kind; skipped".into(),
    });
    diags.push(Diagnostic {
        level: DiagLevel::Warning,
        file: "warn.yaml".into(),
        line: 2,
        col: 1,
        message: "a warning".into(),
    });
    let render = |diags: &[Diagnostic]| -> serde_json::Value {
        let report = Report {
            tool_version: "0.1.0",
            rules: &rules,
            findings: &findings,
            suppressed: &[],
            diagnostics: diags,
            objects: &objects,
        };
        serde_json::from_str(&sarif::render(&report)).unwrap()
    };
    let out = render(&diags);
    let run = &out["runs"][0];
    for result in run["results"].as_array().unwrap() {
        let i = result["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(run["tool"]["driver"]["rules"][i]["id"], result["ruleId"]);
    }
    assert_eq!(run["results"][0]["ruleIndex"], 1);
    assert_eq!(run["results"][1]["ruleIndex"], 0);
    let invocation = &run["invocations"][0];
    let levels: Vec<&str> = invocation["toolExecutionNotifications"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["level"].as_str().unwrap())
        .collect();
    assert_eq!(levels, ["error", "warning"], "notes are not notifications");
    assert_eq!(invocation["executionSuccessful"], false);
    let only_warning = render(&diags[2..]);
    assert_eq!(
        only_warning["runs"][0]["invocations"][0]["executionSuccessful"],
        true
    );
}
