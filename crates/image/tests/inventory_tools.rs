//! Inventories of real data made or shipped by this machine's tools: an rpmdb written by
//! rpm itself, Go binaries from Debian's packages, a binary given a `.dep-v0` section by
//! objcopy. A test whose tool is missing fails under CI (`CI` set), else notes it and passes.

use std::io::Write;
use std::path::Path;
use std::process::Command;

use kubevigil_image::inventory::{binary_packages, inventory};
use kubevigil_image::tree::{Node, Tree};

fn have(what: &str) -> bool {
    let found = if what.contains('/') {
        Path::new(what).exists()
    } else {
        Command::new("sh")
            .args(["-c", &format!("command -v {what}")])
            .output()
            .is_ok_and(|o| o.status.success())
    };
    if !found {
        assert!(
            std::env::var_os("CI").is_none(),
            "{what} is needed under CI"
        );
        eprintln!("note: {what} missing, test skipped");
    }
    found
}

fn run(cmd: &mut Command) -> String {
    let out = cmd.output().expect("run");
    assert!(
        out.status.success(),
        "{cmd:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("kubevigil-inv-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

const SPEC: &str = "Name: kvtest
Version: 1.2.3
Release: 4.fc40
Epoch: 2
Summary: test
License: MIT
BuildArch: noarch
%description
test
%files
";

#[test]
fn rpmdb_written_by_rpm() {
    if !have("rpm") || !have("rpmbuild") {
        return;
    }
    let dir = temp_dir("rpm");
    let spec = dir.join("kvtest.spec");
    std::fs::write(&spec, SPEC).unwrap();
    std::fs::write(
        dir.join("other.spec"),
        SPEC.replace("kvtest", "other")
            .replace("Epoch: 2\n", "")
            .replace("1.2.3", "0.9"),
    )
    .unwrap();
    let db = dir.join("db");
    run(Command::new("rpm").arg("--dbpath").arg(&db).arg("--initdb"));
    for s in ["kvtest.spec", "other.spec"] {
        run(Command::new("rpmbuild")
            .arg("--define")
            .arg(format!("_topdir {}", dir.join("top").display()))
            .arg("--define")
            .arg(format!("_dbpath {}", db.display()))
            .args(["-bb", "--quiet"])
            .arg(dir.join(s)));
    }
    let rpms = dir.join("top/RPMS/noarch");
    for entry in std::fs::read_dir(&rpms).unwrap() {
        run(Command::new("rpm")
            .arg("--dbpath")
            .arg(&db)
            .args([
                "-i",
                "--nodeps",
                "--justdb",
                "--noscripts",
                "--ignoreos",
                "--ignorearch",
            ])
            .arg(entry.unwrap().path()));
    }
    let sqlite = std::fs::read(db.join("rpmdb.sqlite")).expect("rpm wrote an sqlite rpmdb");
    assert!(sqlite.starts_with(b"SQLite format 3\0"));
    let qa = run(Command::new("rpm").arg("--dbpath").arg(&db).args([
        "-qa",
        "--qf",
        "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{SOURCERPM}\\n",
    ]));
    let mut want: Vec<String> = qa
        .lines()
        .map(|l| {
            let mut f = l.split(' ');
            let (n, v, s) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
            let src = s
                .strip_suffix(".src.rpm")
                .unwrap()
                .rsplitn(3, '-')
                .nth(2)
                .unwrap();
            format!("{n} {v} {src}")
        })
        .collect();
    want.sort();
    assert_eq!(
        want,
        ["kvtest 2:1.2.3-4.fc40 kvtest", "other 0.9-4.fc40 other"]
    );

    let mut tree = Tree::new();
    tree.insert(
        "usr/lib/os-release",
        Node::File(b"ID=\"rocky\"\nVERSION_ID=\"9.3\"\n".to_vec()),
    )
    .unwrap();
    tree.insert(
        "etc/os-release",
        Node::Symlink("../usr/lib/os-release".into()),
    )
    .unwrap();
    tree.insert("usr/lib/sysimage/rpm/rpmdb.sqlite", Node::File(sqlite))
        .unwrap();
    tree.insert(
        "var/lib/rpm",
        Node::Symlink("../../usr/lib/sysimage/rpm".into()),
    )
    .unwrap();
    let inv = inventory(&tree);
    assert_eq!(inv.errors, []);
    let got: Vec<String> = inv
        .packages
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p.name,
                p.version,
                p.source.as_deref().unwrap_or("-")
            )
        })
        .collect();
    assert_eq!(got, want);
    assert!(inv.packages.iter().all(|p| p.ecosystem == "Rocky Linux:9"));
    assert_eq!(inv.packages.len(), 2, "the linked database is read once");
    let _ = std::fs::remove_dir_all(&dir);
}

fn names(path: &str) -> Option<Vec<(String, String)>> {
    if !have(path) {
        return None;
    }
    let data = std::fs::read(path).unwrap();
    let pkgs = binary_packages(path, &data).unwrap();
    assert!(pkgs.iter().all(|p| p.ecosystem == "Go" && p.path == path));
    Some(pkgs.into_iter().map(|p| (p.name, p.version)).collect())
}

fn version_of<'a>(pkgs: &'a [(String, String)], name: &str) -> Option<&'a str> {
    pkgs.iter()
        .find(|(n, _)| n == name)
        .map(|(_, v)| v.as_str())
}

/// The toolchain version the binary names itself (`go1.19.8` in its runtime.buildVersion).
fn go_version_in(path: &str) -> String {
    let data = std::fs::read(path).unwrap();
    let at = data
        .windows(4)
        .position(|w| w == b"\0go1")
        .expect("a go1.x string")
        + 1;
    let end = data[at..]
        .iter()
        .position(|b| !(b.is_ascii_alphanumeric() || *b == b'.'))
        .unwrap();
    String::from_utf8_lossy(&data[at + 2..at + end]).into_owned()
}

#[test]
fn go_binaries_of_this_machine() {
    // Debian builds its Go packages in GOPATH mode: their build info names the toolchain and
    // the main package's path, and no modules.
    for path in [
        "/usr/bin/skopeo",
        "/usr/bin/umoci",
        "/usr/bin/docker-registry",
    ] {
        if let Some(pkgs) = names(path) {
            let stdlib = version_of(&pkgs, "stdlib").expect("stdlib");
            assert!(
                stdlib.starts_with("1.") && stdlib.chars().all(|c| c.is_ascii_digit() || c == '.'),
                "{stdlib}"
            );
            let named = go_version_in(path);
            assert_eq!(stdlib, named, "{path}");
            assert_eq!(pkgs.len(), 1, "{path}: {pkgs:?}");
        }
    }
}

/// Go's build info blob in the 1.18+ inline format (src/debug/buildinfo/buildinfo.go): the
/// 14-byte magic, pointer size, flags (2: inline strings), padding to 32 bytes, then the
/// varint-prefixed toolchain version and module info, the latter between the 16-byte
/// sentinels of src/cmd/go/internal/modload/build.go (infoStart, infoEnd).
fn go_buildinfo(version: &str, modinfo: &str) -> Vec<u8> {
    const START: &[u8] = b"0w\xaf\x0c\x92t\x08\x02A\xe1\xc1\x07\xe6\xd6\x18\xe6";
    const END: &[u8] = b"\xf92C1\x86\x18 r\x00\x82B\x10A\x16\xd8\xf2";
    let mut blob = b"\xff Go buildinf:".to_vec();
    blob.extend([8, 2]);
    blob.resize(32, 0);
    let mut put = |bytes: &[u8]| {
        let mut n = bytes.len();
        while n >= 0x80 {
            blob.push((n as u8) | 0x80);
            n >>= 7;
        }
        blob.push(n as u8);
        blob.extend_from_slice(bytes);
    };
    put(version.as_bytes());
    let mut info = START.to_vec();
    info.extend_from_slice(modinfo.as_bytes());
    info.extend_from_slice(END);
    put(&info);
    blob
}

#[test]
fn go_module_build_info_in_a_section_added_by_objcopy() {
    if !have("objcopy") {
        return;
    }
    let dir = temp_dir("gomod");
    // As `go version -m` shows a module-mode build: the main module is `(devel)` (not a
    // package), a replaced dependency takes its replacement's path and version.
    let modinfo = "path\texample.com/shop/cmd/web\n\
        mod\texample.com/shop\t(devel)\t\n\
        dep\tgithub.com/gorilla/mux\tv1.8.0\th1:i40aqfkR1h2SlN9hojwV5ZA91wcXFOvkdNIeFDP5koI=\n\
        dep\tgolang.org/x/net\tv0.17.0\th1:pVaXccu2ozPjCXewfr1S7xoGnDE28nNbJ8xi2Eo7gcM=\n\
        dep\tgithub.com/old/lib\tv1.0.0\n\
        =>\tgithub.com/new/lib\tv1.0.1\th1:abc=\n\
        build\t-compiler=gc\nbuild\tGOOS=linux\n";
    std::fs::write(dir.join("buildinfo"), go_buildinfo("go1.21.3", modinfo)).unwrap();
    let out = dir.join("web");
    run(Command::new("objcopy")
        .arg("--add-section")
        .arg(format!(".go.buildinfo={}", dir.join("buildinfo").display()))
        .args(["--set-section-flags", ".go.buildinfo=alloc,readonly"])
        .arg("/usr/bin/true")
        .arg(&out));
    let data = std::fs::read(&out).unwrap();
    let pkgs = binary_packages("usr/local/bin/web", &data).unwrap();
    let mut got: Vec<(&str, &str, &str)> = pkgs
        .iter()
        .map(|p| (p.name.as_str(), p.version.as_str(), p.ecosystem.as_str()))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            ("github.com/gorilla/mux", "1.8.0", "Go"),
            ("github.com/new/lib", "1.0.1", "Go"),
            ("golang.org/x/net", "0.17.0", "Go"),
            ("stdlib", "1.21.3", "Go"),
        ]
    );
    assert!(pkgs.iter().all(|p| p.path == "/usr/local/bin/web"));
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn cargo_auditable_section_added_by_objcopy() {
    if !have("objcopy") {
        return;
    }
    let dir = temp_dir("auditable");
    let json = br#"{"packages":[{"name":"app","version":"0.1.0","source":"local","root":true,"dependencies":[1]},{"name":"serde","version":"1.0.200","source":"crates.io"},{"name":"gitdep","version":"0.1.0","source":"git"}]}"#;
    let mut z = flate2::write::ZlibEncoder::new(Vec::new(), flate2::Compression::best());
    z.write_all(json).unwrap();
    std::fs::write(dir.join("dep.z"), z.finish().unwrap()).unwrap();
    let out = dir.join("app");
    let src = std::env::current_exe().unwrap();
    let small = ["/usr/bin/true", "/bin/true"]
        .into_iter()
        .find(|p| Path::new(p).exists());
    let input = small.map(Path::new).unwrap_or(&src);
    run(Command::new("objcopy")
        .arg("--add-section")
        .arg(format!(".dep-v0={}", dir.join("dep.z").display()))
        .args(["--set-section-flags", ".dep-v0=noload,readonly"])
        .arg(input)
        .arg(&out));
    let data = std::fs::read(&out).unwrap();
    let pkgs = binary_packages("usr/bin/app", &data).unwrap();
    let got: Vec<_> = pkgs
        .iter()
        .map(|p| {
            (
                p.name.as_str(),
                p.version.as_str(),
                p.ecosystem.as_str(),
                p.path.as_str(),
            )
        })
        .collect();
    assert_eq!(got, [("serde", "1.0.200", "crates.io", "/usr/bin/app")]);

    // The section's content corrupted in place: an error naming the path, no panic.
    let mut corrupt = data.clone();
    let z = std::fs::read(dir.join("dep.z")).unwrap();
    let at = corrupt
        .windows(z.len())
        .position(|w| w == z.as_slice())
        .unwrap();
    corrupt[at + 2..at + 12].fill(0xff);
    let e = binary_packages("usr/bin/app", &corrupt).unwrap_err();
    assert_eq!(e.path, "/usr/bin/app");
    assert!(e.message.contains(".dep-v0"), "{e}");
    // Every truncation of the file: Ok or Err, never a panic.
    for n in (0..data.len()).step_by(997) {
        let _ = binary_packages("x", &data[..n]);
    }
    let _ = std::fs::remove_dir_all(&dir);
}
