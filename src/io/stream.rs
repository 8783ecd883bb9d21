//! [`ChaosStream`]: stream faults on any tokio `AsyncRead + AsyncWrite`.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::{Arc, Mutex, PoisonError};
use std::task::{Context, Poll, Wake, Waker};
use std::time::Duration;

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

use super::conn::ConnCtl;
use super::faults::{Dir, MAX_STACKED};
use super::queue::DelayQueue;
use super::{
    ConnInfo, DirectionFaults, FaultSwitch, InjectedIoError, Interrupt, IoCounters, MAX_FAULT_DURATION,
    Onset, Resettable, StreamFaults,
};
use crate::report::Bytes;
use crate::rng::{SplitMix, derive, nth};
use crate::target::TargetShared;
use crate::throttle::{Start, Throttle};
use crate::{FaultKind, Latency, Target};

const READ_SALT: u64 = 0x5245_4144_0000_0001;
const WRITE_SALT: u64 = 0x5752_4954_0000_0002;
const SLICE_SALT: u64 = 0x534c_4943_0000_0003;
const STACK_SALT: u64 = 0x5354_434b_0000_0004;
/// The most bytes of the write latency queue looked at per write call.
const WRITE_BATCH: usize = 256 * 1024;

pin_project! {
    /// A stream that injects faults into the bytes flowing through it, per
    /// direction: latency with jitter, bandwidth, slicing, truncation,
    /// reset, stall, blackhole, timeout, slow close (see
    /// [`DirectionFaults`] and the [module docs](super)).
    ///
    /// With no fault it forwards every call to the inner stream (vectored
    /// writes included) and only counts bytes: no allocation, no lock, no
    /// timer. Timed faults sleep on tokio's clock, so tests run under
    /// `#[tokio::test(start_paused = true)]`; they need a tokio runtime.
    ///
    /// Time onsets and timeouts are checked when the stream is polled: an
    /// idle stream that nobody polls trips at its next use.
    ///
    /// Errors that a fault injects carry an [`InjectedIoError`].
    ///
    /// # Example
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    /// use tower_chaos::io::{ChaosStream, DirectionFaults, StreamFaults};
    ///
    /// let (client, mut server) = tokio::io::duplex(1024);
    /// let faults = StreamFaults::builder()
    ///     .read(DirectionFaults::new().truncate_after(5))
    ///     .build()?;
    /// let mut client = ChaosStream::new(client, faults);
    ///
    /// server.write_all(b"hello world").await?;
    /// let mut got = Vec::new();
    /// client.read_to_end(&mut got).await?;
    /// assert_eq!(got, b"hello"); // exactly 5 bytes, then EOF
    /// # Ok(()) }
    /// ```
    #[derive(Debug)]
    pub struct ChaosStream<T> {
        #[pin]
        inner: Option<T>,
        core: Core,
    }
}

impl<T> ChaosStream<T> {
    /// Wraps `inner` with fixed `faults`. Time onsets count from now.
    ///
    /// ```
    /// use tower_chaos::io::{ChaosStream, StreamFaults};
    /// let (a, _b) = tokio::io::duplex(64);
    /// let a = ChaosStream::new(a, StreamFaults::none());
    /// assert!(!a.is_closed() && a.target().is_none());
    /// ```
    #[must_use]
    pub fn new(inner: T, faults: StreamFaults) -> Self {
        Self {
            inner: Some(inner),
            core: Core::new(&faults, Source::Static),
        }
    }

    /// A connection of a target (proxy, listener, connector): faults from
    /// the target's decision, switched with it, bytes counted into its
    /// report and into `counters`.
    pub(crate) fn attached(inner: T, ctl: ConnCtl, counters: IoCounters) -> Self {
        let faults = ctl.stream();
        let tap = Tap {
            shared: Arc::clone(&ctl.target.shared),
            server: ctl.server_side(),
        };
        let mut core = Core::new(&faults, Source::Target(Box::new(ctl)));
        core.counters = Tally {
            local: counters,
            tap: Some(tap),
        };
        Self {
            inner: Some(inner),
            core,
        }
    }

    /// Wraps `inner` with the faults held by `switch`, taken again whenever
    /// the switch changes (see [`FaultSwitch`] for what changes on a live
    /// stream).
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> std::io::Result<()> {
    /// use tokio::io::AsyncWriteExt;
    /// use tower_chaos::io::{ChaosStream, FaultSwitch};
    ///
    /// let switch = FaultSwitch::default();
    /// let (a, _b) = tokio::io::duplex(64);
    /// let mut a = ChaosStream::with_switch(a, &switch);
    /// a.write_all(b"hi").await?;
    /// assert_eq!(a.counters().snapshot().bytes_written, 2);
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn with_switch(inner: T, switch: &FaultSwitch) -> Self {
        let id = switch.next_stream_id();
        let (seen, faults) = switch.load();
        let faults = faults.with_seed(derive(faults.seed, id));
        Self {
            inner: Some(inner),
            core: Core::new(
                &faults,
                Source::Switch {
                    switch: switch.clone(),
                    seen,
                    id,
                },
            ),
        }
    }

    /// Counts into `counters` (shared with other streams) instead of this
    /// stream's own.
    ///
    /// ```
    /// use tower_chaos::io::{ChaosStream, IoCounters, StreamFaults};
    /// let shared = IoCounters::new();
    /// let (a, _b) = tokio::io::duplex(64);
    /// let a = ChaosStream::new(a, StreamFaults::none()).with_counters(shared.clone());
    /// assert_eq!(a.counters().snapshot(), shared.snapshot());
    /// ```
    #[must_use]
    pub fn with_counters(mut self, counters: IoCounters) -> Self {
        self.core.counters.local = counters;
        self
    }

    /// This stream's counters (shared with its proxy, listener or connector
    /// when it has one).
    ///
    /// ```
    /// use tower_chaos::io::{ChaosStream, StreamFaults};
    /// let (a, _b) = tokio::io::duplex(64);
    /// let a = ChaosStream::new(a, StreamFaults::none());
    /// assert_eq!(a.counters().snapshot().bytes_read, 0);
    /// ```
    #[must_use]
    pub fn counters(&self) -> &IoCounters {
        &self.core.counters.local
    }

    /// The target this connection belongs to, when a proxy, listener or
    /// connector made it.
    ///
    /// ```
    /// use tower_chaos::io::{ChaosStream, StreamFaults};
    /// let (a, _b) = tokio::io::duplex(64);
    /// assert!(ChaosStream::new(a, StreamFaults::none()).target().is_none());
    /// ```
    #[must_use]
    pub fn target(&self) -> Option<&Target> {
        match &self.core.source {
            Source::Target(ctl) => Some(&ctl.target),
            _ => None,
        }
    }

    /// What the target's triggers saw of this connection, when it belongs to
    /// one (see [`ConnInfo::index`] for an example).
    ///
    /// ```
    /// use tower_chaos::io::{ChaosStream, StreamFaults};
    /// let (a, _b) = tokio::io::duplex(64);
    /// assert!(ChaosStream::new(a, StreamFaults::none()).conn_info().is_none());
    /// ```
    #[must_use]
    pub fn conn_info(&self) -> Option<&ConnInfo> {
        match &self.core.source {
            Source::Target(ctl) => Some(&ctl.info),
            _ => None,
        }
    }

    /// The stream faults in force on this connection right now (as last
    /// taken from its source).
    ///
    /// ```
    /// use tower_chaos::io::{ChaosStream, DirectionFaults, StreamFaults};
    /// let faults = StreamFaults::builder().read(DirectionFaults::new().truncate_after(3)).build()?;
    /// let (a, _b) = tokio::io::duplex(64);
    /// assert_eq!(ChaosStream::new(a, faults).faults(), faults);
    /// # Ok::<(), tower_chaos::ConfigError>(())
    /// ```
    #[must_use]
    pub fn faults(&self) -> StreamFaults {
        self.core.applied
    }

    /// The inner stream; `None` once a reset or timeout has closed it.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use tokio::io::AsyncReadExt;
    /// use tower_chaos::io::{ChaosStream, DirectionFaults, Onset, StreamFaults};
    ///
    /// let faults = StreamFaults::builder().read(DirectionFaults::new().reset(Onset::Immediately)).build()?;
    /// let (a, _b) = tokio::io::duplex(64);
    /// let mut a = ChaosStream::new(a, faults);
    /// assert!(a.get_ref().is_some() && a.get_mut().is_some());
    /// let _ = a.read(&mut [0; 1]).await; // the reset fires
    /// assert!(a.is_reset() && a.is_closed());
    /// assert!(a.get_ref().is_none());
    /// assert!(a.into_inner().is_none());
    /// # Ok(()) }
    /// ```
    #[must_use]
    pub fn get_ref(&self) -> Option<&T> {
        self.inner.as_ref()
    }

    /// The inner stream, mutably; `None` once closed by a fault.
    #[must_use]
    pub fn get_mut(&mut self) -> Option<&mut T> {
        self.inner.as_mut()
    }

    /// The pinned inner stream; `None` once closed by a fault.
    #[must_use]
    pub fn get_pin_mut(self: Pin<&mut Self>) -> Option<Pin<&mut T>> {
        self.project().inner.as_pin_mut()
    }

    /// Unwraps the inner stream; `None` if a fault closed it.
    #[must_use]
    pub fn into_inner(self) -> Option<T> {
        self.inner
    }

    /// Whether a reset fault has aborted the connection.
    #[must_use]
    pub fn is_reset(&self) -> bool {
        self.core.conn == Conn::Reset
    }

    /// Whether a reset or timeout fault has closed the connection.
    #[must_use]
    pub fn is_closed(&self) -> bool {
        self.core.conn != Conn::Open
    }

    /// Whether a stall, blackhole or timeout holds one direction right now
    /// (its onset reached, the connection still open): nothing moves there
    /// until the faults are switched. The proxy releases such a connection
    /// once both of its peers have closed.
    pub(crate) fn holds(&self, read: bool) -> bool {
        let lane = if read { &self.core.read } else { &self.core.write };
        self.core.conn == Conn::Open && lane.flow != Flow::Normal
    }
}

impl<T: Resettable> Resettable for ChaosStream<T> {
    fn prepare_reset(&self) -> io::Result<()> {
        self.inner.as_ref().map_or(Ok(()), Resettable::prepare_reset)
    }
}

#[derive(Debug)]
enum Source {
    Static,
    Switch { switch: FaultSwitch, seen: u64, id: u64 },
    Target(Box<ConnCtl>),
}

impl Drop for Source {
    fn drop(&mut self) {
        // A target's connection unregisters in `ConnCtl`'s own drop.
        if let Self::Switch { switch, id, .. } = self {
            switch.unpark(*id);
        }
    }
}

/// Where bytes and events are counted: the stream's counters, and the
/// target's report for a connection that belongs to one.
#[derive(Debug, Default)]
struct Tally {
    local: IoCounters,
    tap: Option<Tap>,
}

#[derive(Debug)]
struct Tap {
    shared: Arc<TargetShared>,
    /// A server's stream reads upstream bytes; a client's writes them.
    server: bool,
}

impl Tally {
    #[inline]
    fn tap(&self, upstream_if_server: Bytes, other: Bytes, n: usize) {
        if let Some(t) = &self.tap {
            t.shared
                .counters
                .bytes(if t.server { upstream_if_server } else { other }, n as u64);
        }
    }

    #[inline]
    fn add_read(&self, n: usize) {
        self.local.add_read(n);
        self.tap(Bytes::Upstream, Bytes::Downstream, n);
    }

    #[inline]
    fn add_written(&self, n: usize) {
        self.local.add_written(n);
        self.tap(Bytes::Downstream, Bytes::Upstream, n);
    }

    fn add_dropped_read(&self, n: usize) {
        self.local.add_dropped_read(n);
        self.tap(Bytes::DroppedUpstream, Bytes::DroppedDownstream, n);
    }

    fn add_dropped_written(&self, n: usize) {
        self.local.add_dropped_written(n);
        self.tap(Bytes::DroppedDownstream, Bytes::DroppedUpstream, n);
    }

    fn fault(&self, kind: FaultKind) {
        self.local.fault(kind);
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Conn {
    Open,
    Reset,
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Flow {
    Normal,
    Stalled,
    Blackholed,
}

/// Wakes both the reading and the writing task: timers and inner
/// registrations of a faulty stream are shared by both directions, and the
/// halves may be polled from different tasks.
#[derive(Debug, Default)]
struct Pair {
    slots: Mutex<[Option<Waker>; 2]>,
}

impl Pair {
    fn register(&self, dir: Dir, waker: &Waker) {
        let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
        let slot = &mut slots[dir as usize];
        if !slot.as_ref().is_some_and(|w| w.will_wake(waker)) {
            *slot = Some(waker.clone());
        }
    }
}

impl Wake for Pair {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        let [a, b] = {
            let mut slots = self.slots.lock().unwrap_or_else(PoisonError::into_inner);
            [slots[0].take(), slots[1].take()]
        };
        for w in [a, b].into_iter().flatten() {
            w.wake();
        }
    }
}

#[derive(Debug, Default)]
struct Timer(Option<Pin<Box<Sleep>>>);

impl Timer {
    /// `Ready(Ok)` once `at` has passed.
    fn wait(&mut self, at: Instant, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let sleep = match &mut self.0 {
            Some(s) => {
                if s.deadline() != at {
                    s.as_mut().reset(at);
                }
                s
            }
            None => {
                if tokio::runtime::Handle::try_current().is_err() {
                    return Poll::Ready(Err(io::Error::other(
                        "tower-chaos: timed stream faults need a tokio runtime",
                    )));
                }
                self.0.insert(Box::pin(tokio::time::sleep_until(at)))
            }
        };
        sleep.as_mut().poll(cx).map(Ok)
    }
}

/// Slicing and bandwidth: how much may pass now.
#[derive(Debug, Default)]
struct Gate {
    slice: Option<(usize, Duration)>,
    variation: usize,
    seed: u64,
    /// Pieces cut so far (the variation's sample index).
    pieces: u64,
    /// The size of the next piece, drawn once per piece.
    piece: Option<usize>,
    slice_next: Option<Instant>,
    /// The crate's one byte-rate throttle, started empty as toxiproxy's
    /// bandwidth toxic is.
    throttle: Option<Throttle>,
    bw_waiting: bool,
}

impl Gate {
    fn new(cfg: &DirectionFaults, seed: u64) -> Self {
        Self {
            slice: cfg.slice,
            variation: cfg.slice_variation,
            seed: seed ^ SLICE_SALT,
            throttle: cfg.bandwidth.map(|rate| Throttle::new(rate, Start::Empty)),
            ..Self::default()
        }
    }

    fn piece_size(&mut self, max: usize) -> usize {
        if self.variation == 0 {
            return max;
        }
        *self.piece.get_or_insert_with(|| {
            let span = 2 * self.variation as u64 + 1;
            let draw = nth(self.seed, self.pieces) % span;
            // validated: variation < max, so the size is at least 1
            max - self.variation + usize::try_from(draw).unwrap_or(0)
        })
    }

    /// The most bytes that may pass now (`exact`: the caller passes a
    /// known amount and wants its slice whole, as a write does; a read
    /// takes what is paid once 10 ms worth is), or when to ask again.
    fn allow(
        &mut self,
        now: Instant,
        wanted: usize,
        exact: bool,
        counters: &Tally,
    ) -> Result<usize, Instant> {
        let mut limit = wanted;
        if let Some((max, _)) = self.slice {
            if let Some(t) = self.slice_next.filter(|t| *t > now) {
                return Err(t);
            }
            limit = limit.min(self.piece_size(max));
        }
        if let Some(throttle) = &mut self.throttle {
            let at_least = if exact {
                usize::MAX
            } else {
                (throttle.quantum() / 5).max(1)
            };
            match throttle.allow(now, limit, at_least) {
                Ok(n) => {
                    self.bw_waiting = false;
                    limit = limit.min(n);
                }
                Err(at) => {
                    if !self.bw_waiting {
                        self.bw_waiting = true;
                        counters.fault(FaultKind::Bandwidth);
                    }
                    return Err(at);
                }
            }
        }
        Ok(limit.max(1))
    }

    /// `k` bytes passed out of `wanted`.
    fn commit(&mut self, k: usize, wanted: usize, now: Instant, counters: &Tally) {
        if k == 0 {
            return;
        }
        if let Some((_, delay)) = self.slice {
            if wanted > k {
                counters.fault(FaultKind::Slice);
            }
            self.piece = None;
            self.pieces += 1;
            if !delay.is_zero() {
                self.slice_next = Some(now + delay);
            }
        }
        if let Some(throttle) = &mut self.throttle {
            throttle.commit(now, k);
        }
    }
}

#[derive(Debug)]
struct Lane {
    cfg: DirectionFaults,
    latencies: [Option<Latency>; MAX_STACKED],
    seed: u64,
    seq: u64,
    /// Bytes passed since the interruption in force was set.
    since: u64,
    /// Bytes passed since the truncation in force came into force.
    counted: u64,
    flow: Flow,
    /// The interruption is configured and has not begun yet.
    armed: bool,
    /// When the interruption in force was set (time onsets count from it).
    onset_epoch: Instant,
    /// A data onset: when it fires (set by the first byte).
    data_onset: Option<Instant>,
    /// A timeout interruption has begun (a switch removing it closes the
    /// connection).
    timeout_begun: bool,
    /// A timeout interruption closes the connection then.
    close_at: Option<Instant>,
    /// Truncated: read gives EOF, write gives `BrokenPipe`.
    truncated: bool,
    shutdown_pending: bool,
    close_started: Option<Instant>,
    inner_eof: bool,
    eof_at: Option<Instant>,
    gate: Gate,
    queue: Option<Box<DelayQueue>>,
    timer: Timer,
}

impl Lane {
    fn new(now: Instant) -> Self {
        Self {
            cfg: DirectionFaults::new(),
            latencies: [None; MAX_STACKED],
            seed: 0,
            seq: 0,
            since: 0,
            counted: 0,
            flow: Flow::Normal,
            armed: false,
            onset_epoch: now,
            data_onset: None,
            timeout_begun: false,
            close_at: None,
            truncated: false,
            shutdown_pending: false,
            close_started: None,
            inner_eof: false,
            eof_at: None,
            gate: Gate::default(),
            queue: None,
            timer: Timer::default(),
        }
    }

    /// Takes `cfg` (at first, or after a switch). What a switch leaves the
    /// same keeps its state; returns whether a timeout that had begun was
    /// switched away, which closes the connection (toxiproxy).
    fn configure(&mut self, cfg: DirectionFaults, seed: u64, now: Instant) -> bool {
        let old = self.cfg;
        self.cfg = cfg;
        // A latency switched off or changed releases what it holds
        // (toxiproxy flushes a removed latency toxic's buffer).
        if old.latencies() != cfg.latencies() {
            if let Some(q) = self.queue.as_mut() {
                q.release_all(now);
            }
            if let Some(t) = self.eof_at.as_mut() {
                *t = (*t).min(now);
            }
        }
        self.latencies = cfg.latencies();
        self.seed = seed;
        self.seq = 0;
        // Truncation keeps counting while one stays in force.
        if old.truncate_after.is_none() || cfg.truncate_after.is_none() {
            self.counted = 0;
        }
        if (old.slice, old.slice_variation, old.bandwidth) != (cfg.slice, cfg.slice_variation, cfg.bandwidth)
        {
            self.gate = Gate::new(&cfg, seed);
        }
        let mut close = false;
        if old.interrupt != cfg.interrupt {
            close = self.timeout_begun;
            self.since = 0;
            self.flow = Flow::Normal;
            self.armed = cfg.interrupt.is_some();
            self.onset_epoch = now;
            self.data_onset = None;
            self.timeout_begun = false;
            self.close_at = None;
        }
        if (cfg.has_latency() || self.data_armed()) && self.queue.is_none() {
            self.queue = Some(Box::new(DelayQueue::standard()));
        }
        close
    }

    /// A data onset waits for (or holds) bytes.
    fn data_armed(&self) -> bool {
        self.armed && matches!(self.cfg.interrupt, Some((_, Onset::AfterData(_))))
    }

    fn is_timed(&self) -> bool {
        let c = &self.cfg;
        c.has_latency()
            || c.bandwidth.is_some()
            || c.slice.is_some_and(|(_, d)| !d.is_zero())
            || !c.slow_close.is_zero()
            || self.queue.is_some()
            || matches!(
                c.interrupt,
                Some((Interrupt::Timeout(_), _) | (_, Onset::After(_) | Onset::AfterData(_)))
            )
    }

    fn is_clean(&self) -> bool {
        self.cfg.is_none()
            && self.flow == Flow::Normal
            && !self.truncated
            && !self.shutdown_pending
            && self.close_started.is_none()
            && self.queue.as_ref().is_none_or(|q| q.is_empty())
    }

    fn uses_queue(&self) -> bool {
        self.queue
            .as_ref()
            .is_some_and(|q| self.cfg.has_latency() || self.data_armed() || !q.is_empty())
    }

    fn next_delay(&mut self) -> Duration {
        let n = self.seq;
        let mut total = Duration::ZERO;
        for (i, latency) in self.latencies.iter().enumerate() {
            let Some(latency) = latency else { continue };
            // The core's counter-based stream: chunk `n` of this direction
            // draws the same delay whatever happened before it; each stacked
            // latency draws from its own stream.
            let seed = if i == 0 {
                self.seed
            } else {
                derive(self.seed ^ STACK_SALT, i as u64)
            };
            let d = latency
                .sample(&mut SplitMix::new(nth(seed, n)))
                .min(MAX_FAULT_DURATION);
            total = total.saturating_add(d);
        }
        if self.latencies.iter().any(Option::is_some) {
            self.seq += 1;
        }
        total
    }

    /// When a chunk arriving now is released: its latency, and a data
    /// onset holds it until the interruption begins.
    fn release_at(&mut self, now: Instant) -> Instant {
        let mut at = now + self.next_delay();
        if self.data_armed() {
            if let Some((_, Onset::AfterData(d))) = self.cfg.interrupt {
                at = at.max(*self.data_onset.get_or_insert(now + d));
            }
        }
        at
    }

    /// When bytes held by a data onset that has seen its first byte may be
    /// looked at again (the onset's time).
    fn held_until(&self) -> Option<Instant> {
        if self.data_armed() { self.data_onset } else { None }
    }

    /// Bytes still allowed before truncation or the byte onset.
    fn byte_limit(&self) -> u64 {
        let mut limit = u64::MAX;
        if let Some(t) = self.cfg.truncate_after {
            limit = limit.min(t.saturating_sub(self.counted));
        }
        if self.armed {
            if let Some((_, Onset::AfterBytes(n))) = self.cfg.interrupt {
                limit = limit.min(n.saturating_sub(self.since));
            }
        }
        limit
    }

    fn passed(&mut self, k: usize) {
        self.since += k as u64;
        self.counted += k as u64;
    }

    fn truncate_due(&self) -> bool {
        !self.truncated && self.cfg.truncate_after.is_some_and(|t| self.counted >= t)
    }

    fn discard_queue(&mut self) -> usize {
        self.queue.as_mut().map_or(0, |q| q.clear())
    }
}

#[derive(Debug)]
struct Core {
    counters: Tally,
    source: Source,
    /// The faults last applied.
    applied: StreamFaults,
    /// The source's generation for which the pair waker is registered to be
    /// woken at its next switch.
    watched: Option<u64>,
    /// Nothing to do but forward and count.
    fast: bool,
    conn: Conn,
    /// What closed the connection, for the errors of later calls.
    closed_by: FaultKind,
    /// A switch removed a timeout that had begun: close at the next poll.
    close_pending: bool,
    epoch: Instant,
    read: Lane,
    write: Lane,
    pair: Option<(Arc<Pair>, Waker)>,
    events: Timer,
    /// Some fault needs the clock (or a switch may bring one in).
    timed: bool,
}

impl Core {
    fn target_name(&self) -> Option<&Arc<str>> {
        match &self.source {
            Source::Target(ctl) => Some(ctl.target_name()),
            _ => None,
        }
    }

    fn reset_error(&self) -> io::Error {
        InjectedIoError::io(
            io::ErrorKind::ConnectionReset,
            FaultKind::Reset,
            self.target_name(),
        )
    }

    fn closed_error(&self) -> io::Error {
        InjectedIoError::io(io::ErrorKind::BrokenPipe, self.closed_by, self.target_name())
    }

    fn new(faults: &StreamFaults, source: Source) -> Self {
        let now = Instant::now();
        let mut core = Self {
            counters: Tally::default(),
            source,
            applied: StreamFaults::none(),
            watched: None,
            fast: true,
            conn: Conn::Open,
            closed_by: FaultKind::Timeout,
            close_pending: false,
            epoch: now,
            read: Lane::new(now),
            write: Lane::new(now),
            pair: None,
            events: Timer::default(),
            timed: false,
        };
        core.apply(faults, now);
        core
    }

    fn apply(&mut self, faults: &StreamFaults, now: Instant) {
        self.applied = *faults;
        self.epoch = now;
        let read = self.read.configure(faults.read, faults.seed ^ READ_SALT, now);
        let write = self.write.configure(faults.write, faults.seed ^ WRITE_SALT, now);
        self.close_pending |= read || write;
        self.timed = self.read.is_timed() || self.write.is_timed();
        self.update_fast();
    }

    /// The clock, read only when some fault needs it.
    fn now(&self) -> Instant {
        if self.timed { Instant::now() } else { self.epoch }
    }

    /// The caller is about to park on `Pending`: remember its waker so an
    /// event fired from the other direction, or a switch of the stream's
    /// faults, can wake it.
    fn note_pending(&mut self, dir: Dir, waker: &Waker) {
        let dynamic = !matches!(self.source, Source::Static);
        if self.timed && !dynamic {
            return; // already registered by `prepare`
        }
        let pair_waker = self.waker();
        if let Some((pair, _)) = &self.pair {
            pair.register(dir, waker);
        }
        if dynamic {
            self.watch_source(&pair_waker);
        }
    }

    /// Asks the switch or target to wake the pair at its next change (once
    /// per change: they forget their watchers when they wake them).
    fn watch_source(&mut self, pair_waker: &Waker) {
        let (seen, stale) = match &self.source {
            Source::Static => return,
            Source::Switch { switch, seen, id } => {
                if self.watched != Some(*seen) {
                    switch.park(*id, pair_waker);
                }
                (*seen, switch.generation() != *seen)
            }
            Source::Target(ctl) => {
                if self.watched != Some(ctl.seen_generation()) {
                    ctl.watch(pair_waker);
                }
                (ctl.seen_generation(), ctl.is_stale())
            }
        };
        self.watched = Some(seen);
        if stale {
            // Switched while we registered: poll again now.
            pair_waker.wake_by_ref();
        }
    }

    fn update_fast(&mut self) {
        self.fast = self.conn == Conn::Open && self.read.is_clean() && self.write.is_clean();
    }

    #[inline]
    fn is_fast(&self) -> bool {
        self.fast
            && match &self.source {
                Source::Static => true,
                Source::Switch { switch, seen, .. } => switch.generation() == *seen,
                Source::Target(ctl) => !ctl.is_stale(),
            }
    }

    #[inline]
    fn is_dynamic(&self) -> bool {
        !matches!(self.source, Source::Static)
    }

    fn refresh(&mut self, now: Instant) {
        let next = match &mut self.source {
            Source::Static => None,
            Source::Switch { switch, seen, id } => {
                if switch.generation() == *seen {
                    return;
                }
                let (generation, faults) = switch.load();
                *seen = generation;
                Some(faults.with_seed(derive(faults.seed, *id)))
            }
            Source::Target(ctl) => {
                let before = ctl.version();
                if !ctl.refresh(true) {
                    return;
                }
                let faults = ctl.stream();
                // Re-decided: apply (onsets count from now); otherwise only a
                // change of what is in force (enable/disable) matters.
                (ctl.version() != before || faults != self.applied).then_some(faults)
            }
        };
        if let Some(faults) = next {
            self.apply(&faults, now);
            self.wake_all();
        }
    }

    fn waker(&mut self) -> Waker {
        let (_, waker) = self.pair.get_or_insert_with(|| {
            let pair = Arc::new(Pair::default());
            (pair.clone(), Waker::from(pair))
        });
        waker.clone()
    }

    fn wake_all(&self) {
        if let Some((_, waker)) = &self.pair {
            waker.wake_by_ref();
        }
    }

    /// Parks a stalled or blackholed direction until the next switch.
    fn park(&self, waker: &Waker) {
        match &self.source {
            Source::Static => {}
            Source::Switch { switch, id, .. } => switch.park(*id, waker),
            Source::Target(ctl) => {
                ctl.watch(waker);
                if ctl.is_stale() {
                    waker.wake_by_ref();
                }
            }
        }
    }

    fn discard_queues(&mut self) {
        let r = self.read.discard_queue();
        self.counters.add_dropped_read(r);
        let w = self.write.discard_queue();
        self.counters.add_dropped_written(w);
    }

    fn reset_conn<T: Resettable>(&mut self, mut inner: Pin<&mut Option<T>>) {
        if let Some(io) = inner.as_ref().as_pin_ref() {
            // An error here only means the close is graceful instead.
            let _ = io.get_ref().prepare_reset();
        }
        inner.set(None);
        self.discard_queues();
        self.conn = Conn::Reset;
        self.fast = false;
        self.wake_all();
    }

    fn close_conn<T>(&mut self, mut inner: Pin<&mut Option<T>>, by: FaultKind) {
        inner.set(None);
        self.discard_queues();
        self.conn = Conn::Closed;
        self.closed_by = by;
        self.fast = false;
        self.wake_all();
    }

    fn split(&mut self, dir: Dir) -> (&mut Lane, &Tally) {
        match dir {
            Dir::Read => (&mut self.read, &self.counters),
            Dir::Write => (&mut self.write, &self.counters),
        }
    }

    fn activate<T: Resettable>(&mut self, dir: Dir, inner: Pin<&mut Option<T>>, now: Instant) {
        let (lane, counters) = self.split(dir);
        lane.armed = false;
        let Some((interrupt, _)) = lane.cfg.interrupt else {
            return;
        };
        tracing::debug!(
            target: "tower_chaos",
            fault = ?interrupt,
            direction = ?dir,
            bytes = lane.since,
            "injecting connection fault"
        );
        match interrupt {
            Interrupt::Reset => {
                counters.fault(FaultKind::Reset);
                self.reset_conn(inner);
            }
            Interrupt::Stall => {
                lane.flow = Flow::Stalled;
                counters.fault(FaultKind::Stall);
            }
            Interrupt::Blackhole | Interrupt::Timeout(_) => {
                lane.flow = Flow::Blackholed;
                if let Interrupt::Timeout(d) = interrupt {
                    // Zero: discard and never close, as toxiproxy's timeout 0.
                    lane.close_at = (!d.is_zero()).then(|| now + d);
                    lane.timeout_begun = true;
                    counters.fault(FaultKind::Timeout);
                } else {
                    counters.fault(FaultKind::Blackhole);
                }
                let n = lane.discard_queue();
                match dir {
                    Dir::Read => counters.add_dropped_read(n),
                    Dir::Write => counters.add_dropped_written(n),
                }
                self.wake_all();
            }
        }
    }

    fn onset_due(&self, lane: &Lane, now: Instant) -> bool {
        lane.armed
            && match lane.cfg.interrupt {
                Some((_, Onset::Immediately)) => true,
                Some((_, Onset::AfterBytes(n))) => lane.since >= n,
                Some((_, Onset::After(d))) => lane.onset_epoch + d <= now,
                Some((_, Onset::AfterData(_))) => lane.data_onset.is_some_and(|t| t <= now),
                None => false,
            }
    }

    /// Common start of every slow-path poll: take switched faults, fire due
    /// events, arm the event timer. Returns the pair waker to poll with.
    fn prepare<T: Resettable>(
        &mut self,
        mut inner: Pin<&mut Option<T>>,
        dir: Dir,
        cx: &mut Context<'_>,
    ) -> io::Result<Option<Waker>> {
        if !self.timed && matches!(self.source, Source::Static) {
            // Untimed faults (truncation, byte onsets): poll with the
            // caller's waker; `note_pending` records it for cross-task wakes.
            let now = self.epoch;
            for d in [Dir::Read, Dir::Write] {
                if self.conn == Conn::Open && self.onset_due(self.lane_ref(d), now) {
                    self.activate(d, inner.as_mut(), now);
                }
            }
            return Ok(None);
        }
        let waker = self.waker();
        if let Some((pair, _)) = &self.pair {
            pair.register(dir, cx.waker());
        }
        let mut pcx = Context::from_waker(&waker);
        loop {
            let now = Instant::now();
            self.refresh(now);
            if self.close_pending {
                self.close_pending = false;
                if self.conn == Conn::Open {
                    self.close_conn(inner.as_mut(), FaultKind::Timeout);
                }
            }
            if self.conn != Conn::Open {
                return Ok(Some(waker));
            }
            for d in [Dir::Read, Dir::Write] {
                if self.onset_due(self.lane_ref(d), now) {
                    self.activate(d, inner.as_mut(), now);
                }
                if self.lane_ref(d).close_at.is_some_and(|t| t <= now) {
                    self.close_conn(inner.as_mut(), FaultKind::Timeout);
                }
                if self.conn != Conn::Open {
                    return Ok(Some(waker));
                }
            }
            let mut next: Option<Instant> = None;
            for d in [Dir::Read, Dir::Write] {
                let lane = self.lane_ref(d);
                let mut candidates = [lane.close_at, None];
                if lane.armed {
                    match lane.cfg.interrupt {
                        Some((_, Onset::After(d))) => candidates[1] = Some(lane.onset_epoch + d),
                        Some((_, Onset::AfterData(_))) => candidates[1] = lane.data_onset,
                        _ => {}
                    }
                }
                for t in candidates.into_iter().flatten() {
                    next = Some(next.map_or(t, |n| n.min(t)));
                }
            }
            let Some(at) = next else {
                return Ok(Some(waker));
            };
            match self.events.wait(at, &mut pcx) {
                Poll::Ready(Ok(())) => {}
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Pending => return Ok(Some(waker)),
            }
        }
    }

    fn lane_ref(&self, dir: Dir) -> &Lane {
        match dir {
            Dir::Read => &self.read,
            Dir::Write => &self.write,
        }
    }

    /// After `k` bytes passed in `dir`: truncation and byte onsets.
    fn after_bytes<T: AsyncWrite + Resettable>(
        &mut self,
        dir: Dir,
        mut inner: Pin<&mut Option<T>>,
        cx: &mut Context<'_>,
        now: Instant,
    ) {
        let (lane, counters) = self.split(dir);
        if lane.truncate_due() {
            lane.truncated = true;
            counters.fault(FaultKind::Truncate);
            tracing::debug!(
                target: "tower_chaos",
                direction = ?dir,
                bytes = lane.since,
                "injecting truncation"
            );
            // Like toxiproxy's limit_data, truncation closes the whole
            // connection: at once for reads (the reader already has its
            // bytes), after the bytes written so far and a FIN for writes.
            match dir {
                Dir::Read => {
                    self.close_conn(inner.as_mut(), FaultKind::Truncate);
                    return;
                }
                Dir::Write => {
                    self.write.shutdown_pending = true;
                    let _ = self.finish_truncation(inner.as_mut(), cx);
                    if self.conn != Conn::Open {
                        return;
                    }
                }
            }
        }
        if self.onset_due(self.lane_ref(dir), now) {
            self.activate(dir, inner, now);
        }
    }

    /// Completes a write truncation: the bytes held by write latency go
    /// out, then the FIN, then the connection is closed. `Ready` once closed
    /// (or when there is no truncation to complete).
    fn finish_truncation<T: AsyncWrite>(
        &mut self,
        mut inner: Pin<&mut Option<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if !self.write.truncated || self.conn != Conn::Open {
            return Poll::Ready(Ok(()));
        }
        match self.drive_write(inner.as_mut(), cx) {
            Poll::Ready(Ok(())) => {}
            other => return other,
        }
        if self.finish_shutdown(inner.as_mut(), cx).is_pending() {
            return Poll::Pending;
        }
        self.close_conn(inner, FaultKind::Truncate);
        Poll::Ready(Ok(()))
    }

    /// Sends the FIN a write truncation owes; `Ready` once done (or failed:
    /// the connection is then as closed as it gets).
    fn finish_shutdown<T: AsyncWrite>(
        &mut self,
        inner: Pin<&mut Option<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<()> {
        if !self.write.shutdown_pending {
            return Poll::Ready(());
        }
        let Some(io) = inner.as_pin_mut() else {
            self.write.shutdown_pending = false;
            return Poll::Ready(());
        };
        match io.poll_shutdown(cx) {
            Poll::Ready(_) => {
                self.write.shutdown_pending = false;
                Poll::Ready(())
            }
            Poll::Pending => Poll::Pending,
        }
    }

    /// Moves due bytes of the write latency queue to the inner stream.
    /// `Ready(Ok)` once the queue is empty.
    fn drive_write<T: AsyncWrite>(
        &mut self,
        mut inner: Pin<&mut Option<T>>,
        cx: &mut Context<'_>,
    ) -> Poll<io::Result<()>> {
        if self.write.flow == Flow::Stalled {
            self.park(cx.waker());
            return Poll::Pending;
        }
        let lane = &mut self.write;
        if let Some(at) = lane.held_until() {
            // A data onset holds the bytes until the interruption begins,
            // which the next poll's `prepare` fires.
            if at > Instant::now() {
                match lane.timer.wait(at, cx) {
                    Poll::Ready(Ok(())) => {}
                    other => return other,
                }
            }
            cx.waker().wake_by_ref();
            return Poll::Pending;
        }
        loop {
            let Some(queue) = lane.queue.as_mut() else {
                return Poll::Ready(Ok(()));
            };
            let now = Instant::now();
            let due = match queue.due(now, WRITE_BATCH) {
                Err(None) => return Poll::Ready(Ok(())),
                Err(Some(at)) => match lane.timer.wait(at, cx) {
                    Poll::Ready(Ok(())) => continue,
                    other => return other,
                },
                Ok(n) => n,
            };
            let allowed = match lane.gate.allow(now, due, true, &self.counters) {
                Ok(g) => g,
                Err(at) => match lane.timer.wait(at, cx) {
                    Poll::Ready(Ok(())) => continue,
                    other => return other,
                },
            };
            let m = due.min(allowed);
            let Some(io) = inner.as_mut().as_pin_mut() else {
                return Poll::Ready(Err(self.reset_error()));
            };
            match io.poll_write(cx, queue.front(m)) {
                Poll::Pending => return Poll::Pending,
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(k)) => {
                    queue.consume(k);
                    lane.gate.commit(k, due, now, &self.counters);
                }
            }
        }
    }

    /// Reads ahead into the read latency queue, stamping each chunk.
    fn fill_read<T: AsyncRead>(
        &mut self,
        mut inner: Pin<&mut Option<T>>,
        cx: &mut Context<'_>,
        now: Instant,
    ) -> io::Result<()> {
        let lane = &mut self.read;
        while !lane.inner_eof {
            let Some(queue) = lane.queue.as_mut() else {
                return Ok(());
            };
            if queue.free() == 0 {
                return Ok(());
            }
            let Some(io) = inner.as_mut().as_pin_mut() else {
                return Ok(());
            };
            let mut rb = ReadBuf::new(queue.spare_mut());
            let n = match io.poll_read(cx, &mut rb) {
                Poll::Pending => return Ok(()),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Ready(Ok(())) => rb.filled().len(),
            };
            let release = lane.release_at(now);
            let Some(queue) = lane.queue.as_mut() else {
                return Ok(());
            };
            if n == 0 {
                lane.inner_eof = true;
                lane.eof_at = Some(queue.release_time(release));
                return Ok(());
            }
            if release > now {
                self.counters.fault(FaultKind::StreamLatency);
            }
            queue.commit(n, release);
        }
        Ok(())
    }

    /// Blackholed read: drain and discard what the peer sends.
    fn drain_read<T: AsyncRead>(
        &mut self,
        inner: Pin<&mut Option<T>>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> io::Result<()> {
        let n = self.read.discard_queue();
        self.counters.add_dropped_read(n);
        if self.read.inner_eof {
            return Ok(());
        }
        let Some(mut io) = inner.as_pin_mut() else {
            return Ok(());
        };
        let scratch = buf.initialize_unfilled();
        for _ in 0..32 {
            let mut rb = ReadBuf::new(&mut scratch[..]);
            match io.as_mut().poll_read(cx, &mut rb) {
                Poll::Pending => return Ok(()),
                Poll::Ready(Err(e)) => return Err(e),
                Poll::Ready(Ok(())) => {
                    let n = rb.filled().len();
                    if n == 0 {
                        self.read.inner_eof = true;
                        return Ok(());
                    }
                    self.counters.add_dropped_read(n);
                }
            }
        }
        // More may be waiting: come back after other tasks ran.
        cx.waker().wake_by_ref();
        Ok(())
    }

    /// EOF reached the read side: apply queued-EOF latency and slow close.
    fn read_eof(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        loop {
            let now = Instant::now();
            let lane = &mut self.read;
            let mut wait = lane.eof_at.filter(|t| *t > now);
            if wait.is_none() && !lane.cfg.slow_close.is_zero() {
                let start = *lane.close_started.get_or_insert_with(|| {
                    self.counters.fault(FaultKind::SlowClose);
                    now
                });
                wait = Some(start + lane.cfg.slow_close).filter(|t| *t > now);
            }
            match wait {
                None => return Poll::Ready(Ok(())),
                Some(at) => match lane.timer.wait(at, cx) {
                    Poll::Ready(Ok(())) => {}
                    other => return other,
                },
            }
        }
    }
}

/// Runs a slow-path poll `body` after [`Core::prepare`] (switched faults
/// taken, due events fired, the event timer armed), with the pair waker
/// `prepare` returns, or the caller's.
fn prepared<T: Resettable, O>(
    mut inner: Pin<&mut Option<T>>,
    core: &mut Core,
    dir: Dir,
    cx: &mut Context<'_>,
    body: impl FnOnce(Pin<&mut Option<T>>, &mut Core, &mut Context<'_>) -> Poll<io::Result<O>>,
) -> Poll<io::Result<O>> {
    let waker = match core.prepare(inner.as_mut(), dir, cx) {
        Ok(w) => w,
        Err(e) => return Poll::Ready(Err(e)),
    };
    match &waker {
        Some(w) => body(inner, core, &mut Context::from_waker(w)),
        None => body(inner, core, cx),
    }
}

fn poll_read_slow<T: AsyncRead + AsyncWrite + Resettable>(
    inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    prepared(inner, core, Dir::Read, cx, |inner, core, cx| {
        poll_read_body(inner, core, cx, buf)
    })
}

fn poll_read_body<T: AsyncRead + AsyncWrite + Resettable>(
    mut inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
    buf: &mut ReadBuf<'_>,
) -> Poll<io::Result<()>> {
    if core.conn == Conn::Open && core.write.queue.as_ref().is_some_and(|q| !q.is_empty()) {
        // Bytes held by write latency go out even while the caller only reads.
        let _ = core.drive_write(inner.as_mut(), cx);
    }
    let _ = core.finish_truncation(inner.as_mut(), cx);
    loop {
        match core.conn {
            Conn::Reset => return Poll::Ready(Err(core.reset_error())),
            Conn::Closed => return Poll::Ready(Ok(())),
            Conn::Open => {}
        }
        if core.read.truncated || buf.remaining() == 0 {
            return Poll::Ready(Ok(()));
        }
        match core.read.flow {
            Flow::Normal => {}
            Flow::Stalled => {
                core.park(cx.waker());
                return Poll::Pending;
            }
            Flow::Blackholed => {
                if let Err(e) = core.drain_read(inner.as_mut(), cx, buf) {
                    return Poll::Ready(Err(e));
                }
                core.park(cx.waker());
                return Poll::Pending;
            }
        }
        let now = core.now();
        let byte_limit = core.read.byte_limit();
        if byte_limit == 0 {
            // Truncation (or a byte onset) at a boundary already reached.
            core.after_bytes(Dir::Read, inner.as_mut(), cx, now);
            if core.read.truncated || core.conn != Conn::Open || core.read.flow != Flow::Normal {
                continue;
            }
        }
        let wanted = buf
            .remaining()
            .min(usize::try_from(byte_limit).unwrap_or(usize::MAX));
        let queued = core.read.uses_queue();
        if queued {
            // Read ahead first: chunks are stamped when they arrive, even
            // while bandwidth or slicing hold the reader back.
            if let Err(e) = core.fill_read(inner.as_mut(), cx, now) {
                return Poll::Ready(Err(e));
            }
        }
        let limit = match core.read.gate.allow(now, wanted, false, &core.counters) {
            Ok(g) => wanted.min(g),
            Err(at) => match core.read.timer.wait(at, cx) {
                Poll::Ready(Ok(())) => continue,
                other => return other,
            },
        };
        let k = if queued {
            if let Some(at) = core.read.held_until() {
                // A data onset holds the bytes until the interruption begins.
                if at <= now {
                    core.activate(Dir::Read, inner.as_mut(), now);
                    continue;
                }
                match core.read.timer.wait(at, cx) {
                    Poll::Ready(Ok(())) => continue,
                    other => return other,
                }
            }
            let lane = &mut core.read;
            let Some(queue) = lane.queue.as_mut() else {
                continue;
            };
            match queue.due(now, limit) {
                Ok(n) => {
                    let m = n.min(limit);
                    buf.put_slice(queue.front(m));
                    queue.consume(m);
                    m
                }
                Err(Some(at)) => match lane.timer.wait(at, cx) {
                    Poll::Ready(Ok(())) => continue,
                    other => return other,
                },
                Err(None) if lane.inner_eof => return core.read_eof(cx),
                Err(None) => return Poll::Pending,
            }
        } else {
            if core.read.inner_eof {
                return core.read_eof(cx);
            }
            let Some(io) = inner.as_mut().as_pin_mut() else {
                return Poll::Ready(Err(core.reset_error()));
            };
            let k = if limit >= buf.remaining() {
                let before = buf.filled().len();
                match io.poll_read(cx, buf) {
                    Poll::Ready(Ok(())) => buf.filled().len() - before,
                    other => return other,
                }
            } else {
                let mut sub = ReadBuf::new(buf.initialize_unfilled_to(limit));
                match io.poll_read(cx, &mut sub) {
                    Poll::Ready(Ok(())) => {}
                    other => return other,
                }
                let k = sub.filled().len();
                buf.advance(k);
                k
            };
            if k == 0 {
                core.read.inner_eof = true;
                return core.read_eof(cx);
            }
            k
        };
        core.read.passed(k);
        core.counters.add_read(k);
        core.read.gate.commit(k, wanted, now, &core.counters);
        core.after_bytes(Dir::Read, inner.as_mut(), cx, now);
        return Poll::Ready(Ok(()));
    }
}

fn poll_write_slow<T: AsyncWrite + Resettable>(
    inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    prepared(inner, core, Dir::Write, cx, |inner, core, cx| {
        poll_write_body(inner, core, cx, buf)
    })
}

fn poll_write_body<T: AsyncWrite + Resettable>(
    mut inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
    buf: &[u8],
) -> Poll<io::Result<usize>> {
    loop {
        match core.conn {
            Conn::Reset => return Poll::Ready(Err(core.reset_error())),
            Conn::Closed => {
                // Refused after a fault closed the connection: dropped.
                core.counters.add_dropped_written(buf.len());
                return Poll::Ready(Err(core.closed_error()));
            }
            Conn::Open => {}
        }
        if core.write.truncated {
            match core.finish_truncation(inner.as_mut(), cx) {
                Poll::Ready(Ok(())) => continue,
                other => return other.map_ok(|()| 0),
            }
        }
        if buf.is_empty() {
            return Poll::Ready(Ok(0));
        }
        match core.write.flow {
            Flow::Normal => {}
            Flow::Stalled => {
                core.park(cx.waker());
                return Poll::Pending;
            }
            Flow::Blackholed => {
                // Reported written, never delivered.
                core.counters.add_written(buf.len());
                core.counters.add_dropped_written(buf.len());
                return Poll::Ready(Ok(buf.len()));
            }
        }
        let now = core.now();
        let byte_limit = core.write.byte_limit();
        if byte_limit == 0 {
            core.after_bytes(Dir::Write, inner.as_mut(), cx, now);
            if core.write.truncated || core.conn != Conn::Open || core.write.flow != Flow::Normal {
                continue;
            }
        }
        let wanted = buf.len().min(usize::try_from(byte_limit).unwrap_or(usize::MAX));
        let k = if core.write.uses_queue() {
            if let Poll::Ready(Err(e)) = core.drive_write(inner.as_mut(), cx) {
                return Poll::Ready(Err(e));
            }
            let release = core.write.release_if_room(now);
            let Some(release) = release else {
                // Queue full: `drive_write` registered the wake-up.
                return Poll::Pending;
            };
            if release > now {
                core.counters.fault(FaultKind::StreamLatency);
            }
            let Some(queue) = core.write.queue.as_mut() else {
                continue;
            };
            let k = queue.push(&buf[..wanted], release);
            // Zero-delay bytes can leave at once.
            if let Poll::Ready(Err(e)) = core.drive_write(inner.as_mut(), cx) {
                return Poll::Ready(Err(e));
            }
            k
        } else {
            let limit = match core.write.gate.allow(now, wanted, true, &core.counters) {
                Ok(g) => wanted.min(g),
                Err(at) => match core.write.timer.wait(at, cx) {
                    Poll::Ready(Ok(())) => continue,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Pending => return Poll::Pending,
                },
            };
            let Some(io) = inner.as_mut().as_pin_mut() else {
                return Poll::Ready(Err(core.reset_error()));
            };
            let k = match io.poll_write(cx, &buf[..limit]) {
                Poll::Ready(Ok(k)) => k,
                other => return other,
            };
            core.write.gate.commit(k, wanted, now, &core.counters);
            k
        };
        core.write.passed(k);
        core.counters.add_written(k);
        core.after_bytes(Dir::Write, inner.as_mut(), cx, now);
        return Poll::Ready(Ok(k));
    }
}

impl Lane {
    /// The release time for a new write chunk, if the queue has room for
    /// one.
    fn release_if_room(&mut self, now: Instant) -> Option<Instant> {
        if self.queue.as_ref().is_none_or(|q| q.free() == 0) {
            return None;
        }
        Some(self.release_at(now))
    }
}

fn poll_flush_slow<T: AsyncWrite + Resettable>(
    inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    prepared(inner, core, Dir::Write, cx, |inner, core, cx| {
        poll_flush_body(inner, core, cx)
    })
}

fn poll_flush_body<T: AsyncWrite + Resettable>(
    mut inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    match core.conn {
        Conn::Reset => return Poll::Ready(Err(core.reset_error())),
        // Nothing is left to flush: what was written went out before the
        // close (clients such as hyper flush after reading EOF).
        Conn::Closed => return Poll::Ready(Ok(())),
        Conn::Open => {}
    }
    if core.write.truncated {
        return core.finish_truncation(inner.as_mut(), cx);
    }
    if core.write.flow == Flow::Stalled && core.write.queue.as_ref().is_some_and(|q| !q.is_empty()) {
        core.park(cx.waker());
        return Poll::Pending;
    }
    match core.drive_write(inner.as_mut(), cx) {
        Poll::Ready(Ok(())) => {}
        other => return other,
    }
    if core.finish_shutdown(inner.as_mut(), cx).is_pending() {
        return Poll::Pending;
    }
    match inner.as_pin_mut() {
        Some(io) => io.poll_flush(cx),
        None => Poll::Ready(Err(core.reset_error())),
    }
}

fn poll_shutdown_slow<T: AsyncWrite + Resettable>(
    inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    prepared(inner, core, Dir::Write, cx, |inner, core, cx| {
        poll_shutdown_body(inner, core, cx)
    })
}

fn poll_shutdown_body<T: AsyncWrite + Resettable>(
    mut inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    match core.conn {
        Conn::Reset => return Poll::Ready(Err(core.reset_error())),
        Conn::Closed => return Poll::Ready(Ok(())),
        Conn::Open => {}
    }
    if core.write.truncated {
        return core.finish_truncation(inner.as_mut(), cx);
    }
    match core.write.flow {
        Flow::Normal => {}
        Flow::Stalled => {
            core.park(cx.waker());
            return Poll::Pending;
        }
        // The FIN is discarded with the bytes: the connection stays open.
        Flow::Blackholed => return Poll::Ready(Ok(())),
    }
    match core.drive_write(inner.as_mut(), cx) {
        Poll::Ready(Ok(())) => {}
        other => return other,
    }
    if !core.write.truncated && !core.write.cfg.slow_close.is_zero() {
        loop {
            let now = Instant::now();
            let lane = &mut core.write;
            let start = *lane.close_started.get_or_insert_with(|| {
                core.counters.fault(FaultKind::SlowClose);
                now
            });
            let at = start + lane.cfg.slow_close;
            if at <= now {
                break;
            }
            match lane.timer.wait(at, cx) {
                Poll::Ready(Ok(())) => {}
                other => return other,
            }
        }
    }
    core.write.shutdown_pending = false;
    match inner.as_pin_mut() {
        Some(io) => io.poll_shutdown(cx),
        None => Poll::Ready(Ok(())),
    }
}

impl<T: AsyncRead + AsyncWrite + Resettable> AsyncRead for ChaosStream<T> {
    #[inline]
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        if this.core.is_fast() {
            if let Some(io) = this.inner.as_mut().as_pin_mut() {
                let before = buf.filled().len();
                let res = io.poll_read(cx, buf);
                match res {
                    Poll::Ready(Ok(())) => this.core.counters.add_read(buf.filled().len() - before),
                    Poll::Pending if this.core.is_dynamic() => this.core.note_pending(Dir::Read, cx.waker()),
                    _ => {}
                }
                return res;
            }
        }
        let res = poll_read_slow(this.inner, this.core, cx, buf);
        if res.is_pending() {
            this.core.note_pending(Dir::Read, cx.waker());
        }
        res
    }
}

impl<T: AsyncRead + AsyncWrite + Resettable> AsyncWrite for ChaosStream<T> {
    #[inline]
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        let mut this = self.project();
        if this.core.is_fast() {
            if let Some(io) = this.inner.as_mut().as_pin_mut() {
                let res = io.poll_write(cx, buf);
                match res {
                    Poll::Ready(Ok(n)) => this.core.counters.add_written(n),
                    Poll::Pending if this.core.is_dynamic() => this.core.note_pending(Dir::Write, cx.waker()),
                    _ => {}
                }
                return res;
            }
        }
        let res = poll_write_slow(this.inner, this.core, cx, buf);
        if res.is_pending() {
            this.core.note_pending(Dir::Write, cx.waker());
        }
        res
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        let mut this = self.project();
        if this.core.is_fast() {
            if let Some(io) = this.inner.as_mut().as_pin_mut() {
                let res = io.poll_write_vectored(cx, bufs);
                match res {
                    Poll::Ready(Ok(n)) => this.core.counters.add_written(n),
                    Poll::Pending if this.core.is_dynamic() => this.core.note_pending(Dir::Write, cx.waker()),
                    _ => {}
                }
                return res;
            }
        }
        // Faults see one buffer at a time, as the default method does.
        let buf = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &**b);
        let res = poll_write_slow(this.inner, this.core, cx, buf);
        if res.is_pending() {
            this.core.note_pending(Dir::Write, cx.waker());
        }
        res
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        if this.core.is_fast() {
            if let Some(io) = this.inner.as_mut().as_pin_mut() {
                let res = io.poll_flush(cx);
                if res.is_pending() && this.core.is_dynamic() {
                    this.core.note_pending(Dir::Write, cx.waker());
                }
                return res;
            }
        }
        let res = poll_flush_slow(this.inner, this.core, cx);
        if res.is_pending() {
            this.core.note_pending(Dir::Write, cx.waker());
        }
        res
    }

    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut this = self.project();
        if this.core.is_fast() {
            if let Some(io) = this.inner.as_mut().as_pin_mut() {
                let res = io.poll_shutdown(cx);
                if res.is_pending() && this.core.is_dynamic() {
                    this.core.note_pending(Dir::Write, cx.waker());
                }
                return res;
            }
        }
        let res = poll_shutdown_slow(this.inner, this.core, cx);
        if res.is_pending() {
            this.core.note_pending(Dir::Write, cx.waker());
        }
        res
    }
}
