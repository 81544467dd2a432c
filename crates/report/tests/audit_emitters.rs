//! `audit policy simulate`'s result in each format, once: the guide's policy on the example
//! audit log.

use std::path::Path;

use kubevigil_audit::checker::Checker;
use kubevigil_audit::policy::load_policy;
use kubevigil_audit::simulate::Simulation;
use kubevigil_report::audit::Simulated;
use kubevigil_report::{Emitter, Json, Table};

#[test]
fn simulated_table_and_json() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/audit");
    let text = std::fs::read_to_string(root.join("guide-policy.yaml")).unwrap();
    let loaded = load_policy("guide-policy.yaml", &text).unwrap();
    let checker = Checker::new(loaded.policy);
    let mut sim = Simulation::new(&checker);
    let read = kubevigil_audit::input::read_all(
        &[root.join("sample.log")],
        |_, raw, ev| -> Result<(), ()> {
            sim.add(ev, raw.text.len() as u64 + 1);
            Ok(())
        },
        |_| {},
    )
    .unwrap();
    // The example log is clean (examples/audit/malformed.log holds the bad line).
    assert_eq!(read.rejected, 0);
    let report = sim.report(5);
    let result = Simulated {
        report: &report,
        policy: "guide-policy.yaml".into(),
        inputs: vec!["sample.log".into()],
        read,
    };
    let mut out = Vec::new();
    Table.emit(&mut out, &result).unwrap();
    out.extend_from_slice(b"---\n");
    Json.emit(&mut out, &result).unwrap();
    insta::assert_snapshot!(String::from_utf8(out).unwrap());
}
