//! RFC 3339 timestamps without a date library: civil-from-days (Howard Hinnant's
//! algorithm) for the UTC date.

/// `secs` since the epoch as `YYYY-MM-DDTHH:MM:SSZ`.
pub fn format_secs(secs: u64) -> String {
    let (date, hms) = split(secs);
    format!("{date}T{hms}Z")
}

/// With nanoseconds, as the CRI log format writes them.
pub fn format_nanos(secs: u64, nanos: u32) -> String {
    let (date, hms) = split(secs);
    format!("{date}T{hms}.{nanos:09}Z")
}

pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

pub fn now() -> String {
    format_secs(now_secs())
}

fn split(secs: u64) -> (String, String) {
    let days = i64::try_from(secs / 86_400).unwrap_or(0);
    let rem = secs % 86_400;
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (
        format!("{year:04}-{month:02}-{day:02}"),
        format!("{:02}:{:02}:{:02}", rem / 3600, rem % 3600 / 60, rem % 60),
    )
}

/// Parses `YYYY-MM-DDTHH:MM:SS[.frac]Z` to (seconds, nanoseconds).
pub fn parse(text: &str) -> Option<(u64, u32)> {
    let b = text.as_bytes();
    if b.len() < 20 || b[4] != b'-' || b[7] != b'-' || b[10] != b'T' {
        return None;
    }
    let num = |r: std::ops::Range<usize>| text.get(r)?.parse::<i64>().ok();
    let (y, m, d) = (num(0..4)?, num(5..7)?, num(8..10)?);
    let (hh, mm, ss) = (num(11..13)?, num(14..16)?, num(17..19)?);
    let rest = &text[19..];
    let nanos = match rest.strip_prefix('.') {
        Some(frac) => {
            let digits: String = frac.chars().take_while(char::is_ascii_digit).collect();
            let padded = format!("{digits:0<9}");
            padded.get(..9)?.parse::<u32>().ok()?
        }
        None => 0,
    };
    let y = y - i64::from(m <= 2);
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let mp = (m + 9) % 12;
    let doy = (153 * mp + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    let secs = days * 86_400 + hh * 3600 + mm * 60 + ss;
    Some((u64::try_from(secs).ok()?, nanos))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_and_parses_round_trip() {
        assert_eq!(format_secs(0), "1970-01-01T00:00:00Z");
        assert_eq!(format_secs(1_795_000_000), "2026-11-18T11:06:40Z");
        assert_eq!(
            format_nanos(951_782_400, 5),
            "2000-02-29T00:00:00.000000005Z"
        );
        assert_eq!(
            parse("2000-02-29T00:00:00.000000005Z"),
            Some((951_782_400, 5))
        );
        assert_eq!(parse("2026-11-18T11:06:40Z"), Some((1_795_000_000, 0)));
        assert_eq!(parse("garbage"), None);
    }
}
