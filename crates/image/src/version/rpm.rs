//! rpm version ordering (Red Hat, SUSE, Rocky, Alma, Mageia).
//!
//! Follows rpm 4.18 (https://github.com/rpm-software-management/rpm): `rpmio/rpmvercmp.c`
//! `rpmvercmp()` (with the `~` and `^` rules of rpm >= 4.15) on each part, and `lib/rpmver.c`
//! `parseEVR()` / `rpmverCmp()` for `[epoch:]version[-release]`: the epoch is the leading digits
//! before a ':' (missing or empty = 0), the release follows the last '-' after it, and a version
//! without a release sorts before the same version with any release. rpm accepts every
//! non-empty string; so does this.

use std::cmp::Ordering;

#[derive(Debug)]
pub(super) struct Evr<'a> {
    epoch: &'a [u8],
    version: &'a [u8],
    release: Option<&'a [u8]>,
}

pub(super) fn parse(s: &str) -> Result<Evr<'_>, &'static str> {
    if s.is_empty() {
        return Err("version string is empty");
    }
    let b = s.as_bytes();
    let digits = b.iter().take_while(|c| c.is_ascii_digit()).count();
    // parseEVR looks for the release terminator from the end of the epoch digits on.
    let hyphen = b[digits..]
        .iter()
        .rposition(|&c| c == b'-')
        .map(|p| p + digits);
    let (epoch, vstart): (&[u8], usize) = if b.get(digits) == Some(&b':') {
        (if digits == 0 { b"0" } else { &b[..digits] }, digits + 1)
    } else {
        (b"0", 0)
    };
    let (version, release) = match hyphen {
        Some(h) => (&b[vstart..h], Some(&b[h + 1..])),
        None => (&b[vstart..], None),
    };
    Ok(Evr {
        epoch,
        version,
        release,
    })
}

pub(super) fn compare(a: &Evr<'_>, b: &Evr<'_>) -> Ordering {
    rpmvercmp(a.epoch, b.epoch)
        .then_with(|| rpmvercmp(a.version, b.version))
        .then_with(|| match (a.release, b.release) {
            (Some(x), Some(y)) => rpmvercmp(x, y),
            (Some(_), None) => Ordering::Greater,
            (None, Some(_)) => Ordering::Less,
            (None, None) => Ordering::Equal,
        })
}

/// rpm's `rpmvercmp()`: segments of digits or ASCII letters, anything else separates; `~`
/// sorts before everything (even the end), `^` after the end but before anything else.
pub(super) fn rpmvercmp(a: &[u8], b: &[u8]) -> Ordering {
    if a == b {
        return Ordering::Equal;
    }
    let sep = |c: u8| !c.is_ascii_alphanumeric() && c != b'~' && c != b'^';
    let (mut i, mut j) = (0, 0);
    while i < a.len() || j < b.len() {
        while i < a.len() && sep(a[i]) {
            i += 1;
        }
        while j < b.len() && sep(b[j]) {
            j += 1;
        }
        let (ca, cb) = (a.get(i).copied(), b.get(j).copied());
        if ca == Some(b'~') || cb == Some(b'~') {
            if ca != Some(b'~') {
                return Ordering::Greater;
            }
            if cb != Some(b'~') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        if ca == Some(b'^') || cb == Some(b'^') {
            if ca.is_none() {
                return Ordering::Less;
            }
            if cb.is_none() {
                return Ordering::Greater;
            }
            if ca != Some(b'^') {
                return Ordering::Greater;
            }
            if cb != Some(b'^') {
                return Ordering::Less;
            }
            i += 1;
            j += 1;
            continue;
        }
        let (Some(ca), Some(_)) = (ca, cb) else { break };
        let isnum = ca.is_ascii_digit();
        let class = |c: &u8| {
            if isnum {
                c.is_ascii_digit()
            } else {
                c.is_ascii_alphabetic()
            }
        };
        let ea = i + a[i..].iter().take_while(|c| class(c)).count();
        let eb = j + b[j..].iter().take_while(|c| class(c)).count();
        // A numeric segment is newer than an alphabetic one.
        if eb == j {
            return if isnum {
                Ordering::Greater
            } else {
                Ordering::Less
            };
        }
        let o = if isnum {
            super::cmp_digits(&a[i..ea], &b[j..eb])
        } else {
            a[i..ea].cmp(&b[j..eb])
        };
        if o != Ordering::Equal {
            return o;
        }
        i = ea;
        j = eb;
    }
    match (i >= a.len(), j >= b.len()) {
        (true, true) => Ordering::Equal,
        (true, false) => Ordering::Less,
        _ => Ordering::Greater,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v(a: &str, b: &str) -> Ordering {
        rpmvercmp(a.as_bytes(), b.as_bytes())
    }

    #[test]
    fn vercmp() {
        assert_eq!(v("1.0~rc1", "1.0"), Ordering::Less);
        assert_eq!(v("1.0^git1", "1.0"), Ordering::Greater);
        assert_eq!(v("1.0^git1", "1.0.1"), Ordering::Less);
        assert_eq!(v("1.0^", "1.0"), Ordering::Greater);
        assert_eq!(v("1.0a", "1.0.1"), Ordering::Less);
        assert_eq!(v("1_0", "1.0"), Ordering::Equal);
        assert_eq!(v("10", "9"), Ordering::Greater);
        assert_eq!(v("a", "1"), Ordering::Less);
        assert_eq!(v("", "~"), Ordering::Greater);
    }

    #[test]
    fn evr() {
        let c = |a: &str, b: &str| compare(&parse(a).unwrap(), &parse(b).unwrap());
        assert_eq!(c("1:1.0-1", "2.0-1"), Ordering::Greater);
        assert_eq!(c("0:1.0-1", "1.0-1"), Ordering::Equal);
        assert_eq!(c(":1.0", "0:1.0"), Ordering::Equal);
        assert_eq!(c("1.0", "1.0-1"), Ordering::Less);
        assert_eq!(c("1.0-1.el9", "1.0-1.el9_2"), Ordering::Less);
        assert!(parse("").is_err());
    }
}
