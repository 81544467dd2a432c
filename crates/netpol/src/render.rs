//! Renderings of connection lists: table, JSON (the stable contract), CSV, Markdown and
//! Graphviz DOT. Pure functions returning strings.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};

use kubevigil_model::{Escaped, escape_controls};
use serde_json::{Value, json};

use crate::cluster::Cluster;
use crate::conn::ConnSet;
use crate::engine::{Connection, Endpoint};
use crate::ip::{Family, IpRange};

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
/// ([`escape_controls`]). The JSON rendering ([`EndpointRef::to_json`]) keeps them exact.
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

pub fn json(conns: &[Conn], caveats: &[String]) -> String {
    let list: Vec<Value> = conns
        .iter()
        .map(
            |c| json!({"src": c.src.to_json(), "dst": c.dst.to_json(), "conn": conn_json(&c.conn)}),
        )
        .collect();
    let mut doc = json!({"connections": list});
    if !caveats.is_empty() {
        doc["caveats"] = json!(caveats);
    }
    let mut s = kubevigil_model::text::json::to_string(&doc, true).expect("JSON values serialise");
    s.push('\n');
    s
}

/// One line per connection: `SRC -> DST : CONN` (also the test fixtures' expected format).
pub fn lines(conns: &[Conn]) -> String {
    let mut s = String::new();
    for c in conns {
        let _ = writeln!(s, "{} -> {} : {}", c.src, c.dst, c.conn);
    }
    s
}

pub fn table(conns: &[Conn], caveats: &[String]) -> String {
    let rows: Vec<[String; 3]> = conns
        .iter()
        .map(|c| [c.src.to_string(), c.dst.to_string(), c.conn.to_string()])
        .collect();
    let header = ["SOURCE", "DESTINATION", "ALLOWED"];
    let mut widths = header.map(str::len);
    for r in &rows {
        for i in 0..3 {
            widths[i] = widths[i].max(r[i].chars().count());
        }
    }
    let mut s = String::new();
    let _ = writeln!(
        s,
        "{:w0$}  {:w1$}  {}",
        header[0],
        header[1],
        header[2],
        w0 = widths[0],
        w1 = widths[1]
    );
    for r in &rows {
        let _ = writeln!(
            s,
            "{:w0$}  {:w1$}  {}",
            r[0],
            r[1],
            r[2],
            w0 = widths[0],
            w1 = widths[1]
        );
    }
    if rows.is_empty() {
        s.push_str("(no allowed connections)\n");
    }
    for c in caveats {
        let _ = writeln!(s, "caveat: {}", Escaped(c));
    }
    s
}

/// RFC 4180 quoting. Fields come from [`EndpointRef`]'s Display, already free of controls.
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

pub fn csv(conns: &[Conn]) -> String {
    let mut s = String::from("src,dst,conn\n");
    for c in conns {
        let _ = writeln!(
            s,
            "{},{},{}",
            csv_field(&c.src.to_string()),
            csv_field(&c.dst.to_string()),
            csv_field(&c.conn.to_string())
        );
    }
    s
}

pub fn markdown(conns: &[Conn], caveats: &[String]) -> String {
    // No control character (a newline would end the row), and `|` is escaped; so is `\`, or a
    // name ending in one would turn the escape of the next `|` into a literal backslash.
    let esc = |s: String| {
        escape_controls(&s)
            .replace('\\', "\\\\")
            .replace('|', "\\|")
    };
    let mut s = String::from("| Source | Destination | Allowed |\n|---|---|---|\n");
    for c in conns {
        let _ = writeln!(
            s,
            "| {} | {} | {} |",
            esc(c.src.to_string()),
            esc(c.dst.to_string()),
            esc(c.conn.to_string())
        );
    }
    if !caveats.is_empty() {
        s.push('\n');
        for c in caveats {
            let _ = writeln!(s, "> **Caveat:** {}", esc(c.clone()));
        }
    }
    s
}

/// A DOT quoted string. Names in `s` are escaped ([`escape_controls`]) by the caller: its
/// newlines are the renderer's own line breaks.
fn dot_id(s: &str) -> String {
    // `\n` is Graphviz's centred line break.
    format!(
        "\"{}\"",
        s.replace('\\', "\\\\")
            .replace('"', "\\\"")
            .replace('\n', "\\n")
    )
}

/// For people: a workload's neighbouring ranges with the same access become one range (the
/// answer's ranges are cut finer, so that they are disjoint across all workloads).
fn merge_adjacent_ranges(conns: &[Conn]) -> Vec<Conn> {
    let mut out: Vec<Conn> = Vec::with_capacity(conns.len());
    // (workload, inbound?) -> its ranges in that direction.
    let mut by_side: BTreeMap<(&EndpointRef, bool), Vec<(IpRange, &ConnSet)>> = BTreeMap::new();
    for c in conns {
        match (&c.src, &c.dst) {
            (EndpointRef::Ip(r), w) => by_side.entry((w, true)).or_default().push((*r, &c.conn)),
            (w, EndpointRef::Ip(r)) => by_side.entry((w, false)).or_default().push((*r, &c.conn)),
            _ => out.push(c.clone()),
        }
    }
    for ((w, inbound), mut list) in by_side {
        list.sort_by_key(|(r, _)| *r);
        let mut runs: Vec<(IpRange, &ConnSet)> = Vec::new();
        for (r, conn) in list {
            match runs.last_mut() {
                Some((last, lc))
                    if last.family == r.family
                        && last.last.checked_add(1) == Some(r.first)
                        && *lc == conn =>
                {
                    last.last = r.last
                }
                _ => runs.push((r, conn)),
            }
        }
        for (r, conn) in runs {
            let ip = EndpointRef::Ip(r);
            let (src, dst) = if inbound {
                (ip, w.clone())
            } else {
                (w.clone(), ip)
            };
            out.push(Conn {
                src,
                dst,
                conn: conn.clone(),
            });
        }
    }
    out
}

/// How a range reads in a graph: "any IPv4" for the whole family, its CIDRs when there are
/// at most three, else FIRST-LAST.
fn range_label(r: &IpRange) -> String {
    if *r == IpRange::whole(r.family) {
        return match r.family {
            Family::V4 => "any IPv4\n0.0.0.0/0".to_string(),
            Family::V6 => "any IPv6\n::/0".to_string(),
        };
    }
    let cidrs = r.cidrs();
    if cidrs.len() <= 3 {
        cidrs.join("\n")
    } else {
        r.to_string()
    }
}

/// A left-to-right graph: one box per workload grouped by namespace, one dashed ellipse per
/// external address range, one edge per connection labelled with its ports (both ways when the
/// reverse connection is the same). Port-restricted edges are bold; "All" edges grey.
pub fn dot(conns: &[Conn], caveats: &[String]) -> String {
    let merged = merge_adjacent_ranges(conns);
    let conns = &merged[..];
    let mut namespaces: BTreeMap<&str, BTreeMap<String, &EndpointRef>> = BTreeMap::new();
    let mut ranges: BTreeMap<String, IpRange> = BTreeMap::new();
    let mut edges: BTreeMap<(String, String), &ConnSet> = BTreeMap::new();
    for c in conns {
        for e in [&c.src, &c.dst] {
            match e {
                EndpointRef::Workload { namespace, .. } => {
                    namespaces
                        .entry(namespace)
                        .or_default()
                        .insert(e.to_string(), e);
                }
                EndpointRef::Ip(r) => {
                    ranges.insert(r.to_string(), *r);
                }
            }
        }
        edges.insert((c.src.to_string(), c.dst.to_string()), &c.conn);
    }
    let mut s = String::from(
        "digraph connectivity {\n  rankdir=LR;\n  node [shape=box, style=rounded, fontname=\"Helvetica\"];\n  edge [fontname=\"Helvetica\", fontsize=10];\n",
    );
    if !caveats.is_empty() {
        let text: Vec<String> = caveats
            .iter()
            .map(|c| format!("caveat: {}", Escaped(c)))
            .collect();
        let _ = writeln!(s, "  labelloc=t;\n  label={};", dot_id(&text.join("\n")));
    }
    for (i, (ns, members)) in namespaces.iter().enumerate() {
        let _ = writeln!(
            s,
            "  subgraph cluster_{i} {{\n    label={};\n    style=dashed;",
            dot_id(&format!("namespace {}", Escaped(ns)))
        );
        for (id, e) in members {
            if let EndpointRef::Workload { name, kind, .. } = e {
                let _ = writeln!(
                    s,
                    "    {} [label={}];",
                    dot_id(id),
                    dot_id(&format!("{}\n{}", Escaped(name), Escaped(kind)))
                );
            }
        }
        s.push_str("  }\n");
    }
    for (id, r) in &ranges {
        let _ = writeln!(
            s,
            "  {} [label={}, shape=ellipse, style=dashed];",
            dot_id(id),
            dot_id(&range_label(r))
        );
    }
    for ((a, b), conn) in &edges {
        let reverse = edges.get(&(b.clone(), a.clone()));
        if reverse.is_some_and(|r| r == conn) && a > b {
            continue;
        }
        let both = if reverse.is_some_and(|r| r == conn) {
            ", dir=both"
        } else {
            ""
        };
        let style = if conn.is_all() {
            ", color=gray50, fontcolor=gray40"
        } else {
            ", penwidth=2"
        };
        let _ = writeln!(
            s,
            "  {} -> {} [label={}{both}{style}];",
            dot_id(a),
            dot_id(b),
            dot_id(&conn.to_string())
        );
    }
    s.push_str("}\n");
    s
}
