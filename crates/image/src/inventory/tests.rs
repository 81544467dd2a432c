use super::*;
use crate::tree::{Keep, Node, Tree};

#[test]
fn keep_decides_from_path_size_and_mode() {
    let c = |p: &str| keep(p, 1000, false);
    for p in [
        "etc/os-release",
        "usr/lib/os-release",
        "var/lib/dpkg/status",
        "var/lib/dpkg/status.d/libc6",
        "lib/apk/db/installed",
        "var/lib/rpm/rpmdb.sqlite",
        "usr/lib/sysimage/rpm/rpmdb.sqlite",
        "var/lib/rpm/Packages",
        "src/app/Cargo.lock",
        "app/package-lock.json",
        "app/node_modules/@babel/core/package.json",
        "usr/lib/python3/dist-packages/requests-2.31.0.dist-info/METADATA",
        "usr/lib/python3/site-packages/six-1.16.0.egg-info/PKG-INFO",
        "app/requirements-dev.txt",
        "app/poetry.lock",
        "app/uv.lock",
        "app/app.jar",
        "opt/tomcat/webapps/ROOT.war",
    ] {
        assert_eq!(c(p), Keep::Content, "{p}");
    }
    for p in [
        "var/lib/dpkg/status.d/libc6.md5sums",
        "var/lib/dpkg/info/bash.list",
        "app/package.json",
        "app/node_modules/x/lib/package.json",
        "etc/passwd",
        "usr/lib/python3/x.dist-info/RECORD",
    ] {
        assert_eq!(c(p), Keep::No, "{p}");
    }
    assert_eq!(keep("usr/bin/skopeo", 16 << 20, true), Keep::Binary);
    assert_eq!(keep("usr/bin/huge", MAX_BINARY + 1, true), Keep::No);
    assert_eq!(keep("app/huge.jar", MAX_ARCHIVE + 1, false), Keep::No);
    assert_eq!(
        keep("app/package-lock.json", MAX_TEXT_FILE + 1, false),
        Keep::No
    );
    // A lock file keeps its kind even when executable.
    assert_eq!(keep("app/Cargo.lock", 10, true), Keep::Content);
}

#[test]
fn binary_packages_of_non_elf_and_broken_elf() {
    assert_eq!(
        binary_packages("usr/bin/script", b"#!/bin/sh\necho\n"),
        Ok(vec![])
    );
    // Section headers said to be far past the end of the file.
    let mut elf = b"\x7fELF\x02\x01\x01".to_vec();
    elf.resize(64, 0);
    elf[0x28..0x30].copy_from_slice(&0xffff_ffff_0000u64.to_le_bytes());
    elf[0x3a] = 64;
    elf[0x3c] = 3;
    let e = binary_packages("usr/bin/bad", &elf).unwrap_err();
    assert_eq!(e.path, "/usr/bin/bad");
    // Section count times size overflowing, big-endian 32-bit.
    let mut elf = b"\x7fELF\x01\x02\x01".to_vec();
    elf.resize(52, 0);
    elf[0x20..0x24].copy_from_slice(&52u32.to_be_bytes());
    elf[0x2e..0x30].copy_from_slice(&40u16.to_be_bytes());
    elf[0x30..0x32].copy_from_slice(&0xffffu16.to_be_bytes());
    assert!(binary_packages("b", &elf).is_err());
    assert!(binary_packages("b", b"\x7fELF\x09").is_err());
    assert!(binary_packages("b", b"\x7fELF").is_err());
}

fn file(t: &mut Tree, p: &str, data: &[u8]) {
    t.insert(p, Node::File(data.to_vec())).unwrap();
}

#[test]
fn inventory_of_a_tree() {
    let mut t = Tree::new();
    file(
        &mut t,
        "usr/lib/os-release",
        include_bytes!("testdata/os-release"),
    );
    t.insert(
        "etc/os-release",
        Node::Symlink("../usr/lib/os-release".into()),
    )
    .unwrap();
    let status: Vec<u8> = include_bytes!("testdata/dpkg-status")
        .split(|&b| b == b'\n')
        .take_while(|l| !l.starts_with(b"Package: adwaita"))
        .flat_map(|l| l.iter().copied().chain([b'\n']))
        .collect();
    file(&mut t, "var/lib/dpkg/status", &status);
    file(
        &mut t,
        "var/lib/dpkg/status.d/tzdata",
        b"Package: tzdata\nVersion: 2024a-0+deb12u1\nArchitecture: all\n",
    );
    file(&mut t, "var/lib/dpkg/status.d/tzdata.md5sums", b"junk");
    file(
        &mut t,
        "app/package-lock.json",
        br#"{"lockfileVersion":3,"packages":{"":{},"node_modules/ms":{"version":"2.1.3"}}}"#,
    );
    file(
        &mut t,
        "app/node_modules/ms/package.json",
        br#"{"name":"ms","version":"2.1.3"}"#,
    );
    file(&mut t, "app/requirements.txt", b"requests==2.31.0\n");
    file(
        &mut t,
        "usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA",
        b"Name: six\nVersion: 1.16.0\n",
    );
    file(&mut t, "app/broken/package-lock.json", b"{");
    let jar = java::tests::jar(&[(
        "META-INF/maven/org.yaml/snakeyaml/pom.properties",
        b"groupId=org.yaml\nartifactId=snakeyaml\nversion=2.2\n",
    )]);
    file(&mut t, "app/lib/snakeyaml.jar", &jar);
    let go = package("golang.org/x/net", "0.17.0", "Go", "/usr/bin/app");
    t.insert("usr/bin/app", Node::Binary(vec![go.clone(), go]))
        .unwrap();
    file(&mut t, "var/lib/rpm/Packages", b"\0\0\0\0");

    let inv = inventory(&t);
    assert_eq!(
        inv.os,
        Some(Os {
            family: "debian".into(),
            version: "12".into()
        })
    );
    let got: Vec<String> = inv
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {} {} {:?}",
                p.ecosystem, p.name, p.version, p.path, p.source
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            "Debian:12 aardvark-dns 1.4.0-3 /var/lib/dpkg/status None",
            "Debian:12 adduser 3.134 /var/lib/dpkg/status None",
            "Go golang.org/x/net 0.17.0 /usr/bin/app None",
            "npm ms 2.1.3 /app/node_modules/ms/package.json None",
            "npm ms 2.1.3 /app/package-lock.json None",
            "Maven org.yaml:snakeyaml 2.2 /app/lib/snakeyaml.jar None",
            "PyPI requests 2.31.0 /app/requirements.txt None",
            "PyPI six 1.16.0 /usr/lib/python3/dist-packages/six-1.16.0.dist-info/METADATA None",
            "Debian:12 tzdata 2024a-0+deb12u1 /var/lib/dpkg/status.d/tzdata None",
        ]
    );
    let errors: Vec<String> = inv.errors.iter().map(|e| e.to_string()).collect();
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(errors[0].starts_with("/app/broken/package-lock.json: JSON"));
    assert!(
        errors[1].starts_with("/var/lib/rpm/Packages: rpmdb Berkeley DB: 4 bytes: too short"),
        "{errors:?}"
    );
}

#[test]
fn an_ndb_rpmdb_is_reported_not_skipped() {
    assert_eq!(
        keep("usr/lib/sysimage/rpm/Packages.db", 4096, false),
        Keep::Content
    );
    let mut t = Tree::new();
    file(
        &mut t,
        "etc/os-release",
        b"ID=opensuse-leap\nVERSION_ID=\"15.5\"\n",
    );
    file(&mut t, "usr/lib/sysimage/rpm/Packages.db", b"RpmP");
    let inv = inventory(&t);
    assert!(inv.packages.is_empty());
    assert_eq!(
        inv.errors,
        [InventoryError::new(
            "/usr/lib/sysimage/rpm/Packages.db",
            "an ndb rpmdb (SUSE) is not read: its packages are not listed"
        )]
    );
}
