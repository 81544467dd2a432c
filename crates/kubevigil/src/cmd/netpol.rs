//! `kubevigil netpol`: NetworkPolicy connectivity maps, reachability questions and diffs.

use std::io::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;

use kubevigil_model::{DiagLevel, Escaped, Loaded};
use kubevigil_netpol::{Cluster, Connections, Reachability, diff, named};
use kubevigil_report::{Csv, Dot, Emitter, Json, Markdown, Table, Text};

use crate::cli;

#[derive(clap::Args)]
pub struct NetpolArgs {
    #[command(subcommand)]
    command: NetpolCommand,
}

#[derive(clap::Subcommand)]
enum NetpolCommand {
    /// List every connection the NetworkPolicies allow, between workloads and with the IP space
    /// outside the cluster.
    #[command(
        after_help = "Examples:\n  kubevigil netpol connectivity examples/hardened\n  kubevigil netpol connectivity --focus shop/api -o json manifests/\n  kubevigil netpol connectivity -o dot examples/hardened | dot -Tsvg > net.svg\n  helm template ./chart | kubevigil netpol connectivity -"
    )]
    Connectivity(ConnectivityArgs),
    /// Can one workload (or IP address) open a connection to another on a port? Explains
    /// which policies isolate each side and which rule allows it. Exit code 0 yes, 1 no.
    #[command(
        after_help = "Examples:\n  kubevigil netpol can-reach --from shop/web --to shop/api --port 8080/TCP manifests/\n  kubevigil netpol can-reach --from 203.0.113.9 --to shop/web --port 443 manifests/"
    )]
    CanReach(CanReachArgs),
    /// Connections added, removed and changed between two versions of the manifests.
    #[command(
        after_help = "Examples:\n  kubevigil netpol diff examples/insecure examples/hardened\n  kubevigil netpol diff -o json old/ new/\n  kubevigil netpol diff --cluster new/   # what applying new/ would change in the cluster"
    )]
    Diff(DiffArgs),
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum Format {
    Table,
    Json,
    Csv,
    Md,
    Dot,
}

#[derive(clap::Args)]
struct ConnectivityArgs {
    /// Only connections from or to this workload (NAMESPACE/NAME or NAMESPACE/KIND/NAME).
    #[arg(long, value_name = "NS/NAME")]
    focus: Option<String>,
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

#[derive(Clone, Copy, clap::ValueEnum)]
enum AnswerFormat {
    Text,
    Json,
}

#[derive(clap::Args)]
struct CanReachArgs {
    /// Source: NAMESPACE/NAME, NAMESPACE/KIND/NAME or an IP address outside the cluster.
    #[arg(long)]
    from: String,
    /// Destination: NAMESPACE/NAME, NAMESPACE/KIND/NAME or an IP address outside the cluster.
    #[arg(long)]
    to: String,
    /// PORT[/PROTOCOL], protocol TCP (default), UDP or SCTP; PORT may be a named container
    /// port of the destination.
    #[arg(long)]
    port: String,
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: AnswerFormat,
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

#[derive(clap::Args)]
struct DiffArgs {
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: AnswerFormat,
    /// The manifests before the change (file, directory or `-`); with --cluster, the
    /// manifests after the change (the cluster is before it).
    old: PathBuf,
    /// The manifests after the change (not with --cluster).
    #[arg(required_unless_present = "cluster", conflicts_with = "cluster")]
    new: Option<PathBuf>,
    #[command(flatten)]
    cluster: cli::ClusterArgs,
    /// Accept a side without any Kubernetes object (otherwise a warning and exit code 2).
    #[arg(long)]
    allow_empty: bool,
}

pub fn run(args: NetpolArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        NetpolCommand::Connectivity(a) => connectivity(a),
        NetpolCommand::CanReach(a) => can_reach_cmd(a),
        NetpolCommand::Diff(a) => diff_cmd(a),
    }
}

/// Loads manifests (the cluster analysis borrows them), and whether the input holds no object
/// at all without `--allow-empty` (an error for the exit code).
fn load(
    paths: &[PathBuf],
    cluster: &cli::ClusterArgs,
    allow_empty: bool,
) -> anyhow::Result<(Loaded, bool)> {
    cli::load_input(
        paths,
        cluster.enabled().then(|| cluster.load()),
        allow_empty,
    )
}

/// Reports loader diagnostics and policy problems on stderr with file:line:col, and returns
/// the cluster plus whether any error was reported.
fn analyse((loaded, empty): &(Loaded, bool)) -> (Cluster<'_>, bool) {
    let mut err = std::io::stderr().lock();
    let mut errors = loaded.has_errors() || *empty;
    let _ = cli::print_diagnostics(&mut err, &loaded.diagnostics);
    let cluster = Cluster::from_inventory(&loaded.inventory);
    for p in &cluster.problems {
        let o = p.object;
        let level = p.problem.level;
        let ignored = if level == DiagLevel::Error {
            " (policy ignored)"
        } else {
            ""
        };
        errors |= level == DiagLevel::Error;
        let message = format!("{}: {}{ignored}", o.display_name(), p.problem);
        let d = cli::object_diagnostic(o, &p.problem.path, level, message);
        let _ = writeln!(err, "{d}");
    }
    (cluster, errors)
}

fn connectivity(a: ConnectivityArgs) -> anyhow::Result<ExitCode> {
    let loaded = load(&a.paths, &a.cluster, a.allow_empty)?;
    let (cluster, errors) = analyse(&loaded);
    let focus = a
        .focus
        .as_deref()
        .map(|f| cluster.find_workload(f))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let result = named::connectivity(&cluster, focus);
    if matches!(a.output, Format::Csv) {
        for c in &result.caveats {
            eprintln!("caveat: {}", Escaped(c));
        }
        if !result.unmatched.is_empty() {
            eprintln!("note: {}", kubevigil_report::netpol::PARTIAL);
            for u in &result.unmatched {
                eprintln!("note: {}", Escaped(&u.to_string()));
            }
        }
    }
    let emitter: &dyn Emitter<Connections> = match a.output {
        Format::Table => &Table,
        Format::Json => &Json,
        Format::Csv => &Csv,
        Format::Md => &Markdown,
        Format::Dot => &Dot,
    };
    cli::write_with(None, |out| emitter.emit(out, &result))?;
    Ok(cli::exit_code(errors, false))
}

fn can_reach_cmd(a: CanReachArgs) -> anyhow::Result<ExitCode> {
    let loaded = load(&a.paths, &a.cluster, a.allow_empty)?;
    let (cluster, errors) = analyse(&loaded);
    if errors {
        eprintln!("warning: some input was invalid; the answer covers the valid part only");
    }
    let answer =
        Reachability::ask(&cluster, &a.from, &a.to, &a.port).map_err(anyhow::Error::msg)?;
    let emitter: &dyn for<'a> Emitter<Reachability<'a>> = match a.output {
        AnswerFormat::Json => &Json,
        AnswerFormat::Text => &Text,
    };
    cli::write_with(None, |out| emitter.emit(out, &answer))?;
    Ok(cli::exit_code(false, !answer.verdict.allowed))
}

fn diff_cmd(a: DiffArgs) -> anyhow::Result<ExitCode> {
    let no_cluster = cli::ClusterArgs::default();
    let ((old, e1), (new, e2)) = match &a.new {
        Some(new) => (
            connections(&a.old, &no_cluster, a.allow_empty)?,
            connections(new, &no_cluster, a.allow_empty)?,
        ),
        // The cluster as it runs, then the manifests.
        None => (
            connections(&a.old, &a.cluster, a.allow_empty)?,
            connections(&a.old, &no_cluster, a.allow_empty)?,
        ),
    };
    let changes = diff::diff(&old.conns, &new.conns);
    for c in old
        .caveats
        .iter()
        .chain(new.caveats.iter().filter(|c| !old.caveats.contains(c)))
    {
        eprintln!("caveat: {}", Escaped(c));
    }
    let emitter: &dyn Emitter<[diff::Change]> = match a.output {
        AnswerFormat::Text => &Text,
        AnswerFormat::Json => &Json,
    };
    cli::write_with(None, |out| emitter.emit(out, &changes))?;
    Ok(cli::exit_code(e1 || e2, false))
}

fn connections(
    path: &PathBuf,
    source: &cli::ClusterArgs,
    allow_empty: bool,
) -> anyhow::Result<(Connections, bool)> {
    let loaded = load(std::slice::from_ref(path), source, allow_empty)?;
    let (cluster, errors) = analyse(&loaded);
    Ok((named::connectivity(&cluster, None), errors))
}
