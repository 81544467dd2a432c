//! apk version ordering (Alpine, Wolfi, Chainguard).
//!
//! Follows apk-tools (https://gitlab.alpinelinux.org/alpine/apk-tools, mirrored at
//! github.com/alpinelinux/apk-tools) `src/version.c`: `token_first()` / `token_next()` for the
//! grammar `digit{.digit}...{letter}{_suf{#}}...{~hash}{-r#}`, `apk_version_validate()` for
//! validity and `apk_version_compare()` / `token_cmp()` for the ordering. Suffixes `_alpha`
//! `_beta` `_pre` `_rc` sort before no suffix, `_cvs` `_svn` `_git` `_hg` `_p` after; a digit
//! run after a '.' with a leading zero compares as a string (Gentoo rule).
//!
//! apk reads numbers into a `uint64_t` that wraps past 20 digits; here numbers compare by
//! value at any length, which only differs on such absurd numbers.

use std::cmp::Ordering;

// Token kinds, in apk's enum order: the order decides which of two versions that agree up to
// one's end is newer.
const INITIAL_DIGIT: u8 = 0;
const DIGIT: u8 = 1;
const LETTER: u8 = 2;
const SUFFIX: u8 = 3;
const SUFFIX_NO: u8 = 4;
const COMMIT_HASH: u8 = 5;
const REVISION_NO: u8 = 6;
const END: u8 = 7;
const INVALID: u8 = 8;

// Suffix ranks, apk's SUFFIX_* order; NONE is the pivot between pre- and post-release.
const SUFFIXES: [&[u8]; 9] = [
    b"alpha", b"beta", b"pre", b"rc", b"cvs", b"svn", b"git", b"hg", b"p",
];
const SUFFIX_NONE: u8 = 4;

#[derive(Clone, Copy)]
struct Token<'a> {
    kind: u8,
    value: &'a [u8],
    suffix: u8,
}

struct Tokens<'a> {
    rest: &'a [u8],
    tok: Token<'a>,
}

fn digits(b: &[u8]) -> usize {
    b.iter().take_while(|c| c.is_ascii_digit()).count()
}

impl<'a> Tokens<'a> {
    fn new(s: &'a str) -> Self {
        let b = s.as_bytes();
        let n = digits(b);
        let kind = if n == 0 { INVALID } else { INITIAL_DIGIT };
        Tokens {
            rest: &b[n..],
            tok: Token {
                kind,
                value: &b[..n],
                suffix: 0,
            },
        }
    }

    fn take(&mut self, n: usize) -> &'a [u8] {
        let (v, r) = self.rest.split_at(n);
        self.rest = r;
        v
    }

    /// apk's `token_next()`: the kind of the next token from its first byte, checked against
    /// the kind before it.
    fn next(&mut self) {
        let prev = self.tok.kind;
        let Some(&c) = self.rest.first() else {
            self.tok.kind = END;
            return;
        };
        let kind = match c {
            b'a'..=b'z' if prev <= DIGIT => {
                self.tok.value = self.take(1);
                LETTER
            }
            b'.' | b'0'..=b'9' if prev <= DIGIT || (c != b'.' && prev == SUFFIX) => {
                if c == b'.' {
                    self.take(1);
                }
                let n = digits(self.rest);
                self.tok.value = self.take(n);
                match (n, prev) {
                    (0, _) => INVALID,
                    (_, SUFFIX) => SUFFIX_NO,
                    _ => DIGIT,
                }
            }
            b'_' if prev <= SUFFIX_NO => {
                self.take(1);
                let n = self
                    .rest
                    .iter()
                    .take_while(|c| c.is_ascii_lowercase())
                    .count();
                let v = self.take(n);
                self.tok.value = v;
                match SUFFIXES.iter().position(|s| *s == v) {
                    Some(i) => {
                        self.tok.suffix = i as u8;
                        SUFFIX
                    }
                    None => INVALID,
                }
            }
            b'~' if prev < COMMIT_HASH => {
                self.take(1);
                let n = self
                    .rest
                    .iter()
                    .take_while(|c| c.is_ascii_digit() || (b'a'..=b'f').contains(c))
                    .count();
                self.tok.value = self.take(n);
                if n == 0 { INVALID } else { COMMIT_HASH }
            }
            b'-' if prev < REVISION_NO && self.rest.get(1) == Some(&b'r') => {
                self.take(2);
                let n = digits(self.rest);
                self.tok.value = self.take(n);
                if n == 0 { INVALID } else { REVISION_NO }
            }
            _ => INVALID,
        };
        self.tok.kind = kind;
    }
}

/// apk's `apk_version_validate()`.
pub(super) fn validate(s: &str) -> Result<(), &'static str> {
    let mut t = Tokens::new(s);
    while t.tok.kind < END {
        t.next();
    }
    if t.tok.kind == END {
        Ok(())
    } else {
        Err("not digit{.digit}...{letter}{_suffix{#}}...{~hash}{-r#}")
    }
}

/// apk's `token_cmp()` for two tokens of the same kind.
fn token_cmp(a: &Token<'_>, b: &Token<'_>) -> Ordering {
    match a.kind {
        DIGIT if a.value.first() == Some(&b'0') || b.value.first() == Some(&b'0') => {
            a.value.cmp(b.value)
        }
        DIGIT | INITIAL_DIGIT | SUFFIX_NO | REVISION_NO => super::cmp_digits(a.value, b.value),
        LETTER => a.value.cmp(b.value),
        SUFFIX => a.suffix.cmp(&b.suffix),
        _ => a.value.cmp(b.value),
    }
}

/// apk's `apk_version_compare()` (not fuzzy); both versions are valid.
pub(super) fn compare(a: &str, b: &str) -> Ordering {
    let (mut ta, mut tb) = (Tokens::new(a), Tokens::new(b));
    while ta.tok.kind == tb.tok.kind && ta.tok.kind < END {
        match token_cmp(&ta.tok, &tb.tok) {
            Ordering::Equal => {}
            o => return o,
        }
        ta.next();
        tb.next();
    }
    let (x, y) = (ta.tok, tb.tok);
    if x.kind == y.kind {
        return Ordering::Equal;
    }
    // Equal so far: the longer one is newer unless what it has more is a pre-release suffix.
    if x.kind == SUFFIX && x.suffix < SUFFIX_NONE {
        return Ordering::Less;
    }
    if y.kind == SUFFIX && y.suffix < SUFFIX_NONE {
        return Ordering::Greater;
    }
    // A later kind means a version that went on to less significant parts (or ended).
    y.kind.cmp(&x.kind)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn basics() {
        assert_eq!(compare("1.0_rc1", "1.0"), Ordering::Less);
        assert_eq!(compare("1.0_p1", "1.0"), Ordering::Greater);
        assert_eq!(compare("1.0-r1", "1.0"), Ordering::Greater);
        assert_eq!(compare("1.0~abc", "1.0~abd"), Ordering::Less);
        assert_eq!(compare("1.0a", "1.0"), Ordering::Greater);
        assert!(validate("1.0_pre2~1234abcd-r3").is_ok());
        assert!(validate("1.0bc").is_err());
        assert!(validate("").is_err());
    }
}
