//! Engine timings for bench/rbac.sh: loads a directory once, then times (in process, without
//! the loading) building the RBAC graph, `who-can` queries, every RBAC check of `scan` together
//! and each alone (through `run_scan`, so each alone includes the per-object pass).
//! Usage: rbac_bench DIR

use std::time::Instant;

// The binary's allocator (crates/kubevigil/src/main.rs), so that the figures are the CLI's.
#[global_allocator]
static GLOBAL: mimalloc::MiMalloc = mimalloc::MiMalloc;

use kubevigil_checks::{Config, registry, run_scan};
use kubevigil_model::{LoadOptions, load_paths};
use kubevigil_rbac::{Rbac, Request};

fn main() {
    let dir = std::env::args().nth(1).expect("usage: rbac_bench DIR");
    let t = Instant::now();
    let loaded = load_paths(&[dir], &LoadOptions::default());
    let load = t.elapsed();
    let inv = &loaded.inventory;
    let t = Instant::now();
    let rbac = Rbac::from_objects(inv);
    let build = t.elapsed();
    let queries = [
        Request::parse("get", "secrets", "ns-7", None).unwrap(),
        Request::parse("create", "pods", "", None).unwrap(),
        Request::parse("update", "deployments.apps/scale", "ns-42", Some("web")).unwrap(),
        Request::parse("get", "/metrics", "", None).unwrap(),
    ];
    let mut who = Vec::new();
    for q in &queries {
        let t = Instant::now();
        let h = rbac.who_can(q, false);
        who.push((t.elapsed(), h.len()));
    }
    let t = Instant::now();
    let any = rbac.who_can(&queries[0], true).len();
    let any_time = t.elapsed();
    let checks: Vec<_> = registry()
        .iter()
        .copied()
        .filter(|c| c.meta().id.starts_with("rbac-"))
        .collect();
    let t = Instant::now();
    let outcome = run_scan(inv, &Config::default(), &checks, Vec::new(), None);
    let findings = t.elapsed();
    for c in &checks {
        let t = Instant::now();
        run_scan(inv, &Config::default(), &[*c], Vec::new(), None);
        println!(
            "  {}: {:.0} ms",
            c.meta().id,
            t.elapsed().as_secs_f64() * 1e3
        );
    }
    let t = Instant::now();
    let again = Rbac::from_objects(inv).bindings.len();
    println!(
        "graph again (warm): {:.1} ms ({again} bindings)",
        t.elapsed().as_secs_f64() * 1e3
    );
    println!(
        "objects {} roles {} bindings {}; load {:.0} ms; graph {:.1} ms",
        inv.objects.len(),
        rbac.roles.len(),
        rbac.bindings.len(),
        load.as_secs_f64() * 1e3,
        build.as_secs_f64() * 1e3
    );
    for ((d, n), q) in who.iter().zip(&queries) {
        println!(
            "who-can {:?} {:?} ns={:?}: {:.2} ms, {n} subjects",
            q.verb,
            q.target,
            q.namespace,
            d.as_secs_f64() * 1e3
        );
    }
    println!(
        "who-can get secrets -A: {:.2} ms, {any} subjects",
        any_time.as_secs_f64() * 1e3
    );
    println!(
        "all {} RBAC checks: {:.0} ms, {} findings",
        checks.len(),
        findings.as_secs_f64() * 1e3,
        outcome.findings.len()
    );
}
