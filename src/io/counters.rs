//! Byte and fault counters shared by every clone.
//!
//! SEAM(core): a target's report will read an [`IoCounters`] (or be handed
//! one when a connection wrapper is attached to a target) and map each
//! [`IoFault`] onto the core's fault kinds.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

/// The kinds of connection-level fault, as counted in [`IoSnapshot`].
///
/// # Example
///
/// ```
/// use tower_chaos::io::IoFault;
///
/// assert_eq!(IoFault::Reset.name(), "reset");
/// assert_eq!(IoFault::ALL.len(), 12);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum IoFault {
    /// A chunk was held back by latency (counted per delayed chunk).
    Latency,
    /// A transfer waited for the bandwidth limit (counted per wait).
    Bandwidth,
    /// A transfer was cut to the slice size (counted per cut).
    Slice,
    /// A direction reached its truncation limit (once per direction).
    Truncate,
    /// The connection was reset.
    Reset,
    /// A direction stalled.
    Stall,
    /// A direction was blackholed.
    Blackhole,
    /// A timeout interruption began (the close that follows is not counted
    /// separately).
    Timeout,
    /// A close or EOF was delayed.
    SlowClose,
    /// The proxy accepted a connection and reset it at once.
    Refuse,
    /// The proxy delayed connecting upstream.
    SlowConnect,
    /// The proxy accepted a connection and held it without connecting.
    Hang,
}

impl IoFault {
    /// Every kind, in counter order.
    pub const ALL: [Self; 12] = [
        Self::Latency,
        Self::Bandwidth,
        Self::Slice,
        Self::Truncate,
        Self::Reset,
        Self::Stall,
        Self::Blackhole,
        Self::Timeout,
        Self::SlowClose,
        Self::Refuse,
        Self::SlowConnect,
        Self::Hang,
    ];

    /// A short lowercase name (`"slow_close"`, `"reset"`…).
    #[must_use]
    pub const fn name(self) -> &'static str {
        match self {
            Self::Latency => "latency",
            Self::Bandwidth => "bandwidth",
            Self::Slice => "slice",
            Self::Truncate => "truncate",
            Self::Reset => "reset",
            Self::Stall => "stall",
            Self::Blackhole => "blackhole",
            Self::Timeout => "timeout",
            Self::SlowClose => "slow_close",
            Self::Refuse => "refuse",
            Self::SlowConnect => "slow_connect",
            Self::Hang => "hang",
        }
    }

    const fn index(self) -> usize {
        self as usize
    }
}

impl fmt::Display for IoFault {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Debug, Default)]
struct Inner {
    read: AtomicU64,
    written: AtomicU64,
    dropped_read: AtomicU64,
    dropped_written: AtomicU64,
    faults: [AtomicU64; IoFault::ALL.len()],
}

/// Counters of bytes passed per direction, bytes dropped and faults applied.
///
/// # Clone
///
/// Clones share the same counters (an `Arc`): hand one clone to several
/// streams to add them up, keep another to read them.
///
/// # Example
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> std::io::Result<()> {
/// use tokio::io::{AsyncReadExt, AsyncWriteExt};
/// use tower_chaos::io::{ChaosStream, IoCounters, StreamFaults};
///
/// let counters = IoCounters::new();
/// let (a, mut b) = tokio::io::duplex(64);
/// let mut a = ChaosStream::new(a, StreamFaults::none()).with_counters(counters.clone());
/// a.write_all(b"ping").await?;
/// b.write_all(b"pong!").await?;
/// let mut buf = [0; 5];
/// a.read_exact(&mut buf).await?;
/// let snap = counters.snapshot();
/// assert_eq!((snap.bytes_written, snap.bytes_read), (4, 5));
/// # Ok(()) }
/// ```
#[derive(Debug, Clone, Default)]
pub struct IoCounters {
    inner: Arc<Inner>,
}

impl IoCounters {
    /// New counters, all zero.
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every counter (each one atomically; the set is not a single
    /// atomic snapshot while streams are running).
    #[must_use]
    pub fn snapshot(&self) -> IoSnapshot {
        let i = &self.inner;
        let mut faults = [0; IoFault::ALL.len()];
        for (out, c) in faults.iter_mut().zip(&i.faults) {
            *out = c.load(Ordering::Relaxed);
        }
        IoSnapshot {
            bytes_read: i.read.load(Ordering::Relaxed),
            bytes_written: i.written.load(Ordering::Relaxed),
            dropped_read: i.dropped_read.load(Ordering::Relaxed),
            dropped_written: i.dropped_written.load(Ordering::Relaxed),
            faults,
        }
    }

    #[inline]
    pub(crate) fn add_read(&self, n: usize) {
        self.inner.read.fetch_add(n as u64, Ordering::Relaxed);
    }

    #[inline]
    pub(crate) fn add_written(&self, n: usize) {
        self.inner.written.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_dropped_read(&self, n: usize) {
        self.inner.dropped_read.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn add_dropped_written(&self, n: usize) {
        self.inner.dropped_written.fetch_add(n as u64, Ordering::Relaxed);
    }

    pub(crate) fn fault(&self, kind: IoFault) {
        self.inner.faults[kind.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// A copy of [`IoCounters`] at one moment.
///
/// "Read" is the downstream direction (peer → local reader), "written" the
/// upstream one (local writer → peer). Every byte the wrapper took in and
/// never delivered is counted as dropped: bytes swallowed by a blackhole or
/// timeout, bytes held by latency when a reset or close discards them,
/// bytes a reader never gets after a read truncation, and bytes refused
/// after a write truncation.
///
/// # Example
///
/// ```
/// use tower_chaos::io::{IoCounters, IoFault};
///
/// let snap = IoCounters::new().snapshot();
/// assert_eq!(snap.fault(IoFault::Reset), 0);
/// assert_eq!(snap.faults_total(), 0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct IoSnapshot {
    /// Bytes delivered to the local reader.
    pub bytes_read: u64,
    /// Bytes the local writer handed over successfully (the sum of its
    /// `Ok(n)`), including any that were later dropped.
    pub bytes_written: u64,
    /// Bytes taken from the peer and never delivered to the reader.
    pub dropped_read: u64,
    /// Bytes taken from the writer that never reached the peer, plus bytes
    /// refused after a write truncation.
    pub dropped_written: u64,
    faults: [u64; IoFault::ALL.len()],
}

impl IoSnapshot {
    /// How many times `kind` was applied.
    #[must_use]
    pub const fn fault(&self, kind: IoFault) -> u64 {
        self.faults[kind.index()]
    }

    /// All faults applied, every kind added up.
    #[must_use]
    pub fn faults_total(&self) -> u64 {
        self.faults.iter().sum()
    }
}
