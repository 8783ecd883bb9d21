//! [`ColdBox`]: a response future's boxed faulted state, kept out of the
//! pass path's way.

use std::pin::Pin;
use std::task::{Context, Poll};

/// The boxed state of a faulted request (or body), as held next to a
/// pass-through variant.
///
/// Why not a plain `Pin<Box<T>>`: the pass path should compile to little
/// more than the inner future alone. Drop glue that drops a `T` in place is
/// too large to inline, so the whole response future's address escapes to
/// an out-of-line `drop_in_place` and it is spilled and reloaded around
/// every call (with store-forwarding stalls: 18 ns a call against 3.5 ns
/// now, see `docs/BENCHMARKS.md`). This box's `Drop` hands it, by value,
/// to a cold function instead. (The futures' cold polls likewise return
/// only whether the result is ready, for the same reason.)
pub(crate) struct ColdBox<T>(Option<Pin<Box<T>>>);

impl<T> ColdBox<T> {
    #[inline]
    pub(crate) const fn new(state: Pin<Box<T>>) -> Self {
        Self(Some(state))
    }

    /// Nothing held (a state already handed over).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) const fn none() -> Self {
        Self(None)
    }

    /// The state, unless it was taken.
    #[inline]
    pub(crate) fn get_mut(&mut self) -> Option<Pin<&mut T>> {
        self.0.as_mut().map(Pin::as_mut)
    }

    pub(crate) fn get(&self) -> Option<&T> {
        self.0.as_deref()
    }

    /// Hands the state over.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn take(&mut self) -> Option<Pin<Box<T>>> {
        self.0.take()
    }
}

/// A faulted state held in a [`ColdBox`]: a cold [`advance`](Self::advance)
/// drives it and says only whether its output is ready, and an inline
/// [`take_output`](Self::take_output) moves the output out.
pub(crate) trait ColdPoll {
    type Output;

    /// Drives the state; `true` once its output can be taken.
    fn advance(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool;

    /// The output [`advance`](Self::advance) found ready (`None` once
    /// taken).
    fn take_output(self: Pin<&mut Self>) -> Option<Self::Output>;
}

impl<T: ColdPoll> ColdBox<T> {
    /// Polls the held state: the cold `advance` says whether the output is
    /// ready (a `bool`, in a register), and the output is moved out here,
    /// inline. Returning it from the cold function instead would go through
    /// memory, which the compiler merges with the pass path's result.
    /// Polled again after completion (or with nothing held), it stays
    /// pending rather than panic at request time.
    #[inline]
    pub(crate) fn poll(&mut self, cx: &mut Context<'_>) -> Poll<T::Output> {
        let Some(mut state) = self.get_mut() else {
            return Poll::Pending;
        };
        if !state.as_mut().advance(cx) {
            return Poll::Pending;
        }
        match state.as_mut().take_output() {
            Some(output) => Poll::Ready(output),
            None => Poll::Pending,
        }
    }
}

impl<T> Drop for ColdBox<T> {
    #[inline]
    fn drop(&mut self) {
        if let Some(state) = self.0.take() {
            drop_cold(state);
        }
    }
}

#[cold]
#[inline(never)]
fn drop_cold<T>(state: T) {
    drop(state);
}
