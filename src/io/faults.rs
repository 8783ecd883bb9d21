//! Stream fault configuration: plain values, validated once by
//! [`StreamFaultsBuilder::build`].

use std::time::Duration;

use crate::{ConfigError, Latency};

/// The longest duration any stream fault accepts (365 days).
///
/// Longer values are rejected at build time so that no deadline computed from
/// them can overflow at run time.
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::io::{DirectionFaults, MAX_FAULT_DURATION, StreamFaults};
///
/// let too_long = MAX_FAULT_DURATION + Duration::from_secs(1);
/// let err = StreamFaults::builder()
///     .read(DirectionFaults::new().latency(too_long))
///     .build()
///     .unwrap_err();
/// assert!(err.to_string().contains("read.latency"));
/// ```
pub const MAX_FAULT_DURATION: Duration = Duration::from_secs(365 * 24 * 60 * 60);

/// The most bytes latency holds per direction of a connection (32 MiB).
///
/// Latency delays each chunk from its arrival and does not otherwise limit
/// throughput: the queue holding delayed bytes starts at 64 KiB and doubles
/// as the backlog grows, up to this bound (toxiproxy's latency toxic
/// buffers up to 1024 chunks of 32 KiB, the same amount). Only when a
/// direction carries more than `MAX_LATENCY_BUFFER / latency` bytes per
/// second does latency slow it down (100 ms: about 335 MB/s).
///
/// ```
/// assert_eq!(tower_chaos::io::MAX_LATENCY_BUFFER, 32 * 1024 * 1024);
/// ```
pub const MAX_LATENCY_BUFFER: usize = 32 * 1024 * 1024;

/// When an [`Interrupt`] begins in one direction.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::io::{DirectionFaults, Onset};
///
/// let faults = DirectionFaults::new().reset(Onset::AfterBytes(1024));
/// assert!(!faults.is_none());
/// assert_ne!(Onset::Immediately, Onset::After(Duration::ZERO));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Onset {
    /// At the first poll of the stream.
    Immediately,
    /// Once this many bytes have passed in the direction: exactly these bytes
    /// pass intact, then the interruption begins.
    AfterBytes(u64),
    /// This long after the stream was wrapped, or after the faults were
    /// switched in through a [`FaultSwitch`](super::FaultSwitch). On tokio's
    /// clock; checked whenever the stream is polled.
    After(Duration),
    /// This long after the first byte arrives in the direction (toxiproxy's
    /// `reset_peer` with its `timeout`). The bytes that arrive from then on
    /// are held, not delivered, until the interruption begins: a reset or
    /// blackhole drops them, a stall keeps holding them. Bytes arriving in
    /// the direction are those the peer sends (read) or the local writer
    /// writes (write).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::io::{DirectionFaults, Onset};
    /// let f = DirectionFaults::new().reset(Onset::AfterData(Duration::from_millis(100)));
    /// assert!(!f.is_none());
    /// ```
    AfterData(Duration),
}

/// What happens to a connection when an interruption begins.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::io::{DirectionFaults, Interrupt, Onset};
///
/// let read = DirectionFaults::new().timeout(Onset::Immediately, Duration::from_secs(5));
/// assert_eq!(
///     read.interrupt(),
///     Some((Interrupt::Timeout(Duration::from_secs(5)), Onset::Immediately))
/// );
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Interrupt {
    /// Abort the connection: on TCP a real RST goes out (zero linger), the
    /// peer sees `ConnectionReset`, and so does every later local operation.
    Reset,
    /// Bytes stop in this direction and the connection stays open: reads
    /// never complete, writes never complete (back-pressure).
    Stall,
    /// Bytes in this direction are silently discarded and counted as dropped;
    /// the connection stays open. Reads never complete (incoming bytes are
    /// drained and discarded), writes succeed but nothing is sent.
    Blackhole,
    /// Like toxiproxy's `timeout`: bytes in this direction are discarded
    /// (as [`Interrupt::Blackhole`]) and after the duration the connection is
    /// closed: the local reader sees EOF, the local writer `BrokenPipe`, the
    /// peer sees the socket close.
    ///
    /// As in toxiproxy, a duration of zero never closes (the bytes are
    /// discarded until the fault goes away), and a timeout that has begun
    /// closes the connection when a switch removes or changes it — unlike
    /// [`Interrupt::Blackhole`], after which the connection resumes.
    Timeout(Duration),
}

/// The faults of one direction of a stream.
///
/// In a [`StreamFaults`] it sets the stream's own `read` (peer → local
/// reader) or `write` (local writer → peer): the calls of the wrapped
/// stream, not a direction of a connection. Which of them is
/// [`Direction::Upstream`](super::Direction::Upstream) or
/// [`Direction::Downstream`](super::Direction::Downstream) depends on the
/// side (a client writes upstream, a server reads it; see
/// [`Direction`](super::Direction), where the directions are defined):
/// with a target, say it with [`ConnFault`](super::ConnFault)s and a
/// `Direction` instead. A plain `Copy` value: nothing is checked until it
/// goes through [`StreamFaultsBuilder::build`].
///
/// Within a direction, bytes go through the faults in this order. Read:
/// peer → latency → slicing → bandwidth → truncate/interrupt → reader.
/// Write: writer → truncate/interrupt → latency → slicing → bandwidth → peer.
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::io::DirectionFaults;
///
/// use tower_chaos::Latency;
///
/// let ms = Duration::from_millis;
/// let read = DirectionFaults::new()
///     .latency(Latency::jittered(ms(20), ms(5)))
///     .bandwidth(64 * 1024);
/// assert_eq!(read.chunk_latency(), Some(Latency::jittered(ms(20), ms(5))));
/// assert!(DirectionFaults::new().is_none());
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct DirectionFaults {
    /// The per-chunk latency (`None` when off).
    pub(crate) latency: Option<Latency>,
    /// Further latencies that add to the first (stacked latency rules).
    pub(crate) stacked: [Option<Latency>; MAX_STACKED - 1],
    pub(crate) bandwidth: Option<u64>,
    pub(crate) slice: Option<(usize, Duration)>,
    pub(crate) slice_variation: usize,
    pub(crate) truncate_after: Option<u64>,
    pub(crate) interrupt: Option<(Interrupt, Onset)>,
    pub(crate) slow_close: Duration,
}

impl DirectionFaults {
    /// No fault: bytes pass as they are.
    ///
    /// ```
    /// assert!(tower_chaos::io::DirectionFaults::new().is_none());
    /// ```
    #[must_use]
    pub const fn new() -> Self {
        Self {
            latency: None,
            stacked: [None; MAX_STACKED - 1],
            bandwidth: None,
            slice: None,
            slice_variation: 0,
            truncate_after: None,
            interrupt: None,
            slow_close: Duration::ZERO,
        }
    }

    /// Delays every chunk by a sample of `latency`, drawn per chunk from
    /// the seed, measured from when the chunk arrived: queued chunks do not
    /// add their delays up, so latency does not reduce throughput (up to
    /// [`MAX_LATENCY_BUFFER`] bytes held per direction). Order is preserved
    /// (a chunk is never released before the one ahead of it). A chunk
    /// arrives when the wrapper reads it from the inner stream (it reads
    /// ahead whenever it is polled) or is given it to write.
    ///
    /// The one latency spelling of the crate, as for request
    /// ([`Fault::latency`](crate::Fault::latency)) and HTTP faults: a
    /// `Duration` (a fixed delay) or any [`Latency`]. Toxiproxy's latency
    /// toxic (`latency` ± `jitter`) is
    /// [`Latency::jittered(latency, jitter)`](Latency::jittered). A latency
    /// that can only draw zero (`Duration::ZERO`) is no latency: the
    /// direction stays [`is_none`](Self::is_none).
    ///
    /// A bounded latency (fixed, uniform, jittered, or clamped) whose
    /// largest sample exceeds [`MAX_FAULT_DURATION`] is refused at build
    /// time, naming the direction (`read.latency`); samples of an unbounded
    /// one (normal, log-normal, Pareto without a clamp) are capped at it.
    /// The distribution's own checks (a jitter above its base, …) name its
    /// parameter (`latency.jittered.jitter`).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::Latency;
    /// use tower_chaos::io::{DirectionFaults, StreamFaults};
    ///
    /// let ms = Duration::from_millis;
    /// let fixed = DirectionFaults::new().latency(ms(50));
    /// assert_eq!(fixed.chunk_latency(), Some(Latency::fixed(ms(50))));
    /// let toxiproxy = DirectionFaults::new().latency(Latency::jittered(ms(50), ms(10)));
    /// assert!(StreamFaults::builder().read(toxiproxy).build().is_ok());
    /// let tail = DirectionFaults::new().latency(Latency::log_normal(ms(20), 0.5));
    /// assert!(StreamFaults::builder().read(tail).build().is_ok());
    /// let bad = DirectionFaults::new().latency(Latency::jittered(ms(5), ms(10)));
    /// let err = StreamFaults::builder().read(bad).build().unwrap_err();
    /// assert_eq!(err.to_string(), "invalid `latency.jittered.jitter` = 10ms: must not exceed the base latency");
    /// assert!(DirectionFaults::new().latency(Duration::ZERO).is_none());
    /// ```
    #[must_use]
    pub fn latency(mut self, latency: impl Into<Latency>) -> Self {
        let latency = latency.into();
        self.latency = (latency.most() != Some(Duration::ZERO)).then_some(latency);
        self
    }

    /// Limits the direction to `bytes_per_second`, with the crate's one
    /// byte-rate throttle (the HTTP body throttle uses the same): a token
    /// bucket on tokio's clock, refilled continuously, passing at most one
    /// 50 ms tick's worth of bytes at a time, paid before they pass.
    ///
    /// The bucket starts empty when the limit comes into force (toxiproxy's
    /// `bandwidth`; the HTTP body throttle starts with one tick of credit, as
    /// Envoy's does): the n-th byte passes no earlier than n / rate after
    /// the start, so B bytes take B / rate, not one slice less. A write
    /// waits until its whole slice (at most 50 ms worth) is paid; a read
    /// passes what is paid, waiting for at least 10 ms worth (or the whole
    /// request, if smaller). After an idle spell, up to 100 ms worth (two
    /// slices) passes without waiting.
    ///
    /// ```
    /// use tower_chaos::io::{DirectionFaults, StreamFaults};
    /// let slow = DirectionFaults::new().bandwidth(64 * 1024);
    /// assert!(StreamFaults::builder().write(slow).build().is_ok());
    /// assert!(StreamFaults::builder().write(DirectionFaults::new().bandwidth(0)).build().is_err());
    /// ```
    #[must_use]
    pub const fn bandwidth(mut self, bytes_per_second: u64) -> Self {
        self.bandwidth = Some(bytes_per_second);
        self
    }

    /// Cuts transfers into pieces of at most `max_size` bytes, waiting
    /// `delay` between pieces. Writers see short writes; readers see short
    /// reads.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tokio::io::AsyncWriteExt;
    /// use tower_chaos::io::{ChaosStream, DirectionFaults, StreamFaults};
    ///
    /// let faults = StreamFaults::builder()
    ///     .write(DirectionFaults::new().slice(4, Duration::ZERO))
    ///     .build()?;
    /// let (a, _b) = tokio::io::duplex(64);
    /// let mut a = ChaosStream::new(a, faults);
    /// assert_eq!(a.write(b"hello world").await?, 4); // a short write
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub const fn slice(mut self, max_size: usize, delay: Duration) -> Self {
        self.slice = Some((max_size, delay));
        self.slice_variation = 0;
        self
    }

    /// Like [`slice`](Self::slice), with piece sizes drawn uniformly from
    /// `average - variation ..= average + variation`, per piece, from the
    /// seed (toxiproxy's slicer `average_size` and `size_variation`). The
    /// variation must be smaller than the average.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::io::{DirectionFaults, StreamFaults};
    ///
    /// let varied = DirectionFaults::new().slice_varied(1024, 512, Duration::ZERO);
    /// assert!(StreamFaults::builder().read(varied).build().is_ok());
    /// let bad = DirectionFaults::new().slice_varied(10, 10, Duration::ZERO);
    /// let err = StreamFaults::builder().read(bad).build().unwrap_err();
    /// assert!(err.to_string().contains("read.slice.variation"));
    /// ```
    #[must_use]
    pub const fn slice_varied(mut self, average: usize, variation: usize, delay: Duration) -> Self {
        self.slice = Some((average, delay));
        self.slice_variation = variation;
        self
    }

    /// Passes exactly `bytes` bytes in the direction, then closes the whole
    /// connection (toxiproxy's `limit_data`).
    ///
    /// Read: the reader sees exactly `bytes` bytes, then EOF, and the
    /// connection is closed (the peer sees it close; local writes fail with
    /// `BrokenPipe`). Write: the write that reaches the limit is short (it
    /// accepts exactly the bytes left); the wrapper then sends a FIN after
    /// them, so the peer reads exactly `bytes` bytes then EOF, and closes the
    /// connection: later writes fail with `BrokenPipe` (those refused bytes
    /// are counted as dropped), reads see EOF.
    ///
    /// The bytes are counted from when a truncation came into force in the
    /// direction. A switch that keeps a truncation in the direction (the
    /// same limit or another) keeps counting, as toxiproxy does when a
    /// `limit_data` toxic is updated or interrupted; a switch that leaves
    /// the direction without one ends it, and a later one counts from 0.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// use tower_chaos::io::{ChaosStream, DirectionFaults, StreamFaults};
    ///
    /// let faults = StreamFaults::builder().write(DirectionFaults::new().truncate_after(3)).build()?;
    /// let (a, mut b) = tokio::io::duplex(64);
    /// let mut a = ChaosStream::new(a, faults);
    /// let err = a.write_all(b"hello").await.unwrap_err();
    /// assert_eq!(err.kind(), std::io::ErrorKind::BrokenPipe);
    /// let mut got = Vec::new();
    /// b.read_to_end(&mut got).await?;
    /// assert_eq!(got, b"hel");
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub const fn truncate_after(mut self, bytes: u64) -> Self {
        self.truncate_after = Some(bytes);
        self
    }

    /// Resets the connection at `onset` (see [`Interrupt::Reset`]). A
    /// direction has at most one interruption: the last one set wins.
    ///
    /// ```
    /// use tower_chaos::io::{DirectionFaults, Interrupt, Onset};
    /// let d = DirectionFaults::new().stall(Onset::Immediately).reset(Onset::AfterBytes(10));
    /// assert_eq!(d.interrupt(), Some((Interrupt::Reset, Onset::AfterBytes(10))));
    /// ```
    #[must_use]
    pub const fn reset(mut self, onset: Onset) -> Self {
        self.interrupt = Some((Interrupt::Reset, onset));
        self
    }

    /// Stalls the direction at `onset` (see [`Interrupt::Stall`]).
    ///
    /// ```
    /// use tower_chaos::io::{DirectionFaults, Interrupt, Onset};
    /// let d = DirectionFaults::new().stall(Onset::AfterBytes(1));
    /// assert_eq!(d.interrupt(), Some((Interrupt::Stall, Onset::AfterBytes(1))));
    /// ```
    #[must_use]
    pub const fn stall(mut self, onset: Onset) -> Self {
        self.interrupt = Some((Interrupt::Stall, onset));
        self
    }

    /// Blackholes the direction at `onset` (see [`Interrupt::Blackhole`]).
    ///
    /// ```
    /// use tower_chaos::io::{DirectionFaults, Interrupt, Onset};
    /// let d = DirectionFaults::new().blackhole(Onset::Immediately);
    /// assert_eq!(d.interrupt(), Some((Interrupt::Blackhole, Onset::Immediately)));
    /// ```
    #[must_use]
    pub const fn blackhole(mut self, onset: Onset) -> Self {
        self.interrupt = Some((Interrupt::Blackhole, onset));
        self
    }

    /// From `onset`, discards the direction's bytes, then closes the
    /// connection `close_after` later (see [`Interrupt::Timeout`]).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::io::{DirectionFaults, Interrupt, Onset};
    /// let d = DirectionFaults::new().timeout(Onset::Immediately, Duration::from_secs(5));
    /// assert_eq!(d.interrupt(), Some((Interrupt::Timeout(Duration::from_secs(5)), Onset::Immediately)));
    /// ```
    #[must_use]
    pub const fn timeout(mut self, onset: Onset, close_after: Duration) -> Self {
        self.interrupt = Some((Interrupt::Timeout(close_after), onset));
        self
    }

    /// Delays closing by `delay`. Read: EOF from the peer reaches the reader
    /// `delay` late. Write: `poll_shutdown` waits `delay` before the FIN goes
    /// out. Dropping the wrapper still closes at once.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use std::time::Duration;
    /// use tokio::io::AsyncWriteExt;
    /// use tokio::time::Instant;
    /// use tower_chaos::io::{ChaosStream, DirectionFaults, StreamFaults};
    ///
    /// let faults = StreamFaults::builder()
    ///     .write(DirectionFaults::new().slow_close(Duration::from_secs(2)))
    ///     .build()?;
    /// let (a, _b) = tokio::io::duplex(64);
    /// let mut a = ChaosStream::new(a, faults);
    /// let start = Instant::now();
    /// a.shutdown().await?;
    /// assert_eq!(start.elapsed(), Duration::from_secs(2));
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub const fn slow_close(mut self, delay: Duration) -> Self {
        self.slow_close = delay;
        self
    }

    /// The per-chunk latency set with [`latency`](Self::latency), `None`
    /// when off.
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::Latency;
    /// use tower_chaos::io::DirectionFaults;
    ///
    /// let d = DirectionFaults::new().latency(Duration::from_millis(3));
    /// assert_eq!(d.chunk_latency(), Some(Latency::fixed(Duration::from_millis(3))));
    /// assert_eq!(DirectionFaults::new().chunk_latency(), None);
    /// ```
    #[must_use]
    pub const fn chunk_latency(&self) -> Option<Latency> {
        self.latency
    }

    /// The interruption and its onset, if any.
    ///
    /// ```
    /// assert_eq!(tower_chaos::io::DirectionFaults::new().interrupt(), None);
    /// ```
    #[must_use]
    pub const fn interrupt(&self) -> Option<(Interrupt, Onset)> {
        self.interrupt
    }

    /// Whether this direction has no fault at all.
    ///
    /// ```
    /// use tower_chaos::io::DirectionFaults;
    /// assert!(!DirectionFaults::new().truncate_after(1).is_none());
    /// ```
    #[must_use]
    pub fn is_none(&self) -> bool {
        *self == Self::new()
    }

    pub(crate) fn has_latency(&self) -> bool {
        self.latency.is_some() || self.stacked.iter().any(Option::is_some)
    }

    /// Every latency in force, first the configured one then the stacked
    /// ones: a chunk's delay is the sum of one sample of each.
    pub(crate) fn latencies(&self) -> [Option<Latency>; MAX_STACKED] {
        let mut all = [None; MAX_STACKED];
        all[0] = self.latency;
        all[1..].copy_from_slice(&self.stacked);
        all
    }

    /// Adds `latency` to the delays of this direction (a stacked latency
    /// rule); `false` when the stack is full.
    pub(crate) fn stack_latency(&mut self, latency: Latency) -> bool {
        if !self.has_latency() {
            self.latency = Some(latency);
            return true;
        }
        match self.stacked.iter_mut().find(|s| s.is_none()) {
            Some(slot) => {
                *slot = Some(latency);
                true
            }
            None => false,
        }
    }

    /// Whether one more latency can be stacked.
    pub(crate) fn latency_full(&self) -> bool {
        self.has_latency() && self.stacked.iter().all(Option::is_some)
    }

    pub(crate) fn validate(&self, scope: Scope) -> Result<(), ConfigError> {
        macro_rules! field {
            ($name:literal) => {
                match scope {
                    Scope::Read => concat!("read.", $name),
                    Scope::Write => concat!("write.", $name),
                    Scope::Conn => concat!("conn_fault.", $name),
                }
            };
        }
        let check = |field: &'static str, d: Duration| {
            if d > MAX_FAULT_DURATION {
                Err(ConfigError::invalid(field, d, "must be at most 365 days"))
            } else {
                Ok(())
            }
        };
        for dist in self.latency.iter().chain(self.stacked.iter().flatten()) {
            // A distribution that can draw more than the limit is refused
            // like the same fixed delay (unbounded tails are capped per
            // sample, as documented on `latency`). Checked
            // before the distribution's own checks, so that the error names
            // the direction (`read.latency`), not only the distribution.
            if let Some(high) = dist.most() {
                check(field!("latency"), high)?;
            }
            dist.validate()?;
        }
        if self.bandwidth == Some(0) {
            return Err(ConfigError::invalid(
                field!("bandwidth"),
                0u64,
                "bytes per second must be at least 1",
            ));
        }
        if let Some((max, delay)) = self.slice {
            if max == 0 {
                return Err(ConfigError::invalid(
                    field!("slice.max_size"),
                    max,
                    "must be at least 1 byte",
                ));
            }
            check(field!("slice.delay"), delay)?;
            if self.slice_variation != 0 && self.slice_variation >= max {
                return Err(ConfigError::invalid(
                    field!("slice.variation"),
                    self.slice_variation,
                    "must be smaller than the average size",
                ));
            }
        }
        if let Some((interrupt, onset)) = self.interrupt {
            if let Interrupt::Timeout(d) = interrupt {
                check(field!("timeout.close_after"), d)?;
            }
            if let Onset::After(d) | Onset::AfterData(d) = onset {
                check(field!("onset"), d)?;
            }
        }
        check(field!("slow_close"), self.slow_close)
    }
}

/// How many latency rules stack in one direction of a connection.
pub(crate) const MAX_STACKED: usize = 4;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Dir {
    Read,
    Write,
}

/// Where a value being validated comes from, for the field names of errors.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Scope {
    Read,
    Write,
    Conn,
}

/// Validated faults for both directions of a stream, plus the seed that
/// drives every random choice (latency samples, slice sizes).
///
/// Build it with [`StreamFaults::builder`]; apply it with
/// [`ChaosStream::new`](super::ChaosStream::new), or share it at run time
/// through a [`FaultSwitch`](super::FaultSwitch).
///
/// # Example
///
/// ```
/// use std::time::Duration;
/// use tower_chaos::io::{DirectionFaults, StreamFaults};
///
/// let faults = StreamFaults::builder()
///     .read(DirectionFaults::new().latency(Duration::from_millis(10)))
///     .write(DirectionFaults::new().truncate_after(100))
///     .seed(7)
///     .build()?;
/// assert_eq!(faults.seed(), 7);
/// assert!(!faults.is_none());
/// assert!(StreamFaults::none().is_none());
/// # Ok::<(), tower_chaos::ConfigError>(())
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct StreamFaults {
    pub(crate) read: DirectionFaults,
    pub(crate) write: DirectionFaults,
    pub(crate) seed: u64,
}

impl StreamFaults {
    /// No fault in either direction.
    ///
    /// ```
    /// assert!(tower_chaos::io::StreamFaults::none().is_none());
    /// ```
    #[must_use]
    pub const fn none() -> Self {
        Self {
            read: DirectionFaults::new(),
            write: DirectionFaults::new(),
            seed: 0,
        }
    }

    /// Starts a builder with no fault and seed 0.
    ///
    /// ```
    /// let faults = tower_chaos::io::StreamFaults::builder().build()?;
    /// assert_eq!((faults.seed(), faults.is_none()), (0, true));
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub const fn builder() -> StreamFaultsBuilder {
        StreamFaultsBuilder { faults: Self::none() }
    }

    /// The read direction (peer → local reader).
    ///
    /// ```
    /// use tower_chaos::io::{DirectionFaults, StreamFaults};
    /// let f = StreamFaults::builder().read(DirectionFaults::new().truncate_after(1)).build()?;
    /// assert!(!f.read().is_none() && f.write().is_none());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn read(&self) -> &DirectionFaults {
        &self.read
    }

    /// The write direction (local writer → peer).
    #[must_use]
    pub const fn write(&self) -> &DirectionFaults {
        &self.write
    }

    /// The seed for random choices (per-chunk latency samples).
    ///
    /// ```
    /// let f = tower_chaos::io::StreamFaults::builder().seed(9).build()?;
    /// assert_eq!(f.seed(), 9);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub const fn seed(&self) -> u64 {
        self.seed
    }

    /// Whether neither direction has a fault.
    ///
    /// ```
    /// assert!(tower_chaos::io::StreamFaults::default().is_none());
    /// ```
    #[must_use]
    pub fn is_none(&self) -> bool {
        self.read.is_none() && self.write.is_none()
    }

    pub(crate) fn with_seed(mut self, seed: u64) -> Self {
        self.seed = seed;
        self
    }
}

/// Builds a [`StreamFaults`], checking every value.
///
/// # Example
///
/// ```
/// use tower_chaos::io::{DirectionFaults, StreamFaults};
///
/// let err = StreamFaults::builder()
///     .read(DirectionFaults::new().bandwidth(0))
///     .build()
///     .unwrap_err();
/// assert_eq!(
///     err.to_string(),
///     "invalid `read.bandwidth` = 0: bytes per second must be at least 1"
/// );
/// ```
#[derive(Debug, Clone)]
#[must_use = "a builder does nothing until `build` is called"]
pub struct StreamFaultsBuilder {
    faults: StreamFaults,
}

impl StreamFaultsBuilder {
    /// Sets the read (peer → local reader) faults.
    ///
    /// ```
    /// use tower_chaos::io::{DirectionFaults, StreamFaults};
    /// let f = StreamFaults::builder().read(DirectionFaults::new().bandwidth(10)).build()?;
    /// assert!(!f.read().is_none());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub const fn read(mut self, faults: DirectionFaults) -> Self {
        self.faults.read = faults;
        self
    }

    /// Sets the write (local writer → peer) faults.
    ///
    /// ```
    /// use tower_chaos::io::{DirectionFaults, StreamFaults};
    /// let f = StreamFaults::builder().write(DirectionFaults::new().bandwidth(10)).build()?;
    /// assert!(!f.write().is_none());
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub const fn write(mut self, faults: DirectionFaults) -> Self {
        self.faults.write = faults;
        self
    }

    /// Sets the seed for random choices (latency samples, slice sizes).
    /// A stream's faults switched through a [`FaultSwitch`](super::FaultSwitch)
    /// derive one seed per stream from it.
    ///
    /// ```
    /// assert_eq!(tower_chaos::io::StreamFaults::builder().seed(3).build()?.seed(), 3);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    pub const fn seed(mut self, seed: u64) -> Self {
        self.faults.seed = seed;
        self
    }

    /// Checks every value and returns the faults.
    ///
    /// # Errors
    ///
    /// [`ConfigError::Invalid`] naming the field (`read.latency`,
    /// `write.slice.max_size`, …) and the value when: a duration exceeds
    /// [`MAX_FAULT_DURATION`], bandwidth is 0, a slice size is 0; a latency
    /// distribution's own errors name its parameter
    /// (`latency.jittered.jitter` for a jitter above its base).
    ///
    /// ```
    /// use std::time::Duration;
    /// use tower_chaos::io::{DirectionFaults, StreamFaults};
    /// let err = StreamFaults::builder()
    ///     .write(DirectionFaults::new().slice(0, Duration::ZERO))
    ///     .build()
    ///     .unwrap_err();
    /// assert!(err.to_string().contains("`write.slice.max_size` = 0"));
    /// ```
    pub fn build(self) -> Result<StreamFaults, ConfigError> {
        self.faults.read.validate(Scope::Read)?;
        self.faults.write.validate(Scope::Write)?;
        Ok(self.faults)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_values_naming_the_field() {
        let err = StreamFaults::builder()
            .write(DirectionFaults::new().latency(Latency::jittered(
                Duration::from_millis(1),
                Duration::from_millis(2),
            )))
            .build()
            .unwrap_err();
        assert!(
            err.to_string().contains("`latency.jittered.jitter` = 2ms"),
            "{err}"
        );

        let err = StreamFaults::builder()
            .read(DirectionFaults::new().slice(0, Duration::ZERO))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("read.slice.max_size"), "{err}");

        let err = StreamFaults::builder()
            .read(DirectionFaults::new().stall(Onset::After(Duration::MAX)))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("read.onset"), "{err}");

        let err = StreamFaults::builder()
            .write(DirectionFaults::new().timeout(Onset::Immediately, Duration::MAX))
            .build()
            .unwrap_err();
        assert!(err.to_string().contains("write.timeout.close_after"), "{err}");
    }

    #[test]
    fn bounded_latency_distributions_over_the_limit_are_refused_like_fixed_ones() {
        let days = |n: u64| Duration::from_secs(n * 24 * 3600);
        for dist in [
            Latency::fixed(days(400)),
            Latency::uniform(days(1), days(400)),
            Latency::pareto(Duration::from_millis(5), 1.5).clamp(Duration::ZERO, days(400)),
        ] {
            let err = StreamFaults::builder()
                .read(DirectionFaults::new().latency(dist))
                .build()
                .unwrap_err();
            assert_eq!(
                err.to_string(),
                "invalid `read.latency` = 34560000s: must be at most 365 days",
                "{dist:?}"
            );
            let mut d = DirectionFaults::new();
            d.stack_latency(dist);
            assert!(
                d.validate(Scope::Conn)
                    .unwrap_err()
                    .to_string()
                    .contains("conn_fault.latency")
            );
        }
        // A parameter over the limit is refused by the distribution's own
        // checks even when a clamp would bound the draws (the core's rule
        // since every parameter is checked).
        let err = StreamFaults::builder()
            .read(DirectionFaults::new().latency(Latency::fixed(days(400)).clamp(Duration::ZERO, days(1))))
            .build()
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "invalid `latency.fixed` = 34560000s: must be at most 365 days"
        );
        // A clamp under the limit, and unbounded tails (capped per sample,
        // as documented), are accepted.
        for ok in [
            Latency::pareto(Duration::from_millis(5), 1.5).clamp(Duration::ZERO, days(1)),
            Latency::pareto(Duration::from_millis(5), 1.5),
        ] {
            assert!(
                StreamFaults::builder()
                    .read(DirectionFaults::new().latency(ok))
                    .build()
                    .is_ok()
            );
        }
    }

    #[test]
    fn timeout_zero_is_accepted_as_never_close() {
        let f = StreamFaults::builder()
            .write(DirectionFaults::new().timeout(Onset::Immediately, Duration::ZERO))
            .build()
            .unwrap();
        assert_eq!(
            f.write().interrupt(),
            Some((Interrupt::Timeout(Duration::ZERO), Onset::Immediately))
        );
    }

    #[test]
    fn accepts_edge_values() {
        let f = StreamFaults::builder()
            .read(
                DirectionFaults::new()
                    .truncate_after(0)
                    .bandwidth(1)
                    .slice(1, MAX_FAULT_DURATION),
            )
            .build()
            .unwrap();
        assert_eq!(f.read().truncate_after, Some(0));
    }
}
