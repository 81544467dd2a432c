//! Differential test: on many generated clusters (deterministic pseudo-random namespaces,
//! workloads, policies with every peer/port form), the class-based [`Engine`] must agree with
//! the direct per-question evaluation of [`can_reach`] on every pair, port and probe address.

use std::fmt::Write as _;
use std::net::IpAddr;

use kubevigil_model::load::load_text_into;
use kubevigil_model::{LoadOptions, Loaded};
use kubevigil_netpol::engine::Target;
use kubevigil_netpol::{Cluster, Endpoint, Engine, Protocol, can_reach};

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self
            .0
            .wrapping_mul(6364136223846793005)
            .wrapping_add(1442695040888963407);
        self.0 >> 33
    }
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[(self.next() % xs.len() as u64) as usize]
    }
    fn chance(&mut self, percent: u64) -> bool {
        self.next() % 100 < percent
    }
}

const NAMESPACES: [&str; 3] = ["a", "b", "c"];
const VALUES: [&str; 3] = ["red", "green", "blue"];
const KEYS: [&str; 2] = ["app", "tier"];
const CIDRS: [&str; 6] = [
    "10.0.0.0/8",
    "10.1.0.0/16",
    "0.0.0.0/0",
    "192.168.0.0/24",
    "2001:db8::/32",
    "::/0",
];
const EXCEPTS: [&str; 4] = [
    "10.1.2.0/24",
    "10.1.0.0/16",
    "192.168.0.128/25",
    "2001:db8:1::/48",
];
const PORT_NAMES: [&str; 3] = ["http", "dns", "metrics"];
const PROTOS: [&str; 3] = ["TCP", "UDP", "SCTP"];

fn selector(r: &mut Rng) -> String {
    let mut parts = Vec::new();
    if r.chance(50) {
        parts.push(format!(
            "matchLabels: {{{}: {}}}",
            r.pick(&KEYS),
            r.pick(&VALUES)
        ));
    }
    if r.chance(40) {
        let op = r.pick(&["In", "NotIn", "Exists", "DoesNotExist"]);
        let values = if op.ends_with("In") {
            format!(", values: [{}, {}]", r.pick(&VALUES), r.pick(&VALUES))
        } else {
            String::new()
        };
        parts.push(format!(
            "matchExpressions: [{{key: {}, operator: {op}{values}}}]",
            r.pick(&KEYS)
        ));
    }
    format!("{{{}}}", parts.join(", "))
}

fn peer(r: &mut Rng) -> String {
    match r.next() % 4 {
        0 => format!("{{podSelector: {}}}", selector(r)),
        1 => format!("{{namespaceSelector: {}}}", selector(r)),
        2 => format!(
            "{{namespaceSelector: {}, podSelector: {}}}",
            selector(r),
            selector(r)
        ),
        _ => {
            let cidr = r.pick(&CIDRS);
            let except: Vec<&str> = EXCEPTS
                .iter()
                .copied()
                .filter(|e| {
                    let (c, e) = (cidr_range(cidr), cidr_range(e));
                    c.0 == e.0 && c.1 < e.1 && e.2 >= c.2 && e.3 <= c.3
                })
                .filter(|_| r.chance(60))
                .collect();
            format!(
                "{{ipBlock: {{cidr: \"{cidr}\", except: [{}]}}}}",
                except
                    .iter()
                    .map(|e| format!("\"{e}\""))
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        }
    }
}

/// (is_v6, prefix, first, last) for the test's own subset check.
fn cidr_range(s: &str) -> (bool, u32, u128, u128) {
    let (a, p) = s.split_once('/').unwrap();
    let p: u32 = p.parse().unwrap();
    match a.parse::<IpAddr>().unwrap() {
        IpAddr::V4(v) => {
            let x = u32::from(v) as u128;
            let host = if p == 32 { 0 } else { (u32::MAX >> p) as u128 };
            (false, p, x, x | host)
        }
        IpAddr::V6(v) => {
            let x = u128::from(v);
            let host = if p == 128 { 0 } else { u128::MAX >> p };
            (true, p, x, x | host)
        }
    }
}

fn port(r: &mut Rng) -> String {
    let proto = if r.chance(60) {
        String::new()
    } else {
        format!("protocol: {}, ", r.pick(&PROTOS))
    };
    match r.next() % 4 {
        0 => format!("{{{proto}port: {}}}", r.pick(&["80", "53", "8080", "9090"])),
        1 => format!(
            "{{{proto}port: 8000, endPort: {}}}",
            r.pick(&["8000", "8080", "9000"])
        ),
        2 => format!("{{{proto}port: {}}}", r.pick(&PORT_NAMES)),
        _ => format!("{{{}}}", proto.trim_end_matches(", ")),
    }
}

fn rules(r: &mut Rng, key: &str) -> String {
    let mut s = String::new();
    for _ in 0..r.next() % 3 {
        let peers: Vec<String> = (0..r.next() % 3).map(|_| peer(r)).collect();
        let ports: Vec<String> = (0..r.next() % 3).map(|_| port(r)).collect();
        let _ = write!(
            s,
            "\n  - {{{key}: [{}], ports: [{}]}}",
            peers.join(", "),
            ports.join(", ")
        );
    }
    s
}

fn cluster_text(seed: u64) -> String {
    let mut r = Rng(seed);
    let mut s = String::new();
    for ns in NAMESPACES {
        let _ = writeln!(
            s,
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{{}: {}}}}}",
            r.pick(&KEYS),
            r.pick(&VALUES)
        );
    }
    for i in 0..6 {
        let mut ports = Vec::new();
        for n in PORT_NAMES {
            if r.chance(50) {
                let number = 8000 + r.next() % 200;
                ports.push(format!(
                    "{{name: {n}, containerPort: {number}, protocol: {}}}",
                    r.pick(&PROTOS)
                ));
            }
        }
        let _ = writeln!(
            s,
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: w{i}, namespace: {}, labels: {{{}: {}, {}: {}}}}}\nspec: {{containers: [{{name: c, image: i, ports: [{}]}}]}}",
            r.pick(&NAMESPACES),
            r.pick(&KEYS),
            r.pick(&VALUES),
            r.pick(&KEYS),
            r.pick(&VALUES),
            ports.join(", ")
        );
    }
    for i in 0..(2 + r.next() % 4) {
        let types = r.pick(&[
            "",
            "policyTypes: [Ingress]",
            "policyTypes: [Egress]",
            "policyTypes: [Ingress, Egress]",
        ]);
        let _ = writeln!(
            s,
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: p{i}, namespace: {}}}\nspec:\n  podSelector: {}\n  {types}\n  ingress:{}\n  egress:{}",
            r.pick(&NAMESPACES),
            selector(&mut r),
            rules(&mut r, "from"),
            rules(&mut r, "to"),
        );
    }
    s
}

#[test]
fn engine_agrees_with_can_reach_on_generated_clusters() {
    let ports = [
        1u16, 53, 80, 7999, 8000, 8001, 8080, 8081, 8100, 8199, 9000, 9090, 65535,
    ];
    let probes: Vec<IpAddr> = [
        "1.1.1.1",
        "10.0.0.1",
        "10.1.1.1",
        "10.1.2.3",
        "192.168.0.1",
        "192.168.0.200",
        "::1",
        "2001:db8::1",
        "2001:db8:1::1",
    ]
    .iter()
    .map(|s| s.parse().unwrap())
    .collect();
    let (mut compared, mut allowed, mut denied_by_policy) = (0, 0, 0);
    for seed in 0..300 {
        let text = cluster_text(seed);
        let mut loaded = Loaded::default();
        load_text_into("gen.yaml", &text, &LoadOptions::default(), &mut loaded);
        assert!(
            loaded.diagnostics.is_empty(),
            "seed {seed}: {:?}\n{text}",
            loaded.diagnostics
        );
        let c = Cluster::from_inventory(&loaded.inventory);
        assert!(
            c.problems.is_empty(),
            "seed {seed}: {:?}\n{text}",
            c.problems
        );
        let result = Engine::new(&c).connectivity();
        let (conns, ranges) = (result.connections, result.ranges);
        let n = c.workloads.len();
        for a in 0..n {
            for proto in Protocol::ALL {
                for &port in &ports {
                    for b in (0..n).filter(|&b| b != a) {
                        let v =
                            can_reach(&c, Target::Workload(a), Target::Workload(b), proto, port);
                        let want = v.allowed;
                        allowed += usize::from(want);
                        denied_by_policy += usize::from(
                            !want
                                && (!v.egress.isolating.is_empty()
                                    || !v.ingress.isolating.is_empty()),
                        );
                        let got = conns.iter().any(|x| {
                            x.src == Endpoint::Workload(a)
                                && x.dst == Endpoint::Workload(b)
                                && x.conn.allows(proto, port)
                        });
                        assert_eq!(
                            got, want,
                            "seed {seed}: {} -> {} {proto} {port}\n{text}",
                            c.workloads[a], c.workloads[b]
                        );
                        compared += 1;
                    }
                    for &ip in &probes {
                        for outbound in [true, false] {
                            let (from, to) = if outbound {
                                (Target::Workload(a), Target::Ip(ip))
                            } else {
                                (Target::Ip(ip), Target::Workload(a))
                            };
                            let want = can_reach(&c, from, to, proto, port).allowed;
                            let got = conns.iter().any(|x| {
                                let (me, other) = if outbound {
                                    (&x.src, &x.dst)
                                } else {
                                    (&x.dst, &x.src)
                                };
                                *me == Endpoint::Workload(a)
                                    && matches!(other, Endpoint::Ip(r) if ranges[*r].contains_addr(ip))
                                    && x.conn.allows(proto, port)
                            });
                            assert_eq!(
                                got,
                                want,
                                "seed {seed}: {} {} {ip} {proto} {port}\n{text}",
                                c.workloads[a],
                                if outbound { "->" } else { "<-" }
                            );
                            compared += 1;
                        }
                    }
                }
            }
        }
    }
    // Not vacuous: both answers occur often, and denials come from real isolation.
    assert!(
        compared > 100_000 && allowed > compared / 20 && denied_by_policy > compared / 20,
        "{compared} {allowed} {denied_by_policy}"
    );
}
