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
