//! RFC 3339 timestamps, as kube-apiserver writes them (`2024-05-01T10:00:00.123456Z`:
//! `metav1.MicroTime` in audit events, k8s.io/apimachinery/pkg/apis/meta/v1/micro_time.go), to
//! microseconds since the Unix epoch, and milliseconds back to text. The one parser of the
//! project: audit events, Sigma event times and alerts all go through it.

/// Milliseconds since the Unix epoch, now (0 before it).
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

/// Parses an RFC 3339 date-time (`T`, `t` or a space between date and time, any number of
/// fraction digits, truncated to microseconds, `Z` or a `±hh:mm` offset) into microseconds
/// since the Unix epoch; `None` if it is not one.
pub fn parse_rfc3339_micros(s: &str) -> Option<i64> {
    let b = s.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || !matches!(b[10], b'T' | b't' | b' ') {
        return None;
    }
    if b[13] != b':' || b[16] != b':' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| -> Option<i64> {
        let mut v = 0i64;
        for &c in &b[r] {
            if !c.is_ascii_digit() {
                return None;
            }
            v = v * 10 + i64::from(c - b'0');
        }
        Some(v)
    };
    let (year, month, day) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hour, min, sec) = (num(11..13)?, num(14..16)?, num(17..19)?);
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) || hour > 23 || min > 59 || sec > 60 {
        return None;
    }
    let mut i = 19;
    let mut micros = 0i64;
    if b.get(i) == Some(&b'.') {
        i += 1;
        let start = i;
        let mut scale = 100_000i64;
        while i < b.len() && b[i].is_ascii_digit() {
            micros += i64::from(b[i] - b'0') * scale;
            scale /= 10;
            i += 1;
        }
        if i == start {
            return None;
        }
    }
    let offset_secs = match b.get(i)? {
        b'Z' | b'z' if i + 1 == b.len() => 0,
        sign @ (b'+' | b'-') if i + 6 == b.len() && b[i + 3] == b':' => {
            let h = num(i + 1..i + 3)?;
            let m = num(i + 4..i + 6)?;
            let v = h * 3600 + m * 60;
            if *sign == b'+' { v } else { -v }
        }
        _ => return None,
    };
    let days = days_from_civil(year, month, day);
    let secs = days * 86_400 + hour * 3600 + min * 60 + sec - offset_secs;
    Some(secs * 1_000_000 + micros)
}

/// [`parse_rfc3339_micros`] truncated to milliseconds (towards the past).
pub fn parse_rfc3339_ms(s: &str) -> Option<i64> {
    parse_rfc3339_micros(s).map(|us| us.div_euclid(1000))
}

/// Formats milliseconds since the epoch as RFC 3339 UTC with millisecond precision.
pub fn format_rfc3339_ms(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let milli = ms.rem_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    let (hour, minute, second) = (rem / 3600, rem % 3600 / 60, rem % 60);
    if !(0..=9999).contains(&y) {
        return format!("{y:04}-{m:02}-{d:02}T{hour:02}:{minute:02}:{second:02}.{milli:03}Z");
    }
    // Digit by digit: every alert writes a few of these, and `format!` was a visible share of
    // writing one.
    let mut out = [0u8; 24];
    let mut put = |at: usize, v: i64, width: usize| {
        let mut v = v;
        for i in (0..width).rev() {
            out[at + i] = b'0' + (v % 10) as u8;
            v /= 10;
        }
    };
    put(0, y, 4);
    put(5, m, 2);
    put(8, d, 2);
    put(11, hour, 2);
    put(14, minute, 2);
    put(17, second, 2);
    put(20, milli, 3);
    for (at, c) in [
        (4, b'-'),
        (7, b'-'),
        (10, b'T'),
        (13, b':'),
        (16, b':'),
        (19, b'.'),
        (23, b'Z'),
    ] {
        out[at] = c;
    }
    String::from_utf8(out.to_vec()).expect("ASCII digits and separators")
}

// Howard Hinnant's civil calendar algorithms (proleptic Gregorian).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (if m <= 2 { y + 1 } else { y }, m, d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rfc3339_variants() {
        assert_eq!(parse_rfc3339_micros("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(parse_rfc3339_micros("1970-01-01T01:00:00+01:00"), Some(0));
        assert_eq!(
            parse_rfc3339_micros("1970-01-01T00:00:00.123456789Z"),
            Some(123_456)
        );
        assert_eq!(parse_rfc3339_micros("1970-01-01T00:00:00"), None);
        assert_eq!(parse_rfc3339_micros("garbage-garbage-garbage"), None);
    }

    #[test]
    fn parses_apiserver_timestamps() {
        assert_eq!(parse_rfc3339_ms("1970-01-01T00:00:00Z"), Some(0));
        assert_eq!(
            parse_rfc3339_ms("2024-05-01T10:00:00.123456Z"),
            Some(1_714_557_600_123)
        );
        assert_eq!(
            parse_rfc3339_ms("2024-05-01T12:00:00.5+02:00"),
            Some(1_714_557_600_500)
        );
        assert_eq!(parse_rfc3339_ms("2024-05-01"), None);
        assert_eq!(parse_rfc3339_ms("2024-13-01T00:00:00Z"), None);
        assert_eq!(
            format_rfc3339_ms(1_714_557_600_123),
            "2024-05-01T10:00:00.123Z"
        );
    }

    #[test]
    fn before_the_epoch_truncates_towards_the_past() {
        assert_eq!(parse_rfc3339_ms("1969-12-31T23:59:59.9995Z"), Some(-1));
        assert_eq!(format_rfc3339_ms(-1), "1969-12-31T23:59:59.999Z");
        assert_eq!(
            parse_rfc3339_micros("0000-03-01T00:00:00Z"),
            Some(-62_162_035_200_000_000)
        );
    }

    /// The digit-by-digit writer gives what `format!` gives, and reads back, over the whole
    /// range of four-digit years and past both ends of it.
    #[test]
    fn formatting_agrees_with_format_and_reads_back() {
        let reference = |ms: i64| {
            let (secs, milli) = (ms.div_euclid(1000), ms.rem_euclid(1000));
            let (y, m, d) = civil_from_days(secs.div_euclid(86_400));
            let rem = secs.rem_euclid(86_400);
            format!(
                "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}.{milli:03}Z",
                rem / 3600,
                rem % 3600 / 60,
                rem % 60
            )
        };
        let year_0 = -62_167_219_200_000i64;
        let year_10000 = 253_402_300_800_000i64;
        let mut ms = year_0 - 86_400_000 * 400;
        // A step that is prime to every unit, so every digit position takes many values.
        while ms < year_10000 + 86_400_000 * 400 {
            let text = format_rfc3339_ms(ms);
            assert_eq!(text, reference(ms), "{ms}");
            if (year_0..year_10000).contains(&ms) {
                assert_eq!(parse_rfc3339_ms(&text), Some(ms), "{text}");
            }
            ms += 9_876_543_211_i64;
        }
        for ms in [year_0, year_0 - 1, year_10000, year_10000 - 1, 0, -1, 999] {
            assert_eq!(format_rfc3339_ms(ms), reference(ms), "{ms}");
        }
        assert_eq!(format_rfc3339_ms(year_0), "0000-01-01T00:00:00.000Z");
        assert_eq!(
            format_rfc3339_ms(year_10000 - 1),
            "9999-12-31T23:59:59.999Z"
        );
    }
}
