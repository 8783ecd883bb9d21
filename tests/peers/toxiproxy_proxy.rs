//! Shopify/toxiproxy's proxy and link tests (`proxy_test.go`,
//! `link_test.go`), ported to tower-chaos's [`Proxy`]: each test names the
//! peer test it ports and keeps its expectation. Upstream, proxy and client
//! share one runtime on tokio's paused clock; toxiproxy's real-clock
//! deadlines become bounds on the virtual clock.
//!
//! Knob mapping (toxiproxy → tower-chaos): `listen` → always `127.0.0.1:0`
//! (read it with [`Proxy::local_addr`]); `upstream` → the address
//! given to [`Proxy::spawn`]; `enabled = false / true` →
//! [`Proxy::disable`] / [`Proxy::enable`]; `Stop` → `disable`
//! or [`Proxy::shutdown`].
#![cfg(feature = "io")]

use std::io;
use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::oneshot;
use tokio::time::{Instant, sleep};
use tower_chaos::io::{ConnFault, ConnFaultSet, ConnInfo, Direction, Proxy};
use tower_chaos::{Latency, Target};

use crate::support::io::{closed_port, read_all, serve_once};

fn target() -> Target {
    Target::builder("toxiproxy").seed(3).build().expect("target")
}

/// toxiproxy's `WithTCPServer`: an upstream that accepts one client, stops
/// listening, and reports everything the client sent until it closed.
async fn read_all_server() -> io::Result<(SocketAddr, oneshot::Receiver<Vec<u8>>)> {
    let (tx, rx) = oneshot::channel();
    let (addr, _) = serve_once(|mut s| async move {
        let all = read_all(&mut s).await?;
        let _ = tx.send(all);
        Ok(())
    })
    .await?;
    Ok((addr, rx))
}

/// toxiproxy's `WithTCPProxy`: a proxy (of a fresh target) in front of
/// `read_all_server`, and what that server will have read.
async fn proxied_read_all_server() -> io::Result<(Proxy, oneshot::Receiver<Vec<u8>>)> {
    let (addr, response) = read_all_server().await?;
    Ok((Proxy::spawn(addr, &target())?, response))
}

/// `proxied_read_all_server` with the proxy disabled and its port taken
/// by another listener (returned last).
async fn port_taken_while_disabled() -> io::Result<(Proxy, oneshot::Receiver<Vec<u8>>, TcpListener)> {
    let (mut proxy, response) = proxied_read_all_server().await?;
    proxy.disable().await;
    let conflict = TcpListener::bind(proxy.local_addr()).await?;
    Ok((proxy, response, conflict))
}

/// Disables `proxy` and checks that nothing can connect to it any more.
async fn disable_and_check_down(proxy: &mut Proxy) {
    proxy.disable().await;
    assert!(!is_up(proxy.local_addr()).await);
}

/// toxiproxy's `AssertProxyUp`: whether a client can connect.
async fn is_up(addr: SocketAddr) -> bool {
    TcpStream::connect(addr).await.is_ok()
}

/// Sends `parts` through a fresh proxy, closes, and returns what the
/// upstream read (toxiproxy's `WithTCPProxy`).
async fn through_proxy(parts: &[&[u8]]) -> io::Result<(Vec<u8>, Proxy)> {
    let (proxy, response) = proxied_read_all_server().await?;
    let mut conn = TcpStream::connect(proxy.local_addr()).await?;
    conn.set_nodelay(true)?;
    for part in parts {
        conn.write_all(part).await?;
    }
    drop(conn);
    let got = response.await.map_err(io::Error::other)?;
    Ok((got, proxy))
}

/// proxy_test.go `TestProxySimpleMessage`.
#[tokio::test(start_paused = true)]
async fn proxy_simple_message() -> io::Result<()> {
    let (got, proxy) = through_proxy(&[b"hello world"]).await?;
    assert_eq!(got, b"hello world");
    assert_eq!(proxy.stats().bytes_upstream(), 11);
    Ok(())
}

/// proxy_test.go `TestProxyTwoPartMessage`.
#[tokio::test(start_paused = true)]
async fn proxy_two_part_message() -> io::Result<()> {
    let (got, _proxy) = through_proxy(&[b"hello world", b"hello world"]).await?;
    assert_eq!(got, b"hello worldhello world");
    Ok(())
}

/// proxy_test.go `TestProxyBigMessage`: 32 KiB of zeros, hex-encoded
/// (64 KiB of `'0'`).
#[tokio::test(start_paused = true)]
async fn proxy_big_message() -> io::Result<()> {
    let msg = vec![b'0'; 2 * 32 * 1024];
    let (got, proxy) = through_proxy(&[&msg]).await?;
    assert_eq!(got, msg);
    assert_eq!(proxy.stats().bytes_upstream(), 65_536);
    Ok(())
}

/// proxy_test.go `TestProxyToDownUpstream`: the client's read gets EOF
/// (within toxiproxy's 100 ms deadline), not an error. Before issue 11 the
/// proxy reset the client instead.
#[tokio::test(start_paused = true)]
async fn proxy_to_down_upstream() -> io::Result<()> {
    let proxy = Proxy::spawn(closed_port().await?, &target())?;
    let mut conn = TcpStream::connect(proxy.local_addr()).await?;
    // No timer is pending, so the paused clock cannot move while the proxy
    // works: the EOF comes at once, well within toxiproxy's 100 ms. (A
    // `timeout` here would let the clock jump to it if loopback were slow.)
    let start = Instant::now();
    let n = conn.read(&mut [0; 1]).await?;
    assert_eq!(n, 0, "EOF");
    assert_eq!(start.elapsed(), Duration::ZERO);
    assert_eq!(proxy.stats().upstream_failures, 1);
    Ok(())
}

/// proxy_test.go `TestClosingProxyMultipleTimes`: stopping three times is
/// fine.
#[tokio::test(start_paused = true)]
async fn closing_proxy_multiple_times() -> io::Result<()> {
    let (mut proxy, _response) = proxied_read_all_server().await?;
    let _conn = TcpStream::connect(proxy.local_addr()).await?;
    for _ in 0..3 {
        proxy.disable().await;
        assert!(!proxy.is_enabled());
    }
    assert!(!is_up(proxy.local_addr()).await);
    proxy.shutdown().await;
    Ok(())
}

/// proxy_test.go `TestStartTwoProxiesOnSameAddress`: a proxy cannot start on
/// an address another one listens on. Ours always bind a fresh port, so the
/// case is a disabled proxy whose port another proxy's listener took.
#[tokio::test(start_paused = true)]
async fn start_two_proxies_on_same_address() -> io::Result<()> {
    let (mut proxy, _response, other) = port_taken_while_disabled().await?;
    let err = proxy.enable().expect_err("the port is taken");
    assert_eq!(err.addr(), proxy.local_addr());
    assert_eq!(err.source_ref().kind(), io::ErrorKind::AddrInUse);
    assert!(err.to_string().contains(&proxy.local_addr().to_string()), "{err}");
    assert!(!proxy.is_enabled());
    drop(other);
    Ok(())
}

/// proxy_test.go `TestStopProxyBeforeStarting`: stopping a stopped proxy
/// does nothing; starting works; starting a started one is refused there
/// (`ErrProxyAlreadyStarted`) and a no-op here, on purpose: `enable` means
/// "be up", which it already is.
#[tokio::test(start_paused = true)]
async fn stop_proxy_before_starting() -> io::Result<()> {
    let (mut proxy, _response) = proxied_read_all_server().await?;
    disable_and_check_down(&mut proxy).await;
    proxy.disable().await;
    proxy.enable().expect("starts");
    proxy.enable().expect("already up: nothing to do");
    assert!(is_up(proxy.local_addr()).await);
    disable_and_check_down(&mut proxy).await;
    Ok(())
}

/// proxy_test.go `TestRestartFailedToStartProxy`: a proxy that could not
/// start because of a conflict starts once the conflict is gone, on its
/// address.
#[tokio::test(start_paused = true)]
async fn restart_failed_to_start_proxy() -> io::Result<()> {
    let (mut proxy, response, conflict) = port_taken_while_disabled().await?;
    assert!(proxy.enable().is_err());
    drop(conflict);
    proxy.enable().expect("starts after the conflict went away");
    assert!(proxy.is_enabled());
    let mut conn = TcpStream::connect(proxy.local_addr()).await?;
    conn.write_all(b"back").await?;
    drop(conn);
    assert_eq!(response.await.map_err(io::Error::other)?, b"back");
    Ok(())
}

/// proxy_test.go `TestProxyUpdate` (its `Enabled = false` step): an
/// updated-to-disabled proxy is down. Changing `listen` or `upstream` of a
/// live proxy has no equivalent: spawn another [`Proxy`].
#[tokio::test(start_paused = true)]
async fn proxy_update_disabled_is_down() -> io::Result<()> {
    let (mut proxy, _response) = proxied_read_all_server().await?;
    assert!(is_up(proxy.local_addr()).await);
    disable_and_check_down(&mut proxy).await;
    Ok(())
}

/// toxiproxy's `enabled = false` closes live connections (proxy.go `Stop`
/// closes every link) and `enabled = true` serves new ones on the same
/// port; counters carry over, and the active count drops to zero.
#[tokio::test(start_paused = true)]
async fn disable_closes_live_connections_and_enable_serves_again() -> io::Result<()> {
    let upstream = TcpListener::bind("127.0.0.1:0").await?;
    let mut proxy = Proxy::spawn(upstream.local_addr()?, &target())?;
    let addr = proxy.local_addr();
    let mut live = TcpStream::connect(addr).await?;
    let (mut server, _) = upstream.accept().await?;
    live.write_all(b"one").await?;
    let mut got = [0; 3];
    server.read_exact(&mut got).await?;
    assert_eq!(proxy.stats().active, 1);

    proxy.disable().await;
    assert_eq!(proxy.stats().active, 0);
    assert_eq!(live.read(&mut [0; 1]).await.unwrap_or(0), 0, "client closed");
    assert_eq!(server.read(&mut [0; 1]).await.unwrap_or(0), 0, "upstream closed");
    assert!(!is_up(addr).await);

    proxy.enable().expect("same port");
    assert_eq!(proxy.local_addr(), addr);
    let mut again = TcpStream::connect(addr).await?;
    let (mut server, _) = upstream.accept().await?;
    again.write_all(b"two").await?;
    server.read_exact(&mut got).await?;
    assert_eq!(&got, b"two");
    let stats = proxy.stats();
    assert_eq!((stats.accepted, stats.active, stats.bytes_upstream()), (2, 1, 6));
    Ok(())
}

/// link_test.go `TestNoDataDropped`: a 1 s latency added and removed over
/// and over while 65 535 two-byte values stream through; every value
/// arrives, in order, then EOF.
#[tokio::test(start_paused = true)]
async fn no_data_dropped() -> io::Result<()> {
    let (addr, response) = read_all_server().await?;
    let target = target();
    let proxy = Proxy::spawn(addr, &target)?;
    let mut conn = TcpStream::connect(proxy.local_addr()).await?;
    conn.set_nodelay(true)?;
    let latency = ConnFaultSet::new().with(ConnFault::latency(
        Direction::Upstream,
        Latency::fixed(Duration::from_secs(1)),
    ));
    let toggler = {
        let target = target.clone();
        tokio::spawn(async move {
            loop {
                target.set_faults(latency.clone()).expect("valid");
                sleep(Duration::from_millis(1)).await;
                target.clear_faults::<ConnFault, ConnInfo>();
                sleep(Duration::from_millis(1)).await;
            }
        })
    };
    let sent: Vec<u8> = (0..u16::MAX).flat_map(u16::to_be_bytes).collect();
    for chunk in sent.chunks(2) {
        conn.write_all(chunk).await?;
    }
    drop(conn);
    let got = response.await.map_err(io::Error::other)?;
    toggler.abort();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "values out of order or lost");
    assert_eq!(proxy.stats().bytes_upstream(), 131_070);
    Ok(())
}
