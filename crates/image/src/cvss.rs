//! CVSS base scores from vector strings, as OSV records carry them in `severity[].score`.
//!
//! - v3.0 and v3.1: the base score equations of the CVSS v3.1 specification, section 7.1
//!   (<https://www.first.org/cvss/v3.1/specification-document#7-1-Base-Metrics-Equations>),
//!   with `Roundup` as defined in its Appendix A (integer arithmetic, so that 4.0000001 does not
//!   become 4.1 through a floating-point error). v3.0 shares the base equations.
//! - v4.0: the CVSS v4.0 specification, section 8 "CVSS v4.0 Scoring"
//!   (<https://www.first.org/cvss/v4.0/specification-document#CVSS-v4-0-Scoring>): the vector's
//!   MacroVector (EQ1..EQ6) is looked up in the published table ([`crate::cvss4_table`]) and the
//!   score interpolated by the vector's severity distance from the MacroVector's highest severity
//!   vectors, as FIRST's reference calculator does. Threat and environmental metrics present in
//!   the vector take part (the score is then CVSS-BT / CVSS-BE / CVSS-BTE, as the calculator
//!   shows it); absent ones take their defaults (E:A, CR/IR/AR:H).
//!
//! - v2: the CVSS v2 guide's base equation ([`v2_base_score`]), with NVD's ratings
//!   ([`v2_rating`]), for advisories that carry nothing newer.
//!
//! Vectors come from hostile input: unknown metrics, invalid values, duplicates and missing
//! mandatory metrics are errors, never panics.

use crate::cvss4_table::MACROVECTORS;
use crate::osv::Severity;

/// A vector longer than this is refused before it is split (the longest valid v4.0 vector,
/// every metric given, is about 190 bytes).
const MAX_VECTOR_LEN: usize = 512;

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CvssError {
    #[error("not a supported CVSS vector (expected a CVSS:3.0/, CVSS:3.1/ or CVSS:4.0/ prefix)")]
    UnsupportedVersion,
    #[error("vector longer than {MAX_VECTOR_LEN} bytes")]
    TooLong,
    #[error("malformed metric {0:?} (expected NAME:VALUE)")]
    Malformed(String),
    #[error("unknown metric {0:?}")]
    UnknownMetric(String),
    #[error("invalid value {value:?} for metric {metric}")]
    InvalidValue { metric: String, value: String },
    #[error("metric {0} given more than once")]
    Duplicate(String),
    #[error("mandatory metric {0} missing")]
    Missing(&'static str),
}

/// The base score (0.0 to 10.0, one decimal) of a CVSS v3.0, v3.1 or v4.0 vector.
pub fn base_score(vector: &str) -> Result<f64, CvssError> {
    if vector.len() > MAX_VECTOR_LEN {
        return Err(CvssError::TooLong);
    }
    let vector = vector.trim();
    if let Some(rest) = vector
        .strip_prefix("CVSS:3.1/")
        .or_else(|| vector.strip_prefix("CVSS:3.0/"))
    {
        let m = Metrics::parse(rest, V3_METRICS, V3_MANDATORY)?;
        Ok(v3_base(&m))
    } else if let Some(rest) = vector.strip_prefix("CVSS:4.0/") {
        let m = Metrics::parse(rest, V4_METRICS, V4_MANDATORY)?;
        Ok(v4_score(&m))
    } else {
        Err(CvssError::UnsupportedVersion)
    }
}

/// The qualitative rating of a score (CVSS v3.1 section 5, v4.0 section 6): 0.1-3.9 Low,
/// 4.0-6.9 Medium, 7.0-8.9 High, 9.0-10.0 Critical. 0.0 ("None") and anything outside 0-10 is
/// [`Severity::Unknown`]: no rating to act on.
pub fn rating(score: f64) -> Severity {
    rate(score, true)
}

/// Low below 4.0, Medium below 7.0, then High, and Critical from 9.0 when the version has it.
fn rate(score: f64, with_critical: bool) -> Severity {
    // Scores have one decimal; compare in tenths so that 6.95 from a caller is not "between".
    let tenths = (score * 10.0).round();
    if !(1.0..=100.0).contains(&tenths) {
        Severity::Unknown
    } else if tenths < 40.0 {
        Severity::Low
    } else if tenths < 70.0 {
        Severity::Medium
    } else if tenths < 90.0 || !with_critical {
        Severity::High
    } else {
        Severity::Critical
    }
}

/// The base score of a CVSS v2 vector (`AV:N/AC:L/Au:N/C:P/I:P/A:P`, as OSV's `CVSS_V2`
/// carries it, optionally in parentheses as NVD wrote it), by the base equation of the CVSS v2
/// guide, section 3.2.1 (<https://www.first.org/cvss/v2/guide#3-2-1-Base-Equation>), rounded
/// to one decimal. Old advisories carry only this version.
pub fn v2_base_score(vector: &str) -> Result<f64, CvssError> {
    if vector.len() > MAX_VECTOR_LEN {
        return Err(CvssError::TooLong);
    }
    let vector = vector.trim();
    let vector = vector
        .strip_prefix('(')
        .and_then(|v| v.strip_suffix(')'))
        .unwrap_or(vector);
    let m = Metrics::parse(vector, V2_METRICS, V2_MANDATORY)?;
    let cia = |v: &str| match v {
        "C" => 0.660,
        "P" => 0.275,
        _ => 0.0,
    };
    let av = match m.get("AV") {
        "N" => 1.0,
        "A" => 0.646,
        _ => 0.395,
    };
    let ac = match m.get("AC") {
        "L" => 0.71,
        "M" => 0.61,
        _ => 0.35,
    };
    let au = match m.get("Au") {
        "N" => 0.704,
        "S" => 0.56,
        _ => 0.45,
    };
    let impact =
        10.41 * (1.0 - (1.0 - cia(m.get("C"))) * (1.0 - cia(m.get("I"))) * (1.0 - cia(m.get("A"))));
    let exploitability = 20.0 * av * ac * au;
    let f = if impact == 0.0 { 0.0 } else { 1.176 };
    let score: f64 = ((0.6 * impact) + (0.4 * exploitability) - 1.5) * f;
    // round_to_1_decimal.
    Ok(((score * 10.0).round() / 10.0).clamp(0.0, 10.0))
}

/// The rating of a CVSS v2 score, as NVD gives it (v2 defines none): 0.1-3.9 Low, 4.0-6.9
/// Medium, 7.0-10.0 High; no Critical. 0.0 is [`Severity::Unknown`].
pub fn v2_rating(score: f64) -> Severity {
    rate(score, false)
}

const V2_METRICS: MetricDefs = &[
    ("AV", &["L", "A", "N"]),
    ("AC", &["H", "M", "L"]),
    ("Au", &["M", "S", "N"]),
    ("C", &["N", "P", "C"]),
    ("I", &["N", "P", "C"]),
    ("A", &["N", "P", "C"]),
    // Temporal and environmental (guide sections 2.2 and 2.3): checked, not scored.
    ("E", &["U", "POC", "F", "H", "ND"]),
    ("RL", &["OF", "TF", "W", "U", "ND"]),
    ("RC", &["UC", "UR", "C", "ND"]),
    ("CDP", &["N", "L", "LM", "MH", "H", "ND"]),
    ("TD", &["N", "L", "M", "H", "ND"]),
    ("CR", &["L", "M", "H", "ND"]),
    ("IR", &["L", "M", "H", "ND"]),
    ("AR", &["L", "M", "H", "ND"]),
];
const V2_MANDATORY: &[&str] = &["AV", "AC", "Au", "C", "I", "A"];

type MetricDefs = &'static [(&'static str, &'static [&'static str])];

const V3_METRICS: MetricDefs = &[
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "R"]),
    ("S", &["U", "C"]),
    ("C", &["H", "L", "N"]),
    ("I", &["H", "L", "N"]),
    ("A", &["H", "L", "N"]),
    // Temporal and environmental: checked, not scored (a base score is asked for).
    ("E", &["X", "U", "P", "F", "H"]),
    ("RL", &["X", "O", "T", "W", "U"]),
    ("RC", &["X", "U", "R", "C"]),
    ("CR", &["X", "L", "M", "H"]),
    ("IR", &["X", "L", "M", "H"]),
    ("AR", &["X", "L", "M", "H"]),
    ("MAV", &["X", "N", "A", "L", "P"]),
    ("MAC", &["X", "L", "H"]),
    ("MPR", &["X", "N", "L", "H"]),
    ("MUI", &["X", "N", "R"]),
    ("MS", &["X", "U", "C"]),
    ("MC", &["X", "N", "L", "H"]),
    ("MI", &["X", "N", "L", "H"]),
    ("MA", &["X", "N", "L", "H"]),
];
const V3_MANDATORY: &[&str] = &["AV", "AC", "PR", "UI", "S", "C", "I", "A"];

const V4_METRICS: MetricDefs = &[
    ("AV", &["N", "A", "L", "P"]),
    ("AC", &["L", "H"]),
    ("AT", &["N", "P"]),
    ("PR", &["N", "L", "H"]),
    ("UI", &["N", "P", "A"]),
    ("VC", &["H", "L", "N"]),
    ("VI", &["H", "L", "N"]),
    ("VA", &["H", "L", "N"]),
    ("SC", &["H", "L", "N"]),
    ("SI", &["H", "L", "N"]),
    ("SA", &["H", "L", "N"]),
    ("E", &["X", "A", "P", "U"]),
    ("CR", &["X", "H", "M", "L"]),
    ("IR", &["X", "H", "M", "L"]),
    ("AR", &["X", "H", "M", "L"]),
    ("MAV", &["X", "N", "A", "L", "P"]),
    ("MAC", &["X", "L", "H"]),
    ("MAT", &["X", "N", "P"]),
    ("MPR", &["X", "N", "L", "H"]),
    ("MUI", &["X", "N", "P", "A"]),
    ("MVC", &["X", "H", "L", "N"]),
    ("MVI", &["X", "H", "L", "N"]),
    ("MVA", &["X", "H", "L", "N"]),
    ("MSC", &["X", "H", "L", "N"]),
    ("MSI", &["X", "S", "H", "L", "N"]),
    ("MSA", &["X", "S", "H", "L", "N"]),
    ("S", &["X", "N", "P"]),
    ("AU", &["X", "N", "Y"]),
    ("R", &["X", "A", "U", "I"]),
    ("V", &["X", "D", "C"]),
    ("RE", &["X", "L", "M", "H"]),
    ("U", &["X", "Clear", "Green", "Amber", "Red"]),
];
const V4_MANDATORY: &[&str] = &[
    "AV", "AC", "AT", "PR", "UI", "VC", "VI", "VA", "SC", "SI", "SA",
];

/// The metrics of one vector, each with its value as written (validated against its definition).
struct Metrics<'a> {
    values: Vec<(&'static str, &'a str)>,
}

impl<'a> Metrics<'a> {
    fn parse(
        rest: &'a str,
        defs: MetricDefs,
        mandatory: &'static [&'static str],
    ) -> Result<Self, CvssError> {
        let mut values: Vec<(&'static str, &'a str)> = Vec::new();
        // Order is not enforced: the specifications prescribe one, but producers in the wild
        // (and OSV records) do not all follow it, and the score does not depend on it.
        for part in rest.split('/') {
            let (name, value) = part
                .split_once(':')
                .ok_or_else(|| CvssError::Malformed(part.to_string()))?;
            let (def_name, allowed) = defs
                .iter()
                .find(|(n, _)| *n == name)
                .ok_or_else(|| CvssError::UnknownMetric(name.to_string()))?;
            if !allowed.contains(&value) {
                return Err(CvssError::InvalidValue {
                    metric: name.to_string(),
                    value: value.to_string(),
                });
            }
            if values.iter().any(|(n, _)| n == def_name) {
                return Err(CvssError::Duplicate(name.to_string()));
            }
            values.push((def_name, value));
        }
        if let Some(missing) = mandatory
            .iter()
            .find(|m| !values.iter().any(|(n, _)| n == *m))
        {
            return Err(CvssError::Missing(missing));
        }
        Ok(Metrics { values })
    }

    /// The value of a metric, "X" (not defined) when absent.
    fn get(&self, name: &str) -> &'a str {
        self.values
            .iter()
            .find(|(n, _)| *n == name)
            .map_or("X", |(_, v)| v)
    }
}

/// Roundup of CVSS v3.1 Appendix A: the smallest number with one decimal that is >= the input,
/// computed on integers so that floating-point noise does not add a tenth.
fn roundup(value: f64) -> f64 {
    let int_input = (value * 100_000.0).round() as i64;
    if int_input % 10_000 == 0 {
        int_input as f64 / 100_000.0
    } else {
        ((int_input / 10_000) + 1) as f64 / 10.0
    }
}

fn v3_base(m: &Metrics<'_>) -> f64 {
    let changed = m.get("S") == "C";
    let cia = |v: &str| -> f64 {
        match v {
            "H" => 0.56,
            "L" => 0.22,
            _ => 0.0,
        }
    };
    let av: f64 = match m.get("AV") {
        "N" => 0.85,
        "A" => 0.62,
        "L" => 0.55,
        _ => 0.2,
    };
    let ac = if m.get("AC") == "L" { 0.77 } else { 0.44 };
    let pr = match (m.get("PR"), changed) {
        ("N", _) => 0.85,
        ("L", false) => 0.62,
        ("L", true) => 0.68,
        (_, false) => 0.27,
        (_, true) => 0.5,
    };
    let ui = if m.get("UI") == "N" { 0.85 } else { 0.62 };
    let iss = 1.0 - (1.0 - cia(m.get("C"))) * (1.0 - cia(m.get("I"))) * (1.0 - cia(m.get("A")));
    let impact = if changed {
        7.52 * (iss - 0.029) - 3.25 * (iss - 0.02).powi(15)
    } else {
        6.42 * iss
    };
    let exploitability = 8.22 * av * ac * pr * ui;
    if impact <= 0.0 {
        0.0
    } else if changed {
        roundup((1.08 * (impact + exploitability)).min(10.0))
    } else {
        roundup((impact + exploitability).min(10.0))
    }
}

/// The value a v4.0 metric takes in scoring: the modified (environmental) metric when given,
/// the worst case for threat and security requirements left undefined (spec section 8.1 note).
fn v4_effective<'a>(m: &Metrics<'a>, metric: &str) -> &'a str {
    let value = m.get(metric);
    match (metric, value) {
        ("E", "X") => return "A",
        ("CR" | "IR" | "AR", "X") => return "H",
        _ => {}
    }
    let modified = match metric {
        "AV" => "MAV",
        "AC" => "MAC",
        "AT" => "MAT",
        "PR" => "MPR",
        "UI" => "MUI",
        "VC" => "MVC",
        "VI" => "MVI",
        "VA" => "MVA",
        "SC" => "MSC",
        "SI" => "MSI",
        "SA" => "MSA",
        _ => return value,
    };
    match m.get(modified) {
        "X" => value,
        v => v,
    }
}

/// Severity level of a metric value within its EQ, in the reference calculator's units (0.1 per
/// step, lower is more severe). Floating point on purpose: the calculator sums these as floats
/// and a published score may depend on the last bit before rounding.
fn v4_level(metric: &str, value: &str) -> f64 {
    match (metric, value) {
        ("AV", "N") | ("PR", "N") | ("UI", "N") | ("AC", "L") | ("AT", "N") => 0.0,
        ("AV", "A") | ("PR", "L") | ("UI", "P") | ("AC", "H") | ("AT", "P") => 0.1,
        ("AV", "L") | ("PR", "H") | ("UI", "A") => 0.2,
        ("AV", "P") => 0.3,
        ("VC" | "VI" | "VA", "H") => 0.0,
        ("VC" | "VI" | "VA", "L") => 0.1,
        ("VC" | "VI" | "VA", "N") => 0.2,
        ("SC" | "SI" | "SA", "S") => 0.0,
        ("SC" | "SI" | "SA", "H") => 0.1,
        ("SC" | "SI" | "SA", "L") => 0.2,
        ("SC" | "SI" | "SA", "N") => 0.3,
        ("CR" | "IR" | "AR", "H") => 0.0,
        ("CR" | "IR" | "AR", "M") => 0.1,
        ("CR" | "IR" | "AR", "L") => 0.2,
        ("E", "A") => 0.0,
        ("E", "P") => 0.1,
        ("E", "U") => 0.2,
        _ => 0.0,
    }
}

/// The metrics whose distances are measured, in the reference calculator's order.
const V4_DISTANCE_METRICS: [&str; 15] = [
    "AV", "PR", "UI", "AC", "AT", "VC", "VI", "VA", "SC", "SI", "SA", "CR", "IR", "AR", "E",
];

/// The highest severity vectors of each EQ level (spec section 8.2; the reference calculator's
/// `max_composed` data).
fn v4_max_vectors(eq: usize, level: u8, eq6: u8) -> &'static [&'static str] {
    match (eq, level, eq6) {
        (1, 0, _) => &["AV:N/PR:N/UI:N"],
        (1, 1, _) => &["AV:A/PR:N/UI:N", "AV:N/PR:L/UI:N", "AV:N/PR:N/UI:P"],
        (1, 2, _) => &["AV:P/PR:N/UI:N", "AV:A/PR:L/UI:P"],
        (2, 0, _) => &["AC:L/AT:N"],
        (2, 1, _) => &["AC:H/AT:N", "AC:L/AT:P"],
        (3, 0, 0) => &["VC:H/VI:H/VA:H/CR:H/IR:H/AR:H"],
        (3, 0, 1) => &[
            "VC:H/VI:H/VA:L/CR:M/IR:M/AR:H",
            "VC:H/VI:H/VA:H/CR:M/IR:M/AR:M",
        ],
        (3, 1, 0) => &[
            "VC:L/VI:H/VA:H/CR:H/IR:H/AR:H",
            "VC:H/VI:L/VA:H/CR:H/IR:H/AR:H",
        ],
        (3, 1, 1) => &[
            "VC:L/VI:H/VA:L/CR:H/IR:M/AR:H",
            "VC:L/VI:H/VA:H/CR:H/IR:M/AR:M",
            "VC:H/VI:L/VA:H/CR:M/IR:H/AR:M",
            "VC:H/VI:L/VA:L/CR:M/IR:H/AR:H",
            "VC:L/VI:L/VA:H/CR:H/IR:H/AR:M",
        ],
        (3, 2, 1) => &["VC:L/VI:L/VA:L/CR:H/IR:H/AR:H"],
        (4, 0, _) => &["SC:H/SI:S/SA:S"],
        (4, 1, _) => &["SC:H/SI:H/SA:H"],
        (4, 2, _) => &["SC:L/SI:L/SA:L"],
        (5, 0, _) => &["E:A"],
        (5, 1, _) => &["E:P"],
        (5, 2, _) => &["E:U"],
        _ => &[],
    }
}

/// The depth of each EQ level, in steps (spec section 8.2; the calculator's `max_severity`).
fn v4_depth(eq: usize, level: u8, eq6: u8) -> Option<f64> {
    let steps = match (eq, level, eq6) {
        (1, 0, _) => 1,
        (1, 1, _) => 4,
        (1, 2, _) => 5,
        (2, 0, _) => 1,
        (2, 1, _) => 2,
        (3, 0, 0) => 7,
        (3, 0, 1) => 6,
        (3, 1, _) => 8,
        (3, 2, 1) => 10,
        (4, 0, _) => 6,
        (4, 1, _) => 5,
        (4, 2, _) => 4,
        _ => return None,
    };
    Some(f64::from(steps) * 0.1)
}

fn v4_lookup(eq: [u8; 6]) -> Option<f64> {
    let key: [u8; 6] = eq.map(|d| b'0' + d);
    MACROVECTORS
        .binary_search_by(|(k, _)| k.as_bytes().cmp(&key[..]))
        .ok()
        .and_then(|i| MACROVECTORS.get(i))
        .map(|(_, v)| *v)
}

fn v4_score(m: &Metrics<'_>) -> f64 {
    let e = |metric: &str| v4_effective(m, metric);
    if ["VC", "VI", "VA", "SC", "SI", "SA"]
        .iter()
        .all(|x| e(x) == "N")
    {
        return 0.0;
    }
    // EQ1..EQ6, spec section 8.2 table 24.
    let (av, pr, ui) = (e("AV"), e("PR"), e("UI"));
    let eq1 = if av == "N" && pr == "N" && ui == "N" {
        0
    } else if (av == "N" || pr == "N" || ui == "N") && av != "P" {
        1
    } else {
        2
    };
    let eq2 = if e("AC") == "L" && e("AT") == "N" {
        0
    } else {
        1
    };
    let (vc, vi, va) = (e("VC"), e("VI"), e("VA"));
    let eq3 = if vc == "H" && vi == "H" {
        0
    } else if vc == "H" || vi == "H" || va == "H" {
        1
    } else {
        2
    };
    let eq4 = if e("SI") == "S" || e("SA") == "S" {
        0
    } else if e("SC") == "H" || e("SI") == "H" || e("SA") == "H" {
        1
    } else {
        2
    };
    let eq5 = match e("E") {
        "A" => 0,
        "P" => 1,
        _ => 2,
    };
    let eq6 = if (e("CR") == "H" && vc == "H")
        || (e("IR") == "H" && vi == "H")
        || (e("AR") == "H" && va == "H")
    {
        0
    } else {
        1
    };
    let eqs = [eq1, eq2, eq3, eq4, eq5, eq6];
    let Some(value) = v4_lookup(eqs) else {
        return 0.0; // unreachable for valid vectors (every reachable MacroVector is in the table)
    };

    // The next lower MacroVector of each EQ; EQ3 and EQ6 move together.
    let lower = |i: usize| {
        let mut next = eqs;
        next[i] += 1;
        v4_lookup(next)
    };
    let lower_eq3eq6 = match (eq3, eq6) {
        (0, 0) => {
            let left = v4_lookup([eq1, eq2, eq3, eq4, eq5, eq6 + 1]);
            let right = v4_lookup([eq1, eq2, eq3 + 1, eq4, eq5, eq6]);
            match (left, right) {
                (Some(l), Some(r)) => Some(l.max(r)),
                (l, r) => l.or(r),
            }
        }
        (0 | 1, 1) => v4_lookup([eq1, eq2, eq3 + 1, eq4, eq5, eq6]),
        (1, 0) => v4_lookup([eq1, eq2, eq3, eq4, eq5, eq6 + 1]),
        _ => None,
    };

    // The first composition of highest severity vectors that the vector does not exceed.
    let mut distances = [0.0f64; 15];
    'search: for a in v4_max_vectors(1, eq1, eq6) {
        for b in v4_max_vectors(2, eq2, eq6) {
            for c in v4_max_vectors(3, eq3, eq6) {
                for d in v4_max_vectors(4, eq4, eq6) {
                    for f in v4_max_vectors(5, eq5, eq6) {
                        let max = [*a, *b, *c, *d, *f];
                        for (slot, metric) in distances.iter_mut().zip(V4_DISTANCE_METRICS) {
                            let max_value = max
                                .iter()
                                .flat_map(|part| part.split('/'))
                                .find_map(|kv| kv.strip_prefix(metric)?.strip_prefix(':'))
                                .unwrap_or("X");
                            *slot = v4_level(metric, e(metric)) - v4_level(metric, max_value);
                        }
                        if distances.iter().all(|d| *d >= 0.0) {
                            break 'search;
                        }
                    }
                }
            }
        }
    }
    let d = distances;
    let current = [
        d[0] + d[1] + d[2],
        d[3] + d[4],
        d[5] + d[6] + d[7] + d[11] + d[12] + d[13],
        d[8] + d[9] + d[10],
    ];
    let depths = [
        v4_depth(1, eq1, eq6),
        v4_depth(2, eq2, eq6),
        v4_depth(3, eq3, eq6),
        v4_depth(4, eq4, eq6),
    ];
    let lowers = [lower(0), lower(1), lower_eq3eq6, lower(3)];
    let mut existing = 0u32;
    let mut total = 0.0;
    for ((lower, current), depth) in lowers.into_iter().zip(current).zip(depths) {
        if let (Some(lower), Some(depth)) = (lower, depth) {
            existing += 1;
            total += (value - lower) * (current / depth);
        }
    }
    // EQ5 counts in the mean but always contributes 0 (the vector sits at its level's maximum).
    if lower(4).is_some() {
        existing += 1;
    }
    let mean = if existing == 0 {
        0.0
    } else {
        total / f64::from(existing)
    };
    // Round half up with the calculator's epsilon: an interpolation that lands a hair under
    // x.x5 through floating-point error still rounds up, as FIRST's calculator shows it.
    const EPSILON: f64 = 1e-6;
    (((value - mean).clamp(0.0, 10.0) + EPSILON) * 10.0).round() / 10.0
}
