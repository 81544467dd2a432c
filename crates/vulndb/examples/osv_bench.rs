//! Imports a corpus (from `gen_osv`, or osv.dev exports) into a fresh database and times
//! the import and 1,300 `candidates` lookups, about one image's packages.
//!
//! `cargo run --release -p kubevigil-vulndb --example osv_bench -- CORPUS DBDIR`

mod common;

use std::path::PathBuf;
use std::time::Instant;

use kubevigil_vulndb::Db;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let corpus = PathBuf::from(args.next().ok_or("CORPUS missing")?);
    let dbdir = PathBuf::from(args.next().ok_or("DBDIR missing")?);
    let mut db = Db::open(&dbdir)?;

    let start = Instant::now();
    let report = db.import(std::slice::from_ref(&corpus))?;
    let import = start.elapsed();
    println!(
        "import: {} imported, {} unchanged, {} errors in {import:.2?}",
        report.imported,
        report.unchanged,
        report.errors.len()
    );
    for e in report.errors.iter().take(5) {
        println!("  {e}");
    }
    let start = Instant::now();
    let again = db.import(&[corpus])?;
    println!(
        "reimport: {} imported, {} unchanged in {:.2?}",
        again.imported,
        again.unchanged,
        start.elapsed()
    );

    let size: u64 = ["osv.sqlite", "osv.sqlite-wal"]
        .iter()
        .filter_map(|f| std::fs::metadata(dbdir.join(f)).ok())
        .map(|m| m.len())
        .sum();
    println!("database: {:.1} MiB", size as f64 / 1048576.0);
    println!("stats: {:?}", db.stats()?);

    // 1,300 packages of a typical image: mostly OS packages, the rest language packages.
    let mut rng = common::Rng::new(1300);
    let mut queries = Vec::new();
    for i in 0..1300u64 {
        let eco = match i % 10 {
            0..=3 => "Debian:12",
            4 => "Alpine:v3.19",
            5 => "Ubuntu:22.04",
            6 => "npm",
            7 => "PyPI",
            8 => "Go",
            _ => "Maven",
        };
        let family = eco.split(':').next().unwrap_or(eco);
        queries.push((eco, common::package_name(family, rng.below(common::POOL))));
    }
    let start = Instant::now();
    let mut found = 0;
    for (eco, name) in &queries {
        found += db.candidates(eco, name)?.len();
    }
    println!(
        "1300 candidates lookups: {found} records returned (parsed) in {:.2?}",
        start.elapsed()
    );
    Ok(())
}
