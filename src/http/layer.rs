//! [`HttpChaosLayer`]: configuration, rules and shared counters.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tower_layer::Layer;

use super::body::BodyCounters;
use super::fault::{HttpFault, HttpFaultPlan};
use super::header::{HeaderControl, HeaderFaultError};
use super::marker::FaultKind;
use super::matcher::{RequestHead, RequestMatcher};
use super::service::HttpChaos;

/// One rule: when `matcher` matches, `fault` fires.
#[derive(Debug, Clone)]
pub(crate) struct HttpRule {
    pub(crate) matcher: RequestMatcher,
    pub(crate) fault: HttpFault,
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    pub(crate) target: Arc<str>,
    pub(crate) rules: Vec<HttpRule>,
    pub(crate) header_control: Option<HeaderControl>,
    pub(crate) seed: u64,
}

/// What `call` decided for one request.
pub(crate) enum Decision {
    Pass,
    Fault(HttpFaultPlan),
    BadHeader(HeaderFaultError),
}

impl Config {
    /// Decides, at `call` time, what happens to the request with this head.
    pub(crate) fn decide(&self, head: &RequestHead<'_>, counters: &HttpCounters) -> Decision {
        let mut plan = HttpFaultPlan::new();

        // SEAM: decision by core engine. Today every rule whose matcher
        // matches fires. The core engine replaces this loop: each rule
        // carries a `Trigger<http::Request<_>>` evaluated here, at call time,
        // with the target's seeded counter-based RNG and its enable switch;
        // the rules that fired are added to `plan` in rule order, exactly as
        // below. Nothing else in the layer needs to change.
        for rule in &self.rules {
            if rule.matcher.matches(head) {
                plan.add(&rule.fault);
            }
        }

        if let Some(control) = &self.header_control {
            match control.parse(head.headers()) {
                Ok(None) => {}
                Ok(Some(request)) => {
                    // SEAM: the core engine's seeded RNG replaces `chance`.
                    plan.merge(&request.to_plan(|percent| counters.chance(self.seed, percent)));
                }
                Err(err) => return Decision::BadHeader(err),
            }
        }

        if plan.is_empty() {
            Decision::Pass
        } else {
            Decision::Fault(plan)
        }
    }
}

/// Counters shared by a layer and every service and clone built from it.
///
/// # Clone
///
/// Clones share the same counters.
///
/// ```
/// use tower_chaos::http::{FaultKind, HttpChaosLayer};
/// let layer = HttpChaosLayer::new("api");
/// let counters = layer.counters();
/// assert_eq!(counters.requests(), 0);
/// assert_eq!(counters.injected(FaultKind::Status), 0);
/// ```
#[derive(Clone, Default)]
pub struct HttpCounters {
    inner: Arc<CountersInner>,
}

#[derive(Default)]
struct CountersInner {
    requests: AtomicU64,
    injected: [AtomicU64; FaultKind::ALL.len()],
    bad_headers: AtomicU64,
    draws: AtomicU64,
    body: BodyCounters,
}

impl fmt::Debug for HttpCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HttpCounters");
        d.field("requests", &self.requests());
        for kind in FaultKind::ALL {
            d.field(kind.as_str(), &self.injected(kind));
        }
        d.field("bad_headers", &self.bad_headers())
            .field("body_bytes_passed", &self.body_bytes_passed())
            .field("body_bytes_dropped", &self.body_bytes_dropped())
            .finish()
    }
}

impl HttpCounters {
    /// Requests seen by `call`.
    ///
    /// ```
    /// use tower::{Layer, ServiceExt};
    /// use tower_chaos::http::HttpChaosLayer;
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let layer = HttpChaosLayer::new("api");
    /// let svc = layer.layer(tower::service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// }));
    /// svc.oneshot(http::Request::new(())).await.unwrap();
    /// assert_eq!(layer.counters().requests(), 1);
    /// # });
    /// ```
    #[must_use]
    pub fn requests(&self) -> u64 {
        self.inner.requests.load(Ordering::Relaxed)
    }

    /// Requests whose response was shaped by a fault of `kind` (the kind
    /// recorded in the [`Injected`](super::Injected) marker).
    ///
    /// ```
    /// use tower::{Layer, ServiceExt};
    /// use tower_chaos::http::{FaultKind, HttpChaosLayer, HttpFault};
    /// # tokio::runtime::Builder::new_current_thread().enable_time().build().unwrap().block_on(async {
    /// let layer = HttpChaosLayer::new("api").fault(HttpFault::DropConnection);
    /// let svc = layer.layer(tower::service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// }));
    /// svc.oneshot(http::Request::new(())).await.unwrap();
    /// assert_eq!(layer.counters().injected(FaultKind::DropConnection), 1);
    /// assert_eq!(layer.counters().injected_total(), 1);
    /// # });
    /// ```
    #[must_use]
    pub fn injected(&self, kind: FaultKind) -> u64 {
        self.inner.injected[kind.index()].load(Ordering::Relaxed)
    }

    /// Requests that any fault touched.
    ///
    /// ```
    /// use tower_chaos::http::HttpChaosLayer;
    /// assert_eq!(HttpChaosLayer::new("api").counters().injected_total(), 0);
    /// ```
    #[must_use]
    pub fn injected_total(&self) -> u64 {
        self.inner
            .injected
            .iter()
            .map(|c| c.load(Ordering::Relaxed))
            .sum()
    }

    /// Requests answered `400` because a fault-control header was invalid.
    ///
    /// ```
    /// use tower_chaos::http::HttpChaosLayer;
    /// assert_eq!(HttpChaosLayer::new("api").counters().bad_headers(), 0);
    /// ```
    #[must_use]
    pub fn bad_headers(&self) -> u64 {
        self.inner.bad_headers.load(Ordering::Relaxed)
    }

    /// Data bytes delivered by faulted response bodies.
    ///
    /// ```
    /// use tower_chaos::http::HttpChaosLayer;
    /// assert_eq!(HttpChaosLayer::new("api").counters().body_bytes_passed(), 0);
    /// ```
    #[must_use]
    pub fn body_bytes_passed(&self) -> u64 {
        self.inner.body.passed()
    }

    /// Bytes read from inner response bodies and not delivered.
    ///
    /// ```
    /// use tower_chaos::http::HttpChaosLayer;
    /// assert_eq!(HttpChaosLayer::new("api").counters().body_bytes_dropped(), 0);
    /// ```
    #[must_use]
    pub fn body_bytes_dropped(&self) -> u64 {
        self.inner.body.dropped()
    }

    pub(crate) fn request(&self) {
        self.inner.requests.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn record(&self, kind: FaultKind) {
        self.inner.injected[kind.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn bad_header(&self) {
        self.inner.bad_headers.fetch_add(1, Ordering::Relaxed);
    }

    pub(crate) fn body(&self) -> &BodyCounters {
        &self.inner.body
    }

    /// A seeded, counter-based draw: `true` with probability `percent`/100.
    fn chance(&self, seed: u64, percent: u8) -> bool {
        let n = self.inner.draws.fetch_add(1, Ordering::Relaxed);
        splitmix64(seed ^ n.wrapping_mul(0x9E37_79B9_7F4A_7C15)) % 100 < u64::from(percent)
    }
}

fn splitmix64(mut z: u64) -> u64 {
    z = z.wrapping_add(0x9E37_79B9_7F4A_7C15);
    z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
    z ^ (z >> 31)
}

/// Applies HTTP and gRPC faults to a `Service<http::Request<B>>`: see the
/// [module docs](super) for an example.
///
/// The layer holds configuration; the counters behind
/// [`counters`](Self::counters) are shared by every service it builds and
/// every clone of those (axum and hyper clone services per connection and
/// per request).
///
/// Today a rule fires whenever its matcher matches; triggers (rates, every
/// n-th, keyed, windows) come from the core engine, which plugs in at the
/// single place marked `SEAM` in the source.
///
/// # Clone
///
/// Cheap: configuration and counters sit behind `Arc`s, and clones share
/// the counters.
#[derive(Clone)]
#[must_use = "a layer does nothing until it wraps a service"]
pub struct HttpChaosLayer {
    pub(crate) config: Arc<Config>,
    pub(crate) counters: HttpCounters,
}

impl fmt::Debug for HttpChaosLayer {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpChaosLayer")
            .field("target", &self.config.target)
            .field("rules", &self.config.rules)
            .field("header_control", &self.config.header_control)
            .finish_non_exhaustive()
    }
}

impl HttpChaosLayer {
    /// A layer for the target named `target`, with no rules yet (every
    /// request passes). Announces itself through `tracing`.
    ///
    /// ```
    /// use tower_chaos::http::HttpChaosLayer;
    /// let layer = HttpChaosLayer::new("payments-api");
    /// assert_eq!(layer.target(), "payments-api");
    /// ```
    pub fn new(target: impl Into<Arc<str>>) -> Self {
        let target = target.into();
        tracing::info!(target: "tower_chaos", chaos_target = %target, "HTTP chaos layer built: faults may be injected");
        Self {
            config: Arc::new(Config {
                target,
                rules: Vec::new(),
                header_control: None,
                seed: 0,
            }),
            counters: HttpCounters::default(),
        }
    }

    /// Adds a rule: requests that `matcher` matches get `fault`. Rules are
    /// evaluated in order and combined as [`HttpFaultPlan`] describes.
    ///
    /// ```
    /// use tower_chaos::http::{HttpChaosLayer, RequestMatcher, SyntheticResponse};
    /// let layer = HttpChaosLayer::new("s3")
    ///     .rule(RequestMatcher::method(http::Method::PUT), SyntheticResponse::s3_slow_down());
    /// assert_eq!(layer.rule_count(), 1);
    /// ```
    pub fn rule(mut self, matcher: RequestMatcher, fault: impl Into<HttpFault>) -> Self {
        Arc::make_mut(&mut self.config).rules.push(HttpRule {
            matcher,
            fault: fault.into(),
        });
        self
    }

    /// Adds a rule for every request.
    ///
    /// ```
    /// use tower_chaos::http::{HttpChaosLayer, HttpFault};
    /// let layer = HttpChaosLayer::new("api").fault(HttpFault::DropConnection);
    /// assert_eq!(layer.rule_count(), 1);
    /// ```
    pub fn fault(self, fault: impl Into<HttpFault>) -> Self {
        self.rule(RequestMatcher::any(), fault)
    }

    /// Turns on header-controlled faults (off by default; never on a service
    /// that untrusted clients reach). A request with an invalid or
    /// out-of-bounds fault header is answered `400 Bad Request` with the
    /// error text, marked [`Injected`](super::Injected) with
    /// [`FaultKind::Status`], and counted in
    /// [`HttpCounters::bad_headers`]. Logs a warning through `tracing`.
    ///
    /// ```
    /// use tower_chaos::http::{HeaderControl, HttpChaosLayer};
    /// let layer = HttpChaosLayer::new("api").header_control(HeaderControl::new());
    /// # let _ = layer;
    /// ```
    pub fn header_control(mut self, control: HeaderControl) -> Self {
        tracing::warn!(
            target: "tower_chaos",
            chaos_target = %self.config.target,
            "header-controlled faults enabled: any client can ask for faults through headers",
        );
        Arc::make_mut(&mut self.config).header_control = Some(control);
        self
    }

    /// Seeds the draws for header percentages (placeholder until the core
    /// engine's seed plugs in).
    ///
    /// ```
    /// use tower_chaos::http::HttpChaosLayer;
    /// let layer = HttpChaosLayer::new("api").seed(42);
    /// assert_eq!(layer.target(), "api");
    /// ```
    pub fn seed(mut self, seed: u64) -> Self {
        Arc::make_mut(&mut self.config).seed = seed;
        self
    }

    /// The target's name.
    ///
    /// ```
    /// use tower_chaos::http::HttpChaosLayer;
    /// assert_eq!(HttpChaosLayer::new(String::from("db")).target(), "db");
    /// ```
    #[must_use]
    pub fn target(&self) -> &str {
        &self.config.target
    }

    /// How many rules the layer holds.
    ///
    /// ```
    /// use tower_chaos::http::HttpChaosLayer;
    /// assert_eq!(HttpChaosLayer::new("api").rule_count(), 0);
    /// ```
    #[must_use]
    pub fn rule_count(&self) -> usize {
        self.config.rules.len()
    }

    /// The counters shared with every service built from this layer.
    ///
    /// ```
    /// use tower_chaos::http::HttpChaosLayer;
    /// let layer = HttpChaosLayer::new("api");
    /// let copy = layer.clone();
    /// assert_eq!(layer.counters().requests(), copy.counters().requests());
    /// ```
    #[must_use]
    pub fn counters(&self) -> HttpCounters {
        self.counters.clone()
    }
}

impl<S> Layer<S> for HttpChaosLayer {
    type Service = HttpChaos<S>;

    fn layer(&self, inner: S) -> Self::Service {
        HttpChaos::new(inner, self.clone())
    }
}
