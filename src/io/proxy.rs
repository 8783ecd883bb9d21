//! A loopback TCP proxy that applies a target's connection faults.

mod accept;
mod relay;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use tokio::net::TcpListener;
use tokio::runtime::Handle;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use super::{ConnFaultSet, IoCounters, IoSnapshot};
use crate::{ConfigError, Target};

pub use accept::{ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN};

/// Counts kept by a [`Proxy`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_chaos::Target;
/// use tower_chaos::io::Proxy;
///
/// let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let target = Target::builder("upstream").seed(1).build()?;
/// let proxy = Proxy::spawn(upstream.local_addr()?, &target)?;
/// let stats = proxy.stats();
/// assert_eq!((stats.accepted, stats.bytes_upstream()), (0, 0));
/// // Debug output labels every count.
/// assert!(format!("{stats:?}").starts_with("ProxyStats { accepted: 0, upstream_failures: 0,"));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// Client connections accepted (refused ones included).
    pub accepted: u64,
    /// Connections whose upstream connect failed (the client's connection
    /// is closed: it reads EOF, as with toxiproxy).
    pub upstream_failures: u64,
    /// Connections open right now (held and delayed ones included).
    pub active: u64,
    /// Connections released because both of their peers had closed while a
    /// fault (stall, blackhole, timeout, connect hang) held them; see
    /// [`Proxy`]'s lifetime rules.
    pub released: u64,
    /// Accepts that failed because the client went away before the proxy
    /// took its connection (aborted, reset); retried at once.
    pub accept_aborted: u64,
    /// Accepts that failed for the proxy's own reasons (file descriptors or
    /// memory ran out, ...); each one pauses the accept loop (see
    /// [`ACCEPT_BACKOFF_MIN`]) instead of spinning.
    pub accept_failed: u64,
    /// TLS handshakes that failed after the proxy answered the ClientHello
    /// (a proxy made with [`Proxy::spawn_tls`]): the client rejected the
    /// certificate — an injected one or the real one — or left mid-way.
    /// An injected alert is not counted here.
    pub tls_failed: u64,
    /// Bytes and fault events of every proxied connection: `bytes_written`
    /// were taken from clients for the upstream, `bytes_read` delivered from
    /// the upstream to clients; dropped bytes are counted apart; connect
    /// faults count as [`FaultKind::Refused`](crate::FaultKind::Refused), [`FaultKind::SlowConnect`](crate::FaultKind::SlowConnect)
    /// and [`FaultKind::ConnectHang`](crate::FaultKind::ConnectHang) events.
    pub io: IoSnapshot,
}

impl ProxyStats {
    /// Bytes taken from clients for the upstream (client → upstream).
    ///
    /// ```
    /// assert_eq!(tower_chaos::io::ProxyStats::default().bytes_upstream(), 0);
    /// ```
    #[must_use]
    pub const fn bytes_upstream(&self) -> u64 {
        self.io.bytes_written
    }

    /// Bytes delivered from the upstream to clients (upstream → client).
    ///
    /// ```
    /// assert_eq!(tower_chaos::io::ProxyStats::default().bytes_downstream(), 0);
    /// ```
    #[must_use]
    pub const fn bytes_downstream(&self) -> u64 {
        self.io.bytes_read
    }
}

#[derive(Debug, Default)]
struct Shared {
    counters: IoCounters,
    accepted: AtomicU64,
    upstream_failures: AtomicU64,
    active: AtomicU64,
    released: AtomicU64,
    accept_aborted: AtomicU64,
    accept_failed: AtomicU64,
    tls_failed: AtomicU64,
}

/// A TCP proxy on `127.0.0.1:0` in front of an upstream address, applying
/// its [`Target`]'s connection faults ([`ConnFaultSet`]) to every connection.
/// This is how to rehearse outages of clients that only take an address:
/// database drivers, Redis, SDKs.
///
/// Each accepted connection is decided once with the target's triggers
/// (its [`ConnInfo`](super::ConnInfo) carries the client's and the proxy's
/// addresses):
/// connect faults act before the proxy connects upstream
/// ([`refuse`](super::ConnFault::refuse) resets the client at once,
/// [`slow_connect`](super::ConnFault::slow_connect) waits,
/// [`connect_hang`](super::ConnFault::connect_hang) holds the client without
/// connecting); stream faults then shape the proxied bytes, with
/// [`Direction::Upstream`](super::Direction::Upstream) for client → upstream
/// and [`Direction::Downstream`](super::Direction::Downstream) for upstream
/// → client. [`dns_failure`](super::ConnFault::dns_failure) does not apply
/// (the client connects to an address).
///
/// Switching the target ([`Target::set_faults`], [`Target::disable`],
/// [`Target::enable`]) reaches live connections too; see the
/// [module docs](super#switching-at-run-time).
///
/// # Lifetime of a proxied connection
///
/// * When either side resets, or a reset fault fires, the other side is
///   reset too. Otherwise a close is forwarded as a half-close (FIN), as TCP
///   does, and the connection ends once both directions have forwarded
///   their close.
/// * A [`truncate_after`](super::ConnFault::truncate_after) closes the whole
///   connection: after a downstream truncation the client reads its bytes
///   and EOF, and its socket is closed without waiting for the client.
/// * When the upstream cannot be reached, the client's connection is closed
///   (it reads EOF, as toxiproxy's clients do) and counted in
///   [`ProxyStats::upstream_failures`].
/// * A connection whose client **and** upstream have both closed their
///   sending side is released at once when a fault holds one of its
///   directions ([`stall`](super::ConnFault::stall),
///   [`blackhole`](super::ConnFault::blackhole),
///   [`timeout`](super::ConnFault::timeout); a
///   [`connect_hang`](super::ConnFault::connect_hang), which has no upstream
///   end yet, as soon as its client closes its sending side):
///   nobody is left to send what the fault would wait for, so the proxy
///   closes both sockets instead of keeping them until the faults are
///   switched. Bytes the fault held are not delivered: both sockets are
///   reset, so a client that half-closed and still reads sees
///   `ConnectionReset`, not a clean EOF. Faults that only delay
///   (latency, bandwidth, slicing, slow close) deliver what they hold first.
///   Such releases are counted in [`ProxyStats::released`]. The close
///   behind unread bytes is seen on Linux only (`EPOLLRDHUP`, watched on
///   duplicated descriptors while a fault holds the connection); see
///   `docs/IO.md`.
/// * [`Proxy::disable`] takes the proxy down (it stops listening and
///   closes every connection), [`Proxy::enable`] brings it back on the
///   same port; dropping the proxy or [`Proxy::shutdown`] stops it for
///   good. No task outlives the proxy.
/// * When accepting fails for the proxy's own reasons (file descriptors run
///   out), the accept loop pauses, from [`ACCEPT_BACKOFF_MIN`] doubling up to
///   [`ACCEPT_BACKOFF_MAX`], instead of spinning; each failure is counted in
///   [`ProxyStats::accept_failed`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio::net::{TcpListener, TcpStream};
/// use tower_chaos::{FaultKind, Target};
/// use tower_chaos::io::{ConnFault, ConnFaultSet, Direction, Proxy};
///
/// // An upstream that says hello.
/// let upstream = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = upstream.local_addr()?;
/// tokio::spawn(async move {
///     let (mut s, _) = upstream.accept().await.unwrap();
///     s.write_all(b"hello world").await.unwrap();
/// });
///
/// let target = Target::builder("greeter").seed(42).build()?;
/// target.set_faults(ConnFaultSet::new().with(ConnFault::truncate_after(Direction::Downstream, 5)))?;
/// let proxy = Proxy::spawn(addr, &target)?;
/// let mut client = TcpStream::connect(proxy.local_addr()).await?;
/// let mut got = Vec::new();
/// client.read_to_end(&mut got).await?;
/// assert_eq!(got, b"hello");
/// assert_eq!(target.report().injected(FaultKind::Truncate), 1);
/// assert_eq!(target.report().bytes_downstream, 5);
/// proxy.shutdown().await;
/// # Ok(()) }
/// ```
///
/// # Handle
///
/// A `Proxy` is the handle of a running proxy: its address, its target, its
/// counts, and whether it is up. Dropping it stops the proxy: the accept
/// loop and every proxied connection are aborted (no task outlives it).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_chaos::Target;
/// use tower_chaos::io::{ConnFault, ConnFaultSet, Proxy};
///
/// let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let target = Target::builder("db").seed(1).build()?;
/// let proxy = Proxy::spawn(upstream.local_addr()?, &target)?;
/// proxy.set_faults(ConnFaultSet::new().with(ConnFault::refuse()))?; // = target.set_faults
/// assert_eq!(proxy.target().name(), "db");
/// assert!(target.report().unread_fault_sets.is_empty()); // the proxy reads them
/// proxy.clear_faults(); // = target.clear_conn_faults()
/// assert_eq!(proxy.upstream(), upstream.local_addr()?);
/// proxy.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "dropping the proxy stops it"]
pub struct Proxy {
    addr: SocketAddr,
    upstream: SocketAddr,
    target: Target,
    shared: Arc<Shared>,
    runtime: Handle,
    running: Option<Running>,
    tls: Option<Tls>,
}

/// The TLS terminator of a proxy, when it has one.
#[cfg(feature = "tls")]
type Tls = super::TlsTerminator;
/// Without feature `tls`, a proxy has no terminator (an uninhabited type,
/// not `Copy`, so that the code passing it around reads the same).
#[cfg(not(feature = "tls"))]
#[derive(Debug, Clone)]
enum Tls {}

impl Proxy {
    /// Binds `127.0.0.1:0`, starts forwarding to `upstream` on the current
    /// tokio runtime with the connection faults of `target`, and returns the
    /// proxy, which is its own handle: it stops when dropped or
    /// [`shutdown`](Self::shutdown).
    ///
    /// # Errors
    ///
    /// Binding failed, or there is no tokio runtime.
    ///
    /// ```
    /// let target = tower_chaos::Target::builder("x").seed(1).build()?;
    /// let upstream = "127.0.0.1:9".parse()?;
    /// // No runtime here: an error, not a panic.
    /// assert!(tower_chaos::io::Proxy::spawn(upstream, &target).is_err());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn spawn(upstream: SocketAddr, target: &Target) -> io::Result<Self> {
        Self::spawn_at(SocketAddr::from(([127, 0, 0, 1], 0)), upstream, target)
    }

    /// [`spawn`](Self::spawn) listening on `listen` instead of
    /// `127.0.0.1:0`, as toxiproxy's `listen` field does (port 0 picks a
    /// free port; read it with [`local_addr`](Self::local_addr)). The
    /// toxiproxy-compatible server (`tower-chaos serve`) creates its
    /// proxies with it.
    ///
    /// # Errors
    ///
    /// Binding `listen` failed (the port is taken, the address is not
    /// local), or there is no tokio runtime.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_chaos::io::Proxy;
    ///
    /// let target = tower_chaos::Target::builder("db").seed(1).build()?;
    /// let upstream = "127.0.0.1:9".parse()?;
    /// let proxy = Proxy::spawn_at("127.0.0.1:0".parse()?, upstream, &target)?;
    /// assert_ne!(proxy.local_addr().port(), 0);
    /// // A second proxy on the same address: the port is taken.
    /// let err = Proxy::spawn_at(proxy.local_addr(), upstream, &target).unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::AddrInUse);
    /// # Ok(()) }
    /// ```
    pub fn spawn_at(listen: SocketAddr, upstream: SocketAddr, target: &Target) -> io::Result<Self> {
        Self::spawn_with(listen, upstream, target, None)
    }

    /// [`spawn`](Self::spawn), terminating TLS: clients speak TLS to the
    /// proxy, which presents `tls`'s certificate (or a faulty one, when a
    /// [`ConnFault::tls`](super::ConnFault::tls) rule fires for the
    /// connection) and speaks plain TCP to `upstream`. The handshake comes
    /// after the connect faults (a refused or held connection never gets
    /// one) and before the proxy connects upstream; stream faults shape the
    /// plain bytes between the two. Feature `tls`.
    ///
    /// # Errors
    ///
    /// As [`spawn`](Self::spawn).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::sync::Arc;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// use tokio::net::{TcpListener, TcpStream};
    /// use tower_chaos::{FaultKind, Target, Trigger};
    /// use tower_chaos::io::{ConnFault, ConnFaultSet, Proxy, TestCa, TlsFault, TlsTerminator};
    ///
    /// // A plain upstream that says hello.
    /// let upstream = TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = upstream.local_addr()?;
    /// tokio::spawn(async move {
    ///     while let Ok((mut s, _)) = upstream.accept().await {
    ///         let _ = s.write_all(b"hello").await;
    ///     }
    /// });
    ///
    /// let ca = TestCa::new()?;
    /// let target = Target::builder("api").seed(7).build()?;
    /// target.set_faults(ConnFaultSet::new().with(
    ///     ConnFault::tls(TlsFault::ExpiredCertificate).when(Trigger::first(1)),
    /// ))?;
    /// let proxy = Proxy::spawn_tls(addr, &target, TlsTerminator::builder(&ca).build()?)?;
    /// let tls = tokio_rustls::TlsConnector::from(Arc::new(ca.client_config()?));
    /// let name = rustls::pki_types::ServerName::try_from("localhost")?;
    ///
    /// // The first handshake gets the expired certificate...
    /// let tcp = TcpStream::connect(proxy.local_addr()).await?;
    /// let err = tls.connect(name.clone(), tcp).await.unwrap_err();
    /// let err = err.get_ref().and_then(|e| e.downcast_ref::<rustls::Error>());
    /// assert!(matches!(err, Some(rustls::Error::InvalidCertificate(_))), "{err:?}");
    ///
    /// // ...the next one the real one, and the plain upstream behind it.
    /// let mut stream = tls.connect(name, TcpStream::connect(proxy.local_addr()).await?).await?;
    /// let mut got = [0; 5];
    /// stream.read_exact(&mut got).await?;
    /// assert_eq!(&got, b"hello");
    /// assert_eq!(target.report().injected(FaultKind::TlsExpiredCertificate), 1);
    /// assert_eq!(proxy.stats().tls_failed, 1);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    pub fn spawn_tls(upstream: SocketAddr, target: &Target, tls: super::TlsTerminator) -> io::Result<Self> {
        Self::spawn_with(SocketAddr::from(([127, 0, 0, 1], 0)), upstream, target, Some(tls))
    }

    /// The TLS terminator of a proxy made with
    /// [`spawn_tls`](Self::spawn_tls): to [rotate](super::TlsTerminator::rotate)
    /// its certificate while the proxy runs. Feature `tls`.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_chaos::Target;
    /// use tower_chaos::io::{Proxy, TestCa, TlsTerminator};
    ///
    /// let target = Target::builder("api").seed(1).build()?;
    /// let tls = TlsTerminator::builder(&TestCa::new()?).build()?;
    /// let proxy = Proxy::spawn_tls("127.0.0.1:9".parse()?, &target, tls)?;
    /// proxy.tls().expect("terminates TLS").rotate()?;
    /// assert_eq!(proxy.tls().map(|t| t.rotations()), Some(1));
    /// assert!(Proxy::spawn("127.0.0.1:9".parse()?, &target)?.tls().is_none());
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[must_use]
    pub const fn tls(&self) -> Option<&super::TlsTerminator> {
        self.tls.as_ref()
    }

    fn spawn_with(
        listen: SocketAddr,
        upstream: SocketAddr,
        target: &Target,
        tls: Option<Tls>,
    ) -> io::Result<Self> {
        let runtime = Handle::try_current()
            .map_err(|_| io::Error::other("Proxy::spawn must be called within a tokio runtime"))?;
        let listener = bind(&runtime, listen)?;
        let addr = listener.local_addr()?;
        target.read_faults::<super::ConnFault, super::ConnInfo>();
        let mut proxy = Self {
            addr,
            upstream,
            target: target.clone(),
            shared: Arc::new(Shared::default()),
            runtime,
            running: None,
            tls,
        };
        proxy.start(listener);
        tracing::info!(
            target: "tower_chaos",
            chaos_target = %target.name(),
            seed = target.seed(),
            seed_source = %target.seed_source(),
            proxy = %addr,
            %upstream,
            tls = proxy.tls.is_some(),
            "chaos proxy started: connections through it get injected faults"
        );
        Ok(proxy)
    }
}

fn bind(runtime: &Handle, addr: SocketAddr) -> io::Result<TcpListener> {
    let std_listener = std::net::TcpListener::bind(addr)?;
    std_listener.set_nonblocking(true)?;
    let _enter = runtime.enter();
    TcpListener::from_std(std_listener)
}

/// The proxy could not listen on its port again
/// ([`Proxy::enable`]): another socket holds it.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let target = tower_chaos::Target::builder("db").seed(1).build()?;
/// let mut proxy = tower_chaos::io::Proxy::spawn("127.0.0.1:9".parse()?, &target)?;
/// proxy.disable().await;
/// let squatter = std::net::TcpListener::bind(proxy.local_addr())?;
/// let err = proxy.enable().unwrap_err();
/// assert_eq!(err.addr(), proxy.local_addr());
/// assert_eq!(err.source_ref().kind(), std::io::ErrorKind::AddrInUse);
/// drop(squatter);
/// proxy.enable()?;
/// assert!(proxy.is_enabled());
/// # Ok(()) }
/// ```
#[derive(Debug, thiserror::Error)]
#[error("the chaos proxy cannot listen on {addr} again: {source}")]
pub struct RebindError {
    addr: SocketAddr,
    source: io::Error,
}

impl RebindError {
    /// The address the proxy tried to listen on. See [`RebindError`] for an
    /// example.
    #[must_use]
    pub const fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Why binding failed. See [`RebindError`] for an example.
    #[must_use]
    pub const fn source_ref(&self) -> &io::Error {
        &self.source
    }
}

/// The accept loop while the proxy is up.
#[derive(Debug)]
struct Running {
    stop: oneshot::Sender<()>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// The address clients connect to (the same while the proxy is disabled
    /// and once enabled again). See [`Proxy`] for an example.
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address the proxy forwards to. See [`Proxy`] for an
    /// example.
    #[must_use]
    pub const fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The target whose faults the proxy applies. See [`Proxy`] for
    /// an example.
    #[must_use]
    pub const fn target(&self) -> &Target {
        &self.target
    }

    /// [`Target::set_faults`] for connection faults: new connections are
    /// decided against `faults`, live ones re-decided.
    ///
    /// # Errors
    ///
    /// As [`Target::set_faults`]; on error nothing changes. See
    /// [`Proxy`] for an example.
    pub fn set_faults(&self, faults: ConnFaultSet) -> Result<(), ConfigError> {
        self.target.set_faults(faults)
    }

    /// Removes the target's connection faults
    /// ([`Target::clear_conn_faults`]): new connections get none, live ones
    /// drop theirs. See [`Proxy`] for an example.
    pub fn clear_faults(&self) {
        self.target.clear_conn_faults();
    }

    /// The counters every proxied connection adds to (the same figures as
    /// [`stats`](Self::stats)'s `io`).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let target = tower_chaos::Target::builder("db").seed(1).build()?;
    /// let proxy = tower_chaos::io::Proxy::spawn("127.0.0.1:9".parse()?, &target)?;
    /// assert_eq!(proxy.counters().snapshot(), proxy.stats().io);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn counters(&self) -> &IoCounters {
        &self.shared.counters
    }

    /// Connection counts and byte counters. See [`ProxyStats`] for an
    /// example.
    #[must_use]
    pub fn stats(&self) -> ProxyStats {
        let s = &self.shared;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            accepted: load(&s.accepted),
            upstream_failures: load(&s.upstream_failures),
            active: load(&s.active),
            released: load(&s.released),
            accept_aborted: load(&s.accept_aborted),
            accept_failed: load(&s.accept_failed),
            tls_failed: load(&s.tls_failed),
            io: s.counters.snapshot(),
        }
    }

    /// Whether the proxy is up: listening and forwarding. See
    /// [`disable`](Self::disable) for an example.
    #[must_use]
    pub const fn is_enabled(&self) -> bool {
        self.running.is_some()
    }

    /// Takes the proxy down, as toxiproxy's `enabled = false` does: it stops
    /// listening (new clients are refused by the system) and closes every
    /// proxied connection, then returns once all of their tasks have
    /// finished. Counters are kept. Disabling a disabled proxy does nothing.
    ///
    /// Not to be confused with [`Target::disable`], which switches the
    /// target's faults off and leaves connections flowing.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// use tokio::net::{TcpListener, TcpStream};
    ///
    /// let upstream = TcpListener::bind("127.0.0.1:0").await?;
    /// let target = tower_chaos::Target::builder("db").seed(1).build()?;
    /// let mut proxy = tower_chaos::io::Proxy::spawn(upstream.local_addr()?, &target)?;
    /// let mut live = TcpStream::connect(proxy.local_addr()).await?;
    ///
    /// proxy.disable().await;
    /// assert!(!proxy.is_enabled());
    /// assert_eq!(live.read(&mut [0; 1]).await.unwrap_or(0), 0); // closed
    /// assert!(TcpStream::connect(proxy.local_addr()).await.is_err()); // down
    ///
    /// proxy.enable()?; // back on the same port
    /// assert!(proxy.is_enabled());
    /// let mut client = TcpStream::connect(proxy.local_addr()).await?;
    /// let (mut server, _) = upstream.accept().await?;
    /// client.write_all(b"up again").await?;
    /// let mut got = [0; 8];
    /// server.read_exact(&mut got).await?;
    /// assert_eq!(&got, b"up again");
    /// # Ok(()) }
    /// ```
    pub async fn disable(&mut self) {
        if let Some(running) = self.running.take() {
            let _ = running.stop.send(());
            let _ = running.task.await;
            tracing::info!(
                target: "tower_chaos",
                chaos_target = %self.target.name(),
                proxy = %self.addr,
                "chaos proxy disabled: not listening, connections closed"
            );
        }
    }

    /// Brings a [disabled](Self::disable) proxy back up on the same address,
    /// as toxiproxy's `enabled = true` does. Enabling a running proxy does
    /// nothing (toxiproxy answers `ErrProxyAlreadyStarted`).
    ///
    /// # Errors
    ///
    /// [`RebindError`] when the port cannot be bound again (another socket
    /// took it meanwhile); the proxy stays disabled and `enable` can be
    /// retried. See [`RebindError`] and [`disable`](Self::disable) for
    /// examples.
    pub fn enable(&mut self) -> Result<(), RebindError> {
        if self.running.is_some() {
            return Ok(());
        }
        let listener = bind(&self.runtime, self.addr).map_err(|source| RebindError {
            addr: self.addr,
            source,
        })?;
        self.start(listener);
        tracing::info!(
            target: "tower_chaos",
            chaos_target = %self.target.name(),
            proxy = %self.addr,
            "chaos proxy enabled again"
        );
        Ok(())
    }

    fn start(&mut self, listener: TcpListener) {
        let (stop, stop_rx) = oneshot::channel();
        let task = self.runtime.spawn(accept::accept_loop(
            listener,
            self.upstream,
            self.target.clone(),
            Arc::clone(&self.shared),
            self.tls.clone(),
            stop_rx,
        ));
        self.running = Some(Running { stop, task });
    }

    /// Stops accepting, aborts every proxied connection and waits until all
    /// of the proxy's tasks have finished. See [`Proxy`] for an example.
    pub async fn shutdown(mut self) {
        self.disable().await;
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(running) = self.running.take() {
            // Dropping the accept loop drops its `JoinSet`, which aborts
            // every connection task.
            running.task.abort();
        }
    }
}
