//! dpkg version ordering (Debian, Ubuntu).
//!
//! Follows dpkg (https://git.dpkg.org/cgit/dpkg/dpkg.git): `lib/dpkg/parsehelp.c`
//! `parseversion()` for what a version is, and `lib/dpkg/version.c` `order()`, `verrevcmp()` and
//! `dpkg_version_compare()` for the ordering. What `dpkg --compare-versions` accepts is valid:
//! parseversion's errors refuse a version, its warnings (upstream part not starting with a digit,
//! unusual characters) do not. One deliberate narrowing: bytes outside printable ASCII are
//! refused, where dpkg would warn and compare them as signed `char`s.

use std::cmp::Ordering;

/// A parsed version: `[epoch:]upstream[-revision]`.
#[derive(Debug)]
pub(super) struct Version<'a> {
    epoch: u32,
    upstream: &'a [u8],
    revision: &'a [u8],
}

pub(super) fn parse(s: &str) -> Result<Version<'_>, &'static str> {
    // parseversion trims blanks (space, tab) on both ends; one inside is an error.
    let s = s.trim_matches([' ', '\t']);
    if s.contains([' ', '\t']) {
        return Err("version string has embedded spaces");
    }
    if s.is_empty() {
        return Err("version string is empty");
    }
    if !s.bytes().all(|c| c.is_ascii_graphic()) {
        return Err("only printable ASCII characters are accepted");
    }
    let (epoch, rest) = match s.split_once(':') {
        Some((e, rest)) => (parse_epoch(e)?, rest),
        None => (0, s),
    };
    if rest.is_empty() {
        return Err("nothing after colon in version number");
    }
    // The revision follows the last hyphen.
    let (upstream, revision) = match rest.rsplit_once('-') {
        Some((_, "")) => return Err("revision number is empty"),
        Some((u, r)) => (u, r),
        None => (rest, ""),
    };
    if upstream.is_empty() {
        return Err("version number is empty");
    }
    Ok(Version {
        epoch,
        upstream: upstream.as_bytes(),
        revision: revision.as_bytes(),
    })
}

/// The epoch as `strtol` reads it: an optional sign, then digits up to the colon, at most INT_MAX.
fn parse_epoch(e: &str) -> Result<u32, &'static str> {
    let (negative, digits) = match e.as_bytes().first() {
        Some(b'+') => (false, &e[1..]),
        Some(b'-') => (true, &e[1..]),
        _ => (false, e),
    };
    if digits.is_empty() || !digits.as_bytes()[0].is_ascii_digit() {
        // strtol consumed nothing.
        return Err("epoch in version is empty");
    }
    if !digits.bytes().all(|c| c.is_ascii_digit()) {
        return Err("epoch in version is not number");
    }
    let significant = digits.trim_start_matches('0');
    if negative && !significant.is_empty() {
        return Err("epoch in version is negative");
    }
    if significant.len() > 10 {
        return Err("epoch in version is too big");
    }
    match significant.parse::<u64>().unwrap_or(0) {
        n if n > i32::MAX as u64 => Err("epoch in version is too big"),
        n => Ok(n as u32),
    }
}

pub(super) fn compare(a: &Version<'_>, b: &Version<'_>) -> Ordering {
    a.epoch
        .cmp(&b.epoch)
        .then_with(|| verrevcmp(a.upstream, b.upstream))
        .then_with(|| verrevcmp(a.revision, b.revision))
}

/// dpkg's `order()`: `~` before the end, the end before letters, letters before other characters.
fn order(c: Option<u8>) -> i32 {
    match c {
        None => 0,
        Some(c) if c.is_ascii_digit() => 0,
        Some(c) if c.is_ascii_alphabetic() => c as i32,
        Some(b'~') => -1,
        Some(c) => c as i32 + 256,
    }
}

/// dpkg's `verrevcmp()`: alternating non-digit runs (compared by `order`) and digit runs
/// (compared numerically, of any length).
fn verrevcmp(a: &[u8], b: &[u8]) -> Ordering {
    let (mut i, mut j) = (0, 0);
    let digit = |s: &[u8], k: usize| s.get(k).is_some_and(|c| c.is_ascii_digit());
    while i < a.len() || j < b.len() {
        while (i < a.len() && !digit(a, i)) || (j < b.len() && !digit(b, j)) {
            let (ac, bc) = (order(a.get(i).copied()), order(b.get(j).copied()));
            if ac != bc {
                return ac.cmp(&bc);
            }
            i += 1;
            j += 1;
        }
        let (si, sj) = (i, j);
        while digit(a, i) {
            i += 1;
        }
        while digit(b, j) {
            j += 1;
        }
        match super::cmp_digits(&a[si..i], &b[sj..j]) {
            Ordering::Equal => {}
            o => return o,
        }
    }
    Ordering::Equal
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(a: &str, b: &str) -> Ordering {
        compare(&parse(a).unwrap(), &parse(b).unwrap())
    }

    #[test]
    fn ordering() {
        assert_eq!(cmp("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(cmp("1.0", "1.0-0"), Ordering::Equal);
        assert_eq!(cmp("1:0.1", "2.0"), Ordering::Greater);
        assert_eq!(cmp("1.0a", "1.0+"), Ordering::Less);
        assert_eq!(cmp("1.0~", "1.0~~"), Ordering::Greater);
        assert_eq!(cmp("0:1.0", "1.0"), Ordering::Equal);
        assert_eq!(cmp("+1:1", "1:1"), Ordering::Equal);
    }

    #[test]
    fn refused() {
        for v in [
            "",
            " ",
            "1 2",
            ":1",
            "1:",
            "a:1",
            "-1:1",
            "1-",
            "-1",
            "2147483648:1",
            "1.0\u{e9}",
        ] {
            assert!(parse(v).is_err(), "{v:?}");
        }
        for v in [
            "a",
            "1:a",
            "-0:1",
            " 1.0\t",
            "2147483647:1",
            "1.0-a-b",
            "1:2:3",
        ] {
            assert!(parse(v).is_ok(), "{v:?}");
        }
    }
}
