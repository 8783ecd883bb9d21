//! Relaying one proxied connection: a copy loop per direction that also
//! watches both sockets for their peer's close, so that a connection whose
//! peers have both closed is released even when a fault holds its bytes.

use std::future::{Future, poll_fn};
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;

use crate::io::ChaosStream;

const COPY_BUFFER: usize = 64 * 1024;

/// The proxy's side of a client connection: the socket itself, or TLS
/// over it.
pub(super) trait ClientSide: AsyncRead + AsyncWrite + Unpin {
    /// The client's socket (to watch for its close, and to reset it).
    fn socket(&self) -> &TcpStream;
}

impl ClientSide for TcpStream {
    fn socket(&self) -> &TcpStream {
        self
    }
}

#[cfg(feature = "tls")]
impl ClientSide for tokio_rustls::server::TlsStream<TcpStream> {
    fn socket(&self) -> &TcpStream {
        self.get_ref().0
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
            // Fill the buffer while there is room, for large writes (as
            // tokio's `copy` does); a pending read only waits when there
            // is nothing to write.
            if self.cap < self.buf.len() && !self.eof {
                let mut rb = ReadBuf::new(&mut self.buf[self.cap..]);
                match r.as_mut().poll_read(cx, &mut rb) {
                    Poll::Pending if self.pos == self.cap => {
                        self.wait = Some(Wait::Reader);
                        return Poll::Pending;
                    }
                    Poll::Pending => {}
                    Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                    Poll::Ready(Ok(())) => {
                        let n = rb.filled().len();
                        self.cap += n;
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
            self.pos = 0;
            self.cap = 0;
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

type Watch = Pin<Box<dyn Future<Output = ()> + Send>>;

/// A watch for the close of `socket`'s peer, on a duplicate of its
/// descriptor: the copy keeps the socket itself (and tokio's fast path,
/// which clears readiness after a short read), the watch waits on its own
/// registration. Made only for a held connection, so the pass path pays
/// nothing. Without a descriptor to spare (or off Unix) it never fires: the
/// connection is then only released when the faults are switched, as
/// before.
fn watch_close(socket: &TcpStream) -> Watch {
    #[cfg(unix)]
    {
        use std::os::fd::AsFd;
        let dup = socket
            .as_fd()
            .try_clone_to_owned()
            .map(std::net::TcpStream::from)
            .and_then(TcpStream::from_std);
        match dup {
            Ok(dup) => return Box::pin(async move { peer_closed(&dup).await }),
            Err(e) => tracing::debug!(
                target: "tower_chaos",
                error = %e,
                "chaos proxy cannot watch a held connection for its peer's close"
            ),
        }
    }
    #[cfg(not(unix))]
    let _ = socket;
    Box::pin(std::future::pending())
}

/// Whether the peer watched by `watch` has closed, the watch made on first
/// use.
fn closed(watch: &mut Option<Watch>, socket: &TcpStream, cx: &mut Context<'_>) -> bool {
    watch
        .get_or_insert_with(|| watch_close(socket))
        .as_mut()
        .poll(cx)
        .is_ready()
}

/// Copies both ways between `client` and `up` (the upstream socket behind
/// its faults) until both directions are over (the downstream one alone
/// when a fault closed `up`), one fails, or both peers
/// have closed while a fault (stall, blackhole, timeout) holds an unfinished
/// direction: then nothing the faults hold can reach anyone who still
/// sends, and keeping the connection would only leak its sockets until the
/// faults are switched.
pub(super) async fn relay<C: ClientSide>(client: &mut C, up: &mut ChaosStream<TcpStream>) -> Relayed {
    let mut to_up = Pump::new();
    let mut to_client = Pump::new();
    let (mut client_watch, mut upstream_watch) = (None, None);
    let (mut client_fin, mut upstream_fin) = (false, false);
    poll_fn(|cx| {
        if let Poll::Ready(Err(e)) = to_up.poll_copy(cx, Pin::new(&mut *client), Pin::new(&mut *up)) {
            return Poll::Ready(Relayed::Failed(e));
        }
        if let Poll::Ready(Err(e)) = to_client.poll_copy(cx, Pin::new(&mut *up), Pin::new(&mut *client)) {
            return Poll::Ready(Relayed::Failed(e));
        }
        // A fault closed the upstream connection (a truncation closes it
        // whole, as toxiproxy's limit_data does): once the client has what
        // was delivered and its EOF, nothing can flow either way, so the
        // client is closed too rather than kept until it leaves.
        if to_client.done && (to_up.done || up.is_closed()) {
            return Poll::Ready(Relayed::Finished);
        }
        // A direction held by a fault: its copy waits on the faulty side
        // (reading the downstream bytes, writing the upstream ones).
        let held_down = !to_client.done && to_client.wait == Some(Wait::Reader) && up.holds(true);
        let held_up = !to_up.done && to_up.wait == Some(Wait::Writer) && up.holds(false);
        if !(held_down || held_up) {
            return Poll::Pending;
        }
        client_fin = client_fin || to_up.eof || closed(&mut client_watch, client.socket(), cx);
        if client_fin {
            upstream_fin = upstream_fin
                || to_client.eof
                || up.get_ref().is_some_and(|s| closed(&mut upstream_watch, s, cx));
        }
        if client_fin && upstream_fin {
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
