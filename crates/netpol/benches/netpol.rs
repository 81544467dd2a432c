//! Connectivity benchmark: 5,000 workloads in 500 namespaces with 2,000 NetworkPolicies.
//! Target (issue 7): full connectivity in under one second on one core.
//!
//! Run: `bench/netpol.sh` (or `cargo bench -p kubevigil-netpol --bench netpol`).
//! Arguments: `[NAMESPACES [WORKLOADS_PER_NAMESPACE [ROUNDS]]] [--dns-anywhere]`.

use std::fmt::Write as _;
use std::time::{Duration, Instant};

use kubevigil_model::load::load_text_into;
use kubevigil_model::{LoadOptions, Loaded};
use kubevigil_netpol::{Cluster, Engine};

/// A realistic estate: every tenth namespace has no policy at all; the others have a default
/// deny, DNS egress, a front end open to the ingress namespace and to the Internet (minus
/// private ranges) on a named port, api from web, db from api, and metrics scraped from the
/// monitoring team's namespaces on a named port.
///
/// With `dns_anywhere` the DNS rule has no `to` (port 53 to every pod and address), as many
/// real policies do: a stress case with ten times more connections to materialise.
fn manifests(namespaces: usize, per_ns: usize, dns_anywhere: bool) -> (String, usize) {
    let dns_to = if dns_anywhere {
        String::new()
    } else {
        "\n  - to: [{namespaceSelector: {matchLabels: {kubernetes.io/metadata.name: kube-system}}, podSelector: {matchLabels: {k8s-app: kube-dns}}}]\n    ports:".to_string()
    };
    let dns_rule = if dns_anywhere { "\n  - ports:" } else { "" };
    let tiers = ["web", "api", "db"];
    let mut s = String::from(
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: coredns, namespace: kube-system}\nspec:\n  template:\n    metadata: {labels: {k8s-app: kube-dns}}\n    spec: {containers: [{name: coredns, image: coredns, ports: [{name: dns, containerPort: 53, protocol: UDP}]}]}\n",
    );
    let mut policies = 0;
    for n in 0..namespaces {
        let ns = format!("ns-{n:03}");
        let team = format!("team-{}", n % 20);
        let _ = writeln!(
            s,
            "---\napiVersion: v1\nkind: Namespace\nmetadata: {{name: {ns}, labels: {{team: {team}, env: {}}}}}",
            if n % 3 == 0 { "prod" } else { "dev" }
        );
        for w in 0..per_ns {
            let tier = tiers[w % 3];
            let _ = writeln!(
                s,
                "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: svc-{w}, namespace: {ns}}}\nspec:\n  template:\n    metadata: {{labels: {{app: svc-{w}, tier: {tier}, version: v{}}}}}\n    spec:\n      containers:\n      - name: app\n        image: registry.example/svc:{w}\n        ports: [{{name: http, containerPort: {}}}, {{name: metrics, containerPort: 9090}}]",
                w % 2,
                8000 + w
            );
        }
        if n % 10 == 9 {
            continue;
        }
        let _ = writeln!(
            s,
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: default-deny, namespace: {ns}}}\nspec:\n  podSelector: {{}}\n  policyTypes: [Ingress, Egress]\n  egress:{dns_to}{dns_rule} [{{port: 53, protocol: UDP}}, {{port: 53, protocol: TCP}}]"
        );
        let _ = writeln!(
            s,
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: web, namespace: {ns}}}\nspec:\n  podSelector: {{matchLabels: {{tier: web}}}}\n  ingress:\n  - from:\n    - namespaceSelector: {{matchLabels: {{kubernetes.io/metadata.name: ns-000}}}}\n    - ipBlock: {{cidr: 0.0.0.0/0, except: [10.0.0.0/8, 172.16.0.0/12, 192.168.0.0/16]}}\n    ports: [{{port: http}}]\n  egress:\n  - to: [{{podSelector: {{matchLabels: {{tier: api}}}}}}]\n    ports: [{{port: http}}]\n  policyTypes: [Ingress, Egress]"
        );
        let _ = writeln!(
            s,
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: api-db, namespace: {ns}}}\nspec:\n  podSelector: {{matchExpressions: [{{key: tier, operator: In, values: [api, db]}}]}}\n  ingress:\n  - from: [{{podSelector: {{matchLabels: {{tier: web}}}}}}, {{podSelector: {{matchLabels: {{tier: api}}}}}}]\n    ports: [{{port: 8000, endPort: 8099}}]\n  egress:\n  - to: [{{podSelector: {{matchLabels: {{tier: db}}}}}}]\n    ports: [{{port: 5432}}, {{port: http}}]\n  - to: [{{ipBlock: {{cidr: 10.{}.0.0/16}}}}]\n    ports: [{{port: 443}}]",
            n % 256
        );
        let _ = writeln!(
            s,
            "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: metrics, namespace: {ns}}}\nspec:\n  podSelector: {{matchExpressions: [{{key: version, operator: Exists}}]}}\n  ingress:\n  - from:\n    - namespaceSelector: {{matchLabels: {{team: team-0}}}}\n      podSelector: {{matchLabels: {{app: svc-0}}}}\n    ports: [{{port: metrics}}]"
        );
        policies += 4;
        // Round the estate up to exactly 4 policies per namespace across the 10% open ones.
        if n % 10 == 0 && policies + 4 <= namespaces * 4 {
            let _ = writeln!(
                s,
                "---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: legacy, namespace: {ns}}}\nspec:\n  podSelector: {{matchLabels: {{app: svc-1}}}}\n  ingress:\n  - from: [{{namespaceSelector: {{matchLabels: {{env: prod}}}}}}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: batch, namespace: {ns}}}\nspec:\n  podSelector: {{matchLabels: {{app: svc-2}}}}\n  egress:\n  - to: [{{namespaceSelector: {{}}, podSelector: {{matchLabels: {{tier: db}}}}}}]\n  policyTypes: [Egress]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: audit, namespace: {ns}}}\nspec:\n  podSelector: {{matchLabels: {{app: svc-3}}}}\n  ingress:\n  - from: [{{ipBlock: {{cidr: 192.168.{}.0/24}}}}]\n---\napiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata: {{name: ops, namespace: {ns}}}\nspec:\n  podSelector: {{matchLabels: {{app: svc-4}}}}\n  ingress:\n  - from: [{{namespaceSelector: {{matchExpressions: [{{key: team, operator: NotIn, values: [team-1, team-2]}}]}}}}]\n    ports: [{{port: 22}}]",
                n % 256
            );
            policies += 4;
        }
    }
    (s, policies)
}

fn best(rounds: usize, mut f: impl FnMut() -> usize) -> (Duration, usize) {
    let mut best = Duration::MAX;
    let mut out = 0;
    for _ in 0..rounds {
        let t = Instant::now();
        out = std::hint::black_box(f());
        best = best.min(t.elapsed());
    }
    (best, out)
}

fn main() {
    let dns_anywhere = std::env::args().any(|a| a == "--dns-anywhere");
    let args: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    let namespaces = args.first().copied().unwrap_or(500);
    let per_ns = args.get(1).copied().unwrap_or(10);
    let rounds = args.get(2).copied().unwrap_or(5);
    let (text, _) = manifests(namespaces, per_ns, dns_anywhere);
    let t = Instant::now();
    let mut loaded = Loaded::default();
    load_text_into("bench.yaml", &text, &LoadOptions::default(), &mut loaded);
    let load = t.elapsed();
    assert!(
        loaded.diagnostics.is_empty(),
        "{:?}",
        &loaded.diagnostics[..1]
    );
    let cluster = Cluster::from_inventory(&loaded.inventory);
    assert!(
        cluster.problems.is_empty(),
        "{:?}",
        cluster.problems.first()
    );
    println!(
        "input: {} namespaces, {} workloads, {} NetworkPolicies ({} MB of YAML, loaded in {:.0} ms)",
        cluster.namespaces.len(),
        cluster.workloads.len(),
        cluster.policies.len(),
        text.len() / 1_000_000,
        load.as_secs_f64() * 1e3
    );
    let (t_cluster, _) = best(rounds, || {
        Cluster::from_inventory(&loaded.inventory).workloads.len()
    });
    let (t_engine, classes) = best(rounds, || Engine::new(&cluster).class_count());
    let (t_count, count) = best(rounds, || Engine::new(&cluster).count_connections());
    let (t_full, listed) = best(rounds, || {
        Engine::new(&cluster).connectivity().connections.len()
    });
    println!("equivalence classes: {classes}");
    println!(
        "allowed workload-to-workload connections: {count}; connections listed (incl. IP ranges): {listed}"
    );
    println!(
        "cluster build (policy parse + validation): {:.1} ms",
        t_cluster.as_secs_f64() * 1e3
    );
    println!(
        "engine build (selectors, classes): {:.1} ms",
        t_engine.as_secs_f64() * 1e3
    );
    println!(
        "engine + connectivity count: {:.1} ms",
        t_count.as_secs_f64() * 1e3
    );
    println!(
        "FULL CONNECTIVITY (engine + every connection materialised and sorted): {:.1} ms (best of {rounds}, one thread)",
        t_full.as_secs_f64() * 1e3
    );
}
