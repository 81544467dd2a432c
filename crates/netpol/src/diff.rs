//! Connections added, removed and changed between two versions of the manifests (rendered
//! by `kubevigil_report::netpol`: text and JSON).
//!
//! Workloads are matched by (namespace, name, kind). Connections with the IP space are
//! compared per workload and direction on the common refinement of both versions' ranges,
//! so a changed ipBlock reports exactly the addresses whose access changed.

use std::collections::BTreeMap;

use crate::conn::ConnSet;
use crate::ip::{Family, IpRange};
use crate::named::{Conn, EndpointRef};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub src: EndpointRef,
    pub dst: EndpointRef,
    /// Empty when the connection is new.
    pub old: ConnSet,
    /// Empty when the connection is gone.
    pub new: ConnSet,
}

impl Change {
    pub fn sign(&self) -> char {
        match (self.old.is_empty(), self.new.is_empty()) {
            (true, _) => '+',
            (_, true) => '-',
            _ => '~',
        }
    }
}

/// (workload, outbound?) -> ranges of one side.
type IpSide = BTreeMap<(EndpointRef, bool), Vec<(IpRange, ConnSet)>>;

fn split(conns: &[Conn]) -> (BTreeMap<(EndpointRef, EndpointRef), ConnSet>, IpSide) {
    let mut pairs = BTreeMap::new();
    let mut ips: IpSide = BTreeMap::new();
    for c in conns {
        match (&c.src, &c.dst) {
            (EndpointRef::Ip(r), w) => ips
                .entry((w.clone(), false))
                .or_default()
                .push((*r, c.conn.clone())),
            (w, EndpointRef::Ip(r)) => ips
                .entry((w.clone(), true))
                .or_default()
                .push((*r, c.conn.clone())),
            (s, d) => {
                pairs.insert((s.clone(), d.clone()), c.conn.clone());
            }
        }
    }
    (pairs, ips)
}

fn lookup(ranges: &[(IpRange, ConnSet)], family: Family, addr: u128) -> Option<&ConnSet> {
    ranges
        .iter()
        .find(|(r, _)| r.family == family && r.first <= addr && addr <= r.last)
        .map(|(_, c)| c)
}

fn ip_changes(
    old: &[(IpRange, ConnSet)],
    new: &[(IpRange, ConnSet)],
) -> Vec<(IpRange, ConnSet, ConnSet)> {
    let none = ConnSet::none();
    let mut out: Vec<(IpRange, ConnSet, ConnSet)> = Vec::new();
    for family in [Family::V4, Family::V6] {
        let mut cuts: Vec<u128> = vec![0];
        for (r, _) in old.iter().chain(new) {
            if r.family == family {
                cuts.push(r.first);
                if r.last < family.max() {
                    cuts.push(r.last + 1);
                }
            }
        }
        cuts.sort_unstable();
        cuts.dedup();
        for (i, &first) in cuts.iter().enumerate() {
            let last = cuts.get(i + 1).map_or(family.max(), |n| n - 1);
            let o = lookup(old, family, first).unwrap_or(&none);
            let n = lookup(new, family, first).unwrap_or(&none);
            if o == n {
                continue;
            }
            match out.last_mut() {
                Some((r, lo, ln))
                    if r.family == family && r.last + 1 == first && lo == o && ln == n =>
                {
                    r.last = last
                }
                _ => out.push((
                    IpRange {
                        family,
                        first,
                        last,
                    },
                    o.clone(),
                    n.clone(),
                )),
            }
        }
    }
    out
}

/// Differences from `old` to `new` (both resolved connection lists), sorted by source then
/// destination.
pub fn diff(old: &[Conn], new: &[Conn]) -> Vec<Change> {
    let (old_pairs, old_ips) = split(old);
    let (new_pairs, new_ips) = split(new);
    let none = ConnSet::none();
    let mut changes = Vec::new();
    let keys: std::collections::BTreeSet<_> = old_pairs.keys().chain(new_pairs.keys()).collect();
    for k in keys {
        let o = old_pairs.get(k).unwrap_or(&none);
        let n = new_pairs.get(k).unwrap_or(&none);
        if o != n {
            changes.push(Change {
                src: k.0.clone(),
                dst: k.1.clone(),
                old: o.clone(),
                new: n.clone(),
            });
        }
    }
    let keys: std::collections::BTreeSet<_> = old_ips.keys().chain(new_ips.keys()).collect();
    let empty = Vec::new();
    for k in keys {
        let (w, outbound) = k;
        for (range, o, n) in ip_changes(
            old_ips.get(k).unwrap_or(&empty),
            new_ips.get(k).unwrap_or(&empty),
        ) {
            let ip = EndpointRef::Ip(range);
            let (src, dst) = if *outbound {
                (w.clone(), ip)
            } else {
                (ip, w.clone())
            };
            changes.push(Change {
                src,
                dst,
                old: o,
                new: n,
            });
        }
    }
    changes.sort_by(|a, b| (&a.src, &a.dst).cmp(&(&b.src, &b.dst)));
    changes
}
