//! Inventories of real data made or shipped by this machine's tools: an rpmdb written by
//! rpm itself, Go binaries from Debian's packages, a binary given a `.dep-v0` section by
//! objcopy, a Berkeley DB rpmdb written by db5.3_load. A test whose tool is missing fails under
//! CI (`CI` set), else notes it and passes.

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

/// `rpm -qa` over the database in `db` (with `--define`s, e.g. a backend), as
/// "name [epoch:]version-release source", sorted.
fn rpm_qa(db: &Path, defines: &[&str]) -> Vec<String> {
    let mut cmd = Command::new("rpm");
    cmd.arg("--dbpath").arg(db);
    for d in defines {
        cmd.args(["--define", d]);
    }
    let qa = run(cmd.args([
        "-qa",
        "--qf",
        "%{NAME} %|EPOCH?{%{EPOCH}:}:{}|%{VERSION}-%{RELEASE} %{SOURCERPM}\\n",
    ]));
    let mut got: Vec<String> = qa
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
    got.sort();
    got
}

/// The inventory's packages as `rpm_qa` lists them, and its errors.
fn inventory_of(db_path: &str, data: Vec<u8>) -> (Vec<String>, Vec<String>) {
    let mut tree = Tree::new();
    tree.insert(
        "etc/os-release",
        Node::File(b"ID=\"rocky\"\nVERSION_ID=\"8.9\"\n".to_vec()),
    )
    .unwrap();
    tree.insert(db_path, Node::File(data)).unwrap();
    let inv = inventory(&tree);
    assert!(
        inv.packages
            .iter()
            .all(|p| p.ecosystem == "Rocky Linux:8" && p.path == format!("/{db_path}"))
    );
    let got = inv
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
    let errors = inv.errors.iter().map(|e| e.to_string()).collect();
    (got, errors)
}

/// (type, next_pgno) of every page of a Berkeley DB file.
fn bdb_pages(data: &[u8], big_endian: bool, pagesize: usize) -> Vec<(u8, u32)> {
    data.chunks(pagesize)
        .map(|p| {
            let next: [u8; 4] = p[16..20].try_into().unwrap();
            let next = if big_endian {
                u32::from_be_bytes(next)
            } else {
                u32::from_le_bytes(next)
            };
            (p[25], next)
        })
        .collect()
}

fn meta_u32(data: &[u8], big_endian: bool, at: usize) -> u32 {
    let b: [u8; 4] = data[at..at + 4].try_into().unwrap();
    if big_endian {
        u32::from_be_bytes(b)
    } else {
        u32::from_le_bytes(b)
    }
}

/// A Berkeley DB `Packages` as RHEL 7/8 have it, written by Berkeley DB itself (`db5.3_load`)
/// from the header blobs rpm wrote to its sqlite database: the same packages come out of both,
/// as rpm lists them (from sqlite, and from the Berkeley DB file with its `bdb_ro` backend).
#[test]
fn berkeley_db_rpmdb_written_by_db_load() {
    if !have("rpm") || !have("rpmbuild") || !have("db5.3_load") {
        return;
    }
    let dir = temp_dir("bdb");
    // 40 subpackages (several buckets, chained bucket pages) and a 30 KiB description (an
    // overflow chain of many pages).
    let mut spec = SPEC.replace(
        "%description\ntest\n",
        &format!(
            "%description\n{}\n",
            "a long description line ".repeat(1250)
        ),
    );
    for i in 0..40 {
        let epoch = if i % 7 == 0 { "Epoch: 3\n" } else { "" };
        spec.push_str(&format!(
            "%package -n kvsub{i}\nSummary: sub {i}\n{epoch}%description -n kvsub{i}\nsub {i}\n%files -n kvsub{i}\n"
        ));
    }
    std::fs::write(dir.join("kvtest.spec"), spec).unwrap();
    let db = dir.join("db");
    run(Command::new("rpm").arg("--dbpath").arg(&db).arg("--initdb"));
    run(Command::new("rpmbuild")
        .arg("--define")
        .arg(format!("_topdir {}", dir.join("top").display()))
        .arg("--define")
        .arg(format!("_dbpath {}", db.display()))
        .args(["-bb", "--quiet"])
        .arg(dir.join("kvtest.spec")));
    let rpms: Vec<_> = std::fs::read_dir(dir.join("top/RPMS/noarch"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    assert_eq!(rpms.len(), 41);
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
        .args(&rpms));
    let want = rpm_qa(&db, &[]);
    assert_eq!(want.len(), 41);
    assert!(want.contains(&"kvtest 2:1.2.3-4.fc40 kvtest".to_string()));
    assert!(want.contains(&"kvsub7 3:1.2.3-4.fc40 kvtest".to_string()));
    let sqlite = std::fs::read(db.join("rpmdb.sqlite")).unwrap();
    let (got, errors) = inventory_of("var/lib/rpm/rpmdb.sqlite", sqlite);
    assert_eq!((&got, &errors), (&want, &vec![]));

    // The header blobs, exactly as rpm stores them in either backend.
    let conn = rusqlite::Connection::open(db.join("rpmdb.sqlite")).unwrap();
    let mut stmt = conn.prepare("SELECT hnum, blob FROM Packages").unwrap();
    let blobs: Vec<(u32, Vec<u8>)> = stmt
        .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))
        .unwrap()
        .map(Result::unwrap)
        .collect();
    assert_eq!(blobs.len(), 41);
    assert!(blobs.iter().any(|(_, b)| b.len() > 30_000));
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();

    // (big-endian, page size, other db_load settings)
    let configs: [(bool, usize, &[&str]); 4] = [
        (false, 512, &[]),
        (true, 1024, &["h_ffactor=2"]),
        (false, 8192, &["chksum=1", "h_ffactor=1000"]),
        (true, 65536, &[]),
    ];
    let mut small = Vec::new();
    for (big_endian, pagesize, settings) in configs {
        let name = format!("{}-{pagesize}-{}", big_endian as u8, settings.join(","));
        // db_dump's text format; keys are rpm's instance numbers in the file's byte order, key
        // 0 rpm's next instance number.
        let key = |n: u32| {
            hex(&if big_endian {
                n.to_be_bytes()
            } else {
                n.to_le_bytes()
            })
        };
        let mut input = String::from("VERSION=3\nformat=bytevalue\ntype=hash\nHEADER=END\n");
        input.push_str(&format!(" {}\n {}\n", key(0), key(blobs.len() as u32 + 1)));
        for (hnum, blob) in &blobs {
            input.push_str(&format!(" {}\n {}\n", key(*hnum), hex(blob)));
        }
        input.push_str("DATA=END\n");
        let input_path = dir.join(format!("{name}.txt"));
        std::fs::write(&input_path, input).unwrap();
        let bdb = dir.join(&name);
        std::fs::create_dir_all(&bdb).unwrap();
        let mut load = Command::new("db5.3_load");
        load.args(["-t", "hash", "-c"])
            .arg(format!(
                "db_lorder={}",
                if big_endian { 4321 } else { 1234 }
            ))
            .arg("-c")
            .arg(format!("db_pagesize={pagesize}"));
        for s in settings {
            load.args(["-c", s]);
        }
        run(load.arg("-f").arg(&input_path).arg(bdb.join("Packages")));
        let data = std::fs::read(bdb.join("Packages")).unwrap();

        // The file is what the configuration asks: byte order, page size, checksums, buckets,
        // overflow pages.
        assert_eq!(meta_u32(&data, big_endian, 12), 0x061561, "{name}");
        assert_eq!(meta_u32(&data, big_endian, 20) as usize, pagesize, "{name}");
        assert_eq!(data[26] & 1 == 1, settings.contains(&"chksum=1"), "{name}");
        let pages = bdb_pages(&data, big_endian, pagesize);
        let overflow = pages.iter().filter(|(t, _)| *t == 7).count();
        let max_bucket = meta_u32(&data, big_endian, 72);
        match pagesize {
            512 => {
                // Every header off the page, the long one over many pages.
                assert!(overflow > 41 + 50, "{name}: {overflow}");
            }
            // Short headers on the page, buckets over full: bucket pages chained.
            8192 => assert!(
                pages.iter().any(|&(t, next)| t == 13 && next != 0),
                "{name}"
            ),
            1024 => assert!(max_bucket >= 16, "{name}: {max_bucket}"),
            // Only the long header is off the page: the others are on-page items.
            65536 => assert_eq!(overflow, 1, "{name}"),
            _ => {}
        }

        let (got, errors) = inventory_of("var/lib/rpm/Packages", data.clone());
        assert_eq!((&got, &errors), (&want, &vec![]), "{name}");
        // rpm's own reader agrees (it reads no checksummed file).
        if !settings.contains(&"chksum=1") {
            assert_eq!(rpm_qa(&bdb, &["_db_backend bdb_ro"]), want, "{name}");
        }
        if pagesize == 512 {
            small = data;
        }
    }

    // The real file, damaged. Truncated at every page boundary: an error, no packages.
    let pagesize = 512;
    for n in (0..small.len()).step_by(pagesize) {
        let (got, errors) = inventory_of("var/lib/rpm/Packages", small[..n].to_vec());
        assert!(got.is_empty(), "{n}");
        assert_eq!(errors.len(), 1, "{n}");
        assert!(
            errors[0].starts_with("/var/lib/rpm/Packages: rpmdb Berkeley DB: ")
                && (errors[0].contains("truncated") || errors[0].contains("too short")),
            "{n}: {errors:?}"
        );
    }
    // An overflow chain made cyclic, or sent past the last page: that package's error, the
    // other packages read.
    let pages = bdb_pages(&small, false, pagesize);
    let last = pages.len() as u32 - 1;
    let (at, _) = pages
        .iter()
        .enumerate()
        .find(|(_, (t, next))| *t == 7 && *next != 0)
        .unwrap();
    for (next, message) in [(at as u32, "twice"), (last + 5, "beyond")] {
        let mut bad = small.clone();
        bad[at * pagesize + 16..at * pagesize + 20].copy_from_slice(&next.to_le_bytes());
        let (got, errors) = inventory_of("var/lib/rpm/Packages", bad);
        assert_eq!(got.len(), want.len() - 1, "{message}");
        assert_eq!(errors.len(), 1, "{errors:?}");
        assert!(errors[0].contains(message), "{errors:?}");
    }
    // A bad magic: not a hash database at all.
    let mut bad = small.clone();
    bad[12] ^= 0xff;
    let (got, errors) = inventory_of("var/lib/rpm/Packages", bad);
    assert!(got.is_empty());
    assert!(errors[0].contains("magic"), "{errors:?}");
    let _ = std::fs::remove_dir_all(&dir);
}
