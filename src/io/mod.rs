//! Connection-level faults: DNS failures, refused, slow and hanging
//! connects, latency, bandwidth, slicing, truncation, resets, stalls,
//! blackholes, timeouts and slow closes — on a proxy, a listener, a
//! connector or any tokio stream.
//!
//! Many real outages are felt below HTTP: a name stops resolving, a port
//! refuses connections, bytes stop flowing, bandwidth collapses, a
//! connection is reset halfway through a response. This module rehearses
//! them in-process, on tokio's clock (`start_paused` works), seeded and
//! counted like every fault of this crate.
//!
//! # Where the faults plug in
//!
//! | plug-in | for | connect faults | stream faults |
//! |---|---|---|---|
//! | [`Proxy`] | clients that only take an address (database drivers, Redis, SDKs) | refuse (reset on accept), slow connect, hang | yes |
//! | [`ChaosListener`] | your server: a plain accept loop, or `axum::serve` (feature `axum`) | refuse (reset on accept), slow accept, hang | yes |
//! | [`ChaosConnectorLayer`] (feature `hyper`) | any `Service<Uri>` connector: hyper-util's `HttpConnector` and legacy `Client`, tonic's `connect_with_connector`, under TLS | DNS failure, refused, slow connect, hang | yes |
//! | [`ConnectFaultsLayer`] | any connector service, e.g. reqwest's `ClientBuilder::connector_layer` | DNS failure, refused, slow connect, hang | no (opaque connection) |
//! | [`ChaosStream`] | any `AsyncRead + AsyncWrite`, without a target | — | yes, from [`StreamFaults`] |
//!
//! Without sockets, [`mem`] is an in-memory network whose [`MemListener`](mem::MemListener)
//! goes under a [`ChaosListener`] and whose `MemConnector` (feature
//! `hyper`) goes under a [`ChaosConnectorLayer`]: the same faults, no
//! kernel, exact paused time.
//!
//! The first four belong to a [`Target`](crate::Target): its connection
//! faults are a [`ConnFaultSet`] (a [`FaultSet`](crate::FaultSet) of
//! [`ConnFault`] rules) installed with [`Target::set_faults`](crate::Target::set_faults),
//! decided **once per connection** with the core [`Trigger`](crate::Trigger)s
//! over a [`ConnInfo`] (the connection's index, its addresses, the URI a
//! connector was asked for), with the target's seed, budgets, active caps,
//! switches and report. See [`ConnFault`] for the resolution order when
//! several rules fire.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::net::{TcpListener, TcpStream};
//! use tokio::time::Instant;
//! use tower_chaos::{FaultKind, Latency, Target, Trigger};
//! use tower_chaos::io::{ConnFault, ConnFaultSet, Direction, Proxy};
//!
//! // An echo upstream, and a proxy in front of it for a target "cache".
//! let upstream = TcpListener::bind("127.0.0.1:0").await?;
//! let addr = upstream.local_addr()?;
//! tokio::spawn(async move {
//!     while let Ok((mut s, _)) = upstream.accept().await {
//!         tokio::spawn(async move {
//!             let (mut r, mut w) = s.split();
//!             let _ = tokio::io::copy(&mut r, &mut w).await;
//!         });
//!     }
//! });
//! let target = Target::builder("cache").seed(42).build()?;
//! target.set_faults(
//!     ConnFaultSet::new()
//!         .with(ConnFault::refuse().when(Trigger::first(1)))
//!         .with(ConnFault::latency(Direction::Downstream, Latency::fixed(Duration::from_millis(80)))),
//! )?;
//! let proxy = Proxy::spawn(addr, &target)?;
//!
//! // The first connection is refused (reset on accept)...
//! let mut first = TcpStream::connect(proxy.local_addr()).await?;
//! assert!(first.read(&mut [0; 1]).await.is_err());
//! // ...the next one works, each reply 80 ms late.
//! let mut client = TcpStream::connect(proxy.local_addr()).await?;
//! client.set_nodelay(true)?;
//! let start = Instant::now();
//! client.write_all(b"ping").await?;
//! let mut buf = [0; 4];
//! client.read_exact(&mut buf).await?;
//! assert_eq!((&buf, start.elapsed()), (b"ping", Duration::from_millis(80)));
//!
//! let report = target.report();
//! assert_eq!((report.seen, report.faulted), (2, 2));
//! assert_eq!(report.injected(FaultKind::Refused), 1);
//! assert_eq!(report.bytes_downstream, 4);
//! # Ok(()) }
//! ```
//!
//! # Switching at run time
//!
//! A target's handle switches its connection faults while connections are
//! open, and live connections follow:
//!
//! * [`Target::set_faults`](crate::Target::set_faults) (or
//!   [`clear_faults`](crate::Target::clear_faults)): new connections are
//!   decided against the new set, and every live connection is **decided
//!   again** against it, with its own index and [`ConnInfo`] (only stream
//!   faults apply to a live connection; a connection still held by
//!   `connect_hang` is decided again in full). Live connections are woken
//!   by the switch, so an idle one is reset, stalled or released at once.
//! * [`Target::disable`](crate::Target::disable): live connections drop
//!   their stream faults at once (a stall resumes, a held connect
//!   proceeds); [`enable`](crate::Target::enable) gives each its decided
//!   faults back (no new decision, nothing counted again). A connection made
//!   while the target was disabled is decided when it is enabled.
//! * When a connection's faults change, what the switch leaves the same
//!   keeps its state and the rest applies from the next chunk: a removed or
//!   changed latency releases the bytes it holds at once (toxiproxy flushes
//!   a removed latency toxic); a truncation keeps counting while the
//!   direction keeps one; a new or changed interruption counts its onset
//!   from the switch, and a timeout that had begun closes the connection
//!   when it is removed or changed (toxiproxy), where a stall or blackhole
//!   resumes. What happened stays: a reset or closed connection is not
//!   revived. `docs/IO.md` has the rule per fault.
//!
//! Decisions of live connections are reproducible for rate, keyed, window
//! and predicate triggers (they draw on the connection's index); counting
//! triggers (`first`, `every`, `after`) count re-decided connections in the
//! order they are woken, which for several live connections is the
//! runtime's scheduling order.
//!
//! # What is counted where
//!
//! * The target's [`Report`](crate::Report): `seen` connections, `faulted`
//!   connections, and per [`FaultKind`](crate::FaultKind) the connections
//!   *given* each fault when it was decided (at connect or accept, or when a
//!   live connection was re-decided) — whether or not an onset was reached
//!   before the connection closed; plus bytes carried and dropped per
//!   direction (`bytes_upstream`, `bytes_downstream`, `dropped_upstream`,
//!   `dropped_downstream`). Each decision is also a `tracing` event (target
//!   `tower_chaos`) and, if enabled, a journal entry.
//! * [`IoCounters`] (per [`ChaosStream`], shared by all connections of a
//!   [`Proxy`], [`ChaosListener`] or connector layer): fault *events* as
//!   they happen — each delayed chunk, bandwidth wait, reset that fired —
//!   and bytes the stream read and wrote (which of them is upstream depends
//!   on the side: see [`Direction`], where the directions are defined).
//!
//! # Errors
//!
//! Injected failures look like real ones — an `io::Error` with the kind a
//! real failure has (`ConnectionReset`, `ConnectionRefused`, `BrokenPipe`,
//! `Other` for a DNS failure) — and carry a marker ([`InjectedIoError`],
//! [`DnsFailure`]) that [`injected_fault`] finds in any error's source
//! chain. What the peer of a fault sees is a real socket event (an RST, a
//! FIN, silence), unmarked.
//!
//! # Features
//!
//! `io` enables this module (tokio's `net`, `io-util`, `rt`); `hyper` adds
//! [`ChaosConnectorLayer`] and hyper's IO traits for its connections
//! (`http`, `hyper`, `hyper-util`); `axum` implements
//! `axum::serve::Listener` for [`ChaosListener`]; `tls` adds TLS
//! termination in the [`Proxy`] (`Proxy::spawn_tls`, with a `TestCa` and a
//! `TlsTerminator` made at run time) and the TLS faults
//! (`ConnFault::tls`, `TlsFault`: alert, stall, expired, wrong-host,
//! untrusted and rotated certificates; rustls with `ring`, tokio-rustls,
//! rcgen). See `docs/IO.md` for the
//! catalogue: every fault, what each side sees, what hyper, reqwest and
//! tonic report, and the differences from toxiproxy.

mod conn;
mod connect;
#[cfg(feature = "hyper")]
mod connector;
mod counters;
mod faults;
mod handle;
mod injected;
mod listener;
pub mod mem;
mod proxy;
mod queue;
mod reset;
mod stream;
mod switch;
#[cfg(feature = "tls")]
mod tls;

pub use conn::{ConnFault, ConnFaultSet, ConnInfo, ConnRule, ConnTrigger, Direction, Side};
pub use connect::{ConnectFaults, ConnectFaultsLayer, ConnectFuture};
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub use connector::{ChaosConnection, ChaosConnector, ChaosConnectorLayer, ConnectorFuture};
pub use counters::{IoCounters, IoSnapshot};
pub use faults::{
    DirectionFaults, Interrupt, MAX_FAULT_DURATION, MAX_LATENCY_BUFFER, Onset, StreamFaults,
    StreamFaultsBuilder,
};
pub use injected::{DnsFailure, InjectedIoError, injected_fault};
pub use listener::{Accept, ChaosListener};
pub use proxy::{ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN, Proxy, ProxyStats, RebindError};
pub use reset::Resettable;
pub use stream::ChaosStream;
pub use switch::FaultSwitch;
#[cfg(feature = "tls")]
#[cfg_attr(docsrs, doc(cfg(feature = "tls")))]
pub use tls::{TestCa, TlsError, TlsFault, TlsTerminator, TlsTerminatorBuilder};

/// `docs/IO.md`'s examples, run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../docs/IO.md")]
struct IoGuide;
