//! The synthetic corpus shared by `gen_osv` and `osv_bench`: deterministic package names and
//! records shaped like osv.dev's (Debian, Alpine, Ubuntu, GHSA npm and Maven, PyPI, Go,
//! RustSec), so that sizes and index fan-out resemble a real import.

// Shared by two examples, each using a part.
#![allow(dead_code)]
/// SplitMix64: deterministic, no dependency.
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Self {
        Rng(seed)
    }
    pub fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
    pub fn below(&mut self, n: u64) -> u64 {
        self.next() % n.max(1)
    }
    /// Skewed towards small values: a few packages collect most advisories, as in reality.
    pub fn skewed(&mut self, n: u64) -> u64 {
        let a = self.below(n);
        let b = self.below(n);
        a.min(b)
    }
}

pub const ECOSYSTEMS: &[&str] = &[
    "Debian",
    "Alpine",
    "Ubuntu",
    "npm",
    "PyPI",
    "Go",
    "crates.io",
    "Maven",
];

/// Distinct package names per ecosystem.
pub const POOL: u64 = 3_000;

const SYLLABLES: &[&str] = &[
    "ssl", "xml", "http", "core", "net", "json", "zip", "curl", "gtk", "lib", "img", "sql",
    "crypt", "auth", "yaml", "tls", "dns", "log", "util", "cache", "io", "png", "tar", "re",
];

/// The `i`-th package name of an ecosystem, in that ecosystem's style.
pub fn package_name(eco: &str, i: u64) -> String {
    let s = |k: u64| SYLLABLES[(k % SYLLABLES.len() as u64) as usize];
    let base = format!("{}{}{}", s(i), s(i / 24 + 7), i / 576);
    match eco {
        "Debian" | "Ubuntu" | "Alpine" => format!("lib{base}"),
        "npm" => {
            if i % 5 == 0 {
                format!("@{}/{base}", s(i + 3))
            } else {
                format!("{base}-js")
            }
        }
        "PyPI" => format!("Py{}_{base}", s(i + 1)),
        "Go" => format!("github.com/{}/{base}", s(i + 5)),
        "crates.io" => format!("{base}-rs"),
        _ => format!("org.{}.{}:{base}", s(i + 2), s(i + 9)),
    }
}

fn version(rng: &mut Rng) -> (u64, u64, u64) {
    (rng.below(5), rng.below(30), rng.below(20))
}

fn details(rng: &mut Rng) -> String {
    let words = [
        "A",
        "flaw",
        "was",
        "found",
        "in",
        "the",
        "parser",
        "which",
        "allows",
        "remote",
        "attackers",
        "to",
        "cause",
        "a",
        "denial",
        "of",
        "service",
        "via",
        "crafted",
        "input",
        "heap-based",
        "buffer",
        "overflow",
        "when",
        "processing",
        "certificates",
    ];
    let n = 40 + rng.below(300);
    let mut out = String::new();
    for _ in 0..n {
        out.push_str(words[rng.below(words.len() as u64) as usize]);
        out.push(' ');
    }
    out.push('.');
    out
}

const V3: &[&str] = &[
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:N/S:U/C:N/I:N/A:H",
    "CVSS:3.1/AV:N/AC:L/PR:N/UI:R/S:C/C:L/I:L/A:N",
    "CVSS:3.1/AV:L/AC:L/PR:L/UI:N/S:U/C:H/I:H/A:H",
    "CVSS:3.1/AV:N/AC:H/PR:N/UI:N/S:U/C:H/I:N/A:N",
];

/// Record `n` of the corpus: its file name (ecosystem directory and id) and JSON.
pub fn record(n: u64) -> (String, String, String) {
    let mut rng = Rng::new(n.wrapping_mul(0x2545_F491_4F6C_DD1D) ^ 0x5EED);
    let eco = ECOSYSTEMS[(n % ECOSYSTEMS.len() as u64) as usize];
    let pkg = package_name(eco, rng.skewed(POOL));
    let year = 2015 + rng.below(11);
    let cve = format!("CVE-{year}-{}", 10_000 + n);
    let (a, b, c) = version(&mut rng);
    let modified = format!(
        "{year}-{:02}-{:02}T{:02}:{:02}:{:02}.{:06}Z",
        1 + rng.below(12),
        1 + rng.below(28),
        rng.below(24),
        rng.below(60),
        rng.below(60),
        rng.below(1_000_000)
    );
    let details = details(&mut rng);
    let (id, body) = match eco {
        "Debian" => {
            let id = format!("DEBIAN-{cve}");
            let mut affected = Vec::new();
            for release in ["11", "12", "13"] {
                let fixed = if rng.below(5) == 0 {
                    String::new()
                } else {
                    format!(
                        r#",{{"fixed":"{a}.{b}.{c}-{}+deb{release}u{}"}}"#,
                        1 + rng.below(4),
                        1 + rng.below(5)
                    )
                };
                affected.push(format!(
                    r#"{{"package":{{"ecosystem":"Debian:{release}","name":"{pkg}","purl":"pkg:deb/debian/{pkg}?arch=source"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}}{fixed}]}}],"ecosystem_specific":{{"urgency":"not yet assigned"}}}}"#
                ));
            }
            (
                id.clone(),
                format!(
                    r#"{{"schema_version":"1.6.0","id":"{id}","modified":"{modified}","published":"{year}-01-01T00:00:00Z","related":["{cve}"],"details":"{details}","affected":[{}]}}"#,
                    affected.join(",")
                ),
            )
        }
        "Alpine" => {
            let id = format!("ALPINE-{cve}");
            let branch = 17 + rng.below(4);
            (
                id.clone(),
                format!(
                    r#"{{"schema_version":"1.6.0","id":"{id}","modified":"{modified}","published":"{year}-01-01T00:00:00Z","upstream":["{cve}"],"details":"{details}","affected":[{{"package":{{"ecosystem":"Alpine:v3.{branch}","name":"{pkg}","purl":"pkg:apk/alpine/{pkg}?arch=source"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{a}.{b}.{c}-r{}"}}]}}]}}],"references":[{{"type":"ADVISORY","url":"https://security.alpinelinux.org/vuln/{cve}"}}]}}"#,
                    rng.below(5)
                ),
            )
        }
        "Ubuntu" => {
            let id = format!("UBUNTU-{cve}");
            let priority =
                ["negligible", "low", "medium", "high", "critical"][rng.below(5) as usize];
            (
                id.clone(),
                format!(
                    r#"{{"schema_version":"1.6.3","id":"{id}","modified":"{modified}","published":"{year}-01-01T00:00:00Z","upstream":["{cve}"],"details":"{details}","severity":[{{"type":"Ubuntu","score":"{priority}"}}],"affected":[{{"package":{{"ecosystem":"Ubuntu:22.04:LTS","name":"{pkg}"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{a}.{b}.{c}-0ubuntu0.22.04.{}"}}]}}],"versions":["{a}.{b}.0-1","{a}.{b}.1-1"]}},{{"package":{{"ecosystem":"Ubuntu:24.04:LTS","name":"{pkg}"}},"ranges":[{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}}]}}]}}]}}"#,
                    1 + rng.below(9)
                ),
            )
        }
        "PyPI" => {
            let id = format!("PYSEC-{year}-{n}");
            let versions: Vec<String> = (0..1 + rng.below(30))
                .map(|i| format!("\"{a}.{b}.{i}\""))
                .collect();
            (
                id.clone(),
                format!(
                    r#"{{"id":"{id}","modified":"{modified}","published":"{year}-01-01T00:00:00Z","aliases":["{cve}"],"details":"{details}","affected":[{{"package":{{"ecosystem":"PyPI","name":"{pkg}","purl":"pkg:pypi/{}"}},"ranges":[{{"type":"GIT","repo":"https://github.com/example/{pkg}","events":[{{"introduced":"0"}},{{"fixed":"{:040x}"}}]}},{{"type":"ECOSYSTEM","events":[{{"introduced":"0"}},{{"fixed":"{a}.{b}.{c}"}}]}}],"versions":[{}]}}]}}"#,
                    pkg.to_lowercase().replace('_', "-"),
                    rng.next(),
                    versions.join(",")
                ),
            )
        }
        "Go" => {
            let id = format!("GO-{year}-{n:04}");
            (
                id.clone(),
                format!(
                    r#"{{"schema_version":"1.3.1","id":"{id}","modified":"{modified}","published":"{year}-01-01T00:00:00Z","aliases":["{cve}"],"summary":"Denial of service in {pkg}","details":"{details}","affected":[{{"package":{{"name":"{pkg}","ecosystem":"Go"}},"ranges":[{{"type":"SEMVER","events":[{{"introduced":"0"}},{{"fixed":"{a}.{b}.{c}"}}]}}],"ecosystem_specific":{{"imports":[{{"path":"{pkg}/pkg","symbols":["Parse","Decode"]}}]}}}}],"database_specific":{{"url":"https://pkg.go.dev/vuln/{id}"}}}}"#
                ),
            )
        }
        "crates.io" => {
            let id = format!("RUSTSEC-{year}-{n:04}");
            (
                id.clone(),
                format!(
                    r#"{{"id":"{id}","modified":"{modified}","published":"{year}-01-01T00:00:00Z","aliases":["{cve}"],"summary":"Memory corruption in {pkg}","details":"{details}","affected":[{{"package":{{"ecosystem":"crates.io","name":"{pkg}","purl":"pkg:cargo/{pkg}"}},"ranges":[{{"type":"SEMVER","events":[{{"introduced":"0.0.0-0"}},{{"fixed":"{a}.{b}.{c}"}}]}}],"ecosystem_specific":{{"affects":{{"functions":[]}}}}}}]}}"#
                ),
            )
        }
        _ => {
            // GHSA for npm and Maven.
            let id = format!(
                "GHSA-{:04x}-{:04x}-{:04x}",
                rng.below(0xffff),
                rng.below(0xffff),
                n & 0xffff
            );
            let id = format!("{id}-{n}");
            let v3 = V3[rng.below(V3.len() as u64) as usize];
            let sev = ["LOW", "MODERATE", "HIGH", "CRITICAL"][rng.below(4) as usize];
            let last = if rng.below(4) == 0 {
                format!(r#"{{"last_affected":"{a}.{b}.{c}"}}"#)
            } else {
                format!(r#"{{"fixed":"{a}.{b}.{c}"}}"#)
            };
            let kind = if eco == "npm" { "SEMVER" } else { "ECOSYSTEM" };
            (
                id.clone(),
                format!(
                    r#"{{"schema_version":"1.4.0","id":"{id}","modified":"{modified}","published":"{year}-01-01T00:00:00Z","aliases":["{cve}"],"summary":"Vulnerability in {pkg}","details":"{details}","severity":[{{"type":"CVSS_V3","score":"{v3}"}}],"affected":[{{"package":{{"ecosystem":"{eco}","name":"{pkg}"}},"ranges":[{{"type":"{kind}","events":[{{"introduced":"0"}},{last}]}}],"database_specific":{{"source":"https://github.com/github/advisory-database"}}}}],"references":[{{"type":"ADVISORY","url":"https://nvd.nist.gov/vuln/detail/{cve}"}}],"database_specific":{{"cwe_ids":["CWE-400"],"severity":"{sev}","github_reviewed":true}}}}"#
                ),
            )
        }
    };
    (eco.to_string(), id, body)
}
