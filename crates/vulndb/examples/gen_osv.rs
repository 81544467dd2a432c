//! Writes a deterministic synthetic OSV corpus, one JSON file per record under
//! `<dir>/<Ecosystem>/<ID>.json`, shaped like osv.dev's exports.
//!
//! `cargo run --release -p kubevigil-vulndb --example gen_osv -- [DIR] [COUNT]`
//! (default `osv-synthetic`, 100000).

mod common;

use std::path::PathBuf;

fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let dir = PathBuf::from(args.next().unwrap_or_else(|| "osv-synthetic".into()));
    let count: u64 = match args.next() {
        Some(n) => n
            .parse()
            .map_err(|e| std::io::Error::other(format!("COUNT: {e}")))?,
        None => 100_000,
    };
    let start = std::time::Instant::now();
    let mut bytes = 0u64;
    for n in 0..count {
        let (eco, id, body) = common::record(n);
        let sub = dir.join(&eco);
        if n < common::ECOSYSTEMS.len() as u64 {
            std::fs::create_dir_all(&sub)?;
        }
        bytes += body.len() as u64;
        std::fs::write(sub.join(format!("{id}.json")), body)?;
    }
    eprintln!(
        "{count} records, {:.1} MiB of JSON, in {} in {:.1?}",
        bytes as f64 / 1048576.0,
        dir.display(),
        start.elapsed()
    );
    Ok(())
}
