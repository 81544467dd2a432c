//! Shared by the netpol integration tests: CI detection and the fixture-update switch.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

use std::path::Path;

use kubevigil_model::load::{LoadOptions, Loaded, load_text_into};
use kubevigil_model::{Inventory, Object};
use serde_json::{Value, json};

/// Whether the tests run in CI (`CI` set to anything but empty, `0` or `false`, as CI services
/// set `CI=true`): there a missing tool fails a test instead of skipping it.
pub fn in_ci() -> bool {
    std::env::var("CI").is_ok_and(|v| !matches!(v.as_str(), "" | "0" | "false"))
}

/// `UPDATE_FIXTURES` rewrites expected files; refused in CI, where it would make the tests pass
/// whatever the output.
pub fn update_fixtures() -> bool {
    let update = std::env::var_os("UPDATE_FIXTURES").is_some();
    assert!(
        !(update && in_ci()),
        "UPDATE_FIXTURES is refused when CI is set: expected files are never rewritten in CI"
    );
    update
}

/// Values that replace one node of a manifest at a time in the robustness tests (the engine's
/// here, the renderers' in kubevigil-report): wrong types, out-of-range numbers, empty forms.
pub fn replacements() -> Vec<Value> {
    vec![
        Value::Null,
        json!(0),
        json!(-1),
        json!(70000),
        json!(1e30),
        json!(""),
        json!("::/0"),
        json!("http"),
        json!([]),
        json!([{}]),
        json!({}),
        json!(true),
    ]
}

/// Every node of `v`, as JSON pointers.
pub fn pointers(v: &Value, at: String, out: &mut Vec<String>) {
    out.push(at.clone());
    match v {
        Value::Object(m) => m.iter().for_each(|(k, c)| {
            pointers(
                c,
                format!("{at}/{}", k.replace('~', "~0").replace('/', "~1")),
                out,
            )
        }),
        Value::Array(a) => a
            .iter()
            .enumerate()
            .for_each(|(i, c)| pointers(c, format!("{at}/{i}"), out)),
        _ => {}
    }
}

/// Calls `f` on every fixture under `root` (`*/input.yaml`) with one node of one object replaced
/// by a value of another JSON type, two replacement kinds per node (rotating, to stay fast);
/// identity fields are kept so the object stays what it was. Returns the number of calls.
pub fn for_each_mutated_fixture(root: &Path, mut f: impl FnMut(&Inventory)) -> usize {
    let mut runs = 0;
    for entry in std::fs::read_dir(root).unwrap() {
        let text = std::fs::read_to_string(entry.unwrap().path().join("input.yaml")).unwrap();
        let mut loaded = Loaded::default();
        load_text_into("input.yaml", &text, &LoadOptions::default(), &mut loaded);
        let base = loaded.inventory;
        for (oi, object) in base.objects.iter().enumerate() {
            let mut ptrs = Vec::new();
            pointers(&object.value, String::new(), &mut ptrs);
            ptrs.retain(|p| !p.is_empty() && p != "/apiVersion" && p != "/kind");
            let all = replacements();
            for (pi, p) in ptrs.into_iter().enumerate() {
                for r in (0..2).map(|k| all[(pi * 2 + k) % all.len()].clone()) {
                    let mut value = object.value.clone();
                    *value.pointer_mut(&p).unwrap() = r;
                    let Some(mutated) =
                        Object::from_value(value, object.spans.clone(), object.source.clone())
                    else {
                        continue;
                    };
                    let mut inventory = base.clone();
                    inventory.objects[oi] = mutated;
                    f(&inventory);
                    runs += 1;
                }
            }
        }
    }
    runs
}
