//! Findings about objects that did not come from a file (a cluster, an admission request): every
//! format renders them without a file, a line or a column (never a fake `<admission>:0:0`), and
//! their fingerprints equal those of the same object read from a file, so a baseline written
//! from files applies to them.

use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};
use kubevigil_model::{FieldPath, Finding, Object, ObjectRef, Origin, Severity};
use kubevigil_report::{Report, RuleInfo, json, junit, sarif, table};

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
  uid: 5f0c2b1e-0000-4000-8000-000000000001
  resourceVersion: \"4711\"
spec:
  template:
    spec:
      containers:
        - name: sidecar
          image: envoy:1.31
        - name: web
          image: nginx:latest
";

fn from_file() -> Object {
    let mut loaded = Loaded::default();
    load_text_into(
        "deploy.yaml",
        DEPLOYMENT,
        &LoadOptions::default(),
        &mut loaded,
    );
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded.inventory.objects.remove(0)
}

fn value() -> serde_json::Value {
    from_file().value
}

fn image_path() -> FieldPath {
    FieldPath::parse_keys("spec.template.spec.containers")
        .index(1)
        .key("image")
}

fn finding(object: &Object) -> Finding {
    Finding::at(
        "image-tag-latest",
        Severity::Medium,
        "Image uses the latest tag or no tag",
        "container \"web\" image \"nginx:latest\" uses the :latest tag".into(),
        object,
        &image_path(),
        "pin it",
        Vec::new(),
    )
}

fn rules() -> Vec<RuleInfo> {
    vec![RuleInfo {
        id: "image-tag-latest".into(),
        title: "Image uses the latest tag or no tag".into(),
        severity: Severity::Medium,
        category: "images".into(),
        doc: "# image-tag-latest\n".into(),
        references: &[],
    }]
}

/// Renders one finding in every format: table, JSON, SARIF, JUnit.
fn render_all(f: &Finding) -> [(&'static str, String); 4] {
    let rules = rules();
    let findings = vec![f.clone()];
    let objects = vec![(*f.object).clone()];
    let report = Report {
        tool_version: "0.1.0",
        rules: &rules,
        findings: &findings,
        suppressed: &[],
        diagnostics: &[],
        objects: &objects,
    };
    [
        ("table", table::render(&report, false)),
        ("json", json::render(&report)),
        ("sarif", sarif::render(&report)),
        ("junit", junit::render(&report)),
    ]
}

#[test]
fn origins_of_objects() {
    let file = from_file();
    assert_eq!(file.source.file_name(), Some("deploy.yaml"));
    let cluster = Object::from_cluster(value(), "prod").unwrap();
    assert_eq!(
        cluster.source,
        Origin::Cluster {
            context: "prod".into(),
            uid: "5f0c2b1e-0000-4000-8000-000000000001".into(),
            resource_version: "4711".into(),
        }
    );
    assert_eq!(cluster.source.file(), None);
    assert_eq!(cluster.source.to_string(), "cluster prod");
    let admission = Object::from_admission(value(), "req-1").unwrap();
    assert_eq!(
        admission.source,
        Origin::Admission {
            uid: "req-1".into()
        }
    );
    assert_eq!(admission.source.to_string(), "admission request req-1");
    assert_eq!(file.key(), cluster.key());
    assert_eq!(file.key(), admission.key());
}

#[test]
fn fingerprints_do_not_depend_on_the_origin() {
    let file = finding(&from_file());
    let cluster = finding(&Object::from_cluster(value(), "prod").unwrap());
    let admission = finding(&Object::from_admission(value(), "req-1").unwrap());
    assert_eq!(file.fingerprint, cluster.fingerprint);
    assert_eq!(file.fingerprint, admission.fingerprint);
    // The fingerprint a baseline written today holds for this finding.
    assert_eq!(file.fingerprint.len(), 32);
    assert_eq!(file.location.file.as_deref(), Some("deploy.yaml"));
    assert_eq!((file.location.line, file.location.col), (15, 11));
    assert_eq!(cluster.location.file_pos(), None);
    assert_eq!(
        cluster.location.field_path,
        "spec.template.spec.containers[1].image"
    );
    assert_eq!(cluster.location.field_path, file.location.field_path);
    assert_eq!(*cluster.object, ObjectRef::of(&from_file()));
}

#[test]
fn file_findings_keep_their_location_in_every_format() {
    let f = finding(&from_file());
    let [(_, table), (_, json), (_, sarif), (_, junit)] = render_all(&f);
    assert!(table.contains("deploy.yaml\n"), "{table}");
    assert!(table.contains("  15:11  container"), "{table}");
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["findings"][0]["location"].to_string(),
        r#"{"file":"deploy.yaml","line":15,"col":11,"fieldPath":"spec.template.spec.containers[1].image"}"#
    );
    let sarif: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let loc = &sarif["runs"][0]["results"][0]["locations"][0];
    assert_eq!(
        loc["physicalLocation"]["artifactLocation"]["uri"],
        "deploy.yaml"
    );
    assert_eq!(loc["physicalLocation"]["region"]["startLine"], 15);
    assert!(junit.contains(r#"file="deploy.yaml" line="15""#), "{junit}");
    assert!(junit.contains("deploy.yaml:15:11 container"), "{junit}");
}

#[test]
fn findings_without_a_file_render_without_positions_in_every_format() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("data/sarif-schema-2.1.0.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    {
        let object = Object::from_admission(value(), "req-1").unwrap();
        let f = finding(&object);
        for (format, out) in render_all(&f) {
            for fake in [
                "<admission>",
                ":0:",
                ":0 ",
                "line=\"0\"",
                "\"line\":0",
                "\"line\": 0",
                "deploy.yaml",
            ] {
                assert!(!out.contains(fake), "{format} shows {fake:?}:\n{out}");
            }
            assert!(
                out.contains("spec.template.spec.containers[1].image"),
                "{format} lost the field path:\n{out}"
            );
        }
        let [(_, table), (_, json), (_, sarif), (_, junit)] = render_all(&f);
        assert!(
            table.contains(
                "  Deployment shop/web\n    MEDIUM   image-tag-latest  container \"web\" image"
            ),
            "{table}"
        );
        let json: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(
            json["findings"][0]["location"].to_string(),
            r#"{"fieldPath":"spec.template.spec.containers[1].image"}"#
        );
        let sarif: serde_json::Value = serde_json::from_str(&sarif).unwrap();
        let errors: Vec<String> = validator
            .iter_errors(&sarif)
            .map(|e| format!("{e} at {}", e.instance_path()))
            .collect();
        assert!(errors.is_empty(), "{errors:#?}");
        let loc = &sarif["runs"][0]["results"][0]["locations"][0];
        assert!(loc.get("physicalLocation").is_none(), "{loc}");
        assert_eq!(
            loc["logicalLocations"][0]["fullyQualifiedName"],
            "Deployment/shop/web:spec.template.spec.containers[1].image"
        );
        assert!(!junit.contains(" file="), "{junit}");
        assert!(!junit.contains(" line="), "{junit}");
        assert!(
            junit.contains(
                "uses the :latest tag (spec.template.spec.containers[1].image)</failure>"
            ),
            "{junit}"
        );
    }
}

/// Findings about an object read from a cluster locate it as
/// `cluster:<context>/<namespace>/<kind>/<name>` plus the field path, in every format, and
/// never show a position.
#[test]
fn cluster_findings_are_located_by_their_cluster_uri_in_every_format() {
    let schema: serde_json::Value =
        serde_json::from_str(include_str!("data/sarif-schema-2.1.0.json")).unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let f = finding(&Object::from_cluster(value(), "prod").unwrap());
    let uri = "cluster:prod/shop/Deployment/web";
    assert_eq!(f.location.place(), Some(uri));
    for (format, out) in render_all(&f) {
        for fake in [":0:", ":0 ", "line=\"0\"", "\"line\":0", "deploy.yaml"] {
            assert!(!out.contains(fake), "{format} shows {fake:?}:\n{out}");
        }
        assert!(out.contains(uri), "{format} lost the locator:\n{out}");
        assert!(
            out.contains("spec.template.spec.containers[1].image"),
            "{format} lost the field path:\n{out}"
        );
    }
    let [(_, table), (_, json), (_, sarif), (_, junit)] = render_all(&f);
    assert!(
        table.contains(&format!(
            "{uri}\n  Deployment shop/web\n    MEDIUM   image-tag-latest  container \"web\" image"
        )),
        "{table}"
    );
    let json: serde_json::Value = serde_json::from_str(&json).unwrap();
    assert_eq!(
        json["findings"][0]["location"].to_string(),
        r#"{"uri":"cluster:prod/shop/Deployment/web","fieldPath":"spec.template.spec.containers[1].image"}"#
    );
    let sarif: serde_json::Value = serde_json::from_str(&sarif).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    let loc = &sarif["runs"][0]["results"][0]["locations"][0];
    assert_eq!(
        loc["physicalLocation"],
        serde_json::json!({"artifactLocation": {"uri": uri}})
    );
    assert!(junit.contains(&format!(" file=\"{uri}\">")), "{junit}");
    assert!(!junit.contains(" line="), "{junit}");
    // A cluster-scoped object has an empty namespace segment.
    let ns = Object::from_cluster(
        serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        "arn:aws:eks:eu-west-1:1:cluster/prod",
    )
    .unwrap();
    assert_eq!(
        kubevigil_model::finding::cluster_uri("arn:aws:eks:eu-west-1:1:cluster/prod", &ns),
        "cluster:arn:aws:eks:eu-west-1:1:cluster/prod//Namespace/shop"
    );
}

#[test]
fn locations_without_a_file_round_trip_through_json() {
    let f = finding(&Object::from_cluster(value(), "prod").unwrap());
    let back: Finding = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
    assert_eq!(back, f);
    let f = finding(&Object::from_admission(value(), "req-1").unwrap());
    let back: Finding = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
    assert_eq!(back, f);
    let f = finding(&from_file());
    let back: Finding = serde_json::from_str(&serde_json::to_string(&f).unwrap()).unwrap();
    assert_eq!(back, f);
}
