//! Resource quantities (`100m`, `1.5`, `128Mi`, `1G`, `1e3`) as whole thousandths, rounded
//! up as upstream's `MilliValue` does, so CPU and memory compare as integers.

/// The quantity in thousandths of its unit; `None` when it is not a quantity.
pub fn parse_milli(s: &str) -> Option<i128> {
    let s = s.trim();
    let (negative, s) = match s.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, s.strip_prefix('+').unwrap_or(s)),
    };
    let number_end = s
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(s.len());
    let (number, suffix) = s.split_at(number_end);
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() {
        return None;
    }
    let digits = format!("{whole}{frac}");
    let mantissa: i128 = digits.parse().ok()?;
    let (exp10, multiplier) = suffix_scale(suffix)?;
    let exp = exp10 + 3 - i32::try_from(frac.len()).ok()?;
    let value = if exp >= 0 {
        mantissa
            .checked_mul(multiplier)?
            .checked_mul(10i128.checked_pow(exp.unsigned_abs())?)?
    } else {
        let den = 10i128.checked_pow(exp.unsigned_abs())?;
        let num = mantissa.checked_mul(multiplier)?;
        (num + den - 1) / den
    };
    Some(if negative { -value } else { value })
}

/// `(decimal exponent, binary multiplier)` of a suffix.
fn suffix_scale(suffix: &str) -> Option<(i32, i128)> {
    let binary = |shift: u32| Some((0, 1i128 << shift));
    match suffix {
        "" => Some((0, 1)),
        "n" => Some((-9, 1)),
        "u" => Some((-6, 1)),
        "m" => Some((-3, 1)),
        "k" => Some((3, 1)),
        "M" => Some((6, 1)),
        "G" => Some((9, 1)),
        "T" => Some((12, 1)),
        "P" => Some((15, 1)),
        "E" => Some((18, 1)),
        "Ki" => binary(10),
        "Mi" => binary(20),
        "Gi" => binary(30),
        "Ti" => binary(40),
        "Pi" => binary(50),
        "Ei" => binary(60),
        exp => {
            let e = exp.strip_prefix(['e', 'E'])?;
            Some((e.parse().ok()?, 1))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::parse_milli;

    #[test]
    fn cpu_and_memory_forms() {
        assert_eq!(parse_milli("100m"), Some(100));
        assert_eq!(parse_milli("1"), Some(1000));
        assert_eq!(parse_milli("0.5"), Some(500));
        assert_eq!(parse_milli("128Mi"), Some(128 * 1024 * 1024 * 1000));
        assert_eq!(parse_milli("1G"), Some(1_000_000_000_000));
        assert_eq!(parse_milli("1e3"), Some(1_000_000));
        assert_eq!(parse_milli("1n"), Some(1), "rounds up to a thousandth");
        assert_eq!(parse_milli("abc"), None);
        assert_eq!(parse_milli("1Qi"), None);
    }
}
