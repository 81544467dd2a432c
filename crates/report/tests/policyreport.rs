//! `scan -o policyreport` / `-o openreports`: the report objects' shape (a JSON Schema written
//! from the Go types of wgpolicyk8s.io/v1alpha2 and openreports.io/v1alpha1), their scopes,
//! the caps that keep them under etcd's object size limit, and a YAML stream that reads back
//! to the same objects.

use kubevigil_model::{Finding, Location, ObjectRef, Severity};
use kubevigil_report::policyreport::{
    Flavor, MAX_RESULT_BYTES, Options, REPORT_NAME, Truncated, build, render,
};
use kubevigil_report::{Report, RuleInfo, SuppressedFinding};
use serde_json::{Value, json};

fn finding(check: &str, severity: Severity, kind: &str, ns: Option<&str>, name: &str) -> Finding {
    Finding {
        check_id: check.to_string().into(),
        severity,
        title: format!("{check} title").into(),
        message: format!("{kind} {name} fails {check}"),
        object: ObjectRef {
            api_version: "v1".into(),
            kind: kind.into(),
            namespace: ns.map(String::from),
            name: name.into(),
        }
        .into(),
        location: Location::in_file("k8s/app.yaml", 3, 5, "spec.x".into()),
        remediation: "fix it".into(),
        references: vec![].into(),
        fingerprint: format!("fp-{check}-{name}"),
    }
}

fn rules() -> Vec<RuleInfo> {
    ["a", "b", "c"]
        .iter()
        .map(|id| RuleInfo {
            id: id.to_string(),
            title: id.to_string(),
            severity: Severity::High,
            category: "pod-security".into(),
            doc: String::new(),
            references: &[],
        })
        .collect()
}

fn report<'a>(
    rules: &'a [RuleInfo],
    findings: &'a [Finding],
    suppressed: &'a [SuppressedFinding],
) -> Report<'a> {
    Report {
        tool_version: "0.1.0",
        rules,
        findings,
        suppressed,
        diagnostics: &[],
        objects: &[],
    }
}

fn opts(flavor: Flavor, max_results: usize) -> Options {
    Options {
        flavor,
        max_results,
        timestamp_secs: 1_700_000_000,
    }
}

/// The CRDs' schema as the Go types define it (`PolicyReport`/`Report`, `PolicyReportResult`/
/// `ReportResult`, `PolicyReportSummary`), closed over the fields kubevigil writes so that a
/// misspelt key fails.
fn schema(flavor: Flavor) -> Value {
    let object_ref = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["apiVersion", "kind", "name"],
        "properties": {
            "apiVersion": {"type": "string"}, "kind": {"type": "string"},
            "namespace": {"type": "string"}, "name": {"type": "string"},
            "uid": {"type": "string"}
        }
    });
    let result = json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["policy", "source", "result", "severity", "timestamp", "resources"],
        "properties": {
            "source": {"const": "kubevigil"},
            "policy": {"type": "string", "minLength": 1},
            "rule": {"type": "string"},
            "category": {"type": "string"},
            "severity": {"enum": ["critical", "high", "medium", "low", "info"]},
            "timestamp": {
                "type": "object", "additionalProperties": false,
                "required": ["seconds", "nanos"],
                "properties": {
                    "seconds": {"type": "integer"},
                    "nanos": {"type": "integer", "minimum": 0, "maximum": 999_999_999}
                }
            },
            "result": {"enum": ["pass", "fail", "warn", "error", "skip"]},
            "scored": {"type": "boolean"},
            "message": {"type": "string"},
            "resources": {"type": "array", "minItems": 1, "items": object_ref},
            "properties": {"type": "object", "additionalProperties": {"type": "string"}}
        }
    });
    let counts = ["pass", "fail", "warn", "error", "skip"];
    let summary = json!({
        "type": "object", "additionalProperties": false, "required": counts,
        "properties": counts.iter().map(|k| (k.to_string(), json!({"type": "integer", "minimum": 0}))).collect::<serde_json::Map<_, _>>()
    });
    let (api_version, kinds, extra) = match flavor {
        Flavor::PolicyReport => (
            "wgpolicyk8s.io/v1alpha2",
            json!(["PolicyReport", "ClusterPolicyReport"]),
            json!({}),
        ),
        Flavor::OpenReports => (
            "openreports.io/v1alpha1",
            json!(["Report", "ClusterReport"]),
            json!({
                "source": {"const": "kubevigil"},
                "configuration": {
                    "type": "object",
                    "required": ["limits"],
                    "properties": {"limits": {
                        "type": "object", "required": ["maxResults"],
                        "properties": {"maxResults": {"type": "integer"}}
                    }}
                }
            }),
        ),
    };
    let mut properties = json!({
        "apiVersion": {"const": api_version},
        "kind": {"enum": kinds},
        "metadata": {
            "type": "object",
            "required": ["name", "labels", "annotations"],
            "properties": {
                "name": {"const": REPORT_NAME},
                "namespace": {"type": "string"},
                "labels": {"type": "object", "additionalProperties": {"type": "string"}},
                "annotations": {"type": "object", "additionalProperties": {"type": "string"}}
            }
        },
        "summary": summary,
        "results": {"type": "array", "items": result}
    });
    for (k, v) in extra.as_object().unwrap() {
        properties[k] = v.clone();
    }
    json!({
        "type": "object",
        "additionalProperties": false,
        "required": ["apiVersion", "kind", "metadata", "summary", "results"],
        "properties": properties
    })
}

fn assert_valid(flavor: Flavor, docs: &[Value]) {
    let validator = jsonschema::validator_for(&schema(flavor)).unwrap();
    for d in docs {
        let errors: Vec<String> = validator.iter_errors(d).map(|e| e.to_string()).collect();
        assert!(errors.is_empty(), "{errors:#?}\n{d:#}");
    }
}

/// The YAML stream read back, one object per document.
fn read_back(yaml: &str) -> Vec<Value> {
    yaml.split("---\n")
        .filter(|d| !d.trim().is_empty())
        .map(|d| {
            kubevigil_model::yaml::parse_document(d, 0, Default::default())
                .unwrap()
                .unwrap()
                .0
        })
        .collect()
}

#[test]
fn one_report_per_namespace_and_one_for_cluster_scoped_objects() {
    let rules = rules();
    let findings = vec![
        finding("a", Severity::Medium, "Deployment", Some("shop"), "web"),
        finding("b", Severity::Critical, "Pod", Some("shop"), "debug"),
        finding("a", Severity::High, "ClusterRole", None, "admin-ish"),
        // A namespaced object that names no namespace lands where kubectl would put it.
        finding("c", Severity::Low, "Deployment", None, "loose"),
    ];
    let suppressed = vec![SuppressedFinding {
        finding: finding("c", Severity::High, "Service", Some("shop"), "lb"),
        by: "annotation".into(),
        reason: "lab only".into(),
    }];
    for flavor in [Flavor::PolicyReport, Flavor::OpenReports] {
        let r = report(&rules, &findings, &suppressed);
        let (docs, truncated) = build(&r, &opts(flavor, 1000));
        assert!(truncated.is_empty());
        assert_valid(flavor, &docs);
        let scopes: Vec<(&str, Option<&str>)> = docs
            .iter()
            .map(|d| {
                (
                    d["kind"].as_str().unwrap(),
                    d["metadata"]["namespace"].as_str(),
                )
            })
            .collect();
        let (ns_kind, cluster_kind) = match flavor {
            Flavor::PolicyReport => ("PolicyReport", "ClusterPolicyReport"),
            Flavor::OpenReports => ("Report", "ClusterReport"),
        };
        assert_eq!(
            scopes,
            [
                (ns_kind, Some("default")),
                (ns_kind, Some("shop")),
                (cluster_kind, None)
            ]
        );
        let shop = &docs[1];
        assert_eq!(
            shop["summary"],
            json!({"pass": 0, "fail": 2, "warn": 0, "error": 0, "skip": 1})
        );
        // Failures, most severe first, then what was suppressed, with who did it and why.
        let results = shop["results"].as_array().unwrap();
        let order: Vec<(&str, &str, &str)> = results
            .iter()
            .map(|r| {
                (
                    r["result"].as_str().unwrap(),
                    r["severity"].as_str().unwrap(),
                    r["policy"].as_str().unwrap(),
                )
            })
            .collect();
        assert_eq!(
            order,
            [
                ("fail", "critical", "b"),
                ("fail", "medium", "a"),
                ("skip", "high", "c")
            ]
        );
        assert_eq!(results[2]["properties"]["suppressedBy"], "annotation");
        assert_eq!(results[2]["properties"]["suppressionReason"], "lab only");
        assert_eq!(
            results[0]["resources"],
            json!([{"apiVersion": "v1", "kind": "Pod", "namespace": "shop", "name": "debug"}])
        );
        assert_eq!(results[0]["properties"]["location"], "k8s/app.yaml:3:5");
        assert_eq!(results[0]["category"], "pod-security");
        assert_eq!(
            results[0]["timestamp"],
            json!({"seconds": 1_700_000_000, "nanos": 0})
        );
        let cluster = &docs[2];
        assert!(cluster["metadata"].get("namespace").is_none());
        assert!(
            cluster["results"][0]["resources"][0]
                .get("namespace")
                .is_none()
        );
        // The YAML stream reads back to the same objects.
        let (yaml, _) = render(&r, &opts(flavor, 1000));
        assert_eq!(read_back(&yaml), docs);
    }
}

#[test]
fn results_are_capped_most_severe_first_and_the_cap_is_stated() {
    let rules = rules();
    let severities = [
        Severity::Low,
        Severity::Critical,
        Severity::Info,
        Severity::High,
        Severity::Medium,
    ];
    let findings: Vec<Finding> = severities
        .iter()
        .enumerate()
        .map(|(i, s)| finding("a", *s, "Pod", Some("shop"), &format!("p{i}")))
        .collect();
    let r = report(&rules, &findings, &[]);
    let (docs, truncated) = build(&r, &opts(Flavor::OpenReports, 2));
    assert_valid(Flavor::OpenReports, &docs);
    assert_eq!(
        truncated,
        [Truncated {
            namespace: Some("shop".into()),
            kept: 2,
            total: 5
        }]
    );
    let d = &docs[0];
    let kept: Vec<&str> = d["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["severity"].as_str().unwrap())
        .collect();
    assert_eq!(kept, ["critical", "high"]);
    assert_eq!(d["summary"]["fail"], 5, "the summary counts every result");
    assert_eq!(
        d["metadata"]["annotations"]["kubevigil.io/results-limit"],
        "2"
    );
    assert_eq!(
        d["metadata"]["annotations"]["kubevigil.io/results-omitted"],
        "3"
    );
    assert_eq!(d["configuration"]["limits"]["maxResults"], 2);
}

/// However high the count cap, a report's results stop short of 1 MiB of JSON.
#[test]
fn results_stop_before_a_report_outgrows_etcd() {
    let rules = rules();
    let findings: Vec<Finding> = (0..400)
        .map(|i| {
            let mut f = finding("a", Severity::High, "Pod", Some("shop"), &format!("p{i}"));
            f.message = "x".repeat(8 * 1024);
            f
        })
        .collect();
    let r = report(&rules, &findings, &[]);
    let (docs, truncated) = build(&r, &opts(Flavor::PolicyReport, 100_000));
    let results = docs[0]["results"].as_array().unwrap();
    let bytes: usize = results.iter().map(|r| r.to_string().len()).sum();
    assert!(bytes <= MAX_RESULT_BYTES, "{bytes}");
    assert!(results.len() > 100, "{}", results.len());
    assert_eq!(truncated[0].kept, results.len());
    assert_eq!(truncated[0].total, 400);
    assert!(serde_json::to_vec(&docs[0]).unwrap().len() < 1_400_000);
}
