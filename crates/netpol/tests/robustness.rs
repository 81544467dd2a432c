//! Bad input never panics: every fixture is mutated (one node at a time replaced by a value of
//! another JSON type) and run through parsing, the engine, naming, diffs, questions and
//! findings. (The renderers, in kubevigil-report, get the same mutated fixtures in
//! `crates/report/tests/netpol_emitters.rs`.)

use std::net::IpAddr;
use std::path::Path;

use kubevigil_model::Inventory;
use kubevigil_netpol::engine::Target;
use kubevigil_netpol::{Cluster, Engine, Protocol, can_reach, diff, findings, named};

mod common;

fn exercise(inventory: &Inventory) {
    let cluster = Cluster::from_inventory(inventory);
    let result = Engine::new(&cluster).connectivity();
    let conns = named::resolve(&cluster, &result.ranges, &result.connections);
    let _ = diff::diff(&conns, &[]);
    let _ = findings::findings(inventory);
    let ip: IpAddr = "10.1.2.3".parse().unwrap();
    for w in 0..cluster.workloads.len().min(3) {
        let _ = can_reach(
            &cluster,
            Target::Workload(w),
            Target::Ip(ip),
            Protocol::Tcp,
            80,
        );
        let _ = can_reach(
            &cluster,
            Target::Ip(ip),
            Target::Workload(w),
            Protocol::Udp,
            53,
        );
    }
}

#[test]
fn mutated_fixtures_never_panic() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let runs = common::for_each_mutated_fixture(&root, exercise);
    assert!(runs > 2_000, "{runs}");
}
