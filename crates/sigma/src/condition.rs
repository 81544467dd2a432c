//! The `condition` expression of a Sigma detection: `and`, `or`, `not`, parentheses,
//! `1 of pattern*`, `all of pattern*`, `1 of them`, `all of them` (identifiers starting with
//! `_` are excluded from `them`). Precedence, least to most binding: or, and, not, x of, ().

/// A parsed condition over selection names.
#[derive(Debug, Clone, PartialEq)]
pub enum Cond {
    Sel(String),
    And(Vec<Cond>),
    Or(Vec<Cond>),
    Not(Box<Cond>),
    /// `1 of pattern` (all = false) or `all of pattern`; pattern `None` means `them`.
    Of {
        all: bool,
        pattern: Option<String>,
    },
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    LParen,
    RParen,
    Pipe,
}

fn tokenize(s: &str) -> Vec<Tok> {
    let mut out = Vec::new();
    let mut word = String::new();
    let flush = |word: &mut String, out: &mut Vec<Tok>| {
        if !word.is_empty() {
            out.push(Tok::Word(std::mem::take(word)));
        }
    };
    for c in s.chars() {
        match c {
            '(' | ')' | '|' => {
                flush(&mut word, &mut out);
                out.push(match c {
                    '(' => Tok::LParen,
                    ')' => Tok::RParen,
                    _ => Tok::Pipe,
                });
            }
            c if c.is_whitespace() => flush(&mut word, &mut out),
            c => word.push(c),
        }
    }
    flush(&mut word, &mut out);
    out
}

/// Parses a condition string.
pub fn parse(s: &str) -> Result<Cond, String> {
    let toks = tokenize(s);
    if toks.contains(&Tok::Pipe) {
        return Err(
            "aggregation expressions (`| count() ...`) are not supported; use a correlation rule"
                .into(),
        );
    }
    let mut p = P { toks, i: 0 };
    let c = p.or()?;
    if p.i != p.toks.len() {
        return Err(format!("unexpected token {:?} in condition", p.toks[p.i]));
    }
    Ok(c)
}

struct P {
    toks: Vec<Tok>,
    i: usize,
}

impl P {
    fn kw(&self, k: &str) -> bool {
        matches!(self.toks.get(self.i), Some(Tok::Word(w)) if w.eq_ignore_ascii_case(k))
    }

    fn or(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.and()?];
        while self.kw("or") {
            self.i += 1;
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Cond::Or(Vec::new()))
        } else {
            Cond::Or(items)
        })
    }

    fn and(&mut self) -> Result<Cond, String> {
        let mut items = vec![self.not()?];
        while self.kw("and") {
            self.i += 1;
            items.push(self.not()?);
        }
        Ok(if items.len() == 1 {
            items.pop().unwrap_or(Cond::And(Vec::new()))
        } else {
            Cond::And(items)
        })
    }

    fn not(&mut self) -> Result<Cond, String> {
        if self.kw("not") {
            self.i += 1;
            return Ok(Cond::Not(Box::new(self.not()?)));
        }
        self.atom()
    }

    fn atom(&mut self) -> Result<Cond, String> {
        match self.toks.get(self.i).cloned() {
            Some(Tok::LParen) => {
                self.i += 1;
                let c = self.or()?;
                if self.toks.get(self.i) != Some(&Tok::RParen) {
                    return Err("missing ')' in condition".into());
                }
                self.i += 1;
                Ok(c)
            }
            Some(Tok::Word(w)) => {
                self.i += 1;
                let quant = if w == "1" || w.eq_ignore_ascii_case("any") {
                    Some(false)
                } else if w.eq_ignore_ascii_case("all") {
                    Some(true)
                } else {
                    None
                };
                if let Some(all) = quant
                    && self.kw("of")
                {
                    self.i += 1;
                    let Some(Tok::Word(target)) = self.toks.get(self.i).cloned() else {
                        return Err(format!(
                            "expected a selection pattern or `them` after `{w} of`"
                        ));
                    };
                    self.i += 1;
                    let pattern = if target.eq_ignore_ascii_case("them") {
                        None
                    } else {
                        Some(target)
                    };
                    return Ok(Cond::Of { all, pattern });
                }
                if ["and", "or", "not", "of"]
                    .iter()
                    .any(|k| w.eq_ignore_ascii_case(k))
                {
                    return Err(format!("unexpected keyword `{w}` in condition"));
                }
                if w.chars().all(|c| c.is_ascii_digit()) {
                    return Err(format!(
                        "unsupported quantifier `{w} of` (only `1 of` and `all of`)"
                    ));
                }
                Ok(Cond::Sel(w))
            }
            Some(t) => Err(format!("unexpected token {t:?} in condition")),
            None => Err("condition ends unexpectedly".into()),
        }
    }
}

/// Whether a selection name matches an `x of` pattern (`*` matches any characters).
pub fn pattern_matches(pattern: &str, name: &str) -> bool {
    fn rec(p: &[u8], n: &[u8]) -> bool {
        match p.split_first() {
            None => n.is_empty(),
            Some((b'*', rest)) => (0..=n.len()).any(|i| rec(rest, &n[i..])),
            Some((c, rest)) => n.first() == Some(c) && rec(rest, &n[1..]),
        }
    }
    rec(pattern.as_bytes(), name.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence() {
        let c = parse("a or b and not c").unwrap();
        assert_eq!(
            c,
            Cond::Or(vec![
                Cond::Sel("a".into()),
                Cond::And(vec![
                    Cond::Sel("b".into()),
                    Cond::Not(Box::new(Cond::Sel("c".into())))
                ])
            ])
        );
        let c = parse("(a or b) and 1 of sel* and not all of them").unwrap();
        assert!(matches!(c, Cond::And(ref v) if v.len() == 3));
    }

    #[test]
    fn errors() {
        assert!(parse("a and").is_err());
        assert!(parse("(a").is_err());
        assert!(parse("sel | count() > 5").is_err());
        assert!(parse("2 of sel*").is_err());
    }

    #[test]
    fn patterns() {
        assert!(pattern_matches("sel*", "selection_a"));
        assert!(pattern_matches("*_x", "a_x"));
        assert!(!pattern_matches("sel*", "filter"));
    }
}
