//! Counter-based randomness.
//!
//! Every random choice is a pure function of `(seed, salt, call index)`.
//! That is what makes the contracts hold without a lock: clones of a service
//! share nothing but an atomic call counter, the decision for call *n* does
//! not depend on which clone or thread runs it, and a keyed draw depends only
//! on the key. A shared `Mutex<StdRng>` (what some peers use) would serialise
//! every request and tie outcomes to poll order.
//!
//! The generators (wyrand for a call's bits, SplitMix64's finaliser for
//! derived streams) are written here rather than taken from `rand`'s
//! `SmallRng` because `SmallRng`'s algorithm is explicitly allowed to change
//! between releases, and a seed must replay the same faults after a
//! dependency upgrade.

use std::convert::Infallible;
use std::hash::Hasher;

const GOLDEN: u64 = 0x9e37_79b9_7f4a_7c15;

/// SplitMix64's output function: a bijective avalanche of 64 bits.
#[inline]
pub(crate) const fn mix64(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// Derives an independent stream id from a parent and a label.
#[inline]
pub(crate) const fn derive(parent: u64, label: u64) -> u64 {
    mix64(parent ^ mix64(label.wrapping_add(GOLDEN)))
}

/// The `n`-th output of the wyrand sequence seeded with `seed`: the random
/// bits of one request. wyrand steps a counter by an odd constant and folds
/// one 64×64→128-bit multiply of it; it passes BigCrush and PractRand as a
/// sequence, and its `n`-th output needs no state but `n`. It replaced a
/// SplitMix64 round here because every call of every layer computes it
/// right after the shared counter's `lock xadd`: one wide multiply is a
/// shorter dependency chain than three (`chaos-armed` 5.20 → 4.82 ns a
/// call, `docs/BENCHMARKS.md`).
#[inline]
pub(crate) const fn nth(seed: u64, n: u64) -> u64 {
    let state = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(0xa076_1d64_78bd_642f));
    let wide = (state as u128).wrapping_mul((state ^ 0xe703_7ed1_a0b4_28db) as u128);
    (wide >> 64) as u64 ^ wide as u64
}

/// Maps 64 random bits to a uniform `f64` in `[0, 1)`.
#[inline]
pub(crate) fn unit(bits: u64) -> f64 {
    // 53 high bits fill the mantissa exactly.
    (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64)
}

/// A SplitMix64 sequence: used where a distribution needs several draws
/// (latency samples, jitter). Seeded per call from [`derive`].
#[derive(Debug, Clone)]
pub(crate) struct SplitMix {
    state: u64,
}

impl SplitMix {
    pub(crate) const fn new(seed: u64) -> Self {
        Self { state: seed }
    }
}

impl rand::TryRng for SplitMix {
    type Error = Infallible;

    #[inline]
    fn try_next_u32(&mut self) -> Result<u32, Infallible> {
        Ok((self.try_next_u64()? >> 32) as u32)
    }

    #[inline]
    fn try_next_u64(&mut self) -> Result<u64, Infallible> {
        self.state = self.state.wrapping_add(GOLDEN);
        Ok(mix64(self.state))
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Infallible> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.try_next_u64()?.to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// FNV-1a with a SplitMix finish, for keys of keyed triggers.
///
/// Not `std`'s `DefaultHasher`: its algorithm is unspecified across Rust
/// releases, and a seed must pick the same tenants on every toolchain.
#[derive(Debug)]
pub(crate) struct StableHasher(u64);

impl StableHasher {
    pub(crate) const fn new() -> Self {
        Self(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for StableHasher {
    fn finish(&self) -> u64 {
        mix64(self.0)
    }

    fn write(&mut self, bytes: &[u8]) {
        for &b in bytes {
            self.0 ^= u64::from(b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

/// Hashes `key` with [`StableHasher`].
pub(crate) fn stable_hash<K: std::hash::Hash + ?Sized>(key: &K) -> u64 {
    let mut h = StableHasher::new();
    key.hash(&mut h);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::Rng;

    #[test]
    fn unit_is_in_range_and_spread() {
        let mut below_half = 0;
        for i in 0..10_000u64 {
            let u = unit(derive(7, i));
            assert!((0.0..1.0).contains(&u));
            if u < 0.5 {
                below_half += 1;
            }
        }
        // Binomial(10_000, 0.5): 4 sigma is 200.
        assert!((4_800..=5_200).contains(&below_half), "{below_half}");
    }

    #[test]
    fn splitmix_is_reproducible() {
        let a: Vec<u64> = {
            let mut r = SplitMix::new(1);
            (0..4).map(|_| r.next_u64()).collect()
        };
        let mut r = SplitMix::new(1);
        let b: Vec<u64> = (0..4).map(|_| r.next_u64()).collect();
        assert_eq!(a, b);
        assert_ne!(a[0], a[1]);
    }

    const PINNED_TENANT_1: u64 = 4_494_195_332_186_304_776;

    #[test]
    fn stable_hash_is_pinned() {
        // Pinned so a change of algorithm (which would change which keys a
        // seed selects) cannot slip in unnoticed.
        assert_eq!(stable_hash("tenant-1"), stable_hash(&String::from("tenant-1")));
        assert_eq!(stable_hash("tenant-1"), PINNED_TENANT_1);
    }
}
