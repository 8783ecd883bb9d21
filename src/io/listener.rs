//! [`ChaosListener`]: a target's connection faults on accepted connections.

use std::collections::VecDeque;
use std::fmt;
use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpListener, TcpStream, ToSocketAddrs};
use tokio::time::{Instant, Sleep};

use super::conn::{Caps, ConnCtl, End};
use super::{ChaosStream, ConnInfo, IoCounters, Resettable, Side};
use crate::{FaultKind, Target};

const CAPS: Caps = Caps {
    side: Side::Listener,
    dns: false,
    stream: true,
    tls: false,
};

/// A source of accepted connections that a [`ChaosListener`] wraps:
/// tokio's [`TcpListener`], or the in-memory
/// [`MemListener`](super::mem::MemListener).
///
/// A refused connection is reset through [`Resettable::prepare_reset`]
/// and dropped, so the client sees what it would see of a real reset.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
/// use tower_chaos::io::Accept;
/// let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// assert_eq!(Accept::local_addr(&tcp)?, tcp.local_addr()?);
/// # Ok(()) }
/// ```
pub trait Accept {
    /// The accepted connections.
    type Stream: AsyncRead + AsyncWrite + Resettable;

    /// Polls for the next connection and the peer's address.
    ///
    /// # Errors
    ///
    /// The listener's accept errors.
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(Self::Stream, SocketAddr)>>;

    /// The address connections are accepted on.
    ///
    /// # Errors
    ///
    /// The listener's errors (a socket that has none).
    fn local_addr(&self) -> io::Result<SocketAddr>;
}

impl Accept for TcpListener {
    type Stream = TcpStream;

    #[inline]
    fn poll_accept(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<(TcpStream, SocketAddr)>> {
        Self::poll_accept(self, cx)
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        Self::local_addr(self)
    }
}

/// An accepted connection waiting for its connect fault to play out.
struct Pending<S> {
    stream: S,
    peer: SocketAddr,
    ctl: ConnCtl,
}

/// A [`TcpListener`] (or any [`Accept`] source, e.g. the in-memory
/// [`MemListener`](super::mem::MemListener)) whose accepted connections get
/// the connection faults of a [`Target`]: the server side of a rehearsal.
///
/// Each accepted connection is decided once with the target's triggers
/// (its [`ConnInfo`] carries the client's and the listener's addresses):
///
/// * [`refuse`](super::ConnFault::refuse) resets it on accept (zero
///   linger, the client sees `ConnectionReset` on its first read or write)
///   and the server never sees it;
/// * [`slow_connect`](super::ConnFault::slow_connect) hands it to the server
///   only after the delay (other connections are not held up);
/// * [`connect_hang`](super::ConnFault::connect_hang) holds it, open and
///   silent, until the target is switched;
/// * stream faults wrap it: [`Direction::Upstream`](super::Direction::Upstream)
///   is what the server reads (requests), [`Direction::Downstream`](super::Direction::Downstream)
///   what it writes (responses).
///
/// Use [`accept`](Self::accept) in your own accept loop (hyper-util's
/// `serve_connection`, tonic's `serve_with_incoming`), or, with the `axum`
/// feature, pass it to `axum::serve`: it implements
/// `axum::serve::Listener`.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use std::io;
/// use tokio::io::AsyncReadExt;
/// use tokio::net::TcpStream;
/// use tower_chaos::{FaultKind, Target, Trigger};
/// use tower_chaos::io::{ChaosListener, ConnFault, ConnFaultSet};
///
/// let target = Target::builder("api").seed(1).build()?;
/// target.set_faults(ConnFaultSet::new().with(ConnFault::refuse().when(Trigger::first(1))))?;
/// let mut listener = ChaosListener::bind("127.0.0.1:0", &target).await?;
/// let addr = listener.local_addr()?;
///
/// // The first client is reset on accept; the server only sees the second.
/// let mut first = TcpStream::connect(addr).await?;
/// let _second = TcpStream::connect(addr).await?;
/// let (conn, _peer) = listener.accept().await?;
/// assert_eq!(conn.conn_info().map(|c| c.index()), Some(1));
/// let err = first.read(&mut [0; 1]).await.unwrap_err();
/// assert_eq!(err.kind(), io::ErrorKind::ConnectionReset);
/// assert_eq!(target.report().injected(FaultKind::Refused), 1);
/// # Ok(()) }
/// ```
pub struct ChaosListener<L: Accept = TcpListener> {
    inner: L,
    target: Target,
    counters: IoCounters,
    local: Option<SocketAddr>,
    /// Ready to hand to the server.
    ready: VecDeque<(ChaosStream<L::Stream>, SocketAddr)>,
    /// Slowed: handed over at their instant.
    delayed: Vec<(Instant, Pending<L::Stream>)>,
    /// Hung: decided again when the target is switched.
    held: Vec<Pending<L::Stream>>,
    timer: Option<Pin<Box<Sleep>>>,
}

impl<L: Accept + fmt::Debug> fmt::Debug for ChaosListener<L> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ChaosListener")
            .field("inner", &self.inner)
            .field("target", &self.target)
            .field("delayed", &self.delayed.len())
            .field("held", &self.held.len())
            .finish_non_exhaustive()
    }
}

impl ChaosListener {
    /// Binds a [`TcpListener`] to `addr` and wraps it.
    ///
    /// # Errors
    ///
    /// As [`TcpListener::bind`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let listener = tower_chaos::io::ChaosListener::bind("127.0.0.1:0", &target).await?;
    /// assert!(listener.local_addr()?.ip().is_loopback());
    /// # Ok(()) }
    /// ```
    pub async fn bind(addr: impl ToSocketAddrs, target: &Target) -> io::Result<Self> {
        Ok(Self::new(TcpListener::bind(addr).await?, target))
    }
}

impl<L: Accept> ChaosListener<L> {
    /// Wraps `listener`: connections it accepts get the connection faults of
    /// `target`, now and as switched later.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let tcp = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    /// let addr = tcp.local_addr()?;
    /// let listener = tower_chaos::io::ChaosListener::new(tcp, &target);
    /// assert_eq!(listener.local_addr()?, addr);
    /// assert_eq!(listener.target().name(), "api");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn new(listener: L, target: &Target) -> Self {
        let local = listener.local_addr().ok();
        target.read_faults::<super::ConnFault, ConnInfo>();
        tracing::info!(
            target: "tower_chaos",
            chaos_target = %target.name(),
            seed = target.seed(),
            seed_source = %target.seed_source(),
            listener = ?local,
            "chaos listener built: accepted connections get injected faults"
        );
        Self {
            inner: listener,
            target: target.clone(),
            counters: IoCounters::new(),
            local,
            ready: VecDeque::new(),
            delayed: Vec::new(),
            held: Vec::new(),
            timer: None,
        }
    }

    /// The address the listener is bound to.
    ///
    /// # Errors
    ///
    /// As [`TcpListener::local_addr`] (or the wrapped listener's). See [`ChaosListener::new`] for an
    /// example.
    pub fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }

    /// The target whose faults apply. See [`ChaosListener::new`] for an
    /// example.
    #[must_use]
    pub const fn target(&self) -> &Target {
        &self.target
    }

    /// The counters every accepted connection adds to (bytes, fault events,
    /// refused/slowed/held connections).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let listener = tower_chaos::io::ChaosListener::bind("127.0.0.1:0", &target).await?;
    /// assert_eq!(listener.counters().snapshot().faults_total(), 0);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub const fn counters(&self) -> &IoCounters {
        &self.counters
    }

    /// The wrapped listener. See [`ChaosListener::into_inner`] for an
    /// example.
    #[must_use]
    pub const fn get_ref(&self) -> &L {
        &self.inner
    }

    /// Unwraps the listener; connections held or delayed by a fault are
    /// closed.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let listener = tower_chaos::io::ChaosListener::bind("127.0.0.1:0", &target).await?;
    /// let addr = listener.get_ref().local_addr()?;
    /// assert_eq!(listener.into_inner().local_addr()?, addr);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn into_inner(self) -> L {
        self.inner
    }

    /// Accepts the next connection that gets through the target's connect
    /// faults, wrapped with its stream faults. Refused connections are reset
    /// and never returned; slowed ones are returned after their delay; held
    /// ones when a switch of the target releases them.
    ///
    /// Cancel-safe: dropping the future loses no connection. See
    /// [`ChaosListener`] for an example.
    ///
    /// # Errors
    ///
    /// The errors of [`TcpListener::accept`].
    pub async fn accept(&mut self) -> io::Result<(ChaosStream<L::Stream>, SocketAddr)> {
        poll_fn(|cx| self.poll_accept(cx)).await
    }

    /// Polls for the next connection; see [`accept`](Self::accept).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let target = tower_chaos::Target::builder("api").seed(1).build()?;
    /// let mut listener = tower_chaos::io::ChaosListener::bind("127.0.0.1:0", &target).await?;
    /// let _client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
    /// let (_conn, peer) = std::future::poll_fn(|cx| listener.poll_accept(cx)).await?;
    /// assert!(peer.ip().is_loopback());
    /// # Ok(()) }
    /// ```
    ///
    /// # Errors
    ///
    /// The errors of [`TcpListener::poll_accept`].
    pub fn poll_accept(
        &mut self,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<(ChaosStream<L::Stream>, SocketAddr)>> {
        loop {
            if let Some(conn) = self.ready.pop_front() {
                return Poll::Ready(Ok(conn));
            }
            let now = Instant::now();
            if let Some(i) = self
                .delayed
                .iter()
                .enumerate()
                .filter(|(_, (at, _))| *at <= now)
                .min_by_key(|(_, (at, _))| *at)
                .map(|(i, _)| i)
            {
                let (_, p) = self.delayed.swap_remove(i);
                self.route(p, true);
                continue;
            }
            if self.held.first().is_some_and(|p| p.ctl.is_stale()) {
                for mut p in std::mem::take(&mut self.held) {
                    p.ctl.refresh(false);
                    self.route(p, false);
                }
                continue;
            }
            match self.inner.poll_accept(cx) {
                Poll::Ready(Ok((stream, peer))) => {
                    let info = ConnInfo::new(Side::Listener).with_addrs(Some(peer), self.local);
                    let ctl = ConnCtl::new(&self.target, info, CAPS);
                    if ctl.connect().0 == Some(End::Hang) {
                        self.counters.fault(FaultKind::ConnectHang);
                    }
                    self.route(Pending { stream, peer, ctl }, false);
                    continue;
                }
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => {}
            }
            if let Some(at) = self.delayed.iter().map(|(at, _)| *at).min() {
                let timer = self
                    .timer
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep_until(at)));
                if timer.deadline() != at {
                    timer.as_mut().reset(at);
                }
                if timer.as_mut().poll(cx).is_ready() {
                    continue;
                }
            }
            if let Some(p) = self.held.first() {
                p.ctl.watch(cx.waker());
                if p.ctl.is_stale() {
                    continue;
                }
            }
            return Poll::Pending;
        }
    }

    /// Plays a connection's connect faults: reset, hold, delay, or hand over.
    fn route(&mut self, p: Pending<L::Stream>, slept: bool) {
        let (end, slow) = p.ctl.connect();
        if !slept && !slow.is_zero() {
            self.counters.fault(FaultKind::SlowConnect);
            self.delayed.push((Instant::now() + slow, p));
            return;
        }
        match end {
            Some(End::Refuse | End::Dns) => {
                self.counters.fault(FaultKind::Refused);
                // Zero linger on TCP: the close below sends an RST, not a
                // FIN.
                let _ = p.stream.prepare_reset();
            }
            Some(End::Hang) => self.held.push(p),
            None => {
                let stream = ChaosStream::attached(p.stream, p.ctl, self.counters.clone());
                self.ready.push_back((stream, p.peer));
            }
        }
    }
}

#[cfg(feature = "axum")]
#[cfg_attr(docsrs, doc(cfg(feature = "axum")))]
impl<L> axum::serve::Listener for ChaosListener<L>
where
    L: Accept + Send + 'static,
    L::Stream: Unpin + Send + 'static,
{
    type Io = ChaosStream<L::Stream>;
    type Addr = SocketAddr;

    /// Accepts like [`ChaosListener::accept`], retrying on errors as axum's
    /// own `TcpListener` impl does (at once for a connection error, after a
    /// second otherwise).
    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        loop {
            match Self::accept(self).await {
                Ok(conn) => return conn,
                Err(e) => {
                    if !matches!(
                        e.kind(),
                        io::ErrorKind::ConnectionRefused
                            | io::ErrorKind::ConnectionAborted
                            | io::ErrorKind::ConnectionReset
                    ) {
                        tracing::error!(target: "tower_chaos", "accept error: {e}");
                        tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    }
                }
            }
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        self.inner.local_addr()
    }
}
