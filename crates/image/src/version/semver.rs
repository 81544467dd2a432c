//! SemVer 2.0.0 precedence (crates.io, npm, Go, NuGet, Hex, Pub: OSV's `SEMVER` range type).
//!
//! Follows the specification at https://semver.org/spec/v2.0.0.html (items 2, 9, 10 and 11,
//! and its BNF grammar): `MAJOR.MINOR.PATCH[-pre.release][+build]`, numbers without leading
//! zeros, build metadata ignored for precedence. A leading `v` is tolerated, as Go module
//! versions carry one (Go's pseudo-versions are plain pre-release versions). Numbers of any
//! size compare by value.

use std::cmp::Ordering;

#[derive(Debug)]
pub(super) struct Version<'a> {
    core: [&'a [u8]; 3],
    pre: Vec<&'a [u8]>,
}

fn numeric(id: &[u8]) -> bool {
    id.iter().all(u8::is_ascii_digit)
}

fn ident_ok(id: &[u8]) -> bool {
    !id.is_empty() && id.iter().all(|c| c.is_ascii_alphanumeric() || *c == b'-')
}

pub(super) fn parse(s: &str) -> Result<Version<'_>, &'static str> {
    let s = s.strip_prefix('v').unwrap_or(s);
    let (s, build) = match s.split_once('+') {
        Some((s, b)) => (s, Some(b)),
        None => (s, None),
    };
    if let Some(b) = build
        && !b.as_bytes().split(|&c| c == b'.').all(ident_ok)
    {
        return Err("build metadata must be non-empty dot-separated [0-9A-Za-z-] identifiers");
    }
    // The pre-release starts at the first '-' (hyphens may follow inside it).
    let (core, pre) = match s.split_once('-') {
        Some((c, p)) => (c, Some(p)),
        None => (s, None),
    };
    let mut parts = core.as_bytes().split(|&c| c == b'.');
    let mut nums: [&[u8]; 3] = [b""; 3];
    for n in &mut nums {
        let part = parts.next().ok_or("needs MAJOR.MINOR.PATCH")?;
        if part.is_empty() || !numeric(part) {
            return Err("MAJOR, MINOR and PATCH must be numbers");
        }
        if part.len() > 1 && part[0] == b'0' {
            return Err("numbers must not have leading zeros");
        }
        *n = part;
    }
    if parts.next().is_some() {
        return Err("needs exactly MAJOR.MINOR.PATCH");
    }
    let mut ids = Vec::new();
    if let Some(p) = pre {
        for id in p.as_bytes().split(|&c| c == b'.') {
            if !ident_ok(id) {
                return Err("pre-release must be non-empty dot-separated [0-9A-Za-z-] identifiers");
            }
            if numeric(id) && id.len() > 1 && id[0] == b'0' {
                return Err("numeric pre-release identifiers must not have leading zeros");
            }
            ids.push(id);
        }
    }
    Ok(Version {
        core: nums,
        pre: ids,
    })
}

pub(super) fn compare(a: &Version<'_>, b: &Version<'_>) -> Ordering {
    for (x, y) in a.core.iter().zip(&b.core) {
        match super::cmp_digits(x, y) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    // A pre-release has lower precedence than the release.
    match (a.pre.is_empty(), b.pre.is_empty()) {
        (true, true) => return Ordering::Equal,
        (true, false) => return Ordering::Greater,
        (false, true) => return Ordering::Less,
        _ => {}
    }
    for (x, y) in a.pre.iter().zip(&b.pre) {
        let o = match (numeric(x), numeric(y)) {
            (true, true) => super::cmp_digits(x, y),
            (true, false) => Ordering::Less,
            (false, true) => Ordering::Greater,
            (false, false) => x.cmp(y),
        };
        if o != Ordering::Equal {
            return o;
        }
    }
    a.pre.len().cmp(&b.pre.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spec_example() {
        // The example chain of semver.org item 11.
        let chain = [
            "1.0.0-alpha",
            "1.0.0-alpha.1",
            "1.0.0-alpha.beta",
            "1.0.0-beta",
            "1.0.0-beta.2",
            "1.0.0-beta.11",
            "1.0.0-rc.1",
            "1.0.0",
            "2.0.0",
            "2.1.0",
            "2.1.1",
        ];
        for w in chain.windows(2) {
            assert_eq!(
                compare(&parse(w[0]).unwrap(), &parse(w[1]).unwrap()),
                Ordering::Less,
                "{w:?}"
            );
        }
        let p = |s| parse(s).unwrap();
        assert_eq!(compare(&p("v1.0.0+a"), &p("1.0.0+b")), Ordering::Equal);
        assert_eq!(
            compare(
                &p("v0.0.0-20191109021931-daa7c04131f5"),
                &p("v0.0.0-20201109021931-aaa7c04131f5")
            ),
            Ordering::Less
        );
        for bad in [
            "",
            "1",
            "1.0",
            "1.0.0.0",
            "01.0.0",
            "1.0.0-",
            "1.0.0-01",
            "1.0.0+",
            "1.0.0-a..b",
            "vv1.0.0",
            "1.0.0-é",
        ] {
            assert!(parse(bad).is_err(), "{bad:?}");
        }
    }
}
