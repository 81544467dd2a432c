//! `kubevigil audit policy simulate`: what a policy would record from recorded traffic, as a
//! table for people or the JSON document (the simulation report with the policy, the inputs
//! and what could not be read), behind [`Emitter`].

use std::fmt::Write as _;
use std::io;

use kubevigil_audit::input::Summary;
use kubevigil_audit::simulate::Report;
use kubevigil_model::Escaped;

use crate::emit::{Emitter, Json, Table};

/// A simulation and what it ran on.
#[derive(Debug, Clone)]
pub struct Simulated<'a> {
    pub report: &'a Report,
    /// The policy file, as named on the command line.
    pub policy: String,
    /// The audit logs, as named on the command line.
    pub inputs: Vec<String>,
    /// What reading the inputs gave (malformed events skipped, inputs that failed).
    pub read: Summary,
}

/// Per level and per rule: events, requests, bytes in and the estimated bytes out; rules never
/// hit; the most frequent unrecorded requests.
impl Emitter<Simulated<'_>> for Table {
    fn emit(&self, out: &mut dyn io::Write, s: &Simulated<'_>) -> io::Result<()> {
        let text = render_table(s.report, &s.policy, s.inputs.len(), s.read.rejected);
        out.write_all(text.as_bytes())
    }
}

/// The simulation report with `policy`, `inputs`, `skippedEvents` and `failedInputs`.
impl Emitter<Simulated<'_>> for Json {
    fn emit(&self, out: &mut dyn io::Write, s: &Simulated<'_>) -> io::Result<()> {
        let mut v = serde_json::to_value(s.report)?;
        v["policy"] = s.policy.clone().into();
        v["inputs"] = s.inputs.clone().into();
        v["skippedEvents"] = s.read.rejected.into();
        v["failedInputs"] = s.read.failed_inputs.into();
        crate::emit::write_json(out, &v)
    }
}

fn human_bytes(n: u64) -> String {
    const UNITS: [&str; 5] = ["B", "KiB", "MiB", "GiB", "TiB"];
    let mut v = n as f64;
    let mut u = 0;
    while v >= 1024.0 && u < UNITS.len() - 1 {
        v /= 1024.0;
        u += 1;
    }
    if u == 0 {
        format!("{n} B")
    } else {
        format!("{v:.1} {}", UNITS[u])
    }
}

fn render_table(r: &Report, policy: &str, inputs: usize, skipped: u64) -> String {
    let mut s = String::new();
    let c = r.totals.counts;
    let _ = writeln!(s, "Policy: {} ({} rules)", Escaped(policy), r.rules.len());
    let _ = writeln!(
        s,
        "Input:  {inputs} log(s), {} events, {} requests, {}, {skipped} malformed event(s) skipped",
        c.events,
        c.requests,
        human_bytes(c.bytes_in)
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "{:<16} {:>12} {:>12} {:>12} {:>14}",
        "LEVEL", "EVENTS", "REQUESTS", "BYTES IN", "EST. BYTES OUT"
    );
    for l in &r.levels {
        let k = l.counts;
        let _ = writeln!(
            s,
            "{:<16} {:>12} {:>12} {:>12} {:>14}",
            l.level.as_str(),
            k.events,
            k.requests,
            human_bytes(k.bytes_in),
            human_bytes(k.bytes_out)
        );
    }
    let _ = writeln!(
        s,
        "{:<16} {:>12} {:>12} {:>12} {:>14}",
        "total",
        c.events,
        c.requests,
        human_bytes(c.bytes_in),
        human_bytes(c.bytes_out)
    );
    let _ = writeln!(s);
    let _ = writeln!(
        s,
        "Estimated log volume: {} of {} input ({:.1}%), {} of {} events written",
        human_bytes(c.bytes_out),
        human_bytes(c.bytes_in),
        r.volume_ratio * 100.0,
        c.events_out,
        c.events
    );
    if r.totals.omitted_stage_events > 0 {
        let _ = writeln!(
            s,
            "  {} event(s) dropped by omitStages",
            r.totals.omitted_stage_events
        );
    }
    if r.totals.lower_bound_events > 0 {
        let _ = writeln!(
            s,
            "  {} event(s) would be recorded with bodies the input lacks: the estimate is a lower bound",
            r.totals.lower_bound_events
        );
    }
    let _ = writeln!(s);
    let _ = writeln!(s, "Rules (first match wins):");
    let _ = writeln!(
        s,
        "{:>4} {:>6} {:<16} {:>12} {:>12} {:>14}",
        "#", "LINE", "LEVEL", "EVENTS", "REQUESTS", "EST. BYTES OUT"
    );
    for rule in &r.rules {
        let k = rule.counts;
        let _ = writeln!(
            s,
            "{:>4} {:>6} {:<16} {:>12} {:>12} {:>14}",
            rule.index,
            rule.line,
            rule.level.as_str(),
            k.events,
            k.requests,
            human_bytes(k.bytes_out)
        );
    }
    let _ = writeln!(
        s,
        "{:>4} {:>6} {:<16} {:>12} {:>12} {:>14}",
        "-",
        "-",
        "None (no match)",
        r.no_match.events,
        r.no_match.requests,
        human_bytes(0)
    );
    let _ = writeln!(s);
    if r.rules_never_hit.is_empty() {
        let _ = writeln!(s, "Rules never hit: none");
    } else {
        let list: Vec<String> = r
            .rules_never_hit
            .iter()
            .map(|x| format!("#{} (line {})", x.index, x.line))
            .collect();
        let _ = writeln!(s, "Rules never hit: {}", list.join(", "));
    }
    let _ = writeln!(s);
    if r.unrecorded.is_empty() {
        let _ = writeln!(s, "Unrecorded requests: none");
    } else {
        let _ = writeln!(s, "Unrecorded requests (level None), most frequent first:");
        let _ = writeln!(
            s,
            "{:>10}  {:<10} {:<40} USER",
            "REQUESTS", "VERB", "RESOURCE OR PATH"
        );
        for u in &r.unrecorded {
            let _ = writeln!(
                s,
                "{:>10}  {:<10} {:<40} {}",
                u.requests,
                Escaped(&u.shape.verb),
                Escaped(&u.shape.target),
                Escaped(&u.shape.user)
            );
        }
        if r.unrecorded_other > 0 {
            let _ = writeln!(s, "{:>10}  (other unrecorded requests)", r.unrecorded_other);
        }
    }
    s
}
