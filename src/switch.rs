//! [`Switch`]: whether a target's faults are on, and their rate scale, as
//! one call reads them.
//!
//! Below the target that writes it and the screens and plans that read
//! it, so that neither has to import the other.

/// A target's switch as one call reads it (see `TargetShared::switch`):
/// off, or on with a rate scale, in one word.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Switch(u64);

impl Switch {
    /// Disabled. Not the bits of any scale a target accepts (those are
    /// finite and non-negative; this is a NaN).
    pub(crate) const OFF: Self = Self(u64::MAX);
    const UNSCALED: u64 = 0x3ff0_0000_0000_0000;

    #[inline]
    pub(crate) const fn is_on(self) -> bool {
        self.0 != Self::OFF.0
    }

    /// The rate scale (meaningful when on).
    #[inline]
    pub(crate) const fn scale(self) -> f64 {
        f64::from_bits(self.0)
    }

    /// The switch whose bits a target stores (`Switch::OFF`'s, or a
    /// scale's).
    #[inline]
    pub(crate) const fn from_bits(bits: u64) -> Self {
        Self(bits)
    }

    /// The bits a target stores for this switch.
    pub(crate) const fn to_bits(self) -> u64 {
        self.0
    }

    /// On, with this rate scale.
    #[cfg(test)]
    pub(crate) const fn scaled(scale: f64) -> Self {
        Self(scale.to_bits())
    }

    /// Whether the rate scale is exactly 1 (an integer compare).
    #[inline]
    pub(crate) const fn is_unscaled(self) -> bool {
        self.0 == Self::UNSCALED
    }
}
