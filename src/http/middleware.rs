//! [`ChaosMiddleware`]: a target's HTTP faults on a reqwest client's own
//! requests (feature `reqwest-middleware`).

use std::error::Error as StdError;
use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use bytes::Bytes;
use http::{Extensions, Uri};
use http_body::{Body as HttpBody, Frame, SizeHint};
use pin_project_lite::pin_project;
use reqwest_middleware::reqwest::{Body, Request, Response, ResponseBuilderExt, Url};
use reqwest_middleware::{Middleware, Next};
use tokio::time::{Instant, Sleep};

use super::body::{BodyCounters, BodyFault, ChaosBody};
use super::fault::{End, HttpFault, Outcome};
use super::layer::{HttpChaosLayerBuilder, announce};
use super::marker::Injected;
use super::response::SyntheticResponse;
use super::view::HttpRequest;
use crate::armed::Armed;
use crate::rule::ActiveGuard;
use crate::{BoxError, ConfigError, FaultHandle, FaultKind, Target};

/// A `reqwest_middleware::Middleware` that applies the HTTP faults of its
/// [`Target`] to a reqwest client's requests.
///
/// A reqwest client has no tower stack to put [`HttpChaosLayer`] in, and
/// its `connector_layer` only sees connections (`io::ConnectFaultsLayer`
/// injects refusals, DNS failures, slow connects there). This middleware
/// puts the HTTP faults where the client is: a `503`, a `429` with
/// `Retry-After`, an AWS or S3 error, a delay, a faulted response body or
/// a dropped connection, decided per request from the same [`Target`]s,
/// rules, triggers, seeds and reports as [`HttpChaosLayer`]. One target can
/// be faulted from the server side (the layer in an axum app) or from the
/// client side (this middleware), with the same fault set.
///
/// ```
/// use reqwest_middleware::ClientBuilder;
/// use tower_chaos::http::{ChaosMiddleware, Injected, SyntheticResponse};
/// use tower_chaos::{FaultKind, Trigger};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let chaos = ChaosMiddleware::builder("payments")
///     .seed(7)
///     .fault(SyntheticResponse::service_unavailable().when(Trigger::first(1)))
///     .build()?;
/// let target = chaos.target().clone();
/// let client = ClientBuilder::new(reqwest::Client::new()).with(chaos).build();
///
/// // Answered by the middleware: no connection is made (nothing listens on
/// // this port).
/// let response = client.get("http://127.0.0.1:9/charges").send().await?;
/// assert_eq!(response.status(), 503);
/// assert_eq!(response.url().path(), "/charges");
/// assert_eq!(response.extensions().get::<Injected>().map(Injected::kind), Some(FaultKind::Status));
/// assert_eq!(response.text().await?, "503 Service Unavailable (injected by tower-chaos)");
/// assert_eq!(target.report().injected(FaultKind::Status), 1);
/// # Ok(()) }
/// ```
///
/// # What the client sees
///
/// | fault | the server | the caller of `send()` |
/// |---|---|---|
/// | [`HttpFault::Respond`] | not called | `Ok(reqwest::Response)` with the status, headers and body, its `url()` the request's; [`Injected`] in `extensions()` |
/// | [`HttpFault::Latency`] | called after the delay | the real response, later; the delay counts against the request's timeout (below) |
/// | [`HttpFault::ResponseBody`] | called | the real status and headers, then the body faulted as it is read (`bytes()`, `text()`, `chunk()`): cut, stalled, throttled, delayed, failed |
/// | `BodyFault::abort_after(0)` (a lost reply) | called | `Err(Error::Middleware(..))`, a [`ClientFaultError`] of kind [`LostReply`](ClientFaultErrorKind::LostReply) (the real response is dropped unread) |
/// | [`HttpFault::DropConnection`] | not called | `Err(Error::Middleware(..))`, a [`ClientFaultError`] of kind [`ConnectionDropped`](ClientFaultErrorKind::ConnectionDropped) |
///
/// A middleware cannot make a `reqwest::Error` (reqwest keeps its
/// constructors private), so a fault with no response is a
/// `reqwest_middleware::Error::Middleware`: `is_middleware()` is true,
/// `is_request()`, `is_connect()` and `is_timeout()` are false, and
/// [`ClientFaultError::find`] finds it in the error or its sources (through
/// `reqwest-retry`'s wrapping too). **`reqwest-retry` classifies every
/// middleware error as fatal**
/// (`default_on_request_failure`: "If something fails in the middleware
/// we're screwed"), so an injected drop is not retried, where the same drop
/// injected on the server side (a `hyper` "connection closed before
/// message completed") is retried as transient. To rehearse a retried
/// transport failure from the client side, inject it at the connection
/// (`io::ConnectFaultsLayer` in `ClientBuilder::connector_layer`: a refusal
/// is an `is_connect()` error, transient).
///
/// # Timeouts
///
/// A middleware sees the request's own timeout (`RequestBuilder::timeout`,
/// `reqwest::Request::timeout`), not the client's (`ClientBuilder::timeout`
/// applies inside reqwest, once the request leaves the middleware chain,
/// and cannot be read here). With a request timeout `t`:
///
/// * an injected delay `d < t` is taken out of it: the request goes on
///   after `d` with `t - d` left, so reqwest's own timeout error
///   (`is_timeout()`) comes at `t` from the start, as without the
///   middleware;
/// * a delay `d >= t` fails the request at `t` with a [`ClientFaultError`]
///   of kind [`TimedOut`](ClientFaultErrorKind::TimedOut), without sending
///   it;
/// * a faulted body (stalled, throttled, delayed) fails at `t` from the
///   start with an `io::Error` of kind `TimedOut` as its source, so the
///   `reqwest::Error` that `bytes()` returns says `is_timeout()`.
///
/// A client-wide timeout bounds the real exchange only: it does not see
/// the injected delay, and a stalled faulted body stays stalled. Give the
/// requests a timeout, or wrap them in `tokio::time::timeout`. Every sleep
/// is on tokio's clock, so `#[tokio::test(start_paused = true)]` runs them
/// in virtual time.
///
/// # Where it goes
///
/// After a retry middleware, so that each attempt is decided anew:
/// `ClientBuilder::new(client).with(RetryTransientMiddleware::new_with_policy(..)).with(chaos)`.
/// Before it, one decision would cover all the attempts of a call.
///
/// A target's HTTP faults are read by every layer and middleware of the
/// target: a request that passes this middleware and then an
/// [`HttpChaosLayer`] of the same target on the server is decided twice.
/// Use one of the two per target, or two targets.
///
/// # Differences from [`HttpChaosLayer`]
///
/// * No header control: a client asks for its own faults in code.
/// * Triggers see the request through the same [`HttpRequest`] view: its
///   method, absolute URI (so `host()` and `path()` match), version and
///   headers; its `extensions()` are the middleware chain's (what
///   `reqwest_middleware::RequestBuilder::with_extension` attaches).
/// * A request is decided when `handle` is called. `reqwest-middleware`
///   starts the chain when the future of `send()` is first polled, so
///   concurrent requests are decided in the order their futures first run
///   (in program order for requests awaited one after another).
/// * `reqwest-middleware` boxes every middleware's future, so a request
///   costs one allocation here even when no fault fires; deciding takes an
///   uncontended lock (the plan in force), and a request that may be
///   faulted builds its view (the URI is parsed once, the headers are
///   moved, not copied).
/// * A `gRPC` status response is an HTTP `200` with `grpc-status` headers
///   to reqwest, which knows nothing of gRPC.
///
/// [`HttpChaosLayer`]: super::HttpChaosLayer
/// [`HttpFault::Respond`]: super::HttpFault::Respond
/// [`HttpFault::Latency`]: super::HttpFault::Latency
/// [`HttpFault::ResponseBody`]: super::HttpFault::ResponseBody
/// [`HttpFault::DropConnection`]: super::HttpFault::DropConnection
/// [`HttpRequest`]: super::HttpRequest
///
/// # Building it
///
/// Like [`HttpChaosLayer`](super::HttpChaosLayer): with a new target
/// ([`builder`](Self::builder)) or on an existing one
/// ([`for_target`](Self::for_target)). The target holds the faults (an
/// [`HttpFaultSet`](super::HttpFaultSet), swappable at run time through
/// [`faults`](Self::faults) or [`Target::set_faults`]), the seed, the
/// switches and the counters. Rules are evaluated in the same order as the
/// layer's (see [`HttpChaosLayer`'s resolution
/// order](super::HttpChaosLayer#resolution-order)), when `handle` runs.
///
/// # Panics
///
/// Delays and body faults sleep on tokio's timer, so requests must run in
/// a tokio runtime with time enabled (as reqwest's always are).
pub struct ChaosMiddleware {
    target: Target,
    /// The plan in force, refreshed by the call that sees a new one.
    armed: Mutex<Armed<HttpFault, HttpRequest>>,
}

impl fmt::Debug for ChaosMiddleware {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosMiddleware")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl ChaosMiddleware {
    /// Starts building a middleware with a new target named `name` (the
    /// same options as [`HttpChaosLayer::builder`](super::HttpChaosLayer::builder),
    /// without header control).
    ///
    /// ```
    /// use tower_chaos::http::{ChaosMiddleware, SyntheticResponse};
    /// let chaos = ChaosMiddleware::builder("s3").seed(1).fault(SyntheticResponse::s3_slow_down()).build()?;
    /// assert_eq!(chaos.target().name(), "s3");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn builder(name: impl Into<String>) -> ChaosMiddlewareBuilder {
        ChaosMiddlewareBuilder {
            inner: super::HttpChaosLayer::builder(name),
        }
    }

    /// A middleware for an existing target: it applies the HTTP faults
    /// installed on `target`, now or later, as every
    /// [`HttpChaosLayer`](super::HttpChaosLayer) of the target does.
    /// Announces itself through `tracing` (info, target `tower_chaos`).
    ///
    /// ```
    /// use tower_chaos::Target;
    /// use tower_chaos::http::{ChaosMiddleware, HttpFaultSet, SyntheticResponse};
    ///
    /// let target = Target::builder("payments-api").seed(3).build()?;
    /// let chaos = ChaosMiddleware::for_target(&target);
    /// target.set_faults(HttpFaultSet::new().with(SyntheticResponse::bad_gateway()))?;
    /// assert!(target.report().unread_fault_sets.is_empty());
    /// # let _ = chaos;
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use = "a middleware does nothing until a client uses it"]
    pub fn for_target(target: &Target) -> Self {
        let chaos = Self {
            target: target.clone(),
            armed: Mutex::new(Armed::new(target)),
        };
        announce(target, "reqwest chaos middleware");
        chaos
    }

    /// The middleware's target: keep a clone to switch faults, swap them
    /// and read reports once the middleware moved into a client.
    ///
    /// ```
    /// use tower_chaos::http::ChaosMiddleware;
    /// let chaos = ChaosMiddleware::builder("api").seed(1).build()?;
    /// let target = chaos.target().clone();
    /// target.disable();
    /// assert!(!chaos.target().is_enabled());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn target(&self) -> &Target {
        &self.target
    }

    /// A typed handle on the target's HTTP faults (the same as
    /// [`Target::http_faults`]), to keep once the middleware moved into a
    /// client: a set of another kind does not compile.
    ///
    /// ```
    /// use tower_chaos::FaultSet;
    /// use tower_chaos::http::{ChaosMiddleware, SyntheticResponse};
    /// let chaos = ChaosMiddleware::builder("api").seed(1).build()?;
    /// let faults = chaos.faults();
    /// faults.set(FaultSet::new().with(SyntheticResponse::service_unavailable()))?;
    /// assert!(chaos.target().report().unread_fault_sets.is_empty());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn faults(&self) -> FaultHandle<HttpFault, HttpRequest> {
        self.target.http_faults()
    }

    /// The decision for one request, when `handle` runs: `None` when no
    /// fault applies (the target is off, no rule can fire, none fired).
    fn decide(&self, request: &mut Request, extensions: &mut Extensions) -> Option<Decision> {
        let (armed, rules) = {
            let mut armed = self.armed.lock().unwrap_or_else(PoisonError::into_inner);
            let rules = armed.screen(|_, _| {})?.rules?;
            // Triggers run on a clone, outside the lock: they may be the
            // user's closures.
            (armed.clone(), rules)
        };
        let mut outcome = Outcome::default();
        let guard = with_view(request, extensions, |view| armed.apply(view, rules, &mut outcome))?;
        if !outcome.is_faulted() {
            return None;
        }
        let target = armed.target();
        Some(Decision {
            marker: outcome.marker(&target.shared.name),
            delay: outcome.delay,
            end: outcome.end,
            guard,
            counters: BodyCounters::for_target(target),
        })
    }
}

/// Runs one request, decided: passed on, or faulted.
async fn run(
    decision: Option<Decision>,
    request: Request,
    extensions: &mut Extensions,
    next: Next<'_>,
) -> reqwest_middleware::Result<Response> {
    match decision {
        None => next.run(request, extensions).await,
        Some(decision) => decision.run(request, extensions, next).await,
    }
}

impl Middleware for ChaosMiddleware {
    // The signature `async_trait` gives `async fn handle(&self, req,
    // extensions: &mut Extensions, next: Next<'_>)`, written out.
    fn handle<'life0, 'life1, 'life2, 'async_trait>(
        &'life0 self,
        req: Request,
        extensions: &'life1 mut Extensions,
        next: Next<'life2>,
    ) -> Pin<Box<dyn Future<Output = reqwest_middleware::Result<Response>> + Send + 'async_trait>>
    where
        'life0: 'async_trait,
        'life1: 'async_trait,
        'life2: 'async_trait,
        Self: 'async_trait,
    {
        // Decided here, when `handle` is called, not when the future is
        // first polled.
        let mut req = req;
        let decision = self.decide(&mut req, extensions);
        Box::pin(run(decision, req, extensions, next))
    }
}

/// Evaluates `f` on the request as triggers see it ([`HttpRequest`]): its
/// method, URI, version and headers (moved in and back, not copied), with
/// the middleware chain's extensions. `None` when its URL is no URI
/// (longer than `http::Uri` holds), logged: the request is not faulted.
fn with_view<T>(
    request: &mut Request,
    extensions: &mut Extensions,
    f: impl FnOnce(&HttpRequest) -> T,
) -> Option<T> {
    let uri = match Uri::try_from(request.url().as_str()) {
        Ok(uri) => uri,
        Err(error) => {
            tracing::warn!(target: "tower_chaos", %error, url_len = request.url().as_str().len(), "request URL is no HTTP URI: not faulted");
            return None;
        }
    };
    let mut view = http::Request::new(());
    *view.method_mut() = request.method().clone();
    *view.uri_mut() = uri;
    *view.version_mut() = request.version();
    *view.headers_mut() = std::mem::take(request.headers_mut());
    *view.extensions_mut() = std::mem::take(extensions);
    let result = f(&view);
    let (parts, ()) = view.into_parts();
    *request.headers_mut() = parts.headers;
    *extensions = parts.extensions;
    Some(result)
}

/// What the faults that applied to one request do.
struct Decision {
    marker: Injected,
    delay: Duration,
    end: End,
    /// The active-fault slots of what applied: held until the answer (or
    /// the faulted body's end).
    guard: Option<ActiveGuard>,
    counters: BodyCounters,
}

impl Decision {
    async fn run(
        self,
        mut request: Request,
        extensions: &mut Extensions,
        next: Next<'_>,
    ) -> reqwest_middleware::Result<Response> {
        let Self {
            marker,
            delay,
            end,
            guard,
            counters,
        } = self;
        if !delay.is_zero() {
            match request.timeout().copied() {
                Some(limit) if delay >= limit => {
                    tokio::time::sleep(limit).await;
                    return Err(ClientFaultError::raise(
                        ClientFaultErrorKind::TimedOut { limit, delay },
                        marker,
                    ));
                }
                Some(limit) => {
                    tokio::time::sleep(delay).await;
                    *request.timeout_mut() = Some(limit - delay);
                }
                None => tokio::time::sleep(delay).await,
            }
        }
        let url = request.url().clone();
        // A timeout beyond what the clock can hold (`Duration::MAX`) is no
        // deadline at all, as in reqwest itself: never an overflow.
        let deadline = request
            .timeout()
            .and_then(|&t| Some((Instant::now().checked_add(t)?, t)));
        match end {
            End::Respond(response) => Ok(synthesized(&response, marker, url)),
            End::Drop => Err(ClientFaultError::raise(
                ClientFaultErrorKind::ConnectionDropped,
                marker,
            )),
            End::Call => {
                let mut response = next.run(request, extensions).await?;
                response.extensions_mut().insert(marker);
                Ok(response)
            }
            End::Body(fault) if fault.loses_reply() => {
                // The server handled the request; its answer is dropped.
                drop(next.run(request, extensions).await?);
                Err(ClientFaultError::raise(ClientFaultErrorKind::LostReply, marker))
            }
            End::Body(fault) => {
                let response = next.run(request, extensions).await?;
                Ok(fault_body(
                    response,
                    fault,
                    Faulting {
                        marker,
                        guard,
                        counters,
                        deadline,
                    },
                ))
            }
        }
    }
}

/// What a faulted body carries.
struct Faulting {
    marker: Injected,
    guard: Option<ActiveGuard>,
    counters: BodyCounters,
    /// The request's timeout (when it ends, and how long it was).
    deadline: Option<(Instant, Duration)>,
}

/// `response` with `fault` on its body (which holds the active-fault
/// slots until it ends), marked, its URL kept.
fn fault_body(response: Response, fault: BodyFault, faulting: Faulting) -> Response {
    let url = response.url().clone();
    let (mut parts, body) = http::Response::<Body>::from(response).into_parts();
    let Faulting {
        marker,
        guard,
        counters,
        deadline,
    } = faulting;
    parts.extensions.insert(marker);
    let body = Bounded {
        body: ChaosBody::injected(body, fault, counters, guard),
        deadline: deadline.map(|(at, limit)| (Box::pin(tokio::time::sleep_until(at)), limit)),
        expired: false,
    };
    with_url(http::Response::from_parts(parts, Body::wrap(body)), url)
}

/// The synthesized answer, marked, its URL the request's.
fn synthesized(synth: &SyntheticResponse, marker: Injected, url: Url) -> Response {
    let mut response = http::Response::new(Body::from(synth.body_bytes().clone()));
    *response.status_mut() = synth.status();
    *response.headers_mut() = synth.headers().clone();
    response.extensions_mut().insert(marker);
    with_url(response, url)
}

/// A `reqwest::Response` from `response`, whose `url()` is `url` (reqwest
/// reads it from the extension its `ResponseBuilderExt::url` sets).
fn with_url(mut response: http::Response<Body>, url: Url) -> Response {
    if let Ok(carrier) = http::Response::builder().url(url).body(()) {
        response
            .extensions_mut()
            .extend(carrier.into_parts().0.extensions);
    }
    Response::from(response)
}

pin_project! {
    /// A faulted body under the request's timeout: reqwest's own timeout
    /// sits in the real body inside, which a stalled or delayed fault does
    /// not poll.
    struct Bounded<B> {
        #[pin]
        body: B,
        deadline: Option<(Pin<Box<Sleep>>, Duration)>,
        expired: bool,
    }
}

impl<B> HttpBody for Bounded<B>
where
    B: HttpBody<Data = Bytes, Error = BoxError>,
{
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        let this = self.project();
        if *this.expired {
            return Poll::Ready(None);
        }
        if let Some((sleep, limit)) = this.deadline {
            if sleep.as_mut().poll(cx).is_ready() {
                *this.expired = true;
                let message =
                    format!("request timed out after {limit:?}, in an injected body fault (tower-chaos)");
                return Poll::Ready(Some(Err(io::Error::new(io::ErrorKind::TimedOut, message).into())));
            }
        }
        let poll = this.body.poll_frame(cx);
        if matches!(poll, Poll::Ready(None)) {
            // Ended in time: the timer is no longer needed.
            *this.deadline = None;
        }
        poll
    }

    fn is_end_stream(&self) -> bool {
        self.expired || self.body.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.body.size_hint()
    }
}

/// Why an injected fault left a reqwest caller with no response:
/// [`ClientFaultError::kind`].
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::http::ClientFaultErrorKind;
/// let kind = ClientFaultErrorKind::TimedOut { limit: Duration::from_secs(1), delay: Duration::from_secs(5) };
/// assert_ne!(kind, ClientFaultErrorKind::ConnectionDropped);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ClientFaultErrorKind {
    /// [`HttpFault::DropConnection`](super::HttpFault::DropConnection): the
    /// request was not sent.
    ConnectionDropped,
    /// `BodyFault::abort_after(0)`: the request was sent and answered, the
    /// answer dropped unread.
    LostReply,
    /// An injected delay reached the request's timeout: the request was
    /// not sent.
    TimedOut {
        /// The request's timeout.
        limit: Duration,
        /// The delay injected.
        delay: Duration,
    },
}

/// The error [`ChaosMiddleware`] fails a request with when a fault leaves
/// no response: a dropped connection, a lost reply, a delay past the
/// request's timeout. It reaches the caller as
/// `reqwest_middleware::Error::Middleware`; find it with
/// [`find`](Self::find).
///
/// ```
/// use reqwest_middleware::ClientBuilder;
/// use tower_chaos::FaultKind;
/// use tower_chaos::http::{ChaosMiddleware, ClientFaultError, ClientFaultErrorKind, HttpFault};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let chaos = ChaosMiddleware::builder("payments").seed(1).fault(HttpFault::DropConnection.named("rst")).build()?;
/// let client = ClientBuilder::new(reqwest::Client::new()).with(chaos).build();
/// let err = client.get("http://127.0.0.1:9/").send().await.unwrap_err();
/// assert!(err.is_middleware() && !err.is_request());
/// let injected = ClientFaultError::find(&err).expect("injected");
/// assert_eq!(injected.kind(), ClientFaultErrorKind::ConnectionDropped);
/// assert_eq!((injected.injected().kind(), injected.injected().rule()), (FaultKind::DropConnection, Some("rst")));
/// assert_eq!(err.to_string(), "connection dropped before a response (injected by tower-chaos on target `payments`)");
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientFaultError {
    kind: ClientFaultErrorKind,
    injected: Injected,
}

impl fmt::Display for ClientFaultError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.kind {
            ClientFaultErrorKind::ConnectionDropped => f.write_str("connection dropped before a response")?,
            ClientFaultErrorKind::LostReply => {
                f.write_str("reply lost: the server handled the request, its response never came")?
            }
            ClientFaultErrorKind::TimedOut { limit, delay } => {
                write!(
                    f,
                    "request timed out after {limit:?}, in an injected delay of {delay:?}"
                )?;
            }
        }
        write!(
            f,
            " (injected by tower-chaos on target `{}`)",
            self.injected.target()
        )
    }
}

impl StdError for ClientFaultError {}

/// How a [`ClientFaultError`] is raised: its text, with the error as its
/// source, so that walking `source()` finds it however it is wrapped
/// (`reqwest_middleware::Error` and `reqwest_retry::RetryError` forward
/// `source()` past the error they hold).
#[derive(Debug)]
struct Raised(ClientFaultError);

impl fmt::Display for Raised {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(&self.0, f)
    }
}

impl StdError for Raised {
    fn source(&self) -> Option<&(dyn StdError + 'static)> {
        Some(&self.0)
    }
}

impl ClientFaultError {
    fn raise(kind: ClientFaultErrorKind, injected: Injected) -> reqwest_middleware::Error {
        reqwest_middleware::Error::middleware(Raised(Self { kind, injected }))
    }

    /// Why the request got no response.
    ///
    /// ```
    /// # use tower_chaos::http::{ClientFaultError, ClientFaultErrorKind};
    /// # fn check(err: &ClientFaultError) -> bool {
    /// matches!(err.kind(), ClientFaultErrorKind::LostReply)
    /// # }
    /// ```
    #[must_use]
    pub const fn kind(&self) -> ClientFaultErrorKind {
        self.kind
    }

    /// The fault: its [`FaultKind`], target and rule (the marker a
    /// response would have carried).
    ///
    /// See [`ClientFaultError`] for an example.
    #[must_use]
    pub const fn injected(&self) -> &Injected {
        &self.injected
    }

    /// The [`ClientFaultError`] in `err` or its sources: in what a
    /// `ClientWithMiddleware` returns (`reqwest_middleware::Error`,
    /// `reqwest_retry::RetryError` inside it), `None` for a real failure.
    ///
    /// See [`ClientFaultError`] for an example.
    #[must_use]
    pub fn find<'a>(err: &'a (dyn StdError + 'static)) -> Option<&'a Self> {
        let mut next = Some(err);
        while let Some(e) = next {
            if let Some(found) = e.downcast_ref::<Self>() {
                return Some(found);
            }
            if let Some(Raised(found)) = e.downcast_ref::<Raised>() {
                return Some(found);
            }
            next = e.source();
        }
        None
    }

    /// The [`FaultKind`] counted for it.
    ///
    /// ```
    /// # use tower_chaos::FaultKind;
    /// # use tower_chaos::http::ClientFaultError;
    /// # fn check(err: &ClientFaultError) -> bool {
    /// err.fault_kind() == FaultKind::DropConnection
    /// # }
    /// ```
    #[must_use]
    pub fn fault_kind(&self) -> FaultKind {
        self.injected.kind()
    }
}

/// Builds a [`ChaosMiddleware`] and its target; see
/// [`ChaosMiddleware::builder`]. The options are those of
/// [`HttpChaosLayerBuilder`], without header control.
#[must_use = "a builder does nothing until `.build()` is called"]
#[derive(Debug)]
pub struct ChaosMiddlewareBuilder {
    inner: HttpChaosLayerBuilder,
}

impl ChaosMiddlewareBuilder {
    /// Fixes the target's seed ([`HttpChaosLayerBuilder::seed`]).
    ///
    /// ```
    /// let chaos = tower_chaos::http::ChaosMiddleware::builder("api").seed(8).build()?;
    /// assert_eq!(chaos.target().seed(), 8);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn seed(self, seed: u64) -> Self {
        Self {
            inner: self.inner.seed(seed),
        }
    }

    /// Keeps a journal of the newest `capacity` faults
    /// ([`HttpChaosLayerBuilder::journal`]).
    ///
    /// ```
    /// let chaos = tower_chaos::http::ChaosMiddleware::builder("api").journal(10).build()?;
    /// assert!(chaos.target().report().journal.is_empty());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn journal(self, capacity: usize) -> Self {
        Self {
            inner: self.inner.journal(capacity),
        }
    }

    /// Starts with the target's faults switched off
    /// ([`HttpChaosLayerBuilder::start_disabled`]).
    ///
    /// ```
    /// let chaos = tower_chaos::http::ChaosMiddleware::builder("api").start_disabled().build()?;
    /// assert!(!chaos.target().is_enabled());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn start_disabled(self) -> Self {
        Self {
            inner: self.inner.start_disabled(),
        }
    }

    /// Adds a rule ([`HttpChaosLayerBuilder::fault`]).
    ///
    /// ```
    /// use http::Method;
    /// use tower_chaos::Trigger;
    /// use tower_chaos::http::{ChaosMiddleware, RequestMatcher, RetryAfter, SyntheticResponse};
    ///
    /// let chaos = ChaosMiddleware::builder("api")
    ///     .fault(
    ///         SyntheticResponse::too_many_requests(RetryAfter::Seconds(1))
    ///             .when(RequestMatcher::method(Method::POST) & Trigger::rate(0.3))
    ///             .expect_to_fire(),
    ///     )
    ///     .build()?;
    /// assert_eq!((chaos.target().report().expected[0].rule, chaos.target().report().expected[0].fired), (0, 0));
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn fault(self, rule: impl Into<super::HttpRule>) -> Self {
        Self {
            inner: self.inner.fault(rule),
        }
    }

    /// Caps the requests carrying an HTTP fault at once
    /// ([`HttpChaosLayerBuilder::max_active`]).
    ///
    /// ```
    /// use tower_chaos::http::{ChaosMiddleware, HttpFault};
    /// let chaos = ChaosMiddleware::builder("api").fault(HttpFault::DropConnection).max_active(2).build()?;
    /// # let _ = chaos;
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn max_active(self, n: u32) -> Self {
        Self {
            inner: self.inner.max_active(n),
        }
    }

    /// Builds the target, installs the faults and returns the middleware.
    ///
    /// # Errors
    ///
    /// As [`HttpChaosLayerBuilder::build`]: a [`ConfigError`] naming the
    /// field and the value.
    ///
    /// ```
    /// use tower_chaos::Trigger;
    /// use tower_chaos::http::{ChaosMiddleware, SyntheticResponse};
    /// let err = ChaosMiddleware::builder("api")
    ///     .fault(SyntheticResponse::bad_gateway().when(Trigger::rate(1.5)))
    ///     .build()
    ///     .unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `trigger.rate` = 1.5: must be within 0.0..=1.0");
    /// ```
    pub fn build(self) -> Result<ChaosMiddleware, ConfigError> {
        let (target, _header_control) = self.inner.install()?;
        Ok(ChaosMiddleware::for_target(&target))
    }
}
