//! Upstream test vectors for each version scheme, from `tests/data/versions/*.txt` (each file
//! names its source in its header).
//!
//! Line format: `A op B` (op one of `<` `=` `>`), `chain V1 V2 ...` (strictly increasing, every
//! pair checked both ways), `!X` (X refused, the rest of the line verbatim), `+X` (X accepted),
//! `#` comments. In A, B, V and after `+`, `\s` `\t` `\n` stand for space, tab and newline.

use std::cmp::Ordering;
use std::path::Path;

use kubevigil_image::version::{Scheme, compare};

fn unescape(s: &str) -> String {
    s.replace("\\s", " ")
        .replace("\\t", "\t")
        .replace("\\n", "\n")
}

/// Checks every line of one vector file; returns the number of checks made.
fn run(file: &str, scheme: Scheme) -> usize {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data/versions")
        .join(file);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    let mut c = Checker {
        scheme,
        failures: Vec::new(),
        checks: 0,
    };
    for line in text.lines() {
        if line.trim().is_empty() || line.starts_with('#') {
            continue;
        }
        if let Some(v) = line.strip_prefix('!') {
            c.checks += 1;
            if compare(scheme, v, v).is_ok() {
                c.failures.push(format!("{v:?} accepted, want refused"));
            }
            continue;
        }
        if let Some(v) = line.strip_prefix('+') {
            let v = unescape(v);
            c.check(&v, &v, Ordering::Equal);
            continue;
        }
        let t: Vec<String> = line.split_whitespace().map(unescape).collect();
        if t[0] == "chain" {
            for i in 1..t.len() {
                c.check(&t[i], &t[i], Ordering::Equal);
                for j in i + 1..t.len() {
                    c.check(&t[i], &t[j], Ordering::Less);
                }
            }
            continue;
        }
        let want = match t.get(1).map(String::as_str) {
            Some("<") => Ordering::Less,
            Some("=") => Ordering::Equal,
            Some(">") => Ordering::Greater,
            _ => panic!("{file}: bad line {line:?}"),
        };
        assert_eq!(t.len(), 3, "{file}: bad line {line:?}");
        c.check(&t[0], &t[2], want);
    }
    assert!(
        c.failures.is_empty(),
        "{file}: {} of {} checks failed:\n{}",
        c.failures.len(),
        c.checks,
        c.failures.join("\n")
    );
    c.checks
}

struct Checker {
    scheme: Scheme,
    failures: Vec<String>,
    checks: usize,
}

impl Checker {
    /// Checks `a` against `b` both ways.
    fn check(&mut self, a: &str, b: &str, want: Ordering) {
        self.checks += 2;
        for (x, y, w) in [(a, b, want), (b, a, want.reverse())] {
            match compare(self.scheme, x, y) {
                Ok(got) if got == w => {}
                got => self
                    .failures
                    .push(format!("{x:?} vs {y:?}: want {w:?}, got {got:?}")),
            }
        }
    }
}

#[test]
fn apk_tools_version_data() {
    assert!(run("apk.txt", Scheme::Apk) > 1500);
}

#[test]
fn maven_comparable_version_test() {
    assert!(run("maven.txt", Scheme::Maven) > 1000);
}

#[test]
fn packaging_test_version() {
    assert!(run("pep440.txt", Scheme::Pep440) > 8000);
}

#[test]
fn rpm_rpmvercmp_at() {
    assert!(run("rpm.txt", Scheme::Rpm) > 150);
}

#[test]
fn dpkg_well_known() {
    assert!(run("dpkg.txt", Scheme::Dpkg) > 70);
}
