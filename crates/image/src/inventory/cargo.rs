//! Rust crates: `Cargo.lock` files and the dependency list cargo-auditable embeds in binaries.
//!
//! `Cargo.lock`: TOML, `[[package]]` tables with `name`, `version` and `source`
//! (cargo `src/cargo/core/resolver/encode.rs`). Only crates whose source is the crates.io
//! index (`registry+https://github.com/rust-lang/crates.io-index` or
//! `sparse+https://index.crates.io/`) are packages of the `crates.io` ecosystem: path and git
//! dependencies and other registries are not (a same-named crate elsewhere is another crate).
//!
//! cargo-auditable: the `.dep-v0` ELF section holds zlib-compressed JSON,
//! `{"packages": [{"name", "version", "source", "kind", "dependencies", "root"}]}`
//! (<https://github.com/rust-secure-code/cargo-auditable>, `auditable-serde/src/lib.rs` and
//! `PARSING.md`); packages with `"source": "crates.io"` are kept, build-time ones included
//! (their code runs in the build, and cargo-audit reports them too). The decompressed JSON is
//! capped at 8 MiB, as `auditable-info`'s default limit.

use std::io::Read;

use serde::Deserialize;

use super::elf::Elf;
use super::{Found, InventoryError, package};
use crate::package::Package;

const MAX_DEP_JSON: u64 = 8 << 20;

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: String,
    version: String,
    source: Option<String>,
}

fn is_crates_io(source: &str) -> bool {
    matches!(
        source.trim_end_matches('/'),
        "registry+https://github.com/rust-lang/crates.io-index" | "sparse+https://index.crates.io"
    )
}

pub(crate) fn parse_lock(data: &[u8], path: &str) -> Found {
    let lock: Lock = match std::str::from_utf8(data)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str(t).map_err(|e| e.to_string()))
    {
        Ok(l) => l,
        Err(e) => {
            return (
                Vec::new(),
                vec![InventoryError::new(path, format!("Cargo.lock: {e}"))],
            );
        }
    };
    let packages = lock
        .package
        .iter()
        .filter(|p| p.source.as_deref().is_some_and(is_crates_io))
        .map(|p| package(&p.name, &p.version, "crates.io", path))
        .collect();
    (packages, Vec::new())
}

#[derive(Deserialize)]
struct Auditable {
    packages: Vec<AuditablePackage>,
}

#[derive(Deserialize)]
struct AuditablePackage {
    name: String,
    version: String,
    source: String,
}

pub(crate) fn auditable_packages(
    elf: &Elf<'_>,
    path: &str,
) -> Result<Vec<Package>, InventoryError> {
    let err = |m: String| InventoryError::new(path, format!("cargo-auditable .dep-v0: {m}"));
    let compressed = match elf.section(".dep-v0") {
        None => return Ok(Vec::new()),
        Some(s) => s.map_err(err)?,
    };
    decode_dep_v0(compressed, path).map_err(err)
}

pub(crate) fn decode_dep_v0(compressed: &[u8], path: &str) -> Result<Vec<Package>, String> {
    let mut json = Vec::new();
    flate2::read::ZlibDecoder::new(compressed)
        .take(MAX_DEP_JSON + 1)
        .read_to_end(&mut json)
        .map_err(|e| format!("zlib: {e}"))?;
    if json.len() as u64 > MAX_DEP_JSON {
        return Err(format!("decompresses to over {MAX_DEP_JSON} bytes"));
    }
    let info: Auditable = serde_json::from_slice(&json).map_err(|e| format!("JSON: {e}"))?;
    Ok(info
        .packages
        .iter()
        .filter(|p| p.source == "crates.io")
        .map(|p| package(&p.name, &p.version, "crates.io", path))
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;
    use flate2::{Compression, write::ZlibEncoder};
    use std::io::Write;

    pub(crate) fn zlib(data: &[u8]) -> Vec<u8> {
        let mut e = ZlibEncoder::new(Vec::new(), Compression::default());
        e.write_all(data).unwrap();
        e.finish().unwrap()
    }

    #[test]
    fn lock_file_keeps_crates_io_packages() {
        let lock = br#"
version = 4

[[package]]
name = "app"
version = "0.1.0"
dependencies = ["serde"]

[[package]]
name = "serde"
version = "1.0.200"
source = "registry+https://github.com/rust-lang/crates.io-index"
checksum = "abc"

[[package]]
name = "itoa"
version = "1.0.11"
source = "sparse+https://index.crates.io/"

[[package]]
name = "forked"
version = "0.3.0"
source = "git+https://example.com/forked#abc"

[[package]]
name = "private"
version = "1.0.0"
source = "registry+https://my.registry/index"
"#;
        let (pkgs, errors) = parse_lock(lock, "/src/Cargo.lock");
        assert_eq!(errors, []);
        let got: Vec<_> = pkgs
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(got, [("serde", "1.0.200"), ("itoa", "1.0.11")]);
        let (pkgs, errors) = parse_lock(b"[[package]]\nname = 1\n", "/Cargo.lock");
        assert!(pkgs.is_empty());
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].path, "/Cargo.lock");
    }

    #[test]
    fn dep_v0_and_its_hostile_forms() {
        let json = br#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true,"dependencies":[1]},
            {"name":"serde","version":"1.0.200","source":"crates.io"},
            {"name":"cc","version":"1.0.90","source":"crates.io","kind":"build"}]}"#;
        let pkgs = decode_dep_v0(&zlib(json), "/bin/app").unwrap();
        let got: Vec<_> = pkgs
            .iter()
            .map(|p| (p.name.as_str(), p.version.as_str()))
            .collect();
        assert_eq!(got, [("serde", "1.0.200"), ("cc", "1.0.90")]);
        // Corrupt zlib, and a bomb: 64 MiB of zeros compress to ~64 KiB.
        let mut corrupt = zlib(json);
        corrupt.truncate(corrupt.len() / 2);
        corrupt.push(0xff);
        assert!(decode_dep_v0(&corrupt, "/x").is_err());
        assert!(decode_dep_v0(b"\x00\x01garbage", "/x").is_err());
        let bomb = zlib(&vec![b' '; 64 << 20]);
        assert!(decode_dep_v0(&bomb, "/x").unwrap_err().contains("over"));
    }
}
