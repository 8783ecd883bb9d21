//! One byte-rate throttle for the HTTP body throttle (`BodyFault::throttle`)
//! and the connection bandwidth limit (`ConnFault::bandwidth`): a token
//! bucket on tokio's clock, refilled continuously, that makes bytes pay
//! before they pass, in slices of at most one tick's worth — so clients
//! see the same pacing and burstiness from both.
//!
//! The two differ only in how they start, each as its peer does: the body
//! throttle starts with one tick of credit, as Envoy's response rate limit
//! does (its first slice goes at once); the bandwidth limit starts empty, as
//! toxiproxy's `bandwidth` toxic does (B bytes take B / rate).

use std::time::Duration;

use tokio::time::Instant;

/// The pacing tick: at most one tick's worth of bytes passes at once (the
/// bucket holds at most two). Envoy's fault filter refills its response
/// rate limit every 50 ms.
pub(crate) const TICK: Duration = Duration::from_millis(50);

const NANOS: u128 = 1_000_000_000;

/// How a throttle starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Start {
    /// No credit: the first slice waits for its cost (toxiproxy).
    #[cfg_attr(not(feature = "io"), allow(dead_code))] // the bandwidth limit's
    Empty,
    /// One tick of credit: the first slice passes at once (Envoy).
    #[cfg_attr(not(feature = "http"), allow(dead_code))] // the body throttle's
    OneTick,
}

/// A token bucket counted as the instant up to which bytes are paid: its
/// credit is the bytes the rate earned since then, capped at two ticks'
/// worth (one slice passes at a time). The arithmetic is in nanoseconds and
/// exact.
#[derive(Debug, Clone)]
pub(crate) struct Throttle {
    rate: u64,
    quantum: usize,
    start: Start,
    paid: Option<Instant>,
}

/// Time `bytes` take at `rate` bytes per second, rounded up.
fn cost(bytes: usize, rate: u64) -> Duration {
    let nanos = (bytes as u128 * NANOS).div_ceil(u128::from(rate.max(1)));
    Duration::from_nanos(u64::try_from(nanos).unwrap_or(u64::MAX))
}

impl Throttle {
    /// A throttle of `rate` bytes per second (at least 1: callers validate).
    pub(crate) fn new(rate: u64, start: Start) -> Self {
        let rate = rate.max(1);
        let per_tick = u128::from(rate) * TICK.as_nanos() / NANOS;
        Self {
            rate,
            quantum: usize::try_from(per_tick.max(1)).unwrap_or(usize::MAX),
            start,
            paid: None,
        }
    }

    /// The most bytes that pass at once: one tick's worth, at least 1.
    #[cfg_attr(not(any(feature = "io", test)), allow(dead_code))] // the bandwidth limit's
    pub(crate) const fn quantum(&self) -> usize {
        self.quantum
    }

    /// Where the credit starts now (set at the first use, as `start` says).
    /// The bucket holds two slices: one to pass, plus the credit a timer's
    /// overshoot leaves behind, so rounding never slows the rate.
    fn credit_start(&mut self, now: Instant) -> Instant {
        let full = now
            .checked_sub(cost(self.quantum.saturating_mul(2), self.rate))
            .unwrap_or(now);
        let first = match self.start {
            Start::Empty => now,
            Start::OneTick => now.checked_sub(cost(self.quantum, self.rate)).unwrap_or(now),
        };
        let paid = self.paid.map_or(first, |p| p.max(full));
        self.paid = Some(paid);
        paid
    }

    /// How many of `want` bytes may pass now — at most one slice — or when
    /// to ask again. It waits until `min(want, slice, at_least)` bytes are
    /// paid: `usize::MAX` for a caller that passes a known amount whole (a
    /// write, a body frame), less for one that takes what is paid (a read).
    pub(crate) fn allow(&mut self, now: Instant, want: usize, at_least: usize) -> Result<usize, Instant> {
        let paid = self.credit_start(now);
        let earned = now.saturating_duration_since(paid).as_nanos() * u128::from(self.rate) / NANOS;
        let earned = usize::try_from(earned).unwrap_or(usize::MAX).min(self.quantum);
        let slice = want.min(self.quantum).max(1);
        let need = slice.min(at_least).max(1);
        if earned < need {
            return Err(paid + cost(need, self.rate));
        }
        Ok(earned.min(slice))
    }

    /// `bytes` passed at `now`.
    pub(crate) fn commit(&mut self, now: Instant, bytes: usize) {
        let paid = self.credit_start(now);
        self.paid = Some(paid + cost(bytes, self.rate));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Passes `total` bytes in whole slices; returns when the last went.
    fn drain(mut t: Throttle, total: usize, t0: Instant) -> Duration {
        let (mut now, mut left) = (t0, total);
        while left > 0 {
            match t.allow(now, left, usize::MAX) {
                Ok(n) => {
                    t.commit(now, n);
                    left -= n;
                }
                Err(at) => now = at,
            }
        }
        now - t0
    }

    #[test]
    fn empty_start_takes_exactly_b_over_r() {
        let t0 = Instant::now();
        let d = drain(Throttle::new(1_000_000, Start::Empty), 480_000, t0);
        assert_eq!(d, Duration::from_millis(480));
    }

    #[test]
    fn one_tick_start_is_one_tick_ahead() {
        let t0 = Instant::now();
        let d = drain(Throttle::new(500, Start::OneTick), 1000, t0);
        assert_eq!(d, Duration::from_secs(2) - TICK);
    }

    #[test]
    fn slices_are_one_tick_and_idle_credit_is_capped() {
        let t0 = Instant::now();
        let mut t = Throttle::new(20_000, Start::Empty);
        assert_eq!(t.quantum(), 1000);
        assert_eq!(t.allow(t0, 5000, usize::MAX), Err(t0 + TICK));
        // After a long idle spell, one slice at a time, two ticks' worth
        // of credit at most.
        let later = t0 + Duration::from_secs(60);
        assert_eq!(t.allow(later, 5000, usize::MAX), Ok(1000));
        t.commit(later, 1000);
        assert_eq!(t.allow(later, 5000, usize::MAX), Ok(1000));
        t.commit(later, 1000);
        assert_eq!(t.allow(later, 5000, usize::MAX), Err(later + TICK));
        // A reader takes what is paid once `at_least` is.
        let mut r = Throttle::new(20_000, Start::Empty);
        assert_eq!(r.allow(t0, 5000, 200), Err(t0 + Duration::from_millis(10)));
        assert_eq!(r.allow(t0 + Duration::from_millis(30), 5000, 200), Ok(600));
        // A rate below 20 B/s still moves a byte at a time.
        assert_eq!(Throttle::new(1, Start::Empty).quantum(), 1);
    }
}
