//! A small log-linear latency histogram (about 3% relative precision).

use std::collections::BTreeMap;
use std::time::Duration;

/// Sub-buckets per power of two: 32 (5 bits), i.e. at most 1/32 relative
/// error on a reported percentile.
const SUB_BITS: u32 = 5;
const SUB: u64 = 1 << SUB_BITS;

#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Histogram {
    buckets: BTreeMap<u32, u64>,
    count: u64,
    min: Duration,
    max: Duration,
}

fn bucket(nanos: u64) -> u32 {
    if nanos < 2 * SUB {
        return nanos as u32;
    }
    let exp = 63 - nanos.leading_zeros();
    let sub = (nanos >> (exp - SUB_BITS)) & (SUB - 1);
    (2 * SUB) as u32 + (exp - SUB_BITS - 1) * SUB as u32 + sub as u32
}

/// The lowest value of a bucket.
fn floor(bucket: u32) -> u64 {
    let b = u64::from(bucket);
    if b < 2 * SUB {
        return b;
    }
    let exp = (b - 2 * SUB) / SUB + u64::from(SUB_BITS) + 1;
    let sub = (b - 2 * SUB) % SUB;
    (SUB + sub) << (exp - u64::from(SUB_BITS))
}

impl Histogram {
    pub(crate) fn record(&mut self, d: Duration) {
        let nanos = u64::try_from(d.as_nanos()).unwrap_or(u64::MAX);
        *self.buckets.entry(bucket(nanos)).or_default() += 1;
        self.min = if self.count == 0 { d } else { self.min.min(d) };
        self.count += 1;
        self.max = self.max.max(d);
    }

    pub(crate) fn merge(&mut self, other: &Self) {
        for (b, n) in &other.buckets {
            *self.buckets.entry(*b).or_default() += n;
        }
        if other.count > 0 {
            self.min = if self.count == 0 {
                other.min
            } else {
                self.min.min(other.min)
            };
        }
        self.count += other.count;
        self.max = self.max.max(other.max);
    }

    pub(crate) const fn count(&self) -> u64 {
        self.count
    }

    pub(crate) const fn max(&self) -> Duration {
        self.max
    }

    /// The `q` quantile (`0.0..=1.0`), as the lower bound of its bucket
    /// (within the smallest and largest values seen, so identical samples
    /// give their value; the top rank is the maximum).
    pub(crate) fn quantile(&self, q: f64) -> Option<Duration> {
        if self.count == 0 {
            return None;
        }
        let rank = ((q * self.count as f64).ceil() as u64).clamp(1, self.count);
        if rank == self.count {
            return Some(self.max);
        }
        let mut seen = 0;
        for (b, n) in &self.buckets {
            seen += n;
            if seen >= rank {
                return Some(Duration::from_nanos(floor(*b)).clamp(self.min, self.max));
            }
        }
        Some(self.max)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_monotonic_and_tight() {
        let mut last = 0;
        for v in (0..200_000u64).step_by(7).chain([u64::MAX / 3, u64::MAX]) {
            let b = bucket(v);
            assert!(b >= last, "{v}");
            last = b;
            let f = floor(b);
            assert!(f <= v && v - f <= v / SUB + 1, "{v} -> {f}");
        }
    }

    #[test]
    fn quantiles() {
        let mut h = Histogram::default();
        for ms in 1..=100 {
            h.record(Duration::from_millis(ms));
        }
        let p50 = h.quantile(0.5).unwrap().as_secs_f64();
        let p99 = h.quantile(0.99).unwrap().as_secs_f64();
        assert!((0.048..=0.050).contains(&p50), "{p50}");
        assert!((0.095..=0.099).contains(&p99), "{p99}");
        assert_eq!(h.quantile(1.0).unwrap(), Duration::from_millis(100));
        assert_eq!(Histogram::default().quantile(0.5), None);
    }

    #[test]
    fn identical_samples_give_their_value_also_after_a_merge() {
        let mut h = Histogram::default();
        for _ in 0..10 {
            h.record(Duration::from_millis(250));
        }
        // 250 ms falls in a bucket whose floor is 7.8 ms lower.
        assert!(Duration::from_nanos(floor(bucket(250_000_000))) < Duration::from_millis(249));
        assert_eq!(h.quantile(0.5), Some(Duration::from_millis(250)));
        let mut merged = Histogram::default();
        merged.merge(&Histogram::default());
        merged.merge(&h);
        assert_eq!(merged.quantile(0.5), Some(Duration::from_millis(250)));
        let mut zero = Histogram::default();
        zero.record(Duration::ZERO);
        merged.merge(&zero);
        assert_eq!(merged.quantile(0.05), Some(Duration::ZERO));
    }
}
