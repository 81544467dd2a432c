//! Connections with their endpoints named, independent of any one [`Cluster`]: what the
//! renderers (`kubevigil_report::netpol`: table, JSON, CSV, Markdown, DOT) and [`crate::diff`]
//! read. The JSON of an endpoint and of a port set ([`conn_json`]) is the stable contract.

use std::fmt::{self, Write as _};
use std::net::IpAddr;

use kubevigil_model::Escaped;
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::conn::ConnSet;
use crate::conn::Protocol;
use crate::engine::{Connection, Endpoint, Target, Verdict, can_reach};
use crate::ip::IpRange;

/// An endpoint independent of any one [`Cluster`] (used for output and diffs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointRef {
    Workload {
        namespace: String,
        name: String,
        kind: String,
    },
    Ip(IpRange),
}

impl EndpointRef {
    pub fn resolve(cluster: &Cluster, ranges: &[IpRange], e: &Endpoint) -> EndpointRef {
        match e {
            Endpoint::Workload(i) => {
                let w = &cluster.workloads[*i];
                EndpointRef::Workload {
                    namespace: w.namespace.clone(),
                    name: w.name.clone(),
                    kind: w.kind.clone(),
                }
            }
            Endpoint::Ip(r) => EndpointRef::Ip(ranges[*r]),
        }
    }

    pub fn to_json(&self) -> Value {
        match self {
            EndpointRef::Workload {
                namespace,
                name,
                kind,
            } => {
                json!({"namespace": namespace, "name": name, "kind": kind})
            }
            EndpointRef::Ip(r) => json!({"ipRange": r.to_string()}),
        }
    }
}

/// `namespace/name` or the address range; for people, so names are escaped
/// ([`kubevigil_model::escape_controls`]). The JSON rendering ([`EndpointRef::to_json`]) keeps them exact.
impl fmt::Display for EndpointRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointRef::Workload {
                namespace, name, ..
            } => write!(f, "{}/{}", Escaped(namespace), Escaped(name)),
            EndpointRef::Ip(r) => write!(f, "{r}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Conn {
    pub src: EndpointRef,
    pub dst: EndpointRef,
    pub conn: ConnSet,
}

/// Names every endpoint; `ranges` is [`crate::Connectivity::ranges`].
pub fn resolve(cluster: &Cluster, ranges: &[IpRange], connections: &[Connection]) -> Vec<Conn> {
    connections
        .iter()
        .map(|c| Conn {
            src: EndpointRef::resolve(cluster, ranges, &c.src),
            dst: EndpointRef::resolve(cluster, ranges, &c.dst),
            conn: c.conn.clone(),
        })
        .collect()
}

/// `{"all": true}` or `{"ports": [{"protocol", "port", "endPort"}]}`; `endPort` is always
/// present (equal to `port` for a single port) so scripts need no special case.
pub fn conn_json(c: &ConnSet) -> Value {
    if c.is_all() {
        return json!({"all": true});
    }
    let ports: Vec<Value> = c
        .ranges()
        .map(|(p, lo, hi)| json!({"protocol": p.as_str(), "port": lo, "endPort": hi}))
        .collect();
    json!({"ports": ports})
}

/// One line per connection: `SRC -> DST : CONN` (also the test fixtures' expected format).
pub fn lines(conns: &[Conn]) -> String {
    let mut s = String::new();
    for c in conns {
        let _ = writeln!(s, "{} -> {} : {}", c.src, c.dst, c.conn);
    }
    s
}

/// The answer of `netpol connectivity`, named: every allowed connection (or those of one
/// workload) and the caveats that qualify it. What every connectivity format shows.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Connections {
    pub conns: Vec<Conn>,
    pub caveats: Vec<String>,
}

/// `netpol connectivity`: every connection the policies allow, named; with `focus` (a
/// workload index), only those from or to it.
pub fn connectivity(cluster: &Cluster, focus: Option<usize>) -> Connections {
    let result = crate::Engine::new(cluster).connectivity();
    let mut conns = result.connections;
    if let Some(f) = focus {
        let e = Endpoint::Workload(f);
        conns.retain(|c| c.src == e || c.dst == e);
    }
    Connections {
        conns: resolve(cluster, &result.ranges, &conns),
        caveats: result.caveats,
    }
}

/// The answer of `netpol can-reach`, with what its renderers need to name policies and sides.
#[derive(Debug, Clone)]
pub struct Reachability<'a> {
    pub cluster: &'a Cluster<'a>,
    /// The source and destination as people wrote them: `namespace/name` or the address.
    pub from: String,
    pub to: String,
    pub protocol: Protocol,
    pub port: u16,
    pub verdict: Verdict,
}

impl<'a> Reachability<'a> {
    /// Asks [`can_reach`] the question of `--from FROM --to TO --port PORT[/PROTOCOL]`; the
    /// error is the message for the user.
    pub fn ask(cluster: &'a Cluster, from: &str, to: &str, port: &str) -> Result<Self, String> {
        let from = Target::parse(cluster, from)?;
        let to = Target::parse(cluster, to)?;
        if matches!((from, to), (Target::Ip(_), Target::Ip(_))) {
            return Err("at least one of --from and --to must be a workload".into());
        }
        let (protocol, port) = parse_port(cluster, to, port)?;
        Ok(Reachability {
            cluster,
            from: target_name(cluster, from),
            to: target_name(cluster, to),
            protocol,
            port,
            verdict: can_reach(cluster, from, to, protocol, port),
        })
    }
}

impl Target {
    /// An IP address, or a workload as `NAMESPACE/NAME` or `NAMESPACE/KIND/NAME`.
    pub fn parse(cluster: &Cluster, spec: &str) -> Result<Target, String> {
        if let Ok(ip) = spec.parse::<IpAddr>() {
            return Ok(Target::Ip(ip));
        }
        cluster.find_workload(spec).map(Target::Workload)
    }
}

fn target_name(cluster: &Cluster, t: Target) -> String {
    match t {
        Target::Workload(i) => cluster.workloads[i].to_string(),
        Target::Ip(ip) => ip.to_string(),
    }
}

/// `PORT[/PROTOCOL]`, protocol TCP by default; PORT may name a container port of `to`.
fn parse_port(cluster: &Cluster, to: Target, spec: &str) -> Result<(Protocol, u16), String> {
    let (port, proto) = spec.split_once('/').unwrap_or((spec, "TCP"));
    let Some(proto) = Protocol::parse(&proto.to_ascii_uppercase()) else {
        return Err(format!(
            "--port {spec:?}: protocol must be TCP, UDP or SCTP"
        ));
    };
    if let Ok(n) = port.parse::<u16>()
        && n > 0
    {
        return Ok((proto, n));
    }
    match to {
        Target::Workload(i) => match cluster.workloads[i].named_port(proto, port) {
            Some(n) => Ok((proto, n)),
            None => Err(format!(
                "--port {spec:?}: not a port number, nor a {proto} container port name of {}",
                cluster.workloads[i]
            )),
        },
        Target::Ip(_) => Err(format!("--port {spec:?}: must be a number from 1 to 65535")),
    }
}
