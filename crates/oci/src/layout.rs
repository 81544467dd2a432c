//! OCI image layouts (<https://github.com/opencontainers/image-spec/blob/main/image-layout.md>):
//! `oci-layout`, `index.json` and content-addressed `blobs/<alg>/<hex>`. The resolution from an
//! index to an image is shared with archives that carry an OCI layout inside.

use std::collections::BTreeMap;
use std::io::Read;
use std::path::Path;

use kubevigil_image::tree::Tree;

use crate::digest::{Digest, read_capped};
use crate::manifest::{self, Descriptor, Parsed};
use crate::{Image, Limits, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, Platform, Select, SourceError};

/// Where the blobs of an index live.
pub(crate) trait Blobs {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + '_>, SourceError>;
}

struct Dir<'a>(&'a Path);

impl Blobs for Dir<'_> {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + '_>, SourceError> {
        // The digest was parsed strictly: `hex` cannot climb out of `blobs/`.
        let path = self
            .0
            .join("blobs")
            .join(digest.algorithm)
            .join(&digest.hex);
        let file = crate::rootfs::open_regular(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                SourceError::NotFound(format!("blob {digest} is missing from the layout"))
            } else {
                SourceError::io(format!("blob {digest}"), e)
            }
        })?;
        Ok(Box::new(std::io::BufReader::with_capacity(1 << 16, file)))
    }
}

pub(crate) fn read(
    dir: &Path,
    reference: Option<&str>,
    platform: &Platform,
    select: &Select,
    limits: &Limits,
) -> Result<Image, SourceError> {
    let what = |name: &str| format!("{}/{name}", dir.display());
    let layout = dir.join("oci-layout");
    if let Ok(f) = crate::rootfs::open_regular(&layout) {
        let bytes = read_capped(f, &what("oci-layout"), 64 << 10)?;
        let v: serde_json::Value = serde_json::from_slice(&bytes)
            .map_err(|e| SourceError::invalid(what("oci-layout"), e))?;
        let version = v
            .get("imageLayoutVersion")
            .and_then(|v| v.as_str())
            .unwrap_or("");
        if !version.starts_with("1.") {
            return Err(SourceError::Unsupported(format!(
                "{}: image layout version {version:?}",
                what("oci-layout")
            )));
        }
    }
    let index_path = dir.join("index.json");
    let f = crate::rootfs::open_regular(&index_path)
        .map_err(|e| SourceError::io(what("index.json"), e))?;
    let index = read_capped(f, &what("index.json"), MAX_MANIFEST_BYTES)?;
    read_index(
        &Dir(dir),
        &index,
        &what("index.json"),
        dir.display().to_string(),
        reference,
        platform,
        select,
        limits,
    )
}

#[allow(clippy::too_many_arguments)]
pub(crate) fn read_index(
    blobs: &dyn Blobs,
    index: &[u8],
    index_name: &str,
    target: String,
    reference: Option<&str>,
    platform: &Platform,
    select: &Select,
    limits: &Limits,
) -> Result<Image, SourceError> {
    let entries = match manifest::parse(index_name, index, Some(manifest::OCI_INDEX))? {
        Parsed::Index(m) => m,
        Parsed::Manifest { .. } => {
            return Err(SourceError::invalid(index_name, "not an image index"));
        }
    };
    let names = || {
        let mut n: Vec<&str> = entries
            .iter()
            .filter_map(|d| d.annotations.get(manifest::REF_NAME).map(String::as_str))
            .collect();
        n.dedup();
        if n.is_empty() {
            "none".to_string()
        } else {
            n.join(", ")
        }
    };
    let candidates: Vec<&Descriptor> = match reference {
        Some(r) => {
            let c = manifest::by_reference(&entries, r);
            if c.is_empty() {
                return Err(SourceError::NotFound(format!(
                    "{index_name}: no image named {r:?} (named: {})",
                    names()
                )));
            }
            c
        }
        None => entries
            .iter()
            .filter(|d| manifest::is_index(d) || manifest::is_manifest(d))
            .collect(),
    };
    let chosen = match candidates.as_slice() {
        [] => return Err(SourceError::NotFound(format!("{index_name}: no image"))),
        [one] => (*one).clone(),
        several => {
            // Several images may be the platforms of one image, listed in index.json itself.
            let all: Vec<Descriptor> = several.iter().map(|d| (*d).clone()).collect();
            let mut ref_names: Vec<&str> = several
                .iter()
                .filter_map(|d| d.annotations.get(manifest::REF_NAME).map(String::as_str))
                .collect();
            ref_names.sort_unstable();
            ref_names.dedup();
            if ref_names.len() > 1 {
                return Err(SourceError::invalid(
                    index_name,
                    format!("several images, name one of: {}", ref_names.join(", ")),
                ));
            }
            manifest::choose(&all, platform)?.clone()
        }
    };
    // The digest of what the index names (an image index for a multi-platform image), as a
    // pod's imageID and `docker inspect`'s RepoDigests give it.
    let digest = chosen.digest()?;
    let (_, config_desc, layers, annotations) = resolve(blobs, chosen, platform)?;
    let config_digest = config_desc.digest()?;
    let config_bytes = small_blob(blobs, &config_desc, MAX_CONFIG_BYTES, "config")?;
    let config = manifest::parse_config(
        &format!("config {config_digest}"),
        &config_bytes,
        &annotations,
    )?;
    let mut image = Image {
        target,
        digest: Some(digest.to_string()),
        config: Some(config),
        layers: Vec::new(),
        tree: Tree::new(),
        errors: Vec::new(),
    };
    for l in &layers {
        let reader = blobs.open(&l.digest()?)?;
        crate::layer::apply_descriptor(&mut image, l, reader, select, limits)?;
    }
    Ok(image)
}

/// Index levels followed down to an image manifest (an index may name indexes).
const MAX_DEPTH: usize = 4;

type Resolved = (
    Digest,
    Descriptor,
    Vec<Descriptor>,
    BTreeMap<String, String>,
);

fn resolve(
    blobs: &dyn Blobs,
    mut desc: Descriptor,
    platform: &Platform,
) -> Result<Resolved, SourceError> {
    for _ in 0..=MAX_DEPTH {
        let digest = desc.digest()?;
        let what = format!("manifest {digest}");
        let bytes = small_blob(blobs, &desc, MAX_MANIFEST_BYTES, "manifest")?;
        let ct = Some(desc.media_type.as_str()).filter(|m| !m.is_empty());
        match manifest::parse(&what, &bytes, ct)? {
            Parsed::Index(entries) => desc = manifest::choose(&entries, platform)?.clone(),
            Parsed::Manifest {
                config,
                layers,
                annotations,
            } => return Ok((digest, config, layers, annotations)),
        }
    }
    Err(SourceError::Unsupported(format!(
        "indexes nested more than {MAX_DEPTH} deep"
    )))
}

/// A manifest or config blob: size capped, digest (and the descriptor's size) verified.
pub(crate) fn small_blob(
    blobs: &dyn Blobs,
    desc: &Descriptor,
    cap: u64,
    kind: &str,
) -> Result<Vec<u8>, SourceError> {
    let digest = desc.digest()?;
    let what = format!("{kind} {digest}");
    let size = desc.size()?;
    if size.is_some_and(|s| s > cap) {
        return Err(SourceError::TooLarge { what, limit: cap });
    }
    let bytes = read_capped(blobs.open(&digest)?, &what, cap)?;
    digest.verify(&what, &bytes)?;
    if let Some(s) = size {
        if bytes.len() as u64 != s {
            return Err(SourceError::invalid(
                what,
                format!("{} bytes where the descriptor says {s}", bytes.len()),
            ));
        }
    }
    Ok(bytes)
}
