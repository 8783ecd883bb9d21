//! The [`Chaos`] service.

use std::fmt;
use std::mem;
use std::pin::Pin;
use std::task::{Context, Poll};

use tower_service::Service;

use super::future::{Faulted, ResponseFuture, Start, Then};
use super::outcome::{End, Outcome};
use crate::Target;
use crate::armed::Armed;
use crate::fault::Fault;
use crate::macros::inner_accessors;
use crate::rule::{ActiveGuard, Plan, Screened};

type FaultPlan<S, R> = Plan<Fault<R, <S as Service<R>>::Error>, R>;

/// Injects request-level faults into the inner service `S`; built by
/// [`ChaosLayer`](super::ChaosLayer), see there for an example.
///
/// # Clone
///
/// Clones share the target: its switches, counters, counting triggers,
/// budgets and active-fault caps. `first(3)` fails three requests across all
/// clones together, however many a server makes.
pub struct Chaos<S, R>
where
    S: Service<R>,
{
    inner: S,
    armed: Armed<Fault<R, S::Error>, R>,
}

impl<S, R> Chaos<S, R>
where
    S: Service<R>,
    R: 'static,
    S::Error: 'static,
    S::Response: 'static,
{
    /// Wraps `inner` with the request-level faults of `target` (the ones
    /// installed now and any installed later).
    ///
    /// ```
    /// use tower::{Service, ServiceExt, service_fn};
    /// use tower_chaos::{Chaos, Target};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
    /// let target = Target::builder("echo").seed(1).build()?;
    /// let inner = service_fn(|s: String| async move { Ok::<_, tower::BoxError>(s) });
    /// let mut svc = Chaos::new(inner, &target);
    /// assert_eq!(svc.ready().await?.call("hi".into()).await?, "hi");
    /// # Ok(()) }
    /// ```
    pub fn new(inner: S, target: &Target) -> Self {
        let armed = Armed::new(target);
        check_responses::<S, R>(armed.plan(), target);
        Self { inner, armed }
    }
}

impl<S, R> Chaos<S, R>
where
    S: Service<R>,
{
    inner_accessors!(
        r#"```
use tower::ServiceExt;
use tower_chaos::{Chaos, Target};

# #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
let target = Target::builder("x").seed(1).build()?;
let inner = tower::service_fn(|x: u8| async move { Ok::<_, tower::BoxError>(x) });
let mut svc = Chaos::new(inner, &target);
assert_eq!(svc.get_ref().clone().oneshot(3).await?, 3);
assert_eq!(svc.get_mut().oneshot(4).await?, 4);
assert_eq!(svc.into_inner().oneshot(5).await?, 5);
# Ok(()) }
```"#
    );

    /// The target this service belongs to.
    pub const fn target(&self) -> &Target {
        self.armed.target()
    }
}

impl<S, R> Clone for Chaos<S, R>
where
    S: Service<R> + Clone,
{
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            armed: self.armed.clone(),
        }
    }
}

impl<S, R> fmt::Debug for Chaos<S, R>
where
    S: Service<R> + fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Chaos")
            .field("inner", &self.inner)
            .field("target", self.armed.target())
            .finish_non_exhaustive()
    }
}

impl<S, R> Service<R> for Chaos<S, R>
where
    S: Service<R> + Clone,
    R: 'static,
    S::Response: 'static,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = ResponseFuture<S, R>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Faults are never injected here: readiness is the inner service's.
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, req: R) -> Self::Future {
        // One site builds the pass-through future, so that it stays in
        // registers (see `ResponseFuture`); everything past the screen is
        // out of line.
        let req = match self.screen() {
            None => req,
            Some(screened) => match self.try_fault(screened, req) {
                Ok(faulted) => return ResponseFuture::faulted(faulted),
                Err(req) => req,
            },
        };
        ResponseFuture::pass(self.inner.call(req))
    }
}

impl<S, R> Chaos<S, R>
where
    S: Service<R> + Clone,
    R: 'static,
    S::Response: 'static,
{
    /// The inline half of the decision: counts the call and asks the
    /// plan's screen; `None` when no fault can fire.
    #[inline]
    fn screen(&mut self) -> Option<Screened> {
        self.armed.screen(check_responses::<S, R>)?.rules
    }

    /// The rest of it, out of line: evaluates the rules and starts the
    /// faulted request, or hands the request back when none applied.
    #[cold]
    #[inline(never)]
    fn try_fault(&mut self, screened: Screened, req: R) -> Result<Pin<Box<Faulted<S, R>>>, R> {
        let mut outcome = Outcome::default();
        match self.armed.apply(&req, screened, &mut outcome) {
            None => Err(req),
            Some(guard) => Ok(self.start(outcome, guard, req)),
        }
    }

    /// Starts a faulted request (only the box goes back to `call`: were
    /// the inner call of a faulted request inlined next to the pass path's,
    /// the compiler would merge the two and the pass path would lose its
    /// registers; see [`ResponseFuture`]).
    fn start(
        &mut self,
        outcome: Outcome<S::Error, S::Response>,
        guard: ActiveGuard,
        req: R,
    ) -> Pin<Box<Faulted<S, R>>> {
        let Outcome { before, after, end } = outcome;
        let delayed = !before.is_zero();
        let (start, lost) = match end {
            End::Call if delayed => (Start::Delay(before, Then::Call(self.take_ready(), req)), None),
            End::Lost(e) if delayed => (Start::Delay(before, Then::Call(self.take_ready(), req)), Some(e)),
            End::Call => (Start::Running(self.inner.call(req)), None),
            End::Lost(e) => (Start::Running(self.inner.call(req)), Some(e)),
            End::Fail(e) if delayed => (Start::Delay(before, Then::Finish(Err(e))), None),
            End::Fail(e) => (Start::Finish(Err(e)), None),
            End::Respond(r) if delayed => (Start::Delay(before, Then::Finish(Ok(r))), None),
            End::Respond(r) => (Start::Finish(Ok(r)), None),
            End::Hang if delayed => (Start::Delay(before, Then::Hang), None),
            End::Hang => (Start::Hang, None),
        };
        Faulted::new(start, after, lost, guard)
    }

    /// Moves the service that was polled ready into the future (its call is
    /// delayed) and keeps a fresh clone, which the caller must poll ready
    /// before its next call, as tower requires anyway.
    fn take_ready(&mut self) -> S {
        let fresh = self.inner.clone();
        mem::replace(&mut self.inner, fresh)
    }
}

/// Reports the `respond` faults of `plan` that build another type than the
/// service's response: they never fire on this service (a `Fault<R, E>`
/// does not carry its response type, so this is the first place it is
/// known).
#[cold]
fn check_responses<S, R>(plan: &FaultPlan<S, R>, target: &Target)
where
    S: Service<R>,
    R: 'static,
    S::Response: 'static,
{
    for fault in plan.actions() {
        if let Some(builds) = fault.response_type() {
            if !fault.builds::<S::Response>() {
                tracing::error!(
                    target: "tower_chaos",
                    chaos_target = %target.name(),
                    builds,
                    service_response = std::any::type_name::<S::Response>(),
                    "a `Fault::respond` builds another type than this service's response: it never fires here"
                );
            }
        }
    }
}
