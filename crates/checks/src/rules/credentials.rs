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
// A PEM private key with a body: at least 32 base64 characters after the header (a header
// followed by `<your-key>` or `A key` is documentation). Encrypted keys carry `Proc-Type` and
// `DEK-Info` headers first.
re!(
    PRIVATE_KEY,
    r"-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----(?s:.{0,200}?)[A-Za-z0-9+/]{32,}"
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
// Incoming-webhook URLs carry their own secret: whoever has the URL can post to the channel.
// Slack: `hooks.slack.com/services/T.../B.../<24 chars>` (also `workflows`, `triggers`);
// Discord: `discord.com/api/webhooks/<id>/<token>`; Microsoft Teams: `<tenant>.webhook.office.com/webhookb2/...`.
re!(
    SLACK_WEBHOOK,
    r"hooks\.slack\.com/(?:services|workflows|triggers)/T[A-Z0-9]{6,}/[A-Z0-9]{6,}/[A-Za-z0-9]{16,}"
);
re!(
    DISCORD_WEBHOOK,
    r"discord(?:app)?\.com/api/webhooks/[0-9]{6,}/[A-Za-z0-9_-]{20,}"
);
re!(
    TEAMS_WEBHOOK,
    r"[A-Za-z0-9-]+\.webhook\.office\.com/webhookb2/[0-9a-fA-F-]{36}@[0-9a-fA-F-]{36}/IncomingWebhook/[0-9a-fA-F]{16,}"
);
// Docker registry credentials (`.dockerconfigjson` `auths` or legacy `.dockercfg`): an `auth` entry
// holding base64 `user:password`.
re!(DOCKER_AUTH, r#""auth"\s*:\s*"([A-Za-z0-9+/]{8,}={0,2})""#);
re!(
    JWT,
    r"\beyJ[A-Za-z0-9_-]{4,}\.eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*"
);
re!(BEARER, r"(?i)\bbearer\s+[A-Za-z0-9\-._~+/]{8,}=*");
re!(
    CONN_STRING,
    r"\b([A-Za-z][A-Za-z0-9+.\-]*)://[^\s:/@]*:([^\s@/]+)@[^\s/]"
);
// `key = value`, `key: value`, `"key": "value"`, `-Dkey=value`, `export KEY=value`,
// `--db-password=value`, `password => "value"` (Logstash, Ruby), `secret "value";` (BIND).
re!(
    ASSIGNMENT,
    r#"(?m)(?:^|[\s;&?,{(])(?:export\s+|-D|--?)?["']?([A-Za-z_][A-Za-z0-9_.\-]*)["']?(?:[ \t]*(?:=>?|:)[ \t]*["']?|[ \t]+["'])([^\s"'&;,#?]+)"#
);

/// Decodes standard base64 (RFC 4648 §4, padding optional), the encoding of ConfigMap
/// `binaryData`, Secret `data` and docker `auth` values. `None` on invalid input.
pub fn decode_base64(s: &str) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(s.len() * 3 / 4);
    let (mut acc, mut bits) = (0u32, 0u32);
    for b in s.bytes().filter(|b| !b.is_ascii_whitespace()) {
        let v = match b {
            b'A'..=b'Z' => b - b'A',
            b'a'..=b'z' => b - b'a' + 26,
            b'0'..=b'9' => b - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' => continue,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
        }
    }
    Some(out)
}

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
        "STORE",
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

/// A value that is clearly not a literal credential: empty or an empty list/map, a reference or
/// template (`$(VAR)`, `$VAR`, `${VAR}` or `{{ .Values.x }}` anywhere, `<password>`,
/// `__TOKEN__`, `%(x)s`), code reading it from elsewhere (`os.getenv(`, `env["X"]`), a marker
/// (`CHANGEME`, `change-me`, `placeholder`, `INSERT_...`, `REPLACE_...`, `your-...`, `...-here`,
/// `xxx`), a mask (`****`), a boolean, a number or a file path.
pub fn is_placeholder(value: &str) -> bool {
    let v = value.trim().trim_matches(['"', '\'']);
    let wrapped = |open: &str, close: &str| v.starts_with(open) && v.ends_with(close);
    let lower = v.to_ascii_lowercase();
    let mut chars = v.chars();
    let first = chars.next();
    let is_ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.';
    let code_call = v
        .find(['(', '['])
        .is_some_and(|i| i > 0 && v[..i].chars().all(is_ident));
    v.is_empty()
        || v.starts_with('$')
        || v.contains("${")
        || v.contains("{{")
        || wrapped("<", ">")
        || wrapped("[", "]") && v[1..v.len() - 1].trim().is_empty()
        || wrapped("{", "}") && v[1..v.len() - 1].trim().is_empty()
        || wrapped("%(", ")s")
        || (wrapped("__", "__") && v.len() > 4)
        || code_call
        || chars.all(|c| Some(c) == first)
        || [
            "changeme",
            "change-me",
            "change_me",
            "placeholder",
            "xxx",
            "insert_",
            "insert-",
            "replace_",
            "replace-",
            "replaceme",
            "goes here",
            "goes-here",
            "<your",
            "your_",
            "your-",
        ]
        .iter()
        .any(|m| lower.contains(m))
        || lower.ends_with("_here")
        || lower.ends_with("-here")
        || lower.ends_with(" here")
        || matches!(
            lower.as_str(),
            "true" | "false" | "yes" | "no" | "null" | "none" | "nil" | "redacted"
        )
        || v.chars()
            .all(|c| c.is_ascii_digit() || c == '.' || c == '-')
        || (v.starts_with('/')
            && v.chars()
                .all(|c| c.is_ascii_alphanumeric() || "/._-".contains(c)))
        || names_a_variable(v)
}

/// An environment variable's name standing for its value (`HF_TOKEN`, `GITHUB_API_KEY`): upper
/// snake case, at least two words, one of them a credential word. A generated secret is not made of
/// capitalised words joined by underscores.
fn names_a_variable(v: &str) -> bool {
    let words: Vec<&str> = v.split('_').collect();
    words.len() >= 2
        && words.iter().all(|w| {
            !w.is_empty()
                && w.chars()
                    .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit())
        })
        && words.iter().any(|w| {
            matches!(
                *w,
                "TOKEN"
                    | "KEY"
                    | "PASSWORD"
                    | "PASS"
                    | "PASSWD"
                    | "PWD"
                    | "SECRET"
                    | "CREDENTIALS"
                    | "CREDENTIAL"
                    | "AUTH"
                    | "APIKEY"
            )
        })
}

/// `is_placeholder`, or a value that only names what it stands for: a bare credential word
/// (`password`, `secret`, `token`), the key's own name (`password: password`), either one after
/// `my`, `your`, `the`, `a` or `some` (`my-token`, `apassword`), or such a prefix followed by
/// words ending in the key's name (`ClientSecret: my-service-principal-client-secret`).
/// `nsswitch.conf` sources (`passwd: compat`) are not passwords either.
pub fn is_placeholder_for(name: &str, value: &str) -> bool {
    if is_placeholder(value) {
        return true;
    }
    let squash = |s: &str| -> String {
        s.chars()
            .filter(|c| c.is_ascii_alphanumeric())
            .map(|c| c.to_ascii_lowercase())
            .collect()
    };
    let v = squash(value);
    // The key's last path segment: `config.password` names a `password`.
    let key = squash(
        name.rsplit(['/', '.'])
            .find(|s| !s.is_empty())
            .unwrap_or(name),
    );
    const WORDS: &[&str] = &[
        "password",
        "passwd",
        "pass",
        "pw",
        "pwd",
        "secret",
        "token",
        "key",
        "apikey",
        "accesskey",
        "secretkey",
        "privatekey",
        "credential",
        "credentials",
        "creds",
    ];
    let bare = |s: &str| WORDS.contains(&s) || (!key.is_empty() && s == key);
    if bare(&v) {
        return true;
    }
    for prefix in ["my", "your", "the", "some", "a"] {
        if let Some(rest) = v.strip_prefix(prefix)
            && (bare(rest) || (key.len() >= 4 && rest.ends_with(&key)))
        {
            return true;
        }
    }
    let nss_source = |w: &str| {
        matches!(
            w,
            "files"
                | "compat"
                | "db"
                | "nis"
                | "nisplus"
                | "sss"
                | "systemd"
                | "ldap"
                | "winbind"
                | "success"
                | "notfound"
                | "unavail"
                | "tryagain"
                | "return"
                | "continue"
                | "merge"
        )
    };
    matches!(name, "passwd" | "shadow" | "gshadow")
        && value
            .split(|c: char| c.is_whitespace() || "[]=!".contains(c))
            .filter(|w| !w.is_empty())
            .all(|w| nss_source(&w.to_ascii_lowercase()))
}

/// Whether `text` may hold a credential that [`detect_value`] finds, or that [`detect_entries`]
/// finds in entries whose names and values are written in it: false lets a log line skip the
/// detectors. Each detector needs one of these substrings, ASCII case ignored: a PEM header
/// (`-----BEGIN`), an AWS key id prefix (`AKIA`, `ASIA`; the secret key is only recognised next
/// to one), a GitHub, Slack, webhook, docker `"auth"`, JWT (`eyJ`), bearer or URL (`://`)
/// marker, or a word [`name_kind`] looks for (`password`, `passwd`, `passphrase`, `pwd`, `key`,
/// `token`, `secret`, `credential`, `creds`: its normalisation only inserts and replaces
/// separators, so the word is in the name as written).
pub fn may_hold_credential(text: &str) -> bool {
    static NEEDLES: LazyLock<aho_corasick::AhoCorasick> = LazyLock::new(|| {
        aho_corasick::AhoCorasick::builder()
            .ascii_case_insensitive(true)
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build([
                "-----begin",
                "akia",
                "asia",
                "ghp_",
                "gho_",
                "ghu_",
                "ghs_",
                "ghr_",
                "github_pat_",
                "xox",
                "hooks.slack.com",
                "discord",
                ".webhook.office.com",
                "\"auth\"",
                "eyj",
                "bearer",
                "://",
                "password",
                "passwd",
                "passphrase",
                "pwd",
                "key",
                "token",
                "secret",
                "credential",
                "creds",
            ])
            .expect("valid needles")
    });
    NEEDLES.is_match(text)
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
    // Every detector below needs one of the quick test's markers, except the AWS secret key
    // next to its key id (recognised by its shape alone): most values hold none, and a dozen
    // regex searches cost far more than one automaton pass.
    if !aws_key_nearby && !may_hold_credential(value) {
        return None;
    }
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
    for (re, kind) in [
        (&*SLACK_WEBHOOK, "Slack webhook URL"),
        (&*DISCORD_WEBHOOK, "Discord webhook URL"),
        (&*TEAMS_WEBHOOK, "Microsoft Teams webhook URL"),
    ] {
        if re.is_match(value) {
            return Some(plain(kind));
        }
    }
    if DOCKER_AUTH.captures_iter(value).any(|c| {
        let auth = c.get(1).map_or("", |m| m.as_str());
        decode_base64(auth)
            .and_then(|b| String::from_utf8(b).ok())
            .and_then(|up| up.split_once(':').map(|(_, p)| !is_placeholder(p)))
            .unwrap_or(false)
    }) {
        return Some(plain("container registry credential (docker config auth)"));
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
            && !val.as_str().starts_with("-----")
            && !is_placeholder_for(key.as_str(), val.as_str())
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
                    (!is_placeholder_for(name, value)).then_some(Detection {
                        kind,
                        hint: None,
                        inner_key: None,
                    })
                })
                .map(|d| (i, d))
        })
        .collect()
}

/// Detects credentials in a container's `command` and `args`: by value in each argument
/// (`--db-password=...`, `export GITHUB_TOKEN=ghp_...` in a `sh -c` script, URLs with
/// `user:password@`), and in the separated form `--password hunter2` (a credential-named flag
/// followed by a literal). Returns the index of each flagged argument.
pub fn detect_args(args: &[&str]) -> Vec<(usize, Detection)> {
    let mut found = Vec::new();
    for (i, arg) in args.iter().enumerate() {
        if let Some(d) = detect_value(arg, false) {
            found.push((i, d));
            continue;
        }
        let Some(flag) = i
            .checked_sub(1)
            .and_then(|p| args[p].strip_prefix("--"))
            .filter(|f| !f.contains('='))
        else {
            continue;
        };
        if let Some(kind) = name_kind(flag)
            && !arg.starts_with('-')
            && !is_placeholder_for(flag, arg)
        {
            found.push((
                i,
                Detection {
                    kind,
                    hint: None,
                    inner_key: Some(format!("--{flag}")),
                },
            ));
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    // Fake credentials assembled at run time so that secret scanners don't flag this file.
    fn fake(parts: &[&str]) -> String {
        parts.concat()
    }

    /// Every line a detector flags passes the quick test, whatever the case of its words.
    #[test]
    fn the_quick_test_lets_every_credential_through() {
        let lines = [
            fake(&["-----BEGIN RSA PRIVATE KEY-----\n", &"A".repeat(40)]),
            fake(&["id AKIA", "IOSFODNN7EXAMPLF here"]),
            fake(&["t=gh", "p_", &"a1".repeat(18)]),
            fake(&["github_pat_", &"A1b2".repeat(6)]),
            fake(&["xox", "b-1234567890-abcdefghij"]),
            fake(&[
                "https://hooks.slack.com/services/T0000000/B0000000/",
                &"x".repeat(24),
            ]),
            fake(&["https://discord.com/api/webhooks/1234567/", &"y".repeat(24)]),
            fake(&[
                r#"{"auths":{"r":{"auth":""#,
                "dXNlcjpodW50ZXIyMjI=",
                r#""}}}"#,
            ]),
            fake(&["eyJhbGciOiJIUzI1NiJ9", ".eyJzdWIiOiIxIn0.sig"]),
            fake(&["Authorization: BEARER ", "abcdefgh12345678"]),
            fake(&["mysql://root:", "hunter2hunter2@db:3306/x"]),
            fake(&["DB_PASSWD=", "Tr0ub4dor-3"]),
            fake(&["DbPASSWORD: ", "Tr0ub4dor-3"]),
            fake(&["MYSQL_ROOT_PWD=", "Tr0ub4dor-3"]),
            fake(&["stripe_api_Key=", "Tr0ub4dor-3"]),
            fake(&["authTOKEN=", "Tr0ub4dor-3"]),
            fake(&["clientSecret=", "Tr0ub4dor-3"]),
            fake(&["GOOGLE_APPLICATION_CREDENTIALS=", "Tr0ub4dor-3"]),
            fake(&["db_creds=", "Tr0ub4dor-3"]),
            fake(&["--ssh-passphrase=", "Tr0ub4dor-3"]),
        ];
        for line in &lines {
            assert!(detect_value(line, false).is_some(), "not detected: {line}");
            assert!(may_hold_credential(line), "{line}");
        }
        let entries = [("SSH_PASSPHRASE", "Tr0ub4dor-3")];
        assert_eq!(detect_entries(&entries).len(), 1);
        assert!(may_hold_credential(r#"{"SSH_PASSPHRASE":"Tr0ub4dor-3"}"#));
        for quiet in [
            "GET /api/products/12 200 15ms",
            r#"{"level":"info","msg":"request completed","status":200}"#,
        ] {
            assert!(!may_hold_credential(quiet), "{quiet}");
        }
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
        for v in [
            "CHANGEME",
            "change-me-placeholder",
            "INSERT_TOKEN",
            "your-password-here",
            "**access token goes here**",
            "p-XXXX",
            "__SERVICEACCOUNT_TOKEN__",
            "$TOKEN",
            "[]",
            "os.getenv(",
            "user=${USER}",
        ] {
            assert!(is_placeholder(v), "{v}");
        }
        for v in ["hunter2", "P@ssw0rd!", "x$(A)", "my-secret-pw"] {
            assert!(!is_placeholder(v), "{v}");
        }
        for (k, v) in [
            ("password", "password"),
            ("AWS_SECRET_ACCESS_KEY", "secret"),
            ("token", "my-token"),
            ("ClientSecret", "my-service-principal-client-secret"),
            ("password", "the secret password"),
            ("password", "apassword"),
            ("passwd", "compat"),
            ("shadow", "files [NOTFOUND=return] ldap"),
        ] {
            assert!(is_placeholder_for(k, v), "{k}: {v}");
        }
        for (k, v) in [
            ("MYSQL_ROOT_PASSWORD", "my-secret-pw"),
            ("password", "admin"),
            ("passwd", "hunter2"),
        ] {
            assert!(!is_placeholder_for(k, v), "{k}: {v}");
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
            kind(&fake(&[
                "-----BEGIN OPENSSH ",
                "PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjEAAAAABG5vbmUAAAAEbm9uZQ"
            ]))
            .unwrap()
            .0,
            "private key (PEM)"
        );
        assert_eq!(
            kind(&fake(&["-----BEGIN ", "PRIVATE KEY-----\n<your-key>\n"])),
            None,
            "a header around no key material"
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
    fn webhooks_docker_auths_and_args() {
        let kind = |v: &str| detect_value(v, false).map(|d| d.kind);
        let slack = fake(&[
            "https://hooks.slack.com/services/",
            "T0AAAAAAA/B0BBBBBBB/abcdefghijklmnop0123",
        ]);
        assert_eq!(kind(&slack), Some("Slack webhook URL"));
        assert_eq!(kind("https://hooks.slack.com/services/XXX"), None);
        let discord = fake(&[
            "https://discord.com/api/webhooks/",
            "123456789012/abcdefghijklmnopqrstuvwxyz",
        ]);
        assert_eq!(kind(&discord), Some("Discord webhook URL"));
        let auth = fake(&[
            r#"{"auths":{"r.example.com":{"auth":""#,
            "dXNlcjpodW50ZXIy",
            r#""}}}"#,
        ]);
        assert_eq!(
            kind(&auth),
            Some("container registry credential (docker config auth)")
        );
        // `user:${PASSWORD}` is a template.
        assert_eq!(
            kind(r#"{"auths":{"r":{"auth":"dXNlcjoke1BBU1NXT1JEfQ=="}}}"#),
            None
        );
        assert_eq!(
            kind("secret \"c2VjcmV0LWtleS1tYXRlcmlhbA==\";"),
            Some("secret")
        );
        assert_eq!(kind("password => \"${ES_PASSWORD}\""), None);
        let args = [
            "--db-password=hunter2",
            "--token",
            "abc123xyz",
            "--token-file",
            "/x",
        ];
        let found: Vec<_> = detect_args(&args).into_iter().map(|(i, _)| i).collect();
        assert_eq!(found, vec![0, 2]);
        assert!(
            detect_args(&["--password", "$(DB_PASSWORD)", "--api-key", "{{ key }}"]).is_empty()
        );
    }

    #[test]
    fn base64() {
        assert_eq!(decode_base64("aGVsbG8=").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVsbG8").unwrap(), b"hello");
        assert_eq!(decode_base64("aGVs\nbG8h").unwrap(), b"hello!");
        assert!(decode_base64("not base64!").is_none());
    }

    #[test]
    fn aws_secret_next_to_its_key_id() {
        let id = fake(&["AKIA", "QWERTYUIOPASDFGH"]);
        let secret = fake(&["wJalrXUtnFEMI/K7MDENG/", "bPxRfiCYq1w2e3r4t5"]);
        // It holds none of the quick test's markers: it is recognised by its shape alone.
        assert!(!may_hold_credential(&secret));
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
