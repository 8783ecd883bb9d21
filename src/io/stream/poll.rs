//! The slow-path bodies of the stream's poll functions.

use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::lane::Flow;
use super::state::{Conn, Core};
use crate::FaultKind;
use crate::io::Resettable;
use crate::io::faults::Dir;

/// Runs a slow-path poll `body` after [`Core::prepare`] (switched faults
/// taken, due events fired, the event timer armed), with the pair waker
/// `prepare` returns, or the caller's; on `Pending`, notes the caller's
/// waker ([`Core::note_pending`]) for events from the other direction.
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
    let res = match &waker {
        Some(w) => body(inner, core, &mut Context::from_waker(w)),
        None => body(inner, core, cx),
    };
    if res.is_pending() {
        core.note_pending(dir, cx.waker());
    }
    res
}

pub(super) fn poll_read_slow<T: AsyncRead + AsyncWrite + Resettable>(
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

pub(super) fn poll_write_slow<T: AsyncWrite + Resettable>(
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

pub(super) fn poll_flush_slow<T: AsyncWrite + Resettable>(
    inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    prepared(inner, core, Dir::Write, cx, poll_flush_body)
}

fn poll_flush_body<T: AsyncWrite + Resettable>(
    mut inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    if let Some(done) = closed_or_truncated(inner.as_mut(), core, cx) {
        return done;
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

/// What a flush or a shutdown answers before touching the write lane: an
/// error on a reset connection, done on a closed one (what was written
/// went out before the close; clients such as hyper flush after reading
/// EOF), or the rest of a truncation. `None`: the connection is open.
fn closed_or_truncated<T: AsyncWrite>(
    inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
) -> Option<Poll<io::Result<()>>> {
    match core.conn {
        Conn::Reset => Some(Poll::Ready(Err(core.reset_error()))),
        Conn::Closed => Some(Poll::Ready(Ok(()))),
        Conn::Open if core.write.truncated => Some(core.finish_truncation(inner, cx)),
        Conn::Open => None,
    }
}

pub(super) fn poll_shutdown_slow<T: AsyncWrite + Resettable>(
    inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    prepared(inner, core, Dir::Write, cx, poll_shutdown_body)
}

fn poll_shutdown_body<T: AsyncWrite + Resettable>(
    mut inner: Pin<&mut Option<T>>,
    core: &mut Core,
    cx: &mut Context<'_>,
) -> Poll<io::Result<()>> {
    if let Some(done) = closed_or_truncated(inner.as_mut(), core, cx) {
        return done;
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
