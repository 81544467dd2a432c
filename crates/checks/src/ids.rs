//! Check ids as people write them, in the `kubevigil.io/ignore` annotation and in the
//! configuration: an id, or a glob over ids (`pss-*`, `image-*`, `*`; globset syntax, where `*`
//! is any run of characters). What matches, and what to say when a pattern names no check.

use std::collections::HashMap;
use std::sync::{Mutex, OnceLock};

use globset::{Glob, GlobMatcher};

/// Whether `pattern` is a glob rather than a plain id.
pub fn is_glob(pattern: &str) -> bool {
    pattern.contains(['*', '?', '[', '{'])
}

/// Compiles a glob over check ids.
pub fn glob(pattern: &str) -> Result<GlobMatcher, globset::Error> {
    Glob::new(pattern).map(|g| g.compile_matcher())
}

/// Whether `pattern` (an id or a glob) names the check `id`. An invalid glob names nothing.
pub fn matches(pattern: &str, id: &str) -> bool {
    if pattern == id || pattern == "*" {
        return true;
    }
    is_glob(pattern) && compiled(pattern).is_some_and(|m| m.is_match(id))
}

/// Globs are compiled once (a scan asks about every finding); the cache is bounded, since
/// annotations come from the input.
fn compiled(pattern: &str) -> Option<GlobMatcher> {
    static CACHE: OnceLock<Mutex<HashMap<String, Option<GlobMatcher>>>> = OnceLock::new();
    let mut cache = CACHE
        .get_or_init(Mutex::default)
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some(m) = cache.get(pattern) {
        return m.clone();
    }
    if cache.len() >= 4096 {
        cache.clear();
    }
    let m = glob(pattern).ok();
    cache.insert(pattern.to_string(), m.clone());
    m
}

/// Longest pattern quoted in a message or compared by edit distance (check ids are under 50).
const MAX_SHOWN: usize = 128;

/// The known id nearest to `id` by edit distance, when it is near enough to be a likely typo.
pub fn closest<'a>(id: &str, known: &[&'a str]) -> Option<&'a str> {
    // Edit distance costs the product of the lengths: an id from the input far longer than any
    // check id is no typo of one, and must not cost a hostile annotation seconds.
    if id.len() > MAX_SHOWN {
        return None;
    }
    let (best, distance) = known
        .iter()
        .map(|k| (*k, strsim::levenshtein(id, k)))
        .min_by_key(|&(k, d)| (d, k))?;
    (distance <= (id.chars().count() / 2).max(3)).then_some(best)
}

/// Why `pattern` names no check among `known`, or `None` when it names at least one: an unknown
/// id (with the closest known one), an invalid glob, or a glob that matches nothing.
pub fn problem(pattern: &str, known: &[&str]) -> Option<String> {
    problem_among("check id", pattern, known)
}

/// [`problem`] for ids of another kind (`what`: `rule id or name` for detection rules).
pub fn problem_among(what: &str, pattern: &str, known: &[&str]) -> Option<String> {
    if pattern == "*" || known.contains(&pattern) {
        return None;
    }
    if pattern.len() > MAX_SHOWN {
        // Quoted in full, an annotation could put megabytes into one warning.
        let cut = pattern.floor_char_boundary(MAX_SHOWN);
        return Some(format!(
            "unknown {what} {:?}… ({} bytes)",
            &pattern[..cut],
            pattern.len()
        ));
    }
    if is_glob(pattern) {
        return match glob(pattern) {
            Err(e) => Some(format!("invalid glob {pattern:?}: {}", e.kind())),
            Ok(m) if known.iter().any(|k| m.is_match(k)) => None,
            Ok(_) => Some(format!("glob {pattern:?} matches no {what}")),
        };
    }
    Some(match closest(pattern, known) {
        Some(near) => format!("unknown {what} {pattern:?}; did you mean `{near}`?"),
        None => format!("unknown {what} {pattern:?}"),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["image-tag-latest", "pss-privileged", "pss-hostPorts"];

    #[test]
    fn ids_and_globs() {
        assert!(matches("pss-*", "pss-hostPorts"));
        assert!(matches("*", "anything"));
        assert!(matches("image-tag-latest", "image-tag-latest"));
        assert!(!matches("pss-*", "image-tag-latest"));
        assert!(!matches("image-tag", "image-tag-latest"));
    }

    #[test]
    fn a_huge_pattern_is_cut_in_the_message_and_not_compared() {
        let huge = "x".repeat(1 << 20);
        let msg = problem(&huge, KNOWN).unwrap();
        assert!(msg.len() < 200, "{}", msg.len());
        assert!(msg.ends_with("(1048576 bytes)"), "{msg}");
        assert_eq!(closest(&huge, KNOWN), None);
    }

    #[test]
    fn problems_name_the_closest_id() {
        assert_eq!(problem("pss-*", KNOWN), None);
        assert_eq!(problem("*", KNOWN), None);
        assert_eq!(
            problem("image-tag-latets", KNOWN).unwrap(),
            "unknown check id \"image-tag-latets\"; did you mean `image-tag-latest`?"
        );
        assert_eq!(
            problem("totally-unrelated-thing", KNOWN).unwrap(),
            "unknown check id \"totally-unrelated-thing\""
        );
        assert_eq!(
            problem("psss-*", KNOWN).unwrap(),
            "glob \"psss-*\" matches no check id"
        );
        assert!(problem("pss-[", KNOWN).unwrap().starts_with("invalid glob"));
    }
}
