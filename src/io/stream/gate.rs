//! Slicing and bandwidth: how much of a direction may pass now.

use std::time::Duration;

use tokio::time::Instant;

use super::tally::Tally;
use crate::FaultKind;
use crate::io::DirectionFaults;
use crate::rng::nth;
use crate::throttle::{Start, Throttle};

const SLICE_SALT: u64 = 0x534c_4943_0000_0003;

/// Slicing and bandwidth: how much may pass now.
#[derive(Debug, Default)]
pub(super) struct Gate {
    pub(super) slice: Option<(usize, Duration)>,
    variation: usize,
    pub(super) seed: u64,
    /// Pieces cut so far (the variation's sample index).
    pieces: u64,
    /// The size of the next piece, drawn once per piece.
    piece: Option<usize>,
    slice_next: Option<Instant>,
    /// The crate's one byte-rate throttle, started empty as toxiproxy's
    /// bandwidth toxic is.
    throttle: Option<Throttle>,
    bw_waiting: bool,
}

impl Gate {
    pub(super) fn new(cfg: &DirectionFaults, seed: u64) -> Self {
        Self {
            slice: cfg.slice,
            variation: cfg.slice_variation,
            seed: seed ^ SLICE_SALT,
            throttle: cfg.bandwidth.map(|rate| Throttle::new(rate, Start::Empty)),
            ..Self::default()
        }
    }

    fn piece_size(&mut self, max: usize) -> usize {
        if self.variation == 0 {
            return max;
        }
        *self.piece.get_or_insert_with(|| {
            // Saturating: a variation near `usize::MAX` must not overflow.
            let span = (self.variation as u64).saturating_mul(2).saturating_add(1);
            let draw = nth(self.seed, self.pieces) % span;
            // validated: variation < max, so the size is at least 1;
            // saturating, for sizes near `usize::MAX`.
            (max - self.variation).saturating_add(usize::try_from(draw).unwrap_or(usize::MAX))
        })
    }

    /// The most bytes that may pass now (`exact`: the caller passes a
    /// known amount and wants its slice whole, as a write does; a read
    /// takes what is paid once 10 ms worth is), or when to ask again.
    pub(super) fn allow(
        &mut self,
        now: Instant,
        wanted: usize,
        exact: bool,
        counters: &Tally,
    ) -> Result<usize, Instant> {
        let mut limit = wanted;
        if let Some((max, _)) = self.slice {
            if let Some(t) = self.slice_next.filter(|t| *t > now) {
                return Err(t);
            }
            limit = limit.min(self.piece_size(max));
        }
        if let Some(throttle) = &mut self.throttle {
            let at_least = if exact {
                usize::MAX
            } else {
                (throttle.quantum() / 5).max(1)
            };
            match throttle.allow(now, limit, at_least) {
                Ok(n) => {
                    self.bw_waiting = false;
                    limit = limit.min(n);
                }
                Err(at) => {
                    if !self.bw_waiting {
                        self.bw_waiting = true;
                        counters.fault(FaultKind::Bandwidth);
                    }
                    return Err(at);
                }
            }
        }
        Ok(limit.max(1))
    }

    /// `k` bytes passed out of `wanted`.
    pub(super) fn commit(&mut self, k: usize, wanted: usize, now: Instant, counters: &Tally) {
        if k == 0 {
            return;
        }
        if let Some((_, delay)) = self.slice {
            if wanted > k {
                counters.fault(FaultKind::Slice);
            }
            self.piece = None;
            self.pieces += 1;
            if !delay.is_zero() {
                self.slice_next = Some(now + delay);
            }
        }
        if let Some(throttle) = &mut self.throttle {
            throttle.commit(now, k);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn piece_sizes_near_usize_max_neither_overflow_nor_shrink_to_zero() {
        for (max, variation) in [
            (usize::MAX, usize::MAX - 1),
            (usize::MAX - 1, usize::MAX - 2),
            (3, 2),
        ] {
            let mut gate = Gate {
                variation,
                seed: 7,
                ..Gate::default()
            };
            for piece in 0..64 {
                gate.pieces = piece;
                gate.piece = None;
                let size = gate.piece_size(max);
                assert!(size >= max - variation, "{max} ± {variation}: {size}");
            }
        }
    }
}
