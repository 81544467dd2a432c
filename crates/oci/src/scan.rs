//! One image scan, as `kubevigil image scan`, `scan --images` and the monitor run it: read the
//! target, list its packages, match them against the local OSV database, and keep the summary
//! in the database's cache when the image has a digest.

use std::path::PathBuf;

use kubevigil_image::package::{Os, Package};
use kubevigil_image::report::{self, ScanReport};
use kubevigil_image::summary::ImageSummary;
use kubevigil_image::{inventory, sbom};
use kubevigil_vulndb::cache::Inventory;
use kubevigil_vulndb::{Db, DbError};

use crate::{Image, PullOptions, Select, SourceError};

/// What to scan.
#[derive(Debug, Clone)]
pub enum Target {
    /// An image in a registry.
    Reference(String),
    OciLayout(PathBuf),
    DockerArchive(PathBuf),
    Rootfs(PathBuf),
    /// A CycloneDX or SPDX JSON SBOM.
    Sbom(PathBuf),
}

#[derive(Debug, Clone, Default)]
pub struct ScanOptions {
    /// Platform, credentials and insecure registries (the platform also picks from layouts and
    /// archives).
    pub pull: PullOptions,
    /// The image to take from a layout or an archive holding several.
    pub image_ref: Option<String>,
}

/// A scan's result.
#[derive(Debug)]
pub struct Scanned {
    pub report: ScanReport,
    pub summary: ImageSummary,
    /// Problems that did not stop the scan (an entry refused, a package database unreadable, an
    /// SBOM package without a purl): each is a reason for exit code 2.
    pub errors: Vec<String>,
}

#[derive(Debug, thiserror::Error)]
pub enum ScanError {
    // Transparent: an error chain printed whole (`{:#}`) would say it twice.
    #[error(transparent)]
    Source(#[from] SourceError),
    #[error("{path}: {message}")]
    Sbom { path: String, message: String },
    // Not a `source`: the message holds it, and a chain printed whole would say it twice.
    #[error("vulnerability database: {0}")]
    Db(DbError),
}

impl From<DbError> for ScanError {
    fn from(e: DbError) -> Self {
        ScanError::Db(e)
    }
}

/// The inventory's choice of files, for the image readers; also the errors of the binaries
/// that could not be analysed (they are analysed as they are read, and the scan goes on).
fn with_select<T>(f: impl FnOnce(&Select) -> T) -> (T, Vec<String>) {
    let keep = inventory::keep;
    let failed = std::sync::Mutex::new(Vec::new());
    let binary = |path: &str, data: &[u8]| match inventory::binary_packages(path, data) {
        Ok(packages) => packages,
        Err(e) => {
            failed
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(e.to_string());
            Vec::new()
        }
    };
    let out = f(&Select {
        keep: &keep,
        binary: &binary,
    });
    (out, failed.into_inner().unwrap_or_else(|p| p.into_inner()))
}

/// An SBOM larger than this is refused rather than parsed into memory.
const MAX_SBOM_BYTES: u64 = 512 << 20;

fn read_sbom(path: &std::path::Path) -> std::io::Result<Vec<u8>> {
    use std::io::Read as _;
    let mut bytes = Vec::new();
    std::fs::File::open(path)?
        .take(MAX_SBOM_BYTES + 1)
        .read_to_end(&mut bytes)?;
    if bytes.len() as u64 > MAX_SBOM_BYTES {
        return Err(std::io::Error::other(format!(
            "larger than {} MiB",
            MAX_SBOM_BYTES >> 20
        )));
    }
    Ok(bytes)
}

/// Reads `target` into an image, with the errors of binaries that could not be analysed.
fn read(target: &Target, options: &ScanOptions) -> Result<(Image, Vec<String>), SourceError> {
    let platform = &options.pull.platform;
    let image_ref = options.image_ref.as_deref();
    let (image, failed) = with_select(|select| match target {
        Target::Reference(r) => crate::pull(r, &options.pull, select),
        Target::OciLayout(dir) => crate::from_oci_layout(dir, image_ref, platform, select),
        Target::DockerArchive(tar) => crate::from_docker_archive(tar, image_ref, platform, select),
        Target::Rootfs(dir) => crate::from_rootfs(dir, select),
        Target::Sbom(path) => Err(SourceError::Unsupported(format!(
            "{} is an SBOM, not an image",
            path.display()
        ))),
    });
    Ok((image?, failed))
}

/// Scans `target` against `db`, and records the summary of an image with a digest in the
/// database's cache.
pub fn scan(target: &Target, options: &ScanOptions, db: &Db) -> Result<Scanned, ScanError> {
    let generation = db.generation()?;
    let mut errors = Vec::new();
    let (name, os, packages, digest, created, base_image) = match target {
        Target::Sbom(path) => {
            let shown = path.display().to_string();
            let bytes = read_sbom(path).map_err(|e| ScanError::Sbom {
                path: shown.clone(),
                message: e.to_string(),
            })?;
            let doc = sbom::parse(&bytes).map_err(|e| ScanError::Sbom {
                path: shown.clone(),
                message: e.to_string(),
            })?;
            errors.extend(doc.errors.iter().map(|e| format!("{shown}: {e}")));
            let name = doc.subject.clone().unwrap_or(shown);
            (name, doc.os, doc.packages, None, None, None)
        }
        _ => {
            let (image, failed) = read(target, options)?;
            errors.extend(image.errors.iter().map(ToString::to_string));
            errors.extend(failed);
            let found = inventory::inventory(&image.tree);
            errors.extend(found.errors.iter().map(ToString::to_string));
            let (created, base) = image
                .config
                .as_ref()
                .map_or((None, None), |c| (c.created.clone(), c.base_name.clone()));
            (
                image.target,
                found.os,
                found.packages,
                image.digest,
                created,
                base,
            )
        }
    };
    if let Some(digest) = &digest {
        db.record_inventory(
            digest,
            &Inventory {
                os: os.clone(),
                packages: packages.clone(),
            },
        )?;
    }
    let report = matched(name, os, packages, db)?;
    let summary = ImageSummary::of(&report, digest, created, base_image);
    db.record_scan(&summary, generation)?;
    Ok(Scanned {
        report,
        summary,
        errors,
    })
}

/// The report of `packages` matched against `db`.
fn matched(
    target: String,
    os: Option<Os>,
    packages: Vec<Package>,
    db: &Db,
) -> Result<ScanReport, DbError> {
    let mut lookup_error = None;
    let vulnerabilities = report::vulnerabilities(&packages, &mut |ecosystem, package| {
        db.candidates(ecosystem, package).unwrap_or_else(|e| {
            lookup_error.get_or_insert(e);
            Vec::new()
        })
    });
    if let Some(e) = lookup_error {
        return Err(e);
    }
    Ok(ScanReport {
        target,
        os,
        packages,
        vulnerabilities,
    })
}

/// How [`scan_reference`] came by a summary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Came {
    /// Pulled and matched now (and recorded in the cache).
    Scanned,
    /// The cache's scan of the same digest, matched at the database's current generation.
    Cached,
    /// The packages kept from an earlier scan of the same digest, matched again at the
    /// database's current generation (after an import), without pulling the image.
    Rematched,
}

/// What [`scan_reference`] found.
#[derive(Debug)]
pub struct Reused {
    /// The digest the reference names now.
    pub digest: String,
    pub summary: ImageSummary,
    pub came: Came,
    /// What did not stop a fresh scan (see [`Scanned::errors`]).
    pub errors: Vec<String>,
}

/// The summary of the image `reference` names, scanning each digest once: the reference is
/// resolved (one manifest request), then as [`scan_digest`].
pub fn scan_reference(
    reference: &str,
    options: &ScanOptions,
    db: &Db,
    generation: u64,
) -> Result<Reused, ScanError> {
    let digest = crate::resolve(reference, &options.pull)?;
    scan_digest(reference, digest, options, db, generation)
}

/// The summary of the image `reference` names, whose digest is `digest`: a scan of that digest
/// cached at the database's `generation` is reused; one from an earlier generation is matched
/// again from the packages it kept; else the image is pulled and scanned.
pub fn scan_digest(
    reference: &str,
    digest: String,
    options: &ScanOptions,
    db: &Db,
    generation: u64,
) -> Result<Reused, ScanError> {
    if let Some(c) = db.scan_of_digest(&digest)? {
        if c.generation == generation {
            return Ok(Reused {
                digest,
                summary: c.summary,
                came: Came::Cached,
                errors: Vec::new(),
            });
        }
        // An image's content is its digest's: the packages found then are those it has now.
        if let Some(inventory) = db.inventory_of(&digest)? {
            let report = matched(reference.to_string(), inventory.os, inventory.packages, db)?;
            let summary = ImageSummary::of(
                &report,
                Some(digest.clone()),
                c.summary.created,
                c.summary.base_image,
            );
            db.record_scan(&summary, generation)?;
            return Ok(Reused {
                digest,
                summary,
                came: Came::Rematched,
                errors: Vec::new(),
            });
        }
    }
    let scanned = scan(&Target::Reference(reference.to_string()), options, db)?;
    Ok(Reused {
        digest,
        summary: scanned.summary,
        came: Came::Scanned,
        errors: scanned.errors,
    })
}
