//! `kubevigil netpol`: NetworkPolicy connectivity maps, reachability questions and diffs.

use std::io::Write as _;
use std::net::IpAddr;
use std::path::PathBuf;
use std::process::ExitCode;

use anyhow::bail;
use kubevigil_model::{DiagLevel, Escaped, LoadOptions, Loaded, load_paths};
use kubevigil_netpol::engine::{Side, Target, can_reach};
use kubevigil_netpol::render::{self, Conn};
use kubevigil_netpol::{Cluster, Direction, Engine, Protocol, Severity, diff};
use serde_json::json;

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
        after_help = "Examples:\n  kubevigil netpol diff examples/insecure examples/hardened\n  kubevigil netpol diff -o json old/ new/"
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
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
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
    #[arg(required = true, value_name = "PATH")]
    paths: Vec<PathBuf>,
}

#[derive(clap::Args)]
struct DiffArgs {
    #[arg(short = 'o', long, value_enum, default_value = "text")]
    output: AnswerFormat,
    /// The manifests before the change (file, directory or `-`).
    old: PathBuf,
    /// The manifests after the change.
    new: PathBuf,
}

pub fn run(args: NetpolArgs) -> anyhow::Result<ExitCode> {
    match args.command {
        NetpolCommand::Connectivity(a) => connectivity(a),
        NetpolCommand::CanReach(a) => can_reach_cmd(a),
        NetpolCommand::Diff(a) => diff_cmd(a),
    }
}

/// Loads manifests, reports loader diagnostics and policy problems on stderr with
/// file:line:col, and returns the cluster plus whether any error was reported.
fn load(paths: &[PathBuf]) -> (Loaded, Cluster, bool) {
    let loaded = load_paths(paths, &LoadOptions::default());
    let mut err = std::io::stderr().lock();
    let mut errors = loaded.has_errors();
    let _ = cli::print_diagnostics(&mut err, &loaded.diagnostics);
    let cluster = Cluster::from_inventory(&loaded.inventory);
    for p in &cluster.problems {
        let o = &loaded.inventory.objects[p.object];
        let (level, ignored) = match p.problem.severity {
            Severity::Error => (DiagLevel::Error, " (policy ignored)"),
            Severity::Warning => (DiagLevel::Warning, ""),
        };
        errors |= level == DiagLevel::Error;
        let message = format!("{}: {}{ignored}", o.display_name(), p.problem);
        let d = cli::object_diagnostic(o, &p.problem.path, level, message);
        let _ = writeln!(err, "{d}");
    }
    (loaded, cluster, errors)
}

fn connectivity(a: ConnectivityArgs) -> anyhow::Result<ExitCode> {
    let (_loaded, cluster, errors) = load(&a.paths);
    let focus = a
        .focus
        .as_deref()
        .map(|f| cluster.find_workload(f))
        .transpose()
        .map_err(anyhow::Error::msg)?;
    let result = Engine::new(&cluster).connectivity();
    let mut conns = result.connections.clone();
    if let Some(f) = focus {
        let e = kubevigil_netpol::Endpoint::Workload(f);
        conns.retain(|c| c.src == e || c.dst == e);
    }
    let conns = render::resolve(&cluster, &result.ranges, &conns);
    let out = match a.output {
        Format::Table => render::table(&conns, &result.caveats),
        Format::Json => render::json(&conns, &result.caveats),
        Format::Csv => render::csv(&conns),
        Format::Md => render::markdown(&conns, &result.caveats),
        Format::Dot => render::dot(&conns, &result.caveats),
    };
    if matches!(a.output, Format::Csv) {
        for c in &result.caveats {
            eprintln!("caveat: {}", Escaped(c));
        }
    }
    cli::write_output(None, &out)?;
    Ok(cli::exit_code(errors, false))
}

fn target(cluster: &Cluster, spec: &str) -> anyhow::Result<Target> {
    if let Ok(ip) = spec.parse::<IpAddr>() {
        return Ok(Target::Ip(ip));
    }
    cluster
        .find_workload(spec)
        .map(Target::Workload)
        .map_err(anyhow::Error::msg)
}

fn target_name(cluster: &Cluster, t: Target) -> String {
    match t {
        Target::Workload(i) => cluster.workloads[i].to_string(),
        Target::Ip(ip) => ip.to_string(),
    }
}

fn parse_port(cluster: &Cluster, to: Target, spec: &str) -> anyhow::Result<(Protocol, u16)> {
    let (port, proto) = spec.split_once('/').unwrap_or((spec, "TCP"));
    let Some(proto) = Protocol::parse(&proto.to_ascii_uppercase()) else {
        bail!("--port {spec:?}: protocol must be TCP, UDP or SCTP");
    };
    if let Ok(n) = port.parse::<u16>()
        && n > 0
    {
        return Ok((proto, n));
    }
    match to {
        Target::Workload(i) => match cluster.workloads[i].named_port(proto, port) {
            Some(n) => Ok((proto, n)),
            None => bail!(
                "--port {spec:?}: not a port number, nor a {proto} container port name of {}",
                cluster.workloads[i]
            ),
        },
        Target::Ip(_) => bail!("--port {spec:?}: must be a number from 1 to 65535"),
    }
}

fn side_text(cluster: &Cluster, who: &str, dir: Direction, side: &Side) -> String {
    let d = dir.field();
    if !side.in_cluster {
        return format!("{d} of {who}: outside the cluster, no NetworkPolicy applies");
    }
    if side.isolating.is_empty() {
        return format!(
            "{d} of {who}: not isolated (no NetworkPolicy of its namespace selects it with policyTypes {}): allowed",
            if dir == Direction::Ingress {
                "Ingress"
            } else {
                "Egress"
            }
        );
    }
    let names: Vec<String> = side
        .isolating
        .iter()
        .map(|&i| {
            format!(
                "{}/{}",
                cluster.policies[i].namespace, cluster.policies[i].name
            )
        })
        .collect();
    let mut s = format!(
        "{d} of {who}: isolated by NetworkPolicy {}",
        names.join(", ")
    );
    if side.allowing.is_empty() {
        s.push_str("; no rule allows it: denied");
        for (p, r, ports) in &side.other_ports {
            let p = &cluster.policies[*p];
            let only = if ports.is_empty() {
                "nothing on this destination".to_string()
            } else {
                ports.to_string()
            };
            s.push_str(&format!(
                " ({}/{} {d}[{r}] matches this peer but only opens {only})",
                p.namespace, p.name
            ));
        }
    } else {
        let rules: Vec<String> = side
            .allowing
            .iter()
            .map(|&(p, r)| {
                format!(
                    "{}/{} {d}[{r}]",
                    cluster.policies[p].namespace, cluster.policies[p].name
                )
            })
            .collect();
        s.push_str(&format!("; allowed by {}", rules.join(", ")));
    }
    s
}

fn side_json(cluster: &Cluster, side: &Side) -> serde_json::Value {
    let policy = |i: usize| json!({"namespace": cluster.policies[i].namespace, "name": cluster.policies[i].name});
    json!({
        "inCluster": side.in_cluster,
        "allowed": side.allows(),
        "isolatedBy": side.isolating.iter().map(|&i| policy(i)).collect::<Vec<_>>(),
        "allowedBy": side.allowing.iter().map(|&(p, r)| {
            let mut v = policy(p);
            v["rule"] = json!(r);
            v
        }).collect::<Vec<_>>(),
        "peerMatchesOtherPorts": side.other_ports.iter().map(|(p, r, ports)| {
            let mut v = policy(*p);
            v["rule"] = json!(r);
            v["conn"] = kubevigil_netpol::render::conn_json(ports);
            v
        }).collect::<Vec<_>>(),
    })
}

fn can_reach_cmd(a: CanReachArgs) -> anyhow::Result<ExitCode> {
    let (_loaded, cluster, errors) = load(&a.paths);
    if errors {
        eprintln!("warning: some input was invalid; the answer covers the valid part only");
    }
    let from = target(&cluster, &a.from)?;
    let to = target(&cluster, &a.to)?;
    if matches!((from, to), (Target::Ip(_), Target::Ip(_))) {
        bail!("at least one of --from and --to must be a workload");
    }
    let (proto, port) = parse_port(&cluster, to, &a.port)?;
    let v = can_reach(&cluster, from, to, proto, port);
    let (src, dst) = (target_name(&cluster, from), target_name(&cluster, to));
    let out = match a.output {
        AnswerFormat::Json => {
            let doc = json!({
                "from": src, "to": dst, "protocol": proto.as_str(), "port": port,
                "allowed": v.allowed,
                "egress": side_json(&cluster, &v.egress),
                "ingress": side_json(&cluster, &v.ingress),
                "caveats": v.caveats,
            });
            kubevigil_model::text::json::to_string(&doc, true)? + "\n"
        }
        AnswerFormat::Text => {
            let verdict = match (v.allowed, v.caveats.is_empty()) {
                (true, true) => "yes",
                (false, true) => "no",
                (true, false) => "yes, by Kubernetes NetworkPolicies (unverified, see caveats)",
                (false, false) => "no, by Kubernetes NetworkPolicies (unverified, see caveats)",
            };
            // One line each, naming workloads and policies from the input: escaped whole.
            let mut s = format!(
                "{} -> {} on {proto} {port}: {verdict}\n",
                Escaped(&src),
                Escaped(&dst)
            );
            s += &format!(
                "  {}\n",
                Escaped(&side_text(&cluster, &src, Direction::Egress, &v.egress))
            );
            s += &format!(
                "  {}\n",
                Escaped(&side_text(&cluster, &dst, Direction::Ingress, &v.ingress))
            );
            for c in &v.caveats {
                s += &format!("  caveat: {}\n", Escaped(c));
            }
            s
        }
    };
    cli::write_output(None, &out)?;
    Ok(cli::exit_code(false, !v.allowed))
}

fn connections(paths: &[PathBuf]) -> (Vec<Conn>, Vec<String>, bool) {
    let (_loaded, cluster, errors) = load(paths);
    let result = Engine::new(&cluster).connectivity();
    (
        render::resolve(&cluster, &result.ranges, &result.connections),
        result.caveats,
        errors,
    )
}

fn diff_cmd(a: DiffArgs) -> anyhow::Result<ExitCode> {
    let (old, old_caveats, e1) = connections(std::slice::from_ref(&a.old));
    let (new, new_caveats, e2) = connections(std::slice::from_ref(&a.new));
    let changes = diff::diff(&old, &new);
    for c in old_caveats
        .iter()
        .chain(new_caveats.iter().filter(|c| !old_caveats.contains(c)))
    {
        eprintln!("caveat: {}", Escaped(c));
    }
    let out = match a.output {
        AnswerFormat::Text => diff::text(&changes),
        AnswerFormat::Json => diff::json(&changes),
    };
    cli::write_output(None, &out)?;
    Ok(cli::exit_code(e1 || e2, false))
}
