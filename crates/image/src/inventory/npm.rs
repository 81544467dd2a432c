//! npm packages: `package-lock.json` and the `package.json` of installed packages.
//!
//! Lock file formats: <https://docs.npmjs.com/cli/v10/configuring-npm/package-lock-json>.
//! v2 and v3 have a `packages` map keyed by install path (`node_modules/a/node_modules/@s/b`):
//! the name is the last `node_modules/` segment of the key (or the entry's `name`, for an
//! alias); the root `""`, `link: true` entries (workspaces, `file:` links) and keys outside
//! `node_modules/` (workspace members) are skipped. v1 (read when there is no `packages`) has
//! nested `dependencies` objects; `version` may be `npm:real-name@1.2.3` for an alias, and
//! versions that are URLs or paths (`file:`, `git+`, `github:`, tarball URLs) are skipped.
//!
//! Installed packages: `node_modules/<name>/package.json` and
//! `node_modules/@scope/<name>/package.json`, `name` and `version`.

use serde_json::Value;

use super::{Found, InventoryError, package};

/// Whether `path` is the manifest of an installed package (not a `package.json` somewhere
/// inside one, which describes nothing installed).
pub(crate) fn is_installed_manifest(path: &str) -> bool {
    let Some(dir) = path.strip_suffix("/package.json") else {
        return false;
    };
    let mut parts = dir.rsplit('/');
    match (parts.next(), parts.next(), parts.next()) {
        (Some(name), Some("node_modules"), _) => !name.starts_with('@') && !name.starts_with('.'),
        (Some(_), Some(scope), Some("node_modules")) => scope.starts_with('@'),
        _ => false,
    }
}

fn json(data: &[u8], path: &str) -> Result<Value, InventoryError> {
    serde_json::from_slice(data).map_err(|e| InventoryError::new(path, format!("JSON: {e}")))
}

fn is_registry_version(v: &str) -> bool {
    !v.is_empty() && !v.contains(':') && !v.contains('/')
}

pub(crate) fn parse_lock(data: &[u8], path: &str) -> Found {
    let lock = match json(data, path) {
        Ok(v) => v,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let mut out = Vec::new();
    if let Some(packages) = lock.get("packages").and_then(Value::as_object) {
        for (key, entry) in packages {
            let Some(last) = key
                .rfind("node_modules/")
                .map(|i| &key[i + "node_modules/".len()..])
            else {
                continue;
            };
            if entry.get("link").and_then(Value::as_bool) == Some(true) {
                continue;
            }
            let name = entry.get("name").and_then(Value::as_str).unwrap_or(last);
            if let Some(v) = entry
                .get("version")
                .and_then(Value::as_str)
                .filter(|v| is_registry_version(v))
            {
                out.push(package(name, v, "npm", path));
            }
        }
        return (out, Vec::new());
    }
    // v1: nested `dependencies`, walked without recursion.
    let mut pending: Vec<&Value> = lock.get("dependencies").into_iter().collect();
    while let Some(deps) = pending.pop() {
        let Some(deps) = deps.as_object() else {
            continue;
        };
        for (name, entry) in deps {
            let version = entry
                .get("version")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let (name, version) = match version
                .strip_prefix("npm:")
                .and_then(|a| a.rsplit_once('@'))
            {
                Some((real, v)) if !real.is_empty() => (real, v),
                _ => (name.as_str(), version),
            };
            if is_registry_version(version) {
                out.push(package(name, version, "npm", path));
            }
            pending.extend(entry.get("dependencies"));
        }
    }
    (out, Vec::new())
}

pub(crate) fn parse_package_json(data: &[u8], path: &str) -> Found {
    let manifest = match json(data, path) {
        Ok(v) => v,
        Err(e) => return (Vec::new(), vec![e]),
    };
    let name = manifest.get("name").and_then(Value::as_str);
    let version = manifest.get("version").and_then(Value::as_str);
    match (name, version) {
        (Some(n), Some(v)) if !n.is_empty() && !v.is_empty() => {
            (vec![package(n, v, "npm", path)], Vec::new())
        }
        _ => (
            Vec::new(),
            vec![InventoryError::new(
                path,
                "package.json has no name or no version",
            )],
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(found: &Found) -> Vec<String> {
        found
            .0
            .iter()
            .map(|p| format!("{}@{}", p.name, p.version))
            .collect()
    }

    #[test]
    fn installed_manifests() {
        assert!(is_installed_manifest(
            "app/node_modules/lodash/package.json"
        ));
        assert!(is_installed_manifest(
            "node_modules/@babel/core/package.json"
        ));
        assert!(is_installed_manifest(
            "a/node_modules/x/node_modules/y/package.json"
        ));
        assert!(!is_installed_manifest("app/package.json"));
        assert!(!is_installed_manifest(
            "node_modules/lodash/fp/package.json"
        ));
        assert!(!is_installed_manifest("node_modules/@babel/package.json"));
        let found = parse_package_json(br#"{"name":"lodash","version":"4.17.21"}"#, "/p");
        assert_eq!(names(&found), ["lodash@4.17.21"]);
        assert_eq!(parse_package_json(b"{\"name\":\"x\"}", "/p").1.len(), 1);
        assert_eq!(parse_package_json(b"[", "/p").1.len(), 1);
    }

    #[test]
    fn lock_v3_packages_map() {
        let lock = br#"{"name":"app","lockfileVersion":3,"packages":{
            "":{"name":"app","version":"1.0.0"},
            "node_modules/express":{"version":"4.18.2"},
            "node_modules/express/node_modules/debug":{"version":"2.6.9"},
            "node_modules/@types/node":{"version":"20.1.0","dev":true},
            "node_modules/alias":{"name":"real-pkg","version":"1.2.3"},
            "node_modules/local":{"resolved":"packages/local","link":true},
            "packages/local":{"name":"local","version":"0.0.1"},
            "node_modules/fromgit":{"version":"git+ssh://git@github.com/a/b.git#abc"}}}"#;
        let found = parse_lock(lock, "/app/package-lock.json");
        assert_eq!(
            names(&found),
            [
                "express@4.18.2",
                "debug@2.6.9",
                "@types/node@20.1.0",
                "real-pkg@1.2.3"
            ]
        );
    }

    #[test]
    fn lock_v1_nested_dependencies() {
        let lock = br#"{"lockfileVersion":1,"dependencies":{
            "a":{"version":"1.0.0","dependencies":{"b":{"version":"2.0.0","dependencies":{"c":{"version":"3.0.0"}}}}},
            "al":{"version":"npm:real@4.0.0"},
            "f":{"version":"file:../f"}}}"#;
        let mut got = names(&parse_lock(lock, "/l"));
        got.sort();
        assert_eq!(got, ["a@1.0.0", "b@2.0.0", "c@3.0.0", "real@4.0.0"]);
        assert_eq!(parse_lock(b"{\"packages\":", "/l").1[0].path, "/l");
    }
}
