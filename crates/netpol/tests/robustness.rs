//! Bad input never panics: every fixture is mutated (one node at a time replaced by a value of
//! another JSON type) and run through parsing, the engine, naming, diffs, questions and
//! findings. (The renderers, in kubevigil-report, get the same mutated fixtures in
//! `crates/report/tests/netpol_emitters.rs`.)

use std::net::IpAddr;
use std::path::Path;

use kubevigil_model::load::load_text_into;
use kubevigil_model::{Inventory, LoadOptions, Loaded, Object};
use kubevigil_netpol::engine::Target;
use kubevigil_netpol::{Cluster, Engine, Protocol, can_reach, diff, findings, named};

mod common;
use common::{pointers, replacements};

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
    let mut runs = 0;
    for entry in std::fs::read_dir(root).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path().join("input.yaml")).unwrap();
        let mut loaded = Loaded::default();
        load_text_into("input.yaml", &text, &LoadOptions::default(), &mut loaded);
        let base = loaded.inventory;
        for (oi, object) in base.objects.iter().enumerate() {
            let mut ptrs = Vec::new();
            pointers(&object.value, String::new(), &mut ptrs);
            // Keep identity fields so the object stays what it was.
            ptrs.retain(|p| !p.is_empty() && p != "/apiVersion" && p != "/kind");
            let all = replacements();
            for (pi, p) in ptrs.into_iter().enumerate() {
                // Two replacement kinds per node, rotating, keeps the test fast.
                for r in (0..2).map(|k| all[(pi * 2 + k) % all.len()].clone()) {
                    let mut value = object.value.clone();
                    *value.pointer_mut(&p).unwrap() = r;
                    let mut inventory = base.clone();
                    let Some(mutated) =
                        Object::from_value(value, object.spans.clone(), object.source.clone())
                    else {
                        continue;
                    };
                    inventory.objects[oi] = mutated;
                    exercise(&inventory);
                    runs += 1;
                }
            }
        }
    }
    assert!(runs > 2_000, "{runs}");
}
