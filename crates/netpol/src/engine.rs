//! Connectivity between workloads and the IP space outside the cluster.
//!
//! Semantics (`staging/src/k8s.io/api/networking/v1/types.go`, NetworkPolicySpec docs): a pod is
//! isolated for a direction when any NetworkPolicy of its namespace selects it and lists that
//! direction in (defaulted) `policyTypes`; traffic to an isolated pod is allowed when it
//! matches at least one rule of any of those policies (policies add up); pod-to-pod traffic
//! needs both the source's egress and the destination's ingress to allow it.
//!
//! Speed: workloads are grouped into classes whose members every selector treats alike (same
//! selecting policies, same rule peers matching them, same resolution of the named ports any
//! rule uses). Work is done per class pair; members are expanded only for the output. The IP
//! space is cut into disjoint "atoms" at every ipBlock boundary, per family.
//!
//! ipBlock peers are matched against the IP space outside the cluster only: manifests carry no
//! pod IPs, and types.go says ipBlock is meant for cluster-external IPs because pod IPs are
//! ephemeral.

use std::borrow::Cow;
use std::collections::HashMap;
use std::net::IpAddr;

use crate::cluster::{Cluster, Workload};
use crate::conn::{ConnSet, Protocol};
use crate::ip::{Family, IpRange};
use crate::policy::{Direction, NetworkPolicy, Peer, Rule};

/// One side of a connection.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Endpoint {
    /// Index into [`Cluster::workloads`].
    Workload(usize),
    /// A range of addresses outside the cluster: index into [`Connectivity::ranges`].
    Ip(usize),
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Connection {
    pub src: Endpoint,
    pub dst: Endpoint,
    pub conn: ConnSet,
}

#[derive(Debug, Clone, Default)]
pub struct Connectivity {
    /// Sorted by (src, dst); self-connections and empty connections omitted.
    pub connections: Vec<Connection>,
    /// The disjoint address ranges `Endpoint::Ip` refers to, in address order (IPv4 first).
    pub ranges: Vec<IpRange>,
    /// Things the answer may not account for (third-party policies, hostNetwork pods).
    pub caveats: Vec<String>,
    /// Number of workload equivalence classes (for benchmarks and curiosity).
    pub classes: usize,
}

/// Does `peer` of policy `p` select workload `w`? (`NetworkPolicyPeer` docs in types.go.)
pub fn peer_matches_workload(
    cluster: &Cluster,
    p: &NetworkPolicy,
    peer: &Peer,
    w: &Workload,
) -> bool {
    match peer {
        Peer::IpBlock(_) => false,
        Peer::Pods { namespaces, pods } => {
            let ns_ok = match namespaces {
                None => w.namespace == p.namespace,
                Some(sel) => cluster
                    .namespace(&w.namespace)
                    .is_some_and(|ns| sel.matches(&ns.labels)),
            };
            ns_ok && pods.as_ref().is_none_or(|sel| sel.matches(&w.labels))
        }
    }
}

/// Does rule `r` (of direction `dir`) allow traffic with workload or IP `other`, ignoring ports?
fn rule_peer_matches(cluster: &Cluster, p: &NetworkPolicy, r: &Rule, other: Target) -> bool {
    r.peers.is_empty()
        || r.peers.iter().any(|peer| match (peer, other) {
            (Peer::IpBlock(b), Target::Ip(a)) => b.contains(a),
            (_, Target::Workload(w)) => {
                peer_matches_workload(cluster, p, peer, &cluster.workloads[w])
            }
            _ => false,
        })
}

/// The ports rule `r` opens on destination `dst` (`None`: outside the cluster, where named
/// ports resolve to nothing).
pub fn rule_ports(r: &Rule, dst: Option<&Workload>) -> ConnSet {
    let mut c = r.numeric_ports();
    if let Some(w) = dst {
        for (proto, name) in r.named_ports() {
            if let Some(n) = w.named_port(proto, name) {
                c.add_range(proto, n, n);
            }
        }
    }
    c
}

/// Policies of `w`'s namespace that select it and affect `dir`.
pub fn isolating_policies(cluster: &Cluster, w: &Workload, dir: Direction) -> Vec<usize> {
    (0..cluster.policies.len())
        .filter(|&i| {
            let p = &cluster.policies[i];
            p.affects(dir) && p.namespace == w.namespace && p.pod_selector.matches(&w.labels)
        })
        .collect()
}

struct CompiledRule {
    all_peers: bool,
    fixed: ConnSet,
    named: Vec<(Protocol, String)>,
    /// Atom index spans (inclusive) of the rule's ipBlocks.
    atom_spans: Vec<(u32, u32)>,
    /// Bitset over classes matched by the rule's pod peers.
    class_bits: Vec<u64>,
    class_list: Vec<u32>,
}

struct Class {
    members: Vec<usize>,
    in_isolated: bool,
    eg_isolated: bool,
    in_rules: Vec<u32>,
    eg_rules: Vec<u32>,
}

/// Disjoint address ranges: every ipBlock boundary is a cut, IPv4 atoms first.
struct Atoms {
    v4: Vec<u128>,
    v6: Vec<u128>,
}

impl Atoms {
    fn new(mut cuts: Vec<(Family, u128)>) -> Atoms {
        cuts.push((Family::V4, 0));
        cuts.push((Family::V6, 0));
        cuts.sort_unstable();
        cuts.dedup();
        let v4 = cuts
            .iter()
            .filter(|c| c.0 == Family::V4 && c.1 <= Family::V4.max())
            .map(|c| c.1)
            .collect();
        let v6 = cuts
            .iter()
            .filter(|c| c.0 == Family::V6)
            .map(|c| c.1)
            .collect();
        Atoms { v4, v6 }
    }
    fn len(&self) -> u32 {
        (self.v4.len() + self.v6.len()) as u32
    }
    fn n4(&self) -> u32 {
        self.v4.len() as u32
    }
    fn span(&self, r: &IpRange) -> (u32, u32) {
        let (starts, base) = match r.family {
            Family::V4 => (&self.v4, 0),
            Family::V6 => (&self.v6, self.n4()),
        };
        let lo = starts
            .binary_search(&r.first)
            .expect("range start is a cut") as u32;
        let hi = starts.partition_point(|&s| s <= r.last) as u32 - 1;
        (base + lo, base + hi)
    }
    fn range(&self, lo: u32, hi: u32) -> IpRange {
        let (family, starts, base) = if lo < self.n4() {
            (Family::V4, &self.v4, 0)
        } else {
            (Family::V6, &self.v6, self.n4())
        };
        let (l, h) = ((lo - base) as usize, (hi - base) as usize);
        let last = starts.get(h + 1).map_or(family.max(), |n| n - 1);
        IpRange {
            family,
            first: starts[l],
            last,
        }
    }
}

/// Cut points of every ipBlock (cidr and except) in `cluster`.
fn ip_cuts(cluster: &Cluster) -> Vec<(Family, u128)> {
    let mut cuts = Vec::new();
    let mut add = |r: &IpRange| {
        cuts.push((r.family, r.first));
        if r.last < r.family.max() {
            cuts.push((r.family, r.last + 1));
        }
    };
    for p in &cluster.policies {
        for r in p.ingress.iter().chain(&p.egress) {
            for peer in &r.peers {
                if let Peer::IpBlock(b) = peer {
                    add(&b.cidr.range);
                    b.except.iter().for_each(|e| add(&e.range));
                }
            }
        }
    }
    cuts
}

pub struct Engine<'c> {
    cluster: &'c Cluster<'c>,
    rules: Vec<CompiledRule>,
    classes: Vec<Class>,
    atoms: Atoms,
}

impl<'c> Engine<'c> {
    pub fn new(cluster: &'c Cluster) -> Engine<'c> {
        let atoms = Atoms::new(ip_cuts(cluster));
        let nw = cluster.workloads.len();
        // Workloads are sorted by namespace: index them by namespace for selector evaluation.
        let mut by_ns: HashMap<&str, (usize, usize)> = HashMap::new();
        for (i, w) in cluster.workloads.iter().enumerate() {
            by_ns
                .entry(w.namespace.as_str())
                .and_modify(|r| r.1 = i + 1)
                .or_insert((i, i + 1));
        }
        let in_ns = |ns: &str| by_ns.get(ns).map_or(0..0, |&(a, b)| a..b);

        let mut features: Vec<Vec<u32>> = vec![Vec::new(); nw];
        let mut rule_dirs: Vec<(usize, Direction, usize)> = Vec::new();
        let mut policy_rules: Vec<Vec<u32>> = vec![Vec::new(); cluster.policies.len()];
        for (pi, p) in cluster.policies.iter().enumerate() {
            for wi in in_ns(&p.namespace) {
                if p.pod_selector.matches(&cluster.workloads[wi].labels) {
                    features[wi].push(pi as u32);
                }
            }
            for dir in [Direction::Ingress, Direction::Egress] {
                if p.affects(dir) {
                    for ri in 0..p.rules(dir).len() {
                        policy_rules[pi].push(rule_dirs.len() as u32);
                        rule_dirs.push((pi, dir, ri));
                    }
                }
            }
        }
        let np = cluster.policies.len() as u32;
        let mut rules = Vec::with_capacity(rule_dirs.len());
        let mut named_used: Vec<(Protocol, String)> = Vec::new();
        let mut rule_members: Vec<Vec<usize>> = Vec::with_capacity(rule_dirs.len());
        for (rid, &(pi, dir, ri)) in rule_dirs.iter().enumerate() {
            let p = &cluster.policies[pi];
            let r = &p.rules(dir)[ri];
            let mut members: Vec<usize> = Vec::new();
            let mut atom_spans = Vec::new();
            for peer in &r.peers {
                match peer {
                    Peer::IpBlock(b) => {
                        let (lo, hi) = atoms.span(&b.cidr.range);
                        let mut holes: Vec<(u32, u32)> =
                            b.except.iter().map(|e| atoms.span(&e.range)).collect();
                        holes.sort_unstable();
                        let mut cur = lo;
                        for (hl, hh) in holes {
                            if hl > cur {
                                atom_spans.push((cur, hl - 1));
                            }
                            cur = cur.max(hh + 1);
                        }
                        if cur <= hi {
                            atom_spans.push((cur, hi));
                        }
                    }
                    // Same rule as `peer_matches_workload`, with the namespace test hoisted.
                    Peer::Pods { namespaces, pods } => {
                        let pod_ok = |wi: &usize| {
                            pods.as_ref()
                                .is_none_or(|s| s.matches(&cluster.workloads[*wi].labels))
                        };
                        match namespaces {
                            None => members.extend(in_ns(&p.namespace).filter(pod_ok)),
                            Some(sel) => {
                                for ns in cluster
                                    .namespaces
                                    .iter()
                                    .filter(|ns| sel.matches(&ns.labels))
                                {
                                    members.extend(in_ns(&ns.name).filter(pod_ok));
                                }
                            }
                        }
                    }
                }
            }
            members.sort_unstable();
            members.dedup();
            for &wi in &members {
                features[wi].push(np + rid as u32);
            }
            rule_members.push(members);
            let named: Vec<(Protocol, String)> =
                r.named_ports().map(|(p, n)| (p, n.to_string())).collect();
            named_used.extend(named.iter().cloned());
            rules.push(CompiledRule {
                all_peers: r.peers.is_empty(),
                fixed: r.numeric_ports(),
                named,
                atom_spans,
                class_bits: Vec::new(),
                class_list: Vec::new(),
            });
        }
        named_used.sort();
        named_used.dedup();

        // Classes: same features and same resolution of every named port in use.
        let mut class_of: HashMap<(Vec<u32>, Vec<Option<u16>>), u32> = HashMap::new();
        let mut wl_class = vec![0u32; nw];
        let mut classes: Vec<Class> = Vec::new();
        for wi in 0..nw {
            let w = &cluster.workloads[wi];
            let named: Vec<Option<u16>> = named_used
                .iter()
                .map(|(p, n)| w.named_port(*p, n))
                .collect();
            let key = (std::mem::take(&mut features[wi]), named);
            let next = classes.len() as u32;
            let ci = match class_of.get(&key) {
                Some(&ci) => ci,
                None => {
                    // Features below `np` are the policies selecting the workload, in order.
                    let mut class = Class {
                        members: Vec::new(),
                        in_isolated: false,
                        eg_isolated: false,
                        in_rules: Vec::new(),
                        eg_rules: Vec::new(),
                    };
                    for &pi in key.0.iter().take_while(|&&f| f < np) {
                        let p = &cluster.policies[pi as usize];
                        class.in_isolated |= p.affects_ingress;
                        class.eg_isolated |= p.affects_egress;
                        for &rid in &policy_rules[pi as usize] {
                            match rule_dirs[rid as usize].1 {
                                Direction::Ingress => class.in_rules.push(rid),
                                Direction::Egress => class.eg_rules.push(rid),
                            }
                        }
                    }
                    classes.push(class);
                    class_of.insert(key, next);
                    next
                }
            };
            classes[ci as usize].members.push(wi);
            wl_class[wi] = ci;
        }
        let words = classes.len().div_ceil(64);
        for (rule, members) in rules.iter_mut().zip(&rule_members) {
            rule.class_bits = vec![0; words];
            for &wi in members {
                let c = wl_class[wi] as usize;
                if rule.class_bits[c / 64] & (1 << (c % 64)) == 0 {
                    rule.class_bits[c / 64] |= 1 << (c % 64);
                    rule.class_list.push(c as u32);
                }
            }
        }
        Engine {
            cluster,
            rules,
            classes,
            atoms,
        }
    }

    pub fn class_count(&self) -> usize {
        self.classes.len()
    }

    fn ports_for(&self, rid: u32, dst_class: Option<u32>) -> Cow<'_, ConnSet> {
        let r = &self.rules[rid as usize];
        match dst_class {
            Some(c) if !r.named.is_empty() => {
                let w = &self.cluster.workloads[self.classes[c as usize].members[0]];
                let mut conn = r.fixed.clone();
                for (proto, name) in &r.named {
                    if let Some(n) = w.named_port(*proto, name) {
                        conn.add_range(*proto, n, n);
                    }
                }
                Cow::Owned(conn)
            }
            _ => Cow::Borrowed(&r.fixed),
        }
    }

    fn egress_to_class(&self, s: u32, d: u32) -> ConnSet {
        let sc = &self.classes[s as usize];
        if !sc.eg_isolated {
            return ConnSet::all();
        }
        let mut c = ConnSet::none();
        for &rid in &sc.eg_rules {
            let r = &self.rules[rid as usize];
            if r.all_peers || r.class_bits[d as usize / 64] & (1 << (d % 64)) != 0 {
                c.union_with(&self.ports_for(rid, Some(d)));
                if c.is_all() {
                    break;
                }
            }
        }
        c
    }

    /// Allowed traffic between classes: `(src class, dst class, conn)`.
    fn class_pairs(&self) -> Vec<(u32, u32, ConnSet)> {
        let n = self.classes.len();
        let mut out = Vec::new();
        let mut in_map: Vec<Option<ConnSet>> = vec![None; n];
        let mut touched: Vec<u32> = Vec::new();
        for d in 0..n as u32 {
            let dc = &self.classes[d as usize];
            let mut in_all = if dc.in_isolated {
                ConnSet::none()
            } else {
                ConnSet::all()
            };
            if dc.in_isolated {
                for &rid in &dc.in_rules {
                    let r = &self.rules[rid as usize];
                    let ports = self.ports_for(rid, Some(d));
                    if r.all_peers {
                        in_all.union_with(&ports);
                    } else {
                        for &s in &r.class_list {
                            let slot = &mut in_map[s as usize];
                            match slot {
                                Some(c) => c.union_with(&ports),
                                None => {
                                    *slot = Some(ports.clone().into_owned());
                                    touched.push(s);
                                }
                            }
                        }
                    }
                }
            }
            let mut visit = |s: u32, ing: &ConnSet| {
                let conn = if ing.is_all() {
                    self.egress_to_class(s, d)
                } else {
                    ing.intersect(&self.egress_to_class(s, d))
                };
                if !conn.is_empty() {
                    out.push((s, d, conn));
                }
            };
            if in_all.is_empty() {
                touched.sort_unstable();
                for &s in &touched {
                    visit(s, in_map[s as usize].as_ref().expect("touched"));
                }
            } else {
                for s in 0..n as u32 {
                    match &in_map[s as usize] {
                        Some(c) => {
                            let mut ing = in_all.clone();
                            ing.union_with(c);
                            visit(s, &ing);
                        }
                        None => visit(s, &in_all),
                    }
                }
            }
            for s in touched.drain(..) {
                in_map[s as usize] = None;
            }
        }
        out
    }

    /// Piecewise union of `(atom span, ports)` items, split at the IPv4/IPv6 boundary and with
    /// equal neighbours merged: `(first atom, last atom, ports)`.
    fn sweep(&self, items: &[(u32, u32, Cow<'_, ConnSet>)]) -> Vec<(u32, u32, ConnSet)> {
        let (n, n4) = (self.atoms.len(), self.atoms.n4());
        let mut bounds: Vec<u32> = vec![0, n4, n];
        for (lo, hi, _) in items {
            bounds.push(*lo);
            bounds.push(hi + 1);
        }
        bounds.sort_unstable();
        bounds.dedup();
        let mut segs: Vec<(u32, u32, ConnSet)> = Vec::new();
        for w in bounds.windows(2) {
            let (lo, hi) = (w[0], w[1] - 1);
            let mut c = ConnSet::none();
            for (a, b, p) in items {
                if *a <= lo && hi <= *b {
                    c.union_with(p);
                }
            }
            if c.is_empty() {
                continue;
            }
            match segs.last_mut() {
                Some(last) if last.1 + 1 == lo && lo != n4 && last.2 == c => last.1 = hi,
                _ => segs.push((lo, hi, c)),
            }
        }
        segs
    }

    fn whole_space(&self) -> Vec<(u32, u32, Cow<'_, ConnSet>)> {
        vec![(0, self.atoms.len() - 1, Cow::Owned(ConnSet::all()))]
    }

    fn external_items(
        &self,
        rules: &[u32],
        dst_class: Option<u32>,
    ) -> Vec<(u32, u32, Cow<'_, ConnSet>)> {
        let mut items = Vec::new();
        for &rid in rules {
            let r = &self.rules[rid as usize];
            let ports = self.ports_for(rid, dst_class);
            if r.all_peers {
                items.push((0, self.atoms.len() - 1, ports));
            } else {
                items.extend(r.atom_spans.iter().map(|&(lo, hi)| (lo, hi, ports.clone())));
            }
        }
        items
    }

    pub fn connectivity(&self) -> Connectivity {
        let pairs = self.class_pairs();
        // Per class: segments of the IP space it receives from and sends to.
        let sides: Vec<_> = self
            .classes
            .iter()
            .enumerate()
            .map(|(ci, c)| {
                let inbound = if c.in_isolated {
                    self.sweep(&self.external_items(&c.in_rules, Some(ci as u32)))
                } else {
                    self.sweep(&self.whole_space())
                };
                let outbound = if c.eg_isolated {
                    self.sweep(&self.external_items(&c.eg_rules, None))
                } else {
                    self.sweep(&self.whole_space())
                };
                (inbound, outbound)
            })
            .collect();
        // The output's ranges are disjoint across the whole answer: each segment is split at
        // every boundary any class has, which is the coarsest such partition.
        let mut cuts: Vec<u32> = vec![self.atoms.n4()];
        for (inbound, outbound) in &sides {
            for &(lo, hi, _) in inbound.iter().chain(outbound) {
                cuts.push(lo);
                cuts.push(hi + 1);
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        // Every output range is one part of this partition; parts are numbered in address order.
        let mut bounds = cuts.clone();
        bounds.insert(0, 0);
        bounds.push(self.atoms.len());
        bounds.dedup();
        let ranges: Vec<IpRange> = bounds
            .windows(2)
            .map(|w| self.atoms.range(w[0], w[1] - 1))
            .collect();
        let split = |lo: u32, hi: u32| -> std::ops::Range<usize> {
            let first = bounds.partition_point(|&b| b <= lo) - 1;
            let end = bounds.partition_point(|&b| b <= hi);
            first..end
        };
        let parts: Vec<(PartConns<'_>, PartConns<'_>)> = sides
            .iter()
            .map(|(inbound, outbound)| (expand(inbound, &split), expand(outbound, &split)))
            .collect();

        // Workload sources first, each source's slice sorted by destination (many small sorts
        // beat one large one); sizes are counted first so every connection is written once.
        let nw = self.cluster.workloads.len();
        let mut count = vec![0usize; nw];
        for (s, d, _) in &pairs {
            let n = self.classes[*d as usize].members.len() - usize::from(s == d);
            self.classes[*s as usize]
                .members
                .iter()
                .for_each(|&w| count[w] += n);
        }
        for (c, (_, outbound)) in self.classes.iter().zip(&parts) {
            c.members.iter().for_each(|&w| count[w] += outbound.len());
        }
        let mut start = Vec::with_capacity(nw + 1);
        start.push(0);
        for n in &count {
            start.push(start.last().unwrap() + n);
        }
        let placeholder = Connection {
            src: Endpoint::Workload(0),
            dst: Endpoint::Workload(0),
            conn: ConnSet::none(),
        };
        let mut connections = vec![placeholder; start[nw]];
        let mut next = start.clone();
        let mut put = |c: Connection, w: usize| {
            connections[next[w]] = c;
            next[w] += 1;
        };
        for (s, d, conn) in &pairs {
            for &ws in &self.classes[*s as usize].members {
                for &wd in self.classes[*d as usize]
                    .members
                    .iter()
                    .filter(|&&wd| wd != ws)
                {
                    put(
                        Connection {
                            src: Endpoint::Workload(ws),
                            dst: Endpoint::Workload(wd),
                            conn: conn.clone(),
                        },
                        ws,
                    );
                }
            }
        }
        let mut from_ip: Vec<Connection> = Vec::new();
        for (c, (inbound, outbound)) in self.classes.iter().zip(&parts) {
            for &w in &c.members {
                for &(range, conn) in inbound {
                    from_ip.push(Connection {
                        src: Endpoint::Ip(range),
                        dst: Endpoint::Workload(w),
                        conn: conn.clone(),
                    });
                }
                for &(range, conn) in outbound {
                    put(
                        Connection {
                            src: Endpoint::Workload(w),
                            dst: Endpoint::Ip(range),
                            conn: conn.clone(),
                        },
                        w,
                    );
                }
            }
        }
        for w in 0..nw {
            connections[start[w]..start[w + 1]].sort_unstable_by_key(|c| c.dst);
        }
        from_ip.sort_unstable_by_key(|c| (c.src, c.dst));
        connections.append(&mut from_ip);
        Connectivity {
            connections,
            ranges,
            caveats: caveats(self.cluster),
            classes: self.classes.len(),
        }
    }

    /// Number of allowed workload-level connections without materialising them (benchmarks).
    pub fn count_connections(&self) -> usize {
        let mut total = 0;
        for (s, d, _) in self.class_pairs() {
            let (a, b) = (
                self.classes[s as usize].members.len(),
                self.classes[d as usize].members.len(),
            );
            total += a * b - if s == d { a } else { 0 };
        }
        total
    }
}

/// `(part index, allowed traffic)` for one side of one class.
type PartConns<'a> = Vec<(usize, &'a ConnSet)>;

/// Segments in atom space as parts of the global partition (`split` maps a span to parts).
fn expand<'a>(
    segs: &'a [(u32, u32, ConnSet)],
    split: &impl Fn(u32, u32) -> std::ops::Range<usize>,
) -> PartConns<'a> {
    segs.iter()
        .flat_map(|(lo, hi, conn)| split(*lo, *hi).map(move |r| (r, conn)))
        .collect()
}

/// What the analysis cannot vouch for: third-party policies and hostNetwork pods.
pub fn caveats(cluster: &Cluster) -> Vec<String> {
    let mut out = Vec::new();
    for f in &cluster.foreign {
        let scope = match &f.namespace {
            Some(ns) => format!("traffic to or from workloads in namespace {ns:?}"),
            None => "traffic of every workload".to_string(),
        };
        out.push(format!(
            "{f} is recognised but not evaluated: {scope} may be allowed or denied differently"
        ));
    }
    for w in cluster.workloads.iter().filter(|w| w.host_network) {
        out.push(format!(
            "{w} uses hostNetwork: NetworkPolicy behaviour for host-network pods is undefined (types.go)"
        ));
    }
    out
}

/// `--from` / `--to` of a reachability question.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Target {
    Workload(usize),
    Ip(IpAddr),
}

#[derive(Debug, Clone, Default)]
pub struct Side {
    /// False when this side is outside the cluster (no policy applies to it).
    pub in_cluster: bool,
    /// Indices of policies isolating this side for the direction.
    pub isolating: Vec<usize>,
    /// `(policy index, rule index)` of rules allowing the traffic.
    pub allowing: Vec<(usize, usize)>,
    /// Rules whose peers match but whose ports do not: `(policy, rule, what they open)`.
    pub other_ports: Vec<(usize, usize, ConnSet)>,
}

impl Side {
    pub fn allows(&self) -> bool {
        !self.in_cluster || self.isolating.is_empty() || !self.allowing.is_empty()
    }
}

#[derive(Debug, Clone)]
pub struct Verdict {
    pub allowed: bool,
    /// The source's egress.
    pub egress: Side,
    /// The destination's ingress.
    pub ingress: Side,
    pub caveats: Vec<String>,
}

/// Can `from` open a connection to `to` on `port`/`proto`? Answers from the same rules as
/// [`Engine`], with the policies and rules that decide it.
pub fn can_reach(
    cluster: &Cluster,
    from: Target,
    to: Target,
    proto: Protocol,
    port: u16,
) -> Verdict {
    let dst_wl = match to {
        Target::Workload(i) => Some(&cluster.workloads[i]),
        Target::Ip(_) => None,
    };
    let side = |me: Target, other: Target, dir: Direction| -> Side {
        let Target::Workload(wi) = me else {
            return Side::default();
        };
        let w = &cluster.workloads[wi];
        let isolating = isolating_policies(cluster, w, dir);
        let (mut allowing, mut other_ports) = (Vec::new(), Vec::new());
        for &pi in &isolating {
            let p = &cluster.policies[pi];
            for (ri, r) in p.rules(dir).iter().enumerate() {
                if !rule_peer_matches(cluster, p, r, other) {
                    continue;
                }
                let ports = rule_ports(r, dst_wl);
                if ports.allows(proto, port) {
                    allowing.push((pi, ri));
                } else {
                    other_ports.push((pi, ri, ports));
                }
            }
        }
        Side {
            in_cluster: true,
            isolating,
            allowing,
            other_ports,
        }
    };
    let egress = side(from, to, Direction::Egress);
    let ingress = side(to, from, Direction::Ingress);
    let mut caveats_out = Vec::new();
    let ns_of = |t: Target| match t {
        Target::Workload(i) => Some(cluster.workloads[i].namespace.as_str()),
        Target::Ip(_) => None,
    };
    for f in &cluster.foreign {
        let relevant = match &f.namespace {
            None => true,
            Some(ns) => ns_of(from) == Some(ns) || ns_of(to) == Some(ns),
        };
        if relevant {
            caveats_out.push(format!("{f} is not evaluated and may change this answer"));
        }
    }
    for t in [from, to] {
        if let Target::Workload(i) = t
            && cluster.workloads[i].host_network
        {
            caveats_out.push(format!(
                "{} uses hostNetwork: NetworkPolicy behaviour for host-network pods is undefined",
                cluster.workloads[i]
            ));
        }
    }
    Verdict {
        allowed: egress.allows() && ingress.allows(),
        egress,
        ingress,
        caveats: caveats_out,
    }
}
