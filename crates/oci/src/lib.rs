//! Image sources: a container image read from an OCI image layout, a `docker save` archive, an
//! unpacked root filesystem or a registry, its layers applied in order (whiteouts included) to
//! an in-memory [`Tree`] that keeps only what the caller's [`Select`] asks for.
//!
//! Every input is treated as hostile: blobs are verified against their digests, sizes are
//! capped (manifests, configurations, uncompressed layers, kept files), tar entries whose path
//! climbs out of the root are refused, symbolic links are recorded and never followed on the
//! host, and nothing is ever written to disk.
//!
//! Specifications followed:
//! - OCI image layout: <https://github.com/opencontainers/image-spec/blob/main/image-layout.md>
//! - OCI image index: <https://github.com/opencontainers/image-spec/blob/main/image-index.md>
//! - OCI image manifest: <https://github.com/opencontainers/image-spec/blob/main/manifest.md>
//! - OCI layers (changesets, whiteouts): <https://github.com/opencontainers/image-spec/blob/main/layer.md>
//! - OCI distribution: <https://github.com/opencontainers/distribution-spec/blob/main/spec.md>
//! - Docker token authentication: <https://distribution.github.io/distribution/spec/auth/token/>
//! - `docker save` archives: <https://github.com/moby/docker-image-spec/blob/main/spec.md>
#![forbid(unsafe_code)]

mod archive;
mod auth;
mod digest;
mod layer;
mod layout;
mod manifest;
mod reference;
mod registry;
mod rootfs;
pub mod scan;

use std::fmt;
use std::path::Path;

pub use auth::{Credentials, SecretRef};
pub use kubevigil_image::tree::{Keep, Node, Tree};
pub use manifest::ImageConfig;
pub use reference::Reference;

/// Which regular files to keep and how to analyse executables (provided by the caller; the
/// inventory code lives elsewhere).
pub struct Select<'a> {
    /// Called with the path relative to the root, the file's size and whether any execute bit
    /// is set.
    pub keep: &'a (dyn Fn(&str, u64, bool) -> Keep + Sync),
    /// Called with the path and the whole content of a file kept as [`Keep::Binary`].
    pub binary: &'a (dyn Fn(&str, &[u8]) -> Vec<kubevigil_image::package::Package> + Sync),
}

/// An image as read from one of the sources.
#[derive(Debug)]
pub struct Image {
    /// What was asked for (reference, layout path, archive path, rootfs path).
    pub target: String,
    /// The digest (`sha256:...`) of the manifest the reference names, when known: the image
    /// index's for a multi-platform image (as a pod's `imageID` shows it), else the image
    /// manifest's.
    pub digest: Option<String>,
    pub config: Option<ImageConfig>,
    /// Layer digests, lowest first.
    pub layers: Vec<String>,
    pub tree: Tree,
    /// Problems that did not stop the read (a refused entry, an unreadable file).
    pub errors: Vec<SourceError>,
}

/// The platform picked from a multi-platform image, in OCI naming
/// (<https://github.com/opencontainers/image-spec/blob/main/image-index.md#platform-variants>).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
    pub variant: Option<String>,
}

impl Default for Platform {
    /// Linux on the host's architecture.
    fn default() -> Self {
        let architecture = match std::env::consts::ARCH {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "x86" => "386",
            "powerpc64" => "ppc64le",
            "loongarch64" => "loong64",
            other => other,
        };
        Platform {
            os: "linux".into(),
            architecture: architecture.into(),
            variant: None,
        }
    }
}

impl fmt::Display for Platform {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}/{}", self.os, self.architecture)?;
        if let Some(v) = &self.variant {
            write!(f, "/{v}")?;
        }
        Ok(())
    }
}

/// How to pull from a registry.
#[derive(Debug, Clone)]
pub struct PullOptions {
    pub platform: Platform,
    pub credentials: Credentials,
    /// Registries (`host[:port]`) spoken to over plain HTTP, e.g. `127.0.0.1:5000`.
    pub insecure_registries: Vec<String>,
    /// Cap on the uncompressed bytes of one layer.
    pub max_layer_bytes: u64,
}

impl Default for PullOptions {
    fn default() -> Self {
        PullOptions {
            platform: Platform::default(),
            credentials: Credentials::default(),
            insecure_registries: Vec::new(),
            max_layer_bytes: Limits::default().max_layer_bytes,
        }
    }
}

/// Size caps for reading layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Uncompressed bytes of one layer (tar headers included): a decompression bomb stops here.
    pub max_layer_bytes: u64,
    /// Bytes of one kept file ([`Keep::Content`] or [`Keep::Binary`]); a larger one is left
    /// out of the tree (its path still hides what was below) and reported in
    /// [`Image::errors`].
    pub max_file_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_layer_bytes: 16 << 30,
            max_file_bytes: 512 << 20,
        }
    }
}

/// Manifests and indexes (the distribution spec lets registries refuse larger ones:
/// <https://github.com/opencontainers/distribution-spec/blob/main/spec.md#pushing-manifests>).
pub const MAX_MANIFEST_BYTES: u64 = 4 << 20;
/// Image configurations.
pub const MAX_CONFIG_BYTES: u64 = 8 << 20;

/// Why an image (or part of it) could not be read. Credentials never appear in it.
#[derive(Debug, thiserror::Error)]
pub enum SourceError {
    #[error("{what}: {source}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{what}: {reason}")]
    Invalid { what: String, reason: String },
    #[error("{0}")]
    NotFound(String),
    #[error("{what}: digest mismatch: expected {expected}, got {actual}")]
    Digest {
        what: String,
        expected: String,
        actual: String,
    },
    #[error("{what} exceeds {limit} bytes")]
    TooLarge { what: String, limit: u64 },
    #[error("layer {layer}: entry {entry:?} refused: {reason}")]
    Entry {
        layer: String,
        entry: String,
        reason: String,
    },
    #[error("layer {layer}: {reason}")]
    Layer { layer: String, reason: String },
    #[error("unsupported: {0}")]
    Unsupported(String),
    #[error("invalid image reference {reference:?}: {reason}")]
    Reference { reference: String, reason: String },
    #[error("no image for platform {wanted} (available: {available})")]
    Platform { wanted: String, available: String },
    #[error("registry {registry}: {reason}")]
    Registry { registry: String, reason: String },
    #[error(
        "registry {registry} refused access to {repository} (401 Unauthorized){}",
        if *.had_credentials { ": the credentials were rejected" } else { ": no credentials for this registry" }
    )]
    Unauthorized {
        registry: String,
        repository: String,
        had_credentials: bool,
    },
    #[error("credentials: {0}")]
    Credentials(String),
}

impl SourceError {
    pub(crate) fn io(what: impl Into<String>, source: std::io::Error) -> Self {
        SourceError::Io {
            what: what.into(),
            source,
        }
    }
    pub(crate) fn invalid(what: impl Into<String>, reason: impl fmt::Display) -> Self {
        SourceError::Invalid {
            what: what.into(),
            reason: reason.to_string(),
        }
    }
}

/// Reads the unpacked root filesystem at `dir`, without following symbolic links (they are
/// recorded as [`Node::Symlink`]); FIFOs, sockets and devices are skipped unopened.
pub fn from_rootfs(dir: &Path, select: &Select) -> Result<Image, SourceError> {
    rootfs::read(dir, select, &Limits::default())
}

/// Reads an image from the OCI image layout at `dir`. `reference` matches the
/// `org.opencontainers.image.ref.name` annotation in `index.json` (a full name or just the
/// tag); without it the layout must hold one image (or one index, resolved for `platform`).
pub fn from_oci_layout(
    dir: &Path,
    reference: Option<&str>,
    platform: &Platform,
    select: &Select,
) -> Result<Image, SourceError> {
    from_oci_layout_with(dir, reference, platform, select, &Limits::default())
}

/// [`from_oci_layout`] with explicit size caps.
pub fn from_oci_layout_with(
    dir: &Path,
    reference: Option<&str>,
    platform: &Platform,
    select: &Select,
    limits: &Limits,
) -> Result<Image, SourceError> {
    layout::read(dir, reference, platform, select, limits)
}

/// Reads an image from a `docker save` (or `skopeo copy ... docker-archive:`) tar archive:
/// `manifest.json` with `RepoTags`, or the OCI `index.json` of newer archives. `reference`
/// picks one of several images (`repo:tag`).
pub fn from_docker_archive(
    path: &Path,
    reference: Option<&str>,
    platform: &Platform,
    select: &Select,
) -> Result<Image, SourceError> {
    from_docker_archive_with(path, reference, platform, select, &Limits::default())
}

/// [`from_docker_archive`] with explicit size caps.
pub fn from_docker_archive_with(
    path: &Path,
    reference: Option<&str>,
    platform: &Platform,
    select: &Select,
    limits: &Limits,
) -> Result<Image, SourceError> {
    archive::read(path, reference, platform, select, limits)
}

/// Pulls `reference` (`name[:tag][@digest]`, Docker Hub defaults) from its registry. Blocking:
/// runs its own current-thread runtime, so it must not be called from within an async task
/// (use `spawn_blocking`).
pub fn pull(reference: &str, options: &PullOptions, select: &Select) -> Result<Image, SourceError> {
    registry::pull(reference, options, select)
}

/// The digest [`pull`] would report for `reference`, from one manifest request (no layer is
/// fetched): what a scan cache is keyed by. Blocking, as [`pull`].
pub fn resolve(reference: &str, options: &PullOptions) -> Result<String, SourceError> {
    registry::digest_of(reference, options)
}
