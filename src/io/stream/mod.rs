//! [`ChaosStream`]: stream faults on any tokio `AsyncRead + AsyncWrite`.

mod gate;
mod lane;
mod poll;
mod state;
mod tally;
mod wake;

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use pin_project_lite::pin_project;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use self::lane::Flow;
use self::poll::{poll_flush_slow, poll_read_slow, poll_shutdown_slow, poll_write_slow};
use self::state::{Conn, Core, Source};
use self::tally::{Tally, Tap};
use super::conn::ConnCtl;
use super::faults::Dir;
use super::{ConnInfo, FaultSwitch, IoCounters, Resettable, StreamFaults};
use crate::Target;
use crate::rng::derive;

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

    /// Whether a reset, timeout or truncation fault has closed the
    /// connection.
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
        poll_read_slow(this.inner, this.core, cx, buf)
    }
}

/// What a write-side call moved: bytes for a write, nothing for a flush
/// or a shutdown.
trait Written {
    fn count(&self, core: &mut Core);
}

impl Written for usize {
    #[inline]
    fn count(&self, core: &mut Core) {
        core.counters.add_written(*self);
    }
}

impl Written for () {
    #[inline]
    fn count(&self, _: &mut Core) {}
}

impl<T: AsyncWrite> ChaosStream<T> {
    /// A write-side call: without faults, `fast` on the inner IO (what it
    /// wrote counted, a pending call noted when the faults may change);
    /// with faults or without a connection, `slow`. Generic and inlined: no
    /// allocation, no dynamic call on the path without faults.
    #[inline]
    fn write_side<R: Written>(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        fast: impl FnOnce(Pin<&mut T>, &mut Context<'_>) -> Poll<io::Result<R>>,
        slow: impl FnOnce(Pin<&mut Option<T>>, &mut Core, &mut Context<'_>) -> Poll<io::Result<R>>,
    ) -> Poll<io::Result<R>> {
        let mut this = self.project();
        if this.core.is_fast() {
            if let Some(io) = this.inner.as_mut().as_pin_mut() {
                let res = fast(io, cx);
                match &res {
                    Poll::Ready(Ok(written)) => written.count(this.core),
                    Poll::Pending if this.core.is_dynamic() => this.core.note_pending(Dir::Write, cx.waker()),
                    _ => {}
                }
                return res;
            }
        }
        slow(this.inner, this.core, cx)
    }
}

impl<T: AsyncRead + AsyncWrite + Resettable> AsyncWrite for ChaosStream<T> {
    #[inline]
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        self.write_side(
            cx,
            |io, cx| io.poll_write(cx, buf),
            |inner, core, cx| poll_write_slow(inner, core, cx, buf),
        )
    }

    #[inline]
    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        self.write_side(
            cx,
            |io, cx| io.poll_write_vectored(cx, bufs),
            |inner, core, cx| {
                // Faults see one buffer at a time, as the default method does.
                let buf = bufs.iter().find(|b| !b.is_empty()).map_or(&[][..], |b| &**b);
                poll_write_slow(inner, core, cx, buf)
            },
        )
    }

    #[inline]
    fn is_write_vectored(&self) -> bool {
        self.inner.as_ref().is_some_and(AsyncWrite::is_write_vectored)
    }

    #[inline]
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write_side(cx, |io, cx| io.poll_flush(cx), poll_flush_slow)
    }

    #[inline]
    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.write_side(cx, |io, cx| io.poll_shutdown(cx), poll_shutdown_slow)
    }
}
