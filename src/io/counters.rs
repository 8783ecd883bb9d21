//! Byte and fault counters shared by every clone.

use std::fmt;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use crate::FaultKind;

#[derive(Default)]
struct Inner {
    read: AtomicU64,
    written: AtomicU64,
    dropped_read: AtomicU64,
    dropped_written: AtomicU64,
    faults: [AtomicU64; FaultKind::COUNT],
}

/// Counters of bytes passed per direction, bytes dropped, and fault events
/// as they happen (a chunk delayed, a bandwidth wait, a reset that fired).
///
/// A [`ChaosStream`](super::ChaosStream) has its own; the [`Proxy`](super::Proxy),
/// [`ChaosListener`](super::ChaosListener) and the connectors share one
/// between all their connections. A [`Target`](crate::Target)'s
/// [`Report`](crate::Report) counts something else: the connections *given*
/// each fault when they were decided, plus bytes per direction.
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
#[derive(Clone, Default)]
pub struct IoCounters {
    inner: Arc<Inner>,
}

impl fmt::Debug for IoCounters {
    /// The counts now, labelled (see [`IoSnapshot`]).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("IoCounters").field(&self.snapshot()).finish()
    }
}

impl IoCounters {
    /// New counters, all zero.
    ///
    /// ```
    /// assert_eq!(tower_chaos::io::IoCounters::new().snapshot().bytes_read, 0);
    /// ```
    #[must_use]
    pub fn new() -> Self {
        Self::default()
    }

    /// Reads every counter (each one atomically; the set is not a single
    /// atomic snapshot while streams are running).
    ///
    /// ```
    /// let snap = tower_chaos::io::IoCounters::new().snapshot();
    /// assert_eq!((snap.bytes_written, snap.dropped_read), (0, 0));
    /// ```
    #[must_use]
    pub fn snapshot(&self) -> IoSnapshot {
        let i = &self.inner;
        let mut faults = [0; FaultKind::COUNT];
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

    pub(crate) fn fault(&self, kind: FaultKind) {
        self.inner.faults[kind.index()].fetch_add(1, Ordering::Relaxed);
    }
}

/// A copy of [`IoCounters`] at one moment.
///
/// "Read" is what the local side read (peer → local reader), "written" what
/// it wrote (local writer → peer). Every byte the wrapper took in and never
/// delivered is counted as dropped: bytes swallowed by a blackhole or
/// timeout, bytes held by latency when a reset or close discards them,
/// bytes a reader never gets after a read truncation, and bytes refused
/// after a write truncation.
///
/// Fault events count what happened, as it happened: one per delayed chunk
/// ([`FaultKind::StreamLatency`]), per bandwidth wait, per cut slice, per
/// direction truncated, stalled, blackholed, timed out or slowly closed,
/// per reset, and (for listeners, connectors and the proxy) per refused,
/// slowed, hung or unresolved connection.
///
/// # Example
///
/// ```
/// use tower_chaos::FaultKind;
/// use tower_chaos::io::IoCounters;
///
/// let snap = IoCounters::new().snapshot();
/// assert_eq!(snap.fault(FaultKind::Reset), 0);
/// assert_eq!(snap.faults_total(), 0);
/// ```
///
/// Its `Debug` output labels every figure, and lists the fault kinds that
/// took effect by name:
///
/// ```
/// let snap = tower_chaos::io::IoCounters::new().snapshot();
/// assert_eq!(
///     format!("{snap:?}"),
///     "IoSnapshot { bytes_read: 0, bytes_written: 0, dropped_read: 0, dropped_written: 0, faults: {} }",
/// );
/// ```
#[derive(Clone, Copy, Default, PartialEq, Eq)]
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
    faults: [u64; FaultKind::COUNT],
}

impl IoSnapshot {
    /// How many times a fault of `kind` took effect.
    ///
    /// ```
    /// use tower_chaos::FaultKind;
    /// assert_eq!(tower_chaos::io::IoCounters::new().snapshot().fault(FaultKind::Stall), 0);
    /// ```
    #[must_use]
    pub const fn fault(&self, kind: FaultKind) -> u64 {
        self.faults[kind.index()]
    }

    /// All fault events, every kind added up.
    ///
    /// ```
    /// assert_eq!(tower_chaos::io::IoCounters::new().snapshot().faults_total(), 0);
    /// ```
    #[must_use]
    pub fn faults_total(&self) -> u64 {
        self.faults.iter().sum()
    }
}

/// The fault events of a snapshot by kind name, kinds that never took
/// effect left out (a row of bare zeros says nothing).
struct FaultCounts<'a>(&'a [u64; FaultKind::COUNT]);

impl fmt::Debug for FaultCounts<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map()
            .entries(
                FaultKind::ALL
                    .iter()
                    .map(|kind| (kind.as_str(), self.0[kind.index()]))
                    .filter(|(_, n)| *n > 0),
            )
            .finish()
    }
}

impl fmt::Debug for IoSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IoSnapshot")
            .field("bytes_read", &self.bytes_read)
            .field("bytes_written", &self.bytes_written)
            .field("dropped_read", &self.dropped_read)
            .field("dropped_written", &self.dropped_written)
            .field("faults", &FaultCounts(&self.faults))
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_labels_every_counter_and_names_the_faults_that_fired() {
        let counters = IoCounters::new();
        counters.add_read(3);
        counters.add_dropped_written(2);
        counters.fault(FaultKind::StreamLatency);
        counters.fault(FaultKind::StreamLatency);
        counters.fault(FaultKind::Reset);
        let expected = "IoSnapshot { bytes_read: 3, bytes_written: 0, dropped_read: 0, dropped_written: 2, \
                        faults: {\"stream-latency\": 2, \"reset\": 1} }";
        assert_eq!(format!("{:?}", counters.snapshot()), expected);
        assert_eq!(format!("{counters:?}"), format!("IoCounters({expected})"));
    }
}
