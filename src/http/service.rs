//! [`HttpChaos`], the service built by [`HttpChaosLayer`].

use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use http::{Request, Response};
use tower_service::Service;

use super::body::ChaosBody;
use super::future::{Applied, ResponseFuture, Synth};
use super::layer::{Config, Decision, HttpChaosLayer, HttpCounters};
use super::marker::{FaultKind, Injected};
use super::matcher::RequestHead;

/// Wraps a `Service<http::Request<B>>` and applies the faults of its
/// [`HttpChaosLayer`]; see the [module docs](super).
///
/// It keeps the inner service's error type (so it fits in
/// `axum::Router::layer` and tonic's `Server::builder().layer(..)`) and
/// returns `Response<ChaosBody<ResB>>`, which passes the inner body through
/// untouched unless a body fault fired.
///
/// `poll_ready` forwards to the inner service. When a fault answers without
/// calling the inner service, the readiness obtained stays for the next
/// call. When a delay fires, the ready inner service moves into the response
/// future and a clone takes its place (hence `S: Clone`).
///
/// # Clone
///
/// Clones the inner service; configuration and counters are shared.
#[derive(Clone)]
pub struct HttpChaos<S> {
    inner: S,
    config: Arc<Config>,
    counters: HttpCounters,
}

impl<S: fmt::Debug> fmt::Debug for HttpChaos<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpChaos")
            .field("inner", &self.inner)
            .field("target", &self.config.target)
            .finish_non_exhaustive()
    }
}

impl<S> HttpChaos<S> {
    /// Wraps `inner` with the configuration of `layer`.
    ///
    /// ```
    /// use tower_chaos::http::{HttpChaos, HttpChaosLayer};
    /// let svc = HttpChaos::new(tower::service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// }), HttpChaosLayer::new("api"));
    /// assert_eq!(svc.counters().requests(), 0);
    /// ```
    pub fn new(inner: S, layer: HttpChaosLayer) -> Self {
        Self {
            inner,
            config: layer.config,
            counters: layer.counters,
        }
    }

    /// The shared counters.
    ///
    /// ```
    /// use tower::Layer;
    /// use tower_chaos::http::HttpChaosLayer;
    /// let inner = tower::service_fn(|_: http::Request<()>| async {
    ///     Ok::<_, std::convert::Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
    /// });
    /// let layer = HttpChaosLayer::new("api");
    /// let svc = layer.layer(inner);
    /// assert_eq!(svc.counters().requests(), layer.counters().requests());
    /// ```
    #[must_use]
    pub fn counters(&self) -> HttpCounters {
        self.counters.clone()
    }

    /// The inner service.
    ///
    /// ```
    /// use tower::Layer;
    /// use tower_chaos::http::HttpChaosLayer;
    /// let svc = HttpChaosLayer::new("api").layer(7u8);
    /// assert_eq!(*svc.get_ref(), 7);
    /// ```
    pub const fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use tower::Layer;
    /// use tower_chaos::http::HttpChaosLayer;
    /// let mut svc = HttpChaosLayer::new("api").layer(7u8);
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 8);
    /// ```
    pub const fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Unwraps the inner service.
    ///
    /// ```
    /// use tower::Layer;
    /// use tower_chaos::http::HttpChaosLayer;
    /// assert_eq!(HttpChaosLayer::new("api").layer("inner").into_inner(), "inner");
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S, ReqB, ResB> Service<Request<ReqB>> for HttpChaos<S>
where
    S: Service<Request<ReqB>, Response = Response<ResB>> + Clone,
{
    type Response = Response<ChaosBody<ResB>>;
    type Error = S::Error;
    type Future = ResponseFuture<S, ReqB>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request<ReqB>) -> Self::Future {
        self.counters.request();
        let decision = self.config.decide(&RequestHead::of(&request), &self.counters);
        let plan = match decision {
            Decision::Pass => return ResponseFuture::pass(self.inner.call(request)),
            Decision::Fault(plan) => plan,
            Decision::BadHeader(err) => {
                self.counters.bad_header();
                self.counters.record(FaultKind::Status);
                tracing::warn!(target: "tower_chaos", chaos_target = %self.config.target, error = %err, "invalid fault-control header");
                return ResponseFuture::ready(Synth::bad_header(&err), self.config.target.clone());
            }
        };

        let kind = plan.kind().expect("a non-empty plan has a kind");
        self.counters.record(kind);
        tracing::debug!(target: "tower_chaos", chaos_target = %self.config.target, fault_kind = %kind, "HTTP fault injected");
        let target = self.config.target.clone();

        let next = match plan.outcome() {
            super::fault::Outcome::Respond(r) => Err(Synth::Response(r.clone())),
            super::fault::Outcome::Drop => Err(Synth::Drop),
            super::fault::Outcome::Call => Ok(Applied {
                body: plan.response_body(),
                marker: Injected::new(kind, target.clone()),
                counters: self.counters.body().clone(),
            }),
        };

        let delay = plan.delay();
        match next {
            Err(synth) if delay.is_zero() => ResponseFuture::ready(synth, target),
            Err(synth) => ResponseFuture::delay_then_respond(delay, synth, target),
            Ok(applied) if delay.is_zero() => ResponseFuture::faulted(self.inner.call(request), applied),
            Ok(applied) => {
                // Take the service that was polled ready; leave a clone.
                let clone = self.inner.clone();
                let ready = std::mem::replace(&mut self.inner, clone);
                ResponseFuture::delay_then_call(delay, ready, request, applied)
            }
        }
    }
}
