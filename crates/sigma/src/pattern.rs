//! Sigma value patterns: wildcards (`*`, `?`) with backslash escapes, case-insensitive by
//! default (`cased` makes them case-sensitive), and many alternatives matched by one
//! Aho-Corasick automaton.
//!
//! Escapes follow the Sigma rules specification ("String Wildcard" / "Escape Character"):
//! `\*` and `\?` are literal wildcard characters, `\\` is one backslash, and a backslash
//! before any other character is a plain backslash.

use aho_corasick::{
    AhoCorasick, AhoCorasickBuilder, AhoCorasickKind, Anchored, Input, MatchKind, StartKind,
};
use regex::Regex;
use std::cell::RefCell;
use std::hash::Hasher;
use std::sync::atomic::{AtomicU64, Ordering};

/// One piece of a Sigma string.
#[derive(Debug, Clone, PartialEq)]
pub enum Piece {
    Lit(char),
    Star,
    Question,
}

/// Parses a Sigma string into literal characters and wildcards.
pub fn parse_sigma_string(s: &str) -> Vec<Piece> {
    let mut out = Vec::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.peek() {
                Some('*') | Some('?') | Some('\\') => {
                    out.push(Piece::Lit(chars.next().unwrap_or('\\')))
                }
                _ => out.push(Piece::Lit('\\')),
            },
            '*' => out.push(Piece::Star),
            '?' => out.push(Piece::Question),
            c => out.push(Piece::Lit(c)),
        }
    }
    out
}

/// Literal pieces only (used by transformations such as base64 that operate on plain text).
pub fn plain_text(pieces: &[Piece]) -> Option<String> {
    pieces
        .iter()
        .map(|p| match p {
            Piece::Lit(c) => Some(*c),
            _ => None,
        })
        .collect()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor {
    Exact,
    Prefix,
    Suffix,
    Contains,
}

/// A compiled string pattern.
#[derive(Debug, Clone)]
pub enum StrPat {
    /// Literal text with an anchoring; `text` is lowercased unless `cased`.
    Simple {
        text: String,
        anchor: Anchor,
        cased: bool,
    },
    /// Anything with inner wildcards, as an anchored regex.
    Glob(Regex),
}

impl StrPat {
    pub fn new(pieces: &[Piece], cased: bool) -> StrPat {
        let lead = pieces.first() == Some(&Piece::Star);
        let trail = pieces.len() > 1 && pieces.last() == Some(&Piece::Star);
        let inner = &pieces[usize::from(lead)..pieces.len() - usize::from(trail)];
        if let Some(text) = plain_text(inner) {
            let anchor = match (lead, trail) {
                (false, false) => Anchor::Exact,
                (false, true) => Anchor::Prefix,
                (true, false) => Anchor::Suffix,
                (true, true) => Anchor::Contains,
            };
            let text = if cased { text } else { text.to_lowercase() };
            // A lone "*" is Suffix("") which matches anything: correct.
            return StrPat::Simple {
                text,
                anchor,
                cased,
            };
        }
        let mut re = String::from(if cased { "(?s)^" } else { "(?si)^" });
        for p in pieces {
            match p {
                Piece::Lit(c) => re.push_str(&regex::escape(&c.to_string())),
                Piece::Star => re.push_str(".*"),
                Piece::Question => re.push('.'),
            }
        }
        re.push('$');
        StrPat::Glob(Regex::new(&re).expect("escaped wildcard regex is valid"))
    }

    pub fn is_match(&self, value: &str) -> bool {
        match self {
            StrPat::Simple {
                text,
                anchor,
                cased,
            } => {
                if *cased || (value.is_ascii() && text.is_ascii()) {
                    let (v, t) = (value.as_bytes(), text.as_bytes());
                    let eq = |a: &[u8]| {
                        if *cased {
                            a == t
                        } else {
                            a.eq_ignore_ascii_case(t)
                        }
                    };
                    match anchor {
                        Anchor::Exact => v.len() == t.len() && eq(v),
                        Anchor::Prefix => v.len() >= t.len() && eq(&v[..t.len()]),
                        Anchor::Suffix => v.len() >= t.len() && eq(&v[v.len() - t.len()..]),
                        Anchor::Contains => {
                            if *cased {
                                memchr::memmem::find(v, t).is_some()
                            } else {
                                contains_ascii_ci(v, t)
                            }
                        }
                    }
                } else {
                    let lower = value.to_lowercase();
                    match anchor {
                        Anchor::Exact => lower == *text,
                        Anchor::Prefix => lower.starts_with(text.as_str()),
                        Anchor::Suffix => lower.ends_with(text.as_str()),
                        Anchor::Contains => lower.contains(text.as_str()),
                    }
                }
            }
            StrPat::Glob(re) => re.is_match(value),
        }
    }

    /// The exact text this pattern requires, if it is a case-insensitive exact match
    /// (used to build dispatch indexes).
    pub fn exact_ci(&self) -> Option<&str> {
        match self {
            StrPat::Simple {
                text,
                anchor: Anchor::Exact,
                cased: false,
            } => Some(text),
            _ => None,
        }
    }
}

fn contains_ascii_ci(hay: &[u8], needle: &[u8]) -> bool {
    if needle.is_empty() {
        return true;
    }
    if hay.len() < needle.len() {
        return false;
    }
    let first = needle[0];
    let (lo, up) = (first.to_ascii_lowercase(), first.to_ascii_uppercase());
    let mut start = 0;
    while let Some(off) = memchr::memchr2(lo, up, &hay[start..]) {
        let pos = start + off;
        if pos + needle.len() > hay.len() {
            return false;
        }
        if hay[pos..pos + needle.len()].eq_ignore_ascii_case(needle) {
            return true;
        }
        start = pos + 1;
    }
    false
}

/// Many ASCII alternatives (exact, prefix, suffix, contains) in few automata: `contains`
/// patterns in one unanchored automaton (a plain `is_match`), `exact` and `prefix` patterns in
/// one anchored automaton, suffixes checked directly.
#[derive(Debug, Clone)]
pub struct MultiStr {
    contains: Option<AhoCorasick>,
    /// Names `contains` in the per-thread memo ([`contains_memoised`]); a clone has the same
    /// automaton, and shares it.
    contains_id: u64,
    prefixes: Option<AhoCorasick>,
    /// Exact texts (lowercase unless cased).
    exact: std::collections::HashSet<String, crate::engine::FastHash>,
    cased: bool,
    suffixes: Vec<StrPat>,
}

impl MultiStr {
    /// Builds the automata; `None` when some pattern is not plain ASCII text.
    pub fn build(pats: &[StrPat]) -> Option<MultiStr> {
        let mut contains = Vec::new();
        let mut prefixes = Vec::new();
        let mut exact = std::collections::HashSet::default();
        let mut suffixes = Vec::new();
        let mut cased = None;
        for p in pats {
            match p {
                StrPat::Simple {
                    text,
                    anchor,
                    cased: c,
                } if text.is_ascii() && !text.is_empty() => {
                    if *cased.get_or_insert(*c) != *c {
                        return None;
                    }
                    match anchor {
                        Anchor::Contains => contains.push(text.clone()),
                        Anchor::Exact => {
                            exact.insert(text.clone());
                        }
                        Anchor::Prefix => prefixes.push(text.clone()),
                        Anchor::Suffix => suffixes.push(p.clone()),
                    }
                }
                _ => return None,
            }
        }
        let ci = !cased.unwrap_or(false);
        let build = |texts: &[String], start: StartKind| -> Option<Option<AhoCorasick>> {
            if texts.is_empty() {
                return Some(None);
            }
            AhoCorasickBuilder::new()
                .ascii_case_insensitive(ci)
                .match_kind(MatchKind::Standard)
                .start_kind(start)
                // Pattern sets are small: a full DFA is cheap to build and fastest to run.
                .kind(Some(AhoCorasickKind::DFA))
                .build(texts)
                .ok()
                .map(Some)
        };
        static NEXT_ID: AtomicU64 = AtomicU64::new(0);
        Some(MultiStr {
            contains: build(&contains, StartKind::Unanchored)?,
            contains_id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            prefixes: build(&prefixes, StartKind::Anchored)?,
            exact,
            cased: !ci,
            suffixes,
        })
    }

    /// The texts, when every alternative is a case-insensitive exact match.
    pub fn exact_only(&self) -> Option<Vec<String>> {
        (self.contains.is_none()
            && self.prefixes.is_none()
            && self.suffixes.is_empty()
            && !self.cased)
            .then(|| self.exact.iter().cloned().collect())
    }

    pub fn is_match(&self, value: &str) -> bool {
        // Non-ASCII values are lowercased first when matching case-insensitively: the automata
        // fold ASCII only. Case-sensitive automata see the value as it is.
        let folded;
        let value = if self.cased || value.is_ascii() {
            value
        } else {
            folded = value.to_lowercase();
            folded.as_str()
        };
        if let Some(ac) = &self.contains
            && contains_memoised(ac, self.contains_id, value)
        {
            return true;
        }
        if let Some(ac) = &self.prefixes
            && ac.is_match(Input::new(value).anchored(Anchored::Yes))
        {
            return true;
        }
        if !self.exact.is_empty() {
            let hit = if self.cased || !value.bytes().any(|b| b.is_ascii_uppercase()) {
                self.exact.contains(value)
            } else {
                self.exact.contains(&value.to_ascii_lowercase())
            };
            if hit {
                return true;
            }
        }
        self.suffixes.iter().any(|p| p.is_match(value))
    }
}

/// Texts whose `contains` result is remembered: long enough that scanning them costs more than
/// looking them up (the automaton reads a byte in about ten instructions), short enough to
/// copy. Audit events repeat the same user agents and URIs over and over.
const MEMO_TEXT: std::ops::RangeInclusive<usize> = 24..=256;
/// Entries per thread, overwritten on collision: at most 64 KiB of texts, whatever the input.
const MEMO_SLOTS: usize = 256;

struct MemoEntry {
    id: u64,
    text: Box<str>,
    hit: bool,
}

thread_local! {
    static CONTAINS_MEMO: RefCell<Vec<Option<MemoEntry>>> = const { RefCell::new(Vec::new()) };
}

/// `ac.is_match(value)`, remembered per thread for texts of [`MEMO_TEXT`] lengths.
fn contains_memoised(ac: &AhoCorasick, id: u64, value: &str) -> bool {
    if !MEMO_TEXT.contains(&value.len()) {
        return ac.is_match(value);
    }
    let mut h = crate::engine::Fnv::default();
    h.write_u64(id);
    h.write(value.as_bytes());
    let slot = (h.finish().wrapping_mul(0x9E37_79B9_7F4A_7C15) >> 56) as usize % MEMO_SLOTS;
    CONTAINS_MEMO.with(|memo| {
        let mut memo = memo.borrow_mut();
        if memo.is_empty() {
            memo.resize_with(MEMO_SLOTS, || None);
        }
        if let Some(e) = &memo[slot]
            && e.id == id
            && *e.text == *value
        {
            return e.hit;
        }
        let hit = ac.is_match(value);
        memo[slot] = Some(MemoEntry {
            id,
            text: value.into(),
            hit,
        });
        hit
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pat(s: &str) -> StrPat {
        StrPat::new(&parse_sigma_string(s), false)
    }

    /// The remembered `contains` results are the automaton's, for texts asked of several
    /// pattern sets, more texts than the memo holds, asked again in other orders.
    #[test]
    fn remembered_contains_results_are_the_automatons() {
        let a = MultiStr::build(&[pat("*kube-hunter*"), pat("*curl/*")]).unwrap();
        let b = MultiStr::build(&[pat("*python*")]).unwrap();
        let texts: Vec<String> = (0..2000)
            .map(|i| match i % 5 {
                0 => format!("Mozilla/5.0 kube-hunter/{i} (linux) padding"),
                1 => format!("python-requests/2.{i} and something long enough"),
                2 => format!("curl/7.{i} on a host named host-{i}"),
                3 => format!("KUBE-HUNTER/{i} in capitals, long enough"),
                _ => format!("kubectl/v1.{i}.0 (linux/amd64) kubernetes/abc"),
            })
            .collect();
        let scan = |m: &MultiStr, t: &str| m.contains.as_ref().unwrap().is_match(t);
        let mut hits = (0, 0);
        for round in 1..=3 {
            for t in texts
                .iter()
                .rev()
                .step_by(round)
                .chain(texts.iter().take(300))
            {
                assert_eq!(a.is_match(t), scan(&a, t), "{t}");
                assert_eq!(b.is_match(t), scan(&b, t), "{t}");
                hits.0 += usize::from(a.is_match(t));
                hits.1 += usize::from(b.is_match(t));
            }
        }
        assert!(hits.0 > 1000 && hits.1 > 300, "{hits:?}");
    }

    #[test]
    fn wildcards_and_escapes() {
        assert!(pat("kube-*").is_match("KUBE-system"));
        assert!(pat("*.sock").is_match("/var/run/docker.SOCK"));
        assert!(pat("*exec*").is_match("pods/exec"));
        assert!(pat("a?c").is_match("abc"));
        assert!(!pat("a?c").is_match("abbc"));
        assert!(pat("a*b*c").is_match("aXXbYYc"));
        assert!(pat(r"a\*b").is_match("a*b"));
        assert!(!pat(r"a\*b").is_match("axb"));
        assert!(pat(r"a\?").is_match("a?"));
        assert!(pat(r"c:\\windows").is_match(r"C:\Windows"));
        assert!(pat(r"c:\windows").is_match(r"C:\Windows"));
        assert!(pat(r"end\\*").is_match(r"end\anything"));
        assert!(pat("*").is_match(""));
        assert!(pat("").is_match(""));
        assert!(!pat("").is_match("x"));
        assert!(pat("ÄBC").is_match("äbc"));
        assert!(!StrPat::new(&parse_sigma_string("Abc"), true).is_match("abc"));
    }

    #[test]
    fn multi_matches_like_single_patterns() {
        let pats: Vec<StrPat> = ["get", "list*", "*watch", "*pods/exec*"]
            .iter()
            .map(|s| pat(s))
            .collect();
        let multi = MultiStr::build(&pats).unwrap();
        for v in [
            "GET",
            "listing",
            "xwatch",
            "a pods/exec b",
            "get2",
            "xget",
            "watchx",
            "pods",
        ] {
            assert_eq!(multi.is_match(v), pats.iter().any(|p| p.is_match(v)), "{v}");
        }
    }
}
