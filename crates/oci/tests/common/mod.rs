#![allow(dead_code)]

use std::path::Path;
use std::process::Command;

use kubevigil_image::package::Package;
use kubevigil_oci::{Keep, Select};

/// Whether `tool` is installed. Missing: a failure when `CI` is set, else a note and `false`
/// (the test returns).
pub fn have(tool: &str) -> bool {
    let found = std::env::var_os("PATH")
        .is_some_and(|paths| std::env::split_paths(&paths).any(|d| d.join(tool).is_file()));
    if !found {
        if std::env::var_os("CI").is_some() {
            panic!("{tool} is required when CI is set");
        }
        eprintln!("note: {tool} is not installed; test skipped");
    }
    found
}

pub fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn keep(path: &str, _size: u64, executable: bool) -> Keep {
    if executable && path.starts_with("bin/") {
        Keep::Binary
    } else if path.starts_with("etc/")
        || path.starts_with("var/")
        || path.starts_with("opt/")
        || path.starts_with("usr/share/doc/")
    {
        Keep::Content
    } else {
        Keep::No
    }
}

fn binary(path: &str, data: &[u8]) -> Vec<Package> {
    vec![Package {
        name: path.to_string(),
        version: data.len().to_string(),
        ecosystem: "Go".into(),
        source: None,
        path: format!("/{path}"),
        source_version: None,
    }]
}

pub fn select() -> Select<'static> {
    Select {
        keep: &keep,
        binary: &binary,
    }
}

/// A file in the unpacked bundle's rootfs.
pub fn put(root: &Path, path: &str, content: &[u8]) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}
