//! Connection faults as rules of a [`Target`]: [`ConnFault`], the
//! [`ConnInfo`] its triggers look at, and the per-connection decision.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::task::Waker;
use std::time::Duration;

use super::faults::Scope;
use super::{DirectionFaults, Interrupt, MAX_FAULT_DURATION, Onset, StreamFaults};
use crate::rng::SplitMix;
use crate::rule::sealed::Sealed;
use crate::rule::{ActiveGuard, Applied, Resolve, TakeCtx};
use crate::target::Slot;
use crate::{ConfigError, FaultKind, FaultSet, Latency, Rule, Target, Trigger};

/// The connection faults of a target: what
/// [`Target::set_faults`](crate::Target::set_faults) takes for connections.
///
/// ```
/// use tower_chaos::{Target, Trigger};
/// use tower_chaos::io::{ConnFault, ConnFaultSet};
///
/// let target = Target::builder("db").seed(1).build()?;
/// target.set_faults(ConnFaultSet::new().with(ConnFault::refuse().when(Trigger::first(2))))?;
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
pub type ConnFaultSet = FaultSet<ConnFault, ConnInfo>;

/// A trigger over connections, `Trigger<ConnInfo>`: what
/// [`ConnFault::when`] takes. Naming the type lets closures go unannotated.
///
/// ```
/// use tower_chaos::io::ConnTrigger;
///
/// let to_redis = ConnTrigger::when(|conn| conn.port() == Some(6379));
/// let every_second = ConnTrigger::every(2);
/// assert!(format!("{:?}", to_redis & every_second).starts_with("All("));
/// ```
pub type ConnTrigger = Trigger<ConnInfo>;

/// A connection rule: a [`ConnFault`] with its trigger and limits,
/// `Rule<ConnFault, ConnInfo>`; a [`ConnFaultSet`] holds them.
///
/// ```
/// use tower_chaos::Trigger;
/// use tower_chaos::io::{ConnFault, ConnRule};
///
/// let rule: ConnRule = ConnFault::refuse().when(Trigger::first(2)).budget(1);
/// assert_eq!(rule.name(), None);
/// ```
pub type ConnRule = Rule<ConnFault, ConnInfo>;

/// Which way bytes flow, seen from the client: `Upstream` is client →
/// server (requests), `Downstream` server → client (responses), as in
/// toxiproxy.
///
/// Every plug-in maps it onto its stream: for a connector and for the
/// [`Proxy`](super::Proxy) (whose stream is its connection to the
/// upstream) upstream is what they write and downstream what they read; for
/// a [`ChaosListener`](super::ChaosListener) (the server's side) upstream is
/// what the server reads.
///
/// ```
/// use tower_chaos::io::{ConnFault, Direction};
/// let f = ConnFault::bandwidth(Direction::Both, 1024);
/// assert_eq!(f.direction(), Some(Direction::Both));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Client → server.
    Upstream,
    /// Server → client.
    Downstream,
    /// Both directions, each with its own copy of the fault.
    Both,
}

impl Direction {
    const fn covers(self, up: bool) -> bool {
        matches!(
            (self, up),
            (Self::Both, _) | (Self::Upstream, true) | (Self::Downstream, false)
        )
    }
}

/// Which plug-in a connection came through.
///
/// ```
/// use tower_chaos::io::Side;
/// assert_ne!(Side::Connector, Side::Listener);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Side {
    /// A client connector ([`ChaosConnector`](super::ChaosConnector),
    /// [`ConnectFaults`](super::ConnectFaults)).
    Connector,
    /// A server listener ([`ChaosListener`](super::ChaosListener)).
    Listener,
    /// The loopback [`Proxy`](super::Proxy).
    Proxy,
}

/// What a connection trigger can look at: an owned description of one
/// connection, built when it is made and kept for its life.
///
/// [`Trigger<ConnInfo>`](crate::Trigger) predicates and keys read it:
///
/// ```
/// use tower_chaos::Trigger;
/// use tower_chaos::io::ConnInfo;
///
/// // Only connections to the primary, and a sticky 30% of client ports.
/// let primary = Trigger::when(|c: &ConnInfo| c.host() == Some("db-primary.internal"));
/// let some_clients = Trigger::keyed(0.3, |c: &ConnInfo| c.peer_addr().map(|a| a.port()));
/// let t: Trigger<ConnInfo> = primary | some_clients;
/// # let _ = t;
/// ```
///
/// What is known depends on the plug-in: a connector knows the URI (host,
/// port) it was asked for, not yet any address; a listener and the proxy
/// know both addresses of the accepted connection.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    index: u64,
    side: Side,
    peer: Option<SocketAddr>,
    local: Option<SocketAddr>,
    host: Option<Arc<str>>,
    port: Option<u16>,
    uri: Option<Arc<str>>,
}

impl ConnInfo {
    pub(crate) const fn new(side: Side) -> Self {
        Self {
            index: 0,
            side,
            peer: None,
            local: None,
            host: None,
            port: None,
            uri: None,
        }
    }

    pub(crate) const fn with_addrs(mut self, peer: Option<SocketAddr>, local: Option<SocketAddr>) -> Self {
        self.peer = peer;
        self.local = local;
        self
    }

    pub(crate) fn with_uri(mut self, uri: &str, host: Option<&str>, port: Option<u16>) -> Self {
        self.uri = Some(uri.into());
        self.host = host.map(Into::into);
        self.port = port;
        self
    }

    /// What a connector sees when asked to connect to `uri` (host, port —
    /// the scheme's default for `http`, `https`, `ws`, `wss` — and the URI):
    /// for testing a trigger.
    ///
    /// ```
    /// use tower_chaos::io::ConnInfo;
    ///
    /// let info = ConnInfo::connecting_to("https://[::1]/health");
    /// assert_eq!((info.host(), info.port()), (Some("::1"), Some(443)));
    /// let info = ConnInfo::connecting_to("http://user@cache:6379");
    /// assert_eq!((info.host(), info.port()), (Some("cache"), Some(6379)));
    /// ```
    #[must_use]
    pub fn connecting_to(uri: &str) -> Self {
        let (scheme, rest) = uri.split_once("://").map_or((None, uri), |(s, r)| (Some(s), r));
        let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
        let authority = authority.rsplit_once('@').map_or(authority, |(_, a)| a);
        let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
            match v6.split_once(']') {
                Some((h, tail)) => (h, tail.strip_prefix(':').and_then(|p| p.parse().ok())),
                None => (v6, None),
            }
        } else {
            match authority.rsplit_once(':') {
                Some((h, p)) => (h, p.parse().ok()),
                None => (authority, None),
            }
        };
        let port = port.or(match scheme.map(str::to_ascii_lowercase).as_deref() {
            Some("http" | "ws") => Some(80),
            Some("https" | "wss") => Some(443),
            _ => None,
        });
        let host = (!host.is_empty()).then_some(host);
        Self::new(Side::Connector).with_uri(uri, host, port)
    }

    /// What a listener sees when it accepts a connection from `peer` on
    /// `local`: for testing a trigger.
    ///
    /// ```
    /// use tower_chaos::io::{ConnInfo, Side};
    /// let peer = "10.0.0.7:50000".parse()?;
    /// let info = ConnInfo::accepted(peer, "10.0.0.1:443".parse()?);
    /// assert_eq!((info.side(), info.peer_addr()), (Side::Listener, Some(peer)));
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    #[must_use]
    pub const fn accepted(peer: SocketAddr, local: SocketAddr) -> Self {
        Self::new(Side::Listener).with_addrs(Some(peer), Some(local))
    }

    /// The connection's number on its target, from 0, in the order
    /// connections were made (the call index that rate triggers draw on).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tower_chaos::Target;
    /// use tower_chaos::io::{ChaosListener, Side};
    ///
    /// let target = Target::builder("api").seed(1).build()?;
    /// let mut listener = ChaosListener::bind("127.0.0.1:0", &target).await?;
    /// let _client = tokio::net::TcpStream::connect(listener.local_addr()?).await?;
    /// let (conn, _) = listener.accept().await?;
    /// let info = conn.conn_info().expect("belongs to a target");
    /// assert_eq!((info.index(), info.side()), (0, Side::Listener));
    /// assert_eq!(info.local_addr(), Some(listener.local_addr()?));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub const fn index(&self) -> u64 {
        self.index
    }

    /// The plug-in the connection came through.
    ///
    /// ```
    /// use tower_chaos::io::{ConnInfo, Side};
    /// assert_eq!(ConnInfo::connecting_to("http://x/").side(), Side::Connector);
    /// ```
    #[must_use]
    pub const fn side(&self) -> Side {
        self.side
    }

    /// The remote address: the client's for a listener or the proxy
    /// (`None` for a connector, decided before connecting).
    ///
    /// ```
    /// use tower_chaos::io::ConnInfo;
    /// assert_eq!(ConnInfo::connecting_to("http://x/").peer_addr(), None);
    /// let info = ConnInfo::accepted("10.0.0.2:4000".parse()?, "10.0.0.1:80".parse()?);
    /// assert_eq!(info.peer_addr().map(|a| a.port()), Some(4000));
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    #[must_use]
    pub const fn peer_addr(&self) -> Option<SocketAddr> {
        self.peer
    }

    /// The local address of the accepted connection (listener, proxy).
    ///
    /// ```
    /// use tower_chaos::io::ConnInfo;
    /// let info = ConnInfo::accepted("10.0.0.2:4000".parse()?, "10.0.0.1:80".parse()?);
    /// assert_eq!(info.local_addr().map(|a| a.port()), Some(80));
    /// # Ok::<(), std::net::AddrParseError>(())
    /// ```
    #[must_use]
    pub const fn local_addr(&self) -> Option<SocketAddr> {
        self.local
    }

    /// The host a connector was asked to connect to (the URI's host).
    ///
    /// ```
    /// use tower_chaos::io::{ConnInfo, Side};
    /// let info = ConnInfo::connecting_to("http://db.internal:5432/");
    /// assert_eq!(info.host(), Some("db.internal"));
    /// assert_eq!(info.port(), Some(5432));
    /// assert_eq!(info.uri(), Some("http://db.internal:5432/"));
    /// assert_eq!(info.side(), Side::Connector);
    /// ```
    #[must_use]
    pub fn host(&self) -> Option<&str> {
        self.host.as_deref()
    }

    /// The port a connector was asked for (explicit in the URI, or the
    /// scheme's default for `http`/`https`).
    ///
    /// ```
    /// use tower_chaos::io::ConnInfo;
    /// assert_eq!(ConnInfo::connecting_to("https://api.example/").port(), Some(443));
    /// ```
    #[must_use]
    pub const fn port(&self) -> Option<u16> {
        self.port
    }

    /// The URI a connector was asked for, as text.
    ///
    /// ```
    /// use tower_chaos::io::ConnInfo;
    /// assert_eq!(ConnInfo::connecting_to("http://a:1/b").uri(), Some("http://a:1/b"));
    /// ```
    #[must_use]
    pub fn uri(&self) -> Option<&str> {
        self.uri.as_deref()
    }
}

/// A connection-level fault: the action of a [`Rule<ConnFault, ConnInfo>`](crate::Rule),
/// installed on a [`Target`] with [`Target::set_faults`] (see
/// [`ConnFaultSet`]) and applied by the target's
/// [`Proxy`](super::Proxy), [`ChaosListener`](super::ChaosListener) and
/// connectors, decided once per connection with the core
/// [`Trigger`]s.
///
/// Two families:
///
/// * **connect faults** happen before any byte flows:
///   [`dns_failure`](Self::dns_failure), [`refuse`](Self::refuse),
///   [`slow_connect`](Self::slow_connect), [`connect_hang`](Self::connect_hang);
/// * **stream faults** shape the bytes of the connection, per
///   [`Direction`]: [`latency`](Self::latency), [`bandwidth`](Self::bandwidth),
///   [`slice`](Self::slice), [`truncate_after`](Self::truncate_after),
///   [`reset`](Self::reset), [`stall`](Self::stall),
///   [`blackhole`](Self::blackhole), [`timeout`](Self::timeout),
///   [`slow_close`](Self::slow_close) (the same faults as
///   [`DirectionFaults`], which applies them to one stream without a
///   target);
/// * **TLS faults** (feature `tls`) act on the handshake of a connection
///   whose TLS the plug-in terminates: `ConnFault::tls` with a
///   `TlsFault` (an alert, a stall, an expired, wrong-host, untrusted or
///   rotated certificate); one per connection, the first rule to fire wins,
///   and a terminal connect fault leaves no handshake to act on.
///
/// # Resolution order
///
/// Rules are evaluated in order, once per connection when it is made (and
/// again for a live connection when the target's connection faults are
/// swapped). For each rule that fires:
///
/// 1. the first terminal connect fault (DNS failure, refusal, hang) wins;
///    after it no stream fault applies;
/// 2. the first slow connect applies (before the terminal fault, if any);
/// 3. each stream fault applies in each direction it covers, per kind,
///    as toxiproxy's chained toxics combine:
///    * **latency adds up**: every latency rule that fires delays each
///      chunk by one sample of its own, so two 500 ms rules give 1000 ms
///      (up to 4 latency rules per direction; a fifth finds no room);
///    * **bandwidth takes the lowest rate** of the rules that fire;
///    * **truncation takes the lowest byte count**;
///    * slicing, slow close and the interruption (reset, stall, blackhole
///      or timeout): one per direction, the first rule to fill the place
///      wins;
/// 4. a rule that can add nothing (its places are taken, or the plug-in
///    cannot apply it: a DNS failure on a listener, stream faults in
///    [`ConnectFaults`](super::ConnectFaults)) is not offered the
///    connection: its budget and active slots are not consumed and it is
///    not counted.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::{Latency, Target, Trigger};
/// use tower_chaos::io::{ConnFault, ConnFaultSet, Direction, Onset};
///
/// let target = Target::builder("redis").seed(7).build()?;
/// target.set_faults(
///     ConnFaultSet::new()
///         // every response chunk 20-40 ms late
///         .with(ConnFault::latency(
///             Direction::Downstream,
///             Latency::uniform(Duration::from_millis(20), Duration::from_millis(40)),
///         ))
///         // one connection in ten is reset after its first KiB
///         .with(ConnFault::reset(Direction::Both, Onset::AfterBytes(1024)).when(Trigger::rate(0.1)))
///         // the first two connection attempts are refused
///         .with(ConnFault::refuse().when(Trigger::first(2))),
/// )?;
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Clone, Copy, PartialEq)]
pub struct ConnFault {
    act: Act,
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum Act {
    Dns,
    Refuse,
    Hang,
    SlowConnect(Latency),
    Stream(Direction, StreamAct),
    #[cfg(feature = "tls")]
    Tls(super::TlsFault),
}

#[derive(Debug, Clone, Copy, PartialEq)]
enum StreamAct {
    Latency(Latency),
    Bandwidth(u64),
    Slice(usize, usize, Duration),
    Truncate(u64),
    Interrupt(Interrupt, Onset),
    SlowClose(Duration),
}

impl StreamAct {
    /// The place this fault fills in a direction.
    const fn place(&self) -> u32 {
        match self {
            Self::Latency(_) => 0,
            Self::Bandwidth(_) => 1,
            Self::Slice(..) => 2,
            Self::Truncate(_) => 3,
            Self::Interrupt(..) => 4,
            Self::SlowClose(_) => 5,
        }
    }

    /// Whether this kind combines with the same kind already in a
    /// direction instead of taking its place (latency adds, bandwidth and
    /// truncation take the lowest).
    const fn stacks(&self) -> bool {
        matches!(self, Self::Latency(_) | Self::Bandwidth(_) | Self::Truncate(_))
    }

    fn fill(&self, d: &mut DirectionFaults) {
        match *self {
            Self::Latency(l) => {
                d.stack_latency(l);
            }
            Self::Bandwidth(r) => d.bandwidth = Some(d.bandwidth.map_or(r, |b| b.min(r))),
            Self::Slice(max, variation, delay) => {
                d.slice = Some((max, delay));
                d.slice_variation = variation;
            }
            Self::Truncate(n) => d.truncate_after = Some(d.truncate_after.map_or(n, |t| t.min(n))),
            Self::Interrupt(i, o) => d.interrupt = Some((i, o)),
            Self::SlowClose(delay) => d.slow_close = delay,
        }
    }
}

impl fmt::Debug for ConnFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.act {
            Act::Stream(dir, a) => f.debug_tuple("ConnFault").field(dir).field(a).finish(),
            other => f.debug_tuple("ConnFault").field(other).finish(),
        }
    }
}

impl ConnFault {
    const fn stream(dir: Direction, act: StreamAct) -> Self {
        Self {
            act: Act::Stream(dir, act),
        }
    }

    /// Name resolution fails: a connector returns the error a resolver
    /// gives (an [`io::Error`](std::io::Error) of kind `Other` carrying a
    /// [`DnsFailure`](super::DnsFailure)) without connecting. Applies to
    /// connectors only.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::ConnFault;
    /// assert_eq!(ConnFault::dns_failure().kind(), FaultKind::DnsFailure);
    /// ```
    #[must_use]
    pub const fn dns_failure() -> Self {
        Self { act: Act::Dns }
    }

    /// The connection is refused. A connector fails with
    /// `ErrorKind::ConnectionRefused` without connecting; a listener and the
    /// proxy accept the connection and reset it at once (zero linger: the
    /// client's `connect` succeeds, its first read or write fails with
    /// `ConnectionReset`), and the server never sees it.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::ConnFault;
    /// assert_eq!(ConnFault::refuse().kind(), FaultKind::Refused);
    /// ```
    #[must_use]
    pub const fn refuse() -> Self {
        Self { act: Act::Refuse }
    }

    /// Connecting never completes. A connector's future stays pending; a
    /// listener holds the accepted connection without handing it to the
    /// server; the proxy holds it without connecting upstream. The client
    /// sees a connect (or a first request) that never answers, until its
    /// timeout, or until the fault is switched off: held connections are
    /// then decided again and proceed.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::ConnFault;
    /// assert_eq!(ConnFault::connect_hang().kind(), FaultKind::ConnectHang);
    /// ```
    #[must_use]
    pub const fn connect_hang() -> Self {
        Self { act: Act::Hang }
    }

    /// Connecting takes longer: a connector calls the inner connector only
    /// after the delay; a listener hands the accepted connection to the
    /// server after it; the proxy connects upstream after it. Sampled per
    /// connection from the seed.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::{FaultKind, Latency};
    /// use tower_chaos::io::ConnFault;
    /// let f = ConnFault::slow_connect(Duration::from_secs(2));
    /// assert_eq!(f.kind(), FaultKind::SlowConnect);
    /// let tail = ConnFault::slow_connect(Latency::log_normal(Duration::from_millis(300), 0.8));
    /// assert_eq!(tail.kind(), FaultKind::SlowConnect);
    /// ```
    #[must_use]
    pub fn slow_connect(delay: impl Into<Latency>) -> Self {
        Self {
            act: Act::SlowConnect(delay.into()),
        }
    }

    /// A TLS fault for the handshake of a connection that the plug-in
    /// terminates TLS for (a [`Proxy`](super::Proxy) spawned with
    /// [`Proxy::spawn_tls`](super::Proxy::spawn_tls)): an alert, a stall,
    /// or a certificate the client should reject. Plug-ins that do not
    /// terminate TLS are not offered the rule. Feature `tls`; see
    /// [`TlsFault`](super::TlsFault).
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::{ConnFault, TlsFault};
    /// let f = ConnFault::tls(TlsFault::ExpiredCertificate);
    /// assert_eq!(f.kind(), FaultKind::TlsExpiredCertificate);
    /// assert_eq!(f.direction(), None);
    /// ```
    #[cfg(feature = "tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
    #[must_use]
    pub const fn tls(fault: super::TlsFault) -> Self {
        Self { act: Act::Tls(fault) }
    }

    /// Delays every chunk of bytes in `dir` by a sample of `latency`,
    /// counted from the chunk's arrival (queued chunks do not add their
    /// delays up); see [`DirectionFaults::latency`]. A `Duration` is a
    /// fixed delay; toxiproxy's `latency` ± `jitter` is
    /// [`Latency::jittered`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::{FaultKind, Latency};
    /// use tower_chaos::io::{ConnFault, Direction};
    /// let ms = Duration::from_millis;
    /// let f = ConnFault::latency(Direction::Downstream, ms(50));
    /// assert_eq!(f.kind(), FaultKind::StreamLatency);
    /// let toxiproxy = ConnFault::latency(Direction::Upstream, Latency::jittered(ms(50), ms(10)));
    /// assert_eq!(toxiproxy.direction(), Some(Direction::Upstream));
    /// ```
    #[must_use]
    pub fn latency(dir: Direction, latency: impl Into<Latency>) -> Self {
        Self::stream(dir, StreamAct::Latency(latency.into()))
    }

    /// Limits `dir` to `bytes_per_second`; see [`DirectionFaults::bandwidth`].
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::{ConnFault, Direction};
    /// assert_eq!(ConnFault::bandwidth(Direction::Upstream, 64 * 1024).kind(), FaultKind::Bandwidth);
    /// ```
    #[must_use]
    pub const fn bandwidth(dir: Direction, bytes_per_second: u64) -> Self {
        Self::stream(dir, StreamAct::Bandwidth(bytes_per_second))
    }

    /// Cuts transfers in `dir` into pieces of at most `max_size` bytes,
    /// `delay` apart; see [`DirectionFaults::slice`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::{ConnFault, Direction};
    /// let f = ConnFault::slice(Direction::Downstream, 16, Duration::from_millis(1));
    /// assert_eq!(f.kind(), FaultKind::Slice);
    /// ```
    #[must_use]
    pub const fn slice(dir: Direction, max_size: usize, delay: Duration) -> Self {
        Self::stream(dir, StreamAct::Slice(max_size, 0, delay))
    }

    /// Cuts transfers in `dir` into pieces of `average ± variation` bytes
    /// (drawn per piece from the seed), `delay` apart: toxiproxy's slicer
    /// with `size_variation`; see [`DirectionFaults::slice_varied`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::{FaultKind, Target};
    /// use tower_chaos::io::{ConnFault, ConnFaultSet, Direction};
    /// let f = ConnFault::slice_varied(Direction::Downstream, 1024, 512, Duration::from_micros(10));
    /// assert_eq!(f.kind(), FaultKind::Slice);
    /// let target = Target::builder("t").build()?;
    /// let bad = ConnFault::slice_varied(Direction::Downstream, 8, 8, Duration::ZERO);
    /// assert!(target.set_faults(ConnFaultSet::new().with(bad)).is_err());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn slice_varied(dir: Direction, average: usize, variation: usize, delay: Duration) -> Self {
        Self::stream(dir, StreamAct::Slice(average, variation, delay))
    }

    /// Passes exactly `bytes` bytes in `dir`, then closes that direction;
    /// see [`DirectionFaults::truncate_after`].
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::{ConnFault, Direction};
    /// assert_eq!(ConnFault::truncate_after(Direction::Downstream, 100).kind(), FaultKind::Truncate);
    /// ```
    #[must_use]
    pub const fn truncate_after(dir: Direction, bytes: u64) -> Self {
        Self::stream(dir, StreamAct::Truncate(bytes))
    }

    /// Resets the connection at `onset` (counted in `dir`): the peer sees
    /// `ConnectionReset` (a real RST on TCP); see [`Interrupt::Reset`].
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::{ConnFault, Direction, Onset};
    /// assert_eq!(ConnFault::reset(Direction::Both, Onset::Immediately).kind(), FaultKind::Reset);
    /// ```
    #[must_use]
    pub const fn reset(dir: Direction, onset: Onset) -> Self {
        Self::stream(dir, StreamAct::Interrupt(Interrupt::Reset, onset))
    }

    /// Stops the bytes of `dir` at `onset`, the connection staying open;
    /// see [`Interrupt::Stall`].
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::{ConnFault, Direction, Onset};
    /// assert_eq!(ConnFault::stall(Direction::Downstream, Onset::AfterBytes(10)).kind(), FaultKind::Stall);
    /// ```
    #[must_use]
    pub const fn stall(dir: Direction, onset: Onset) -> Self {
        Self::stream(dir, StreamAct::Interrupt(Interrupt::Stall, onset))
    }

    /// Discards the bytes of `dir` from `onset`, the connection staying
    /// open; see [`Interrupt::Blackhole`].
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::{ConnFault, Direction, Onset};
    /// assert_eq!(ConnFault::blackhole(Direction::Upstream, Onset::Immediately).kind(), FaultKind::Blackhole);
    /// ```
    #[must_use]
    pub const fn blackhole(dir: Direction, onset: Onset) -> Self {
        Self::stream(dir, StreamAct::Interrupt(Interrupt::Blackhole, onset))
    }

    /// Discards the bytes of `dir` from `onset`, then closes the connection
    /// `close_after` later (toxiproxy's `timeout`); see
    /// [`Interrupt::Timeout`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::{ConnFault, Direction, Onset};
    /// let f = ConnFault::timeout(Direction::Upstream, Onset::Immediately, Duration::from_secs(5));
    /// assert_eq!(f.kind(), FaultKind::Timeout);
    /// ```
    #[must_use]
    pub const fn timeout(dir: Direction, onset: Onset, close_after: Duration) -> Self {
        Self::stream(dir, StreamAct::Interrupt(Interrupt::Timeout(close_after), onset))
    }

    /// Delays closing `dir` by `delay`; see [`DirectionFaults::slow_close`].
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::{ConnFault, Direction};
    /// assert_eq!(ConnFault::slow_close(Direction::Both, Duration::from_secs(1)).kind(), FaultKind::SlowClose);
    /// ```
    #[must_use]
    pub const fn slow_close(dir: Direction, delay: Duration) -> Self {
        Self::stream(dir, StreamAct::SlowClose(delay))
    }

    /// The kind of fault, as counted in reports.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// use tower_chaos::io::ConnFault;
    /// assert_eq!(ConnFault::refuse().kind().as_str(), "refused");
    /// ```
    #[must_use]
    pub const fn kind(&self) -> FaultKind {
        match self.act {
            Act::Dns => FaultKind::DnsFailure,
            Act::Refuse => FaultKind::Refused,
            Act::Hang => FaultKind::ConnectHang,
            Act::SlowConnect(_) => FaultKind::SlowConnect,
            #[cfg(feature = "tls")]
            Act::Tls(t) => t.kind(),
            Act::Stream(_, a) => match a {
                StreamAct::Latency(_) => FaultKind::StreamLatency,
                StreamAct::Bandwidth(_) => FaultKind::Bandwidth,
                StreamAct::Slice(..) => FaultKind::Slice,
                StreamAct::Truncate(_) => FaultKind::Truncate,
                StreamAct::Interrupt(Interrupt::Reset, _) => FaultKind::Reset,
                StreamAct::Interrupt(Interrupt::Stall, _) => FaultKind::Stall,
                StreamAct::Interrupt(Interrupt::Blackhole, _) => FaultKind::Blackhole,
                StreamAct::Interrupt(Interrupt::Timeout(_), _) => FaultKind::Timeout,
                StreamAct::SlowClose(_) => FaultKind::SlowClose,
            },
        }
    }

    /// The direction of a stream fault (`None` for connect faults).
    ///
    /// ```
    /// use tower_chaos::io::{ConnFault, Direction};
    /// assert_eq!(ConnFault::refuse().direction(), None);
    /// assert_eq!(ConnFault::truncate_after(Direction::Upstream, 1).direction(), Some(Direction::Upstream));
    /// ```
    #[must_use]
    pub const fn direction(&self) -> Option<Direction> {
        match self.act {
            Act::Stream(d, _) => Some(d),
            _ => None,
        }
    }

    /// This fault whenever `trigger` fires for a connection.
    ///
    /// ```
    /// use tower_chaos::{Rule, Trigger};
    /// use tower_chaos::io::{ConnFault, ConnInfo};
    /// let rule: Rule<ConnFault, ConnInfo> = ConnFault::refuse().when(Trigger::every(3));
    /// assert!(format!("{rule:?}").contains("Every(3)"));
    /// ```
    #[must_use]
    pub const fn when(self, trigger: Trigger<ConnInfo>) -> Rule<Self, ConnInfo> {
        Rule::new(self, trigger)
    }

    /// This fault on every connection, in a rule named `name`.
    ///
    /// ```
    /// use tower_chaos::io::ConnFault;
    /// assert_eq!(ConnFault::connect_hang().named("black-hole").name(), Some("black-hole"));
    /// ```
    #[must_use]
    pub fn named(self, name: impl Into<Arc<str>>) -> Rule<Self, ConnInfo> {
        Rule::new(self, Trigger::always()).named(name)
    }
}

impl From<ConnFault> for Rule<ConnFault, ConnInfo> {
    /// A rule that fires for every connection.
    fn from(fault: ConnFault) -> Self {
        Self::new(fault, Trigger::always())
    }
}

impl Sealed for ConnFault {
    const COUNTS_CONNECTIONS: bool = true;

    fn validate(&self) -> Result<(), ConfigError> {
        match self.act {
            Act::Dns | Act::Refuse | Act::Hang => Ok(()),
            #[cfg(feature = "tls")]
            Act::Tls(_) => Ok(()),
            Act::SlowConnect(l) => l.validate(),
            Act::Stream(_, a) => {
                let mut d = DirectionFaults::new();
                a.fill(&mut d);
                d.validate(Scope::Conn)
            }
        }
    }

    #[cfg(feature = "scenario")]
    fn fails_outright(&self) -> bool {
        // Stream faults may let some bytes through first; connect faults
        // leave the caller without a connection, and so do the TLS faults
        // that fail every handshake (a rotated certificate may be accepted).
        #[cfg(feature = "tls")]
        if let Act::Tls(t) = self.act {
            return t.fails_outright();
        }
        matches!(self.act, Act::Dns | Act::Refuse | Act::Hang)
    }
}

/// How a connection ends before its stream exists.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum End {
    Dns,
    Refuse,
    Hang,
}

/// What a plug-in can apply.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Caps {
    pub(crate) side: Side,
    /// Name resolution failures (connectors).
    pub(crate) dns: bool,
    /// Stream faults (everything that wraps the stream).
    pub(crate) stream: bool,
    /// TLS faults (a plug-in that terminates TLS; read with feature `tls`).
    #[cfg_attr(not(feature = "tls"), allow(dead_code))]
    pub(crate) tls: bool,
}

const END: u32 = 1;
const SLOW: u32 = 1 << 1;
/// Above the stream places (bits 2 to 13).
#[cfg(feature = "tls")]
const TLS: u32 = 1 << 14;
const fn place_bit(up: bool, place: u32) -> u32 {
    1 << (2 + place + if up { 0 } else { 6 })
}

/// The combined effect of the rules that fire for one connection: the
/// [`Resolve`] of connection faults.
#[derive(Debug)]
pub(crate) struct Decision {
    live: bool,
    caps: Caps,
    taken: u32,
    pub(crate) end: Option<End>,
    pub(crate) slow: Duration,
    #[cfg(feature = "tls")]
    tls: Option<super::TlsFault>,
    up: DirectionFaults,
    down: DirectionFaults,
    seed: Option<u64>,
}

impl Decision {
    const fn new(caps: Caps, live: bool) -> Self {
        Self {
            live,
            caps,
            taken: 0,
            end: None,
            slow: Duration::ZERO,
            #[cfg(feature = "tls")]
            tls: None,
            up: DirectionFaults::new(),
            down: DirectionFaults::new(),
            seed: None,
        }
    }

    /// The stream faults, oriented for the plug-in's stream.
    pub(crate) fn stream(&self) -> StreamFaults {
        let (read, write) = match self.caps.side {
            Side::Listener => (self.up, self.down),
            Side::Connector | Side::Proxy => (self.down, self.up),
        };
        StreamFaults {
            read,
            write,
            seed: self.seed.unwrap_or(0),
        }
    }
}

impl Resolve<ConnFault, ConnInfo> for Decision {
    fn wants(&self, fault: &ConnFault) -> bool {
        match fault.act {
            Act::Dns => !self.live && self.caps.dns && self.taken & END == 0,
            Act::Refuse | Act::Hang => !self.live && self.taken & END == 0,
            Act::SlowConnect(_) => !self.live && self.taken & (SLOW | END) == 0,
            #[cfg(feature = "tls")]
            Act::Tls(_) => !self.live && self.caps.tls && self.taken & (TLS | END) == 0,
            Act::Stream(dir, a) => {
                self.caps.stream
                    && self.taken & END == 0
                    && [true, false]
                        .into_iter()
                        .any(|up| dir.covers(up) && self.taken & place_bit(up, a.place()) == 0)
            }
        }
    }

    fn take(&mut self, fault: &ConnFault, _: &ConnInfo, rng: u64, _: &TakeCtx<'_>) -> Applied {
        let mut delay = None;
        match fault.act {
            Act::Dns => self.end = Some(End::Dns),
            Act::Refuse => self.end = Some(End::Refuse),
            Act::Hang => self.end = Some(End::Hang),
            Act::SlowConnect(l) => {
                let d = l.sample(&mut SplitMix::new(rng)).min(MAX_FAULT_DURATION);
                self.slow = d;
                delay = Some(d);
            }
            #[cfg(feature = "tls")]
            Act::Tls(t) => {
                self.tls = Some(t);
                self.taken |= TLS;
            }
            Act::Stream(dir, a) => {
                for up in [true, false] {
                    let bit = place_bit(up, a.place());
                    if dir.covers(up) && self.taken & bit == 0 {
                        let d = if up { &mut self.up } else { &mut self.down };
                        a.fill(d);
                        // Kinds that combine keep their place open (latency
                        // until its stack is full).
                        if !a.stacks() || (matches!(a, StreamAct::Latency(_)) && d.latency_full()) {
                            self.taken |= bit;
                        }
                    }
                }
                self.seed.get_or_insert(rng);
            }
        }
        match fault.act {
            Act::Dns | Act::Refuse | Act::Hang => self.taken |= END,
            Act::SlowConnect(_) => self.taken |= SLOW,
            #[cfg(feature = "tls")]
            Act::Tls(_) => {}
            Act::Stream(..) => {}
        }
        Applied {
            kind: fault.kind(),
            delay,
            code: None,
        }
    }
}

/// One connection's standing with its target: the decision taken for it,
/// and what it takes to notice a switch.
pub(crate) struct ConnCtl {
    pub(crate) target: Target,
    slot: Arc<Slot<ConnFault, ConnInfo>>,
    pub(crate) info: ConnInfo,
    caps: Caps,
    /// The target's generation last seen (`u64::MAX`: never).
    generation: u64,
    /// The plan version of the decision, if any was taken.
    version: Option<u64>,
    decision: Decision,
    enabled: bool,
    faulted: bool,
    guard: Option<ActiveGuard>,
    /// This connection's registration with the target's switch watchers.
    watcher: u64,
}

impl Drop for ConnCtl {
    fn drop(&mut self) {
        self.target.shared.unwatch(self.watcher);
    }
}

impl fmt::Debug for ConnCtl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConnCtl")
            .field("target", &self.target.name())
            .field("info", &self.info)
            .field("version", &self.version)
            .field("enabled", &self.enabled)
            .finish_non_exhaustive()
    }
}

impl ConnCtl {
    /// A new connection of `target`: numbers it and takes the connect-time
    /// decision.
    pub(crate) fn new(target: &Target, info: ConnInfo, caps: Caps) -> Self {
        Self::with_slot(target, target.slot::<ConnFault, ConnInfo>(), info, caps)
    }

    /// [`new`](Self::new) with the target's connection-fault slot already
    /// looked up (services cache it).
    pub(crate) fn with_slot(
        target: &Target,
        slot: Arc<Slot<ConnFault, ConnInfo>>,
        info: ConnInfo,
        caps: Caps,
    ) -> Self {
        let index = slot.calls.evaluated.fetch_add(1, Ordering::Relaxed);
        let mut ctl = Self {
            target: target.clone(),
            slot,
            info: ConnInfo { index, ..info },
            caps,
            generation: u64::MAX,
            version: None,
            decision: Decision::new(caps, false),
            enabled: false,
            faulted: false,
            guard: None,
            watcher: target.shared.watcher_id(),
        };
        ctl.refresh(false);
        ctl
    }

    /// Re-reads the target after a switch (`live`: the connection already
    /// has its stream, only stream faults apply). Returns whether the
    /// effective faults may have changed.
    pub(crate) fn refresh(&mut self, live: bool) -> bool {
        let shared = &*self.target.shared;
        let generation = shared.generation();
        if generation == self.generation {
            return false;
        }
        self.generation = generation;
        self.enabled = shared.is_enabled();
        if !self.enabled {
            return true;
        }
        let (plan, version) = self.slot.current();
        if self.version == Some(version) {
            return true;
        }
        // Free this connection's active slots before it competes again.
        self.guard = None;
        let mut decision = Decision::new(self.caps, live);
        self.guard = plan.decide_counted(
            &self.info,
            self.info.index,
            shared.switch(),
            shared,
            &mut decision,
            !self.faulted,
        );
        self.faulted |= self.guard.is_some();
        self.decision = decision;
        self.version = Some(version);
        true
    }

    /// The target generation last seen by [`refresh`](Self::refresh).
    pub(crate) const fn seen_generation(&self) -> u64 {
        self.generation
    }

    /// The plan version the decision was taken against.
    pub(crate) const fn version(&self) -> Option<u64> {
        self.version
    }

    /// Whether the target was switched since the last [`refresh`](Self::refresh).
    #[inline]
    pub(crate) fn is_stale(&self) -> bool {
        self.target.shared.generation() != self.generation
    }

    /// Wakes `waker` at the target's next switch (replacing the waker this
    /// connection registered before).
    pub(crate) fn watch(&self, waker: &Waker) {
        self.target.shared.watch(self.watcher, waker);
    }

    /// The connect-time outcome in force.
    pub(crate) fn connect(&self) -> (Option<End>, Duration) {
        if self.enabled {
            (self.decision.end, self.decision.slow)
        } else {
            (None, Duration::ZERO)
        }
    }

    /// The TLS fault in force for the handshake (none while the target is
    /// disabled).
    #[cfg(feature = "tls")]
    pub(crate) fn tls(&self) -> Option<super::TlsFault> {
        if self.enabled { self.decision.tls } else { None }
    }

    /// The stream faults in force (none while the target is disabled).
    pub(crate) fn stream(&self) -> StreamFaults {
        if self.enabled {
            self.decision.stream()
        } else {
            StreamFaults::none()
        }
    }

    /// Whether this connection's stream is oriented as a server's.
    pub(crate) fn server_side(&self) -> bool {
        self.caps.side == Side::Listener
    }

    pub(crate) fn target_name(&self) -> &Arc<str> {
        &self.target.shared.name
    }

    /// The error a terminal connect fault gives a connector.
    pub(crate) fn connect_error(&self, end: End) -> std::io::Error {
        use std::io::{Error, ErrorKind};
        let target = Some(Arc::clone(self.target_name()));
        match end {
            End::Dns => Error::other(super::DnsFailure::new(self.info.host.clone(), target)),
            End::Refuse | End::Hang => Error::new(
                ErrorKind::ConnectionRefused,
                super::InjectedIoError::new(FaultKind::Refused, target),
            ),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn decide(faults: ConnFaultSet, caps: Caps) -> ConnCtl {
        let target = Target::builder("t").seed(1).build().unwrap();
        target.set_faults(faults).unwrap();
        ConnCtl::new(&target, ConnInfo::new(caps.side), caps)
    }

    const PROXY: Caps = Caps {
        side: Side::Proxy,
        dns: false,
        stream: true,
        tls: false,
    };

    #[test]
    fn rules_combine_per_kind_and_directions_orient() {
        let ms = Duration::from_millis;
        let ctl = decide(
            ConnFaultSet::new()
                .with(ConnFault::latency(Direction::Downstream, Latency::fixed(ms(5))))
                .with(ConnFault::latency(Direction::Both, Latency::fixed(ms(9))))
                .with(ConnFault::truncate_after(Direction::Upstream, 3))
                .with(ConnFault::dns_failure()),
            PROXY,
        );
        let s = ctl.stream();
        // The proxy reads downstream and writes upstream; latencies stack.
        assert_eq!(s.read.latency, Some(Latency::fixed(ms(5))));
        assert_eq!(s.read.stacked[0], Some(Latency::fixed(ms(9))));
        assert_eq!(s.write.latency, Some(Latency::fixed(ms(9))));
        assert_eq!(s.write.stacked, [None; 3]);
        assert_eq!(s.write.truncate_after, Some(3));
        assert_eq!(ctl.connect(), (None, Duration::ZERO), "no DNS on a proxy");
        let report = ctl.target.report();
        assert_eq!(report.injected(FaultKind::StreamLatency), 2);
        assert_eq!(report.injected(FaultKind::DnsFailure), 0);
        assert_eq!((report.seen, report.faulted), (1, 1));
    }

    #[test]
    fn latency_adds_bandwidth_and_truncation_take_the_lowest_others_first_wins() {
        let ms = Duration::from_millis;
        let rules = ConnFaultSet::new()
            .with(ConnFault::bandwidth(Direction::Upstream, 900))
            .with(ConnFault::bandwidth(Direction::Both, 300))
            .with(ConnFault::bandwidth(Direction::Upstream, 600))
            .with(ConnFault::truncate_after(Direction::Upstream, 50))
            .with(ConnFault::truncate_after(Direction::Upstream, 20))
            .with(ConnFault::slice(Direction::Upstream, 4, ms(1)))
            .with(ConnFault::slice(Direction::Upstream, 8, ms(2)));
        let rules = (0..5).fold(rules, |r, i| {
            r.with(ConnFault::latency(
                Direction::Upstream,
                Latency::fixed(ms(100 + i)),
            ))
        });
        let ctl = decide(rules, PROXY);
        let up = ctl.stream().write;
        assert_eq!(up.bandwidth, Some(300));
        assert_eq!(up.truncate_after, Some(20));
        assert_eq!(up.slice, Some((4, ms(1))));
        let sum: Duration = up
            .latencies()
            .iter()
            .flatten()
            .map(|l| l.mean().unwrap_or_default())
            .sum();
        assert_eq!(
            sum,
            ms(100 + 101 + 102 + 103),
            "four stack, the fifth is not offered"
        );
        let report = ctl.target.report();
        assert_eq!(report.injected(FaultKind::StreamLatency), 4);
        assert_eq!(report.injected(FaultKind::Bandwidth), 3);
        assert_eq!(report.injected(FaultKind::Slice), 1);
        assert_eq!(ctl.stream().read.bandwidth, Some(300));
    }

    #[test]
    fn terminal_connect_fault_excludes_stream_faults() {
        let listener = Caps {
            side: Side::Listener,
            dns: false,
            stream: true,
            tls: false,
        };
        let ctl = decide(
            ConnFaultSet::new()
                .with(ConnFault::slow_connect(Latency::fixed(Duration::from_secs(1))))
                .with(ConnFault::refuse())
                .with(ConnFault::connect_hang())
                .with(ConnFault::stall(Direction::Both, Onset::Immediately)),
            listener,
        );
        assert_eq!(ctl.connect(), (Some(End::Refuse), Duration::from_secs(1)));
        assert!(ctl.stream().is_none());
    }

    #[test]
    fn closed_connections_leave_no_watcher_behind() {
        let target = Target::builder("t").seed(1).build().unwrap();
        let waker = std::task::Waker::noop();
        let a = ConnCtl::new(&target, ConnInfo::new(Side::Proxy), PROXY);
        let b = ConnCtl::new(&target, ConnInfo::new(Side::Proxy), PROXY);
        a.watch(waker);
        a.watch(waker);
        b.watch(waker);
        assert_eq!(
            target.shared.watcher_count(),
            2,
            "one registration per connection"
        );
        drop(a);
        assert_eq!(target.shared.watcher_count(), 1);
        target.disable();
        assert_eq!(
            target.shared.watcher_count(),
            0,
            "a switch wakes and forgets them"
        );
        assert!(b.is_stale());
    }

    #[cfg(feature = "tls")]
    #[test]
    fn the_first_tls_rule_wins_and_only_plugins_terminating_tls_are_offered_one() {
        use crate::io::TlsFault;
        let rules = || {
            ConnFaultSet::new()
                .with(ConnFault::tls(TlsFault::WrongHost))
                .with(ConnFault::tls(TlsFault::Alert))
                .with(ConnFault::latency(
                    Direction::Both,
                    Latency::fixed(Duration::from_millis(5)),
                ))
        };
        let tls = Caps { tls: true, ..PROXY };
        let ctl = decide(rules(), tls);
        assert_eq!(ctl.tls(), Some(TlsFault::WrongHost));
        assert!(!ctl.stream().is_none(), "stream faults apply to the plain bytes");
        let report = ctl.target.report();
        assert_eq!(report.injected(FaultKind::TlsWrongHost), 1);
        assert_eq!(report.injected(FaultKind::TlsAlert), 0, "not offered");

        let plain = decide(rules(), PROXY);
        assert_eq!(plain.tls(), None);
        assert_eq!(plain.target.report().injected(FaultKind::TlsWrongHost), 0);

        let refused = decide(
            ConnFaultSet::new()
                .with(ConnFault::refuse())
                .with(ConnFault::tls(TlsFault::Stall)),
            tls,
        );
        assert_eq!((refused.connect().0, refused.tls()), (Some(End::Refuse), None));
    }

    #[test]
    fn bad_stream_fault_names_the_field() {
        let target = Target::builder("t").seed(1).build().unwrap();
        let err = target
            .set_faults(ConnFaultSet::new().with(ConnFault::bandwidth(Direction::Upstream, 0)))
            .unwrap_err();
        assert!(err.to_string().contains("conn_fault.bandwidth"), "{err}");
    }
}
