//! `kubevigil pss`: Pod Security Standards verdicts, as the PodSecurity admission plugin gives
//! them, for every Pod and workload pod template in the input.
//!
//! Three modes: a fixed `--level`/`--version`; namespace-aware (no `--level`: the
//! `pod-security.kubernetes.io/*` labels of the Namespace objects in the input over the
//! defaults and exemptions of `--admission-config`); and `--what-if LEVEL[:VERSION]`. The
//! decisions are `kubevigil_pss::workloads`'; the output is `kubevigil_report::pss`'.

use std::path::PathBuf;
use std::process::ExitCode;

use kubevigil_model::DiagLevel;
use kubevigil_pss::config::{self, PodSecurityConfiguration};
use kubevigil_pss::scan::workloads;
use kubevigil_pss::workloads::{FixedLevel, NamespaceAware, Namespaces, WhatIf};
use kubevigil_pss::{Level, LevelVersion, Version};
use kubevigil_report::{Emitter, Json, Table};

use crate::cli;

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
}

impl Format {
    fn emit<T>(self, out: &mut dyn std::io::Write, result: &T) -> std::io::Result<()>
    where
        Table: Emitter<T>,
        Json: Emitter<T>,
    {
        match self {
            Format::Table => Table.emit(out, result),
            Format::Json => Json.emit(out, result),
        }
    }
}

#[derive(clap::Args)]
pub struct PssArgs {
    /// Evaluate every workload at this level (privileged, baseline, restricted). Without it,
    /// each workload gets its namespace's enforce/audit/warn policy.
    #[arg(long, value_parser = parse_level, conflicts_with = "what_if")]
    level: Option<Level>,
    /// Policy version with --level: `latest` or `v1.N` (versions above the newest behave as it).
    #[arg(long, value_parser = parse_version, requires = "level", default_value = "latest")]
    version: Version,
    /// AdmissionConfiguration (or PodSecurityConfiguration) file: defaults and exemptions for
    /// the namespace-aware and what-if modes.
    #[arg(long, value_name = "FILE")]
    admission_config: Option<PathBuf>,
    /// Requesting user, for username exemptions.
    #[arg(long = "as", value_name = "USER")]
    username: Option<String>,
    /// Which workloads would be rejected if every namespace enforced LEVEL[:VERSION]?
    #[arg(long, value_name = "LEVEL[:VERSION]", value_parser = parse_level_version)]
    what_if: Option<LevelVersion>,
    #[arg(short = 'o', long, value_enum, default_value = "table")]
    output: Format,
    /// Manifest files or directories; `-` reads stdin.
    #[arg(
        required_unless_present = "cluster",
        conflicts_with = "cluster",
        value_name = "PATH"
    )]
    paths: Vec<PathBuf>,
    #[command(flatten)]
    cluster: cli::ClusterArgs,
    /// Accept an input without any Kubernetes object (otherwise a warning and exit code 2).
    #[arg(long)]
    allow_empty: bool,
}

fn parse_level(s: &str) -> Result<Level, String> {
    Level::parse(s).map_err(|(_, e)| e.to_string())
}

fn parse_version(s: &str) -> Result<Version, String> {
    Version::parse(s).map_err(|(_, e)| e.to_string())
}

fn parse_level_version(s: &str) -> Result<LevelVersion, String> {
    LevelVersion::parse(s)
}

pub fn run(args: PssArgs) -> anyhow::Result<ExitCode> {
    cli::ignore_broken_pipe(execute(
        args,
        &mut std::io::stdout().lock(),
        &mut std::io::stderr().lock(),
    ))
}

fn execute(
    args: PssArgs,
    out: &mut dyn std::io::Write,
    err: &mut dyn std::io::Write,
) -> anyhow::Result<ExitCode> {
    let config = match &args.admission_config {
        Some(path) => config::load_file(path)?,
        None => PodSecurityConfiguration::default(),
    };
    let cluster = args.cluster.enabled().then(|| args.cluster.load());
    let (loaded, empty) = cli::load_input(&args.paths, cluster, args.allow_empty)?;
    let mut had_error = cli::print_diagnostics(err, &loaded.diagnostics)? || empty;
    let (evaluated, decode_errors) = workloads(&loaded.inventory);
    for e in &decode_errors {
        let message = format!("{} {}: {}", e.object.display_name(), e.path, e.error);
        let d = cli::object_diagnostic(e.object, &e.path, DiagLevel::Error, message);
        writeln!(err, "{d}")?;
        had_error = true;
    }

    let failed = if let Some(level) = args.level {
        let result = FixedLevel::evaluate(&evaluated, LevelVersion::new(level, args.version));
        args.output.emit(out, &result)?;
        result.denied() > 0
    } else {
        let namespaces = Namespaces::resolve(&loaded.inventory.objects, &evaluated, &config);
        let username = args.username.as_deref();
        match args.what_if {
            Some(lv) => {
                let result = WhatIf::evaluate(&evaluated, &namespaces, &config, username, lv);
                args.output.emit(out, &result)?;
                result.rejected() > 0
            }
            None => {
                let result = NamespaceAware::admit(&evaluated, &namespaces, &config, username);
                args.output.emit(out, &result)?;
                result.rejected() > 0
            }
        }
    };
    Ok(cli::exit_code(had_error, failed))
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use serde_json::{Value, json};

    #[derive(Parser)]
    struct Cli {
        #[command(flatten)]
        args: PssArgs,
    }

    fn run_cli(argv: &[&str]) -> (u8, String, String) {
        let cli = Cli::try_parse_from(std::iter::once("pss").chain(argv.iter().copied())).unwrap();
        let (mut out, mut err) = (Vec::new(), Vec::new());
        let code = execute(cli.args, &mut out, &mut err).unwrap();
        let code = if code == ExitCode::SUCCESS {
            0
        } else if code == ExitCode::from(1) {
            1
        } else {
            2
        };
        (
            code,
            String::from_utf8(out).unwrap(),
            String::from_utf8(err).unwrap(),
        )
    }

    const MANIFESTS: &str = r#"apiVersion: v1
kind: Namespace
metadata:
  name: prod
  labels:
    pod-security.kubernetes.io/enforce: baseline
    pod-security.kubernetes.io/enforce-version: v1.29
    pod-security.kubernetes.io/warn: restricted
---
apiVersion: v1
kind: Namespace
metadata:
  name: legacy
  labels:
    pod-security.kubernetes.io/enforce: strict
---
apiVersion: v1
kind: Pod
metadata: {name: app, namespace: prod}
spec:
  hostNetwork: true
  containers:
  - name: app
    image: nginx
    securityContext: {privileged: true}
---
apiVersion: apps/v1
kind: Deployment
metadata: {name: web, namespace: prod}
spec:
  template:
    spec:
      containers:
      - name: web
        image: nginx
---
apiVersion: batch/v1
kind: CronJob
metadata: {name: report, namespace: legacy}
spec:
  schedule: "@daily"
  jobTemplate:
    spec:
      template:
        spec:
          restartPolicy: Never
          securityContext: {runAsNonRoot: true, seccompProfile: {type: RuntimeDefault}}
          containers:
          - name: report
            image: report
            securityContext: {allowPrivilegeEscalation: false, capabilities: {drop: [ALL]}}
"#;

    fn manifests() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(dir.path().join("all.yaml"), MANIFESTS).unwrap();
        dir
    }

    #[test]
    fn json_contract_for_a_fixed_level() {
        let dir = manifests();
        let path = dir.path().join("all.yaml");
        let (code, out, _) = run_cli(&[
            "--level",
            "baseline",
            "--version",
            "v1.29",
            "-o",
            "json",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        let results = v["results"].as_array().unwrap();
        assert_eq!(results.len(), 3);
        let pod = &results[0];
        let keys: Vec<&str> = pod
            .as_object()
            .unwrap()
            .keys()
            .map(String::as_str)
            .collect();
        assert_eq!(
            keys,
            [
                "file",
                "line",
                "kind",
                "namespace",
                "name",
                "level",
                "version",
                "allowed",
                "violations",
                "message"
            ]
        );
        assert_eq!(pod["line"], 17);
        assert_eq!(pod["allowed"], false);
        assert_eq!(pod["version"], "v1.29");
        assert_eq!(
            pod["message"],
            r#"violates PodSecurity "baseline:v1.29": host namespaces (hostNetwork=true), privileged (container "app" must not set securityContext.privileged=true)"#
        );
        assert_eq!(
            pod["violations"][0],
            json!({"check": "hostNamespaces", "reason": "host namespaces", "detail": "hostNetwork=true"})
        );
        assert_eq!(results[1]["allowed"], true);
        assert_eq!(results[1]["message"], Value::Null);

        let (code, _, _) = run_cli(&["--level", "privileged", path.to_str().unwrap()]);
        assert_eq!(code, 0);
    }

    #[test]
    fn namespace_aware_uses_labels_defaults_and_exemptions() {
        let dir = manifests();
        let cfg = dir.path().join("admission.yaml");
        std::fs::write(
            &cfg,
            "apiVersion: apiserver.config.k8s.io/v1\nkind: AdmissionConfiguration\nplugins:\n- name: PodSecurity\n  path: psa.yaml\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("psa.yaml"),
            "apiVersion: pod-security.admission.config.k8s.io/v1beta1\nkind: PodSecurityConfiguration\ndefaults: {enforce: baseline}\nexemptions: {namespaces: [prod]}\n",
        )
        .unwrap();
        let path = dir.path().join("all.yaml");
        // Without the config: prod enforces baseline:v1.29 (the Pod is rejected), legacy has an
        // invalid enforce label, which fails closed to restricted:latest.
        let (code, out, _) = run_cli(&["-o", "json", path.to_str().unwrap()]);
        assert_eq!(code, 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        let ns: Vec<(String, String)> = v["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| {
                (
                    n["name"].as_str().unwrap().to_string(),
                    n["enforce"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        assert_eq!(
            ns,
            [
                ("legacy".to_string(), "restricted:latest".to_string()),
                ("prod".into(), "baseline:v1.29".into())
            ]
        );
        assert_eq!(
            v["namespaces"][0]["labelErrors"].as_array().unwrap().len(),
            1
        );
        let r = &v["results"];
        assert_eq!(r[0]["allowed"], false);
        assert_eq!(r[0]["enforced"], true);
        assert_eq!(r[1]["allowed"], true, "web passes baseline");
        assert_eq!(r[1]["highestLevel"], "baseline");
        assert_eq!(
            r[1]["warnings"][0].as_str().unwrap().split(':').next(),
            Some(r#"would violate PodSecurity "restricted"#)
        );
        assert_eq!(r[2]["allowed"], true, "the CronJob is restricted-clean");

        // With the config: prod is exempt.
        let (code, out, _) = run_cli(&[
            "--admission-config",
            cfg.to_str().unwrap(),
            "-o",
            "json",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 0, "{out}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["results"][0]["exempt"], "namespace");

        let (code, out, _) = run_cli(&[
            "--admission-config",
            cfg.to_str().unwrap(),
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 0);
        assert!(out.contains("exempt (namespace)"), "{out}");
    }

    #[test]
    fn what_if_lists_exactly_the_rejected_workloads() {
        let dir = manifests();
        let path = dir.path().join("all.yaml");
        let (code, out, _) = run_cli(&["--what-if", "restricted", path.to_str().unwrap()]);
        assert_eq!(code, 1);
        assert!(out.contains(r#"Warning: existing pods in namespace "prod" violate the new PodSecurity enforce level "restricted:latest""#), "{out}");
        assert!(out.contains("Pod app ("), "{out}");
        assert!(out.contains("Deployment web ("), "{out}");
        assert!(!out.contains("CronJob report ("), "{out}");
        assert!(
            out.contains("2 workloads would be rejected under restricted:latest"),
            "{out}"
        );

        let (code, out, _) = run_cli(&[
            "--what-if",
            "baseline:v1.29",
            "-o",
            "json",
            path.to_str().unwrap(),
        ]);
        assert_eq!(code, 1);
        let v: Value = serde_json::from_str(&out).unwrap();
        let rejected: Vec<&str> = v["results"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|r| r["rejected"] == true)
            .map(|r| r["name"].as_str().unwrap())
            .collect();
        assert_eq!(rejected, ["app"]);
    }

    #[test]
    fn bad_input_exits_2_but_the_rest_is_evaluated() {
        let dir = manifests();
        std::fs::write(
            dir.path().join("broken.yaml"),
            "kind: Pod\nmetadata: {name: x\n",
        )
        .unwrap();
        std::fs::write(
            dir.path().join("typed.yaml"),
            "apiVersion: v1\nkind: Pod\nmetadata: {name: bad-type}\nspec:\n  hostNetwork: \"maybe\"\n  containers: [{name: a}]\n",
        )
        .unwrap();
        let (code, out, err) = run_cli(&[
            "--level",
            "baseline",
            "-o",
            "json",
            dir.path().to_str().unwrap(),
        ]);
        assert_eq!(code, 2);
        assert!(err.contains("broken.yaml:"), "{err}");
        assert!(err.contains(r#"typed.yaml:5:3: error: Pod bad-type spec.hostNetwork: pod spec: invalid type: string, expected a boolean"#), "{err}");
        let v: Value = serde_json::from_str(&out).unwrap();
        assert_eq!(v["results"].as_array().unwrap().len(), 3);
    }

    #[test]
    fn secret_values_never_reach_the_output() {
        let dir = manifests();
        std::fs::write(
            dir.path().join("secret.yaml"),
            "apiVersion: v1\nkind: Secret\nmetadata: {name: creds, namespace: prod}\nstringData: {password: hunter2-SECRET-VALUE}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: leaky, namespace: prod}\nspec:\n  containers:\n  - name: a\n    env: [{name: DB_PASSWORD, value: hunter2-SECRET-VALUE}]\n    securityContext: {privileged: true}\n",
        )
        .unwrap();
        for argv in [
            vec!["--level", "restricted", "-o", "json"],
            vec!["--level", "baseline"],
            vec![],
            vec!["-o", "json"],
            vec!["--what-if", "restricted"],
            vec!["--what-if", "restricted", "-o", "json"],
        ] {
            let mut argv = argv;
            let p = dir.path().to_str().unwrap().to_string();
            argv.push(&p);
            let (_, out, err) = run_cli(&argv);
            assert!(
                !out.contains("hunter2") && !err.contains("hunter2"),
                "{argv:?} leaked:\n{out}\n{err}"
            );
            assert!(out.contains("leaky"), "{argv:?}");
        }
    }

    #[test]
    fn invalid_admission_config_is_an_error() {
        let dir = manifests();
        let cfg = dir.path().join("bad.yaml");
        std::fs::write(&cfg, "apiVersion: pod-security.admission.config.k8s.io/v1\nkind: PodSecurityConfiguration\ndefaults: {enforce: strict}\n").unwrap();
        let cli = Cli::try_parse_from([
            "pss",
            "--admission-config",
            cfg.to_str().unwrap(),
            dir.path().to_str().unwrap(),
        ])
        .unwrap();
        let err = execute(cli.args, &mut Vec::new(), &mut Vec::new()).unwrap_err();
        assert!(
            format!("{err:#}").contains(r#"defaults.enforce: Invalid value: "strict""#),
            "{err:#}"
        );
    }
}
