//! Imports into a temporary database: directories, single files, zip archives, bad records.

use std::io::Write;
use std::path::{Path, PathBuf};

use kubevigil_image::osv::MAX_RECORD_BYTES;
use kubevigil_vulndb::{Db, ImportError};
use zip::write::SimpleFileOptions;

fn record(id: &str, modified: &str, eco: &str, name: &str, fixed: &str) -> String {
    format!(
        r#"{{"id":"{id}","modified":"{modified}","summary":"test",
  "affected":[{{"package":{{"ecosystem":"{eco}","name":"{name}"}},
  "ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{fixed}"}}]}}]}}]}}"#
    )
}

fn write(path: &Path, body: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, body).unwrap();
}

fn build_zip(path: &Path, entries: &[(&str, Vec<u8>)]) {
    let mut zip = zip::ZipWriter::new(std::fs::File::create(path).unwrap());
    let options = SimpleFileOptions::default().compression_method(zip::CompressionMethod::Deflated);
    for (name, body) in entries {
        zip.start_file(*name, options).unwrap();
        zip.write_all(body).unwrap();
    }
    zip.finish().unwrap();
}

fn ids_of(db: &Db, eco: &str, name: &str) -> Vec<String> {
    db.candidates(eco, name)
        .unwrap()
        .into_iter()
        .map(|r| r.id)
        .collect()
}

fn errors_text(errors: &[ImportError]) -> Vec<String> {
    errors.iter().map(ToString::to_string).collect()
}

#[test]
fn directory_zip_and_bad_records() {
    let tmp = tempfile::tempdir().unwrap();
    let src = tmp.path().join("src");
    write(
        &src.join("debian/DSA-1.json"),
        &record(
            "DSA-1",
            "2024-01-01T00:00:00Z",
            "Debian:12",
            "openssl",
            "3.0.13-1",
        ),
    );
    write(
        &src.join("debian/nested/DEBIAN-CVE-1.json"),
        &record(
            "DEBIAN-CVE-1",
            "2024-01-01T00:00:00Z",
            "Debian:11",
            "openssl",
            "1.1.1w-0",
        ),
    );
    write(
        &src.join("pypi/PYSEC-1.json"),
        &record(
            "PYSEC-1",
            "2024-01-01T00:00:00Z",
            "PyPI",
            "Django_Rest.framework",
            "3.0",
        ),
    );
    write(
        &src.join("corrupt.json"),
        "{\"id\": \"BROKEN-1\", \"modified\": ",
    );
    write(
        &src.join("schema.json"),
        r#"{"id":"BAD-1","modified":"2024-01-01T00:00:00Z","affected":[{"package":{"ecosystem":"npm","name":"x"},"ranges":[{"type":"GIT","events":[{"introduced":"0"}]}]}]}"#,
    );
    write(&src.join("README.md"), "not a record");
    write(
        &src.join("withdrawn.json"),
        &record("GHSA-w", "2024-01-01T00:00:00Z", "npm", "lodash", "4.0.0").replacen(
            "\"summary\"",
            "\"withdrawn\":\"2024-02-01T00:00:00Z\",\"summary\"",
            1,
        ),
    );

    let archive = tmp.path().join("all.zip");
    let bomb = vec![b' '; MAX_RECORD_BYTES + 1];
    build_zip(
        &archive,
        &[
            (
                "ALPINE-1.json",
                record(
                    "ALPINE-1",
                    "2024-01-01T00:00:00Z",
                    "Alpine:v3.19",
                    "openssl",
                    "3.1.5-r0",
                )
                .into_bytes(),
            ),
            (
                "GO-1.json",
                record("GO-1", "2024-01-01T00:00:00Z", "Go", "stdlib", "1.22.1").into_bytes(),
            ),
            ("bomb.json", bomb),
            ("notes.txt", b"ignored".to_vec()),
            ("bad.json", b"[1,2]".to_vec()),
        ],
    );

    let mut db = Db::open(&tmp.path().join("db")).unwrap();
    let report = db
        .import(&[
            src.clone(),
            archive.clone(),
            tmp.path().join("missing.json"),
        ])
        .unwrap();
    assert_eq!(report.imported, 6, "{report:?}");
    assert_eq!(report.unchanged, 0);
    let errors = errors_text(&report.errors);
    assert_eq!(errors.len(), 5, "{errors:#?}");
    let src_s = src.display().to_string();
    let zip_s = archive.display().to_string();
    // Truncated JSON: no id can be read from it.
    assert!(
        errors.iter().any(|e| e.starts_with(&format!(
            "{src_s}/corrupt.json: modified: EOF while parsing"
        ))),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{src_s}/schema.json: BAD-1: "))
                && e.contains("affected[0].ranges[0].repo")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{zip_s}!bomb.json: ")) && e.contains("cap")),
        "{errors:#?}"
    );
    assert!(
        errors
            .iter()
            .any(|e| e.starts_with(&format!("{zip_s}!bad.json: "))),
        "{errors:#?}"
    );
    assert!(
        errors.iter().any(|e| e.contains("missing.json")),
        "{errors:#?}"
    );

    // The family is what counts: Debian:11 and Debian:12 records both come back for Debian:12;
    // matching by release is the matcher's job.
    assert_eq!(
        ids_of(&db, "Debian:12", "openssl"),
        ["DEBIAN-CVE-1", "DSA-1"]
    );
    assert_eq!(ids_of(&db, "Alpine:v3.19", "openssl"), ["ALPINE-1"]);
    assert_eq!(ids_of(&db, "Go", "stdlib"), ["GO-1"]);
    assert_eq!(ids_of(&db, "PyPI", "django-rest-framework"), ["PYSEC-1"]);
    assert_eq!(ids_of(&db, "PyPI", "DJANGO_REST_FRAMEWORK"), ["PYSEC-1"]);
    assert_eq!(
        ids_of(&db, "npm", "lodash"),
        ["GHSA-w"],
        "withdrawn records are kept"
    );
    assert!(ids_of(&db, "npm", "openssl").is_empty());

    let stats = db.stats().unwrap();
    assert_eq!(
        (stats.records, stats.withdrawn, stats.generation),
        (6, 1, 1)
    );
    assert_eq!(stats.families.get("Debian"), Some(&2));
    assert_eq!(stats.families.get("PyPI"), Some(&1));
    assert!(stats.last_import.is_some());

    // The same files again: nothing changes, the generation stays.
    let again = db.import(&[src.clone(), archive.clone()]).unwrap();
    assert_eq!(
        (again.imported, again.unchanged, again.errors.len()),
        (0, 6, 4)
    );
    assert_eq!(db.stats().unwrap().generation, 1);

    // A newer version replaces, an older one does not, an equally old different one does.
    let newer = tmp.path().join("newer.json");
    write(
        &newer,
        &record(
            "DSA-1",
            "2024-03-01T00:00:00Z",
            "Debian:12",
            "openssl-renamed",
            "3.0.14-1",
        ),
    );
    let older = tmp.path().join("older.json");
    write(
        &older,
        &record("GO-1", "2023-01-01T00:00:00Z", "Go", "stdlib", "9.9.9"),
    );
    let r = db.import(&[newer.clone(), older]).unwrap();
    assert_eq!((r.imported, r.unchanged), (1, 1), "{r:?}");
    assert_eq!(
        ids_of(&db, "Debian:12", "openssl"),
        ["DEBIAN-CVE-1"],
        "the index follows the new version"
    );
    let dsa = db.candidates("Debian:12", "openssl-renamed").unwrap();
    assert_eq!(dsa[0].modified, "2024-03-01T00:00:00Z");
    assert_eq!(
        db.candidates("Go", "stdlib").unwrap()[0].modified,
        "2024-01-01T00:00:00Z"
    );
    assert_eq!(db.stats().unwrap().generation, 2);

    // Reopening finds everything.
    drop(db);
    let db = Db::open(&tmp.path().join("db")).unwrap();
    assert_eq!(db.stats().unwrap().records, 6);
}

#[test]
fn a_record_over_the_cap_in_a_small_archive_is_refused() {
    // A few KiB of archive inflating past the record cap: refused by its declared size before
    // any read (and a read is capped at cap + 1 bytes should the header lie).
    let tmp = tempfile::tempdir().unwrap();
    let archive = tmp.path().join("big.zip");
    let big = format!(
        r#"{{"id":"BIG-1","modified":"2024-01-01T00:00:00Z","details":"{}"}}"#,
        "a".repeat(MAX_RECORD_BYTES)
    );
    build_zip(&archive, &[("big.json", big.into_bytes())]);
    assert!(
        std::fs::metadata(&archive).unwrap().len() < 100_000,
        "highly compressible"
    );
    let mut db = Db::open(&tmp.path().join("db")).unwrap();
    let report = db.import(&[archive]).unwrap();
    assert_eq!(report.imported, 0);
    assert_eq!(report.errors.len(), 1);
    assert_eq!(db.stats().unwrap().generation, 0);
}

#[test]
fn not_a_zip_and_an_oversized_file() {
    let tmp = tempfile::tempdir().unwrap();
    let fake = tmp.path().join("fake.zip");
    write(&fake, "PK but not really");
    let huge: PathBuf = tmp.path().join("huge.json");
    std::fs::write(&huge, vec![b' '; MAX_RECORD_BYTES + 10]).unwrap();
    let mut db = Db::open(&tmp.path().join("db")).unwrap();
    let report = db.import(&[fake, huge]).unwrap();
    let errors = errors_text(&report.errors);
    assert_eq!(errors.len(), 2, "{errors:?}");
    assert!(
        errors[0].contains("fake.zip: not a readable zip archive"),
        "{errors:?}"
    );
    assert!(
        errors[1].contains("huge.json: ") && errors[1].contains("cap"),
        "{errors:?}"
    );
}
