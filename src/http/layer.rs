//! [`HttpChaosLayer`] and its builder.

use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::fault::{HttpFault, HttpFaultSet, HttpRule};
use super::header::HeaderControl;
use super::service::HttpChaos;
use super::view::HttpRequest;
use crate::macros::target_settings;
use crate::{ConfigError, FaultHandle, Target, TargetBuilder};

/// A [`Layer`] that applies HTTP and gRPC faults to a
/// `Service<http::Request<B>>`: see the [module docs](super) for an example.
///
/// The layer belongs to a [`Target`]: either one it creates
/// ([`builder`](Self::builder)) or one that exists
/// ([`for_target`](Self::for_target)). The target holds the faults (a
/// [`HttpFaultSet`], swappable at run time
/// with [`Target::set_faults`]), the seed, the switches and the counters,
/// shared by every service the layer builds and every clone of those (axum
/// and hyper clone services per connection and per request). The layer
/// itself holds only the target handle and the optional
/// [`HeaderControl`].
///
/// # Resolution order
///
/// For each request, when `call` runs and the target is enabled:
///
/// 1. the rules are evaluated in order, on the request head
///    (an [`HttpRequest`] view, borrowed: no copy); counting triggers count the requests that
///    reach them, random ones draw from the target's seed;
/// 2. every [`HttpFault::Latency`] that fires applies, and the delays add
///    up;
/// 3. the first rule that fires with a fault that shapes the response — a
///    [`Respond`](HttpFault::Respond), a
///    [`DropConnection`](HttpFault::DropConnection) or a
///    [`ResponseBody`](HttpFault::ResponseBody) — applies; later ones are not
///    offered the request (their budgets and active-fault slots are not
///    consumed, but their triggers were evaluated);
/// 4. then, with [`header_control`](Self::header_control) on, the faults the
///    request asks for through headers apply by the same rules (a header
///    delay adds up; a header abort or throttle applies only if no rule
///    shaped the response). An unusable fault header is answered
///    `400 Bad Request` instead;
/// 5. the request runs: the delay, then the synthesized answer, or the inner
///    call (with its response body faulted, if a body fault applied).
///
/// # Costs
///
/// When no fault fires the layer does an atomic load for the switch, one
/// for the fault set's version, one relaxed add for the call index, moves
/// the request head out and back (`into_parts`/`from_parts`, no allocation)
/// and evaluates the triggers: no allocation, no lock, no boxed future (see
/// `tests/alloc/http_alloc.rs` and `docs/BENCHMARKS.md`).
///
/// # Clone
///
/// Cheap: an `Arc` clone of the target (and of the header control). Clones
/// share everything.
///
/// # Panics
///
/// Delays and body faults sleep on tokio's timer, so requests must run in a
/// tokio runtime with time enabled (as hyper, axum and tonic always do).
#[derive(Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct HttpChaosLayer {
    target: Target,
    header_control: Option<Arc<HeaderControl>>,
}

impl fmt::Debug for HttpChaosLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpChaosLayer")
            .field("target", &self.target)
            .field("header_control", &self.header_control)
            .finish()
    }
}

impl HttpChaosLayer {
    /// Starts building a layer with a new target named `name`.
    ///
    /// ```
    /// use tower_chaos::http::{HttpChaosLayer, SyntheticResponse};
    /// let layer = HttpChaosLayer::builder("s3").seed(1).fault(SyntheticResponse::s3_slow_down()).build()?;
    /// assert_eq!(layer.target().name(), "s3");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn builder(name: impl Into<String>) -> HttpChaosLayerBuilder {
        HttpChaosLayerBuilder {
            target: Target::builder(name),
            faults: HttpFaultSet::new(),
            header_control: None,
        }
    }

    /// A layer for an existing target: it applies the HTTP faults installed
    /// on `target` with [`Target::set_faults`], now or later. Announces
    /// itself through `tracing` (info, target `tower_chaos`).
    ///
    /// ```
    /// use tower_chaos::http::{HttpChaosLayer, HttpFaultSet, SyntheticResponse};
    /// use tower_chaos::Target;
    ///
    /// let target = Target::builder("payments-api").seed(3).build()?;
    /// let layer = HttpChaosLayer::for_target(&target);
    /// target.set_faults(HttpFaultSet::new().with(SyntheticResponse::bad_gateway()))?;
    /// assert_eq!(layer.target().name(), "payments-api");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn for_target(target: &Target) -> Self {
        let layer = Self::attach(target);
        layer.announce();
        layer
    }

    /// Registers the layer as reading the target's HTTP faults.
    fn attach(target: &Target) -> Self {
        let _ = target.slot::<HttpFault, HttpRequest>();
        Self {
            target: target.clone(),
            header_control: None,
        }
    }

    /// Says, once, that chaos is on and with what.
    fn announce(&self) {
        announce(&self.target, "HTTP chaos layer");
    }

    /// Turns on header-controlled faults (off by default; never on a service
    /// that untrusted clients reach). A request with an invalid or
    /// out-of-bounds fault header is answered `400 Bad Request` with the
    /// error text, marked [`Injected`](super::Injected) with
    /// [`FaultKind::Status`](crate::FaultKind::Status), and counted in
    /// [`Report::rejected_headers`](crate::Report::rejected_headers). Logs a
    /// warning through `tracing`.
    ///
    /// # Errors
    ///
    /// The control is installed here, on a built layer, so it is checked
    /// here: a [`ConfigError`] naming its unusable setting (see
    /// [`HeaderControl::validate`]). The builder's
    /// [`header_control`](HttpChaosLayerBuilder::header_control) is
    /// checked by its `build`.
    ///
    /// ```
    /// use tower_chaos::Target;
    /// use tower_chaos::http::{HeaderControl, HttpChaosLayer};
    /// let target = Target::builder("api").seed(1).build()?;
    /// let layer = HttpChaosLayer::for_target(&target).header_control(HeaderControl::new())?;
    /// assert!(format!("{layer:?}").contains("HeaderControl"));
    /// let refused = HttpChaosLayer::for_target(&target).header_control(HeaderControl::new().min_throughput(0));
    /// assert!(refused.unwrap_err().to_string().contains("header_control.min_throughput"));
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn header_control(mut self, control: HeaderControl) -> Result<Self, ConfigError> {
        let control = control.validate()?;
        tracing::warn!(
            target: "tower_chaos",
            chaos_target = %self.target.name(),
            "header-controlled faults enabled: any client can ask for faults through headers",
        );
        self.header_control = Some(Arc::new(control));
        Ok(self)
    }

    /// The layer's target: keep a clone to switch faults, swap them and read
    /// reports.
    ///
    /// ```
    /// use tower_chaos::http::HttpChaosLayer;
    /// let layer = HttpChaosLayer::builder("api").seed(1).build()?;
    /// let target = layer.target().clone();
    /// target.disable();
    /// assert!(!layer.target().is_enabled());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn target(&self) -> &Target {
        &self.target
    }

    /// [`Target::set_faults`] for HTTP faults, without type annotations:
    /// swaps the HTTP faults of every layer and service of the target at
    /// once. Requests in flight keep the faults they were given.
    ///
    /// # Errors
    ///
    /// As [`Target::set_faults`]; on error nothing changes.
    ///
    /// ```
    /// use tower_chaos::{FaultSet, Trigger};
    /// use tower_chaos::http::{HttpChaosLayer, SyntheticResponse};
    /// let layer = HttpChaosLayer::builder("api").seed(1).build()?;
    /// layer.set_faults(FaultSet::new().with(SyntheticResponse::gateway_timeout().when(Trigger::every(2))))?;
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn set_faults(&self, faults: HttpFaultSet) -> Result<(), ConfigError> {
        self.target.set_faults(faults)
    }

    /// Removes the target's HTTP faults ([`Target::clear_http_faults`]).
    ///
    /// ```
    /// use tower::{Layer, ServiceExt};
    /// use tower_chaos::http::{HttpChaosLayer, SyntheticResponse};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let layer = HttpChaosLayer::builder("api").seed(1).fault(SyntheticResponse::bad_gateway()).build()?;
    /// let svc = layer.layer(tower::service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// }));
    /// assert_eq!(svc.clone().oneshot(http::Request::new(())).await?.status(), 502);
    /// layer.clear_faults();
    /// assert_eq!(svc.oneshot(http::Request::new(())).await?.status(), 200);
    /// # Ok(()) }
    /// ```
    pub fn clear_faults(&self) {
        self.target.clear_http_faults();
    }

    /// A typed handle on the target's HTTP faults, to keep after the layer
    /// moved into a stack (see [`FaultHandle`]): a set of another kind does
    /// not compile.
    ///
    /// ```
    /// use tower_chaos::FaultSet;
    /// use tower_chaos::http::{HttpChaosLayer, SyntheticResponse};
    /// let layer = HttpChaosLayer::builder("api").seed(1).build()?;
    /// let faults = layer.faults();
    /// faults.set(FaultSet::new().with(SyntheticResponse::service_unavailable()))?;
    /// assert!(layer.target().report().unread_fault_sets.is_empty());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn faults(&self) -> FaultHandle<HttpFault, HttpRequest> {
        self.target.http_faults()
    }
}

impl Target {
    /// A typed handle on the target's HTTP faults (what its
    /// [`HttpChaosLayer`]s read): a set of another kind does not compile.
    ///
    /// ```
    /// use tower_chaos::{FaultSet, Target};
    /// use tower_chaos::http::{HttpChaosLayer, SyntheticResponse};
    ///
    /// let target = Target::builder("api").seed(1).build()?;
    /// let http = target.http_faults();
    /// http.set(FaultSet::new().with(SyntheticResponse::bad_gateway()))?;
    /// // No HTTP layer attached yet: reported until one is.
    /// assert_eq!(target.report().unread_fault_sets.len(), 1);
    /// let _layer = HttpChaosLayer::for_target(&target);
    /// assert!(target.report().unread_fault_sets.is_empty());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn http_faults(&self) -> FaultHandle<HttpFault, HttpRequest> {
        FaultHandle::new(self)
    }

    /// Removes the target's HTTP faults, without a turbofish. See
    /// [`HttpChaosLayer::clear_faults`] for an example.
    pub fn clear_http_faults(&self) {
        self.http_faults().clear();
    }
}

impl<S> Layer<S> for HttpChaosLayer {
    type Service = HttpChaos<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpChaos::with_header_control(inner, &self.target, self.header_control.clone())
    }
}

/// Builds an [`HttpChaosLayer`] and its target; see
/// [`HttpChaosLayer::builder`].
#[derive(Debug)]
#[must_use = "a builder does nothing until `.build()` is called"]
pub struct HttpChaosLayerBuilder {
    target: TargetBuilder,
    faults: HttpFaultSet,
    header_control: Option<HeaderControl>,
}

impl HttpChaosLayerBuilder {
    target_settings!(
        seed: r#"```
let layer = tower_chaos::http::HttpChaosLayer::builder("api").seed(8).build()?;
assert_eq!(layer.target().seed(), 8);
# Ok::<(), tower_chaos::ConfigError>(())
```"#,
        journal: r#"```
let layer = tower_chaos::http::HttpChaosLayer::builder("api").journal(10).build()?;
assert!(layer.target().report().journal.is_empty());
# Ok::<(), tower_chaos::ConfigError>(())
```"#,
    );

    /// Starts with the target's faults switched off (see
    /// [`Target::enable`]).
    ///
    /// ```
    /// let layer = tower_chaos::http::HttpChaosLayer::builder("api").start_disabled().build()?;
    /// assert!(!layer.target().is_enabled());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn start_disabled(mut self) -> Self {
        self.target = self.target.start_disabled();
        self
    }

    /// Adds a rule: a [`SyntheticResponse`](super::SyntheticResponse),
    /// [`BodyFault`](super::BodyFault) or [`HttpFault`] on its own fires on
    /// every request; give it a trigger with `.when(..)`.
    ///
    /// ```
    /// use http::Method;
    /// use tower_chaos::Trigger;
    /// use tower_chaos::http::{BodyFault, HttpChaosLayer, RequestMatcher, SyntheticResponse};
    ///
    /// let layer = HttpChaosLayer::builder("s3")
    ///     .fault(SyntheticResponse::s3_slow_down().when(RequestMatcher::method(Method::PUT) & Trigger::rate(0.3)))
    ///     .fault(BodyFault::truncate_after(512).when(Trigger::every(10)))
    ///     .build()?;
    /// # let _ = layer;
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn fault(mut self, rule: impl Into<HttpRule>) -> Self {
        self.faults = self.faults.with(rule);
        self
    }

    /// Caps the requests carrying an HTTP fault at once (see
    /// [`FaultSet::max_active`](crate::FaultSet::max_active)), faults asked
    /// for through headers included: Envoy's `max_active_faults`, the
    /// protection it documents for header control. A request with a body
    /// fault stays active until its body ends or is dropped. A fault refused
    /// by the full cap is not injected and is counted in
    /// [`Report::faults_overflow`](crate::Report::faults_overflow); `0`
    /// injects nothing, as in Envoy.
    ///
    /// ```
    /// use tower::{Layer, ServiceExt};
    /// use tower_chaos::http::{HttpChaosLayer, HttpFault};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let layer = HttpChaosLayer::builder("api").seed(1).fault(HttpFault::DropConnection).max_active(0).build()?;
    /// let svc = layer.layer(tower::service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// }));
    /// assert_eq!(svc.oneshot(http::Request::new(())).await?.status(), 200);
    /// assert_eq!(layer.target().report().faults_overflow, 1);
    /// # Ok(()) }
    /// ```
    pub fn max_active(mut self, n: u32) -> Self {
        self.faults = self.faults.max_active(n);
        self
    }

    /// Turns on header-controlled faults (see
    /// [`HttpChaosLayer::header_control`]); the control is checked by
    /// [`build`](Self::build).
    ///
    /// ```
    /// use tower_chaos::http::{HeaderControl, HttpChaosLayer};
    /// let layer = HttpChaosLayer::builder("api").header_control(HeaderControl::new().envoy_names()).build()?;
    /// # let _ = layer;
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn header_control(mut self, control: HeaderControl) -> Self {
        self.header_control = Some(control);
        self
    }

    /// Builds the target, installs the faults and returns the layer.
    ///
    /// # Errors
    ///
    /// [`ConfigError`] for a bad target (empty name, zero journal, a bad
    /// [`SEED_ENV`](crate::SEED_ENV)), a bad fault set (a rate outside
    /// `0..=1`, a zero count, a body fault that does nothing…) or a bad
    /// [`HeaderControl`] (a zero `min_throughput`), naming the field and
    /// the value.
    ///
    /// ```
    /// use tower_chaos::Trigger;
    /// use tower_chaos::http::{HttpChaosLayer, SyntheticResponse};
    /// let err = HttpChaosLayer::builder("api")
    ///     .fault(SyntheticResponse::bad_gateway().when(Trigger::rate(1.5)))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `trigger.rate` = 1.5: must be within 0.0..=1.0");
    /// ```
    pub fn build(self) -> Result<HttpChaosLayer, ConfigError> {
        let (target, header_control) = self.install()?;
        let layer = HttpChaosLayer::attach(&target);
        layer.announce();
        match header_control {
            Some(control) => layer.header_control(control),
            None => Ok(layer),
        }
    }

    /// Builds the target and installs the faults, registered as read by an
    /// HTTP reader first (so that the set is installed where a reader
    /// reads); the header control is handed back.
    pub(crate) fn install(self) -> Result<(Target, Option<HeaderControl>), ConfigError> {
        // Checked before anything is built or announced.
        let header_control = self.header_control.map(HeaderControl::validate).transpose()?;
        let target = self.target.build()?;
        let _ = target.slot::<HttpFault, HttpRequest>();
        target.set_faults(self.faults)?;
        Ok((target, header_control))
    }
}

/// Says, once, that chaos is on for `target`'s HTTP faults, through `what`
/// (a layer or the reqwest middleware), and with what plan.
pub(crate) fn announce(target: &Target, what: &str) {
    let (plan, _) = target.slot::<HttpFault, HttpRequest>().current();
    tracing::info!(
        target: "tower_chaos",
        chaos_target = %target.name(),
        seed = target.seed(),
        seed_source = %target.seed_source(),
        plan = ?plan,
        "{what} built: faults may be injected"
    );
}
