//! `kubevigil netpol`: the connectivity map (table, JSON, CSV, Markdown, Graphviz DOT) and the
//! answer of `can-reach` (text, JSON), behind [`Emitter`]. The JSON documents are the contract
//! described in `crates/netpol/README.md`; everything else is for people, so names from the
//! input are escaped.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io;

use kubevigil_model::{Escaped, escape_controls};
use kubevigil_netpol::diff::Change;
use kubevigil_netpol::ip::{Family, IpRange};
use kubevigil_netpol::named::conn_json;
use kubevigil_netpol::{
    Conn, ConnSet, Connections, Direction, EndpointRef, Reachability, UnmatchedPeer,
};
use serde_json::{Value, json};

use crate::emit::{Csv, Dot, Emitter, Json, Markdown, Table, Text};
use kubevigil_netpol::engine::Side;

impl Emitter<Connections> for Table {
    fn emit(&self, out: &mut dyn io::Write, c: &Connections) -> io::Result<()> {
        out.write_all(table(&c.conns, &c.caveats, &c.unmatched).as_bytes())
    }
}

/// `{"connections": [{"src", "dst", "conn"}], "caveats"?, "unmatchedPeers"?}`.
impl Emitter<Connections> for Json {
    fn emit(&self, out: &mut dyn io::Write, c: &Connections) -> io::Result<()> {
        out.write_all(json(&c.conns, &c.caveats, &c.unmatched).as_bytes())
    }
}

/// `src,dst,conn`, RFC 4180; caveats and notes do not fit the table: the command prints them
/// on stderr.
impl Emitter<Connections> for Csv {
    fn emit(&self, out: &mut dyn io::Write, c: &Connections) -> io::Result<()> {
        out.write_all(csv(&c.conns).as_bytes())
    }
}

impl Emitter<Connections> for Markdown {
    fn emit(&self, out: &mut dyn io::Write, c: &Connections) -> io::Result<()> {
        out.write_all(markdown(&c.conns, &c.caveats, &c.unmatched).as_bytes())
    }
}

impl Emitter<Connections> for Dot {
    fn emit(&self, out: &mut dyn io::Write, c: &Connections) -> io::Result<()> {
        out.write_all(dot(&c.conns, &c.caveats, &c.unmatched).as_bytes())
    }
}

fn json(conns: &[Conn], caveats: &[String], unmatched: &[UnmatchedPeer]) -> String {
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
    if !unmatched.is_empty() {
        doc["unmatchedPeers"] = unmatched.iter().map(UnmatchedPeer::to_json).collect();
    }
    let mut s = kubevigil_model::text::json::to_string(&doc, true).expect("JSON values serialise");
    s.push('\n');
    s
}

/// The line every format prints before the unmatched peers.
pub const PARTIAL: &str = "reachability is partial: these rule peers select nothing in the input";

fn table(conns: &[Conn], caveats: &[String], unmatched: &[UnmatchedPeer]) -> String {
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
    if !unmatched.is_empty() {
        let _ = writeln!(s, "note: {PARTIAL}");
        for u in unmatched {
            let _ = writeln!(s, "note: {}", Escaped(&u.to_string()));
        }
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

fn csv(conns: &[Conn]) -> String {
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

fn markdown(conns: &[Conn], caveats: &[String], unmatched: &[UnmatchedPeer]) -> String {
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
    if !unmatched.is_empty() {
        let _ = writeln!(s, "\n**Note:** {PARTIAL}:\n");
        for u in unmatched {
            let _ = writeln!(s, "- {}", esc(u.to_string()));
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

/// How a range reads in a graph: "any IPv4" for the whole family, else its CIDRs, one a line.
fn range_label(r: &IpRange) -> String {
    if *r == IpRange::whole(r.family) {
        return match r.family {
            Family::V4 => "any IPv4\n0.0.0.0/0".to_string(),
            Family::V6 => "any IPv6\n::/0".to_string(),
        };
    }
    r.cidrs().join("\n")
}

/// A left-to-right graph: one box per workload grouped by namespace, one dashed ellipse per
/// external address range, one edge per connection labelled with its ports (both ways when the
/// reverse connection is the same). Port-restricted edges are bold; "All" edges grey.
fn dot(conns: &[Conn], caveats: &[String], unmatched: &[UnmatchedPeer]) -> String {
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
    if !caveats.is_empty() || !unmatched.is_empty() {
        let mut text: Vec<String> = caveats
            .iter()
            .map(|c| format!("caveat: {}", Escaped(c)))
            .collect();
        if !unmatched.is_empty() {
            text.push(format!("note: {PARTIAL}"));
            text.extend(
                unmatched
                    .iter()
                    .map(|u| format!("note: {}", Escaped(&u.to_string()))),
            );
        }
        let _ = writeln!(s, "  labelloc=t;\n  label={};", dot_id(&text.join("\n")));
    }
    for (i, (ns, members)) in namespaces.iter().enumerate() {
        let _ = writeln!(
            s,
            "  subgraph cluster_{i} {{\n    label={};\n    style=dashed;",
            dot_id(&format!("namespace {}", Escaped(ns)))
        );
        for (id, e) in members {
            if let EndpointRef::Workload {
                namespace: _,
                name,
                kind,
                pods,
                variant,
            } = e
            {
                let mut label = format!("{}\n{}", Escaped(name), Escaped(kind));
                if *pods {
                    label.push_str(" (pods)");
                }
                if let Some(v) = variant {
                    let _ = write!(label, "\n{}", Escaped(v));
                }
                let _ = writeln!(s, "    {} [label={}];", dot_id(id), dot_id(&label));
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

/// `netpol diff`: `+ SRC -> DST : CONN`, `- ...`, `~ SRC -> DST : OLD => NEW`.
impl Emitter<[Change]> for Text {
    fn emit(&self, out: &mut dyn io::Write, changes: &[Change]) -> io::Result<()> {
        out.write_all(diff_text(changes).as_bytes())
    }
}

/// `netpol diff -o json`: `{"added", "removed", "changed"}`.
impl Emitter<[Change]> for Json {
    fn emit(&self, out: &mut dyn io::Write, changes: &[Change]) -> io::Result<()> {
        out.write_all(diff_json(changes).as_bytes())
    }
}

/// `FROM -> TO on PROTO PORT: yes|no`, then one line per side and the caveats.
impl Emitter<Reachability<'_>> for Text {
    fn emit(&self, out: &mut dyn io::Write, r: &Reachability<'_>) -> io::Result<()> {
        let v = &r.verdict;
        let (src, dst, proto, port) = (&r.from, &r.to, r.protocol, r.port);
        let verdict = match (v.allowed, v.caveats.is_empty()) {
            (true, true) => "yes",
            (false, true) => "no",
            (true, false) => "yes, by Kubernetes NetworkPolicies (unverified, see caveats)",
            (false, false) => "no, by Kubernetes NetworkPolicies (unverified, see caveats)",
        };
        // One line each, naming workloads and policies from the input: escaped whole.
        let mut s = format!(
            "{} -> {} on {proto} {port}: {verdict}\n",
            Escaped(src),
            Escaped(dst)
        );
        s += &format!(
            "  {}\n",
            Escaped(&side_text(r.cluster, src, Direction::Egress, &v.egress))
        );
        s += &format!(
            "  {}\n",
            Escaped(&side_text(r.cluster, dst, Direction::Ingress, &v.ingress))
        );
        for c in &v.caveats {
            s += &format!("  caveat: {}\n", Escaped(c));
        }
        out.write_all(s.as_bytes())
    }
}

/// `{from, to, protocol, port, allowed, egress, ingress, caveats}`.
impl Emitter<Reachability<'_>> for Json {
    fn emit(&self, out: &mut dyn io::Write, r: &Reachability<'_>) -> io::Result<()> {
        let v = &r.verdict;
        let doc = json!({
            "from": r.from, "to": r.to, "protocol": r.protocol.as_str(), "port": r.port,
            "allowed": v.allowed,
            "egress": side_json(r.cluster, &v.egress),
            "ingress": side_json(r.cluster, &v.ingress),
            "caveats": v.caveats,
        });
        crate::emit::write_json(out, &doc)
    }
}

fn side_text(
    cluster: &kubevigil_netpol::Cluster,
    who: &str,
    dir: Direction,
    side: &Side,
) -> String {
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

fn side_json(cluster: &kubevigil_netpol::Cluster, side: &Side) -> serde_json::Value {
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
            v["conn"] = conn_json(ports);
            v
        }).collect::<Vec<_>>(),
    })
}

/// `+ SRC -> DST : CONN`, `- SRC -> DST : CONN`, `~ SRC -> DST : OLD => NEW`.
fn diff_text(changes: &[Change]) -> String {
    let mut s = String::new();
    for c in changes {
        let _ = match c.sign() {
            '+' => writeln!(s, "+ {} -> {} : {}", c.src, c.dst, c.new),
            '-' => writeln!(s, "- {} -> {} : {}", c.src, c.dst, c.old),
            _ => writeln!(s, "~ {} -> {} : {} => {}", c.src, c.dst, c.old, c.new),
        };
    }
    if changes.is_empty() {
        s.push_str("no connection changed\n");
    }
    s
}

/// `{"added": [CONNECTION], "removed": [CONNECTION], "changed": [{"src","dst","old","new"}]}`,
/// connections in the connectivity contract's shape.
fn diff_json(changes: &[Change]) -> String {
    let (mut added, mut removed, mut changed) = (Vec::new(), Vec::new(), Vec::new());
    for c in changes {
        let (src, dst) = (c.src.to_json(), c.dst.to_json());
        match c.sign() {
            '+' => added.push(json!({"src": src, "dst": dst, "conn": conn_json(&c.new)})),
            '-' => removed.push(json!({"src": src, "dst": dst, "conn": conn_json(&c.old)})),
            _ => changed.push(
                json!({"src": src, "dst": dst, "old": conn_json(&c.old), "new": conn_json(&c.new)}),
            ),
        }
    }
    let doc: Value = json!({"added": added, "removed": removed, "changed": changed});
    let mut s = kubevigil_model::text::json::to_string(&doc, true).expect("JSON values serialise");
    s.push('\n');
    s
}
