//! What the directory loader refuses to misread (issue 13, point 5): Helm charts and
//! kustomizations are named with the command that renders them, and an object defined twice is
//! loaded once, with a warning naming both places.

use std::path::Path;

use kubevigil_model::{DiagLevel, Loaded, load_paths};

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

fn load(path: &Path) -> Loaded {
    load_paths(&[path], &Default::default())
}

const DEPLOY: &str =
    "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\nspec: {}\n";
const TEMPLATE: &str = "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n  labels: {{- include \"x\" . | nindent 4 }}\n";

#[test]
fn helm_chart_dir_is_one_error_naming_helm_template_and_its_templates_are_not_read() {
    let tmp = tempfile::tempdir().unwrap();
    let chart = tmp.path().join("chart");
    write(
        &chart,
        "Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
    );
    write(&chart, "values.yaml", "replicas: 2\n");
    write(&chart, "templates/svc.yaml", TEMPLATE);
    write(tmp.path(), "plain/deploy.yaml", DEPLOY);

    let loaded = load(tmp.path());
    let errors: Vec<_> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.level == DiagLevel::Error)
        .collect();
    assert_eq!(errors.len(), 1, "{:?}", loaded.diagnostics);
    let chart_name = chart.display().to_string();
    assert_eq!(errors[0].file, chart_name);
    assert!(
        errors[0]
            .message
            .contains(&format!("helm template {chart_name}")),
        "{}",
        errors[0]
    );
    // Only the error: no YAML error from the template, no note from values.yaml.
    assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
    // Manifests beside the chart are still loaded.
    assert_eq!(loaded.inventory.objects.len(), 1);

    // The chart directory named on the command line: the same.
    let loaded = load(&chart);
    assert_eq!(loaded.diagnostics.len(), 1, "{:?}", loaded.diagnostics);
    assert!(loaded.has_errors());
}

#[test]
fn kustomization_dirs_name_kubectl_kustomize_whatever_the_file_is_called() {
    for file in ["kustomization.yaml", "kustomization.yml", "Kustomization"] {
        let tmp = tempfile::tempdir().unwrap();
        let dir = tmp.path().join("overlay");
        write(&dir, file, "resources: [deploy.yaml]\npatches: []\n");
        write(&dir, "deploy.yaml", DEPLOY);
        let loaded = load(tmp.path());
        assert_eq!(
            loaded.diagnostics.len(),
            1,
            "{file}: {:?}",
            loaded.diagnostics
        );
        let d = &loaded.diagnostics[0];
        assert_eq!(d.level, DiagLevel::Error);
        assert!(
            d.message
                .contains(&format!("kubectl kustomize {}", dir.display())),
            "{d}"
        );
        assert!(loaded.inventory.objects.is_empty(), "{file}");
    }
}

#[test]
fn duplicate_objects_are_loaded_once_when_identical_with_a_warning_naming_both_places() {
    let tmp = tempfile::tempdir().unwrap();
    write(tmp.path(), "a.yaml", DEPLOY);
    // Same identity, no namespace vs namespace "" count as one; another apiVersion does not. An
    // identical copy is dropped; a copy written differently is kept (kubectl would apply it).
    let b = format!(
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c}}\n---\n{DEPLOY}---\n\
         apiVersion: v1\nkind: ConfigMap\nmetadata: {{name: c, namespace: \"\"}}\n---\n\
         apiVersion: apps/v1beta2\nkind: Deployment\nmetadata: {{name: web, namespace: shop}}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {{generateName: job-}}\n---\n\
         apiVersion: v1\nkind: Pod\nmetadata: {{generateName: job-}}\n"
    );
    write(tmp.path(), "b.yaml", &b);
    let loaded = load(tmp.path());
    let kept: Vec<(String, String, String)> = loaded
        .inventory
        .objects
        .iter()
        .map(|o| {
            let s = o.source.file().unwrap();
            (
                format!("{}/{}", o.kind, o.name),
                std::path::Path::new(&*s.file)
                    .file_name()
                    .unwrap()
                    .to_string_lossy()
                    .into_owned(),
                s.line.to_string(),
            )
        })
        .collect();
    let kept: Vec<(&str, &str, &str)> = kept
        .iter()
        .map(|(a, b, c)| (a.as_str(), b.as_str(), c.as_str()))
        .collect();
    assert_eq!(
        kept,
        [
            ("Deployment/web", "a.yaml", "1"),
            ("ConfigMap/c", "b.yaml", "1"),
            ("ConfigMap/c", "b.yaml", "12"),
            ("Deployment/web", "b.yaml", "16"),
            ("Pod/job-", "b.yaml", "20"),
            ("Pod/job-", "b.yaml", "24"),
        ]
    );
    let warnings: Vec<String> = loaded
        .diagnostics
        .iter()
        .filter(|d| d.level == DiagLevel::Warning)
        .map(|d| {
            let file = Path::new(&d.file).file_name().unwrap().to_string_lossy();
            let message = d.message.replace(&format!("{}/", tmp.path().display()), "");
            format!("{file}:{}:{}: {message}", d.line, d.col)
        })
        .collect();
    assert_eq!(
        warnings,
        [
            "b.yaml:5:1: duplicate object Deployment shop/web (apps/v1): already defined at a.yaml:1:1; this copy is ignored",
            "b.yaml:12:1: duplicate object ConfigMap c (v1): already defined differently at b.yaml:1:1; both are checked (kubectl apply would apply this copy over it)",
        ]
    );
    assert!(!loaded.has_errors());
}
