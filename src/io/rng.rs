//! A counter-based SplitMix64: `mix(seed, n)` is the `n`-th draw of the
//! stream `seed`, independent of call order.
//!
//! SEAM(core): the core crate will own the seeded generator; this private
//! copy keeps the `io` module self-contained until then.

const GOLDEN: u64 = 0x9E37_79B9_7F4A_7C15;

/// The `n`-th SplitMix64 output of the stream started at `seed`.
pub(crate) fn mix(seed: u64, n: u64) -> u64 {
    let mut z = seed.wrapping_add(n.wrapping_add(1).wrapping_mul(GOLDEN));
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

#[cfg(test)]
mod tests {
    use super::mix;

    #[test]
    fn matches_reference_splitmix64() {
        // Reference SplitMix64 with state 0: first output.
        assert_eq!(mix(0, 0), 0xE220_A839_7B1D_CDAF);
        assert_ne!(mix(1, 0), mix(0, 0));
        assert_eq!(mix(42, 7), mix(42, 7));
    }
}
