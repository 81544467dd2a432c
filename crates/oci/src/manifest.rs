//! Indexes, manifests and configurations (OCI image-spec and Docker's image manifest v2.2), and
//! the choice of one image among several (by reference name, then by platform).

use std::collections::BTreeMap;

use serde::Deserialize;

use crate::digest::Digest;
use crate::{Platform, SourceError};

pub(crate) const OCI_INDEX: &str = "application/vnd.oci.image.index.v1+json";
pub(crate) const OCI_MANIFEST: &str = "application/vnd.oci.image.manifest.v1+json";
pub(crate) const DOCKER_LIST: &str = "application/vnd.docker.distribution.manifest.list.v2+json";
pub(crate) const DOCKER_MANIFEST: &str = "application/vnd.docker.distribution.manifest.v2+json";
const DOCKER_SCHEMA1: &[&str] = &[
    "application/vnd.docker.distribution.manifest.v1+json",
    "application/vnd.docker.distribution.manifest.v1+prettyjws",
];
const CONFIG_TYPES: &[&str] = &[
    "application/vnd.oci.image.config.v1+json",
    "application/vnd.docker.container.image.v1+json",
];

pub(crate) const REF_NAME: &str = "org.opencontainers.image.ref.name";
/// containerd (and `docker save` since 25) name the image fully here.
const CONTAINERD_NAME: &str = "io.containerd.image.name";

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Descriptor {
    #[serde(default)]
    pub media_type: String,
    pub digest: String,
    #[serde(default)]
    pub size: Option<i64>,
    #[serde(default)]
    pub platform: Option<PlatformJson>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

impl Descriptor {
    pub fn digest(&self) -> Result<Digest, SourceError> {
        Digest::parse(&self.digest)
    }
    /// The size as a cap: a negative one is refused.
    pub fn size(&self) -> Result<Option<u64>, SourceError> {
        match self.size {
            None => Ok(None),
            Some(s) => u64::try_from(s).map(Some).map_err(|_| {
                SourceError::invalid(format!("descriptor {}", self.digest), "negative size")
            }),
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct PlatformJson {
    #[serde(default)]
    pub architecture: String,
    #[serde(default)]
    pub os: String,
    #[serde(default)]
    pub variant: Option<String>,
}

/// An index or a manifest: which one is told by `mediaType` or by which list is present.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub(crate) struct Document {
    #[serde(default)]
    pub schema_version: Option<i64>,
    #[serde(default)]
    pub media_type: Option<String>,
    #[serde(default)]
    pub manifests: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub config: Option<Descriptor>,
    #[serde(default)]
    pub layers: Option<Vec<Descriptor>>,
    #[serde(default)]
    pub annotations: BTreeMap<String, String>,
}

pub(crate) enum Parsed {
    Index(Vec<Descriptor>),
    Manifest {
        config: Descriptor,
        layers: Vec<Descriptor>,
        annotations: BTreeMap<String, String>,
    },
}

/// Parses an index or image manifest; `content_type` is the registry's (or the descriptor's)
/// media type when known.
pub(crate) fn parse(
    what: &str,
    bytes: &[u8],
    content_type: Option<&str>,
) -> Result<Parsed, SourceError> {
    let doc: Document = serde_json::from_slice(bytes).map_err(|e| SourceError::invalid(what, e))?;
    let mt = doc
        .media_type
        .as_deref()
        .filter(|m| !m.is_empty())
        .or(content_type.filter(|m| !m.is_empty() && *m != "application/json"));
    if doc.schema_version == Some(1) || mt.is_some_and(|m| DOCKER_SCHEMA1.contains(&m)) {
        return Err(SourceError::Unsupported(format!(
            "{what}: Docker image manifest schema 1 (deprecated since 2017; push the image again with a current client)"
        )));
    }
    match (mt, doc.manifests, doc.config, doc.layers) {
        (Some(OCI_INDEX | DOCKER_LIST) | None, Some(manifests), _, _) => {
            Ok(Parsed::Index(manifests))
        }
        (Some(OCI_MANIFEST | DOCKER_MANIFEST) | None, None, Some(config), layers) => {
            if !CONFIG_TYPES.contains(&config.media_type.as_str()) {
                return Err(SourceError::Unsupported(format!(
                    "{what}: not a container image (config media type {:?})",
                    config.media_type
                )));
            }
            Ok(Parsed::Manifest {
                config,
                layers: layers.unwrap_or_default(),
                annotations: doc.annotations,
            })
        }
        (Some(m), ..) => Err(SourceError::Unsupported(format!("{what}: media type {m}"))),
        _ => Err(SourceError::invalid(
            what,
            "neither an image index nor an image manifest",
        )),
    }
}

/// Whether a descriptor of an index names an index or a manifest (an unknown type is
/// neither: attestations, signatures, artifacts).
pub(crate) fn is_index(d: &Descriptor) -> bool {
    d.media_type == OCI_INDEX || d.media_type == DOCKER_LIST
}
pub(crate) fn is_manifest(d: &Descriptor) -> bool {
    d.media_type == OCI_MANIFEST || d.media_type == DOCKER_MANIFEST
}

fn normalize_variant(arch: &str, v: Option<&str>) -> Option<String> {
    // image-index.md: arm64 without a variant is v8.
    match (arch, v) {
        ("arm64", None) => Some("v8".into()),
        (_, v) => v.map(str::to_string),
    }
}

fn matches(p: &PlatformJson, want: &Platform) -> bool {
    p.os == want.os
        && p.architecture == want.architecture
        && (want.variant.is_none()
            || normalize_variant(&p.architecture, p.variant.as_deref())
                == normalize_variant(&want.architecture, want.variant.as_deref()))
}

/// The entry of an index for `platform`: the first that matches (an entry without a platform
/// matches when it is the only image).
pub(crate) fn choose<'a>(
    entries: &'a [Descriptor],
    platform: &Platform,
) -> Result<&'a Descriptor, SourceError> {
    let images: Vec<&Descriptor> = entries
        .iter()
        .filter(|d| is_index(d) || is_manifest(d))
        .collect();
    if let Some(d) = images
        .iter()
        .find(|d| d.platform.as_ref().is_some_and(|p| matches(p, platform)))
    {
        return Ok(d);
    }
    let unplatformed: Vec<&&Descriptor> = images.iter().filter(|d| d.platform.is_none()).collect();
    if unplatformed.len() == 1 {
        return Ok(unplatformed[0]);
    }
    let available: Vec<String> = images
        .iter()
        .filter_map(|d| d.platform.as_ref())
        .map(|p| {
            let mut s = format!("{}/{}", p.os, p.architecture);
            if let Some(v) = &p.variant {
                s.push('/');
                s.push_str(v);
            }
            s
        })
        .collect();
    Err(SourceError::Platform {
        wanted: platform.to_string(),
        available: if available.is_empty() {
            "none".into()
        } else {
            available.join(", ")
        },
    })
}

/// Entries of a top-level index (a layout's `index.json`) named `reference`: by
/// `org.opencontainers.image.ref.name` as a whole, by its tag part, or by containerd's name.
pub(crate) fn by_reference<'a>(entries: &'a [Descriptor], reference: &str) -> Vec<&'a Descriptor> {
    let exact: Vec<&Descriptor> = entries
        .iter()
        .filter(|d| {
            d.annotations.get(REF_NAME).map(String::as_str) == Some(reference)
                || d.annotations.get(CONTAINERD_NAME).map(String::as_str) == Some(reference)
        })
        .collect();
    if !exact.is_empty() {
        return exact;
    }
    // `repo:tag` asked, the layout names only the tag (skopeo's oci:dir:tag), or the other
    // way round; a full reference is also tried in its normalized form.
    let normalized = crate::reference::Reference::parse(reference).ok();
    entries
        .iter()
        .filter(|d| {
            let name = d
                .annotations
                .get(REF_NAME)
                .or(d.annotations.get(CONTAINERD_NAME));
            let Some(name) = name else { return false };
            let tag_of = |r: &str| {
                r.rsplit_once(':')
                    .map(|(_, t)| t.to_string())
                    .filter(|t| !t.contains('/'))
            };
            tag_of(reference).as_deref() == Some(name.as_str())
                || tag_of(name).as_deref() == Some(reference)
                || normalized.as_ref().is_some_and(|n| {
                    crate::reference::Reference::parse(name).is_ok_and(|m| m.same_image(n))
                })
        })
        .collect()
}

/// What the scanner reports of an image's configuration
/// (<https://github.com/opencontainers/image-spec/blob/main/config.md>).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageConfig {
    /// RFC 3339, as written.
    pub created: Option<String>,
    pub os: Option<String>,
    pub architecture: Option<String>,
    pub variant: Option<String>,
    pub labels: BTreeMap<String, String>,
    /// The `created_by` of each history entry, oldest first.
    pub history: Vec<String>,
    /// `org.opencontainers.image.base.name` from the labels (or the manifest's annotations).
    pub base_name: Option<String>,
    /// `org.opencontainers.image.base.digest` likewise.
    pub base_digest: Option<String>,
    /// `rootfs.diff_ids`: digests of the uncompressed layers.
    pub diff_ids: Vec<String>,
}

#[derive(Deserialize)]
struct ConfigJson {
    #[serde(default)]
    created: Option<String>,
    #[serde(default)]
    os: Option<String>,
    #[serde(default)]
    architecture: Option<String>,
    #[serde(default)]
    variant: Option<String>,
    #[serde(default)]
    config: Option<RuntimeJson>,
    #[serde(default)]
    history: Option<Vec<HistoryJson>>,
    #[serde(default)]
    rootfs: Option<RootfsJson>,
}
#[derive(Deserialize)]
struct RuntimeJson {
    #[serde(default, rename = "Labels")]
    labels: Option<BTreeMap<String, String>>,
}
#[derive(Deserialize)]
struct HistoryJson {
    #[serde(default)]
    created_by: Option<String>,
}
#[derive(Deserialize)]
struct RootfsJson {
    #[serde(default)]
    diff_ids: Vec<String>,
}

pub(crate) fn parse_config(
    what: &str,
    bytes: &[u8],
    annotations: &BTreeMap<String, String>,
) -> Result<ImageConfig, SourceError> {
    let c: ConfigJson = serde_json::from_slice(bytes).map_err(|e| SourceError::invalid(what, e))?;
    let labels = c.config.and_then(|r| r.labels).unwrap_or_default();
    let pick = |key: &str| labels.get(key).or(annotations.get(key)).cloned();
    Ok(ImageConfig {
        created: c.created,
        os: c.os,
        architecture: c.architecture,
        variant: c.variant,
        base_name: pick("org.opencontainers.image.base.name"),
        base_digest: pick("org.opencontainers.image.base.digest"),
        history: c
            .history
            .unwrap_or_default()
            .into_iter()
            .filter_map(|h| h.created_by)
            .collect(),
        diff_ids: c.rootfs.map(|r| r.diff_ids).unwrap_or_default(),
        labels,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn desc(arch: &str, variant: Option<&str>) -> Descriptor {
        Descriptor {
            media_type: OCI_MANIFEST.into(),
            digest: format!("sha256:{}", "0".repeat(64)),
            size: Some(1),
            platform: Some(PlatformJson {
                architecture: arch.into(),
                os: "linux".into(),
                variant: variant.map(Into::into),
            }),
            annotations: BTreeMap::new(),
        }
    }

    #[test]
    fn platforms_are_chosen_with_variants() {
        let entries = vec![
            desc("amd64", None),
            desc("arm", Some("v7")),
            desc("arm64", Some("v8")),
        ];
        let p = |a: &str, v: Option<&str>| Platform {
            os: "linux".into(),
            architecture: a.into(),
            variant: v.map(Into::into),
        };
        assert!(choose(&entries, &p("arm64", None)).is_ok());
        assert!(choose(&entries, &p("arm", Some("v6"))).is_err());
        let e = choose(&entries, &p("s390x", None)).unwrap_err().to_string();
        assert!(e.contains("linux/arm/v7"), "{e}");
    }

    #[test]
    fn schema1_is_refused() {
        let e = parse("m", br#"{"schemaVersion":1,"fsLayers":[]}"#, None)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("schema 1"), "{e}");
    }
}
