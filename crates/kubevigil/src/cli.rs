//! Plumbing every subcommand shares: where the output goes, whether it is coloured, a reader
//! that goes away early, exit codes, and problems printed as `file:line:col: level: message`.

use std::io::{IsTerminal, Write};
use std::path::Path;
use std::process::ExitCode;

use anyhow::{Context, bail};
use kubevigil_model::{DiagLevel, Diagnostic, FieldPath, Object};

/// The exit code contract of every command: 2 when some input or configuration was in error,
/// else 1 when something failed the check the command makes (a finding at or above the
/// threshold, a violation, a rejected workload), else 0.
pub fn exit_code(errors: bool, failed: bool) -> ExitCode {
    if errors {
        ExitCode::from(2)
    } else if failed {
        ExitCode::from(1)
    } else {
        ExitCode::SUCCESS
    }
}

/// `--color auto|always|never`: `auto` colours a terminal only, never a file, and honours
/// `NO_COLOR` (no-color.org).
pub fn use_color(when: &str, to_file: bool) -> anyhow::Result<bool> {
    Ok(match when {
        "always" => true,
        "never" => false,
        "auto" => {
            !to_file && std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none()
        }
        other => bail!("--color must be auto, always or never, not {other:?}"),
    })
}

/// The text of a file named on the command line, or of stdin for `-` (named `<stdin>`), with
/// the name to show in messages.
pub fn read_input(path: &Path) -> anyhow::Result<(String, String)> {
    if path.as_os_str() == "-" {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut std::io::stdin(), &mut text)
            .context("cannot read stdin")?;
        return Ok(("<stdin>".into(), text));
    }
    let text =
        std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
    Ok((path.display().to_string(), text))
}

/// A buffered writer to FILE (created or truncated), or to stdout for `-`.
pub fn create(path: &Path) -> anyhow::Result<Box<dyn Write>> {
    Ok(if path.as_os_str() == "-" {
        Box::new(std::io::BufWriter::new(std::io::stdout().lock()))
    } else {
        Box::new(std::io::BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        ))
    })
}

/// Writes `text` to FILE, or to stdout; see [`write_with`].
pub fn write_output(path: Option<&Path>, text: &str) -> anyhow::Result<()> {
    write_with(path, |out| out.write_all(text.as_bytes()))
}

/// Writes to FILE, or to stdout (buffered); a closed pipe (`| head`) is not an error.
pub fn write_with(
    path: Option<&Path>,
    render: impl FnOnce(&mut dyn Write) -> std::io::Result<()>,
) -> anyhow::Result<()> {
    let result = match path {
        Some(p) => {
            let file = std::fs::File::create(p)
                .with_context(|| format!("cannot write {}", p.display()))?;
            let mut out = std::io::BufWriter::with_capacity(1 << 16, file);
            render(&mut out).and_then(|_| out.flush())
        }
        None => {
            let mut out = std::io::BufWriter::with_capacity(1 << 16, std::io::stdout().lock());
            render(&mut out).and_then(|_| out.flush())
        }
    };
    match result {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => other.context("cannot write the report"),
    }
}

/// A command's result, with a closed pipe on the way (`| head`) counted as success: the reader
/// stopped early, nothing went wrong.
pub fn ignore_broken_pipe(result: anyhow::Result<ExitCode>) -> anyhow::Result<ExitCode> {
    match result {
        Err(e) if is_broken_pipe(&e) => Ok(ExitCode::SUCCESS),
        other => other,
    }
}

fn is_broken_pipe(e: &anyhow::Error) -> bool {
    use std::io::ErrorKind::BrokenPipe;
    e.chain().any(|c| {
        c.downcast_ref::<std::io::Error>()
            .is_some_and(|io| io.kind() == BrokenPipe)
            || c.downcast_ref::<serde_json::Error>()
                .is_some_and(|j| j.io_error_kind() == Some(BrokenPipe))
    })
}

/// Prints each diagnostic on its own line; true when one of them is an error.
pub fn print_diagnostics(err: &mut dyn Write, diagnostics: &[Diagnostic]) -> std::io::Result<bool> {
    for d in diagnostics {
        writeln!(err, "{d}")?;
    }
    Ok(diagnostics.iter().any(|d| d.level == DiagLevel::Error))
}

/// A problem with the field at `path` of `object`, located at the field's line and column.
pub fn object_diagnostic(
    object: &Object,
    path: &FieldPath,
    level: DiagLevel,
    message: String,
) -> Diagnostic {
    Diagnostic::at_field(object, path, level, message)
}

/// An input that holds no Kubernetes object at all (an empty directory, only comments, only
/// YAML that is not a manifest) is most likely the wrong path, and a scan of it would pass: it
/// gets a warning, and makes the command exit 2, unless `--allow-empty`. Returns whether it
/// does (nothing to add when the input already had errors: those exit 2 anyway).
pub fn refuse_empty(
    objects: usize,
    diagnostics: &mut Vec<Diagnostic>,
    paths: &[impl AsRef<Path>],
    allow_empty: bool,
) -> bool {
    let has_errors = diagnostics.iter().any(|d| d.level == DiagLevel::Error);
    if allow_empty || objects > 0 || has_errors {
        return false;
    }
    let names: Vec<String> = paths
        .iter()
        .map(|p| p.as_ref().display().to_string())
        .collect();
    diagnostics.push(Diagnostic {
        level: DiagLevel::Warning,
        file: names.join(", "),
        line: 0,
        col: 0,
        message: "no Kubernetes object found (no document with apiVersion and kind); \
                  pass --allow-empty if that is expected"
            .into(),
    });
    true
}

/// Which cluster to read instead of files: `--cluster` on the kubeconfig's current context, or
/// another file or context. Alone (the whole cluster) for `rbac`; with namespace options in
/// [`ClusterArgs`].
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterTarget {
    /// Read the objects from a cluster (the kubeconfig's current context, or --context) instead
    /// of files.
    #[arg(long)]
    pub cluster: bool,
    /// Kubeconfig file (default: KUBECONFIG, else ~/.kube/config, else the in-cluster service
    /// account).
    #[arg(long, value_name = "FILE", requires = "cluster")]
    pub kubeconfig: Option<std::path::PathBuf>,
    /// Kubeconfig context (default: its current-context).
    #[arg(long, value_name = "NAME", requires = "cluster")]
    pub context: Option<String>,
}

impl ClusterTarget {
    pub fn input(&self, scope: kubevigil_cluster::Scope) -> kubevigil_cluster::ClusterInput {
        kubevigil_cluster::ClusterInput {
            target: kubevigil_cluster::Target {
                kubeconfig: self.kubeconfig.clone(),
                context: self.context.clone(),
            },
            scope,
        }
    }

    /// Every object of the cluster (and its problems as diagnostics), as files would be loaded.
    pub fn load(&self) -> anyhow::Result<kubevigil_model::Loaded> {
        Ok(self
            .input(kubevigil_cluster::Scope::default())
            .load(&|_| true)?)
    }
}

/// `--cluster` and its options, shared by `scan`, `pss` and `netpol`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct ClusterArgs {
    #[command(flatten)]
    pub target: ClusterTarget,
    /// Only this namespace (repeatable); default: all namespaces.
    #[arg(
        short = 'n',
        long = "namespace",
        value_name = "NS",
        requires = "cluster"
    )]
    pub namespaces: Vec<String>,
    /// All namespaces (the default).
    #[arg(short = 'A', long, requires = "cluster", conflicts_with = "namespaces")]
    pub all_namespaces: bool,
    /// Leave these namespaces out: names or globs, comma-separated (`kube-*,cert-manager`).
    #[arg(
        long,
        value_name = "NS,...",
        value_delimiter = ',',
        requires = "cluster"
    )]
    pub exclude_namespaces: Vec<String>,
}

impl ClusterArgs {
    /// Whether `--cluster` was given.
    pub fn enabled(&self) -> bool {
        self.target.cluster
    }

    pub fn input(&self) -> kubevigil_cluster::ClusterInput {
        self.target.input(kubevigil_cluster::Scope {
            namespaces: self.namespaces.clone(),
            exclude: self.exclude_namespaces.clone(),
        })
    }

    /// The cluster's objects (and its problems as diagnostics), as files would be loaded.
    pub fn load(&self) -> anyhow::Result<kubevigil_model::Loaded> {
        Ok(self.input().load(&|_| true)?)
    }
}

/// The objects of a command: the cluster's when `cluster` holds them (its `load()`), else those
/// of `paths`; with whether the input holds no object at all without `--allow-empty` (an error
/// for the exit code, with a warning among the diagnostics).
pub fn load_input(
    paths: &[std::path::PathBuf],
    cluster: Option<anyhow::Result<kubevigil_model::Loaded>>,
    allow_empty: bool,
) -> anyhow::Result<(kubevigil_model::Loaded, bool)> {
    let (mut loaded, names) = match cluster {
        Some(loaded) => (loaded?, cluster_name()),
        None => (
            kubevigil_model::load_paths(paths, &kubevigil_model::LoadOptions::default()),
            paths.to_vec(),
        ),
    };
    let empty = refuse_empty(
        loaded.inventory.objects.len(),
        &mut loaded.diagnostics,
        &names,
        allow_empty,
    );
    Ok((loaded, empty))
}

/// What `refuse_empty` names when a cluster holds no object in scope.
pub fn cluster_name() -> Vec<std::path::PathBuf> {
    vec![std::path::PathBuf::from("the cluster")]
}

/// Completes on SIGTERM or SIGINT (servers: the webhook, the monitor).
pub async fn shutdown_signal() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = term.recv() => {},
                    _ = tokio::signal::ctrl_c() => {},
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
    tracing::warn!("shutdown signal received");
}
