//! The screen: one draw that settles, for most calls, that no rule fires.
//!
//! When every rule of a fault set starts with a constant rate (`rate(p)`
//! alone or first in an `all`), a call can only fault if one of those
//! leading rates passes. Drawing each of them costs a mixing round and a
//! float compare per rule on every call. Instead the plan draws once
//! whether *any* passes, with probability `1 - Π(1 - pᵢ)`, and only in that
//! (rare) case draws which ones, each conditioned on the ones before it so
//! that the joint outcome has exactly the distribution of independent draws:
//! the first rule passes with `p₁ / P(any of 1..)`; after a miss, rule `i`
//! passes with `pᵢ / P(any of i..)`; after a pass, with plain `pᵢ`.
//! Nothing after a leading rate is evaluated when it fails (conditions
//! short-circuit), so counting triggers later in a rule see the same calls
//! either way.

use crate::rng::{mix64, unit};
use crate::switch::Switch;
use crate::trigger::{Cond, Lead};

/// The leading rates of a fault set whose rules all have one.
#[derive(Debug)]
pub(crate) struct Screen {
    /// Each rule's leading rate, in rule order.
    leads: Box<[Lead]>,
    /// `ceil(P(any passes) · 2⁵³)` at rate scale 1: a call passes the
    /// screen when the top 53 bits of its draw are below it, which is
    /// exactly `unit(bits) < P(any)`.
    threshold: u64,
}

impl Screen {
    /// The screen of these conditions, if every one leads with a rate.
    pub(crate) fn of<'a, R: ?Sized + 'a>(conds: impl IntoIterator<Item = &'a Cond<R>>) -> Option<Self> {
        let leads: Box<[Lead]> = conds.into_iter().map(Cond::lead_rate).collect::<Option<_>>()?;
        if leads.is_empty() {
            return None;
        }
        let threshold = threshold(any_passes(&leads, 1.0));
        Some(Self { leads, threshold })
    }

    /// Rule `i`'s leading rate.
    pub(crate) fn lead(&self, i: usize) -> &Lead {
        &self.leads[i]
    }

    /// Which rules' leading rates pass for a call with random `bits`, as a
    /// mask over rule indices; `None` when none does (the common case).
    #[inline]
    pub(crate) fn pass(&self, bits: u64, switch: Switch) -> Option<u64> {
        let threshold = if switch.is_unscaled() {
            self.threshold
        } else {
            threshold(any_passes(&self.leads, switch.scale()))
        };
        if bits >> 11 >= threshold {
            return None;
        }
        Some(self.which(bits, switch.scale()))
    }

    /// Given that at least one leading rate passes, which do.
    #[cold]
    #[inline(never)]
    fn which(&self, bits: u64, scale: f64) -> u64 {
        let mut mask = 0;
        for (i, lead) in self.leads.iter().enumerate() {
            let q = scaled(lead.p, scale);
            let p_pass = if mask == 0 {
                // P(this one | at least one of this and the rest).
                let any = any_passes(&self.leads[i..], scale);
                if any > 0.0 { q / any } else { 0.0 }
            } else {
                q
            };
            if unit(mix64(bits ^ lead.salt)) < p_pass {
                mask |= 1 << i;
            }
        }
        mask
    }
}

fn scaled(p: f64, scale: f64) -> f64 {
    (p * scale).min(1.0)
}

/// `1 - Π(1 - pᵢ·scale)`.
fn any_passes(leads: &[Lead], scale: f64) -> f64 {
    1.0 - leads.iter().map(|l| 1.0 - scaled(l.p, scale)).product::<f64>()
}

#[expect(
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss,
    reason = "p is in [0, 1], so p · 2^53 fits a u64 exactly"
)]
fn threshold(p: f64) -> u64 {
    (p.clamp(0.0, 1.0) * (1u64 << 53) as f64).ceil() as u64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::rng::nth;

    fn screen(rates: &[(f64, u64)]) -> Screen {
        let leads: Box<[Lead]> = rates
            .iter()
            .map(|&(p, salt)| Lead { p, salt, at: None })
            .collect();
        Screen {
            threshold: threshold(any_passes(&leads, 1.0)),
            leads,
        }
    }

    #[test]
    fn threshold_matches_the_float_compare() {
        for p in [0.0, 1e-12, 0.25, 0.5, 0.999, 1.0] {
            let t = threshold(p);
            for n in 0..10_000 {
                let bits = nth(3, n);
                assert_eq!(bits >> 11 < t, unit(bits) < p, "p {p}, call {n}");
            }
        }
    }

    #[test]
    fn each_rule_passes_at_its_own_rate_and_independently() {
        // Fixed seed; 200k draws: binomial standard deviations are ~0.001
        // here, the bounds are five of them.
        let s = screen(&[(0.3, 11), (0.05, 22), (0.5, 33)]);
        let n = 200_000u32;
        let mut counts = [0u32; 3];
        let mut both_0_2 = 0u32;
        for i in 0..n {
            let mask = s.pass(nth(42, u64::from(i)), Switch::scaled(1.0)).unwrap_or(0);
            for (r, c) in counts.iter_mut().enumerate() {
                *c += u32::from(mask & (1 << r) != 0);
            }
            both_0_2 += u32::from(mask & 0b101 == 0b101);
        }
        let freq = |c: u32| f64::from(c) / f64::from(n);
        assert!((freq(counts[0]) - 0.3).abs() < 0.006, "{counts:?}");
        assert!((freq(counts[1]) - 0.05).abs() < 0.003, "{counts:?}");
        assert!((freq(counts[2]) - 0.5).abs() < 0.006, "{counts:?}");
        assert!((freq(both_0_2) - 0.15).abs() < 0.005, "{both_0_2}");
    }

    #[test]
    fn scale_multiplies_and_caps() {
        let s = screen(&[(0.5, 1)]);
        assert!((0..1000).all(|i| s.pass(nth(1, i), Switch::scaled(0.0)).is_none()));
        assert!((0..1000).all(|i| s.pass(nth(1, i), Switch::scaled(2.0)) == Some(1)));
    }

    #[test]
    fn a_sole_rule_needs_one_draw() {
        let s = screen(&[(0.25, 7)]);
        for i in 0..10_000 {
            let bits = nth(9, i);
            assert_eq!(s.pass(bits, Switch::scaled(1.0)).is_some(), unit(bits) < 0.25);
        }
    }
}
