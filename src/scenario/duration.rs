//! Durations as text: `"90s"`, `"2h15m"`, `"500ms"`, `"1.5s"`.

use std::fmt;
use std::time::Duration;

/// A duration written as text was not understood; see [`parse_duration`].
///
/// ```
/// let err = tower_chaos::scenario::parse_duration("5 parsecs").unwrap_err();
/// assert!(err.to_string().contains("unknown unit `parsecs`"));
/// ```
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("invalid duration {text:?}: {reason}")]
pub struct DurationError {
    text: String,
    reason: String,
}

impl DurationError {
    fn new(text: &str, reason: impl Into<String>) -> Self {
        Self {
            text: text.to_owned(),
            reason: reason.into(),
        }
    }
}

const UNITS: &[(&str, u128)] = &[
    ("ns", 1),
    ("us", 1_000),
    ("µs", 1_000),
    ("ms", 1_000_000),
    ("s", 1_000_000_000),
    ("m", 60_000_000_000),
    ("min", 60_000_000_000),
    ("h", 3_600_000_000_000),
    ("d", 86_400_000_000_000),
];

/// Parses a duration written as text: one or more `<number><unit>` parts,
/// optionally separated by spaces, added up. Units: `ns`, `us` (or `µs`),
/// `ms`, `s`, `m` (or `min`), `h`, `d`. Numbers may have a decimal part
/// (`"1.5s"`, `"0.25h"`). A bare `"0"` is zero; any other number needs a
/// unit. Exact to the nanosecond.
///
/// # Errors
///
/// [`DurationError`] naming the text and what is wrong with it.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::parse_duration;
///
/// assert_eq!(parse_duration("2h15m")?, Duration::from_secs(2 * 3600 + 15 * 60));
/// assert_eq!(parse_duration("500ms")?, Duration::from_millis(500));
/// assert_eq!(parse_duration("1.5s")?, Duration::from_millis(1_500));
/// assert_eq!(parse_duration("1m 30s")?, Duration::from_secs(90));
/// assert!(parse_duration("90").is_err());
/// # Ok::<(), tower_chaos::scenario::DurationError>(())
/// ```
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    let t = text.trim();
    if t == "0" {
        return Ok(Duration::ZERO);
    }
    if t.is_empty() {
        return Err(DurationError::new(
            text,
            "empty (write e.g. \"90s\" or \"2h15m\")",
        ));
    }
    let mut rest = t;
    let mut total: u128 = 0;
    while !rest.is_empty() {
        let digits = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let number = &rest[..digits];
        if number.is_empty() {
            return Err(DurationError::new(text, format!("expected a number at `{rest}`")));
        }
        rest = rest[digits..].trim_start();
        let unit_len = rest
            .find(|c: char| c.is_ascii_digit() || c == '.' || c == ' ')
            .unwrap_or(rest.len());
        let unit = &rest[..unit_len];
        rest = rest[unit_len..].trim_start();
        if unit.is_empty() {
            return Err(DurationError::new(
                text,
                format!("`{number}` has no unit (ns, us, ms, s, m, h, d)"),
            ));
        }
        let Some((_, nanos)) = UNITS.iter().find(|(u, _)| *u == unit) else {
            return Err(DurationError::new(
                text,
                format!("unknown unit `{unit}` (expected ns, us, ms, s, m, h or d)"),
            ));
        };
        let (whole, frac) = number.split_once('.').unwrap_or((number, ""));
        if whole.is_empty() && frac.is_empty() || frac.contains('.') {
            return Err(DurationError::new(text, format!("`{number}` is not a number")));
        }
        let too_long = || DurationError::new(text, "too long");
        let whole: u128 = if whole.is_empty() {
            0
        } else {
            whole.parse().map_err(|_| too_long())?
        };
        let mut part = whole.checked_mul(*nanos).ok_or_else(too_long)?;
        if !frac.is_empty() {
            // Exact decimal: at most 18 fractional digits are significant.
            let digits = &frac[..frac.len().min(18)];
            let scale = 10u128.pow(digits.len() as u32);
            let f: u128 = digits.parse().map_err(|_| too_long())?;
            // `f < scale <= 10^18` and `nanos < 10^14`: the product fits;
            // the sum may not, for a whole part near the limit.
            part = part.checked_add(f * nanos / scale).ok_or_else(too_long)?;
        }
        total = total.checked_add(part).ok_or_else(too_long)?;
    }
    let secs = u64::try_from(total / 1_000_000_000).map_err(|_| DurationError::new(text, "too long"))?;
    Ok(Duration::new(secs, (total % 1_000_000_000) as u32))
}

/// Writes a duration the way [`parse_duration`] reads it, largest units
/// first: `2h15m`, `1m30s`, `1s500ms`, `250us`, `0s`.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::scenario::{format_duration, parse_duration};
///
/// assert_eq!(format_duration(Duration::from_secs(8_100)).to_string(), "2h15m");
/// let d = Duration::from_micros(1_500_250);
/// assert_eq!(parse_duration(&format_duration(d).to_string()).unwrap(), d);
/// ```
#[must_use]
pub fn format_duration(d: Duration) -> impl fmt::Display {
    Text(d)
}

/// A duration displayed as [`format_duration`] writes it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Text(pub(crate) Duration);

impl fmt::Display for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        if d.is_zero() {
            return f.write_str("0s");
        }
        let secs = d.as_secs();
        let parts = [
            (secs / 86_400, "d"),
            (secs / 3_600 % 24, "h"),
            (secs / 60 % 60, "m"),
            (secs % 60, "s"),
            (u64::from(d.subsec_millis()), "ms"),
            (u64::from(d.subsec_micros() % 1_000), "us"),
            (u64::from(d.subsec_nanos() % 1_000), "ns"),
        ];
        for (n, unit) in parts {
            if n > 0 {
                write!(f, "{n}{unit}")?;
            }
        }
        Ok(())
    }
}

/// A short form for tables: at most two significant units (`2h15m`,
/// `1.2s`, `350ms`, `41us`).
pub(crate) struct Short(pub(crate) Duration);

impl fmt::Display for Short {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let d = self.0;
        let s = d.as_secs();
        if s >= 3_600 {
            let (h, m) = (s / 3_600, s / 60 % 60);
            if m == 0 {
                write!(f, "{h}h")
            } else {
                write!(f, "{h}h{m}m")
            }
        } else if s >= 60 {
            let (m, sec) = (s / 60, s % 60);
            if sec == 0 {
                write!(f, "{m}m")
            } else {
                write!(f, "{m}m{sec}s")
            }
        } else if s >= 1 {
            write!(f, "{:.1}s", d.as_secs_f64())
        } else if d.as_millis() >= 1 {
            write!(f, "{}ms", d.as_millis())
        } else if d.as_micros() >= 1 {
            write!(f, "{}us", d.as_micros())
        } else {
            write!(f, "{}ns", d.as_nanos())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_unit_and_sums_parts() {
        let cases = [
            ("0", Duration::ZERO),
            ("0s", Duration::ZERO),
            ("7ns", Duration::from_nanos(7)),
            ("3us", Duration::from_micros(3)),
            ("3µs", Duration::from_micros(3)),
            ("2d", Duration::from_secs(172_800)),
            ("1h1m1s1ms", Duration::from_millis(3_661_001)),
            ("5min", Duration::from_secs(300)),
            (".5s", Duration::from_millis(500)),
            ("0.001ms", Duration::from_micros(1)),
            (" 14h20m ", Duration::from_secs(14 * 3600 + 20 * 60)),
        ];
        for (text, expected) in cases {
            assert_eq!(parse_duration(text).unwrap(), expected, "{text}");
        }
    }

    #[test]
    fn rejects_with_reasons() {
        let err = |t: &str| parse_duration(t).unwrap_err().to_string();
        assert!(err("").contains("empty"));
        assert!(err("90").contains("no unit"));
        assert!(err("5x").contains("unknown unit `x`"));
        assert!(err("h").contains("expected a number"));
        assert!(err("1.2.3s").contains("not a number"));
        assert!(err("-5s").contains("expected a number"));
        assert!(err("99999999999999999999999d").contains("too long"));
        // A whole part that fits u128 nanoseconds with a fraction that
        // does not: an error, not a wrapped sum (release used to answer
        // about 20.6 h).
        let near = (u128::MAX / 86_400_000_000_000).to_string();
        assert!(err(&format!("{near}.99999999d")).contains("too long"));
        assert!(err(&format!("{near}.{}d", "9".repeat(5_000))).contains("too long"));
        assert!(err("18446744073709551616s").contains("too long"));
        assert_eq!(
            parse_duration("18446744073709551615.999999999s").unwrap(),
            Duration::MAX
        );
    }

    #[test]
    fn formats_round_trip() {
        for nanos in [
            1u64,
            999,
            1_000,
            61_000_000_000,
            3_600_000_000_001,
            90_061_500_000_000,
        ] {
            let d = Duration::from_nanos(nanos);
            let text = Text(d).to_string();
            assert_eq!(parse_duration(&text).unwrap(), d, "{text}");
        }
        assert_eq!(Short(Duration::from_millis(1_234)).to_string(), "1.2s");
        assert_eq!(Short(Duration::from_secs(8_100)).to_string(), "2h15m");
    }
}
