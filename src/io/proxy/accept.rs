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

use super::relay::{ClientSide, Relayed, client_closed, relay};
use super::{Shared, Tls};
use crate::io::conn::{Caps, ConnCtl, End};
use crate::io::{ChaosStream, ConnInfo, Resettable, Side};
use crate::{FaultKind, Target};

const CAPS: Caps = Caps {
    side: Side::Proxy,
    dns: false,
    stream: true,
    tls: false,
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
    tls: Option<Tls>,
    mut stop: oneshot::Receiver<()>,
) {
    let local = listener.local_addr().ok();
    let caps = Caps {
        tls: tls.is_some(),
        ..CAPS
    };
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
                let ctl = ConnCtl::new(&target, info, caps);
                conns.spawn(serve(client, upstream, ctl, Arc::clone(&shared), tls.clone()));
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

async fn serve(
    client: TcpStream,
    upstream: SocketAddr,
    mut ctl: ConnCtl,
    shared: Arc<Shared>,
    tls: Option<Tls>,
) {
    shared.active.fetch_add(1, Ordering::Relaxed);
    let _active = Active(&shared.active);
    if !connect_faults(&client, &mut ctl, &shared).await {
        return;
    }
    #[cfg(feature = "tls")]
    if let Some(tls) = tls {
        if let Some(client) = handshake(client, &ctl, &tls, &shared).await {
            forward(client, upstream, ctl, &shared).await;
        }
        return;
    }
    #[cfg(not(feature = "tls"))]
    let _ = tls;
    forward(client, upstream, ctl, &shared).await;
}

/// Plays the connection's connect-time faults (slow connect, refusal, a
/// hang or a TLS stall, held until the target is switched): `false` when
/// the connection ended there.
async fn connect_faults(client: &TcpStream, ctl: &mut ConnCtl, shared: &Shared) -> bool {
    let counters = &shared.counters;
    // Each holding fault counts one event, however often it holds again.
    let mut counted = [false; 2];
    loop {
        let (end, slow) = ctl.connect();
        if !slow.is_zero() {
            counters.fault(FaultKind::SlowConnect);
            tokio::time::sleep(slow).await;
        }
        let (held, kind) = match end {
            #[cfg(feature = "tls")]
            None if ctl.tls() == Some(crate::io::TlsFault::Stall) => (1, FaultKind::TlsStall),
            None => return true,
            Some(End::Refuse | End::Dns) => {
                counters.fault(FaultKind::Refused);
                abort(client);
                return false;
            }
            Some(End::Hang) => (0, FaultKind::ConnectHang),
        };
        if !counted[held] {
            counted[held] = true;
            counters.fault(kind);
        }
        if switched_or_client_closed(ctl, client).await {
            // The client closed its side while held: it cannot be told
            // apart from one that left, and there is no server end yet.
            // Released with a reset, as held streams are.
            shared.released.fetch_add(1, Ordering::Relaxed);
            abort(client);
            return false;
        }
        ctl.refresh(false);
    }
}

/// Terminates the client's TLS with the certificate its TLS fault calls
/// for, or refuses the handshake with an alert: the TLS stream when the
/// handshake succeeded.
#[cfg(feature = "tls")]
async fn handshake(
    mut client: TcpStream,
    ctl: &ConnCtl,
    tls: &crate::io::TlsTerminator,
    shared: &Shared,
) -> Option<tokio_rustls::server::TlsStream<TcpStream>> {
    use crate::io::TlsFault;
    let fault = ctl.tls();
    if let Some(f) = fault {
        shared.counters.fault(f.kind());
    }
    if fault == Some(TlsFault::Alert) {
        let _ = crate::io::tls::refuse_handshake(&mut client).await;
        return None;
    }
    match tokio_rustls::TlsAcceptor::from(tls.config_for(fault))
        .accept(client)
        .await
    {
        Ok(stream) => Some(stream),
        Err(e) => {
            shared.tls_failed.fetch_add(1, Ordering::Relaxed);
            tracing::debug!(
                target: "tower_chaos",
                chaos_target = %ctl.target.name(),
                tls_fault = ?fault,
                error = %e,
                "chaos proxy: TLS handshake failed"
            );
            None
        }
    }
}

/// Connects upstream and relays the connection through its stream faults.
async fn forward<C: ClientSide>(mut client: C, upstream: SocketAddr, ctl: ConnCtl, shared: &Shared) {
    let Ok(up) = TcpStream::connect(upstream).await else {
        // As toxiproxy: the client's connection is closed (EOF), not reset.
        shared.upstream_failures.fetch_add(1, Ordering::Relaxed);
        return;
    };
    let _ = up.set_nodelay(true);
    let _ = client.socket().set_nodelay(true);
    let mut faulty = ChaosStream::attached(up, ctl, shared.counters.clone());
    match relay(&mut client, &mut faulty).await {
        Relayed::Finished => {}
        Relayed::Released => {
            // A client still reading learns that its bytes were lost (a
            // reset), not that they were all delivered (an EOF).
            shared.released.fetch_add(1, Ordering::Relaxed);
            abort(client.socket());
            let _ = faulty.prepare_reset();
        }
        Relayed::Failed(e) => {
            if e.kind() == io::ErrorKind::ConnectionReset {
                // Either side reset: the other one sees a reset too.
                abort(client.socket());
                let _ = faulty.prepare_reset();
            }
        }
    }
}
