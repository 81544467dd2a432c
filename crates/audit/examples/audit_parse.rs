//! Parse-only throughput of the audit event reader: `audit_parse FILE...` streams every event
//! through `EventReader::next_event` (request attributes parsed, bodies skipped) and prints
//! events/s and MB/s. The baseline that `audit policy simulate` and `audit detect` are held to.

use std::time::Instant;

use kubevigil_audit::EventReader;

fn main() -> std::io::Result<()> {
    let paths: Vec<String> = std::env::args().skip(1).collect();
    if paths.is_empty() {
        eprintln!("usage: audit_parse FILE...");
        std::process::exit(2);
    }
    let start = Instant::now();
    let (mut events, mut skipped, mut bytes, mut verbs) = (0u64, 0u64, 0u64, 0usize);
    for p in &paths {
        let mut r = EventReader::new(p.clone(), kubevigil_audit::input::open(p.as_ref())?);
        while let Some(item) = r.next_event() {
            if let Ok((_, ev)) = item {
                // Touch a field so the parse cannot be optimised away.
                verbs += ev.verb().len();
            }
        }
        let s = r.stats();
        events += s.events;
        skipped += s.skipped;
        bytes += s.bytes;
    }
    let secs = start.elapsed().as_secs_f64();
    println!(
        "parse-only: {events} events ({skipped} skipped), {:.1} MB in {secs:.3} s: {:.0} events/s, {:.1} MB/s (checksum {verbs})",
        bytes as f64 / 1e6,
        events as f64 / secs,
        bytes as f64 / 1e6 / secs
    );
    Ok(())
}
