//! Small macros for code every middleware repeats.

/// `get_ref`, `get_mut` and `into_inner` for a middleware service that
/// wraps its service in the field `inner: S` (tower's anatomy). Invoke it
/// inside the type's `impl<S ..>` block with a doc example that exercises
/// all three on that type: the example goes on `get_ref`, and the other
/// two point at it.
macro_rules! inner_accessors {
    ($example:literal) => {
        /// The inner service.
        ///
        #[doc = $example]
        pub const fn get_ref(&self) -> &S {
            &self.inner
        }

        /// The inner service, mutably (example on
        /// [`get_ref`](Self::get_ref)).
        pub const fn get_mut(&mut self) -> &mut S {
            &mut self.inner
        }

        /// Unwraps the inner service (example on
        /// [`get_ref`](Self::get_ref)).
        pub fn into_inner(self) -> S {
            self.inner
        }
    };
}

pub(crate) use inner_accessors;

/// `seed` and `journal` for a layer builder that keeps its target's
/// settings in the field `target: TargetBuilder`. Invoke it inside the
/// builder's `impl` block with a doc example for each, on that builder.
macro_rules! target_settings {
    (seed: $seed_example:literal, journal: $journal_example:literal $(,)?) => {
        /// Fixes the target's seed (see
        /// [`TargetBuilder::seed`](crate::TargetBuilder::seed)).
        ///
        #[doc = $seed_example]
        pub fn seed(mut self, seed: u64) -> Self {
            self.target = self.target.seed(seed);
            self
        }

        /// Keeps a journal of the newest `capacity` faults (see
        /// [`TargetBuilder::journal`](crate::TargetBuilder::journal)).
        ///
        #[doc = $journal_example]
        pub fn journal(mut self, capacity: usize) -> Self {
            self.target = self.target.journal(capacity);
            self
        }
    };
}

pub(crate) use target_settings;
