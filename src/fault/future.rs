//! The response future of [`Chaos`](super::Chaos).

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::time::{Sleep, sleep};
use tower_service::Service;

use crate::cold_box::{ColdBox, ColdPoll};
use crate::rule::ActiveGuard;

pin_project! {
    /// Response future of [`Chaos`](super::Chaos).
    ///
    /// When no fault fired it is the inner future, polled in place (no box,
    /// no allocation), and the wrapper adds only a tag to its size. A faulted
    /// request keeps its (larger) state — timers, the delayed request, the
    /// injected error — in one allocation, made only when a fault fires.
    /// Dropping it at any point (during a delay, a hang or a lost reply)
    /// releases its active-fault slots; counters were updated when the
    /// decision was taken, at `call`.
    pub struct ResponseFuture<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        state: State<S, R>,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, R>
    where
        S: Service<R>,
    {
        Pass { #[pin] fut: S::Future },
        Faulted { faulted: ColdBox<Faulted<S, R>> },
    }
}

pin_project! {
    pub(super) struct Faulted<S, R>
    where
        S: Service<R>,
    {
        #[pin]
        step: Step<S, R>,
        after: Duration,
        lost: Option<S::Error>,
        guard: ActiveGuard,
    }
}

pin_project! {
    #[project = StepProj]
    enum Step<S, R>
    where
        S: Service<R>,
    {
        Before { #[pin] sleep: Sleep, then: Option<Then<S, R>> },
        Running { #[pin] fut: S::Future },
        Holding { #[pin] sleep: Sleep, result: Option<Result<S::Response, S::Error>> },
        Ready { result: Option<Result<S::Response, S::Error>> },
        Hang,
    }
}

/// What happens when a "before" delay has elapsed.
pub(super) enum Then<S: Service<R>, R> {
    /// Call the (ready) inner service that was moved into the future.
    Call(S, R),
    /// A result decided at `call`: an injected error or response.
    Finish(Result<S::Response, S::Error>),
    Hang,
}

/// How a faulted request starts, as decided at `call`.
pub(super) enum Start<S: Service<R>, R> {
    /// Wait, then go on.
    Delay(Duration, Then<S, R>),
    /// The inner call, already made.
    Running(S::Future),
    /// A result decided at `call`: an injected error or response.
    Finish(Result<S::Response, S::Error>),
    Hang,
}

impl<S: Service<R>, R> ResponseFuture<S, R> {
    #[inline(always)]
    pub(super) const fn pass(fut: S::Future) -> Self {
        Self {
            state: State::Pass { fut },
        }
    }

    /// A faulted request's future, around the state built by
    /// [`Faulted::new`] (out of line; only the box crosses, in a register).
    #[inline]
    pub(super) fn faulted(faulted: Pin<Box<Faulted<S, R>>>) -> Self {
        Self {
            state: State::Faulted {
                faulted: ColdBox::new(faulted),
            },
        }
    }
}

impl<S: Service<R>, R> Faulted<S, R> {
    /// The state of a faulted request, as decided at `call`.
    pub(super) fn new(
        start: Start<S, R>,
        after: Duration,
        lost: Option<S::Error>,
        guard: ActiveGuard,
    ) -> Pin<Box<Self>> {
        let step = match start {
            Start::Delay(d, then) => Step::Before {
                sleep: sleep(d),
                then: Some(then),
            },
            Start::Running(fut) => Step::Running { fut },
            Start::Finish(result) => finish(result, after),
            Start::Hang => Step::Hang,
        };
        Box::pin(Self {
            step,
            after,
            lost,
            guard,
        })
    }
}

/// The result is known: hold it back for `after`, or hand it over.
fn finish<S: Service<R>, R>(result: Result<S::Response, S::Error>, after: Duration) -> Step<S, R> {
    if after.is_zero() {
        Step::Ready { result: Some(result) }
    } else {
        Step::Holding {
            sleep: sleep(after),
            result: Some(result),
        }
    }
}

impl<S: Service<R>, R> Future for ResponseFuture<S, R> {
    type Output = Result<S::Response, S::Error>;

    #[inline]
    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().state.project() {
            StateProj::Pass { fut } => fut.poll(cx),
            StateProj::Faulted { faulted } => faulted.poll(cx),
        }
    }
}

impl<S: Service<R>, R> ColdPoll for Faulted<S, R> {
    type Output = Result<S::Response, S::Error>;

    /// Drives the faulted request; `true` once its result is ready to be
    /// taken with [`take_output`](Self::take_output).
    #[cold]
    #[inline(never)]
    fn advance(self: Pin<&mut Self>, cx: &mut Context<'_>) -> bool {
        let this = self.project();
        let (mut step, after, lost) = (this.step, *this.after, this.lost);
        loop {
            let next = match step.as_mut().project() {
                StepProj::Before { sleep, then } => {
                    if sleep.poll(cx).is_pending() {
                        return false;
                    }
                    match then.take() {
                        Some(Then::Call(mut inner, req)) => Step::Running { fut: inner.call(req) },
                        Some(Then::Finish(result)) => finish(result, after),
                        Some(Then::Hang) | None => Step::Hang,
                    }
                }
                StepProj::Running { fut } => {
                    let Poll::Ready(result) = fut.poll(cx) else {
                        return false;
                    };
                    // A lost reply discards the real answer (already counted
                    // as a lost-reply injection at `call`).
                    let result = match lost.take() {
                        Some(e) => Err(e),
                        None => result,
                    };
                    finish(result, after)
                }
                StepProj::Holding { sleep, result } => {
                    if sleep.poll(cx).is_pending() {
                        return false;
                    }
                    Step::Ready {
                        result: result.take(),
                    }
                }
                StepProj::Ready { .. } => return true,
                StepProj::Hang => return false,
            };
            step.set(next);
        }
    }

    /// The result of a request [`advance`](Self::advance) found ready.
    #[inline]
    fn take_output(self: Pin<&mut Self>) -> Option<Self::Output> {
        match self.project().step.project() {
            StepProj::Ready { result } => result.take(),
            _ => None,
        }
    }
}

impl<S: Service<R>, R> fmt::Debug for ResponseFuture<S, R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Pass { .. } => "pass",
            State::Faulted { faulted } => match faulted.get().map(|f| &f.step) {
                Some(Step::Before { .. }) => "delaying",
                Some(Step::Running { .. }) => "running",
                Some(Step::Holding { .. }) => "holding",
                Some(Step::Ready { .. }) => "ready",
                Some(Step::Hang) | None => "hanging",
            },
        };
        f.debug_struct("ResponseFuture").field("state", &state).finish()
    }
}
