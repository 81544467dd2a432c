//! Hostile input, crafted here: entries that climb out of the root, links out of it, a gzip
//! bomb, a truncated layer, blobs that do not match their digests, oversized files; and
//! the less common shapes a reader must still get right (zstd with several frames, a nested
//! multi-platform index, a `docker save` archive whose layers are links, a root filesystem
//! with a link to `/` and a FIFO).

mod common;

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::time::Instant;

use common::select;
use kubevigil_oci::{
    Limits, Node, Platform, SourceError, from_docker_archive, from_docker_archive_with,
    from_oci_layout, from_oci_layout_with, from_rootfs,
};
use sha2::{Digest as _, Sha256};

fn sha(data: &[u8]) -> String {
    format!("sha256:{:x}", Sha256::digest(data))
}

/// A tar entry written field by field, so that the tar crate's own path checks do not stop
/// the names an attacker would use.
fn raw(b: &mut tar::Builder<Vec<u8>>, name: &str, kind: tar::EntryType, data: &[u8], link: &str) {
    let mut h = tar::Header::new_old();
    {
        let old = h.as_old_mut();
        old.name[..name.len()].copy_from_slice(name.as_bytes());
        old.linkname[..link.len()].copy_from_slice(link.as_bytes());
    }
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(kind);
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn file(b: &mut tar::Builder<Vec<u8>>, name: &str, data: &[u8]) {
    raw(b, name, tar::EntryType::Regular, data, "");
}

fn gzip(data: &[u8]) -> Vec<u8> {
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    e.write_all(data).unwrap();
    e.finish().unwrap()
}

fn blob(dir: &Path, data: &[u8]) -> String {
    let d = sha(data);
    let p = dir.join("blobs/sha256");
    std::fs::create_dir_all(&p).unwrap();
    std::fs::write(p.join(&d[7..]), data).unwrap();
    d
}

const CONFIG: &str = r#"{"created":"2024-05-01T10:00:00Z","architecture":"amd64","os":"linux",
"config":{"Labels":{"org.opencontainers.image.base.name":"docker.io/library/debian:12"}},
"rootfs":{"type":"layers","diff_ids":[]},"history":[{"created_by":"RUN apt-get install -y curl"},{"empty_layer":true}]}"#;

/// A manifest over `layers` (blob, media type); returns its descriptor JSON.
fn manifest(dir: &Path, layers: &[(Vec<u8>, &str)], platform: Option<&str>) -> String {
    let config = blob(dir, CONFIG.as_bytes());
    let layers: Vec<String> = layers
        .iter()
        .map(|(data, mt)| {
            format!(
                r#"{{"mediaType":"{mt}","digest":"{}","size":{}}}"#,
                blob(dir, data),
                data.len()
            )
        })
        .collect();
    let m = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"{config}","size":{}}},"layers":[{}]}}"#,
        CONFIG.len(),
        layers.join(",")
    );
    let platform = platform.map_or(String::new(), |p| format!(r#","platform":{p}"#));
    format!(
        r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":{}{platform}}}"#,
        blob(dir, m.as_bytes()),
        m.len()
    )
}

fn layout(dir: &Path, layers: &[(Vec<u8>, &str)]) -> PathBuf {
    let m = manifest(dir, layers, None);
    std::fs::write(dir.join("oci-layout"), r#"{"imageLayoutVersion":"1.0.0"}"#).unwrap();
    std::fs::write(
        dir.join("index.json"),
        format!(r#"{{"schemaVersion":2,"manifests":[{m}]}}"#),
    )
    .unwrap();
    dir.to_path_buf()
}

const TAR: &str = "application/vnd.oci.image.layer.v1.tar";
const TGZ: &str = "application/vnd.oci.image.layer.v1.tar+gzip";
const TZST: &str = "application/vnd.oci.image.layer.v1.tar+zstd";

#[test]
fn entries_out_of_the_root_are_refused_and_the_rest_applies() {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "../etc/passwd", b"evil\n");
    file(&mut b, "etc/passwd", b"root:x:0:0\n");
    file(&mut b, "etc/shadow", b"image shadow\n");
    raw(
        &mut b,
        "etc/evil",
        tar::EntryType::Symlink,
        b"",
        "/etc/shadow",
    );
    raw(
        &mut b,
        "etc/evil2",
        tar::EntryType::Symlink,
        b"",
        "../../../../../etc/shadow",
    );
    raw(
        &mut b,
        "etc/hl",
        tar::EntryType::Link,
        b"",
        "../../etc/passwd",
    );
    file(&mut b, "etc/../../x/.wh.y", b"");
    file(&mut b, "etc/after", b"still read\n");
    let layer = b.into_inner().unwrap();
    let digest = sha(&layer);
    // Through a link to `/` of a lower layer: lands in the image's root, not the host's.
    let mut lower = tar::Builder::new(Vec::new());
    raw(&mut lower, "up", tar::EntryType::Symlink, b"", "../../..");
    let mut upper = tar::Builder::new(Vec::new());
    file(&mut upper, "up/etc/via-link", b"inside\n");
    let tmp = tempfile::tempdir().unwrap();
    let dir = layout(
        tmp.path(),
        &[
            (layer, TAR),
            (lower.into_inner().unwrap(), TAR),
            (upper.into_inner().unwrap(), TAR),
        ],
    );
    let image = from_oci_layout(&dir, None, &Platform::default(), &select()).unwrap();
    let t = &image.tree;
    assert_eq!(t.read("etc/passwd"), Some(&b"root:x:0:0\n"[..]));
    assert_eq!(t.read("etc/after"), Some(&b"still read\n"[..]));
    assert_eq!(
        t.get("etc/evil"),
        Some(&Node::Symlink("/etc/shadow".into()))
    );
    assert_eq!(t.read("etc/evil"), Some(&b"image shadow\n"[..]));
    assert_eq!(t.read("etc/evil2"), Some(&b"image shadow\n"[..]));
    assert_eq!(t.read("etc/via-link"), Some(&b"inside\n"[..]));
    assert_eq!(t.get("etc/hl"), None);
    let errors: Vec<String> = image.errors.iter().map(ToString::to_string).collect();
    assert_eq!(errors.len(), 3, "{errors:#?}");
    assert!(
        errors[0].contains(&digest) && errors[0].contains("\"../etc/passwd\""),
        "{errors:#?}"
    );
    assert!(errors.iter().any(|e| e.contains("etc/hl")), "{errors:#?}");
    let config = image.config.unwrap();
    assert_eq!(
        config.base_name.as_deref(),
        Some("docker.io/library/debian:12")
    );
    assert_eq!(config.history, ["RUN apt-get install -y curl"]);
    assert_eq!(config.created.as_deref(), Some("2024-05-01T10:00:00Z"));
}

#[test]
fn a_gzip_bomb_stops_at_the_cap() {
    // 512 MiB of zeros in one file: about 0.5 MiB compressed.
    let size: u64 = 512 << 20;
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    b.append_data(&mut h, "var/zeros", std::io::repeat(0).take(size))
        .unwrap();
    let layer = b.into_inner().unwrap().finish().unwrap();
    assert!(layer.len() < 4 << 20);
    let tmp = tempfile::tempdir().unwrap();
    let dir = layout(tmp.path(), &[(layer, TGZ)]);
    let limits = Limits {
        max_layer_bytes: 64 << 20,
        max_file_bytes: 1 << 30,
    };
    let started = Instant::now();
    let e = from_oci_layout_with(&dir, None, &Platform::default(), &select(), &limits).unwrap_err();
    assert!(
        matches!(&e, SourceError::TooLarge { limit, .. } if *limit == 64 << 20),
        "{e}"
    );
    assert!(e.to_string().contains("uncompressed"), "{e}");
    eprintln!("bomb refused after {:?}", started.elapsed());
}

/// A gzip-compressed `docker save` archive is inflated (into a temporary file) within the layer
/// cap: one that inflates past it stops there.
#[test]
fn a_gzipped_archive_that_inflates_past_the_cap_stops() {
    let size: u64 = 256 << 20;
    let mut b = tar::Builder::new(flate2::write::GzEncoder::new(
        Vec::new(),
        flate2::Compression::fast(),
    ));
    let mut h = tar::Header::new_gnu();
    h.set_size(size);
    h.set_mode(0o644);
    b.append_data(&mut h, "zeros.tar", std::io::repeat(0).take(size))
        .unwrap();
    let archive = b.into_inner().unwrap().finish().unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("image.tar.gz");
    std::fs::write(&path, archive).unwrap();
    let limits = Limits {
        max_layer_bytes: 16 << 20,
        max_file_bytes: 1 << 30,
    };
    let e = from_docker_archive_with(&path, None, &Platform::default(), &select(), &limits)
        .unwrap_err();
    assert!(
        matches!(&e, SourceError::TooLarge { limit, .. } if *limit == 16 << 20),
        "{e}"
    );
    assert!(e.to_string().contains("image.tar.gz"), "{e}");
}

#[test]
fn a_truncated_gzip_layer_is_an_error_naming_it() {
    let mut b = tar::Builder::new(Vec::new());
    for i in 0..50 {
        file(
            &mut b,
            &format!("etc/f{i}"),
            format!("{i}").repeat(2000).as_bytes(),
        );
    }
    let gz = gzip(&b.into_inner().unwrap());
    // The descriptor matches the truncated blob: only the decompression can tell.
    let cut = gz[..gz.len() / 2].to_vec();
    let digest = sha(&cut);
    let tmp = tempfile::tempdir().unwrap();
    let dir = layout(tmp.path(), &[(cut, TGZ)]);
    let e = from_oci_layout(&dir, None, &Platform::default(), &select()).unwrap_err();
    assert!(matches!(&e, SourceError::Layer { .. }), "{e}");
    assert!(e.to_string().contains(&digest), "{e}");
}

#[test]
fn blobs_that_do_not_match_their_digest_are_errors() {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "etc/os-release", b"ID=test\n");
    let layer = gzip(&b.into_inner().unwrap());
    let digest = sha(&layer);
    let tmp = tempfile::tempdir().unwrap();
    let dir = layout(tmp.path(), &[(layer.clone(), TGZ)]);
    // Same size, one byte changed in the gzip trailer (the tar itself still reads).
    let mut bad = layer;
    let last = bad.len() - 1;
    bad[last] ^= 0xff;
    std::fs::write(dir.join("blobs/sha256").join(&digest[7..]), &bad).unwrap();
    let e = from_oci_layout(&dir, None, &Platform::default(), &select()).unwrap_err();
    let shown = e.to_string();
    assert!(
        matches!(e, SourceError::Digest { .. } | SourceError::Layer { .. }),
        "{shown}"
    );
    assert!(shown.contains(&digest), "{shown}");

    // The uncompressed case, where only the digest can tell.
    let tmp = tempfile::tempdir().unwrap();
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "etc/os-release", b"ID=test\n");
    let layer = b.into_inner().unwrap();
    let digest = sha(&layer);
    let dir = layout(tmp.path(), &[(layer.clone(), TAR)]);
    let mut bad = layer;
    bad[600] = b'X';
    std::fs::write(dir.join("blobs/sha256").join(&digest[7..]), &bad).unwrap();
    let e = from_oci_layout(&dir, None, &Platform::default(), &select()).unwrap_err();
    assert!(matches!(e, SourceError::Digest { .. }), "{e}");

    // A manifest blob changed.
    let tmp = tempfile::tempdir().unwrap();
    let dir = layout(tmp.path(), &[]);
    let index = std::fs::read_to_string(dir.join("index.json")).unwrap();
    let m = index.split("\"digest\":\"sha256:").nth(1).unwrap()[..64].to_string();
    let p = dir.join("blobs/sha256").join(&m);
    let mut content = std::fs::read(&p).unwrap();
    content[0] = b' ';
    std::fs::write(&p, content).unwrap();
    let e = from_oci_layout(&dir, None, &Platform::default(), &select()).unwrap_err();
    assert!(matches!(e, SourceError::Digest { .. }), "{e}");
}

#[test]
fn a_kept_file_over_the_cap_is_left_out_and_reported() {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "var/big", &vec![b'x'; 3 << 20]);
    file(&mut b, "var/small", b"ok");
    let tmp = tempfile::tempdir().unwrap();
    let dir = layout(tmp.path(), &[(b.into_inner().unwrap(), TAR)]);
    let limits = Limits {
        max_file_bytes: 1 << 20,
        ..Limits::default()
    };
    let image = from_oci_layout_with(&dir, None, &Platform::default(), &select(), &limits).unwrap();
    assert_eq!(image.tree.get("var/big"), None);
    assert_eq!(image.tree.read("var/small"), Some(&b"ok"[..]));
    assert_eq!(image.errors.len(), 1);
    assert!(image.errors[0].to_string().contains("var/big"));
}

#[test]
fn zstd_layers_with_several_frames() {
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "etc/os-release", b"ID=alpine\n");
    file(&mut b, "var/x", &vec![b'y'; 100_000]);
    let tar = b.into_inner().unwrap();
    let (one, two) = tar.split_at(tar.len() / 2);
    let level = ruzstd::encoding::CompressionLevel::Fastest;
    let mut layer = ruzstd::encoding::compress_to_vec(one, level);
    // A skippable frame between them, as zstd:chunked writes its metadata.
    layer.extend_from_slice(&0x184D_2A50u32.to_le_bytes());
    layer.extend_from_slice(&4u32.to_le_bytes());
    layer.extend_from_slice(b"meta");
    layer.extend(ruzstd::encoding::compress_to_vec(two, level));
    let tmp = tempfile::tempdir().unwrap();
    let dir = layout(tmp.path(), &[(layer, TZST)]);
    let image = from_oci_layout(&dir, None, &Platform::default(), &select()).unwrap();
    assert_eq!(image.tree.read("etc/os-release"), Some(&b"ID=alpine\n"[..]));
    assert_eq!(image.tree.read("var/x").map(<[u8]>::len), Some(100_000));
}

#[test]
fn a_nested_multi_platform_index_is_resolved_for_the_platform() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path();
    let layer_for = |arch: &str| {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, "etc/arch", arch.as_bytes());
        (b.into_inner().unwrap(), TAR)
    };
    let amd = manifest(
        dir,
        &[layer_for("amd64")],
        Some(r#"{"os":"linux","architecture":"amd64"}"#),
    );
    let arm = manifest(
        dir,
        &[layer_for("arm64")],
        Some(r#"{"os":"linux","architecture":"arm64","variant":"v8"}"#),
    );
    let attestation = format!(
        r#"{{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"{}","size":2,"platform":{{"os":"unknown","architecture":"unknown"}}}}"#,
        blob(dir, b"{}")
    );
    let index = format!(
        r#"{{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{amd},{arm},{attestation}]}}"#
    );
    let index_digest = blob(dir, index.as_bytes());
    std::fs::write(
        dir.join("index.json"),
        format!(
            r#"{{"schemaVersion":2,"manifests":[{{"mediaType":"application/vnd.oci.image.index.v1+json","digest":"{index_digest}","size":{},"annotations":{{"org.opencontainers.image.ref.name":"docker.io/library/app:1"}}}}]}}"#,
            index.len()
        ),
    )
    .unwrap();
    let arm64 = Platform {
        os: "linux".into(),
        architecture: "arm64".into(),
        variant: None,
    };
    let image = from_oci_layout(dir, Some("app:1"), &arm64, &select()).unwrap();
    assert_eq!(image.tree.read("etc/arch"), Some(&b"arm64"[..]));
    assert_eq!(image.digest.as_deref(), Some(index_digest.as_str()));
    let s390x = Platform {
        architecture: "s390x".into(),
        ..arm64
    };
    let e = from_oci_layout(dir, Some("docker.io/library/app:1"), &s390x, &select()).unwrap_err();
    let shown = e.to_string();
    assert!(
        shown.contains("linux/s390x") && shown.contains("linux/arm64/v8"),
        "{shown}"
    );
}

#[test]
fn a_docker_save_archive_with_linked_layers() {
    let layer = |name: &str| {
        let mut b = tar::Builder::new(Vec::new());
        file(&mut b, name, b"x");
        b.into_inner().unwrap()
    };
    let (l1, l2) = (layer("etc/one"), layer("etc/two"));
    let config = format!(
        r#"{{"os":"linux","architecture":"amd64","rootfs":{{"type":"layers","diff_ids":["{}","{}","{}"]}}}}"#,
        sha(&l1),
        sha(&l2),
        sha(&l1)
    );
    let config_name = format!("{}.json", &sha(config.as_bytes())[7..]);
    let manifest = format!(
        r#"[{{"Config":"{config_name}","RepoTags":["app:1"],"Layers":["a/layer.tar","b/layer.tar","c/layer.tar"]}}]"#
    );
    let mut b = tar::Builder::new(Vec::new());
    file(&mut b, "manifest.json", manifest.as_bytes());
    file(&mut b, &config_name, config.as_bytes());
    file(&mut b, "a/layer.tar", &l1);
    file(&mut b, "b/layer.tar", &l2);
    // Older `docker save` writes a repeated layer as a link to its first copy.
    raw(
        &mut b,
        "c/layer.tar",
        tar::EntryType::Symlink,
        b"",
        "../a/layer.tar",
    );
    let tmp = tempfile::tempdir().unwrap();
    let path = tmp.path().join("save.tar");
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    let image = from_docker_archive(&path, None, &Platform::default(), &select()).unwrap();
    assert_eq!(image.tree.read("etc/one"), Some(&b"x"[..]));
    assert_eq!(image.tree.read("etc/two"), Some(&b"x"[..]));
    assert_eq!(image.layers, [sha(&l1), sha(&l2), sha(&l1)]);

    // A layer that is not what the config's diff_ids say.
    let bad_config = config.replace(&sha(&l2), &sha(b"other"));
    let bad_name = format!("{}.json", &sha(bad_config.as_bytes())[7..]);
    let mut b = tar::Builder::new(Vec::new());
    file(
        &mut b,
        "manifest.json",
        manifest.replace(&config_name, &bad_name).as_bytes(),
    );
    file(&mut b, &bad_name, bad_config.as_bytes());
    file(&mut b, "a/layer.tar", &l1);
    file(&mut b, "b/layer.tar", &l2);
    file(&mut b, "c/layer.tar", &l1);
    std::fs::write(&path, b.into_inner().unwrap()).unwrap();
    let e = from_docker_archive(&path, None, &Platform::default(), &select()).unwrap_err();
    assert!(matches!(e, SourceError::Digest { .. }), "{e}");
    assert!(e.to_string().contains("b/layer.tar"), "{e}");
}

#[test]
fn a_root_filesystem_with_a_link_to_the_host_root_and_a_fifo() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path();
    common::put(root, "etc/os-release", b"ID=test\n");
    common::put(root, "usr/lib/os-release", b"ID=lib\n");
    std::os::unix::fs::symlink("/", root.join("host")).unwrap();
    std::os::unix::fs::symlink("/etc", root.join("var-etc")).unwrap();
    let fifo = root.join("etc/fifo");
    let made = std::process::Command::new("mkfifo")
        .arg(&fifo)
        .status()
        .is_ok_and(|s| s.success());
    let image = from_rootfs(root, &select()).unwrap();
    let t = &image.tree;
    assert_eq!(t.get("host"), Some(&Node::Symlink("/".into())));
    // Through the link: the image's own files, never the host's.
    assert_eq!(t.read("host/etc/os-release"), Some(&b"ID=test\n"[..]));
    assert_eq!(t.read("var-etc/os-release"), Some(&b"ID=test\n"[..]));
    assert_eq!(t.read("host/etc/shadow"), None);
    assert!(!t.iter().any(|(p, _)| p.starts_with("host/")));
    if made {
        assert_eq!(t.get("etc/fifo"), None);
    }
    assert!(image.errors.is_empty(), "{:?}", image.errors);
}
