//! Connections without sockets: an in-memory network whose listeners and
//! connectors exchange [`tokio::io::duplex`] pairs, for rehearsals and
//! explorations that should not need the OS (cheap in debug builds, no
//! ports, no real I/O at all, so `start_paused` time is exact).
//!
//! A [`MemNetwork`] hands out [`MemListener`]s bound to fake but stable
//! addresses (`127.0.0.1:<port>`, the port picked from 49152 up when asked
//! for port 0) and connects to them: [`MemNetwork::connect`] for a raw
//! [`MemStream`], or (feature `hyper`) a [`MemConnector`], a
//! `Service<Uri>` for hyper-util's legacy client or tonic. A connect to an
//! address with no listener fails with `ConnectionRefused`, as over TCP.
//!
//! The connection faults of a [`Target`](crate::Target) apply as on TCP:
//! wrap the listener in a [`ChaosListener`](super::ChaosListener)
//! (`ChaosListener::new(listener, &target)`: refuse on accept, slow
//! accept, hang, stream faults) and the connector in a
//! [`ChaosConnectorLayer`](super::ChaosConnectorLayer) (refuse, DNS
//! failure, slow connect, hang, stream faults). Their [`ConnInfo`](super::ConnInfo)
//! carries the fake addresses, hosts and ports, so address triggers work. A
//! reset is abortive here too: the peer of a reset [`MemStream`] gets
//! `ConnectionReset` where it would have seen the end of the stream, and on
//! its next write, as the peer of a TCP RST does. Unlike TCP on Linux
//! (where an RST discards what the peer had not read yet), the bytes
//! written before the reset are still delivered first, so what the peer
//! sees does not depend on when it reads: a reset after 2 000 bytes is
//! exactly 2 000 bytes, then `ConnectionReset`.
//!
//! With feature `axum`, [`MemListener`] (and a `ChaosListener` over it)
//! implements `axum::serve::Listener`.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::io;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tower_chaos::io::mem::MemNetwork;
//!
//! let net = MemNetwork::new();
//! let mut listener = net.bind(([127, 0, 0, 1], 0))?;
//! let addr = listener.local_addr();
//! let mut client = net.connect(addr)?;
//! let (mut server, peer) = listener.accept().await?;
//! assert_eq!((peer, server.local_addr()), (client.local_addr(), addr));
//! client.write_all(b"ping").await?;
//! let mut buf = [0; 4];
//! server.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"ping");
//!
//! // Nothing listens on another port: refused, as over TCP.
//! let err = net.connect(([127, 0, 0, 1], 1)).unwrap_err();
//! assert_eq!(err.kind(), io::ErrorKind::ConnectionRefused);
//! # Ok(()) }
//! ```

use std::collections::HashMap;
use std::fmt;
use std::future::poll_fn;
use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, DuplexStream, ReadBuf};
use tokio::sync::mpsc;

use super::{Accept, Resettable};
use crate::ConfigError;

/// Bytes each direction of a connection buffers by default before a write
/// waits for the peer to read (64 KiB, about a loopback socket's buffer).
pub const DEFAULT_BUFFER_SIZE: usize = 64 * 1024;

/// First port handed out for port 0 (the IANA dynamic range).
const FIRST_PORT: u16 = 49152;

type Backlog = mpsc::UnboundedSender<(MemStream, SocketAddr)>;

#[derive(Debug)]
struct Registry {
    listeners: HashMap<SocketAddr, Backlog>,
    next_port: u16,
}

impl Registry {
    /// The next port of the dynamic range not bound on `ip`.
    fn free_port(&mut self, ip: IpAddr) -> io::Result<u16> {
        for _ in FIRST_PORT..=u16::MAX {
            let port = self.next_port;
            self.next_port = if port == u16::MAX { FIRST_PORT } else { port + 1 };
            if !self.listeners.contains_key(&SocketAddr::new(ip, port)) {
                return Ok(port);
            }
        }
        Err(io::Error::new(
            io::ErrorKind::AddrInUse,
            "in-memory network: every port of the dynamic range is bound",
        ))
    }
}

/// An in-memory network: listeners bound to fake addresses, and connects
/// to them that exchange [`tokio::io::duplex`] pairs. Clones share the
/// network. See the [module docs](self) for an example.
#[derive(Clone)]
pub struct MemNetwork {
    registry: Arc<Mutex<Registry>>,
    buffer: usize,
}

impl fmt::Debug for MemNetwork {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemNetwork")
            .field("listeners", &self.lock().listeners.len())
            .field("buffer", &self.buffer)
            .finish()
    }
}

impl Default for MemNetwork {
    fn default() -> Self {
        Self::new()
    }
}

impl MemNetwork {
    /// An empty network whose connections buffer [`DEFAULT_BUFFER_SIZE`]
    /// bytes per direction.
    ///
    /// ```
    /// let net = tower_chaos::io::mem::MemNetwork::new();
    /// assert_eq!(net.buffer_size(), tower_chaos::io::mem::DEFAULT_BUFFER_SIZE);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self {
            registry: Arc::new(Mutex::new(Registry {
                listeners: HashMap::new(),
                next_port: FIRST_PORT,
            })),
            buffer: DEFAULT_BUFFER_SIZE,
        }
    }

    /// An empty network whose connections buffer `bytes` per direction (a
    /// write waits once the peer has that many unread bytes).
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `mem.buffer_size` 0.
    ///
    /// ```
    /// use tower_chaos::io::mem::MemNetwork;
    /// assert_eq!(MemNetwork::with_buffer_size(512)?.buffer_size(), 512);
    /// assert_eq!(
    ///     MemNetwork::with_buffer_size(0).unwrap_err().to_string(),
    ///     "invalid `mem.buffer_size` = 0: must be at least 1"
    /// );
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub fn with_buffer_size(bytes: usize) -> Result<Self, ConfigError> {
        if bytes == 0 {
            return Err(ConfigError::invalid(
                "mem.buffer_size",
                bytes,
                "must be at least 1",
            ));
        }
        Ok(Self {
            buffer: bytes,
            ..Self::new()
        })
    }

    /// Bytes each direction of a connection buffers. See
    /// [`with_buffer_size`](Self::with_buffer_size) for an example.
    #[must_use]
    pub const fn buffer_size(&self) -> usize {
        self.buffer
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Binds a listener to `addr`; port 0 picks a free port (from 49152
    /// up, in order, so addresses are the same run after run).
    ///
    /// # Errors
    ///
    /// `AddrInUse` when a listener of this network is bound to `addr` (or
    /// no port is free).
    ///
    /// ```
    /// use std::io;
    /// let net = tower_chaos::io::mem::MemNetwork::new();
    /// let a = net.bind(([127, 0, 0, 1], 0))?;
    /// assert_eq!(a.local_addr(), "127.0.0.1:49152".parse().unwrap());
    /// let b = net.bind(([127, 0, 0, 1], 8080))?;
    /// assert_eq!(b.local_addr().port(), 8080);
    /// assert_eq!(net.bind(([127, 0, 0, 1], 8080)).unwrap_err().kind(), io::ErrorKind::AddrInUse);
    /// drop(b); // unbinds
    /// assert!(net.bind(([127, 0, 0, 1], 8080)).is_ok());
    /// # Ok::<(), io::Error>(())
    /// ```
    pub fn bind(&self, addr: impl Into<SocketAddr>) -> io::Result<MemListener> {
        let mut addr = addr.into();
        let mut registry = self.lock();
        if addr.port() == 0 {
            addr.set_port(registry.free_port(addr.ip())?);
        } else if registry.listeners.contains_key(&addr) {
            return Err(io::Error::new(
                io::ErrorKind::AddrInUse,
                format!("in-memory network: {addr} is already bound"),
            ));
        }
        let (tx, rx) = mpsc::unbounded_channel();
        registry.listeners.insert(addr, tx);
        Ok(MemListener {
            net: self.clone(),
            addr,
            backlog: rx,
        })
    }

    /// Connects to the listener bound to `addr`, at once (an in-memory
    /// connect has no handshake); the listener accepts the other end. The
    /// client's address is `127.0.0.1` with a port of the dynamic range.
    ///
    /// # Errors
    ///
    /// `ConnectionRefused` when no listener of this network is bound to
    /// `addr`. See the [module docs](self) for an example.
    pub fn connect(&self, addr: impl Into<SocketAddr>) -> io::Result<MemStream> {
        let addr = addr.into();
        let mut registry = self.lock();
        let local = SocketAddr::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 0);
        let refused = || {
            io::Error::new(
                io::ErrorKind::ConnectionRefused,
                format!("in-memory network: nothing listens on {addr}"),
            )
        };
        let Some(backlog) = registry.listeners.get(&addr).cloned() else {
            return Err(refused());
        };
        let local = SocketAddr::new(local.ip(), registry.free_port(local.ip())?);
        drop(registry);
        let (client, server) = tokio::io::duplex(self.buffer);
        let reset = Arc::new(AtomicBool::new(false));
        let server = MemStream {
            io: server,
            reset: Arc::clone(&reset),
            local: addr,
            peer: local,
        };
        backlog.send((server, local)).map_err(|_| refused())?;
        Ok(MemStream {
            io: client,
            reset,
            local,
            peer: addr,
        })
    }

    /// A connector for hyper-util's legacy client (or tonic) that connects
    /// to this network's listeners (feature `hyper`).
    ///
    /// ```
    /// let net = tower_chaos::io::mem::MemNetwork::new();
    /// assert_eq!(net.connector().network().buffer_size(), net.buffer_size());
    /// ```
    #[cfg(feature = "hyper")]
    #[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
    #[must_use]
    pub fn connector(&self) -> MemConnector {
        MemConnector { net: self.clone() }
    }
}

/// A listener of a [`MemNetwork`]: accepts the connections made to its
/// address. Dropping it unbinds the address (later connects are refused;
/// connections not yet accepted are closed).
///
/// Wrap it in a [`ChaosListener`](super::ChaosListener) for a target's
/// connection faults; with feature `axum`, pass either to `axum::serve`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread", start_paused = true)]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_chaos::{FaultKind, Target, Trigger};
/// use tower_chaos::io::{ChaosListener, ConnFault, ConnFaultSet, mem::MemNetwork};
///
/// let net = MemNetwork::new();
/// let target = Target::builder("api").seed(1).build()?;
/// target.set_faults(ConnFaultSet::new().with(ConnFault::refuse().when(Trigger::first(1))))?;
/// let mut listener = ChaosListener::new(net.bind(([127, 0, 0, 1], 0))?, &target);
/// let _first = net.connect(listener.local_addr()?)?;
/// let second = net.connect(listener.local_addr()?)?;
/// let (conn, peer) = listener.accept().await?; // the first was reset
/// assert_eq!((conn.conn_info().map(|c| c.index()), peer), (Some(1), second.local_addr()));
/// assert_eq!(target.report().injected(FaultKind::Refused), 1);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MemListener {
    net: MemNetwork,
    addr: SocketAddr,
    backlog: mpsc::UnboundedReceiver<(MemStream, SocketAddr)>,
}

impl MemListener {
    /// The address the listener is bound to.
    ///
    /// ```
    /// let net = tower_chaos::io::mem::MemNetwork::new();
    /// assert_eq!(net.bind(([127, 0, 0, 1], 7000))?.local_addr().port(), 7000);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The network the listener belongs to.
    ///
    /// ```
    /// let net = tower_chaos::io::mem::MemNetwork::new();
    /// let listener = net.bind(([127, 0, 0, 1], 0))?;
    /// assert!(listener.network().connect(listener.local_addr()).is_ok());
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[must_use]
    pub const fn network(&self) -> &MemNetwork {
        &self.net
    }

    /// Accepts the next connection and the client's address. Cancel-safe.
    /// See the [module docs](self) for an example.
    ///
    /// # Errors
    ///
    /// None in practice: the listener's address stays bound while it lives.
    pub async fn accept(&mut self) -> io::Result<(MemStream, SocketAddr)> {
        poll_fn(|cx| Accept::poll_accept(self, cx)).await
    }
}

impl Drop for MemListener {
    fn drop(&mut self) {
        self.net.lock().listeners.remove(&self.addr);
    }
}

impl Accept for MemListener {
    type Stream = MemStream;

    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(MemStream, SocketAddr)>> {
        self.backlog.poll_recv(cx).map(|conn| {
            conn.ok_or_else(|| io::Error::new(io::ErrorKind::NotConnected, "in-memory listener unbound"))
        })
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Ok(self.addr)
    }
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl axum::serve::Listener for MemListener {
    type Io = MemStream;
    type Addr = SocketAddr;

    /// Accepts like [`MemListener::accept`], which cannot fail while the
    /// listener lives (were it to, no connection would come: this waits
    /// forever rather than spin).
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match Self::accept(self).await {
            Ok(conn) => conn,
            Err(_) => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.addr)
    }
}

/// One end of an in-memory connection: a [`tokio::io::duplex`] stream with
/// its fake addresses and an abortive close ([`Resettable`]): after
/// `prepare_reset` and drop, the peer reads what was written before, then
/// `ConnectionReset` instead of the end of the stream; its writes fail with
/// `ConnectionReset`.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use std::io;
/// use tokio::io::AsyncReadExt;
/// use tower_chaos::io::{Resettable, mem::MemNetwork};
///
/// let net = MemNetwork::new();
/// let mut listener = net.bind(([127, 0, 0, 1], 0))?;
/// let mut client = net.connect(listener.local_addr())?;
/// let (server, _) = listener.accept().await?;
/// assert_eq!(server.peer_addr(), client.local_addr());
/// server.prepare_reset()?;
/// drop(server);
/// let err = client.read(&mut [0; 1]).await.unwrap_err();
/// assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
/// # Ok(()) }
/// ```
#[derive(Debug)]
pub struct MemStream {
    io: DuplexStream,
    reset: Arc<AtomicBool>,
    local: SocketAddr,
    peer: SocketAddr,
}

impl MemStream {
    /// This end's address. See [`MemStream`] for an example.
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.local
    }

    /// The other end's address. See [`MemStream`] for an example.
    #[must_use]
    pub const fn peer_addr(&self) -> SocketAddr {
        self.peer
    }

    fn check(&self) -> io::Result<()> {
        if self.reset.load(Ordering::Acquire) {
            Err(io::Error::new(
                io::ErrorKind::ConnectionReset,
                "connection reset by peer (in-memory)",
            ))
        } else {
            Ok(())
        }
    }
}

impl Resettable for MemStream {
    fn prepare_reset(&self) -> io::Result<()> {
        self.reset.store(true, Ordering::Release);
        Ok(())
    }
}

impl AsyncRead for MemStream {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let res = Pin::new(&mut this.io).poll_read(cx, buf);
        // The end of a reset peer's bytes is a reset, not an EOF.
        if matches!(res, Poll::Ready(Ok(()))) && buf.filled().len() == before && buf.remaining() > 0 {
            this.check()?;
        }
        res
    }
}

impl AsyncWrite for MemStream {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.io).poll_write(cx, buf)
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        this.check()?;
        Pin::new(&mut this.io).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().io).poll_shutdown(cx)
    }
}

#[cfg(feature = "hyper")]
impl hyper_util::client::legacy::connect::Connection for MemStream {
    fn connected(&self) -> hyper_util::client::legacy::connect::Connected {
        hyper_util::client::legacy::connect::Connected::new()
    }
}

#[cfg(feature = "hyper")]
pub use connector::MemConnector;

#[cfg(feature = "hyper")]
mod connector {
    use std::future::{Ready, ready};
    use std::io;
    use std::net::{IpAddr, Ipv4Addr, SocketAddr};
    use std::task::{Context, Poll};

    use http::Uri;
    use hyper_util::rt::TokioIo;
    use tower_service::Service;

    use super::{MemNetwork, MemStream};

    /// A `Service<Uri>` connector to the listeners of a [`MemNetwork`]
    /// (feature `hyper`), for hyper-util's legacy `Client` or tonic's
    /// `connect_with_connector`; made by [`MemNetwork::connector`]. Put a
    /// [`ChaosConnectorLayer`](crate::io::ChaosConnectorLayer) over it for
    /// a target's connection faults.
    ///
    /// The URI's host is an IP address or `localhost` (127.0.0.1); its
    /// port defaults to 80 for `http`, 443 for `https`.
    ///
    /// # Errors
    ///
    /// An [`io::Error`]: `ConnectionRefused` when nothing listens on the
    /// address, `InvalidInput` for a URI without a host, with a host name
    /// other than `localhost`, or without a port and a known scheme.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use http_body_util::{BodyExt, Empty};
    /// use hyper::body::Bytes;
    /// use hyper_util::client::legacy::Client;
    /// use hyper_util::rt::TokioExecutor;
    /// use tower_chaos::io::mem::MemNetwork;
    ///
    /// let net = MemNetwork::new();
    /// let listener = net.bind(([127, 0, 0, 1], 3000))?;
    /// tokio::spawn(async move {
    ///     let app = axum::Router::new().route("/", axum::routing::get(|| async { "hello" }));
    ///     axum::serve(listener, app).await
    /// });
    /// let client = Client::builder(TokioExecutor::new()).build::<_, Empty<Bytes>>(net.connector());
    /// let res = client.get("http://127.0.0.1:3000/".parse()?).await?;
    /// assert_eq!(res.into_body().collect().await?.to_bytes(), "hello");
    ///
    /// let err = client.get("http://127.0.0.1:3001/".parse()?).await.unwrap_err();
    /// assert!(err.is_connect());
    /// # Ok(()) }
    /// ```
    #[derive(Debug, Clone)]
    pub struct MemConnector {
        pub(super) net: MemNetwork,
    }

    impl MemConnector {
        /// The network it connects in. See [`MemNetwork::connector`] for an
        /// example.
        #[must_use]
        pub const fn network(&self) -> &MemNetwork {
            &self.net
        }
    }

    fn addr_of(uri: &Uri) -> io::Result<SocketAddr> {
        let invalid = |what: &str| {
            io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("in-memory connector: {what} in `{uri}`"),
            )
        };
        let host = uri.host().ok_or_else(|| invalid("no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let ip = if host.eq_ignore_ascii_case("localhost") {
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        } else {
            host.parse()
                .map_err(|_| invalid("a host that is not an IP address or `localhost`"))?
        };
        let port = uri
            .port_u16()
            .or_else(|| match uri.scheme_str() {
                Some("http" | "ws") => Some(80),
                Some("https" | "wss") => Some(443),
                _ => None,
            })
            .ok_or_else(|| invalid("no port"))?;
        Ok(SocketAddr::new(ip, port))
    }

    impl Service<Uri> for MemConnector {
        type Response = TokioIo<MemStream>;
        type Error = io::Error;
        type Future = Ready<io::Result<TokioIo<MemStream>>>;

        fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<io::Result<()>> {
            Poll::Ready(Ok(()))
        }

        fn call(&mut self, uri: Uri) -> Self::Future {
            ready(
                addr_of(&uri)
                    .and_then(|addr| self.net.connect(addr))
                    .map(TokioIo::new),
            )
        }
    }
}
