//! Real images built offline: umoci builds a three-layer OCI layout (a deleted file, a
//! replaced directory, an opaque whiteout, a symlink, a hard link), skopeo turns it into a
//! `docker save`-style archive and pushes it to a loopback `docker-registry` with htpasswd
//! authentication. Every source must give the same tree.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use common::{have, put, run, select};
use kubevigil_oci::{
    Credentials, Image, Node, Platform, PullOptions, SourceError, from_docker_archive,
    from_oci_layout, pull,
};

fn tar_entry(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    b.append_data(&mut h, path, data).unwrap();
}

/// The layout `<dir>/L` with the image `t`.
fn build(dir: &Path) -> PathBuf {
    let layout = dir.join("L");
    let bundle = dir.join("B");
    let umoci = |args: &[&str]| run(Command::new("umoci").args(args).current_dir(dir));
    umoci(&["init", "--layout", "L"]);
    umoci(&["new", "--image", "L:t"]);
    umoci(&["unpack", "--rootless", "--image", "L:t", "B"]);
    let root = bundle.join("rootfs");
    put(
        &root,
        "etc/os-release",
        &std::fs::read("/etc/os-release").unwrap(),
    );
    put(
        &root,
        "var/lib/dpkg/status",
        &std::fs::read("/var/lib/dpkg/status").unwrap(),
    );
    put(&root, "etc/gone", b"to be deleted\n");
    put(&root, "opt/d/a", b"a\n");
    put(&root, "usr/share/doc/old", b"old\n");
    put(&root, "bin/tool", b"\x7fELF pretend");
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(
        root.join("bin/tool"),
        std::fs::Permissions::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/os-release", root.join("etc/link")).unwrap();
    umoci(&["repack", "--image", "L:t", "B"]);
    std::fs::remove_dir_all(&bundle).unwrap();

    // Layer 2: a file deleted (`.wh.gone`), a directory's content replaced.
    umoci(&["unpack", "--rootless", "--image", "L:t", "B"]);
    std::fs::remove_file(root.join("etc/gone")).unwrap();
    std::fs::remove_file(root.join("opt/d/a")).unwrap();
    put(&root, "opt/d/b", b"b\n");
    umoci(&["repack", "--image", "L:t", "B"]);

    // Layer 3, written by hand: an opaque directory, a hard link to a lower file, and a
    // whiteout of a file the same layer adds (whiteouts only hide lower layers).
    let mut b = tar::Builder::new(Vec::new());
    tar_entry(&mut b, "usr/share/doc/.wh..wh..opq", b"");
    tar_entry(&mut b, "usr/share/doc/new", b"new\n");
    tar_entry(&mut b, "var/new", b"same layer\n");
    tar_entry(&mut b, "var/.wh.new", b"");
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Link);
    h.set_size(0);
    b.append_link(&mut h, "etc/os-release-hl", "etc/os-release")
        .unwrap();
    let layer3 = dir.join("layer3.tar");
    std::fs::write(&layer3, b.into_inner().unwrap()).unwrap();
    umoci(&["raw", "add-layer", "--image", "L:t", "layer3.tar"]);
    layout
}

fn check(image: &Image) {
    let t = &image.tree;
    let os_release = std::fs::read("/etc/os-release").unwrap();
    assert_eq!(t.read("etc/os-release"), Some(&os_release[..]));
    assert_eq!(
        t.read("var/lib/dpkg/status"),
        Some(&std::fs::read("/var/lib/dpkg/status").unwrap()[..])
    );
    assert_eq!(t.get("etc/gone"), None, "whiteout applied");
    assert_eq!(t.get("opt/d/a"), None, "deleted in layer 2");
    assert_eq!(t.read("opt/d/b"), Some(&b"b\n"[..]));
    assert_eq!(
        t.get("etc/link"),
        Some(&Node::Symlink("/etc/os-release".into()))
    );
    assert_eq!(
        t.read("etc/link"),
        Some(&os_release[..]),
        "link resolves in the image"
    );
    assert_eq!(t.get("usr/share/doc/old"), None, "opaque whiteout");
    assert_eq!(t.read("usr/share/doc/new"), Some(&b"new\n"[..]));
    assert_eq!(
        t.read("var/new"),
        Some(&b"same layer\n"[..]),
        "a whiteout does not hide its own layer's file"
    );
    assert_eq!(
        t.read("etc/os-release-hl"),
        Some(&os_release[..]),
        "hard link"
    );
    match t.get("bin/tool") {
        Some(Node::Binary(p)) => assert_eq!(p[0].name, "bin/tool"),
        other => panic!("bin/tool: {other:?}"),
    }
    assert_eq!(image.layers.len(), 3);
    assert!(image.errors.is_empty(), "{:?}", image.errors);
    let config = image.config.as_ref().unwrap();
    assert_eq!(config.os.as_deref(), Some("linux"));
}

#[test]
fn oci_layout_and_docker_archive_built_by_umoci_and_skopeo() {
    if !have("umoci") || !have("skopeo") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = build(tmp.path());
    let sel = select();
    let platform = Platform::default();
    let from_layout = from_oci_layout(&layout, Some("t"), &platform, &sel).unwrap();
    check(&from_layout);
    assert!(
        from_layout
            .digest
            .as_deref()
            .unwrap()
            .starts_with("sha256:")
    );
    // Without a reference: the layout holds one image.
    let again = from_oci_layout(&layout, None, &platform, &sel).unwrap();
    assert_eq!(again.tree, from_layout.tree);
    let e = from_oci_layout(&layout, Some("nope"), &platform, &sel).unwrap_err();
    assert!(e.to_string().contains("named: t"), "{e}");

    let archive = tmp.path().join("x.tar");
    run(Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "oci:L:t",
            &format!("docker-archive:{}:repo:t", archive.display()),
        ])
        .current_dir(tmp.path()));
    let from_archive = from_docker_archive(&archive, Some("repo:t"), &platform, &sel).unwrap();
    check(&from_archive);
    assert_eq!(from_archive.tree, from_layout.tree);
    // Found by its normalized name too, and alone without a reference.
    from_docker_archive(&archive, Some("docker.io/library/repo:t"), &platform, &sel).unwrap();
    from_docker_archive(&archive, None, &platform, &sel).unwrap();
    let e = from_docker_archive(&archive, Some("repo:other"), &platform, &sel).unwrap_err();
    assert!(e.to_string().contains("repo:t"), "{e}");
}

/// `docker-registry serve` on a loopback port, killed on drop.
use kubevigil_testapi::registry::Registry;

#[test]
fn pull_from_a_loopback_registry_with_htpasswd() {
    if !have("umoci") || !have("skopeo") || !have("docker-registry") || !have("htpasswd") {
        return;
    }
    let tmp = tempfile::tempdir().unwrap();
    let layout = build(tmp.path());
    let sel = select();
    let from_layout = from_oci_layout(&layout, Some("t"), &Platform::default(), &sel).unwrap();

    let reg = Registry::start();
    let host = format!("127.0.0.1:{}", reg.port);
    run(Command::new("skopeo")
        .args([
            "--insecure-policy",
            "copy",
            "--dest-tls-verify=false",
            "--dest-creds",
            "user:pass",
            "oci:L:t",
            &format!("docker://{host}/team/app:t"),
        ])
        .current_dir(tmp.path()));

    let options = PullOptions {
        credentials: Credentials::from_docker_config(
            format!(r#"{{"auths":{{"http://{host}/":{{"auth":"dXNlcjpwYXNz"}}}}}}"#).as_bytes(),
        )
        .unwrap(),
        insecure_registries: vec![host.clone()],
        ..PullOptions::default()
    };
    let started = Instant::now();
    let pulled = pull(&format!("{host}/team/app:t"), &options, &sel).unwrap();
    eprintln!("pull of {host}/team/app:t took {:?}", started.elapsed());
    check(&pulled);
    assert_eq!(pulled.tree, from_layout.tree);
    assert_eq!(pulled.layers, from_layout.layers);
    assert_eq!(pulled.digest, from_layout.digest);

    // By digest: the manifest is verified against it.
    let digest = pulled.digest.clone().unwrap();
    let by_digest = pull(&format!("{host}/team/app@{digest}"), &options, &sel).unwrap();
    assert_eq!(by_digest.tree, from_layout.tree);
    assert_eq!(by_digest.digest.as_deref(), Some(digest.as_str()));
    let unknown = format!("sha256:{}", "0".repeat(64));
    let e = pull(&format!("{host}/team/app@{unknown}"), &options, &sel).unwrap_err();
    assert!(matches!(e, SourceError::NotFound(_)), "{e}");

    // Without credentials: a clear 401.
    let anonymous = PullOptions {
        insecure_registries: vec![host.clone()],
        ..PullOptions::default()
    };
    let e = pull(&format!("{host}/team/app:t"), &anonymous, &sel).unwrap_err();
    let shown = e.to_string();
    assert!(matches!(e, SourceError::Unauthorized { .. }), "{shown}");
    assert!(
        shown.contains("401") && shown.contains("no credentials"),
        "{shown}"
    );
    // Wrong credentials: rejected, and the password never shows.
    let wrong = PullOptions {
        credentials: Credentials::basic(&host, "user", "s3cret-wrong"),
        insecure_registries: vec![host.clone()],
        ..PullOptions::default()
    };
    let e = pull(&format!("{host}/team/app:t"), &wrong, &sel).unwrap_err();
    let shown = format!("{e} {e:?}");
    assert!(
        shown.contains("rejected") && !shown.contains("s3cret"),
        "{shown}"
    );

    // HTTPS is the default: this registry speaks plain HTTP, so it fails, without a hang.
    let e = pull(
        &format!("{host}/team/app:t"),
        &PullOptions {
            credentials: options.credentials.clone(),
            ..PullOptions::default()
        },
        &sel,
    )
    .unwrap_err();
    assert!(matches!(e, SourceError::Registry { .. }), "{e}");
}
