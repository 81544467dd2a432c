//! Indicator lists: files of IP addresses and CIDR ranges (Tor exit nodes, known scanners,
//! addresses from threat reports) whose requests `k8s_ioc_source_address` reports.
//!
//! Format: UTF-8 text, one entry per line: an IPv4 or IPv6 address (`185.220.101.47`,
//! `2001:db8::1`) or a CIDR range (`185.220.101.0/24`). `#` starts a comment that runs to the
//! end of the line; blank space around entries and blank lines are ignored. This is the
//! layout of the Tor Project's bulk exit list (`https://check.torproject.org/torbulkexitlist`,
//! one address per line) and of most IP block lists (FireHOL `.netset`, Spamhaus DROP with its
//! `;` remarks moved behind `#`).

use std::io::Read;
use std::net::IpAddr;
use std::path::Path;

use ipnet::IpNet;
use kubevigil_model::Escaped;

/// Largest indicator file read (about 4 million IPv6 ranges): a list is loaded whole.
pub const MAX_INDICATOR_FILE_BYTES: u64 = 64 << 20;

/// A problem with an indicator file; a bad entry is reported and skipped, the others are kept.
#[derive(Debug, thiserror::Error)]
pub enum IndicatorError {
    #[error("{path}: cannot read: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: larger than {MAX_INDICATOR_FILE_BYTES} bytes; not read")]
    TooLarge { path: String },
    #[error("{path}:{line}:{col}: not an IP address or CIDR range: {text}")]
    Invalid {
        path: String,
        line: usize,
        col: usize,
        /// The entry, escaped and cut to 64 characters.
        text: String,
    },
}

/// The entries of an indicator file in canonical CIDR form (`185.220.101.47/32`), and the
/// problems found (every valid entry is kept).
pub fn read_indicator_file(path: &Path) -> (Vec<String>, Vec<IndicatorError>) {
    let name = path.display().to_string();
    let mut bytes = Vec::new();
    let read = std::fs::File::open(path)
        .and_then(|f| f.take(MAX_INDICATOR_FILE_BYTES + 1).read_to_end(&mut bytes));
    if let Err(source) = read {
        return (
            Vec::new(),
            vec![IndicatorError::Read { path: name, source }],
        );
    }
    if bytes.len() as u64 > MAX_INDICATOR_FILE_BYTES {
        return (Vec::new(), vec![IndicatorError::TooLarge { path: name }]);
    }
    parse_indicators(&name, &String::from_utf8_lossy(&bytes))
}

/// Parses the text of an indicator list named `path` (see the module documentation).
pub fn parse_indicators(path: &str, text: &str) -> (Vec<String>, Vec<IndicatorError>) {
    let mut entries = Vec::new();
    let mut errors = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let content = line.split('#').next().unwrap_or_default();
        let entry = content.trim();
        if entry.is_empty() {
            continue;
        }
        match parse_entry(entry) {
            Some(net) => entries.push(net.to_string()),
            None => {
                let col = content.len() - content.trim_start().len() + 1;
                let cut: String = entry.chars().take(64).collect();
                errors.push(IndicatorError::Invalid {
                    path: path.to_string(),
                    line: i + 1,
                    col,
                    text: Escaped(&cut).to_string(),
                });
            }
        }
    }
    (entries, errors)
}

/// An address or range as the `cidr` modifier reads it; host bits of a range are cleared.
pub fn parse_entry(entry: &str) -> Option<IpNet> {
    entry
        .parse::<IpNet>()
        .map(|n| n.trunc())
        .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_ranges_comments_and_errors() {
        let text = "# Tor exit nodes\n185.220.101.47\n\n  185.220.100.0/22  # block\n2001:db8::1\nbad\u{1b}[31m entry\n10.0.0.300\n192.0.2.7/33\n";
        let (entries, errors) = parse_indicators("tor.txt", text);
        assert_eq!(
            entries,
            ["185.220.101.47/32", "185.220.100.0/22", "2001:db8::1/128"]
        );
        let msgs: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(
            msgs,
            [
                "tor.txt:6:1: not an IP address or CIDR range: bad\\e[31m entry",
                "tor.txt:7:1: not an IP address or CIDR range: 10.0.0.300",
                "tor.txt:8:1: not an IP address or CIDR range: 192.0.2.7/33",
            ]
        );
    }

    #[test]
    fn host_bits_are_cleared_and_columns_count_leading_blanks() {
        let (entries, errors) = parse_indicators("l", "185.220.101.47/24\n   x.y\n");
        assert_eq!(entries, ["185.220.101.0/24"]);
        assert!(
            errors[0].to_string().starts_with("l:2:4: "),
            "{}",
            errors[0]
        );
    }

    #[test]
    fn unreadable_and_oversized_files_are_errors() {
        let dir = tempfile::tempdir().unwrap();
        let (e, errs) = read_indicator_file(&dir.path().join("missing.txt"));
        assert!(e.is_empty() && matches!(errs[..], [IndicatorError::Read { .. }]));
        let big = dir.path().join("big.txt");
        let f = std::fs::File::create(&big).unwrap();
        f.set_len(MAX_INDICATOR_FILE_BYTES + 1).unwrap();
        let (e, errs) = read_indicator_file(&big);
        assert!(e.is_empty() && matches!(errs[..], [IndicatorError::TooLarge { .. }]));
    }
}
