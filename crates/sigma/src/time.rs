//! Sigma correlation timespans. Event times are RFC 3339, parsed by `kubevigil_model::time`.

/// Parses a Sigma correlation timespan (`30s`, `5m`, `1h`, `2d`) to milliseconds.
pub fn parse_timespan_ms(s: &str) -> Option<i64> {
    let s = s.trim();
    let (num, unit) = s.split_at(s.len().checked_sub(1)?);
    let n: i64 = num.parse().ok().filter(|n| *n > 0)?;
    let mult = match unit {
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        _ => return None,
    };
    Some(n * mult)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn timespans() {
        assert_eq!(parse_timespan_ms("90m"), Some(5_400_000));
        assert_eq!(parse_timespan_ms("1d"), Some(86_400_000));
        assert_eq!(parse_timespan_ms("5x"), None);
        assert_eq!(parse_timespan_ms("m"), None);
    }
}
