//! Relaying one proxied connection: a copy loop per direction that also
//! watches both sockets for their peer's close, so that a connection whose
//! peers have both closed is released even when a fault holds its bytes.

use std::future::{Future, poll_fn};
use std::io;
use std::net::Shutdown;
use std::pin::{Pin, pin};
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::io::{ChaosStream, Resettable};

const COPY_BUFFER: usize = 64 * 1024;

/// A socket used through a shared reference, so that the proxy can watch it
/// for its peer's close while a [`ChaosStream`] reads and writes it.
///
/// Reads and writes go through the socket's readiness (`poll_*_ready` then
/// `try_*`), the way tokio's own split halves do; the close watch waits on
/// the socket's waiter list ([`TcpStream::ready`]), so neither steals the
/// other's wake-up.
#[derive(Debug, Clone, Copy)]
pub(super) struct Borrowed<'a>(pub(super) &'a TcpStream);

impl AsyncRead for Borrowed<'_> {
    fn poll_read(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        loop {
            ready!(self.0.poll_read_ready(cx))?;
            match self.0.try_read(buf.initialize_unfilled()) {
                Ok(n) => {
                    buf.advance(n);
                    return Poll::Ready(Ok(()));
                }
                // Readiness was stale (and is now cleared): wait again.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
    }
}

impl AsyncWrite for Borrowed<'_> {
    fn poll_write(self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write(buf) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                res => return Poll::Ready(res),
            }
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        loop {
            ready!(self.0.poll_write_ready(cx))?;
            match self.0.try_write_vectored(bufs) {
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => {}
                res => return Poll::Ready(res),
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        true
    }

    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // TCP has no user-space buffer to flush.
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        // A half-close (FIN), as `TcpStream`'s own `poll_shutdown`.
        Poll::Ready(match socket2::SockRef::from(self.0).shutdown(Shutdown::Write) {
            // The peer is already gone: nothing left to half-close.
            Err(e) if e.kind() == io::ErrorKind::NotConnected => Ok(()),
            res => res,
        })
    }
}

impl Resettable for Borrowed<'_> {
    fn prepare_reset(&self) -> io::Result<()> {
        self.0.set_zero_linger()
    }
}

/// Which side a direction's copy last waited on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Wait {
    Reader,
    Writer,
}

/// One direction's copy: read a chunk, write it all, repeat; on EOF flush
/// and forward the half-close.
#[derive(Debug)]
struct Pump {
    buf: Box<[u8]>,
    pos: usize,
    cap: usize,
    /// The reader gave EOF.
    eof: bool,
    /// EOF forwarded: this direction is over.
    done: bool,
    wait: Option<Wait>,
}

impl Pump {
    fn new() -> Self {
        Self {
            buf: vec![0; COPY_BUFFER].into_boxed_slice(),
            pos: 0,
            cap: 0,
            eof: false,
            done: false,
            wait: None,
        }
    }

    fn poll_copy<R, W>(
        &mut self,
        cx: &mut Context<'_>,
        mut r: Pin<&mut R>,
        mut w: Pin<&mut W>,
    ) -> Poll<io::Result<()>>
    where
        R: AsyncRead + ?Sized,
        W: AsyncWrite + ?Sized,
    {
        if self.done {
            return Poll::Ready(Ok(()));
        }
        loop {
            if self.pos == self.cap && !self.eof {
                let mut rb = ReadBuf::new(&mut self.buf);
                match r.as_mut().poll_read(cx, &mut rb) {
                    Poll::Pending => {
                        self.wait = Some(Wait::Reader);
                        return Poll::Pending;
                    }
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        self.pos = 0;
                        self.cap = n;
                        self.eof = n == 0;
                    }
                }
            }
            while self.pos < self.cap {
                match w.as_mut().poll_write(cx, &self.buf[self.pos..self.cap]) {
                    Poll::Pending => {
                        self.wait = Some(Wait::Writer);
                        return Poll::Pending;
                    }
                    Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                    Poll::Ready(Ok(n)) => self.pos += n,
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                }
            }
            if self.eof {
                self.wait = Some(Wait::Writer);
                ready!(w.as_mut().poll_flush(cx))?;
                ready!(w.as_mut().poll_shutdown(cx))?;
                self.done = true;
                self.wait = None;
                return Poll::Ready(Ok(()));
            }
        }
    }
}

/// How a relayed connection ended.
#[derive(Debug)]
pub(super) enum Relayed {
    /// Both directions forwarded their EOF.
    Finished,
    /// A read or write failed (a reset among them).
    Failed(io::Error),
    /// Both peers had closed while a fault held a direction: released.
    Released,
}

/// Resolves once the peer of `socket` has closed its sending side (FIN or
/// RST), whether or not bytes it sent before are still unread: the kernel
/// reports the close through `EPOLLRDHUP`, which tokio surfaces as
/// `READ_CLOSED` on the `PRIORITY` interest. Elsewhere than Linux it never
/// resolves, and a close is only seen when the copy reads it.
async fn peer_closed(socket: &TcpStream) {
    #[cfg(any(target_os = "linux", target_os = "android"))]
    if let Ok(ready) = socket.ready(tokio::io::Interest::PRIORITY).await {
        if ready.is_read_closed() {
            return;
        }
    }
    #[cfg(not(any(target_os = "linux", target_os = "android")))]
    let _ = socket;
    std::future::pending::<()>().await;
}

/// Polls a close watch once it has not fired yet; remembers when it has.
fn watch(fired: &mut bool, fut: Pin<&mut impl Future<Output = ()>>, cx: &mut Context<'_>) -> bool {
    if !*fired {
        *fired = fut.poll(cx).is_ready();
    }
    *fired
}

/// Copies both ways between `client` and `up` (the upstream socket behind
/// its faults) until both directions are over, one fails, or both peers
/// have closed while a fault (stall, blackhole, timeout) holds an unfinished
/// direction: then nothing the faults hold can reach anyone who still
/// sends, and keeping the connection would only leak its sockets until the
/// faults are switched.
pub(super) async fn relay(
    client: &TcpStream,
    up: &mut ChaosStream<Borrowed<'_>>,
    upstream: &TcpStream,
) -> Relayed {
    let mut client_io = Borrowed(client);
    let mut to_up = Pump::new();
    let mut to_client = Pump::new();
    let mut client_closed = pin!(peer_closed(client));
    let mut upstream_closed = pin!(peer_closed(upstream));
    let (mut client_fin, mut upstream_fin) = (false, false);
    poll_fn(|cx| {
        if let Poll::Ready(Err(e)) = to_up.poll_copy(cx, Pin::new(&mut client_io), Pin::new(&mut *up)) {
            return Poll::Ready(Relayed::Failed(e));
        }
        if let Poll::Ready(Err(e)) = to_client.poll_copy(cx, Pin::new(&mut *up), Pin::new(&mut client_io)) {
            return Poll::Ready(Relayed::Failed(e));
        }
        if to_up.done && to_client.done {
            return Poll::Ready(Relayed::Finished);
        }
        let client_gone = to_up.eof | watch(&mut client_fin, client_closed.as_mut(), cx);
        let upstream_gone = to_client.eof | watch(&mut upstream_fin, upstream_closed.as_mut(), cx);
        // A direction held by a fault: its copy waits on the faulty side
        // (reading the downstream bytes, writing the upstream ones).
        let held_down = !to_client.done && to_client.wait == Some(Wait::Reader) && up.holds(true);
        let held_up = !to_up.done && to_up.wait == Some(Wait::Writer) && up.holds(false);
        if client_gone && upstream_gone && (held_down || held_up) {
            return Poll::Ready(Relayed::Released);
        }
        Poll::Pending
    })
    .await
}

/// Waits until the client closes its sending side (see [`peer_closed`]).
pub(super) async fn client_closed(client: &TcpStream) {
    peer_closed(client).await;
}
