//! `docker save` archives (<https://github.com/moby/docker-image-spec/blob/main/spec.md>,
//! "Combined Image JSON + Filesystem Changeset Format"): a tar holding `manifest.json`
//! (`[{"Config", "RepoTags", "Layers"}]`), the configurations and the layer tars. Docker 25+
//! (and `skopeo copy ... docker-archive:`) write the same `manifest.json`; Docker 25+ also lays
//! the files out as an OCI layout (`index.json`, `blobs/sha256/...`), read as such when
//! `manifest.json` is missing. Members are found once and then read in place (the archive is
//! seekable); older archives make repeated layers symbolic links to the first copy.

use std::collections::HashMap;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

use kubevigil_image::tree::{Tree, normalize};
use serde::Deserialize;

use crate::digest::{Digest, read_capped};
use crate::layout::Blobs;
use crate::{Image, Limits, MAX_CONFIG_BYTES, MAX_MANIFEST_BYTES, Platform, Select, SourceError};

/// Members listed before the archive is refused (a tar of empty entries costs 512 bytes each).
const MAX_MEMBERS: usize = 200_000;
/// Links followed from one member to another.
const MAX_HOPS: usize = 8;

enum Member {
    File { offset: u64, size: u64 },
    Link(String),
}

struct Archive<'a> {
    path: &'a Path,
    members: HashMap<String, Member>,
}

impl Archive<'_> {
    fn locate(&self, name: &str) -> Result<(u64, u64), SourceError> {
        let mut name = normalize(name).map_err(|e| SourceError::invalid(self.what(), e))?;
        for _ in 0..MAX_HOPS {
            match self.members.get(&name) {
                Some(Member::File { offset, size }) => return Ok((*offset, *size)),
                Some(Member::Link(target)) => name = target.clone(),
                None => {
                    return Err(SourceError::NotFound(format!(
                        "{}: no member {name:?}",
                        self.what()
                    )));
                }
            }
        }
        Err(SourceError::invalid(
            self.what(),
            format!("{name}: links loop"),
        ))
    }

    fn open(&self, name: &str) -> Result<impl Read + use<>, SourceError> {
        let (offset, size) = self.locate(name)?;
        let mut f =
            crate::rootfs::open_regular(self.path).map_err(|e| SourceError::io(self.what(), e))?;
        f.seek(SeekFrom::Start(offset))
            .map_err(|e| SourceError::io(self.what(), e))?;
        Ok(io::BufReader::with_capacity(1 << 16, f.take(size)))
    }

    fn small(&self, name: &str, cap: u64) -> Result<Vec<u8>, SourceError> {
        read_capped(self.open(name)?, &format!("{}: {name}", self.what()), cap)
    }

    fn what(&self) -> String {
        self.path.display().to_string()
    }
}

impl Blobs for Archive<'_> {
    fn open(&self, digest: &Digest) -> Result<Box<dyn Read + '_>, SourceError> {
        Ok(Box::new(Archive::open(
            self,
            &format!("blobs/{}/{}", digest.algorithm, digest.hex),
        )?))
    }
}

#[derive(Deserialize)]
struct Entry {
    #[serde(rename = "Config")]
    config: String,
    #[serde(rename = "RepoTags", default)]
    repo_tags: Option<Vec<String>>,
    #[serde(rename = "Layers", default)]
    layers: Vec<String>,
}

/// The digest a member's name gives (`blobs/sha256/<hex>`, `<hex>.json`, `<hex>.tar`).
fn digest_in_name(name: &str) -> Option<Digest> {
    if let Some(rest) = name.strip_prefix("blobs/") {
        let (alg, hex) = rest.split_once('/')?;
        return Digest::parse(&format!("{alg}:{hex}")).ok();
    }
    let stem = name.strip_suffix(".json").or(name.strip_suffix(".tar"))?;
    Digest::parse(&format!("sha256:{stem}")).ok()
}

pub(crate) fn read(
    path: &Path,
    reference: Option<&str>,
    platform: &Platform,
    select: &Select,
    limits: &Limits,
) -> Result<Image, SourceError> {
    let what = path.display().to_string();
    let file = crate::rootfs::open_regular(path).map_err(|e| SourceError::io(&what, e))?;
    let mut reader = io::BufReader::with_capacity(1 << 16, file);
    let mut magic = [0u8; 2];
    if reader.read_exact(&mut magic).is_ok() && magic == [0x1f, 0x8b] {
        // `docker save IMAGE | gzip`: a tar is read by seeking, so it is inflated into the
        // scan's own temporary file first (removed when the scan ends), within the layer cap.
        reader
            .seek(SeekFrom::Start(0))
            .map_err(|e| SourceError::io(&what, e))?;
        let mut inflated = tempfile::NamedTempFile::new().map_err(|e| SourceError::io(&what, e))?;
        let mut gz = flate2::read::MultiGzDecoder::new(reader).take(limits.max_layer_bytes + 1);
        let n = io::copy(&mut gz, inflated.as_file_mut())
            .map_err(|e| SourceError::invalid(&what, format!("gzip: {e}")))?;
        if n > limits.max_layer_bytes {
            return Err(SourceError::TooLarge {
                what: format!("{what} inflated"),
                limit: limits.max_layer_bytes,
            });
        }
        let mut image = read(inflated.path(), reference, platform, select, limits)?;
        image.target = what;
        return Ok(image);
    }
    reader
        .seek(SeekFrom::Start(0))
        .map_err(|e| SourceError::io(&what, e))?;
    let mut members = HashMap::new();
    let mut tar = tar::Archive::new(reader);
    let entries = tar
        .entries_with_seek()
        .map_err(|e| SourceError::io(&what, e))?;
    for entry in entries {
        let entry = entry.map_err(|e| SourceError::io(&what, e))?;
        if members.len() >= MAX_MEMBERS {
            return Err(SourceError::invalid(
                &what,
                format!("more than {MAX_MEMBERS} members"),
            ));
        }
        let raw = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
        let Ok(name) = normalize(&raw) else { continue };
        let kind = entry.header().entry_type();
        let member = if kind.is_file() {
            Member::File {
                offset: entry.raw_file_position(),
                size: entry.size(),
            }
        } else if kind.is_symlink() || kind.is_hard_link() {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            // A symbolic link is relative to its member's directory, a hard link to the root;
            // either must stay inside the archive.
            let joined = if kind.is_symlink() && !target.starts_with('/') {
                match name.rsplit_once('/') {
                    Some((dir, _)) => format!("{dir}/{target}"),
                    None => target,
                }
            } else {
                target
            };
            match normalize(&joined) {
                Ok(t) => Member::Link(t),
                Err(_) => continue,
            }
        } else {
            continue;
        };
        members.insert(name, member);
    }
    let archive = Archive { path, members };

    if !archive.members.contains_key("manifest.json") {
        if archive.members.contains_key("index.json") {
            let index = archive.small("index.json", MAX_MANIFEST_BYTES)?;
            return crate::layout::read_index(
                &archive,
                &index,
                &format!("{what}: index.json"),
                what.clone(),
                reference,
                platform,
                select,
                limits,
            );
        }
        return Err(SourceError::invalid(
            &what,
            "neither manifest.json nor index.json: not a docker save archive",
        ));
    }
    let manifest_bytes = archive.small("manifest.json", MAX_MANIFEST_BYTES)?;
    let entries: Vec<Entry> = serde_json::from_slice(&manifest_bytes)
        .map_err(|e| SourceError::invalid(format!("{what}: manifest.json"), e))?;
    let tags = |e: &Entry| e.repo_tags.clone().unwrap_or_default();
    let all_tags = || {
        let t: Vec<String> = entries.iter().flat_map(tags).collect();
        if t.is_empty() {
            "none".into()
        } else {
            t.join(", ")
        }
    };
    let entry = match reference {
        Some(r) => {
            let wanted = crate::reference::Reference::parse(r).ok();
            entries
                .iter()
                .find(|e| {
                    tags(e).iter().any(|t| {
                        t == r
                            || wanted.as_ref().is_some_and(|w| {
                                crate::reference::Reference::parse(t).is_ok_and(|t| t.same_image(w))
                            })
                    })
                })
                .ok_or_else(|| {
                    SourceError::NotFound(format!(
                        "{what}: no image tagged {r:?} (tags: {})",
                        all_tags()
                    ))
                })?
        }
        None => match entries.as_slice() {
            [one] => one,
            [] => {
                return Err(SourceError::NotFound(format!(
                    "{what}: no image in manifest.json"
                )));
            }
            _ => {
                return Err(SourceError::invalid(
                    &what,
                    format!("several images, name one of: {}", all_tags()),
                ));
            }
        },
    };

    let config_bytes = archive.small(&entry.config, MAX_CONFIG_BYTES)?;
    let config_digest = digest_in_name(&entry.config);
    if let Some(d) = &config_digest {
        d.verify(&format!("{what}: config {}", entry.config), &config_bytes)?;
    }
    let config = crate::manifest::parse_config(
        &format!("{what}: config {}", entry.config),
        &config_bytes,
        &Default::default(),
    )?;
    if config.diff_ids.len() != entry.layers.len() {
        return Err(SourceError::invalid(
            &what,
            format!(
                "{} layers for {} diff_ids in the config",
                entry.layers.len(),
                config.diff_ids.len()
            ),
        ));
    }
    let diff_ids = config
        .diff_ids
        .iter()
        .map(|d| Digest::parse(d))
        .collect::<Result<Vec<_>, _>>()?;
    let mut image = Image {
        target: what.clone(),
        digest: None,
        config: None,
        layers: Vec::new(),
        tree: Tree::new(),
        errors: Vec::new(),
    };
    for (layer, diff_id) in entry.layers.iter().zip(&diff_ids) {
        let blob_digest = digest_in_name(layer).filter(|_| layer.starts_with("blobs/"));
        let (_, size) = archive.locate(layer)?;
        let name = format!("{layer} ({diff_id})");
        let blob = crate::layer::LayerBlob {
            name: &name,
            media_type: None,
            digest: blob_digest.as_ref(),
            size: Some(size),
            diff_id: Some(diff_id),
        };
        crate::layer::apply(
            &mut image.tree,
            archive.open(layer)?,
            &blob,
            select,
            limits,
            &mut image.errors,
        )?;
        image
            .layers
            .push(blob_digest.as_ref().unwrap_or(diff_id).to_string());
    }
    image.config = Some(config);
    Ok(image)
}
