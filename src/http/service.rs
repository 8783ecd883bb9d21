//! [`HttpChaos`], the service built by [`HttpChaosLayer`](super::HttpChaosLayer).

use std::fmt;
use std::mem;
use std::pin::Pin;
use std::sync::{Arc, LazyLock};
use std::task::{Context, Poll};

use http::{Request, Response, StatusCode};
use tower_service::Service;

use super::body::{BodyCounters, ChaosBody};
use super::fault::{End, HttpFault, Outcome};
use super::future::{Answer, Applied, Faulted, ResponseFuture, Synth};
use super::header::{HeaderControl, HeaderFaultError, HeaderFaultRequest};
use super::marker::Injected;
use super::view::HttpRequest;
use crate::armed::Armed;
use crate::macros::inner_accessors;
use crate::rng::{derive, nth, unit};
use crate::rule::{ActiveGuard, Applied as Recorded};
use crate::{Event, FaultKind, Target};

/// The rule name of faults asked for through request headers.
static HEADER_RULE: LazyLock<Arc<str>> = LazyLock::new(|| Arc::from("header-control"));

/// Salt of the header-percentage dice, apart from every rule's streams.
const HEADER_DICE: u64 = 0x6865_6164_6572_7321;

/// Wraps a `Service<http::Request<B>>` and applies the HTTP faults of its
/// [`Target`]; built by [`HttpChaosLayer`](super::HttpChaosLayer), see the
/// [module docs](super) for an example.
///
/// It keeps the inner service's error type (so it fits in
/// `axum::Router::layer` and tonic's `Server::builder().layer(..)`) and
/// returns `Response<ChaosBody<ResB>>`, which passes the inner body through
/// untouched unless a body fault applied.
///
/// Rules see the request as a borrowed [`HttpRequest`](super::HttpRequest),
/// which needs the request body type to be `'static` (hyper's `Incoming`,
/// axum's `Body`, tonic's bodies and `http_body_util`'s all are).
///
/// `poll_ready` forwards to the inner service. When a fault answers without
/// calling the inner service, the readiness obtained stays for the next
/// call. When a delay applies, the ready inner service moves into the
/// response future and a clone takes its place (hence `S: Clone`).
///
/// # Clone
///
/// Clones the inner service and shares the target: its switches, counters,
/// counting triggers, budgets and active-fault caps. `first(3)` fails three
/// requests across all clones together, however many a server makes.
pub struct HttpChaos<S> {
    inner: S,
    armed: Armed<HttpFault, HttpRequest>,
    header_control: Option<Arc<HeaderControl>>,
}

impl<S: Clone> Clone for HttpChaos<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            armed: self.armed.clone(),
            header_control: self.header_control.clone(),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for HttpChaos<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpChaos")
            .field("inner", &self.inner)
            .field("target", self.armed.target())
            .field("header_control", &self.header_control)
            .finish_non_exhaustive()
    }
}

impl<S> HttpChaos<S> {
    /// Wraps `inner` with the HTTP faults of `target` (the ones installed
    /// now and any installed later), without header control.
    ///
    /// ```
    /// use tower::{Service, ServiceExt};
    /// use tower_chaos::{FaultKind, FaultSet, Target};
    /// use tower_chaos::http::{HttpChaos, SyntheticResponse};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let target = Target::builder("api").seed(1).build()?;
    /// let mut svc = HttpChaos::new(tower::service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// }), &target);
    /// assert_eq!(svc.ready().await?.call(http::Request::new(())).await?.status(), 200);
    ///
    /// target.set_faults(FaultSet::new().with(SyntheticResponse::bad_gateway()))?;
    /// assert_eq!(svc.ready().await?.call(http::Request::new(())).await?.status(), 502);
    /// assert_eq!(target.report().injected(FaultKind::Status), 1);
    /// # Ok(()) }
    /// ```
    pub fn new(inner: S, target: &Target) -> Self {
        Self::with_header_control(inner, target, None)
    }

    pub(crate) fn with_header_control(
        inner: S,
        target: &Target,
        header_control: Option<Arc<HeaderControl>>,
    ) -> Self {
        Self {
            inner,
            armed: Armed::new(target),
            header_control,
        }
    }

    /// The target this service belongs to.
    ///
    /// ```
    /// use tower::Layer;
    /// use tower_chaos::http::HttpChaosLayer;
    /// let layer = HttpChaosLayer::builder("api").seed(1).build()?;
    /// assert_eq!(layer.layer(()).target().name(), "api");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub const fn target(&self) -> &Target {
        self.armed.target()
    }

    inner_accessors!(
        r#"```
use tower::Layer;
use tower_chaos::http::HttpChaosLayer;

let mut svc = HttpChaosLayer::builder("api").seed(1).build()?.layer(7u8);
*svc.get_mut() += 1;
assert_eq!(*svc.get_ref(), 8);
assert_eq!(svc.into_inner(), 8);
# Ok::<(), tower_chaos::ConfigError>(())
```"#
    );
}

impl<S> HttpChaos<S> {
    /// Answers `400` for an unusable fault header (counted), before any rule
    /// is evaluated.
    #[cold]
    #[inline(never)]
    fn reject_header<ReqB>(&self, err: &HeaderFaultError) -> Pin<Box<Faulted<S, ReqB>>>
    where
        S: Service<Request<ReqB>>,
    {
        let shared = &*self.armed.target().shared;
        tracing::warn!(target: "tower_chaos", chaos_target = %shared.name, error = %err, "invalid fault-control header");
        shared.counters.rejected_header();
        let applied = Recorded {
            kind: FaultKind::Status,
            delay: None,
            code: Some(StatusCode::BAD_REQUEST.as_u16()),
        };
        shared.record(true, applied, Event::HEADER_CONTROL, Some(&HEADER_RULE));
        Faulted::answer(Answer {
            synth: Synth::bad_header(err),
            marker: Injected::new(FaultKind::Status, Arc::clone(&shared.name))
                .with_rule(Arc::clone(&HEADER_RULE)),
            guard: None,
        })
    }

    /// Adds the faults the request asked for through headers, rolling each
    /// percentage with the target's counter-based dice for call `n`. They
    /// come under the fault set's active-fault cap: a request that holds no
    /// slot yet takes one, and when the cap is full the header faults are
    /// not injected (counted in `faults_overflow`, as Envoy does).
    #[cold]
    #[inline(never)]
    fn header_faults(
        &self,
        asked: &HeaderFaultRequest,
        n: u64,
        outcome: &mut Outcome,
        guard: &mut Option<ActiveGuard>,
    ) {
        let shared = &*self.armed.target().shared;
        for _ in asked.ignored() {
            shared.counters.ignored_header();
        }
        if let Some(err) = asked.ignored().first() {
            tracing::debug!(target: "tower_chaos", chaos_target = %shared.name, error = %err, "fault-control header ignored");
        }
        let call_bits = nth(self.armed.seed(), n);
        let faults = asked.faults(|which, percent| {
            unit(derive(call_bits ^ HEADER_DICE, which)) * 100.0 < f64::from(percent)
        });
        if faults.iter().all(Option::is_none) || !self.armed.admit(guard) {
            return;
        }
        for fault in faults.iter().flatten() {
            let first = !outcome.is_faulted();
            if let Some(applied) = outcome.apply_header(fault, &HEADER_RULE) {
                shared.record(first, applied, Event::HEADER_CONTROL, Some(&HEADER_RULE));
            }
        }
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for HttpChaos<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
    ReqB: 'static,
{
    type Response = Response<ChaosBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Faults are never injected here: readiness is the inner service's.
        self.inner.poll_ready(cx)
    }

    #[inline]
    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        // One site builds the pass-through future, so that it stays in
        // registers (see `ResponseFuture`); everything past the screen is
        // out of line.
        let request = match self.screen() {
            None => request,
            Some(screened) => match self.try_fault(screened, request) {
                Ok(faulted) => return ResponseFuture::faulted(faulted),
                Err(request) => request,
            },
        };
        ResponseFuture::pass(self.inner.call(request))
    }
}

/// A call that got past [`HttpChaos::screen`].
#[derive(Clone, Copy)]
struct Screened {
    n: u64,
    /// `None` when no rule can fire (the call is here for header control).
    rules: Option<crate::rule::Screened>,
}

impl<S> HttpChaos<S> {
    /// The inline half of the decision: counts the call and asks the plan's
    /// screen; `None` when no fault can apply (no rule can fire and header
    /// control is off).
    #[inline]
    fn screen(&mut self) -> Option<Screened> {
        let crate::armed::Call { n, rules } = self.armed.screen(|_, _| {})?;
        if rules.is_none() && self.header_control.is_none() {
            return None;
        }
        Some(Screened { n, rules })
    }
}

impl<S: Clone> HttpChaos<S> {
    /// The rest of the decision, out of line: fault headers, the rules, and
    /// the faulted request's start; the request comes back when nothing
    /// applied.
    #[cold]
    #[inline(never)]
    // The request comes back by value on a path that is rare unless header
    // control is on: boxing it would allocate where nothing else does.
    #[allow(clippy::result_large_err)]
    fn try_fault<ReqB: 'static>(
        &mut self,
        screened: Screened,
        request: Request<ReqB>,
    ) -> Result<Pin<Box<Faulted<S, ReqB>>>, Request<ReqB>>
    where
        S: Service<Request<ReqB>>,
    {
        let mut outcome = Outcome::default();
        // Fault headers are read before any rule is evaluated: an unusable
        // one is answered `400` and consumes no trigger.
        let asked = match self.header_control.as_deref().map(|c| c.parse(request.headers())) {
            None | Some(Ok(None)) => None,
            Some(Ok(Some(asked))) => Some(asked),
            Some(Err(err)) => return Ok(self.reject_header(&err)),
        };
        // Triggers see the request through `&HttpRequest`: no copy of the
        // head, no allocation.
        let mut guard = screened
            .rules
            .and_then(|rules| self.armed.apply(&request, rules, &mut outcome));
        if let Some(asked) = &asked {
            self.header_faults(asked, screened.n, &mut outcome, &mut guard);
        }
        if outcome.is_faulted() {
            Ok(self.start(request, outcome, guard))
        } else {
            Err(request)
        }
    }
}

impl<S: Clone> HttpChaos<S> {
    /// Starts a faulted request (only the box goes back to `call`; see
    /// `ResponseFuture`).
    fn start<ReqB>(
        &mut self,
        request: Request<ReqB>,
        outcome: Outcome,
        guard: Option<ActiveGuard>,
    ) -> Pin<Box<Faulted<S, ReqB>>>
    where
        S: Service<Request<ReqB>>,
    {
        let marker = outcome.marker(&self.armed.target().shared.name);
        let delay = outcome.delay;
        let (body, synth) = match outcome.end {
            End::Call => (None, None),
            End::Body(fault) => (Some(fault), None),
            End::Respond(response) => (None, Some(Synth::Response(response))),
            End::Drop => (None, Some(Synth::Drop)),
        };
        if let Some(synth) = synth {
            let answer = Answer { synth, marker, guard };
            return if delay.is_zero() {
                Faulted::answer(answer)
            } else {
                Faulted::delay_then_respond(delay, answer)
            };
        }
        let applied = Applied {
            body,
            marker,
            counters: BodyCounters::for_target(self.armed.target()),
            guard,
        };
        if delay.is_zero() {
            Faulted::call(self.inner.call(request), applied)
        } else {
            // Take the service that was polled ready; leave a clone, which
            // the caller polls ready before its next call, as tower requires.
            let fresh = self.inner.clone();
            let ready = mem::replace(&mut self.inner, fresh);
            Faulted::delay_then_call(delay, ready, request, applied)
        }
    }
}
