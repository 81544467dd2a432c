//! `kubevigil scan`: arguments, then load manifests, `kubevigil_checks::scan`, render the report.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context as _;
use clap::ValueEnum;
use kubevigil_checks::{Config, PathsScan, SuppressedBy, baseline, catalog, scan_paths};
use kubevigil_model::{LoadOptions, Severity, yaml};
use kubevigil_report::{Report, RuleInfo, SuppressedFinding};

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
    Sarif,
    Junit,
    /// `wgpolicyk8s.io/v1alpha2` PolicyReports per namespace and a ClusterPolicyReport (YAML).
    Policyreport,
    /// `openreports.io/v1alpha1` Reports per namespace and a ClusterReport (YAML).
    Openreports,
    /// One self-contained HTML page: summary, findings with filters, objects, compliance.
    Html,
}

#[derive(Debug, clap::Args)]
#[command(after_help = "Examples:
  kubevigil scan examples/insecure
  kubevigil scan -o sarif --output-file kubevigil.sarif k8s/
  kubevigil scan -o html --output-file kubevigil.html k8s/
  helm template ./chart | kubevigil scan -
  kubectl get deploy,svc,cm -A -o yaml | kubevigil scan -
  kubevigil scan --baseline-write baseline.json k8s/ && kubevigil scan --baseline baseline.json k8s/
  kubevigil scan --cluster --context prod --exclude-namespaces 'kube-*'
  kubevigil scan --cluster -o policyreport | kubectl apply -f -
  kubevigil scan --images --db ~/.local/share/kubevigil/db k8s/

Exit codes: 0 no finding at or above --fail-on; 1 at least one; 2 an input or usage error
(the report still covers every readable document), or no Kubernetes object in the input
without --allow-empty.")]
pub struct ScanArgs {
    /// Files, directories (recursive: *.yaml, *.yml, *.json) or `-` for stdin.
    #[arg(
        required_unless_present = "cluster",
        conflicts_with = "cluster",
        value_name = "PATH"
    )]
    pub paths: Vec<PathBuf>,
    #[command(flatten)]
    pub cluster: crate::cli::ClusterArgs,
    /// Output format.
    #[arg(short, long, value_enum, default_value = "table")]
    pub output: Format,
    /// Write the report to FILE instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub output_file: Option<PathBuf>,
    /// Exit 1 when a finding has at least this severity (critical, high, medium, low, info).
    #[arg(long, default_value = "low", value_name = "SEVERITY")]
    pub fail_on: Severity,
    /// Configuration file (default: .kubevigil.yaml in the working directory, if present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    /// Report only findings whose fingerprint is not in this baseline file.
    #[arg(long, value_name = "FILE")]
    pub baseline: Option<PathBuf>,
    /// Record the fingerprints of today's findings to FILE.
    #[arg(long, value_name = "FILE")]
    pub baseline_write: Option<PathBuf>,
    /// Colour the table: auto (on a terminal, unless NO_COLOR is set), always, never.
    #[arg(long, default_value = "auto", value_name = "WHEN")]
    pub color: String,
    /// Largest input file accepted, in bytes.
    #[arg(long, default_value_t = kubevigil_model::load::DEFAULT_MAX_FILE_BYTES, value_name = "BYTES")]
    pub max_file_size: u64,
    /// Accept an input without any Kubernetes object (otherwise a warning and exit code 2).
    #[arg(long)]
    pub allow_empty: bool,
    /// Most results per report with `-o policyreport` and `-o openreports` (the most severe are
    /// kept; the summary counts them all); a report also stops at 1 MiB of results, so that
    /// it fits in etcd.
    #[arg(long, default_value_t = kubevigil_report::policyreport::DEFAULT_MAX_RESULTS, value_name = "N")]
    pub max_report_results: usize,
    /// Scan the workloads' images too (each image digest once, from its registry, against the
    /// local OSV database): `image-vulnerable` findings name the vulnerable ones. An image that
    /// cannot be scanned is an error at its manifest line (exit code 2).
    #[arg(long)]
    pub images: bool,
    /// The vulnerability database for --images (default: the platform's data directory).
    #[arg(long, value_name = "DIR", requires = "images")]
    pub db: Option<PathBuf>,
    /// A registry (host[:port]) spoken to over plain HTTP for --images.
    #[arg(long = "insecure-registry", value_name = "HOST", requires = "images")]
    pub insecure_registries: Vec<String>,
}

/// Where a workload names an image: the first place, for a diagnostic about it, and the image
/// pull secrets (`namespace`, `name`) of the workloads that run it, their own and their service
/// account's.
struct ImageUse {
    image: String,
    file: String,
    line: u32,
    col: u32,
    pull_secrets: Vec<(String, String)>,
}

/// The images the workloads of `paths` (or of the cluster) name, each once, in input order.
fn workload_images(
    args: &ScanArgs,
    opts: &LoadOptions,
    config: &Config,
) -> anyhow::Result<Vec<ImageUse>> {
    let uses_of = |objects: &[kubevigil_model::Object]| -> Vec<ImageUse> {
        let mut out = Vec::new();
        for o in objects {
            let Some(pod) = kubevigil_model::pod_template(o) else {
                continue;
            };
            let secrets = kubevigil_cluster::pull_secret_refs(o, |namespace, name| {
                objects.iter().find(|a| {
                    a.kind == "ServiceAccount"
                        && a.name == name
                        && a.namespace.as_deref() == Some(namespace)
                })
            });
            for c in pod.containers() {
                let Some(image) = c.value.get("image").and_then(|v| v.as_str()) else {
                    continue;
                };
                let (file, line, col) = match o.file_pos_of(&c.path.key("image")) {
                    Some((file, pos)) => (file.to_string(), pos.line, pos.col),
                    None => (format!("{} {}", o.kind, o.name), 0, 0),
                };
                out.push(ImageUse {
                    image: image.to_string(),
                    file,
                    line,
                    col,
                    pull_secrets: secrets.clone(),
                });
            }
        }
        out
    };
    let all: Vec<ImageUse> = if args.cluster.enabled() {
        let loaded = args.cluster.input().load(&|id| config.is_enabled(id))?;
        uses_of(&loaded.inventory.objects)
    } else {
        // The objects are dropped file by file: only the image names are kept.
        let (_, per_file) = kubevigil_model::load::load_paths_each(&args.paths, opts, &|part| {
            uses_of(&std::mem::take(&mut part.inventory.objects))
        });
        per_file.into_iter().flatten().collect()
    };
    // One use per image, with the pull secrets of every workload that runs it.
    let mut uses: Vec<ImageUse> = Vec::new();
    let mut at = std::collections::HashMap::new();
    for u in all {
        match at.get(&u.image) {
            Some(&i) => {
                let first: &mut ImageUse = &mut uses[i];
                for s in u.pull_secrets {
                    if !first.pull_secrets.contains(&s) {
                        first.pull_secrets.push(s);
                    }
                }
            }
            None => {
                at.insert(u.image.clone(), uses.len());
                uses.push(u);
            }
        }
    }
    Ok(uses)
}

/// The credentials of the image pull secrets `uses` name, read from the cluster, by secret; a
/// secret that cannot be read is a warning (the pull may still work with other credentials).
fn read_pull_secrets(
    args: &ScanArgs,
    uses: &[ImageUse],
) -> anyhow::Result<std::collections::HashMap<(String, String), kubevigil_oci::Credentials>> {
    let mut wanted: Vec<(String, String)> = uses
        .iter()
        .flat_map(|u| u.pull_secrets.iter().cloned())
        .collect();
    wanted.sort();
    wanted.dedup();
    if wanted.is_empty() {
        return Ok(Default::default());
    }
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let target = args.cluster.input().target;
    let found = runtime.block_on(async {
        let conn = kubevigil_cluster::Connection::connect(&target).await?;
        anyhow::Ok(kubevigil_cluster::pull_secrets(&conn, &wanted).await)
    })?;
    Ok(kubevigil_oci::Credentials::of_pull_secrets(found))
}

/// Scans every image the workloads name, once per digest, reusing the database's cached scans
/// made at its current generation; the summaries go into `config.images.scans`, problems into
/// diagnostics at the first manifest line naming the image.
fn scan_images(
    args: &ScanArgs,
    opts: &LoadOptions,
    config: &mut Config,
) -> anyhow::Result<Vec<kubevigil_model::Diagnostic>> {
    let dir = super::image::db_dir(args.db.as_deref())?;
    let generation = super::image::open_existing(args.db.as_deref())?.generation()?;
    let options = kubevigil_oci::scan::ScanOptions {
        pull: super::image::pull_options(None, &args.insecure_registries)?,
        image_ref: None,
    };
    let uses = workload_images(args, opts, config)?;
    let secrets = if args.cluster.enabled() {
        read_pull_secrets(args, &uses)?
    } else {
        Default::default()
    };
    // Images are pulled a few at a time, each worker with its own database connection (SQLite
    // serializes the cache writes); results are taken in the order the manifests name them.
    let next = std::sync::atomic::AtomicUsize::new(0);
    let results: Vec<std::sync::Mutex<Option<anyhow::Result<kubevigil_oci::scan::Reused>>>> =
        uses.iter().map(|_| Default::default()).collect();
    let workers = uses.len().clamp(1, IMAGE_PULLS);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                let db = match kubevigil_vulndb::Db::open(&dir) {
                    Ok(db) => db,
                    Err(e) => {
                        tracing::error!(error = %e, "cannot open the vulnerability database");
                        return;
                    }
                };
                loop {
                    let i = next.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                    let Some(u) = uses.get(i) else { break };
                    // The pull secrets of the workloads that run the image win over the local
                    // docker config.
                    let mut options = options.clone();
                    for s in &u.pull_secrets {
                        if let Some(c) = secrets.get(s) {
                            options.pull.credentials.merge(c.clone());
                        }
                    }
                    let found =
                        kubevigil_oci::scan::scan_reference(&u.image, &options, &db, generation)
                            .map_err(anyhow::Error::from);
                    *results[i].lock().unwrap_or_else(|p| p.into_inner()) = Some(found);
                }
            });
        }
    });
    let mut scans = kubevigil_checks::ImageScans::new();
    let mut diagnostics = Vec::new();
    for (u, result) in uses.into_iter().zip(results) {
        let result = result
            .into_inner()
            .unwrap_or_else(|p| p.into_inner())
            .unwrap_or_else(|| {
                Err(anyhow::anyhow!(
                    "the vulnerability database could not be opened"
                ))
            });
        match result {
            Ok(found) => {
                for e in &found.errors {
                    tracing::warn!(image = %kubevigil_model::Escaped(&u.image), "{}", kubevigil_model::Escaped(e));
                }
                scans.insert(u.image, found.summary);
            }
            Err(e) => diagnostics.push(kubevigil_model::Diagnostic {
                level: kubevigil_model::DiagLevel::Error,
                file: u.file,
                line: u.line,
                col: u.col,
                message: format!("image {:?} was not scanned: {e:#}", u.image),
            }),
        }
    }
    config.images.scans = Some(std::sync::Arc::new(kubevigil_checks::ImageScanTable::new(
        scans,
    )));
    config.images.now_ms = Some(kubevigil_model::time::now_ms());
    Ok(diagnostics)
}

/// Images pulled at once by `scan --images`.
const IMAGE_PULLS: usize = 4;

/// The rules every report lists: the whole catalogue (built-in checks and engine findings).
pub fn rule_infos() -> Vec<RuleInfo> {
    catalog()
        .into_iter()
        .map(|e| RuleInfo {
            id: e.id.to_string(),
            title: e.title.to_string(),
            severity: e.severity,
            category: e.category.as_str().to_string(),
            doc: e.doc.to_string(),
            references: e.references,
        })
        .collect()
}

/// Loads the configuration: the given file, else `.kubevigil.yaml` in the working directory.
pub fn load_config(path: Option<&Path>) -> anyhow::Result<Config> {
    let default = Path::new(".kubevigil.yaml");
    let path = match path {
        Some(p) => p,
        None if default.exists() => default,
        None => return Ok(Config::default()),
    };
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read config {}", path.display()))?;
    let (value, spans) = yaml::parse_document(&text, 0, Default::default())
        .map_err(|e| anyhow::anyhow!("{}:{e}", path.display()))?
        .unwrap_or_default();
    let entries = catalog();
    let ids: Vec<&str> = entries.iter().map(|e| e.id).collect();
    // The value is kept to find where a field-located error is in the file.
    Config::from_value(value.clone(), &ids).map_err(|e| match &e {
        kubevigil_checks::ConfigError::At { path: field, .. } => {
            let pos = spans.pos_of(&value, field);
            anyhow::anyhow!("{}:{}:{}: {e}", path.display(), pos.line, pos.col)
        }
        _ => anyhow::Error::new(e).context(format!("in {}", path.display())),
    })
}

fn read_baseline(path: &Path) -> anyhow::Result<HashSet<String>> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("cannot read baseline {}", path.display()))?;
    baseline::parse(&text).with_context(|| path.display().to_string())
}

// Output plumbing is shared by every command; audit.rs and checks.rs still reach it here.
pub use crate::cli::{use_color, write_output, write_with};

pub fn run(args: ScanArgs) -> anyhow::Result<ExitCode> {
    let mut config = load_config(args.config.as_deref())?;
    let baseline = args.baseline.as_deref().map(read_baseline).transpose()?;
    let opts = LoadOptions {
        max_file_bytes: args.max_file_size,
        ..Default::default()
    };
    let image_diagnostics = if args.images {
        scan_images(&args, &opts, &mut config)?
    } else {
        Vec::new()
    };
    let (scanned, names) = if args.cluster.enabled() {
        let scanned = args.cluster.input().scan(&config, baseline.as_ref())?;
        (scanned, crate::cli::cluster_name())
    } else {
        let scanned = scan_paths(&args.paths, &opts, &config, baseline.as_ref());
        (scanned, args.paths.clone())
    };
    let PathsScan {
        mut loaded,
        objects,
        mut outcome,
    } = scanned;
    let empty = crate::cli::refuse_empty(
        objects.len(),
        &mut loaded.diagnostics,
        &names,
        args.allow_empty,
    );
    loaded.diagnostics.append(&mut outcome.diagnostics);
    loaded.diagnostics.extend(image_diagnostics);

    if let Some(path) = &args.baseline_write {
        let found = outcome.suppressed.iter().map(|s| &s.finding);
        let (text, count) = baseline::render(outcome.findings.iter().chain(found));
        std::fs::write(path, text)
            .with_context(|| format!("cannot write baseline {}", path.display()))?;
        tracing::info!(path = %path.display(), count, "baseline written");
    }

    let suppressed: Vec<SuppressedFinding> = outcome
        .suppressed
        .iter()
        .map(|s| {
            let (by, reason) = match &s.by {
                SuppressedBy::Annotation { reason } => ("annotation", reason.clone()),
                SuppressedBy::Exemption { reason } => ("exemption", reason.clone()),
                SuppressedBy::Baseline => ("baseline", String::new()),
            };
            SuppressedFinding {
                finding: s.finding.clone(),
                by: by.to_string(),
                reason,
            }
        })
        .collect();
    let rules: Vec<RuleInfo> = rule_infos()
        .into_iter()
        .filter(|r| config.is_judged(&r.id))
        .collect();
    let report = Report {
        tool_version: env!("CARGO_PKG_VERSION"),
        rules: &rules,
        findings: &outcome.findings,
        suppressed: &suppressed,
        diagnostics: &loaded.diagnostics,
        objects: &objects,
    };
    let color = use_color(&args.color, args.output_file.is_some())?;
    write_with(args.output_file.as_deref(), |out| match args.output {
        Format::Table => out.write_all(kubevigil_report::table::render(&report, color).as_bytes()),
        Format::Json => kubevigil_report::json::write(&report, out),
        Format::Sarif => kubevigil_report::sarif::write(&report, out),
        Format::Junit => kubevigil_report::junit::write(&report, out),
        Format::Html => out.write_all(kubevigil_report::html::render(&report).as_bytes()),
        Format::Policyreport | Format::Openreports => {
            use kubevigil_report::policyreport::{Flavor, Options, render};
            let opts = Options {
                flavor: if args.output == Format::Policyreport {
                    Flavor::PolicyReport
                } else {
                    Flavor::OpenReports
                },
                max_results: args.max_report_results,
                timestamp_secs: std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .map_or(0, |d| d.as_secs() as i64),
            };
            let (yaml, truncated) = render(&report, &opts);
            for t in truncated {
                let scope = t.namespace.map_or("cluster-wide".to_string(), |ns| {
                    format!("namespace {}", kubevigil_model::Escaped(&ns))
                });
                eprintln!(
                    "warning: the {scope} report holds {} of its {} results (--max-report-results {}, at most 1 MiB of results per report); the most severe are kept",
                    t.kept, t.total, opts.max_results
                );
            }
            out.write_all(yaml.as_bytes())
        }
    })?;
    if args.output != Format::Table || args.output_file.is_some() {
        // Machine formats carry the diagnostics inside; still tell the person at the terminal.
        for d in &loaded.diagnostics {
            if d.level != kubevigil_model::DiagLevel::Note {
                eprintln!("{d}");
            }
        }
    }
    let code = if loaded.has_errors() || empty {
        ExitCode::from(2)
    } else if outcome.findings.iter().any(|f| f.severity >= args.fail_on) {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    };
    // The process exits next and its memory goes with it: freeing the findings and the kept
    // objects one by one (most of them allocated on the loading threads) was about 5% of a
    // large scan's CPU time.
    std::mem::forget((outcome, loaded, objects, suppressed));
    Ok(code)
}
