//! Shared by the netpol integration tests: CI detection and the fixture-update switch.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

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
