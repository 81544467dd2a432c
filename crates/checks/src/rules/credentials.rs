//! Credential detectors shared by `env-literal-credential` and `configmap-credential`.
//!
//! A value is a credential when it *looks like* one (AWS keys, PEM private keys, JWTs, bearer
//! tokens, GitHub and Slack tokens, connection strings with a password), when it contains an
//! assignment to a credential-named key (`db.password=...` in a properties file), or when its own
//! name says so (`DB_PASSWORD`) and it is a real literal rather than a placeholder.
//!
//! Detections never carry the value: only the kind of credential and, for tokens whose prefix is
//! public knowledge (`AKIA`, `ghp_`, `xoxb`, `eyJh`), a redacted hint made of the first 4 characters.

use std::sync::LazyLock;

use regex::Regex;

/// What was found. Safe to print: it holds no part of the value beyond a 4-character prefix.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detection {
    /// The kind of credential, e.g. `AWS access key id`, `password`.
    pub kind: &'static str,
    /// A redacted hint such as `AKIA****`, only for prefixed token kinds.
    pub hint: Option<String>,
    /// The credential-named key inside a text value (`spring.datasource.password`), if any.
    pub inner_key: Option<String>,
}

impl Detection {
    /// `an AWS access key id (AKIA****)`, `a password (in "db.password")`.
    pub fn describe(&self) -> String {
        let article = if self
            .kind
            .starts_with(['a', 'e', 'i', 'o', 'u', 'A', 'E', 'I', 'O', 'U'])
        {
            "an"
        } else {
            "a"
        };
        let mut s = format!("{article} {}", self.kind);
        if let Some(h) = &self.hint {
            s.push_str(&format!(" ({h})"));
        }
        if let Some(k) = &self.inner_key {
            s.push_str(&format!(" (in {k:?})"));
        }
        s
    }
}

macro_rules! re {
    ($name:ident, $pat:expr) => {
        static $name: LazyLock<Regex> = LazyLock::new(|| Regex::new($pat).unwrap());
    };
}

// Formats as documented by their issuers: AWS IAM unique-id prefixes (AKIA long-term, ASIA
// temporary), GitHub token prefixes (github.blog 2021-04-05 "Behind GitHub's new authentication
// token formats"), Slack token prefixes, RFC 7519 JWT compact serialisation, RFC 6750 b64token.
re!(
    PRIVATE_KEY,
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----"
);
re!(AWS_KEY_ID, r"\b(?:AKIA|ASIA)[A-Z0-9]{16}\b");
re!(
    AWS_SECRET,
    r"(?:^|[^A-Za-z0-9/+=])([A-Za-z0-9/+]{40})(?:$|[^A-Za-z0-9/+=])"
);
re!(
    GITHUB,
    r"\b(?:gh[pousr]_[A-Za-z0-9]{36}|github_pat_[A-Za-z0-9_]{22,})\b"
);
re!(SLACK, r"\bxox[baprs]-[A-Za-z0-9-]{10,}");
re!(
    JWT,
    r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
);
re!(BEARER, r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*");
re!(
    CONN_STRING,
    r"\b([A-Za-z][A-Za-z0-9+.\-]*)://[^\s:/@]*:([^\s@/]+)@[^\s/]"
);
// `key = value`, `key: value`, `"key": "value"`, `-Dkey=value`, `export KEY=value`.
re!(
    ASSIGNMENT,
    r#"(?m)(?:^|[\s;&?,{(])(?:export\s+|-D|--)?["']?([A-Za-z_][A-Za-z0-9_.\-]*)["']?[ \t]*[=:][ \t]*["']?([^\s"'&;,#?]+)"#
);

fn prefix_hint(token: &str) -> Option<String> {
    token.get(..4).map(|p| format!("{p}****"))
}

/// The kind of credential a key name announces, or `None`.
pub fn name_kind(name: &str) -> Option<&'static str> {
    // `db.password`, `db-password`, `dbPassword` and `DB_PASSWORD` all become `DB_PASSWORD`.
    let mut norm = String::with_capacity(name.len() + 4);
    let mut prev_lower = false;
    for c in name.chars() {
        match c {
            '-' | '.' | ' ' => norm.push('_'),
            c if c.is_ascii_uppercase() && prev_lower => {
                norm.push('_');
                norm.push(c);
            }
            c => norm.push(c.to_ascii_uppercase()),
        }
        prev_lower = c.is_ascii_lowercase() || c.is_ascii_digit();
    }
    let segments: Vec<&str> = norm.split('_').filter(|s| !s.is_empty()).collect();
    let last = *segments.last()?;
    // Names about a credential rather than holding one: its file, length, lifetime, endpoint...
    const NOT_A_VALUE: &[&str] = &[
        "FILE",
        "PATH",
        "DIR",
        "URL",
        "URI",
        "ENDPOINT",
        "HOST",
        "PORT",
        "NAME",
        "REF",
        "TTL",
        "EXPIRY",
        "EXPIRES",
        "EXPIRATION",
        "LIFETIME",
        "TIMEOUT",
        "LENGTH",
        "LEN",
        "MIN",
        "MAX",
        "SIZE",
        "COUNT",
        "ENABLED",
        "ENABLE",
        "DISABLED",
        "REQUIRED",
        "HEADER",
        "TYPE",
        "FORMAT",
        "ALGORITHM",
        "POLICY",
        "MODE",
        "FIELD",
        "USER",
        "USERNAME",
        "VERSION",
        "AUDIENCE",
        "ISSUER",
        "SCOPE",
        "SCOPES",
        "REGION",
        "PROVIDER",
        "MOUNT",
        "LOCATION",
    ];
    if NOT_A_VALUE.contains(&last) || (last == "ID" && !norm.contains("SECRET")) {
        return None;
    }
    let has_segment = |pred: &dyn Fn(&str) -> bool| segments.iter().any(|s| pred(s));
    if norm.contains("PRIVATE_KEY") || norm.contains("PRIVATEKEY") {
        Some("private key")
    } else if norm.contains("PASSWORD")
        || norm.contains("PASSWD")
        || norm.contains("PASSPHRASE")
        || (has_segment(&|s| s == "PWD") && norm != "PWD")
    {
        Some("password")
    } else if norm.contains("API_KEY") || norm.contains("APIKEY") {
        Some("API key")
    } else if norm.contains("ACCESS_KEY") || norm.contains("ACCESSKEY") {
        Some("access key")
    } else if has_segment(&|s| s.ends_with("TOKEN")) {
        Some("token")
    } else if norm.contains("SECRET") {
        Some("secret")
    } else if norm.contains("CREDENTIAL") || has_segment(&|s| s == "CREDS") {
        Some("credential")
    } else {
        None
    }
}

/// A value that is clearly not a literal credential: empty, a reference or template
/// (starting with `$(VAR)`, `${VAR}`, `{{ .Values.x }}`; or `<password>`), a mask (`****`, `xxxx`), a boolean,
/// a number or a file path.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim();
    let wrapped = |open: &str, close: &str| v.starts_with(open) && v.ends_with(close);
    let mut chars = v.chars();
    let first = chars.next();
    v.is_empty()
        || v.starts_with("$(")
        || v.starts_with("${")
        || v.starts_with("{{")
        || wrapped("<", ">")
        || wrapped("%(", ")s")
        || chars.all(|c| Some(c) == first)
        || matches!(
            v.to_ascii_lowercase().as_str(),
            "true" | "false" | "yes" | "no" | "null" | "none" | "nil" | "redacted"
        )
        || v.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        || (v.starts_with('/')
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)))
}

/// Detects credentials by value: token formats anywhere in the text, then credential-named
/// assignments inside it. `aws_key_nearby` says an AWS access key id sits in the same set of
/// entries, which makes a 40-character base64 string its secret access key.
pub fn detect_value(value: &str, aws_key_nearby: bool) -> Option<Detection> {
    let hinted = |kind, m: regex::Match<'_>| Detection {
        kind,
        hint: prefix_hint(m.as_str()),
        inner_key: None,
    };
    let plain = |kind| Detection {
        kind,
        hint: None,
        inner_key: None,
    };
    if PRIVATE_KEY.is_match(value) {
        return Some(plain("private key (PEM)"));
    }
    if let Some(m) = AWS_KEY_ID.find(value) {
        return Some(hinted("AWS access key id", m));
    }
    if aws_key_nearby || AWS_KEY_ID.is_match(value) {
        let mixed = |s: &str| {
            s.bytes().any(|b| b.is_ascii_uppercase())
                && s.bytes().any(|b| b.is_ascii_lowercase())
                && s.bytes().any(|b| b.is_ascii_digit())
        };
        if AWS_SECRET
            .captures_iter(value)
            .any(|c| mixed(c.get(1).map_or("", |m| m.as_str())))
        {
            return Some(plain("AWS secret access key"));
        }
    }
    if let Some(m) = GITHUB.find(value) {
        return Some(hinted("GitHub token", m));
    }
    if let Some(m) = SLACK.find(value) {
        return Some(hinted("Slack token", m));
    }
    if let Some(m) = JWT.find(value) {
        return Some(hinted("JSON Web Token", m));
    }
    if BEARER.is_match(value) {
        return Some(plain("bearer token"));
    }
    if let Some(c) = CONN_STRING
        .captures_iter(value)
        .find(|c| !is_placeholder(c.get(2).map_or("", |m| m.as_str())))
    {
        let scheme = c.get(1).map_or("", |m| m.as_str());
        return Some(Detection {
            kind: "connection string with a password",
            hint: Some(format!("{scheme}://user:****@...")),
            inner_key: None,
        });
    }
    for c in ASSIGNMENT.captures_iter(value) {
        let (Some(key), Some(val)) = (c.get(1), c.get(2)) else {
            continue;
        };
        if let Some(kind) = name_kind(key.as_str())
            && !is_placeholder(val.as_str())
        {
            return Some(Detection {
                kind,
                hint: None,
                inner_key: Some(key.as_str().to_string()),
            });
        }
    }
    None
}

/// Detects credentials among named entries (env vars, ConfigMap keys): by value first, then by
/// the entry's name when its value is a real literal. Returns the index of each flagged entry.
pub fn detect_entries(entries: &[(&str, &str)]) -> Vec<(usize, Detection)> {
    let aws_key_nearby = entries.iter().any(|(_, v)| AWS_KEY_ID.is_match(v));
    entries
        .iter()
        .enumerate()
        .filter_map(|(i, (name, value))| {
            detect_value(value, aws_key_nearby)
                .or_else(|| {
                    let kind = name_kind(name)?;
                    (!is_placeholder(value)).then_some(Detection {
                        kind,
                        hint: None,
                        inner_key: None,
                    })
                })
                .map(|d| (i, d))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fake credentials assembled at run time so that secret scanners don't flag this file.
    fn fake(parts: &[&str]) -> String {
        parts.concat()
    }

    #[test]
    fn names() {
        for (name, kind) in [
            ("DB_PASSWORD", Some("password")),
            ("db-passwd", Some("password")),
            ("MYSQL_ROOT_PWD", Some("password")),
            ("PWD", None),
            ("STRIPE_API_KEY", Some("API key")),
            ("apikey", Some("API key")),
            ("AWS_SECRET_ACCESS_KEY", Some("access key")),
            ("AWS_ACCESS_KEY_ID", None),
            ("VAULT_SECRET_ID", Some("secret")),
            ("GITHUB_TOKEN", Some("token")),
            ("authToken", Some("token")),
            ("TOKENIZER_MODEL", None),
            ("TOKEN_TTL", None),
            ("POSTGRES_PASSWORD_FILE", None),
            ("SECRET_NAME", None),
            ("GOOGLE_APPLICATION_CREDENTIALS", Some("credential")),
            ("JWT_PRIVATE_KEY", Some("private key")),
            ("LOG_LEVEL", None),
            ("dbPassword", Some("password")),
            ("apiKey", Some("API key")),
            ("clientSecret", Some("secret")),
            ("secretName", None),
            ("accessKeyId", None),
            ("tokenUrl", None),
        ] {
            assert_eq!(name_kind(name), kind, "{name}");
        }
    }

    #[test]
    fn placeholders() {
        for v in [
            "",
            "$(DB_PASSWORD)",
            "${DB_PASSWORD}",
            "{{ .Values.password }}",
            "<password>",
            "********",
            "xxxx",
            "true",
            "3600",
            "/run/secrets/db",
        ] {
            assert!(is_placeholder(v), "{v}");
        }
        for v in ["hunter2", "changeme", "P@ssw0rd!", "x$(A)"] {
            assert!(!is_placeholder(v), "{v}");
        }
    }

    #[test]
    fn values() {
        let kind = |v: &str| detect_value(v, false).map(|d| (d.kind, d.hint));
        let aws = fake(&["AKIA", "QWERTYUIOPASDFGH"]);
        assert_eq!(
            kind(&aws),
            Some(("AWS access key id", Some("AKIA****".into())))
        );
        assert_eq!(kind(&fake(&["ASIA", "QWERTYUIOPASDFG"])), None, "15 chars");
        assert_eq!(
            kind(&fake(&["-----BEGIN OPENSSH ", "PRIVATE KEY-----\nabc"]))
                .unwrap()
                .0,
            "private key (PEM)"
        );
        assert_eq!(
            kind(&fake(&["-----BEGIN ", "PUBLIC KEY-----"])),
            None,
            "public keys are fine"
        );
        let gh = fake(&["ghp_", "abcdefghijklmnopqrstuvwxyz0123456789"]);
        assert_eq!(kind(&gh), Some(("GitHub token", Some("ghp_****".into()))));
        let slack = fake(&["xoxb-", "1234567890-abcdefghij"]);
        assert_eq!(kind(&slack), Some(("Slack token", Some("xoxb****".into()))));
        let jwt = fake(&["eyJhbGciOiJIUzI1NiJ9", ".eyJzdWIiOiIxIn0", ".c2lnbmF0dXJl"]);
        assert_eq!(kind(&jwt).unwrap().0, "JSON Web Token");
        assert_eq!(
            kind(&fake(&["Authorization: Bearer ", "abcd1234efgh5678"]))
                .unwrap()
                .0,
            "bearer token"
        );
        assert_eq!(kind("Bearer $(TOKEN)"), None);
        let conn = fake(&["postgres://app:", "s3cr3t@db:5432/app"]);
        assert_eq!(
            kind(&conn),
            Some((
                "connection string with a password",
                Some("postgres://user:****@...".into())
            ))
        );
        assert_eq!(kind("postgres://app:$(DB_PASSWORD)@db:5432/app"), None);
        assert_eq!(kind("https://example.com/path"), None);
        assert_eq!(kind("redis://redis:6379"), None);
        let props = fake(&["server.port=8080\nspring.datasource.password=", "hunter2\n"]);
        let d = detect_value(&props, false).unwrap();
        assert_eq!(
            (d.kind, d.inner_key.as_deref()),
            ("password", Some("spring.datasource.password"))
        );
        assert_eq!(kind("db.password=${DB_PASSWORD}\n"), None);
        // A key whose value is on the next lines is not an assignment of that key.
        assert_eq!(kind("password:\n  secretKeyRef: {name: db}\n"), None);
        assert_eq!(kind("secretName: db-credentials\n"), None);
        assert_eq!(
            kind("Server=db;Database=app;Password=Sql-pw-1;").unwrap().0,
            "password"
        );
        assert_eq!(
            kind("url: https://api.example.com/v1?access_token=Abc123xyz")
                .unwrap()
                .0,
            "token"
        );
        assert_eq!(
            kind("-Xmx512m -Ddb.password=hunter2").unwrap().0,
            "password"
        );
        // A git commit hash is 40 characters too, but lower-case hex.
        assert_eq!(
            detect_value("3f786850e387550fdab836ed7e6dc881de23001b", true),
            None
        );
    }

    #[test]
    fn aws_secret_next_to_its_key_id() {
        let id = fake(&["AKIA", "QWERTYUIOPASDFGH"]);
        let secret = fake(&["wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYEXAMPLEKEY"]);
        let found = detect_entries(&[("KEY", &id), ("OTHER", &secret), ("LEVEL", "info")]);
        let kinds: Vec<_> = found.iter().map(|(i, d)| (*i, d.kind)).collect();
        assert_eq!(
            kinds,
            vec![(0, "AWS access key id"), (1, "AWS secret access key")]
        );
        assert!(detect_entries(&[("OTHER", &secret)]).is_empty());
    }

    #[test]
    fn descriptions_never_contain_the_value() {
        let gh = fake(&["ghp_", "abcdefghijklmnopqrstuvwxyz0123456789"]);
        let d = detect_value(&gh, false).unwrap();
        assert_eq!(d.describe(), "a GitHub token (ghp_****)");
        let found = detect_entries(&[("DB_PASSWORD", "hunter2")]);
        assert_eq!(found[0].1.describe(), "a password");
    }
}
