//! Shared by the netpol integration tests: CI detection and the fixture-update switch.

// Each test binary that includes this module uses only part of it.
#![allow(dead_code)]

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
