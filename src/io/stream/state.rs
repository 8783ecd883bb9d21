//! The state both directions of a stream share, and what drives them.

use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll, Waker};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::lane::{Flow, Lane};
use super::tally::Tally;
use super::wake::{Pair, Timer};
use crate::FaultKind;
use crate::io::conn::ConnCtl;
use crate::io::faults::Dir;
use crate::io::{FaultSwitch, InjectedIoError, Interrupt, Onset, Resettable, StreamFaults};
use crate::rng::derive;

const READ_SALT: u64 = 0x5245_4144_0000_0001;
const WRITE_SALT: u64 = 0x5752_4954_0000_0002;
/// The most bytes of the write latency queue looked at per write call.
const WRITE_BATCH: usize = 256 * 1024;

#[derive(Debug)]
pub(super) enum Source {
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Conn {
    Open,
    Reset,
    Closed,
}

#[derive(Debug)]
pub(super) struct Core {
    pub(super) counters: Tally,
    pub(super) source: Source,
    /// The faults last applied.
    pub(super) applied: StreamFaults,
    /// The source's generation for which the pair waker is registered to be
    /// woken at its next switch.
    watched: Option<u64>,
    /// Nothing to do but forward and count.
    fast: bool,
    pub(super) conn: Conn,
    /// What closed the connection, for the errors of later calls.
    closed_by: FaultKind,
    /// A switch removed a timeout that had begun: close at the next poll.
    close_pending: bool,
    epoch: Instant,
    pub(super) read: Lane,
    pub(super) write: Lane,
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

    pub(super) fn reset_error(&self) -> io::Error {
        InjectedIoError::io(
            io::ErrorKind::ConnectionReset,
            FaultKind::Reset,
            self.target_name(),
        )
    }

    pub(super) fn closed_error(&self) -> io::Error {
        InjectedIoError::io(io::ErrorKind::BrokenPipe, self.closed_by, self.target_name())
    }

    pub(super) fn new(faults: &StreamFaults, source: Source) -> Self {
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
    pub(super) fn now(&self) -> Instant {
        if self.timed { Instant::now() } else { self.epoch }
    }

    /// The caller is about to park on `Pending`: remember its waker so an
    /// event fired from the other direction, or a switch of the stream's
    /// faults, can wake it.
    pub(super) fn note_pending(&mut self, dir: Dir, waker: &Waker) {
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
    pub(super) fn is_fast(&self) -> bool {
        self.fast
            && match &self.source {
                Source::Static => true,
                Source::Switch { switch, seen, .. } => switch.generation() == *seen,
                Source::Target(ctl) => !ctl.is_stale(),
            }
    }

    #[inline]
    pub(super) fn is_dynamic(&self) -> bool {
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

    pub(super) fn waker(&mut self) -> Waker {
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
    pub(super) fn park(&self, waker: &Waker) {
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

    pub(super) fn activate<T: Resettable>(&mut self, dir: Dir, inner: Pin<&mut Option<T>>, now: Instant) {
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
    pub(super) fn prepare<T: Resettable>(
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
    pub(super) fn after_bytes<T: AsyncWrite + Resettable>(
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
    pub(super) fn finish_truncation<T: AsyncWrite>(
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
    pub(super) fn finish_shutdown<T: AsyncWrite>(
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
    pub(super) fn drive_write<T: AsyncWrite>(
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
    pub(super) fn fill_read<T: AsyncRead>(
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
    pub(super) fn drain_read<T: AsyncRead>(
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
    pub(super) fn read_eof(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
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
