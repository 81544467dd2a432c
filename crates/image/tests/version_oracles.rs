//! Differential tests of `version::compare` against the real implementations: thousands of
//! tricky pairs per scheme, generated deterministically by a seeded generator, each compared
//! with what the oracle says (order, or refusal).
//!
//! - dpkg: `dpkg --compare-versions` (batched, one `sh` script per half of the pairs).
//! - rpm: rpm 4.18's Python binding (Debian `python3-rpm`): `rpm.ver` ordering, cross-checked
//!   with `rpm.labelCompare`.
//! - PEP 440: `packaging.version.Version` (Debian `python3-packaging`).
//! - SemVer: the `semver` crate (`Version::parse`, `cmp_precedence`).
//!
//! apk and Maven have no oracle binary here; `version_vectors.rs` runs their upstream vectors.
//! A missing tool fails the test when `CI` is set, and is skipped with a note otherwise.

use std::cmp::Ordering;
use std::io::Write;
use std::process::{Command, Stdio};

use kubevigil_image::version::{Scheme, compare};

/// splitmix64: small, seeded, the same sequence everywhere.
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
    fn pick<'a>(&mut self, xs: &[&'a str]) -> &'a str {
        xs[self.below(xs.len())]
    }
    fn chance(&mut self, percent: usize) -> bool {
        self.below(100) < percent
    }
}

/// A version: a leading token (usually digits) then 0..`max` more tokens.
fn gen_version(r: &mut Rng, lead: &[&str], tokens: &[&str], max: usize) -> String {
    let mut s = String::from(r.pick(lead));
    for _ in 0..r.below(max + 1) {
        s.push_str(r.pick(tokens));
    }
    s
}

/// Pairs that are often close: the second is a one-token edit of the first, or a copy, or fresh.
fn gen_pairs(
    seed: u64,
    n: usize,
    lead: &[&str],
    tokens: &[&str],
    max: usize,
) -> Vec<(String, String)> {
    let mut r = Rng(seed);
    (0..n)
        .map(|_| {
            let a = gen_version(&mut r, lead, tokens, max);
            let b = match r.below(10) {
                0 => a.clone(),
                1..=3 => gen_version(&mut r, lead, tokens, max),
                4..=6 => format!("{a}{}", r.pick(tokens)),
                _ => {
                    // Replace the tail after a random byte boundary with new tokens.
                    let cut = (0..=a.len())
                        .filter(|&i| a.is_char_boundary(i))
                        .nth(r.below(a.len() + 1))
                        .unwrap_or(0);
                    let mut b = a[..cut].to_owned();
                    for _ in 0..=r.below(2) {
                        b.push_str(r.pick(tokens));
                    }
                    b
                }
            };
            if r.chance(50) { (a, b) } else { (b, a) }
        })
        .collect()
}

/// A missing oracle: a failure in CI, a skip with a note elsewhere. Returns whether to go on.
fn require(ok: bool, what: &str) -> bool {
    if !ok {
        assert!(
            std::env::var_os("CI").is_none(),
            "oracle missing in CI: {what}"
        );
        eprintln!("note: skipping, oracle missing: {what}");
    }
    ok
}

fn python() -> &'static str {
    // Debian's python3-rpm and python3-packaging install into the system interpreter.
    if std::path::Path::new("/usr/bin/python3").exists() {
        "/usr/bin/python3"
    } else {
        "python3"
    }
}

fn python_has(module: &str) -> bool {
    Command::new(python())
        .args(["-c", &format!("import {module}")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

/// Runs a program with `input` on stdin; its stdout lines.
fn run_with_input(cmd: &mut Command, input: &[u8]) -> Vec<String> {
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawn oracle");
    let mut stdin = child.stdin.take().expect("stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || stdin.write_all(&input));
    let out = child.wait_with_output().expect("oracle output");
    writer.join().expect("writer").expect("write oracle input");
    assert!(
        out.status.success(),
        "oracle failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .expect("utf-8")
        .lines()
        .map(str::to_owned)
        .collect()
}

fn letter(o: Ordering) -> char {
    match o {
        Ordering::Less => 'L',
        Ordering::Equal => 'E',
        Ordering::Greater => 'G',
    }
}

/// Compares our answers with the oracle's, one letter per pair: L E G, or X for refused.
fn check(scheme: Scheme, pairs: &[(String, String)], oracle: &[String]) -> (usize, usize) {
    assert_eq!(
        pairs.len(),
        oracle.len(),
        "oracle answered {} of {} pairs",
        oracle.len(),
        pairs.len()
    );
    let mut bad = Vec::new();
    let mut refused = 0;
    for ((a, b), want) in pairs.iter().zip(oracle) {
        let got = match compare(scheme, a, b) {
            Ok(o) => letter(o).to_string(),
            Err(_) => "X".to_owned(),
        };
        if want == "X" {
            refused += 1;
        }
        if &got != want {
            bad.push(format!("{a:?} vs {b:?}: oracle {want}, ours {got}"));
        }
    }
    assert!(
        bad.is_empty(),
        "{scheme:?}: {} of {} pairs disagree:\n{}",
        bad.len(),
        pairs.len(),
        bad.join("\n")
    );
    (pairs.len(), refused)
}

fn shell_quote(s: &str) -> String {
    format!("'{}'", s.replace('\'', "'\\''"))
}

#[test]
fn dpkg_against_dpkg_compare_versions() {
    if !require(
        Command::new("dpkg")
            .arg("--version")
            .stdout(Stdio::null())
            .status()
            .is_ok_and(|s| s.success()),
        "dpkg",
    ) {
        return;
    }
    let lead = [
        "0", "1", "2", "10", "01", "9", "1:", "2:", "0:", "10:", "a", "~", "1.0", "7.88.1",
    ];
    let tokens = [
        "0",
        "1",
        "2",
        "9",
        "10",
        "00",
        "01",
        "007",
        "123",
        "99999999999999999999",
        ".",
        ".",
        "~",
        "~~",
        "+",
        "-",
        "-1",
        "-0",
        "a",
        "b",
        "z",
        "Z",
        "rc",
        "ubuntu",
        "deb",
        ":",
        "~rc1",
        "+b1",
        "+deb12u1",
        "~bpo11",
        "_",
        "!",
        "=",
        "-r",
        " ",
    ];
    let pairs = gen_pairs(0xD9C6, 3200, &lead, &tokens, 5);
    // dpkg exits 0 (true), 1 (false) or 2 (bad syntax, either version).
    let script_for = |chunk: &[(String, String)]| {
        let mut s = String::from(
            "c() { dpkg --compare-versions -- \"$1\" lt \"$2\" 2>/dev/null; r=$?; \
             if [ $r = 0 ]; then echo L; elif [ $r = 2 ]; then echo X; \
             elif dpkg --compare-versions -- \"$1\" eq \"$2\" 2>/dev/null; then echo E; else echo G; fi; }\n",
        );
        for (a, b) in chunk {
            s.push_str(&format!("c {} {}\n", shell_quote(a), shell_quote(b)));
        }
        s
    };
    // Two shells in parallel: each pair costs one or two dpkg processes.
    let half = pairs.len() / 2;
    let scripts = [script_for(&pairs[..half]), script_for(&pairs[half..])];
    let outs: Vec<Vec<String>> = std::thread::scope(|s| {
        let hs: Vec<_> = scripts
            .iter()
            .map(|script| {
                s.spawn(move || run_with_input(Command::new("sh").arg("-s"), script.as_bytes()))
            })
            .collect();
        hs.into_iter()
            .map(|h| h.join().expect("dpkg batch"))
            .collect()
    });
    let oracle: Vec<String> = outs.concat();
    let (n, refused) = check(Scheme::Dpkg, &pairs, &oracle);
    eprintln!("dpkg: {n} pairs agree with dpkg --compare-versions ({refused} refused by both)");
    assert!(
        refused > 100 && refused < n / 2,
        "generator balance: {refused} refused of {n}"
    );
}

const RPM_DRIVER: &str = r#"
import sys, rpm
def cmp(x, y):
    return "L" if x < y else ("G" if x > y else "E")
out = []
for line in sys.stdin.buffer.read().decode().split("\n")[:-1]:
    a, b = line.split("\t")
    try:
        va, vb = rpm.ver(a), rpm.ver(b)
    except Exception:
        out.append("X")
        continue
    r = cmp(va, vb)
    # The same through labelCompare, epoch defaulting to 0 (a missing release stays None).
    try:
        l = "LEG"[rpm.labelCompare((va.e or "0", va.v, va.r), (vb.e or "0", vb.v, vb.r)) + 1]
    except ValueError:
        # labelCompare refuses an empty version part ("1:", "-1"), which rpm.ver takes.
        l = r
    out.append(r if l == r else "labelCompare disagrees: " + l)
print("\n".join(out))
"#;

#[test]
fn rpm_against_python_rpm() {
    if !require(
        python_has("rpm"),
        "python3 with the rpm module (Debian python3-rpm)",
    ) {
        return;
    }
    let lead = [
        "0", "1", "2", "10", "01", "1:", "0:", ":", "2:", "a", "~", "^", "1.0", "5.5p1",
    ];
    let tokens = [
        "0",
        "1",
        "2",
        "9",
        "10",
        "01",
        "001",
        "99999999999999999999",
        ".",
        ".",
        "~",
        "^",
        "_",
        "+",
        "-",
        ":",
        "a",
        "b",
        "Z",
        "git",
        "rc",
        "el9",
        "el9_2",
        "fc38",
        "~rc",
        "^git",
        "-1",
        "-0.1",
        "p",
        "%",
        " ",
    ];
    let mut pairs = gen_pairs(0x52D3, 3200, &lead, &tokens, 5);
    // The one thing rpm refuses: the empty string.
    pairs.push((String::new(), "1".into()));
    pairs.push(("1".into(), String::new()));
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    let oracle = run_with_input(
        Command::new(python()).args(["-c", RPM_DRIVER]),
        input.as_bytes(),
    );
    let (n, refused) = check(Scheme::Rpm, &pairs, &oracle);
    eprintln!(
        "rpm: {n} pairs agree with python3-rpm rpm.ver / labelCompare ({refused} refused by both)"
    );
}

const PEP440_DRIVER: &str = r#"
import sys
from packaging.version import Version, InvalidVersion
def parse(s):
    try:
        return Version(s)
    except InvalidVersion:
        return None
out = []
for line in sys.stdin.buffer.read().decode().split("\n")[:-1]:
    a, b = line.split("\t")
    va, vb = parse(a), parse(b)
    if va is None or vb is None:
        out.append("X")
    else:
        out.append("L" if va < vb else ("G" if va > vb else "E"))
print("\n".join(out))
"#;

/// A mostly well-formed PEP 440 version with every optional part, spelled in its variants.
fn gen_pep440(r: &mut Rng) -> String {
    let num = ["0", "1", "2", "10", "01", "00", "999999999999999999999"];
    let sep = ["", "", ".", "-", "_"];
    let mut s = String::new();
    if r.chance(10) {
        s.push_str(r.pick(&["", " ", "v", "V", " v"]));
    }
    if r.chance(15) {
        s.push_str(r.pick(&num));
        s.push('!');
    }
    s.push_str(r.pick(&num));
    for _ in 0..r.below(4) {
        s.push('.');
        s.push_str(r.pick(&num));
    }
    if r.chance(40) {
        s.push_str(r.pick(&sep));
        s.push_str(r.pick(&[
            "a", "b", "c", "rc", "alpha", "beta", "pre", "preview", "A", "Rc", "PREVIEW",
        ]));
        s.push_str(r.pick(&sep));
        if r.chance(70) {
            s.push_str(r.pick(&num));
        }
    }
    if r.chance(35) {
        if r.chance(30) {
            s.push('-');
            s.push_str(r.pick(&num));
        } else {
            s.push_str(r.pick(&sep));
            s.push_str(r.pick(&["post", "rev", "r", "POST", "Rev"]));
            s.push_str(r.pick(&sep));
            if r.chance(70) {
                s.push_str(r.pick(&num));
            }
        }
    }
    if r.chance(30) {
        s.push_str(r.pick(&sep));
        s.push_str(r.pick(&["dev", "DEV"]));
        s.push_str(r.pick(&sep));
        if r.chance(70) {
            s.push_str(r.pick(&num));
        }
    }
    if r.chance(25) {
        s.push('+');
        s.push_str(r.pick(&["abc", "1", "01", "ubuntu", "A1", "0"]));
        for _ in 0..r.below(3) {
            s.push_str(r.pick(&[".", "-", "_"]));
            s.push_str(r.pick(&["abc", "1", "2", "x9", "0"]));
        }
    }
    if r.chance(5) {
        s.push_str(r.pick(&[" ", "\x0c", "\x1f", "+", ".", "-", "x"]));
    }
    s
}

/// A small edit of a PEP 440 version: a part appended, or a character changed.
fn edit_pep440(r: &mut Rng, a: &str) -> String {
    let mut b = a.to_owned();
    match r.below(3) {
        0 => b.push_str(r.pick(&[".0", "0", "1", ".dev", "a", "post1", "-1", "+0", ".1", "rc"])),
        1 => {
            let i = r.below(b.len());
            if b.is_char_boundary(i) && b.is_char_boundary(i + 1) {
                b.replace_range(i..i + 1, r.pick(&["0", "1", ".", "-", "a", "r", ""]));
            }
        }
        _ => b = b.to_uppercase(),
    }
    b
}

#[test]
fn pep440_against_packaging() {
    if !require(
        python_has("packaging.version"),
        "python3 with packaging (Debian python3-packaging)",
    ) {
        return;
    }
    let lead = [
        "0", "1", "2", "10", "01", "1!", "v1", " 1", "V1.", "1.0", "a", ".",
    ];
    let tokens = [
        "0", "1", "2", "10", "01", "00", ".", ".", "!", "a", "b", "c", "rc", "alpha", "beta",
        "pre", "preview", "post", "rev", "r", "dev", "-", "_", ".", "+", "local", "abc", "A", "RC",
        "Post", "DEV", "-1", "+1.2", "+abc.5", "x", " ", "\x0b", ".0", "-dev", "_post", "..",
    ];
    let mut pairs = gen_pairs(0x9440, 1200, &lead, &tokens, 5);
    let mut r = Rng(0x9441);
    for _ in 0..2400 {
        let a = gen_pep440(&mut r);
        let b = if r.chance(40) {
            edit_pep440(&mut r, &a)
        } else {
            gen_pep440(&mut r)
        };
        pairs.push((a, b));
    }
    let input: String = pairs.iter().map(|(a, b)| format!("{a}\t{b}\n")).collect();
    let oracle = run_with_input(
        Command::new(python()).args(["-c", PEP440_DRIVER]),
        input.as_bytes(),
    );
    let (n, refused) = check(Scheme::Pep440, &pairs, &oracle);
    eprintln!("pep440: {n} pairs agree with packaging.version ({refused} refused by both)");
    assert!(
        n - refused > 1500,
        "generator balance: only {} valid pairs",
        n - refused
    );
}

#[test]
fn semver_against_semver_crate() {
    let lead = ["0", "1", "2", "10", "v1", "01", "1.0", "v0"];
    let tokens = [
        ".0",
        ".1",
        ".2",
        ".10",
        ".01",
        "-alpha",
        "-beta",
        "-rc",
        "-0",
        "-1",
        "-01",
        "-x-y",
        ".alpha",
        ".1",
        ".11",
        ".2",
        "+build",
        "+001",
        "+a.b",
        "-20191109021931-daa7c04131f5",
        ".",
        "-",
        "+",
        "..",
        "-A",
        "-a.",
        "+incompatible",
    ];
    // Mostly well-formed: a core then pre-release/build tokens.
    let mut r = Rng(0x5E3);
    let cores = [
        "0.0.0",
        "1.0.0",
        "1.2.3",
        "v1.2.3",
        "10.0.1",
        "1.10.0",
        "v0.0.0",
        "2.0.0",
        "18446744073709551615.0.0",
    ];
    let bad_cores = ["1.0", "01.0.0", "1.0.0.0", "1..0", "1.0.0 "];
    let pre = [
        "alpha",
        "beta",
        "rc",
        "0",
        "1",
        "2",
        "11",
        "x-y",
        "-",
        "A",
        "a1",
        "20191109021931",
        "daa7c04131f5",
    ];
    let build = ["build", "001", "a", "b-c", "incompatible", "1"];
    let mut pairs = gen_pairs(0x5E4, 1000, &lead, &tokens, 6);
    for _ in 0..5000 {
        let make = |r: &mut Rng| {
            let mut s = if r.chance(5) {
                r.pick(&bad_cores)
            } else {
                r.pick(&cores)
            }
            .to_owned();
            if r.chance(60) {
                s.push('-');
                s.push_str(r.pick(&pre));
                for _ in 0..r.below(3) {
                    s.push('.');
                    s.push_str(r.pick(&pre));
                }
            }
            if r.chance(20) {
                s.push('+');
                s.push_str(r.pick(&build));
                if r.chance(30) {
                    s.push('.');
                    s.push_str(r.pick(&build));
                }
            }
            if r.chance(4) {
                s.push_str(r.pick(&tokens));
            }
            s
        };
        let a = make(&mut r);
        let b = if r.chance(30) {
            a.clone() + r.pick(&[".1", ".alpha", "+b", ".0", "-1"])
        } else {
            make(&mut r)
        };
        pairs.push((a, b));
    }
    let oracle: Vec<String> = pairs
        .iter()
        .map(|(a, b)| {
            let p = |s: &str| semver::Version::parse(s.strip_prefix('v').unwrap_or(s));
            match (p(a), p(b)) {
                (Ok(x), Ok(y)) => letter(x.cmp_precedence(&y)).to_string(),
                _ => "X".to_owned(),
            }
        })
        .collect();
    let (n, refused) = check(Scheme::Semver, &pairs, &oracle);
    eprintln!("semver: {n} pairs agree with the semver crate ({refused} refused by both)");
    assert!(
        n - refused > 2000,
        "generator balance: only {} valid pairs",
        n - refused
    );
}
