//! Embeds the built-in rule packs into the crate: `rules/*.yml` at the workspace root (audit
//! logs) as `PACK`, `rules/pod-logs/*.yml` (pod logs) as `POD_LOGS_PACK`, `rules/k8s-events/*.yml`
//! (Kubernetes Events) as `K8S_EVENTS_PACK`, `rules/falco/*.yml` (Falco alerts) as `FALCO_PACK`,
//! `rules/hubble/*.yml` (Hubble flows) as `HUBBLE_PACK`.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut out = String::new();
    embed(&root, "rules", "PACK", "audit logs", &mut out);
    embed(
        &root.join("pod-logs"),
        "rules/pod-logs",
        "POD_LOGS_PACK",
        "pod logs",
        &mut out,
    );
    embed(
        &root.join("k8s-events"),
        "rules/k8s-events",
        "K8S_EVENTS_PACK",
        "Kubernetes Events",
        &mut out,
    );
    embed(
        &root.join("falco"),
        "rules/falco",
        "FALCO_PACK",
        "Falco alerts",
        &mut out,
    );
    embed(
        &root.join("hubble"),
        "rules/hubble",
        "HUBBLE_PACK",
        "Hubble flows",
        &mut out,
    );
    embed(
        &root.join("resources"),
        "rules/resources",
        "RESOURCES_PACK",
        "resource abuse",
        &mut out,
    );
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo")).join("pack.rs");
    std::fs::write(dest, out).expect("write pack.rs");
}

/// Writes `pub static NAME: &[(&str, &str)]`, the (path, YAML text) of every rule file in `dir`.
fn embed(dir: &Path, shown: &str, name: &str, what: &str, out: &mut String) {
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .map(|rd| rd.filter_map(Result::ok).map(|e| e.path()).collect())
        .unwrap_or_default();
    files.retain(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"));
    files.sort();
    // An empty pack would silently disable detection: refuse to build instead.
    assert!(
        !files.is_empty(),
        "no rule files found in {}",
        dir.display()
    );
    let _ = writeln!(
        out,
        "/// The built-in rule pack for {what}: (path, YAML text).\npub static {name}: &[(&str, &str)] = &["
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let file = format!(
            "{shown}/{}",
            f.file_name().unwrap_or_default().to_string_lossy()
        );
        let abs = f.canonicalize().unwrap_or_else(|_| f.clone());
        let _ = writeln!(
            out,
            "    ({file:?}, include_str!({:?})),",
            abs.display().to_string()
        );
    }
    out.push_str("];\n");
}
