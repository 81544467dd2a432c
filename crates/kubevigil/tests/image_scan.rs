//! End-to-end tests of `kubevigil image scan` and `kubevigil db import` through the built
//! binary, on a real image: umoci builds a two-layer OCI layout (Debian 12 os-release, a slice
//! of a Debian 12 dpkg database, npm, PyPI and Cargo packages; the second layer deletes one npm
//! package with a whiteout), skopeo turns it into a `docker save` archive and pushes it to a
//! loopback `docker-registry` with htpasswd authentication, umoci unpacks it as a root
//! filesystem. Every source must give the same report.
//!
//! The OSV records are written in the shape of the real advisories of each database
//! (DEBIAN-CVE with `upstream`, GHSA with a SEMVER range, PYSEC with a GIT range and
//! `versions[]`, RUSTSEC); the CVE numbers of the Debian records are made up.
//!
//! A test needing a tool fails when `CI` is set and the tool is missing, else notes it and
//! returns.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::{Value, json};

// ---------------------------------------------------------------------------------------------
// Tools and processes

/// Whether `tool` is installed. Missing: a failure when `CI` is set, else a note and `false`.
fn have(tool: &str) -> bool {
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

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{cmd:?}: {e}"));
    assert!(
        out.status.success(),
        "{cmd:?}: {}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn kubevigil() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_kubevigil"));
    // No credentials of the machine's user, no default database.
    c.env_remove("DOCKER_CONFIG")
        .env("HOME", "/nonexistent")
        .env("XDG_DATA_HOME", "/nonexistent")
        .env_remove("RUST_LOG");
    c
}

fn kv(args: &[&str]) -> Output {
    kubevigil().args(args).output().unwrap()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn code(o: &Output) -> Option<i32> {
    o.status.code()
}

fn s(p: &Path) -> &str {
    p.to_str().unwrap()
}

// ---------------------------------------------------------------------------------------------
// The image

const HOSTILE_PACKAGE: &str = "evil\x1b[31m\u{202e}pkg";

fn put(root: &Path, path: &str, content: &[u8]) {
    let p = root.join(path);
    std::fs::create_dir_all(p.parent().unwrap()).unwrap();
    std::fs::write(p, content).unwrap();
}

fn data(name: &str) -> Vec<u8> {
    std::fs::read(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/data/image")
            .join(name),
    )
    .unwrap()
}

/// The dpkg database: a slice of a Debian 12 machine's (libssl3 and openssl from source
/// openssl, zlib1g), a package removed but for its configuration files (not installed), and a
/// package whose name carries an escape sequence and a bidi override.
fn dpkg_status() -> Vec<u8> {
    let mut status = data("dpkg-status");
    status.extend_from_slice(
        format!(
            "Package: oldtool\nStatus: deinstall ok config-files\nVersion: 1.0-1\n\n\
             Package: {HOSTILE_PACKAGE}\nStatus: install ok installed\nArchitecture: all\n\
             Version: 1.0-1\nDescription: hostile\n\n"
        )
        .as_bytes(),
    );
    status
}

/// `<dir>/L`, image `t`: layer 1 with everything, layer 2 deleting minimist (a whiteout of
/// its directory).
fn build_layout(dir: &Path) -> PathBuf {
    let umoci = |args: &[&str]| run(Command::new("umoci").args(args).current_dir(dir));
    umoci(&["init", "--layout", "L"]);
    umoci(&["new", "--image", "L:t"]);
    umoci(&["unpack", "--rootless", "--image", "L:t", "B"]);
    let root = dir.join("B/rootfs");
    put(&root, "etc/os-release", &data("os-release"));
    put(&root, "var/lib/dpkg/status", &dpkg_status());
    put(
        &root,
        "usr/lib/node_modules/lodash/package.json",
        br#"{"name": "lodash", "version": "4.17.20", "license": "MIT", "main": "lodash.js"}"#,
    );
    put(
        &root,
        "usr/lib/node_modules/minimist/package.json",
        br#"{"name": "minimist", "version": "1.2.5", "license": "MIT"}"#,
    );
    put(
        &root,
        "usr/local/lib/python3.11/site-packages/requests-2.30.0.dist-info/METADATA",
        b"Metadata-Version: 2.1\nName: requests\nVersion: 2.30.0\nSummary: Python HTTP for Humans.\n\
          Requires-Python: >=3.7\n\nRequests is an HTTP library.\n",
    );
    put(
        &root,
        "srv/app/Cargo.lock",
        b"# This file is automatically @generated by Cargo.\nversion = 3\n\n\
          [[package]]\nname = \"app\"\nversion = \"0.1.0\"\ndependencies = [\n \"time\",\n]\n\n\
          [[package]]\nname = \"time\"\nversion = \"0.1.45\"\n\
          source = \"registry+https://github.com/rust-lang/crates.io-index\"\n\
          checksum = \"1b797afad3f312d1c66a56d11d0316f916356d11bd158fbc6ca6389ff6bf805a\"\n",
    );
    umoci(&["repack", "--image", "L:t", "B"]);
    std::fs::remove_dir_all(dir.join("B")).unwrap();

    umoci(&["unpack", "--rootless", "--image", "L:t", "B"]);
    std::fs::remove_dir_all(root.join("usr/lib/node_modules/minimist")).unwrap();
    umoci(&["repack", "--image", "L:t", "B"]);
    std::fs::remove_dir_all(dir.join("B")).unwrap();
    dir.join("L")
}

// ---------------------------------------------------------------------------------------------
// The advisories

const MODIFIED: &str = "2026-01-15T10:00:00Z";

fn advisories() -> Vec<(&'static str, Value)> {
    vec![
        // Debian's per-CVE records: the source package, `upstream` naming the CVE, no severity.
        (
            "DEBIAN-CVE-2026-20001.json",
            json!({
                "schema_version": "1.7.0",
                "id": "DEBIAN-CVE-2026-20001",
                "modified": MODIFIED,
                "published": "2026-01-10T12:15:00Z",
                "upstream": ["CVE-2026-20001"],
                "details": "Issue summary: a crafted certificate may cause an out-of-bounds read.\nImpact summary: a denial of service.",
                "affected": [{
                    "package": {"name": "openssl", "ecosystem": "Debian:12", "purl": "pkg:deb/debian/openssl?arch=source"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.19-1~deb12u3"}]}],
                    "versions": ["3.0.11-1~deb12u2", "3.0.19-1~deb12u2"]
                }, {
                    "package": {"name": "openssl", "ecosystem": "Debian:13", "purl": "pkg:deb/debian/openssl?arch=source"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.5.5-1"}]}]
                }],
                "references": [{"type": "ADVISORY", "url": "https://security-tracker.debian.org/tracker/CVE-2026-20001"}]
            }),
        ),
        // Debian 11 only: the range would hold the installed version, the release does not.
        (
            "DEBIAN-CVE-2026-20002.json",
            json!({
                "schema_version": "1.7.0",
                "id": "DEBIAN-CVE-2026-20002",
                "modified": MODIFIED,
                "upstream": ["CVE-2026-20002"],
                "details": "Bullseye only.",
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
                "affected": [{
                    "package": {"name": "openssl", "ecosystem": "Debian:11"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}, {"fixed": "3.0.99-1"}]}]
                }]
            }),
        ),
        // The hostile package: its name and summary carry terminal escapes and a bidi override.
        (
            "DEBIAN-CVE-2026-20003.json",
            json!({
                "schema_version": "1.7.0",
                "id": "DEBIAN-CVE-2026-20003",
                "modified": MODIFIED,
                "upstream": ["CVE-2026-20003"],
                "summary": "bad\u{1b}]0;owned\u{7} summary \u{202e}txt.exe",
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:L/I:N/A:N"}],
                "affected": [{
                    "package": {"name": HOSTILE_PACKAGE, "ecosystem": "Debian:12"},
                    "ranges": [{"type": "ECOSYSTEM", "events": [{"introduced": "0"}]}]
                }]
            }),
        ),
        (
            "GHSA-35jh-r3h4-6jhm.json",
            json!({
                "schema_version": "1.4.0",
                "id": "GHSA-35jh-r3h4-6jhm",
                "modified": "2024-02-16T08:13:57.863Z",
                "published": "2021-05-06T16:05:51Z",
                "aliases": ["CVE-2021-23337"],
                "summary": "Command Injection in lodash",
                "details": "`lodash` versions prior to 4.17.21 are vulnerable to Command Injection via the template function.",
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:H/UI:N/S:U/C:H/I:H/A:H"}],
                "affected": [{
                    "package": {"ecosystem": "npm", "name": "lodash"},
                    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.21"}]}],
                    "database_specific": {"source": "https://github.com/github/advisory-database/blob/main/advisories/github-reviewed/2021/05/GHSA-35jh-r3h4-6jhm/GHSA-35jh-r3h4-6jhm.json"}
                }],
                "references": [{"type": "ADVISORY", "url": "https://nvd.nist.gov/vuln/detail/CVE-2021-23337"}],
                "database_specific": {"cwe_ids": ["CWE-77", "CWE-94"], "severity": "HIGH", "github_reviewed": true}
            }),
        ),
        // Withdrawn: critical, and its range holds the installed lodash; it must not count.
        (
            "GHSA-0000-withdrawn.json",
            json!({
                "schema_version": "1.4.0",
                "id": "GHSA-jf85-cpcp-j695",
                "modified": "2024-03-01T00:00:00Z",
                "withdrawn": "2024-03-01T00:00:00Z",
                "aliases": ["CVE-2019-10744"],
                "summary": "Withdrawn: duplicate advisory",
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
                "affected": [{
                    "package": {"ecosystem": "npm", "name": "lodash"},
                    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "4.17.22"}]}]
                }],
                "database_specific": {"severity": "CRITICAL"}
            }),
        ),
        // minimist is deleted by the second layer: this critical one must not be reported.
        (
            "GHSA-xvch-5gv4-984h.json",
            json!({
                "schema_version": "1.4.0",
                "id": "GHSA-xvch-5gv4-984h",
                "modified": "2024-02-16T08:07:50.873Z",
                "published": "2022-03-18T00:01:09Z",
                "aliases": ["CVE-2021-44906"],
                "summary": "Prototype Pollution in minimist",
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H"}],
                "affected": [{
                    "package": {"ecosystem": "npm", "name": "minimist"},
                    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0"}, {"fixed": "0.2.4"}, {"introduced": "1.0.0"}, {"fixed": "1.2.6"}]}]
                }],
                "database_specific": {"severity": "CRITICAL"}
            }),
        ),
        // PYSEC: a GIT range (commits, which order no version) and the affected versions.
        (
            "PYSEC-2023-74.json",
            json!({
                "id": "PYSEC-2023-74",
                "modified": "2023-06-05T01:13:00.000Z",
                "published": "2023-05-26T18:15:00Z",
                "aliases": ["CVE-2023-32681", "GHSA-j8r2-6x86-q33q"],
                "details": "Requests is a HTTP library. Since Requests 2.3.0, Requests has been leaking Proxy-Authorization headers to destination servers when redirected to an HTTPS endpoint.",
                "affected": [{
                    "package": {"name": "requests", "ecosystem": "PyPI", "purl": "pkg:pypi/requests"},
                    "ranges": [{"type": "GIT", "repo": "https://github.com/psf/requests", "events": [{"introduced": "0"}, {"fixed": "74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5"}]}],
                    "versions": ["2.3.0", "2.4.0", "2.28.2", "2.29.0", "2.30.0"]
                }],
                "references": [{"type": "FIX", "url": "https://github.com/psf/requests/commit/74ea7cf7a6a27a4eeb2ae24e162bcc942a6706d5"}]
            }),
        ),
        (
            "RUSTSEC-2020-0071.json",
            json!({
                "id": "RUSTSEC-2020-0071",
                "modified": "2023-06-13T13:10:24Z",
                "published": "2020-11-18T12:00:00Z",
                "aliases": ["CVE-2020-26235", "GHSA-wcg3-cvx6-7396"],
                "summary": "Potential segfault in the time crate",
                "severity": [{"type": "CVSS_V3", "score": "CVSS:3.1/AV:L/AC:H/PR:N/UI:N/S:U/C:N/I:N/A:H"}],
                "affected": [{
                    "package": {"ecosystem": "crates.io", "name": "time", "purl": "pkg:cargo/time"},
                    "ranges": [{"type": "SEMVER", "events": [{"introduced": "0.0.0-0"}, {"fixed": "0.2.23"}]}],
                    "ecosystem_specific": {"affects": {"os": [], "arch": [], "functions": ["time::at_utc"]}}
                }],
                "database_specific": {"license": "CC0-1.0"}
            }),
        ),
    ]
}

/// What the image gives, most severe first. Debian's records are named by their upstream CVE.
fn expected_vulnerabilities() -> Value {
    json!([
        {"id": "CVE-2021-23337", "aliases": ["GHSA-35jh-r3h4-6jhm"], "package": "lodash",
         "installedVersion": "4.17.20", "fixedVersion": "4.17.21", "severity": "high", "cvss": 7.2,
         "summary": "Command Injection in lodash"},
        {"id": "CVE-2020-26235", "aliases": ["GHSA-wcg3-cvx6-7396", "RUSTSEC-2020-0071"], "package": "time",
         "installedVersion": "0.1.45", "fixedVersion": "0.2.23", "severity": "medium", "cvss": 5.1,
         "summary": "Potential segfault in the time crate"},
        {"id": "CVE-2026-20003", "aliases": ["DEBIAN-CVE-2026-20003"], "package": HOSTILE_PACKAGE,
         "installedVersion": "1.0-1", "fixedVersion": null, "severity": "low", "cvss": 3.3,
         "summary": "bad\u{1b}]0;owned\u{7} summary \u{202e}txt.exe"},
        {"id": "CVE-2026-20001", "aliases": ["DEBIAN-CVE-2026-20001"], "package": "libssl3",
         "installedVersion": "3.0.19-1~deb12u2", "fixedVersion": "3.0.19-1~deb12u3", "severity": "unknown", "cvss": null,
         "summary": "Issue summary: a crafted certificate may cause an out-of-bounds read."},
        {"id": "CVE-2026-20001", "aliases": ["DEBIAN-CVE-2026-20001"], "package": "openssl",
         "installedVersion": "3.0.19-1~deb12u2", "fixedVersion": "3.0.19-1~deb12u3", "severity": "unknown", "cvss": null,
         "summary": "Issue summary: a crafted certificate may cause an out-of-bounds read."},
        {"id": "CVE-2023-32681", "aliases": ["GHSA-j8r2-6x86-q33q", "PYSEC-2023-74"], "package": "requests",
         "installedVersion": "2.30.0", "fixedVersion": null, "severity": "unknown", "cvss": null,
         "summary": "Requests is a HTTP library. Since Requests 2.3.0, Requests has been leaking Proxy-Authorization headers to destination servers when redirected to an HTTPS endpoint."},
    ])
}

fn expected_packages() -> Value {
    let deb = |name: &str, version: &str, source: Option<&str>| json!({"name": name, "version": version, "ecosystem": "Debian:12", "source": source, "path": "/var/lib/dpkg/status"});
    let mut packages = vec![
        deb(HOSTILE_PACKAGE, "1.0-1", None),
        deb("libssl3", "3.0.19-1~deb12u2", Some("openssl")),
        json!({"name": "lodash", "version": "4.17.20", "ecosystem": "npm", "source": null,
               "path": "/usr/lib/node_modules/lodash/package.json"}),
        deb("openssl", "3.0.19-1~deb12u2", None),
        json!({"name": "requests", "version": "2.30.0", "ecosystem": "PyPI", "source": null,
               "path": "/usr/local/lib/python3.11/site-packages/requests-2.30.0.dist-info/METADATA"}),
        json!({"name": "time", "version": "0.1.45", "ecosystem": "crates.io", "source": null,
               "path": "/srv/app/Cargo.lock"}),
        deb("zlib1g", "1:1.2.13.dfsg-1", Some("zlib")),
    ];
    packages.sort_by_key(|p| p["name"].as_str().unwrap().to_string());
    Value::Array(packages)
}

// ---------------------------------------------------------------------------------------------
// The fixture: one image and one database for every test of this file

struct Fixture {
    layout: PathBuf,
    db: PathBuf,
}

/// The image and database, built once; `None` (the test returns) when umoci is missing.
fn fixture() -> Option<&'static Fixture> {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    if !have("umoci") {
        return None;
    }
    Some(FIXTURE.get_or_init(|| {
        let started = Instant::now();
        // Under the target directory: a static is never dropped, a /tmp directory would stay.
        // Earlier runs' fixtures (over an hour old) are removed.
        let tmp = Path::new(env!("CARGO_TARGET_TMPDIR"));
        for entry in std::fs::read_dir(tmp).into_iter().flatten().flatten() {
            let old = entry
                .metadata()
                .and_then(|m| m.modified())
                .is_ok_and(|t| t.elapsed().is_ok_and(|e| e > Duration::from_secs(3600)));
            if old
                && entry
                    .file_name()
                    .to_string_lossy()
                    .starts_with("image_scan")
            {
                let _ = std::fs::remove_dir_all(entry.path());
            }
        }
        let dir = tempfile::Builder::new()
            .prefix("image_scan")
            .tempdir_in(env!("CARGO_TARGET_TMPDIR"))
            .unwrap()
            .keep();
        let layout = build_layout(&dir);
        let records = dir.join("advisories");
        std::fs::create_dir_all(&records).unwrap();
        for (name, record) in advisories() {
            std::fs::write(
                records.join(name),
                serde_json::to_vec_pretty(&record).unwrap(),
            )
            .unwrap();
        }
        let db = dir.join("db");
        let out = kv(&["db", "import", "--db", s(&db), s(&records)]);
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        assert!(
            stderr(&out).contains("8 records imported"),
            "{}",
            stderr(&out)
        );
        eprintln!("fixture built in {:?}", started.elapsed());
        Fixture { layout, db }
    }))
}

/// `image scan <target args> --db <db> -o json`: the report, the exit code checked.
fn scan_json(f: &Fixture, target: &[&str], extra: &[&str], expect_code: i32) -> Value {
    let out = kubevigil()
        .args(["image", "scan", "--db", s(&f.db), "-o", "json"])
        .args(target)
        .args(extra)
        .output()
        .unwrap();
    assert_eq!(
        code(&out),
        Some(expect_code),
        "{target:?} {extra:?}: {}",
        stderr(&out)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

fn without_target(mut report: Value) -> Value {
    report.as_object_mut().unwrap().remove("target");
    report
}

// ---------------------------------------------------------------------------------------------
// The registry

use kubevigil_testapi::registry::Registry;

/// The registry's docker config (`auths.<host>.auth`, user:pass), as the `DOCKER_CONFIG`
/// directory to give a pull.
fn docker_config(dir: &Path, host: &str) -> PathBuf {
    let config = dir.join("docker");
    std::fs::create_dir_all(&config).unwrap();
    std::fs::write(config.join("config.json"), config_json(host)).unwrap();
    config
}

/// `{"auths": {host: {"auth": base64(user:pass)}}}`.
fn config_json(host: &str) -> String {
    let auth = base64::engine::general_purpose::STANDARD.encode("user:pass");
    json!({"auths": {host: {"auth": auth}}}).to_string()
}

// ---------------------------------------------------------------------------------------------
// Tests

/// The JSON contract, field by field, and the findings: the OS from os-release; every package
/// (the whiteout-deleted minimist and the not-installed dpkg entry absent); the vulnerabilities
/// with aliases merged (the CVE as id, Debian's `upstream` included), the lowest fix, CVSS
/// scores computed from the vectors; the withdrawn, Debian 11 and deleted-package records
/// absent. Table output escapes the hostile name and summary.
#[test]
fn oci_layout_report_follows_the_json_contract() {
    let Some(f) = fixture() else { return };
    let report = scan_json(f, &["--oci-layout", s(&f.layout)], &[], 0);
    let keys: Vec<&str> = report
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(keys.len(), 4, "{keys:?}");
    for k in ["target", "os", "packages", "vulnerabilities"] {
        assert!(keys.contains(&k), "{keys:?}");
    }
    assert!(report["target"].is_string());
    assert_eq!(report["os"], json!({"family": "debian", "version": "12"}));
    for p in report["packages"].as_array().unwrap() {
        let mut k: Vec<&String> = p.as_object().unwrap().keys().collect();
        k.sort();
        assert_eq!(k, ["ecosystem", "name", "path", "source", "version"], "{p}");
    }
    let mut packages = report["packages"].clone();
    packages
        .as_array_mut()
        .unwrap()
        .sort_by_key(|p| p["name"].as_str().unwrap().to_string());
    assert_eq!(packages, expected_packages());
    for v in report["vulnerabilities"].as_array().unwrap() {
        let mut k: Vec<&String> = v.as_object().unwrap().keys().collect();
        k.sort();
        assert_eq!(
            k,
            [
                "aliases",
                "cvss",
                "fixedVersion",
                "id",
                "installedVersion",
                "package",
                "severity",
                "summary"
            ],
            "{v}"
        );
    }
    assert_eq!(
        report["vulnerabilities"],
        expected_vulnerabilities(),
        "{:#}",
        report["vulnerabilities"]
    );
}

/// The same image as an OCI layout, a docker archive, pulled from a registry with htpasswd
/// authentication (credentials from `$DOCKER_CONFIG/config.json`), and unpacked as a root
/// filesystem: identical reports but for `target`.
#[test]
fn layout_archive_registry_and_rootfs_give_identical_reports() {
    let Some(f) = fixture().filter(|_| registry_tools()) else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let from_layout = scan_json(f, &["--oci-layout", s(&f.layout), "--ref", "t"], &[], 0);
    assert_eq!(from_layout["vulnerabilities"], expected_vulnerabilities());

    let archive = tmp.path().join("app.tar");
    run(Command::new("skopeo").args([
        "--insecure-policy",
        "copy",
        &format!("oci:{}:t", s(&f.layout)),
        &format!("docker-archive:{}:team/app:t", s(&archive)),
    ]));
    let from_archive = scan_json(f, &["--docker-archive", s(&archive)], &[], 0);
    // `docker save IMAGE | gzip`: the same.
    let gzipped = tmp.path().join("app.tar.gz");
    let mut gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&gzipped).unwrap(),
        flate2::Compression::fast(),
    );
    std::io::copy(&mut std::fs::File::open(&archive).unwrap(), &mut gz).unwrap();
    gz.finish().unwrap();
    let from_gzipped = scan_json(f, &["--docker-archive", s(&gzipped)], &[], 0);
    assert_eq!(from_gzipped["target"], json!(s(&gzipped)));
    assert_eq!(
        without_target(from_gzipped),
        without_target(from_archive.clone())
    );

    let reg = Registry::start();
    let host = format!("127.0.0.1:{}", reg.port);
    run(Command::new("skopeo").args([
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "user:pass",
        &format!("oci:{}:t", s(&f.layout)),
        &format!("docker://{host}/team/app:t"),
    ]));
    let docker_config = docker_config(tmp.path(), &host);
    let image = format!("{host}/team/app:t");
    let pull = |with_credentials: bool| {
        let mut c = kubevigil();
        c.args(["image", "scan", "--db", s(&f.db), "-o", "json"])
            .args(["--insecure-registry", &host, &image]);
        if with_credentials {
            c.env("DOCKER_CONFIG", &docker_config);
        }
        c.output().unwrap()
    };
    let out = pull(true);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let from_registry: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(from_registry["target"], json!(image));
    // Without the config file the registry refuses: the credentials were used.
    let out = pull(false);
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));

    let bundle = tmp.path().join("bundle");
    run(Command::new("umoci").args([
        "unpack",
        "--rootless",
        "--image",
        &format!("{}:t", s(&f.layout)),
        s(&bundle),
    ]));
    let from_rootfs = scan_json(f, &["--rootfs", s(&bundle.join("rootfs"))], &[], 0);

    let reference = without_target(from_layout);
    for (name, report) in [
        ("docker archive", from_archive),
        ("registry", from_registry),
        ("rootfs", from_rootfs),
    ] {
        assert_eq!(without_target(report), reference, "{name}");
    }
}

/// `--fail-on`: 1 with a high finding at `high`, 0 at `critical` (the only critical records
/// are withdrawn, for Debian 11, or for the deleted package), 0 without the flag.
#[test]
fn fail_on_thresholds() {
    let Some(f) = fixture() else { return };
    let layout = ["--oci-layout", s(&f.layout)];
    scan_json(f, &layout, &["--fail-on", "high"], 1);
    scan_json(f, &layout, &["--fail-on", "HIGH"], 1);
    scan_json(f, &layout, &["--fail-on", "critical"], 0);
    scan_json(f, &layout, &[], 0);
    let out = kv(&[
        "image",
        "scan",
        "--db",
        s(&f.db),
        "--oci-layout",
        s(&f.layout),
        "--fail-on",
        "severe",
    ]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
}

fn vulnerability_keys(report: &Value) -> Vec<Value> {
    report["vulnerabilities"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| {
            json!([
                v["id"],
                v["aliases"],
                v["package"],
                v["installedVersion"],
                v["fixedVersion"],
                v["severity"],
                v["cvss"]
            ])
        })
        .collect()
}

/// CycloneDX out, SBOM in: the same vulnerabilities. An SPDX 2.3 document with purls is
/// matched as the image's own inventory would be.
#[test]
fn sbom_round_trip_cyclonedx_and_spdx() {
    let Some(f) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let image = scan_json(f, &["--oci-layout", s(&f.layout)], &[], 0);
    let cdx = tmp.path().join("app.cdx.json");
    let out = kv(&[
        "image",
        "scan",
        "--db",
        s(&f.db),
        "--oci-layout",
        s(&f.layout),
        "-o",
        "cyclonedx",
        "--output-file",
        s(&cdx),
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let doc: Value = serde_json::from_slice(&std::fs::read(&cdx).unwrap()).unwrap();
    assert_eq!(doc["bomFormat"], "CycloneDX");
    assert_eq!(doc["specVersion"], "1.6");
    assert_eq!(
        doc["vulnerabilities"].as_array().unwrap().len(),
        image["vulnerabilities"].as_array().unwrap().len()
    );
    let from_sbom = scan_json(f, &["--sbom", s(&cdx)], &[], 0);
    assert_eq!(from_sbom["os"], image["os"]);
    assert_eq!(vulnerability_keys(&from_sbom), vulnerability_keys(&image));
    assert_eq!(from_sbom["vulnerabilities"], image["vulnerabilities"]);

    let spdx = json!({
        "spdxVersion": "SPDX-2.3",
        "dataLicense": "CC0-1.0",
        "SPDXID": "SPDXRef-DOCUMENT",
        "name": "registry.example.com/team/app:t",
        "documentNamespace": "https://example.com/spdx/app-t",
        "creationInfo": {"created": "2026-01-15T10:00:00Z", "creators": ["Tool: syft-1.0.0"]},
        "packages": [
            {"SPDXID": "SPDXRef-image", "name": "app", "primaryPackagePurpose": "CONTAINER", "downloadLocation": "NOASSERTION"},
            {"SPDXID": "SPDXRef-os", "name": "debian", "versionInfo": "12", "primaryPackagePurpose": "OPERATING-SYSTEM", "downloadLocation": "NOASSERTION"},
            {"SPDXID": "SPDXRef-libssl3", "name": "libssl3", "versionInfo": "3.0.19-1~deb12u2", "downloadLocation": "NOASSERTION",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": "pkg:deb/debian/libssl3@3.0.19-1~deb12u2?arch=amd64&upstream=openssl&distro=debian-12"}]},
            {"SPDXID": "SPDXRef-zlib1g", "name": "zlib1g", "versionInfo": "1:1.2.13.dfsg-1", "downloadLocation": "NOASSERTION",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl",
                               "referenceLocator": "pkg:deb/debian/zlib1g@1%3A1.2.13.dfsg-1?arch=amd64&upstream=zlib&distro=debian-12"}]},
            {"SPDXID": "SPDXRef-lodash", "name": "lodash", "versionInfo": "4.17.20", "downloadLocation": "NOASSERTION",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:npm/lodash@4.17.20"}]},
            {"SPDXID": "SPDXRef-requests", "name": "requests", "versionInfo": "2.30.0", "downloadLocation": "NOASSERTION",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:pypi/requests@2.30.0"}]},
            {"SPDXID": "SPDXRef-time", "name": "time", "versionInfo": "0.1.45", "downloadLocation": "NOASSERTION",
             "externalRefs": [{"referenceCategory": "PACKAGE-MANAGER", "referenceType": "purl", "referenceLocator": "pkg:cargo/time@0.1.45"}]}
        ]
    });
    let spdx_path = tmp.path().join("app.spdx.json");
    std::fs::write(&spdx_path, spdx.to_string()).unwrap();
    let report = scan_json(f, &["--sbom", s(&spdx_path)], &[], 0);
    assert_eq!(report["target"], "registry.example.com/team/app:t");
    assert_eq!(report["os"], json!({"family": "debian", "version": "12"}));
    let expected: Vec<Value> = expected_vulnerabilities()
        .as_array()
        .unwrap()
        .iter()
        .filter(|v| v["package"] != HOSTILE_PACKAGE && v["package"] != "openssl")
        .cloned()
        .collect();
    assert_eq!(report["vulnerabilities"], Value::Array(expected));
    assert_eq!(report["packages"].as_array().unwrap().len(), 5);
}

/// SARIF 2.1.0, valid against the schema: one result per vulnerability, rule ids the
/// vulnerability ids.
#[test]
fn sarif_is_valid_and_has_one_result_per_vulnerability() {
    let Some(f) = fixture() else { return };
    let out = kv(&[
        "image",
        "scan",
        "--db",
        s(&f.db),
        "--oci-layout",
        s(&f.layout),
        "-o",
        "sarif",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let sarif: Value = serde_json::from_slice(&out.stdout).unwrap();
    let schema: Value = serde_json::from_str(include_str!(
        "../../report/tests/data/sarif-schema-2.1.0.json"
    ))
    .unwrap();
    let validator = jsonschema::validator_for(&schema).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&sarif)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .collect();
    assert!(errors.is_empty(), "{errors:#?}");
    assert_eq!(sarif["version"], "2.1.0");
    let expected = expected_vulnerabilities();
    let expected = expected.as_array().unwrap();
    let results = sarif["runs"][0]["results"].as_array().unwrap();
    assert_eq!(results.len(), expected.len());
    let rule_ids: Vec<&Value> = results.iter().map(|r| &r["ruleId"]).collect();
    let ids: Vec<&Value> = expected.iter().map(|v| &v["id"]).collect();
    assert_eq!(rule_ids, ids);
    let mut rules: Vec<&str> = sarif["runs"][0]["tool"]["driver"]["rules"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap())
        .collect();
    let mut distinct: Vec<&str> = ids.iter().map(|v| v.as_str().unwrap()).collect();
    distinct.sort_unstable();
    distinct.dedup();
    rules.sort_unstable();
    assert_eq!(rules, distinct);
    let lodash = results
        .iter()
        .find(|r| r["ruleId"] == "CVE-2021-23337")
        .unwrap();
    assert_eq!(lodash["level"], "error");
    assert_eq!(
        lodash["locations"][0]["physicalLocation"]["artifactLocation"]["uri"],
        "usr/lib/node_modules/lodash/package.json"
    );
}

/// The hostile package name and summary: escaped in the table, never raw; JSON output carries
/// them only as `\u` escapes (and parses back to the exact text).
#[test]
fn hostile_names_never_reach_the_terminal_raw() {
    let Some(f) = fixture() else { return };
    for color in ["never", "always"] {
        let out = kv(&[
            "image",
            "scan",
            "--db",
            s(&f.db),
            "--oci-layout",
            s(&f.layout),
            "--color",
            color,
        ]);
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        let table = String::from_utf8(out.stdout).unwrap();
        assert!(
            table.contains(r"evil\e[31m\u{202e}pkg"),
            "the name is shown escaped:\n{table}"
        );
        assert!(
            table.contains(r"bad\e]0;owned\a summary \u{202e}txt.exe"),
            "{table}"
        );
        assert!(!table.contains('\u{202e}'), "{table}");
        if color == "never" {
            assert!(!table.contains('\x1b'), "{table:?}");
        } else {
            // Only the severity colours: ESC followed by '[' and a colour code.
            assert!(!table.contains("\x1b]"), "{table:?}");
            assert!(!table.contains("\x1b[31m\u{202e}"), "{table:?}");
        }
        assert!(table.contains("CVE-2021-23337"), "{table}");
        assert!(table.contains("1 high"), "{table}");
    }
    for format in ["json", "sarif", "cyclonedx"] {
        let out = kv(&[
            "image",
            "scan",
            "--db",
            s(&f.db),
            "--oci-layout",
            s(&f.layout),
            "-o",
            format,
        ]);
        assert_eq!(code(&out), Some(0), "{}", stderr(&out));
        assert!(!out.stdout.contains(&0x1b), "{format}");
        let text = String::from_utf8(out.stdout).unwrap();
        assert!(!text.contains('\u{202e}'), "{format}: raw bidi override");
        assert!(
            text.contains(r"\u202e") || text.contains(r"\u202E"),
            "{format}"
        );
    }
}

/// A layout whose layer blob was altered: exit 2, the blob named.
#[test]
fn altered_blob_is_refused_with_its_digest() {
    let Some(f) = fixture() else { return };
    let tmp = tempfile::tempdir().unwrap();
    let layout = tmp.path().join("L");
    run(Command::new("cp").arg("-r").arg(&f.layout).arg(&layout));
    let read = |p: &Path| -> Value { serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap() };
    let blob = |digest: &Value| {
        layout
            .join("blobs/sha256")
            .join(digest.as_str().unwrap().trim_start_matches("sha256:"))
    };
    let index = read(&layout.join("index.json"));
    let manifest = read(&blob(&index["manifests"][0]["digest"]));
    let layer = manifest["layers"][1]["digest"]
        .as_str()
        .unwrap()
        .to_string();
    let path = blob(&json!(layer));
    let mut bytes = std::fs::read(&path).unwrap();
    let mid = bytes.len() / 2;
    bytes[mid] ^= 0xff;
    std::fs::remove_file(&path).unwrap(); // blobs are read-only
    std::fs::write(&path, bytes).unwrap();
    let out = kv(&[
        "image",
        "scan",
        "--db",
        s(&f.db),
        "--oci-layout",
        s(&layout),
        "-o",
        "json",
    ]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    let hex = layer.trim_start_matches("sha256:");
    assert!(
        stderr(&out).contains(hex),
        "the blob is named: {}",
        stderr(&out)
    );
}

/// No database: exit 2 and how to get one.
#[test]
fn scan_without_database_says_how_to_import_one() {
    let tmp = tempfile::tempdir().unwrap();
    let root = tmp.path().join("rootfs");
    put(&root, "etc/os-release", &data("os-release"));
    let out = kv(&[
        "image",
        "scan",
        "--db",
        s(&tmp.path().join("no-db")),
        "--rootfs",
        s(&root),
    ]);
    assert_eq!(code(&out), Some(2));
    let err = stderr(&out);
    assert!(err.contains("kubevigil db import"), "{err}");
    assert!(err.contains("no-db"), "{err}");
    assert!(out.stdout.is_empty());
}

/// `db import` of a broken JSON file among good ones: exit 2 naming the file, the good ones
/// imported (and they match).
#[test]
fn import_of_a_broken_file_keeps_the_good_ones() {
    let tmp = tempfile::tempdir().unwrap();
    let dir = tmp.path().join("advisories");
    std::fs::create_dir_all(&dir).unwrap();
    std::fs::write(
        dir.join("broken.json"),
        b"{\"id\": \"GHSA-broken\", \"modified\": ",
    )
    .unwrap();
    for (name, record) in advisories()
        .into_iter()
        .filter(|(n, _)| n.starts_with("GHSA-35jh") || n.starts_with("RUSTSEC"))
    {
        std::fs::write(dir.join(name), record.to_string()).unwrap();
    }
    let db = tmp.path().join("db");
    let out = kv(&["db", "import", "--db", s(&db), s(&dir)]);
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    let err = stderr(&out);
    assert!(err.contains("broken.json"), "{err}");
    assert!(err.contains("2 records imported"), "{err}");
    let out = kv(&["db", "status", "--db", s(&db)]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let stats: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["records"], 2, "{stats}");

    let root = tmp.path().join("rootfs");
    put(
        &root,
        "usr/lib/node_modules/lodash/package.json",
        br#"{"name": "lodash", "version": "4.17.20"}"#,
    );
    let out = kv(&[
        "image",
        "scan",
        "--db",
        s(&db),
        "--rootfs",
        s(&root),
        "-o",
        "json",
    ]);
    assert_eq!(code(&out), Some(0), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["vulnerabilities"][0]["id"], "CVE-2021-23337");
    assert_eq!(report["os"], Value::Null);
}

// ---------------------------------------------------------------------------------------------
// Workloads' images: `scan --images` on manifests and on a cluster, `monitor --images`

/// Whether the tools of a loopback registry are here (skopeo, docker-registry, htpasswd).
fn registry_tools() -> bool {
    have("skopeo") && have("docker-registry") && have("htpasswd")
}

/// The fixture pushed to a fresh loopback registry as `team/app:t`: the fixture, the registry,
/// the image reference and the registry's host (keep the registry bound: it stops when dropped);
/// `None` when a tool is missing (outside CI).
fn pushed_fixture() -> Option<(&'static Fixture, Registry, String, String)> {
    let f = fixture().filter(|_| registry_tools())?;
    let reg = Registry::start();
    let host = format!("127.0.0.1:{}", reg.port);
    run(Command::new("skopeo").args([
        "--insecure-policy",
        "copy",
        "--dest-tls-verify=false",
        "--dest-creds",
        "user:pass",
        &format!("oci:{}:t", s(&f.layout)),
        &format!("docker://{host}/team/app:t"),
    ]));
    let image = format!("{host}/team/app:t");
    Some((f, reg, image, host))
}

fn deployment(name: &str, images: &[&str], extra_spec: Value) -> Value {
    let containers: Vec<Value> = images
        .iter()
        .enumerate()
        .map(|(i, image)| json!({"name": format!("c{i}"), "image": image}))
        .collect();
    let mut spec = json!({"containers": containers});
    for (k, v) in extra_spec.as_object().into_iter().flatten() {
        spec[k] = v.clone();
    }
    json!({"apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": "shop"},
        "spec": {"selector": {"matchLabels": {"app": name}},
            "template": {"metadata": {"labels": {"app": name}}, "spec": spec}}})
}

fn image_findings(report: &Value) -> Vec<&Value> {
    report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["checkId"] == "image-vulnerable")
        .collect()
}

/// `scan --images` over manifests: the image pulled once (two workloads name it), its
/// vulnerabilities an `image-vulnerable` finding at each container's `image:` line, as severe
/// as the worst (lodash's high); an image the registry does not have is an error at its line.
#[test]
fn scan_images_reports_each_workload_that_runs_a_vulnerable_image() {
    let Some((f, _registry, image, host)) = pushed_fixture() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let docker_config = docker_config(tmp.path(), &host);
    let missing = format!("{host}/team/missing:1");
    let manifests = tmp.path().join("app.yaml");
    let docs: Vec<String> = [
        deployment("web", &[&image], json!({})),
        deployment("worker", &[&image, &missing], json!({})),
    ]
    .iter()
    .map(|d| serde_json::to_string(d).unwrap())
    .collect();
    std::fs::write(&manifests, docs.join("\n---\n")).unwrap();
    let out = kubevigil()
        .args(["scan", "-o", "json", "--images", "--db", s(&f.db)])
        .args(["--insecure-registry", &host, s(&manifests)])
        .env("DOCKER_CONFIG", &docker_config)
        .output()
        .unwrap();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = image_findings(&report);
    assert_eq!(found.len(), 2, "{found:#?}");
    for (f, workload) in found.iter().zip(["web", "worker"]) {
        assert_eq!(f["object"]["name"], workload);
        assert_eq!(f["severity"], "high");
        assert_eq!(
            f["location"]["fieldPath"],
            "spec.template.spec.containers[0].image"
        );
        let message = f["message"].as_str().unwrap();
        assert!(
            message.contains(
                "6 vulnerabilities (1 high, 1 medium, 1 low, 3 of unknown severity; 4 with a fix)"
            ),
            "{message}"
        );
        assert!(
            message.contains("CVE-2021-23337 in lodash 4.17.20 (fixed in 4.17.21)"),
            "{message}"
        );
    }
    let diagnostics = report["diagnostics"].as_array().unwrap();
    assert_eq!(diagnostics.len(), 1, "{diagnostics:#?}");
    assert!(
        diagnostics[0]["message"]
            .as_str()
            .unwrap()
            .contains("team/missing:1\" was not scanned"),
        "{diagnostics:#?}"
    );
    assert_eq!(diagnostics[0]["line"], 3);
}

/// `scan --cluster --images`: the registry's credentials come only from the image pull secret
/// that the workload's service account names (a `kubernetes.io/dockerconfigjson` Secret read
/// from the cluster); without it the pull is refused and the image is an error.
#[test]
fn scan_cluster_images_pull_with_the_workloads_pull_secrets() {
    let Some((f, _registry, image, host)) = pushed_fixture() else {
        return;
    };
    let auth = base64::engine::general_purpose::STANDARD.encode("user:pass");
    let config = config_json(&host);
    let api = kubevigil_testapi::TestApi::start().unwrap();
    api.create_all([
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "registry", "namespace": "shop"},
            "data": {".dockerconfigjson": base64::engine::general_purpose::STANDARD.encode(&config)}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount",
            "metadata": {"name": "web", "namespace": "shop"},
            "imagePullSecrets": [{"name": "registry"}]}),
        deployment("web", &[&image], json!({"serviceAccountName": "web"})),
    ])
    .unwrap();
    let tmp = tempfile::tempdir().unwrap();
    let kubeconfig = tmp.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "shop-prod").unwrap();
    // No docker config: the pull secret is the only way in.
    let empty = tmp.path().join("docker");
    std::fs::create_dir_all(&empty).unwrap();
    let scan = || {
        kubevigil()
            .args([
                "scan",
                "--cluster",
                "--kubeconfig",
                s(&kubeconfig),
                "-o",
                "json",
            ])
            .args(["--images", "--db", s(&f.db), "--insecure-registry", &host])
            .env("DOCKER_CONFIG", &empty)
            .output()
            .unwrap()
    };
    let out = scan();
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    let found = image_findings(&report);
    assert_eq!(found.len(), 1, "{}: {found:#?}", stderr(&out));
    assert_eq!(found[0]["object"]["name"], "web");
    assert_eq!(found[0]["severity"], "high");
    // The secret's content is used, never shown.
    assert!(!String::from_utf8_lossy(&out.stdout).contains(&auth));
    assert!(!stderr(&out).contains(&auth));

    // The service account without its pull secret: 401, an error about the image.
    api.apply(json!({"apiVersion": "v1", "kind": "ServiceAccount",
        "metadata": {"name": "web", "namespace": "shop"}}))
        .unwrap();
    let out = scan();
    assert_eq!(code(&out), Some(2), "{}", stderr(&out));
    let report: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert!(image_findings(&report).is_empty());
    assert!(
        report["diagnostics"]
            .to_string()
            .contains("was not scanned"),
        "{}",
        report["diagnostics"]
    );
}

/// `monitor --images`: the watched workload's image is pulled with the workload's own image
/// pull secret and scanned, and its `image-vulnerable` finding reaches the history as any
/// finding does.
#[test]
fn the_monitor_scans_the_images_the_cluster_runs() {
    let Some((f, _registry, image, host)) = pushed_fixture() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    // No docker config: the workload's own image pull secret is the only way in.
    let docker_config = tmp.path().join("docker");
    std::fs::create_dir_all(&docker_config).unwrap();
    let api = kubevigil_testapi::TestApi::start().unwrap();
    let config = base64::engine::general_purpose::STANDARD.encode(config_json(&host));
    api.create_all([
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": "shop"}}),
        json!({"apiVersion": "v1", "kind": "Secret", "type": "kubernetes.io/dockerconfigjson",
            "metadata": {"name": "registry", "namespace": "shop"},
            "data": {".dockerconfigjson": config}}),
        deployment(
            "web",
            &[&image],
            json!({"imagePullSecrets": [{"name": "registry"}]}),
        ),
    ])
    .unwrap();
    let kubeconfig = tmp.path().join("kubeconfig");
    api.write_kubeconfig(&kubeconfig, "shop-prod").unwrap();
    let state = tmp.path().join("state");
    let mut monitor = kubevigil()
        .args([
            "monitor",
            "--kubeconfig",
            s(&kubeconfig),
            "--state-dir",
            s(&state),
        ])
        .args(["--listen", "127.0.0.1:0", "--resync-interval", "1"])
        .args(["--images", "--image-db", s(&f.db), "--image-interval", "10"])
        .args(["--insecure-registry", &host])
        .env("DOCKER_CONFIG", &docker_config)
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    // The metrics address, from the line the monitor logs when it listens.
    let mut stderr = std::io::BufReader::new(monitor.stderr.take().unwrap());
    let metrics = loop {
        let mut line = String::new();
        assert!(
            std::io::BufRead::read_line(&mut stderr, &mut line).unwrap() > 0,
            "the monitor exited"
        );
        if line.contains("metrics on") {
            break line
                .split("//")
                .nth(1)
                .unwrap()
                .split('/')
                .next()
                .unwrap()
                .to_string();
        }
    };
    std::thread::spawn(move || std::io::copy(&mut stderr, &mut std::io::sink()));
    let deadline = Instant::now() + Duration::from_secs(30);
    let found = loop {
        let out = kubevigil()
            .args([
                "history",
                "-o",
                "json",
                "--since",
                "1d",
                "--state-dir",
                s(&state),
            ])
            .output()
            .unwrap();
        let history: Value = serde_json::from_slice(&out.stdout).unwrap_or(Value::Null);
        let found: Vec<Value> = history["findings"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|t| t["checkId"] == "image-vulnerable")
            .cloned()
            .collect();
        if !found.is_empty() || Instant::now() > deadline {
            break found;
        }
        std::thread::sleep(Duration::from_millis(300));
    };
    let exposition = {
        use std::io::{Read as _, Write as _};
        let mut c = std::net::TcpStream::connect(&metrics).unwrap();
        write!(
            c,
            "GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n"
        )
        .unwrap();
        let mut text = String::new();
        c.read_to_string(&mut text).unwrap();
        text
    };
    let _ = monitor.kill();
    let _ = monitor.wait();
    // Scanned now, or taken from the cache (or its kept packages) when another test scanned
    // the same digest into the shared database first; never failed.
    let counted = |result: &str| {
        exposition
            .lines()
            .find_map(|l| {
                l.strip_prefix(&format!(
                    "kubevigil_image_scans_total{{result=\"{result}\"}} "
                ))
            })
            .map_or(0, |n| n.parse::<u64>().unwrap())
    };
    assert_eq!(
        counted("scanned") + counted("cached") + counted("rematched"),
        1,
        "{exposition}"
    );
    assert_eq!(counted("failed"), 0, "{exposition}");
    assert_eq!(found.len(), 1, "no image-vulnerable finding in the history");
    assert_eq!(found[0]["object"]["name"], "web");
    assert_eq!(found[0]["severity"], "high");
}

/// Credentials from a docker credential helper, as the docker CLI runs one
/// (`docker-credential-<name> get`, the registry on its standard input): named for the registry
/// by `credHelpers`, or for every registry by `credsStore`, over the config's `auths`. A helper
/// with nothing for the registry leaves the pull anonymous, and the registry refuses it.
#[test]
fn image_scan_pulls_with_a_docker_credential_helper() {
    use std::os::unix::fs::PermissionsExt as _;

    let Some((f, _registry, image, host)) = pushed_fixture() else {
        return;
    };
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin");
    std::fs::create_dir_all(&bin).unwrap();
    let asked = tmp.path().join("asked");
    let helper = |name: &str, body: &str| {
        let path = bin.join(format!("docker-credential-{name}"));
        std::fs::write(&path, format!("#!/bin/sh\n{body}\n")).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
    };
    // Answers for the registry it is asked about (and notes what it was asked), nothing else.
    helper(
        "kvtest",
        &format!(
            "[ \"$1\" = get ] || exit 3\nread -r server\necho \"$server\" >> '{}'\n\
             if [ \"$server\" = '{host}' ]; then\n\
             printf '%s' '{{\"ServerURL\":\"{host}\",\"Username\":\"user\",\"Secret\":\"pass\"}}'\n\
             else echo 'credentials not found in native keychain'; exit 1; fi",
            asked.display()
        ),
    );
    helper(
        "kvnone",
        "echo 'credentials not found in native keychain'\nexit 1",
    );
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let pull = |config: Value| {
        let dir = tmp.path().join("docker");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
        kubevigil()
            .args(["image", "scan", "--db", s(&f.db), "-o", "json"])
            .args(["--insecure-registry", &host, &image])
            .env("DOCKER_CONFIG", &dir)
            .env("PATH", &path)
            .output()
            .unwrap()
    };
    // The config's own credentials are wrong: the helper's must be the ones used.
    let wrong = base64::engine::general_purpose::STANDARD.encode("user:wrong");
    for config in [
        json!({"auths": {&host: {"auth": wrong}}, "credHelpers": {&host: "kvtest"}}),
        json!({"auths": {&host: {"auth": wrong}}, "credsStore": "kvtest"}),
        json!({"auths": {&host: {"auth": wrong}}, "credsStore": "kvnone", "credHelpers": {&host: "kvtest"}}),
    ] {
        let out = pull(config.clone());
        assert_eq!(code(&out), Some(0), "{config}: {}", stderr(&out));
        let report: Value = serde_json::from_slice(&out.stdout).unwrap();
        assert_eq!(report["target"], json!(image));
        assert!(!report["packages"].as_array().unwrap().is_empty());
    }
    let asked = std::fs::read_to_string(&asked).unwrap();
    assert_eq!(asked.lines().collect::<Vec<_>>(), [host.as_str(); 3]);

    // Nothing from the helper: anonymous, refused (the config's auths are not tried either).
    let out = pull(
        json!({"auths": {&host: {"auth": base64::engine::general_purpose::STANDARD.encode("user:pass")}}, "credsStore": "kvnone"}),
    );
    assert_eq!(code(&out), Some(2));
    assert!(stderr(&out).contains("401"), "{}", stderr(&out));
    // A helper that is not installed: an error that names it.
    let out = pull(json!({"credHelpers": {&host: "missing"}}));
    assert_eq!(code(&out), Some(2));
    assert!(
        stderr(&out).contains("docker-credential-missing"),
        "{}",
        stderr(&out)
    );
}
