//! CronJob schedules as upstream accepts them (robfig/cron's standard parser): five fields
//! (minute, hour, day of month, month, day of week) or a descriptor such as `@hourly`, with
//! that parser's error texts, which upstream puts into the Invalid cause as they are.

struct Bounds {
    min: u32,
    max: u32,
    names: &'static [&'static str],
}

const MONTHS: [&str; 12] = [
    "jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec",
];
const DAYS: [&str; 7] = ["sun", "mon", "tue", "wed", "thu", "fri", "sat"];

const FIELDS: [Bounds; 5] = [
    Bounds {
        min: 0,
        max: 59,
        names: &[],
    },
    Bounds {
        min: 0,
        max: 23,
        names: &[],
    },
    Bounds {
        min: 1,
        max: 31,
        names: &[],
    },
    Bounds {
        min: 1,
        max: 12,
        names: &MONTHS,
    },
    Bounds {
        min: 0,
        max: 6,
        names: &DAYS,
    },
];

const DESCRIPTORS: [&str; 7] = [
    "@yearly",
    "@annually",
    "@monthly",
    "@weekly",
    "@daily",
    "@midnight",
    "@hourly",
];

/// Checks a schedule; the error is the parser's message.
pub fn validate(schedule: &str) -> Result<(), String> {
    if schedule.is_empty() {
        return Err("empty spec string".to_owned());
    }
    if schedule.starts_with('@') {
        return descriptor(schedule);
    }
    let fields: Vec<&str> = schedule.split_whitespace().collect();
    if fields.len() != 5 {
        return Err(format!(
            "expected exactly 5 fields, found {}: [{}]",
            fields.len(),
            fields.join(" ")
        ));
    }
    for (i, text) in fields.iter().enumerate() {
        // `?` stands for `*` in the day fields.
        if *text == "?" && (i == 2 || i == 4) {
            continue;
        }
        for part in text.split(',') {
            range(part, &FIELDS[i])?;
        }
    }
    Ok(())
}

fn descriptor(schedule: &str) -> Result<(), String> {
    if DESCRIPTORS.contains(&schedule) {
        return Ok(());
    }
    if let Some(duration) = schedule.strip_prefix("@every ") {
        return if is_go_duration(duration) {
            Ok(())
        } else {
            Err(format!(
                "failed to parse duration {schedule}: time: invalid duration \"{duration}\""
            ))
        };
    }
    Err(format!("unrecognized descriptor: {schedule}"))
}

/// Go's `time.ParseDuration` grammar: one or more `<number><unit>`, or a bare `0`.
fn is_go_duration(text: &str) -> bool {
    let mut rest = text.strip_prefix(['+', '-']).unwrap_or(text);
    if rest == "0" {
        return true;
    }
    if rest.is_empty() {
        return false;
    }
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        if digits == 0 || rest[..digits].parse::<f64>().is_err() {
            return false;
        }
        rest = &rest[digits..];
        let unit = rest
            .find(|c: char| c.is_ascii_digit() || c == '.')
            .unwrap_or(rest.len());
        if !["ns", "us", "\u{b5}s", "ms", "s", "m", "h"].contains(&&rest[..unit]) {
            return false;
        }
        rest = &rest[unit..];
    }
    true
}

fn range(expr: &str, b: &Bounds) -> Result<(), String> {
    let (span, step) = match expr.split('/').collect::<Vec<_>>()[..] {
        [span] => (span, None),
        [span, step] => (span, Some(step)),
        _ => return Err(format!("too many slashes: {expr}")),
    };
    let (start, end) = if span == "*" {
        (b.min, b.max)
    } else {
        match span.split('-').collect::<Vec<_>>()[..] {
            [one] => {
                let n = number(one, b)?;
                (n, if step.is_some() { b.max } else { n })
            }
            [lo, hi] => (number(lo, b)?, number(hi, b)?),
            _ => return Err(format!("too many hyphens: {expr}")),
        }
    };
    if let Some(step) = step {
        let n = parse_int(step)?;
        if n == 0 {
            return Err(format!("step of range should be a positive number: {expr}"));
        }
    }
    if start < b.min {
        return Err(format!(
            "beginning of range ({start}) below minimum ({}): {expr}",
            b.min
        ));
    }
    if end > b.max {
        return Err(format!(
            "end of range ({end}) above maximum ({}): {expr}",
            b.max
        ));
    }
    if start > end {
        return Err(format!(
            "beginning of range ({start}) beyond end of range ({end}): {expr}"
        ));
    }
    Ok(())
}

fn number(text: &str, b: &Bounds) -> Result<u32, String> {
    let lower = text.to_ascii_lowercase();
    if let Some(i) = b.names.iter().position(|n| *n == lower) {
        return Ok(b.min + u32::try_from(i).unwrap_or(0));
    }
    parse_int(text)
}

fn parse_int(text: &str) -> Result<u32, String> {
    match text.parse::<i64>() {
        Ok(n) if n < 0 => Err(format!("negative number ({n}) not allowed: {text}")),
        Ok(n) => u32::try_from(n).map_err(|_| format!("failed to parse int from {text}: strconv.Atoi: parsing \"{text}\": value out of range")),
        Err(_) => Err(format!(
            "failed to parse int from {text}: strconv.Atoi: parsing \"{text}\": invalid syntax"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_standard_forms() {
        for ok in [
            "*/5 * * * *",
            "0 0 * * 0",
            "15 2 1-15/2 JAN-jun mon,wed",
            "@hourly",
            "@every 1h30m",
            "0 0 ? * ?",
        ] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
        for bad in ["@every", "@every 5", "@every 1x", "@every h"] {
            assert!(validate(bad).is_err(), "{bad}");
        }
        for ok in ["@every 1h30m", "@every 1.5s"] {
            assert_eq!(validate(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn errors_are_the_parsers() {
        assert_eq!(
            validate("bad"),
            Err("expected exactly 5 fields, found 1: [bad]".to_owned())
        );
        assert_eq!(
            validate("60 * * * *"),
            Err("end of range (60) above maximum (59): 60".to_owned())
        );
        assert_eq!(
            validate("* * 0 * *"),
            Err("beginning of range (0) below minimum (1): 0".to_owned())
        );
        assert_eq!(
            validate("x * * * *"),
            Err(
                "failed to parse int from x: strconv.Atoi: parsing \"x\": invalid syntax"
                    .to_owned()
            )
        );
        assert_eq!(
            validate("@often"),
            Err("unrecognized descriptor: @often".to_owned())
        );
    }
}
