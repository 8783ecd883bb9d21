//! A loopback TCP proxy that applies stream and connect faults.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Notify, oneshot};
use tokio::task::{JoinHandle, JoinSet};

use super::{
    ChaosStream, FaultSwitch, IoCounters, IoFault, IoSnapshot, MAX_FAULT_DURATION, Resettable, StreamFaults,
};
use crate::ConfigError;

const COPY_BUFFER: usize = 64 * 1024;

/// A fault applied when a client connects to the [`Proxy`].
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::io::{ConnectFault, ProxyFaults};
///
/// let faults = ProxyFaults::none().with_connect(ConnectFault::SlowConnect(Duration::from_secs(2)))?;
/// assert_eq!(faults.connect(), Some(ConnectFault::SlowConnect(Duration::from_secs(2))));
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ConnectFault {
    /// Accept the connection and reset it at once (zero linger): the client's
    /// `connect` succeeds (the kernel completes the handshake before the
    /// proxy sees it), its first read or write fails with `ConnectionReset`.
    Refuse,
    /// Wait this long before connecting upstream; the client's bytes wait in
    /// the socket meanwhile.
    SlowConnect(Duration),
    /// Accept and never connect upstream: the client sees an open connection
    /// that never answers. Switching the fault off lets held connections
    /// proceed to connect.
    Hang,
}

/// Faults for a [`Proxy`]: stream faults for every proxied connection, and
/// an optional connect fault.
///
/// The stream faults' directions are seen from the proxy's upstream side:
/// `write` is client → upstream (toxiproxy's "upstream"), `read` is upstream
/// → client ("downstream").
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::io::{DirectionFaults, ProxyFaults, StreamFaults};
///
/// let faults: ProxyFaults = StreamFaults::builder()
///     .read(DirectionFaults::new().latency(Duration::from_millis(50)))
///     .build()?
///     .into();
/// assert!(faults.connect().is_none());
/// assert!(!faults.is_none());
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ProxyFaults {
    stream: StreamFaults,
    connect: Option<ConnectFault>,
}

impl ProxyFaults {
    /// No fault.
    #[must_use]
    pub const fn none() -> Self {
        Self {
            stream: StreamFaults::none(),
            connect: None,
        }
    }

    /// Adds a connect fault.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] for `connect.slow_connect` longer than
    /// [`MAX_FAULT_DURATION`].
    pub fn with_connect(mut self, fault: ConnectFault) -> Result<Self, ConfigError> {
        if let ConnectFault::SlowConnect(d) = fault {
            if d > MAX_FAULT_DURATION {
                return Err(ConfigError::invalid(
                    "connect.slow_connect",
                    d,
                    "must be at most 365 days",
                ));
            }
        }
        self.connect = Some(fault);
        Ok(self)
    }

    /// The stream faults applied to proxied connections.
    #[must_use]
    pub const fn stream(&self) -> &StreamFaults {
        &self.stream
    }

    /// The connect fault, if any.
    #[must_use]
    pub const fn connect(&self) -> Option<ConnectFault> {
        self.connect
    }

    /// Whether there is no fault at all.
    #[must_use]
    pub fn is_none(&self) -> bool {
        self.stream.is_none() && self.connect.is_none()
    }
}

impl From<StreamFaults> for ProxyFaults {
    fn from(stream: StreamFaults) -> Self {
        Self {
            stream,
            connect: None,
        }
    }
}

/// Counts kept by a [`Proxy`].
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use tower_chaos::io::{Proxy, ProxyFaults};
///
/// let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let proxy = Proxy::spawn(upstream.local_addr()?, ProxyFaults::none())?;
/// let stats = proxy.stats();
/// assert_eq!((stats.accepted, stats.bytes_upstream()), (0, 0));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct ProxyStats {
    /// Client connections accepted (refused ones included).
    pub accepted: u64,
    /// Connections reset at once by [`ConnectFault::Refuse`].
    pub refused: u64,
    /// Connections held by [`ConnectFault::Hang`].
    pub hung: u64,
    /// Connections delayed by [`ConnectFault::SlowConnect`].
    pub slow_connects: u64,
    /// Connections whose upstream connect failed (the client is reset).
    pub upstream_failures: u64,
    /// Connections open right now.
    pub active: u64,
    /// Bytes and stream faults of every proxied connection: `bytes_written`
    /// were taken from clients for the upstream, `bytes_read` delivered from
    /// the upstream to clients; dropped bytes are counted apart.
    pub io: IoSnapshot,
}

impl ProxyStats {
    /// Bytes taken from clients for the upstream (client → upstream).
    #[must_use]
    pub const fn bytes_upstream(&self) -> u64 {
        self.io.bytes_written
    }

    /// Bytes delivered from the upstream to clients (upstream → client).
    #[must_use]
    pub const fn bytes_downstream(&self) -> u64 {
        self.io.bytes_read
    }
}

#[derive(Debug, Default)]
struct Shared {
    switch: FaultSwitch,
    connect: Mutex<Option<ConnectFault>>,
    changed: Notify,
    counters: IoCounters,
    accepted: AtomicU64,
    refused: AtomicU64,
    hung: AtomicU64,
    slow_connects: AtomicU64,
    upstream_failures: AtomicU64,
    active: AtomicU64,
}

impl Shared {
    fn connect_fault(&self) -> Option<ConnectFault> {
        *self.connect.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A TCP proxy on `127.0.0.1:0` in front of an upstream address, applying
/// [`ProxyFaults`] to every connection. This is how to rehearse outages of
/// clients that only take an address: database drivers, Redis, SDKs.
///
/// Every accepted connection is forwarded to the upstream through a
/// [`ChaosStream`] that watches the proxy's [`FaultSwitch`]: stream faults
/// switched through [`ProxyHandle::set_faults`] reach live connections too
/// (see [`FaultSwitch`] for what changes on a live connection); connect
/// faults apply to connections accepted afterwards (and release held
/// [`ConnectFault::Hang`] ones when switched off).
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
/// use tower_chaos::io::{DirectionFaults, Proxy, StreamFaults};
///
/// // An upstream that says hello.
/// let upstream = TcpListener::bind("127.0.0.1:0").await?;
/// let addr = upstream.local_addr()?;
/// tokio::spawn(async move {
///     let (mut s, _) = upstream.accept().await.unwrap();
///     s.write_all(b"hello world").await.unwrap();
/// });
///
/// let faults = StreamFaults::builder()
///     .read(DirectionFaults::new().truncate_after(5))
///     .build()?;
/// let proxy = Proxy::spawn(addr, faults)?;
/// let mut client = TcpStream::connect(proxy.local_addr()).await?;
/// let mut got = Vec::new();
/// client.read_to_end(&mut got).await?;
/// assert_eq!(got, b"hello");
/// proxy.shutdown().await;
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Copy)]
#[non_exhaustive]
pub struct Proxy;

impl Proxy {
    /// Binds `127.0.0.1:0`, starts forwarding to `upstream` on the current
    /// tokio runtime, and returns the handle that controls the proxy. The
    /// proxy stops when the handle is dropped or
    /// [`shutdown`](ProxyHandle::shutdown).
    ///
    /// # Errors
    ///
    /// Binding failed, or there is no tokio runtime.
    pub fn spawn(upstream: SocketAddr, faults: impl Into<ProxyFaults>) -> io::Result<ProxyHandle> {
        let runtime = tokio::runtime::Handle::try_current()
            .map_err(|_| io::Error::other("Proxy::spawn must be called within a tokio runtime"))?;
        let std_listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        std_listener.set_nonblocking(true)?;
        let listener = {
            let _enter = runtime.enter();
            TcpListener::from_std(std_listener)?
        };
        let addr = listener.local_addr()?;
        let faults = faults.into();
        let shared = Arc::new(Shared {
            switch: FaultSwitch::new(faults.stream),
            connect: Mutex::new(faults.connect),
            ..Shared::default()
        });
        let (stop_tx, stop_rx) = oneshot::channel();
        let task = runtime.spawn(accept_loop(listener, upstream, shared.clone(), stop_rx));
        tracing::info!(
            target: "tower_chaos",
            proxy = %addr,
            %upstream,
            "chaos proxy started: connections through it get injected faults"
        );
        Ok(ProxyHandle {
            addr,
            shared,
            stop: Some(stop_tx),
            task: Some(task),
        })
    }
}

/// Controls a running [`Proxy`]: its address, its faults, its counts.
///
/// Dropping the handle stops the proxy: the accept loop and every proxied
/// connection are aborted (no task outlives it).
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// use tower_chaos::io::{ConnectFault, Proxy, ProxyFaults};
///
/// let upstream = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let proxy = Proxy::spawn(upstream.local_addr()?, ProxyFaults::none())?;
/// proxy.set_faults(ProxyFaults::none().with_connect(ConnectFault::Refuse)?);
/// assert_eq!(proxy.faults().connect(), Some(ConnectFault::Refuse));
/// proxy.clear();
/// assert!(proxy.faults().is_none());
/// # Ok(()) }
/// ```
#[derive(Debug)]
#[must_use = "dropping the handle stops the proxy"]
pub struct ProxyHandle {
    addr: SocketAddr,
    shared: Arc<Shared>,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<()>>,
}

impl ProxyHandle {
    /// The address clients connect to.
    #[must_use]
    pub const fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// Replaces the faults: stream faults take effect on live connections at
    /// their next poll, connect faults on connections accepted from now on.
    pub fn set_faults(&self, faults: impl Into<ProxyFaults>) {
        let faults = faults.into();
        *self.shared.connect.lock().unwrap_or_else(PoisonError::into_inner) = faults.connect;
        self.shared.switch.set(faults.stream);
        self.shared.changed.notify_waiters();
    }

    /// Switches every fault off; live connections recover (a stalled one
    /// resumes, a held one connects) unless already reset or closed.
    pub fn clear(&self) {
        self.set_faults(ProxyFaults::none());
    }

    /// The faults currently set.
    #[must_use]
    pub fn faults(&self) -> ProxyFaults {
        ProxyFaults {
            stream: self.shared.switch.get(),
            connect: self.shared.connect_fault(),
        }
    }

    /// The switch that proxied connections watch (to share it with other
    /// streams).
    #[must_use]
    pub fn switch(&self) -> &FaultSwitch {
        &self.shared.switch
    }

    /// The counters every proxied connection adds to.
    #[must_use]
    pub fn counters(&self) -> &IoCounters {
        &self.shared.counters
    }

    /// Connection counts and byte counters.
    #[must_use]
    pub fn stats(&self) -> ProxyStats {
        let s = &self.shared;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        ProxyStats {
            accepted: load(&s.accepted),
            refused: load(&s.refused),
            hung: load(&s.hung),
            slow_connects: load(&s.slow_connects),
            upstream_failures: load(&s.upstream_failures),
            active: load(&s.active),
            io: s.counters.snapshot(),
        }
    }

    /// Stops accepting, aborts every proxied connection and waits until all
    /// of the proxy's tasks have finished.
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
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
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
            Event::Accepted(Ok((client, _))) => {
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                conns.spawn(serve(client, upstream, shared.clone()));
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

async fn serve(mut client: TcpStream, upstream: SocketAddr, shared: Arc<Shared>) {
    shared.active.fetch_add(1, Ordering::Relaxed);
    let _active = Active(&shared.active);
    // SEAM(core): a core Trigger will decide here, per connection, whether
    // this connection gets the faults (rate, first n, budget…), and report
    // into the target's counters.
    let mut counted_hang = false;
    loop {
        let mut changed = pin!(shared.changed.notified());
        changed.as_mut().enable();
        match shared.connect_fault() {
            Some(ConnectFault::Refuse) => {
                shared.refused.fetch_add(1, Ordering::Relaxed);
                shared.counters.fault(IoFault::Refuse);
                abort(&client);
                return;
            }
            Some(ConnectFault::Hang) => {
                if !counted_hang {
                    counted_hang = true;
                    shared.hung.fetch_add(1, Ordering::Relaxed);
                    shared.counters.fault(IoFault::Hang);
                }
                changed.await;
            }
            Some(ConnectFault::SlowConnect(d)) => {
                shared.slow_connects.fetch_add(1, Ordering::Relaxed);
                shared.counters.fault(IoFault::SlowConnect);
                tokio::time::sleep(d).await;
                break;
            }
            None => break,
        }
    }
    let Ok(up) = TcpStream::connect(upstream).await else {
        shared.upstream_failures.fetch_add(1, Ordering::Relaxed);
        abort(&client);
        return;
    };
    let _ = up.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let mut up = ChaosStream::with_switch(up, &shared.switch).with_counters(shared.counters.clone());
    let res = tokio::io::copy_bidirectional_with_sizes(&mut client, &mut up, COPY_BUFFER, COPY_BUFFER).await;
    if let Err(e) = res {
        if e.kind() == io::ErrorKind::ConnectionReset {
            // Either side reset: the other one sees a reset too.
            abort(&client);
            let _ = up.prepare_reset();
        }
    }
}
