//! [`ChaosConnectorLayer`]: connect and stream faults for any
//! `tower::Service<Uri>` connector (feature `hyper`).

use std::fmt;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use http::Uri;
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use pin_project_lite::pin_project;
use tower_layer::Layer;
use tower_service::Service;

use super::connect::{Connecting, ConnectorCtl, connector_layer};
use super::{ChaosStream, ConnInfo, IoCounters, Resettable, Side};
use crate::macros::inner_accessors;
use crate::{BoxError, Target};

/// A [`Layer`] over any `tower::Service<Uri>` connector — hyper-util's
/// `HttpConnector`, a TLS connector's inner one, a custom transport — that
/// applies a [`Target`]'s connection faults: connect faults before the
/// inner connector is called, stream faults on the connection it returns
/// (wrapped in a [`ChaosConnection`]).
///
/// Works wherever such a connector goes: hyper-util's legacy `Client`
/// (`Client::builder(..).build(connector)`), tonic's
/// `Endpoint::connect_with_connector`, hyper-rustls or hyper-tls wrapping
/// it (put the faults *under* TLS: they act on the TCP bytes).
///
/// Each connection is decided when `call` runs, with the target's
/// triggers; its [`ConnInfo`] carries the URI, host and port asked for.
/// [`Direction::Upstream`](super::Direction::Upstream) is what the client
/// writes (requests), [`Direction::Downstream`](super::Direction::Downstream)
/// what it reads (responses).
///
/// # Errors
///
/// The connector's error is `BoxError` (what hyper-util, tonic and the TLS
/// connectors take): the inner connector's errors pass through unchanged;
/// an injected DNS failure is an [`io::Error`] of kind `Other` carrying a
/// [`DnsFailure`](super::DnsFailure) (where `HttpConnector` puts its
/// `dns error`), an injected refusal an `io::Error` of kind
/// `ConnectionRefused` carrying an [`InjectedIoError`](super::InjectedIoError).
/// hyper-util's client reports either as a connect error
/// (`Error::is_connect`) whose source is that `io::Error`;
/// [`injected_fault`](super::injected_fault) finds it.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use http_body_util::Empty;
/// use hyper::body::Bytes;
/// use hyper_util::client::legacy::Client;
/// use hyper_util::client::legacy::connect::HttpConnector;
/// use hyper_util::rt::TokioExecutor;
/// use tower::Layer;
/// use tower_chaos::{FaultKind, Target, Trigger};
/// use tower_chaos::io::{ChaosConnectorLayer, ConnFault, ConnFaultSet, injected_fault};
///
/// let target = Target::builder("dynamodb").seed(7).build()?;
/// target.set_faults(ConnFaultSet::new().with(ConnFault::dns_failure().when(Trigger::always())))?;
///
/// let connector = ChaosConnectorLayer::for_target(&target).layer(HttpConnector::new());
/// let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(connector);
///
/// let err = client.get("http://dynamodb.us-east-1.amazonaws.com/".parse()?).await.unwrap_err();
/// assert!(err.is_connect());
/// assert_eq!(injected_fault(&err), Some(FaultKind::DnsFailure));
/// assert_eq!(target.report().injected(FaultKind::DnsFailure), 1);
/// # Ok(()) }
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct ChaosConnectorLayer {
    ctl: ConnectorCtl,
}

impl ChaosConnectorLayer {
    /// A layer applying the connection faults of `target`.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let layer = tower_chaos::io::ChaosConnectorLayer::for_target(&target);
    /// assert_eq!(layer.target().name(), "api");
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn for_target(target: &Target) -> Self {
        Self {
            ctl: ConnectorCtl::new(target, IoCounters::new(), true, "Service<Uri>"),
        }
    }
}

connector_layer! {
    ChaosConnectorLayer => ChaosConnector;

    /// The layer's target.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("api").seed(4).build()?;
    /// assert_eq!(tower_chaos::io::ChaosConnectorLayer::for_target(&target).target().seed(), 4);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    fn target;

    /// Bytes and fault events of every connection made through services
    /// built from this layer.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let layer = tower_chaos::io::ChaosConnectorLayer::for_target(&target);
    /// assert_eq!(layer.counters().snapshot().bytes_read, 0);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    fn counters;

    /// Wraps `inner` with the connection faults of `target`.
    ///
    /// ```
    /// use hyper_util::client::legacy::connect::HttpConnector;
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let connector = tower_chaos::io::ChaosConnector::new(HttpConnector::new(), &target);
    /// let _inner: &HttpConnector = connector.get_ref();
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    fn new;
}

/// A `Service<Uri>` connector with a target's connection faults; built by
/// [`ChaosConnectorLayer`], see there for an example with hyper-util's
/// client. With tonic:
///
/// ```no_run
/// # async fn f() -> Result<(), Box<dyn std::error::Error>> {
/// use hyper_util::client::legacy::connect::HttpConnector;
/// use tower_chaos::io::ChaosConnector;
///
/// let target = tower_chaos::Target::builder("grpc-backend").seed(1).build()?;
/// let channel = tonic::transport::Endpoint::from_static("http://127.0.0.1:50051")
///     .connect_with_connector(ChaosConnector::new(HttpConnector::new(), &target))
///     .await?;
/// # let _ = channel; Ok(()) }
/// ```
///
/// # Clone
///
/// Clones (hyper-util's client clones its connector per connection) share
/// the target — its triggers, budgets, caps and report — and the layer's
/// [`IoCounters`].
#[derive(Debug, Clone)]
pub struct ChaosConnector<S> {
    inner: S,
    ctl: ConnectorCtl,
}

impl<S> ChaosConnector<S> {
    inner_accessors!(
        r#"```
use hyper_util::client::legacy::connect::HttpConnector;
let target = tower_chaos::Target::builder("api").seed(1).build()?;
let mut connector = tower_chaos::io::ChaosConnector::new(HttpConnector::new(), &target);
let _inner: &HttpConnector = connector.get_ref();
connector.get_mut().set_nodelay(true); // e.g. to configure an `HttpConnector`
let _inner: HttpConnector = connector.into_inner();
# Ok::<(), tower_chaos::ConfigError>(())
```"#
    );
}

impl<S> Service<Uri> for ChaosConnector<S>
where
    S: Service<Uri> + Clone,
    S::Error: Into<BoxError>,
    S::Response: Read + Write + Resettable,
{
    type Response = ChaosConnection<S::Response>;
    type Error = BoxError;
    type Future = ConnectorFuture<S>;

    #[inline]
    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: Uri) -> Self::Future {
        let port = uri.port_u16().or_else(|| match uri.scheme_str() {
            Some("http" | "ws") => Some(80),
            Some("https" | "wss") => Some(443),
            _ => None,
        });
        let host = uri
            .host()
            .map(|h| h.trim_start_matches('[').trim_end_matches(']'));
        let info = ConnInfo::new(Side::Connector).with_uri(&uri.to_string(), host, port);
        let ctl = self.ctl.decide(info);
        ConnectorFuture {
            inner: Connecting::start(&mut self.inner, uri, ctl, self.ctl.counters.clone()),
        }
    }
}

pin_project! {
    /// Response future of [`ChaosConnector`]: `Unpin` when the inner
    /// connector's future is (hyper-util's client requires it). It plays
    /// the connect faults decided at `call`, then wraps the inner
    /// connector's connection in a [`ChaosConnection`]. See
    /// [`ChaosConnectorLayer`] for an example.
    pub struct ConnectorFuture<S>
    where
        S: Service<Uri>,
    {
        #[pin]
        inner: Connecting<S, Uri>,
    }
}

impl<S> Future for ConnectorFuture<S>
where
    S: Service<Uri>,
    S::Error: Into<BoxError>,
    S::Response: Read + Write + Resettable,
{
    type Output = Result<ChaosConnection<S::Response>, BoxError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut inner = self.project().inner;
        let result = ready!(inner.as_mut().poll(cx));
        let counters = inner.as_ref().get_ref().counters().clone();
        Poll::Ready(result.map(|(conn, ctl)| ChaosConnection {
            io: TokioIo::new(ChaosStream::attached(TokioIo::new(conn), ctl, counters)),
        }))
    }
}

impl<S: Service<Uri>> fmt::Debug for ConnectorFuture<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("ConnectorFuture").field(&self.inner).finish()
    }
}

pin_project! {
    /// A connection made by a [`ChaosConnector`]: the inner connector's
    /// connection `T` with the target's stream faults.
    ///
    /// It implements hyper's `rt::Read` and `rt::Write` (every method
    /// forwarded, vectored writes included) and hyper-util's `Connection`
    /// (forwarding `connected()` to `T`, so HTTP/2 negotiation, proxy and
    /// `HttpInfo` extras survive), so hyper-util's client, tonic and the TLS
    /// connectors take it as they take `T`. Inside, `T` is read and written
    /// through a [`ChaosStream`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), tower::BoxError> {
    /// use hyper_util::client::legacy::connect::{Connection, HttpConnector};
    /// use tower::{Service, ServiceExt};
    /// use tower_chaos::io::ChaosConnector;
    ///
    /// let server = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let uri = format!("http://{}/", server.local_addr()?).parse()?;
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let mut connector = ChaosConnector::new(HttpConnector::new(), &target);
    /// let conn = connector.ready().await?.call(uri).await?;
    /// assert!(!conn.connected().is_proxied()); // forwarded to the TCP connection
    /// assert_eq!(conn.stream().conn_info().map(|c| c.index()), Some(0));
    /// assert!(conn.get_ref().is_some());
    /// # Ok(()) }
    /// ```
    pub struct ChaosConnection<T> {
        #[pin]
        io: TokioIo<ChaosStream<TokioIo<T>>>,
    }
}

impl<T> ChaosConnection<T> {
    /// The inner connection; `None` once a reset or timeout fault closed
    /// it.
    #[must_use]
    pub fn get_ref(&self) -> Option<&T> {
        self.io.inner().get_ref().map(TokioIo::inner)
    }

    /// The stream that applies the faults (its counters, its target, the
    /// faults in force).
    #[must_use]
    pub fn stream(&self) -> &ChaosStream<TokioIo<T>> {
        self.io.inner()
    }
}

impl<T: fmt::Debug> fmt::Debug for ChaosConnection<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosConnection")
            .field("stream", self.io.inner())
            .finish()
    }
}

impl<T: Connection> Connection for ChaosConnection<T> {
    fn connected(&self) -> Connected {
        self.get_ref().map_or_else(Connected::new, Connection::connected)
    }
}

impl<T> Read for ChaosConnection<T>
where
    T: Read + Write + Resettable,
{
    #[inline]
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: ReadBufCursor<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_read(cx, buf)
    }
}

impl<T> Write for ChaosConnection<T>
where
    T: Read + Write + Resettable,
{
    #[inline]
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.project().io.poll_write(cx, buf)
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.project().io.poll_write_vectored(cx, bufs)
    }
}

impl<T: Resettable> Resettable for TokioIo<T> {
    fn prepare_reset(&self) -> io::Result<()> {
        self.inner().prepare_reset()
    }
}
