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
//! ```
//! use std::convert::Infallible;
//! use bytes::Bytes;
//! use http::{Method, Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{Layer, Service, ServiceExt};
//! use tower_chaos::http::{HttpChaosLayer, Injected, RequestMatcher, SyntheticResponse, RetryAfter};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let layer = HttpChaosLayer::new("items-api").rule(
//!     RequestMatcher::method(Method::PUT).and(RequestMatcher::path_glob("/items/*")?),
//!     SyntheticResponse::too_many_requests(RetryAfter::Seconds(1)),
//! );
//! let counters = layer.counters();
//! let mut svc = layer.layer(tower::service_fn(|_req: Request<Full<Bytes>>| async {
//!     Ok::<_, Infallible>(Response::new(Full::new(Bytes::from("stored"))))
//! }));
//!
//! let put = Request::put("/items/7").body(Full::default())?;
//! let response = svc.ready().await?.call(put).await?;
//! assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
//! assert!(Injected::of(&response).is_some());
//!
//! let get = Request::get("/items/7").body(Full::default())?;
//! let response = svc.ready().await?.call(get).await?;
//! assert_eq!(response.status(), StatusCode::OK);
//! assert!(Injected::of(&response).is_none());
//! assert_eq!((counters.requests(), counters.injected_total()), (2, 1));
//! # Ok(()) }
//! ```
//!
//! # The pieces
//!
//! * [`HttpFault`]: what a rule does — [`HttpFault::Respond`] with a
//!   [`SyntheticResponse`], [`HttpFault::Delay`],
//!   [`HttpFault::ResponseBody`] with a [`BodyFault`], or
//!   [`HttpFault::DropConnection`]. [`HttpFaultPlan`] combines the faults
//!   that fired for one request.
//! * [`SyntheticResponse`]: any status, headers and body; ready-made `500`,
//!   `502`, `503`, `504`, `429` with [`RetryAfter`]; AWS JSON and S3 XML
//!   errors; gRPC trailers-only responses for every [`GrpcCode`].
//! * [`ChaosBody`] and [`BodyFault`]: streaming body faults (truncate,
//!   stall, throttle, first-byte delay, abort), for response bodies through
//!   the layer and for request bodies by wrapping them on the client side.
//! * [`RequestMatcher`] over a borrowed [`RequestHead`]: method, path
//!   (exact, prefix, glob), host, headers, gRPC service and method,
//!   predicates; `and`, `or`, `!`.
//! * [`HeaderControl`]: opt-in faults asked for by request headers, as
//!   Envoy's `x-envoy-fault-*`.
//! * [`Injected`]: the marker in every touched response's extensions.
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

mod body;
mod fault;
mod future;
mod grpc;
mod header;
mod layer;
mod marker;
mod matcher;
mod response;
mod service;

pub use body::{BodyCounters, BodyFault, BodyFaultError, BodyFaultErrorKind, BoxError, ChaosBody};
pub use fault::HttpFault;
pub use future::ResponseFuture;
pub use grpc::GrpcCode;
pub use header::{HeaderControl, HeaderFaultError, HeaderFaultRequest};
pub use layer::{HttpChaosLayer, HttpChaosLayerBuilder};
pub use marker::Injected;
pub use matcher::{RequestHead, RequestMatcher};
pub use response::{RetryAfter, SyntheticResponse};
pub use service::HttpChaos;
