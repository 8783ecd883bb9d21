//! Connect-time faults for connector services: [`ConnectFaults`] (any
//! request type, e.g. reqwest's `connector_layer`) and the machinery the
//! hyper connector shares.

use std::fmt;
use std::future::Future;
use std::mem;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, ready};

use pin_project_lite::pin_project;
use tokio::time::Sleep;
use tower_layer::Layer;
use tower_service::Service;

use super::conn::{Caps, ConnCtl, End};
use super::{ConnFault, ConnInfo, IoCounters, Side};
use crate::macros::inner_accessors;
use crate::target::Slot;
use crate::{BoxError, FaultKind, Target};

pin_project! {
    /// Connecting through a connector with connect faults: decided at
    /// `call`, played out here, the inner connector called only when they
    /// let it.
    pub(crate) struct Connecting<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        state: State<S, Req>,
        ctl: Option<ConnCtl>,
        counters: IoCounters,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, Req>
    where
        S: Service<Req>,
    {
        Running { #[pin] fut: S::Future },
        // Boxed timer: the future stays `Unpin` when the inner one is, as
        // hyper-util's `Connect` requires.
        Sleeping { sleep: Pin<Box<Sleep>>, call: Option<(S, Req)> },
        Held { call: Option<(S, Req)> },
        Failed { err: Option<std::io::Error> },
    }
}

impl<S: Service<Req>, Req> Connecting<S, Req> {
    /// The connector's counters.
    #[cfg_attr(not(feature = "hyper"), allow(dead_code))]
    pub(crate) const fn counters(&self) -> &IoCounters {
        &self.counters
    }
}

impl<S, Req> Connecting<S, Req>
where
    S: Service<Req> + Clone,
{
    /// Starts a connection decided by `ctl`, with `inner` polled ready.
    pub(crate) fn start(inner: &mut S, req: Req, ctl: ConnCtl, counters: IoCounters) -> Self {
        let (end, slow) = ctl.connect();
        let state = if !slow.is_zero() {
            counters.fault(FaultKind::SlowConnect);
            State::Sleeping {
                sleep: Box::pin(tokio::time::sleep(slow)),
                call: Some((take_ready(inner), req)),
            }
        } else {
            match end {
                None => State::Running { fut: inner.call(req) },
                Some(End::Hang) => {
                    counters.fault(FaultKind::ConnectHang);
                    State::Held {
                        call: Some((take_ready(inner), req)),
                    }
                }
                Some(end) => fail(&ctl, end, &counters),
            }
        };
        Self {
            state,
            ctl: Some(ctl),
            counters,
        }
    }
}

/// Moves the service that was polled ready into the future and keeps a
/// fresh clone, which the caller polls ready before its next call.
fn take_ready<S: Clone>(inner: &mut S) -> S {
    let fresh = inner.clone();
    mem::replace(inner, fresh)
}

fn fail<S: Service<Req>, Req>(ctl: &ConnCtl, end: End, counters: &IoCounters) -> State<S, Req> {
    counters.fault(match end {
        End::Dns => FaultKind::DnsFailure,
        End::Refuse | End::Hang => FaultKind::Refused,
    });
    State::Failed {
        err: Some(ctl.connect_error(end)),
    }
}

impl<S, Req> Future for Connecting<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<(S::Response, ConnCtl), BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        loop {
            let next = match this.state.as_mut().project() {
                StateProj::Running { fut } => {
                    let conn = ready!(fut.poll(cx)).map_err(Into::into)?;
                    let ctl = this
                        .ctl
                        .take()
                        .ok_or("tower-chaos: connect future polled after completion")?;
                    return Poll::Ready(Ok((conn, ctl)));
                }
                StateProj::Failed { err } => {
                    return Poll::Ready(Err(err.take().map_or_else(
                        || "tower-chaos: connect future polled after completion".into(),
                        Into::into,
                    )));
                }
                StateProj::Sleeping { sleep, call } => {
                    ready!(sleep.as_mut().poll(cx));
                    let Some(ctl) = this.ctl.as_ref() else {
                        return Poll::Pending;
                    };
                    match (ctl.connect().0, call.take()) {
                        (None, Some((mut svc, req))) => State::Running { fut: svc.call(req) },
                        (Some(End::Hang), call) => {
                            this.counters.fault(FaultKind::ConnectHang);
                            State::Held { call }
                        }
                        (Some(end), _) => fail(ctl, end, this.counters),
                        (None, None) => return Poll::Pending,
                    }
                }
                StateProj::Held { call } => {
                    let Some(ctl) = this.ctl.as_mut() else {
                        return Poll::Pending;
                    };
                    if !ctl.is_stale() {
                        ctl.watch(cx.waker());
                        if !ctl.is_stale() {
                            return Poll::Pending;
                        }
                    }
                    // Switched: decide again, as for a new connection.
                    ctl.refresh(false);
                    let (end, slow) = ctl.connect();
                    if !slow.is_zero() {
                        this.counters.fault(FaultKind::SlowConnect);
                        State::Sleeping {
                            sleep: Box::pin(tokio::time::sleep(slow)),
                            call: call.take(),
                        }
                    } else {
                        match (end, call.take()) {
                            (None, Some((mut svc, req))) => State::Running { fut: svc.call(req) },
                            (Some(End::Hang), call) => State::Held { call },
                            (Some(end), _) => fail(ctl, end, this.counters),
                            (None, None) => return Poll::Pending,
                        }
                    }
                }
            };
            this.state.set(next);
        }
    }
}

impl<S: Service<Req>, Req> fmt::Debug for Connecting<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let state = match &self.state {
            State::Running { .. } => "running",
            State::Sleeping { .. } => "slow-connect",
            State::Held { .. } => "hanging",
            State::Failed { .. } => "failed",
        };
        f.debug_struct("Connecting").field("state", &state).finish()
    }
}

/// `target`, `counters` and the [`Layer`] impl of a connector layer (a
/// struct holding `ctl: ConnectorCtl` whose services are `$service { inner,
/// ctl }`: [`ConnectFaultsLayer`] and the hyper connector's layer), and
/// `$service::new`. The doc comments, with their examples, come from the
/// call site; `Layer` must be in scope there.
macro_rules! connector_layer {
    (
        $layer:ident => $service:ident;
        $(#[$target_doc:meta])*
        fn target;
        $(#[$counters_doc:meta])*
        fn counters;
        $(#[$new_doc:meta])*
        fn new;
    ) => {
        impl $layer {
            $(#[$target_doc])*
            #[must_use]
            pub const fn target(&self) -> &$crate::Target {
                &self.ctl.target
            }

            $(#[$counters_doc])*
            #[must_use]
            pub const fn counters(&self) -> &$crate::io::IoCounters {
                &self.ctl.counters
            }
        }

        impl<S> Layer<S> for $layer {
            type Service = $service<S>;

            fn layer(&self, inner: S) -> Self::Service {
                $service {
                    inner,
                    ctl: self.ctl.clone(),
                }
            }
        }

        impl<S> $service<S> {
            $(#[$new_doc])*
            pub fn new(inner: S, target: &$crate::Target) -> Self {
                $layer::for_target(target).layer(inner)
            }
        }
    };
}

#[cfg(feature = "hyper")]
pub(crate) use connector_layer;

/// The connector state shared by [`ConnectFaults`] and the hyper connector.
#[derive(Clone)]
pub(crate) struct ConnectorCtl {
    pub(crate) target: Target,
    slot: Arc<Slot<ConnFault, ConnInfo>>,
    pub(crate) counters: IoCounters,
    caps: Caps,
}

impl fmt::Debug for ConnectorCtl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnectorCtl")
            .field("target", &self.target)
            .finish_non_exhaustive()
    }
}

impl ConnectorCtl {
    pub(crate) fn new(target: &Target, counters: IoCounters, stream: bool, what: &'static str) -> Self {
        tracing::info!(
            target: "tower_chaos",
            chaos_target = %target.name(),
            seed = target.seed(),
            seed_source = %target.seed_source(),
            connector = what,
            "chaos connector built: connections may get injected faults"
        );
        Self {
            target: target.clone(),
            slot: target.slot::<ConnFault, ConnInfo>(),
            counters,
            caps: Caps {
                side: Side::Connector,
                dns: true,
                stream,
                tls: false,
            },
        }
    }

    /// Numbers and decides a new connection.
    pub(crate) fn decide(&self, info: ConnInfo) -> ConnCtl {
        ConnCtl::with_slot(&self.target, Arc::clone(&self.slot), info, self.caps)
    }
}

/// A [`Layer`] that adds a target's connect faults (DNS failure, refusal,
/// slow connect, connect hang) to any connector service, whatever its
/// request and connection types: what reqwest's
/// `ClientBuilder::connector_layer` accepts.
///
/// It cannot wrap the connection it returns (reqwest's `Conn` is opaque),
/// so the target's stream faults do not apply here (they are not offered
/// the connection, and not counted): for those, point the client at a
/// [`Proxy`](super::Proxy), or put a [`ChaosListener`](super::ChaosListener)
/// on the server. With hyper-util's `HttpConnector`, or anything else that
/// is a `Service<Uri>`, use [`ChaosConnectorLayer`](super::ChaosConnectorLayer)
/// (feature `hyper`), which does both.
///
/// The connection's [`ConnInfo`] carries only its index: the layer does not
/// see inside the request (reqwest's is unnameable).
///
/// # Errors
///
/// The service's error is `BoxError` (reqwest's connector layers must use
/// it): the inner connector's errors pass through unchanged, injected ones
/// are [`io::Error`](std::io::Error)s — a [`DnsFailure`](super::DnsFailure)
/// of kind `Other`, or kind `ConnectionRefused` carrying an
/// [`InjectedIoError`](super::InjectedIoError). reqwest reports them as a
/// connect error (`reqwest::Error::is_connect`) whose source chain holds
/// them: find them with [`injected_fault`](super::injected_fault).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), tower::BoxError> {
/// use tower::{Service, ServiceBuilder, ServiceExt, service_fn};
/// use tower_chaos::{FaultKind, Target, Trigger};
/// use tower_chaos::io::{ConnFault, ConnFaultSet, ConnectFaultsLayer, injected_fault};
///
/// let target = Target::builder("s3").seed(3).build()?;
/// target.set_faults(ConnFaultSet::new().with(ConnFault::dns_failure().when(Trigger::first(1))))?;
///
/// // Any connector service; with reqwest:
/// // `reqwest::Client::builder().connector_layer(ConnectFaultsLayer::for_target(&target))`.
/// let mut connector = ServiceBuilder::new()
///     .layer(ConnectFaultsLayer::for_target(&target))
///     .service(service_fn(|host: &'static str| async move { Ok::<_, tower::BoxError>(host) }));
///
/// let err = connector.ready().await?.call("s3.amazonaws.com").await.unwrap_err();
/// assert_eq!(injected_fault(&*err), Some(FaultKind::DnsFailure));
/// assert_eq!(connector.ready().await?.call("s3.amazonaws.com").await?, "s3.amazonaws.com");
/// assert_eq!(target.report().injected(FaultKind::DnsFailure), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ConnectFaultsLayer {
    ctl: ConnectorCtl,
}

impl ConnectFaultsLayer {
    /// A layer applying the connect faults of `target`.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let layer = tower_chaos::io::ConnectFaultsLayer::for_target(&target);
    /// assert_eq!(layer.target().name(), "api");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn for_target(target: &Target) -> Self {
        Self {
            ctl: ConnectorCtl::new(target, IoCounters::new(), false, "connect faults"),
        }
    }
}

connector_layer! {
    ConnectFaultsLayer => ConnectFaults;

    /// The layer's target.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// assert_eq!(tower_chaos::io::ConnectFaultsLayer::for_target(&target).target().seed(), 1);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    fn target;

    /// Connect fault events of every service built from this layer.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let layer = tower_chaos::io::ConnectFaultsLayer::for_target(&target);
    /// assert_eq!(layer.counters().snapshot().faults_total(), 0);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    fn counters;

    /// Wraps `inner` with the connect faults of `target`.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let svc = tower_chaos::io::ConnectFaults::new(tower::service_fn(|_: ()| async { Ok::<_, tower::BoxError>(()) }), &target);
    /// let _inner = svc.get_ref();
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    fn new;
}

/// A connector service with a target's connect faults; built by
/// [`ConnectFaultsLayer`], see there for an example with reqwest.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
/// use tower::{Service, ServiceExt, service_fn};
/// use tower_chaos::io::{ConnFault, ConnFaultSet, ConnectFaults, InjectedIoError};
///
/// let target = tower_chaos::Target::builder("db").seed(1).build()?;
/// target.set_faults(ConnFaultSet::new().with(ConnFault::refuse()))?;
/// let mut connect = ConnectFaults::new(service_fn(|_: ()| async { Ok::<_, tower::BoxError>(()) }), &target);
/// let err = connect.ready().await?.call(()).await.unwrap_err();
/// let io = err.downcast_ref::<std::io::Error>().expect("an io::Error");
/// assert_eq!(io.kind(), std::io::ErrorKind::ConnectionRefused);
/// assert!(InjectedIoError::of(io).is_some());
/// # Ok(()) }
/// ```
///
/// # Clone
///
/// Clones share the target (its counters, triggers and limits) and the
/// layer's [`IoCounters`].
#[derive(Debug, Clone)]
pub struct ConnectFaults<S> {
    inner: S,
    ctl: ConnectorCtl,
}

impl<S> ConnectFaults<S> {
    inner_accessors!(
        r#"```
let target = tower_chaos::Target::builder("api").seed(1).build()?;
let mut svc = tower_chaos::io::ConnectFaults::new(7_u8, &target);
assert_eq!((*svc.get_ref(), *svc.get_mut()), (7, 7));
assert_eq!(svc.into_inner(), 7);
# Ok::<(), tower_chaos::ConfigError>(())
```"#
    );
}

impl<S, Req> Service<Req> for ConnectFaults<S>
where
    S: Service<Req> + Clone,
    S::Error: Into<BoxError>,
{
    type Response = S::Response;
    type Error = BoxError;
    type Future = ConnectFuture<S, Req>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, req: Req) -> Self::Future {
        let ctl = self.ctl.decide(ConnInfo::new(Side::Connector));
        ConnectFuture {
            inner: Connecting::start(&mut self.inner, req, ctl, self.ctl.counters.clone()),
        }
    }
}

pin_project! {
    /// Response future of [`ConnectFaults`]: `Unpin` when the inner
    /// connector's future is. Connect faults were decided when `call` ran;
    /// it sleeps for a slow connect, stays pending for a hang (until the
    /// target is switched), or fails with the injected error, and otherwise
    /// is the inner connector's future. See [`ConnectFaults`] for an
    /// example.
    pub struct ConnectFuture<S, Req>
    where
        S: Service<Req>,
    {
        #[pin]
        inner: Connecting<S, Req>,
    }
}

impl<S, Req> Future for ConnectFuture<S, Req>
where
    S: Service<Req>,
    S::Error: Into<BoxError>,
{
    type Output = Result<S::Response, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx).map_ok(|(conn, _)| conn)
    }
}

impl<S: Service<Req>, Req> fmt::Debug for ConnectFuture<S, Req> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConnectFuture").field(&self.inner).finish()
    }
}
