//! Python packages (ecosystem `PyPI`).
//!
//! - Installed distributions: `*.dist-info/METADATA`, `*.egg-info/PKG-INFO` (or a lone
//!   `*.egg-info` file): core metadata, RFC 822 style headers up to the first blank line,
//!   `Name` and `Version` (<https://packaging.python.org/en/latest/specifications/core-metadata/>).
//! - `requirements*.txt`: only exact pins `name==version` (pip's requirements file format,
//!   <https://pip.pypa.io/en/stable/reference/requirements-file-format/>): comments, options
//!   (`-r`, `--hash`, ...), URLs and paths are ignored, as are extras (`name[x]==1`) and
//!   environment markers (`; python_version < "3.9"`); `\` continues a line. A range or a
//!   wildcard (`==1.*`) is not a pin.
//! - `poetry.lock`: `[[package]]` `name`/`version`; packages whose `[package.source]` type is
//!   `directory` (a local project) are skipped.
//! - `uv.lock` (<https://docs.astral.sh/uv/concepts/projects/layout/#the-lockfile>):
//!   `[[package]]` `name`/`version`; `source` `virtual`, `editable` or `workspace` (the
//!   project itself and its members) are skipped, as are packages without a version.
//!
//! Names are kept as written; PEP 503 normalisation is the matcher's business.

use serde::Deserialize;

use super::{Found, InventoryError, package};

pub(crate) fn parse_metadata(data: &[u8], path: &str) -> Found {
    let text = String::from_utf8_lossy(data);
    let (mut name, mut version) = (None, None);
    for line in text.lines() {
        if line.trim().is_empty() {
            break; // the body (long description) follows the headers
        }
        if let Some((k, v)) = line.split_once(':') {
            let v = v.trim();
            match k.trim().to_ascii_lowercase().as_str() {
                "name" if name.is_none() => name = Some(v),
                "version" if version.is_none() => version = Some(v),
                _ => {}
            }
        }
    }
    match (name, version) {
        (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => {
            (vec![package(n, v, "PyPI", path)], Vec::new())
        }
        _ => (
            Vec::new(),
            vec![InventoryError::new(
                path,
                "metadata has no Name or no Version",
            )],
        ),
    }
}

pub(crate) fn parse_requirements(data: &[u8], path: &str) -> Found {
    let text = String::from_utf8_lossy(data);
    let mut out = Vec::new();
    let mut logical = String::new();
    for raw in text.lines() {
        // A comment starts at `#` at the line's start or after whitespace.
        let line = match raw.find(" #").or_else(|| raw.starts_with('#').then_some(0)) {
            Some(i) => &raw[..i],
            None => raw,
        };
        if let Some(cont) = line.trim_end().strip_suffix('\\') {
            logical.push_str(cont);
            logical.push(' ');
            continue;
        }
        logical.push_str(line);
        let entry = std::mem::take(&mut logical);
        if let Some((name, version)) = pin(&entry) {
            out.push(package(name, version, "PyPI", path));
        }
    }
    (out, Vec::new())
}

/// `name[extras]==version ; marker --hash=...` → (name, version).
fn pin(line: &str) -> Option<(&str, &str)> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('-') {
        return None;
    }
    let spec = line.split(';').next()?.split(" -").next()?.trim();
    let (name, version) = spec.split_once("==")?;
    let name = name.split('[').next()?.trim();
    let version = version.trim();
    let valid_name = !name.is_empty()
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    let valid_version = !version.is_empty()
        && !version.starts_with('=')
        && !version.contains(['*', ',', ' ', '<', '>', '!', '~']);
    (valid_name && valid_version).then_some((name, version))
}

#[derive(Deserialize)]
struct Lock {
    #[serde(default)]
    package: Vec<LockPackage>,
}

#[derive(Deserialize)]
struct LockPackage {
    name: String,
    version: Option<String>,
    source: Option<toml::Value>,
}

fn lock(data: &[u8], path: &str, what: &str) -> Result<Lock, InventoryError> {
    std::str::from_utf8(data)
        .map_err(|e| e.to_string())
        .and_then(|t| toml::from_str(t).map_err(|e| e.to_string()))
        .map_err(|e| InventoryError::new(path, format!("{what}: {e}")))
}

fn from_lock(data: &[u8], path: &str, what: &str, skip: impl Fn(&toml::Value) -> bool) -> Found {
    match lock(data, path, what) {
        Ok(l) => (
            l.package
                .iter()
                .filter(|p| !p.source.as_ref().is_some_and(&skip))
                .filter_map(|p| Some(package(&p.name, p.version.as_deref()?, "PyPI", path)))
                .collect(),
            Vec::new(),
        ),
        Err(e) => (Vec::new(), vec![e]),
    }
}

pub(crate) fn parse_poetry(data: &[u8], path: &str) -> Found {
    from_lock(data, path, "poetry.lock", |s| {
        s.get("type").and_then(toml::Value::as_str) == Some("directory")
    })
}

pub(crate) fn parse_uv(data: &[u8], path: &str) -> Found {
    from_lock(data, path, "uv.lock", |s| {
        ["virtual", "editable", "workspace"]
            .iter()
            .any(|k| s.get(k).is_some())
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(found: &Found) -> Vec<String> {
        found
            .0
            .iter()
            .map(|p| format!("{}=={}", p.name, p.version))
            .collect()
    }

    #[test]
    fn metadata() {
        let m = b"Metadata-Version: 2.1\nName: requests\nVersion: 2.31.0\nSummary: x\n\nName: not-this\n";
        assert_eq!(pairs(&parse_metadata(m, "/m")), ["requests==2.31.0"]);
        assert_eq!(parse_metadata(b"Name: x\n", "/m").1.len(), 1);
    }

    #[test]
    fn requirements_pins_only() {
        let r = b"# comment\n-r base.txt\n--index-url https://x\nrequests==2.31.0  # pinned\n\
Django[argon2]==4.2.7 ; python_version >= \"3.8\"\nflask>=2.0\nnumpy==1.*\n\
urllib3==2.0.7 \\\n    --hash=sha256:abc\n-e git+https://github.com/a/b#egg=b\nx==1.0,!=1.1\n\
pkg @ https://example.com/pkg.whl\nexact===1.0\n";
        assert_eq!(
            pairs(&parse_requirements(r, "/requirements.txt")),
            ["requests==2.31.0", "Django==4.2.7", "urllib3==2.0.7"]
        );
    }

    #[test]
    fn poetry_and_uv_locks() {
        let poetry = br#"
[[package]]
name = "certifi"
version = "2023.7.22"
description = "x"

[[package]]
name = "mylib"
version = "0.1.0"

[package.source]
type = "directory"
url = "../mylib"
"#;
        assert_eq!(
            pairs(&parse_poetry(poetry, "/poetry.lock")),
            ["certifi==2023.7.22"]
        );
        let uv = br#"
version = 1
[[package]]
name = "app"
version = "0.1.0"
source = { virtual = "." }

[[package]]
name = "member"
version = "0.2.0"
source = { editable = "packages/member" }

[[package]]
name = "idna"
version = "3.6"
source = { registry = "https://pypi.org/simple" }

[[package]]
name = "dynamic"
source = { git = "https://x" }
"#;
        assert_eq!(pairs(&parse_uv(uv, "/uv.lock")), ["idna==3.6"]);
        let (p, e) = parse_uv(b"[[package]\n", "/uv.lock");
        assert!(p.is_empty() && e[0].path == "/uv.lock");
    }
}
