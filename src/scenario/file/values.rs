//! Values checked while deserialising: durations as text, rates, positive
//! and non-negative numbers, latencies.

use std::fmt;
use std::time::Duration;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Unexpected, Visitor};

use crate::scenario::duration::Text;
use crate::scenario::{MAX_DURATION, parse_duration};
use crate::{Capacity, Latency};

/// A duration as text (`"90s"`, `"2h15m"`).
pub(crate) struct DurationText(pub(crate) Duration);

impl<'de> Deserialize<'de> for DurationText {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = DurationText;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration as text, such as \"90s\", \"2h15m\" or \"500ms\"")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<DurationText, E> {
                limited(v).map(DurationText).map_err(E::custom)
            }
        }
        d.deserialize_str(V)
    }
}

/// A duration as text, at most [`MAX_DURATION`]: every duration of a
/// file is bounded, so no arithmetic on it can overflow.
fn limited(text: &str) -> Result<Duration, String> {
    let d = parse_duration(text).map_err(|e| e.to_string())?;
    if d > MAX_DURATION {
        return Err(format!(
            "duration {text:?} is longer than {}, the longest a scenario takes (MAX_DURATION)",
            Text(MAX_DURATION)
        ));
    }
    Ok(d)
}

/// A window relative to the phase's start: `{ from, to }`.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WindowFile {
    from: DurationText,
    to: DurationText,
}

impl WindowFile {
    /// `(from, to)`, with `from` not after `to`.
    pub(crate) fn checked(self) -> Result<(Duration, Duration), String> {
        if self.from.0 > self.to.0 {
            return Err(format!(
                "`window.from` ({}) is after `window.to` ({})",
                Text(self.from.0),
                Text(self.to.0)
            ));
        }
        Ok((self.from.0, self.to.0))
    }
}

/// An overload capacity: `{ capacity, per }` (`per` 1 s by default).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct OverloadFile {
    capacity: Positive,
    per: Option<DurationText>,
}

impl OverloadFile {
    /// The capacity, with a window longer than zero.
    pub(crate) fn checked(self) -> Result<Capacity, String> {
        let per = self.per.map_or(Duration::from_secs(1), |d| d.0);
        if per.is_zero() {
            return Err("`overload.per` must be longer than zero".to_owned());
        }
        Ok(Capacity::per(self.capacity.0, per))
    }
}

/// A probability within `0.0..=1.0`.
pub(crate) struct Rate(pub(crate) f64);

impl<'de> Deserialize<'de> for Rate {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number(d, "a rate within 0.0..=1.0", |v| (0.0..=1.0).contains(&v)).map(Self)
    }
}

/// A finite number > 0.
pub(crate) struct Positive(pub(crate) f64);

impl<'de> Deserialize<'de> for Positive {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number(d, "a finite number > 0", |v| v.is_finite() && v > 0.0).map(Self)
    }
}

/// A finite number >= 0.
pub(crate) struct NonNegative(pub(crate) f64);

impl<'de> Deserialize<'de> for NonNegative {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        number(d, "a finite number >= 0", |v| v.is_finite() && v >= 0.0).map(Self)
    }
}

/// A number, integer or not, that `accept` takes; the error says what was
/// `expected`.
fn number<'de, D: Deserializer<'de>>(
    d: D,
    expected: &'static str,
    accept: fn(f64) -> bool,
) -> Result<f64, D::Error> {
    struct V {
        expected: &'static str,
        accept: fn(f64) -> bool,
    }
    impl V {
        fn check<E: de::Error>(&self, v: f64, as_written: Unexpected<'_>) -> Result<f64, E> {
            if (self.accept)(v) {
                Ok(v)
            } else {
                Err(E::invalid_value(as_written, self))
            }
        }
    }
    impl Visitor<'_> for V {
        type Value = f64;

        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.expected)
        }

        fn visit_f64<E: de::Error>(self, v: f64) -> Result<f64, E> {
            self.check(v, Unexpected::Float(v))
        }

        fn visit_u64<E: de::Error>(self, v: u64) -> Result<f64, E> {
            self.check(v as f64, Unexpected::Unsigned(v))
        }

        fn visit_i64<E: de::Error>(self, v: i64) -> Result<f64, E> {
            match u64::try_from(v) {
                Ok(u) => self.visit_u64(u),
                Err(_) => self.check(v as f64, Unexpected::Signed(v)),
            }
        }
    }
    d.deserialize_f64(V { expected, accept })
}

/// A latency: `"200ms"` (fixed), or a table with one distribution and an
/// optional clamp: `{ fixed = "200ms" }`, `{ uniform = { min, max } }`,
/// `{ jittered = { base, jitter } }` (toxiproxy's latency ± jitter),
/// `{ normal = { mean, std_dev } }`, `{ log_normal = { median, sigma } }`,
/// `{ pareto = { scale, shape } }`, plus `clamp = { min, max }`.
pub(crate) struct LatencyFile(pub(crate) Latency);

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct MinMax {
    min: DurationText,
    max: DurationText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct JitteredFile {
    base: DurationText,
    jitter: DurationText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NormalFile {
    mean: DurationText,
    std_dev: DurationText,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct LogNormalFile {
    median: DurationText,
    sigma: NonNegative,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ParetoFile {
    scale: DurationText,
    shape: Positive,
}

const LATENCY_FIELDS: &[&str] = &[
    "fixed",
    "uniform",
    "jittered",
    "normal",
    "log_normal",
    "pareto",
    "clamp",
];

impl<'de> Deserialize<'de> for LatencyFile {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = LatencyFile;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(
                    "a latency: a duration such as \"200ms\", or a table with one of fixed, uniform, \
                     jittered, normal, log_normal, pareto (and optionally clamp)",
                )
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<LatencyFile, E> {
                limited(v)
                    .map(|d| LatencyFile(Latency::fixed(d)))
                    .map_err(E::custom)
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<LatencyFile, A::Error> {
                let mut dist: Option<Latency> = None;
                let mut clamp: Option<MinMax> = None;
                while let Some(key) = map.next_key::<String>()? {
                    let next = match key.as_str() {
                        "fixed" => Latency::fixed(map.next_value::<DurationText>()?.0),
                        "uniform" => {
                            let m: MinMax = map.next_value()?;
                            Latency::uniform(m.min.0, m.max.0)
                        }
                        "jittered" => {
                            let j: JitteredFile = map.next_value()?;
                            Latency::jittered(j.base.0, j.jitter.0)
                        }
                        "normal" => {
                            let n: NormalFile = map.next_value()?;
                            Latency::normal(n.mean.0, n.std_dev.0)
                        }
                        "log_normal" => {
                            let n: LogNormalFile = map.next_value()?;
                            Latency::log_normal(n.median.0, n.sigma.0)
                        }
                        "pareto" => {
                            let p: ParetoFile = map.next_value()?;
                            Latency::pareto(p.scale.0, p.shape.0)
                        }
                        "clamp" => {
                            if clamp.is_some() {
                                return Err(de::Error::duplicate_field("clamp"));
                            }
                            clamp = Some(map.next_value()?);
                            continue;
                        }
                        other => return Err(de::Error::unknown_field(other, LATENCY_FIELDS)),
                    };
                    if dist.is_some() {
                        return Err(de::Error::custom(format!(
                            "a latency has one distribution; `{key}` is a second one"
                        )));
                    }
                    dist = Some(next);
                }
                let Some(mut latency) = dist else {
                    return Err(de::Error::custom(
                        "a latency needs one of fixed, uniform, jittered, normal, log_normal, pareto",
                    ));
                };
                if let Some(c) = clamp {
                    latency = latency.clamp(c.min.0, c.max.0);
                }
                // What a fault set would refuse when a rehearsal installs
                // it (a minimum above its maximum, a median or scale of
                // zero), refused here, at the latency's own position.
                latency.validate().map_err(de::Error::custom)?;
                Ok(LatencyFile(latency))
            }
        }
        d.deserialize_any(V)
    }
}
