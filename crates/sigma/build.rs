//! Embeds the built-in rule pack (`rules/*.yml` at the workspace root) into the crate.

use std::fmt::Write as _;
use std::path::Path;

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut files: Vec<_> = std::fs::read_dir(&dir)
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
    let mut out = String::from(
        "/// The built-in rule pack: (path, YAML text).\npub static PACK: &[(&str, &str)] = &[\n",
    );
    for f in &files {
        println!("cargo:rerun-if-changed={}", f.display());
        let name = format!(
            "rules/{}",
            f.file_name().unwrap_or_default().to_string_lossy()
        );
        let abs = f.canonicalize().unwrap_or_else(|_| f.clone());
        let _ = writeln!(
            out,
            "    ({name:?}, include_str!({:?})),",
            abs.display().to_string()
        );
    }
    out.push_str("];\n");
    let dest =
        Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR is set by cargo")).join("pack.rs");
    std::fs::write(dest, out).expect("write pack.rs");
}
