//! [`ChaosLayer`] and its builder.

use std::fmt;
use std::marker::PhantomData;

use tower_layer::Layer;
use tower_service::Service;

use super::{Chaos, Fault, MatchesError};
use crate::macros::target_settings;
use crate::{ConfigError, FaultHandle, FaultSet, Rule, Target, TargetBuilder};

/// A [`Layer`] that injects request-level [`Fault`]s into any
/// `tower::Service<R>` whose error type is `E`.
///
/// The layer keeps the service's error type: an injected error is an `E`
/// (built by [`Fault::error`], or converted from [`InjectedError`](crate::InjectedError) by
/// [`Fault::injected_error`], which needs `E: From<InjectedError>`).
///
/// # HTTP stacks
///
/// An axum `Router` (and most HTTP services) has the error type
/// `Infallible`: there is no error to inject, and HTTP failures are
/// responses anyway. Use `tower_chaos::http::HttpChaosLayer` (feature
/// `http`) there: statuses, gRPC statuses, body faults and dropped
/// connections, keeping `Infallible`. A `ChaosLayer` with the wrong error
/// type does not compile, and the message says this (see
/// [`MatchesError`](crate::MatchesError) and
/// [`FromInjected`](crate::FromInjected)); with the error type inferred, its
/// latency, hang and respond faults do work on a `Router`.
///
/// # Installing faults
///
/// [`ChaosLayerBuilder::fault`], or at run time the typed
/// [`faults`](Self::faults) handle (a set of another request or error type
/// does not compile). [`Target::set_faults`] takes any kind: a set no layer
/// of the target reads is reported (see
/// [`Report::unread_fault_sets`](crate::Report::unread_fault_sets)).
///
/// # Example
///
/// ```
/// use tower::{BoxError, Service, ServiceBuilder, ServiceExt, service_fn};
/// use tower_chaos::{ChaosLayer, Fault, FaultKind, InjectedError, Trigger};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), BoxError> {
/// let chaos = ChaosLayer::builder("payments")
///     .seed(42)
///     .fault(Fault::injected_error().when(Trigger::first(3)))
///     .build()?;
/// let target = chaos.target().clone();
/// let svc = ServiceBuilder::new()
///     .layer(chaos)
///     .service(service_fn(|amount: u64| async move { Ok::<_, BoxError>(amount) }));
///
/// // Servers clone services per connection; the first three calls fail
/// // overall, whichever clone makes them.
/// let mut failures = 0;
/// for amount in 0..10 {
///     let mut clone = svc.clone();
///     if let Err(e) = clone.ready().await?.call(amount).await {
///         assert!(e.downcast_ref::<InjectedError>().is_some());
///         failures += 1;
///     }
/// }
/// assert_eq!(failures, 3);
/// assert_eq!(target.report().injected(FaultKind::Error), 3);
/// # Ok(()) }
/// ```
///
/// # Resolution order
///
/// Rules are evaluated in the order they were added, once per request, when
/// `call` runs. For the rules that fire:
///
/// 1. every [`latency`](Fault::latency) fault applies and their delays add
///    up, as do the [`latency_after`](Fault::latency_after) delays (each
///    sum at most [`Latency::MAX_DELAY`](crate::Latency::MAX_DELAY), 365
///    days: a request is never held longer than that before its call, nor
///    after it; the journal keeps each fault's own delay);
/// 2. the first terminal fault ([`error`](Fault::error),
///    [`hang`](Fault::hang), [`lost_reply`](Fault::lost_reply),
///    [`respond`](Fault::respond)) in rule
///    order applies; later terminal rules are not offered the request (their
///    budgets and active slots are not consumed, but their triggers were
///    evaluated and counting triggers counted it);
/// 3. the request then runs: delay before, then the inner call (or the
///    error, or the hang), then the after-delay on whatever result came out.
///
/// # Costs
///
/// When no fault fires the layer does two or three relaxed atomic
/// operations and the triggers' arithmetic: no allocation, no lock, no
/// boxed future (see `tests/alloc/zero_alloc.rs` and `benches/overhead.rs`).
///
/// # Panics
///
/// Latency faults sleep on tokio's timer: like `tower::timeout`, they need
/// a tokio runtime with time enabled.
pub struct ChaosLayer<R, E = crate::BoxError> {
    target: Target,
    _types: PhantomData<fn(R) -> E>,
}

impl<R, E> Clone for ChaosLayer<R, E> {
    fn clone(&self) -> Self {
        Self {
            target: self.target.clone(),
            _types: PhantomData,
        }
    }
}

impl<R, E> fmt::Debug for ChaosLayer<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosLayer")
            .field("target", &self.target)
            .finish()
    }
}

impl<R: 'static, E: 'static> ChaosLayer<R, E> {
    /// Starts building a layer with a new target named `name`.
    ///
    /// ```
    /// let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
    /// assert_eq!(layer.target().name(), "db");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn builder(name: impl Into<String>) -> ChaosLayerBuilder<R, E> {
        ChaosLayerBuilder {
            target: Target::builder(name),
            faults: FaultSet::new(),
        }
    }

    /// A layer for an existing target: it applies the request-level faults
    /// installed on `target` with [`Target::set_faults`], now or later.
    ///
    /// ```
    /// use tower_chaos::{ChaosLayer, Target};
    /// let target = Target::builder("search").seed(3).build()?;
    /// let layer: ChaosLayer<String> = ChaosLayer::for_target(&target);
    /// assert_eq!(layer.target().name(), "search");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn for_target(target: &Target) -> Self {
        let layer = Self::attach(target);
        layer.announce();
        layer
    }

    /// Registers the layer as reading the target's `Fault<R, E>` sets.
    fn attach(target: &Target) -> Self {
        let _ = target.slot::<Fault<R, E>, R>();
        Self {
            target: target.clone(),
            _types: PhantomData,
        }
    }

    /// Says, once, that chaos is on and with what.
    fn announce(&self) {
        let target = &self.target;
        let (plan, _) = target.slot::<Fault<R, E>, R>().current();
        tracing::info!(
            target: "tower_chaos",
            chaos_target = %target.name(),
            seed = target.seed(),
            seed_source = %target.seed_source(),
            request = std::any::type_name::<R>(),
            plan = ?plan,
            "chaos layer built: faults may be injected"
        );
    }
}

impl<R, E> ChaosLayer<R, E> {
    /// The layer's target: keep a clone to switch faults and read reports.
    ///
    /// ```
    /// let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(1).build()?;
    /// let target = layer.target().clone();
    /// target.disable();
    /// assert!(!layer.target().is_enabled());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn target(&self) -> &Target {
        &self.target
    }
}

impl<R: 'static, E: 'static> ChaosLayer<R, E> {
    /// [`Target::set_faults`] with the types of this layer, so they need no
    /// annotation. Affects every layer and service of the target.
    ///
    /// # Errors
    ///
    /// As [`Target::set_faults`]; on error nothing changes.
    ///
    /// ```
    /// use tower_chaos::{ChaosLayer, Fault, FaultSet, Trigger};
    ///
    /// let layer: ChaosLayer<u32> = ChaosLayer::builder("x").seed(1).build()?;
    /// layer.set_faults(FaultSet::new().with(Fault::injected_error().when(Trigger::every(2))))?;
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn set_faults(&self, faults: FaultSet<Fault<R, E>, R>) -> Result<(), ConfigError> {
        self.target.set_faults(faults)
    }

    /// Removes the target's request faults of this layer's types
    /// ([`Target::clear_faults`] without a turbofish).
    ///
    /// ```
    /// use tower::{Service, ServiceExt, service_fn};
    /// use tower_chaos::{ChaosLayer, Fault};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
    /// let chaos: ChaosLayer<u32> = ChaosLayer::builder("db").seed(1).fault(Fault::injected_error()).build()?;
    /// let mut svc = tower::ServiceBuilder::new()
    ///     .layer(chaos.clone())
    ///     .service(service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) }));
    /// assert!(svc.ready().await?.call(1).await.is_err());
    /// chaos.clear_faults();
    /// assert_eq!(svc.ready().await?.call(2).await?, 2);
    /// # Ok(()) }
    /// ```
    pub fn clear_faults(&self) {
        self.faults().clear();
    }

    /// A typed handle on this layer's faults, to keep after the layer
    /// moved into a stack: the preferred way to swap them at run time,
    /// since a set of another request or error type does not compile
    /// (see [`FaultHandle`] for the example and the `compile_fail` case).
    ///
    /// ```
    /// use tower_chaos::{ChaosLayer, Fault, FaultSet};
    /// let layer: ChaosLayer<u32> = ChaosLayer::builder("db").seed(1).build()?;
    /// let faults = layer.faults();
    /// faults.set(FaultSet::new().with(Fault::hang()))?;
    /// assert!(layer.target().report().unread_fault_sets.is_empty());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn faults(&self) -> FaultHandle<Fault<R, E>, R> {
        FaultHandle::new(&self.target)
    }
}

impl<S, R, E> Layer<S> for ChaosLayer<R, E>
where
    S: Service<R>,
    // `S::Error` is `E`; spelled as a trait so that a mismatch (axum's
    // `Infallible`) gets a message that names `HttpChaosLayer`.
    S::Error: MatchesError<E> + 'static,
    R: 'static,
    E: 'static,
    S::Response: 'static,
{
    type Service = Chaos<S, R>;

    fn layer(&self, inner: S) -> Self::Service {
        Chaos::new(inner, &self.target)
    }
}

/// Builds a [`ChaosLayer`] and its target; see [`ChaosLayer::builder`].
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct ChaosLayerBuilder<R, E = crate::BoxError> {
    target: TargetBuilder,
    faults: FaultSet<Fault<R, E>, R>,
}

impl<R, E> fmt::Debug for ChaosLayerBuilder<R, E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosLayerBuilder")
            .field("target", &self.target)
            .field("faults", &self.faults)
            .finish()
    }
}

impl<R: 'static, E: 'static> ChaosLayerBuilder<R, E> {
    target_settings!(
        seed: r#"```
let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").seed(8).build()?;
assert_eq!(layer.target().seed(), 8);
# Ok::<(), tower_chaos::ConfigError>(())
```"#,
        journal: r#"```
let layer: tower_chaos::ChaosLayer<u32> = tower_chaos::ChaosLayer::builder("db").journal(10).build()?;
assert!(layer.target().report().journal.is_empty());
# Ok::<(), tower_chaos::ConfigError>(())
```"#,
    );

    /// Adds a rule; a bare [`Fault`] always fires.
    ///
    /// ```
    /// use tower_chaos::{ChaosLayer, Fault, Trigger};
    /// let layer: ChaosLayer<u32> = ChaosLayer::builder("db")
    ///     .fault(Fault::hang().when(Trigger::first(1)))
    ///     .fault(Fault::injected_error())
    ///     .build()?;
    /// # let _ = layer;
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn fault(mut self, rule: impl Into<Rule<Fault<R, E>, R>>) -> Self {
        self.faults = self.faults.with(rule);
        self
    }

    /// Caps the requests carrying a fault at once (see
    /// [`FaultSet::max_active`]). A fault refused by the full cap is not
    /// injected and is counted in
    /// [`Report::faults_overflow`](crate::Report::faults_overflow); `0`
    /// injects nothing (as Envoy's `max_active_faults: 0`).
    ///
    /// ```
    /// use tower::{Service, ServiceExt, service_fn};
    /// use tower_chaos::{ChaosLayer, Fault};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
    /// let chaos = ChaosLayer::builder("db").seed(1).fault(Fault::injected_error()).max_active(0).build()?;
    /// let target = chaos.target().clone();
    /// let mut svc = tower::ServiceBuilder::new()
    ///     .layer(chaos)
    ///     .service(service_fn(|x: u32| async move { Ok::<_, tower::BoxError>(x) }));
    /// assert_eq!(svc.ready().await?.call(7).await?, 7);
    /// let report = target.report();
    /// assert_eq!((report.faulted, report.faults_overflow), (0, 1));
    /// # Ok(()) }
    /// ```
    pub fn max_active(mut self, n: u32) -> Self {
        self.faults = self.faults.max_active(n);
        self
    }

    /// Validates everything and builds the layer.
    ///
    /// # Errors
    ///
    /// The first [`ConfigError`] found, naming the field and value.
    ///
    /// ```
    /// use tower_chaos::{ChaosLayer, Fault, Trigger};
    /// let err = ChaosLayer::<u32>::builder("x")
    ///     .fault(Fault::hang().when(Trigger::rate(f64::NAN)))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("`trigger.rate` = NaN"));
    /// ```
    pub fn build(self) -> Result<ChaosLayer<R, E>, ConfigError> {
        let target = self.target.build()?;
        // Attached first, so that the set is installed where a layer reads.
        let layer = ChaosLayer::attach(&target);
        target.set_faults(self.faults)?;
        layer.announce();
        Ok(layer)
    }
}
