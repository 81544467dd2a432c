//! A pod template the API server would not decode is reported at the field that does not
//! decode, not at the pod spec (issue 13, point 5).

use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};
use kubevigil_pss::scan::workloads;

fn load(text: &str) -> Loaded {
    let mut loaded = Loaded::default();
    load_text_into("d.yaml", text, &LoadOptions::default(), &mut loaded);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    loaded
}

const DEPLOYMENT: &str = "\
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
  namespace: shop
spec:
  template:
    metadata:
      labels: {app: web}
    spec:
      containers:
      - name: web
        image: nginx:1.27
        ports:
        - containerPort: 80
        - containerPort: PORT
";

#[test]
fn a_string_where_an_integer_is_wanted_is_reported_at_that_field() {
    let loaded = load(DEPLOYMENT);
    let (ok, errors) = workloads(&loaded.inventory);
    assert!(ok.is_empty());
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].path.to_string(),
        "spec.template.spec.containers[0].ports[1].containerPort"
    );
    let d = errors[0].diagnostic().to_string();
    assert!(
        d.starts_with("d.yaml:16:11: error: Deployment shop/web: spec.template.spec.containers[0].ports[1].containerPort: pod spec: invalid type: string, expected"),
        "{d}"
    );
    // The value itself may be a secret: never quoted.
    assert!(!d.contains("PORT\""), "{d}");
}

#[test]
fn an_error_in_a_nested_object_names_its_full_path() {
    let text = DEPLOYMENT
        .replace("        - containerPort: PORT\n", "")
        .replace(
            "      containers:",
            "      securityContext:\n        runAsUser: root\n      containers:",
        );
    let loaded = load(&text);
    let (_, errors) = workloads(&loaded.inventory);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        errors[0].path.to_string(),
        "spec.template.spec.securityContext.runAsUser"
    );
    let d = errors[0].diagnostic();
    assert_eq!((d.line, d.col), (12, 9), "{d}");
}

#[test]
fn metadata_errors_point_into_the_metadata() {
    let text = DEPLOYMENT.replace("labels: {app: web}", "labels: [app]");
    let loaded = load(&text);
    let (_, errors) = workloads(&loaded.inventory);
    assert_eq!(errors.len(), 1);
    assert_eq!(errors[0].path.to_string(), "spec.template.metadata.labels");
    assert_eq!(errors[0].diagnostic().line, 9);
}
