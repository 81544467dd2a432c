//! The image vulnerability policy against a real vulnerability database in a temporary
//! directory: scans recorded with `Db::record_scan` (as `kubevigil image scan` records them),
//! judged per container at admission, through the policy and through whole AdmissionReviews.

use std::path::Path;
use std::time::Instant;

use kubevigil_image::osv::Severity;
use kubevigil_image::summary::{ImageSummary, TopVulnerability};
use kubevigil_vulndb::Db;
use kubevigil_webhook::Webhook;
use kubevigil_webhook::policy::Mode;
use kubevigil_webhook::policy::image_vulnerabilities::{ImageVulnerabilityPolicy, Unscanned};
use kubevigil_webhook::review::{AdmissionRequest, ReviewResponse, parse_review};
use serde_json::{Value, json};

const WEB: &str = "registry.example.com/shop/web:1.4";
const CLEAN: &str = "registry.example.com/shop/clean:2.0";
const API: &str = "registry.example.com/shop/api:3.0";
const PINNED_TAG: &str = "registry.example.com/shop/pinned:5.0";
const NEVER: &str = "registry.example.com/shop/never:1.0";

const D_WEB: &str = "sha256:1111111111111111111111111111111111111111111111111111111111111111";
const D_CLEAN: &str = "sha256:2222222222222222222222222222222222222222222222222222222222222222";
const D_API: &str = "sha256:3333333333333333333333333333333333333333333333333333333333333333";
const D_PINNED: &str = "sha256:4444444444444444444444444444444444444444444444444444444444444444";

/// 2025-07-01T00:00:00Z: 30 days after the images were built.
const NOW_MS: i64 = 1_751_328_000_000;

fn summary(
    reference: &str,
    digest: &str,
    critical: usize,
    high: usize,
    medium: usize,
) -> ImageSummary {
    let top = (0..critical)
        .map(|i| TopVulnerability {
            id: format!("CVE-2025-000{i}"),
            package: "openssl".into(),
            installed_version: "3.0.1".into(),
            fixed_version: Some("3.0.2".into()),
            severity: Severity::Critical,
        })
        .chain((0..high).map(|i| TopVulnerability {
            id: format!("CVE-2025-100{i}"),
            package: "zlib".into(),
            installed_version: "1.2.11".into(),
            fixed_version: None,
            severity: Severity::High,
        }))
        .take(5)
        .collect();
    ImageSummary {
        reference: reference.into(),
        digest: Some(digest.into()),
        created: Some("2025-06-01T00:00:00Z".into()),
        base_image: Some("debian:12".into()),
        critical,
        high,
        medium,
        low: 0,
        unknown: 0,
        fixable: critical,
        top,
    }
}

fn web() -> ImageSummary {
    summary(WEB, D_WEB, 1, 2, 0)
}

/// A database with: `web` (1 critical, 2 high), `clean` (nothing), `api` (4 medium), and
/// `pinned` (1 critical) that requests name by digest only.
fn database() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path()).unwrap();
    db.record_scan(&web(), 1).unwrap();
    db.record_scan(&summary(CLEAN, D_CLEAN, 0, 0, 0), 1)
        .unwrap();
    db.record_scan(&summary(API, D_API, 0, 0, 4), 1).unwrap();
    db.record_scan(&summary(PINNED_TAG, D_PINNED, 1, 0, 0), 1)
        .unwrap();
    dir
}

fn policy(dir: &Path, at: Severity, unscanned: Unscanned) -> ImageVulnerabilityPolicy {
    ImageVulnerabilityPolicy::open(dir, at, unscanned, None).unwrap()
}

fn request(
    op: &str,
    (group, resource, sub): (&str, &str, &str),
    object: Value,
    old: Value,
) -> AdmissionRequest {
    serde_json::from_value(json!({
        "uid": "1", "operation": op, "name": "x", "namespace": "shop",
        "resource": {"group": group, "version": "v1", "resource": resource},
        "subResource": sub, "object": object, "oldObject": old,
    }))
    .unwrap()
}

/// A pod with one container per image, named `c0`, `c1`... except the first, `web`.
fn pod(images: &[&str]) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| {
            let name = if i == 0 {
                "web".to_string()
            } else {
                format!("c{i}")
            };
            json!({"name": name, "image": image})
        })
        .collect();
    json!({"metadata": {"name": "x"}, "spec": {"containers": containers}})
}

fn create(images: &[&str]) -> AdmissionRequest {
    request("CREATE", ("", "pods", ""), pod(images), Value::Null)
}

fn message(d: &kubevigil_webhook::policy::Decision) -> String {
    d.status
        .as_ref()
        .map(|s| s.message.clone())
        .unwrap_or_default()
}

#[test]
fn a_critical_image_is_denied_with_its_summary() {
    let dir = database();
    let p = policy(dir.path(), Severity::High, Unscanned::Allow);
    let d = p.validate(&create(&[WEB]), Mode::Enforce, NOW_MS);
    assert!(!d.allowed);
    assert_eq!(
        message(&d),
        format!(
            r#"pods "x" is forbidden: image vulnerabilities: container "web": image "{WEB}" has {}"#,
            web().describe(Some(NOW_MS))
        )
    );
    // The summary's own words: counts, the worst CVEs with their fixes, age, base image.
    let m = message(&d);
    for part in [
        "3 vulnerabilities (1 critical, 2 high; 1 with a fix)",
        "CVE-2025-0000 in openssl 3.0.1 (fixed in 3.0.2)",
        "CVE-2025-1000 in zlib 1.2.11 (no fix yet)",
        "built 2025-06-01T00:00:00Z (30 days ago)",
        "base image debian:12",
    ] {
        assert!(m.contains(part), "{part:?} missing from {m}");
    }
    assert_eq!(d.status.unwrap().code, 403);
    // Every denied container is named; a clean one is not.
    let d = p.validate(
        &create(&[
            WEB,
            CLEAN,
            &format!("registry.example.com/shop/pinned@{D_PINNED}"),
        ]),
        Mode::Enforce,
        NOW_MS,
    );
    let m = message(&d);
    assert!(
        m.contains(r#"container "web""#) && m.contains(r#"container "c2""#),
        "{m}"
    );
    assert!(!m.contains(r#"container "c1""#), "{m}");
}

#[test]
fn clean_and_below_threshold_images_are_admitted() {
    let dir = database();
    let high = policy(dir.path(), Severity::High, Unscanned::Deny);
    let d = high.validate(&create(&[CLEAN, API]), Mode::Enforce, NOW_MS);
    assert!(
        d.allowed && d.warnings.is_empty() && !d.not_applicable,
        "{d:?}"
    );
    // The threshold moves: medium vulnerabilities count at `medium`.
    let medium = policy(dir.path(), Severity::Medium, Unscanned::Deny);
    let d = medium.validate(&create(&[CLEAN, API]), Mode::Enforce, NOW_MS);
    assert!(!d.allowed);
    assert!(
        message(&d).contains(&format!(
            r#"container "c1": image "{API}" has 4 vulnerabilities (4 medium"#
        )),
        "{}",
        message(&d)
    );
    // `critical`: the web image's critical one still counts, the api image's do not.
    let critical = policy(dir.path(), Severity::Critical, Unscanned::Deny);
    assert!(
        critical
            .validate(&create(&[API]), Mode::Enforce, NOW_MS)
            .allowed
    );
    assert!(
        !critical
            .validate(&create(&[WEB]), Mode::Enforce, NOW_MS)
            .allowed
    );
}

/// `name@sha256:...` is looked up by its digest, whatever name or tag it carries.
#[test]
fn a_pinned_reference_is_judged_by_its_digest() {
    let dir = database();
    let p = policy(dir.path(), Severity::High, Unscanned::Deny);
    let pinned = format!("registry.example.com/shop/pinned@{D_PINNED}");
    let d = p.validate(&create(&[&pinned]), Mode::Enforce, NOW_MS);
    assert!(!d.allowed);
    assert!(message(&d).contains(&format!(
        r#"image "{pinned}" has 1 vulnerability (1 critical"#
    )));
    // The web image's name pinned to the clean digest is the clean image.
    let web_at_clean = format!("registry.example.com/shop/web:1.4@{D_CLEAN}");
    assert!(
        p.validate(&create(&[&web_at_clean]), Mode::Enforce, NOW_MS)
            .allowed
    );
    // An unknown digest is unscanned, even under a known name.
    let unknown = format!("{WEB}@sha256:{}", "9".repeat(64));
    let d = p.validate(&create(&[&unknown]), Mode::Enforce, NOW_MS);
    assert!(message(&d).contains("has not been scanned"), "{d:?}");
}

#[test]
fn unscanned_images_follow_the_setting() {
    let dir = database();
    let allow = policy(dir.path(), Severity::High, Unscanned::Allow);
    let d = allow.validate(&create(&[NEVER]), Mode::Enforce, NOW_MS);
    assert!(
        d.allowed && d.warnings.is_empty() && d.audit_annotations.is_empty(),
        "{d:?}"
    );

    let warn = policy(dir.path(), Severity::High, Unscanned::Warn);
    let d = warn.validate(&create(&[NEVER]), Mode::Enforce, NOW_MS);
    assert!(d.allowed, "{d:?}");
    assert_eq!(
        d.warnings,
        [format!(
            r#"image vulnerabilities: container "web": image "{NEVER}" has not been scanned"#
        )]
    );
    // In audit mode the notice goes to the audit log, not to the client.
    let d = warn.validate(&create(&[NEVER]), Mode::Audit, NOW_MS);
    assert!(d.allowed && d.warnings.is_empty(), "{d:?}");
    assert_eq!(d.audit_annotations[0].0, "image-vulnerabilities-notice");

    let deny = policy(dir.path(), Severity::High, Unscanned::Deny);
    let d = deny.validate(&create(&[NEVER]), Mode::Enforce, NOW_MS);
    assert!(!d.allowed);
    assert_eq!(
        message(&d),
        format!(
            r#"pods "x" is forbidden: image vulnerabilities: container "web": image "{NEVER}" has not been scanned"#
        )
    );
}

/// A scan recorded longer ago than `maxAge` counts as none.
#[test]
fn max_age_turns_old_scans_into_unscanned_images() {
    let dir = database();
    let now_ms = kubevigil_model::time::now_ms();
    let p = ImageVulnerabilityPolicy::open(
        dir.path(),
        Severity::Critical,
        Unscanned::Deny,
        Some(30 * 86_400),
    )
    .unwrap();
    assert!(p.validate(&create(&[CLEAN]), Mode::Enforce, now_ms).allowed);
    let conn = rusqlite::Connection::open(dir.path().join("osv.sqlite")).unwrap();
    conn.execute(
        "UPDATE image_scans SET scanned_at = scanned_at - 40 * 86400 WHERE digest = ?1",
        [D_CLEAN],
    )
    .unwrap();
    let d = p.validate(&create(&[CLEAN]), Mode::Enforce, now_ms);
    assert!(!d.allowed);
    assert!(
        message(&d).contains(&format!(
            r#"image "{CLEAN}" was last scanned 40 days ago (maxAge exceeded)"#
        )),
        "{d:?}"
    );
}

/// Our own failure admits (with a warning and a log line) unless `unscanned: deny`.
#[test]
fn a_database_error_fails_open_unless_unscanned_images_are_denied() {
    let dir = database();
    let conn = rusqlite::Connection::open(dir.path().join("osv.sqlite")).unwrap();
    conn.execute(
        "UPDATE image_scans SET summary = 'not json' WHERE digest = ?1",
        [D_WEB],
    )
    .unwrap();
    for unscanned in [Unscanned::Allow, Unscanned::Warn] {
        let p = policy(dir.path(), Severity::High, unscanned);
        let d = p.validate(&create(&[WEB]), Mode::Enforce, NOW_MS);
        assert!(d.allowed, "{unscanned:?}: {d:?}");
        assert_eq!(d.warnings.len(), 1, "{unscanned:?}: {d:?}");
        assert!(
            d.warnings[0].starts_with(&format!(r#"image vulnerabilities: container "web": image "{WEB}" could not be looked up: stored record {D_WEB}"#)),
            "{d:?}"
        );
        assert!(d.warnings[0].ends_with("; admitted"), "{d:?}");
    }
    let p = policy(dir.path(), Severity::High, Unscanned::Deny);
    let d = p.validate(&create(&[WEB]), Mode::Enforce, NOW_MS);
    assert!(!d.allowed);
    assert!(message(&d).contains("could not be looked up"), "{d:?}");
}

#[test]
fn updates_judge_only_changed_images() {
    let dir = database();
    let p = policy(dir.path(), Severity::High, Unscanned::Deny);
    // The vulnerable image was already there: an unrelated update (labels) is not re-judged.
    let mut relabelled = pod(&[WEB]);
    relabelled["metadata"]["labels"] = json!({"release": "2"});
    let d = p.validate(
        &request("UPDATE", ("", "pods", ""), relabelled, pod(&[WEB])),
        Mode::Enforce,
        NOW_MS,
    );
    assert!(d.allowed, "{d:?}");
    // Changing to it is.
    let d = p.validate(
        &request("UPDATE", ("", "pods", ""), pod(&[WEB]), pod(&[CLEAN])),
        Mode::Enforce,
        NOW_MS,
    );
    assert!(!d.allowed);
    // So is an ephemeral container added with `kubectl debug`.
    let mut debugged = pod(&[CLEAN]);
    debugged["spec"]["ephemeralContainers"] = json!([{"name": "debug", "image": WEB}]);
    let d = p.validate(
        &request(
            "UPDATE",
            ("", "pods", "ephemeralcontainers"),
            debugged,
            pod(&[CLEAN]),
        ),
        Mode::Enforce,
        NOW_MS,
    );
    assert!(message(&d).contains(r#"container "debug": image"#), "{d:?}");
    // Subresources without a pod spec to judge, and deletes, are not looked at.
    for (op, sub) in [("UPDATE", "status"), ("CREATE", "binding"), ("DELETE", "")] {
        let d = p.validate(
            &request(op, ("", "pods", sub), pod(&[WEB]), Value::Null),
            Mode::Enforce,
            NOW_MS,
        );
        assert!(d.not_applicable, "{op} {sub}: {d:?}");
    }
}

#[test]
fn workload_templates_are_judged() {
    let dir = database();
    let p = policy(dir.path(), Severity::High, Unscanned::Allow);
    let deployment = |image: &str| {
        json!({"metadata": {"name": "x"}, "spec": {"template": {"spec": {
            "initContainers": [{"name": "init", "image": CLEAN}],
            "containers": [{"name": "web", "image": image}]}}}})
    };
    let d = p.validate(
        &request(
            "CREATE",
            ("apps", "deployments", ""),
            deployment(WEB),
            Value::Null,
        ),
        Mode::Enforce,
        NOW_MS,
    );
    assert!(!d.allowed);
    assert!(
        message(&d).starts_with(
            r#"deployments.apps "x" is forbidden: image vulnerabilities: container "web""#
        ),
        "{d:?}"
    );
    let cronjob = json!({"spec": {"jobTemplate": {"spec": {"template": {"spec": {
        "containers": [{"name": "job", "image": WEB}]}}}}}});
    assert!(
        !p.validate(
            &request("CREATE", ("batch", "cronjobs", ""), cronjob, Value::Null),
            Mode::Enforce,
            NOW_MS
        )
        .allowed
    );
    // A rollout of a new, clean image is admitted; `deployments/scale` is not looked at.
    assert!(
        p.validate(
            &request(
                "UPDATE",
                ("apps", "deployments", ""),
                deployment(CLEAN),
                deployment(WEB)
            ),
            Mode::Enforce,
            NOW_MS
        )
        .allowed
    );
    assert!(
        p.validate(
            &request(
                "UPDATE",
                ("apps", "deployments", "scale"),
                deployment(WEB),
                Value::Null
            ),
            Mode::Enforce,
            NOW_MS
        )
        .not_applicable
    );
}

fn config(dir: &Path, body: &str) -> String {
    format!(
        "imageVulnerabilities: {{database: {}, {body}}}\n",
        dir.display()
    )
}

fn load(text: &str) -> Result<Webhook, String> {
    kubevigil_webhook::config::from_text(text, &|_| Err("no files".into()))
        .map_err(|e| e.to_string())
}

fn load_err(text: &str) -> String {
    match load(text) {
        Ok(_) => panic!("accepted: {text}"),
        Err(e) => e,
    }
}

/// A whole AdmissionReview in, the response the server would send out.
fn review(webhook: &Webhook, uid: &str, object: Value) -> Value {
    let body = serde_json::to_vec(&json!({
        "apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
        "request": {
            "uid": uid, "kind": {"group": "", "version": "v1", "kind": "Pod"},
            "resource": {"group": "", "version": "v1", "resource": "pods"},
            "name": "x", "namespace": "shop", "operation": "CREATE",
            "userInfo": {"username": "alice"}, "object": object,
        }
    }))
    .unwrap();
    let req = parse_review(&body).unwrap();
    let outcome = webhook.validate(&req, None, Instant::now());
    serde_json::to_value(ReviewResponse::new(outcome.response)).unwrap()["response"].clone()
}

#[test]
fn admission_reviews_in_each_mode() {
    let dir = database();
    let enforce = load(&config(dir.path(), "mode: enforce, denyAtOrAbove: high")).unwrap();
    let r = review(&enforce, "e1", pod(&[WEB]));
    assert_eq!(r["uid"], "e1");
    assert_eq!(r["allowed"], false);
    assert_eq!(r["status"]["code"], 403);
    assert_eq!(r["status"]["reason"], "Forbidden");
    let m = r["status"]["message"].as_str().unwrap();
    assert!(
        m.starts_with(&format!(r#"pods "x" is forbidden: image vulnerabilities: container "web": image "{WEB}" has 3 vulnerabilities (1 critical, 2 high; 1 with a fix): CVE-2025-0000 in openssl 3.0.1 (fixed in 3.0.2)"#)),
        "{m}"
    );
    assert!(m.ends_with("; base image debian:12"), "{m}");
    assert_eq!(review(&enforce, "e2", pod(&[CLEAN]))["allowed"], true);
    // Unscanned defaults to allow.
    let r = review(&enforce, "e3", pod(&[NEVER]));
    assert_eq!(r["allowed"], true);
    assert!(r.get("warnings").is_none(), "{r}");

    let warn = load(&config(dir.path(), "mode: warn, unscanned: warn")).unwrap();
    let r = review(&warn, "w1", pod(&[WEB, NEVER]));
    assert_eq!(r["allowed"], true);
    let w = r["warnings"].as_array().unwrap();
    assert_eq!(w.len(), 2, "{r}");
    assert!(
        w.iter().any(|w| w.as_str().unwrap().starts_with(&format!(
            r#"image vulnerabilities: container "c1": image "{NEVER}" has not been scanned"#
        ))),
        "{r}"
    );
    assert!(w.iter().any(|w| w.as_str().unwrap().starts_with(&format!(
        r#"pods "x" is forbidden: image vulnerabilities: container "web": image "{WEB}" has 3 vulnerabilities"#
    ))), "{r}");

    let audit = load(&config(dir.path(), "mode: audit")).unwrap();
    let r = review(&audit, "a1", pod(&[WEB]));
    assert_eq!(r["allowed"], true);
    assert!(r.get("warnings").is_none(), "{r}");
    assert!(
        r["auditAnnotations"]["image-vulnerabilities"]
            .as_str()
            .unwrap()
            .contains("1 critical"),
        "{r}"
    );
}

#[test]
fn configuration_errors() {
    let dir = database();
    // Defaults: enforce, high, allow, no maxAge.
    let w = load(&config(dir.path(), "")).unwrap();
    let (mode, p) = w.image_vulnerabilities.as_ref().unwrap();
    assert_eq!(*mode, Mode::Enforce);
    assert_eq!(
        (p.deny_at_or_above, p.unscanned, p.max_age),
        (Severity::High, Unscanned::Allow, None)
    );
    let w = load(&config(
        dir.path(),
        "denyAtOrAbove: Critical, unscanned: deny, maxAge: 30d",
    ))
    .unwrap();
    let (_, p) = w.image_vulnerabilities.as_ref().unwrap();
    assert_eq!(
        (p.deny_at_or_above, p.unscanned, p.max_age),
        (Severity::Critical, Unscanned::Deny, Some(30 * 86_400))
    );

    let err = load_err(&config(dir.path(), "denyAtOrAbove: severe"));
    assert!(
        err.starts_with(r#"imageVulnerabilities.denyAtOrAbove: unknown severity "severe""#),
        "{err}"
    );
    let err = load_err(&config(dir.path(), "unscanned: block"));
    assert!(
        err.starts_with(r#"imageVulnerabilities.unscanned: "block""#),
        "{err}"
    );
    let err = load_err(&config(dir.path(), "maxAge: 30 days"));
    assert!(err.starts_with("imageVulnerabilities.maxAge:"), "{err}");
    let err = load_err(&config(dir.path(), "denyAbove: high"));
    assert!(err.contains("denyAbove"), "{err}");
    let err = load_err("imageVulnerabilities: {mode: enforce}");
    assert!(err.contains("database"), "{err}");
    // A directory without the database is refused at startup, and not created.
    let empty = tempfile::tempdir().unwrap();
    let missing = empty.path().join("db");
    let err = load_err(&config(&missing, ""));
    assert!(
        err.starts_with(&format!(
            "imageVulnerabilities.database: {} holds no osv.sqlite",
            missing.display()
        )),
        "{err}"
    );
    assert!(!missing.exists());
    let err = load_err(&config(empty.path(), ""));
    assert!(err.contains("holds no osv.sqlite"), "{err}");
    // A relative database is taken from the configuration's directory.
    let text = "imageVulnerabilities: {database: db}\n";
    let base = dir.path().parent().unwrap();
    let name = dir.path().file_name().unwrap().to_str().unwrap();
    let w = kubevigil_webhook::config::from_text_in(&text.replace("db", name), base, &|_| {
        Err("no files".into())
    })
    .unwrap();
    assert!(w.image_vulnerabilities.is_some());
}

/// One lookup per review, measured: the figure the README states.
#[test]
fn lookup_latency() {
    let dir = database();
    let p = policy(dir.path(), Severity::High, Unscanned::Warn);
    let reqs = [
        create(&[WEB]),
        create(&[CLEAN]),
        create(&[&format!("registry.example.com/shop/pinned@{D_PINNED}")]),
        create(&[NEVER]),
    ];
    for r in &reqs {
        p.validate(r, Mode::Enforce, NOW_MS);
    }
    let n = 4000;
    let start = Instant::now();
    for i in 0..n {
        p.validate(&reqs[i % reqs.len()], Mode::Enforce, NOW_MS);
    }
    let per = start.elapsed() / n as u32;
    eprintln!("image vulnerabilities: {per:?} per single-container review (lookup and decision)");
    assert!(per.as_millis() < 5, "{per:?} per review");
}
