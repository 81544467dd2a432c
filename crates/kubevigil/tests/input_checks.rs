//! Everything the user types is checked (issue 13, point 5), as the CLI reports it: an input
//! without any Kubernetes object exits 2 unless `--allow-empty`, in every command that loads
//! manifests; a Helm chart or a kustomization is named with the command that renders it; a
//! typo in the ignore annotation and a duplicate object are warnings; a type error in a pod
//! template is located at its field.

use std::path::Path;
use std::process::{Command, Output};

fn kubevigil(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_kubevigil"))
        .args(args)
        .current_dir(dir)
        .env("NO_COLOR", "1")
        .output()
        .unwrap()
}

fn code(o: &Output) -> i32 {
    o.status.code().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn write(dir: &Path, rel: &str, text: &str) {
    let path = dir.join(rel);
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, text).unwrap();
}

#[test]
fn no_object_is_exit_2_unless_allow_empty_in_every_command() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(d, "empty/.keep", "");
    write(d, "comments/a.yaml", "# nothing here\n---\n# nor here\n");
    write(d, "values/values.yaml", "replicas: 2\nimage: {tag: x}\n");
    for input in ["empty", "comments", "values"] {
        let runs: [&[&str]; 4] = [
            &["scan", "-o", "json", input],
            &["pss", input],
            &["netpol", "connectivity", input],
            &["netpol", "diff", input, input],
        ];
        for args in runs {
            let o = kubevigil(args, d);
            assert_eq!(code(&o), 2, "{args:?}: {}", stderr(&o));
            assert!(
                stderr(&o).contains("warning: no Kubernetes object found"),
                "{args:?}: {}",
                stderr(&o)
            );
            let with: Vec<&str> = args.iter().copied().chain(["--allow-empty"]).collect();
            let o = kubevigil(&with, d);
            assert_eq!(code(&o), 0, "{with:?}: {}", stderr(&o));
            assert!(!stderr(&o).contains("no Kubernetes object"), "{with:?}");
        }
    }
    // The JSON report carries the warning too.
    let o = kubevigil(&["scan", "-o", "json", "empty"], d);
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    assert_eq!(report["diagnostics"][0]["level"], "warning");
}

#[test]
fn helm_chart_and_kustomization_name_the_command_that_renders_them() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    write(
        d,
        "chart/Chart.yaml",
        "apiVersion: v2\nname: shop\nversion: 0.1.0\n",
    );
    write(
        d,
        "chart/templates/svc.yaml",
        "apiVersion: v1\nkind: Service\nmetadata:\n  name: {{ .Release.Name }}\n{{- include \"x\" . }}\n",
    );
    write(
        d,
        "overlay/kustomization.yaml",
        "resources: [deploy.yaml]\n",
    );
    write(
        d,
        "overlay/deploy.yaml",
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\n",
    );
    let o = kubevigil(&["scan", "chart"], d);
    assert_eq!(code(&o), 2);
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(
        out.contains("`helm template chart`"),
        "{out}\n{}",
        stderr(&o)
    );
    assert!(!out.contains("svc.yaml"), "{out}");
    let o = kubevigil(&["scan", "-o", "json", "overlay"], d);
    assert_eq!(code(&o), 2);
    assert!(
        stderr(&o).contains("overlay: error: a kustomization, not manifests: render it with `kubectl kustomize overlay`"),
        "{}",
        stderr(&o)
    );
}

#[test]
fn typos_duplicates_and_type_errors_are_reported_where_they_are() {
    let tmp = tempfile::tempdir().unwrap();
    let d = tmp.path();
    let deploy = "apiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: web\n  namespace: shop\n  annotations:\n    kubevigil.io/ignore: image-tag-latst\nspec:\n  template:\n    spec:\n      containers:\n      - name: web\n        image: nginx:latest\n        ports:\n        - containerPort: PORT\n";
    write(d, "m/a.yaml", deploy);
    write(d, "m/b.yaml", deploy);
    let o = kubevigil(&["scan", "-o", "json", "--allow-empty", "m"], d);
    let err = stderr(&o);
    assert_eq!(code(&o), 2, "{err}");
    for want in [
        "m/a.yaml:7:5: warning: Deployment shop/web: annotation kubevigil.io/ignore: unknown check id \"image-tag-latst\"; did you mean `image-tag-latest`?",
        "m/b.yaml:1:1: warning: duplicate object Deployment shop/web (apps/v1): already defined at m/a.yaml:1:1; this copy is ignored",
        "m/a.yaml:15:11: error: Deployment shop/web: spec.template.spec.containers[0].ports[0].containerPort: pod spec: invalid type: string, expected",
    ] {
        assert!(err.contains(want), "missing {want:?} in\n{err}");
    }
    assert!(!err.contains("m/b.yaml:15"), "{err}");
    // The built-in checks still run on the object whose template does not decode.
    let report: serde_json::Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["checkId"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"image-tag-latest"), "{ids:?}");
    assert!(ids.iter().all(|id| !id.starts_with("pss-")), "{ids:?}");
}
