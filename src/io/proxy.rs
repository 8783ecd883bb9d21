//! A loopback TCP proxy that applies a target's connection faults.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::{JoinHandle, JoinSet};

use super::conn::{Caps, ConnCtl, End};
use super::{ChaosStream, ConnFaults, ConnInfo, IoCounters, IoSnapshot, Resettable, Side};
use crate::{ConfigError, FaultKind, Target};

const COPY_BUFFER: usize = 64 * 1024;

const CAPS: Caps = Caps {
    side: Side::Proxy,
    dns: false,
    stream: true,
};

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
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// Client connections accepted (refused ones included).
    pub accepted: u64,
    /// Connections whose upstream connect failed (the client is reset).
    pub upstream_failures: u64,
    /// Connections open right now (held and delayed ones included).
    pub active: u64,
    /// Bytes and fault events of every proxied connection: `bytes_written`
    /// were taken from clients for the upstream, `bytes_read` delivered from
    /// the upstream to clients; dropped bytes are counted apart; connect
    /// faults count as [`FaultKind::Refused`], [`FaultKind::SlowConnect`]
    /// and [`FaultKind::ConnectHang`] events.
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
}

/// A TCP proxy on `127.0.0.1:0` in front of an upstream address, applying
/// its [`Target`]'s connection faults ([`ConnFaults`]) to every connection.
/// This is how to rehearse outages of clients that only take an address:
/// database drivers, Redis, SDKs.
///
/// Each accepted connection is decided once with the target's triggers
/// (its [`ConnInfo`] carries the client's and the proxy's addresses):
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
/// When either side resets, or a reset fault fires, the other side is reset
/// too. Otherwise a close is forwarded as a half-close (FIN), as TCP does.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tokio::net::{TcpListener, TcpStream};
/// use tower_chaos::{FaultKind, Target};
/// use tower_chaos::io::{ConnFault, ConnFaults, Direction, Proxy};
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
/// target.set_faults(ConnFaults::new().with(ConnFault::truncate_after(Direction::Downstream, 5)))?;
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
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Proxy;

impl Proxy {
    /// Binds `127.0.0.1:0`, starts forwarding to `upstream` on the current
    /// tokio runtime with the connection faults of `target`, and returns the
    /// handle that controls the proxy. The proxy stops when the handle is
    /// dropped or [`shutdown`](ProxyHandle::shutdown).
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
    pub fn spawn(upstream: SocketAddr, target: &Target) -> io::Result<ProxyHandle> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| io::Error::other("Proxy::spawn must be called within a tokio runtime"))?;
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let listener = {
            let _enter = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared::default());
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = runtime.spawn(accept_loop(
            listener,
            upstream,
            target.clone(),
            Arc::clone(&shared),
            stop_rx,
        ));
        tracing::info!(
            target: "tower_chaos",
            chaos_target = %target.name(),
            seed = target.seed(),
            seed_source = %target.seed_source(),
            proxy = %addr,
            %upstream,
            "chaos proxy started: connections through it get injected faults"
        );
        Ok(ProxyHandle {
            addr,
            upstream,
            target: target.clone(),
            shared,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// Controls a running [`Proxy`]: its address, its target, its counts.
///
/// Dropping the handle stops the proxy: the accept loop and every proxied
/// connection are aborted (no task outlives it).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_chaos::Target;
/// use tower_chaos::io::{ConnFault, ConnFaults, Proxy};
///
/// let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let target = Target::builder("db").seed(1).build()?;
/// let proxy = Proxy::spawn(upstream.local_addr()?, &target)?;
/// proxy.set_faults(ConnFaults::new().with(ConnFault::refuse()))?; // = target.set_faults
/// assert_eq!(proxy.target().name(), "db");
/// assert_eq!(proxy.upstream(), upstream.local_addr()?);
/// proxy.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "dropping the handle stops the proxy"]
pub struct ProxyHandle {
    addr: SocketAddr,
    upstream: SocketAddr,
    target: Target,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ProxyHandle {
    /// The address clients connect to. See [`Proxy`] for an example.
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The address the proxy forwards to. See [`ProxyHandle`] for an
    /// example.
    #[must_use]
    pub const fn upstream(&self) -> SocketAddr {
        self.upstream
    }

    /// The target whose faults the proxy applies. See [`ProxyHandle`] for
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
    /// [`ProxyHandle`] for an example.
    pub fn set_faults(&self, faults: ConnFaults) -> Result<(), ConfigError> {
        self.target.set_faults(faults)
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
            io: s.counters.snapshot(),
        }
    }

    /// Stops accepting, aborts every proxied connection and waits until all
    /// of the proxy's tasks have finished. See [`Proxy`] for an example.
    pub async fn shutdown(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            let _ = task.await;
        }
    }
}

impl Drop for ProxyHandle {
    fn drop(&mut self) {
        if let Some(task) = self.task.take() {
            // Dropping the accept loop drops its `JoinSet`, which aborts
            // every connection task.
            task.abort();
        }
    }
}

enum Event {
    Stop,
    Accepted(io::Result<(TcpStream, SocketAddr)>),
}

async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    target: Target,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let local = listener.local_addr().ok();
    let mut conns = JoinSet::new();
    loop {
        let event = poll_fn(|cx| {
            if Pin::new(&mut stop).poll(cx).is_ready() {
                return Poll::Ready(Event::Stop);
            }
            while let Poll::Ready(Some(_)) = conns.poll_join_next(cx) {}
            listener.poll_accept(cx).map(Event::Accepted)
        })
        .await;
        match event {
            Event::Stop => break,
            Event::Accepted(Ok((client, peer))) => {
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                // Decided here, in accept order, so that the same seed and
                // the same connection order give the same faults.
                let info = ConnInfo::new(Side::Proxy).with_addrs(Some(peer), local);
                let ctl = ConnCtl::new(&target, info, CAPS);
                conns.spawn(serve(client, upstream, ctl, Arc::clone(&shared)));
            }
            // Accept errors are per connection (the client went away,
            // descriptors ran out): keep serving.
            Event::Accepted(Err(_)) => tokio::task::yield_now().await,
        }
    }
    conns.shutdown().await;
}

struct Active<'a>(&'a AtomicU64);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn abort(stream: &TcpStream) {
    // Failing to set the linger only turns the RST into a FIN.
    let _ = stream.set_zero_linger();
}

/// Waits until the connection's target is switched.
pub(crate) async fn switched(ctl: &ConnCtl) {
    poll_fn(|cx| {
        if ctl.is_stale() {
            return Poll::Ready(());
        }
        ctl.watch(cx.waker());
        if ctl.is_stale() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, mut ctl: ConnCtl, shared: Arc<Shared>) {
    shared.active.fetch_add(1, Ordering::Relaxed);
    let _active = Active(&shared.active);
    let counters = &shared.counters;
    let mut counted_hang = false;
    loop {
        let (end, slow) = ctl.connect();
        if !slow.is_zero() {
            counters.fault(FaultKind::SlowConnect);
            tokio::time::sleep(slow).await;
        }
        match end {
            None => break,
            Some(End::Refuse | End::Dns) => {
                counters.fault(FaultKind::Refused);
                abort(&client);
                return;
            }
            Some(End::Hang) => {
                if !counted_hang {
                    counted_hang = true;
                    counters.fault(FaultKind::ConnectHang);
                }
                switched(&ctl).await;
                ctl.refresh(false);
            }
        }
    }
    let Ok(up) = TcpStream::connect(upstream).await else {
        shared.upstream_failures.fetch_add(1, Ordering::Relaxed);
        abort(&client);
        return;
    };
    let _ = up.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let mut up = ChaosStream::attached(up, ctl, counters.clone());
    let res = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut up, COPY_BUFFER, COPY_BUFFER).await;
    if let Err(e) = res {
        if e.kind() == io::ErrorKind::ConnectionReset {
            // Either side reset: the other one sees a reset too.
            abort(&client);
            let _ = up.prepare_reset();
        }
    }
}
