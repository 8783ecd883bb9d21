//! The proxy's accept loop and the task of each proxied connection.

use std::future::{Future, poll_fn};
use std::io;
use std::net::SocketAddr;
use std::pin::{Pin, pin};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::Poll;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::task::JoinSet;
use tokio::time::Instant;

use super::Shared;
use super::relay::{Relayed, client_closed, relay};
use crate::io::conn::{Caps, ConnCtl, End};
use crate::io::{ChaosStream, ConnInfo, Resettable, Side};
use crate::{FaultKind, Target};

const CAPS: Caps = Caps {
    side: Side::Proxy,
    dns: false,
    stream: true,
};

/// The first pause of a [`Proxy`](super::Proxy)'s accept loop after an
/// accept fails for the proxy's own reasons (descriptors or memory ran out):
/// retrying at once would spin on the same error. The pause doubles with
/// each failure in a row up to [`ACCEPT_BACKOFF_MAX`] and starts again from
/// here after a successful accept. Failures because a client went away
/// (aborted, reset) are retried at once, as hyper's and axum's loops do.
///
/// ```
/// use tower_chaos::io::{ACCEPT_BACKOFF_MAX, ACCEPT_BACKOFF_MIN};
/// assert!(ACCEPT_BACKOFF_MIN < ACCEPT_BACKOFF_MAX);
/// ```
pub const ACCEPT_BACKOFF_MIN: Duration = Duration::from_millis(10);

/// The longest pause of a [`Proxy`](super::Proxy)'s accept loop after
/// failed accepts (axum's `serve` pauses one second after each); see
/// [`ACCEPT_BACKOFF_MIN`].
///
/// ```
/// assert_eq!(tower_chaos::io::ACCEPT_BACKOFF_MAX.as_secs(), 1);
/// ```
pub const ACCEPT_BACKOFF_MAX: Duration = Duration::from_secs(1);

/// An accept error about one connection (its client went away), not about
/// the proxy.
fn is_connection_error(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused | io::ErrorKind::ConnectionAborted | io::ErrorKind::ConnectionReset
    )
}

enum Event {
    Stop,
    Accepted(io::Result<(TcpStream, SocketAddr)>),
}

pub(super) async fn accept_loop(
    listener: TcpListener,
    upstream: SocketAddr,
    target: Target,
    shared: Arc<Shared>,
    mut stop: oneshot::Receiver<()>,
) {
    let local = listener.local_addr().ok();
    let mut conns = JoinSet::new();
    let mut pause = pin!(tokio::time::sleep(Duration::ZERO));
    let mut pausing = false;
    let mut backoff = ACCEPT_BACKOFF_MIN;
    loop {
        let event = poll_fn(|cx| {
            if Pin::new(&mut stop).poll(cx).is_ready() {
                return Poll::Ready(Event::Stop);
            }
            while let Poll::Ready(Some(_)) = conns.poll_join_next(cx) {}
            if pausing {
                if pause.as_mut().poll(cx).is_pending() {
                    return Poll::Pending;
                }
                pausing = false;
            }
            listener.poll_accept(cx).map(Event::Accepted)
        })
        .await;
        match event {
            Event::Stop => break,
            Event::Accepted(Ok((client, peer))) => {
                backoff = ACCEPT_BACKOFF_MIN;
                shared.accepted.fetch_add(1, Ordering::Relaxed);
                // Decided here, in accept order, so that the same seed and
                // the same connection order give the same faults.
                let info = ConnInfo::new(Side::Proxy).with_addrs(Some(peer), local);
                let ctl = ConnCtl::new(&target, info, CAPS);
                conns.spawn(serve(client, upstream, ctl, Arc::clone(&shared)));
            }
            Event::Accepted(Err(e)) if is_connection_error(&e) => {
                shared.accept_aborted.fetch_add(1, Ordering::Relaxed);
            }
            Event::Accepted(Err(e)) => {
                // Descriptors or memory ran out: the pending connection
                // stays in the backlog, and accepting again at once would
                // fail the same way. Pause instead of spinning.
                shared.accept_failed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(
                    target: "tower_chaos",
                    chaos_target = %target.name(),
                    proxy = ?local,
                    error = %e,
                    pause = ?backoff,
                    "chaos proxy cannot accept a connection: pausing"
                );
                pause.as_mut().reset(Instant::now() + backoff);
                pausing = true;
                backoff = backoff.saturating_mul(2).min(super::ACCEPT_BACKOFF_MAX);
            }
        }
    }
    conns.shutdown().await;
}

struct Active<'a>(&'a AtomicU64);

impl Drop for Active<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

fn abort(stream: &TcpStream) {
    // Failing to set the linger only turns the RST into a FIN.
    let _ = stream.set_zero_linger();
}

/// Waits until the connection's target is switched.
async fn switched(ctl: &ConnCtl) {
    poll_fn(|cx| {
        if ctl.is_stale() {
            return Poll::Ready(());
        }
        ctl.watch(cx.waker());
        if ctl.is_stale() {
            Poll::Ready(())
        } else {
            Poll::Pending
        }
    })
    .await;
}

/// Waits for a switch of the target, or for the client to close: `true`
/// when the client closed (nobody is left to hold the connection for).
async fn switched_or_client_closed(ctl: &ConnCtl, client: &TcpStream) -> bool {
    let mut switch = pin!(switched(ctl));
    let mut closed = pin!(client_closed(client));
    poll_fn(|cx| {
        if switch.as_mut().poll(cx).is_ready() {
            Poll::Ready(false)
        } else if closed.as_mut().poll(cx).is_ready() {
            Poll::Ready(true)
        } else {
            Poll::Pending
        }
    })
    .await
}

async fn serve(mut client: TcpStream, upstream: SocketAddr, mut ctl: ConnCtl, shared: Arc<Shared>) {
    shared.active.fetch_add(1, Ordering::Relaxed);
    let _active = Active(&shared.active);
    let counters = &shared.counters;
    let mut counted_hang = false;
    loop {
        let (end, slow) = ctl.connect();
        if !slow.is_zero() {
            counters.fault(FaultKind::SlowConnect);
            tokio::time::sleep(slow).await;
        }
        match end {
            None => break,
            Some(End::Refuse | End::Dns) => {
                counters.fault(FaultKind::Refused);
                abort(&client);
                return;
            }
            Some(End::Hang) => {
                if !counted_hang {
                    counted_hang = true;
                    counters.fault(FaultKind::ConnectHang);
                }
                if switched_or_client_closed(&ctl, &client).await {
                    // The client closed its side while held: it cannot be
                    // told apart from one that left, and there is no server
                    // end yet. Released with a reset, as held streams are.
                    shared.released.fetch_add(1, Ordering::Relaxed);
                    abort(&client);
                    return;
                }
                ctl.refresh(false);
            }
        }
    }
    let Ok(up) = TcpStream::connect(upstream).await else {
        // As toxiproxy: the client's connection is closed (EOF), not reset.
        shared.upstream_failures.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = up.set_nodelay(true);
    let _ = client.set_nodelay(true);
    let mut faulty = ChaosStream::attached(up, ctl, counters.clone());
    match relay(&mut client, &mut faulty).await {
        Relayed::Finished => {}
        Relayed::Released => {
            // A client still reading learns that its bytes were lost (a
            // reset), not that they were all delivered (an EOF).
            shared.released.fetch_add(1, Ordering::Relaxed);
            abort(&client);
            let _ = faulty.prepare_reset();
        }
        Relayed::Failed(e) => {
            if e.kind() == io::ErrorKind::ConnectionReset {
                // Either side reset: the other one sees a reset too.
                abort(&client);
                let _ = faulty.prepare_reset();
            }
        }
    }
}
