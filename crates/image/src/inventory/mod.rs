//! Package inventories: which OS and language packages an image's root filesystem holds.
//!
//! [`keep`] tells an image reader which files to keep (decided from the path alone, so that
//! layers stream through), [`binary_packages`] analyses an executable as it is read, and
//! [`inventory`] reads the resulting [`Tree`]. Every reader is written for hostile input: no
//! panics, bounds-checked binary parsing, caps on decompressed sizes and on recursion.
//!
//! Each submodule cites the upstream format it follows.

use std::collections::HashSet;

use crate::package::{Os, Package};
use crate::tree::{Keep, Node, Tree};

mod apk;
mod bdb;
mod cargo;
mod dpkg;
mod elf;
mod gobin;
mod java;
mod npm;
mod os_release;
mod python;
mod rpm;

/// Manifests and lock files larger than this are not kept (the largest real ones, a big
/// monorepo's `package-lock.json`, are a few MiB).
pub const MAX_TEXT_FILE: u64 = 64 << 20;
/// Package databases (an rpmdb holds every header: ~100 MiB on a large RHEL image).
pub const MAX_DATABASE: u64 = 512 << 20;
/// Java archives kept for reading (fat jars of a few hundred MiB exist).
pub const MAX_ARCHIVE: u64 = 512 << 20;
/// Executables read for embedded packages.
pub const MAX_BINARY: u64 = 512 << 20;

/// An unreadable or malformed file: the path (absolute within the image) and what is wrong.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, thiserror::Error)]
#[error("{path}: {message}")]
pub struct InventoryError {
    pub path: String,
    pub message: String,
}

impl InventoryError {
    pub(crate) fn new(path: &str, message: impl Into<String>) -> Self {
        InventoryError {
            path: path.to_string(),
            message: message.into(),
        }
    }
}

/// What [`inventory`] found.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Inventory {
    pub os: Option<Os>,
    pub packages: Vec<Package>,
    pub errors: Vec<InventoryError>,
}

/// What kind of file a path names, for [`keep`] and [`inventory`] alike.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    OsRelease,
    DpkgStatus,
    DpkgStatusD,
    Apk,
    RpmSqlite,
    RpmBdb,
    /// SUSE's ndb rpmdb: kept so that its presence is reported (it is not read).
    RpmNdb,
    CargoLock,
    NpmLock,
    NpmPackageJson,
    PythonMetadata,
    Requirements,
    PoetryLock,
    UvLock,
    JavaArchive,
}

fn classify(path: &str) -> Option<Kind> {
    let path = path.trim_start_matches("./").trim_start_matches('/');
    let name = path.rsplit('/').next().unwrap_or(path);
    let dir = path.rfind('/').map_or("", |i| &path[..i]);
    let kind = match path {
        "etc/os-release" | "usr/lib/os-release" => Kind::OsRelease,
        "var/lib/dpkg/status" => Kind::DpkgStatus,
        "lib/apk/db/installed" => Kind::Apk,
        "var/lib/rpm/rpmdb.sqlite" | "usr/lib/sysimage/rpm/rpmdb.sqlite" => Kind::RpmSqlite,
        "var/lib/rpm/Packages" | "usr/lib/sysimage/rpm/Packages" => Kind::RpmBdb,
        "var/lib/rpm/Packages.db" | "usr/lib/sysimage/rpm/Packages.db" => Kind::RpmNdb,
        _ if dir == "var/lib/dpkg/status.d" => {
            if name.ends_with(".md5sums") {
                return None;
            }
            Kind::DpkgStatusD
        }
        _ => match name {
            "Cargo.lock" => Kind::CargoLock,
            "package-lock.json" => Kind::NpmLock,
            "package.json" if npm::is_installed_manifest(path) => Kind::NpmPackageJson,
            "poetry.lock" => Kind::PoetryLock,
            "uv.lock" => Kind::UvLock,
            "METADATA" if dir.ends_with(".dist-info") => Kind::PythonMetadata,
            "PKG-INFO" if dir.ends_with(".egg-info") => Kind::PythonMetadata,
            // distutils once wrote the metadata as a lone `<name>-<version>.egg-info` file.
            n if n.ends_with(".egg-info") => Kind::PythonMetadata,
            n if n.starts_with("requirements") && n.ends_with(".txt") => Kind::Requirements,
            n if n.ends_with(".jar") || n.ends_with(".war") || n.ends_with(".ear") => {
                Kind::JavaArchive
            }
            _ => return None,
        },
    };
    Some(kind)
}

/// Which regular files an image reader keeps, decided from the path (relative to the root,
/// e.g. "var/lib/dpkg/status"), size and whether any execute bit is set.
///
/// Package databases, manifests and lock files are kept whole up to a cap per kind
/// ([`MAX_DATABASE`], [`MAX_TEXT_FILE`], [`MAX_ARCHIVE`]); other executables up to
/// [`MAX_BINARY`] are analysed with [`binary_packages`]. A file over its cap is not kept.
pub fn keep(path: &str, size: u64, executable: bool) -> Keep {
    let cap = match classify(path) {
        Some(Kind::RpmSqlite | Kind::RpmBdb | Kind::RpmNdb | Kind::DpkgStatus | Kind::Apk) => {
            MAX_DATABASE
        }
        Some(Kind::JavaArchive) => MAX_ARCHIVE,
        Some(_) => MAX_TEXT_FILE,
        None if executable && size <= MAX_BINARY => return Keep::Binary,
        None => return Keep::No,
    };
    if size <= cap { Keep::Content } else { Keep::No }
}

/// The packages built into an executable: Go build info (module path "Go" ecosystem, version
/// without "v"; the Go toolchain as package "stdlib" with version like "1.21.3") and
/// cargo-auditable's `.dep-v0` section (ecosystem "crates.io"). Ok(empty) for a non-ELF or a
/// binary without either.
///
/// `path` is the binary's path, written (absolute) into each package's `path`.
pub fn binary_packages(path: &str, data: &[u8]) -> Result<Vec<Package>, InventoryError> {
    let abs = absolute(path);
    let elf = match elf::Elf::parse(data) {
        Ok(Some(elf)) => elf,
        Ok(None) => return Ok(Vec::new()),
        Err(e) => return Err(InventoryError::new(&abs, format!("ELF: {e}"))),
    };
    let mut packages = Vec::new();
    let mut errors = Vec::new();
    match gobin::packages(&elf, &abs) {
        Ok(p) => packages.extend(p),
        Err(e) => errors.push(e),
    }
    match cargo::auditable_packages(&elf, &abs) {
        Ok(p) => packages.extend(p),
        Err(e) => errors.push(e),
    }
    // A binary with readable packages is reported with them; an error only when nothing was.
    match errors.into_iter().next() {
        Some(e) if packages.is_empty() => Err(e),
        _ => Ok(packages),
    }
}

/// `path` made absolute (the tree keeps paths relative to the root).
pub(crate) fn absolute(path: &str) -> String {
    format!("/{}", path.trim_start_matches("./").trim_start_matches('/'))
}

/// Everything found in the tree: OS packages (ecosystem from the OS), language packages, and
/// Node::Binary packages already analysed. Sorted, deduplicated (same
/// ecosystem/name/version/path).
pub fn inventory(tree: &Tree) -> Inventory {
    let mut inv = Inventory::default();
    let os_file = ["etc/os-release", "usr/lib/os-release"]
        .into_iter()
        .find_map(|p| tree.read(p).map(|d| (p, d)));
    let mut os_ecosystem = None;
    if let Some((p, data)) = os_file {
        match os_release::parse(data) {
            Some(release) => {
                os_ecosystem = Some(release.ecosystem());
                inv.os = Some(release.os());
            }
            None => inv
                .errors
                .push(InventoryError::new(&absolute(p), "no ID in os-release")),
        }
    }
    let mut out = Out {
        packages: &mut inv.packages,
        errors: &mut inv.errors,
    };

    // OS databases are read at their well-known paths, links followed (`lib -> usr/lib`).
    let eco = |default: &str| os_ecosystem.clone().unwrap_or_else(|| default.to_string());
    if let Some(data) = tree.read("var/lib/dpkg/status") {
        out.add(dpkg::parse(
            data,
            "/var/lib/dpkg/status",
            &eco("Debian"),
            true,
        ));
    }
    let status_d: Vec<(String, &[u8])> = tree
        .children("var/lib/dpkg/status.d")
        .filter(|(name, _)| !name.ends_with(".md5sums"))
        .filter_map(|(name, node)| match node {
            Node::File(d) => Some((format!("/var/lib/dpkg/status.d/{name}"), d.as_slice())),
            _ => None,
        })
        .collect();
    for (path, data) in status_d {
        out.add(dpkg::parse(data, &path, &eco("Debian"), false));
    }
    if let Some(data) = tree.read("lib/apk/db/installed") {
        out.add(apk::parse(data, "/lib/apk/db/installed", &eco("Alpine")));
    }
    let mut rpm_read = false;
    for p in [
        "var/lib/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
    ] {
        if let Some(data) = tree.read(p) {
            // Fedora links /var/lib/rpm to /usr/lib/sysimage/rpm: read one database once.
            if rpm_read {
                continue;
            }
            rpm_read = true;
            out.add(rpm::parse_sqlite(data, &absolute(p), &eco("Red Hat")));
        }
    }
    if !rpm_read {
        for p in ["var/lib/rpm/Packages", "usr/lib/sysimage/rpm/Packages"] {
            if let Some(data) = tree.read(p) {
                out.add(rpm::parse_bdb(data, &absolute(p), &eco("Red Hat")));
                rpm_read = true;
                break;
            }
        }
    }
    if !rpm_read {
        for p in [
            "var/lib/rpm/Packages.db",
            "usr/lib/sysimage/rpm/Packages.db",
        ] {
            if tree.read(p).is_some() {
                out.errors.push(InventoryError::new(
                    &absolute(p),
                    "an ndb rpmdb (SUSE) is not read: its packages are not listed",
                ));
                break;
            }
        }
    }

    // Language files and binaries, wherever they are.
    for (path, node) in tree.iter() {
        let abs = absolute(path);
        match node {
            Node::Binary(pkgs) => out.packages.extend(pkgs.iter().cloned()),
            Node::File(data) => {
                let result = match classify(path) {
                    Some(Kind::CargoLock) => cargo::parse_lock(data, &abs),
                    Some(Kind::NpmLock) => npm::parse_lock(data, &abs),
                    Some(Kind::NpmPackageJson) => npm::parse_package_json(data, &abs),
                    Some(Kind::PythonMetadata) => python::parse_metadata(data, &abs),
                    Some(Kind::Requirements) => python::parse_requirements(data, &abs),
                    Some(Kind::PoetryLock) => python::parse_poetry(data, &abs),
                    Some(Kind::UvLock) => python::parse_uv(data, &abs),
                    Some(Kind::JavaArchive) => java::parse_archive(data, &abs),
                    // OS files are read above at their canonical paths.
                    _ => continue,
                };
                out.add(result);
            }
            Node::Dir | Node::Symlink(_) => {}
        }
    }

    inv.packages.sort();
    let mut seen = HashSet::new();
    inv.packages.retain(|p| {
        seen.insert((
            p.ecosystem.clone(),
            p.name.clone(),
            p.version.clone(),
            p.path.clone(),
        ))
    });
    inv.errors.sort();
    inv.errors.dedup();
    inv
}

/// What one reader returns: the packages it could read and the errors it met on the way.
pub(crate) type Found = (Vec<Package>, Vec<InventoryError>);

struct Out<'a> {
    packages: &'a mut Vec<Package>,
    errors: &'a mut Vec<InventoryError>,
}

impl Out<'_> {
    fn add(&mut self, (packages, errors): Found) {
        self.packages.extend(packages);
        self.errors.extend(errors);
    }
}

/// A package with no source, as language ecosystems have.
pub(crate) fn package(name: &str, version: &str, ecosystem: &str, path: &str) -> Package {
    Package {
        name: name.to_string(),
        version: version.to_string(),
        ecosystem: ecosystem.to_string(),
        source: None,
        path: path.to_string(),
        source_version: None,
    }
}

#[cfg(test)]
mod tests;
