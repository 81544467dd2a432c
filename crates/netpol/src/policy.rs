//! `networking.k8s.io/v1` NetworkPolicy, parsed from JSON with the API server's defaulting and
//! validation, so that what we analyse is what a cluster would store.
//!
//! Upstream: `staging/src/k8s.io/api/networking/v1/types.go` (field semantics),
//! `pkg/apis/networking/v1/defaults.go` (`SetDefaults_NetworkPolicy`: policyTypes is
//! `[Ingress]` plus `Egress` when `len(spec.egress) != 0`; `SetDefaults_NetworkPolicyPort`:
//! protocol TCP), `pkg/apis/networking/validation/validation.go` (`ValidateNetworkPolicyPort`,
//! `ValidateNetworkPolicyPeer`, `ValidateIPBlock`, `ValidateNetworkPolicySpec`).
//! A policy that fails validation would be rejected by the API server, so it is reported and
//! left out of the analysis.

use serde_json::Value;

use crate::conn::{ConnSet, Protocol};
use crate::ip::Cidr;
use crate::selector::Selector;
use crate::{DiagLevel, Problem, problem};
use kubevigil_model::FieldPath as Path;
use kubevigil_model::Object;

#[derive(Debug, Clone)]
pub struct NetworkPolicy<'a> {
    pub namespace: String,
    pub name: String,
    pub pod_selector: Selector,
    pub ingress: Vec<Rule>,
    pub egress: Vec<Rule>,
    pub affects_ingress: bool,
    pub affects_egress: bool,
    /// The object it was parsed from.
    pub object: &'a Object,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    /// The JSON field holding the rules, and (capitalised) the policyTypes value.
    pub fn field(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
    pub fn peers_field(self) -> &'static str {
        match self {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        }
    }
}

/// One ingress or egress rule. Empty `peers` or `ports` mean "all", exactly as an absent
/// field does (types.go: "If this field is empty or missing, this rule matches all ...").
#[derive(Debug, Clone)]
pub struct Rule {
    pub peers: Vec<Peer>,
    pub ports: Vec<PortSpec>,
}

#[derive(Debug, Clone)]
pub enum Peer {
    /// `podSelector` and/or `namespaceSelector` (both set means AND). `namespaces: None`
    /// means the policy's own namespace; `pods: None` means all pods of those namespaces.
    Pods {
        namespaces: Option<Selector>,
        pods: Option<Selector>,
    },
    IpBlock(IpBlock),
}

#[derive(Debug, Clone)]
pub struct IpBlock {
    pub cidr_text: String,
    pub cidr: Cidr,
    pub except: Vec<Cidr>,
}

impl IpBlock {
    pub fn contains(&self, addr: std::net::IpAddr) -> bool {
        self.cidr.range.contains_addr(addr)
            && !self.except.iter().any(|e| e.range.contains_addr(addr))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortSpec {
    pub protocol: Protocol,
    pub port: Option<PortRef>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PortRef {
    /// `port` and `endPort` (equal when no endPort).
    Number(u16, u16),
    /// A named port, resolved on each destination pod's container ports of the same protocol.
    Name(String),
}

impl Rule {
    /// The numeric part of `ports` (all traffic when `ports` is empty) and the named ports.
    pub fn numeric_ports(&self) -> ConnSet {
        if self.ports.is_empty() {
            return ConnSet::all();
        }
        let mut c = ConnSet::none();
        for p in &self.ports {
            match &p.port {
                None => c.add_range(p.protocol, 1, u16::MAX),
                Some(PortRef::Number(lo, hi)) => c.add_range(p.protocol, *lo, *hi),
                Some(PortRef::Name(_)) => {}
            }
        }
        c
    }

    pub fn named_ports(&self) -> impl Iterator<Item = (Protocol, &str)> {
        self.ports.iter().filter_map(|p| match &p.port {
            Some(PortRef::Name(n)) => Some((p.protocol, n.as_str())),
            _ => None,
        })
    }
}

impl<'a> NetworkPolicy<'a> {
    pub fn rules(&self, dir: Direction) -> &[Rule] {
        match dir {
            Direction::Ingress => &self.ingress,
            Direction::Egress => &self.egress,
        }
    }

    pub fn affects(&self, dir: Direction) -> bool {
        match dir {
            Direction::Ingress => self.affects_ingress,
            Direction::Egress => self.affects_egress,
        }
    }

    /// Parses and validates; on error returns every problem found (errors make the policy
    /// invalid, warnings do not and are returned beside it).
    pub fn parse(
        namespace: &str,
        name: &str,
        value: &Value,
        object: &'a Object,
    ) -> Result<(NetworkPolicy<'a>, Vec<Problem>), Vec<Problem>> {
        let mut problems = Vec::new();
        let spec_path = Path::parse_keys("spec");
        let empty = Value::Object(Default::default());
        let spec = match value.get("spec") {
            None | Some(Value::Null) => &empty,
            Some(s) if s.is_object() => s,
            Some(_) => return Err(vec![problem(&spec_path, "spec must be an object")]),
        };
        let pod_selector = match spec.get("podSelector") {
            None | Some(Value::Null) => Selector::everything(),
            Some(v) => Selector::parse(v, &spec_path.key("podSelector")).unwrap_or_else(|p| {
                problems.push(p);
                Selector::everything()
            }),
        };
        let ingress = parse_rules(spec, Direction::Ingress, &spec_path, &mut problems);
        let egress = parse_rules(spec, Direction::Egress, &spec_path, &mut problems);
        let (affects_ingress, affects_egress) = match spec.get("policyTypes") {
            None | Some(Value::Null) => (true, egress_present(spec)),
            Some(Value::Array(a)) if a.is_empty() => (true, egress_present(spec)),
            Some(Value::Array(a)) => {
                let tp = spec_path.key("policyTypes");
                if a.len() > 2 {
                    problems.push(problem(&tp, "may not specify more than two policyTypes"));
                }
                let (mut i, mut e) = (false, false);
                for (n, t) in a.iter().enumerate() {
                    match t.as_str() {
                        Some("Ingress") => i = true,
                        Some("Egress") => e = true,
                        _ => problems.push(problem(
                            &tp.index(n),
                            &format!(
                                "unsupported value {t}: supported values: \"Ingress\", \"Egress\""
                            ),
                        )),
                    }
                }
                (i, e)
            }
            Some(_) => {
                problems.push(problem(
                    &spec_path.key("policyTypes"),
                    "policyTypes must be a list",
                ));
                (true, false)
            }
        };
        if problems.iter().any(|p| p.level == DiagLevel::Error) {
            return Err(problems);
        }
        Ok((
            NetworkPolicy {
                namespace: namespace.to_string(),
                name: name.to_string(),
                pod_selector,
                ingress,
                egress,
                affects_ingress,
                affects_egress,
                object,
            },
            problems,
        ))
    }
}

/// `len(obj.Spec.Egress) != 0` in `SetDefaults_NetworkPolicy`: `egress: []` does not count.
fn egress_present(spec: &Value) -> bool {
    spec.get("egress")
        .and_then(Value::as_array)
        .is_some_and(|a| !a.is_empty())
}

fn parse_rules(
    spec: &Value,
    dir: Direction,
    spec_path: &Path,
    problems: &mut Vec<Problem>,
) -> Vec<Rule> {
    let path = spec_path.key(dir.field());
    let list = match spec.get(dir.field()) {
        None | Some(Value::Null) => return Vec::new(),
        Some(Value::Array(a)) => a,
        Some(_) => {
            problems.push(problem(
                &path,
                &format!("{} must be a list of rules", dir.field()),
            ));
            return Vec::new();
        }
    };
    let mut rules = Vec::new();
    for (i, r) in list.iter().enumerate() {
        let rp = path.index(i);
        if !(r.is_object() || r.is_null()) {
            problems.push(problem(&rp, "rule must be an object"));
            continue;
        }
        let mut peers = Vec::new();
        let pf = dir.peers_field();
        if let Some(list) = list_field(r, pf, &rp, problems) {
            for (j, p) in list.iter().enumerate() {
                if let Some(peer) = parse_peer(p, &rp.key(pf).index(j), problems) {
                    peers.push(peer);
                }
            }
        }
        let mut ports = Vec::new();
        if let Some(list) = list_field(r, "ports", &rp, problems) {
            for (j, p) in list.iter().enumerate() {
                if let Some(port) = parse_port(p, &rp.key("ports").index(j), problems) {
                    ports.push(port);
                }
            }
        }
        rules.push(Rule { peers, ports });
    }
    rules
}

fn list_field<'v>(
    v: &'v Value,
    key: &str,
    path: &Path,
    problems: &mut Vec<Problem>,
) -> Option<&'v Vec<Value>> {
    match v.get(key) {
        None | Some(Value::Null) => None,
        Some(Value::Array(a)) => Some(a),
        Some(_) => {
            problems.push(problem(&path.key(key), &format!("{key} must be a list")));
            None
        }
    }
}

fn parse_peer(v: &Value, path: &Path, problems: &mut Vec<Problem>) -> Option<Peer> {
    let present = |k: &str| v.get(k).is_some_and(|x| !x.is_null());
    let mut selector = |k: &str| -> Option<Selector> {
        let s = v.get(k).filter(|x| !x.is_null())?;
        match Selector::parse(s, &path.key(k)) {
            Ok(s) => Some(s),
            Err(p) => {
                problems.push(p);
                None
            }
        }
    };
    let pods = selector("podSelector");
    let namespaces = selector("namespaceSelector");
    let has_selectors = present("podSelector") || present("namespaceSelector");
    if present("ipBlock") {
        if has_selectors {
            problems.push(problem(
                path,
                "may not specify both ipBlock and another peer",
            ));
            return None;
        }
        return parse_ip_block(&v["ipBlock"], &path.key("ipBlock"), problems).map(Peer::IpBlock);
    }
    if !has_selectors {
        problems.push(problem(path, "must specify a peer"));
        return None;
    }
    Some(Peer::Pods { namespaces, pods })
}

fn parse_ip_block(v: &Value, path: &Path, problems: &mut Vec<Problem>) -> Option<IpBlock> {
    let Some(cidr_text) = v
        .get("cidr")
        .and_then(Value::as_str)
        .filter(|s| !s.is_empty())
    else {
        problems.push(problem(&path.key("cidr"), "Required value"));
        return None;
    };
    let cidr = match Cidr::parse(cidr_text) {
        Ok(c) => c,
        Err(e) => {
            problems.push(problem(&path.key("cidr"), &e));
            return None;
        }
    };
    if cidr.host_bits_set {
        problems.push(Problem {
            level: DiagLevel::Warning,
            ..problem(
                &path.key("cidr"),
                &format!("{cidr_text:?} has host bits set; it means {}", cidr.range),
            )
        });
    }
    let mut except = Vec::new();
    let mut ok = true;
    if let Some(list) = list_field(v, "except", path, problems) {
        for (i, e) in list.iter().enumerate() {
            let ep = path.key("except").index(i);
            match e.as_str().map(Cidr::parse) {
                Some(Ok(c)) if cidr.range.contains(&c.range) && c.prefix > cidr.prefix => {
                    except.push(c)
                }
                Some(Ok(_)) => {
                    problems.push(problem(&ep, "must be a strict subset of `cidr`"));
                    ok = false;
                }
                Some(Err(msg)) => {
                    problems.push(problem(&ep, &msg));
                    ok = false;
                }
                None => {
                    problems.push(problem(&ep, "must be a string"));
                    ok = false;
                }
            }
        }
    }
    ok.then(|| IpBlock {
        cidr_text: cidr_text.to_string(),
        cidr,
        except,
    })
}

fn parse_port(v: &Value, path: &Path, problems: &mut Vec<Problem>) -> Option<PortSpec> {
    let protocol = match v.get("protocol") {
        None | Some(Value::Null) => Protocol::Tcp,
        Some(p) => match p.as_str().and_then(Protocol::parse) {
            Some(p) => p,
            None => {
                problems.push(problem(
                    &path.key("protocol"),
                    &format!("unsupported value {p}: supported values: \"TCP\", \"UDP\", \"SCTP\""),
                ));
                return None;
            }
        },
    };
    let end_port = match v.get("endPort") {
        None | Some(Value::Null) => None,
        Some(e) => match e.as_i64() {
            Some(n) => Some(n),
            None => {
                problems.push(problem(&path.key("endPort"), "endPort must be an integer"));
                return None;
            }
        },
    };
    let port = match v.get("port") {
        None | Some(Value::Null) => {
            if end_port.is_some() {
                problems.push(problem(
                    &path.key("endPort"),
                    "may not be specified when `port` is not specified",
                ));
                return None;
            }
            None
        }
        Some(Value::Number(n)) => {
            let Some(p) = n.as_i64().filter(|p| (1..=65535).contains(p)) else {
                problems.push(problem(
                    &path.key("port"),
                    "must be between 1 and 65535, inclusive",
                ));
                return None;
            };
            let end = end_port.unwrap_or(p);
            if end < p {
                problems.push(problem(
                    &path.key("endPort"),
                    "must be greater than or equal to `port`",
                ));
                return None;
            }
            if end > 65535 {
                problems.push(problem(
                    &path.key("endPort"),
                    "must be between 1 and 65535, inclusive",
                ));
                return None;
            }
            Some(PortRef::Number(p as u16, end as u16))
        }
        Some(Value::String(s)) => {
            if end_port.is_some() {
                problems.push(problem(
                    &path.key("endPort"),
                    "may not be specified when `port` is non-numeric",
                ));
                return None;
            }
            if let Err(msg) = valid_port_name(s) {
                problems.push(problem(&path.key("port"), &msg));
                return None;
            }
            Some(PortRef::Name(s.clone()))
        }
        Some(_) => {
            problems.push(problem(
                &path.key("port"),
                "port must be a number or a port name",
            ));
            return None;
        }
    };
    Some(PortSpec { protocol, port })
}

/// `IsValidPortName` (apimachinery `util/validation/validation.go`): an IANA_SVC_NAME, at most
/// 15 characters of `[a-z0-9-]`, at least one letter, no leading, trailing or doubled hyphen.
pub fn valid_port_name(s: &str) -> Result<(), String> {
    let bad = |why: &str| Err(format!("{s:?} is not a valid port name: {why}"));
    if s.is_empty() || s.len() > 15 {
        return bad("must be no more than 15 characters");
    }
    if !s
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-')
    {
        return bad("must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)");
    }
    if s.contains("--") {
        return bad("must not contain consecutive hyphens");
    }
    if !s.bytes().any(|b| b.is_ascii_lowercase()) {
        return bad("must contain at least one letter (a-z)");
    }
    if s.starts_with('-') || s.ends_with('-') {
        return bad("must not begin or end with a hyphen");
    }
    Ok(())
}
