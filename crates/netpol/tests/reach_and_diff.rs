//! `can_reach` answers and explanations, its agreement with the class-based engine on every
//! fixture, and connection diffs.

use std::net::IpAddr;
use std::path::Path;

use kubevigil_model::load::load_text_into;
use kubevigil_model::{LoadOptions, Loaded};
use kubevigil_netpol::engine::Target;
use kubevigil_netpol::{Cluster, Endpoint, Engine, Protocol, can_reach, diff, named};

/// The cluster borrows its objects: a test's few objects are leaked to live as long as it.
fn cluster(text: &str) -> Cluster<'static> {
    let mut loaded = Loaded::default();
    load_text_into("t.yaml", text, &LoadOptions::default(), &mut loaded);
    assert!(loaded.diagnostics.is_empty(), "{:?}", loaded.diagnostics);
    Cluster::from_inventory(Box::leak(Box::new(loaded.inventory)))
}

fn fixture(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/fixtures")
            .join(name)
            .join("input.yaml"),
    )
    .unwrap()
}

fn w(c: &Cluster, spec: &str) -> Target {
    Target::Workload(c.find_workload(spec).unwrap())
}

fn ip(s: &str) -> Target {
    Target::Ip(s.parse::<IpAddr>().unwrap())
}

#[test]
fn docs_example_answers_and_explanations() {
    let c = cluster(&fixture("17-docs-allow-from-namespace-and-pod"));
    let policy = |v: &kubevigil_netpol::Verdict| -> Vec<String> {
        v.ingress
            .allowing
            .iter()
            .map(|&(p, r)| format!("{}[{r}]", c.policies[p].name))
            .collect()
    };
    let v = can_reach(
        &c,
        w(&c, "myproject/agent"),
        w(&c, "default/db"),
        Protocol::Tcp,
        6379,
    );
    assert!(v.allowed);
    assert!(v.egress.isolating.is_empty());
    assert_eq!(policy(&v), ["test-network-policy[0]"]);
    let v = can_reach(
        &c,
        w(&c, "myproject/agent"),
        w(&c, "default/db"),
        Protocol::Tcp,
        6380,
    );
    assert!(!v.allowed && v.ingress.allowing.is_empty() && v.ingress.isolating.len() == 1);
    assert!(
        !can_reach(
            &c,
            w(&c, "myproject/agent"),
            w(&c, "default/db"),
            Protocol::Udp,
            6379
        )
        .allowed
    );
    assert!(
        !can_reach(
            &c,
            w(&c, "other/frontend"),
            w(&c, "default/db"),
            Protocol::Tcp,
            6379
        )
        .allowed
    );
    assert!(
        can_reach(
            &c,
            ip("172.17.0.9"),
            w(&c, "default/db"),
            Protocol::Tcp,
            6379
        )
        .allowed
    );
    assert!(
        !can_reach(
            &c,
            ip("172.17.1.9"),
            w(&c, "default/db"),
            Protocol::Tcp,
            6379
        )
        .allowed
    );
    let v = can_reach(
        &c,
        w(&c, "default/db"),
        ip("10.0.0.200"),
        Protocol::Tcp,
        5978,
    );
    assert!(v.allowed && v.egress.allowing == [(0, 0)] && !v.ingress.in_cluster);
    assert!(!can_reach(&c, w(&c, "default/db"), ip("10.0.1.1"), Protocol::Tcp, 5978).allowed);
    assert!(
        !can_reach(
            &c,
            w(&c, "default/db"),
            w(&c, "default/frontend"),
            Protocol::Tcp,
            80
        )
        .allowed
    );
    assert!(v.caveats.is_empty());
}

#[test]
fn foreign_policies_are_caveats_on_answers() {
    let c = cluster(&fixture("16-calico-cilium-caveats"));
    let v = can_reach(&c, w(&c, "ns/a"), w(&c, "ns/b"), Protocol::Tcp, 80);
    assert!(!v.allowed);
    assert_eq!(v.caveats.len(), 4, "{:?}", v.caveats);
}

/// The class-based engine and the direct per-query evaluation are independent code paths:
/// they must agree on every pair of every fixture, on ports around every interesting value.
#[test]
fn engine_agrees_with_can_reach_on_every_fixture() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let ports: [u16; 22] = [
        1, 2, 53, 79, 80, 81, 443, 3868, 5000, 5010, 5011, 5432, 5978, 6379, 8080, 9090, 9187,
        31999, 32000, 32768, 32769, 65535,
    ];
    let ips = [
        "0.0.0.0",
        "10.0.0.1",
        "10.0.1.1",
        "172.17.0.1",
        "172.17.1.1",
        "172.17.2.1",
        "192.168.1.1",
        "::1",
        "2001:db8::1",
        "2001:db8:1::1",
        "2001:db8:2::1",
    ];
    let mut checked = 0;
    for entry in std::fs::read_dir(root).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path().join("input.yaml")).unwrap();
        let mut loaded = Loaded::default();
        load_text_into("t.yaml", &text, &LoadOptions::default(), &mut loaded);
        let c = Cluster::from_inventory(&loaded.inventory);
        let result = Engine::new(&c).connectivity();
        let (conns, ranges) = (result.connections, result.ranges);
        let lookup = |src: &Endpoint, dst: &Endpoint, p: Protocol, port: u16| {
            conns
                .iter()
                .any(|x| &x.src == src && &x.dst == dst && x.conn.allows(p, port))
        };
        let ip_lookup = |wl: usize, outbound: bool, addr: IpAddr, p: Protocol, port: u16| {
            conns.iter().any(|x| {
                let (me, other) = if outbound {
                    (&x.src, &x.dst)
                } else {
                    (&x.dst, &x.src)
                };
                *me == Endpoint::Workload(wl)
                    && matches!(other, Endpoint::Ip(r) if ranges[*r].contains_addr(addr))
                    && x.conn.allows(p, port)
            })
        };
        for a in 0..c.workloads.len() {
            for proto in Protocol::ALL {
                for &port in &ports {
                    for b in (0..c.workloads.len()).filter(|&b| b != a) {
                        let want =
                            can_reach(&c, Target::Workload(a), Target::Workload(b), proto, port)
                                .allowed;
                        let got =
                            lookup(&Endpoint::Workload(a), &Endpoint::Workload(b), proto, port);
                        assert_eq!(
                            got, want,
                            "{} -> {} {proto} {port}",
                            c.workloads[a], c.workloads[b]
                        );
                        checked += 1;
                    }
                    for s in ips {
                        let addr: IpAddr = s.parse().unwrap();
                        let want =
                            can_reach(&c, Target::Workload(a), Target::Ip(addr), proto, port)
                                .allowed;
                        assert_eq!(
                            ip_lookup(a, true, addr, proto, port),
                            want,
                            "{} -> {s} {proto} {port}",
                            c.workloads[a]
                        );
                        let want =
                            can_reach(&c, Target::Ip(addr), Target::Workload(a), proto, port)
                                .allowed;
                        assert_eq!(
                            ip_lookup(a, false, addr, proto, port),
                            want,
                            "{s} -> {} {proto} {port}",
                            c.workloads[a]
                        );
                        checked += 2;
                    }
                }
            }
        }
    }
    assert!(checked > 10_000, "{checked}");
}

#[test]
fn diff_lists_added_removed_and_changed() {
    let pods = "apiVersion: v1\nkind: Pod\nmetadata: {name: web, namespace: ns, labels: {app: web}}\nspec: {containers: [{name: c, image: x}]}\n---\napiVersion: v1\nkind: Pod\nmetadata: {name: db, namespace: ns, labels: {app: db}}\nspec: {containers: [{name: c, image: x}]}\n";
    let old_policy = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: ns}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{ipBlock: {cidr: 10.0.0.0/8}}]\n";
    let new_policy = "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: db, namespace: ns}\nspec:\n  podSelector: {matchLabels: {app: db}}\n  ingress:\n  - from: [{podSelector: {matchLabels: {app: web}}}, {ipBlock: {cidr: 10.0.0.0/8, except: [10.1.0.0/16]}}]\n    ports: [{port: 5432}]\n";
    let old = cluster(&format!("{pods}{old_policy}"));
    let new = cluster(&format!("{pods}{new_policy}"));
    let conns = |c: &Cluster| {
        let r = Engine::new(c).connectivity();
        named::resolve(c, &r.ranges, &r.connections)
    };
    let changes = diff::diff(&conns(&old), &conns(&new));
    // The changes as `netpol diff` prints them (its renderers, in kubevigil-report, are tested
    // on the same clusters in `crates/report/tests/netpol_emitters.rs`).
    let lines = |changes: &[diff::Change]| -> Vec<String> {
        changes
            .iter()
            .map(|c| match c.sign() {
                '+' => format!("+ {} -> {} : {}", c.src, c.dst, c.new),
                '-' => format!("- {} -> {} : {}", c.src, c.dst, c.old),
                _ => format!("~ {} -> {} : {} => {}", c.src, c.dst, c.old, c.new),
            })
            .collect()
    };
    assert_eq!(
        lines(&changes),
        [
            "+ ns/web -> ns/db : TCP 5432",
            "~ 10.0.0.0/16 -> ns/db : All => TCP 5432",
            "- 10.1.0.0/16 -> ns/db : All",
            "~ 10.2.0.0/15, 10.4.0.0/14, 10.8.0.0/13, 10.16.0.0/12, 10.32.0.0/11, 10.64.0.0/10, 10.128.0.0/9 -> ns/db : All => TCP 5432",
        ]
    );
    assert!(diff::diff(&conns(&new), &conns(&new)).is_empty());
}
