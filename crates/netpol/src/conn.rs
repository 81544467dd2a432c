//! Sets of allowed traffic: "everything" or, per protocol (TCP, UDP, SCTP), a set of port ranges.
//!
//! A NetworkPolicy rule without `ports` allows all traffic, including protocols the API cannot
//! name (ICMP, ...); that is `all`. A rule port without `port` allows every port of its protocol.

use std::fmt;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Protocol {
    Tcp,
    Udp,
    Sctp,
}

impl Protocol {
    pub const ALL: [Protocol; 3] = [Protocol::Tcp, Protocol::Udp, Protocol::Sctp];

    pub fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
            Protocol::Sctp => "SCTP",
        }
    }

    /// Exact, case-sensitive names as `core/v1.Protocol` defines them.
    pub fn parse(s: &str) -> Option<Protocol> {
        match s {
            "TCP" => Some(Protocol::Tcp),
            "UDP" => Some(Protocol::Udp),
            "SCTP" => Some(Protocol::Sctp),
            _ => None,
        }
    }

    fn idx(self) -> usize {
        self as usize
    }
}

impl fmt::Display for Protocol {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Sorted, disjoint, non-adjacent inclusive ranges.
type Ranges = Vec<(u16, u16)>;

/// Port ranges per protocol, shared (connection lists clone the same set many times) and not
/// allocated at all when empty.
#[derive(Debug, Clone, Default)]
struct Ports(Option<Arc<[Ranges; 3]>>);

impl Ports {
    fn is_empty(&self) -> bool {
        (0..3).all(|i| self[i].is_empty())
    }

    fn at_mut(&mut self, i: usize) -> &mut Ranges {
        &mut Arc::make_mut(self.0.get_or_insert_with(Default::default))[i]
    }
}

impl std::ops::Index<usize> for Ports {
    type Output = [(u16, u16)];
    fn index(&self, i: usize) -> &[(u16, u16)] {
        self.0.as_ref().map_or(&[], |p| &p[i])
    }
}

impl PartialEq for Ports {
    fn eq(&self, other: &Ports) -> bool {
        (0..3).all(|i| self[i] == other[i])
    }
}

impl Eq for Ports {}

impl std::hash::Hash for Ports {
    fn hash<H: std::hash::Hasher>(&self, h: &mut H) {
        (0..3).for_each(|i| self[i].hash(h));
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, Default)]
pub struct ConnSet {
    all: bool,
    ports: Ports,
}

impl ConnSet {
    pub fn none() -> ConnSet {
        ConnSet::default()
    }

    pub fn all() -> ConnSet {
        ConnSet {
            all: true,
            ..ConnSet::default()
        }
    }

    pub fn is_all(&self) -> bool {
        self.all
    }

    pub fn is_empty(&self) -> bool {
        !self.all && self.ports.is_empty()
    }

    pub fn add_range(&mut self, proto: Protocol, lo: u16, hi: u16) {
        if self.all {
            return;
        }
        let r = self.ports.at_mut(proto.idx());
        r.push((lo, hi));
        normalize(r);
    }

    pub fn union_with(&mut self, other: &ConnSet) {
        if self.all {
            return;
        }
        if other.all {
            *self = ConnSet::all();
            return;
        }
        for i in 0..3 {
            if !other.ports[i].is_empty() {
                let mine = self.ports.at_mut(i);
                mine.extend_from_slice(&other.ports[i]);
                normalize(mine);
            }
        }
    }

    pub fn intersect(&self, other: &ConnSet) -> ConnSet {
        if self.all {
            return other.clone();
        }
        if other.all {
            return self.clone();
        }
        let mut out = ConnSet::none();
        for i in 0..3 {
            let (a, b) = (&self.ports[i], &other.ports[i]);
            let (mut x, mut y) = (0, 0);
            while x < a.len() && y < b.len() {
                let lo = a[x].0.max(b[y].0);
                let hi = a[x].1.min(b[y].1);
                if lo <= hi {
                    out.ports.at_mut(i).push((lo, hi));
                }
                if a[x].1 < b[y].1 { x += 1 } else { y += 1 }
            }
        }
        out
    }

    /// Does this set allow `port` on `proto`?
    pub fn allows(&self, proto: Protocol, port: u16) -> bool {
        self.all
            || self.ports[proto.idx()]
                .iter()
                .any(|&(lo, hi)| lo <= port && port <= hi)
    }

    /// `(protocol, first, last)` in protocol then port order; empty when `all`.
    pub fn ranges(&self) -> impl Iterator<Item = (Protocol, u16, u16)> + '_ {
        Protocol::ALL
            .into_iter()
            .flat_map(move |p| self.ports[p.idx()].iter().map(move |&(lo, hi)| (p, lo, hi)))
    }

    /// `self` minus `other`, for diffs; `all` minus something is reported as "all except".
    pub fn minus(&self, other: &ConnSet) -> ConnSet {
        if other.all {
            return ConnSet::none();
        }
        if self.all {
            // Cannot be expressed as port ranges; the caller reports the whole set.
            return if other.is_empty() {
                ConnSet::all()
            } else {
                self.clone()
            };
        }
        let mut out = ConnSet::none();
        for i in 0..3 {
            for &(lo, hi) in &self.ports[i] {
                let mut cur = lo as u32;
                for &(olo, ohi) in &other.ports[i] {
                    if (ohi as u32) < cur || olo > hi {
                        continue;
                    }
                    if (olo as u32) > cur {
                        out.ports.at_mut(i).push((cur as u16, olo - 1));
                    }
                    cur = ohi as u32 + 1;
                }
                if cur <= hi as u32 {
                    out.ports.at_mut(i).push((cur as u16, hi));
                }
            }
        }
        out
    }
}

fn normalize(r: &mut Ranges) {
    r.sort_unstable();
    let mut out: Ranges = Vec::with_capacity(r.len());
    for &(lo, hi) in r.iter() {
        match out.last_mut() {
            Some(last) if lo as u32 <= last.1 as u32 + 1 => last.1 = last.1.max(hi),
            _ => out.push((lo, hi)),
        }
    }
    *r = out;
}

impl fmt::Display for ConnSet {
    /// `All` or `TCP 80,TCP 8000-8080,UDP 53`; `None` when empty.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.all {
            return f.write_str("All");
        }
        if self.is_empty() {
            return f.write_str("None");
        }
        for (i, (p, lo, hi)) in self.ranges().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            if lo == hi {
                write!(f, "{p} {lo}")?;
            } else {
                write!(f, "{p} {lo}-{hi}")?;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn union_intersect_minus() {
        let mut a = ConnSet::none();
        a.add_range(Protocol::Tcp, 80, 80);
        a.add_range(Protocol::Tcp, 81, 90);
        a.add_range(Protocol::Udp, 53, 53);
        assert_eq!(a.to_string(), "TCP 80-90,UDP 53");
        let mut b = ConnSet::none();
        b.add_range(Protocol::Tcp, 85, 100);
        assert_eq!(a.intersect(&b).to_string(), "TCP 85-90");
        assert_eq!(a.intersect(&ConnSet::all()), a);
        assert_eq!(a.minus(&b).to_string(), "TCP 80-84,UDP 53");
        let mut u = a.clone();
        u.union_with(&b);
        assert_eq!(u.to_string(), "TCP 80-100,UDP 53");
        u.union_with(&ConnSet::all());
        assert!(u.is_all());
        assert!(a.allows(Protocol::Tcp, 84) && !a.allows(Protocol::Sctp, 84));
        assert!(ConnSet::none().intersect(&ConnSet::all()).is_empty());
    }
}
