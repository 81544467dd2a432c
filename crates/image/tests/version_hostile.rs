//! Hostile input for `version::compare`: random bytes (control characters, non-ASCII, every
//! separator) and worst-case shapes at the length cap. Every scheme must answer without
//! panicking, refuse what is too long, and give a consistent answer: `compare(a, b)` is the
//! reverse of `compare(b, a)`, and a valid version equals itself.

use std::cmp::Ordering;
use std::time::Instant;

use kubevigil_image::version::{MAX_LEN, Scheme, VersionError, compare};

const SCHEMES: [Scheme; 6] = [
    Scheme::Dpkg,
    Scheme::Rpm,
    Scheme::Apk,
    Scheme::Semver,
    Scheme::Pep440,
    Scheme::Maven,
];

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

fn consistent(s: Scheme, a: &str, b: &str) {
    let ab = compare(s, a, b);
    let ba = compare(s, b, a);
    match (&ab, &ba) {
        (Ok(x), Ok(y)) => assert_eq!(*x, y.reverse(), "{s:?}: {a:?} vs {b:?}"),
        (Err(_), Err(_)) => {}
        _ => panic!("{s:?}: {a:?} vs {b:?}: {ab:?} but reversed {ba:?}"),
    }
    for v in [a, b] {
        if let Ok(o) = compare(s, v, v) {
            assert_eq!(o, Ordering::Equal, "{s:?}: {v:?} vs itself");
        }
    }
}

#[test]
fn random_strings() {
    // Pieces that mean something to some scheme, plus bytes that mean nothing to any.
    let pieces = [
        "0",
        "1",
        "9",
        "00",
        "10",
        ".",
        "-",
        "_",
        "~",
        "^",
        "+",
        ":",
        "!",
        "a",
        "z",
        "A",
        "rc",
        "alpha",
        "p",
        "sp",
        "dev",
        "post",
        "-r",
        "v",
        " ",
        "\t",
        "\n",
        "\0",
        "\u{7f}",
        "é",
        "\u{1d7e4}",
        "\u{660}",
        "\u{130}",
        "K",
        "%",
        "'",
    ];
    let mut r = Rng(0xBAD);
    for _ in 0..6000 {
        let mut one = String::new();
        for _ in 0..r.below(12) {
            one.push_str(pieces[r.below(pieces.len())]);
        }
        let mut other = String::new();
        for _ in 0..r.below(12) {
            other.push_str(pieces[r.below(pieces.len())]);
        }
        for s in SCHEMES {
            consistent(s, &one, &other);
        }
    }
}

#[test]
fn worst_cases_at_the_cap() {
    let fill = |unit: &str| unit.repeat(MAX_LEN / unit.len());
    let shapes = [
        fill("1"),
        fill("0"),
        fill("1-"),
        fill("-"),
        fill("1a"),
        fill("a1"),
        fill("a-1-"),
        fill("."),
        fill("~"),
        fill("^"),
        fill("1.0~"),
        fill("1.0^"),
        fill("_p1"),
        fill("_alpha"),
        fill("0."),
        fill("a"),
        fill("rc"),
        fill(".dev"),
        fill("-1"),
        fill("1+"),
        format!("1.0{}", fill("a-")).chars().take(MAX_LEN).collect(),
        format!("1{}", "a".repeat(MAX_LEN - 1)),
        format!("1.{}", "9".repeat(MAX_LEN - 2)),
        format!("1.0+{}", fill("a."))
            .chars()
            .take(MAX_LEN)
            .collect(),
    ];
    let start = Instant::now();
    for s in SCHEMES {
        for a in &shapes {
            assert!(a.len() <= MAX_LEN);
            for b in &shapes {
                consistent(s, a, b);
            }
            let long = format!("{a}1");
            if long.len() > MAX_LEN {
                assert_eq!(
                    compare(s, &long, "1"),
                    Err(VersionError::TooLong {
                        scheme: s,
                        len: long.len()
                    })
                );
            }
        }
    }
    // Linear work per pair: the whole grid is quick even unoptimized.
    assert!(start.elapsed().as_secs() < 10, "took {:?}", start.elapsed());
}

/// Versions drawn from `pieces`, kept when `scheme` accepts them.
fn valid_sample(
    scheme: Scheme,
    seed: u64,
    lead: &[&str],
    pieces: &[&str],
    n: usize,
) -> Vec<String> {
    let mut r = Rng(seed);
    let mut out = Vec::new();
    while out.len() < n {
        let mut v = lead[r.below(lead.len())].to_owned();
        for _ in 0..r.below(5) {
            v.push_str(pieces[r.below(pieces.len())]);
        }
        if compare(scheme, &v, &v).is_ok() {
            out.push(v);
        }
    }
    out
}

/// The ordering is a total preorder: for every triple, a <= b and b <= c give a <= c.
fn transitive(scheme: Scheme, vs: &[String]) -> Result<(), String> {
    let n = vs.len();
    let m: Vec<Vec<Ordering>> = vs
        .iter()
        .map(|a| {
            vs.iter()
                .map(|b| compare(scheme, a, b).expect("valid"))
                .collect()
        })
        .collect();
    for i in 0..n {
        for j in 0..n {
            if m[i][j] == Ordering::Greater {
                continue;
            }
            for k in 0..n {
                if m[j][k] != Ordering::Greater && m[i][k] == Ordering::Greater {
                    return Err(format!(
                        "{:?} <= {:?} <= {:?} but the first > the last",
                        vs[i], vs[j], vs[k]
                    ));
                }
            }
        }
    }
    Ok(())
}

#[test]
fn orderings_are_transitive() {
    let cases: [(Scheme, &[&str], &[&str]); 6] = [
        (
            Scheme::Maven,
            &["0", "1", "a", "1.0"],
            &[
                ".0", ".1", "-1", "-0", "a", "-a", ".a", "rc", "-rc1", "sp", "ga", "-ga1", "1",
                "-", ".", "x", "snapshot",
            ],
        ),
        (
            Scheme::Apk,
            &["0", "1", "2", "10", "01"],
            &[
                ".0", ".1", ".01", ".10", "a", "b", "_alpha", "_rc", "_p", "_git", "1", "2", "~ab",
                "~1f", "-r0", "-r1",
            ],
        ),
        (
            Scheme::Dpkg,
            &["0", "1", "1:", "2:"],
            &[
                "0", "1", "10", ".", "~", "+", "-1", "-0", "a", "z", "A", ":", "~~",
            ],
        ),
        (
            Scheme::Rpm,
            &["0", "1", "1:", "a"],
            &["0", "1", "10", ".", "~", "^", "_", "-1", "-", "a", "z", "Z"],
        ),
        (
            Scheme::Pep440,
            &["0", "1", "1!"],
            &[
                "0", "1", ".0", ".1", "a", "b", "rc", "1", ".post", "-1", ".dev", "+a", "+1", ".b",
            ],
        ),
        (
            Scheme::Semver,
            &["0.0.0", "1.0.0", "1.0.1"],
            &["-0", "-a", "-1", ".1", ".a", ".b", "-x.1", "+b"],
        ),
    ];
    for (i, (s, lead, pieces)) in cases.iter().enumerate() {
        let vs = valid_sample(*s, 0x7A + i as u64, lead, pieces, 140);
        transitive(*s, &vs).unwrap_or_else(|e| panic!("{s:?}: {e}"));
    }
}
