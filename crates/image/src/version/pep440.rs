//! PEP 440 ordering (PyPI).
//!
//! Follows pypa/packaging (https://github.com/pypa/packaging) `src/packaging/version.py`:
//! `VERSION_PATTERN` (matched case-insensitively between optional whitespace) for what a
//! version is, `_parse_letter_version()` / `_parse_local_version()` for the normalizations
//! (alpha/a, beta/b, c/pre/preview/rc, post/rev/r, implicit post `1.0-1`, `-` `_` `.`
//! separators) and `_cmpkey()` for the ordering: trailing zeros of the release dropped, a bare
//! dev release before the pre-releases, post releases after, local versions after the public one.
//!
//! The pattern is a regular expression whose optional groups can split a string in more than
//! one way (`1.0a-1` is `1.0a1`, not `1.0a0.post1`); the parser below tries the alternatives
//! in the order Python's backtracking matcher does, so it picks the same split. Only ASCII is
//! accepted (Python's `\s` would also strip Unicode spaces).

use std::cmp::Ordering;

#[derive(Debug, PartialEq, Eq, Clone, Copy, PartialOrd, Ord)]
enum Pre {
    A,
    B,
    Rc,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum LocalPart {
    Num(String),
    Str(String),
}

#[derive(Debug)]
pub(super) struct Version {
    epoch: String,
    release: Vec<String>,
    pre: Option<(Pre, String)>,
    post: Option<String>,
    dev: Option<String>,
    local: Option<Vec<LocalPart>>,
}

fn digits(s: &[u8], p: usize) -> usize {
    s[p.min(s.len())..]
        .iter()
        .take_while(|c| c.is_ascii_digit())
        .count()
}

/// Python's `\s` on ASCII: also vertical tab and the separators 0x1c-0x1f.
fn py_space(c: &&u8) -> bool {
    matches!(**c, b' ' | b'\t'..=b'\r' | 0x1c..=0x1f)
}

fn is_sep(c: Option<&u8>) -> bool {
    matches!(c, Some(b'-' | b'_' | b'.'))
}

/// The ways an optional `[-_\.]?` can match at `p`, greedy first.
fn opt_sep(s: &[u8], p: usize) -> Vec<usize> {
    if is_sep(s.get(p)) {
        vec![p + 1, p]
    } else {
        vec![p]
    }
}

fn num(s: &[u8], p: usize, n: usize) -> String {
    let d = &s[p..p + n];
    let start = d
        .iter()
        .take_while(|&&c| c == b'0')
        .count()
        .min(n.saturating_sub(1));
    String::from_utf8_lossy(&d[start..]).into_owned()
}

/// `[-_\.]? (letters) [-_\.]? ([0-9]+)?`: every match at `p` in regex order, as (end, letter
/// index, number).
fn letter_version(s: &[u8], p: usize, letters: &[&str]) -> Vec<(usize, usize, Option<String>)> {
    let mut out = Vec::new();
    for p1 in opt_sep(s, p) {
        for (li, l) in letters.iter().enumerate() {
            if !s[p1..].starts_with(l.as_bytes()) {
                continue;
            }
            let p2 = p1 + l.len();
            for p3 in opt_sep(s, p2) {
                let n = digits(s, p3);
                if n > 0 {
                    out.push((p3 + n, li, Some(num(s, p3, n))));
                }
                out.push((p3, li, None));
            }
        }
    }
    out
}

const PRE: [&str; 8] = ["a", "b", "c", "rc", "alpha", "beta", "pre", "preview"];
const POST: [&str; 3] = ["post", "rev", "r"];

fn pre_alts(s: &[u8], p: usize) -> Vec<(usize, Option<(Pre, String)>)> {
    let mut out: Vec<_> = letter_version(s, p, &PRE)
        .into_iter()
        .map(|(e, li, n)| {
            let kind = match PRE[li] {
                "a" | "alpha" => Pre::A,
                "b" | "beta" => Pre::B,
                _ => Pre::Rc,
            };
            (e, Some((kind, n.unwrap_or_else(|| "0".into()))))
        })
        .collect();
    out.push((p, None));
    out
}

fn post_alts(s: &[u8], p: usize) -> Vec<(usize, Option<String>)> {
    let mut out = Vec::new();
    // Implicit post release: `-N`.
    if s.get(p) == Some(&b'-') {
        let n = digits(s, p + 1);
        if n > 0 {
            out.push((p + 1 + n, Some(num(s, p + 1, n))));
        }
    }
    for (e, _, n) in letter_version(s, p, &POST) {
        out.push((e, Some(n.unwrap_or_else(|| "0".into()))));
    }
    out.push((p, None));
    out
}

fn dev_alts(s: &[u8], p: usize) -> Vec<(usize, Option<String>)> {
    let mut out: Vec<_> = letter_version(s, p, &["dev"])
        .into_iter()
        .map(|(e, _, n)| (e, Some(n.unwrap_or_else(|| "0".into()))))
        .collect();
    out.push((p, None));
    out
}

/// `(?:\+([a-z0-9]+(?:[-_\.][a-z0-9]+)*))?` then `\s*$`: the greedy local part is the only
/// way to reach the end, so no alternatives are needed here.
fn local_to_end(s: &[u8], p: usize) -> Option<Option<Vec<LocalPart>>> {
    let trail = s.len() - s.iter().rev().take_while(py_space).count();
    if p >= trail {
        return (p <= s.len()).then_some(None);
    }
    if s[p] != b'+' {
        return None;
    }
    let body = &s[p + 1..trail];
    let mut parts = Vec::new();
    for seg in body.split(|c| matches!(c, b'-' | b'_' | b'.')) {
        if seg.is_empty() || !seg.iter().all(u8::is_ascii_alphanumeric) {
            return None;
        }
        parts.push(if seg.iter().all(u8::is_ascii_digit) {
            LocalPart::Num(num(seg, 0, seg.len()))
        } else {
            LocalPart::Str(String::from_utf8_lossy(seg).into_owned())
        });
    }
    Some(Some(parts))
}

pub(super) fn parse(input: &str) -> Result<Version, &'static str> {
    if !input.is_ascii() {
        return Err("only ASCII is accepted");
    }
    let lower = input.to_ascii_lowercase();
    let s = lower.as_bytes();
    let mut p = s.iter().take_while(py_space).count();
    if s.get(p) == Some(&b'v') {
        p += 1;
    }
    // `(?:([0-9]+)!)?`: an epoch only if the digits are followed by '!'.
    let mut epoch = "0".to_owned();
    let n = digits(s, p);
    if n > 0 && s.get(p + n) == Some(&b'!') {
        epoch = num(s, p, n);
        p += n + 1;
    }
    // `[0-9]+(?:\.[0-9]+)*`: shorter matches cannot succeed (nothing else starts with a digit).
    let mut release = Vec::new();
    loop {
        let n = digits(s, p);
        if n == 0 {
            return Err("no release number");
        }
        release.push(num(s, p, n));
        p += n;
        if s.get(p) == Some(&b'.') && digits(s, p + 1) > 0 {
            p += 1;
        } else {
            break;
        }
    }
    for (p1, pre) in pre_alts(s, p) {
        for (p2, post) in post_alts(s, p1) {
            for (p3, dev) in dev_alts(s, p2) {
                if let Some(local) = local_to_end(s, p3) {
                    return Ok(Version {
                        epoch,
                        release,
                        pre,
                        post,
                        dev,
                        local,
                    });
                }
            }
        }
    }
    Err("does not match PEP 440")
}

fn cmp_num(a: &str, b: &str) -> Ordering {
    super::cmp_digits(a.as_bytes(), b.as_bytes())
}

/// An optional key with a side for "absent": `-inf` or `+inf` as in `_cmpkey`.
fn cmp_opt<T>(
    a: &Option<T>,
    b: &Option<T>,
    absent_high: bool,
    f: impl Fn(&T, &T) -> Ordering,
) -> Ordering {
    match (a, b) {
        (Some(x), Some(y)) => f(x, y),
        (None, None) => Ordering::Equal,
        (None, Some(_)) => {
            if absent_high {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Some(_), None) => {
            if absent_high {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
    }
}

pub(super) fn compare(a: &Version, b: &Version) -> Ordering {
    let trimmed = |r: &[String]| r.len() - r.iter().rev().take_while(|x| x.as_str() == "0").count();
    let (ra, rb) = (
        &a.release[..trimmed(&a.release)],
        &b.release[..trimmed(&b.release)],
    );
    let release = || {
        for (x, y) in ra.iter().zip(rb) {
            match cmp_num(x, y) {
                Ordering::Equal => {}
                o => return o,
            }
        }
        ra.len().cmp(&rb.len())
    };
    // A dev release without pre or post sorts before every pre-release of the same release.
    let pre_key = |v: &Version| -> Result<(Pre, String), bool> {
        match (&v.pre, &v.post, &v.dev) {
            (None, None, Some(_)) => Err(false),
            (None, _, _) => Err(true),
            (Some(p), _, _) => Ok(p.clone()),
        }
    };
    let pre = || match (pre_key(a), pre_key(b)) {
        (Ok((ka, na)), Ok((kb, nb))) => ka.cmp(&kb).then_with(|| cmp_num(&na, &nb)),
        (Err(x), Err(y)) => x.cmp(&y),
        (Err(x), Ok(_)) => {
            if x {
                Ordering::Greater
            } else {
                Ordering::Less
            }
        }
        (Ok(_), Err(y)) => {
            if y {
                Ordering::Less
            } else {
                Ordering::Greater
            }
        }
    };
    let local = |x: &Vec<LocalPart>, y: &Vec<LocalPart>| {
        for (p, q) in x.iter().zip(y) {
            let o = match (p, q) {
                (LocalPart::Num(m), LocalPart::Num(n)) => cmp_num(m, n),
                (LocalPart::Num(_), LocalPart::Str(_)) => Ordering::Greater,
                (LocalPart::Str(_), LocalPart::Num(_)) => Ordering::Less,
                (LocalPart::Str(m), LocalPart::Str(n)) => m.cmp(n),
            };
            if o != Ordering::Equal {
                return o;
            }
        }
        x.len().cmp(&y.len())
    };
    cmp_num(&a.epoch, &b.epoch)
        .then_with(release)
        .then_with(pre)
        .then_with(|| cmp_opt(&a.post, &b.post, false, |x, y| cmp_num(x, y)))
        .then_with(|| cmp_opt(&a.dev, &b.dev, true, |x, y| cmp_num(x, y)))
        .then_with(|| cmp_opt(&a.local, &b.local, false, local))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(a: &str, b: &str) -> Ordering {
        compare(&parse(a).unwrap(), &parse(b).unwrap())
    }

    #[test]
    fn normalizations() {
        assert_eq!(c("1.0a-1", "1.0a1"), Ordering::Equal);
        assert_eq!(c("1.0-1", "1.0.post1"), Ordering::Equal);
        assert_eq!(c("1.0.ALPHA.2", "1.0a2"), Ordering::Equal);
        assert_eq!(c("1.0preview3", "1.0rc3"), Ordering::Equal);
        assert_eq!(c(" v1.0.0 ", "1"), Ordering::Equal);
        assert_eq!(c("1.0.dev1", "1.0a1"), Ordering::Less);
        assert_eq!(c("1.0a1.dev1", "1.0a1"), Ordering::Less);
        assert_eq!(c("1.0.post1.dev1", "1.0.post1"), Ordering::Less);
        assert_eq!(c("1.0+abc", "1.0"), Ordering::Greater);
        assert_eq!(c("1.0+1", "1.0+abc"), Ordering::Greater);
        assert_eq!(c("1!0.1", "2.0"), Ordering::Greater);
        for bad in [
            "", "a", "1.0+", "1.0+a..b", "1.0-1-1", "1..0", "1.0é", "1.0 a",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
