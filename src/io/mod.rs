//! Connection-level faults: a stream wrapper and a loopback TCP proxy.
//!
//! Many real outages are felt below HTTP: bytes stop flowing, bandwidth
//! collapses, a connection is reset halfway through a response. This module
//! injects those faults in-process, on tokio's clock:
//!
//! * [`ChaosStream`] wraps any `AsyncRead + AsyncWrite` (a `TcpStream`, a
//!   TLS stream, an in-memory `duplex`) and applies [`StreamFaults`] per
//!   direction: latency with jitter (per chunk, never adding up), bandwidth,
//!   slicing, truncation, reset (a real RST on TCP), stall, blackhole,
//!   timeout and slow close.
//! * [`Proxy`] puts a TCP proxy on `127.0.0.1:0` in front of an upstream
//!   address, for clients that only take an address (database drivers,
//!   Redis, SDKs), with connect faults (refuse, slow connect, hang) on top.
//!   Faults switch at run time through its [`ProxyHandle`].
//! * [`FaultSwitch`] shares faults between streams and switches them at run
//!   time; [`IoCounters`] counts bytes per direction, dropped bytes and
//!   faults applied.
//!
//! Every random choice (jitter) comes from the seed in [`StreamFaults`].
//! See `docs/IO.md` for each fault, what the peer sees, and how it compares
//! with toxiproxy.
//!
//! # Example
//!
//! ```
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! use std::time::Duration;
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//! use tokio::time::Instant;
//! use tower_chaos::io::{ChaosStream, DirectionFaults, StreamFaults};
//!
//! let (client, mut server) = tokio::io::duplex(1024);
//! let faults = StreamFaults::builder()
//!     .read(DirectionFaults::new().latency(Duration::from_millis(100)))
//!     .seed(42)
//!     .build()?;
//! let mut client = ChaosStream::new(client, faults);
//!
//! let start = Instant::now();
//! server.write_all(b"pong").await?;
//! let mut buf = [0; 4];
//! client.read_exact(&mut buf).await?;
//! assert_eq!(&buf, b"pong");
//! assert_eq!(start.elapsed(), Duration::from_millis(100)); // paused clock
//! # Ok(()) }
//! ```

mod conn;
mod connect;
#[cfg(feature = "hyper")]
mod connector;
mod counters;
mod faults;
mod injected;
mod listener;
mod proxy;
mod queue;
mod reset;
mod stream;
mod switch;

pub use conn::{ConnFault, ConnFaults, ConnInfo, Direction, Side};
pub use connect::{ConnectFaults, ConnectFaultsLayer, ConnectFuture};
#[cfg(feature = "hyper")]
#[cfg_attr(docsrs, doc(cfg(feature = "hyper")))]
pub use connector::{ChaosConnection, ChaosConnector, ChaosConnectorLayer, ConnectorFuture};
pub use counters::{IoCounters, IoSnapshot};
pub use faults::{DirectionFaults, Interrupt, MAX_FAULT_DURATION, Onset, StreamFaults, StreamFaultsBuilder};
pub use injected::{DnsFailure, InjectedIoError, injected_fault};
pub use listener::ChaosListener;
pub use proxy::{Proxy, ProxyHandle, ProxyStats};
pub use reset::Resettable;
pub use stream::ChaosStream;
pub use switch::FaultSwitch;
