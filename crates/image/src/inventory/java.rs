//! Java archives (`.jar`, `.war`, `.ear`; ecosystem `Maven`).
//!
//! Zip archives (PKWARE APPNOTE, read with the `zip` crate). Each
//! `META-INF/maven/<group>/<artifact>/pom.properties` (written by maven-archiver,
//! <https://maven.apache.org/shared/maven-archiver/>; Java properties: `key=value` or
//! `key: value`, `#`/`!` comments) is a package `group:artifact` at `version` (a shaded jar
//! holds several). Only when an archive has no pom.properties, its `META-INF/MANIFEST.MF`
//! (<https://docs.oracle.com/en/java/javase/21/docs/specs/jar/jar.html#jar-manifest>) names a
//! package if it has all of `Implementation-Vendor-Id` (the group), `Implementation-Title`
//! (the artifact) and `Implementation-Version`: a guess from fewer fields would match the
//! wrong artifact's advisories.
//!
//! Archives inside archives (`BOOT-INF/lib/*.jar`, `WEB-INF/lib/*.jar`, any `*.jar`/`*.war`/
//! `*.ear` entry) are read too, up to [`MAX_DEPTH`] levels below the file; their packages'
//! path is `<file>!/<entry>`. Everything decompressed from one file counts against
//! [`MAX_UNCOMPRESSED`] (zip bombs), each properties file or manifest against
//! [`MAX_SMALL_ENTRY`].

use std::io::{Cursor, Read};

use super::{Found, InventoryError, package};
use crate::package::Package;

pub const MAX_DEPTH: u32 = 3;
pub const MAX_UNCOMPRESSED: u64 = 256 << 20;
pub const MAX_SMALL_ENTRY: u64 = 1 << 20;

pub(crate) fn parse_archive(data: &[u8], path: &str) -> Found {
    let mut found = (Vec::new(), Vec::new());
    let mut budget = MAX_UNCOMPRESSED;
    archive(data, path, 0, &mut budget, &mut found);
    found
}

fn is_archive(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    lower.ends_with(".jar") || lower.ends_with(".war") || lower.ends_with(".ear")
}

/// Reads at most `limit` bytes of `r`, all counted against `budget`; an error past either.
fn read_capped(r: impl Read, limit: u64, budget: &mut u64) -> Result<Vec<u8>, String> {
    let cap = limit.min(*budget);
    let mut out = Vec::new();
    r.take(cap + 1)
        .read_to_end(&mut out)
        .map_err(|e| e.to_string())?;
    if out.len() as u64 > cap {
        return Err(format!(
            "decompresses to over {cap} bytes (cap {limit}, {budget} left of {MAX_UNCOMPRESSED} for the file)"
        ));
    }
    *budget -= out.len() as u64;
    Ok(out)
}

fn archive(data: &[u8], path: &str, depth: u32, budget: &mut u64, found: &mut Found) {
    let err = |m: String| InventoryError::new(path, m);
    let mut zip = match zip::ZipArchive::new(Cursor::new(data)) {
        Ok(z) => z,
        Err(e) => return found.1.push(err(format!("zip: {e}"))),
    };
    let mut poms = Vec::new();
    let mut manifest: Option<Vec<u8>> = None;
    let mut nested = Vec::new();
    for i in 0..zip.len() {
        let mut entry = match zip.by_index(i) {
            Ok(e) => e,
            Err(e) => {
                found.1.push(err(format!("zip entry {i}: {e}")));
                continue;
            }
        };
        if !entry.is_file() {
            continue;
        }
        let name = entry.name().to_string();
        let pom = name.starts_with("META-INF/maven/") && name.ends_with("/pom.properties");
        let wanted = pom || name.eq_ignore_ascii_case("META-INF/MANIFEST.MF") || is_archive(&name);
        if !wanted {
            continue;
        }
        if is_archive(&name) && depth >= MAX_DEPTH {
            found.1.push(err(format!(
                "{name}: archive nested over {MAX_DEPTH} deep, not read"
            )));
            continue;
        }
        let limit = if is_archive(&name) {
            MAX_UNCOMPRESSED
        } else {
            MAX_SMALL_ENTRY
        };
        let bytes = match read_capped(&mut entry, limit, budget) {
            Ok(b) => b,
            Err(e) => {
                found.1.push(err(format!("{name}: {e}")));
                if *budget == 0 {
                    return; // nothing more can be read from this file
                }
                continue;
            }
        };
        if pom {
            poms.push((name, bytes));
        } else if is_archive(&name) {
            nested.push((name, bytes));
        } else {
            manifest = Some(bytes);
        }
    }
    for (name, bytes) in &poms {
        match pom_package(bytes, path) {
            Some(p) => found.0.push(p),
            None => found
                .1
                .push(err(format!("{name}: no groupId, artifactId or version"))),
        }
    }
    if poms.is_empty() {
        found
            .0
            .extend(manifest.and_then(|m| manifest_package(&m, path)));
    }
    for (name, bytes) in nested {
        archive(&bytes, &format!("{path}!/{name}"), depth + 1, budget, found);
    }
}

fn properties(data: &[u8]) -> impl Iterator<Item = (String, String)> + '_ {
    std::str::from_utf8(data)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| {
            let l = l.trim();
            if l.starts_with(['#', '!']) {
                return None;
            }
            let i = l.find(['=', ':'])?;
            Some((
                l.get(..i)?.trim().to_string(),
                l.get(i + 1..)?.trim().to_string(),
            ))
        })
}

fn pom_package(data: &[u8], path: &str) -> Option<Package> {
    let (mut g, mut a, mut v) = (None, None, None);
    for (k, val) in properties(data) {
        match k.as_str() {
            "groupId" => g = Some(val),
            "artifactId" => a = Some(val),
            "version" => v = Some(val),
            _ => {}
        }
    }
    let (g, a, v) = (
        g.filter(|s| !s.is_empty())?,
        a.filter(|s| !s.is_empty())?,
        v.filter(|s| !s.is_empty())?,
    );
    Some(package(&format!("{g}:{a}"), &v, "Maven", path))
}

fn manifest_package(data: &[u8], path: &str) -> Option<Package> {
    let text = String::from_utf8_lossy(data);
    // Lines over 72 bytes continue on lines starting with one space.
    let mut joined: Vec<String> = Vec::new();
    for line in text.lines() {
        match (line.strip_prefix(' '), joined.last_mut()) {
            (Some(rest), Some(last)) => last.push_str(rest),
            _ => joined.push(line.to_string()),
        }
    }
    let get = |key: &str| {
        joined.iter().find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == key)
                .then(|| v.trim().to_string())
                .filter(|v| !v.is_empty())
        })
    };
    let (g, a, v) = (
        get("Implementation-Vendor-Id")?,
        get("Implementation-Title")?,
        get("Implementation-Version")?,
    );
    Some(package(&format!("{g}:{a}"), &v, "Maven", path))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use std::io::Write;
    use zip::write::SimpleFileOptions;

    pub(crate) fn jar(entries: &[(&str, &[u8])]) -> Vec<u8> {
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        for (name, data) in entries {
            w.start_file(*name, SimpleFileOptions::default()).unwrap();
            w.write_all(data).unwrap();
        }
        w.finish().unwrap().into_inner()
    }

    fn got(found: &Found) -> Vec<String> {
        found
            .0
            .iter()
            .map(|p| format!("{} {} {}", p.name, p.version, p.path))
            .collect()
    }

    #[test]
    fn pom_properties_manifest_fallback_and_nesting() {
        let lib = jar(&[(
            "META-INF/maven/org.yaml/snakeyaml/pom.properties",
            b"#Generated\nartifactId=snakeyaml\ngroupId=org.yaml\nversion=1.33\n",
        )]);
        let manifest_only = jar(&[(
            "META-INF/MANIFEST.MF",
            b"Manifest-Version: 1.0\nImplementation-Title: commons-io\nImplementation-Version: 2.11.0\nImplementation-Vendor-Id: commons-io\n",
        )]);
        let app = jar(&[
            ("META-INF/MANIFEST.MF", b"Implementation-Title: x\nImplementation-Version: 9\nImplementation-Vendor-Id: y\n"),
            ("META-INF/maven/com.example/app/pom.properties", b"groupId=com.example\nartifactId=app\nversion=1.0.0\n"),
            ("BOOT-INF/lib/snakeyaml-1.33.jar", &lib),
            ("BOOT-INF/lib/commons-io-2.11.0.jar", &manifest_only),
        ]);
        let found = parse_archive(&app, "/app/app.jar");
        assert_eq!(found.1, []);
        assert_eq!(
            got(&found),
            [
                "com.example:app 1.0.0 /app/app.jar",
                "org.yaml:snakeyaml 1.33 /app/app.jar!/BOOT-INF/lib/snakeyaml-1.33.jar",
                "commons-io:commons-io 2.11.0 /app/app.jar!/BOOT-INF/lib/commons-io-2.11.0.jar",
            ]
        );
    }

    #[test]
    fn hostile_archives() {
        // Nested five deep: the levels past MAX_DEPTH are refused with an error.
        let mut inner = jar(&[(
            "META-INF/maven/g/deep/pom.properties",
            b"groupId=g\nartifactId=deep\nversion=5\n",
        )]);
        for level in (1..5).rev() {
            let pom = format!("groupId=g\nartifactId=l{level}\nversion=1\n");
            inner = jar(&[
                (
                    &format!("META-INF/maven/g/l{level}/pom.properties"),
                    pom.as_bytes(),
                ),
                ("lib/in.jar", &inner),
            ]);
        }
        let found = parse_archive(&inner, "/d.jar");
        assert_eq!(found.0.len(), 4, "{:?}", got(&found));
        assert!(
            found.1[0].message.contains("nested over 3 deep"),
            "{:?}",
            found.1
        );
        // A bomb: a 300 MiB entry of zeros (about 300 KiB compressed).
        let mut w = zip::ZipWriter::new(Cursor::new(Vec::new()));
        w.start_file("lib/bomb.jar", SimpleFileOptions::default())
            .unwrap();
        let zeros = vec![0u8; 1 << 20];
        for _ in 0..300 {
            w.write_all(&zeros).unwrap();
        }
        let bomb = w.finish().unwrap().into_inner();
        assert!(bomb.len() < 2 << 20);
        let found = parse_archive(&bomb, "/bomb.jar");
        assert!(found.0.is_empty());
        assert!(
            found.1[0].message.contains("decompresses to over"),
            "{:?}",
            found.1
        );
        // Not a zip, a truncated zip, and a corrupt deflate stream.
        assert_eq!(parse_archive(b"PK\x03\x04junk", "/x.jar").1.len(), 1);
        let good = jar(&[(
            "META-INF/maven/g/a/pom.properties",
            &b"groupId=g\nartifactId=a\nversion=1\n".repeat(50),
        )]);
        for n in [0, 10, good.len() / 2, good.len() - 1] {
            let _ = parse_archive(&good[..n], "/t.jar");
        }
        // Local header (30 bytes) and name (33): the deflate stream starts at 63.
        let mut corrupt = good.clone();
        if let Some(b) = corrupt.get_mut(66..80) {
            b.fill(0xff);
        }
        let found = parse_archive(&corrupt, "/c.jar");
        assert!(found.0.is_empty() && !found.1.is_empty(), "{found:?}");
    }
}
