//! When a CronJob's schedule fires: the five cron fields (or an `@hourly`-style
//! descriptor) as bit sets, evaluated in wall-clock minutes (UTC, or a zone's local time through [`super::zone`]) with robfig/cron's day
//! rule (when both day fields are restricted, either may match). Validation and its error
//! texts live in admission; a schedule admission refused never reaches here.

/// A parsed schedule.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Schedule {
    minutes: u64,
    hours: u64,
    days: u64,
    months: u64,
    weekdays: u64,
    /// A day field was `*` or `?` (without a step above 1).
    any_day: bool,
    any_weekday: bool,
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

/// `(bits, star)` of one field between `min` and `max`.
fn field(text: &str, min: u32, max: u32, names: &[&str]) -> Option<(u64, bool)> {
    let mut bits = 0u64;
    let mut star = false;
    for part in text.split(',') {
        let (span, step) = match part.split_once('/') {
            Some((s, n)) => (s, n.parse::<u32>().ok().filter(|n| *n > 0)?),
            None => (part, 1),
        };
        let number = |t: &str| -> Option<u32> {
            let lower = t.to_ascii_lowercase();
            match names.iter().position(|n| *n == lower) {
                Some(i) => Some(min + u32::try_from(i).ok()?),
                None => t.parse().ok(),
            }
        };
        let (lo, hi) = if span == "*" || span == "?" {
            star |= step == 1;
            (min, max)
        } else if let Some((a, b)) = span.split_once('-') {
            (number(a)?, number(b)?)
        } else {
            let n = number(span)?;
            (n, if part.contains('/') { max } else { n })
        };
        if lo < min || hi > max || lo > hi {
            return None;
        }
        bits |= (lo..=hi).step_by(step as usize).fold(0, |b, i| b | 1 << i);
    }
    Some((bits, star))
}

/// Parses a schedule; `None` for what this evaluator does not support (`@every`).
pub fn parse(schedule: &str) -> Option<Schedule> {
    let expanded = match schedule.trim() {
        "@yearly" | "@annually" => "0 0 1 1 *",
        "@monthly" => "0 0 1 * *",
        "@weekly" => "0 0 * * 0",
        "@daily" | "@midnight" => "0 0 * * *",
        "@hourly" => "0 * * * *",
        other => other,
    };
    let f: Vec<&str> = expanded.split_whitespace().collect();
    let [minute, hour, day, month, weekday] = f[..] else {
        return None;
    };
    let (days, any_day) = field(day, 1, 31, &[])?;
    let (weekdays, any_weekday) = field(weekday, 0, 6, &DAYS)?;
    Some(Schedule {
        minutes: field(minute, 0, 59, &[])?.0,
        hours: field(hour, 0, 23, &[])?.0,
        days,
        months: field(month, 1, 12, &MONTHS)?.0,
        weekdays,
        any_day,
        any_weekday,
    })
}

/// Days since 1970-01-01 of a civil date (Howard Hinnant's algorithm).
fn days_from_civil(y: i64, m: i64, d: i64) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let doy = (153 * (m + if m > 2 { -3 } else { 9 }) + 2) / 5 + d - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// `(year, month, day)` of days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, i64, i64) {
    let z = z + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = doy - (153 * mp + 2) / 5 + 1;
    let m = if mp < 10 { mp + 3 } else { mp - 9 };
    (yoe + era * 400 + i64::from(m <= 2), m, d)
}

fn bit(set: u64, i: i64) -> bool {
    u32::try_from(i).is_ok_and(|i| i < 64 && set >> i & 1 == 1)
}

impl Schedule {
    fn day_matches(&self, day: i64, weekday: i64) -> bool {
        let (d, w) = (bit(self.days, day), bit(self.weekdays, weekday));
        if self.any_day || self.any_weekday {
            d && w
        } else {
            d || w
        }
    }

    /// The first firing strictly after `t` (unix seconds), within five years.
    pub fn next_after(&self, t: i64) -> Option<i64> {
        let mut t = (t.div_euclid(60) + 1) * 60;
        let limit = t + 5 * 366 * 86_400;
        while t < limit {
            let days = t.div_euclid(86_400);
            let (y, m, d) = civil_from_days(days);
            let secs = t - days * 86_400;
            let (hour, minute) = (secs / 3600, secs % 3600 / 60);
            if !bit(self.months, m) {
                let (ny, nm) = if m == 12 { (y + 1, 1) } else { (y, m + 1) };
                t = days_from_civil(ny, nm, 1) * 86_400;
            } else if !self.day_matches(d, (days + 4).rem_euclid(7)) {
                t = (days + 1) * 86_400;
            } else if !bit(self.hours, hour) {
                t = days * 86_400 + (hour + 1) * 3600;
            } else if !bit(self.minutes, minute) {
                t += 60;
            } else {
                return Some(t);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::time::{format_rfc3339, parse_rfc3339};

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    fn next(schedule: &str, after: &str) -> String {
        format_rfc3339(parse(schedule).unwrap().next_after(at(after)).unwrap())
    }

    #[test]
    fn civil_dates_round_trip() {
        for days in [-1, 0, 59, 365, 11_016, 20_000, 24_000] {
            let (y, m, d) = civil_from_days(days);
            assert_eq!(days_from_civil(y, m, d), days);
        }
        assert_eq!(civil_from_days(0), (1970, 1, 1));
    }

    #[test]
    fn next_firings() {
        assert_eq!(
            next("* * * * *", "2026-11-21T06:30:15Z"),
            "2026-11-21T06:31:00Z"
        );
        assert_eq!(
            next("*/15 * * * *", "2026-11-21T06:30:00Z"),
            "2026-11-21T06:45:00Z"
        );
        assert_eq!(
            next("0 3 * * *", "2026-11-21T06:30:00Z"),
            "2026-11-22T03:00:00Z"
        );
        assert_eq!(
            next("@monthly", "2026-12-15T00:00:00Z"),
            "2027-01-01T00:00:00Z"
        );
        // 2026-11-21 is a Saturday; the next Monday is the 23rd.
        assert_eq!(
            next("30 8 * * mon", "2026-11-21T06:30:00Z"),
            "2026-11-23T08:30:00Z"
        );
        assert_eq!(
            next("0 0 29 feb *", "2026-03-01T00:00:00Z"),
            "2028-02-29T00:00:00Z"
        );
        // Both day fields restricted: either matches (the 1st, or any Monday).
        assert_eq!(
            next("0 0 1 * mon", "2026-11-21T06:30:00Z"),
            "2026-11-23T00:00:00Z"
        );
        assert_eq!(
            next("0 0 1-7 * */7", "2026-11-21T06:30:00Z"),
            "2026-11-22T00:00:00Z"
        );
    }

    #[test]
    fn unsupported_forms_are_refused() {
        assert_eq!(parse("@every 1h"), None);
        assert_eq!(parse("61 * * * *"), None);
        assert_eq!(parse("* * *"), None);
    }
}
