//! Kubernetes resource quantities ("100m", "0.5", "128Mi", "1G", "1e3") parsed exactly.
//!
//! A quantity is held as a count of nano-units in an `i128`, so every suffix the API accepts
//! (n u m k M G T P E, Ki..Ei, decimal exponents) converts without floating point. Converting
//! down to millis or whole units rounds up, as upstream's `MilliValue`/`Value` do.

use std::fmt;

/// An exact quantity in units of 10^-9.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Quantity {
    nanos: i128,
}

/// Why a quantity string was refused.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QuantityError {
    pub text: String,
    pub reason: &'static str,
}

impl fmt::Display for QuantityError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid quantity {:?}: {}", self.text, self.reason)
    }
}

impl std::error::Error for QuantityError {}

const NANOS_PER_UNIT: i128 = 1_000_000_000;

impl Quantity {
    /// Parses the canonical or any accepted form of a Kubernetes quantity.
    pub fn parse(text: &str) -> Result<Quantity, QuantityError> {
        let err = |reason| QuantityError {
            text: text.to_string(),
            reason,
        };
        let (negative, rest) = match text.as_bytes().first() {
            Some(b'-') => (true, &text[1..]),
            Some(b'+') => (false, &text[1..]),
            Some(_) => (false, text),
            None => return Err(err("empty")),
        };
        let number_len = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let (number, suffix) = rest.split_at(number_len);
        let (mantissa, frac_digits) = parse_decimal(number).ok_or_else(|| err("bad number"))?;
        let (exp10, exp2) = parse_suffix(suffix).ok_or_else(|| err("unknown suffix"))?;
        let nanos =
            scale(mantissa, 9 + exp10 - frac_digits, exp2).ok_or_else(|| err("out of range"))?;
        Ok(Quantity {
            nanos: if negative { -nanos } else { nanos },
        })
    }

    /// The value in thousandths, rounded up (CPU millicores).
    pub fn millis_ceil(self) -> i64 {
        clamp_i64(div_ceil(self.nanos, 1_000_000))
    }

    /// The value in whole units, rounded up (bytes).
    pub fn units_ceil(self) -> i64 {
        clamp_i64(div_ceil(self.nanos, NANOS_PER_UNIT))
    }
}

/// Digits with at most one dot: returns (all digits as an integer, digits after the dot).
fn parse_decimal(number: &str) -> Option<(i128, i32)> {
    let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
    if whole.is_empty() && frac.is_empty() || frac.contains('.') {
        return None;
    }
    let mut mantissa: i128 = 0;
    for b in whole.bytes().chain(frac.bytes()) {
        mantissa = mantissa
            .checked_mul(10)?
            .checked_add(i128::from(b - b'0'))?;
    }
    Some((mantissa, i32::try_from(frac.len()).ok()?))
}

/// The suffix as a power of ten and a power of two.
fn parse_suffix(suffix: &str) -> Option<(i32, u32)> {
    let decimal = match suffix {
        "n" => Some(-9),
        "u" => Some(-6),
        "m" => Some(-3),
        "" => Some(0),
        "k" => Some(3),
        "M" => Some(6),
        "G" => Some(9),
        "T" => Some(12),
        "P" => Some(15),
        "E" => Some(18),
        _ => None,
    };
    if let Some(exp10) = decimal {
        return Some((exp10, 0));
    }
    let binary = match suffix {
        "Ki" => Some(10),
        "Mi" => Some(20),
        "Gi" => Some(30),
        "Ti" => Some(40),
        "Pi" => Some(50),
        "Ei" => Some(60),
        _ => None,
    };
    if let Some(exp2) = binary {
        return Some((0, exp2));
    }
    let exponent = suffix.strip_prefix(['e', 'E'])?;
    let digits = exponent.strip_prefix(['+', '-']).unwrap_or(exponent);
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let exp10: i32 = exponent.parse().ok()?;
    (-40..=40).contains(&exp10).then_some((exp10, 0))
}

/// mantissa * 10^exp10 * 2^exp2, rounding a fractional nano up.
fn scale(mantissa: i128, exp10: i32, exp2: u32) -> Option<i128> {
    let shifted = mantissa.checked_mul(1i128.checked_shl(exp2)?)?;
    if exp10 >= 0 {
        shifted.checked_mul(10i128.checked_pow(exp10.unsigned_abs())?)
    } else {
        let divisor = 10i128
            .checked_pow(exp10.unsigned_abs())
            .unwrap_or(i128::MAX);
        Some(div_ceil(shifted, divisor))
    }
}

fn div_ceil(value: i128, divisor: i128) -> i128 {
    let quotient = value / divisor;
    if value % divisor > 0 {
        quotient + 1
    } else {
        quotient
    }
}

fn clamp_i64(value: i128) -> i64 {
    i64::try_from(value).unwrap_or(if value < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn millis(text: &str) -> i64 {
        Quantity::parse(text).unwrap().millis_ceil()
    }

    fn units(text: &str) -> i64 {
        Quantity::parse(text).unwrap().units_ceil()
    }

    #[test]
    fn cpu_forms_convert_to_millis() {
        assert_eq!(millis("100m"), 100);
        assert_eq!(millis("1"), 1000);
        assert_eq!(millis("0.5"), 500);
        assert_eq!(millis(".25"), 250);
        assert_eq!(millis("2.5"), 2500);
        assert_eq!(millis("1e3"), 1_000_000);
        assert_eq!(millis("1E-3"), 1);
        assert_eq!(millis("+3"), 3000);
    }

    #[test]
    fn sub_milli_values_round_up() {
        assert_eq!(millis("0.1m"), 1);
        assert_eq!(millis("1u"), 1);
        assert_eq!(millis("500n"), 1);
        assert_eq!(millis("0"), 0);
        assert_eq!(units("1m"), 1);
    }

    #[test]
    fn memory_forms_convert_to_bytes() {
        assert_eq!(units("128Mi"), 128 << 20);
        assert_eq!(units("1Ki"), 1024);
        assert_eq!(units("1.5Gi"), 3 << 29);
        assert_eq!(units("1G"), 1_000_000_000);
        assert_eq!(units("1k"), 1000);
        assert_eq!(units("2Ei"), 2 << 60);
        assert_eq!(units("129e6"), 129_000_000);
        assert_eq!(units("12e+2"), 1200);
    }

    #[test]
    fn negative_values_keep_their_sign() {
        assert_eq!(millis("-100m"), -100);
        assert_eq!(units("-1Ki"), -1024);
    }

    #[test]
    fn malformed_quantities_are_refused() {
        for bad in [
            "", "Mi", "1.2.3", "1KiB", "1 Mi", "1e", "1e+", "ten", "1x", "--1", "1e99", ".",
        ] {
            assert!(Quantity::parse(bad).is_err(), "{bad:?} was accepted");
        }
        let err = Quantity::parse("12q").unwrap_err();
        assert_eq!(err.to_string(), "invalid quantity \"12q\": unknown suffix");
    }

    #[test]
    fn huge_values_saturate_instead_of_wrapping() {
        assert_eq!(units("100Ei"), i64::MAX);
    }
}
