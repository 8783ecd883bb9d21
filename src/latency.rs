//! Latency distributions.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal, Normal, Pareto};

use crate::ConfigError;
use crate::rng::SplitMix;

/// The longest delay a sample may produce when no clamp is set: heavy tails
/// (Pareto) can draw astronomically large values, and a delay of a year is
/// as good as a hang for any test.
const CEILING: Duration = Duration::from_secs(365 * 24 * 3600);

/// How long a latency fault waits: a fixed delay or a distribution, sampled
/// per request with nanosecond precision, optionally clamped.
///
/// Parameters are checked when the fault set is installed; negative samples
/// (possible with [`normal`](Self::normal)) become zero.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::Latency;
///
/// let ms = Duration::from_millis;
/// let fixed = Latency::fixed(Duration::from_micros(250));
/// let uniform = Latency::uniform(ms(10), ms(20));
/// let tail = Latency::log_normal(ms(20), 0.8).clamp(ms(1), ms(2_000));
/// let pareto = Latency::pareto(ms(5), 1.5);
/// assert_eq!(fixed, Latency::fixed(Duration::from_nanos(250_000)));
/// # let _ = (uniform, tail, pareto);
/// ```
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Latency {
    dist: Dist,
    clamp: Option<(Duration, Duration)>,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Dist {
    Fixed(Duration),
    Uniform(Duration, Duration),
    Normal { mean: f64, std_dev: f64 },
    LogNormal { median: f64, sigma: f64 },
    Pareto { scale: f64, shape: f64 },
}

impl Latency {
    const fn from_dist(dist: Dist) -> Self {
        Self { dist, clamp: None }
    }

    /// Always `delay`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::Latency;
    /// assert_eq!(Latency::fixed(Duration::from_millis(5)).mean(), Some(Duration::from_millis(5)));
    /// ```
    #[must_use]
    pub const fn fixed(delay: Duration) -> Self {
        Self::from_dist(Dist::Fixed(delay))
    }

    /// Uniform in `min..=max` (checked: `min <= max`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::Latency;
    /// let l = Latency::uniform(Duration::from_millis(10), Duration::from_millis(30));
    /// assert_eq!(l.mean(), Some(Duration::from_millis(20)));
    /// ```
    #[must_use]
    pub const fn uniform(min: Duration, max: Duration) -> Self {
        Self::from_dist(Dist::Uniform(min, max))
    }

    /// Normal (Gaussian) around `mean` with standard deviation `std_dev`;
    /// negative samples become zero, so clamp or keep `std_dev` well below
    /// `mean`.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::Latency;
    /// let l = Latency::normal(Duration::from_millis(50), Duration::from_millis(5));
    /// assert_eq!(l.mean(), Some(Duration::from_millis(50)));
    /// ```
    #[must_use]
    pub fn normal(mean: Duration, std_dev: Duration) -> Self {
        Self::from_dist(Dist::Normal {
            mean: mean.as_secs_f64(),
            std_dev: std_dev.as_secs_f64(),
        })
    }

    /// Log-normal with the given `median` and shape `sigma` (the standard
    /// deviation of the logarithm; 0.5 is a moderate tail, 1.0 a heavy
    /// one). The usual shape of service latency.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::Latency;
    /// let l = Latency::log_normal(Duration::from_millis(20), 0.5);
    /// assert!(l.mean().unwrap() > Duration::from_millis(20));
    /// ```
    #[must_use]
    pub fn log_normal(median: Duration, sigma: f64) -> Self {
        Self::from_dist(Dist::LogNormal {
            median: median.as_secs_f64(),
            sigma,
        })
    }

    /// Pareto with minimum `scale` and tail index `shape` (smaller is
    /// heavier; at or below 1 the mean is infinite).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::Latency;
    /// assert_eq!(Latency::pareto(Duration::from_millis(10), 1.0).mean(), None);
    /// assert_eq!(Latency::pareto(Duration::from_millis(10), 2.0).mean(), Some(Duration::from_millis(20)));
    /// ```
    #[must_use]
    pub fn pareto(scale: Duration, shape: f64) -> Self {
        Self::from_dist(Dist::Pareto {
            scale: scale.as_secs_f64(),
            shape,
        })
    }

    /// Keeps every sample within `min..=max` (checked: `min <= max`).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::Latency;
    /// let l = Latency::fixed(Duration::from_secs(9)).clamp(Duration::ZERO, Duration::from_secs(1));
    /// assert_eq!(l.sample_with_seed(1), Duration::from_secs(1));
    /// ```
    #[must_use]
    pub const fn clamp(mut self, min: Duration, max: Duration) -> Self {
        self.clamp = Some((min, max));
        self
    }

    /// The distribution's mean before clamping, `None` where it is infinite.
    #[must_use]
    pub fn mean(&self) -> Option<Duration> {
        let secs = match self.dist {
            Dist::Fixed(d) => return Some(d),
            Dist::Uniform(a, b) => return Some((a + b) / 2),
            Dist::Normal { mean, .. } => mean,
            Dist::LogNormal { median, sigma } => median * (sigma * sigma / 2.0).exp(),
            Dist::Pareto { scale, shape } if shape > 1.0 => scale * shape / (shape - 1.0),
            Dist::Pareto { .. } => return None,
        };
        Duration::try_from_secs_f64(secs).ok()
    }

    /// Draws one delay from a generator seeded with `seed` (what the layers
    /// do per request, with a seed derived from the target's). Useful to
    /// preview a distribution in a test.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::Latency;
    /// let l = Latency::uniform(Duration::from_millis(1), Duration::from_millis(2));
    /// assert_eq!(l.sample_with_seed(7), l.sample_with_seed(7));
    /// ```
    #[must_use]
    pub fn sample_with_seed(&self, seed: u64) -> Duration {
        self.sample(&mut SplitMix::new(seed))
    }

    pub(crate) fn sample(&self, rng: &mut impl Rng) -> Duration {
        let secs = match self.dist {
            Dist::Fixed(d) => return self.apply_clamp(d),
            Dist::Uniform(a, b) => {
                let (a, b) = (a.as_nanos() as u64, b.as_nanos() as u64);
                let span = b - a;
                let offset = if span == u64::MAX {
                    rng.next_u64()
                } else {
                    rng.next_u64() % (span + 1)
                };
                return self.apply_clamp(Duration::from_nanos(a + offset));
            }
            // The constructors cannot fail once `validate` passed; a zero
            // delay is the harmless answer if they ever did.
            Dist::Normal { mean, std_dev } => Normal::new(mean, std_dev).map_or(0.0, |d| d.sample(rng)),
            Dist::LogNormal { median, sigma } => {
                LogNormal::new(median.ln(), sigma).map_or(0.0, |d| d.sample(rng))
            }
            Dist::Pareto { scale, shape } => Pareto::new(scale, shape).map_or(0.0, |d| d.sample(rng)),
        };
        let d = if secs.is_nan() || secs <= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(secs).unwrap_or(CEILING).min(CEILING)
        };
        self.apply_clamp(d)
    }

    fn apply_clamp(&self, d: Duration) -> Duration {
        match self.clamp {
            Some((min, max)) => d.clamp(min, max),
            None => d,
        }
    }

    /// The largest delay a sample can take, when the distribution is
    /// bounded (fixed, uniform, or clamped).
    #[cfg(feature = "io")]
    pub(crate) fn most(&self) -> Option<Duration> {
        let dist = match self.dist {
            Dist::Fixed(d) | Dist::Uniform(_, d) => Some(d),
            _ => None,
        };
        match (dist, self.clamp) {
            (Some(d), Some((_, max))) => Some(d.min(max)),
            (None, Some((_, max))) => Some(max),
            (d, None) => d,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let positive = |field, v: f64| {
            if v.is_finite() && v > 0.0 {
                Ok(())
            } else {
                Err(ConfigError::invalid(field, v, "must be finite and > 0"))
            }
        };
        match self.dist {
            Dist::Fixed(_) => {}
            Dist::Uniform(a, b) if a > b => {
                return Err(ConfigError::min_above_max("latency.uniform", a, b));
            }
            Dist::Uniform(..) => {}
            Dist::Normal { mean, std_dev } => {
                if !(mean.is_finite() && std_dev.is_finite()) {
                    return Err(ConfigError::invalid(
                        "latency.normal.std_dev",
                        std_dev,
                        "must be finite",
                    ));
                }
            }
            Dist::LogNormal { median, sigma } => {
                positive("latency.log_normal.median", median)?;
                if !(sigma.is_finite() && sigma >= 0.0) {
                    return Err(ConfigError::invalid(
                        "latency.log_normal.sigma",
                        sigma,
                        "must be finite and >= 0",
                    ));
                }
            }
            Dist::Pareto { scale, shape } => {
                positive("latency.pareto.scale", scale)?;
                positive("latency.pareto.shape", shape)?;
            }
        }
        if let Some((min, max)) = self.clamp {
            if min > max {
                return Err(ConfigError::min_above_max("latency.clamp", min, max));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: Duration = Duration::from_millis(1);

    fn samples(l: Latency, n: u64) -> Vec<Duration> {
        l.validate().unwrap();
        (0..n).map(|i| l.sample_with_seed(i)).collect()
    }

    fn mean(v: &[Duration]) -> f64 {
        v.iter().map(Duration::as_secs_f64).sum::<f64>() / v.len() as f64
    }

    #[test]
    fn uniform_stays_in_range_with_sub_millisecond_precision() {
        let v = samples(
            Latency::uniform(Duration::from_micros(100), Duration::from_micros(300)),
            5_000,
        );
        assert!(
            v.iter()
                .all(|d| (Duration::from_micros(100)..=Duration::from_micros(300)).contains(d))
        );
        assert!(v.iter().any(|d| d.subsec_nanos() % 1_000_000 != 0));
        assert!((mean(&v) - 200e-6).abs() < 5e-6, "{}", mean(&v));
    }

    #[test]
    fn normal_mean_and_non_negative() {
        let v = samples(Latency::normal(50 * MS, 10 * MS), 10_000);
        assert!((mean(&v) - 0.050).abs() < 0.001, "{}", mean(&v));
        let v = samples(Latency::normal(MS, 10 * MS), 1_000);
        assert!(v.contains(&Duration::ZERO));
    }

    #[test]
    fn log_normal_median() {
        let mut v = samples(Latency::log_normal(20 * MS, 0.5), 10_001);
        v.sort();
        let median = v[5_000].as_secs_f64();
        assert!((median - 0.020).abs() < 0.001, "{median}");
    }

    #[test]
    fn pareto_minimum_and_tail() {
        let v = samples(Latency::pareto(5 * MS, 1.2), 10_000);
        assert!(v.iter().all(|d| *d >= 5 * MS));
        assert!(
            v.iter().any(|d| *d > 500 * MS),
            "a heavy tail reaches 100x the scale"
        );
    }

    #[test]
    fn clamp_bounds_samples() {
        let v = samples(Latency::pareto(5 * MS, 0.5).clamp(6 * MS, 100 * MS), 2_000);
        assert!(v.iter().all(|d| (6 * MS..=100 * MS).contains(d)));
    }

    #[test]
    fn bad_parameters_are_named() {
        let err = |l: Latency| l.validate().unwrap_err().to_string();
        assert!(err(Latency::uniform(2 * MS, MS)).contains("latency.uniform"));
        assert!(err(Latency::log_normal(MS, f64::NAN)).contains("`latency.log_normal.sigma` = NaN"));
        assert!(err(Latency::log_normal(MS, -1.0)).contains("-1.0"));
        assert!(err(Latency::log_normal(Duration::ZERO, 1.0)).contains("latency.log_normal.median"));
        assert!(err(Latency::pareto(MS, 0.0)).contains("`latency.pareto.shape` = 0.0"));
        assert!(err(Latency::pareto(Duration::ZERO, 1.0)).contains("latency.pareto.scale"));
        assert!(err(Latency::fixed(MS).clamp(2 * MS, MS)).contains("latency.clamp"));
    }
}
