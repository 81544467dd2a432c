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
use crate::policy::{Direction, Peer};

/// An endpoint independent of any one [`Cluster`] (used for output and diffs).
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum EndpointRef {
    Workload {
        namespace: String,
        name: String,
        kind: String,
        /// Running pods grouped by owner ([`crate::Workload::pods`]): shown `ns/name[Kind]`.
        pods: bool,
        /// [`crate::Workload::variant`].
        variant: Option<String>,
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
                    pods: w.is_pods(),
                    variant: w.variant.clone(),
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
                pods,
                variant,
            } => {
                let mut v = json!({"namespace": namespace, "name": name, "kind": kind});
                if *pods {
                    v["pods"] = json!(true);
                }
                if let Some(variant) = variant {
                    v["variant"] = json!(variant);
                }
                v
            }
            EndpointRef::Ip(r) => json!({"cidrs": r.cidrs()}),
        }
    }
}

/// `namespace/name` (`namespace/name[Kind]` for pods grouped by owner, then ` (variant)` when
/// its pods differ) or the address range as CIDRs; for people, so names are escaped
/// ([`kubevigil_model::escape_controls`]). The JSON rendering ([`EndpointRef::to_json`]) keeps them exact.
impl fmt::Display for EndpointRef {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            EndpointRef::Workload {
                namespace,
                name,
                kind,
                pods,
                variant,
            } => {
                write!(f, "{}/{}", Escaped(namespace), Escaped(name))?;
                if *pods {
                    write!(f, "[{}]", Escaped(kind))?;
                }
                if let Some(v) = variant {
                    write!(f, " ({})", Escaped(v))?;
                }
                Ok(())
            }
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
    /// Rule peers that select nothing in the input: what they allow is not shown.
    pub unmatched: Vec<UnmatchedPeer>,
}

/// A `podSelector`/`namespaceSelector` peer of a rule of a policy that selects workloads in the
/// input, matching no workload in the input (typically a namespace the input does not hold,
/// such as `ingress-nginx` or `kube-system`): the reachability shown is partial, since the
/// pods it stands for, wherever they run, are missing from it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UnmatchedPeer {
    /// The policy's namespace and name.
    pub namespace: String,
    pub policy: String,
    pub direction: Direction,
    /// Index of the rule in `ingress`/`egress`, and of the peer in its `from`/`to`.
    pub rule: usize,
    pub peer: usize,
    /// The selectors, as `kubectl` prints them.
    pub namespace_selector: Option<String>,
    pub pod_selector: Option<String>,
    /// True when no namespace of the input matches `namespace_selector` (else namespaces match
    /// but no workload in them does).
    pub no_namespace: bool,
}

impl UnmatchedPeer {
    /// `ingress[0].from[1]`.
    pub fn rule_path(&self) -> String {
        format!(
            "{}[{}].{}[{}]",
            self.direction.field(),
            self.rule,
            self.direction.peers_field(),
            self.peer
        )
    }

    /// `namespaceSelector k=v, podSelector k=v`.
    pub fn selectors(&self) -> String {
        let mut what = Vec::new();
        if let Some(n) = &self.namespace_selector {
            what.push(format!("namespaceSelector {n}"));
        }
        if let Some(p) = &self.pod_selector {
            what.push(format!("podSelector {p}"));
        }
        what.join(", ")
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "policy": {"namespace": self.namespace, "name": self.policy},
            "direction": self.direction.field(),
            "rule": self.rule,
            "peer": self.peer,
            "matches": if self.no_namespace { "noNamespace" } else { "noWorkload" },
        });
        if let Some(n) = &self.namespace_selector {
            v["namespaceSelector"] = json!(n);
        }
        if let Some(p) = &self.pod_selector {
            v["podSelector"] = json!(p);
        }
        v
    }
}

/// `NetworkPolicy shop/web ingress[0].from[1] (namespaceSelector k=v) matches no namespace in
/// the input: what it allows is not shown`; unescaped (renderers escape).
impl fmt::Display for UnmatchedPeer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let what = if self.no_namespace {
            "no namespace".to_string()
        } else if self.namespace_selector.is_none() {
            format!("no workload of namespace {}", self.namespace)
        } else {
            "no workload".to_string()
        };
        write!(
            f,
            "NetworkPolicy {}/{} {} ({}) matches {what} in the input: the traffic it allows {} those pods is not shown",
            self.namespace,
            self.policy,
            self.rule_path(),
            self.selectors(),
            match self.direction {
                Direction::Ingress => "from",
                Direction::Egress => "to",
            }
        )
    }
}

/// The selector peers matching no workload in the input, of the rules of policies that select
/// some workload (`focus`: that workload), in policy then rule then peer order.
pub fn unmatched_peers(cluster: &Cluster, focus: Option<usize>) -> Vec<UnmatchedPeer> {
    // Workloads are sorted by namespace: each namespace's are a slice.
    let in_ns = |ns: &str| {
        let w = &cluster.workloads;
        &w[w.partition_point(|x| x.namespace.as_str() < ns)
            ..w.partition_point(|x| x.namespace.as_str() <= ns)]
    };
    let mut out = Vec::new();
    for p in &cluster.policies {
        let selects = |w: &crate::Workload| p.pod_selector.matches(&w.labels);
        let relevant = match focus {
            Some(f) => {
                let w = &cluster.workloads[f];
                w.namespace == p.namespace && selects(w)
            }
            None => in_ns(&p.namespace).iter().any(selects),
        };
        if !relevant {
            continue;
        }
        for dir in [Direction::Ingress, Direction::Egress] {
            if !p.affects(dir) {
                continue;
            }
            for (ri, r) in p.rules(dir).iter().enumerate() {
                for (pi, peer) in r.peers.iter().enumerate() {
                    let Peer::Pods { namespaces, pods } = peer else {
                        continue;
                    };
                    let pod_ok =
                        |w: &crate::Workload| pods.as_ref().is_none_or(|s| s.matches(&w.labels));
                    let (matched, no_namespace) = match namespaces {
                        None => (in_ns(&p.namespace).iter().any(pod_ok), false),
                        Some(sel) => {
                            let mut nss = cluster
                                .namespaces
                                .iter()
                                .filter(|ns| sel.matches(&ns.labels))
                                .peekable();
                            let none = nss.peek().is_none();
                            (nss.any(|ns| in_ns(&ns.name).iter().any(pod_ok)), none)
                        }
                    };
                    if matched {
                        continue;
                    }
                    out.push(UnmatchedPeer {
                        namespace: p.namespace.clone(),
                        policy: p.name.clone(),
                        direction: dir,
                        rule: ri,
                        peer: pi,
                        namespace_selector: namespaces.as_ref().map(|s| s.to_string()),
                        pod_selector: pods.as_ref().map(|s| s.to_string()),
                        no_namespace,
                    });
                }
            }
        }
    }
    out
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
        unmatched: unmatched_peers(cluster, focus),
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
