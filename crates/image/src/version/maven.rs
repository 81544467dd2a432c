//! Maven version ordering.
//!
//! Follows apache/maven (https://github.com/apache/maven) `ComparableVersion.java`
//! (`compat/maven-artifact/src/main/java/org/apache/maven/artifact/versioning/`, the current
//! one, with `CombinationItem`, MNG-6964, MNG-7644 and MNG-7714): `parseVersion()` builds a list
//! of items (numbers, qualifiers, qualifier+number combinations, sub-lists opened by `-` and
//! by digit/letter transitions), `ListItem.normalize()` trims null items, and each item's
//! `compareTo()` decides the ordering: alpha/a < beta/b < milestone/m < rc/cr < snapshot <
//! "" = ga = final = release < sp < unknown qualifiers (lexically), numbers above qualifiers.
//!
//! Maven accepts any string of at most 256 characters; here the string must also be printable
//! ASCII (Java lowercases and classifies other characters with Unicode tables not ported here).
//! Recursion follows the list nesting, which the 256-byte cap bounds (one level per 2 bytes).

use std::cmp::Ordering;

#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Item {
    /// A number, as its digits without leading zeros ("0" for zero). Java's Int, Long and
    /// BigInteger items order by value across types, which this digit string also does.
    Num(String),
    /// A qualifier after aliasing (`cr` -> `rc`, `a1` -> `alpha`...).
    Str(String),
    /// A qualifier directly followed by a number (`rc1`, `alpha-2`).
    Comb(String, String),
    List(Vec<Item>),
}

const QUALIFIERS: [&str; 7] = ["alpha", "beta", "milestone", "rc", "snapshot", "", "sp"];
const RELEASE: &str = "5";

/// `StringItem.comparableQualifier()`: a string whose lexical order is the qualifier order.
fn comparable(q: &str) -> String {
    if matches!(q, "ga" | "final" | "release") {
        return RELEASE.to_owned();
    }
    match QUALIFIERS.iter().position(|x| *x == q) {
        Some(i) => i.to_string(),
        None => format!("{}-{q}", QUALIFIERS.len()),
    }
}

fn string_item(v: &str, followed_by_digit: bool) -> String {
    let v = match v {
        "a" if followed_by_digit => "alpha",
        "b" if followed_by_digit => "beta",
        "m" if followed_by_digit => "milestone",
        "cr" => "rc",
        v => v,
    };
    v.to_owned()
}

/// `stripLeadingZeroes()`.
fn num_digits(buf: &str) -> String {
    let t = buf.trim_start_matches('0');
    if t.is_empty() { "0".into() } else { t.into() }
}

/// `CombinationItem`: letters then digits (`alpha1`, `rc-2` read as `rc2`). The parser only
/// makes one when a digit follows the letters, so the digit search always succeeds.
fn comb_item(buf: &str) -> Item {
    let buf: String = buf.chars().filter(|&c| c != '-').collect();
    let i = buf.find(|c: char| c.is_ascii_digit()).unwrap_or(0);
    Item::Comb(string_item(&buf[..i], true), num_digits(&buf[i..]))
}

fn parse_item(comb: bool, digit: bool, buf: &str) -> Item {
    if comb {
        comb_item(buf)
    } else if digit {
        Item::Num(num_digits(buf))
    } else {
        Item::Str(string_item(buf, false))
    }
}

impl Item {
    fn is_null(&self) -> bool {
        match self {
            Item::Num(d) => d == "0",
            Item::Str(s) => s.is_empty(),
            Item::Comb(..) => false,
            Item::List(l) => l.is_empty(),
        }
    }

    /// Java's `a.compareTo(b)`, `None` standing for `null` (a missing item).
    fn cmp(&self, other: Option<&Item>) -> Ordering {
        use Item::*;
        match (self, other) {
            (Num(d), None) => {
                if d == "0" {
                    Ordering::Equal
                } else {
                    Ordering::Greater
                }
            }
            (Num(a), Some(Num(b))) => super::cmp_digits(a.as_bytes(), b.as_bytes()),
            (Num(_), Some(_)) => Ordering::Greater,

            (Str(s), None) => comparable(s).as_str().cmp(RELEASE),
            (Str(_), Some(Num(_))) => Ordering::Less,
            (Str(s), Some(Str(t))) => comparable(s).cmp(&comparable(t)),
            (Str(_), Some(Comb(cs, cd))) => match self.cmp(Some(&Str(cs.clone()))) {
                Ordering::Equal if self.cmp(None) == Ordering::Equal => {
                    Num(cd.clone()).cmp(None).reverse()
                }
                Ordering::Equal => Ordering::Less,
                o => o,
            },
            (Str(_) | Comb(..), Some(l @ List(_))) => l.cmp(Some(self)).reverse(),

            (Comb(cs, cd), None) => match Str(cs.clone()).cmp(None) {
                Ordering::Equal => Num(cd.clone()).cmp(None),
                o => o,
            },
            (Comb(..), Some(Num(_))) => Ordering::Less,
            (Comb(cs, cd), Some(t @ Str(_))) => {
                let s = Str(cs.clone());
                match s.cmp(Some(t)) {
                    Ordering::Equal if s.cmp(None) == Ordering::Equal => Num(cd.clone()).cmp(None),
                    // X1 > X
                    Ordering::Equal => Ordering::Greater,
                    o => o,
                }
            }
            (Comb(cs, cd), Some(Comb(ts, td))) => comparable(cs)
                .cmp(&comparable(ts))
                .then_with(|| super::cmp_digits(cd.as_bytes(), td.as_bytes())),

            (List(l), None) => l
                .iter()
                .map(|i| i.cmp(None))
                .find(|o| o.is_ne())
                .unwrap_or(Ordering::Equal),
            (List(_), Some(Num(_))) => Ordering::Less,
            (List(l), Some(x @ (Str(_) | Comb(..)))) => {
                let first = match l.first() {
                    None => x.cmp(None).reverse(),
                    Some(f) => f.cmp(Some(x)),
                };
                first.then_with(|| {
                    l.iter()
                        .skip(1)
                        .map(|i| i.cmp(None))
                        .find(|o| o.is_ne())
                        .unwrap_or(Ordering::Equal)
                })
            }
            (List(l), Some(List(r))) => {
                for k in 0..l.len().max(r.len()) {
                    let o = match (l.get(k), r.get(k)) {
                        (None, None) => Ordering::Equal,
                        (None, Some(y)) => y.cmp(None).reverse(),
                        (Some(x), y) => x.cmp(y),
                    };
                    if o.is_ne() {
                        return o;
                    }
                }
                Ordering::Equal
            }
        }
    }
}

/// `ListItem.normalize()`: drops null items at the end or before a qualifier (or a sub-list
/// starting with one), then unwraps a list left holding only a sub-list.
fn normalize(list: &mut Vec<Item>) {
    let mut i = list.len();
    while i > 0 {
        i -= 1;
        if !list[i].is_null() {
            continue;
        }
        let remove = match list.get(i + 1) {
            None | Some(Item::Str(_)) => true,
            Some(Item::List(next)) => matches!(next.first(), Some(Item::Comb(..) | Item::Str(_))),
            _ => false,
        };
        if remove {
            list.remove(i);
        }
    }
    if let [Item::List(inner)] = list.as_mut_slice() {
        *list = std::mem::take(inner);
    }
}

/// `ComparableVersion.parseVersion()`.
pub(super) fn parse(version: &str) -> Result<Item, &'static str> {
    if version.is_empty() {
        return Err("version string is empty");
    }
    if !version.bytes().all(|c| c.is_ascii_graphic() || c == b' ') {
        return Err("only printable ASCII characters are accepted");
    }
    let v = version.to_ascii_lowercase();
    let b = v.as_bytes();
    // The open lists, innermost last; each new sub-list is the last item of its parent.
    let mut stack: Vec<Vec<Item>> = vec![Vec::new()];
    let (mut is_digit, mut is_comb, mut start) = (false, false, 0usize);
    let mut i = 0;
    while i < b.len() {
        let c = b[i];
        let top = stack.len() - 1;
        if c == b'.' {
            let item = if i == start {
                Item::Num("0".into())
            } else {
                parse_item(is_comb, is_digit, &v[start..i])
            };
            stack[top].push(item);
            is_comb = false;
            start = i + 1;
        } else if c == b'-' {
            if i == start {
                stack[top].push(Item::Num("0".into()));
            } else {
                // X-1 is read as X1.
                if !is_digit && i != b.len() - 1 && b[i + 1].is_ascii_digit() {
                    is_comb = true;
                    i += 1;
                    continue;
                }
                stack[top].push(parse_item(is_comb, is_digit, &v[start..i]));
            }
            start = i + 1;
            if !stack[top].is_empty() {
                stack.push(Vec::new());
            }
            is_comb = false;
        } else if c.is_ascii_digit() {
            if !is_digit && i > start {
                is_comb = true;
                if !stack[top].is_empty() {
                    stack.push(Vec::new());
                }
            }
            is_digit = true;
        } else {
            if is_digit && i > start {
                stack[top].push(parse_item(is_comb, true, &v[start..i]));
                start = i;
                stack.push(Vec::new());
                is_comb = false;
            }
            is_digit = false;
        }
        i += 1;
    }
    if b.len() > start {
        // 1.0.0.X1 < 1.0.0-X2: .X is read as -X.
        if !is_digit && !stack[stack.len() - 1].is_empty() {
            stack.push(Vec::new());
        }
        let item = parse_item(is_comb, is_digit, &v[start..]);
        let top = stack.len() - 1;
        stack[top].push(item);
    }
    // Normalize from the innermost list out, each into its parent.
    let mut done = stack.pop().unwrap_or_default();
    normalize(&mut done);
    while let Some(mut parent) = stack.pop() {
        parent.push(Item::List(done));
        normalize(&mut parent);
        done = parent;
    }
    Ok(Item::List(done))
}

pub(super) fn compare(a: &Item, b: &Item) -> Ordering {
    a.cmp(Some(b))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn c(a: &str, b: &str) -> Ordering {
        compare(&parse(a).unwrap(), &parse(b).unwrap())
    }

    #[test]
    fn basics() {
        assert_eq!(c("1.0-SNAPSHOT", "1.0"), Ordering::Less);
        assert_eq!(c("1.0-rc1", "1.0-RC2"), Ordering::Less);
        assert_eq!(c("1.0.final", "1.0"), Ordering::Equal);
        assert_eq!(c("1.0-sp1", "1.0"), Ordering::Greater);
        assert_eq!(c("1-1", "1.1"), Ordering::Less);
        assert!(parse("").is_err());
        assert!(parse("1.0\u{e9}").is_err());
    }
}
