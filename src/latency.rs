//! Latency distributions.

use std::time::Duration;

use rand::Rng;
use rand_distr::{Distribution, LogNormal, Normal, Pareto};

use crate::ConfigError;
use crate::rng::SplitMix;

/// How long a latency fault waits: a fixed delay or a distribution, sampled
/// per request with nanosecond precision, optionally clamped.
///
/// Parameters are checked when the fault set is installed; negative samples
/// (possible with [`normal`](Self::normal)) become zero.
///
/// # Limits
///
/// Every duration a latency is given (a fixed delay, uniform bounds, a mean,
/// standard deviation, median or scale, clamp bounds) must be at most
/// [`Latency::MAX_DELAY`] (365 days); a longer one is a
/// [`ConfigError`] naming the field when the fault set is installed, never
/// shortened. Samples of the unbounded distributions (normal, log-normal,
/// Pareto) that land beyond it are drawn as `MAX_DELAY`: a heavy tail can
/// draw astronomically large values, and a delay of a year is a hang for
/// any test. Sampling never panics, whatever the parameters.
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
pub(crate) enum Dist {
    Fixed(Duration),
    Uniform(Duration, Duration),
    /// `base ± jitter`: drawn as `Uniform(base - jitter, base + jitter)`,
    /// kept apart so that `jitter <= base` is checked and files write it
    /// back as written.
    Jittered {
        base: Duration,
        jitter: Duration,
    },
    // Durations kept as given, so the limit is checked to the nanosecond.
    Normal {
        mean: Duration,
        std_dev: Duration,
    },
    LogNormal {
        median: Duration,
        sigma: f64,
    },
    Pareto {
        scale: Duration,
        shape: f64,
    },
}

/// A fixed delay: `Latency::from(d)` is [`Latency::fixed(d)`](Latency::fixed),
/// so that latency constructors taking `impl Into<Latency>` accept a plain
/// `Duration` as well as a distribution.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::Latency;
/// let d = Duration::from_millis(250);
/// assert_eq!(Latency::from(d), Latency::fixed(d));
/// ```
impl From<Duration> for Latency {
    fn from(delay: Duration) -> Self {
        Self::fixed(delay)
    }
}

impl Latency {
    /// The longest duration a latency accepts as a parameter, and the
    /// longest delay it samples (365 days, as
    /// `io::MAX_FAULT_DURATION` for connection faults).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::{ChaosLayer, Fault, Latency};
    ///
    /// assert_eq!(Latency::MAX_DELAY, Duration::from_secs(365 * 24 * 3600));
    /// let too_long = Latency::fixed(Latency::MAX_DELAY + Duration::from_nanos(1));
    /// let err = ChaosLayer::builder("db").fault(Fault::<()>::latency(too_long)).build().unwrap_err();
    /// assert!(err.to_string().starts_with("invalid `latency.fixed` = 31536000.000000001s"), "{err}");
    /// ```
    pub const MAX_DELAY: Duration = Duration::from_secs(365 * 24 * 3600);

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

    /// `base ± jitter`, uniform over `base - jitter ..= base + jitter`:
    /// toxiproxy's latency toxic (`latency` and `jitter`), with the jitter
    /// checked not to exceed the base (toxiproxy lets the sum go negative;
    /// a [`ConfigError`] naming `latency.jittered.jitter` here, when the
    /// fault set is installed or built).
    ///
    /// Samples are exactly those of
    /// [`uniform(base - jitter, base + jitter)`](Self::uniform) from the
    /// same seed.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::Latency;
    /// let ms = Duration::from_millis;
    /// let l = Latency::jittered(ms(50), ms(10));
    /// assert_eq!(l.mean(), Some(ms(50)));
    /// assert_eq!(l.sample_with_seed(4), Latency::uniform(ms(40), ms(60)).sample_with_seed(4));
    /// assert!((ms(40)..=ms(60)).contains(&l.sample_with_seed(9)));
    /// ```
    #[must_use]
    pub const fn jittered(base: Duration, jitter: Duration) -> Self {
        Self::from_dist(Dist::Jittered { base, jitter })
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
        Self::from_dist(Dist::Normal { mean, std_dev })
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
        Self::from_dist(Dist::LogNormal { median, sigma })
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
        Self::from_dist(Dist::Pareto { scale, shape })
    }

    /// The distribution and the clamp, as built (scenario files write
    /// them back).
    #[cfg(feature = "serde")]
    pub(crate) const fn parts(&self) -> (Dist, Option<(Duration, Duration)>) {
        (self.dist, self.clamp)
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

    /// The distribution's mean before clamping, `None` where it is infinite
    /// (or beyond what a [`Duration`] holds).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::Latency;
    /// // No overflow, even on parameters a fault set would reject.
    /// assert_eq!(Latency::uniform(Duration::MAX, Duration::MAX).mean(), Some(Duration::MAX));
    /// ```
    #[must_use]
    pub fn mean(&self) -> Option<Duration> {
        let secs = match self.dist {
            Dist::Fixed(d) => return Some(d),
            // `(a + b) / 2` overflows near `Duration::MAX`; this is the same
            // value (both round down to the nanosecond).
            Dist::Uniform(a, b) => return Some(a.min(b) + a.abs_diff(b) / 2),
            Dist::Jittered { base, .. } | Dist::Normal { mean: base, .. } => return Some(base),
            Dist::LogNormal { median, sigma } => median.as_secs_f64() * (sigma * sigma / 2.0).exp(),
            Dist::Pareto { scale, shape } if shape > 1.0 => scale.as_secs_f64() * shape / (shape - 1.0),
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
            Dist::Uniform(a, b) => return self.apply_clamp(uniform(a, b, rng)),
            Dist::Jittered { base, jitter } => {
                let (a, b) = (base.saturating_sub(jitter), base.saturating_add(jitter));
                return self.apply_clamp(uniform(a, b, rng));
            }
            // The constructors cannot fail once `validate` passed; a zero
            // delay is the harmless answer if they ever did.
            Dist::Normal { mean, std_dev } => {
                Normal::new(mean.as_secs_f64(), std_dev.as_secs_f64()).map_or(0.0, |d| d.sample(rng))
            }
            Dist::LogNormal { median, sigma } => {
                LogNormal::new(median.as_secs_f64().ln(), sigma).map_or(0.0, |d| d.sample(rng))
            }
            Dist::Pareto { scale, shape } => {
                Pareto::new(scale.as_secs_f64(), shape).map_or(0.0, |d| d.sample(rng))
            }
        };
        let d = if secs.is_nan() || secs <= 0.0 {
            Duration::ZERO
        } else {
            Duration::try_from_secs_f64(secs)
                .unwrap_or(Self::MAX_DELAY)
                .min(Self::MAX_DELAY)
        };
        self.apply_clamp(d)
    }

    fn apply_clamp(&self, d: Duration) -> Duration {
        match self.clamp {
            // `Duration::clamp` panics on `min > max`; a sample taken
            // without validation (`sample_with_seed`) must not.
            Some((min, max)) => d.max(min).min(max),
            None => d,
        }
    }

    /// The largest delay a sample can take, when the distribution is
    /// bounded (fixed, uniform, jittered, or clamped; a clamp's minimum
    /// counts: `fixed(0).clamp(5ms, 9ms)` draws 5 ms).
    #[cfg(feature = "io")]
    pub(crate) fn most(&self) -> Option<Duration> {
        let dist = match self.dist {
            Dist::Fixed(d) | Dist::Uniform(_, d) => Some(d),
            Dist::Jittered { base, jitter } => Some(base.saturating_add(jitter)),
            _ => None,
        };
        match (dist, self.clamp) {
            (Some(d), Some(_)) => Some(self.apply_clamp(d)),
            (None, Some((_, max))) => Some(max),
            (d, None) => d,
        }
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        let positive =
            |field, v: f64| ConfigError::ensure(v.is_finite() && v > 0.0, field, v, "must be finite and > 0");
        let nonzero = |field, d: Duration| ConfigError::ensure(!d.is_zero(), field, d, "must be > 0");
        let within = |field, d: Duration| {
            ConfigError::ensure(d <= Self::MAX_DELAY, field, d, "must be at most 365 days")
        };
        match self.dist {
            Dist::Fixed(d) => within("latency.fixed", d)?,
            Dist::Uniform(a, b) if a > b => {
                return Err(ConfigError::min_above_max("latency.uniform", a, b));
            }
            Dist::Uniform(a, b) => {
                within("latency.uniform.min", a)?;
                within("latency.uniform.max", b)?;
            }
            Dist::Jittered { base, jitter } => {
                within("latency.jittered.base", base)?;
                within("latency.jittered.jitter", jitter)?;
                let reason = "must not exceed the base latency";
                ConfigError::ensure(jitter <= base, "latency.jittered.jitter", jitter, reason)?;
            }
            Dist::Normal { mean, std_dev } => {
                within("latency.normal.mean", mean)?;
                within("latency.normal.std_dev", std_dev)?;
            }
            Dist::LogNormal { median, sigma } => {
                nonzero("latency.log_normal.median", median)?;
                within("latency.log_normal.median", median)?;
                let ok = sigma.is_finite() && sigma >= 0.0;
                ConfigError::ensure(ok, "latency.log_normal.sigma", sigma, "must be finite and >= 0")?;
            }
            Dist::Pareto { scale, shape } => {
                nonzero("latency.pareto.scale", scale)?;
                within("latency.pareto.scale", scale)?;
                positive("latency.pareto.shape", shape)?;
            }
        }
        if let Some((min, max)) = self.clamp {
            if min > max {
                return Err(ConfigError::min_above_max("latency.clamp", min, max));
            }
            within("latency.clamp.max", max)?;
        }
        Ok(())
    }
}

/// A uniform draw in `min(a, b)..=max(a, b)`, to the nanosecond, for any
/// two durations. Spans that fit in a `u64` of nanoseconds (all those a
/// fault set accepts) draw exactly as they always have, so seeds replay.
fn uniform(a: Duration, b: Duration, rng: &mut impl Rng) -> Duration {
    const NANOS: u128 = 1_000_000_000;
    let (lo, span) = (a.min(b), a.abs_diff(b).as_nanos());
    let offset = match u64::try_from(span) {
        Ok(u64::MAX) => u128::from(rng.next_u64()),
        Ok(span) => u128::from(rng.next_u64() % (span + 1)),
        // Longer than 584 years: two words, still uniform enough for a
        // value no fault set accepts.
        Err(_) => {
            let wide = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
            wide % (span + 1)
        }
    };
    // `offset <= span` and `lo + span` is a `Duration`: no overflow, and
    // the seconds fit a `u64` because the span's do.
    let offset = Duration::new(
        u64::try_from(offset / NANOS).unwrap_or(u64::MAX),
        (offset % NANOS) as u32,
    );
    lo.saturating_add(offset)
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

    #[test]
    fn uniform_near_the_nanosecond_limits_draws_within_bounds() {
        // Issue 10: `as_nanos() as u64` cut `u64::MAX + 1` ns to 0, and
        // `b - a` overflowed (a panic in debug, 0 ns in release).
        let a = Duration::from_nanos(u64::MAX);
        let b = a + Duration::from_nanos(1);
        for (lo, hi) in [
            (a, b),
            (Duration::ZERO, Duration::MAX),
            (Duration::MAX, Duration::MAX),
            (Duration::MAX - Duration::from_nanos(3), Duration::MAX),
            (Duration::ZERO, a),
        ] {
            let l = Latency::uniform(lo, hi);
            let drawn: Vec<_> = (0..200).map(|s| l.sample_with_seed(s)).collect();
            assert!(drawn.iter().all(|d| (lo..=hi).contains(d)), "{lo:?}..={hi:?}");
            if hi - lo == Duration::from_nanos(1) {
                assert!(drawn.contains(&lo) && drawn.contains(&hi), "both ends are drawn");
            }
        }
        // Parameters a fault set rejects still sample without panicking.
        let reversed = Latency::uniform(Duration::MAX, Duration::ZERO).clamp(MS, Duration::ZERO);
        let _ = reversed.sample_with_seed(1);
    }

    #[test]
    fn spans_that_fit_a_u64_draw_as_before() {
        // The seeds of existing suites must replay: below `u64::MAX` ns the
        // draw is `lo + bits % (span + 1)`, as it always was.
        let l = Latency::uniform(MS, 3 * MS);
        let bits = SplitMix::new(11).next_u64();
        assert_eq!(
            l.sample_with_seed(11),
            MS + Duration::from_nanos(bits % (2_000_000 + 1))
        );
    }

    #[test]
    fn jittered_draws_as_the_uniform_around_its_base_and_refuses_a_jitter_above_it() {
        let l = Latency::jittered(50 * MS, 10 * MS);
        let u = Latency::uniform(40 * MS, 60 * MS);
        for seed in 0..500 {
            assert_eq!(l.sample_with_seed(seed), u.sample_with_seed(seed), "seed {seed}");
        }
        #[cfg(feature = "io")]
        assert_eq!(l.most(), Some(60 * MS));
        assert_eq!(Latency::jittered(5 * MS, 5 * MS).validate(), Ok(()));
        assert_eq!(
            Latency::jittered(5 * MS, 6 * MS)
                .validate()
                .unwrap_err()
                .to_string(),
            "invalid `latency.jittered.jitter` = 6ms: must not exceed the base latency"
        );
        let over = Latency::MAX_DELAY + Duration::from_nanos(1);
        assert!(
            Latency::jittered(over, MS)
                .validate()
                .unwrap_err()
                .to_string()
                .starts_with("invalid `latency.jittered.base`")
        );
        // Out-of-range parameters still sample without panicking.
        let _ = Latency::jittered(Duration::MAX, Duration::MAX).sample_with_seed(1);
    }

    #[test]
    fn mean_never_overflows() {
        assert_eq!(
            Latency::uniform(Duration::MAX, Duration::MAX).mean(),
            Some(Duration::MAX)
        );
        assert_eq!(
            Latency::uniform(Duration::from_nanos(1), Duration::from_nanos(4)).mean(),
            Some(Duration::from_nanos(2))
        );
        assert_eq!(Latency::normal(Duration::MAX, MS).mean(), Some(Duration::MAX));
        assert_eq!(Latency::pareto(Duration::MAX, 2.0).mean(), None);
        assert_eq!(Latency::log_normal(MS, 1e10).mean(), None);
    }

    #[test]
    fn every_duration_is_checked_against_the_limit() {
        let over = Latency::MAX_DELAY + Duration::from_nanos(1);
        let max = Latency::MAX_DELAY;
        let err = |l: Latency| l.validate().unwrap_err().to_string();
        for (l, field) in [
            (Latency::fixed(over), "latency.fixed"),
            (Latency::fixed(Duration::MAX), "latency.fixed"),
            (Latency::uniform(over, over), "latency.uniform.min"),
            (Latency::uniform(MS, over), "latency.uniform.max"),
            (Latency::normal(over, MS), "latency.normal.mean"),
            (Latency::normal(MS, Duration::MAX), "latency.normal.std_dev"),
            (
                Latency::log_normal(Duration::MAX, 1.0),
                "latency.log_normal.median",
            ),
            (Latency::pareto(over, 2.0), "latency.pareto.scale"),
            (Latency::fixed(MS).clamp(MS, over), "latency.clamp.max"),
        ] {
            let e = err(l);
            assert!(e.starts_with(&format!("invalid `{field}` = ")), "{e}");
            assert!(e.ends_with("must be at most 365 days"), "{e}");
        }
        // The limit itself is accepted, and sampled as given.
        for l in [
            Latency::fixed(max),
            Latency::uniform(max, max),
            Latency::uniform(Duration::ZERO, max),
            Latency::normal(max, max),
            Latency::pareto(max, 2.0),
            Latency::fixed(max).clamp(max, max),
        ] {
            l.validate().unwrap();
            assert!(l.sample_with_seed(3) <= max);
        }
        assert_eq!(Latency::fixed(max).sample_with_seed(3), max);
    }

    #[test]
    fn unbounded_tails_are_drawn_at_most_the_limit() {
        for l in [
            Latency::pareto(MS, 1e-9),
            Latency::log_normal(Latency::MAX_DELAY, 1e6),
            Latency::normal(Latency::MAX_DELAY, Latency::MAX_DELAY),
        ] {
            l.validate().unwrap();
            let v: Vec<_> = (0..100).map(|s| l.sample_with_seed(s)).collect();
            assert!(v.iter().all(|d| *d <= Latency::MAX_DELAY), "{l:?}");
            assert!(v.contains(&Latency::MAX_DELAY), "{l:?}");
        }
    }
}
