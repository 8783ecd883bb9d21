//! HTTP and gRPC faults that real clients and servers feel (feature `http`).
//!
//! At the HTTP level a fault is a response a real client parses, not an
//! opaque error: a synthesized status (`503`, `429` with `Retry-After`, an
//! AWS `ThrottlingException`, an S3 `SlowDown`), a gRPC trailers-only
//! status, a response body that stalls, crawls, or stops half-way, or a
//! dropped connection. [`HttpChaosLayer`] keeps the inner service's error
//! type, so it goes straight into `axum::Router::layer` (which needs
//! `Infallible`), tonic's `Server::builder().layer(..)`, or around a client
//! such as hyper-util's.
//!
//! The layer runs on the crate's core: it belongs to a [`Target`], its rules
//! are [`HttpRule`]s (`Rule<HttpFault, HttpRequest>`) with [`Trigger`]s
//! evaluated at `call` on the borrowed request ([`HttpRequest`]), draws come
//! from the target's seed, and everything it injects is counted in the
//! target's [`Report`](crate::Report).
//!
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Method, Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{Layer, Service, ServiceExt};
//! use tower_chaos::http::{HttpChaosLayer, Injected, RequestMatcher, SyntheticResponse};
//! use tower_chaos::{FaultKind, Trigger};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! // S3, 2017: the first three PUTs to an item get `SlowDown`; GETs pass.
//! let chaos = HttpChaosLayer::builder("s3")
//!     .seed(2017)
//!     .fault(
//!         SyntheticResponse::s3_slow_down()
//!             .when(RequestMatcher::method(Method::PUT) & RequestMatcher::path_glob("/items/*") & Trigger::first(3)),
//!     )
//!     .build()?;
//! let target = chaos.target().clone();
//! let mut svc = chaos.layer(tower::service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("stored"))))
//! }));
//!
//! for _ in 0..4 {
//!     let put = Request::put("/items/7").body(Full::default())?;
//!     let get = Request::get("/items/7").body(Full::default())?;
//!     let put = svc.ready().await?.call(put).await?;
//!     let get = svc.ready().await?.call(get).await?;
//!     assert_eq!(Injected::of(&put).is_some(), put.status() == StatusCode::SERVICE_UNAVAILABLE);
//!     assert_eq!(get.status(), StatusCode::OK);
//! }
//! let report = target.report();
//! assert_eq!((report.seen, report.injected(FaultKind::Status)), (8, 3));
//! # Ok(()) }
//! ```
//!
//! # The pieces
//!
//! * [`HttpFault`]: what a rule does — [`HttpFault::Respond`] with a
//!   [`SyntheticResponse`], [`HttpFault::Latency`] (a [`Latency`](crate::Latency)
//!   before the inner call), [`HttpFault::ResponseBody`] with a
//!   [`BodyFault`], or [`HttpFault::DropConnection`]. Each has a `when`
//!   that makes it a rule; on its own it fires on every request.
//! * [`SyntheticResponse`]: any status, headers and body; ready-made `500`,
//!   `502`, `503`, `504`, `429` with [`RetryAfter`]; AWS JSON and S3 XML
//!   errors; gRPC trailers-only responses for every [`GrpcCode`].
//! * [`ChaosBody`] and [`BodyFault`]: streaming body faults (truncate,
//!   stall, throttle, first-byte delay, abort), for response bodies through
//!   the layer and for request bodies by wrapping them on the client side;
//!   bytes are counted in [`Report::bytes_passed`](crate::Report::bytes_passed)
//!   and [`Report::bytes_dropped`](crate::Report::bytes_dropped).
//! * [`HttpRequest`]: what triggers and matchers see, `&HttpRequest`
//!   borrowed from the request (method, URI, version, headers, extensions,
//!   host, gRPC method; no copy). [`HttpTrigger`], [`HttpRule`] and
//!   [`HttpFaultSet`] name the core types for HTTP.
//! * [`RequestMatcher`]: method, path (exact, prefix, glob), host,
//!   headers, gRPC service and method, predicates; `&`, `|`, `!`. A matcher
//!   converts into an [`HttpTrigger`] and combines with any trigger; a
//!   value it refuses fails the layer's `build()` (or `set_faults`) with a
//!   [`ConfigError`](crate::ConfigError) naming the field and the value.
//! * [`HeaderControl`]: opt-in faults asked for by request headers, as
//!   Envoy's `x-envoy-fault-*`.
//! * [`Injected`]: the marker in every touched response's extensions, with
//!   the [`FaultKind`](crate::FaultKind), the target and the rule.
//!
//! # Matchers and triggers
//!
//! `matcher & trigger` (or [`RequestMatcher::and_trigger`]) evaluates the
//! matcher first, so counting triggers count matching requests only:
//! `RequestMatcher::method(Method::PUT) & Trigger::first(3)` fails the
//! first three PUTs. `trigger & matcher` evaluates the trigger first:
//! `Trigger::first(3) & RequestMatcher::method(Method::PUT)` fails those of
//! the first three requests that are PUTs. Anything the core offers works
//! on HTTP requests too: rates, `every`, `after`, time windows, and keys
//! (`Trigger::keyed(0.2, |req: &HttpRequest| req.headers().get("x-tenant").cloned())`
//! takes down the same fifth of the tenants for a given seed). The `when`
//! of every HTTP fault takes an [`IntoHttpTrigger`]: an [`HttpTrigger`] or
//! a [`RequestMatcher`]; a trigger on another request type does not
//! compile, with an error that says so.
//!
//! # Switching faults at run time
//!
//! The faults live in the target, not in the layer. Keep a clone of
//! [`HttpChaosLayer::target`] (or build the layer with
//! [`HttpChaosLayer::for_target`]) and, while requests are in flight,
//! [`disable`](crate::Target::disable) it, [scale its
//! rates](crate::Target::set_rate_scale) or [swap its HTTP
//! faults](crate::Target::set_faults) for a new [`HttpFaultSet`].
//! Requests already decided keep the faults they were given. Counting
//! triggers, budgets, active-fault caps and counters live in the target, so
//! they hold across the clones axum and hyper make per connection and per
//! request.
//!
//! ```
//! use std::convert::Infallible;
//! use tower::{Layer, ServiceExt};
//! use tower_chaos::Target;
//! use tower_chaos::http::{HttpChaosLayer, HttpFaultSet, SyntheticResponse};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let target = Target::builder("payments-api").seed(7).build()?;
//! let svc = HttpChaosLayer::for_target(&target).layer(tower::service_fn(|_: http::Request<()>| async {
//!     Ok::<_, Infallible>(http::Response::new(http_body_util::Empty::<bytes::Bytes>::new()))
//! }));
//! assert_eq!(svc.clone().oneshot(http::Request::new(())).await?.status(), 200);
//!
//! target.set_faults(HttpFaultSet::new().with(SyntheticResponse::bad_gateway()))?;
//! assert_eq!(svc.clone().oneshot(http::Request::new(())).await?.status(), 502);
//!
//! target.disable();
//! assert_eq!(svc.oneshot(http::Request::new(())).await?.status(), 200);
//! assert_eq!(target.report().faulted, 1);
//! # Ok(()) }
//! ```
//!
//! # Dropping the connection
//!
//! A service cannot make hyper close a connection directly, and the layer
//! must keep the inner error type (axum needs `Infallible`), so
//! [`HttpFault::DropConnection`] answers with a response whose body fails on
//! its first poll ([`ChaosBody::drop_connection`]). hyper gives up on the
//! message before anything reaches the wire:
//!
//! * HTTP/1: the connection is closed with not a byte of response written.
//!   hyper-util's legacy client reports `hyper::Error::is_incomplete_message`
//!   ("connection closed before message completed"); reqwest reports a
//!   request error (`is_request()`) whose source is that hyper error.
//! * HTTP/2: the stream is reset with `INTERNAL_ERROR` before any header;
//!   other streams on the connection carry on. hyper and reqwest report
//!   "stream error received: unexpected internal error encountered" from
//!   `send`; tonic reports `Code::Internal` ("h2 protocol error").
//!
//! [`HttpFault::ResponseBody`] with `BodyFault::abort_after(0)` looks the
//! same to the client but calls the inner service first: a lost reply.
//!
//! `docs/HTTP.md` lists every fault with what each client sees, as
//! measured by this crate's integration tests.
//!
//! [`Target`]: crate::Target
//! [`Trigger`]: crate::Trigger

mod body;
mod fault;
mod future;
mod grpc;
mod header;
mod layer;
mod marker;
mod matcher;
#[cfg(feature = "reqwest-middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest-middleware")))]
mod middleware;
mod response;
mod service;
mod view;

pub use body::{BodyCounters, BodyFault, BodyFaultError, BodyFaultErrorKind, ChaosBody};
pub use fault::{HttpFault, HttpFaultSet, HttpRule};
pub use future::ResponseFuture;
pub use grpc::GrpcCode;
pub use header::{HeaderControl, HeaderFaultError, HeaderFaultRequest};
pub use layer::{HttpChaosLayer, HttpChaosLayerBuilder};
pub use marker::Injected;
pub use matcher::RequestMatcher;
#[cfg(feature = "reqwest-middleware")]
#[cfg_attr(docsrs, doc(cfg(feature = "reqwest-middleware")))]
pub use middleware::{ChaosMiddleware, ChaosMiddlewareBuilder, ClientFaultError, ClientFaultErrorKind};
pub use response::{RetryAfter, SyntheticResponse};
pub use service::HttpChaos;
pub use view::{HttpRequest, HttpTrigger, IntoHttpTrigger, RequestView};
