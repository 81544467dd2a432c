//! Cases ported from the upstream NetworkPolicy conformance suite,
//! kubernetes/kubernetes `test/e2e/network/netpol/network_policy.go` (policy construction in
//! `policies.go`, pods in `kubemanager.go`/`model.go`): namespaces x, y, z; pods labelled
//! `pod: <name>` with one container port per port/protocol named `serve-<port>-<proto>`;
//! a truth table that starts all-connected and is edited by `Expect*` calls, in order. Loopback
//! is ignored, as upstream does (`ignoreLoopback`).

use std::fmt::Write as _;

use kubevigil_model::load::load_text_into;
use kubevigil_model::{LoadOptions, Loaded};
use kubevigil_netpol::{Cluster, Endpoint, Engine, Protocol};

struct Case {
    name: &'static str,
    pods: &'static [&'static str],
    /// NetworkPolicies as YAML, each with its namespace.
    policies: &'static str,
    /// `(port, protocol, edits)`; an edit is `FROM -> TO allow|deny`, `*` a wildcard.
    checks: &'static [(u16, Protocol, &'static [&'static str])],
}

fn pods_yaml(pods: &[&str]) -> String {
    let mut s = String::new();
    for ns in ["x", "y", "z"] {
        let _ = writeln!(
            s,
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: \"{ns}\"}}"
        );
    }
    for p in pods {
        let (ns, name) = p.split_once('/').unwrap();
        let mut containers = Vec::new();
        for port in [80, 81] {
            for proto in ["TCP", "UDP", "SCTP"] {
                let l = proto.to_lowercase();
                containers.push(format!(
                    "{{name: cont-{port}-{l}, image: agnhost, ports: [{{name: serve-{port}-{l}, containerPort: {port}, protocol: {proto}}}]}}"
                ));
            }
        }
        let _ = writeln!(
            s,
            "---\napiVersion: v1\nkind: Pod\nmetadata: {{name: {name}, namespace: \"{ns}\", labels: {{pod: {name}}}}}\nspec: {{containers: [{}]}}",
            containers.join(", ")
        );
    }
    s
}

fn matches(pattern: &str, pod: &str) -> bool {
    let (pn, pp) = pattern.split_once('/').unwrap();
    let (n, p) = pod.split_once('/').unwrap();
    (pn == "*" || pn == n) && (pp == "*" || pp == p)
}

fn run(case: &Case) -> Vec<String> {
    let text = format!("{}{}", pods_yaml(case.pods), case.policies);
    let mut loaded = Loaded::default();
    load_text_into("e2e.yaml", &text, &LoadOptions::default(), &mut loaded);
    assert!(
        loaded.diagnostics.is_empty(),
        "{}: {:?}",
        case.name,
        loaded.diagnostics
    );
    let cluster = Cluster::from_inventory(&loaded.inventory);
    assert!(
        cluster.problems.is_empty(),
        "{}: {:?}",
        case.name,
        cluster.problems
    );
    let conns = Engine::new(&cluster).connectivity().connections;
    let idx = |p: &str| cluster.find_workload(p).unwrap();
    let mut errors = Vec::new();
    for (port, proto, edits) in case.checks {
        for from in case.pods {
            for to in case.pods.iter().filter(|t| *t != from) {
                let mut want = true;
                for e in *edits {
                    let (pair, verdict) = e.rsplit_once(' ').unwrap();
                    let (f, t) = pair.split_once(" -> ").unwrap();
                    if matches(f, from) && matches(t, to) {
                        want = verdict == "allow";
                    }
                }
                let (s, d) = (Endpoint::Workload(idx(from)), Endpoint::Workload(idx(to)));
                let got = conns
                    .iter()
                    .any(|c| c.src == s && c.dst == d && c.conn.allows(*proto, *port));
                if got != want {
                    errors.push(format!(
                        "{}: {from} -> {to} {proto} {port}: expected {want}, got {got}",
                        case.name
                    ));
                }
            }
        }
    }
    errors
}

const TCP: Protocol = Protocol::Tcp;
const UDP: Protocol = Protocol::Udp;
const SCTP: Protocol = Protocol::Sctp;

const CASES: &[Case] = &[
    Case {
        name: "should support a 'default-deny-ingress' policy",
        pods: &["x/a", "x/b", "y/a", "y/b"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-ingress, namespace: x}\nspec: {podSelector: {}, ingress: [], policyTypes: [Ingress]}\n",
        checks: &[(80, TCP, &["*/* -> x/* deny"])],
    },
    Case {
        name: "should support a 'default-deny-all' policy",
        pods: &["x/a", "x/b", "y/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all, namespace: x}\nspec: {podSelector: {}, ingress: [], egress: [], policyTypes: [Ingress, Egress]}\n",
        checks: &[(80, TCP, &["*/* -> x/* deny", "x/* -> */* deny"])],
    },
    Case {
        name: "should enforce policy to allow traffic from pods within server namespace based on PodSelector",
        pods: &["x/a", "x/b", "x/c", "y/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: x-a-allows-x-b, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{podSelector: {matchLabels: {pod: b}}}]}]\n  policyTypes: [Ingress]\n",
        checks: &[(80, TCP, &["*/* -> x/a deny", "x/b -> x/a allow"])],
    },
    Case {
        name: "should enforce policy to allow ingress traffic for a target",
        pods: &["x/a", "x/b", "y/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: deny-all, namespace: x}\nspec: {podSelector: {}, ingress: [], policyTypes: [Ingress]}\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all-to-a, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{podSelector: {}, namespaceSelector: {}}]}]\n  policyTypes: [Ingress]\n",
        checks: &[(80, TCP, &["*/* -> x/a allow", "*/* -> x/b deny"])],
    },
    Case {
        name: "should enforce policy to allow ingress traffic from pods in all namespaces",
        pods: &["x/a", "x/b", "y/a", "z/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-from-another-ns, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {}}}]}]\n  policyTypes: [Ingress]\n",
        checks: &[(80, TCP, &[])],
    },
    Case {
        name: "should enforce policy to allow traffic only from a different namespace, based on NamespaceSelector",
        pods: &["x/a", "x/b", "y/a", "z/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-client-a-via-ns-selector, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: \"y\"}}}]}]\n  policyTypes: [Ingress]\n",
        checks: &[(80, TCP, &["x/* -> x/a deny", "z/* -> x/a deny"])],
    },
    Case {
        name: "should enforce policy based on NamespaceSelector with MatchExpressions",
        pods: &["x/a", "x/b", "y/a", "z/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-ns-y-match-selector, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: In, values: [\"y\"]}]}}]}]\n  policyTypes: [Ingress]\n",
        checks: &[(80, TCP, &["x/* -> x/a deny", "z/* -> x/a deny"])],
    },
    Case {
        name: "should enforce policy based on PodSelector or NamespaceSelector",
        pods: &["x/a", "x/b", "x/c", "y/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-ns-y-match-selector, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]}\n    - podSelector: {matchLabels: {pod: b}}\n  policyTypes: [Ingress]\n",
        checks: &[(80, TCP, &["x/a -> x/a deny", "x/c -> x/a deny"])],
    },
    Case {
        name: "should enforce policy based on PodSelector and NamespaceSelector",
        pods: &["x/a", "x/b", "y/a", "y/b", "z/b"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-ns-y-podselector-and-nsselector, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]}\n      podSelector: {matchLabels: {pod: b}}\n  policyTypes: [Ingress]\n",
        checks: &[(
            80,
            TCP,
            &["*/* -> x/a deny", "y/b -> x/a allow", "z/b -> x/a allow"],
        )],
    },
    Case {
        name: "should enforce policy based on Multiple PodSelectors and NamespaceSelectors",
        pods: &["x/a", "x/b", "y/a", "y/b", "y/c"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-ns-y-z-pod-b-c, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from:\n    - namespaceSelector: {matchExpressions: [{key: kubernetes.io/metadata.name, operator: NotIn, values: [x]}]}\n      podSelector: {matchExpressions: [{key: pod, operator: In, values: [b, c]}]}\n  policyTypes: [Ingress]\n",
        checks: &[(80, TCP, &["x/* -> x/a deny", "y/a -> x/a deny"])],
    },
    Case {
        name: "should enforce policy to allow traffic only from a pod in a different namespace based on PodSelector and NamespaceSelector",
        pods: &["x/a", "x/b", "y/a", "y/b", "z/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-ns-y-pod-a-via-namespace-pod-selector, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress:\n  - from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: \"y\"}}, podSelector: {matchLabels: {pod: a}}}]\n  policyTypes: [Ingress]\n",
        checks: &[(80, TCP, &["*/* -> x/a deny", "y/a -> x/a allow"])],
    },
    Case {
        name: "should enforce multiple, stacked policies with overlapping podSelectors",
        pods: &["x/a", "x/b", "y/a", "y/b", "z/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-client-a-via-ns-selector, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: \"y\"}}}], ports: [{port: 81, protocol: TCP}]}]\n  policyTypes: [Ingress]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-client-a-via-ns-selector-80, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: \"y\"}}}], ports: [{port: 80, protocol: TCP}]}]\n  policyTypes: [Ingress]\n",
        checks: &[
            (
                81,
                TCP,
                &["x/* -> x/a deny", "y/* -> x/a allow", "z/* -> x/a deny"],
            ),
            (
                80,
                TCP,
                &["x/* -> x/a deny", "y/* -> x/a allow", "z/* -> x/a deny"],
            ),
        ],
    },
    Case {
        name: "should allow ingress access on one named port",
        pods: &["x/a", "x/b", "y/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: x}\nspec:\n  podSelector: {matchLabels: {}}\n  ingress: [{ports: [{port: serve-81-tcp}]}]\n  policyTypes: [Ingress]\n",
        checks: &[(81, TCP, &[]), (80, TCP, &["*/* -> x/* deny"])],
    },
    Case {
        name: "should allow ingress access from namespace on one named port",
        pods: &["x/a", "x/b", "y/a", "z/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-client-a-via-ns-selector-80, namespace: x}\nspec:\n  podSelector: {matchLabels: {pod: a}}\n  ingress: [{from: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: \"y\"}}}], ports: [{port: serve-80-tcp, protocol: TCP}]}]\n  policyTypes: [Ingress]\n",
        checks: &[
            (80, TCP, &["x/* -> x/a deny", "z/* -> x/a deny"]),
            (81, TCP, &["*/* -> x/a deny"]),
        ],
    },
    Case {
        name: "should allow egress access on one named port",
        pods: &["x/a", "y/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-egress, namespace: x}\nspec:\n  podSelector: {matchLabels: {}}\n  egress: [{ports: [{port: serve-80-tcp}]}]\n  policyTypes: [Egress]\n",
        checks: &[(80, TCP, &[]), (81, TCP, &["x/* -> */* deny"])],
    },
    Case {
        name: "should support allow-all policy",
        pods: &["x/a", "x/b", "y/a"],
        policies: "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {name: allow-all, namespace: x}\nspec:\n  podSelector: {matchLabels: {}}\n  ingress: [{}]\n  policyTypes: [Ingress]\n",
        checks: &[
            (80, TCP, &[]),
            (81, TCP, &[]),
            (80, UDP, &[]),
            (81, SCTP, &[]),
        ],
    },
];

#[test]
fn upstream_conformance_cases() {
    let errors: Vec<String> = CASES.iter().flat_map(run).collect();
    assert!(errors.is_empty(), "{}", errors.join("\n"));
}
