//! A package found in an image, and the operating system the image is built on.

use serde::{Deserialize, Serialize};

/// One installed package.
///
/// JSON (`kubevigil image scan -o json`, `packages[]`): `{"name", "version", "ecosystem",
/// "source", "path"}`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
pub struct Package {
    /// The name as its ecosystem writes it (binary package name for dpkg and rpm).
    pub name: String,
    /// The installed version, exactly as the package database records it (dpkg: with epoch
    /// and revision; rpm: `[epoch:]version-release`; Go: without the leading `v`).
    pub version: String,
    /// The OSV ecosystem it belongs to, as OSV writes it: `Debian:12`, `Alpine:v3.19`,
    /// `Ubuntu:22.04`, `Red Hat`, `crates.io`, `Go`, `npm`, `PyPI`, `Maven`.
    pub ecosystem: String,
    /// The source package it was built from (dpkg `Source:`, apk origin, rpm source RPM
    /// name), when the database names one. Distribution advisories are written against it.
    pub source: Option<String>,
    /// The file it was read from, absolute within the image (`/var/lib/dpkg/status`).
    pub path: String,
    /// The source package's version when it differs from `version` (dpkg `Source: foo (1.2-3)`).
    #[serde(skip)]
    pub source_version: Option<String>,
}

impl Package {
    /// The name and version that advisories of its ecosystem are written against: the source
    /// package for a distribution package that names one, else the package itself.
    pub fn advisory_key(&self) -> (&str, &str) {
        match &self.source {
            Some(source) => (
                source,
                self.source_version.as_deref().unwrap_or(&self.version),
            ),
            None => (&self.name, &self.version),
        }
    }
}

/// The operating system of an image, from `/etc/os-release` (or `/usr/lib/os-release`).
///
/// JSON: `{"family", "version"}`: the os-release `ID` (`debian`, `alpine`, `ubuntu`, `rhel`,
/// ...) and `VERSION_ID`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Os {
    pub family: String,
    pub version: String,
}
