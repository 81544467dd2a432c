//! The dashboard's pages over a store seeded with findings and alerts about objects whose names,
//! namespaces and messages carry script, markup, control and bidi characters, as an attacker
//! who can create objects would write them.

use std::borrow::Cow;
use std::sync::Arc;

use kubevigil_dashboard::{Dashboard, FindingFilter, PageError};
use kubevigil_detect::DetectionAlert;
use kubevigil_detect::rules::RuleDoc;
use kubevigil_model::{Finding, Location, ObjectRef, Severity};
use kubevigil_store::{HistoryStore, Run, Scope, SqliteStore};

const HOUR: i64 = 3_600_000;
const NOW: i64 = 1_790_000_000_000;
const HOSTILE: &str = "x<script>alert(1)</script>\"><img src=x onerror=alert(2)>\u{1b}[2J\u{202e}";

fn finding(
    fp: &str,
    check: &'static str,
    severity: Severity,
    ns: Option<&str>,
    name: &str,
) -> Finding {
    Finding {
        check_id: Cow::Borrowed(check),
        severity,
        title: Cow::Borrowed("a title"),
        message: format!("{name} is wrong"),
        object: Arc::new(ObjectRef {
            api_version: "apps/v1".into(),
            kind: if ns.is_some() {
                "Deployment"
            } else {
                "ClusterRole"
            }
            .into(),
            namespace: ns.map(String::from),
            name: name.into(),
        }),
        location: Location::field_only("spec.template.spec.containers[0].image".into()),
        remediation: Cow::Borrowed(""),
        references: Cow::Borrowed(&[]),
        fingerprint: fp.into(),
    }
}

/// Three hours ago four findings; two hours ago `db` resolved; an alert ten minutes ago about
/// a Secret whose value must never show.
fn seeded() -> SqliteStore {
    let mut store = SqliteStore::open_in_memory().unwrap();
    let web = finding(
        "fp-web",
        "image-tag-latest",
        Severity::Medium,
        Some("shop"),
        "web",
    );
    let db = finding(
        "fp-db",
        "image-tag-latest",
        Severity::Medium,
        Some("shop"),
        "db",
    );
    let evil = finding(
        "fp-evil",
        "env-literal-credential",
        Severity::Critical,
        Some("evil-ns"),
        HOSTILE,
    );
    let role = finding(
        "fp-role",
        "rbac-wildcard",
        Severity::High,
        None,
        "admin-all",
    );
    let all = Scope::everything();
    for (t, found) in [
        (
            NOW - 3 * HOUR,
            vec![web.clone(), db, evil.clone(), role.clone()],
        ),
        (NOW - 2 * HOUR, vec![web, evil, role]),
    ] {
        store
            .record_run(&Run {
                time_ms: t,
                scope: &all,
                complete: true,
                findings: &found,
            })
            .unwrap();
    }
    let alert = DetectionAlert {
        rule: "k8s-secret-read".into(),
        title: format!("Secret read {HOSTILE}"),
        dedup_key: "0123456789abcdef".repeat(4),
        first_seen: Some(NOW - HOUR / 6),
        last_seen: Some(NOW - HOUR / 6),
        count: 3,
        events: vec![serde_json::json!({
            "user": {"username": HOSTILE},
            "objectRef": {"resource": "secrets", "namespace": "shop", "name": "db"},
            "responseObject": {"kind": "Secret", "data": {"password": "czNjcjN0LXY0bHVlLTRmOWE="}, "stringData": {"token": "s3cr3t-v4lue-4f9a"}},
        }).into()],
        ..Default::default()
    };
    store.record_alert(&alert, NOW).unwrap();
    store
}

fn dashboard() -> Dashboard {
    Dashboard::new([RuleDoc {
        id: "k8s-secret-read".into(),
        name: "k8s-secret-read".into(),
        title: format!("Secret read {HOSTILE}"),
        severity: Severity::High,
        description: format!("Someone read a secret {HOSTILE}"),
        next_steps: vec!["Ask them why".into()],
        ..Default::default()
    }])
}

fn filter(pairs: &[(&str, &str)]) -> FindingFilter {
    let mut f = FindingFilter::default();
    for (k, v) in pairs {
        let v = v.to_string();
        match *k {
            "namespace" => f.namespace = v,
            "check" => f.check = v,
            "severity" => f.severity = v,
            "status" => f.status = v,
            "q" => f.q = v,
            _ => panic!("{k}"),
        }
    }
    f
}

/// Every page the seeded store gives.
fn pages(store: &SqliteStore) -> Vec<(String, String)> {
    let d = dashboard();
    let mut out = vec![
        (
            "overview".to_string(),
            d.overview(store, None, NOW).unwrap(),
        ),
        ("alerts".to_string(), d.alerts(store, 7, NOW).unwrap()),
        ("compliance".to_string(), d.compliance(store, NOW).unwrap()),
        (
            "findings".to_string(),
            d.findings(store, None, &filter(&[("status", "all")]), NOW)
                .unwrap(),
        ),
    ];
    for fp in ["fp-web", "fp-db", "fp-evil", "fp-role"] {
        out.push((fp.to_string(), d.finding(store, fp, NOW).unwrap().unwrap()));
    }
    out.push((
        "not found".into(),
        kubevigil_dashboard::not_found(HOSTILE, NOW),
    ));
    out.push((
        "bad request".into(),
        kubevigil_dashboard::bad_request(HOSTILE, NOW),
    ));
    out
}

/// The rows of the findings list (one `<tr>` each, the header's aside).
fn rows(page: &str) -> usize {
    let Some(start) = page.find("<table id=\"finding-list\">") else {
        return 0;
    };
    page[start..].matches("<tr>").count() - 1
}

#[test]
fn hostile_values_are_escaped_on_every_page() {
    let store = seeded();
    for (name, html) in pages(&store) {
        // The dashboard writes no script and no image: any there came from the data.
        assert!(!html.contains("<script"), "{name}: raw script\n{html}");
        assert!(!html.contains("<img"), "{name}: raw markup\n{html}");
        assert!(
            !html.contains('\u{1b}') && !html.contains('\u{202e}'),
            "{name}: raw control or bidi character"
        );
        assert!(html.starts_with("<!DOCTYPE html>"), "{name}");
        for href in ["/", "/findings", "/alerts", "/compliance"] {
            assert!(
                html.contains(&format!("<a href=\"{href}\"")),
                "{name}: no link to {href}"
            );
        }
    }
    let evil = dashboard()
        .finding(&store, "fp-evil", NOW)
        .unwrap()
        .unwrap();
    // Shown, escaped: the reader sees what the attacker wrote.
    assert!(evil.contains("x&lt;script&gt;alert(1)&lt;/script&gt;&quot;&gt;&lt;img src=x onerror=alert(2)&gt;\\e[2J\\u{202e}"), "{evil}");
}

#[test]
fn no_secret_value_is_shown() {
    let store = seeded();
    for (name, html) in pages(&store) {
        assert!(
            !html.contains("czNjcjN0LXY0bHVlLTRmOWE="),
            "{name} shows a secret's value"
        );
        assert!(
            !html.contains("s3cr3t-v4lue"),
            "{name} shows a secret's value"
        );
    }
}

#[test]
fn filters_select_the_findings() {
    let store = seeded();
    let d = dashboard();
    let list = |pairs: &[(&str, &str)]| d.findings(&store, None, &filter(pairs), NOW).unwrap();
    // Open by default: db was resolved.
    assert_eq!(rows(&list(&[])), 3);
    assert_eq!(rows(&list(&[("status", "all")])), 4);
    let resolved = list(&[("status", "resolved")]);
    assert_eq!(rows(&resolved), 1);
    assert!(resolved.contains("db is wrong"));
    assert_eq!(rows(&list(&[("severity", "critical")])), 1);
    assert_eq!(
        rows(&list(&[("check", "image-tag-latest"), ("status", "all")])),
        2
    );
    assert_eq!(rows(&list(&[("namespace", "shop")])), 1);
    let cluster = list(&[("namespace", "-")]);
    assert_eq!(rows(&cluster), 1);
    assert!(cluster.contains("admin-all"));
    // Words, case-insensitively, all of them.
    assert_eq!(rows(&list(&[("q", "WEB wrong")])), 1);
    assert_eq!(rows(&list(&[("q", "web nothing")])), 0);
    // The filter shows as chosen.
    assert!(list(&[("severity", "critical")]).contains("<option value=\"critical\" selected>"));
    match d.findings(&store, None, &filter(&[("severity", "urgent")]), NOW) {
        Err(PageError::BadRequest(e)) => assert!(e.to_string().contains("urgent")),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        d.findings(&store, None, &filter(&[("status", "closed")]), NOW),
        Err(PageError::BadRequest(_))
    ));
}

#[test]
fn the_finding_page_shows_the_check_documentation_and_the_object_other_findings() {
    let store = seeded();
    let d = dashboard();
    let web = d.finding(&store, "fp-web", NOW).unwrap().unwrap();
    let meta = kubevigil_checks::catalog()
        .into_iter()
        .find(|m| m.id == "image-tag-latest")
        .unwrap();
    assert!(web.contains("<pre id=\"documentation\">"), "{web}");
    assert!(
        web.contains(&maud::html! { (meta.remediation) }.into_string()),
        "{web}"
    );
    assert!(web.contains("Image uses the latest tag or no tag"));
    assert!(web.contains("spec.template.spec.containers[0].image"));
    assert!(d.finding(&store, "fp-nothing", NOW).unwrap().is_none());
    // The role's page lists no other finding; web's object has none either (db is another).
    assert!(web.contains("None."));
}

#[test]
fn the_overview_counts_open_findings_and_draws_their_trend() {
    let store = seeded();
    let page = dashboard().overview(&store, None, NOW).unwrap();
    assert!(page.contains("3 open findings"), "{page}");
    // By namespace, the cluster-scoped role apart.
    assert!(
        page.contains("<a href=\"/findings?namespace=-\">(cluster-scoped)</a>"),
        "{page}"
    );
    assert!(
        page.contains("<a href=\"/findings?namespace=shop\">shop</a>"),
        "{page}"
    );
    assert!(page.contains("<svg class=\"chart\" id=\"trend\""));
    // medium: 2 open three hours ago, 1 since db resolved.
    assert!(
        page.contains("<span class=\"sev sev-medium\">medium</span> 1 open now"),
        "{page}"
    );
    // The alert of the last 24 hours, with its count.
    assert!(page.contains("<table id=\"alert-list\">"));
    let alerts = dashboard().alerts(&store, 1, NOW).unwrap();
    assert!(alerts.contains("Ask them why"));
    // The actor and what the first event did (no verb in the sample: `-`).
    assert!(
        alerts.contains("<td><code>- secrets shop/db</code></td>"),
        "{alerts}"
    );
    assert!(alerts.contains("<td class=\"n\">3</td>"), "{alerts}");
}

#[test]
fn compliance_counts_the_open_findings_that_break_each_control() {
    let store = seeded();
    let page = dashboard().compliance(&store, NOW).unwrap();
    for framework in [
        "CIS Kubernetes Benchmark",
        "NSA/CISA Kubernetes Hardening Guide",
        "MITRE ATT&amp;CK",
    ] {
        assert!(
            page.contains(&format!("<h2>{framework}</h2>")),
            "{framework}\n{page}"
        );
    }
    // env-literal-credential (CIS 5.4.1) has one open finding, the hostile one.
    let row = page
        .split("<tr>")
        .find(|r| r.contains(">5.4.1<"))
        .unwrap_or_else(|| panic!("no 5.4.1 row\n{page}"));
    assert!(row.contains("<td class=\"n\">1</td>"), "{row}");
    assert!(
        row.contains("/findings?check=env-literal-credential"),
        "{row}"
    );
}

#[test]
fn suppressed_findings_are_listed_with_why() {
    let store = seeded();
    let d = dashboard();
    let mut quiet = finding(
        "fp-quiet",
        "image-tag-latest",
        Severity::Medium,
        Some("lab"),
        "toy",
    );
    quiet.message = "toy uses latest".into();
    let mut other = finding("fp-other", "rbac-wildcard", Severity::High, None, "ops");
    other.message = "ops is wide".into();
    let suppressed = vec![
        kubevigil_checks::Suppressed {
            finding: quiet,
            by: kubevigil_checks::SuppressedBy::Annotation {
                reason: "lab only <b>".into(),
            },
        },
        kubevigil_checks::Suppressed {
            finding: other,
            by: kubevigil_checks::SuppressedBy::Exemption {
                reason: String::new(),
            },
        },
    ];
    let page = d
        .findings(
            &store,
            Some(&suppressed),
            &filter(&[("status", "suppressed")]),
            NOW,
        )
        .unwrap();
    assert_eq!(rows(&page), 2, "{page}");
    assert!(
        page.contains("<td>annotation: lab only &lt;b&gt;</td>"),
        "{page}"
    );
    assert!(page.contains("<td>exemption</td>"), "{page}");
    // Filters apply to them too; the history's findings are not among them.
    let high = d
        .findings(
            &store,
            Some(&suppressed),
            &filter(&[("status", "suppressed"), ("severity", "high")]),
            NOW,
        )
        .unwrap();
    assert_eq!(rows(&high), 1);
    assert!(high.contains("ops is wide") && !high.contains("web is wrong"));
    // Without a cluster there is nothing to list, and the page says why.
    let none = d
        .findings(&store, None, &filter(&[("status", "suppressed")]), NOW)
        .unwrap();
    assert_eq!(rows(&none), 0);
    assert!(none.contains("id=\"no-cluster\""));
}
