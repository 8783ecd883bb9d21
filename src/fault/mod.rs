//! Request-level faults for any `tower::Service`: latency, errors, hangs and
//! lost replies.
//!
//! [`ChaosLayer`] wraps a service; the [`Fault`]s installed on its
//! [`Target`](crate::Target) decide, per request and at `call` time, what
//! happens. See [`ChaosLayer`] for the quick start and the resolution order.

mod future;
mod hint;
mod layer;
mod outcome;
mod service;

use std::any::{Any, TypeId};
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;

pub use future::ResponseFuture;
pub use hint::{FromInjected, MatchesError};
pub use layer::{ChaosLayer, ChaosLayerBuilder};
pub use service::Chaos;

use crate::rule::sealed::Sealed;
use crate::{ConfigError, FaultKind, InjectedError, Latency, Rule, Trigger};

type MakeError<R, E> = Arc<dyn Fn(&R, &InjectedError) -> E + Send + Sync>;

/// What happens to one request: the action of a [`Rule`].
///
/// `R` is the request type, `E` the inner service's error type (the layer
/// keeps it: an injected error is an `E`). A fault without a trigger always
/// fires; give it one with [`when`](Self::when).
///
/// | fault | the inner service | the caller sees |
/// |---|---|---|
/// | [`latency`](Self::latency) | called after the delay | the real response, later |
/// | [`latency_after`](Self::latency_after) | called at once | the real response, held back |
/// | [`error`](Self::error) / [`injected_error`](Self::injected_error) | not called | the error |
/// | [`hang`](Self::hang) | not called | a future that never completes |
/// | [`lost_reply`](Self::lost_reply) / [`lost_reply_injected`](Self::lost_reply_injected) | called, runs to completion | the error; the real response is discarded |
/// | [`respond`](Self::respond) | not called | a successful response built from the request |
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::{Fault, FaultKind, Latency, Trigger};
///
/// #[derive(Debug)]
/// enum DbError { Unavailable(String) }
///
/// let slow: Fault<String, DbError> = Fault::latency(Latency::fixed(Duration::from_millis(30)));
/// let down = Fault::error(|query: &String| DbError::Unavailable(query.clone()));
/// assert_eq!(down.kind(), FaultKind::Error);
/// let _rules = [slow.when(Trigger::rate(0.2)), down.when(Trigger::first(3))];
/// ```
pub struct Fault<R, E = crate::BoxError> {
    act: Act<R, E>,
}

/// Kept private so the variants stay out of the API.
enum Act<R, E> {
    Latency(Latency),
    LatencyAfter(Latency),
    Error(MakeError<R, E>),
    Hang,
    LostReply(MakeError<R, E>),
    Respond(Responder<R>),
}

/// A user's response maker, with the response type erased so that
/// `Fault<R, E>` keeps its two parameters; the layer asks for it back by
/// type ([`Responder::make`]).
pub(crate) struct Responder<R> {
    make: Arc<dyn Any + Send + Sync>,
    response: TypeId,
    response_name: &'static str,
    _request: PhantomData<fn(&R)>,
}

/// What `make` holds: the closure, typed.
struct RespondFn<R, T>(Box<dyn Fn(&R) -> T + Send + Sync>);

impl<R> Clone for Responder<R> {
    fn clone(&self) -> Self {
        Self {
            make: Arc::clone(&self.make),
            response: self.response,
            response_name: self.response_name,
            _request: PhantomData,
        }
    }
}

impl<R: 'static> Responder<R> {
    /// Whether this builds `T`s.
    pub(crate) fn builds<T: 'static>(&self) -> bool {
        self.response == TypeId::of::<T>()
    }

    /// The response for `req`; `None` if this does not build `T`s.
    pub(crate) fn make<T: 'static>(&self, req: &R) -> Option<T> {
        self.make.downcast_ref::<RespondFn<R, T>>().map(|f| (f.0)(req))
    }
}

impl<R, E> Clone for Fault<R, E> {
    fn clone(&self) -> Self {
        let act = match &self.act {
            Act::Latency(l) => Act::Latency(*l),
            Act::LatencyAfter(l) => Act::LatencyAfter(*l),
            Act::Error(f) => Act::Error(Arc::clone(f)),
            Act::Hang => Act::Hang,
            Act::LostReply(f) => Act::LostReply(Arc::clone(f)),
            Act::Respond(r) => Act::Respond(r.clone()),
        };
        Self { act }
    }
}

impl<R, E> fmt::Debug for Fault<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.act {
            Act::Latency(l) => f.debug_tuple("Latency").field(l).finish(),
            Act::LatencyAfter(l) => f.debug_tuple("LatencyAfter").field(l).finish(),
            Act::Error(_) => f.write_str(&format!("Error(<fn -> {}>)", std::any::type_name::<E>())),
            Act::Hang => f.write_str("Hang"),
            Act::LostReply(_) => f.write_str(&format!("LostReply(<fn -> {}>)", std::any::type_name::<E>())),
            Act::Respond(r) => f.write_str(&format!("Respond(<fn -> {}>)", r.response_name)),
        }
    }
}

impl<R, E> Fault<R, E> {
    const fn from_act(act: Act<R, E>) -> Self {
        Self { act }
    }

    /// Delays the request: the inner service is not called until the delay
    /// (sampled per request) has elapsed on tokio's clock.
    ///
    /// A delay that comes out zero (`Latency::fixed(Duration::ZERO)`, or a
    /// distribution's zero sample) injects nothing, as in Envoy and Polly:
    /// the request is not counted as faulted, no
    /// [`FaultKind::Latency`] is counted or journaled, and the rule's budget
    /// and active-fault slot are given back.
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::{Fault, FaultKind, Latency};
    /// let f: Fault<()> = Fault::latency(Duration::from_millis(5));
    /// assert_eq!(f.kind(), FaultKind::Latency);
    /// let tail: Fault<()> = Fault::latency(Latency::log_normal(Duration::from_millis(20), 0.5));
    /// assert_eq!(tail.kind(), FaultKind::Latency);
    /// ```
    #[must_use]
    pub fn latency(latency: impl Into<Latency>) -> Self {
        Self::from_act(Act::Latency(latency.into()))
    }

    /// Holds the response (or error) back for a delay after the inner
    /// service answered. A zero delay injects nothing (as for
    /// [`latency`](Self::latency)).
    ///
    /// ```
    /// # use std::time::Duration;
    /// # use tower_chaos::{Fault, FaultKind, Latency};
    /// let f: Fault<()> = Fault::latency_after(Duration::from_millis(5));
    /// assert_eq!(f.kind(), FaultKind::LatencyAfter);
    /// let l: Fault<()> = Fault::latency_after(Latency::uniform(Duration::ZERO, Duration::from_millis(9)));
    /// assert_eq!(l.kind(), FaultKind::LatencyAfter);
    /// ```
    #[must_use]
    pub fn latency_after(latency: impl Into<Latency>) -> Self {
        Self::from_act(Act::LatencyAfter(latency.into()))
    }

    /// Fails the request with an error built from it, without calling the
    /// inner service.
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultKind};
    /// let f = Fault::error(|req: &u32| format!("request {req} refused"));
    /// assert_eq!(f.kind(), FaultKind::Error);
    /// ```
    #[must_use]
    pub fn error<F>(make: F) -> Self
    where
        F: Fn(&R) -> E + Send + Sync + 'static,
    {
        Self::from_act(Act::Error(Arc::new(move |r, _| make(r))))
    }

    /// Like [`error`](Self::error), with the ready-made [`InjectedError`]
    /// (converted into `E`; `tower::BoxError` accepts it).
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultKind};
    /// let f: Fault<u32> = Fault::injected_error();
    /// assert_eq!(f.kind(), FaultKind::Error);
    /// ```
    #[must_use]
    pub fn injected_error() -> Self
    where
        E: FromInjected,
    {
        Self::from_act(Act::Error(Arc::new(|_, e| E::from_injected(e.clone()))))
    }

    /// A request that never completes: no response, no error, until the
    /// caller gives up (a timeout) and drops the future.
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultKind};
    /// let f: Fault<()> = Fault::hang();
    /// assert_eq!(f.kind(), FaultKind::Hang);
    /// ```
    #[must_use]
    pub const fn hang() -> Self {
        Self::from_act(Act::Hang)
    }

    /// "The write happened but the answer was lost": the inner service is
    /// called and runs to completion, then the caller gets the error built
    /// from the request, and the real response is dropped. Rehearses
    /// idempotency: a retry repeats a request that already took effect.
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultKind};
    /// let f = Fault::lost_reply(|_: &String| std::io::Error::other("connection reset"));
    /// assert_eq!(f.kind(), FaultKind::LostReply);
    /// ```
    #[must_use]
    pub fn lost_reply<F>(make: F) -> Self
    where
        F: Fn(&R) -> E + Send + Sync + 'static,
    {
        Self::from_act(Act::LostReply(Arc::new(move |r, _| make(r))))
    }

    /// Like [`lost_reply`](Self::lost_reply), with [`InjectedError`].
    ///
    /// ```
    /// # use tower_chaos::{Fault, FaultKind};
    /// let f: Fault<u32> = Fault::lost_reply_injected();
    /// assert_eq!(f.kind(), FaultKind::LostReply);
    /// ```
    #[must_use]
    pub fn lost_reply_injected() -> Self
    where
        E: FromInjected,
    {
        Self::from_act(Act::LostReply(Arc::new(|_, e| E::from_injected(e.clone()))))
    }

    /// Answers with a successful response built from the request, without
    /// calling the inner service: Polly's outcome strategy (`AddChaosOutcome`
    /// with a result). Use it for a stale cache hit, a default value, an
    /// empty page, or a success that hides a problem (a `200` with an error
    /// document), which a caller must handle as well as it handles errors.
    ///
    /// Counted as [`FaultKind::Respond`]; a terminal fault (see
    /// [`ChaosLayer`](crate::ChaosLayer#resolution-order)): delays that
    /// fire with it still apply.
    ///
    /// `T` must be the wrapped service's `Response` type. `Fault<R, E>`
    /// does not carry it, so it is checked when the layer wraps a service
    /// and whenever the service picks up a new fault set: a `respond` fault
    /// of another type is skipped for that service (it never fires there)
    /// and a `tracing` error (target `tower_chaos`) names both types.
    ///
    /// ```
    /// use tower::{Service, ServiceExt, service_fn};
    /// use tower_chaos::{ChaosLayer, Fault, FaultKind, Trigger};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
    /// let chaos = ChaosLayer::builder("prices")
    ///     .seed(1)
    ///     .fault(Fault::respond(|sku: &String| format!("{sku}: 0.00 (stale)")).when(Trigger::first(1)))
    ///     .build()?;
    /// let target = chaos.target().clone();
    /// let mut svc = tower::ServiceBuilder::new()
    ///     .layer(chaos)
    ///     .service(service_fn(|sku: String| async move { Ok::<_, tower::BoxError>(format!("{sku}: 9.99")) }));
    ///
    /// assert_eq!(svc.ready().await?.call("apple".into()).await?, "apple: 0.00 (stale)");
    /// assert_eq!(svc.ready().await?.call("apple".into()).await?, "apple: 9.99");
    /// assert_eq!(target.report().injected(FaultKind::Respond), 1);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn respond<T, F>(make: F) -> Self
    where
        F: Fn(&R) -> T + Send + Sync + 'static,
        R: 'static,
        T: 'static,
    {
        Self::from_act(Act::Respond(Responder {
            make: Arc::new(RespondFn::<R, T>(Box::new(make))),
            response: TypeId::of::<T>(),
            response_name: std::any::type_name::<T>(),
            _request: PhantomData,
        }))
    }

    /// The kind of fault, as counted in reports.
    #[must_use]
    pub const fn kind(&self) -> FaultKind {
        match self.act {
            Act::Latency(_) => FaultKind::Latency,
            Act::LatencyAfter(_) => FaultKind::LatencyAfter,
            Act::Error(_) => FaultKind::Error,
            Act::Hang => FaultKind::Hang,
            Act::LostReply(_) => FaultKind::LostReply,
            Act::Respond(_) => FaultKind::Respond,
        }
    }

    /// The response type a [`respond`](Self::respond) fault builds, by
    /// name (`None` for other faults).
    ///
    /// ```
    /// # use tower_chaos::Fault;
    /// let f: Fault<u32> = Fault::respond(|n: &u32| n.to_string());
    /// assert_eq!(f.response_type(), Some("alloc::string::String"));
    /// assert_eq!(Fault::<u32>::hang().response_type(), None);
    /// ```
    #[must_use]
    pub const fn response_type(&self) -> Option<&'static str> {
        match &self.act {
            Act::Respond(r) => Some(r.response_name),
            _ => None,
        }
    }

    /// This fault whenever `trigger` fires.
    ///
    /// ```
    /// # use tower_chaos::{Fault, Rule, Trigger};
    /// let rule: Rule<Fault<()>, ()> = Fault::hang().when(Trigger::every(100));
    /// assert!(format!("{rule:?}").contains("Every(100)"));
    /// ```
    #[must_use]
    pub const fn when(self, trigger: Trigger<R>) -> Rule<Self, R> {
        Rule::new(self, trigger)
    }

    /// This fault, always, in a rule named `name`.
    ///
    /// ```
    /// # use tower_chaos::{Fault, Rule};
    /// let rule: Rule<Fault<()>, ()> = Fault::hang().named("stuck");
    /// assert_eq!(rule.name(), Some("stuck"));
    /// ```
    #[must_use]
    pub fn named(self, name: impl Into<Arc<str>>) -> Rule<Self, R> {
        Rule::new(self, Trigger::always()).named(name)
    }

    /// Whether a [`respond`](Self::respond) fault builds `T`s (`true` for
    /// other faults).
    fn builds<T: 'static>(&self) -> bool
    where
        R: 'static,
    {
        match &self.act {
            Act::Respond(r) => r.builds::<T>(),
            _ => true,
        }
    }

    /// Whether the fault ends the request (error, hang, lost reply) rather
    /// than only delaying it.
    const fn is_terminal(&self) -> bool {
        !matches!(self.act, Act::Latency(_) | Act::LatencyAfter(_))
    }
}

impl<R, E> From<Fault<R, E>> for Rule<Fault<R, E>, R> {
    /// A rule that always fires.
    fn from(fault: Fault<R, E>) -> Self {
        Self::new(fault, Trigger::always())
    }
}

impl<R, E> Sealed for Fault<R, E> {
    fn validate(&self) -> Result<(), ConfigError> {
        match &self.act {
            Act::Latency(l) | Act::LatencyAfter(l) => l.validate(),
            Act::Error(_) | Act::Hang | Act::LostReply(_) | Act::Respond(_) => Ok(()),
        }
    }

    #[cfg(feature = "scenario")]
    fn fails_outright(&self) -> bool {
        // A synthesized success does not fail the caller.
        matches!(self.act, Act::Error(_) | Act::Hang | Act::LostReply(_))
    }
}
