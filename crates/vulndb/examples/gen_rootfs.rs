//! Writes the root filesystem `bench/image.sh` scans: Debian 12 with 300 dpkg packages and
//! 1,000 language packages (500 npm under `node_modules`, 300 Python distributions, 200 crates
//! in a Cargo.lock), named from the same pools as `gen_osv`'s records so that every lookup
//! finds candidates as a real image's would, and versions spread so that some are affected.
//!
//! `cargo run --release -p kubevigil-vulndb --example gen_rootfs -- DIR`

mod common;

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let dir = PathBuf::from(std::env::args().nth(1).unwrap_or_else(|| "rootfs".into()));
    let version = |i: u64| format!("{}.{}.{}", i % 5, (i * 7) % 30, (i * 3) % 20);
    std::fs::create_dir_all(dir.join("etc"))?;
    std::fs::write(
        dir.join("etc/os-release"),
        "ID=debian\nVERSION_ID=\"12\"\nVERSION_CODENAME=bookworm\n",
    )?;
    let mut status = String::new();
    for i in 0..300u64 {
        // Every tenth pool name: the pool is skewed, so these collect several records each.
        let name = common::package_name("Debian", i * 10);
        let _ = write!(
            status,
            "Package: {name}\nStatus: install ok installed\nArchitecture: amd64\nVersion: {}-1\n\n",
            version(i)
        );
    }
    std::fs::create_dir_all(dir.join("var/lib/dpkg"))?;
    std::fs::write(dir.join("var/lib/dpkg/status"), status)?;
    for i in 0..500u64 {
        let name = common::package_name("npm", i * 6);
        let d = dir.join("app/node_modules").join(&name);
        std::fs::create_dir_all(&d)?;
        std::fs::write(
            d.join("package.json"),
            format!(r#"{{"name":"{name}","version":"{}"}}"#, version(i)),
        )?;
    }
    let site = dir.join("usr/lib/python3/dist-packages");
    for i in 0..300u64 {
        let name = common::package_name("PyPI", i * 10);
        let d = site.join(format!("{name}-{}.dist-info", version(i)));
        std::fs::create_dir_all(&d)?;
        std::fs::write(
            d.join("METADATA"),
            format!(
                "Metadata-Version: 2.1\nName: {name}\nVersion: {}\n",
                version(i)
            ),
        )?;
    }
    let mut lock = String::from("version = 3\n");
    for i in 0..200u64 {
        let _ = write!(
            lock,
            "\n[[package]]\nname = \"{}\"\nversion = \"{}\"\nsource = \"registry+https://github.com/rust-lang/crates.io-index\"\n",
            common::package_name("crates.io", i * 15),
            version(i)
        );
    }
    std::fs::create_dir_all(dir.join("srv"))?;
    std::fs::write(dir.join("srv/Cargo.lock"), lock)?;
    eprintln!(
        "{}: 300 dpkg, 500 npm, 300 PyPI, 200 crates.io packages",
        dir.display()
    );
    Ok(())
}
