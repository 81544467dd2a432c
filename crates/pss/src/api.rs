//! Levels, policy versions, and namespace-label resolution.
//!
//! Mirrors k8s.io/pod-security-admission `api/helpers.go` and `api/constants.go`
//! (kubernetes/kubernetes `staging/src/k8s.io/pod-security-admission/api/`).

use std::fmt;

/// The newest policy version any upstream check registers (`sysctls` gained a v1.37 revision,
/// kubernetes/kubernetes PR #138389). Upstream's registry clamps every newer version, and
/// `latest`, to this one (`policy/registry.go`, `EvaluatePod`).
pub const MAX_MINOR: u64 = 37;

pub const ENFORCE_LEVEL_LABEL: &str = "pod-security.kubernetes.io/enforce";
pub const ENFORCE_VERSION_LABEL: &str = "pod-security.kubernetes.io/enforce-version";
pub const AUDIT_LEVEL_LABEL: &str = "pod-security.kubernetes.io/audit";
pub const AUDIT_VERSION_LABEL: &str = "pod-security.kubernetes.io/audit-version";
pub const WARN_LEVEL_LABEL: &str = "pod-security.kubernetes.io/warn";
pub const WARN_VERSION_LABEL: &str = "pod-security.kubernetes.io/warn-version";

/// A Pod Security Standards level, ordered by strictness.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Level {
    Privileged,
    Baseline,
    Restricted,
}

impl Level {
    pub const ALL: [Level; 3] = [Level::Privileged, Level::Baseline, Level::Restricted];

    pub fn as_str(self) -> &'static str {
        match self {
            Level::Privileged => "privileged",
            Level::Baseline => "baseline",
            Level::Restricted => "restricted",
        }
    }

    /// `api.ParseLevel`: an invalid level yields `restricted` together with the error.
    pub fn parse(s: &str) -> Result<Level, (Level, &'static str)> {
        match s {
            "privileged" => Ok(Level::Privileged),
            "baseline" => Ok(Level::Baseline),
            "restricted" => Ok(Level::Restricted),
            _ => Err((
                Level::Restricted,
                "must be one of privileged, baseline, restricted",
            )),
        }
    }
}

impl fmt::Display for Level {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A policy version: `latest` or `v1.<minor>`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Version {
    Latest,
    Minor(u64),
}

const VERSION_ERROR: &str = r#"must be "latest" or "v1.x""#;

impl Version {
    /// `api.ParseVersion`: `latest`, or `^v1\.([0-9]|[1-9][0-9]*)$` whose number fits Go's `int`.
    /// An invalid version yields `latest` together with the error.
    pub fn parse(s: &str) -> Result<Version, (Version, &'static str)> {
        if s == "latest" {
            return Ok(Version::Latest);
        }
        let invalid = Err((Version::Latest, VERSION_ERROR));
        let Some(digits) = s.strip_prefix("v1.") else {
            return invalid;
        };
        let well_formed = !digits.is_empty()
            && digits.bytes().all(|b| b.is_ascii_digit())
            && (digits == "0" || !digits.starts_with('0'));
        if !well_formed {
            return invalid;
        }
        match digits.parse::<i64>() {
            Ok(n) => Ok(Version::Minor(n as u64)),
            Err(_) => invalid,
        }
    }

    /// The minor version whose checks apply: versions above the newest defined one, and
    /// `latest`, behave as the newest (`registry.go`: `if r.maxVersion.Older(lv.Version)`).
    pub fn effective_minor(self) -> u64 {
        match self {
            Version::Latest => MAX_MINOR,
            Version::Minor(m) => m.min(MAX_MINOR),
        }
    }
}

impl fmt::Display for Version {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Version::Latest => f.write_str("latest"),
            Version::Minor(m) => write!(f, "v1.{m}"),
        }
    }
}

/// A level at a version; displays as upstream's `LevelVersion.String()`, e.g. `baseline:v1.29`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct LevelVersion {
    pub level: Level,
    pub version: Version,
}

impl LevelVersion {
    pub const fn new(level: Level, version: Version) -> Self {
        LevelVersion { level, version }
    }

    /// Parses `level`, `level:latest` or `level:v1.N` (the `--what-if` syntax).
    pub fn parse(s: &str) -> Result<LevelVersion, String> {
        let (level, version) = match s.split_once(':') {
            Some((l, v)) => (l, Some(v)),
            None => (s, None),
        };
        let level = Level::parse(level).map_err(|(_, e)| format!("level {level:?}: {e}"))?;
        let version = match version {
            None => Version::Latest,
            Some(v) => Version::parse(v).map_err(|(_, e)| format!("version {v:?}: {e}"))?,
        };
        Ok(LevelVersion { level, version })
    }
}

impl fmt::Display for LevelVersion {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}:{}", self.level, self.version)
    }
}

/// The enforce, audit and warn level-versions of a namespace.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Policy {
    pub enforce: LevelVersion,
    pub audit: LevelVersion,
    pub warn: LevelVersion,
}

impl Default for Policy {
    /// The PodSecurityConfiguration defaults: privileged at latest for every mode.
    fn default() -> Self {
        let p = LevelVersion::new(Level::Privileged, Version::Latest);
        Policy {
            enforce: p,
            audit: p,
            warn: p,
        }
    }
}

impl LevelVersion {
    /// `LevelVersion.Equivalent`: equal, or both privileged (any version).
    pub fn equivalent(&self, other: &LevelVersion) -> bool {
        self == other || (self.level == Level::Privileged && other.level == Level::Privileged)
    }
}

impl Policy {
    /// `Policy.Equivalent`.
    pub fn equivalent(&self, other: &Policy) -> bool {
        self.enforce.equivalent(&other.enforce)
            && self.audit.equivalent(&other.audit)
            && self.warn.equivalent(&other.warn)
    }

    /// `Policy.FullyPrivileged()`.
    pub fn fully_privileged(&self) -> bool {
        self.enforce.level == Level::Privileged
            && self.audit.level == Level::Privileged
            && self.warn.level == Level::Privileged
    }
}

/// An invalid pod-security label, formatted as upstream's `field.Invalid` error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LabelError {
    pub label: &'static str,
    pub value: String,
    pub message: &'static str,
}

impl fmt::Display for LabelError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "metadata.labels[{}]: Invalid value: {}: {}",
            self.label,
            go_quote(&self.value),
            self.message
        )
    }
}

/// `api.PolicyToEvaluate`: resolves namespace labels over the configured defaults.
///
/// A valid policy is always returned. An invalid enforce level fails closed (`restricted`), an
/// invalid audit or warn level fails open (`privileged`), an invalid version means `latest`.
pub fn policy_to_evaluate<'a>(
    labels: impl Fn(&str) -> Option<&'a str>,
    defaults: &Policy,
) -> (Policy, Vec<LabelError>) {
    let mut p = *defaults;
    let mut errs = Vec::new();
    let mut level = |label: &'static str, target: &mut Level, fail_open: bool| {
        if let Some(v) = labels(label) {
            match Level::parse(v) {
                Ok(l) => *target = l,
                Err((l, message)) => {
                    *target = if fail_open { Level::Privileged } else { l };
                    errs.push(LabelError {
                        label,
                        value: v.to_string(),
                        message,
                    });
                }
            }
        }
    };
    level(ENFORCE_LEVEL_LABEL, &mut p.enforce.level, false);
    level(AUDIT_LEVEL_LABEL, &mut p.audit.level, true);
    level(WARN_LEVEL_LABEL, &mut p.warn.level, true);
    let mut version = |label: &'static str, target: &mut Version| {
        if let Some(v) = labels(label) {
            match Version::parse(v) {
                Ok(ver) => *target = ver,
                Err((ver, message)) => {
                    *target = ver;
                    errs.push(LabelError {
                        label,
                        value: v.to_string(),
                        message,
                    });
                }
            }
        }
    };
    version(ENFORCE_VERSION_LABEL, &mut p.enforce.version);
    version(AUDIT_VERSION_LABEL, &mut p.audit.version);
    version(WARN_VERSION_LABEL, &mut p.warn.version);
    // Upstream appends errors in label order: enforce, enforce-version, audit, audit-version,
    // warn, warn-version.
    let rank = |l: &str| {
        [
            ENFORCE_LEVEL_LABEL,
            ENFORCE_VERSION_LABEL,
            AUDIT_LEVEL_LABEL,
            AUDIT_VERSION_LABEL,
            WARN_LEVEL_LABEL,
            WARN_VERSION_LABEL,
        ]
        .iter()
        .position(|x| *x == l)
    };
    errs.sort_by_key(|e| rank(e.label));
    (p, errs)
}

/// Go's `%q` for a string: double-quoted, with Go's escapes (`strconv.Quote`).
pub fn go_quote(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\u{7}' => out.push_str("\\a"),
            '\u{8}' => out.push_str("\\b"),
            '\u{c}' => out.push_str("\\f"),
            '\n' => out.push_str("\\n"),
            '\r' => out.push_str("\\r"),
            '\t' => out.push_str("\\t"),
            '\u{b}' => out.push_str("\\v"),
            c if (c as u32) < 0x20 || c as u32 == 0x7f => {
                out.push_str(&format!("\\x{:02x}", c as u32));
            }
            c if c.is_control() || c == '\u{feff}' || c == '\u{ad}' => {
                let n = c as u32;
                if n <= 0xffff {
                    out.push_str(&format!("\\u{n:04x}"));
                } else {
                    out.push_str(&format!("\\U{n:08x}"));
                }
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    #[test]
    fn parses_versions_like_upstream() {
        assert_eq!(Version::parse("latest"), Ok(Version::Latest));
        assert_eq!(Version::parse("v1.0"), Ok(Version::Minor(0)));
        assert_eq!(Version::parse("v1.29"), Ok(Version::Minor(29)));
        assert_eq!(Version::parse("v1.999"), Ok(Version::Minor(999)));
        for bad in [
            "v1.01",
            "v1.",
            "1.29",
            "v2.0",
            "v1.2a",
            "Latest",
            "",
            "v1.-1",
            "v1.99999999999999999999",
        ] {
            assert_eq!(
                Version::parse(bad),
                Err((Version::Latest, VERSION_ERROR)),
                "{bad}"
            );
        }
        assert_eq!(Version::Minor(99).effective_minor(), MAX_MINOR);
        assert_eq!(Version::Minor(3).effective_minor(), 3);
        assert_eq!(Version::Minor(99).to_string(), "v1.99");
    }

    #[test]
    fn invalid_level_fails_closed() {
        assert_eq!(Level::parse("Baseline").unwrap_err().0, Level::Restricted);
    }

    fn resolve(labels: &[(&str, &str)], defaults: Policy) -> (Policy, Vec<String>) {
        let m: HashMap<String, String> = labels
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        let (p, errs) = policy_to_evaluate(|k| m.get(k).map(String::as_str), &defaults);
        (p, errs.iter().map(ToString::to_string).collect())
    }

    #[test]
    fn labels_override_defaults_and_invalid_labels_fail_per_mode() {
        let (p, errs) = resolve(&[], Policy::default());
        assert_eq!(p, Policy::default());
        assert!(errs.is_empty());

        let (p, errs) = resolve(
            &[
                (ENFORCE_LEVEL_LABEL, "baseline"),
                (ENFORCE_VERSION_LABEL, "v1.29"),
            ],
            Policy::default(),
        );
        assert_eq!(p.enforce.to_string(), "baseline:v1.29");
        assert_eq!(p.warn.to_string(), "privileged:latest");
        assert!(errs.is_empty());

        let (p, errs) = resolve(
            &[
                (WARN_VERSION_LABEL, "1.2"),
                (ENFORCE_LEVEL_LABEL, "bogus"),
                (AUDIT_LEVEL_LABEL, "bogus"),
                (WARN_LEVEL_LABEL, "restricted"),
            ],
            Policy::default(),
        );
        assert_eq!(p.enforce.to_string(), "restricted:latest");
        assert_eq!(p.audit.to_string(), "privileged:latest");
        assert_eq!(p.warn.to_string(), "restricted:latest");
        assert_eq!(
            errs,
            vec![
                r#"metadata.labels[pod-security.kubernetes.io/enforce]: Invalid value: "bogus": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/audit]: Invalid value: "bogus": must be one of privileged, baseline, restricted"#,
                r#"metadata.labels[pod-security.kubernetes.io/warn-version]: Invalid value: "1.2": must be "latest" or "v1.x""#,
            ]
        );
    }

    #[test]
    fn go_quote_escapes() {
        assert_eq!(go_quote("a\"b\\c\n\u{1}é"), r#""a\"b\\c\n\x01é""#);
    }

    #[test]
    fn what_if_syntax() {
        assert_eq!(
            LevelVersion::parse("restricted").unwrap().to_string(),
            "restricted:latest"
        );
        assert_eq!(
            LevelVersion::parse("baseline:v1.22").unwrap().to_string(),
            "baseline:v1.22"
        );
        assert!(LevelVersion::parse("strict").is_err());
        assert!(LevelVersion::parse("baseline:1.22").is_err());
    }
}
