//! IANA time zones for `spec.timeZone`: names checked with upstream's rules and messages,
//! zones read from the host's tz database (`/usr/share/zoneinfo`, TZif files with their
//! POSIX-rule footers, parsed by tz-rs) on the blocking pool, never on the executor thread,
//! and kept once read. A schedule in a zone fires at its wall-clock times: a time skipped by
//! a DST jump does not fire, a time repeated by one fires once (at its first instant).

use std::cell::RefCell;
use std::collections::HashMap;
use std::path::Path;
use std::rc::Rc;

use super::schedule::Schedule;
use crate::object::time;

pub const ZONEINFO: &str = "/usr/share/zoneinfo";
/// Distinct zones kept in memory; past it, zones are read again when needed.
const CACHE_LIMIT: usize = 64;

thread_local! {
    static ZONES: RefCell<HashMap<String, Rc<tz::TimeZone>>> = RefCell::new(HashMap::new());
}

/// Upstream's validateTimeZone checks that need no database, with its messages.
pub fn check_name(name: &str) -> Result<(), String> {
    if name.is_empty() {
        return Err("timeZone must be nil or non-empty string".to_owned());
    }
    let valid_part = |p: &str| {
        (1..=14).contains(&p.len())
            && p.bytes()
                .all(|b| b.is_ascii_alphanumeric() || b"._-+".contains(&b))
            && p != "."
            && p != ".."
            && !p.starts_with('-')
    };
    if !name.split('/').all(valid_part) {
        return Err(format!("unknown time zone {name}"));
    }
    if name.eq_ignore_ascii_case("Local") {
        return Err(
            "timeZone must be an explicit time zone as defined in https://www.iana.org/time-zones"
                .to_owned(),
        );
    }
    Ok(())
}

/// The zone `name` from the host's database.
pub async fn load(name: &str) -> Result<Rc<tz::TimeZone>, String> {
    load_from(Path::new(ZONEINFO), name).await
}

pub async fn load_from(dir: &Path, name: &str) -> Result<Rc<tz::TimeZone>, String> {
    check_name(name)?;
    if name == "UTC" {
        return Ok(Rc::new(tz::TimeZone::utc()));
    }
    let key = format!("{}\0{name}", dir.display());
    if let Some(zone) = ZONES.with(|z| z.borrow().get(&key).cloned()) {
        return Ok(zone);
    }
    let path = dir.join(name);
    let bytes = blocking::unblock(move || std::fs::read(path))
        .await
        .map_err(|_| format!("unknown time zone {name}"))?;
    let zone = Rc::new(
        tz::TimeZone::from_tz_data(&bytes).map_err(|_| format!("unknown time zone {name}"))?,
    );
    ZONES.with(|z| {
        let mut z = z.borrow_mut();
        if z.len() >= CACHE_LIMIT {
            z.clear();
        }
        z.insert(key, Rc::clone(&zone));
    });
    Ok(zone)
}

/// A schedule evaluated in a zone (`None`: UTC).
pub struct ZonedSchedule<'a> {
    pub schedule: &'a Schedule,
    pub zone: Option<&'a tz::TimeZone>,
}

impl ZonedSchedule<'_> {
    /// Seconds east of UTC at the instant `t`.
    pub fn offset(&self, t: i64) -> i64 {
        self.zone
            .and_then(|z| z.find_local_time_type(t).ok())
            .map_or(0, |l| i64::from(l.ut_offset()))
    }

    /// The first firing strictly after the instant `t`.
    pub fn next_after(&self, t: i64) -> Option<i64> {
        let mut wall = t + self.offset(t);
        // Each round moves past one wall time; a DST gap costs one extra round.
        for _ in 0..1000 {
            let candidate = self.schedule.next_after(wall)?;
            if let Some(at) = self.instant_of(candidate, t) {
                return Some(at);
            }
            wall = candidate;
        }
        None
    }

    /// The first instant after `t` whose wall time is `wall`, if any (none in a DST gap).
    fn instant_of(&self, wall: i64, t: i64) -> Option<i64> {
        let mut found: Option<i64> = None;
        for side in [wall - 86_400, wall + 86_400] {
            let at = wall - self.offset(side);
            if at > t && at + self.offset(at) == wall {
                found = Some(found.map_or(at, |f| f.min(at)));
            }
        }
        found
    }

    /// The latest firing in `(since, now]` and how many there were (capped at `cap`).
    pub fn latest_between(&self, since: i64, now: i64, cap: usize) -> (Option<i64>, usize) {
        let (mut latest, mut count) = (None, 0);
        // Far behind: only the last year can matter for the latest firing.
        let mut cursor = since.max(now - 366 * 86_400);
        while let Some(t) = self.next_after(cursor).filter(|t| *t <= now) {
            latest = Some(t);
            count = (count + 1).min(cap);
            cursor = t;
        }
        (latest, count)
    }

    /// RFC 3339 of the instant `t` in the zone (`Z` for UTC), as upstream's
    /// scheduled-timestamp annotation.
    pub fn format(&self, t: i64) -> String {
        let offset = self.offset(t);
        let base = time::format_rfc3339(t + offset);
        if self.zone.is_none() || offset == 0 {
            return base;
        }
        let sign = if offset < 0 { '-' } else { '+' };
        let abs = offset.abs();
        format!(
            "{}{sign}{:02}:{:02}",
            &base[..base.len() - 1],
            abs / 3600,
            abs % 3600 / 60
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::object::time::{format_rfc3339, parse_rfc3339};

    fn at(s: &str) -> i64 {
        parse_rfc3339(s).unwrap()
    }

    fn zone(name: &str) -> Option<Rc<tz::TimeZone>> {
        if !Path::new(ZONEINFO).join(name).exists() {
            eprintln!("skipping: no {name} in {ZONEINFO}");
            return None;
        }
        Some(futures_lite::future::block_on(load(name)).unwrap())
    }

    #[test]
    fn names_are_checked_with_upstreams_messages() {
        assert_eq!(
            check_name(""),
            Err("timeZone must be nil or non-empty string".into())
        );
        assert_eq!(
            check_name("../etc/passwd"),
            Err("unknown time zone ../etc/passwd".into())
        );
        assert_eq!(
            check_name(" Continent/Zone"),
            Err("unknown time zone  Continent/Zone".into())
        );
        assert!(
            check_name("local")
                .unwrap_err()
                .starts_with("timeZone must be an explicit")
        );
        assert!(check_name("America/Argentina/Buenos_Aires").is_ok());
        assert!(check_name("Etc/GMT+5").is_ok());
        let missing = futures_lite::future::block_on(load("Nowhere/Atlantis"));
        assert_eq!(
            missing.err(),
            Some("unknown time zone Nowhere/Atlantis".into())
        );
    }

    #[test]
    fn schedules_fire_at_wall_clock_times_across_dst() {
        let Some(ny) = zone("America/New_York") else {
            return;
        };
        let s = super::super::schedule::parse("30 2 * * *").unwrap();
        let zoned = ZonedSchedule {
            schedule: &s,
            zone: Some(&ny),
        };
        // 02:30 EST is 07:30Z.
        let next = zoned.next_after(at("2026-11-21T00:00:00Z")).unwrap();
        assert_eq!(format_rfc3339(next), "2026-11-21T07:30:00Z");
        assert_eq!(zoned.format(next), "2026-11-21T02:30:00-05:00");
        // 2026-03-08 02:30 does not exist in New York (clocks jump 02:00 -> 03:00).
        let next = zoned.next_after(at("2026-03-07T12:00:00Z")).unwrap();
        assert_eq!(format_rfc3339(next), "2026-03-09T06:30:00Z");
        // 2026-11-01 01:30 happens twice: it fires once, at the first (EDT) instant.
        let s = super::super::schedule::parse("30 1 * * *").unwrap();
        let zoned = ZonedSchedule {
            schedule: &s,
            zone: Some(&ny),
        };
        let first = zoned.next_after(at("2026-11-01T00:00:00Z")).unwrap();
        assert_eq!(format_rfc3339(first), "2026-11-01T05:30:00Z");
        let second = zoned.next_after(first).unwrap();
        assert_eq!(format_rfc3339(second), "2026-11-02T06:30:00Z");
    }

    #[test]
    fn latest_missed_firing_and_count_in_utc() {
        let s = super::super::schedule::parse("*/10 * * * *").unwrap();
        let zoned = ZonedSchedule {
            schedule: &s,
            zone: None,
        };
        let (latest, count) =
            zoned.latest_between(at("2026-11-21T06:00:00Z"), at("2026-11-21T06:35:00Z"), 100);
        assert_eq!(
            latest.map(format_rfc3339).as_deref(),
            Some("2026-11-21T06:30:00Z")
        );
        assert_eq!(count, 3);
        assert_eq!(
            zoned.format(at("2026-11-21T06:30:00Z")),
            "2026-11-21T06:30:00Z"
        );
    }
}
