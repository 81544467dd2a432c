//! One layer (a tar changeset, plain, gzip or zstd) applied to the tree, as the OCI layer
//! specification says (<https://github.com/opencontainers/image-spec/blob/main/layer.md>):
//! the layer's whiteouts only hide what the lower layers hold, so they are applied first and
//! the layer's own entries after them. A layer's changes are therefore gathered while it is
//! read and applied only once the whole blob has been read and its digest verified: a layer
//! that fails verification leaves the tree untouched.

use std::io::{self, Read};

use kubevigil_image::tree::{Keep, Node, Tree, normalize};
use ruzstd::decoding::{BlockDecodingStrategy, FrameDecoder};

use crate::digest::{Digest, HashingReader, limit_of};
use crate::{Limits, Select, SourceError};

/// What is known of a layer blob before it is read.
pub(crate) struct LayerBlob<'a> {
    /// Names the layer in errors (its digest, or its file in an archive).
    pub name: &'a str,
    pub media_type: Option<&'a str>,
    /// Digest of the blob as stored (compressed).
    pub digest: Option<&'a Digest>,
    /// The descriptor's size: the blob may not hold more.
    pub size: Option<u64>,
    /// Digest of the uncompressed tar (a `docker save` layer is checked against the config's
    /// `rootfs.diff_ids`).
    pub diff_id: Option<&'a Digest>,
}

/// Layer media types read (image-spec media-types.md, and Docker's image manifest v2.2:
/// <https://github.com/distribution/distribution/blob/main/docs/content/spec/manifest-v2-2.md>).
/// The compression is sniffed from the content, as registries and tools mislabel it.
pub(crate) fn supported_layer_type(media_type: &str) -> bool {
    matches!(
        media_type,
        "application/vnd.oci.image.layer.v1.tar"
            | "application/vnd.oci.image.layer.v1.tar+gzip"
            | "application/vnd.oci.image.layer.v1.tar+zstd"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip"
            | "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd"
            | "application/vnd.docker.image.rootfs.diff.tar"
            | "application/vnd.docker.image.rootfs.diff.tar.gzip"
            | "application/vnd.docker.image.rootfs.foreign.diff.tar.gzip"
    )
}

enum Change {
    Put(String, Node),
    /// A file that is not kept, a device or a FIFO: it still hides what was at its path.
    Hide(String),
    Hardlink(String, String),
}

/// A zstd window larger than this is refused: the decoder would allocate it (zstd's own CLI
/// refuses above 128 MiB unless told otherwise).
const MAX_ZSTD_WINDOW: u64 = 1 << 28;

/// Reads the layer from `reader` and applies it to `tree`. Problems with single entries go to
/// `errors`; an error that makes the layer unreadable (corrupt compression, truncation, a cap,
/// a digest mismatch) is returned and the tree is left as it was.
/// Applies the layer a manifest's `descriptor` names, read from `reader`, to `image`: its tree
/// and errors, and its digest appended to the image's layers.
pub(crate) fn apply_descriptor(
    image: &mut crate::Image,
    descriptor: &crate::manifest::Descriptor,
    reader: impl Read,
    select: &Select,
    limits: &Limits,
) -> Result<(), SourceError> {
    let d = descriptor.digest()?;
    let blob = LayerBlob {
        name: &descriptor.digest,
        media_type: Some(&descriptor.media_type),
        digest: Some(&d),
        size: descriptor.size()?,
        diff_id: None,
    };
    apply(
        &mut image.tree,
        reader,
        &blob,
        select,
        limits,
        &mut image.errors,
    )?;
    image.layers.push(d.to_string());
    Ok(())
}

pub(crate) fn apply(
    tree: &mut Tree,
    reader: impl Read,
    blob: &LayerBlob,
    select: &Select,
    limits: &Limits,
    errors: &mut Vec<SourceError>,
) -> Result<(), SourceError> {
    let layer = blob.name;
    if let Some(mt) = blob.media_type {
        if !supported_layer_type(mt) {
            return Err(SourceError::Unsupported(format!(
                "layer {layer}: media type {mt}"
            )));
        }
    }
    let fail = |e: io::Error| match limit_of(&e) {
        Some((limit, what)) => SourceError::TooLarge {
            what: format!("layer {layer}: {what}"),
            limit,
        },
        None => SourceError::Layer {
            layer: layer.to_string(),
            reason: e.to_string(),
        },
    };
    let mut raw = HashingReader::new(
        reader,
        Some(blob.digest.map_or("sha256", |d| d.algorithm)),
        blob.size.unwrap_or(limits.max_layer_bytes),
        "blob size",
    );
    let mut changes = Vec::new();
    let mut whiteouts = Vec::new();
    let mut opaque = Vec::new();
    let diff_id = {
        let mut peek = Peek::new(&mut raw);
        let magic = peek.peek(4).map_err(fail)?.to_vec();
        let decoded: Box<dyn Read + '_> = if magic.starts_with(&[0x1f, 0x8b]) {
            Box::new(flate2::read::MultiGzDecoder::new(peek))
        } else if magic == [0x28, 0xb5, 0x2f, 0xfd] {
            Box::new(Zstd::new(peek))
        } else {
            Box::new(peek)
        };
        let mut tar_stream = HashingReader::new(
            decoded,
            blob.diff_id.map(|d| d.algorithm),
            limits.max_layer_bytes,
            "uncompressed size",
        );
        {
            let mut archive = tar::Archive::new(&mut tar_stream);
            let entries = archive.entries().map_err(fail)?;
            for entry in entries {
                let entry = entry.map_err(fail)?;
                read_entry(
                    entry,
                    tree,
                    layer,
                    select,
                    limits,
                    &mut changes,
                    &mut whiteouts,
                    &mut opaque,
                    errors,
                )
                .map_err(fail)?;
            }
        }
        // The tar ends with zero blocks; what follows is still part of the blob and must be
        // read to verify the digest (and the compression's own checksum).
        io::copy(&mut tar_stream, &mut io::sink()).map_err(fail)?;
        blob.diff_id.map(|_| tar_stream.finish())
    };
    io::copy(&mut raw, &mut io::sink()).map_err(fail)?;
    if let Some(size) = blob.size {
        if raw.count != size {
            return Err(SourceError::Layer {
                layer: layer.to_string(),
                reason: format!("{} bytes where the descriptor says {size}", raw.count),
            });
        }
    }
    let actual = raw.finish();
    if let Some(expected) = blob.digest {
        expected.check(&format!("layer {layer}"), actual)?;
    }
    if let (Some(expected), Some(actual)) = (blob.diff_id, diff_id) {
        expected.check(&format!("layer {layer} (uncompressed)"), actual)?;
    }

    for dir in opaque {
        let _ = tree.clear_dir(&in_tree(tree, &dir));
    }
    for path in whiteouts {
        let _ = tree.whiteout(&in_tree(tree, &path));
    }
    for change in changes {
        match change {
            Change::Put(path, node) => {
                let _ = tree.insert(&in_tree(tree, &path), node);
            }
            Change::Hide(path) => {
                let _ = tree.whiteout(&in_tree(tree, &path));
            }
            Change::Hardlink(path, target) => {
                let path = in_tree(tree, &path);
                match tree.get(&target).cloned() {
                    Some(node) if node != Node::Dir => {
                        let _ = tree.insert(&path, node);
                    }
                    // Linked to a file that was not kept: the link hides the lower content.
                    _ => {
                        let _ = tree.whiteout(&path);
                    }
                }
            }
        }
    }
    Ok(())
}

/// `path` with the links in its directories resolved inside the tree (chroot-like), as a
/// runtime extracting the layer into a root would put it.
fn in_tree(tree: &Tree, path: &str) -> String {
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", path));
    match tree.resolve(dir) {
        Some(d) if !d.is_empty() => format!("{d}/{name}"),
        Some(_) => name.to_string(),
        None => path.to_string(),
    }
}

#[allow(clippy::too_many_arguments)]
fn read_entry<R: Read>(
    mut entry: tar::Entry<'_, R>,
    lower: &Tree,
    layer: &str,
    select: &Select,
    limits: &Limits,
    changes: &mut Vec<Change>,
    whiteouts: &mut Vec<String>,
    opaque: &mut Vec<String>,
    errors: &mut Vec<SourceError>,
) -> io::Result<()> {
    let raw_path = String::from_utf8_lossy(&entry.path_bytes()).into_owned();
    let refuse = |reason: &str| SourceError::Entry {
        layer: layer.to_string(),
        entry: raw_path.clone(),
        reason: reason.to_string(),
    };
    let path = match normalize(&raw_path) {
        Ok(p) => p,
        Err(e) => {
            errors.push(refuse(&e.to_string()));
            return Ok(());
        }
    };
    if path.is_empty() {
        return Ok(());
    }
    let (dir, name) = path.rsplit_once('/').unwrap_or(("", &path));
    // Whiteouts (layer.md#whiteouts): `.wh.<name>` removes <name>, `.wh..wh..opq` empties
    // its directory; other `.wh..wh.` names are AUFS metadata without meaning here.
    if let Some(hidden) = name.strip_prefix(".wh.") {
        if name == ".wh..wh..opq" {
            opaque.push(dir.to_string());
        } else if hidden.starts_with(".wh.") {
        } else if hidden.is_empty() {
            errors.push(refuse("whiteout without a name"));
        } else if dir.is_empty() {
            whiteouts.push(hidden.to_string());
        } else {
            whiteouts.push(format!("{dir}/{hidden}"));
        }
        return Ok(());
    }
    let header = entry.header();
    let kind = header.entry_type();
    match kind {
        tar::EntryType::Regular | tar::EntryType::Continuous | tar::EntryType::GNUSparse => {
            let size = entry.size();
            let executable = header.mode().unwrap_or(0) & 0o111 != 0;
            // The caller judges the path the file will have: through the links of the lower
            // layers (`lib -> usr/lib`), as it is applied.
            let seen = in_tree(lower, &path);
            let keep = (select.keep)(&seen, size, executable);
            if keep == Keep::No {
                changes.push(Change::Hide(path));
                return Ok(());
            }
            if size > limits.max_file_bytes {
                errors.push(refuse(&format!(
                    "kept file of {size} bytes exceeds the per-file cap of {} bytes",
                    limits.max_file_bytes
                )));
                changes.push(Change::Hide(path));
                return Ok(());
            }
            let mut data = Vec::with_capacity(usize::try_from(size).unwrap_or(0).min(1 << 20));
            (&mut entry)
                .take(limits.max_file_bytes)
                .read_to_end(&mut data)?;
            let node = if keep == Keep::Binary {
                Node::Binary((select.binary)(&seen, &data))
            } else {
                Node::File(data)
            };
            changes.push(Change::Put(path, node));
        }
        tar::EntryType::Directory => changes.push(Change::Put(path, Node::Dir)),
        tar::EntryType::Symlink => {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            // Recorded as written: the tree resolves it chroot-like, the host never sees it.
            changes.push(Change::Put(path, Node::Symlink(target)));
        }
        tar::EntryType::Link => {
            let target = entry
                .link_name_bytes()
                .map(|t| String::from_utf8_lossy(&t).into_owned())
                .unwrap_or_default();
            match normalize(&target) {
                Ok(t) if !t.is_empty() => changes.push(Change::Hardlink(path, t)),
                _ => {
                    errors.push(refuse(&format!(
                        "hard link target {target:?} is outside the root"
                    )));
                    changes.push(Change::Hide(path));
                }
            }
        }
        tar::EntryType::Char | tar::EntryType::Block | tar::EntryType::Fifo => {
            changes.push(Change::Hide(path));
        }
        // PAX global headers and anything unknown carry no file.
        _ => {}
    }
    Ok(())
}

/// A reader that can look at its first bytes before handing them on.
pub(crate) struct Peek<R> {
    inner: R,
    buf: Vec<u8>,
    pos: usize,
}

impl<R: Read> Peek<R> {
    pub fn new(inner: R) -> Self {
        Peek {
            inner,
            buf: Vec::new(),
            pos: 0,
        }
    }

    /// Up to `n` next bytes (fewer at the end of the stream), not consumed.
    pub fn peek(&mut self, n: usize) -> io::Result<&[u8]> {
        if self.pos > 0 {
            self.buf.drain(..self.pos);
            self.pos = 0;
        }
        let mut chunk = [0u8; 64];
        while self.buf.len() < n {
            let want = (n - self.buf.len()).min(chunk.len());
            let got = self.inner.read(&mut chunk[..want])?;
            if got == 0 {
                break;
            }
            self.buf.extend_from_slice(&chunk[..got]);
        }
        Ok(&self.buf[..n.min(self.buf.len())])
    }
}

impl<R: Read> Read for Peek<R> {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        if self.pos < self.buf.len() {
            let n = out.len().min(self.buf.len() - self.pos);
            out[..n].copy_from_slice(&self.buf[self.pos..self.pos + n]);
            self.pos += n;
            return Ok(n);
        }
        self.inner.read(out)
    }
}

/// A zstd stream of any number of frames (zstd:chunked layers have many, and skippable ones
/// for their metadata: <https://datatracker.ietf.org/doc/html/rfc8878#section-3.1>), each
/// frame's window checked before the decoder allocates it.
struct Zstd<R> {
    src: Peek<R>,
    dec: FrameDecoder,
    active: bool,
}

impl<R: Read> Zstd<R> {
    fn new(src: Peek<R>) -> Self {
        Zstd {
            src,
            dec: FrameDecoder::new(),
            active: false,
        }
    }
}

fn window_size(head: &[u8]) -> Option<u64> {
    let fhd = *head.get(4)?;
    if fhd & 0x20 == 0 {
        let wd = *head.get(5)?;
        let base = 1u64 << (10 + u32::from(wd >> 3));
        return Some(base + (base >> 3) * u64::from(wd & 7));
    }
    // Single segment: the window is the frame's content size.
    let did = [0usize, 1, 2, 4][usize::from(fhd & 3)];
    let fcs = [1usize, 2, 4, 8][usize::from(fhd >> 6)];
    let bytes = head.get(5 + did..5 + did + fcs)?;
    let mut v = 0u64;
    for (i, b) in bytes.iter().enumerate() {
        v |= u64::from(*b) << (8 * i);
    }
    Some(if fcs == 2 { v + 256 } else { v })
}

impl<R: Read> Read for Zstd<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        if buf.is_empty() {
            return Ok(0);
        }
        loop {
            if self.active {
                while self.dec.can_collect() < buf.len() && !self.dec.is_finished() {
                    let more = buf.len() - self.dec.can_collect();
                    self.dec
                        .decode_blocks(&mut self.src, BlockDecodingStrategy::UptoBytes(more))
                        .map_err(io::Error::other)?;
                }
                let n = self.dec.read(buf)?;
                if n > 0 {
                    return Ok(n);
                }
                if self.dec.is_finished() {
                    if let (Some(want), Some(got)) = (
                        self.dec.get_checksum_from_data(),
                        self.dec.get_calculated_checksum(),
                    ) {
                        if want != got {
                            return Err(io::Error::other("zstd frame checksum mismatch"));
                        }
                    }
                    self.active = false;
                }
                continue;
            }
            let head = self.src.peek(18)?;
            if head.is_empty() {
                return Ok(0);
            }
            let magic = head
                .get(..4)
                .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
                .ok_or_else(|| io::Error::new(io::ErrorKind::UnexpectedEof, "truncated zstd"))?;
            if magic & 0xFFFF_FFF0 == 0x184D_2A50 {
                let len = head
                    .get(4..8)
                    .map(|m| u32::from_le_bytes([m[0], m[1], m[2], m[3]]))
                    .ok_or_else(|| {
                        io::Error::new(io::ErrorKind::UnexpectedEof, "truncated zstd")
                    })?;
                let skip = 8 + u64::from(len);
                let skipped = io::copy(&mut (&mut self.src).take(skip), &mut io::sink())?;
                if skipped != skip {
                    return Err(io::Error::new(
                        io::ErrorKind::UnexpectedEof,
                        "truncated zstd skippable frame",
                    ));
                }
                continue;
            }
            if magic != 0xFD2F_B528 {
                return Err(io::Error::other("data after the zstd stream"));
            }
            if let Some(w) = window_size(head) {
                if w > MAX_ZSTD_WINDOW {
                    return Err(io::Error::other(format!(
                        "zstd window of {w} bytes over the {MAX_ZSTD_WINDOW} allowed"
                    )));
                }
            }
            self.dec.reset(&mut self.src).map_err(io::Error::other)?;
            self.active = true;
        }
    }
}
